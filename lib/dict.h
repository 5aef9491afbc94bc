/*
 * dict.h - the layout of a shared dict, for dict.c (changes, crash
 * safety, the API), dict_key.c (keys), dict_snap.c (snapshots, figures)
 * and the tests that look at its intent record after a kill.  Private.
 */
#ifndef MPROC_LIB_DICT_H
#define MPROC_LIB_DICT_H

#include "internal.h"

#define DICT_MAGIC 0x6d706463u /* "mpdc" */
#define F_HEAP 0x100u          /* lives in the heap (private flag) */

#define NCLS 36                /* arena units of 32 B .. 1 TiB */
#define HDR_SIZE 512           /* the arena's first unit follows */

enum { OP_NONE, OP_SET, OP_DEL, OP_RESIZE, OP_CLEAR };

/*
 * The intent record.  `op` is written last when a change begins (release:
 * the fields before it), and OP_NONE when it ends (release: all of the
 * change before it).  fresh: the block taken for the change (a payload
 * offset, 0: none yet), with, in an arena, where it came from (src);
 * stale: the block it gives up; link: offset of the 64-bit word whose
 * store commits it (a slot's offset field).  Written by the lock's holder
 * only.
 */
struct intent {
	_Atomic uint32_t op;
	_Atomic uint32_t src;
	_Atomic int64_t fresh;
	_Atomic int64_t stale;
	_Atomic int64_t link;
};

/* Offsets are from the header's first byte, signed (a heap block may lie
 * below it). */
struct mp_dict {
	mp_lock_t lock;
	uint32_t magic;
	uint32_t flags;          /* MP_DICT_* | F_HEAP */
	uint64_t k0, k1;         /* the hash key, random, fixed at creation */
	_Atomic int64_t table;   /* offset of the table block */
	_Atomic uint64_t len;    /* live keys; read without the lock */
	uint64_t used;           /* live and tombstone slots */
	uint64_t seq;            /* the next insertion number */
	uint64_t deaths;         /* holders found dead (mp_dict_stats) */
	uint64_t repairs;        /* ... in the middle of a change */
	struct intent in;
	/* arena only */
	uint64_t size;           /* the arena's bytes, header included */
	_Atomic uint64_t top;    /* offset of the first byte never handed out */
	_Atomic int64_t head[NCLS]; /* free units of 32 << c bytes (offsets) */
};

_Static_assert(sizeof(struct mp_dict) <= HDR_SIZE, "header fits");
_Static_assert(__builtin_offsetof(struct mp_dict, lock) == 0,
               "the lock first (tests hold it through the dict)");

#define UNIT_HDR 16            /* an arena unit's header */
#define MIN_CAP 8              /* a table's first size */
#define TOMB 1                 /* a slot's offset: deleted (blocks are
                                * 16-aligned, never at offset 1) */

/* An arena unit's header; its payload follows (blocks' offsets are
 * their payloads'). */
struct dict_unit {
	uint32_t magic;
	uint32_t cls;
	int64_t next;            /* the next free unit, while free */
};

/* An entry: written whole before a slot names it, never changed after. */
struct dict_entry {
	uint64_t hash;
	uint64_t seq;
	uint32_t klen;
	uint32_t vlen;
	uint64_t pad;
	unsigned char data[];    /* key, then value */
};

/* A table slot: linear probing, at most half the slots used. */
struct dict_slot {
	_Atomic uint64_t hash;
	_Atomic int64_t off;     /* 0 empty, TOMB, or an entry */
};

struct dict_table {
	uint64_t cap;            /* a power of two */
	uint64_t pad;
	struct dict_slot s[];
};

_Static_assert(sizeof(struct dict_entry) == 32 &&
               sizeof(struct dict_unit) == UNIT_HDR,
               "entry and unit headers keep payloads 16-aligned");

#define UNIT_MAGIC 0x6d70756eu /* "mpun" */

static inline void *at(const mp_dict_t *d, int64_t off)
{
	return (char *)d + off;
}

static inline int64_t off_of(const mp_dict_t *d, const void *p)
{
	return (const char *)p - (const char *)d;
}

static inline struct dict_table *table_of(const mp_dict_t *d)
{
	return at(d, atomic_load_explicit(&((mp_dict_t *)d)->table,
	                                  memory_order_acquire));
}

static inline bool in_heap(const mp_dict_t *d)
{
	return d->flags & F_HEAP;
}

static inline mp_dict_t *dict_of(const void *p)
{
	const mp_dict_t *d = p;
	return p && ((uintptr_t)p & 63) == 0 && d->magic == DICT_MAGIC ?
	       (mp_dict_t *)d : NULL;
}


/* The size class of an arena unit of n bytes (32 << class). */
static inline int cls_of(uint64_t n)
{
	int c = 0;
	while (c < NCLS && ((uint64_t)32 << c) < n)
		c++;
	return c;
}

/* The bytes of a table of cap slots. */
static inline uint64_t table_bytes(uint64_t cap)
{
	return sizeof(struct dict_table) + cap * sizeof(struct dict_slot);
}

/* A key, checked and hashed before the lock is taken (dict_key.c). */
struct dict_key {
	const void *p;
	size_t n;
	uint64_t h;
	mp_obj_t *obj;   /* MP_DICT_PYKEYS: the decoded key */
	bool nan;        /* ... holds a NaN: equal to no stored key */
};

/* Check a key and compute its hash (decoding it for MP_DICT_PYKEYS).
 * 0 or a negative code; a key made must be given to key_done. */
int mp__dict_key_make(const mp_dict_t *d, const void *p, size_t n,
                      struct dict_key *k);
void mp__dict_key_done(struct dict_key *k);
/* Is entry e's key k?  1, 0, or -ENOMEM (decoding a stored key). */
int mp__dict_key_match(const struct dict_entry *e, const struct dict_key *k);

/* Take the lock, repairing after a dead holder (dict.c); release it. */
int mp__dict_lock(mp_dict_t *d, int64_t timeout_ns);
void mp__dict_unlock(mp_dict_t *d);

/* Tests: kill the calling process at the n-th step of a change (dict.c);
 * 0: never. */
extern long mp__dict_crash_at;

#endif
