/*
 * shm.c - named segments (shm_open under /dev/shm) and anonymous ones
 * (sealed memfds), mapped whole.
 *
 * A handle is process-local: the mapping, its size, the name, and for an
 * anonymous segment its descriptor (kept, to be sent).  A named segment's
 * descriptor is closed as soon as it is mapped: the mapping keeps the
 * segment alive, and the process keeps no descriptor it has no use for.
 *
 * Reservation: fallocate(2) on tmpfs allocates every page now and charges
 * it to the file system's size, so running out is ENOSPC here instead of
 * SIGBUS at a later first touch.  It also grows the file to its size, so a
 * reserved segment needs no ftruncate.
 */
#include "internal.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>

#include "mproc/shm.h"

struct mp_shm {
	void *buf;
	size_t size;
	int fd;       /* anonymous: the memfd; named: -1 */
	unsigned flags;
	char name[MP_SHM_NAME_MAX + 2]; /* "/" + name: shm_open's form */
};

/* The seals that make an anonymous segment's size final. */
#define ANON_SEALS (F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL)

/* Python's prefix for the names it makes up. */
#define RANDOM_PREFIX "psm_"

static void set_err(int *err, int e)
{
	if (err)
		*err = e;
}

/* name (with or without one leading slash) as "/name" into out, or
 * -EINVAL. */
static int name_path(const char *name, char *out)
{
	if (!name)
		return -EINVAL;
	if (name[0] == '/')
		name++;
	size_t n = strnlen(name, MP_SHM_NAME_MAX + 1);
	if (n == 0 || n > MP_SHM_NAME_MAX || strchr(name, '/') ||
	    !strcmp(name, ".") || !strcmp(name, ".."))
		return -EINVAL;
	out[0] = '/';
	memcpy(out + 1, name, n + 1);
	return 0;
}

static mp_shm_t *handle(const char *path, int fd, unsigned flags)
{
	mp_shm_t *s = calloc(1, sizeof(*s));
	if (!s)
		return NULL;
	s->fd = fd;
	s->flags = flags;
	if (path)
		snprintf(s->name, sizeof(s->name), "%s", path);
	return s;
}

/* Map fd's size bytes into s.  0 or -errno. */
static int map(mp_shm_t *s, int fd, size_t size)
{
	int e = 0;
	s->buf = mp_sys_map_file(fd, size, s->flags & MP_SHM_RDONLY, &e);
	s->size = size;
	return s->buf ? 0 : e;
}

/* The size of a segment to map: > 0, or -ENODATA / -errno. */
static int64_t map_size(int fd)
{
	int64_t size = mp_sys_file_size(fd);
	if (size == 0)
		return -ENODATA;
	return size;
}

/* Reserve (or, sparse, only size) a new segment's pages. */
static int size_new(int fd, size_t size, unsigned flags)
{
	return flags & MP_SHM_SPARSE ? mp_sys_ftruncate(fd, size)
	                             : mp_sys_fallocate(fd, size);
}

static int open_new(char *path, const char *name)
{
	if (name) {
		int r = name_path(name, path);
		return r < 0 ? r
		             : mp_sys_shm_open(path, O_RDWR | O_CREAT | O_EXCL,
		                               0600);
	}
	/* As Python: draw names until one is free (a few tries suffice:
	 * 2^32 names). */
	for (int tries = 0; tries < 64; tries++) {
		uint8_t rnd[4];
		int r = mp_sys_getrandom(rnd, sizeof(rnd));
		if (r < 0)
			return r;
		snprintf(path, MP_SHM_NAME_MAX + 2, "/" RANDOM_PREFIX
		         "%02x%02x%02x%02x", rnd[0], rnd[1], rnd[2], rnd[3]);
		int fd = mp_sys_shm_open(path, O_RDWR | O_CREAT | O_EXCL, 0600);
		if (fd != -EEXIST)
			return fd;
	}
	return -EEXIST;
}

mp_shm_t *mp_shm_create(const char *name, size_t size, unsigned flags,
                        int *err)
{
	char path[MP_SHM_NAME_MAX + 2];
	if (size == 0 || size > (size_t)INT64_MAX || flags & ~MP_SHM_SPARSE) {
		set_err(err, -EINVAL);
		return NULL;
	}
	int fd = open_new(path, name);
	if (fd < 0) {
		set_err(err, fd);
		return NULL;
	}
	mp_shm_t *s = handle(path, -1, flags);
	int r = s ? size_new(fd, size, flags) : -ENOMEM;
	if (r == 0)
		r = map(s, fd, size);
	mp_sys_close(fd);
	if (r < 0) {
		/* Ours alone so far: no name is left behind. */
		mp_sys_shm_unlink(path);
		free(s);
		set_err(err, r);
		return NULL;
	}
	return s;
}

mp_shm_t *mp_shm_attach(const char *name, unsigned flags, int *err)
{
	char path[MP_SHM_NAME_MAX + 2];
	int r = name_path(name, path);
	if (r == 0 && flags & ~MP_SHM_RDONLY)
		r = -EINVAL;
	if (r < 0) {
		set_err(err, r);
		return NULL;
	}
	int fd = mp_sys_shm_open(path, flags & MP_SHM_RDONLY ? O_RDONLY
	                                                     : O_RDWR, 0);
	if (fd < 0) {
		set_err(err, fd);
		return NULL;
	}
	int64_t size = map_size(fd);
	mp_shm_t *s = NULL;
	r = (int)(size < 0 ? size : 0);
	if (r == 0 && !(s = handle(path, -1, flags)))
		r = -ENOMEM;
	if (r == 0)
		r = map(s, fd, (size_t)size);
	mp_sys_close(fd);
	if (r < 0) {
		free(s);
		set_err(err, r);
		return NULL;
	}
	return s;
}

mp_shm_t *mp_shm_anon(size_t size, unsigned flags, int *err)
{
	if (size == 0 || size > (size_t)INT64_MAX || flags & ~MP_SHM_SPARSE) {
		set_err(err, -EINVAL);
		return NULL;
	}
	int fd = mp_sys_memfd_sealable("mproc-shm");
	if (fd < 0) {
		set_err(err, fd);
		return NULL;
	}
	mp_shm_t *s = handle(NULL, fd, flags);
	int r = s ? size_new(fd, size, flags) : -ENOMEM;
	if (r == 0) /* the size is final: no holder can make a mapping fault */
		r = mp_sys_add_seals(fd, ANON_SEALS);
	if (r == 0)
		r = map(s, fd, size);
	if (r < 0) {
		mp_sys_close(fd);
		free(s);
		set_err(err, r);
		return NULL;
	}
	return s;
}

mp_shm_t *mp_shm_attach_fd(int fd, unsigned flags, int *err)
{
	int r = fd < 0 ? -EBADF : flags & ~MP_SHM_RDONLY ? -EINVAL : 0;
	int seals = r < 0 ? r : mp_sys_get_seals(fd);
	if (seals < 0)
		r = seals == -EBADF ? -EBADF : -EINVAL;
	else if ((seals & (F_SEAL_SHRINK | F_SEAL_GROW)) !=
	         (F_SEAL_SHRINK | F_SEAL_GROW))
		r = -EINVAL;
	int64_t size = r < 0 ? r : map_size(fd);
	if (size < 0) {
		set_err(err, (int)size);
		return NULL;
	}
	int dup = mp_sys_dup(fd);
	if (dup < 0) {
		set_err(err, dup);
		return NULL;
	}
	mp_shm_t *s = handle(NULL, dup, flags);
	r = s ? map(s, dup, (size_t)size) : -ENOMEM;
	if (r < 0) {
		mp_sys_close(dup);
		free(s);
		set_err(err, r);
		return NULL;
	}
	return s;
}

int mp_shm_close(mp_shm_t *s)
{
	if (!s)
		return -EINVAL;
	if (s->buf)
		mp_sys_unmap(s->buf, s->size);
	if (s->fd >= 0)
		mp_sys_close(s->fd);
	free(s);
	return 0;
}

int mp_shm_unlink(const char *name)
{
	char path[MP_SHM_NAME_MAX + 2];
	int r = name_path(name, path);
	return r < 0 ? r : mp_sys_shm_unlink(path);
}

void *mp_shm_buf(const mp_shm_t *s)
{
	return s ? s->buf : NULL;
}

size_t mp_shm_size(const mp_shm_t *s)
{
	return s ? s->size : 0;
}

const char *mp_shm_name(const mp_shm_t *s)
{
	return s ? s->name + (s->name[0] == '/') : NULL;
}

int mp_shm_fd(const mp_shm_t *s)
{
	return s && s->fd >= 0 ? s->fd : -EINVAL;
}

/* For ShareableList: was the segment mapped read-only? */
bool mp__shm_rdonly(const mp_shm_t *s)
{
	return s->flags & MP_SHM_RDONLY;
}
