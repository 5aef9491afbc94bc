/*
 * test_obj.c - values (mp_obj_t): constructors and accessors, references,
 * freezing, depth, Python's key equality and hashing, repr as CPython
 * writes it (the expected strings were produced by python3 3.11-3.13).
 */
#include "testutil.h"
#include "obj.h"

#include <math.h>

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

int main(void)
{
	static CU_TestInfo tests[] = {
		{ "scalars", test_scalars },
		{ "bytes, bytearray, str", test_strings },
		{ "tuple, list", test_sequences },
		{ "freezing and references", test_freeze },
		{ "dict", test_dict },
		{ "set, frozenset", test_set },
		CU_TEST_INFO_NULL,
	};
	return mpt_main("obj", tests);
}
