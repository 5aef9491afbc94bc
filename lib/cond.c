/*
 * cond.c - Condition: a futex sequence word plus counted wake-up tokens.
 *
 * `seq` is the futex waiters sleep on; every notify bumps it.  `wt` packs
 * the number of registered waiters (high 32 bits) and of tokens granted to
 * them but not yet taken (low 32 bits).  A waiter registers while holding
 * the lock; notify(n), also under the lock, grants min(n, waiters - tokens)
 * tokens, bumps seq and wakes that many sleepers.  A waiter returns as
 * notified only by taking a token (waiters-1, tokens-1 in one CAS), so
 * exactly the granted number return however wake-ups and the race between
 * releasing the lock and sleeping interleave: no lost wake-up, no herd.
 *
 * Ordering: notify adds tokens, then bumps seq with release; a waiter loads
 * seq with acquire *before* trying for a token.  Either it sees the tokens,
 * or it read the old seq and its futex wait fails at once.
 *
 * A waiter that times out deregisters under the lock; if a token was meant
 * for it (tokens == waiters), it takes it and reports being notified.
 */
#include "lock.h"

#include <stddef.h>

struct cond {
	uint32_t magic;
	uint32_t rlock;          /* the lock is an RLock */
	int64_t lock_off;        /* lock - condition, in bytes */
	_Atomic uint32_t seq;
	_Atomic uint32_t spin;
	_Atomic uint64_t wt;     /* waiters << 32 | tokens */
	uint8_t reserved[32];
	struct lock own;         /* the condition's RLock when none given */
};

_Static_assert(sizeof(struct cond) == sizeof(mp_cond_t), "cond size");

#define COND_MAGIC 0x6d70636eu /* "mpcn" */
#define ONE_WAITER ((uint64_t)1 << 32)

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
	if (atomic_load(&c->wt) >> 32)
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

	while ((uint32_t)v > 0) {
		if (atomic_compare_exchange_weak_explicit(&c->wt, &v,
		        v - ONE_WAITER - 1, memory_order_acquire,
		        memory_order_relaxed))
			return true;
	}
	return false;
}

/* Sleep until a token is ours (true) or the deadline (false). */
static bool await_token(struct cond *c, int64_t deadline, bool try)
{
	struct timespec ts;

	for (;;) {
		uint32_t s = atomic_load_explicit(&c->seq, memory_order_acquire);
		if (take_token(c))
			return true;
		if (try)
			return false;
		if (MP__SPIN_UNTIL(&c->spin, atomic_load_explicit(&c->seq,
		                   memory_order_acquire) != s))
			continue;
		int r = mp_sys_futex_wait(&c->seq, s,
		                          mp__deadline_ts(deadline, &ts));
		if (r == -ETIMEDOUT)
			return take_token(c);
	}
}

/* After a wait that got no token: leave, or take the token reserved for
 * us.  Called with the lock held, except after -ENOTRECOVERABLE. */
static bool deregister(struct cond *c)
{
	uint64_t v = atomic_load_explicit(&c->wt, memory_order_relaxed), nv;
	bool ours;

	do {
		ours = (uint32_t)v >= (uint32_t)(v >> 32);
		nv = v - ONE_WAITER - (ours ? 1 : 0);
	} while (!atomic_compare_exchange_weak_explicit(&c->wt, &v, nv,
	                 memory_order_acquire, memory_order_relaxed));
	return ours;
}

int mp_cond_wait(mp_cond_t *uc, int64_t timeout_ns)
{
	struct cond *c = cond_of(uc);
	int64_t deadline;

	if (!c || mp__deadline(timeout_ns, &deadline) < 0)
		return -EINVAL;
	struct lock *l = cond_lock(c);
	if (!mp__lock_mine(l))
		return -EPERM;
	pid_t me = mp__tid();
	uint32_t saved = l->count;

	atomic_fetch_add_explicit(&c->wt, ONE_WAITER, memory_order_relaxed);
	l->count = 0;
	mp__lock_put(l, me);
	bool notified = await_token(c, deadline, timeout_ns == 0);
	int r = mp__lock_take(l, MP__NO_DEADLINE, false);
	if (r == -ENOTRECOVERABLE) {
		if (!notified)
			deregister(c);
		return r;
	}
	l->count = c->rlock ? saved : 0;
	if (!notified)
		notified = deregister(c);
	if (r < 0)
		return r; /* -EOWNERDEAD: held, to be repaired */
	return notified ? 0 : timeout_ns == 0 ? -EAGAIN : -ETIMEDOUT;
}

int mp_cond_wait_for(mp_cond_t *uc, mp_pred_t pred, void *arg,
                     int64_t timeout_ns)
{
	int64_t deadline;

	if (!cond_of(uc) || !pred || mp__deadline(timeout_ns, &deadline) < 0)
		return -EINVAL;
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
	uint64_t v = atomic_load_explicit(&c->wt, memory_order_relaxed);
	uint32_t k;
	do {
		uint32_t free_waiters = (uint32_t)(v >> 32) - (uint32_t)v;
		k = (uint32_t)n < free_waiters ? (uint32_t)n : free_waiters;
		if (k == 0)
			return 0;
	} while (!atomic_compare_exchange_weak_explicit(&c->wt, &v, v + k,
	                 memory_order_relaxed, memory_order_relaxed));
	/* Release: the tokens before the new seq (see top). */
	atomic_fetch_add_explicit(&c->seq, 1, memory_order_release);
	mp_sys_futex_wake(&c->seq, (int)k);
	return (int)k;
}

int mp_cond_notify_all(mp_cond_t *uc)
{
	return mp_cond_notify(uc, INT32_MAX);
}
