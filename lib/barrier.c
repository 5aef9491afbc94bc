/*
 * barrier.c - Barrier: a robust internal lock, an arrival count, and a
 * generation word that waiters sleep on.
 *
 * Each cycle is a generation.  Arrivals take the lock and count themselves;
 * the last one runs the action, records the generation's outcome, bumps the
 * generation and wakes everyone.  A break (timeout, abort, failing action,
 * reset with waiters) records "broken" as the outcome of the current
 * generation and bumps it the same way.  Waiters learn how their own
 * generation ended from a small ring of outcomes indexed by generation, so
 * a waiter that wakes late still reads the right one (the ring holds the
 * last OUTCOMES generations).
 *
 * If a process dies holding the internal lock, the next party gets
 * -EOWNERDEAD from it: the count may be wrong, so the barrier is broken.
 */
#include "lock.h"

#define OUTCOMES 8

struct barrier {
	struct lock lock;
	_Atomic uint32_t gen;      /* the futex: the current generation */
	uint32_t magic;
	uint32_t parties;
	uint32_t count;            /* arrived in this generation */
	_Atomic uint32_t broken;   /* the barrier is broken now */
	uint32_t reserved;
	uint64_t action;           /* mp_barrier_action_t, see the header */
	uint64_t arg;
	/* outcome[g % OUTCOMES] = g << 1 | broken, for finished generations */
	_Atomic uint64_t outcome[OUTCOMES];
	uint8_t pad[24];
};

_Static_assert(sizeof(struct barrier) == sizeof(mp_barrier_t), "barrier size");

#define BARRIER_MAGIC 0x6d706272u /* "mpbr" */

static struct barrier *barrier_of(const mp_barrier_t *ub)
{
	struct barrier *b = (struct barrier *)ub;
	return mp__aligned(ub) && b->magic == BARRIER_MAGIC ? b : NULL;
}

int mp_barrier_init(mp_barrier_t *ub, unsigned parties,
                    mp_barrier_action_t action, void *arg)
{
	struct barrier *b = (struct barrier *)ub;

	if (!mp__aligned(ub) || parties < 1 || parties > INT32_MAX)
		return -EINVAL;
	memset(b, 0, sizeof(*b));
	mp_lock_init((mp_lock_t *)&b->lock);
	b->parties = parties;
	b->action = (uint64_t)(uintptr_t)action;
	b->arg = (uint64_t)(uintptr_t)arg;
	b->magic = BARRIER_MAGIC;
	return 0;
}

int mp_barrier_destroy(mp_barrier_t *ub)
{
	struct barrier *b = barrier_of(ub);
	if (!b)
		return -EINVAL;
	int r = mp_lock_destroy((mp_lock_t *)&b->lock);
	if (r == 0 && b->count)
		r = -EBUSY;
	if (r == 0)
		b->magic = 0;
	return r;
}

mp_barrier_t *mp_barrier_new(unsigned parties, mp_barrier_action_t action,
                             void *arg, int *err)
{
	if (parties < 1 || parties > INT32_MAX) {
		if (err)
			*err = -EINVAL;
		return NULL;
	}
	mp_barrier_t *b = mp_heap_alloc(sizeof(*b), err);
	if (b)
		mp_barrier_init(b, parties, action, arg);
	return b;
}

int mp_barrier_free(mp_barrier_t *b)
{
	int r = mp_barrier_destroy(b);
	return r < 0 ? r : mp_heap_free(b);
}

/* Take the internal lock; an owner's death breaks the barrier. */
static int barrier_lock(struct barrier *b)
{
	int r = mp__lock_take(&b->lock, MP__NO_DEADLINE, false);
	if (r == -EOWNERDEAD) {
		atomic_store(&b->broken, 1);
		mp_lock_consistent((mp_lock_t *)&b->lock);
		r = 0;
	}
	return r;
}

/* End the current generation (lock held) and wake its waiters. */
static void finish(struct barrier *b, bool broken)
{
	uint32_t g = atomic_load_explicit(&b->gen, memory_order_relaxed);

	atomic_store_explicit(&b->outcome[g % OUTCOMES],
	                      (uint64_t)g << 1 | broken, memory_order_relaxed);
	b->count = 0;
	if (broken)
		atomic_store(&b->broken, 1);
	/* Release: the outcome before the new generation. */
	atomic_store_explicit(&b->gen, g + 1, memory_order_release);
	mp_sys_futex_wake(&b->gen, INT32_MAX);
}

static bool was_broken(struct barrier *b, uint32_t g)
{
	uint64_t o = atomic_load_explicit(&b->outcome[g % OUTCOMES],
	                                  memory_order_relaxed);
	return (o >> 1) != g || (o & 1);
}

/* Wait for generation g to end; -ETIMEDOUT or -EINTR after breaking it
 * ourselves. */
static int await_gen(struct barrier *b, uint32_t g, int64_t deadline)
{
	struct timespec ts;

	while (atomic_load_explicit(&b->gen, memory_order_acquire) == g) {
		int why = mp_sys_futex_wait(&b->gen, g,
		                            mp__deadline_ts(deadline, &ts));
		if (why != -ETIMEDOUT && why != -EINTR)
			continue;
		/* Python: a timeout, or an exception in wait, breaks it -
		 * and breaking it is not to be interrupted in turn. */
		bool intr = mp_sys_set_interruptible(false);
		int r = barrier_lock(b);
		mp_sys_set_interruptible(intr);
		if (r < 0)
			return r;
		bool still = atomic_load(&b->gen) == g;
		if (still)
			finish(b, true);
		mp__lock_put(&b->lock, mp__self());
		if (still)
			return why;
	}
	return was_broken(b, g) ? -MP_EBROKEN : 0;
}

int mp_barrier_wait(mp_barrier_t *ub, int64_t timeout_ns)
{
	struct barrier *b = barrier_of(ub);
	int64_t deadline;

	if (!b || mp__deadline(timeout_ns, &deadline) < 0)
		return -EINVAL;
	int r = barrier_lock(b);
	if (r < 0)
		return r;
	if (atomic_load(&b->broken)) {
		mp__lock_put(&b->lock, mp__self());
		return -MP_EBROKEN;
	}
	uint32_t g = atomic_load(&b->gen);
	int index = (int)b->count++;
	if (b->count == b->parties) {
		mp_barrier_action_t act = (mp_barrier_action_t)(uintptr_t)b->action;
		bool failed = act && act((void *)(uintptr_t)b->arg) != 0;
		finish(b, failed);
		mp__lock_put(&b->lock, mp__self());
		return failed ? -MP_EBROKEN : index;
	}
	mp__lock_put(&b->lock, mp__self());
	r = await_gen(b, g, deadline);
	return r < 0 ? r : index;
}

static int break_or_reset(mp_barrier_t *ub, bool reset)
{
	struct barrier *b = barrier_of(ub);
	if (!b)
		return -EINVAL;
	int r = barrier_lock(b);
	if (r < 0)
		return r;
	if (!reset || b->count > 0)
		finish(b, true); /* current waiters see it broken */
	if (reset)
		atomic_store(&b->broken, 0);
	mp__lock_put(&b->lock, mp__self());
	return 0;
}

int mp_barrier_abort(mp_barrier_t *b)
{
	return break_or_reset(b, false);
}

int mp_barrier_reset(mp_barrier_t *b)
{
	return break_or_reset(b, true);
}

int mp_barrier_parties(const mp_barrier_t *ub)
{
	struct barrier *b = barrier_of(ub);
	return b ? (int)b->parties : -EINVAL;
}

int mp_barrier_n_waiting(const mp_barrier_t *ub)
{
	struct barrier *b = barrier_of(ub);
	return b ? (int)__atomic_load_n(&b->count, __ATOMIC_RELAXED) : -EINVAL;
}

int mp_barrier_broken(const mp_barrier_t *ub)
{
	struct barrier *b = barrier_of(ub);
	return b ? (int)atomic_load(&b->broken) : -EINVAL;
}

int mp__barrier_gen(mp_barrier_t *ub, uint32_t *gen)
{
	struct barrier *b = barrier_of(ub);
	if (!b)
		return -EINVAL;
	*gen = atomic_load_explicit(&b->gen, memory_order_acquire);
	return 0;
}

int mp__barrier_watch(mp_barrier_t *ub, uint32_t since, struct mp__watch *w)
{
	struct barrier *b = barrier_of(ub);
	if (!b)
		return -EINVAL;
	w->word = &b->gen;
	w->value = atomic_load_explicit(&b->gen, memory_order_acquire);
	w->sleepers = NULL; /* every generation change wakes all */
	return w->value != since || atomic_load(&b->broken);
}
