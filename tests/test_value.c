/* test_value.c - Value, Array, RawValue, RawArray: types, bad input, the
 * lock (processes x threads, exact totals), and a holder's death. */
#include "testutil.h"

#include <float.h>
#include <pthread.h>
#include <signal.h>
#include <unistd.h>

struct shared {
	mp_value_t val;
	_Alignas(64) unsigned char iarr[256]; /* Array('q', 4) */
	_Alignas(64) unsigned char darr[256]; /* Array('d', 1) */
	_Atomic uint32_t ready;
};
static struct shared *sh;

static mp_array_t *iarr(void)
{
	return (mp_array_t *)sh->iarr;
}

static mp_array_t *darr(void)
{
	return (mp_array_t *)sh->darr;
}

/* ---- types --------------------------------------------------------------- */

static void test_typecodes(void)
{
	static const struct { char code; int size; } t[] = {
		{ 'c', 1 }, { 'b', 1 }, { 'B', 1 }, { 'h', 2 }, { 'H', 2 },
		{ 'i', 4 }, { 'I', 4 }, { 'l', 8 }, { 'L', 8 }, { 'q', 8 },
		{ 'Q', 8 }, { 'f', 4 }, { 'd', 8 },
	};
	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		MPT_EQ(mp_typecode_size(t[i].code), t[i].size);
		unsigned char in[8] = { 0x81, 0x42, 0x43, 0x44, 5, 6, 7, 8 };
		unsigned char out[8] = { 0 };
		mp_value_t v;
		MPT_OK(mp_value_init(&v, t[i].code, in, 0));
		MPT_EQ(mp_value_typecode(&v), t[i].code);
		MPT_OK(mp_value_get(&v, out, TEST_WAIT_NS));
		MPT_EQ(memcmp(in, out, (size_t)t[i].size), 0);
		/* Only its own bytes. */
		MPT_EQ(out[t[i].size < 8 ? t[i].size : 7], t[i].size < 8 ? 0 : 8);
		MPT_OK(mp_value_destroy(&v));
	}
	MPT_ERR(mp_typecode_size('x'), -EINVAL);
	MPT_ERR(mp_typecode_size('u'), -EINVAL); /* wchar: not supported */
	MPT_ERR(mp_typecode_size(0), -EINVAL);
}

static void test_value_numbers(void)
{
	mp_value_t v;
	int64_t x = 0;
	double d = 0;
	int32_t three = 3;

	MPT_OK(mp_value_init(&v, 'i', &three, 0)); /* Value('i', 3) */
	MPT_OK(mp_value_get_i64(&v, &x, TEST_WAIT_NS));
	MPT_EQ(x, 3);
	MPT_OK(mp_value_add_i64(&v, -5, &x, TEST_WAIT_NS));
	MPT_EQ(x, -2);
	MPT_EQ(*(int32_t *)mp_value_get_obj(&v), -2);
	MPT_ERR(mp_value_set_i64(&v, (int64_t)INT32_MAX + 1, 0), -ERANGE);
	MPT_ERR(mp_value_add_i64(&v, INT64_MAX, NULL, 0), -ERANGE);
	MPT_ERR(mp_value_get_double(&v, &d, 0), -EINVAL); /* not a float */
	MPT_OK(mp_value_get_i64(&v, &x, 0));
	MPT_EQ(x, -2); /* nothing stored by the failed calls */
	MPT_OK(mp_value_destroy(&v));

	static const struct { char code; int64_t lo, hi; } r[] = {
		{ 'b', INT8_MIN, INT8_MAX }, { 'B', 0, UINT8_MAX },
		{ 'h', INT16_MIN, INT16_MAX }, { 'H', 0, UINT16_MAX },
		{ 'i', INT32_MIN, INT32_MAX }, { 'I', 0, UINT32_MAX },
		{ 'q', INT64_MIN, INT64_MAX }, { 'Q', 0, INT64_MAX },
	};
	for (size_t i = 0; i < sizeof(r) / sizeof(r[0]); i++) {
		MPT_OK(mp_value_init(&v, r[i].code, NULL, MP_VALUE_RAW));
		MPT_OK(mp_value_set_i64(&v, r[i].hi, 0));
		MPT_OK(mp_value_get_i64(&v, &x, 0));
		MPT_EQ(x, r[i].hi);
		if (r[i].hi < INT64_MAX) {
			MPT_ERR(mp_value_set_i64(&v, r[i].hi + 1, 0), -ERANGE);
			MPT_ERR(mp_value_add_i64(&v, 1, NULL, 0), -ERANGE);
		}
		MPT_OK(mp_value_set_i64(&v, r[i].lo, 0));
		if (r[i].lo > INT64_MIN) {
			MPT_ERR(mp_value_set_i64(&v, r[i].lo - 1, 0), -ERANGE);
			MPT_ERR(mp_value_add_i64(&v, -1, NULL, 0), -ERANGE);
		}
		MPT_OK(mp_value_get_i64(&v, &x, 0));
		MPT_EQ(x, r[i].lo);
	}
	uint64_t big = UINT64_MAX;
	MPT_OK(mp_value_init(&v, 'Q', &big, 0));
	MPT_ERR(mp_value_get_i64(&v, &x, 0), -ERANGE);

	MPT_OK(mp_value_init(&v, 'f', NULL, 0));
	MPT_OK(mp_value_add_double(&v, 1.5, &d, 0));
	MPT_CMP(d, ==, 1.5);
	MPT_ERR(mp_value_set_double(&v, 1e39, 0), -ERANGE);
	MPT_OK(mp_value_set_double(&v, -(double)FLT_MAX, 0));
	MPT_ERR(mp_value_add_i64(&v, 1, NULL, 0), -EINVAL); /* not an int */
	MPT_OK(mp_value_init(&v, 'd', NULL, 0));
	MPT_OK(mp_value_set_double(&v, 1e300, 0));
	MPT_OK(mp_value_get_double(&v, &d, 0));
	MPT_CMP(d == 1e300, ==, 1);
	MPT_OK(mp_value_init(&v, 'c', "A", 0));
	MPT_ERR(mp_value_get_i64(&v, &x, 0), -EINVAL); /* bytes, not a number */
	char ch = 0;
	MPT_OK(mp_value_get(&v, &ch, 0));
	MPT_EQ(ch, 'A');
}

/* ---- bad input ------------------------------------------------------------ */

static int fail_update(void *elem, void *arg)
{
	(void)arg;
	*(int32_t *)elem = 12345; /* must not be stored */
	return -ECANCELED;
}

static void test_bad_input(void)
{
	_Alignas(8) unsigned char buf[256] = { 0 };
	mp_value_t *mis = (mp_value_t *)(buf + 4);
	mp_value_t *v = (mp_value_t *)buf;
	int64_t x;
	int err = 0;

	MPT_ERR(mp_value_init(NULL, 'i', NULL, 0), -EINVAL);
	MPT_ERR(mp_value_init(mis, 'i', NULL, 0), -EINVAL);
	MPT_ERR(mp_value_init(v, 'z', NULL, 0), -EINVAL);
	MPT_ERR(mp_value_init(v, 'i', NULL, MP_VALUE_RAW | MP_VALUE_LOCK),
	        -EINVAL);
	MPT_ERR(mp_value_init(v, 'i', NULL, 0x80), -EINVAL);
	CU_ASSERT_PTR_NULL(mp_value_new('z', NULL, 0, &err));
	MPT_EQ(err, -EINVAL);
	/* Never initialised, NULL, misaligned. */
	MPT_ERR(mp_value_get_i64(v, &x, 0), -EINVAL);
	MPT_ERR(mp_value_get_i64(NULL, &x, 0), -EINVAL);
	MPT_ERR(mp_value_set_i64(mis, 1, 0), -EINVAL);
	MPT_ERR(mp_value_acquire(mis, 0), -EINVAL);
	MPT_ERR(mp_value_typecode(NULL), -EINVAL);
	CU_ASSERT_PTR_NULL(mp_value_get_obj(mis));
	CU_ASSERT_PTR_NULL(mp_value_get_lock(NULL));

	MPT_OK(mp_value_init(v, 'i', NULL, 0));
	MPT_ERR(mp_value_get(v, NULL, 0), -EINVAL);
	MPT_ERR(mp_value_set(v, NULL, 0), -EINVAL);
	MPT_ERR(mp_value_update(v, NULL, NULL, 0), -EINVAL);
	MPT_ERR(mp_value_get_i64(v, NULL, 0), -EINVAL);
	MPT_ERR(mp_value_get_i64(v, &x, -5), -EINVAL); /* bad timeout */
	MPT_ERR(mp_value_update(v, fail_update, NULL, 0), -ECANCELED);
	MPT_OK(mp_value_get_i64(v, &x, 0));
	MPT_EQ(x, 0);
	/* A Value is not an Array and the other way round. */
	MPT_ERR(mp_array_len((mp_array_t *)v), -EINVAL);
	MPT_ERR(mp_array_get_i64((mp_array_t *)v, 0, &x, 0), -EINVAL);
	MPT_OK(mp_value_destroy(v));
	MPT_ERR(mp_value_get_i64(v, &x, 0), -EINVAL); /* destroyed */

	/* A raw Value has no lock. */
	MPT_OK(mp_value_init(v, 'i', NULL, MP_VALUE_RAW));
	CU_ASSERT_PTR_NULL(mp_value_get_lock(v));
	MPT_ERR(mp_value_acquire(v, 0), -EOPNOTSUPP);
	MPT_ERR(mp_value_release(v), -EOPNOTSUPP);
	MPT_ERR(mp_value_consistent(v), -EOPNOTSUPP);
	MPT_ERR(mp_value_get_i64(v, &x, -5), -EINVAL);

	/* Arrays. */
	mp_array_t *a = (mp_array_t *)buf;
	MPT_ERR(mp_array_size('z', 4, 0), -EINVAL);
	MPT_ERR(mp_array_size('i', 4, 0x10), -EINVAL);
	MPT_ERR(mp_array_size('q', SIZE_MAX / 4, 0), -EOVERFLOW);
	MPT_ERR(mp_array_init((mp_array_t *)(buf + 4), 'i', 4, NULL, 0),
	        -EINVAL);
	MPT_ERR(mp_array_init(NULL, 'i', 4, NULL, 0), -EINVAL);
	CU_ASSERT_PTR_NULL(mp_array_new('i', SIZE_MAX / 2, NULL, 0, &err));
	MPT_EQ(err, -EOVERFLOW);
	MPT_CMP(mp_array_size('i', 4, 0), <=, (long)sizeof(buf));
	MPT_OK(mp_array_init(a, 'i', 4, NULL, 0));
	MPT_EQ(mp_array_len(a), 4);
	MPT_ERR(mp_array_get_i64(a, 4, &x, 0), -EINVAL); /* index */
	MPT_ERR(mp_array_set_i64(a, SIZE_MAX, 1, 0), -EINVAL);
	int32_t two[2] = { 0 };
	MPT_ERR(mp_array_read(a, 3, 2, two, 0), -EINVAL); /* range */
	MPT_ERR(mp_array_write(a, 5, 0, two, 0), -EINVAL);
	MPT_ERR(mp_array_read(a, SIZE_MAX, 2, two, 0), -EINVAL);
	MPT_ERR(mp_array_read(a, 0, 2, NULL, 0), -EINVAL);
	MPT_ERR(mp_array_update(a, NULL, NULL, 0), -EINVAL);
	MPT_ERR(mp_array_get_double(a, 0, NULL, 0), -EINVAL);
	MPT_ERR(mp_value_get_i64((mp_value_t *)a, &x, 0), -EINVAL);
	MPT_OK(mp_array_read(a, 4, 0, two, 0)); /* an empty range is fine */
	MPT_OK(mp_array_destroy(a));
	MPT_ERR(mp_array_len(a), -EINVAL);
}

/* ---- the lock --------------------------------------------------------------- */

static void *try_add(void *arg)
{
	intptr_t r1 = mp_value_add_i64(arg, 1, NULL, 0);
	int64_t t0 = mp_sys_now_ns();
	intptr_t r2 = mp_value_add_i64(arg, 1, NULL, MP_MSEC(20));
	int64_t waited = mp_sys_now_ns() - t0;
	return (void *)(r1 * 1000 + r2 + (waited >= MP_MSEC(20) ? 0 : 100));
}

static void test_value_lock(void)
{
	int64_t x = -1;
	void *r;
	pthread_t t;

	/* Default: an RLock; the helpers work while we hold it. */
	mp_value_t *v = mp_value_new('l', NULL, 0, NULL);
	CU_ASSERT_PTR_NOT_NULL_FATAL(v);
	MPT_EQ(mp_heap_contains(v), 1);
	mp_rlock_t *rl = mp_value_get_lock(v);
	MPT_EQ(mp_rlock_acquire(rl, 0), 1); /* it is a real RLock */
	MPT_OK(mp_value_acquire(v, 0));     /* recursion: level 2 */
	MPT_OK(mp_value_add_i64(v, 7, &x, 0));
	MPT_EQ(x, 7);
	int tid, count;
	MPT_OK(mp_rlock_owner(rl, &tid, &count));
	MPT_EQ(count, 2);
	/* Another thread cannot: -EAGAIN, then -ETIMEDOUT not early. */
	pthread_create(&t, NULL, try_add, v);
	pthread_join(t, &r);
	MPT_EQ((intptr_t)r, -EAGAIN * 1000 - ETIMEDOUT);
	MPT_ERR(mp_value_free(v), -EBUSY);
	MPT_OK(mp_value_release(v));
	MPT_OK(mp_value_release(v));
	MPT_ERR(mp_value_release(v), -EPERM);
	MPT_OK(mp_value_free(v));

	/* A plain Lock: a helper while holding it would wait for itself. */
	mp_value_t lv;
	MPT_OK(mp_value_init(&lv, 'i', NULL, MP_VALUE_LOCK));
	MPT_OK(mp_lock_acquire(mp_value_get_lock(&lv), 0)); /* a real Lock */
	MPT_ERR(mp_value_add_i64(&lv, 1, NULL, MP_FOREVER), -EDEADLK);
	MPT_ERR(mp_value_acquire(&lv, 0), -EAGAIN);
	MPT_OK(mp_value_release(&lv));
	MPT_OK(mp_value_add_i64(&lv, 1, &x, TEST_WAIT_NS));
	MPT_EQ(x, 1);
	MPT_OK(mp_value_destroy(&lv));
}

/* ---- arrays ---------------------------------------------------------------- */

static int reverse(void *elems, size_t n, void *arg)
{
	int16_t *e = elems;
	(void)arg;
	for (size_t i = 0; i < n / 2; i++) {
		int16_t t = e[i];
		e[i] = e[n - 1 - i];
		e[n - 1 - i] = t;
	}
	return 0;
}

static void test_array(void)
{
	int16_t init[5] = { 1, 2, 3, 4, 5 }, out[5] = { 0 };
	int64_t x;
	double d;

	for (int raw = 0; raw < 2; raw++) {
		unsigned flags = raw ? MP_VALUE_RAW : 0;
		mp_array_t *a = mp_array_new('h', 5, init, flags, NULL);
		CU_ASSERT_PTR_NOT_NULL_FATAL(a);
		MPT_EQ(mp_array_len(a), 5);
		MPT_EQ(mp_array_typecode(a), 'h');
		MPT_EQ(mp_array_get_lock(a) == NULL, raw);
		MPT_EQ((uintptr_t)mp_array_get_obj(a) % 8, 0);
		MPT_OK(mp_array_read(a, 0, 5, out, 0));
		MPT_EQ(memcmp(out, init, sizeof(init)), 0);
		MPT_OK(mp_array_add_i64(a, 4, 100, &x, 0));
		MPT_EQ(x, 105);
		MPT_ERR(mp_array_set_i64(a, 0, 40000, 0), -ERANGE);
		MPT_OK(mp_array_write(a, 1, 2, (int16_t[]){ -7, -8 }, 0));
		MPT_OK(mp_array_update(a, reverse, NULL, 0));
		MPT_OK(mp_array_read(a, 0, 5, out, 0));
		int16_t want[5] = { 105, 4, -8, -7, 1 };
		MPT_EQ(memcmp(out, want, sizeof(want)), 0);
		int16_t e = 0;
		MPT_OK(mp_array_get(a, 2, &e, 0));
		MPT_EQ(e, -8);
		MPT_OK(mp_array_set(a, 2, &(int16_t){ 9 }, 0));
		MPT_OK(mp_array_get_i64(a, 2, &x, 0));
		MPT_EQ(x, 9);
		MPT_ERR(mp_array_get_double(a, 2, &d, 0), -EINVAL);
		MPT_OK(mp_array_free(a));
	}
	/* A zero-length Array and doubles. */
	mp_array_t *z = mp_array_new('d', 0, NULL, 0, NULL);
	CU_ASSERT_PTR_NOT_NULL_FATAL(z);
	MPT_EQ(mp_array_len(z), 0);
	MPT_ERR(mp_array_get_double(z, 0, &d, 0), -EINVAL);
	MPT_OK(mp_array_free(z));
	mp_array_t *f = mp_array_new('d', 3, NULL, 0, NULL);
	MPT_OK(mp_array_add_double(f, 1, 0.25, &d, 0));
	MPT_OK(mp_array_add_double(f, 1, 0.5, &d, 0));
	MPT_CMP(d, ==, 0.75);
	MPT_OK(mp_array_set_double(f, 2, -1.0, 0));
	MPT_OK(mp_array_get_double(f, 2, &d, 0));
	MPT_CMP(d, ==, -1.0);
	MPT_OK(mp_array_free(f));
}

/* The same Array through two mappings of one memfd at different addresses:
 * nothing inside depends on where it is mapped. */
static void test_array_position_independent(void)
{
	int err = 0;
	size_t len = 4096;
	int fd = mp_sys_memfd("value-test", len);
	MPT_OK(fd);
	unsigned char *m1 = mp_sys_map_fd(fd, len, &err);
	unsigned char *m2 = mp_sys_map_fd(fd, len, &err);
	CU_ASSERT_FATAL(m1 && m2 && m1 != m2);
	mp_array_t *a1 = (mp_array_t *)(m1 + 64), *a2 = (mp_array_t *)(m2 + 64);
	MPT_CMP(mp_array_size('q', 10, 0), <=, (long)(len - 64));
	MPT_OK(mp_array_init(a1, 'q', 10, NULL, 0));
	MPT_OK(mp_array_acquire(a2, 0)); /* the lock, through the other view */
	MPT_ERR(mp_array_acquire(a1, 0), 0); /* an RLock: ours, recursively */
	MPT_OK(mp_array_set_i64(a1, 9, 99, 0));
	int64_t x = 0;
	MPT_OK(mp_array_get_i64(a2, 9, &x, 0));
	MPT_EQ(x, 99);
	MPT_OK(mp_array_release(a1));
	MPT_OK(mp_array_release(a2));
	MPT_EQ(*(int64_t *)((char *)mp_array_get_obj(a2) + 72), 99);
	MPT_OK(mp_array_destroy(a2));
	mp_sys_unmap(m1, len);
	mp_sys_unmap(m2, len);
	close(fd);
}

/* ---- processes x threads under the lock -------------------------------------- */

enum { PROCS = 3, THREADS = 3, ROUNDS = 4000 };

static int add_one(void *elem, void *arg)
{
	(void)arg;
	*(int32_t *)elem += 1;
	return 0;
}

static void *updater_thread(void *arg)
{
	(void)arg;
	for (int i = 0; i < ROUNDS; i++) {
		/* Three ways to add 1, each exact only under the lock. */
		if (mp_value_add_i64(&sh->val, 1, NULL, TEST_WAIT_NS) != 0 ||
		    mp_value_update(&sh->val, add_one, NULL, TEST_WAIT_NS) != 0)
			return (void *)1;
		if (mp_value_acquire(&sh->val, TEST_WAIT_NS) != 0)
			return (void *)2;
		int32_t *obj = mp_value_get_obj(&sh->val);
		*obj += 1; /* Python: with v.get_lock(): v.value += 1 */
		mp_value_release(&sh->val);
		if (mp_array_add_i64(iarr(), (size_t)i % 4, 2, NULL,
		                     TEST_WAIT_NS) != 0 ||
		    mp_array_add_double(darr(), 0, 0.5, NULL, TEST_WAIT_NS) != 0)
			return (void *)3;
	}
	return NULL;
}

static int updater_process(void *arg)
{
	(void)arg;
	return mpt_threads(THREADS, updater_thread, 0) != 0;
}

static void test_processes_threads(void)
{
	memset(sh, 0, sizeof(*sh));
	MPT_OK(mp_value_init(&sh->val, 'i', NULL, 0));
	MPT_CMP(mp_array_size('q', 4, 0), <=, (long)sizeof(sh->iarr));
	MPT_OK(mp_array_init(iarr(), 'q', 4, NULL, 0));
	MPT_OK(mp_array_init(darr(), 'd', 1, NULL, MP_VALUE_LOCK));
	mp_process_t *p[PROCS];
	for (int i = 0; i < PROCS; i++)
		p[i] = mpt_start(updater_process, NULL);
	/* This process takes part too, with its own threads. */
	MPT_EQ(updater_process(NULL), 0);
	for (int i = 0; i < PROCS; i++)
		MPT_EQ(mpt_finish(p[i]), 0);
	int64_t x = 0, n = (int64_t)(PROCS + 1) * THREADS * ROUNDS;
	MPT_OK(mp_value_get_i64(&sh->val, &x, 0));
	MPT_EQ(x, 3 * n);
	int64_t sum = 0;
	for (size_t i = 0; i < 4; i++) {
		MPT_OK(mp_array_get_i64(iarr(), i, &x, 0));
		MPT_EQ(x, 2 * n / 4);
		sum += x;
	}
	MPT_EQ(sum, 2 * n);
	double d = 0;
	MPT_OK(mp_array_get_double(darr(), 0, &d, 0));
	MPT_CMP(d, ==, (double)n / 2); /* halves add up exactly */
}

/* ---- death of a holder --------------------------------------------------------- */

static int hold_then_hang(void *arg)
{
	int r = arg ? mp_array_acquire(arg, TEST_WAIT_NS)
	            : mp_value_acquire(&sh->val, TEST_WAIT_NS);
	if (r < 0)
		return 1;
	mpt_flag_set(&sh->ready, 1);
	for (;;)
		pause();
	return 0;
}

/* Wait until the lock word shows a sleeper: the waiter is really blocked. */
static int await_waiters_bit(void *lock)
{
	_Atomic uint32_t *word = lock;
	int64_t end = mp_sys_now_ns() + TEST_WAIT_NS;
	while (!(atomic_load(word) & FUTEX_WAITERS)) {
		if (mp_sys_now_ns() > end)
			return -ETIMEDOUT;
		usleep(200);
	}
	return 0;
}

struct adder {
	int result;
	int64_t value;
};

static void *blocked_add(void *arg)
{
	struct adder *a = arg;
	a->result = mp_value_add_i64(&sh->val, 1, &a->value, TEST_WAIT_NS);
	return NULL;
}

/* A process SIGKILLed holding the Value's lock: a helper blocked on it
 * gets -EOWNERDEAD with its work done, and the Value goes on working. */
static void test_value_owner_dies(void)
{
	for (unsigned flags = 0; flags <= MP_VALUE_LOCK; flags += MP_VALUE_LOCK) {
		memset(sh, 0, sizeof(*sh));
		int32_t init = 41;
		MPT_OK(mp_value_init(&sh->val, 'i', &init, flags));
		mp_process_t *p = mpt_start(hold_then_hang, NULL);
		MPT_EQ(mpt_flag_wait(&sh->ready, 1), 0);
		struct adder a = { 0, 0 };
		pthread_t t;
		pthread_create(&t, NULL, blocked_add, &a);
		MPT_OK(await_waiters_bit(mp_value_get_lock(&sh->val)));
		MPT_OK(mp_process_kill(p));
		pthread_join(t, NULL);
		MPT_ERR(a.result, -EOWNERDEAD);
		MPT_EQ(a.value, 42);
		MPT_EQ(mpt_finish(p), -SIGKILL);
		/* Repaired by the helper: no longer owner-dead, not locked. */
		int64_t x = 0;
		MPT_OK(mp_value_add_i64(&sh->val, 1, &x, 0));
		MPT_EQ(x, 43);
		MPT_OK(mp_value_destroy(&sh->val));
	}

	/* Nobody waiting: the next acquire holds the lock with -EOWNERDEAD,
	 * repairs through get_obj, marks it consistent. */
	memset(sh, 0, sizeof(*sh));
	MPT_OK(mp_array_init(iarr(), 'q', 2, (int64_t[]){ 5, 5 }, 0));
	mp_process_t *p = mpt_start(hold_then_hang, iarr());
	MPT_EQ(mpt_flag_wait(&sh->ready, 1), 0);
	MPT_OK(mp_process_kill(p));
	MPT_EQ(mpt_finish(p), -SIGKILL);
	MPT_ERR(mp_array_acquire(iarr(), TEST_WAIT_NS), -EOWNERDEAD);
	int64_t *e = mp_array_get_obj(iarr());
	e[1] = e[0];
	MPT_OK(mp_array_consistent(iarr()));
	MPT_OK(mp_array_release(iarr()));
	MPT_OK(mp_array_add_i64(iarr(), 1, 1, NULL, 0));

	/* Released without repair: unrecoverable, and the helpers say so. */
	sh->ready = 0;
	p = mpt_start(hold_then_hang, iarr());
	MPT_EQ(mpt_flag_wait(&sh->ready, 1), 0);
	MPT_OK(mp_process_kill(p));
	MPT_EQ(mpt_finish(p), -SIGKILL);
	MPT_ERR(mp_array_acquire(iarr(), TEST_WAIT_NS), -EOWNERDEAD);
	MPT_OK(mp_array_release(iarr()));
	MPT_ERR(mp_array_add_i64(iarr(), 1, 1, NULL, 0), -ENOTRECOVERABLE);
}

int main(void)
{
	sh = mpt_shared(sizeof(*sh));
	static CU_TestInfo tests[] = {
		{ "typecodes", test_typecodes },
		{ "numbers and ranges", test_value_numbers },
		{ "bad input", test_bad_input },
		{ "the lock", test_value_lock },
		{ "arrays", test_array },
		{ "array: position independent", test_array_position_independent },
		{ "processes x threads", test_processes_threads },
		{ "owner dies", test_value_owner_dies },
		CU_TEST_INFO_NULL,
	};
	return mpt_main("value", tests);
}
