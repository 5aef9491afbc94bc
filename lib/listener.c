/*
 * listener.c - Python's Listener and Client.
 *
 * Without an authkey, accept is accept(2) with a deadline.  With one, the
 * listener runs each new connection's handshake as a small state machine
 * on a non-blocking read side, so a client that connects and says nothing
 * holds a slot, not the listener:
 *
 *   accepted --send challenge--> RESPONSE --verify, send verdict-->
 *   CHALLENGE --send answer--> WELCOME --"#WELCOME#"--> returned
 *
 * One ppoll waits for the listening socket and every slot at once, until
 * the caller's deadline or the nearest handshake deadline.  Frames are
 * gathered by mp__frame_rx, a message's header and payload in one read
 * (system calls are most of a connect's cost: several us each on a VM).
 * A read asks for all the buffer has room for, except the last: after
 * "#WELCOME#" the client may go on at once, and its next bytes, or the
 * descriptor that comes with one, must stay in the socket.  What a read
 * took past a frame is the next frame's start (or, from a client that
 * sent ahead of the handshake, the connection's first bytes).  Our own
 * handshake messages are a few dozen bytes on a fresh socket, so they are
 * written without waiting; a socket that cannot take them is dropped.  Replies are queued while more of the
 * client's frames are at hand and sent together when it has none left to
 * read (a read that came back short emptied the socket): to a client that
 * sends its challenge right behind its answer (mproc's, over AF_UNIX),
 * "#WELCOME#" and our answer then leave in one write.
 */
#include "internal.h"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/crypto.h>

enum state { P_FREE, P_RESPONSE, P_CHALLENGE, P_WELCOME };

struct pending {
	int fd;
	enum state state;
	bool early;               /* spoke before it was challenged */
	int64_t since, deadline;  /* admitted; to finish by */
	struct sockaddr_storage peer;
	socklen_t peerlen;
	size_t chal_len;
	uint8_t chal[MP__AUTH_CHALLENGE_MAX];
	size_t outlen;        /* replies queued in out */
	uint8_t out[2 * MP__FRAME_HDR_SHORT + 16 + MP__AUTH_RESPONSE_MAX];
	struct mp__frame_rx rx;
};

struct mp_listener {
	int fd;
	mp_address_t address, last;
	bool has_last;
	bool unlink_path;     /* a filesystem AF_UNIX socket of ours */
	pid_t creator;
	bool auth;
	uint8_t *key;
	size_t keylen;
	int digest;
	int64_t hs_timeout;   /* ns, or MP_FOREVER */
	_Atomic uint32_t spin_est; /* spin.c's estimate for handshake waits */
	_Atomic uint32_t idle_est; /* and for the next connection */
	int npending;
	struct pending *pending; /* MP_LISTENER_PENDING_MAX slots, with a key */
};

static int check_opts(const mp_conn_opts_t *o)
{
	if (!o)
		return 0;
	if ((!o->authkey && o->authkey_len) || o->authkey_len > INT32_MAX ||
	    o->digest < 0 || o->digest >= MP_DIGEST_COUNT || o->backlog < 0 ||
	    (o->handshake_timeout < 0 && o->handshake_timeout != MP_FOREVER))
		return -EINVAL;
	return 0;
}

/* ---- opening and closing ---------------------------------------------------- */

/* Python's arbitrary_address('AF_UNIX'): a fresh name in the temp dir. */
static int arbitrary_unix(mp_address_t *a)
{
	const char *dir = getenv("TMPDIR");
	uint8_t rnd[8];
	char path[MP_ADDRESS_MAX];

	if (!dir || !*dir || strlen(dir) > 64)
		dir = "/tmp";
	int r = mp_sys_getrandom(rnd, sizeof(rnd));
	if (r < 0)
		return r;
	snprintf(path, sizeof(path), "%s/mproc-listener-%d-%02x%02x%02x%02x"
	         "%02x%02x%02x%02x", dir, (int)getpid(), rnd[0], rnd[1],
	         rnd[2], rnd[3], rnd[4], rnd[5], rnd[6], rnd[7]);
	return mp_address_unix(a, path);
}

/*
 * TCP_NODELAY on every TCP socket we make (a listener's accepted sockets
 * inherit it from the listener): a message goes out when it is written,
 * never held back until the peer acknowledges the last one, which a peer
 * with nothing to say delays by ~40 ms (connection.h says why this is the
 * only option we set).
 */
static int tune_tcp(int fd, int family)
{
	return family == AF_UNIX ? 0 : mp_sys_tcp_set(fd, TCP_NODELAY, 1);
}

static int bind_socket(mp_listener_t *l, const mp_address_t *a, int backlog)
{
	struct sockaddr_storage ss;
	socklen_t len;
	int r = mp__address_to_sockaddr(a, &ss, &len);

	if (r < 0)
		return r;
	/* Non-blocking, so a listener shared with another process never
	 * blocks in accept after a wake-up the other one took. */
	if ((l->fd = mp_sys_socket(a->family, SOCK_NONBLOCK)) < 0)
		return l->fd;
	if ((r = tune_tcp(l->fd, a->family)) < 0)
		return r;
	/* Linux gives a bound socket file the socket inode's mode (less the
	 * umask): set before bind, there is no moment it is open to others. */
	if (a->family == AF_UNIX && (r = mp_sys_fchmod(l->fd, 0600)) < 0)
		return r;
	if ((r = mp_sys_bind_listen(l->fd, (struct sockaddr *)&ss, len,
	                            backlog)) < 0)
		return r;
	if ((r = mp_sys_sockname(l->fd, &ss, &len)) < 0)
		return r;
	mp__address_from_sockaddr(&ss, len, &l->address);
	l->unlink_path = a->family == AF_UNIX && a->name[0] != 0;
	return 0;
}

static int listener_bind(mp_listener_t *l, const mp_address_t *address,
                         int backlog)
{
	mp_address_t a;

	for (int tries = 0;; tries++) {
		int r = address ? 0 : arbitrary_unix(&a);
		if (r < 0)
			return r;
		r = bind_socket(l, address ? address : &a, backlog);
		if (r == 0 || address || r != -EADDRINUSE || tries == 8)
			return r;
		mp_sys_close(l->fd); /* a name collision: draw again */
		l->fd = -1;
	}
}

static int listener_setup(mp_listener_t *l, const mp_address_t *address,
                          const mp_conn_opts_t *o)
{
	l->fd = -1;
	l->creator = getpid();
	l->hs_timeout = o && o->handshake_timeout ? o->handshake_timeout
	                                          : MP_HANDSHAKE_TIMEOUT;
	if (o && o->authkey) {
		l->auth = true;
		l->keylen = o->authkey_len;
		l->digest = o->digest;
		l->key = malloc(l->keylen ? l->keylen : 1);
		l->pending = calloc(MP_LISTENER_PENDING_MAX, sizeof(*l->pending));
		if (!l->key || !l->pending)
			return -ENOMEM;
		memcpy(l->key, o->authkey, l->keylen);
	}
	return listener_bind(l, address, o && o->backlog ? o->backlog : 1);
}

mp_listener_t *mp_listener_open(const mp_address_t *address,
                                const mp_conn_opts_t *opts, int *err)
{
	int r = check_opts(opts);
	mp_listener_t *l = NULL;

	if (r == 0 && !(l = calloc(1, sizeof(*l))))
		r = -ENOMEM;
	if (r == 0 && (r = listener_setup(l, address, opts)) < 0) {
		mp_listener_close(l); /* nothing bound: nothing unlinked */
		l = NULL;
	}
	if (err)
		*err = r;
	return l;
}

static void drop(mp_listener_t *l, struct pending *p)
{
	mp_sys_close(p->fd);
	p->fd = -1;
	p->state = P_FREE;
	l->npending--;
}

int mp_listener_close(mp_listener_t *l)
{
	int r = 0;

	if (!l)
		return 0;
	for (int i = 0; l->pending && i < MP_LISTENER_PENDING_MAX; i++)
		if (l->pending[i].state != P_FREE)
			drop(l, &l->pending[i]);
	free(l->pending);
	if (l->fd >= 0)
		r = mp_sys_close(l->fd);
	/* As Python's Finalize: only the creator removes the file, so a
	 * forked child closing its copy leaves the parent's listener usable. */
	if (l->unlink_path && l->creator == getpid()) {
		int u = mp_sys_unlink(l->address.name);
		if (r == 0 && u != -ENOENT)
			r = u;
	}
	if (l->key) {
		OPENSSL_cleanse(l->key, l->keylen);
		free(l->key);
	}
	free(l);
	return r;
}

/* The socket only: a parent whose child serves drops its copy, so that
 * the child's death refuses new clients instead of leaving them queued
 * on a socket nobody accepts from; the file stays until close. */
int mp__listener_close_fd(mp_listener_t *l)
{
	int r = l->fd >= 0 ? mp_sys_close(l->fd) : 0;
	l->fd = -1;
	return r;
}

const mp_address_t *mp_listener_address(const mp_listener_t *l)
{
	return l ? &l->address : NULL;
}

const mp_address_t *mp_listener_last_accepted(const mp_listener_t *l)
{
	return l && l->has_last ? &l->last : NULL;
}

int mp_listener_fileno(const mp_listener_t *l)
{
	return l ? l->fd : -EINVAL;
}

/* ---- accepting ---------------------------------------------------------------- */

/* fd (blocking) into a connection; on failure fd is closed. */
static mp_conn_t *hand_over(mp_listener_t *l, int fd,
                            const struct sockaddr_storage *peer,
                            socklen_t peerlen, int *err)
{
	mp_conn_t *c = mp__conn_socket(fd, err);

	if (!c) {
		mp_sys_close(fd);
		return NULL;
	}
	mp__address_from_sockaddr(peer, peerlen, &l->last);
	l->has_last = true;
	return c;
}

static int wait_listener(mp_listener_t *l, int64_t deadline)
{
	struct timespec ts;
	struct pollfd p = { .fd = l->fd, .events = POLLIN };
	int r = mp_sys_poll(&p, 1, mp__deadline_ts(deadline, &ts));
	return r < 0 ? r : r == 0 ? -ETIMEDOUT : 0;
}

static mp_conn_t *accept_plain(mp_listener_t *l, int64_t deadline, int *err)
{
	struct sockaddr_storage peer;
	socklen_t len;

	for (;;) {
		int fd = mp_sys_accept(l->fd, &peer, &len);
		if (fd >= 0)
			return hand_over(l, fd, &peer, len, err);
		if (fd != -EAGAIN || (fd = wait_listener(l, deadline)) < 0) {
			*err = fd;
			return NULL;
		}
	}
}

/* One handshake message, header and payload in one non-blocking send. */
static int send_small(int fd, const void *msg, size_t len)
{
	uint8_t hdr[MP__FRAME_HDR_MAX];
	struct iovec iov[2] = { { hdr, mp__frame_encode(len, hdr) },
	                        { (void *)msg, len } };
	ssize_t w = mp_sys_writev(fd, iov, 2, true, true);
	if (w < 0)
		return (int)w;
	return (size_t)w == iov[0].iov_len + len ? 0 : -EAGAIN;
}

/* Queue a reply (a few dozen bytes; out always has room for the two a
 * state machine step can produce). */
static void queue(struct pending *p, const void *msg, size_t len)
{
	mp__frame_put(p->out, &p->outlen, msg, len);
}

/* Send what is queued, without waiting: 0, or an error (drop the slot). */
static int flush(struct pending *p)
{
	struct iovec v = { p->out, p->outlen };
	ssize_t w = p->outlen ? mp_sys_writev(p->fd, &v, 1, true, true) : 0;
	size_t n = p->outlen;
	p->outlen = 0;
	if (w < 0)
		return (int)w;
	return (size_t)w == n ? 0 : -EAGAIN;
}

/* A complete frame in the state it was awaited in.  Returns 0 (next
 * state), 1 (authenticated), or -MP_EAUTH. */
static int advance(mp_listener_t *l, struct pending *p, const uint8_t *m,
                   size_t len)
{
	uint8_t out[MP__AUTH_RESPONSE_MAX];
	int r, n;

	switch (p->state) {
	case P_RESPONSE:
		r = mp__auth_verify(l->key, l->keylen, p->chal + MP__CHALLENGE_LEN,
		                    p->chal_len - MP__CHALLENGE_LEN, m, len);
		const char *verdict = r == 0 ? MP__WELCOME : MP__FAILURE;
		queue(p, verdict, strlen(verdict));
		p->state = P_CHALLENGE;
		return r;
	case P_CHALLENGE:
		n = mp__auth_respond(l->key, l->keylen, m, len, out);
		if (n < 0)
			return n;
		queue(p, out, (size_t)n);
		p->state = P_WELCOME;
		return 0;
	case P_WELCOME:
		return mp__auth_is_welcome(m, len) ? 1 : -MP_EAUTH;
	default:
		return -EINVAL;
	}
}

/* How much to read: all there is room for, but only the verdict's frame
 * while the next can be "#WELCOME#" (see the top).  A verdict has a
 * 4-byte header; a longer one or any other length is no welcome, and
 * then reading on does no harm. */
static size_t want(const struct pending *p)
{
	const struct mp__frame_rx *f = &p->rx;

	if (p->state != P_WELCOME)
		return mp__frame_rx_room(f);
	if (f->got < MP__FRAME_HDR_SHORT)
		return MP__FRAME_HDR_SHORT + MP__AUTH_VERDICT_LEN - f->got;
	return mp__frame_rx_need(f);
}

/* n more bytes of a slot's stream: step the handshake over each whole
 * frame they complete.  0 (more to come), 1 (authenticated), -MP_EAUTH. */
static int take(mp_listener_t *l, struct pending *p, size_t n)
{
	int f = mp__frame_rx_add(&p->rx, n, MP__AUTH_MSG_MAX);

	while (f == 1) {
		size_t len;
		const uint8_t *m = mp__frame_rx_payload(&p->rx, &len);
		int r = advance(l, p, m, len);
		if (r != 0)
			return r;
		mp__frame_rx_next(&p->rx);
		f = mp__frame_rx_add(&p->rx, 0, MP__AUTH_MSG_MAX);
	}
	return f < 0 ? -MP_EAUTH : 0; /* oversized or malformed */
}

/* Read what a slot's client sent without waiting; send the replies when
 * there is nothing more to read (or on failure: Python says "#FAILURE#"
 * before it gives up). */
static int step(mp_listener_t *l, struct pending *p)
{
	for (;;) {
		size_t len = want(p);
		ssize_t n = mp_sys_read(p->fd, mp__frame_rx_space(&p->rx), len,
		                        true, true);
		if (n == -EAGAIN)
			return flush(p);
		if (n <= 0)
			return n == 0 ? -MP_EEOF : (int)n;
		int r = take(l, p, (size_t)n);
		if (r != 0) {
			int w = flush(p);
			return r < 0 || w == 0 ? r : w;
		}
		if ((size_t)n < len)
			return flush(p); /* it had no more */
	}
}

/*
 * Admission under a flood.  A slot whose client has not yet answered our
 * challenge (P_RESPONSE) has proven nothing; one that has answered it
 * holds the key.  When every slot is taken and a connection waits, an
 * unproven slot gives way, and the newcomer takes it:
 *  - first one whose client spoke before it was challenged, at once: no
 *    client running the protocol does that (CPython's and ours wait for
 *    the challenge), while a flood that sends a byte and stalls does;
 *  - else the unproven slot admitted longest ago, once it has had GRACE
 *    to answer; until then the newcomer waits in the backlog.
 * A newcomer that spoke early itself displaces nobody: it is closed at
 * once, unchallenged.  Proven slots never give way (only their deadline
 * ends them).
 *
 * So connections without the key hold at most MP_LISTENER_PENDING_MAX
 * descriptors and delay a good client without starving it.  A flood
 * queued ahead of it is cleared as fast as the listener can accept and
 * close when it speaks first, and at up to a table every GRACE when it
 * waits for its challenge (1000 connections: ~30 ms); once admitted, a
 * good client has at least GRACE to answer, even when every connection
 * dropped comes straight back.  That is the trade: a client waits about
 * (flood / table size) graces and must answer within one, and a fresh
 * process's first answer alone takes milliseconds (OpenSSL's set-up: 2-7
 * ms here), more on a loaded machine.  Hence a table of 256, not 64, and
 * the early speakers' fast lane.  (Evicting only silent slots, before, let
 * 64 connections that each sent one byte hold every slot for the whole
 * handshake timeout.)
 */
#define GRACE MP_MSEC(10)

static bool proven(const struct pending *p)
{
	return p->state > P_RESPONSE;
}

/* Which of two unproven slots gives way first. */
static bool before(const struct pending *p, const struct pending *q)
{
	return !q || (p->early != q->early ? p->early : p->since < q->since);
}

/* The slot the next connection would take: a free one, else the unproven
 * one that gives way first; NULL when every slot is proven. */
static struct pending *next_slot(mp_listener_t *l)
{
	struct pending *old = NULL;

	for (int i = 0; i < MP_LISTENER_PENDING_MAX; i++) {
		struct pending *p = &l->pending[i];
		if (p->state == P_FREE)
			return p;
		if (!proven(p) && before(p, old))
			old = p;
	}
	return old;
}

/* When it may take that slot (MP__NO_DEADLINE: not until one frees). */
static int64_t slot_free_at(const struct pending *p)
{
	if (!p)
		return MP__NO_DEADLINE;
	return p->state == P_FREE || p->early ? INT64_MIN : p->since + GRACE;
}

static int64_t add_timeout(int64_t now, int64_t timeout)
{
	if (timeout == MP_FOREVER || timeout > MP__NO_DEADLINE - now)
		return MP__NO_DEADLINE;
	return now + timeout;
}

/* Accept one connection into slot p, evicting its holder, and challenge
 * it.  1 when one was accepted, 0 when there was none (-EAGAIN: as when
 * another process took it), or the error accept(2) gave. */
static int admit_one(mp_listener_t *l, struct pending *p)
{
	struct sockaddr_storage peer;
	socklen_t peerlen;
	int fd = mp_sys_accept(l->fd, &peer, &peerlen);

	if (fd < 0)
		return fd == -EAGAIN ? 0 : fd;
	/* Bytes (or end of file) there before our challenge is.  Asked only
	 * where it can matter, when other slots are taken: a system call
	 * ahead of the challenge is a few us of every connect, and a slot not
	 * marked early still gives way after GRACE. */
	bool early = l->npending > 0 &&
	             mp_sys_poll_one(fd, POLLIN, &(struct timespec){ 0 }) > 0;
	if (p->state != P_FREE && early) {
		mp_sys_close(fd); /* under pressure: it displaces nobody */
		return 1;
	}
	if (p->state != P_FREE)
		drop(l, p); /* its client sees end of file */
	int64_t now = mp_sys_now_ns();
	*p = (struct pending){ .fd = fd, .state = P_RESPONSE, .early = early,
	                       .since = now,
	                       .deadline = add_timeout(now, l->hs_timeout),
	                       .peer = peer, .peerlen = peerlen };
	mp__frame_rx_init(&p->rx);
	l->npending++;
	int n = mp__auth_challenge(l->digest, p->chal);
	if (n > 0) {
		p->chal_len = (size_t)n;
		n = send_small(fd, p->chal, p->chal_len);
	}
	if (n < 0)
		drop(l, p); /* the client will see end of file */
	return 1;
}

/* Admit what the backlog holds while there is room, up to a slot
 * table's worth per call: a flood queued ahead of a good client is
 * cleared in few polls, and the slots already open are still serviced
 * between batches. */
static int admit(mp_listener_t *l, int64_t now)
{
	/* An idle listener woke for one newcomer, most likely: an accept
	 * after it would mostly fail, and the next poll tells of another. */
	int most = l->npending == 0 ? 1 : MP_LISTENER_PENDING_MAX;
	int r = 1;

	for (int i = 0; i < most && r == 1; i++) {
		struct pending *p = next_slot(l);
		if (slot_free_at(p) > now)
			break;
		r = admit_one(l, p);
	}
	return r < 0 ? r : 0;
}

/*
 * A slot whose handshake succeeded leaves as a connection.  Over TCP, the
 * client's "#WELCOME#" is acknowledged now, not ~40 ms later: a client
 * without TCP_NODELAY (CPython's) holds its first message back until it
 * is (best effort: a failure costs only that wait).
 */
static mp_conn_t *graduate(mp_listener_t *l, struct pending *p, int *err)
{
	int fd = p->fd;
	size_t ahead;
	const uint8_t *rest = mp__frame_rx_rest(&p->rx, &ahead);

	if (l->address.family != AF_UNIX)
		(void)mp_sys_tcp_set(fd, TCP_QUICKACK, 1);
	p->fd = -1;
	p->state = P_FREE;
	l->npending--;
	mp_conn_t *c = hand_over(l, fd, &p->peer, p->peerlen, err);
	/* Bytes a client sent past its "#WELCOME#" without waiting for our
	 * answer, read with an earlier frame: its connection's first. */
	if (c && (*err = mp__conn_stash(c, rest, ahead)) < 0) {
		mp_conn_close(c);
		c = NULL;
	}
	return c;
}

/*
 * Step the slots ppoll found ready and drop the failed and the late.
 * Returns a connection, or NULL with *err = 0 (nothing yet) or -MP_EAUTH
 * (a handshake failed, as Python's accept raises).  Other failures (end of
 * file, a reset, the deadline) drop the slot quietly.
 */
static mp_conn_t *service(mp_listener_t *l, const struct pollfd *pf,
                          const int *slot, int n, int *err)
{
	int64_t now = mp_sys_now_ns();

	*err = 0;
	for (int i = 1; i < n; i++) {
		struct pending *p = &l->pending[slot[i]];
		int r = pf[i].revents ? step(l, p) : 0;
		if (r == 1)
			return graduate(l, p, err);
		if (r == 0 && now < p->deadline)
			continue;
		drop(l, p);
		if (r == -MP_EAUTH) {
			*err = r;
			return NULL;
		}
	}
	return NULL;
}

/* The listening socket (polled only when a newcomer could be admitted)
 * and every slot into pf; returns how many, and lowers *wake to the
 * nearest handshake deadline or end of a grace that holds admission. */
static int poll_set(mp_listener_t *l, int64_t now, struct pollfd *pf,
                    int *slot, int64_t *wake)
{
	int64_t at = slot_free_at(next_slot(l));
	int n = 1;

	pf[0] = (struct pollfd){ .fd = l->fd, .events = at <= now ? POLLIN : 0 };
	if (at > now && at < *wake)
		*wake = at;
	for (int i = 0; i < MP_LISTENER_PENDING_MAX; i++) {
		const struct pending *p = &l->pending[i];
		if (p->state == P_FREE)
			continue;
		pf[n] = (struct pollfd){ .fd = p->fd, .events = POLLIN };
		slot[n++] = i;
		if (p->deadline < *wake)
			*wake = p->deadline;
	}
	return n;
}

/*
 * After we sent a handshake message, its answer comes within microseconds
 * from a client that is running (one HMAC away), while sleeping for it
 * costs a cross-CPU wake-up, tens of us on a VM, three times a connect.
 * So the wait that follows a send first polls without blocking, for as
 * long as spinning has paid on this listener lately (spin.c's estimate and
 * probes: on busy CPUs, where it only delays the client, it fades out).
 * Returns ppoll's count, 0 when nothing came (then sleep).
 */
static int spin_poll(mp_listener_t *l, struct pollfd *pf, int n)
{
	static const struct timespec zero = { 0, 0 };
	int r = 0;

	MP__SPIN_UNTIL_X(&l->spin_est, MP__HANDSHAKE_SPIN, 1,
	                 (r = mp_sys_poll(pf, (unsigned)n, &zero)) != 0);
	return r;
}

/*
 * A listener with no handshake under way, called again right after it
 * returned one, as a server's accept loop does: where clients come one
 * after another (one that reconnects, a pool of them), the next is
 * usually on its way, and catching its connect saves a wake-up before
 * our challenge.  So first try accepting for as long as that has paid
 * lately (a separate estimate: this waits on the clients, not on a
 * handshake).  1 when one was admitted (its challenge sent), 0, or an
 * error.
 */
static int spin_admit(mp_listener_t *l, int64_t deadline)
{
	int r = 0;

	if (l->npending != 0 || deadline <= mp_sys_now_ns())
		return 0; /* busy, or a caller who would not wait */
	MP__SPIN_UNTIL_X(&l->idle_est, MP__HANDSHAKE_SPIN, 1,
	                 (r = admit_one(l, &l->pending[0])) != 0);
	return r;
}

static mp_conn_t *accept_auth(mp_listener_t *l, int64_t deadline, int *err)
{
	struct pollfd pf[1 + MP_LISTENER_PENDING_MAX];
	int slot[1 + MP_LISTENER_PENDING_MAX];
	struct timespec ts;
	int a = spin_admit(l, deadline);
	bool sent = a > 0; /* the last round sent a handshake message */

	if (a < 0) {
		*err = a;
		return NULL;
	}
	for (;;) {
		int64_t wake = deadline;
		int n = poll_set(l, mp_sys_now_ns(), pf, slot, &wake);
		int r = sent ? spin_poll(l, pf, n) : 0;
		if (r == 0)
			r = mp_sys_poll(pf, (unsigned)n, mp__deadline_ts(wake, &ts));
		mp_conn_t *c = r < 0 ? NULL : service(l, pf, slot, n, err);
		if (r < 0)
			*err = r;
		else if (!c && !*err && (pf[0].revents & POLLIN))
			*err = admit(l, mp_sys_now_ns());
		if (c || *err)
			return c;
		sent = r > 0 && l->npending > 0;
		if (deadline != MP__NO_DEADLINE && mp_sys_now_ns() >= deadline) {
			*err = -ETIMEDOUT;
			return NULL;
		}
	}
}

mp_conn_t *mp_listener_accept(mp_listener_t *l, int64_t timeout_ns, int *err)
{
	int64_t deadline;
	int e = l ? mp__deadline(timeout_ns, &deadline) : -EINVAL;
	mp_conn_t *c = NULL;

	if (e == 0)
		c = l->auth ? accept_auth(l, deadline, &e)
		            : accept_plain(l, deadline, &e);
	if (!c && e == -ETIMEDOUT && timeout_ns == 0)
		e = -EAGAIN;
	if (err)
		*err = c ? 0 : e;
	return c;
}

/* ---- the client side -------------------------------------------------------- */

static int connect_conn(mp_conn_t **c, int family,
                        const struct sockaddr_storage *ss, socklen_t len,
                        int64_t deadline)
{
	struct timespec ts;
	int fd = mp_sys_socket(family, SOCK_NONBLOCK); /* as connect wants */

	if (fd < 0)
		return fd;
	int r = tune_tcp(fd, family);
	if (r == 0)
		r = mp_sys_connect(fd, (const struct sockaddr *)ss, len,
		                   mp__deadline_ts(deadline, &ts));
	if (r == 0)
		*c = mp__conn_socket(fd, &r);
	if (r < 0)
		mp_sys_close(fd);
	return r;
}


mp_conn_t *mp_client(const mp_address_t *address, const mp_conn_opts_t *opts,
                     int64_t timeout_ns, int *err)
{
	struct sockaddr_storage ss;
	socklen_t len;
	int64_t deadline;
	mp_conn_t *c = NULL;
	int r = address ? check_opts(opts) : -EINVAL;

	if (r == 0)
		r = mp__deadline(timeout_ns, &deadline);
	if (r == 0)
		r = mp__address_to_sockaddr(address, &ss, &len);
	if (r == 0)
		r = connect_conn(&c, address->family, &ss, len, deadline);
	if (r == 0 && opts && opts->authkey)
		r = mp__auth_client(c, opts->authkey, opts->authkey_len,
		                    opts->digest, address->family == AF_UNIX,
		                    deadline);
	if (r < 0) {
		mp_conn_close(c);
		c = NULL;
		if (r == -ETIMEDOUT && timeout_ns == 0)
			r = -EAGAIN;
	}
	if (err)
		*err = r;
	return c;
}
