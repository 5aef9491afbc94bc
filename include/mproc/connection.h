/*
 * mproc/connection.h - connections, pipes, listeners and clients, as
 * Python's multiprocessing.connection, speaking its wire format.
 *
 * Lifecycle.  A connection (mp_conn_t) owns one descriptor: a socket or one
 * end of a pipe.  It is made by mp_pipe(), mp_conn_open() (adopting a
 * descriptor), mp_listener_accept() or mp_client(), and released with
 * mp_conn_close(), which closes the descriptor and frees the object.  A
 * connection may also become *closed* on its own (a read-only connection
 * that received a message longer than allowed, as in Python): it then
 * answers -MP_ECLOSED to everything but mp_conn_close(), which still frees
 * it.  A listener (mp_listener_t) owns a listening socket, and for a
 * filesystem AF_UNIX address the socket file, which mp_listener_close()
 * removes when called by the process that opened the listener.
 *
 * Across fork: a child gets copies of the parent's objects, and both sides
 * use and close theirs independently, as with Python's Connection objects
 * passed to a Process (with read-ahead, both get the buffered bytes: only
 * one of them may go on receiving).  Descriptors are close-on-exec.  When a process dies,
 * the kernel closes its descriptors: its peers see end of file (-MP_EEOF)
 * or -EPIPE, never a hang.
 *
 * Wire format (CPython's, byte for byte): each message is a 4-byte
 * big-endian signed length then the bytes; a message of 2 GiB or more is
 * the length -1, then an 8-byte big-endian length, then the bytes.  A C
 * process and a Python process can talk through either end.  An AF_UNIX
 * connection also carries descriptors (mp_conn_send_fd, mp_conn_recv_fd)
 * in the format of Python's reduction.send_handle and recv_handle.
 *
 * Reading: by default a connection never reads beyond the message it is
 * receiving, so whether it has data is exactly whether its descriptor is
 * readable, and several processes may receive from one pipe (Python's
 * workers sharing a task pipe): poll it, or put mp_conn_fileno() in any
 * poll set.  A connection with a single reader may opt into read-ahead
 * (mp_conn_set_readahead): a receive then takes what is there, up to a
 * buffer, and a small message costs one read instead of two.  Its
 * descriptor's readability is then not the whole truth: mp_conn_poll(),
 * mp_wait() and waitsets count buffered bytes as readable, and an event
 * loop of your own asks mp_conn_buffered() before it sleeps on the
 * descriptor, as it would ask OpenSSL's SSL_pending().  One exception
 * without read-ahead: an authentication handshake reads each message's
 * header and payload at once, so a peer that sends past a handshake
 * message before its answer came (no CPython peer does; the verdict,
 * after which one may go on, is read at its exact length) has those
 * bytes buffered, as read-ahead would.
 *
 * I/O: the header and payload of a message always leave in one gathered
 * write.  It can run on the calling thread's io_uring ring, with a deadline
 * as a linked timeout, or on plain system calls; mpbench measured the
 * system calls faster in every case (blocking and timed, 64 B and 64 KiB),
 * so they are the default (lib/connection.c has the numbers' story).  A
 * receive may first spin briefly on non-blocking reads (mp_conn_set_spin)
 * when that has been seen to pay: between two otherwise idle CPUs it turns
 * a round trip from two scheduler wake-ups into two cache misses.
 *
 * Timeouts bound a whole message.  If one passes before any byte of it was
 * sent or received, the call fails with -ETIMEDOUT (-EAGAIN when it was 0)
 * and the connection is as before.  If it passes in the middle of a message,
 * the call fails with -ETIMEDOUT and the stream has lost its framing: that
 * direction is given up, as Python does after a bad message length (a
 * duplex connection stops being readable, or writable; a one-way connection
 * is closed).  The same holds for any error in the middle of a message.
 *
 * TCP: every TCP socket mproc makes has TCP_NODELAY (a client's, and a
 * listener's, whose accepted sockets inherit it): a message leaves when it
 * is written, instead of waiting while an earlier one is unacknowledged
 * for an ACK that a peer with nothing to say delays by up to ~40 ms.
 * Header and payload already leave in one write, so it costs no extra
 * packets.  A listener also sets TCP_QUICKACK as a handshake completes,
 * so the client's last "#WELCOME#" is acknowledged at once and a client
 * without TCP_NODELAY (CPython's) can send its first message without that
 * wait.  Nothing else, on purpose: keep-alive (SO_KEEPALIVE,
 * TCP_USER_TIMEOUT) decides when a silent peer counts as dead, which is
 * the application's policy (timeouts bound every call here); the kernel
 * autotunes buffer sizes better than a fixed SO_SNDBUF/SO_RCVBUF;
 * TCP_CORK or MSG_MORE would only delay messages that are written whole
 * already; TCP_FASTOPEN and TCP_DEFER_ACCEPT gain nothing when the
 * listener speaks first.  A descriptor adopted by mp_conn_open() is left
 * as it is: set TCP_NODELAY on it yourself.
 *
 * Signals: no call ever raises SIGPIPE (sockets use MSG_NOSIGNAL, pipes
 * RWF_NOSIGNAL on Linux 6.18 and later; before that a pipe write blocks
 * SIGPIPE in the calling thread and takes back the one it caused), and the
 * application's signal dispositions are never changed.
 * EINTR is retried inside; timeouts are absolute deadlines, so it never
 * stretches them.
 *
 * Threads: a connection may be used by one sending thread and one receiving
 * thread at the same time; two threads sending (or receiving) on one
 * connection must take turns with a lock of their own, as in Python.
 * mp_conn_poll() and mp_conn_buffered() belong to the receiving side.
 * mp_conn_close() must not race with other calls on the same object.  A
 * listener is used by one thread at a time.
 */
#ifndef MPROC_CONNECTION_H
#define MPROC_CONNECTION_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h> /* AF_INET, AF_INET6, AF_UNIX for mp_address_t */

#include <mproc/common.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct mp_conn mp_conn_t;
typedef struct mp_listener mp_listener_t;

/* A received message: data is malloc'd (release it with free()), holds len
 * bytes and one NUL byte after them (not counted), so text can be printed
 * directly.  Never NULL after a successful receive, even for len 0. */
typedef struct mp_bytes {
	void *data;
	size_t len;
} mp_bytes_t;

/* No limit on the length of a received message (Python's maxlength=None). */
#define MP_CONN_NOLIMIT SIZE_MAX
/* The default spin before a receive sleeps (see mp_conn_set_spin). */
#define MP_CONN_SPIN_DEFAULT MP_USEC(50)
/* Read-ahead buffer sizes (see mp_conn_set_readahead): a default that
 * holds many small messages, and the largest accepted. */
#define MP_CONN_READAHEAD_DEFAULT (64 * 1024)
#define MP_CONN_READAHEAD_MAX (64 * 1024 * 1024)

/* ---- connections and pipes ------------------------------------------- */

/*
 * mp_pipe - Python's Pipe(duplex): a pair of connected connections.
 *
 * duplex: a socketpair (AF_UNIX, SOCK_STREAM), both ends readable and
 * writable.  Otherwise a pipe: *c1 can only receive and *c2 only send; it
 * is given 256 KiB of capacity when the user's pipe budget allows (Linux's
 * default of 64 KiB cannot hold a 64 KiB message and its header).
 *
 * Returns 0, -EINVAL (NULL pointer), -EMFILE, -ENFILE, -ENOMEM.
 */
MP_API int mp_pipe(bool duplex, mp_conn_t **c1, mp_conn_t **c2);

/*
 * mp_conn_open - a connection around a descriptor, which it then owns
 * (Python's Connection(handle, readable, writable)).
 *
 * fd must be a connected stream socket or one end of a pipe (a pipe end is
 * only readable or only writable: say which).  Blocking or not, either
 * works; its flags are left as they are.
 *
 * Returns the connection, or NULL with *err = -EINVAL (fd < 0, neither
 * readable nor writable), -EBADF (fd is not open), -ENOMEM.  On failure
 * the descriptor is not closed.
 */
MP_API mp_conn_t *mp_conn_open(int fd, bool readable, bool writable,
                               int *err);

/*
 * mp_conn_close - close the descriptor (unless already closed) and free the
 * connection.  NULL is accepted.  Returns 0, or the error close(2) reported
 * (the object is freed regardless).
 */
MP_API int mp_conn_close(mp_conn_t *c);

/*
 * mp_conn_send_bytes - send size bytes at buf as one message (Python's
 * send_bytes(buf, offset, size): pass buf + offset).
 *
 * Returns 0, or:
 *   -EINVAL       c is NULL, or buf is NULL with size > 0
 *   -MP_ECLOSED   the connection is closed
 *   -EBADF        the connection is not writable (read-only pipe end, or
 *                 its sending side was given up after an earlier error)
 *   -EMSGSIZE     size exceeds PTRDIFF_MAX
 *   -EPIPE, -ECONNRESET  the peer is gone (no SIGPIPE is raised)
 *   -EAGAIN       timeout 0 and not a byte could be written
 *   -ETIMEDOUT    the timeout passed (see the header: mid-message, the
 *                 sending side is given up)
 *   other -errno from the kernel.
 */
MP_API int mp_conn_send_bytes(mp_conn_t *c, const void *buf, size_t size,
                              int64_t timeout_ns);

/*
 * mp_conn_recv_bytes - receive one message into a new buffer (*out).
 *
 * maxlength: a longer message is refused with -EMSGSIZE and, as in Python,
 * the connection stops being readable (a read-only one is closed), since
 * the rest of that message is still in the stream.  MP_CONN_NOLIMIT for
 * none.  Memory grows with the bytes that actually arrive, never with what
 * a header claims, so a lying header costs nothing.
 *
 * Returns 0 with *out filled, or:
 *   -EINVAL       c or out is NULL
 *   -MP_ECLOSED, -EBADF (not readable)
 *   -MP_EEOF      end of file before a message began (the peer closed)
 *   -ECONNRESET   the peer went away in the middle of a message
 *   -EMSGSIZE     longer than maxlength, or than PTRDIFF_MAX
 *   -EBADMSG      a malformed length header (negative, other than -1)
 *   -EAGAIN, -ETIMEDOUT  as for mp_conn_send_bytes
 *   -ENOMEM, other -errno.
 * On any error *out is {NULL, 0}.
 */
MP_API int mp_conn_recv_bytes(mp_conn_t *c, size_t maxlength,
                              mp_bytes_t *out, int64_t timeout_ns);

/*
 * mp_conn_recv_bytes_into - receive one message into buf at offset
 * (Python's recv_bytes_into(buf, offset)).  buflen is buf's size.
 *
 * Returns the message's length (bytes written at buf + offset), or:
 *   -MP_ETOOSHORT the message is longer than buflen - offset: buf is left
 *                 untouched and the whole message is handed over in
 *                 *whole (malloc'd, as mp_bytes_t says) when whole is not
 *                 NULL, or dropped otherwise.  Either way it has been
 *                 consumed and the connection is ready for the next one
 *                 (Python's BufferTooShort, whose args[0] is the message).
 *   -EINVAL       c NULL, buf NULL with buflen > 0, offset > buflen
 *   and the errors of mp_conn_recv_bytes.
 * whole, when given, is {NULL, 0} unless -MP_ETOOSHORT is returned.
 */
MP_API int64_t mp_conn_recv_bytes_into(mp_conn_t *c, void *buf,
                                       size_t buflen, size_t offset,
                                       mp_bytes_t *whole, int64_t timeout_ns);

/*
 * mp_conn_poll - whether there is anything to read: a message, or end of
 * file (then mp_conn_recv_bytes says -MP_EEOF).  timeout 0 checks,
 * MP_FOREVER blocks.  Bytes read ahead count (1 at once, no system call);
 * otherwise this is the descriptor's readability.
 *
 * Returns 1 (readable), 0 (not within the timeout), -EINVAL (c NULL or a
 * negative timeout other than MP_FOREVER), -MP_ECLOSED, -EBADF (not
 * readable).
 */
MP_API int mp_conn_poll(mp_conn_t *c, int64_t timeout_ns);

/*
 * mp_conn_fileno - the descriptor, still owned by the connection.  With
 * read-ahead on, data may wait in the buffer while the descriptor is not
 * readable: ask mp_conn_buffered() before sleeping on it.
 * Returns it, or -EINVAL (NULL), -MP_ECLOSED.
 */
MP_API int mp_conn_fileno(const mp_conn_t *c);

/* Python's closed / readable / writable properties.  NULL: closed, not
 * readable, not writable. */
MP_API bool mp_conn_closed(const mp_conn_t *c);
MP_API bool mp_conn_readable(const mp_conn_t *c);
MP_API bool mp_conn_writable(const mp_conn_t *c);

/*
 * mp_conn_set_spin - the longest a receive may spin on non-blocking reads
 * before it sleeps in the kernel.  Within that bound the spin adapts (see
 * lib/connection.c): it starts off, comes on after a few sleeps in a row
 * that each cost a slow wake-up (10 to 200 us), grows while it finds data,
 * shrinks when it does not, and stops at once when the spinning thread is
 * preempted (the CPUs are busy: spinning would only slow the peer down).
 * An idle connection, or one on a busy machine, does not spin.  0
 * disables it; with one CPU there is no spinning whatever this says.
 * Default: MP_CONN_SPIN_DEFAULT.  Returns 0, or -EINVAL (c NULL, ns < 0 or
 * above one second).
 */
MP_API int mp_conn_set_spin(mp_conn_t *c, int64_t ns);

/*
 * mp_conn_set_readahead - let receives read ahead, into a buffer of size
 * bytes; 0 stops it (the default).
 *
 * A read smaller than the buffer then asks the kernel for a whole buffer,
 * and what comes beyond the message being received waits there for the
 * next receive: a small message is one read, header and payload together,
 * instead of two, and a burst of them fewer still.  Reads of the buffer's
 * size or more (large payloads) still go straight into the caller's
 * memory.  MP_CONN_READAHEAD_DEFAULT suits most uses.  Everything else -
 * framing, timeouts, spinning, the errors - is as without it.
 *
 * Only for a connection with a single reader: bytes read ahead leave the
 * stream, so another process reading the same descriptor would never see
 * them and would lose the framing.  Use it on an end that one process
 * receives on, not on a pipe that several workers share.  mp_conn_poll(),
 * mp_wait() and mp_waitset_wait() report the connection readable while
 * bytes are buffered, without sleeping in the kernel; a poll, epoll or
 * event loop of your own must check mp_conn_buffered() first.
 *
 * Returns 0, or -EINVAL (c NULL, size above MP_CONN_READAHEAD_MAX),
 * -MP_ECLOSED, -EBADF (not readable), -EBUSY (bytes are buffered: they
 * would be lost or reordered; receive them first), -ENOMEM.
 */
MP_API int mp_conn_set_readahead(mp_conn_t *c, size_t size);

/*
 * mp_conn_buffered - how many bytes have been read ahead from the
 * descriptor and not yet received, as SSL_pending() is to OpenSSL: 0
 * unless read-ahead is on, or a handshake took bytes a peer sent ahead
 * (see the top of this file).  Above 0, the next receive starts without
 * waiting, and a whole message there needs no system call at all.
 * Returns the count, or -EINVAL (NULL), -MP_ECLOSED, -EBADF (not
 * readable).
 */
MP_API int mp_conn_buffered(const mp_conn_t *c);

/* ---- descriptors --------------------------------------------------------- */

/*
 * mp_conn_send_fd - send a descriptor (Python's
 * multiprocessing.reduction.send_handle(conn, fd, pid) on Linux): the
 * receiving process gets a new descriptor for the same open file
 * description (file offset and status flags shared), as dup(2) would give.
 * The caller's fd stays open and its own.
 *
 * On the wire, exactly what CPython sends: one byte (the count, 1) with
 * one SCM_RIGHTS control message.  It is not a framed message: the peer
 * must call mp_conn_recv_fd (or Python's recv_handle) at that point of the
 * stream, as in Python.  Messages and descriptors sent on one connection
 * arrive in the order they were sent.
 *
 * c must be an AF_UNIX socket: a duplex mp_pipe(), an AF_UNIX listener's
 * or client's connection, or an adopted AF_UNIX socket.  The byte cannot
 * be half sent, so an error or timeout leaves the connection as it was.
 *
 * Returns 0, or:
 *   -EINVAL       c is NULL, or a negative timeout other than MP_FOREVER
 *   -MP_ECLOSED   the connection is closed
 *   -EBADF        the connection is not writable, or fd is not an open
 *                 descriptor
 *   -ENOTSOCK     the connection is not an AF_UNIX socket (a pipe end or
 *                 a TCP connection): it cannot carry descriptors
 *   -EPIPE, -ECONNRESET  the peer is gone (no SIGPIPE is raised)
 *   -EAGAIN       timeout 0 and the socket's buffer is full
 *   -ETIMEDOUT    the timeout passed
 *   -EINTR        a signal handler ran in an interruptible thread
 *   -ETOOMANYREFS too many descriptors in flight (the kernel's limit)
 *   other -errno from the kernel.
 */
MP_API int mp_conn_send_fd(mp_conn_t *c, int fd, int64_t timeout_ns);

/*
 * mp_conn_recv_fd - receive a descriptor sent by mp_conn_send_fd or by
 * Python's reduction.send_handle (Python's recv_handle(conn)).
 *
 * Returns the new descriptor (>= 0, close-on-exec: MSG_CMSG_CLOEXEC, so no
 * window in which an exec could inherit it; the caller closes it), or:
 *   -EINVAL       c is NULL, or a negative timeout other than MP_FOREVER
 *   -MP_ECLOSED   the connection is closed
 *   -EBADF        the connection is not readable
 *   -ENOTSOCK     the connection is not an AF_UNIX socket
 *   -EBUSY        read-ahead is on (mp_conn_set_readahead), or bytes are
 *                 buffered (mp_conn_buffered): see Notes
 *   -MP_EEOF      end of file: the peer closed
 *   -EAGAIN       timeout 0 and nothing had come
 *   -ETIMEDOUT    the timeout passed
 *   -EINTR        a signal handler ran in an interruptible thread
 *   -EBADMSG      a byte came, but not with exactly one descriptor (none,
 *                 or several: Python's "Invalid data received").  Every
 *                 descriptor that came with it is closed.  If it was a
 *                 message of several descriptors in Python's format, the
 *                 connection goes on; if no descriptor came with the
 *                 byte, or not as many as it counts, it was part of
 *                 something else (a message's header): the stream has
 *                 lost its framing, and the connection stops being
 *                 readable (a read-only one is closed), as after a
 *                 malformed length header.
 *   -EMFILE       a descriptor came but the kernel could not install it
 *                 in this process (RLIMIT_NOFILE reached, or a security
 *                 module refused it); it is dropped, the connection goes
 *                 on
 *   -ECONNRESET, other -errno from the kernel.
 * Errors other than -EBADMSG and -EMFILE consume nothing.
 *
 * Notes: a connection that reads ahead is refused, whether or not bytes
 * are buffered: a read-ahead receive of an earlier message may have read
 * the descriptor's byte into its buffer, and then the kernel has already
 * dropped the descriptor (a read without room for control data closes
 * what it carried).  Whether it did would depend on timing; so on a
 * connection that carries descriptors, leave read-ahead off (or turn it
 * off: mp_conn_set_readahead(c, 0), which says -EBUSY while bytes are
 * buffered).  Python's connections never read ahead.  Descriptors always
 * travel by plain system calls (sendmsg and recvmsg), never on the
 * thread's io_uring ring.
 */
MP_API int mp_conn_recv_fd(mp_conn_t *c, int64_t timeout_ns);

/* ---- addresses --------------------------------------------------------- */

/* Longest host name or socket path, with its NUL. */
#define MP_ADDRESS_MAX 256

/*
 * An address for a listener or client.  family is AF_INET, AF_INET6 or
 * AF_UNIX.  Internet: name is the host (a name or a numeric address; empty
 * for all interfaces) and port the port (0: the kernel picks one).
 * AF_UNIX: name[0 .. len) is the path, or, for a Linux abstract name, a NUL
 * followed by the name (as Python writes it: '\0name').  Made by the
 * mp_address_* functions below; a plain struct, copy it freely.
 */
typedef struct mp_address {
	int family;
	uint16_t port;
	uint16_t len;  /* AF_UNIX: bytes of name used (no terminating NUL) */
	char name[MP_ADDRESS_MAX];
} mp_address_t;

/*
 * mp_address_inet - host and port (Python's tuple address).  family 0
 * deduces it: AF_INET6 when host is a numeric IPv6 address (it contains a
 * ':'), else AF_INET, whose names are resolved to IPv4 as Python's AF_INET
 * sockets do.  host NULL or "" means every interface (for a listener).
 * Returns 0, -EINVAL (NULL a, family not 0/AF_INET/AF_INET6),
 * -ENAMETOOLONG.
 */
MP_API int mp_address_inet(mp_address_t *a, int family, const char *host,
                           uint16_t port);
/* mp_address_unix - a filesystem AF_UNIX path (at most 107 bytes).
 * Returns 0, -EINVAL (NULL, empty), -ENAMETOOLONG. */
MP_API int mp_address_unix(mp_address_t *a, const char *path);
/* mp_address_abstract - a Linux abstract AF_UNIX name of len bytes (at
 * most 107; any bytes).  Returns 0, -EINVAL, -ENAMETOOLONG. */
MP_API int mp_address_abstract(mp_address_t *a, const void *name,
                               size_t len);
/*
 * mp_address_parse - an address from text, the family deduced as Python
 * deduces it from the address's type: "host:port" and "[v6addr]:port" are
 * Internet addresses (Python's tuples); "@name" is an abstract name (the
 * C spelling of Python's leading NUL); anything else is a socket path
 * (Python's str).  Returns 0, -EINVAL (NULL, empty, a bad port),
 * -ENAMETOOLONG.
 */
MP_API int mp_address_parse(mp_address_t *a, const char *text);
/*
 * mp_address_format - the address as text, in mp_address_parse's syntax
 * (bytes of an abstract name outside printable ASCII as \xHH).  An unnamed
 * AF_UNIX peer (what accept reports for a client) is "".  Like snprintf:
 * returns the full length, writes at most size bytes with the NUL;
 * -EINVAL for NULL a or an unknown family.
 */
MP_API int mp_address_format(const mp_address_t *a, char *buf, size_t size);

/* ---- listeners and clients -------------------------------------------- */

/* The HMAC digest of the challenge a side delivers. */
enum mp_digest {
	MP_DIGEST_SHA256 = 0,  /* Python >= 3.12's default: "{sha256}" + 40 */
	MP_DIGEST_LEGACY,      /* Python <= 3.11: 20 random bytes, HMAC-MD5,
	                          no prefix */
	MP_DIGEST_MD5,         /* "{md5}" + 40 */
	MP_DIGEST_SHA384,
	MP_DIGEST_SHA3_256,
	MP_DIGEST_SHA3_384,
	MP_DIGEST_COUNT
};

/* Default time a listener gives one connection to authenticate: CPython's
 * CONNECTION_TIMEOUT. */
#define MP_HANDSHAKE_TIMEOUT MP_SEC(20)
/* Handshakes a listener runs at once (see mp_listener_accept): at most
 * this many descriptors, and ~600 bytes each, while a flood lasts. */
#define MP_LISTENER_PENDING_MAX 256

/* Options of a listener or a client; NULL, or all zero, means Python's
 * defaults: no authentication, backlog 1. */
typedef struct mp_conn_opts {
	const void *authkey;   /* NULL: no authentication.  Otherwise the
	                          mutual challenge-response runs, even for an
	                          empty key (as Python 3.13 does). */
	size_t authkey_len;
	int digest;            /* enum mp_digest: the challenge this side
	                          delivers; any answer Python accepts is
	                          accepted whatever this is */
	int backlog;           /* listener: listen(2) backlog; 0 means 1 */
	int64_t handshake_timeout; /* listener: per connection; 0 means
	                              MP_HANDSHAKE_TIMEOUT, MP_FOREVER none */
} mp_conn_opts_t;

/*
 * mp_listener_open - bind and listen (Python's Listener(address, family,
 * backlog, authkey)).
 *
 * address NULL: a fresh AF_UNIX path in $TMPDIR (or /tmp), as Python's
 * default family on Linux.  AF_UNIX socket files are created owner-only
 * (mode 0600, set on the socket before bind, so there is no window) and
 * removed by mp_listener_close() in the opening process.  Internet
 * listeners set SO_REUSEADDR, as Python does.  Host names are resolved
 * with getaddrinfo(3) (numeric addresses never touch it).
 *
 * Returns the listener, or NULL with *err = -EINVAL (bad options or
 * address), -EADDRINUSE, -EACCES, -ENXIO (a host name that does not
 * resolve), -ENOMEM, other -errno.
 */
MP_API mp_listener_t *mp_listener_open(const mp_address_t *address,
                                       const mp_conn_opts_t *opts, int *err);

/*
 * mp_listener_accept - the next connection, authenticated when the
 * listener has an authkey (the listener delivers a challenge, then answers
 * the client's).
 *
 * Handshakes run concurrently, so connections that never speak cannot hold
 * up others: up to MP_LISTENER_PENDING_MAX at once, each dropped when it
 * has not finished within handshake_timeout (its client sees end of file).
 * Under a flood: when every slot is taken and another connection waits,
 * a handshake whose client has not answered our challenge gives way (its
 * client sees end of file): one whose client spoke before it was
 * challenged (no client running the protocol does) at once, else the one
 * that has waited longest, once it has had 10 ms to answer.  A newcomer
 * that speaks before it is challenged displaces nobody: it is closed at
 * once.  A client that has answered holds the key and keeps its slot.
 * So connections without the key cost at most MP_LISTENER_PENDING_MAX
 * descriptors and only delay a client with the key: those that speak
 * early by the time it takes to accept and close them (the test suite
 * checks that a client is served within 100 ms while 1000 are kept
 * open), those that wait for their challenge by ~10 ms per
 * MP_LISTENER_PENDING_MAX of them queued ahead, as long as it answers
 * within 10 ms.
 * When every slot holds a client with the key, new connections wait in
 * the backlog.  Size the backlog (opts.backlog) for the bursts you
 * expect: a TCP client that finds it full waits a second for its SYN to
 * be sent again.  Handshakes still pending when the timeout ends carry on
 * at the next call.
 *
 * Returns the connection (its peer is in mp_listener_last_accepted), or
 * NULL with *err = -EINVAL, -MP_EAUTH (a handshake failed: wrong key, or a
 * malformed, oversized or unexpected message; that connection is closed,
 * and the next call goes on with the others, as a Python server catching
 * AuthenticationError does), -EAGAIN (timeout 0, nothing ready),
 * -ETIMEDOUT, -EMFILE, -ENOMEM, other -errno.
 */
MP_API mp_conn_t *mp_listener_accept(mp_listener_t *l, int64_t timeout_ns,
                                     int *err);

/* The bound address (for port 0, the port picked), or NULL for NULL l. */
MP_API const mp_address_t *mp_listener_address(const mp_listener_t *l);
/* The peer of the last connection accepted, or NULL before the first. */
MP_API const mp_address_t *mp_listener_last_accepted(const mp_listener_t *l);
/* The listening socket's descriptor, or -EINVAL. */
MP_API int mp_listener_fileno(const mp_listener_t *l);
/*
 * mp_listener_close - close the socket and any handshakes in progress,
 * remove the socket file (filesystem AF_UNIX, and only in the process that
 * opened the listener: a forked child closing its copy leaves it), free the
 * listener.  NULL is accepted.  Returns 0 or the first error met.
 */
MP_API int mp_listener_close(mp_listener_t *l);

/*
 * mp_client - connect to a listener (Python's Client(address, family,
 * authkey)); with an authkey, answer the listener's challenge, then
 * deliver one.  Over TCP in CPython's order: our challenge goes out after
 * the listener's "#WELCOME#".  Over AF_UNIX it goes in the same write as
 * our answer, a round trip fewer; a listener reads one message at a time,
 * so to CPython's (3.11-3.13) it is the same exchange.  timeout bounds the
 * connect and the handshake together.
 *
 * Returns the connection, or NULL with *err = -EINVAL, -ECONNREFUSED,
 * -ENOENT (no such socket path), -ENXIO (a host name that does not
 * resolve), -MP_EAUTH (wrong key, or the listener broke the protocol),
 * -MP_EEOF (the listener closed the connection during the handshake),
 * -EAGAIN, -ETIMEDOUT, -ENOMEM, other -errno.
 */
MP_API mp_conn_t *mp_client(const mp_address_t *address,
                            const mp_conn_opts_t *opts, int64_t timeout_ns,
                            int *err);

/* ---- authentication --------------------------------------------------- */

/*
 * mp_deliver_challenge - send a challenge over c, check the answer with
 * authkey, and tell the peer (b"#WELCOME#" or b"#FAILURE#"), exactly as
 * Python's deliver_challenge(connection, authkey, digest_name).  digest is
 * an enum mp_digest.  The challenge is random (getrandom), the MAC is HMAC
 * (OpenSSL), compared in constant time; no handshake message over 256
 * bytes is read.  timeout bounds the whole exchange.  The connection stays
 * open whatever happens.
 *
 * Returns 0, -MP_EAUTH (wrong answer or a protocol error), -EINVAL (NULL
 * c, NULL key with keylen > 0, keylen > INT_MAX, bad digest), and the
 * errors of sending and receiving (-MP_EEOF, -ETIMEDOUT, ...).
 */
MP_API int mp_deliver_challenge(mp_conn_t *c, const void *authkey,
                                size_t keylen, int digest,
                                int64_t timeout_ns);

/*
 * mp_answer_challenge - answer a challenge from c and wait for the
 * verdict, as Python's answer_challenge(connection, authkey): a 20-byte
 * challenge (Python <= 3.11) gets a bare HMAC-MD5, a "{digest}"-prefixed
 * one gets "{digest}" + HMAC-digest of the whole challenge.  Same returns
 * as mp_deliver_challenge (-MP_EAUTH when the peer says #FAILURE# or sends
 * something that is not a challenge).
 */
MP_API int mp_answer_challenge(mp_conn_t *c, const void *authkey,
                               size_t keylen, int64_t timeout_ns);

#ifdef __cplusplus
}
#endif

#endif
