/*
 * peek.c - mptop's reader of a shared heap it did not make (peek.h): the
 * header, the registry, and whether a registered block is still live.
 * Only copies are looked at; the heap itself is never written.
 */
#include "heap.h"
#include "peek.h"

/* A copy of the header, checked against the mapping it came from. */
static int read_header(const struct mp__peek_src *s, struct heap *h)
{
	int r = s->read(s->ctx, 0, h, sizeof(*h));

	if (r < 0)
		return r;
	if (h->magic != HEAP_MAGIC)
		return -ENOENT;
	if (h->version != HEAP_VERSION)
		return -EPROTO;
	if (h->size != s->len || h->spans_off >= h->size ||
	    h->nspans > (h->size - h->spans_off) >> SPAN_SHIFT ||
	    h->reg_bits < 6 || h->reg_bits > 20 ||
	    h->reg_off + ((uint64_t)8 << h->reg_bits) > h->spans_off)
		return -EPROTO;
	return 0;
}

int mp__peek_heap(const struct mp__peek_src *s, struct mp__peek_heap *out)
{
	struct heap h;
	int r = read_header(s, &h);

	if (r < 0)
		return r;
	/* Relaxed: a private copy. */
	*out = (struct mp__peek_heap){
		.size = h.size,
		.nspans = h.nspans,
		.spans_used = atomic_load_explicit(&h.top, memory_order_relaxed),
		.bytes_live = atomic_load_explicit(&h.live, memory_order_relaxed),
		.reg_words = (uint64_t)1 << h.reg_bits,
		.untagged = atomic_load_explicit(&h.untagged,
		                                 memory_order_relaxed),
	};
	return 0;
}

/*
 * Is the block at off allocated?  Its span is a run's head (the block is
 * the run) or a small span whose bit for it is set.  An entry outlives its
 * block only when the block was freed by mp_heap_free instead of
 * mp_*_free; this keeps such a block from being shown.  1 yes, 0 no, or
 * a read's error.
 */
static int block_live(const struct mp__peek_src *s, const struct heap *h,
                      uint64_t off)
{
	if (off < h->spans_off || off >= h->size)
		return 0;
	uint64_t in = off - h->spans_off, span = in >> SPAN_SHIFT;
	uint64_t d = offsetof(struct heap, desc) + span * sizeof(struct span);
	uint32_t st;
	int r;

	if (span >= h->nspans || (r = s->read(s->ctx, d, &st, sizeof(st))) < 0)
		return span >= h->nspans ? 0 : r;
	in &= SPAN_SIZE - 1;
	if ((st & ST_KIND_MASK) == ST_HEAD)
		return in == 0;
	if ((st & ST_KIND_MASK) != ST_SMALL)
		return 0;
	uint64_t b = in >> (MIN_SHIFT + (st & ST_VAL_MASK)), bits;
	r = s->read(s->ctx, d + offsetof(struct span, bits) + b / 64 * 8,
	            &bits, sizeof(bits));
	return r < 0 ? r : (int)((bits >> (b % 64)) & 1);
}

int mp__peek_each(const struct mp__peek_src *s,
                  int (*fn)(unsigned kind, uint64_t off, void *arg), void *arg)
{
	struct heap h;
	uint64_t words[512];
	int r = read_header(s, &h);

	if (r < 0)
		return r;
	uint64_t n = (uint64_t)1 << h.reg_bits;
	for (uint64_t i = 0; i < n; i += 512) {
		size_t k = n - i < 512 ? (size_t)(n - i) : 512;
		if ((r = s->read(s->ctx, h.reg_off + i * 8, words, k * 8)) < 0)
			return r;
		for (size_t j = 0; j < k; j++) {
			if (words[j] <= REG_GONE)
				continue;
			uint64_t off = mp__reg_off(words[j]);
			if ((r = block_live(s, &h, off)) < 0)
				return r;
			if (r && (r = fn(mp__reg_kind(words[j]), off, arg)))
				return r;
		}
	}
	return 0;
}
