/*
 * mproc/context.h - start methods and contexts, as Python's
 * multiprocessing.get_context / set_start_method / get_start_method.
 *
 * A start method is how a new process is made:
 *  - "fork" (the default): mp_process_start() forks the calling process.
 *    Fastest, and the child sees all of the parent's memory.  But a child
 *    of a multithreaded parent inherits every lock another thread held at
 *    that instant (stdio's, a logger's, an allocator's other than glibc's)
 *    held forever, and copies the whole address space.
 *  - "forkserver": a small single-threaded server process, forked from the
 *    program once (at its first use, or by mp_forkserver_start() at the top
 *    of main, before any thread exists), forks each child on request.  The
 *    child is a copy of the server, i.e. of the program as it was when the
 *    server started, never of a threaded parent.  It is made the parent's
 *    own child (clone3 CLONE_PARENT), so the parent holds it exactly as a
 *    forked one: pidfd sentinel, join, exit code or signal, terminate/kill,
 *    daemon semantics, active_children, exit joining it.
 *
 * What a forkserver child can reach: the program's memory as it was when
 * the server started (globals, and whatever the parent had allocated by
 * then); the shared heap, all of it, including objects allocated after the
 * server started (the heap is one shared mapping made before the server is
 * forked: mp_heap_alloc, mp_lock_new, mp_queue_new, ... work across both
 * methods); named segments (mp_shm_open) and anything passed by
 * descriptor.  Its target must be registered (mp_target_register) before
 * the server starts, and gets as argument a copy of the bytes given to
 * mp_process_set_args, or else the pointer given to mp_process_new
 * unchanged (meaningful only if it points into the shared heap or into
 * memory that existed when the server started).  Descriptors given to
 * mp_process_pass_fd are open in the child at the same numbers; every
 * other descriptor but 0, 1 and 2 is closed.  mp_current_process() and
 * mp_parent_process() in the child are as with fork (name, pid, parent).
 *
 * The server holds no lock and no descriptor of the program's; it forks
 * children only for the process that started it (a child of that process
 * that wants a server starts its own).  It exits when its program exits
 * or dies (it sees its socket close), so it never outlives the program.
 * If it dies (killed), the start that finds it dead restarts it.  No start is lost or made
 * twice: the kernel notes each child's pid in memory shared with the
 * parent as part of the clone (CLONE_PARENT_SETTID), so when the server
 * dies before its reply the parent knows whether the child exists (then
 * it is started: the parent takes it) or not (then the request goes to a
 * new server).  Only when three servers in a row die under one start does
 * it fail, with -MP_ESERVER.  A server
 * that is stopped (SIGSTOP) keeps starts waiting until it is continued:
 * it is not dead (DESIGN.md rule 11).
 *
 * Death tie: the kernel sends a daemonic child's death signal when the
 * *thread* that is its parent ends.  A forkserver child's parent thread is
 * the one that started the server: start it from the main thread
 * (mp_forkserver_start() early in main), or from a thread that lives as
 * long as the daemonic children should.
 *
 * Thread safety: all functions may be called from any thread.  Starts
 * through the server are serialised (one request at a time).
 */
#ifndef MPROC_CONTEXT_H
#define MPROC_CONTEXT_H

#include <stdbool.h>
#include <sys/types.h>

#include <mproc/common.h>
#include <mproc/process.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct mp_context mp_context_t;

/*
 * mp_get_context - the context of a start method: "fork" or "forkserver";
 * NULL for the current default (mp_get_start_method()).  Contexts are
 * static: never freed.  Returns NULL with *err (may be NULL) -EINVAL for an
 * unknown method.
 */
MP_API const mp_context_t *mp_get_context(const char *method, int *err);

/* mp_context_method - the context's method name ("fork", "forkserver"). */
MP_API const char *mp_context_method(const mp_context_t *ctx);

/*
 * mp_set_start_method - the default for processes and pools made without
 * a context.  As in Python, it may be set once: again only with force.
 * Errors: -EINVAL unknown method; -EBUSY set before and !force.
 */
MP_API int mp_set_start_method(const char *method, bool force);

/* mp_get_start_method - the default method's name ("fork" unless set). */
MP_API const char *mp_get_start_method(void);

/*
 * mp_target_register - make fn startable by name in forkserver children.
 * Call it before the server starts: a server knows the registrations made
 * before it was forked.  Registering the same pair again is a no-op.
 * A target that is not registered cannot be started through the server
 * (-MP_ETARGET): the server runs only functions it finds in its own copy
 * of the registry, never an address that came over its socket.
 * Errors: -EINVAL fn or name NULL, name empty or longer than 63 bytes;
 * -EEXIST the name is registered for another function; -ENOSPC 256
 * targets are registered already.
 */
MP_API int mp_target_register(const char *name, mp_target_t fn);

/*
 * mp_forkserver_start - start the calling process's fork server now, if it
 * is not running.  Call it at the top of main, before any thread exists and
 * after registering targets.  The shared heap is made first.
 * Errors: -EAGAIN, -ENOMEM, -EMFILE (socket or fork failed).
 */
MP_API int mp_forkserver_start(void);

/* mp_forkserver_pid - the running server's pid, 0 when none. */
MP_API pid_t mp_forkserver_pid(void);

/*
 * mp_forkserver_stop - stop the server (it exits; its children live on)
 * and wait for it.  0 also when none runs.  The next forkserver start
 * starts a new one, which knows the registrations made meanwhile.
 */
MP_API int mp_forkserver_stop(void);

/*
 * mp_process_set_context - the method mp_process_start uses for p (NULL:
 * the default at start time).  Errors: -EINVAL p NULL;
 * -MP_ESTARTED after start.
 */
MP_API int mp_process_set_context(mp_process_t *p, const mp_context_t *ctx);

#ifdef __cplusplus
}
#endif

#endif
