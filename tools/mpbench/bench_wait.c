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

static int run_mp_wait(const struct mpb_case *c, long iters, double *value,
                       const char **why)
{
	(void)why;
	struct rig r;
	int n = n_of(c), e = rig_up(&r, n, iters);
	if (e < 0)
		return e;
	mp_waitable_t *objs = calloc((size_t)n, sizeof(*objs));
	size_t *ready = calloc((size_t)n, sizeof(*ready));
	for (int i = 0; i < n; i++)
		objs[i] = mp_wait_fd(r.fds[i]);
	int64_t t0 = mpb_now();
	for (long i = 0; i < iters && e >= 0; i++) {
		e = mp_wait(objs, (size_t)n, MP_FOREVER, ready);
		if (e > 0)
			e = answer(&r, (int)ready[0]);
	}
	*value = (double)(mpb_now() - t0) / 1e3 / (double)iters;
	free(objs);
	free(ready);
	rig_down(&r);
	return e < 0 ? e : 0;
}

/* The same through a waitset, built once (as the epoll set is). */
static int run_waitset(const struct mpb_case *c, long iters, double *value,
                       const char **why)
{
	(void)why;
	struct rig r;
	int n = n_of(c), e = rig_up(&r, n, iters);
	if (e < 0)
		return e;
	mp_waitset_t *ws = mp_waitset_open(&e);
	int *index_fd = calloc((size_t)n, sizeof(*index_fd));
	for (int i = 0; ws && i < n; i++)
		index_fd[mp_waitset_add(ws, mp_wait_fd(r.fds[i]))] = i;
	int64_t t0 = mpb_now();
	for (long i = 0; ws && i < iters && e >= 0; i++) {
		size_t ready;
		e = mp_waitset_wait(ws, MP_FOREVER, &ready, 1);
		if (e > 0)
			e = answer(&r, index_fd[ready]);
	}
	*value = (double)(mpb_now() - t0) / 1e3 / (double)iters;
	mp_waitset_close(ws);
	free(index_fd);
	rig_down(&r);
	return e < 0 ? e : 0;
}

static int run_poll(const struct mpb_case *c, long iters, double *value,
                    const char **why)
{
	(void)why;
	struct rig r;
	int n = n_of(c), e = rig_up(&r, n, iters);
	if (e < 0)
		return e;
	struct pollfd *p = calloc((size_t)n, sizeof(*p));
	for (int i = 0; i < n; i++)
		p[i] = (struct pollfd){ .fd = r.fds[i], .events = POLLIN };
	int64_t t0 = mpb_now();
	for (long i = 0; i < iters && e >= 0; i++) {
		if (poll(p, (nfds_t)n, -1) < 0) {
			e = -errno;
			break;
		}
		for (int k = 0; k < n; k++)
			if (p[k].revents) {
				e = answer(&r, k);
				break;
			}
	}
	*value = (double)(mpb_now() - t0) / 1e3 / (double)iters;
	free(p);
	rig_down(&r);
	return e < 0 ? e : 0;
}

static int run_epoll(const struct mpb_case *c, long iters, double *value,
                     const char **why)
{
	(void)why;
	struct rig r;
	int n = n_of(c), e = rig_up(&r, n, iters);
	if (e < 0)
		return e;
	int ep = epoll_create1(EPOLL_CLOEXEC);
	for (int i = 0; i < n; i++) {
		struct epoll_event ev = { .events = EPOLLIN, .data.u32 = (uint32_t)i };
		epoll_ctl(ep, EPOLL_CTL_ADD, r.fds[i], &ev);
	}
	int64_t t0 = mpb_now();
	for (long i = 0; i < iters && e >= 0; i++) {
		struct epoll_event ev;
		if (epoll_wait(ep, &ev, 1, -1) != 1) {
			e = -errno;
			break;
		}
		e = answer(&r, (int)ev.data.u32);
	}
	*value = (double)(mpb_now() - t0) / 1e3 / (double)iters;
	close(ep);
	rig_down(&r);
	return e < 0 ? e : 0;
}

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
	WAIT_CASE(1000, "poll", run_poll, 1.0, 4000, 1000),
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
