/*
 * mproc/shm.h - named and anonymous shared-memory segments, and
 * ShareableList: Python's multiprocessing.shared_memory, interoperable
 * with it, without its traps.
 *
 * Segments.  A named segment is a POSIX shared-memory object
 * (/dev/shm/<name>), the very thing Python's SharedMemory makes, so either
 * side may create it and the other attach.  Names are Python's `.name`,
 * given with or without one leading slash: "psm_1a2b3c4d" and
 * "/psm_1a2b3c4d" are the same segment.  Lifecycle:
 *
 *   mp_shm_create()   makes a new segment, exclusively (-EEXIST if the name
 *                     is taken); no name: a random "psm_xxxxxxxx", as
 *                     Python's.  Mode 0600 (less if the umask says so).
 *   mp_shm_attach()   maps an existing one; its size comes from the segment.
 *   mp_shm_close()    unmaps it and frees the handle.  Never unlinks.
 *   mp_shm_unlink()   removes the name, and only when called: there is no
 *                     resource tracker.  Mappings stay valid until closed;
 *                     the memory goes with the last of them.
 *
 * What survives: a named segment outlives every process, the creator
 * included, until it is unlinked (or the machine reboots).  A process that
 * dies loses its mappings, never the segment.  Python's attaching processes
 * unlink segments they did not create at exit (its resource tracker:
 * CPython issue 82300): attach from Python 3.13 with
 * SharedMemory(name, track=False), and from older versions unregister it
 * (multiprocessing.resource_tracker.unregister(shm._name,
 * "shared_memory")) right after attaching.
 *
 * An anonymous segment (mp_shm_anon) is a memfd: it has no name and
 * lives as long as a descriptor or a mapping of it does.  It is shared by
 * fork (the child inherits the mapping and its copy of the handle) or by
 * sending its descriptor (mp_shm_fd, then mp_conn_send_fd /
 * mp_conn_recv_fd and mp_shm_attach_fd).  It is sealed against growing
 * and shrinking, so no holder can make a mapping of it fault.
 *
 * No SIGBUS.  Python's segments are sparse: pages are found on first touch,
 * and when /dev/shm is full (64 MiB in a default container) that touch
 * kills the process with SIGBUS.  mproc reserves every page when it creates
 * a segment (fallocate), so a full tmpfs is -ENOSPC from mp_shm_create and
 * a segment that exists can always be touched.  MP_SHM_SPARSE keeps
 * Python's behaviour (cheaper to create; the SIGBUS risk comes back).  The
 * one SIGBUS that remains: a peer with write access that truncates a
 * *named* segment (ftruncate) under others' mappings; touching the lost
 * pages raises SIGBUS in every process that maps them.  Give the segment
 * only to peers you trust with it, or use an anonymous (sealed) one.
 * Pages reserved for a segment count as the creator's memory (its cgroup).
 *
 * mproc's objects in a segment.  Lock, RLock, Semaphore, Condition, Event,
 * Barrier, Queue and Value/Array are plain position-independent structs
 * (offsets, no pointers), so they work inside a segment that two unrelated
 * programs map at different addresses.  One initialises them, the others
 * use them; agree on the offsets (a struct of your own does it):
 *
 *     struct board { mp_lock_t lock; mp_value_t hits; }; // 8-aligned
 *     // program A:
 *     mp_shm_t *s = mp_shm_create("board", sizeof(struct board), 0, &err);
 *     struct board *b = mp_shm_buf(s);
 *     mp_lock_init(&b->lock);
 *     mp_value_init(&b->hits, 'q', NULL, 0);
 *     // program B, any time later, another address:
 *     mp_shm_t *s = mp_shm_attach("board", 0, &err);
 *     struct board *b = mp_shm_buf(s);
 *     mp_value_add_i64(&b->hits, 1, NULL, MP_FOREVER);
 *
 * A queue needs mp_queue_footprint() bytes at a 64-byte boundary
 * (segments start on a page).  The robust locks recover from a holder's
 * death as anywhere else (mproc/sync.h); a process must not close the
 * segment while it holds a lock in it.  (A shared dict, mp_dict_*, will
 * join them with the managers.)
 *
 * Handles (mp_shm_t, mp_slist_t) are process-local and not thread-safe:
 * one thread closes a handle, after every other thread is done with it.
 * The memory itself is shared by everyone mapping it; mproc adds no lock.
 */
#ifndef MPROC_SHM_H
#define MPROC_SHM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <mproc/common.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct mp_shm mp_shm_t;

/* Flags. */
#define MP_SHM_SPARSE 0x1u /* create: do not reserve pages (Python's way) */
#define MP_SHM_RDONLY 0x2u /* attach: map read-only (writes fault) */

/* The longest name, without the slash (glibc's limit for shm_open). */
#define MP_SHM_NAME_MAX 253

/*
 * mp_shm_create - create the named segment `name` (NULL: a random
 * "psm_" + 8 hex digits) of size bytes, exclusively, and map it
 * read-write.  The memory reads as zeros.  flags: 0 or MP_SHM_SPARSE.
 * Returns the handle, or NULL with *err (may be NULL):
 *   -EINVAL  size 0 or beyond INT64_MAX, unknown flags, a bad name: empty,
 *            longer than MP_SHM_NAME_MAX, "." or "..", or a '/' anywhere
 *            but at the start;
 *   -EEXIST  the name is taken;
 *   -ENOSPC  /dev/shm has no room for size bytes (never with SPARSE; no
 *            name is left behind);
 *   -EACCES, -EMFILE, -ENOMEM, ...  as shm_open, fallocate and mmap.
 * The name appears only once the segment is whole (made as an unnamed
 * file in /dev/shm, O_TMPFILE, then linked under its name), so nobody can
 * attach it half made, and a failure leaves no name behind.  Where
 * O_TMPFILE cannot be had, the name is made first, as Python does, and an
 * attacher that comes in that instant sees a segment of size 0
 * (-ENODATA).
 */
MP_API mp_shm_t *mp_shm_create(const char *name, size_t size, unsigned flags,
                               int *err);

/*
 * mp_shm_attach - map the existing named segment, its whole size.
 * flags: 0 or MP_SHM_RDONLY.  NULL with *err: -ENOENT no such segment;
 * -EINVAL bad name or flags; -ENODATA the segment is empty (size 0,
 * nothing to map); -EACCES; -EMFILE, -ENOMEM.
 */
MP_API mp_shm_t *mp_shm_attach(const char *name, unsigned flags, int *err);

/*
 * mp_shm_anon - an anonymous segment of size bytes (a memfd sealed against
 * resizing), mapped read-write, reserved like mp_shm_create unless
 * MP_SHM_SPARSE.  Freed with its last descriptor and mapping.  NULL with
 * *err: -EINVAL (size, flags), -ENOSPC / -ENOMEM (no memory for it),
 * -EMFILE.
 */
MP_API mp_shm_t *mp_shm_anon(size_t size, unsigned flags, int *err);

/*
 * mp_shm_attach_fd - map an anonymous segment from its descriptor (one
 * received from mp_conn_recv_fd, say).  fd stays the caller's: the handle
 * keeps a duplicate.  flags: 0 or MP_SHM_RDONLY.  NULL with *err:
 * -EBADF fd is not open; -EINVAL not a memfd sealed against growing and
 * shrinking (so no holder could make our mapping fault), bad flags;
 * -ENODATA size 0; -EACCES (read-write on a read-only descriptor); -EMFILE.
 */
MP_API mp_shm_t *mp_shm_attach_fd(int fd, unsigned flags, int *err);

/*
 * mp_shm_close - unmap the segment, close its descriptor (anonymous) and
 * free the handle.  Never unlinks.  Objects in the segment must not be in
 * use by this process any more.  0, or -EINVAL (NULL).
 */
MP_API int mp_shm_close(mp_shm_t *s);

/*
 * mp_shm_unlink - remove the name: the segment goes once the last mapping
 * does; attaching by the name fails from now on.  0, -ENOENT (no such
 * segment), -EINVAL (bad name), -EACCES.
 */
MP_API int mp_shm_unlink(const char *name);

/* The mapping (page-aligned); NULL for a NULL handle. */
MP_API void *mp_shm_buf(const mp_shm_t *s);
/* Its size in bytes, as created (Python's .size); 0 for NULL. */
MP_API size_t mp_shm_size(const mp_shm_t *s);
/* Python's .name, without a slash ("" for an anonymous segment); NULL for
 * NULL. */
MP_API const char *mp_shm_name(const mp_shm_t *s);
/* An anonymous segment's descriptor (close-on-exec; the handle's: do not
 * close it), to send or to keep across exec.  -EINVAL for a named segment
 * (its descriptor is closed once it is mapped) or NULL. */
MP_API int mp_shm_fd(const mp_shm_t *s);

/* ---- ShareableList ---------------------------------------------------------- */

/*
 * A ShareableList is a fixed-length list of ints, floats, bools, None,
 * strs and bytes in a named segment, in the exact layout of Python's
 * multiprocessing.shared_memory.ShareableList (identical in 3.9-3.13):
 *
 *   0            int64 n, the number of items
 *   8            int64 offsets[n + 1] of each item's slot in the data area
 *   8(n + 2)     the data area: each slot 8 bytes ("q" int64, "d" double,
 *                "xxxxxxx?" bool in its last byte, "xxxxxx?x" None), or a
 *                multiple of 8 for str (UTF-8) and bytes ("<slot>s", NUL
 *                padded)
 *   then         n formats of 8 bytes (the struct format, NUL padded)
 *   then         n type codes of 1 byte (0 number/bool, 1 str, 2 bytes,
 *                3 None)
 *
 * A Python process attaches mproc's lists (ShareableList(name=...)) and
 * mproc attaches Python's.  The length is fixed; an item's type may change,
 * but a str or bytes never outgrows its slot: -EMSGSIZE.  Where Python goes
 * wrong, mproc does not:
 *  - a str's slot is sized by its UTF-8 bytes (Python sizes it by
 *    characters, and silently cuts multi-byte strings); Python reads such
 *    slots correctly;
 *  - trailing NUL bytes of a str or bytes survive between mproc processes
 *    in a list mproc created: their exact length is kept past Python's
 *    layout, at the end of the segment, where Python never looks.  Python
 *    drops trailing NULs when it reads (rstrip): that is the one loss, on
 *    the Python side only.  A Python write clears the mark, so mproc never
 *    reads a stale length.  In a list Python created there is no room for
 *    the length, and such a value is refused (-EOPNOTSUPP) instead of
 *    being cut.
 * There is no lock: a reader racing a writer of the same item may see
 * either, or a mix (Python's has none either).  Guard shared items with an
 * mp_lock_t of your own.  mproc validates what it reads, so a torn or
 * corrupt item is an error, never a crash.
 */
typedef struct mp_slist mp_slist_t;

enum mp_slist_type {
	MP_SLIST_NONE = 1,
	MP_SLIST_INT,   /* int64 ("q") */
	MP_SLIST_FLOAT, /* double ("d") */
	MP_SLIST_BOOL,  /* ("?") */
	MP_SLIST_STR,   /* UTF-8, data/len */
	MP_SLIST_BYTES, /* data/len */
};

/* One item.  For create and set fill type and the member it uses; get
 * fills them all (data points into the caller's buffer). */
typedef struct mp_slist_item {
	int type;         /* enum mp_slist_type */
	int64_t i;        /* INT; BOOL as 0 or 1 */
	double f;         /* FLOAT */
	const void *data; /* STR, BYTES: len bytes (NULs allowed) */
	size_t len;
	size_t room;      /* create: at least this many bytes of slot for a
	                   * STR or BYTES (0: Python's rule, len + 1 rounded
	                   * up to 8) */
} mp_slist_item_t;

/*
 * mp_slist_create - a new ShareableList of items[0..n) in a new named
 * segment (name NULL: a random one), as ShareableList(sequence, name=).
 * flags as mp_shm_create.  The name appears once the list is written
 * whole: an attacher never finds it zeroed (an empty list, to Python) or
 * half written.  NULL with *err: those of mp_shm_create;
 * -EINVAL items NULL with n > 0, an unknown type, data NULL with len > 0;
 * -EILSEQ a STR that is not valid UTF-8; -EMSGSIZE a str or bytes slot of
 * 10^7 bytes or more (its format would not fit Python's 8 bytes).
 */
MP_API mp_slist_t *mp_slist_create(const char *name,
                                   const mp_slist_item_t *items, size_t n,
                                   unsigned flags, int *err);
/*
 * mp_slist_attach - ShareableList(name=name).  flags: 0 or MP_SHM_RDONLY.
 * NULL with *err: those of mp_shm_attach; -EBADMSG the segment does not
 * hold a ShareableList (its count or offsets do not fit its size).  The
 * count and offsets are read once, here, as Python does; a zeroed segment
 * is a valid empty list (what a list Python is still creating looks like).
 */
MP_API mp_slist_t *mp_slist_attach(const char *name, unsigned flags,
                                   int *err);
/* mp_slist_close - close the segment (never unlinks); 0 or -EINVAL. */
MP_API int mp_slist_close(mp_slist_t *l);
/* The segment (for its name, or to mp_shm_unlink it); NULL for NULL. */
MP_API mp_shm_t *mp_slist_shm(const mp_slist_t *l);
/* The number of items, or -EINVAL. */
MP_API int64_t mp_slist_len(const mp_slist_t *l);

/*
 * mp_slist_get - item `index` (negative counts from the end, as Python)
 * into *out; a STR or BYTES is copied into buf (cap bytes, not
 * NUL-terminated) and out->data points there.  Returns 0.  Errors:
 * -EINVAL l or out NULL, buf NULL with cap > 0; -ERANGE index out of
 * range; -MP_ETOOSHORT cap is too small: out->len is the length needed;
 * -EBADMSG the item is malformed (an unknown format or type code, a length
 * beyond its slot: a corrupt list, or a writer caught half-way); -EILSEQ
 * a STR item that is not valid UTF-8.
 */
MP_API int mp_slist_get(mp_slist_t *l, int64_t index, mp_slist_item_t *out,
                        void *buf, size_t cap);
/*
 * mp_slist_set - store *v at index, as Python's l[index] = v (a str or
 * bytes keeps its slot; a number, bool or None takes the slot's first 8
 * bytes).  Errors: -EINVAL (NULLs, unknown type); -ERANGE index; -EMSGSIZE
 * a STR or BYTES longer than its slot (nothing is written); -EILSEQ a STR
 * that is not UTF-8; -EOPNOTSUPP a value ending in NUL into a list
 * Python created (see above; nothing is written); -EROFS attached
 * MP_SHM_RDONLY.
 */
MP_API int mp_slist_set(mp_slist_t *l, int64_t index,
                        const mp_slist_item_t *v);
/* Item index's slot size in bytes (what a STR or BYTES may take), or
 * -ERANGE / -EINVAL. */
MP_API int64_t mp_slist_room(const mp_slist_t *l, int64_t index);

#ifdef __cplusplus
}
#endif

#endif
