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
 * waited on in slices, after each of which it is looked at
 * (mp__holder_wait): proven dead - lock.h says what proof is - it loses
 * the lock; alive, or not provably dead, it keeps it however long it
 * takes.  So a death at any instruction is seen: between taking the word
 * and linking the node `linker` does not name the holder, and the slices
 * find the death; from the link to the release the node is in the list;
 * after the release the word is no longer the dead thread's, and the
 * kernel skips a node still linked.  glibc instead covers both steps with
 * list_op_pending: we save its four stores, and the node's two clearing
 * ones, because every store made before a locked instruction is waited for
 * by it, and those stores were a third of the uncontended cost.
 *
 * The word is taken together with the taker's ident (lock.h: `own`), one
 * 64-bit CAS as cheap as a 32-bit one, and `linker` holds the same 64-bit
 * identity: so a waiter judges exactly the holder it read, and a node
 * claimed by a dead thread is never mistaken for a later thread's that
 * was given the same tid.
 *
 * The price of releasing before unlinking: a thread that takes the lock in
 * the few instructions between the two finds the node still claimed; it
 * waits a moment for the claim to go (claim_node), else holds the lock
 * unlinked, with the slower detection of the slices for its waiters.
 *
 * A Lock may be released by a thread that does not own it.  That thread
 * cannot touch the owner's list, so the node stays there, "detached": the
 * owner unlinks it the next time it releases an mproc lock
 * (sweep_detached), and until then new owners cannot link it.  Locks whose
 * holder has not linked the node - and all locks when glibc's list layout
 * is not the one we know - are waited on in slices.
 */
#include "lock.h"

#include <pthread.h>
#include <stdlib.h>
#include <unistd.h>

/* ---- per-thread state ---------------------------------------------------- */

struct thread_state {
	uint64_t self;      /* tid | ident << 32; 0: not yet known (new
	                     * thread, or fork child) */
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
	 * was); the child holds nothing, and is another thread. */
	thr.self = 0;
}

static void probe_head(void);
static void sweep_detached(struct mp_sys_robust_head *h, uint64_t self);

/*
 * At thread exit: unlink the nodes others released for us (see top).  Left
 * in the dying list, they would stay claimed by us until the next owner
 * finds out we are gone.  (The kernel then walks what remains: locks we
 * still hold.)
 */
static pthread_key_t exit_key;

static void at_thread_exit(void *arg)
{
	(void)arg;
	if (thr.self && thr.head)
		sweep_detached(thr.head, thr.self);
}

static void register_fork(void)
{
	(void)pthread_atfork(NULL, NULL, lock_after_fork);
	(void)pthread_key_create(&exit_key, at_thread_exit);
}

/* Also learns the robust head: the fast paths take a known self to mean
 * a known head, and read thr.head unchecked.  Without an ident (kernels
 * before 6.9, no descriptor left) the tid alone names us: a waiter then
 * cannot tell us from a dead thread whose tid we were given (lock.h). */
static __attribute__((noinline)) uint64_t self_slow(void)
{
	uint32_t ident;

	pthread_once(&fork_once, register_fork);
	if (!thr.head_known)
		probe_head();
	pid_t tid = mp_sys_gettid();
	(void)mp_sys_thread_ident(tid, &ident);
	thr.self = (uint64_t)ident << 32 | (uint32_t)tid;
	(void)pthread_setspecific(exit_key, (void *)1);
	return thr.self;
}

uint64_t mp__self(void)
{
	uint64_t s = thr.self;
	return __builtin_expect(s != 0, 1) ? s : self_slow();
}

pid_t mp__tid(void)
{
	return (pid_t)MP__TID(mp__self());
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
	thr.self = 0;
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
                             uint64_t self)
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
	atomic_store_explicit(&l->linker, self, memory_order_release);
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

/* The mproc lock behind a list entry of ours, or NULL for another kind
 * (a glibc robust mutex shares the list: see lock.h). */
static struct lock *entry_lock(void *entry, uint64_t self)
{
	struct lock *l = (struct lock *)((char *)entry -
	                                 __builtin_offsetof(struct lock, next));
	if (l->magic != LOCK_MAGIC && l->magic != RLOCK_MAGIC)
		return NULL;
	return atomic_load_explicit(&l->linker, memory_order_relaxed) == self
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
        struct mp_sys_robust_head *h, uint64_t self)
{
	void *e = entry_of(h->list);

	for (int n = 0; e && e != (void *)h && n < WALK_MAX; n++) {
		void *next = entry_of(*(void **)e);
		struct lock *l = entry_lock(e, self);
		if (l && mp__holder_of(atomic_load_explicit(&l->own,
		                       memory_order_acquire)) != self)
			unlink_node(h, l);
		e = next;
	}
}

/* After taking the word on a slow path: make the node ours if nobody
 * else's list has it.  A claim that is ours is in our list: `linker`
 * names one thread for good (lock.h), so a dead thread that had our tid
 * cannot pass for us. */
static inline void claim_node(struct mp_sys_robust_head *h, struct lock *l,
                              uint64_t self)
{
	uint64_t linker = atomic_load_explicit(&l->linker, memory_order_acquire);

	if (!h || linker == self)
		return;
	/* In another thread's list: its releaser has not unlinked it yet
	 * (a few stores away: wait a moment), or it is detached there. */
	for (int i = 0; linker != 0 && i < 16; i++) {
		mp__cpu_relax();
		linker = atomic_load_explicit(&l->linker, memory_order_acquire);
	}
	/* Still claimed: if that thread has ended (proven) its list died
	 * with it and the node is free to take; if it lives - or nobody can
	 * tell - we hold the lock unlinked (our waiters use the fallback). */
	if (linker != 0 && !mp__holder_gone(linker))
		return;
	link_node(h, l, self);
}

/* ---- waiting ------------------------------------------------------------- */

/* Is the holder of `own` value v one the kernel will report the death of?
 * Yes when the node is in that very thread's list (lock.h). */
static bool holder_is_robust(struct lock *l, uint64_t v)
{
	return robust_ok() &&
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
static int take_slow(struct lock *l, uint64_t self, int64_t deadline,
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

/* take_quick took a lock marked since: give the word back (the full
 * path then reports it). */
static void untake(struct lock *l)
{
	if (atomic_exchange_explicit(&l->own, 0, memory_order_release) &
	    FUTEX_WAITERS)
		mp_sys_futex_wake(mp__word_of(&l->own), INT32_MAX);
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
take_quick(struct lock *l, uint64_t self)
{
	uint64_t zero = 0;

	if (__builtin_expect(!self, 0) ||
	    atomic_load_explicit(&l->state, memory_order_relaxed) != LS_CONSISTENT ||
	    !atomic_compare_exchange_strong_explicit(&l->own, &zero,
	        self, memory_order_acquire, memory_order_relaxed))
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
link_quick(struct lock *l, uint64_t self, struct mp_sys_robust_head *h)
{
	if (!h)
		return 0;
	uint64_t linker = atomic_load_explicit(&l->linker, memory_order_acquire);
	if (linker == 0)
		link_node(h, l, self);
	else if (__builtin_expect(linker != self, 0))
		return 1;
	return 0;
}

/* The first attempt of the full paths (mp__lock_take, and take_timeout
 * for a thread's first lock): the fast path's, with calls allowed.  0
 * taken, 1 not (go to take_contended). */
static inline int take_fast(struct lock *l, uint64_t self,
                            struct mp_sys_robust_head *h)
{
	int t = take_quick(l, self);

	if (t == 2)
		untake(l);
	if (t != 1)
		return 1;
	if (link_quick(l, self, h))
		claim_node(h, l, self);
	return 0;
}

static __attribute__((noinline)) int take_contended(struct lock *l,
        uint64_t self, struct mp_sys_robust_head *h, int64_t deadline,
        bool try)
{
	int r = take_slow(l, self, deadline, try);

	if (r == 0 || r == -EOWNERDEAD) {
		bump_gen(l);
		claim_node(h, l, self);
	}
	if (r == -EOWNERDEAD)
		atomic_store_explicit(&l->state, LS_INCONSISTENT,
		                      memory_order_relaxed);
	return r;
}

int mp__lock_take(struct lock *l, int64_t deadline, bool try)
{
	uint64_t self = mp__self();
	struct mp_sys_robust_head *h = robust_head();
	int r = take_fast(l, self, h);

	return r != 1 ? r : take_contended(l, self, h, deadline, try);
}

/* mp__lock_take for a relative timeout, the deadline computed only when
 * the fast path fails (a valid timeout_ns is the caller's check). */
static inline __attribute__((always_inline)) int
take_timeout(struct lock *l, int64_t timeout_ns)
{
	uint64_t self = mp__self();
	struct mp_sys_robust_head *h = robust_head();
	int64_t deadline;
	int r = take_fast(l, self, h);

	if (r != 1)
		return r;
	mp__deadline(timeout_ns, &deadline);
	return take_contended(l, self, h, deadline, timeout_ns == 0);
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

static __attribute__((noinline)) int put_foreign(struct lock *l,
                                                 uint64_t self, uint64_t v)
{
	struct mp_sys_robust_head *h = robust_head();
	uint32_t st = atomic_load_explicit(&l->state, memory_order_relaxed);
	if (st == LS_INCONSISTENT)
		atomic_store_explicit(&l->state, st = LS_NOTRECOVERABLE,
		                      memory_order_relaxed);
	pending_set(h, l);
	/* Release: the critical section before the word says "free". */
	while (!atomic_compare_exchange_weak_explicit(&l->own, &v, 0,
	               memory_order_release, memory_order_relaxed)) {
		if (MP__TID(v) == 0) {
			v = 0; /* a racing release won: ours is a double one */
			break;
		}
	}
	if (v & FUTEX_WAITERS || st == LS_NOTRECOVERABLE)
		mp_sys_futex_wake(mp__word_of(&l->own),
		                  st == LS_NOTRECOVERABLE ? INT32_MAX : 1);
	pending_clear(h);
	if (h && !list_empty(h))
		sweep_detached(h, self);
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
int mp__lock_put(struct lock *l, uint64_t self)
{
	uint64_t v = atomic_load_explicit(&l->own, memory_order_relaxed);

	if (MP__TID(v) == 0)
		return -EPERM;
	if (mp__holder_of(v) != self)
		return put_foreign(l, self, v);
	/* Released without repair after an owner's death: POSIX makes such
	 * a lock unusable, so nobody builds on a half-updated state. */
	uint32_t st = atomic_load_explicit(&l->state, memory_order_relaxed);
	if (__builtin_expect(st == LS_INCONSISTENT, 0))
		atomic_store_explicit(&l->state, st = LS_NOTRECOVERABLE,
		                      memory_order_relaxed);
	bool linked = atomic_load_explicit(&l->linker, memory_order_relaxed)
	              == self;
	struct mp_sys_robust_head *h = robust_head();
	pending_set(h, l);
	/* Release: the critical section before the word says "free".  Ours,
	 * so only waiters changed it (adding FUTEX_WAITERS). */
	v = atomic_exchange_explicit(&l->own, 0, memory_order_release);
	if (linked)
		unlink_node(h, l);
	if (v & FUTEX_WAITERS || st == LS_NOTRECOVERABLE)
		mp_sys_futex_wake(mp__word_of(&l->own),
		                  st == LS_NOTRECOVERABLE ? INT32_MAX : 1);
	pending_clear(h);
	if (h && __builtin_expect(!list_empty(h), 0))
		sweep_detached(h, self);
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
		atomic_exchange_explicit(&l->own, 0, memory_order_release);
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
	if (MP__TID(atomic_load(&l->own)))
		return -EBUSY;
	uint64_t self = mp__self();
	uint64_t linker = atomic_load_explicit(&l->linker, memory_order_acquire);
	if (linker == self)
		unlink_node(robust_head(), l);
	else if (linker && !mp__holder_gone(linker))
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

static __attribute__((noinline)) int claim_slow(struct lock *l,
        uint64_t self, struct mp_sys_robust_head *h)
{
	claim_node(h, l, self);
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
        uint64_t self, struct mp_sys_robust_head *h)
{
	claim_node(h, l, self);
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
	uint64_t self = thr.self;
	struct mp_sys_robust_head *h = thr.head;
	bool rlock = magic == RLOCK_MAGIC;

	if (!l || !timeout_ok(timeout_ns))
		return -EINVAL;
	int t = take_quick(l, self);
	if (t != 1)
		return rlock ? rlock_acquire_slow(l, timeout_ns, t == 2)
		             : acquire_slow(l, timeout_ns, t == 2);
	if (link_quick(l, self, h))
		return rlock ? rlock_claim_slow(l, self, h)
		             : claim_slow(l, self, h);
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
	return mp__lock_put(l, mp__self());
}

static __attribute__((noinline)) int release_after(
        struct mp_sys_robust_head *h, uint64_t self)
{
	sweep_detached(h, self);
	return 0;
}

/* The uncontended release by the owner `self`: 0 done, 1 take the full
 * path (waiters, another holder or none, a lock to mark). */
static inline __attribute__((always_inline)) int
put_quick(struct lock *l, uint64_t self, struct mp_sys_robust_head *h)
{
	uint64_t mine = self;

	if (__builtin_expect(!self ||
	                     atomic_load_explicit(&l->state,
	                             memory_order_relaxed) != LS_CONSISTENT, 0))
		return 1;
	bool linked = atomic_load_explicit(&l->linker, memory_order_relaxed)
	              == self;
	/* Ours and nobody waiting: own self -> 0 (release, as in
	 * mp__lock_put).  (No plain load of the word first: a load just
	 * before the locked instruction on the same word cost ~1.5 ns.) */
	if (!atomic_compare_exchange_strong_explicit(&l->own, &mine, 0,
	        memory_order_release, memory_order_relaxed))
		return 1;
	if (linked)
		unlink_node(h, l);
	return 0;
}

int mp_lock_release(mp_lock_t *ul)
{
	struct lock *l = lock_of(ul, LOCK_MAGIC);
	uint64_t self = thr.self;
	struct mp_sys_robust_head *h = thr.head;

	if (!l)
		return -EINVAL;
	if (put_quick(l, self, h))
		return release_slow(l);
	if (__builtin_expect(h && !list_empty(h), 0))
		return release_after(h, self);
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
	return MP__TID(atomic_load(&l->own)) != 0;
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
	int r = mp__lock_put(l, mp__self());
	return r < 0 ? r : 0;
}

/* A thread whose identity is not cached yet (a new thread, or a fork
 * child: it owns nothing yet, but says so correctly). */
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
	uint64_t self = thr.self;
	struct mp_sys_robust_head *h = thr.head;

	if (!l)
		return -EINVAL;
	if (__builtin_expect(!self, 0))
		return rlock_release_full(l);
	uint64_t v = atomic_load_explicit(&l->own, memory_order_relaxed);
	if (mp__holder_of(v) != self || l->count == 0)
		return -EPERM;
	if (--l->count > 0)
		return (int)l->count;
	if (put_quick(l, self, h))
		return rlock_release_slow(l);
	if (__builtin_expect(h && !list_empty(h), 0))
		return release_after(h, self);
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
	*tid = (int)MP__TID(atomic_load(&l->own));
	*count = *tid ? (int)l->count : 0;
	return 0;
}
