/* test_wait.c - mp_wait on descriptors, processes and shared objects, each
 * way it can sleep: futex_waitv or io_uring as it chooses, io_uring only,
 * and the fallback. */
#include "testutil.h"

#include <pthread.h>
#include <sys/eventfd.h>
#include <sys/resource.h>
#include <signal.h>
#include <unistd.h>

void mp__wait_force_path(int path); /* 0 as it chooses, 1 io_uring, 2 poll */

struct shared {
	mp_event_t ev[1000];
	mp_sem_t sem;
	mp_barrier_t bar;
	_Atomic uint32_t go;
};
static struct shared *sh;
static mp_queue_t *q;

/* A child that does `what` after a short delay. */
struct later {
	int what, index;
	int fd;
};

static int do_later(void *arg)
{
	struct later *l = arg;
	usleep(30000);
	switch (l->what) {
	case 0: return write(l->fd, "x", 1) == 1 ? 0 : 1;
	case 1: return mp_queue_put(q, "m", 1, 0) < 0;
	case 2: return mp_event_set(&sh->ev[l->index]) < 0;
	case 3: return mp_sem_release(&sh->sem, 1) < 0;
	case 4: return mp_barrier_wait(&sh->bar, TEST_WAIT_NS) < 0;
	case 5: return close(l->fd);
	default: return 0;
	}
}

static mp_process_t *later(int what, int index, int fd)
{
	static struct later l;
	l = (struct later){ what, index, fd };
	mp_process_t *p = mp_process_new(do_later, &l, NULL, 0, NULL);
	CU_ASSERT_PTR_NOT_NULL_FATAL(p);
	MPT_OK(mp_process_start(p));
	return p;
}

static void reap(mp_process_t *p)
{
	int code = -1;
	MPT_OK(mp_process_join(p, TEST_WAIT_NS));
	mp_process_exitcode(p, &code);
	MPT_EQ(code, 0);
	mp_process_free(p);
}

/* Undo what later(what, 0, fd) made ready, so that the next round starts
 * clean: read the byte, get the message, clear the event, acquire. */
static void consume(int what, int fd)
{
	char c;
	size_t len;
	if (what == 0)
		MPT_EQ(read(fd, &c, 1), 1);
	if (what == 1)
		MPT_OK(mp_queue_get(q, &c, 1, &len, 0));
	if (what == 2)
		mp_event_clear(&sh->ev[0]);
	if (what == 3)
		MPT_OK(mp_sem_acquire(&sh->sem, 0));
}

static void reset(void)
{
	for (int i = 0; i < 1000; i++)
		mp_event_init(&sh->ev[i]);
	mp_sem_init(&sh->sem, 0, false);
	mp_barrier_init(&sh->bar, 2, NULL, NULL);
	if (q)
		mp_queue_free(q);
	q = mp_queue_new(NULL, NULL);
}

static void one_becomes_ready(void)
{
	reset();
	int pfd[2];
	CU_ASSERT_FATAL(pipe(pfd) == 0);
	mp_waitable_t objs[5] = {
		mp_wait_fd(pfd[0]), mp_wait_queue(q), mp_wait_event(&sh->ev[0]),
		mp_wait_sem(&sh->sem), mp_wait_barrier(&sh->bar),
	};
	size_t ready[5];
	MPT_ERR(mp_wait(objs, 5, 0, ready), -EAGAIN);
	int64_t t0 = mp_sys_now_ns();
	MPT_ERR(mp_wait(objs, 5, MP_MSEC(20), ready), -ETIMEDOUT);
	MPT_CMP(mp_sys_now_ns() - t0, >=, MP_MSEC(20));

	/* In turn: pipe, queue, event, semaphore each made ready by another
	 * process, then consumed so the next round starts clean. */
	for (int what = 0; what < 4; what++) {
		mp_process_t *p = later(what, 0, pfd[1]);
		int n = mp_wait(objs, 5, TEST_WAIT_NS, ready);
		MPT_EQ(n, 1);
		MPT_EQ(ready[0], (size_t)what);
		reap(p);
		consume(what, pfd[0]);
	}
	/* The barrier: a party arrives in a child while we wait on it (a
	 * barrier of 2: our arrival in a thread completes the cycle). */
	mp_process_t *p = later(4, 0, -1);
	objs[4] = mp_wait_barrier(&sh->bar);
	MPT_ERR(mp_wait(&objs[4], 1, MP_MSEC(10), ready), -ETIMEDOUT);
	MPT_CMP(mp_barrier_wait(&sh->bar, TEST_WAIT_NS), >=, 0);
	MPT_EQ(mp_wait(&objs[4], 1, TEST_WAIT_NS, ready), 1);
	reap(p);
	/* End of file on the pipe counts as ready, as in Python. */
	p = later(5, 0, pfd[1]);
	close(pfd[1]);
	MPT_EQ(mp_wait(objs, 1, TEST_WAIT_NS, ready), 1);
	MPT_EQ(ready[0], 0);
	reap(p);
	close(pfd[0]);
	/* A closed queue is ready: a get would not block. */
	mp_queue_close(q);
	MPT_EQ(mp_wait(&objs[1], 1, 0, ready), 1);
}

static int64_t thread_cpu_ns(void)
{
	struct rusage ru;
	getrusage(RUSAGE_THREAD, &ru);
	return ((int64_t)ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1000000000 +
	       ((int64_t)ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) * 1000;
}

/* Shared objects only (one futex_waitv when mp_wait chooses): each kind
 * made ready by another process, the deadline, a sleep that does not
 * spin, and both sides of the 16 words mp_wait gives futex_waitv and of
 * the 128 one FUTEX_WAITV operation takes. */
static void shared_only(void)
{
	reset();
	static mp_waitable_t objs[129];
	size_t ready[129];
	objs[0] = mp_wait_queue(q);
	objs[1] = mp_wait_event(&sh->ev[0]);
	objs[2] = mp_wait_sem(&sh->sem);
	int64_t t0 = mp_sys_now_ns(), c0 = thread_cpu_ns();
	MPT_ERR(mp_wait(objs, 3, MP_MSEC(50), ready), -ETIMEDOUT);
	MPT_CMP(mp_sys_now_ns() - t0, >=, MP_MSEC(50));
	/* Asleep, not looking in a loop: the fallback wakes every 1 ms, a
	 * spinning wait would take the whole 50. */
	MPT_CMP(thread_cpu_ns() - c0, <, MP_MSEC(25));
	for (int what = 1; what <= 3; what++) { /* later(): queue, event, sem */
		mp_process_t *p = later(what, 0, -1);
		MPT_EQ(mp_wait(objs, 3, TEST_WAIT_NS, ready), 1);
		MPT_EQ(ready[0], (size_t)(what - 1));
		reap(p);
		consume(what, -1);
	}
	static const size_t sizes[] = { 16, 17, 128, 129 };
	for (size_t k = 0; k < sizeof(sizes) / sizeof(*sizes); k++) {
		size_t n = sizes[k];
		for (size_t i = 0; i < n; i++)
			objs[i] = mp_wait_event(&sh->ev[i]);
		mp_process_t *p = later(2, (int)n - 1, -1);
		MPT_EQ(mp_wait(objs, n, TEST_WAIT_NS, ready), 1);
		MPT_EQ(ready[0], n - 1);
		reap(p);
		mp_event_clear(&sh->ev[n - 1]);
	}
}

static int exit_soon(void *arg)
{
	(void)arg;
	usleep(20000);
	return 3;
}

static void process_sentinel(void)
{
	reset();
	mp_process_t *p = mp_process_new(exit_soon, NULL, NULL, 0, NULL);
	mp_waitable_t objs[2] = { mp_wait_event(&sh->ev[0]),
	                          mp_wait_process(p) };
	size_t ready[2];
	MPT_ERR(mp_wait(objs, 2, 0, ready), -EINVAL); /* not started */
	MPT_OK(mp_process_start(p));
	MPT_EQ(mp_wait(objs, 2, TEST_WAIT_NS, ready), 1);
	MPT_EQ(ready[0], 1);
	int code = 0;
	MPT_OK(mp_process_exitcode(p, &code));
	MPT_EQ(code, 3);
	mp_process_free(p);
}

/* Many objects: more SQEs than the ring, more words than one FUTEX_WAITV. */
static void many(void)
{
	reset();
	enum { NPIPE = 100, NEV = 1000 };
	static mp_waitable_t objs[NPIPE + NEV];
	static size_t ready[NPIPE + NEV];
	int fds[NPIPE][2];
	for (int i = 0; i < NPIPE; i++) {
		CU_ASSERT_FATAL(pipe(fds[i]) == 0);
		objs[i] = mp_wait_fd(fds[i][0]);
	}
	for (int i = 0; i < NEV; i++)
		objs[NPIPE + i] = mp_wait_event(&sh->ev[i]);
	unsigned seed = 5;
	for (int round = 0; round < 6; round++) {
		int k = rand_r(&seed) % NEV;
		mp_process_t *p = later(2, k, -1);
		MPT_EQ(mp_wait(objs, NPIPE + NEV, TEST_WAIT_NS, ready), 1);
		MPT_EQ(ready[0], (size_t)(NPIPE + k));
		mp_event_clear(&sh->ev[k]);
		reap(p);
		int f = rand_r(&seed) % NPIPE;
		p = later(0, 0, fds[f][1]);
		MPT_EQ(mp_wait(objs, NPIPE + NEV, TEST_WAIT_NS, ready), 1);
		MPT_EQ(ready[0], (size_t)f);
		char c;
		MPT_EQ(read(fds[f][0], &c, 1), 1);
		reap(p);
	}
	/* Several at once, reported in order. */
	mp_event_set(&sh->ev[7]);
	mp_event_set(&sh->ev[3]);
	MPT_EQ(write(fds[9][1], "x", 1), 1);
	MPT_EQ(mp_wait(objs, NPIPE + NEV, 0, ready), 3);
	MPT_EQ(ready[0], 9);
	MPT_EQ(ready[1], NPIPE + 3);
	MPT_EQ(ready[2], NPIPE + 7);
	for (int i = 0; i < NPIPE; i++) {
		close(fds[i][0]);
		close(fds[i][1]);
	}
}

static const mp_address_t *listen_at;

static int connect_late(void *arg)
{
	(void)arg;
	usleep(30000);
	int err;
	mp_conn_t *c = mp_client(listen_at, NULL, TEST_WAIT_NS, &err);
	if (!c)
		return 1;
	mp_conn_send_bytes(c, "hi", 2, TEST_WAIT_NS);
	mp_conn_close(c);
	return 0;
}

/* A listener is ready when a client waits; a connection when a message
 * (or end of file) does. */
static void conn_and_listener(void)
{
	reset();
	int err = 0;
	mp_listener_t *l = mp_listener_open(NULL, NULL, &err);
	CU_ASSERT_PTR_NOT_NULL_FATAL(l);
	listen_at = mp_listener_address(l);
	mp_waitable_t objs[2] = { mp_wait_event(&sh->ev[0]),
	                          mp_wait_listener(l) };
	size_t ready[2];
	MPT_ERR(mp_wait(objs, 2, 0, ready), -EAGAIN);
	mp_process_t *p = mp_process_new(connect_late, NULL, NULL, 0, NULL);
	MPT_OK(mp_process_start(p));
	MPT_EQ(mp_wait(objs, 2, TEST_WAIT_NS, ready), 1);
	MPT_EQ(ready[0], 1);
	mp_conn_t *c = mp_listener_accept(l, TEST_WAIT_NS, &err);
	CU_ASSERT_PTR_NOT_NULL_FATAL(c);
	objs[1] = mp_wait_conn(c);
	MPT_EQ(mp_wait(objs, 2, TEST_WAIT_NS, ready), 1);
	MPT_EQ(ready[0], 1);
	mp_bytes_t m;
	MPT_OK(mp_conn_recv_bytes(c, 16, &m, 0));
	free(m.data);
	reap(p);
	/* The peer is gone: end of file is ready too. */
	MPT_EQ(mp_wait(objs, 2, TEST_WAIT_NS, ready), 1);
	MPT_ERR(mp_conn_recv_bytes(c, 16, &m, 0), -MP_EEOF);
	mp_conn_close(c);
	objs[1] = mp_wait_conn(NULL);
	MPT_ERR(mp_wait(objs, 2, 0, ready), -EBADF);
	mp_listener_close(l);
}

static void bad_input(void)
{
	reset();
	size_t ready[4];
	mp_waitable_t objs[2] = { mp_wait_event(&sh->ev[0]), mp_wait_fd(-1) };
	MPT_ERR(mp_wait(NULL, 1, 0, ready), -EINVAL);
	MPT_ERR(mp_wait(objs, 1, 0, NULL), -EINVAL);
	MPT_ERR(mp_wait(objs, 1, -2, ready), -EINVAL);
	MPT_ERR(mp_wait(objs, 2, 0, ready), -EBADF);
	/* Leading plain descriptors take a faster loop: the same checks. */
	mp_waitable_t lead[2] = { mp_wait_fd(-1), mp_wait_event(&sh->ev[0]) };
	MPT_ERR(mp_wait(lead, 2, 0, ready), -EBADF);
	MPT_ERR(mp_wait(lead, 1, MP_MSEC(5), ready), -EBADF);
	objs[1] = mp_wait_fd(1000); /* not open */
	MPT_ERR(mp_wait(objs, 2, MP_MSEC(5), ready), -EBADF);
	objs[1] = (mp_waitable_t){ .kind = 99 };
	MPT_ERR(mp_wait(objs, 2, 0, ready), -EINVAL);
	mp_event_t raw;
	memset(&raw, 0, sizeof(raw));
	objs[1] = mp_wait_event(&raw); /* never initialised */
	MPT_ERR(mp_wait(objs, 2, 0, ready), -EINVAL);
	objs[1] = mp_wait_event(NULL);
	MPT_ERR(mp_wait(objs, 2, 0, ready), -EINVAL);
	mp_barrier_t rawb;
	memset(&rawb, 0, sizeof(rawb));
	MPT_EQ(mp_wait_barrier(&rawb).kind, 0);
	MPT_ERR(mp_wait(NULL, 0, MP_FOREVER, ready), -EINVAL);
	MPT_ERR(mp_wait(NULL, 0, MP_MSEC(1), ready), -ETIMEDOUT);
}

/* A waitset: 10 000 eventfds and some events, kept between waits. */
static void waitset(void)
{
	reset();
	enum { NFD = 10000, NEV = 50 };
	static int efd[NFD];
	static int idx_fd[NFD], idx_ev[NEV];
	size_t ready[64];
	int err = 0;
	mp_waitset_t *ws = mp_waitset_open(&err);
	CU_ASSERT_PTR_NOT_NULL_FATAL(ws);
	MPT_ERR(mp_waitset_wait(ws, MP_FOREVER, ready, 64), -EINVAL); /* empty */
	MPT_ERR(mp_waitset_wait(ws, MP_MSEC(1), ready, 64), -ETIMEDOUT);
	for (int i = 0; i < NFD; i++) {
		efd[i] = eventfd(0, EFD_CLOEXEC);
		CU_ASSERT_FATAL(efd[i] >= 0);
		idx_fd[i] = mp_waitset_add(ws, mp_wait_fd(efd[i]));
		CU_ASSERT_FATAL(idx_fd[i] >= 0);
	}
	for (int i = 0; i < NEV; i++) {
		idx_ev[i] = mp_waitset_add(ws, mp_wait_event(&sh->ev[i]));
		CU_ASSERT_FATAL(idx_ev[i] >= 0);
	}
	MPT_ERR(mp_waitset_add(ws, mp_wait_fd(efd[5])), -EEXIST);
	MPT_ERR(mp_waitset_add(ws, mp_wait_fd(-3)), -EBADF);
	MPT_ERR(mp_waitset_add(ws, (mp_waitable_t){ .kind = 42 }), -EINVAL);
	MPT_ERR(mp_waitset_wait(ws, 0, ready, 64), -EAGAIN);
	unsigned seed = 11;
	for (int round = 0; round < 5; round++) {
		int k = rand_r(&seed) % NFD;
		uint64_t one = 1;
		mp_process_t *p = later(2, rand_r(&seed) % NEV, -1);
		MPT_EQ(mp_waitset_wait(ws, TEST_WAIT_NS, ready, 64), 1);
		reap(p);
		for (int i = 0; i < NEV; i++)
			mp_event_clear(&sh->ev[i]);
		MPT_EQ(write(efd[k], &one, 8), 8);
		MPT_EQ(mp_waitset_wait(ws, TEST_WAIT_NS, ready, 64), 1);
		MPT_EQ(ready[0], (size_t)idx_fd[k]);
		MPT_EQ(read(efd[k], &one, 8), 8);
	}
	/* Removing: a removed member is not reported; its index is reused. */
	mp_event_set(&sh->ev[3]);
	MPT_OK(mp_waitset_remove(ws, idx_ev[3]));
	MPT_ERR(mp_waitset_remove(ws, idx_ev[3]), -ENOENT);
	MPT_ERR(mp_waitset_wait(ws, 0, ready, 64), -EAGAIN);
	MPT_EQ(mp_waitset_add(ws, mp_wait_event(&sh->ev[3])), idx_ev[3]);
	MPT_EQ(mp_waitset_wait(ws, 0, ready, 64), 1);
	MPT_EQ(ready[0], (size_t)idx_ev[3]);
	/* Freed slots are taken again lowest first. */
	int lo = idx_ev[1] < idx_ev[2] ? idx_ev[1] : idx_ev[2];
	int hi = idx_ev[1] < idx_ev[2] ? idx_ev[2] : idx_ev[1];
	MPT_OK(mp_waitset_remove(ws, hi));
	MPT_OK(mp_waitset_remove(ws, lo));
	MPT_EQ(mp_waitset_add(ws, mp_wait_event(&sh->ev[1])), lo);
	MPT_EQ(mp_waitset_add(ws, mp_wait_event(&sh->ev[2])), hi);
	/* cap bounds what is reported, not what is ready. */
	mp_event_set(&sh->ev[4]);
	MPT_EQ(mp_waitset_wait(ws, 0, ready, 1), 1);
	MPT_OK(mp_waitset_close(ws));
	for (int i = 0; i < NFD; i++)
		close(efd[i]);
}

static void run_paths(void (*fn)(void))
{
	for (int path = 0; path < 3; path++) {
		if (path == 1 &&
		    !mp_sys_uring_has_op(MP_SYS_IORING_OP_FUTEX_WAITV)) {
			MPT_SKIP("io_uring FUTEX_WAITV needs Linux 6.7");
			continue;
		}
		mp__wait_force_path(path);
		fn();
	}
	mp__wait_force_path(0);
}

static void test_one_becomes_ready(void) { run_paths(one_becomes_ready); }
static void test_shared_only(void) { run_paths(shared_only); }
static void test_process_sentinel(void) { run_paths(process_sentinel); }
static void test_many(void) { run_paths(many); }
static void test_bad_input(void) { bad_input(); }
static void test_waitset(void) { run_paths(waitset); }
static void test_conn_and_listener(void) { run_paths(conn_and_listener); }

int main(void)
{
	sh = mpt_shared(sizeof(*sh));
	static CU_TestInfo tests[] = {
		{ "each kind becomes ready", test_one_becomes_ready },
		{ "shared objects only", test_shared_only },
		{ "process sentinel", test_process_sentinel },
		{ "1100 objects", test_many },
		{ "bad input", test_bad_input },
		{ "waitset of 10 050", test_waitset },
		{ "connections and listeners", test_conn_and_listener },
		CU_TEST_INFO_NULL,
	};
	return mpt_main("wait", tests);
}
