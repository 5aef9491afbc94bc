/*
 * mproc/common.h - conventions shared by every mproc area.
 *
 * Errors: functions return >= 0 on success (0, or a count or size) and a
 * negative errno on failure, as the kernel and liburing do.  mproc's own
 * conditions have codes of their own (MP_E*, returned negated, e.g.
 * -MP_EAUTH); mp_strerror() names every code.  Functions returning a pointer
 * return NULL and report the code through an `int *err`.  mproc never aborts,
 * exits or prints on bad input, and never uses errno to report.
 *
 * Timeouts: one convention everywhere: a relative timeout in nanoseconds
 * (int64_t), MP_FOREVER to wait without limit, 0 to try once without
 * blocking.  It is turned into one absolute CLOCK_MONOTONIC deadline on
 * entry, so signals (EINTR) and spurious wake-ups neither stretch nor shorten
 * it.  Any other negative timeout is -EINVAL.
 *
 * Signals: by default a wait goes on after a signal handler has run (its
 * deadline stands).  A thread that calls mp_set_interruptible(1) is told
 * instead: every mproc call of that thread that is waiting (for a lock,
 * semaphore, condition, event, barrier, queue, connection, listener,
 * mp_wait, waitset, pool result or process) when a handler runs returns
 * -EINTR - the way Ctrl-C reaches CPython's waits, and sem_wait reports
 * EINTR - whatever the handler's SA_RESTART flag.  The call then did
 * nothing, with these exceptions: mp_cond_wait() re-takes its lock before
 * it returns (and returns 0 if a notify came with the signal);
 * mp_barrier_wait() breaks the barrier (Python's rule for a wait that ends
 * in an exception); a connection send or receive interrupted in the middle
 * of a message gives up that direction, as a timeout there does
 * (connection.h).  A handler that runs just before a
 * call goes to sleep may not end it (as with sem_wait): to stop a thread
 * for sure, signal it until it leaves, or wake it through something it
 * waits for.
 *
 * Liveness - dead only on proof: wherever mproc has to decide that another
 * process or thread is dead (a lock's holder that never released it, a pool
 * worker, a peer), it decides on the kernel's word only, never on time:
 *  - the kernel's robust-futex list marked the holder's lock word at its
 *    death (FUTEX_OWNER_DIED);
 *  - a pidfd of the process, or of the very thread, reported its exit;
 *  - the thread's identity, read in one step with the lock word it holds,
 *    names a thread that no longer exists: its id is free, or belongs to
 *    another thread now (identities are pidfs inode numbers, never reused
 *    within a boot; Linux 6.9).
 * A process that is stopped (SIGSTOP), traced, swapped out or starved of
 * CPU for any length of time keeps everything it holds, and waiters wait
 * for it (or for their timeout).  A dead one is still found: at once by the
 * kernel's report, or within one slice of 2 ms by waiters that look at a
 * holder the kernel does not report, also when its thread id has since been
 * given to another thread.  What each object does when a process dies is in
 * its header's "Death" paragraph.  Limits: processes that share objects
 * must be in one pid namespace (as for the kernel's robust futexes); before
 * Linux 6.9 a holder has no identity, so a dead holder whose id was reused
 * by a live thread before anybody looked is taken for that live thread, and
 * its waiters wait for their timeout; where a sandbox or a lack of
 * descriptors keeps a waiter from asking the kernel, it does not guess.
 *
 * Fixed meanings of standard codes across the API:
 *   -EAGAIN           a try-once (timeout 0) call would have blocked
 *   -ETIMEDOUT        the timeout passed
 *   -EOWNERDEAD       the lock is yours but its previous owner died
 *   -ENOTRECOVERABLE  an owner died and nobody repaired the state
 *   -EINVAL           bad argument (NULL, out of range, misaligned object)
 *   -ENOSYS, -EOPNOTSUPP  the kernel lacks a needed feature
 */
#ifndef MPROC_COMMON_H
#define MPROC_COMMON_H

#include <errno.h> /* the codes are -errno values: -EAGAIN, -ETIMEDOUT, ... */
#include <stdint.h>

#include <mproc/version.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(__GNUC__)
#define MP_API __attribute__((visibility("default")))
#else
#define MP_API
#endif

/* Alignment of the opaque storage structs, in C and in C++. */
#ifdef __cplusplus
#define MP_ALIGNAS(n) alignas(n)
#else
#define MP_ALIGNAS(n) _Alignas(n)
#endif

/* Wait without a time limit. */
#define MP_FOREVER ((int64_t)-1)
/* Convenience: relative timeouts in nanoseconds. */
#define MP_USEC(n) ((int64_t)(n) * 1000)
#define MP_MSEC(n) ((int64_t)(n) * 1000000)
#define MP_SEC(n)  ((int64_t)(n) * 1000000000)

/*
 * mproc's own error codes.  Positive numbers well above the kernel's errno
 * range (< 4096); functions return them negated.
 */
enum {
	MP_EBASE = 10000,
	MP_ESTARTED,     /* the process was already started */
	MP_ENOTSTARTED,  /* the process has not been started */
	MP_ECLOSED,      /* the object was closed */
	MP_EDAEMONIC,    /* a daemonic process may not start children */
	MP_EAUTH,        /* authentication failed (wrong key or bad handshake) */
	MP_EWORKERDIED,  /* the worker running a task died */
	MP_ESANDBOX,     /* a task made a system call its sandbox forbids */
	MP_EBROKEN,      /* the barrier is broken */
	MP_ETASK,        /* a task reported failure */
	MP_EEOF,         /* end of file: the peer closed the connection */
	MP_ETOOSHORT,    /* the buffer is too short for the message */
	MP_EPICKLE,      /* a malformed or unsupported pickle */
	MP_EREFUSED,     /* a pickle that would run code (a call, a global) */
	MP_ELIMIT,       /* a limit on a value's size or nesting was reached */
	MP_EREMOTE,      /* a manager's call raised an exception */
	MP_ETARGET,      /* the target is not registered for forkserver */
	MP_ESERVER,      /* the fork server died during the request */
	MP_ELAST
};

/*
 * mp_strerror - a static, human-readable name for any code mproc returns.
 * code may be given negated (as returned) or positive.  Never NULL.
 */
MP_API const char *mp_strerror(int code);

/*
 * mp_set_interruptible - for the calling thread only: 1, waits a signal
 * handler interrupts return -EINTR (see Signals, above); 0, they go on
 * (the default, and a new thread's).  Returns the previous setting.  A
 * fork child keeps the forking thread's setting.
 */
MP_API int mp_set_interruptible(int on);

/*
 * mp_version - the version of the library that is running (the one loaded,
 * which may be newer than the headers a program was built with), as
 * "major.minor.patch"; MPROC_VERSION_STRING is the headers' (version.h).
 * A static string, never NULL.  Thread-safe, async-signal-safe.
 */
MP_API const char *mp_version(void);

/*
 * mp_version_check - whether the running library provides the API of
 * version major.minor: 1 when its major version is `major` and its minor
 * version is at least `minor`, 0 otherwise (an older minor, another major,
 * or a negative argument).  A program built against these headers asks
 * mp_version_check(MPROC_VERSION_MAJOR, MPROC_VERSION_MINOR) to learn
 * whether the library it was loaded with has everything it was compiled
 * for.  A release that removes or changes a function changes the soname
 * too (libmproc.so.0 now), so the dynamic loader refuses an incompatible
 * library before this can be asked.  Thread-safe, async-signal-safe.
 */
MP_API int mp_version_check(int major, int minor);

#ifdef __cplusplus
}
#endif

#endif
