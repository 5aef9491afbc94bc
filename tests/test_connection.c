/*
 * test_connection.c - connections, pipes, listeners, clients and the
 * authkey handshake: real processes, real pipes and sockets, and CPython's
 * own multiprocessing.connection as the peer for wire compatibility.
 *
 * The I/O tests run five times: on the automatic path, pinned to plain
 * system calls, pinned to the io_uring ring, on system calls with the
 * receive spin forced on (1 ms budget), and with read-ahead into a buffer
 * small enough that headers and payloads straddle its refills.
 */
#include "pyutil.h"

#include <arpa/inet.h>
#include <netinet/tcp.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

#include <openssl/hmac.h>

#define PATH_SPIN (MP__IO_RING + 1)
#define PATH_READAHEAD (MP__IO_RING + 2)
#define READAHEAD_SMALL 100
static const char *const path_names[] = { "auto", "syscall", "ring", "spin",
                                          "readahead" };
static int g_path = MP__IO_AUTO;

static void setp(mp_conn_t *c)
{
	if (g_path == PATH_READAHEAD) {
		if (mp_conn_readable(c))
			MPT_OK(mp_conn_set_readahead(c, READAHEAD_SMALL));
	} else if (g_path == PATH_SPIN) {
		MPT_OK(mp__conn_set_path(c, MP__IO_SYSCALL));
		MPT_OK(mp_conn_set_spin(c, MP_MSEC(1)));
		mp__conn_spin_now(c);
	} else {
		MPT_OK(mp__conn_set_path(c, g_path));
	}
}

static mp_process_t *spawn(mp_target_t fn, void *arg)
{
	int err = 0;
	mp_process_t *p = mp_process_new(fn, arg, NULL, 0, &err);
	CU_ASSERT_FATAL(p != NULL);
	MPT_OK(mp_process_start(p));
	return p;
}

/* Join with a deadline; a child that hangs is killed and fails. */
static int reap(mp_process_t *p)
{
	int code = -1000;
	if (mp_process_join(p, TEST_WAIT_NS) == -ETIMEDOUT) {
		mp_process_kill(p);
		mp_process_join(p, MP_FOREVER);
		mp_process_free(p);
		return -1000;
	}
	mp_process_exitcode(p, &code);
	mp_process_free(p);
	return code;
}

static void fill(uint8_t *p, size_t n, unsigned seed)
{
	for (size_t i = 0; i < n; i++)
		p[i] = (uint8_t)(i * 131 + seed);
}

static bool check_fill(const uint8_t *p, size_t n, unsigned seed)
{
	for (size_t i = 0; i < n; i++)
		if (p[i] != (uint8_t)(i * 131 + seed))
			return false;
	return true;
}

/* ---- the parsers, over crafted inputs ----------------------------------- */

static void test_frame_decode(void)
{
	uint8_t h[MP__FRAME_HDR_MAX];
	uint64_t len = 0;

	MPT_EQ(mp__frame_encode(0, h), 4);
	MPT_EQ(memcmp(h, "\0\0\0\0", 4), 0);
	MPT_EQ(mp__frame_encode(0x7fffffff, h), 4);
	MPT_EQ(memcmp(h, "\x7f\xff\xff\xff", 4), 0);
	/* Python: n > 0x7fffffff takes the long form. */
	MPT_EQ(mp__frame_encode(0x80000000u, h), 12);
	MPT_EQ(memcmp(h, "\xff\xff\xff\xff\0\0\0\0\x80\0\0\0", 12), 0);
	MPT_EQ(mp__frame_decode(h, 12, &len), 12);
	MPT_EQ(len, 0x80000000u);
	MPT_EQ(mp__frame_decode(h, 11, &len), 0);  /* needs the 8 bytes */
	MPT_EQ(mp__frame_decode(h, 3, &len), 0);
	MPT_EQ(mp__frame_decode((const uint8_t *)"\0\0\x01\x02", 4, &len), 4);
	MPT_EQ(len, 258);
	/* Negative lengths other than -1. */
	MPT_ERR(mp__frame_decode((const uint8_t *)"\xff\xff\xff\xfe", 4, &len),
	        -EBADMSG);
	MPT_ERR(mp__frame_decode((const uint8_t *)"\x80\0\0\0", 4, &len),
	        -EBADMSG);
	/* 2^62 is a length (refused later by maxlength or memory growth);
	 * 2^63 and more are not. */
	MPT_EQ(mp__frame_decode((const uint8_t *)"\xff\xff\xff\xff\x40\0\0\0\0\0\0\0",
	                        12, &len), 12);
	MPT_EQ(len, (uint64_t)1 << 62);
	MPT_ERR(mp__frame_decode((const uint8_t *)"\xff\xff\xff\xff\x80\0\0\0\0\0\0\0",
	                         12, &len), -EBADMSG);
	/* The long form of a short length is legal (Python reads it). */
	MPT_EQ(mp__frame_decode((const uint8_t *)"\xff\xff\xff\xff\0\0\0\0\0\0\0\x05",
	                        12, &len), 12);
	MPT_EQ(len, 5);
}

/* Feed bytes to a frame reader in chunks of the size it asks for. */
static int rx_feed_all(struct mp__frame_rx *f, const uint8_t *p, size_t n,
                       size_t cap, size_t *used)
{
	size_t off = 0;
	int r = 0;
	mp__frame_rx_init(f);
	while (off < n && r == 0) {
		size_t need = mp__frame_rx_need(f);
		size_t k = need < n - off ? need : n - off;
		memcpy(mp__frame_rx_space(f), p + off, k);
		off += k;
		r = mp__frame_rx_feed(f, k, cap);
	}
	*used = off;
	return r;
}

static void test_frame_rx(void)
{
	struct mp__frame_rx f;
	size_t used, len;
	const uint8_t two[] = "\0\0\0\x03" "abc\0\0\0\x01z";

	/* Stops at the end of the first frame: no read-ahead. */
	MPT_EQ(rx_feed_all(&f, two, sizeof(two) - 1, 256, &used), 1);
	MPT_EQ(used, 7);
	const uint8_t *m = mp__frame_rx_payload(&f, &len);
	MPT_EQ(len, 3);
	MPT_EQ(memcmp(m, "abc", 3), 0);
	/* Empty frame. */
	MPT_EQ(rx_feed_all(&f, (const uint8_t *)"\0\0\0\0", 4, 256, &used), 1);
	/* Over the cap: refused at the header, before any payload. */
	MPT_ERR(rx_feed_all(&f, (const uint8_t *)"\0\0\x01\x01xx", 6, 256,
	                    &used), -EMSGSIZE);
	MPT_EQ(used, 4);
	MPT_ERR(rx_feed_all(&f, (const uint8_t *)"\xff\xff\xff\xff\x40\0\0\0\0\0\0\0",
	                    12, 256, &used), -EMSGSIZE);
	MPT_ERR(rx_feed_all(&f, (const uint8_t *)"\xff\xff\xff\x00", 4, 256,
	                    &used), -EBADMSG);
	/* Truncated: still wants more. */
	MPT_EQ(rx_feed_all(&f, (const uint8_t *)"\0\0\0\x09#WEL", 8, 256,
	                   &used), 0);
	MPT_EQ(mp__frame_rx_need(&f), 5);
	/* Feeding more than asked for is refused. */
	mp__frame_rx_init(&f);
	MPT_ERR(mp__frame_rx_feed(&f, 5, 256), -EINVAL);
}

/* The reader that takes as much as it has room for: two frames and the
 * start of a third in one read, each taken in turn, the rest kept. */
static void test_frame_rx_many(void)
{
	struct mp__frame_rx f;
	size_t len, rest;
	const uint8_t three[] = "\0\0\0\x03" "abc" "\0\0\0\x01" "z" "\0\0";
	const size_t n = sizeof(three) - 1;

	mp__frame_rx_init(&f);
	MPT_EQ(mp__frame_rx_room(&f), sizeof(f.buf));
	memcpy(mp__frame_rx_space(&f), three, n);
	MPT_EQ(mp__frame_rx_add(&f, n, 256), 1);
	const uint8_t *m = mp__frame_rx_payload(&f, &len);
	MPT_EQ(len, 3);
	MPT_EQ(memcmp(m, "abc", 3), 0);
	m = mp__frame_rx_rest(&f, &rest);
	MPT_EQ(rest, 7);
	MPT_EQ(memcmp(m, three + 7, 7), 0);
	mp__frame_rx_next(&f);
	MPT_EQ(mp__frame_rx_add(&f, 0, 256), 1);
	m = mp__frame_rx_payload(&f, &len);
	MPT_EQ(len, 1);
	MPT_EQ(m[0], 'z');
	mp__frame_rx_next(&f);
	/* Half a header: more wanted, exactly as the careful reader says. */
	MPT_EQ(mp__frame_rx_add(&f, 0, 256), 0);
	MPT_EQ(mp__frame_rx_need(&f), 2);
	MPT_EQ(mp__frame_rx_room(&f), sizeof(f.buf) - 2);
	MPT_ERR(mp__frame_rx_add(&f, sizeof(f.buf), 256), -EINVAL);
	/* Its cap holds as before: refused at the header. */
	memcpy(mp__frame_rx_space(&f), "\x01\x01", 2);
	MPT_ERR(mp__frame_rx_add(&f, 2, 256), -EMSGSIZE);
}

static void hex(const char *s, uint8_t *out)
{
	for (size_t i = 0; s[2 * i]; i++) {
		unsigned v;
		sscanf(s + 2 * i, "%2x", &v);
		out[i] = (uint8_t)v;
	}
}

/* Vectors made by CPython 3.12's _create_response(b'secret', message). */
static void test_auth_vectors(void)
{
	const char *key = "secret";
	uint8_t msg[128], out[MP__AUTH_RESPONSE_MAX], want[64];
	int n;

	/* Legacy: a 20-byte challenge gets a bare HMAC-MD5. */
	memcpy(msg, MP__CHALLENGE, MP__CHALLENGE_LEN);
	for (int i = 0; i < 20; i++)
		msg[MP__CHALLENGE_LEN + i] = (uint8_t)i;
	n = mp__auth_respond(key, 6, msg, MP__CHALLENGE_LEN + 20, out);
	MPT_EQ(n, 16);
	hex("7defa9cc46abc3583325d17ccda75190", want);
	MPT_EQ(memcmp(out, want, 16), 0);
	MPT_OK(mp__auth_verify(key, 6, msg + 11, 20, out, 16));
	out[3] ^= 1;
	MPT_ERR(mp__auth_verify(key, 6, msg + 11, 20, out, 16), -MP_EAUTH);

	/* Current: "{sha256}" + 40 bytes, answered "{sha256}" + MAC of all. */
	memcpy(msg + 11, "{sha256}", 8);
	for (int i = 0; i < 40; i++)
		msg[19 + i] = (uint8_t)i;
	n = mp__auth_respond(key, 6, msg, 11 + 48, out);
	MPT_EQ(n, 40);
	hex("7b7368613235367dfc57fbe650d6124b98215e7b5d197d5807ad69982d275a97"
	    "35ea2d56f1fa6989", want);
	MPT_EQ(memcmp(out, want, 40), 0);
	MPT_OK(mp__auth_verify(key, 6, msg + 11, 48, out, 40));
	MPT_ERR(mp__auth_verify("secreT", 6, msg + 11, 48, out, 40), -MP_EAUTH);
	MPT_ERR(mp__auth_verify(key, 6, msg + 11, 48, out, 39), -MP_EAUTH);
	/* A Python 3.11 client answers a current challenge with bare MD5 of
	 * the whole message: accepted (legacy fallback by length). */
	unsigned ml = 0;
	HMAC(EVP_md5(), key, 6, msg + 11, 48, out, &ml);
	MPT_OK(mp__auth_verify(key, 6, msg + 11, 48, out, ml));
}

static void test_auth_malformed(void)
{
	uint8_t out[MP__AUTH_RESPONSE_MAX], m[300];
	const char *k = "k";
#define S(x) { x, sizeof(x) - 1 }
	struct { const char *msg; size_t len; } bad[] = {
		S(""),
		S("#CHALLENGE"),
		S("#CHALLENGE#"),
		S("#CHALLENGE#0123456789012345678"),     /* 19 < 20 */
		S("#CHALLENGX#01234567890123456789"),
		S("#CHALLENGE#{sha1}0123456789012345678901234567890123456789"),
		S("#CHALLENGE#{md5012345678901234567890123456789"),
		S("#CHALLENGE#{}0123456789012345678901234567890123456789"),
		S("#CHALLENGE#sha256}0123456789012345678901234567890123"),
		/* '}' beyond Python's search window of 10 bytes */
		S("#CHALLENGE#{sha3_3845}012345678901234567890123456789"),
		S("#CHALLENGE#0123456789012345678901"),   /* 22, no prefix */
	};
#undef S
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		MPT_ERR(mp__auth_respond(k, 1, (const uint8_t *)bad[i].msg,
		                         bad[i].len, out), -MP_EAUTH);
	/* Every allowed digest is answered with its own prefix. */
	const char *names[] = { "md5", "sha256", "sha384", "sha3_256",
	                        "sha3_384" };
	const int sizes[] = { 16, 32, 48, 32, 48 };
	for (int i = 0; i < 5; i++) {
		int n = snprintf((char *)m, sizeof(m), "#CHALLENGE#{%s}", names[i]);
		memset(m + n, 'x', 40);
		int r = mp__auth_respond(k, 1, m, (size_t)n + 40, out);
		MPT_EQ(r, (int)strlen(names[i]) + 2 + sizes[i]);
		MPT_OK(mp__auth_verify(k, 1, m + 11, (size_t)n + 29, out,
		                       (size_t)r));
	}
}

static void test_auth_verifier(void)
{
	uint8_t m[300];
	const char *k = "k";

	memset(m, 'x', sizeof(m));
	/* Verifier: garbage, empty, too long, unknown digest. */
	MPT_ERR(mp__auth_verify(k, 1, m, 48, (const uint8_t *)"", 0), -MP_EAUTH);
	MPT_ERR(mp__auth_verify(k, 1, m, 48, (const uint8_t *)"hello", 5),
	        -MP_EAUTH);
	MPT_ERR(mp__auth_verify(k, 1, m, 48,
	                        (const uint8_t *)"{sha1}0123456789012345678901234",
	                        31), -MP_EAUTH);
	memset(m + 100, 'A', 200);
	MPT_ERR(mp__auth_verify(k, 1, m, 48, m + 100, 200), -MP_EAUTH);
	CU_ASSERT(mp__auth_is_welcome((const uint8_t *)"#WELCOME#", 9));
	CU_ASSERT(!mp__auth_is_welcome((const uint8_t *)"#WELCOME#x", 10));
	CU_ASSERT(!mp__auth_is_welcome((const uint8_t *)"#FAILURE#", 9));
	/* Challenges we make: the right shape and fresh randomness. */
	uint8_t c1[MP__AUTH_CHALLENGE_MAX], c2[MP__AUTH_CHALLENGE_MAX];
	MPT_EQ(mp__auth_challenge(MP_DIGEST_SHA256, c1), 11 + 8 + 40);
	MPT_EQ(memcmp(c1, "#CHALLENGE#{sha256}", 19), 0);
	MPT_EQ(mp__auth_challenge(MP_DIGEST_SHA256, c2), 59);
	CU_ASSERT(memcmp(c1 + 19, c2 + 19, 40) != 0);
	MPT_EQ(mp__auth_challenge(MP_DIGEST_LEGACY, c1), 31);
	MPT_EQ(mp__auth_challenge(MP_DIGEST_SHA3_384, c1), 11 + 10 + 40);
	MPT_ERR(mp__auth_challenge(MP_DIGEST_COUNT, c1), -EINVAL);
}

/* ---- pipes: round trips between processes ------------------------------- */

static const size_t sizes[] = { 0, 1, 64, 4095, 4096, 65536, 65541,
                                1 << 20, 3 << 20 };
#define NSIZES (sizeof(sizes) / sizeof(sizes[0]))

struct echo_arg {
	mp_conn_t *in, *out;
	mp_conn_t *drop[2]; /* the parent's ends: closed in the child */
};

/* Child: echo every message back, until end of file. */
static int echo_child(void *arg)
{
	struct echo_arg *a = arg;
	mp_conn_close(a->drop[0]);
	mp_conn_close(a->drop[1]);
	for (;;) {
		mp_bytes_t m;
		int r = mp_conn_recv_bytes(a->in, MP_CONN_NOLIMIT, &m, TEST_WAIT_NS);
		if (r == -MP_EEOF)
			return 0;
		if (r < 0)
			return 10;
		r = mp_conn_send_bytes(a->out, m.data, m.len, TEST_WAIT_NS);
		free(m.data);
		if (r < 0)
			return 11;
	}
}

static void roundtrips(mp_conn_t *to, mp_conn_t *from, bool timed)
{
	static uint8_t buf[3 << 20], back[4 << 20];
	int64_t t = timed ? TEST_WAIT_NS : MP_FOREVER;
	for (size_t i = 0; i < NSIZES; i++) {
		fill(buf, sizes[i], (unsigned)i);
		MPT_OK(mp_conn_send_bytes(to, buf, sizes[i], t));
		if (i % 2) {
			mp_bytes_t m;
			MPT_OK(mp_conn_recv_bytes(from, MP_CONN_NOLIMIT, &m, t));
			MPT_EQ(m.len, sizes[i]);
			CU_ASSERT(m.data && ((char *)m.data)[m.len] == 0);
			CU_ASSERT(check_fill(m.data, m.len, (unsigned)i));
			free(m.data);
		} else {
			MPT_EQ(mp_conn_recv_bytes_into(from, back, sizeof(back),
			                               7, NULL, t), sizes[i]);
			CU_ASSERT(check_fill(back + 7, sizes[i], (unsigned)i));
		}
	}
}

static void test_pipe_duplex(void)
{
	mp_conn_t *a, *b;
	MPT_OK(mp_pipe(true, &a, &b));
	setp(a);
	setp(b);
	CU_ASSERT(mp_conn_readable(a) && mp_conn_writable(a));
	CU_ASSERT(mp_conn_readable(b) && mp_conn_writable(b));
	struct echo_arg ea = { b, b, { a, NULL } };
	mp_process_t *p = spawn(echo_child, &ea);
	roundtrips(a, a, false);
	roundtrips(a, a, true);
	MPT_OK(mp_conn_close(a));
	MPT_EQ(reap(p), 0);
	MPT_OK(mp_conn_close(b));
}

static void test_pipe_simplex(void)
{
	mp_conn_t *r1, *w1, *r2, *w2;
	MPT_OK(mp_pipe(false, &r1, &w1));
	MPT_OK(mp_pipe(false, &r2, &w2));
	CU_ASSERT(mp_conn_readable(r1) && !mp_conn_writable(r1));
	CU_ASSERT(!mp_conn_readable(w1) && mp_conn_writable(w1));
	setp(r1);
	setp(w2);
	struct echo_arg ea = { r1, w2, { w1, r2 } };
	mp_process_t *p = spawn(echo_child, &ea);
	/* The parent keeps only its ends, so end of file reaches the child. */
	mp_conn_close(r1);
	mp_conn_close(w2);
	setp(w1);
	setp(r2);
	roundtrips(w1, r2, false);
	roundtrips(w1, r2, true);
	MPT_OK(mp_conn_close(w1));
	MPT_EQ(reap(p), 0);
	mp_bytes_t m;
	MPT_ERR(mp_conn_recv_bytes(r2, MP_CONN_NOLIMIT, &m, TEST_WAIT_NS),
	        -MP_EEOF);
	CU_ASSERT(m.data == NULL && m.len == 0);
	MPT_OK(mp_conn_close(r2));
}

/* A descriptor made elsewhere, O_NONBLOCK: adopted as it is. */
static void test_conn_open_nonblocking(void)
{
	int fds[2], err;
	CU_ASSERT_FATAL(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK |
	                           SOCK_CLOEXEC, 0, fds) == 0);
	mp_conn_t *a = mp_conn_open(fds[0], true, true, &err);
	mp_conn_t *b = mp_conn_open(fds[1], true, true, &err);
	CU_ASSERT_FATAL(a && b);
	setp(a);
	setp(b);
	struct echo_arg ea = { b, b, { a, NULL } };
	mp_process_t *p = spawn(echo_child, &ea);
	roundtrips(a, a, false);
	MPT_OK(mp_conn_close(a));
	MPT_EQ(reap(p), 0);
	MPT_OK(mp_conn_close(b));
}

/* ---- misuse, limits, end of file ------------------------------------------- */

static void test_misuse(void)
{
	mp_conn_t *r, *w;
	mp_bytes_t m;
	uint8_t buf[8];
	int err = 0;

	MPT_ERR(mp_pipe(false, NULL, &w), -EINVAL);
	MPT_OK(mp_pipe(false, &r, &w));
	MPT_ERR(mp_conn_send_bytes(r, "x", 1, 0), -EBADF);
	MPT_ERR(mp_conn_recv_bytes(w, 10, &m, 0), -EBADF);
	MPT_ERR(mp_conn_recv_bytes_into(w, buf, 8, 0, NULL, 0), -EBADF);
	MPT_ERR(mp_conn_poll(w, 0), -EBADF);
	MPT_ERR(mp_conn_send_bytes(w, NULL, 1, 0), -EINVAL);
	MPT_ERR(mp_conn_send_bytes(NULL, "x", 1, 0), -EINVAL);
	MPT_ERR(mp_conn_send_bytes(w, "x", 1, -5), -EINVAL);
	MPT_ERR(mp_conn_recv_bytes(r, 10, NULL, 0), -EINVAL);
	MPT_ERR(mp_conn_recv_bytes(NULL, 10, &m, 0), -EINVAL);
	MPT_ERR(mp_conn_recv_bytes_into(r, buf, 8, 9, NULL, 0), -EINVAL);
	MPT_ERR(mp_conn_recv_bytes_into(r, NULL, 8, 0, NULL, 0), -EINVAL);
	MPT_ERR(mp_conn_poll(r, -2), -EINVAL);
	MPT_ERR(mp_conn_poll(NULL, 0), -EINVAL);
	MPT_ERR(mp_conn_fileno(NULL), -EINVAL);
	MPT_ERR(mp_conn_set_spin(r, -1), -EINVAL);
	MPT_ERR(mp_conn_set_spin(r, MP_SEC(2)), -EINVAL);
	MPT_ERR(mp__conn_set_path(r, 7), -EINVAL);
	CU_ASSERT(mp_conn_closed(NULL) && !mp_conn_readable(NULL) &&
	          !mp_conn_writable(NULL));
	MPT_OK(mp_conn_close(NULL));
	/* Nothing there: try-once says so, and nothing was consumed. */
	MPT_ERR(mp_conn_recv_bytes(r, 10, &m, 0), -EAGAIN);
	MPT_EQ(mp_conn_poll(r, 0), 0);
	MPT_OK(mp_conn_send_bytes(w, "abc", 3, 0));
	MPT_EQ(mp_conn_poll(r, 0), 1);
	MPT_EQ(mp_conn_recv_bytes_into(r, buf, 8, 5, NULL, 0), 3);
	MPT_EQ(memcmp(buf + 5, "abc", 3), 0);
	/* Empty buffer, empty message. */
	MPT_OK(mp_conn_send_bytes(w, NULL, 0, 0));
	MPT_EQ(mp_conn_recv_bytes_into(r, NULL, 0, 0, NULL, 0), 0);
	CU_ASSERT(mp_conn_fileno(r) >= 0);
	mp_conn_close(r);
	mp_conn_close(w);

	CU_ASSERT(mp_conn_open(-1, true, true, &err) == NULL);
	MPT_ERR(err, -EINVAL);
	CU_ASSERT(mp_conn_open(0, false, false, &err) == NULL);
	MPT_ERR(err, -EINVAL);
	CU_ASSERT(mp_conn_open(999, true, false, &err) == NULL);
	MPT_ERR(err, -EBADF);
}

/* Python: a message over maxlength is "bad message length"; a duplex
 * connection stops being readable, a read-only one is closed. */
static void test_maxlength(void)
{
	mp_conn_t *a, *b, *r, *w;
	mp_bytes_t m;
	uint8_t big[100] = { 0 };

	MPT_OK(mp_pipe(true, &a, &b));
	MPT_OK(mp_conn_send_bytes(a, big, 100, 0));
	MPT_ERR(mp_conn_recv_bytes(b, 99, &m, TEST_WAIT_NS), -EMSGSIZE);
	CU_ASSERT(m.data == NULL);
	CU_ASSERT(!mp_conn_closed(b) && !mp_conn_readable(b) &&
	          mp_conn_writable(b));
	MPT_ERR(mp_conn_recv_bytes(b, 100, &m, 0), -EBADF);
	MPT_OK(mp_conn_send_bytes(b, "still", 5, 0));
	MPT_OK(mp_conn_recv_bytes(a, 5, &m, TEST_WAIT_NS)); /* exactly max */
	MPT_EQ(m.len, 5);
	free(m.data);
	mp_conn_close(a);
	mp_conn_close(b);

	MPT_OK(mp_pipe(false, &r, &w));
	MPT_OK(mp_conn_send_bytes(w, big, 100, 0));
	MPT_ERR(mp_conn_recv_bytes(r, 0, &m, TEST_WAIT_NS), -EMSGSIZE);
	CU_ASSERT(mp_conn_closed(r));
	MPT_ERR(mp_conn_recv_bytes(r, 100, &m, 0), -MP_ECLOSED);
	MPT_ERR(mp_conn_poll(r, 0), -MP_ECLOSED);
	MPT_ERR(mp_conn_fileno(r), -MP_ECLOSED);
	MPT_OK(mp_conn_close(r));
	/* The reader is gone: the writer gets EPIPE, and lives. */
	MPT_ERR(mp_conn_send_bytes(w, "x", 1, 0), -EPIPE);
	mp_conn_close(w);
}

/* Python's BufferTooShort: the message is handed over whole, consumed. */
static void test_too_short(void)
{
	mp_conn_t *r, *w;
	uint8_t buf[10], msg[25];
	mp_bytes_t whole;

	fill(msg, sizeof(msg), 3);
	MPT_OK(mp_pipe(false, &r, &w));
	setp(r);
	MPT_OK(mp_conn_send_bytes(w, msg, 25, 0));
	MPT_OK(mp_conn_send_bytes(w, msg, 25, 0));
	MPT_OK(mp_conn_send_bytes(w, msg, 6, 0));
	memset(buf, 0xee, sizeof(buf));
	MPT_ERR(mp_conn_recv_bytes_into(r, buf, 10, 0, &whole, TEST_WAIT_NS),
	        -MP_ETOOSHORT);
	MPT_EQ(whole.len, 25);
	CU_ASSERT(check_fill(whole.data, 25, 3));
	CU_ASSERT(buf[0] == 0xee); /* untouched */
	free(whole.data);
	/* Without a place for it, it is dropped; the stream stays framed. */
	MPT_ERR(mp_conn_recv_bytes_into(r, buf, 10, 0, NULL, TEST_WAIT_NS),
	        -MP_ETOOSHORT);
	CU_ASSERT(mp_conn_readable(r));
	/* 6 bytes at offset 5 of 10: too short by one. */
	MPT_ERR(mp_conn_recv_bytes_into(r, buf, 10, 5, &whole, TEST_WAIT_NS),
	        -MP_ETOOSHORT);
	MPT_EQ(whole.len, 6);
	free(whole.data);
	mp_conn_close(r);
	mp_conn_close(w);
}

static void test_poll(void)
{
	mp_conn_t *r, *w;
	MPT_OK(mp_pipe(false, &r, &w));
	MPT_EQ(mp_conn_poll(r, 0), 0);
	int64_t t0 = mp_sys_now_ns();
	MPT_EQ(mp_conn_poll(r, MP_MSEC(50)), 0);
	MPT_CMP(mp_sys_now_ns() - t0, >=, MP_MSEC(50)); /* not early */
	MPT_OK(mp_conn_send_bytes(w, "x", 1, 0));
	MPT_EQ(mp_conn_poll(r, MP_FOREVER), 1);
	MPT_EQ(mp_conn_poll(r, 0), 1); /* polling consumes nothing */
	mp_bytes_t m;
	MPT_OK(mp_conn_recv_bytes(r, 1, &m, 0));
	free(m.data);
	MPT_EQ(mp_conn_poll(r, 0), 0);
	mp_conn_close(w);
	MPT_EQ(mp_conn_poll(r, 0), 1); /* end of file is readable */
	MPT_ERR(mp_conn_recv_bytes(r, 1, &m, 0), -MP_EEOF);
	mp_conn_close(r);
}

/* ---- read-ahead ------------------------------------------------------------ */

/* The default never reads past a message: what follows stays in the
 * descriptor for any process that reads it (the shared-reader pattern). */
static void test_no_readahead_by_default(void)
{
	mp_conn_t *r, *w;
	uint8_t buf[16];
	MPT_OK(mp_pipe(false, &r, &w));
	MPT_OK(mp_conn_send_bytes(w, "one", 3, 0));
	MPT_OK(mp_conn_send_bytes(w, "two", 3, 0));
	MPT_EQ(mp_conn_recv_bytes_into(r, buf, sizeof(buf), 0, NULL, 0), 3);
	MPT_EQ(mp_conn_buffered(r), 0);
	/* The second message, whole, is still the pipe's. */
	MPT_EQ(read(mp_conn_fileno(r), buf, sizeof(buf)), 7);
	MPT_EQ(memcmp(buf, "\0\0\0\x03two", 7), 0);
	mp_conn_close(r);
	mp_conn_close(w);
}

static void test_readahead_misuse(void)
{
	mp_conn_t *r, *w;
	mp_bytes_t m;
	MPT_OK(mp_pipe(false, &r, &w));
	MPT_ERR(mp_conn_set_readahead(NULL, 64), -EINVAL);
	MPT_ERR(mp_conn_set_readahead(r, MP_CONN_READAHEAD_MAX + 1), -EINVAL);
	MPT_ERR(mp_conn_set_readahead(w, 64), -EBADF);
	MPT_ERR(mp_conn_buffered(NULL), -EINVAL);
	MPT_ERR(mp_conn_buffered(w), -EBADF);
	MPT_OK(mp_conn_set_readahead(r, 64));
	MPT_OK(mp_conn_set_readahead(r, MP_CONN_READAHEAD_DEFAULT));
	MPT_OK(mp_conn_send_bytes(w, "a", 1, 0));
	MPT_OK(mp_conn_send_bytes(w, "bc", 2, 0));
	MPT_OK(mp_conn_recv_bytes(r, 16, &m, 0));
	free(m.data);
	MPT_EQ(mp_conn_buffered(r), 6);
	/* Bytes are buffered: no change may lose or reorder them. */
	MPT_ERR(mp_conn_set_readahead(r, 0), -EBUSY);
	MPT_ERR(mp_conn_set_readahead(r, 4096), -EBUSY);
	MPT_OK(mp_conn_recv_bytes(r, 16, &m, 0));
	MPT_EQ(m.len, 2);
	free(m.data);
	MPT_OK(mp_conn_set_readahead(r, 0));
	MPT_EQ(mp_conn_buffered(r), 0);
	/* A stream given up drops what it had read ahead; closed is closed. */
	MPT_OK(mp_conn_set_readahead(r, 64));
	MPT_OK(mp_conn_send_bytes(w, "0123456789", 10, 0));
	MPT_OK(mp_conn_send_bytes(w, "x", 1, 0));
	MPT_ERR(mp_conn_recv_bytes(r, 5, &m, 0), -EMSGSIZE);
	CU_ASSERT(mp_conn_closed(r));
	MPT_ERR(mp_conn_buffered(r), -MP_ECLOSED);
	MPT_ERR(mp_conn_set_readahead(r, 64), -MP_ECLOSED);
	mp_conn_close(r);
	mp_conn_close(w);
}

/*
 * Messages read ahead are ready for poll, mp_wait and waitsets, though the
 * descriptor is not readable: none of them may sleep on it (each is given
 * a long timeout, so one that sleeps fails with -ETIMEDOUT).
 */
static void test_readahead_ready(void)
{
	mp_conn_t *r, *w, *r2, *w2;
	uint8_t buf[16];
	size_t ready[3];
	int err = 0;
	mp_event_t *ev = mp_event_new(&err);

	CU_ASSERT_FATAL(ev != NULL);
	MPT_OK(mp_pipe(true, &r, &w));
	MPT_OK(mp_pipe(false, &r2, &w2));
	MPT_OK(mp_conn_set_readahead(r, MP_CONN_READAHEAD_DEFAULT));
	for (int i = 0; i < 3; i++)
		MPT_OK(mp_conn_send_bytes(w, "msg", 3, 0));
	MPT_EQ(mp_conn_recv_bytes_into(r, buf, sizeof(buf), 0, NULL, 0), 3);
	MPT_EQ(mp_conn_buffered(r), 14);
	struct pollfd pf = { .fd = mp_conn_fileno(r), .events = POLLIN };
	MPT_EQ(poll(&pf, 1, 0), 0); /* all of it was read ahead */
	MPT_EQ(mp_conn_poll(r, TEST_WAIT_NS), 1);
	/* Descriptors only (one ppoll), and with a shared object (the
	 * io_uring sleep): the buffered connection, and only it. */
	mp_waitable_t objs[3] = { mp_wait_conn(r2), mp_wait_conn(r),
	                          mp_wait_event(ev) };
	MPT_EQ(mp_wait(objs, 2, TEST_WAIT_NS, ready), 1);
	MPT_EQ(ready[0], 1);
	MPT_EQ(mp_wait(objs, 3, TEST_WAIT_NS, ready), 1);
	MPT_EQ(ready[0], 1);
	/* Buffered and readable at once: counted once. */
	MPT_OK(mp_conn_send_bytes(w2, "z", 1, 0));
	MPT_OK(mp_conn_send_bytes(w, "4th", 3, 0));
	MPT_EQ(mp_wait(objs, 3, 0, ready), 2);
	MPT_EQ(ready[0], 0);
	MPT_EQ(ready[1], 1);
	mp_waitset_t *ws = mp_waitset_open(&err);
	CU_ASSERT_FATAL(ws != NULL);
	MPT_EQ(mp_waitset_add(ws, mp_wait_conn(r)), 0);
	MPT_EQ(mp_waitset_add(ws, mp_wait_conn(r2)), 1);
	MPT_EQ(mp_waitset_wait(ws, TEST_WAIT_NS, ready, 3), 2);
	MPT_EQ(mp_conn_recv_bytes_into(r2, buf, sizeof(buf), 0, NULL, 0), 1);
	for (int i = 0; i < 3; i++) {
		MPT_EQ(mp_waitset_wait(ws, TEST_WAIT_NS, ready, 3), 1);
		MPT_EQ(ready[0], 0);
		MPT_EQ(mp_conn_recv_bytes_into(r, buf, sizeof(buf), 0, NULL, 0),
		       3);
	}
	/* Drained: nothing is ready, and the waits say so. */
	MPT_EQ(mp_conn_buffered(r), 0);
	MPT_EQ(mp_conn_poll(r, 0), 0);
	MPT_ERR(mp_wait(objs, 3, 0, ready), -EAGAIN);
	MPT_ERR(mp_waitset_wait(ws, 0, ready, 3), -EAGAIN);
	MPT_OK(mp_waitset_remove(ws, 0));
	MPT_OK(mp_conn_send_bytes(w, "5th", 3, 0));
	MPT_ERR(mp_waitset_wait(ws, 0, ready, 3), -EAGAIN); /* r is out */
	MPT_OK(mp_waitset_close(ws));
	mp_event_free(ev);
	mp_conn_close(r);
	mp_conn_close(w);
	mp_conn_close(r2);
	mp_conn_close(w2);
}

struct raw_arg {
	int fd;             /* the raw descriptor to write to */
	const void *bytes;
	size_t len;
	int after;          /* 0: exit; 1: stall (sleep) */
	mp_conn_t *drop[2];
};

/* Child: write raw bytes, then exit or stall. */
static int raw_child(void *arg)
{
	struct raw_arg *a = arg;
	if (a->drop[0])
		close(mp_conn_fileno(a->drop[0]));
	if (write(a->fd, a->bytes, a->len) != (ssize_t)a->len)
		return 20;
	if (a->after == 1)
		usleep(3000000);
	return 0;
}

/* Send raw bytes from a child over a fresh pipe or socketpair, then
 * receive one message from them. */
static int recv_raw(bool duplex, const void *bytes, size_t len, int after,
                    size_t maxlength, int64_t timeout, mp_conn_t **keep)
{
	mp_conn_t *r, *w;
	mp_bytes_t m;
	MPT_OK(mp_pipe(duplex, &r, &w));
	setp(r);
	struct raw_arg a = { mp_conn_fileno(w), bytes, len, after, { r, NULL } };
	mp_process_t *p = spawn(raw_child, &a);
	mp_conn_close(w);
	int ret = mp_conn_recv_bytes(r, maxlength, &m, timeout);
	free(m.data);
	if (after == 1)
		mp_process_kill(p);
	reap(p);
	if (keep)
		*keep = r;
	else
		mp_conn_close(r);
	return ret;
}

static void test_bad_headers(void)
{
	static const uint8_t huge[] = "\xff\xff\xff\xff\x40\0\0\0\0\0\0\0abc";
	static const uint8_t neg[] = "\xff\xff\xff\xfe" "abcd";
	static const uint8_t top[] = "\xff\xff\xff\xff\x80\0\0\0\0\0\0\0";
	static const uint8_t lng[] = "\xff\xff\xff\xff\0\0\0\0\0\0\0\x05hello";
	static const uint8_t cut[] = "\0\0\0\x10" "abc";

	/* 2^62 with a limit: refused from the header alone. */
	MPT_ERR(recv_raw(false, huge, 15, 0, 1 << 20, TEST_WAIT_NS, NULL),
	        -EMSGSIZE);
	/* 2^62 without a limit: memory grows only with what arrives (3
	 * bytes), so the peer's end of file is the error, not -ENOMEM. */
	MPT_ERR(recv_raw(false, huge, 15, 0, MP_CONN_NOLIMIT, TEST_WAIT_NS,
	                 NULL), -ECONNRESET);
	MPT_ERR(recv_raw(true, neg, 8, 0, MP_CONN_NOLIMIT, TEST_WAIT_NS, NULL),
	        -EBADMSG);
	MPT_ERR(recv_raw(false, top, 12, 0, MP_CONN_NOLIMIT, TEST_WAIT_NS,
	                 NULL), -EBADMSG);
	MPT_EQ(recv_raw(false, lng, 17, 0, 5, TEST_WAIT_NS, NULL), 0);
	/* Truncated: in the header, in the long header, in the payload. */
	MPT_ERR(recv_raw(false, cut, 2, 0, 100, TEST_WAIT_NS, NULL),
	        -ECONNRESET);
	MPT_ERR(recv_raw(true, huge, 7, 0, MP_CONN_NOLIMIT, TEST_WAIT_NS,
	                 NULL), -ECONNRESET);
	MPT_ERR(recv_raw(false, cut, 7, 0, 100, TEST_WAIT_NS, NULL),
	        -ECONNRESET);
	/* A peer that stalls mid-message: the deadline, and the stream is
	 * given up (a read-only end is closed). */
	mp_conn_t *r;
	int64_t t0 = mp_sys_now_ns();
	MPT_ERR(recv_raw(false, cut, 7, 1, 100, MP_MSEC(100), &r), -ETIMEDOUT);
	MPT_CMP(mp_sys_now_ns() - t0, >=, MP_MSEC(100));
	CU_ASSERT(mp_conn_closed(r));
	mp_conn_close(r);
	MPT_ERR(recv_raw(true, cut, 7, 1, 100, MP_MSEC(50), &r), -ETIMEDOUT);
	CU_ASSERT(!mp_conn_closed(r) && !mp_conn_readable(r));
	mp_conn_close(r);
}

static int die_child(void *arg)
{
	mp_conn_t **ends = arg;
	mp_conn_close(ends[0]);
	/* Half a message, then death by SIGKILL. */
	if (write(mp_conn_fileno(ends[1]), "\0\0\0\x20partial", 11) != 11)
		return 1;
	raise(SIGKILL);
	return 0;
}

static void test_peer_death(void)
{
	mp_conn_t *ends[2];
	mp_bytes_t m;
	for (int duplex = 0; duplex < 2; duplex++) {
		MPT_OK(mp_pipe(duplex, &ends[0], &ends[1]));
		setp(ends[0]);
		mp_process_t *p = spawn(die_child, ends);
		mp_conn_close(ends[1]);
		MPT_ERR(mp_conn_recv_bytes(ends[0], MP_CONN_NOLIMIT, &m,
		                           TEST_WAIT_NS), -ECONNRESET);
		MPT_EQ(reap(p), -SIGKILL);
		mp_conn_close(ends[0]);
	}
}

/* ---- SIGPIPE, send timeouts, huge messages -------------------------------- */

static bool sigpipe_pending(void)
{
	sigset_t s;
	sigpending(&s);
	return sigismember(&s, SIGPIPE) == 1;
}

static void test_sigpipe(void)
{
	mp_conn_t *r, *w, *a, *b;
	struct sigaction dfl = { .sa_handler = SIG_DFL }, old;

	/* The default action of SIGPIPE kills: no call may raise it. */
	sigaction(SIGPIPE, &dfl, &old);
	MPT_OK(mp_pipe(false, &r, &w));
	setp(w);
	mp_conn_close(r);
	MPT_ERR(mp_conn_send_bytes(w, "x", 1, MP_FOREVER), -EPIPE);
	MPT_ERR(mp_conn_send_bytes(w, "x", 1, TEST_WAIT_NS), -EPIPE);
	CU_ASSERT(mp_conn_writable(w)); /* nothing was written */
	CU_ASSERT(!sigpipe_pending());
	/* An application that blocks SIGPIPE and has one pending keeps it. */
	sigset_t set, prev;
	sigemptyset(&set);
	sigaddset(&set, SIGPIPE);
	pthread_sigmask(SIG_BLOCK, &set, &prev);
	raise(SIGPIPE);
	MPT_ERR(mp_conn_send_bytes(w, "x", 1, MP_FOREVER), -EPIPE);
	CU_ASSERT(sigpipe_pending());
	struct timespec zero = { 0, 0 };
	MPT_EQ(sigtimedwait(&set, NULL, &zero), SIGPIPE);
	/* ... and one that blocks it without one pending gets none. */
	MPT_ERR(mp_conn_send_bytes(w, "x", 1, MP_FOREVER), -EPIPE);
	CU_ASSERT(!sigpipe_pending());
	pthread_sigmask(SIG_SETMASK, &prev, NULL);
	mp_conn_close(w);

	MPT_OK(mp_pipe(true, &a, &b));
	setp(a);
	mp_conn_close(b);
	int e = mp_conn_send_bytes(a, "x", 1, MP_FOREVER);
	CU_ASSERT(e == -EPIPE || e == -ECONNRESET);
	mp_conn_close(a);
	sigaction(SIGPIPE, &old, NULL);
}

/* With RWF_NOSIGNAL (Linux 6.18) and with the guard that replaces it. */
static void test_sigpipe_both(void)
{
	mp_sys_set_nosignal(true);
	if (!mp_sys_nosignal())
		MPT_SKIP("no RWF_NOSIGNAL (Linux < 6.18): the guard only");
	test_sigpipe();
	mp_sys_set_nosignal(false);
	test_sigpipe();
	mp_sys_set_nosignal(true);
}

static void test_send_timeout(void)
{
	mp_conn_t *r, *w;
	static uint8_t big[1 << 20];

	MPT_OK(mp_pipe(false, &r, &w));
	setp(w);
	/* Fill the pipe; then a small message cannot start: intact. */
	int fl = fcntl(mp_conn_fileno(w), F_GETFL);
	fcntl(mp_conn_fileno(w), F_SETFL, fl | O_NONBLOCK);
	while (write(mp_conn_fileno(w), big, 4096) > 0)
		;
	fcntl(mp_conn_fileno(w), F_SETFL, fl);
	MPT_ERR(mp_conn_send_bytes(w, "x", 1, 0), -EAGAIN);
	int64_t t0 = mp_sys_now_ns();
	MPT_ERR(mp_conn_send_bytes(w, "x", 1, MP_MSEC(60)), -ETIMEDOUT);
	MPT_CMP(mp_sys_now_ns() - t0, >=, MP_MSEC(60));
	CU_ASSERT(mp_conn_writable(w));
	/* Room for part of a big one: it starts, times out, and the
	 * write-only end is given up (closed). */
	uint8_t drain[8192];
	MPT_EQ(read(mp_conn_fileno(r), drain, sizeof(drain)), sizeof(drain));
	MPT_ERR(mp_conn_send_bytes(w, big, sizeof(big), MP_MSEC(60)),
	        -ETIMEDOUT);
	CU_ASSERT(mp_conn_closed(w));
	mp_conn_close(w);
	mp_conn_close(r);
}

/*
 * A message of 2 GiB and more, without 2 GiB of memory: each end is one
 * small memfd mapped over and over along a long range.  (Fresh memory
 * took ~5 s per GiB to fault in on a VM, half the suite's time.)  The two
 * periods differ, so what the receiver's memfd holds at the end - the
 * stream's last DST_PERIOD bytes, each where its offset puts it - depends
 * on the message's exact length and content, and is checked byte by byte.
 */
#define HUGE_LEN (((size_t)1 << 31) + 5)
#define SRC_PERIOD ((size_t)2 << 20)
#define DST_PERIOD (((size_t)2 << 20) + 4096)

/* The sender's byte at stream offset i: no shorter period than its own. */
static uint8_t huge_byte(size_t i)
{
	return (uint8_t)(((uint32_t)(i % SRC_PERIOD) * 2654435761u) >> 24);
}

/* len bytes of address space repeating a memfd of `period` bytes. */
static uint8_t *alias_map(size_t period, size_t len, int *fdp)
{
	size_t span = (len + period - 1) / period * period;
	int fd = memfd_create("mproc-huge", MFD_CLOEXEC);
	uint8_t *base = mmap(NULL, span, PROT_NONE,
	                     MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	bool ok = fd >= 0 && ftruncate(fd, (off_t)period) == 0 &&
	          base != MAP_FAILED;
	for (size_t off = 0; ok && off < span; off += period)
		ok = mmap(base + off, period, PROT_READ | PROT_WRITE,
		          MAP_SHARED | MAP_FIXED | MAP_POPULATE, fd, 0) != MAP_FAILED;
	if (!ok) {
		if (base != MAP_FAILED)
			munmap(base, span);
		if (fd >= 0)
			close(fd);
		return NULL;
	}
	*fdp = fd;
	return base;
}

static int huge_child(void *arg)
{
	mp_conn_t **ends = arg;
	int fd;
	mp_conn_close(ends[0]);
	uint8_t *src = alias_map(SRC_PERIOD, HUGE_LEN, &fd);
	if (!src)
		return 30;
	for (size_t i = 0; i < SRC_PERIOD; i++)
		src[i] = huge_byte(i);
	int r = mp_conn_send_bytes(ends[1], src, HUGE_LEN, MP_FOREVER);
	return r < 0 ? 31 : 0;
}

/* 2 GiB and more: the -1 marker and the 8-byte length, end to end. */
static void test_huge_message(void)
{
	mp_conn_t *ends[2];
	int fd = -1;
	MPT_OK(mp_pipe(false, &ends[0], &ends[1]));
	mp_process_t *p = spawn(huge_child, ends);
	mp_conn_close(ends[1]);
	uint8_t *dst = alias_map(DST_PERIOD, HUGE_LEN + 1, &fd);
	CU_ASSERT_FATAL(dst != NULL);
	MPT_EQ(mp_conn_recv_bytes_into(ends[0], dst, HUGE_LEN + 1, 1, NULL,
	                               MP_SEC(60)), HUGE_LEN);
	/* Physical byte k last took the stream byte that landed at the
	 * largest dst offset d <= HUGE_LEN with d = k (mod DST_PERIOD). */
	size_t bad = 0;
	for (size_t k = 0; k < DST_PERIOD; k++) {
		size_t d = HUGE_LEN - (HUGE_LEN - k) % DST_PERIOD;
		bad += dst[k] != huge_byte(d - 1);
	}
	MPT_EQ(bad, 0);
	close(fd);
	munmap(dst, (HUGE_LEN + DST_PERIOD) / DST_PERIOD * DST_PERIOD);
	MPT_EQ(reap(p), 0);
	mp_conn_close(ends[0]);
}

/* ---- addresses --------------------------------------------------------------- */

static void test_address(void)
{
	mp_address_t a;
	char buf[300];

	MPT_OK(mp_address_parse(&a, "127.0.0.1:6000"));
	MPT_EQ(a.family, AF_INET);
	MPT_EQ(a.port, 6000);
	MPT_EQ(strcmp(a.name, "127.0.0.1"), 0);
	MPT_OK(mp_address_parse(&a, "localhost:0"));
	MPT_EQ(a.family, AF_INET);
	MPT_OK(mp_address_parse(&a, "[::1]:80"));
	MPT_EQ(a.family, AF_INET6);
	MPT_EQ(strcmp(a.name, "::1"), 0);
	MPT_EQ(mp_address_format(&a, buf, sizeof(buf)), 8);
	MPT_EQ(strcmp(buf, "[::1]:80"), 0);
	MPT_OK(mp_address_parse(&a, "/tmp/x.sock"));
	MPT_EQ(a.family, AF_UNIX);
	MPT_EQ(a.len, 11);
	MPT_OK(mp_address_parse(&a, "relative:name")); /* not a port: a path */
	MPT_EQ(a.family, AF_UNIX);
	MPT_OK(mp_address_parse(&a, "@abc\x01"));
	MPT_EQ(a.family, AF_UNIX);
	MPT_EQ(a.len, 5);
	MPT_EQ(a.name[0], 0);
	MPT_EQ(mp_address_format(&a, buf, sizeof(buf)), 8);
	MPT_EQ(strcmp(buf, "@abc\\x01"), 0);
	MPT_EQ(mp_address_format(&a, buf, 3), 8); /* truncated, counted */
	MPT_EQ(strcmp(buf, "@a"), 0);
	MPT_OK(mp_address_inet(&a, 0, NULL, 5));
	MPT_EQ(a.family, AF_INET);
	MPT_OK(mp_address_inet(&a, 0, "fe80::1", 5));
	MPT_EQ(a.family, AF_INET6);
}

static void test_address_errors(void)
{
	mp_address_t a;
	char buf[300];

	MPT_ERR(mp_address_parse(&a, "host:70000"), -EINVAL);
	MPT_ERR(mp_address_parse(&a, ""), -EINVAL);
	MPT_ERR(mp_address_parse(NULL, "x"), -EINVAL);
	MPT_ERR(mp_address_inet(&a, AF_UNIX, "h", 1), -EINVAL);
	MPT_ERR(mp_address_unix(&a, ""), -EINVAL);
	memset(buf, 'p', 200);
	buf[0] = '/';
	buf[200] = 0;
	MPT_ERR(mp_address_unix(&a, buf), -ENAMETOOLONG);
	MPT_ERR(mp_address_parse(&a, buf), -ENAMETOOLONG);
	MPT_ERR(mp_address_abstract(&a, buf, 108), -ENAMETOOLONG);
	a.family = 12345;
	MPT_ERR(mp_address_format(&a, buf, sizeof(buf)), -EINVAL);
}

/* ---- listeners and clients between our two ends ------------------------- */

static const char key[] = "secret password";

struct client_arg {
	mp_address_t addr;
	mp_conn_opts_t opts;
	mp_listener_t *drop;  /* the parent's listener, closed in the child */
	int want_err;         /* the mp_client result expected */
};

/* TCP_NODELAY on a connection's socket. */
static bool tcp_nodelay(const mp_conn_t *c)
{
	int v = 0;
	socklen_t len = sizeof(v);
	getsockopt(mp_conn_fileno(c), IPPROTO_TCP, TCP_NODELAY, &v, &len);
	return v != 0;
}

/* Child: connect, send "ping", expect "pong". */
static int client_child(void *arg)
{
	struct client_arg *a = arg;
	int err = 0;
	mp_listener_close(a->drop); /* not the file: we did not open it */
	mp_conn_t *c = mp_client(&a->addr, &a->opts, TEST_WAIT_NS, &err);
	if (!c)
		return err == a->want_err ? 0 : 40;
	if (a->want_err)
		return 41;
	if (a->addr.family != AF_UNIX && !tcp_nodelay(c))
		return 44;
	mp_bytes_t m;
	if (mp_conn_send_bytes(c, "ping", 4, TEST_WAIT_NS) < 0 ||
	    mp_conn_recv_bytes(c, 16, &m, TEST_WAIT_NS) < 0)
		return 42;
	int ok = m.len == 4 && !memcmp(m.data, "pong", 4);
	free(m.data);
	mp_conn_close(c);
	return ok ? 0 : 43;
}

static void serve_one(mp_listener_t *l, int want_family)
{
	int err = 0;
	mp_conn_t *c = mp_listener_accept(l, TEST_WAIT_NS, &err);
	MPT_OK(err);
	if (!c)
		return;
	/* Inherited from the listening socket. */
	if (want_family != AF_UNIX)
		CU_ASSERT(tcp_nodelay(c));
	mp_bytes_t m;
	MPT_OK(mp_conn_recv_bytes(c, 16, &m, TEST_WAIT_NS));
	CU_ASSERT(m.len == 4 && !memcmp(m.data, "ping", 4));
	free(m.data);
	MPT_OK(mp_conn_send_bytes(c, "pong", 4, TEST_WAIT_NS));
	const mp_address_t *last = mp_listener_last_accepted(l);
	CU_ASSERT_FATAL(last != NULL);
	MPT_EQ(last->family, want_family);
	mp_conn_close(c);
}

/* Listener and client on address a, with and without an authkey. */
static void pair_at(const mp_address_t *a, const mp_conn_opts_t *opts)
{
	int err = 0;
	mp_listener_t *l = mp_listener_open(a, opts, &err);
	MPT_OK(err);
	if (!l)
		return;
	const mp_address_t *bound = mp_listener_address(l);
	MPT_EQ(bound->family, a ? a->family : AF_UNIX);
	if (a && a->family != AF_UNIX)
		CU_ASSERT(bound->port != 0);
	struct client_arg ca = { *bound, opts ? *opts : (mp_conn_opts_t){ 0 },
	                         l, 0 };
	mp_process_t *p = spawn(client_child, &ca);
	serve_one(l, bound->family);
	MPT_EQ(reap(p), 0);
	if (bound->family == AF_UNIX && bound->name[0]) {
		struct stat st;
		char path[MP_ADDRESS_MAX];
		snprintf(path, sizeof(path), "%s", bound->name);
		/* Owner-only, and still there after the child closed its copy. */
		MPT_EQ(stat(path, &st), 0);
		MPT_EQ(st.st_mode & 0777, 0600);
		MPT_OK(mp_listener_close(l));
		MPT_ERR(stat(path, &st), -1); /* removed */
	} else {
		MPT_OK(mp_listener_close(l));
	}
}

static void test_listener_families(void)
{
	mp_conn_opts_t auth = { .authkey = key, .authkey_len = strlen(key) };
	mp_address_t a;
	char text[128];

	for (int k = 0; k < 2; k++) {
		const mp_conn_opts_t *o = k ? &auth : NULL;
		mp_address_parse(&a, "127.0.0.1:0");
		pair_at(&a, o);
		mp_address_parse(&a, "localhost:0");
		pair_at(&a, o);
		snprintf(text, sizeof(text), "/tmp/mproc-test-%d.sock", getpid());
		mp_address_parse(&a, text);
		pair_at(&a, o);
		snprintf(text, sizeof(text), "@mproc-test-%d", getpid());
		mp_address_parse(&a, text);
		pair_at(&a, o);
		pair_at(NULL, o); /* Python's arbitrary AF_UNIX address */
		int fd = socket(AF_INET6, SOCK_STREAM, 0);
		struct sockaddr_in6 lo = { .sin6_family = AF_INET6,
		                           .sin6_addr = IN6ADDR_LOOPBACK_INIT };
		if (fd < 0 || bind(fd, (struct sockaddr *)&lo, sizeof(lo)) < 0) {
			MPT_SKIP("no IPv6 loopback here");
		} else {
			mp_address_parse(&a, "[::1]:0");
			pair_at(&a, o);
		}
		if (fd >= 0)
			close(fd);
	}
}

static void test_auth_digests(void)
{
	mp_address_t a;
	for (int d = 0; d < MP_DIGEST_COUNT; d++) {
		mp_conn_opts_t o = { .authkey = key, .authkey_len = strlen(key),
		                     .digest = d };
		mp_address_parse(&a, "127.0.0.1:0");
		pair_at(&a, &o);
	}
	/* An empty key still authenticates (Python 3.13's rule). */
	mp_conn_opts_t empty = { .authkey = "", .authkey_len = 0 };
	pair_at(NULL, &empty);
}

static void test_wrong_key(void)
{
	int err = 0;
	mp_conn_opts_t o = { .authkey = key, .authkey_len = strlen(key) };
	mp_listener_t *l = mp_listener_open(NULL, &o, &err);
	CU_ASSERT_FATAL(l != NULL);
	struct client_arg ca = { *mp_listener_address(l), o, l, -MP_EAUTH };
	ca.opts.authkey = "not the password";
	ca.opts.authkey_len = 16;
	mp_process_t *p = spawn(client_child, &ca);
	CU_ASSERT(mp_listener_accept(l, TEST_WAIT_NS, &err) == NULL);
	MPT_ERR(err, -MP_EAUTH);
	MPT_EQ(reap(p), 0); /* the client saw -MP_EAUTH too */
	/* The listener goes on serving. */
	ca.opts = o;
	ca.want_err = 0;
	p = spawn(client_child, &ca);
	serve_one(l, AF_UNIX);
	MPT_EQ(reap(p), 0);
	mp_listener_close(l);
}

static void test_listener_misuse(void)
{
	int err = 0;
	mp_address_t a;
	mp_conn_opts_t bad = { .digest = 99 };

	CU_ASSERT(mp_listener_open(NULL, &bad, &err) == NULL);
	MPT_ERR(err, -EINVAL);
	bad = (mp_conn_opts_t){ .authkey_len = 3 };
	CU_ASSERT(mp_listener_open(NULL, &bad, &err) == NULL);
	MPT_ERR(err, -EINVAL);
	bad = (mp_conn_opts_t){ .handshake_timeout = -7 };
	CU_ASSERT(mp_listener_open(NULL, &bad, &err) == NULL);
	MPT_ERR(err, -EINVAL);
	CU_ASSERT(mp_listener_accept(NULL, 0, &err) == NULL);
	MPT_ERR(err, -EINVAL);
	MPT_ERR(mp_listener_fileno(NULL), -EINVAL);
	CU_ASSERT(mp_listener_address(NULL) == NULL);
	MPT_OK(mp_listener_close(NULL));
	CU_ASSERT(mp_client(NULL, NULL, 0, &err) == NULL);
	MPT_ERR(err, -EINVAL);
	mp_address_parse(&a, "/nonexistent/mproc.sock");
	CU_ASSERT(mp_client(&a, NULL, TEST_WAIT_NS, &err) == NULL);
	MPT_ERR(err, -ENOENT);

	/* A port in use; then a port with nobody listening. */
	mp_address_parse(&a, "127.0.0.1:0");
	mp_listener_t *l = mp_listener_open(&a, NULL, &err);
	CU_ASSERT_FATAL(l != NULL);
	a = *mp_listener_address(l);
	CU_ASSERT(mp_listener_open(&a, NULL, &err) == NULL);
	MPT_ERR(err, -EADDRINUSE);
	mp_listener_close(l);
	CU_ASSERT(mp_client(&a, NULL, TEST_WAIT_NS, &err) == NULL);
	MPT_ERR(err, -ECONNREFUSED);
}

/* accept's own timeouts, with and without a key. */
static void test_accept_timeouts(void)
{
	mp_conn_opts_t o = { .authkey = key, .authkey_len = 3 };
	int err = 0;
	for (int k = 0; k < 2; k++) {
		mp_listener_t *l = mp_listener_open(NULL, k ? &o : NULL, &err);
		CU_ASSERT_FATAL(l != NULL);
		CU_ASSERT(mp_listener_accept(l, 0, &err) == NULL);
		MPT_ERR(err, -EAGAIN);
		int64_t t0 = mp_sys_now_ns();
		CU_ASSERT(mp_listener_accept(l, MP_MSEC(50), &err) == NULL);
		MPT_ERR(err, -ETIMEDOUT);
		MPT_CMP(mp_sys_now_ns() - t0, >=, MP_MSEC(50));
		CU_ASSERT(mp_listener_last_accepted(l) == NULL);
		mp_listener_close(l);
	}
}

/* ---- the public handshake functions, as Python's ------------------------- */

struct hs_arg {
	mp_conn_t *c, *drop;
	const char *key;
	int digest;
};

/* Child: Python's Client order - answer, then deliver. */
static int hs_child(void *arg)
{
	struct hs_arg *a = arg;
	mp_conn_close(a->drop);
	int r = mp_answer_challenge(a->c, a->key, strlen(a->key), TEST_WAIT_NS);
	if (r < 0)
		return r == -MP_EAUTH ? 60 : 61;
	r = mp_deliver_challenge(a->c, a->key, strlen(a->key), a->digest,
	                         TEST_WAIT_NS);
	return r < 0 ? 62 : 0;
}

static void test_public_handshake(void)
{
	mp_conn_t *a, *b;
	for (int d = 0; d < MP_DIGEST_COUNT; d++) {
		MPT_OK(mp_pipe(true, &a, &b));
		struct hs_arg ha = { b, a, key, (d + 1) % MP_DIGEST_COUNT };
		mp_process_t *p = spawn(hs_child, &ha);
		MPT_OK(mp_deliver_challenge(a, key, strlen(key), d, TEST_WAIT_NS));
		MPT_OK(mp_answer_challenge(a, key, strlen(key), TEST_WAIT_NS));
		MPT_EQ(reap(p), 0);
		mp_conn_close(a);
		mp_conn_close(b);
	}
	/* Wrong key: both sides say so. */
	MPT_OK(mp_pipe(true, &a, &b));
	struct hs_arg ha = { b, a, "other key", 0 };
	mp_process_t *p = spawn(hs_child, &ha);
	MPT_ERR(mp_deliver_challenge(a, key, strlen(key), 0, TEST_WAIT_NS),
	        -MP_EAUTH);
	MPT_EQ(reap(p), 60);
	/* Misuse. */
	MPT_ERR(mp_deliver_challenge(NULL, key, 3, 0, 0), -EINVAL);
	MPT_ERR(mp_deliver_challenge(a, NULL, 3, 0, 0), -EINVAL);
	MPT_ERR(mp_deliver_challenge(a, key, 3, MP_DIGEST_COUNT, 0), -EINVAL);
	MPT_ERR(mp_deliver_challenge(a, key, 3, 0, -9), -EINVAL);
	MPT_ERR(mp_answer_challenge(NULL, key, 3, 0), -EINVAL);
	MPT_ERR(mp_answer_challenge(a, NULL, 1, 0), -EINVAL);
	/* Nothing said within the timeout. */
	int64_t t0 = mp_sys_now_ns();
	MPT_ERR(mp_answer_challenge(a, key, 3, MP_MSEC(50)), -ETIMEDOUT);
	MPT_CMP(mp_sys_now_ns() - t0, >=, MP_MSEC(50));
	mp_conn_close(a);
	mp_conn_close(b);
}

struct raw_peer_arg {
	mp_conn_t *c, *drop;
	bool bytewise; /* each frame a byte at a time, else two in a write */
};

/* Send frames: in one write, or a byte at a time with pauses between. */
static int raw_write(int fd, const uint8_t *p, size_t n, bool bytewise)
{
	if (!bytewise)
		return send(fd, p, n, MSG_NOSIGNAL) == (ssize_t)n ? 0 : -1;
	for (size_t i = 0; i < n; i++) {
		if (send(fd, p + i, 1, MSG_NOSIGNAL) != 1)
			return -1;
		usleep(200);
	}
	return 0;
}

static void put_frame(uint8_t *out, size_t *n, const void *p, size_t len);
static int raw_recv(int fd, uint8_t *buf, size_t cap);

/* Child: a hand-made client side (answer, then deliver) whose frames come
 * a byte at a time, or two in one write: its answer with its challenge,
 * its "#WELCOME#" with a message. */
static int raw_peer_child(void *arg)
{
	struct raw_peer_arg *a = arg;
	static const char mine[] = "#CHALLENGE#{sha256}"
	                           "0123456789012345678901234567890123456789";
	uint8_t in[MP__AUTH_MSG_MAX], out[2 * MP__AUTH_MSG_MAX];
	uint8_t mac[MP__AUTH_RESPONSE_MAX];
	size_t n = 0;
	int fd = mp_conn_fileno(a->c);

	mp_conn_close(a->drop);
	int cn = raw_recv(fd, in, sizeof(in));
	int rn = cn > 0 ? mp__auth_respond(key, strlen(key), in, (size_t)cn,
	                                   mac) : -1;
	if (rn < 0)
		return 70;
	put_frame(out, &n, mac, (size_t)rn);
	if (!a->bytewise) /* ahead of the verdict, as no CPython client */
		put_frame(out, &n, mine, sizeof(mine) - 1);
	if (raw_write(fd, out, n, a->bytewise) < 0)
		return 71;
	if (raw_recv(fd, in, sizeof(in)) != 9 || memcmp(in, MP__WELCOME, 9))
		return 72;
	n = 0;
	if (a->bytewise) {
		put_frame(out, &n, mine, sizeof(mine) - 1);
		if (raw_write(fd, out, n, true) < 0)
			return 73;
		n = 0;
	}
	int an = raw_recv(fd, in, sizeof(in));
	if (an < 0 || mp__auth_verify(key, strlen(key),
	                              (const uint8_t *)mine + MP__CHALLENGE_LEN,
	                              sizeof(mine) - 1 - MP__CHALLENGE_LEN, in,
	                              (size_t)an) < 0)
		return 74;
	put_frame(out, &n, MP__WELCOME, 9);
	put_frame(out, &n, "hello", 5);
	return raw_write(fd, out, n, a->bytewise) < 0 ? 75 : 0;
}

/* The next message on c is "hello". */
static void expect_hello(mp_conn_t *c)
{
	mp_bytes_t m;
	MPT_OK(mp_conn_recv_bytes(c, 16, &m, TEST_WAIT_NS));
	MPT_EQ(m.len, 5);
	CU_ASSERT(m.data && memcmp(m.data, "hello", 5) == 0);
	free(m.data);
}

/* mp_deliver_challenge then mp_answer_challenge against a peer whose
 * frames come split into single bytes, or two in one write: the second
 * is kept for the next receive, and after "#WELCOME#" the peer's message
 * is left to the connection. */
static void test_handshake_framing(void)
{
	for (int k = 0; k < 2; k++) {
		mp_conn_t *a, *b;
		MPT_OK(mp_pipe(true, &a, &b));
		struct raw_peer_arg ra = { b, a, k == 1 };
		mp_process_t *p = spawn(raw_peer_child, &ra);
		mp_conn_close(b);
		MPT_OK(mp_deliver_challenge(a, key, strlen(key),
		                            MP_DIGEST_SHA256, TEST_WAIT_NS));
		if (k == 0) /* its challenge came with its answer */
			MPT_CMP(mp_conn_buffered(a), >, 0);
		MPT_OK(mp_answer_challenge(a, key, strlen(key), TEST_WAIT_NS));
		MPT_EQ(mp_conn_buffered(a), 0);
		expect_hello(a);
		MPT_EQ(reap(p), 0);
		mp_conn_close(a);
	}
}

/* ---- handshakes that go wrong ---------------------------------------------- */

static int raw_connect(const mp_address_t *a)
{
	struct sockaddr_storage ss;
	socklen_t len;
	CU_ASSERT_FATAL(mp__address_to_sockaddr(a, &ss, &len) == 0);
	int fd = socket(a->family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	CU_ASSERT_FATAL(fd >= 0);
	CU_ASSERT_FATAL(connect(fd, (struct sockaddr *)&ss, len) == 0);
	return fd;
}

static void raw_send(int fd, const void *payload, size_t len)
{
	uint8_t hdr[MP__FRAME_HDR_MAX];
	size_t h = mp__frame_encode(len, hdr);
	CU_ASSERT(send(fd, hdr, h, MSG_NOSIGNAL) == (ssize_t)h);
	if (len)
		CU_ASSERT(send(fd, payload, len, MSG_NOSIGNAL) == (ssize_t)len);
}

/* One frame (<= cap bytes) within TEST_WAIT_NS; its length, -1 at end of
 * file, -2 on timeout. */
static int raw_recv(int fd, uint8_t *buf, size_t cap)
{
	struct mp__frame_rx f;
	mp__frame_rx_init(&f);
	for (;;) {
		struct pollfd p = { fd, POLLIN, 0 };
		if (poll(&p, 1, (int)(TEST_WAIT_NS / 1000000)) <= 0)
			return -2;
		ssize_t n = read(fd, mp__frame_rx_space(&f), mp__frame_rx_need(&f));
		if (n <= 0)
			return -1;
		int r = mp__frame_rx_feed(&f, (size_t)n, MP__AUTH_MSG_MAX);
		if (r < 0)
			return -3;
		if (r == 1) {
			size_t len;
			const uint8_t *m = mp__frame_rx_payload(&f, &len);
			if (len > cap)
				return -3;
			memcpy(buf, m, len);
			return (int)len;
		}
	}
}

static mp_listener_t *auth_listener(int64_t hs_timeout, int backlog)
{
	int err = 0;
	mp_conn_opts_t o = { .authkey = key, .authkey_len = strlen(key),
	                     .handshake_timeout = hs_timeout,
	                     .backlog = backlog };
	mp_listener_t *l = mp_listener_open(NULL, &o, &err);
	CU_ASSERT_FATAL(l != NULL);
	return l;
}

/* A client that sends junk where the answer should be, sent ahead. */
static void test_listener_garbage(void)
{
	static const uint8_t huge[] = "\0\0\x03\xe8";       /* 1000 */
	static const uint8_t neg[] = "\xff\xff\xff\xf0";
	uint8_t buf[MP__AUTH_MSG_MAX];
	int err = 0;
	mp_listener_t *l = auth_listener(0, 8);

	int fd = raw_connect(mp_listener_address(l));
	raw_send(fd, "hello", 5);
	CU_ASSERT(mp_listener_accept(l, TEST_WAIT_NS, &err) == NULL);
	MPT_ERR(err, -MP_EAUTH);
	MPT_EQ(raw_recv(fd, buf, sizeof(buf)), 59); /* the challenge */
	MPT_EQ(raw_recv(fd, buf, sizeof(buf)), 9);
	MPT_EQ(memcmp(buf, MP__FAILURE, 9), 0);
	MPT_EQ(raw_recv(fd, buf, sizeof(buf)), -1); /* then closed */
	close(fd);

	const uint8_t *hdrs[] = { huge, neg };
	for (int i = 0; i < 2; i++) {
		fd = raw_connect(mp_listener_address(l));
		CU_ASSERT(send(fd, hdrs[i], 4, 0) == 4);
		CU_ASSERT(mp_listener_accept(l, TEST_WAIT_NS, &err) == NULL);
		MPT_ERR(err, -MP_EAUTH);
		close(fd);
	}
	mp_listener_close(l);
}

/* A client that answers right, then breaks the second half. */
static void test_listener_bad_second_half(void)
{
	uint8_t chal[MP__AUTH_MSG_MAX], out[MP__AUTH_RESPONSE_MAX];
	int err = 0;
	mp_listener_t *l = auth_listener(0, 8);
	for (int k = 0; k < 2; k++) {
		int fd = raw_connect(mp_listener_address(l));
		/* accept(0) admits it and sends the challenge. */
		CU_ASSERT(mp_listener_accept(l, 0, &err) == NULL);
		MPT_ERR(err, -EAGAIN);
		int n = raw_recv(fd, chal, sizeof(chal));
		int rn = mp__auth_respond(key, strlen(key), chal, (size_t)n, out);
		CU_ASSERT_FATAL(rn > 0);
		raw_send(fd, out, (size_t)rn);
		if (k == 0) {
			raw_send(fd, "#CHALLENGX#01234567890123456789", 31);
		} else {
			const char *c = "#CHALLENGE#01234567890123456789";
			raw_send(fd, c, 31);
		}
		if (k == 1) {
			/* Our answer comes back; say #FAILURE# to it. */
			CU_ASSERT(mp_listener_accept(l, 0, &err) == NULL);
			MPT_EQ(raw_recv(fd, chal, sizeof(chal)), 9); /* WELCOME */
			MPT_EQ(raw_recv(fd, chal, sizeof(chal)), 16);
			raw_send(fd, MP__FAILURE, 9);
		}
		CU_ASSERT(mp_listener_accept(l, TEST_WAIT_NS, &err) == NULL);
		MPT_ERR(err, -MP_EAUTH);
		close(fd);
	}
	mp_listener_close(l);
}

/* Append one frame to out, at *n. */
static void put_frame(uint8_t *out, size_t *n, const void *p, size_t len)
{
	*n += mp__frame_encode(len, out + *n);
	memcpy(out + *n, p, len);
	*n += len;
}

/* A legacy challenge of ours, as a raw client sends it. */
static const char raw_chal[] = "#CHALLENGE#01234567890123456789";

/* A raw client's first half: read the challenge, and put our answer and
 * our own challenge into buf; returns their length. */
static size_t raw_answer(mp_listener_t *l, int fd, uint8_t *buf)
{
	uint8_t chal[MP__AUTH_MSG_MAX], out[MP__AUTH_RESPONSE_MAX];
	int err = 0;
	size_t n = 0;

	/* accept(0) admits it and sends the challenge. */
	CU_ASSERT(mp_listener_accept(l, 0, &err) == NULL);
	MPT_ERR(err, -EAGAIN);
	int cn = raw_recv(fd, chal, sizeof(chal));
	int rn = mp__auth_respond(key, strlen(key), chal, (size_t)cn, out);
	CU_ASSERT_FATAL(rn > 0);
	put_frame(buf, &n, out, (size_t)rn);
	put_frame(buf, &n, raw_chal, strlen(raw_chal));
	return n;
}

/* The listener's "#WELCOME#" and its answer to raw_chal. */
static void raw_check_replies(int fd)
{
	uint8_t buf[MP__AUTH_MSG_MAX];
	MPT_EQ(raw_recv(fd, buf, sizeof(buf)), 9);
	MPT_EQ(memcmp(buf, MP__WELCOME, 9), 0);
	int an = raw_recv(fd, buf, sizeof(buf));
	MPT_CMP(an, >, 0);
	MPT_OK(mp__auth_verify(key, strlen(key),
	                       (const uint8_t *)raw_chal + MP__CHALLENGE_LEN,
	                       strlen(raw_chal) - MP__CHALLENGE_LEN, buf,
	                       (size_t)(an > 0 ? an : 0)));
}

/* A client's answer and challenge a byte at a time, the listener reading
 * after each; then its "#WELCOME#", a message and a descriptor sent
 * before the listener reads any of them: the two are the connection's,
 * the descriptor not lost to a read that took its byte. */
static void test_listener_split_frames(void)
{
	uint8_t buf[2 * MP__AUTH_MSG_MAX];
	static const uint8_t one = 1;
	int err = 0, pfd[2];
	mp_listener_t *l = auth_listener(0, 8);
	int fd = raw_connect(mp_listener_address(l));
	size_t n = raw_answer(l, fd, buf);

	for (size_t i = 0; i < n; i++) {
		CU_ASSERT_FATAL(send(fd, buf + i, 1, MSG_NOSIGNAL) == 1);
		CU_ASSERT(mp_listener_accept(l, 0, &err) == NULL);
		MPT_ERR(err, -EAGAIN);
	}
	raw_check_replies(fd);
	n = 0;
	put_frame(buf, &n, MP__WELCOME, 9);
	put_frame(buf, &n, "hello", 5);
	CU_ASSERT(send(fd, buf, n, MSG_NOSIGNAL) == (ssize_t)n);
	CU_ASSERT_FATAL(pipe2(pfd, O_CLOEXEC) == 0);
	CU_ASSERT(mp_sys_send_fds(fd, &one, 1, &pfd[1], 1, false) == 1);
	mp_conn_t *c = mp_listener_accept(l, TEST_WAIT_NS, &err);
	CU_ASSERT_FATAL(c != NULL);
	MPT_EQ(mp_conn_buffered(c), 0);
	expect_hello(c);
	int got = mp_conn_recv_fd(c, TEST_WAIT_NS);
	MPT_CMP(got, >=, 0);
	if (got >= 0) { /* the pipe's write end it is */
		CU_ASSERT(write(got, "x", 1) == 1);
		CU_ASSERT(read(pfd[0], buf, 1) == 1 && buf[0] == 'x');
		close(got);
	}
	close(pfd[0]);
	close(pfd[1]);
	mp_conn_close(c);
	close(fd);
	mp_listener_close(l);
}

/* A client that sends everything at once, "#WELCOME#" and a message
 * included, without waiting for our replies: one read takes it all, and
 * the message is the connection's first, buffered. */
static void test_listener_client_ahead(void)
{
	uint8_t buf[2 * MP__AUTH_MSG_MAX];
	int err = 0;
	mp_listener_t *l = auth_listener(0, 8);
	int fd = raw_connect(mp_listener_address(l));
	size_t n = raw_answer(l, fd, buf);

	put_frame(buf, &n, MP__WELCOME, 9);
	put_frame(buf, &n, "hello", 5);
	CU_ASSERT(send(fd, buf, n, MSG_NOSIGNAL) == (ssize_t)n);
	mp_conn_t *c = mp_listener_accept(l, TEST_WAIT_NS, &err);
	CU_ASSERT_FATAL(c != NULL);
	raw_check_replies(fd);
	MPT_EQ(mp_conn_buffered(c), 9);
	MPT_EQ(mp_conn_poll(c, 0), 1);
	expect_hello(c);
	MPT_EQ(mp_conn_buffered(c), 0);
	MPT_EQ(mp_conn_poll(c, 0), 0);
	mp_conn_close(c);
	close(fd);
	mp_listener_close(l);
}

/* A client that never speaks is dropped at the handshake deadline; others
 * are served meanwhile. */
static void test_listener_silent(void)
{
	uint8_t buf[MP__AUTH_MSG_MAX];
	int err = 0;
	mp_listener_t *l = auth_listener(MP_MSEC(200), 8);
	int fd = raw_connect(mp_listener_address(l));
	int64_t t0 = mp_sys_now_ns();
	CU_ASSERT(mp_listener_accept(l, MP_MSEC(400), &err) == NULL);
	MPT_ERR(err, -ETIMEDOUT);
	MPT_EQ(raw_recv(fd, buf, sizeof(buf)), 59);
	MPT_EQ(raw_recv(fd, buf, sizeof(buf)), -1); /* dropped */
	MPT_CMP(mp_sys_now_ns() - t0, >=, MP_MSEC(200));
	close(fd);
	mp_listener_close(l);
}

static int count_fds(void)
{
	int n = 0;
	DIR *d = opendir("/proc/self/fd");
	for (struct dirent *e; d && (e = readdir(d));)
		n += e->d_name[0] != '.';
	if (d)
		closedir(d);
	return n;
}

/* Everything there is to read now; true when it ends in end of file. */
static bool saw_eof(int fd)
{
	uint8_t buf[512];
	for (;;) {
		ssize_t n = recv(fd, buf, sizeof(buf), MSG_DONTWAIT);
		if (n <= 0)
			return n == 0;
	}
}

/* More silent connections than slots, then a real client. */
static void test_listener_flood(void)
{
	enum { SILENT = MP_LISTENER_PENDING_MAX + 36 };
	int fds[SILENT];
	mp_listener_t *l = auth_listener(MP_SEC(30), SILENT + 8);
	const mp_address_t *a = mp_listener_address(l);
	int before = count_fds();

	for (int i = 0; i < SILENT; i++)
		fds[i] = raw_connect(a);
	struct client_arg ca = { *a, { .authkey = key,
	                               .authkey_len = strlen(key) }, l, 0 };
	mp_process_t *p = spawn(client_child, &ca);
	serve_one(l, AF_UNIX);
	MPT_EQ(reap(p), 0);
	/* Slots are bounded: the oldest silent ones were evicted. */
	MPT_CMP(count_fds() - before, <=, SILENT + MP_LISTENER_PENDING_MAX);
	int evicted = 0;
	for (int i = 0; i < SILENT; i++) {
		evicted += saw_eof(fds[i]);
		close(fds[i]);
	}
	MPT_CMP(evicted, >=, SILENT - MP_LISTENER_PENDING_MAX);
	mp_listener_close(l);
}

/* A client that has answered our challenge holds the key: a flood of
 * silent connections never takes its slot. */
static void test_listener_keeps_proven(void)
{
	enum { SILENT = MP_LISTENER_PENDING_MAX + 16 };
	uint8_t chal[MP__AUTH_MSG_MAX], out[MP__AUTH_RESPONSE_MAX];
	int fds[SILENT], err = 0;
	mp_listener_t *l = auth_listener(MP_SEC(30), SILENT + 8);
	const mp_address_t *a = mp_listener_address(l);

	int fd = raw_connect(a);
	CU_ASSERT(mp_listener_accept(l, 0, &err) == NULL); /* challenged */
	int n = raw_recv(fd, chal, sizeof(chal));
	int rn = mp__auth_respond(key, strlen(key), chal, (size_t)n, out);
	CU_ASSERT_FATAL(rn > 0);
	raw_send(fd, out, (size_t)rn);
	CU_ASSERT(mp_listener_accept(l, 0, &err) == NULL);
	MPT_EQ(raw_recv(fd, chal, sizeof(chal)), 9); /* "#WELCOME#" */
	for (int i = 0; i < SILENT; i++)
		fds[i] = raw_connect(a);
	/* Until the backlog is empty: every silent one admitted (each given
	 * its grace), most evicted again. */
	struct pollfd lp = { .fd = mp_listener_fileno(l), .events = POLLIN };
	for (int i = 0; i < 1000 && poll(&lp, 1, 0) == 1; i++)
		CU_ASSERT(mp_listener_accept(l, MP_MSEC(20), &err) == NULL);
	MPT_EQ(poll(&lp, 1, 0), 0);
	int evicted = 0;
	for (int i = 0; i < SILENT; i++)
		evicted += saw_eof(fds[i]);
	MPT_EQ(evicted, SILENT - (MP_LISTENER_PENDING_MAX - 1));
	/* The proven client finishes: our challenge, its verdict. */
	n = mp__auth_challenge(MP_DIGEST_SHA256, chal);
	raw_send(fd, chal, (size_t)n);
	CU_ASSERT(mp_listener_accept(l, 0, &err) == NULL);
	MPT_EQ(raw_recv(fd, out, sizeof(out)), 40);
	raw_send(fd, MP__WELCOME, 9);
	mp_conn_t *c = mp_listener_accept(l, TEST_WAIT_NS, &err);
	MPT_OK(err);
	mp_conn_close(c);
	close(fd);
	for (int i = 0; i < SILENT; i++)
		close(fds[i]);
	mp_listener_close(l);
}

/*
 * The flood of issue 12, over TCP: FLOOD connections that each send one
 * byte and stall, kept open by a child that reconnects every one the
 * listener drops, while another child connects as a good client
 * FLOOD_GOOD times in a row.  The first try finds the whole flood queued
 * ahead of it in the backlog; the others arrive while it is kept up.
 * Every try must succeed, and the issue's bound - served within 100 ms -
 * is asserted on the fastest: a loaded two-CPU machine can stretch any
 * one of them (the first took 40-130 ms here, depending on what else ran),
 * but a policy that starves good clients fails every one of them, or
 * makes it wait out the 20 s handshake timeout.
 */
enum { FLOOD = 1000, FLOOD_GOOD = 3 };
enum { FL_START, FL_READY, FL_STOP };

struct flood {
	_Atomic uint32_t state;      /* FL_*: the parent says stop */
	_Atomic uint32_t reconnects; /* the flood's, after drops */
	int64_t took[FLOOD_GOOD];    /* ns: connect, handshake, ping-pong */
};

struct flood_arg {
	struct sockaddr_storage ss;
	socklen_t len;
	mp_address_t addr;
	mp_listener_t *drop;
	struct flood *sh;
};

/* A connection that sends one byte and stalls; -1 on failure. */
static int stall_connect(const struct flood_arg *a)
{
	int fd = socket(a->ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd >= 0 && (connect(fd, (const struct sockaddr *)&a->ss, a->len) < 0 ||
	                send(fd, "", 1, MSG_NOSIGNAL) != 1)) {
		close(fd);
		fd = -1;
	}
	return fd;
}

/* Read what came; reconnect each connection the listener dropped. */
static int flood_tend(struct flood_arg *a, struct pollfd *pf)
{
	int n = poll(pf, FLOOD, 10);
	for (int i = 0; n > 0 && i < FLOOD; i++) {
		if (!pf[i].revents)
			continue;
		n--;
		char buf[256];
		ssize_t r = recv(pf[i].fd, buf, sizeof(buf), MSG_DONTWAIT);
		if (r > 0 || (r < 0 && errno == EAGAIN))
			continue; /* a challenge: never answered */
		close(pf[i].fd);
		if ((pf[i].fd = stall_connect(a)) < 0)
			return -1;
		atomic_fetch_add(&a->sh->reconnects, 1);
	}
	return 0;
}

static int flooder_child(void *arg)
{
	struct flood_arg *a = arg;
	static struct pollfd pf[FLOOD];
	struct rlimit rl;

	mp_listener_close(a->drop);
	getrlimit(RLIMIT_NOFILE, &rl);
	rl.rlim_cur = rl.rlim_max;
	setrlimit(RLIMIT_NOFILE, &rl);
	for (int i = 0; i < FLOOD; i++) {
		pf[i] = (struct pollfd){ .fd = stall_connect(a), .events = POLLIN };
		if (pf[i].fd < 0)
			return 70;
	}
	mpt_flag_set(&a->sh->state, FL_READY);
	int64_t end = mp_sys_now_ns() + 3 * TEST_WAIT_NS;
	while (atomic_load(&a->sh->state) != FL_STOP)
		if (mp_sys_now_ns() > end || flood_tend(a, pf) < 0)
			return 71;
	return 0;
}

static int flood_client_child(void *arg)
{
	struct flood_arg *a = arg;
	mp_conn_opts_t o = { .authkey = key, .authkey_len = strlen(key) };

	mp_listener_close(a->drop);
	for (int i = 0; i < FLOOD_GOOD; i++) {
		int err = 0;
		mp_bytes_t m;
		int64_t t0 = mp_sys_now_ns();
		mp_conn_t *c = mp_client(&a->addr, &o, TEST_WAIT_NS, &err);
		if (!c) {
			fprintf(stderr, "good client %d: %s after %.1f ms\n",
			        i, mp_strerror(err),
			        (double)(mp_sys_now_ns() - t0) / 1e6);
			return 80;
		}
		if (mp_conn_send_bytes(c, "ping", 4, TEST_WAIT_NS) < 0 ||
		    mp_conn_recv_bytes(c, 16, &m, TEST_WAIT_NS) < 0)
			return 81;
		a->sh->took[i] = mp_sys_now_ns() - t0;
		free(m.data);
		mp_conn_close(c);
	}
	return 0;
}

static void test_listener_flood_tcp(void)
{
	struct rlimit rl;
	getrlimit(RLIMIT_NOFILE, &rl);
	if (rl.rlim_max != RLIM_INFINITY && rl.rlim_max < FLOOD + 64) {
		MPT_SKIP("RLIMIT_NOFILE's hard limit is below 1064");
		return;
	}
	mp_address_t a;
	int err = 0;
	mp_address_parse(&a, "127.0.0.1:0");
	/* A backlog for the whole flood: a TCP connection that finds it full
	 * waits a second for its SYN to be sent again. */
	mp_conn_opts_t o = { .authkey = key, .authkey_len = strlen(key),
	                     .backlog = 2 * FLOOD };
	mp_listener_t *l = mp_listener_open(&a, &o, &err);
	CU_ASSERT_FATAL(l != NULL);
	struct flood *sh = mpt_shared(sizeof(*sh));
	struct flood_arg fa = { .addr = *mp_listener_address(l), .drop = l,
	                        .sh = sh };
	MPT_OK(mp__address_to_sockaddr(&fa.addr, &fa.ss, &fa.len));
	int before = count_fds();
	mp_process_t *fl = spawn(flooder_child, &fa);
	/* The whole flood waits in the backlog, ahead of the good client. */
	MPT_OK(mpt_flag_wait(&sh->state, FL_READY));
	mp_process_t *gc = spawn(flood_client_child, &fa);
	for (int i = 0; i < FLOOD_GOOD; i++)
		serve_one(l, AF_INET);
	MPT_EQ(reap(gc), 0);
	/* Bounded: a slot table's worth of the flood, and two pidfds. */
	MPT_CMP(count_fds() - before, <=, MP_LISTENER_PENDING_MAX + 2);
	mpt_flag_set(&sh->state, FL_STOP);
	MPT_EQ(reap(fl), 0);
	int64_t best = INT64_MAX;
	fprintf(stderr, " [good client served in");
	for (int i = 0; i < FLOOD_GOOD; i++) {
		fprintf(stderr, " %.1f", (double)sh->took[i] / 1e6);
		best = sh->took[i] < best ? sh->took[i] : best;
	}
	fprintf(stderr, " ms; %u reconnects] ", atomic_load(&sh->reconnects));
	MPT_CMP(best, <, MP_MSEC(100));
	mp_listener_close(l);
}

struct server_arg {
	int lfd;
	const void *frame;
	size_t len;
	int mode; /* 0: send frame; 1: silent; 2: real challenge, then frame;
	             3: send raw bytes */
	bool ahead; /* the client's challenge comes behind its answer */
};

/* Child: a hand-made listener that misbehaves, once. */
static int raw_server_child(void *arg)
{
	struct server_arg *a = arg;
	uint8_t buf[MP__AUTH_MSG_MAX], chal[MP__AUTH_CHALLENGE_MAX];
	int fd = accept(a->lfd, NULL, NULL);
	if (fd < 0)
		return 50;
	if (a->mode == 2) {
		int n = mp__auth_challenge(MP_DIGEST_LEGACY, chal);
		raw_send(fd, chal, (size_t)n);
		if (raw_recv(fd, buf, sizeof(buf)) != 16)
			return 51;
	}
	if (a->mode == 3)
		send(fd, a->frame, a->len, MSG_NOSIGNAL);
	else if (a->mode != 1)
		raw_send(fd, a->frame, a->len);
	/* Hold the connection until the client gives up.  In mode 2, over
	 * AF_UNIX the client's challenge came right behind its answer; over
	 * TCP, in CPython's order, it would only have followed a
	 * "#WELCOME#".  After our "#FAILURE#", nothing more either way. */
	int tail = raw_recv(fd, buf, sizeof(buf));
	if (a->mode == 2 && a->ahead &&
	    (tail < MP__CHALLENGE_LEN ||
	     memcmp(buf, MP__CHALLENGE, MP__CHALLENGE_LEN) != 0))
		return 52;
	if (a->mode == 2 && a->ahead)
		tail = raw_recv(fd, buf, sizeof(buf));
	close(fd);
	return a->mode == 2 && tail != -1 ? 53 : 0;
}

/* A raw listening socket of family fam (AF_UNIX, abstract, or AF_INET on
 * loopback) and its address. */
static int raw_listen(int fam, mp_address_t *a)
{
	char path[108];
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);

	if (fam == AF_UNIX) {
		snprintf(path, sizeof(path), "@mproc-raw-%d", getpid());
		mp_address_parse(a, path);
	} else {
		mp_address_parse(a, "127.0.0.1:0");
	}
	mp__address_to_sockaddr(a, &ss, &sl);
	int lfd = socket(fam, SOCK_STREAM | SOCK_CLOEXEC, 0);
	CU_ASSERT_FATAL(bind(lfd, (struct sockaddr *)&ss, sl) == 0);
	listen(lfd, 1);
	sl = sizeof(ss);
	getsockname(lfd, (struct sockaddr *)&ss, &sl);
	if (fam != AF_UNIX)
		mp__address_from_sockaddr(&ss, sl, a);
	return lfd;
}

static int client_vs_on(int fam, const void *frame, size_t len, int mode,
                        int64_t timeout)
{
	mp_address_t a;
	int err = 0;
	int lfd = raw_listen(fam, &a);
	struct server_arg sa = { lfd, frame, len, mode, fam == AF_UNIX };
	mp_process_t *p = spawn(raw_server_child, &sa);
	mp_conn_opts_t o = { .authkey = key, .authkey_len = strlen(key) };
	mp_conn_t *c = mp_client(&a, &o, timeout, &err);
	CU_ASSERT(c == NULL);
	mp_conn_close(c);
	MPT_EQ(reap(p), 0);
	close(lfd);
	return err;
}

static int client_vs(const void *frame, size_t len, int mode, int64_t timeout)
{
	return client_vs_on(AF_UNIX, frame, len, mode, timeout);
}

static void test_client_vs_bad_listener(void)
{
	static const uint8_t huge_hdr[] = "\xff\xff\xff\xff\x40\0\0\0\0\0\0\0";
	uint8_t big[300];
	memset(big, 'x', sizeof(big));
	memcpy(big, MP__CHALLENGE, MP__CHALLENGE_LEN);

	MPT_ERR(client_vs("#CHALLENGE#short", 16, 0, TEST_WAIT_NS), -MP_EAUTH);
	MPT_ERR(client_vs(big, sizeof(big), 0, TEST_WAIT_NS), -MP_EAUTH);
	MPT_ERR(client_vs("hello", 5, 0, TEST_WAIT_NS), -MP_EAUTH);
	MPT_ERR(client_vs(huge_hdr, 12, 3, TEST_WAIT_NS), -MP_EAUTH);
	MPT_ERR(client_vs("", 0, 0, TEST_WAIT_NS), -MP_EAUTH);
	MPT_ERR(client_vs(MP__FAILURE, 9, 2, TEST_WAIT_NS), -MP_EAUTH);
	MPT_ERR(client_vs_on(AF_INET, MP__FAILURE, 9, 2, TEST_WAIT_NS),
	        -MP_EAUTH);
	/* A listener that never speaks: the client's timeout, not early. */
	int64_t t0 = mp_sys_now_ns();
	MPT_ERR(client_vs(NULL, 0, 1, MP_MSEC(150)), -ETIMEDOUT);
	MPT_CMP(mp_sys_now_ns() - t0, >=, MP_MSEC(150));
	/* A listener without a key: ours waits for a challenge in vain. */
	int err = 0;
	mp_listener_t *l = mp_listener_open(NULL, NULL, &err);
	mp_conn_opts_t o = { .authkey = key, .authkey_len = 3 };
	CU_ASSERT(mp_client(mp_listener_address(l), &o, MP_MSEC(100), &err) == NULL);
	MPT_ERR(err, -ETIMEDOUT);
	mp_listener_close(l);
}

/* ---- descriptors (Python's reduction.send_handle / recv_handle) ------------ */

static bool cloexec(int fd)
{
	int f = fcntl(fd, F_GETFD);
	return f >= 0 && (f & FD_CLOEXEC);
}

/* Do a and b name one open file? */
static bool same_file(int a, int b)
{
	struct stat sa, sb;
	return fstat(a, &sa) == 0 && fstat(b, &sb) == 0 &&
	       sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino;
}

/* Everything left in a pipe until end of file (the deadline: 10 s). */
static size_t drain(int fd, char *buf, size_t cap)
{
	size_t got = 0;
	struct pollfd p = { fd, POLLIN, 0 };
	while (got + 1 < cap && poll(&p, 1, 10000) == 1) {
		ssize_t n = read(fd, buf + got, cap - 1 - got);
		if (n <= 0)
			break;
		got += (size_t)n;
	}
	buf[got] = 0;
	return got;
}

static bool recv_is(mp_conn_t *c, const char *want)
{
	mp_bytes_t m;
	bool ok = mp_conn_recv_bytes(c, 64, &m, TEST_WAIT_NS) == 0 &&
	          m.len == strlen(want) && !memcmp(m.data, want, m.len);
	free(m.data);
	return ok;
}

/* The child's half of test_fd_duplex: a descriptor in, written through;
 * one of its own out. */
static int fd_child(void *arg)
{
	mp_conn_t *c = arg;
	if (!recv_is(c, "before"))
		return 10;
	int fd = mp_conn_recv_fd(c, TEST_WAIT_NS);
	if (fd < 0)
		return 11;
	if (!cloexec(fd))
		return 12;
	if (write(fd, "through", 7) != 7)
		return 13;
	close(fd);
	if (!recv_is(c, "after"))
		return 14;
	int mfd = memfd_create("mproc-fd-test", MFD_CLOEXEC);
	struct stat st;
	if (mfd < 0 || write(mfd, "xyz", 3) != 3 || fstat(mfd, &st) < 0)
		return 15;
	uint64_t ino = st.st_ino;
	if (mp_conn_send_bytes(c, &ino, sizeof(ino), TEST_WAIT_NS) < 0 ||
	    mp_conn_send_fd(c, mfd, TEST_WAIT_NS) < 0)
		return 16;
	close(mfd);
	return 0;
}

/* C to C between processes, both ways, between framed messages. */
static void test_fd_duplex(void)
{
	mp_conn_t *a, *b;
	int p[2];
	char buf[64];
	mp_bytes_t m;

	MPT_OK(mp_pipe(true, &a, &b));
	setp(a);
	setp(b);
	mp_process_t *child = spawn(fd_child, b);
	mp_conn_close(b);
	/* After the fork: the child has only what it is sent. */
	CU_ASSERT_FATAL(pipe2(p, O_CLOEXEC) == 0);
	MPT_OK(mp_conn_send_bytes(a, "before", 6, TEST_WAIT_NS));
	MPT_OK(mp_conn_send_fd(a, p[1], TEST_WAIT_NS));
	CU_ASSERT(fcntl(p[1], F_GETFD) >= 0); /* still ours */
	MPT_OK(mp_conn_send_bytes(a, "after", 5, TEST_WAIT_NS));
	close(p[1]);
	/* End of file: the child closed the only other copy. */
	MPT_EQ(drain(p[0], buf, sizeof(buf)), 7);
	CU_ASSERT(!strcmp(buf, "through"));
	close(p[0]);
	MPT_OK(mp_conn_recv_bytes(a, 8, &m, TEST_WAIT_NS));
	uint64_t ino = 0;
	if (m.len == sizeof(ino))
		memcpy(&ino, m.data, sizeof(ino));
	free(m.data);
	int fd = mp_conn_recv_fd(a, TEST_WAIT_NS);
	MPT_OK(fd);
	if (fd >= 0) {
		struct stat st;
		CU_ASSERT(cloexec(fd));
		MPT_EQ(fstat(fd, &st), 0);
		MPT_EQ(st.st_ino, ino);
		CU_ASSERT(pread(fd, buf, 3, 0) == 3 && !memcmp(buf, "xyz", 3));
		close(fd);
	}
	MPT_EQ(reap(child), 0);
	mp_conn_close(a);
}

struct fd_client_arg {
	mp_address_t addr;
	mp_listener_t *drop;
	const char *path; /* a file to open and send */
};

/* A client with the key: sends an open file, writes through one it gets. */
static int fd_client(void *arg)
{
	struct fd_client_arg *a = arg;
	mp_conn_opts_t o = { .authkey = key, .authkey_len = strlen(key) };
	int err = 0;
	mp_listener_close(a->drop);
	mp_conn_t *c = mp_client(&a->addr, &o, TEST_WAIT_NS, &err);
	if (!c)
		return 20;
	int f = open(a->path, O_RDONLY | O_CLOEXEC);
	if (f < 0 || mp_conn_send_fd(c, f, TEST_WAIT_NS) < 0)
		return 21;
	close(f);
	int fd = mp_conn_recv_fd(c, TEST_WAIT_NS);
	if (fd < 0 || !cloexec(fd) || write(fd, "hi", 2) != 2)
		return 22;
	close(fd);
	mp_conn_close(c);
	return 0;
}

/* Over a Listener/Client AF_UNIX connection with a key; and TCP cannot. */
static void test_fd_listener(void)
{
	int err = 0, p[2];
	char path[64], buf[16];
	mp_conn_opts_t o = { .authkey = key, .authkey_len = strlen(key) };

	snprintf(path, sizeof(path), "/tmp/mproc-fd-%d", getpid());
	int f = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	CU_ASSERT_FATAL(f >= 0);
	mp_listener_t *l = mp_listener_open(NULL, &o, &err);
	CU_ASSERT_FATAL(l != NULL);
	struct fd_client_arg ca = { *mp_listener_address(l), l, path };
	mp_process_t *child = spawn(fd_client, &ca);
	mp_conn_t *c = mp_listener_accept(l, TEST_WAIT_NS, &err);
	MPT_OK(err);
	CU_ASSERT_FATAL(pipe2(p, O_CLOEXEC) == 0);
	if (c) {
		int fd = mp_conn_recv_fd(c, TEST_WAIT_NS);
		MPT_OK(fd);
		CU_ASSERT(fd >= 0 && same_file(fd, f) && cloexec(fd));
		if (fd >= 0)
			close(fd);
		MPT_OK(mp_conn_send_fd(c, p[1], TEST_WAIT_NS));
	}
	close(p[1]);
	MPT_EQ(drain(p[0], buf, sizeof(buf)), 2);
	close(p[0]);
	MPT_EQ(reap(child), 0);
	mp_conn_close(c);
	mp_listener_close(l);
	close(f);
	unlink(path);

	/* TCP: no descriptors, either way. */
	mp_address_t a;
	mp_address_parse(&a, "127.0.0.1:0");
	l = mp_listener_open(&a, NULL, &err);
	CU_ASSERT_FATAL(l != NULL);
	mp_conn_t *t1 = mp_client(mp_listener_address(l), NULL, TEST_WAIT_NS,
	                          &err);
	mp_conn_t *t2 = mp_listener_accept(l, TEST_WAIT_NS, &err);
	CU_ASSERT_FATAL(t1 && t2);
	MPT_ERR(mp_conn_send_fd(t1, 0, 0), -ENOTSOCK);
	MPT_ERR(mp_conn_recv_fd(t2, 0), -ENOTSOCK);
	MPT_OK(mp_conn_send_bytes(t1, "ok", 2, 0)); /* and nothing broke */
	CU_ASSERT(recv_is(t2, "ok"));
	mp_conn_close(t1);
	mp_conn_close(t2);
	mp_listener_close(l);
}

/* Bad arguments, the wrong kind of connection, timeouts, end of file. */
static void test_fd_misuse(void)
{
	mp_conn_t *r, *w, *a, *b;
	int e, before = count_fds();

	MPT_ERR(mp_conn_send_fd(NULL, 0, 0), -EINVAL);
	MPT_ERR(mp_conn_recv_fd(NULL, 0), -EINVAL);
	/* A one-way pipe cannot carry descriptors. */
	MPT_OK(mp_pipe(false, &r, &w));
	MPT_ERR(mp_conn_send_fd(w, 0, 0), -ENOTSOCK);
	MPT_ERR(mp_conn_recv_fd(r, 0), -ENOTSOCK);
	MPT_ERR(mp_conn_send_fd(r, 0, 0), -EBADF);
	MPT_ERR(mp_conn_recv_fd(w, 0), -EBADF);
	mp_conn_close(r);
	mp_conn_close(w);

	MPT_OK(mp_pipe(true, &a, &b));
	int gone = dup(0);
	close(gone);
	MPT_ERR(mp_conn_send_fd(a, -1, 0), -EBADF);
	MPT_ERR(mp_conn_send_fd(a, gone, 0), -EBADF);
	MPT_ERR(mp_conn_send_fd(a, 0, -5), -EINVAL);
	MPT_ERR(mp_conn_recv_fd(b, -5), -EINVAL);
	/* Nothing there: try once, then a timeout that is not early. */
	MPT_ERR(mp_conn_recv_fd(b, 0), -EAGAIN);
	int64_t t0 = mp_sys_now_ns();
	MPT_ERR(mp_conn_recv_fd(b, MP_MSEC(50)), -ETIMEDOUT);
	MPT_CMP(mp_sys_now_ns() - t0, >=, MP_MSEC(50));
	/* ... and nothing was lost. */
	MPT_OK(mp_conn_send_fd(a, 0, 0));
	MPT_EQ(mp_conn_poll(b, 0), 1);
	e = mp_conn_recv_fd(b, 0);
	CU_ASSERT(e >= 0 && same_file(e, 0));
	if (e >= 0)
		close(e);
	/* The peer closes: end of file, and a send gets no SIGPIPE. */
	struct sigaction dfl = { .sa_handler = SIG_DFL }, old;
	sigaction(SIGPIPE, &dfl, &old);
	mp_conn_close(a);
	MPT_ERR(mp_conn_recv_fd(b, TEST_WAIT_NS), -MP_EEOF);
	e = mp_conn_send_fd(b, 0, TEST_WAIT_NS);
	CU_ASSERT(e == -EPIPE || e == -ECONNRESET);
	sigaction(SIGPIPE, &old, NULL);
	mp_conn_close(b);
	MPT_EQ(count_fds(), before);
}

/* Read-ahead could have swallowed a descriptor's byte: always refused. */
static void test_fd_readahead(void)
{
	mp_conn_t *a, *b;
	MPT_OK(mp_pipe(true, &a, &b));
	MPT_OK(mp_conn_set_readahead(b, 1024));
	MPT_OK(mp_conn_send_fd(a, 0, 0));
	MPT_ERR(mp_conn_recv_fd(b, 0), -EBUSY); /* nothing buffered, even */
	MPT_OK(mp_conn_set_readahead(b, 0));
	int fd = mp_conn_recv_fd(b, 0);
	CU_ASSERT(fd >= 0 && same_file(fd, 0));
	if (fd >= 0)
		close(fd);
	mp_conn_close(a);
	mp_conn_close(b);
}

/* What a peer other than send_fd may send: a byte and n descriptors of
 * fd (raw sendmsg), then a framed message. */
static void send_raw(mp_conn_t *c, const char *data, int n, int fd)
{
	union {
		struct cmsghdr h;
		char buf[CMSG_SPACE(sizeof(int) * 32)];
	} ctl;
	int fds[32];
	struct iovec v = { (void *)data, strlen(data) };
	struct msghdr m = { .msg_iov = &v, .msg_iovlen = 1 };
	for (int i = 0; i < n; i++)
		fds[i] = fd;
	if (n) {
		memset(&ctl, 0, sizeof(ctl));
		m.msg_control = ctl.buf;
		m.msg_controllen = CMSG_SPACE(sizeof(int) * (size_t)n);
		struct cmsghdr *h = CMSG_FIRSTHDR(&m);
		h->cmsg_level = SOL_SOCKET;
		h->cmsg_type = SCM_RIGHTS;
		h->cmsg_len = CMSG_LEN(sizeof(int) * (size_t)n);
		memcpy(CMSG_DATA(h), fds, sizeof(int) * (size_t)n);
	}
	MPT_EQ(sendmsg(mp_conn_fileno(c), &m, 0), (ssize_t)v.iov_len);
	MPT_OK(mp_conn_send_bytes(c, "next", 4, 0));
}

/* A message that is not one descriptor: -EBADMSG, every descriptor that
 * came closed.  framed: it was in Python's format (as many as its byte
 * says), so the stream goes on; otherwise reading is given up. */
static void bad_fd_msg(const char *data, int n, bool framed)
{
	mp_conn_t *a, *b;
	MPT_OK(mp_pipe(true, &a, &b));
	int before = count_fds();
	send_raw(a, data, n, 0);
	MPT_ERR(mp_conn_recv_fd(b, TEST_WAIT_NS), -EBADMSG);
	MPT_EQ(count_fds(), before);
	MPT_EQ(mp_conn_readable(b), framed);
	CU_ASSERT(mp_conn_writable(b));
	if (framed)
		CU_ASSERT(recv_is(b, "next"));
	mp_conn_close(a);
	mp_conn_close(b);
}

static void test_fd_bad_messages(void)
{
	bad_fd_msg("\x03", 3, true);   /* three, as Python's sendfds */
	bad_fd_msg("\x14", 20, true);  /* more than the receiver keeps */
	bad_fd_msg("\x01", 2, false);  /* two, said to be one */
	bad_fd_msg("abcd", 1, false);  /* a descriptor on other bytes */
	bad_fd_msg("\x01", 0, false);  /* the byte alone */

	/* A framed message where a descriptor is expected. */
	mp_conn_t *a, *b;
	MPT_OK(mp_pipe(true, &a, &b));
	MPT_OK(mp_conn_send_bytes(a, "x", 1, 0));
	MPT_ERR(mp_conn_recv_fd(b, TEST_WAIT_NS), -EBADMSG);
	CU_ASSERT(!mp_conn_readable(b) && mp_conn_writable(b));
	mp_conn_close(a);
	mp_conn_close(b);

	/* A read-only connection that loses its framing is closed. */
	int fds[2], err;
	CU_ASSERT_FATAL(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0,
	                           fds) == 0);
	mp_conn_t *ro = mp_conn_open(fds[0], true, false, &err);
	CU_ASSERT_FATAL(ro != NULL);
	MPT_EQ(write(fds[1], "z", 1), 1);
	MPT_ERR(mp_conn_recv_fd(ro, TEST_WAIT_NS), -EBADMSG);
	CU_ASSERT(mp_conn_closed(ro));
	MPT_ERR(mp_conn_recv_fd(ro, 0), -MP_ECLOSED);
	MPT_ERR(mp_conn_send_fd(ro, 0, 0), -MP_ECLOSED);
	mp_conn_close(ro);
	close(fds[1]);
}

/* On the wire: Python's sendfds of one descriptor, a byte 1 and one
 * SCM_RIGHTS message of one.  And a receiving socket with SO_PASSCRED,
 * whose credentials come first, still has room for the descriptor. */
static void test_fd_wire(void)
{
	mp_conn_t *a, *b;
	union {
		struct cmsghdr h;
		char buf[CMSG_SPACE(sizeof(int) * 4)];
	} ctl;
	char byte[4];
	struct iovec v = { byte, sizeof(byte) };
	struct msghdr m = { .msg_iov = &v, .msg_iovlen = 1,
	                    .msg_control = ctl.buf,
	                    .msg_controllen = sizeof(ctl.buf) };

	MPT_OK(mp_pipe(true, &a, &b));
	MPT_OK(mp_conn_send_fd(a, 0, 0));
	MPT_EQ(recvmsg(mp_conn_fileno(b), &m, MSG_CMSG_CLOEXEC), 1);
	MPT_EQ(byte[0], 1);
	MPT_EQ(m.msg_flags & MSG_CTRUNC, 0);
	struct cmsghdr *h = CMSG_FIRSTHDR(&m);
	CU_ASSERT_FATAL(h != NULL);
	CU_ASSERT(h->cmsg_level == SOL_SOCKET && h->cmsg_type == SCM_RIGHTS);
	MPT_EQ(h->cmsg_len, CMSG_LEN(sizeof(int)));
	CU_ASSERT(CMSG_NXTHDR(&m, h) == NULL);
	int fd;
	memcpy(&fd, CMSG_DATA(h), sizeof(fd));
	CU_ASSERT(same_file(fd, 0));
	close(fd);

	int one = 1;
	MPT_EQ(setsockopt(mp_conn_fileno(b), SOL_SOCKET, SO_PASSCRED, &one,
	                  sizeof(one)), 0);
	MPT_OK(mp_conn_send_fd(a, 0, 0));
	fd = mp_conn_recv_fd(b, TEST_WAIT_NS);
	CU_ASSERT(fd >= 0 && same_file(fd, 0));
	if (fd >= 0)
		close(fd);
	mp_conn_close(a);
	mp_conn_close(b);
}

/* Out of descriptors: the kernel drops the one that came (MSG_CTRUNC). */
static void test_fd_emfile(void)
{
	mp_conn_t *a, *b;
	struct rlimit old, low;

	MPT_OK(mp_pipe(true, &a, &b));
	MPT_OK(mp_conn_send_fd(a, 0, 0));
	MPT_OK(mp_conn_send_fd(a, 0, 0));
	int before = count_fds();
	/* Every number below the lowest free one is taken. */
	int lowest = dup(0);
	close(lowest);
	getrlimit(RLIMIT_NOFILE, &old);
	low = old;
	low.rlim_cur = (rlim_t)lowest;
	MPT_EQ(setrlimit(RLIMIT_NOFILE, &low), 0);
	int r = mp_conn_recv_fd(b, TEST_WAIT_NS);
	setrlimit(RLIMIT_NOFILE, &old);
	MPT_ERR(r, -EMFILE);
	MPT_EQ(count_fds(), before);
	/* The connection goes on. */
	CU_ASSERT(mp_conn_readable(b));
	int fd = mp_conn_recv_fd(b, TEST_WAIT_NS);
	CU_ASSERT(fd >= 0 && same_file(fd, 0));
	if (fd >= 0)
		close(fd);
	mp_conn_close(a);
	mp_conn_close(b);
}

/* ---- descriptors and signals ---- */

static _Atomic int fd_signals;

static void fd_on_signal(int sig)
{
	(void)sig;
	atomic_fetch_add(&fd_signals, 1);
}

struct fd_waiter {
	mp_conn_t *c;
	bool send;          /* block in send_fd (full socket), else recv_fd */
	bool interruptible;
	_Atomic int done;
	int r;
};

static void *fd_wait_thread(void *arg)
{
	struct fd_waiter *w = arg;
	mp_set_interruptible(w->interruptible);
	w->r = w->send ? mp_conn_send_fd(w->c, 0, MP_FOREVER)
	               : mp_conn_recv_fd(w->c, MP_FOREVER);
	atomic_store(&w->done, 1);
	return NULL;
}

/* Fill c's socket until a send would block; returns the bytes written. */
static size_t fill_socket(mp_conn_t *c)
{
	static char junk[65536];
	size_t total = 0;
	ssize_t n;
	while ((n = send(mp_conn_fileno(c), junk, sizeof(junk),
	                 MSG_DONTWAIT)) > 0)
		total += (size_t)n;
	return total;
}

/* One blocked call, signalled with SA_RESTART handlers: interruptible,
 * it returns -EINTR; by default it goes on until what it waits for
 * comes (the descriptor, or room to send it). */
static void fd_signalled(bool send, bool interruptible)
{
	mp_conn_t *a, *b;
	pthread_t t;
	struct sigaction sa = { .sa_handler = fd_on_signal,
	                        .sa_flags = SA_RESTART }, old;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGUSR1, &sa, &old);
	MPT_OK(mp_pipe(true, &a, &b));
	size_t filled = send ? fill_socket(b) : 0;
	struct fd_waiter w = { .c = send ? b : a, .send = send,
	                       .interruptible = interruptible };
	MPT_EQ(pthread_create(&t, NULL, fd_wait_thread, &w), 0);
	usleep(20000);
	int tries = interruptible ? 500 : 20;
	for (int i = 0; i < tries && !atomic_load(&w.done); i++) {
		int seen = atomic_load(&fd_signals);
		pthread_kill(t, SIGUSR1);
		for (int k = 0; k < 1000 && atomic_load(&fd_signals) == seen; k++)
			usleep(100);
		usleep(10000);
	}
	MPT_EQ(atomic_load(&w.done), interruptible);
	/* Release it: the descriptor, or room (then take what came). */
	static char sink[65536];
	for (size_t got = 0; send && got < filled;) {
		ssize_t n = read(mp_conn_fileno(a), sink,
		                 filled - got < sizeof(sink) ? filled - got
		                                            : sizeof(sink));
		if (n <= 0)
			break;
		got += (size_t)n;
	}
	if (!send)
		MPT_OK(mp_conn_send_fd(b, 0, TEST_WAIT_NS));
	pthread_join(t, NULL);
	if (interruptible) {
		MPT_ERR(w.r, -EINTR);
	} else {
		MPT_OK(w.r);
		int fd = send ? mp_conn_recv_fd(a, TEST_WAIT_NS) : w.r;
		CU_ASSERT(fd >= 0 && same_file(fd, 0));
		if (fd >= 0)
			close(fd);
	}
	mp_conn_close(a);
	mp_conn_close(b);
	sigaction(SIGUSR1, &old, NULL);
}

static void test_fd_signals(void)
{
	fd_signalled(false, true);
	fd_signalled(true, true);
	fd_signalled(false, false);
	fd_signalled(true, false);
}

/* ---- interop with CPython's multiprocessing.connection ------------------- */

/* Python serves: argv = family ("inet"/"unix"), key, unix path. */
static const char py_serve[] =
	"import sys, multiprocessing\n"
	"from multiprocessing.connection import Listener\n"
	"fam, key, where = sys.argv[1], sys.argv[2].encode(), sys.argv[3]\n"
	"addr = ('127.0.0.1', 0) if fam == 'inet' else where\n"
	"with Listener(addr, authkey=key) as l:\n"
	"    a = l.address\n"
	"    print('ADDR', '%s:%d' % a if fam == 'inet' else a, flush=True)\n"
	"    try:\n"
	"        c = l.accept()\n"
	"    except multiprocessing.AuthenticationError:\n"
	"        print('AUTHFAIL', flush=True)\n"
	"        sys.exit(0)\n"
	"    with c:\n"
	"        m = c.recv_bytes()\n"
	"        c.send_bytes(m[::-1])\n"
	"        c.send_bytes(b'y' * 70000)\n"
	"        c.send_bytes(b'')\n"
	"        try:\n"
	"            c.recv_bytes_into(bytearray(4))\n"
	"        except multiprocessing.BufferTooShort as e:\n"
	"            print('TOOSHORT', len(e.args[0]), flush=True)\n"
	"        print('GOT', m.decode(), flush=True)\n";

/* Python connects: argv = family, key, address as we print it. */
static const char py_connect[] =
	"import sys, multiprocessing\n"
	"from multiprocessing.connection import Client\n"
	"fam, key, where = sys.argv[1], sys.argv[2].encode(), sys.argv[3]\n"
	"if fam == 'inet':\n"
	"    h, p = where.rsplit(':', 1)\n"
	"    addr = (h, int(p))\n"
	"else:\n"
	"    addr = '\\0' + where[1:] if where.startswith('@') else where\n"
	"try:\n"
	"    c = Client(addr, authkey=key)\n"
	"except multiprocessing.AuthenticationError:\n"
	"    print('AUTHFAIL', flush=True)\n"
	"    sys.exit(0)\n"
	"with c:\n"
	"    c.send_bytes(b'hello from python')\n"
	"    print('ECHO', c.recv_bytes().decode(), flush=True)\n"
	"    big = c.recv_bytes()\n"
	"    print('BIG', len(big), big == bytes(range(256)) * 300, flush=True)\n"
	"    arr = bytearray(16)\n"
	"    print('INTO', c.recv_bytes_into(arr, 4), arr[4:9].decode(), flush=True)\n";

static bool has_line(struct mpt_pyproc *pp, const char *line)
{
	char got[256];
	if (mpt_py_line(pp, line, got, sizeof(got)) < 0)
		return false;
	return strcmp(got, line) == 0;
}

/* Our client against a Python listener. */
static void py_serves(const struct mpt_py *py, const char *fam, bool right)
{
	char path[108], line[256];
	struct mpt_pyproc pp;
	mp_address_t a;
	int err = 0;

	snprintf(path, sizeof(path), "/tmp/mproc-py-%d.sock", getpid());
	unlink(path);
	const char *args[] = { fam, key, path, NULL };
	MPT_OK(mpt_py_start(py, py_serve, args, &pp));
	MPT_OK(mpt_py_line(&pp, "ADDR ", line, sizeof(line)));
	MPT_OK(mp_address_parse(&a, line + 5));
	mp_conn_opts_t o = { .authkey = right ? key : "wrong",
	                     .authkey_len = right ? strlen(key) : 5 };
	mp_conn_t *c = mp_client(&a, &o, TEST_WAIT_NS, &err);
	if (!right) {
		CU_ASSERT(c == NULL);
		MPT_ERR(err, -MP_EAUTH);
		CU_ASSERT(has_line(&pp, "AUTHFAIL"));
	} else if (c) {
		mp_bytes_t m;
		MPT_OK(mp_conn_send_bytes(c, "hello from C", 12, TEST_WAIT_NS));
		MPT_OK(mp_conn_recv_bytes(c, 100, &m, TEST_WAIT_NS));
		CU_ASSERT(m.len == 12 && !memcmp(m.data, "C morf olleh", 12));
		free(m.data);
		MPT_OK(mp_conn_recv_bytes(c, 70000, &m, TEST_WAIT_NS));
		MPT_EQ(m.len, 70000);
		free(m.data);
		MPT_OK(mp_conn_recv_bytes(c, 0, &m, TEST_WAIT_NS));
		MPT_EQ(m.len, 0);
		free(m.data);
		MPT_OK(mp_conn_send_bytes(c, "0123456789", 10, TEST_WAIT_NS));
		CU_ASSERT(has_line(&pp, "TOOSHORT 10"));
		CU_ASSERT(has_line(&pp, "GOT hello from C"));
		mp_conn_close(c);
	} else {
		MPT_OK(err);
	}
	int st = mpt_py_finish(&pp);
	MPT_EQ(st, 0);
	if (st != 0)
		fprintf(stderr, "python said:\n%s\n", pp.buf);
	unlink(path);
}

/* A Python client against our listener. */
static void py_connects(const struct mpt_py *py, const char *fam, int digest,
                        bool right)
{
	char path[108], text[256];
	struct mpt_pyproc pp;
	mp_address_t a;
	int err = 0;

	snprintf(path, sizeof(path), "/tmp/mproc-py-%d.sock", getpid());
	mp_address_parse(&a, !strcmp(fam, "inet") ? "127.0.0.1:0" : path);
	mp_conn_opts_t o = { .authkey = key, .authkey_len = strlen(key),
	                     .digest = digest };
	mp_listener_t *l = mp_listener_open(&a, &o, &err);
	CU_ASSERT_FATAL(l != NULL);
	mp_address_format(mp_listener_address(l), text, sizeof(text));
	const char *args[] = { fam, right ? key : "wrong", text, NULL };
	MPT_OK(mpt_py_start(py, py_connect, args, &pp));
	mp_conn_t *c = mp_listener_accept(l, TEST_WAIT_NS, &err);
	if (!right) {
		CU_ASSERT(c == NULL);
		MPT_ERR(err, -MP_EAUTH);
		CU_ASSERT(has_line(&pp, "AUTHFAIL"));
	} else if (c) {
		static uint8_t big[76800];
		for (size_t i = 0; i < sizeof(big); i++)
			big[i] = (uint8_t)i;
		mp_bytes_t m;
		MPT_OK(mp_conn_recv_bytes(c, 100, &m, TEST_WAIT_NS));
		CU_ASSERT(m.len == 17 && !memcmp(m.data, "hello from python", 17));
		free(m.data);
		MPT_OK(mp_conn_send_bytes(c, "nohtyp morf olleh", 17, TEST_WAIT_NS));
		MPT_OK(mp_conn_send_bytes(c, big, sizeof(big), TEST_WAIT_NS));
		MPT_OK(mp_conn_send_bytes(c, "12345", 5, TEST_WAIT_NS));
		CU_ASSERT(has_line(&pp, "ECHO nohtyp morf olleh"));
		CU_ASSERT(has_line(&pp, "BIG 76800 True"));
		CU_ASSERT(has_line(&pp, "INTO 5 12345"));
		mp_conn_close(c);
	} else {
		MPT_OK(err);
	}
	int st = mpt_py_finish(&pp);
	MPT_EQ(st, 0);
	if (st != 0 || CU_get_number_of_failures())
		fprintf(stderr, "python 3.%d (%s) said:\n%s\n", py->minor, fam,
		        pp.buf);
	mp_listener_close(l);
}

static void interop(int minor)
{
	struct mpt_py py;
	char why[96];
	if (!mpt_python_find(minor, &py)) {
		snprintf(why, sizeof(why), "no python3.%d here: its interop "
		         "is NOT tested", minor);
		MPT_SKIP(why);
		return;
	}
	fprintf(stderr, "\n    [python 3.%d: %s%s%s]", minor,
	        py.pyenv[0] ? "PYENV_VERSION=" : "", py.pyenv,
	        py.pyenv[0] ? " python3" : py.exe);
	const char *fams[] = { "inet", "unix" };
	for (int f = 0; f < 2; f++) {
		py_serves(&py, fams[f], true);
		py_serves(&py, fams[f], false);
		py_connects(&py, fams[f], MP_DIGEST_SHA256, true);
		py_connects(&py, fams[f], MP_DIGEST_LEGACY, true);
		py_connects(&py, fams[f], MP_DIGEST_SHA256, false);
	}
	py_connects(&py, "unix", MP_DIGEST_SHA3_384, true);
}

/* Python 3.11: the legacy handshake (20-byte challenge, bare HMAC-MD5). */
static void test_python311(void)
{
	interop(11);
}

/* Python 3.12 and 3.13: "{sha256}" challenges and answers. */
static void test_python312(void)
{
	interop(12);
}

static void test_python313(void)
{
	interop(13);
}

/* Python's reduction.recv_handle and send_handle against ours, over a
 * connection from Python's Client to our Listener (with the key), between
 * framed messages: argv = socket path, key. */
static const char py_handles[] =
	"import os, sys\n"
	"from multiprocessing import reduction\n"
	"from multiprocessing.connection import Client\n"
	"with Client(sys.argv[1], authkey=sys.argv[2].encode()) as c:\n"
	"    print('BEFORE', c.recv_bytes().decode(), flush=True)\n"
	"    fd = reduction.recv_handle(c)\n"
	"    os.write(fd, b'python wrote this')\n"
	"    os.close(fd)\n"
	"    print('AFTER', c.recv_bytes().decode(), flush=True)\n"
	"    r, w = os.pipe()\n"
	"    c.send_bytes(b'first')\n"
	"    reduction.send_handle(c, w, os.getppid())\n"
	"    os.close(w)\n"
	"    c.send_bytes(b'last')\n"
	"    data = b''\n"
	"    while True:\n"
	"        b = os.read(r, 100)\n"
	"        if not b:\n"
	"            break\n"
	"        data += b\n"
	"    print('READ', data.decode(), flush=True)\n";

static void py_handles_run(const struct mpt_py *py)
{
	char path[108], buf[64];
	struct mpt_pyproc pp;
	mp_address_t a;
	int err = 0, p[2];

	snprintf(path, sizeof(path), "/tmp/mproc-pyfd-%d.sock", getpid());
	unlink(path);
	MPT_OK(mp_address_unix(&a, path));
	mp_conn_opts_t o = { .authkey = key, .authkey_len = strlen(key) };
	mp_listener_t *l = mp_listener_open(&a, &o, &err);
	CU_ASSERT_FATAL(l != NULL);
	const char *args[] = { path, key, NULL };
	MPT_OK(mpt_py_start(py, py_handles, args, &pp));
	mp_conn_t *c = mp_listener_accept(l, TEST_WAIT_NS, &err);
	MPT_OK(err);
	if (c) {
		/* Ours to Python's recv_handle. */
		CU_ASSERT_FATAL(pipe2(p, O_CLOEXEC) == 0);
		MPT_OK(mp_conn_send_bytes(c, "one", 3, TEST_WAIT_NS));
		MPT_OK(mp_conn_send_fd(c, p[1], TEST_WAIT_NS));
		close(p[1]);
		MPT_OK(mp_conn_send_bytes(c, "two", 3, TEST_WAIT_NS));
		MPT_EQ(drain(p[0], buf, sizeof(buf)), 17);
		CU_ASSERT(!strcmp(buf, "python wrote this"));
		close(p[0]);
		CU_ASSERT(has_line(&pp, "BEFORE one"));
		CU_ASSERT(has_line(&pp, "AFTER two"));
		/* Python's send_handle to ours. */
		CU_ASSERT(recv_is(c, "first"));
		int fd = mp_conn_recv_fd(c, TEST_WAIT_NS);
		MPT_OK(fd);
		CU_ASSERT(fd < 0 || cloexec(fd));
		if (fd >= 0) {
			MPT_EQ(write(fd, "C wrote this", 12), 12);
			close(fd); /* Python's read ends here */
		}
		CU_ASSERT(recv_is(c, "last"));
		CU_ASSERT(has_line(&pp, "READ C wrote this"));
		mp_conn_close(c);
	}
	int st = mpt_py_finish(&pp);
	MPT_EQ(st, 0);
	if (st != 0 || CU_get_number_of_failures())
		fprintf(stderr, "python 3.%d said:\n%s\n", py->minor, pp.buf);
	mp_listener_close(l);
}

static void interop_handles(int minor)
{
	struct mpt_py py;
	char why[96];
	if (!mpt_python_find(minor, &py)) {
		snprintf(why, sizeof(why), "no python3.%d here: its "
		         "send_handle/recv_handle are NOT tested", minor);
		MPT_SKIP(why);
		return;
	}
	fprintf(stderr, "\n    [python 3.%d: %s%s%s]", minor,
	        py.pyenv[0] ? "PYENV_VERSION=" : "", py.pyenv,
	        py.pyenv[0] ? " python3" : py.exe);
	py_handles_run(&py);
}

static void test_python311_fd(void)
{
	interop_handles(11);
}

static void test_python312_fd(void)
{
	interop_handles(12);
}

static void test_python313_fd(void)
{
	interop_handles(13);
}

/* ---- the suite ------------------------------------------------------------- */

static void run_paths(void (*fn)(void))
{
	for (g_path = MP__IO_AUTO; g_path <= PATH_READAHEAD; g_path++) {
		fprintf(stderr, "[%s] ", path_names[g_path]);
		fn();
	}
	g_path = MP__IO_AUTO;
}

/* Descriptors refuse read-ahead (test_fd_readahead): every other path. */
static void run_fd_paths(void (*fn)(void))
{
	for (g_path = MP__IO_AUTO; g_path < PATH_READAHEAD; g_path++) {
		fprintf(stderr, "[%s] ", path_names[g_path]);
		fn();
	}
	g_path = MP__IO_AUTO;
}

#define PATHS(fn) \
	static void fn##_paths(void) { run_paths(fn); }
PATHS(test_pipe_duplex)
PATHS(test_pipe_simplex)
PATHS(test_conn_open_nonblocking)
PATHS(test_too_short)
PATHS(test_bad_headers)
PATHS(test_peer_death)
PATHS(test_sigpipe_both)
PATHS(test_send_timeout)
static void test_fd_duplex_paths(void) { run_fd_paths(test_fd_duplex); }

int main(void)
{
	static CU_TestInfo tests[] = {
		{ "frame header parser", test_frame_decode },
		{ "frame reader, no read-ahead", test_frame_rx },
		{ "frame reader, many frames a read", test_frame_rx_many },
		{ "handshake: CPython's vectors", test_auth_vectors },
		{ "handshake: malformed messages", test_auth_malformed },
		{ "handshake: verifier, challenges", test_auth_verifier },
		{ "duplex pipe round trips", test_pipe_duplex_paths },
		{ "simplex pipe round trips", test_pipe_simplex_paths },
		{ "adopted O_NONBLOCK socket", test_conn_open_nonblocking_paths },
		{ "misuse gives clear errors", test_misuse },
		{ "maxlength, as Python", test_maxlength },
		{ "buffer too short hands the message over", test_too_short_paths },
		{ "poll", test_poll },
		{ "no read-ahead by default", test_no_readahead_by_default },
		{ "read-ahead misuse", test_readahead_misuse },
		{ "read-ahead: poll, wait and waitsets see buffered bytes",
		  test_readahead_ready },
		{ "bad length headers", test_bad_headers_paths },
		{ "peer dies mid-message", test_peer_death_paths },
		{ "no SIGPIPE, ever", test_sigpipe_both_paths },
		{ "send timeouts", test_send_timeout_paths },
		{ "2 GiB message, long header", test_huge_message },
		{ "addresses", test_address },
		{ "address errors", test_address_errors },
		{ "listener families", test_listener_families },
		{ "every digest", test_auth_digests },
		{ "wrong key, both sides", test_wrong_key },
		{ "deliver/answer_challenge", test_public_handshake },
		{ "deliver/answer_challenge: split and joined frames",
		  test_handshake_framing },
		{ "listener and client misuse", test_listener_misuse },
		{ "accept timeouts", test_accept_timeouts },
		{ "listener: garbage handshakes", test_listener_garbage },
		{ "listener: bad second half", test_listener_bad_second_half },
		{ "listener: frames a byte at a time, then a descriptor",
		  test_listener_split_frames },
		{ "listener: a client that sends ahead", test_listener_client_ahead },
		{ "listener: silent client", test_listener_silent },
		{ "listener: connection flood", test_listener_flood },
		{ "listener: proven clients keep their slot",
		  test_listener_keeps_proven },
		{ "listener: TCP flood of stalled connections",
		  test_listener_flood_tcp },
		{ "client vs bad listeners", test_client_vs_bad_listener },
		{ "descriptors: C to C, both ways, between messages",
		  test_fd_duplex_paths },
		{ "descriptors: listener and client, not TCP", test_fd_listener },
		{ "descriptors: misuse, timeouts, end of file", test_fd_misuse },
		{ "descriptors: refused with read-ahead", test_fd_readahead },
		{ "descriptors: malformed messages leak nothing",
		  test_fd_bad_messages },
		{ "descriptors: the wire format, SO_PASSCRED", test_fd_wire },
		{ "descriptors: out of descriptors", test_fd_emfile },
		{ "descriptors: signals, interruptible or not", test_fd_signals },
		{ "interop python 3.11 (legacy)", test_python311 },
		{ "interop python 3.12", test_python312 },
		{ "interop python 3.13", test_python313 },
		{ "interop python 3.11: send_handle/recv_handle",
		  test_python311_fd },
		{ "interop python 3.12: send_handle/recv_handle",
		  test_python312_fd },
		{ "interop python 3.13: send_handle/recv_handle",
		  test_python313_fd },
		CU_TEST_INFO_NULL,
	};
	/* MPROC_TEST_ONLY=text runs the tests whose names contain it. */
	const char *only = getenv("MPROC_TEST_ONLY");
	size_t n = 0;
	for (size_t i = 0; tests[i].pName; i++)
		if (!only || strstr(tests[i].pName, only))
			tests[n++] = tests[i];
	tests[n] = (CU_TestInfo)CU_TEST_INFO_NULL;
	return mpt_main("connection", tests);
}
