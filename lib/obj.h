/*
 * obj.h - the layout of a value (mp_obj_t, include/mproc/pickle.h) for the
 * files that implement values and for the codec.  Not installed.
 *
 * A node is a 16-byte header and a payload whose layout depends on the
 * kind (48 bytes in all).  Strings, bytes, bytearrays, tuples, exceptions
 * and globals keep their data right after their payload, in the same
 * allocation (in the union's slack when it fits); lists and dicts own
 * growable arrays.
 *
 * Reads of a frozen node may happen in several threads at once: nothing
 * here is written after freezing but the reference count (atomic) and the
 * hash cache (relaxed atomic accesses, any thread may fill it).
 */
#ifndef MPROC_LIB_OBJ_H
#define MPROC_LIB_OBJ_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "mproc.h"

/* Header flags. */
enum {
	MP__OBJ_FROZEN = 1u << 0,   /* can no longer change */
	MP__OBJ_IMMORTAL = 1u << 1, /* None, True, False: never freed */
	MP__OBJ_BIG = 1u << 2,      /* an int that does not fit in int64_t */
	MP__OBJ_CALL = 1u << 3,     /* an inert node that is a call */
	MP__OBJ_NEWOBJ = 1u << 4,   /* ... made by NEWOBJ, not REDUCE */
};

/* One dict item or set element (value NULL in a set), in insertion order. */
struct mp__entry {
	uint64_t hash;
	mp_obj_t *key;
	mp_obj_t *value;
};

struct mp_obj {
	uint32_t refs;   /* atomic; unused when MP__OBJ_IMMORTAL */
	uint8_t kind;    /* mp_obj_kind_t */
	uint8_t flags;   /* MP__OBJ_* */
	/* Containers nested in this node, itself included: 0 for a scalar
	 * (and a bare global), 1 for a container of scalars; an exception
	 * or an inert call counts as a container.  An upper bound once a
	 * dict's value was replaced.  <= MP_OBJ_MAX_DEPTH. */
	uint16_t height;
	/* The hash, once computed (0: not yet; MP__OBJ_UNHASHABLE: a tuple
	 * holding something unhashable); after the last reference is gone,
	 * the link of the list of nodes waiting to be freed. */
	uint64_t aux;
	union {
		bool b;
		struct {            /* int that fits in int64_t */
			int64_t v;
			uint8_t n;  /* minimal two's complement bytes */
			uint8_t le[8];
		} i;
		struct {            /* int with MP__OBJ_BIG: n >= 9 */
			size_t n;
			uint8_t *le;  /* right after the payload */
		} big;
		double f;
		struct {            /* bytes, bytearray, str */
			size_t len;
			char *data;   /* right after the payload, NUL-ended */
		} s;
		struct {            /* tuple (items right after), list */
			size_t len, cap;
			mp_obj_t **items;
		} seq;
		struct {            /* dict, set, frozenset */
			struct mp__entry *entries;
			uint32_t *index; /* entry + 1 per slot, 0 empty; NULL
			                    while len <= MP__MAP_LINEAR */
			uint32_t len, cap;
			uint32_t shift;  /* 64 - log2(slots) */
		} map;
		struct {
			char *type;      /* "module.qualname", after payload */
			mp_obj_t *args;  /* a tuple */
		} exc;
		struct {
			/* A global: its module and qualname, NUL-ended, one
			 * after the other right after the payload, name
			 * pointing at the second.  A call (MP__OBJ_CALL): the
			 * callable's name, borrowed from callable, which it
			 * holds (see mp__obj_inert_module). */
			const char *name;
			mp_obj_t *callable, *args, *state;
		} inert;
	} u;
};

#define MP__OBJ_UNHASHABLE UINT64_MAX
/* Dicts and sets this small are searched without an index. */
#define MP__MAP_LINEAR 8

/* The reference count (tests; immortals report a large number). */
static inline uint32_t mp__obj_refcnt(const mp_obj_t *o)
{
	if (o->flags & MP__OBJ_IMMORTAL)
		return UINT32_MAX;
	return __atomic_load_n(&o->refs, __ATOMIC_RELAXED);
}

/* A tuple's or list's elements: *n pointers (borrowed). */
static inline mp_obj_t *const *mp__obj_items(const mp_obj_t *o, size_t *n)
{
	*n = o->u.seq.len;
	return o->u.seq.items;
}

/* A dict's, set's or frozenset's entries in insertion order. */
static inline const struct mp__entry *mp__obj_entries(const mp_obj_t *o,
                                                      size_t *n)
{
	*n = o->u.map.len;
	return o->u.map.entries;
}

/* An inert call's callable (a global), or NULL for a bare global; whether
 * a call was made by NEWOBJ. */
static inline mp_obj_t *mp__obj_inert_callable(const mp_obj_t *o)
{
	return o->u.inert.callable;
}
static inline bool mp__obj_inert_newobj(const mp_obj_t *o)
{
	return (o->flags & MP__OBJ_NEWOBJ) != 0;
}
/* An inert node's module (a global's, or its callable's). */
static inline const char *mp__obj_inert_module(const mp_obj_t *o)
{
	const mp_obj_t *g = (o->flags & MP__OBJ_CALL) ? o->u.inert.callable : o;
	return (const char *)g + offsetof(struct mp_obj, u) +
	       sizeof(g->u.inert);
}

/* ---- between the obj*.c files ----------------------------------------------- */

#include "obj_cache.h"

/* The size of a node with payload bytes of payload and extra bytes after
 * it (extra not past SIZE_MAX - 64).  Never less than a whole node: the
 * compiler may assume one. */
static inline size_t mp__obj_size(size_t payload, size_t extra)
{
	size_t size = offsetof(struct mp_obj, u) + payload + extra;
	return size < sizeof(struct mp_obj) ? sizeof(struct mp_obj) : size;
}

/* A node of kind with payload bytes of payload and extra bytes after it,
 * one reference, not frozen, height 0.  NULL on -ENOMEM. */
mp_obj_t *mp__obj_alloc(mp_obj_kind_t kind, size_t payload, size_t extra);
/* Where the extra bytes of a node with that payload size start. */
#define MP__OBJ_EXTRA(o, payload) \
	((char *)(o) + offsetof(struct mp_obj, u) + (payload))
/* Whether child may go into parent: 0, -EPERM (child is parent, which
 * would make a cycle), -MP_ELIMIT (too deep). */
int mp__obj_check_child(const mp_obj_t *parent, const mp_obj_t *child);
/* child went into parent: freeze it, raise parent's height. */
static inline void mp__obj_adopt(mp_obj_t *parent, mp_obj_t *child)
{
	/* Written only when it changes: a frozen node may be read by other
	 * threads. */
	if (!(child->flags & MP__OBJ_FROZEN))
		child->flags |= MP__OBJ_FROZEN;
	if (parent->height <= child->height)
		parent->height = (uint16_t)(child->height + 1);
}
/* Room for n more items in list l (0, -ENOMEM). */
int mp__list_reserve(mp_obj_t *l, size_t n);
/* Append item (stolen) to list l, which has room for it, for a caller
 * that has checked what mp_obj_list_append checks: l not frozen, item
 * not l and below MP_OBJ_MAX_DEPTH. */
static inline void mp__list_push(mp_obj_t *l, mp_obj_t *item)
{
	l->u.seq.items[l->u.seq.len++] = item;
	mp__obj_adopt(l, item);
}
/* Whether s[0..n) is UTF-8 with lone surrogates allowed. */
bool mp__utf8_valid(const char *s, size_t n);

/* obj_repr.c: Python's repr of a double (at most 25 characters). */
void mp__float_repr(double d, char out[32]);
/* obj_unicode.c: whether Python's repr keeps code point c as it is. */
bool mp__unicode_printable(uint32_t c);

/* obj_map.c: SipHash-1-3 of p[0..n) under the key (k0, k1) - a hash
 * that is the same in every process given the same key (dict.c). */
uint64_t mp__siphash13(uint64_t k0, uint64_t k1, const void *p, size_t n);

/* An avalanche of one word (splitmix64's finaliser): the dict's and the
 * object map's hashes of ints, floats and tuples. */
static inline uint64_t mp__mix64(uint64_t x)
{
	x ^= x >> 30;
	x *= 0xbf58476d1ce4e5b9ull;
	x ^= x >> 27;
	x *= 0x94d049bb133111ebull;
	x ^= x >> 31;
	return x;
}
/* obj_map.c: Python's hash of o (0, or -EINVAL unhashable). */
int mp__obj_hash(const mp_obj_t *o, uint64_t *h);
/* Release a dict's or set's elements and arrays (not the node). */
void mp__map_free(mp_obj_t *o, mp_obj_t **pending);
/* Room for n entries in all in dict or set m (0, -ENOMEM). */
int mp__map_reserve(mp_obj_t *m, size_t n);
/* m[key] = value (value NULL for a set), both stolen, released on
 * failure (-EINVAL unhashable, -ENOMEM), as mp_obj_dict_set and
 * mp_obj_set_add do, for a caller that has checked what they check: m
 * is a dict (a set) not frozen, neither key nor value is m, both are
 * below MP_OBJ_MAX_DEPTH. */
int mp__map_insert(mp_obj_t *m, mp_obj_t *key, mp_obj_t *value);
/* Python's == for two dicts, or two sets/frozensets. */
bool mp__map_equal(const mp_obj_t *a, const mp_obj_t *b);
/* The value of key (whose hash is h) in dict d (borrowed), or NULL. */
mp_obj_t *mp__map_value(const mp_obj_t *d, const mp_obj_t *key, uint64_t h);
/* Numeric equality of ints, bools and floats (both numeric). */
bool mp__num_equal(const mp_obj_t *a, const mp_obj_t *b);
static inline bool mp__obj_numeric(const mp_obj_t *o)
{
	return o->kind == MP_OBJ_BOOL || o->kind == MP_OBJ_INT ||
	       o->kind == MP_OBJ_FLOAT;
}

/* The minimal length of n bytes of little-endian two's complement (0 for
 * zero, as pickle writes it). */
static inline size_t mp__le_minimal(const uint8_t *b, size_t n)
{
	while (n > 1 && ((b[n - 1] == 0 && !(b[n - 2] & 0x80)) ||
	                 (b[n - 1] == 0xff && (b[n - 2] & 0x80))))
		n--;
	if (n == 1 && b[0] == 0)
		n = 0;
	return n;
}

/* Push o on the list of nodes to free (its last reference is gone). */
static inline void mp__obj_pending_push(mp_obj_t **pending, mp_obj_t *o)
{
	o->aux = (uint64_t)(uintptr_t)*pending;
	*pending = o;
}
/* The size o was allocated with (mp__obj_alloc's). */
size_t mp__obj_node_size_slow(const mp_obj_t *o);
static inline size_t mp__obj_node_size(const mp_obj_t *o)
{
	/* The usual leaves, without the switch. */
	if (o->kind == MP_OBJ_STR || o->kind == MP_OBJ_BYTES)
		return mp__obj_size(sizeof(o->u.s), o->u.s.len + 1);
	if (o->kind == MP_OBJ_FLOAT ||
	    (o->kind == MP_OBJ_INT && !(o->flags & MP__OBJ_BIG)))
		return sizeof(*o);
	return mp__obj_node_size_slow(o);
}

/* Whether o is of a kind that holds other nodes. */
static inline bool mp__obj_has_children(const mp_obj_t *o)
{
	return (1u << o->kind) &
	       (1u << MP_OBJ_TUPLE | 1u << MP_OBJ_LIST | 1u << MP_OBJ_DICT |
	        1u << MP_OBJ_SET | 1u << MP_OBJ_FROZENSET | 1u << MP_OBJ_EXC |
	        1u << MP_OBJ_INERT);
}

/* Drop one reference; a node whose last it was goes on *pending, or,
 * without children, is freed at once.  Inline: freeing a value is a run
 * of these. */
static inline void mp__obj_drop(mp_obj_t *o, mp_obj_t **pending)
{
	if (!o || (o->flags & MP__OBJ_IMMORTAL))
		return;
	/* A count of 1 is ours alone: nobody else holds a reference to copy,
	 * so it cannot rise, and the node is freed without a locked
	 * instruction (most nodes of a value are never shared).  Acquire:
	 * pairs with the release of the decrement that brought it to 1. */
	if (__atomic_load_n(&o->refs, __ATOMIC_ACQUIRE) != 1) {
		/* Release: our writes to o happen before whoever frees it. */
		if (__atomic_fetch_sub(&o->refs, 1, __ATOMIC_RELEASE) != 1)
			return;
		/* Acquire: pairs with the other droppers' release. */
		__atomic_thread_fence(__ATOMIC_ACQUIRE);
	}
	if (mp__obj_has_children(o))
		mp__obj_pending_push(pending, o);
	else
		mp__obj_mem_free(o, mp__obj_node_size(o));
}

#endif
