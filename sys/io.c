/* io.c - byte I/O on pipes and sockets, descriptor passing, polling,
 * randomness, SIGPIPE. */
#include "mpsys.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

MP_SYS_HOT
ssize_t mp_sys_read(int fd, void *buf, size_t len, bool sock, bool nowait)
{
	ssize_t n;

	do {
		if (sock) {
			n = recv(fd, buf, len, nowait ? MSG_DONTWAIT : 0);
		} else if (nowait) {
			struct iovec v = { buf, len };
			/* offset -1: the file position, as read(2) uses. */
			n = preadv2(fd, &v, 1, -1, RWF_NOWAIT);
		} else {
			n = read(fd, buf, len);
		}
	} while (n < 0 && errno == EINTR);
	if (n >= 0)
		return n;
	return errno == EWOULDBLOCK ? -EAGAIN : -errno;
}

/* 0 unknown, 1 RWF_NOSIGNAL works, 2 it does not (or is not to be used). */
static _Atomic int nosignal_state;

static int probe_nosignal(void)
{
	int fds[2];
	struct iovec v = { "x", 1 };

	if (pipe2(fds, O_CLOEXEC) < 0)
		return 2;
	close(fds[0]);
	ssize_t w = pwritev2(fds[1], &v, 1, -1, MP_SYS_RWF_NOSIGNAL);
	int r = w < 0 && errno == EPIPE ? 1 : 2;
	close(fds[1]);
	return r;
}

MP_SYS_HOT
bool mp_sys_nosignal(void)
{
	int s = atomic_load_explicit(&nosignal_state, memory_order_relaxed);
	if (!s) {
		s = probe_nosignal();
		atomic_store_explicit(&nosignal_state, s, memory_order_relaxed);
	}
	return s == 1;
}

void mp_sys_set_nosignal(bool use)
{
	atomic_store_explicit(&nosignal_state, use ? 0 : 2,
	                      memory_order_relaxed);
}

MP_SYS_HOT
ssize_t mp_sys_writev(int fd, const struct iovec *iov, int n, bool sock,
                      bool nowait)
{
	int rwf = (nowait ? RWF_NOWAIT : 0) |
	          (!sock && mp_sys_nosignal() ? MP_SYS_RWF_NOSIGNAL : 0);
	ssize_t w;

	do {
		if (sock) {
			struct msghdr m = { .msg_iov = (struct iovec *)iov,
			                    .msg_iovlen = (size_t)n };
			w = sendmsg(fd, &m, MSG_NOSIGNAL |
			                    (nowait ? MSG_DONTWAIT : 0));
		} else if (rwf) {
			w = pwritev2(fd, iov, n, -1, rwf);
		} else {
			w = writev(fd, iov, n);
		}
	} while (w < 0 && errno == EINTR);
	if (w >= 0)
		return w;
	return errno == EWOULDBLOCK ? -EAGAIN : -errno;
}

int mp_sys_poll(struct pollfd *fds, unsigned n,
                const struct timespec *deadline)
{
	for (;;) {
		struct timespec rel, *tsp = NULL;
		if (deadline) {
			int64_t left = (int64_t)deadline->tv_sec * 1000000000 +
			               deadline->tv_nsec - mp_sys_now_ns();
			mp_sys_ns_to_timespec(left, &rel);
			tsp = &rel;
		}
		int r = ppoll(fds, n, tsp, NULL);
		if (r >= 0)
			return r;
		if (errno != EINTR)
			return -errno;
		if (mp_sys_interruptible())
			return -EINTR;
	}
}

int mp_sys_close(int fd)
{
	/* Linux releases the descriptor even when close() reports EINTR:
	 * retrying could close a descriptor another thread just got. */
	int r = close(fd);
	return r == 0 || errno == EINTR ? 0 : -errno;
}

int mp_sys_is_socket(int fd)
{
	struct stat st;

	if (fstat(fd, &st) < 0)
		return -errno;
	return S_ISSOCK(st.st_mode) ? 1 : 0;
}

int mp_sys_getrandom(void *buf, size_t len)
{
	unsigned char *p = buf;

	while (len > 0) {
		/* Flags 0: the urandom pool, which blocks only until it is
		 * first initialised at boot. */
		ssize_t n = getrandom(p, len, 0);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

void mp_sys_sigpipe_block(struct mp_sys_sigpipe *g)
{
	sigset_t set;

	sigemptyset(&set);
	sigaddset(&set, SIGPIPE);
	/* Cannot fail with a valid `how`. */
	pthread_sigmask(SIG_BLOCK, &set, &g->old);
	g->was_blocked = sigismember(&g->old, SIGPIPE) == 1;
	g->was_pending = false;
	if (g->was_blocked) {
		/* Only while it is blocked can a SIGPIPE be pending: an
		 * unblocked one is delivered, or discarded when ignored. */
		sigset_t pend;
		sigpending(&pend);
		g->was_pending = sigismember(&pend, SIGPIPE) == 1;
	}
}

void mp_sys_sigpipe_restore(struct mp_sys_sigpipe *g, bool got_epipe)
{
	if (got_epipe && !g->was_pending) {
		sigset_t set;
		struct timespec zero = { 0, 0 };
		sigemptyset(&set);
		sigaddset(&set, SIGPIPE);
		while (sigtimedwait(&set, NULL, &zero) < 0 && errno == EINTR)
			;
	}
	if (!g->was_blocked)
		pthread_sigmask(SIG_SETMASK, &g->old, NULL);
}

/* ---- descriptor passing ---------------------------------------------------- */

/* Control room for MP_SYS_FDS_MAX descriptors, and for what socket
 * options add to every message ahead of them: SO_PASSCRED's credentials,
 * SO_PASSSEC's security label (a context string, 256 bytes is ample).
 * Without that room a descriptor would be dropped (MSG_CTRUNC) although
 * it was sent correctly.  Aligned as a cmsghdr. */
union fd_control {
	struct cmsghdr h;
	unsigned char buf[CMSG_SPACE(sizeof(int) * MP_SYS_FDS_MAX) +
	                  CMSG_SPACE(sizeof(struct ucred)) + CMSG_SPACE(256)];
};

ssize_t mp_sys_send_fds(int sock, const void *buf, size_t len, const int *fds,
                        unsigned n, bool nowait)
{
	union fd_control ctl;
	struct iovec v = { (void *)buf, len };
	struct msghdr m = { .msg_iov = &v, .msg_iovlen = 1,
	                    .msg_control = ctl.buf,
	                    .msg_controllen = CMSG_SPACE(sizeof(int) * n) };
	ssize_t w;

	if (n == 0 || n > MP_SYS_FDS_MAX)
		return -EINVAL;
	memset(&ctl, 0, sizeof(ctl));
	struct cmsghdr *h = CMSG_FIRSTHDR(&m);
	h->cmsg_level = SOL_SOCKET;
	h->cmsg_type = SCM_RIGHTS;
	h->cmsg_len = CMSG_LEN(sizeof(int) * n);
	memcpy(CMSG_DATA(h), fds, sizeof(int) * n);
	do {
		w = sendmsg(sock, &m, MSG_NOSIGNAL | (nowait ? MSG_DONTWAIT : 0));
	} while (w < 0 && errno == EINTR);
	if (w >= 0)
		return w;
	return errno == EWOULDBLOCK ? -EAGAIN : -errno;
}

/* Collect the descriptors of every SCM_RIGHTS message: none may be left
 * unaccounted for, or it would stay open in this process for good. */
static void take_fds(struct msghdr *m, struct mp_sys_fds *got)
{
	for (struct cmsghdr *h = CMSG_FIRSTHDR(m); h; h = CMSG_NXTHDR(m, h)) {
		if (h->cmsg_level != SOL_SOCKET || h->cmsg_type != SCM_RIGHTS ||
		    h->cmsg_len < CMSG_LEN(0))
			continue;
		size_t k = (h->cmsg_len - CMSG_LEN(0)) / sizeof(int);
		for (size_t i = 0; i < k; i++) {
			int fd;
			memcpy(&fd, CMSG_DATA(h) + i * sizeof(int), sizeof(fd));
			if (got->n < MP_SYS_FDS_MAX)
				got->fd[got->n] = fd;
			else
				close(fd);
			got->n++;
		}
	}
}

ssize_t mp_sys_recv_fds(int sock, void *buf, size_t len,
                        struct mp_sys_fds *got, bool nowait)
{
	union fd_control ctl;
	struct iovec v = { buf, len };
	struct msghdr m;
	ssize_t n;

	do {
		m = (struct msghdr){ .msg_iov = &v, .msg_iovlen = 1,
		                     .msg_control = ctl.buf,
		                     .msg_controllen = sizeof(ctl.buf) };
		n = recvmsg(sock, &m, MSG_CMSG_CLOEXEC |
		                      (nowait ? MSG_DONTWAIT : 0));
	} while (n < 0 && errno == EINTR);
	got->n = 0;
	got->ctrunc = false;
	if (n < 0)
		return errno == EWOULDBLOCK ? -EAGAIN : -errno;
	got->ctrunc = (m.msg_flags & MSG_CTRUNC) != 0;
	take_fds(&m, got);
	return n;
}

int mp_sys_sock_family(int fd)
{
	int family;
	socklen_t len = sizeof(family);

	if (getsockopt(fd, SOL_SOCKET, SO_DOMAIN, &family, &len) < 0)
		return -errno;
	return family;
}
