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
	int unnamed;  /* created, not yet published: the unnamed file; or -1 */
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
	s->unnamed = -1;
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

/* A random name as Python draws them: "/psm_" + 8 hex digits. */
static int random_path(char *path)
{
	uint8_t rnd[4];
	int r = mp_sys_getrandom(rnd, sizeof(rnd));
	if (r < 0)
		return r;
	snprintf(path, MP_SHM_NAME_MAX + 2, "/" RANDOM_PREFIX "%02x%02x%02x%02x",
	         rnd[0], rnd[1], rnd[2], rnd[3]);
	return 0;
}

/* Draw names until one is free, as Python does (a few tries suffice: 2^32
 * names).  try_name(path, arg): 0 done, -EEXIST taken, else fail. */
static int random_name(char *path, int (*try_name)(const char *, void *),
                       void *arg)
{
	for (int tries = 0; tries < 64; tries++) {
		int r = random_path(path);
		if (r == 0)
			r = try_name(path, arg);
		if (r != -EEXIST)
			return r;
	}
	return -EEXIST;
}

static int try_open(const char *path, void *fd)
{
	int r = mp_sys_shm_open(path, O_RDWR | O_CREAT | O_EXCL, 0600);
	*(int *)fd = r;
	return r < 0 ? r : 0;
}

static int try_link(const char *path, void *fd)
{
	return mp_sys_shm_link(*(int *)fd, path);
}

/* Does a segment have this name?  (Opened to know: -EACCES says yes.) */
static bool name_taken(const char *path)
{
	int fd = mp_sys_shm_open(path, O_RDONLY, 0);
	if (fd >= 0)
		mp_sys_close(fd);
	return fd >= 0 || fd == -EACCES;
}

/*
 * A new segment, reserved and mapped, but named only by mp__shm_publish():
 * until then nobody can open it, so nobody ever sees it empty or half
 * written, and a failure leaves no name behind.  It is an unnamed file in
 * /dev/shm (O_TMPFILE), linked under its name when published.  Where
 * O_TMPFILE is not to be had, the name is made first (O_CREAT | O_EXCL) as
 * Python does, and removed again on failure.
 */
mp_shm_t *mp__shm_create_hidden(const char *name, size_t size,
                                 unsigned flags, int *err)
{
	char path[MP_SHM_NAME_MAX + 2] = "";
	int r = size == 0 || size > (size_t)INT64_MAX || flags & ~MP_SHM_SPARSE
	                ? -EINVAL : name ? name_path(name, path) : 0;
	if (r < 0) {
		set_err(err, r);
		return NULL;
	}
	bool named = false;
	int fd = mp_sys_shm_tmpfile(0600);
	if (fd == -EOPNOTSUPP || fd == -EISDIR || fd == -EINVAL) {
		named = true;
		if (name)
			fd = mp_sys_shm_open(path, O_RDWR | O_CREAT | O_EXCL,
			                     0600);
		else if ((r = random_name(path, try_open, &fd)) < 0)
			fd = r;
	}
	if (fd < 0) {
		set_err(err, fd);
		return NULL;
	}
	mp_shm_t *s = handle(path, -1, flags);
	r = s ? size_new(fd, size, flags) : -ENOMEM;
	if (r == 0)
		r = map(s, fd, size);
	if (r < 0 && name && !named && name_taken(path))
		r = -EEXIST; /* what the link would have said: it goes first */
	if (r < 0) {
		if (named) /* ours alone so far */
			mp_sys_shm_unlink(path);
		mp_sys_close(fd);
		free(s);
		set_err(err, r);
		return NULL;
	}
	if (named)
		mp_sys_close(fd);
	else
		s->unnamed = fd;
	return s;
}

int mp__shm_publish(mp_shm_t *s)
{
	if (s->unnamed < 0)
		return 0; /* named from the start */
	int r = s->name[0] ? mp_sys_shm_link(s->unnamed, s->name)
	                   : random_name(s->name, try_link, &s->unnamed);
	if (r == 0) {
		mp_sys_close(s->unnamed);
		s->unnamed = -1;
	} else {
		s->name[0] = 0;
	}
	return r;
}

void mp__shm_abandon(mp_shm_t *s)
{
	if (s->unnamed < 0 && s->name[0]) /* named at creation: unname it */
		mp_sys_shm_unlink(s->name);
	mp_shm_close(s);
}

mp_shm_t *mp_shm_create(const char *name, size_t size, unsigned flags,
                        int *err)
{
	mp_shm_t *s = mp__shm_create_hidden(name, size, flags, err);
	if (!s)
		return NULL;
	int r = mp__shm_publish(s);
	if (r < 0) {
		mp__shm_abandon(s);
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
	if (s->unnamed >= 0)
		mp_sys_close(s->unnamed);
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
