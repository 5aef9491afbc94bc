/* bench_queue.c - Queue throughput beside POSIX mq, a framed pipe, and
 * python3's multiprocessing.Queue. */
#include "mpbench.h"

#include <errno.h>
#include <fcntl.h>
#include <mqueue.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <stdatomic.h>
#include <sys/mman.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <unistd.h>

#include <mproc.h>

struct qjob {
	mp_queue_t *q;
	long n;
	size_t size;
};

static int q_producer(void *arg)
{
	struct qjob *j = arg;
	char buf[4096];
	memset(buf, 'x', sizeof(buf));
	for (long i = 0; i < j->n; i++)
		if (mp_queue_put(j->q, buf, j->size, MP_FOREVER) < 0)
			return 1;
	return 0;
}

static int q_consumer(void *arg)
{
	struct qjob *j = arg;
	char buf[4096];
	size_t len;
	for (long i = 0; i < j->n; i++)
		if (mp_queue_get(j->q, buf, sizeof(buf), &len, MP_FOREVER) < 0)
			return 1;
	return 0;
}

/* Messages per second through a queue, timed from the first message the
 * consumer (this process) receives, so the fork is not counted.  At least
 * 64 MiB go through: at 30 M msgs/s the python row's count of 64 B messages
 * took 7 ms, short enough for CPUs waking from idle to halve some runs. */
static int queue_1p1c(size_t size, long n, double *value)
{
	if (n < (long)((64u << 20) / size))
		n = (long)((64u << 20) / size);
	mp_queue_attr_t a = { .max_msg = size };
	int err;
	struct qjob j = { mp_queue_new(&a, &err), n, size };
	if (!j.q)
		return err;
	mp_process_t *p = mp_process_new(q_producer, &j, NULL, 0, &err);
	if (!p || (err = mp_process_start(p)) < 0)
		return err;
	char buf[4096];
	size_t len;
	mp_queue_get(j.q, buf, sizeof(buf), &len, MP_FOREVER);
	int64_t t0 = mpb_now();
	for (long i = 1; i < n; i++)
		mp_queue_get(j.q, buf, sizeof(buf), &len, MP_FOREVER);
	*value = (double)(n - 1) / ((double)(mpb_now() - t0) / 1e9);
	mp_process_join(p, MP_FOREVER);
	mp_process_free(p);
	mp_queue_free(j.q);
	return 0;
}

static int m_1p1c64(const struct mpb_case *c, long n, double *v, const char **w)
{
	(void)c, (void)w;
	return queue_1p1c(64, n, v);
}

static int m_1p1c4k(const struct mpb_case *c, long n, double *v, const char **w)
{
	(void)c, (void)w;
	return queue_1p1c(4096, n, v);
}

/* Two producer and two consumer processes; wall time including starts. */
static int m_2p2c64(const struct mpb_case *c, long n, double *value,
                    const char **why)
{
	(void)c, (void)why;
	mp_queue_attr_t a = { .max_msg = 64 };
	int err;
	struct qjob j = { mp_queue_new(&a, &err), n / 2, 64 };
	if (!j.q)
		return err;
	mp_process_t *p[4];
	int64_t t0 = mpb_now();
	for (int i = 0; i < 4; i++) {
		p[i] = mp_process_new(i < 2 ? q_producer : q_consumer, &j, NULL,
		                      0, &err);
		if (!p[i] || (err = mp_process_start(p[i])) < 0)
			return err;
	}
	for (int i = 0; i < 4; i++) {
		mp_process_join(p[i], MP_FOREVER);
		mp_process_free(p[i]);
	}
	*value = (double)(j.n * 2) / ((double)(mpb_now() - t0) / 1e9);
	mp_queue_free(j.q);
	return 0;
}

/* ---- POSIX message queue --------------------------------------------------- */

static mqd_t mq_make(char *name, size_t len)
{
	struct mq_attr attr = { .mq_maxmsg = 10, .mq_msgsize = 64 };
	snprintf(name, len, "/mpbench-%d", (int)getpid());
	mq_unlink(name);
	return mq_open(name, O_CREAT | O_RDWR, 0600, &attr);
}

static void mq_sender(mqd_t mq, long n)
{
	char buf[64];
	memset(buf, 'x', sizeof(buf));
	for (long i = 0; i < n; i++)
		mq_send(mq, buf, sizeof(buf), 0);
}

static void mq_receiver(mqd_t mq, long n)
{
	char buf[64];
	for (long i = 0; i < n; i++)
		mq_receive(mq, buf, sizeof(buf), NULL);
}

static int mq_1p1c(const struct mpb_case *c, long n, double *value,
                   const char **why)
{
	(void)c;
	char name[64];
	mqd_t mq = mq_make(name, sizeof(name));
	if (mq == (mqd_t)-1) {
		*why = "POSIX mq unavailable";
		return MPB_SKIP;
	}
	pid_t pid = fork();
	if (pid == 0) {
		mq_sender(mq, n);
		_exit(0);
	}
	char buf[64];
	mq_receive(mq, buf, sizeof(buf), NULL);
	int64_t t0 = mpb_now();
	mq_receiver(mq, n - 1);
	*value = (double)(n - 1) / ((double)(mpb_now() - t0) / 1e9);
	waitpid(pid, NULL, 0);
	mq_close(mq);
	mq_unlink(name);
	return 0;
}

static int mq_2p2c(const struct mpb_case *c, long n, double *value,
                   const char **why)
{
	(void)c;
	char name[64];
	mqd_t mq = mq_make(name, sizeof(name));
	if (mq == (mqd_t)-1) {
		*why = "POSIX mq unavailable";
		return MPB_SKIP;
	}
	pid_t pid[4];
	int64_t t0 = mpb_now();
	for (int i = 0; i < 4; i++) {
		pid[i] = fork();
		if (pid[i] == 0) {
			if (i < 2)
				mq_sender(mq, n / 2);
			else
				mq_receiver(mq, n / 2);
			_exit(0);
		}
	}
	for (int i = 0; i < 4; i++)
		waitpid(pid[i], NULL, 0);
	*value = (double)(n / 2 * 2) / ((double)(mpb_now() - t0) / 1e9);
	mq_close(mq);
	mq_unlink(name);
	return 0;
}

/* ---- the physical limit: a textbook SPSC ring ------------------------------ */

/*
 * One producer, one consumer, two processes, no locks, no robustness, no
 * sleeping (both sides spin): each side publishes its index with one
 * release store per message and keeps a cached copy of the other's, read
 * again only when the cache says full (or empty) - the ring of Rigtorp's
 * SPSCQueue and of most low-latency libraries.  A slot carries the same
 * bytes an mproc record does (an 8-byte length, then 64 bytes), so the two
 * move the same data; the ring holds about as much as the queue's 1 MiB.
 */
#define SPSC_SLOTS 16384u

struct spsc_slot {
	uint64_t len;
	char data[64];
};

struct spsc {
	_Alignas(64) _Atomic uint64_t tail;   /* producer's line */
	uint64_t head_cache;
	_Alignas(64) _Atomic uint64_t head;   /* consumer's line */
	uint64_t tail_cache;
	_Alignas(64) struct spsc_slot slot[SPSC_SLOTS];
};

static void spsc_put(struct spsc *r, const char *msg, uint64_t len)
{
	uint64_t t = atomic_load_explicit(&r->tail, memory_order_relaxed);
	while (t - r->head_cache >= SPSC_SLOTS)
		r->head_cache = atomic_load_explicit(&r->head,
		                                     memory_order_acquire);
	struct spsc_slot *s = &r->slot[t % SPSC_SLOTS];
	s->len = len;
	memcpy(s->data, msg, len);
	atomic_store_explicit(&r->tail, t + 1, memory_order_release);
}

static uint64_t spsc_get(struct spsc *r, char *buf)
{
	uint64_t h = atomic_load_explicit(&r->head, memory_order_relaxed);
	while (h == r->tail_cache)
		r->tail_cache = atomic_load_explicit(&r->tail,
		                                     memory_order_acquire);
	struct spsc_slot *s = &r->slot[h % SPSC_SLOTS];
	uint64_t len = s->len;
	memcpy(buf, s->data, len);
	atomic_store_explicit(&r->head, h + 1, memory_order_release);
	return len;
}

static int spsc_1p1c64(const struct mpb_case *c, long n, double *value,
                       const char **why)
{
	(void)c, (void)why;
	if (n < (long)((64u << 20) / 64))
		n = (long)((64u << 20) / 64); /* as queue_1p1c */
	struct spsc *r = mmap(NULL, sizeof(*r), PROT_READ | PROT_WRITE,
	                      MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (r == MAP_FAILED)
		return -errno;
	pid_t pid = fork();
	if (pid < 0) {
		munmap(r, sizeof(*r));
		return -errno;
	}
	if (pid == 0) {
		char msg[64];
		memset(msg, 'x', sizeof(msg));
		for (long i = 0; i < n; i++)
			spsc_put(r, msg, sizeof(msg));
		_exit(0);
	}
	char buf[64];
	uint64_t sum = spsc_get(r, buf);
	int64_t t0 = mpb_now();
	for (long i = 1; i < n; i++)
		sum += spsc_get(r, buf);
	*value = (double)(n - 1) / ((double)(mpb_now() - t0) / 1e9);
	mpb_keep(sum);
	waitpid(pid, NULL, 0);
	munmap(r, sizeof(*r));
	return 0;
}

/* ---- 4 KiB messages framed over a pipe ------------------------------------- */

static int read_full(int fd, void *buf, size_t len)
{
	for (size_t got = 0; got < len;) {
		ssize_t r = read(fd, (char *)buf + got, len - got);
		if (r <= 0)
			return -1;
		got += (size_t)r;
	}
	return 0;
}

static int pipe_4k(const struct mpb_case *c, long n, double *value,
                   const char **why)
{
	(void)c, (void)why;
	int fds[2];
	if (pipe(fds) < 0)
		return -errno;
	pid_t pid = fork();
	if (pid == 0) {
		char buf[4096];
		uint32_t len = sizeof(buf);
		memset(buf, 'x', sizeof(buf));
		struct iovec iov[2] = { { &len, 4 }, { buf, sizeof(buf) } };
		close(fds[0]);
		for (long i = 0; i < n; i++)
			if (writev(fds[1], iov, 2) < 0)
				_exit(1);
		_exit(0);
	}
	close(fds[1]);
	char buf[4096];
	uint32_t len;
	int64_t t0 = 0;
	for (long i = 0; i < n; i++) {
		if (read_full(fds[0], &len, 4) < 0 ||
		    read_full(fds[0], buf, len) < 0)
			break;
		if (i == 0)
			t0 = mpb_now();
	}
	*value = (double)(n - 1) / ((double)(mpb_now() - t0) / 1e9);
	close(fds[0]);
	waitpid(pid, NULL, 0);
	return 0;
}

/* ---- round trips: one message each way through two queues ------------ */

/*
 * A child echoes every message from the first queue into the second; we
 * time each round trip and the value is the repetition's p99 (us).  One
 * untimed round trip first, so the child's start-up is not in a sample.
 */
struct echo {
	mp_queue_t *in, *out;
	long n;
};

static int q_echo(void *arg)
{
	struct echo *e = arg;
	char buf[64];
	size_t len;
	for (long i = 0; i < e->n; i++)
		if (mp_queue_get(e->in, buf, sizeof(buf), &len,
		                 MP_FOREVER) < 0 ||
		    mp_queue_put(e->out, buf, len, MP_FOREVER) < 0)
			return 1;
	return 0;
}

static int m_rt64_p99(const struct mpb_case *c, long n, double *value,
                      const char **why)
{
	(void)c, (void)why;
	mp_queue_attr_t a = { .max_msg = 64 };
	int err = 0, r = 0;
	struct echo e = { mp_queue_new(&a, &err), NULL, n + 1 };
	if (e.in)
		e.out = mp_queue_new(&a, &err);
	mp_process_t *p = e.out ? mp_process_new(q_echo, &e, NULL, 0, &err)
	                        : NULL;
	if (p && (err = mp_process_start(p)) == 0) {
		char buf[64] = { 0 };
		size_t len;
		int64_t lap = 0;
		for (long i = 0; i <= n && r == 0; i++) {
			r = mp_queue_put(e.in, buf, sizeof(buf), MP_FOREVER);
			if (r == 0)
				r = mp_queue_get(e.out, buf, sizeof(buf), &len,
				                 MP_FOREVER);
			lap = i ? mpb_lat_lap(lap) : mpb_now();
		}
		int code = -1;
		if (r < 0)
			mp_process_kill(p);
		mp_process_join(p, MP_FOREVER);
		if (r == 0 && (mp_process_exitcode(p, &code) < 0 || code != 0))
			r = -EIO;
	}
	mp_process_free(p);
	mp_queue_free(e.out);
	mp_queue_free(e.in);
	*value = mpb_lat_rep_quantile(0.99) / 1e3;
	return err < 0 ? err : r < 0 ? r : 0;
}

static mqd_t mq_named(char *name, size_t len, const char *tag)
{
	struct mq_attr attr = { .mq_maxmsg = 10, .mq_msgsize = 64 };
	snprintf(name, len, "/mpbench-%d-%s", (int)getpid(), tag);
	mq_unlink(name);
	return mq_open(name, O_CREAT | O_RDWR, 0600, &attr);
}

static void mq_echo(mqd_t in, mqd_t out, long n)
{
	char buf[64];
	for (long i = 0; i < n; i++) {
		ssize_t len = mq_receive(in, buf, sizeof(buf), NULL);
		if (len < 0 || mq_send(out, buf, (size_t)len, 0) < 0)
			_exit(1);
	}
	_exit(0);
}

static int mq_rt64_p99(const struct mpb_case *c, long n, double *value,
                       const char **why)
{
	(void)c;
	char name[2][64];
	mqd_t in = mq_named(name[0], sizeof(name[0]), "in");
	mqd_t out = mq_named(name[1], sizeof(name[1]), "out");
	int r = 0, st = 0;
	if (in == (mqd_t)-1 || out == (mqd_t)-1) {
		r = MPB_SKIP;
		*why = "POSIX mq unavailable";
		goto out;
	}
	pid_t pid = fork();
	if (pid == 0)
		mq_echo(in, out, n + 1);
	if (pid < 0) {
		r = -errno;
		goto out;
	}
	char buf[64] = { 0 };
	int64_t lap = 0;
	for (long i = 0; i <= n && r == 0; i++) {
		if (mq_send(in, buf, sizeof(buf), 0) < 0 ||
		    mq_receive(out, buf, sizeof(buf), NULL) < 0)
			r = -errno;
		lap = i ? mpb_lat_lap(lap) : mpb_now();
	}
	if (r < 0)
		kill(pid, SIGKILL);
	waitpid(pid, &st, 0);
	if (r == 0 && !(WIFEXITED(st) && WEXITSTATUS(st) == 0))
		r = -EIO;
	*value = mpb_lat_rep_quantile(0.99) / 1e3;
out:
	for (int k = 0; k < 2; k++)
		mq_unlink(name[k]);
	if (in != (mqd_t)-1)
		mq_close(in);
	if (out != (mqd_t)-1)
		mq_close(out);
	return r;
}

#define PY_QUEUE_1P1C                                                       \
	"import multiprocessing as mp\n"                                    \
	"_ctx = mp.get_context('fork')\n"                                   \
	"def _prod(q, n):\n"                                                \
	"    b = b'x' * 64\n"                                               \
	"    for _ in range(n):\n"                                          \
	"        q.put(b)\n"                                                \
	"def bench(n):\n"                                                   \
	"    q = _ctx.Queue()\n"                                            \
	"    p = _ctx.Process(target=_prod, args=(q, n))\n"                 \
	"    p.start()\n"                                                   \
	"    q.get()\n"                                                     \
	"    t = time.perf_counter()\n"                                     \
	"    for _ in range(n - 1):\n"                                      \
	"        q.get()\n"                                                 \
	"    dt = time.perf_counter() - t\n"                                \
	"    p.join()\n"                                                    \
	"    return (n - 1) / dt\n"

const struct mpb_case mpb_queue_cases[] = {
	{
		.name = "queue.1p1c64/python",
		.unit = "msgs/s",
		.higher_better = true,
		.baseline = "python3 multiprocessing.Queue, 64 B, 1 producer -> 1 consumer process",
		.goal = 100,
		.iters = 400000,
		.quick_iters = 200000,
		.run_mproc = m_1p1c64,
		.python = PY_QUEUE_1P1C,
	},
	{
		.name = "queue.1p1c64/posix_mq",
		.unit = "msgs/s",
		.higher_better = true,
		.baseline = "POSIX message queue, 64 B, 1 producer -> 1 consumer process",
		.goal = 10,
		.iters = 2000000,
		.quick_iters = 500000,
		.run_mproc = m_1p1c64,
		.run_baseline = mq_1p1c,
	},
	{
		.name = "queue.1p1c64/spsc_ring",
		.unit = "msgs/s",
		.higher_better = true,
		.baseline = "a textbook lock-free SPSC ring (cached indices, spinning), 64 B, 1 -> 1 process: the limit",
		.goal = 0.5,
		.iters = 2000000,
		.quick_iters = 500000,
		.run_mproc = m_1p1c64,
		.run_baseline = spsc_1p1c64,
	},
	{
		.name = "queue.2p2c64/posix_mq",
		.unit = "msgs/s",
		.higher_better = true,
		.baseline = "POSIX message queue, 64 B, 2 producer and 2 consumer processes",
		.goal = 5,
		.iters = 2000000,
		.quick_iters = 500000,
		.run_mproc = m_2p2c64,
		.run_baseline = mq_2p2c,
	},
	{
		.name = "queue.1p1c4k/pipe",
		.unit = "msgs/s",
		.higher_better = true,
		.baseline = "4 KiB messages framed (u32 length + payload) over a pipe",
		.goal = 2,
		.iters = 400000,
		.quick_iters = 100000,
		.run_mproc = m_1p1c4k,
		.run_baseline = pipe_4k,
	},
	{
		.name = "queue.rt64_p99/posix_mq",
		.unit = "us p99",
		.baseline = "POSIX message queues, 64 B there and back through "
		            "two: the p99 of a repetition's round trips",
		.goal = 2,
		.iters = 20000,
		.quick_iters = 5000,
		.run_mproc = m_rt64_p99,
		.run_baseline = mq_rt64_p99,
	},
	{ 0 },
};
