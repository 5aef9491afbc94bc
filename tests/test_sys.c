/* test_sys.c - the kernel wrappers in sys/, each against the real kernel. */
#include "testutil.h"

#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

/* Fork a child running fn(arg); returns its pidfd (the test owns it). */
static int spawn(int (*fn)(void *), void *arg)
{
	int fd = -1;
	fflush(stdout);
	pid_t pid = mp_sys_fork_pidfd(&fd);
	if (pid == 0)
		_exit(fn(arg));
	CU_ASSERT_FATAL(pid > 0);
	return fd;
}

static int reap_code(int fd)
{
	int code = -1000;
	int r = mp_sys_pidfd_reap(fd, true, &code);
	close(fd);
	return r == 1 ? code : r;
}

static void test_clock(void)
{
	int64_t a = mp_sys_now_ns(), b = mp_sys_now_ns();
	struct timespec ts;
	MPT_CMP(a, >, 0);
	MPT_CMP(b, >=, a);
	mp_sys_ns_to_timespec(MP_SEC(3) + 7, &ts);
	MPT_EQ(ts.tv_sec, 3);
	MPT_EQ(ts.tv_nsec, 7);
	mp_sys_ns_to_timespec(-5, &ts);
	MPT_EQ(ts.tv_sec, 0);
	MPT_EQ(ts.tv_nsec, 0);
}

static _Atomic uint32_t *shared_words;

/* Wakes the parent asleep on word 0: first with the word unchanged, until
 * a wake reports it found a sleeper (a wake across processes), then with
 * the word set.  3 when no wake found one within TEST_WAIT_NS. */
static int child_wakes(void *arg)
{
	(void)arg;
	int64_t end = mp_sys_now_ns() + TEST_WAIT_NS;
	while (mp_sys_futex_wake(&shared_words[0], 1) != 1) {
		if (mp_sys_now_ns() > end)
			return 3;
		usleep(1000);
	}
	atomic_store(&shared_words[0], 1);
	mp_sys_futex_wake(&shared_words[0], 1);
	return 0;
}

static void test_futex_cross_process(void)
{
	atomic_store(&shared_words[0], 0);
	int fd = spawn(child_wakes, NULL);
	int64_t deadline;
	struct timespec ts;
	mp__deadline(TEST_WAIT_NS, &deadline);
	int r;
	while (atomic_load(&shared_words[0]) == 0 &&
	       (r = mp_sys_futex_wait(&shared_words[0], 0,
	                              mp__deadline_ts(deadline, &ts))) !=
	               -ETIMEDOUT)
		;
	MPT_EQ(atomic_load(&shared_words[0]), 1);
	MPT_EQ(reap_code(fd), 0);
}

static void test_futex_mismatch_and_timeout(void)
{
	_Atomic uint32_t w = 5;
	struct timespec ts;
	MPT_ERR(mp_sys_futex_wait(&w, 4, NULL), -EAGAIN);
	int64_t t0 = mp_sys_now_ns();
	mp_sys_ns_to_timespec(t0 + MP_MSEC(30), &ts);
	MPT_ERR(mp_sys_futex_wait(&w, 5, &ts), -ETIMEDOUT);
	/* The deadline is absolute: never early. */
	MPT_CMP(mp_sys_now_ns() - t0, >=, MP_MSEC(30));
	/* A deadline in the past times out at once. */
	mp_sys_ns_to_timespec(t0 - MP_SEC(1), &ts);
	MPT_ERR(mp_sys_futex_wait(&w, 5, &ts), -ETIMEDOUT);
	MPT_EQ(mp_sys_futex_wake(&w, 1), 0);
}

static int child_wakes_second(void *arg)
{
	(void)arg;
	usleep(50000);
	atomic_store(&shared_words[1], 9);
	mp_sys_futex_wake(&shared_words[1], 1);
	return 0;
}

static void test_futex_waitv(void)
{
	struct futex_waitv v[2];
	struct timespec ts;

	atomic_store(&shared_words[0], 0);
	atomic_store(&shared_words[1], 0);
	mp_sys_waitv_set(&v[0], &shared_words[0], 0);
	mp_sys_waitv_set(&v[1], &shared_words[1], 0);
	int fd = spawn(child_wakes_second, NULL);
	mp_sys_ns_to_timespec(mp_sys_now_ns() + TEST_WAIT_NS, &ts);
	int r;
	do {
		r = mp_sys_futex_waitv(v, 2, &ts);
	} while (r == 0 || (r == -EINTR));
	/* Woken on entry 1, or it changed before we slept. */
	CU_ASSERT(r == 1 || r == -EAGAIN);
	MPT_EQ(atomic_load(&shared_words[1]), 9);
	MPT_EQ(reap_code(fd), 0);
	/* A word already different: -EAGAIN at once. */
	mp_sys_waitv_set(&v[1], &shared_words[1], 0);
	MPT_ERR(mp_sys_futex_waitv(v, 2, &ts), -EAGAIN);
	/* Timeout. */
	mp_sys_waitv_set(&v[1], &shared_words[1], 9);
	mp_sys_ns_to_timespec(mp_sys_now_ns() + MP_MSEC(20), &ts);
	MPT_ERR(mp_sys_futex_waitv(v, 2, &ts), -ETIMEDOUT);
}

static int child_sleeps(void *arg)
{
	(void)arg;
	for (;;)
		pause();
	return 0;
}

static int child_exits_7(void *arg)
{
	(void)arg;
	return 7;
}

/* ---- nonces ---------------------------------------------------------------- */

#define NONCE 40
#define NONCE_THREADS 4
#define NONCES_EACH 300 /* a thread's share crosses the buffer's refills */

static int nonce_cmp(const void *a, const void *b)
{
	return memcmp(a, b, NONCE);
}

/* n nonces sorted: 1 when two are equal (or one is all zero). */
static int nonces_repeat(uint8_t (*v)[NONCE], size_t n)
{
	static const uint8_t zero[NONCE];
	qsort(v, n, NONCE, nonce_cmp);
	for (size_t i = 0; i < n; i++)
		if (!memcmp(v[i], zero, NONCE) ||
		    (i > 0 && !memcmp(v[i - 1], v[i], NONCE)))
			return 1;
	return 0;
}

static void *nonce_thread(void *arg)
{
	uint8_t (*v)[NONCE] = arg;
	for (int i = 0; i < NONCES_EACH; i++)
		if (mp_sys_nonce(v[i], NONCE) != 0)
			return (void *)1;
	return NULL;
}

/* The child's next nonces, into the shared page. */
static int child_nonces(void *arg)
{
	uint8_t (*v)[NONCE] = arg;
	for (int i = 0; i < 3; i++)
		if (mp_sys_nonce(v[i], NONCE) != 0)
			return 3;
	return 0;
}

static void test_nonce(void)
{
	static uint8_t v[NONCE_THREADS * NONCES_EACH + 6][NONCE];
	pthread_t t[NONCE_THREADS];
	void *ret;

	for (int i = 0; i < NONCE_THREADS; i++)
		MPT_EQ(pthread_create(&t[i], NULL, nonce_thread,
		                      v[i * NONCES_EACH]), 0);
	for (int i = 0; i < NONCE_THREADS; i++) {
		MPT_EQ(pthread_join(t[i], &ret), 0);
		CU_ASSERT(ret == NULL);
	}
	MPT_EQ(nonces_repeat(v, NONCE_THREADS * NONCES_EACH), 0);

	/* After a fork, parent and child each draw their own: a copied
	 * buffer would give both the same next bytes. */
	uint8_t (*shared)[NONCE] = mmap(NULL, 4096, PROT_READ | PROT_WRITE,
	                                MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	CU_ASSERT_FATAL(shared != MAP_FAILED);
	MPT_OK(mp_sys_nonce(v[0], NONCE)); /* the buffer holds bytes now */
	int fd = spawn(child_nonces, shared);
	MPT_EQ(reap_code(fd), 0);
	for (int i = 0; i < 3; i++) {
		memcpy(v[i], shared[i], NONCE);
		MPT_OK(mp_sys_nonce(v[3 + i], NONCE));
	}
	MPT_EQ(nonces_repeat(v, 6), 0);
	munmap(shared, 4096);

	/* Longer than the buffer: straight from getrandom. */
	static uint8_t big[2][8192];
	MPT_OK(mp_sys_nonce(big[0], sizeof(big[0])));
	MPT_OK(mp_sys_nonce(big[1], sizeof(big[1])));
	CU_ASSERT(memcmp(big[0], big[1], sizeof(big[0])) != 0);
}

static void test_pidfd(void)
{
	int code = 0;
	int fd = spawn(child_sleeps, NULL);
	MPT_EQ(mp_sys_pidfd_reap(fd, false, &code), 0); /* still running */
	struct timespec now = { 0 };
	MPT_EQ(mp_sys_poll_one(fd, POLLIN, &now), 0);
	MPT_OK(mp_sys_pidfd_signal(fd, SIGKILL));
	struct timespec ts;
	mp_sys_ns_to_timespec(mp_sys_now_ns() + TEST_WAIT_NS, &ts);
	MPT_CMP(mp_sys_poll_one(fd, POLLIN, &ts) & POLLIN, !=, 0);
	MPT_EQ(mp_sys_pidfd_reap(fd, true, &code), 1);
	MPT_EQ(code, -SIGKILL);
	/* Reaped: no more signals, no second reap. */
	MPT_ERR(mp_sys_pidfd_signal(fd, SIGTERM), -ESRCH);
	MPT_ERR(mp_sys_pidfd_reap(fd, true, &code), -ECHILD);
	close(fd);

	fd = spawn(child_exits_7, NULL);
	MPT_EQ(reap_code(fd), 7);
	MPT_ERR(mp_sys_pidfd_open(-1, 0), -EINVAL);
	MPT_ERR(mp_sys_pidfd_signal(-1, SIGTERM), -EBADF);
}

static int child_writes_map(void *arg)
{
	char *p = arg;
	return p[0] == 'a' ? (p[1] = 'b', 0) : 3;
}

static void test_shared_mappings(void)
{
	int err = 0;
	char *p = mp_sys_map_shared(1 << 20, &err);
	CU_ASSERT_PTR_NOT_NULL_FATAL(p);
	p[0] = 'a';
	int fd = spawn(child_writes_map, p);
	MPT_EQ(reap_code(fd), 0);
	MPT_EQ(p[1], 'b');
	/* Discarded pages read back as zero, in every process. */
	memset(p, 0x5a, 8192);
	MPT_OK(mp_sys_discard(p, 8192));
	MPT_EQ(p[0], 0);
	MPT_EQ(p[8191], 0);
	MPT_OK(mp_sys_unmap(p, 1 << 20));

	int mfd = mp_sys_memfd("mproc-test", 4096);
	MPT_OK(mfd);
	char *a = mp_sys_map_fd(mfd, 4096, &err);
	char *b = mp_sys_map_fd(mfd, 4096, &err);
	CU_ASSERT_PTR_NOT_NULL_FATAL(a);
	CU_ASSERT_PTR_NOT_NULL_FATAL(b);
	CU_ASSERT(a != b);
	strcpy(a, "same pages");
	CU_ASSERT_STRING_EQUAL(b, "same pages");
	mp_sys_unmap(a, 4096);
	mp_sys_unmap(b, 4096);
	close(mfd);
	MPT_CMP(mp_sys_map_shared((size_t)1 << 62, &err) == NULL, ==, 1);
	MPT_ERR(err, -ENOMEM);
}

/* Prefaulting maps in the whole pages of a range, contents untouched. */
static void test_prefault(void)
{
	enum { PAGES = 16 };
	size_t len = PAGES * 4096;
	char *m = mmap(NULL, len, PROT_READ | PROT_WRITE,
	               MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	CU_ASSERT_FATAL(m != MAP_FAILED);
	memset(m, 0x5a, 3 * 4096 + 10);
	MPT_OK(mp_sys_prefault_write(m, 0));
	MPT_OK(mp_sys_prefault_write(m + 1, 100)); /* no whole page */
	int r = mp_sys_prefault_write(m + 100, len - 200);
	if (r == -EINVAL) {
		MPT_SKIP("MADV_POPULATE_WRITE (Linux 5.14)");
	} else {
		MPT_OK(r);
		unsigned char vec[PAGES];
		MPT_OK(mincore(m, len, vec));
		int absent = 0;
		for (int i = 1; i < PAGES - 1; i++)
			absent += !(vec[i] & 1);
		MPT_EQ(absent, 0);
	}
	int bad = 0;
	for (size_t i = 0; i < len; i++)
		bad += m[i] != (i < 3 * 4096 + 10 ? 0x5a : 0);
	MPT_EQ(bad, 0);
	munmap(m, len);
}

/* The segment wrappers: sealed memfds, reservation, sizes, read-only maps. */
static void test_segments(void)
{
	int err = 0;
	int fd = mp_sys_memfd_sealable("mproc-test-seg");
	MPT_OK(fd);
	MPT_EQ(mp_sys_file_size(fd), 0);
	MPT_OK(mp_sys_fallocate(fd, 8192));
	MPT_EQ(mp_sys_file_size(fd), 8192);
	MPT_OK(mp_sys_add_seals(fd, F_SEAL_SHRINK | F_SEAL_GROW));
	MPT_EQ(mp_sys_get_seals(fd) & (F_SEAL_SHRINK | F_SEAL_GROW),
	       F_SEAL_SHRINK | F_SEAL_GROW);
	MPT_ERR(mp_sys_ftruncate(fd, 4096), -EPERM);
	int d = mp_sys_dup(fd);
	MPT_OK(d);
	char *w = mp_sys_map_file(fd, 8192, false, &err);
	char *r = mp_sys_map_file(d, 8192, true, &err);
	CU_ASSERT_PTR_NOT_NULL_FATAL(w);
	CU_ASSERT_PTR_NOT_NULL_FATAL(r);
	strcpy(w + 4096, "shared");
	CU_ASSERT_STRING_EQUAL(r + 4096, "shared");
	mp_sys_unmap(w, 8192);
	mp_sys_unmap(r, 8192);
	close(d);
	close(fd);
	int p[2];
	MPT_OK(mp_sys_pipe(p));
	MPT_ERR(mp_sys_file_size(p[0]), -EINVAL); /* not a regular file */
	close(p[0]);
	close(p[1]);
	MPT_ERR(mp_sys_file_size(-1), -EBADF);
	MPT_ERR(mp_sys_shm_open("/mproc-test-none", O_RDWR, 0), -ENOENT);
	MPT_ERR(mp_sys_shm_unlink("/mproc-test-none"), -ENOENT);
}

static int child_uses_ring(void *arg)
{
	struct io_uring *parent_ring = arg;
	int err = 0;
	struct io_uring *r = mp_sys_ring(&err);
	if (!r)
		return 3;
	/* Same object address (it is this thread's slot), but rebuilt: a new
	 * ring fd, and it works. */
	if (r != parent_ring)
		return 4;
	struct io_uring_sqe *sqe = io_uring_get_sqe(r);
	io_uring_prep_nop(sqe);
	sqe->user_data = 42;
	struct io_uring_cqe *cqe;
	if (io_uring_submit_and_wait(r, 1) < 0 || io_uring_peek_cqe(r, &cqe))
		return 5;
	int ok = cqe->user_data == 42;
	io_uring_cqe_seen(r, cqe);
	return ok ? 0 : 6;
}

static void *thread_ring(void *arg)
{
	int err;
	*(struct io_uring **)arg = mp_sys_ring(&err);
	return NULL;
}

static void test_ring_per_thread_and_fork(void)
{
	int err = 0;
	struct io_uring *r = mp_sys_ring(&err);
	CU_ASSERT_PTR_NOT_NULL_FATAL(r);
	CU_ASSERT(mp_sys_ring(&err) == r);
	int fd_before = r->ring_fd;

	pthread_t t;
	struct io_uring *other = NULL;
	pthread_create(&t, NULL, thread_ring, &other);
	pthread_join(t, NULL);
	CU_ASSERT_PTR_NOT_NULL(other);
	CU_ASSERT(other != r);

	int fd = spawn(child_uses_ring, r);
	MPT_EQ(reap_code(fd), 0);
	/* The parent's ring is untouched by the child's rebuild. */
	MPT_EQ(mp_sys_ring(&err)->ring_fd, fd_before);
	struct io_uring_sqe *sqe = io_uring_get_sqe(r);
	io_uring_prep_nop(sqe);
	struct io_uring_cqe *cqe;
	MPT_OK(io_uring_submit_and_wait(r, 1));
	MPT_EQ(io_uring_peek_cqe(r, &cqe), 0);
	io_uring_cqe_seen(r, cqe);
}

/* Once the parent's ring waits on word 2 (word 4 says so), changes it and
 * wakes it, then exits. */
static int child_changes_word_then_exits(void *arg)
{
	(void)arg;
	if (mpt_flag_wait(&shared_words[4], 1) != 0)
		return 3;
	atomic_store(&shared_words[2], 1);
	mp_sys_futex_wake(&shared_words[2], 1);
	usleep(30000); /* the two events apart (either order is checked) */
	return 0;
}

/* One ring, a futex wait on a shared word and a poll on a child's pidfd,
 * both pending; each completes on its own event. */
static void test_ring_futex_and_pidfd(void)
{
	if (!mp_sys_uring_has_op(MP_SYS_IORING_OP_FUTEX_WAIT)) {
		MPT_SKIP("io_uring futex ops need Linux 6.7");
		return;
	}
	int err = 0;
	struct io_uring *r = mp_sys_ring(&err);
	CU_ASSERT_PTR_NOT_NULL_FATAL(r);
	atomic_store(&shared_words[2], 0);
	atomic_store(&shared_words[4], 0);
	int fd = spawn(child_changes_word_then_exits, NULL);
	struct io_uring_sqe *sqe = io_uring_get_sqe(r);
	mp_sys_prep_futex_wait(sqe, &shared_words[2], 0);
	sqe->user_data = 1;
	sqe = io_uring_get_sqe(r);
	io_uring_prep_poll_add(sqe, fd, POLLIN);
	sqe->user_data = 2;
	MPT_EQ(io_uring_submit(r), 2);
	/* Submitted is armed: the futex wait is queued (its word unchanged
	 * till now), so the change the child makes next is what wakes it. */
	mpt_flag_set(&shared_words[4], 1);
	bool got[3] = { false };
	for (int i = 0; i < 2; i++) {
		struct io_uring_cqe *cqe;
		struct __kernel_timespec kts = { .tv_sec = 10 };
		int e = io_uring_wait_cqe_timeout(r, &cqe, &kts);
		MPT_EQ(e, 0);
		if (e)
			break;
		if (cqe->user_data == 1)
			MPT_CMP(cqe->res, >=, 0);
		else
			MPT_CMP(cqe->res & POLLIN, !=, 0);
		got[cqe->user_data == 2 ? 2 : 1] = true;
		io_uring_cqe_seen(r, cqe);
	}
	CU_ASSERT(got[1] && got[2]);
	MPT_EQ(reap_code(fd), 0);

	/* FUTEX_WAKE and FUTEX_WAITV through the ring as well. */
	struct futex_waitv v[1];
	mp_sys_waitv_set(&v[0], &shared_words[3], 0);
	atomic_store(&shared_words[3], 0);
	sqe = io_uring_get_sqe(r);
	mp_sys_prep_futex_waitv(sqe, v, 1);
	sqe->user_data = 3;
	io_uring_submit(r);
	atomic_store(&shared_words[3], 1);
	sqe = io_uring_get_sqe(r);
	mp_sys_prep_futex_wake(sqe, &shared_words[3], 1);
	sqe->user_data = 4;
	io_uring_submit(r);
	int seen = 0;
	for (int i = 0; i < 2; i++) {
		struct io_uring_cqe *cqe;
		struct __kernel_timespec kts = { .tv_sec = 10 };
		if (io_uring_wait_cqe_timeout(r, &cqe, &kts))
			break;
		MPT_CMP(cqe->res, >=, 0);
		seen |= 1 << (cqe->user_data - 3);
		io_uring_cqe_seen(r, cqe);
	}
	MPT_EQ(seen, 3);
}


/* Spin on mp_sys_upoll_peek until a completion comes (a deadline only
 * so that a bug fails rather than hangs). */
static int upoll_spin(mp_sys_upoll_t *p, mp_sys_upoll_ev_t *ev)
{
	int64_t end = mp_sys_now_ns() + 10 * 1000000000ll;
	int n;
	while ((n = mp_sys_upoll_peek(p, ev, 4)) == 0 && mp_sys_now_ns() < end)
		;
	return n;
}

/* The poller ring: a multishot poll reports each arrival, a deadline
 * passes with nothing, a cancel ends the request and lets the file go
 * (the peer sees the close), an eventfd wakes it. */
static void test_upoll(void)
{
	mp_sys_upoll_t p;
	mp_sys_upoll_ev_t ev[4];
	int sv[2];
	MPT_OK(mp_sys_upoll_init(&p, 8));
	MPT_OK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv));
	MPT_OK(mp_sys_upoll_add(&p, sv[0], POLLIN, true, 7));
	struct timespec ts;
	mp_sys_ns_to_timespec(mp_sys_now_ns() + 20000000, &ts);
	MPT_EQ(mp_sys_upoll_wait(&p, ev, 4, &ts), 0); /* nothing yet */
	char c = 'x', buf[8];
	for (int round = 0; round < 2; round++) {
		MPT_EQ(write(sv[1], &c, 1), 1);
		int n = round ? upoll_spin(&p, ev)
		              : mp_sys_upoll_wait(&p, ev, 4, NULL);
		MPT_EQ(n, 1);
		MPT_EQ(ev[0].tag, 7);
		CU_ASSERT(ev[0].res & POLLIN);
		CU_ASSERT(ev[0].more); /* still armed */
		MPT_EQ(read(sv[0], buf, sizeof(buf)), 1);
	}
	/* cancelled, then closed: the peer sees end of file */
	MPT_OK(mp_sys_upoll_cancel(&p, 7));
	close(sv[0]);
	MPT_EQ(mp_sys_upoll_wait(&p, ev, 4, NULL), 1);
	MPT_EQ(ev[0].tag, 7);
	MPT_EQ(ev[0].res, -ECANCELED);
	CU_ASSERT(!ev[0].more);
	mp_sys_ns_to_timespec(mp_sys_now_ns() + 10 * 1000000000ll, &ts);
	CU_ASSERT(mp_sys_poll_one(sv[1], POLLIN, &ts) > 0);
	MPT_EQ(read(sv[1], buf, sizeof(buf)), 0);
	close(sv[1]);

	int efd = mp_sys_eventfd();
	CU_ASSERT_FATAL(efd >= 0);
	MPT_EQ(mp_sys_eventfd_drain(efd), 0);
	MPT_OK(mp_sys_upoll_add(&p, efd, POLLIN, true, 1));
	MPT_OK(mp_sys_eventfd_signal(efd));
	MPT_OK(mp_sys_eventfd_signal(efd));
	MPT_EQ(mp_sys_upoll_wait(&p, ev, 4, NULL) >= 1, 1);
	MPT_EQ(ev[0].tag, 1);
	MPT_EQ(mp_sys_eventfd_drain(efd), 1);
	MPT_EQ(mp_sys_eventfd_drain(efd), 0);
	close(efd);
	mp_sys_upoll_destroy(&p);
}

/* Deferred completions: another process's write makes the poll's
 * completion task work for us; when the ring says so (6.0 on), any
 * system call of ours posts it, and then a peek finds it without one. */
static void test_upoll_deferred(void)
{
	mp_sys_upoll_t p;
	mp_sys_upoll_ev_t ev[4];
	int sv[2], seen = 0;
	MPT_OK(mp_sys_upoll_init(&p, 8));
	MPT_OK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv));
	MPT_OK(mp_sys_upoll_add(&p, sv[0], POLLIN, true, 7));
	MPT_EQ(mp_sys_upoll_peek(&p, ev, 4), 0); /* armed */
	for (int round = 0; round < 20; round++) {
		pid_t pid = fork();
		if (pid == 0)
			_exit(write(sv[1], "x", 1) == 1 ? 0 : 1);
		CU_ASSERT_FATAL(pid > 0);
		/* an interrupt may run the work first: then it is there */
		int64_t end = mp_sys_now_ns() + 10 * 1000000000ll;
		bool d = false;
		while (!(d = mp_sys_upoll_deferred(&p)) &&
		       !io_uring_cq_ready(&p.ring) && mp_sys_now_ns() < end)
			;
		char c;
		MPT_EQ(read(sv[0], &c, 1), 1); /* the system call */
		if (d) {
			seen++;
			CU_ASSERT(!mp_sys_upoll_deferred(&p));
			CU_ASSERT(io_uring_cq_ready(&p.ring) >= 1);
		}
		MPT_EQ(mp_sys_upoll_peek(&p, ev, 4), 1);
		MPT_EQ(ev[0].tag, 7);
		MPT_EQ(ev[0].res, POLLIN);
		int st;
		MPT_EQ(waitpid(pid, &st, 0), pid);
		MPT_EQ(st, 0);
	}
	printf("(deferred seen %d of 20) ", seen);
	close(sv[0]);
	close(sv[1]);
	mp_sys_upoll_destroy(&p);
}

int main(void)
{
	shared_words = mpt_shared(4096);
	static CU_TestInfo tests[] = {
		{ "clock", test_clock },
		{ "futex wait/wake across processes", test_futex_cross_process },
		{ "futex mismatch and timeout", test_futex_mismatch_and_timeout },
		{ "futex_waitv", test_futex_waitv },
		{ "pidfd open/signal/reap/poll", test_pidfd },
		{ "nonces: threads, fork, long", test_nonce },
		{ "shared and memfd mappings", test_shared_mappings },
		{ "prefault for writing", test_prefault },
		{ "segments: sealed memfds, reservation, read-only", test_segments },
		{ "ring per thread, rebuilt after fork", test_ring_per_thread_and_fork },
		{ "ring futex ops and pidfd poll", test_ring_futex_and_pidfd },
		{ "poller ring: multishot, cancel, eventfd", test_upoll },
		{ "poller ring: deferred completions", test_upoll_deferred },
		CU_TEST_INFO_NULL,
	};
	return mpt_main("sys", tests);
}
