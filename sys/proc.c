/* proc.c - attributes of the calling process: its tie to its parent, the
 * CPUs it may use, its resource limits, and trapping its SIGSYS. */
#include "mpsys.h"

#include <errno.h>
#include <sched.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

int mp_sys_die_with_parent(pid_t parent)
{
	if (prctl(PR_SET_PDEATHSIG, SIGKILL) < 0)
		return -errno;
	/* A parent that died before the prctl sends nothing: look. */
	if (getppid() != parent) {
		raise(SIGKILL);
		return -ESRCH;
	}
	return 0;
}

/*
 * The kernel sends the death signal when the *thread* that forked us ends.
 * It then hands us to another thread of the same process (getppid() does
 * not change: it names the process), or, when the whole process is gone,
 * to a reaper (it does).  Only the second is the parent's death.
 */
static pid_t watched_parent;

static void on_parent_thread_end(int sig)
{
	(void)sig;
	int saved = errno;
	if (getppid() != watched_parent)
		kill(getpid(), SIGKILL);
	errno = saved;
}

int mp_sys_die_with_parent_process(pid_t parent)
{
	struct sigaction sa = { .sa_handler = on_parent_thread_end,
	                        .sa_flags = SA_RESTART };
	sigset_t set;
	sigemptyset(&set);
	sigaddset(&set, MP_SYS_PDEATH_SIGNAL);
	watched_parent = parent;
	/* Unblocked: the mask is inherited from whichever thread forked. */
	if (sigaction(MP_SYS_PDEATH_SIGNAL, &sa, NULL) < 0 ||
	    sigprocmask(SIG_UNBLOCK, &set, NULL) < 0 ||
	    prctl(PR_SET_PDEATHSIG, MP_SYS_PDEATH_SIGNAL) < 0)
		return -errno;
	if (getppid() != parent) {
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
	sigset_t set;
	sigemptyset(&set);
	sigaddset(&set, SIGSYS);
	if (sigprocmask(SIG_UNBLOCK, &set, NULL) < 0 ||
	    sigaction(SIGSYS, &sa, NULL) < 0)
		return -errno;
	return 0;
}

void mp_sys_exit_now(int status)
{
	/* The raw call: from a signal handler, with nothing of libc's exit. */
	syscall(SYS_exit_group, status);
	__builtin_unreachable();
}
