/* bench_wait.c - readiness latency of mp_wait for 1 .. 10 000 objects,
 * beside poll() and epoll. */
#include "mpbench.h"

#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <mproc.h>

/*
 * The setup: n eventfds the waiter watches (one descriptor each, so 10 000
 * fit the descriptor limit) and a back channel.  A peer process signals
 * eventfd (i * 7919) % n on round i, then waits for the waiter's answer on
 * the back channel; the waiter waits on all n, reads the one that is
 * ready, answers.  One round trip per op.
 */
struct rig {
	int n;
	int *fds;
	int back[2];
	pid_t peer;
};

static void peer_loop(struct rig *r, long iters)
{
	uint64_t one = 1;
	char c;
	for (long i = 0; i < iters; i++) {
		if (write(r->fds[(i * 7919) % r->n], &one, 8) != 8 ||
		    read(r->back[0], &c, 1) != 1)
			_exit(1);
	}
	_exit(0);
}

static int rig_up(struct rig *r, int n, long iters)
{
	struct rlimit rl;
	rlim_t need = (rlim_t)n + 64;
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < need) {
		rl.rlim_cur = need;
		if (rl.rlim_max < need)
			rl.rlim_max = need; /* needs privilege; else EMFILE below */
		setrlimit(RLIMIT_NOFILE, &rl);
	}
	r->n = n;
	r->fds = calloc((size_t)n, sizeof(*r->fds));
	if (!r->fds || pipe(r->back) < 0)
		return -errno;
	for (int i = 0; i < n; i++)
		if ((r->fds[i] = eventfd(0, EFD_CLOEXEC)) < 0)
			return -errno;
	r->peer = fork();
	if (r->peer == 0)
		peer_loop(r, iters);
	return r->peer < 0 ? -errno : 0;
}

static void rig_down(struct rig *r)
{
	waitpid(r->peer, NULL, 0);
	for (int i = 0; i < r->n; i++)
		close(r->fds[i]);
	close(r->back[0]);
	close(r->back[1]);
	free(r->fds);
}

/* The waiter's half of a round: drain eventfd k, answer. */
static int answer(struct rig *r, int k)
{
	uint64_t v;
	if (read(r->fds[k], &v, 8) != 8 || write(r->back[1], "x", 1) != 1)
		return -EIO;
	return 0;
}

static int n_of(const struct mpb_case *c)
{
	return atoi(c->name + 5); /* "wait.<n>/..." */
}

/*
 * One way of waiting: set up for the rig's descriptors once, then return
 * the index of a ready one per call (or -errno); tear down.
 */
struct waiter {
	void *(*setup)(const struct rig *r);
	int (*wait)(void *state, const struct rig *r);
	void (*teardown)(void *state);
};

/* The round trips of one repetition, timed, with any way of waiting. */
static int run_with(const struct mpb_case *c, long iters, double *value,
                    const struct waiter *w)
{
	struct rig r;
	int e = rig_up(&r, n_of(c), iters);
	if (e < 0)
		return e;
	void *state = w->setup(&r);
	if (!state)
		e = -ENOMEM;
	int64_t t0 = mpb_now(), lap = t0;
	for (long i = 0; i < iters && e >= 0; i++) {
		e = w->wait(state, &r);
		if (e >= 0)
			e = answer(&r, e);
		lap = mpb_lat_lap(lap);
	}
	*value = (double)(mpb_now() - t0) / 1e3 / (double)iters;
	if (state)
		w->teardown(state);
	rig_down(&r);
	return e < 0 ? e : 0;
}

/* mp_wait, given the n descriptors every time (as poll() is). */
struct mpw {
	mp_waitable_t *objs;
	size_t *ready;
};

static void mpw_teardown(void *state)
{
	struct mpw *m = state;
	free(m->objs);
	free(m->ready);
	free(m);
}

static void *mpw_setup(const struct rig *r)
{
	struct mpw *m = calloc(1, sizeof(*m));
	if (m) {
		m->objs = calloc((size_t)r->n, sizeof(*m->objs));
		m->ready = calloc((size_t)r->n, sizeof(*m->ready));
	}
	if (!m || !m->objs || !m->ready) {
		if (m)
			mpw_teardown(m);
		return NULL;
	}
	for (int i = 0; i < r->n; i++)
		m->objs[i] = mp_wait_fd(r->fds[i]);
	return m;
}

static int mpw_wait(void *state, const struct rig *r)
{
	struct mpw *m = state;
	int e = mp_wait(m->objs, (size_t)r->n, MP_FOREVER, m->ready);
	return e > 0 ? (int)m->ready[0] : e;
}

/* A waitset, built once (as an epoll set is). */
struct mws {
	mp_waitset_t *ws;
	int *fd_of;   /* set index -> rig index */
};

static void *mws_setup(const struct rig *r)
{
	struct mws *m = calloc(1, sizeof(*m));
	if (!m || !(m->ws = mp_waitset_open(NULL)) ||
	    !(m->fd_of = calloc((size_t)r->n, sizeof(*m->fd_of)))) {
		if (m)
			mp_waitset_close(m->ws);
		free(m);
		return NULL;
	}
	for (int i = 0; i < r->n; i++) {
		int k = mp_waitset_add(m->ws, mp_wait_fd(r->fds[i]));
		if (k >= 0)
			m->fd_of[k] = i;
	}
	return m;
}

static int mws_wait(void *state, const struct rig *r)
{
	struct mws *m = state;
	size_t ready;
	int e = mp_waitset_wait(m->ws, MP_FOREVER, &ready, 1);
	(void)r;
	return e > 0 ? m->fd_of[ready] : e;
}

static void mws_teardown(void *state)
{
	struct mws *m = state;
	mp_waitset_close(m->ws);
	free(m->fd_of);
	free(m);
}

/* poll(), the baseline for mp_wait. */
static void *poll_setup(const struct rig *r)
{
	struct pollfd *p = calloc((size_t)r->n, sizeof(*p));
	for (int i = 0; p && i < r->n; i++)
		p[i] = (struct pollfd){ .fd = r->fds[i], .events = POLLIN };
	return p;
}

static int poll_wait(void *state, const struct rig *r)
{
	struct pollfd *p = state;
	if (poll(p, (nfds_t)r->n, -1) < 0)
		return -errno;
	for (int k = 0; k < r->n; k++)
		if (p[k].revents)
			return k;
	return -EIO;
}

/* epoll set up once, the baseline for a waitset. */
static void *epoll_setup(const struct rig *r)
{
	int *ep = malloc(sizeof(*ep));
	if (ep && (*ep = epoll_create1(EPOLL_CLOEXEC)) < 0) {
		free(ep);
		return NULL;
	}
	for (int i = 0; ep && i < r->n; i++) {
		struct epoll_event ev = { .events = EPOLLIN, .data.u32 = (uint32_t)i };
		epoll_ctl(*ep, EPOLL_CTL_ADD, r->fds[i], &ev);
	}
	return ep;
}

static int epoll_wait_one(void *state, const struct rig *r)
{
	struct epoll_event ev;
	(void)r;
	return epoll_wait(*(int *)state, &ev, 1, -1) == 1 ? (int)ev.data.u32
	                                                 : -errno;
}

static void epoll_teardown(void *state)
{
	close(*(int *)state);
	free(state);
}

#define RUNNER(NAME, SETUP, WAIT, TEARDOWN)                                 \
	static int NAME(const struct mpb_case *c, long iters, double *value,\
	                const char **why)                                   \
	{                                                                   \
		static const struct waiter w = { SETUP, WAIT, TEARDOWN };   \
		(void)why;                                                  \
		return run_with(c, iters, value, &w);                       \
	}

RUNNER(run_mp_wait, mpw_setup, mpw_wait, mpw_teardown)
RUNNER(run_waitset, mws_setup, mws_wait, mws_teardown)
RUNNER(run_poll, poll_setup, poll_wait, free)
RUNNER(run_epoll, epoll_setup, epoll_wait_one, epoll_teardown)

#define WAIT_CASE(N, BASE, FN, GOAL, IT, QIT)                               \
	{                                                                   \
		.name = "wait." #N "/" BASE,                                \
		.unit = "us/op",                                            \
		.baseline = BASE "() on " #N " eventfds, one becomes "      \
		            "ready per round trip",                         \
		.goal = GOAL,                                               \
		.iters = IT,                                                \
		.quick_iters = QIT,                                         \
		.run_mproc = run_mp_wait,                                   \
		.run_baseline = FN,                                         \
	}

const struct mpb_case mpb_wait_cases[] = {
	WAIT_CASE(1, "poll", run_poll, 0, 20000, 5000),
	WAIT_CASE(16, "poll", run_poll, 0, 20000, 5000),
	/* Parity: a one-shot wait on descriptors is one ppoll, the
	 * baseline's own system call (README, "Reading the table"). */
	WAIT_CASE(1000, "poll", run_poll, 0.95, 4000, 1000),
	{
		.name = "wait.10000/epoll",
		.unit = "us/op",
		.baseline = "epoll (set up once) on 10000 eventfds, one becomes "
		            "ready per round trip; mproc: a waitset",
		.goal = 0.8,
		.iters = 4000,
		.quick_iters = 1000,
		.run_mproc = run_waitset,
		.run_baseline = run_epoll,
	},
	{ 0 },
};
