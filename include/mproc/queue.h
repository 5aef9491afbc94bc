/*
 * mproc/queue.h - Queue, SimpleQueue and JoinableQueue, as Python's, on a
 * byte ring in shared memory.
 *
 * Lifecycle: a queue is one position-independent block: a header and a ring
 * of `capacity` bytes holding messages back to back.  Allocate it from the
 * shared heap (mp_queue_new / mp_queue_free) or place it in memory of your
 * own (mp_queue_footprint, mp_queue_init / mp_queue_destroy), including a
 * named segment that unrelated processes map at different addresses.
 *
 * Messages are byte strings of 0..max_msg bytes, copied in by put and out by
 * get; FIFO per producer.  Producers serialise on one lock and consumers on
 * another, so one producer and one consumer never contend; put and get make
 * no system call unless somebody has to sleep (the queue empty or full) or
 * to be woken.
 *
 * Python's names: Queue(maxsize) is a queue with attr.maxsize; SimpleQueue
 * is a queue with the defaults (no count limit); JoinableQueue sets
 * MP_QUEUE_JOINABLE and adds task_done/join.  put_nowait/get_nowait are put
 * and get with a timeout of 0 (-EAGAIN instead of Full/Empty).  There is no
 * feeder thread (put writes the ring itself, and has when it returns), so
 * join_thread and cancel_join_thread have nothing to do and do not exist.
 * close is shared by all processes and means "no more puts": see below.
 *
 * Death: each put and get commits with one atomic store of the ring index
 * (after the bytes are written, or read out), under a robust lock.  A
 * producer killed before its commit leaves nothing behind (a half-written
 * message is never delivered); a consumer killed before its commit leaves
 * the message in place for the next get; the next producer or consumer
 * inherits the dead one's lock and goes on, so nobody blocks forever.  So
 * every message whose put returned is handed to exactly one get (a
 * consumer killed after its commit takes its message with it).  The locks
 * are not in the kernel's robust list (a put or get pays one CAS and one
 * exchange for them): a waiter finds a dead holder itself, within a slice
 * of 2 ms, and only on proof (common.h, "Liveness") - a producer or
 * consumer stopped or starved inside put or get, for however long, keeps
 * its lock, and the others wait for it or for their timeout.  A consumer
 * that dies between get and task_done leaves join waiting for that task -
 * use join's timeout.  One killed while asleep inside put or get stays
 * counted as a sleeper: mp_queue_destroy() then returns -EBUSY (the
 * memory is the caller's to drop).
 */
#ifndef MPROC_QUEUE_H
#define MPROC_QUEUE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <mproc/common.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct mp_queue mp_queue_t;

/* mp_queue_attr_t flags */
#define MP_QUEUE_JOINABLE 0x1u

#define MP_QUEUE_DEFAULT_MAX_MSG ((size_t)64 << 10)   /* 64 KiB */
#define MP_QUEUE_DEFAULT_CAPACITY ((size_t)1 << 20)   /* 1 MiB */
#define MP_QUEUE_MAX_CAPACITY ((size_t)1 << 30)

typedef struct mp_queue_attr {
	/* Most messages held at once; <= 0: no count limit (the ring's bytes
	 * still bound it: put waits while they are full), as in Python. */
	long maxsize;
	/* Largest message in bytes (0: MP_QUEUE_DEFAULT_MAX_MSG). */
	size_t max_msg;
	/* Ring bytes (0: the default, 1 MiB, or what max_msg needs); rounded up
	 * to a power of two of at least 2 * (max_msg + 8). */
	size_t capacity;
	unsigned flags;   /* 0 or MP_QUEUE_JOINABLE */
} mp_queue_attr_t;

/* Bytes an mp_queue_init() needs for attr (NULL: defaults); 0 if invalid. */
MP_API size_t mp_queue_footprint(const mp_queue_attr_t *attr);
/*
 * mp_queue_init - a queue in `len` bytes at mem (64-byte aligned, shared).
 * Errors: -EINVAL attr invalid (max_msg or capacity beyond
 * MP_QUEUE_MAX_CAPACITY, unknown flags), mem NULL or misaligned;
 * -ENOSPC len < mp_queue_footprint(attr).
 */
MP_API int mp_queue_init(void *mem, size_t len, const mp_queue_attr_t *attr);
/*
 * mp_queue_destroy - close the queue, wake every waiter (they return
 * -MP_ECLOSED) and wait up to 100 ms for them to leave; then the memory may
 * be reused.  Errors: -EBUSY callers are still inside (e.g. a process died
 * in a call): nothing was destroyed, try again; -EINVAL.
 */
MP_API int mp_queue_destroy(mp_queue_t *q);
/* In the shared heap (attr NULL: defaults).  NULL with *err on failure. */
MP_API mp_queue_t *mp_queue_new(const mp_queue_attr_t *attr, int *err);
MP_API int mp_queue_free(mp_queue_t *q);

/*
 * mp_queue_put - append a copy of msg[0..len).
 * Errors: -EMSGSIZE len > max_msg (nothing is put, nothing truncated);
 * -EAGAIN (timeout 0) / -ETIMEDOUT the queue stayed full; -MP_ECLOSED;
 * -EINVAL (msg NULL with len > 0, bad q).
 */
MP_API int mp_queue_put(mp_queue_t *q, const void *msg, size_t len,
                        int64_t timeout_ns);
/*
 * mp_queue_get - take the oldest message into buf (cap bytes); its length
 * goes to *len.
 * Errors: -MP_ETOOSHORT cap is too small: *len is the size needed and the
 * message stays queued; -EAGAIN (timeout 0) / -ETIMEDOUT the queue stayed
 * empty; -MP_ECLOSED the queue is closed and empty; -EINVAL.
 */
MP_API int mp_queue_get(mp_queue_t *q, void *buf, size_t cap, size_t *len,
                        int64_t timeout_ns);
/* mp_queue_get_alloc - as get, into a malloc'd buffer (*msg, free it).
 * Also -ENOMEM. */
MP_API int mp_queue_get_alloc(mp_queue_t *q, void **msg, size_t *len,
                              int64_t timeout_ns);

/* mp_queue_put_nowait / mp_queue_get_nowait - put and get with timeout 0
 * (Python's put_nowait and get_nowait): -EAGAIN instead of waiting. */
static inline int mp_queue_put_nowait(mp_queue_t *q, const void *msg,
                                      size_t len)
{
	return mp_queue_put(q, msg, len, 0);
}

static inline int mp_queue_get_nowait(mp_queue_t *q, void *buf, size_t cap,
                                      size_t *len)
{
	return mp_queue_get(q, buf, cap, len, 0);
}

/* Approximate number of queued messages (as Python's qsize), or -EINVAL. */
MP_API long mp_queue_qsize(const mp_queue_t *q);
/* 1/0 (approximate, as in Python), or -EINVAL. */
MP_API int mp_queue_empty(const mp_queue_t *q);
MP_API int mp_queue_full(const mp_queue_t *q);
/* The largest message this queue takes, or -EINVAL. */
MP_API long mp_queue_max_msg(const mp_queue_t *q);

/*
 * mp_queue_close - no more puts, from any process: put returns -MP_ECLOSED;
 * get drains what is queued, then returns -MP_ECLOSED instead of blocking.
 * Blocked callers are woken.  Closing twice is fine.  (Python's close is
 * per process; a shared close is what lets consumers see the end.)
 */
MP_API int mp_queue_close(mp_queue_t *q);
/* 1 when closed, 0 when not, -EINVAL. */
MP_API int mp_queue_closed(const mp_queue_t *q);

/*
 * mp_queue_task_done - (JoinableQueue) a message taken by get has been
 * processed.  Errors: -EOVERFLOW called more times than messages were put
 * (Python's ValueError); -EOPNOTSUPP not joinable; -EINVAL.
 */
MP_API int mp_queue_task_done(mp_queue_t *q);
/*
 * mp_queue_join - (JoinableQueue) wait until every message put so far has
 * been marked done.  -EAGAIN / -ETIMEDOUT; -EOPNOTSUPP; -EINVAL.
 */
MP_API int mp_queue_join(mp_queue_t *q, int64_t timeout_ns);

#ifdef __cplusplus
}
#endif

#endif
