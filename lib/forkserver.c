/*
 * forkserver.c - start methods, contexts, the target registry, and the
 * fork server: a single-threaded copy of the program, forked early, that
 * forks children on request (mproc/context.h has the model).
 *
 * Spares.  The fork is most of a start's cost (a fork and the new
 * process's first page faults take several hundred us on a VM, where
 * page-table changes trap), so the server forks each child before it is
 * needed: a spare, blank, blocked on a socket of its own.  The parent
 * holds at most one spare.  A start sends its request (target, argument
 * bytes, descriptors) straight to the spare, which becomes the process,
 * and asks the server for the next spare at once: that fork happens while
 * the new child runs, and the next start finds it ready.
 *
 * Protocol, on AF_UNIX SOCK_SEQPACKET pairs (one message per record):
 *   parent -> server: struct ask;
 *   server -> parent: struct reply, with the spare's pidfd and its socket
 *                     (SCM_RIGHTS), or an error and nothing;
 *   parent -> spare:  struct request, then the argument bytes, with the
 *                     descriptors to pass as one SCM_RIGHTS message.
 * One ask at a time (fs.lock).  The server makes the spare with
 * clone3(CLONE_PARENT | CLONE_PIDFD): it is our child, so we reap it and
 * read its exit status ourselves, exactly as with fork.
 *
 * A spare runs only targets it finds by name in its own copy of the
 * registry (rule 10: nothing executes code that came from a message); the
 * parent finds the name by address in its registry and knows how many
 * entries the server's copy has.
 *
 * Lives: the server reads until its socket closes - when this process
 * exits or dies, or stops it - then exits; a spare waits until its request
 * comes or its socket closes (then it exits unused).  Every other process
 * must not hold our ends: children forked by us close them in the atfork
 * child handler, and a fork taken while the pair is being made waits for
 * fds_lock.
 */
#include "internal.h"

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

/* The name fn is registered under, copied to out, and its place in the
 * registry (entries are only appended); -MP_ETARGET if none. */
static int name_of(mp_target_t fn, char out[NAME_LEN])
{
	int r = -MP_ETARGET;
	mp_sys_mutex_lock(&reg.lock);
	for (unsigned i = 0; i < reg.n && r < 0; i++) {
		if (reg.e[i].fn == fn) {
			memcpy(out, reg.e[i].name, NAME_LEN);
			r = (int)i;
		}
	}
	mp_sys_mutex_unlock(&reg.lock);
	return r;
}

static unsigned registered(void)
{
	mp_sys_mutex_lock(&reg.lock);
	unsigned n = reg.n;
	mp_sys_mutex_unlock(&reg.lock);
	return n;
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

#define ASK_MAGIC 0x6d707370u /* "mpsp" */
#define REQ_MAGIC 0x6d706673u /* "mpfs" */
#define STR_NAME 256
#define STR_IDENT 96

enum {
	REQ_DAEMON = 0x1,
	REQ_OWN_TIE = 0x2,
	REQ_BYTES = 0x4,      /* arg is the bytes that follow */
	REQ_PARENT_DAEMON = 0x8,
};

struct ask {
	uint32_t magic;
};

struct reply {
	int32_t err;
	int32_t pid;
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

/* dst = src, truncated and terminated (both sides trust no length). */
static void copy_str(char *dst, size_t cap, const char *src)
{
	size_t n = src ? strnlen(src, cap - 1) : 0;
	memcpy(dst, src ? src : "", n);
	dst[n] = 0;
}

/* ---- the server and its spares ------------------------------------------- */

/* The receive buffer of the server and of its spares: a request and its
 * largest argument. */
static char *srv_buf;

/*
 * A shared word (mapped before the first server is forked, kept for the
 * process's life) where the kernel writes the pid of each spare the server
 * makes (CLONE_PARENT_SETTID), as part of the clone.  The parent zeroes it
 * before each ask; when the server dies before its reply, the word tells
 * whether a spare exists that nobody will ever hand over (then it is ours,
 * unreaped: the parent ends it).
 */
static _Atomic pid_t *note;

/* In a spare: the target of a request as the parent sends them, else NULL. */
static mp_target_t request_check(struct request *rq, ssize_t n,
                                 const struct mp_sys_fds *got)
{
	if ((size_t)n < sizeof(*rq) || rq->magic != REQ_MAGIC ||
	    rq->nfds > MP__SPAWN_FDS_MAX || rq->nfds != got->n ||
	    got->ctrunc || rq->len != (uint64_t)n - sizeof(*rq))
		return NULL;
	rq->target[NAME_LEN - 1] = rq->name[STR_NAME - 1] = 0;
	rq->ident[STR_IDENT - 1] = rq->parent_name[STR_NAME - 1] = 0;
	rq->parent_ident[STR_IDENT - 1] = 0;
	return target_named(rq->target);
}

/*
 * In a spare given its request: the passed descriptors at their numbers,
 * its socket gone, then the process itself (process.c).
 */
static _Noreturn void child_start(int sock, const struct request *rq,
                                  const struct mp_sys_fds *got,
                                  mp_target_t fn)
{
	close(sock);
	if (mp_sys_fds_renumber(got->fd, rq->fdnum, rq->nfds) < 0)
		mp_sys_exit_now(127);
	sigset_t none;
	sigemptyset(&none);
	(void)pthread_sigmask(SIG_SETMASK, &none, NULL);
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

/* A spare's life: its request, or end of file when the parent lets it go
 * (it then ends unused; the parent reaps it). */
static _Noreturn void spare_main(int sock)
{
	struct mp_sys_fds got;
	ssize_t n = mp_sys_recv_fds(sock, srv_buf, sizeof(struct request) +
	                            MP__SPAWN_ARGS_MAX, &got, false);
	if (n <= 0)
		mp_sys_exit_now(0);
	struct request *rq = (struct request *)(void *)srv_buf;
	mp_target_t fn = request_check(rq, n, &got);
	if (!fn)
		mp_sys_exit_now(127); /* the parent checked: cannot happen */
	child_start(sock, rq, &got, fn);
}

static void send_reply(int sock, int err, pid_t pid, const int *fds,
                       unsigned nfds)
{
	struct reply rp = { .err = err, .pid = pid };
	struct iovec iov = { &rp, sizeof(rp) };
	if (nfds)
		(void)mp_sys_send_fds(sock, &rp, sizeof(rp), fds, nfds, false);
	else
		(void)mp_sys_writev(sock, &iov, 1, true, false);
}

/* One ask: fork a spare with a socket of its own, hand both over. */
static void serve_one(int sock, ssize_t n, const struct mp_sys_fds *got)
{
	const struct ask *a = (const struct ask *)(void *)srv_buf;
	int sp[2], pidfd = -1;

	if (n != (ssize_t)sizeof(*a) || a->magic != ASK_MAGIC || got->n) {
		send_reply(sock, -EPROTO, 0, NULL, 0);
		return;
	}
	int r = mp_sys_socketpair_seq(sp);
	if (r < 0) {
		send_reply(sock, r, 0, NULL, 0);
		return;
	}
	pid_t pid = mp_sys_spawn_sibling(&pidfd, note);
	if (pid == 0) {
		close(sock);
		close(sp[0]);
		spare_main(sp[1]);
	}
	close(sp[1]);
	int fds[2] = { pidfd, sp[0] };
	send_reply(sock, pid < 0 ? pid : 0, pid > 0 ? pid : 0, fds,
	           pid > 0 ? 2 : 0);
	close(sp[0]);
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
		ssize_t n = mp_sys_recv_fds(sock, srv_buf, sizeof(struct ask),
		                            &got, false);
		if (n <= 0)
			mp_sys_exit_now(0); /* the program has gone */
		serve_one(sock, n, &got);
		for (unsigned i = 0; i < got.n && i < MP_SYS_FDS_MAX; i++)
			close(got.fd[i]);
	}
}

/* ---- the parent's side --------------------------------------------------- */

static struct {
	_Atomic uint32_t lock;     /* one start at a time; guards all */
	_Atomic uint32_t fds_lock; /* pend[] stays still across a fork */
	int pend[2];               /* the pair, while the server is forked */
	int sock;                  /* our end; -1: no server */
	int pidfd;                 /* the server's */
	pid_t pid;
	unsigned reg_n;            /* registry entries the server has */
	bool asked;                /* a spare asked for, not taken yet */
	/* The spare we hold (pid 0: none): its pidfd, our end of its
	 * socket. */
	struct { pid_t pid; int pidfd, sock; } spare;
} fs = { .pend = { -1, -1 }, .sock = -1, .pidfd = -1,
         .spare = { 0, -1, -1 } };

/* Set in the thread forking the server: its fork handlers leave fds_lock
 * (which it holds) alone, and the new server keeps its end. */
static _Thread_local bool forking_server;

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

/* A child is another process: the server and the spare are not its. */
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
	close_fd(&fs.spare.sock);
	close_fd(&fs.spare.pidfd);
	fs.spare.pid = 0;
	fs.asked = false;
	fs.pid = 0;
}

static pthread_once_t atfork_once = PTHREAD_ONCE_INIT;

static void register_atfork(void)
{
	(void)pthread_atfork(before_fork, after_fork_parent,
	                     after_fork_child);
}

/* End a child of ours that never became a process: kill it, reap it. */
static void end_unused(int pidfd)
{
	int code;
	(void)mp_sys_pidfd_signal(pidfd, SIGKILL);
	(void)mp_sys_pidfd_reap(pidfd, true, &code);
}

/* Let the spare we hold go. */
static void spare_drop(void)
{
	if (!fs.spare.pid)
		return;
	end_unused(fs.spare.pidfd);
	close_fd(&fs.spare.pidfd);
	close_fd(&fs.spare.sock);
	fs.spare.pid = 0;
}

/* The server's answer to our ask: 0 with the spare held, its error, or
 * -MP_ESERVER for end of file or nonsense (the ask stays open then:
 * server_drop settles it); -EAGAIN when nowait and none yet. */
static int spare_take(bool nowait)
{
	struct reply rp;
	struct mp_sys_fds got = { .n = 0 };
	ssize_t n = mp_sys_recv_fds(fs.sock, &rp, sizeof(rp), &got, nowait);

	if (n == -EAGAIN)
		return -EAGAIN;
	if (n == (ssize_t)sizeof(rp) && rp.err == 0 && rp.pid > 0 &&
	    got.n == 2 && !got.ctrunc) {
		fs.asked = false;
		fs.spare.pid = rp.pid;
		fs.spare.pidfd = got.fd[0];
		fs.spare.sock = got.fd[1];
		return 0;
	}
	for (unsigned i = 0; i < got.n && i < MP_SYS_FDS_MAX; i++)
		close(got.fd[i]);
	if (n == (ssize_t)sizeof(rp) && rp.err < 0 && got.n == 0) {
		fs.asked = false;
		return rp.err;
	}
	return -MP_ESERVER;
}

/*
 * Kill and reap the server (it died, misbehaved, or is to go).  An ask it
 * has not answered is settled: once the server is reaped its answer, if
 * it sent one, is in the socket; if not, the note says whether it forked
 * the spare (the kernel writes the note within the clone, and no clone of
 * a reaped process can be under way).  Such a spare is ours, unreaped, so
 * its pid is still its own: it is ended.  Under fs.lock.
 */
static void server_drop(void)
{
	int code;
	if (fs.pidfd >= 0) {
		(void)mp_sys_pidfd_signal(fs.pidfd, SIGKILL);
		(void)mp_sys_pidfd_reap(fs.pidfd, true, &code);
	}
	if (fs.asked && fs.sock >= 0 && spare_take(true) != 0) {
		pid_t pid = atomic_load_explicit(note, memory_order_relaxed);
		int fd = pid > 0 ? mp_sys_pidfd_open(pid, 0) : -1;
		if (fd >= 0) {
			end_unused(fd);
			close(fd);
		}
	}
	fs.asked = false;
	close_fd(&fs.sock);
	close_fd(&fs.pidfd);
	fs.pid = 0;
}

/* Start the server.  A spare still held was made by an earlier server
 * (dead or stopped): it goes, so every spare knows what the server knows.
 * Under fs.lock. */
static int server_start(void)
{
	int r = mp__heap_ensure(); /* shared with it and all it forks */
	if (r < 0)
		return r;
	if (!note && !(note = mp_sys_map_shared(sizeof(*note), &r)))
		return r;
	spare_drop();
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
	/* Read before the fork: the server's copy has at least these. */
	unsigned reg_n = registered();
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
		fs.reg_n = reg_n;
		fs.pend[0] = -1;
	} else {
		close_fd(&fs.pend[0]);
	}
	mp_sys_mutex_unlock(&fs.fds_lock);
	return pid < 0 ? pid : 0;
}

/* Ask the server for a spare (starting the server if there is none); the
 * answer is taken by spare_take.  Under fs.lock, no ask open. */
static int spare_ask(void)
{
	if (fs.sock < 0) {
		int r = server_start();
		if (r < 0)
			return r;
	}
	atomic_store_explicit(note, 0, memory_order_relaxed);
	struct ask a = { .magic = ASK_MAGIC };
	struct iovec iov = { &a, sizeof(a) };
	ssize_t n = mp_sys_writev(fs.sock, &iov, 1, true, false);
	if (n == (ssize_t)sizeof(a)) {
		fs.asked = true;
		return 0;
	}
	if (n >= 0 || n == -EPIPE || n == -ECONNRESET) {
		server_drop(); /* it took nothing */
		return -MP_ESERVER;
	}
	return (int)n;
}

/* Hold a spare: the one asked for, or a new one.  0, or an error
 * (-MP_ESERVER: the server died first; worth another try). */
static int spare_ready(void)
{
	if (fs.spare.pid)
		return 0;
	int r = fs.asked ? 0 : spare_ask();
	if (r == 0)
		r = spare_take(false);
	if (r == -MP_ESERVER)
		server_drop();
	return r;
}

int mp_forkserver_start(void)
{
	int r = 0;
	mp_sys_mutex_lock(&fs.lock);
	if (fs.sock < 0)
		r = server_start();
	/* The first spare, made while the program goes on. */
	if (r == 0 && !fs.asked && !fs.spare.pid)
		(void)spare_ask();
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

pid_t mp__forkserver_spare(void)
{
	mp_sys_mutex_lock(&fs.lock);
	if (!fs.spare.pid && fs.asked && spare_take(false) == -MP_ESERVER)
		server_drop();
	pid_t pid = fs.spare.pid;
	mp_sys_mutex_unlock(&fs.lock);
	return pid;
}

int mp_forkserver_stop(void)
{
	mp_sys_mutex_lock(&fs.lock);
	server_drop();
	spare_drop();
	mp_sys_mutex_unlock(&fs.lock);
	return 0;
}

/* The request for s, argument bytes included, in a malloc'd buffer; the
 * target's place in the registry in *target. */
static struct request *request_new(const struct mp__spawn *s, size_t *len,
                                   int *target, int *err)
{
	size_t extra = s->has_bytes ? s->len : 0;
	struct request *rq = calloc(1, sizeof(*rq) + extra);
	if (!rq) {
		*err = -ENOMEM;
		return NULL;
	}
	*err = *target = name_of(s->target, rq->target);
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

/*
 * Send the request to the spare we hold: once it is in the spare's
 * socket, the spare is the process (killed now, it is a started process
 * that was killed, as a forked child killed after fork).  Its pid with
 * *pidfd; -MP_ESERVER when the spare had died (it took nothing: it is
 * reaped, try another); another error of the send keeps the spare.
 */
static pid_t spare_use(const struct request *rq, size_t len,
                       const struct mp__spawn *s, int *pidfd)
{
	struct iovec iov = { (void *)rq, len };
	ssize_t n = s->nfds ? mp_sys_send_fds(fs.spare.sock, rq, len, s->fds,
	                                      s->nfds, false)
	                    : mp_sys_writev(fs.spare.sock, &iov, 1, true,
	                                    false);
	if (n == (ssize_t)len) {
		pid_t pid = fs.spare.pid;
		*pidfd = fs.spare.pidfd;
		fs.spare.pidfd = -1;
		fs.spare.pid = 0;
		close_fd(&fs.spare.sock);
		return pid;
	}
	if (n >= 0 || n == -EPIPE || n == -ECONNRESET) {
		spare_drop();
		return -MP_ESERVER;
	}
	return (pid_t)n;
}

#define TRIES 3

pid_t mp__forkserver_spawn(const struct mp__spawn *s, int *pidfd)
{
	int err, target;
	size_t len;

	if ((s->has_bytes && s->len > MP__SPAWN_ARGS_MAX) ||
	    s->nfds > MP__SPAWN_FDS_MAX)
		return -E2BIG;
	struct request *rq = request_new(s, &len, &target, &err);
	if (!rq)
		return err;
	mp_sys_mutex_lock(&fs.lock);
	pid_t r = -MP_ESERVER;
	for (int i = 0; i < TRIES && r == -MP_ESERVER; i++) {
		r = spare_ready();
		/* Registered after the server started: not in its copy. */
		if (r == 0 && (unsigned)target >= fs.reg_n)
			r = -MP_ETARGET;
		if (r == 0)
			r = spare_use(rq, len, s, pidfd);
	}
	/* The next spare, forked while this child runs. */
	if (r > 0 && !fs.asked)
		(void)spare_ask();
	mp_sys_mutex_unlock(&fs.lock);
	free(rq);
	return r;
}
