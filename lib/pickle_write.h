/*
 * pickle_write.h - the pickler's output: a growable buffer with CPython's
 * framing, and its memo.  Between pickle_write.c and pickle_dump.c.
 *
 * Framing (protocol 4 and up) is CPython's: a frame opens at the first
 * write after PROTO (9 bytes are reserved for its FRAME opcode), and is
 * committed when an object starts being saved (pw_boundary) once it holds
 * MP__PICKLE_FRAME_TARGET bytes, and at the end; a frame shorter than
 * MP__PICKLE_FRAME_MIN loses its reserved header.  A bytes, str or
 * bytearray payload of MP__PICKLE_FRAME_TARGET bytes or more commits the
 * frame before its opcode, and goes with its opcode outside any frame.
 *
 * The memo: CPython numbers every object it memoizes, and writes a GET
 * when it meets the same object again.  Here a node with one reference
 * can be met only once, so only nodes with more (mp__obj_refcnt) are
 * looked up and recorded, by address.  The objects CPython shares by
 * value - the empty str and bytes, one-character str below U+0100, bytes
 * of one byte, 'latin1', module names - are recorded under a key of their
 * value (pw_key_*), and globals under their names.
 */
#ifndef MPROC_LIB_PICKLE_WRITE_H
#define MPROC_LIB_PICKLE_WRITE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "internal.h"
#include "pickle_ops.h"

#define PW_NO_FRAME SIZE_MAX
#define PW_FRAME_HDR 9 /* FRAME and an 8-byte length */

struct pw_id {
	const void *key; /* NULL: empty slot */
	uint32_t idx;
};

struct pw_glob {
	char *key; /* "module\nqualname", or "module" for a module name */
	uint64_t hash;
	uint32_t idx;
};

struct mp__pw {
	uint8_t *buf;
	size_t len, cap;   /* len counts the headroom */
	size_t frame;      /* offset of the open frame's header, PW_NO_FRAME */
	bool framing;
	int proto;
	int err;           /* the first error; writes do nothing after it */
	uint32_t memo;     /* objects memoized so far */
	struct pw_id *ids; /* open addressing, ids_mask + 1 slots */
	uint32_t ids_mask, ids_n;
	struct pw_glob *globs;
	uint32_t globs_mask, globs_n;
};

/* Make room for n more bytes (and a frame header when one must open):
 * the place to write them, or NULL with w->err set. */
uint8_t *mp__pw_grow(struct mp__pw *w, size_t n);

static inline uint8_t *pw_put(struct mp__pw *w, size_t n)
{
	if (__builtin_expect(w->frame == PW_NO_FRAME && w->framing, 0) ||
	    __builtin_expect(w->cap - w->len < n, 0))
		return mp__pw_grow(w, n);
	uint8_t *p = w->buf + w->len;
	w->len += n;
	return p;
}

static inline void pw_op(struct mp__pw *w, uint8_t op)
{
	uint8_t *p = pw_put(w, 1);
	if (p)
		*p = op;
}

static inline void pw_le32(uint8_t *p, uint32_t v)
{
	memcpy(p, &v, 4); /* x86-64 and every Linux target we build: LE */
}

static inline void pw_le64(uint8_t *p, uint64_t v)
{
	memcpy(p, &v, 8);
}

/* Commit the open frame (FRAME_MIN rule); no frame is open after. */
void mp__pw_commit_frame(struct mp__pw *w);

/* CPython's opcode boundary, at the start of every save. */
static inline void pw_boundary(struct mp__pw *w)
{
	if (w->frame != PW_NO_FRAME &&
	    w->len - w->frame - PW_FRAME_HDR >= MP__PICKLE_FRAME_TARGET)
		mp__pw_commit_frame(w);
}

/* An opcode of hlen bytes then n bytes of data: outside any frame when n
 * reaches MP__PICKLE_FRAME_TARGET, as CPython writes big payloads. */
void mp__pw_bytes(struct mp__pw *w, const uint8_t *hdr, size_t hlen,
                  const void *data, size_t n);

/* Memoize the object just written: MEMOIZE (protocol 4+) or BINPUT /
 * LONG_BINPUT; record it under key unless key is NULL. */
void mp__pw_memoize(struct mp__pw *w, const void *key);
/* The memo index recorded for key, or -1. */
int64_t mp__pw_memo_find(const struct mp__pw *w, const void *key);
/* BINGET / LONG_BINGET. */
void mp__pw_get(struct mp__pw *w, uint32_t idx);

/* Globals and module names by name (key as in struct pw_glob, klen
 * bytes): the memo index, or -1; and record one. */
int64_t mp__pw_glob_find(const struct mp__pw *w, const char *key,
                         size_t klen, uint64_t *hash);
void mp__pw_glob_add(struct mp__pw *w, const char *key, size_t klen,
                     uint64_t hash, uint32_t idx);

void mp__pw_free(struct mp__pw *w);

/* MEMOIZE: inline for what nobody can meet again (no key, the common
 * case), else mp__pw_memoize. */
static inline void pw_memoize(struct mp__pw *w, const void *key)
{
	if (!key && w->proto >= 4) {
		w->memo++;
		pw_op(w, P_MEMOIZE);
	} else {
		mp__pw_memoize(w, key);
	}
}

/* pickle_global.c.  A str's opcode and UTF-8 (already surrogatepass). */
void mp__pw_str(struct mp__pw *w, const char *s, size_t n);
/* Save a str that is no node (a name, 'latin1'): boundary, memo, under
 * key (NULL: the value's, for the strs CPython shares). */
void mp__pw_str_value(struct mp__pw *w, const char *s, size_t n,
                      const void *key);
/* Save the global module.qualname (a GET when already written). */
void mp__pw_global(struct mp__pw *w, const char *mod, size_t ml,
                   const char *qn, size_t ql);
void mp__pw_builtin(struct mp__pw *w, const char *name);
/* bytes in protocol 2, after its boundary, memoized under key. */
void mp__pw_bytes_p2(struct mp__pw *w, const uint8_t *d, size_t n,
                     const void *key);

/* Keys for the objects CPython shares by value. */
const void *mp__pw_key_str(const char *utf8, size_t n); /* or NULL */
const void *mp__pw_key_bytes(size_t n, const uint8_t *b); /* or NULL */
extern const char mp__pw_key_latin1[1];

/* pickle_compat.c: protocol 2's names for a global (fix_imports). */
void mp__pickle_compat_name(const char **module, const char **name);

#endif
