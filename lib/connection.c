/*
 * connection.c - Python's Connection and Pipe: framed messages over a pipe
 * or a stream socket.
 *
 * A transfer (struct xfer) is one message in one direction, bounded by one
 * absolute deadline.  It remembers whether a byte of the message has moved:
 * an error before that leaves the connection as it was, an error after it
 * leaves the stream unframed, so that direction is given up (give_up(), the
 * rule Python applies after a bad message length).
 *
 * Paths.  Every transfer can run on the calling thread's ring: the header
 * and payload go in one IORING_OP_WRITEV/SENDMSG, a read is one
 * IORING_OP_READ/RECV, and a deadline rides along as a linked timeout in
 * the same io_uring_enter (sys/ringio.c).  Or on plain system calls:
 * writev/sendmsg and read/recv, non-blocking plus ppoll when there is a
 * deadline.  mpbench's conn.rt64, conn.rt64.timed and conn.tput64k rows
 * put the two side by side, and on the kernels we measured (6.1, 6.18)
 * the system calls win every case: for one message that is not there yet,
 * the ring adds a poll arm, task work and (timed) an hrtimer to the same
 * scheduler wake-up, and for 64 KiB messages the copy dominates both.  So
 * the automatic path is the system calls; the ring path is kept, tested on
 * every I/O test, and pinned by mp__conn_set_path (a later mp_wait
 * submits its polls there).  Without a ring (io_uring disabled, or
 * forbidden by seccomp) nothing changes for the automatic path.
 *
 * Spinning.  Before a receive sleeps, it retries non-blocking reads for up
 * to c->spin ns (only with more than one CPU).  A sleeping reader is woken
 * by the scheduler, and when the other CPU is idle (on a virtual machine:
 * halted, so waking it exits to the host) that costs tens of microseconds,
 * against ~1 us for a reader still running when the bytes land.  But when
 * the CPUs are all busy, a spinner keeps its peer (or another program)
 * from running and is itself preempted: every spin is lost time, and the
 * round trip gets slower than without.  So the budget adapts per
 * connection, and starts at 0:
 *  - a spin that finds data doubles the budget (up to spin_max);
 *  - a spin that sees a gap of SPIN_PREEMPTED between two of its reads was
 *    preempted: the CPUs are contended, the budget drops to 0;
 *  - a spin that ends empty cuts it to a quarter (to 0 within a few);
 *  - at 0, REARM_COUNT sleeps in a row that each lasted REARM_LO..REARM_HI
 *    bring back a budget of twice the last of them: such a sleep is the
 *    costly wake-up a spin avoids.  A shorter one means wake-ups are
 *    cheap (busy CPUs: do not spin); a longer one, a quiet peer (spinning
 *    would be wasted); either starts the count again.  Only one receive in PROBE_EVERY is timed:
 *    the two clock reads cost ~50 ns on a VM (kvm-clock), 4% of a
 *    round trip on one CPU, and a stream that wants spinning back shows
 *    it on every message alike.
 * An idle connection, or a busy machine, thus stops spinning after a few
 * messages; a ping-pong between two otherwise idle CPUs keeps spinning.
 *
 * Read-ahead (opt-in, mp_conn_set_readahead).  By default a receive reads
 * the 4-byte header, then the payload, and never a byte more: other
 * processes may read the same pipe (Python's shared-reader pattern), and
 * the descriptor's readability is then the whole truth.  With read-ahead,
 * a read smaller than the buffer reads as much as the buffer holds, and
 * what it got beyond the request waits there (ra_take): a small message is
 * one read, header and payload together, and a burst of them fewer still.
 * Reads as large as the buffer go straight to the caller's memory.  Every
 * read path goes through ahead(), so the spin, the ring and the deadlines
 * work as before; poll, mp_wait and waitsets ask mp_conn_buffered() first.
 */
#include "internal.h"

#include <stdlib.h>
#include <string.h>

#define SPIN_MIN MP_USEC(1)
/* A gap this long between two reads of a spin is a preemption.  Not less:
 * on a VM the host steals a vCPU for tens of microseconds now and then
 * (30 us here made a ping-pong of two idle CPUs give up spinning on a
 * quarter of its receives, each then a cross-CPU wake-up), while a
 * spinner preempted by a busy neighbour is off for a scheduler slice,
 * milliseconds. */
#define SPIN_PREEMPTED MP_USEC(100)
#define REARM_LO MP_USEC(10)
#define REARM_HI MP_USEC(200)
#define REARM_COUNT 4
#define PROBE_EVERY 8 /* a power of two */
/* recv_bytes allocates up to this much at once, then doubles as bytes
 * actually arrive: never trusts a length header with memory. */
#define GROW_FIRST ((size_t)1 << 20)
/*
 * mp_pipe's pipes hold 256 KiB, not Linux's default 64: a 64 KiB message
 * is 65540 bytes with its header, one more page than a default pipe has,
 * so every such message took the writer and the reader two sleeps and
 * wake-ups instead of one (mpbench conn.tput64k/pipe: 0.35x of a raw pipe
 * before, see the commit).  Best effort: past the user's pipe page budget
 * (/proc/sys/fs/pipe-user-pages-soft, 64 MiB by default, so 256 such
 * pipes) the kernel refuses and the pipe keeps its size.
 */
#define PIPE_BYTES (256 * 1024)

struct mp_conn {
	int fd;            /* -1 once closed */
	bool readable, writable;
	bool sock;         /* a socket: recv/sendmsg with MSG_NOSIGNAL */
	bool nowait;       /* RWF_NOWAIT/MSG_DONTWAIT work on fd */
	uint8_t path;      /* MP__IO_* */
	int64_t spin_max;  /* ns, as set; 0 on one CPU; SPIN_UNASKED */
	int64_t spin;      /* ns, the current adaptive budget */
	int rearm;         /* costly wake-ups in a row, while spin is 0 */
	unsigned probe;    /* receives at spin 0, to time one in PROBE_EVERY */
	uint8_t *ra;       /* read-ahead buffer of ra_cap bytes, or NULL */
	size_t ra_cap;
	size_t ra_off, ra_len; /* ra[ra_off..+ra_len): read, not yet taken */
};

struct xfer {
	mp_conn_t *c;
	struct io_uring *ring; /* NULL: system calls */
	int64_t deadline;      /* absolute, or MP__NO_DEADLINE */
	bool once;             /* timeout 0: "not ready" is -EAGAIN */
	bool poll_first;       /* the message is not expected to be there
	                          yet: wait, then read (saves an EAGAIN) */
	bool started;          /* a byte of this message has moved */
};

/*
 * Spinning for a peer that needs our CPU only delays it: no spin when the
 * calling thread may run on one CPU only.  Asked per connection, not once
 * per process: a process pinned after its first connection (taskset, a
 * cpuset, mpbench's one-CPU rows) kept the answer it had before, and one
 * that first made a connection while pinned never spun again.  But asked
 * when the connection could first spin (spin_max_now), not when it is
 * made: sched_getaffinity is a system call, several us on a VM, and a
 * connection that authenticates, says one thing and closes (most of
 * Client's) never spins at all.
 */
static int64_t default_spin(void)
{
	return mp_cpu_count() > 1 ? MP_CONN_SPIN_DEFAULT : 0;
}

#define SPIN_UNASKED (-1) /* spin_max before default_spin() is asked */

static int64_t spin_max_now(mp_conn_t *c)
{
	if (c->spin_max == SPIN_UNASKED)
		c->spin_max = default_spin();
	return c->spin_max;
}

static mp_conn_t *conn_new(int fd, bool readable, bool writable, bool sock)
{
	mp_conn_t *c = malloc(sizeof(*c));

	if (!c)
		return NULL;
	*c = (mp_conn_t){ .fd = fd, .readable = readable,
	                  .writable = writable, .sock = sock, .nowait = true,
	                  .path = MP__IO_AUTO, .spin_max = SPIN_UNASKED };
	return c;
}

static int close_fd(mp_conn_t *c)
{
	int r = 0;

	if (c->fd >= 0)
		r = mp_sys_close(c->fd);
	c->fd = -1;
	c->readable = c->writable = false;
	c->ra_len = 0;
	return r;
}

/* The stream lost its framing in one direction: stop using that direction;
 * with no other direction left, close (Python's _bad_message_length). */
static void give_up(mp_conn_t *c, bool reading)
{
	if (reading)
		c->ra_len = 0; /* the rest of a stream that lost its framing */
	if (reading && c->writable)
		c->readable = false;
	else if (!reading && c->readable)
		c->writable = false;
	else
		close_fd(c);
}

MP_SYS_HOT
static int check(const mp_conn_t *c, bool reading)
{
	if (!c)
		return -EINVAL;
	if (c->fd < 0)
		return -MP_ECLOSED;
	if (reading ? !c->readable : !c->writable)
		return -EBADF;
	return 0;
}

/* ---- one transfer -------------------------------------------------------- */

MP_SYS_HOT
static int xfer_start(struct xfer *x, mp_conn_t *c, int64_t deadline,
                      bool once)
{
	*x = (struct xfer){ .c = c, .deadline = deadline, .once = once };
	if (c->path != MP__IO_RING)
		return 0;
	int err = 0;
	x->ring = mp_sys_ring(&err);
	return x->ring ? 0 : err;
}

MP_SYS_HOT
static int xfer_start_timeout(struct xfer *x, mp_conn_t *c, int64_t timeout)
{
	int64_t deadline;
	int r = mp__deadline(timeout, &deadline);

	return r < 0 ? r : xfer_start(x, c, deadline, timeout == 0);
}

MP_SYS_HOT
static int finish(struct xfer *x, int r, bool reading)
{
	if (r >= 0)
		return r;
	if (x->started)
		give_up(x->c, reading);
	else if (r == -ETIMEDOUT && x->once)
		r = -EAGAIN;
	return r;
}

/* Wait until fd reports ev or the deadline passes (-ETIMEDOUT).  A
 * deadline already past still polls once: what is there is taken. */
static int wait_fd(struct xfer *x, short ev)
{
	struct timespec ts;
	int r = mp_sys_poll_one(x->c->fd, ev, mp__deadline_ts(x->deadline, &ts));
	return r < 0 ? r : r == 0 ? -ETIMEDOUT : 0;
}

/* Should a system call of this transfer avoid blocking?  When it has a
 * deadline; unless the descriptor cannot, then it polls first.  And in an
 * interruptible thread: the kernel restarts a blocking read or write that
 * an SA_RESTART handler interrupted, where ppoll reports it (intr.c). */
MP_SYS_HOT
static int syscall_nowait(struct xfer *x, short ev)
{
	if (x->deadline == MP__NO_DEADLINE && !mp_sys_interruptible())
		return 0;
	if (x->c->nowait)
		return 1;
	int r = wait_fd(x, ev);
	return r < 0 ? r : 0;
}

/* One read: > 0 bytes, 0 at end of file, or -errno (-ETIMEDOUT). */
MP_SYS_HOT
static ssize_t read_some(struct xfer *x, void *buf, size_t len)
{
	mp_conn_t *c = x->c;
	struct timespec ts;

	for (;;) {
		ssize_t n;
		if (x->ring) {
			n = mp_sys_ring_read(x->ring, c->fd, buf, len, c->sock,
			                     mp__deadline_ts(x->deadline, &ts));
		} else {
			int nw = syscall_nowait(x, POLLIN);
			if (nw < 0)
				return nw;
			n = mp_sys_read(c->fd, buf, len, c->sock, nw);
			if (n == -EOPNOTSUPP && nw) {
				c->nowait = false;
				continue;
			}
		}
		if (n != -EAGAIN)
			return n;
		/* Not ready, or an O_NONBLOCK descriptor: wait for it. */
		int r = wait_fd(x, POLLIN);
		if (r < 0)
			return r;
	}
}

/* Non-blocking reads for up to c->spin ns.  -EAGAIN: nothing came. */
static ssize_t spin_read(struct xfer *x, void *buf, size_t len)
{
	mp_conn_t *c = x->c;
	int64_t now = mp_sys_now_ns(), end = now + c->spin;

	if (end > x->deadline)
		end = x->deadline;
	for (;;) {
		ssize_t n = mp_sys_read(c->fd, buf, len, c->sock, true);
		if (n == -EOPNOTSUPP) {
			c->nowait = false;
			c->spin = c->spin_max = 0;
			return -EAGAIN;
		}
		if (n != -EAGAIN) {
			c->spin = c->spin * 2 > c->spin_max ? c->spin_max
			                                    : c->spin * 2;
			return n;
		}
		int64_t prev = now;
		now = mp_sys_now_ns();
		if (now - prev > SPIN_PREEMPTED) {
			c->spin = 0;
			return -EAGAIN;
		}
		if (now >= end)
			break;
	}
	c->spin = c->spin / 4 < SPIN_MIN ? 0 : c->spin / 4;
	return -EAGAIN;
}

/* The first read of a message: where a receive waits, so where it spins. */
MP_SYS_HOT
static ssize_t read_first(struct xfer *x, void *buf, size_t len)
{
	mp_conn_t *c = x->c;

	if (x->poll_first && !x->ring && x->deadline != MP__NO_DEADLINE) {
		int r = wait_fd(x, POLLIN);
		if (r < 0)
			return r;
	}
	if (x->once || c->spin_max == 0)
		return read_some(x, buf, len);
	if (c->spin > 0) {
		ssize_t n = spin_read(x, buf, len);
		return n != -EAGAIN ? n : read_some(x, buf, len);
	}
	if (++c->probe % PROBE_EVERY || spin_max_now(c) == 0)
		return read_some(x, buf, len);
	int64_t t0 = mp_sys_now_ns();
	ssize_t n = read_some(x, buf, len);
	int64_t slept = mp_sys_now_ns() - t0;
	c->rearm = slept >= REARM_LO && slept <= REARM_HI ? c->rearm + 1 : 0;
	if (c->rearm == REARM_COUNT) {
		/* Wake-ups are what these waits cost: spin again, for
		 * twice the last one.  A shorter budget misses a peer
		 * that is itself still sleeping (its wake-up is what we
		 * waited for), ends empty, drops back to 0, and the two
		 * never spin again. */
		c->spin = slept * 2 < c->spin_max ? slept * 2 : c->spin_max;
		c->rearm = 0;
	}
	return n;
}

/* Up to len bytes from the read-ahead buffer. */
MP_SYS_HOT
static size_t ra_take(mp_conn_t *c, void *buf, size_t len)
{
	size_t n = len < c->ra_len ? len : c->ra_len;

	if (n)
		memcpy(buf, c->ra + c->ra_off, n);
	c->ra_len -= n;
	c->ra_off = c->ra_len ? c->ra_off + n : 0;
	return n;
}

/* One read through the read-ahead buffer: what is buffered first;
 * otherwise rd reads into the buffer, when there is one and len is
 * smaller, and the rest of what came stays there. */
MP_SYS_HOT
static ssize_t ahead(struct xfer *x, void *buf, size_t len,
                     ssize_t (*rd)(struct xfer *, void *, size_t))
{
	mp_conn_t *c = x->c;

	if (c->ra_len)
		return (ssize_t)ra_take(c, buf, len);
	if (!c->ra || len >= c->ra_cap)
		return rd(x, buf, len);
	ssize_t n = rd(x, c->ra, c->ra_cap);
	if (n <= 0)
		return n;
	c->ra_off = 0;
	c->ra_len = (size_t)n;
	return (ssize_t)ra_take(c, buf, len);
}

/* Exactly len bytes.  End of file before the message: -MP_EEOF; inside
 * it: -ECONNRESET. */
MP_SYS_HOT
static int read_exact(struct xfer *x, void *buf, size_t len, bool first)
{
	uint8_t *p = buf;

	for (size_t got = 0; got < len;) {
		ssize_t n = first && got == 0
		            ? ahead(x, p, len, read_first)
		            : ahead(x, p + got, len - got, read_some);
		if (n == 0)
			return x->started ? -ECONNRESET : -MP_EEOF;
		if (n < 0)
			return (int)n;
		x->started = true;
		got += (size_t)n;
	}
	return 0;
}

/* One gathered write: the count, or -errno (-ETIMEDOUT). */
MP_SYS_HOT
static ssize_t write_some(struct xfer *x, const struct iovec *iov, int n)
{
	mp_conn_t *c = x->c;
	struct timespec ts;

	for (;;) {
		ssize_t w;
		if (x->ring) {
			w = mp_sys_ring_writev(x->ring, c->fd, iov, n, c->sock,
			                       mp__deadline_ts(x->deadline, &ts));
		} else {
			int nw = syscall_nowait(x, POLLOUT);
			if (nw < 0)
				return nw;
			w = mp_sys_writev(c->fd, iov, n, c->sock, nw);
			if (w == -EOPNOTSUPP && nw) {
				c->nowait = false;
				continue;
			}
		}
		if (w != -EAGAIN)
			return w;
		int r = wait_fd(x, POLLOUT);
		if (r < 0)
			return r;
	}
}

MP_SYS_HOT
static int write_all(struct xfer *x, struct iovec *iov, int n)
{
	while (n > 0) {
		ssize_t w = write_some(x, iov, n);
		if (w < 0)
			return (int)w;
		if (w > 0)
			x->started = true;
		/* Step over what went out: whole iovecs, then part of one. */
		while (n > 0 && (size_t)w >= iov->iov_len) {
			w -= (ssize_t)iov->iov_len;
			iov++;
			n--;
		}
		if (n > 0) {
			iov->iov_base = (uint8_t *)iov->iov_base + w;
			iov->iov_len -= (size_t)w;
		}
	}
	return 0;
}

/* ---- messages ------------------------------------------------------------ */

/* Up to this size, header and payload are copied into one buffer: a
 * single-segment write is the kernel's cheaper path (no iovec array to
 * import). */
#define SEND_COALESCE 512

/* One message, header and payload in one write. */
MP_SYS_HOT
static int send_msg(struct xfer *x, const void *buf, size_t size)
{
	uint8_t one[SEND_COALESCE];
	struct iovec iov[2] = { { one, mp__frame_encode(size, one) },
	                        { (void *)buf, size } };
	struct mp_sys_sigpipe g;
	/* Only a pipe raises SIGPIPE, and not with RWF_NOSIGNAL (6.18). */
	bool pipe = !x->c->sock && !mp_sys_nosignal();
	/* An empty message is its header alone (Python never writes an empty
	 * buffer either); a small one goes behind it in one. */
	int k = size > SEND_COALESCE - iov[0].iov_len ? 2 : 1;

	if (k == 1 && size) {
		memcpy(one + iov[0].iov_len, buf, size);
		iov[0].iov_len += size;
	}
	if (pipe)
		mp_sys_sigpipe_block(&g);
	int r = write_all(x, iov, k);
	if (pipe)
		mp_sys_sigpipe_restore(&g, r == -EPIPE);
	return finish(x, r, false);
}

MP_SYS_HOT
static int recv_header(struct xfer *x, uint64_t *len)
{
	uint8_t h[MP__FRAME_HDR_MAX];
	int r = read_exact(x, h, MP__FRAME_HDR_SHORT, true);

	if (r < 0)
		return r;
	r = mp__frame_decode(h, MP__FRAME_HDR_SHORT, len);
	if (r == 0) { /* the -1 marker: an 8-byte length follows */
		r = read_exact(x, h + MP__FRAME_HDR_SHORT,
		               MP__FRAME_HDR_MAX - MP__FRAME_HDR_SHORT, false);
		if (r < 0)
			return r;
		r = mp__frame_decode(h, MP__FRAME_HDR_MAX, len);
	}
	if (r < 0)
		return r;
	return *len > (uint64_t)PTRDIFF_MAX ? -EMSGSIZE : 0;
}

/* The payload into a buffer that grows with the bytes that arrive. */
static int recv_grow(struct xfer *x, size_t len, mp_bytes_t *out)
{
	size_t cap = len < GROW_FIRST ? len : GROW_FIRST, got = 0;
	uint8_t *p = malloc(cap + 1);

	if (!p)
		return -ENOMEM;
	while (got < len) {
		if (got == cap) {
			size_t ncap = cap > len / 2 ? len : cap * 2;
			uint8_t *q = realloc(p, ncap + 1);
			if (!q) {
				free(p);
				return -ENOMEM;
			}
			p = q;
			cap = ncap;
		}
		ssize_t n = ahead(x, p + got, cap - got, read_some);
		if (n <= 0) {
			free(p);
			return n == 0 ? -ECONNRESET : (int)n;
		}
		got += (size_t)n;
	}
	p[len] = 0;
	out->data = p;
	out->len = len;
	return 0;
}

/*
 * Read-ahead's short cut: the buffer, filled by one read when it is empty
 * (the read a header would start with), holds the whole message, and it
 * fits buf: header and payload are taken from it in place.  *done says
 * whether that happened (the length is returned) or the fill failed
 * (nothing of a message consumed: the error is returned); otherwise the
 * general path goes on from the buffer.
 */
MP_SYS_HOT
static int64_t recv_buffered(struct xfer *x, void *buf, size_t room,
                             size_t maxlength, bool *done)
{
	mp_conn_t *c = x->c;
	uint64_t len;

	*done = false;
	if (!c->ra_len) {
		ssize_t n = read_first(x, c->ra, c->ra_cap);
		if (n <= 0) {
			*done = true;
			return n == 0 ? -MP_EEOF : n;
		}
		c->ra_off = 0;
		c->ra_len = (size_t)n;
	}
	const uint8_t *p = c->ra + c->ra_off;
	int h = mp__frame_decode(p, c->ra_len, &len);
	if (h <= 0 || len > room || len > maxlength ||
	    len > c->ra_len - (size_t)h)
		return 0;
	size_t used = (size_t)h + (size_t)len;
	memcpy(buf, p + h, (size_t)len);
	c->ra_len -= used;
	c->ra_off = c->ra_len ? c->ra_off + used : 0;
	*done = true;
	return (int64_t)len;
}

/*
 * One message: into buf when it fits in room, else (when maxlength allows
 * it) into a new buffer in *whole with -MP_ETOOSHORT; buf NULL: always the
 * latter.  Returns its length.
 */
MP_SYS_HOT
static int64_t recv_msg(struct xfer *x, void *buf, size_t room,
                        size_t maxlength, mp_bytes_t *whole)
{
	uint64_t len;

	if (buf && x->c->ra_cap > MP__FRAME_HDR_MAX) {
		bool done;
		int64_t n = recv_buffered(x, buf, room, maxlength, &done);
		if (done)
			return n < 0 ? finish(x, (int)n, true) : n;
	}
	int r = recv_header(x, &len);

	bool fits = buf && len <= room;

	if (r == 0 && len > maxlength)
		r = -EMSGSIZE;
	if (r == 0 && fits)
		r = read_exact(x, buf, (size_t)len, false);
	else if (r == 0)
		r = recv_grow(x, (size_t)len, whole);
	if (r < 0)
		return finish(x, r, true);
	return fits ? (int64_t)len : -MP_ETOOSHORT;
}

/* ---- the API ------------------------------------------------------------- */

int mp_pipe(bool duplex, mp_conn_t **c1, mp_conn_t **c2)
{
	int fds[2], r;

	if (!c1 || !c2)
		return -EINVAL;
	*c1 = *c2 = NULL;
	r = duplex ? mp_sys_socketpair(fds) : mp_sys_pipe(fds);
	if (r < 0)
		return r;
	if (!duplex)
		(void)mp_sys_pipe_size(fds[1], PIPE_BYTES);
	/* As Python: a pipe's first end reads, its second writes. */
	mp_conn_t *a = conn_new(fds[0], true, duplex, duplex);
	mp_conn_t *b = conn_new(fds[1], duplex, true, duplex);
	if (!a || !b) {
		free(a);
		free(b);
		mp_sys_close(fds[0]);
		mp_sys_close(fds[1]);
		return -ENOMEM;
	}
	*c1 = a;
	*c2 = b;
	return 0;
}

mp_conn_t *mp_conn_open(int fd, bool readable, bool writable, int *err)
{
	int e = -EINVAL, sock = 0;
	mp_conn_t *c = NULL;

	if (fd >= 0 && (readable || writable) &&
	    (e = sock = mp_sys_is_socket(fd)) >= 0) {
		c = conn_new(fd, readable, writable, sock == 1);
		e = c ? 0 : -ENOMEM;
	}
	if (err)
		*err = e;
	return c;
}

int mp_conn_close(mp_conn_t *c)
{
	if (!c)
		return 0;
	int r = close_fd(c);
	free(c->ra);
	free(c);
	return r;
}

MP_SYS_HOT
int mp_conn_send_bytes(mp_conn_t *c, const void *buf, size_t size,
                       int64_t timeout_ns)
{
	struct xfer x;
	int r = check(c, false);

	if (r < 0)
		return r;
	if (!buf && size)
		return -EINVAL;
	if (size > (size_t)PTRDIFF_MAX)
		return -EMSGSIZE;
	r = xfer_start_timeout(&x, c, timeout_ns);
	return r < 0 ? r : send_msg(&x, buf, size);
}

int mp_conn_recv_bytes(mp_conn_t *c, size_t maxlength, mp_bytes_t *out,
                       int64_t timeout_ns)
{
	struct xfer x;

	if (out)
		*out = (mp_bytes_t){ NULL, 0 };
	int r = check(c, true);
	if (r < 0 || !out)
		return r < 0 ? r : -EINVAL;
	r = xfer_start_timeout(&x, c, timeout_ns);
	if (r < 0)
		return r;
	int64_t n = recv_msg(&x, NULL, 0, maxlength, out);
	return n < 0 && n != -MP_ETOOSHORT ? (int)n : 0;
}

MP_SYS_HOT
int64_t mp_conn_recv_bytes_into(mp_conn_t *c, void *buf, size_t buflen,
                                size_t offset, mp_bytes_t *whole,
                                int64_t timeout_ns)
{
	struct xfer x;
	mp_bytes_t m = { NULL, 0 };

	if (whole)
		*whole = m;
	int r = check(c, true);
	if (r < 0)
		return r;
	if ((!buf && buflen) || offset > buflen)
		return -EINVAL;
	r = xfer_start_timeout(&x, c, timeout_ns);
	if (r < 0)
		return r;
	/* buf may be NULL for an empty buffer, which still takes an empty
	 * message. */
	uint8_t none;
	int64_t n = recv_msg(&x, buf ? (uint8_t *)buf + offset : &none,
	                     buflen - offset, MP_CONN_NOLIMIT, &m);
	if (n == -MP_ETOOSHORT) {
		if (whole)
			*whole = m;
		else
			free(m.data);
	}
	return n;
}

int mp_conn_poll(mp_conn_t *c, int64_t timeout_ns)
{
	int64_t deadline;
	struct timespec ts;
	int r = check(c, true);

	if (r < 0)
		return r;
	if ((r = mp__deadline(timeout_ns, &deadline)) < 0)
		return r;
	if (c->ra_len)
		return 1; /* read ahead: the descriptor may have nothing left */
	r = mp_sys_poll_one(c->fd, POLLIN, mp__deadline_ts(deadline, &ts));
	return r < 0 ? r : r > 0;
}

int mp_conn_fileno(const mp_conn_t *c)
{
	if (!c)
		return -EINVAL;
	return c->fd >= 0 ? c->fd : -MP_ECLOSED;
}

bool mp_conn_closed(const mp_conn_t *c)
{
	return !c || c->fd < 0;
}

bool mp_conn_readable(const mp_conn_t *c)
{
	return c && c->fd >= 0 && c->readable;
}

bool mp_conn_writable(const mp_conn_t *c)
{
	return c && c->fd >= 0 && c->writable;
}

int mp_conn_set_spin(mp_conn_t *c, int64_t ns)
{
	if (!c || ns < 0 || ns > MP_SEC(1))
		return -EINVAL;
	c->spin_max = default_spin() ? ns : 0;
	c->spin = c->spin < c->spin_max ? c->spin : c->spin_max;
	return 0;
}

int mp_conn_set_readahead(mp_conn_t *c, size_t size)
{
	int r = check(c, true);

	if (r < 0)
		return r;
	if (size > MP_CONN_READAHEAD_MAX)
		return -EINVAL;
	if (c->ra_len)
		return -EBUSY; /* they would be lost, or read out of order */
	uint8_t *ra = size ? malloc(size) : NULL;
	if (size && !ra)
		return -ENOMEM;
	free(c->ra);
	c->ra = ra;
	c->ra_cap = size;
	return 0;
}

int mp_conn_buffered(const mp_conn_t *c)
{
	int r = check(c, true);
	return r < 0 ? r : (int)c->ra_len;
}

/* ---- descriptors (Python's reduction.send_handle and recv_handle) ------- */

/*
 * CPython's format on Linux (multiprocessing.reduction's sendfds and
 * recvfds, with ACKNOWLEDGE off there): one data byte, the number of
 * descriptors modulo 256, with one SCM_RIGHTS control message carrying
 * them; send_handle sends one.  The byte is not framed as a message is:
 * the receiver has to expect it, as in Python.
 *
 * A one-byte message moves whole or not at all, so a send cannot be left
 * half done.  A receive is one recvmsg of one byte: it cannot take more of
 * the stream than the descriptor's byte.  A read-ahead receive could (it
 * asks for a whole buffer, so the kernel hands it the byte and drops the
 * descriptor, as it does for any read without room for control data):
 * whether it did would depend on timing, so descriptors are refused on a
 * connection that reads ahead, always, rather than lost now and then.
 *
 * Descriptors always travel by system calls, whatever c->path says: the
 * ring path's reads would drop them the same way, and passing one is rare
 * enough that a second path is not worth its tests.
 */
#define FD_MSG_BYTE 1

/* Can c carry descriptors in this direction?  Only an AF_UNIX socket can;
 * its family is asked each time (one getsockopt, which says -ENOTSOCK for
 * a pipe), so an adopted descriptor needs nothing of mp_conn_open. */
static int fd_check(const mp_conn_t *c, bool reading)
{
	int r = check(c, reading);

	if (r < 0)
		return r;
	r = mp_sys_sock_family(c->fd);
	return r < 0 ? r : r == AF_UNIX ? 0 : -ENOTSOCK;
}

/* A transfer on plain system calls, bounded by the timeout. */
static int fd_xfer(struct xfer *x, mp_conn_t *c, int64_t timeout)
{
	*x = (struct xfer){ .c = c, .once = timeout == 0 };
	return mp__deadline(timeout, &x->deadline);
}

/* Every call waits in ppoll, never in sendmsg or recvmsg: ppoll reports a
 * signal to an interruptible thread, and honours the deadline. */
static int fd_send_msg(struct xfer *x, int fd)
{
	static const uint8_t one = FD_MSG_BYTE;

	for (;;) {
		ssize_t n = mp_sys_send_fds(x->c->fd, &one, 1, &fd, 1, true);
		if (n != -EAGAIN)
			return n < 0 ? (int)n : 0;
		int r = wait_fd(x, POLLOUT);
		if (r < 0)
			return r;
	}
}

static ssize_t fd_recv_msg(struct xfer *x, uint8_t *byte,
                           struct mp_sys_fds *got)
{
	for (;;) {
		ssize_t n = mp_sys_recv_fds(x->c->fd, byte, 1, got, true);
		if (n != -EAGAIN)
			return n;
		int r = wait_fd(x, POLLIN);
		if (r < 0)
			return r;
	}
}

static void fd_close_all(const struct mp_sys_fds *got)
{
	unsigned n = got->n < MP_SYS_FDS_MAX ? got->n : MP_SYS_FDS_MAX;

	for (unsigned i = 0; i < n; i++)
		mp_sys_close(got->fd[i]);
}

/*
 * The byte came, but not with one descriptor; whatever came is closed.
 * If the byte was a descriptor message's (the kernel says descriptors
 * came with it, and it counts them), the stream is as framed as before
 * and the connection goes on, as Python's does after its RuntimeError.
 * If not, the byte was part of something else (a message's header): the
 * stream has lost its framing, and reading is given up.
 */
static int fd_refuse(struct xfer *x, uint8_t byte,
                     const struct mp_sys_fds *got)
{
	bool framed = got->ctrunc || (got->n > 0 && byte == got->n % 256);

	fd_close_all(got);
	if (!framed)
		give_up(x->c, true);
	/* Came, but could not be installed here: out of descriptors. */
	return got->ctrunc && got->n == 0 ? -EMFILE : -EBADMSG;
}

int mp_conn_send_fd(mp_conn_t *c, int fd, int64_t timeout_ns)
{
	struct xfer x;
	int r = fd_check(c, false);

	if (r < 0)
		return r;
	/* A bad fd (-1 included) is the kernel's -EBADF. */
	if ((r = fd_xfer(&x, c, timeout_ns)) < 0)
		return r;
	return finish(&x, fd_send_msg(&x, fd), false);
}

int mp_conn_recv_fd(mp_conn_t *c, int64_t timeout_ns)
{
	struct xfer x;
	struct mp_sys_fds got;
	uint8_t byte;
	int r = fd_check(c, true);

	if (r < 0)
		return r;
	if (c->ra_cap || c->ra_len)
		return -EBUSY; /* see above: it may have dropped descriptors */
	if ((r = fd_xfer(&x, c, timeout_ns)) < 0)
		return r;
	ssize_t n = fd_recv_msg(&x, &byte, &got);
	if (n <= 0) /* end of file, an error: nothing came with it */
		return finish(&x, n == 0 ? -MP_EEOF : (int)n, true);
	if (got.n == 1 && !got.ctrunc && byte == FD_MSG_BYTE)
		return got.fd[0];
	return fd_refuse(&x, byte, &got);
}

/* ---- for the handshakes, tests and mpbench --------------------------------- */

int mp__conn_set_path(mp_conn_t *c, int path)
{
	if (!c || path < MP__IO_AUTO || path > MP__IO_RING)
		return -EINVAL;
	c->path = (uint8_t)path;
	return 0;
}

int mp__conn_send(mp_conn_t *c, const void *buf, size_t len,
                  int64_t deadline)
{
	struct xfer x;
	int r = check(c, false);

	if (r < 0)
		return r;
	r = xfer_start(&x, c, deadline, false);
	return r < 0 ? r : send_msg(&x, buf, len);
}

int mp__conn_send_framed(mp_conn_t *c, const void *buf, size_t len,
                         int64_t deadline)
{
	struct xfer x;
	struct iovec v = { (void *)buf, len };
	int r = check(c, false);

	if (r < 0)
		return r;
	r = xfer_start(&x, c, deadline, false);
	return r < 0 ? r : finish(&x, write_all(&x, &v, 1), false);
}

mp_conn_t *mp__conn_socket(int fd, int *err)
{
	mp_conn_t *c = conn_new(fd, true, true, true);
	*err = c ? 0 : -ENOMEM;
	return c;
}

void mp__conn_spin_now(mp_conn_t *c)
{
	c->spin = spin_max_now(c);
}

/*
 * Bytes a read took past the message it was for (a handshake's, which
 * reads header and payload at once), kept for the next receive in the
 * read-ahead buffer, which every read path takes from first.  Only when
 * nothing is buffered.  With read-ahead off the buffer holds just them
 * (ra_cap stays 0: reads still go straight to the caller).
 */
int mp__conn_stash(mp_conn_t *c, const void *p, size_t n)
{
	if (n == 0)
		return 0;
	if (n > c->ra_cap) {
		uint8_t *q = realloc(c->ra, n);
		if (!q)
			return -ENOMEM;
		c->ra = q;
	}
	memcpy(c->ra, p, n);
	c->ra_off = 0;
	c->ra_len = n;
	return 0;
}

/*
 * A handshake message's first read: up to len bytes, header and payload
 * together.  It is not there yet when we ask (it answers one we just
 * sent): spin on non-blocking reads within the caller's estimate, so
 * the read that finds it is the one that takes it; then wait, poll
 * first (which saves the read that would fail).
 */
static ssize_t small_first(struct xfer *x, uint8_t *b, size_t len,
                           _Atomic uint32_t *spin)
{
	mp_conn_t *c = x->c;
	ssize_t n = -EAGAIN;

	if (!x->ring && c->nowait)
		(void)MP__SPIN_UNTIL_X(spin, MP__HANDSHAKE_SPIN, 1,
		        (n = mp_sys_read(c->fd, b, len, c->sock, true)) !=
		        -EAGAIN);
	if (n == -EOPNOTSUPP) { /* no MSG_DONTWAIT/RWF_NOWAIT here */
		c->nowait = false;
		n = -EAGAIN;
	}
	if (n != -EAGAIN)
		return n;
	x->poll_first = true;
	return read_first(x, b, len);
}

/*
 * The rest of a handshake message whose first n bytes are in b (room for
 * a long header and cap bytes): exactly what the first read did not
 * bring, and what it brought beyond the message is stashed.  The payload
 * goes to buf; returns its length.
 */
static int64_t small_rest(struct xfer *x, uint8_t *b, size_t n, void *buf,
                          size_t cap)
{
	uint64_t len;
	int h, r;

	while ((h = mp__frame_decode(b, n, &len)) == 0) {
		/* Fewer than 4 bytes, or the -1 marker without its length. */
		size_t hdr = n < MP__FRAME_HDR_SHORT ? MP__FRAME_HDR_SHORT
		                                     : MP__FRAME_HDR_MAX;
		if ((r = read_exact(x, b + n, hdr - n, false)) < 0)
			return r;
		n = hdr;
	}
	if (h < 0)
		return h;
	if (len > cap)
		return -EMSGSIZE;
	size_t end = (size_t)h + (size_t)len;
	if (n < end && (r = read_exact(x, b + n, end - n, false)) < 0)
		return r;
	memcpy(buf, b + h, (size_t)len);
	r = n > end ? mp__conn_stash(x->c, b + end, n - end) : 0;
	return r < 0 ? r : (int64_t)len;
}

int64_t mp__conn_recv_small(mp_conn_t *c, void *buf, size_t cap,
                            int64_t deadline, _Atomic uint32_t *spin)
{
	uint8_t b[MP__FRAME_HDR_MAX + MP__AUTH_MSG_MAX];
	struct xfer x;
	int r = check(c, true);

	if (r < 0)
		return r;
	if (cap > MP__AUTH_MSG_MAX)
		return -EINVAL;
	r = xfer_start(&x, c, deadline, false);
	if (r < 0)
		return r;
	/* Bytes already buffered (a peer that sent ahead): from there. */
	if (c->ra_len)
		return recv_msg(&x, buf, cap, cap, NULL);
	ssize_t n = small_first(&x, b, MP__FRAME_HDR_SHORT + cap, spin);
	if (n <= 0)
		return finish(&x, n == 0 ? -MP_EEOF : (int)n, true);
	x.started = true;
	int64_t len = small_rest(&x, b, (size_t)n, buf, cap);
	return len < 0 ? finish(&x, (int)len, true) : len;
}
