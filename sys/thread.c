/*
 * thread.c - threads as the kernel knows them: ids, the robust-futex list
 * glibc registered, and whether one particular thread has ended.
 *
 * A tid alone does not name a thread for long: tids are recycled (pid_max
 * is 32768 on many machines), so "no thread has tid T" proves a death but
 * "a thread has tid T" proves nothing.  Since Linux 6.9 every struct pid
 * has an inode number in pidfs, taken from a counter that never repeats
 * within a boot: a pidfd's st_ino tells WHICH thread a tid is now.  Its low
 * 32 bits are the thread's `ident`: (tid, ident) names one thread for good
 * (the same pair again needs 2^32 pid allocations in between).
 */
#include "mpsys.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

pid_t mp_sys_gettid(void)
{
	return (pid_t)syscall(SYS_gettid);
}

struct mp_sys_robust_head *mp_sys_robust_head(void)
{
	struct mp_sys_robust_head *head = NULL;
	size_t len = 0;

	if (syscall(SYS_get_robust_list, 0, &head, &len) != 0 ||
	    len != sizeof(*head))
		return NULL;
	return head;
}

/* 0 is "unknown" to our callers: an inode whose low half is 0 reads as 1
 * on every side, so the comparison stays consistent. */
static uint32_t ident_of(uint64_t ino)
{
	return (uint32_t)ino ? (uint32_t)ino : 1u;
}

static int thread_pidfd(pid_t tid)
{
	int fd = (int)syscall(SYS_pidfd_open, tid, MP_SYS_PIDFD_THREAD);
	return fd >= 0 ? fd : -errno;
}

int mp_sys_thread_ident(pid_t tid, uint32_t *ident)
{
	struct stat st;
	int fd = thread_pidfd(tid);

	*ident = 0;
	if (fd < 0)
		return fd;
	int r = fstat(fd, &st) == 0 ? 0 : -errno;
	close(fd);
	if (r == 0)
		*ident = ident_of((uint64_t)st.st_ino);
	return r;
}

/*
 * Kernels before 6.9 (no thread pidfds): /proc/<tid>/stat resolves any
 * thread id of our pid namespace, listed in /proc or not.  1 the thread
 * lives, 0 it is gone or a zombie, -errno when /proc cannot tell.
 */
static int proc_thread_lives(pid_t tid)
{
	char path[40], buf[512];
	snprintf(path, sizeof(path), "/proc/%d/stat", (int)tid);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return errno == ENOENT || errno == ESRCH ? 0 : -errno;
	ssize_t n = read(fd, buf, sizeof(buf) - 1);
	int err = errno;
	close(fd);
	if (n < 0)
		return err == ESRCH ? 0 : -err;
	buf[n] = 0;
	/* "pid (comm) S ...": comm may hold anything, so the state is the
	 * field after the last ')'. */
	const char *f = strrchr(buf, ')');
	if (!f || f[1] != ' ')
		return -EIO;
	return f[2] != 'Z' && f[2] != 'X';
}

int mp_sys_thread_gone(pid_t tid, uint32_t ident)
{
	static const struct timespec now;
	struct pollfd p = { .events = POLLIN };
	struct stat st;

	if (tid <= 0)
		return -EINVAL;
	int fd = thread_pidfd(tid);
	if (fd == -ESRCH)
		return 1; /* no thread of that id at all */
	if (fd == -EINVAL) { /* before 6.9; /proc is out of a sandbox's reach */
		int r = mp_sys_sandboxed() ? -EPERM : proc_thread_lives(tid);
		return r < 0 ? r : !r;
	}
	if (fd < 0)
		return fd;
	int r;
	if (ident && fstat(fd, &st) == 0 && ident_of((uint64_t)st.st_ino) != ident) {
		r = 1; /* the tid is another thread's now: ours has ended */
	} else {
		/* A thread pidfd is readable once that thread has exited -
		 * also while it is a zombie nobody has reaped. */
		p.fd = fd;
		r = ppoll(&p, 1, &now, NULL);
		r = r < 0 ? -errno : r > 0;
	}
	close(fd);
	return r;
}
