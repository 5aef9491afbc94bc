/*
 * process.c - Python's Process on fork() and pidfds.
 *
 * Every child is started with fork() and held through a pidfd, which makes
 * signalling immune to pid reuse and gives a pollable sentinel.  The objects
 * live in the creator's private memory; a child finds its own copy (at the
 * same address) and makes it its current process.
 *
 * Locks: ps.lock guards the list of this process's started children; each
 * object's `mu` guards its state fields.  Order: ps.lock, then mu.  No lock
 * is held across a blocking wait.
 */
#include "internal.h"

#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdio_ext.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define NAME_MAX_LEN 255
#define IDENT_LEN 96

enum kind {
	K_CHILD,  /* made by mp_process_new */
	K_MAIN,   /* the first process of the family */
	K_PARENT, /* the calling process's parent */
};

struct mp_process {
	mp_target_t target;
	void *arg;
	char name[NAME_MAX_LEN + 1];
	char ident[IDENT_LEN]; /* "2:1": position in the family tree */
	enum kind kind;
	bool daemon;
	bool own_tie;        /* a daemon tied to its parent by its creator */
	bool started, closed, reaped;
	pid_t pid;
	pid_t creator; /* the only process that may start/join/signal it */
	int pidfd;
	int exitcode;
	pthread_mutex_t mu;
	struct mp_process *next_child;
	bool listed;
	const mp_context_t *ctx; /* NULL: the default at start */
	void *bytes;             /* mp_process_set_args' copy, or NULL */
	size_t len;
	unsigned nfds;           /* mp_process_pass_fd's */
	int fds[MP__SPAWN_FDS_MAX];
};

static mp_process_t main_process = {
	.name = "MainProcess",
	.kind = K_MAIN,
	.started = true,
	.pidfd = -1,
	.mu = PTHREAD_MUTEX_INITIALIZER,
};
static mp_process_t parent_process = {
	.kind = K_PARENT,
	.started = true,
	.pidfd = -1,
	.mu = PTHREAD_MUTEX_INITIALIZER,
};

#define POOL_OBJECTS 4

/*
 * Everything a fork makes this file write, in one page: after fork() every
 * private page is copy-on-write in both processes, and each page written
 * costs a fault (and, while the other side shares it, a copy) - together
 * about as much as the rest of starting a process.  So the child writes only
 * this struct, and the first few process objects live in it too: a
 * new/start/join/free cycle then touches one page of ours instead of an
 * object, malloc's arena and tcache, and this state.
 */
static struct proc_state {
	mp_process_t *current;     /* the calling process's object */
	mp_process_t *parent_src;  /* child: the parent's object, as copied */
	pid_t parent_pid;          /* child: the parent's pid, 0 in main */
	_Atomic uint32_t parent_ready; /* parent_process filled in */
	_Atomic unsigned made;     /* objects made here: the N of Process-N */
	_Atomic uint32_t lock;     /* guards children (mp_sys_mutex) */
	mp_process_t *children;    /* started here, not yet closed */
	_Atomic bool exiting;      /* exit has begun: start no more */
	_Atomic uint32_t pool_used; /* bit i: pool[i] is taken */
	mp_process_t pool[POOL_OBJECTS];
	/* A forkserver child's own object and its parent's (see
	 * mp__process_spawned); zero until then. */
	mp_process_t spawned_self, spawned_parent;
} ps __attribute__((aligned(4096))) = { .current = &main_process };

_Static_assert(sizeof(struct proc_state) <= 4096, "proc_state fits a page");

static mp_process_t *object_alloc(void)
{
	uint32_t used = atomic_load_explicit(&ps.pool_used,
	                                     memory_order_relaxed);
	while (used != (1u << POOL_OBJECTS) - 1) {
		unsigned i = (unsigned)__builtin_ctz(~used);
		if (atomic_compare_exchange_weak_explicit(&ps.pool_used, &used,
		        used | (1u << i), memory_order_acquire,
		        memory_order_relaxed)) {
			memset(&ps.pool[i], 0, sizeof(ps.pool[i]));
			return &ps.pool[i];
		}
	}
	return calloc(1, sizeof(mp_process_t));
}

static void object_free(mp_process_t *p)
{
	if (p >= ps.pool && p < ps.pool + POOL_OBJECTS) {
		/* Release: our last use of the slot before its next owner. */
		atomic_fetch_and_explicit(&ps.pool_used,
		                          ~(1u << (unsigned)(p - ps.pool)),
		                          memory_order_release);
	} else {
		free(p);
	}
}

/* A string of at most cap - 1 bytes into dst[cap].  A plain loop, not
 * strnlen and memcpy: a forkserver child runs it before its target, and
 * each stretch of libc's code it calls into is a page fault there. */
MP_SYS_FORK_PATH
static void copy_str(char *dst, const char *src, size_t cap)
{
	size_t n = 0;
	for (; n + 1 < cap && src[n]; n++)
		dst[n] = src[n];
	dst[n] = 0;
}

static void copy_name(char dst[NAME_MAX_LEN + 1], const char *src)
{
	copy_str(dst, src, NAME_MAX_LEN + 1);
}

static void copy_ident(char dst[IDENT_LEN], const char *src)
{
	copy_str(dst, src, IDENT_LEN);
}

/* Decimal v into buf (12 bytes). */
static void uint_str(char *buf, unsigned v)
{
	char tmp[12];
	size_t n = 0, i = 0;

	do {
		tmp[n++] = (char)('0' + v % 10);
		v /= 10;
	} while (v);
	while (n)
		buf[i++] = tmp[--n];
	buf[i] = 0;
}

/*
 * dst = a b c, truncated to cap - 1 characters.  (Not snprintf: its deep
 * stack frame costs a page fault per process start, see struct proc_state.)
 */
static void concat3(char *dst, size_t cap, const char *a, const char *b,
                    const char *c)
{
	const char *parts[3] = { a, b, c };
	size_t len = 0;

	for (int i = 0; i < 3; i++)
		for (const char *s = parts[i]; *s && len < cap - 1; s++)
			dst[len++] = *s;
	dst[len] = 0;
}

static pthread_once_t exit_once = PTHREAD_ONCE_INIT;

static void exit_cleanup(void);

static inline bool is_self(const mp_process_t *p)
{
	return p == ps.current;
}

/* ---- the list of started children ------------------------------------ */

/* Listed unless the process has begun to exit (false): exit_cleanup
 * sets `exiting` before it takes the lock to terminate and join what is
 * listed, so a child listed after that would outlive us unjoined.  Looked
 * at first without the lock too, which the exit holds while it joins. */
static bool list_add(mp_process_t *p)
{
	if (atomic_load(&ps.exiting))
		return false;
	mp_sys_mutex_lock(&ps.lock);
	bool ok = !atomic_load(&ps.exiting);
	if (ok) {
		p->next_child = ps.children;
		ps.children = p;
		p->listed = true;
	}
	mp_sys_mutex_unlock(&ps.lock);
	return ok;
}

static void list_remove(mp_process_t *p)
{
	mp_sys_mutex_lock(&ps.lock);
	if (p->listed) {
		for (mp_process_t **pp = &ps.children; *pp;
		     pp = &(*pp)->next_child) {
			if (*pp == p) {
				*pp = p->next_child;
				break;
			}
		}
		p->listed = false;
	}
	mp_sys_mutex_unlock(&ps.lock);
}

MP_SYS_FORK_PATH
void mp__process_after_fork(void)
{
	/* The child is single-threaded: reset rather than unlock, the lock
	 * may have been held by another thread of the parent.  Write only
	 * what needs it. */
	mp_sys_mutex_reset(&ps.lock);
	if (ps.children)
		ps.children = NULL;
}

static void register_exit(void)
{
	(void)atexit(exit_cleanup);
}

/* ---- reaping ----------------------------------------------------------- */

/*
 * Reap p if it has exited (block: wait for it first).  1 reaped (now or
 * before), 0 still running, -errno.  The blocking part waits with WNOWAIT
 * and without p->mu, so any number of threads can join at once; the reap
 * itself is a non-blocking waitid under p->mu, so exactly one of them
 * records the exit code and the others see it recorded.
 */
static int reap(mp_process_t *p, bool block)
{
	int code = 0, r = 0;

	if (block) {
		r = mp_sys_pidfd_wait_exit(p->pidfd);
		if (r < 0 && r != -ECHILD)
			return r;
	}
	pthread_mutex_lock(&p->mu);
	if (!p->reaped) {
		r = mp_sys_pidfd_reap(p->pidfd, false, &code);
		if (r == 1) {
			p->reaped = true;
			p->exitcode = code;
		}
	}
	if (p->reaped)
		r = 1;
	pthread_mutex_unlock(&p->mu);
	return r;
}

/* Common checks for operations on a child object. */
static int check_child(const mp_process_t *p)
{
	if (p->closed)
		return -MP_ECLOSED;
	if (!p->started)
		return -MP_ENOTSTARTED;
	if (p->creator != getpid())
		return -ECHILD;
	return 0;
}

/* ---- the parent, seen from a child -------------------------------------- */

/*
 * Filled on first use rather than at start, so that starting a child writes
 * as little as possible (see struct proc_state).
 */
static mp_process_t *parent_object(void)
{
	mp_process_t *pp = &parent_process;

	if (!ps.parent_pid)
		return NULL;
	if (atomic_load_explicit(&ps.parent_ready, memory_order_acquire))
		return pp;
	mp_sys_mutex_lock(&ps.lock);
	if (!atomic_load_explicit(&ps.parent_ready, memory_order_relaxed)) {
		const mp_process_t *src = ps.parent_src;
		memcpy(pp->name, src->name, sizeof(pp->name));
		memcpy(pp->ident, src->ident, sizeof(pp->ident));
		pp->daemon = src->daemon;
		pp->pid = ps.parent_pid;
		pp->pidfd = -1;
		pp->reaped = false;
		pthread_mutex_init(&pp->mu, NULL);
		/* Release: the fields above before the flag. */
		atomic_store_explicit(&ps.parent_ready, 1,
		                      memory_order_release);
	}
	mp_sys_mutex_unlock(&ps.lock);
	return pp;
}

/*
 * The parent's pidfd, opened on first use.  pidfd_open by pid can race with
 * the parent's death and the pid's reuse, so the fd is trusted only if the
 * parent is still our parent after it was opened.  -ESRCH once it is gone.
 */
static int parent_pidfd(void)
{
	mp_process_t *pp = &parent_process;
	int fd;

	pthread_mutex_lock(&pp->mu);
	if (pp->pidfd < 0 && !pp->reaped) {
		fd = mp_sys_pidfd_open(pp->pid, 0);
		if (fd >= 0 && getppid() != pp->pid) {
			close(fd);
			fd = -ESRCH;
		}
		if (fd >= 0)
			pp->pidfd = fd;
		else
			pp->reaped = true; /* gone: nothing to wait for */
	}
	fd = pp->pidfd >= 0 ? pp->pidfd : -ESRCH;
	pthread_mutex_unlock(&pp->mu);
	return fd;
}

static int parent_join(int64_t deadline)
{
	struct timespec ts;
	int fd = parent_pidfd();

	if (fd < 0)
		return 0; /* already dead */
	int r = mp_sys_poll_one(fd, POLLIN, mp__deadline_ts(deadline, &ts));
	if (r < 0)
		return r;
	return r > 0 ? 0 : -ETIMEDOUT;
}

/* ---- creation and start ---------------------------------------------- */

mp_process_t *mp_process_new(mp_target_t target, void *arg, const char *name,
                             unsigned flags, int *err)
{
	int dummy;
	if (!err)
		err = &dummy;
	if (!target || (flags & ~MP_PROCESS_DAEMON) ||
	    (name && strlen(name) > NAME_MAX_LEN)) {
		*err = -EINVAL;
		return NULL;
	}
	mp_process_t *p = object_alloc();
	if (!p) {
		*err = -ENOMEM;
		return NULL;
	}
	unsigned n = atomic_fetch_add_explicit(&ps.made, 1,
	                                       memory_order_relaxed) + 1;
	const mp_process_t *me = ps.current;
	/* A family more than ~40 generations deep gets truncated idents:
	 * names stay valid strings, only less telling. */
	char num[12];
	uint_str(num, n);
	concat3(p->ident, sizeof(p->ident), me->ident, me->ident[0] ? ":" : "",
	        num);
	if (name)
		memcpy(p->name, name, strlen(name) + 1);
	else
		concat3(p->name, sizeof(p->name), "Process-", p->ident, "");
	p->target = target;
	p->arg = arg;
	p->kind = K_CHILD;
	/* As in Python, the default is the creating process's own flag. */
	p->daemon = (flags & MP_PROCESS_DAEMON) || me->daemon;
	p->creator = getpid();
	p->pidfd = -1;
	pthread_mutex_init(&p->mu, NULL);
	return p;
}

/*
 * Flush a stdio stream only if it holds output: fflush takes the stream's
 * lock, a write that would copy a page of libc in a fresh child.  glibc's
 * FILE is a public struct, so the check costs no call (and no fault on a
 * code page the child has not run yet).
 */
static void flush_pending(FILE *f)
{
#ifdef __GLIBC__
	if (f->_IO_write_ptr > f->_IO_write_base)
#else
	if (__fpending(f))
#endif
		fflush(f);
}

/*
 * In the new child: become p, run the target, leave.  p itself is not
 * written (it is the parent's object; a write would copy its page): being
 * "self" is being ps.current.
 */
MP_SYS_FORK_PATH
static _Noreturn void child_main(mp_process_t *p, pid_t parent)
{
	if (p->daemon && !p->own_tie)
		(void)mp_sys_die_with_parent(parent);
	ps.parent_src = ps.current;
	ps.parent_pid = parent;
	ps.current = p;
	if (ps.parent_ready)
		ps.parent_ready = 0;
	if (ps.made)
		ps.made = 0;

	int rc = p->target(p->bytes ? p->bytes : p->arg);
	exit_cleanup();
	flush_pending(stdout);
	flush_pending(stderr);
	mp_sys_exit_now(rc & 0xff); /* _exit, without its page of libc */
}

/*
 * The forkserver's child (forkserver.c): a copy of the server, so nothing
 * here is the parent's object - both are made from what the request said.
 * The server's own state (its children list, its exit flag) is cleared.
 */
MP_SYS_FORK_PATH
_Noreturn void mp__process_spawned(const struct mp__spawn *s)
{
	mp_process_t *p = &ps.spawned_self, *pp = &ps.spawned_parent;

	if (s->daemon && !s->own_tie)
		(void)mp_sys_die_with_parent(s->parent);
	copy_name(p->name, s->name);
	copy_ident(p->ident, s->ident);
	p->kind = K_CHILD;
	p->daemon = s->daemon;
	p->started = true;
	p->creator = s->parent;
	p->pidfd = -1;
	p->target = s->target;
	p->arg = s->arg;
	/* What pthread_mutex_init(, NULL) makes, without the call into libc. */
	p->mu = (pthread_mutex_t)PTHREAD_MUTEX_INITIALIZER;
	copy_name(pp->name, s->parent_name);
	copy_ident(pp->ident, s->parent_ident);
	pp->daemon = s->parent_daemon;
	mp_sys_mutex_reset(&ps.lock);
	ps.children = NULL;
	atomic_store_explicit(&ps.exiting, false, memory_order_relaxed);
	ps.parent_src = pp;
	ps.parent_pid = s->parent;
	ps.current = p;
	ps.parent_ready = 0;
	ps.made = 0;

	int rc = p->target(p->arg);
	exit_cleanup();
	flush_pending(stdout);
	flush_pending(stderr);
	mp_sys_exit_now(rc & 0xff);
}

/* Start p through the fork server: its pid, or -errno. */
static pid_t spawn(mp_process_t *p, int *fd)
{
	const mp_process_t *me = ps.current;
	struct mp__spawn s = {
		.target = p->target,
		.arg = p->arg,
		.bytes = p->bytes,
		.len = p->len,
		.has_bytes = p->bytes != NULL,
		.fds = p->fds,
		.nfds = p->nfds,
		.daemon = p->daemon,
		.own_tie = p->own_tie,
		.name = p->name,
		.ident = p->ident,
		.parent_name = me->name,
		.parent_ident = me->ident,
		.parent_daemon = me->daemon,
		.parent = p->creator,
	};
	return mp__forkserver_spawn(&s, fd);
}

void mp__process_own_tie(mp_process_t *p)
{
	p->own_tie = true;
}

MP_SYS_FORK_PATH
int mp_process_start(mp_process_t *p)
{
	if (!p)
		return -EINVAL;
	if (p->kind != K_CHILD || is_self(p))
		return -MP_ESTARTED;
	if (ps.current->daemon)
		return -MP_EDAEMONIC;
	/* The heap must exist before the fork for the child to share it. */
	int r = mp__heap_ensure();
	if (r < 0)
		return r;
	pthread_once(&exit_once, register_exit);

	pthread_mutex_lock(&p->mu);
	if (p->closed)
		r = -MP_ECLOSED;
	else if (p->started)
		r = -MP_ESTARTED;
	else if (p->creator != getpid())
		r = -ECHILD;
	if (r < 0) {
		pthread_mutex_unlock(&p->mu);
		return r;
	}
	/* Everything that can be written before the fork is, so that neither
	 * side has to copy these pages afterwards; undone if fork fails. */
	p->started = true;
	if (!list_add(p)) {
		p->started = false;
		pthread_mutex_unlock(&p->mu);
		return -ECANCELED;
	}
	int fd = -1;
	pid_t pid;
	if (mp__context_method(p->ctx) == MP__FORKSERVER) {
		pid = spawn(p, &fd);
	} else {
		/* Flush, or the child would write the buffered output
		 * again. */
		flush_pending(stdout);
		flush_pending(stderr);
		pid = mp_sys_fork_pidfd(&fd);
		if (pid == 0)
			child_main(p, p->creator);
	}
	if (pid > 0) {
		p->pid = pid;
		p->pidfd = fd;
	} else {
		p->started = false;
	}
	pthread_mutex_unlock(&p->mu);
	if (pid < 0)
		list_remove(p);
	return pid < 0 ? pid : 0;
}

int mp_process_run(mp_process_t *p)
{
	if (!p || !p->target)
		return -EINVAL;
	if (p->closed)
		return -MP_ECLOSED;
	return p->target(p->bytes ? p->bytes : p->arg);
}

int mp_process_set_args(mp_process_t *p, const void *data, size_t len)
{
	if (!p || (!data && len) || p->kind != K_CHILD || is_self(p))
		return -EINVAL;
	if (len > MP__SPAWN_ARGS_MAX)
		return -E2BIG;
	if (p->started)
		return -MP_ESTARTED;
	/* One byte more, so that an empty argument is still a buffer. */
	void *copy = malloc(len + 1);
	if (!copy)
		return -ENOMEM;
	if (len)
		memcpy(copy, data, len);
	free(p->bytes);
	p->bytes = copy;
	p->len = len;
	return 0;
}

int mp_process_pass_fd(mp_process_t *p, int fd)
{
	if (!p || fd < 0 || p->kind != K_CHILD || is_self(p))
		return -EINVAL;
	if (p->started)
		return -MP_ESTARTED;
	if (mp_sys_fd_valid(fd) < 0)
		return -EBADF;
	for (unsigned i = 0; i < p->nfds; i++)
		if (p->fds[i] == fd)
			return 0;
	if (p->nfds == MP__SPAWN_FDS_MAX)
		return -E2BIG;
	p->fds[p->nfds++] = fd;
	return 0;
}

int mp_process_set_context(mp_process_t *p, const mp_context_t *ctx)
{
	if (!p || p->kind != K_CHILD || is_self(p))
		return -EINVAL;
	if (p->started)
		return -MP_ESTARTED;
	p->ctx = ctx;
	return 0;
}

/* ---- waiting and signalling ---------------------------------------------- */

int mp_process_join(mp_process_t *p, int64_t timeout_ns)
{
	int64_t deadline;
	struct timespec ts;

	if (!p || mp__deadline(timeout_ns, &deadline) < 0)
		return -EINVAL;
	if (is_self(p))
		return -EDEADLK;
	if (p->kind == K_PARENT)
		return parent_join(deadline);
	if (p->kind == K_MAIN)
		return -ECHILD;
	int r = check_child(p);
	if (r < 0)
		return r;
	if (deadline == MP__NO_DEADLINE && !mp_sys_interruptible()) {
		/* One blocking waitid instead of poll + waitid.  (Not for an
		 * interruptible thread: after an SA_RESTART handler the kernel
		 * restarts waitid itself, where ppoll reports EINTR.) */
		r = reap(p, true);
		return r < 0 ? r : 0;
	}
	r = reap(p, false);
	if (r != 0)
		return r < 0 ? r : 0;
	if (timeout_ns == 0)
		return -EAGAIN;
	r = mp_sys_poll_one(p->pidfd, POLLIN, mp__deadline_ts(deadline, &ts));
	if (r < 0)
		return r;
	if (r == 0)
		return -ETIMEDOUT;
	r = reap(p, false);
	return r < 0 ? r : (r == 1 ? 0 : -ETIMEDOUT);
}

int mp_process_is_alive(mp_process_t *p)
{
	if (!p)
		return -EINVAL;
	if (is_self(p))
		return 1;
	if (p->kind == K_PARENT) {
		int fd = parent_pidfd();
		if (fd < 0)
			return 0;
		int r = mp_sys_poll_one(fd, POLLIN, &(struct timespec){0});
		return r < 0 ? r : r == 0;
	}
	if (p->kind == K_MAIN)
		return -ECHILD;
	if (p->closed)
		return -MP_ECLOSED;
	if (!p->started)
		return 0;
	if (p->creator != getpid())
		return -ECHILD;
	int r = reap(p, false);
	return r < 0 ? r : r == 0;
}

static int send_signal(mp_process_t *p, int sig)
{
	if (!p || is_self(p))
		return -EINVAL;
	if (p->kind != K_CHILD)
		return -ECHILD;
	int r = check_child(p);
	if (r < 0)
		return r;
	pthread_mutex_lock(&p->mu);
	/* Once reaped the pidfd refuses signals (-ESRCH): nothing to do, and
	 * the pid may already belong to somebody else. */
	r = p->reaped ? 0 : mp_sys_pidfd_signal(p->pidfd, sig);
	pthread_mutex_unlock(&p->mu);
	return r == -ESRCH ? 0 : r;
}

int mp_process_terminate(mp_process_t *p)
{
	return send_signal(p, SIGTERM);
}

int mp_process_kill(mp_process_t *p)
{
	return send_signal(p, SIGKILL);
}

/* ---- release ------------------------------------------------------------- */

int mp_process_close(mp_process_t *p)
{
	if (!p || p->kind != K_CHILD || is_self(p))
		return -EINVAL;
	if (p->closed)
		return 0;
	/* Only the creator can reap; elsewhere this is an inherited copy. */
	if (p->started && p->creator == getpid()) {
		int r = reap(p, false);
		if (r == 0)
			return -EBUSY;
	}
	list_remove(p);
	pthread_mutex_lock(&p->mu);
	if (p->pidfd >= 0)
		close(p->pidfd);
	p->pidfd = -1;
	p->closed = true;
	pthread_mutex_unlock(&p->mu);
	return 0;
}

int mp_process_free(mp_process_t *p)
{
	if (!p)
		return 0;
	int r = mp_process_close(p);
	if (r < 0)
		return r;
	pthread_mutex_destroy(&p->mu);
	free(p->bytes);
	object_free(p);
	return 0;
}

/* ---- attributes -------------------------------------------------------- */

pid_t mp_process_pid(const mp_process_t *p)
{
	if (!p)
		return -EINVAL;
	return is_self(p) ? getpid() : p->pid;
}

int mp_process_exitcode(mp_process_t *p, int *code)
{
	if (!p || !code)
		return -EINVAL;
	if (is_self(p))
		return -EAGAIN; /* running: it is us */
	if (p->kind != K_CHILD)
		return -ECHILD; /* only its own parent can know */
	int r = check_child(p);
	if (r < 0)
		return r;
	r = reap(p, false);
	if (r <= 0)
		return r < 0 ? r : -EAGAIN;
	pthread_mutex_lock(&p->mu);
	*code = p->exitcode;
	pthread_mutex_unlock(&p->mu);
	return 0;
}

int mp_process_sentinel(mp_process_t *p)
{
	if (!p || is_self(p))
		return -EINVAL;
	if (p->kind == K_PARENT)
		return parent_pidfd();
	if (p->kind == K_MAIN)
		return -ECHILD;
	if (p->closed)
		return -MP_ECLOSED;
	if (!p->started)
		return -MP_ENOTSTARTED;
	return p->pidfd;
}

const char *mp_process_name(const mp_process_t *p)
{
	return p ? p->name : "";
}

int mp_process_set_name(mp_process_t *p, const char *name)
{
	if (!p || !name)
		return -EINVAL;
	size_t n = strlen(name);
	if (n > NAME_MAX_LEN)
		return -EINVAL;
	/* No lock: in a child, its own object's mu is a copy of a mutex the
	 * parent held across fork.  Renaming while another thread reads the
	 * name is the caller's race, as in Python. */
	memmove(p->name, name, n + 1);
	return 0;
}

int mp_process_daemon(const mp_process_t *p)
{
	return p ? p->daemon : -EINVAL;
}

int mp_process_set_daemon(mp_process_t *p, bool daemon)
{
	if (!p)
		return -EINVAL;
	if (p->kind != K_CHILD || is_self(p) || p->started)
		return -MP_ESTARTED;
	p->daemon = daemon;
	return 0;
}

mp_process_t *mp_current_process(void)
{
	return ps.current;
}

mp_process_t *mp_parent_process(void)
{
	return parent_object();
}

/* ---- the family ---------------------------------------------------------- */

int mp_active_children(mp_process_t **out, size_t cap)
{
	int n = 0;

	if (!out && cap > 0)
		return -EINVAL;
	mp_sys_mutex_lock(&ps.lock);
	for (mp_process_t *p = ps.children; p; p = p->next_child) {
		if (reap(p, false) != 0)
			continue; /* finished (now reaped) or unusable */
		if ((size_t)n < cap)
			out[n] = p;
		n++;
	}
	mp_sys_mutex_unlock(&ps.lock);
	return n;
}

bool mp__process_exiting(void)
{
	return atomic_load_explicit(&ps.exiting, memory_order_relaxed);
}

/*
 * At normal exit, as Python does: terminate the daemonic children, then wait
 * for every child.  Also run by a child after its target returns.  The
 * children list stays locked throughout, so that no other thread of ours
 * (a pool's supervisor, say) frees or replaces a child under us; and
 * `exiting`, set before the lock is taken, makes mp_process_start refuse
 * from then on (list_add).  A process with no child listed returns at
 * once and sets nothing: a thread starting its first child just then
 * could still leave that one behind (it dies with the thread, by its
 * death signal).
 */
MP_SYS_FORK_PATH
static void exit_cleanup(void)
{
	if (!ps.children)
		return; /* the common case: nothing to write, no lock taken */
	atomic_store(&ps.exiting, true);
	mp_sys_mutex_lock(&ps.lock);
	size_t n = 0, k = 0;
	for (mp_process_t *p = ps.children; p; p = p->next_child)
		n++;
	mp_process_t **kids = calloc(n ? n : 1, sizeof(*kids));
	for (mp_process_t *p = ps.children; kids && p; p = p->next_child)
		if (reap(p, false) == 0)
			kids[k++] = p;
	for (size_t i = 0; i < k; i++)
		if (kids[i]->daemon)
			(void)mp_process_terminate(kids[i]);
	for (size_t i = 0; i < k; i++)
		(void)mp_process_join(kids[i], MP_FOREVER);
	mp_sys_mutex_unlock(&ps.lock);
	free(kids);
}

int mp_cpu_count(void)
{
	return mp_sys_cpu_count();
}
