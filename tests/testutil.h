/*
 * testutil.h - helpers shared by the CUnit suites.
 *
 * Every cross-process wait has a deadline (TEST_WAIT_NS), so a broken
 * primitive fails a test instead of hanging it; meson's timeout is the last
 * resort.  Assertions print both values.
 */
#ifndef MPROC_TESTUTIL_H
#define MPROC_TESTUTIL_H

#include <CUnit/Basic.h>
#include <dirent.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "internal.h"

#define TEST_WAIT_NS MP_SEC(10)

#define MPT_EQ(a, b)                                                        \
	do {                                                                \
		long long a_ = (long long)(a), b_ = (long long)(b);         \
		char m_[512];                                               \
		snprintf(m_, sizeof(m_), "%s == %s (%lld vs %lld)", #a, #b, \
		         a_, b_);                                           \
		CU_assertImplementation(a_ == b_, __LINE__, m_, __FILE__,   \
		                        __func__, CU_FALSE);                \
	} while (0)

#define MPT_CMP(a, op, b)                                                   \
	do {                                                                \
		long long a_ = (long long)(a), b_ = (long long)(b);         \
		char m_[512];                                               \
		snprintf(m_, sizeof(m_), "%s %s %s (%lld vs %lld)", #a, #op,\
		         #b, a_, b_);                                       \
		CU_assertImplementation(a_ op b_, __LINE__, m_, __FILE__,   \
		                        __func__, CU_FALSE);                \
	} while (0)

/* expr returns >= 0; on failure print the code's name. */
#define MPT_OK(expr)                                                        \
	do {                                                                \
		long long r_ = (long long)(expr);                           \
		char m_[512];                                               \
		snprintf(m_, sizeof(m_), "%s >= 0 (got %lld: %s)", #expr,   \
		         r_, mp_strerror((int)r_));                         \
		CU_assertImplementation(r_ >= 0, __LINE__, m_, __FILE__,    \
		                        __func__, CU_FALSE);                \
	} while (0)

/* expr returns exactly the (negative) code want. */
#define MPT_ERR(expr, want)                                                 \
	do {                                                                \
		long long r_ = (long long)(expr), w_ = (long long)(want);   \
		char m_[512];                                               \
		snprintf(m_, sizeof(m_), "%s == %s (got %lld: %s)", #expr,  \
		         #want, r_, mp_strerror((int)r_));                  \
		CU_assertImplementation(r_ == w_, __LINE__, m_, __FILE__,   \
		                        __func__, CU_FALSE);                \
	} while (0)

/* Loudly note a test that cannot run here (the kernel or a peer lacks a
 * feature); it is not counted as a failure.  A run in which something was
 * skipped and nothing was checked exits with meson's skip code (mpt_main). */
static unsigned mpt_skips;
#define MPT_SKIP(why)                                                       \
	(mpt_skips++,                                                       \
	 fprintf(stderr, "\n*** SKIPPED %s: %s ***\n", __func__, (why)))

/* A one-word flag in shared memory, for making processes take turns. */
static inline void mpt_flag_set(_Atomic uint32_t *f, uint32_t v)
{
	atomic_store_explicit(f, v, memory_order_release);
	mp_sys_futex_wake(f, INT32_MAX);
}

/* Wait until *f == v, at most TEST_WAIT_NS.  0, or -ETIMEDOUT. */
static inline int mpt_flag_wait(_Atomic uint32_t *f, uint32_t v)
{
	int64_t deadline;
	struct timespec ts;
	mp__deadline(TEST_WAIT_NS, &deadline);
	for (;;) {
		uint32_t cur = atomic_load_explicit(f, memory_order_acquire);
		if (cur == v)
			return 0;
		int r = mp_sys_futex_wait(f, cur, mp__deadline_ts(deadline, &ts));
		if (r == -ETIMEDOUT)
			return r;
	}
}

/* How many threads of process pid are asleep in futex(2) on a word in
 * [addr, addr + len): /proc/<pid>/task/<tid>/syscall names the system call
 * a blocked thread is in, and its arguments (the first: the futex word).
 * -errno when /proc cannot tell (reading it needs ptrace rights: our own
 * threads and our children). */
static inline int mpt_futex_sleepers(pid_t pid, const void *addr, size_t len)
{
	char path[96], line[256];
	uintptr_t lo = (uintptr_t)addr, hi = lo + len;
	snprintf(path, sizeof(path), "/proc/%d/task", (int)pid);
	DIR *d = opendir(path);
	if (!d)
		return -errno;
	int n = 0;
	for (struct dirent *e; n >= 0 && (e = readdir(d));) {
		if (e->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "/proc/%d/task/%.16s/syscall",
		         (int)pid, e->d_name);
		FILE *f = fopen(path, "re");
		if (!f) {
			if (errno != ENOENT && errno != ESRCH) /* else: gone */
				n = -errno;
			continue;
		}
		long nr;
		unsigned long word;
		if (fgets(line, sizeof(line), f) &&
		    sscanf(line, "%ld %lx", &nr, &word) == 2 &&
		    nr == SYS_futex && word >= lo && word < hi)
			n++;
		fclose(f);
	}
	closedir(d);
	return n;
}

/* Wait (at most TEST_WAIT_NS) until n threads of the processes pids[0..np)
 * sleep in futex(2) on a word in [addr, addr + len): proof that waiters
 * are blocked in the kernel, not merely about to be (a sleep would only
 * hope so).  0, -ETIMEDOUT, or -errno from /proc. */
static inline int mpt_await_futex_sleepers(const pid_t *pids, int np,
                                           const void *addr, size_t len,
                                           int n)
{
	int64_t end = mp_sys_now_ns() + TEST_WAIT_NS;
	for (;;) {
		int got = 0;
		for (int i = 0; i < np; i++) {
			int k = mpt_futex_sleepers(pids[i], addr, len);
			if (k < 0)
				return k;
			got += k;
		}
		if (got >= n)
			return 0;
		if (mp_sys_now_ns() > end)
			return -ETIMEDOUT;
		usleep(200);
	}
}

/* Zeroed shared memory for a test, inherited by its children. */
static inline void *mpt_shared(size_t len)
{
	int err;
	void *p = mp_sys_map_shared(len, &err);
	if (!p) {
		fprintf(stderr, "mmap: %s\n", mp_strerror(err));
		exit(2);
	}
	return p;
}

/* A queue from the shared heap (the test fails at once if it cannot). */
static inline mp_queue_t *mpt_queue(long maxsize, size_t max_msg, size_t cap,
                                    unsigned flags)
{
	mp_queue_attr_t a = { .maxsize = maxsize, .max_msg = max_msg,
	                      .capacity = cap, .flags = flags };
	int err = 0;
	mp_queue_t *q = mp_queue_new(&a, &err);
	if (!q)
		fprintf(stderr, "mp_queue_new: %s\n", mp_strerror(err));
	CU_ASSERT_PTR_NOT_NULL_FATAL(q);
	return q;
}

/* The child processes of our threads - all, the main one's, or all but
 * the main one's (a pool's supervisor forks its workers; the orphans a
 * subreaper adopts and the children of threads that ended go to the main
 * one) - zombies included, up to cap; how many. */
enum { MPT_ALL_THREADS, MPT_MAIN_THREAD, MPT_OTHER_THREADS };

static inline int mpt_children_of(int which, pid_t *out, int cap)
{
	int n = 0;
	DIR *d = opendir("/proc/self/task");
	for (struct dirent *e; d && (e = readdir(d));) {
		char path[64];
		int pid;
		bool is_main = atoi(e->d_name) == getpid();
		if (e->d_name[0] == '.' ||
		    (which == MPT_MAIN_THREAD && !is_main) ||
		    (which == MPT_OTHER_THREADS && is_main))
			continue;
		snprintf(path, sizeof(path), "/proc/self/task/%.16s/children",
		         e->d_name);
		FILE *f = fopen(path, "re");
		while (f && n < cap && fscanf(f, "%d", &pid) == 1)
			out[n++] = pid;
		if (f)
			fclose(f);
	}
	if (d)
		closedir(d);
	return n;
}

static inline int mpt_children(pid_t *out, int cap)
{
	return mpt_children_of(MPT_ALL_THREADS, out, cap);
}

/* Start fn(arg) in a child process (the test fails at once if it cannot). */
static inline mp_process_t *mpt_start(mp_target_t fn, void *arg)
{
	mp_process_t *p = mp_process_new(fn, arg, NULL, 0, NULL);
	CU_ASSERT_PTR_NOT_NULL_FATAL(p);
	MPT_OK(mp_process_start(p));
	return p;
}

/* Join (60 s at most), free, and return the child's exit code. */
static inline int mpt_finish(mp_process_t *p)
{
	int code = -1000;
	MPT_OK(mp_process_join(p, MP_SEC(60)));
	mp_process_exitcode(p, &code);
	mp_process_free(p);
	return code;
}

/* Run fn in n threads (at most 64), thread i getting (void *)(first + i);
 * returns how many of them returned non-NULL (failed). */
static inline int mpt_threads(int n, void *(*fn)(void *), intptr_t first)
{
	pthread_t t[64];
	int bad = 0;
	if (n > 64)
		n = 64;
	for (int i = 0; i < n; i++)
		if (pthread_create(&t[i], NULL, fn, (void *)(first + i)) != 0)
			return n - i + bad; /* the rest never ran: failures */
	for (int i = 0; i < n; i++) {
		void *r;
		pthread_join(t[i], &r);
		bad += r != NULL;
	}
	return bad;
}

typedef void (*mpt_register_fn)(void);

/* The suite's main: run every registered test; exit 1 on any failure, 77
 * (meson's "skipped") when tests skipped and none checked anything. */
/*
 * The start method a suite runs under: MPT_START_METHOD=forkserver makes it
 * the default (tests/meson.build runs the process and pool suites once per
 * method).  Each target is registered under its own name, then the server
 * is started before any test (and thread) runs.  0 or the error.
 */
struct mpt_target {
	const char *name;
	mp_target_t fn;
};

static bool mpt_forkserver __attribute__((unused));

static inline int mpt_start_method(const struct mpt_target *targets)
{
	const char *m = getenv("MPT_START_METHOD");
	if (!m || !*m || strcmp(m, "fork") == 0)
		return 0;
	int r = mp_set_start_method(m, true);
	if (r < 0)
		return r;
	mpt_forkserver = strcmp(m, "forkserver") == 0;
	for (; targets && targets->name; targets++)
		if ((r = mp_target_register(targets->name, targets->fn)) < 0)
			return r;
	fprintf(stderr, "start method: %s\n", m);
	return mpt_forkserver ? mp_forkserver_start() : 0;
}

static inline int mpt_main(const char *suite, const CU_TestInfo *tests)
{
	CU_SuiteInfo suites[] = {
		{ (char *)suite, NULL, NULL, NULL, NULL, (CU_TestInfo *)tests },
		CU_SUITE_INFO_NULL,
	};
	/* Orphaned grandchildren come back to us, so they can be reaped and
	 * their fate checked. */
	prctl(PR_SET_CHILD_SUBREAPER, 1);
	if (CU_initialize_registry() != CUE_SUCCESS)
		return 2;
	if (CU_register_suites(suites) != CUE_SUCCESS)
		return 2;
	/* MPT_ONLY=text: run only the tests whose name contains it (none
	 * matching fails, so a typo does not pass).  MPT_EXCLUDE=text: leave
	 * out those whose name contains it (tests/meson.build runs the
	 * interop tests on their own that way). */
	const char *only = getenv("MPT_ONLY"), *exclude = getenv("MPT_EXCLUDE");
	bool filter = (only && *only) || (exclude && *exclude);
	CU_pSuite s = filter ? CU_get_suite(suite) : NULL;
	if (s) {
		CU_set_fail_on_inactive(CU_FALSE);
		for (CU_pTest t = s->pTest; t; t = t->pNext) {
			bool in = !(only && *only) || strstr(t->pName, only);
			if (exclude && *exclude && strstr(t->pName, exclude))
				in = false;
			CU_set_test_active(t, in ? CU_TRUE : CU_FALSE);
		}
	}
	CU_basic_set_mode(CU_BRM_VERBOSE);
	CU_basic_run_tests();
	unsigned fails = CU_get_number_of_failures();
	unsigned run = CU_get_number_of_tests_run();
	unsigned asserts = CU_get_number_of_asserts();
	CU_cleanup_registry();
	if (fails || run == 0)
		return 1;
	/* Skipped and checked nothing: say so to meson, which would count a
	 * pass (a partly skipped run made assertions and passes). */
	return mpt_skips && asserts == 0 ? 77 : 0;
}

#endif
