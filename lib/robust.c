/*
 * robust.c - the per-thread side of Lock and RLock: who the calling thread
 * is (its identity, lock.h), the robust-futex list glibc registered for it
 * and whether our nodes fit that list, and the walks of the list (nodes
 * left there by foreign releases, nodes claimed by another thread).  The
 * inline node operations the fast paths use are in lock.h.
 */
#include "lock.h"

#include <pthread.h>

/*
 * initial-exec: one %fs-relative access, where the shared library's
 * default model would call __tls_get_addr in every function of the fast
 * path.  The struct is small enough for the static TLS that glibc keeps
 * spare for libraries loaded with dlopen.
 */
_Thread_local struct mp__thread_state mp__thr
	__attribute__((tls_model("initial-exec")));

static pthread_once_t fork_once = PTHREAD_ONCE_INIT;
/* Does glibc's robust-list layout match ours?  0: not known yet, 1: yes,
 * 2: no.  Per process (every thread's head has the same layout). */
static _Atomic int layout;
/* Tests: pretend it does not. */
static _Atomic bool forced_fallback;

MP_SYS_FORK_PATH
static void lock_after_fork(void)
{
	/* glibc empties the child's robust list (the head stays where it
	 * was); the child holds nothing, and is another thread. */
	mp__thr.self = 0;
}

/*
 * At thread exit: unlink the nodes others released for us (lock.c).  Left
 * in the dying list, they would stay claimed by us until the next owner
 * finds out we are gone.  (The kernel then walks what remains: locks we
 * still hold.)
 */
static pthread_key_t exit_key;

static void at_thread_exit(void *arg)
{
	(void)arg;
	if (mp__thr.self && mp__thr.head)
		mp__sweep_detached(mp__thr.head, mp__thr.self);
}

static void register_fork(void)
{
	(void)pthread_atfork(NULL, NULL, lock_after_fork);
	(void)pthread_key_create(&exit_key, at_thread_exit);
}

/* Also learns the robust head: the fast paths take a known self to mean
 * a known head, and read mp__thr.head unchecked.  Without an ident (kernels
 * before 6.9, no descriptor left) the tid alone names us: a waiter then
 * cannot tell us from a dead thread whose tid we were given (lock.h). */
MP_SYS_FORK_PATH /* every new child's first lock or queue call */
static __attribute__((noinline)) uint64_t self_slow(void)
{
	uint32_t ident;

	pthread_once(&fork_once, register_fork);
	if (!mp__thr.head_known)
		mp__probe_head();
	pid_t tid = mp_sys_gettid();
	(void)mp_sys_thread_ident(tid, &ident);
	mp__thr.self = (uint64_t)ident << 32 | (uint32_t)tid;
	(void)pthread_setspecific(exit_key, (void *)1);
	return mp__thr.self;
}

MP_SYS_FORK_PATH
uint64_t mp__self(void)
{
	uint64_t s = mp__thr.self;
	return __builtin_expect(s != 0, 1) ? s : self_slow();
}

pid_t mp__tid(void)
{
	return (pid_t)MP__TID(mp__self());
}

bool mp__robust_ok(void)
{
	return atomic_load_explicit(&layout, memory_order_relaxed) == 1 &&
	       !atomic_load_explicit(&forced_fallback, memory_order_relaxed);
}

/* Tests: force (or stop forcing) the fallback, for this process's later
 * threads and children and for the calling thread (other threads keep
 * what they found: the fast path reads only mp__thr.head). */
void mp__lock_force_fallback(bool on);
void mp__lock_force_fallback(bool on)
{
	atomic_store(&forced_fallback, on);
	mp__thr.head_known = false;
	mp__thr.self = 0;
}

__attribute__((noinline)) void mp__probe_head(void)
{
	struct mp_sys_robust_head *h = mp_sys_robust_head();
	bool ok = h && h->futex_offset ==
	          -(long)__builtin_offsetof(struct lock, next);

	atomic_store_explicit(&layout, ok ? 1 : 2, memory_order_relaxed);
	mp__thr.head = mp__robust_ok() ? h : NULL;
	mp__thr.head_known = true;
}

/* ---- walks of our list --------------------------------------------------- */

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

/* Walks of our list are bounded, and stop at NULL, as the kernel's walk
 * does: a lock whose memory was rewritten while linked must not take us
 * along. */
#define WALK_MAX 2048

/* Unlink our nodes of locks that others released for us (lock.c): walk
 * our list, which holds only what we linked and glibc's mutexes. */
__attribute__((noinline)) void mp__sweep_detached(
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
void mp__claim_node(struct mp_sys_robust_head *h, struct lock *l,
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
