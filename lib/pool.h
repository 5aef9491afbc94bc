/*
 * pool.h - what pool.c (the parent side) and pool_worker.c share.  Private.
 *
 * Shared with the workers (all in the shared heap, so at the same address
 * everywhere): the task queue (parent -> workers), the result queue
 * (workers -> parent), one slot per worker, and the input and output
 * blocks tasks and results point to.  Everything else - jobs, callbacks,
 * worker processes - lives in the parent's private memory.
 */
#ifndef MPROC_LIB_POOL_H
#define MPROC_LIB_POOL_H

#include "internal.h"

#include <pthread.h>

enum task_kind {
	TASK_ELEM = 1, /* an element task over a chunk of elements */
	TASK_BUF,      /* a buffer task */
	TASK_STOP,     /* the worker is to exit (close) */
};

/*
 * An element task's block (TASK_ELEM's `in`): count * max(in_size,
 * out_size) bytes, the inputs from elem_in_base() on, and the worker
 * writes output element i at i * out_size, over inputs it has read: no
 * output block, so no pages to fault in and no allocation on either side.
 * Output i never reaches input i + 1: with out_size <= in_size the inputs
 * start at 0 and (i + 1) * out_size <= (i + 1) * in_size; otherwise they
 * start late enough that (i + 1) * out_size <= base + (i + 1) * in_size
 * for every i < count.
 */
static inline size_t elem_in_base(size_t count, size_t in_size,
                                  size_t out_size)
{
	return out_size > in_size ? count * (out_size - in_size) : 0;
}

static inline size_t elem_block_size(size_t count, size_t in_size,
                                     size_t out_size)
{
	return count * (in_size > out_size ? in_size : out_size);
}

/* A message on the task queue. */
struct task {
	uint32_t kind;
	uint32_t chunk;       /* index of the chunk in its job */
	uint64_t job;         /* the parent's struct mp_result *, echoed back */
	uint64_t serial;      /* the job's, never reused (job addresses are):
	                         what a dead worker's task is checked by */
	uint64_t fn;          /* mp_elem_fn or mp_task_fn */
	uint64_t in;          /* heap block holding the input, 0 if empty */
	uint64_t count;       /* elements (TASK_ELEM) or bytes (TASK_BUF) */
	uint32_t in_size, out_size; /* element sizes */
};

/* A message on the result queue. */
struct result {
	uint64_t job;
	uint32_t chunk;
	int32_t status;       /* 0, or the first failing element's error */
	uint64_t out;         /* heap block with the output, 0 if none
	                         (TASK_ELEM: always 0, see out_len) */
	uint64_t out_len;     /* bytes; TASK_ELEM: count * out_size when the
	                         outputs are in the task's block, 0 when the
	                         chunk failed as a whole */
	uint64_t statuses;    /* heap block of int32 per element, when some
	                         element failed (TASK_ELEM), else 0 */
};

/*
 * One per worker, written by the worker, read by the parent when the
 * worker dies, and by mptop.  `task` is the task being run while `running`
 * is 1 (stored after it, with release).  `pid` and `tasks` are for mptop
 * only: the worker stores its pid once as it starts and bumps `tasks`
 * after each task (relaxed stores: nothing is ordered by them).  A
 * replacement worker takes over its predecessor's slot.
 *
 * `task`, `receipt` and `sent` close the gaps around `running`: the
 * worker takes each task straight into `task` with a receipt (internal.h)
 * and resets the receipt once `running` (or `stopped`) says what it took;
 * it resets `sent` before `running` says 1, and puts the task's result with
 * `sent` as its receipt.  A worker found dead:
 *  - not running, with `receipt` judged TAKEN: it took a task it never
 *    began; the parent queues `task` again;
 *  - running, with `sent` judged TAKEN: its result is on the queue (or
 *    taken already) and counts; the task is done;
 *  - running otherwise: the task fails with its death.
 * `task` stays as it is while `running` is 1, and carries its job's serial:
 * a job is failed only if it is still the one the task was made for.
 * Two lines a slot: the workers' stores never share one.
 */
struct slot {
	_Atomic uint32_t running;
	_Atomic int32_t violation;  /* the system call that trapped, or -1 */
	_Atomic uint32_t stopped;   /* took a TASK_STOP: exits on purpose */
	_Atomic uint32_t retired;   /* ran maxtasksperchild: exits on purpose */
	_Atomic int32_t pid;        /* the worker's, 0 until it runs */
	_Atomic uint64_t tasks;     /* tasks finished by this worker */
	struct mp__receipt receipt; /* the last take from the task queue */
	struct mp__receipt sent;    /* the last put on the result queue */
	struct task task;           /* the last task taken */
	_Atomic uint32_t begun;     /* 1 once the first task is taken, if
	                               cfg.announce (see pool.c) */
	uint8_t pad[4];
};

_Static_assert(sizeof(struct slot) == 128, "a slot is two lines");

/*
 * The pool's block in the shared heap: what mptop finds through the
 * registry (heap.h), then the slots.  Written once by mp_pool_new.
 */
struct pool_shm {
	uint32_t magic;
	uint32_t nproc;
	uint64_t tasks, results;    /* the queues (addresses in the family) */
	uint64_t reserved[5];
	struct slot slots[];    /* line-aligned: the heap aligns a block to
	                           its power-of-two size class */
};

#define POOL_MAGIC 0x6d70706cu /* "mppl" */

/* What a worker needs: read-only after the pool starts it (but for
 * announce, which the supervisor clears once it no longer waits). */
struct worker_cfg {
	mp_queue_t *tasks, *results;
	struct slot *slot;
	void (*initializer)(void *arg);
	void *initarg;
	long maxtasks;
	int sandbox;
	const struct mp_sys_filter *filter; /* compiled in the creator */
	size_t memory_limit;
	unsigned cpu_limit_sec;
	int lifeline;  /* read end of the pool's lifeline (worker 0), or -1 */
	uint32_t announce; /* wake the supervisor at the first task (begun) */
	/* forkserver: the filter's instructions follow the struct (filter
	 * is NULL in the copy sent); how many. */
	uint32_t filter_insns;
	/* forkserver: the initarg bytes follow the filter; how many. */
	uint32_t initarg_len;
};

/* The worker process's body (mp_process target). */
int mp__pool_worker_main(void *cfg);

#define WORKER_SANDBOX_EXIT 159 /* exit status after a trapped call */

/* ---- the parent side ----------------------------------------------------- */

enum pool_state { POOL_RUNNING, POOL_CLOSED, POOL_TERMINATED };

struct mp_pool {
	mp_pool_attr_t attr;
	int nproc;
	mp_queue_t *tasks, *results;
	struct pool_shm *shm;         /* shared heap */
	struct slot *slots;           /* shm->slots, one per worker */
	struct worker_cfg *cfg;       /* one per worker */
	mp_process_t **workers;       /* written by the supervisor, under mu */
	pthread_t sup;
	bool joined;
	/* Guards the jobs, their lists, state and workers[]. */
	pthread_mutex_t mu;
	enum pool_state state;
	struct mp_result *jobs;       /* unfinished, or finished and not freed */
	struct mp_result *cb_list;    /* finished, callbacks to run */
	/* Futex: bumped (and woken, if progress_waiters) on every change of
	 * a job, for callers waiting on results. */
	_Atomic uint32_t progress;
	_Atomic uint32_t progress_waiters;
	_Atomic int getters;          /* callers draining results themselves */
	_Atomic int pending_jobs;     /* submitted, not yet finished */
	_Atomic uint64_t job_serial;  /* the last job's serial */
	_Atomic bool sup_watching;    /* the supervisor drains results */
	mp_event_t wake;              /* the supervisor: something to do */
	mp_event_t finished;
	int spawned;                  /* workers ever started, for names */
	/* The supervisor's: tasks of dead workers waiting to be queued again
	 * (requeue), and how many workers to start again when they exit on
	 * a stop order (a stop queued behind a task requeued after close). */
	struct task *backlog;
	size_t nbacklog, backlog_cap;
	int extra_stops;
	bool broken;                  /* workers cannot start: fail all
	                                 (set under mu, by the supervisor) */
	struct mp_sys_filter custom;  /* MP_SANDBOX_CUSTOM's filter */
	int life_w;                   /* lifeline write end, or -1 */
	const mp_context_t *ctx;      /* the start method, fixed at new */
	void *initarg_copy;           /* attr.initarg_len bytes, or NULL */
	bool forkserver;
	struct mp_pool *life_next;    /* the list of pools with one */
};

/* pool_jobs.c */
void mp__pool_drain(mp_pool_t *p);
/* Fail task t's chunk, if its job is still the one t was made for. */
void mp__pool_fail_task(mp_pool_t *p, const struct task *t, int err,
                        const char *detail, int signo);
void mp__pool_fail_all(mp_pool_t *p, int err, const char *detail);
void mp__pool_run_callbacks(mp_pool_t *p);
void mp__pool_free_jobs(mp_pool_t *p);

#endif
