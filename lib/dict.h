/*
 * dict.h - the header of a shared dict, for dict.c and the tests that
 * look at its intent record after a kill.  Private.
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

/* Tests: kill the calling process at the n-th step of a change (dict.c);
 * 0: never. */
extern long mp__dict_crash_at;

#endif
