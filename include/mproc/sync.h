/*
 * mproc/sync.h - Lock, RLock, Semaphore, BoundedSemaphore, Condition,
 * Event and Barrier, as Python's multiprocessing.synchronize, on futexes in
 * shared memory (no pthread mutex or sem_t underneath).
 *
 * Objects and lifetimes: every object is a plain, fixed-size struct with no
 * pointers inside, so it works wherever it is placed in shared memory - the
 * shared heap, a MAP_SHARED mapping inherited across fork, or a named
 * segment mapped at different addresses in unrelated processes.  Either
 * initialise one in place (mp_<thing>_init, then mp_<thing>_destroy) or
 * allocate it from the shared heap (mp_<thing>_new, then mp_<thing>_free).
 * Objects must be 8-byte aligned; a NULL, misaligned or uninitialised object
 * is -EINVAL.  All of them work between threads and between processes.
 *
 * Timeouts: relative nanoseconds, MP_FOREVER, or 0 to try once; a try that
 * would block returns -EAGAIN, a timeout -ETIMEDOUT (common.h).
 *
 * Death (what survives a process killed at any instruction):
 *  - Lock, RLock, and the lock of a Condition are robust.  The futex word
 *    holds the owner's thread id in the kernel's robust-futex format, and the
 *    lock takes part in the owner thread's robust list - the list glibc
 *    registers for every thread (mproc joins it, it never replaces it).  When
 *    the owner dies the kernel marks the word FUTEX_OWNER_DIED and wakes one
 *    waiter, so the next acquirer - one already blocked included - gets the
 *    lock together with -EOWNERDEAD at once.  It repairs what the lock
 *    protects and calls mp_lock_consistent(); if it releases the lock
 *    without doing so, the lock becomes unrecoverable and every later
 *    acquire returns -ENOTRECOVERABLE (as POSIX robust mutexes do).
 *    Why this way: it costs no system call and a few stores on the fast
 *    path, the kernel does the detection (no polling, no pid-reuse hazard),
 *    and it measured as fast as glibc's own robust mutex (mpbench lock.*).
 *    Holders whose node is not in their list are waited on in slices of
 *    2 ms, after each of which the waiter asks the kernel whether that
 *    holder has ended (common.h, "Liveness": the word carries the holder's
 *    identity, taken in the same atomic step as the lock, so a holder that
 *    is stopped or starved is never taken for dead, and a dead one is
 *    found even when its thread id went to another thread): the
 *    owner-died result then comes within a slice.  That is the case for a
 *    Lock released by a thread other than its owner (Python allows this
 *    for Lock) until its former owner next releases an mproc lock, for a
 *    thread that took the lock in the instant between its release and the
 *    unlinking of the node, for one that died between taking the word and
 *    linking, and for every lock when glibc's robust list layout is not
 *    the one mproc knows (checked at run time).
 *  - Semaphore, Event, Condition waiters and Barrier hold no ownership: a
 *    process that dies holding a semaphore unit takes it with it (as in
 *    Python); a process killed inside mp_cond_wait() may absorb one later
 *    mp_cond_notify() (mp_cond_notify_all() still wakes everyone); a party
 *    killed before reaching a barrier leaves the others waiting until their
 *    timeout, which breaks the barrier.
 *
 * Spinning: before sleeping, a waiter spins for at most a few microseconds
 * (MPROC_SPIN_NS in the environment, default 4000, 0 to disable) when the
 * process may run on more than one CPU; each object keeps an estimate of how
 * long spinning pays and stops spinning when it does not (e.g. when the
 * machine is oversubscribed).  One wait in 8 of each thread probes longer
 * (5 x MPROC_SPIN_NS), to find out whether spinning pays again - e.g. two
 * processes in ping-pong that both fell asleep once, and would otherwise
 * each answer the other only after a wake-up; probes that keep losing
 * become rarer, down to one wait in 256.  A pool's waits that span a whole
 * round trip through another process (a worker waiting for its next task,
 * a caller for its result) spin 4 times as long (at most 1 ms, probes 5
 * times that).  A Lock or RLock waiter that sees the holder release and
 * re-take the lock while it spins stops looking (in practice it sleeps):
 * locks favour throughput over fairness, as glibc's and Python's do - a
 * thread that keeps re-taking a lock in a tight loop may keep it for a
 * while; one that sleeps on it is woken at release.
 */
#ifndef MPROC_SYNC_H
#define MPROC_SYNC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <mproc/common.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Opaque storage; the layouts are private and versioned by a magic word. */
typedef struct mp_lock { MP_ALIGNAS(8) unsigned char opaque_[64]; } mp_lock_t;
typedef struct mp_rlock { MP_ALIGNAS(8) unsigned char opaque_[64]; } mp_rlock_t;
typedef struct mp_sem { MP_ALIGNAS(8) unsigned char opaque_[32]; } mp_sem_t;
typedef struct mp_cond { MP_ALIGNAS(8) unsigned char opaque_[128]; } mp_cond_t;
typedef struct mp_event { MP_ALIGNAS(8) unsigned char opaque_[16]; } mp_event_t;
typedef struct mp_barrier { MP_ALIGNAS(8) unsigned char opaque_[192]; } mp_barrier_t;

/* ---- Lock ---------------------------------------------------------------- */

/* mp_lock_init - an unlocked lock at l.  -EINVAL: l NULL or misaligned. */
MP_API int mp_lock_init(mp_lock_t *l);
/* mp_lock_destroy - -EBUSY while locked; -EINVAL. */
MP_API int mp_lock_destroy(mp_lock_t *l);
/* mp_lock_new / mp_lock_free - the same, in the shared heap. */
MP_API mp_lock_t *mp_lock_new(int *err);
MP_API int mp_lock_free(mp_lock_t *l);

/*
 * mp_lock_acquire - take the lock, waiting up to timeout_ns.
 * Returns 0, or -EOWNERDEAD: the lock is yours, its previous owner died
 * holding it; repair and call mp_lock_consistent().
 * Errors: -EAGAIN (timeout 0) / -ETIMEDOUT; -ENOTRECOVERABLE; -EINVAL.
 * A Lock is not recursive: a thread that takes it again waits, as in
 * Python, until somebody releases it (any thread may) or the timeout.
 */
MP_API int mp_lock_acquire(mp_lock_t *l, int64_t timeout_ns);
/*
 * mp_lock_release - release.  Any thread or process may release a Lock (as
 * in Python), not only the one that took it.
 * Errors: -EPERM the lock is not locked (Python: "release unlocked lock");
 * -EINVAL.
 */
MP_API int mp_lock_release(mp_lock_t *l);
/* mp_lock_consistent - after -EOWNERDEAD: the state is repaired.
 * Errors: -EINVAL not held by the caller after an owner's death. */
MP_API int mp_lock_consistent(mp_lock_t *l);
/* 1 when locked, 0 when not, -EINVAL. */
MP_API int mp_lock_locked(const mp_lock_t *l);

/* ---- RLock: recursive, owned ------------------------------------------- */

/*
 * mp_rlock_init / mp_rlock_destroy / mp_rlock_new / mp_rlock_free - an
 * unlocked RLock at l, or in the shared heap, as for Lock: -EINVAL l NULL
 * or misaligned; destroy: -EBUSY while locked; new: NULL with *err (the
 * heap's error, mp_heap_alloc).
 */
MP_API int mp_rlock_init(mp_rlock_t *l);
MP_API int mp_rlock_destroy(mp_rlock_t *l);
MP_API mp_rlock_t *mp_rlock_new(int *err);
MP_API int mp_rlock_free(mp_rlock_t *l);
/*
 * mp_rlock_acquire - as mp_lock_acquire, but the owning thread may take it
 * again; each acquire needs a release.  Returns the recursion count after
 * the call on success, which is >= 1 (so test for < 0, not != 0).
 * -EOWNERDEAD as for Lock (the count is then 1).  -EOVERFLOW at 2^31-1.
 */
MP_API int mp_rlock_acquire(mp_rlock_t *l, int64_t timeout_ns);
/* mp_rlock_release - the remaining count (0: released).
 * Errors: -EPERM the caller is not the owner (Python: "cannot release
 * un-acquired lock"); -EINVAL. */
MP_API int mp_rlock_release(mp_rlock_t *l);

/* mp_rlock_consistent - after -EOWNERDEAD: the state is repaired.
 * Errors: -EINVAL not held by the caller after an owner's death. */
MP_API int mp_rlock_consistent(mp_rlock_t *l);
/* The owner's thread id (0: unlocked) and recursion count. -EINVAL. */
MP_API int mp_rlock_owner(const mp_rlock_t *l, int *tid, int *count);

/* ---- Semaphore and BoundedSemaphore -------------------------------------- */

#define MP_SEM_VALUE_MAX 0x7fffffffu

/* mp_sem_init - a Semaphore with the given value (<= MP_SEM_VALUE_MAX).
 * bounded: a BoundedSemaphore, which refuses to rise above `value`.
 * Errors: -EINVAL value < 0 or too large, s NULL or misaligned. */
MP_API int mp_sem_init(mp_sem_t *s, long value, bool bounded);

/* mp_sem_destroy / mp_sem_new / mp_sem_free - destroy one made by init;
 * the same in the shared heap (new: NULL with *err: -EINVAL as for init,
 * or -ENOMEM).  Errors: -EBUSY while threads wait on it; -EINVAL. */
MP_API int mp_sem_destroy(mp_sem_t *s);
MP_API mp_sem_t *mp_sem_new(long value, bool bounded, int *err);
MP_API int mp_sem_free(mp_sem_t *s);
/* mp_sem_acquire - take one unit.  -EAGAIN / -ETIMEDOUT; -EINVAL. */
MP_API int mp_sem_acquire(mp_sem_t *s, int64_t timeout_ns);
/* mp_sem_release - give n units back (n >= 1) and wake as many waiters.
 * Errors: -EOVERFLOW a BoundedSemaphore would exceed its initial value, or
 * any semaphore MP_SEM_VALUE_MAX (nothing is released then); -EINVAL. */
MP_API int mp_sem_release(mp_sem_t *s, long n);
/* The current value (>= 0), or -EINVAL. */
MP_API long mp_sem_value(const mp_sem_t *s);

/* ---- Condition ---------------------------------------------------------- */

/*
 * mp_cond_init - a condition variable over `lock`, which must be an mp_lock_t
 * or mp_rlock_t (say which with rlock) living in the same mapping as the
 * condition (it is found again by its offset, so the pair may be mapped
 * anywhere).  lock NULL: the condition gets its own RLock, as in Python.
 * Errors: -EINVAL.
 */
MP_API int mp_cond_init(mp_cond_t *c, void *lock, bool rlock);
/* mp_cond_destroy - -EBUSY while threads wait on it; -EINVAL. */
MP_API int mp_cond_destroy(mp_cond_t *c);
/* In the shared heap; lock NULL (its own RLock) or a heap lock (-EINVAL
 * for a lock outside the heap). */
MP_API mp_cond_t *mp_cond_new(void *lock, bool rlock, int *err);
MP_API int mp_cond_free(mp_cond_t *c);
/* Its lock (a mp_lock_t * or mp_rlock_t *, per mp_cond_init). */
MP_API void *mp_cond_lock(mp_cond_t *c);
/* Acquire / release its lock (returns as mp_lock_* or mp_rlock_* do). */
MP_API int mp_cond_acquire(mp_cond_t *c, int64_t timeout_ns);
MP_API int mp_cond_release(mp_cond_t *c);
/*
 * mp_cond_wait - release the lock (all recursion levels of an RLock), sleep
 * until notified or the timeout, take the lock back (restoring the level).
 * Returns 0 when notified, -ETIMEDOUT (or -EAGAIN for 0) when not; the lock
 * is held again in both cases - and -EOWNERDEAD if, while we slept, a holder
 * died: the lock is ours, repair and mark it consistent.
 * A notify wakes only threads that were waiting when it was made: one that
 * starts waiting later never takes another's wake-up.
 * Errors (lock not held again): -EPERM the caller does not hold the lock;
 * -ENOTRECOVERABLE; -EINVAL.  (Lock still held:) -EOVERFLOW 2^21-1
 * threads already wait on the condition.
 */
MP_API int mp_cond_wait(mp_cond_t *c, int64_t timeout_ns);
/* Predicate for mp_cond_wait_for: true when the awaited state holds. */
typedef bool (*mp_pred_t)(void *arg);
/* mp_cond_wait_for - wait until pred(arg), re-checked under the lock after
 * every wake-up; the deadline covers the whole wait.  Returns 1 when pred
 * holds, 0 on timeout (pred still false), or a wait error: -EPERM when the
 * caller does not hold the lock, even if pred already holds. */
MP_API int mp_cond_wait_for(mp_cond_t *c, mp_pred_t pred, void *arg,
                            int64_t timeout_ns);
/* mp_cond_notify - wake up to n waiters (n >= 1); mp_cond_notify_all -
 * every waiter.  Returns how many were woken.  The caller must hold the
 * lock (-EPERM otherwise); -EINVAL. */
MP_API int mp_cond_notify(mp_cond_t *c, int n);
MP_API int mp_cond_notify_all(mp_cond_t *c);

/* ---- Event ---------------------------------------------------------------- */

/*
 * mp_event_init / mp_event_destroy / mp_event_new / mp_event_free - an
 * Event, its flag clear, at e or in the shared heap (new: NULL with *err,
 * the heap's error).  Errors: -EINVAL e NULL or misaligned; destroy:
 * -EBUSY while threads wait on it.
 */
MP_API int mp_event_init(mp_event_t *e);
MP_API int mp_event_destroy(mp_event_t *e);
MP_API mp_event_t *mp_event_new(int *err);
MP_API int mp_event_free(mp_event_t *e);
/* mp_event_set - set the flag and wake every waiter.  0, or -EINVAL. */
MP_API int mp_event_set(mp_event_t *e);
/* mp_event_clear - clear the flag (waiters go on waiting).  0, or
 * -EINVAL. */
MP_API int mp_event_clear(mp_event_t *e);
/* 1 when set, 0 when not, -EINVAL. */
MP_API int mp_event_is_set(const mp_event_t *e);
/* mp_event_wait - wait for the flag: returns 1 (set), or 0 when the timeout
 * passed with the flag still clear (as Python returns the flag), -EINVAL. */
MP_API int mp_event_wait(mp_event_t *e, int64_t timeout_ns);

/* ---- Barrier -------------------------------------------------------------- */

/* Run by the last party to arrive, before the others are released; a
 * non-zero return breaks the barrier. */
typedef int (*mp_barrier_action_t)(void *arg);

/*
 * mp_barrier_init - a barrier for `parties` (>= 1) parties.  action (may be
 * NULL) and arg are stored as pointers: only processes forked from the
 * initialising one (which share its code and data addresses) may reach the
 * barrier with an action set.  Errors: -EINVAL.
 */
MP_API int mp_barrier_init(mp_barrier_t *b, unsigned parties,
                           mp_barrier_action_t action, void *arg);

/* mp_barrier_destroy / mp_barrier_new / mp_barrier_free - destroy one made
 * by init; the same in the shared heap (new: NULL with *err).  Errors:
 * -EBUSY while parties wait at it; -EINVAL. */
MP_API int mp_barrier_destroy(mp_barrier_t *b);
MP_API mp_barrier_t *mp_barrier_new(unsigned parties,
                                    mp_barrier_action_t action, void *arg,
                                    int *err);
MP_API int mp_barrier_free(mp_barrier_t *b);
/*
 * mp_barrier_wait - wait for all parties.  Returns this party's index,
 * distinct in 0..parties-1 (the order of arrival; the last runs the action).
 * Errors: -ETIMEDOUT this party timed out, which breaks the barrier;
 * -MP_EBROKEN the barrier is or became broken (abort, reset while waiting,
 * another party's timeout, a failing action); -EINVAL.
 */
MP_API int mp_barrier_wait(mp_barrier_t *b, int64_t timeout_ns);
/* Break the barrier: waiters and later callers get -MP_EBROKEN. */
MP_API int mp_barrier_abort(mp_barrier_t *b);
/* Back to empty and unbroken; current waiters get -MP_EBROKEN. */
MP_API int mp_barrier_reset(mp_barrier_t *b);
/* mp_barrier_parties / mp_barrier_n_waiting - the number of parties, and
 * of those waiting now (Python's parties and n_waiting), or -EINVAL. */
MP_API int mp_barrier_parties(const mp_barrier_t *b);
MP_API int mp_barrier_n_waiting(const mp_barrier_t *b);
/* 1 when broken, 0 when not, -EINVAL. */
MP_API int mp_barrier_broken(const mp_barrier_t *b);

#ifdef __cplusplus
}
#endif

#endif
