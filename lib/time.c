/* time.c - the one timeout convention, as absolute monotonic deadlines;
 * and whether a signal may end a wait early (sys/intr.c). */
#include "internal.h"

int mp_set_interruptible(int on)
{
	return mp_sys_set_interruptible(on != 0);
}

MP_SYS_HOT
int mp__deadline(int64_t timeout_ns, int64_t *deadline)
{
	if (timeout_ns == MP_FOREVER) {
		*deadline = MP__NO_DEADLINE;
		return 0;
	}
	if (timeout_ns < 0)
		return -EINVAL;
	if (timeout_ns == 0) {
		*deadline = 0; /* try once: already past, and no clock read */
		return 0;
	}
	int64_t now = mp_sys_now_ns();
	/* Saturate: a timeout of centuries is as good as none. */
	*deadline = timeout_ns > MP__NO_DEADLINE - now ? MP__NO_DEADLINE
	                                                : now + timeout_ns;
	return 0;
}

const struct timespec *mp__deadline_ts(int64_t deadline, struct timespec *ts)
{
	if (deadline == MP__NO_DEADLINE)
		return NULL;
	mp_sys_ns_to_timespec(deadline, ts);
	return ts;
}
