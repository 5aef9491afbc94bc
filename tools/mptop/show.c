/*
 * show.c - the view as text (a headline, then a section per kind) or as
 * one JSON object.
 */
#include "mptop.h"

#include <inttypes.h>
#include <string.h>

static const char *const worker_states[] = {
	[MP__WORKER_STARTING] = "starting", [MP__WORKER_IDLE] = "idle",
	[MP__WORKER_RUNNING] = "running",   [MP__WORKER_STOPPED] = "stopped",
	[MP__WORKER_RETIRED] = "retired",   [MP__WORKER_TRAPPED] = "trapped",
};

static const char *kind_name(const struct object *o)
{
	switch (o->kind) {
	case MP__KIND_LOCK: return "Lock";
	case MP__KIND_RLOCK: return "RLock";
	case MP__KIND_SEM: return o->u.sem.bounded ? "BoundedSemaphore"
	                                           : "Semaphore";
	case MP__KIND_EVENT: return "Event";
	case MP__KIND_QUEUE: return o->u.queue.joinable ? "JoinableQueue"
	                                                : "Queue";
	default: return "Pool";
	}
}

static bool is_lock(const struct object *o)
{
	return o->kind == MP__KIND_LOCK || o->kind == MP__KIND_RLOCK;
}

/* The held lock most threads sleep on (then: flagged waiters), or NULL. */
static const struct object *worst_lock(const struct view *v)
{
	const struct object *best = NULL;

	for (size_t i = 0; i < v->nobjs; i++) {
		const struct object *o = &v->objs[i];
		if (!is_lock(o) || !o->u.lock.tid)
			continue;
		if (!best || o->asleep[0] > best->asleep[0] ||
		    (o->asleep[0] == best->asleep[0] && o->u.lock.waiters &&
		     !best->u.lock.waiters))
			best = o;
	}
	return best;
}

static void holder(FILE *out, const struct view *v, const struct object *o)
{
	const struct mp__peek_lock *l = &o->u.lock;

	if (o->holder_gone == 1)
		fprintf(out, "held by tid %u, which has ended (the next taker"
		        " gets EOWNERDEAD)", l->tid);
	else if (o->holder_pid)
		fprintf(out, "held by pid %d (tid %u%s%s)", (int)o->holder_pid,
		        l->tid, *family_comm(&v->fam, o->holder_pid) ? ", " : "",
		        family_comm(&v->fam, o->holder_pid));
	else
		fprintf(out, "held by tid %u (process not found)", l->tid);
}

static void headline(FILE *out, const struct view *v)
{
	const struct object *o = worst_lock(v);

	if (!o) {
		fprintf(out, "no lock held\n");
		return;
	}
	fprintf(out, "%s 0x%" PRIx64 " ", o->kind == MP__KIND_RLOCK ? "rlock"
	        : "lock", o->addr);
	holder(out, v, o);
	fprintf(out, ", %zu waiting\n", o->asleep[0]);
}

static void tids(FILE *out, const struct object *o)
{
	size_t n = o->asleep[0] < MAX_SHOWN_TIDS ? o->asleep[0] : MAX_SHOWN_TIDS;
	for (size_t i = 0; i < n; i++)
		fprintf(out, "%s%d", i ? " " : " (tids ", (int)o->tids[i]);
	if (n)
		fprintf(out, "%s)", o->asleep[0] > n ? " ..." : "");
}

static void show_lock(FILE *out, const struct view *v, const struct object *o)
{
	const struct mp__peek_lock *l = &o->u.lock;

	if (l->tid)
		holder(out, v, o);
	else
		fprintf(out, "free");
	if (l->count > 1)
		fprintf(out, ", depth %u", l->count);
	fprintf(out, ", %zu waiting", o->asleep[0]);
	tids(out, o);
	if (l->waiters)
		fprintf(out, ", waiters flagged");
	if (l->spinners)
		fprintf(out, ", %u spinning", l->spinners);
	if (l->owner_died || l->state == 1)
		fprintf(out, ", owner died (not yet repaired)");
	if (l->state == 2)
		fprintf(out, ", not recoverable");
}

/* The pool whose task or result queue q is: " (pool 0x.. tasks)". */
static void owner(FILE *out, const struct view *v, const struct object *q)
{
	for (size_t i = 0; i < v->nobjs; i++) {
		const struct object *p = &v->objs[i];
		if (p->kind == MP__KIND_POOL &&
		    (p->u.pool.tasks == q->addr || p->u.pool.results == q->addr))
			fprintf(out, " (pool 0x%" PRIx64 " %s)", p->addr,
			        p->u.pool.tasks == q->addr ? "tasks" : "results");
	}
}

static void show_queue(FILE *out, const struct view *v, const struct object *o)
{
	const struct mp__peek_queue *q = &o->u.queue;

	fprintf(out, "%u messages, %u of %u ring bytes", q->msgs, q->bytes,
	        q->capacity);
	if (q->maxsize)
		fprintf(out, " (maxsize %" PRId64 ")", q->maxsize);
	fprintf(out, ", %zu getting, %zu putting asleep",
	        o->asleep[MP__PEEK_Q_DATA], o->asleep[MP__PEEK_Q_SPACE]);
	if (q->put_holder)
		fprintf(out, ", put lock held by tid %u", q->put_holder);
	if (q->get_holder)
		fprintf(out, ", get lock held by tid %u", q->get_holder);
	if (o->asleep[MP__PEEK_Q_PUT_LOCK] + o->asleep[MP__PEEK_Q_GET_LOCK])
		fprintf(out, " (%zu waiting for them)",
		        o->asleep[MP__PEEK_Q_PUT_LOCK] +
		        o->asleep[MP__PEEK_Q_GET_LOCK]);
	if (q->joinable)
		fprintf(out, ", %u unfinished, %zu joining", q->unfinished,
		        o->asleep[MP__PEEK_Q_DONE]);
	if (q->closed)
		fprintf(out, ", closed");
	owner(out, v, o);
}

static const struct object *find(const struct view *v, uint64_t addr)
{
	for (size_t i = 0; i < v->nobjs; i++)
		if (v->objs[i].addr == addr)
			return &v->objs[i];
	return NULL;
}

static bool running(const struct view *v, pid_t pid)
{
	for (size_t i = 0; i < v->fam.npids; i++)
		if (v->fam.pids[i] == pid)
			return true;
	return false;
}

static void show_pool(FILE *out, const struct view *v, const struct object *o)
{
	const struct object *tq = find(v, o->u.pool.tasks);

	fprintf(out, "%u workers", o->u.pool.nproc);
	if (tq)
		fprintf(out, ", %u tasks queued", tq->u.queue.msgs);
	fprintf(out, " (queues 0x%" PRIx64 ", 0x%" PRIx64 ")\n",
	        o->u.pool.tasks, o->u.pool.results);
	for (uint32_t i = 0; i < o->u.pool.nproc; i++) {
		const struct mp__peek_worker *w = &o->workers[i];
		char where[128] = "";
		fprintf(out, "    worker %u: pid %d %s", i, (int)w->pid,
		        worker_states[w->state]);
		if (w->state == MP__WORKER_RUNNING) {
			where_is(w->pid, w->fn, where, sizeof(where));
			fprintf(out, " fn 0x%" PRIx64 "%s%s%s job 0x%" PRIx64
			        " chunk %u", w->fn, *where ? " (" : "", where,
			        *where ? ")" : "", w->job, w->chunk);
		}
		if (w->state == MP__WORKER_TRAPPED)
			fprintf(out, " (system call %d)", (int)w->syscall);
		if (w->pid && !running(v, w->pid))
			fprintf(out, " (exited)");
		fprintf(out, ", %" PRIu64 " tasks done\n", w->tasks);
	}
}

static void section(FILE *out, const struct view *v, const char *title,
                    unsigned k1, unsigned k2)
{
	size_t n = 0;
	for (size_t i = 0; i < v->nobjs; i++)
		n += v->objs[i].kind == k1 || v->objs[i].kind == k2;
	if (!n)
		return;
	fprintf(out, "%s (%zu):\n", title, n);
	for (size_t i = 0; i < v->nobjs; i++) {
		const struct object *o = &v->objs[i];
		if (o->kind != k1 && o->kind != k2)
			continue;
		fprintf(out, "  0x%" PRIx64 " %s ", o->addr, kind_name(o));
		if (is_lock(o))
			show_lock(out, v, o);
		else if (o->kind == MP__KIND_SEM)
			fprintf(out, "value %u%s, %zu waiting", o->u.sem.value,
			        o->u.sem.bounded ? " (bounded)" : "", o->asleep[0]);
		else if (o->kind == MP__KIND_EVENT)
			fprintf(out, "%s, %zu waiting", o->u.event.set ? "set"
			        : "clear", o->asleep[0]);
		else if (o->kind == MP__KIND_QUEUE)
			show_queue(out, v, o);
		if (o->kind == MP__KIND_POOL)
			show_pool(out, v, o);
		else
			fprintf(out, "\n");
	}
}

void show_text(FILE *out, const struct target *t, const struct view *v)
{
	headline(out, v);
	fprintf(out, "pid %d (%s): heap 0x%" PRIx64 ", %" PRIu64 " MiB, %"
	        PRIu64 " KiB live, %zu objects shown", (int)t->pid,
	        family_comm(&v->fam, t->pid), t->base, v->heap.size >> 20,
	        v->heap.bytes_live >> 10, v->nobjs);
	if (v->heap.untagged)
		fprintf(out, " (%" PRIu64 " made when the registry was full are"
		        " not)", v->heap.untagged);
	fprintf(out, "\nprocesses (%zu):", v->fam.npids);
	for (size_t i = 0; i < v->fam.npids; i++)
		fprintf(out, " %d %s%s", (int)v->fam.pids[i], v->fam.comm[i],
		        i + 1 < v->fam.npids ? "," : "");
	fprintf(out, "\n");
	section(out, v, "locks", MP__KIND_LOCK, MP__KIND_RLOCK);
	section(out, v, "semaphores", MP__KIND_SEM, MP__KIND_SEM);
	section(out, v, "events", MP__KIND_EVENT, MP__KIND_EVENT);
	section(out, v, "queues", MP__KIND_QUEUE, MP__KIND_QUEUE);
	section(out, v, "pools", MP__KIND_POOL, MP__KIND_POOL);
}

/* ---- JSON ------------------------------------------------------------------- */

/* A string as JSON (comm names may hold anything). */
static void jstr(FILE *out, const char *s)
{
	fputc('"', out);
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;
		if (c == '"' || c == '\\')
			fprintf(out, "\\%c", c);
		else if (c < 0x20)
			fprintf(out, "\\u%04x", c);
		else
			fputc(c, out);
	}
	fputc('"', out);
}

static void json_object(FILE *out, const struct object *o)
{
	fprintf(out, "{\"kind\":\"%s\",\"addr\":%" PRIu64 ",\"waiting\":%zu",
	        kind_name(o), o->addr, o->asleep[0]);
	if (is_lock(o)) {
		const struct mp__peek_lock *l = &o->u.lock;
		fprintf(out, ",\"holder_tid\":%u,\"holder_pid\":%d,"
		        "\"holder_gone\":%s,\"depth\":%u,\"waiters_flag\":%s,"
		        "\"owner_died\":%s,\"state\":%u", l->tid,
		        (int)o->holder_pid, o->holder_gone == 1 ? "true" : "false",
		        l->count, l->waiters ? "true" : "false",
		        l->owner_died ? "true" : "false", l->state);
	} else if (o->kind == MP__KIND_SEM) {
		fprintf(out, ",\"value\":%u,\"bounded\":%s", o->u.sem.value,
		        o->u.sem.bounded ? "true" : "false");
	} else if (o->kind == MP__KIND_EVENT) {
		fprintf(out, ",\"set\":%s", o->u.event.set ? "true" : "false");
	} else if (o->kind == MP__KIND_QUEUE) {
		const struct mp__peek_queue *q = &o->u.queue;
		fprintf(out, ",\"messages\":%u,\"bytes\":%u,\"capacity\":%u,"
		        "\"getting\":%zu,\"putting\":%zu,\"closed\":%s,"
		        "\"unfinished\":%u", q->msgs, q->bytes, q->capacity,
		        o->asleep[MP__PEEK_Q_DATA], o->asleep[MP__PEEK_Q_SPACE],
		        q->closed ? "true" : "false", q->unfinished);
	} else {
		fprintf(out, ",\"tasks\":%" PRIu64 ",\"results\":%" PRIu64
		        ",\"workers\":[", o->u.pool.tasks, o->u.pool.results);
		for (uint32_t i = 0; i < o->u.pool.nproc; i++) {
			const struct mp__peek_worker *w = &o->workers[i];
			fprintf(out, "%s{\"pid\":%d,\"state\":\"%s\",\"fn\":%"
			        PRIu64 ",\"job\":%" PRIu64 ",\"chunk\":%u,"
			        "\"tasks\":%" PRIu64 "}", i ? "," : "",
			        (int)w->pid, worker_states[w->state], w->fn,
			        w->job, w->chunk, w->tasks);
		}
		fputc(']', out);
	}
	fputc('}', out);
}

void show_json(FILE *out, const struct target *t, const struct view *v)
{
	fprintf(out, "{\"pid\":%d,\"heap\":%" PRIu64 ",\"size\":%" PRIu64
	        ",\"live\":%" PRIu64 ",\"untagged\":%" PRIu64
	        ",\"processes\":[", (int)t->pid, t->base, v->heap.size,
	        v->heap.bytes_live, v->heap.untagged);
	for (size_t i = 0; i < v->fam.npids; i++) {
		fprintf(out, "%s{\"pid\":%d,\"comm\":", i ? "," : "",
		        (int)v->fam.pids[i]);
		jstr(out, v->fam.comm[i]);
		fputc('}', out);
	}
	fprintf(out, "],\"objects\":[");
	for (size_t i = 0; i < v->nobjs; i++) {
		if (i)
			fputc(',', out);
		json_object(out, &v->objs[i]);
	}
	fprintf(out, "]}\n");
}
