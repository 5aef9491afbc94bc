/* pidfd.c - processes as file descriptors: fork, signal, reap, poll. */
#include "mpsys.h"

#include <errno.h>
#include <poll.h>
#include <sys/pidfd.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

int mp_sys_pidfd_open(pid_t pid, unsigned flags)
{
	int fd = (int)syscall(SYS_pidfd_open, pid, flags);
	return fd >= 0 ? fd : -errno;
}

MP_SYS_FORK_PATH
pid_t mp_sys_fork_pidfd(int *pidfd)
{
	pid_t pid = fork();
	if (pid < 0)
		return -errno;
	if (pid == 0)
		return 0;
	int fd = mp_sys_pidfd_open(pid, 0);
	if (fd < 0) {
		/* Only possible when the child was reaped behind our back
		 * (SIGCHLD ignored): it is gone, nothing to kill or wait. */
		return fd;
	}
	*pidfd = fd;
	return pid;
}

int mp_sys_pidfd_signal(int pidfd, int sig)
{
	return pidfd_send_signal(pidfd, sig, NULL, 0) == 0 ? 0 : -errno;
}

int mp_sys_pidfd_reap(int pidfd, bool block, int *exitcode)
{
	siginfo_t si;
	int r;

	do {
		si.si_pid = 0;
		r = waitid((idtype_t)P_PIDFD, (id_t)pidfd, &si,
		           WEXITED | (block ? 0 : WNOHANG));
	} while (r < 0 && errno == EINTR);
	if (r < 0)
		return -errno;
	if (si.si_pid == 0)
		return 0; /* WNOHANG and still running */
	*exitcode = si.si_code == CLD_EXITED ? si.si_status : -si.si_status;
	return 1;
}

int mp_sys_pidfd_wait_exit(int pidfd)
{
	siginfo_t si;
	int r;

	do {
		r = waitid((idtype_t)P_PIDFD, (id_t)pidfd, &si,
		           WEXITED | WNOWAIT);
	} while (r < 0 && errno == EINTR);
	return r < 0 ? -errno : 0;
}

int mp_sys_poll_one(int fd, short events, const struct timespec *deadline)
{
	struct pollfd p = { .fd = fd, .events = events };
	int r = mp_sys_poll(&p, 1, deadline);
	return r > 0 ? p.revents : r;
}
