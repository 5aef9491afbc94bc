/*
 * obj_map.c - dict, set and frozenset, and the hashes they need.
 *
 * Hashes follow Python's rule that equal values hash alike across kinds:
 * a number hashes as CPython hashes it, by its value modulo the prime
 * P = 2^61 - 1 (so 1, 1.0, True, 2**70 and 2.0**70 agree, and a float
 * that is not integral hashes as the rational it is).  str and bytes use
 * SipHash-1-3 keyed with the 16 random bytes the kernel gives every
 * program (AT_RANDOM), so a peer cannot choose keys that collide; a fork
 * child keeps the key, and with it every stored hash.  Tuples and
 * frozensets combine their elements' hashes; exceptions and inert nodes
 * hash their names only (equal ones have equal names).  A hash is cached
 * in the node's aux word once the node is frozen.
 *
 * Layout: CPython's compact dict.  Entries (hash, key, value) sit in an
 * array in insertion order; an index of 32-bit slots (entry + 1, 0 for
 * empty), a power of two at most 2/3 full, is probed linearly from a
 * multiplicative scramble of the hash.  Up to MP__MAP_LINEAR entries
 * there is no index: a scan comparing stored hashes is faster.  Nothing
 * is ever removed, so there are no tombstones.
 */
#include "internal.h"
#include "obj.h"

#include <stdlib.h>
#include <sys/auxv.h>

/* ---- hashing ----------------------------------------------------------------- */

#define HASH_P (((uint64_t)1 << 61) - 1)
#define HASH_INF 314159

static inline uint64_t rotl64(uint64_t x, unsigned r)
{
	return (x << r) | (x >> ((64 - r) & 63));
}

/* x * 2^r mod P, for x < P and 0 <= r < 61: a rotation of 61 bits. */
static inline uint64_t rot61(uint64_t x, unsigned r)
{
	return ((x << r) & HASH_P) | (x >> (61 - r));
}

/* The Python hash of a number whose magnitude is m (mod P) with a sign. */
static inline uint64_t signed_hash(uint64_t m, bool negative)
{
	int64_t h = negative ? -(int64_t)m : (int64_t)m;
	if (h == -1)
		h = -2;
	return (uint64_t)h;
}

static uint64_t hash_i64(int64_t v)
{
	uint64_t u = v < 0 ? -(uint64_t)v : (uint64_t)v;
	u = (u & HASH_P) + (u >> 61);
	if (u >= HASH_P)
		u -= HASH_P;
	return signed_hash(u, v < 0);
}

/* n bytes of two's complement, most significant first, mod P. */
static uint64_t hash_big(const uint8_t *le, size_t n)
{
	uint64_t u = 0; /* the bytes read as unsigned, mod P */
	for (size_t k = n; k-- > 0;) {
		u = rot61(u, 8) + le[k];
		if (u >= HASH_P)
			u -= HASH_P;
	}
	if (!(le[n - 1] & 0x80))
		return signed_hash(u, false);
	/* Negative: value = u - 256^n, and 256^n = 2^(8n mod 61) mod P. */
	uint64_t w = rot61(1, (unsigned)((8 * (n % 61)) % 61));
	uint64_t v = u >= w ? u - w : u + HASH_P - w; /* value mod P */
	return signed_hash(v ? HASH_P - v : 0, true);
}

static uint64_t hash_double(const mp_obj_t *o)
{
	double d = o->u.f;
	uint64_t bits;
	memcpy(&bits, &d, 8);
	bool neg = bits >> 63;
	unsigned e = (unsigned)(bits >> 52) & 0x7ff;
	uint64_t mant = bits & (((uint64_t)1 << 52) - 1);
	if (e == 0x7ff) {
		if (mant) /* NaN equals only itself: hash its identity */
			return ((uint64_t)(uintptr_t)o >> 4) & HASH_P;
		return signed_hash(HASH_INF, neg);
	}
	int exp2;
	if (e) {
		mant |= (uint64_t)1 << 52;
		exp2 = (int)e - 1075;
	} else {
		exp2 = -1074;
	}
	/* |d| = mant * 2^exp2, and 2^exp2 = 2^(exp2 mod 61) mod P. */
	int r = exp2 % 61;
	if (r < 0)
		r += 61;
	return signed_hash(mant ? rot61(mant, (unsigned)r) : 0, neg);
}

static uint64_t sip_k0, sip_k1;
static bool sip_ready;

static void sip_key(uint64_t *k0, uint64_t *k1)
{
	if (!__atomic_load_n(&sip_ready, __ATOMIC_ACQUIRE)) {
		/* Every thread computes the same key: racing is harmless. */
		const uint8_t *r = (const uint8_t *)getauxval(AT_RANDOM);
		uint64_t a = 0x0706050403020100ull, b = 0x0f0e0d0c0b0a0908ull;
		if (r) {
			memcpy(&a, r, 8);
			memcpy(&b, r + 8, 8);
		}
		__atomic_store_n(&sip_k0, a, __ATOMIC_RELAXED);
		__atomic_store_n(&sip_k1, b, __ATOMIC_RELAXED);
		/* Release: the key before the flag. */
		__atomic_store_n(&sip_ready, true, __ATOMIC_RELEASE);
	}
	*k0 = __atomic_load_n(&sip_k0, __ATOMIC_RELAXED);
	*k1 = __atomic_load_n(&sip_k1, __ATOMIC_RELAXED);
}

#define SIPROUND                                                            \
	do {                                                                \
		v0 += v1; v1 = rotl64(v1, 13); v1 ^= v0; v0 = rotl64(v0, 32); \
		v2 += v3; v3 = rotl64(v3, 16); v3 ^= v2;                    \
		v0 += v3; v3 = rotl64(v3, 21); v3 ^= v0;                    \
		v2 += v1; v1 = rotl64(v1, 17); v1 ^= v2; v2 = rotl64(v2, 32); \
	} while (0)

/* SipHash-1-3 (one round per word, three at the end), as CPython's,
 * under the key (k0, k1). */
static inline uint64_t sip13(uint64_t k0, uint64_t k1, const void *p,
                             size_t n)
{
	uint64_t v0 = k0 ^ 0x736f6d6570736575ull, v1 = k1 ^ 0x646f72616e646f6dull;
	uint64_t v2 = k0 ^ 0x6c7967656e657261ull, v3 = k1 ^ 0x7465646279746573ull;
	const uint8_t *s = p;
	size_t left = n;
	for (; left >= 8; left -= 8, s += 8) {
		uint64_t m;
		memcpy(&m, s, 8);
		v3 ^= m;
		SIPROUND;
		v0 ^= m;
	}
	uint64_t b = (uint64_t)n << 56;
	for (size_t k = 0; k < left; k++)
		b |= (uint64_t)s[k] << (8 * k);
	v3 ^= b;
	SIPROUND;
	v0 ^= b;
	v2 ^= 0xff;
	SIPROUND;
	SIPROUND;
	SIPROUND;
	return v0 ^ v1 ^ v2 ^ v3;
}

/* Under this process's key (values' hashes). */
static uint64_t siphash13(const void *p, size_t n)
{
	uint64_t k0, k1;
	sip_key(&k0, &k1);
	return sip13(k0, k1, p, n);
}

uint64_t mp__siphash13(uint64_t k0, uint64_t k1, const void *p, size_t n)
{
	return sip13(k0, k1, p, n);
}

static uint64_t hash_bytes(const void *p, size_t n)
{
	uint64_t h = siphash13(p, n);
	return h == UINT64_MAX ? UINT64_MAX - 1 : h;
}

static inline uint64_t hash_fix(uint64_t h)
{
	return h == UINT64_MAX ? UINT64_MAX - 1 : h;
}

static int hash_rec(const mp_obj_t *o, uint64_t *h);

/* A tuple being hashed: its next element and what it has so far. */
struct hframe {
	const mp_obj_t *t;
	size_t i;
	uint64_t acc;
};

static inline void hash_feed(struct hframe *f, uint64_t h)
{
	f->acc += h * 0xc2b2ae3d27d4eb4full;
	f->acc = rotl64(f->acc, 31) * 0x9e3779b185ebca87ull;
}

static inline void hash_cache(const mp_obj_t *o, uint64_t h)
{
	/* Relaxed: any thread computes the same value. */
	if (o->flags & MP__OBJ_FROZEN)
		__atomic_store_n(&((mp_obj_t *)o)->aux, h, __ATOMIC_RELAXED);
}

/*
 * A tuple's hash: its elements' hashes in order, tuples within it by a
 * loop over a stack of frames (on the heap past 32), not a recursion; a
 * tuple holding something unhashable is marked so, with every tuple
 * around it.  Without memory for the stack, the element is hashed by a
 * recursion (each level with 32 frames of its own).
 */
static int hash_tuple(const mp_obj_t *root, uint64_t *out)
{
	struct hframe local[32], *st = local;
	size_t depth = 0, cap = 32;
	int e = 0;
	st[depth++] = (struct hframe){ root, 0, 0x27d4eb2f165667c5ull };
	while (depth) {
		struct hframe *f = &st[depth - 1];
		uint64_t h;
		if (f->i == f->t->u.seq.len) {
			h = hash_fix(f->acc + (f->t->u.seq.len ^
			                       0x165667b19e3779f9ull));
			hash_cache(f->t, h);
			if (--depth)
				hash_feed(&st[depth - 1], h);
			else
				*out = h;
			continue;
		}
		const mp_obj_t *c = f->t->u.seq.items[f->i++];
		uint64_t cached = __atomic_load_n(&c->aux, __ATOMIC_RELAXED);
		if (c->kind == MP_OBJ_TUPLE && !cached) {
			if (depth == cap) {
				struct hframe *p = realloc(
					st == local ? NULL : st,
					2 * cap * sizeof(*p));
				if (!p) {
					if ((e = hash_tuple(c, &h)))
						break;
					hash_feed(f, h);
					continue;
				}
				if (st == local)
					memcpy(p, local, sizeof(local));
				st = p;
				cap *= 2;
			}
			st[depth++] = (struct hframe){ c, 0,
			                               0x27d4eb2f165667c5ull };
			continue;
		}
		if ((e = hash_rec(c, &h)))
			break;
		hash_feed(f, h);
	}
	if (e)
		while (depth)
			hash_cache(st[--depth].t, MP__OBJ_UNHASHABLE);
	if (st != local)
		free(st);
	return e;
}

static uint64_t hash_frozenset(const mp_obj_t *o)
{
	/* Order does not matter: a sum of scrambled element hashes. */
	uint64_t acc = 0;
	for (uint32_t i = 0; i < o->u.map.len; i++)
		acc += mp__mix64(o->u.map.entries[i].hash);
	return hash_fix(mp__mix64(acc ^ o->u.map.len) ^ 0x1f35a7bdull);
}

static int hash_rec(const mp_obj_t *o, uint64_t *h)
{
	uint64_t c = __atomic_load_n(&o->aux, __ATOMIC_RELAXED);
	if (c == MP__OBJ_UNHASHABLE)
		return -EINVAL;
	if (c) {
		*h = c;
		return 0;
	}
	int e = 0;
	switch (o->kind) {
	case MP_OBJ_NONE:
		*h = 0x5c3e1f5a9d27b6a1ull;
		return 0;
	case MP_OBJ_BOOL:
		*h = o->u.b;
		return 0;
	case MP_OBJ_INT:
		if (!(o->flags & MP__OBJ_BIG)) {
			*h = hash_i64(o->u.i.v);
			return 0;
		}
		c = hash_big(o->u.big.le, o->u.big.n);
		break;
	case MP_OBJ_FLOAT:
		*h = hash_double(o);
		return 0;
	case MP_OBJ_BYTES:
	case MP_OBJ_STR:
		c = hash_bytes(o->u.s.data, o->u.s.len);
		break;
	case MP_OBJ_TUPLE:
		return hash_tuple(o, h); /* caches its own */
	case MP_OBJ_FROZENSET:
		c = hash_frozenset(o);
		break;
	case MP_OBJ_EXC:
		c = hash_fix(hash_bytes(o->u.exc.type, strlen(o->u.exc.type)) ^
		             0x4578635f);
		break;
	case MP_OBJ_INERT:
		c = hash_fix(hash_bytes(mp__obj_inert_module(o),
		                        strlen(mp__obj_inert_module(o))) * 31 +
		             hash_bytes(o->u.inert.name,
		                        strlen(o->u.inert.name)));
		break;
	default: /* list, dict, set, bytearray */
		return -EINVAL;
	}
	/* Cached once it can no longer change (a frozenset being filled
	 * can); relaxed: any thread computes the same value. */
	if (o->flags & MP__OBJ_FROZEN)
		__atomic_store_n(&((mp_obj_t *)o)->aux,
		                 e ? MP__OBJ_UNHASHABLE : c, __ATOMIC_RELAXED);
	*h = c;
	return e;
}

int mp__obj_hash(const mp_obj_t *o, uint64_t *h)
{
	return hash_rec(o, h);
}

/* A str's hash, hash_rec's without the switch. */
static inline uint64_t str_hash(const mp_obj_t *o)
{
	uint64_t h = __atomic_load_n(&o->aux, __ATOMIC_RELAXED);
	if (!h) {
		h = hash_bytes(o->u.s.data, o->u.s.len);
		hash_cache(o, h);
	}
	return h;
}

/* ---- numbers ----------------------------------------------------------------- */

/* An integral double of magnitude >= 2^63 as minimal two's complement
 * (at most 130 bytes). */
static size_t double_le(double d, uint8_t out[136])
{
	uint64_t bits;
	memcpy(&bits, &d, 8);
	unsigned e = (unsigned)(bits >> 52) & 0x7ff;
	uint64_t mant = (bits & (((uint64_t)1 << 52) - 1)) | ((uint64_t)1 << 52);
	unsigned shift = e - 1075; /* >= 10 for such a value */
	size_t nb = shift / 8 + 9;
	memset(out, 0, nb);
	uint64_t w = mant << (shift % 8);
	for (int k = 0; k < 8; k++)
		out[shift / 8 + (unsigned)k] = (uint8_t)(w >> (8 * k));
	if (bits >> 63) {
		unsigned carry = 1;
		for (size_t k = 0; k < nb; k++) {
			unsigned v = (uint8_t)~out[k] + carry;
			out[k] = (uint8_t)v;
			carry = v >> 8;
		}
	}
	return mp__le_minimal(out, nb);
}

#define TWO63 9223372036854775808.0

bool mp__num_equal(const mp_obj_t *a, const mp_obj_t *b)
{
	if (a->kind == MP_OBJ_FLOAT && b->kind != MP_OBJ_FLOAT) {
		const mp_obj_t *t = a;
		a = b;
		b = t;
	}
	/* Now a float, if there is one, is b. */
	if (b->kind == MP_OBJ_FLOAT) {
		double d = b->u.f;
		if (a->kind == MP_OBJ_FLOAT)
			return a->u.f == d;
		if (a->kind == MP_OBJ_BOOL)
			return d == (double)a->u.b;
		if (!(a->flags & MP__OBJ_BIG)) {
			if (!(d >= -TWO63 && d < TWO63))
				return false;
			int64_t v = (int64_t)d;
			return (double)v == d && v == a->u.i.v;
		}
		if (!(d < -TWO63 || d >= TWO63) || d - d != 0)
			return false; /* too small to be big, or inf/nan */
		uint8_t le[136];
		size_t n = double_le(d, le);
		return n == a->u.big.n && memcmp(le, a->u.big.le, n) == 0;
	}
	int64_t x, y;
	bool abig = a->kind == MP_OBJ_INT && (a->flags & MP__OBJ_BIG);
	bool bbig = b->kind == MP_OBJ_INT && (b->flags & MP__OBJ_BIG);
	if (abig || bbig)
		return abig && bbig && a->u.big.n == b->u.big.n &&
		       memcmp(a->u.big.le, b->u.big.le, a->u.big.n) == 0;
	x = a->kind == MP_OBJ_BOOL ? a->u.b : a->u.i.v;
	y = b->kind == MP_OBJ_BOOL ? b->u.b : b->u.i.v;
	return x == y;
}

/* ---- the table --------------------------------------------------------------- */

#define MAP_PAYLOAD sizeof(((mp_obj_t *)0)->u.map)
#define MAP_MAX (UINT32_MAX / 2)

static inline bool is_set(const mp_obj_t *o)
{
	return o && (o->kind == MP_OBJ_SET || o->kind == MP_OBJ_FROZENSET);
}

static inline size_t slot_of(const mp_obj_t *m, uint64_t h)
{
	return (size_t)((h * 0x9e3779b97f4a7c15ull) >> m->u.map.shift);
}

static inline bool key_equal(const struct mp__entry *e, const mp_obj_t *key,
                             uint64_t h)
{
	if (e->key == key)
		return true;
	if (e->hash != h)
		return false;
	if (key->kind == MP_OBJ_STR) /* the usual case, inline */
		return e->key->kind == MP_OBJ_STR &&
		       e->key->u.s.len == key->u.s.len &&
		       memcmp(e->key->u.s.data, key->u.s.data,
		              key->u.s.len) == 0;
	if (key->kind == MP_OBJ_INT && e->key->kind == MP_OBJ_INT &&
	    !((key->flags | e->key->flags) & MP__OBJ_BIG))
		return key->u.i.v == e->key->u.i.v;
	return mp_obj_equal(e->key, key);
}

/* The entry holding key (hash h), or -1; *slot: where to index it. */
static int64_t map_find(const mp_obj_t *m, const mp_obj_t *key, uint64_t h,
                        size_t *slot)
{
	const struct mp__entry *ents = m->u.map.entries;
	if (!m->u.map.index) {
		for (uint32_t i = 0; i < m->u.map.len; i++)
			if (key_equal(&ents[i], key, h))
				return i;
		return -1;
	}
	size_t mask = ((size_t)1 << (64 - m->u.map.shift)) - 1;
	for (size_t s = slot_of(m, h);; s = (s + 1) & mask) {
		uint32_t ix = m->u.map.index[s];
		if (!ix) {
			if (slot)
				*slot = s;
			return -1;
		}
		if (key_equal(&ents[ix - 1], key, h))
			return ix - 1;
	}
}

static void free_index(mp_obj_t *m)
{
	if (m->u.map.index)
		mp__obj_mem_free(m->u.map.index, sizeof(uint32_t) <<
		                 (64 - m->u.map.shift));
}

/* Rebuild the index with room for at least want entries. */
static int map_reindex(mp_obj_t *m, size_t want)
{
	unsigned bits = 4;
	while (((size_t)1 << bits) * 2 < want * 3)
		bits++;
	bits++; /* half full after a rebuild: rebuilds stay rare */
	size_t slots = (size_t)1 << bits;
	uint32_t *ix = mp__obj_mem_alloc(slots * sizeof(*ix));
	if (!ix)
		return -ENOMEM;
	memset(ix, 0, slots * sizeof(*ix));
	free_index(m);
	m->u.map.index = ix;
	m->u.map.shift = 64 - bits;
	for (uint32_t i = 0; i < m->u.map.len; i++) {
		size_t s = slot_of(m, m->u.map.entries[i].hash);
		while (ix[s])
			s = (s + 1) & (slots - 1);
		ix[s] = i + 1;
	}
	return 0;
}

static mp_obj_t *map_new(mp_obj_kind_t kind)
{
	mp_obj_t *o = mp__obj_alloc(kind, MAP_PAYLOAD, 0);
	if (!o)
		return NULL;
	o->height = 1;
	o->u.map.entries = NULL;
	o->u.map.index = NULL;
	o->u.map.len = o->u.map.cap = 0;
	o->u.map.shift = 64;
	return o;
}

void mp__map_free(mp_obj_t *o, mp_obj_t **pending)
{
	for (uint32_t i = 0; i < o->u.map.len; i++) {
		/* The nodes a few entries on, read while these are freed:
		 * a big value's nodes are no longer all in the cache. */
		if (i + 4 < o->u.map.len) {
			__builtin_prefetch(o->u.map.entries[i + 4].key);
			__builtin_prefetch(o->u.map.entries[i + 4].value);
		}
		mp__obj_drop(o->u.map.entries[i].key, pending);
		mp__obj_drop(o->u.map.entries[i].value, pending);
	}
	mp__obj_mem_free(o->u.map.entries,
	                 o->u.map.cap * sizeof(struct mp__entry));
	free_index(o);
}

/* Room for want entries in all: the entries array, and the index once
 * past MP__MAP_LINEAR.  1 when the index was rebuilt (slots found before
 * are stale), 0, or -ENOMEM. */
static int map_room(mp_obj_t *m, size_t want)
{
	if (want > MAP_MAX)
		return -ENOMEM;
	if (want > m->u.map.cap) {
		uint32_t cap = m->u.map.cap ? m->u.map.cap * 2 : 4;
		while (cap < want)
			cap *= 2;
		struct mp__entry *p = mp__obj_mem_realloc(
			m->u.map.entries, m->u.map.cap * sizeof(*p),
			cap * sizeof(*p));
		if (!p)
			return -ENOMEM;
		m->u.map.entries = p;
		m->u.map.cap = cap;
	}
	if (want <= MP__MAP_LINEAR)
		return 0;
	size_t slots = m->u.map.index ? (size_t)1 << (64 - m->u.map.shift) : 0;
	if (want * 3 <= slots * 2)
		return 0;
	int e = map_reindex(m, want);
	return e ? e : 1;
}

int mp__map_reserve(mp_obj_t *m, size_t n)
{
	int e = map_room(m, n);
	return e < 0 ? e : 0;
}

/* Whether m has room for one more entry as it is. */
static inline bool map_has_room(const mp_obj_t *m)
{
	size_t want = (size_t)m->u.map.len + 1;
	if (want > m->u.map.cap)
		return false;
	if (want <= MP__MAP_LINEAR)
		return true;
	return m->u.map.index &&
	       want * 3 <= ((size_t)2 << (64 - m->u.map.shift));
}

/* m[key] = value, with the arguments checked: see mp__map_insert. */
int mp__map_insert(mp_obj_t *m, mp_obj_t *key, mp_obj_t *value)
{
	uint64_t h;
	size_t slot = 0;
	int e = 0;
	if (key->kind == MP_OBJ_STR) /* the usual key, inline */
		h = str_hash(key);
	else
		e = mp__obj_hash(key, &h);
	int64_t at = e ? -1 : map_find(m, key, h, &slot);
	if (at >= 0) {
		struct mp__entry *ent = &m->u.map.entries[at];
		mp_obj_decref(key);
		if (value) {
			mp_obj_t *old = ent->value;
			ent->value = value;
			mp__obj_adopt(m, value);
			mp_obj_decref(old);
		}
		return 0;
	}
	uint32_t n = m->u.map.len;
	if (!e && !map_has_room(m) && (e = map_room(m, (size_t)n + 1)) > 0) {
		map_find(m, key, h, &slot); /* in the new index */
		e = 0;
	}
	if (e) {
		mp_obj_decref(key);
		mp_obj_decref(value);
		return e;
	}
	if (m->u.map.index)
		m->u.map.index[slot] = n + 1;
	m->u.map.entries[n] = (struct mp__entry){ h, key, value };
	m->u.map.len = n + 1;
	mp__obj_adopt(m, key);
	if (value)
		mp__obj_adopt(m, value);
	return 0;
}

/*
 * m[key] = value (value NULL for a set): both stolen.  An equal key that is
 * there keeps its place and its key; a dict's value is replaced, a set's
 * element stays.
 */
static int map_put(mp_obj_t *m, mp_obj_kind_t kind, mp_obj_t *key,
                   mp_obj_t *value)
{
	int e = 0;
	if (!m || (kind == MP_OBJ_DICT ? m->kind != MP_OBJ_DICT : !is_set(m)))
		e = -EINVAL;
	else if (m->flags & MP__OBJ_FROZEN)
		e = -EPERM;
	else if (!(e = mp__obj_check_child(m, key)) && value)
		e = mp__obj_check_child(m, value);
	if (!e)
		return mp__map_insert(m, key, value);
	mp_obj_decref(key);
	mp_obj_decref(value);
	return e;
}

static const struct mp__entry *map_lookup(const mp_obj_t *m,
                                          const mp_obj_t *key)
{
	uint64_t h;
	if (!key || mp__obj_hash(key, &h))
		return NULL;
	int64_t at = map_find(m, key, h, NULL);
	return at >= 0 ? &m->u.map.entries[at] : NULL;
}

mp_obj_t *mp__map_value(const mp_obj_t *d, const mp_obj_t *key, uint64_t h)
{
	int64_t at = map_find(d, key, h, NULL);
	return at >= 0 ? d->u.map.entries[at].value : NULL;
}

bool mp__map_equal(const mp_obj_t *a, const mp_obj_t *b)
{
	if (a->u.map.len != b->u.map.len)
		return false;
	for (uint32_t i = 0; i < a->u.map.len; i++) {
		const struct mp__entry *ea = &a->u.map.entries[i];
		int64_t at = map_find(b, ea->key, ea->hash, NULL);
		if (at < 0)
			return false;
		if (a->kind == MP_OBJ_DICT &&
		    !mp_obj_equal(ea->value, b->u.map.entries[at].value))
			return false;
	}
	return true;
}

/* ---- dict -------------------------------------------------------------------- */

mp_obj_t *mp_obj_dict(void)
{
	return map_new(MP_OBJ_DICT);
}

int mp_obj_dict_set(mp_obj_t *d, mp_obj_t *key, mp_obj_t *value)
{
	if (!key || !value) {
		mp_obj_decref(key);
		mp_obj_decref(value);
		return -ENOMEM;
	}
	return map_put(d, MP_OBJ_DICT, key, value);
}

mp_obj_t *mp_obj_dict_get(const mp_obj_t *d, const mp_obj_t *key)
{
	if (!d || d->kind != MP_OBJ_DICT)
		return NULL;
	const struct mp__entry *e = map_lookup(d, key);
	return e ? e->value : NULL;
}

mp_obj_t *mp_obj_dict_get_str(const mp_obj_t *d, const char *s)
{
	if (!d || d->kind != MP_OBJ_DICT || !s)
		return NULL;
	/* A str node on the stack, never frozen (so its hash is not
	 * cached), good for hashing and comparing. */
	mp_obj_t key = { .kind = MP_OBJ_STR };
	key.u.s.len = strlen(s);
	key.u.s.data = (char *)s;
	const struct mp__entry *e = map_lookup(d, &key);
	return e ? e->value : NULL;
}

int mp_obj_dict_entry(const mp_obj_t *d, size_t i, mp_obj_t **key,
                      mp_obj_t **value)
{
	if (!d || d->kind != MP_OBJ_DICT)
		return -EINVAL;
	if (i >= d->u.map.len)
		return -ERANGE;
	if (key)
		*key = d->u.map.entries[i].key;
	if (value)
		*value = d->u.map.entries[i].value;
	return 0;
}

/* ---- set, frozenset ---------------------------------------------------------- */

mp_obj_t *mp_obj_set(bool frozenset)
{
	return map_new(frozenset ? MP_OBJ_FROZENSET : MP_OBJ_SET);
}

int mp_obj_set_add(mp_obj_t *s, mp_obj_t *item)
{
	if (!item)
		return -ENOMEM;
	return map_put(s, MP_OBJ_SET, item, NULL);
}

bool mp_obj_set_contains(const mp_obj_t *s, const mp_obj_t *item)
{
	return is_set(s) && map_lookup(s, item) != NULL;
}

mp_obj_t *mp_obj_set_item(const mp_obj_t *s, size_t i)
{
	if (!is_set(s) || i >= s->u.map.len)
		return NULL;
	return s->u.map.entries[i].key;
}
