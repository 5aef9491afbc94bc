/*
 * pickle_load_call.c - the decoder's globals, calls and BUILD (see
 * pickle_load.c for the rules they follow: which globals are allowed,
 * which calls build a value, what becomes an inert node).
 */
#include "pickle_load.h"

#include <stdio.h>
#include <stdlib.h>

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

int mp__ld_global(struct ld *l)
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

int mp__ld_stack_global(struct ld *l)
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
int mp__ld_call(struct ld *l, bool newobj, bool kw)
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

int mp__ld_build(struct ld *l)
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
