/*
 * ringio.c - one read or write on the calling thread's ring, optionally
 * bounded by a linked timeout.
 *
 * The operation and its IORING_OP_LINK_TIMEOUT go in with one
 * io_uring_enter.  Then both completions are reaped: the operation's gives
 * the result (-ECANCELED when the timeout fired first), the timeout's only
 * says which came first.  Nothing is left in flight when we return, so the
 * caller's buffers and iovecs may die with its stack frame.
 *
 * A signal while we wait: the deadline is in the SQE, so by default we
 * wait on.  An interruptible thread (intr.c) cancels the operation
 * instead and still reaps everything: -EINTR if the cancel took it, its
 * result if it completed first (bytes that moved are never dropped).
 */
#include "mpsys.h"

#include <errno.h>

/* user_data tags: which of our two SQEs a completion belongs to. */
#define TAG_OP 0x6d706f70ull  /* "mpop" */
#define TAG_TMO 0x6d70746full /* "mpto" */
#define TAG_CANCEL 0x6d70636eull /* "mpcn" */

static struct io_uring_sqe *get_sqe(struct io_uring *r)
{
	struct io_uring_sqe *sqe = io_uring_get_sqe(r);

	if (!sqe) {
		/* Full of someone's unsubmitted entries: push them first. */
		io_uring_submit(r);
		sqe = io_uring_get_sqe(r);
	}
	return sqe;
}

/* An interruptible thread's signal: ask the kernel to cancel our
 * operation.  1 when the cancel is on its way (one more completion). */
static unsigned cancel_op(struct io_uring *r)
{
	struct io_uring_sqe *sqe = get_sqe(r);
	if (!sqe)
		return 0;
	io_uring_prep_cancel64(sqe, TAG_OP, 0);
	sqe->user_data = TAG_CANCEL;
	int ret;
	while ((ret = io_uring_submit(r)) == -EINTR)
		;
	return ret > 0;
}

/* Submit what is queued (1 or 2 SQEs) and reap as many completions. */
static ssize_t run(struct io_uring *r, unsigned nsqe)
{
	bool interrupted = false;
	int ret;
	do {
		ret = io_uring_submit(r);
	} while (ret == -EINTR);
	if (ret < 0)
		return ret; /* the ring is unusable (a fork copy?): nothing ran */
	ssize_t res = -EIO;
	for (unsigned got = 0; got < nsqe;) {
		struct io_uring_cqe *cqe;
		ret = io_uring_wait_cqe(r, &cqe);
		if (ret == -EINTR) {
			if (!interrupted && mp_sys_interruptible()) {
				interrupted = true;
				nsqe += cancel_op(r);
			}
			continue;
		}
		if (ret < 0)
			return ret;
		/* The timeout's own result (-ETIME, or -ECANCELED when the
		 * operation came first) says nothing the operation's does
		 * not: a cancelled operation is a timed-out one. */
		if (cqe->user_data == TAG_OP)
			res = cqe->res;
		io_uring_cqe_seen(r, cqe);
		got++;
	}
	if (interrupted && (res == -ECANCELED || res == -EINTR))
		return -EINTR;
	return res == -ECANCELED ? -ETIMEDOUT : res;
}

/* Link a timeout at *ts (absolute) to the SQE just prepared.  The kernel
 * reads *ts while it takes the SQE in, at submission: it must live until
 * then. */
static int link_deadline(struct io_uring *r, struct io_uring_sqe *op,
                         struct __kernel_timespec *ts)
{
	struct io_uring_sqe *t = get_sqe(r);

	if (!t)
		return -EBUSY;
	op->flags |= IOSQE_IO_LINK;
	io_uring_prep_link_timeout(t, ts, IORING_TIMEOUT_ABS);
	t->user_data = TAG_TMO;
	return 0;
}

static ssize_t submit_op(struct io_uring *r, struct io_uring_sqe *sqe,
                         const struct timespec *deadline)
{
	sqe->user_data = TAG_OP;
	if (!deadline)
		return run(r, 1);
	struct __kernel_timespec ts = { deadline->tv_sec, deadline->tv_nsec };
	int e = link_deadline(r, sqe, &ts);
	if (e < 0) {
		/* Cannot bound it: turn the prepared SQE into a no-op. */
		io_uring_prep_nop(sqe);
		sqe->user_data = TAG_TMO;
		run(r, 1);
		return e;
	}
	return run(r, 2);
}

ssize_t mp_sys_ring_read(struct io_uring *r, int fd, void *buf, size_t len,
                         bool sock, const struct timespec *deadline)
{
	struct io_uring_sqe *sqe = get_sqe(r);

	if (!sqe)
		return -EBUSY;
	if (len > 0x7ffff000)
		len = 0x7ffff000; /* MAX_RW_COUNT; the SQE length is 32 bits */
	if (sock)
		io_uring_prep_recv(sqe, fd, buf, len, 0);
	else
		io_uring_prep_read(sqe, fd, buf, (unsigned)len, (__u64)-1);
	return submit_op(r, sqe, deadline);
}

ssize_t mp_sys_ring_writev(struct io_uring *r, int fd,
                           const struct iovec *iov, int n, bool sock,
                           const struct timespec *deadline)
{
	struct io_uring_sqe *sqe = get_sqe(r);
	struct msghdr m = { .msg_iov = (struct iovec *)iov,
	                    .msg_iovlen = (size_t)n };

	if (!sqe)
		return -EBUSY;
	if (sock) {
		io_uring_prep_sendmsg(sqe, fd, &m, MSG_NOSIGNAL);
	} else {
		io_uring_prep_writev(sqe, fd, iov, (unsigned)n, (__u64)-1);
		if (mp_sys_nosignal())
			sqe->rw_flags = MP_SYS_RWF_NOSIGNAL;
	}
	return submit_op(r, sqe, deadline);
}
