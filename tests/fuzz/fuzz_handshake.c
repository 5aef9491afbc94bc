/*
 * fuzz_handshake.c - libFuzzer harness for the authkey handshake.
 *
 * data[0] picks a target; the rest is what the other side sends.
 *   0  the answerer's parser: whatever challenge it accepts, its answer
 *      must verify with the same key (and not with another);
 *   1  the verifier: no input may pass for the MAC of a fresh random
 *      challenge (that would be an authentication bypass);
 *   2  a listener fed the bytes as a client's: it must never hand out a
 *      connection (the input cannot know the MAC of its random challenge);
 *   3  a client side fed the bytes as a listener's: answering may succeed
 *      (the input can hold a challenge and a #WELCOME#), delivering never.
 * Nothing may crash, leak, wait (every peer has closed its side), or read
 * a handshake message past 256 bytes.  Built with -Dfuzz=true; replay.c
 * runs it over the corpus in the normal test suite.
 */
#include "internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char key[] = "fuzz key";
#define KEYLEN (sizeof(key) - 1)

static void answerer(const uint8_t *d, size_t n)
{
	uint8_t out[MP__AUTH_RESPONSE_MAX + 1];
	int r = mp__auth_respond(key, KEYLEN, d, n, out);
	if (r < 0) {
		if (r != -MP_EAUTH)
			abort();
		return;
	}
	if (r > MP__AUTH_RESPONSE_MAX ||
	    mp__auth_verify(key, KEYLEN, d + MP__CHALLENGE_LEN,
	                    n - MP__CHALLENGE_LEN, out, (size_t)r) != 0 ||
	    mp__auth_verify("another", 7, d + MP__CHALLENGE_LEN,
	                    n - MP__CHALLENGE_LEN, out, (size_t)r) == 0)
		abort();
}

static void verifier(const uint8_t *d, size_t n)
{
	uint8_t chal[MP__AUTH_CHALLENGE_MAX];
	int digest = n ? d[0] % MP_DIGEST_COUNT : 0;
	int c = mp__auth_challenge(digest, chal);
	if (c < 0)
		abort();
	if (mp__auth_verify(key, KEYLEN, chal + MP__CHALLENGE_LEN,
	                    (size_t)c - MP__CHALLENGE_LEN, d, n) != -MP_EAUTH)
		abort();
}

static void listener_side(const uint8_t *d, size_t n)
{
	static mp_listener_t *l;
	int err = 0;
	if (!l) {
		char name[64];
		mp_address_t a;
		mp_conn_opts_t o = { .authkey = key, .authkey_len = KEYLEN,
		                     .backlog = 64 };
		snprintf(name, sizeof(name), "@mproc-fuzz-%d", (int)getpid());
		mp_address_parse(&a, name);
		if (!(l = mp_listener_open(&a, &o, &err)))
			abort();
	}
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	struct sockaddr_storage ss;
	socklen_t len;
	if (fd < 0 || mp__address_to_sockaddr(mp_listener_address(l), &ss,
	                                      &len) < 0 ||
	    connect(fd, (struct sockaddr *)&ss, len) < 0)
		abort();
	if (n && send(fd, d, n, MSG_NOSIGNAL) != (ssize_t)n)
		abort();
	shutdown(fd, SHUT_WR);
	/* Admit, challenge, read it all, see the end: a few steps. */
	for (int i = 0; i < 4; i++) {
		mp_conn_t *c = mp_listener_accept(l, 0, &err);
		if (c)
			abort(); /* authenticated without the key */
		if (err != -EAGAIN && err != -MP_EAUTH)
			abort();
	}
	close(fd);
}

static void client_side(const uint8_t *d, size_t n, bool deliver)
{
	int fds[2], err;
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds) < 0)
		abort();
	mp_conn_t *c = mp_conn_open(fds[0], true, true, &err);
	if (!c || (n && send(fds[1], d, n, MSG_NOSIGNAL) != (ssize_t)n))
		abort();
	shutdown(fds[1], SHUT_WR);
	int r = deliver ? mp_deliver_challenge(c, key, KEYLEN, MP_DIGEST_SHA256, 0)
	                : mp_answer_challenge(c, key, KEYLEN, 0);
	if (r == 0 && deliver)
		abort();
	if (r < 0 && r != -MP_EAUTH && r != -MP_EEOF && r != -ECONNRESET &&
	    r != -ETIMEDOUT && r != -EPIPE)
		abort();
	mp_conn_close(c);
	close(fds[1]);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size == 0)
		return 0;
	const uint8_t *d = data + 1;
	size_t n = size - 1;
	switch (data[0] % 5) {
	case 0:
		answerer(d, n);
		break;
	case 1:
		verifier(d, n);
		break;
	case 2:
		listener_side(d, n);
		break;
	case 3:
		client_side(d, n, false);
		break;
	default:
		client_side(d, n, true);
		break;
	}
	return 0;
}
