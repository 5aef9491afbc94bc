/* sock.c - pipes and sockets: making, binding, accepting, connecting. */
#include "mpsys.h"

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/stat.h>
#include <unistd.h>

int mp_sys_pipe(int fds[2])
{
	return pipe2(fds, O_CLOEXEC) == 0 ? 0 : -errno;
}

int mp_sys_pipe_size(int fd, int bytes)
{
	return fcntl(fd, F_SETPIPE_SZ, bytes) >= 0 ? 0 : -errno;
}

int mp_sys_socketpair(int fds[2])
{
	return socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds) == 0
	       ? 0 : -errno;
}

int mp_sys_socketpair_seq(int fds[2])
{
	return socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, fds) == 0
	       ? 0 : -errno;
}

int mp_sys_socket(int family, int extra)
{
	int fd = socket(family, SOCK_STREAM | SOCK_CLOEXEC | extra, 0);
	return fd >= 0 ? fd : -errno;
}

int mp_sys_tcp_set(int fd, int opt, int val)
{
	return setsockopt(fd, IPPROTO_TCP, opt, &val, sizeof(val)) == 0 ? 0
	                                                                : -errno;
}

int mp_sys_fchmod(int fd, mode_t mode)
{
	return fchmod(fd, mode) == 0 ? 0 : -errno;
}

int mp_sys_unlink(const char *path)
{
	return unlink(path) == 0 ? 0 : -errno;
}

int mp_sys_bind_listen(int fd, const struct sockaddr *sa, socklen_t len,
                       int backlog)
{
	if (sa->sa_family != AF_UNIX) {
		/* As Python does on POSIX: a restarted server can bind its
		 * port while old connections linger in TIME_WAIT. */
		int one = 1;
		if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one,
		               sizeof(one)) < 0)
			return -errno;
	}
	if (bind(fd, sa, len) < 0 || listen(fd, backlog) < 0)
		return -errno;
	return 0;
}

int mp_sys_accept(int fd, struct sockaddr_storage *peer, socklen_t *len)
{
	int c;

	do {
		*len = sizeof(*peer);
		c = accept4(fd, (struct sockaddr *)peer, len, SOCK_CLOEXEC);
	} while (c < 0 && errno == EINTR);
	if (c >= 0)
		return c;
	return errno == EWOULDBLOCK ? -EAGAIN : -errno;
}

static int64_t ns_left(const struct timespec *deadline)
{
	return (int64_t)deadline->tv_sec * 1000000000 + deadline->tv_nsec -
	       mp_sys_now_ns();
}

static int set_blocking(int fd)
{
	/* F_SETFL changes only O_NONBLOCK among the flags we ever set. */
	return fcntl(fd, F_SETFL, 0) == 0 ? 0 : -errno;
}

/* AF_UNIX with a full backlog: block in connect(2), bounded by
 * SO_SNDTIMEO (the one timeout a local connect honours). */
static int connect_unix_wait(int fd, const struct sockaddr *sa,
                             socklen_t len, const struct timespec *deadline)
{
	/* An interruptible thread: a connect without a timeout is restarted
	 * after an SA_RESTART handler, one with a timeout reports EINTR. */
	deadline = mp_sys_wait_deadline(deadline);
	for (;;) {
		if (deadline) {
			int64_t left = ns_left(deadline);
			if (left <= 0)
				return -ETIMEDOUT;
			/* A zero SO_SNDTIMEO means "no timeout": keep >= 1 us. */
			struct timeval tv = { (time_t)(left / 1000000000),
			                      (suseconds_t)(left % 1000000000 / 1000) };
			if (tv.tv_sec == 0 && tv.tv_usec == 0)
				tv.tv_usec = 1;
			if (setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv,
			               sizeof(tv)) < 0)
				return -errno;
		}
		if (connect(fd, sa, len) == 0)
			break;
		if (errno == EINTR && !mp_sys_interruptible())
			continue;
		return errno == EAGAIN || errno == EINPROGRESS ? -ETIMEDOUT
		                                               : -errno;
	}
	struct timeval none = { 0, 0 };
	return setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &none, sizeof(none)) == 0
	       ? 0 : -errno;
}

/* TCP: the handshake is under way; wait for its outcome. */
static int connect_inet_wait(int fd, const struct timespec *deadline)
{
	struct pollfd p = { .fd = fd, .events = POLLOUT };
	int r = mp_sys_poll(&p, 1, deadline);
	if (r == 0)
		return -ETIMEDOUT;
	if (r < 0)
		return r;
	int e = 0;
	socklen_t el = sizeof(e);
	return getsockopt(fd, SOL_SOCKET, SO_ERROR, &e, &el) < 0 ? -errno : -e;
}

int mp_sys_connect(int fd, const struct sockaddr *sa, socklen_t len,
                   const struct timespec *deadline)
{
	int r = connect(fd, sa, len) == 0 ? 0 : -errno;
	if (r == -EINPROGRESS)
		r = connect_inet_wait(fd, deadline);
	if (r == -EAGAIN && sa->sa_family == AF_UNIX) {
		r = set_blocking(fd);
		return r < 0 ? r : connect_unix_wait(fd, sa, len, deadline);
	}
	return r < 0 ? r : set_blocking(fd);
}

int mp_sys_sockname(int fd, struct sockaddr_storage *sa, socklen_t *len)
{
	*len = sizeof(*sa);
	return getsockname(fd, (struct sockaddr *)sa, len) == 0 ? 0 : -errno;
}
