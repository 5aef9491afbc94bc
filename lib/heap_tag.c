/*
 * heap_tag.c - the registry's writers: mp_*_new records what it made,
 * mp_*_free forgets it (heap.h: The registry).  Only those two ever come
 * here; the operations on an object never do.
 */
#include "heap.h"

static _Atomic uint64_t *reg_words(struct heap *h)
{
	return (_Atomic uint64_t *)(void *)((char *)h + h->reg_off);
}

/* obj's offset in h, or 0 when it is not a block of h (spans_off > 0). */
static uint64_t offset_of(struct heap *h, const void *obj)
{
	uintptr_t p = (uintptr_t)obj, b = (uintptr_t)h;

	if (!h || p < b + h->spans_off || p >= b + h->size)
		return 0;
	return p - b;
}

/* The word of obj's entry, or NULL: up to the first EMPTY of its probe
 * (see heap.h: an entry is never behind one). */
static _Atomic uint64_t *find(struct heap *h, uint64_t off)
{
	_Atomic uint64_t *w = reg_words(h);
	uint64_t mask = ((uint64_t)1 << h->reg_bits) - 1;
	uint64_t home = mp__reg_home(off, h->reg_bits);

	for (unsigned i = 0; i < REG_PROBE; i++) {
		_Atomic uint64_t *slot = &w[(home + i) & mask];
		uint64_t e = atomic_load_explicit(slot, memory_order_relaxed);
		if (e == REG_EMPTY)
			return NULL;
		if (e > REG_GONE && mp__reg_off(e) == off)
			return slot;
	}
	return NULL;
}

void mp__heap_tag(const void *obj, enum mp__kind kind)
{
	struct heap *h = mp__heap_self();
	uint64_t off = offset_of(h, obj);
	if (!off)
		return;
	uint64_t want = mp__reg_entry(kind, off);
	/* A stale entry for this very block (freed by mp_heap_free, not
	 * mp_*_free): the block is ours now, and so is the entry.  Release,
	 * here and below: the object's initialisation before its entry,
	 * for a reader that follows the entry to it. */
	_Atomic uint64_t *slot = find(h, off);
	if (slot) {
		atomic_store_explicit(slot, want, memory_order_release);
		return;
	}
	_Atomic uint64_t *w = reg_words(h);
	uint64_t mask = ((uint64_t)1 << h->reg_bits) - 1;
	uint64_t home = mp__reg_home(off, h->reg_bits);
	for (unsigned i = 0; i < REG_PROBE; i++) {
		slot = &w[(home + i) & mask];
		uint64_t e = atomic_load_explicit(slot, memory_order_relaxed);
		while (e <= REG_GONE) {
			if (atomic_compare_exchange_weak_explicit(slot, &e, want,
			        memory_order_release, memory_order_relaxed))
				return;
		}
	}
	atomic_fetch_add_explicit(&h->untagged, 1, memory_order_relaxed);
}

void mp__heap_untag(const void *obj)
{
	struct heap *h = mp__heap_self();
	uint64_t off = offset_of(h, obj);
	_Atomic uint64_t *slot = off ? find(h, off) : NULL;

	/* Relaxed: only this freer writes the entry, and a maker that still
	 * reads it live just takes it over as stale. */
	if (slot)
		atomic_store_explicit(slot, REG_GONE, memory_order_relaxed);
}
