/*
 * test_intr.c - waits a signal can end (common.h, "Signals").
 *
 * Every waiting call, blocked in a thread: in an interruptible thread a
 * signal whose handler runs ends it with -EINTR (the handler installed with
 * SA_RESTART, the case in which the kernel would otherwise restart the
 * wait on its own); in a default thread the same signals (without
 * SA_RESTART, the case in which the kernel reports EINTR) change nothing,
 * and the call succeeds once what it waits for comes.
 */
#include "testutil.h"

#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

static _Atomic int handled;

static void on_signal(int sig)
{
	(void)sig;
	atomic_fetch_add(&handled, 1);
}

static void handle_with(int flags)
{
	struct sigaction sa = { .sa_handler = on_signal, .sa_flags = flags };
	sigemptyset(&sa.sa_mask);
	sigaction(SIGUSR1, &sa, NULL);
}

/* One waiting call: set it up, block in it, make it succeed, tidy up. */
struct call {
	const char *name;
	void (*setup)(void);
	int (*block)(void);       /* in the waiting thread */
	void (*release)(void);    /* make block() succeed */
	void (*teardown)(int r);  /* r: what block() returned */
};

struct run {
	const struct call *c;
	bool interruptible;
	_Atomic int done;
	int r;
};

static void *waiter(void *arg)
{
	struct run *w = arg;
	mp_set_interruptible(w->interruptible);
	w->r = w->c->block();
	atomic_store(&w->done, 1);
	return NULL;
}

static void nap_ms(int ms)
{
	usleep((useconds_t)ms * 1000);
}

static void check(const struct call *c)
{
	pthread_t t;

	/* Interruptible: signal until it returns (a signal that lands just
	 * before it sleeps is allowed to be missed), 5 s at most. */
	handle_with(SA_RESTART);
	struct run w = { .c = c, .interruptible = true };
	c->setup();
	MPT_EQ(pthread_create(&t, NULL, waiter, &w), 0);
	nap_ms(20);
	for (int i = 0; i < 500 && !atomic_load(&w.done); i++) {
		pthread_kill(t, SIGUSR1);
		nap_ms(10);
	}
	if (!atomic_load(&w.done))
		c->release(); /* a failure: let the thread go */
	pthread_join(t, NULL);
	if (w.r != -EINTR)
		fprintf(stderr, "\n%s (interruptible): %d %s\n", c->name, w.r,
		        mp_strerror(w.r));
	MPT_EQ(w.r, -EINTR);
	c->teardown(w.r);

	/* Default: the signals change nothing; the call waits on. */
	handle_with(0);
	w = (struct run){ .c = c, .interruptible = false };
	c->setup();
	int before = atomic_load(&handled);
	MPT_EQ(pthread_create(&t, NULL, waiter, &w), 0);
	nap_ms(20);
	for (int i = 0; i < 20; i++) { /* one at a time: none merged */
		int seen = atomic_load(&handled);
		pthread_kill(t, SIGUSR1);
		for (int k = 0; k < 1000 && atomic_load(&handled) == seen; k++)
			usleep(100);
	}
	nap_ms(20);
	MPT_CMP(atomic_load(&handled) - before, >=, 20);
	MPT_EQ(atomic_load(&w.done), 0); /* still waiting */
	c->release();
	pthread_join(t, NULL);
	if (w.r < 0)
		fprintf(stderr, "\n%s (default): %d %s\n", c->name, w.r,
		        mp_strerror(w.r));
	MPT_CMP(w.r, >=, 0);
	c->teardown(w.r);
}

static void nothing(void)
{
}

/* ---- the objects ---------------------------------------------------------- */

static mp_lock_t *lock;
static mp_rlock_t *rlock;
static mp_sem_t *sem;
static mp_cond_t *cond;
static mp_event_t *event;
static mp_barrier_t *barrier;
static mp_queue_t *queue;
static mp_process_t *child;
static int pipefd[2];
static mp_waitset_t *ws;
static mp_pool_t *pool;
static mp_result_t *result;
static _Atomic uint32_t *go;     /* shared: the child's and the task's cue */

/* Lock: held by the test's thread; the waiter blocks (and, when it gets
 * the lock, gives it back: a thread that ends holding it dies holding
 * it). */
static int lock_got(int r)
{
	if (r == 0)
		r = mp_lock_release(lock);
	return r;
}
static void lock_setup(void) { MPT_OK(mp_lock_acquire(lock, 0)); }
static int lock_block(void) { return lock_got(mp_lock_acquire(lock, MP_FOREVER)); }
static void lock_release(void) { MPT_OK(mp_lock_release(lock)); }
static void lock_teardown(int r)
{
	if (r == -EINTR)
		MPT_OK(mp_lock_release(lock)); /* ours, still */
}

/* ... also with a timeout, on the path with slices (an unlinked holder). */
void mp__lock_force_fallback(bool on);
static void lock_slices_setup(void)
{
	mp__lock_force_fallback(true);
	MPT_OK(mp_lock_acquire(lock, 0));
	mp__lock_force_fallback(false);
}
static int lock_timed_block(void) { return lock_got(mp_lock_acquire(lock, MP_SEC(30))); }

static void rlock_setup(void) { MPT_EQ(mp_rlock_acquire(rlock, 0), 1); }
static int rlock_block(void)
{
	int r = mp_rlock_acquire(rlock, MP_FOREVER);
	if (r > 0)
		mp_rlock_release(rlock);
	return r;
}
static void rlock_release(void) { MPT_OK(mp_rlock_release(rlock)); }
static void rlock_teardown(int r)
{
	if (r == -EINTR)
		MPT_OK(mp_rlock_release(rlock));
}

static int sem_block(void) { return mp_sem_acquire(sem, MP_FOREVER); }
static void sem_release(void) { MPT_OK(mp_sem_release(sem, 1)); }

/* Condition: the waiter holds the lock and waits; it holds it again
 * when the wait returns, -EINTR included. */
static int cond_block(void)
{
	if (mp_cond_acquire(cond, 0) < 0)
		return -1000;
	int r = mp_cond_wait(cond, MP_FOREVER);
	int rel = mp_cond_release(cond);
	return rel == 0 ? r : -1001;
}
static void cond_release(void)
{
	MPT_OK(mp_cond_acquire(cond, TEST_WAIT_NS));
	MPT_EQ(mp_cond_notify(cond, 1), 1);
	MPT_OK(mp_cond_release(cond));
}

static int event_block(void)
{
	int r = mp_event_wait(event, MP_FOREVER);
	return r == 1 ? 0 : r < 0 ? r : -1000;
}
static void event_release(void) { MPT_OK(mp_event_set(event)); }
static void event_teardown(int r) { (void)r; MPT_OK(mp_event_clear(event)); }

/* Barrier of two: the waiter is the first party; an interrupted wait
 * breaks it (Python's rule). */
static int barrier_block(void) { return mp_barrier_wait(barrier, MP_FOREVER); }
static void barrier_release(void) { MPT_OK(mp_barrier_wait(barrier, TEST_WAIT_NS)); }
static void barrier_teardown(int r)
{
	if (r == -EINTR)
		MPT_EQ(mp_barrier_broken(barrier), 1);
	MPT_OK(mp_barrier_reset(barrier));
}

static int get_block(void)
{
	char b[8];
	size_t len;
	return mp_queue_get(queue, b, sizeof(b), &len, MP_FOREVER);
}
static void put_one(void) { MPT_OK(mp_queue_put(queue, "x", 1, 0)); }
static void drain(int r)
{
	char b[8];
	size_t len;
	(void)r;
	while (mp_queue_get(queue, b, sizeof(b), &len, 0) == 0)
		;
}

/* A full queue (maxsize 1): the put waits for room. */
static int put_block(void) { return mp_queue_put(queue, "y", 1, MP_FOREVER); }
static void get_one(void)
{
	char b[8];
	size_t len;
	MPT_OK(mp_queue_get(queue, b, sizeof(b), &len, TEST_WAIT_NS));
}

static int join_block(void) { return mp_queue_join(queue, MP_FOREVER); }
static void drain_done(int r)
{
	char b[8];
	size_t len;
	(void)r;
	while (mp_queue_get(queue, b, sizeof(b), &len, 0) == 0)
		MPT_OK(mp_queue_task_done(queue));
	MPT_OK(mp_queue_join(queue, 0));
}
static void take_and_done(void)
{
	get_one();
	MPT_OK(mp_queue_task_done(queue));
}

static int mpwait_block(void)
{
	mp_waitable_t o[2] = { mp_wait_queue(queue), mp_wait_event(event) };
	size_t ready[2];
	return mp_wait(o, 2, MP_FOREVER, ready);
}

static void pipe_setup(void) { MPT_EQ(pipe(pipefd), 0); }
static int fdwait_block(void)
{
	mp_waitable_t o[1] = { mp_wait_fd(pipefd[0]) };
	size_t ready[1];
	return mp_wait(o, 1, MP_FOREVER, ready);
}
static void pipe_release(void) { MPT_EQ(write(pipefd[1], "z", 1), 1); }
static void pipe_teardown(int r)
{
	(void)r;
	close(pipefd[0]);
	close(pipefd[1]);
}

static void ws_setup(void)
{
	pipe_setup();
	int err;
	ws = mp_waitset_open(&err);
	CU_ASSERT_PTR_NOT_NULL_FATAL(ws);
	MPT_OK(mp_waitset_add(ws, mp_wait_fd(pipefd[0])));
}
static void ws_event_setup(void)
{
	ws_setup();
	MPT_OK(mp_waitset_add(ws, mp_wait_event(event)));
}
static int ws_block(void)
{
	size_t ready[2];
	return mp_waitset_wait(ws, MP_FOREVER, ready, 2);
}
static void ws_teardown(int r)
{
	mp_waitset_close(ws);
	pipe_teardown(r);
}

/* Process join: a child that waits for its cue. */
static int cued(void *arg)
{
	(void)arg;
	return mpt_flag_wait(go, 1) == 0 ? 0 : 1;
}
static void child_setup(void)
{
	atomic_store(go, 0);
	child = mpt_start(cued, NULL);
}
static int process_block(void) { return mp_process_join(child, MP_FOREVER); }
static void cue(void) { mpt_flag_set(go, 1); }
static void child_teardown(int r)
{
	(void)r;
	cue();
	MPT_EQ(mpt_finish(child), 0);
}

/* Pool: a task that waits for its cue (futexes are in the sandbox). */
static int cued_task(const void *in, size_t len, mp_out_t *out)
{
	(void)in, (void)len, (void)out;
	return mpt_flag_wait(go, 1) == 0 ? 0 : -ETIMEDOUT;
}
static void task_setup(void)
{
	int err;
	atomic_store(go, 0);
	result = mp_pool_apply_async(pool, cued_task, NULL, 0, NULL, NULL,
	                             NULL, &err);
	CU_ASSERT_PTR_NOT_NULL_FATAL(result);
}
static int result_block(void) { return mp_result_get(result, MP_FOREVER, NULL, NULL); }
static void task_teardown(int r)
{
	(void)r;
	cue();
	MPT_OK(mp_result_get(result, TEST_WAIT_NS, NULL, NULL));
	mp_result_free(result);
}

/* Connections: a one-way pipe, rd <- wr; on the syscall path or the ring. */
static mp_conn_t *rd, *wr;
static int conn_path;

static void conn_setup(void)
{
	MPT_OK(mp_pipe(false, &rd, &wr));
	MPT_OK(mp__conn_set_path(rd, conn_path));
	MPT_OK(mp__conn_set_path(wr, conn_path));
}
static void conn_teardown(int r)
{
	(void)r;
	MPT_OK(mp_conn_close(rd));
	MPT_OK(mp_conn_close(wr));
}
static int recv_block(void)
{
	char b[8];
	int64_t n = mp_conn_recv_bytes_into(rd, b, sizeof(b), 0, NULL,
	                                    MP_FOREVER);
	return n == 1 && b[0] == 'm' ? 0 : n < 0 ? (int)n : -1000;
}
static void send_m(void) { MPT_OK(mp_conn_send_bytes(wr, "m", 1, 0)); }
static int poll_block(void)
{
	int r = mp_conn_poll(rd, MP_FOREVER);
	return r == 1 ? 0 : r < 0 ? r : -1000;
}

/* A pipe full to the last byte: the send writes nothing before it waits
 * (a message this small goes in whole or not at all), so an interrupted
 * one leaves the connection as it was. */
static size_t filler;

static void full_setup(void)
{
	char junk[4096] = { 0 };
	conn_setup();
	int fd = mp_conn_fileno(wr), fl = fcntl(fd, F_GETFL);
	MPT_EQ(fcntl(fd, F_SETFL, fl | O_NONBLOCK), 0);
	ssize_t n;
	for (filler = 0; (n = write(fd, junk, sizeof(junk))) > 0;)
		filler += (size_t)n;
	while ((n = write(fd, junk, 1)) > 0)
		filler += (size_t)n;
	MPT_EQ(fcntl(fd, F_SETFL, fl), 0);
}
static int send_block(void) { return mp_conn_send_bytes(wr, "m", 1, MP_FOREVER); }
static void drain_filler(void)
{
	char junk[4096];
	for (size_t left = filler; left > 0;) {
		ssize_t n = read(mp_conn_fileno(rd), junk,
		                 left < sizeof(junk) ? left : sizeof(junk));
		if (n <= 0)
			break;
		left -= (size_t)n;
	}
}
static void full_teardown(int r)
{
	if (r == -EINTR)
		drain_filler();
	/* The stream is whole: an interrupted send sent nothing, a finished
	 * one its message, and the connection still works. */
	if (r == -EINTR)
		send_m();
	MPT_EQ(recv_block(), 0);
	conn_teardown(r);
}

/* Listeners and clients, on a fresh AF_UNIX path. */
static mp_listener_t *lis;
static mp_conn_t *accepted, *client;
static const mp_conn_opts_t keyed = { .authkey = "key", .authkey_len = 3 };
static bool with_key;

static void listener_setup(void)
{
	int err;
	lis = mp_listener_open(NULL, with_key ? &keyed : NULL, &err);
	CU_ASSERT_PTR_NOT_NULL_FATAL(lis);
	accepted = client = NULL;
}
static int accept_block(void)
{
	int err;
	accepted = mp_listener_accept(lis, MP_FOREVER, &err);
	return accepted ? 0 : err;
}
static void connect_client(void)
{
	int err;
	client = mp_client(mp_listener_address(lis), with_key ? &keyed : NULL,
	                   TEST_WAIT_NS, &err);
	CU_ASSERT_PTR_NOT_NULL(client);
}
static void listener_teardown(int r)
{
	(void)r;
	if (accepted)
		mp_conn_close(accepted);
	if (client)
		mp_conn_close(client);
	MPT_OK(mp_listener_close(lis));
}

/* A client whose listener has not accepted yet: it waits for the
 * challenge. */
static int client_block(void)
{
	int err;
	client = mp_client(mp_listener_address(lis), &keyed, MP_FOREVER, &err);
	return client ? 0 : err;
}
static void accept_now(void)
{
	int err;
	accepted = mp_listener_accept(lis, TEST_WAIT_NS, &err);
	CU_ASSERT_PTR_NOT_NULL(accepted);
}

static void test_connections(void)
{
	static const struct call calls[] = {
		{ "connection recv", conn_setup, recv_block, send_m, conn_teardown },
		{ "connection poll", conn_setup, poll_block, send_m, conn_teardown },
		{ "connection send, pipe full", full_setup, send_block,
		  drain_filler, full_teardown },
	};
	int paths[] = { MP__IO_SYSCALL, MP__IO_RING };
	for (int p = 0; p < 2; p++) {
		conn_path = paths[p];
		for (size_t i = 0; i < sizeof(calls) / sizeof(calls[0]); i++) {
			fprintf(stderr, "\n    %s (%s)", calls[i].name,
			        p ? "ring" : "system calls");
			check(&calls[i]);
		}
	}
	static const struct call accept_call = { "listener accept",
		listener_setup, accept_block, connect_client, listener_teardown };
	for (int k = 0; k < 2; k++) {
		with_key = k;
		fprintf(stderr, "\n    listener accept%s", k ? ", authkey" : "");
		check(&accept_call);
	}
	with_key = true;
	static const struct call client_call = { "client handshake",
		listener_setup, client_block, accept_now, listener_teardown };
	fprintf(stderr, "\n    client handshake");
	check(&client_call);
}

static void test_waits(void)
{
	static const struct call calls[] = {
		{ "lock", lock_setup, lock_block, lock_release, lock_teardown },
		{ "lock, timed, unlinked holder", lock_slices_setup,
		  lock_timed_block, lock_release, lock_teardown },
		{ "rlock", rlock_setup, rlock_block, rlock_release, rlock_teardown },
		{ "semaphore", nothing, sem_block, sem_release, (void (*)(int))nothing },
		{ "condition", nothing, cond_block, cond_release, (void (*)(int))nothing },
		{ "event", nothing, event_block, event_release, event_teardown },
		{ "barrier", nothing, barrier_block, barrier_release, barrier_teardown },
		{ "queue get", nothing, get_block, put_one, drain },
		{ "queue put", put_one, put_block, get_one, drain },
		{ "mp_wait, shared objects", nothing, mpwait_block, put_one, drain },
		{ "mp_wait, descriptors", pipe_setup, fdwait_block, pipe_release, pipe_teardown },
		{ "waitset, descriptors", ws_setup, ws_block, pipe_release, ws_teardown },
		{ "waitset, with an event", ws_event_setup, ws_block, pipe_release, ws_teardown },
		{ "process join", child_setup, process_block, cue, child_teardown },
		{ "pool result", task_setup, result_block, cue, task_teardown },
	};
	for (size_t i = 0; i < sizeof(calls) / sizeof(calls[0]); i++) {
		fprintf(stderr, "\n    %s", calls[i].name);
		check(&calls[i]);
	}
}

/* JoinableQueue.join: a task handed out and not done. */
static void test_queue_join(void)
{
	mp_queue_attr_t a = { .flags = MP_QUEUE_JOINABLE };
	int err;
	mp_queue_t *plain = queue;
	queue = mp_queue_new(&a, &err);
	CU_ASSERT_PTR_NOT_NULL_FATAL(queue);
	static const struct call join = { "queue join", put_one, join_block,
	                                  take_and_done, drain_done };
	check(&join);
	MPT_OK(mp_queue_free(queue));
	queue = plain;
}

/* The setting is per thread, and says what it was. */
static void test_setting(void)
{
	MPT_EQ(mp_set_interruptible(1), 0);
	MPT_EQ(mp_set_interruptible(1), 1);
	MPT_EQ(mp_set_interruptible(0), 1);
	MPT_EQ(mp_set_interruptible(0), 0);
}

int main(void)
{
	int err;
	mp_queue_attr_t one = { .maxsize = 1 };
	mp_pool_attr_t pa = { .processes = 1, .sandbox = MP_SANDBOX_COMPUTE };
	if (!(lock = mp_lock_new(&err)) || !(rlock = mp_rlock_new(&err)) ||
	    !(sem = mp_sem_new(0, 0, &err)) || !(cond = mp_cond_new(NULL, true, &err)) ||
	    !(event = mp_event_new(&err)) ||
	    !(barrier = mp_barrier_new(2, NULL, NULL, &err)) ||
	    !(queue = mp_queue_new(&one, &err)) ||
	    !(go = mp_heap_alloc(sizeof(*go), &err)) ||
	    !(pool = mp_pool_new(&pa, &err))) {
		fprintf(stderr, "setup: %s\n", mp_strerror(err));
		return 1;
	}
	static CU_TestInfo tests[] = {
		{ "the setting", test_setting },
		{ "every wait, interrupted or not", test_waits },
		{ "queue join", test_queue_join },
		{ "connections and listeners", test_connections },
		CU_TEST_INFO_NULL,
	};
	int r = mpt_main("intr", tests);
	mp_pool_terminate(pool);
	mp_pool_free(pool);
	return r;
}
