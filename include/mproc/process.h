/*
 * mproc/process.h - processes, as Python's multiprocessing.Process.
 *
 * Lifecycle: mp_process_new() makes an object in the caller's private memory
 * holding a target function and its argument.  mp_process_start() forks a
 * child that runs target(arg) and exits with its return value.  The parent
 * joins it (mp_process_join), may signal it (terminate, kill), reads its exit
 * code, then releases the descriptor (mp_process_close) and the object
 * (mp_process_free, which closes too).  An object is started at most once.
 * Only the process that created an object may start, join or signal it.
 *
 * Exit code (as in Python): the target's return value as an exit status
 * (0..255, like exit()), or -signal when a signal killed the child (-15 for
 * terminate, -9 for kill).  Unknown while the child runs.
 *
 * Sentinel: a pidfd, readable once the child has exited; poll it, put it in
 * mp_wait(), or hand it to an io_uring POLL_ADD.  It stays valid until
 * mp_process_close().
 *
 * Names: "Process-N" by default, N counting the objects made by this
 * process; a child of "Process-2" names its own children "Process-2:1", ...
 * The first process is "MainProcess".
 *
 * Daemons: a daemonic child is terminated (SIGTERM, then reaped) when its
 * parent exits normally (exit() or returning from main), and is killed
 * (SIGKILL, via PR_SET_PDEATHSIG) when its parent dies any other way.  The
 * kernel ties the death signal to the parent *thread* that started the
 * child: start daemonic children from a thread that lives as long as they
 * should.  As in Python, when a process exits normally it also waits for its
 * non-daemonic children, and a daemonic process may not start children.
 *
 * In the child: stdout and stderr are flushed before the fork (so buffered
 * output is not written twice) and after the target returns; the child then
 * terminates its own daemonic children, joins the others, and leaves with
 * _exit(), so the parent's atexit handlers do not run a second time.
 *
 * Thread safety: all functions may be called from any thread of the creating
 * process, including concurrently on one object.
 */
#ifndef MPROC_PROCESS_H
#define MPROC_PROCESS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <mproc/common.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct mp_process mp_process_t;

/* A process body: its return value becomes the exit code. */
typedef int (*mp_target_t)(void *arg);

/* mp_process_new flags */
#define MP_PROCESS_DAEMON 0x1u

/*
 * mp_process_new - a process object, not yet started.
 * target: run in the child; arg: passed to it (the child sees the parent's
 * memory as it was at fork time, so any pointer is fine).  name: NULL for the
 * default "Process-N".  flags: 0 or MP_PROCESS_DAEMON.
 * Returns the object, or NULL with *err (may be NULL): -EINVAL target is NULL
 * or flags unknown; -ENOMEM.
 */
MP_API mp_process_t *mp_process_new(mp_target_t target, void *arg,
                                    const char *name, unsigned flags,
                                    int *err);

/*
 * mp_process_start - start the child with p's start method (its context,
 * else the default: mproc/context.h) and run target(arg) in it.
 * Errors: -EINVAL p NULL; -MP_ESTARTED started before; -MP_ECLOSED;
 * -MP_EDAEMONIC the caller is itself a daemonic process; -ECHILD p was made
 * by another process; -EAGAIN, -ENOMEM fork failed; -ESRCH the child was
 * reaped before its pidfd could be opened (SIGCHLD is being ignored);
 * -ECANCELED the process has begun to exit (another thread returned from
 * main or called exit(): its children are being terminated and joined,
 * and one started now would outlive it).  forkserver only: -MP_ETARGET
 * target is not registered (or was registered after the server started);
 * -MP_ESERVER the server died while handling this start (the next start
 * restarts it); -EMFILE, -ENOBUFS.
 */
MP_API int mp_process_start(mp_process_t *p);

/*
 * mp_process_set_args - give the target a copy of data[0..len) instead of
 * the arg pointer: target gets a pointer to the copy (in the child; in the
 * caller for mp_process_run), aligned for any type.  The way to pass an
 * argument to a forkserver child (with fork it works alike).  Setting it
 * again replaces it.
 * Errors: -EINVAL p NULL, not a made object, data NULL with len > 0;
 * -E2BIG len > 65536; -MP_ESTARTED; -ENOMEM.
 */
MP_API int mp_process_set_args(mp_process_t *p, const void *data,
                               size_t len);

/*
 * mp_process_pass_fd - have descriptor fd open in the child at the same
 * number.  With fork every descriptor is inherited anyway; a forkserver
 * child gets only these (sent with SCM_RIGHTS), and 0-2.  fd must stay open
 * until the start.  Passing the same fd twice is a no-op.
 * Errors: -EINVAL p NULL, fd < 0; -EBADF fd is not open; -E2BIG 16 are
 * passed already; -MP_ESTARTED.
 */
MP_API int mp_process_pass_fd(mp_process_t *p, int fd);

/*
 * mp_process_run - run target(arg) in the calling process (no child), as
 * Python's run().  Returns target's return value.
 * Errors (which a target returning a negative number also looks like):
 * -EINVAL p NULL; -MP_ECLOSED.
 */
MP_API int mp_process_run(mp_process_t *p);

/*
 * mp_process_join - wait until the child exits, then reap it.
 * Returns 0 once it has exited (at once if it already had).
 * Errors: -ETIMEDOUT still running when the timeout passed (-EAGAIN for a
 * timeout of 0); -MP_ENOTSTARTED; -MP_ECLOSED; -EDEADLK p is the calling
 * process itself; -ECHILD p is not a child of the caller; -EINVAL p NULL or
 * a negative timeout other than MP_FOREVER.
 * The parent returned by mp_parent_process() can be joined too: that waits
 * for its death.
 */
MP_API int mp_process_join(mp_process_t *p, int64_t timeout_ns);

/*
 * mp_process_is_alive - 1 while the child runs, 0 before start and after
 * exit (an exited child is reaped here).  1 for mp_current_process().
 * Errors: -EINVAL; -MP_ECLOSED.
 */
MP_API int mp_process_is_alive(mp_process_t *p);

/*
 * mp_process_terminate - SIGTERM; mp_process_kill - SIGKILL.  Through the
 * pidfd, so a recycled pid can never be hit.  0 also when the child has
 * already exited.  Errors: -EINVAL p NULL or the calling process itself;
 * -MP_ENOTSTARTED; -MP_ECLOSED; -ECHILD not a child of the caller.
 */
MP_API int mp_process_terminate(mp_process_t *p);
MP_API int mp_process_kill(mp_process_t *p);

/*
 * mp_process_close - release the sentinel (pidfd).  Afterwards everything
 * but name, pid, daemon and free returns -MP_ECLOSED.  Closing twice is fine.
 * Errors: -EBUSY the child is still running; -EINVAL.
 */
MP_API int mp_process_close(mp_process_t *p);

/*
 * mp_process_free - close and free the object.  NULL is ignored.
 * Errors: -EBUSY the child is still running (the object is kept);
 * -EINVAL p is mp_current_process() or mp_parent_process().
 */
MP_API int mp_process_free(mp_process_t *p);

/* The child's pid once started (also after exit), 0 before; -EINVAL. */
MP_API pid_t mp_process_pid(const mp_process_t *p);

/*
 * mp_process_exitcode - 0 with *code set once the child has exited (reaping
 * it if needed).  Errors: -EAGAIN still running; -MP_ENOTSTARTED;
 * -MP_ECLOSED; -EINVAL.
 */
MP_API int mp_process_exitcode(mp_process_t *p, int *code);

/*
 * mp_process_sentinel - the pidfd, readable once the process has exited.
 * Errors: -MP_ENOTSTARTED; -MP_ECLOSED; -EINVAL (also for the current
 * process, which has no sentinel of its own).
 */
MP_API int mp_process_sentinel(mp_process_t *p);

/* The name; never NULL for a valid object ("" for NULL p). */
MP_API const char *mp_process_name(const mp_process_t *p);
/* Rename (a copy is kept).  Errors: -EINVAL; -ENOMEM. */
MP_API int mp_process_set_name(mp_process_t *p, const char *name);
/* 1 if daemonic, 0 if not, -EINVAL. */
MP_API int mp_process_daemon(const mp_process_t *p);
/* Set the daemon flag.  Errors: -MP_ESTARTED after start; -EINVAL. */
MP_API int mp_process_set_daemon(mp_process_t *p, bool daemon);

/* The object for the calling process ("MainProcess" in the first one). */
MP_API mp_process_t *mp_current_process(void);
/*
 * The parent of the calling process when it was started by mp_process_start,
 * NULL in the main process.  Supports name, pid, is_alive, join (waits for
 * the parent's death) and sentinel.
 */
MP_API mp_process_t *mp_parent_process(void);

/*
 * mp_active_children - the children started by this process that are still
 * running; children found finished are reaped.  Fills up to cap pointers
 * (out may be NULL when cap is 0) and returns how many are running, which
 * may exceed cap.  Errors: -EINVAL out NULL with cap > 0.
 */
MP_API int mp_active_children(mp_process_t **out, size_t cap);

/* CPUs this process may run on (its affinity mask), at least 1. */
MP_API int mp_cpu_count(void);

#ifdef __cplusplus
}
#endif

#endif
