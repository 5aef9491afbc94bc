/* test_pool.c - Pool: every call, callbacks, chunks, sandboxes, limits, and
 * workers killed or crashing at any moment. */
#include "testutil.h"

#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <seccomp.h>

struct shared {
	_Atomic int32_t pids[64];
	_Atomic uint32_t runs[200];  /* test_map_worker_killed */
	_Atomic uint32_t execs[4096]; /* test_idle_kills */
	_Atomic uint32_t started, go;
	_Atomic int64_t t_start[4], t_end[4];
};
static struct shared *sh;

static bool under_sanitizer(const char *what)
{
#if defined(__SANITIZE_ADDRESS__)
	MPT_SKIP(what);
	return true;
#else
	(void)what;
	return false;
#endif
}
static int init_value; /* set in workers by the initializer */

static mp_pool_t *pool_with(int procs, int sandbox)
{
	mp_pool_attr_t a = { .processes = procs, .sandbox = sandbox };
	int err = 0;
	mp_pool_t *p = mp_pool_new(&a, &err);
	if (!p)
		fprintf(stderr, "mp_pool_new: %s\n", mp_strerror(err));
	CU_ASSERT_PTR_NOT_NULL_FATAL(p);
	return p;
}

/* In a child process: no CUnit there (a forkserver child is a copy of the
 * server, which runs no test). */
static mp_pool_t *child_pool(int procs, int sandbox)
{
	mp_pool_attr_t a = { .processes = procs, .sandbox = sandbox };
	return mp_pool_new(&a, NULL);
}

/* ---- tasks ------------------------------------------------------------------ */

static int echo_upper(const void *in, size_t len, mp_out_t *out)
{
	char *o = mp_out_alloc(out, len);
	if (!o && len)
		return -ENOMEM;
	for (size_t i = 0; i < len; i++) {
		char c = ((const char *)in)[i];
		o[i] = c >= 'a' && c <= 'z' ? c - 32 : c;
	}
	return 0;
}

static int fail_task(const void *in, size_t len, mp_out_t *out)
{
	(void)in, (void)len, (void)out;
	return -EDOM;
}

static int my_pid(const void *in, size_t len, mp_out_t *out)
{
	(void)in, (void)len;
	int32_t pid = getpid();
	return mp_out_write(out, &pid, sizeof(pid));
}

static int plus_one(const void *in, void *out)
{
	*(int *)out = *(const int *)in + 1;
	return 0;
}

static int odd_fails(const void *in, void *out)
{
	int x = *(const int *)in;
	*(int *)out = x * 2;
	return x % 2 ? -ERANGE : 0;
}

struct pair {
	int a, b;
};

static int add_pair(const void *in, void *out)
{
	const struct pair *p = in;
	*(int *)out = p->a + p->b;
	return 0;
}

static int slow_elem(const void *in, void *out)
{
	usleep((useconds_t)*(const int *)in * 1000);
	*(int *)out = *(const int *)in;
	return 0;
}

/* ---- apply, apply_async, callbacks ------------------------------------------ */

static void test_apply(void)
{
	mp_pool_t *p = pool_with(2, MP_SANDBOX_COMPUTE);
	MPT_EQ(mp_pool_processes(p), 2);
	void *out = NULL;
	size_t len = 0;
	MPT_OK(mp_pool_apply(p, echo_upper, "hello", 5, &out, &len));
	MPT_EQ(len, 5);
	CU_ASSERT(out && memcmp(out, "HELLO", 5) == 0);
	free(out);
	MPT_ERR(mp_pool_apply(p, fail_task, NULL, 0, &out, &len), -EDOM);
	/* Empty input and output. */
	MPT_OK(mp_pool_apply(p, echo_upper, NULL, 0, &out, &len));
	MPT_EQ(len, 0);
	CU_ASSERT_PTR_NULL(out);

	int err = 0;
	mp_result_t *r = mp_pool_apply_async(p, my_pid, NULL, 0, NULL, NULL,
	                                     NULL, &err);
	CU_ASSERT_PTR_NOT_NULL_FATAL(r);
	MPT_OK(mp_result_wait(r, TEST_WAIT_NS));
	MPT_EQ(mp_result_ready(r), 1);
	MPT_EQ(mp_result_successful(r), 1);
	MPT_OK(mp_result_get(r, 0, &out, &len));
	MPT_EQ(len, 4);
	CU_ASSERT(*(int32_t *)out != getpid());
	free(out);
	MPT_OK(mp_result_free(r));
	MPT_OK(mp_pool_free(p));
}

struct cbs {
	mp_event_t done;
	_Atomic int ok, failed;
};

static void on_ok(mp_result_t *r, void *arg)
{
	struct cbs *c = arg;
	void *out = NULL;
	size_t len;
	if (mp_result_get(r, 0, &out, &len) == 0)
		atomic_fetch_add(&c->ok, 1);
	free(out);
	if (atomic_load(&c->ok) + atomic_load(&c->failed) == 3)
		mp_event_set(&c->done);
}

static void on_error(mp_result_t *r, void *arg)
{
	struct cbs *c = arg;
	if (mp_result_get(r, 0, NULL, NULL) == -EDOM &&
	    mp_result_successful(r) == 0)
		atomic_fetch_add(&c->failed, 1);
	if (atomic_load(&c->ok) + atomic_load(&c->failed) == 3)
		mp_event_set(&c->done);
}

static void test_callbacks(void)
{
	mp_pool_t *p = pool_with(2, MP_SANDBOX_COMPUTE);
	struct cbs c = { 0 };
	mp_event_init(&c.done);
	mp_result_t *r[3];
	r[0] = mp_pool_apply_async(p, echo_upper, "a", 1, on_ok, on_error, &c,
	                           NULL);
	r[1] = mp_pool_apply_async(p, fail_task, NULL, 0, on_ok, on_error, &c,
	                           NULL);
	r[2] = mp_pool_apply_async(p, echo_upper, "b", 1, on_ok, on_error, &c,
	                           NULL);
	/* Nobody calls get: the supervisor collects the results and runs the
	 * callbacks. */
	MPT_EQ(mp_event_wait(&c.done, TEST_WAIT_NS), 1);
	MPT_EQ(atomic_load(&c.ok), 2);
	MPT_EQ(atomic_load(&c.failed), 1);
	for (int i = 0; i < 3; i++)
		mp_result_free(r[i]);
	/* A result freed before it is ready is simply dropped. */
	mp_result_free(mp_pool_apply_async(p, my_pid, NULL, 0, NULL, NULL, NULL,
	                                   NULL));
	MPT_OK(mp_pool_free(p));
}

/* ---- map, starmap, chunks --------------------------------------------------- */

static void test_map(void)
{
	mp_pool_t *p = pool_with(2, MP_SANDBOX_COMPUTE);
	enum { N = 10007 };
	static int in[N], out[N], st[N];
	for (int i = 0; i < N; i++)
		in[i] = i;
	size_t chunks[] = { 0, 1, 7, N, N * 3 };
	for (size_t c = 0; c < sizeof(chunks) / sizeof(chunks[0]); c++) {
		memset(out, 0, sizeof(out));
		MPT_OK(mp_pool_map(p, plus_one, in, sizeof(int), N, out,
		                   sizeof(int), NULL, chunks[c]));
		int bad = 0;
		for (int i = 0; i < N; i++)
			bad += out[i] != i + 1;
		MPT_EQ(bad, 0);
	}
	/* 0 items, 1 item. */
	MPT_OK(mp_pool_map(p, plus_one, NULL, sizeof(int), 0, NULL,
	                   sizeof(int), NULL, 0));
	MPT_OK(mp_pool_map(p, plus_one, in, sizeof(int), 1, out, sizeof(int),
	                   NULL, 0));
	MPT_EQ(out[0], 1);
	/* Per-element errors: the first failing element's error, every
	 * element's status. */
	MPT_ERR(mp_pool_map(p, odd_fails, in, sizeof(int), 100, out,
	                    sizeof(int), st, 3), -ERANGE);
	for (int i = 0; i < 100; i++)
		MPT_EQ(st[i], i % 2 ? -ERANGE : 0);
	MPT_EQ(out[10], 20);
	/* starmap: the argument tuple is a struct. */
	struct pair pairs[50];
	for (int i = 0; i < 50; i++)
		pairs[i] = (struct pair){ i, 100 * i };
	MPT_OK(mp_pool_starmap(p, add_pair, pairs, sizeof(pairs[0]), 50, out,
	                       sizeof(int), NULL, 0));
	for (int i = 0; i < 50; i++)
		MPT_EQ(out[i], 101 * i);
	int err = 0;
	mp_result_t *r = mp_pool_map_async(p, plus_one, in, sizeof(int), 500,
	                                   out, sizeof(int), NULL, 0, NULL, NULL,
	                                   NULL, &err);
	MPT_OK(mp_result_get(r, TEST_WAIT_NS, NULL, NULL));
	MPT_EQ(out[499], 500);
	mp_result_free(r);
	MPT_OK(mp_pool_free(p));
}

/*
 * Elements of every shape: outputs larger and smaller than inputs, odd
 * sizes, sizes past a page.  An input starts with its own size and the
 * output's (16 bits each: a forkserver's workers cannot see globals set
 * now).  shape_fn fills its whole output before it reads the rest of its
 * input, so it would see garbage if the two overlapped, and fails some
 * elements, whose status must stay put too.
 */
static size_t shape_size(const unsigned char *in, int which)
{
	return (size_t)in[2 * which] | (size_t)in[2 * which + 1] << 8;
}

static int shape_fn(const void *in, void *out)
{
	const unsigned char *i = in;
	size_t in_size = shape_size(i, 0), out_size = shape_size(i, 1);
	memset(out, 0xA5, out_size);
	unsigned sum = 0;
	for (size_t k = 4; k < in_size; k++)
		sum = sum * 31 + i[k];
	unsigned char *o = out;
	for (size_t k = 0; k < out_size; k++)
		o[k] = (unsigned char)(sum + k);
	return sum % 7 == 3 ? -EDOM : 0;
}

static void check_shape(size_t in_size, size_t out_size)
{
	enum { N = 301 };
	unsigned char *in = malloc(N * in_size), *out = malloc(N * out_size);
	int *st = malloc(N * sizeof(int));
	CU_ASSERT_FATAL(in && out && st);
	for (size_t i = 0; i < N * in_size; i++)
		in[i] = (unsigned char)(i * 7 + i / in_size);
	for (size_t i = 0; i < N; i++) {
		unsigned char *e = in + i * in_size;
		e[0] = (unsigned char)in_size;
		e[1] = (unsigned char)(in_size >> 8);
		e[2] = (unsigned char)out_size;
		e[3] = (unsigned char)(out_size >> 8);
	}
	mp_pool_t *p = pool_with(2, MP_SANDBOX_COMPUTE);
	size_t chunks[] = { 0, 1, 7, N };
	for (size_t c = 0; c < sizeof(chunks) / sizeof(chunks[0]); c++) {
		memset(out, 0, N * out_size);
		int r = mp_pool_map(p, shape_fn, in, in_size, N, out, out_size,
		                    st, chunks[c]);
		int bad = 0, want_err = 0;
		for (size_t i = 0; i < N; i++) {
			unsigned char want[8192];
			int s = shape_fn(in + i * in_size, want);
			if (s && !want_err)
				want_err = s;
			bad += st[i] != s;
			bad += s == 0 && memcmp(out + i * out_size, want,
			                        out_size) != 0;
		}
		MPT_EQ(bad, 0);
		MPT_EQ(r, want_err);
	}
	MPT_OK(mp_pool_free(p));
	free(in);
	free(out);
	free(st);
}

static void test_map_shapes(void)
{
	size_t shapes[][2] = { { 4, 4 }, { 12, 40 }, { 40, 12 }, { 4, 9 },
	                       { 8, 1 }, { 5000, 3000 }, { 3000, 5000 } };
	for (size_t k = 0; k < sizeof(shapes) / sizeof(shapes[0]); k++)
		check_shape(shapes[k][0], shapes[k][1]);
}

static void test_imap(void)
{
	mp_pool_t *p = pool_with(2, MP_SANDBOX_COMPUTE);
	int in[20], v;
	size_t idx;
	for (int i = 0; i < 20; i++)
		in[i] = 20 - i; /* later inputs finish sooner */
	mp_imap_t *it = mp_pool_imap(p, slow_elem, in, sizeof(int), 20,
	                             sizeof(int), 0, NULL);
	CU_ASSERT_PTR_NOT_NULL_FATAL(it);
	for (int i = 0; i < 20; i++) {
		MPT_OK(mp_imap_next(it, &v, &idx, TEST_WAIT_NS));
		MPT_EQ(idx, (size_t)i); /* in input order */
		MPT_EQ(v, in[i]);
	}
	MPT_ERR(mp_imap_next(it, &v, &idx, 0), -MP_EEOF);
	mp_imap_free(it);

	it = mp_pool_imap_unordered(p, slow_elem, in, sizeof(int), 20,
	                            sizeof(int), 2, NULL);
	uint32_t seen = 0;
	for (int i = 0; i < 20; i++) {
		MPT_OK(mp_imap_next(it, &v, &idx, TEST_WAIT_NS));
		MPT_EQ(v, in[idx]);
		seen |= 1u << idx;
	}
	MPT_EQ(seen, (1u << 20) - 1);
	MPT_ERR(mp_imap_next(it, &v, &idx, TEST_WAIT_NS), -MP_EEOF);
	mp_imap_free(it);

	/* next() honours its timeout. */
	int long_one = 300;
	it = mp_pool_imap(p, slow_elem, &long_one, sizeof(int), 1, sizeof(int),
	                  0, NULL);
	MPT_ERR(mp_imap_next(it, &v, &idx, 0), -EAGAIN);
	MPT_ERR(mp_imap_next(it, &v, &idx, MP_MSEC(20)), -ETIMEDOUT);
	MPT_OK(mp_imap_next(it, &v, &idx, TEST_WAIT_NS));
	mp_imap_free(it);
	MPT_OK(mp_pool_free(p));
}

/* ---- initializer, maxtasksperchild -------------------------------------------- */

static void init_worker(void *arg)
{
	init_value = *(int *)arg;
}

static int report_init(const void *in, size_t len, mp_out_t *out)
{
	(void)in, (void)len;
	return mp_out_write(out, &init_value, sizeof(init_value));
}

static void test_initializer_and_recycling(void)
{
	int v = 4242;
	/* A copy of v (initarg_len): under forkserver, &v means nothing in
	 * a worker. */
	mp_pool_attr_t a = { .processes = 2, .initializer = init_worker,
	                     .initarg = &v, .maxtasksperchild = 2,
	                     .sandbox = MP_SANDBOX_COMPUTE,
	                     .initarg_len = sizeof(v) };
	mp_pool_t *p = mp_pool_new(&a, NULL);
	CU_ASSERT_PTR_NOT_NULL_FATAL(p);
	void *out;
	size_t len;
	MPT_OK(mp_pool_apply(p, report_init, NULL, 0, &out, &len));
	MPT_EQ(*(int *)out, 4242);
	free(out);
	int32_t pids[12];
	for (int i = 0; i < 12; i++) {
		MPT_OK(mp_pool_apply(p, my_pid, NULL, 0, &out, &len));
		pids[i] = *(int32_t *)out;
		free(out);
	}
	int distinct = 0;
	for (int i = 0; i < 12; i++) {
		bool dup = false;
		for (int k = 0; k < i; k++)
			dup |= pids[k] == pids[i];
		distinct += !dup;
	}
	MPT_CMP(distinct, >=, 6); /* 2 tasks a worker, then a new one */
	MPT_OK(mp_pool_free(p));
}

/* ---- deaths ---------------------------------------------------------------------- */

static int publish_then_sleep(const void *in, size_t len, mp_out_t *out)
{
	(void)in, (void)len, (void)out;
	atomic_store(&sh->pids[0], getpid());
	mpt_flag_set(&sh->started, 1);
	sleep(30);
	return 0;
}

static int crash(const void *in, size_t len, mp_out_t *out)
{
	(void)len, (void)out;
	int how = *(const int *)in;
	static int *volatile nowhere; /* NULL, unknown to the compiler */
	if (how == 0)
		*nowhere = 1; /* SIGSEGV */
	if (how == 1)
		abort();
	return 0;
}

static void test_worker_deaths(void)
{
	mp_pool_t *p = pool_with(2, MP_SANDBOX_COMPUTE);
	atomic_store(&sh->started, 0);
	mp_result_t *r = mp_pool_apply_async(p, publish_then_sleep, NULL, 0,
	                                     NULL, NULL, NULL, NULL);
	MPT_OK(mpt_flag_wait(&sh->started, 1));
	kill(atomic_load(&sh->pids[0]), SIGKILL);
	MPT_ERR(mp_result_get(r, TEST_WAIT_NS, NULL, NULL), -MP_EWORKERDIED);
	int signo = 0;
	const char *d = mp_result_detail(r, &signo);
	MPT_EQ(signo, SIGKILL);
	CU_ASSERT(d && strstr(d, "signal 9"));
	mp_result_free(r);
	/* Crashes of every kind: each fails its own task only.  (Under a
	 * sanitizer, its runtime handles the crash itself first, with calls
	 * the sandbox refuses: not what is being tested here.) */
	int how[2] = { 0, 1 }, want[2] = { SIGSEGV, SIGABRT };
	for (int k = 0; k < 2 && !under_sanitizer("crash signals"); k++) {
		r = mp_pool_apply_async(p, crash, &how[k], sizeof(int), NULL,
		                        NULL, NULL, NULL);
		MPT_ERR(mp_result_get(r, TEST_WAIT_NS, NULL, NULL),
		        -MP_EWORKERDIED);
		mp_result_detail(r, &signo);
		MPT_EQ(signo, want[k]);
		mp_result_free(r);
	}
	/* The pool goes on, with replacements. */
	void *out;
	size_t len;
	MPT_OK(mp_pool_apply(p, echo_upper, "ok", 2, &out, &len));
	free(out);
	MPT_OK(mp_pool_free(p));
}

/* Element i counts its runs in sh->runs[i]; element STUCK publishes its
 * worker and sleeps, to be killed. */
enum { KILL_N = 200, KILL_CHUNK = 5, STUCK = 57 };
_Static_assert(sizeof(((struct shared *)0)->runs) >= KILL_N * sizeof(uint32_t),
               "a counter per element");

static int counted(const void *in, void *out)
{
	int i = *(const int *)in;
	atomic_fetch_add(&sh->runs[i], 1);
	if (i == STUCK) {
		atomic_store(&sh->pids[0], getpid());
		mpt_flag_set(&sh->started, 1);
		sleep(30);
	}
	*(int *)out = 3 * i;
	return 0;
}

/* A map whose worker is killed mid-chunk: that chunk fails with the
 * death, every other element has its result, each computed once, and
 * the pool goes on. */
static void test_map_worker_killed(void)
{
	for (int i = 0; i < KILL_N; i++)
		atomic_store(&sh->runs[i], 0);
	mp_pool_t *p = pool_with(2, MP_SANDBOX_COMPUTE);
	static int in[KILL_N], out[KILL_N], st[KILL_N];
	for (int i = 0; i < KILL_N; i++)
		in[i] = i;
	atomic_store(&sh->started, 0);
	mp_result_t *r = mp_pool_map_async(p, counted, in, sizeof(int), KILL_N,
	                                   out, sizeof(int), st, KILL_CHUNK,
	                                   NULL, NULL, NULL, NULL);
	CU_ASSERT_PTR_NOT_NULL_FATAL(r);
	MPT_OK(mpt_flag_wait(&sh->started, 1));
	kill(atomic_load(&sh->pids[0]), SIGKILL);
	MPT_ERR(mp_result_get(r, TEST_WAIT_NS, NULL, NULL), -MP_EWORKERDIED);
	mp_result_free(r);
	int wrong = 0, lost = 0;
	for (int i = 0; i < KILL_N; i++) {
		bool in_dead = i / KILL_CHUNK == STUCK / KILL_CHUNK;
		if (in_dead)
			lost += st[i] != -MP_EWORKERDIED;
		else
			wrong += st[i] != 0 || out[i] != 3 * i ||
			         atomic_load(&sh->runs[i]) != 1;
	}
	MPT_EQ(lost, 0);
	MPT_EQ(wrong, 0);
	MPT_OK(mp_pool_map(p, plus_one, in, sizeof(int), KILL_N, out,
	                   sizeof(int), NULL, 0));
	MPT_EQ(out[KILL_N - 1], KILL_N);
	MPT_OK(mp_pool_free(p));
}

/* Sleeps *in microseconds; says who runs it in the shared "running" pid. */
static int sleepy(const void *in, size_t len, mp_out_t *out)
{
	(void)len;
	atomic_store(&sh->pids[1], getpid());
	usleep((useconds_t)*(const int *)in);
	return mp_out_write(out, in, sizeof(int));
}

/* Workers killed at random under a stream of tasks: every task ends, ok
 * or failed with the worker's death; nothing hangs. */
static void test_kills_at_random(void)
{
	mp_pool_t *p = pool_with(2, MP_SANDBOX_COMPUTE);
	enum { N = 300 };
	static mp_result_t *r[N];
	unsigned seed = 3;
	int delays[N];
	for (int i = 0; i < N; i++) {
		delays[i] = rand_r(&seed) % 3000;
		r[i] = mp_pool_apply_async(p, sleepy, &delays[i], sizeof(int),
		                           NULL, NULL, NULL, NULL);
		CU_ASSERT_PTR_NOT_NULL_FATAL(r[i]);
	}
	int kills = 0;
	for (int round = 0; round < 30; round++) {
		usleep(2000 + rand_r(&seed) % 8000);
		/* The worker that last started a task: most often busy. */
		pid_t victim = atomic_exchange(&sh->pids[1], 0);
		if (victim > 0 && kill(victim, SIGKILL) == 0)
			kills++;
	}
	int ok = 0, died = 0, other = 0;
	for (int i = 0; i < N; i++) {
		void *out = NULL;
		size_t len;
		int e = mp_result_get(r[i], MP_SEC(30), &out, &len);
		if (e == 0 && len == sizeof(int) && *(int *)out == delays[i])
			ok++;
		else if (e == -MP_EWORKERDIED)
			died++;
		else
			other++;
		free(out);
		mp_result_free(r[i]);
	}
	fprintf(stderr, " [%d kills: %d ok, %d failed with their worker] ",
	        kills, ok, died);
	MPT_EQ(other, 0);
	MPT_EQ(ok + died, N);
	MPT_OK(mp_pool_free(p));
}

static int count_exec(const void *in, void *out)
{
	int i = *(const int *)in;
	atomic_fetch_add(&sh->execs[i], 1);
	*(int *)out = 3 * i;
	return 0;
}

/* Start a round of test_idle_kills / test_close_kills: n one-element
 * chunks of count_exec, their counts and statuses cleared. */
static mp_result_t *count_round(mp_pool_t *p, const int *in, int *out,
                                int *st, int n)
{
	for (int i = 0; i < n; i++) {
		atomic_store(&sh->execs[i], 0);
		st[i] = 1;
	}
	mp_result_t *r = mp_pool_map_async(p, count_exec, in, sizeof(int),
	                                   (size_t)n, out, sizeof(int), st, 1,
	                                   NULL, NULL, NULL, NULL);
	CU_ASSERT_PTR_NOT_NULL_FATAL(r);
	return r;
}

/* One of our children (a pool's workers) at random: stopped 1-3 ms every
 * fourth round - maybe holding a queue's lock, and waited for - else
 * killed. */
static void strike(unsigned *seed, int round, int *kills, int *stops)
{
	pid_t kids[8], server = mp_forkserver_pid();
	int n = mpt_children(kids, 8);
	/* Workers only: a fork server killed again as fast as it restarts
	 * leaves the pool unable to start workers, which is another test. */
	for (int i = 0; i < n; i++)
		if (kids[i] == server)
			kids[i--] = kids[--n];
	pid_t victim = n ? kids[rand_r(seed) % n] : 0;
	if (victim <= 0)
		return;
	if (round % 4 == 3) {
		*stops += kill(victim, SIGSTOP) == 0;
		usleep(1000 + rand_r(seed) % 2000);
		kill(victim, SIGCONT);
	} else {
		*kills += kill(victim, SIGKILL) == 0;
	}
}

/* Tally a round of test_idle_kills / test_close_kills: how many failed
 * with their worker (ran at most once), and how many are wrong. */
static int check_round(const int *st, const int *out, int n, int *failed)
{
	int wrong = 0;
	for (int i = 0; i < n; i++) {
		uint32_t x = atomic_load(&sh->execs[i]);
		if (st[i] == -MP_EWORKERDIED)
			(*failed)++, wrong += x > 1;
		else
			wrong += st[i] != 0 || out[i] != 3 * i || x != 1;
	}
	return wrong;
}

/*
 * Workers killed (or stopped a while) at random as they stream through
 * trivial tasks, so most die between tasks, not in one: taking a task,
 * just after the queue gave it, putting a result.  Every task is run at
 * most once and either succeeds or fails with its worker's death: none is
 * lost (a task taken by a worker that dies before it begins runs on
 * another), so no wait ever hangs; a stopped worker is nobody's dead.
 */
static void test_idle_kills(void)
{
	enum { B = 4096, ROUNDS = 120 };
	mp_pool_t *p = pool_with(2, MP_SANDBOX_COMPUTE);
	static int in[B], out[B], st[B];
	unsigned seed = 11;
	int kills = 0, stops = 0, failed = 0, wrong = 0, hung = 0;
	for (int i = 0; i < B; i++)
		in[i] = i;
	for (int round = 0; round < ROUNDS && !hung; round++) {
		mp_result_t *r = count_round(p, in, out, st, B);
		usleep((useconds_t)(rand_r(&seed) % 3000));
		strike(&seed, round, &kills, &stops);
		int e = mp_result_get(r, TEST_WAIT_NS, NULL, NULL);
		hung += e == -ETIMEDOUT;
		if (e != -ETIMEDOUT) {
			wrong += check_round(st, out, B, &failed);
			mp_result_free(r);
		}
	}
	fprintf(stderr, " [%d kills, %d stops: %d tasks failed with their "
	        "worker] ", kills, stops, failed);
	MPT_EQ(hung, 0);
	MPT_EQ(wrong, 0);
	MPT_OK(mp_pool_free(p));
}

/*
 * The same after close: a pool closed with its tasks queued runs them all
 * before its workers stop, though workers die (or stop a while) as they
 * go - a task taken by a worker that died before beginning it, queued
 * again behind the stop orders, still runs (none fails with -MP_ECLOSED),
 * and join returns.
 */
static void test_close_kills(void)
{
	enum { B = 1024, ROUNDS = 150 };
	static int in[B], out[B], st[B];
	unsigned seed = 3;
	int kills = 0, stops = 0, failed = 0, wrong = 0, hung = 0;
	for (int i = 0; i < B; i++)
		in[i] = i;
	for (int round = 0; round < ROUNDS && !hung; round++) {
		mp_pool_t *p = pool_with(2, MP_SANDBOX_COMPUTE);
		mp_result_t *r = count_round(p, in, out, st, B);
		MPT_OK(mp_pool_close(p));
		usleep((useconds_t)(rand_r(&seed) % 1500));
		strike(&seed, round, &kills, &stops);
		int e = mp_pool_join(p, TEST_WAIT_NS);
		hung += e != 0;
		if (e == 0) {
			/* Done: at worst a chunk died with its worker. */
			int g = mp_result_get(r, 0, NULL, NULL);
			CU_ASSERT(g == 0 || g == -MP_EWORKERDIED);
			wrong += check_round(st, out, B, &failed);
			mp_result_free(r);
		}
		MPT_OK(mp_pool_free(p));
	}
	fprintf(stderr, " [%d kills, %d stops: %d tasks failed with their "
	        "worker] ", kills, stops, failed);
	MPT_EQ(hung, 0);
	MPT_EQ(wrong, 0);
}

/* ---- sandboxes -------------------------------------------------------------------- */

static int opens_file(const void *in, size_t len, mp_out_t *out)
{
	(void)in, (void)len, (void)out;
	int fd = open("/proc/self/stat", O_RDONLY);
	if (fd < 0)
		return -errno;
	close(fd);
	return 0;
}

static int makes_socket(const void *in, size_t len, mp_out_t *out)
{
	(void)in, (void)len, (void)out;
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	if (fd < 0)
		return -errno;
	close(fd);
	return 0;
}

static int allow_open(void *ctx, void *arg)
{
	(void)arg;
	return seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(openat), 0);
}

static void test_sandboxes(void)
{
	/* none: anything goes */
	mp_pool_t *p = pool_with(1, MP_SANDBOX_NONE);
	MPT_OK(mp_pool_apply(p, opens_file, NULL, 0, NULL, NULL));
	MPT_OK(mp_pool_apply(p, makes_socket, NULL, 0, NULL, NULL));
	mp_pool_free(p);

	/* compute: opening fails the task, names the call, pool goes on */
	p = pool_with(1, MP_SANDBOX_COMPUTE);
	mp_result_t *r = mp_pool_apply_async(p, opens_file, NULL, 0, NULL, NULL,
	                                     NULL, NULL);
	MPT_ERR(mp_result_get(r, TEST_WAIT_NS, NULL, NULL), -MP_ESANDBOX);
	const char *d = mp_result_detail(r, NULL);
	CU_ASSERT(d && strcmp(d, "openat") == 0);
	mp_result_free(r);
	MPT_ERR(mp_pool_apply(p, makes_socket, NULL, 0, NULL, NULL),
	        -MP_ESANDBOX);
	MPT_OK(mp_pool_apply(p, echo_upper, "x", 1, NULL, NULL));
	mp_pool_free(p);

	/* custom: compute plus what the caller allows */
	mp_pool_attr_t a = { .processes = 1, .sandbox = MP_SANDBOX_CUSTOM,
	                     .sandbox_rules = allow_open };
	p = mp_pool_new(&a, NULL);
	CU_ASSERT_PTR_NOT_NULL_FATAL(p);
	MPT_OK(mp_pool_apply(p, opens_file, NULL, 0, NULL, NULL));
	r = mp_pool_apply_async(p, makes_socket, NULL, 0, NULL, NULL, NULL,
	                        NULL);
	MPT_ERR(mp_result_get(r, TEST_WAIT_NS, NULL, NULL), -MP_ESANDBOX);
	d = mp_result_detail(r, NULL);
	CU_ASSERT(d && strcmp(d, "socket") == 0);
	mp_result_free(r);
	mp_pool_free(p);
}

/* Allocates the MB given, writes all of it, and returns its last bytes: the
 * memory is handed to mp_out_write, so no compiler may leave the malloc and
 * memset out (clang removed them when the memory was only freed, and the
 * limit was never reached). */
static int eat_memory(const void *in, size_t len, mp_out_t *out)
{
	(void)len;
	size_t big = (size_t)*(const int *)in << 20;
	char *m = malloc(big);
	if (!m)
		return -ENOMEM;
	memset(m, 1, big);
	int r = mp_out_write(out, m + big - 8, 8);
	free(m);
	return r;
}

static int spin_forever(const void *in, size_t len, mp_out_t *out)
{
	(void)in, (void)len, (void)out;
	for (volatile unsigned long i = 0;; i++)
		;
	return 0;
}

/* Says it runs (sh->started), then never returns. */
static int publish_then_spin(const void *in, size_t len, mp_out_t *out)
{
	atomic_fetch_add(&sh->started, 1);
	mp_sys_futex_wake(&sh->started, INT32_MAX);
	return spin_forever(in, len, out);
}

static void test_limits(void)
{
	mp_pool_attr_t a = { .processes = 1, .sandbox = MP_SANDBOX_COMPUTE,
	                     .memory_limit = (size_t)64 << 20,
	                     .cpu_limit_sec = 1 };
	mp_pool_t *p = mp_pool_new(&a, NULL);
	CU_ASSERT_PTR_NOT_NULL_FATAL(p);
	/* Within the limit a worker gets its memory; beyond it, it does not
	 * (were the limit not applied, the 512 MB would be mapped and the
	 * call would not fail with -ENOMEM: checked by removing it). */
	int mb = 16;
	char *got = NULL;
	size_t got_len = 0;
	MPT_OK(mp_pool_apply(p, eat_memory, &mb, sizeof(mb), (void **)&got,
	                     &got_len));
	MPT_EQ(got_len, 8);
	CU_ASSERT(got && !memcmp(got, "\1\1\1\1\1\1\1\1", 8));
	free(got);
	mb = 512;
	MPT_ERR(mp_pool_apply(p, eat_memory, &mb, sizeof(mb), NULL, NULL),
	        -ENOMEM);
	mp_result_t *r = mp_pool_apply_async(p, spin_forever, NULL, 0, NULL,
	                                     NULL, NULL, NULL);
	MPT_ERR(mp_result_get(r, MP_SEC(20), NULL, NULL), -MP_EWORKERDIED);
	int signo = 0;
	mp_result_detail(r, &signo);
	MPT_EQ(signo, SIGXCPU);
	mp_result_free(r);
	MPT_OK(mp_pool_apply(p, echo_upper, "x", 1, NULL, NULL));
	mp_pool_free(p);
}

/* ---- close, terminate, join, bad use ------------------------------------------------ */

static int wait_started(uint32_t n);

/* SIGKILL the child processes of every thread of ours (what a pool left
 * behind); how many there were, zombies included. */
static int kill_our_children(void)
{
	pid_t kids[256];
	int n = mpt_children(kids, 256), killed = 0;
	for (int i = 0; i < n; i++)
		killed += kill(kids[i], SIGKILL) == 0;
	return killed;
}

static void test_lifecycle(void)
{
	mp_pool_t *p = pool_with(2, MP_SANDBOX_COMPUTE);
	MPT_ERR(mp_pool_join(p, 0), -EINVAL); /* not closed */
	int d = 20000;
	mp_result_t *r = mp_pool_apply_async(p, sleepy, &d, sizeof(d), NULL,
	                                     NULL, NULL, NULL);
	MPT_OK(mp_pool_close(p));
	MPT_OK(mp_pool_close(p));
	CU_ASSERT_PTR_NULL(mp_pool_apply_async(p, sleepy, &d, sizeof(d), NULL,
	                                       NULL, NULL, NULL));
	MPT_ERR(mp_pool_apply(p, sleepy, &d, sizeof(d), NULL, NULL),
	        -MP_ECLOSED);
	MPT_OK(mp_pool_join(p, TEST_WAIT_NS));
	MPT_OK(mp_result_get(r, 0, NULL, NULL)); /* queued work finished */
	mp_result_free(r);
	MPT_OK(mp_pool_free(p));

	/* terminate: workers stuck in a loop are killed, results fail (two
	 * seen running, one still queued). */
	atomic_store(&sh->started, 0);
	p = pool_with(2, MP_SANDBOX_COMPUTE);
	mp_result_t *s[3];
	for (int i = 0; i < 3; i++)
		s[i] = mp_pool_apply_async(p, publish_then_spin, NULL, 0, NULL,
		                           NULL, NULL, NULL);
	MPT_OK(wait_started(2));
	MPT_OK(mp_pool_terminate(p));
	int joined = mp_pool_join(p, TEST_WAIT_NS);
	MPT_OK(joined);
	if (joined < 0) {
		/* A worker outlived terminate (free would wait for it forever):
		 * fail, not hang. */
		fprintf(stderr, " [not finished after terminate: %d children "
		        "of ours killed] ", kill_our_children());
		joined = mp_pool_join(p, TEST_WAIT_NS);
	}
	for (int i = 0; i < 3; i++) {
		MPT_ERR(mp_result_get(s[i], 0, NULL, NULL), -MP_ECLOSED);
		mp_result_free(s[i]);
	}
	if (joined == 0)
		MPT_OK(mp_pool_free(p));
}

static int leave_pool_open(void *arg)
{
	(void)arg;
	mp_pool_t *p = child_pool(2, MP_SANDBOX_COMPUTE);
	if (!p)
		return 9;
	return mp_pool_apply(p, echo_upper, "x", 1, NULL, NULL) == 0 ? 0 : 1;
	/* ... and exit with the pool open: its workers must not hold the
	 * exit up, nor be replaced while it terminates them. */
}

static void test_exit_with_open_pool(void)
{
	mp_process_t *c = mp_process_new(leave_pool_open, NULL, NULL, 0, NULL);
	MPT_OK(mp_process_start(c));
	MPT_OK(mp_process_join(c, TEST_WAIT_NS));
	int code = -1;
	MPT_OK(mp_process_exitcode(c, &code));
	MPT_EQ(code, 0);
	mp_process_free(c);
}

static void init_exits(void *arg)
{
	(void)arg;
	_exit(3);
}

/* Workers that can never start (each one's initialisation ends it) fail
 * the work given them - at once, or once they are all gone and the
 * supervisor with them: nothing waits for workers that will not come. */
static void test_workers_never_start(void)
{
	mp_pool_attr_t a = { .processes = 2, .initializer = init_exits };
	mp_pool_t *p = mp_pool_new(&a, NULL);
	CU_ASSERT_PTR_NOT_NULL_FATAL(p);
	void *o = NULL;
	size_t len = 0;
	MPT_ERR(mp_pool_apply(p, echo_upper, "x", 1, &o, &len),
	        -MP_EWORKERDIED);
	usleep(100000); /* every worker gone, and the supervisor */
	MPT_ERR(mp_pool_apply(p, echo_upper, "x", 1, &o, &len),
	        -MP_EWORKERDIED);
	int err = 0;
	CU_ASSERT_PTR_NULL(mp_pool_apply_async(p, echo_upper, "x", 1, NULL,
	                                       NULL, NULL, &err));
	MPT_EQ(err, -MP_EWORKERDIED);
	MPT_OK(mp_pool_free(p));
}

/* ---- the pool's ties to its maker ----------------------------------------- */

struct maker {
	mp_pool_t *pool;
	int32_t pid; /* the worker that ran a task for the maker */
	int err;
};

static void *make_pool_and_leave(void *arg)
{
	struct maker *m = arg;
	m->pool = pool_with(1, MP_SANDBOX_COMPUTE);
	void *out = NULL;
	size_t len = 0;
	m->err = mp_pool_apply(m->pool, my_pid, NULL, 0, &out, &len);
	if (m->err == 0 && len == sizeof(int32_t))
		memcpy(&m->pid, out, sizeof(int32_t));
	free(out);
	return NULL; /* the thread ends; the pool lives on */
}

/* The kernel's death signal comes when the *thread* that forked a child
 * ends: the pool's first worker (forked by mp_pool_new's caller, on a
 * lifeline instead) must outlive its maker's thread, not die and be
 * replaced. */
static void test_outlives_its_thread(void)
{
	struct maker m = { 0 };
	pthread_t t;
	CU_ASSERT_FATAL(pthread_create(&t, NULL, make_pool_and_leave, &m) == 0);
	pthread_join(t, NULL);
	MPT_OK(m.err);
	CU_ASSERT_FATAL(m.pid > 0);
	void *out = NULL;
	size_t len = 0;
	MPT_OK(mp_pool_apply(m.pool, my_pid, NULL, 0, &out, &len));
	CU_ASSERT(len == sizeof(int32_t) && out &&
	          *(int32_t *)out == m.pid); /* the same worker */
	free(out);
	MPT_OK(mp_pool_free(m.pool));
}

/* Uses 1 MB of stack. */
static int deep(const void *in, size_t len, mp_out_t *out)
{
	(void)in, (void)len;
	volatile char big[1 << 20];
	for (size_t i = 0; i < sizeof(big); i += 4096)
		big[i] = (char)i;
	char c = big[sizeof(big) - 4096];
	return mp_out_write(out, &c, 1);
}

static void *pool_on_small_stack(void *arg)
{
	int *err = arg;
	mp_pool_t *p = pool_with(1, MP_SANDBOX_COMPUTE);
	void *out = NULL;
	size_t len = 0;
	*err = mp_pool_apply(p, deep, NULL, 0, &out, &len);
	free(out);
	mp_pool_free(p);
	/* Closed before its supervisor made any worker: what was queued
	 * still runs. */
	p = pool_with(2, MP_SANDBOX_COMPUTE);
	mp_result_t *r[4];
	for (int i = 0; i < 4; i++)
		r[i] = mp_pool_apply_async(p, echo_upper, "x", 1, NULL, NULL,
		                           NULL, NULL);
	mp_pool_close(p);
	if (*err == 0)
		*err = mp_pool_join(p, TEST_WAIT_NS);
	for (int i = 0; i < 4; i++) {
		int e = r[i] ? mp_result_get(r[i], 0, NULL, NULL) : -ENOMEM;
		if (*err == 0)
			*err = e;
		mp_result_free(r[i]);
	}
	mp_pool_free(p);
	return NULL;
}

/* Workers get a full stack even when the pool is made on a small one (a
 * worker runs on a copy of the stack of the thread that forks it). */
static void test_small_stack_maker(void)
{
	pthread_attr_t a;
	pthread_t t;
	int err = 1;
	pthread_attr_init(&a);
	pthread_attr_setstacksize(&a, 256 << 10);
	CU_ASSERT_FATAL(pthread_create(&t, &a, pool_on_small_stack, &err) == 0);
	pthread_join(t, NULL);
	pthread_attr_destroy(&a);
	MPT_OK(err);
}

/* Says which worker runs it, then holds that worker until released. */
static int publish_and_hold(const void *in, size_t len, mp_out_t *out)
{
	(void)len, (void)out;
	int i = *(const int *)in;
	atomic_store(&sh->pids[8 + i], getpid());
	if (i >= 2) { /* unsandboxed: its death signal, too */
		int sig = -1;
		prctl(PR_GET_PDEATHSIG, &sig);
		atomic_store(&sh->pids[8 + i + 2], sig);
	}
	atomic_fetch_add(&sh->started, 1);
	mp_sys_futex_wake(&sh->started, INT32_MAX);
	while (!atomic_load(&sh->go))
		usleep(1000);
	return 0;
}

/* Wait (TEST_WAIT_NS at most) until n publish_and_hold tasks run. */
static int wait_started(uint32_t n)
{
	int64_t deadline;
	struct timespec ts;
	mp__deadline(TEST_WAIT_NS, &deadline);
	for (uint32_t k; (k = atomic_load(&sh->started)) < n;)
		if (mp_sys_futex_wait(&sh->started, k,
		                      mp__deadline_ts(deadline, &ts)) == -ETIMEDOUT)
			return -ETIMEDOUT;
	return 0;
}

static int pool_then_wait(void *arg)
{
	(void)arg;
	mp_pool_t *p = child_pool(2, MP_SANDBOX_COMPUTE);
	if (!p)
		return 9;
	int idx[2] = { 0, 1 };
	for (int i = 0; i < 2; i++)
		mp_pool_apply_async(p, publish_and_hold, &idx[i], sizeof(int),
		                    NULL, NULL, NULL, NULL);
	pause(); /* until SIGKILLed, pool open, both workers busy */
	return 1;
}

static void clear_published(void)
{
	atomic_store(&sh->started, 0);
	atomic_store(&sh->go, 0);
	for (int i = 8; i < 16; i++)
		atomic_store(&sh->pids[i], 0);
}

/* Wait (TEST_WAIT_NS at most) until supervisors have forked n workers. */
static int wait_forked(int n)
{
	pid_t kids[16];
	int64_t deadline = mp_sys_now_ns() + TEST_WAIT_NS;
	while (mpt_children_of(MPT_OTHER_THREADS, kids, 16) < n) {
		if (mp_sys_now_ns() >= deadline)
			return -ETIMEDOUT;
		usleep(1000);
	}
	return 0;
}

/* The main thread's one child that is not in old[0..n), or 0. */
static pid_t new_child(const pid_t *old, int n)
{
	pid_t kids[64], found = 0;
	int k = mpt_children_of(MPT_MAIN_THREAD, kids, 64), fresh = 0;
	for (int i = 0; i < k; i++) {
		bool seen = false;
		for (int j = 0; j < n; j++)
			seen |= kids[i] == old[j];
		if (!seen)
			found = kids[i], fresh++;
	}
	return fresh == 1 ? found : 0;
}

void mp__pool_first_task_wait(int64_t ns); /* lib/pool.c, for tests */

/*
 * The first worker, forked by mp_pool_new's caller, starts alone; the
 * supervisor forks the others once it has its first task - or without
 * one, a moment later, even if it never gets to take one (stopped).
 */
static void test_first_worker_alone(void)
{
	enum { N = 3 };
	mp_pool_t *p = pool_with(N, MP_SANDBOX_COMPUTE);
	if (!mpt_forkserver) /* the server's children, not ours */
		MPT_OK(wait_forked(N - 1));
	MPT_OK(mp_pool_free(p));

	/* With the moment made long: alone until its first task, then all
	 * (the first task is what starts them). */
	void *o = NULL;
	size_t len = 0;
	pid_t kids[64];
	if (!mpt_forkserver) {
		mp__pool_first_task_wait(3 * TEST_WAIT_NS);
		p = pool_with(N, MP_SANDBOX_COMPUTE);
		usleep(50000);
		MPT_EQ(mpt_children_of(MPT_OTHER_THREADS, kids, 64), 0);
		MPT_OK(mp_pool_apply(p, echo_upper, "up", 2, &o, &len));
		free(o);
		MPT_OK(wait_forked(N - 1));
		MPT_OK(mp_pool_free(p));
		mp__pool_first_task_wait(-1);
	}

	/* N holding tasks at once, from the start, need every worker.
	 * (Unsandboxed: publish_and_hold(2) asks for its death signal.) */
	clear_published();
	p = pool_with(N, MP_SANDBOX_NONE);
	int in[N] = { 0, 1, 2 };
	mp_result_t *r[N];
	for (int i = 0; i < N; i++) {
		r[i] = mp_pool_apply_async(p, publish_and_hold, &in[i],
		                           sizeof(int), NULL, NULL, NULL, NULL);
		CU_ASSERT_PTR_NOT_NULL_FATAL(r[i]);
	}
	MPT_OK(wait_started(N));
	atomic_store(&sh->go, 1);
	for (int i = 0; i < N; i++) {
		MPT_OK(mp_result_get(r[i], TEST_WAIT_NS, NULL, NULL));
		mp_result_free(r[i]);
	}
	MPT_OK(mp_pool_free(p));
	if (mpt_forkserver)
		return;

	/* The first worker stopped before any task: the others start all
	 * the same.  (Tasks may wait for it meanwhile: stopped, it may hold
	 * the task queue's lock, which nobody takes from a live process.)
	 * Only when it was alone when stopped: a loaded machine may have let
	 * the others start already. */
	for (int round = 0, tested = 0; round < 20 && !tested; round++) {
		int old = mpt_children_of(MPT_MAIN_THREAD, kids, 64);
		p = pool_with(N, MP_SANDBOX_COMPUTE);
		pid_t w0 = new_child(kids, old);
		if (w0 > 0 &&
		    mpt_children_of(MPT_OTHER_THREADS, kids, 64) == 0 &&
		    kill(w0, SIGSTOP) == 0) {
			tested = 1;
			MPT_OK(wait_forked(N - 1));
			kill(w0, SIGCONT);
			MPT_OK(mp_pool_apply(p, echo_upper, "up", 2, &o, &len));
			CU_ASSERT(len == 2 && o && memcmp(o, "UP", 2) == 0);
			free(o);
		}
		MPT_OK(mp_pool_free(p));
		if (round == 19 && !tested)
			MPT_SKIP("the other workers always started at once");
	}
}

/* Whatever kills the pool's process, its workers die with it: the first
 * (forked by the caller, on its lifeline) and the others - even stopped
 * (SIGSTOP), when only SIGKILL can end them. */
static void test_dies_with_its_process(void)
{
	clear_published();
	mp_process_t *c = mpt_start(pool_then_wait, NULL);
	if (wait_started(2) < 0) {
		mp_process_kill(c);
		mpt_finish(c);
		CU_FAIL_FATAL("the pool's tasks did not start");
	}
	for (int i = 0; i < 2; i++)
		MPT_OK(kill(atomic_load(&sh->pids[8 + i]), SIGSTOP));
	MPT_OK(mp_process_kill(c));
	MPT_OK(mp_process_join(c, TEST_WAIT_NS));
	/* Orphans come back to this process (a subreaper): reap them. */
	for (int i = 0; i < 2; i++) {
		pid_t w = atomic_load(&sh->pids[8 + i]);
		int status = 0, r;
		CU_ASSERT_FATAL(w > 0);
		for (int tries = 0; (r = waitpid(w, &status, WNOHANG)) == 0 &&
		                    tries < 2000; tries++)
			usleep(1000);
		CU_ASSERT(r == w);
		CU_ASSERT(r == w && WIFSIGNALED(status) &&
		          WTERMSIG(status) == SIGKILL);
		if (r == 0) { /* do not leave it behind */
			kill(w, SIGKILL);
			waitpid(w, NULL, 0);
		}
	}
	atomic_store(&sh->go, 1);
	mp_process_free(c);
}

static int pool_then_exec(void *arg)
{
	(void)arg;
	mp_pool_t *p = child_pool(2, MP_SANDBOX_NONE);
	if (!p)
		return 9;
	int idx[2] = { 2, 3 }; /* and say their death signals */
	for (int i = 0; i < 2; i++)
		mp_pool_apply_async(p, publish_and_hold, &idx[i], sizeof(int),
		                    NULL, NULL, NULL, NULL);
	if (wait_started(2) < 0)
		return 1;
	/* From the thread that made the pool (and forked its first worker):
	 * no thread ends, no death signal is sent. */
	execl("/bin/sleep", "sleep", "30", (char *)NULL);
	return 2;
}

/* A pool's process that execs with the pool open: its workers go too. */
static void test_dies_with_exec(void)
{
	if (mpt_forkserver) {
		/* Known gap: a forkserver worker's death signal is tied to
		 * the thread that started the server, which an exec does
		 * not end; only worker 0 (on the lifeline) would go. */
		printf("(skipped under forkserver: see pool.h) ");
		return;
	}
	clear_published();
	mp_process_t *c = mpt_start(pool_then_exec, NULL);
	CU_ASSERT(wait_started(2) == 0);
	/* What is tested: one worker on the lifeline (no death signal), one
	 * with the death signal. */
	int s0 = atomic_load(&sh->pids[12]), s1 = atomic_load(&sh->pids[13]);
	CU_ASSERT((s0 == 0 && s1 == SIGKILL) || (s0 == SIGKILL && s1 == 0));
	for (int i = 2; i < 4; i++) {
		pid_t w = atomic_load(&sh->pids[8 + i]);
		int fd = w > 0 ? mp_sys_pidfd_open(w, 0) : -1;
		struct timespec ts;
		int64_t deadline;
		mp__deadline(TEST_WAIT_NS, &deadline);
		/* Readable once it has exited (ESRCH: long gone). */
		CU_ASSERT(fd == -ESRCH || (fd >= 0 && mp_sys_poll_one(fd,
		          POLLIN, mp__deadline_ts(deadline, &ts)) > 0));
		if (fd >= 0)
			close(fd);
	}
	atomic_store(&sh->go, 1); /* a survivor would let go of its task */
	mp_process_kill(c);
	mpt_finish(c);
	/* The workers were its children: now ours, to reap. */
	for (int i = 2; i < 4; i++) {
		pid_t w = atomic_load(&sh->pids[8 + i]);
		for (int t = 0; w > 0 && waitpid(w, NULL, WNOHANG) == 0 &&
		                t < 2000; t++) {
			if (t == 1000)
				kill(w, SIGKILL); /* not to leave one behind */
			usleep(1000);
		}
	}
}

static void test_bad_input(void)
{
	int err = 0;
	mp_pool_attr_t a = { .processes = -1 };
	CU_ASSERT_PTR_NULL(mp_pool_new(&a, &err));
	MPT_ERR(err, -EINVAL);
	a = (mp_pool_attr_t){ .sandbox = MP_SANDBOX_CUSTOM };
	CU_ASSERT_PTR_NULL(mp_pool_new(&a, &err));
	MPT_ERR(err, -EINVAL);
	a = (mp_pool_attr_t){ .sandbox = 9 };
	CU_ASSERT_PTR_NULL(mp_pool_new(&a, &err));
	MPT_ERR(err, -EINVAL);
	a = (mp_pool_attr_t){ .maxtasksperchild = -2 };
	CU_ASSERT_PTR_NULL(mp_pool_new(&a, &err));
	MPT_ERR(err, -EINVAL);
	mp_pool_t *p = pool_with(1, MP_SANDBOX_COMPUTE);
	CU_ASSERT_PTR_NULL(mp_pool_apply_async(p, NULL, NULL, 0, NULL, NULL,
	                                       NULL, &err));
	MPT_ERR(err, -EINVAL);
	CU_ASSERT_PTR_NULL(mp_pool_apply_async(p, echo_upper, NULL, 5, NULL,
	                                       NULL, NULL, &err));
	MPT_ERR(err, -EINVAL);
	int x = 1, y;
	MPT_ERR(mp_pool_map(p, plus_one, &x, 0, 1, &y, sizeof(y), NULL, 0),
	        -EINVAL);
	MPT_ERR(mp_pool_map(p, NULL, &x, 4, 1, &y, sizeof(y), NULL, 0), -EINVAL);
	MPT_ERR(mp_pool_map(p, plus_one, &x, 4, 1, NULL, sizeof(y), NULL, 0),
	        -EINVAL);
	MPT_ERR(mp_pool_apply(NULL, echo_upper, NULL, 0, NULL, NULL), -EINVAL);
	mp_result_t *r = mp_pool_apply_async(p, sleepy, &x, sizeof(x), NULL,
	                                     NULL, NULL, NULL);
	MPT_ERR(mp_result_successful(r), -EAGAIN);
	MPT_OK(mp_result_wait(r, TEST_WAIT_NS));
	MPT_ERR(mp_result_get(r, -5, NULL, NULL), -EINVAL);
	mp_result_free(r);
	MPT_ERR(mp_pool_join(NULL, 0), -EINVAL);
	MPT_OK(mp_pool_free(p));
	MPT_OK(mp_pool_free(NULL));
}

int main(void)
{
	sh = mpt_shared(sizeof(*sh));
	/* Pool tasks need no registration (the server is the program);
	 * the processes the tests start themselves do. */
	static const struct mpt_target targets[] = {
		{ "leave_pool_open", leave_pool_open },
		{ "pool_then_wait", pool_then_wait },
		{ "pool_then_exec", pool_then_exec },
		{ NULL, NULL },
	};
	if (mpt_start_method(targets) < 0)
		return 1;
	static CU_TestInfo tests[] = {
		{ "apply, apply_async", test_apply },
		{ "callbacks", test_callbacks },
		{ "map, starmap, chunks", test_map },
		{ "map over elements of every shape", test_map_shapes },
		{ "imap, imap_unordered", test_imap },
		{ "initializer, maxtasksperchild", test_initializer_and_recycling },
		{ "workers killed and crashing", test_worker_deaths },
		{ "kills at random under load", test_kills_at_random },
		{ "kills between tasks: none lost", test_idle_kills },
		{ "kills after close: every task runs", test_close_kills },
		{ "a map's worker killed", test_map_worker_killed },
		{ "sandbox policies", test_sandboxes },
		{ "memory and CPU limits", test_limits },
		{ "close, terminate, join", test_lifecycle },
		{ "exit with a pool open", test_exit_with_open_pool },
		{ "workers that never start", test_workers_never_start },
		{ "outlives the thread that made it", test_outlives_its_thread },
		{ "made on a small stack", test_small_stack_maker },
		{ "the first worker starts alone", test_first_worker_alone },
		{ "workers die with the pool's process",
		  test_dies_with_its_process },
		{ "workers die when the pool's process execs",
		  test_dies_with_exec },
		{ "bad input", test_bad_input },
		CU_TEST_INFO_NULL,
	};
	return mpt_main("pool", tests);
}
