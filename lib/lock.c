/*
 * lock.c - Lock and RLock on a futex word in the kernel's robust format,
 * linked into the owner thread's robust list (the one glibc registered):
 * the fast paths, release, and the API.  The thread's side (identity,
 * list, walks) is robust.c; the contended path, lock_wait.c.
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

#include "heap.h"
#include "peek.h"

#include <stdlib.h>
#include <unistd.h>

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
		mp__claim_node(h, l, self);
	return 0;
}

static __attribute__((noinline)) int take_contended(struct lock *l,
        uint64_t self, struct mp_sys_robust_head *h, int64_t deadline,
        bool try)
{
	int r = mp__lock_take_slow(l, self, deadline, try);

	if (r == 0 || r == -EOWNERDEAD) {
		bump_gen(l);
		mp__claim_node(h, l, self);
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
		mp__sweep_detached(h, self);
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
		mp__sweep_detached(h, self);
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
	if (l) {
		mp_lock_init(l);
		mp__heap_tag(l, MP__KIND_LOCK);
	}
	return l;
}

int mp_lock_free(mp_lock_t *l)
{
	int r = mp_lock_destroy(l);
	if (r < 0)
		return r;
	mp__heap_untag(l);
	return mp_heap_free(l);
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
	mp__claim_node(h, l, self);
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
	mp__claim_node(h, l, self);
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
	uint64_t self = mp__thr.self;
	struct mp_sys_robust_head *h = mp__thr.head;
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
	mp__sweep_detached(h, self);
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
	uint64_t self = mp__thr.self;
	struct mp_sys_robust_head *h = mp__thr.head;

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
	if (l) {
		mp_rlock_init(l);
		mp__heap_tag(l, MP__KIND_RLOCK);
	}
	return l;
}

int mp_rlock_free(mp_rlock_t *l)
{
	int r = mp_rlock_destroy(l);
	if (r < 0)
		return r;
	mp__heap_untag(l);
	return mp_heap_free(l);
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
	uint64_t self = mp__thr.self;
	struct mp_sys_robust_head *h = mp__thr.head;

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


/* ---- mptop (peek.h) ------------------------------------------------------ */

int mp__lock_peek(const void *copy, bool rlock, struct mp__peek_lock *out)
{
	const struct lock *l = copy;

	if (l->magic != (rlock ? RLOCK_MAGIC : LOCK_MAGIC))
		return -EINVAL;
	/* Relaxed: a private copy, nobody else writes it. */
	uint64_t own = atomic_load_explicit(&((struct lock *)l)->own,
	                                    memory_order_relaxed);
	*out = (struct mp__peek_lock){
		.tid = MP__TID(own),
		.ident = (uint32_t)(own >> 32),
		.waiters = (own & FUTEX_WAITERS) != 0,
		.owner_died = (own & FUTEX_OWNER_DIED) != 0,
		.state = atomic_load_explicit(&((struct lock *)l)->state,
		                              memory_order_relaxed),
		.count = rlock && MP__TID(own) ? l->count : 0,
		.spinners = atomic_load_explicit(&((struct lock *)l)->spinners,
		                                 memory_order_relaxed),
	};
	return 0;
}
