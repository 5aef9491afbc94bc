/*
 * forkserver.c - start methods, contexts, the target registry, and the
 * fork server: a single-threaded copy of the program, forked early, that
 * forks children on request (mproc/context.h has the model).
 *
 * Protocol, on an AF_UNIX SOCK_SEQPACKET pair (one message per record):
 *   parent -> server: struct request, then the argument bytes, with the
 *                     descriptors to pass as one SCM_RIGHTS message;
 *   server -> parent: struct reply, with the child's pidfd (SCM_RIGHTS)
 *                     when it started, or an error and nothing.
 * One request at a time (fs.lock, held from send to reply).  The server
 * makes the child with clone3(CLONE_PARENT | CLONE_PIDFD): it is our child,
 * so we reap it and read its exit status ourselves, exactly as with fork.
 *
 * The server runs only targets it finds by name in its own copy of the
 * registry (rule 10: nothing executes code that came from a message); the
 * parent finds the name by address in its registry.
 *
 * Its life: it reads until its socket closes - when this process exits or
 * dies, or stops it - then exits.  Every other process must not hold our
 * end: children forked by us close it in the atfork child handler, and a
 * fork taken while the pair is being made waits for fds_lock.
 */
#include "internal.h"
#include "rawcall.h"

#include <sys/syscall.h>

#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* ---- contexts ------------------------------------------------------------ */

struct mp_context {
	const char *name;
	int method;
};

static const mp_context_t contexts[] = {
	{ "fork", MP__FORK },
	{ "forkserver", MP__FORKSERVER },
};

static _Atomic(const mp_context_t *) default_ctx;
static _Atomic bool default_set;

static const mp_context_t *context_named(const char *method)
{
	for (size_t i = 0; i < sizeof(contexts) / sizeof(contexts[0]); i++)
		if (method && strcmp(method, contexts[i].name) == 0)
			return &contexts[i];
	return NULL;
}

static const mp_context_t *current_default(void)
{
	const mp_context_t *c = atomic_load_explicit(&default_ctx,
	                                             memory_order_acquire);
	return c ? c : &contexts[MP__FORK];
}

const mp_context_t *mp_get_context(const char *method, int *err)
{
	if (!method)
		return current_default();
	const mp_context_t *c = context_named(method);
	if (!c && err)
		*err = -EINVAL;
	return c;
}

const char *mp_context_method(const mp_context_t *ctx)
{
	return ctx ? ctx->name : current_default()->name;
}

int mp_set_start_method(const char *method, bool force)
{
	const mp_context_t *c = context_named(method);
	if (!c)
		return -EINVAL;
	if (atomic_exchange(&default_set, true) && !force)
		return -EBUSY;
	/* Release: pairs with current_default()'s acquire (static data). */
	atomic_store_explicit(&default_ctx, c, memory_order_release);
	return 0;
}

const char *mp_get_start_method(void)
{
	return current_default()->name;
}

int mp__context_method(const mp_context_t *ctx)
{
	return ctx ? ctx->method : current_default()->method;
}

/* ---- the registry -------------------------------------------------------- */

#define NAME_LEN 64
#define REG_MAX 256

static struct {
	_Atomic uint32_t lock;
	unsigned n;
	struct reg { char name[NAME_LEN]; mp_target_t fn; } e[REG_MAX];
} reg = {
	/* The library's own: pool workers. */
	.n = 1,
	.e = { { "mproc.pool_worker", mp__pool_worker_main } },
};

int mp_target_register(const char *name, mp_target_t fn)
{
	if (!name || !fn || !name[0] || strlen(name) >= NAME_LEN)
		return -EINVAL;
	int r = 0;
	mp_sys_mutex_lock(&reg.lock);
	for (unsigned i = 0; i < reg.n; i++) {
		if (strcmp(reg.e[i].name, name) == 0) {
			r = reg.e[i].fn == fn ? 1 : -EEXIST;
			break;
		}
	}
	if (r == 0 && reg.n == REG_MAX)
		r = -ENOSPC;
	if (r == 0) {
		memcpy(reg.e[reg.n].name, name, strlen(name) + 1);
		reg.e[reg.n].fn = fn;
		reg.n++;
	}
	mp_sys_mutex_unlock(&reg.lock);
	return r < 0 ? r : 0;
}

/* The name fn is registered under, copied to out; -MP_ETARGET if none. */
static int name_of(mp_target_t fn, char out[NAME_LEN])
{
	int r = -MP_ETARGET;
	mp_sys_mutex_lock(&reg.lock);
	for (unsigned i = 0; i < reg.n && r < 0; i++) {
		if (reg.e[i].fn == fn) {
			memcpy(out, reg.e[i].name, NAME_LEN);
			r = 0;
		}
	}
	mp_sys_mutex_unlock(&reg.lock);
	return r;
}

/* In the server (single-threaded): the function registered as name. */
static mp_target_t target_named(const char *name)
{
	for (unsigned i = 0; i < reg.n; i++)
		if (strcmp(reg.e[i].name, name) == 0)
			return reg.e[i].fn;
	return NULL;
}

/* ---- the protocol -------------------------------------------------------- */

#define REQ_MAGIC 0x6d706673u /* "mpfs" */
#define STR_NAME 256
#define STR_IDENT 96

enum {
	REQ_DAEMON = 0x1,
	REQ_OWN_TIE = 0x2,
	REQ_BYTES = 0x4,      /* arg is the bytes that follow */
	REQ_PARENT_DAEMON = 0x8,
};

struct request {
	uint32_t magic;
	uint32_t flags;
	int32_t parent;
	uint32_t nfds;
	int32_t fdnum[MP__SPAWN_FDS_MAX]; /* numbers in the child */
	uint64_t arg;                     /* the pointer, without REQ_BYTES */
	uint64_t len;                     /* bytes following, with it */
	char target[NAME_LEN];
	char name[STR_NAME], ident[STR_IDENT];
	char parent_name[STR_NAME], parent_ident[STR_IDENT];
};

struct reply {
	int32_t err;
	int32_t pid;
};

/* dst = src, truncated and terminated (both sides trust no length). */
static void copy_str(char *dst, size_t cap, const char *src)
{
	size_t n = src ? strnlen(src, cap - 1) : 0;
	memcpy(dst, src ? src : "", n);
	dst[n] = 0;
}

/* ---- the server ---------------------------------------------------------- */

/* The server's receive buffer: a request and its largest argument. */
static char *srv_buf;

/*
 * A shared word (mapped before the first server is forked, kept for the
 * process's life) where the kernel writes the pid of each child the server
 * makes (CLONE_PARENT_SETTID), as part of the clone.  The parent zeroes it
 * before each request; when the server dies before its reply, the word
 * tells whether the child exists (then it is ours: we take it) or not
 * (then nothing ran, and the request is sent again to a new server).
 */
static _Atomic pid_t *note;

/*
 * In the server's new child: the passed descriptors at their numbers, the
 * server's socket gone, then the process itself (process.c).
 */
MP_SYS_FORK_PATH
static _Noreturn void child_start(int sock, const struct request *rq,
                                  const struct mp_sys_fds *got,
                                  mp_target_t fn)
{
	(void)mp_sys_raw(SYS_close, sock, 0, 0, 0); /* rawcall.h: no libc */
	if (rq->nfds &&
	    mp_sys_fds_renumber(got->fd, rq->fdnum, rq->nfds) < 0)
		mp_sys_exit_now(127);
	mp_sys_unblock_all();
	struct mp__spawn s = {
		.target = fn,
		.arg = (rq->flags & REQ_BYTES) ? (void *)(rq + 1)
		                               : (void *)(uintptr_t)rq->arg,
		.daemon = rq->flags & REQ_DAEMON,
		.own_tie = rq->flags & REQ_OWN_TIE,
		.name = rq->name,
		.ident = rq->ident,
		.parent_name = rq->parent_name,
		.parent_ident = rq->parent_ident,
		.parent_daemon = rq->flags & REQ_PARENT_DAEMON,
		.parent = rq->parent,
	};
	mp__process_spawned(&s);
}

static void send_reply(int sock, int err, pid_t pid, int pidfd)
{
	struct reply rp = { .err = err, .pid = pid };
	struct iovec iov = { &rp, sizeof(rp) };
	if (pidfd >= 0)
		(void)mp_sys_send_fds(sock, &rp, sizeof(rp), &pidfd, 1, false);
	else
		(void)mp_sys_writev(sock, &iov, 1, true, false);
}

/* One request: check it, fork its child, answer. */
static void serve_one(int sock, ssize_t n, const struct mp_sys_fds *got)
{
	struct request *rq = (struct request *)(void *)srv_buf;
	mp_target_t fn = NULL;
	int err = 0;

	if ((size_t)n < sizeof(*rq) || rq->magic != REQ_MAGIC ||
	    rq->nfds > MP__SPAWN_FDS_MAX || rq->nfds != got->n ||
	    got->ctrunc || rq->len != (uint64_t)n - sizeof(*rq))
		err = -EPROTO;
	if (!err) {
		rq->target[NAME_LEN - 1] = rq->name[STR_NAME - 1] = 0;
		rq->ident[STR_IDENT - 1] = rq->parent_name[STR_NAME - 1] = 0;
		rq->parent_ident[STR_IDENT - 1] = 0;
		fn = target_named(rq->target);
		if (!fn)
			err = -MP_ETARGET;
	}
	if (err) {
		send_reply(sock, err, 0, -1);
		return;
	}
	int pidfd = -1;
	pid_t pid = mp_sys_spawn_sibling(&pidfd, note);
	if (pid == 0)
		child_start(sock, rq, got, fn);
	send_reply(sock, pid < 0 ? pid : 0, pid > 0 ? pid : 0, pidfd);
	if (pidfd >= 0)
		close(pidfd);
}

/*
 * The server's loop.  It holds nothing of the program's but its memory:
 * every inherited descriptor but 0-2 and its socket is closed, so that no
 * pipe the program opened stays open in it or in its children.
 */
static _Noreturn void server_main(int sock)
{
	if (sock != 3) {
		if (dup2(sock, 3) < 0)
			mp_sys_exit_now(1);
		sock = 3;
	}
	(void)mp_sys_close_from(4);
	srv_buf = malloc(sizeof(struct request) + MP__SPAWN_ARGS_MAX);
	if (!srv_buf)
		mp_sys_exit_now(1);
	for (;;) {
		struct mp_sys_fds got;
		ssize_t n = mp_sys_recv_fds(sock, srv_buf,
		                            sizeof(struct request) +
		                            MP__SPAWN_ARGS_MAX, &got, false);
		if (n <= 0)
			mp_sys_exit_now(0); /* the program has gone */
		serve_one(sock, n, &got);
		for (unsigned i = 0; i < got.n && i < MP_SYS_FDS_MAX; i++)
			close(got.fd[i]);
	}
}

/* ---- the parent's side --------------------------------------------------- */

static struct {
	_Atomic uint32_t lock;     /* one request at a time; guards all */
	_Atomic uint32_t fds_lock; /* pend[] stays still across a fork */
	int pend[2];               /* the pair, while the server is forked */
	int sock;                  /* our end; -1: no server */
	int pidfd;                 /* the server's */
	pid_t pid;
} fs = { .pend = { -1, -1 }, .sock = -1, .pidfd = -1 };

/* Set in the thread forking the server: its fork handlers leave fds_lock
 * (which it holds) alone, and the new server keeps its end. */
static _Thread_local bool forking_server
	__attribute__((tls_model("initial-exec")));

static void close_fd(int *fd)
{
	if (*fd >= 0)
		close(*fd);
	*fd = -1;
}

static void before_fork(void)
{
	if (!forking_server)
		mp_sys_mutex_lock(&fs.fds_lock);
}

static void after_fork_parent(void)
{
	if (!forking_server)
		mp_sys_mutex_unlock(&fs.fds_lock);
}

/* A child is another process: the server is not its server. */
MP_SYS_FORK_PATH
static void after_fork_child(void)
{
	mp_sys_mutex_reset(&fs.fds_lock);
	mp_sys_mutex_reset(&fs.lock);
	close_fd(&fs.pend[0]);
	if (!forking_server) {
		close_fd(&fs.pend[1]);
		note = NULL; /* the parent's: a server of ours needs its own */
	}
	close_fd(&fs.sock);
	close_fd(&fs.pidfd);
	fs.pid = 0;
}

static pthread_once_t atfork_once = PTHREAD_ONCE_INIT;

static void register_atfork(void)
{
	(void)pthread_atfork(before_fork, after_fork_parent,
	                     after_fork_child);
}

/* Kill and reap the server (it died, or is to go).  Under fs.lock. */
static void server_drop(void)
{
	int code;
	if (fs.pidfd >= 0) {
		(void)mp_sys_pidfd_signal(fs.pidfd, SIGKILL);
		(void)mp_sys_pidfd_reap(fs.pidfd, true, &code);
	}
	close_fd(&fs.sock);
	close_fd(&fs.pidfd);
	fs.pid = 0;
}

/* Start the server.  Under fs.lock. */
static int server_start(void)
{
	int r = mp__heap_ensure(); /* shared with it and all it forks */
	if (r < 0)
		return r;
	if (!note && !(note = mp_sys_map_shared(sizeof(*note), &r)))
		return r;
	mp__atfork_register();
	pthread_once(&atfork_once, register_atfork);
	mp_sys_mutex_lock(&fs.fds_lock);
	int sv[2];
	r = mp_sys_socketpair_seq(sv);
	if (r < 0) {
		mp_sys_mutex_unlock(&fs.fds_lock);
		return r;
	}
	fs.pend[0] = sv[0];
	fs.pend[1] = sv[1];
	forking_server = true;
	int pidfd = -1;
	pid_t pid = mp_sys_fork_pidfd(&pidfd);
	if (pid == 0) {
		int sock = fs.pend[1];
		fs.pend[1] = -1;
		forking_server = false;
		server_main(sock);
	}
	forking_server = false;
	close_fd(&fs.pend[1]);
	if (pid > 0) {
		fs.sock = fs.pend[0];
		fs.pidfd = pidfd;
		fs.pid = pid;
		fs.pend[0] = -1;
	} else {
		close_fd(&fs.pend[0]);
	}
	mp_sys_mutex_unlock(&fs.fds_lock);
	return pid < 0 ? pid : 0;
}

int mp_forkserver_start(void)
{
	int r = 0;
	mp_sys_mutex_lock(&fs.lock);
	if (fs.sock < 0)
		r = server_start();
	mp_sys_mutex_unlock(&fs.lock);
	return r;
}

pid_t mp_forkserver_pid(void)
{
	mp_sys_mutex_lock(&fs.lock);
	pid_t pid = fs.pid;
	mp_sys_mutex_unlock(&fs.lock);
	return pid;
}

int mp_forkserver_stop(void)
{
	mp_sys_mutex_lock(&fs.lock);
	server_drop();
	mp_sys_mutex_unlock(&fs.lock);
	return 0;
}

/* The request for s, argument bytes included, in a malloc'd buffer. */
static struct request *request_new(const struct mp__spawn *s, size_t *len,
                                   int *err)
{
	size_t extra = s->has_bytes ? s->len : 0;
	struct request *rq = calloc(1, sizeof(*rq) + extra);
	if (!rq) {
		*err = -ENOMEM;
		return NULL;
	}
	*err = name_of(s->target, rq->target);
	if (*err < 0) {
		free(rq);
		return NULL;
	}
	rq->magic = REQ_MAGIC;
	rq->flags = (s->daemon ? REQ_DAEMON : 0) |
	            (s->own_tie ? REQ_OWN_TIE : 0) |
	            (s->has_bytes ? REQ_BYTES : 0) |
	            (s->parent_daemon ? REQ_PARENT_DAEMON : 0);
	rq->parent = s->parent;
	rq->nfds = s->nfds;
	for (unsigned i = 0; i < s->nfds; i++)
		rq->fdnum[i] = s->fds[i];
	rq->arg = (uint64_t)(uintptr_t)s->arg;
	rq->len = extra;
	if (extra)
		memcpy(rq + 1, s->bytes, extra);
	copy_str(rq->name, STR_NAME, s->name);
	copy_str(rq->ident, STR_IDENT, s->ident);
	copy_str(rq->parent_name, STR_NAME, s->parent_name);
	copy_str(rq->parent_ident, STR_IDENT, s->parent_ident);
	*len = sizeof(*rq) + extra;
	return rq;
}

static ssize_t send_request(const struct request *rq, size_t len,
                            const struct mp__spawn *s)
{
	if (s->nfds)
		return mp_sys_send_fds(fs.sock, rq, len, s->fds, s->nfds,
		                       false);
	struct iovec iov = { (void *)rq, len };
	return mp_sys_writev(fs.sock, &iov, 1, true, false);
}

/*
 * One try: send (starting the server first if needed), take the reply.
 * The pid (with *pidfd), the server's error, or -MP_ESERVER when the
 * server was gone and no child was made: then it is safe to try again.
 */
static pid_t exchange(const struct request *rq, size_t len,
                      const struct mp__spawn *s, int *pidfd)
{
	if (fs.sock < 0) {
		int r = server_start();
		if (r < 0)
			return r;
	}
	atomic_store_explicit(note, 0, memory_order_relaxed);
	ssize_t n = send_request(rq, len, s);
	if (n != (ssize_t)len) {
		if (n >= 0 || (n != -EPIPE && n != -ECONNRESET))
			return n >= 0 ? -EPROTO : (pid_t)n;
		server_drop(); /* it took nothing */
		return -MP_ESERVER;
	}
	struct reply rp;
	struct mp_sys_fds got = { .n = 0 };
	n = mp_sys_recv_fds(fs.sock, &rp, sizeof(rp), &got, false);
	if (n == (ssize_t)sizeof(rp) && rp.err == 0 && got.n == 1) {
		*pidfd = got.fd[0];
		return rp.pid;
	}
	if (n == (ssize_t)sizeof(rp) && rp.err < 0 && got.n == 0)
		return rp.err;
	/* End of file, an error or nonsense: the server is gone, or is made
	 * to go.  Once it is reaped, no clone of its can be under way, so
	 * the note is final (the kernel wrote it within the clone). */
	for (unsigned i = 0; i < got.n && i < MP_SYS_FDS_MAX; i++)
		close(got.fd[i]);
	server_drop();
	pid_t pid = atomic_load_explicit(note, memory_order_relaxed);
	if (pid <= 0)
		return -MP_ESERVER;
	/* Our child, unreaped: its pid cannot have been reused. */
	int fd = mp_sys_pidfd_open(pid, 0);
	if (fd < 0)
		return fd;
	*pidfd = fd;
	return pid;
}

#define TRIES 3

pid_t mp__forkserver_spawn(const struct mp__spawn *s, int *pidfd)
{
	int err;
	size_t len;

	if ((s->has_bytes && s->len > MP__SPAWN_ARGS_MAX) ||
	    s->nfds > MP__SPAWN_FDS_MAX)
		return -E2BIG;
	struct request *rq = request_new(s, &len, &err);
	if (!rq)
		return err;
	mp_sys_mutex_lock(&fs.lock);
	pid_t r = -MP_ESERVER;
	for (int i = 0; i < TRIES && r == -MP_ESERVER; i++)
		r = exchange(rq, len, s, pidfd);
	mp_sys_mutex_unlock(&fs.lock);
	free(rq);
	return r;
}
