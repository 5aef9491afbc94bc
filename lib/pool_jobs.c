/*
 * pool_jobs.c - jobs: what apply/map/imap submit, and how their results
 * come back.
 *
 * A job is split into chunks, each one task on the shared task queue with
 * its input copied into a shared-heap block.  Each chunk comes back exactly
 * once: as a result (taken off the result queue by whoever drains it - a
 * caller waiting in get, or the supervisor) or as a failure (its worker
 * died).  Both go through complete_chunk() under the pool's mutex, which
 * ignores a chunk it has already seen.  A job is finished when every chunk
 * is; callers waiting on it sleep on the pool's progress word together with
 * the result queue, so whoever completes a chunk wakes them.
 */
#include "pool.h"

#include <stdio.h>
#include <stdlib.h>

/* Input and output ranges from this size on are prefaulted in one call
 * (mp_sys_prefault_write) rather than a fault per page. */
#define PREFAULT_MIN ((size_t)64 << 10)

enum job_kind { JOB_APPLY, JOB_MAP, JOB_IMAP };

struct mp_result {
	mp_pool_t *pool;
	uint64_t serial;             /* see struct task */
	enum job_kind kind;
	int status;                  /* first error (lowest element index) */
	int signo;
	bool ready, detached;
	bool stale;                  /* a chunk failed while maybe in flight */
	bool own_outv;               /* imap: outv and statusv are ours */
	uint8_t done1;               /* chunk_done of a one-chunk job (below) */
	size_t nchunks, chunks_done;
	size_t err_index;
	/* Why it failed, malloc'd at the failure.  Every outstanding apply
	 * has a job, and 100 000 of them fault in every page they take:
	 * 64 bytes here were a fifth of a job, padding a tenth. */
	char *detail;
	void **inputs;               /* per chunk: its shared block (the input,
	                                then a map's output in place) */
	uint8_t *chunk_done;
	/* inputs and chunk_done of a one-chunk job (every apply): one
	 * allocation per job, not three - small blocks freed in between the
	 * jobs kept the caller's heap from shrinking (20 000 apply_async
	 * left 6.5 MB of it in use, and every later fork copies that) */
	void *input1;
	/* apply */
	void *out;
	size_t out_len;
	/* map / imap */
	char *outv;
	size_t n, out_size, chunksize;
	int *statusv;
	size_t *order, norder;       /* imap: chunks in completion order */
	mp_result_cb cb, ecb;
	void *cb_arg;
	struct mp_result *next, *prev;
	struct mp_result *cb_next;
};

struct mp_imap {
	mp_result_t *job;
	bool ordered;
	size_t pos;                  /* elements returned */
	size_t ord_chunk, ord_off;   /* unordered: position in `order` */
};

/* ---- completion (pool mutex held) ------------------------------------------ */

static void job_unlink(mp_pool_t *p, struct mp_result *j)
{
	if (j->prev)
		j->prev->next = j->next;
	else
		p->jobs = j->next;
	if (j->next)
		j->next->prev = j->prev;
	j->next = j->prev = NULL;
}

static void job_free(struct mp_result *j)
{
	for (size_t c = 0; j->inputs && c < j->nchunks; c++)
		mp_heap_free(j->inputs[c]);
	if (j->inputs != &j->input1) {
		free(j->inputs);
		free(j->chunk_done);
	}
	free(j->out);
	if (j->own_outv) {
		free(j->outv);
		free(j->statusv);
	}
	free(j->order);
	free(j->detail);
	free(j);
}

static void bump_progress(mp_pool_t *p)
{
	atomic_fetch_add(&p->progress, 1);
	if (atomic_load(&p->progress_waiters))
		mp_sys_futex_wake(&p->progress, INT32_MAX);
}

/* Record an error for elements [first, first + count) of the job. */
static void set_error(struct mp_result *j, size_t first, int err,
                      const char *detail, int signo)
{
	if (j->status == 0 || first < j->err_index) {
		j->status = err;
		j->err_index = first;
		j->signo = signo;
		free(j->detail);
		j->detail = strdup(detail ? detail : "");
	}
}

/*
 * Free a finished job the caller has let go of - unless a chunk of it may
 * still be in flight (failed by terminate while a worker or the queue had
 * it): a late result must find the job's memory, so such a job stays on
 * the list until the pool itself is freed.  Mutex held.
 */
static void job_release(mp_pool_t *p, struct mp_result *j)
{
	if (j->stale)
		return;
	job_unlink(p, j);
	job_free(j);
}

/* A chunk is back (mutex held).  Returns true when j is finished and
 * nobody will look at it again: the caller then releases it. */
static bool finish_chunk(mp_pool_t *p, struct mp_result *j, uint32_t chunk)
{
	j->chunk_done[chunk] = 1;
	if (!j->stale) {
		mp_heap_free(j->inputs[chunk]);
		j->inputs[chunk] = NULL;
	}
	if (j->order)
		j->order[j->norder++] = chunk;
	if (++j->chunks_done < j->nchunks)
		return false;
	j->ready = true;
	atomic_fetch_sub(&p->pending_jobs, 1);
	if (j->cb || j->ecb) {
		j->cb_next = p->cb_list;
		p->cb_list = j;
		mp_event_set(&p->wake);
		return false;
	}
	return j->detached && !j->stale;
}

static void complete_chunk(mp_pool_t *p, struct mp_result *j,
                           const struct result *r)
{
	size_t first = (size_t)r->chunk * j->chunksize;
	size_t count = j->kind == JOB_APPLY ? 1
	             : (first + j->chunksize <= j->n ? j->chunksize : j->n - first);
	const int32_t *st = (const int32_t *)(uintptr_t)r->statuses;

	if (j->kind == JOB_APPLY && r->status == 0 && r->out_len) {
		j->out = malloc(r->out_len);
		if (j->out)
			memcpy(j->out, (const void *)(uintptr_t)r->out, r->out_len);
		j->out_len = j->out ? r->out_len : 0;
		if (!j->out)
			set_error(j, 0, -ENOMEM, "result copy", 0);
	} else if (j->kind != JOB_APPLY && r->out_len == count * j->out_size) {
		char *dst = j->outv + first * j->out_size;
		/* A fresh output array takes a page fault per page as it is
		 * first written; one call maps a large chunk's pages in
		 * (perf: 40% less CPU for the first touch of 4 MB here). */
		if (r->out_len >= PREFAULT_MIN)
			(void)mp_sys_prefault_write(dst, r->out_len);
		/* In place, over the chunk's input (pool.h): its block is
		 * still ours, the chunk not being done yet. */
		memcpy(dst, j->inputs[r->chunk], r->out_len);
	}
	for (size_t i = 0; j->statusv && i < count; i++)
		j->statusv[first + i] = st ? st[i] : r->status;
	if (r->status < 0) {
		size_t at = first;
		for (size_t i = 0; st && i < count; i++)
			if (st[i] < 0) {
				at = first + i;
				break;
			}
		set_error(j, at, r->status, "task error", 0);
	}
	if (finish_chunk(p, j, r->chunk))
		job_release(p, j);
}

/* Is job j one of ours, with chunk not done yet?  (A result can only name
 * a live job: jobs are freed once all their chunks are back.) */
static bool pending(struct mp_result *j, uint32_t chunk)
{
	return j && chunk < j->nchunks && !j->chunk_done[chunk];
}

static void dispatch(mp_pool_t *p, const struct result *r)
{
	struct mp_result *j = (struct mp_result *)(uintptr_t)r->job;

	pthread_mutex_lock(&p->mu);
	if (pending(j, r->chunk))
		complete_chunk(p, j, r);
	pthread_mutex_unlock(&p->mu);
	mp_heap_free((void *)(uintptr_t)r->out);
	mp_heap_free((void *)(uintptr_t)r->statuses);
	bump_progress(p);
}

void mp__pool_drain(mp_pool_t *p)
{
	struct result r;
	size_t len;

	while (mp_queue_get(p->results, &r, sizeof(r), &len, 0) == 0)
		dispatch(p, &r);
}

/* Is j a job of p's?  (A dead worker's slot may name a job finished and
 * freed since: it died after committing its result.)  Mutex held; a
 * linear scan, for deaths only. */
static bool listed(mp_pool_t *p, struct mp_result *j)
{
	for (struct mp_result *k = p->jobs; k; k = k->next)
		if (k == j)
			return true;
	return false;
}

void mp__pool_fail_task(mp_pool_t *p, const struct task *t, int err,
                        const char *detail, int signo)
{
	struct mp_result *j = (struct mp_result *)(uintptr_t)t->job;
	uint32_t chunk = t->chunk;
	pthread_mutex_lock(&p->mu);
	/* listed before its serial is read: j may be long freed. */
	if (listed(p, j) && j->serial == t->serial && pending(j, chunk)) {
		size_t first = (size_t)chunk * j->chunksize;
		size_t count = j->kind == JOB_APPLY ? 1
		             : (first + j->chunksize <= j->n ? j->chunksize
		                                             : j->n - first);
		for (size_t i = 0; j->statusv && i < count; i++)
			j->statusv[first + i] = err;
		set_error(j, first, err, detail, signo);
		if (finish_chunk(p, j, chunk))
			job_release(p, j);
	}
	pthread_mutex_unlock(&p->mu);
	bump_progress(p);
}

void mp__pool_fail_all(mp_pool_t *p, int err, const char *detail)
{
	pthread_mutex_lock(&p->mu);
	for (struct mp_result *j = p->jobs; j; j = j->next) {
		for (uint32_t c = 0; c < j->nchunks; c++) {
			if (j->chunk_done[c])
				continue;
			/* Its task may sit in the queue or a worker yet. */
			j->stale = true;
			set_error(j, (size_t)c * j->chunksize, err, detail, 0);
			(void)finish_chunk(p, j, c); /* stale: j stays listed */
		}
	}
	pthread_mutex_unlock(&p->mu);
	bump_progress(p);
}

void mp__pool_run_callbacks(mp_pool_t *p)
{
	pthread_mutex_lock(&p->mu);
	struct mp_result *list = p->cb_list;
	p->cb_list = NULL;
	pthread_mutex_unlock(&p->mu);
	for (struct mp_result *j = list, *next; j; j = next) {
		next = j->cb_next;
		mp_result_cb cb = j->status == 0 ? j->cb : j->ecb;
		if (cb)
			cb(j, j->cb_arg);
		pthread_mutex_lock(&p->mu);
		j->cb = j->ecb = NULL; /* ran: a free may now go ahead */
		if (j->detached)
			job_release(p, j);
		pthread_mutex_unlock(&p->mu);
	}
}

void mp__pool_free_jobs(mp_pool_t *p)
{
	while (p->jobs) {
		struct mp_result *j = p->jobs;
		job_unlink(p, j);
		job_free(j);
	}
}

/* ---- waiting ---------------------------------------------------------------- */

static bool job_ready(mp_pool_t *p, void *arg)
{
	struct mp_result *j = arg;
	pthread_mutex_lock(&p->mu);
	bool r = j->ready;
	pthread_mutex_unlock(&p->mu);
	return r;
}

/* The supervisor stops watching results while callers drain them: wake it
 * when the last of them leaves with work still out. */
static void getter_leave(mp_pool_t *p)
{
	if (atomic_fetch_sub(&p->getters, 1) == 1 &&
	    atomic_load(&p->pending_jobs) > 0)
		mp_event_set(&p->wake);
}

/*
 * Wait until done(job) or the deadline, draining results meanwhile: the
 * result we wait for most often arrives while we look, and taking it
 * ourselves saves a thread hop.  0 or -ETIMEDOUT / -EAGAIN, -EINTR.
 */
static int wait_for(mp_pool_t *p, bool (*done)(mp_pool_t *, void *),
                    void *arg, int64_t deadline, bool try)
{
	static _Thread_local _Atomic uint32_t spin;
	int r = 0;

	atomic_fetch_add(&p->getters, 1);
	for (;;) {
		uint32_t seen = atomic_load(&p->progress);
		mp__pool_drain(p);
		if (done(p, arg))
			break;
		if (try || (deadline != MP__NO_DEADLINE &&
		            mp_sys_now_ns() >= deadline)) {
			r = try ? -EAGAIN : -ETIMEDOUT;
			break;
		}
		/* Our result makes a round trip through a worker. */
		if (MP__SPIN_UNTIL_X(&spin, MP__ROUND_TRIP_SPIN, 1,
		                     atomic_load(&p->progress) != seen ||
		                     !mp_queue_empty(p->results)))
			continue;
		mp_waitable_t objs[2] = {
			mp_wait_queue(p->results),
			{ .kind = MP__WAIT_WORD, .since = seen, .obj = &p->progress },
		};
		size_t ready[2];
		atomic_fetch_add(&p->progress_waiters, 1);
		int64_t left = deadline == MP__NO_DEADLINE ? MP_FOREVER
		             : deadline - mp_sys_now_ns();
		int w = mp_wait(objs, 2, left > 0 || left == MP_FOREVER ? left
		                                                        : 0,
		                ready);
		atomic_fetch_sub(&p->progress_waiters, 1);
		if (w == -EINTR) {
			r = w;
			break;
		}
	}
	getter_leave(p);
	return r;
}

/* ---- submitting --------------------------------------------------------------- */

static struct mp_result *job_new(mp_pool_t *p, enum job_kind kind,
                                 size_t nchunks)
{
	struct mp_result *j = calloc(1, sizeof(*j));
	if (!j)
		return NULL;
	j->pool = p;
	j->serial = atomic_fetch_add_explicit(&p->job_serial, 1,
	                                      memory_order_relaxed) + 1;
	j->kind = kind;
	j->nchunks = nchunks;
	if (nchunks <= 1) {
		j->inputs = &j->input1;
		j->chunk_done = &j->done1;
		return j;
	}
	j->inputs = calloc(nchunks, sizeof(*j->inputs));
	j->chunk_done = calloc(nchunks, 1);
	if (!j->inputs || !j->chunk_done) {
		job_free(j);
		return NULL;
	}
	return j;
}

/* A map's input, copied into each chunk's block just before its task is
 * sent: the workers start on the first chunks while the caller copies the
 * rest. */
struct map_src {
	const char *in;
	size_t in_size;
};

static void fill_chunk(struct mp_result *j, const struct map_src *src,
                       const struct task *t)
{
	size_t first = (size_t)t->chunk * j->chunksize;
	size_t len = t->count * src->in_size;
	char *dst = (char *)j->inputs[t->chunk] +
	            elem_in_base(t->count, src->in_size, j->out_size);
	/* Heap pages this process has not touched yet (a first large map)
	 * fault one by one otherwise; mapped ones cost a look. */
	if (len >= PREFAULT_MIN)
		(void)mp_sys_prefault_write(dst, len);
	memcpy(dst, src->in + first * src->in_size, len);
}

/* Put the job on the list, then its tasks on the queue (a map's chunks
 * filled from src on the way).  If the pool is closed, or the queue
 * refuses, the chunks not sent are failed. */
static int submit(mp_pool_t *p, struct mp_result *j, struct task *tasks,
                  const struct map_src *src)
{
	pthread_mutex_lock(&p->mu);
	if (p->state != POOL_RUNNING || p->broken) {
		pthread_mutex_unlock(&p->mu);
		return p->broken ? -MP_EWORKERDIED : -MP_ECLOSED;
	}
	j->next = p->jobs;
	if (p->jobs)
		p->jobs->prev = j;
	p->jobs = j;
	if (j->nchunks == 0) {
		j->ready = true;
		if (j->cb || j->ecb) {
			j->cb_next = p->cb_list;
			p->cb_list = j;
			mp_event_set(&p->wake);
		}
	} else {
		atomic_fetch_add(&p->pending_jobs, 1);
	}
	pthread_mutex_unlock(&p->mu);
	/* Nobody is waiting to take the results: make sure the supervisor
	 * does, or they would pile up and the workers stall. */
	if (j->nchunks && !atomic_load(&p->getters) &&
	    !atomic_load(&p->sup_watching))
		mp_event_set(&p->wake);
	for (size_t c = 0; c < j->nchunks; c++) {
		if (src)
			fill_chunk(j, src, &tasks[c]);
		int r = mp_queue_put(p->tasks, &tasks[c], sizeof(tasks[c]),
		                     MP_FOREVER);
		if (r < 0)
			mp__pool_fail_task(p, &tasks[c], r, "pool closed", 0);
	}
	return 0;
}

static void *copy_in(const void *src, size_t len, int *err)
{
	if (!len)
		return NULL;
	void *b = mp__heap_alloc_raw(len, err);
	if (b)
		memcpy(b, src, len);
	return b;
}

mp_result_t *mp_pool_apply_async(mp_pool_t *p, mp_task_fn fn, const void *in,
                                 size_t len, mp_result_cb callback,
                                 mp_result_cb error_callback, void *cb_arg,
                                 int *err)
{
	int dummy;
	if (!err)
		err = &dummy;
	if (!p || !fn || (!in && len)) {
		*err = -EINVAL;
		return NULL;
	}
	struct mp_result *j = job_new(p, JOB_APPLY, 1);
	*err = -ENOMEM;
	if (!j)
		return NULL;
	j->chunksize = 1;
	j->n = 1;
	j->cb = callback;
	j->ecb = error_callback;
	j->cb_arg = cb_arg;
	*err = 0;
	j->inputs[0] = copy_in(in, len, err);
	struct task t = { .kind = TASK_BUF, .job = (uint64_t)(uintptr_t)j,
	                  .serial = j->serial,
	                  .fn = (uint64_t)(uintptr_t)fn,
	                  .in = (uint64_t)(uintptr_t)j->inputs[0], .count = len };
	if (*err < 0 || (*err = submit(p, j, &t, NULL)) < 0) {
		job_free(j);
		return NULL;
	}
	return j;
}

/* Python's default: len / (4 * processes), rounded up; at least 1. */
static size_t default_chunksize(mp_pool_t *p, size_t n)
{
	size_t d = 4 * (size_t)p->nproc;
	size_t c = n / d + (n % d != 0);
	return c ? c : 1;
}

/* A map's job and its chunks' tasks, each with its block allocated (the
 * input is copied in by submit); NULL on error. */
static struct mp_result *map_job(mp_pool_t *p, enum job_kind kind,
                                 mp_elem_fn fn, size_t in_size, size_t n,
                                 size_t out_size,
                                 size_t chunksize, struct task **tasks_out,
                                 int *err)
{
	size_t nchunks = n ? (n + chunksize - 1) / chunksize : 0;
	struct mp_result *j = job_new(p, kind, nchunks);
	struct task *tasks = calloc(nchunks ? nchunks : 1, sizeof(*tasks));
	*err = -ENOMEM;
	if (!j || !tasks) {
		free(tasks);
		if (j)
			job_free(j);
		return NULL;
	}
	j->n = n;
	j->chunksize = chunksize;
	j->out_size = out_size;
	*err = 0;
	for (size_t c = 0; c < nchunks && *err == 0; c++) {
		size_t first = c * chunksize;
		size_t count = first + chunksize <= n ? chunksize : n - first;
		j->inputs[c] = mp__heap_alloc_raw(
			elem_block_size(count, in_size, out_size), err);
		tasks[c] = (struct task){
			.kind = TASK_ELEM, .chunk = (uint32_t)c,
			.job = (uint64_t)(uintptr_t)j, .serial = j->serial,
			.fn = (uint64_t)(uintptr_t)fn,
			.in = (uint64_t)(uintptr_t)j->inputs[c], .count = count,
			.in_size = (uint32_t)in_size, .out_size = (uint32_t)out_size };
	}
	if (*err < 0) {
		free(tasks);
		job_free(j);
		return NULL;
	}
	*tasks_out = tasks;
	return j;
}

/* Sizes and counts a map can take. */
static bool map_args_ok(mp_pool_t *p, mp_elem_fn fn, const void *in,
                        size_t in_size, size_t n, size_t out_size)
{
	return p && fn && (in || !n) && in_size && out_size &&
	       in_size <= UINT32_MAX && out_size <= UINT32_MAX &&
	       n <= SIZE_MAX / (in_size > out_size ? in_size : out_size) &&
	       n <= UINT32_MAX;
}

struct map_args {
	enum job_kind kind;
	mp_elem_fn fn;
	const void *in;
	size_t in_size, n, out_size, chunksize;
	void *out;
	int *status;
	mp_result_cb cb, ecb;
	void *cb_arg;
};

static struct mp_result *map_submit(mp_pool_t *p, const struct map_args *a,
                                    int *err)
{
	size_t chunksize = a->chunksize ? a->chunksize
	                 : a->kind == JOB_IMAP ? 1 : default_chunksize(p, a->n);
	struct task *tasks = NULL;
	struct mp_result *j = map_job(p, a->kind, a->fn, a->in_size, a->n,
	                              a->out_size, chunksize, &tasks, err);
	if (!j)
		return NULL;
	j->outv = a->out;
	j->statusv = a->status;
	j->cb = a->cb;
	j->ecb = a->ecb;
	j->cb_arg = a->cb_arg;
	if (a->kind == JOB_IMAP) {
		j->own_outv = true;
		j->outv = malloc(a->n * a->out_size + 1);
		j->statusv = calloc(a->n + 1, sizeof(int));
		j->order = calloc(j->nchunks + 1, sizeof(size_t));
		if (!j->outv || !j->statusv || !j->order)
			*err = -ENOMEM;
	}
	struct map_src src = { a->in, a->in_size };
	if (*err == 0)
		*err = submit(p, j, tasks, &src);
	free(tasks);
	if (*err < 0) {
		job_free(j);
		return NULL;
	}
	return j;
}

mp_result_t *mp_pool_map_async(mp_pool_t *p, mp_elem_fn fn, const void *in,
                               size_t in_size, size_t n, void *out,
                               size_t out_size, int *status, size_t chunksize,
                               mp_result_cb callback,
                               mp_result_cb error_callback, void *cb_arg,
                               int *err)
{
	int dummy;
	if (!err)
		err = &dummy;
	if (!map_args_ok(p, fn, in, in_size, n, out_size) || (!out && n)) {
		*err = -EINVAL;
		return NULL;
	}
	if (status)
		memset(status, 0, n * sizeof(*status));
	struct map_args a = { JOB_MAP, fn, in, in_size, n, out_size, chunksize,
	                      out, status, callback, error_callback, cb_arg };
	return map_submit(p, &a, err);
}

mp_result_t *mp_pool_starmap_async(mp_pool_t *p, mp_elem_fn fn,
                                   const void *in, size_t in_size, size_t n,
                                   void *out, size_t out_size, int *status,
                                   size_t chunksize, mp_result_cb callback,
                                   mp_result_cb error_callback, void *cb_arg,
                                   int *err)
{
	return mp_pool_map_async(p, fn, in, in_size, n, out, out_size, status,
	                         chunksize, callback, error_callback, cb_arg,
	                         err);
}

/* ---- AsyncResult -------------------------------------------------------------- */

int mp_result_wait(mp_result_t *j, int64_t timeout_ns)
{
	int64_t deadline;
	if (!j || mp__deadline(timeout_ns, &deadline) < 0)
		return -EINVAL;
	return wait_for(j->pool, job_ready, j, deadline, timeout_ns == 0);
}

int mp_result_get(mp_result_t *j, int64_t timeout_ns, void **out,
                  size_t *out_len)
{
	int r = mp_result_wait(j, timeout_ns);
	if (r < 0)
		return r;
	pthread_mutex_lock(&j->pool->mu);
	r = j->status;
	if (r == 0 && j->kind == JOB_APPLY) {
		if (out) {
			*out = j->out; /* handed over */
			j->out = NULL;
		}
		if (out_len)
			*out_len = j->out_len;
	}
	pthread_mutex_unlock(&j->pool->mu);
	return r;
}

int mp_result_ready(mp_result_t *j)
{
	return j ? job_ready(j->pool, j) : -EINVAL;
}

int mp_result_successful(mp_result_t *j)
{
	if (!j)
		return -EINVAL;
	pthread_mutex_lock(&j->pool->mu);
	int r = !j->ready ? -EAGAIN : j->status == 0;
	pthread_mutex_unlock(&j->pool->mu);
	return r;
}

const char *mp_result_detail(mp_result_t *j, int *signo)
{
	if (!j)
		return NULL;
	pthread_mutex_lock(&j->pool->mu);
	const char *d = !j->ready || !j->status ? NULL
	              : j->detail ? j->detail : "(no memory for the detail)";
	if (signo)
		*signo = d ? j->signo : 0;
	pthread_mutex_unlock(&j->pool->mu);
	return d;
}

int mp_result_free(mp_result_t *j)
{
	if (!j)
		return 0;
	mp_pool_t *p = j->pool;
	pthread_mutex_lock(&p->mu);
	j->detached = true;
	/* Unfinished, or its callback still due: freed when that is over. */
	if (j->ready && !j->cb && !j->ecb)
		job_release(p, j);
	pthread_mutex_unlock(&p->mu);
	return 0;
}

/* ---- the synchronous forms ---------------------------------------------------- */

/* The synchronous forms count as waiting for their result from before
 * they submit, so the supervisor leaves the result to them. */
int mp_pool_apply(mp_pool_t *p, mp_task_fn fn, const void *in, size_t len,
                  void **out, size_t *out_len)
{
	int err;
	if (!p)
		return -EINVAL;
	atomic_fetch_add(&p->getters, 1);
	mp_result_t *j = mp_pool_apply_async(p, fn, in, len, NULL, NULL, NULL,
	                                     &err);
	if (j)
		err = mp_result_get(j, MP_FOREVER, out, out_len);
	getter_leave(p);
	mp_result_free(j);
	return err;
}

int mp_pool_map(mp_pool_t *p, mp_elem_fn fn, const void *in, size_t in_size,
                size_t n, void *out, size_t out_size, int *status,
                size_t chunksize)
{
	int err;
	if (!p)
		return -EINVAL;
	atomic_fetch_add(&p->getters, 1);
	mp_result_t *j = mp_pool_map_async(p, fn, in, in_size, n, out, out_size,
	                                   status, chunksize, NULL, NULL, NULL,
	                                   &err);
	if (j)
		err = mp_result_get(j, MP_FOREVER, NULL, NULL);
	getter_leave(p);
	mp_result_free(j);
	return err;
}

int mp_pool_starmap(mp_pool_t *p, mp_elem_fn fn, const void *in,
                    size_t in_size, size_t n, void *out, size_t out_size,
                    int *status, size_t chunksize)
{
	return mp_pool_map(p, fn, in, in_size, n, out, out_size, status,
	                   chunksize);
}

/* ---- imap ---------------------------------------------------------------------- */

static mp_imap_t *imap_new(mp_pool_t *p, mp_elem_fn fn, const void *in,
                           size_t in_size, size_t n, size_t out_size,
                           size_t chunksize, bool ordered, int *err)
{
	int dummy;
	if (!err)
		err = &dummy;
	if (!map_args_ok(p, fn, in, in_size, n, out_size)) {
		*err = -EINVAL;
		return NULL;
	}
	mp_imap_t *it = calloc(1, sizeof(*it));
	if (!it) {
		*err = -ENOMEM;
		return NULL;
	}
	it->ordered = ordered;
	struct map_args a = { JOB_IMAP, fn, in, in_size, n, out_size, chunksize,
	                      NULL, NULL, NULL, NULL, NULL };
	it->job = map_submit(p, &a, err);
	if (!it->job) {
		free(it);
		return NULL;
	}
	return it;
}

mp_imap_t *mp_pool_imap(mp_pool_t *p, mp_elem_fn fn, const void *in,
                        size_t in_size, size_t n, size_t out_size,
                        size_t chunksize, int *err)
{
	return imap_new(p, fn, in, in_size, n, out_size, chunksize, true, err);
}

mp_imap_t *mp_pool_imap_unordered(mp_pool_t *p, mp_elem_fn fn, const void *in,
                                  size_t in_size, size_t n, size_t out_size,
                                  size_t chunksize, int *err)
{
	return imap_new(p, fn, in, in_size, n, out_size, chunksize, false, err);
}

/* The element an iterator returns next, if its chunk is back (mutex
 * held): its index, or -1. */
static long imap_peek(mp_imap_t *it)
{
	struct mp_result *j = it->job;
	if (it->ordered)
		return j->chunk_done[it->pos / j->chunksize] ? (long)it->pos : -1;
	if (it->ord_chunk >= j->norder)
		return -1;
	return (long)(j->order[it->ord_chunk] * j->chunksize + it->ord_off);
}

static bool imap_has_next(mp_pool_t *p, void *arg)
{
	mp_imap_t *it = arg;
	pthread_mutex_lock(&p->mu);
	bool r = imap_peek(it) >= 0;
	pthread_mutex_unlock(&p->mu);
	return r;
}

int mp_imap_next(mp_imap_t *it, void *out, size_t *index, int64_t timeout_ns)
{
	int64_t deadline;
	if (!it || !out || mp__deadline(timeout_ns, &deadline) < 0)
		return -EINVAL;
	struct mp_result *j = it->job;
	mp_pool_t *p = j->pool;
	if (it->pos >= j->n)
		return -MP_EEOF;
	int r = wait_for(p, imap_has_next, it, deadline, timeout_ns == 0);
	if (r < 0)
		return r;
	pthread_mutex_lock(&p->mu);
	size_t i = (size_t)imap_peek(it);
	memcpy(out, j->outv + i * j->out_size, j->out_size);
	r = j->statusv[i];
	if (index)
		*index = i;
	it->pos++;
	if (!it->ordered) {
		size_t c = j->order[it->ord_chunk], first = c * j->chunksize;
		size_t count = first + j->chunksize <= j->n ? j->chunksize
		                                            : j->n - first;
		if (++it->ord_off == count) {
			it->ord_chunk++;
			it->ord_off = 0;
		}
	}
	pthread_mutex_unlock(&p->mu);
	return r;
}

int mp_imap_free(mp_imap_t *it)
{
	if (!it)
		return 0;
	mp_result_free(it->job);
	free(it);
	return 0;
}
