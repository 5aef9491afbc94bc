/* shm.c - shared mappings: anonymous, memfd-backed, and giving pages back;
 * named (shm_open) and sealed anonymous segments. */
#include "mpsys.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
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

#ifndef MADV_POPULATE_WRITE
#define MADV_POPULATE_WRITE 23 /* Linux 5.14 */
#endif

int mp_sys_prefault_write(void *addr, size_t len)
{
	static _Atomic bool unsupported;
	const uintptr_t page = 4096; /* a larger page is populated whole */
	uintptr_t lo = ((uintptr_t)addr + page - 1) & ~(page - 1);
	uintptr_t hi = ((uintptr_t)addr + len) & ~(page - 1);

	if (hi <= lo || atomic_load_explicit(&unsupported, memory_order_relaxed))
		return 0;
	if (madvise((void *)lo, hi - lo, MADV_POPULATE_WRITE) == 0)
		return 0;
	if (errno == EINVAL)
		atomic_store_explicit(&unsupported, true, memory_order_relaxed);
	return -errno;
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

int mp_sys_shm_open(const char *name, int flags, mode_t mode)
{
	int fd = shm_open(name, flags, mode);
	return fd < 0 ? -errno : fd;
}

int mp_sys_shm_unlink(const char *name)
{
	return shm_unlink(name) == 0 ? 0 : -errno;
}

int mp_sys_memfd_sealable(const char *name)
{
	int fd = memfd_create(name, MFD_CLOEXEC | MFD_ALLOW_SEALING);
	return fd < 0 ? -errno : fd;
}

int mp_sys_fallocate(int fd, size_t size)
{
	for (;;) {
		if (fallocate(fd, 0, 0, (off_t)size) == 0)
			return 0;
		if (errno != EINTR)
			return -errno;
	}
}

int mp_sys_ftruncate(int fd, size_t size)
{
	return ftruncate(fd, (off_t)size) == 0 ? 0 : -errno;
}

int64_t mp_sys_file_size(int fd)
{
	struct stat st;
	if (fstat(fd, &st) < 0)
		return -errno;
	return S_ISREG(st.st_mode) ? (int64_t)st.st_size : -EINVAL;
}

int mp_sys_add_seals(int fd, unsigned seals)
{
	return fcntl(fd, F_ADD_SEALS, (int)seals) == 0 ? 0 : -errno;
}

int mp_sys_get_seals(int fd)
{
	int r = fcntl(fd, F_GET_SEALS);
	return r < 0 ? -errno : r;
}

int mp_sys_dup(int fd)
{
	int r = fcntl(fd, F_DUPFD_CLOEXEC, 0);
	return r < 0 ? -errno : r;
}

void *mp_sys_map_file(int fd, size_t len, bool rdonly, int *err)
{
	void *p = mmap(NULL, len, rdonly ? PROT_READ : PROT_READ | PROT_WRITE,
	               MAP_SHARED, fd, 0);
	if (p == MAP_FAILED) {
		*err = -errno;
		return NULL;
	}
	return p;
}

#define SHM_DIR "/dev/shm" /* glibc's shm_open resolves names here */

int mp_sys_shm_tmpfile(mode_t mode)
{
	int fd = open(SHM_DIR, O_TMPFILE | O_RDWR | O_CLOEXEC, mode);
	return fd < 0 ? -errno : fd;
}

int mp_sys_shm_link(int fd, const char *name)
{
	char dest[sizeof(SHM_DIR) + 256], src[64];
	if (snprintf(dest, sizeof(dest), SHM_DIR "%s", name) >= (int)sizeof(dest))
		return -ENAMETOOLONG;
	if (linkat(fd, "", AT_FDCWD, dest, AT_EMPTY_PATH) == 0)
		return 0;
	if (errno != EPERM && errno != EACCES && errno != ENOENT)
		return -errno;
	/* Without CAP_DAC_READ_SEARCH: the descriptor's magic link. */
	snprintf(src, sizeof(src), "/proc/self/fd/%d", fd);
	return linkat(AT_FDCWD, src, AT_FDCWD, dest, AT_SYMLINK_FOLLOW) == 0
	               ? 0 : -errno;
}
