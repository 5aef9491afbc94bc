/*
 * internal.h - what the lib/ areas share with each other.  Not installed.
 * Internal functions that are not static are named mp__*.
 */
#ifndef MPROC_LIB_INTERNAL_H
#define MPROC_LIB_INTERNAL_H

#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "mproc.h"
#include "mpsys.h"

#define MP__ALIGN_UP(x, a) (((x) + ((a) - 1)) & ~((__typeof__(x))(a) - 1))
#define MP__CACHELINE 64

/* ---- deadlines (time.c) ------------------------------------------------- */

/* "No deadline": the value of an MP_FOREVER timeout. */
#define MP__NO_DEADLINE INT64_MAX

/*
 * Turn a relative timeout (MP_FOREVER, 0 = try once, > 0 ns) into an
 * absolute CLOCK_MONOTONIC deadline in ns.  -EINVAL for other negatives.
 */
int mp__deadline(int64_t timeout_ns, int64_t *deadline);
/* The deadline as a timespec for the kernel, or NULL when there is none. */
const struct timespec *mp__deadline_ts(int64_t deadline, struct timespec *ts);

/* ---- fork handling (fork.c) ---------------------------------------------- */

/*
 * Register mproc's pthread_atfork handlers (once per process): before a fork
 * the shared heap is made if it does not exist yet, so the child shares it;
 * in the child, the list of children is reset.  (sys/uring.c keeps its rings
 * right across fork with a handler of its own.)
 */
void mp__atfork_register(void);
int mp__listener_close_fd(mp_listener_t *l);

/* ---- shared heap (heap.c) ------------------------------------------------ */

/* Make the heap if it does not exist (default size).  0 or -errno. */
int mp__heap_ensure(void);
/* As mp_heap_alloc, without zeroing: for blocks about to be overwritten. */
void *mp__heap_alloc_raw(size_t size, int *err);

/* ---- segments (shm.c) ------------------------------------------------------ */

/* Was the segment attached MP_SHM_RDONLY?  (ShareableList refuses sets.) */
bool mp__shm_rdonly(const mp_shm_t *s);
/* mp_shm_create in two steps: a segment nobody can open yet (its name
 * empty when it is to be random), then its name.  After a failed publish
 * the segment has no name (mp_shm_close it); as mp_shm_create's errors. */
mp_shm_t *mp__shm_create_hidden(const char *name, size_t size,
                                unsigned flags, int *err);
int mp__shm_publish(mp_shm_t *s);
/* Close a segment from mp__shm_create_hidden that will not be published
 * (or whose publishing failed), leaving no name behind. */
void mp__shm_abandon(mp_shm_t *s);

/* ---- processes (process.c) ----------------------------------------------- */

/* In a forked child: forget the parent's children (atfork child handler). */
void mp__process_after_fork(void);
/* Before mp_process_start of a daemon: no death signal (which the kernel
 * ties to the thread that forks); its target ties it to the parent by
 * other means (the pool's first worker: mp_sys_lifeline_hold). */
void mp__process_own_tie(mp_process_t *p);
/* Fork handlers (atfork) for the pools' lifelines: the list stays still
 * across the fork, and the child closes their write ends. */
void mp__pool_before_fork(void);
void mp__pool_after_fork_parent(void);
void mp__pool_after_fork(void);
/* This process has begun its normal exit: start no new processes. */
bool mp__process_exiting(void);

/* ---- start methods (forkserver.c) ---------------------------------------- */

enum { MP__FORK = 0, MP__FORKSERVER = 1 };

/* The method of ctx, or of the default context when ctx is NULL. */
int mp__context_method(const mp_context_t *ctx);

/* A process to start through the server, and (in the server's child) the
 * process being started. */
struct mp__spawn {
	mp_target_t target;
	void *arg;            /* what target gets */
	const void *bytes;    /* the argument bytes (has_bytes), copied over */
	size_t len;
	bool has_bytes;
	const int *fds;       /* passed, to be open at the same numbers */
	unsigned nfds;
	bool daemon, own_tie;
	const char *name, *ident;
	const char *parent_name, *parent_ident;
	bool parent_daemon;
	pid_t parent;
};

/* The most argument bytes and descriptors a forkserver start carries. */
#define MP__SPAWN_ARGS_MAX 65536
#define MP__SPAWN_FDS_MAX MP_SYS_FDS_MAX

/* Parent side: start s's process through the server (starting the server
 * if needed).  Its pid with *pidfd set, or -errno (-MP_ETARGET,
 * -MP_ESERVER, ...). */
pid_t mp__forkserver_spawn(const struct mp__spawn *s, int *pidfd);
/* The pool worker's body (pool_worker.c), registered by the library. */
int mp__pool_worker_main(void *cfg);
/* In the server's new child: become s's process, run it, exit. */
_Noreturn void mp__process_spawned(const struct mp__spawn *s);

/* ---- wire format (frame.c) ----------------------------------------------- */

/*
 * CPython's framing: a 4-byte big-endian signed length, or -1 and an 8-byte
 * big-endian length for messages of 2 GiB and more.  Pure functions over
 * bytes: the fuzz harness and the crafted-input tests call them directly.
 */
#define MP__FRAME_HDR_SHORT 4
#define MP__FRAME_HDR_MAX 12
/* Python sends the long form from this length on. */
#define MP__FRAME_LONG_MIN ((uint64_t)0x80000000u)

/* Write the header for a message of len bytes; returns its size, 4 or 12. */
size_t mp__frame_encode(uint64_t len, uint8_t hdr[MP__FRAME_HDR_MAX]);
/* Append message m (n bytes), framed, to out at *at, advancing *at (out
 * has room for the header and the message). */
void mp__frame_put(uint8_t *out, size_t *at, const void *m, size_t n);
/*
 * Decode the header at p, of which avail bytes are there.  Returns its size
 * (4 or 12) with *len set; 0 when more bytes are needed (fewer than 4, or
 * the -1 marker and fewer than 12); -EBADMSG for a negative length other
 * than -1, or a long length of 2^63 or more.
 */
int mp__frame_decode(const uint8_t *p, size_t avail, uint64_t *len);

/* Handshake messages are read with Python's cap: recv_bytes(256). */
#define MP__AUTH_MSG_MAX 256

/*
 * A small frame gathered from a non-blocking stream a few bytes at a time.
 * Never reading past its end: read exactly mp__frame_rx_need() bytes into
 * mp__frame_rx_space(), then report them with mp__frame_rx_feed().  Or in
 * as few reads as can be: read up to mp__frame_rx_room() bytes and report
 * them with mp__frame_rx_add(); what came past the frame is the start of
 * the next one (mp__frame_rx_next()), or, after the last, the stream's
 * (mp__frame_rx_rest()).  The buffer always has room for a whole frame.
 */
struct mp__frame_rx {
	size_t got;   /* bytes in buf */
	size_t hdr;   /* header size, once known; 0 before */
	uint64_t len; /* payload length, once hdr is known */
	uint8_t buf[MP__FRAME_HDR_MAX + MP__AUTH_MSG_MAX];
};
void mp__frame_rx_init(struct mp__frame_rx *f);
size_t mp__frame_rx_need(const struct mp__frame_rx *f);
uint8_t *mp__frame_rx_space(struct mp__frame_rx *f);
/* n more bytes arrived.  1: the frame is complete; 0: need more;
 * -EMSGSIZE: longer than cap (<= MP__AUTH_MSG_MAX); -EBADMSG: bad header;
 * -EINVAL: n exceeds what was asked for. */
int mp__frame_rx_feed(struct mp__frame_rx *f, size_t n, size_t cap);
/* How many more bytes buf can take. */
size_t mp__frame_rx_room(const struct mp__frame_rx *f);
/* As feed, for n up to the room (0: look again at what is there, after
 * mp__frame_rx_next()); 1 when a whole frame is at the front. */
int mp__frame_rx_add(struct mp__frame_rx *f, size_t n, size_t cap);
/* Drop the whole frame at the front, keeping what came after it. */
void mp__frame_rx_next(struct mp__frame_rx *f);
/* What came after the whole frame at the front. */
const uint8_t *mp__frame_rx_rest(const struct mp__frame_rx *f, size_t *len);
/* The complete frame's payload. */
const uint8_t *mp__frame_rx_payload(const struct mp__frame_rx *f,
                                    size_t *len);

/* ---- authentication messages (auth.c) ------------------------------------ */

#define MP__CHALLENGE "#CHALLENGE#"
#define MP__WELCOME "#WELCOME#"
#define MP__FAILURE "#FAILURE#"
#define MP__CHALLENGE_LEN 11
/* "#WELCOME#" and "#FAILURE#" alike. */
#define MP__AUTH_VERDICT_LEN 9
/* Python >= 3.12 sends this many random bytes, <= 3.11 (legacy) 20. */
#define MP__AUTH_RANDOM 40
#define MP__AUTH_LEGACY_RANDOM 20
/* "#CHALLENGE#" + "{sha3_384}" + 40 random bytes, the longest we send. */
#define MP__AUTH_CHALLENGE_MAX 64
/* "{sha3_384}" + a 48-byte MAC, the longest answer we make. */
#define MP__AUTH_RESPONSE_MAX 64

/*
 * Build a challenge frame payload ("#CHALLENGE#" + message) for digest
 * (enum mp_digest) into out (MP__AUTH_CHALLENGE_MAX bytes).  Returns its
 * length; the message the answer must MAC is out + MP__CHALLENGE_LEN.
 * -EINVAL (bad digest), or getrandom's error.
 */
int mp__auth_challenge(int digest, uint8_t *out);
/*
 * Answer a received challenge payload: check it is "#CHALLENGE#" + at
 * least 20 bytes, pick the digest as Python >= 3.12 does (exactly 20
 * bytes: legacy bare HMAC-MD5; else a "{name}" prefix naming an allowed
 * digest), and write the response into out (MP__AUTH_RESPONSE_MAX).
 * Returns its length, or -MP_EAUTH.
 */
int mp__auth_respond(const void *key, size_t keylen, const uint8_t *msg,
                     size_t len, uint8_t *out);
/*
 * Check resp against the message we sent (without "#CHALLENGE#"), as
 * Python >= 3.12 does: 16 or 20 bytes is a bare HMAC-MD5, anything else
 * must be "{name}" + the MAC with that digest.  Constant-time comparison.
 * Returns 0 or -MP_EAUTH.
 */
int mp__auth_verify(const void *key, size_t keylen, const uint8_t *msg,
                    size_t mlen, const uint8_t *resp, size_t rlen);
/* Is p[0..len) exactly "#WELCOME#"? */
bool mp__auth_is_welcome(const uint8_t *p, size_t len);
/*
 * A client's side of the handshake: answer the listener's challenge, then
 * deliver ours.  In CPython's order it waits for "#WELCOME#" before it
 * delivers; with ahead, its challenge goes in the same write as its
 * answer, a round trip fewer.  Either order is the same bytes to the
 * listener, which reads one message at a time, but ahead makes a CPython
 * listener write "#WELCOME#" and its answer back to back: over TCP,
 * without TCP_NODELAY, the second waits ~40 ms for our delayed ACK.  So
 * ahead is for AF_UNIX only.
 */
int mp__auth_client(mp_conn_t *c, const void *key, size_t keylen,
                    int digest, bool ahead, int64_t deadline);

/* ---- addresses (address.c) ----------------------------------------------- */

/* The socket address of a (resolving host names).  0, -EINVAL, -ENXIO... */
int mp__address_to_sockaddr(const mp_address_t *a, struct sockaddr_storage *ss,
                            socklen_t *len);
/* An address from what accept(2) or getsockname(2) reported. */
void mp__address_from_sockaddr(const struct sockaddr_storage *ss,
                               socklen_t len, mp_address_t *a);

/* ---- connections (connection.c) ------------------------------------------ */

/* Which I/O path a connection takes (tests and mpbench pin one). */
enum {
	MP__IO_AUTO,    /* what measured fastest: today, MP__IO_SYSCALL */
	MP__IO_SYSCALL, /* plain system calls (and poll for deadlines) */
	MP__IO_RING,    /* every read and write on the thread's ring */
};
int mp__conn_set_path(mp_conn_t *c, int path);
/* Start spinning now, at the full budget, as if it had paid (tests). */
void mp__conn_spin_now(mp_conn_t *c);
/* Send one message, or receive one of at most cap (<= MP__AUTH_MSG_MAX)
 * bytes into buf (returns its length), by an absolute deadline
 * (MP__NO_DEADLINE: none).  For the handshakes, whose every message
 * answers one just sent, so it is not there yet: spin for it within *spin
 * (spin.c's estimate, which the caller keeps for waits of one kind) on
 * reads of header and payload at once, then poll before reading instead
 * of after a failed read.  A read may take up to 4 + cap bytes: what
 * comes past the message is stashed for the next receive, so where the
 * peer may go on at once (after "#WELCOME#"), cap should be the exact
 * length expected. */
int mp__conn_send(mp_conn_t *c, const void *buf, size_t len,
                  int64_t deadline);
/* Send len bytes that are already one or more framed messages. */
int mp__conn_send_framed(mp_conn_t *c, const void *buf, size_t len,
                         int64_t deadline);
/* A duplex connection on a stream socket we made (no fstat). */
mp_conn_t *mp__conn_socket(int fd, int *err);
/* Keep n bytes read past a message for c's next receive (nothing may be
 * buffered yet).  0 or -ENOMEM. */
int mp__conn_stash(mp_conn_t *c, const void *p, size_t n);
int64_t mp__conn_recv_small(mp_conn_t *c, void *buf, size_t cap,
                            int64_t deadline, _Atomic uint32_t *spin);

/* ---- adaptive spinning (spin.c) ------------------------------------------ */

/*
 * How long (ns) a waiter may spin before sleeping on an object whose spin
 * estimate is *est: 0 when spinning is off (one CPU, or MPROC_SPIN_NS=0),
 * otherwise about twice what spinning recently needed, capped by
 * MPROC_SPIN_NS (default 4000 ns) - except for an occasional probe, which
 * may spin 5 times the cap (see spin.c).
 */
int64_t mp__spin_budget(_Atomic uint32_t *est);
/*
 * The same with the cap (and the probes) `scale` times longer: for waits
 * that span a whole round trip through another process, not one hand-off
 * (a pool's worker waiting for its next task, a caller for its result).
 */
int64_t mp__spin_budget_x(_Atomic uint32_t *est, int scale);
/* How much longer a round trip's wait may spin (see mp__spin_budget_x). */
#define MP__ROUND_TRIP_SPIN 4
/*
 * Feed back a spin: `spent` ns, and whether the awaited state came (won) or
 * the waiter went to sleep anyway.  Losing shrinks the estimate, so an
 * object whose waiters keep losing (an oversubscribed machine, long critical
 * sections) soon stops spinning.
 */
void mp__spin_result(_Atomic uint32_t *est, int64_t spent, bool won);

static inline void mp__cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
	__builtin_ia32_pause();
#elif defined(__aarch64__)
	__asm__ __volatile__("yield");
#endif
}

/*
 * Spin until cond (an expression re-read every round) holds or the object's
 * budget runs out; evaluates to whether it holds.  A round is `pauses`
 * pauses (about 20 ns each here) then one look at cond; the clock is read
 * every 8 rounds only.  _X: with the budget of mp__spin_budget_x(scale).
 */
#define MP__SPIN_UNTIL_EVERY(est, pauses, cond)                            \
	MP__SPIN_UNTIL_X(est, 1, pauses, cond)
#define MP__SPIN_UNTIL_X(est, scale, pauses, cond) __extension__           \
	({                                                                   \
		bool ok_ = (cond);                                           \
		int64_t budget_ = ok_ ? 0 : mp__spin_budget_x(est, scale);   \
		if (budget_ > 0) {                                           \
			int64_t t0_ = mp_sys_now_ns(), spent_ = 0;           \
			for (unsigned i_ = 1; !(ok_ = (cond)); i_++) {       \
				for (unsigned k_ = 0; k_ < (pauses); k_++)   \
					mp__cpu_relax();                     \
				if (i_ % 8 == 0 &&                           \
				    (spent_ = mp_sys_now_ns() - t0_) > budget_) \
					break;                               \
			}                                                    \
			mp__spin_result(est, ok_ ? mp_sys_now_ns() - t0_     \
			                         : spent_, ok_);             \
		}                                                            \
		ok_;                                                         \
	})

/* Look at cond after every pause: for words that only the party we wait
 * for writes (a flag, a sequence number, a count). */
#define MP__SPIN_UNTIL(est, cond) MP__SPIN_UNTIL_EVERY(est, 1, cond)

/* ---- validation ------------------------------------------------------------ */

/* An object pointer mproc can use: non-NULL and 8-byte aligned. */
static inline bool mp__aligned(const void *p)
{
	return p && ((uintptr_t)p & 7) == 0;
}

/* ---- process-private arrays ------------------------------------------------ */

/* Make room for one more element in a malloc'd array of *cap elements of
 * elem bytes, full: double it (first elements when it has none).  0, or
 * -ENOMEM with *arr and *cap unchanged. */
static inline int mp__grow(void *arr, size_t *cap, size_t elem, size_t first)
{
	size_t n = *cap ? *cap * 2 : first;
	void *p = realloc(*(void **)arr, n * elem);
	if (!p)
		return -ENOMEM;
	*(void **)arr = p;
	*cap = n;
	return 0;
}

/* ---- readiness hooks for mp_wait (in each object's file) -------------------- */

/*
 * How to sleep until an object may have become ready: while *word == value.
 * While asleep, mp_wait counts itself in *sleepers (when not NULL), which
 * makes the object's wakers wake everybody, watchers included.
 */
struct mp__watch {
	_Atomic uint32_t *word;
	uint32_t value;
	_Atomic uint32_t *sleepers;
};

/*
 * Each: 1 when the object is ready now, 0 when not (w filled, its value
 * read before the check so a change cannot be missed), -EINVAL for a bad
 * object.
 */
int mp__queue_watch(mp_queue_t *q, struct mp__watch *w);
int mp__event_watch(mp_event_t *e, struct mp__watch *w);
int mp__sem_watch(mp_sem_t *s, struct mp__watch *w);
int mp__barrier_watch(mp_barrier_t *b, uint32_t since, struct mp__watch *w);
/* An mp_wait kind for mproc's own use: ready when *(uint32_t *)obj !=
 * since; whoever changes the word must futex-wake it. */
#define MP__WAIT_WORD 0x1000
/* The barrier's current generation (for mp_wait_barrier). */
int mp__barrier_gen(mp_barrier_t *b, uint32_t *gen);

/* ---- threads (lock.c) ------------------------------------------------------ */

/* The calling thread's identity as lock words carry it (lock.h: tid |
 * ident << 32), cached (reset in a fork child): the first call in a
 * thread makes system calls a sandbox forbids.  And its tid alone. */
uint64_t mp__self(void);
pid_t mp__tid(void);

/* ---- queue internals for the pool (queue.c) -------------------------------- */

/* A handshake's wait (listener.c, auth.c) spans the peer's HMAC and two
 * system calls on each side, or, for a client's first, the listener's
 * wake-up from accept (tens of us on a VM): it may spin this many times
 * longer (a cap of 64 us by default). */
#define MP__HANDSHAKE_SPIN 16

/* Its waits span round trips (a pool's task queue: a worker waits for its
 * next task while its result goes out and the caller answers): they may
 * spin MP__ROUND_TRIP_SPIN times longer. */
void mp__queue_round_trip(mp_queue_t *q);
/* Thread `tid` is dead and not yet reaped (so no other thread can have
 * its tid): free whichever of q's locks it held. */
void mp__queue_holder_died(mp_queue_t *q, pid_t tid);
/*
 * A get that takes the message whatever its size: into buf when it fits
 * in cap bytes (*big NULL), else into a malloc'd *big (free it).  One
 * lock hold, so no other consumer can take it between a look at its size
 * and the copy (mp_queue_get_obj's small messages need no allocation).
 * Errors as mp_queue_get_alloc; -EINVAL for a NULL buf or big.
 */
int mp__queue_get_buf(mp_queue_t *q, void *buf, size_t cap, void **big,
                      size_t *len, int64_t timeout_ns);
/*
 * Receipts: a get or put that leaves, in shared memory, the proof of
 * whether it took (sent) its message - for a process that may die at any
 * instruction of it, or just after (a pool's worker: its task must run
 * exactly once, and its result be counted exactly once).  The receipt
 * must be mapped at the same address in every process using q (the
 * shared heap, or a shared mapping made before the fork): q finds it by
 * its offset.  States: NONE until a get (put) begins (the owner resets it
 * when it has recorded the outcome), PENDING inside one, then TAKEN (the
 * message was taken, or sent) or LEFT (it was not).
 */
enum { MP__RECEIPT_NONE, MP__RECEIPT_PENDING, MP__RECEIPT_TAKEN,
       MP__RECEIPT_LEFT };
struct mp__receipt {
	_Atomic uint64_t claim;     /* the side's pos the commit makes */
	_Atomic uint32_t verdict;
	uint32_t put;               /* 1: a put's receipt, 0: a get's */
};
/* mp_queue_get, writing *rc as it takes (buf and rc required). */
int mp__queue_get_receipt(mp_queue_t *q, void *buf, size_t cap, size_t *len,
                          int64_t timeout_ns, struct mp__receipt *rc);
/* mp_queue_put, writing *rc as it sends (rc required). */
int mp__queue_put_receipt(mp_queue_t *q, const void *msg, size_t len,
                          int64_t timeout_ns, struct mp__receipt *rc);
/*
 * The verdict on the last get or put of a process that is dead (proven:
 * its pidfd said so): MP__RECEIPT_NONE (none begun), _TAKEN (it committed)
 * or _LEFT (it did not: the message is still queued, or was never sent).
 * One it died inside is judged here, taking the lock over if nobody has;
 * a live process inside its own judgement is waited for.  -EINVAL.
 */
int mp__queue_receipt_verdict(mp_queue_t *q, struct mp__receipt *rc);
/* The tid holding q's producers' (or consumers') lock, 0 when free: a
 * look without taking anything, for tests and tools.  -EINVAL. */
pid_t mp__queue_lock_holder(const mp_queue_t *q, bool consumers);

#endif
