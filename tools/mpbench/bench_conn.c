/*
 * bench_conn.c - connections: round trips, throughput, authenticated
 * connects, each beside raw system calls or python3's multiprocessing.
 *
 * Every repetition forks its peer first and starts the clock only once the
 * peer is ready (a "go" byte), so process creation stays out of the value.
 * The .ring and .nospin rows pin the connection's I/O path and spin, to
 * show what the default (plain syscalls, adaptive spin) is chosen over.
 */
#include "mpbench.h"

#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "internal.h"

#define RT_SIZE 64
#define TPUT_SIZE (64 * 1024)

/* Row name parts: ".ring" pins the ring, ".nospin" pins plain system
 * calls, both without spinning; ".timed" gives every call a deadline;
 * "_readahead" turns read-ahead on at every receiving end. */
struct variant {
	bool ring, nospin, timed, readahead;
};

static struct variant variant_of(const struct mpb_case *c)
{
	return (struct variant){ strstr(c->name, ".ring") != NULL,
	                         strstr(c->name, ".nospin") != NULL,
	                         strstr(c->name, ".timed") != NULL,
	                         strstr(c->name, "_readahead") != NULL };
}

static int64_t timeout_of(struct variant v)
{
	return v.timed ? MP_SEC(10) : MP_FOREVER;
}

static void tune(mp_conn_t *c, struct variant v)
{
	if (v.ring || v.nospin) {
		mp__conn_set_path(c, v.ring ? MP__IO_RING : MP__IO_SYSCALL);
		mp_conn_set_spin(c, 0);
	}
	if (v.readahead && mp_conn_readable(c))
		mp_conn_set_readahead(c, MP_CONN_READAHEAD_DEFAULT);
}

static bool duplex_of(const struct mpb_case *c)
{
	return strstr(c->name, "/pipe") == NULL;
}

/* Exactly len bytes, or -1. */
static int read_full(int fd, void *buf, size_t len)
{
	for (size_t got = 0; got < len;) {
		ssize_t n = read(fd, (char *)buf + got, len - got);
		if (n <= 0)
			return -1;
		got += (size_t)n;
	}
	return 0;
}

/* Fork a peer running fn(arg); returns after it said it is ready. */
static pid_t start_peer(void (*fn)(void *), void *arg, int *go_fd)
{
	int ready[2], go[2];
	char b;
	*go_fd = -1;
	if (pipe(ready) < 0)
		return -errno;
	if (pipe(go) < 0) {
		int err = -errno;
		close(ready[0]);
		close(ready[1]);
		return err;
	}
	pid_t pid = fork();
	if (pid == 0) {
		close(ready[0]);
		close(go[1]);
		if (write(ready[1], "r", 1) != 1 || read(go[0], &b, 1) != 1)
			_exit(1);
		fn(arg);
		_exit(0);
	}
	close(ready[1]);
	close(go[0]);
	if (pid < 0 || read(ready[0], &b, 1) != 1) {
		close(ready[0]);
		close(go[1]);
		return pid < 0 ? -errno : -EIO;
	}
	close(ready[0]);
	*go_fd = go[1];
	return pid;
}

static int64_t go_now(int go_fd)
{
	int64_t t0 = mpb_now();
	ssize_t w = write(go_fd, "g", 1);
	close(go_fd);
	return w == 1 ? t0 : -1;
}

static int end_peer(pid_t pid)
{
	int st = 0;
	waitpid(pid, &st, 0);
	return WIFEXITED(st) && WEXITSTATUS(st) == 0 ? 0 : -EIO;
}

/* ---- round trips ----------------------------------------------------------- */

struct rt {
	mp_conn_t *in, *out;  /* the peer's ends */
	int rfd, wfd;         /* raw: the peer's ends */
	long n;
	int64_t timeout;
};

static void mproc_echo(void *arg)
{
	struct rt *a = arg;
	uint8_t buf[RT_SIZE];
	for (long i = 0; i < a->n; i++)
		if (mp_conn_recv_bytes_into(a->in, buf, sizeof(buf), 0, NULL,
		                            a->timeout) != RT_SIZE ||
		    mp_conn_send_bytes(a->out, buf, RT_SIZE, a->timeout) < 0)
			_exit(2);
}

/* Two connection pairs: to the peer and back (one socketpair when duplex). */
static int make_pairs(bool duplex, struct variant v, mp_conn_t *mine[2],
                      mp_conn_t *peer[2])
{
	mp_conn_t *a, *b, *c = NULL, *d = NULL;
	int r = mp_pipe(duplex, &a, &b);
	if (r == 0 && !duplex && (r = mp_pipe(false, &c, &d)) < 0) {
		mp_conn_close(a);
		mp_conn_close(b);
	}
	if (r < 0)
		return r;
	/* mine: [0] sends, [1] receives; peer: [0] receives, [1] sends. */
	mine[0] = duplex ? a : b;
	mine[1] = duplex ? a : c;
	peer[0] = duplex ? b : a;
	peer[1] = duplex ? b : d;
	for (int i = 0; i < 2; i++) {
		tune(mine[i], v);
		tune(peer[i], v);
	}
	return 0;
}

static void close_pairs(bool duplex, mp_conn_t *x[2])
{
	mp_conn_close(x[0]);
	if (!duplex)
		mp_conn_close(x[1]);
}

static int mproc_rt(const struct mpb_case *c, long iters, double *value,
                    const char **why)
{
	(void)why;
	bool duplex = duplex_of(c);
	mp_conn_t *mine[2], *peer[2];
	uint8_t buf[RT_SIZE] = { 0 };
	struct variant v = variant_of(c);
	int64_t tmo = timeout_of(v);
	int go, r = make_pairs(duplex, v, mine, peer);
	if (r < 0)
		return r;
	struct rt a = { .in = peer[0], .out = peer[1], .n = iters,
	                .timeout = tmo };
	pid_t pid = start_peer(mproc_echo, &a, &go);
	close_pairs(duplex, peer);
	if (pid < 0) {
		close_pairs(duplex, mine);
		return (int)pid;
	}
	int64_t t0 = go_now(go), lap = t0;
	for (long i = 0; i < iters && r >= 0; i++) {
		r = mp_conn_send_bytes(mine[0], buf, RT_SIZE, tmo);
		if (r >= 0)
			r = (int)mp_conn_recv_bytes_into(mine[1], buf, sizeof(buf),
			                                 0, NULL, tmo);
		lap = mpb_lat_lap(lap);
	}
	int64_t t1 = mpb_now();
	close_pairs(duplex, mine);
	if (end_peer(pid) < 0 || r < 0 || t0 < 0)
		return r < 0 ? r : -EIO;
	*value = (double)(t1 - t0) / 1e3 / (double)iters;
	return 0;
}

/* ---- values: Connection.send / recv ------------------------------------------ */

/* {'id': 1, 'name': 'task', 'args': [1, 2.5], 'ok': True}: a small
 * message as an application sends one. */
static mp_obj_t *small_dict(void)
{
	int err = 0;
	mp_obj_t *d = mp_obj_dict(), *l = mp_obj_list();
	if (!d || !l || mp_obj_list_append(l, mp_obj_int(1)) < 0 ||
	    mp_obj_list_append(l, mp_obj_float(2.5)) < 0 ||
	    mp_obj_dict_set(d, mp_obj_cstr("id", &err), mp_obj_int(1)) < 0 ||
	    mp_obj_dict_set(d, mp_obj_cstr("name", &err),
	                    mp_obj_cstr("task", &err)) < 0 ||
	    mp_obj_dict_set(d, mp_obj_cstr("args", &err), l) < 0 ||
	    mp_obj_dict_set(d, mp_obj_cstr("ok", &err), mp_obj_bool(true)) < 0) {
		mp_obj_decref(d);
		return NULL;
	}
	return d;
}

static void obj_echo(void *arg)
{
	struct rt *a = arg;
	int err = 0;
	for (long i = 0; i < a->n; i++) {
		mp_obj_t *o = mp_conn_recv_obj(a->in, NULL, MP_FOREVER, &err);
		if (!o || mp_conn_send_obj(a->out, o, MP_FOREVER) < 0)
			_exit(2);
		mp_obj_decref(o);
	}
}

static int mproc_obj_rt(const struct mpb_case *c, long iters, double *value,
                        const char **why)
{
	(void)c;
	(void)why;
	mp_conn_t *mine[2], *peer[2];
	mp_obj_t *d = small_dict();
	int go, err = 0, r = d ? make_pairs(true, (struct variant){ 0 }, mine,
	                                    peer)
	                       : -ENOMEM;
	if (r < 0) {
		mp_obj_decref(d);
		return r;
	}
	struct rt a = { .in = peer[0], .out = peer[1], .n = iters };
	pid_t pid = start_peer(obj_echo, &a, &go);
	close_pairs(true, peer);
	if (pid < 0) {
		close_pairs(true, mine);
		mp_obj_decref(d);
		return (int)pid;
	}
	int64_t t0 = go_now(go), lap = t0;
	for (long i = 0; i < iters && r >= 0; i++) {
		r = mp_conn_send_obj(mine[0], d, MP_FOREVER);
		mp_obj_t *o = r < 0 ? NULL
		              : mp_conn_recv_obj(mine[1], NULL, MP_FOREVER, &err);
		r = o ? 0 : r < 0 ? r : err;
		mp_obj_decref(o);
		lap = mpb_lat_lap(lap);
	}
	int64_t t1 = mpb_now();
	close_pairs(true, mine);
	mp_obj_decref(d);
	if (end_peer(pid) < 0 || r < 0 || t0 < 0)
		return r < 0 ? r : -EIO;
	*value = (double)(t1 - t0) / 1e3 / (double)iters;
	return 0;
}

static void raw_echo(void *arg)
{
	struct rt *a = arg;
	uint8_t buf[RT_SIZE];
	for (long i = 0; i < a->n; i++)
		if (read_full(a->rfd, buf, RT_SIZE) < 0 ||
		    write(a->wfd, buf, RT_SIZE) != RT_SIZE)
			_exit(2);
}

static int raw_rt(const struct mpb_case *c, long iters, double *value,
                  const char **why)
{
	(void)why;
	int p1[2], p2[2], go;
	uint8_t buf[RT_SIZE] = { 0 };
	if (duplex_of(c)) {
		if (socketpair(AF_UNIX, SOCK_STREAM, 0, p1) < 0)
			return -errno;
		p2[0] = p1[1]; /* peer reads and writes p1[1] */
		p2[1] = p1[0]; /* we write and read p1[0] */
	} else if (pipe(p1) < 0 || pipe(p2) < 0) {
		return -errno;
	}
	bool sp = duplex_of(c);
	struct rt a = { .rfd = sp ? p1[1] : p1[0], .wfd = sp ? p1[1] : p2[1],
	                .n = iters };
	pid_t pid = start_peer(raw_echo, &a, &go);
	int wfd = sp ? p1[0] : p1[1], rfd = sp ? p1[0] : p2[0];
	int64_t t0 = go_now(go), lap = t0;
	int r = 0;
	for (long i = 0; i < iters && r == 0; i++) {
		if (write(wfd, buf, RT_SIZE) != RT_SIZE ||
		    read_full(rfd, buf, RT_SIZE) < 0)
			r = -EIO;
		lap = mpb_lat_lap(lap);
	}
	int64_t t1 = mpb_now();
	close(p1[0]);
	close(p1[1]);
	if (!sp) {
		close(p2[0]);
		close(p2[1]);
	}
	if (pid < 0 || end_peer(pid) < 0 || r < 0 || t0 < 0)
		return -EIO;
	*value = (double)(t1 - t0) / 1e3 / (double)iters;
	return 0;
}

/*
 * Both ends on one CPU (the caller's; the peer inherits it across fork):
 * each wake-up is then a direct switch, and the round trip counts system
 * calls, not where the scheduler put the two processes or how long an
 * idle CPU takes to wake (README, "Reading the table").
 */
static int on_one_cpu(mpb_run_fn fn, const struct mpb_case *c, long iters,
                      double *value, const char **why)
{
	cpu_set_t old, one;
	int cpu = sched_getcpu();

	if (cpu < 0 || sched_getaffinity(0, sizeof(old), &old) < 0)
		return -errno;
	CPU_ZERO(&one);
	CPU_SET(cpu, &one);
	if (sched_setaffinity(0, sizeof(one), &one) < 0)
		return -errno;
	int r = fn(c, iters, value, why);
	sched_setaffinity(0, sizeof(old), &old);
	return r;
}

static int mproc_rt_cpu1(const struct mpb_case *c, long iters, double *value,
                         const char **why)
{
	return on_one_cpu(mproc_rt, c, iters, value, why);
}

static int raw_rt_cpu1(const struct mpb_case *c, long iters, double *value,
                       const char **why)
{
	return on_one_cpu(raw_rt, c, iters, value, why);
}

/* ---- throughput, one way --------------------------------------------------- */

struct tput {
	mp_conn_t *out;
	int wfd;
	long n;
};

static uint8_t tput_src[TPUT_SIZE], tput_dst[TPUT_SIZE];

static void mproc_source(void *arg)
{
	struct tput *a = arg;
	for (long i = 0; i < a->n; i++)
		if (mp_conn_send_bytes(a->out, tput_src, TPUT_SIZE,
		                       MP_FOREVER) < 0)
			_exit(2);
}

static double gbps(long iters, int64_t ns)
{
	return (double)iters * TPUT_SIZE / (double)ns; /* bytes/ns = GB/s */
}

static int mproc_tput(const struct mpb_case *c, long iters, double *value,
                      const char **why)
{
	(void)why;
	bool duplex = duplex_of(c);
	mp_conn_t *a, *b;
	int go, r = mp_pipe(duplex, &a, &b);
	if (r < 0)
		return r;
	tune(a, variant_of(c));
	tune(b, variant_of(c));
	struct tput t = { .out = b, .n = iters };
	pid_t pid = start_peer(mproc_source, &t, &go);
	mp_conn_close(b);
	if (pid < 0) {
		mp_conn_close(a);
		return (int)pid;
	}
	int64_t t0 = go_now(go);
	for (long i = 0; i < iters && r >= 0; i++)
		r = (int)mp_conn_recv_bytes_into(a, tput_dst, TPUT_SIZE, 0, NULL,
		                                 MP_FOREVER);
	int64_t t1 = mpb_now();
	mp_conn_close(a);
	if (end_peer(pid) < 0 || r < 0 || t0 < 0)
		return r < 0 ? r : -EIO;
	*value = gbps(iters, t1 - t0);
	return 0;
}

static void raw_source(void *arg)
{
	struct tput *a = arg;
	for (long i = 0; i < a->n; i++)
		for (size_t off = 0; off < TPUT_SIZE;) {
			ssize_t w = write(a->wfd, tput_src + off, TPUT_SIZE - off);
			if (w <= 0)
				_exit(2);
			off += (size_t)w;
		}
}

static int raw_tput(const struct mpb_case *c, long iters, double *value,
                    const char **why)
{
	(void)why;
	int fds[2], go;
	if ((duplex_of(c) ? socketpair(AF_UNIX, SOCK_STREAM, 0, fds)
	                  : pipe(fds)) < 0)
		return -errno;
	struct tput t = { .wfd = fds[1], .n = iters };
	pid_t pid = start_peer(raw_source, &t, &go);
	close(fds[1]);
	int64_t t0 = go_now(go);
	int r = 0;
	for (long i = 0; i < iters && r == 0; i++)
		r = read_full(fds[0], tput_dst, TPUT_SIZE);
	int64_t t1 = mpb_now();
	close(fds[0]);
	if (pid < 0 || end_peer(pid) < 0 || r < 0 || t0 < 0)
		return -EIO;
	*value = gbps(iters, t1 - t0);
	return 0;
}

/* ---- authenticated connects ------------------------------------------------ */

/*
 * conn.auth: connect and authenticate over AF_UNIX, then close.
 * conn.connect_tcp*: over TCP loopback, connect, authenticate, and one
 * 64-byte message there and back - the whole exchange of a client that
 * connects to ask one thing, where a stalled write shows.
 */
static const char auth_key[] = "secret password";

struct srv {
	mp_listener_t *l;
	long n;
	bool echo;  /* one message back per connection */
};

static void mproc_server(void *arg)
{
	struct srv *s = arg;
	for (long i = 0; i < s->n; i++) {
		int err;
		mp_bytes_t m = { NULL, 0 };
		mp_conn_t *c = mp_listener_accept(s->l, MP_SEC(10), &err);
		if (!c || (s->echo &&
		           (mp_conn_recv_bytes(c, RT_SIZE, &m, MP_SEC(10)) < 0 ||
		            mp_conn_send_bytes(c, m.data, m.len, MP_SEC(10)) < 0)))
			_exit(2);
		free(m.data);
		mp_conn_close(c);
	}
}

/* One client: connect, authenticate, and with echo a message there and
 * back.  0 or -errno. */
static int connect_once(const mp_address_t *a, const mp_conn_opts_t *o,
                        bool echo)
{
	uint8_t buf[RT_SIZE] = { 0 };
	int err = 0;
	mp_conn_t *c = mp_client(a, o, MP_SEC(10), &err);
	if (c && echo)
		err = mp_conn_send_bytes(c, buf, RT_SIZE, MP_SEC(10));
	if (c && echo && err == 0) {
		int64_t n = mp_conn_recv_bytes_into(c, buf, sizeof(buf), 0, NULL,
		                                    MP_SEC(10));
		err = n < 0 ? (int)n : 0;
	}
	mp_conn_close(c);
	return err;
}

static int mproc_auth(const struct mpb_case *c, long iters, double *value,
                      const char **why)
{
	(void)why;
	bool tcp = strstr(c->name, "tcp") != NULL;
	mp_conn_opts_t o = { .authkey = auth_key,
	                     .authkey_len = sizeof(auth_key) - 1 };
	mp_address_t where;
	int err = 0, go;
	mp_address_parse(&where, "127.0.0.1:0");
	mp_listener_t *l = mp_listener_open(tcp ? &where : NULL, &o, &err);
	if (!l)
		return err;
	mp_address_t addr = *mp_listener_address(l);
	struct srv s = { l, iters, tcp };
	pid_t pid = start_peer(mproc_server, &s, &go);
	int64_t t0 = go_now(go);
	for (long i = 0; i < iters && err == 0; i++)
		err = connect_once(&addr, &o, tcp);
	int64_t t1 = mpb_now();
	if (pid < 0 || end_peer(pid) < 0 || t0 < 0)
		err = err ? err : -EIO;
	mp_listener_close(l);
	if (err)
		return err;
	*value = (double)(t1 - t0) / 1e3 / (double)iters;
	return 0;
}

/* A CPython listener for our client: serves argv[1] connections (one
 * message back on each), after printing its port. */
static const char py_listener[] =
	"import sys\n"
	"from multiprocessing.connection import Listener\n"
	"with Listener(('127.0.0.1', 0), authkey=b'secret password') as l:\n"
	"    print(l.address[1], flush=True)\n"
	"    for _ in range(int(sys.argv[1])):\n"
	"        with l.accept() as c:\n"
	"            c.send_bytes(c.recv_bytes())\n";

static int mproc_vs_pyserver(const struct mpb_case *c, long iters,
                             double *value, const char **why)
{
	(void)c;
	mp_conn_opts_t o = { .authkey = auth_key,
	                     .authkey_len = sizeof(auth_key) - 1 };
	char port[32];
	pid_t pid;
	int err = mpb_python_peer(py_listener, iters + 1, port, sizeof(port),
	                          &pid, why);
	if (err)
		return err;
	mp_address_t addr;
	err = mp_address_inet(&addr, AF_INET, "127.0.0.1",
	                      (uint16_t)strtoul(port, NULL, 10));
	/* Untimed, as in the python baseline: the listener's first accept
	 * pays for its lazy imports. */
	if (err == 0)
		err = connect_once(&addr, &o, true);
	int64_t t0 = mpb_now();
	for (long i = 0; i < iters && err == 0; i++)
		err = connect_once(&addr, &o, true);
	int64_t t1 = mpb_now();
	if (mpb_python_peer_end(pid, err != 0) < 0 && err == 0)
		err = -EIO;
	if (err)
		return err;
	*value = (double)(t1 - t0) / 1e3 / (double)iters;
	return 0;
}

/* ---- the rows -------------------------------------------------------------- */

static const char py_rt[] =
	"import multiprocessing as mp\n"
	"_ctx = mp.get_context('fork')\n"
	"def _echo(c, n):\n"
	"    for _ in range(n):\n"
	"        c.send_bytes(c.recv_bytes())\n"
	"def bench(n):\n"
	"    a, b = _ctx.Pipe()\n"
	"    p = _ctx.Process(target=_echo, args=(b, n + 1))\n"
	"    p.start()\n"
	"    msg = b'x' * 64\n"
	"    a.send_bytes(msg)\n"
	"    a.recv_bytes()\n"
	"    lat = []\n"
	"    t = t0 = time.perf_counter_ns()\n"
	"    for _ in range(n):\n"
	"        a.send_bytes(msg)\n"
	"        a.recv_bytes()\n"
	"        u = time.perf_counter_ns()\n"
	"        lat.append(u - t)\n"
	"        t = u\n"
	"    p.join()\n"
	"    return (t - t0) / n / 1e3, lat\n";

static const char py_obj_rt[] =
	"import multiprocessing as mp\n"
	"_ctx = mp.get_context('fork')\n"
	"def _echo(c, n):\n"
	"    for _ in range(n):\n"
	"        c.send(c.recv())\n"
	"def bench(n):\n"
	"    a, b = _ctx.Pipe()\n"
	"    p = _ctx.Process(target=_echo, args=(b, n + 1))\n"
	"    p.start()\n"
	"    d = {'id': 1, 'name': 'task', 'args': [1, 2.5], 'ok': True}\n"
	"    a.send(d)\n"
	"    a.recv()\n"
	"    lat = []\n"
	"    t = t0 = time.perf_counter_ns()\n"
	"    for _ in range(n):\n"
	"        a.send(d)\n"
	"        a.recv()\n"
	"        u = time.perf_counter_ns()\n"
	"        lat.append(u - t)\n"
	"        t = u\n"
	"    p.join()\n"
	"    return (t - t0) / n / 1e3, lat\n";

static const char py_auth[] =
	"import multiprocessing as mp\n"
	"from multiprocessing.connection import Listener, Client\n"
	"_ctx = mp.get_context('fork')\n"
	"_key = b'secret password'\n"
	"def _accept_loop(l, n):\n"
	"    for _ in range(n):\n"
	"        l.accept().close()\n"
	"def bench(n):\n"
	"    l = Listener(authkey=_key)\n"
	"    p = _ctx.Process(target=_accept_loop, args=(l, n + 1))\n"
	"    p.start()\n"
	"    Client(l.address, authkey=_key).close()\n"
	"    t = time.perf_counter()\n"
	"    for _ in range(n):\n"
	"        Client(l.address, authkey=_key).close()\n"
	"    dt = time.perf_counter() - t\n"
	"    p.join()\n"
	"    l.close()\n"
	"    return dt / n * 1e6\n";

static const char py_connect_tcp[] =
	"import multiprocessing as mp\n"
	"from multiprocessing.connection import Listener, Client\n"
	"_ctx = mp.get_context('fork')\n"
	"_key = b'secret password'\n"
	"def _echo_loop(l, n):\n"
	"    for _ in range(n):\n"
	"        with l.accept() as c:\n"
	"            c.send_bytes(c.recv_bytes())\n"
	"def _one(address, msg):\n"
	"    with Client(address, authkey=_key) as c:\n"
	"        c.send_bytes(msg)\n"
	"        c.recv_bytes()\n"
	"def bench(n):\n"
	"    l = Listener(('127.0.0.1', 0), authkey=_key)\n"
	"    p = _ctx.Process(target=_echo_loop, args=(l, n + 1))\n"
	"    p.start()\n"
	"    msg = b'x' * 64\n"
	"    _one(l.address, msg)\n"
	"    t = time.perf_counter()\n"
	"    for _ in range(n):\n"
	"        _one(l.address, msg)\n"
	"    dt = time.perf_counter() - t\n"
	"    p.join()\n"
	"    l.close()\n"
	"    return dt / n * 1e6\n";

#define RT_ROW(nm, base, g, fn, basefn) \
	{ .name = nm, .unit = "us/op", .baseline = base, .goal = g, \
	  .iters = 4000, .quick_iters = 1000, .run_mproc = fn, \
	  .run_baseline = basefn }
#define TPUT_ROW(nm, base, g) \
	{ .name = nm, .unit = "GB/s", .higher_better = true, \
	  .baseline = base, .goal = g, .iters = 6000, .quick_iters = 1500, \
	  .run_mproc = mproc_tput, .run_baseline = raw_tput }

const struct mpb_case mpb_conn_cases[] = {
	RT_ROW("conn.rt64/pipe", "raw write+read of 64 B over two pipes, "
	       "both ends on one CPU", 0.75, mproc_rt_cpu1, raw_rt_cpu1),
	RT_ROW("conn.rt64_readahead/pipe", "raw write+read of 64 B over two "
	       "pipes, both ends on one CPU (ours: read-ahead)", 0.95,
	       mproc_rt_cpu1, raw_rt_cpu1),
	RT_ROW("conn.rt64/socketpair", "raw write+read of 64 B, socketpair",
	       0.85, mproc_rt, raw_rt),
	{
		.name = "conn.rt64/python",
		.unit = "us/op",
		.baseline = "python3 Pipe() send_bytes+recv_bytes round trip",
		.goal = 1.5,
		.iters = 4000,
		.quick_iters = 1000,
		.run_mproc = mproc_rt,
		.python = py_rt,
	},
	{
		.name = "conn.obj_rt/python",
		.unit = "us/op",
		.baseline = "python3 Pipe() send+recv round trip of a small "
		            "dict (ours: send_obj+recv_obj)",
		.goal = 3,
		.iters = 4000,
		.quick_iters = 1000,
		.run_mproc = mproc_obj_rt,
		.python = py_obj_rt,
	},
	RT_ROW("conn.rt64.nospin/pipe", "raw write+read (ours: no spin)",
	       0, mproc_rt, raw_rt),
	RT_ROW("conn.rt64.nospin/socketpair", "raw write+read (ours: no spin)",
	       0, mproc_rt, raw_rt),
	RT_ROW("conn.rt64.ring/pipe", "raw write+read (ours: ring, no spin)",
	       0, mproc_rt, raw_rt),
	RT_ROW("conn.rt64.ring/socketpair", "raw write+read (ours: ring, no spin)",
	       0, mproc_rt, raw_rt),
	RT_ROW("conn.rt64.timed.nospin/pipe",
	       "raw write+read (ours: 10 s timeouts, syscalls, no spin)", 0,
	       mproc_rt, raw_rt),
	RT_ROW("conn.rt64.timed.ring/pipe",
	       "raw write+read (ours: 10 s timeouts, ring, no spin)", 0,
	       mproc_rt, raw_rt),
	TPUT_ROW("conn.tput64k/pipe", "raw pipe, 64 KiB writes and reads", 0.9),
	TPUT_ROW("conn.tput64k/socketpair", "raw socketpair, 64 KiB", 0.9),
	TPUT_ROW("conn.tput64k.ring/pipe", "raw pipe (ours: ring)", 0),
	TPUT_ROW("conn.tput64k.ring/socketpair", "raw socketpair (ours: ring)",
	         0),
	/* 3000 connections a repetition: with 300 (~15 ms of ours), a
	 * repetition sat mostly in the peer's start-up transient (forked,
	 * then woken onto the client's CPU, where spinning loses until the
	 * scheduler parts them and spin.c's probes find it pays again): its
	 * median swung 42-139 us from one repetition to the next. */
	{
		.name = "conn.auth/python",
		.unit = "us/op",
		.baseline = "python3 Listener+Client(authkey) connect, AF_UNIX",
		.goal = 3,
		.iters = 3000,
		.quick_iters = 500,
		.run_mproc = mproc_auth,
		.python = py_auth,
	},
	/* CPython's own pair waits ~40 ms per connection (no TCP_NODELAY):
	 * a few connections per repetition are plenty. */
	{
		.name = "conn.connect_tcp/python",
		.unit = "us/op",
		.baseline = "python3 Listener+Client(authkey) over TCP loopback, "
		            "then 64 B there and back",
		.goal = 2,
		.iters = 30,
		.quick_iters = 10,
		.run_mproc = mproc_auth,
		.python = py_connect_tcp,
	},
	{
		.name = "conn.connect_tcp_pyserver/python",
		.unit = "us/op",
		.baseline = "the same, both clients against a CPython listener "
		            "(ours: mp_client)",
		.goal = 1.5,
		.iters = 30,
		.quick_iters = 10,
		.run_mproc = mproc_vs_pyserver,
		.python = py_connect_tcp,
	},
	{ 0 },
};
