/*
 * lock.c - Lock and RLock on a futex word in the kernel's robust format,
 * linked into the owner thread's robust list (the one glibc registered).
 *
 * The robust-list protocol, as glibc follows it for its robust mutexes:
 *   acquire: list_op_pending = node; take the word; link the node at the
 *            head of the list; list_op_pending = NULL
 *   release: list_op_pending = node; unlink the node; release the word;
 *            list_op_pending = NULL
 * When a thread dies the kernel walks its list (and list_op_pending): each
 * word whose tid is the dead thread's gets FUTEX_OWNER_DIED and one waiter
 * is woken.  So a death at any instruction is seen: before the word is
 * taken the tid does not match (nothing happens), after it the node is in
 * the list or pending.
 *
 * A Lock may be released by a thread that does not own it.  That thread
 * cannot touch the owner's list, so the node stays there, "detached": the
 * owner unlinks it the next time it takes or releases an mproc lock
 * (sweep_detached), and until then new owners cannot link it.  Locks whose
 * holder has not linked the node - and all locks when glibc's list layout
 * is not the one we know - are waited on in slices, checking whether the
 * holder thread still lives (fallback_wait).
 */
#include "lock.h"

#include <pthread.h>
#include <stdlib.h>
#include <unistd.h>

/* ---- per-thread state ---------------------------------------------------- */

static _Thread_local pid_t t_tid;
static _Thread_local pid_t t_pid;
static _Thread_local struct mp_sys_robust_head *t_head;
static _Thread_local bool t_head_known;
/* The locks whose nodes this thread has linked (normally the ones it
 * holds): where detached nodes are found again. */
static _Thread_local struct lock **t_linked;
static _Thread_local size_t t_nlinked, t_caplinked;

static pthread_once_t fork_once = PTHREAD_ONCE_INIT;
/* 0: unknown, 1: glibc's layout matches ours, 2: it does not (or tests
 * asked for the fallback). */
static _Atomic int robust_mode;

static void lock_after_fork(void)
{
	/* glibc empties the child's robust list; the child holds nothing. */
	t_tid = 0;
	t_pid = 0;
	t_nlinked = 0;
}

static void register_fork(void)
{
	(void)pthread_atfork(NULL, NULL, lock_after_fork);
}

pid_t mp__tid(void)
{
	if (!t_tid) {
		pthread_once(&fork_once, register_fork);
		t_tid = mp_sys_gettid();
		t_pid = getpid();
	}
	return t_tid;
}

/* Tests: force (or stop forcing) the fallback for this process. */
void mp__lock_force_fallback(bool on);
void mp__lock_force_fallback(bool on)
{
	atomic_store(&robust_mode, on ? 2 : 0);
}

/* This thread's robust-list head when its layout is the one we know. */
static struct mp_sys_robust_head *robust_head(void)
{
	if (atomic_load_explicit(&robust_mode, memory_order_relaxed) == 2)
		return NULL;
	if (!t_head_known) {
		t_head = mp_sys_robust_head();
		t_head_known = true;
		if (!t_head || t_head->futex_offset !=
		    -(long)__builtin_offsetof(struct lock, next))
			atomic_store(&robust_mode, 2);
		else
			atomic_store(&robust_mode, 1);
	}
	return atomic_load_explicit(&robust_mode, memory_order_relaxed) == 1
	       ? t_head : NULL;
}

static void set_pending(struct mp_sys_robust_head *h, struct lock *l)
{
	if (h)
		h->list_op_pending = l ? (void *)&l->next : NULL;
}

/* ---- the node in the list ------------------------------------------------ */

/* The array dies with its thread: a key's destructor frees it. */
static pthread_key_t linked_key;
static pthread_once_t linked_key_once = PTHREAD_ONCE_INIT;
static bool linked_key_ok;

static void free_linked(void *v)
{
	free(v);
	t_linked = NULL;
	t_nlinked = t_caplinked = 0;
}

static void make_linked_key(void)
{
	linked_key_ok = pthread_key_create(&linked_key, free_linked) == 0;
}

static bool track(struct lock *l)
{
	if (t_nlinked == t_caplinked) {
		size_t cap = t_caplinked ? t_caplinked * 2 : 8;
		pthread_once(&linked_key_once, make_linked_key);
		if (!linked_key_ok)
			return false;
		struct lock **v = realloc(t_linked, cap * sizeof(*v));
		if (!v)
			return false;
		t_linked = v;
		t_caplinked = cap;
		pthread_setspecific(linked_key, v);
	}
	t_linked[t_nlinked++] = l;
	return true;
}

static void untrack(struct lock *l)
{
	for (size_t i = 0; i < t_nlinked; i++) {
		if (t_linked[i] == l) {
			t_linked[i] = t_linked[--t_nlinked];
			return;
		}
	}
}

/* Link l at the head of h's list, exactly as glibc's ENQUEUE_MUTEX. */
static void link_node(struct mp_sys_robust_head *h, struct lock *l, pid_t me)
{
	if (!track(l))
		return; /* out of memory: hold it unlinked (fallback waits) */
	void *first = (void *)((uintptr_t)h->list & ~(uintptr_t)1);
	void **first_prev = (void **)((char *)first - sizeof(void *));
	atomic_store_explicit(&l->next, h->list, memory_order_relaxed);
	atomic_store_explicit(&l->prev, (void *)h, memory_order_relaxed);
	*first_prev = (void *)&l->next;
	/* The entry is complete before the kernel can reach it. */
	atomic_signal_fence(memory_order_seq_cst);
	h->list = (void *)&l->next;
	/* Release: the node's fields before the claim on it. */
	atomic_store_explicit(&l->linker, me, memory_order_release);
}

/* Unlink l from the list it is in (ours), as glibc's DEQUEUE_MUTEX. */
static void unlink_node(struct lock *l)
{
	void *next = atomic_load_explicit(&l->next, memory_order_relaxed);
	void *prev = atomic_load_explicit(&l->prev, memory_order_relaxed);
	void **next_prev = (void **)((char *)((uintptr_t)next & ~(uintptr_t)1)
	                             - sizeof(void *));
	void **prev_next = (void **)((uintptr_t)prev & ~(uintptr_t)1);
	*next_prev = prev;
	*prev_next = next;
	/* Out of the list before the node is cleared (the kernel reads it). */
	atomic_signal_fence(memory_order_seq_cst);
	atomic_store_explicit(&l->prev, NULL, memory_order_relaxed);
	atomic_store_explicit(&l->next, NULL, memory_order_relaxed);
	untrack(l);
	/* Release: done with the node before another thread may link it. */
	atomic_store_explicit(&l->linker, 0, memory_order_release);
}

/* Unlink our nodes of locks that others released for us (see top). */
static void sweep_detached(pid_t me)
{
	for (size_t i = 0; i < t_nlinked;) {
		struct lock *l = t_linked[i];
		uint32_t w = atomic_load_explicit(&l->word,
		                                  memory_order_acquire);
		if ((w & FUTEX_TID_MASK) != (uint32_t)me)
			unlink_node(l); /* swaps the last entry into i */
		else
			i++;
	}
}

/* After taking the word: make the node ours if nobody else's list has it. */
static void claim_node(struct mp_sys_robust_head *h, struct lock *l, pid_t me)
{
	int32_t linker = atomic_load_explicit(&l->linker, memory_order_acquire);

	atomic_store_explicit(&l->owner_pid, t_pid, memory_order_relaxed);
	if (!h || linker == me)
		return;
	if (linker != 0) {
		/* Detached in another thread's list.  If that thread is dead
		 * its list died with it and the node is free to take. */
		if (mp_sys_thread_alive(linker) != 0)
			return;
	}
	link_node(h, l, me);
}

/* ---- waiting ------------------------------------------------------------- */

/* Is the holder `tid` one the kernel will report the death of? */
static bool holder_is_robust(struct lock *l, uint32_t tid)
{
	return atomic_load_explicit(&robust_mode, memory_order_relaxed) == 1 &&
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
 * The contended path.  `slept` makes the new owner set FUTEX_WAITERS: other
 * sleepers may remain, and only a set bit makes release wake them.
 */
static int take_slow(struct lock *l, pid_t me, int64_t deadline, bool try)
{
	bool slept = false;
	struct timespec ts;

	MP__SPIN_UNTIL(&l->spin, (atomic_load_explicit(&l->word,
	                          memory_order_relaxed) & FUTEX_TID_MASK) == 0);
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

int mp__lock_take(struct lock *l, int64_t deadline, bool try)
{
	pid_t me = mp__tid();
	struct mp_sys_robust_head *h = robust_head();
	uint32_t zero = 0;
	int r = 0;

	if (t_nlinked)
		sweep_detached(me);
	if (atomic_load_explicit(&l->state, memory_order_relaxed) ==
	    LS_NOTRECOVERABLE)
		return -ENOTRECOVERABLE;
	set_pending(h, l);
	if (!atomic_compare_exchange_strong_explicit(&l->word, &zero,
	        (uint32_t)me, memory_order_acquire, memory_order_relaxed))
		r = take_slow(l, me, deadline, try);
	if (r == 0 || r == -EOWNERDEAD)
		claim_node(h, l, me);
	set_pending(h, NULL);
	if (r == -EOWNERDEAD)
		atomic_store_explicit(&l->state, LS_INCONSISTENT,
		                      memory_order_relaxed);
	return r;
}

int mp__lock_put(struct lock *l, pid_t me)
{
	struct mp_sys_robust_head *h = robust_head();
	uint32_t v = atomic_load_explicit(&l->word, memory_order_relaxed);

	if ((v & FUTEX_TID_MASK) == 0)
		return -EPERM;
	bool own = (v & FUTEX_TID_MASK) == (uint32_t)me;
	if (own)
		set_pending(h, l);
	if (own && atomic_load_explicit(&l->linker, memory_order_relaxed) == me)
		unlink_node(l);
	/* Released without repair after an owner's death: POSIX makes such
	 * a lock unusable, so nobody builds on a half-updated state. */
	uint32_t st = atomic_load_explicit(&l->state, memory_order_relaxed);
	if (st == LS_INCONSISTENT)
		atomic_store_explicit(&l->state, st = LS_NOTRECOVERABLE,
		                      memory_order_relaxed);
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
	if (own)
		set_pending(h, NULL);
	else if (t_nlinked)
		sweep_detached(me);
	return v ? 0 : -EPERM;
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
		unlink_node(l);
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

int mp_lock_acquire(mp_lock_t *ul, int64_t timeout_ns)
{
	struct lock *l = lock_of(ul, LOCK_MAGIC);
	int64_t deadline;

	if (!l || mp__deadline(timeout_ns, &deadline) < 0)
		return -EINVAL;
	return mp__lock_take(l, deadline, timeout_ns == 0);
}

int mp_lock_release(mp_lock_t *ul)
{
	struct lock *l = lock_of(ul, LOCK_MAGIC);
	return l ? mp__lock_put(l, mp__tid()) : -EINVAL;
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
	struct lock *l = lock_of(ul, RLOCK_MAGIC);
	int64_t deadline;

	if (!l || mp__deadline(timeout_ns, &deadline) < 0)
		return -EINVAL;
	if (mp__lock_mine(l)) {
		if (l->count >= INT32_MAX)
			return -EOVERFLOW;
		return (int)++l->count;
	}
	int r = mp__lock_take(l, deadline, timeout_ns == 0);
	if (r == 0 || r == -EOWNERDEAD)
		l->count = 1;
	return r == 0 ? 1 : r;
}

int mp_rlock_release(mp_rlock_t *ul)
{
	struct lock *l = lock_of(ul, RLOCK_MAGIC);

	if (!l)
		return -EINVAL;
	if (!mp__lock_mine(l) || l->count == 0)
		return -EPERM;
	if (--l->count > 0)
		return (int)l->count;
	int r = mp__lock_put(l, mp__tid());
	return r < 0 ? r : 0;
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
