/*
 * peek.h - reading another process family's shared heap without touching
 * it, for tools/mptop.  Private (not exported: mptop links the core archive).
 *
 * The reader never writes the heap, never takes a lock and never wakes a
 * futex: it copies bytes (plain loads, through a read-only mapping or
 * /proc/PID/mem) and decodes the copies.  The copies are not a consistent
 * snapshot - the family keeps running - so every decoder checks the
 * object's magic and every figure is what the word said when it was read.
 *
 * The decoders live next to the structs they decode (lock.c, sem.c, ...):
 * each takes a copy of the object's first bytes and fills a plain struct.
 */
#ifndef MPROC_LIB_PEEK_H
#define MPROC_LIB_PEEK_H

#include "internal.h"

/* Where the heap's bytes come from: read(ctx, off, buf, len) copies len
 * bytes at offset off of the heap; 0 or -errno. */
struct mp__peek_src {
	int (*read)(void *ctx, uint64_t off, void *buf, size_t len);
	void *ctx;
	uint64_t len;    /* bytes of the mapping */
};

struct mp__peek_heap {
	uint64_t size, nspans, spans_used, bytes_live;
	uint64_t reg_words, untagged;
};

/* The heap's header, checked against the mapping (magic, version, sizes).
 * 0; -ENOENT not an mproc heap; -EPROTO a heap of another layout
 * version; or the read's error. */
int mp__peek_heap(const struct mp__peek_src *s, struct mp__peek_heap *out);

/* Call fn for each object of the registry whose block is live, in
 * registry order: kind (enum mp__kind, heap.h) and the block's offset.
 * Stops at fn's first non-zero return and returns it; else 0 or a read's
 * error. */
int mp__peek_each(const struct mp__peek_src *s,
                  int (*fn)(unsigned kind, uint64_t off, void *arg), void *arg);

/* ---- decoders: each -EINVAL when the copy does not hold its object ------ */

struct mp__peek_lock {
	uint32_t tid;        /* the holder's thread id; 0: not held */
	uint32_t ident;      /* the holder's ident (lock.h), 0 if unknown */
	bool waiters;        /* FUTEX_WAITERS: somebody sleeps, or may */
	bool owner_died;     /* FUTEX_OWNER_DIED: the next taker repairs */
	uint32_t state;      /* 0 consistent, 1 inconsistent, 2 unrecoverable */
	uint32_t count;      /* RLock: recursion depth of the holder */
	uint32_t spinners;   /* threads spinning for it (a hint) */
};
/* copy: sizeof(mp_lock_t) bytes; rlock: decode as an RLock. */
int mp__lock_peek(const void *copy, bool rlock, struct mp__peek_lock *out);

struct mp__peek_sem {
	uint32_t value, max, waiters, watchers;
	bool bounded;
};
/* copy: sizeof(mp_sem_t) bytes. */
int mp__sem_peek(const void *copy, struct mp__peek_sem *out);

struct mp__peek_event {
	bool set;
	uint32_t waiters;
};
/* copy: sizeof(mp_event_t) bytes. */
int mp__event_peek(const void *copy, struct mp__peek_event *out);

/* The futex words of a queue, as offsets in its header: which one a
 * sleeping thread waits on says what it waits for. */
enum {
	MP__PEEK_Q_PUT_LOCK,  /* producers' lock */
	MP__PEEK_Q_DATA,      /* tail: getters wait for a message */
	MP__PEEK_Q_GET_LOCK,  /* consumers' lock */
	MP__PEEK_Q_SPACE,     /* head: putters wait for room */
	MP__PEEK_Q_DONE,      /* JoinableQueue: joiners */
	MP__PEEK_Q_NFUTEX
};

struct mp__peek_queue {
	uint32_t capacity, max_msg;  /* ring bytes, largest message */
	int64_t maxsize;             /* 0: no count limit */
	bool joinable, closed;
	uint32_t msgs, bytes;        /* queued: messages, ring bytes with
	                                their 8-byte headers and padding */
	uint32_t unfinished;         /* JoinableQueue: put, not task_done */
	uint32_t sleepers;           /* asleep in put/get/join */
	uint32_t getters_asleep;     /* counted on tail (get, mp_wait) */
	uint32_t putters_asleep;     /* counted on head */
	uint32_t put_holder, get_holder;  /* tids holding a side's lock */
	uint32_t futex_off[MP__PEEK_Q_NFUTEX];
};
/* copy: MP__PEEK_QUEUE_HDR bytes. */
#define MP__PEEK_QUEUE_HDR 384u
int mp__queue_peek(const void *copy, struct mp__peek_queue *out);

/* A pool's shared block (pool.h: struct pool_shm). */
struct mp__peek_pool {
	uint32_t nproc;
	uint64_t tasks, results;     /* queues: addresses in the family */
};
#define MP__PEEK_POOL_HDR 64u
/* copy: MP__PEEK_POOL_HDR bytes.  Then MP__PEEK_WORKER bytes per worker
 * from offset MP__PEEK_POOL_HDR. */
int mp__pool_peek(const void *copy, struct mp__peek_pool *out);

enum mp__worker_state {
	MP__WORKER_STARTING,   /* no pid recorded yet */
	MP__WORKER_IDLE,       /* waiting for a task */
	MP__WORKER_RUNNING,    /* running job/chunk with fn */
	MP__WORKER_STOPPED,    /* took its stop order (close) */
	MP__WORKER_RETIRED,    /* ran maxtasksperchild tasks */
	MP__WORKER_TRAPPED,    /* made a forbidden system call */
};
struct mp__peek_worker {
	int32_t pid;
	enum mp__worker_state state;
	uint64_t job, fn;            /* addresses in the parent */
	uint32_t chunk;
	int32_t syscall;             /* TRAPPED: the call's number */
	uint64_t tasks;              /* tasks finished by this process */
};
#define MP__PEEK_WORKER 128u
int mp__pool_peek_worker(const void *copy, struct mp__peek_worker *out);

#endif
