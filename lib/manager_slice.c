/*
 * manager_slice.c - a hosted list's l[a:b:c], l[a:b:c] = seq and
 * del l[a:b:c].
 *
 * A ListProxy passes the slice object itself; pickled, it is
 * builtins.slice(start, stop, step) by REDUCE, which the decoder keeps as
 * an inert call (MP_OBJ_INERT: nothing is made or run).  Here that node is
 * read as data, with Python's rules (slice.indices, list_ass_slice).
 */
#include "manager.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define M(name) !strcmp(c->method, name)

/* Bounds that keep start + n and k * step inside int64_t: a list never
 * gets near them, so clamping there changes no result. */
#define SLICE_BIG ((int64_t)1 << 60)

bool mp__mgr_is_slice(const mp_obj_t *x)
{
	const mp_obj_t *a = mp_obj_inert_args(x);
	return mp_obj_kind(x) == MP_OBJ_INERT && !mp_obj_inert_state(x) &&
	       mp_obj_inert_module(x) && mp_obj_inert_name(x) &&
	       !strcmp(mp_obj_inert_module(x), "builtins") &&
	       !strcmp(mp_obj_inert_name(x), "slice") &&
	       mp_obj_kind(a) == MP_OBJ_TUPLE && mp_obj_len(a) == 3;
}

/* One of start, stop, step: 1 a number (clamped), 0 None, -1 neither. */
static int slice_part(const mp_obj_t *x, int64_t *v)
{
	mp_obj_kind_t k = mp_obj_kind(x);
	if (k == MP_OBJ_NONE)
		return 0;
	if (k != MP_OBJ_INT && k != MP_OBJ_BOOL)
		return -1;
	if (mp_obj_int_value(x, v) < 0) { /* past int64: only its sign */
		size_t n = 0;
		const uint8_t *le = mp_obj_int_le(x, &n);
		*v = n && le[n - 1] & 0x80 ? -SLICE_BIG : SLICE_BIG;
	}
	*v = *v < -SLICE_BIG ? -SLICE_BIG : *v > SLICE_BIG ? SLICE_BIG : *v;
	return 1;
}

/* A bound of slice.indices(n): from the end when negative, clamped. */
static int64_t adjust(int64_t x, int64_t n, int64_t step)
{
	if (x < 0) {
		x += n;
		if (x < 0)
			x = step < 0 ? -1 : 0;
	} else if (x >= n) {
		x = step < 0 ? n - 1 : n;
	}
	return x;
}

/* slice.indices(n) and the slice's length; false with *r set. */
static bool slice_indices(const mp_obj_t *x, int64_t n, int64_t *start,
                          int64_t *step, int64_t *len, struct mgr_res *r)
{
	const mp_obj_t *a = mp_obj_inert_args(x);
	int64_t v[3];
	int got[3];
	for (size_t i = 0; i < 3; i++)
		if ((got[i] = slice_part(mp_obj_item(a, i), &v[i])) < 0) {
			mp__mgr_type_error(r, "slice indices must be integers "
			                      "or None or have an __index__ "
			                      "method");
			return false;
		}
	*step = got[2] ? v[2] : 1;
	if (*step == 0) {
		mp__mgr_err(r, mp__mgr_exc("builtins.ValueError",
		                           "slice step cannot be zero"));
		return false;
	}
	int64_t s = got[0] ? adjust(v[0], n, *step) : *step < 0 ? n - 1 : 0;
	int64_t e = got[1] ? adjust(v[1], n, *step) : *step < 0 ? -1 : n;
	if (*step < 0)
		*len = e < s ? (s - e - 1) / -*step + 1 : 0;
	else
		*len = s < e ? (e - s - 1) / *step + 1 : 0;
	*start = s;
	return true;
}

static void get_slice(mp_obj_t **v, int64_t start, int64_t step,
                      int64_t len, struct mgr_res *r)
{
	mp_obj_t *l = mp_obj_list();
	for (int64_t k = 0; l && k < len; k++)
		if (mp_obj_list_append(l, mp_obj_incref(v[start + k * step]))
		    < 0) {
			mp_obj_decref(l);
			l = NULL;
		}
	if (l)
		mp__mgr_ret(r, l);
	else
		mp__mgr_err(r, mp__mgr_exc("builtins.MemoryError", NULL));
}

/* del l[slice]: one pass keeps what the slice does not name. */
static void del_slice(mp_obj_t **v, size_t *n, int64_t start, int64_t step,
                      int64_t len)
{
	if (step < 0) { /* the same indices, walked upwards */
		start += (len - 1) * step;
		step = -step;
	}
	size_t j = 0;
	for (size_t i = 0; i < *n; i++) {
		int64_t d = (int64_t)i - start;
		if (len && d >= 0 && d % step == 0 && d / step < len)
			mp_obj_decref(v[i]);
		else
			v[j++] = v[i];
	}
	*n = j;
}

/* l[a:b] = seq: the run [start, start + len) becomes seq's items. */
static int splice_run(mp_obj_t ***v, size_t *n, size_t *cap, int64_t start,
                  int64_t len, const mp_obj_t *seq)
{
	size_t m = (size_t)mp_obj_len(seq), s = (size_t)start;
	size_t nn = *n - (size_t)len + m;
	while (nn > *cap)
		if (mp__grow(v, cap, sizeof(**v), nn) < 0)
			return -ENOMEM;
	mp_obj_t **a = *v;
	for (int64_t k = 0; k < len; k++)
		mp_obj_decref(a[s + (size_t)k]);
	memmove(a + s + m, a + s + (size_t)len,
	        (*n - s - (size_t)len) * sizeof(*a));
	for (size_t k = 0; k < m; k++)
		a[s + k] = mp_obj_incref(mp_obj_item(seq, k));
	*n = nn;
	return 0;
}

static void set_slice(mp_obj_t ***v, size_t *n, size_t *cap, int64_t start,
                      int64_t step, int64_t len, const mp_obj_t *seq,
                      struct mgr_res *r)
{
	mp_obj_kind_t k = mp_obj_kind(seq);
	if (k != MP_OBJ_LIST && k != MP_OBJ_TUPLE) {
		mp__mgr_type_error(r, "can only assign a list or a tuple to "
		                      "a slice of this manager's list");
		return;
	}
	int64_t m = mp_obj_len(seq);
	if (step == 1) {
		if (splice_run(v, n, cap, start, len, seq) < 0)
			mp__mgr_err(r, mp__mgr_exc("builtins.MemoryError",
			                           NULL));
		else
			mp__mgr_ret(r, mp_obj_none());
		return;
	}
	if (m != len) {
		char t[120];
		snprintf(t, sizeof(t), "attempt to assign sequence of size "
		         "%lld to extended slice of size %lld", (long long)m,
		         (long long)len);
		mp__mgr_err(r, mp__mgr_exc("builtins.ValueError", t));
		return;
	}
	for (int64_t i = 0; i < len; i++) {
		mp_obj_t **slot = &(*v)[start + i * step];
		mp_obj_decref(*slot);
		*slot = mp_obj_incref(mp_obj_item(seq, (size_t)i));
	}
	mp__mgr_ret(r, mp_obj_none());
}

void mp__mgr_slice_call(const struct mgr_call *c, mp_obj_t ***v, size_t *n,
                        size_t *cap, struct mgr_res *r)
{
	int64_t start, step, len;
	if (!slice_indices(mp__mgr_arg(c, 0, NULL), (int64_t)*n, &start,
	                   &step, &len, r))
		return;
	if (M("__getitem__")) {
		get_slice(*v, start, step, len, r);
	} else if (M("__delitem__")) {
		del_slice(*v, n, start, step, len);
		mp__mgr_ret(r, mp_obj_none());
	} else {
		const mp_obj_t *seq = mp__mgr_arg(c, 1, NULL);
		set_slice(v, n, cap, start, step, len, seq, r);
	}
}
