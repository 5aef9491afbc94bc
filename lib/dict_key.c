/*
 * dict_key.c - a shared dict's keys: their hash, the same in every process
 * that maps the dict, and their equality - bytes, or Python's equality of
 * the values pickled in them (MP_DICT_PYKEYS).
 */
#include "dict.h"
#include "obj.h"

#include <math.h> /* isnan, a macro: no libm */

#define BIG_HASH 0x6d70b16b16ull /* ints and floats beyond 64 bits */

static uint64_t int_hash(const mp_dict_t *d, int64_t v)
{
	return mp__mix64((uint64_t)v ^ d->k1);
}

static uint64_t str_hash(const mp_dict_t *d, const void *p, size_t n,
                         uint64_t tag)
{
	return mp__siphash13(d->k0 ^ tag, d->k1, p, n);
}

static int py_hash(const mp_dict_t *d, const mp_obj_t *o, struct dict_key *k,
                   uint64_t *h);

static inline uint64_t f2bits(double f)
{
	uint64_t bits;
	memcpy(&bits, &f, 8);
	return bits;
}

static int py_hash_items(const mp_dict_t *d, const mp_obj_t *o,
                         struct dict_key *k, uint64_t *h, bool set)
{
	int64_t n = mp_obj_len(o);
	uint64_t acc = set ? 0x5e7 : 0x7a9;
	for (int64_t i = 0; i < n; i++) {
		uint64_t e;
		mp_obj_t *it = set ? mp_obj_set_item(o, (size_t)i) :
		               mp_obj_item(o, (size_t)i);
		int r = py_hash(d, it, k, &e);
		if (r < 0)
			return r;
		/* A frozenset's hash ignores order (a sum), a tuple's not. */
		acc = set ? acc + mp__mix64(e) : mp__mix64(acc * 31 + e);
	}
	*h = mp__mix64(acc ^ (uint64_t)n);
	return 0;
}

/*
 * A hash of a decoded key that agrees with mp_obj_equal (equal values,
 * equal hashes) and is the same in every process that shares the dict
 * (its key is in the header; Python's own str hash is per process).
 * Numbers hash by their integral value when they have one, so 1, 1.0
 * and True meet; beyond 64 bits they share one bucket.  -EINVAL for an
 * unhashable value.  Recursion is bounded by the decoder's max_depth.
 */
static int py_hash(const mp_dict_t *d, const mp_obj_t *o, struct dict_key *k,
                   uint64_t *h)
{
	int64_t v;
	double f;
	size_t n;
	const char *s;

	switch (mp_obj_kind(o)) {
	case MP_OBJ_NONE:
		*h = mp__mix64(d->k0 ^ 0x4e6f6e65);
		return 0;
	case MP_OBJ_BOOL:
		*h = int_hash(d, mp_obj_bool_value(o));
		return 0;
	case MP_OBJ_INT:
		*h = mp_obj_int_value(o, &v) == 0 ? int_hash(d, v) : BIG_HASH;
		return 0;
	case MP_OBJ_FLOAT:
		f = mp_obj_float_value(o);
		if (isnan(f)) {
			k->nan = true;
			*h = 0x6e616e;
		} else if (f >= -0x1p63 && f < 0x1p63) {
			/* An integral value hashes as the int it equals. */
			if ((double)(int64_t)f == f)
				*h = int_hash(d, (int64_t)f);
			else
				*h = mp__mix64(f2bits(f) ^ d->k0);
		} else {
			/* Beyond 2^63 every double (and an infinity) is
			 * integral, or equal to no int at all. */
			*h = BIG_HASH;
		}
		return 0;
	case MP_OBJ_STR:
	case MP_OBJ_BYTES:
		s = mp_obj_data(o, &n);
		*h = str_hash(d, s, n, mp_obj_kind(o));
		return 0;
	case MP_OBJ_TUPLE:
		return py_hash_items(d, o, k, h, false);
	case MP_OBJ_FROZENSET:
		return py_hash_items(d, o, k, h, true);
	case MP_OBJ_EXC:
		s = mp_obj_exc_type(o);
		*h = str_hash(d, s, strlen(s), 0xe4c);
		return 0;
	case MP_OBJ_INERT:
		s = mp_obj_inert_name(o);
		*h = str_hash(d, s, s ? strlen(s) : 0, 0x1e27);
		return 0;
	default: /* list, dict, set, bytearray */
		return -EINVAL;
	}
}

/* Check a key and compute its hash (decoding it for MP_DICT_PYKEYS);
 * done before the lock is taken.  0 or a negative code. */
int mp__dict_key_make(const mp_dict_t *d, const void *p, size_t n,
                    struct dict_key *k)
{
	*k = (struct dict_key){ .p = p, .n = n };
	if ((!p && n) || n > MP_DICT_MAX_KEY)
		return -EINVAL;
	if (!(d->flags & MP_DICT_PYKEYS)) {
		k->h = str_hash(d, p, n, 0);
		return 0;
	}
	int err = 0;
	k->obj = mp_pickle_loads(p, n, NULL, NULL, &err);
	if (!k->obj)
		return err ? err : -MP_EPICKLE;
	int r = py_hash(d, k->obj, k, &k->h);
	if (r < 0) {
		mp_obj_decref(k->obj);
		k->obj = NULL;
	}
	return r;
}

void mp__dict_key_done(struct dict_key *k)
{
	mp_obj_decref(k->obj);
	k->obj = NULL;
}

/* Is entry e's key k?  1, 0, or -ENOMEM (decoding a stored key). */
int mp__dict_key_match(const struct dict_entry *e, const struct dict_key *k)
{
	if (e->hash != k->h || k->nan)
		return 0;
	if (e->klen == k->n && !memcmp(e->data, k->p, k->n))
		return 1;
	if (!k->obj)
		return 0;
	int err = 0;
	mp_obj_t *o = mp_pickle_loads(e->data, e->klen, NULL, NULL, &err);
	if (!o)
		return err == -ENOMEM ? -ENOMEM : 0;
	bool eq = mp_obj_equal(o, k->obj);
	mp_obj_decref(o);
	return eq;
}

