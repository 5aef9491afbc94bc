/* proc.c - attributes of the calling process: its tie to its parent, the
 * CPUs it may use, its resource limits, and trapping its SIGSYS. */
#include "mpsys.h"
#include "rawcall.h"

#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdint.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

/* raise(3) of a signal that ends the process, in a raw call. */
MP_SYS_FORK_PATH
static void raise_now(int sig)
{
	(void)mp_sys_raw(SYS_kill, mp_sys_raw(SYS_getpid, 0, 0, 0, 0), sig, 0,
	                 0);
}

/* Raw calls: a new child runs this before its target (rawcall.h). */
MP_SYS_FORK_PATH
int mp_sys_die_with_parent(pid_t parent)
{
	long r = mp_sys_raw(SYS_prctl, PR_SET_PDEATHSIG, SIGKILL, 0, 0);
	if (r < 0)
		return (int)r;
	/* A parent that died before the prctl sends nothing: look. */
	if (mp_sys_raw(SYS_getppid, 0, 0, 0, 0) != parent) {
		raise_now(SIGKILL);
		return -ESRCH;
	}
	return 0;
}

MP_SYS_FORK_PATH
void mp_sys_unblock_all(void)
{
	/* The kernel's sigset: 8 bytes, all clear.  glibc's pthread_sigmask
	 * would only take its own internal signals out of a set to block;
	 * an empty one it passes as it is. */
	uint64_t none = 0; /* on the stack: .rodata is a page to fault in */
	(void)mp_sys_raw(SYS_rt_sigprocmask, SIG_SETMASK, (long)&none, 0,
	                 sizeof(none));
}

/* Send sig to sa's handler, unblocked: a child's mask is inherited from
 * whichever thread forked it.  0 or -errno. */
static int catch_signal(int sig, const struct sigaction *sa)
{
	sigset_t set;
	sigemptyset(&set);
	sigaddset(&set, sig);
	if (sigaction(sig, sa, NULL) < 0 ||
	    sigprocmask(SIG_UNBLOCK, &set, NULL) < 0)
		return -errno;
	return 0;
}

int mp_sys_lifeline(int fds[2])
{
	return pipe2(fds, O_CLOEXEC | O_NONBLOCK) == 0 ? 0 : -errno;
}

/*
 * The hang-up is signalled with SIGKILL itself (F_SETSIG takes any
 * signal): a child that is stopped (SIGSTOP, a debugger's) when its parent
 * dies runs no handler until it is continued, and the kernel leaves even a
 * fatal default action pending on a stopped single-threaded process - it
 * would linger, stopped, holding what it inherited (a test's output pipe,
 * which its runner waits on).  Only SIGKILL ends it.  Nothing is ever
 * written to a lifeline, so the kernel sends it only when the last write
 * end closes.
 */
int mp_sys_lifeline_hold(int fd)
{
	if (fcntl(fd, F_SETSIG, SIGKILL) < 0 ||
	    fcntl(fd, F_SETOWN, getpid()) < 0 ||
	    fcntl(fd, F_SETFL, O_ASYNC | O_NONBLOCK) < 0)
		return -errno;
	/* A hang-up before O_ASYNC was set signalled nobody: look. */
	char c;
	if (read(fd, &c, 1) == 0) {
		raise(SIGKILL);
		return -ESRCH;
	}
	return 0;
}

int mp_sys_cpu_count(void)
{
	for (int ncpu = 1024; ncpu <= (1 << 16); ncpu *= 2) {
		cpu_set_t *set = CPU_ALLOC(ncpu);
		size_t sz = CPU_ALLOC_SIZE(ncpu);
		if (!set)
			break;
		int r = sched_getaffinity(0, sz, set);
		int count = r == 0 ? CPU_COUNT_S(sz, set) : 0;
		CPU_FREE(set);
		if (r == 0)
			return count > 0 ? count : 1;
		if (errno != EINVAL) /* EINVAL: the mask is larger */
			break;
	}
	long n = sysconf(_SC_NPROCESSORS_ONLN);
	return n > 0 ? (int)n : 1;
}

int mp_sys_set_limit(int resource, uint64_t soft, uint64_t hard)
{
	struct rlimit rl = { (rlim_t)soft, (rlim_t)hard };
	return setrlimit(resource, &rl) == 0 ? 0 : -errno;
}

int mp_sys_trap_sigsys(void (*handler)(int, siginfo_t *, void *))
{
	struct sigaction sa = { .sa_sigaction = handler, .sa_flags = SA_SIGINFO };
	return catch_signal(SIGSYS, &sa);
}

MP_SYS_FORK_PATH
void mp_sys_exit_now(int status)
{
	/* The raw call: from a signal handler, with nothing of libc's exit
	 * (and the end of a child's path: rawcall.h). */
	for (;;)
		(void)mp_sys_raw(SYS_exit_group, status, 0, 0, 0);
}
