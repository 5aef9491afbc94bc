/*
 * mproc/wait.h - multiprocessing.connection.wait, for descriptors and
 * processes as in Python, and for mproc's shared-memory objects too.
 *
 * mp_wait() takes an array of waitables, built with the mp_wait_* helpers
 * below, and returns the indices of those that are ready:
 *   fd         readable, at end of file, hung up or in error
 *   process    exited (its sentinel, a pidfd)
 *   queue      a get would not block: a message is there, or it is closed
 *   event      set
 *   semaphore  its value is above zero (an acquire may still lose the race)
 *   barrier    completed a cycle, or broke, since mp_wait_barrier() was
 *              called for it
 *   connection readable: a message, or end of file, or bytes it has read
 *              ahead (mp_conn_set_readahead; then mp_wait does not sleep)
 *   listener   a client is waiting to be accepted
 * Readiness is a snapshot, as in Python:
 * another process may consume what made an object ready before you act.
 *
 * How it sleeps: descriptors only - one ppoll().  Shared objects only, up
 * to 16 of them - one futex_waitv() (Linux 5.16; not in a thread made
 * interruptible, whose signals it would not report).  Anything else - one
 * io_uring submission on the calling thread's ring: a POLL_ADD per
 * descriptor and FUTEX_WAITV operations (128 words each) for the shared
 * objects; the first completion wakes the caller, the rest are cancelled
 * and reaped before mp_wait returns.  The io_uring futex operations need
 * Linux 6.7; on older kernels mp_wait falls back to waking every
 * millisecond to look at the shared objects (descriptors still wake it at
 * once).
 */
#ifndef MPROC_WAIT_H
#define MPROC_WAIT_H

#include <stddef.h>
#include <stdint.h>

#include <mproc/common.h>
#include <mproc/connection.h>
#include <mproc/process.h>
#include <mproc/queue.h>
#include <mproc/sync.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef enum mp_wait_kind {
	MP_WAIT_FD = 1,
	MP_WAIT_PROCESS,
	MP_WAIT_QUEUE,
	MP_WAIT_EVENT,
	MP_WAIT_SEM,
	MP_WAIT_BARRIER,
	MP_WAIT_CONN,
} mp_wait_kind_t;

typedef struct mp_waitable {
	int kind;        /* mp_wait_kind_t */
	uint32_t since;  /* barrier: the generation when it was taken */
	union {
		int fd;
		void *obj;
	};
} mp_waitable_t;

/* Internal: what the helpers below return.  Member by member, since a
 * designated initializer is not C++; obj is stored first so that the
 * union's bytes beyond fd are zero, as an initializer leaves them. */
static inline mp_waitable_t mp__waitable(int kind, int fd, void *obj)
{
	mp_waitable_t w;

	w.kind = kind;
	w.since = 0;
	w.obj = obj;
	if (kind == MP_WAIT_FD)
		w.fd = fd;
	return w;
}

/* mp_wait_fd - a descriptor, ready when readable, at end of file, hung
 * up or in error (a negative one gives -EBADF from mp_wait). */
static inline mp_waitable_t mp_wait_fd(int fd)
{
	return mp__waitable(MP_WAIT_FD, fd, NULL);
}

/* A connection: its descriptor, and the bytes it has read ahead.  A NULL
 * or closed one gives -EBADF from mp_wait; one in a waitset must stay open
 * until it is removed. */
static inline mp_waitable_t mp_wait_conn(const mp_conn_t *c)
{
	return mp__waitable(MP_WAIT_CONN, -1, (void *)c);
}

/* A listener, through its descriptor (a NULL one gives -EBADF). */
static inline mp_waitable_t mp_wait_listener(const mp_listener_t *l)
{
	return mp_wait_fd(l ? mp_listener_fileno(l) : -1);
}

/*
 * mp_wait_process, mp_wait_queue, mp_wait_event, mp_wait_sem - a started
 * process (through its sentinel, ready once it has exited), a queue (a get
 * would not block), an event (set), a semaphore (its value is above zero).
 * The object must stay valid until mp_wait returns, or until it is removed
 * from a waitset; a NULL one gives -EINVAL from mp_wait.
 */
static inline mp_waitable_t mp_wait_process(mp_process_t *p)
{
	return mp__waitable(MP_WAIT_PROCESS, -1, p);
}

static inline mp_waitable_t mp_wait_queue(mp_queue_t *q)
{
	return mp__waitable(MP_WAIT_QUEUE, -1, q);
}

static inline mp_waitable_t mp_wait_event(mp_event_t *e)
{
	return mp__waitable(MP_WAIT_EVENT, -1, e);
}

static inline mp_waitable_t mp_wait_sem(mp_sem_t *s)
{
	return mp__waitable(MP_WAIT_SEM, -1, s);
}

/* A barrier, ready once its current cycle completes (or it breaks).  Take
 * it before the cycle you mean to wait for ends.  kind is 0 for a bad b. */
MP_API mp_waitable_t mp_wait_barrier(mp_barrier_t *b);

/*
 * mp_wait - wait until at least one of objs[0..n) is ready, or the timeout.
 * Returns how many are ready (>= 1), with their indices, ascending, in
 * ready[] (room for n).
 * Errors: -EAGAIN (timeout 0) / -ETIMEDOUT nothing became ready; -EBADF a
 * descriptor is negative or not open; -EINVAL an object is NULL, of an
 * unknown kind, not initialised, or a process not started or closed; n 0
 * with MP_FOREVER; -ENOMEM.
 */
MP_API int mp_wait(const mp_waitable_t *objs, size_t n, int64_t timeout_ns,
                   size_t *ready);

/*
 * A waitset: the same, for a set kept between waits - as epoll is to
 * poll().  Its descriptors live in an epoll instance, so a wait costs the
 * same for 10 000 of them as for one; shared objects are looked at and
 * slept on as by mp_wait.  Lives in the creating process's memory and owns
 * a descriptor: use it from one process (any of its threads, one at a
 * time).
 */
typedef struct mp_waitset mp_waitset_t;

/* mp_waitset_open - an empty set.  NULL with *err: -EMFILE, -ENOMEM. */
MP_API mp_waitset_t *mp_waitset_open(int *err);
/* mp_waitset_close - release it.  NULL is ignored. */
MP_API int mp_waitset_close(mp_waitset_t *ws);
/*
 * mp_waitset_add - add w; returns its index in the set (>= 0), the number
 * mp_waitset_wait reports.  The object must outlive its membership: remove
 * a connection or process before closing or freeing it.  Errors as for
 * mp_wait's objects (-EBADF, -EINVAL), -EEXIST the descriptor is in the
 * set already, -ENOMEM.
 */
MP_API int mp_waitset_add(mp_waitset_t *ws, mp_waitable_t w);
/* mp_waitset_remove - take out the object at index.  -ENOENT; -EINVAL. */
MP_API int mp_waitset_remove(mp_waitset_t *ws, int index);
/*
 * mp_waitset_wait - as mp_wait: up to cap ready indices, ascending, in
 * ready[]; returns how many (more may be ready than cap).  -EAGAIN /
 * -ETIMEDOUT; -EINVAL (empty set with MP_FOREVER, cap 0); -EBADF.
 */
MP_API int mp_waitset_wait(mp_waitset_t *ws, int64_t timeout_ns,
                           size_t *ready, size_t cap);

#ifdef __cplusplus
}
#endif

#endif
