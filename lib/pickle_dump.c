/*
 * pickle_dump.c - mp_pickle_dumps: a value tree into the bytes CPython's
 * C pickler (3.8 to 3.13) writes for the same Python object.
 *
 * Each save() is one call of CPython's save(): it starts with an opcode
 * boundary (where a full frame is committed), and what CPython reduces -
 * bytes in protocol 2, bytearray before 5, set and frozenset before 4,
 * exceptions, calls - is written as its reduce value would be, with a
 * boundary for each object CPython saves on the way (the callable, the
 * argument tuple, its elements), each memoized when CPython memoizes it.
 * The order of a set's elements is the value's (insertion), where CPython
 * follows its hash table: sets of ints added in increasing order agree.
 *
 * The walk recurses on the C stack: values are at most MP_OBJ_MAX_DEPTH
 * deep, and a level costs one small frame.
 */
#include "pickle_buf.h"
#include "pickle_write.h"
#include "obj.h"

#include <stdlib.h>

#define BATCH 1000 /* CPython's BATCHSIZE for APPENDS, SETITEMS, ADDITEMS */

static void save(struct mp__pw *w, const mp_obj_t *o);

static void put2(struct mp__pw *w, uint8_t a, uint8_t b)
{
	uint8_t *p = pw_put(w, 2);
	if (p) {
		p[0] = a;
		p[1] = b;
	}
}

/* The body of a bytes object's save (after its boundary); byvalue: it
 * may be CPython's object for '' or its one byte. */
static void save_bytes_value(struct mp__pw *w, const uint8_t *d, size_t n,
                             const void *key, bool byvalue)
{
	const void *vk = byvalue ? mp__pw_key_bytes(n, d) : NULL;
	if (vk) {
		int64_t idx = mp__pw_memo_find(w, vk);
		if (idx >= 0) {
			mp__pw_get(w, (uint32_t)idx);
			return;
		}
		key = vk;
	}
	if (w->proto < 3) {
		mp__pw_bytes_p2(w, d, n, key);
		return;
	}
	uint8_t h[9];
	size_t hl;
	if (n < 256) {
		h[0] = P_SHORT_BINBYTES;
		h[1] = (uint8_t)n;
		hl = 2;
	} else if (n <= UINT32_MAX) {
		h[0] = P_BINBYTES;
		pw_le32(h + 1, (uint32_t)n);
		hl = 5;
	} else if (w->proto >= 4) {
		h[0] = P_BINBYTES8;
		pw_le64(h + 1, n);
		hl = 9;
	} else {
		w->err = w->err ? w->err : -EINVAL;
		return;
	}
	mp__pw_bytes(w, h, hl, d, n);
	pw_memoize(w, key);
}

static void save_bytearray(struct mp__pw *w, const uint8_t *d, size_t n,
                           const void *key)
{
	if (w->proto >= 5) {
		uint8_t h[9] = { P_BYTEARRAY8 };
		pw_le64(h + 1, n);
		mp__pw_bytes(w, h, 9, d, n);
		pw_memoize(w, key);
		return;
	}
	/* bytearray.__reduce_ex__: (bytearray, (bytes(self),)), or
	 * (bytearray, ()) when empty. */
	mp__pw_builtin(w, "bytearray");
	pw_boundary(w);
	if (n == 0) {
		pw_op(w, P_EMPTY_TUPLE);
	} else {
		pw_boundary(w);
		/* A new bytes object, even of one byte (3.8-3.13). */
		save_bytes_value(w, d, n, NULL, false);
		pw_op(w, P_TUPLE1);
		pw_memoize(w, NULL);
	}
	pw_op(w, P_REDUCE);
	pw_memoize(w, key);
}

static void save_int(struct mp__pw *w, const mp_obj_t *o)
{
	uint8_t le[9];
	const uint8_t *b = le;
	size_t n;
	if (!(o->flags & MP__OBJ_BIG)) {
		int64_t v = o->u.i.v;
		uint8_t *p;
		if (v >= 0 && v <= 0xff) {
			put2(w, P_BININT1, (uint8_t)v);
			return;
		}
		if (v >= 0 && v <= 0xffff) {
			if ((p = pw_put(w, 3))) {
				p[0] = P_BININT2;
				p[1] = (uint8_t)v;
				p[2] = (uint8_t)(v >> 8);
			}
			return;
		}
		if (v >= INT32_MIN && v <= INT32_MAX) {
			if ((p = pw_put(w, 5))) {
				p[0] = P_BININT;
				pw_le32(p + 1, (uint32_t)v);
			}
			return;
		}
		pw_le64(le, (uint64_t)v);
		n = 8;
		/* Drop the bytes that only repeat the sign. */
		while (n > 1 && ((le[n - 1] == 0 && !(le[n - 2] & 0x80)) ||
		                 (le[n - 1] == 0xff && (le[n - 2] & 0x80))))
			n--;
	} else {
		b = o->u.big.le;
		n = o->u.big.n;
	}
	uint8_t *p;
	if (n < 256) {
		if ((p = pw_put(w, 2 + n))) {
			p[0] = P_LONG1;
			p[1] = (uint8_t)n;
			memcpy(p + 2, b, n);
		}
	} else if ((p = pw_put(w, 5 + n))) {
		p[0] = P_LONG4;
		pw_le32(p + 1, (uint32_t)n);
		memcpy(p + 5, b, n);
	}
}

static void save_float(struct mp__pw *w, double d)
{
	uint64_t bits;
	memcpy(&bits, &d, 8);
	uint8_t *p = pw_put(w, 9);
	if (p) {
		p[0] = P_BINFLOAT;
		bits = __builtin_bswap64(bits);
		memcpy(p + 1, &bits, 8);
	}
}

/* Items first..n of a list, or of a set's elements for protocol 2-3's
 * list(set): one APPEND for a list of one, else APPENDS by 1000. */
static void save_list_items(struct mp__pw *w, const mp_obj_t *o, bool set)
{
	size_t n;
	mp_obj_t *const *items = set ? NULL : mp__obj_items(o, &n);
	const struct mp__entry *e = set ? mp__obj_entries(o, &n) : NULL;
	if (n == 0)
		return;
	if (n == 1) {
		save(w, set ? e[0].key : items[0]);
		pw_op(w, P_APPEND);
		return;
	}
	size_t i = 0;
	do {
		pw_op(w, P_MARK);
		for (size_t b = 0; i < n && b < BATCH; b++, i++)
			save(w, set ? e[i].key : items[i]);
		pw_op(w, P_APPENDS);
	} while (i < n && !w->err);
}

static void save_dict(struct mp__pw *w, const mp_obj_t *o)
{
	size_t n;
	const struct mp__entry *e = mp__obj_entries(o, &n);
	if (n == 0)
		return;
	if (n == 1) {
		save(w, e[0].key);
		save(w, e[0].value);
		pw_op(w, P_SETITEM);
		return;
	}
	/* CPython's loop: a batch that came out full is followed by another
	 * one, so a multiple of 1000 items ends with an empty MARK SETITEMS. */
	size_t i = 0, b;
	do {
		pw_op(w, P_MARK);
		for (b = 0; i < n && b < BATCH; b++, i++) {
			save(w, e[i].key);
			save(w, e[i].value);
		}
		pw_op(w, P_SETITEMS);
	} while (b == BATCH && !w->err);
}

static void save_set(struct mp__pw *w, const mp_obj_t *o, const void *key)
{
	bool frozen = o->kind == MP_OBJ_FROZENSET;
	size_t n;
	const struct mp__entry *e = mp__obj_entries(o, &n);
	if (w->proto < 4) {
		/* set.__reduce__: (set, (list(self),)) */
		mp__pw_builtin(w, frozen ? "frozenset" : "set");
		pw_boundary(w);
		pw_boundary(w);
		pw_op(w, P_EMPTY_LIST);
		pw_memoize(w, NULL);
		save_list_items(w, o, true);
		pw_op(w, P_TUPLE1);
		pw_memoize(w, NULL);
		pw_op(w, P_REDUCE);
		pw_memoize(w, key);
		return;
	}
	if (frozen) {
		pw_op(w, P_MARK);
		for (size_t i = 0; i < n; i++)
			save(w, e[i].key);
		pw_op(w, P_FROZENSET);
		pw_memoize(w, key);
		return;
	}
	pw_op(w, P_EMPTY_SET);
	pw_memoize(w, key);
	if (n == 0)
		return;
	size_t i = 0, b;
	do { /* as save_dict: a full batch is followed by another one */
		pw_op(w, P_MARK);
		for (b = 0; i < n && b < BATCH; b++, i++)
			save(w, e[i].key);
		pw_op(w, P_ADDITEMS);
	} while (b == BATCH && !w->err);
}

static void save_tuple(struct mp__pw *w, mp_obj_t *const *items,
                       size_t n, const void *key)
{
	if (n <= 3) {
		for (size_t i = 0; i < n; i++)
			save(w, items[i]);
		pw_op(w, (uint8_t)(P_TUPLE1 + n - 1));
	} else {
		pw_op(w, P_MARK);
		for (size_t i = 0; i < n; i++)
			save(w, items[i]);
		pw_op(w, P_TUPLE);
	}
	pw_memoize(w, key);
}

/* An argument tuple that may be NULL (an empty one). */
static void save_args(struct mp__pw *w, const mp_obj_t *args)
{
	if (args) {
		save(w, args);
	} else {
		pw_boundary(w);
		pw_op(w, P_EMPTY_TUPLE);
	}
}

static void save_exc(struct mp__pw *w, const mp_obj_t *o, const void *key)
{
	/* BaseException.__reduce__: (type(self), self.args).  The type is
	 * "module.qualname"; the qualname is what follows the last dot. */
	const char *t = mp_obj_exc_type(o);
	size_t tl = t ? strlen(t) : 0;
	const char *dot = t ? memrchr(t, '.', tl) : NULL;
	if (!dot) {
		w->err = w->err ? w->err : -EINVAL;
		return;
	}
	mp__pw_global(w, t, (size_t)(dot - t), dot + 1, tl - (size_t)(dot - t) - 1);
	save_args(w, mp_obj_exc_args(o));
	pw_op(w, P_REDUCE);
	pw_memoize(w, key);
}

static void save_inert(struct mp__pw *w, const mp_obj_t *o, const void *key)
{
	const char *m = mp_obj_inert_module(o), *q = mp_obj_inert_name(o);
	if (!m || !q) {
		w->err = w->err ? w->err : -EINVAL;
		return;
	}
	mp__pw_global(w, m, strlen(m), q, strlen(q));
	if (!mp__obj_inert_callable(o))
		return; /* a bare global */
	save_args(w, mp_obj_inert_args(o));
	pw_op(w, mp__obj_inert_newobj(o) ? P_NEWOBJ : P_REDUCE);
	pw_memoize(w, key);
	const mp_obj_t *state = mp_obj_inert_state(o);
	if (state) {
		save(w, state);
		pw_op(w, P_BUILD);
	}
}

static void save(struct mp__pw *w, const mp_obj_t *o)
{
	pw_boundary(w);
	if (w->err)
		return;
	mp_obj_kind_t kind = (mp_obj_kind_t)o->kind;
	switch (kind) {
	case MP_OBJ_NONE:
		pw_op(w, P_NONE);
		return;
	case MP_OBJ_BOOL:
		pw_op(w, o->u.b ? P_NEWTRUE : P_NEWFALSE);
		return;
	case MP_OBJ_INT:
		save_int(w, o);
		return;
	case MP_OBJ_FLOAT:
		save_float(w, o->u.f);
		return;
	case MP_OBJ_INERT:
		if (!mp__obj_inert_callable(o)) {
			save_inert(w, o, NULL); /* globals go by name */
			return;
		}
		break;
	default:
		break;
	}
	/* Only a node with another reference can be met twice. */
	const void *key = NULL;
	if (mp__obj_refcnt(o) > 1) {
		int64_t idx = mp__pw_memo_find(w, o);
		if (idx >= 0) {
			mp__pw_get(w, (uint32_t)idx);
			return;
		}
		key = o;
	}
	size_t n;
	const char *d;
	switch (kind) {
	case MP_OBJ_STR: {
		d = o->u.s.data;
		n = o->u.s.len;
		if (n <= 2) {
			const void *vk = mp__pw_key_str(d, n);
			if (vk) {
				int64_t idx = mp__pw_memo_find(w, vk);
				if (idx >= 0) {
					mp__pw_get(w, (uint32_t)idx);
					return;
				}
				key = vk;
			}
		}
		if (n < 256 && w->proto >= 4 && !key) {
			/* The common case in one write: the opcode, the
			 * length, the UTF-8, MEMOIZE. */
			uint8_t *p = pw_put(w, n + 3);
			if (p) {
				p[0] = P_SHORT_BINUNICODE;
				p[1] = (uint8_t)n;
				memcpy(p + 2, d, n);
				p[n + 2] = P_MEMOIZE;
				w->memo++;
			}
			return;
		}
		mp__pw_str(w, d, n);
		pw_memoize(w, key);
		return;
	}
	case MP_OBJ_BYTES:
		d = o->u.s.data;
		n = o->u.s.len;
		if (n > 1 && n < 256 && w->proto >= 4 && !key) {
			uint8_t *p = pw_put(w, n + 3);
			if (p) {
				p[0] = P_SHORT_BINBYTES;
				p[1] = (uint8_t)n;
				memcpy(p + 2, d, n);
				p[n + 2] = P_MEMOIZE;
				w->memo++;
			}
			return;
		}
		save_bytes_value(w, (const uint8_t *)d, n, key, true);
		return;
	case MP_OBJ_BYTEARRAY:
		save_bytearray(w, (const uint8_t *)o->u.s.data, o->u.s.len, key);
		return;
	case MP_OBJ_TUPLE: {
		mp_obj_t *const *items = mp__obj_items(o, &n);
		if (n == 0)
			pw_op(w, P_EMPTY_TUPLE); /* one object, never memoized */
		else
			save_tuple(w, items, n, key);
		return;
	}
	case MP_OBJ_LIST:
		pw_op(w, P_EMPTY_LIST);
		pw_memoize(w, key);
		save_list_items(w, o, false);
		return;
	case MP_OBJ_DICT:
		pw_op(w, P_EMPTY_DICT);
		pw_memoize(w, key);
		save_dict(w, o);
		return;
	case MP_OBJ_SET:
	case MP_OBJ_FROZENSET:
		save_set(w, o, key);
		return;
	case MP_OBJ_EXC:
		save_exc(w, o, key);
		return;
	case MP_OBJ_INERT:
		save_inert(w, o, key);
		return;
	default:
		w->err = w->err ? w->err : -EINVAL;
		return;
	}
}

int mp__pickle_dump_buf(const mp_obj_t *o, int protocol,
                        struct mp__pickle_buf *b)
{
	if (!o || !b || protocol < 0 || protocol == 1 ||
	    protocol > MP__PICKLE_HIGHEST || (b->cap && !b->base))
		return -EINVAL;
	if (protocol == 0)
		protocol = 4;
	struct mp__pw w = {
		.buf = b->base, .cap = b->cap, .frame = PW_NO_FRAME,
		.proto = protocol,
	};
	b->len = 0;
	uint8_t *p = pw_put(&w, b->head + 2);
	if (p) {
		p[b->head] = P_PROTO;
		p[b->head + 1] = (uint8_t)protocol;
	}
	w.framing = protocol >= 4;
	save(&w, o);
	pw_op(&w, P_STOP);
	mp__pw_commit_frame(&w);
	mp__pw_free(&w);
	b->base = w.buf;
	b->cap = w.cap;
	if (w.err)
		return w.err;
	b->len = w.len - b->head;
	return 0;
}

int mp_pickle_dumps(const mp_obj_t *o, int protocol, void **out, size_t *len)
{
	if (!out || !len)
		return -EINVAL;
	struct mp__pickle_buf b = { 0 };
	int r = mp__pickle_dump_buf(o, protocol, &b);
	if (r < 0) {
		free(b.base);
		return r;
	}
	/* Give back what doubling left over, when it is worth a realloc. */
	if (b.cap - b.len > 65536) {
		uint8_t *s = realloc(b.base, b.len);
		if (s)
			b.base = s;
	}
	*out = b.base;
	*len = b.len;
	return 0;
}
