/* test_heap.c - the shared heap: semantics, sharing across fork, death. */
#include "testutil.h"

#include <pthread.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

static void test_basic(void)
{
	int err = 0;
	mp_heap_stats_t st;

	MPT_OK(mp_heap_init(0));
	MPT_OK(mp_heap_stats(&st));
	size_t live0 = st.bytes_live;

	char *a = mp_heap_alloc(10, &err);
	char *b = mp_heap_alloc(10, &err);
	CU_ASSERT_PTR_NOT_NULL_FATAL(a);
	CU_ASSERT_PTR_NOT_NULL_FATAL(b);
	CU_ASSERT(a != b);
	MPT_EQ((uintptr_t)a % 16, 0);
	MPT_EQ(mp_heap_contains(a), 1);
	int local;
	MPT_EQ(mp_heap_contains(&local), 0);
	for (int i = 0; i < 10; i++)
		MPT_EQ(a[i], 0);
	MPT_OK(mp_heap_stats(&st));
	MPT_EQ(st.bytes_live, live0 + 32);

	/* Freed blocks are reused, and come back zeroed. */
	memset(a, 0xff, 10);
	MPT_OK(mp_heap_free(a));
	char *c = mp_heap_alloc(16, &err);
	CU_ASSERT(c == a);
	MPT_EQ(c[0], 0);
	MPT_OK(mp_heap_free(c));
	MPT_OK(mp_heap_free(b));
	MPT_OK(mp_heap_stats(&st));
	MPT_EQ(st.bytes_live, live0);

	/* Every class, aligned to a cache line from 64 bytes up. */
	for (size_t sz = 1; sz <= 40000; sz = sz * 3 + 1) {
		char *p = mp_heap_alloc(sz, &err);
		CU_ASSERT_PTR_NOT_NULL_FATAL(p);
		if (sz >= 64)
			MPT_EQ((uintptr_t)p % 64, 0);
		memset(p, 1, sz);
		MPT_OK(mp_heap_free(p));
	}
}

static void test_bad_input(void)
{
	int err = 0;
	MPT_EQ(mp_heap_alloc(0, &err) == NULL, 1);
	MPT_ERR(err, -EINVAL);
	MPT_EQ(mp_heap_alloc((size_t)1 << 50, &err) == NULL, 1);
	MPT_ERR(err, -ENOMEM);
	MPT_EQ(mp_heap_alloc(SIZE_MAX, NULL) == NULL, 1);

	char *a = mp_heap_alloc(100, &err);
	MPT_OK(mp_heap_free(a));
	MPT_ERR(mp_heap_free(a), -EINVAL); /* double free */
	a = mp_heap_alloc(100, &err);
	MPT_ERR(mp_heap_free(a + 8), -EINVAL); /* interior */
	int local;
	MPT_ERR(mp_heap_free(&local), -EINVAL); /* foreign */
	MPT_OK(mp_heap_free(NULL));
	MPT_OK(mp_heap_free(a));

	char *big = mp_heap_alloc(200000, &err);
	CU_ASSERT_PTR_NOT_NULL_FATAL(big);
	MPT_ERR(mp_heap_free(big + 65536), -EINVAL); /* a tail span */
	MPT_OK(mp_heap_free(big));
	MPT_ERR(mp_heap_free(big), -EINVAL);

	mp_heap_stats_t st;
	MPT_OK(mp_heap_stats(&st));
	MPT_ERR(mp_heap_init(st.size * 2), -EEXIST);
	MPT_OK(mp_heap_init(st.size));
	MPT_ERR(mp_heap_init(100), -EINVAL);
	MPT_ERR(mp_heap_stats(NULL), -EINVAL);
}

/* Large blocks give their pages back and are reused: no growth. */
static void test_large_reuse(void)
{
	int err = 0;
	mp_heap_stats_t st;
	char *p = mp_heap_alloc(3 << 20, &err);
	CU_ASSERT_PTR_NOT_NULL_FATAL(p);
	memset(p, 0x77, 3 << 20);
	MPT_OK(mp_heap_free(p));
	MPT_OK(mp_heap_stats(&st));
	size_t used = st.spans_used;
	for (int i = 0; i < 50; i++) {
		char *q = mp_heap_alloc(3 << 20, &err);
		CU_ASSERT_PTR_NOT_NULL_FATAL(q);
		MPT_EQ(q[0], 0);
		MPT_EQ(q[(3 << 20) - 1], 0);
		q[12345] = 1;
		MPT_OK(mp_heap_free(q));
	}
	MPT_OK(mp_heap_stats(&st));
	MPT_EQ(st.spans_used, used);
}

struct xfer {
	_Atomic uint32_t step;
	char *_Atomic block;
};

static int child_reads_then_allocates(void *arg)
{
	struct xfer *x = arg;
	if (mpt_flag_wait(&x->step, 1) < 0)
		return 10;
	/* The parent allocated this after we were forked. */
	char *b = atomic_load(&x->block);
	if (!b || strcmp(b, "from parent") != 0)
		return 11;
	int err;
	char *mine = mp_heap_alloc(5000, &err);
	if (!mine)
		return 12;
	strcpy(mine, "from child");
	atomic_store(&x->block, mine);
	mpt_flag_set(&x->step, 2);
	return 0;
}

static void test_shared_across_fork(void)
{
	int err;
	struct xfer *x = mp_heap_alloc(sizeof(*x), &err);
	CU_ASSERT_PTR_NOT_NULL_FATAL(x);
	mp_process_t *p = mp_process_new(child_reads_then_allocates, x, NULL,
	                                 0, &err);
	MPT_OK(mp_process_start(p));
	char *b = mp_heap_alloc(300, &err);
	strcpy(b, "from parent");
	atomic_store(&x->block, b);
	mpt_flag_set(&x->step, 1);
	MPT_EQ(mpt_flag_wait(&x->step, 2), 0);
	MPT_OK(mp_process_join(p, TEST_WAIT_NS));
	int code = -1;
	MPT_OK(mp_process_exitcode(p, &code));
	MPT_EQ(code, 0);
	char *theirs = atomic_load(&x->block);
	CU_ASSERT_PTR_NOT_NULL_FATAL(theirs);
	CU_ASSERT_STRING_EQUAL(theirs, "from child");
	/* Any process may free what another allocated. */
	MPT_OK(mp_heap_free(theirs));
	MPT_OK(mp_heap_free(b));
	MPT_OK(mp_heap_free(x));
	mp_process_free(p);
}

/* ---- concurrency: processes x threads, checking no block is shared ---- */

enum { CHURN_PROCS = 3, CHURN_THREADS = 3, CHURN_ROUNDS = 3000 };

static void *churn_thread(void *arg)
{
	unsigned seed = (unsigned)(uintptr_t)arg;
	uint32_t tag = (uint32_t)getpid() * 131 + seed;
	void *held[32] = { 0 };
	size_t sizes[32] = { 0 };
	uintptr_t bad = 0;

	for (int i = 0; i < CHURN_ROUNDS; i++) {
		int k = rand_r(&seed) % 32;
		if (held[k]) {
			/* Nobody else wrote into our block. */
			uint32_t *w = held[k];
			for (size_t j = 0; j < sizes[k] / 4; j++)
				if (w[j] != tag)
					bad = 1;
			if (mp_heap_free(held[k]) < 0)
				bad = 1;
			held[k] = NULL;
			continue;
		}
		size_t sz = 4 + (size_t)(rand_r(&seed) % 9000);
		if (rand_r(&seed) % 50 == 0)
			sz = 70000 + (size_t)(rand_r(&seed) % 200000);
		uint32_t *p = mp_heap_alloc(sz, NULL);
		if (!p) {
			bad = 1;
			continue;
		}
		for (size_t j = 0; j < sz / 4; j++)
			p[j] = tag;
		held[k] = p;
		sizes[k] = sz;
	}
	for (int k = 0; k < 32; k++)
		if (held[k] && mp_heap_free(held[k]) < 0)
			bad = 1;
	return (void *)bad;
}

static int churn_process(void *arg)
{
	(void)arg;
	return mpt_threads(CHURN_THREADS, churn_thread, 1) != 0;
}

static void test_concurrent_churn(void)
{
	mp_heap_stats_t st;
	MPT_OK(mp_heap_stats(&st));
	size_t live0 = st.bytes_live;
	mp_process_t *p[CHURN_PROCS];
	for (int i = 0; i < CHURN_PROCS; i++) {
		p[i] = mp_process_new(churn_process, NULL, NULL, 0, NULL);
		MPT_OK(mp_process_start(p[i]));
	}
	for (int i = 0; i < CHURN_PROCS; i++) {
		int code = -1;
		MPT_OK(mp_process_join(p[i], MP_SEC(60)));
		MPT_OK(mp_process_exitcode(p[i], &code));
		MPT_EQ(code, 0);
		mp_process_free(p[i]);
	}
	MPT_OK(mp_heap_stats(&st));
	MPT_EQ(st.bytes_live, live0);
}

/* ---- death: SIGKILL allocators at random points; the heap stays usable -- */

static int churn_forever(void *arg)
{
	(void)arg;
	for (;;)
		churn_thread((void *)(uintptr_t)getpid());
	return 0;
}

static void test_kill_during_churn(void)
{
	unsigned seed = 12345;
	for (int round = 0; round < 40; round++) {
		mp_process_t *p = mp_process_new(churn_forever, NULL, NULL, 0,
		                                 NULL);
		MPT_OK(mp_process_start(p));
		usleep(1000 + (useconds_t)(rand_r(&seed) % 20000));
		MPT_OK(mp_process_kill(p));
		MPT_OK(mp_process_join(p, TEST_WAIT_NS));
		int code = 0;
		MPT_OK(mp_process_exitcode(p, &code));
		MPT_EQ(code, -SIGKILL);
		mp_process_free(p);
	}
	/* Whatever the dead left half-done, the heap still serves every
	 * class, from this process and from a new child. */
	MPT_EQ((uintptr_t)churn_thread((void *)7), 0);
	MPT_EQ(churn_process(NULL), 0);
	mp_process_t *p = mp_process_new(churn_process, NULL, NULL, 0, NULL);
	MPT_OK(mp_process_start(p));
	MPT_OK(mp_process_join(p, MP_SEC(60)));
	int code = -1;
	MPT_OK(mp_process_exitcode(p, &code));
	MPT_EQ(code, 0);
	mp_process_free(p);
}

int main(void)
{
	static CU_TestInfo tests[] = {
		{ "alloc, free, reuse, alignment", test_basic },
		{ "bad input", test_bad_input },
		{ "large blocks return their pages", test_large_reuse },
		{ "blocks allocated after fork are shared", test_shared_across_fork },
		{ "processes x threads churn", test_concurrent_churn },
		{ "SIGKILL during churn", test_kill_during_churn },
		CU_TEST_INFO_NULL,
	};
	return mpt_main("heap", tests);
}
