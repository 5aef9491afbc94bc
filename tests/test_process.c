/* test_process.c - Process: exit codes, signals, joins, daemons, misuse. */
#include "testutil.h"

#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

/* Shared between the test and its children (mapped before any fork). */
struct shared {
	_Atomic uint32_t go;       /* children block until it is set */
	_Atomic uint32_t ready;    /* ... and count themselves in here */
	_Atomic int32_t pid;       /* a grandchild's pid, published */
	_Atomic uint32_t value;
	_Atomic int32_t late;      /* what a start during exit returned */
	char text[256];
};
static struct shared *sh;

static void reset_shared(void)
{
	memset(sh, 0, sizeof(*sh));
}

static int ret_arg(void *arg)
{
	return (int)(intptr_t)arg;
}

static int wait_go(void *arg)
{
	(void)arg;
	atomic_fetch_add(&sh->ready, 1);
	mp_sys_futex_wake(&sh->ready, INT32_MAX);
	return mpt_flag_wait(&sh->go, 1) == 0 ? 0 : 99;
}

static int sleep_forever(void *arg)
{
	(void)arg;
	atomic_fetch_add(&sh->ready, 1);
	mp_sys_futex_wake(&sh->ready, INT32_MAX);
	for (;;)
		pause();
	return 0;
}

/* Wait until n children have counted themselves in sh->ready. */
static int wait_ready(uint32_t n)
{
	int64_t end = mp_sys_now_ns() + TEST_WAIT_NS;
	uint32_t v;
	while ((v = atomic_load(&sh->ready)) < n) {
		struct timespec ts;
		mp_sys_ns_to_timespec(end, &ts);
		if (mp_sys_futex_wait(&sh->ready, v, &ts) == -ETIMEDOUT)
			return -ETIMEDOUT;
	}
	return 0;
}

static mp_process_t *started(mp_target_t fn, void *arg, unsigned flags)
{
	int err = 0;
	mp_process_t *p = mp_process_new(fn, arg, NULL, flags, &err);
	CU_ASSERT_PTR_NOT_NULL_FATAL(p);
	MPT_OK(mp_process_start(p));
	return p;
}

static int exitcode_of(mp_process_t *p)
{
	int code = -1000;
	int r = mp_process_exitcode(p, &code);
	return r < 0 ? r : code;
}

static void test_exit_codes(void)
{
	int values[] = { 0, 1, 7, 255, 256 + 3, -1 };
	int want[] = { 0, 1, 7, 255, 3, 255 };
	for (size_t i = 0; i < sizeof(values) / sizeof(values[0]); i++) {
		mp_process_t *p = started(ret_arg, (void *)(intptr_t)values[i], 0);
		MPT_OK(mp_process_join(p, TEST_WAIT_NS));
		MPT_EQ(exitcode_of(p), want[i]);
		MPT_EQ(mp_process_is_alive(p), 0);
		MPT_CMP(mp_process_pid(p), >, 0);
		MPT_OK(mp_process_free(p));
	}
}

static void test_signals(void)
{
	reset_shared();
	mp_process_t *t = started(sleep_forever, NULL, 0);
	mp_process_t *k = started(sleep_forever, NULL, 0);
	MPT_OK(wait_ready(2));
	MPT_ERR(mp_process_exitcode(t, &(int){0}), -EAGAIN);
	MPT_OK(mp_process_terminate(t));
	MPT_OK(mp_process_kill(k));
	MPT_OK(mp_process_join(t, TEST_WAIT_NS));
	MPT_OK(mp_process_join(k, TEST_WAIT_NS));
	MPT_EQ(exitcode_of(t), -SIGTERM);
	MPT_EQ(exitcode_of(k), -SIGKILL);
	/* Signalling a finished (reaped) child is harmless. */
	MPT_OK(mp_process_terminate(t));
	MPT_OK(mp_process_kill(k));
	mp_process_free(t);
	mp_process_free(k);
}

static void test_join_timeout_and_is_alive(void)
{
	reset_shared();
	int err;
	mp_process_t *p = mp_process_new(wait_go, NULL, NULL, 0, &err);
	MPT_EQ(mp_process_is_alive(p), 0); /* not started */
	MPT_OK(mp_process_start(p));
	MPT_OK(wait_ready(1));
	MPT_EQ(mp_process_is_alive(p), 1);
	MPT_ERR(mp_process_join(p, 0), -EAGAIN);
	int64_t t0 = mp_sys_now_ns();
	MPT_ERR(mp_process_join(p, MP_MSEC(50)), -ETIMEDOUT);
	MPT_CMP(mp_sys_now_ns() - t0, >=, MP_MSEC(50));
	MPT_EQ(mp_process_is_alive(p), 1);
	mpt_flag_set(&sh->go, 1);
	MPT_OK(mp_process_join(p, MP_FOREVER));
	MPT_EQ(mp_process_is_alive(p), 0);
	MPT_EQ(exitcode_of(p), 0);
	MPT_OK(mp_process_join(p, 0)); /* already joined: at once */
	mp_process_free(p);
}

static void test_sentinel(void)
{
	reset_shared();
	mp_process_t *p = started(wait_go, NULL, 0);
	int fd = mp_process_sentinel(p);
	MPT_CMP(fd, >=, 0);
	MPT_OK(wait_ready(1));
	struct timespec now = { 0 }, ts;
	MPT_EQ(mp_sys_poll_one(fd, POLLIN, &now), 0);
	mpt_flag_set(&sh->go, 1);
	mp_sys_ns_to_timespec(mp_sys_now_ns() + TEST_WAIT_NS, &ts);
	MPT_CMP(mp_sys_poll_one(fd, POLLIN, &ts) & POLLIN, !=, 0);
	/* Readable before being reaped; still valid after. */
	MPT_OK(mp_process_join(p, TEST_WAIT_NS));
	MPT_EQ(mp_process_sentinel(p), fd);
	MPT_OK(mp_process_close(p));
	MPT_ERR(mp_process_sentinel(p), -MP_ECLOSED);
	mp_process_free(p);
}

static void test_active_children(void)
{
	reset_shared();
	mp_process_t *out[8];
	int before = mp_active_children(NULL, 0);
	MPT_EQ(before, 0);
	mp_process_t *a = started(wait_go, NULL, 0);
	mp_process_t *b = started(wait_go, NULL, 0);
	mp_process_t *c = started(ret_arg, (void *)5, 0);
	MPT_OK(wait_ready(2));
	MPT_OK(mp_process_join(c, TEST_WAIT_NS));
	int n = mp_active_children(out, 8);
	MPT_EQ(n, 2);
	bool seen_a = false, seen_b = false;
	for (int i = 0; i < n && i < 8; i++) {
		seen_a |= out[i] == a;
		seen_b |= out[i] == b;
	}
	CU_ASSERT(seen_a && seen_b);
	MPT_EQ(mp_active_children(out, 1), 2); /* count beyond cap */
	MPT_ERR(mp_active_children(NULL, 3), -EINVAL);
	mpt_flag_set(&sh->go, 1);
	/* Finished children are reaped by active_children itself. */
	struct timespec ts;
	mp_sys_ns_to_timespec(mp_sys_now_ns() + TEST_WAIT_NS, &ts);
	mp_sys_poll_one(mp_process_sentinel(a), POLLIN, &ts);
	mp_sys_poll_one(mp_process_sentinel(b), POLLIN, &ts);
	MPT_EQ(mp_active_children(out, 8), 0);
	MPT_EQ(exitcode_of(a), 0);
	MPT_EQ(exitcode_of(b), 0);
	mp_process_free(a);
	mp_process_free(b);
	mp_process_free(c);
}

/* ---- names and identity ------------------------------------------------ */

static int report_identity(void *arg)
{
	(void)arg;
	mp_process_t *me = mp_current_process(), *parent = mp_parent_process();
	if (!parent)
		return 10;
	if (mp_process_pid(me) != getpid() || mp_process_pid(parent) != getppid())
		return 11;
	if (strcmp(mp_process_name(parent), "MainProcess") != 0)
		return 12;
	if (mp_process_is_alive(parent) != 1 || mp_process_is_alive(me) != 1)
		return 13;
	if (mp_process_join(me, 0) != -EDEADLK)
		return 14;
	if (mp_process_join(parent, MP_MSEC(10)) != -ETIMEDOUT)
		return 15;
	/* A child's children are named below it: "<its ident>:1". */
	mp_process_t *g = mp_process_new(ret_arg, NULL, NULL, 0, NULL);
	snprintf(sh->text, sizeof(sh->text), "%s|%s", mp_process_name(me),
	         mp_process_name(g));
	mp_process_free(g);
	return 0;
}

static void test_names(void)
{
	reset_shared();
	CU_ASSERT_STRING_EQUAL(mp_process_name(mp_current_process()),
	                       "MainProcess");
	CU_ASSERT_PTR_NULL(mp_parent_process());
	mp_process_t *a = mp_process_new(ret_arg, NULL, NULL, 0, NULL);
	mp_process_t *b = mp_process_new(report_identity, NULL, NULL, 0, NULL);
	unsigned na = 0, nb = 0;
	CU_ASSERT_FATAL(sscanf(mp_process_name(a), "Process-%u", &na) == 1);
	CU_ASSERT_FATAL(sscanf(mp_process_name(b), "Process-%u", &nb) == 1);
	MPT_EQ(nb, na + 1);
	MPT_OK(mp_process_start(b));
	MPT_OK(mp_process_join(b, TEST_WAIT_NS));
	MPT_EQ(exitcode_of(b), 0);
	char want[256];
	snprintf(want, sizeof(want), "Process-%u|Process-%u:1", nb, nb);
	CU_ASSERT_STRING_EQUAL(sh->text, want);

	MPT_OK(mp_process_set_name(a, "worker"));
	CU_ASSERT_STRING_EQUAL(mp_process_name(a), "worker");
	mp_process_t *c = mp_process_new(ret_arg, NULL, "named", 0, NULL);
	CU_ASSERT_STRING_EQUAL(mp_process_name(c), "named");
	char longname[400];
	memset(longname, 'x', sizeof(longname) - 1);
	longname[sizeof(longname) - 1] = 0;
	MPT_ERR(mp_process_set_name(a, longname), -EINVAL);
	int err = 0;
	CU_ASSERT_PTR_NULL(mp_process_new(ret_arg, NULL, longname, 0, &err));
	MPT_ERR(err, -EINVAL);
	mp_process_free(a);
	mp_process_free(b);
	mp_process_free(c);
}

static int count_calls(void *arg)
{
	int *n = arg;
	(*n)++;
	return getpid();
}

/* run() executes the target in the caller: its side effects are ours. */
static void test_run(void)
{
	int calls = 0;
	mp_process_t *p = mp_process_new(count_calls, &calls, NULL, 0, NULL);
	MPT_EQ(mp_process_run(p), getpid());
	MPT_EQ(mp_process_run(p), getpid());
	MPT_EQ(calls, 2);
	MPT_EQ(mp_process_is_alive(p), 0);
	MPT_OK(mp_process_start(p));
	MPT_OK(mp_process_join(p, TEST_WAIT_NS));
	MPT_EQ(calls, 2); /* the child's increment stayed in the child */
	mp_process_free(p);
}

/* ---- daemons ------------------------------------------------------------ */

static int start_daemon_then_wait(void *arg)
{
	(void)arg;
	mp_process_t *d = mp_process_new(sleep_forever, NULL, NULL,
	                                 MP_PROCESS_DAEMON, NULL);
	if (!d || mp_process_start(d) < 0)
		return 20;
	atomic_store(&sh->pid, mp_process_pid(d));
	mpt_flag_set(&sh->value, 1);
	/* Returning ends this process normally: the daemon must go too. */
	return mpt_flag_wait(&sh->go, 1) == 0 ? 0 : 21;
}

/* The pid published by the middle process, as a pidfd of our own. */
static int grandchild_pidfd(void)
{
	if (mpt_flag_wait(&sh->value, 1) < 0)
		return -ETIMEDOUT;
	return mp_sys_pidfd_open(atomic_load(&sh->pid), 0);
}

static bool dies_within(int pidfd, int64_t ns)
{
	struct timespec ts;
	mp_sys_ns_to_timespec(mp_sys_now_ns() + ns, &ts);
	return mp_sys_poll_one(pidfd, POLLIN, &ts) > 0;
}

static void test_daemon_dies_when_parent_exits(void)
{
	reset_shared();
	mp_process_t *mid = started(start_daemon_then_wait, NULL, 0);
	int d = grandchild_pidfd();
	MPT_CMP(d, >=, 0);
	struct timespec now = { 0 };
	MPT_EQ(mp_sys_poll_one(d, POLLIN, &now), 0); /* alive */
	mpt_flag_set(&sh->go, 1);
	MPT_OK(mp_process_join(mid, TEST_WAIT_NS));
	MPT_EQ(exitcode_of(mid), 0);
	CU_ASSERT(dies_within(d, TEST_WAIT_NS));
	close(d);
	mp_process_free(mid);
}

static void test_daemon_dies_when_parent_killed(void)
{
	reset_shared();
	mp_process_t *mid = started(start_daemon_then_wait, NULL, 0);
	int d = grandchild_pidfd();
	MPT_CMP(d, >=, 0);
	MPT_OK(mp_process_kill(mid));
	MPT_OK(mp_process_join(mid, TEST_WAIT_NS));
	MPT_EQ(exitcode_of(mid), -SIGKILL);
	CU_ASSERT(dies_within(d, TEST_WAIT_NS));
	/* We are the subreaper: the orphan is ours to reap. */
	int code = 0;
	MPT_EQ(mp_sys_pidfd_reap(d, true, &code), 1);
	MPT_EQ(code, -SIGKILL);
	close(d);
	mp_process_free(mid);
}

static int start_child_then_return(void *arg)
{
	(void)arg;
	mp_process_t *c = mp_process_new(wait_go, NULL, NULL, 0, NULL);
	if (!c || mp_process_start(c) < 0)
		return 20;
	atomic_store(&sh->pid, mp_process_pid(c));
	mpt_flag_set(&sh->value, 1);
	return 0; /* ... and the exit waits for c, as in Python */
}

static void test_exit_joins_children(void)
{
	reset_shared();
	mp_process_t *mid = started(start_child_then_return, NULL, 0);
	int c = grandchild_pidfd();
	MPT_CMP(c, >=, 0);
	MPT_ERR(mp_process_join(mid, MP_MSEC(100)), -ETIMEDOUT);
	mpt_flag_set(&sh->go, 1);
	MPT_OK(mp_process_join(mid, TEST_WAIT_NS));
	MPT_EQ(exitcode_of(mid), 0);
	CU_ASSERT(dies_within(c, 0));
	close(c);
	mp_process_free(mid);
}

static int sleep_200ms(void *arg)
{
	(void)arg;
	usleep(200000);
	return 0;
}

static void *start_late(void *arg)
{
	(void)arg;
	usleep(50000); /* by now the main thread is in its exit, joining */
	mp_process_t *y = mp_process_new(ret_arg, NULL, NULL, 0, NULL);
	atomic_store(&sh->late, y ? mp_process_start(y) : -ENOMEM);
	return NULL;
}

/* Returns at once: its exit joins the 200 ms child while a thread tries
 * to start another. */
static int exit_while_a_thread_starts(void *arg)
{
	(void)arg;
	mp_process_t *x = mp_process_new(sleep_200ms, NULL, NULL, 0, NULL);
	pthread_t t;
	if (!x || mp_process_start(x) < 0 ||
	    pthread_create(&t, NULL, start_late, NULL) != 0)
		return 9;
	return 0;
}

/* Once a process has begun to exit, none of its threads starts a child:
 * the exit is terminating and joining its children, and one started then
 * would outlive it, unjoined (a pool's supervisor starting workers, say). */
static void test_no_start_while_exiting(void)
{
	reset_shared();
	atomic_store(&sh->late, 1);
	mp_process_t *p = started(exit_while_a_thread_starts, NULL, 0);
	MPT_OK(mp_process_join(p, TEST_WAIT_NS));
	MPT_EQ(exitcode_of(p), 0);
	MPT_EQ(atomic_load(&sh->late), -ECANCELED);
	mp_process_free(p);
	while (waitpid(-1, NULL, WNOHANG) > 0) /* one that started: ours */
		;
}

static int daemon_tries_child(void *arg)
{
	(void)arg;
	mp_process_t *c = mp_process_new(ret_arg, NULL, NULL, 0, NULL);
	int r = mp_process_start(c);
	mp_process_free(c);
	return r == -MP_EDAEMONIC ? 0 : 30;
}

static void test_daemon_flag(void)
{
	mp_process_t *p = mp_process_new(daemon_tries_child, NULL, NULL, 0, NULL);
	MPT_EQ(mp_process_daemon(p), 0);
	MPT_OK(mp_process_set_daemon(p, true));
	MPT_EQ(mp_process_daemon(p), 1);
	MPT_OK(mp_process_start(p));
	MPT_ERR(mp_process_set_daemon(p, false), -MP_ESTARTED);
	MPT_OK(mp_process_join(p, TEST_WAIT_NS));
	MPT_EQ(exitcode_of(p), 0);
	mp_process_free(p);
}

/* ---- misuse --------------------------------------------------------------- */

static mp_process_t *sibling;

static int join_sibling(void *arg)
{
	(void)arg;
	/* An inherited copy of an object made by our parent. */
	if (mp_process_join(sibling, 0) != -ECHILD)
		return 40;
	if (mp_process_kill(sibling) != -ECHILD)
		return 41;
	if (mp_process_start(sibling) != -MP_ESTARTED &&
	    mp_process_start(sibling) != -ECHILD)
		return 42;
	return 0;
}

static void test_bad_use(void)
{
	int err = 0;
	reset_shared();
	CU_ASSERT_PTR_NULL(mp_process_new(NULL, NULL, NULL, 0, &err));
	MPT_ERR(err, -EINVAL);
	CU_ASSERT_PTR_NULL(mp_process_new(ret_arg, NULL, NULL, 0x80, &err));
	MPT_ERR(err, -EINVAL);

	mp_process_t *p = mp_process_new(wait_go, NULL, NULL, 0, NULL);
	MPT_ERR(mp_process_join(p, 0), -MP_ENOTSTARTED);
	MPT_ERR(mp_process_terminate(p), -MP_ENOTSTARTED);
	MPT_ERR(mp_process_exitcode(p, &(int){0}), -MP_ENOTSTARTED);
	MPT_ERR(mp_process_sentinel(p), -MP_ENOTSTARTED);
	MPT_EQ(mp_process_pid(p), 0);
	MPT_OK(mp_process_start(p));
	MPT_ERR(mp_process_start(p), -MP_ESTARTED);
	MPT_ERR(mp_process_join(p, -5), -EINVAL);
	MPT_ERR(mp_process_close(p), -EBUSY);
	MPT_ERR(mp_process_free(p), -EBUSY);

	/* An inherited copy of an object exists only with fork: the server
	 * was forked before p was made. */
	mp_process_t *q = NULL;
	if (!mpt_forkserver) {
		sibling = p;
		q = started(join_sibling, NULL, 0);
		MPT_OK(mp_process_join(q, TEST_WAIT_NS));
		MPT_EQ(exitcode_of(q), 0);
	}

	mpt_flag_set(&sh->go, 1);
	MPT_OK(mp_process_join(p, TEST_WAIT_NS));
	MPT_OK(mp_process_close(p));
	MPT_OK(mp_process_close(p));
	MPT_ERR(mp_process_join(p, 0), -MP_ECLOSED);
	MPT_ERR(mp_process_is_alive(p), -MP_ECLOSED);
	MPT_ERR(mp_process_kill(p), -MP_ECLOSED);
	MPT_ERR(mp_process_exitcode(p, &(int){0}), -MP_ECLOSED);
	MPT_ERR(mp_process_start(p), -MP_ECLOSED);
	MPT_ERR(mp_process_run(p), -MP_ECLOSED);
	MPT_OK(mp_process_free(p));
	mp_process_free(q);

	mp_process_t *self = mp_current_process();
	MPT_ERR(mp_process_join(self, 0), -EDEADLK);
	MPT_ERR(mp_process_start(self), -MP_ESTARTED);
	MPT_ERR(mp_process_kill(self), -EINVAL);
	MPT_ERR(mp_process_close(self), -EINVAL);
	MPT_ERR(mp_process_free(self), -EINVAL);
	MPT_ERR(mp_process_sentinel(self), -EINVAL);
	MPT_EQ(mp_process_is_alive(self), 1);

	MPT_ERR(mp_process_start(NULL), -EINVAL);
	MPT_ERR(mp_process_join(NULL, 0), -EINVAL);
	MPT_ERR(mp_process_is_alive(NULL), -EINVAL);
	MPT_ERR(mp_process_kill(NULL), -EINVAL);
	MPT_ERR(mp_process_exitcode(NULL, &err), -EINVAL);
	MPT_ERR(mp_process_set_name(NULL, "x"), -EINVAL);
	MPT_OK(mp_process_free(NULL));
	CU_ASSERT_STRING_EQUAL(mp_strerror(-MP_ESTARTED), "process already started");
	CU_ASSERT_STRING_EQUAL(mp_strerror(-MP_ENOTSTARTED), "process not started");
	CU_ASSERT_PTR_NOT_NULL(mp_strerror(-123456));
}

/* ---- threads ------------------------------------------------------------ */

static void *join_in_thread(void *arg)
{
	return (void *)(intptr_t)mp_process_join(arg, TEST_WAIT_NS);
}

static void test_concurrent_joins(void)
{
	reset_shared();
	mp_process_t *p = started(wait_go, NULL, 0);
	pthread_t t[4];
	for (int i = 0; i < 4; i++)
		pthread_create(&t[i], NULL, join_in_thread, p);
	MPT_OK(wait_ready(1));
	mpt_flag_set(&sh->go, 1);
	for (int i = 0; i < 4; i++) {
		void *r;
		pthread_join(t[i], &r);
		MPT_EQ((intptr_t)r, 0);
	}
	MPT_EQ(exitcode_of(p), 0);
	mp_process_free(p);
}

static int report_cpus(void *arg)
{
	(void)arg;
	cpu_set_t one;
	CPU_ZERO(&one);
	CPU_SET(0, &one);
	if (sched_setaffinity(0, sizeof(one), &one) < 0)
		return 50;
	return mp_cpu_count();
}

static void test_cpu_count(void)
{
	cpu_set_t set;
	sched_getaffinity(0, sizeof(set), &set);
	MPT_EQ(mp_cpu_count(), CPU_COUNT(&set));
	mp_process_t *p = started(report_cpus, NULL, 0);
	MPT_OK(mp_process_join(p, TEST_WAIT_NS));
	MPT_EQ(exitcode_of(p), 1); /* affinity-aware */
	mp_process_free(p);
}

#define TARGET(fn) { #fn, fn }
static const struct mpt_target targets[] = {
	TARGET(ret_arg), TARGET(wait_go), TARGET(sleep_forever),
	TARGET(report_identity), TARGET(count_calls),
	TARGET(start_daemon_then_wait), TARGET(start_child_then_return),
	TARGET(daemon_tries_child), TARGET(join_sibling), TARGET(report_cpus),
	TARGET(exit_while_a_thread_starts), TARGET(sleep_200ms),
	{ NULL, NULL },
};

int main(void)
{
	sh = mpt_shared(sizeof(*sh));
	if (mpt_start_method(targets) < 0)
		return 1;
	static CU_TestInfo tests[] = {
		{ "exit codes", test_exit_codes },
		{ "terminate and kill", test_signals },
		{ "join timeout, is_alive", test_join_timeout_and_is_alive },
		{ "sentinel", test_sentinel },
		{ "active_children", test_active_children },
		{ "names, current and parent", test_names },
		{ "run in the caller", test_run },
		{ "daemon dies when parent exits", test_daemon_dies_when_parent_exits },
		{ "daemon dies when parent killed", test_daemon_dies_when_parent_killed },
		{ "exit joins non-daemonic children", test_exit_joins_children },
		{ "no start while exiting", test_no_start_while_exiting },
		{ "daemon flag, no children for daemons", test_daemon_flag },
		{ "bad use", test_bad_use },
		{ "concurrent joins", test_concurrent_joins },
		{ "cpu_count", test_cpu_count },
		CU_TEST_INFO_NULL,
	};
	return mpt_main("process", tests);
}
