/*
 * internal.h - what the lib/ areas share with each other.  Not installed.
 * Internal functions that are not static are named mp__*.
 */
#ifndef MPROC_LIB_INTERNAL_H
#define MPROC_LIB_INTERNAL_H

#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>
#include <time.h>

#include "mproc.h"
#include "mpsys.h"

#define MP__ALIGN_UP(x, a) (((x) + ((a) - 1)) & ~((__typeof__(x))(a) - 1))
#define MP__CACHELINE 64

/* ---- deadlines (time.c) ------------------------------------------------- */

/* "No deadline": the value of an MP_FOREVER timeout. */
#define MP__NO_DEADLINE INT64_MAX

/*
 * Turn a relative timeout (MP_FOREVER, 0 = try once, > 0 ns) into an
 * absolute CLOCK_MONOTONIC deadline in ns.  -EINVAL for other negatives.
 */
int mp__deadline(int64_t timeout_ns, int64_t *deadline);
/* The deadline as a timespec for the kernel, or NULL when there is none. */
const struct timespec *mp__deadline_ts(int64_t deadline, struct timespec *ts);

/* ---- fork handling (fork.c) ---------------------------------------------- */

/*
 * Register mproc's pthread_atfork handlers (once per process): before a fork
 * the shared heap is made if it does not exist yet, so the child shares it;
 * in the child, the list of children is reset.  (sys/uring.c keeps its rings
 * right across fork with a handler of its own.)
 */
void mp__atfork_register(void);

/* ---- shared heap (heap.c) ------------------------------------------------ */

/* Make the heap if it does not exist (default size).  0 or -errno. */
int mp__heap_ensure(void);
/* As mp_heap_alloc, without zeroing: for blocks about to be overwritten. */
void *mp__heap_alloc_raw(size_t size, int *err);

/* ---- processes (process.c) ----------------------------------------------- */

/* In a forked child: forget the parent's children (atfork child handler). */
void mp__process_after_fork(void);
/* This process has begun its normal exit: start no new processes. */
bool mp__process_exiting(void);

#endif

/* ---- adaptive spinning (spin.c) ------------------------------------------ */

/*
 * How long (ns) a waiter may spin before sleeping on an object whose spin
 * estimate is *est: 0 when spinning is off (one CPU, or MPROC_SPIN_NS=0),
 * otherwise about twice what spinning recently needed, capped by
 * MPROC_SPIN_NS (default 4000 ns) - except for an occasional probe, which
 * may spin 5 times the cap (see spin.c).
 */
int64_t mp__spin_budget(_Atomic uint32_t *est);
/*
 * Feed back a spin: `spent` ns, and whether the awaited state came (won) or
 * the waiter went to sleep anyway.  Losing shrinks the estimate, so an
 * object whose waiters keep losing (an oversubscribed machine, long critical
 * sections) soon stops spinning.
 */
void mp__spin_result(_Atomic uint32_t *est, int64_t spent, bool won);

static inline void mp__cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
	__builtin_ia32_pause();
#elif defined(__aarch64__)
	__asm__ __volatile__("yield");
#endif
}

/*
 * Spin until cond (an expression re-read every round) holds or the object's
 * budget runs out; evaluates to whether it holds.  A round is `pauses`
 * pauses (about 20 ns each here) then one look at cond; the clock is read
 * every 8 rounds only.
 */
#define MP__SPIN_UNTIL_EVERY(est, pauses, cond) __extension__                \
	({                                                                   \
		bool ok_ = (cond);                                           \
		int64_t budget_ = ok_ ? 0 : mp__spin_budget(est);            \
		if (budget_ > 0) {                                           \
			int64_t t0_ = mp_sys_now_ns(), spent_ = 0;           \
			for (unsigned i_ = 1; !(ok_ = (cond)); i_++) {       \
				for (unsigned k_ = 0; k_ < (pauses); k_++)   \
					mp__cpu_relax();                     \
				if (i_ % 8 == 0 &&                           \
				    (spent_ = mp_sys_now_ns() - t0_) > budget_) \
					break;                               \
			}                                                    \
			mp__spin_result(est, ok_ ? mp_sys_now_ns() - t0_     \
			                         : spent_, ok_);             \
		}                                                            \
		ok_;                                                         \
	})

/* Look at cond after every pause: for words that only the party we wait
 * for writes (a flag, a sequence number, a count). */
#define MP__SPIN_UNTIL(est, cond) MP__SPIN_UNTIL_EVERY(est, 1, cond)

/* ---- validation ------------------------------------------------------------ */

/* An object pointer mproc can use: non-NULL and 8-byte aligned. */
static inline bool mp__aligned(const void *p)
{
	return p && ((uintptr_t)p & 7) == 0;
}

/* ---- readiness hooks for mp_wait (in each object's file) -------------------- */

/*
 * How to sleep until an object may have become ready: while *word == value.
 * While asleep, mp_wait counts itself in *sleepers (when not NULL), which
 * makes the object's wakers wake everybody, watchers included.
 */
struct mp__watch {
	_Atomic uint32_t *word;
	uint32_t value;
	_Atomic uint32_t *sleepers;
};

/*
 * Each: 1 when the object is ready now, 0 when not (w filled, its value
 * read before the check so a change cannot be missed), -EINVAL for a bad
 * object.
 */
int mp__queue_watch(mp_queue_t *q, struct mp__watch *w);
int mp__event_watch(mp_event_t *e, struct mp__watch *w);
int mp__sem_watch(mp_sem_t *s, struct mp__watch *w);
int mp__barrier_watch(mp_barrier_t *b, uint32_t since, struct mp__watch *w);
/* An mp_wait kind for mproc's own use: ready when *(uint32_t *)obj !=
 * since; whoever changes the word must futex-wake it. */
#define MP__WAIT_WORD 0x1000
/* The barrier's current generation (for mp_wait_barrier). */
int mp__barrier_gen(mp_barrier_t *b, uint32_t *gen);

/* ---- queue internals for the pool (queue.c) -------------------------------- */

/*
 * Ready the calling thread for queue calls in a sandbox: look up now what
 * the queue would otherwise read from /proc later.  probes false: never
 * look at /proc again to see whether a lock holder lives (the pool's
 * supervisor watches the workers and calls mp__queue_holder_died).
 */
void mp__queue_prepare_thread(bool probes);
/* Thread `tid` is dead: free whichever of q's locks it held. */
void mp__queue_holder_died(mp_queue_t *q, pid_t tid);
