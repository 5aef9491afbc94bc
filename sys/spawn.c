/*
 * spawn.c - start a sibling: clone3(CLONE_PARENT | CLONE_PIDFD), for the
 * fork server (lib/forkserver.c), whose children must be its parent's.
 *
 * CLONE_PARENT makes the new process a child of the caller's parent, so
 * that process gets its SIGCHLD, can waitid(P_PIDFD) it and reads its exit
 * status itself; CLONE_PIDFD gives the caller a pidfd for it to pass on.
 * The kernel refuses CLONE_PARENT only to init (Linux 5.3 for clone3 with
 * CLONE_PIDFD: 5.5).
 *
 * A raw clone bypasses glibc's fork, so the child gets here what glibc's
 * fork would have done for it, in a process that is single-threaded and
 * holds no lock (the server): the robust-futex list glibc registered
 * (the kernel gives a new process none, and mproc's locks and glibc's
 * robust mutexes depend on it), and the thread's cached tid, which glibc
 * keeps in its thread descriptor and writes into mutexes it locks.  No
 * pthread_atfork handler runs: the server has no state they would fix.
 */
#include "mpsys.h"
#include "rawcall.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/sched.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

/*
 * Where glibc keeps the calling thread's tid in its descriptor (struct
 * pthread, at pthread_self()), found by looking for the tid: the only
 * field that holds it.  NULL when there is not exactly one such word in
 * the first 2 KiB (a glibc laid out otherwise): the child then runs with
 * the server's tid cached, which only robust and error-checking pthread
 * mutexes of its main thread would notice.
 */
static pid_t *tid_slot(void)
{
	pid_t tid = (pid_t)syscall(SYS_gettid);
	char *self = (char *)pthread_self();
	pid_t *found = NULL;

	for (size_t off = 0; off < 2048; off += sizeof(pid_t)) {
		pid_t v;
		memcpy(&v, self + off, sizeof(v));
		if (v != tid)
			continue;
		if (found)
			return NULL;
		found = (pid_t *)(void *)(self + off);
	}
	return found;
}

/* The server is single-threaded: its tid slot and robust list, asked once
 * (two system calls fewer ahead of every clone). */
static struct mp_sys_robust_head *spawn_head;
static pid_t *spawn_slot;
static pid_t spawn_tid;

MP_SYS_FORK_PATH
pid_t mp_sys_spawn_sibling(int *pidfd, _Atomic pid_t *note)
{
	pid_t tid = (pid_t)syscall(SYS_gettid);
	if (tid != spawn_tid) {
		spawn_head = mp_sys_robust_head();
		spawn_slot = tid_slot();
		spawn_tid = tid;
	}
	struct mp_sys_robust_head *head = spawn_head;
	pid_t *slot = spawn_slot;
	int fd = -1;
	struct clone_args ca = {
		.flags = CLONE_PARENT | CLONE_PIDFD | CLONE_PARENT_SETTID |
		         (slot ? CLONE_CHILD_SETTID : 0),
		.pidfd = (uint64_t)(uintptr_t)&fd,
		.parent_tid = (uint64_t)(uintptr_t)note,
		.child_tid = (uint64_t)(uintptr_t)slot,
		/* 0, as clone3 demands with CLONE_PARENT: the child then
		 * signals its parent with ours (SIGCHLD: we were forked). */
		.exit_signal = 0,
	};
	long pid = mp_sys_raw(SYS_clone3, (long)&ca, sizeof(ca), 0, 0);

	if (pid < 0)
		return (pid_t)pid;
	if (pid > 0) {
		*pidfd = fd;
		return (pid_t)pid;
	}
	/* The child: glibc's list, empty (the server held no lock). */
	if (head) {
		head->list = head;
		head->list_op_pending = NULL;
		(void)mp_sys_raw(SYS_set_robust_list, (long)head, sizeof(*head),
		                 0, 0);
	}
	return 0;
}

int mp_sys_close_from(int lowfd)
{
	return syscall(SYS_close_range, (unsigned)lowfd, ~0u, 0) == 0 ?
	       0 : -errno;
}

int mp_sys_fd_valid(int fd)
{
	return fcntl(fd, F_GETFD) >= 0 ? 0 : -errno;
}

int mp_sys_fds_renumber(const int *fds, const int *nums, unsigned n)
{
	int tmp[MP_SYS_FDS_MAX];
	int base = 0;

	if (n > MP_SYS_FDS_MAX)
		return -EINVAL;
	for (unsigned i = 0; i < n; i++) {
		base = fds[i] > base ? fds[i] : base;
		base = nums[i] > base ? nums[i] : base;
	}
	/* First above every number involved, so that no dup2 below can
	 * replace a descriptor that is still to be moved. */
	for (unsigned i = 0; i < n; i++) {
		tmp[i] = fcntl(fds[i], F_DUPFD_CLOEXEC, base + 1);
		if (tmp[i] < 0)
			return -errno;
		close(fds[i]);
	}
	/* dup2 clears close-on-exec: the descriptor is the child's own. */
	for (unsigned i = 0; i < n; i++) {
		if (dup2(tmp[i], nums[i]) < 0)
			return -errno;
		close(tmp[i]);
	}
	return 0;
}
