/*
 * auth.c - the authkey handshake of multiprocessing.connection, both
 * generations, byte for byte.
 *
 * One side delivers a challenge, the other answers it; a listener delivers
 * then answers, a client answers then delivers, so each proves it holds the
 * key.  One delivery:
 *
 *   deliverer -> "#CHALLENGE#" + M
 *   answerer  -> R = MAC(key, M)
 *   deliverer -> "#WELCOME#" if R is right, else "#FAILURE#"
 *
 * Python <= 3.11 (legacy): M is 20 random bytes, R the bare 16-byte
 * HMAC-MD5.  Python >= 3.12: M is "{sha256}" + 40 random bytes and R is
 * "{sha256}" + HMAC-SHA256(key, M): the MAC covers the prefix, so the
 * digest cannot be downgraded.  The newer side recognises the older by
 * length: a 20-byte M, or a 16- or 20-byte R, is legacy HMAC-MD5 (no
 * prefixed message is that short).  Other digests a "{name}" may name:
 * md5, sha384, sha3_256, sha3_384.  Each message is read with a 256-byte
 * cap, as Python's recv_bytes(256); MACs are compared in constant time.
 */
#include "internal.h"

#include <limits.h>
#include <pthread.h>
#include <string.h>

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

struct digest {
	const char *name;    /* Python's name; NULL: legacy, no prefix */
	const char *ossl;    /* OpenSSL's */
	const EVP_MD *(*md)(void);
};

static const struct digest digests[MP_DIGEST_COUNT] = {
	[MP_DIGEST_SHA256] = { "sha256", "SHA256", EVP_sha256 },
	[MP_DIGEST_LEGACY] = { NULL, "MD5", EVP_md5 },
	[MP_DIGEST_MD5] = { "md5", "MD5", EVP_md5 },
	[MP_DIGEST_SHA384] = { "sha384", "SHA384", EVP_sha384 },
	[MP_DIGEST_SHA3_256] = { "sha3_256", "SHA3-256", EVP_sha3_256 },
	[MP_DIGEST_SHA3_384] = { "sha3_384", "SHA3-384", EVP_sha3_384 },
};

/* Python's _MAX_DIGEST_LEN: the longest allowed name ("sha3_384"). */
#define NAME_MAX_LEN 8
/* Python's _LEGACY_LENGTHS: a bare legacy challenge or answer. */
#define LEGACY_MSG 20
#define LEGACY_MAC 16

/*
 * HMAC contexts with their digest already set, made once per process and
 * copied for each MAC: OpenSSL 3's one-shot HMAC() looks the algorithms up
 * by name every call, which costs more than the MAC itself (1.6 us against
 * 0.9 here, four times per connection).  EVP_MAC_CTX_dup only reads the
 * template, so threads share them.
 */
static EVP_MAC_CTX *templates[MP_DIGEST_COUNT];
static pthread_once_t templates_once = PTHREAD_ONCE_INIT;

static void make_templates(void)
{
	EVP_MAC *mac = EVP_MAC_fetch(NULL, "HMAC", NULL);
	for (int i = 0; mac && i < MP_DIGEST_COUNT; i++) {
		OSSL_PARAM p[] = {
			OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST,
			                                 (char *)digests[i].ossl, 0),
			OSSL_PARAM_construct_end(),
		};
		EVP_MAC_CTX *t = EVP_MAC_CTX_new(mac);
		if (t && !EVP_MAC_CTX_set_params(t, p)) {
			EVP_MAC_CTX_free(t);
			t = NULL; /* unavailable (MD5 under FIPS): HMAC() says so */
		}
		templates[i] = t;
	}
	EVP_MAC_free(mac); /* the contexts hold their own references */
}

/* HMAC of msg under key with digest d; returns the MAC's length or
 * -MP_EAUTH (the digest is unavailable). */
static int hmac(int d, const void *key, size_t keylen, const uint8_t *msg,
                size_t len, uint8_t *out)
{
	/* OpenSSL wants a non-NULL key pointer even for an empty key. */
	const unsigned char *k = keylen ? key : (const unsigned char *)"";
	pthread_once(&templates_once, make_templates);
	EVP_MAC_CTX *c = templates[d] ? EVP_MAC_CTX_dup(templates[d]) : NULL;
	size_t n = 0;
	int ok = c && EVP_MAC_init(c, k, keylen, NULL) &&
	         EVP_MAC_update(c, msg, len) &&
	         EVP_MAC_final(c, out, &n, EVP_MAX_MD_SIZE);
	EVP_MAC_CTX_free(c);
	if (ok)
		return (int)n;
	unsigned un = 0;
	if (!HMAC(digests[d].md(), k, (int)keylen, msg, len, out, &un))
		return -MP_EAUTH;
	return (int)un;
}

/*
 * Python's _get_digest_name_and_payload: the digest a challenge or answer
 * uses, and where its payload starts.  Legacy (16 or 20 bytes): bare MD5.
 * Returns the digest's index, or -MP_EAUTH.
 */
static int parse_prefix(const uint8_t *m, size_t len, size_t *payload)
{
	*payload = 0;
	if (len == LEGACY_MSG || len == LEGACY_MAC)
		return MP_DIGEST_LEGACY;
	if (len < 2 || m[0] != '{')
		return -MP_EAUTH;
	size_t end = len < NAME_MAX_LEN + 2 ? len : NAME_MAX_LEN + 2;
	const uint8_t *curly = memchr(m + 1, '}', end - 1);
	if (!curly)
		return -MP_EAUTH;
	size_t nlen = (size_t)(curly - (m + 1));
	for (int i = 0; i < MP_DIGEST_COUNT; i++) {
		const char *name = digests[i].name;
		if (name && strlen(name) == nlen && !memcmp(name, m + 1, nlen)) {
			*payload = nlen + 2;
			return i;
		}
	}
	return -MP_EAUTH;
}

int mp__auth_challenge(int digest, uint8_t *out)
{
	if (digest < 0 || digest >= MP_DIGEST_COUNT)
		return -EINVAL;
	const char *name = digests[digest].name;
	size_t n = MP__CHALLENGE_LEN, rnd = MP__AUTH_LEGACY_RANDOM;
	memcpy(out, MP__CHALLENGE, MP__CHALLENGE_LEN);
	if (name) {
		size_t nl = strlen(name);
		out[n++] = '{';
		memcpy(out + n, name, nl);
		n += nl;
		out[n++] = '}';
		rnd = MP__AUTH_RANDOM;
	}
	int r = mp_sys_nonce(out + n, rnd);
	return r < 0 ? r : (int)(n + rnd);
}

int mp__auth_respond(const void *key, size_t keylen, const uint8_t *msg,
                     size_t len, uint8_t *out)
{
	if (len < MP__CHALLENGE_LEN ||
	    memcmp(msg, MP__CHALLENGE, MP__CHALLENGE_LEN) != 0)
		return -MP_EAUTH;
	msg += MP__CHALLENGE_LEN;
	len -= MP__CHALLENGE_LEN;
	if (len < LEGACY_MSG)
		return -MP_EAUTH; /* "challenge too short" */
	size_t payload;
	int d = parse_prefix(msg, len, &payload);
	if (d < 0)
		return d;
	if (d == MP_DIGEST_LEGACY) {
		int n = hmac(d, key, keylen, msg, len, out);
		if (n >= 0)
			return n;
		/* No MD5 (FIPS): answer in the modern form, as Python. */
		d = MP_DIGEST_SHA256;
	}
	const char *name = digests[d].name;
	size_t nl = strlen(name);
	out[0] = '{';
	memcpy(out + 1, name, nl);
	out[nl + 1] = '}';
	int n = hmac(d, key, keylen, msg, len, out + nl + 2);
	return n < 0 ? n : (int)(nl + 2) + n;
}

int mp__auth_verify(const void *key, size_t keylen, const uint8_t *msg,
                    size_t mlen, const uint8_t *resp, size_t rlen)
{
	uint8_t want[EVP_MAX_MD_SIZE];
	size_t payload;
	int d = parse_prefix(resp, rlen, &payload);

	if (d < 0)
		return d;
	int n = hmac(d, key, keylen, msg, mlen, want);
	if (n < 0)
		return n;
	if (rlen - payload != (size_t)n)
		return -MP_EAUTH;
	return CRYPTO_memcmp(want, resp + payload, (size_t)n) == 0 ? 0
	                                                          : -MP_EAUTH;
}

bool mp__auth_is_welcome(const uint8_t *p, size_t len)
{
	return len == sizeof(MP__WELCOME) - 1 &&
	       memcmp(p, MP__WELCOME, len) == 0;
}

/* ---- over a connection ------------------------------------------------- */

_Static_assert(sizeof(MP__WELCOME) - 1 == MP__AUTH_VERDICT_LEN &&
               sizeof(MP__FAILURE) - 1 == MP__AUTH_VERDICT_LEN,
               "a verdict is read at its exact length");

static int check_key(const void *key, size_t keylen)
{
	return (!key && keylen) || keylen > INT_MAX ? -EINVAL : 0;
}

/*
 * Spinning for a handshake message (connection.c, mp__conn_recv_small)
 * pays when the peer is running, so that its answer comes within
 * microseconds instead of after a cross-CPU wake-up: on an idle VM that
 * wake-up was most of a connect.  Two estimates, as the two kinds of wait
 * take different times: a client's wait for the first challenge spans
 * the listener's wake-up from accept; every other wait answers a message
 * the peer was awake to receive (it spins likewise: listener.c).  One of
 * each per process: a connection makes too few waits to learn from.
 * Where spinning does not pay (busy CPUs), spin.c's estimates and probes
 * fade it out.
 */
static _Atomic uint32_t first_spin, answer_spin;

/* A handshake message, at most cap bytes: a longer or malformed one is a
 * protocol violation, which is an authentication failure. */
static int64_t recv_small(mp_conn_t *c, uint8_t *buf, size_t cap,
                          int64_t deadline, _Atomic uint32_t *spin)
{
	int64_t n = mp__conn_recv_small(c, buf, cap, deadline, spin);
	return n == -EMSGSIZE || n == -EBADMSG ? -MP_EAUTH : n;
}

/* The deliverer's end, once chal (n bytes, "#CHALLENGE#" first) is on
 * its way: read the answer, check it, say the verdict. */
static int judge(mp_conn_t *c, const void *key, size_t keylen,
                 const uint8_t *chal, size_t n, int64_t deadline)
{
	uint8_t resp[MP__AUTH_MSG_MAX];
	int64_t rl = recv_small(c, resp, MP__AUTH_MSG_MAX, deadline,
	                        &answer_spin);
	if (rl < 0)
		return (int)rl;
	int r = mp__auth_verify(key, keylen, chal + MP__CHALLENGE_LEN,
	                        n - MP__CHALLENGE_LEN, resp, (size_t)rl);
	const char *verdict = r == 0 ? MP__WELCOME : MP__FAILURE;
	int w = mp__conn_send(c, verdict, strlen(verdict), deadline);
	return r < 0 ? r : w;
}

/* mp_deliver_challenge by an absolute deadline, arguments checked. */
static int auth_deliver(mp_conn_t *c, const void *key, size_t keylen,
                        int digest, int64_t deadline)
{
	uint8_t chal[MP__AUTH_CHALLENGE_MAX];
	int n = mp__auth_challenge(digest, chal);
	if (n < 0)
		return n;
	int r = mp__conn_send(c, chal, (size_t)n, deadline);
	return r < 0 ? r : judge(c, key, keylen, chal, (size_t)n, deadline);
}

/* mp_answer_challenge by an absolute deadline, arguments checked; first:
 * the spin estimate for the wait for the challenge. */
static int auth_answer(mp_conn_t *c, const void *key, size_t keylen,
                       int64_t deadline, _Atomic uint32_t *first)
{
	uint8_t msg[MP__AUTH_MSG_MAX], out[MP__AUTH_RESPONSE_MAX];
	int64_t rl = recv_small(c, msg, MP__AUTH_MSG_MAX, deadline, first);
	if (rl < 0)
		return (int)rl;
	int n = mp__auth_respond(key, keylen, msg, (size_t)rl, out);
	if (n < 0)
		return n;
	int r = mp__conn_send(c, out, (size_t)n, deadline);
	if (r < 0)
		return r;
	/* The verdict's length exactly: after "#WELCOME#" the peer may go on
	 * at once, and a read must not take its next message (or drop the
	 * descriptor that came with it).  Longer is no welcome anyway. */
	rl = recv_small(c, msg, MP__AUTH_VERDICT_LEN, deadline, &answer_spin);
	if (rl < 0)
		return (int)rl;
	return mp__auth_is_welcome(msg, (size_t)rl) ? 0 : -MP_EAUTH;
}

/*
 * The client's side with its challenge behind its answer.  The listener
 * reads one message at a time, so it meets our challenge only after its
 * verdict, as in CPython's order; a "#FAILURE#" leaves our challenge
 * unread, and it is only random bytes.  Behind "#WELCOME#" comes nothing
 * but the listener's answer (nothing else may come before our verdict),
 * so the verdict's read may take both: the answer is stashed.
 */
static int client_ahead(mp_conn_t *c, const void *key, size_t keylen,
                        int digest, int64_t deadline)
{
	uint8_t msg[MP__AUTH_MSG_MAX], resp[MP__AUTH_RESPONSE_MAX];
	uint8_t chal[MP__AUTH_CHALLENGE_MAX];
	uint8_t out[2 * MP__FRAME_HDR_MAX + sizeof(resp) + sizeof(chal)];
	size_t at = 0;
	int64_t rl = recv_small(c, msg, MP__AUTH_MSG_MAX, deadline,
	                        &first_spin);
	if (rl < 0)
		return (int)rl;
	int n = mp__auth_respond(key, keylen, msg, (size_t)rl, resp);
	int cn = n < 0 ? n : mp__auth_challenge(digest, chal);
	if (cn < 0)
		return cn;
	mp__frame_put(out, &at, resp, (size_t)n);
	mp__frame_put(out, &at, chal, (size_t)cn);
	int r = mp__conn_send_framed(c, out, at, deadline);
	if (r < 0)
		return r;
	rl = recv_small(c, msg, MP__AUTH_MSG_MAX, deadline, &answer_spin);
	if (rl < 0)
		return (int)rl;
	if (!mp__auth_is_welcome(msg, (size_t)rl))
		return -MP_EAUTH;
	return judge(c, key, keylen, chal, (size_t)cn, deadline);
}

int mp__auth_client(mp_conn_t *c, const void *key, size_t keylen,
                    int digest, bool ahead, int64_t deadline)
{
	if (ahead)
		return client_ahead(c, key, keylen, digest, deadline);
	int r = auth_answer(c, key, keylen, deadline, &first_spin);
	return r < 0 ? r : auth_deliver(c, key, keylen, digest, deadline);
}

int mp_deliver_challenge(mp_conn_t *c, const void *authkey, size_t keylen,
                         int digest, int64_t timeout_ns)
{
	int64_t deadline;
	int r = check_key(authkey, keylen);

	if (!c || r < 0 || digest < 0 || digest >= MP_DIGEST_COUNT)
		return -EINVAL;
	if ((r = mp__deadline(timeout_ns, &deadline)) < 0)
		return r;
	return auth_deliver(c, authkey, keylen, digest, deadline);
}

int mp_answer_challenge(mp_conn_t *c, const void *authkey, size_t keylen,
                        int64_t timeout_ns)
{
	int64_t deadline;
	int r = check_key(authkey, keylen);

	if (!c || r < 0)
		return -EINVAL;
	if ((r = mp__deadline(timeout_ns, &deadline)) < 0)
		return r;
	/* Whoever calls it on its own has usually just spoken to the peer
	 * (a listener in CPython's order: deliver, then answer). */
	return auth_answer(c, authkey, keylen, deadline, &answer_spin);
}
