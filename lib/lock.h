/*
 * lock.h - the layout of Lock and RLock, shared by lock.c, cond.c and
 * barrier.c.  Private.
 */
#ifndef MPROC_LIB_LOCK_H
#define MPROC_LIB_LOCK_H

#include "internal.h"

/*
 * Holders.  A lock word that others may have to judge - a Lock's, a
 * queue side's - is the low half of a 64-bit `own` word whose high half
 * names the holder for good: the holder's ident (sys/thread.c: its pidfs
 * inode, unique within a boot), stored by the same compare-and-swap that
 * takes the lock.  A waiter that reads `own` therefore reads the holder's
 * (tid, ident) in one consistent step: no window in which the word names
 * a holder whose identity is not yet written.
 *
 * Dead only on proof (DESIGN.md rule 11): a holder is declared dead only
 * when the kernel says so - its robust list marked the word
 * FUTEX_OWNER_DIED, or mp_sys_thread_gone() proves that (tid, ident) has
 * ended - and the mark is a compare-and-swap from the very `own` judged,
 * so it cannot land on a later holder (a later holder is another (tid,
 * ident), even with a recycled tid).  Slowness proves nothing: a holder
 * stopped, traced or starved keeps the lock for as long as it takes.
 */
#define MP__TID(v) ((uint32_t)(v) & FUTEX_TID_MASK)

/* The holder named by an `own` value: tid and ident, without the flags. */
static inline uint64_t mp__holder_of(uint64_t own)
{
	return own & ~(uint64_t)(FUTEX_WAITERS | FUTEX_OWNER_DIED);
}

/* The futex word: the low half of `own` (little-endian). */
static inline _Atomic uint32_t *mp__word_of(_Atomic uint64_t *own)
{
	return (_Atomic uint32_t *)(void *)own;
}

/* Is the holder (a value of mp__holder_of) proven dead? */
static inline bool mp__holder_gone(uint64_t holder)
{
	return mp_sys_thread_gone((pid_t)MP__TID(holder),
	                          (uint32_t)(holder >> 32)) == 1;
}

/*
 * Sleep while `own` is v (a holder the kernel will not report), for one
 * slice at most; then mark the holder's death if it is proven (lock.c).
 * 0: look again; -ETIMEDOUT at the deadline; -EINTR.
 */
int mp__holder_wait(_Atomic uint64_t *own, uint64_t v, int64_t deadline);

/* `own` marked as the kernel marks a dead owner's robust word: no tid,
 * FUTEX_OWNER_DIED, FUTEX_WAITERS kept. */
static inline uint64_t mp__owner_died(uint64_t own)
{
	return (own & ~(uint64_t)FUTEX_TID_MASK) | FUTEX_OWNER_DIED;
}

/*
 * The futex word, `own`'s low half, in the kernel's robust-futex format so
 * that the kernel itself can mark it when the owner dies:
 *
 *   bits 0-29  FUTEX_TID_MASK   the owner's thread id; 0 when unlocked
 *   bit 30     FUTEX_OWNER_DIED set by the kernel (or by a waiter with
 *                               proof of the owner's death), tid cleared
 *   bit 31     FUTEX_WAITERS    somebody sleeps, or may: unlock must wake
 *   bits 32-63 the owner's ident (see Holders); the kernel never writes it
 *
 * Transitions: 0 -> self (acquire, CAS); self -> self|WAITERS (a waiter,
 * CAS); self[|WAITERS] -> 0 (release, all 64 bits; wake one if WAITERS was
 * set); tid[|WAITERS] -> OWNER_DIED[|WAITERS] (the kernel at the owner's
 * death, or a waiter with proof); OWNER_DIED[|WAITERS] -> self[|WAITERS]
 * (the next acquirer: -EOWNERDEAD).  `self` is the taker's mp__self().
 *
 * The robust-list node (prev, next) sits 24 and 32 bytes after the word,
 * where glibc keeps it in pthread_mutex_t, so the lock can be an entry of
 * the list glibc registered for each thread (futex_offset -32, checked at
 * run time).  Its pointers are addresses in the linking thread's process;
 * only that thread reads or writes them.  `linker` is the mp__self() of the
 * thread whose list holds the node (0: none): written by that thread only,
 * with release after the node's fields, read with acquire by the next
 * owner.  Because it names the thread for good, a node claimed by a dead
 * thread whose tid was since given to us is never taken for ours.
 *
 * Walking a robust list we meet glibc's mutexes too: `magic` sits where
 * their __owner does (a tid, below PID_MAX_LIMIT; never our magic) and
 * `linker` on __kind, all inside their 40 bytes.
 */
struct lock {
	_Atomic uint64_t own;     /* the futex word | holder's ident << 32 */
	uint32_t magic;
	_Atomic uint32_t state;   /* LS_* */
	_Atomic uint64_t linker;  /* mp__self() whose robust list holds the node */
	void *_Atomic prev;       /* robust-list node: offset 24 */
	void *_Atomic next;       /* offset 32 */
	_Atomic uint32_t spin;    /* adaptive spin estimate, ns */
	uint32_t count;           /* RLock recursion count (owner only) */
	_Atomic uint32_t gen;     /* acquisitions, mod 2^32 (spinners' hint) */
	_Atomic uint32_t spinners; /* threads in spin_for_free (a hint) */
	uint32_t reserved[2];
};

_Static_assert(sizeof(struct lock) == 64, "struct lock is 64 bytes");
_Static_assert(__builtin_offsetof(struct lock, next) == 32,
               "node.next is 32 bytes after the futex word");
_Static_assert(__builtin_offsetof(struct lock, magic) == 8 &&
               __builtin_offsetof(struct lock, linker) == 16,
               "magic and linker within a glibc mutex's 40 bytes");
_Static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__,
               "the futex word is the low half of `own`");

#define LOCK_MAGIC  0x6d706c6bu /* "mplk" */
#define RLOCK_MAGIC 0x6d70726cu /* "mprl" */

#define LS_CONSISTENT     0u
#define LS_INCONSISTENT   1u /* an owner died; the new one has not repaired */
#define LS_NOTRECOVERABLE 2u

static inline struct lock *lock_of(const void *l, uint32_t magic)
{
	struct lock *k = (struct lock *)l;
	return mp__aligned(l) && k->magic == magic ? k : NULL;
}

/* ---- the calling thread (robust.c) ---------------------------------------- */

struct mp__thread_state {
	uint64_t self;      /* tid | ident << 32; 0: not yet known (new
	                     * thread, or fork child) */
	bool head_known;
	/* glibc's head when nodes can go in its list (mp__robust_ok), else
	 * NULL */
	struct mp_sys_robust_head *head;
};
extern _Thread_local struct mp__thread_state mp__thr
	__attribute__((tls_model("initial-exec")));

/* mp__self() without a call once it is known (every call but a thread's
 * first). */
static inline uint64_t mp__self_fast(void)
{
	uint64_t s = mp__thr.self;
	return __builtin_expect(s != 0, 1) ? s : mp__self();
}

/* Learn this thread's robust head (and whether our nodes fit its list). */
void mp__probe_head(void);
/* Can nodes be linked into glibc's lists in this process? */
bool mp__robust_ok(void);

/* This thread's robust-list head when its layout is the one we know. */
static inline struct mp_sys_robust_head *robust_head(void)
{
	if (__builtin_expect(!mp__thr.head_known, 0))
		mp__probe_head();
	return mp__thr.head;
}

/* ---- the node in the list -------------------------------------------------- */

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

static inline bool list_empty(const struct mp_sys_robust_head *h)
{
	return entry_of(h->list) == (void *)h;
}

/* Unlink our nodes of locks that others released for us (robust.c). */
void mp__sweep_detached(struct mp_sys_robust_head *h, uint64_t self);
/* After taking the word on a slow path: make the node ours if nobody
 * else's list has it (robust.c). */
void mp__claim_node(struct mp_sys_robust_head *h, struct lock *l,
                    uint64_t self);

/* ---- taking it ------------------------------------------------------------- */

/* After a take: a plain increment, as only the owner writes gen - and
 * only while somebody spins: a store before the release's locked
 * instruction is waited for by it, a load is not. */
static inline void bump_gen(struct lock *l)
{
	if (atomic_load_explicit(&l->spinners, memory_order_relaxed))
		atomic_store_explicit(&l->gen, atomic_load_explicit(&l->gen,
		        memory_order_relaxed) + 1, memory_order_relaxed);
}

/* The contended path, from the first failed CAS (lock_wait.c).  0,
 * -EOWNERDEAD, -ENOTRECOVERABLE, -EAGAIN (try), -ETIMEDOUT, -EINTR. */
int mp__lock_take_slow(struct lock *l, uint64_t self, int64_t deadline,
                       bool try);

/* Acquire (blocking to the deadline; try: once).  0, -EOWNERDEAD, or an
 * error.  Does not handle RLock recursion. */
int mp__lock_take(struct lock *l, int64_t deadline, bool try);
/* Release by `self` (mp__self()), owner or not.  0 or -EPERM (not
 * locked). */
int mp__lock_put(struct lock *l, uint64_t self);
/* Is the lock held by the calling thread? */
static inline bool mp__lock_mine(const struct lock *l)
{
	uint64_t v = atomic_load_explicit(&((struct lock *)l)->own,
	                                  memory_order_relaxed);
	return mp__holder_of(v) == mp__self();
}

#endif
