/*
 * test_pickle_dump.c - mp_pickle_dumps against CPython's pickler.
 *
 * The golden tests build values in C, dump them with protocols 2 to 5 into
 * files, and have a real CPython (3.11, 3.12, 3.13: one test each) build
 * the same objects, without sharing what it need not share (S(), B() and
 * T() make fresh str, bytes and tuples), compare pickle.dumps' bytes with
 * ours, and load ours and compare the result with the object (or run a
 * check on it: shared nodes must come back as one object).  The tests
 * without a Python check the error codes, a few pickles by their bytes,
 * and the headroom entry point.
 */
#include "pyutil.h"
#include "testutil.h"

#include <CUnit/Basic.h>
#include <stdarg.h>
#include <sys/stat.h>

#include "pickle_buf.h"
#include "pickle_write.h"

/* ---- building values ------------------------------------------------------- */

static mp_obj_t *I(int64_t v)
{
	return mp_obj_int(v);
}

static mp_obj_t *Sn(const char *s, size_t n)
{
	int e;
	mp_obj_t *o = mp_obj_str(s, n, &e);
	CU_ASSERT_PTR_NOT_NULL_FATAL(o);
	return o;
}

static mp_obj_t *S(const char *s)
{
	return Sn(s, strlen(s));
}

static mp_obj_t *Bn(const void *d, size_t n)
{
	return mp_obj_bytes(d, n);
}

static mp_obj_t *INTLE(const void *le, size_t n)
{
	int e;
	mp_obj_t *o = mp_obj_int_bytes(le, n, &e);
	CU_ASSERT_PTR_NOT_NULL_FATAL(o);
	return o;
}

static mp_obj_t *L(int n, ...)
{
	va_list ap;
	mp_obj_t *l = mp_obj_list();
	va_start(ap, n);
	for (int i = 0; i < n; i++)
		CU_ASSERT_EQUAL(mp_obj_list_append(l, va_arg(ap, mp_obj_t *)), 0);
	va_end(ap);
	return l;
}

static mp_obj_t *T(int n, ...)
{
	va_list ap;
	mp_obj_t *it[16];
	va_start(ap, n);
	for (int i = 0; i < n; i++)
		it[i] = va_arg(ap, mp_obj_t *);
	va_end(ap);
	return mp_obj_tuple((size_t)n, it);
}

static mp_obj_t *D(int n, ...)
{
	va_list ap;
	mp_obj_t *d = mp_obj_dict();
	va_start(ap, n);
	for (int i = 0; i < n; i++) {
		mp_obj_t *k = va_arg(ap, mp_obj_t *);
		CU_ASSERT_EQUAL(mp_obj_dict_set(d, k, va_arg(ap, mp_obj_t *)), 0);
	}
	va_end(ap);
	return d;
}

/* A set or frozenset of the ints [0, n) added in order (the order of
 * CPython's table for them). */
static mp_obj_t *IRANGESET(bool frozen, int64_t n)
{
	mp_obj_t *s = mp_obj_set(frozen);
	for (int64_t i = 0; i < n; i++)
		CU_ASSERT_EQUAL(mp_obj_set_add(s, I(i)), 0);
	return s;
}

static mp_obj_t *EXC(const char *type, mp_obj_t *args)
{
	int e;
	mp_obj_t *o = mp_obj_exc(type, args, &e);
	CU_ASSERT_PTR_NOT_NULL_FATAL(o);
	return o;
}

static mp_obj_t *GLOBAL(const char *m, const char *q)
{
	int e;
	mp_obj_t *o = mp_obj_global(m, q, &e);
	CU_ASSERT_PTR_NOT_NULL_FATAL(o);
	return o;
}

static mp_obj_t *CALL(mp_obj_t *g, mp_obj_t *args, bool newobj,
                      mp_obj_t *state)
{
	int e;
	mp_obj_t *o = mp_obj_inert(g, args, newobj, state, &e);
	CU_ASSERT_PTR_NOT_NULL_FATAL(o);
	return o;
}

static mp_obj_t *BIGBYTES(size_t n, int seed)
{
	uint8_t *d = malloc(n);
	CU_ASSERT_PTR_NOT_NULL_FATAL(d);
	for (size_t i = 0; i < n; i++)
		d[i] = (uint8_t)(i * 7 + (size_t)seed);
	mp_obj_t *o = Bn(d, n);
	free(d);
	return o;
}

/* The benchmark's value: a dict of 100 mixed values. */
static mp_obj_t *mixed100(void)
{
	mp_obj_t *d = mp_obj_dict();
	char k[32], v[32];
	for (int i = 0; i < 100; i++) {
		snprintf(k, sizeof(k), "key%d", i);
		mp_obj_t *val;
		switch (i % 5) {
		case 0: val = I(i * 1000003); break;
		case 1: val = mp_obj_float(i * 0.5); break;
		case 2:
			snprintf(v, sizeof(v), "value %d", i);
			val = S(v);
			break;
		case 3:
			snprintf(v, sizeof(v), "bytes\x01%d", i);
			val = Bn(v, strlen(v));
			break;
		default: val = L(3, I(i), I(-i), mp_obj_none()); break;
		}
		CU_ASSERT_EQUAL(mp_obj_dict_set(d, S(k), val), 0);
	}
	return d;
}

#define MIXED100_PY                                                          \
	"{S('key%d' % i): [i * 1000003, i * 0.5, S('value %d' % i), "       \
	"B(b'bytes\\x01' + str(i).encode()), [i, -i, None]][i % 5] "        \
	"for i in range(100)}"

/* ---- without a Python ----------------------------------------------------- */

static void expect_bytes(const mp_obj_t *o, int proto, const char *want,
                         size_t wlen)
{
	void *out = NULL;
	size_t len = 0;
	MPT_OK(mp_pickle_dumps(o, proto, &out, &len));
	MPT_EQ(len, wlen);
	bool same = out && len == wlen && memcmp(out, want, wlen) == 0;
	CU_ASSERT(same);
	if (!same && out) {
		fprintf(stderr, "\n  got: ");
		for (size_t i = 0; i < len; i++)
			fprintf(stderr, "%02x", ((uint8_t *)out)[i]);
		fprintf(stderr, "\n want: ");
		for (size_t i = 0; i < wlen; i++)
			fprintf(stderr, "%02x", (uint8_t)want[i]);
		fprintf(stderr, "\n");
	}
	free(out);
}

#define EXPECT(o, proto, lit) expect_bytes(o, proto, lit, sizeof(lit) - 1)

static void test_errors(void)
{
	void *out = (void *)1;
	size_t len = 7;
	mp_obj_t *o = I(1);
	MPT_ERR(mp_pickle_dumps(o, 1, &out, &len), -EINVAL);
	MPT_ERR(mp_pickle_dumps(o, 6, &out, &len), -EINVAL);
	MPT_ERR(mp_pickle_dumps(o, -1, &out, &len), -EINVAL);
	MPT_ERR(mp_pickle_dumps(NULL, 4, &out, &len), -EINVAL);
	MPT_ERR(mp_pickle_dumps(o, 4, NULL, &len), -EINVAL);
	MPT_ERR(mp_pickle_dumps(o, 4, &out, NULL), -EINVAL);
	MPT_ERR(mp__pickle_dump_buf(o, 4, NULL), -EINVAL);
	mp_obj_decref(o);
}

static void test_known_bytes(void)
{
	EXPECT(mp_obj_none(), 2, "\x80\x02N.");
	EXPECT(mp_obj_bool(true), 3, "\x80\x03\x88.");
	mp_obj_t *o = I(1);
	EXPECT(o, 0, "\x80\x04K\x01.");
	mp_obj_decref(o);
	o = T(2, I(1), I(2));
	EXPECT(o, 4, "\x80\x04\x95\x07\x00\x00\x00\x00\x00\x00\x00"
	             "K\x01K\x02\x86\x94.");
	EXPECT(o, 2, "\x80\x02K\x01K\x02\x86q\x00.");
	mp_obj_decref(o);
	o = S("ab");
	EXPECT(o, 2, "\x80\x02X\x02\x00\x00\x00" "abq\x00.");
	mp_obj_decref(o);
	o = Bn("ab", 2);
	EXPECT(o, 2, "\x80\x02" "c_codecs\nencode\nq\x00X\x02\x00\x00\x00" "abq\x01"
	             "X\x06\x00\x00\x00latin1q\x02\x86q\x03Rq\x04.");
	mp_obj_decref(o);
	o = EXC("builtins.KeyError", T(1, S("k")));
	EXPECT(o, 4, "\x80\x04\x95!\x00\x00\x00\x00\x00\x00\x00\x8c\x08" "builtins"
	             "\x94\x8c\x08KeyError\x94\x93\x94\x8c\x01k\x94\x85\x94R\x94.");
	EXPECT(o, 2, "\x80\x02" "cexceptions\nKeyError\nq\x00X\x01\x00\x00\x00kq\x01"
	             "\x85q\x02Rq\x03.");
	mp_obj_decref(o);
	/* One list reached twice: a memo get, as Python writes [x, x]. */
	mp_obj_t *l = L(1, I(1));
	o = T(2, l, mp_obj_incref(l));
	EXPECT(o, 2, "\x80\x02]q\x00K\x01" "ah\x00\x86q\x01.");
	EXPECT(o, 4, "\x80\x04\x95\n\x00\x00\x00\x00\x00\x00\x00]\x94K\x01" "ah\x00"
	             "\x86\x94.");
	mp_obj_decref(o);
	o = IRANGESET(false, 1000);
	void *out;
	size_t len;
	MPT_OK(mp_pickle_dumps(o, 4, &out, &len));
	/* A full last batch is followed by an empty one, as in CPython. */
	CU_ASSERT(len > 8 && memcmp((char *)out + len - 6, "\xe7\x03\x90(\x90.",
	                            6) == 0);
	free(out);
	mp_obj_decref(o);
}

static void test_headroom(void)
{
	mp_obj_t *o = mixed100();
	void *ref;
	size_t rlen;
	MPT_OK(mp_pickle_dumps(o, 4, &ref, &rlen));
	struct mp__pickle_buf b = { .head = MP__FRAME_HDR_MAX };
	for (int round = 0; round < 3; round++) {
		if (b.base)	/* round 0: nothing allocated yet */
			memset(b.base, 0xa5, b.cap < 12 ? b.cap : 12);
		MPT_OK(mp__pickle_dump_buf(o, 4, &b));
		MPT_EQ(b.len, rlen);
		CU_ASSERT(b.cap >= b.head + b.len);
		CU_ASSERT(memcmp(b.base + b.head, ref, rlen) == 0);
		if (round)
			CU_ASSERT(b.base[0] == 0xa5 && b.base[11] == 0xa5);
	}
	uint8_t *keep = b.base;
	b.head = 4;
	MPT_OK(mp__pickle_dump_buf(o, 4, &b));
	CU_ASSERT(b.base == keep); /* big enough: not reallocated */
	CU_ASSERT(memcmp(b.base + 4, ref, rlen) == 0);
	MPT_ERR(mp__pickle_dump_buf(o, 7, &b), -EINVAL);
	free(b.base);
	free(ref);
	mp_obj_decref(o);
}

/* The deepest value, dumped on a thread with a small stack: the walk
 * recurses, some 200 bytes a level: 1 MiB is enough. */
#if defined(__SANITIZE_ADDRESS__)
#define DEEP_STACK (16u << 20) /* the sanitizer's frames are bigger */
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define DEEP_STACK (16u << 20)
#endif
#endif
#ifndef DEEP_STACK
#define DEEP_STACK (1u << 20)
#endif

static void *dump_deep(void *arg)
{
	void *out;
	size_t len;
	int r = mp_pickle_dumps(arg, 4, &out, &len);
	if (r == 0) {
		/* PROTO, FRAME, then per level ']' MEMOIZE, the APPENDs, STOP */
		r = len == 2 + 9 + 2 * MP_OBJ_MAX_DEPTH + (MP_OBJ_MAX_DEPTH - 1) +
		            1 ? 0 : -EPROTO;
		free(out);
	}
	return (void *)(intptr_t)r;
}

static void test_deep(void)
{
	mp_obj_t *o = mp_obj_list();
	for (int i = 1; i < MP_OBJ_MAX_DEPTH; i++) {
		mp_obj_t *up = mp_obj_list();
		CU_ASSERT_EQUAL_FATAL(mp_obj_list_append(up, o), 0);
		o = up;
	}
	pthread_attr_t a;
	pthread_t t;
	void *r = (void *)1;
	pthread_attr_init(&a);
	pthread_attr_setstacksize(&a, DEEP_STACK);
	MPT_EQ(pthread_create(&t, &a, dump_deep, o), 0);
	MPT_EQ(pthread_join(t, &r), 0);
	MPT_EQ((intptr_t)r, 0);
	pthread_attr_destroy(&a);
	mp_obj_decref(o);
}

/* ---- against CPython ------------------------------------------------------ */

static const char golden_py[] =
	"import sys, os, pickle, pickletools, math, argparse, queue\n"
	"import multiprocessing, multiprocessing.context, posixpath\n"
	"import _compat_pickle\n"
	"def S(s): return ''.join([chr(ord(c)) for c in s])\n"
	"def B(b): return bytes(list(b))\n"
	"def T(*a): return tuple(list(a))\n"
	"d = sys.argv[1]\n"
	"ok = bad = shown = 0\n"
	"for f in sorted(os.listdir(d)):\n"
	"    if not f.endswith('.py'): continue\n"
	"    name = f[:-3]\n"
	"    expr, check, cond = open(os.path.join(d, f)).read().split('\\n')\n"
	"    for p in (2, 3, 4, 5):\n"
	"        fn = os.path.join(d, '%s.%d' % (name, p))\n"
	"        if not os.path.exists(fn): continue\n"
	"        got = open(fn, 'rb').read()\n"
	"        obj = eval(expr)\n"
	"        want = pickle.dumps(obj, p)\n"
	"        why = None\n"
	"        if want != got and eval(cond or 'True'):\n"
	"            i = next((i for i in range(min(len(want), len(got)))\n"
	"                      if want[i] != got[i]), min(len(want), len(got)))\n"
	"            why = 'at %d of %d/%d: want %r got %r' % (i, len(want),\n"
	"                len(got), want[max(0, i - 8):i + 12], got[max(0, i - 8):i + 12])\n"
	"        try:\n"
	"            r = pickle.loads(got)\n"
	"            if check.strip():\n"
	"                good = eval(check)\n"
	"            else:\n"
	"                good = type(r) is type(obj) and (r == obj or\n"
	"                       (len(got) < 100000 and repr(r) == repr(obj)))\n"
	"            if not good and why is None: why = 'loads: %.200r' % (r,)\n"
	"        except Exception as e:\n"
	"            why = (why or '') + ' loads raised %r' % (e,)\n"
	"        if why is None:\n"
	"            ok += 1\n"
	"            continue\n"
	"        bad += 1\n"
	"        if shown < 12:\n"
	"            shown += 1\n"
	"            print('BAD', name, 'protocol', p, why)\n"
	"# Our protocol 2 names: the same as this Python's.\n"
	"for line in open(os.path.join(d, 'compat.txt')):\n"
	"    m, n, m2, n2 = line.split()\n"
	"    k = (m, n)\n"
	"    if k in _compat_pickle.REVERSE_NAME_MAPPING:\n"
	"        w = _compat_pickle.REVERSE_NAME_MAPPING[k]\n"
	"    else:\n"
	"        w = (_compat_pickle.REVERSE_IMPORT_MAPPING.get(m, m), n)\n"
	"    if w != (m2, n2):\n"
	"        bad += 1\n"
	"        print('BAD compat', k, w, (m2, n2))\n"
	"    else: ok += 1\n"
	"print('RESULT', ok, bad)\n";

static char golden_dir[256];
static int case_no;

/* Dump v (released here) with each protocol in mask (bit p) into
 * golden_dir, with the Python expression that builds it and an optional
 * check of the loaded value r. */
static void add_case_if(const char *name, mp_obj_t *v, const char *expr,
                        const char *check, unsigned mask, const char *cond)
{
	char path[512];
	CU_ASSERT_PTR_NOT_NULL_FATAL(v);
	int no = case_no++;
	snprintf(path, sizeof(path), "%s/%03d_%s.py", golden_dir, no, name);
	FILE *f = fopen(path, "w");
	CU_ASSERT_PTR_NOT_NULL_FATAL(f);
	fprintf(f, "%s\n%s\n%s", expr, check ? check : "", cond ? cond : "");
	fclose(f);
	for (int p = 2; p <= 5; p++) {
		if (!(mask & (1u << p)))
			continue;
		void *out;
		size_t len;
		int r = mp_pickle_dumps(v, p, &out, &len);
		MPT_OK(r);
		if (r < 0)
			continue;
		snprintf(path, sizeof(path), "%s/%03d_%s.%d", golden_dir, no,
		         name, p);
		f = fopen(path, "w");
		CU_ASSERT_PTR_NOT_NULL_FATAL(f);
		CU_ASSERT_EQUAL(fwrite(out, 1, len, f), len);
		fclose(f);
		free(out);
	}
	mp_obj_decref(v);
}

static void add_case(const char *name, mp_obj_t *v, const char *expr,
                     const char *check, unsigned mask)
{
	add_case_if(name, v, expr, check, mask, NULL);
}

#define ALL 0x3cu

static void small_cases(void)
{
	add_case("none", mp_obj_none(), "None", NULL, ALL);
	add_case("bools", L(2, mp_obj_bool(true), mp_obj_bool(false)),
	         "[True, False]", NULL, ALL);

	/* ints on both sides of every opcode's range */
	static const int64_t ints[] = {
		0, 1, 255, 256, 65535, 65536, -1, -128, -129, -256,
		2147483647, -2147483647 - 1, 2147483648ll, -2147483649ll,
		INT64_MAX, INT64_MIN, 1ll << 40, -(1ll << 40),
	};
	mp_obj_t *l = mp_obj_list();
	for (size_t i = 0; i < sizeof(ints) / sizeof(*ints); i++)
		mp_obj_list_append(l, I(ints[i]));
	add_case("ints", l,
	         "[0, 1, 255, 256, 65535, 65536, -1, -128, -129, -256, "
	         "2**31-1, -2**31, 2**31, -2**31-1, 2**63-1, -2**63, 2**40, "
	         "-2**40]", NULL, ALL);
	uint8_t le[400] = { 0 };
	le[8] = 1; /* 2**64 */
	mp_obj_t *p64 = INTLE(le, 9);
	le[8] = 0xff; /* -2**64 */
	mp_obj_t *m64 = INTLE(le, 9);
	le[8] = 0;
	le[125] = 1;
	mp_obj_t *p1000 = INTLE(le, 126);
	le[125] = 0xff;
	mp_obj_t *m1000 = INTLE(le, 126);
	le[125] = 0;
	le[262] = 1; /* 2**2096: LONG4 */
	mp_obj_t *p2096 = INTLE(le, 263);
	add_case("bigints",
	         L(6, p64, m64, p1000, m1000, p2096, mp_obj_uint(UINT64_MAX)),
	         "[2**64, -2**64, 2**1000, -2**1000, 2**2096, 2**64-1]", NULL,
	         ALL);

	add_case("floats",
	         L(8, mp_obj_float(0.0), mp_obj_float(-0.0),
	           mp_obj_float(1.5), mp_obj_float(NAN), mp_obj_float(INFINITY),
	           mp_obj_float(-INFINITY), mp_obj_float(1e308),
	           mp_obj_float(5e-324)),
	         "[0.0, -0.0, 1.5, float('nan'), float('inf'), float('-inf'), "
	         "1e308, 5e-324]",
	         "repr(r) == repr(obj)", ALL);

	add_case("strs",
	         L(9, S(""), S("a"), S("\xc3\xa9"), S("ab"), S("h\xc3\xa9llo"),
	           S("\xf0\x9f\x98\x80"), Sn("\xed\xa0\x80", 3),
	           Sn("a\0b", 3), S("\xe2\x82\xac")),
	         "[S(''), S('a'), S('\\xe9'), S('ab'), S('h\\xe9llo'), "
	         "S('\\U0001F600'), S('\\ud800'), S('a\\x00b'), S('\\u20ac')]",
	         NULL, ALL);
	char *big = malloc(70001);
	CU_ASSERT_PTR_NOT_NULL_FATAL(big);
	memset(big, 'x', 70000);
	add_case("strlens",
	         L(6, Sn(big, 255), Sn(big, 256), Sn(big, 65535),
	           Sn(big, 65536), Sn(big, 70000), S("after")),
	         "[S('x' * 255), S('x' * 256), S('x' * 65535), S('x' * 65536), "
	         "S('x' * 70000), S('after')]", NULL, ALL);
	add_case("bytes",
	         L(7, Bn("", 0), Bn("a", 1), Bn("\xff", 1), Bn("ab", 2),
	           Bn("\x00\x80\xff", 3), Bn(big, 256), Bn(big, 70000)),
	         "[B(b''), B(b'a'), B(b'\\xff'), B(b'ab'), B(b'\\x00\\x80\\xff'), "
	         "B(b'x' * 256), B(b'x' * 70000)]", NULL, ALL);
	add_case("bytearrays",
	         L(5, mp_obj_bytearray("", 0), mp_obj_bytearray("a", 1),
	           mp_obj_bytearray("a\xff", 2), mp_obj_bytearray(big, 70000),
	           Bn("a", 1)),
	         "[bytearray(), bytearray(b'a'), bytearray(b'a\\xff'), "
	         "bytearray(b'x' * 70000), B(b'a')]", NULL, ALL);
	free(big);

	/* What CPython shares by value, met twice. */
	add_case("singletons",
	         L(12, S("a"), S("a"), S(""), S(""), Bn("a", 1), Bn("a", 1),
	           Bn("", 0), Bn("", 0), S("\xc3\xbf"), Bn("\xff", 1),
	           mp_obj_bytearray("\xff", 1), S("latin1")),
	         "[S('a'), S('a'), S(''), S(''), B(b'a'), B(b'a'), B(b''), "
	         "B(b''), S('\\xff'), B(b'\\xff'), bytearray(B(b'\\xff')), "
	         "S('latin1')]", NULL, ALL);

	add_case("tuples",
	         L(6, T(0), T(1, I(1)), T(2, I(1), S("ab")),
	           T(3, I(1), I(2), I(3)), T(4, I(1), I(2), I(3), I(4)),
	           T(2, T(1, T(0)), L(1, T(0)))),
	         "[(), T(1), T(1, S('ab')), T(1, 2, 3), T(1, 2, 3, 4), "
	         "T(T(()), [()])]", NULL, ALL);

	mp_obj_t *lists = mp_obj_list();
	static const int sizes[] = { 0, 1, 2, 999, 1000, 1001, 2000, 2500 };
	for (size_t i = 0; i < sizeof(sizes) / sizeof(*sizes); i++) {
		mp_obj_t *x = mp_obj_list();
		for (int j = 0; j < sizes[i]; j++)
			mp_obj_list_append(x, I(j));
		mp_obj_list_append(lists, x);
	}
	add_case("lists", lists,
	         "[list(range(n)) for n in (0, 1, 2, 999, 1000, 1001, 2000, "
	         "2500)]", NULL, ALL);

	mp_obj_t *dicts = mp_obj_list();
	for (size_t i = 0; i < sizeof(sizes) / sizeof(*sizes); i++) {
		mp_obj_t *x = mp_obj_dict();
		for (int j = 0; j < sizes[i]; j++)
			mp_obj_dict_set(x, I(j), I(-j));
		mp_obj_list_append(dicts, x);
	}
	add_case("dicts", dicts,
	         "[{j: -j for j in range(n)} for n in (0, 1, 2, 999, 1000, "
	         "1001, 2000, 2500)]", NULL, ALL);
	add_case("dict mixed", mixed100(), MIXED100_PY, NULL, ALL);

	mp_obj_t *sets = mp_obj_list();
	for (size_t i = 0; i < sizeof(sizes) / sizeof(*sizes); i++) {
		mp_obj_list_append(sets, IRANGESET(false, sizes[i]));
		mp_obj_list_append(sets, IRANGESET(true, sizes[i]));
	}
	add_case("sets", sets,
	         "[f(range(n)) for n in (0, 1, 2, 999, 1000, 1001, 2000, 2500) "
	         "for f in (set, frozenset)]", NULL, ALL);

	add_case("nested",
	         D(3, S("list"), L(2, D(1, S("k"), T(1, S("v"))), IRANGESET(true, 3)),
	           T(2, I(1), I(2)), L(1, Bn("xy", 2)),
	           S("e"), EXC("builtins.ValueError", T(2, I(1), S("why")))),
	         "{S('list'): [{'k': T(S('v'))}, frozenset([0, 1, 2])], "
	         "T(1, 2): [B(b'xy')], 'e': ValueError(1, S('why'))}", NULL, ALL);

	add_case("exceptions",
	         L(7, EXC("builtins.KeyError", T(1, S("k"))),
	           EXC("builtins.KeyError", NULL),
	           EXC("builtins.TimeoutError", NULL),
	           EXC("multiprocessing.context.TimeoutError", T(1, S("late"))),
	           EXC("_queue.Empty", NULL),
	           EXC("queue.Full", NULL),
	           EXC("builtins.KeyError", T(1, I(2)))),
	         "[KeyError('k'), KeyError(), TimeoutError(), "
	         "multiprocessing.TimeoutError(S('late')), queue.Empty(), "
	         "queue.Full(), KeyError(2)]",
	         "[type(x) for x in r] == "
	         "[type(x) for x in pickle.loads(want)] and "
	         "[x.args for x in r] == [x.args for x in obj]", ALL);

	add_case("globals",
	         L(5, GLOBAL("builtins", "len"), GLOBAL("builtins", "len"),
	           GLOBAL("posixpath", "join"), GLOBAL("builtins", "getattr"),
	           GLOBAL("builtins", "range")),
	         "[len, len, posixpath.join, getattr, range]", "r == obj",
	         0x0cu);
	/* In protocol 4 'builtins' is one str for the builtin functions and
	 * another for the types (of which CPython's own reductions name
	 * several): ours is the types'. */
	add_case("globals 4",
	         L(5, GLOBAL("builtins", "KeyError"), GLOBAL("builtins", "set"),
	           GLOBAL("posixpath", "join"), GLOBAL("posixpath", "split"),
	           GLOBAL("builtins", "KeyError")),
	         "[KeyError, set, posixpath.join, posixpath.split, KeyError]",
	         "r == obj", ALL);
	/* A dotted name before protocol 4: getattr(parent, name), whose
	 * parent 3.13 leaves out of the memo. */
	add_case_if("globals dotted",
	            L(2, GLOBAL("argparse",
	                        "_SubParsersAction._ChoicesPseudoAction"),
	              GLOBAL("argparse", "_SubParsersAction")),
	            "[argparse._SubParsersAction._ChoicesPseudoAction, "
	            "argparse._SubParsersAction]", "r == obj", ALL,
	            "p >= 4 or sys.version_info < (3, 13)");
	add_case("calls",
	         L(3, CALL(GLOBAL("builtins", "range"), T(3, I(1), I(5), I(1)),
	                   false, NULL),
	           CALL(GLOBAL("argparse", "Namespace"), T(0), true,
	                D(1, S("a"), I(1))),
	           CALL(GLOBAL("builtins", "range"), T(3, I(0), I(3), I(1)),
	                false, NULL)),
	         "[range(1, 5), argparse.Namespace(a=1), range(3)]", NULL,
	         0x30u);
	add_case("calls p2",
	         L(2, CALL(GLOBAL("builtins", "range"), T(3, I(1), I(5), I(1)),
	                   false, NULL),
	           CALL(GLOBAL("argparse", "Namespace"), T(0), true,
	                D(1, S("a"), I(1)))),
	         "[range(1, 5), argparse.Namespace(a=1)]", NULL, 0x0cu);

	/* Shared nodes: memo gets, loaded as one object. */
	mp_obj_t *sl = L(1, I(1)), *st = T(2, I(1), S("xy"));
	mp_obj_t *ss = S("shared"), *sd = D(1, S("k"), I(1));
	mp_obj_t *sb = Bn("bb", 2), *sx = EXC("builtins.KeyError", T(1, I(3)));
	mp_obj_t *sset = IRANGESET(false, 3), *sfs = IRANGESET(true, 2);
	add_case("shared",
	         L(16, sl, mp_obj_incref(sl), st, mp_obj_incref(st),
	           mp_obj_incref(st), ss, mp_obj_incref(ss), sd,
	           mp_obj_incref(sd), sb, mp_obj_incref(sb), sx,
	           mp_obj_incref(sx), sset, mp_obj_incref(sset),
	           T(2, sfs, mp_obj_incref(sfs))),
	         "(lambda l, t, s, d, b, x, st, fs: [l, l, t, t, t, s, s, d, d, "
	         "b, b, x, x, st, st, T(fs, fs)])([1], T(1, S('xy')), "
	         "S('shared'), {'k': 1}, B(b'bb'), KeyError(3), {0, 1, 2}, "
	         "frozenset([0, 1]))",
	         "r[0] is r[1] and r[2] is r[3] is r[4] and r[5] is r[6] and "
	         "r[7] is r[8] and r[9] is r[10] and r[11] is r[12] and "
	         "r[13] is r[14] and r[15][0] is r[15][1] and r[0] == [1] and "
	         "r[14] == {0, 1, 2} and repr(r) == repr(obj)", ALL);

	/* Past 256 memo entries: LONG_BINPUT and LONG_BINGET. */
	mp_obj_t *many = mp_obj_list(), *late = S("late one");
	char buf[32];
	for (int i = 0; i < 300; i++) {
		snprintf(buf, sizeof(buf), "s%d", i);
		mp_obj_list_append(many, S(buf));
	}
	mp_obj_list_append(many, late);
	mp_obj_list_append(many, mp_obj_incref(late));
	add_case("memo 300", many,
	         "(lambda x: [S('s%d' % i) for i in range(300)] + [x, x])"
	         "(S('late one'))", "r[300] is r[301] and r == obj", ALL);

	/* Frames: many small objects, strings crossing 64 KiB. */
	mp_obj_t *fl = mp_obj_list();
	for (int i = 0; i < 20000; i++) {
		snprintf(buf, sizeof(buf), "item %d", i);
		mp_obj_list_append(fl, i % 3 ? S(buf) : L(2, I(i), T(1, I(i))));
	}
	add_case("frames", fl,
	         "[S('item %d' % i) if i % 3 else [i, T(i)] for i in "
	         "range(20000)]", NULL, ALL);
}

/* ---- random trees: the value and the Python expression together ------------ */

struct gen {
	uint64_t seed;
	char *py;
	size_t len, cap;
	unsigned keys; /* dict keys made so far: each one new */
	int budget;    /* values still to make */
};

static uint32_t rnd(struct gen *g, uint32_t n)
{
	g->seed = g->seed * 6364136223846793005ull + 1442695040888963407ull;
	return (uint32_t)(g->seed >> 33) % n;
}

__attribute__((format(printf, 2, 3)))
static void py_add(struct gen *g, const char *fmt, ...)
{
	va_list ap;
	for (;;) {
		va_start(ap, fmt);
		int n = vsnprintf(g->py + g->len, g->cap - g->len, fmt, ap);
		va_end(ap);
		if ((size_t)n < g->cap - g->len) {
			g->len += (size_t)n;
			return;
		}
		g->cap = g->cap * 2 + (size_t)n;
		g->py = realloc(g->py, g->cap);
		CU_ASSERT_PTR_NOT_NULL_FATAL(g->py);
	}
}

static mp_obj_t *gen_value(struct gen *g, int depth);

static mp_obj_t *gen_scalar(struct gen *g)
{
	static const int64_t edges[] = { 0, 255, 256, 65535, 65536, -1,
	                                 2147483647, -2147483648ll,
	                                 2147483648ll, INT64_MAX, INT64_MIN };
	char buf[80];
	switch (rnd(g, 9)) {
	case 0:
		py_add(g, "None");
		return mp_obj_none();
	case 1: {
		bool b = rnd(g, 2);
		py_add(g, b ? "True" : "False");
		return mp_obj_bool(b);
	}
	case 2: {
		/* edge -1, +0 or +1, wrapping at the ends (unsigned: no UB) */
		int64_t v = (int64_t)((uint64_t)edges[rnd(g, sizeof(edges) /
		                                             sizeof(*edges))] +
		                      (uint64_t)rnd(g, 3) - 1u);
		if (v == INT64_MIN + 1 && rnd(g, 2))
			v = INT64_MIN;
		py_add(g, "(%lld)", (long long)v);
		return I(v);
	}
	case 3: {
		double d = (double)rnd(g, 1000000) / 64.0 - 5000.0;
		py_add(g, "float(%.17g)", d);
		return mp_obj_float(d);
	}
	case 4:
	case 5: { /* str: ASCII, Latin-1, BMP, astral, of many lengths */
		static const char *const units[] = { "a", "\\xe9", "\\u20ac",
		                                     "\\U0001f600", "z" };
		static const char *const utf8[] = { "a", "\xc3\xa9",
		                                    "\xe2\x82\xac",
		                                    "\xf0\x9f\x98\x80", "z" };
		static const size_t ulen[] = { 1, 2, 3, 4, 1 };
		static const uint32_t lens[] = { 0, 1, 2, 5, 40, 85, 200 };
		uint32_t u = rnd(g, 5), n = lens[rnd(g, 7)];
		if (rnd(g, 40) == 0)
			n = 16000 + rnd(g, 10000); /* some cross a frame */
		size_t bl = ulen[u] * n;
		char *d = malloc(bl + 1);
		CU_ASSERT_PTR_NOT_NULL_FATAL(d);
		const char *one = utf8[u];
		for (uint32_t i = 0; i < n; i++)
			memcpy(d + i * ulen[u], one, ulen[u]);
		py_add(g, "S('%s' * %u)", units[u], n);
		mp_obj_t *o = Sn(d, bl);
		free(d);
		return o;
	}
	case 6: {
		uint32_t n = rnd(g, 40) ? rnd(g, 300) : 60000 + rnd(g, 20000);
		uint8_t c = (uint8_t)rnd(g, 256);
		py_add(g, "B(b'\\x%02x' * %u)", c, n);
		uint8_t *d = malloc(n + 1);
		memset(d, c, n);
		mp_obj_t *o = Bn(d, n);
		free(d);
		return o;
	}
	case 7: {
		uint32_t n = rnd(g, 3) ? rnd(g, 5) : rnd(g, 3000);
		uint8_t c = (uint8_t)rnd(g, 256);
		py_add(g, "bytearray(b'\\x%02x' * %u)", c, n);
		uint8_t *d = malloc(n + 1);
		memset(d, c, n);
		mp_obj_t *o = mp_obj_bytearray(d, n);
		free(d);
		return o;
	}
	default:
		snprintf(buf, sizeof(buf), "%u", rnd(g, 100));
		py_add(g, "KeyError(S('%s'))", buf);
		return EXC("builtins.KeyError", T(1, S(buf)));
	}
}

static mp_obj_t *gen_value(struct gen *g, int depth)
{
	uint32_t k = depth > 5 || g->budget <= 0 ? 0 : rnd(g, 12);
	uint32_t n = rnd(g, 6) ? rnd(g, 6) : rnd(g, 2500);
	g->budget--;
	if ((int64_t)n > g->budget)
		n = g->budget > 0 ? (uint32_t)g->budget : 0;
	if (k < 6)
		return gen_scalar(g);
	mp_obj_t *o;
	switch (k) {
	case 6:
	case 7:
		o = mp_obj_list();
		py_add(g, "[");
		for (uint32_t i = 0; i < n; i++) {
			mp_obj_list_append(o, gen_value(g, depth + 1));
			py_add(g, ", ");
		}
		py_add(g, "]");
		return o;
	case 8: {
		mp_obj_t *it[8];
		n = rnd(g, 7);
		py_add(g, "T(");
		for (uint32_t i = 0; i < n; i++) {
			it[i] = gen_value(g, depth + 1);
			py_add(g, ", ");
		}
		py_add(g, ")");
		return mp_obj_tuple(n, it);
	}
	case 9:
	case 10:
		o = mp_obj_dict();
		py_add(g, "{");
		for (uint32_t i = 0; i < n; i++) {
			char key[24];
			snprintf(key, sizeof(key), "k%u", g->keys++);
			mp_obj_t *kv = rnd(g, 2) ? S(key) : I(-(int64_t)g->keys);
			if (mp_obj_kind(kv) == MP_OBJ_STR)
				py_add(g, "S('%s'): ", key);
			else
				py_add(g, "(%lld): ", -(long long)g->keys);
			mp_obj_dict_set(o, kv, gen_value(g, depth + 1));
			py_add(g, ", ");
		}
		py_add(g, "}");
		return o;
	default: {
		bool frozen = rnd(g, 2);
		py_add(g, "%s(range(%u))", frozen ? "frozenset" : "set", n);
		return IRANGESET(frozen, n);
	}
	}
}

static void random_cases(int count)
{
	for (int i = 0; i < count; i++) {
		struct gen g = { .seed = 0x9e3779b9u * (uint64_t)(i + 1),
		                 .budget = 3000 };
		char name[32];
		mp_obj_t *v = gen_value(&g, 0);
		py_add(&g, "%s", "");
		snprintf(name, sizeof(name), "random%d", i);
		add_case(name, v, g.py, "repr(r) == repr(obj)", ALL);
		free(g.py);
	}
}

/* The names of pickle_compat.c, as Python must have them too. */
static void write_compat(void)
{
	static const char *const pairs[][2] = {
		{ "builtins", "KeyError" }, { "builtins", "TimeoutError" },
		{ "builtins", "range" }, { "builtins", "str" },
		{ "builtins", "len" }, { "builtins", "ModuleNotFoundError" },
		{ "multiprocessing.context", "TimeoutError" },
		{ "multiprocessing.context", "AuthenticationError" },
		{ "queue", "Empty" }, { "_queue", "Empty" },
		{ "copyreg", "_reconstructor" }, { "_functools", "reduce" },
		{ "urllib.parse", "quote" }, { "urllib.parse", "urlsplit" },
		{ "collections", "OrderedDict" }, { "_socket", "socket" },
	};
	char path[512];
	snprintf(path, sizeof(path), "%s/compat.txt", golden_dir);
	FILE *f = fopen(path, "w");
	CU_ASSERT_PTR_NOT_NULL_FATAL(f);
	for (size_t i = 0; i < sizeof(pairs) / sizeof(*pairs); i++) {
		const char *m = pairs[i][0], *n = pairs[i][1];
		mp__pickle_compat_name(&m, &n);
		fprintf(f, "%s %s %s %s\n", pairs[i][0], pairs[i][1], m, n);
	}
	fclose(f);
}

static void rm_dir(const char *dir)
{
	char cmd[600];
	if (getenv("MPT_PICKLE_KEEP")) /* for a look at the cases */
		return;
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	CU_ASSERT_EQUAL(system(cmd), 0);
}

static void run_golden(int minor, bool big)
{
	struct mpt_py py;
	char why[64], line[400];
	if (!mpt_python_find(minor, &py)) {
		snprintf(why, sizeof(why), "no python3.%d", minor);
		MPT_SKIP(why);
		return;
	}
	snprintf(golden_dir, sizeof(golden_dir), "/tmp/mpt_pickle_dump.%d.%d",
	         (int)getpid(), minor);
	rm_dir(golden_dir);
	CU_ASSERT_EQUAL_FATAL(mkdir(golden_dir, 0700), 0);
	case_no = 0;
	write_compat();
	if (big) {
		/* A 1M-element list, 100 MiB of bytes (protocols 4 and 5). */
		mp_obj_t *l = mp_obj_list();
		for (int i = 0; i < 1000000; i++)
			mp_obj_list_append(l, I(i * 37 - 500000));
		add_case("list 1M", l, "[i * 37 - 500000 for i in range(1000000)]",
		         NULL, ALL);
		add_case("bytes 100M", T(2, BIGBYTES(100u << 20, 3), S("end")),
		         "T(bytes((i * 7 + 3) & 255 for i in range(256)) * 409600, "
		         "S('end'))", NULL, 0x30u);
	} else {
		small_cases();
		random_cases(40);
	}
	struct mpt_pyproc pp;
	const char *args[] = { golden_dir, NULL };
	MPT_OK(mpt_py_start(&py, golden_py, args, &pp));
	pp.deadline += big ? MP_SEC(240) : MP_SEC(60); /* a slow machine */
	int r = mpt_py_line(&pp, "RESULT", line, sizeof(line));
	int st = mpt_py_finish(&pp);
	if (r < 0 || st != 0 || strstr(pp.buf, "BAD"))
		fprintf(stderr, "\n--- python3.%d said:\n%s\n", minor, pp.buf);
	MPT_EQ(r, 0);
	MPT_EQ(st, 0);
	int ok = -1, bad = -1;
	sscanf(line, "RESULT %d %d", &ok, &bad);
	MPT_EQ(bad, 0);
	MPT_CMP(ok, >, 0);
	rm_dir(golden_dir);
}

static void test_golden311(void) { run_golden(11, false); }
static void test_golden312(void) { run_golden(12, false); }
static void test_golden313(void) { run_golden(13, false); }
static void test_big311(void) { run_golden(11, true); }
static void test_big312(void) { run_golden(12, true); }
static void test_big313(void) { run_golden(13, true); }

int main(void)
{
	static CU_TestInfo tests[] = {
		{ "errors", test_errors },
		{ "known bytes", test_known_bytes },
		{ "headroom", test_headroom },
		{ "deepest value", test_deep },
		{ "interop python 3.11: golden", test_golden311 },
		{ "interop python 3.12: golden", test_golden312 },
		{ "interop python 3.13: golden", test_golden313 },
		{ "interop python 3.11: big", test_big311 },
		{ "interop python 3.12: big", test_big312 },
		{ "interop python 3.13: big", test_big313 },
		CU_TEST_INFO_NULL,
	};
	return mpt_main("pickle_dump", tests);
}
