/*
 * lock_wait.c - the contended path of Lock and RLock: a bounded spin while
 * the holder runs, then a sleep - without a time limit on a holder the
 * kernel will report (its node is in its robust list), in slices for any
 * other, after each of which the holder is judged, on proof only (lock.h).
 * mp__holder_wait serves the queue's side locks too.
 */
#include "lock.h"

/* Is the holder of `own` value v one the kernel will report the death of?
 * Yes when the node is in that very thread's list (lock.h). */
static bool holder_is_robust(struct lock *l, uint64_t v)
{
	return mp__robust_ok() &&
	       atomic_load_explicit(&l->linker, memory_order_relaxed) ==
	       mp__holder_of(v);
}

#define HOLDER_SLICE_NS MP_MSEC(2)

/*
 * Sleep while `own` is v, for a holder the kernel will not report: one
 * slice, after which the holder is looked at; if it is proven dead the
 * word is marked as the kernel would have.  The mark is a CAS from v
 * itself: v names the holder for good (lock.h), so a release and re-take
 * in between - even by a thread given the dead one's tid - makes it
 * fail.  0 (look at the word again: woken, marked, or a slice passed),
 * -ETIMEDOUT at the deadline, -EINTR (an interruptible thread's signal).
 * A holder that lives keeps the lock however long it takes: only proof
 * counts, never the time it has held it.
 */
int mp__holder_wait(_Atomic uint64_t *own, uint64_t v, int64_t deadline)
{
	struct timespec ts;
	int64_t slice = mp_sys_now_ns() + HOLDER_SLICE_NS;
	int64_t until = slice < deadline ? slice : deadline;
	int r = mp_sys_futex_wait(mp__word_of(own), (uint32_t)v,
	                          mp__deadline_ts(until, &ts));

	if (r != -ETIMEDOUT)
		return r == -EINTR ? r : 0;
	if (until == deadline)
		return -ETIMEDOUT;
	/* The caller takes the marked word itself: nobody else to wake. */
	if (mp__holder_gone(mp__holder_of(v)))
		atomic_compare_exchange_strong_explicit(own, &v,
		        mp__owner_died(v), memory_order_relaxed,
		        memory_order_relaxed);
	return 0;
}

/*
 * Spin until the word is free, within the object's spin budget.  The word
 * is looked at every 16 pauses (~0.3 us) only: each look pulls its cache
 * line away from the holder, which then pays to get it back.  And once
 * `gen` shows the holder releasing and re-taking the lock while we spin
 * (a loop of short critical sections), the next look waits 1024 pauses,
 * so in practice we sleep: catching such a lock in its free instant
 * between two of the holder's sections hands it over, and each hand-off
 * moves the lines twice and turns the old holder into a spinner that
 * steals it back.  Two processes adding to one Value: 20 M ops/s with a
 * look every 16 pauses and the lock changing owner at 56% of takes,
 * 30 M with the gen rule (a process alone: 35 M).  (Going to sleep at
 * once instead: 12 M - a sleeper sets FUTEX_WAITERS, and every release of
 * the holder's then makes a system call.)  A holder that keeps
 * the lock for one long section leaves gen alone, so its release is still
 * seen within 16 pauses (a Condition's round trip is unchanged, 3 us).
 */
#define LOOK_PAUSES      16
#define LOOK_PAUSES_BUSY 1024

static bool spin_for_free(struct lock *l)
{
	int64_t budget = mp__spin_budget(&l->spin), t0, spent = 0;
	unsigned pauses = LOOK_PAUSES;
	uint32_t gen;
	bool ok = false;

	if (budget <= 0)
		return false;
	/* Seen by the holder's next take, or the one after: a hint. */
	atomic_fetch_add_explicit(&l->spinners, 1, memory_order_relaxed);
	gen = atomic_load_explicit(&l->gen, memory_order_relaxed);
	t0 = mp_sys_now_ns();
	for (;;) {
		for (unsigned k = 0; k < pauses; k++)
			mp__cpu_relax();
		if (MP__TID(atomic_load_explicit(&l->own,
		                                 memory_order_relaxed)) == 0) {
			ok = true;
			spent = mp_sys_now_ns() - t0;
			break;
		}
		uint32_t g = atomic_load_explicit(&l->gen, memory_order_relaxed);
		if (g != gen)
			pauses = LOOK_PAUSES_BUSY;
		gen = g;
		if ((spent = mp_sys_now_ns() - t0) > budget)
			break;
	}
	atomic_fetch_sub_explicit(&l->spinners, 1, memory_order_relaxed);
	mp__spin_result(&l->spin, spent, ok);
	return ok;
}

/*
 * The contended path, from the first failed CAS.  `slept` makes the new
 * owner set FUTEX_WAITERS: other sleepers may remain, and only a set bit
 * makes release wake them.
 */
int mp__lock_take_slow(struct lock *l, uint64_t self, int64_t deadline,
                       bool try)
{
	bool slept = false;
	struct timespec ts;

	if (!try)
		spin_for_free(l);
	for (;;) {
		uint64_t v = atomic_load_explicit(&l->own, memory_order_relaxed);
		if (MP__TID(v) == 0) {
			if (atomic_load_explicit(&l->state, memory_order_relaxed)
			    == LS_NOTRECOVERABLE)
				return -ENOTRECOVERABLE;
			uint64_t nv = self |
			        ((v & FUTEX_WAITERS) || slept ? FUTEX_WAITERS : 0);
			if (atomic_compare_exchange_weak_explicit(&l->own, &v,
			        nv, memory_order_acquire, memory_order_relaxed))
				return v & FUTEX_OWNER_DIED ? -EOWNERDEAD : 0;
			continue;
		}
		if (try)
			return -EAGAIN;
		if (!(v & FUTEX_WAITERS)) {
			if (!atomic_compare_exchange_weak_explicit(&l->own, &v,
			        v | FUTEX_WAITERS, memory_order_relaxed,
			        memory_order_relaxed))
				continue;
			v |= FUTEX_WAITERS;
		}
		int r;
		if (holder_is_robust(l, v)) {
			r = mp_sys_futex_wait(mp__word_of(&l->own), (uint32_t)v,
			                      mp__deadline_ts(deadline, &ts));
		} else {
			r = mp__holder_wait(&l->own, v, deadline);
		}
		if (r == -ETIMEDOUT || r == -EINTR)
			return r;
		slept = true;
	}
}
