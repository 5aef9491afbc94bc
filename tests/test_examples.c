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
	"b'hello'", "8", "array('i', [42, 1729, 0, 0, 0])",
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

static void check_seed_client(const char *out)
{
	for (int i = 0; i < 3; i++)
		MPT_EQ(count_exact(out, seed_client_lines[i]), 1);
}

/* Seed 003's client-server example, both ends ours. */
static void test_listener_client(void)
{
	struct run_result r;
	const char *args[] = { "both", NULL };
	run_example("listener_client", args, TEST_WAIT_NS, &r);
	MPT_EQ(r.status, 0);
	MPT_EQ(count_lines(r.out, "connection accepted from ('127.0.0.1', "), 1);
	MPT_EQ(count_lines(r.out, "recv(): a pickled object, 54 bytes"), 1);
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
	snprintf(path, sizeof(path), "%s/listener_client", dir ? dir : ".");
	const char *argv[] = { path, "server", "127.0.0.1:0", NULL };
	MPT_OK(mpt_proc_start(argv, "", &srv));
	MPT_OK(mpt_py_line(&srv, "listening on ", line, sizeof(line)));
	const char *args[] = { line + strlen("listening on "), NULL };
	MPT_OK(mpt_py_start(py, py_seed_client, args, &cli));
	int pst = mpt_py_finish(&cli), sst = mpt_py_finish(&srv);
	MPT_EQ(pst, 0);
	MPT_EQ(sst, 0);
	MPT_EQ(count_lines(cli.buf, "[2.25, None, 'junk', <class 'float'>]"), 1);
	check_seed_client(cli.buf);
	MPT_EQ(count_lines(srv.buf, "connection accepted from ('127.0.0.1', "), 1);
	if (pst || sst || CU_get_number_of_failures())
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
	MPT_EQ(count_lines(r.out, "recv(): a pickled object, "), 1);
	check_seed_client(r.out);
	MPT_EQ(mpt_py_finish(&srv), 0);
	MPT_EQ(count_lines(srv.buf, "connection accepted from ('127.0.0.1', "), 1);
}

static void test_listener_client_python(void)
{
	for (int minor = 11; minor <= 13; minor++) {
		struct mpt_py py;
		char why[96];
		if (!mpt_python_find(minor, &py)) {
			snprintf(why, sizeof(why), "no python3.%d: the seed's "
			         "example is NOT run against it", minor);
			MPT_SKIP(why);
			continue;
		}
		ours_serve_python(&py);
		python_serves_ours(&py);
	}
}

/* Seed 000's Listener example, sending bytes where it sent a function. */
static void test_listener_send(void)
{
	struct run_result r;
	run_example("listener_send", NULL, TEST_WAIT_NS, &r);
	MPT_EQ(r.status, 0);
	MPT_EQ(line_of(r.out, "接受到连接: ('0.0.0.0', "), 0);
	MPT_EQ(count_exact(r.out, "222"), 1);
	MPT_EQ(count_exact(r.out, "333"), 1);
	const char *l1 = strchr(r.out, '\n');
	CU_ASSERT(l1 && !strncmp(l1 + 1, "222\n333\n", 8)); /* in order */
	MPT_EQ(line_of(r.out, "最后一次连接请求为: ('127.0.0.1', "), 3);
}

int main(void)
{
	static CU_TestInfo tests[] = {
		{ "process run/start", test_process_run_start },
		{ "pipe, one-way (seed 000)", test_pipe_simplex },
		{ "recv_bytes_into (seed 000)", test_pipe_recv_into },
		{ "poll and fileno (seed 000)", test_pipe_poll },
		{ "listener and client (seed 003)", test_listener_client },
		{ "seed 003 against python", test_listener_client_python },
		{ "listener sends bytes (seed 000)", test_listener_send },
		CU_TEST_INFO_NULL,
	};
	return mpt_main("examples", tests);
}
