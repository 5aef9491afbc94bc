/* futex.c - futex(2) and futex_waitv(2), shared (not private) variants. */
#include "mpsys.h"

#include <errno.h>
#include <sys/syscall.h>
#include <unistd.h>

int mp_sys_futex_wait(_Atomic uint32_t *word, uint32_t expected,
                      const struct timespec *deadline)
{
	/* FUTEX_WAIT_BITSET takes an absolute CLOCK_MONOTONIC timeout, unlike
	 * FUTEX_WAIT's relative one. */
	long r = syscall(SYS_futex, word, FUTEX_WAIT_BITSET, expected,
	                 mp_sys_wait_deadline(deadline), NULL,
	                 FUTEX_BITSET_MATCH_ANY);
	if (r == 0)
		return 0;
	return errno == EINTR ? mp_sys_eintr() : -errno;
}

int mp_sys_futex_wake(_Atomic uint32_t *word, int n)
{
	long r = syscall(SYS_futex, word, FUTEX_WAKE, n, NULL, NULL, 0);
	return r >= 0 ? (int)r : -errno;
}

void mp_sys_waitv_set(struct futex_waitv *w, _Atomic uint32_t *word,
                      uint32_t expected)
{
	w->val = expected;
	w->uaddr = (uint64_t)(uintptr_t)word;
	w->flags = FUTEX_32; /* no FUTEX_PRIVATE_FLAG: shared words */
	w->__reserved = 0;
}

int mp_sys_futex_waitv(struct futex_waitv *w, unsigned n,
                       const struct timespec *deadline)
{
	long r = syscall(SYS_futex_waitv, w, n, 0,
	                 mp_sys_wait_deadline(deadline), CLOCK_MONOTONIC);
	if (r >= 0)
		return (int)r;
	return errno == EINTR ? mp_sys_eintr() : -errno;
}

/*
 * The classic three-state futex mutex (Drepper, "Futexes Are Tricky"):
 * lock is one CAS 0->1 when free; a contender swaps in 2 and sleeps while
 * the word is 2; unlock swaps in 0 and wakes one sleeper only if it was 2.
 * Acquire on lock pairs with release on unlock.  FUTEX_PRIVATE: the word is
 * never shared between processes.
 */
void mp_sys_mutex_lock(_Atomic uint32_t *m)
{
	uint32_t c = 0;

	if (atomic_compare_exchange_strong_explicit(m, &c, 1,
	        memory_order_acquire, memory_order_relaxed))
		return;
	if (c != 2)
		c = atomic_exchange_explicit(m, 2, memory_order_acquire);
	while (c != 0) {
		syscall(SYS_futex, m, FUTEX_WAIT_PRIVATE, 2, NULL, NULL, 0);
		c = atomic_exchange_explicit(m, 2, memory_order_acquire);
	}
}

void mp_sys_mutex_unlock(_Atomic uint32_t *m)
{
	if (atomic_exchange_explicit(m, 0, memory_order_release) == 2)
		syscall(SYS_futex, m, FUTEX_WAKE_PRIVATE, 1, NULL, NULL, 0);
}
