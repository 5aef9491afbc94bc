/*
 * test_mptop.c - the registry of the shared heap, the reader (peek.c) on
 * our own heap, and the built tools/mptop run against a family of real
 * processes in a known state: a lock held by one child with two others
 * asleep on it, a queue of known depth, an event, a semaphore, a pool with
 * one worker stuck in a task.  mptop's path comes from $MPTOP.
 */
#include "testutil.h"
#include "heap.h"
#include "peek.h"

#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>

extern char **environ;

/* ---- the reader on our own heap --------------------------------------------- */

static int self_read(void *ctx, uint64_t off, void *buf, size_t len)
{
	memcpy(buf, (char *)ctx + off, len);
	return 0;
}

struct census {
	unsigned n[MP__KIND_POOL + 1];
	uint64_t seen;     /* offset looked for */
	unsigned hits;     /* entries for it */
};

static int count(unsigned kind, uint64_t off, void *arg)
{
	struct census *c = arg;
	if (kind <= MP__KIND_POOL)
		c->n[kind]++;
	c->hits += off == c->seen;
	return 0;
}

static struct census census_of(uint64_t seen)
{
	struct heap *h = mp__heap_self();
	struct mp__peek_src src = { self_read, h, h->size };
	struct census c = { .seen = seen };
	MPT_EQ(mp__peek_each(&src, count, &c), 0);
	return c;
}

static void test_registry(void)
{
	enum { N = 300 };
	mp_lock_t *l[N];
	int err = 0;
	mp_queue_t *q = mp_queue_new(NULL, &err);
	CU_ASSERT_PTR_NOT_NULL_FATAL(q);
	struct census before = census_of(0);
	for (int i = 0; i < N; i++)
		CU_ASSERT_PTR_NOT_NULL_FATAL(l[i] = mp_lock_new(&err));
	mp_sem_t *s = mp_sem_new(2, true, &err);
	uint64_t off1 = (uint64_t)((char *)l[1] - (char *)mp__heap_self());
	struct census c = census_of(off1);
	MPT_EQ(c.n[MP__KIND_LOCK], before.n[MP__KIND_LOCK] + N);
	MPT_EQ(c.n[MP__KIND_SEM], before.n[MP__KIND_SEM] + 1);
	MPT_EQ(c.n[MP__KIND_QUEUE], before.n[MP__KIND_QUEUE]);
	MPT_EQ(c.hits, 1);
	/* Freed ones go; a block freed behind the registry's back
	 * (mp_heap_free) is not shown as live either. */
	for (int i = 0; i < N; i += 2)
		MPT_OK(mp_lock_free(l[i]));
	MPT_OK(mp_heap_free(l[1]));
	c = census_of(off1);
	MPT_EQ(c.n[MP__KIND_LOCK], before.n[MP__KIND_LOCK] + N / 2 - 1);
	MPT_EQ(c.hits, 0);
	/* That block made again: one entry for it, not two (the stale one
	 * is taken over). */
	mp_lock_t *again[N];
	int k = 0;
	do {
		again[k] = mp_lock_new(&err);
		CU_ASSERT_PTR_NOT_NULL_FATAL(again[k]);
	} while (again[k++] != l[1] && k < N);
	CU_ASSERT_PTR_EQUAL(again[k - 1], l[1]);
	c = census_of(off1);
	MPT_EQ(c.hits, 1);
	MPT_EQ(c.n[MP__KIND_LOCK], before.n[MP__KIND_LOCK] + N / 2 - 1 + k);
	while (k--)
		MPT_OK(mp_lock_free(again[k]));
	for (int i = 3; i < N; i += 2)
		MPT_OK(mp_lock_free(l[i]));
	MPT_OK(mp_sem_free(s));
	MPT_OK(mp_queue_free(q));
	c = census_of(0);
	for (unsigned kind = 1; kind <= MP__KIND_POOL; kind++)
		MPT_EQ(c.n[kind], before.n[kind] - (kind == MP__KIND_QUEUE));
}

/* ---- churn, SIGKILL, and mptop reading meanwhile ------------------------------ */

static _Atomic uint32_t *churned;

static int churn_main(void *arg)
{
	(void)arg;
	for (;;) {
		int err = 0;
		mp_lock_t *l = mp_lock_new(&err);
		mp_queue_t *q = mp_queue_new(NULL, &err);
		mp_event_t *e = mp_event_new(&err);
		if (!l || !q || !e)
			return 1;
		mp_lock_free(l);
		mp_queue_free(q);
		mp_event_free(e);
		atomic_fetch_add(churned, 1);
	}
}

struct check {
	unsigned bad;
	unsigned n;
};

/* Every entry the reader reports decodes as its kind, or was destroyed
 * and not yet freed (magic 0) by a process killed in between. */
static int check_entry(unsigned kind, uint64_t off, void *arg)
{
	struct check *c = arg;
	char *p = (char *)mp__heap_self() + off;
	struct mp__peek_lock l;
	struct mp__peek_queue q;
	struct mp__peek_event e;
	int r = kind == MP__KIND_LOCK ? mp__lock_peek(p, false, &l)
	      : kind == MP__KIND_QUEUE ? mp__queue_peek(p, &q)
	      : kind == MP__KIND_EVENT ? mp__event_peek(p, &e) : 0;
	uint32_t magic;
	memcpy(&magic, kind == MP__KIND_LOCK ? p + 8 : kind == MP__KIND_EVENT
	       ? p + 8 : p, sizeof(magic));
	c->bad += r < 0 && magic != 0;
	c->n++;
	return 0;
}

static int mptop(const char *args, bool both, char *out, size_t len);

static void test_churn_kill(void)
{
	enum { KIDS = 3, ROUNDS = 4 };
	char out[16384], args[32];
	int err = 0;

	churned = mp_heap_alloc(sizeof(*churned), &err);
	CU_ASSERT_PTR_NOT_NULL_FATAL(churned);
	snprintf(args, sizeof(args), "%d", (int)getpid());
	for (int round = 0; round < ROUNDS; round++) {
		mp_process_t *k[KIDS];
		for (int i = 0; i < KIDS; i++) {
			k[i] = mp_process_new(churn_main, NULL, NULL, 0, &err);
			CU_ASSERT_PTR_NOT_NULL_FATAL(k[i]);
			MPT_OK(mp_process_start(k[i]));
		}
		/* Well into the churn, then read it while it goes on. */
		uint32_t from = atomic_load(churned);
		while (atomic_load(churned) < from + 200)
			usleep(100);
		if (getenv("MPTOP"))
			MPT_EQ(mptop(args, false, out, sizeof(out)), 0);
		for (int i = 0; i < KIDS; i++) {
			MPT_OK(mp_process_kill(k[i]));
			MPT_OK(mp_process_join(k[i], TEST_WAIT_NS));
			mp_process_free(k[i]);
		}
	}
	struct heap *h = mp__heap_self();
	struct mp__peek_src src = { self_read, h, h->size };
	struct check c = { 0 };
	MPT_EQ(mp__peek_each(&src, check_entry, &c), 0);
	MPT_EQ(c.bad, 0);
	/* At most what each killed child held: a lock, a queue and an
	 * event, made or half-freed. */
	MPT_CMP(c.n, <=, 3 * KIDS * ROUNDS);
	/* The registry still works for us. */
	struct census before = census_of(0);
	mp_lock_t *l = mp_lock_new(&err);
	MPT_EQ(census_of(0).n[MP__KIND_LOCK], before.n[MP__KIND_LOCK] + 1);
	MPT_OK(mp_lock_free(l));
	mp_heap_free(churned);
}

/* ---- running mptop ------------------------------------------------------------ */

/*
 * Run mptop with args; its stdout (and stderr too with both) in out.  The
 * exit status, or -1.  Through a file, not a pipe: a pool worker forked
 * meanwhile would inherit a pipe's write end and we would never see its
 * end of file.
 */
static const char *run_prefix = ""; /* e.g. a setpriv command */

static int mptop(const char *args, bool both, char *out, size_t len)
{
	const char *bin = getenv("MPTOP");
	char cmd[512], path[] = "/tmp/mptop-test-XXXXXX";
	int fd = mkstemp(path), st = 0;
	pid_t pid;

	out[0] = 0;
	if (!bin || fd < 0)
		return -1;
	snprintf(cmd, sizeof(cmd), "exec %s %s %s >%s %s", run_prefix, bin,
	         args, path, both ? "2>&1" : "2>/dev/null");
	char *argv[] = { "sh", "-c", cmd, NULL };
	if (posix_spawn(&pid, "/bin/sh", NULL, NULL, argv, environ) != 0 ||
	    waitpid(pid, &st, 0) != pid) {
		st = -1;
	} else {
		ssize_t n = pread(fd, out, len - 1, 0);
		out[n > 0 ? n : 0] = 0;
	}
	close(fd);
	unlink(path);
	return st >= 0 && WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

/* Run mptop on pid until its output holds every one of want[] (the family
 * settles: children reach their futex waits), at most TEST_WAIT_NS. */
static bool mptop_until(pid_t pid, const char *const *want, char *out,
                        size_t len)
{
	char args[32];
	int64_t deadline;
	snprintf(args, sizeof(args), "%d", (int)pid);
	mp__deadline(TEST_WAIT_NS, &deadline);
	do {
		bool all = mptop(args, false, out, len) == 0;
		for (const char *const *w = want; all && *w; w++)
			all = strstr(out, *w) != NULL;
		if (all)
			return true;
		usleep(20000);
	} while (mp_sys_now_ns() < deadline);
	fprintf(stderr, "\nmptop said:\n%s\n", out);
	return false;
}

/* ---- the family ------------------------------------------------------------- */

struct family {
	mp_lock_t *lock;
	mp_event_t *held, *release, *flag, *gate;
	_Atomic uint32_t *took;   /* waiters that got the lock */
};

static struct family fam;

static int holder_main(void *arg)
{
	(void)arg;
	if (mp_lock_acquire(fam.lock, TEST_WAIT_NS) != 0)
		return 10;
	mp_event_set(fam.held);
	if (mp_event_wait(fam.release, 3 * TEST_WAIT_NS) != 1)
		return 11;
	return mp_lock_release(fam.lock) == 0 ? 0 : 12;
}

static int waiter_main(void *arg)
{
	(void)arg;
	if (mp_lock_acquire(fam.lock, 3 * TEST_WAIT_NS) != 0)
		return 20;
	atomic_fetch_add(fam.took, 1);
	return mp_lock_release(fam.lock) == 0 ? 0 : 21;
}

static int blocking_task(const void *in, size_t len, mp_out_t *out)
{
	(void)in, (void)len, (void)out;
	return mp_event_wait(fam.gate, 3 * TEST_WAIT_NS) == 1 ? 0 : -ETIMEDOUT;
}

static mp_process_t *spawn(mp_target_t fn)
{
	int err = 0;
	mp_process_t *p = mp_process_new(fn, NULL, NULL, 0, &err);
	CU_ASSERT_PTR_NOT_NULL_FATAL(p);
	MPT_OK(mp_process_start(p));
	return p;
}

static void join_ok(mp_process_t *p)
{
	int code = -1;
	MPT_OK(mp_process_join(p, TEST_WAIT_NS));
	MPT_OK(mp_process_exitcode(p, &code));
	MPT_EQ(code, 0);
	mp_process_free(p);
}

/* Puts five messages of 10..50 bytes: the ring holds 5 headers of 8
 * bytes and the data padded to 8 - 40 + 16+24+32+40+56 = 208 bytes. */
static mp_queue_t *known_queue(void)
{
	char buf[64] = { 0 };
	int err = 0;
	mp_queue_t *q = mp_queue_new(NULL, &err);
	CU_ASSERT_PTR_NOT_NULL_FATAL(q);
	for (size_t len = 10; len <= 50; len += 10)
		MPT_OK(mp_queue_put(q, buf, len, 0));
	return q;
}

static void check_text(pid_t self, pid_t holder)
{
	char out[16384], want_head[128], want_holder[64];
	snprintf(want_head, sizeof(want_head), "held by pid %d (tid %d",
	         (int)holder, (int)holder);
	snprintf(want_holder, sizeof(want_holder), ", 2 waiting");
	const char *const want[] = {
		want_head, want_holder, "5 messages, 208 of",
		"Semaphore value 3", "Event set", "Event clear",
		"running fn", "idle", NULL,
	};
	CU_ASSERT_FATAL(mptop_until(self, want, out, sizeof(out)));
	fprintf(stderr, "\n%s", out); /* for the log */
	/* The headline is the first line, and names the holder. */
	CU_ASSERT(strncmp(out, "lock 0x", 7) == 0);
	CU_ASSERT(strstr(out, want_head) < strchr(out, '\n'));
	/* The pool: two workers, one running our task, one idle. */
	CU_ASSERT(strstr(out, "2 workers") != NULL);
	CU_ASSERT(strstr(out, "test_mptop+0x") != NULL);
	/* The holder, the waiters and the workers are in the family. */
	char pid[24];
	snprintf(pid, sizeof(pid), " %d ", (int)holder);
	CU_ASSERT(strstr(out, pid) != NULL);
	/* Any member names the family: the holder itself, say. */
	const char *const by_child[] = { want_head, "5 messages, 208 of", NULL };
	CU_ASSERT(mptop_until(holder, by_child, out, sizeof(out)));
}

static void check_json(pid_t self, pid_t holder)
{
	char out[16384], args[32], want[64];
	snprintf(args, sizeof(args), "--json %d", (int)self);
	MPT_EQ(mptop(args, false, out, sizeof(out)), 0);
	snprintf(want, sizeof(want), "\"holder_pid\":%d", (int)holder);
	CU_ASSERT(strstr(out, want) != NULL);
	CU_ASSERT(strstr(out, "\"messages\":5,\"bytes\":208") != NULL);
	CU_ASSERT(strstr(out, "\"state\":\"running\"") != NULL);
	/* Refreshed: two draws, then it stops by itself. */
	snprintf(args, sizeof(args), "-d 0.05 -n 2 %d", (int)self);
	MPT_EQ(mptop(args, false, out, sizeof(out)), 0);
	char *second = strstr(out, "processes (");
	CU_ASSERT(second && strstr(second + 1, "processes (") != NULL);
}

/* The holder stopped: slowness proves nothing, it still holds the lock. */
static void check_stopped(pid_t self, pid_t holder)
{
	char out[16384], want[64];
	snprintf(want, sizeof(want), "held by pid %d", (int)holder);
	const char *const w[] = { want, NULL };
	MPT_OK(kill(holder, SIGSTOP));
	CU_ASSERT(mptop_until(self, w, out, sizeof(out)));
	MPT_OK(kill(holder, SIGCONT));
}

static void test_family(void)
{
	int err = 0;
	mp_pool_attr_t pa = { .processes = 2, .sandbox = MP_SANDBOX_NONE };

	if (!getenv("MPTOP")) {
		MPT_SKIP("MPTOP is not set (meson sets it)");
		return;
	}
	fam.lock = mp_lock_new(&err);
	fam.held = mp_event_new(&err);
	fam.release = mp_event_new(&err);
	fam.gate = mp_event_new(&err);
	fam.took = mp_heap_alloc(sizeof(*fam.took), &err);
	mp_sem_t *sem = mp_sem_new(3, false, &err);
	CU_ASSERT_PTR_NOT_NULL_FATAL(fam.took);
	CU_ASSERT_PTR_NOT_NULL_FATAL(sem);
	mp_queue_t *q = known_queue();
	mp_pool_t *pool = mp_pool_new(&pa, &err);
	CU_ASSERT_PTR_NOT_NULL_FATAL(pool);
	mp_result_t *res = mp_pool_apply_async(pool, blocking_task, NULL, 0,
	                                       NULL, NULL, NULL, &err);
	CU_ASSERT_PTR_NOT_NULL_FATAL(res);

	mp_process_t *h = spawn(holder_main);
	MPT_EQ(mp_event_wait(fam.held, TEST_WAIT_NS), 1);
	mp_process_t *w1 = spawn(waiter_main), *w2 = spawn(waiter_main);
	pid_t hp = mp_process_pid(h);

	check_text(getpid(), hp);
	check_json(getpid(), hp);
	check_stopped(getpid(), hp);

	/* Undisturbed: the lock is still the holder's, nobody got it ... */
	struct mp__peek_lock pl;
	MPT_OK(mp__lock_peek(fam.lock, false, &pl));
	MPT_EQ(pl.tid, hp);
	MPT_EQ(atomic_load(fam.took), 0);
	/* ... and the waiters wake when it is released. */
	MPT_OK(mp_event_set(fam.release));
	join_ok(h);
	join_ok(w1);
	join_ok(w2);
	MPT_EQ(atomic_load(fam.took), 2);
	MPT_OK(mp_event_set(fam.gate));
	MPT_EQ(mp_result_get(res, TEST_WAIT_NS, NULL, NULL), 0);
	mp_result_free(res);
	MPT_OK(mp_pool_close(pool));
	MPT_OK(mp_pool_join(pool, TEST_WAIT_NS));
	mp_pool_free(pool);
	MPT_OK(mp_queue_free(q));
	MPT_OK(mp_sem_free(sem));
	mp_heap_free(fam.took);
	mp_event_free(fam.gate);
	mp_event_free(fam.held);
	mp_event_free(fam.release);
	MPT_OK(mp_lock_free(fam.lock));
}

/* ---- pids it cannot show: one line, a non-zero exit ------------------------- */

static void one_line_failure(const char *args, const char *reason)
{
	char out[1024];
	int rc = mptop(args, true, out, sizeof(out));
	CU_ASSERT(rc != 0 && rc != -1);
	CU_ASSERT(strstr(out, reason) != NULL);
	char *nl = strchr(out, '\n');
	CU_ASSERT(nl && nl[1] == 0);
	if (!strstr(out, reason))
		fprintf(stderr, "\nmptop %s said: %s\n", args, out);
}

static void test_not_mproc(void)
{
	char *argv[] = { "sleep", "60", NULL };
	pid_t pid;
	char args[32];

	if (!getenv("MPTOP")) {
		MPT_SKIP("MPTOP is not set (meson sets it)");
		return;
	}
	/* exec drops the heap we would have inherited: a plain process. */
	MPT_EQ(posix_spawnp(&pid, "sleep", NULL, NULL, argv, environ), 0);
	snprintf(args, sizeof(args), "%d", (int)pid);
	one_line_failure(args, "not an mproc process");
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
	/* Beyond any pid_max. */
	one_line_failure("2147483647", "no such process");
	/* Us, seen by a user who may not read us. */
	if (geteuid() != 0 || access("/usr/bin/setpriv", X_OK) != 0) {
		MPT_SKIP("not root, or no setpriv: the EPERM case");
		return;
	}
	run_prefix = "/usr/bin/setpriv --reuid=65534 --regid=65534"
	             " --clear-groups";
	snprintf(args, sizeof(args), "%d", (int)getpid());
	one_line_failure(args, "permission denied");
	run_prefix = "";
}

int main(void)
{
	static CU_TestInfo tests[] = {
		{ "registry: new and free, stale entries", test_registry },
		{ "registry: SIGKILL during new/free, mptop meanwhile",
		  test_churn_kill },
		{ "a family in a known state", test_family },
		{ "not an mproc process, no process, not ours to read",
		  test_not_mproc },
		CU_TEST_INFO_NULL,
	};
	return mpt_main("mptop", tests);
}
