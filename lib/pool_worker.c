/*
 * pool_worker.c - the worker side of a pool: take a task, run it, put its
 * result; in a sandbox, with shared memory and futexes as the only way to
 * the parent.
 */
#include "pool.h"
#include "rawcall.h"

#include <signal.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

struct mp_out {
	char *buf;   /* a shared-heap block */
	size_t len, cap;
	int err;
};

static struct slot *my_slot;

/* SIGSYS from the sandbox: record which call, and leave.  exit_group is
 * allowed by every policy; nothing here may make any other system call. */
static void on_sigsys(int sig, siginfo_t *si, void *ctx)
{
	(void)sig, (void)ctx;
	atomic_store(&my_slot->violation, si->si_syscall);
	mp_sys_exit_now(WORKER_SANDBOX_EXIT);
}

static int grow(mp_out_t *o, size_t need)
{
	if (need <= o->cap)
		return 0;
	size_t cap = o->cap ? o->cap : 64;
	while (cap < need)
		cap *= 2;
	int err = 0;
	char *b = mp__heap_alloc_raw(cap, &err);
	if (!b)
		return err;
	if (o->len)
		memcpy(b, o->buf, o->len);
	mp_heap_free(o->buf);
	o->buf = b;
	o->cap = cap;
	return 0;
}

void *mp_out_alloc(mp_out_t *o, size_t len)
{
	if (!o || grow(o, o->len + len) < 0)
		return NULL;
	void *p = o->buf + o->len;
	o->len += len;
	return p;
}

int mp_out_write(mp_out_t *o, const void *data, size_t len)
{
	if (!o || (!data && len))
		return -EINVAL;
	void *p = mp_out_alloc(o, len);
	if (!p && len)
		return -ENOMEM;
	if (len)
		memcpy(p, data, len);
	return 0;
}

static void run_buf(const struct task *t, struct result *r)
{
	mp_out_t out = { 0 };
	mp_task_fn fn = (mp_task_fn)(uintptr_t)t->fn;
	r->status = fn((const void *)(uintptr_t)t->in, t->count, &out);
	if (r->status > 0)
		r->status = 0;
	r->out = (uint64_t)(uintptr_t)out.buf;
	r->out_len = out.len;
}

/* The worker's private buffer for one element, grown as needed (malloc's
 * alignment, which suits any element type). */
static void *scratch(size_t size)
{
	static void *buf;
	static size_t cap;
	if (size > cap) {
		free(buf);
		cap = 0;
		if (!(buf = malloc(size)))
			return NULL;
		cap = size;
	}
	return buf;
}

/* memcpy with the common element sizes spelled out, so that they compile
 * to a move rather than a call per element. */
static inline void copy_elem(void *dst, const void *src, size_t size)
{
	switch (size) {
	case 4: memcpy(dst, src, 4); break;
	case 8: memcpy(dst, src, 8); break;
	case 16: memcpy(dst, src, 16); break;
	default: memcpy(dst, src, size); break;
	}
}

/*
 * Outputs go over the inputs in the task's block (pool.h, elem_in_base).
 * fn must not see its output overlap its input, so one side of each call
 * goes through the scratch buffer: whichever is smaller - the output,
 * copied into place after fn returns (it then covers only inputs already
 * read), or the input, copied out before.
 */
static void run_elem(const struct task *t, struct result *r)
{
	mp_elem_fn fn = (mp_elem_fn)(uintptr_t)t->fn;
	char *blk = (char *)(uintptr_t)t->in;
	size_t n = t->count, in_size = t->in_size, out_size = t->out_size;
	const char *in = blk + elem_in_base(n, in_size, out_size);
	bool via_out = out_size <= in_size;
	char *tmp = scratch(via_out ? out_size : in_size);
	int32_t *st = NULL;
	if (!tmp) {
		r->status = -ENOMEM;
		return;
	}
	for (size_t i = 0; i < n; i++) {
		int s;
		if (via_out) {
			s = fn(in + i * in_size, tmp);
			copy_elem(blk + i * out_size, tmp, out_size);
		} else {
			copy_elem(tmp, in + i * in_size, in_size);
			s = fn(tmp, blk + i * out_size);
		}
		if (s < 0 && !st) {
			st = mp_heap_alloc(n * sizeof(*st), NULL);
			if (!st) {
				r->status = -ENOMEM;
				return; /* out_len 0: the chunk fails whole */
			}
		}
		if (st)
			st[i] = s < 0 ? s : 0;
		if (s < 0 && r->status == 0)
			r->status = s;
	}
	r->out_len = n * out_size;
	r->statuses = (uint64_t)(uintptr_t)st;
}

/* Before the sandbox: limits, the SIGSYS handler, and every lazily
 * initialised value whose first use would make a forbidden call. */
static int prepare(struct worker_cfg *c)
{
	int r;
	/* The identity our lock words carry (lock.h): learnt with calls
	 * the sandbox forbids. */
	(void)mp__self();
	if (c->memory_limit) {
		/* The limit counts what the worker maps beyond what it
		 * inherited (the shared heap's reservation included). */
		uint64_t as = mp_sys_mapped_bytes() + c->memory_limit;
		if ((r = mp_sys_set_limit(RLIMIT_AS, as, as)) < 0)
			return r;
	}
	/* At the soft limit SIGXCPU (which kills), a second later SIGKILL. */
	if (c->cpu_limit_sec &&
	    (r = mp_sys_set_limit(RLIMIT_CPU, c->cpu_limit_sec,
	                          c->cpu_limit_sec + 1)) < 0)
		return r;
	if (c->sandbox == MP_SANDBOX_NONE)
		return 0;
	if ((r = mp_sys_trap_sigsys(on_sigsys)) < 0)
		return r;
	return mp_sys_sandbox_load(c->filter,
	                           (pid_t)atomic_load(&c->slot->pid));
}

MP_SYS_FORK_PATH
int mp__pool_worker_main(void *arg)
{
	struct worker_cfg *c = arg;
	struct mp_sys_filter inline_filter;
	long done = 0;

	/* From the fork server: the filter came in the argument, after c. */
	if (c->filter_insns) {
		inline_filter.insns = c + 1;
		inline_filter.len = (unsigned short)c->filter_insns;
		c->filter = &inline_filter;
	}
	if (c->initarg_len)
		c->initarg = (char *)(c + 1) + (size_t)c->filter_insns * 8;

	my_slot = c->slot;
	/* A raw getpid: no page of libc's code for it (rawcall.h). */
	atomic_store_explicit(&c->slot->pid,
	                      (pid_t)mp_sys_raw(SYS_getpid, 0, 0, 0, 0),
	                      memory_order_relaxed);
	/* Forked by mp_pool_new's caller: no death signal (see pool.c). */
	if (c->lifeline >= 0 && mp_sys_lifeline_hold(c->lifeline) < 0)
		return 3;
	if (c->initializer)
		c->initializer(c->initarg);
	if (prepare(c) < 0)
		return 3;
	for (;;) {
		struct slot *sl = c->slot;
		size_t len;
		/* Into the slot, with a receipt: should we die before
		 * "running" says what we took, the parent queues it again. */
		if (mp__queue_get_receipt(c->tasks, &sl->task, sizeof(sl->task),
		                          &len, MP_FOREVER, &sl->receipt) < 0)
			return 0; /* the pool is gone */
		struct task t = sl->task;
		if (t.kind == TASK_STOP) {
			atomic_store(&sl->stopped, 1);
			return 0;
		}
		/* The last task's TAKEN would say this one's result is sent. */
		atomic_store_explicit(&sl->sent.verdict, MP__RECEIPT_NONE,
		                      memory_order_relaxed);
		/* Release: `task` and `sent` before "running". */
		atomic_store_explicit(&sl->running, 1, memory_order_release);
		if (c->announce && !done) { /* the others wait for this */
			atomic_store_explicit(&sl->begun, 1, memory_order_relaxed);
			mp_sys_futex_wake(&sl->begun, 1);
		}
		/* After "running": the parent never sees neither. */
		atomic_store_explicit(&sl->receipt.verdict, MP__RECEIPT_NONE,
		                      memory_order_relaxed);
		struct result r = { .job = t.job, .chunk = t.chunk };
		if (t.kind == TASK_BUF)
			run_buf(&t, &r);
		else
			run_elem(&t, &r);
		/* With a receipt: dead before "running" is 0 again, the
		 * parent still knows whether the result went. */
		mp__queue_put_receipt(c->results, &r, sizeof(r), MP_FOREVER,
		                      &sl->sent);
		atomic_store_explicit(&sl->running, 0, memory_order_release);
		atomic_store_explicit(&c->slot->tasks, (uint64_t)++done,
		                      memory_order_relaxed);
		if (c->maxtasks && done >= c->maxtasks) {
			atomic_store(&c->slot->retired, 1);
			return 0;
		}
	}
}
