/*
 * test_pickle_load.c - mp_pickle_loads: real CPython pickles of protocols
 * 2-5 (made at test time by python 3.11, 3.12 and 3.13) against values
 * built in C; then hostile inputs, each of which must end in its error,
 * quickly and without holding memory (the sanitizer build checks leaks).
 */
#include "pyutil.h"

#include <math.h>
#include <stdarg.h>
#include <sys/resource.h>

#include "pickle_ops.h"

/* ---- helpers ------------------------------------------------------------- */

static mp_obj_t *S(const char *s)
{
	int err;
	return mp_obj_cstr(s, &err);
}

static mp_obj_t *T(size_t n, ...)
{
	mp_obj_t *it[16];
	va_list ap;
	va_start(ap, n);
	for (size_t i = 0; i < n; i++)
		it[i] = va_arg(ap, mp_obj_t *);
	va_end(ap);
	return mp_obj_tuple(n, it);
}

static mp_obj_t *L(size_t n, ...)
{
	mp_obj_t *l = mp_obj_list();
	va_list ap;
	va_start(ap, n);
	for (size_t i = 0; i < n; i++)
		mp_obj_list_append(l, va_arg(ap, mp_obj_t *));
	va_end(ap);
	return l;
}

static mp_obj_t *SET(bool frozen, size_t n, ...)
{
	mp_obj_t *s = mp_obj_set(frozen);
	va_list ap;
	va_start(ap, n);
	for (size_t i = 0; i < n; i++)
		mp_obj_set_add(s, va_arg(ap, mp_obj_t *));
	va_end(ap);
	return s;
}

static mp_obj_t *EXC(const char *type, mp_obj_t *args)
{
	int err;
	return mp_obj_exc(type, args, &err);
}

static mp_obj_t *B(const char *s, size_t n)
{
	return mp_obj_bytes(s, n);
}

/* 2^e, or -(2^e), as an int of any size. */
static mp_obj_t *pow2(unsigned e, bool neg)
{
	size_t n = e / 8 + 2; /* room for the sign */
	uint8_t *b = calloc(n, 1);
	int err;
	if (!neg) {
		b[e / 8] = (uint8_t)(1u << (e % 8));
	} else { /* two's complement: ones, then e zero bits */
		b[e / 8] = (uint8_t)(0xffu << (e % 8));
		b[n - 1] = 0xff;
	}
	mp_obj_t *o = mp_obj_int_bytes(b, n, &err);
	free(b);
	return o;
}

static mp_obj_t *load(const void *p, size_t n, unsigned flags, int *err,
                      mp_pickle_diag_t *d)
{
	mp_pickle_opts_t o = { .flags = flags };
	return mp_pickle_loads(p, n, &o, d, err);
}

/* Decode and expect error want (reported with the caller's line). */
static void load_err(int line, const void *buf, size_t len, unsigned flags,
                     int want)
{
	int e = 0;
	mp_pickle_diag_t d;
	mp_obj_t *o = load(buf, len, flags, &e, &d);
	char m[300];
	snprintf(m, sizeof(m), "line %d: error %d (%s) wanted %d: @%zu op %d: "
	         "%s", line, e, mp_strerror(e), want, d.offset, d.opcode,
	         d.msg);
	CU_assertImplementation(!o && e == want, line, m, __FILE__, "",
	                        CU_FALSE);
	mp_obj_decref(o);
}
#define LOAD_ERR(...) load_err(__LINE__, __VA_ARGS__)

static bool same(const mp_obj_t *got, const mp_obj_t *want, const char *what)
{
	if (mp_obj_equal(got, want))
		return true;
	char *g = mp_obj_repr(got, NULL), *w = mp_obj_repr(want, NULL);
	fprintf(stderr, "\n%s: got %.300s, want %.300s\n", what,
	        g ? g : "?", w ? w : "?");
	free(g);
	free(w);
	return false;
}

/* ---- the values, by name, as the Python side makes them ------------------ */

/*
 * The Python side: every (name, value) below pickled with protocols 2 to 5,
 * written to argv[1] as records: name NUL, protocol byte, 8-byte
 * little-endian length, the pickle.  The names are looked up in expect[].
 */
static const char py_values[] =
	"import pickle, sys, struct, queue, multiprocessing.context as c\n"
	"import multiprocessing.managers as m\n"
	"x = [1]\n"
	"eg = [('bigpos', 2**1000), ('bigneg', -2**1000)]\n"
	"V = [('none', None), ('true', True), ('false', False),\n"
	" ('ints', [0, 1, -1, 255, 256, 65535, 65536, -2**31, 2**31-1,\n"
	"           2**31, 2**63-1, -2**63]),\n"
	" ('u64', 2**64), ('n64', -2**64), ('big', 2**1000),\n"
	" ('nbig', -2**1000),\n"
	" ('floats', [1.5, -0.0, float('inf'), float('-inf'), 1e300]),\n"
	" ('nan', float('nan')),\n"
	" ('strs', ['', 'abc', '\\xe9', '\\U0001f600', 'x' * 300]),\n"
	" ('surrogate', '\\ud800a\\udfff'),\n"
	" ('bytes', [b'', b'\\x00\\xff', b'y' * 300]),\n"
	" ('bytearray', [bytearray(b'xy'), bytearray()]),\n"
	" ('tuples', [(), (1,), (1, 2), (1, 2, 3), (1, 2, 3, 4)]),\n"
	" ('list', [[], [1, 'a', None], [[1, [2, [3]]]]]),\n"
	" ('dict', {'a': 1, 2: 'b', (1, 2): None, b'k': 1.5, None: True,\n"
	"           3.5: [], frozenset([1]): {}}),\n"
	" ('sets', [set(), frozenset(), {1, 2, 3}, frozenset(['a'])]),\n"
	" ('shared', [x, x, (x,)]),\n"
	" ('exc', [KeyError('k'), ValueError(), OSError('o'),\n"
	"          UnicodeDecodeError('utf-8', b'\\xff', 0, 1, 'bad'),\n"
	"          StopIteration(1), ExceptionGroup('eg', [ValueError(1)])]),\n"
	" ('mpexc', [queue.Empty(), queue.Full(), c.TimeoutError('t'),\n"
	"            c.AuthenticationError('a'), c.ProcessError(),\n"
	"            c.BufferTooShort(), m.RemoteError('x')]),\n"
	" ('biglist', list(range(1000000))),\n"
	"]\n"
	"with open(sys.argv[1], 'wb') as f:\n"
	"    for name, v in V:\n"
	"        for p in (2, 3, 4, 5):\n"
	"            if name == 'biglist' and p != 4: continue\n"
	"            b = pickle.dumps(v, p)\n"
	"            f.write(name.encode() + b'\\0' + bytes([p]) +\n"
	"                    struct.pack('<Q', len(b)) + b)\n"
	"print('OK')\n";

static mp_obj_t *ex_ints(void)
{
	return L(12, mp_obj_int(0), mp_obj_int(1), mp_obj_int(-1),
	         mp_obj_int(255), mp_obj_int(256), mp_obj_int(65535),
	         mp_obj_int(65536), mp_obj_int(INT32_MIN),
	         mp_obj_int(INT32_MAX), mp_obj_int((int64_t)1 << 31),
	         mp_obj_int(INT64_MAX), mp_obj_int(INT64_MIN));
}

static mp_obj_t *ex_floats(void)
{
	return L(5, mp_obj_float(1.5), mp_obj_float(-0.0),
	         mp_obj_float(INFINITY), mp_obj_float(-INFINITY),
	         mp_obj_float(1e300));
}

static mp_obj_t *ex_strs(void)
{
	char x300[301];
	memset(x300, 'x', 300);
	x300[300] = 0;
	return L(5, S(""), S("abc"), S("\xc3\xa9"), S("\xf0\x9f\x98\x80"),
	         S(x300));
}

static mp_obj_t *ex_surrogate(void)
{
	return S("\xed\xa0\x80" "a" "\xed\xbf\xbf");
}

static mp_obj_t *ex_bytes(void)
{
	char y[300];
	memset(y, 'y', sizeof(y));
	return L(3, B("", 0), B("\x00\xff", 2), B(y, 300));
}

static mp_obj_t *ex_bytearray(void)
{
	return L(2, mp_obj_bytearray("xy", 2), mp_obj_bytearray("", 0));
}

static mp_obj_t *ex_tuples(void)
{
	return L(5, T(0), T(1, mp_obj_int(1)),
	         T(2, mp_obj_int(1), mp_obj_int(2)),
	         T(3, mp_obj_int(1), mp_obj_int(2), mp_obj_int(3)),
	         T(4, mp_obj_int(1), mp_obj_int(2), mp_obj_int(3),
	           mp_obj_int(4)));
}

static mp_obj_t *ex_list(void)
{
	return L(3, L(0), L(3, mp_obj_int(1), S("a"), mp_obj_none()),
	         L(1, L(2, mp_obj_int(1),
	                L(2, mp_obj_int(2), L(1, mp_obj_int(3))))));
}

static mp_obj_t *ex_dict(void)
{
	mp_obj_t *d = mp_obj_dict();
	mp_obj_dict_set(d, S("a"), mp_obj_int(1));
	mp_obj_dict_set(d, mp_obj_int(2), S("b"));
	mp_obj_dict_set(d, T(2, mp_obj_int(1), mp_obj_int(2)), mp_obj_none());
	mp_obj_dict_set(d, B("k", 1), mp_obj_float(1.5));
	mp_obj_dict_set(d, mp_obj_none(), mp_obj_bool(true));
	mp_obj_dict_set(d, mp_obj_float(3.5), L(0));
	mp_obj_dict_set(d, SET(true, 1, mp_obj_int(1)), mp_obj_dict());
	return d;
}

static mp_obj_t *ex_sets(void)
{
	return L(4, SET(false, 0), SET(true, 0),
	         SET(false, 3, mp_obj_int(1), mp_obj_int(2), mp_obj_int(3)),
	         SET(true, 1, S("a")));
}

static mp_obj_t *ex_shared(void)
{
	return L(3, L(1, mp_obj_int(1)), L(1, mp_obj_int(1)),
	         T(1, L(1, mp_obj_int(1))));
}

static mp_obj_t *ex_exc(void)
{
	return L(6, EXC("builtins.KeyError", T(1, S("k"))),
	         EXC("builtins.ValueError", NULL),
	         EXC("builtins.OSError", T(1, S("o"))),
	         EXC("builtins.UnicodeDecodeError",
	             T(5, S("utf-8"), B("\xff", 1), mp_obj_int(0),
	               mp_obj_int(1), S("bad"))),
	         EXC("builtins.StopIteration", T(1, mp_obj_int(1))),
	         EXC("builtins.ExceptionGroup",
	             T(2, S("eg"), L(1, EXC("builtins.ValueError",
	                                    T(1, mp_obj_int(1)))))));
}

static mp_obj_t *ex_mpexc(void)
{
	return L(7, EXC("_queue.Empty", NULL), EXC("queue.Full", NULL),
	         EXC("multiprocessing.context.TimeoutError", T(1, S("t"))),
	         EXC("multiprocessing.context.AuthenticationError",
	             T(1, S("a"))),
	         EXC("multiprocessing.context.ProcessError", NULL),
	         EXC("multiprocessing.context.BufferTooShort", NULL),
	         EXC("multiprocessing.managers.RemoteError", T(1, S("x"))));
}

static mp_obj_t *ex_biglist(void)
{
	mp_obj_t *l = mp_obj_list();
	for (int i = 0; i < 1000000; i++)
		mp_obj_list_append(l, mp_obj_int(i));
	return l;
}

static mp_obj_t *ex_none(void) { return mp_obj_none(); }
static mp_obj_t *ex_true(void) { return mp_obj_bool(true); }
static mp_obj_t *ex_false(void) { return mp_obj_bool(false); }
static mp_obj_t *ex_u64(void) { return pow2(64, false); }
static mp_obj_t *ex_n64(void) { return pow2(64, true); }
static mp_obj_t *ex_big(void) { return pow2(1000, false); }
static mp_obj_t *ex_nbig(void) { return pow2(1000, true); }
static mp_obj_t *ex_nan(void) { return mp_obj_float(NAN); }

static const struct {
	const char *name;
	mp_obj_t *(*make)(void);
} expect[] = {
	{ "none", ex_none }, { "true", ex_true }, { "false", ex_false },
	{ "ints", ex_ints }, { "u64", ex_u64 }, { "n64", ex_n64 },
	{ "big", ex_big }, { "nbig", ex_nbig }, { "floats", ex_floats },
	{ "nan", ex_nan }, { "strs", ex_strs }, { "surrogate", ex_surrogate },
	{ "bytes", ex_bytes }, { "bytearray", ex_bytearray },
	{ "tuples", ex_tuples }, { "list", ex_list }, { "dict", ex_dict },
	{ "sets", ex_sets }, { "shared", ex_shared }, { "exc", ex_exc },
	{ "mpexc", ex_mpexc }, { "biglist", ex_biglist },
};

/* Checks beyond ==: NaN, the sign of -0.0, sharing kept. */
static void check_extra(const char *name, const mp_obj_t *o)
{
	if (!strcmp(name, "nan")) {
		CU_ASSERT(mp_obj_kind(o) == MP_OBJ_FLOAT &&
		          isnan(mp_obj_float_value(o)));
	} else if (!strcmp(name, "floats")) {
		CU_ASSERT(signbit(mp_obj_float_value(mp_obj_item(o, 1))));
	} else if (!strcmp(name, "shared")) {
		/* the memo shares, it does not copy */
		CU_ASSERT_PTR_EQUAL(mp_obj_item(o, 0), mp_obj_item(o, 1));
		CU_ASSERT_PTR_EQUAL(mp_obj_item(o, 0),
		                    mp_obj_item(mp_obj_item(o, 2), 0));
	}
}

/* Truncate a pickle at every offset: each prefix is -MP_EPICKLE. */
static void check_prefixes(const uint8_t *p, size_t n, const char *name,
                           int proto)
{
	for (size_t k = 0; k < n; k++) {
		int err = 0;
		mp_obj_t *o = load(p, k, 0, &err, NULL);
		if (o || err != -MP_EPICKLE) {
			fprintf(stderr, "%s/%d cut at %zu of %zu: %d\n", name,
			        proto, k, n, err);
			CU_FAIL("a truncated pickle decoded");
			mp_obj_decref(o);
			return;
		}
	}
}

static void interop(int minor)
{
	struct mpt_py py;
	struct mpt_pyproc pp;
	char path[] = "/tmp/mpt_pickle_XXXXXX", line[64];
	if (!mpt_python_find(minor, &py)) {
		MPT_SKIP("no python3.N found");
		return;
	}
	int fd = mkstemp(path);
	CU_ASSERT_FATAL(fd >= 0);
	close(fd);
	const char *args[] = { path, NULL };
	MPT_OK(mpt_py_start(&py, py_values, args, &pp));
	pp.deadline = mp_sys_now_ns() + MP_SEC(60);
	int ok = mpt_py_line(&pp, "OK", line, sizeof(line));
	int st = mpt_py_finish(&pp);
	if (ok || st) {
		fprintf(stderr, "python: %s\n", pp.buf);
		CU_FAIL("python did not write its pickles");
		unlink(path);
		return;
	}
	FILE *f = fopen(path, "rb");
	unlink(path);
	CU_ASSERT_PTR_NOT_NULL_FATAL(f);
	int checked = 0;
	for (;;) {
		char name[32];
		int c, i = 0;
		while ((c = fgetc(f)) > 0 && i < 31)
			name[i++] = (char)c;
		if (c < 0)
			break;
		name[i] = 0;
		int proto = fgetc(f);
		uint64_t len;
		if (fread(&len, 8, 1, f) != 1)
			break;
		uint8_t *buf = malloc(len);
		CU_ASSERT_FATAL(buf && fread(buf, 1, len, f) == len);
		mp_obj_t *want = NULL;
		for (size_t k = 0; k < sizeof(expect) / sizeof(expect[0]); k++)
			if (!strcmp(expect[k].name, name))
				want = expect[k].make();
		CU_ASSERT_PTR_NOT_NULL(want);
		int err = 0;
		mp_pickle_diag_t d = { 0 };
		mp_obj_t *got = mp_pickle_loads(buf, len, NULL, &d, &err);
		char what[64];
		snprintf(what, sizeof(what), "3.%d %s protocol %d", minor, name,
		         proto);
		if (!got)
			fprintf(stderr, "\n%s: %s @%zu: %s\n", what,
			        mp_strerror(err), d.offset, d.msg);
		CU_ASSERT(got && (!strcmp(name, "nan") || same(got, want, what)));
		if (got)
			check_extra(name, got);
		if (len < 4096)
			check_prefixes(buf, len, name, proto);
		mp_obj_decref(got);
		mp_obj_decref(want);
		free(buf);
		checked++;
	}
	fclose(f);
	MPT_EQ(checked, 21 * 4 + 1);
}

static void test_py311(void) { interop(11); }
static void test_py312(void) { interop(12); }
static void test_py313(void) { interop(13); }

/* ---- without Python: pickles CPython wrote, kept as bytes ---------------- */

/* pickle.dumps({'a': [1, 2.5, None], 'b': (b'x', 'y'), 'c': {3}}, 4) */
static const uint8_t p4_dict[] =
	"\x80\x04\x95\x31\x00\x00\x00\x00\x00\x00\x00\x7d\x94\x28\x8c\x01"
	"\x61\x94\x5d\x94\x28\x4b\x01\x47\x40\x04\x00\x00\x00\x00\x00\x00"
	"\x4e\x65\x8c\x01\x62\x94\x43\x01\x78\x94\x8c\x01\x79\x94\x86\x94"
	"\x8c\x01\x63\x94\x8f\x94\x28\x4b\x03\x90\x75\x2e";

static mp_obj_t *p4_dict_value(void)
{
	mp_obj_t *d = mp_obj_dict();
	mp_obj_dict_set(d, S("a"), L(3, mp_obj_int(1), mp_obj_float(2.5),
	                             mp_obj_none()));
	mp_obj_dict_set(d, S("b"), T(2, B("x", 1), S("y")));
	mp_obj_dict_set(d, S("c"), SET(false, 1, mp_obj_int(3)));
	return d;
}

static void test_embedded(void)
{
	int err = 0;
	mp_obj_t *want = p4_dict_value();
	mp_obj_t *got = mp_pickle_loads(p4_dict, sizeof(p4_dict) - 1, NULL,
	                                NULL, &err);
	MPT_EQ(err, 0);
	CU_ASSERT(same(got, want, "p4_dict"));
	mp_obj_decref(got);
	mp_obj_decref(want);
	check_prefixes(p4_dict, sizeof(p4_dict) - 1, "p4_dict", 4);
	/* trailing bytes after STOP */
	uint8_t more[sizeof(p4_dict) + 1];
	memcpy(more, p4_dict, sizeof(p4_dict) - 1);
	more[sizeof(p4_dict) - 1] = '.';
	LOAD_ERR(more, sizeof(p4_dict), 0, -MP_EPICKLE);
	more[sizeof(p4_dict) - 1] = 0;
	LOAD_ERR(more, sizeof(p4_dict), 0, -MP_EPICKLE);
}

/* 100 MiB of bytes in one BINBYTES8, and of bytearray in BYTEARRAY8. */
static void test_huge_bytes(void)
{
	size_t n = (size_t)100 << 20;
	uint8_t *p = malloc(n + 32);
	CU_ASSERT_FATAL(p != NULL);
	memcpy(p, "\x80\x05\x8e", 3);
	uint64_t len = n;
	memcpy(p + 3, &len, 8);
	memset(p + 11, 0xab, n);
	p[11 + n] = '.';
	int err = 0;
	mp_obj_t *o = mp_pickle_loads(p, n + 12, NULL, NULL, &err);
	MPT_EQ(err, 0);
	MPT_EQ(mp_obj_kind(o), MP_OBJ_BYTES);
	MPT_EQ(mp_obj_len(o), n);
	size_t got;
	const char *d = mp_obj_data(o, &got);
	CU_ASSERT(d && (uint8_t)d[0] == 0xab && (uint8_t)d[n - 1] == 0xab);
	mp_obj_decref(o);
	p[2] = P_BYTEARRAY8;
	o = mp_pickle_loads(p, n + 12, NULL, NULL, &err);
	MPT_EQ(mp_obj_kind(o), MP_OBJ_BYTEARRAY);
	mp_obj_decref(o);
	free(p);
}

/* ---- hostile inputs ------------------------------------------------------ */

#define PK(s) (const uint8_t *)(s), sizeof(s) - 1

static void test_refused_calls(void)
{
	/* os.system('ls') by GLOBAL + REDUCE (protocol 2) and STACK_GLOBAL */
	static const char g2[] = "\x80\x02" "cos\nsystem\n" "X\x02\x00\x00\x00"
	                         "ls\x85R.";
	static const char g4[] = "\x80\x04\x8c\x02os\x8c\x06system\x93"
	                         "\x8c\x02ls\x85R.";
	int err = 0;
	mp_pickle_diag_t d;
	mp_obj_t *o = load(PK(g2), 0, &err, &d);
	CU_ASSERT_PTR_NULL(o);
	MPT_ERR(err, -MP_EREFUSED);
	MPT_EQ(d.offset, 2);
	MPT_EQ(d.opcode, P_GLOBAL);
	CU_ASSERT(strstr(d.msg, "os.system") != NULL);
	LOAD_ERR(PK(g4), 0, -MP_EREFUSED);
	/* kept as data with MP_PICKLE_INERT, and never called */
	const char *const inert[] = { g2, g4 };
	const size_t ilen[] = { sizeof(g2) - 1, sizeof(g4) - 1 };
	for (int i = 0; i < 2; i++) {
		o = load(inert[i], ilen[i], MP_PICKLE_INERT, &err, NULL);
		MPT_EQ(mp_obj_kind(o), MP_OBJ_INERT);
		CU_ASSERT(o && !strcmp(mp_obj_inert_module(o), "os") &&
		          !strcmp(mp_obj_inert_name(o), "system"));
		mp_obj_t *a = T(1, S("ls"));
		CU_ASSERT(same(mp_obj_inert_args(o), a, "args"));
		mp_obj_decref(a);
		mp_obj_decref(o);
	}
	/* a table name called with other arguments */
	LOAD_ERR(PK("\x80\x02" "c_codecs\nencode\n" "X\x01\x00\x00\x00x"
	            "X\x05\x00\x00\x00utf-8\x86R."), 0, -MP_EREFUSED);
	/* a bare global, even of the table, is not data */
	LOAD_ERR(PK("\x80\x02" "cbuiltins\nKeyError\n."), 0, -MP_EREFUSED);
	LOAD_ERR(PK("\x80\x02" "]cbuiltins\nset\na."), 0, -MP_EREFUSED);
	o = load(PK("\x80\x02" "cbuiltins\nKeyError\n."), MP_PICKLE_INERT,
	         &err, NULL);
	MPT_EQ(mp_obj_kind(o), MP_OBJ_INERT);
	mp_obj_decref(o);
	/* INST, OBJ, EXT, persistent ids, out-of-band buffers */
	LOAD_ERR(PK("\x80\x02(ios\nsystem\nX\x02\x00\x00\x00ls."), 0,
	         -MP_EREFUSED);
	LOAD_ERR(PK("\x80\x02(cos\nsystem\no."), MP_PICKLE_INERT,
	         -MP_EREFUSED);
	LOAD_ERR(PK("\x80\x02\x82\x01."), 0, -MP_EREFUSED);
	LOAD_ERR(PK("\x80\x02\x83\x01\x00."), 0, -MP_EREFUSED);
	LOAD_ERR(PK("\x80\x02\x84\x01\x00\x00\x00."), 0, -MP_EREFUSED);
	LOAD_ERR(PK("\x80\x02Pfoo\n."), 0, -MP_EREFUSED);
	LOAD_ERR(PK("\x80\x02K\x01Q."), 0, -MP_EREFUSED);
	LOAD_ERR(PK("\x80\x05\x97."), MP_PICKLE_INERT, -MP_EREFUSED);
	LOAD_ERR(PK("\x80\x05\x98."), 0, -MP_EREFUSED);
	/* text opcodes, unknown ones, protocols out of range */
	LOAD_ERR(PK("I1\n."), 0, -MP_EPICKLE);
	LOAD_ERR(PK("\x80\x02" "F1.5\n."), 0, -MP_EPICKLE);
	LOAD_ERR(PK("\x80\x02" "S'a'\n."), 0, -MP_EPICKLE);
	LOAD_ERR(PK("\x80\x02" "Vabc\n."), 0, -MP_EPICKLE);
	LOAD_ERR(PK("\x80\x02" "N" "p0\n."), 0, -MP_EPICKLE);
	LOAD_ERR(PK("\x80\x02\xff."), 0, -MP_EPICKLE);
	LOAD_ERR(PK("\x80\x06N."), 0, -MP_EPICKLE);
	LOAD_ERR(PK("\x80\x01N."), 0, -MP_EPICKLE);
	LOAD_ERR(PK(""), 0, -MP_EPICKLE);
	LOAD_ERR(PK("\x80\x02N"), 0, -MP_EPICKLE);
	LOAD_ERR(PK("\x80\x02NN."), 0, -MP_EPICKLE);
	LOAD_ERR(NULL, 1, 0, -EINVAL);
	mp_pickle_opts_t bad = { .max_depth = MP_OBJ_MAX_DEPTH + 1 };
	CU_ASSERT_PTR_NULL(mp_pickle_loads("N.", 2, &bad, NULL, &err));
	MPT_ERR(err, -EINVAL);
}

static void test_strings(void)
{
	int err = 0;
	/* protocol 2's str8: ASCII, or an error */
	mp_obj_t *o = load(PK("\x80\x02U\x03" "abc."), 0, &err, NULL);
	CU_ASSERT(mp_obj_str_eq(o, "abc"));
	mp_obj_decref(o);
	o = load(PK("\x80\x02T\x01\x00\x00\x00z."), 0, &err, NULL);
	CU_ASSERT(mp_obj_str_eq(o, "z"));
	mp_obj_decref(o);
	LOAD_ERR(PK("\x80\x02U\x01\xe9."), 0, -MP_EPICKLE);
	LOAD_ERR(PK("\x80\x02T\xff\xff\xff\xff."), 0, -MP_EPICKLE);
	/* invalid UTF-8 */
	LOAD_ERR(PK("\x80\x04\x8c\x01\xff."), 0, -MP_EPICKLE);
	LOAD_ERR(PK("\x80\x04\x8c\x02\xc0\x80."), 0, -MP_EPICKLE);
	/* protocol 2's bytes: latin-1 through _codecs.encode */
	o = load(PK("\x80\x02" "c_codecs\nencode\n" "X\x04\x00\x00\x00\xc3\xbf"
	            "\xc2\x80X\x06\x00\x00\x00latin1\x86R."), 0, &err, NULL);
	CU_ASSERT(o && mp_obj_kind(o) == MP_OBJ_BYTES &&
	          mp_obj_len(o) == 2 && !memcmp(mp_obj_data(o, NULL) ?
	          mp_obj_data(o, &(size_t){ 0 }) : "", "\xff\x80", 2));
	mp_obj_decref(o);
	LOAD_ERR(PK("\x80\x02" "c_codecs\nencode\n" "X\x02\x00\x00\x00\xc4\x80"
	            "X\x06\x00\x00\x00latin1\x86R."), 0, -MP_EPICKLE);
}

/* Lengths past the input: refused before anything is allocated (the
 * address space limit would turn an attempt into -ENOMEM). */
static void test_lengths(void)
{
	struct rlimit old, lim;
	getrlimit(RLIMIT_AS, &old);
	bool sanitized = false;
#if defined(__SANITIZE_ADDRESS__)
	sanitized = true;
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
	sanitized = true;
#endif
#endif
	lim = old;
	lim.rlim_cur = (rlim_t)2 << 30;
	if (!sanitized)
		setrlimit(RLIMIT_AS, &lim);
	LOAD_ERR(PK("\x80\x04\x8e\x00\x00\x00\x00\x01\x00\x00\x00xx."), 0,
	         -MP_EPICKLE); /* BINBYTES8 of 4 GiB */
	LOAD_ERR(PK("\x80\x04\x8e\xff\xff\xff\xff\xff\xff\xff\xffxx."), 0,
	         -MP_EPICKLE);
	LOAD_ERR(PK("\x80\x04\x8d\x00\x00\x00\x00\x01\x00\x00\x00xx."), 0,
	         -MP_EPICKLE);
	LOAD_ERR(PK("\x80\x05\x96\x00\x00\x00\x00\x01\x00\x00\x00xx."), 0,
	         -MP_EPICKLE);
	LOAD_ERR(PK("\x80\x03" "B\xff\xff\xff\xff."), 0, -MP_EPICKLE);
	LOAD_ERR(PK("\x80\x03X\xff\xff\xff\xff."), 0, -MP_EPICKLE);
	LOAD_ERR(PK("\x80\x02\x8b\xff\xff\xff\x7f."), 0, -MP_EPICKLE);
	LOAD_ERR(PK("\x80\x02\x8b\xff\xff\xff\xff."), 0, -MP_EPICKLE);
	LOAD_ERR(PK("\x80\x04\x95\x00\x00\x00\x00\x01\x00\x00\x00N."), 0,
	         -MP_EPICKLE); /* FRAME */
	/* memo indices no pickle of this length fills */
	LOAD_ERR(PK("\x80\x02Nr\x00\xff\xff\x00."), 0, -MP_EPICKLE);
	LOAD_ERR(PK("\x80\x02Nr\xff\xff\xff\xff."), 0, -MP_ELIMIT);
	LOAD_ERR(PK("\x80\x02Nj\xff\xff\xff\x0f."), 0, -MP_EPICKLE);
	LOAD_ERR(PK("\x80\x02h\x00."), 0, -MP_EPICKLE);
	if (!sanitized)
		setrlimit(RLIMIT_AS, &old);
}

static uint8_t *repeat(const char *head, const char *unit, size_t times,
                       const char *tail, size_t *len)
{
	size_t h = strlen(head), u = strlen(unit), t = strlen(tail);
	uint8_t *p = malloc(h + u * times + t);
	memcpy(p, head, h);
	for (size_t i = 0; i < times; i++)
		memcpy(p + h + u * i, unit, u);
	memcpy(p + h + u * times, tail, t);
	*len = h + u * times + t;
	return p;
}

static void test_nesting(void)
{
	size_t n;
	int64_t t0 = mp_sys_now_ns();
	/* 10^6 MARKs, left open */
	uint8_t *p = repeat("\x80\x04", "(", 1000000, "N.", &n);
	LOAD_ERR(p, n, 0, -MP_EPICKLE);
	free(p);
	/* 10^6 MARKs, each a list: [[[...]]] past max_depth */
	p = repeat("\x80\x04", "(", 1000000, "", &n);
	uint8_t *q = realloc(p, n + 1000000 + 1);
	memset(q + n, 'l', 1000000);
	q[n + 1000000] = '.';
	LOAD_ERR(q, n + 1000001, 0, -MP_ELIMIT);
	free(q);
	/* 10^6 nested lists by EMPTY_LIST and APPEND */
	p = repeat("\x80\x04", "]", 1000000, "", &n);
	q = realloc(p, n + 1000000);
	memset(q + n, 'a', 999999);
	q[n + 999999] = '.';
	LOAD_ERR(q, n + 1000000, 0, -MP_ELIMIT);
	/* ... and just within a depth limit, and one past it */
	mp_pickle_opts_t o = { .max_depth = 100 };
	int err;
	for (int depth = 100; depth <= 101; depth++) {
		size_t m = 2;
		for (int i = 0; i < depth; i++)
			q[m++] = ']';
		for (int i = 0; i < depth - 1; i++)
			q[m++] = 'a';
		q[m++] = '.';
		mp_obj_t *v = mp_pickle_loads(q, m, &o, NULL, &err);
		MPT_EQ(err, depth == 100 ? 0 : -MP_ELIMIT);
		mp_obj_decref(v);
	}
	free(q);
	MPT_CMP(mp_sys_now_ns() - t0, <, MP_SEC(5));
}

static void test_memo_bomb(void)
{
	/* L0 = [], Li = [L(i-1), L(i-1)]: 2^100 leaves if copied, 101 lists
	 * when shared */
	uint8_t buf[4096];
	size_t n = 0;
	memcpy(buf, "\x80\x02]q\x00" "0", 6);
	n = 6;
	for (int i = 1; i <= 100; i++) {
		buf[n++] = '(';
		buf[n++] = 'h';
		buf[n++] = (uint8_t)(i - 1);
		buf[n++] = 'h';
		buf[n++] = (uint8_t)(i - 1);
		buf[n++] = 'l';
		buf[n++] = 'q';
		buf[n++] = (uint8_t)i;
		buf[n++] = '0';
	}
	buf[n++] = 'h';
	buf[n++] = 100;
	buf[n++] = '.';
	int err;
	int64_t t0 = mp_sys_now_ns();
	mp_obj_t *o = mp_pickle_loads(buf, n, NULL, NULL, &err);
	MPT_EQ(err, 0);
	CU_ASSERT_PTR_EQUAL(mp_obj_item(o, 0), mp_obj_item(o, 1));
	mp_obj_decref(o);
	MPT_CMP(mp_sys_now_ns() - t0, <, MP_SEC(1));
	/* and a node count limit stops a wide one */
	mp_pickle_opts_t lim = { .max_nodes = 1000 };
	size_t len;
	uint8_t *p = repeat("\x80\x04]\x94(", "h\x00", 5000, "e.", &len);
	o = mp_pickle_loads(p, len, &lim, NULL, &err);
	CU_ASSERT_PTR_NULL(o);
	free(p);
}

static void test_cycles(void)
{
	/* l = []; l.append(l) */
	LOAD_ERR(PK("\x80\x04\x95\x06\x00\x00\x00\x00\x00\x00\x00]\x94h\x00"
	            "a."), 0, -MP_EPICKLE);
	/* a = []; b = [a]; a.append(b) (pickle.dumps(a, 2)) */
	LOAD_ERR(PK("\x80\x02]q\x00]q\x01h\x00" "aaa."), 0, -MP_EPICKLE);
	/* d = {}; d['d'] = d */
	LOAD_ERR(PK("\x80\x02}q\x00X\x01\x00\x00\x00" "dh\x00s."), 0,
	         -MP_EPICKLE);
	/* a set in itself, by ADDITEMS */
	LOAD_ERR(PK("\x80\x04\x8f\x94(h\x00\x90."), 0, -MP_EPICKLE);
	int err;
	mp_pickle_diag_t d;
	CU_ASSERT_PTR_NULL(load(PK("\x80\x02]q\x00]q\x01h\x00" "aaa."), 0,
	                        &err, &d));
	CU_ASSERT(strstr(d.msg, "cycle") != NULL);
	/* unhashable keys */
	LOAD_ERR(PK("\x80\x02}]Ns."), 0, -MP_EPICKLE);
}

static void test_stack_rules(void)
{
	LOAD_ERR(PK("\x80\x02" "a."), 0, -MP_EPICKLE);
	LOAD_ERR(PK("\x80\x02" "]K\x01(a."), 0, -MP_EPICKLE); /* fence */
	LOAD_ERR(PK("\x80\x02" "e."), 0, -MP_EPICKLE);
	LOAD_ERR(PK("\x80\x02" "(e."), 0, -MP_EPICKLE);
	LOAD_ERR(PK("\x80\x02" "K\x01K\x02" "a."), 0, -MP_EPICKLE);
	LOAD_ERR(PK("\x80\x02" "}(K\x01u."), 0, -MP_EPICKLE);
	LOAD_ERR(PK("\x80\x02" "t."), 0, -MP_EPICKLE);
	LOAD_ERR(PK("\x80\x02" "K\x01\x86."), 0, -MP_EPICKLE);
	LOAD_ERR(PK("\x80\x02" "0."), 0, -MP_EPICKLE);
	LOAD_ERR(PK("\x80\x02" "1."), 0, -MP_EPICKLE);
	LOAD_ERR(PK("\x80\x02" "K\x01R."), 0, -MP_EPICKLE);
	LOAD_ERR(PK("\x80\x02" "K\x01K\x01R."), MP_PICKLE_INERT,
	         -MP_EREFUSED);
	LOAD_ERR(PK("\x80\x04" "K\x01K\x01\x93."), 0, -MP_EPICKLE);
	LOAD_ERR(PK("\x80\x02" "NNb."), 0, -MP_EPICKLE);
	/* POP with nothing above the mark pops the mark, as Python does */
	int err;
	mp_obj_t *o = load(PK("\x80\x02K\x07(0."), 0, &err, NULL);
	int64_t v = 0;
	MPT_OK(mp_obj_int_value(o, &v));
	MPT_EQ(v, 7);
	mp_obj_decref(o);
	/* DUP, POP_MARK, LIST, DICT, TUPLE from a mark */
	o = load(PK("\x80\x02(K\x01K\x02\x32l(N1(K\x03K\x04" "d(t\x87."), 0,
	         &err, NULL);
	mp_obj_t *d = mp_obj_dict();
	mp_obj_dict_set(d, mp_obj_int(3), mp_obj_int(4));
	mp_obj_t *want = T(3, L(3, mp_obj_int(1), mp_obj_int(2),
	                        mp_obj_int(2)), d, T(0));
	CU_ASSERT(same(o, want, "mark ops"));
	mp_obj_decref(o);
	mp_obj_decref(want);
}

static void test_exc_state(void)
{
	/* KeyError('n') with a note (protocol 4) */
	static const char p[] =
		"\x80\x04\x8c\x08" "builtins\x8c\x08KeyError\x93\x8c\x01n\x85R"
		"\x94}\x8c\x09__notes__]\x8c\x04note\x61sb.";
	int err;
	mp_pickle_diag_t d;
	CU_ASSERT_PTR_NULL(load(PK(p), 0, &err, &d));
	MPT_ERR(err, -MP_EREFUSED);
	CU_ASSERT(strstr(d.msg, "KeyError") != NULL);
	mp_obj_t *o = load(PK(p), MP_PICKLE_INERT, &err, &d);
	if (!o)
		fprintf(stderr, "%s\n", d.msg);
	MPT_EQ(mp_obj_kind(o), MP_OBJ_INERT);
	CU_ASSERT(o && mp_obj_str_eq(mp_obj_item(mp_obj_inert_args(o), 0),
	                             "n"));
	CU_ASSERT(o && mp_obj_dict_get_str(mp_obj_inert_state(o),
	                                   "__notes__") != NULL);
	mp_obj_decref(o);
	/* a state too deep is refused before anything is made for it (a
	 * global that leaked once, found by fuzz_pickle) */
	mp_pickle_opts_t shallow = { .flags = MP_PICKLE_INERT, .max_depth = 2 };
	CU_ASSERT_PTR_NULL(mp_pickle_loads(
		PK("\x80\x04\x8c\x08" "builtins\x8c\x08KeyError\x93)R"
		   "]]\x61" "b."), &shallow, NULL, &err));
	MPT_ERR(err, -MP_ELIMIT);
	/* an empty state keeps the exception */
	o = load(PK("\x80\x04\x8c\x08" "builtins\x8c\x08KeyError\x93)R}b."),
	         0, &err, NULL);
	MPT_EQ(mp_obj_kind(o), MP_OBJ_EXC);
	mp_obj_decref(o);
	/* state for something already handed out through the memo */
	LOAD_ERR(PK("\x80\x04\x8c\x01m\x8c\x01n\x93)R\x94h\x00}\x8c\x01x"
	            "K\x01sb\x86."), MP_PICKLE_INERT, -MP_EPICKLE);
	/* a class instance: NEWOBJ + BUILD, kept inert, the memo updated */
	o = load(PK("\x80\x04\x8c\x01m\x8c\x01" "C\x93)\x81\x94}\x8c\x01x"
	            "K\x01sb0h\x00."), MP_PICKLE_INERT, &err, NULL);
	MPT_EQ(err, 0);
	CU_ASSERT(o && mp_obj_inert_state(o) != NULL);
	mp_obj_decref(o);
}

static void test_limits(void)
{
	int err;
	mp_pickle_opts_t o = { .max_int_bytes = 4 };
	CU_ASSERT_PTR_NULL(mp_pickle_loads(
		PK("\x80\x02\x8a\x05\x01\x02\x03\x04\x05."), &o, NULL, &err));
	MPT_ERR(err, -MP_ELIMIT);
	o = (mp_pickle_opts_t){ .max_memo = 2 };
	CU_ASSERT_PTR_NULL(mp_pickle_loads(PK("\x80\x04N\x94\x94\x94."), &o,
	                                   NULL, &err));
	MPT_ERR(err, -MP_ELIMIT);
	o = (mp_pickle_opts_t){ .max_nodes = 3 };
	CU_ASSERT_PTR_NULL(mp_pickle_loads(PK("\x80\x04(NNNNt."), &o, NULL,
	                                   &err));
	MPT_ERR(err, -MP_ELIMIT);
	mp_obj_t *v = mp_pickle_loads(PK("\x80\x04(NNt."), &o, NULL, &err);
	MPT_EQ(err, 0);
	mp_obj_decref(v);
}

int main(void)
{
	static CU_TestInfo tests[] = {
		{ "embedded pickle, cut at every offset, bytes after STOP",
		  test_embedded },
		{ "100 MiB bytes and bytearray", test_huge_bytes },
		{ "refused: globals, calls, INST, EXT, buffers, text opcodes",
		  test_refused_calls },
		{ "str8 as ASCII, UTF-8 checked, latin-1 bytes", test_strings },
		{ "lengths past the input", test_lengths },
		{ "10^6 marks and nested lists", test_nesting },
		{ "memo bomb shares", test_memo_bomb },
		{ "cycles through the memo", test_cycles },
		{ "stack and mark rules", test_stack_rules },
		{ "exception state, BUILD", test_exc_state },
		{ "limits", test_limits },
		{ "interop python 3.11: every kind, protocols 2-5", test_py311 },
		{ "interop python 3.12: every kind, protocols 2-5", test_py312 },
		{ "interop python 3.13: every kind, protocols 2-5", test_py313 },
		CU_TEST_INFO_NULL,
	};
	return mpt_main("pickle_load", tests);
}
