/*
 * intr.c - waits that a signal handler may end, per thread.
 *
 * By default mproc retries a wait that a signal interrupted: its deadline
 * is absolute, so nothing is lost.  A thread that asked to be told instead
 * gets -EINTR from every wait a handler interrupted.  What the kernel does
 * makes one more step necessary: a futex wait with no timeout, and blocking
 * reads, writes and waitid, are restarted by the kernel itself after a
 * handler installed with SA_RESTART (signal()'s default) - the caller
 * never hears of it.  A futex wait with a timeout, ppoll, epoll_wait and
 * io_uring_enter report EINTR whatever the handler's flags.  So in this
 * mode a futex wait without a deadline sleeps to a far one instead, and
 * the callers that would block in read, write or waitid poll first.
 */
#include "mpsys.h"

#include <errno.h>

_Thread_local bool mp_sys__interruptible
	__attribute__((tls_model("initial-exec")));

bool mp_sys_set_interruptible(bool on)
{
	bool was = mp_sys__interruptible;
	mp_sys__interruptible = on;
	return was;
}

int mp_sys_eintr(void)
{
	return mp_sys__interruptible ? -EINTR : 0;
}

const struct timespec *mp_sys_wait_deadline(const struct timespec *deadline)
{
	/* 68 years of uptime: "no deadline" for the clock, not for the
	 * kernel's restart rules. */
	static const struct timespec far = { .tv_sec = INT32_MAX };
	return deadline || !mp_sys__interruptible ? deadline : &far;
}
