/*
 * pool.c - the parent side of a pool: workers, the supervisor thread, and
 * the life of a pool.  Jobs (AsyncResult, map, imap) are in pool_jobs.c.
 *
 * The first worker is forked by the caller of mp_pool_new, the others by
 * the supervisor thread once the first has a task (await_first_task): a
 * hand-off to a new thread before the first fork (a wake-up on another
 * CPU) and a fork from a process with one more thread (more TLB
 * shootdowns) were a fifth of a pool's start-up.
 * The kernel ties a child's death signal to the thread that forked it, and
 * the caller's thread may end before the pool (or exec, which sends none),
 * so the first worker has no death signal: it holds the read end of a
 * lifeline whose write end only this process keeps, and dies when that
 * closes (mp_sys_lifeline).  The supervisor, which lasts as long as the
 * pool, forks the others and every replacement, with the death signal.
 * It then sleeps in one mp_wait on: its wake event, every worker's pidfd, and
 * - when no caller is waiting for a result itself - the result queue.  A
 * worker's death wakes it at once: it takes what the worker committed,
 * fails the chunk the worker was running, frees any queue lock the worker
 * held, and starts a replacement.  Callers waiting for results take them
 * from the result queue themselves (no thread hop on the way back); the
 * supervisor runs the callbacks.
 */
#include "pool.h"
#include "heap.h"
#include "peek.h"
#include "rawcall.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#define TASK_QUEUE_BYTES ((size_t)4 << 20)
#define RESULT_QUEUE_BYTES ((size_t)4 << 20)

/*
 * What a worker started by the fork server gets: its configuration with the
 * compiled filter after it (the server may have started before the filter
 * was compiled), and the lifeline's read end, passed as a descriptor.
 */
static int server_args(mp_pool_t *p, int i, mp_process_t *w)
{
	struct worker_cfg c = p->cfg[i];
	size_t flen = c.filter ? (size_t)c.filter->len * 8 : 0; /* BPF insn */
	size_t ilen = p->attr.initarg_len;
	char *buf = malloc(sizeof(c) + flen + ilen);
	if (!buf)
		return -ENOMEM;
	if (c.filter)
		memcpy(buf + sizeof(c), c.filter->insns, flen);
	if (ilen)
		memcpy(buf + sizeof(c) + flen, p->initarg_copy, ilen);
	c.filter_insns = c.filter ? c.filter->len : 0;
	c.filter = NULL;
	c.initarg_len = (uint32_t)ilen;
	memcpy(buf, &c, sizeof(c));
	int r = mp_process_set_args(w, buf, sizeof(c) + flen + ilen);
	free(buf);
	if (!r && c.lifeline >= 0)
		r = mp_process_pass_fd(w, c.lifeline);
	return r;
}

/* by_caller: forked by mp_pool_new's caller, not the supervisor. */
static int start_worker(mp_pool_t *p, int i, bool by_caller)
{
	struct slot *s = &p->slots[i];
	char name[48];
	int err = 0;

	atomic_store(&s->running, 0);
	atomic_store(&s->violation, -1);
	atomic_store(&s->stopped, 0);
	atomic_store(&s->retired, 0);
	/* Judged already (handle_death): the next worker's slate is clean. */
	atomic_store(&s->receipt.verdict, MP__RECEIPT_NONE);
	atomic_store(&s->sent.verdict, MP__RECEIPT_NONE);
	atomic_store_explicit(&s->pid, 0, memory_order_relaxed);
	atomic_store_explicit(&s->tasks, 0, memory_order_relaxed);
	snprintf(name, sizeof(name), "%sPoolWorker-%d",
	         p->forkserver ? "ForkServer" : "Fork", ++p->spawned);
	mp_process_t *w = mp_process_new(mp__pool_worker_main, &p->cfg[i], name,
	                                 MP_PROCESS_DAEMON, &err);
	if (!w)
		return err;
	if (by_caller)
		mp__process_own_tie(w);
	err = mp_process_set_context(w, p->ctx);
	if (!err && p->forkserver)
		err = server_args(p, i, w);
	if (!err)
		err = mp_process_start(w);
	if (err < 0) {
		mp_process_free(w);
		return err;
	}
	pthread_mutex_lock(&p->mu); /* terminate() reads the array */
	p->workers[i] = w;
	/* A terminate() between our fork and now killed the workers it
	 * saw listed, not this one: one stuck in a task would never end.
	 * Both sides look under p->mu, so one of them kills it. */
	if (p->state == POOL_TERMINATED)
		mp_process_kill(w);
	pthread_mutex_unlock(&p->mu);
	return 0;
}

/* Workers cannot be had (one failed to start, or its initialisation
 * did): queued work fails (supervise_once), and so does any submitted
 * from now on (submit looks under mu) - none waits for workers that will
 * never come, even once the supervisor has gone. */
static void set_broken(mp_pool_t *p)
{
	pthread_mutex_lock(&p->mu);
	p->broken = true;
	pthread_mutex_unlock(&p->mu);
}

/* What a worker's death says, for the chunk it was running. */
static int death_cause(struct slot *s, int code, char *detail, size_t len,
                       int *signo)
{
	int nr = atomic_load(&s->violation);
	*signo = 0;
	if (nr >= 0) {
		mp_sys_syscall_name(nr, detail, len);
		return -MP_ESANDBOX;
	}
	if (code < 0) {
		*signo = -code;
		snprintf(detail, len, "killed by signal %d (%s)", -code,
		         sigabbrev_np(-code) ? sigabbrev_np(-code) : "?");
	} else {
		snprintf(detail, len, "exited with status %d", code);
	}
	return -MP_EWORKERDIED;
}

/*
 * Tasks of dead workers go back on the queue through the backlog, in
 * order, never waiting: the queue may be full (callers filled the place a
 * task left) until live workers - some perhaps stopped, or in long tasks -
 * make room, and the supervisor must go on meanwhile (it drains results,
 * without which the workers could stall).  The supervisor retries each
 * round.  Only a closed queue (terminate) refuses for good: the task
 * fails then, as its worker's death.
 */
static void backlog_flush(mp_pool_t *p)
{
	size_t done = 0;
	while (done < p->nbacklog) {
		const struct task *t = &p->backlog[done];
		int r = mp_queue_put(p->tasks, t, sizeof(*t), 0);
		if (r == -EAGAIN)
			break; /* full, or a producer in the way: next round */
		if (r < 0 && t->kind != TASK_STOP)
			mp__pool_fail_task(p, t, r, "pool terminated", 0);
		done++;
	}
	if (!done)
		return;
	p->nbacklog -= done;
	memmove(p->backlog, p->backlog + done,
	        p->nbacklog * sizeof(*p->backlog));
}

static void backlog_add(mp_pool_t *p, const struct task *t, int err,
                        const char *detail, int signo)
{
	if (p->nbacklog == p->backlog_cap) {
		size_t cap = p->backlog_cap ? 2 * p->backlog_cap : 8;
		struct task *b = realloc(p->backlog, cap * sizeof(*b));
		if (!b) { /* it cannot wait for its turn: it fails now */
			if (t->kind != TASK_STOP)
				mp__pool_fail_task(p, t, err, detail, signo);
			return;
		}
		p->backlog = b;
		p->backlog_cap = cap;
	}
	p->backlog[p->nbacklog++] = *t;
}

/*
 * A worker died with task t taken and not begun (its receipt says so):
 * nothing of it ran, so it goes back on the queue - a stop order too, or
 * close would wait for a worker that never gets one.  After close, the
 * stop orders are queued already and t lands behind them: the workers
 * would all stop first.  So a stop goes in behind t, and the worker that
 * exits on one of them is started again (extra_stops).
 */
static void requeue(mp_pool_t *p, const struct task *t, int err,
                    const char *detail, int signo)
{
	pthread_mutex_lock(&p->mu);
	bool closed = p->state == POOL_CLOSED;
	pthread_mutex_unlock(&p->mu);
	backlog_add(p, t, err, detail, signo);
	if (closed && t->kind != TASK_STOP) {
		backlog_add(p, &(struct task){ .kind = TASK_STOP }, 0, NULL, 0);
		p->extra_stops++;
	}
	backlog_flush(p);
}

static void handle_death(mp_pool_t *p, int i)
{
	mp_process_t *w = p->workers[i];
	struct slot *s = &p->slots[i];
	int code = 0;
	pid_t pid = mp_process_pid(w);

	/* It may have died holding a queue's lock.  It has exited (its
	 * pidfd said so) and is not reaped yet, so no other thread can have
	 * its tid: a word holding that tid is provably its (DESIGN.md rule
	 * 11).  Marked before the reap, which frees the tid for reuse. */
	mp__queue_holder_died(p->tasks, pid);
	mp__queue_holder_died(p->results, pid);
	mp_process_exitcode(w, &code); /* reaps */
	pthread_mutex_lock(&p->mu);
	p->workers[i] = NULL;
	pthread_mutex_unlock(&p->mu);
	mp_process_free(w);
	/* What it committed before dying counts: take it first. */
	mp__pool_drain(p);
	char detail[64];
	int signo, err = death_cause(s, code, detail, sizeof(detail), &signo);
	bool running = atomic_load_explicit(&s->running, memory_order_acquire);
	bool stopped = atomic_load(&s->stopped);
	/* Copied before a replacement takes the slot (see struct slot). */
	struct task t = s->task;
	bool taken = !running && !stopped &&
	             mp__queue_receipt_verdict(p->tasks, &s->receipt) ==
	             MP__RECEIPT_TAKEN;
	/* Running, its result not sent: the task dies with it.  Sent, the
	 * result counts (whoever takes it), even if its job were done and
	 * gone by now - which the serial in t guards against too. */
	if (running && mp__queue_receipt_verdict(p->results, &s->sent) !=
	               MP__RECEIPT_TAKEN)
		mp__pool_fail_task(p, &t, err, detail, signo);
	bool on_purpose = stopped || (code == 3 && !running);
	if (code == 3 && !stopped)
		set_broken(p); /* its initialisation failed: it would again */
	if (stopped && p->extra_stops > 0) { /* see requeue */
		p->extra_stops--;
		on_purpose = false;
	}
	pthread_mutex_lock(&p->mu);
	bool respawn = p->state != POOL_TERMINATED && !on_purpose &&
	               !p->broken && !mp__process_exiting();
	pthread_mutex_unlock(&p->mu);
	if (respawn && start_worker(p, i, false) < 0)
		set_broken(p);
	if (taken) /* after the respawn: the queue may wait for a taker */
		requeue(p, &t, err, detail, signo);
}

static size_t live_workers(mp_pool_t *p)
{
	size_t n = 0;
	for (int i = 0; i < p->nproc; i++)
		n += p->workers[i] != NULL;
	return n;
}

/* One round of the supervisor: sleep, then handle what woke it. */
static void supervise_once(mp_pool_t *p, mp_waitable_t *objs, int *who,
                           size_t *ready)
{
	size_t n = 0;
	objs[n] = mp_wait_event(&p->wake);
	who[n++] = -1;
	for (int i = 0; i < p->nproc; i++) {
		if (p->workers[i]) {
			objs[n] = mp_wait_process(p->workers[i]);
			who[n++] = i;
		}
	}
	/* Results are drained by callers waiting for them; the supervisor
	 * drains them only when nobody waits and work is out, so that a
	 * caller waiting for its result is never beaten to it (which would
	 * cost it a wake-up through the progress word). */
	bool watch = !atomic_load(&p->getters) &&
	             atomic_load(&p->pending_jobs) > 0;
	atomic_store(&p->sup_watching, watch);
	if (watch) {
		objs[n] = mp_wait_queue(p->results);
		who[n++] = -2;
	}
	/* A backlog is retried every millisecond until it is queued. */
	int r = mp_wait(objs, n, p->nbacklog ? MP_MSEC(1) : MP_FOREVER, ready);
	if (r < 0)
		r = 0; /* -ETIMEDOUT: nothing ready */
	mp_event_clear(&p->wake);
	backlog_flush(p);
	mp__pool_drain(p);
	for (int k = 0; k < r; k++)
		if (who[ready[k]] >= 0)
			handle_death(p, who[ready[k]]);
	if (p->broken)
		mp__pool_fail_all(p, -MP_EWORKERDIED, "workers fail to start");
	mp__pool_run_callbacks(p);
}

/*
 * Forked by the caller, worker 0 runs alone until it has taken its first
 * task, or FIRST_TASK_WAIT_NS passed; then the supervisor forks the
 * others.  A fork write-protects every private page of this process, and
 * the caller - handing the first task over and waiting for its result
 * meanwhile - then takes a copy-on-write fault on each page it writes;
 * with two of our threads on the CPUs each fault flushes the other CPU's
 * TLB by interrupt (11 us a fault here, 2 alone).  A new pool's first
 * result came 17% sooner (396 -> 330 us, means of 8 runs a side); the
 * others start ~0.2 ms later.  The wait is on the one word, a futex on any
 * kernel: a worker 0 that dies first, or that close stops, costs the
 * others that millisecond at most (terminate ends the wait).  The fork
 * server's workers are not forks of this process: they start at once.
 */
#define FIRST_TASK_WAIT_NS MP_MSEC(1)

static _Atomic int64_t first_task_wait = FIRST_TASK_WAIT_NS;

/* Tests: make the wait long enough to watch (< 0: as built). */
void mp__pool_first_task_wait(int64_t ns);
void mp__pool_first_task_wait(int64_t ns)
{
	atomic_store(&first_task_wait, ns < 0 ? FIRST_TASK_WAIT_NS : ns);
}

static void await_first_task(mp_pool_t *p)
{
	if (!p->workers[0] || !p->cfg[0].announce)
		return;
	_Atomic uint32_t *begun = &p->slots[0].begun;
	int64_t deadline = mp_sys_now_ns() + atomic_load(&first_task_wait);
	struct timespec ts;
	while (!atomic_load(begun) && mp_sys_now_ns() < deadline)
		(void)mp_sys_futex_wait(begun, 0, mp__deadline_ts(deadline, &ts));
	p->cfg[0].announce = 0; /* a replacement does not */
}

static void *supervisor(void *arg)
{
	mp_pool_t *p = arg;
	size_t cap = (size_t)p->nproc + 2;
	mp_waitable_t *objs = calloc(cap, sizeof(*objs));
	int *who = calloc(cap, sizeof(*who));
	size_t *ready = calloc(cap, sizeof(*ready));

	/* Worker 0 may be running tasks already (mp_pool_new made it).  A
	 * closed pool still gets its workers: they drain what was queued. */
	await_first_task(p);
	for (int i = p->workers[0] ? 1 : 0; i < p->nproc; i++) {
		pthread_mutex_lock(&p->mu);
		bool live = p->state != POOL_TERMINATED;
		pthread_mutex_unlock(&p->mu);
		if (live && start_worker(p, i, false) < 0)
			set_broken(p);
	}
	if (!objs || !who || !ready)
		set_broken(p);
	while (live_workers(p) > 0 && objs && who && ready)
		supervise_once(p, objs, who, ready);
	/* Also when the process exits with the pool open: its children are
	 * terminated then (they are daemonic) and not replaced. */
	/* Every worker is gone: nothing will complete any more (nor will
	 * what the backlog holds be taken: it fails with the rest). */
	if (p->broken)
		mp__pool_fail_all(p, -MP_EWORKERDIED, "workers fail to start");
	else
		mp__pool_fail_all(p, -MP_ECLOSED, "pool terminated");
	p->nbacklog = 0;
	mp__pool_run_callbacks(p);
	free(objs);
	free(who);
	free(ready);
	mp_event_set(&p->finished);
	return NULL;
}

/* ---- the pool's life ----------------------------------------------------- */

/* The compute filter, compiled once per process (see sys/seccomp.c). */
static pthread_mutex_t compute_lock = PTHREAD_MUTEX_INITIALIZER;
static struct mp_sys_filter compute_filter;

static int sandbox_filter(mp_pool_t *p, const struct mp_sys_filter **f)
{
	int r = 0;
	*f = NULL;
	if (p->attr.sandbox == MP_SANDBOX_CUSTOM) {
		/* The caller's rules run here, once, in the creator. */
		r = mp_sys_sandbox_compile(p->attr.sandbox_rules,
		                           p->attr.sandbox_arg, &p->custom);
		*f = &p->custom;
	} else if (p->attr.sandbox == MP_SANDBOX_COMPUTE) {
		pthread_mutex_lock(&compute_lock);
		if (!compute_filter.len)
			r = mp_sys_sandbox_compile(NULL, NULL, &compute_filter);
		pthread_mutex_unlock(&compute_lock);
		*f = &compute_filter;
	}
	return r;
}

#define INITARG_MAX ((size_t)16 << 10)

static int check_attr(const mp_pool_attr_t *a)
{
	if (a->processes < 0 || a->maxtasksperchild < 0 ||
	    a->sandbox < MP_SANDBOX_NONE || a->sandbox > MP_SANDBOX_CUSTOM ||
	    (a->sandbox == MP_SANDBOX_CUSTOM && !a->sandbox_rules) ||
	    a->initarg_len > INITARG_MAX || (a->initarg_len && !a->initarg))
		return -EINVAL;
	return 0;
}

static int make_shared(mp_pool_t *p)
{
	mp_queue_attr_t qa = { .max_msg = sizeof(struct task),
	                       .capacity = TASK_QUEUE_BYTES };
	int err = 0;
	p->tasks = mp_queue_new(&qa, &err);
	if (p->tasks)
		mp__queue_round_trip(p->tasks);
	qa.max_msg = sizeof(struct result);
	qa.capacity = RESULT_QUEUE_BYTES;
	if (p->tasks)
		p->results = mp_queue_new(&qa, &err);
	if (p->results)
		p->shm = mp_heap_alloc(sizeof(*p->shm) +
		                       (size_t)p->nproc * sizeof(*p->slots), &err);
	if (p->shm) {
		p->shm->nproc = (uint32_t)p->nproc;
		p->shm->tasks = (uint64_t)(uintptr_t)p->tasks;
		p->shm->results = (uint64_t)(uintptr_t)p->results;
		p->shm->magic = POOL_MAGIC;
		p->slots = p->shm->slots;
		mp__heap_tag(p->shm, MP__KIND_POOL);
	}
	p->workers = calloc((size_t)p->nproc, sizeof(*p->workers));
	p->cfg = calloc((size_t)p->nproc, sizeof(*p->cfg));
	if (!p->workers || !p->cfg)
		err = -ENOMEM;
	return p->slots ? err : (err ? err : -ENOMEM);
}

static void free_shared(mp_pool_t *p)
{
	/* Every worker is reaped: nobody else is inside the queues. */
	mp__heap_untag(p->tasks);
	mp_heap_free(p->tasks);
	mp__heap_untag(p->results);
	mp_heap_free(p->results);
	if (p->shm) {
		mp__heap_untag(p->shm);
		p->shm->magic = 0; /* no reader takes the old block for a pool */
		mp_heap_free(p->shm);
	}
	free(p->workers);
	free(p->cfg);
}

/*
 * A forked worker runs on a copy of the forking thread's stack, from where
 * the fork was made.  The caller's will do if the room left on it is at
 * least half a new thread's stack (the supervisor's workers get a whole
 * one); otherwise - a thread made with a small stack, a deep call chain,
 * a coroutine's stack - the supervisor forks the first worker too.
 */
extern void *__libc_stack_end; /* glibc: the top of the main stack */

#define MAIN_STACK_NEAR ((size_t)64 << 20)

static size_t stack_room(void)
{
	/* The frame, not a local: a sanitizer may keep locals elsewhere. */
	char *here = __builtin_frame_address(0), *top = __libc_stack_end, *lo;
	struct rlimit rl;
	/* On the main stack, which grows to RLIMIT_STACK (pthread_getattr_np
	 * would read /proc to find it)?  The kernel maps everything else at
	 * least that far below its top (unlimited: far below). */
	if (here < top && getrlimit(RLIMIT_STACK, &rl) == 0) {
		size_t used = (size_t)(top - here);
		if (rl.rlim_cur == RLIM_INFINITY && used < MAIN_STACK_NEAR)
			return SIZE_MAX;
		if (rl.rlim_cur != RLIM_INFINITY && used < rl.rlim_cur)
			return rl.rlim_cur - used;
	}
	/* A thread's (or a fork child's copy of one). */
	pthread_attr_t a;
	void *addr;
	size_t size;
	if (pthread_getattr_np(pthread_self(), &a) != 0)
		return 0;
	int r = pthread_attr_getstack(&a, &addr, &size);
	pthread_attr_destroy(&a);
	if (r != 0)
		return 0;
	lo = addr;
	return here > lo && here < lo + size ? (size_t)(here - lo) : 0;
}

static bool caller_stack_will_do(void)
{
	pthread_attr_t a;
	size_t want = 0;
	if (pthread_getattr_default_np(&a) != 0)
		return false;
	(void)pthread_attr_getstacksize(&a, &want);
	pthread_attr_destroy(&a);
	return stack_room() >= want / 2;
}

/* ---- the first worker's lifeline ----------------------------------------- */

/* Pools whose lifeline write end is open, for the fork handlers: a child
 * that kept a copy would keep the first worker alive after us. */
static _Atomic uint32_t lifelines_lock;
static mp_pool_t *lifelines;

/* Made and listed under the lock, which forks wait for: no child gets
 * the write end without closing it. */
static int lifeline_make(mp_pool_t *p, int fds[2])
{
	mp_sys_mutex_lock(&lifelines_lock);
	int err = mp_sys_lifeline(fds);
	if (err == 0) {
		p->life_w = fds[1];
		p->life_next = lifelines;
		lifelines = p;
	}
	mp_sys_mutex_unlock(&lifelines_lock);
	return err;
}

/* Unlisted before closed: a fork meanwhile closes its copy, not a
 * descriptor that reused the number. */
static void lifeline_close(mp_pool_t *p)
{
	if (p->life_w < 0)
		return;
	mp_sys_mutex_lock(&lifelines_lock);
	for (mp_pool_t **pp = &lifelines; *pp; pp = &(*pp)->life_next)
		if (*pp == p) {
			*pp = p->life_next;
			break;
		}
	mp_sys_mutex_unlock(&lifelines_lock);
	close(p->life_w);
	p->life_w = -1;
}

void mp__pool_before_fork(void)
{
	mp_sys_mutex_lock(&lifelines_lock);
}

void mp__pool_after_fork_parent(void)
{
	mp_sys_mutex_unlock(&lifelines_lock);
}

MP_SYS_FORK_PATH
void mp__pool_after_fork(void)
{
	mp_sys_mutex_reset(&lifelines_lock); /* held by the forking thread */
	if (!lifelines)
		return;
	for (mp_pool_t *p = lifelines; p; p = p->life_next)
		(void)mp_sys_raw(SYS_close, p->life_w, 0, 0, 0); /* rawcall.h */
	lifelines = NULL;
}

/* Fork worker 0 from the calling thread, holding the lifeline. */
static int start_first_worker(mp_pool_t *p)
{
	int fds[2];
	int err = lifeline_make(p, fds);
	if (err < 0)
		return err;
	p->cfg[0].lifeline = fds[0];
	p->cfg[0].announce = !p->forkserver && p->nproc > 1;
	err = start_worker(p, 0, true);
	/* Worker 0 has its copy; a replacement gets the death signal. */
	close(fds[0]);
	p->cfg[0].lifeline = -1;
	if (err < 0)
		lifeline_close(p);
	return err;
}

static void free_pool(mp_pool_t *p)
{
	lifeline_close(p); /* every worker is gone */
	free_shared(p);
	mp_sys_sandbox_free(&p->custom);
	free(p->backlog);
	pthread_mutex_destroy(&p->mu);
	free(p->initarg_copy);
	free(p);
}

/* Undo a pool that never got its supervisor: worker 0, if made, goes. */
static void discard(mp_pool_t *p)
{
	mp_process_t *w = p->workers ? p->workers[0] : NULL;
	if (w) {
		mp_process_kill(w);
		mp_process_join(w, MP_FOREVER);
		mp_process_free(w);
	}
	free_pool(p);
}

static int setup(mp_pool_t *p, const mp_pool_attr_t *attr)
{
	p->attr = *attr;
	p->life_w = -1;
	p->ctx = attr->context ? attr->context : mp_get_context(NULL, NULL);
	p->forkserver = mp__context_method(p->ctx) == MP__FORKSERVER;
	p->nproc = attr->processes ? attr->processes : mp_cpu_count();
	pthread_mutex_init(&p->mu, NULL);
	mp_event_init(&p->wake);
	mp_event_init(&p->finished);
	const struct mp_sys_filter *filter = NULL;
	void *initarg = attr->initarg;
	if (attr->initarg_len) {
		/* Forked workers see the copy; the server's get it sent. */
		if (!(p->initarg_copy = malloc(attr->initarg_len)))
			return -ENOMEM;
		memcpy(p->initarg_copy, attr->initarg, attr->initarg_len);
		initarg = p->initarg_copy;
	}
	int err = make_shared(p);
	if (err == 0)
		err = sandbox_filter(p, &filter);
	if (err < 0)
		return err;
	for (int i = 0; i < p->nproc; i++)
		p->cfg[i] = (struct worker_cfg){
			p->tasks, p->results, &p->slots[i], attr->initializer,
			initarg, attr->maxtasksperchild, attr->sandbox,
			filter, attr->memory_limit, attr->cpu_limit_sec, -1 };
	/* Things a worker would otherwise look up itself, in its sandbox. */
	(void)mp_cpu_count();
	return 0;
}

mp_pool_t *mp_pool_new(const mp_pool_attr_t *attr, int *err)
{
	static const mp_pool_attr_t defaults;
	int dummy;
	if (!err)
		err = &dummy;
	if (!attr)
		attr = &defaults;
	if ((*err = check_attr(attr)) < 0)
		return NULL;
	if (mp_process_daemon(mp_current_process()) == 1) {
		*err = -MP_EDAEMONIC;
		return NULL;
	}
	mp_pool_t *p = calloc(1, sizeof(*p));
	if (!p) {
		*err = -ENOMEM;
		return NULL;
	}
	/* Worker 0 before the supervisor: see the top of this file.  It
	 * takes the first task while the supervisor makes the others. */
	if ((*err = setup(p, attr)) < 0 ||
	    (caller_stack_will_do() && (*err = start_first_worker(p)) < 0) ||
	    (*err = -pthread_create(&p->sup, NULL, supervisor, p)) < 0) {
		discard(p);
		return NULL;
	}
	return p;
}

int mp_pool_processes(const mp_pool_t *p)
{
	return p ? p->nproc : -EINVAL;
}

int mp_pool_close(mp_pool_t *p)
{
	if (!p)
		return -EINVAL;
	pthread_mutex_lock(&p->mu);
	bool first = p->state == POOL_RUNNING;
	if (first)
		p->state = POOL_CLOSED;
	pthread_mutex_unlock(&p->mu);
	/* One STOP per worker, behind everything queued: each worker takes
	 * one and exits; a replacement for one that died takes its STOP. */
	struct task stop = { .kind = TASK_STOP };
	for (int i = 0; first && i < p->nproc; i++)
		mp_queue_put(p->tasks, &stop, sizeof(stop), MP_FOREVER);
	return 0;
}

int mp_pool_terminate(mp_pool_t *p)
{
	if (!p)
		return -EINVAL;
	pthread_mutex_lock(&p->mu);
	p->state = POOL_TERMINATED;
	pthread_mutex_unlock(&p->mu);
	mp__pool_fail_all(p, -MP_ECLOSED, "pool terminated");
	/* SIGKILL through the pidfds: stuck workers too, at once.  The
	 * supervisor reaps them and does not replace them. */
	pthread_mutex_lock(&p->mu);
	for (int i = 0; i < p->nproc; i++)
		if (p->workers[i])
			mp_process_kill(p->workers[i]);
	pthread_mutex_unlock(&p->mu);
	mp_queue_close(p->tasks);
	mp_event_set(&p->wake);
	/* Nor wait for a first task now (await_first_task). */
	atomic_store(&p->slots[0].begun, 1);
	mp_sys_futex_wake(&p->slots[0].begun, 1);
	return 0;
}

int mp_pool_join(mp_pool_t *p, int64_t timeout_ns)
{
	if (!p)
		return -EINVAL;
	pthread_mutex_lock(&p->mu);
	int state = p->state;
	pthread_mutex_unlock(&p->mu);
	if (state == POOL_RUNNING)
		return -EINVAL;
	int r = mp_event_wait(&p->finished, timeout_ns);
	if (r == 0)
		return timeout_ns == 0 ? -EAGAIN : -ETIMEDOUT;
	if (r < 0)
		return r;
	if (!p->joined) {
		pthread_join(p->sup, NULL);
		p->joined = true;
	}
	return 0;
}

int mp_pool_free(mp_pool_t *p)
{
	if (!p)
		return 0;
	pthread_mutex_lock(&p->mu);
	bool running = p->state == POOL_RUNNING;
	pthread_mutex_unlock(&p->mu);
	if (running)
		mp_pool_terminate(p);
	mp_pool_join(p, MP_FOREVER);
	mp__pool_free_jobs(p);
	free_pool(p);
	return 0;
}

/* ---- mptop (peek.h) --------------------------------------------------------- */

_Static_assert(sizeof(struct pool_shm) == MP__PEEK_POOL_HDR &&
               sizeof(struct slot) == MP__PEEK_WORKER, "peek.h's sizes");

int mp__pool_peek(const void *copy, struct mp__peek_pool *out)
{
	const struct pool_shm *m = copy;

	if (m->magic != POOL_MAGIC)
		return -EINVAL;
	*out = (struct mp__peek_pool){ m->nproc, m->tasks, m->results };
	return 0;
}

static enum mp__worker_state worker_state(struct slot *s)
{
	if (atomic_load_explicit(&s->violation, memory_order_relaxed) >= 0)
		return MP__WORKER_TRAPPED;
	if (atomic_load_explicit(&s->stopped, memory_order_relaxed))
		return MP__WORKER_STOPPED;
	if (atomic_load_explicit(&s->retired, memory_order_relaxed))
		return MP__WORKER_RETIRED;
	if (atomic_load_explicit(&s->running, memory_order_relaxed))
		return MP__WORKER_RUNNING;
	return atomic_load_explicit(&s->pid, memory_order_relaxed)
	       ? MP__WORKER_IDLE : MP__WORKER_STARTING;
}

int mp__pool_peek_worker(const void *copy, struct mp__peek_worker *out)
{
	/* Relaxed throughout: a private copy, nobody else writes it. */
	struct slot *s = (struct slot *)copy;
	enum mp__worker_state st = worker_state(s);
	bool running = st == MP__WORKER_RUNNING;

	*out = (struct mp__peek_worker){
		.pid = atomic_load_explicit(&s->pid, memory_order_relaxed),
		.state = st,
		.job = running ? s->task.job : 0,
		.fn = running ? s->task.fn : 0,
		.chunk = running ? s->task.chunk : 0,
		.syscall = atomic_load_explicit(&s->violation,
		                                memory_order_relaxed),
		.tasks = atomic_load_explicit(&s->tasks, memory_order_relaxed),
	};
	return 0;
}
