/*
 * manager_types.c - the manager's data kinds: dict, list, Namespace, Value,
 * Array and Iterator, held as mp_obj_t values (every element a frozen
 * value a client sent, never code).  Each method answers at once.
 *
 * A dict is an mp_obj_t dict that is never put in a container (so it stays
 * unfrozen and mutable); a reply carries a copy whose children are shared.
 * mp_obj_t dicts have no delete: __delitem__ and pop rebuild the dict
 * (O(n)), set and get are O(1).
 */
#include "manager.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define M(name) !strcmp(c->method, name)
#define ARG(i, name) mp__mgr_arg(c, i, name)

/* ---- a vector of values (list, Array) ---------------------------------- */

struct vec {
	mp_obj_t **v;
	size_t n, cap;
	char tc;          /* Array: the typecode */
	size_t pos;       /* Iterator: the next item */
};

static int vec_insert(struct vec *a, size_t at, mp_obj_t *x)
{
	if (!x)
		return -ENOMEM;
	if (a->n == a->cap &&
	    mp__grow(&a->v, &a->cap, sizeof(*a->v), 8) < 0) {
		mp_obj_decref(x);
		return -ENOMEM;
	}
	memmove(a->v + at + 1, a->v + at, (a->n - at) * sizeof(*a->v));
	a->v[at] = x;
	a->n++;
	return 0;
}

static void vec_remove(struct vec *a, size_t at)
{
	mp_obj_decref(a->v[at]);
	memmove(a->v + at, a->v + at + 1, (a->n - at - 1) * sizeof(*a->v));
	a->n--;
}

static void vec_clear(struct vec *a)
{
	for (size_t i = 0; i < a->n; i++)
		mp_obj_decref(a->v[i]);
	free(a->v);
	a->v = NULL;
	a->n = a->cap = 0;
}

static mp_obj_t *vec_list(const struct vec *a)
{
	mp_obj_t *l = mp_obj_list();
	for (size_t i = 0; l && i < a->n; i++)
		if (mp_obj_list_append(l, mp_obj_incref(a->v[i])) < 0) {
			mp_obj_decref(l);
			return NULL;
		}
	return l;
}

/* Append the items of a list or tuple. */
static int vec_extend(struct vec *a, const mp_obj_t *src)
{
	mp_obj_kind_t k = mp_obj_kind(src);
	if (k != MP_OBJ_LIST && k != MP_OBJ_TUPLE)
		return -EINVAL;
	for (int64_t i = 0; i < mp_obj_len(src); i++)
		if (vec_insert(a, a->n, mp_obj_incref(mp_obj_item(
		                            src, (size_t)i))) < 0)
			return -ENOMEM;
	return 0;
}

/* Python's index rules: negative from the end.  -1 when out of range or
 * not an int (*r set to the error). */
static int64_t vec_index(const struct vec *a, const mp_obj_t *i,
                         struct mgr_res *r, bool end_ok)
{
	int64_t x;
	if (mp_obj_kind(i) != MP_OBJ_INT && mp_obj_kind(i) != MP_OBJ_BOOL) {
		mp__mgr_type_error(r, "indices must be integers");
		return -1;
	}
	if (mp_obj_int_value(i, &x) < 0)
		x = INT64_MAX;
	if (x < 0)
		x += (int64_t)a->n;
	if (x < 0 || x > (int64_t)a->n || (x == (int64_t)a->n && !end_ok)) {
		mp__mgr_err(r, mp__mgr_exc("builtins.IndexError",
		                           "index out of range"));
		return -1;
	}
	return x;
}

static int64_t vec_find(const struct vec *a, const mp_obj_t *x)
{
	for (size_t i = 0; i < a->n; i++)
		if (mp_obj_equal(a->v[i], x))
			return (int64_t)i;
	return -1;
}

/* Python's < for numbers, str and bytes; -2 for types it refuses. */
static int cmp(const mp_obj_t *x, const mp_obj_t *y)
{
	mp_obj_kind_t a = mp_obj_kind(x), b = mp_obj_kind(y);
	bool na = a == MP_OBJ_INT || a == MP_OBJ_BOOL || a == MP_OBJ_FLOAT;
	bool nb = b == MP_OBJ_INT || b == MP_OBJ_BOOL || b == MP_OBJ_FLOAT;
	if (na && nb) {
		int64_t i, j;
		if (a != MP_OBJ_FLOAT && b != MP_OBJ_FLOAT &&
		    mp_obj_int_value(x, &i) == 0 &&
		    mp_obj_int_value(y, &j) == 0)
			return (i > j) - (i < j);
		double p = mp_obj_float_value(x), q = mp_obj_float_value(y);
		return (p > q) - (p < q);
	}
	if (a != b || (a != MP_OBJ_STR && a != MP_OBJ_BYTES))
		return -2;
	size_t n1, n2;
	const char *s1 = mp_obj_data(x, &n1), *s2 = mp_obj_data(y, &n2);
	int c = memcmp(s1, s2, n1 < n2 ? n1 : n2);
	if (c)
		return c < 0 ? -1 : 1;
	return (n1 > n2) - (n1 < n2);
}

/* A stable merge sort; -1 when two elements do not compare. */
static int msort(mp_obj_t **v, mp_obj_t **tmp, size_t n, bool rev)
{
	if (n < 2)
		return 0;
	size_t h = n / 2;
	if (msort(v, tmp, h, rev) < 0 || msort(v + h, tmp, n - h, rev) < 0)
		return -1;
	size_t i = 0, j = h, k = 0;
	while (i < h && j < n) {
		int c = cmp(v[j], v[i]);
		if (c == -2)
			return -1;
		bool take_j = rev ? c > 0 : c < 0;
		tmp[k++] = take_j ? v[j++] : v[i++];
	}
	while (i < h)
		tmp[k++] = v[i++];
	while (j < n)
		tmp[k++] = v[j++];
	memcpy(v, tmp, n * sizeof(*v));
	return 0;
}

/* ---- list ---------------------------------------------------------------- */

static const char *const list_exposed[] = {
	"__add__", "__contains__", "__delitem__", "__getitem__", "__len__",
	"__mul__", "__rmul__", "__setitem__", "append", "count", "extend",
	"index", "insert", "pop", "remove", "reverse", "sort", "__imul__",
	NULL,
};

static int list_init(struct mgr_obj *o, const mp_obj_t *args,
                     const mp_obj_t *kwds, mp_obj_t **exc)
{
	(void)kwds;
	struct vec *a = calloc(1, sizeof(*a));
	if (!a)
		return -1;
	o->state = a;
	const mp_obj_t *src = mp_obj_item(args, 0);
	if (src && vec_extend(a, src) < 0) {
		vec_clear(a);
		free(a);
		*exc = mp__mgr_exc("builtins.TypeError", "not a sequence");
		return -1;
	}
	return 0;
}

static void list_destroy(struct mgr_obj *o)
{
	vec_clear(o->state);
	free(o->state);
}

static mp_obj_t *list_value(struct mgr_obj *o)
{
	return vec_list(o->state);
}

static void list_repeat(struct vec *a, const struct mgr_call *c,
                        struct mgr_res *r)
{
	int64_t n;
	if (mp_obj_int_value(ARG(0, NULL), &n) < 0) {
		mp__mgr_type_error(r, "can't multiply sequence by non-int");
		return;
	}
	if (n > 0 && (uint64_t)n * a->n > (1u << 24)) {
		mp__mgr_err(r, mp__mgr_exc("builtins.MemoryError", NULL));
		return;
	}
	mp_obj_t *l = mp_obj_list();
	for (int64_t k = 0; l && k < n; k++)
		for (size_t i = 0; l && i < a->n; i++)
			if (mp_obj_list_append(l, mp_obj_incref(a->v[i])) < 0)
				l = NULL;
	if (M("__imul__")) {
		/* in place: the vector becomes the repeated list */
		vec_clear(a);
		if (l)
			vec_extend(a, l);
		mp_obj_decref(l);
		mp__mgr_ret(r, mp_obj_none());
		return;
	}
	mp__mgr_ret(r, l);
}

static void list_edit(struct vec *a, const struct mgr_call *c,
                      struct mgr_res *r)
{
	int64_t i;
	const mp_obj_t *x = ARG(0, NULL);
	if ((M("__setitem__") || M("__delitem__") || M("__getitem__")) &&
	    mp__mgr_is_slice(x)) {
		mp__mgr_slice_call(c, &a->v, &a->n, &a->cap, r);
	} else if (M("__setitem__") || M("__delitem__") ||
	           M("__getitem__")) {
		if ((i = vec_index(a, x, r, false)) < 0)
			return;
		if (M("__getitem__")) {
			mp__mgr_ret(r, mp_obj_incref(a->v[i]));
		} else if (M("__delitem__")) {
			vec_remove(a, (size_t)i);
			mp__mgr_ret(r, mp_obj_none());
		} else {
			mp_obj_decref(a->v[i]);
			a->v[i] = mp_obj_incref((mp_obj_t *)ARG(1, NULL));
			mp__mgr_ret(r, mp_obj_none());
		}
	} else if (M("insert")) {
		int64_t at;
		if (mp_obj_int_value(x, &at) < 0) {
			mp__mgr_type_error(r, "an integer is required");
			return;
		}
		at = at < 0 ? at + (int64_t)a->n : at;
		at = at < 0 ? 0 : at > (int64_t)a->n ? (int64_t)a->n : at;
		vec_insert(a, (size_t)at,
		           mp_obj_incref((mp_obj_t *)ARG(1, NULL)));
		mp__mgr_ret(r, mp_obj_none());
	} else if (M("pop")) {
		if (a->n == 0) {
			mp__mgr_err(r, mp__mgr_exc("builtins.IndexError",
			                           "pop from empty list"));
			return;
		}
		mp_obj_t *last = mp_obj_int(-1);
		i = vec_index(a, x ? x : last, r, false);
		mp_obj_decref(last);
		if (i < 0)
			return;
		mp__mgr_ret(r, mp_obj_incref(a->v[i]));
		vec_remove(a, (size_t)i);
	} else if (M("remove") || M("index")) {
		if ((i = vec_find(a, x)) < 0) {
			mp__mgr_err(r, mp__mgr_exc("builtins.ValueError",
			                           "value is not in list"));
			return;
		}
		if (M("remove"))
			vec_remove(a, (size_t)i);
		mp__mgr_ret(r, M("remove") ? mp_obj_none() : mp_obj_int(i));
	}
}

static void list_call(mp_manager_server_t *s, struct mgr_call *c,
                      struct mgr_res *r)
{
	(void)s;
	struct vec *a = c->obj->state;
	const mp_obj_t *x = ARG(0, NULL);
	int64_t n = 0;
	if (M("__len__")) {
		mp__mgr_ret(r, mp_obj_int((int64_t)a->n));
	} else if (M("__contains__")) {
		mp__mgr_ret(r, mp_obj_bool(vec_find(a, x) >= 0));
	} else if (M("count")) {
		for (size_t i = 0; i < a->n; i++)
			n += mp_obj_equal(a->v[i], x);
		mp__mgr_ret(r, mp_obj_int(n));
	} else if (M("append")) {
		vec_insert(a, a->n, mp_obj_incref((mp_obj_t *)x));
		mp__mgr_ret(r, mp_obj_none());
	} else if (M("extend") || M("__add__")) {
		struct vec b = { 0 };
		struct vec *t = M("extend") ? a : &b;
		if (t == &b)
			for (size_t i = 0; i < a->n; i++)
				vec_insert(&b, b.n, mp_obj_incref(a->v[i]));
		if (vec_extend(t, x) < 0) {
			vec_clear(&b);
			mp__mgr_type_error(r, "can only concatenate a list");
			return;
		}
		mp__mgr_ret(r, t == a ? mp_obj_none() : vec_list(&b));
		vec_clear(&b);
	} else if (M("__mul__") || M("__rmul__") || M("__imul__")) {
		list_repeat(a, c, r);
	} else if (M("reverse")) {
		for (size_t i = 0; i < a->n / 2; i++) {
			mp_obj_t *t = a->v[i];
			a->v[i] = a->v[a->n - 1 - i];
			a->v[a->n - 1 - i] = t;
		}
		mp__mgr_ret(r, mp_obj_none());
	} else if (M("sort")) {
		const mp_obj_t *rev = mp_obj_dict_get_str(c->kwds, "reverse");
		mp_obj_t **tmp = malloc((a->n + 1) * sizeof(*tmp));
		if (mp_obj_dict_get_str(c->kwds, "key") &&
		    mp_obj_kind(mp_obj_dict_get_str(c->kwds, "key")) !=
		            MP_OBJ_NONE) {
			mp__mgr_type_error(r, "sort with a key is not "
			                      "supported by this manager");
		} else if (!tmp || msort(a->v, tmp, a->n,
		                         rev && mp_obj_bool_value(rev)) < 0) {
			mp__mgr_type_error(r, "'<' not supported between "
			                      "these instances");
		} else {
			mp__mgr_ret(r, mp_obj_none());
		}
		free(tmp);
	} else {
		list_edit(a, c, r);
	}
}

static const struct mgr_kind list_kind = {
	"list", list_exposed, list_init, list_call, list_value, NULL, NULL,
	list_destroy,
};

/* ---- Iterator: a snapshot of a dict's keys ------------------------------- */

static const char *const iter_exposed[] = {
	"__next__", "send", "throw", "close", NULL,
};

static void iter_call(mp_manager_server_t *s, struct mgr_call *c,
                      struct mgr_res *r)
{
	(void)s;
	struct vec *a = c->obj->state;
	if (M("close")) {
		a->pos = a->n;
		mp__mgr_ret(r, mp_obj_none());
	} else if (a->pos >= a->n) {
		mp__mgr_err(r, mp__mgr_exc("builtins.StopIteration", NULL));
	} else {
		mp__mgr_ret(r, mp_obj_incref(a->v[a->pos++]));
	}
}

const struct mgr_kind mp__mgr_iterator = {
	"Iterator", iter_exposed, list_init, iter_call, NULL, NULL, NULL,
	list_destroy,
};

/* ---- dict ---------------------------------------------------------------- */

static const char *const dict_exposed[] = {
	"__contains__", "__delitem__", "__getitem__", "__iter__", "__len__",
	"__setitem__", "clear", "copy", "get", "items", "keys", "pop",
	"popitem", "setdefault", "update", "values", NULL,
};

static int dict_init(struct mgr_obj *o, const mp_obj_t *args,
                     const mp_obj_t *kwds, mp_obj_t **exc)
{
	const mp_obj_t *src = mp_obj_item(args, 0);
	mp_obj_t *d = src && mp_obj_kind(src) == MP_OBJ_DICT
	                      ? mp__mgr_copy(src) : mp_obj_dict();
	if (!d)
		return -1;
	if ((src && mp_obj_kind(src) != MP_OBJ_DICT) || mp_obj_len(args) > 1) {
		*exc = mp__mgr_exc("builtins.TypeError", "dict(mapping)");
		mp_obj_decref(d);
		return -1;
	}
	mp_obj_t *key, *val;
	for (int64_t i = 0; kwds && i < mp_obj_len(kwds); i++) {
		mp_obj_dict_entry(kwds, (size_t)i, &key, &val);
		mp_obj_dict_set(d, mp_obj_incref(key), mp_obj_incref(val));
	}
	o->state = d;
	return 0;
}

static void dict_destroy(struct mgr_obj *o)
{
	mp_obj_decref(o->state);
}

static mp_obj_t *dict_value(struct mgr_obj *o)
{
	return mp__mgr_copy(o->state);
}

/* d without key: a rebuilt dict (mp_obj_t dicts have no delete). */
static int dict_del(struct mgr_obj *o, const mp_obj_t *k)
{
	mp_obj_t *d = o->state, *n = mp_obj_dict(), *key, *val;
	if (!n)
		return -ENOMEM;
	for (int64_t i = 0; i < mp_obj_len(d); i++) {
		mp_obj_dict_entry(d, (size_t)i, &key, &val);
		if (!mp_obj_equal(key, k) &&
		    mp_obj_dict_set(n, mp_obj_incref(key),
		                    mp_obj_incref(val)) < 0) {
			mp_obj_decref(n);
			return -ENOMEM;
		}
	}
	mp_obj_decref(d);
	o->state = n;
	return 0;
}

/* keys, values or items, as a list (CPython sends views as lists). */
static mp_obj_t *dict_view(const mp_obj_t *d, int which)
{
	mp_obj_t *l = mp_obj_list(), *key, *val;
	for (int64_t i = 0; l && i < mp_obj_len(d); i++) {
		mp_obj_dict_entry(d, (size_t)i, &key, &val);
		mp_obj_t *kv[2] = { mp_obj_incref(key), mp_obj_incref(val) };
		mp_obj_t *x = which == 0   ? kv[0]
		              : which == 1 ? kv[1]
		                           : mp_obj_tuple(2, kv);
		if (which == 0)
			mp_obj_decref(kv[1]);
		if (which == 1)
			mp_obj_decref(kv[0]);
		if (mp_obj_list_append(l, x) < 0) {
			mp_obj_decref(l);
			return NULL;
		}
	}
	return l;
}

static void dict_set(struct mgr_obj *o, const mp_obj_t *k,
                     const mp_obj_t *v, struct mgr_res *r)
{
	int e = mp_obj_dict_set(o->state, mp_obj_incref((mp_obj_t *)k),
	                        mp_obj_incref((mp_obj_t *)v));
	if (e == -EINVAL)
		mp__mgr_type_error(r, "unhashable type");
	else if (e < 0)
		mp__mgr_err(r, mp__mgr_exc("builtins.MemoryError", NULL));
	else
		mp__mgr_ret(r, mp_obj_none());
}

static void dict_update(struct mgr_obj *o, const struct mgr_call *c,
                        struct mgr_res *r)
{
	const mp_obj_t *src = ARG(0, NULL), *kw = c->kwds;
	mp_obj_t *key, *val;
	mp__mgr_ret(r, mp_obj_none());
	if (src && mp_obj_kind(src) == MP_OBJ_DICT) {
		for (int64_t i = 0; i < mp_obj_len(src); i++) {
			mp_obj_dict_entry(src, (size_t)i, &key, &val);
			dict_set(o, key, val, r);
		}
	} else if (src) {
		for (int64_t i = 0; i < mp_obj_len(src); i++) {
			const mp_obj_t *p = mp_obj_item(src, (size_t)i);
			mp_obj_kind_t pk = mp_obj_kind(p);
			if (mp_obj_len(p) != 2 ||
			    (pk != MP_OBJ_TUPLE && pk != MP_OBJ_LIST)) {
				mp_obj_decref(r->val);
				mp__mgr_type_error(r, "update takes pairs");
				return;
			}
			dict_set(o, mp_obj_item(p, 0), mp_obj_item(p, 1), r);
		}
	}
	for (int64_t i = 0; i < mp_obj_len(kw); i++) {
		mp_obj_dict_entry(kw, (size_t)i, &key, &val);
		dict_set(o, key, val, r);
	}
}

/* The methods that only read: true when c was one of them. */
static bool dict_read(const struct mgr_call *c, struct mgr_res *r)
{
	mp_obj_t *d = c->obj->state;
	const mp_obj_t *k = ARG(0, NULL), *dflt = ARG(1, NULL);
	mp_obj_t *v = k ? mp_obj_dict_get(d, k) : NULL;
	if (M("__getitem__") && !v) {
		mp__mgr_err(r, mp__mgr_exc_obj("builtins.KeyError",
		                               mp_obj_incref((mp_obj_t *)k)));
	} else if (M("__getitem__")) {
		mp__mgr_ret(r, mp_obj_incref(v));
	} else if (M("get")) {
		mp__mgr_ret(r, mp_obj_incref(v ? v : dflt ? (mp_obj_t *)dflt
		                                          : mp_obj_none()));
	} else if (M("__contains__")) {
		mp__mgr_ret(r, mp_obj_bool(v != NULL));
	} else if (M("__len__")) {
		mp__mgr_ret(r, mp_obj_int(mp_obj_len(d)));
	} else if (M("copy")) {
		mp__mgr_ret(r, mp__mgr_copy(d));
	} else if (M("keys") || M("values") || M("items")) {
		mp__mgr_ret(r, dict_view(d, M("keys") ? 0 : M("values") ? 1
		                                                        : 2));
	} else if (M("__iter__")) {
		/* a snapshot of the keys, hosted: CPython's '#PROXY' */
		r->status = MGR_PROXY;
		r->typeid = "Iterator";
		r->val = dict_view(d, 0);
	} else {
		return false;
	}
	return true;
}

static void dict_popitem(struct mgr_obj *o, struct mgr_res *r)
{
	mp_obj_t *d = o->state, *key, *val;
	int64_t n = mp_obj_len(d);
	if (n == 0) {
		mp__mgr_err(r, mp__mgr_exc("builtins.KeyError",
		                           "popitem(): dictionary is empty"));
		return;
	}
	mp_obj_dict_entry(d, (size_t)n - 1, &key, &val);
	mp_obj_t *kv[2] = { mp_obj_incref(key), mp_obj_incref(val) };
	mp__mgr_ret(r, mp_obj_tuple(2, kv));
	dict_del(o, kv[0]);
}

static void dict_call(mp_manager_server_t *s, struct mgr_call *c,
                      struct mgr_res *r)
{
	(void)s;
	struct mgr_obj *o = c->obj;
	const mp_obj_t *k = ARG(0, NULL), *dflt = ARG(1, NULL);
	mp_obj_t *v = k ? mp_obj_dict_get(o->state, k) : NULL;
	if (dict_read(c, r))
		return;
	if (M("__setitem__") && k && dflt) {
		dict_set(o, k, dflt, r);
	} else if (M("__delitem__") || (M("pop") && !dflt)) {
		if (!v) {
			mp__mgr_err(r, mp__mgr_exc_obj(
			                       "builtins.KeyError",
			                       mp_obj_incref((mp_obj_t *)k)));
			return;
		}
		mp__mgr_ret(r, M("pop") ? mp_obj_incref(v) : mp_obj_none());
		dict_del(o, k);
	} else if (M("pop")) {
		mp__mgr_ret(r, mp_obj_incref(v ? v : (mp_obj_t *)dflt));
		if (v)
			dict_del(o, k);
	} else if (M("setdefault") && k) {
		if (!v)
			dict_set(o, k, dflt ? dflt : mp_obj_none(), r);
		if (r->status == MGR_ERROR)
			return;
		mp_obj_decref(r->val);
		mp__mgr_ret(r, mp_obj_incref(mp_obj_dict_get(o->state, k)));
	} else if (M("popitem")) {
		dict_popitem(o, r);
	} else if (M("clear")) {
		mp_obj_decref(o->state);
		o->state = mp_obj_dict();
		mp__mgr_ret(r, mp_obj_none());
	} else if (M("update")) {
		dict_update(o, c, r);
	} else {
		mp__mgr_type_error(r, "missing arguments");
	}
}

static const struct mgr_kind dict_kind = {
	"dict", dict_exposed, dict_init, dict_call, dict_value, NULL, NULL,
	dict_destroy,
};

/* ---- Namespace ----------------------------------------------------------- */

static const char *const ns_exposed[] = {
	"__getattribute__", "__setattr__", "__delattr__", NULL,
};

static void ns_call(mp_manager_server_t *s, struct mgr_call *c,
                    struct mgr_res *r)
{
	(void)s;
	const mp_obj_t *k = ARG(0, NULL);
	mp_obj_t *v = mp_obj_dict_get(c->obj->state, k);
	if (mp_obj_kind(k) != MP_OBJ_STR) {
		mp__mgr_type_error(r, "attribute name must be string");
	} else if (M("__setattr__") && ARG(1, NULL)) {
		dict_set(c->obj, k, ARG(1, NULL), r);
	} else if (!v) {
		char t[200];
		snprintf(t, sizeof(t), "'Namespace' object has no attribute "
		         "'%.120s'", mp_obj_data(k, NULL));
		mp__mgr_err(r, mp__mgr_exc("builtins.AttributeError", t));
	} else if (M("__getattribute__")) {
		mp__mgr_ret(r, mp_obj_incref(v));
	} else {
		dict_del(c->obj, k);
		mp__mgr_ret(r, mp_obj_none());
	}
}

/* managers.Namespace as pickle writes it: NEWOBJ, then its __dict__. */
static mp_obj_t *ns_value(struct mgr_obj *o)
{
	return mp_obj_inert(mp_obj_global("multiprocessing.managers",
	                                  "Namespace", NULL),
	                    mp_obj_tuple(0, NULL), true,
	                    mp__mgr_copy(o->state), NULL);
}

/* Namespace(a=1, b='x'): its public attributes, as its __repr__. */
static mp_obj_t *ns_repr(struct mgr_obj *o)
{
	size_t cap = 64, n;
	char *t = malloc(cap);
	mp_obj_t *key, *val;
	if (!t)
		return NULL;
	n = (size_t)snprintf(t, cap, "Namespace(");
	for (int64_t i = 0; i < mp_obj_len(o->state); i++) {
		mp_obj_dict_entry(o->state, (size_t)i, &key, &val);
		const char *k = mp_obj_data(key, NULL);
		char *vr = mp_obj_repr(val, NULL);
		size_t need = n + strlen(k) + (vr ? strlen(vr) : 1) + 8;
		char *p = need > cap ? realloc(t, cap = need * 2) : t;
		if (k[0] != '_' && p && vr)
			n += (size_t)snprintf(p + n, cap - n, "%s%s=%s",
			                      n > 10 ? ", " : "", k, vr);
		free(vr);
		if (!p) {
			free(t);
			return NULL;
		}
		t = p;
	}
	snprintf(t + n, cap - n, ")");
	mp_obj_t *v = mp__mgr_str(t);
	free(t);
	return v;
}

static const struct mgr_kind ns_kind = {
	"Namespace", ns_exposed, dict_init, ns_call, ns_value, ns_repr, NULL,
	dict_destroy,
};

/* ---- Value --------------------------------------------------------------- */

static const char *const value_exposed[] = { "get", "set", NULL };

/* state: a 2-item vector: typecode (a str), value */
static int value_init(struct mgr_obj *o, const mp_obj_t *args,
                      const mp_obj_t *kwds, mp_obj_t **exc)
{
	(void)kwds;
	struct vec *a = calloc(1, sizeof(*a));
	if (!a)
		return -1;
	o->state = a;
	if (mp_obj_len(args) < 2 || vec_extend(a, args) < 0) {
		*exc = mp__mgr_exc("builtins.TypeError",
		                   "Value(typecode, value)");
		list_destroy(o);
		return -1;
	}
	while (a->n > 2)
		vec_remove(a, a->n - 1); /* lock=...: nothing to lock here */
	return 0;
}

static void value_call(mp_manager_server_t *s, struct mgr_call *c,
                       struct mgr_res *r)
{
	(void)s;
	struct vec *a = c->obj->state;
	const mp_obj_t *x = ARG(0, "value");
	if (M("get")) {
		mp__mgr_ret(r, mp_obj_incref(a->v[1]));
	} else if (x) {
		mp_obj_decref(a->v[1]);
		a->v[1] = mp_obj_incref((mp_obj_t *)x);
		mp__mgr_ret(r, mp_obj_none());
	} else {
		mp__mgr_type_error(r, "set(value)");
	}
}

/* managers.Value as pickle writes it: NEWOBJ, its __dict__. */
static mp_obj_t *value_value(struct mgr_obj *o)
{
	struct vec *a = o->state;
	mp_obj_t *d = mp_obj_dict();
	mp_obj_dict_set(d, mp__mgr_str("_typecode"), mp_obj_incref(a->v[0]));
	mp_obj_dict_set(d, mp__mgr_str("_value"), mp_obj_incref(a->v[1]));
	return mp_obj_inert(mp_obj_global("multiprocessing.managers", "Value",
	                                  NULL),
	                    mp_obj_tuple(0, NULL), true, d, NULL);
}

static mp_obj_t *value_repr(struct mgr_obj *o)
{
	struct vec *a = o->state;
	char *t1 = mp_obj_repr(a->v[0], NULL), *t2 = mp_obj_repr(a->v[1], NULL);
	char *t = NULL;
	mp_obj_t *v = NULL;
	if (t1 && t2 && asprintf(&t, "Value(%s, %s)", t1, t2) >= 0)
		v = mp__mgr_str(t);
	free(t);
	free(t1);
	free(t2);
	return v;
}

static const struct mgr_kind value_kind = {
	"Value", value_exposed, value_init, value_call, value_value,
	value_repr, NULL, list_destroy,
};

/* ---- Array: array.array(typecode, sequence) ------------------------------ */

static const char *const array_exposed[] = {
	"__len__", "__getitem__", "__setitem__", NULL,
};

/* A typecode's size and array's machine format code (little-endian). */
static int tc_info(char tc, int *mformat)
{
	static const char codes[] = "bBhHiIlLqQfd";
	static const int size[] = { 1, 1, 2, 2, 4, 4, 8, 8, 8, 8, 4, 8 };
	static const int mf[] = { 1, 0, 4, 2, 8, 6, 12, 10, 12, 10, 14, 16 };
	const char *p = tc ? strchr(codes, tc) : NULL;
	if (!p)
		return -1;
	*mformat = mf[p - codes];
	return size[p - codes];
}

/* Whether x fits an element of typecode tc. */
static bool tc_fits(char tc, const mp_obj_t *x)
{
	int64_t v;
	if (tc == 'f' || tc == 'd')
		return mp_obj_kind(x) == MP_OBJ_FLOAT ||
		       mp_obj_kind(x) == MP_OBJ_INT;
	if (mp_obj_kind(x) != MP_OBJ_INT)
		return false;
	if (mp_obj_int_value(x, &v) < 0)
		return tc == 'Q' || tc == 'L'; /* checked when packed */
	int mf = 0, n = tc_info(tc, &mf);
	bool sig = tc >= 'a';
	if (n == 8)
		return sig || v >= 0;
	int64_t lim = (int64_t)1 << (8 * n - (sig ? 1 : 0));
	return sig ? v >= -lim && v < lim : v >= 0 && v < lim;
}

static int array_init(struct mgr_obj *o, const mp_obj_t *args,
                      const mp_obj_t *kwds, mp_obj_t **exc)
{
	(void)kwds;
	const mp_obj_t *tc = mp_obj_item(args, 0), *seq = mp_obj_item(args, 1);
	size_t n = 0;
	const char *t = mp_obj_data(tc, &n);
	int mf = 0;
	struct vec *a = calloc(1, sizeof(*a));
	if (!a)
		return -1;
	o->state = a;
	if (mp_obj_kind(tc) != MP_OBJ_STR || n != 1 || tc_info(t[0], &mf) < 0 ||
	    vec_extend(a, seq) < 0) {
		*exc = mp__mgr_exc("builtins.TypeError",
		                   "Array(typecode, sequence): a typecode of "
		                   "bBhHiIlLqQfd and a list");
		list_destroy(o);
		return -1;
	}
	a->tc = t[0];
	for (size_t i = 0; i < a->n; i++)
		if (!tc_fits(a->tc, a->v[i])) {
			*exc = mp__mgr_exc("builtins.OverflowError",
			                   "value does not fit the typecode");
			list_destroy(o);
			return -1;
		}
	return 0;
}

/* n values as an array.array of typecode tc, as pickle writes one
 * (protocol 3+): array._array_reconstructor(array.array, typecode,
 * mformat, bytes). */
static mp_obj_t *array_of(char tc, const mp_obj_t *const *v, size_t n)
{
	int mf = 0, sz = tc_info(tc, &mf);
	uint8_t *b = calloc(n + 1, (size_t)sz);
	if (!b)
		return NULL;
	for (size_t i = 0; i < n; i++) {
		uint8_t *p = b + i * (size_t)sz;
		if (tc == 'f') {
			float f = (float)mp_obj_float_value(v[i]);
			memcpy(p, &f, 4);
		} else if (tc == 'd') {
			double d = mp_obj_float_value(v[i]);
			memcpy(p, &d, 8);
		} else {
			size_t k = 0;
			const uint8_t *le = mp_obj_int_le(v[i], &k);
			int neg = k && (le[k - 1] & 0x80);
			memset(p, neg ? 0xff : 0, (size_t)sz);
			memcpy(p, le, k < (size_t)sz ? k : (size_t)sz);
		}
	}
	char t[2] = { tc, 0 };
	mp_obj_t *items[4] = { mp_obj_global("array", "array", NULL),
	                       mp__mgr_str(t), mp_obj_int(mf),
	                       mp_obj_bytes(b, n * (size_t)sz) };
	free(b);
	return mp_obj_inert(mp_obj_global("array", "_array_reconstructor",
	                                  NULL),
	                    mp_obj_tuple(4, items), false, NULL, NULL);
}

static mp_obj_t *array_value(struct mgr_obj *o)
{
	struct vec *a = o->state;
	return array_of(a->tc, (const mp_obj_t *const *)a->v, a->n);
}

/* One element of typecode tc (size sz, machine format as tc_info's) at p. */
static mp_obj_t *array_item(char tc, const uint8_t *p, int sz)
{
	if (tc == 'f' || tc == 'd') {
		float f;
		double d;
		if (tc == 'f')
			memcpy(&f, p, 4);
		else
			memcpy(&d, p, 8);
		return mp_obj_float(tc == 'f' ? (double)f : d);
	}
	uint8_t le[9] = { 0 }; /* unsigned: a zero byte on top keeps it so */
	memcpy(le, p, (size_t)sz);
	return mp_obj_int_bytes(le, (size_t)sz + (tc < 'a'), NULL);
}

/* The items of bytes b[0..len) packed as typecode tc's, as a new list. */
static mp_obj_t *array_unpack(char tc, int sz, const uint8_t *b, size_t len)
{
	mp_obj_t *l = mp_obj_list();
	for (size_t i = 0; l && i < len / (size_t)sz; i++)
		if (mp_obj_list_append(l, array_item(tc, b + i * (size_t)sz,
		                                     sz)) < 0) {
			mp_obj_decref(l);
			l = NULL;
		}
	return l;
}

/* x a call of array's `name` (kept inert, as the decoder keeps every
 * call it does not know)?  Its args then, else NULL. */
static const mp_obj_t *array_call_args(const mp_obj_t *x, const char *name)
{
	const char *mod = mp_obj_inert_module(x), *n = mp_obj_inert_name(x);
	const mp_obj_t *a = mp_obj_inert_args(x);
	return mp_obj_kind(x) == MP_OBJ_INERT && mod && n &&
	       !strcmp(mod, "array") && !strcmp(n, name) &&
	       mp_obj_kind(a) == MP_OBJ_TUPLE ? a : NULL;
}

/*
 * The items of an array.array a client sent, as a new list, when it is
 * one of typecode tc; else NULL with a TypeError in *r, as Python's array
 * says for a[i:j] = x.  Its pickle, kept inert, is one of: array.array(
 * typecode, bytes) (multiprocessing.managers registers that reduction),
 * array.array(typecode, list) (protocol 2), array._array_reconstructor(
 * array.array, typecode, mformat, bytes) (protocol 3 and up; mformat
 * must be ours).
 */
static mp_obj_t *array_items(char tc, const mp_obj_t *x, struct mgr_res *r)
{
	const mp_obj_t *a = array_call_args(x, "array"), *t = NULL, *d = NULL;
	int mf = 0, sz = tc_info(tc, &mf);
	int64_t got_mf = mf;
	if (a && mp_obj_len(a) == 2) {
		t = mp_obj_item(a, 0);
		d = mp_obj_item(a, 1);
	} else if ((a = array_call_args(x, "_array_reconstructor")) &&
	           mp_obj_len(a) == 4 &&
	           mp_obj_int_value(mp_obj_item(a, 2), &got_mf) == 0) {
		t = mp_obj_item(a, 1);
		d = mp_obj_item(a, 3);
	}
	size_t n = 0, len = 0;
	const char *tcs = t && mp_obj_kind(t) == MP_OBJ_STR ? mp_obj_data(t, &n)
	                                                    : NULL;
	mp_obj_kind_t k = d ? mp_obj_kind(d) : MP_OBJ_NONE;
	const uint8_t *b = k == MP_OBJ_BYTES
	                   ? (const uint8_t *)mp_obj_data(d, &len) : NULL;
	if (!tcs) {
		mp__mgr_type_error(r, "can only assign array to array slice");
		return NULL;
	}
	if (n != 1 || tcs[0] != tc || got_mf != mf ||
	    (b && len % (size_t)sz) || (!b && k != MP_OBJ_LIST)) {
		mp__mgr_type_error(r, "bad argument type for built-in "
		                      "operation");
		return NULL;
	}
	if (!b) { /* a list: its items must fit, as array() would check */
		for (int64_t i = 0; i < mp_obj_len(d); i++)
			if (!tc_fits(tc, mp_obj_item(d, (size_t)i))) {
				mp__mgr_type_error(r, "value does not fit the "
				                      "array's type");
				return NULL;
			}
		return mp_obj_incref((mp_obj_t *)d);
	}
	mp_obj_t *l = array_unpack(tc, sz, b, len);
	if (!l)
		mp__mgr_err(r, mp__mgr_exc("builtins.MemoryError", NULL));
	return l;
}

/*
 * a[slice] and a[slice] = array, by the list's slice code: what it
 * returns (a list) goes back as an array of our typecode; what is
 * assigned must be an array of our typecode (a step-1 slice may change
 * the length, as in Python).
 */
static void array_slice(struct vec *a, struct mgr_call *c, struct mgr_res *r)
{
	if (M("__getitem__")) {
		mp__mgr_slice_call(c, &a->v, &a->n, &a->cap, r);
		if (r->status != MGR_RETURN)
			return;
		mp_obj_t *l = r->val;
		size_t n = (size_t)mp_obj_len(l);
		const mp_obj_t **v = calloc(n + 1, sizeof(*v));
		for (size_t i = 0; v && i < n; i++)
			v[i] = mp_obj_item(l, i);
		mp_obj_t *arr = v ? array_of(a->tc, v, n) : NULL;
		free(v);
		mp_obj_decref(l);
		r->val = NULL;
		if (arr)
			mp__mgr_ret(r, arr);
		else
			mp__mgr_err(r, mp__mgr_exc("builtins.MemoryError",
			                           NULL));
		return;
	}
	mp_obj_t *items = array_items(a->tc, ARG(1, NULL), r);
	if (!items)
		return;
	mp_obj_t *args[2] = { mp_obj_incref((mp_obj_t *)ARG(0, NULL)),
	                      items };
	struct mgr_call sc = *c;
	mp_obj_t *t = mp_obj_tuple(2, args);
	sc.args = t;
	if (t)
		mp__mgr_slice_call(&sc, &a->v, &a->n, &a->cap, r);
	else
		mp__mgr_err(r, mp__mgr_exc("builtins.MemoryError", NULL));
	mp_obj_decref(t);
}

static void array_call(mp_manager_server_t *s, struct mgr_call *c,
                       struct mgr_res *r)
{
	(void)s;
	struct vec *a = c->obj->state;
	int64_t i;
	if (M("__len__")) {
		mp__mgr_ret(r, mp_obj_int((int64_t)a->n));
		return;
	}
	if (mp__mgr_is_slice(ARG(0, NULL))) {
		array_slice(a, c, r);
		return;
	}
	if ((i = vec_index(a, ARG(0, NULL), r, false)) < 0)
		return;
	if (M("__getitem__")) {
		mp__mgr_ret(r, mp_obj_incref(a->v[i]));
		return;
	}
	const mp_obj_t *x = ARG(1, NULL);
	if (!x || !tc_fits(a->tc, x)) {
		mp__mgr_type_error(r, "value does not fit the array's type");
		return;
	}
	mp_obj_decref(a->v[i]);
	a->v[i] = a->tc == 'f' || a->tc == 'd'
	                  ? mp_obj_float(mp_obj_float_value(x))
	                  : mp_obj_incref((mp_obj_t *)x);
	mp__mgr_ret(r, mp_obj_none());
}

static mp_obj_t *array_repr(struct mgr_obj *o)
{
	struct vec *a = o->state;
	mp_obj_t *l = vec_list(a);
	char *t = l ? mp_obj_repr(l, NULL) : NULL, *u = NULL;
	mp_obj_t *v = NULL;
	if (t && asprintf(&u, a->n ? "array('%c', %s)" : "array('%c')",
	                  a->tc, t) >= 0)
		v = mp__mgr_str(u);
	mp_obj_decref(l);
	free(t);
	free(u);
	return v;
}

static const struct mgr_kind array_kind = {
	"Array", array_exposed, array_init, array_call, array_value,
	array_repr, NULL, list_destroy,
};

/* ---- the table ----------------------------------------------------------- */

extern const struct mgr_kind mp__mgr_queue, mp__mgr_jqueue, mp__mgr_lock,
	mp__mgr_rlock, mp__mgr_sem, mp__mgr_bsem, mp__mgr_cond, mp__mgr_event,
	mp__mgr_barrier;

const struct mgr_kind *mp__mgr_kind(const char *name)
{
	static const struct mgr_kind *const kinds[] = {
		&dict_kind, &list_kind, &ns_kind, &value_kind, &array_kind,
		&mp__mgr_iterator, &mp__mgr_queue, &mp__mgr_jqueue,
		&mp__mgr_lock, &mp__mgr_rlock, &mp__mgr_sem, &mp__mgr_bsem,
		&mp__mgr_cond, &mp__mgr_event, &mp__mgr_barrier,
	};
	for (size_t i = 0; i < sizeof(kinds) / sizeof(*kinds); i++)
		if (!strcmp(kinds[i]->name, name))
			return kinds[i];
	return NULL;
}
