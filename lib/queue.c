/*
 * queue.c - Queue on a byte ring in shared memory.
 *
 * Layout (offsets only; the block can be mapped anywhere):
 *
 *   line 0      fixed parameters, the shared `closed` flag
 *   lines 1-2   producers: their lock and private state; `tail`
 *   lines 3-4   consumers: their lock and private state; `head`
 *   line 5      JoinableQueue: `done`, join sleepers
 *   384..       the ring: records of [header: u32 len, u32 tag][data][pad to 8]
 *
 * Commit protocol.  A record is published by one release store of its
 * 8-byte header, whose tag is the record's byte position + 1 (positions are
 * free-running u32 byte counts; +1 keeps 0 invalid).  Before that store the
 * producer writes the data and clears the header slot where the NEXT record
 * will start, so a consumer at position h finds there either that clear
 * slot or a record published for h - never stale bytes of an older lap.
 * That store is the commit: a producer killed before it leaves nothing (the
 * next producer overwrites the slot), one killed after it has put its
 * message.  Consumers poll the header at their position, the very line the
 * data arrives on, so a message costs one cache-line transfer, not two.
 *
 * `tail` (producers' bytes | messages put << 32) then follows the commit; it
 * gives producers their write position, sleepers their futex, qsize its
 * count.  A producer that finds a published record at `tail` (its
 * predecessor died between commit and tail update) just steps over it.
 * `head` (consumers' bytes | messages taken << 32) is the consumer's
 * commit: one release store after copying the message out, so a consumer
 * killed before it leaves the message for the next get.  The low half of
 * each is the futex the other side sleeps on (little-endian).
 *
 * A record that does not fit before the end of the ring, or one rewound
 * to the ring's start while the queue is empty (rewind_now), is preceded
 * by a WRAP record (len WRAP_LEN) covering the rest of the lap; the WRAP
 * is published after the record it leads to.
 *
 * Receipts (mp__queue_get_receipt, mp__queue_put_receipt): a consumer
 * that dies just after its commit has taken a message nobody will see, and
 * a producer that dies inside its put may or may not have sent it; a pool
 * must know whether its dead worker took a task it never ran, and whether
 * it sent the result of the task it ran.  The take (put) writes its
 * receipt - the pos it is about to commit, verdict PENDING - and publishes
 * the receipt's place in its side's line, commits, marks the receipt
 * TAKEN and withdraws it, all under the lock.  One that dies in between
 * dies holding the lock, so its side's pos stays as it left it until
 * somebody takes the lock over; whoever does (side_settle, or
 * mp__queue_receipt_verdict itself) judges the receipt first: TAKEN if
 * the side's pos - for producers, the tail settled over a record the dead
 * one published (settle_tail) - is the one it claimed, else LEFT.  So a
 * receipt always ends TAKEN or LEFT, judged on a position nobody else
 * could have moved.
 *
 * Sleeping: a consumer finding nothing counts itself in the producers'
 * other_sleeping (kept in their private line, so every put reads it
 * cheaply) with a sequentially consistent increment, and looks again; a
 * producer publishes, unlocks (a full barrier) and reads the count.  One of
 * the two sees the other's write, so no wake-up is lost and a put makes a
 * system call only when somebody sleeps.  mp_wait() callers watching the
 * queue count themselves in the same way.
 * Producers waiting for space mirror this on `head`.
 */
#include "lock.h"
#include "heap.h"
#include "peek.h"

#include <stdlib.h>
#include <unistd.h>

_Static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__,
               "the futex is the low half of a 64-bit word");

#define QUEUE_MAGIC 0x6d707175u /* "mpqu" */
#define QUEUE_ROUND_TRIP 0x80000000u /* in flags: mp__queue_round_trip() */
#define WRAP_LEN 0xffffffffu
#define HDR 8u

/*
 * One side (producers or consumers).  `own` is the side's lock, encoded
 * as a Lock's (lock.h): the holder's tid | FUTEX_WAITERS |
 * FUTEX_OWNER_DIED in the low half, the holder's ident in the high half,
 * both written by the CAS that takes it.  It is not linked into the robust
 * list: taken on every put and get for the length of a memcpy, it must
 * cost one CAS and one exchange.  Its death detection is the waiters':
 * one who sleeps looks at the holder after each slice (mp__holder_wait)
 * and marks the word as the kernel marks a robust one only on proof that
 * this very holder has ended; a holder stopped or starved for any length
 * of time keeps the lock.  The pool's supervisor marks the words of a
 * worker it saw die (mp__queue_holder_died).
 */
struct side_line {
	/* The side's own line: only its lock holder touches it, except the
	 * other side counting itself in other_sleeping to sleep (rare). */
	_Atomic uint64_t own;
	_Atomic uint32_t spin;
	uint32_t cache;                /* the other side's bytes, last seen */
	/* How many of the OTHER side (and mp_wait callers, for the producers'
	 * line) sleep on this side's pos.  A count, not a flag: they come
	 * and go independently.  One killed asleep leaves it too high, which
	 * costs needless wake-ups, never a lost one. */
	_Atomic uint32_t other_sleeping;
	uint32_t first_gap;            /* see spin_backoff */
	/* The receipt of the take or put under way (see Receipts), as its
	 * offset from this line; 0 when none. */
	_Atomic int64_t claim_off;
	uint8_t pad0[32];
	/* The published position, alone on its line: the other side polls
	 * it, and every poll would otherwise steal the lock's line too. */
	_Atomic uint64_t pos;          /* bytes (low) | messages (high) */
	uint8_t pad1[56];
};

struct queue {
	uint32_t magic;
	uint32_t flags;
	uint32_t capacity;
	uint32_t max_msg;
	int64_t maxsize;               /* 0: no count limit */
	_Atomic uint32_t closed;
	_Atomic uint32_t sleepers;     /* threads asleep inside put/get/join */
	uint8_t pad0[32];
	struct side_line prod;         /* pos = tail; other_sleeping: consumer */
	struct side_line cons;         /* pos = head; other_sleeping: producer */
	_Atomic uint32_t done;         /* JoinableQueue: tasks done */
	_Atomic uint32_t join_sleepers;
	uint8_t pad1[56];
	unsigned char ring[];
};

_Static_assert(sizeof(struct side_line) == 128, "one side is two lines");
_Static_assert(sizeof(struct queue) == 384, "queue header size");

static inline uint32_t lo(uint64_t v) { return (uint32_t)v; }
static inline uint32_t hi(uint64_t v) { return (uint32_t)(v >> 32); }
static inline _Atomic uint32_t *futex_of(_Atomic uint64_t *pos)
{
	return (_Atomic uint32_t *)(void *)pos;
}
static inline uint32_t rec_size(uint32_t len)
{
	return HDR + ((len + 7u) & ~7u);
}

static struct queue *queue_of(const mp_queue_t *uq)
{
	struct queue *q = (struct queue *)uq;
	return uq && ((uintptr_t)uq & 63) == 0 && q->magic == QUEUE_MAGIC ? q
	                                                                  : NULL;
}

/* ---- creation ---------------------------------------------------------- */

static int check_attr(const mp_queue_attr_t *a, size_t *max_msg, size_t *cap)
{
	static const mp_queue_attr_t defaults;
	if (!a)
		a = &defaults;
	if (a->flags & ~MP_QUEUE_JOINABLE)
		return -EINVAL;
	size_t m = a->max_msg ? a->max_msg : MP_QUEUE_DEFAULT_MAX_MSG;
	if (m > MP_QUEUE_MAX_CAPACITY / 2 - HDR || a->capacity > MP_QUEUE_MAX_CAPACITY)
		return -EINVAL;
	size_t need = 2 * (size_t)rec_size((uint32_t)m) + HDR;
	size_t c = a->capacity ? a->capacity
	                       : need > MP_QUEUE_DEFAULT_CAPACITY
	                         ? need : MP_QUEUE_DEFAULT_CAPACITY;
	if (c < need)
		c = need;
	size_t p2 = 64;
	while (p2 < c)
		p2 <<= 1;
	if (p2 > MP_QUEUE_MAX_CAPACITY)
		return -EINVAL;
	*max_msg = m;
	*cap = p2;
	return 0;
}

size_t mp_queue_footprint(const mp_queue_attr_t *attr)
{
	size_t m, c;
	return check_attr(attr, &m, &c) < 0 ? 0 : sizeof(struct queue) + c;
}

int mp_queue_init(void *mem, size_t len, const mp_queue_attr_t *attr)
{
	size_t m, c;
	int r = check_attr(attr, &m, &c);

	if (r < 0 || !mem || ((uintptr_t)mem & 63))
		return -EINVAL;
	if (len < sizeof(struct queue) + c)
		return -ENOSPC;
	struct queue *q = mem;
	memset(q, 0, sizeof(*q));
	q->flags = attr ? attr->flags : 0;
	q->capacity = (uint32_t)c;
	q->max_msg = (uint32_t)m;
	q->maxsize = attr && attr->maxsize > 0 ? attr->maxsize : 0;
	q->magic = QUEUE_MAGIC;
	return 0;
}

mp_queue_t *mp_queue_new(const mp_queue_attr_t *attr, int *err)
{
	int dummy;
	if (!err)
		err = &dummy;
	size_t len = mp_queue_footprint(attr);
	if (!len) {
		*err = -EINVAL;
		return NULL;
	}
	void *mem = mp_heap_alloc(len, err);
	if (!mem)
		return NULL;
	*err = mp_queue_init(mem, len, attr);
	if (*err < 0) {
		mp_heap_free(mem);
		return NULL;
	}
	mp__heap_tag(mem, MP__KIND_QUEUE);
	return mem;
}

static void wake_all(struct queue *q)
{
	mp_sys_futex_wake(futex_of(&q->prod.pos), INT32_MAX);
	mp_sys_futex_wake(futex_of(&q->cons.pos), INT32_MAX);
	mp_sys_futex_wake(&q->done, INT32_MAX);
}

int mp_queue_close(mp_queue_t *uq)
{
	struct queue *q = queue_of(uq);
	if (!q)
		return -EINVAL;
	atomic_store(&q->closed, 1);
	wake_all(q);
	return 0;
}

void mp__queue_round_trip(mp_queue_t *uq)
{
	struct queue *q = queue_of(uq);
	if (q)
		q->flags |= QUEUE_ROUND_TRIP; /* before any other process maps it */
}

int mp_queue_closed(const mp_queue_t *uq)
{
	struct queue *q = queue_of(uq);
	return q ? (int)atomic_load(&q->closed) : -EINVAL;
}

int mp_queue_destroy(mp_queue_t *uq)
{
	struct queue *q = queue_of(uq);
	if (!q)
		return -EINVAL;
	mp_queue_close(uq);
	/* Sleepers wake, see `closed` and leave; a lock held means someone is
	 * still inside (and others may sleep on the lock behind it). */
	for (int i = 0; i < 100; i++) {
		if (!atomic_load(&q->sleepers) && !atomic_load(&q->prod.own)
		    && !atomic_load(&q->cons.own)) {
			q->magic = 0;
			return 0;
		}
		wake_all(q);
		usleep(1000);
	}
	return -EBUSY;
}

int mp_queue_free(mp_queue_t *q)
{
	int r = mp_queue_destroy(q);
	if (r < 0)
		return r;
	mp__heap_untag(q);
	return mp_heap_free(q);
}

/* ---- the two side locks ----------------------------------------------------- */

/* Mark a side's word as its dead holder's kernel would, and wake.  The
 * tid alone is no proof: a child reaped behind our back (SIGCHLD ignored,
 * a stray waitpid(-1)) frees its tid for reuse, so the holder named by
 * the word must be proven gone too. */
static void side_holder_died(struct side_line *s, pid_t tid)
{
	uint64_t v = atomic_load(&s->own);
	while (MP__TID(v) == (uint32_t)tid &&
	       mp__holder_gone(mp__holder_of(v))) {
		if (atomic_compare_exchange_weak(&s->own, &v,
		                                 mp__owner_died(v))) {
			mp_sys_futex_wake(mp__word_of(&s->own), 1);
			return;
		}
	}
}

void mp__queue_holder_died(mp_queue_t *uq, pid_t tid)
{
	struct queue *q = queue_of(uq);
	if (!q || tid <= 0)
		return;
	side_holder_died(&q->prod, tid);
	side_holder_died(&q->cons, tid);
}

pid_t mp__queue_lock_holder(const mp_queue_t *uq, bool consumers)
{
	struct queue *q = queue_of(uq);
	if (!q)
		return -EINVAL;
	return (pid_t)MP__TID(atomic_load(consumers ? &q->cons.own
	                                            : &q->prod.own));
}

/* ---- receipts (see top) ----------------------------------------------------- */

static inline struct mp__receipt *receipt_at(struct side_line *s, int64_t off)
{
	return (struct mp__receipt *)(void *)((char *)s + off);
}

/* A take or put with receipt r is about to commit `next`; lock held. */
static inline void claim_open(struct side_line *s, struct mp__receipt *r,
                              uint64_t next, bool put)
{
	atomic_store_explicit(&r->claim, next, memory_order_relaxed);
	r->put = put;
	atomic_store_explicit(&r->verdict, MP__RECEIPT_PENDING,
	                      memory_order_relaxed);
	/* Release: whoever follows the offset finds this take's claim, not
	 * the last one's. */
	atomic_store_explicit(&s->claim_off, (char *)r - (char *)s,
	                      memory_order_release);
}

/* It committed; lock still held. */
static inline void claim_close(struct side_line *s, struct mp__receipt *r)
{
	atomic_store_explicit(&r->verdict, MP__RECEIPT_TAKEN,
	                      memory_order_relaxed);
	atomic_store_explicit(&s->claim_off, 0, memory_order_release);
}

/* The lock was just taken over from a dead holder, and `pos` is its
 * side's position as that holder left it: its receipt, if it died inside
 * a take or put, can be judged. */
static void claim_settle(struct side_line *s, uint64_t pos)
{
	int64_t off = atomic_load_explicit(&s->claim_off, memory_order_acquire);
	if (!off)
		return;
	struct mp__receipt *r = receipt_at(s, off);
	bool took = pos == atomic_load_explicit(&r->claim,
	                                        memory_order_relaxed);
	atomic_store_explicit(&r->verdict, took ? MP__RECEIPT_TAKEN
	                                        : MP__RECEIPT_LEFT,
	                      memory_order_release);
	atomic_store_explicit(&s->claim_off, 0, memory_order_release);
}

/* Take a side's lock when it is free: the one CAS of the fast path. */
static inline bool side_try(struct side_line *s)
{
	uint64_t zero = 0;
	return atomic_compare_exchange_strong_explicit(&s->own, &zero,
	        mp__self_fast(), memory_order_acquire, memory_order_relaxed);
}

/* The contended path of taking a side's lock (after side_try failed): as
 * lock.c's, with the slices of mp__holder_wait for a holder that may have
 * died.  A dead predecessor (FUTEX_OWNER_DIED) left the ring consistent: it
 * commits with one store (see top).  *deadline is the caller's, for the
 * wait that follows under the lock (timeout_ns checked by the caller).
 * 0, or 1 when taken from a dead holder (side_settle). */
static int side_lock_slow(struct side_line *s, int64_t timeout_ns,
                          int64_t *deadline)
{
	uint64_t self = mp__self_fast();
	bool slept = false, try = timeout_ns == 0;

	(void)mp__deadline(timeout_ns, deadline);

	MP__SPIN_UNTIL(&s->spin, MP__TID(atomic_load_explicit(&s->own,
	                                 memory_order_relaxed)) == 0);
	for (;;) {
		uint64_t v = atomic_load_explicit(&s->own, memory_order_relaxed);
		if (MP__TID(v) == 0) {
			uint64_t nv = self |
			        ((v & FUTEX_WAITERS) || slept ? FUTEX_WAITERS : 0);
			if (atomic_compare_exchange_weak_explicit(&s->own, &v,
			        nv, memory_order_acquire, memory_order_relaxed)) {
				/* 1: taken over from a dead holder,
				 * whose receipt the caller judges. */
				return (v & FUTEX_OWNER_DIED) != 0;
			}
			continue;
		}
		if (try)
			return -EAGAIN;
		if (!(v & FUTEX_WAITERS)) {
			if (!atomic_compare_exchange_weak_explicit(&s->own, &v,
			        v | FUTEX_WAITERS, memory_order_relaxed,
			        memory_order_relaxed))
				continue;
			v |= FUTEX_WAITERS;
		}
		int r = mp__holder_wait(&s->own, v, *deadline);
		if (r < 0)
			return r;
		slept = true;
	}
}

static void side_unlock(struct side_line *s)
{
	/* Release: our ring accesses before the word says "free".  Also a
	 * full barrier, which unlock_and_wake() relies on. */
	if (atomic_exchange_explicit(&s->own, 0, memory_order_seq_cst) &
	    FUTEX_WAITERS)
		mp_sys_futex_wake(mp__word_of(&s->own), 1);
}

/*
 * Sleep on the other side's pos while its bytes are `seen` and `still(q,
 * arg)` holds, counted in *sleepers (see top).  0 woken (or it moved),
 * -ETIMEDOUT, -EINTR.
 */
static int sleep_on(struct queue *q, _Atomic uint64_t *pos, uint32_t seen,
                    _Atomic uint32_t *sleepers, int64_t deadline,
                    bool (*still)(struct queue *q, void *arg), void *arg)
{
	struct timespec ts;
	int r = 0;

	/* A sequentially consistent RMW: the count is visible before we look
	 * again - the full barrier of the sleep protocol. */
	atomic_fetch_add(sleepers, 1);
	if (lo(atomic_load(pos)) == seen && still(q, arg) &&
	    !atomic_load(&q->closed)) {
		atomic_fetch_add(&q->sleepers, 1);
		r = mp_sys_futex_wait(futex_of(pos), seen,
		                      mp__deadline_ts(deadline, &ts));
		atomic_fetch_sub(&q->sleepers, 1);
	}
	atomic_fetch_sub(sleepers, 1);
	return r == -ETIMEDOUT || r == -EINTR ? r : 0;
}

/*
 * Release a side's lock after a commit, then wake whoever sleeps on our
 * pos (all of them: the other side's lock holder and any mp_wait callers).
 * The unlock is a sequentially consistent exchange - a full barrier - so it
 * also orders our commit before the read of the count: the store-load fence
 * the sleep protocol needs (see top) comes for free.
 */
static void unlock_and_wake(struct side_line *s, _Atomic uint64_t *pos,
                            _Atomic uint32_t *sleepers)
{
	side_unlock(s);
	if (atomic_load_explicit(sleepers, memory_order_seq_cst))
		mp_sys_futex_wake(futex_of(pos), INT32_MAX);
}

/*
 * Spin until ready(q, arg) holds, looking less and less often, within the
 * side's spin budget.  A waiter that looks at a line the other side is
 * writing (the header of the next record; the consumers' position when
 * the ring is full) takes that line away from it at every look, so the
 * other side's next store waits for it to come back; looking at growing
 * intervals lets it fill (or free) several records per transfer.
 *
 * And the first interval adapts (the side's first_gap): when the wait
 * ends with more than one record's worth ready (ready() returns 2), the
 * other side is streaming, and a waiter that looks at once only catches
 * up with it again, one record per wait and a line stolen each time; so
 * the next wait starts 4 times later, up to STREAM_GAP pauses (~5 us), and
 * then finds a batch.  A wait that ends with just one record (a request,
 * a reply) resets it: their latency stays a pause or two.  64 B messages
 * between two processes: 10 M/s looking at once, 30 M/s adapting.
 */
#define STREAM_GAP 256u

static bool spin_backoff(struct side_line *s, int (*ready)(struct queue *,
                         void *), struct queue *q, void *arg)
{
	int64_t budget = mp__spin_budget_x(&s->spin, q->flags & QUEUE_ROUND_TRIP
	                                   ? MP__ROUND_TRIP_SPIN : 1);
	if (budget <= 0)
		return false;
	int64_t t0 = mp_sys_now_ns(), spent = 0;
	unsigned gap = s->first_gap ? s->first_gap : 1;
	for (; spent < budget; gap = gap < 512 ? gap * 2 : gap) {
		for (unsigned i = 0; i < gap; i++)
			mp__cpu_relax();
		int r = ready(q, arg);
		if (r) {
			unsigned g = s->first_gap ? s->first_gap : 1;
			s->first_gap = r == 1 ? 1
			             : g * 4 < STREAM_GAP ? g * 4 : STREAM_GAP;
			mp__spin_result(&s->spin, mp_sys_now_ns() - t0, true);
			return true;
		}
		spent = mp_sys_now_ns() - t0;
	}
	/* Going to sleep: whatever comes next wakes us, and the wait after
	 * that starts looking at once again. */
	s->first_gap = 1;
	mp__spin_result(&s->spin, spent, false);
	return false;
}

/* ---- records ---------------------------------------------------------------- */

static inline _Atomic uint64_t *hdr_at(struct queue *q, uint32_t pos)
{
	return (_Atomic uint64_t *)(void *)(q->ring + (pos & (q->capacity - 1)));
}

static inline uint64_t hdr_make(uint32_t pos, uint32_t len)
{
	return (uint64_t)(pos + 1) << 32 | len;
}

/* The published header at pos, or 0 when nothing is published there. */
static inline uint64_t hdr_valid(struct queue *q, uint32_t pos)
{
	uint64_t h = atomic_load_explicit(hdr_at(q, pos), memory_order_acquire);
	return hi(h) == pos + 1 ? h : 0;
}

/* Where the record after a WRAP at pos starts: the next lap. */
static inline uint32_t next_lap(const struct queue *q, uint32_t pos)
{
	return pos + (q->capacity - (pos & (q->capacity - 1)));
}

/* ---- put -------------------------------------------------------------------- */

/* Bytes a record of len needs at tail t, counting a WRAP before it. */
static uint32_t need_at(const struct queue *q, uint32_t t, uint32_t len)
{
	uint32_t off = t & (q->capacity - 1), rec = rec_size(len);
	return off + rec > q->capacity ? (q->capacity - off) + rec : rec;
}

/* Room for a record of len at tail - and for the next record's header
 * slot, which publish() clears?  The cached head first (when there is no
 * count limit to check), then a fresh look at it. */
static bool has_room(struct queue *q, uint64_t tail, uint32_t len)
{
	uint32_t need = need_at(q, lo(tail), len) + HDR;

	if (!q->maxsize && need <= q->capacity - (lo(tail) - q->prod.cache))
		return true;
	uint64_t h = atomic_load_explicit(&q->cons.pos, memory_order_acquire);
	q->prod.cache = lo(h);
	if (q->maxsize && (int64_t)(hi(tail) - hi(h)) >= q->maxsize)
		return false;
	return need <= q->capacity - (lo(tail) - lo(h));
}

/*
 * The true tail: `tail`, stepped over records a dead producer published
 * without updating it (see top).  Lock held.
 */
static uint64_t settle_tail(struct queue *q)
{
	uint64_t tail = atomic_load_explicit(&q->prod.pos, memory_order_relaxed);
	uint64_t h;

	while ((h = hdr_valid(q, lo(tail))) != 0) {
		uint32_t t = lo(tail);
		if (lo(h) == WRAP_LEN) {
			uint32_t r = next_lap(q, t);
			uint64_t rh = hdr_valid(q, r);
			if (!rh)
				break; /* a WRAP is published after its record */
			t = r;
			h = rh;
		}
		tail = (uint64_t)(hi(tail) + 1) << 32 | (t + rec_size(lo(h)));
		atomic_store_explicit(&q->prod.pos, tail, memory_order_release);
	}
	return tail;
}

/* s's lock was just taken over from a dead holder: judge its receipt, on
 * the consumers' pos, or the producers' tail with a record it published
 * counted in. */
static void side_settle(struct queue *q, struct side_line *s)
{
	claim_settle(s, s == &q->prod ? settle_tail(q)
	                              : atomic_load_explicit(&s->pos,
	                                        memory_order_relaxed));
}

/*
 * Rewinding.  A queue used for requests and replies is empty at almost
 * every put; if its records marched on through the ring regardless, each
 * lap would touch every page of it, and a fresh ring's first lap costs a
 * page fault every ~56 small records in each process (shared pages are
 * mapped lazily per process; 12-20 us each on a VM), which is what the
 * p99 of a round trip then measures.  So a record that would cross into
 * the next WINDOW of the ring while the queue is empty starts the next
 * lap instead, behind a WRAP, exactly as a record that does not fit
 * before the ring's end: the traffic stays in the first window's lines
 * and pages, warm in both processes.  Only a crossing looks at the
 * consumers' position, so a stream pays one load per window.
 */
#define WINDOW 4096u

static inline bool crosses_window(uint32_t off, uint32_t rec)
{
	return (off & (WINDOW - 1)) + rec + HDR > WINDOW;
}

/* Start the record of len at tail (lock held, room checked) on the next
 * lap?  Only when the WRAP, the record and the next record's header slot
 * all fit, which the queue being empty guarantees (room is then the whole
 * ring): tail - head is 0 now if it was at any time the lock was held,
 * since head never passes tail. */
static bool rewind_now(struct queue *q, uint32_t tail, uint32_t len)
{
	uint32_t off = tail & (q->capacity - 1), rec = rec_size(len);

	if (off < rec + HDR || !crosses_window(off, rec))
		return false;
	if (q->prod.cache != tail)
		q->prod.cache = lo(atomic_load_explicit(&q->cons.pos,
		                                        memory_order_acquire));
	return q->prod.cache == tail;
}

/* Does a record of len at tail t go on the next lap, behind a WRAP: when
 * rewinding, or when it does not fit before the ring's end. */
static bool wraps(struct queue *q, uint32_t t, uint32_t len, bool rewind)
{
	return rewind || (t & (q->capacity - 1)) + rec_size(len) > q->capacity;
}

/* The position after a record of len put at tail t. */
static uint32_t put_end(struct queue *q, uint32_t t, uint32_t len, bool wrap)
{
	return (wrap ? next_lap(q, t) : t) + rec_size(len);
}

/* Write and publish a record of len at tail t (room checked), on the next
 * lap behind a WRAP when `wrap` (see wraps()).  Returns the position after
 * it. */
static uint32_t publish(struct queue *q, uint32_t t, const void *msg,
                        uint32_t len, bool wrap)
{
	uint32_t wrap_at = t, end;

	if (wrap)
		t = next_lap(q, t);
	end = t + rec_size(len);
	if (len)
		memcpy(q->ring + (t & (q->capacity - 1)) + HDR, msg, len);
	atomic_store_explicit(hdr_at(q, end), 0, memory_order_relaxed);
	/* Release: the data and the cleared next slot before the header. */
	atomic_store_explicit(hdr_at(q, t), hdr_make(t, len),
	                      memory_order_release);
	if (wrap)
		atomic_store_explicit(hdr_at(q, wrap_at),
		                      hdr_make(wrap_at, WRAP_LEN),
		                      memory_order_release);
	return end;
}

struct room {
	uint64_t tail;
	uint32_t len;
};

static bool no_room(struct queue *q, void *arg)
{
	struct room *r = arg;
	return !has_room(q, r->tail, r->len);
}

/* For spin_backoff: 2 when there is room for two such records. */
static int room_ready(struct queue *q, void *arg)
{
	struct room *r = arg;
	if (!has_room(q, r->tail, r->len))
		return 0;
	uint32_t two = need_at(q, lo(r->tail), r->len) + rec_size(r->len) + HDR;
	return two <= q->capacity - (lo(r->tail) - q->prod.cache) ? 2 : 1;
}

/* Wait (lock held) for room; 0 or an error. */
static int await_room(struct queue *q, uint64_t tail, uint32_t len,
                      int64_t deadline, bool try)
{
	while (!has_room(q, tail, len)) {
		if (atomic_load(&q->closed))
			return -MP_ECLOSED;
		if (try)
			return -EAGAIN;
		if (spin_backoff(&q->prod, room_ready, q,
		                 &(struct room){ tail, len }))
			return 0;
		uint64_t t = tail;
		int r = sleep_on(q, &q->cons.pos, q->prod.cache,
		                 &q->cons.other_sleeping, deadline, no_room,
		                 &(struct room){ t, len });
		if (r < 0)
			return r;
	}
	return 0;
}

/* put, the lock held: wait for room (as long as the deadline allows),
 * publish, commit, release. */
static int put_locked(struct queue *q, const void *msg, uint32_t len,
                      int64_t deadline, bool try, struct mp__receipt *rc)
{
	uint64_t tail = settle_tail(q);
	int r = await_room(q, tail, len, deadline, try);
	if (r == 0 && atomic_load_explicit(&q->closed, memory_order_relaxed))
		r = -MP_ECLOSED;
	if (r < 0) {
		side_unlock(&q->prod);
		return r;
	}
	bool wrap = wraps(q, lo(tail), len, rewind_now(q, lo(tail), len));
	uint64_t next = (uint64_t)(hi(tail) + 1) << 32 |
	                put_end(q, lo(tail), len, wrap);
	if (rc)
		claim_open(&q->prod, rc, next, true);
	(void)publish(q, lo(tail), msg, len, wrap);
	/* Release: after the header, for sleepers' futex and qsize. */
	atomic_store_explicit(&q->prod.pos, next, memory_order_release);
	if (rc)
		claim_close(&q->prod, rc);
	unlock_and_wake(&q->prod, &q->prod.pos, &q->prod.other_sleeping);
	return 0;
}

/*
 * The common case in one piece: the lock free, the tail settled, room by
 * the cached head, no wrap, no count limit.  The same stores in the same
 * order as publish() and put_locked(), without their calls, the deadline
 * and the WRAP arithmetic: a 64-byte put is ~half the instructions.  The
 * deadline is reckoned only when a wait begins (put_locked, side_lock_slow),
 * which moves its start by the few nanoseconds spent before.
 */
MP_SYS_HOT
static inline int put_common(mp_queue_t *uq, const void *msg, size_t len,
                             int64_t timeout_ns, struct mp__receipt *rc)
{
	struct queue *q = queue_of(uq);

	if (!q || (!msg && len) || (timeout_ns < 0 && timeout_ns != MP_FOREVER))
		return -EINVAL;
	if (len > q->max_msg)
		return -EMSGSIZE;
	if (atomic_load_explicit(&q->closed, memory_order_relaxed))
		return -MP_ECLOSED;
	if (!side_try(&q->prod)) {
		int64_t deadline;
		int r = side_lock_slow(&q->prod, timeout_ns, &deadline);
		if (r > 0)
			side_settle(q, &q->prod);
		return r < 0 ? r : put_locked(q, msg, (uint32_t)len, deadline,
		                              timeout_ns == 0, rc);
	}
	uint64_t tail = atomic_load_explicit(&q->prod.pos, memory_order_relaxed);
	uint32_t t = lo(tail), off = t & (q->capacity - 1);
	uint32_t rec = rec_size((uint32_t)len);
	if (q->maxsize || off + rec > q->capacity || crosses_window(off, rec) ||
	    rec + HDR > q->capacity - (t - q->prod.cache) || hdr_valid(q, t)) {
		int64_t deadline;
		(void)mp__deadline(timeout_ns, &deadline); /* checked above */
		return put_locked(q, msg, (uint32_t)len, deadline,
		                  timeout_ns == 0, rc);
	}
	uint64_t next = (uint64_t)(hi(tail) + 1) << 32 | (t + rec);
	if (rc)
		claim_open(&q->prod, rc, next, true);
	if (len)
		memcpy(q->ring + off + HDR, msg, len);
	atomic_store_explicit(hdr_at(q, t + rec), 0, memory_order_relaxed);
	atomic_store_explicit((_Atomic uint64_t *)(void *)(q->ring + off),
	                      hdr_make(t, (uint32_t)len), memory_order_release);
	atomic_store_explicit(&q->prod.pos, next, memory_order_release);
	if (rc)
		claim_close(&q->prod, rc);
	unlock_and_wake(&q->prod, &q->prod.pos, &q->prod.other_sleeping);
	return 0;
}

int mp_queue_put(mp_queue_t *q, const void *msg, size_t len,
                 int64_t timeout_ns)
{
	return put_common(q, msg, len, timeout_ns, NULL);
}

int mp__queue_put_receipt(mp_queue_t *q, const void *msg, size_t len,
                          int64_t timeout_ns, struct mp__receipt *rc)
{
	if (!rc)
		return -EINVAL;
	return put_common(q, msg, len, timeout_ns, rc);
}

/* ---- get -------------------------------------------------------------------- */

/* The record at head (skipping a WRAP): its header, position in *at; 0 if
 * none is published yet. */
static uint64_t find_msg(struct queue *q, uint32_t head, uint32_t *at)
{
	uint64_t h = hdr_valid(q, head);
	*at = head;
	if (h && lo(h) == WRAP_LEN) {
		*at = next_lap(q, head);
		h = hdr_valid(q, *at);
	}
	return h;
}

static bool no_msg(struct queue *q, void *arg)
{
	uint32_t at;
	return !find_msg(q, *(uint32_t *)arg, &at);
}

struct found {
	uint32_t head;
	uint32_t at;
};

/* For spin_backoff: 2 when a second record follows the first. */
static int msg_ready(struct queue *q, void *arg)
{
	struct found *f = arg;
	uint64_t h = find_msg(q, f->head, &f->at);
	if (!h)
		return 0;
	return hdr_valid(q, f->at + rec_size(lo(h))) ? 2 : 1;
}

/* Wait (lock held) until a record is published at head; its header. */
static int await_msg(struct queue *q, uint32_t head, int64_t deadline,
                     bool try, uint64_t *hdr, uint32_t *at)
{
	while (!(*hdr = find_msg(q, head, at))) {
		if (atomic_load(&q->closed))
			return (*hdr = find_msg(q, head, at)) ? 0 : -MP_ECLOSED;
		if (try)
			return -EAGAIN;
		if (spin_backoff(&q->cons, msg_ready, q,
		                 &(struct found){ head, 0 }))
			continue;
		uint32_t seen = lo(atomic_load(&q->prod.pos));
		int r = sleep_on(q, &q->prod.pos, seen,
		                 &q->prod.other_sleeping, deadline, no_msg,
		                 &head);
		if (r < 0)
			return r;
	}
	return 0;
}

/*
 * Take the record (header hdr, at `at`) into buf, or, when out_alloc is
 * set and buf is NULL or too small, into a malloc'd buffer, and commit.
 * Lock held.  1 taken, or an error (the record stays).
 */
static int take(struct queue *q, uint64_t head, uint64_t hdr, uint32_t at,
                void *buf, size_t cap, void **out_alloc, size_t *len,
                struct mp__receipt *rc)
{
	uint32_t n = lo(hdr);
	*len = n;
	if (out_alloc && (!buf || n > cap)) {
		buf = malloc(n ? n : 1);
		if (!buf)
			return -ENOMEM;
		*out_alloc = buf;
	} else if (n > cap) {
		return -MP_ETOOSHORT; /* left in place */
	}
	uint64_t next = (uint64_t)(hi(head) + 1) << 32 | (at + rec_size(n));
	if (rc)
		claim_open(&q->cons, rc, next, false);
	if (n)
		memcpy(buf, q->ring + (at & (q->capacity - 1)) + HDR, n);
	/* Release: our reads of the record before its space is reused. */
	atomic_store_explicit(&q->cons.pos, next, memory_order_release);
	if (rc)
		claim_close(&q->cons, rc);
	return 1;
}

/* get, the lock held: wait for a record (as long as the deadline
 * allows), take it, release. */
static int get_locked(struct queue *q, void *buf, size_t cap, void **out,
                      size_t *len, int64_t deadline, bool try,
                      struct mp__receipt *rc)
{
	uint64_t head = atomic_load_explicit(&q->cons.pos, memory_order_relaxed);
	uint64_t hdr = 0;
	uint32_t at = 0;
	int r = await_msg(q, lo(head), deadline, try, &hdr, &at);
	if (r == 0)
		r = take(q, head, hdr, at, buf, cap, out, len, rc);
	if (r == 1) { /* taken: space freed, a producer may wait for it */
		unlock_and_wake(&q->cons, &q->cons.pos, &q->cons.other_sleeping);
		return 0;
	}
	side_unlock(&q->cons);
	return r;
}

/* As mp_queue_put: the common case (the lock free, a record at head that
 * fits buf) in one piece, the rest in get_locked. */
MP_SYS_HOT
static int get_common(mp_queue_t *uq, void *buf, size_t cap, void **out,
                      size_t *len, int64_t timeout_ns, struct mp__receipt *rc)
{
	struct queue *q = queue_of(uq);

	if (!q || !len || (!out && !buf && cap) ||
	    (timeout_ns < 0 && timeout_ns != MP_FOREVER))
		return -EINVAL;
	if (!side_try(&q->cons)) {
		int64_t deadline;
		int r = side_lock_slow(&q->cons, timeout_ns, &deadline);
		if (r > 0)
			side_settle(q, &q->cons);
		return r < 0 ? r : get_locked(q, buf, cap, out, len, deadline,
		                              timeout_ns == 0, rc);
	}
	uint64_t head = atomic_load_explicit(&q->cons.pos, memory_order_relaxed);
	uint32_t h = lo(head);
	uint64_t hdr = hdr_valid(q, h);
	uint32_t n = lo(hdr);
	if (!hdr || n == WRAP_LEN || n > cap || !buf) {
		int64_t deadline;
		(void)mp__deadline(timeout_ns, &deadline); /* checked above */
		return get_locked(q, buf, cap, out, len, deadline,
		                  timeout_ns == 0, rc);
	}
	uint64_t next = (uint64_t)(hi(head) + 1) << 32 | (h + rec_size(n));
	if (rc)
		claim_open(&q->cons, rc, next, false);
	if (n)
		memcpy(buf, q->ring + (h & (q->capacity - 1)) + HDR, n);
	/* Release: our reads of the record before its space is reused. */
	atomic_store_explicit(&q->cons.pos, next, memory_order_release);
	if (rc)
		claim_close(&q->cons, rc);
	unlock_and_wake(&q->cons, &q->cons.pos, &q->cons.other_sleeping);
	*len = n;
	return 0;
}

int mp_queue_get(mp_queue_t *q, void *buf, size_t cap, size_t *len,
                 int64_t timeout_ns)
{
	return get_common(q, buf, cap, NULL, len, timeout_ns, NULL);
}

int mp_queue_get_alloc(mp_queue_t *q, void **msg, size_t *len,
                       int64_t timeout_ns)
{
	if (!msg)
		return -EINVAL;
	return get_common(q, NULL, 0, msg, len, timeout_ns, NULL);
}

int mp__queue_get_buf(mp_queue_t *q, void *buf, size_t cap, void **big,
                      size_t *len, int64_t timeout_ns)
{
	if (!big || !buf)
		return -EINVAL;
	*big = NULL;
	return get_common(q, buf, cap, big, len, timeout_ns, NULL);
}

int mp__queue_get_receipt(mp_queue_t *q, void *buf, size_t cap, size_t *len,
                          int64_t timeout_ns, struct mp__receipt *rc)
{
	if (!buf || !rc)
		return -EINVAL;
	return get_common(q, buf, cap, NULL, len, timeout_ns, rc);
}

/* Can the word `own` be taken from its holder: free, marked by its dead
 * holder's kernel or judge, or held by a holder proven dead? */
static bool holder_absent(uint64_t own)
{
	return MP__TID(own) == 0 || mp__holder_gone(mp__holder_of(own));
}

int mp__queue_receipt_verdict(mp_queue_t *uq, struct mp__receipt *rc)
{
	struct queue *q = queue_of(uq);
	if (!q || !rc)
		return -EINVAL;
	/* Its owner is dead: what it wrote, it wrote before it died. */
	struct side_line *s = rc->put ? &q->prod : &q->cons;
	int64_t mine = (char *)rc - (char *)s;
	for (;;) {
		uint32_t v = atomic_load_explicit(&rc->verdict,
		                                  memory_order_acquire);
		if (v != MP__RECEIPT_PENDING)
			return (int)v;
		if (atomic_load_explicit(&s->claim_off, memory_order_acquire) !=
		    mine) {
			/* Withdrawn by a judge (who wrote the verdict first),
			 * or never published: then it never committed. */
			v = atomic_load_explicit(&rc->verdict,
			                         memory_order_acquire);
			return v == MP__RECEIPT_PENDING ? MP__RECEIPT_LEFT
			                                : (int)v;
		}
		/* Published and not judged: its owner died holding the lock,
		 * which nobody has taken over yet - or somebody is taking it
		 * over right now and judges it in a moment. */
		uint64_t own = atomic_load(&s->own);
		if (holder_absent(own)) {
			uint64_t nv = mp__self_fast() | (own & FUTEX_WAITERS);
			if (atomic_compare_exchange_strong(&s->own, &own, nv)) {
				side_settle(q, s);
				side_unlock(s);
			}
			continue;
		}
		/* A live locker between its CAS and its judgement: never
		 * judged dead for being slow (DESIGN.md rule 11). */
		struct timespec ts;
		(void)mp_sys_futex_wait(mp__word_of(&s->own), (uint32_t)own,
		        mp__deadline_ts(mp_sys_now_ns() + MP_USEC(50), &ts));
	}
}

/* ---- state ------------------------------------------------------------------ */

long mp_queue_qsize(const mp_queue_t *uq)
{
	struct queue *q = queue_of(uq);
	if (!q)
		return -EINVAL;
	uint64_t h = atomic_load(&q->cons.pos), t = atomic_load(&q->prod.pos);
	long n = (long)(int32_t)(hi(t) - hi(h));
	return n < 0 ? 0 : n;
}

int mp_queue_empty(const mp_queue_t *uq)
{
	struct queue *q = queue_of(uq);
	if (!q)
		return -EINVAL;
	return lo(atomic_load(&q->cons.pos)) == lo(atomic_load(&q->prod.pos));
}

int mp_queue_full(const mp_queue_t *uq)
{
	struct queue *q = queue_of(uq);
	if (!q)
		return -EINVAL;
	uint64_t h = atomic_load(&q->cons.pos), t = atomic_load(&q->prod.pos);
	if (q->maxsize && (int64_t)(hi(t) - hi(h)) >= q->maxsize)
		return 1;
	/* Full when not even an empty message fits. */
	return need_at(q, lo(t), 0) + HDR > q->capacity - (lo(t) - lo(h));
}

long mp_queue_max_msg(const mp_queue_t *uq)
{
	struct queue *q = queue_of(uq);
	return q ? (long)q->max_msg : -EINVAL;
}

/* ---- JoinableQueue ------------------------------------------------------------ */

int mp_queue_task_done(mp_queue_t *uq)
{
	struct queue *q = queue_of(uq);
	if (!q)
		return -EINVAL;
	if (!(q->flags & MP_QUEUE_JOINABLE))
		return -EOPNOTSUPP;
	uint32_t d = atomic_load(&q->done);
	do {
		/* More done than handed out by get: ValueError in Python. */
		if (d == hi(atomic_load_explicit(&q->cons.pos,
		                                 memory_order_acquire)))
			return -EOVERFLOW;
	} while (!atomic_compare_exchange_weak(&q->done, &d, d + 1));
	if (atomic_load(&q->join_sleepers))
		mp_sys_futex_wake(&q->done, INT32_MAX);
	return 0;
}

int mp_queue_join(mp_queue_t *uq, int64_t timeout_ns)
{
	struct queue *q = queue_of(uq);
	int64_t deadline;
	struct timespec ts;

	if (!q || mp__deadline(timeout_ns, &deadline) < 0)
		return -EINVAL;
	if (!(q->flags & MP_QUEUE_JOINABLE))
		return -EOPNOTSUPP;
	for (;;) {
		atomic_fetch_add(&q->join_sleepers, 1);
		uint32_t d = atomic_load(&q->done);
		bool all = d == hi(atomic_load(&q->prod.pos));
		int r = 0;
		if (!all && timeout_ns != 0) {
			atomic_fetch_add(&q->sleepers, 1);
			r = mp_sys_futex_wait(&q->done, d,
			                      mp__deadline_ts(deadline, &ts));
			atomic_fetch_sub(&q->sleepers, 1);
		}
		atomic_fetch_sub(&q->join_sleepers, 1);
		if (all)
			return 0;
		if (timeout_ns == 0)
			return -EAGAIN;
		if (r == -ETIMEDOUT || r == -EINTR)
			return r;
	}
}

/* ---- mp_wait ---------------------------------------------------------------- */

int mp__queue_watch(mp_queue_t *uq, struct mp__watch *w)
{
	struct queue *q = queue_of(uq);
	uint32_t at;

	if (!q)
		return -EINVAL;
	w->word = futex_of(&q->prod.pos);
	w->value = lo(atomic_load(&q->prod.pos));
	w->sleepers = &q->prod.other_sleeping;
	/* Ready: a message at head (seen without the consumers' lock: a hint,
	 * as Python's), or closed - a get would not block either way. */
	uint32_t head = lo(atomic_load_explicit(&q->cons.pos,
	                                        memory_order_acquire));
	return find_msg(q, head, &at) != 0 || atomic_load(&q->closed);
}

/* ---- mptop (peek.h) --------------------------------------------------------- */

_Static_assert(sizeof(struct queue) == MP__PEEK_QUEUE_HDR, "peek.h's size");

int mp__queue_peek(const void *copy, struct mp__peek_queue *out)
{
	struct queue *q = (struct queue *)copy;

	if (q->magic != QUEUE_MAGIC)
		return -EINVAL;
	/* Relaxed throughout: a private copy, nobody else writes it. */
	uint64_t tail = atomic_load_explicit(&q->prod.pos, memory_order_relaxed);
	uint64_t head = atomic_load_explicit(&q->cons.pos, memory_order_relaxed);
	bool joinable = (q->flags & MP_QUEUE_JOINABLE) != 0;
	*out = (struct mp__peek_queue){
		.capacity = q->capacity,
		.max_msg = q->max_msg,
		.maxsize = q->maxsize,
		.joinable = joinable,
		.closed = atomic_load_explicit(&q->closed, memory_order_relaxed),
		.msgs = hi(tail) - hi(head),
		.bytes = lo(tail) - lo(head),
		.unfinished = joinable ? hi(tail) - atomic_load_explicit(
		        &q->done, memory_order_relaxed) : 0,
		.sleepers = atomic_load_explicit(&q->sleepers,
		                                 memory_order_relaxed),
		.getters_asleep = atomic_load_explicit(&q->prod.other_sleeping,
		                                       memory_order_relaxed),
		.putters_asleep = atomic_load_explicit(&q->cons.other_sleeping,
		                                       memory_order_relaxed),
		.put_holder = MP__TID(atomic_load_explicit(&q->prod.own,
		                                           memory_order_relaxed)),
		.get_holder = MP__TID(atomic_load_explicit(&q->cons.own,
		                                           memory_order_relaxed)),
		.futex_off = {
			[MP__PEEK_Q_PUT_LOCK] = offsetof(struct queue, prod.own),
			[MP__PEEK_Q_DATA] = offsetof(struct queue, prod.pos),
			[MP__PEEK_Q_GET_LOCK] = offsetof(struct queue, cons.own),
			[MP__PEEK_Q_SPACE] = offsetof(struct queue, cons.pos),
			[MP__PEEK_Q_DONE] = offsetof(struct queue, done),
		},
	};
	return 0;
}
