/*
 * manager_sync.c - the manager's blocking kinds: Queue, JoinableQueue,
 * Lock, RLock, Semaphore, BoundedSemaphore, Condition, Event, Barrier.
 *
 * None of them ever blocks the server.  A call that cannot finish now
 * returns MGR_PARK; the server keeps it (with the deadline set on its
 * first run, when phase goes from 0 to 1) and runs it again after every
 * change and at the deadline (c->timed_out), when it gives Python's
 * answer for a timeout (False, queue.Empty, ...).
 *
 * Holders are connections (cid): a Python proxy has one connection per
 * thread, so a connection is the thread that holds a lock.  When one
 * closes, drop_conn gives back what it held.
 */
#include "manager.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define M(name) !strcmp(c->method, name)
#define ARG(i, name) mp__mgr_arg(c, i, name)

static void park(struct mgr_call *c, struct mgr_res *r, const mp_obj_t *t)
{
	if (c->phase == 0) {
		mp__mgr_deadline(t, &c->deadline);
		c->phase = 1;
	}
	r->status = MGR_PARK;
}

/* blocking (arg 0, default True) */
static bool blocking(const struct mgr_call *c, const char *name)
{
	const mp_obj_t *b = ARG(0, name);
	return !b || mp_obj_kind(b) == MP_OBJ_NONE ||
	       (mp_obj_kind(b) == MP_OBJ_BOOL ? mp_obj_bool_value(b)
	                                      : mp_obj_float_value(b) != 0);
}

/* ---- Lock, RLock, Semaphore, BoundedSemaphore ------------------------- */

struct held {
	uint64_t cid;
	int64_t n;
};

struct lk {
	int kind;            /* 0 Lock, 1 RLock, 2 Semaphore, 3 Bounded */
	uint64_t owner;      /* Lock/RLock: the holding connection, 0 none */
	int64_t count;       /* RLock: depth; Semaphore: its value */
	int64_t initial;     /* BoundedSemaphore's bound */
	struct held *h;      /* Semaphore: units taken, per connection */
	size_t nh;
	/* Condition: waiters in arrival order */
	struct { uint64_t cid; bool notified; } *w;
	size_t nw;
};

static const char *const acq_exposed[] = { "acquire", "release", NULL };
static const char *const cond_exposed[] = {
	"acquire", "release", "wait", "notify", "notify_all", NULL,
};

static int lk_init(struct mgr_obj *o, int kind, const mp_obj_t *args,
                   mp_obj_t **exc)
{
	struct lk *l = calloc(1, sizeof(*l));
	int64_t v = 1;
	if (!l)
		return -1;
	const mp_obj_t *a = mp_obj_item(args, 0);
	if (kind >= 2 && a && mp_obj_int_value(a, &v) < 0)
		v = -1;
	if (v < 0 || (kind == 4 && a && mp_obj_kind(a) != MP_OBJ_NONE)) {
		*exc = mp__mgr_exc("builtins.ValueError", kind == 4
		                   ? "a Condition on a lock proxy is not "
		                     "supported"
		                   : "semaphore initial value must be >= 0");
		free(l);
		return -1;
	}
	l->kind = kind == 4 ? 1 : kind;
	l->count = kind >= 2 && kind != 4 ? v : 0;
	l->initial = v;
	o->state = l;
	return 0;
}

#define LK_INIT(name, k)                                                    \
	static int name(struct mgr_obj *o, const mp_obj_t *args,           \
	                const mp_obj_t *kwds, mp_obj_t **exc)              \
	{                                                                   \
		(void)kwds;                                                 \
		return lk_init(o, k, args, exc);                            \
	}
LK_INIT(lock_init, 0)
LK_INIT(rlock_init, 1)
LK_INIT(sem_init, 2)
LK_INIT(bsem_init, 3)
LK_INIT(cond_init, 4)

static void lk_destroy(struct mgr_obj *o)
{
	struct lk *l = o->state;
	free(l->h);
	free(l->w);
	free(l);
}

static struct held *held_of(struct lk *l, uint64_t cid, bool add)
{
	for (size_t i = 0; i < l->nh; i++)
		if (l->h[i].cid == cid)
			return &l->h[i];
	if (!add)
		return NULL;
	void *p = realloc(l->h, (l->nh + 1) * sizeof(*l->h));
	if (!p)
		return NULL;
	l->h = p;
	l->h[l->nh] = (struct held){ cid, 0 };
	return &l->h[l->nh++];
}

/* Take it for cid if free now (n levels for an RLock re-taken by a
 * Condition's wait). */
static bool lk_try(struct lk *l, uint64_t cid, int64_t n)
{
	if (l->kind == 0) {
		if (l->owner)
			return false;
		l->owner = cid;
		return true;
	}
	if (l->kind == 1) {
		if (l->owner && l->owner != cid)
			return false;
		l->owner = cid;
		l->count += n;
		return true;
	}
	if (l->count == 0)
		return false;
	struct held *h = held_of(l, cid, true);
	l->count--;
	if (h)
		h->n++;
	return true;
}

static void lk_acquire(struct mgr_call *c, struct mgr_res *r)
{
	struct lk *l = c->obj->state;
	uint64_t cid = c->conn->cid;
	if (c->phase == 0 && l->kind == 0 && l->owner == cid &&
	    !blocking(c, "blocking")) {
		mp__mgr_ret(r, mp_obj_bool(false));
		return;
	}
	if (lk_try(l, cid, 1)) {
		mp__mgr_ret(r, mp_obj_bool(true));
	} else if (!blocking(c, "blocking") || c->timed_out) {
		mp__mgr_ret(r, mp_obj_bool(false));
	} else {
		const mp_obj_t *t = ARG(1, "timeout");
		/* threading's timeout=-1 is "none" */
		if (t && mp_obj_float_value(t) < 0)
			t = NULL;
		park(c, r, t);
	}
}

static void lk_release(struct mgr_call *c, struct mgr_res *r)
{
	struct lk *l = c->obj->state;
	uint64_t cid = c->conn->cid;
	mp__mgr_ret(r, mp_obj_none());
	if (l->kind == 0 && l->owner) {
		l->owner = 0;
	} else if (l->kind == 1 && l->owner == cid) {
		if (--l->count == 0)
			l->owner = 0;
	} else if (l->kind >= 2 &&
	           (l->kind == 2 || l->count < l->initial)) {
		struct held *h = held_of(l, cid, false);
		if (!h) /* released by another: whoever holds most gives */
			for (size_t i = 0; i < l->nh; i++)
				if (l->h[i].n > 0)
					h = &l->h[i];
		if (h && h->n > 0)
			h->n--;
		l->count++;
	} else {
		r->status = MGR_ERROR;
		r->val = l->kind == 3
		                 ? mp__mgr_exc("builtins.ValueError",
		                               "Semaphore released too many "
		                               "times")
		                 : mp__mgr_exc("builtins.RuntimeError",
		                               l->kind ? "cannot release "
		                                         "un-acquired lock"
		                                       : "release unlocked "
		                                         "lock");
	}
}

static bool lk_drop(struct mgr_obj *o, uint64_t cid)
{
	struct lk *l = o->state;
	bool changed = false;
	if (l->kind <= 1 && l->owner == cid) {
		l->owner = 0;
		l->count = 0;
		changed = true;
	}
	struct held *h = held_of(l, cid, false);
	if (h && h->n > 0) {
		l->count += h->n;
		h->n = 0;
		changed = true;
	}
	if (h)
		*h = l->h[--l->nh];
	for (size_t i = 0; i < l->nw;)
		if (l->w[i].cid == cid)
			memmove(&l->w[i], &l->w[i + 1],
			        (--l->nw - i) * sizeof(*l->w));
		else
			i++;
	return changed;
}

static void cond_wait(struct mgr_call *c, struct mgr_res *r)
{
	struct lk *l = c->obj->state;
	uint64_t cid = c->conn->cid;
	if (c->phase == 0) {
		if (l->owner != cid) {
			mp__mgr_err(r, mp__mgr_exc("builtins.RuntimeError",
			                           "cannot wait on un-acquired "
			                           "lock"));
			return;
		}
		void *p = realloc(l->w, (l->nw + 1) * sizeof(*l->w));
		if (!p) {
			mp__mgr_err(r, mp__mgr_exc("builtins.MemoryError",
			                           NULL));
			return;
		}
		l->w = p;
		l->w[l->nw].cid = cid;
		l->w[l->nw++].notified = false;
		c->saved[0] = l->count;   /* the levels to take back */
		l->owner = 0;
		l->count = 0;
		park(c, r, ARG(0, "timeout"));
		return;
	}
	if (c->phase == 1) {
		size_t i = 0;
		while (i < l->nw && l->w[i].cid != cid)
			i++;
		bool notified = i == l->nw || l->w[i].notified;
		if (!notified && !c->timed_out) {
			r->status = MGR_PARK;
			return;
		}
		if (i < l->nw)
			memmove(&l->w[i], &l->w[i + 1],
			        (--l->nw - i) * sizeof(*l->w));
		c->saved[1] = notified;
		c->phase = 2;
		c->deadline = MP__NO_DEADLINE; /* re-taking has no timeout */
	}
	if (!lk_try(l, cid, c->saved[0])) {
		r->status = MGR_PARK;
		return;
	}
	mp__mgr_ret(r, mp_obj_bool(c->saved[1]));
}

static void cond_notify(struct mgr_call *c, struct mgr_res *r)
{
	struct lk *l = c->obj->state;
	int64_t n = 1;
	if (l->owner != c->conn->cid) {
		mp__mgr_err(r, mp__mgr_exc("builtins.RuntimeError",
		                           "cannot notify on un-acquired "
		                           "lock"));
		return;
	}
	if (M("notify_all"))
		n = INT64_MAX;
	else if (ARG(0, "n"))
		mp_obj_int_value(ARG(0, "n"), &n);
	for (size_t i = 0; i < l->nw && n > 0; i++)
		if (!l->w[i].notified) {
			l->w[i].notified = true;
			n--;
		}
	mp__mgr_ret(r, mp_obj_none());
}

static void lk_call(mp_manager_server_t *s, struct mgr_call *c,
                    struct mgr_res *r)
{
	(void)s;
	if (M("acquire"))
		lk_acquire(c, r);
	else if (M("release"))
		lk_release(c, r);
	else if (M("wait"))
		cond_wait(c, r);
	else
		cond_notify(c, r);
}

static mp_obj_t *lk_repr(struct mgr_obj *o)
{
	struct lk *l = o->state;
	static const char *const names[] = { "Lock", "RLock", "Semaphore",
	                                     "BoundedSemaphore" };
	char t[120];
	if (l->kind <= 1)
		snprintf(t, sizeof(t), "<%s %s object, ident %s>",
		         l->owner ? "locked" : "unlocked", names[l->kind],
		         o->ident);
	else
		snprintf(t, sizeof(t), "<%s object, value=%lld>",
		         names[l->kind], (long long)l->count);
	return mp__mgr_str(t);
}

#define LK_KIND(var, name, exp, init)                                       \
	const struct mgr_kind var = { name, exp, init, lk_call, NULL,      \
	                              lk_repr, lk_drop, lk_destroy, NULL };
LK_KIND(mp__mgr_lock, "Lock", acq_exposed, lock_init)
LK_KIND(mp__mgr_rlock, "RLock", acq_exposed, rlock_init)
LK_KIND(mp__mgr_sem, "Semaphore", acq_exposed, sem_init)
LK_KIND(mp__mgr_bsem, "BoundedSemaphore", acq_exposed, bsem_init)
LK_KIND(mp__mgr_cond, "Condition", cond_exposed, cond_init)

/* ---- Event --------------------------------------------------------------- */

static const char *const event_exposed[] = {
	"is_set", "set", "clear", "wait", NULL,
};

static int event_init(struct mgr_obj *o, const mp_obj_t *args,
                      const mp_obj_t *kwds, mp_obj_t **exc)
{
	(void)args, (void)kwds, (void)exc;
	o->state = calloc(1, sizeof(bool));
	return o->state ? 0 : -1;
}

static void event_call(mp_manager_server_t *s, struct mgr_call *c,
                       struct mgr_res *r)
{
	(void)s;
	bool *flag = c->obj->state;
	if (M("set") || M("clear")) {
		*flag = M("set");
		mp__mgr_ret(r, mp_obj_none());
	} else if (M("is_set") || *flag || c->timed_out) {
		mp__mgr_ret(r, mp_obj_bool(*flag));
	} else {
		park(c, r, ARG(0, "timeout"));
	}
}

static void plain_destroy(struct mgr_obj *o)
{
	free(o->state);
}

const struct mgr_kind mp__mgr_event = {
	"Event", event_exposed, event_init, event_call, NULL, NULL, NULL,
	plain_destroy, NULL,
};

/* ---- Barrier ------------------------------------------------------------- */

/*
 * A waiter keeps the generation it joined (saved[0]), its index
 * (saved[1]) and the count of breaks it saw (phase - 1).  A new
 * generation lets it go with its index; a break (abort, reset, a waiter's
 * timeout or death) sends it BrokenBarrierError, as threading.Barrier
 * does: a wait that times out breaks the barrier for everyone.
 */
struct bar {
	int64_t parties, count, gen, breaks;
	int64_t timeout;  /* Barrier(timeout=): wait's default, ns; -1 none */
	bool broken;
};

/* A timeout argument: None (-1), or seconds >= 0 as ns (a negative one
 * is 0, as threading's; past a billion seconds, -2: forever); false when
 * it is not a number. */
static bool timeout_ns(const mp_obj_t *t, int64_t *ns)
{
	*ns = -1;
	if (!t || mp_obj_kind(t) == MP_OBJ_NONE)
		return true;
	mp_obj_kind_t k = mp_obj_kind(t);
	if (k != MP_OBJ_INT && k != MP_OBJ_FLOAT && k != MP_OBJ_BOOL)
		return false;
	double sec = mp_obj_float_value(t);
	if (sec != sec)
		return false;
	*ns = sec <= 0 ? 0 : sec < 1e9 ? (int64_t)(sec * 1e9) : -2;
	return true;
}

static const char *const bar_exposed[] = {
	"__getattribute__", "wait", "abort", "reset", NULL,
};

static int bar_init(struct mgr_obj *o, const mp_obj_t *args,
                    const mp_obj_t *kwds, mp_obj_t **exc)
{
	int64_t p = 0;
	const mp_obj_t *pa = mp_obj_item(args, 0), *act = mp_obj_item(args, 1);
	const mp_obj_t *tmo = mp_obj_item(args, 2);
	pa = pa ? pa : mp_obj_dict_get_str(kwds, "parties");
	act = act ? act : mp_obj_dict_get_str(kwds, "action");
	tmo = tmo ? tmo : mp_obj_dict_get_str(kwds, "timeout");
	struct bar *b = calloc(1, sizeof(*b));
	if (!b)
		return -1;
	const char *why = NULL;
	if (mp_obj_len(args) > 3)
		why = "Barrier(parties, action=None, timeout=None)";
	else if (mp_obj_int_value(pa, &p) < 0 || p < 1)
		why = "Barrier(parties): parties must be an int >= 1";
	else if (act && mp_obj_kind(act) != MP_OBJ_NONE)
		/* a callable would have to run here: the server decodes
		 * requests as data and never calls what they name */
		why = "Barrier(action=...): the manager server cannot run a "
		      "callable; pass action=None";
	else if (!timeout_ns(tmo, &b->timeout))
		why = "Barrier(timeout=...): a number of seconds or None";
	if (why) {
		*exc = mp__mgr_exc("builtins.ValueError", why);
		free(b);
		return -1;
	}
	b->parties = p;
	o->state = b;
	return 0;
}

static void bar_break(struct bar *b, bool broken)
{
	b->breaks++;
	b->broken = broken;
	b->count = 0;
}

static void bar_wait(struct mgr_call *c, struct mgr_res *r)
{
	struct bar *b = c->obj->state;
	if (c->phase == 0) {
		int64_t t;
		if (!timeout_ns(ARG(0, "timeout"), &t)) {
			mp__mgr_type_error(r, "wait(timeout): a number or None");
			return;
		}
		if (b->broken)
			goto broken;
		c->saved[0] = b->gen;
		c->saved[1] = b->count++;
		if (b->count == b->parties) {
			b->gen++;
			b->count = 0;
			mp__mgr_ret(r, mp_obj_int(c->saved[1]));
			return;
		}
		if (t == -1) /* wait(None): the barrier's own timeout */
			t = b->timeout;
		park(c, r, NULL);
		if (t >= 0)
			c->deadline = mp__mgr_now() + t;
		c->phase = 1 + (int)b->breaks;
		return;
	}
	if (b->breaks != c->phase - 1)
		goto broken;
	if (b->gen != c->saved[0]) {
		mp__mgr_ret(r, mp_obj_int(c->saved[1]));
		return;
	}
	if (!c->timed_out) {
		r->status = MGR_PARK;
		return;
	}
	bar_break(b, true);
broken:
	mp__mgr_err(r, mp__mgr_exc("threading.BrokenBarrierError", NULL));
}

static void bar_call(mp_manager_server_t *s, struct mgr_call *c,
                     struct mgr_res *r)
{
	(void)s;
	struct bar *b = c->obj->state;
	const mp_obj_t *a = ARG(0, NULL);
	if (M("wait")) {
		bar_wait(c, r);
	} else if (M("abort") || M("reset")) {
		bar_break(b, M("abort"));
		mp__mgr_ret(r, mp_obj_none());
	} else if (mp_obj_str_eq(a, "parties")) {
		mp__mgr_ret(r, mp_obj_int(b->parties));
	} else if (mp_obj_str_eq(a, "n_waiting")) {
		mp__mgr_ret(r, mp_obj_int(b->count));
	} else if (mp_obj_str_eq(a, "broken")) {
		mp__mgr_ret(r, mp_obj_bool(b->broken));
	} else {
		mp__mgr_err(r, mp__mgr_exc("builtins.AttributeError",
		                           "Barrier attribute"));
	}
}

/* A waiter's client died: as a thread leaving wait() by an exception. */
static void bar_cancel(struct mgr_call *c)
{
	struct bar *b = c->obj->state;
	if (c->phase >= 1 && b->breaks == c->phase - 1 &&
	    b->gen == c->saved[0])
		bar_break(b, true);
}

const struct mgr_kind mp__mgr_barrier = {
	"Barrier", bar_exposed, bar_init, bar_call, NULL, NULL, NULL,
	plain_destroy, bar_cancel,
};

/* ---- Queue, JoinableQueue ---------------------------------------------- */

struct q {
	mp_obj_t **v;
	size_t head, n, cap;
	int64_t maxsize, unfinished;
};

static const char *const q_exposed[] = {
	"empty", "full", "get", "get_nowait", "join", "put", "put_nowait",
	"qsize", "task_done", NULL,
};

static int q_init(struct mgr_obj *o, const mp_obj_t *args,
                  const mp_obj_t *kwds, mp_obj_t **exc)
{
	struct q *q = calloc(1, sizeof(*q));
	const mp_obj_t *m = mp_obj_item(args, 0);
	if (!m)
		m = mp_obj_dict_get_str(kwds, "maxsize");
	if (!q)
		return -1;
	if (m && mp_obj_int_value(m, &q->maxsize) < 0) {
		*exc = mp__mgr_exc("builtins.TypeError", "maxsize: an int");
		free(q);
		return -1;
	}
	o->state = q;
	return 0;
}

static void q_destroy(struct mgr_obj *o)
{
	struct q *q = o->state;
	for (size_t i = 0; i < q->n; i++)
		mp_obj_decref(q->v[q->head + i]);
	free(q->v);
	free(q);
}

static bool q_full(const struct q *q)
{
	return q->maxsize > 0 && (int64_t)q->n >= q->maxsize;
}

static int q_push(struct q *q, const mp_obj_t *x)
{
	if (q->head + q->n == q->cap) {
		if (q->head > q->cap / 2) { /* slide down instead of growing */
			memmove(q->v, q->v + q->head, q->n * sizeof(*q->v));
			q->head = 0;
		} else if (mp__grow(&q->v, &q->cap, sizeof(*q->v), 16) < 0) {
			return -ENOMEM;
		}
	}
	q->v[q->head + q->n++] = mp_obj_incref((mp_obj_t *)x);
	q->unfinished++;
	return 0;
}

/* put / get: block and timeout as in queue.Queue. */
static void q_move(struct mgr_call *c, struct mgr_res *r, bool put)
{
	struct q *q = c->obj->state;
	bool nowait = M("put_nowait") || M("get_nowait");
	size_t bi = put ? 1 : 0;
	const mp_obj_t *t = nowait ? NULL : ARG(bi + 1, "timeout");
	int64_t dl;
	if (c->phase == 0 && (mp__mgr_deadline(t, &dl) < 0 ||
	                      (t && mp_obj_float_value(t) < 0))) {
		mp__mgr_err(r, mp__mgr_exc("builtins.ValueError",
		                           "'timeout' must be a non-negative "
		                           "number"));
		return;
	}
	if (put ? !q_full(q) : q->n > 0) {
		if (!put) {
			mp__mgr_ret(r, q->v[q->head++]);
			if (--q->n == 0)
				q->head = 0;
		} else if (q_push(q, ARG(0, "item")) < 0) {
			mp__mgr_err(r, mp__mgr_exc("builtins.MemoryError",
			                           NULL));
		} else {
			mp__mgr_ret(r, mp_obj_none());
		}
		return;
	}
	const mp_obj_t *b = nowait ? mp_obj_bool(false) : ARG(bi, "block");
	if (c->timed_out || (b && !mp_obj_bool_value(b) &&
	                     mp_obj_kind(b) == MP_OBJ_BOOL)) {
		mp__mgr_err(r, mp__mgr_exc(put ? "queue.Full" : "queue.Empty",
		                           NULL));
		return;
	}
	park(c, r, t);
}

static void q_call(mp_manager_server_t *s, struct mgr_call *c,
                   struct mgr_res *r)
{
	(void)s;
	struct q *q = c->obj->state;
	if (M("put") || M("put_nowait")) {
		if (!ARG(0, "item"))
			mp__mgr_type_error(r, "put(item)");
		else
			q_move(c, r, true);
	} else if (M("get") || M("get_nowait")) {
		q_move(c, r, false);
	} else if (M("qsize")) {
		mp__mgr_ret(r, mp_obj_int((int64_t)q->n));
	} else if (M("empty")) {
		mp__mgr_ret(r, mp_obj_bool(q->n == 0));
	} else if (M("full")) {
		mp__mgr_ret(r, mp_obj_bool(q_full(q)));
	} else if (M("task_done")) {
		if (q->unfinished <= 0) {
			mp__mgr_err(r, mp__mgr_exc(
				"builtins.ValueError",
				"task_done() called too many times"));
			return;
		}
		q->unfinished--;
		mp__mgr_ret(r, mp_obj_none());
	} else if (q->unfinished == 0) { /* join */
		mp__mgr_ret(r, mp_obj_none());
	} else {
		park(c, r, NULL);
	}
}

const struct mgr_kind mp__mgr_queue = {
	"Queue", q_exposed, q_init, q_call, NULL, NULL, NULL, q_destroy,
	NULL,
};
const struct mgr_kind mp__mgr_jqueue = {
	"JoinableQueue", q_exposed, q_init, q_call, NULL, NULL, NULL,
	q_destroy, NULL,
};
