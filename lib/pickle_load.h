/*
 * pickle_load.h - the decoder's state (lib/pickle_load.c says how it
 * works), shared by pickle_load.c (the loop, the stack, containers, the
 * memo, scalars) and pickle_load_call.c (globals, calls and BUILD).  Not
 * installed.
 */
#ifndef MPROC_LIB_PICKLE_LOAD_H
#define MPROC_LIB_PICKLE_LOAD_H

#include "internal.h"

#include <stdarg.h>

#include "obj.h"
#include "pickle_names.h"
#include "pickle_ops.h"

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

/* Record why decoding stops (fmt's message in the diagnostic, if the
 * caller asked for one); returns code. */
__attribute__((format(printf, 3, 0), cold))
int mp__ld_vfail(struct ld *l, int code, const char *fmt, va_list ap);

__attribute__((format(printf, 3, 4), cold))
static inline int fail(struct ld *l, int code, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	code = mp__ld_vfail(l, code, fmt, ap);
	va_end(ap);
	return code;
}

__attribute__((cold)) static inline int fail_nomem(struct ld *l)
{
	return fail(l, -ENOMEM, "out of memory");
}

__attribute__((cold)) static inline int fail_short(struct ld *l)
{
	return fail(l, -MP_EPICKLE, "truncated pickle (%zu bytes left)",
	            (size_t)(l->end - l->p));
}

/* The value API's error from putting something into a container. */
__attribute__((cold)) static inline int fail_insert(struct ld *l, int r)
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
__attribute__((noinline))
int mp__ld_grow(void **arr, size_t *cap, size_t elem, size_t want,
                const void *inl);

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
	    mp__ld_grow((void **)&l->st, &l->scap, sizeof(*l->st), l->sp + 1,
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

/* pickle_load_call.c: GLOBAL, STACK_GLOBAL; REDUCE, NEWOBJ (newobj),
 * NEWOBJ_EX (kw too); BUILD. */
int mp__ld_global(struct ld *l);
int mp__ld_stack_global(struct ld *l);
int mp__ld_call(struct ld *l, bool newobj, bool kw);
int mp__ld_build(struct ld *l);

#endif
