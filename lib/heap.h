/*
 * heap.h - the layout of the shared heap, shared by heap.c (the allocator),
 * heap_tag.c (the registry's writers) and peek.c (mptop's reader, which
 * sees the heap mapped at another address).  Private.
 *
 * Layout (offsets from the base; everything is position-independent except
 * the base itself, which every process of the family shares by inheritance):
 *
 *   struct heap      header: sizes, the span high-water mark, class hints
 *   struct span[]    one descriptor per span: a state word and a bitmap
 *   registry         1 << reg_bits words: what each object made by
 *                    mp_*_new is (see The registry)
 *   ...padding to a span boundary...
 *   spans            nspans spans of SPAN_SIZE bytes
 *
 * Span state word (struct span.state): the kind in the top 4 bits, a value
 * in the low 28.  Legal transitions, each a single atomic store or CAS:
 *
 *   UNBORN --(bump of top: the bumper owns it)--> SMALL|class, BUSY
 *   FREE, DIRTY --(CAS by a claimer)------------> BUSY
 *   BUSY   --(claimer, store-release)-----------> SMALL|class, HEAD|n, TAIL|k
 *   HEAD|n --(CAS by the freer)------------------> BUSY --> FREE or DIRTY
 *                                                  (tails first)
 *
 * UNBORN is 0, the content of a fresh mapping, so spans past `top` need no
 * initialisation.  SMALL spans keep their class for the life of the heap;
 * their blocks are taken and given back by CAS on the span's bitmap.  A
 * process killed between two steps leaves at most one BUSY run or one set
 * bit nobody owns: a leak, never a structure another process can trip on.
 */
#ifndef MPROC_LIB_HEAP_H
#define MPROC_LIB_HEAP_H

#include "internal.h"

#define SPAN_SHIFT 16
#define SPAN_SIZE ((size_t)1 << SPAN_SHIFT)
#define MIN_SHIFT 4                           /* smallest class: 16 bytes */
#define NCLASS (SPAN_SHIFT - 1 - MIN_SHIFT + 1) /* 16 B .. 32 KiB */
#define BITMAP_WORDS ((SPAN_SIZE >> MIN_SHIFT) / 64)

#define ST_KIND_MASK 0xF0000000u
#define ST_VAL_MASK 0x0FFFFFFFu
#define ST_UNBORN 0x00000000u
#define ST_FREE   0x10000000u
#define ST_SMALL  0x20000000u /* | class */
#define ST_HEAD   0x30000000u /* | number of spans in the run */
#define ST_TAIL   0x40000000u /* | distance from the head */
#define ST_BUSY   0x50000000u
#define ST_DIRTY  0x60000000u /* free, its pages kept (not zero) */

#define HEAP_MAGIC 0x6d706870u /* "mphp" */
#define HEAP_VERSION 2u        /* 2: the registry */

struct span {
	_Atomic uint32_t state;
	uint32_t reserved;
	_Atomic uint64_t bits[BITMAP_WORDS];
};

struct heap {
	uint32_t magic;
	uint32_t version;
	uint64_t size;
	uint64_t nspans;
	uint64_t spans_off;
	_Atomic uint32_t top;           /* spans [0, top) were handed out */
	_Atomic uint32_t hint[NCLASS];  /* 1 + a span of the class with room */
	_Atomic uint64_t live;          /* bytes in live blocks */
	_Atomic uint64_t dirty;         /* bytes in DIRTY spans */
	uint64_t reg_off;               /* the registry's words */
	uint32_t reg_bits;              /* log2 of their number */
	uint32_t reserved;
	_Atomic uint64_t untagged;      /* objects the registry had no room for */
	struct span desc[];
};

/*
 * The registry: what each live object made by mp_*_new is, so that mptop
 * can find and decode it.  Objects initialised in place (mp_lock_init on
 * the caller's memory) are not in it.  Written only by mp_*_new (after the
 * object is initialised) and mp_*_free (before it is destroyed), never by
 * lock, put, get or any other operation on the object.
 *
 * A word per entry, in an open-addressed table probed linearly over at
 * most REG_PROBE words from the hash of the block's offset:
 *
 *   REG_EMPTY (0)   never used: a probe stops here
 *   REG_GONE (1)    used, since freed: a maker may take it
 *   kind << 56 | offset >> 4    a live object of that kind (MP__KIND_*)
 *
 * Transitions: EMPTY or GONE -> entry (CAS, the maker); entry -> GONE
 * (store, the freer; nobody else writes an entry); a stale entry for the
 * same offset (its block freed by mp_heap_free directly) -> entry (store,
 * the block's new maker).  Words never go back to EMPTY, so an entry is
 * always before the first EMPTY of its probe.  A maker killed before its
 * CAS leaves an object mptop does not see; a freer killed after its store
 * leaks the block (it was leaking anyway).  A full window is counted in
 * `untagged`, and the object is simply not shown.
 */
#define REG_EMPTY 0ull
#define REG_GONE 1ull
#define REG_PROBE 16u
#define REG_KIND_SHIFT 56

enum mp__kind {
	MP__KIND_LOCK = 1,
	MP__KIND_RLOCK,
	MP__KIND_SEM,
	MP__KIND_EVENT,
	MP__KIND_QUEUE,
	MP__KIND_POOL,
};

static inline uint64_t mp__reg_entry(unsigned kind, uint64_t off)
{
	return (uint64_t)kind << REG_KIND_SHIFT | off >> MIN_SHIFT;
}

static inline unsigned mp__reg_kind(uint64_t e)
{
	return (unsigned)(e >> REG_KIND_SHIFT);
}

static inline uint64_t mp__reg_off(uint64_t e)
{
	return (e & (((uint64_t)1 << REG_KIND_SHIFT) - 1)) << MIN_SHIFT;
}

/* The first word of the probe for offset off (Fibonacci hashing). */
static inline uint64_t mp__reg_home(uint64_t off, unsigned bits)
{
	return ((off >> MIN_SHIFT) * 0x9e3779b97f4a7c15ull) >> (64 - bits);
}

/* The calling process's heap, or NULL when it was never made. */
struct heap *mp__heap_self(void);

/* Record obj (a block of the heap, initialised as a `kind`) in the
 * registry; forget it.  Neither fails: an object that is not recorded is
 * only not shown by mptop. */
void mp__heap_tag(const void *obj, enum mp__kind kind);
void mp__heap_untag(const void *obj);

#endif
