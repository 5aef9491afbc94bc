/*
 * test_obj_io.c - values over connections and queues (Python's
 * Connection.send/recv, Queue.put/get): C to C between processes over
 * pipes, queues and authenticated listeners; messages that do not decode;
 * and CPython 3.11-3.13 as the peer, over an inherited socket and through
 * Listener/Client both ways, with values of every kind.
 */
#include "pyutil.h"

#include <math.h>
#include <sys/socket.h>

static const char key[] = "obj key";

/* ---- values ---------------------------------------------------------------- */

static int e_; /* constructors' err, when a test does not look at it */

static mp_obj_t *S(const char *s)
{
	return mp_obj_cstr(s, &e_);
}

static void put(mp_obj_t *d, const char *k, mp_obj_t *v)
{
	MPT_OK(mp_obj_dict_set(d, S(k), v));
}

static mp_obj_t *tuple3(mp_obj_t *a, mp_obj_t *b, mp_obj_t *c)
{
	mp_obj_t *items[] = { a, b, c };
	return mp_obj_tuple(c ? 3 : b ? 2 : a ? 1 : 0, items);
}

/*
 * A value of every kind, as the Python peer's expected() builds it (keep
 * the two in step).  No str appears twice, so nothing is shared.
 */
static mp_obj_t *sample(void)
{
	static const uint8_t two100[13] = { [12] = 0x10 };      /* 2**100 */
	static const uint8_t neg70[9] = { [8] = 0xc0 };         /* -2**70 */
	uint8_t blob[512];
	char longs[301];
	mp_obj_t *d = mp_obj_dict(), *l, *inner, *s;

	for (size_t i = 0; i < sizeof(blob); i++)
		blob[i] = (uint8_t)i;
	memset(longs, 'L', 300);
	longs[300] = 0;
	put(d, "none", mp_obj_none());
	put(d, "t", mp_obj_bool(true));
	put(d, "f", mp_obj_bool(false));
	put(d, "small", mp_obj_int(7));
	put(d, "neg", mp_obj_int(-1234567));
	put(d, "i64", mp_obj_int(INT64_MIN));
	put(d, "u64", mp_obj_uint(UINT64_MAX));
	put(d, "big", mp_obj_int_bytes(two100, sizeof(two100), &e_));
	put(d, "negbig", mp_obj_int_bytes(neg70, sizeof(neg70), &e_));
	put(d, "float", mp_obj_float(2.25));
	put(d, "negzero", mp_obj_float(-0.0));
	put(d, "inf", mp_obj_float(INFINITY));
	put(d, "bytes", mp_obj_bytes("\0\xff" "ab", 4));
	put(d, "bytearray", mp_obj_bytearray("ba", 2));
	put(d, "str", S("h\xc3\xa9llo \xe2\x9c\x93 \xf0\x9d\x84\x9e"));
	put(d, "surrogate", mp_obj_str("\xed\xa0\x80x", 4, &e_)); /* \ud800 */
	put(d, "long", S(longs));
	put(d, "blob", mp_obj_bytes(blob, sizeof(blob)));
	put(d, "tuple", tuple3(mp_obj_int(1), S("two"), mp_obj_float(3.0)));
	put(d, "empty", mp_obj_tuple(0, NULL));
	/* [[], [1, [2, [3]]], {}] */
	l = mp_obj_list();
	MPT_OK(mp_obj_list_append(l, mp_obj_list()));
	inner = mp_obj_list();
	MPT_OK(mp_obj_list_append(inner, mp_obj_int(3)));
	mp_obj_t *mid = mp_obj_list();
	MPT_OK(mp_obj_list_append(mid, mp_obj_int(2)));
	MPT_OK(mp_obj_list_append(mid, inner));
	inner = mp_obj_list();
	MPT_OK(mp_obj_list_append(inner, mp_obj_int(1)));
	MPT_OK(mp_obj_list_append(inner, mid));
	MPT_OK(mp_obj_list_append(l, inner));
	MPT_OK(mp_obj_list_append(l, mp_obj_dict()));
	put(d, "list", l);
	/* {1: 'one', 'k2': b'v', (4, 5): None} */
	inner = mp_obj_dict();
	MPT_OK(mp_obj_dict_set(inner, mp_obj_int(1), S("one")));
	MPT_OK(mp_obj_dict_set(inner, S("k2"), mp_obj_bytes("v", 1)));
	MPT_OK(mp_obj_dict_set(inner, tuple3(mp_obj_int(4), mp_obj_int(5),
	                                     NULL), mp_obj_none()));
	put(d, "dict", inner);
	s = mp_obj_set(false);
	MPT_OK(mp_obj_set_add(s, mp_obj_int(10)));
	MPT_OK(mp_obj_set_add(s, S("elem")));
	put(d, "set", s);
	s = mp_obj_set(true);
	MPT_OK(mp_obj_set_add(s, mp_obj_int(20)));
	put(d, "frozen", s);
	put(d, "exc", mp_obj_exc("builtins.KeyError",
	                         tuple3(S("missing"), NULL, NULL), &e_));
	put(d, "exc2", mp_obj_exc("builtins.ValueError",
	                          tuple3(S("bad"), mp_obj_int(3), NULL), &e_));
	put(d, "func", mp_obj_global("__main__", "f", &e_));
	return d;
}

/* Plain data, no str twice: CPython pickles it to the same bytes. */
static mp_obj_t *plain(void)
{
	static const uint8_t two70[9] = { [8] = 0x40 };
	mp_obj_t *l = mp_obj_list(), *d = mp_obj_dict(), *in = mp_obj_list();
	MPT_OK(mp_obj_list_append(l, mp_obj_int(1)));
	MPT_OK(mp_obj_list_append(l, mp_obj_float(2.5)));
	MPT_OK(mp_obj_list_append(l, S("abc")));
	MPT_OK(mp_obj_list_append(l, mp_obj_bytes("xyz", 3)));
	MPT_OK(mp_obj_list_append(l, tuple3(mp_obj_none(), mp_obj_bool(true),
	                                    NULL)));
	MPT_OK(mp_obj_list_append(in, mp_obj_int(3)));
	MPT_OK(mp_obj_list_append(in, mp_obj_int(-4)));
	MPT_OK(mp_obj_dict_set(d, S("k"), in));
	MPT_OK(mp_obj_list_append(l, d));
	MPT_OK(mp_obj_list_append(l, mp_obj_int_bytes(two70, 9, &e_)));
	return l;
}

/* Deeply equal and of the same kinds all the way down (mp_obj_equal says
 * 1 == 1.0 == True; this does not), floats bit for bit. */
static bool same(const mp_obj_t *a, const mp_obj_t *b)
{
	mp_obj_kind_t k = mp_obj_kind(a);
	if (!a || !b || k != mp_obj_kind(b))
		return a == b;
	switch (k) {
	case MP_OBJ_FLOAT: {
		double x = mp_obj_float_value(a), y = mp_obj_float_value(b);
		return memcmp(&x, &y, sizeof(x)) == 0;
	}
	case MP_OBJ_TUPLE:
	case MP_OBJ_LIST:
		if (mp_obj_len(a) != mp_obj_len(b))
			return false;
		for (size_t i = 0; i < (size_t)mp_obj_len(a); i++)
			if (!same(mp_obj_item(a, i), mp_obj_item(b, i)))
				return false;
		return true;
	case MP_OBJ_DICT:
		if (mp_obj_len(a) != mp_obj_len(b))
			return false;
		for (size_t i = 0; i < (size_t)mp_obj_len(a); i++) {
			mp_obj_t *ka, *va, *kb, *vb;
			if (mp_obj_dict_entry(a, i, &ka, &va) < 0 ||
			    mp_obj_dict_entry(b, i, &kb, &vb) < 0 ||
			    !same(ka, kb) || !same(va, vb))
				return false;
		}
		return true;
	case MP_OBJ_SET:
	case MP_OBJ_FROZENSET: /* as Python: order is not part of it */
		if (mp_obj_len(a) != mp_obj_len(b))
			return false;
		for (size_t i = 0; i < (size_t)mp_obj_len(a); i++)
			if (!mp_obj_set_contains(b, mp_obj_set_item(a, i)))
				return false;
		return true;
	case MP_OBJ_EXC:
		return !strcmp(mp_obj_exc_type(a), mp_obj_exc_type(b)) &&
		       same(mp_obj_exc_args(a), mp_obj_exc_args(b));
	case MP_OBJ_INERT:
		return !strcmp(mp_obj_inert_module(a), mp_obj_inert_module(b)) &&
		       !strcmp(mp_obj_inert_name(a), mp_obj_inert_name(b)) &&
		       same(mp_obj_inert_args(a), mp_obj_inert_args(b)) &&
		       same(mp_obj_inert_state(a), mp_obj_inert_state(b));
	default:
		return mp_obj_equal(a, b);
	}
}

/* Assert same(), printing both when they differ; releases got. */
#define MPT_SAME(got, want) mpt_same((got), (want), #got, __LINE__)
static void mpt_same(mp_obj_t *got, const mp_obj_t *want, const char *what,
                     int line)
{
	char m[2048];
	bool ok = same(got, want);
	if (!ok) {
		char *g = mp_obj_repr(got, NULL), *w = mp_obj_repr(want, NULL);
		snprintf(m, sizeof(m), "%s: got %.900s, want %.900s", what,
		         g ? g : "NULL", w ? w : "NULL");
		free(g);
		free(w);
	}
	CU_assertImplementation(ok, (unsigned)line, ok ? what : m, __FILE__,
	                        "", CU_FALSE);
	mp_obj_decref(got);
}

static const mp_pickle_opts_t inert = { .flags = MP_PICKLE_INERT };

/* recv_obj that must succeed (with MP_PICKLE_INERT). */
static mp_obj_t *recv_ok(mp_conn_t *c)
{
	int err = 0;
	mp_obj_t *o = mp_conn_recv_obj(c, &inert, TEST_WAIT_NS, &err);
	MPT_OK(err);
	return o;
}

/* A list of n nested lists, n deep: [[[...]]]. */
static mp_obj_t *nested(int n)
{
	mp_obj_t *o = mp_obj_list();
	for (int i = 1; i < n; i++) {
		mp_obj_t *up = mp_obj_list();
		MPT_OK(mp_obj_list_append(up, o));
		o = up;
	}
	return o;
}

static mp_obj_t *big_bytes(size_t n)
{
	uint8_t *p = malloc(n);
	for (size_t i = 0; i < n; i++)
		p[i] = (uint8_t)(i * 7);
	mp_obj_t *o = mp_obj_bytes(p, n);
	free(p);
	return o;
}

static mp_obj_t *int_list(int n)
{
	mp_obj_t *l = mp_obj_list();
	for (int i = 0; i < n; i++)
		MPT_OK(mp_obj_list_append(l, mp_obj_int((int64_t)i * 1000003)));
	return l;
}

/* ---- C to C over pipes ------------------------------------------------------- */

struct ends {
	mp_conn_t *in, *out;
	bool readahead;
};

/* The peer: receive sample, big values; answer each with what it got and
 * a value of its own ("from child", n).  Exit code says what failed. */
static int echo_child(void *arg)
{
	struct ends *e = arg;
	mp_obj_t *want = sample();
	int err = 0;
	if (e->readahead)
		mp_conn_set_readahead(e->in, MP_CONN_READAHEAD_DEFAULT);
	for (int n = 0; n < 4; n++) {
		mp_obj_t *o = mp_conn_recv_obj(e->in, &inert, TEST_WAIT_NS, &err);
		if (!o)
			return 10 + n;
		if (n == 0 && !same(o, want))
			return 20;
		if (mp_conn_send_obj(e->out, o, TEST_WAIT_NS) < 0)
			return 30 + n;
		mp_obj_decref(o);
		mp_obj_t *mine = tuple3(S("from child"), mp_obj_int(n), NULL);
		if (mp_conn_send_obj(e->out, mine, TEST_WAIT_NS) < 0)
			return 40 + n;
		mp_obj_decref(mine);
	}
	mp_obj_decref(want);
	return 0;
}

/* Four values there and back: the sample, a big bytes (beyond any stack
 * buffer), a long list, an empty tuple. */
static void exchange(mp_conn_t *to, mp_conn_t *from, struct ends *child)
{
	mp_process_t *p = mpt_start(echo_child, child);
	mp_obj_t *vals[4] = { sample(), big_bytes(300000), int_list(5000),
	                      mp_obj_tuple(0, NULL) };
	for (int n = 0; n < 4; n++) {
		MPT_OK(mp_conn_send_obj(to, vals[n], TEST_WAIT_NS));
		MPT_SAME(recv_ok(from), vals[n]);
		mp_obj_t *mine = tuple3(S("from child"), mp_obj_int(n), NULL);
		MPT_SAME(recv_ok(from), mine);
		mp_obj_decref(mine);
		mp_obj_decref(vals[n]);
	}
	MPT_EQ(mpt_finish(p), 0);
}

static void test_pipe_duplex(void)
{
	for (int ra = 0; ra < 2; ra++) {
		mp_conn_t *a, *b;
		MPT_OK(mp_pipe(true, &a, &b));
		if (ra)
			MPT_OK(mp_conn_set_readahead(a, MP_CONN_READAHEAD_DEFAULT));
		struct ends e = { b, b, ra };
		exchange(a, a, &e);
		mp_conn_close(a);
		mp_conn_close(b);
	}
}

static void test_pipe_simplex(void)
{
	mp_conn_t *r1, *w1, *r2, *w2;
	MPT_OK(mp_pipe(false, &r1, &w1));
	MPT_OK(mp_pipe(false, &r2, &w2));
	struct ends e = { r1, w2, false };
	exchange(w1, r2, &e);
	/* The child has gone: its end closed, ours reads end of file. */
	mp_conn_close(r1);
	mp_conn_close(w2);
	mp_conn_close(w1);
	int err = 0;
	CU_ASSERT(mp_conn_recv_obj(r2, NULL, TEST_WAIT_NS, &err) == NULL);
	MPT_ERR(err, -MP_EEOF);
	mp_conn_close(r2);
}

/* ---- messages that do not decode ------------------------------------------ */

static void expect_err(mp_conn_t *c, const mp_pickle_opts_t *o, int want)
{
	int err = 0;
	mp_obj_t *got = mp_conn_recv_obj(c, o, TEST_WAIT_NS, &err);
	CU_ASSERT(got == NULL);
	mp_obj_decref(got);
	MPT_ERR(err, want);
}

/* Each bad message is consumed; the next one, good, is received. */
static void test_bad_messages(void)
{
	mp_conn_t *a, *b;
	MPT_OK(mp_pipe(true, &a, &b));
	mp_obj_t *good = tuple3(S("good"), mp_obj_int(1), NULL);
	char big_junk[5000];
	memset(big_junk, 'J', sizeof(big_junk));
	big_junk[0] = (char)0x80;
	big_junk[1] = 4;

	for (int ra = 0; ra < 2; ra++) {
		if (ra)
			MPT_OK(mp_conn_set_readahead(a, MP_CONN_READAHEAD_DEFAULT));
		/* Malformed: junk, empty, truncated, bytes after STOP, big. */
		MPT_OK(mp_conn_send_bytes(b, "\x80\x04junk", 6, TEST_WAIT_NS));
		MPT_OK(mp_conn_send_bytes(b, "", 0, TEST_WAIT_NS));
		MPT_OK(mp_conn_send_bytes(b, "\x80\x04\x95", 3, TEST_WAIT_NS));
		MPT_OK(mp_conn_send_bytes(b, "\x80\x04N..", 5, TEST_WAIT_NS));
		MPT_OK(mp_conn_send_bytes(b, big_junk, sizeof(big_junk),
		                          TEST_WAIT_NS));
		for (int i = 0; i < 5; i++)
			expect_err(a, NULL, -MP_EPICKLE);
		MPT_OK(mp_conn_send_obj(b, good, TEST_WAIT_NS));
		MPT_SAME(recv_ok(a), good);

		/* A global: refused, unless kept inert. */
		mp_obj_t *g = mp_obj_global("os", "system", &e_);
		MPT_OK(mp_conn_send_obj(b, g, TEST_WAIT_NS));
		expect_err(a, NULL, -MP_EREFUSED);
		MPT_OK(mp_conn_send_obj(b, g, TEST_WAIT_NS));
		MPT_SAME(recv_ok(a), g);
		mp_obj_decref(g);

		/* Limits: too deep. */
		mp_obj_t *deep = nested(50);
		mp_pickle_opts_t shallow = { .max_depth = 10 };
		MPT_OK(mp_conn_send_obj(b, deep, TEST_WAIT_NS));
		expect_err(a, &shallow, -MP_ELIMIT);
		MPT_OK(mp_conn_send_obj(b, deep, TEST_WAIT_NS));
		MPT_SAME(recv_ok(a), deep);
		mp_obj_decref(deep);

		MPT_OK(mp_conn_send_obj(b, good, TEST_WAIT_NS));
		MPT_SAME(recv_ok(a), good);
		MPT_EQ(mp_conn_poll(a, 0), 0);
	}
	mp_obj_decref(good);
	mp_conn_close(a);
	mp_conn_close(b);
}

static void test_misuse(void)
{
	mp_conn_t *a, *b, *r, *w;
	int err = 0;
	mp_obj_t *v = mp_obj_int(1);
	MPT_OK(mp_pipe(true, &a, &b));
	MPT_OK(mp_pipe(false, &r, &w));
	MPT_ERR(mp_conn_send_obj(NULL, v, 0), -EINVAL);
	MPT_ERR(mp_conn_send_obj(a, NULL, 0), -EINVAL);
	MPT_ERR(mp_conn_send_obj(a, v, -5), -EINVAL);
	MPT_ERR(mp_conn_send_obj(r, v, 0), -EBADF);
	CU_ASSERT(mp_conn_recv_obj(NULL, NULL, 0, &err) == NULL);
	MPT_ERR(err, -EINVAL);
	CU_ASSERT(mp_conn_recv_obj(w, NULL, 0, &err) == NULL);
	MPT_ERR(err, -EBADF);
	CU_ASSERT(mp_conn_recv_obj(a, NULL, 0, &err) == NULL);
	MPT_ERR(err, -EAGAIN);
	CU_ASSERT(mp_conn_recv_obj(a, NULL, MP_MSEC(20), &err) == NULL);
	MPT_ERR(err, -ETIMEDOUT);
	mp_pickle_opts_t bad = { .max_depth = MP_OBJ_MAX_DEPTH + 1 };
	MPT_OK(mp_conn_send_obj(b, v, 0));
	CU_ASSERT(mp_conn_recv_obj(a, &bad, 0, &err) == NULL);
	MPT_ERR(err, -EINVAL);
	CU_ASSERT(mp_conn_recv_obj(a, NULL, 0, NULL) == NULL); /* NULL err */
	mp_conn_close(b);
	CU_ASSERT(mp_conn_recv_obj(a, NULL, 0, &err) == NULL);
	MPT_ERR(err, -MP_EEOF);
	mp_conn_close(a);
	mp_conn_close(r);
	mp_conn_close(w);

	mp_queue_t *q = mpt_queue(0, 0, 0, 0);
	MPT_ERR(mp_queue_put_obj(NULL, v, 0), -EINVAL);
	MPT_ERR(mp_queue_put_obj(q, NULL, 0), -EINVAL);
	CU_ASSERT(mp_queue_get_obj(NULL, NULL, 0, &err) == NULL);
	MPT_ERR(err, -EINVAL);
	CU_ASSERT(mp_queue_get_obj(q, NULL, 0, &err) == NULL);
	MPT_ERR(err, -EAGAIN);
	MPT_OK(mp_queue_close(q));
	MPT_ERR(mp_queue_put_obj(q, v, 0), -MP_ECLOSED);
	CU_ASSERT(mp_queue_get_obj(q, NULL, 0, &err) == NULL);
	MPT_ERR(err, -MP_ECLOSED);
	MPT_OK(mp_queue_free(q));
	mp_obj_decref(v);
}

/* ---- queues ----------------------------------------------------------------- */

static mp_queue_t *g_q, *g_back;

static int queue_child(void *arg)
{
	(void)arg;
	int err = 0;
	mp_obj_t *want = sample();
	for (int n = 0; n < 3; n++) {
		mp_obj_t *o = mp_queue_get_obj(g_q, &inert, TEST_WAIT_NS, &err);
		if (!o)
			return 10 + n;
		if (n == 0 && !same(o, want))
			return 20;
		if (mp_queue_put_obj(g_back, o, TEST_WAIT_NS) < 0)
			return 30 + n;
		mp_obj_decref(o);
	}
	mp_obj_decref(want);
	return 0;
}

static void test_queue(void)
{
	int err = 0;
	g_q = mpt_queue(0, 0, 0, 0);
	g_back = mpt_queue(0, 0, 0, 0);
	mp_process_t *p = mpt_start(queue_child, NULL);
	/* The sample; one past the stack buffer; one as big as a message
	 * may be, nearly. */
	mp_obj_t *vals[3] = { sample(), big_bytes(3000), big_bytes(60000) };
	for (int n = 0; n < 3; n++)
		MPT_OK(mp_queue_put_obj(g_q, vals[n], TEST_WAIT_NS));
	for (int n = 0; n < 3; n++) {
		MPT_SAME(mp_queue_get_obj(g_back, &inert, TEST_WAIT_NS, &err),
		         vals[n]);
		MPT_OK(err);
		mp_obj_decref(vals[n]);
	}
	MPT_EQ(mpt_finish(p), 0);

	/* Too big for the queue's messages: nothing put. */
	mp_obj_t *huge = big_bytes(70000);
	MPT_ERR(mp_queue_put_obj(g_q, huge, 0), -EMSGSIZE);
	MPT_EQ(mp_queue_qsize(g_q), 0);
	mp_obj_decref(huge);

	/* A message that does not decode is taken; the next one comes. */
	MPT_OK(mp_queue_put(g_q, "\x80\x04junk", 6, 0));
	char junk[4000];
	memset(junk, 'j', sizeof(junk));
	MPT_OK(mp_queue_put(g_q, junk, sizeof(junk), 0));
	mp_obj_t *g = mp_obj_global("os", "system", &e_);
	MPT_OK(mp_queue_put_obj(g_q, g, 0));
	mp_obj_t *ok = S("next");
	MPT_OK(mp_queue_put_obj(g_q, ok, 0));
	CU_ASSERT(mp_queue_get_obj(g_q, NULL, 0, &err) == NULL);
	MPT_ERR(err, -MP_EPICKLE);
	CU_ASSERT(mp_queue_get_obj(g_q, NULL, 0, &err) == NULL);
	MPT_ERR(err, -MP_EPICKLE);
	CU_ASSERT(mp_queue_get_obj(g_q, NULL, 0, &err) == NULL);
	MPT_ERR(err, -MP_EREFUSED);
	MPT_SAME(mp_queue_get_obj(g_q, NULL, 0, &err), ok);
	MPT_EQ(mp_queue_qsize(g_q), 0);
	mp_obj_decref(ok);
	mp_obj_decref(g);
	MPT_OK(mp_queue_free(g_q));
	MPT_OK(mp_queue_free(g_back));
}

/* The internal get behind mp_queue_get_obj: the buffer, or a new one. */
static void test_queue_get_buf(void)
{
	mp_queue_t *q = mpt_queue(0, 0, 0, 0);
	char buf[8], big_in[100];
	void *big = (void *)1;
	size_t len = 0;
	memset(big_in, 'b', sizeof(big_in));
	MPT_OK(mp_queue_put(q, "abc", 3, 0));
	MPT_OK(mp_queue_put(q, big_in, sizeof(big_in), 0));
	MPT_OK(mp_queue_put(q, "", 0, 0));
	MPT_OK(mp__queue_get_buf(q, buf, sizeof(buf), &big, &len, 0));
	CU_ASSERT(big == NULL && len == 3 && !memcmp(buf, "abc", 3));
	MPT_OK(mp__queue_get_buf(q, buf, sizeof(buf), &big, &len, 0));
	CU_ASSERT(big != NULL && len == 100);
	CU_ASSERT(big && !memcmp(big, big_in, 100));
	free(big);
	MPT_OK(mp__queue_get_buf(q, buf, sizeof(buf), &big, &len, 0));
	CU_ASSERT(big == NULL && len == 0);
	MPT_ERR(mp__queue_get_buf(q, buf, sizeof(buf), &big, &len, 0), -EAGAIN);
	MPT_ERR(mp__queue_get_buf(q, NULL, 0, &big, &len, 0), -EINVAL);
	MPT_ERR(mp__queue_get_buf(q, buf, sizeof(buf), NULL, &len, 0), -EINVAL);
	MPT_OK(mp_queue_free(q));
}

/* Each thread pickles into a buffer of its own, kept between sends: many
 * threads at once, small and big values (a big one's buffer is given
 * back), and threads that exit (their buffers freed: the sanitizer build
 * would see a leak). */
static mp_queue_t *thread_q[8];

static void *thread_values(void *arg)
{
	intptr_t id = (intptr_t)arg;
	mp_queue_t *q = thread_q[id % 8];
	int err = 0;
	void *bad = NULL;
	for (int i = 0; i < 60 && !bad; i++) {
		mp_obj_t *v;
		if (i % 20 == 19) {
			v = big_bytes(100000 + (size_t)id);
		} else if (i % 2) { /* no CUnit assertion in threads */
			v = mp_obj_list();
			for (int k = 0; k < i + id; k++)
				mp_obj_list_append(v, mp_obj_int(k));
		} else {
			v = tuple3(mp_obj_int(id), mp_obj_int(i), NULL);
		}
		mp_obj_t *got = NULL;
		if (mp_queue_put_obj(q, v, TEST_WAIT_NS) < 0 ||
		    !(got = mp_queue_get_obj(q, NULL, TEST_WAIT_NS, &err)) ||
		    !same(got, v))
			bad = (void *)1;
		mp_obj_decref(got);
		mp_obj_decref(v);
	}
	return bad;
}

static void test_threads(void)
{
	for (int i = 0; i < 8; i++)
		thread_q[i] = mpt_queue(0, 256 << 10, 0, 0);
	MPT_EQ(mpt_threads(8, thread_values, 0), 0);
	MPT_EQ(mpt_threads(8, thread_values, 104), 0);
	for (int i = 0; i < 8; i++)
		MPT_OK(mp_queue_free(thread_q[i]));
}

/* ---- listener and client ------------------------------------------------------ */

static mp_address_t g_addr;

static int client_child(void *arg)
{
	(void)arg;
	int err = 0;
	mp_conn_opts_t o = { .authkey = key, .authkey_len = strlen(key) };
	mp_conn_t *c = mp_client(&g_addr, &o, TEST_WAIT_NS, &err);
	if (!c)
		return 10;
	struct ends e = { c, c, false };
	int r = echo_child(&e);
	mp_conn_close(c);
	return r;
}

static void test_listener(void)
{
	const char *where[] = { NULL, "127.0.0.1:0" };
	for (int i = 0; i < 2; i++) {
		int err = 0;
		mp_address_t a;
		if (where[i])
			MPT_OK(mp_address_parse(&a, where[i]));
		mp_conn_opts_t o = { .authkey = key, .authkey_len = strlen(key) };
		mp_listener_t *l = mp_listener_open(where[i] ? &a : NULL, &o,
		                                    &err);
		CU_ASSERT_FATAL(l != NULL);
		g_addr = *mp_listener_address(l);
		mp_process_t *p = mpt_start(client_child, NULL);
		mp_conn_t *c = mp_listener_accept(l, TEST_WAIT_NS, &err);
		MPT_OK(err);
		if (c) {
			mp_obj_t *vals[4] = { sample(), big_bytes(300000),
			                      int_list(5000),
			                      mp_obj_tuple(0, NULL) };
			for (int n = 0; n < 4; n++) {
				MPT_OK(mp_conn_send_obj(c, vals[n], TEST_WAIT_NS));
				MPT_SAME(recv_ok(c), vals[n]);
				mp_obj_t *m = tuple3(S("from child"),
				                     mp_obj_int(n), NULL);
				MPT_SAME(recv_ok(c), m);
				mp_obj_decref(m);
				mp_obj_decref(vals[n]);
			}
			mp_conn_close(c);
		}
		MPT_EQ(mpt_finish(p), 0);
		mp_listener_close(l);
	}
}

/* ---- CPython as the peer ------------------------------------------------------ */

/* argv: "fd N" (a Connection on an inherited socket), "client KEY ADDR",
 * "serve KEY FAMILY PATH".  expected() is sample()'s twin. */
static const char py_peer[] =
	"import sys, pickle, multiprocessing\n"
	"from multiprocessing.connection import Connection, Listener, Client\n"
	"def f():\n"
	"    return 333\n"
	"def expected():\n"
	"    return {'none': None, 't': True, 'f': False, 'small': 7,\n"
	"        'neg': -1234567, 'i64': -2**63, 'u64': 2**64 - 1,\n"
	"        'big': 2**100, 'negbig': -2**70, 'float': 2.25,\n"
	"        'negzero': -0.0, 'inf': float('inf'),\n"
	"        'bytes': b'\\x00\\xffab', 'bytearray': bytearray(b'ba'),\n"
	"        'str': 'h\\xe9llo \\u2713 \\U0001d11e', 'surrogate': '\\ud800x',\n"
	"        'long': 'L' * 300, 'blob': bytes(range(256)) * 2,\n"
	"        'tuple': (1, 'two', 3.0), 'empty': (),\n"
	"        'list': [[], [1, [2, [3]]], {}],\n"
	"        'dict': {1: 'one', 'k2': b'v', (4, 5): None},\n"
	"        'set': {10, 'elem'}, 'frozen': frozenset({20}),\n"
	"        'exc': KeyError('missing'), 'exc2': ValueError('bad', 3),\n"
	"        'func': f}\n"
	"def plain():\n"
	"    return [1, 2.5, 'abc', b'xyz', (None, True), {'k': [3, -4]}, 2**70]\n"
	"def norm(x):\n"
	"    if isinstance(x, BaseException):\n"
	"        return ('exc', type(x).__qualname__, norm(x.args))\n"
	"    if isinstance(x, (list, tuple)):\n"
	"        return (type(x).__name__, [norm(i) for i in x])\n"
	"    if isinstance(x, dict):\n"
	"        return ('dict', [(norm(k), norm(v)) for k, v in x.items()])\n"
	"    if isinstance(x, (set, frozenset)):\n"
	"        return (type(x).__name__, sorted(repr(i) for i in x))\n"
	"    if isinstance(x, float):\n"
	"        return ('float', repr(x))\n"
	"    if callable(x):\n"
	"        return ('callable', x.__module__, x.__qualname__)\n"
	"    return (type(x).__name__, x)\n"
	"def talk(c):\n"
	"    got = c.recv()\n"
	"    ok = norm(got) == norm(expected())\n"
	"    print('EQ', ok, flush=True)\n"
	"    if not ok:\n"
	"        print('GOT', repr(got), flush=True)\n"
	"    c.send(expected())\n"
	"    c.send(got)\n"
	"    raw = c.recv_bytes()\n"
	"    print('PLAIN', norm(pickle.loads(raw)) == norm(plain()),\n"
	"          raw == pickle.dumps(plain(), 4), flush=True)\n"
	"    c.send(plain())\n"
	"    big = c.recv()\n"
	"    print('BIG', len(big), big == bytes(i * 7 % 256 for i in range(len(big))), flush=True)\n"
	"    c.send(list(range(0, 5000 * 1000003, 1000003)))\n"
	"    s = ['shared']\n"
	"    c.send((s, s))\n"
	"    back = c.recv()\n"
	"    print('SHARED', back == (s, s), back[0] is back[1], flush=True)\n"
	"    c.send_bytes(b'\\x80\\x04garbage')\n"
	"    c.send(('after', 'bad'))\n"
	"    print('DONE', c.recv(), flush=True)\n"
	"mode = sys.argv[1]\n"
	"if mode == 'fd':\n"
	"    talk(Connection(int(sys.argv[2])))\n"
	"elif mode == 'client':\n"
	"    where = sys.argv[3]\n"
	"    if where.startswith('/'):\n"
	"        addr = where\n"
	"    else:\n"
	"        h, p = where.rsplit(':', 1)\n"
	"        addr = (h, int(p))\n"
	"    with Client(addr, authkey=sys.argv[2].encode()) as c:\n"
	"        talk(c)\n"
	"else:\n"
	"    fam = sys.argv[3]\n"
	"    addr = ('127.0.0.1', 0) if fam == 'inet' else sys.argv[4]\n"
	"    with Listener(addr, authkey=sys.argv[2].encode()) as l:\n"
	"        a = l.address\n"
	"        print('ADDR', '%s:%d' % a if fam == 'inet' else a, flush=True)\n"
	"        with l.accept() as c:\n"
	"            talk(c)\n";

static bool has_line(struct mpt_pyproc *pp, const char *line)
{
	char got[4096];
	if (mpt_py_line(pp, line, got, sizeof(got)) < 0)
		return false;
	return strcmp(got, line) == 0;
}

/* Our half of py_peer's talk(). */
static void c_talk(mp_conn_t *c, struct mpt_pyproc *pp)
{
	int err = 0;
	mp_obj_t *want = sample(), *pl = plain();
	MPT_OK(mp_conn_send_obj(c, want, TEST_WAIT_NS));
	CU_ASSERT(has_line(pp, "EQ True"));
	MPT_SAME(recv_ok(c), want); /* Python's own */
	MPT_SAME(recv_ok(c), want); /* ours, back */
	MPT_OK(mp_conn_send_obj(c, pl, TEST_WAIT_NS));
	CU_ASSERT(has_line(pp, "PLAIN True True"));
	MPT_SAME(recv_ok(c), pl);
	mp_obj_t *big = big_bytes(100000);
	MPT_OK(mp_conn_send_obj(c, big, TEST_WAIT_NS));
	CU_ASSERT(has_line(pp, "BIG 100000 True"));
	mp_obj_decref(big);
	mp_obj_t *ints = int_list(5000);
	MPT_SAME(recv_ok(c), ints);
	mp_obj_decref(ints);
	/* One list reached twice stays one node, and goes back as one. */
	mp_obj_t *pair = recv_ok(c);
	CU_ASSERT(mp_obj_len(pair) == 2 && mp_obj_item(pair, 0) &&
	          mp_obj_item(pair, 0) == mp_obj_item(pair, 1));
	MPT_OK(mp_conn_send_obj(c, pair, TEST_WAIT_NS));
	mp_obj_decref(pair);
	CU_ASSERT(has_line(pp, "SHARED True True"));
	CU_ASSERT(mp_conn_recv_obj(c, NULL, TEST_WAIT_NS, &err) == NULL);
	MPT_ERR(err, -MP_EPICKLE);
	mp_obj_t *after = tuple3(S("after"), S("bad"), NULL);
	MPT_SAME(recv_ok(c), after);
	mp_obj_decref(after);
	mp_obj_t *done = S("done");
	MPT_OK(mp_conn_send_obj(c, done, TEST_WAIT_NS));
	mp_obj_decref(done);
	CU_ASSERT(has_line(pp, "DONE done"));
	mp_obj_decref(want);
	mp_obj_decref(pl);
}

static void py_end(const struct mpt_py *py, struct mpt_pyproc *pp,
                   const char *what, unsigned fails)
{
	int st = mpt_py_finish(pp);
	MPT_EQ(st, 0);
	if (st != 0 || CU_get_number_of_failures() != fails)
		fprintf(stderr, "python 3.%d (%s) said:\n%s\n", py->minor, what,
		        pp->buf);
}

/* A Connection on a socket Python inherits (Pipe()'s other end). */
static void py_socketpair(const struct mpt_py *py)
{
	int sv[2];
	char fd[16];
	struct mpt_pyproc pp;
	unsigned fails = CU_get_number_of_failures();
	CU_ASSERT_FATAL(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0,
	                           sv) == 0);
	CU_ASSERT_FATAL(fcntl(sv[1], F_SETFD, 0) == 0); /* Python's */
	snprintf(fd, sizeof(fd), "%d", sv[1]);
	const char *args[] = { "fd", fd, NULL };
	MPT_OK(mpt_py_start(py, py_peer, args, &pp));
	close(sv[1]);
	int err = 0;
	mp_conn_t *c = mp_conn_open(sv[0], true, true, &err);
	CU_ASSERT_FATAL(c != NULL);
	c_talk(c, &pp);
	mp_conn_close(c);
	py_end(py, &pp, "socketpair", fails);
}

/* Our listener, Python's Client. */
static void py_connects(const struct mpt_py *py, const char *fam)
{
	char path[108], text[256];
	struct mpt_pyproc pp;
	mp_address_t a;
	int err = 0;
	unsigned fails = CU_get_number_of_failures();

	snprintf(path, sizeof(path), "/tmp/mproc-obj-%d.sock", getpid());
	unlink(path);
	MPT_OK(mp_address_parse(&a, !strcmp(fam, "inet") ? "127.0.0.1:0"
	                                                  : path));
	mp_conn_opts_t o = { .authkey = key, .authkey_len = strlen(key) };
	mp_listener_t *l = mp_listener_open(&a, &o, &err);
	CU_ASSERT_FATAL(l != NULL);
	mp_address_format(mp_listener_address(l), text, sizeof(text));
	const char *args[] = { "client", key, text, NULL };
	MPT_OK(mpt_py_start(py, py_peer, args, &pp));
	mp_conn_t *c = mp_listener_accept(l, TEST_WAIT_NS, &err);
	MPT_OK(err);
	if (c) {
		c_talk(c, &pp);
		mp_conn_close(c);
	}
	py_end(py, &pp, fam, fails);
	mp_listener_close(l);
}

/* Python's Listener, our client. */
static void py_serves(const struct mpt_py *py, const char *fam)
{
	char path[108], line[256];
	struct mpt_pyproc pp;
	mp_address_t a;
	int err = 0;
	unsigned fails = CU_get_number_of_failures();

	snprintf(path, sizeof(path), "/tmp/mproc-obj-py-%d.sock", getpid());
	unlink(path);
	const char *args[] = { "serve", key, fam, path, NULL };
	MPT_OK(mpt_py_start(py, py_peer, args, &pp));
	MPT_OK(mpt_py_line(&pp, "ADDR ", line, sizeof(line)));
	MPT_OK(mp_address_parse(&a, line + 5));
	mp_conn_opts_t o = { .authkey = key, .authkey_len = strlen(key) };
	mp_conn_t *c = mp_client(&a, &o, TEST_WAIT_NS, &err);
	MPT_OK(err);
	if (c) {
		c_talk(c, &pp);
		mp_conn_close(c);
	}
	py_end(py, &pp, fam, fails);
	unlink(path);
}

static void interop(int minor)
{
	struct mpt_py py;
	char why[96];
	if (!mpt_python_find(minor, &py)) {
		snprintf(why, sizeof(why), "no python3.%d here: objects "
		         "to and from it are NOT tested", minor);
		MPT_SKIP(why);
		return;
	}
	fprintf(stderr, "\n    [python 3.%d: %s%s%s]", minor,
	        py.pyenv[0] ? "PYENV_VERSION=" : "", py.pyenv,
	        py.pyenv[0] ? " python3" : py.exe);
	py_socketpair(&py);
	py_connects(&py, "unix");
	py_connects(&py, "inet");
	py_serves(&py, "unix");
	py_serves(&py, "inet");
}

static void test_python311(void)
{
	interop(11);
}

static void test_python312(void)
{
	interop(12);
}

static void test_python313(void)
{
	interop(13);
}

int main(void)
{
	static CU_TestInfo tests[] = {
		{ "duplex pipe, both ways, with and without read-ahead",
		  test_pipe_duplex },
		{ "one-way pipes, both ways, then end of file",
		  test_pipe_simplex },
		{ "messages that do not decode are consumed",
		  test_bad_messages },
		{ "misuse, timeouts, closed", test_misuse },
		{ "queue between processes, too big, bad messages",
		  test_queue },
		{ "queue: get into a buffer or a new one", test_queue_get_buf },
		{ "threads at once, small and big values", test_threads },
		{ "listener and client with a key, unix and tcp",
		  test_listener },
		{ "interop python 3.11", test_python311 },
		{ "interop python 3.12", test_python312 },
		{ "interop python 3.13", test_python313 },
		CU_TEST_INFO_NULL,
	};
	return mpt_main("obj_io", tests);
}
