/*
 * event.c - Event: a flag word that is also the futex.
 *
 * As for the semaphore, `waiters` counts threads that are or may be asleep;
 * set() stores the flag then reads waiters, a waiter bumps waiters then
 * reads the flag, both sequentially consistent: set() makes a system call
 * only when somebody may sleep, and never misses one.
 */
#include "heap.h"
#include "peek.h"

struct event {
	_Atomic uint32_t flag;
	_Atomic uint32_t waiters;
	uint32_t magic;
	_Atomic uint32_t spin;
};

_Static_assert(sizeof(struct event) == sizeof(mp_event_t), "event size");

#define EVENT_MAGIC 0x6d706576u /* "mpev" */

static struct event *event_of(const mp_event_t *ue)
{
	struct event *e = (struct event *)ue;
	return mp__aligned(ue) && e->magic == EVENT_MAGIC ? e : NULL;
}

int mp_event_init(mp_event_t *ue)
{
	if (!mp__aligned(ue))
		return -EINVAL;
	memset(ue, 0, sizeof(*ue));
	((struct event *)ue)->magic = EVENT_MAGIC;
	return 0;
}

int mp_event_destroy(mp_event_t *ue)
{
	struct event *e = event_of(ue);
	if (!e)
		return -EINVAL;
	if (atomic_load(&e->waiters))
		return -EBUSY;
	e->magic = 0;
	return 0;
}

mp_event_t *mp_event_new(int *err)
{
	mp_event_t *e = mp_heap_alloc(sizeof(*e), err);
	if (e) {
		mp_event_init(e);
		mp__heap_tag(e, MP__KIND_EVENT);
	}
	return e;
}

int mp_event_free(mp_event_t *e)
{
	int r = mp_event_destroy(e);
	if (r < 0)
		return r;
	mp__heap_untag(e);
	return mp_heap_free(e);
}

int mp_event_set(mp_event_t *ue)
{
	struct event *e = event_of(ue);
	if (!e)
		return -EINVAL;
	atomic_store(&e->flag, 1);
	if (atomic_load(&e->waiters))
		mp_sys_futex_wake(&e->flag, INT32_MAX);
	return 0;
}

int mp_event_clear(mp_event_t *ue)
{
	struct event *e = event_of(ue);
	if (!e)
		return -EINVAL;
	atomic_store_explicit(&e->flag, 0, memory_order_relaxed);
	return 0;
}

int mp_event_is_set(const mp_event_t *ue)
{
	struct event *e = event_of(ue);
	return e ? (int)atomic_load_explicit(&e->flag, memory_order_acquire)
	         : -EINVAL;
}

int mp_event_wait(mp_event_t *ue, int64_t timeout_ns)
{
	struct event *e = event_of(ue);
	int64_t deadline;
	struct timespec ts;

	if (!e || (timeout_ns < 0 && timeout_ns != MP_FOREVER))
		return -EINVAL;
	if (atomic_load_explicit(&e->flag, memory_order_acquire) ||
	    timeout_ns == 0)
		return (int)atomic_load_explicit(&e->flag, memory_order_acquire);
	mp__deadline(timeout_ns, &deadline);
	if (MP__SPIN_UNTIL(&e->spin, atomic_load_explicit(&e->flag,
	                   memory_order_acquire)))
		return 1;
	atomic_fetch_add(&e->waiters, 1);
	int r = 0;
	while (!atomic_load(&e->flag) && r != -ETIMEDOUT && r != -EINTR)
		r = mp_sys_futex_wait(&e->flag, 0, mp__deadline_ts(deadline, &ts));
	atomic_fetch_sub(&e->waiters, 1);
	if (atomic_load_explicit(&e->flag, memory_order_acquire))
		return 1;
	return r == -EINTR ? r : 0;
}

int mp__event_watch(mp_event_t *ue, struct mp__watch *w)
{
	struct event *e = event_of(ue);
	if (!e)
		return -EINVAL;
	w->word = &e->flag;
	w->value = 0;
	w->sleepers = &e->waiters; /* set() wakes all when it is non-zero */
	return atomic_load(&e->flag) != 0;
}

int mp__event_peek(const void *copy, struct mp__peek_event *out)
{
	struct event *e = (struct event *)copy;

	if (e->magic != EVENT_MAGIC)
		return -EINVAL;
	/* Relaxed: a private copy, nobody else writes it. */
	*out = (struct mp__peek_event){
		.set = atomic_load_explicit(&e->flag, memory_order_relaxed) != 0,
		.waiters = atomic_load_explicit(&e->waiters, memory_order_relaxed),
	};
	return 0;
}
