/*
 * mproc/pool.h - Python's multiprocessing.Pool and AsyncResult, with every
 * worker in a seccomp sandbox, and no way to hang the caller.
 *
 * Lifecycle: mp_pool_new() makes the shared heap (which carries tasks and
 * results), forks the first worker and returns; the pool's supervisor
 * thread forks the others once the first has taken a task, or after a
 * millisecond without one: the first task need not wait for them, and their
 * forks do not slow the caller as it hands that task over (each fork makes
 * the pages the caller writes next copy-on-write faults).  (A worker runs
 * on a copy of the forking thread's stack: with less room left on the
 * caller's than half of what new threads get, mp_pool_new leaves the first
 * worker to the supervisor too.)  Work goes in with apply / map / imap and
 * their async forms; results come back as mp_result_t (AsyncResult) or an
 * mp_imap_t iterator.  mp_pool_close() stops taking work and lets the
 * workers finish what is queued; mp_pool_terminate() kills them now;
 * mp_pool_join() waits for them to exit; mp_pool_free() does what is still
 * needed of the three and frees the pool.  A pool belongs to the process
 * that made it; any of its threads may use it.
 *
 * Tasks are C functions.  Workers are forked from the pool's creator, so a
 * function pointer (and any pointer into memory that existed at fork time)
 * means the same thing in a worker; inputs and outputs travel by copy
 * through shared memory.  Two shapes:
 *  - element tasks, mp_elem_fn: one fixed-size input element -> one
 *    fixed-size output element.  map/imap/starmap run one over an array of
 *    structs into an array of results (starmap is map: in C the "argument
 *    tuple" is the input struct).
 *  - buffer tasks, mp_task_fn: a byte string in -> a buffer of any size
 *    out, built with mp_out_write() / mp_out_alloc().  apply runs one.
 * A task returns 0 on success, or a negative code that becomes its error
 * (as an exception raised by a Python task).
 *
 * Chunks: map sends elements in chunks, with Python's default chunk size
 * (len / (4 * processes), rounded up) unless one is given; imap's default
 * is 1, as in Python.
 *
 * Death (DESIGN.md rule 7): the pool's supervisor thread sleeps on the
 * result queue and on every worker's pidfd at once.  A worker that dies -
 * killed, crashed, aborted, out of its memory or CPU limit, or stopped by
 * its sandbox - fails the chunk it was running, at once: -MP_EWORKERDIED
 * with the signal (mp_result_detail), or -MP_ESANDBOX naming the forbidden
 * system call ("openat").  A new worker takes its place and every other
 * task completes; a task its worker had taken from the queue but not yet
 * begun when it died is run by another (after close too), and one whose
 * result it had sent counts as done (no task is lost, none runs twice).  get, wait, map, imap and join always honour their
 * timeout; terminate kills workers stuck in a loop.  A worker is dead only
 * when its pidfd reports its exit (common.h, "Liveness"): one that is
 * stopped (SIGSTOP), traced or starved keeps its task however long it
 * takes, and no task is ever run twice because a worker was slow.
 *
 * Sandbox: a worker installs its filter after its initializer has run, with
 * no_new_privs.  MP_SANDBOX_COMPUTE allows what computing needs: memory
 * management, futexes, reading and writing descriptors it already has,
 * clocks and sleeping, signals to itself, exit - nothing that opens,
 * connects, executes or forks, and no io_uring (which would bypass
 * seccomp): workers talk to the pool through shared memory and futexes
 * only.  It also allows pidfd_open and ppoll, with which a worker waiting
 * on a lock asks the kernel whether its holder has ended (a pidfd only
 * observes: signalling and waiting for processes stay forbidden).
 * MP_SANDBOX_CUSTOM starts from the compute rules and lets the caller add
 * rules through libseccomp.
 *
 * Workers die (SIGKILL) when the pool's process dies, however it dies, or
 * execs.  The kernel's parent-death signal, which the others get, comes
 * when the *thread* that forked them ends; the thread calling mp_pool_new
 * may end before the pool, so the first worker instead holds a pipe whose
 * other end only the pool's process keeps (close-on-exec, and closed in
 * its children by fork handlers): when that end closes, the kernel sends
 * the worker SIGKILL (F_SETSIG), which ends it even if it is stopped.  So
 * a task must not change that pipe's owner or signal (F_SETOWN, F_SETSIG),
 * and the process must not close descriptors it did not open (closefrom)
 * while a pool is open.  A child made without
 * fork's handlers (a raw clone) keeps that worker alive while it lives.
 * With forkserver (attr.context) the workers are forked by the server;
 * the others' death signal then comes when the thread that started the
 * server ends (start it from main: mproc/context.h), so they die with the
 * pool's process however it dies, but not when it execs (worker 0 does).
 *
 * Callbacks run on the pool's supervisor thread, as Python's run on its
 * result-handler thread: keep them short; they may not wait for the pool.
 */
#ifndef MPROC_POOL_H
#define MPROC_POOL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <mproc/common.h>
#include <mproc/context.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct mp_pool mp_pool_t;
typedef struct mp_result mp_result_t;
typedef struct mp_imap mp_imap_t;
typedef struct mp_out mp_out_t;

/* An element task: read *in (in_size bytes), write *out (out_size bytes).
 * in and out never overlap, and are valid during the call only. */
typedef int (*mp_elem_fn)(const void *in, void *out);
/* A buffer task: read in[0..len), produce output through out. */
typedef int (*mp_task_fn)(const void *in, size_t len, mp_out_t *out);

/* mp_out_write - append len bytes to the task's output.  0, -ENOMEM. */
MP_API int mp_out_write(mp_out_t *out, const void *data, size_t len);
/* mp_out_alloc - grow the output by len bytes and return where to write
 * them (valid until the next mp_out_* call).  NULL when out of memory. */
MP_API void *mp_out_alloc(mp_out_t *out, size_t len);

enum mp_sandbox {
	MP_SANDBOX_NONE = 0,
	MP_SANDBOX_COMPUTE,
	MP_SANDBOX_CUSTOM,
};

typedef struct mp_pool_attr {
	int processes;              /* 0: mp_cpu_count() */
	void (*initializer)(void *arg); /* run in each worker, before its sandbox */
	void *initarg;
	long maxtasksperchild;      /* chunks a worker runs before it is replaced; 0: no limit */
	int sandbox;                /* enum mp_sandbox */
	/* MP_SANDBOX_CUSTOM: add rules to `scmp_ctx` (a libseccomp
	 * scmp_filter_ctx, already holding the compute rules); 0 or -errno.
	 * Called once, in mp_pool_new, not in the workers: the filter is
	 * compiled there and loaded by each worker. */
	int (*sandbox_rules)(void *scmp_ctx, void *arg);
	void *sandbox_arg;
	size_t memory_limit;        /* bytes a worker may map beyond what it
	                               inherits (RLIMIT_AS); 0: no limit */
	unsigned cpu_limit_sec;     /* CPU seconds per worker (RLIMIT_CPU); 0: none */
	/* How workers start (mproc/context.h); NULL: the default method
	 * when the pool is made.  With forkserver the server forks them:
	 * tasks and the initializer must be functions of the program (any
	 * is: the server is a copy of it), initarg must point to memory the
	 * server has (the shared heap, or what existed when it started). */
	const mp_context_t *context;
	/* > 0: initarg points to initarg_len bytes (at most 16 KiB), and the
	 * initializer gets a copy of them, taken in mp_pool_new - the way to
	 * give a forkserver worker an argument that lives in private memory
	 * made after the server started (a local variable, say). */
	size_t initarg_len;
} mp_pool_attr_t;

/*
 * mp_pool_new - start a pool (attr NULL: defaults).
 * Errors (*err): -EINVAL processes < 0, an unknown sandbox, CUSTOM without
 * rules, a negative maxtasksperchild, initarg_len > 16 KiB or with a NULL
 * initarg; forkserver: mp_process_start's errors (-MP_ESERVER, ...); the
 * error sandbox_rules returned; -MP_EDAEMONIC called from a daemonic
 * process; -ECANCELED the process is exiting (mp_process_start); -EAGAIN,
 * -ENOMEM, -EMFILE (the first worker's fork or pipe failed).  A later
 * worker that cannot be forked (or whose initialisation fails) fails the
 * tasks instead (-MP_EWORKERDIED, "workers fail to start"), and all work
 * submitted after.
 */
MP_API mp_pool_t *mp_pool_new(const mp_pool_attr_t *attr, int *err);
/* mp_pool_close - no more work; queued work still runs.  Twice is fine. */
MP_API int mp_pool_close(mp_pool_t *pool);
/* mp_pool_terminate - kill the workers now; unfinished results fail with
 * -MP_ECLOSED. */
MP_API int mp_pool_terminate(mp_pool_t *pool);
/* mp_pool_join - wait for the workers to exit (after close or terminate;
 * else -EINVAL, as Python's ValueError).  -EAGAIN / -ETIMEDOUT. */
MP_API int mp_pool_join(mp_pool_t *pool, int64_t timeout_ns);
/* mp_pool_free - terminate if still open, join, free.  NULL is ignored. */
MP_API int mp_pool_free(mp_pool_t *pool);
/* Number of worker processes. */
MP_API int mp_pool_processes(const mp_pool_t *pool);

/* Called on the supervisor thread when a result is ready (ok or not). */
typedef void (*mp_result_cb)(mp_result_t *res, void *arg);

/*
 * mp_pool_apply_async - run fn(in[0..len)) on a worker.  callback runs when
 * it succeeds, error_callback when it fails (either may be NULL).
 * Errors (*err): -MP_ECLOSED the pool is closed or terminated;
 * -MP_EWORKERDIED its workers cannot start (see mp_pool_new); -EINVAL fn
 * NULL, in NULL with len > 0; -ENOMEM.
 */
MP_API mp_result_t *mp_pool_apply_async(mp_pool_t *pool, mp_task_fn fn,
                                        const void *in, size_t len,
                                        mp_result_cb callback,
                                        mp_result_cb error_callback,
                                        void *cb_arg, int *err);
/*
 * mp_pool_apply - apply_async + get: run fn and wait.  On success, *out is
 * a malloc'd copy of the output (free it; NULL for an empty one) and
 * *out_len its size (out and out_len may be NULL to discard it).
 * Returns 0, the task's error, or a pool error as mp_result_get.
 */
MP_API int mp_pool_apply(mp_pool_t *pool, mp_task_fn fn, const void *in,
                         size_t len, void **out, size_t *out_len);

/*
 * mp_pool_map_async - out[i] = fn(in[i]) for i in 0..n (element sizes
 * in_size, out_size), in chunks of `chunksize` elements (0: Python's
 * default).  `in` is copied before this returns; `out` is written as chunks
 * complete and must stay valid until the result is ready.  status, when
 * not NULL, gets each element's 0 or error code.
 * Errors (*err) as apply_async, and -EINVAL sizes of 0 or n too large.
 */
MP_API mp_result_t *mp_pool_map_async(mp_pool_t *pool, mp_elem_fn fn,
                                      const void *in, size_t in_size,
                                      size_t n, void *out, size_t out_size,
                                      int *status, size_t chunksize,
                                      mp_result_cb callback,
                                      mp_result_cb error_callback,
                                      void *cb_arg, int *err);
/* mp_pool_map - map_async + get.  0, or the first failed element's error
 * (in input order), or a pool error. */
MP_API int mp_pool_map(mp_pool_t *pool, mp_elem_fn fn, const void *in,
                       size_t in_size, size_t n, void *out, size_t out_size,
                       int *status, size_t chunksize);
/* starmap: map over argument structs (see top). */
MP_API mp_result_t *mp_pool_starmap_async(mp_pool_t *pool, mp_elem_fn fn,
                                          const void *in, size_t in_size,
                                          size_t n, void *out,
                                          size_t out_size, int *status,
                                          size_t chunksize,
                                          mp_result_cb callback,
                                          mp_result_cb error_callback,
                                          void *cb_arg, int *err);
MP_API int mp_pool_starmap(mp_pool_t *pool, mp_elem_fn fn, const void *in,
                           size_t in_size, size_t n, void *out,
                           size_t out_size, int *status, size_t chunksize);

/*
 * mp_pool_imap / mp_pool_imap_unordered - an iterator over fn(in[i]):
 * results in input order, or in completion order.  chunksize 0 means 1.
 */
MP_API mp_imap_t *mp_pool_imap(mp_pool_t *pool, mp_elem_fn fn, const void *in,
                               size_t in_size, size_t n, size_t out_size,
                               size_t chunksize, int *err);
MP_API mp_imap_t *mp_pool_imap_unordered(mp_pool_t *pool, mp_elem_fn fn,
                                         const void *in, size_t in_size,
                                         size_t n, size_t out_size,
                                         size_t chunksize, int *err);
/*
 * mp_imap_next - the next result into out (out_size bytes), its input
 * index into *index (may be NULL).  Returns 0, or that element's error
 * (index still set); -MP_EEOF when all have been returned (Python's
 * StopIteration); -EAGAIN / -ETIMEDOUT.
 */
MP_API int mp_imap_next(mp_imap_t *it, void *out, size_t *index,
                        int64_t timeout_ns);
/* mp_imap_free - free the iterator (waiting is not needed: outstanding
 * chunks are dropped when they arrive). */
MP_API int mp_imap_free(mp_imap_t *it);

/*
 * mp_result_get - wait for the result.  For apply_async: *out (malloc'd,
 * free it) and *out_len as mp_pool_apply; for map_async they may be NULL
 * (the results are in its out array).  Returns 0, the task's error (first
 * failed element for a map), -MP_EWORKERDIED / -MP_ESANDBOX (see
 * mp_result_detail), -MP_ECLOSED (terminated), -EAGAIN / -ETIMEDOUT.
 * After a timeout, get may be called again.
 */
MP_API int mp_result_get(mp_result_t *res, int64_t timeout_ns, void **out,
                         size_t *out_len);
/* mp_result_wait - wait until ready: 0, -EAGAIN / -ETIMEDOUT. */
MP_API int mp_result_wait(mp_result_t *res, int64_t timeout_ns);
/* 1 ready, 0 not yet; -EINVAL. */
MP_API int mp_result_ready(mp_result_t *res);
/* 1 succeeded, 0 failed; -EAGAIN not ready yet (Python's ValueError). */
MP_API int mp_result_successful(mp_result_t *res);
/*
 * mp_result_detail - after a failure: a static or result-owned string,
 * e.g. "killed by signal 9 (SIGKILL)" or "openat"; *signo (may be NULL)
 * the signal for a dead worker, else 0.  NULL when there is none.
 */
MP_API const char *mp_result_detail(mp_result_t *res, int *signo);
/* mp_result_free - release it; an unfinished one is detached (its outcome
 * is dropped when it arrives). */
MP_API int mp_result_free(mp_result_t *res);

#ifdef __cplusplus
}
#endif

#endif
