/*
 * lock.h - the layout of Lock and RLock, shared by lock.c, cond.c and
 * barrier.c.  Private.
 */
#ifndef MPROC_LIB_LOCK_H
#define MPROC_LIB_LOCK_H

#include "internal.h"

/*
 * The futex word (`word`), in the kernel's robust-futex format so that the
 * kernel itself can mark it when the owner dies:
 *
 *   bits 0-29  FUTEX_TID_MASK   the owner's thread id; 0 when unlocked
 *   bit 30     FUTEX_OWNER_DIED set by the kernel (or by a waiter that saw
 *                               the owner gone) with the tid cleared
 *   bit 31     FUTEX_WAITERS    somebody sleeps, or may: unlock must wake
 *
 * Transitions: 0 -> tid (acquire, CAS); tid -> tid|WAITERS (a waiter, CAS);
 * tid[|WAITERS] -> 0 (release, CAS; wake one if WAITERS was set);
 * tid[|WAITERS] -> OWNER_DIED[|WAITERS] (the kernel at the owner's death);
 * OWNER_DIED[|WAITERS] -> tid[|WAITERS] (the next acquirer: -EOWNERDEAD).
 *
 * The robust-list node (prev, next) sits 24 and 32 bytes after the word,
 * where glibc keeps it in pthread_mutex_t, so the lock can be an entry of
 * the list glibc registered for each thread (futex_offset -32, checked at
 * run time).  Its pointers are addresses in the linking thread's process;
 * only that thread reads or writes them.  `linker` is the tid of the thread
 * whose list holds the node (0: none): written by that thread only, with
 * release after the node's fields, read with acquire by the next owner.
 */
struct lock {
	_Atomic uint32_t word;
	uint32_t magic;
	_Atomic uint32_t state;   /* LS_* */
	_Atomic uint32_t spin;    /* adaptive spin estimate, ns */
	_Atomic int32_t linker;   /* tid whose robust list holds the node */
	uint32_t count;           /* RLock recursion count (owner only) */
	void *_Atomic prev;       /* robust-list node: offset 24 */
	void *_Atomic next;       /* offset 32 */
	_Atomic uint32_t gen;     /* acquisitions, mod 2^32 (spinners' hint) */
	_Atomic uint32_t spinners; /* threads in spin_for_free (a hint) */
	uint32_t reserved[4];
};

_Static_assert(sizeof(struct lock) == 64, "struct lock is 64 bytes");
_Static_assert(__builtin_offsetof(struct lock, next) == 32,
               "node.next is 32 bytes after the futex word");

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

/* This thread's id, cached (reset in a fork child). */
pid_t mp__tid(void);

/* Acquire (blocking to the deadline; try: once).  0, -EOWNERDEAD, or an
 * error.  Does not handle RLock recursion. */
int mp__lock_take(struct lock *l, int64_t deadline, bool try);
/* Release by `me`, owner or not.  0 or -EPERM (not locked). */
int mp__lock_put(struct lock *l, pid_t me);
/* Is the lock held by the calling thread? */
static inline bool mp__lock_mine(const struct lock *l)
{
	uint32_t w = atomic_load_explicit(&((struct lock *)l)->word,
	                                  memory_order_relaxed);
	return (w & FUTEX_TID_MASK) == (uint32_t)mp__tid();
}

#endif
