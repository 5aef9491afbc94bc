/*
 * upoll.c - a private io_uring used as a readiness poller, for an event
 * loop that owns many descriptors (the manager server), and the eventfd
 * that wakes such a loop.
 *
 * Not the thread's ring (uring.c): that one is shared by every blocking
 * call of the thread and must hold nothing in flight between calls, while
 * a poller keeps one multishot IORING_OP_POLL_ADD (Linux 5.13) armed per
 * descriptor for as long as it watches it.  A poll request holds its own
 * reference to the file: closing the descriptor does not end it (nor let
 * the peer see the close) until it is cancelled, so a caller cancels
 * before it closes.
 *
 * The ring is set up COOP_TASKRUN | TASKRUN_FLAG: a poll wake-up is
 * completed by task work, which runs when we next enter the kernel
 * rather than by an interrupt while we run, and the kernel says it is
 * pending in the SQ flags.  mp_sys_upoll_peek can then spin on shared
 * memory alone and enter the kernel only when there is something to take.
 */
#include "mpsys.h"

#include <errno.h>
#include <sys/eventfd.h>
#include <unistd.h>

/* user_data of our own cancel requests: never reported */
#define TAG_CANCEL UINT64_MAX

int mp_sys_upoll_init(mp_sys_upoll_t *p, unsigned entries)
{
	if (!mp_sys_uring_has_op(IORING_OP_POLL_ADD))
		return -ENOSYS;
	int r = io_uring_queue_init(entries, &p->ring,
	                            IORING_SETUP_SINGLE_ISSUER |
	                            IORING_SETUP_COOP_TASKRUN |
	                            IORING_SETUP_TASKRUN_FLAG);
	if (r == -EINVAL) /* before 6.0: task work interrupts us instead */
		r = io_uring_queue_init(entries, &p->ring, 0);
	if (r < 0)
		return r;
	/* a child forked by the loop's thread neither copies nor shares
	 * the rings' pages (the fd itself is close-on-exec only) */
	(void)io_uring_ring_dontfork(&p->ring);
	return 0;
}

void mp_sys_upoll_destroy(mp_sys_upoll_t *p)
{
	/* ends every request still armed, dropping their file references */
	io_uring_queue_exit(&p->ring);
}

static struct io_uring_sqe *get_sqe(mp_sys_upoll_t *p)
{
	struct io_uring_sqe *sqe = io_uring_get_sqe(&p->ring);
	if (!sqe) {
		/* the SQ is full of arms and cancels: hand them over */
		if (io_uring_submit(&p->ring) < 0)
			return NULL;
		sqe = io_uring_get_sqe(&p->ring);
	}
	return sqe;
}

int mp_sys_upoll_add(mp_sys_upoll_t *p, int fd, unsigned events,
                     bool multishot, uint64_t tag)
{
	if (tag == TAG_CANCEL)
		return -EINVAL;
	struct io_uring_sqe *sqe = get_sqe(p);
	if (!sqe)
		return -EBUSY;
	if (multishot)
		io_uring_prep_poll_multishot(sqe, fd, events);
	else
		io_uring_prep_poll_add(sqe, fd, events);
	sqe->user_data = tag;
	return 0;
}

int mp_sys_upoll_cancel(mp_sys_upoll_t *p, uint64_t tag)
{
	struct io_uring_sqe *sqe = get_sqe(p);
	if (!sqe)
		return -EBUSY;
	io_uring_prep_cancel64(sqe, tag, 0);
	sqe->user_data = TAG_CANCEL;
	return 0;
}

/* Take up to max completions off the CQ ring (no system call). */
static unsigned harvest(mp_sys_upoll_t *p, mp_sys_upoll_ev_t *ev,
                        unsigned max)
{
	struct io_uring_cqe *cqe;
	unsigned head, seen = 0, n = 0;
	io_uring_for_each_cqe(&p->ring, head, cqe) {
		if (n == max)
			break;
		seen++;
		if (cqe->user_data == TAG_CANCEL)
			continue;
		ev[n].tag = cqe->user_data;
		ev[n].res = cqe->res;
		ev[n].more = cqe->flags & IORING_CQE_F_MORE;
		n++;
	}
	/* the entries are copied out: the kernel may reuse their slots */
	io_uring_cq_advance(&p->ring, seen);
	return n;
}

int mp_sys_upoll_peek(mp_sys_upoll_t *p, mp_sys_upoll_ev_t *ev, unsigned max)
{
	if (io_uring_sq_ready(&p->ring)) {
		int r = io_uring_submit(&p->ring);
		if (r < 0 && r != -EINTR)
			return r;
	}
	/* Acquire: pairs with the kernel's setting the flag after it queued
	 * the task work; entering then runs it and posts the completion.
	 * CQ_OVERFLOW: completions that did not fit wait in the kernel. */
	unsigned f = io_uring_smp_load_acquire(p->ring.sq.kflags);
	if (!io_uring_cq_ready(&p->ring) &&
	    (f & (IORING_SQ_TASKRUN | IORING_SQ_CQ_OVERFLOW))) {
		int r = io_uring_get_events(&p->ring);
		if (r < 0 && r != -EINTR)
			return r;
	}
	return (int)harvest(p, ev, max);
}

bool mp_sys_upoll_deferred(mp_sys_upoll_t *p)
{
	/* Acquire: as in peek.  The kernel sets the flag before it queues
	 * the task work, so a call may begin before the work is there: then
	 * a later call of ours runs it, or a peek enters for it. */
	unsigned f = io_uring_smp_load_acquire(p->ring.sq.kflags);
	return !io_uring_cq_ready(&p->ring) && (f & IORING_SQ_TASKRUN);
}

int mp_sys_upoll_wait(mp_sys_upoll_t *p, mp_sys_upoll_ev_t *ev, unsigned max,
                      const struct timespec *deadline)
{
	int64_t dl = deadline ? (int64_t)deadline->tv_sec * 1000000000 +
	                        deadline->tv_nsec : 0;
	for (;;) {
		unsigned n = harvest(p, ev, max);
		if (n) {
			/* arms queued since the last wait go in now */
			if (io_uring_sq_ready(&p->ring))
				(void)io_uring_submit(&p->ring);
			return (int)n;
		}
		/* The wait's timeout is relative (an absolute one needs
		 * 6.12): recomputed on every round, so an EINTR or a wake-up
		 * that brought nothing neither stretches nor shortens it. */
		struct __kernel_timespec ts = { 0, 0 };
		if (deadline) {
			int64_t left = dl - mp_sys_now_ns();
			if (left <= 0)
				return (int)harvest(p, ev, max);
			ts.tv_sec = left / 1000000000;
			ts.tv_nsec = left % 1000000000;
		}
		struct io_uring_cqe *cqe;
		int r = io_uring_submit_and_wait_timeout(&p->ring, &cqe, 1,
		                                         deadline ? &ts : NULL,
		                                         NULL);
		if (r == -ETIME)
			return (int)harvest(p, ev, max);
		if (r < 0 && r != -EINTR && r != -EAGAIN && r != -EBUSY)
			return r;
	}
}

int mp_sys_eventfd(void)
{
	int fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	return fd < 0 ? -errno : fd;
}

int mp_sys_eventfd_signal(int fd)
{
	uint64_t one = 1;
	/* async-signal-safe; a full counter (2^64 - 2) is a wake-up too */
	ssize_t n = write(fd, &one, 8);
	return n < 0 && errno != EAGAIN ? -errno : 0;
}

int mp_sys_eventfd_drain(int fd)
{
	uint64_t v;
	ssize_t n = read(fd, &v, 8);
	if (n == 8)
		return 1;
	return errno == EAGAIN ? 0 : -errno;
}
