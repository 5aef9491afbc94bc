/*
 * sem.c - Semaphore and BoundedSemaphore: a futex on the value itself.
 *
 * `value` is the count; `waiters` the number of threads that are or may be
 * asleep.  Release adds to the value, then wakes only when waiters is
 * non-zero: both sides use sequentially consistent operations on the two
 * words (waiter: waiters++ then read value; releaser: add value then read
 * waiters), so at least one of them sees the other's write - no lost
 * wake-up, and no system call when nobody sleeps.
 */
#include "heap.h"
#include "peek.h"

struct sem {
	_Atomic uint32_t value;
	_Atomic uint32_t waiters;
	uint32_t magic;
	uint32_t max;            /* BoundedSemaphore: the initial value */
	uint32_t bounded;
	_Atomic uint32_t spin;
	_Atomic uint32_t watchers;   /* mp_wait callers asleep on value */
	uint32_t reserved;
};

_Static_assert(sizeof(struct sem) == sizeof(mp_sem_t), "sem size");

#define SEM_MAGIC 0x6d707365u /* "mpse" */

static struct sem *sem_of(const mp_sem_t *us)
{
	struct sem *s = (struct sem *)us;
	return mp__aligned(us) && s->magic == SEM_MAGIC ? s : NULL;
}

int mp_sem_init(mp_sem_t *us, long value, bool bounded)
{
	struct sem *s = (struct sem *)us;

	if (!mp__aligned(us) || value < 0 || value > (long)MP_SEM_VALUE_MAX)
		return -EINVAL;
	memset(s, 0, sizeof(*s));
	s->value = (uint32_t)value;
	s->max = bounded ? (uint32_t)value : MP_SEM_VALUE_MAX;
	s->bounded = bounded;
	s->magic = SEM_MAGIC;
	return 0;
}

int mp_sem_destroy(mp_sem_t *us)
{
	struct sem *s = sem_of(us);
	if (!s)
		return -EINVAL;
	if (atomic_load(&s->waiters))
		return -EBUSY;
	s->magic = 0;
	return 0;
}

mp_sem_t *mp_sem_new(long value, bool bounded, int *err)
{
	if (value < 0 || value > (long)MP_SEM_VALUE_MAX) {
		if (err)
			*err = -EINVAL;
		return NULL;
	}
	mp_sem_t *s = mp_heap_alloc(sizeof(*s), err);
	if (s) {
		mp_sem_init(s, value, bounded);
		mp__heap_tag(s, MP__KIND_SEM);
	}
	return s;
}

int mp_sem_free(mp_sem_t *s)
{
	int r = mp_sem_destroy(s);
	if (r < 0)
		return r;
	mp__heap_untag(s);
	return mp_heap_free(s);
}

static bool try_down(struct sem *s)
{
	uint32_t v = atomic_load_explicit(&s->value, memory_order_relaxed);
	while (v > 0) {
		if (atomic_compare_exchange_weak_explicit(&s->value, &v, v - 1,
		        memory_order_acquire, memory_order_relaxed))
			return true;
	}
	return false;
}

/* Spin, then sleep on the value until a unit is ours or the deadline. */
static __attribute__((noinline)) int acquire_slow(struct sem *s,
                                                  int64_t timeout_ns)
{
	int64_t deadline;
	struct timespec ts;
	int r = 0;

	mp__deadline(timeout_ns, &deadline);
	for (;;) {
		if (MP__SPIN_UNTIL(&s->spin, atomic_load_explicit(&s->value,
		                   memory_order_relaxed) > 0) && try_down(s))
			return 0;
		atomic_fetch_add(&s->waiters, 1);
		if (atomic_load(&s->value) == 0)
			r = mp_sys_futex_wait(&s->value, 0,
			                      mp__deadline_ts(deadline, &ts));
		atomic_fetch_sub(&s->waiters, 1);
		if (try_down(s))
			return 0;
		if (r == -ETIMEDOUT || r == -EINTR)
			return r;
	}
}

int mp_sem_acquire(mp_sem_t *us, int64_t timeout_ns)
{
	struct sem *s = sem_of(us);

	if (!s || (timeout_ns < 0 && timeout_ns != MP_FOREVER))
		return -EINVAL;
	if (try_down(s))
		return 0;
	if (timeout_ns == 0)
		return -EAGAIN;
	return acquire_slow(s, timeout_ns);
}

/*
 * A release is one fetch_add, undone when it went past the maximum, rather
 * than a load and a CAS: the load of the word just before the locked
 * instruction cost ~1.5 ns, a tenth of post+wait.  Only for small counts:
 * during the undo's window acquirers can take what was added, and a count
 * near 2^31 would let them take units that never existed and wrap the
 * value.  Larger ones, and a BoundedSemaphore's (never above its initial
 * value, not even for an instant), go through the CAS.
 */
#define FAST_RELEASE_MAX 0xffffL

/* The checked release: a CAS that never passes s->max. */
static bool release_checked(struct sem *s, long n)
{
	uint32_t v = atomic_load_explicit(&s->value, memory_order_relaxed);
	do {
		if ((uint64_t)v + (uint64_t)n > s->max)
			return false;
	} while (!atomic_compare_exchange_weak_explicit(&s->value, &v,
	                 v + (uint32_t)n, memory_order_seq_cst,
	                 memory_order_relaxed));
	return true;
}

int mp_sem_release(mp_sem_t *us, long n)
{
	struct sem *s = sem_of(us);

	if (!s || n < 1)
		return -EINVAL;
	if (s->bounded || n > FAST_RELEASE_MAX) {
		if (!release_checked(s, n))
			return -EOVERFLOW;
	} else if (atomic_fetch_add(&s->value, (uint32_t)n) >
	           MP_SEM_VALUE_MAX - (uint32_t)n) {
		/* Past the maximum: take it back.  Meanwhile acquirers may
		 * have taken units above it, but at most FAST_RELEASE_MAX of
		 * the 2^31 - 1 there: nothing wraps, and they were taking from
		 * a value that was at its maximum anyway. */
		atomic_fetch_sub(&s->value, (uint32_t)n);
		return -EOVERFLOW;
	}
	/* A watcher in the futex queue could take the wake-up meant for an
	 * acquirer and not acquire: with watchers about, wake everyone. */
	if (atomic_load(&s->watchers))
		mp_sys_futex_wake(&s->value, INT32_MAX);
	else if (atomic_load(&s->waiters))
		mp_sys_futex_wake(&s->value, (int)(n < INT32_MAX ? n : INT32_MAX));
	return 0;
}

long mp_sem_value(const mp_sem_t *us)
{
	struct sem *s = sem_of(us);
	return s ? (long)atomic_load(&s->value) : -EINVAL;
}

int mp__sem_watch(mp_sem_t *us, struct mp__watch *w)
{
	struct sem *s = sem_of(us);
	if (!s)
		return -EINVAL;
	w->word = &s->value;
	w->value = 0;
	w->sleepers = &s->watchers;
	return atomic_load(&s->value) > 0;
}

int mp__sem_peek(const void *copy, struct mp__peek_sem *out)
{
	struct sem *s = (struct sem *)copy;

	if (s->magic != SEM_MAGIC)
		return -EINVAL;
	/* Relaxed: a private copy, nobody else writes it. */
	*out = (struct mp__peek_sem){
		.value = atomic_load_explicit(&s->value, memory_order_relaxed),
		.max = s->max,
		.waiters = atomic_load_explicit(&s->waiters, memory_order_relaxed),
		.watchers = atomic_load_explicit(&s->watchers,
		                                 memory_order_relaxed),
		.bounded = s->bounded != 0,
	};
	return 0;
}
