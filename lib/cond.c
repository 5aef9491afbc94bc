/*
 * cond.c - Condition: a futex sequence word plus counted wake-up tokens.
 *
 * `seq` is the futex waiters sleep on; every notify that wakes somebody
 * bumps it.  `wt` packs three counts (21 bits each):
 *   W  registered waiters
 *   T  tokens: wake-ups granted to waiters but not yet taken
 *   F  "fresh" waiters, registered since the last notify that granted any
 * A waiter registers (W+1, F+1) while holding the lock and remembers seq.
 * notify(n), also under the lock, grants k = min(n, W - T) tokens and makes
 * every current waiter eligible (T+k, F=0, one CAS), bumps seq and wakes k
 * sleepers.  A waiter returns as notified only by taking a token (W-1, T-1
 * in one CAS), so exactly the granted number return however wake-ups and
 * the race between releasing the lock and sleeping interleave: no lost
 * wake-up, no herd.
 *
 * Eligibility: a waiter may take a token only once seq has moved since it
 * registered.  Without this, a thread that starts waiting just after a
 * notify could take the token meant for one that was waiting before it
 * (still on its way out of the futex), which would then miss the notify.
 * Since registration and notify both hold the lock, "seq moved" means
 * exactly "a notify came after I registered", and the tokens outstanding
 * are never more than the eligible waiters (T <= W - F).
 *
 * Ordering: notify adds tokens, then bumps seq with release; a waiter loads
 * seq with acquire *before* trying for a token.  Either it sees the tokens,
 * or it read the old seq and its futex wait fails at once.
 *
 * A waiter that times out deregisters under the lock: a fresh one leaves
 * (W-1, F-1); an eligible one takes a token if one is reserved for it
 * (T >= W - F: every eligible waiter has one) and reports being notified.
 * A notifier killed between its CAS and the seq bump leaves F = 0 with seq
 * unmoved: the arithmetic below never underflows, and the next notify
 * moves seq again.
 */
#include "lock.h"

#include <stddef.h>

struct cond {
	uint32_t magic;
	uint32_t rlock;          /* the lock is an RLock */
	int64_t lock_off;        /* lock - condition, in bytes */
	_Atomic uint32_t seq;
	_Atomic uint32_t spin;
	_Atomic uint64_t wt;     /* W | T << 21 | F << 42, see the top */
	_Atomic uint32_t sleepers; /* waiters in (or entering) futex_wait */
	uint8_t reserved[28];
	struct lock own;         /* the condition's RLock when none given */
};

_Static_assert(sizeof(struct cond) == sizeof(mp_cond_t), "cond size");

#define COND_MAGIC 0x6d70636eu /* "mpcn" */

/* The fields of wt (see the top). */
#define WT_BITS  21
#define WT_MAX   ((1u << WT_BITS) - 1)
#define WT_W(v)  ((uint32_t)(v) & WT_MAX)
#define WT_T(v)  ((uint32_t)((v) >> WT_BITS) & WT_MAX)
#define WT_F(v)  ((uint32_t)((v) >> (2 * WT_BITS)) & WT_MAX)
#define ONE_W    ((uint64_t)1)
#define ONE_T    ((uint64_t)1 << WT_BITS)
#define ONE_F    ((uint64_t)1 << (2 * WT_BITS))

static struct cond *cond_of(const mp_cond_t *uc)
{
	struct cond *c = (struct cond *)uc;
	return mp__aligned(uc) && c->magic == COND_MAGIC ? c : NULL;
}

static struct lock *cond_lock(struct cond *c)
{
	return (struct lock *)((char *)c + c->lock_off);
}

int mp_cond_init(mp_cond_t *uc, void *lock, bool rlock)
{
	struct cond *c = (struct cond *)uc;

	if (!mp__aligned(uc))
		return -EINVAL;
	if (lock && !lock_of(lock, rlock ? RLOCK_MAGIC : LOCK_MAGIC))
		return -EINVAL;
	memset(c, 0, sizeof(*c));
	if (!lock) {
		mp_rlock_init((mp_rlock_t *)&c->own);
		lock = &c->own;
		rlock = true;
	}
	c->lock_off = (char *)lock - (char *)c;
	c->rlock = rlock;
	c->magic = COND_MAGIC;
	return 0;
}

int mp_cond_destroy(mp_cond_t *uc)
{
	struct cond *c = cond_of(uc);

	if (!c)
		return -EINVAL;
	if (WT_W(atomic_load(&c->wt)))
		return -EBUSY;
	if (cond_lock(c) == &c->own) {
		int r = mp_rlock_destroy((mp_rlock_t *)&c->own);
		if (r < 0)
			return r;
	}
	c->magic = 0;
	return 0;
}

mp_cond_t *mp_cond_new(void *lock, bool rlock, int *err)
{
	/* The lock is found by its offset from the condition: a lock outside
	 * the heap would be at another place in every other process. */
	if (lock && !mp_heap_contains(lock)) {
		if (err)
			*err = -EINVAL;
		return NULL;
	}
	mp_cond_t *c = mp_heap_alloc(sizeof(*c), err);
	if (!c)
		return NULL;
	int r = mp_cond_init(c, lock, rlock);
	if (r < 0) {
		mp_heap_free(c);
		if (err)
			*err = r;
		return NULL;
	}
	return c;
}

int mp_cond_free(mp_cond_t *c)
{
	int r = mp_cond_destroy(c);
	return r < 0 ? r : mp_heap_free(c);
}

void *mp_cond_lock(mp_cond_t *uc)
{
	struct cond *c = cond_of(uc);
	return c ? cond_lock(c) : NULL;
}

int mp_cond_acquire(mp_cond_t *uc, int64_t timeout_ns)
{
	struct cond *c = cond_of(uc);
	if (!c)
		return -EINVAL;
	return c->rlock ? mp_rlock_acquire((mp_rlock_t *)cond_lock(c), timeout_ns)
	                : mp_lock_acquire((mp_lock_t *)cond_lock(c), timeout_ns);
}

int mp_cond_release(mp_cond_t *uc)
{
	struct cond *c = cond_of(uc);
	if (!c)
		return -EINVAL;
	return c->rlock ? mp_rlock_release((mp_rlock_t *)cond_lock(c))
	                : mp_lock_release((mp_lock_t *)cond_lock(c));
}

static bool take_token(struct cond *c)
{
	uint64_t v = atomic_load_explicit(&c->wt, memory_order_relaxed);

	while (WT_T(v) > 0 && WT_W(v) > 0) {
		if (atomic_compare_exchange_weak_explicit(&c->wt, &v,
		        v - ONE_W - ONE_T, memory_order_acquire,
		        memory_order_relaxed))
			return true;
	}
	return false;
}

/* Sleep until a token is ours (1), the deadline (0) or a signal (-EINTR,
 * in an interruptible thread).  s0: seq when we registered; only a later
 * notify's tokens may be ours. */
static int await_token(struct cond *c, uint32_t s0, int64_t deadline,
                       bool try)
{
	struct timespec ts;

	for (;;) {
		uint32_t s = atomic_load_explicit(&c->seq, memory_order_acquire);
		if (s != s0 && take_token(c))
			return 1;
		if (try)
			return 0;
		if (MP__SPIN_UNTIL(&c->spin, atomic_load_explicit(&c->seq,
		                   memory_order_acquire) != s))
			continue;
		/* Counted before the futex reads seq, both sequentially
		 * consistent, against notify's seq bump then count read: one
		 * of the two sees the other (no wake-up lost), and a notify
		 * whose waiters all spin makes no system call. */
		atomic_fetch_add(&c->sleepers, 1);
		int r = mp_sys_futex_wait(&c->seq, s,
		                          mp__deadline_ts(deadline, &ts));
		atomic_fetch_sub(&c->sleepers, 1);
		if (r == -ETIMEDOUT || r == -EINTR) {
			if (atomic_load_explicit(&c->seq, memory_order_acquire)
			    != s0 && take_token(c))
				return 1;
			return r == -EINTR ? r : 0;
		}
	}
}

/* After a wait that got no token: leave, or take the token reserved for
 * us (see the top).  Called with the lock held, except after
 * -ENOTRECOVERABLE. */
static bool deregister(struct cond *c, uint32_t s0)
{
	uint64_t v = atomic_load_explicit(&c->wt, memory_order_relaxed), nv;
	bool fresh = atomic_load_explicit(&c->seq, memory_order_relaxed) == s0;
	bool ours;

	do {
		uint32_t w = WT_W(v), t = WT_T(v), f = WT_F(v);
		if (w == 0)
			return false; /* only after a death broke the counts */
		ours = false;
		nv = v - ONE_W;
		if (fresh && f > 0)
			nv -= ONE_F;
		else if (t > 0 && t >= w - f)
			ours = true, nv -= ONE_T;
	} while (!atomic_compare_exchange_weak_explicit(&c->wt, &v, nv,
	                 memory_order_acquire, memory_order_relaxed));
	return ours;
}

/* Count ourselves in (lock held); returns seq at registration. */
static int enlist(struct cond *c, uint32_t *s0)
{
	uint64_t v = atomic_load_explicit(&c->wt, memory_order_relaxed);

	if (WT_W(v) == WT_MAX)
		return -EOVERFLOW;
	*s0 = atomic_load_explicit(&c->seq, memory_order_relaxed);
	/* W grows only under the lock, so the check above still holds. */
	atomic_fetch_add_explicit(&c->wt, ONE_W + ONE_F, memory_order_relaxed);
	return 0;
}

int mp_cond_wait(mp_cond_t *uc, int64_t timeout_ns)
{
	struct cond *c = cond_of(uc);
	int64_t deadline;
	uint32_t s0;

	if (!c || mp__deadline(timeout_ns, &deadline) < 0)
		return -EINVAL;
	struct lock *l = cond_lock(c);
	if (!mp__lock_mine(l))
		return -EPERM;
	uint64_t me = mp__self();
	uint32_t saved = l->count;
	int r = enlist(c, &s0);
	if (r < 0)
		return r;

	l->count = 0;
	mp__lock_put(l, me);
	int got = await_token(c, s0, deadline, timeout_ns == 0);
	bool notified = got == 1;
	/* Held again on return, whatever happened - a signal included, as
	 * Python's wait and pthread_cond_wait do. */
	bool intr = mp_sys_set_interruptible(false);
	r = mp__lock_take(l, MP__NO_DEADLINE, false);
	mp_sys_set_interruptible(intr);
	if (r == -ENOTRECOVERABLE) {
		if (!notified)
			deregister(c, s0);
		return r;
	}
	l->count = c->rlock ? saved : 0;
	if (!notified)
		notified = deregister(c, s0);
	if (r < 0)
		return r; /* -EOWNERDEAD: held, to be repaired */
	if (notified)
		return 0; /* a notify that came with the signal is not lost */
	return got < 0 ? got : timeout_ns == 0 ? -EAGAIN : -ETIMEDOUT;
}

int mp_cond_wait_for(mp_cond_t *uc, mp_pred_t pred, void *arg,
                     int64_t timeout_ns)
{
	int64_t deadline;

	struct cond *c = cond_of(uc);

	if (!c || !pred || mp__deadline(timeout_ns, &deadline) < 0)
		return -EINVAL;
	/* Checked here too: pred may already hold, and it must be read under
	 * the lock. */
	if (!mp__lock_mine(cond_lock(c)))
		return -EPERM;
	while (!pred(arg)) {
		int64_t left = MP_FOREVER;
		if (deadline != MP__NO_DEADLINE) {
			left = deadline - mp_sys_now_ns();
			if (left < 0)
				left = 0;
		}
		int r = mp_cond_wait(uc, left);
		if (r == -ETIMEDOUT || r == -EAGAIN)
			return pred(arg) ? 1 : 0;
		if (r < 0)
			return r;
	}
	return 1;
}

int mp_cond_notify(mp_cond_t *uc, int n)
{
	struct cond *c = cond_of(uc);

	if (!c || n < 1)
		return -EINVAL;
	if (!mp__lock_mine(cond_lock(c)))
		return -EPERM;
	uint64_t v = atomic_load_explicit(&c->wt, memory_order_relaxed), nv;
	uint32_t k;
	do {
		/* Takers lower W and T together, so W - T is stable here. */
		uint32_t w = WT_W(v), t = WT_T(v);
		uint32_t free_waiters = w > t ? w - t : 0;
		k = (uint32_t)n < free_waiters ? (uint32_t)n : free_waiters;
		if (k == 0)
			return 0;
		/* T + k, and F = 0: every waiter is now eligible. */
		nv = (v & ~((uint64_t)WT_MAX << (2 * WT_BITS))) + k * ONE_T;
	} while (!atomic_compare_exchange_weak_explicit(&c->wt, &v, nv,
	                 memory_order_relaxed, memory_order_relaxed));
	/* The tokens before the new seq (see top; seq_cst: also against
	 * the sleepers count, see await_token). */
	atomic_fetch_add(&c->seq, 1);
	if (atomic_load(&c->sleepers))
		mp_sys_futex_wake(&c->seq, (int)k);
	return (int)k;
}

int mp_cond_notify_all(mp_cond_t *uc)
{
	return mp_cond_notify(uc, INT32_MAX);
}
