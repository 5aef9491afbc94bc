/*
 * lock.c - Lock and RLock on a futex word in the kernel's robust format,
 * linked into the owner thread's robust list (the one glibc registered).
 *
 * The robust-list protocol, leaner than glibc's for its robust mutexes:
 *   acquire: take the word (CAS); link the node at the head of the list
 *   release: release the word (XCHG); unlink the node
 * When a thread dies the kernel walks its list: each word whose tid is the
 * dead thread's gets FUTEX_OWNER_DIED and one waiter is woken.  Waiters
 * sleep without a time limit only on a holder whose node is linked
 * (`linker` == the holder, stored after the link); any other holder is
 * waited on in slices that check it still lives (fallback_wait).  So a
 * death at any instruction is seen: between taking the word and linking
 * the node `linker` does not name the holder, and the fallback sees the
 * death; from the link to the release the node is in the list; after the
 * release the word is no longer the dead thread's, and the kernel skips a
 * node still linked.  glibc instead covers both steps with
 * list_op_pending: we save its four stores, and the node's two clearing
 * ones, because every store made before a locked instruction is waited for
 * by it, and those stores were a third of the uncontended cost.
 *
 * The price of releasing before unlinking: a thread that takes the lock in
 * the few instructions between the two finds the node still claimed; it
 * waits a moment for the claim to go (claim_node), else holds the lock
 * unlinked, with the fallback's slower detection for its waiters.
 *
 * A Lock may be released by a thread that does not own it.  That thread
 * cannot touch the owner's list, so the node stays there, "detached": the
 * owner unlinks it the next time it releases an mproc lock
 * (sweep_detached), and until then new owners cannot link it.  Locks whose
 * holder has not linked the node - and all locks when glibc's list layout
 * is not the one we know - are waited on with fallback_wait.
 */
#include "lock.h"

#include <pthread.h>
#include <stdlib.h>
#include <unistd.h>

/* ---- per-thread state ---------------------------------------------------- */

struct thread_state {
	pid_t tid;          /* 0: not yet known (new thread, or fork child) */
	bool head_known;
	/* glibc's head when nodes can go in its list (robust_ok), else NULL */
	struct mp_sys_robust_head *head;
};

/*
 * initial-exec: one %fs-relative access, where the shared library's
 * default model would call __tls_get_addr in every function of the fast
 * path.  The struct is small enough for the static TLS that glibc keeps
 * spare for libraries loaded with dlopen.
 */
static _Thread_local struct thread_state thr
	__attribute__((tls_model("initial-exec")));

static pthread_once_t fork_once = PTHREAD_ONCE_INIT;
/* Does glibc's robust-list layout match ours?  0: not known yet, 1: yes,
 * 2: no.  Per process (every thread's head has the same layout). */
static _Atomic int layout;
/* Tests: pretend it does not. */
static _Atomic bool forced_fallback;

static void lock_after_fork(void)
{
	/* glibc empties the child's robust list (the head stays where it
	 * was); the child holds nothing. */
	thr.tid = 0;
}

static void probe_head(void);
static void sweep_detached(struct mp_sys_robust_head *h, pid_t me);

/*
 * At thread exit: unlink the nodes others released for us (see top).  Left
 * in the dying list, they would keep naming our tid in `linker`, and a
 * later thread given the same tid would take such a node for one of its
 * own and leave it out of its list.  (The kernel then walks what remains:
 * locks we still hold.)
 */
static pthread_key_t exit_key;

static void at_thread_exit(void *arg)
{
	(void)arg;
	if (thr.tid && thr.head)
		sweep_detached(thr.head, thr.tid);
}

static void register_fork(void)
{
	(void)pthread_atfork(NULL, NULL, lock_after_fork);
	(void)pthread_key_create(&exit_key, at_thread_exit);
}

/* Also learns the robust head: the fast paths take a known tid to mean a
 * known head, and read thr.head unchecked. */
static __attribute__((noinline)) pid_t tid_slow(void)
{
	pthread_once(&fork_once, register_fork);
	if (!thr.head_known)
		probe_head();
	thr.tid = mp_sys_gettid();
	(void)pthread_setspecific(exit_key, (void *)1);
	return thr.tid;
}

pid_t mp__tid(void)
{
	pid_t t = thr.tid;
	return __builtin_expect(t != 0, 1) ? t : tid_slow();
}

/* Can nodes be linked into glibc's lists in this process? */
static inline bool robust_ok(void)
{
	return atomic_load_explicit(&layout, memory_order_relaxed) == 1 &&
	       !atomic_load_explicit(&forced_fallback, memory_order_relaxed);
}

/* Tests: force (or stop forcing) the fallback, for this process's later
 * threads and children and for the calling thread (other threads keep
 * what they found: the fast path reads only thr.head). */
void mp__lock_force_fallback(bool on);
void mp__lock_force_fallback(bool on)
{
	atomic_store(&forced_fallback, on);
	thr.head_known = false;
	thr.tid = 0;
}

static __attribute__((noinline)) void probe_head(void)
{
	struct mp_sys_robust_head *h = mp_sys_robust_head();
	bool ok = h && h->futex_offset ==
	          -(long)__builtin_offsetof(struct lock, next);

	atomic_store_explicit(&layout, ok ? 1 : 2, memory_order_relaxed);
	thr.head = robust_ok() ? h : NULL;
	thr.head_known = true;
}

/* This thread's robust-list head when its layout is the one we know. */
static inline struct mp_sys_robust_head *robust_head(void)
{
	if (__builtin_expect(!thr.head_known, 0))
		probe_head();
	return thr.head;
}

/* ---- the node in the list ------------------------------------------------ */

/* A list pointer without its low bit (the kernel's "PI futex" flag, which
 * glibc and the kernel may set on entries). */
static inline void *entry_of(const void *p)
{
	return (void *)((uintptr_t)p & ~(uintptr_t)1);
}

/* Link l at the head of h's list, as glibc's ENQUEUE_MUTEX. */
static inline void link_node(struct mp_sys_robust_head *h, struct lock *l,
                             pid_t me)
{
	void *old = h->list;
	void *first = entry_of(old);

	/* The head's own back pointer (glibc's robust_prev, just before the
	 * head) is written by glibc but never read - nothing walks the list
	 * backwards past its head - so we leave it alone: a store less on
	 * each side of the usual case, an empty list. */
	if (first != (void *)h)
		*(void **)((char *)first - sizeof(void *)) = (void *)&l->next;
	/* Re-taking a lock links it with the values it already holds: a
	 * store skipped is a store the next locked instruction need not
	 * wait for. */
	if (atomic_load_explicit(&l->next, memory_order_relaxed) != old)
		atomic_store_explicit(&l->next, old, memory_order_relaxed);
	if (atomic_load_explicit(&l->prev, memory_order_relaxed) != (void *)h)
		atomic_store_explicit(&l->prev, (void *)h, memory_order_relaxed);
	/* The entry is complete before the kernel can reach it. */
	atomic_signal_fence(memory_order_seq_cst);
	h->list = (void *)&l->next;
	/* Release: the node's fields before the claim on it. */
	atomic_store_explicit(&l->linker, me, memory_order_release);
}

/*
 * Unlink l from h, the list it is in (ours), as glibc's DEQUEUE_MUTEX -
 * but leaving the node's own prev/next as they were: nothing reads them
 * once the neighbours skip it, and a death half-way through still leaves
 * a list the kernel can walk.  (Fewer stores: each one is waited for by
 * the next locked instruction, and they are most of the fast path's
 * cost.)  The head's back pointer is not kept (see link_node).
 */
static inline void unlink_node(struct mp_sys_robust_head *h, struct lock *l)
{
	void *next = atomic_load_explicit(&l->next, memory_order_relaxed);
	void *prev = atomic_load_explicit(&l->prev, memory_order_relaxed);
	void *n = entry_of(next);

	if (n != (void *)h)
		*(void **)((char *)n - sizeof(void *)) = prev;
	*(void **)entry_of(prev) = next;
	/* Release: done with the node before another thread may link it. */
	atomic_store_explicit(&l->linker, 0, memory_order_release);
}

/* The mproc lock behind a list entry, or NULL for another kind (a glibc
 * robust mutex shares the list: its __count and __kind sit where our magic
 * and linker are, and never hold a magic together with our tid). */
static struct lock *entry_lock(void *entry, pid_t me)
{
	struct lock *l = (struct lock *)((char *)entry -
	                                 __builtin_offsetof(struct lock, next));
	if (l->magic != LOCK_MAGIC && l->magic != RLOCK_MAGIC)
		return NULL;
	return atomic_load_explicit(&l->linker, memory_order_relaxed) == me
	       ? l : NULL;
}

static inline bool list_empty(const struct mp_sys_robust_head *h)
{
	return entry_of(h->list) == (void *)h;
}

/* Walks of our list are bounded, and stop at NULL, as the kernel's walk
 * does: a lock whose memory was rewritten while linked must not take us
 * along. */
#define WALK_MAX 2048

/* Unlink our nodes of locks that others released for us (see top): walk
 * our list, which holds only what we linked and glibc's mutexes. */
static __attribute__((noinline)) void sweep_detached(
        struct mp_sys_robust_head *h, pid_t me)
{
	void *e = entry_of(h->list);

	for (int n = 0; e && e != (void *)h && n < WALK_MAX; n++) {
		void *next = entry_of(*(void **)e);
		struct lock *l = entry_lock(e, me);
		if (l && (atomic_load_explicit(&l->word, memory_order_acquire)
		          & FUTEX_TID_MASK) != (uint32_t)me)
			unlink_node(h, l);
		e = next;
	}
}

/* Is l's node in our list h?  (A claim with our tid may be a dead
 * thread's whose tid we were given: see claim_node.) */
static bool in_list(struct mp_sys_robust_head *h, struct lock *l)
{
	void *e = entry_of(h->list);
	for (int n = 0; e && e != (void *)h && n < WALK_MAX; n++) {
		if (e == (void *)&l->next)
			return true;
		e = entry_of(*(void **)e);
	}
	return false;
}

/* After taking the word on a slow path: make the node ours if nobody
 * else's list has it. */
static inline void claim_node(struct mp_sys_robust_head *h, struct lock *l,
                              pid_t me)
{
	int32_t linker = atomic_load_explicit(&l->linker, memory_order_acquire);

	if (!h || (linker == me && in_list(h, l)))
		return;
	if (linker == me)
		linker = 0; /* a dead thread's claim, and it had our tid */
	/* In another thread's list: its releaser has not unlinked it yet
	 * (a few stores away: wait a moment), or it is detached there. */
	for (int i = 0; linker != 0 && i < 16; i++) {
		mp__cpu_relax();
		linker = atomic_load_explicit(&l->linker, memory_order_acquire);
	}
	/* Still claimed: if that thread is dead its list died with it and
	 * the node is free to take; if not, we hold the lock unlinked (our
	 * waiters use the fallback). */
	if (linker != 0 && mp_sys_thread_alive(linker) != 0)
		return;
	link_node(h, l, me);
}

/* ---- waiting ------------------------------------------------------------- */

/* Is the holder `tid` one the kernel will report the death of? */
static bool holder_is_robust(struct lock *l, uint32_t tid)
{
	return robust_ok() &&
	       (uint32_t)atomic_load_explicit(&l->linker,
	                                      memory_order_relaxed) == tid;
}

#define FALLBACK_SLICE_NS MP_MSEC(2)

/*
 * Sleep while the word is v, for a holder the kernel will not report: in
 * slices, checking between them that the holder lives; when it does not,
 * mark the word as the kernel would have.  Returns like mp_sys_futex_wait.
 */
static int fallback_wait(struct lock *l, uint32_t v, int64_t deadline)
{
	struct timespec ts;
	int64_t slice = mp_sys_now_ns() + FALLBACK_SLICE_NS;
	int64_t until = slice < deadline ? slice : deadline;
	int r = mp_sys_futex_wait(&l->word, v, mp__deadline_ts(until, &ts));

	if (r != -ETIMEDOUT || until == deadline)
		return r;
	if (mp_sys_thread_alive((pid_t)(v & FUTEX_TID_MASK)) == 0) {
		uint32_t dead = (v & FUTEX_WAITERS) | FUTEX_OWNER_DIED;
		atomic_compare_exchange_strong_explicit(&l->word, &v, dead,
		        memory_order_relaxed, memory_order_relaxed);
	}
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

/* After a take: a plain increment, as only the owner writes gen - and
 * only while somebody spins: a store before the release's locked
 * instruction is waited for by it, a load is not. */
static inline void bump_gen(struct lock *l)
{
	if (atomic_load_explicit(&l->spinners, memory_order_relaxed))
		atomic_store_explicit(&l->gen, atomic_load_explicit(&l->gen,
		        memory_order_relaxed) + 1, memory_order_relaxed);
}

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
		if ((atomic_load_explicit(&l->word, memory_order_relaxed)
		     & FUTEX_TID_MASK) == 0) {
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
static int take_slow(struct lock *l, pid_t me, int64_t deadline, bool try)
{
	bool slept = false;
	struct timespec ts;

	if (!try)
		spin_for_free(l);
	for (;;) {
		uint32_t v = atomic_load_explicit(&l->word, memory_order_relaxed);
		if ((v & FUTEX_TID_MASK) == 0) {
			if (atomic_load_explicit(&l->state, memory_order_relaxed)
			    == LS_NOTRECOVERABLE)
				return -ENOTRECOVERABLE;
			uint32_t nv = (uint32_t)me |
			        ((v & FUTEX_WAITERS) || slept ? FUTEX_WAITERS : 0);
			if (atomic_compare_exchange_weak_explicit(&l->word, &v,
			        nv, memory_order_acquire, memory_order_relaxed))
				return v & FUTEX_OWNER_DIED ? -EOWNERDEAD : 0;
			continue;
		}
		if (try)
			return -EAGAIN;
		if (!(v & FUTEX_WAITERS)) {
			if (!atomic_compare_exchange_weak_explicit(&l->word, &v,
			        v | FUTEX_WAITERS, memory_order_relaxed,
			        memory_order_relaxed))
				continue;
			v |= FUTEX_WAITERS;
		}
		int r = holder_is_robust(l, v & FUTEX_TID_MASK)
		        ? mp_sys_futex_wait(&l->word, v,
		                            mp__deadline_ts(deadline, &ts))
		        : fallback_wait(l, v, deadline);
		if (r == -ETIMEDOUT)
			return -ETIMEDOUT;
		slept = true;
	}
}

/* take_quick took a lock marked since: give the word back (the full
 * path then reports it). */
static void untake(struct lock *l)
{
	if (atomic_exchange_explicit(&l->word, 0, memory_order_release) &
	    FUTEX_WAITERS)
		mp_sys_futex_wake(&l->word, INT32_MAX);
}

/*
 * The uncontended paths of Lock, as leaf code: no call before the locked
 * instruction, so the compiler saves no registers on the stack there.  A
 * locked instruction waits until every older store has reached the cache,
 * and the five pushes of a non-leaf prologue cost 4-5 ns of the ~20 ns of
 * an acquire+release here (a plain pthread_mutex pays none).  Anything
 * unusual - first use in a thread, a taken word, a node another list
 * still holds, waiters, a lock to repair - goes to the full paths.
 *
 * take_quick: 1 taken, 0 not (the full path next), 2 taken but marked
 * since (give it back with untake, then the full path).  The callers
 * tail-call what comes next: no call on the way to the CAS or after it.
 */
static inline __attribute__((always_inline)) int
take_quick(struct lock *l, pid_t me)
{
	uint32_t zero = 0;

	if (__builtin_expect(!me, 0) ||
	    atomic_load_explicit(&l->state, memory_order_relaxed) != LS_CONSISTENT ||
	    !atomic_compare_exchange_strong_explicit(&l->word, &zero,
	        (uint32_t)me, memory_order_acquire, memory_order_relaxed))
		return 0;
	/* Looked at again once the word is ours: an owner that released
	 * without repairing marked the lock before its release, which our
	 * acquire now makes visible. */
	if (__builtin_expect(atomic_load_explicit(&l->state,
	                     memory_order_relaxed) != LS_CONSISTENT, 0))
		return 2;
	bump_gen(l);
	return 1;
}

/* After take_quick: the node into our list.  0, or 1 when it is still in
 * another thread's list (the caller then calls claim_slow: a call here
 * would make every caller save registers before its CAS). */
static inline __attribute__((always_inline)) int
link_quick(struct lock *l, pid_t me, struct mp_sys_robust_head *h)
{
	if (!h)
		return 0;
	int32_t linker = atomic_load_explicit(&l->linker, memory_order_acquire);
	if (__builtin_expect(linker != 0 && linker != me, 0))
		return 1;
	/* A claim with our tid on an empty list of ours is a dead thread's
	 * that had our tid (see claim_node): not linked, so link it. */
	if (linker == 0 || __builtin_expect(list_empty(h), 0))
		link_node(h, l, me);
	return 0;
}

/* The first attempt of the full paths (mp__lock_take, and take_timeout
 * for a thread's first lock): the fast path's, with calls allowed.  0
 * taken, 1 not (go to take_contended). */
static inline int take_fast(struct lock *l, pid_t me,
                            struct mp_sys_robust_head *h)
{
	int t = take_quick(l, me);

	if (t == 2)
		untake(l);
	if (t != 1)
		return 1;
	if (link_quick(l, me, h))
		claim_node(h, l, me);
	return 0;
}

static __attribute__((noinline)) int take_contended(struct lock *l, pid_t me,
        struct mp_sys_robust_head *h, int64_t deadline, bool try)
{
	int r = take_slow(l, me, deadline, try);

	if (r == 0 || r == -EOWNERDEAD) {
		bump_gen(l);
		claim_node(h, l, me);
	}
	if (r == -EOWNERDEAD)
		atomic_store_explicit(&l->state, LS_INCONSISTENT,
		                      memory_order_relaxed);
	return r;
}

int mp__lock_take(struct lock *l, int64_t deadline, bool try)
{
	pid_t me = mp__tid();
	struct mp_sys_robust_head *h = robust_head();
	int r = take_fast(l, me, h);

	return r != 1 ? r : take_contended(l, me, h, deadline, try);
}

/* mp__lock_take for a relative timeout, the deadline computed only when
 * the fast path fails (a valid timeout_ns is the caller's check). */
static inline __attribute__((always_inline)) int
take_timeout(struct lock *l, int64_t timeout_ns)
{
	pid_t me = mp__tid();
	struct mp_sys_robust_head *h = robust_head();
	int64_t deadline;
	int r = take_fast(l, me, h);

	if (r != 1)
		return r;
	mp__deadline(timeout_ns, &deadline);
	return take_contended(l, me, h, deadline, timeout_ns == 0);
}

static inline bool timeout_ok(int64_t timeout_ns)
{
	return timeout_ns >= 0 || timeout_ns == MP_FOREVER;
}

/* Release by someone else than the owner (a Lock only), or a double one:
 * the word may change under us. */
/*
 * A release that may have to wake someone is announced in our robust
 * head's list_op_pending (as glibc announces its own): killed between
 * freeing the word and the wake-up, we would leave waiters asleep for
 * good - they sleep without a time limit on a holder the kernel reports -
 * but the kernel, finding the pending entry's word free at our death,
 * wakes one of them.  (Died before freeing it, the kernel marks it
 * FUTEX_OWNER_DIED as for a listed one.)  The uncontended release has no
 * waiters to lose and does not pay for this.
 */
static inline void pending_set(struct mp_sys_robust_head *h, struct lock *l)
{
	if (h) {
		h->list_op_pending = (void *)&l->next;
		atomic_signal_fence(memory_order_seq_cst);
	}
}

static inline void pending_clear(struct mp_sys_robust_head *h)
{
	if (h) {
		atomic_signal_fence(memory_order_seq_cst);
		h->list_op_pending = NULL;
	}
}

static __attribute__((noinline)) int put_foreign(struct lock *l, pid_t me,
                                                 uint32_t v)
{
	struct mp_sys_robust_head *h = robust_head();
	uint32_t st = atomic_load_explicit(&l->state, memory_order_relaxed);
	if (st == LS_INCONSISTENT)
		atomic_store_explicit(&l->state, st = LS_NOTRECOVERABLE,
		                      memory_order_relaxed);
	pending_set(h, l);
	/* Release: the critical section before the word says "free". */
	while (!atomic_compare_exchange_weak_explicit(&l->word, &v, 0,
	               memory_order_release, memory_order_relaxed)) {
		if ((v & FUTEX_TID_MASK) == 0) {
			v = 0; /* a racing release won: ours is a double one */
			break;
		}
	}
	if (v & FUTEX_WAITERS || st == LS_NOTRECOVERABLE)
		mp_sys_futex_wake(&l->word, st == LS_NOTRECOVERABLE ? INT32_MAX
		                                                    : 1);
	pending_clear(h);
	if (h && !list_empty(h))
		sweep_detached(h, me);
	return v ? 0 : -EPERM;
}

/*
 * Release by the owner.  The word is released first and the node unlinked
 * after: a death in between leaves a node whose word is not ours, which
 * the kernel skips (and the pending entry gets its waiter woken, see
 * pending_set).  A new owner that
 * comes in between finds the node still claimed by us and holds the lock
 * unlinked (claim_node), which costs it only the fallback's slower
 * detection; the window is a few stores.
 */
int mp__lock_put(struct lock *l, pid_t me)
{
	uint32_t v = atomic_load_explicit(&l->word, memory_order_relaxed);

	if ((v & FUTEX_TID_MASK) == 0)
		return -EPERM;
	if ((v & FUTEX_TID_MASK) != (uint32_t)me)
		return put_foreign(l, me, v);
	/* Released without repair after an owner's death: POSIX makes such
	 * a lock unusable, so nobody builds on a half-updated state. */
	uint32_t st = atomic_load_explicit(&l->state, memory_order_relaxed);
	if (__builtin_expect(st == LS_INCONSISTENT, 0))
		atomic_store_explicit(&l->state, st = LS_NOTRECOVERABLE,
		                      memory_order_relaxed);
	bool linked = atomic_load_explicit(&l->linker, memory_order_relaxed)
	              == me;
	struct mp_sys_robust_head *h = robust_head();
	pending_set(h, l);
	/* Release: the critical section before the word says "free".  Ours,
	 * so only waiters changed it (adding FUTEX_WAITERS). */
	v = atomic_exchange_explicit(&l->word, 0, memory_order_release);
	if (linked)
		unlink_node(h, l);
	if (v & FUTEX_WAITERS || st == LS_NOTRECOVERABLE)
		mp_sys_futex_wake(&l->word, st == LS_NOTRECOVERABLE ? INT32_MAX
		                                                    : 1);
	pending_clear(h);
	if (h && __builtin_expect(!list_empty(h), 0))
		sweep_detached(h, me);
	return 0;
}

/* Tests: free the word as mp__lock_put does, then die before waking the
 * sleepers - the death pending_set() is there for. */
void mp__lock_test_release_and_die(mp_lock_t *ul);
void mp__lock_test_release_and_die(mp_lock_t *ul)
{
	struct lock *l = lock_of(ul, LOCK_MAGIC);
	if (l) {
		pending_set(robust_head(), l);
		atomic_exchange_explicit(&l->word, 0, memory_order_release);
	}
	_exit(0);
}

/* ---- Lock ------------------------------------------------------------------ */

static int init_common(void *p, uint32_t magic)
{
	if (!mp__aligned(p))
		return -EINVAL;
	struct lock *l = p;
	memset(l, 0, sizeof(*l));
	l->magic = magic;
	return 0;
}

static int destroy_common(struct lock *l)
{
	if (!l)
		return -EINVAL;
	if (atomic_load(&l->word) & FUTEX_TID_MASK)
		return -EBUSY;
	pid_t me = mp__tid();
	int32_t linker = atomic_load_explicit(&l->linker, memory_order_acquire);
	if (linker == me)
		unlink_node(robust_head(), l);
	else if (linker && mp_sys_thread_alive(linker) != 0)
		return -EBUSY; /* still in a live thread's list (see top) */
	l->magic = 0;
	return 0;
}

int mp_lock_init(mp_lock_t *l)
{
	return init_common(l, LOCK_MAGIC);
}

int mp_lock_destroy(mp_lock_t *ul)
{
	return destroy_common(lock_of(ul, LOCK_MAGIC));
}

mp_lock_t *mp_lock_new(int *err)
{
	mp_lock_t *l = mp_heap_alloc(sizeof(*l), err);
	if (l)
		mp_lock_init(l);
	return l;
}

int mp_lock_free(mp_lock_t *l)
{
	int r = mp_lock_destroy(l);
	return r < 0 ? r : mp_heap_free(l);
}

static __attribute__((noinline)) int acquire_slow(struct lock *l,
                                                  int64_t timeout_ns,
                                                  bool taken)
{
	if (taken)
		untake(l);
	return take_timeout(l, timeout_ns);
}

static __attribute__((noinline)) int claim_slow(struct lock *l, pid_t me,
        struct mp_sys_robust_head *h)
{
	claim_node(h, l, me);
	return 0;
}

/* RLock's full acquire: recursion, or the contended take. */
static __attribute__((noinline)) int rlock_acquire_slow(struct lock *l,
                                                        int64_t timeout_ns,
                                                        bool taken)
{
	if (taken) {
		untake(l);
	} else if (mp__lock_mine(l)) {
		if (l->count >= INT32_MAX)
			return -EOVERFLOW;
		return (int)++l->count;
	}
	int r = take_timeout(l, timeout_ns);
	if (r == 0 || r == -EOWNERDEAD)
		l->count = 1;
	return r == 0 ? 1 : r;
}

static __attribute__((noinline)) int rlock_claim_slow(struct lock *l,
        pid_t me, struct mp_sys_robust_head *h)
{
	claim_node(h, l, me);
	l->count = 1;
	return 1;
}

/*
 * Lock's and RLock's acquire: one fast path, tail-calling their own slow
 * ones.  An RLock tries the CAS first and looks for recursion only after
 * it fails: a taken word is the rare case, and a load of the word just
 * before the CAS costs the common one (see put_quick).
 */
static inline __attribute__((always_inline)) int
acquire_common(const void *ul, uint32_t magic, int64_t timeout_ns)
{
	struct lock *l = lock_of(ul, magic);
	pid_t me = thr.tid;
	struct mp_sys_robust_head *h = thr.head;
	bool rlock = magic == RLOCK_MAGIC;

	if (!l || !timeout_ok(timeout_ns))
		return -EINVAL;
	int t = take_quick(l, me);
	if (t != 1)
		return rlock ? rlock_acquire_slow(l, timeout_ns, t == 2)
		             : acquire_slow(l, timeout_ns, t == 2);
	if (link_quick(l, me, h))
		return rlock ? rlock_claim_slow(l, me, h) : claim_slow(l, me, h);
	if (rlock)
		l->count = 1;
	return rlock ? 1 : 0;
}

int mp_lock_acquire(mp_lock_t *ul, int64_t timeout_ns)
{
	return acquire_common(ul, LOCK_MAGIC, timeout_ns);
}

static __attribute__((noinline)) int release_slow(struct lock *l)
{
	return mp__lock_put(l, mp__tid());
}

static __attribute__((noinline)) int release_after(
        struct mp_sys_robust_head *h, pid_t me)
{
	sweep_detached(h, me);
	return 0;
}

/* The uncontended release by the owner `me`: 0 done, 1 take the full
 * path (waiters, another holder or none, a lock to mark). */
static inline __attribute__((always_inline)) int
put_quick(struct lock *l, pid_t me, struct mp_sys_robust_head *h)
{
	uint32_t mine = (uint32_t)me;

	if (__builtin_expect(!me ||
	                     atomic_load_explicit(&l->state,
	                             memory_order_relaxed) != LS_CONSISTENT, 0))
		return 1;
	bool linked = atomic_load_explicit(&l->linker, memory_order_relaxed)
	              == me;
	/* Ours and nobody waiting: word me -> 0 (release, as in
	 * mp__lock_put).  (No plain load of the word first: a load just
	 * before the locked instruction on the same word cost ~1.5 ns.) */
	if (!atomic_compare_exchange_strong_explicit(&l->word, &mine, 0,
	        memory_order_release, memory_order_relaxed))
		return 1;
	if (linked)
		unlink_node(h, l);
	return 0;
}

int mp_lock_release(mp_lock_t *ul)
{
	struct lock *l = lock_of(ul, LOCK_MAGIC);
	pid_t me = thr.tid;
	struct mp_sys_robust_head *h = thr.head;

	if (!l)
		return -EINVAL;
	if (put_quick(l, me, h))
		return release_slow(l);
	if (__builtin_expect(h && !list_empty(h), 0))
		return release_after(h, me);
	return 0;
}

static int make_consistent(struct lock *l)
{
	uint32_t st = LS_INCONSISTENT;

	if (!l || !mp__lock_mine(l))
		return -EINVAL;
	if (!atomic_compare_exchange_strong_explicit(&l->state, &st,
	        LS_CONSISTENT, memory_order_relaxed, memory_order_relaxed))
		return -EINVAL;
	return 0;
}

int mp_lock_consistent(mp_lock_t *ul)
{
	return make_consistent(lock_of(ul, LOCK_MAGIC));
}

int mp_lock_locked(const mp_lock_t *ul)
{
	struct lock *l = lock_of(ul, LOCK_MAGIC);
	if (!l)
		return -EINVAL;
	return (atomic_load(&l->word) & FUTEX_TID_MASK) != 0;
}

/* ---- RLock ----------------------------------------------------------------- */

int mp_rlock_init(mp_rlock_t *l)
{
	return init_common(l, RLOCK_MAGIC);
}

int mp_rlock_destroy(mp_rlock_t *ul)
{
	return destroy_common(lock_of(ul, RLOCK_MAGIC));
}

mp_rlock_t *mp_rlock_new(int *err)
{
	mp_rlock_t *l = mp_heap_alloc(sizeof(*l), err);
	if (l)
		mp_rlock_init(l);
	return l;
}

int mp_rlock_free(mp_rlock_t *l)
{
	int r = mp_rlock_destroy(l);
	return r < 0 ? r : mp_heap_free(l);
}


int mp_rlock_acquire(mp_rlock_t *ul, int64_t timeout_ns)
{
	return acquire_common(ul, RLOCK_MAGIC, timeout_ns);
}

static __attribute__((noinline)) int rlock_release_slow(struct lock *l)
{
	int r = mp__lock_put(l, mp__tid());
	return r < 0 ? r : 0;
}

/* A thread whose tid is not cached yet (it may still own the lock: a
 * fork child's first call, say). */
static __attribute__((noinline)) int rlock_release_full(struct lock *l)
{
	if (!mp__lock_mine(l) || l->count == 0)
		return -EPERM;
	if (--l->count > 0)
		return (int)l->count;
	return rlock_release_slow(l);
}

int mp_rlock_release(mp_rlock_t *ul)
{
	struct lock *l = lock_of(ul, RLOCK_MAGIC);
	pid_t me = thr.tid;
	struct mp_sys_robust_head *h = thr.head;

	if (!l)
		return -EINVAL;
	if (__builtin_expect(!me, 0))
		return rlock_release_full(l);
	uint32_t w = atomic_load_explicit(&l->word, memory_order_relaxed);
	if ((w & FUTEX_TID_MASK) != (uint32_t)me || l->count == 0)
		return -EPERM;
	if (--l->count > 0)
		return (int)l->count;
	if (put_quick(l, me, h))
		return rlock_release_slow(l);
	if (__builtin_expect(h && !list_empty(h), 0))
		return release_after(h, me);
	return 0;
}

int mp_rlock_consistent(mp_rlock_t *ul)
{
	return make_consistent(lock_of(ul, RLOCK_MAGIC));
}

int mp_rlock_owner(const mp_rlock_t *ul, int *tid, int *count)
{
	struct lock *l = lock_of(ul, RLOCK_MAGIC);
	if (!l || !tid || !count)
		return -EINVAL;
	uint32_t w = atomic_load(&l->word);
	*tid = (int)(w & FUTEX_TID_MASK);
	*count = *tid ? (int)l->count : 0;
	return 0;
}
