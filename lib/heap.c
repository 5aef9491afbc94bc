/*
 * heap.c - the shared heap: one MAP_SHARED reservation per process family,
 * allocated from without locks so that a death can never leave it held.
 *
 * The layout and the span state word are described in heap.h, which
 * mptop's reader (peek.c) shares.
 *
 * Memory ordering: the release store that publishes a span's final state
 * pairs with the acquire load in free() and in the allocator's scans, so a
 * span's state is never seen before the claimer's writes to it.  Bitmap CASes
 * are acq_rel: taking a block acquires the freer's last writes to it.
 */
#include "heap.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

/* Freed runs up to this many spans keep their pages (ST_DIRTY), as long as
 * all such pages stay under DIRTY_MAX: reusing a hot block costs a memset
 * at most, giving its pages back costs a page fault per page next time. */
#define KEEP_SPANS 16
#define DIRTY_MAX ((uint64_t)64 << 20)

static struct heap *_Atomic the_heap;
static pthread_mutex_t heap_init_lock = PTHREAD_MUTEX_INITIALIZER;

static inline char *span_addr(struct heap *h, size_t s)
{
	return (char *)h + h->spans_off + (s << SPAN_SHIFT);
}

static int parse_size(const char *s, size_t *out)
{
	char *end;
	unsigned long long v = strtoull(s, &end, 10);
	unsigned shift = 0;

	if (end == s)
		return -EINVAL;
	switch (*end) {
	case 'k': case 'K': shift = 10; end++; break;
	case 'm': case 'M': shift = 20; end++; break;
	case 'g': case 'G': shift = 30; end++; break;
	default: break;
	}
	if (*end || v > (SIZE_MAX >> shift))
		return -EINVAL;
	*out = (size_t)v << shift;
	return 0;
}

/* Registry words for a heap of `size` bytes: one per 16 KiB, a power of
 * two from 64 to 2^20 (the pages are touched only as entries land). */
static unsigned reg_bits(size_t size)
{
	unsigned bits = 6;
	while (bits < 20 && ((size_t)1 << (bits + 14)) < size)
		bits++;
	return bits;
}

static int heap_create(size_t size)
{
	if (size == 0) {
		const char *env = getenv("MPROC_HEAP_SIZE");
		size = MP_HEAP_DEFAULT_SIZE;
		if (env && parse_size(env, &size) < 0)
			return -EINVAL;
	}
	if (size < MP_HEAP_MIN_SIZE || size > ((size_t)1 << 46))
		return -EINVAL;
	size = MP__ALIGN_UP(size, SPAN_SIZE);
	unsigned bits = reg_bits(size);
	uint64_t reg_bytes = (uint64_t)8 << bits;
	/* 64: the registry's alignment, at most 56 bytes of padding. */
	uint64_t nspans = (size - sizeof(struct heap) - 64 - reg_bytes -
	                   SPAN_SIZE) / (SPAN_SIZE + sizeof(struct span));
	uint64_t reg = MP__ALIGN_UP(sizeof(struct heap) +
	                            nspans * sizeof(struct span), 64);
	uint64_t off = MP__ALIGN_UP(reg + reg_bytes, SPAN_SIZE);
	int err = 0;
	struct heap *h = mp_sys_map_shared(size, &err);
	if (!h)
		return err;
	h->magic = HEAP_MAGIC;
	h->version = HEAP_VERSION;
	h->size = size;
	h->nspans = nspans;
	h->spans_off = off;
	h->reg_off = reg;
	h->reg_bits = bits;
	/* Release: another thread that sees the pointer sees the header. */
	atomic_store_explicit(&the_heap, h, memory_order_release);
	return 0;
}

static int heap_get(size_t size, struct heap **out)
{
	struct heap *h = atomic_load_explicit(&the_heap, memory_order_acquire);
	int r = 0;

	if (!h) {
		mp__atfork_register();
		pthread_mutex_lock(&heap_init_lock);
		h = atomic_load_explicit(&the_heap, memory_order_acquire);
		if (!h) {
			r = heap_create(size);
			h = atomic_load_explicit(&the_heap,
			                         memory_order_acquire);
		}
		pthread_mutex_unlock(&heap_init_lock);
	}
	*out = h;
	return h ? 0 : r;
}

struct heap *mp__heap_self(void)
{
	return atomic_load_explicit(&the_heap, memory_order_acquire);
}

int mp__heap_ensure(void)
{
	struct heap *h;
	return heap_get(0, &h);
}

int mp_heap_init(size_t size)
{
	struct heap *h = atomic_load_explicit(&the_heap, memory_order_acquire);

	if (size != 0 && size < MP_HEAP_MIN_SIZE)
		return -EINVAL;
	if (!h) {
		int r = heap_get(size, &h);
		if (r < 0)
			return r;
	}
	if (size != 0 && h->size != MP__ALIGN_UP(size, SPAN_SIZE))
		return -EEXIST;
	return 0;
}

/* Take a free block of class cls in span s; the block index or -1. */
static long take_block(struct span *d, unsigned cls)
{
	size_t nblocks = SPAN_SIZE >> (cls + MIN_SHIFT);
	size_t nwords = (nblocks + 63) / 64;

	for (size_t w = 0; w < nwords; w++) {
		uint64_t full = nblocks >= 64 ? ~0ull : (1ull << nblocks) - 1;
		uint64_t v = atomic_load_explicit(&d->bits[w],
		                                  memory_order_relaxed);
		while ((v & full) != full) {
			unsigned bit = (unsigned)__builtin_ctzll(~v);
			if (atomic_compare_exchange_weak_explicit(&d->bits[w],
			        &v, v | (1ull << bit), memory_order_acq_rel,
			        memory_order_relaxed))
				return (long)(w * 64 + bit);
		}
	}
	return -1;
}

static inline bool is_free(uint32_t st)
{
	return st == ST_FREE || st == ST_DIRTY;
}

/* Take span i from FREE or DIRTY to BUSY; counts a dirty one in *dirty. */
static bool claim_span(struct heap *h, uint32_t i, uint32_t *dirty)
{
	uint32_t st = atomic_load_explicit(&h->desc[i].state,
	                                   memory_order_relaxed);
	if (!is_free(st) || !atomic_compare_exchange_strong_explicit(
	        &h->desc[i].state, &st, ST_BUSY, memory_order_acquire,
	        memory_order_relaxed))
		return false;
	if (st == ST_DIRTY) {
		atomic_fetch_sub_explicit(&h->dirty, SPAN_SIZE,
		                          memory_order_relaxed);
		++*dirty;
	}
	return true;
}

/*
 * Claim a run of n spans for the caller, leaving them BUSY (or UNBORN past
 * the old top, which only the caller can reach).  First reuse free runs
 * below top, then bump top.  Returns the first span's index or -ENOMEM;
 * *dirty: whether any span of it still holds old bytes.
 */
static long claim_run(struct heap *h, uint32_t n, bool *dirty)
{
	uint32_t top = atomic_load_explicit(&h->top, memory_order_acquire);

	*dirty = false;
	for (uint32_t i = 0; i + n <= top;) {
		uint32_t j = 0, ndirty = 0;
		while (j < n && is_free(atomic_load_explicit(&h->desc[i + j].state,
		                                             memory_order_relaxed)))
			j++;
		if (j < n) {
			i += j + 1;
			continue;
		}
		uint32_t k = 0;
		while (k < n && claim_span(h, i + k, &ndirty))
			k++;
		if (k == n) {
			*dirty = ndirty > 0;
			return i;
		}
		/* Lost a race: give back what we took (as dirty: its bytes
		 * are whatever they were). */
		while (k--) {
			atomic_fetch_add_explicit(&h->dirty, SPAN_SIZE,
			                          memory_order_relaxed);
			atomic_store_explicit(&h->desc[i + k].state, ST_DIRTY,
			                      memory_order_release);
		}
		i++;
	}
	do {
		if ((uint64_t)top + n > h->nspans)
			return -ENOMEM;
	} while (!atomic_compare_exchange_weak_explicit(&h->top, &top, top + n,
	             memory_order_acq_rel, memory_order_acquire));
	return top;
}

/* A block from span i if it belongs to class cls; its index or -1. */
static long take_from(struct heap *h, uint32_t i, unsigned cls)
{
	if (atomic_load_explicit(&h->desc[i].state, memory_order_acquire) !=
	    (ST_SMALL | cls))
		return -1;
	return take_block(&h->desc[i], cls);
}

/* A free block of class cls: the hinted span first, then every span. */
static long find_block(struct heap *h, unsigned cls, uint32_t *span)
{
	uint32_t top = atomic_load_explicit(&h->top, memory_order_acquire);
	uint32_t hint = atomic_load_explicit(&h->hint[cls],
	                                     memory_order_relaxed);
	long b;

	if (hint && hint - 1 < top && (b = take_from(h, hint - 1, cls)) >= 0) {
		*span = hint - 1;
		return b;
	}
	for (uint32_t s = 0; s < top; s++) {
		if ((b = take_from(h, s, cls)) >= 0) {
			atomic_store_explicit(&h->hint[cls], s + 1,
			                      memory_order_relaxed);
			*span = s;
			return b;
		}
	}
	return -1;
}

static void *alloc_small(struct heap *h, unsigned cls, bool zero)
{
	size_t bsz = (size_t)16 << cls;
	uint32_t s;
	long b;

	while ((b = find_block(h, cls, &s)) < 0) {
		bool dirty; /* small blocks are zeroed on allocation anyway */
		long ns = claim_run(h, 1, &dirty);
		if (ns < 0)
			return NULL;
		atomic_store_explicit(&h->desc[ns].state, ST_SMALL | cls,
		                      memory_order_release);
		atomic_store_explicit(&h->hint[cls], (uint32_t)ns + 1,
		                      memory_order_relaxed);
	}
	char *p = span_addr(h, s) + (size_t)b * bsz;
	if (zero)
		memset(p, 0, bsz);
	atomic_fetch_add_explicit(&h->live, bsz, memory_order_relaxed);
	return p;
}

static void *alloc_large(struct heap *h, size_t size, bool zero)
{
	if (size > (size_t)h->nspans << SPAN_SHIFT)
		return NULL;
	uint32_t n = (uint32_t)((size + SPAN_SIZE - 1) >> SPAN_SHIFT);
	bool dirty;
	long s = claim_run(h, n, &dirty);
	if (s < 0)
		return NULL;
	/* Fresh and FREE spans read as zero (never touched, or discarded);
	 * DIRTY ones are cleared here when the caller wants zeroes. */
	if (dirty && zero)
		memset(span_addr(h, (size_t)s), 0, size);
	for (uint32_t k = 1; k < n; k++)
		atomic_store_explicit(&h->desc[s + k].state, ST_TAIL | k,
		                      memory_order_relaxed);
	atomic_store_explicit(&h->desc[s].state, ST_HEAD | n,
	                      memory_order_release);
	atomic_fetch_add_explicit(&h->live, (uint64_t)n << SPAN_SHIFT,
	                          memory_order_relaxed);
	return span_addr(h, (size_t)s);
}

static void *heap_alloc(size_t size, bool zero, int *err)
{
	int dummy;
	struct heap *h;

	if (!err)
		err = &dummy;
	if (size == 0) {
		*err = -EINVAL;
		return NULL;
	}
	int r = heap_get(0, &h);
	if (r < 0) {
		*err = r;
		return NULL;
	}
	void *p;
	if (size <= SPAN_SIZE / 2) {
		unsigned cls = size <= 16 ? 0 : (unsigned)(64 -
		               __builtin_clzll((unsigned long long)size - 1)) -
		               MIN_SHIFT;
		p = alloc_small(h, cls, zero);
	} else {
		p = alloc_large(h, size, zero);
	}
	if (!p)
		*err = -ENOMEM;
	return p;
}

void *mp_heap_alloc(size_t size, int *err)
{
	return heap_alloc(size, true, err);
}

void *mp__heap_alloc_raw(size_t size, int *err)
{
	return heap_alloc(size, false, err);
}

int mp_heap_contains(const void *ptr)
{
	struct heap *h = atomic_load_explicit(&the_heap, memory_order_acquire);
	uintptr_t p = (uintptr_t)ptr, b = (uintptr_t)h;

	return h && p >= b && p < b + h->size;
}

static int free_large(struct heap *h, size_t s, uint32_t st)
{
	uint32_t n = st & ST_VAL_MASK;

	/* Only one freer wins; a racing double free sees BUSY and fails. */
	if (!atomic_compare_exchange_strong_explicit(&h->desc[s].state, &st,
	        ST_BUSY, memory_order_acquire, memory_order_relaxed))
		return -EINVAL;
	char *p = span_addr(h, s);
	uint64_t bytes = (uint64_t)n << SPAN_SHIFT;
	uint32_t to = ST_FREE;
	if (n <= KEEP_SPANS && atomic_fetch_add_explicit(&h->dirty, bytes,
	        memory_order_relaxed) + bytes <= DIRTY_MAX) {
		to = ST_DIRTY;
	} else {
		if (n <= KEEP_SPANS) /* over budget: take the count back */
			atomic_fetch_sub_explicit(&h->dirty, bytes,
			                          memory_order_relaxed);
		if (mp_sys_discard(p, (size_t)bytes) < 0)
			memset(p, 0, (size_t)bytes);
	}
	atomic_fetch_sub_explicit(&h->live, bytes, memory_order_relaxed);
	for (uint32_t k = n; k-- > 0;)
		atomic_store_explicit(&h->desc[s + k].state, to,
		                      memory_order_release);
	return 0;
}

int mp_heap_free(void *ptr)
{
	if (!ptr)
		return 0;
	if (!mp_heap_contains(ptr))
		return -EINVAL;
	struct heap *h = atomic_load_explicit(&the_heap, memory_order_relaxed);
	uintptr_t base = (uintptr_t)h + h->spans_off;
	if ((uintptr_t)ptr < base)
		return -EINVAL;
	size_t off = (uintptr_t)ptr - base, s = off >> SPAN_SHIFT;
	size_t in = off & (SPAN_SIZE - 1);
	if (s >= atomic_load_explicit(&h->top, memory_order_acquire))
		return -EINVAL;
	uint32_t st = atomic_load_explicit(&h->desc[s].state,
	                                   memory_order_acquire);
	switch (st & ST_KIND_MASK) {
	case ST_SMALL: {
		unsigned cls = st & ST_VAL_MASK;
		size_t bsz = (size_t)16 << cls, b = in / bsz;
		if (in % bsz)
			return -EINVAL;
		uint64_t mask = 1ull << (b % 64);
		/* Release: our last writes to the block happen before the
		 * next owner's acquire CAS in take_block(). */
		uint64_t old = atomic_fetch_and_explicit(
		        &h->desc[s].bits[b / 64], ~mask, memory_order_release);
		if (!(old & mask))
			return -EINVAL; /* not allocated: a double free */
		atomic_fetch_sub_explicit(&h->live, bsz, memory_order_relaxed);
		return 0;
	}
	case ST_HEAD:
		return in ? -EINVAL : free_large(h, s, st);
	default:
		return -EINVAL;
	}
}

int mp_heap_stats(mp_heap_stats_t *st)
{
	struct heap *h = atomic_load_explicit(&the_heap, memory_order_acquire);

	if (!st)
		return -EINVAL;
	if (!h)
		return -ENOENT;
	st->size = h->size;
	st->span_size = SPAN_SIZE;
	st->spans = h->nspans;
	st->spans_used = atomic_load_explicit(&h->top, memory_order_relaxed);
	st->bytes_live = atomic_load_explicit(&h->live, memory_order_relaxed);
	return 0;
}
