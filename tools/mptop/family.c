/*
 * family.c - who shares the target's heap, and what their threads sleep
 * on.  A process belongs when its /proc/N/map_files entry for the heap's
 * range is the same shmem inode (members inherit the heap at the same
 * address) - or, when map_files is out of reach, when it descends from
 * the target; a thread sleeps on a word when /proc/N/task/T/syscall shows
 * it inside futex() with that word as its first argument.  Threads that
 * wait through io_uring (mp_wait) or are between two system calls are not
 * seen as asleep.
 */
#include "mptop.h"

#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>

static bool is_number(const char *s)
{
	if (!*s)
		return false;
	for (; *s; s++)
		if (*s < '0' || *s > '9')
			return false;
	return true;
}

static bool maps_heap(const struct target *t, pid_t pid)
{
	char path[96];
	struct stat st;

	snprintf(path, sizeof(path), "/proc/%d/map_files/%s", (int)pid,
	         t->range);
	return stat(path, &st) == 0 && st.st_dev == t->dev &&
	       st.st_ino == t->ino;
}

static pid_t parent_of(pid_t pid)
{
	char path[48], buf[512];
	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	FILE *f = fopen(path, "re");
	int ppid = 0;

	if (!f)
		return 0;
	/* "pid (comm) state ppid ...": comm may hold anything, even ')'. */
	if (fgets(buf, sizeof(buf), f)) {
		char *p = strrchr(buf, ')');
		if (!p || sscanf(p + 1, " %*c %d", &ppid) != 1)
			ppid = 0;
	}
	fclose(f);
	return (pid_t)ppid;
}

/* Without the heap's inode (map_files needs CAP_SYS_ADMIN): the target's
 * descendants, which inherited the heap unless they exec'd since. */
static bool descends(const struct family *f, pid_t pid)
{
	for (int depth = 0; pid > 1 && depth < 64; depth++) {
		pid = parent_of(pid);
		for (size_t i = 0; i < f->npids; i++)
			if (f->pids[i] == pid)
				return true;
	}
	return false;
}

static bool member(const struct target *t, const struct family *f, pid_t pid)
{
	return t->ino ? maps_heap(t, pid) : descends(f, pid);
}

static void read_comm(pid_t pid, char comm[16])
{
	char path[48];
	snprintf(path, sizeof(path), "/proc/%d/comm", (int)pid);
	FILE *f = fopen(path, "re");
	comm[0] = 0;
	if (f) {
		if (fgets(comm, 16, f))
			comm[strcspn(comm, "\n")] = 0;
		fclose(f);
	}
}

/* The word thread tid of pid sleeps on in futex(), or 0. */
static uint64_t futex_word(pid_t pid, pid_t tid)
{
	char path[64], buf[256];
	long nr = -1;
	uint64_t addr = 0;

	snprintf(path, sizeof(path), "/proc/%d/task/%d/syscall", (int)pid,
	         (int)tid);
	FILE *f = fopen(path, "re");
	if (!f)
		return 0;
	/* "running", or "NR arg1 ... arg6 sp pc" while in a system call. */
	if (!fgets(buf, sizeof(buf), f) ||
	    sscanf(buf, "%ld 0x%" SCNx64, &nr, &addr) != 2 || nr != SYS_futex)
		addr = 0;
	fclose(f);
	return addr;
}

static int add_threads(struct family *f, pid_t pid, size_t *cap)
{
	char path[48];
	snprintf(path, sizeof(path), "/proc/%d/task", (int)pid);
	DIR *d = opendir(path);
	struct dirent *e;

	if (!d)
		return 0; /* gone meanwhile */
	while ((e = readdir(d))) {
		if (!is_number(e->d_name))
			continue;
		if (f->nthreads == *cap &&
		    mp__grow(&f->threads, cap, sizeof(*f->threads), 64) < 0) {
			closedir(d);
			return -ENOMEM;
		}
		pid_t tid = (pid_t)atoi(e->d_name);
		f->threads[f->nthreads++] = (struct thread){
			pid, tid, futex_word(pid, tid) };
	}
	closedir(d);
	return 0;
}

static int add_pid(struct family *f, pid_t pid, size_t *cap)
{
	if (f->npids == *cap) {
		size_t c = *cap;
		if (mp__grow(&f->pids, &c, sizeof(*f->pids), 16) < 0 ||
		    mp__grow(&f->comm, cap, sizeof(*f->comm), 16) < 0)
			return -ENOMEM;
	}
	read_comm(pid, f->comm[f->npids]);
	f->pids[f->npids++] = pid;
	return 0;
}

int family_scan(const struct target *t, struct family *f)
{
	size_t pcap = 0, tcap = 0;
	DIR *d = opendir("/proc");
	struct dirent *e;
	int r = 0;

	*f = (struct family){ 0 };
	if (!d)
		return -errno;
	r = add_pid(f, t->pid, &pcap);
	while (r == 0 && (e = readdir(d))) {
		pid_t pid = is_number(e->d_name) ? (pid_t)atoi(e->d_name) : 0;
		if (pid > 0 && pid != t->pid && member(t, f, pid))
			r = add_pid(f, pid, &pcap);
	}
	closedir(d);
	for (size_t i = 0; r == 0 && i < f->npids; i++)
		r = add_threads(f, f->pids[i], &tcap);
	return r;
}

void family_free(struct family *f)
{
	free(f->pids);
	free(f->comm);
	free(f->threads);
	*f = (struct family){ 0 };
}

pid_t family_pid_of(const struct family *f, pid_t tid)
{
	char path[48], line[128];
	pid_t pid = 0;

	for (size_t i = 0; i < f->nthreads; i++)
		if (f->threads[i].tid == tid)
			return f->threads[i].pid;
	snprintf(path, sizeof(path), "/proc/%d/status", (int)tid);
	FILE *s = fopen(path, "re");
	if (!s)
		return 0;
	while (fgets(line, sizeof(line), s))
		if (sscanf(line, "Tgid: %d", &pid) == 1)
			break;
	fclose(s);
	return pid;
}

const char *family_comm(const struct family *f, pid_t pid)
{
	for (size_t i = 0; i < f->npids; i++)
		if (f->pids[i] == pid)
			return f->comm[i];
	return "";
}

size_t family_sleepers(const struct family *f, uint64_t addr, pid_t *tids,
                       size_t max)
{
	size_t n = 0;

	for (size_t i = 0; i < f->nthreads; i++) {
		if (f->threads[i].futex != addr)
			continue;
		if (n < max)
			tids[n] = f->threads[i].tid;
		n++;
	}
	return n;
}

void where_is(pid_t pid, uint64_t addr, char *out, size_t len)
{
	char path[48], line[512];
	snprintf(path, sizeof(path), "/proc/%d/maps", (int)pid);
	FILE *f = fopen(path, "re");

	out[0] = 0;
	if (!f)
		return;
	while (fgets(line, sizeof(line), f)) {
		uint64_t lo, hi, foff;
		char name[256];
		if (sscanf(line, "%" SCNx64 "-%" SCNx64 " %*s %" SCNx64
		           " %*s %*s %255[^\n]", &lo, &hi, &foff, name) == 4 &&
		    addr >= lo && addr < hi && name[0] == '/') {
			const char *base = strrchr(name, '/') + 1;
			snprintf(out, len, "%s+0x%" PRIx64, base,
			         addr - lo + foff);
			break;
		}
	}
	fclose(f);
}
