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
 */
#include "internal.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

#include "obj.h"
#include "pickle_names.h"
#include "pickle_ops.h"

/* Defaults of mp_pickle_opts_t (pickle.h). */
#define DEF_MAX_DEPTH 1000u
#define DEF_MAX_NODES ((uint64_t)16 << 20)
#define DEF_MAX_INT_BYTES (64u << 10)
#define DEF_MAX_MEMO (16u << 20)

/* A slot's flags.  The first three describe the value and travel with it
 * through the memo; the others are bookkeeping for BUILD. */
enum {
	SL_GLOBAL = 1u << 0,    /* a bare global, not yet called */
	SL_HASGLOBAL = 1u << 1, /* a tuple with a bare global among its items */
	SL_DEEPGLOBAL = 1u << 2,/* a bare global deeper inside */
	SL_SHARED = 1u << 3,    /* this value also sits elsewhere (DUP, GET,
	                           put in two memo slots) */
	SL_GOT = 1u << 4,       /* memo slot: fetched by a GET */
};
#define SL_VALUE_FLAGS (SL_GLOBAL | SL_HASGLOBAL | SL_DEEPGLOBAL)
#define NO_MEMO UINT32_MAX

struct slot {
	mp_obj_t *o;
	int16_t fn;       /* a global's enum mp__pk_fn */
	uint8_t flags;
	uint32_t memo_ix; /* the memo slot this value was put in last */
};
_Static_assert(sizeof(struct slot) == 16, "a slot is two words");

/* First sizes of the arrays, which live in struct ld until they outgrow
 * it: a message of a few hundred values costs no allocation of ours. */
#define ST_INLINE 64
#define MEMO_INLINE 192
#define MK_INLINE 16

struct ld {
	const uint8_t *start, *p, *end;
	const uint8_t *op; /* the opcode being run */
	struct slot *st;
	size_t sp, scap;
	size_t *mk;
	size_t nmk, mkcap;
	struct slot *memo;
	size_t memo_cap, memo_len;
	size_t memo_hw;    /* memo slots initialised so far */
	uint64_t nodes;
	mp_pickle_opts_t o;
	mp_pickle_diag_t *diag;
	mp_obj_t **tmp;
	size_t tmpcap;
	struct slot st_inline[ST_INLINE];
	struct slot memo_inline[MEMO_INLINE];
	size_t mk_inline[MK_INLINE];
};

/*
 * References the decoder holds on its own nodes.  Every node on the stack
 * or in the memo was made by this call and nobody else can see it yet
 * (the caller gets the result only at STOP), so the memo's references
 * are counted without atomic instructions; None, True and False are
 * immortal and shared by all threads: their count is left alone.
 */
static inline mp_obj_t *own_incref(mp_obj_t *o)
{
	if (!(o->flags & MP__OBJ_IMMORTAL))
		o->refs++;
	return o;
}

static inline void own_decref(mp_obj_t *o)
{
	if (!(o->flags & MP__OBJ_IMMORTAL) && o->refs > 1)
		o->refs--;
	else
		mp_obj_decref(o);
}

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

/* Record why decoding stops; returns code. */
__attribute__((format(printf, 3, 4), cold))
static int fail(struct ld *l, int code, const char *fmt, ...)
{
	mp_pickle_diag_t *d = l->diag;
	if (!d)
		return code;
	d->offset = (size_t)(l->op - l->start);
	d->opcode = l->op < l->end ? *l->op : -1;
	char what[96];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	const char *name = d->opcode >= 0 ? op_name(d->opcode) : NULL;
	if (name)
		snprintf(d->msg, sizeof(d->msg), "%s: %s", name, what);
	else
		snprintf(d->msg, sizeof(d->msg), "%s", what);
	return code;
}

__attribute__((cold)) static int fail_nomem(struct ld *l)
{
	return fail(l, -ENOMEM, "out of memory");
}

__attribute__((cold)) static int fail_short(struct ld *l)
{
	return fail(l, -MP_EPICKLE, "truncated pickle (%zu bytes left)",
	            (size_t)(l->end - l->p));
}

/* The value API's error from putting something into a container. */
__attribute__((cold)) static int fail_insert(struct ld *l, int r)
{
	switch (r) {
	case -EPERM:
		return fail(l, -MP_EPICKLE, "cycle: a container changed after "
		            "it was put into another (through the memo)");
	case -EINVAL:
		return fail(l, -MP_EPICKLE, "unhashable key or element");
	case -MP_ELIMIT:
		return fail(l, -MP_ELIMIT, "nesting deeper than %d",
		            MP_OBJ_MAX_DEPTH);
	case -ENOMEM:
		return fail_nomem(l);
	}
	return fail(l, r, "%s", mp_strerror(r));
}

/* ---- bytes of the input -------------------------------------------------- */

static inline uint16_t le16(const uint8_t *p)
{
	return (uint16_t)(p[0] | p[1] << 8);
}

static inline uint32_t le32(const uint8_t *p)
{
	uint32_t v;
	memcpy(&v, p, 4);
	return v;
}

static inline uint64_t le64(const uint8_t *p)
{
	uint64_t v;
	memcpy(&v, p, 8);
	return v;
}

_Static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__,
              "le32/le64 read the host's order");

static inline size_t left(const struct ld *l)
{
	return (size_t)(l->end - l->p);
}

/* ---- the stack ----------------------------------------------------------- */

/* Grow *arr to hold want elements; the first array may be one inside
 * struct ld (inl), which is copied out, never freed. */
__attribute__((noinline)) static int grow(void **arr, size_t *cap,
                                          size_t elem, size_t want,
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

/* Count one more value built against max_nodes. */
static inline int count_node(struct ld *l)
{
	if (__builtin_expect(++l->nodes > l->o.max_nodes, 0))
		return fail(l, -MP_ELIMIT, "more than %llu values",
		            (unsigned long long)l->o.max_nodes);
	return 0;
}

/* Push o (a new reference; NULL means the constructor ran out of memory). */
static inline int push(struct ld *l, mp_obj_t *o, uint8_t flags)
{
	if (__builtin_expect(!o, 0))
		return fail_nomem(l);
	if (__builtin_expect(l->sp == l->scap, 0) &&
	    grow((void **)&l->st, &l->scap, sizeof(*l->st), l->sp + 1,
	         l->st_inline)) {
		mp_obj_decref(o);
		return fail_nomem(l);
	}
	l->st[l->sp++] = (struct slot){ o, PK_NONE, flags, NO_MEMO };
	return count_node(l);
}

/* The height below which the running opcode may not reach. */
static inline size_t fence(const struct ld *l)
{
	return l->nmk ? l->mk[l->nmk - 1] : 0;
}

/* The last mark, popped; -MP_EPICKLE when there is none. */
static inline int pop_mark(struct ld *l, size_t *at)
{
	if (__builtin_expect(!l->nmk, 0))
		return fail(l, -MP_EPICKLE, "no MARK");
	*at = l->mk[--l->nmk];
	return 0;
}

/* Require n items above the fence. */
static inline int need_items(struct ld *l, size_t n)
{
	if (__builtin_expect(l->sp - fence(l) < n, 0))
		return fail(l, -MP_EPICKLE, "stack underflow (%zu items "
		            "needed, %zu there)", n, l->sp - fence(l));
	return 0;
}

/* A bare global may become part of a value only with MP_PICKLE_INERT. */
static inline int value_ok(struct ld *l, const struct slot *s)
{
	if (__builtin_expect(!(s->flags & SL_VALUE_FLAGS), 1) ||
	    (l->o.flags & MP_PICKLE_INERT))
		return 0;
	const mp_obj_t *g = s->o;
	if (!(s->flags & SL_GLOBAL))
		return fail(l, -MP_EREFUSED, "a global inside a value is not "
		            "allowed");
	return fail(l, -MP_EREFUSED, "global %.40s.%.40s used as a value "
	            "is not allowed", mp_obj_inert_module(g),
	            mp_obj_inert_name(g));
}

static inline int check_depth(struct ld *l, uint32_t depth)
{
	if (__builtin_expect(depth > l->o.max_depth, 0))
		return fail(l, -MP_ELIMIT, "nesting deeper than %u",
		            l->o.max_depth);
	return 0;
}

/* Whether children of height h may go into a container. */
static inline int check_child(struct ld *l, uint32_t h)
{
	return check_depth(l, h + 1);
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
	    grow((void **)&l->tmp, &l->tmpcap, sizeof(*l->tmp), n, NULL))
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
	    grow((void **)&l->memo, &l->memo_cap, sizeof(*l->memo),
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
	    grow((void **)&l->st, &l->scap, sizeof(*l->st), l->sp + 1,
	         l->st_inline))
		return fail_nomem(l);
	struct slot *s = &l->st[l->sp++];
	*s = *m;
	s->flags = (uint8_t)((m->flags & SL_VALUE_FLAGS) | SL_SHARED);
	s->memo_ix = (uint32_t)ix;
	own_incref(s->o);
	return 0;
}

/* ---- globals and calls --------------------------------------------------- */

/* Push the global module.name (counted strings). */
static int push_global(struct ld *l, const char *mod, size_t ml,
                       const char *name, size_t nl)
{
	const char *canon = NULL;
	int fn = mp__pickle_name_find(mod, ml, name, nl, &canon);
	if (fn == PK_NONE && !(l->o.flags & MP_PICKLE_INERT))
		return fail(l, -MP_EREFUSED, "global %.*s.%.*s is not allowed",
		            (int)(ml < 40 ? ml : 40), mod,
		            (int)(nl < 40 ? nl : 40), name);
	char small[256], *buf = small;
	if (ml + nl + 2 > sizeof(small) && !(buf = malloc(ml + nl + 2)))
		return fail_nomem(l);
	memcpy(buf, mod, ml);
	buf[ml] = 0;
	memcpy(buf + ml + 1, name, nl);
	buf[ml + 1 + nl] = 0;
	int err = 0;
	mp_obj_t *g = mp_obj_global(buf, buf + ml + 1, &err);
	if (buf != small)
		free(buf);
	if (!g) {
		if (err == -ENOMEM)
			return fail_nomem(l);
		return fail(l, -MP_EPICKLE, "bad global name");
	}
	int r = push(l, g, SL_GLOBAL);
	if (r)
		return r;
	l->st[l->sp - 1].fn = (int16_t)fn;
	return 0;
}

static int op_global(struct ld *l)
{
	const uint8_t *m = l->p, *e1 = memchr(m, '\n', left(l));
	if (!e1)
		return fail_short(l);
	const uint8_t *n = e1 + 1, *e2 = memchr(n, '\n', (size_t)(l->end - n));
	if (!e2)
		return fail_short(l);
	l->p = e2 + 1;
	return push_global(l, (const char *)m, (size_t)(e1 - m),
	                   (const char *)n, (size_t)(e2 - n));
}

static int op_stack_global(struct ld *l)
{
	int r = need_items(l, 2);
	if (r)
		return r;
	mp_obj_t *mod = l->st[l->sp - 2].o, *name = l->st[l->sp - 1].o;
	size_t ml, nl;
	if (mp_obj_kind(mod) != MP_OBJ_STR || mp_obj_kind(name) != MP_OBJ_STR)
		return fail(l, -MP_EPICKLE, "module and name are not str");
	const char *ms = mp_obj_data(mod, &ml), *ns = mp_obj_data(name, &nl);
	r = push_global(l, ms, ml, ns, nl);
	if (r)
		return r;
	/* Slide the global over the two strs. */
	struct slot g = l->st[--l->sp];
	mp_obj_decref(l->st[l->sp - 1].o);
	mp_obj_decref(l->st[l->sp - 2].o);
	l->sp -= 2;
	l->st[l->sp++] = g;
	return 0;
}

/* bytes from a str of code points below 256 (the latin-1 encoding). */
static mp_obj_t *latin1(const mp_obj_t *s, mp_obj_kind_t kind, int *ok)
{
	size_t n;
	const uint8_t *p = (const uint8_t *)mp_obj_data(s, &n);
	uint8_t *buf = malloc(n ? n : 1);
	size_t k = 0;
	*ok = 1;
	if (!buf)
		return NULL;
	for (size_t i = 0; i < n; i++) {
		if (p[i] < 0x80) {
			buf[k++] = p[i];
		} else if ((p[i] == 0xc2 || p[i] == 0xc3) && i + 1 < n) {
			buf[k++] = (uint8_t)((p[i] & 3) << 6 | (p[i + 1] & 0x3f));
			i++;
		} else {
			*ok = 0;
			free(buf);
			return NULL;
		}
	}
	mp_obj_t *o = kind == MP_OBJ_BYTES ? mp_obj_bytes(buf, k)
	                                   : mp_obj_bytearray(buf, k);
	free(buf);
	return o;
}

static bool is_latin1_name(const mp_obj_t *e)
{
	return mp_obj_str_eq(e, "latin1") || mp_obj_str_eq(e, "latin-1");
}

/* set / frozenset / list of the items of a list or tuple. */
static mp_obj_t *collect(const mp_obj_t *src, mp_obj_kind_t kind, int *r)
{
	mp_obj_kind_t sk = mp_obj_kind(src);
	size_t n;
	mp_obj_t *o = kind == MP_OBJ_LIST ? mp_obj_list()
	                                  : mp_obj_set(kind == MP_OBJ_FROZENSET);
	*r = 0;
	if (!o)
		return NULL;
	if (sk == MP_OBJ_LIST || sk == MP_OBJ_TUPLE) {
		n = (size_t)mp_obj_len(src);
		for (size_t i = 0; i < n && !*r; i++) {
			mp_obj_t *it = mp_obj_incref(mp_obj_item(src, i));
			*r = kind == MP_OBJ_LIST ? mp_obj_list_append(o, it)
			                         : mp_obj_set_add(o, it);
		}
	} else if (sk == MP_OBJ_SET || sk == MP_OBJ_FROZENSET) {
		n = (size_t)mp_obj_len(src);
		for (size_t i = 0; i < n && !*r; i++) {
			mp_obj_t *it = mp_obj_incref(mp_obj_set_item(src, i));
			*r = kind == MP_OBJ_LIST ? mp_obj_list_append(o, it)
			                         : mp_obj_set_add(o, it);
		}
	} else {
		*r = -EDOM; /* not an iterable we model */
	}
	if (*r) {
		mp_obj_decref(o);
		return NULL;
	}
	return o;
}

/*
 * The value a table callable fn builds from args, or NULL: *r 0 when the
 * arguments are not its data pattern (refused or kept inert), else the
 * error.  canon is an exception's type name.
 */
static mp_obj_t *call_known(struct ld *l, int fn, const char *canon,
                            mp_obj_t *args, bool newobj, int *r)
{
	size_t n = (size_t)mp_obj_len(args);
	mp_obj_t *a0 = n > 0 ? mp_obj_item(args, 0) : NULL;
	mp_obj_t *a1 = n > 1 ? mp_obj_item(args, 1) : NULL;
	mp_obj_kind_t k0 = mp_obj_kind(a0);
	int ok = 1;
	mp_obj_t *o;
	*r = 0;
	if (newobj && fn != PK_EXC)
		return NULL;
	switch (fn) {
	case PK_CODECS_ENCODE:
		if (n != 2 || k0 != MP_OBJ_STR || !is_latin1_name(a1))
			return NULL;
		o = latin1(a0, MP_OBJ_BYTES, &ok);
		break;
	case PK_BYTES:
	case PK_BYTEARRAY: {
		mp_obj_kind_t kind = fn == PK_BYTES ? MP_OBJ_BYTES
		                                    : MP_OBJ_BYTEARRAY;
		size_t len = 0;
		const char *d = "";
		if (n == 2 && k0 == MP_OBJ_STR && is_latin1_name(a1)) {
			o = latin1(a0, kind, &ok);
			break;
		}
		if (n == 1 && (k0 == MP_OBJ_BYTES || k0 == MP_OBJ_BYTEARRAY))
			d = mp_obj_data(a0, &len);
		else if (n != 0)
			return NULL;
		o = kind == MP_OBJ_BYTES ? mp_obj_bytes(d, len)
		                         : mp_obj_bytearray(d, len);
		break;
	}
	case PK_SET:
	case PK_FROZENSET:
	case PK_LIST: {
		mp_obj_kind_t kind = fn == PK_LIST ? MP_OBJ_LIST
		                     : fn == PK_SET ? MP_OBJ_SET
		                                    : MP_OBJ_FROZENSET;
		if (n == 0) {
			o = kind == MP_OBJ_LIST ? mp_obj_list()
			                        : mp_obj_set(fn == PK_FROZENSET);
			break;
		}
		if (n != 1)
			return NULL;
		o = collect(a0, kind, r);
		if (*r == -EDOM) {
			*r = 0;
			return NULL;
		}
		if (*r) {
			*r = fail_insert(l, *r);
			return NULL;
		}
		break;
	}
	case PK_RECONSTRUCTOR: {
		/* copyreg._reconstructor(cls, base, state) is
		 * base.__new__(cls, state) then base.__init__(obj, state):
		 * for a builtin base and cls == base, base(state). */
		if (n != 3 || mp_obj_kind(a0) != MP_OBJ_INERT ||
		    mp_obj_inert_args(a0) || !mp_obj_equal(a0, a1))
			return NULL;
		mp_obj_t *st = mp_obj_item(args, 2);
		const char *m = mp_obj_inert_module(a0), *nm =
		                mp_obj_inert_name(a0);
		int f = mp__pickle_name_find(m, strlen(m), nm, strlen(nm), NULL);
		if (f != PK_BYTEARRAY && f != PK_SET && f != PK_FROZENSET &&
		    f != PK_LIST && f != PK_BYTES)
			return NULL;
		if (mp_obj_kind(st) == MP_OBJ_INERT)
			return NULL;
		mp_obj_t *one = mp_obj_tuple(1, (mp_obj_t *[]){
		                                        mp_obj_incref(st) });
		if (!one) {
			*r = fail_nomem(l);
			return NULL;
		}
		o = call_known(l, f, NULL, one, false, r);
		mp_obj_decref(one);
		return o;
	}
	case PK_EXC: {
		int err = 0;
		o = mp_obj_exc(canon, mp_obj_incref(args), &err);
		if (!o && err != -ENOMEM) {
			*r = fail(l, err, "exception %s", canon);
			return NULL;
		}
		break;
	}
	default:
		return NULL;
	}
	if (!ok) {
		*r = fail(l, -MP_EPICKLE, "%s of a str beyond latin-1",
		          mp__pickle_fn_name(fn));
		return NULL;
	}
	if (!o)
		*r = fail_nomem(l);
	return o;
}

/* REDUCE, NEWOBJ and NEWOBJ_EX: the callable and its args (and kwargs)
 * on top of the stack become what the call builds. */
static int op_call(struct ld *l, bool newobj, bool kw)
{
	int r = need_items(l, kw ? 3 : 2);
	if (r)
		return r;
	struct slot *cs = &l->st[l->sp - (kw ? 3 : 2)];
	struct slot *as = &l->st[l->sp - (kw ? 2 : 1)];
	bool inert = l->o.flags & MP_PICKLE_INERT;
	if (!(cs->flags & SL_GLOBAL))
		return fail(l, inert ? -MP_EREFUSED : -MP_EPICKLE,
		            "call of a %s, not of a global",
		            mp_obj_kind_name(mp_obj_kind(cs->o)));
	if (mp_obj_kind(as->o) != MP_OBJ_TUPLE)
		return fail(l, -MP_EPICKLE, "arguments are a %s, not a tuple",
		            mp_obj_kind_name(mp_obj_kind(as->o)));
	if (kw) {
		mp_obj_t *kwargs = l->st[l->sp - 1].o;
		if (mp_obj_kind(kwargs) != MP_OBJ_DICT)
			return fail(l, -MP_EPICKLE, "keyword arguments are a "
			            "%s, not a dict",
			            mp_obj_kind_name(mp_obj_kind(kwargs)));
		if (mp_obj_len(kwargs) != 0)
			return fail(l, -MP_EREFUSED, "%s.%s with keyword "
			            "arguments is not allowed",
			            mp_obj_inert_module(cs->o),
			            mp_obj_inert_name(cs->o));
	}
	const char *mod = mp_obj_inert_module(cs->o);
	const char *name = mp_obj_inert_name(cs->o);
	const char *canon = NULL;
	int fn = cs->fn;
	if (fn == PK_EXC)
		mp__pickle_name_find(mod, strlen(mod), name, strlen(name),
		                     &canon);
	mp_obj_t *o = NULL;
	/* Only copyreg._reconstructor takes globals among its args. */
	bool args_ok = !(as->flags & SL_VALUE_FLAGS) ||
	               (fn == PK_RECONSTRUCTOR &&
	                !(as->flags & (SL_GLOBAL | SL_DEEPGLOBAL)));
	if (fn != PK_NONE && args_ok) {
		o = call_known(l, fn, canon, as->o, newobj, &r);
		if (r)
			return r;
	}
	if (!o) {
		if (!inert) {
			if (!args_ok)
				return value_ok(l, as);
			return fail(l, -MP_EREFUSED, "call %.40s.%.40s with "
			            "these arguments is not allowed", mod,
			            name);
		}
		int err = 0;
		o = mp_obj_inert(mp_obj_incref(cs->o), mp_obj_incref(as->o),
		                 newobj, NULL, &err);
		if (!o)
			return err == -ENOMEM ? fail_nomem(l)
			                      : fail(l, -MP_EPICKLE, "%s",
			                             mp_strerror(err));
	}
	if ((r = check_depth(l, o->height))) {
		mp_obj_decref(o);
		return r;
	}
	for (int i = 0; i < (kw ? 3 : 2); i++)
		mp_obj_decref(l->st[--l->sp].o);
	return push(l, o, 0);
}

/* Whether a BUILD state says nothing (None, or an empty dict). */
static bool state_empty(const mp_obj_t *s)
{
	mp_obj_kind_t k = mp_obj_kind(s);
	return k == MP_OBJ_NONE || (k == MP_OBJ_DICT && mp_obj_len(s) == 0);
}

static int op_build(struct ld *l)
{
	int r = need_items(l, 2);
	if (r)
		return r;
	struct slot *ss = &l->st[l->sp - 1], *ts = &l->st[l->sp - 2];
	mp_obj_t *t = ts->o, *state = ss->o;
	mp_obj_kind_t k = mp_obj_kind(t);
	bool inert = l->o.flags & MP_PICKLE_INERT;
	if ((r = value_ok(l, ss)))
		return r;
	if (k == MP_OBJ_EXC && state_empty(state)) {
		mp_obj_decref(state);
		l->sp--;
		return 0;
	}
	if (k != MP_OBJ_EXC && (k != MP_OBJ_INERT || !mp_obj_inert_args(t)))
		return fail(l, -MP_EPICKLE, "state given to a %s",
		            k == MP_OBJ_INERT ? "global" : mp_obj_kind_name(k));
	if (!inert)
		return fail(l, -MP_EREFUSED, "state of %.60s is not kept "
		            "(MP_PICKLE_INERT keeps it)", mp_obj_exc_type(t));
	/* (only exceptions get here without MP_PICKLE_INERT: an inert
	 * call exists only with it) */
	if (k == MP_OBJ_INERT && mp_obj_inert_state(t))
		return fail(l, -MP_EREFUSED, "second BUILD of one object");
	bool shared = (ts->flags & SL_SHARED) ||
	              (ts->memo_ix != NO_MEMO &&
	               l->memo[ts->memo_ix].o == t &&
	               (l->memo[ts->memo_ix].flags & SL_GOT));
	if (shared)
		return fail(l, -MP_EPICKLE, "state for an object already "
		            "shared through the memo");
	if (state == t)
		return fail(l, -MP_EPICKLE, "cycle: an object's state is "
		            "itself");
	if ((r = check_child(l, state->height)))
		return r;
	/* A new node: the global, the args, the state. */
	mp_obj_t *g, *args;
	bool newobj = false;
	int err = 0;
	if (k == MP_OBJ_EXC) {
		const char *type = mp_obj_exc_type(t), *dot = strrchr(type, '.');
		char mod[128];
		snprintf(mod, sizeof(mod), "%.*s", (int)(dot - type), type);
		g = mp_obj_global(mod, dot + 1, &err);
		args = mp_obj_exc_args(t);
	} else {
		g = mp_obj_global(mp_obj_inert_module(t), mp_obj_inert_name(t),
		                  &err);
		args = mp_obj_inert_args(t);
		newobj = mp__obj_inert_newobj(t); /* as it was made */
	}
	l->sp--; /* the state goes into the node */
	mp_obj_t *o = mp_obj_inert(g, mp_obj_incref(args), newobj, state,
	                           &err);
	if (!o)
		return err == -ENOMEM ? fail_nomem(l)
		                      : fail(l, -MP_EPICKLE, "%s",
		                             mp_strerror(err));
	if (ts->memo_ix != NO_MEMO && l->memo[ts->memo_ix].o == t) {
		struct slot *m = &l->memo[ts->memo_ix];
		own_decref(m->o);
		m->o = own_incref(o);
	}
	mp_obj_decref(t);
	ts->o = o;
	return count_node(l);
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
			    grow((void **)&l->mk, &l->mkcap, sizeof(*l->mk),
			         l->nmk + 1, l->mk_inline))
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
			    grow((void **)&l->st, &l->scap, sizeof(*l->st),
			         l->sp + 1, l->st_inline))
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
			r = op_global(l);
			break;
		case P_STACK_GLOBAL:
			r = op_stack_global(l);
			break;
		case P_REDUCE:
			r = op_call(l, false, false);
			break;
		case P_NEWOBJ:
			r = op_call(l, true, false);
			break;
		case P_NEWOBJ_EX:
			r = op_call(l, true, true);
			break;
		case P_BUILD:
			r = op_build(l);
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
