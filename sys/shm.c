/* shm.c - shared mappings: anonymous, memfd-backed, and giving pages back. */
#include "mpsys.h"

#include <errno.h>
#include <sys/mman.h>
#include <stdio.h>
#include <unistd.h>

void *mp_sys_map_shared(size_t len, int *err)
{
	void *p = mmap(NULL, len, PROT_READ | PROT_WRITE,
	               MAP_SHARED | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (p == MAP_FAILED) {
		*err = -errno;
		return NULL;
	}
	return p;
}

void *mp_sys_map_fd(int fd, size_t len, int *err)
{
	void *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (p == MAP_FAILED) {
		*err = -errno;
		return NULL;
	}
	return p;
}

int mp_sys_unmap(void *addr, size_t len)
{
	return munmap(addr, len) == 0 ? 0 : -errno;
}

int mp_sys_discard(void *addr, size_t len)
{
	/* Shared anonymous memory is shmem: MADV_REMOVE punches a hole, so the
	 * pages are freed and read back as zeros in every process. */
	return madvise(addr, len, MADV_REMOVE) == 0 ? 0 : -errno;
}

int mp_sys_memfd(const char *name, size_t size)
{
	int fd = memfd_create(name, MFD_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (ftruncate(fd, (off_t)size) < 0) {
		int e = -errno;
		close(fd);
		return e;
	}
	return fd;
}

size_t mp_sys_mapped_bytes(void)
{
	long pages = 0;
	FILE *f = fopen("/proc/self/statm", "re");
	if (f) {
		if (fscanf(f, "%ld", &pages) != 1)
			pages = 0;
		fclose(f);
	}
	return (size_t)pages * (size_t)sysconf(_SC_PAGESIZE);
}
