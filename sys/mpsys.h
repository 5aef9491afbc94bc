/*
 * mpsys.h - the only layer of mproc that talks to the kernel directly.
 *
 * Thin wrappers, no policy.  Every function returns >= 0 on success and a
 * negative errno on failure, as the kernel and liburing do; none of them
 * aborts or prints.  Private to the library: not installed.
 *
 * Constants newer than Debian 12's headers (glibc 2.36, linux-libc-dev 6.1,
 * liburing 2.3) are defined here under MP_SYS_* names, so that a newer header
 * that defines the real ones (sometimes as enum members, which #ifndef cannot
 * see) never clashes with ours.
 */
#ifndef MPROC_SYS_MPSYS_H
#define MPROC_SYS_MPSYS_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <signal.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <time.h>
#include <linux/futex.h>
#include <liburing.h>

/* io_uring futex opcodes: Linux 6.7, liburing 2.5; Debian 12 has neither. */
#define MP_SYS_IORING_OP_FUTEX_WAIT  51
#define MP_SYS_IORING_OP_FUTEX_WAKE  52
#define MP_SYS_IORING_OP_FUTEX_WAITV 53
/* futex2 flags for the io_uring futex ops (linux/futex.h of 6.7).  No
 * FUTEX2_PRIVATE (128): our words are shared between processes. */
#define MP_SYS_FUTEX2_SIZE_U32 0x02u
/* pwritev2() flag: no SIGPIPE from a pipe without readers (Linux 6.18). */
#define MP_SYS_RWF_NOSIGNAL 0x00000100
/* pidfd_open() flag for a thread pidfd: Linux 6.9 (equal to O_EXCL). */
#define MP_SYS_PIDFD_THREAD 00000200

/* ---- clocks ------------------------------------------------------------ */

/* CLOCK_MONOTONIC in nanoseconds. */
int64_t mp_sys_now_ns(void);
/* Absolute nanoseconds -> timespec (for futex and ppoll deadlines). */
void mp_sys_ns_to_timespec(int64_t ns, struct timespec *ts);

/*
 * The functions a message goes through (send, receive, frame, the read and
 * write wrappers): gcc puts them together in .text.hot, so a round trip
 * runs in two or three pages of code instead of five spread over the
 * library.  Measured on this VM (PTI on), where each system call costs the
 * user-space TLB its entries: 330 -> 190 ns over a raw write+read per
 * message, pinned to one CPU.
 */
#define MP_SYS_HOT __attribute__((hot))

/*
 * The code a fork child runs before its target (mproc's atfork handlers,
 * the return from fork, the start of the child's life and its end): in
 * the same place, .text.hot.  fork(2) copies no page-table entries of the
 * library's code, so each stretch of it the child runs costs the child a
 * page fault (the kernel maps 64 KiB around it), 12-20 us on this VM;
 * gathered, these functions cost one such fault instead of three or four.
 */
#define MP_SYS_FORK_PATH __attribute__((hot))

/* ---- interruptible waits (intr.c) --------------------------------------- */

/* The calling thread's setting: do waits a signal handler interrupted
 * return -EINTR (true) or carry on (false, the default)?  Returns the
 * previous setting. */
bool mp_sys_set_interruptible(bool on);
/* Read on every message's way (connections): inline, one %fs access. */
extern _Thread_local bool mp_sys__interruptible
	__attribute__((tls_model("initial-exec")));
static inline bool mp_sys_interruptible(void)
{
	return mp_sys__interruptible;
}
/* What a wait a handler interrupted returns: -EINTR in that mode, else 0
 * (a spurious wake-up: the caller looks again). */
int mp_sys_eintr(void);
/* The deadline to pass to the kernel for an absolute deadline (NULL:
 * none): in that mode a far one instead of none, which makes the kernel
 * report EINTR rather than restart the wait itself. */
const struct timespec *mp_sys_wait_deadline(const struct timespec *deadline);

/* ---- futex ------------------------------------------------------------- */

/*
 * Sleep while *word == expected, until woken or the absolute CLOCK_MONOTONIC
 * deadline (NULL: no deadline).  Shared (not FUTEX_PRIVATE) so that words in
 * MAP_SHARED memory work between processes.  Uses FUTEX_WAIT_BITSET, whose
 * timeout is absolute, so retrying after EINTR never stretches it.
 * Returns 0 (woken, possibly spuriously, or a signal's handler ran),
 * -EAGAIN (value differed), -ETIMEDOUT, -EINTR (a handler ran and the
 * thread is interruptible: see intr.c).
 */
int mp_sys_futex_wait(_Atomic uint32_t *word, uint32_t expected,
                      const struct timespec *deadline);
/* Wake up to n sleepers on word; returns how many were woken. */
int mp_sys_futex_wake(_Atomic uint32_t *word, int n);
/*
 * futex_waitv (Linux 5.16): sleep on up to FUTEX_WAITV_MAX (128) words at
 * once.  Fill entries with mp_sys_waitv_set().  Returns the index of a woken
 * entry, -EAGAIN when some word already differed, -ETIMEDOUT, -EINTR
 * (as mp_sys_futex_wait; otherwise an interruption returns 0).
 */
void mp_sys_waitv_set(struct futex_waitv *w, _Atomic uint32_t *word,
                      uint32_t expected);
int mp_sys_futex_waitv(struct futex_waitv *w, unsigned n,
                       const struct timespec *deadline);

/*
 * A process-private mutex for mproc's own bookkeeping (the lists of rings
 * and of children): 0 unlocked, 1 locked, 2 locked with sleepers.  Unlike a
 * pthread mutex its state can be read, so an atfork child handler writes
 * to it (and so copies its page) only when a parent thread held it.
 */
void mp_sys_mutex_lock(_Atomic uint32_t *m);
void mp_sys_mutex_unlock(_Atomic uint32_t *m);
/* In a fork child: free the mutex if a thread of the parent held it. */
static inline void mp_sys_mutex_reset(_Atomic uint32_t *m)
{
	if (atomic_load_explicit(m, memory_order_relaxed))
		atomic_store_explicit(m, 0, memory_order_relaxed);
}

/* The caller's thread id (gettid(2)); not cached here. */
pid_t mp_sys_gettid(void);

/*
 * The robust-futex list head the kernel knows for the calling thread
 * (get_robust_list(2)), i.e. the one glibc registered; NULL if none.  Never
 * set_robust_list(): replacing glibc's head would break its robust mutexes.
 */
struct mp_sys_robust_head {
	void *list;            /* first entry (a pointer to an entry's `next`) */
	long futex_offset;     /* entry + futex_offset = the futex word */
	void *list_op_pending; /* the entry being locked or unlocked */
};
struct mp_sys_robust_head *mp_sys_robust_head(void);

/*
 * The identity of thread `tid` beyond its id (see sys/thread.c): the low 32
 * bits of its pidfs inode number, never 0; (tid, ident) names one thread
 * for the whole boot.  0 with *ident set, or -errno with *ident = 0: -EINVAL
 * before Linux 6.9 (no thread pidfds), -ESRCH no such thread, -EMFILE and
 * the like.
 */
int mp_sys_thread_ident(pid_t tid, uint32_t *ident);
/*
 * Has the thread (tid, ident) ended?  1 proven: no thread has that tid, the
 * thread that has it now is another one (its ident differs), or it has
 * exited (a zombie included).  0 it lives - stopped, traced or starved
 * threads live.  -errno when the kernel cannot tell (out of descriptors, a
 * sandbox): never take that for a death.  ident 0 (unknown) skips the
 * identity check: a recycled tid then reads as alive.  Before Linux 6.9,
 * /proc/<tid>/stat answers, without the identity check.  Both sides must
 * be in one pid namespace, as for the kernel's robust futexes.
 */
int mp_sys_thread_gone(pid_t tid, uint32_t ident);

/* ---- pidfd and processes ---------------------------------------------- */

/*
 * fork() and a pidfd for the child.  Returns the child's pid in the parent
 * (with *pidfd set, close-on-exec), 0 in the child, -errno on failure.
 *
 * Why not clone3(CLONE_PIDFD): a raw clone3 bypasses glibc's fork, which
 * resets the thread-id cache, re-registers the robust-futex list, runs
 * pthread_atfork handlers and takes the malloc locks so a child of a
 * threaded parent finds malloc consistent.  glibc 2.36 has no pidfd fork, so
 * we fork with glibc and open the pidfd in the parent: the child cannot be
 * reaped before that (we are its only waiter) unless SIGCHLD is ignored, in
 * which case the kernel reaps it itself and pidfd_open fails with -ESRCH.
 */
pid_t mp_sys_fork_pidfd(int *pidfd);
/* pidfd_open(2) (Linux 5.3; MP_SYS_PIDFD_THREAD needs 6.9). */
int mp_sys_pidfd_open(pid_t pid, unsigned flags);
/* pidfd_send_signal(2) (Linux 5.1). */
int mp_sys_pidfd_signal(int pidfd, int sig);
/*
 * waitid(P_PIDFD) (Linux 5.4) for WEXITED, with WNOHANG when !block.
 * Returns 1 and sets *exitcode (the exit status, or -signal when killed),
 * 0 when !block and the child is still running, -errno otherwise.
 */
int mp_sys_pidfd_reap(int pidfd, bool block, int *exitcode);
/*
 * Block until the child has exited, without reaping it (WNOWAIT): any
 * number of threads may wait so at once.  0 or -errno (-ECHILD once it has
 * been reaped).
 */
int mp_sys_pidfd_wait_exit(int pidfd);

/*
 * Wait until fd reports any of events or the absolute deadline (NULL: none)
 * passes.  Returns the revents (> 0), 0 on timeout; EINTR as mp_sys_poll.
 */
int mp_sys_poll_one(int fd, short events, const struct timespec *deadline);

/* ---- siblings (spawn.c) ------------------------------------------------- */

/*
 * clone3(CLONE_PARENT | CLONE_PIDFD): a child of the caller's parent, not
 * of the caller, with a pidfd for the caller (*pidfd, close-on-exec).
 * The kernel also writes the child's pid to *note (CLONE_PARENT_SETTID)
 * before the call returns, even to a caller killed meanwhile: in shared
 * memory, it tells the parent that the child exists.  Returns its pid in
 * the caller, 0 in the child, -errno (-EINVAL: the caller is init).  For
 * a single-threaded caller that holds no lock only: no pthread_atfork
 * handler runs (see spawn.c for what it repairs).  Linux 5.5.
 */
pid_t mp_sys_spawn_sibling(int *pidfd, _Atomic pid_t *note);
/* close_range(lowfd, ~0, 0): close every descriptor from lowfd up
 * (Linux 5.9).  0 or -errno. */
int mp_sys_close_from(int lowfd);

/* 0 if fd is an open descriptor, else -EBADF. */
int mp_sys_fd_valid(int fd);
/* Make fds[i] open at nums[i] (not close-on-exec) for each i < n (at most
 * MP_SYS_FDS_MAX), closing fds[i] itself; whatever was open at a number
 * in nums is replaced.  0 or -errno. */
int mp_sys_fds_renumber(const int *fds, const int *nums, unsigned n);

/* ---- the calling process (proc.c) ---------------------------------------- */

/* Be SIGKILLed when the parent (thread) that forked us dies; if `parent`
 * is already gone, die now.  0 or -errno. */
int mp_sys_die_with_parent(pid_t parent);
/*
 * A lifeline: a pipe (close-on-exec, non-blocking) whose write end fds[1]
 * only the parent keeps - its children must close their copies (mproc's
 * fork handler does) - and whose read end fds[0] goes to one child, which
 * calls mp_sys_lifeline_hold().  When the parent process dies or execs,
 * however it does, the last write end closes.  Unlike the death signal of
 * mp_sys_die_with_parent(), the end of the thread that forked the child
 * does not count.  0 or -errno.
 */
int mp_sys_lifeline(int fds[2]);
/*
 * In the child: be SIGKILLed - stopped or not - when every write end of the
 * lifeline whose read end is fd has closed (at once if that has happened
 * already).  The kernel sends the SIGKILL itself on the hang-up (O_ASYNC,
 * F_SETSIG).  0 or -errno.
 */
int mp_sys_lifeline_hold(int fd);
/* CPUs in the affinity mask (at least 1). */
int mp_sys_cpu_count(void);
/* setrlimit(resource, soft, hard).  0 or -errno. */
int mp_sys_set_limit(int resource, uint64_t soft, uint64_t hard);
/* Unblock SIGSYS and send it to handler (SA_SIGINFO).  0 or -errno. */
int mp_sys_trap_sigsys(void (*handler)(int, siginfo_t *, void *));
/* exit_group(status), async-signal-safe, nothing of libc's exit run. */
_Noreturn void mp_sys_exit_now(int status);
/* Unblock every signal in the calling thread (a raw rt_sigprocmask: for
 * a new child's path, rawcall.h). */
void mp_sys_unblock_all(void);

/* ---- shared mappings --------------------------------------------------- */

/*
 * A MAP_SHARED anonymous mapping of len bytes, inherited by every child
 * forked afterwards at the same address.  MAP_NORESERVE: pages are allocated
 * on first touch only, so a large reservation costs address space, not memory.
 */
void *mp_sys_map_shared(size_t len, int *err);
/* A MAP_SHARED mapping of fd (a memfd or a shm file). */
void *mp_sys_map_fd(int fd, size_t len, int *err);
int mp_sys_unmap(void *addr, size_t len);
/* Give the pages of a shared range back: they read as zero afterwards. */
int mp_sys_discard(void *addr, size_t len);
/*
 * Map in the whole pages inside [addr, addr + len) for writing, in one call
 * (MADV_POPULATE_WRITE, Linux 5.14), rather than a fault per page as they
 * are first written: for memory about to be written through, whose
 * contents it leaves as they are.  Best effort: 0, or -errno (-EINVAL on
 * older kernels, or for a range it cannot populate, such as a device's
 * mapping: it then no longer tries).
 */
int mp_sys_prefault_write(void *addr, size_t len);
/* The calling process's mapped address space in bytes (0 if unknown). */
size_t mp_sys_mapped_bytes(void);
/* memfd_create(2) with MFD_CLOEXEC, sized to size bytes.  Returns the fd. */
int mp_sys_memfd(const char *name, size_t size);

/* ---- named and anonymous segments (shm.c) -------------------------------- */

/*
 * shm_open(3) (glibc: /dev/shm/<name>, O_NOFOLLOW | O_CLOEXEC added) with
 * flags (O_RDWR or O_RDONLY, O_CREAT | O_EXCL) and mode.  The fd or -errno.
 */
int mp_sys_shm_open(const char *name, int flags, mode_t mode);
/*
 * An unnamed file in /dev/shm (open O_TMPFILE, O_RDWR, close-on-exec, mode),
 * to be filled and then given a name with mp_sys_shm_link: nobody can open
 * it before.  -EOPNOTSUPP (or -EISDIR, -EINVAL) where the file system or
 * the kernel cannot.
 */
int mp_sys_shm_tmpfile(mode_t mode);
/*
 * Give the unnamed file fd the name (shm_open's form, "/name"): linkat
 * with AT_EMPTY_PATH, or where that is not allowed (before Linux 6.10 it
 * needs CAP_DAC_READ_SEARCH) through /proc/self/fd.  -EEXIST when the name is
 * taken: nothing is replaced.
 */
int mp_sys_shm_link(int fd, const char *name);
/* shm_unlink(3).  0 or -errno. */
int mp_sys_shm_unlink(const char *name);
/* memfd_create(2) with MFD_CLOEXEC | MFD_ALLOW_SEALING, size 0.  The fd. */
int mp_sys_memfd_sealable(const char *name);
/* fallocate(2) mode 0 over [0, size): the pages are allocated now (on
 * tmpfs: counted against its size), and the file grows to size. */
int mp_sys_fallocate(int fd, size_t size);
/* ftruncate(2). */
int mp_sys_ftruncate(int fd, size_t size);
/* fstat(2): the size of a regular file; -EINVAL when fd is not one. */
int64_t mp_sys_file_size(int fd);
/* fcntl F_ADD_SEALS / F_GET_SEALS (memfds; Linux 3.17). */
int mp_sys_add_seals(int fd, unsigned seals);
int mp_sys_get_seals(int fd);
/* fcntl F_DUPFD_CLOEXEC. */
int mp_sys_dup(int fd);
/* A MAP_SHARED mapping of fd, read-only (PROT_READ) when rdonly. */
void *mp_sys_map_file(int fd, size_t len, bool rdonly, int *err);

/* ---- seccomp (pool workers' sandbox) ---------------------------------- */

/* A compiled sandbox: a BPF program (struct sock_filter[len]). */
struct mp_sys_filter {
	void *insns;
	unsigned short len;
};
/*
 * Compile the compute sandbox, plus what `rules` (may be NULL) adds to the
 * libseccomp context.  Disallowed calls will raise SIGSYS
 * (SECCOMP_RET_TRAP).  0 or -errno; free with mp_sys_sandbox_free.
 */
int mp_sys_sandbox_compile(int (*rules)(void *ctx, void *arg), void *arg,
                           struct mp_sys_filter *f);
/* Load a compiled sandbox into the calling process (pid self), with
 * no_new_privs.  0 or -errno. */
int mp_sys_sandbox_load(const struct mp_sys_filter *f, pid_t self);
/* Has this process loaded a sandbox?  (Then what it forbids must not be
 * tried: a forbidden call kills.) */
bool mp_sys_sandboxed(void);
void mp_sys_sandbox_free(struct mp_sys_filter *f);
/* The name of system call nr on this architecture ("openat"). */
void mp_sys_syscall_name(int nr, char *buf, size_t len);

/* ---- io_uring ---------------------------------------------------------- */

/*
 * The calling thread's ring, created on first use and rebuilt after fork (a
 * ring is never used by two processes: the child closes its inherited copy).
 * Freed when the thread exits.  Returns NULL and sets *err on failure.
 */
struct io_uring *mp_sys_ring(int *err);
/* Cached probe: does this kernel's io_uring know the given opcode? */
bool mp_sys_uring_has_op(int opcode);

/* SQE preparation for the futex opcodes (liburing 2.3 has no helpers). */
void mp_sys_prep_futex_wait(struct io_uring_sqe *sqe, _Atomic uint32_t *word,
                            uint32_t expected);
void mp_sys_prep_futex_wake(struct io_uring_sqe *sqe, _Atomic uint32_t *word,
                            uint32_t n);
void mp_sys_prep_futex_waitv(struct io_uring_sqe *sqe, struct futex_waitv *w,
                             unsigned n);

/* ---- a private ring as a readiness poller (upoll.c) -------------------- */

/*
 * For one event loop watching many descriptors: the loop's own ring, set
 * up by the thread that will use it (SINGLE_ISSUER) and used by no other.
 * Arms and cancels are queued, and handed to the kernel by the next peek
 * or wait.  An armed poll holds the file open: cancel before closing.
 */
typedef struct mp_sys_upoll {
	struct io_uring ring;
} mp_sys_upoll_t;

/* One completion: the tag given to mp_sys_upoll_add, res the revents
 * (POLLIN ...) or -errno (-ECANCELED once cancelled), more: a multishot
 * request stays armed (without it, the request has ended). */
typedef struct mp_sys_upoll_ev {
	uint64_t tag;
	int res;
	bool more;
} mp_sys_upoll_ev_t;

/* -ENOSYS without IORING_OP_POLL_ADD; the ring's own errors. */
int mp_sys_upoll_init(mp_sys_upoll_t *p, unsigned entries);
void mp_sys_upoll_destroy(mp_sys_upoll_t *p);
/* Queue a poll on fd for events; multishot (5.13): it reports every
 * wake-up that matches until cancelled.  Tag UINT64_MAX is reserved.
 * -EBUSY: the SQ is full and could not be submitted. */
int mp_sys_upoll_add(mp_sys_upoll_t *p, int fd, unsigned events,
                     bool multishot, uint64_t tag);
/* Queue the cancel of the request(s) tagged tag. */
int mp_sys_upoll_cancel(mp_sys_upoll_t *p, uint64_t tag);
/* Submit what is queued and take up to max completions without waiting;
 * enters the kernel only when it holds completions for us.  Returns the
 * count, -errno. */
int mp_sys_upoll_peek(mp_sys_upoll_t *p, mp_sys_upoll_ev_t *ev, unsigned max);
/* Whether completions are on their way that our next system call, any
 * call, posts (COOP_TASKRUN's task work, signalled as TIF_NOTIFY_SIGNAL
 * and run on the way back to user space), while none waits in the CQ
 * ring: a loop about to make a system call anyway need not enter the
 * kernel for them first.  Always false before Linux 6.0 (completions are
 * posted by an interrupt). */
bool mp_sys_upoll_deferred(mp_sys_upoll_t *p);
/* Submit what is queued and wait for at least one completion until the
 * absolute CLOCK_MONOTONIC deadline (NULL: none).  Returns the count (0
 * at the deadline), -errno; EINTR is retried. */
int mp_sys_upoll_wait(mp_sys_upoll_t *p, mp_sys_upoll_ev_t *ev, unsigned max,
                      const struct timespec *deadline);

/* An eventfd to wake a loop: non-blocking, close-on-exec.  Returns the fd,
 * -errno.  signal adds one (async-signal-safe); drain reads the count: 1
 * when there was one, 0 none, -errno. */
int mp_sys_eventfd(void);
int mp_sys_eventfd_signal(int fd);
int mp_sys_eventfd_drain(int fd);

/* ---- byte I/O on pipes and sockets (io.c) ------------------------------ */

/*
 * One read of up to len bytes.  sock: recv(2), else read(2).  nowait: do not
 * block even on a blocking descriptor (MSG_DONTWAIT, or preadv2 RWF_NOWAIT
 * for pipes, Linux 4.14+), so the descriptor's shared O_NONBLOCK flag is
 * never touched.  Returns the count (0 at end of file), -EAGAIN, -errno;
 * EINTR is retried.  -EOPNOTSUPP: the file type cannot read without waiting.
 */
ssize_t mp_sys_read(int fd, void *buf, size_t len, bool sock, bool nowait);
/*
 * One gathered write.  sock: sendmsg(2) with MSG_NOSIGNAL, so a closed peer
 * gives -EPIPE and no SIGPIPE; else pwritev2 with RWF_NOSIGNAL where the
 * kernel has it (mp_sys_nosignal()), and otherwise writev(2), which raises
 * SIGPIPE on a pipe without readers: wrap that in mp_sys_sigpipe_block/
 * restore.  nowait adds RWF_NOWAIT.  Returns the count, -EAGAIN, -errno;
 * EINTR is retried.
 */
ssize_t mp_sys_writev(int fd, const struct iovec *iov, int n, bool sock,
                      bool nowait);
/*
 * Does pwritev2 take RWF_NOSIGNAL (Linux 6.18)?  Probed once per process
 * (a 1-byte write to a pipe without readers: -EPIPE says yes, -EOPNOTSUPP
 * no; neither raises SIGPIPE).  mp_sys_set_nosignal(false) makes it say no
 * from then on, so tests can run the fallback too.
 */
bool mp_sys_nosignal(void);
void mp_sys_set_nosignal(bool use);
/* ppoll(2) on n descriptors until the absolute deadline (NULL: none).
 * Returns how many have revents (> 0), 0 on timeout; EINTR is retried,
 * or returned when the thread is interruptible (intr.c). */
int mp_sys_poll(struct pollfd *fds, unsigned n,
                const struct timespec *deadline);
int mp_sys_close(int fd);
/* fstat(2): 1 when fd is a socket, 0 when not, -errno. */
int mp_sys_is_socket(int fd);
/* getrandom(2), looping until len bytes are filled. */
int mp_sys_getrandom(void *buf, size_t len);
/* Random bytes for nonces (random.c): getrandom's, from a per-process
 * buffer that a fork does not copy.  0 or -errno. */
int mp_sys_nonce(void *buf, size_t len);

/*
 * Writing to a pipe whose readers are gone raises SIGPIPE, whose default
 * action kills the process; a library must neither die of it nor change
 * the application's disposition.  So the calling thread blocks SIGPIPE for
 * the duration of the write, and when the write failed with EPIPE it takes
 * back the one SIGPIPE it caused with sigtimedwait(0), unless a SIGPIPE was
 * already pending before (the application's own, left alone: standard
 * signals do not queue, so the two would be one).  Only a thread-directed
 * SIGPIPE is raised by the kernel, so no other thread can see ours.  The
 * cost is two rt_sigprocmask calls per guarded write.
 */
struct mp_sys_sigpipe {
	sigset_t old;
	bool was_blocked; /* the application blocks SIGPIPE itself */
	bool was_pending; /* ... and one was already pending */
};
void mp_sys_sigpipe_block(struct mp_sys_sigpipe *g);
void mp_sys_sigpipe_restore(struct mp_sys_sigpipe *g, bool got_epipe);

/* ---- descriptor passing on AF_UNIX sockets (io.c) ------------------------ */

/* The most descriptors one mp_sys_recv_fds keeps; more are closed. */
#define MP_SYS_FDS_MAX 16

/*
 * One sendmsg(2) of len bytes at buf with one SCM_RIGHTS control message
 * carrying fds[0..n) (1 <= n <= MP_SYS_FDS_MAX; the kernel passes
 * duplicates, the caller's stay open), MSG_NOSIGNAL, plus MSG_DONTWAIT
 * when nowait.  Returns the count, -EAGAIN, -errno (-EBADF: one of fds is
 * not open; -ENOTSOCK, -EINVAL, -EOPNOTSUPP: sock cannot carry them);
 * EINTR is retried.
 */
ssize_t mp_sys_send_fds(int sock, const void *buf, size_t len, const int *fds,
                        unsigned n, bool nowait);

/* What came with a message: the descriptors of its SCM_RIGHTS control
 * messages (close-on-exec, the caller's to close), how many came (n; only
 * the first MP_SYS_FDS_MAX are in fd[], the rest were closed), and
 * whether the kernel reported MSG_CTRUNC (it dropped some: no room, or it
 * could not install them - RLIMIT_NOFILE, a security module). */
struct mp_sys_fds {
	int fd[MP_SYS_FDS_MAX];
	unsigned n;
	bool ctrunc;
};

/*
 * One recvmsg(2) of up to len bytes with MSG_CMSG_CLOEXEC, plus
 * MSG_DONTWAIT when nowait, with room for MP_SYS_FDS_MAX descriptors and
 * for the control messages a socket option may add (SO_PASSCRED), which
 * are skipped.  Fills *got even on end of file.  Returns the count (0 at
 * end of file), -EAGAIN, -errno; EINTR is retried.
 */
ssize_t mp_sys_recv_fds(int sock, void *buf, size_t len,
                        struct mp_sys_fds *got, bool nowait);
/* The socket's address family (getsockopt SO_DOMAIN), or -ENOTSOCK for a
 * pipe or file, -errno. */
int mp_sys_sock_family(int fd);

/* ---- sockets and pipes (sock.c) ----------------------------------------- */

/* Descriptors made here are close-on-exec, as Python's are. */
int mp_sys_pipe(int fds[2]);
/* F_SETPIPE_SZ: the pipe's capacity in bytes (rounded up by the kernel). */
int mp_sys_pipe_size(int fd, int bytes);
int mp_sys_socketpair(int fds[2]); /* AF_UNIX, SOCK_STREAM */
int mp_sys_socketpair_seq(int fds[2]); /* AF_UNIX, SOCK_SEQPACKET */
/* socket(2): family, SOCK_STREAM | extra (e.g. SOCK_NONBLOCK). */
int mp_sys_socket(int family, int extra);
/* setsockopt(2) at IPPROTO_TCP level with an int (TCP_NODELAY, ...). */
int mp_sys_tcp_set(int fd, int opt, int val);
int mp_sys_fchmod(int fd, mode_t mode);
int mp_sys_unlink(const char *path);
/* SO_REUSEADDR (inet only), bind(2), listen(2). */
int mp_sys_bind_listen(int fd, const struct sockaddr *sa, socklen_t len,
                       int backlog);
/* accept4(2), close-on-exec; the new socket blocks.  -EAGAIN when the
 * (non-blocking) listener has nothing queued. */
int mp_sys_accept(int fd, struct sockaddr_storage *peer, socklen_t *len);
/*
 * connect(2) until the absolute deadline (NULL: none).  fd must be
 * non-blocking (SOCK_NONBLOCK); it blocks once connected.  TCP polls for
 * POLLOUT; AF_UNIX connects at once unless the backlog is full (EAGAIN),
 * and then blocks with SO_SNDTIMEO set to the time left.  -ETIMEDOUT when
 * the deadline passes.
 */
int mp_sys_connect(int fd, const struct sockaddr *sa, socklen_t len,
                   const struct timespec *deadline);
int mp_sys_sockname(int fd, struct sockaddr_storage *sa, socklen_t *len);

/* ---- I/O on the thread's ring (ringio.c) ------------------------------- */

/*
 * One read or gathered write on the calling thread's ring, waited for; with
 * a deadline (absolute CLOCK_MONOTONIC, NULL: none) the operation carries a
 * linked IORING_OP_LINK_TIMEOUT, so a single io_uring_enter both submits
 * and bounds it.  sock: IORING_OP_RECV / IORING_OP_SENDMSG with
 * MSG_NOSIGNAL; else IORING_OP_READ / IORING_OP_WRITEV, with RWF_NOSIGNAL
 * when mp_sys_nosignal() (without it a pipe write raises SIGPIPE in the
 * submitting thread, as write(2) does: guard it).  Returns the
 * count, -ETIMEDOUT, -EINTR (an interruptible thread's signal cancelled
 * it: nothing moved), or -errno (-EAGAIN on an O_NONBLOCK descriptor that
 * is not ready).  Every completion is reaped before returning: nothing of
 * ours is left in flight, and every user of the ring must do the same.
 */
ssize_t mp_sys_ring_read(struct io_uring *r, int fd, void *buf, size_t len,
                         bool sock, const struct timespec *deadline);
ssize_t mp_sys_ring_writev(struct io_uring *r, int fd,
                           const struct iovec *iov, int n, bool sock,
                           const struct timespec *deadline);

#endif
