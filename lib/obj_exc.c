/*
 * obj_exc.c - exceptions and inert nodes: values that stand for Python
 * objects made by calling something, kept as names and data only.
 *
 * An exception is its type's "module.qualname" and an args tuple.  An
 * inert node is either a bare global (module and qualname, a leaf: height
 * 0) or a call of one: the global, an args tuple, whether NEWOBJ made it,
 * and an optional BUILD state.  Both are immutable from birth; their
 * children are frozen as any container's are.  Names are copied into the
 * node, after its payload.
 */
#include "internal.h"
#include "obj.h"

#include <stdlib.h>

#define EXC_PAYLOAD sizeof(((mp_obj_t *)0)->u.exc)
#define INERT_PAYLOAD sizeof(((mp_obj_t *)0)->u.inert)

static inline int set_err(int *err, int e)
{
	if (err)
		*err = e;
	return e;
}

/* "module.qualname": dot-separated identifiers (ASCII letters, digits,
 * '_', or any non-ASCII UTF-8), at least two, none starting with a digit. */
static bool dotted_name(const char *s)
{
	if (!s || !mp__utf8_valid(s, strlen(s)))
		return false;
	size_t parts = 0, len = 0;
	for (const char *p = s;; p++) {
		unsigned char c = (unsigned char)*p;
		if (c == '.' || c == 0) {
			if (!len)
				return false;
			parts++;
			len = 0;
			if (!c)
				break;
			continue;
		}
		bool ok = c == '_' || (c >= 'a' && c <= 'z') ||
		          (c >= 'A' && c <= 'Z') || c >= 0x80 ||
		          (len && c >= '0' && c <= '9');
		if (!ok)
			return false;
		len++;
	}
	return parts >= 2;
}

mp_obj_t *mp_obj_exc(const char *type, mp_obj_t *args, int *err)
{
	int e = 0;
	mp_obj_t *o = NULL;
	if (!dotted_name(type))
		e = -EINVAL;
	else if (args && args->kind != MP_OBJ_TUPLE)
		e = -EINVAL;
	else if (!args && !(args = mp_obj_tuple(0, NULL)))
		e = -ENOMEM;
	else if (args->height >= MP_OBJ_MAX_DEPTH)
		e = -MP_ELIMIT;
	if (!e) {
		size_t n = strlen(type);
		o = mp__obj_alloc(MP_OBJ_EXC, EXC_PAYLOAD, n + 1);
		if (!o)
			e = -ENOMEM;
		else {
			o->flags = MP__OBJ_FROZEN;
			o->u.exc.type = MP__OBJ_EXTRA(o, EXC_PAYLOAD);
			memcpy(o->u.exc.type, type, n + 1);
			o->u.exc.args = args;
			mp__obj_adopt(o, args);
		}
	}
	if (e)
		mp_obj_decref(args);
	set_err(err, e);
	return o;
}

const char *mp_obj_exc_type(const mp_obj_t *o)
{
	return o && o->kind == MP_OBJ_EXC ? o->u.exc.type : NULL;
}

mp_obj_t *mp_obj_exc_args(const mp_obj_t *o)
{
	return o && o->kind == MP_OBJ_EXC ? o->u.exc.args : NULL;
}

/* A name pickle's GLOBAL can carry: not empty, no newline, UTF-8. */
static bool global_name(const char *s)
{
	return s && *s && !strchr(s, '\n') && mp__utf8_valid(s, strlen(s));
}

mp_obj_t *mp_obj_global(const char *module, const char *qualname, int *err)
{
	if (!global_name(module) || !global_name(qualname)) {
		set_err(err, -EINVAL);
		return NULL;
	}
	size_t m = strlen(module) + 1, q = strlen(qualname) + 1;
	mp_obj_t *o = mp__obj_alloc(MP_OBJ_INERT, INERT_PAYLOAD, m + q);
	if (!o) {
		set_err(err, -ENOMEM);
		return NULL;
	}
	o->flags = MP__OBJ_FROZEN;
	char *p = MP__OBJ_EXTRA(o, INERT_PAYLOAD);
	memcpy(p, module, m);
	memcpy(p + m, qualname, q);
	o->u.inert.name = p + m;
	o->u.inert.callable = o->u.inert.args = o->u.inert.state = NULL;
	set_err(err, 0);
	return o;
}

mp_obj_t *mp_obj_inert(mp_obj_t *callable, mp_obj_t *args, bool newobj,
                       mp_obj_t *state, int *err)
{
	int e = 0;
	mp_obj_t *o = NULL;
	if (!callable || !args)
		e = -ENOMEM;
	else if (callable->kind != MP_OBJ_INERT ||
	         (callable->flags & MP__OBJ_CALL) ||
	         args->kind != MP_OBJ_TUPLE)
		e = -EINVAL;
	else if (args->height >= MP_OBJ_MAX_DEPTH ||
	         (state && state->height >= MP_OBJ_MAX_DEPTH))
		e = -MP_ELIMIT;
	else if (!(o = mp__obj_alloc(MP_OBJ_INERT, INERT_PAYLOAD, 0)))
		e = -ENOMEM;
	if (e) {
		mp_obj_decref(callable);
		mp_obj_decref(args);
		mp_obj_decref(state);
		set_err(err, e);
		return NULL;
	}
	o->flags = MP__OBJ_FROZEN | MP__OBJ_CALL | (newobj ? MP__OBJ_NEWOBJ : 0);
	o->u.inert.name = callable->u.inert.name;
	o->u.inert.callable = callable;
	o->u.inert.args = args;
	o->u.inert.state = state;
	mp__obj_adopt(o, callable);
	mp__obj_adopt(o, args);
	if (state)
		mp__obj_adopt(o, state);
	set_err(err, 0);
	return o;
}

const char *mp_obj_inert_module(const mp_obj_t *o)
{
	return o && o->kind == MP_OBJ_INERT ? mp__obj_inert_module(o) : NULL;
}

const char *mp_obj_inert_name(const mp_obj_t *o)
{
	return o && o->kind == MP_OBJ_INERT ? o->u.inert.name : NULL;
}

mp_obj_t *mp_obj_inert_args(const mp_obj_t *o)
{
	return o && o->kind == MP_OBJ_INERT ? o->u.inert.args : NULL;
}

mp_obj_t *mp_obj_inert_state(const mp_obj_t *o)
{
	return o && o->kind == MP_OBJ_INERT ? o->u.inert.state : NULL;
}
