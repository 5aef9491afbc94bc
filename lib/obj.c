/*
 * obj.c - values (mp_obj_t): nodes, references, freezing, scalars, strings,
 * tuples and lists, and Python's ==.  Dicts and sets are in obj_map.c,
 * repr in obj_repr.c, exceptions and inert nodes in obj_exc.c.
 *
 * References.  A count per node, atomic: incref is relaxed (a reference
 * is only ever copied from one the thread already holds); decref is a
 * release, and the thread that drops the last one takes an acquire fence
 * before freeing, so every write made through the other references
 * happens before the free.  A thread that finds the count at 1 holds
 * the only reference and frees without decrementing (mp__obj_drop).
 * None, True and False are static and immortal.  Nodes and their arrays
 * come from obj_cache.c, a cache of freed blocks each thread keeps.
 *
 * Freeing is a loop, never a recursion: a node whose last reference is
 * dropped goes on a list threaded through its own `aux` word (dead, it
 * has no hash to cache), and the loop frees the list's nodes one at a
 * time, dropping their children, which may join the list.  Scalars are
 * freed at once.  A 4096-deep tree or a million-element list costs no
 * stack.
 *
 * Freezing and height.  Inserting a child freezes it (a container only
 * gains children before it is anybody's child), so the graph stays a
 * tree without cycles: the one way to make a cycle would be to put a
 * container into itself, which is refused (-EPERM).  Each node knows its
 * height (nested containers), so the depth limit is one comparison.
 */
#include "internal.h"
#include "obj.h"

#include <stdlib.h>

/* ---- nodes and references -------------------------------------------------- */

_Static_assert(sizeof(struct mp_obj) == 48, "obj.h: 48-byte nodes");
_Static_assert(MP_OBJ_MAX_DEPTH <= UINT16_MAX, "height fits in 16 bits");
_Static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__,
               "an int's bytes are copied in the host's order");

static mp_obj_t none_obj = {
	.kind = MP_OBJ_NONE, .flags = MP__OBJ_IMMORTAL | MP__OBJ_FROZEN,
};
static mp_obj_t false_obj = {
	.kind = MP_OBJ_BOOL, .flags = MP__OBJ_IMMORTAL | MP__OBJ_FROZEN,
	.u.b = false,
};
static mp_obj_t true_obj = {
	.kind = MP_OBJ_BOOL, .flags = MP__OBJ_IMMORTAL | MP__OBJ_FROZEN,
	.u.b = true,
};

mp_obj_t *mp__obj_alloc(mp_obj_kind_t kind, size_t payload, size_t extra)
{
	if (extra > SIZE_MAX - 64 - payload)
		return NULL;
	mp_obj_t *o = mp__obj_mem_alloc(mp__obj_size(payload, extra));
	if (!o)
		return NULL;
	o->refs = 1;
	o->kind = (uint8_t)kind;
	o->flags = 0;
	o->height = 0;
	o->aux = 0;
	return o;
}

mp_obj_kind_t mp_obj_kind(const mp_obj_t *o)
{
	return o ? (mp_obj_kind_t)o->kind : MP_OBJ_NONE;
}

const char *mp_obj_kind_name(mp_obj_kind_t kind)
{
	static const char *const names[] = {
		[MP_OBJ_NONE] = "none",   [MP_OBJ_BOOL] = "bool",
		[MP_OBJ_INT] = "int",     [MP_OBJ_FLOAT] = "float",
		[MP_OBJ_BYTES] = "bytes", [MP_OBJ_BYTEARRAY] = "bytearray",
		[MP_OBJ_STR] = "str",     [MP_OBJ_TUPLE] = "tuple",
		[MP_OBJ_LIST] = "list",   [MP_OBJ_DICT] = "dict",
		[MP_OBJ_SET] = "set",     [MP_OBJ_FROZENSET] = "frozenset",
		[MP_OBJ_EXC] = "exc",     [MP_OBJ_INERT] = "inert",
	};
	if ((unsigned)kind >= sizeof(names) / sizeof(names[0]))
		return "unknown";
	return names[kind];
}

mp_obj_t *mp_obj_incref(mp_obj_t *o)
{
	if (o && !(o->flags & MP__OBJ_IMMORTAL))
		__atomic_fetch_add(&o->refs, 1, __ATOMIC_RELAXED);
	return o;
}

size_t mp__obj_node_size_slow(const mp_obj_t *o)
{
	size_t payload = sizeof(o->u), extra = 0;
	switch (o->kind) {
	case MP_OBJ_INT:
		if (o->flags & MP__OBJ_BIG) {
			payload = sizeof(o->u.big);
			extra = o->u.big.n;
		}
		break;
	case MP_OBJ_BYTES: case MP_OBJ_BYTEARRAY: case MP_OBJ_STR:
		payload = sizeof(o->u.s);
		extra = o->u.s.len + 1;
		break;
	case MP_OBJ_TUPLE:
		payload = sizeof(o->u.seq);
		extra = o->u.seq.len * sizeof(mp_obj_t *);
		break;
	case MP_OBJ_EXC:
		payload = sizeof(o->u.exc);
		extra = strlen(o->u.exc.type) + 1;
		break;
	case MP_OBJ_INERT:
		payload = sizeof(o->u.inert);
		if (!(o->flags & MP__OBJ_CALL))
			extra = strlen(mp__obj_inert_module(o)) + 1 +
			        strlen(o->u.inert.name) + 1;
		break;
	default:
		break;
	}
	return mp__obj_size(payload, extra);
}

/* Free o, whose last reference is gone: its children are dropped onto
 * *pending. */
static void free_node(mp_obj_t *o, mp_obj_t **pending)
{
	switch (o->kind) {
	case MP_OBJ_TUPLE:
	case MP_OBJ_LIST:
		for (size_t i = 0; i < o->u.seq.len; i++)
			mp__obj_drop(o->u.seq.items[i], pending);
		if (o->kind == MP_OBJ_LIST)
			mp__obj_mem_free(o->u.seq.items,
			                 o->u.seq.cap * sizeof(mp_obj_t *));
		break;
	case MP_OBJ_DICT:
	case MP_OBJ_SET:
	case MP_OBJ_FROZENSET:
		mp__map_free(o, pending);
		break;
	case MP_OBJ_EXC:
		mp__obj_drop(o->u.exc.args, pending);
		break;
	case MP_OBJ_INERT:
		mp__obj_drop(o->u.inert.callable, pending);
		mp__obj_drop(o->u.inert.args, pending);
		mp__obj_drop(o->u.inert.state, pending);
		break;
	default:
		break;
	}
	mp__obj_mem_free(o, mp__obj_node_size(o));
}

void mp_obj_decref(mp_obj_t *o)
{
	mp_obj_t *pending = NULL;
	mp__obj_drop(o, &pending);
	while (pending) {
		o = pending;
		pending = (mp_obj_t *)(uintptr_t)o->aux;
		free_node(o, &pending);
	}
}

bool mp_obj_frozen(const mp_obj_t *o)
{
	return o && (o->flags & MP__OBJ_FROZEN);
}

int mp__obj_check_child(const mp_obj_t *parent, const mp_obj_t *child)
{
	if (child == parent)
		return -EPERM;
	if (child->height >= MP_OBJ_MAX_DEPTH)
		return -MP_ELIMIT;
	return 0;
}

/* ---- scalars ---------------------------------------------------------------- */

mp_obj_t *mp_obj_none(void)
{
	return &none_obj;
}

mp_obj_t *mp_obj_bool(bool v)
{
	return v ? &true_obj : &false_obj;
}

#define INT_PAYLOAD sizeof(((mp_obj_t *)0)->u.i)
#define BIG_PAYLOAD sizeof(((mp_obj_t *)0)->u.big)
#define FLOAT_PAYLOAD sizeof(double)
#define STR_PAYLOAD sizeof(((mp_obj_t *)0)->u.s)
#define SEQ_PAYLOAD sizeof(((mp_obj_t *)0)->u.seq)

mp_obj_t *mp_obj_int(int64_t v)
{
	mp_obj_t *o = mp__obj_alloc(MP_OBJ_INT, INT_PAYLOAD, 0);
	if (!o)
		return NULL;
	o->flags = MP__OBJ_FROZEN;
	o->u.i.v = v;
	uint64_t u = (uint64_t)v;
	memcpy(o->u.i.le, &u, 8);
	/* mp__le_minimal's answer: the bits besides the sign, and one for
	 * it; none for 0. */
	uint64_t m = v < 0 ? ~u : u;
	unsigned bits = m ? 64 - (unsigned)__builtin_clzll(m) : 0;
	o->u.i.n = v ? (uint8_t)(bits / 8 + 1) : 0;
	return o;
}

/* A big int from n minimal bytes (n >= 9). */
static mp_obj_t *big_new(const uint8_t *le, size_t n)
{
	mp_obj_t *o = mp__obj_alloc(MP_OBJ_INT, BIG_PAYLOAD, n);
	if (!o)
		return NULL;
	o->flags = MP__OBJ_FROZEN | MP__OBJ_BIG;
	o->u.big.n = n;
	o->u.big.le = (uint8_t *)MP__OBJ_EXTRA(o, BIG_PAYLOAD);
	memcpy(o->u.big.le, le, n);
	return o;
}

mp_obj_t *mp_obj_uint(uint64_t v)
{
	if (v <= INT64_MAX)
		return mp_obj_int((int64_t)v);
	uint8_t b[9];
	for (int k = 0; k < 8; k++)
		b[k] = (uint8_t)(v >> (8 * k));
	b[8] = 0;
	return big_new(b, 9);
}

mp_obj_t *mp_obj_int_bytes(const void *le, size_t n, int *err)
{
	int e = 0;
	mp_obj_t *o = NULL;
	if (n > MP_OBJ_MAX_INT_BYTES)
		e = -MP_ELIMIT;
	else if (!le && n)
		e = -EINVAL;
	if (e)
		goto out;
	const uint8_t *b = le;
	n = mp__le_minimal(b, n);
	if (n <= 8) {
		uint64_t u = n && (b[n - 1] & 0x80) ? UINT64_MAX : 0;
		for (size_t k = 0; k < n; k++) {
			u &= ~((uint64_t)0xff << (8 * k));
			u |= (uint64_t)b[k] << (8 * k);
		}
		o = mp_obj_int((int64_t)u);
	} else {
		o = big_new(b, n);
	}
	if (!o)
		e = -ENOMEM;
out:
	if (err)
		*err = e;
	return o;
}

mp_obj_t *mp_obj_float(double v)
{
	mp_obj_t *o = mp__obj_alloc(MP_OBJ_FLOAT, FLOAT_PAYLOAD, 0);
	if (!o)
		return NULL;
	o->flags = MP__OBJ_FROZEN;
	o->u.f = v;
	return o;
}

bool mp_obj_bool_value(const mp_obj_t *o)
{
	return o == &true_obj;
}

int mp_obj_int_value(const mp_obj_t *o, int64_t *v)
{
	if (!o || !v)
		return -EINVAL;
	if (o->kind == MP_OBJ_BOOL) {
		*v = o->u.b;
		return 0;
	}
	if (o->kind != MP_OBJ_INT)
		return -EINVAL;
	if (o->flags & MP__OBJ_BIG)
		return -ERANGE;
	*v = o->u.i.v;
	return 0;
}

const uint8_t *mp_obj_int_le(const mp_obj_t *o, size_t *n)
{
	if (!o || o->kind != MP_OBJ_INT)
		return NULL;
	if (o->flags & MP__OBJ_BIG) {
		if (n)
			*n = o->u.big.n;
		return o->u.big.le;
	}
	if (n)
		*n = o->u.i.n;
	return o->u.i.le;
}

double mp_obj_float_value(const mp_obj_t *o)
{
	if (o && o->kind == MP_OBJ_FLOAT)
		return o->u.f;
	if (o && o->kind == MP_OBJ_BOOL)
		return o->u.b;
	if (o && o->kind == MP_OBJ_INT && !(o->flags & MP__OBJ_BIG))
		return (double)o->u.i.v;
	return __builtin_nan("");
}

/* ---- bytes, bytearray, str --------------------------------------------------- */

/* Most strings and bytes of a message are short: copied without a call. */
static inline void copy_short(char *dst, const char *src, size_t n)
{
	if (n >= 8) {
		memcpy(dst, src, 8);
		memcpy(dst + n - 8, src + n - 8, 8);
	} else if (n >= 4) {
		memcpy(dst, src, 4);
		memcpy(dst + n - 4, src + n - 4, 4);
	} else {
		for (size_t k = 0; k < n; k++)
			dst[k] = src[k];
	}
}

static mp_obj_t *bytes_new(mp_obj_kind_t kind, const void *data, size_t n)
{
	if (!data && n)
		return NULL;
	mp_obj_t *o = mp__obj_alloc(kind, STR_PAYLOAD, n + 1);
	if (!o)
		return NULL;
	if (kind != MP_OBJ_BYTEARRAY)
		o->flags = MP__OBJ_FROZEN;
	o->u.s.len = n;
	o->u.s.data = MP__OBJ_EXTRA(o, STR_PAYLOAD);
	if (n <= 16)
		copy_short(o->u.s.data, data, n);
	else
		memcpy(o->u.s.data, data, n);
	o->u.s.data[n] = 0;
	return o;
}

mp_obj_t *mp_obj_bytes(const void *data, size_t n)
{
	return bytes_new(MP_OBJ_BYTES, data, n);
}

mp_obj_t *mp_obj_bytearray(const void *data, size_t n)
{
	return bytes_new(MP_OBJ_BYTEARRAY, data, n);
}

/*
 * UTF-8 as Python's 'surrogatepass' writes it: the shortest form of every
 * code point up to U+10FFFF, the surrogates U+D800..U+DFFF included (ED A0
 * 80 .. ED BF BF).  Eight ASCII bytes at a time where it can.
 */
bool mp__utf8_valid(const char *str, size_t n)
{
	if (!n)
		return true; /* str may be NULL */
	const uint8_t *s = (const uint8_t *)str, *end = s + n;
	while (s < end) {
		if ((size_t)(end - s) >= 8) {
			uint64_t w;
			memcpy(&w, s, 8);
			if (!(w & 0x8080808080808080ull)) {
				s += 8;
				continue;
			}
		}
		uint8_t c = *s;
		if (c < 0x80) {
			s++;
			continue;
		}
		size_t len;
		uint8_t lo = 0x80, hi = 0xbf; /* the second byte's range */
		if (c >= 0xc2 && c <= 0xdf) {
			len = 2;
		} else if (c >= 0xe0 && c <= 0xef) {
			len = 3;
			if (c == 0xe0)
				lo = 0xa0; /* overlong below */
		} else if (c >= 0xf0 && c <= 0xf4) {
			len = 4;
			if (c == 0xf0)
				lo = 0x90; /* overlong below */
			else if (c == 0xf4)
				hi = 0x8f; /* above U+10FFFF */
		} else {
			return false; /* a continuation, C0, C1, F5..FF */
		}
		if ((size_t)(end - s) < len || s[1] < lo || s[1] > hi)
			return false;
		for (size_t k = 2; k < len; k++)
			if ((s[k] & 0xc0) != 0x80)
				return false;
		s += len;
	}
	return true;
}

static inline bool utf8_ok(const char *s, size_t n)
{
	/* A short ASCII word, the usual str, without a call. */
	if (n <= 8) {
		unsigned acc = 0;
		for (size_t k = 0; k < n; k++)
			acc |= (uint8_t)s[k];
		if (acc < 0x80)
			return true;
	}
	return mp__utf8_valid(s, n);
}

mp_obj_t *mp_obj_str(const char *s, size_t n, int *err)
{
	int e = 0;
	mp_obj_t *o = NULL;
	if (!s && n)
		e = -EINVAL;
	else if (!utf8_ok(s, n))
		e = -EILSEQ;
	else if (!(o = bytes_new(MP_OBJ_STR, s, n)))
		e = -ENOMEM;
	if (err)
		*err = e;
	return o;
}

mp_obj_t *mp_obj_cstr(const char *s, int *err)
{
	if (!s) {
		if (err)
			*err = -EINVAL;
		return NULL;
	}
	return mp_obj_str(s, strlen(s), err);
}

const char *mp_obj_data(const mp_obj_t *o, size_t *n)
{
	if (!o || (o->kind != MP_OBJ_BYTES && o->kind != MP_OBJ_BYTEARRAY &&
	           o->kind != MP_OBJ_STR))
		return NULL;
	if (n)
		*n = o->u.s.len;
	return o->u.s.data;
}

bool mp_obj_str_eq(const mp_obj_t *o, const char *s)
{
	if (!o || !s || o->kind != MP_OBJ_STR)
		return false;
	size_t n = strlen(s);
	return n == o->u.s.len && memcmp(s, o->u.s.data, n) == 0;
}

/* ---- tuple, list ------------------------------------------------------------- */

mp_obj_t *mp_obj_tuple(size_t n, mp_obj_t *const items[])
{
	mp_obj_t *o = NULL;
	bool ok = n == 0 || items;
	for (size_t i = 0; ok && i < n; i++)
		ok = items[i] && items[i]->height < MP_OBJ_MAX_DEPTH;
	if (ok && n <= (SIZE_MAX - 64) / sizeof(mp_obj_t *))
		o = mp__obj_alloc(MP_OBJ_TUPLE, SEQ_PAYLOAD,
		                  n * sizeof(mp_obj_t *));
	if (!o) {
		for (size_t i = 0; items && i < n; i++)
			mp_obj_decref(items[i]);
		return NULL;
	}
	o->flags = MP__OBJ_FROZEN;
	o->height = 1;
	o->u.seq.len = o->u.seq.cap = n;
	o->u.seq.items = (mp_obj_t **)MP__OBJ_EXTRA(o, SEQ_PAYLOAD);
	for (size_t i = 0; i < n; i++) {
		o->u.seq.items[i] = items[i];
		mp__obj_adopt(o, items[i]);
	}
	return o;
}

mp_obj_t *mp_obj_list(void)
{
	mp_obj_t *o = mp__obj_alloc(MP_OBJ_LIST, SEQ_PAYLOAD, 0);
	if (!o)
		return NULL;
	o->height = 1;
	o->u.seq.len = o->u.seq.cap = 0;
	o->u.seq.items = NULL;
	return o;
}

int mp__list_reserve(mp_obj_t *l, size_t n)
{
	size_t want = l->u.seq.len + n, cap = l->u.seq.cap;
	if (want <= cap)
		return 0;
	if (n > SIZE_MAX / sizeof(mp_obj_t *) - l->u.seq.len)
		return -ENOMEM;
	cap = cap ? cap * 2 : 4;
	while (cap < want)
		cap *= 2;
	mp_obj_t **p = cap < SIZE_MAX / sizeof(*p) ?
		mp__obj_mem_realloc(l->u.seq.items,
		                    l->u.seq.cap * sizeof(*p),
		                    cap * sizeof(*p)) : NULL;
	if (!p)
		return -ENOMEM;
	l->u.seq.items = p;
	l->u.seq.cap = cap;
	return 0;
}

int mp_obj_list_append(mp_obj_t *l, mp_obj_t *item)
{
	int e;
	if (!item)
		return -ENOMEM;
	if (!l || l->kind != MP_OBJ_LIST)
		e = -EINVAL;
	else if (l->flags & MP__OBJ_FROZEN)
		e = -EPERM;
	else if (!(e = mp__obj_check_child(l, item)))
		e = mp__list_reserve(l, 1);
	if (e) {
		mp_obj_decref(item);
		return e;
	}
	mp__list_push(l, item);
	return 0;
}

int64_t mp_obj_len(const mp_obj_t *o)
{
	if (!o)
		return -EINVAL;
	switch (o->kind) {
	case MP_OBJ_TUPLE: case MP_OBJ_LIST:
		return (int64_t)o->u.seq.len;
	case MP_OBJ_DICT: case MP_OBJ_SET: case MP_OBJ_FROZENSET:
		return o->u.map.len;
	case MP_OBJ_BYTES: case MP_OBJ_BYTEARRAY: case MP_OBJ_STR:
		return (int64_t)o->u.s.len;
	case MP_OBJ_EXC:
		return (int64_t)o->u.exc.args->u.seq.len;
	default:
		return -EINVAL;
	}
}

mp_obj_t *mp_obj_item(const mp_obj_t *o, size_t i)
{
	if (!o || (o->kind != MP_OBJ_TUPLE && o->kind != MP_OBJ_LIST) ||
	    i >= o->u.seq.len)
		return NULL;
	return o->u.seq.items[i];
}

/* ---- equality ---------------------------------------------------------------- */

/*
 * Python's ==, as a loop over an explicit stack of container pairs being
 * compared child by child (one small frame per level, on the heap past
 * 32), so a 4096-deep value costs no C stack.  Only keys looked up in
 * another dict or set are compared by a recursion (through the lookup).
 */
enum { EQ_FALSE, EQ_TRUE, EQ_DESCEND };

struct eq_frame {
	const mp_obj_t *a, *b;
	size_t i; /* the next child pair */
};

/* Compare a and b as far as one node: equal leaves, different ones, or
 * two containers whose children must be compared. */
static int eq_node(const mp_obj_t *a, const mp_obj_t *b)
{
	if (a == b)
		return EQ_TRUE; /* identity first, as Python's containers */
	if (!a || !b)
		return EQ_FALSE;
	if (mp__obj_numeric(a) || mp__obj_numeric(b))
		return mp__obj_numeric(a) && mp__obj_numeric(b) &&
		       mp__num_equal(a, b);
	bool ab = a->kind == MP_OBJ_BYTES || a->kind == MP_OBJ_BYTEARRAY;
	bool bb = b->kind == MP_OBJ_BYTES || b->kind == MP_OBJ_BYTEARRAY;
	if (ab || bb)
		return ab && bb && a->u.s.len == b->u.s.len &&
		       memcmp(a->u.s.data, b->u.s.data, a->u.s.len) == 0;
	bool as = a->kind == MP_OBJ_SET || a->kind == MP_OBJ_FROZENSET;
	bool bs = b->kind == MP_OBJ_SET || b->kind == MP_OBJ_FROZENSET;
	if (as || bs)
		return as && bs && mp__map_equal(a, b);
	if (a->kind != b->kind)
		return EQ_FALSE;
	switch (a->kind) {
	case MP_OBJ_NONE:
		return EQ_TRUE;
	case MP_OBJ_STR:
		return a->u.s.len == b->u.s.len &&
		       memcmp(a->u.s.data, b->u.s.data, a->u.s.len) == 0;
	case MP_OBJ_TUPLE:
	case MP_OBJ_LIST:
		return a->u.seq.len == b->u.seq.len ? EQ_DESCEND : EQ_FALSE;
	case MP_OBJ_DICT:
		return a->u.map.len == b->u.map.len ? EQ_DESCEND : EQ_FALSE;
	case MP_OBJ_EXC:
		return strcmp(a->u.exc.type, b->u.exc.type) == 0 &&
		       a->u.exc.args->u.seq.len == b->u.exc.args->u.seq.len ?
		       EQ_DESCEND : EQ_FALSE;
	case MP_OBJ_INERT:
		if ((a->flags & (MP__OBJ_CALL | MP__OBJ_NEWOBJ)) !=
		            (b->flags & (MP__OBJ_CALL | MP__OBJ_NEWOBJ)) ||
		    strcmp(mp__obj_inert_module(a),
		           mp__obj_inert_module(b)) != 0 ||
		    strcmp(a->u.inert.name, b->u.inert.name) != 0)
			return EQ_FALSE;
		if (!(a->flags & MP__OBJ_CALL))
			return EQ_TRUE;
		return a->u.inert.args->u.seq.len ==
		               b->u.inert.args->u.seq.len &&
		       !a->u.inert.state == !b->u.inert.state ?
		       EQ_DESCEND : EQ_FALSE;
	default:
		return EQ_FALSE;
	}
}

/* The next pair of children of f to compare: 1 with *ca, *cb; 0 when
 * there are no more; -1 when a dict's key is missing from the other. */
static int eq_next(struct eq_frame *f, const mp_obj_t **ca,
                   const mp_obj_t **cb)
{
	const mp_obj_t *a = f->a, *b = f->b;
	size_t i = f->i++;
	switch (a->kind) {
	case MP_OBJ_EXC:
		a = a->u.exc.args;
		b = b->u.exc.args;
		/* fall through */
	case MP_OBJ_TUPLE:
	case MP_OBJ_LIST:
		if (i >= a->u.seq.len)
			return 0;
		*ca = a->u.seq.items[i];
		*cb = b->u.seq.items[i];
		return 1;
	case MP_OBJ_DICT: {
		if (i >= a->u.map.len)
			return 0;
		const struct mp__entry *e = &a->u.map.entries[i];
		const mp_obj_t *v = mp__map_value(b, e->key, e->hash);
		if (!v)
			return -1;
		*ca = e->value;
		*cb = v;
		return 1;
	}
	default: { /* an inert call: its args, then its state */
		size_t na = a->u.inert.args->u.seq.len;
		if (i < na) {
			*ca = a->u.inert.args->u.seq.items[i];
			*cb = b->u.inert.args->u.seq.items[i];
			return 1;
		}
		if (i > na || !a->u.inert.state)
			return 0;
		*ca = a->u.inert.state;
		*cb = b->u.inert.state;
		return 1;
	}
	}
}

/* The children of a pair of containers, each pair by mp_obj_equal. */
static bool eq_children(const mp_obj_t *a, const mp_obj_t *b)
{
	struct eq_frame f = { a, b, 0 };
	const mp_obj_t *ca, *cb;
	int n;
	while ((n = eq_next(&f, &ca, &cb)) > 0)
		if (!mp_obj_equal(ca, cb))
			return false;
	return n == 0;
}

bool mp_obj_equal(const mp_obj_t *a, const mp_obj_t *b)
{
	struct eq_frame local[32], *st = local;
	size_t depth = 0, cap = 32;
	bool eq = true;
	for (;;) {
		int r = eq_node(a, b);
		if (r == EQ_FALSE) {
			eq = false;
			break;
		}
		if (r == EQ_DESCEND && depth == cap) {
			struct eq_frame *p = realloc(st == local ? NULL : st,
			                             2 * cap * sizeof(*p));
			if (p) {
				if (st == local)
					memcpy(p, local, sizeof(local));
				st = p;
				cap *= 2;
			} else if (!eq_children(a, b)) {
				/* No memory for the stack: this pair by a
				 * recursion (each level of it has 32 frames
				 * of its own), bounded by the depth. */
				eq = false;
				break;
			} else {
				r = EQ_TRUE;
			}
		}
		if (r == EQ_DESCEND)
			st[depth++] = (struct eq_frame){ a, b, 0 };
		/* The next pair of children, from the innermost frame. */
		int n = 0;
		while (depth && !(n = eq_next(&st[depth - 1], &a, &b)))
			depth--;
		if (n <= 0) {
			eq = n == 0;
			break;
		}
	}
	if (st != local)
		free(st);
	return eq;
}
