/*
 * dict_snap.c - a shared dict's snapshots (its items, copied out in one
 * hold of the lock) and figures.
 */
#include "dict.h"

#include <stdlib.h>

struct snap_item {
	uint64_t seq;
	const unsigned char *key;
	uint32_t klen;
	uint32_t vlen;
	const unsigned char *value;
};

struct mp_dict_snap {
	size_t n;
	struct snap_item items[];
	/* then the keys' and values' bytes */
};

static int by_seq(const void *a, const void *b)
{
	uint64_t x = ((const struct snap_item *)a)->seq;
	uint64_t y = ((const struct snap_item *)b)->seq;
	return (x > y) - (x < y);
}

/* Copy every live entry out (with the lock held). */
static mp_dict_snap_t *snap_locked(mp_dict_t *d)
{
	struct dict_table *t = table_of(d);
	size_t n = 0, bytes = 0;
	for (uint64_t i = 0; i < t->cap; i++) {
		int64_t o = atomic_load_explicit(&t->s[i].off,
		                                 memory_order_relaxed);
		if (o && o != TOMB) {
			struct dict_entry *e = at(d, o);
			n++;
			bytes += (size_t)e->klen + e->vlen;
		}
	}
	mp_dict_snap_t *s = malloc(sizeof(*s) + n * sizeof(s->items[0]) +
	                           bytes);
	if (!s)
		return NULL;
	unsigned char *p = (unsigned char *)&s->items[n];
	s->n = 0;
	for (uint64_t i = 0; i < t->cap; i++) {
		int64_t o = atomic_load_explicit(&t->s[i].off,
		                                 memory_order_relaxed);
		if (!o || o == TOMB)
			continue;
		struct dict_entry *e = at(d, o);
		size_t kv = (size_t)e->klen + e->vlen;
		s->items[s->n++] = (struct snap_item){ e->seq, p, e->klen,
		                                       e->vlen, p + e->klen };
		memcpy(p, e->data, kv);
		p += kv;
	}
	return s;
}

int mp_dict_snapshot(mp_dict_t *d, mp_dict_snap_t **out, int64_t timeout_ns)
{
	if (!dict_of(d) || !out)
		return -EINVAL;
	*out = NULL;
	int r = mp__dict_lock(d, timeout_ns);
	if (r < 0)
		return r;
	mp_dict_snap_t *s = snap_locked(d);
	mp__dict_unlock(d);
	if (!s)
		return -ENOMEM;
	qsort(s->items, s->n, sizeof(s->items[0]), by_seq);
	*out = s;
	return 0;
}

size_t mp_dict_snap_len(const mp_dict_snap_t *s)
{
	return s ? s->n : 0;
}

int mp_dict_snap_item(const mp_dict_snap_t *s, size_t i, const void **key,
                      size_t *klen, const void **value, size_t *vlen)
{
	if (!s || i >= s->n)
		return -EINVAL;
	const struct snap_item *it = &s->items[i];
	if (key)
		*key = it->key;
	if (klen)
		*klen = it->klen;
	if (value)
		*value = it->value;
	if (vlen)
		*vlen = it->vlen;
	return 0;
}

void mp_dict_snap_free(mp_dict_snap_t *s)
{
	free(s);
}

/* The bytes a block of n takes: its unit in an arena, n in the heap. */
static uint64_t block_bytes(const mp_dict_t *d, uint64_t n)
{
	return in_heap(d) ? n : (uint64_t)32 << cls_of(n + UNIT_HDR);
}

static void stats_locked(mp_dict_t *d, mp_dict_stats_t *st)
{
	struct dict_table *t = table_of(d);
	*st = (mp_dict_stats_t){ .slots = t->cap, .deaths = d->deaths,
	                         .repairs = d->repairs };
	st->bytes_used = block_bytes(d, table_bytes(t->cap));
	for (uint64_t i = 0; i < t->cap; i++) {
		int64_t o = atomic_load_explicit(&t->s[i].off,
		                                 memory_order_relaxed);
		if (o == TOMB) {
			st->tombstones++;
		} else if (o) {
			struct dict_entry *e = at(d, o);
			st->len++;
			st->bytes_used += block_bytes(d, sizeof(*e) +
			                              e->klen + e->vlen);
		}
	}
	if (in_heap(d))
		return;
	st->arena_size = d->size;
	st->arena_top = atomic_load_explicit(&d->top, memory_order_relaxed) -
	                HDR_SIZE;
	for (int c = 0; c < NCLS; c++) {
		int64_t u = atomic_load_explicit(&d->head[c],
		                                 memory_order_relaxed);
		for (; u; u = ((struct dict_unit *)at(d, u))->next)
			st->bytes_free += (uint64_t)32 << c;
	}
}

int mp_dict_stats(mp_dict_t *d, mp_dict_stats_t *st, int64_t timeout_ns)
{
	if (!dict_of(d) || !st)
		return -EINVAL;
	int r = mp__dict_lock(d, timeout_ns);
	if (r < 0)
		return r;
	stats_locked(d, st);
	mp__dict_unlock(d);
	return 0;
}
