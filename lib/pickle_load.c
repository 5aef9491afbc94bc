/*
 * pickle_load.c - mp_pickle_loads: CPython's pickles of protocols 2 to 5
 * decoded into values, without resolving or calling anything.
 *
 * The machine.  Pickle is a stack machine: opcodes push values, MARK
 * remembers a stack height, and the container opcodes take what lies above
 * the last mark (or the top one, two or three items) into a container.
 * Here the stack holds slots - a value and what the decoder knows of it
 * (whether it is a bare global, which memo slot also holds it) - and the
 * marks are a second array of heights.  Nesting is the nodes' own height
 * (lib/obj.h), checked against max_depth before each insertion.  Both grow
 * with the input (each push costs at least one byte of it), so memory is
 * proportional to the input whatever it says; nothing here recurses.  As
 * in CPython's C unpickler, an opcode may not take items from below the
 * last mark (a POP that finds none pops the mark itself, as Python's do).
 *
 * The memo.  PUT / MEMOIZE keep the slot; GET pushes the same value again
 * with one more reference (never a copy: a list of references to a list of
 * references ... costs one pointer per reference, not their expansion).
 * CPython's pickler numbers its memo 0, 1, 2 ...; an index at or past the
 * input's length (which no pickle of that length can have filled) is
 * refused instead of being stored sparsely.
 *
 * Cycles.  Values are trees (pickle.h's freeze rule): a container can gain
 * children only until it is put somewhere.  A pickle of a cyclic Python
 * value appends a container to itself, or to something it is already in,
 * through the memo: the first is caught here, the second by the value
 * API's -EPERM, and both are -MP_EPICKLE "cycle".
 *
 * Globals and calls.  GLOBAL / STACK_GLOBAL push a global node.  Without
 * MP_PICKLE_INERT a name outside pickle_names.c's closed table is refused
 * at once, and a table name may only be called (REDUCE, NEWOBJ,
 * NEWOBJ_EX; or be the class and base of copyreg._reconstructor): a bare
 * one that ends up in a value is refused too.  A call builds the value
 * itself when its arguments are the data pattern CPython writes (bytes of
 * protocol 2 through _codecs.encode(str, 'latin1'), bytearray, set and
 * frozenset of a list, list of an iterable, an exception type with its
 * args); any other call is refused, or, with MP_PICKLE_INERT, kept as an
 * inert node.
 *
 * BUILD.  An exception whose state is None or an empty dict stays an
 * exception.  A non-empty state (attributes, __notes__) cannot be kept on
 * an exception value: with MP_PICKLE_INERT the exception becomes an inert
 * node (its type as a global, its args, the state), losing nothing;
 * without, it is refused.  BUILD on an inert call gives a new inert node
 * with the state, which replaces the old one on the stack and in the memo
 * slot it was put in; a target that was already handed out (DUP, GET, put
 * twice) is -MP_EPICKLE, as the copies would miss the state (CPython's
 * pickler always builds before it shares).
 *
 * Strings.  BINSTRING / SHORT_BINSTRING (a Python 2 str) decode as CPython
 * decodes them by default (encoding='ASCII'): a str when every byte is
 * ASCII, -MP_EPICKLE otherwise.
 *
 * This file runs the machine (the loop, the stack, containers, the memo,
 * scalars); pickle_load_call.c has globals, calls and BUILD.
 */
#include "pickle_load.h"

#include <stdio.h>
#include <stdlib.h>

/* Defaults of mp_pickle_opts_t (pickle.h). */
#define DEF_MAX_DEPTH 1000u
#define DEF_MAX_NODES ((uint64_t)16 << 20)
#define DEF_MAX_INT_BYTES (64u << 10)
#define DEF_MAX_MEMO (16u << 20)
static const char *op_name(int op)
{
	switch (op) {
	case P_MARK: return "MARK";
	case P_STOP: return "STOP";
	case P_POP: return "POP";
	case P_DUP: return "DUP";
	case P_FLOAT: return "FLOAT";
	case P_INT: return "INT";
	case P_LONG: return "LONG";
	case P_NONE: return "NONE";
	case P_PERSID: return "PERSID";
	case P_REDUCE: return "REDUCE";
	case P_STRING: return "STRING";
	case P_UNICODE: return "UNICODE";
	case P_APPEND: return "APPEND";
	case P_BUILD: return "BUILD";
	case P_GLOBAL: return "GLOBAL";
	case P_DICT: return "DICT";
	case P_GET: return "GET";
	case P_INST: return "INST";
	case P_LIST: return "LIST";
	case P_PUT: return "PUT";
	case P_SETITEM: return "SETITEM";
	case P_TUPLE: return "TUPLE";
	case P_POP_MARK: return "POP_MARK";
	case P_BINFLOAT: return "BINFLOAT";
	case P_BININT: return "BININT";
	case P_BININT1: return "BININT1";
	case P_BININT2: return "BININT2";
	case P_BINPERSID: return "BINPERSID";
	case P_BINSTRING: return "BINSTRING";
	case P_SHORT_BINSTRING: return "SHORT_BINSTRING";
	case P_BINUNICODE: return "BINUNICODE";
	case P_EMPTY_DICT: return "EMPTY_DICT";
	case P_APPENDS: return "APPENDS";
	case P_BINGET: return "BINGET";
	case P_LONG_BINGET: return "LONG_BINGET";
	case P_EMPTY_LIST: return "EMPTY_LIST";
	case P_OBJ: return "OBJ";
	case P_BINPUT: return "BINPUT";
	case P_LONG_BINPUT: return "LONG_BINPUT";
	case P_SETITEMS: return "SETITEMS";
	case P_EMPTY_TUPLE: return "EMPTY_TUPLE";
	case P_PROTO: return "PROTO";
	case P_NEWOBJ: return "NEWOBJ";
	case P_EXT1: return "EXT1";
	case P_EXT2: return "EXT2";
	case P_EXT4: return "EXT4";
	case P_TUPLE1: return "TUPLE1";
	case P_TUPLE2: return "TUPLE2";
	case P_TUPLE3: return "TUPLE3";
	case P_NEWTRUE: return "NEWTRUE";
	case P_NEWFALSE: return "NEWFALSE";
	case P_LONG1: return "LONG1";
	case P_LONG4: return "LONG4";
	case P_BINBYTES: return "BINBYTES";
	case P_SHORT_BINBYTES: return "SHORT_BINBYTES";
	case P_SHORT_BINUNICODE: return "SHORT_BINUNICODE";
	case P_BINUNICODE8: return "BINUNICODE8";
	case P_BINBYTES8: return "BINBYTES8";
	case P_EMPTY_SET: return "EMPTY_SET";
	case P_ADDITEMS: return "ADDITEMS";
	case P_FROZENSET: return "FROZENSET";
	case P_NEWOBJ_EX: return "NEWOBJ_EX";
	case P_STACK_GLOBAL: return "STACK_GLOBAL";
	case P_MEMOIZE: return "MEMOIZE";
	case P_FRAME: return "FRAME";
	case P_BYTEARRAY8: return "BYTEARRAY8";
	case P_NEXT_BUFFER: return "NEXT_BUFFER";
	case P_READONLY_BUFFER: return "READONLY_BUFFER";
	}
	return NULL;
}

int mp__ld_vfail(struct ld *l, int code, const char *fmt, va_list ap)
{
	mp_pickle_diag_t *d = l->diag;
	if (!d)
		return code;
	d->offset = (size_t)(l->op - l->start);
	d->opcode = l->op < l->end ? *l->op : -1;
	char what[96];
	vsnprintf(what, sizeof(what), fmt, ap);
	const char *name = d->opcode >= 0 ? op_name(d->opcode) : NULL;
	if (name)
		snprintf(d->msg, sizeof(d->msg), "%s: %s", name, what);
	else
		snprintf(d->msg, sizeof(d->msg), "%s", what);
	return code;
}

/* ---- the stack ----------------------------------------------------------- */

int mp__ld_grow(void **arr, size_t *cap, size_t elem, size_t want,
                const void *inl)
{
	size_t n = *cap ? *cap * 2 : 64;
	while (n < want)
		n *= 2;
	void *p;
	if (*arr == inl && inl) {
		p = malloc(n * elem);
		if (p)
			memcpy(p, *arr, *cap * elem);
	} else {
		p = realloc(*arr, n * elem);
	}
	if (!p)
		return -ENOMEM;
	*arr = p;
	*cap = n;
	return 0;
}

/* ---- containers ---------------------------------------------------------- */

/* A tuple of the items at [from, sp), which are popped. */
static int build_tuple(struct ld *l, size_t from)
{
	size_t n = l->sp - from;
	uint32_t depth = 0;
	uint8_t flags = 0;
	for (size_t i = from; i < l->sp; i++) {
		struct slot *s = &l->st[i];
		if (s->o->height > depth)
			depth = s->o->height;
		if (s->flags & SL_GLOBAL)
			flags |= SL_HASGLOBAL;
		if (s->flags & (SL_HASGLOBAL | SL_DEEPGLOBAL))
			flags |= SL_DEEPGLOBAL;
	}
	int r = check_depth(l, depth + 1);
	if (r)
		return r;
	if (n > l->tmpcap &&
	    mp__ld_grow((void **)&l->tmp, &l->tmpcap, sizeof(*l->tmp), n,
	                NULL))
		return fail_nomem(l);
	for (size_t i = 0; i < n; i++)
		l->tmp[i] = l->st[from + i].o;
	l->sp = from; /* the tuple owns them now, also on failure */
	return push(l, mp_obj_tuple(n, l->tmp), flags);
}

/* Append the items at [from, sp) to the list in slot list. */
static int list_extend(struct ld *l, size_t list, size_t from)
{
	struct slot *c = &l->st[list];
	if (mp_obj_kind(c->o) != MP_OBJ_LIST)
		return fail(l, -MP_EPICKLE, "append to a %s",
		            mp_obj_kind_name(mp_obj_kind(c->o)));
	uint32_t depth = 0;
	for (size_t i = from; i < l->sp; i++) {
		int r = value_ok(l, &l->st[i]);
		if (r)
			return r;
		if (l->st[i].o == c->o)
			return fail(l, -MP_EPICKLE, "cycle: a list appended "
			            "to itself");
		if (l->st[i].o->height > depth)
			depth = l->st[i].o->height;
	}
	int r = check_child(l, depth);
	if (r)
		return r;
	if (c->o->flags & MP__OBJ_FROZEN)
		return fail_insert(l, -EPERM);
	/* Checked as mp_obj_list_append would, and room made at once. */
	if (mp__list_reserve(c->o, l->sp - from))
		return fail_nomem(l);
	for (size_t i = from; i < l->sp; i++)
		mp__list_push(c->o, l->st[i].o);
	l->sp = from;
	return 0;
}

/* d[k] = v for the pairs at [from, sp). */
static int dict_update(struct ld *l, size_t dict, size_t from)
{
	struct slot *c = &l->st[dict];
	if ((l->sp - from) % 2)
		return fail(l, -MP_EPICKLE, "odd number of items for a dict");
	if (mp_obj_kind(c->o) != MP_OBJ_DICT)
		return fail(l, -MP_EPICKLE, "item set on a %s",
		            mp_obj_kind_name(mp_obj_kind(c->o)));
	uint32_t depth = 0;
	for (size_t i = from; i < l->sp; i++) {
		int r = value_ok(l, &l->st[i]);
		if (r)
			return r;
		if (l->st[i].o == c->o)
			return fail(l, -MP_EPICKLE, "cycle: a dict put into "
			            "itself");
		if (l->st[i].o->height > depth)
			depth = l->st[i].o->height;
	}
	int r = check_child(l, depth);
	if (r)
		return r;
	if (c->o->flags & MP__OBJ_FROZEN)
		return fail_insert(l, -EPERM);
	/* Checked as mp_obj_dict_set would, and room made at once. */
	if (mp__map_reserve(c->o, c->o->u.map.len + (l->sp - from) / 2))
		return fail_nomem(l);
	size_t end = l->sp;
	l->sp = from;
	for (size_t i = from; i < end; i += 2) {
		r = mp__map_insert(c->o, l->st[i].o, l->st[i + 1].o);
		if (r < 0) {
			for (size_t j = i + 2; j < end; j++)
				mp_obj_decref(l->st[j].o);
			return fail_insert(l, r);
		}
	}
	return 0;
}

/* Add the items at [from, sp) to the set in slot set. */
static int set_update(struct ld *l, size_t set, size_t from)
{
	struct slot *c = &l->st[set];
	mp_obj_kind_t k = mp_obj_kind(c->o);
	if (k != MP_OBJ_SET && k != MP_OBJ_FROZENSET)
		return fail(l, -MP_EPICKLE, "items added to a %s",
		            mp_obj_kind_name(k));
	uint32_t depth = 0;
	for (size_t i = from; i < l->sp; i++) {
		int r = value_ok(l, &l->st[i]);
		if (r)
			return r;
		if (l->st[i].o == c->o)
			return fail(l, -MP_EPICKLE, "cycle: a set added to "
			            "itself");
		if (l->st[i].o->height > depth)
			depth = l->st[i].o->height;
	}
	int r = check_child(l, depth);
	if (r)
		return r;
	if (c->o->flags & MP__OBJ_FROZEN)
		return fail_insert(l, -EPERM);
	if (mp__map_reserve(c->o, c->o->u.map.len + (l->sp - from)))
		return fail_nomem(l);
	size_t end = l->sp;
	l->sp = from;
	for (size_t i = from; i < end; i++) {
		r = mp__map_insert(c->o, l->st[i].o, NULL);
		if (r < 0) {
			for (size_t j = i + 1; j < end; j++)
				mp_obj_decref(l->st[j].o);
			return fail_insert(l, r);
		}
	}
	return 0;
}

/* ---- the memo ------------------------------------------------------------ */

static int memo_put(struct ld *l, uint64_t ix)
{
	int r = need_items(l, 1);
	if (r)
		return r;
	if (ix >= l->o.max_memo)
		return fail(l, -MP_ELIMIT, "memo index %llu past the limit %u",
		            (unsigned long long)ix, l->o.max_memo);
	if (ix >= (uint64_t)(l->end - l->start))
		return fail(l, -MP_EPICKLE, "memo index %llu past anything a "
		            "pickle this long stores", (unsigned long long)ix);
	if (ix >= l->memo_cap &&
	    mp__ld_grow((void **)&l->memo, &l->memo_cap, sizeof(*l->memo),
	                (size_t)ix + 1, l->memo_inline))
		return fail_nomem(l);
	struct slot *top = &l->st[l->sp - 1], *m = &l->memo[ix];
	if (ix >= l->memo_hw) {
		/* Slots are cleared as they come in use.  This one is known
		 * empty: cleared and read back at once, it would wait for
		 * the memset's wide stores to drain (no store forwarding). */
		if (ix > l->memo_hw)
			memset(l->memo + l->memo_hw, 0,
			       ((size_t)ix - l->memo_hw) * sizeof(*l->memo));
		l->memo_hw = (size_t)ix + 1;
		l->memo_len++;
	} else if (m->o) {
		own_decref(m->o);
	} else {
		l->memo_len++;
	}
	/* Field by field, from registers: a copy of *top just after the
	 * narrow stores to it would stall on store forwarding. */
	mp_obj_t *o = top->o;
	uint8_t flags = top->flags;
	int16_t fn = top->fn;
	if (top->memo_ix != NO_MEMO)
		top->flags = flags | SL_SHARED;
	top->memo_ix = (uint32_t)ix;
	m->o = own_incref(o);
	m->fn = fn;
	m->flags = flags & SL_VALUE_FLAGS;
	m->memo_ix = (uint32_t)ix;
	return 0;
}

static int memo_get(struct ld *l, uint64_t ix)
{
	if (ix >= l->memo_hw || !l->memo[ix].o)
		return fail(l, -MP_EPICKLE, "memo key %llu never stored",
		            (unsigned long long)ix);
	struct slot *m = &l->memo[ix];
	m->flags |= SL_GOT;
	if (__builtin_expect(l->sp == l->scap, 0) &&
	    mp__ld_grow((void **)&l->st, &l->scap, sizeof(*l->st), l->sp + 1,
	                l->st_inline))
		return fail_nomem(l);
	struct slot *s = &l->st[l->sp++];
	*s = *m;
	s->flags = (uint8_t)((m->flags & SL_VALUE_FLAGS) | SL_SHARED);
	s->memo_ix = (uint32_t)ix;
	own_incref(s->o);
	return 0;
}

/* ---- scalars ------------------------------------------------------------- */

static int push_str(struct ld *l, const uint8_t *s, size_t n, bool ascii)
{
	if (ascii)
		for (size_t i = 0; i < n; i++)
			if (s[i] >= 0x80)
				return fail(l, -MP_EPICKLE, "a Python 2 str "
				            "that is not ASCII (byte 0x%02x)", s[i]);
	int err = 0;
	mp_obj_t *o = mp_obj_str((const char *)s, n, &err);
	if (!o && err == -EILSEQ)
		return fail(l, -MP_EPICKLE, "invalid UTF-8 in a str");
	return push(l, o, 0);
}

/* Read an n-byte length (1, 4 signed or unsigned, 8) and check it against
 * the bytes left. */
static inline int read_len(struct ld *l, int size, bool sign, size_t *n)
{
	if (left(l) < (size_t)size)
		return fail_short(l);
	uint64_t v;
	if (size == 1) {
		v = l->p[0];
	} else if (size == 4) {
		v = le32(l->p);
		if (sign && (int32_t)v < 0)
			return fail(l, -MP_EPICKLE, "negative length %d",
			            (int32_t)v);
	} else {
		v = le64(l->p);
	}
	l->p += size;
	if (v > left(l))
		return fail(l, -MP_EPICKLE, "length %llu with %zu bytes left",
		            (unsigned long long)v, left(l));
	*n = (size_t)v;
	return 0;
}

/* ---- the loop ------------------------------------------------------------ */

static void release(struct ld *l)
{
	for (size_t i = 0; i < l->sp; i++)
		mp_obj_decref(l->st[i].o);
	for (size_t i = 0; i < l->memo_hw; i++)
		if (l->memo[i].o)
			own_decref(l->memo[i].o);
	if (l->st != l->st_inline)
		free(l->st);
	if (l->mk != l->mk_inline)
		free(l->mk);
	if (l->memo != l->memo_inline)
		free(l->memo);
	free(l->tmp);
}

static int run(struct ld *l, mp_obj_t **out)
{
	int r = 0;
	size_t n = 0, at = 0;
	for (;;) {
		if (r)
			return r;
		l->op = l->p;
		if (__builtin_expect(l->p >= l->end, 0))
			return fail(l, -MP_EPICKLE, "no STOP at the end");
		int op = *l->p++;
		switch (op) {
		case P_PROTO:
			if (!left(l))
				return fail_short(l);
			n = *l->p++;
			if (n > MP__PICKLE_HIGHEST || n < 2)
				return fail(l, -MP_EPICKLE, "protocol %zu "
				            "(2 to %d are read)", n,
				            MP__PICKLE_HIGHEST);
			break;
		case P_FRAME:
			if (left(l) < 8)
				return fail_short(l);
			if (le64(l->p) > left(l) - 8)
				return fail(l, -MP_EPICKLE, "frame of %llu bytes"
				            " with %zu left", (unsigned long long)
				            le64(l->p), left(l) - 8);
			l->p += 8;
			break;
		case P_STOP:
			if (l->nmk || l->sp != 1)
				return fail(l, -MP_EPICKLE, "%zu values and %zu "
				            "marks at STOP", l->sp, l->nmk);
			if (l->p != l->end)
				return fail(l, -MP_EPICKLE, "%zu bytes after STOP",
				            left(l));
			if ((r = value_ok(l, &l->st[0])))
				return r;
			*out = l->st[0].o;
			l->sp = 0;
			return 0;

		case P_NONE:
			r = push(l, mp_obj_none(), 0);
			break;
		case P_NEWTRUE:
		case P_NEWFALSE:
			r = push(l, mp_obj_bool(op == P_NEWTRUE), 0);
			break;
		case P_BININT1:
			if (!left(l))
				return fail_short(l);
			r = push(l, mp_obj_int(*l->p++), 0);
			break;
		case P_BININT2:
			if (left(l) < 2)
				return fail_short(l);
			r = push(l, mp_obj_int(le16(l->p)), 0);
			l->p += 2;
			break;
		case P_BININT:
			if (left(l) < 4)
				return fail_short(l);
			r = push(l, mp_obj_int((int32_t)le32(l->p)), 0);
			l->p += 4;
			break;
		case P_LONG1:
		case P_LONG4: {
			if ((r = read_len(l, op == P_LONG1 ? 1 : 4, true, &n)))
				return r;
			if (n > l->o.max_int_bytes)
				return fail(l, -MP_ELIMIT, "int of %zu bytes "
				            "(limit %u)", n, l->o.max_int_bytes);
			int err = 0;
			mp_obj_t *o = mp_obj_int_bytes(l->p, n, &err);
			if (!o && err != -ENOMEM)
				return fail(l, err, "int of %zu bytes", n);
			l->p += n;
			r = push(l, o, 0);
			break;
		}
		case P_BINFLOAT: {
			if (left(l) < 8)
				return fail_short(l);
			uint64_t bits = __builtin_bswap64(le64(l->p));
			double d;
			memcpy(&d, &bits, 8);
			l->p += 8;
			r = push(l, mp_obj_float(d), 0);
			break;
		}
		case P_SHORT_BINUNICODE:
		case P_BINUNICODE:
		case P_BINUNICODE8:
			if ((r = read_len(l, op == P_SHORT_BINUNICODE ? 1 :
			                  op == P_BINUNICODE ? 4 : 8, false, &n)))
				return r;
			l->p += n;
			r = push_str(l, l->p - n, n, false);
			break;
		case P_SHORT_BINSTRING:
		case P_BINSTRING:
			if ((r = read_len(l, op == P_SHORT_BINSTRING ? 1 : 4,
			                  true, &n)))
				return r;
			l->p += n;
			r = push_str(l, l->p - n, n, true);
			break;
		case P_SHORT_BINBYTES:
		case P_BINBYTES:
		case P_BINBYTES8:
			if ((r = read_len(l, op == P_SHORT_BINBYTES ? 1 :
			                  op == P_BINBYTES ? 4 : 8, false, &n)))
				return r;
			l->p += n;
			r = push(l, mp_obj_bytes(l->p - n, n), 0);
			break;
		case P_BYTEARRAY8:
			if ((r = read_len(l, 8, false, &n)))
				return r;
			l->p += n;
			r = push(l, mp_obj_bytearray(l->p - n, n), 0);
			break;

		case P_EMPTY_TUPLE:
			r = push(l, mp_obj_tuple(0, NULL), 0);
			break;
		case P_TUPLE1:
		case P_TUPLE2:
		case P_TUPLE3:
			n = (size_t)(op - P_TUPLE1 + 1);
			if (!(r = need_items(l, n)))
				r = build_tuple(l, l->sp - n);
			break;
		case P_TUPLE:
			if (!(r = pop_mark(l, &at)))
				r = build_tuple(l, at);
			break;
		case P_EMPTY_LIST:
			r = push(l, mp_obj_list(), 0);
			break;
		case P_LIST:
			if ((r = pop_mark(l, &at)))
				return r;
			if ((r = push(l, mp_obj_list(), 0)))
				return r;
			/* the list goes below its items */
			struct slot s = l->st[l->sp - 1];
			memmove(&l->st[at + 1], &l->st[at],
			        (l->sp - 1 - at) * sizeof(s));
			l->st[at] = s;
			r = list_extend(l, at, at + 1);
			break;
		case P_APPEND:
			if (!(r = need_items(l, 2)))
				r = list_extend(l, l->sp - 2, l->sp - 1);
			break;
		case P_APPENDS:
			if ((r = pop_mark(l, &at)))
				return r;
			if (at == fence(l) || at == 0)
				return fail(l, -MP_EPICKLE, "no list below the "
				            "MARK");
			r = list_extend(l, at - 1, at);
			break;
		case P_EMPTY_DICT:
			r = push(l, mp_obj_dict(), 0);
			break;
		case P_DICT:
			if ((r = pop_mark(l, &at)))
				return r;
			if ((r = push(l, mp_obj_dict(), 0)))
				return r;
			s = l->st[l->sp - 1];
			memmove(&l->st[at + 1], &l->st[at],
			        (l->sp - 1 - at) * sizeof(s));
			l->st[at] = s;
			r = dict_update(l, at, at + 1);
			break;
		case P_SETITEM:
			if (!(r = need_items(l, 3)))
				r = dict_update(l, l->sp - 3, l->sp - 2);
			break;
		case P_SETITEMS:
			if ((r = pop_mark(l, &at)))
				return r;
			if (at == fence(l) || at == 0)
				return fail(l, -MP_EPICKLE, "no dict below the "
				            "MARK");
			r = dict_update(l, at - 1, at);
			break;
		case P_EMPTY_SET:
			r = push(l, mp_obj_set(false), 0);
			break;
		case P_ADDITEMS:
			if ((r = pop_mark(l, &at)))
				return r;
			if (at == fence(l) || at == 0)
				return fail(l, -MP_EPICKLE, "no set below the "
				            "MARK");
			r = set_update(l, at - 1, at);
			break;
		case P_FROZENSET:
			if ((r = pop_mark(l, &at)))
				return r;
			if ((r = push(l, mp_obj_set(true), 0)))
				return r;
			s = l->st[l->sp - 1];
			memmove(&l->st[at + 1], &l->st[at],
			        (l->sp - 1 - at) * sizeof(s));
			l->st[at] = s;
			r = set_update(l, at, at + 1);
			break;

		case P_MARK:
			if (l->nmk == l->mkcap &&
			    mp__ld_grow((void **)&l->mk, &l->mkcap,
			                sizeof(*l->mk), l->nmk + 1,
			                l->mk_inline))
				return fail_nomem(l);
			l->mk[l->nmk++] = l->sp;
			break;
		case P_POP:
			if (l->sp > fence(l))
				mp_obj_decref(l->st[--l->sp].o);
			else if (l->nmk)
				l->nmk--;
			else
				return fail(l, -MP_EPICKLE, "empty stack");
			break;
		case P_POP_MARK:
			if ((r = pop_mark(l, &at)))
				return r;
			while (l->sp > at)
				mp_obj_decref(l->st[--l->sp].o);
			break;
		case P_DUP:
			if ((r = need_items(l, 1)))
				return r;
			l->st[l->sp - 1].flags |= SL_SHARED;
			if (l->sp == l->scap &&
			    mp__ld_grow((void **)&l->st, &l->scap,
			                sizeof(*l->st), l->sp + 1,
			                l->st_inline))
				return fail_nomem(l);
			l->st[l->sp] = l->st[l->sp - 1];
			own_incref(l->st[l->sp++].o);
			break;

		case P_BINGET:
			if (!left(l))
				return fail_short(l);
			r = memo_get(l, *l->p++);
			break;
		case P_LONG_BINGET:
			if (left(l) < 4)
				return fail_short(l);
			r = memo_get(l, le32(l->p));
			l->p += 4;
			break;
		case P_BINPUT:
			if (!left(l))
				return fail_short(l);
			r = memo_put(l, *l->p++);
			break;
		case P_LONG_BINPUT:
			if (left(l) < 4)
				return fail_short(l);
			r = memo_put(l, le32(l->p));
			l->p += 4;
			break;
		case P_MEMOIZE:
			r = memo_put(l, l->memo_len);
			break;

		case P_GLOBAL:
			r = mp__ld_global(l);
			break;
		case P_STACK_GLOBAL:
			r = mp__ld_stack_global(l);
			break;
		case P_REDUCE:
			r = mp__ld_call(l, false, false);
			break;
		case P_NEWOBJ:
			r = mp__ld_call(l, true, false);
			break;
		case P_NEWOBJ_EX:
			r = mp__ld_call(l, true, true);
			break;
		case P_BUILD:
			r = mp__ld_build(l);
			break;

		case P_INST:
		case P_OBJ:
		case P_EXT1:
		case P_EXT2:
		case P_EXT4:
		case P_PERSID:
		case P_BINPERSID:
		case P_NEXT_BUFFER:
		case P_READONLY_BUFFER:
			return fail(l, -MP_EREFUSED, "not allowed");
		case P_FLOAT:
		case P_INT:
		case P_LONG:
		case P_STRING:
		case P_UNICODE:
		case P_GET:
		case P_PUT:
			return fail(l, -MP_EPICKLE, "protocol 0 text opcode");
		default:
			return fail(l, -MP_EPICKLE, "unknown opcode 0x%02x", op);
		}
		/* CPython's pickler follows most pushes with MEMOIZE: run
		 * here, it skips the dispatch, an indirect jump that
		 * mispredicts often. */
		if (!r && l->p < l->end && *l->p == P_MEMOIZE) {
			l->op = l->p++;
			r = memo_put(l, l->memo_len);
		}
	}
}

mp_obj_t *mp_pickle_loads(const void *buf, size_t len,
                                 const mp_pickle_opts_t *opts,
                                 mp_pickle_diag_t *diag, int *err)
{
	struct ld l;
	mp_obj_t *out = NULL;
	int dummy;
	if (!err)
		err = &dummy;
	if (diag) {
		diag->offset = 0;
		diag->opcode = -1;
		diag->msg[0] = 0;
	}
	/* (the inline arrays are left uninitialised: slots are written
	 * before they are read) */
	memset(&l, 0, offsetof(struct ld, st_inline));
	l.st = l.st_inline;
	l.scap = ST_INLINE;
	l.memo = l.memo_inline;
	l.memo_cap = MEMO_INLINE;
	l.mk = l.mk_inline;
	l.mkcap = MK_INLINE;
	l.start = l.p = l.op = buf;
	l.end = buf ? l.start + len : l.start;
	l.diag = diag;
	if (opts)
		l.o = *opts;
	if ((!buf && len) ||
	    l.o.flags & ~(unsigned)MP_PICKLE_INERT ||
	    l.o.max_depth > MP_OBJ_MAX_DEPTH ||
	    l.o.max_int_bytes > MP_OBJ_MAX_INT_BYTES) {
		*err = fail(&l, -EINVAL, "bad arguments");
		return NULL;
	}
	if (!l.o.max_depth)
		l.o.max_depth = DEF_MAX_DEPTH;
	if (!l.o.max_nodes)
		l.o.max_nodes = DEF_MAX_NODES;
	if (!l.o.max_int_bytes)
		l.o.max_int_bytes = DEF_MAX_INT_BYTES;
	if (!l.o.max_memo)
		l.o.max_memo = DEF_MAX_MEMO;
	*err = run(&l, &out);
	release(&l);
	return *err ? NULL : out;
}
