/*
 * test_obj.c - values (mp_obj_t): constructors and accessors, references,
 * freezing, depth, Python's key equality and hashing, repr as CPython
 * writes it (the expected strings were produced by python3 3.11-3.13).
 */
#include "testutil.h"
#include "obj.h"

#include <math.h>
#include <sys/resource.h>

/* repr(o) is want; o is released. */
#define MPT_REPR(o, want)                                                   \
	do {                                                                \
		mp_obj_t *o_ = (o);                                         \
		int e_ = 1;                                                 \
		char *r_ = mp_obj_repr(o_, &e_);                            \
		char m_[1024];                                              \
		snprintf(m_, sizeof(m_), "repr(%s) == %s (got %s, err %d)", \
		         #o, want, r_ ? r_ : "NULL", e_);                   \
		CU_assertImplementation(r_ && e_ == 0 &&                    \
		                        strcmp(r_, want) == 0, __LINE__,    \
		                        m_, __FILE__, __func__, CU_FALSE);  \
		free(r_);                                                   \
		mp_obj_decref(o_);                                          \
	} while (0)

static mp_obj_t *S(const char *s)
{
	int err;
	mp_obj_t *o = mp_obj_cstr(s, &err);
	CU_ASSERT_PTR_NOT_NULL(o);
	return o;
}

static mp_obj_t *T2(mp_obj_t *a, mp_obj_t *b)
{
	return mp_obj_tuple(2, (mp_obj_t *[]){ a, b });
}

static mp_obj_t *L(size_t n, mp_obj_t *const items[])
{
	mp_obj_t *l = mp_obj_list();
	for (size_t i = 0; i < n; i++)
		MPT_OK(mp_obj_list_append(l, items[i]));
	return l;
}

/* ---- every kind, scalars ------------------------------------------------------ */

static void test_scalars(void)
{
	int64_t v = 0;
	size_t n = 99;

	CU_ASSERT_PTR_EQUAL(mp_obj_none(), mp_obj_none());
	MPT_EQ(mp_obj_kind(mp_obj_none()), MP_OBJ_NONE);
	MPT_EQ(mp_obj_kind(NULL), MP_OBJ_NONE);
	MPT_EQ(mp_obj_kind(mp_obj_bool(true)), MP_OBJ_BOOL);
	CU_ASSERT(mp_obj_bool_value(mp_obj_bool(true)));
	CU_ASSERT(!mp_obj_bool_value(mp_obj_bool(false)));
	CU_ASSERT(!mp_obj_bool_value(mp_obj_none()));
	CU_ASSERT_STRING_EQUAL(mp_obj_kind_name(MP_OBJ_INERT), "inert");
	CU_ASSERT_STRING_EQUAL(mp_obj_kind_name(MP_OBJ_FROZENSET), "frozenset");
	CU_ASSERT_STRING_EQUAL(mp_obj_kind_name((mp_obj_kind_t)99), "unknown");
	/* Immortal: references do nothing. */
	for (int i = 0; i < 3; i++)
		mp_obj_decref(mp_obj_none());
	CU_ASSERT_PTR_EQUAL(mp_obj_incref(mp_obj_bool(true)), mp_obj_bool(true));
	CU_ASSERT(mp_obj_frozen(mp_obj_none()));
	MPT_OK(mp_obj_int_value(mp_obj_bool(true), &v));
	MPT_EQ(v, 1);

	mp_obj_t *i = mp_obj_int(-5);
	MPT_EQ(mp_obj_kind(i), MP_OBJ_INT);
	CU_ASSERT(mp_obj_frozen(i));
	MPT_OK(mp_obj_int_value(i, &v));
	MPT_EQ(v, -5);
	const uint8_t *le = mp_obj_int_le(i, &n);
	MPT_EQ(n, 1);
	MPT_EQ(le[0], 0xfb);
	CU_ASSERT(mp_obj_float_value(i) == -5.0);
	MPT_EQ(mp__obj_refcnt(i), 1);
	CU_ASSERT_PTR_EQUAL(mp_obj_incref(i), i);
	MPT_EQ(mp__obj_refcnt(i), 2);
	mp_obj_decref(i);
	mp_obj_decref(i);
	mp_obj_decref(NULL);

	/* Minimal two's complement, as pickle writes it. */
	static const struct { int64_t v; size_t n; uint8_t b[9]; } les[] = {
		{ 0, 0, { 0 } }, { 1, 1, { 1 } }, { 127, 1, { 0x7f } },
		{ 128, 2, { 0x80, 0 } }, { 255, 2, { 0xff, 0 } },
		{ -1, 1, { 0xff } }, { -128, 1, { 0x80 } },
		{ -129, 2, { 0x7f, 0xff } },
		{ INT64_MIN, 8, { 0, 0, 0, 0, 0, 0, 0, 0x80 } },
		{ INT64_MAX, 8, { 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f } },
	};
	for (size_t k = 0; k < sizeof(les) / sizeof(les[0]); k++) {
		i = mp_obj_int(les[k].v);
		le = mp_obj_int_le(i, &n);
		MPT_EQ(n, les[k].n);
		MPT_EQ(memcmp(le, les[k].b, n), 0);
		/* and back */
		int err = 1;
		mp_obj_t *j = mp_obj_int_bytes(le, n, &err);
		MPT_EQ(err, 0);
		MPT_OK(mp_obj_int_value(j, &v));
		MPT_EQ(v, les[k].v);
		CU_ASSERT(mp_obj_equal(i, j));
		mp_obj_decref(i);
		mp_obj_decref(j);
	}

	/* uint64 beyond int64: a big int of 9 bytes. */
	i = mp_obj_uint(UINT64_MAX);
	MPT_ERR(mp_obj_int_value(i, &v), -ERANGE);
	le = mp_obj_int_le(i, &n);
	MPT_EQ(n, 9);
	MPT_EQ(le[8], 0);
	MPT_EQ(le[0], 0xff);
	CU_ASSERT(isnan(mp_obj_float_value(i)));
	MPT_REPR(i, "18446744073709551615");
	i = mp_obj_uint(5);
	MPT_OK(mp_obj_int_value(i, &v));
	MPT_EQ(v, 5);
	mp_obj_decref(i);

	/* Non-minimal input is normalised; limits. */
	int err = 0;
	uint8_t pad[12] = { 5, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0 };
	i = mp_obj_int_bytes(pad, sizeof(pad), &err);
	MPT_EQ(err, 0);
	MPT_OK(mp_obj_int_value(i, &v));
	MPT_EQ(v, 5);
	mp_obj_decref(i);
	memset(pad, 0xff, sizeof(pad));
	i = mp_obj_int_bytes(pad, sizeof(pad), &err);
	MPT_OK(mp_obj_int_value(i, &v));
	MPT_EQ(v, -1);
	mp_obj_decref(i);
	i = mp_obj_int_bytes(NULL, 0, &err);
	MPT_OK(mp_obj_int_value(i, &v));
	MPT_EQ(v, 0);
	mp_obj_decref(i);
	CU_ASSERT_PTR_NULL(mp_obj_int_bytes(pad, MP_OBJ_MAX_INT_BYTES + 1, &err));
	MPT_EQ(err, -MP_ELIMIT);
	CU_ASSERT_PTR_NULL(mp_obj_int_bytes(NULL, 3, &err));
	MPT_EQ(err, -EINVAL);

	mp_obj_t *f = mp_obj_float(2.5);
	MPT_EQ(mp_obj_kind(f), MP_OBJ_FLOAT);
	CU_ASSERT(mp_obj_float_value(f) == 2.5);
	MPT_ERR(mp_obj_int_value(f, &v), -EINVAL);
	CU_ASSERT_PTR_NULL(mp_obj_int_le(f, &n));
	MPT_ERR(mp_obj_len(f), -EINVAL);
	CU_ASSERT_PTR_NULL(mp_obj_data(f, &n));
	CU_ASSERT_PTR_NULL(mp_obj_item(f, 0));
	mp_obj_decref(f);
	MPT_ERR(mp_obj_int_value(NULL, &v), -EINVAL);
	CU_ASSERT(isnan(mp_obj_float_value(NULL)));
}

/* ---- bytes, bytearray, str ----------------------------------------------------- */

static void test_strings(void)
{
	size_t n = 0;
	int err = 1;
	mp_obj_t *b = mp_obj_bytes("a\0b", 3);
	MPT_EQ(mp_obj_kind(b), MP_OBJ_BYTES);
	MPT_EQ(mp_obj_len(b), 3);
	const char *d = mp_obj_data(b, &n);
	MPT_EQ(n, 3);
	MPT_EQ(memcmp(d, "a\0b", 4), 0); /* NUL after */
	CU_ASSERT(mp_obj_frozen(b));
	CU_ASSERT(!mp_obj_str_eq(b, "a"));

	mp_obj_t *ba = mp_obj_bytearray("a\0b", 3);
	MPT_EQ(mp_obj_kind(ba), MP_OBJ_BYTEARRAY);
	CU_ASSERT(!mp_obj_frozen(ba));
	CU_ASSERT(mp_obj_equal(b, ba)); /* b'a\0b' == bytearray(b'a\0b') */
	((char *)mp_obj_data(ba, NULL))[0] = 'z';
	CU_ASSERT(!mp_obj_equal(b, ba));
	mp_obj_decref(ba);

	mp_obj_t *s = mp_obj_str("a\0b", 3, &err);
	MPT_EQ(err, 0);
	MPT_EQ(mp_obj_kind(s), MP_OBJ_STR);
	CU_ASSERT(!mp_obj_equal(b, s)); /* str is not bytes */
	CU_ASSERT(!mp_obj_str_eq(s, "a"));
	mp_obj_decref(s);
	s = mp_obj_cstr("h\xc3\xa9llo", &err);
	MPT_EQ(mp_obj_len(s), 6); /* UTF-8 bytes */
	CU_ASSERT(mp_obj_str_eq(s, "h\xc3\xa9llo"));
	CU_ASSERT_STRING_EQUAL(mp_obj_data(s, NULL), "h\xc3\xa9llo");
	mp_obj_decref(s);
	mp_obj_decref(b);

	s = mp_obj_bytes(NULL, 0);
	MPT_EQ(mp_obj_len(s), 0);
	mp_obj_decref(s);
	s = mp_obj_str(NULL, 0, &err);
	MPT_EQ(err, 0);
	MPT_REPR(s, "''");
	CU_ASSERT_PTR_NULL(mp_obj_cstr(NULL, &err));
	MPT_EQ(err, -EINVAL);

	/* Valid: every length, the edges, lone surrogates (surrogatepass). */
	static const char *const good[] = {
		"\x7f", "\xc2\x80", "\xdf\xbf", "\xe0\xa0\x80", "\xef\xbf\xbf",
		"\xed\xa0\x80", "\xed\xbf\xbf", "\xed\xb2\x80x",
		"\xf0\x90\x80\x80", "\xf4\x8f\xbf\xbf", "abcdefghijklmnop\xc3\xa9",
	};
	for (size_t k = 0; k < sizeof(good) / sizeof(good[0]); k++) {
		s = mp_obj_cstr(good[k], &err);
		CU_ASSERT_PTR_NOT_NULL(s);
		MPT_EQ(err, 0);
		mp_obj_decref(s);
	}
	/* Invalid: overlong, stray continuation, C0/C1, F5+, > U+10FFFF,
	 * truncated, a bad continuation. */
	static const char *const bad[] = {
		"\x80", "\xbf", "\xc0\x80", "\xc1\xbf", "\xe0\x80\x80",
		"\xe0\x9f\xbf", "\xf0\x80\x80\x80", "\xf0\x8f\xbf\xbf",
		"\xf4\x90\x80\x80", "\xf5\x80\x80\x80", "\xff", "\xfe",
		"\xc3", "\xe2\x82", "\xf0\x9f\x98", "\xc3(", "\xe2(\xa1",
		"abcdefgh\x80", "\xe2\x82\xac\xf0\x9f\x98\x80\x80",
	};
	for (size_t k = 0; k < sizeof(bad) / sizeof(bad[0]); k++) {
		err = 0;
		s = mp_obj_cstr(bad[k], &err);
		CU_ASSERT_PTR_NULL(s);
		MPT_EQ(err, -EILSEQ);
	}
}

/* ---- tuple, list ---------------------------------------------------------------- */

static void test_sequences(void)
{
	mp_obj_t *t = mp_obj_tuple(2, (mp_obj_t *[]){ mp_obj_int(1), S("x") });
	MPT_EQ(mp_obj_kind(t), MP_OBJ_TUPLE);
	MPT_EQ(mp_obj_len(t), 2);
	CU_ASSERT(mp_obj_str_eq(mp_obj_item(t, 1), "x"));
	CU_ASSERT_PTR_NULL(mp_obj_item(t, 2));
	CU_ASSERT(mp_obj_frozen(t));
	mp_obj_decref(t);

	t = mp_obj_tuple(0, NULL);
	MPT_EQ(mp_obj_len(t), 0);
	MPT_REPR(t, "()");

	/* A NULL among the items: NULL, the others released (leak check). */
	CU_ASSERT_PTR_NULL(mp_obj_tuple(3, (mp_obj_t *[]){ mp_obj_int(1), NULL,
	                                                   S("y") }));

	mp_obj_t *l = mp_obj_list();
	MPT_EQ(mp_obj_kind(l), MP_OBJ_LIST);
	CU_ASSERT(!mp_obj_frozen(l));
	for (int i = 0; i < 100; i++)
		MPT_OK(mp_obj_list_append(l, mp_obj_int(i)));
	MPT_EQ(mp_obj_len(l), 100);
	int64_t v;
	MPT_OK(mp_obj_int_value(mp_obj_item(l, 42), &v));
	MPT_EQ(v, 42);
	CU_ASSERT_PTR_NULL(mp_obj_item(l, 100));
	MPT_ERR(mp_obj_list_append(l, NULL), -ENOMEM);
	MPT_ERR(mp_obj_list_append(NULL, mp_obj_int(1)), -EINVAL);
	MPT_ERR(mp_obj_list_append(mp_obj_none(), mp_obj_int(1)), -EINVAL);
	mp_obj_t *tt = mp_obj_tuple(0, NULL);
	MPT_ERR(mp_obj_list_append(tt, mp_obj_int(1)), -EINVAL);
	mp_obj_decref(tt);
	/* Into itself: refused, it would be a cycle. */
	MPT_ERR(mp_obj_list_append(l, mp_obj_incref(l)), -EPERM);
	MPT_EQ(mp__obj_refcnt(l), 1);
	CU_ASSERT(!mp_obj_frozen(l));
	mp_obj_decref(l);

	/* Equality: a list never equals a tuple; elementwise, numeric. */
	mp_obj_t *a = L(2, (mp_obj_t *[]){ mp_obj_int(1), mp_obj_float(2.0) });
	mp_obj_t *b = L(2, (mp_obj_t *[]){ mp_obj_bool(true), mp_obj_int(2) });
	mp_obj_t *c = T2(mp_obj_int(1), mp_obj_int(2));
	CU_ASSERT(mp_obj_equal(a, b));
	CU_ASSERT(!mp_obj_equal(a, c));
	CU_ASSERT(!mp_obj_equal(a, NULL));
	CU_ASSERT(mp_obj_equal(NULL, NULL));
	MPT_OK(mp_obj_list_append(b, mp_obj_none()));
	CU_ASSERT(!mp_obj_equal(a, b));
	mp_obj_decref(a);
	mp_obj_decref(b);
	mp_obj_decref(c);
}

/* ---- references and freezing ---------------------------------------------------- */

static void test_freeze(void)
{
	mp_obj_t *inner = mp_obj_list();
	MPT_OK(mp_obj_list_append(inner, mp_obj_int(1)));
	mp_obj_t *outer = mp_obj_list();
	/* Shared: two references, one given to the outer list. */
	MPT_OK(mp_obj_list_append(outer, mp_obj_incref(inner)));
	MPT_EQ(mp__obj_refcnt(inner), 2);
	CU_ASSERT(mp_obj_frozen(inner));
	CU_ASSERT(!mp_obj_frozen(outer));
	MPT_ERR(mp_obj_list_append(inner, mp_obj_int(2)), -EPERM);
	MPT_EQ(mp_obj_len(inner), 1);
	/* The same node twice. */
	MPT_OK(mp_obj_list_append(outer, mp_obj_incref(inner)));
	MPT_EQ(mp__obj_refcnt(inner), 3);
	mp_obj_t *d = mp_obj_dict();
	MPT_OK(mp_obj_dict_set(d, S("k"), outer));
	CU_ASSERT(mp_obj_frozen(outer));
	MPT_ERR(mp_obj_list_append(outer, mp_obj_int(3)), -EPERM);
	MPT_REPR(mp_obj_incref(d), "{'k': [[1], [1]]}");
	mp_obj_decref(d);
	MPT_EQ(mp__obj_refcnt(inner), 1);
	mp_obj_decref(inner);

	/* A frozen dict and set refuse more. */
	d = mp_obj_dict();
	mp_obj_t *s = mp_obj_set(false);
	mp_obj_t *fs = mp_obj_set(true);
	CU_ASSERT(!mp_obj_frozen(fs)); /* filled until put somewhere */
	MPT_OK(mp_obj_set_add(fs, mp_obj_int(1)));
	mp_obj_t *t = mp_obj_tuple(3, (mp_obj_t *[]){ mp_obj_incref(d),
	                           mp_obj_incref(s), mp_obj_incref(fs) });
	CU_ASSERT(mp_obj_frozen(d) && mp_obj_frozen(s) && mp_obj_frozen(fs));
	MPT_ERR(mp_obj_dict_set(d, S("a"), mp_obj_none()), -EPERM);
	MPT_ERR(mp_obj_set_add(s, mp_obj_int(1)), -EPERM);
	MPT_ERR(mp_obj_set_add(fs, mp_obj_int(2)), -EPERM);
	MPT_REPR(t, "({}, set(), frozenset({1}))");
	mp_obj_decref(d);
	mp_obj_decref(s);
	mp_obj_decref(fs);

	/* A dict or set into itself. */
	d = mp_obj_dict();
	MPT_ERR(mp_obj_dict_set(d, S("a"), mp_obj_incref(d)), -EPERM);
	MPT_ERR(mp_obj_dict_set(d, mp_obj_incref(d), mp_obj_none()), -EPERM);
	MPT_EQ(mp__obj_refcnt(d), 1);
	MPT_EQ(mp_obj_len(d), 0);
	mp_obj_decref(d);
	fs = mp_obj_set(true);
	MPT_ERR(mp_obj_set_add(fs, mp_obj_incref(fs)), -EPERM);
	mp_obj_decref(fs);
}

/* ---- dict, set ------------------------------------------------------------------- */

static void test_dict(void)
{
	mp_obj_t *d = mp_obj_dict();
	MPT_EQ(mp_obj_kind(d), MP_OBJ_DICT);
	MPT_OK(mp_obj_dict_set(d, mp_obj_int(1), S("int")));
	/* 1 == 1.0 == True: one key, the first key object stays. */
	MPT_OK(mp_obj_dict_set(d, mp_obj_float(1.0), S("float")));
	MPT_OK(mp_obj_dict_set(d, mp_obj_bool(true), S("bool")));
	MPT_EQ(mp_obj_len(d), 1);
	mp_obj_t *k = NULL, *v = NULL;
	MPT_OK(mp_obj_dict_entry(d, 0, &k, &v));
	MPT_EQ(mp_obj_kind(k), MP_OBJ_INT);
	CU_ASSERT(mp_obj_str_eq(v, "bool"));
	MPT_ERR(mp_obj_dict_entry(d, 1, &k, &v), -ERANGE);
	MPT_ERR(mp_obj_dict_entry(NULL, 0, &k, &v), -EINVAL);
	/* str and bytes are distinct keys */
	MPT_OK(mp_obj_dict_set(d, S("a"), mp_obj_int(1)));
	MPT_OK(mp_obj_dict_set(d, mp_obj_bytes("a", 1), mp_obj_int(2)));
	MPT_EQ(mp_obj_len(d), 3);
	mp_obj_t *key = mp_obj_bytes("a", 1);
	int64_t x;
	MPT_OK(mp_obj_int_value(mp_obj_dict_get(d, key), &x));
	MPT_EQ(x, 2);
	mp_obj_decref(key);
	MPT_OK(mp_obj_int_value(mp_obj_dict_get_str(d, "a"), &x));
	MPT_EQ(x, 1);
	CU_ASSERT_PTR_NULL(mp_obj_dict_get_str(d, "b"));
	CU_ASSERT_PTR_NULL(mp_obj_dict_get_str(NULL, "a"));
	key = mp_obj_float(1.0);
	CU_ASSERT(mp_obj_str_eq(mp_obj_dict_get(d, key), "bool"));
	mp_obj_decref(key);
	/* Unhashable keys: list, dict, set, bytearray, a tuple holding one. */
	MPT_ERR(mp_obj_dict_set(d, mp_obj_list(), mp_obj_none()), -EINVAL);
	MPT_ERR(mp_obj_dict_set(d, mp_obj_dict(), mp_obj_none()), -EINVAL);
	MPT_ERR(mp_obj_dict_set(d, mp_obj_set(false), mp_obj_none()), -EINVAL);
	MPT_ERR(mp_obj_dict_set(d, mp_obj_bytearray("a", 1), mp_obj_none()),
	        -EINVAL);
	MPT_ERR(mp_obj_dict_set(d, T2(mp_obj_int(1), T2(mp_obj_int(2),
	                                                mp_obj_list())),
	                        mp_obj_none()), -EINVAL);
	MPT_ERR(mp_obj_dict_set(d, NULL, mp_obj_none()), -ENOMEM);
	MPT_ERR(mp_obj_dict_set(d, mp_obj_int(5), NULL), -ENOMEM);
	MPT_ERR(mp_obj_dict_set(NULL, mp_obj_int(5), mp_obj_none()), -EINVAL);
	mp_obj_t *lst = mp_obj_list();
	MPT_ERR(mp_obj_dict_set(lst, mp_obj_int(5), mp_obj_none()), -EINVAL);
	CU_ASSERT_PTR_NULL(mp_obj_dict_get(d, lst));
	mp_obj_decref(lst);
	/* Hashable: None, tuples of hashables, frozensets, exceptions. */
	MPT_OK(mp_obj_dict_set(d, mp_obj_none(), mp_obj_int(0)));
	MPT_OK(mp_obj_dict_set(d, T2(mp_obj_int(1), S("x")), mp_obj_int(0)));
	MPT_OK(mp_obj_dict_set(d, mp_obj_set(true), mp_obj_int(0)));
	MPT_EQ(mp_obj_len(d), 6);
	MPT_REPR(d, "{1: 'bool', 'a': 1, b'a': 2, None: 0, (1, 'x'): 0, "
	            "frozenset(): 0}");
}

static void test_set(void)
{
	mp_obj_t *s = mp_obj_set(false);
	MPT_EQ(mp_obj_kind(s), MP_OBJ_SET);
	MPT_OK(mp_obj_set_add(s, mp_obj_int(3)));
	MPT_OK(mp_obj_set_add(s, mp_obj_float(3.0)));
	MPT_OK(mp_obj_set_add(s, S("b")));
	MPT_EQ(mp_obj_len(s), 2);
	MPT_EQ(mp_obj_kind(mp_obj_set_item(s, 0)), MP_OBJ_INT);
	CU_ASSERT_PTR_NULL(mp_obj_set_item(s, 2));
	mp_obj_t *k = mp_obj_bool(true);
	CU_ASSERT(!mp_obj_set_contains(s, k));
	k = mp_obj_float(3.0);
	CU_ASSERT(mp_obj_set_contains(s, k));
	mp_obj_decref(k);
	MPT_ERR(mp_obj_set_add(s, mp_obj_list()), -EINVAL);
	MPT_ERR(mp_obj_set_add(s, NULL), -ENOMEM);
	MPT_ERR(mp_obj_set_add(mp_obj_none(), mp_obj_int(1)), -EINVAL);

	/* set == frozenset with the same elements, in any order */
	mp_obj_t *f = mp_obj_set(true);
	MPT_OK(mp_obj_set_add(f, S("b")));
	MPT_OK(mp_obj_set_add(f, mp_obj_bool(false)));
	CU_ASSERT(!mp_obj_equal(s, f));
	MPT_OK(mp_obj_set_add(s, mp_obj_float(0.0)));
	MPT_OK(mp_obj_set_add(f, mp_obj_int(3)));
	CU_ASSERT(mp_obj_equal(s, f));
	CU_ASSERT(mp_obj_equal(f, s));
	MPT_REPR(s, "{3, 'b', 0.0}");
	MPT_REPR(f, "frozenset({'b', False, 3})");
}

/* ---- numbers across kinds: equality and hashes ------------------------------- */

/* An int from decimal digits (an optional '-'), through its bytes. */
static mp_obj_t *dec(const char *s)
{
	bool neg = *s == '-';
	s += neg;
	size_t cap = strlen(s) / 2 + 8, n = 1;
	uint8_t *b = calloc(cap, 1);
	for (; *s; s++) { /* b = b * 10 + digit, unsigned */
		unsigned carry = (unsigned)(*s - '0');
		for (size_t k = 0; k < n; k++) {
			unsigned v = b[k] * 10u + carry;
			b[k] = (uint8_t)v;
			carry = v >> 8;
		}
		if (carry)
			b[n++] = (uint8_t)carry;
	}
	n++; /* a zero sign byte */
	if (neg) {
		unsigned carry = 1;
		for (size_t k = 0; k < n; k++) {
			unsigned v = (uint8_t)~b[k] + carry;
			b[k] = (uint8_t)v;
			carry = v >> 8;
		}
	}
	int err = 1;
	mp_obj_t *o = mp_obj_int_bytes(b, n, &err);
	MPT_EQ(err, 0);
	free(b);
	return o;
}

static int64_t hash_of(mp_obj_t *o)
{
	uint64_t h = 0;
	MPT_OK(mp__obj_hash(o, &h));
	mp_obj_decref(o);
	return (int64_t)h;
}

static void test_numbers(void)
{
	/* hash() of CPython (3.11-3.13, 64-bit). */
	static const struct { const char *v; int64_t h; } ih[] = {
		{ "0", 0 }, { "1", 1 }, { "-1", -2 }, { "-2", -2 },
		{ "2305843009213693951", 0 }, { "2305843009213693952", 1 },
		{ "-2305843009213693952", -2 }, { "9223372036854775807", 3 },
		{ "-9223372036854775808", -4 }, { "9223372036854775808", 4 },
		{ "18446744073709551615", 7 },
		{ "1180591620717411303424", 512 },
		{ "-1180591620717411303424", -512 },
		{ "1606938044258990275541962092341162602522202993782792835313721",
		  143417 },
		{ "-1606938044258990275541962092341162602522202993782792835313721",
		  -143417 },
		{ "1000000000000000000000000000000", 465258685558744706 },
	};
	for (size_t k = 0; k < sizeof(ih) / sizeof(ih[0]); k++) {
		int64_t h = hash_of(dec(ih[k].v));
		if (h != ih[k].h)
			fprintf(stderr, "hash(%s) = %lld\n", ih[k].v, (long long)h);
		MPT_EQ(h, ih[k].h);
	}
	static const struct { double v; int64_t h; } fh[] = {
		{ 0.5, 1152921504606846976 }, { 1.5, 1152921504606846977 },
		{ -2.5, -1152921504606846978 }, { 1e300, 1224995262755759164 },
		{ -1e-300, -482449582752280463 }, { 0x1p70, 512 },
		{ -0x1p70, -512 }, { 5e-324, 16777216 },
		{ 1.7976931348623157e308, 2234066890152476671 },
		{ INFINITY, 314159 }, { -INFINITY, -314159 }, { -1.0, -2 },
		{ 0.1, 230584300921369408 }, { -0.0, 0 },
	};
	for (size_t k = 0; k < sizeof(fh) / sizeof(fh[0]); k++)
		MPT_EQ(hash_of(mp_obj_float(fh[k].v)), fh[k].h);
	MPT_EQ(hash_of(mp_obj_bool(true)), 1);
	MPT_EQ(hash_of(mp_obj_int(-1)), -2);
	MPT_EQ(hash_of(mp_obj_int(INT64_MIN)), -4);

	/* 2**70 == 2.0**70, one dict key; 2**70 + 1 is not 2.0**70. */
	mp_obj_t *big = dec("1180591620717411303424");
	mp_obj_t *fbig = mp_obj_float(0x1p70);
	mp_obj_t *big1 = dec("1180591620717411303425");
	mp_obj_t *nbig = dec("-1180591620717411303424");
	mp_obj_t *nf = mp_obj_float(-0x1p70);
	CU_ASSERT(mp_obj_equal(big, fbig));
	CU_ASSERT(mp_obj_equal(fbig, big));
	CU_ASSERT(!mp_obj_equal(big1, fbig));
	CU_ASSERT(!mp_obj_equal(nbig, fbig));
	CU_ASSERT(mp_obj_equal(nbig, nf));
	mp_obj_t *d = mp_obj_dict();
	MPT_OK(mp_obj_dict_set(d, fbig, mp_obj_int(1)));
	MPT_OK(mp_obj_dict_set(d, big, mp_obj_int(2)));
	MPT_OK(mp_obj_dict_set(d, big1, mp_obj_int(3)));
	MPT_OK(mp_obj_dict_set(d, nbig, mp_obj_int(4)));
	MPT_OK(mp_obj_dict_set(d, nf, mp_obj_int(5)));
	MPT_EQ(mp_obj_len(d), 3);
	MPT_REPR(d, "{1.1805916207174113e+21: 2, 1180591620717411303425: 3, "
	            "-1180591620717411303424: 5}");

	/* Edges around 2**63, small against big and float. */
	mp_obj_t *a = mp_obj_int(INT64_MIN), *f = mp_obj_float(-0x1p63);
	CU_ASSERT(mp_obj_equal(a, f));
	mp_obj_decref(a);
	a = mp_obj_uint((uint64_t)1 << 63);
	mp_obj_t *f2 = mp_obj_float(0x1p63);
	CU_ASSERT(mp_obj_equal(a, f2));
	CU_ASSERT(!mp_obj_equal(a, f));
	mp_obj_t *i = mp_obj_int(INT64_MAX);
	CU_ASSERT(!mp_obj_equal(i, f2)); /* 2**63 - 1 != 2.0**63 */
	CU_ASSERT(!mp_obj_equal(i, a));
	mp_obj_decref(i);
	i = mp_obj_int(3);
	mp_obj_t *f3 = mp_obj_float(3.5);
	CU_ASSERT(!mp_obj_equal(i, f3));
	mp_obj_decref(f3);
	f3 = mp_obj_float(3.0);
	CU_ASSERT(mp_obj_equal(i, f3));
	mp_obj_decref(f3);
	f3 = mp_obj_float(INFINITY);
	CU_ASSERT(!mp_obj_equal(a, f3));
	CU_ASSERT(!mp_obj_equal(i, f3));
	mp_obj_decref(f3);
	mp_obj_decref(i);
	mp_obj_decref(a);
	mp_obj_decref(f);
	mp_obj_decref(f2);

	/* NaN equals only itself: two NaN keys are two keys. */
	mp_obj_t *nan1 = mp_obj_float(NAN), *nan2 = mp_obj_float(NAN);
	CU_ASSERT(mp_obj_equal(nan1, nan1));
	CU_ASSERT(!mp_obj_equal(nan1, nan2));
	mp_obj_t *s = mp_obj_set(false);
	MPT_OK(mp_obj_set_add(s, mp_obj_incref(nan1)));
	MPT_OK(mp_obj_set_add(s, mp_obj_incref(nan1)));
	MPT_OK(mp_obj_set_add(s, nan2));
	MPT_EQ(mp_obj_len(s), 2);
	CU_ASSERT(mp_obj_set_contains(s, nan1));
	mp_obj_decref(nan1);
	MPT_REPR(s, "{nan, nan}");

	/* Keys that tuples and frozensets make equal. */
	d = mp_obj_dict();
	MPT_OK(mp_obj_dict_set(d, T2(mp_obj_int(1), mp_obj_float(2.0)),
	                       mp_obj_int(1)));
	MPT_OK(mp_obj_dict_set(d, T2(mp_obj_bool(true), mp_obj_int(2)),
	                       mp_obj_int(2)));
	mp_obj_t *fs1 = mp_obj_set(true), *fs2 = mp_obj_set(true);
	MPT_OK(mp_obj_set_add(fs1, S("a")));
	MPT_OK(mp_obj_set_add(fs1, mp_obj_int(0)));
	MPT_OK(mp_obj_set_add(fs2, mp_obj_bool(false)));
	MPT_OK(mp_obj_set_add(fs2, S("a")));
	MPT_OK(mp_obj_dict_set(d, fs1, mp_obj_int(3)));
	MPT_OK(mp_obj_dict_set(d, fs2, mp_obj_int(4)));
	MPT_REPR(d, "{(1, 2.0): 2, frozenset({'a', 0}): 4}");
}

/* ---- repr ----------------------------------------------------------------------- */

static void test_repr(void)
{
	static const double fl[] = {
		0.0, -0.0, 1.0, -1.5, 0.1, 1.0 / 3, 1e16, 1e15,
		123456789012345678.0, 1234567890123456.0, 0.0001, 0.00001,
		1e-05 * 1.5, 5e-324, 1.7976931348623157e308, 0x1p70, INFINITY,
		-INFINITY, NAN, 1e22, 100.0, 0.30000000000000004,
		9007199254740993.0, 2.5e-7, 1.1e100,
	};
	mp_obj_t *l = mp_obj_list();
	for (size_t k = 0; k < sizeof(fl) / sizeof(fl[0]); k++)
		MPT_OK(mp_obj_list_append(l, mp_obj_float(fl[k])));
	MPT_REPR(l, "[0.0, -0.0, 1.0, -1.5, 0.1, 0.3333333333333333, 1e+16, "
	            "1000000000000000.0, 1.2345678901234568e+17, "
	            "1234567890123456.0, 0.0001, 1e-05, 1.5000000000000002e-05, "
	            "5e-324, 1.7976931348623157e+308, 1.1805916207174113e+21, "
	            "inf, -inf, nan, 1e+22, 100.0, 0.30000000000000004, "
	            "9007199254740992.0, 2.5e-07, 1.1e+100]");

	/* Powers of two, whose gap below is half the gap above: the shortest
	 * digits are not always the correctly rounded ones. */
	static const struct { uint64_t bits; const char *r; } p2[] = {
		{ 0x0060000000000000, "7.120236347223045e-307" },
		{ 0x0100000000000000, "7.291122019556398e-304" },
		{ 0x8420000000000000, "-8.209073602596753e-289" },
		{ 0x13e0000000000000, "5.940911144672375e-213" },
		{ 0x0000000000000001, "5e-324" },
		{ 0x7fefffffffffffff, "1.7976931348623157e+308" },
		{ 0x0010000000000000, "2.2250738585072014e-308" },
	};
	for (size_t k = 0; k < sizeof(p2) / sizeof(p2[0]); k++) {
		double x;
		memcpy(&x, &p2[k].bits, 8);
		MPT_REPR(mp_obj_float(x), p2[k].r);
	}

	static const char *const strs[] = {
		"it's", "say \"hi\"", "both ' \"", "tab\tnl\nret\r\\",
		"\x00\x1f\x7f\xc2\x80\xc2\x9f\xc2\xa0\xc2\xad\xc3\xa9",
		"\xcd\xb8\xe2\x80\xa8\xe3\x80\x80\xef\xbb\xbf\xe2\x82\xac",
		"\xed\xa0\x80\xed\xbf\xbf",
		"\xf0\x9f\x98\x80\xf3\xa0\x80\x81\xf4\x8f\xbf\xbf\xf3\xb0\x80\x80",
		"zwj\xe2\x80\x8d",
	};
	static const size_t lens[] = { 4, 8, 8, 12, 13, 14, 6, 16, 6 };
	l = mp_obj_list();
	for (size_t k = 0; k < sizeof(strs) / sizeof(strs[0]); k++) {
		int err;
		MPT_OK(mp_obj_list_append(l, mp_obj_str(strs[k], lens[k], &err)));
	}
	MPT_REPR(l, "[\"it's\", 'say \"hi\"', 'both \\' \"', "
	            "'tab\\tnl\\nret\\r\\\\', "
	            "'\\x00\\x1f\\x7f\\x80\\x9f\\xa0\\xad\xc3\xa9', "
	            "'\\u0378\\u2028\\u3000\\ufeff\xe2\x82\xac', "
	            "'\\ud800\\udfff', "
	            "'\xf0\x9f\x98\x80\\U000e0001\\U0010ffff\\U000f0000', "
	            "'zwj\\u200d']");

	l = mp_obj_list();
	MPT_OK(mp_obj_list_append(l, mp_obj_bytes("it's", 4)));
	MPT_OK(mp_obj_list_append(l, mp_obj_bytes("\x00\x7f\x80\xff\t\n\r\\",
	                                          8)));
	MPT_OK(mp_obj_list_append(l, mp_obj_bytes("both ' \"", 8)));
	MPT_OK(mp_obj_list_append(l, mp_obj_bytearray("ab'", 3)));
	MPT_OK(mp_obj_list_append(l, mp_obj_bytearray(NULL, 0)));
	MPT_REPR(l, "[b\"it's\", b'\\x00\\x7f\\x80\\xff\\t\\n\\r\\\\', "
	            "b'both \\' \"', bytearray(b\"ab\\'\"), bytearray(b'')]");

	int err;
	mp_obj_t *d = mp_obj_dict();
	MPT_OK(mp_obj_dict_set(d, S("a"), L(3, (mp_obj_t *[]){ mp_obj_int(1),
	                       mp_obj_float(2.5), mp_obj_none() })));
	mp_obj_t *inner = mp_obj_dict(), *fs = mp_obj_set(true);
	MPT_OK(mp_obj_set_add(fs, mp_obj_bool(true)));
	MPT_OK(mp_obj_dict_set(inner, mp_obj_bytes("k", 1), fs));
	MPT_OK(mp_obj_dict_set(d, T2(mp_obj_int(1), S("x")), inner));
	MPT_REPR(d, "{'a': [1, 2.5, None], (1, 'x'): {b'k': frozenset({True})}}");

	l = mp_obj_list();
	MPT_OK(mp_obj_list_append(l, mp_obj_exc("builtins.KeyError",
	       mp_obj_tuple(1, (mp_obj_t *[]){ S("k") }), &err)));
	MPT_OK(mp_obj_list_append(l, mp_obj_exc("builtins.ValueError", NULL,
	                                        &err)));
	MPT_OK(mp_obj_list_append(l, mp_obj_exc("builtins.OSError",
	       T2(mp_obj_int(2), S("x")), &err)));
	MPT_OK(mp_obj_list_append(l, mp_obj_tuple(1, (mp_obj_t *[]){
	       mp_obj_int(1) })));
	MPT_OK(mp_obj_list_append(l, mp_obj_dict()));
	MPT_OK(mp_obj_list_append(l, mp_obj_set(false)));
	MPT_OK(mp_obj_list_append(l, mp_obj_set(true)));
	MPT_OK(mp_obj_list_append(l, mp_obj_tuple(0, NULL)));
	MPT_OK(mp_obj_list_append(l, L(2, (mp_obj_t *[]){ mp_obj_list(),
	                                                 mp_obj_tuple(0, NULL) })));
	MPT_REPR(l, "[KeyError('k'), ValueError(), OSError(2, 'x'), (1,), {}, "
	            "set(), frozenset(), (), [[], ()]]");

	/* ints: decimal up to 4300 digits, hex beyond (Python refuses). */
	l = mp_obj_list();
	MPT_OK(mp_obj_list_append(l, dec("1000000000000000000000000000000")));
	MPT_OK(mp_obj_list_append(l, dec("-160693804425899027554196209234116"
	                                 "2602522202993782792835313721")));
	MPT_OK(mp_obj_list_append(l, mp_obj_uint((uint64_t)1 << 63)));
	MPT_OK(mp_obj_list_append(l, dec("-9223372036854775809")));
	MPT_OK(mp_obj_list_append(l, mp_obj_int(INT64_MIN)));
	MPT_OK(mp_obj_list_append(l, mp_obj_int(0)));
	MPT_REPR(l, "[1000000000000000000000000000000, "
	            "-1606938044258990275541962092341162602522202993782792835313721, "
	            "9223372036854775808, -9223372036854775809, "
	            "-9223372036854775808, 0]");
	char *digits = malloc(4302);
	memset(digits, '0', 4301);
	digits[0] = '9';
	digits[4299] = '7';
	digits[4300] = 0; /* 4300 digits: 9...07 */
	mp_obj_t *o = dec(digits);
	char *r = mp_obj_repr(o, &err);
	CU_ASSERT_STRING_EQUAL(r, digits);
	free(r);
	mp_obj_decref(o);
	digits[0] = '1';
	digits[4299] = '0';
	digits[4300] = '0';
	digits[4301] = 0; /* 10**4300 */
	o = dec(digits);
	r = mp_obj_repr(o, &err);
	MPT_EQ(strlen(r), 3574);
	CU_ASSERT_NSTRING_EQUAL(r, "0x1392bd7c2a1aa84a72e2056d3b17", 30);
	CU_ASSERT_STRING_EQUAL(r + 3564, "0000000000");
	free(r);
	mp_obj_decref(o);
	char *neg = malloc(4303);
	neg[0] = '-';
	strcpy(neg + 1, digits); /* -(10**4300) */
	o = dec(neg);
	free(neg);
	r = mp_obj_repr(o, &err);
	CU_ASSERT_NSTRING_EQUAL(r, "-0x1392bd7c2a1aa84a72e2056d3b1", 30);
	free(r);
	mp_obj_decref(o);
	free(digits);

	/* Scalars alone, and NULL. */
	MPT_REPR(mp_obj_none(), "None");
	MPT_REPR(mp_obj_bool(false), "False");
	MPT_REPR(mp_obj_int(-42), "-42");
	MPT_REPR(NULL, "NULL");
}

/* ---- exceptions and inert nodes -------------------------------------------------- */

static void test_exc_inert(void)
{
	int err = 1;
	mp_obj_t *e = mp_obj_exc("queue.Empty", NULL, &err);
	MPT_EQ(err, 0);
	MPT_EQ(mp_obj_kind(e), MP_OBJ_EXC);
	CU_ASSERT_STRING_EQUAL(mp_obj_exc_type(e), "queue.Empty");
	MPT_EQ(mp_obj_len(e), 0);
	MPT_EQ(mp_obj_kind(mp_obj_exc_args(e)), MP_OBJ_TUPLE);
	CU_ASSERT(mp_obj_frozen(e));
	mp_obj_t *e2 = mp_obj_exc("queue.Empty", mp_obj_tuple(0, NULL), &err);
	CU_ASSERT(mp_obj_equal(e, e2));
	mp_obj_t *e3 = mp_obj_exc("_queue.Empty", NULL, &err);
	CU_ASSERT(!mp_obj_equal(e, e3));
	mp_obj_t *d = mp_obj_dict(); /* hashable, by contents */
	MPT_OK(mp_obj_dict_set(d, e, mp_obj_int(1)));
	MPT_OK(mp_obj_dict_set(d, e2, mp_obj_int(2)));
	MPT_OK(mp_obj_dict_set(d, e3, mp_obj_int(3)));
	MPT_REPR(d, "{Empty(): 2, Empty(): 3}");
	e = mp_obj_exc("multiprocessing.context.TimeoutError",
	               mp_obj_tuple(1, (mp_obj_t *[]){ mp_obj_list() }), &err);
	CU_ASSERT(mp_obj_frozen(mp_obj_item(mp_obj_exc_args(e), 0)));
	MPT_REPR(e, "TimeoutError([])");

	static const char *const badtypes[] = {
		"KeyError", "", ".a", "a.", "a..b", "1a.b", "a.b-c", "a.b c",
		"a.b\n", "a.\xff",
	};
	for (size_t k = 0; k < sizeof(badtypes) / sizeof(badtypes[0]); k++) {
		err = 0;
		CU_ASSERT_PTR_NULL(mp_obj_exc(badtypes[k], mp_obj_tuple(0, NULL),
		                              &err));
		MPT_EQ(err, -EINVAL);
	}
	CU_ASSERT_PTR_NULL(mp_obj_exc(NULL, NULL, &err));
	MPT_EQ(err, -EINVAL);
	CU_ASSERT_PTR_NULL(mp_obj_exc("a.b", mp_obj_list(), &err));
	MPT_EQ(err, -EINVAL);
	e = mp_obj_exc("a.b_1.C\xc3\xa9", NULL, &err);
	CU_ASSERT_PTR_NOT_NULL(e);
	mp_obj_decref(e);
	CU_ASSERT_PTR_NULL(mp_obj_exc_type(mp_obj_none()));
	CU_ASSERT_PTR_NULL(mp_obj_exc_args(NULL));

	/* A bare global, and calls of it. */
	mp_obj_t *g = mp_obj_global("os", "system", &err);
	MPT_EQ(err, 0);
	MPT_EQ(mp_obj_kind(g), MP_OBJ_INERT);
	CU_ASSERT_STRING_EQUAL(mp_obj_inert_module(g), "os");
	CU_ASSERT_STRING_EQUAL(mp_obj_inert_name(g), "system");
	CU_ASSERT_PTR_NULL(mp_obj_inert_args(g));
	CU_ASSERT_PTR_NULL(mp_obj_inert_state(g));
	CU_ASSERT(mp_obj_frozen(g));
	MPT_REPR(mp_obj_incref(g), "<inert os.system>");
	mp_obj_t *c = mp_obj_inert(mp_obj_incref(g),
	                           mp_obj_tuple(1, (mp_obj_t *[]){ S("ls") }),
	                           false, NULL, &err);
	MPT_EQ(err, 0);
	CU_ASSERT_STRING_EQUAL(mp_obj_inert_module(c), "os");
	CU_ASSERT_STRING_EQUAL(mp_obj_inert_name(c), "system");
	MPT_EQ(mp_obj_len(mp_obj_inert_args(c)), 1);
	CU_ASSERT(!mp__obj_inert_newobj(c));
	CU_ASSERT_PTR_EQUAL(mp__obj_inert_callable(c), g);
	mp_obj_t *st = mp_obj_dict();
	MPT_OK(mp_obj_dict_set(st, S("x"), mp_obj_int(1)));
	mp_obj_t *c2 = mp_obj_inert(mp_obj_incref(g),
	                            mp_obj_tuple(1, (mp_obj_t *[]){ S("ls") }),
	                            true, st, &err);
	CU_ASSERT(mp__obj_inert_newobj(c2));
	CU_ASSERT_PTR_EQUAL(mp_obj_inert_state(c2), st);
	CU_ASSERT(mp_obj_frozen(st));
	CU_ASSERT(!mp_obj_equal(c, c2));
	mp_obj_t *c3 = mp_obj_inert(mp_obj_global("os", "system", &err),
	                            mp_obj_tuple(1, (mp_obj_t *[]){ S("ls") }),
	                            false, NULL, &err);
	CU_ASSERT(mp_obj_equal(c, c3));
	mp_obj_decref(c3);
	MPT_REPR(c, "<inert os.system('ls')>");
	MPT_REPR(c2, "<inert os.system('ls') state={'x': 1}>");
	/* Errors: the callable is not a global, args not a tuple, names. */
	CU_ASSERT_PTR_NULL(mp_obj_inert(mp_obj_int(1), mp_obj_tuple(0, NULL),
	                                false, NULL, &err));
	MPT_EQ(err, -EINVAL);
	CU_ASSERT_PTR_NULL(mp_obj_inert(mp_obj_incref(g), mp_obj_list(),
	                                false, mp_obj_int(1), &err));
	MPT_EQ(err, -EINVAL);
	c = mp_obj_inert(mp_obj_incref(g), mp_obj_tuple(0, NULL), false, NULL,
	                 &err);
	CU_ASSERT_PTR_NULL(mp_obj_inert(c, mp_obj_tuple(0, NULL), false, NULL,
	                                &err));
	MPT_EQ(err, -EINVAL);
	CU_ASSERT_PTR_NULL(mp_obj_inert(mp_obj_incref(g), NULL, false, NULL,
	                                &err));
	MPT_EQ(err, -ENOMEM);
	mp_obj_decref(g);
	CU_ASSERT_PTR_NULL(mp_obj_global("", "x", &err));
	MPT_EQ(err, -EINVAL);
	CU_ASSERT_PTR_NULL(mp_obj_global("os", "a\nb", &err));
	MPT_EQ(err, -EINVAL);
	CU_ASSERT_PTR_NULL(mp_obj_global(NULL, "x", &err));
	MPT_EQ(err, -EINVAL);
	CU_ASSERT_PTR_NULL(mp_obj_inert_module(mp_obj_none()));
	CU_ASSERT_PTR_NULL(mp_obj_inert_name(NULL));
}

/* ---- depth and size ----------------------------------------------------------------- */

static void test_depth(void)
{
	/* 4096 nested lists: the limit, reached exactly. */
	mp_obj_t *o = mp_obj_list();
	for (int d = 2; d <= MP_OBJ_MAX_DEPTH; d++) {
		mp_obj_t *l = mp_obj_list();
		int e = mp_obj_list_append(l, o);
		if (e) {
			MPT_OK(e);
			mp_obj_decref(l);
			return;
		}
		o = l;
	}
	mp_obj_t *more = mp_obj_list();
	MPT_ERR(mp_obj_list_append(more, mp_obj_incref(o)), -MP_ELIMIT);
	CU_ASSERT(!mp_obj_frozen(o)); /* a failed insertion changes nothing */
	mp_obj_t *d = mp_obj_dict();
	MPT_ERR(mp_obj_dict_set(d, S("k"), mp_obj_incref(o)), -MP_ELIMIT);
	CU_ASSERT_PTR_NULL(mp_obj_tuple(1, (mp_obj_t *[]){ mp_obj_incref(o) }));
	int err = 0;
	mp_obj_t *args = mp_obj_tuple(1, (mp_obj_t *[]){
		mp_obj_incref(mp_obj_item(o, 0)) }); /* 4096 deep */
	CU_ASSERT_PTR_NOT_NULL(args);
	CU_ASSERT_PTR_NULL(mp_obj_exc("a.B", args, &err));
	MPT_EQ(err, -MP_ELIMIT);
	MPT_EQ(mp__obj_refcnt(o), 1);
	/* A copy to compare with, as deep: equality and repr end. */
	mp_obj_t *o2 = mp_obj_list();
	for (int k = 2; k <= MP_OBJ_MAX_DEPTH; k++) {
		mp_obj_t *l = mp_obj_list();
		MPT_OK(mp_obj_list_append(l, o2));
		o2 = l;
	}
	CU_ASSERT(mp_obj_equal(o, o2));
	char *r = mp_obj_repr(o, &err);
	MPT_EQ(strlen(r), 2 * MP_OBJ_MAX_DEPTH);
	free(r);
	mp_obj_decref(o2);
	/* A deep tuple as a key: hashed; torn down without recursion. */
	mp_obj_t *t = mp_obj_int(0);
	for (int k = 1; k < MP_OBJ_MAX_DEPTH; k++)
		t = mp_obj_tuple(1, (mp_obj_t *[]){ t });
	CU_ASSERT_PTR_NOT_NULL_FATAL(t);
	MPT_OK(mp_obj_dict_set(d, t, mp_obj_none()));
	MPT_EQ(mp_obj_len(d), 1);
	mp_obj_decref(d);
	mp_obj_decref(more);
	mp_obj_decref(o);
}

static void test_big(void)
{
	enum { N = 1000000 };
	/* A million-element list, dict and set: built, searched, freed. */
	mp_obj_t *l = mp_obj_list();
	for (int i = 0; i < N; i++)
		if (mp_obj_list_append(l, mp_obj_int(i)) < 0)
			break;
	MPT_EQ(mp_obj_len(l), N);
	mp_obj_t *d = mp_obj_dict();
	for (int i = 0; i < N; i++)
		if (mp_obj_dict_set(d, mp_obj_int(i),
		                    mp_obj_incref(mp_obj_item(l, (size_t)i))) < 0)
			break;
	MPT_EQ(mp_obj_len(d), N);
	int misses = 0;
	for (int i = 0; i < N; i += 7) {
		mp_obj_t *k = mp_obj_float(i);
		if (mp_obj_dict_get(d, k) != mp_obj_item(l, (size_t)i))
			misses++;
		mp_obj_decref(k);
	}
	MPT_EQ(misses, 0);
	mp_obj_t *k = mp_obj_int(N);
	CU_ASSERT_PTR_NULL(mp_obj_dict_get(d, k));
	mp_obj_decref(k);
	mp_obj_t *key, *val;
	MPT_OK(mp_obj_dict_entry(d, N - 1, &key, &val));
	int64_t v;
	MPT_OK(mp_obj_int_value(key, &v));
	MPT_EQ(v, N - 1);

	mp_obj_t *s = mp_obj_set(false);
	char buf[32];
	int err;
	for (int i = 0; i < N; i++) {
		snprintf(buf, sizeof(buf), "k%d", i);
		if (mp_obj_set_add(s, mp_obj_cstr(buf, &err)) < 0)
			break;
	}
	MPT_EQ(mp_obj_len(s), N);
	for (int i = 0; i < N; i += 1000) {
		snprintf(buf, sizeof(buf), "k%d", i);
		k = mp_obj_cstr(buf, &err);
		if (!mp_obj_set_contains(s, k))
			misses++;
		mp_obj_decref(k);
	}
	MPT_EQ(misses, 0);
	mp_obj_t *top = mp_obj_tuple(3, (mp_obj_t *[]){ l, d, s });
	mp_obj_decref(top);

	/* Many tiny dicts (the linear, index-less size). */
	l = mp_obj_list();
	for (int i = 0; i < 100000; i++) {
		d = mp_obj_dict();
		for (int j = 0; j < 3; j++)
			MPT_OK(mp_obj_dict_set(d, mp_obj_int(j), mp_obj_int(i)));
		if (mp_obj_list_append(l, d) < 0)
			break;
	}
	MPT_EQ(mp_obj_len(l), 100000);
	mp_obj_decref(l);
}

/* Equality of dicts is Python's: order does not matter, values do. */
static void test_dict_equal(void)
{
	mp_obj_t *a = mp_obj_dict(), *b = mp_obj_dict();
	for (int i = 0; i < 20; i++) {
		MPT_OK(mp_obj_dict_set(a, mp_obj_int(i), mp_obj_int(i * i)));
		MPT_OK(mp_obj_dict_set(b, mp_obj_float(19 - i),
		                       mp_obj_float((19 - i) * (19 - i))));
	}
	CU_ASSERT(mp_obj_equal(a, b));
	MPT_OK(mp_obj_dict_set(b, mp_obj_int(3), mp_obj_int(10)));
	CU_ASSERT(!mp_obj_equal(a, b));
	MPT_OK(mp_obj_dict_set(b, mp_obj_int(3), mp_obj_int(9)));
	CU_ASSERT(mp_obj_equal(a, b));
	mp_obj_t *s = mp_obj_set(false);
	CU_ASSERT(!mp_obj_equal(a, s));
	mp_obj_decref(s);
	/* Replacement keeps the first key object and its place. */
	mp_obj_t *k0;
	MPT_OK(mp_obj_dict_entry(b, 16, &k0, NULL));
	MPT_EQ(mp_obj_kind(k0), MP_OBJ_FLOAT);
	mp_obj_decref(a);
	mp_obj_decref(b);
}

/* Insertion order, through the growth from a scan to an index, with
 * replacements and keys of every hashable kind. */
static void test_order(void)
{
	mp_obj_t *d = mp_obj_dict();
	int err;
	for (int i = 0; i < 200; i++) {
		mp_obj_t *k;
		switch (i % 4) {
		case 0: k = mp_obj_int(i); break;
		case 1: k = mp_obj_float(i + 0.5); break;
		case 2: {
			char buf[16];
			snprintf(buf, sizeof(buf), "s%d", i);
			k = mp_obj_cstr(buf, &err);
			break;
		}
		default: k = T2(mp_obj_int(i), mp_obj_bytes("b", 1));
		}
		MPT_OK(mp_obj_dict_set(d, k, mp_obj_int(i)));
		/* Replace an earlier one (an int key, by an equal float). */
		if (i % 4 == 0)
			MPT_OK(mp_obj_dict_set(d, mp_obj_float(i / 2 / 4 * 4),
			                       mp_obj_int(-i)));
	}
	MPT_EQ(mp_obj_len(d), 200);
	int wrong = 0;
	for (int i = 0; i < 200; i++) {
		mp_obj_t *k, *v;
		int64_t x = -1;
		MPT_OK(mp_obj_dict_entry(d, (size_t)i, &k, &v));
		mp_obj_int_value(v, &x);
		if (i % 4 == 0) {
			/* key object kept (an int); value the last set */
			int64_t kv = -1;
			mp_obj_int_value(k, &kv);
			int last = i;
			for (int j = 0; j < 200; j += 4)
				if (j / 2 / 4 * 4 == i)
					last = -j;
			wrong += mp_obj_kind(k) != MP_OBJ_INT || kv != i ||
			         x != last;
		} else {
			wrong += x != i;
		}
	}
	MPT_EQ(wrong, 0);
	mp_obj_t *key = T2(mp_obj_float(7), mp_obj_bytes("b", 1));
	int64_t x;
	MPT_OK(mp_obj_int_value(mp_obj_dict_get(d, key), &x));
	MPT_EQ(x, 7);
	mp_obj_decref(key);
	MPT_OK(mp_obj_int_value(mp_obj_dict_get_str(d, "s198"), &x));
	MPT_EQ(x, 198);
	mp_obj_decref(d);
}

/* Walks cost no C stack: a 4096-deep tree (lists and dicts in turn)
 * compared, written, hashed (a deep tuple) and freed in a thread whose
 * stack could not hold one frame per level. */
static mp_obj_t *deep_tree(void)
{
	mp_obj_t *o = mp_obj_int(1);
	for (int k = 1; k < MP_OBJ_MAX_DEPTH; k++) {
		mp_obj_t *c;
		if (k % 2) {
			c = mp_obj_dict();
			MPT_OK(mp_obj_dict_set(c, mp_obj_int(k), o));
		} else {
			c = mp_obj_list();
			MPT_OK(mp_obj_list_append(c, o));
		}
		o = c;
	}
	return o;
}

static mp_obj_t *deep_pair[3];

static void *walk_deep(void *arg)
{
	(void)arg;
	int err = 1;
	intptr_t bad = 0;
	bad |= !mp_obj_equal(deep_pair[0], deep_pair[1]);
	char *r = mp_obj_repr(deep_pair[0], &err);
	/* len(repr(o)) in python3, o built the same way */
	bad |= (!r || strlen(r) != 19924 ||
	        strncmp(r, "{4095: [{4093: [", 16) != 0) << 1;
	free(r);
	mp_obj_t *d = mp_obj_dict();
	bad |= (mp_obj_dict_set(d, mp_obj_incref(deep_pair[2]),
	                        mp_obj_none()) != 0) << 2;
	bad |= (mp_obj_dict_get(d, deep_pair[2]) != mp_obj_none()) << 3;
	mp_obj_decref(d);
	mp_obj_decref(deep_pair[0]);
	mp_obj_decref(deep_pair[1]);
	mp_obj_decref(deep_pair[2]);
	return (void *)bad;
}

static void test_small_stack(void)
{
	deep_pair[0] = deep_tree();
	deep_pair[1] = deep_tree();
	mp_obj_t *t = mp_obj_int(0);
	for (int k = 1; k < MP_OBJ_MAX_DEPTH; k++)
		t = mp_obj_tuple(1, (mp_obj_t *[]){ t });
	CU_ASSERT_PTR_NOT_NULL_FATAL(t);
	deep_pair[2] = t;
	pthread_attr_t a;
	pthread_t th;
	void *bad = (void *)-1;
	pthread_attr_init(&a);
	pthread_attr_setstacksize(&a, 128 * 1024);
	MPT_EQ(pthread_create(&th, &a, walk_deep, NULL), 0);
	MPT_EQ(pthread_join(th, &bad), 0);
	MPT_EQ((intptr_t)bad, 0);
	pthread_attr_destroy(&a);
}

/* Out of memory (a child under a small RLIMIT_AS): every failure is
 * -ENOMEM or NULL, nothing crashes, everything built is freed. */
static int oom_child(void *arg)
{
	(void)arg;
	struct rlimit rl = { 256u << 20, 256u << 20 };
	if (setrlimit(RLIMIT_AS, &rl))
		return 10;
	int e = 0, err = 0;
	mp_obj_t *l = mp_obj_list();
	while (!(e = mp_obj_list_append(l, mp_obj_int(7))))
		;
	if (e != -ENOMEM || !l)
		return 11;
	mp_obj_t *d = mp_obj_dict();
	for (int64_t i = 0; d && !(e = mp_obj_dict_set(d, mp_obj_int(i),
	                                               mp_obj_none())); i++)
		;
	if (e != -ENOMEM)
		return 12;
	char *r = mp_obj_repr(l, &err);
	if (r ? err != 0 : err != -ENOMEM)
		return 13;
	free(r);
	mp_obj_t *t = mp_obj_tuple(2, (mp_obj_t *[]){ l, d });
	mp_obj_decref(t); /* or, when it failed, released l and d */
	/* With the memory back, it all works again. */
	l = mp_obj_list();
	if (mp_obj_list_append(l, mp_obj_cstr("x", &err)) || mp_obj_len(l) != 1)
		return 14;
	mp_obj_decref(l);
	return 0;
}

/* AddressSanitizer, as gcc and clang say it. */
#if defined(__SANITIZE_ADDRESS__)
#define UNDER_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define UNDER_ASAN 1
#endif
#endif

static void test_oom(void)
{
#ifdef UNDER_ASAN
	MPT_SKIP("AddressSanitizer reserves more address space than the limit");
	return;
#endif
	mp_process_t *p = mpt_start(oom_child, NULL);
	MPT_EQ(mpt_finish(p), 0);
}

/* Frozen values are read and shared between threads. */
static mp_obj_t *shared_val;

static void *reader(void *arg)
{
	(void)arg;
	for (int i = 0; i < 20000; i++) {
		mp_obj_t *o = mp_obj_incref(shared_val);
		uint64_t h;
		if (mp__obj_hash(mp_obj_item(o, 0), &h) ||
		    !mp_obj_dict_get_str(mp_obj_item(o, 1), "k"))
			return (void *)1;
		mp_obj_decref(o);
	}
	return NULL;
}

static void test_threads(void)
{
	mp_obj_t *d = mp_obj_dict();
	MPT_OK(mp_obj_dict_set(d, S("k"), mp_obj_int(1)));
	shared_val = T2(T2(S("a"), mp_obj_int(1)), d);
	MPT_EQ(mpt_threads(4, reader, 0), 0);
	MPT_EQ(mp__obj_refcnt(shared_val), 1);
	mp_obj_decref(shared_val);
}


/* ---- the per-thread cache of freed nodes (lib/obj_cache.c) ------------------- */

/* A value of every kind and many node sizes. */
static mp_obj_t *every_kind(int seed)
{
	int err = 0;
	char text[64];
	static const uint8_t big[12] = { 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11 };
	mp_obj_t *d = mp_obj_dict(), *s = mp_obj_set(false);
	mp_obj_t *fs = mp_obj_set(true);
	for (int i = 0; i < 40; i++) {
		snprintf(text, sizeof(text), "key %d of %d %.*s", i, seed, i,
		         "................................................");
		mp_obj_t *l = mp_obj_list();
		for (int k = 0; k < i % 7; k++)
			mp_obj_list_append(l, mp_obj_float(k + seed));
		mp_obj_dict_set(d, mp_obj_cstr(text, &err), l);
		mp_obj_set_add(s, mp_obj_bytes(text, (size_t)i));
		mp_obj_set_add(fs, mp_obj_int(i * seed));
	}
	mp_obj_t *g = mp_obj_global("collections", "OrderedDict", &err);
	mp_obj_t *items[] = {
		d, s, fs, mp_obj_bytearray("ba", 2),
		mp_obj_int_bytes(big, sizeof(big), &err),
		mp_obj_exc("builtins.KeyError", NULL, &err),
		mp_obj_inert(mp_obj_incref(g), mp_obj_tuple(0, NULL), false,
		             NULL, &err),
		g, mp_obj_tuple(0, NULL), mp_obj_none(),
	};
	return mp_obj_tuple(sizeof(items) / sizeof(items[0]), items);
}

struct cache_run {
	mp_obj_t *v;          /* in: a value to free; out: NULL */
	size_t before, freed, remade, at_exit; /* the cache's bytes */
	bool same;            /* the value made again equals a new one */
};

/* Free a value another thread made, then make it again. */
static void *cache_thread(void *arg)
{
	struct cache_run *r = arg;
	mp_obj_t *want = every_kind(3);
	r->before = mp__obj_cache_bytes();
	mp_obj_decref(r->v);
	r->v = NULL;
	r->freed = mp__obj_cache_bytes();
	mp_obj_t *again = every_kind(3);
	r->remade = mp__obj_cache_bytes();
	r->same = mp_obj_equal(again, want);
	mp_obj_decref(want);
	mp_obj_decref(again);
	r->at_exit = mp__obj_cache_bytes();
	return NULL;
}

static void *free_million(void *arg)
{
	mp_obj_t *l = mp_obj_list();
	for (int i = 0; i < 1000000 && l; i++)
		if (mp_obj_list_append(l, mp_obj_int(i)))
			return (void *)1;
	mp_obj_decref(l);
	*(size_t *)arg = mp__obj_cache_bytes();
	return NULL;
}

/* A fork child goes on with its parent's cache, threads and all. */
static int cache_child(void *arg)
{
	(void)arg;
	mp_obj_t *want = every_kind(5);
	for (int i = 0; i < 50; i++) {
		mp_obj_t *v = every_kind(5);
		bool same = mp_obj_equal(v, want);
		mp_obj_decref(v);
		if (!same)
			return 10;
	}
	struct cache_run r = { .v = want };
	pthread_t t;
	if (pthread_create(&t, NULL, cache_thread, &r) ||
	    pthread_join(t, NULL))
		return 11;
	return r.same ? 0 : 12;
}

static void test_cache(void)
{
	/* Made here, freed and made again in another thread, which
	 * caches what it freed, reuses it, and frees it all at its exit. */
	struct cache_run r = { .v = every_kind(3) };
	uint64_t exits = mp__obj_cache_freed_at_exit();
	pthread_t t;
	MPT_EQ(pthread_create(&t, NULL, cache_thread, &r), 0);
	MPT_EQ(pthread_join(t, NULL), 0);
	CU_ASSERT(r.same);
	if (MP__OBJ_CACHE) {
		MPT_CMP(r.freed, >, r.before + 4096);
		MPT_CMP(r.remade, <, r.freed);
		MPT_CMP(r.at_exit, >=, r.freed);
		MPT_CMP(mp__obj_cache_freed_at_exit() - exits, >=, r.at_exit);
	} else {
		MPT_EQ(r.freed, 0);
	}
	/* Bounded: a million values freed leave a few hundred KiB. */
	size_t held = SIZE_MAX;
	MPT_EQ(pthread_create(&t, NULL, free_million, &held), 0);
	MPT_EQ(pthread_join(t, NULL), 0);
	MPT_CMP(held, <=, 256 * 1024);
	/* This thread's cache, full or not, serves a fork child. */
	mp_obj_decref(every_kind(5));
	mp_process_t *p = mpt_start(cache_child, NULL);
	MPT_EQ(mpt_finish(p), 0);
}

int main(void)
{
	static CU_TestInfo tests[] = {
		{ "scalars", test_scalars },
		{ "bytes, bytearray, str", test_strings },
		{ "tuple, list", test_sequences },
		{ "freezing and references", test_freeze },
		{ "dict", test_dict },
		{ "set, frozenset", test_set },
		{ "numbers across kinds", test_numbers },
		{ "dict equality", test_dict_equal },
		{ "repr", test_repr },
		{ "exceptions and inert nodes", test_exc_inert },
		{ "depth", test_depth },
		{ "a million elements", test_big },
		{ "insertion order", test_order },
		{ "4096 deep on a small stack", test_small_stack },
		{ "out of memory", test_oom },
		{ "threads", test_threads },
		{ "a cache of freed nodes per thread", test_cache },
		CU_TEST_INFO_NULL,
	};
	return mpt_main("obj", tests);
}
