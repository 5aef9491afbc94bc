/*
 * wait.c - mp_wait: readiness of descriptors and shared-memory objects, and
 * one sleep for all of them.
 *
 * A wait is a loop: look at everything without blocking (one ppoll of the
 * descriptors with a zero timeout, and a memory read per shared object);
 * if nothing is ready, sleep until something may have changed, then look
 * again.  The sleep must not miss a change that happens between the look
 * and the sleep: each shared object's futex word is read *in* the look and
 * the sleep is on that value (the kernel compares it), and the object's
 * wakers see us counted in its sleepers before the look (struct
 * mp__watch), so they do wake.
 *
 * A connection is its descriptor plus the bytes it has read ahead
 * (mp_conn_buffered): those make it ready in the look, and no wait
 * sleeps while any is buffered.  Only the connection's reader changes
 * that count, so a look that saw none cannot miss one before the sleep.
 */
#include "internal.h"

#include <poll.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include <unistd.h>

#define WAITV_MAX 128                 /* FUTEX_WAITV_MAX */
#define FALLBACK_SLICE_NS MP_MSEC(1)

/* How shared objects sleep (sleep_shared): chosen per wait, or - tests -
 * one way for all. */
enum { PATH_AUTO, PATH_URING, PATH_POLL };
static _Atomic int force_path;

void mp__wait_force_path(int path);
void mp__wait_force_path(int path)
{
	atomic_store(&force_path, path);
}

struct plan {
	const mp_waitable_t *objs;
	struct pollfd *fds;
	size_t *fd_obj;        /* object index of each pollfd */
	size_t nfds;
	size_t *conn_fd;       /* pollfd index of each connection */
	size_t nconns;
	struct mp__watch *watch;
	size_t *watch_obj;
	size_t nwatch;
};

mp_waitable_t mp_wait_barrier(mp_barrier_t *b)
{
	mp_waitable_t w = { .kind = 0 };
	uint32_t gen;
	if (mp__barrier_gen(b, &gen) == 0) {
		w.kind = MP_WAIT_BARRIER;
		w.obj = b;
		w.since = gen;
	}
	return w;
}

/* One shared object: ready (1), not (0, *w filled), or -EINVAL. */
static int watch_one(const mp_waitable_t *o, struct mp__watch *w)
{
	switch (o->kind) {
	case MP_WAIT_QUEUE:
		return mp__queue_watch(o->obj, w);
	case MP_WAIT_EVENT:
		return mp__event_watch(o->obj, w);
	case MP_WAIT_SEM:
		return mp__sem_watch(o->obj, w);
	case MP_WAIT_BARRIER:
		return mp__barrier_watch(o->obj, o->since, w);
	case MP__WAIT_WORD:
		if (!o->obj)
			return -EINVAL;
		w->word = o->obj;
		w->value = o->since;
		w->sleepers = NULL;
		return atomic_load((_Atomic uint32_t *)o->obj) != o->since;
	default:
		return -EINVAL;
	}
}

/* The descriptor of a descriptor, process or connection, or < 0. */
static int object_fd(const mp_waitable_t *o)
{
	switch (o->kind) {
	case MP_WAIT_FD:
		return o->fd;
	case MP_WAIT_PROCESS:
		return o->obj ? mp_process_sentinel(o->obj) : -1;
	case MP_WAIT_CONN:
		return o->obj ? mp_conn_fileno(o->obj) : -1;
	default:
		return -1;
	}
}

static bool has_fd(int kind)
{
	return kind == MP_WAIT_FD || kind == MP_WAIT_PROCESS ||
	       kind == MP_WAIT_CONN;
}

/* A shared-memory object (watched, not polled); 0 is a free set slot. */
static bool is_shared(int kind)
{
	return kind && !has_fd(kind);
}

static int plan_make(struct plan *p, const mp_waitable_t *objs, size_t n)
{
	size_t m = n ? n : 1;
	/* One block for the arrays, not zeroed: a wait on many objects must
	 * cost what poll() costs, not a page of memset. */
	char *mem = malloc(m * (sizeof(*p->fds) + 3 * sizeof(size_t) +
	                        sizeof(*p->watch)));
	memset(p, 0, sizeof(*p));
	if (!mem)
		return -ENOMEM;
	p->objs = objs;
	p->watch = (struct mp__watch *)mem;
	p->fds = (struct pollfd *)(p->watch + m);
	p->fd_obj = (size_t *)(p->fds + m);
	p->watch_obj = p->fd_obj + m;
	p->conn_fd = p->watch_obj + m;
	/* Locals, not p's fields (a store into the arrays may alias p, and
	 * the compiler reloaded p->fds and p->nfds for every object), and a
	 * tight loop over the leading plain descriptors: this conversion is
	 * what a wait on many descriptors adds to ppoll. */
	struct pollfd *fds = p->fds;
	size_t *fd_obj = p->fd_obj, nwatch = 0, i = 0;
	for (; i < n && objs[i].kind == MP_WAIT_FD && objs[i].fd >= 0; i++) {
		fds[i] = (struct pollfd){ .fd = objs[i].fd, .events = POLLIN };
		fd_obj[i] = i;
	}
	size_t nfds = i, nconns = 0;
	int r = 0;
	for (; i < n; i++) {
		int kind = objs[i].kind;
		if (has_fd(kind)) {
			int fd = object_fd(&objs[i]);
			if (fd < 0) {
				r = kind == MP_WAIT_PROCESS ? -EINVAL : -EBADF;
				break;
			}
			if (kind == MP_WAIT_CONN)
				p->conn_fd[nconns++] = nfds;
			fds[nfds] = (struct pollfd){ .fd = fd, .events = POLLIN };
			fd_obj[nfds++] = i;
		} else if (watch_one(&objs[i], &p->watch[nwatch]) < 0) {
			r = -EINVAL;
			break;
		} else {
			p->watch_obj[nwatch++] = i;
		}
	}
	p->nfds = nfds;
	p->nconns = nconns;
	p->nwatch = nwatch;
	return r;
}

/* Bytes read ahead by the connection at pollfd i. */
static bool conn_buffered(const struct plan *p, size_t i)
{
	return mp_conn_buffered(p->objs[p->fd_obj[i]].obj) > 0;
}

static bool any_buffered(const struct plan *p)
{
	for (size_t j = 0; j < p->nconns; j++)
		if (conn_buffered(p, p->conn_fd[j]))
			return true;
	return false;
}

static void plan_free(struct plan *p)
{
	free(p->watch); /* the block */
}

static int cmp_size(const void *a, const void *b)
{
	size_t x = *(const size_t *)a, y = *(const size_t *)b;
	return (x > y) - (x < y);
}

/* Look at everything once.  The ready count (indices in ready[]), or
 * -EBADF; refreshes each watch's futex value. */
static int look(struct plan *p, size_t *ready)
{
	int n = 0, r = 0;

	if (p->nfds) {
		r = ppoll(p->fds, p->nfds, &(struct timespec){ 0 }, NULL);
		if (r < 0 && errno != EINTR)
			return -errno;
		/* ppoll counts the entries it set revents in: stop at the
		 * last one rather than read a thousand more. */
		for (size_t i = 0; n < r && i < p->nfds; i++) {
			if (p->fds[i].revents & POLLNVAL)
				return -EBADF;
			if (p->fds[i].revents)
				ready[n++] = p->fd_obj[i];
		}
	}
	/* Connections with bytes read ahead, unless counted already (when
	 * ppoll failed, no revents is fresh and none was). */
	for (size_t j = 0; j < p->nconns; j++) {
		size_t i = p->conn_fd[j];
		if ((r <= 0 || !p->fds[i].revents) && conn_buffered(p, i))
			ready[n++] = p->fd_obj[i];
	}
	for (size_t i = 0; i < p->nwatch; i++)
		if (watch_one(&p->objs[p->watch_obj[i]], &p->watch[i]) == 1)
			ready[n++] = p->watch_obj[i];
	if (n > 1)
		qsort(ready, (size_t)n, sizeof(*ready), cmp_size);
	return n;
}

static void count_in(struct plan *p, int delta)
{
	for (size_t i = 0; i < p->nwatch; i++)
		if (p->watch[i].sleepers)
			atomic_fetch_add(p->watch[i].sleepers, (uint32_t)delta);
}

/* Descriptors only, or the fallback: ppoll to the deadline or a slice. */
static int sleep_poll(struct plan *p, int64_t deadline)
{
	struct timespec ts;
	int64_t until = deadline;
	if (p->nwatch) {
		int64_t slice = mp_sys_now_ns() + FALLBACK_SLICE_NS;
		until = slice < deadline ? slice : deadline;
	}
	const struct timespec *tsp = NULL;
	if (until != MP__NO_DEADLINE) {
		mp_sys_ns_to_timespec(until - mp_sys_now_ns(), &ts);
		tsp = &ts;
	}
	int r = ppoll(p->fds, p->nfds, tsp, NULL);
	if (r < 0)
		return errno == EINTR ? mp_sys_eintr() : -errno;
	return 0;
}

/* Descriptors only: one ppoll to the deadline does the look and the
 * sleep (as poll() would).  The ready count, or 0 to go the long way (a
 * signal, or nothing ready at the deadline: the loop says which), or
 * -EINTR (an interruptible thread's signal). */
static int wait_fds(struct plan *p, int64_t deadline, size_t *ready)
{
	struct timespec ts, *tsp = NULL;
	if (deadline != MP__NO_DEADLINE) {
		mp_sys_ns_to_timespec(deadline - mp_sys_now_ns(), &ts);
		tsp = &ts;
	}
	int r = ppoll(p->fds, p->nfds, tsp, NULL);
	if (r < 0)
		return errno == EINTR ? mp_sys_eintr() : -errno;
	if (r == 0)
		return 0;
	int n = 0;
	for (size_t i = 0; n < r && i < p->nfds; i++) { /* as in look() */
		if (p->fds[i].revents & POLLNVAL)
			return -EBADF;
		if (p->fds[i].revents)
			ready[n++] = p->fd_obj[i];
	}
	return n; /* pollfds are in object order: ready[] is ascending */
}

static struct io_uring_sqe *next_sqe(struct io_uring *ring)
{
	struct io_uring_sqe *sqe = io_uring_get_sqe(ring);
	if (!sqe) {
		io_uring_submit(ring); /* SQ full: hand these to the kernel */
		sqe = io_uring_get_sqe(ring);
	}
	return sqe;
}

/* Queue a POLL_ADD per descriptor and a FUTEX_WAITV per 128 watches;
 * returns how many operations were queued. */
static unsigned arm(struct io_uring *ring, struct plan *p,
                    struct futex_waitv *v, uint64_t tag)
{
	unsigned ops = 0;
	for (size_t i = 0; i < p->nfds; i++) {
		struct io_uring_sqe *sqe = next_sqe(ring);
		io_uring_prep_poll_add(sqe, p->fds[i].fd, POLLIN);
		sqe->user_data = tag;
		ops++;
	}
	for (size_t i = 0; i < p->nwatch; i++)
		mp_sys_waitv_set(&v[i], p->watch[i].word, p->watch[i].value);
	for (size_t i = 0; i < p->nwatch; i += WAITV_MAX) {
		size_t k = p->nwatch - i < WAITV_MAX ? p->nwatch - i : WAITV_MAX;
		struct io_uring_sqe *sqe = next_sqe(ring);
		mp_sys_prep_futex_waitv(sqe, &v[i], (unsigned)k);
		sqe->user_data = tag;
		ops++;
	}
	return ops;
}

/* Everything in one io_uring submission; back when one completes. */
static int sleep_uring(struct plan *p, int64_t deadline)
{
	static _Thread_local uint64_t tags;
	int err = 0;
	struct io_uring *ring = mp_sys_ring(&err);
	if (!ring)
		return err;
	struct futex_waitv *v = calloc(p->nwatch, sizeof(*v));
	if (!v)
		return -ENOMEM;
	uint64_t tag = ++tags | 1; /* never 0: the cancel's own user_data */
	unsigned pending = arm(ring, p, v, tag);
	struct io_uring_cqe *cqe;
	struct __kernel_timespec kts, *ktp = NULL;
	if (deadline != MP__NO_DEADLINE) {
		int64_t left = deadline - mp_sys_now_ns();
		left = left < 0 ? 0 : left;
		kts.tv_sec = left / 1000000000;
		kts.tv_nsec = left % 1000000000;
		ktp = &kts;
	}
	int r;
	if (!mp_sys_interruptible()) {
		r = io_uring_submit_and_wait_timeout(ring, &cqe, 1, ktp, NULL);
	} else {
		/* Apart: a call that submits reports how many it took, not
		 * that a signal cut its wait short - and liburing then waits
		 * again. */
		r = io_uring_submit(ring);
		if (r >= 0)
			r = io_uring_wait_cqes(ring, &cqe, 1, ktp, NULL);
	}
	/* Whatever woke us, nothing of ours may stay in flight: cancel the
	 * rest and reap every completion (the waitv array is ours). */
	struct io_uring_sqe *sqe = next_sqe(ring);
	io_uring_prep_cancel64(sqe, tag, IORING_ASYNC_CANCEL_ALL);
	sqe->user_data = 0;
	io_uring_submit(ring);
	for (unsigned left = pending + 1; left > 0; left--) {
		int w;
		/* A signal now must not leave completions of ours behind
		 * for the next wait on this ring to take for its own. */
		while ((w = io_uring_wait_cqe(ring, &cqe)) == -EINTR)
			;
		if (w < 0)
			break;
		io_uring_cqe_seen(ring, cqe);
	}
	free(v);
	if (r == -EINTR)
		return mp_sys_eintr();
	return r < 0 && r != -ETIME ? r : 0;
}

/*
 * A few shared objects only: one futex_waitv system call.  io_uring would
 * cost a submission, then - once one operation completed - a cancel and
 * the reaping of every completion: a second kernel entry on every wake-up
 * (a pool's apply that sleeps for its result: 28-34 us a round trip that
 * way, 15-21 us this way, here).  More words go to io_uring, which keeps
 * its array off the stack.  1: futex_waitv cannot be used here - the
 * kernel lacks it (before 5.16), or a seccomp policy refuses it - so go
 * the other way from now on.
 */
#define WAITV_STACK 16

static _Atomic bool no_waitv;

static int sleep_waitv(struct plan *p, int64_t deadline)
{
	struct futex_waitv v[WAITV_STACK];
	struct timespec ts;
	for (size_t i = 0; i < p->nwatch; i++)
		mp_sys_waitv_set(&v[i], p->watch[i].word, p->watch[i].value);
	int r = mp_sys_futex_waitv(v, (unsigned)p->nwatch,
	                           mp__deadline_ts(deadline, &ts));
	/* Woken, a word already changed, or the deadline: look again. */
	if (r >= 0 || r == -EAGAIN || r == -ETIMEDOUT)
		return 0;
	atomic_store_explicit(&no_waitv, true, memory_order_relaxed);
	return 1;
}

/*
 * Descriptors too, or more words: io_uring, or
 * without its FUTEX_WAITV (before 6.7) ppoll in slices.  So also in an
 * interruptible thread: after an SA_RESTART handler the kernel restarts
 * futex_waitv (ERESTARTSYS, deadline or not - unlike FUTEX_WAIT's restart
 * block, see mp_sys_wait_deadline), and the thread would never hear of
 * the signal; io_uring's wait reports it.
 */
static int sleep_shared(struct plan *p, int64_t deadline)
{
	int path = atomic_load_explicit(&force_path, memory_order_relaxed);
	if (path == PATH_POLL)
		return sleep_poll(p, deadline);
	if (path == PATH_AUTO && !p->nfds && p->nwatch <= WAITV_STACK &&
	    !mp_sys_interruptible() &&
	    !atomic_load_explicit(&no_waitv, memory_order_relaxed)) {
		int r = sleep_waitv(p, deadline);
		if (r != 1)
			return r;
	}
	if (mp_sys_uring_has_op(MP_SYS_IORING_OP_FUTEX_WAITV))
		return sleep_uring(p, deadline);
	return sleep_poll(p, deadline);
}

static int sleep_any(struct plan *p, int64_t deadline, size_t *ready)
{
	if (!p->nwatch)
		return sleep_poll(p, deadline);
	/* Counted in first, then one more look with fresh futex values: a
	 * change after this look wakes us or fails our futex compare. */
	count_in(p, 1);
	int r = look(p, ready);
	if (r == 0)
		r = sleep_shared(p, deadline);
	count_in(p, -1);
	return r < 0 ? r : 0;
}

int mp_wait(const mp_waitable_t *objs, size_t n, int64_t timeout_ns,
            size_t *ready)
{
	int64_t deadline;
	struct plan p;

	if ((!objs && n) || !ready || mp__deadline(timeout_ns, &deadline) < 0 ||
	    (n == 0 && timeout_ns == MP_FOREVER))
		return -EINVAL;
	int r = plan_make(&p, objs, n);
	if (r == 0 && p.nwatch == 0 && timeout_ns != 0 && !any_buffered(&p))
		r = wait_fds(&p, deadline, ready);
	while (r == 0) {
		r = look(&p, ready);
		if (r != 0)
			break;
		if (timeout_ns == 0) {
			r = -EAGAIN;
			break;
		}
		if (deadline != MP__NO_DEADLINE && mp_sys_now_ns() >= deadline) {
			r = -ETIMEDOUT;
			break;
		}
		r = sleep_any(&p, deadline, ready);
	}
	plan_free(&p);
	return r;
}

/* ---- waitsets ------------------------------------------------------------ */

/*
 * A waitset keeps its descriptors in an epoll instance and its shared
 * objects in a plan whose only descriptor is the epoll fd: the sleep is
 * mp_wait's (the epoll fd is readable when any member is), and the look
 * asks epoll which members are ready.
 */
struct mp_waitset {
	int epfd;
	mp_waitable_t *items;       /* by index; kind 0: a free slot */
	size_t nitems, cap;
	size_t free_from;           /* every slot below it is taken */
	struct epoll_event *ev;     /* cap entries */
	struct plan plan;           /* fds: the epoll fd; the shared objects */
	size_t *watch_item;         /* the set index of each plan watch */
	size_t *scratch;            /* cap + 1 entries */
	size_t *conns;              /* the set index of each connection */
	size_t nconns, conns_cap;
};

mp_waitset_t *mp_waitset_open(int *err)
{
	int dummy;
	if (!err)
		err = &dummy;
	mp_waitset_t *ws = calloc(1, sizeof(*ws));
	if (!ws) {
		*err = -ENOMEM;
		return NULL;
	}
	ws->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (ws->epfd < 0) {
		*err = -errno;
		free(ws);
		return NULL;
	}
	return ws;
}

int mp_waitset_close(mp_waitset_t *ws)
{
	if (!ws)
		return 0;
	close(ws->epfd);
	free(ws->items);
	free(ws->ev);
	free((void *)ws->plan.objs);
	free(ws->plan.watch); /* the plan's block */
	free(ws->watch_item);
	free(ws->scratch);
	free(ws->conns);
	free(ws);
	return 0;
}

/* Rebuild the plan: the epoll fd plus every shared object. */
static int ws_replan(mp_waitset_t *ws)
{
	size_t nw = 0;
	for (size_t i = 0; i < ws->nitems; i++)
		nw += is_shared(ws->items[i].kind);
	mp_waitable_t *objs = calloc(nw + 1, sizeof(*objs));
	if (!objs)
		return -ENOMEM;
	objs[0] = mp_wait_fd(ws->epfd);
	for (size_t i = 0, k = 1; i < ws->nitems; i++)
		if (is_shared(ws->items[i].kind))
			objs[k++] = ws->items[i];
	struct plan p;
	int r = plan_make(&p, objs, nw + 1);
	if (r < 0) {
		plan_free(&p);
		free(objs);
		return r;
	}
	size_t *item = calloc(nw + 1, sizeof(*item));
	if (!item) {
		plan_free(&p);
		free(objs);
		return -ENOMEM;
	}
	for (size_t w = 0, i = 0; w < nw; i++)
		if (is_shared(ws->items[i].kind))
			item[w++] = i;
	free((void *)ws->plan.objs);
	plan_free(&ws->plan);
	free(ws->watch_item);
	ws->plan = p; /* its objs (kept alive here) are read by plan index */
	ws->watch_item = item;
	return 0;
}

static int ws_grow(mp_waitset_t *ws)
{
	size_t cap = ws->cap ? ws->cap * 2 : 16;
	mp_waitable_t *items = realloc(ws->items, cap * sizeof(*items));
	if (items)
		ws->items = items;
	struct epoll_event *ev = realloc(ws->ev, cap * sizeof(*ev));
	if (ev)
		ws->ev = ev;
	size_t *scratch = realloc(ws->scratch, (cap + 1) * sizeof(*scratch));
	if (scratch)
		ws->scratch = scratch;
	if (!items || !ev || !scratch)
		return -ENOMEM;
	ws->cap = cap;
	return 0;
}

/* Connections are listed apart: their buffered bytes are looked at on
 * every wait, and the other descriptors' only by epoll. */
static int ws_conn_add(mp_waitset_t *ws, size_t index)
{
	if (ws->nconns == ws->conns_cap) {
		size_t cap = ws->conns_cap ? 2 * ws->conns_cap : 8;
		size_t *c = realloc(ws->conns, cap * sizeof(*c));
		if (!c)
			return -ENOMEM;
		ws->conns = c;
		ws->conns_cap = cap;
	}
	ws->conns[ws->nconns++] = index;
	return 0;
}

static void ws_conn_remove(mp_waitset_t *ws, size_t index)
{
	for (size_t j = 0; j < ws->nconns; j++)
		if (ws->conns[j] == index) {
			ws->conns[j] = ws->conns[--ws->nconns];
			return;
		}
}

static bool ws_conn_buffered(const mp_waitset_t *ws, size_t j)
{
	return mp_conn_buffered(ws->items[ws->conns[j]].obj) > 0;
}

static bool ws_any_buffered(const mp_waitset_t *ws)
{
	for (size_t j = 0; j < ws->nconns; j++)
		if (ws_conn_buffered(ws, j))
			return true;
	return false;
}

int mp_waitset_add(mp_waitset_t *ws, mp_waitable_t w)
{
	if (!ws)
		return -EINVAL;
	/* From the first slot that may be free: adding n members one by one
	 * is then O(n), not O(n^2) (10 000 descriptors took 50 M steps). */
	size_t i = ws->free_from;
	while (i < ws->nitems && ws->items[i].kind)
		i++;
	if (i == ws->cap && ws_grow(ws) < 0)
		return -ENOMEM;
	int fd = -1;
	if (has_fd(w.kind)) {
		fd = object_fd(&w);
		if (fd < 0)
			return w.kind == MP_WAIT_PROCESS ? -EINVAL : -EBADF;
	} else {
		struct mp__watch probe;
		if (watch_one(&w, &probe) < 0)
			return -EINVAL;
	}
	if (w.kind == MP_WAIT_CONN && ws_conn_add(ws, i) < 0)
		return -ENOMEM;
	if (fd >= 0) {
		struct epoll_event ev = { .events = EPOLLIN, .data.u64 = i };
		if (epoll_ctl(ws->epfd, EPOLL_CTL_ADD, fd, &ev) < 0) {
			int e = errno;
			if (w.kind == MP_WAIT_CONN)
				ws_conn_remove(ws, i);
			return e == EPERM ? -EBADF : -e;
		}
	}
	ws->items[i] = w;
	if (i == ws->nitems)
		ws->nitems++;
	if (fd < 0) {
		int r = ws_replan(ws);
		if (r < 0) {
			ws->items[i].kind = 0;
			return r;
		}
	}
	ws->free_from = i + 1;
	return (int)i;
}

int mp_waitset_remove(mp_waitset_t *ws, int index)
{
	if (!ws || index < 0)
		return -EINVAL;
	if ((size_t)index >= ws->nitems || !ws->items[index].kind)
		return -ENOENT;
	mp_waitable_t w = ws->items[index];
	ws->items[index].kind = 0;
	if ((size_t)index < ws->free_from)
		ws->free_from = (size_t)index;
	if (has_fd(w.kind)) {
		int fd = object_fd(&w);
		/* A descriptor already closed left epoll by itself. */
		if (fd >= 0)
			epoll_ctl(ws->epfd, EPOLL_CTL_DEL, fd, NULL);
		if (w.kind == MP_WAIT_CONN)
			ws_conn_remove(ws, (size_t)index);
		return 0;
	}
	return ws_replan(ws);
}

/* Which members are ready: epoll's answer and the shared objects'. */
static int ws_look(mp_waitset_t *ws, size_t *ready, size_t cap)
{
	int n = 0;
	int k = !ws->cap ? 0 : epoll_wait(ws->epfd, ws->ev,
	                                  (int)(cap < ws->cap ? cap : ws->cap), 0);
	if (k < 0 && errno != EINTR)
		return -errno;
	for (int i = 0; i < k; i++)
		ready[n++] = (size_t)ws->ev[i].data.u64;
	for (size_t i = 0; i < ws->plan.nwatch && (size_t)n < cap; i++)
		if (watch_one(&ws->plan.objs[ws->plan.watch_obj[i]],
		              &ws->plan.watch[i]) == 1)
			ready[n++] = ws->watch_item[i];
	/* Connections with bytes read ahead, unless epoll named them. */
	for (size_t j = 0; j < ws->nconns && (size_t)n < cap; j++) {
		bool named = false;
		for (int e = 0; e < k && !named; e++)
			named = ready[e] == ws->conns[j];
		if (!named && ws_conn_buffered(ws, j))
			ready[n++] = ws->conns[j];
	}
	if (n > 1)
		qsort(ready, (size_t)n, sizeof(*ready), cmp_size);
	return n;
}

/* Descriptors only: epoll itself looks and sleeps, in one call (as a
 * caller of epoll_wait would).  The ready count, 0 at the deadline, or
 * -errno. */
static int ws_wait_fds(mp_waitset_t *ws, int64_t deadline, size_t *ready,
                       size_t cap)
{
	struct timespec ts, *tsp = NULL;
	if (deadline != MP__NO_DEADLINE) {
		mp_sys_ns_to_timespec(deadline - mp_sys_now_ns(), &ts);
		tsp = &ts;
	}
	int k = epoll_pwait2(ws->epfd, ws->ev,
	                     (int)(cap < ws->cap ? cap : ws->cap), tsp, NULL);
	if (k < 0)
		return errno == EINTR ? mp_sys_eintr() : -errno;
	for (int i = 0; i < k; i++)
		ready[i] = (size_t)ws->ev[i].data.u64;
	if (k > 1)
		qsort(ready, (size_t)k, sizeof(*ready), cmp_size);
	return k;
}

int mp_waitset_wait(mp_waitset_t *ws, int64_t timeout_ns, size_t *ready,
                    size_t cap)
{
	int64_t deadline;

	if (!ws || !ready || !cap || mp__deadline(timeout_ns, &deadline) < 0 ||
	    (ws->nitems == 0 && timeout_ns == MP_FOREVER))
		return -EINVAL;
	for (;;) {
		int r = !ws->plan.nwatch && ws->cap && timeout_ns != 0 &&
		        !ws_any_buffered(ws) ? ws_wait_fds(ws, deadline, ready, cap)
		                             : ws_look(ws, ready, cap);
		if (r != 0)
			return r;
		if (timeout_ns == 0)
			return -EAGAIN;
		if (deadline != MP__NO_DEADLINE && mp_sys_now_ns() >= deadline)
			return -ETIMEDOUT;
		if (!ws->cap) { /* never had a member: just the timeout */
			struct timespec ts;
			mp_sys_ns_to_timespec(deadline - mp_sys_now_ns(), &ts);
			if (nanosleep(&ts, NULL) < 0 && errno == EINTR &&
			    mp_sys_interruptible())
				return -EINTR;
			continue;
		}
		if (!ws->plan.nwatch)
			continue; /* descriptors only: epoll slept already */
		r = sleep_any(&ws->plan, deadline, ws->scratch);
		if (r < 0)
			return r;
	}
}
