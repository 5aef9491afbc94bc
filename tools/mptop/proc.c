/*
 * proc.c - the target family through /proc: its heap (found by its magic
 * among the process's shared anonymous mappings, then mapped read-only
 * through /proc/PID/map_files, or read through /proc/PID/mem), the
 * processes that map the same heap, and what their threads sleep on.
 * Nothing here writes to the target or signals it.
 */
#include "mptop.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

static int mem_read(void *ctx, uint64_t off, void *buf, size_t len)
{
	struct target *t = ctx;

	if (off > t->len || len > t->len - off)
		return -EFAULT;
	if (t->map) {
		memcpy(buf, t->map + off, len);
		return 0;
	}
	ssize_t n = pread(t->mem_fd, buf, len, (off_t)(t->base + off));
	return n == (ssize_t)len ? 0 : n < 0 ? -errno : -EIO;
}

struct mp__peek_src target_src(struct target *t)
{
	return (struct mp__peek_src){ mem_read, t, t->len };
}

/* Open the candidate mapping [lo, hi) of t->pid: 0 when it is an mproc
 * heap (t filled in), -ENOENT when not, -EPROTO when of another layout,
 * another -errno when it cannot be read. */
static int try_heap(struct target *t, uint64_t lo, uint64_t hi)
{
	char path[96];
	struct stat st;
	uint32_t magic[2];

	t->base = lo;
	t->len = hi - lo;
	snprintf(t->range, sizeof(t->range), "%" PRIx64 "-%" PRIx64, lo, hi);
	snprintf(path, sizeof(path), "/proc/%d/map_files/%s", (int)t->pid,
	         t->range);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd >= 0) {
		if (fstat(fd, &st) == 0) {
			t->dev = st.st_dev;
			t->ino = st.st_ino;
		}
		void *m = mmap(NULL, t->len, PROT_READ, MAP_SHARED, fd, 0);
		close(fd);
		if (m != MAP_FAILED)
			t->map = m;
	}
	if (!t->map && t->mem_fd < 0) {
		snprintf(path, sizeof(path), "/proc/%d/mem", (int)t->pid);
		if ((t->mem_fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
			return -errno;
	}
	int r = mem_read(t, 0, magic, sizeof(magic));
	if (r == 0 && magic[0] != HEAP_MAGIC)
		r = -ENOENT;
	else if (r == 0 && magic[1] != HEAP_VERSION)
		r = -EPROTO;
	if (r < 0 && t->map) {
		munmap((void *)t->map, t->len);
		t->map = NULL;
	}
	return r;
}

/* A shared anonymous mapping big enough to be a heap?  The kernel shows
 * shared anonymous memory as /dev/zero (deleted), or by its name. */
static bool candidate(const char *perms, const char *name, uint64_t len)
{
	return perms[3] == 's' && len >= MP_HEAP_MIN_SIZE &&
	       (strncmp(name, "/dev/zero", 9) == 0 ||
	        strncmp(name, "[anon_shmem", 11) == 0);
}

int target_open(pid_t pid, struct target *t, char *why, size_t len)
{
	char path[64], line[512];
	int r = -ENOENT;

	*t = (struct target){ .pid = pid, .mem_fd = -1 };
	snprintf(path, sizeof(path), "/proc/%d/maps", (int)pid);
	FILE *f = pid > 0 ? fopen(path, "re") : NULL;
	if (!f) {
		r = pid > 0 ? -errno : -ESRCH;
		snprintf(why, len, "pid %d: %s", (int)pid,
		         r == -ENOENT || r == -ESRCH ? "no such process"
		         : r == -EACCES || r == -EPERM
		         ? "permission denied (its /proc/PID/maps cannot be read)"
		         : strerror(-r));
		return r == -ENOENT ? -ESRCH : r;
	}
	while (fgets(line, sizeof(line), f)) {
		uint64_t lo, hi;
		char perms[8], name[256] = "";
		if (sscanf(line, "%" SCNx64 "-%" SCNx64 " %7s %*s %*s %*s %255[^\n]",
		           &lo, &hi, perms, name) < 3 ||
		    !candidate(perms, name, hi - lo))
			continue;
		if ((r = try_heap(t, lo, hi)) != -ENOENT && r != -EPROTO)
			break;
	}
	fclose(f);
	if (r == 0)
		return 0;
	target_close(t);
	if (r == -ENOENT)
		snprintf(why, len, "pid %d: not an mproc process (no shared heap"
		         " mapped)", (int)pid);
	else if (r == -EPROTO)
		snprintf(why, len, "pid %d: its mproc heap has another layout"
		         " version (use the mptop of its mproc)", (int)pid);
	else
		snprintf(why, len, "pid %d: cannot read its memory: %s%s",
		         (int)pid, strerror(-r), r == -EACCES || r == -EPERM
		         ? " (needs ptrace access: same user and ptrace_scope,"
		           " or root)" : "");
	return r;
}

void target_close(struct target *t)
{
	if (t->map)
		munmap((void *)t->map, t->len);
	if (t->mem_fd >= 0)
		close(t->mem_fd);
	t->map = NULL;
	t->mem_fd = -1;
}
