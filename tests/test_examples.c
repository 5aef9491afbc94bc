/*
 * test_examples.c - every seed example, as a C program under
 * tools/examples/, behaves as the seed describes.
 */
#include "examples.h"
#include "pyutil.h"

/* Seed: p.run() runs test() in the main process (no child); ".....end"
 * comes only after it.  p.start() runs it in a child while the main
 * process carries on. */
static void test_process_run_start(void)
{
	struct run_result r;
	const char *run_args[] = { "run", "3", NULL };
	run_example("process_run_start", run_args, TEST_WAIT_NS, &r);
	MPT_EQ(r.status, 0);
	int main_pid = 0;
	CU_ASSERT_FATAL(sscanf(r.out, "main pid %d", &main_pid) == 1);
	char mine[64];
	snprintf(mine, sizeof(mine), ".....1...... (pid %d)", main_pid);
	MPT_EQ(count_lines(r.out, mine), 3);
	MPT_EQ(count_lines(r.out, ".....1......"), 3);
	/* run() returned before ".....end" was printed. */
	CU_ASSERT(strstr(r.out, ".....end") > strstr(r.out, mine));

	const char *start_args[] = { "start", "3", NULL };
	run_example("process_run_start", start_args, TEST_WAIT_NS, &r);
	MPT_EQ(r.status, 0);
	CU_ASSERT_FATAL(sscanf(r.out, "main pid %d", &main_pid) == 1);
	snprintf(mine, sizeof(mine), ".....1...... (pid %d)", main_pid);
	MPT_EQ(count_lines(r.out, mine), 0);            /* not in main */
	MPT_EQ(count_lines(r.out, ".....1......"), 3);  /* in the child */
	MPT_EQ(count_lines(r.out, ".....end"), 1);
}

/* Seed: 4 workers take (func, args) tasks from a queue until 'STOP' and put
 * "<name> says that <func><args> = <result>" on a done queue: 20 mul
 * results, then 10 plus results, each exactly once, unordered. */
static void test_queue_workers(void)
{
	struct run_result r;
	run_example("queue_workers", NULL, MP_SEC(30), &r);
	MPT_EQ(r.status, 0);
	MPT_EQ(count_lines(r.out, "Unordered results:"), 1);
	MPT_EQ(count_lines(r.out, " says that "), 30);
	for (int i = 0; i < 20; i++) {
		char want[64];
		snprintf(want, sizeof(want), " says that mul(%d, 7) = %d", i,
		         i * 7);
		MPT_EQ(count_lines(r.out, want), 1);
	}
	for (int i = 0; i < 10; i++) {
		char want[64];
		snprintf(want, sizeof(want), " says that plus(%d, 8) = %d", i,
		         i + 8);
		MPT_EQ(count_lines(r.out, want), 1);
	}
	/* Every result names one of the four workers. */
	int by_workers = 0;
	for (int w = 1; w <= 4; w++) {
		char name[32];
		snprintf(name, sizeof(name), "Process-%d says", w);
		by_workers += count_lines(r.out, name);
	}
	MPT_EQ(by_workers, 30);
	/* The mul results all come before any plus result. */
	CU_ASSERT(strstr(r.out, "plus(") > strstr(r.out, "mul(19, 7)"));
}

/* The "task N ran a..b" lines of a pool example, as seconds. */
static int spans(const char *out, double span[][2], int max)
{
	int n = 0;
	for (const char *l = out; l && n < max; l = strchr(l, '\n')) {
		int i;
		double a, b;
		if (*l == '\n')
			l++;
		if (sscanf(l, "task %d ran %lf..%lf", &i, &a, &b) == 3) {
			span[n][0] = a;
			span[n][1] = b;
			n++;
		}
	}
	return n;
}

/* The number on the last line of out (the examples' closing time), or -1. */
static double last_number(const char *out)
{
	size_t n = strlen(out);
	while (n && out[n - 1] == '\n')
		n--;
	while (n && out[n - 1] != '\n')
		n--;
	double v;
	return sscanf(out + n, "%lf", &v) == 1 ? v : -1;
}

/* Seed: apply blocks until its task is done, so two apply calls run one
 * after the other: each task ran (its sleep took time), the second began
 * only after the first ended, and the caller's clock, read after both
 * calls, is past the second's end.  Order only: how many seconds a sleep
 * takes is the machine's business. */
static void test_pool_apply(void)
{
	struct run_result r;
	const char *args[] = { "0.2", NULL };
	double s[2][2];
	run_example("pool_apply", args, TEST_WAIT_NS, &r);
	MPT_EQ(r.status, 0);
	MPT_EQ(spans(r.out, s, 2), 2);
	CU_ASSERT(s[0][0] < s[0][1] && s[1][0] < s[1][1]);
	CU_ASSERT(s[1][0] >= s[0][1]);
	CU_ASSERT(last_number(r.out) >= s[1][1]);
}

/* Seed: two apply_async calls run side by side: each started before the
 * other ended. */
static void test_pool_apply_async(void)
{
	struct run_result r;
	const char *args[] = { "0.2", NULL };
	double s[2][2];
	run_example("pool_apply_async", args, TEST_WAIT_NS, &r);
	MPT_EQ(r.status, 0);
	MPT_EQ(spans(r.out, s, 2), 2);
	CU_ASSERT(s[0][0] < s[1][1] && s[1][0] < s[0][1]);
}

/* Seed: map returns the results in input order, whatever order the tasks
 * finished in; starmap unpacks each tuple (each task prints its y). */
static void test_pool_map_starmap(void)
{
	struct run_result r;
	const char *args[] = { "0.05", NULL };
	run_example("pool_map", args, TEST_WAIT_NS, &r);
	MPT_EQ(r.status, 0);
	MPT_EQ(count_lines(r.out, "[3, 1, 2]"), 1);
	run_example("pool_starmap", args, TEST_WAIT_NS, &r);
	MPT_EQ(r.status, 0);
	for (int y = 1; y <= 3; y++) {
		char want[32];
		snprintf(want, sizeof(want), "当前任务：%d", y);
		MPT_EQ(count_lines(r.out, want), 1);
	}
	MPT_EQ(count_lines(r.out, "[1, 2, 3]"), 1);
	/* Task 1 sleeps least: it prints first. */
	CU_ASSERT(strstr(r.out, "当前任务：1") < strstr(r.out, "当前任务：3"));
}

/* ---- helpers for the sync examples -------------------------------------- */

struct lines {
	char *v[512];
	int n;
	char buf[65536];
};

/* Split out into lines (a copy). */
static void split(const char *out, struct lines *ls)
{
	snprintf(ls->buf, sizeof(ls->buf), "%s", out);
	ls->n = 0;
	for (char *save = NULL, *l = strtok_r(ls->buf, "\n", &save);
	     l && ls->n < 512; l = strtok_r(NULL, "\n", &save))
		ls->v[ls->n++] = l;
}

/* Index of the first line (from `from`) that contains needle, or -1. */
static int find(const struct lines *ls, const char *needle, int from)
{
	for (int i = from < 0 ? 0 : from; i < ls->n; i++)
		if (strstr(ls->v[i], needle))
			return i;
	return -1;
}

static int count(const struct lines *ls, const char *needle)
{
	int n = 0;
	for (int i = 0; i < ls->n; i++)
		n += strstr(ls->v[i], needle) != NULL;
	return n;
}

/* "<index>：<what>" */
static int find_idx(const struct lines *ls, int index, const char *what)
{
	char needle[128];
	snprintf(needle, sizeof(needle), "%d：%s", index, what);
	return find(ls, needle, 0);
}

/* ---- Lock ------------------------------------------------------------------- */

/* Seed: two processes pass through one critical section; each enters once
 * and leaves after it entered. */
static void test_lock_critical_section(void)
{
	struct run_result r;
	struct lines ls;
	run_example("lock_critical_section", NULL, TEST_WAIT_NS, &r);
	MPT_EQ(r.status, 0);
	split(r.out, &ls);
	MPT_EQ(count(&ls, "进入临界区"), 2);
	MPT_EQ(count(&ls, "退出临界区"), 2);
	MPT_EQ(count(&ls, ".....end"), 1);
	for (int i = 1; i <= 2; i++) {
		int in = find_idx(&ls, i, "进入临界区");
		int out = find_idx(&ls, i, "退出临界区");
		MPT_CMP(in, >=, 0);
		MPT_CMP(out, >, in);
	}
}

/* Seed: the lock is never released, the second process blocks.  Ours says
 * so after its timeout; the holder's exit then reads as EOWNERDEAD. */
static void test_lock_not_released(void)
{
	struct run_result r;
	struct lines ls;
	const char *args[] = { "200", NULL };
	run_example("lock_not_released", args, TEST_WAIT_NS, &r);
	MPT_EQ(r.status, 0);
	split(r.out, &ls);
	MPT_EQ(count(&ls, "进入临界区"), 2); /* one "进入", one "仍未进入" */
	MPT_EQ(count(&ls, "仍未进入临界区"), 1);
	int holder = find_idx(&ls, 1, "进入临界区") >= 0 ? 1 : 2;
	MPT_CMP(find_idx(&ls, holder, "进入临界区"), >=, 0);
	MPT_CMP(find_idx(&ls, 3 - holder, "等待 200 ms 后仍未进入临界区"), >, 
	        find_idx(&ls, holder, "进入临界区"));
	MPT_EQ(count(&ls, "退出临界区"), 0);
	MPT_EQ(find(&ls, "EOWNERDEAD", 0), ls.n - 1);
}

/* Seed (with): the critical section sleeps holding the lock, so the second
 * process enters only after the first left: enter, exit, enter, exit. */
static void test_lock_with(void)
{
	struct run_result r;
	struct lines ls;
	const char *args[] = { "50", NULL };
	run_example("lock_with", args, TEST_WAIT_NS, &r);
	MPT_EQ(r.status, 0);
	split(r.out, &ls);
	int first = find(&ls, "进入临界区", 0);
	CU_ASSERT_FATAL(first >= 0);
	int a = ls.v[first][0] - '0', b = 3 - a;
	MPT_EQ(find_idx(&ls, a, "退出临界区,用时"), find(&ls, "临界区", first + 1));
	MPT_CMP(find_idx(&ls, b, "进入临界区"), >, find_idx(&ls, a, "退出临界区"));
	MPT_CMP(find_idx(&ls, b, "退出临界区,用时"), >,
	        find_idx(&ls, b, "进入临界区"));
	MPT_EQ(count(&ls, "临界区"), 4);
}

/* ---- Semaphore --------------------------------------------------------------- */

/* Seed: Semaphore(2) lets two of three processes in at a time: replaying
 * the lines, never more than two inside, and two at once at some point. */
static void test_semaphore(void)
{
	struct run_result r;
	struct lines ls;
	const char *args[] = { "300", NULL };
	run_example("semaphore", args, TEST_WAIT_NS, &r);
	MPT_EQ(r.status, 0);
	split(r.out, &ls);
	int inside = 0, most = 0;
	for (int i = 0; i < ls.n; i++) {
		if (strstr(ls.v[i], "进入临界区"))
			inside++;
		if (strstr(ls.v[i], "退出临界区"))
			inside--;
		most = inside > most ? inside : most;
	}
	MPT_EQ(most, 2);
	MPT_EQ(inside, 0);
	for (int i = 1; i <= 3; i++)
		MPT_CMP(find_idx(&ls, i, "退出临界区"), >,
		        find_idx(&ls, i, "进入临界区"));
}

/* ---- Condition and Value --------------------------------------------------- */

/*
 * Replay a producer/consumer run: every count printed is one more (made)
 * or one less (used) than the one before, starting from Value('i', 3);
 * "full" only at 5, "empty" only at 0; each side waits `rounds` times and
 * ends; the final count is the last one printed.
 */
static void check_store(const char *name, int rounds)
{
	struct run_result r;
	struct lines ls;
	char rs[16];
	snprintf(rs, sizeof(rs), "%d", rounds);
	const char *args[] = { rs, "2", NULL };
	run_example(name, args, TEST_WAIT_NS, &r);
	MPT_EQ(r.status, 0);
	split(r.out, &ls);
	int n = 3, bad = 0, made = 0, used = 0;
	for (int i = 0; i < ls.n; i++) {
		const char *l = ls.v[i], *num;
		if ((num = strstr(l, "当前产品数:"))) {
			bad += atoi(num + strlen("当前产品数:")) != ++n;
			made++;
		} else if ((num = strstr(l, "当前产品数："))) {
			bad += atoi(num + strlen("当前产品数：")) != --n;
			used++;
		} else if (strstr(l, "仓库已满")) {
			bad += n != 5;
		} else if (strstr(l, "没有多余的产品")) {
			bad += n != 0;
		} else if ((num = strstr(l, "最终产品数："))) {
			bad += atoi(num + strlen("最终产品数：")) != n;
		}
		if (n < 0 || n > 5)
			bad++;
	}
	MPT_EQ(bad, 0);
	MPT_EQ(count(&ls, "生产者等待"), rounds);
	MPT_EQ(count(&ls, "消费者等待"), rounds);
	MPT_EQ(count(&ls, "仓库已满,唤醒消费者"), rounds + 1);
	MPT_EQ(count(&ls, "没有多余的产品，唤醒生产者"), rounds + 1);
	MPT_EQ(count(&ls, "生产者结束"), 1);
	MPT_EQ(count(&ls, "消费者结束"), 1);
	MPT_EQ(find(&ls, "最终产品数", 0), ls.n - 1);
	MPT_EQ(3 + made - used, n);
	MPT_CMP(made, >=, 5 * rounds); /* it really went round */
}

static void test_producer_consumer(void)
{
	check_store("producer_consumer", 3);
	check_store("producer_consumer", 0);
}

static void test_producer_consumer2(void)
{
	check_store("producer_consumer2", 3);
	check_store("producer_consumer2", 0);
}

/* ---- Event ------------------------------------------------------------------ */

/* Seed: the consumer gets the product only after the producer is done. */
static void test_event(void)
{
	struct run_result r;
	struct lines ls;
	const char *args[] = { "100", NULL };
	run_example("event", args, TEST_WAIT_NS, &r);
	MPT_EQ(r.status, 0);
	split(r.out, &ls);
	int start = find(&ls, "开始生产产品", 0), done = find(&ls, "生产完成", 0);
	int waiting = find(&ls, "等待产品", 0), got = find(&ls, "获得产品", 0);
	CU_ASSERT(start >= 0 && waiting >= 0);
	MPT_CMP(done, >, start);
	MPT_CMP(got, >, done);
	MPT_CMP(got, >, waiting);
	MPT_EQ(ls.n, 5); /* those four and .....end */
}

/* Index of the first line containing needle, or -1. */
static int line_of(const char *out, const char *needle)
{
	int i = 0;
	for (const char *l = out; l && *l; i++) {
		const char *e = strchr(l, '\n');
		size_t len = e ? (size_t)(e - l) : strlen(l);
		char line[1024];
		snprintf(line, sizeof(line), "%.*s", (int)len, l);
		if (strstr(line, needle))
			return i;
		l = e ? e + 1 : NULL;
	}
	return -1;
}

/* Seed 000, Pipe(False): main gets the first message, foo2 the second. */
static void test_pipe_simplex(void)
{
	struct run_result r;
	const char *args[] = { "100", NULL };
	run_example("pipe_simplex", args, TEST_WAIT_NS, &r);
	MPT_EQ(r.status, 0);
	MPT_EQ(count_lines(r.out, "abcd0 Main"), 1);
	MPT_EQ(count_lines(r.out, "abcd1"), 1);
	MPT_EQ(count_lines(r.out, "abcd"), 2);
	MPT_CMP(line_of(r.out, "abcd0 Main"), <, line_of(r.out, "abcd1"));
}

/* Seed 000, recv_bytes_into(bytearray(10)) -> 4. */
static void test_pipe_recv_into(void)
{
	struct run_result r;
	const char *args[] = { "200", NULL };
	run_example("pipe_recv_into", args, TEST_WAIT_NS, &r);
	MPT_EQ(r.status, 0);
	MPT_EQ(line_of(r.out, "4 Main"), 0);
	MPT_EQ(line_of(r.out, "2222"), 1);
	MPT_EQ(count_lines(r.out,
	       "bytearray(b'2222\\x00\\x00\\x00\\x00\\x00\\x00')"), 1);
	MPT_EQ(count_lines(r.out, "b'3333'"), 1);
}

/* Seed 000, poll and fileno. */
static void test_pipe_poll(void)
{
	struct run_result r;
	const char *args[] = { "100", NULL };
	run_example("pipe_poll", args, TEST_WAIT_NS, &r);
	MPT_EQ(r.status, 0);
	MPT_EQ(line_of(r.out, "False"), 0);
	MPT_EQ(line_of(r.out, "abcd0 Main"), 1);
	int fd = -1;
	const char *third = strchr(strchr(r.out, '\n') + 1, '\n');
	CU_ASSERT_FATAL(third != NULL);
	CU_ASSERT(sscanf(third + 1, "%d", &fd) == 1 && fd > 2);
	MPT_EQ(count_lines(r.out, "abcd1"), 1);
}

static const char *const seed_client_lines[] = {
	"[2.25, None, 'junk', <class 'float'>]", "b'hello'", "8",
	"array('i', [42, 1729, 0, 0, 0])",
};

/* Number of lines of out equal to line. */
static int count_exact(const char *out, const char *line)
{
	int n = 0;
	size_t len = strlen(line);
	for (const char *l = out; l && *l;) {
		const char *e = strchr(l, '\n');
		size_t ll = e ? (size_t)(e - l) : strlen(l);
		n += ll == len && !strncmp(l, line, len);
		l = e ? e + 1 : NULL;
	}
	return n;
}

/* The index of the first line of out equal to line, or -1. */
static int line_exact(const char *out, const char *line)
{
	size_t len = strlen(line);
	int i = 0;
	for (const char *l = out; l && *l; i++) {
		const char *e = strchr(l, '\n');
		size_t ll = e ? (size_t)(e - l) : strlen(l);
		if (ll == len && !strncmp(l, line, len))
			return i;
		l = e ? e + 1 : NULL;
	}
	return -1;
}

static void check_seed_client(const char *out)
{
	for (int i = 0; i < 4; i++)
		MPT_EQ(count_exact(out, seed_client_lines[i]), 1);
	/* In the seed's order. */
	for (int i = 1; i < 4; i++)
		MPT_EQ(line_exact(out, seed_client_lines[i]),
		       line_exact(out, seed_client_lines[i - 1]) + 1);
}

/* Seed 003's client-server example, both ends ours. */
static void test_listener_client(void)
{
	struct run_result r;
	const char *args[] = { "both", NULL };
	run_example("listener_client", args, TEST_WAIT_NS, &r);
	MPT_EQ(r.status, 0);
	MPT_EQ(count_lines(r.out, "connection accepted from ('127.0.0.1', "), 1);
	check_seed_client(r.out);
}

/* The seed's Python server and client, verbatim but for the address. */
static const char py_seed_server[] =
	"from multiprocessing.connection import Listener\n"
	"from array import array\n"
	"address = ('127.0.0.1', 0)\n"
	"with Listener(address, authkey=b'secret password') as listener:\n"
	"    print('listening on %s:%d' % listener.address, flush=True)\n"
	"    with listener.accept() as conn:\n"
	"        print('connection accepted from', listener.last_accepted)\n"
	"        conn.send([2.25, None, 'junk', float])\n"
	"        conn.send_bytes(b'hello')\n"
	"        conn.send_bytes(array('i', [42, 1729]))\n";

static const char py_seed_client[] =
	"import sys\n"
	"from multiprocessing.connection import Client\n"
	"from array import array\n"
	"h, p = sys.argv[1].rsplit(':', 1)\n"
	"address = (h, int(p))\n"
	"with Client(address, authkey=b'secret password') as conn:\n"
	"    print(conn.recv())\n"
	"    print(conn.recv_bytes())\n"
	"    arr = array('i', [0, 0, 0, 0, 0])\n"
	"    print(conn.recv_bytes_into(arr))\n"
	"    print(arr)\n";

/* Our server, the seed's Python client. */
static void ours_serve_python(const struct mpt_py *py)
{
	char path[1024], line[256];
	const char *dir = getenv("MPROC_EXAMPLES_DIR");
	struct mpt_pyproc srv, cli;
	unsigned fails = CU_get_number_of_failures();
	snprintf(path, sizeof(path), "%s/listener_client", dir ? dir : ".");
	const char *argv[] = { path, "server", "127.0.0.1:0", NULL };
	MPT_OK(mpt_proc_start(argv, "", &srv));
	MPT_OK(mpt_py_line(&srv, "listening on ", line, sizeof(line)));
	const char *args[] = { line + strlen("listening on "), NULL };
	MPT_OK(mpt_py_start(py, py_seed_client, args, &cli));
	int pst = mpt_py_finish(&cli), sst = mpt_py_finish(&srv);
	MPT_EQ(pst, 0);
	MPT_EQ(sst, 0);
	check_seed_client(cli.buf);
	MPT_EQ(count_lines(srv.buf, "connection accepted from ('127.0.0.1', "), 1);
	if (pst || sst || CU_get_number_of_failures() != fails)
		fprintf(stderr, "server:\n%s\nclient:\n%s\n", srv.buf, cli.buf);
}

/* The seed's Python server, our client. */
static void python_serves_ours(const struct mpt_py *py)
{
	char line[256];
	struct mpt_pyproc srv;
	struct run_result r;
	MPT_OK(mpt_py_start(py, py_seed_server, NULL, &srv));
	MPT_OK(mpt_py_line(&srv, "listening on ", line, sizeof(line)));
	const char *args[] = { "client", line + strlen("listening on "), NULL };
	run_example("listener_client", args, TEST_WAIT_NS, &r);
	MPT_EQ(r.status, 0);
	check_seed_client(r.out);
	MPT_EQ(mpt_py_finish(&srv), 0);
	MPT_EQ(count_lines(srv.buf, "connection accepted from ('127.0.0.1', "), 1);
}

/* Seed 003 against CPython 3.<minor>: skipped (meson says so: these run as
 * tests of their own, see tests/meson.build) when it is not installed. */
static void listener_client_python(int minor)
{
	struct mpt_py py;
	char why[96];
	if (!mpt_python_find(minor, &py)) {
		snprintf(why, sizeof(why), "no python3.%d: the seed's example "
		         "is NOT run against it", minor);
		MPT_SKIP(why);
		return;
	}
	ours_serve_python(&py);
	python_serves_ours(&py);
}

static void test_listener_client_python311(void)
{
	listener_client_python(11);
}

static void test_listener_client_python312(void)
{
	listener_client_python(12);
}

static void test_listener_client_python313(void)
{
	listener_client_python(13);
}

/* The server's four lines of seed 000's Listener example, in order: its
 * address, foo3's 222 and 333, the client's address (host: the
 * listener's as it was bound). */
static void check_send_server(const char *out, const char *host)
{
	char first[64];
	snprintf(first, sizeof(first), "接受到连接: ('%s', ", host);
	int at = line_of(out, first);
	MPT_CMP(at, >=, 0);
	const char *next = out; /* the line after line `at` */
	for (int i = 0; next && i <= at; i++)
		if ((next = strchr(next, '\n')))
			next++;
	CU_ASSERT(next && !strncmp(next, "222\n333\n", 8)); /* in order */
	MPT_EQ(count_exact(out, "222"), 1);
	MPT_EQ(count_exact(out, "333"), 1);
	MPT_EQ(line_of(out, "最后一次连接请求为: ('127.0.0.1', "), at + 3);
}

/* Seed 000's Listener example: the client sends foo3, the server calls
 * its own foo3 by that name. */
static void test_listener_send(void)
{
	struct run_result r;
	run_example("listener_send", NULL, TEST_WAIT_NS, &r);
	MPT_EQ(r.status, 0);
	MPT_EQ(line_of(r.out, "接受到连接: ('0.0.0.0', "), 0);
	check_send_server(r.out, "0.0.0.0");
}

/* Seed 000's foo1 and foo2, verbatim but for the addresses (and the
 * server printing where it listens). */
static const char py_send_client[] =
	"import sys\n"
	"from multiprocessing import connection as cn\n"
	"def foo3():\n"
	"    print(222)\n"
	"    return 333\n"
	"def foo1():\n"
	"    h, p = sys.argv[1].rsplit(':', 1)\n"
	"    con = cn.Client((h, int(p)), 'AF_INET', '123'.encode())\n"
	"    con.send(foo3)\n"
	"    con.close()\n"
	"foo1()\n";

static const char py_send_server[] =
	"from multiprocessing import connection as cn\n"
	"def foo3():\n"
	"    print(222)\n"
	"    return 333\n"
	"def foo2():\n"
	"    listen = cn.Listener(('127.0.0.1', 0), 'AF_INET', 1, '123'.encode())\n"
	"    print('listening on %s:%d' % listen.address, flush=True)\n"
	"    con = listen.accept()\n"
	"    print('接受到连接: {}'.format(listen.address))\n"
	"    fun = con.recv()\n"
	"    print(fun())\n"
	"    print('最后一次连接请求为: {}'.format(listen.last_accepted))\n"
	"    con.close()\n"
	"foo2()\n";

/* Our server and the seed's Python client, then the seed's Python server
 * and our client: the function named either way is the receiver's. */
static void listener_send_python(const struct mpt_py *py)
{
	char path[1024], line[256];
	const char *dir = getenv("MPROC_EXAMPLES_DIR");
	struct mpt_pyproc srv, cli;
	struct run_result r;
	unsigned fails = CU_get_number_of_failures();

	snprintf(path, sizeof(path), "%s/listener_send", dir ? dir : ".");
	const char *argv[] = { path, "server", "127.0.0.1:0", NULL };
	MPT_OK(mpt_proc_start(argv, "", &srv));
	MPT_OK(mpt_py_line(&srv, "listening on ", line, sizeof(line)));
	const char *args[] = { line + strlen("listening on "), NULL };
	MPT_OK(mpt_py_start(py, py_send_client, args, &cli));
	int pst = mpt_py_finish(&cli), sst = mpt_py_finish(&srv);
	MPT_EQ(pst, 0);
	MPT_EQ(sst, 0);
	check_send_server(srv.buf, "127.0.0.1");
	MPT_EQ(count_exact(cli.buf, "222"), 0); /* not run by its sender */
	if (pst || sst || CU_get_number_of_failures() != fails)
		fprintf(stderr, "server:\n%s\nclient:\n%s\n", srv.buf, cli.buf);

	fails = CU_get_number_of_failures();
	MPT_OK(mpt_py_start(py, py_send_server, NULL, &srv));
	MPT_OK(mpt_py_line(&srv, "listening on ", line, sizeof(line)));
	const char *cargs[] = { "client", line + strlen("listening on "), NULL };
	run_example("listener_send", cargs, TEST_WAIT_NS, &r);
	MPT_EQ(r.status, 0);
	MPT_EQ(count_exact(r.out, "222"), 0);
	sst = mpt_py_finish(&srv);
	MPT_EQ(sst, 0);
	check_send_server(srv.buf, "127.0.0.1");
	if (sst || CU_get_number_of_failures() != fails)
		fprintf(stderr, "python server:\n%s\nours:\n%s\n", srv.buf,
		        r.out);
}

static void listener_send_interop(int minor)
{
	struct mpt_py py;
	char why[96];
	if (!mpt_python_find(minor, &py)) {
		snprintf(why, sizeof(why), "no python3.%d: the seed's example "
		         "is NOT run against it", minor);
		MPT_SKIP(why);
		return;
	}
	listener_send_python(&py);
}

static void test_listener_send_python311(void)
{
	listener_send_interop(11);
}

static void test_listener_send_python312(void)
{
	listener_send_interop(12);
}

static void test_listener_send_python313(void)
{
	listener_send_interop(13);
}

/* Seed 003, shared memory: f sets Value('d') to 3.1415927 and negates
 * Array('i', range(10)) in another process; the parent prints both.  As
 * the seed (a forked child, heap objects), and with the objects in a named
 * segment that a second, unrelated program attaches by name: the same
 * lines, the name is the one created, and it is gone afterwards. */
static void test_value_array(void)
{
	struct run_result r;
	const char *want = "[0, -1, -2, -3, -4, -5, -6, -7, -8, -9]";
	run_example("value_array", NULL, TEST_WAIT_NS, &r);
	MPT_EQ(r.status, 0);
	MPT_EQ(line_of(r.out, "3.1415927"), 1);
	MPT_EQ(line_of(r.out, want), 2);
	MPT_EQ(count_lines(r.out, "f ran in pid "), 1);

	const char *args[] = { "shm", NULL };
	run_example("value_array", args, TEST_WAIT_NS, &r);
	MPT_EQ(r.status, 0);
	char made[64] = "", att[64] = "";
	void *pa = NULL, *pb = NULL;
	const char *c = strstr(r.out, "created "), *a = strstr(r.out, "attached ");
	CU_ASSERT_FATAL(c && a && a > c);
	CU_ASSERT(sscanf(c, "created %63s at %p", made, &pa) == 2);
	CU_ASSERT(sscanf(a, "attached %63s at %p", att, &pb) == 2);
	CU_ASSERT_STRING_EQUAL(made, att);
	MPT_EQ(strncmp(made, "psm_", 4), 0);
	MPT_EQ(line_of(r.out, "3.1415927"), 3);
	MPT_EQ(line_of(r.out, want), 4);
	char path[128];
	snprintf(path, sizeof(path), "/dev/shm/%s", made);
	MPT_EQ(access(path, F_OK), -1); /* unlinked */
}

/* Seed: four processes send ten messages each on their own pipe; wait()
 * hands the parent whatever is ready until all four reach end of file:
 * all 40 arrive, and each process's in the order it sent them. */
static void test_wait_pipes(void)
{
	struct run_result r;
	run_example("wait_pipes", NULL, TEST_WAIT_NS, &r);
	MPT_EQ(r.status, 0);
	MPT_EQ(count_lines(r.out, "'Process-"), 40);
	for (int p = 1; p <= 4; p++) {
		const char *prev = r.out;
		for (int i = 0; i < 10; i++) {
			char want[64];
			snprintf(want, sizeof(want), "(%d, 'Process-%d')", i, p);
			MPT_EQ(count_lines(r.out, want), 1);
			const char *at = strstr(r.out, want);
			CU_ASSERT(at && at >= prev);
			prev = at ? at : prev;
		}
	}
}

/* The seeds' wait() and Queue examples, verbatim. */
static const char py_seed_wait[] =
	"import time, random\n"
	"from multiprocessing import Process, Pipe, current_process\n"
	"from multiprocessing.connection import wait\n"
	"def foo(w):\n"
	"    for i in range(10):\n"
	"        w.send((i, current_process().name))\n"
	"    w.close()\n"
	"if __name__ == '__main__':\n"
	"    readers = []\n"
	"    for i in range(4):\n"
	"        r, w = Pipe(duplex=False)\n"
	"        readers.append(r)\n"
	"        p = Process(target=foo, args=(w,))\n"
	"        p.start()\n"
	"        w.close()\n"
	"    while readers:\n"
	"        for r in wait(readers):\n"
	"            try:\n"
	"                msg = r.recv()\n"
	"            except EOFError:\n"
	"                readers.remove(r)\n"
	"            else:\n"
	"                print(msg)\n";

static const char py_seed_queue[] =
	"import time\n"
	"import random\n"
	"from multiprocessing import Process, Queue, current_process, freeze_support\n"
	"def worker(input, output):\n"
	"    for func, args in iter(input.get, 'STOP'):\n"
	"        result = calculate(func, args)\n"
	"        output.put(result)\n"
	"def calculate(func, args):\n"
	"    result = func(*args)\n"
	"    return '%s says that %s%s = %s' % \\\n"
	"        (current_process().name, func.__name__, args, result)\n"
	"def mul(a, b):\n"
	"    time.sleep(0.5*random.random())\n"
	"    return a * b\n"
	"def plus(a, b):\n"
	"    time.sleep(0.5*random.random())\n"
	"    return a + b\n"
	"def test():\n"
	"    NUMBER_OF_PROCESSES = 4\n"
	"    TASKS1 = [(mul, (i, 7)) for i in range(20)]\n"
	"    TASKS2 = [(plus, (i, 8)) for i in range(10)]\n"
	"    task_queue = Queue()\n"
	"    done_queue = Queue()\n"
	"    for task in TASKS1:\n"
	"        task_queue.put(task)\n"
	"    for i in range(NUMBER_OF_PROCESSES):\n"
	"        Process(target=worker, args=(task_queue, done_queue)).start()\n"
	"    print('Unordered results:')\n"
	"    for i in range(len(TASKS1)):\n"
	"        print('\\t', done_queue.get())\n"
	"    for task in TASKS2:\n"
	"        task_queue.put(task)\n"
	"    for i in range(len(TASKS2)):\n"
	"        print('\\t', done_queue.get())\n"
	"    for i in range(NUMBER_OF_PROCESSES):\n"
	"        task_queue.put('STOP')\n"
	"if __name__ == '__main__':\n"
	"    freeze_support()\n"
	"    test()\n";

/* out with each "Process-N" made "Process-?" (which worker did what
 * differs from run to run). */
static void anonymous(const char *out, char *buf, size_t cap)
{
	snprintf(buf, cap, "%s", out);
	for (char *p = buf; (p = strstr(p, "Process-"));)
		for (p += 8; *p >= '0' && *p <= '9'; p++)
			*p = '?';
}

/* Every line either prints, as many times in the other's output. */
static void same_lines(const char *a, const char *b)
{
	const char *outs[2] = { a, b };
	for (int k = 0; k < 2; k++)
		for (const char *l = outs[k]; l && *l;) {
			const char *e = strchr(l, '\n');
			char line[512];
			snprintf(line, sizeof(line), "%.*s",
			         (int)(e ? e - l : (long)strlen(l)), l);
			int na = count_exact(a, line), nb = count_exact(b, line);
			if (na != nb)
				fprintf(stderr, "\n\"%s\": %d vs %d\n", line, na,
				        nb);
			MPT_EQ(na, nb);
			l = e ? e + 1 : NULL;
		}
}

/* Run a seed's own Python code, and our program; same lines printed. */
static void seed_vs_ours(const struct mpt_py *py, const char *script,
                         const char *example)
{
	static char ours[65536], theirs[65536];
	struct mpt_pyproc pp;
	struct run_result r;
	MPT_OK(mpt_py_start(py, script, NULL, &pp));
	int st = mpt_py_finish(&pp);
	MPT_EQ(st, 0);
	run_example(example, NULL, MP_SEC(30), &r);
	MPT_EQ(r.status, 0);
	anonymous(pp.buf, theirs, sizeof(theirs));
	anonymous(r.out, ours, sizeof(ours));
	MPT_CMP(strlen(ours), >, 0);
	same_lines(theirs, ours);
}

static void seed_output_python(int minor)
{
	struct mpt_py py;
	char why[96];
	if (!mpt_python_find(minor, &py)) {
		snprintf(why, sizeof(why), "no python3.%d: the seeds' own "
		         "output is NOT compared with ours", minor);
		MPT_SKIP(why);
		return;
	}
	seed_vs_ours(&py, py_seed_wait, "wait_pipes");
	seed_vs_ours(&py, py_seed_queue, "queue_workers");
}

static void test_seed_output_python311(void)
{
	seed_output_python(11);
}

static void test_seed_output_python312(void)
{
	seed_output_python(12);
}

static void test_seed_output_python313(void)
{
	seed_output_python(13);
}

int main(void)
{
	static CU_TestInfo tests[] = {
		{ "process run/start", test_process_run_start },
		{ "queue workers", test_queue_workers },
		{ "wait on pipes", test_wait_pipes },
		{ "pool apply", test_pool_apply },
		{ "pool apply_async", test_pool_apply_async },
		{ "pool map and starmap", test_pool_map_starmap },
		{ "lock: critical section", test_lock_critical_section },
		{ "lock: never released", test_lock_not_released },
		{ "lock: with", test_lock_with },
		{ "semaphore(2) of three", test_semaphore },
		{ "producer/consumer, one condition", test_producer_consumer },
		{ "producer/consumer, two conditions", test_producer_consumer2 },
		{ "event", test_event },
		{ "pipe, one-way (seed 000)", test_pipe_simplex },
		{ "recv_bytes_into (seed 000)", test_pipe_recv_into },
		{ "poll and fileno (seed 000)", test_pipe_poll },
		{ "listener and client (seed 003)", test_listener_client },
		{ "seed 003: interop python 3.11", test_listener_client_python311 },
		{ "seed 003: interop python 3.12", test_listener_client_python312 },
		{ "seed 003: interop python 3.13", test_listener_client_python313 },
		{ "listener, a function sent by name (seed 000)",
		  test_listener_send },
		{ "seeds' wait and queue output: interop python 3.11",
		  test_seed_output_python311 },
		{ "seeds' wait and queue output: interop python 3.12",
		  test_seed_output_python312 },
		{ "seeds' wait and queue output: interop python 3.13",
		  test_seed_output_python313 },
		{ "seed 000 listener: interop python 3.11",
		  test_listener_send_python311 },
		{ "seed 000 listener: interop python 3.12",
		  test_listener_send_python312 },
		{ "seed 000 listener: interop python 3.13",
		  test_listener_send_python313 },
		{ "Value and Array, forked and in a named segment (seed 003)",
		  test_value_array },
		CU_TEST_INFO_NULL,
	};
	return mpt_main("examples", tests);
}
