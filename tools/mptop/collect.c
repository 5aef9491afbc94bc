/*
 * collect.c - one reading of the target: the family, then each registered
 * object decoded from a copy (peek.h), with the threads asleep on it.
 */
#include "mptop.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

struct walk {
	struct target *t;
	struct mp__peek_src src;
	struct view *v;
	size_t cap;
	int err;
};

static void sleepers_on(const struct view *v, struct object *o, uint64_t addr,
                        size_t role)
{
	pid_t *tids = role == 0 ? o->tids : NULL;
	o->asleep[role] = family_sleepers(&v->fam, addr, tids,
	                                  tids ? MAX_SHOWN_TIDS : 0);
}

static int decode_pool(struct walk *w, struct object *o, uint64_t off,
                       const void *hdr)
{
	int r = mp__pool_peek(hdr, &o->u.pool);
	if (r < 0 || o->u.pool.nproc == 0 || o->u.pool.nproc > 4096)
		return -EINVAL;
	size_t n = o->u.pool.nproc;
	unsigned char *buf = malloc(n * MP__PEEK_WORKER);
	o->workers = calloc(n, sizeof(*o->workers));
	if (!buf || !o->workers) {
		free(buf);
		return -ENOMEM;
	}
	r = w->src.read(w->t, off + MP__PEEK_POOL_HDR, buf, n * MP__PEEK_WORKER);
	for (size_t i = 0; r == 0 && i < n; i++)
		r = mp__pool_peek_worker(buf + i * MP__PEEK_WORKER,
		                         &o->workers[i]);
	free(buf);
	return r;
}

/* Decode the object at off into o: 0, -EINVAL when it is not (or no
 * longer) what the registry says, or a read's error. */
static int decode(struct walk *w, struct object *o, uint64_t off)
{
	unsigned char buf[MP__PEEK_QUEUE_HDR];
	size_t need = o->kind == MP__KIND_QUEUE ? MP__PEEK_QUEUE_HDR
	            : o->kind == MP__KIND_POOL ? MP__PEEK_POOL_HDR
	            : o->kind == MP__KIND_SEM ? sizeof(mp_sem_t)
	            : o->kind == MP__KIND_EVENT ? sizeof(mp_event_t)
	            : sizeof(mp_lock_t);
	int r = w->src.read(w->t, off, buf, need);

	if (r < 0)
		return r;
	switch (o->kind) {
	case MP__KIND_LOCK:
	case MP__KIND_RLOCK:
		return mp__lock_peek(buf, o->kind == MP__KIND_RLOCK, &o->u.lock);
	case MP__KIND_SEM:
		return mp__sem_peek(buf, &o->u.sem);
	case MP__KIND_EVENT:
		return mp__event_peek(buf, &o->u.event);
	case MP__KIND_QUEUE:
		return mp__queue_peek(buf, &o->u.queue);
	case MP__KIND_POOL:
		return decode_pool(w, o, off, buf);
	default:
		return -EINVAL; /* a kind of a later mproc */
	}
}

/* Who holds it, and who sleeps on it. */
static void relate(struct view *v, struct object *o)
{
	if (o->kind == MP__KIND_QUEUE) {
		for (size_t k = 0; k < MP__PEEK_Q_NFUTEX; k++)
			sleepers_on(v, o, o->addr + o->u.queue.futex_off[k], k);
		return;
	}
	/* Lock, semaphore and event: the futex word is the first. */
	if (o->kind != MP__KIND_POOL)
		sleepers_on(v, o, o->addr, 0);
	if ((o->kind == MP__KIND_LOCK || o->kind == MP__KIND_RLOCK) &&
	    o->u.lock.tid) {
		o->holder_pid = family_pid_of(&v->fam, (pid_t)o->u.lock.tid);
		o->holder_gone = mp_sys_thread_gone((pid_t)o->u.lock.tid,
		                                    o->u.lock.ident);
	}
}

static int visit(unsigned kind, uint64_t off, void *arg)
{
	struct walk *w = arg;
	struct view *v = w->v;

	if (v->nobjs == w->cap &&
	    mp__grow(&v->objs, &w->cap, sizeof(*v->objs), 32) < 0)
		return -ENOMEM;
	struct object *o = &v->objs[v->nobjs];
	*o = (struct object){ .kind = kind, .addr = w->t->base + off };
	int r = decode(w, o, off);
	if (r == -EINVAL) { /* freed or remade since the registry was read */
		free(o->workers);
		return 0;
	}
	if (r < 0) {
		free(o->workers);
		return r;
	}
	relate(v, o);
	v->nobjs++;
	return 0;
}

static int by_addr(const void *a, const void *b)
{
	uint64_t x = ((const struct object *)a)->addr;
	uint64_t y = ((const struct object *)b)->addr;
	return (x > y) - (x < y);
}

int view_collect(struct target *t, struct view *v, char *why, size_t len)
{
	struct walk w = { .t = t, .src = target_src(t), .v = v };
	int r;

	*v = (struct view){ 0 };
	if ((r = mp__peek_heap(&w.src, &v->heap)) < 0 ||
	    (r = family_scan(t, &v->fam)) < 0 ||
	    (r = mp__peek_each(&w.src, visit, &w)) < 0) {
		snprintf(why, len, "pid %d: reading its heap: %s", (int)t->pid,
		         strerror(-r));
		view_free(v);
		return r;
	}
	/* In address order: the registry's is a hash's. */
	if (v->nobjs)
		qsort(v->objs, v->nobjs, sizeof(*v->objs), by_addr);
	return 0;
}

void view_free(struct view *v)
{
	for (size_t i = 0; i < v->nobjs; i++)
		free(v->objs[i].workers);
	free(v->objs);
	family_free(&v->fam);
	*v = (struct view){ 0 };
}
