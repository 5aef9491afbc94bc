/*
 * manager_server.c - the manager server: one thread runs an event loop
 * over every client connection, reading CPython-framed requests without
 * ever blocking on one client; another thread only accepts (the listener
 * runs handshakes concurrently, with their own timeouts) and hands the
 * authenticated connections over through an eventfd.
 *
 * The loop waits on its own io_uring (sys/upoll.c): one multishot
 * POLL_ADD per connection and on the eventfd, armed once for the
 * connection's life, a one-shot POLLOUT only while a reply waits for room,
 * and the wait's timeout at the nearest parked deadline.  Reads and writes
 * are plain non-blocking calls after readiness: a request is small and
 * read whole, so a recv on the ring would only add a completion to reap.
 * While it spins after a reply, the read of the client it answered stands
 * in for the system call that would fetch that client's poll completion
 * (spin_look): one system call fewer on the client's path.
 * Where io_uring is missing or forbidden (a container's seccomp policy),
 * the same events come from ppoll(2).
 *
 * A request that would block (a Queue.get on an empty queue) parks its
 * connection: the call is kept, with its deadline, and tried again after
 * every change, or answered at its deadline.  A parked connection's later
 * bytes wait in its buffer (its client is waiting for the reply anyway).
 */
#include "manager.h"

#include <poll.h>
#include <stdarg.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define NBUCKETS 1024

struct mgr_reg {
	char *typeid;
	const struct mgr_kind *kind;      /* builtin, or NULL */
	mp_manager_type_t ut;             /* C type when kind is NULL */
	struct mgr_obj *shared;           /* register_shared's object */
};

struct mp_manager_server {
	mp_listener_t *l;
	mp_address_t addr;
	pid_t opener;
	struct mgr_reg *regs;
	size_t nregs;
	struct mgr_obj *buckets[NBUCKETS];
	size_t nobjs;
	uint64_t next_id, next_cid;
	struct mgr_conn **conns;
	size_t nconns, cap_conns;
	atomic_int stop;
	atomic_int serving;
	int evfd;
	mp_process_t *child;
	bool spin;         /* this round answered: spin before sleeping */
	uint64_t hot;      /* cid of the connection answered last */
	_Atomic uint32_t spin_est; /* spin.c's estimate for those spins */
	bool ring;         /* waiting on up, else on ppoll(2) */
	mp_sys_upoll_t up;
	struct pollfd *pf; /* the ppoll fallback's array */
	mp_sys_upoll_ev_t *ev; /* a round's events; pf's size */
	size_t ev_cap;
	/* accepted connections on their way to the loop */
	pthread_mutex_t mu;
	mp_conn_t **handoff;
	size_t nhandoff, cap_handoff;
};

/* Tests: serve on the ppoll(2) fallback, as where io_uring is missing. */
static _Atomic bool force_poll;
void mp__mgr_force_poll(bool on);
void mp__mgr_force_poll(bool on)
{
	atomic_store(&force_poll, on);
}

static const mp_pickle_opts_t req_opts = {
	.flags = MP_PICKLE_INERT,
	.max_depth = 200,
	.max_nodes = 1u << 22,
};

int64_t mp__mgr_now(void)
{
	return mp_sys_now_ns();
}

int mp__mgr_deadline(const mp_obj_t *t, int64_t *deadline)
{
	*deadline = MP__NO_DEADLINE;
	if (!t || mp_obj_kind(t) == MP_OBJ_NONE)
		return 0;
	mp_obj_kind_t k = mp_obj_kind(t);
	if (k != MP_OBJ_INT && k != MP_OBJ_FLOAT && k != MP_OBJ_BOOL)
		return -1;
	double sec = mp_obj_float_value(t);
	if (sec != sec)
		return -1;
	if (sec < 0)
		sec = 0;
	if (sec < 1e9)
		*deadline = mp__mgr_now() + (int64_t)(sec * 1e9);
	return 0;
}

/* ---- objects and idents ------------------------------------------------ */

static struct mgr_obj **bucket(mp_manager_server_t *s, uint64_t id)
{
	return &s->buckets[(id * 0x9e3779b97f4a7c15ull) >> 54];
}

static struct mgr_obj *find_obj(mp_manager_server_t *s, const mp_obj_t *ident)
{
	size_t n = 0;
	const char *t = mp_obj_data(ident, &n);
	if (mp_obj_kind(ident) != MP_OBJ_STR || n == 0 || n > 16)
		return NULL;
	char *end;
	uint64_t id = strtoull(t, &end, 16);
	if (*end)
		return NULL;
	for (struct mgr_obj *o = *bucket(s, id); o; o = o->hnext)
		if (o->id == id)
			return o;
	return NULL;
}

static void free_obj(mp_manager_server_t *s, struct mgr_obj *o)
{
	for (struct mgr_obj **p = bucket(s, o->id); *p; p = &(*p)->hnext)
		if (*p == o) {
			*p = o->hnext;
			break;
		}
	s->nobjs--;
	if (o->kind)
		o->kind->destroy(o);
	else if (o->utype->destroy)
		o->utype->destroy(o->utype->ctx, o->state);
	free(o);
}

/* A new object, not yet initialised, with a fresh ident: a counter, so an
 * ident never names two objects in one server's life. */
static struct mgr_obj *new_obj(mp_manager_server_t *s, const char *typeid)
{
	struct mgr_obj *o = calloc(1, sizeof(*o));
	if (!o)
		return NULL;
	o->id = ++s->next_id;
	snprintf(o->ident, sizeof(o->ident), "%llx",
	         (unsigned long long)o->id);
	o->typeid = typeid;
	return o;
}

static void add_obj(mp_manager_server_t *s, struct mgr_obj *o)
{
	struct mgr_obj **b = bucket(s, o->id);
	o->hnext = *b;
	*b = o;
	s->nobjs++;
}

static void unref(struct mgr_obj *o)
{
	if (o->refs > 0 && --o->refs == 0)
		o->linger = mp__mgr_now() + MP_MANAGER_LINGER;
}

static struct mgr_reg *find_reg(mp_manager_server_t *s, const char *typeid)
{
	for (size_t i = 0; i < s->nregs; i++)
		if (!strcmp(s->regs[i].typeid, typeid))
			return &s->regs[i];
	return NULL;
}

/* ---- helpers for kinds ------------------------------------------------- */

mp_obj_t *mp__mgr_str(const char *s)
{
	return mp_obj_cstr(s, NULL);
}

mp_obj_t *mp__mgr_exc_obj(const char *type, mp_obj_t *arg)
{
	mp_obj_t *args = arg ? mp_obj_tuple(1, &arg) : mp_obj_tuple(0, NULL);
	return mp_obj_exc(type, args, NULL);
}

mp_obj_t *mp__mgr_exc(const char *type, const char *msg)
{
	return mp__mgr_exc_obj(type, msg ? mp__mgr_str(msg) : NULL);
}

void mp__mgr_ret(struct mgr_res *r, mp_obj_t *v)
{
	r->status = MGR_RETURN;
	r->val = v;
}

void mp__mgr_err(struct mgr_res *r, mp_obj_t *exc)
{
	r->status = MGR_ERROR;
	r->val = exc;
}

void mp__mgr_type_error(struct mgr_res *r, const char *msg)
{
	mp__mgr_err(r, mp__mgr_exc("builtins.TypeError", msg));
}

/* Argument i, or the keyword name, or NULL. */
const mp_obj_t *mp__mgr_arg(const struct mgr_call *c, size_t i,
                            const char *name)
{
	if ((size_t)mp_obj_len(c->args) > i)
		return mp_obj_item(c->args, i);
	return name ? mp_obj_dict_get_str(c->kwds, name) : NULL;
}

mp_obj_t *mp__mgr_copy(const mp_obj_t *v)
{
	mp_obj_kind_t k = mp_obj_kind(v);
	int64_t n = mp_obj_len(v);
	if (k == MP_OBJ_DICT) {
		mp_obj_t *d = mp_obj_dict(), *key, *val;
		for (int64_t i = 0; d && i < n; i++) {
			mp_obj_dict_entry(v, (size_t)i, &key, &val);
			if (mp_obj_dict_set(d, mp_obj_incref(key),
			                    mp_obj_incref(val)) < 0) {
				mp_obj_decref(d);
				return NULL;
			}
		}
		return d;
	}
	mp_obj_t *l = mp_obj_list();
	for (int64_t i = 0; l && i < n; i++)
		if (mp_obj_list_append(l, mp_obj_incref(
		                              mp_obj_item(v, (size_t)i))) < 0) {
			mp_obj_decref(l);
			return NULL;
		}
	return l;
}

/* ---- connections ------------------------------------------------------- */

static int conn_add(mp_manager_server_t *s, mp_conn_t *c)
{
	struct mgr_conn *mc = calloc(1, sizeof(*mc));
	if (!mc)
		return -ENOMEM;
	if (s->nconns == s->cap_conns &&
	    mp__grow(&s->conns, &s->cap_conns, sizeof(*s->conns), 16) < 0) {
		free(mc);
		return -ENOMEM;
	}
	mc->cid = ++s->next_cid;
	mc->conn = c;
	mc->fd = mp_conn_fileno(c);
	mc->srv = s;
	/* RDHUP: a parked client's death is seen without reading its
	 * pipelined requests */
	if (s->ring && mp_sys_upoll_add(&s->up, mc->fd, POLLIN | POLLRDHUP,
	                                true, mc->cid << 1) < 0) {
		free(mc);
		return -ENOMEM;
	}
	mc->in_armed = s->ring;
	/* conns stay sorted by cid: appended in order, reap keeps it */
	s->conns[s->nconns++] = mc;
	return 0;
}

/* The connection a completion's tag names; NULL once it is gone (a
 * late completion: cids are never reused). */
static struct mgr_conn *conn_by_cid(mp_manager_server_t *s, uint64_t cid)
{
	size_t lo = 0, hi = s->nconns;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (s->conns[mid]->cid < cid)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo < s->nconns && s->conns[lo]->cid == cid ? s->conns[lo]
	                                                  : NULL;
}

static void park_clear(struct mgr_conn *mc)
{
	if (mc->parked)
		mp_obj_decref(mc->park.req);
	mc->parked = false;
}

/* A connection is gone: whatever it held goes back (its Lock, RLock
 * levels, Semaphore units, its place among a Condition's waiters). */
static void conn_free(mp_manager_server_t *s, struct mgr_conn *mc)
{
	if (mc->parked && mc->park.obj->kind && mc->park.obj->kind->cancel)
		mc->park.obj->kind->cancel(&mc->park);
	park_clear(mc);
	for (size_t b = 0; b < NBUCKETS; b++)
		for (struct mgr_obj *o = s->buckets[b]; o; o = o->hnext)
			if (o->kind && o->kind->drop_conn)
				o->kind->drop_conn(o, mc->cid);
	/* An armed poll holds the socket open: without the cancel, which
	 * the next wait submits, the client would not see it closed. */
	if (mc->in_armed)
		mp_sys_upoll_cancel(&s->up, mc->cid << 1);
	if (mc->out_armed)
		mp_sys_upoll_cancel(&s->up, mc->cid << 1 | 1);
	mp_conn_close(mc->conn);
	free(mc->in);
	free(mc->out);
	free(mc);
}

static int buf_reserve(uint8_t **buf, size_t *cap, size_t need)
{
	if (need <= *cap)
		return 0;
	size_t c = *cap ? *cap : 4096;
	while (c < need)
		c *= 2;
	void *p = realloc(*buf, c);
	if (!p)
		return -ENOMEM;
	*buf = p;
	*cap = c;
	return 0;
}

static void conn_flush(struct mgr_conn *mc)
{
	while (mc->out_off < mc->out_len) {
		/* never blocking, never SIGPIPE: a slow client's reply
		 * waits here for POLLOUT */
		struct iovec iov = { mc->out + mc->out_off,
		                     mc->out_len - mc->out_off };
		ssize_t n = mp_sys_writev(mc->fd, &iov, 1, true, true);
		if (n == -EAGAIN && mc->srv->ring && !mc->out_armed)
			mc->out_armed = mp_sys_upoll_add(&mc->srv->up, mc->fd,
			                                 POLLOUT, false,
			                                 mc->cid << 1 | 1) == 0;
		if (n < 0) {
			if (n != -EAGAIN || (mc->srv->ring && !mc->out_armed))
				mc->dead = true;
			return;
		}
		mc->out_off += (size_t)n;
	}
	mc->out_off = mc->out_len = 0;
}

/* Frame and queue one pickled reply (kind, val), then try to send it. */
static void conn_reply(struct mgr_conn *mc, const char *kind, mp_obj_t *val)
{
	mp_obj_t *items[2] = { mp__mgr_str(kind), val ? val : mp_obj_none() };
	mp_obj_t *t = mp_obj_tuple(2, items);
	void *data = NULL;
	size_t len = 0;
	if (!t || mp_pickle_dumps(t, 4, &data, &len) < 0 || len > INT32_MAX ||
	    buf_reserve(&mc->out, &mc->out_cap, mc->out_len + 4 + len) < 0) {
		mc->dead = true; /* out of memory: drop this client only */
	} else {
		uint32_t be = htobe32((uint32_t)len);
		memcpy(mc->out + mc->out_len, &be, 4);
		memcpy(mc->out + mc->out_len + 4, data, len);
		mc->out_len += 4 + len;
		conn_flush(mc);
	}
	free(data);
	mp_obj_decref(t);
}

__attribute__((format(printf, 2, 3)))
static void reply_traceback(struct mgr_conn *mc, const char *fmt, ...)
{
	char text[512];
	va_list ap;
	snprintf(text, sizeof(text),
	         "Traceback (most recent call last):\n"
	         "  (mproc manager server)\n");
	size_t n = strlen(text);
	va_start(ap, fmt);
	vsnprintf(text + n, sizeof(text) - n, fmt, ap);
	va_end(ap);
	conn_reply(mc, "#TRACEBACK", mp__mgr_str(text));
}

/* Read what is there, up to a bound: past it, rd_more says the socket
 * may hold more, read once the buffer has been consumed (a multishot
 * poll reports new arrivals only).  Returns false when the connection
 * ended. */
static bool conn_read(struct mgr_conn *mc)
{
	for (;;) {
		mc->rd_more = mc->in_len > MP_MANAGER_MAX_MSG + 12;
		if (mc->rd_more)
			return true; /* (a too long frame: framing refuses) */
		if (buf_reserve(&mc->in, &mc->in_cap, mc->in_len + 65536) < 0)
			return false;
		ssize_t n = mp_sys_read(mc->fd, mc->in + mc->in_len,
		                        mc->in_cap - mc->in_len, true, true);
		if (n <= 0)
			return n == -EAGAIN;
		size_t room = mc->in_cap - mc->in_len;
		mc->in_len += (size_t)n;
		/* a short read drained the socket: no EAGAIN read */
		if ((size_t)n < room)
			return true;
	}
}

/* The next whole message in the buffer: 1 (*off, *len), 0 none yet, -1 a
 * header no request can have (the client is dropped). */
static int next_frame(struct mgr_conn *mc, size_t *off, size_t *len)
{
	if (mc->in_len < 4)
		return 0;
	int32_t h;
	memcpy(&h, mc->in, 4);
	h = (int32_t)be32toh((uint32_t)h);
	uint64_t n;
	size_t hl = 4;
	if (h == -1) {
		if (mc->in_len < 12)
			return 0;
		memcpy(&n, mc->in + 4, 8);
		n = be64toh(n);
		hl = 12;
	} else if (h < 0) {
		return -1;
	} else {
		n = (uint64_t)h;
	}
	if (n > MP_MANAGER_MAX_MSG)
		return -1;
	if (mc->in_len - hl < n)
		return 0;
	*off = hl;
	*len = (size_t)n;
	return 1;
}

static void consume(struct mgr_conn *mc, size_t n)
{
	memmove(mc->in, mc->in + n, mc->in_len - n);
	mc->in_len -= n;
}

/* ---- running a call ---------------------------------------------------- */

static void send_result(mp_manager_server_t *s, struct mgr_conn *mc,
                        struct mgr_res *r);

static bool is_exposed(const struct mgr_obj *o, const char *m)
{
	const char *const *e = o->kind ? o->kind->exposed : o->utype->exposed;
	for (; e && *e; e++)
		if (!strcmp(*e, m))
			return true;
	return false;
}

static mp_obj_t *exposed_tuple(const struct mgr_obj *o)
{
	const char *const *e = o->kind ? o->kind->exposed : o->utype->exposed;
	size_t n = 0;
	while (e && e[n])
		n++;
	mp_obj_t *items[64];
	if (n > 64)
		n = 64;
	for (size_t i = 0; i < n; i++)
		items[i] = mp__mgr_str(e[i]);
	return mp_obj_tuple(n, items);
}

static mp_obj_t *default_repr(const struct mgr_obj *o)
{
	char t[160];
	snprintf(t, sizeof(t), "<%s object, ident %s>", o->typeid, o->ident);
	return mp__mgr_str(t);
}

/* '#GETVALUE', '__str__', '__repr__': CPython's fallbacks, for every
 * object whether or not exposed. */
static bool fallback(struct mgr_obj *o, const char *m, struct mgr_res *r)
{
	if (!strcmp(m, "#GETVALUE")) {
		if (!o->kind || !o->kind->value) {
			mp__mgr_err(r, mp__mgr_exc("builtins.TypeError",
			                           "value cannot be copied"));
			return true;
		}
		mp__mgr_ret(r, o->kind->value(o));
		return true;
	}
	if (strcmp(m, "__str__") && strcmp(m, "__repr__"))
		return false;
	mp_obj_t *v = o->kind && o->kind->repr ? o->kind->repr(o) : NULL;
	if (!v && o->kind && o->kind->value) {
		mp_obj_t *val = o->kind->value(o);
		char *t = mp_obj_repr(val, NULL);
		mp_obj_decref(val);
		v = t ? mp__mgr_str(t) : NULL;
		free(t);
	}
	mp__mgr_ret(r, v ? v : default_repr(o));
	return true;
}

static void run_user(struct mgr_call *c, struct mgr_res *r)
{
	const mp_manager_type_t *t = c->obj->utype;
	mp_obj_t *exc = NULL;
	mp_obj_t *v = t->call(t->ctx, c->obj->state, c->method, c->args,
	                      c->kwds, &exc);
	if (v) {
		mp_obj_decref(exc);
		mp__mgr_ret(r, v);
	} else {
		mp__mgr_err(r, exc ? exc : mp__mgr_exc("builtins.RuntimeError",
		                                       "method failed"));
	}
}

/* Run (or re-run) the call in mc->park; parks it again or answers. */
static void run_call(mp_manager_server_t *s, struct mgr_conn *mc)
{
	struct mgr_call *c = &mc->park;
	struct mgr_res r = { 0 };
	c->timed_out = c->deadline != MP__NO_DEADLINE &&
	               mp__mgr_now() >= c->deadline;
	if (c->obj->kind)
		c->obj->kind->call(s, c, &r);
	else
		run_user(c, &r);
	if (r.status == MGR_PARK) {
		mc->parked = true;
		return;
	}
	mc->parked = false;
	send_result(s, mc, &r);
	mp_obj_decref(c->req);
	c->req = NULL;
}

static struct mgr_obj *host(mp_manager_server_t *s, const char *typeid,
                            const struct mgr_kind *k, mp_obj_t *val);

static void send_result(mp_manager_server_t *s, struct mgr_conn *mc,
                        struct mgr_res *r)
{
	static const char *const kinds[] = { "#RETURN", "#ERROR",
	                                     "#TRACEBACK" };
	if (r->status != MGR_PROXY) {
		conn_reply(mc, kinds[r->status], r->val);
		return;
	}
	/* Host the result, with one reference for the client to take over
	 * (it increfs, then decrefs this one, as CPython's create does). */
	const struct mgr_kind *k = mp__mgr_kind(r->typeid);
	struct mgr_obj *o = host(s, r->typeid, k, r->val);
	if (!o) {
		conn_reply(mc, "#ERROR", mp__mgr_exc("builtins.MemoryError",
		                                     NULL));
		return;
	}
	o->refs = 1;
	mp_obj_t *st[3] = { mp__mgr_str(r->typeid), mp_obj_none(),
	                    mp__mgr_str(o->ident) };
	mp_obj_t *tok = mp_obj_inert(
		mp_obj_global("multiprocessing.managers", "Token", NULL),
		mp_obj_tuple(0, NULL), true, mp_obj_tuple(3, st), NULL);
	mp_obj_t *pair[2] = { exposed_tuple(o), tok };
	conn_reply(mc, "#PROXY", mp_obj_tuple(2, pair));
}

/* A hosted value of a builtin kind, made from val (an Iterator's list). */
static struct mgr_obj *host(mp_manager_server_t *s, const char *typeid,
                            const struct mgr_kind *k, mp_obj_t *val)
{
	struct mgr_obj *o = k ? new_obj(s, typeid) : NULL;
	mp_obj_t *exc = NULL;
	mp_obj_t *args = mp_obj_tuple(1, &val);
	if (!o || !args || k->init(o, args, NULL, &exc) < 0) {
		mp_obj_decref(exc);
		mp_obj_decref(args);
		free(o);
		return NULL;
	}
	mp_obj_decref(args);
	o->kind = k;
	add_obj(s, o);
	return o;
}

/* A request on a served connection: (ident, method, args, kwds). */
static void method_request(mp_manager_server_t *s, struct mgr_conn *mc,
                           mp_obj_t *req)
{
	const mp_obj_t *ident = mp_obj_item(req, 0);
	const mp_obj_t *m = mp_obj_item(req, 1);
	struct mgr_obj *o = find_obj(s, ident);
	const char *name = mp_obj_data(m, NULL);
	if (!o) {
		char *t = mp_obj_repr(ident, NULL);
		reply_traceback(mc, "KeyError: %s\n", t ? t : "?");
		free(t);
		mp_obj_decref(req);
		return;
	}
	if (!mp_obj_str_eq(m, name) || !is_exposed(o, name)) {
		struct mgr_res r = { 0 };
		if (name && fallback(o, name, &r)) {
			send_result(s, mc, &r);
		} else {
			reply_traceback(mc, "AttributeError: method %s of %s "
			                "object is not exposed\n",
			                name ? name : "?", o->typeid);
		}
		mp_obj_decref(req);
		return;
	}
	mc->park = (struct mgr_call){
		.conn = mc, .obj = o, .req = req, .method = name,
		.args = mp_obj_item(req, 2), .kwds = mp_obj_item(req, 3),
		.deadline = MP__NO_DEADLINE,
	};
	run_call(s, mc);
}

/* ---- control calls ----------------------------------------------------- */

static void ctl_create(mp_manager_server_t *s, struct mgr_conn *mc,
                       const mp_obj_t *args, const mp_obj_t *kwds)
{
	const mp_obj_t *tid = mp_obj_item(args, 0);
	const char *typeid = mp_obj_data(tid, NULL);
	struct mgr_reg *reg = typeid && mp_obj_str_eq(tid, typeid)
	                              ? find_reg(s, typeid) : NULL;
	if (!reg) {
		reply_traceback(mc, "KeyError: %s\n", typeid ? typeid : "?");
		return;
	}
	struct mgr_obj *o = reg->shared;
	if (!o) {
		/* the args after the typeid */
		size_t n = (size_t)mp_obj_len(args);
		mp_obj_t **rest = malloc(n * sizeof(*rest)), *a = NULL;
		for (size_t i = 1; rest && i < n; i++)
			rest[i - 1] = mp_obj_incref(mp_obj_item(args, i));
		if (rest)
			a = mp_obj_tuple(n - 1, rest);
		free(rest);
		mp_obj_t *exc = NULL;
		o = new_obj(s, reg->typeid);
		int r = -1;
		if (o && a && reg->kind) {
			o->kind = reg->kind;
			r = reg->kind->init(o, a, kwds, &exc);
		} else if (o && a) {
			o->utype = &reg->ut;
			o->state = reg->ut.create(reg->ut.ctx, a, kwds, &exc);
			r = o->state ? 0 : -1;
		}
		mp_obj_decref(a);
		if (r < 0) {
			free(o);
			char *t = exc ? mp_obj_repr(exc, NULL) : NULL;
			reply_traceback(mc, "%s\n", t ? t : "MemoryError()");
			free(t);
			mp_obj_decref(exc);
			return;
		}
		add_obj(s, o);
	}
	o->refs++;  /* the creator's reference, as CPython's create */
	o->linger = 0;
	mp_obj_t *pair[2] = { mp__mgr_str(o->ident), exposed_tuple(o) };
	conn_reply(mc, "#RETURN", mp_obj_tuple(2, pair));
}

static void ctl_refcount(mp_manager_server_t *s, struct mgr_conn *mc,
                         const mp_obj_t *args, int delta)
{
	struct mgr_obj *o = find_obj(s, mp_obj_item(args, 0));
	if (!o || (delta < 0 && o->refs == 0 && !o->pinned)) {
		char *t = mp_obj_repr(mp_obj_item(args, 0), NULL);
		reply_traceback(mc, "KeyError: %s\n", t ? t : "?");
		free(t);
		return;
	}
	/* An incref within the linger revives the object: a proxy passed
	 * to another process arrives after its sender's decref. */
	if (delta > 0) {
		o->refs++;
		o->linger = 0;
	} else {
		unref(o);
	}
	conn_reply(mc, "#RETURN", NULL);
}

static void ctl_get_methods(mp_manager_server_t *s, struct mgr_conn *mc,
                            const mp_obj_t *args)
{
	const mp_obj_t *tok = mp_obj_item(args, 0);
	const mp_obj_t *st = mp_obj_inert_state(tok);
	struct mgr_obj *o = st ? find_obj(s, mp_obj_item(st, 2)) : NULL;
	if (!o) {
		reply_traceback(mc, "KeyError: token\n");
		return;
	}
	conn_reply(mc, "#RETURN", exposed_tuple(o));
}

static void ctl_debug_info(mp_manager_server_t *s, struct mgr_conn *mc)
{
	size_t cap = 256 + s->nobjs * 64, n = 0;
	char *t = malloc(cap);
	if (!t) {
		conn_reply(mc, "#ERROR", mp__mgr_exc("builtins.MemoryError",
		                                     NULL));
		return;
	}
	t[0] = 0;
	for (size_t b = 0; b < NBUCKETS; b++)
		for (struct mgr_obj *o = s->buckets[b]; o; o = o->hnext)
			n += (size_t)snprintf(t + n, cap - n,
			                      "  %s:       refcount=%lld\n",
			                      o->ident, (long long)o->refs);
	conn_reply(mc, "#RETURN", mp__mgr_str(t));
	free(t);
}

static void control_request(mp_manager_server_t *s, struct mgr_conn *mc,
                            mp_obj_t *req)
{
	const mp_obj_t *f = mp_obj_item(req, 1);
	const mp_obj_t *args = mp_obj_item(req, 2);
	const mp_obj_t *kwds = mp_obj_item(req, 3);
	const char *fn = mp_obj_data(f, NULL);
	bool nargs1 = mp_obj_len(args) >= 1;
	mc->close_after = true;
	if (!mp_obj_str_eq(f, fn ? fn : "")) {
		reply_traceback(mc, "AssertionError: bad request\n");
	} else if (!strcmp(fn, "accept_connection")) {
		mc->served = true;
		mc->close_after = false;
		conn_reply(mc, "#RETURN", NULL);
	} else if (!strcmp(fn, "dummy")) {
		conn_reply(mc, "#RETURN", NULL);
	} else if (!strcmp(fn, "create") && nargs1) {
		ctl_create(s, mc, args, kwds);
	} else if (!strcmp(fn, "incref") && nargs1) {
		ctl_refcount(s, mc, args, 1);
	} else if (!strcmp(fn, "decref") && nargs1) {
		ctl_refcount(s, mc, args, -1);
	} else if (!strcmp(fn, "get_methods") && nargs1) {
		ctl_get_methods(s, mc, args);
	} else if (!strcmp(fn, "number_of_objects")) {
		conn_reply(mc, "#RETURN", mp_obj_int((int64_t)s->nobjs));
	} else if (!strcmp(fn, "debug_info")) {
		ctl_debug_info(s, mc);
	} else if (!strcmp(fn, "shutdown")) {
		conn_reply(mc, "#RETURN", NULL);
		atomic_store(&s->stop, 1);
	} else {
		reply_traceback(mc, "AssertionError: %s unrecognized\n", fn);
	}
	mp_obj_decref(req);
}

/* One whole message from mc. */
static void handle_message(mp_manager_server_t *s, struct mgr_conn *mc,
                           const uint8_t *buf, size_t len)
{
	mp_pickle_diag_t diag;
	int err = 0;
	mp_obj_t *req = mp_pickle_loads(buf, len, &req_opts, &diag, &err);
	if (!req) {
		reply_traceback(mc, "UnpicklingError: %s (%s)\n", diag.msg,
		                mp_strerror(err));
		mc->close_after = !mc->served;
		return;
	}
	bool ok = mp_obj_kind(req) == MP_OBJ_TUPLE && mp_obj_len(req) == 4 &&
	          mp_obj_kind(mp_obj_item(req, 1)) == MP_OBJ_STR &&
	          mp_obj_kind(mp_obj_item(req, 2)) == MP_OBJ_TUPLE &&
	          mp_obj_kind(mp_obj_item(req, 3)) == MP_OBJ_DICT;
	if (!ok) {
		reply_traceback(mc, "ValueError: a request is (ident, method,"
		                " args, kwds)\n");
		mc->close_after = !mc->served;
		mp_obj_decref(req);
	} else if (!mc->served) {
		control_request(s, mc, req);
	} else {
		method_request(s, mc, req);
	}
}

/* Run what can run: parked calls that can end, then the next buffered
 * request of each idle connection.  Returns whether anything ran. */
static bool pump(mp_manager_server_t *s)
{
	bool any = false;
	for (size_t i = 0; i < s->nconns; i++) {
		struct mgr_conn *mc = s->conns[i];
		if (mc->dead)
			continue;
		if (mc->parked) {
			run_call(s, mc);
			if (mc->parked)
				continue;
			any = true;
		}
		size_t off, len;
		int f;
		if (mc->close_after && mc->out_len == 0) {
			mc->dead = true;
			continue;
		}
		if (mc->close_after)
			continue;
		f = next_frame(mc, &off, &len);
		if (f < 0) {
			mc->dead = true;
		} else if (f > 0) {
			s->hot = mc->cid;
			handle_message(s, mc, mc->in + off, len);
			consume(mc, off + len);
			if (mc->rd_more && !conn_read(mc))
				mc->dead = true;
			any = true;
		}
	}
	return any;
}

/* ---- the loop ---------------------------------------------------------- */

static void *acceptor(void *arg)
{
	mp_manager_server_t *s = arg;
	while (!atomic_load(&s->stop)) {
		int err = 0;
		mp_conn_t *c = mp_listener_accept(s->l, MP_MSEC(100), &err);
		if (!c) {
			if (err == -EMFILE || err == -ENFILE || err == -ENOMEM)
				usleep(10000);
			continue;
		}
		pthread_mutex_lock(&s->mu);
		if (s->nhandoff == s->cap_handoff &&
		    mp__grow(&s->handoff, &s->cap_handoff, sizeof(c), 16) < 0) {
			pthread_mutex_unlock(&s->mu);
			mp_conn_close(c);
			continue;
		}
		s->handoff[s->nhandoff++] = c;
		pthread_mutex_unlock(&s->mu);
		mp_sys_eventfd_signal(s->evfd);
	}
	return NULL;
}

static void take_handoff(mp_manager_server_t *s)
{
	mp_sys_eventfd_drain(s->evfd);
	pthread_mutex_lock(&s->mu);
	for (size_t i = 0; i < s->nhandoff; i++)
		if (conn_add(s, s->handoff[i]) < 0)
			mp_conn_close(s->handoff[i]);
	s->nhandoff = 0;
	pthread_mutex_unlock(&s->mu);
}

/* Whether a parked call is on o (then it stays, lingering or not). */
static bool obj_busy(mp_manager_server_t *s, const struct mgr_obj *o)
{
	for (size_t i = 0; i < s->nconns; i++)
		if (s->conns[i]->parked && s->conns[i]->park.obj == o)
			return true;
	return false;
}

/* Free lingering objects whose time has come; the next such time. */
static int64_t expire(mp_manager_server_t *s, int64_t now)
{
	int64_t next = MP__NO_DEADLINE;
	for (size_t b = 0; b < NBUCKETS; b++) {
		struct mgr_obj *o = s->buckets[b], *nx;
		for (; o; o = nx) {
			nx = o->hnext;
			if (o->refs > 0 || o->pinned || o->linger == 0)
				continue;
			if (o->linger <= now && !obj_busy(s, o))
				free_obj(s, o);
			else if (o->linger < next)
				next = o->linger;
		}
	}
	return next;
}

static void reap(mp_manager_server_t *s)
{
	size_t j = 0;
	bool freed = false;
	for (size_t i = 0; i < s->nconns; i++) {
		if (s->conns[i]->dead) {
			conn_free(s, s->conns[i]);
			freed = true;
		} else {
			s->conns[j++] = s->conns[i];
		}
	}
	s->nconns = j;
	if (freed)
		while (pump(s))
			;
}

/* The nearest deadline of a parked call. */
static int64_t next_deadline(mp_manager_server_t *s)
{
	int64_t d = MP__NO_DEADLINE;
	for (size_t i = 0; i < s->nconns; i++)
		if (s->conns[i]->parked && s->conns[i]->park.deadline < d)
			d = s->conns[i]->park.deadline;
	return d;
}

/* The ppoll(2) fallback: one round of the same events the ring gives
 * (tag 0 the eventfd, cid << 1 a connection, its revents as res). */
static int poll_events(mp_manager_server_t *s, mp_sys_upoll_ev_t *ev,
                       unsigned max, const struct timespec *dl, bool once)
{
	size_t n = s->nconns + 1; /* <= max: serve_loop sees to it */
	(void)max;
	s->pf[0] = (struct pollfd){ s->evfd, POLLIN, 0 };
	for (size_t i = 1; i < n; i++) {
		struct mgr_conn *mc = s->conns[i - 1];
		/* a full buffer's socket keeps its bytes (level-triggered:
		 * asking POLLIN would spin); RDHUP still tells a death */
		short e = (short)(POLLRDHUP | (mc->rd_more ? 0 : POLLIN) |
		                  (mc->out_len ? POLLOUT : 0));
		s->pf[i] = (struct pollfd){ mc->fd, e, 0 };
	}
	struct timespec zero = { 0, 0 };
	int r = mp_sys_poll(s->pf, (unsigned)n, once ? &zero : dl);
	if (r <= 0)
		return r == -EINTR ? 0 : r;
	unsigned k = 0;
	for (size_t i = 0; i < n; i++)
		if (s->pf[i].revents)
			ev[k++] = (mp_sys_upoll_ev_t){
				i ? s->conns[i - 1]->cid << 1 : 0,
				s->pf[i].revents, true };
	return (int)k;
}

static int get_events(mp_manager_server_t *s, mp_sys_upoll_ev_t *ev,
                      unsigned max, const struct timespec *dl, bool once)
{
	if (!s->ring)
		return poll_events(s, ev, max, dl, once);
	return once ? mp_sys_upoll_peek(&s->up, ev, max)
	            : mp_sys_upoll_wait(&s->up, ev, max, dl);
}

/* A round trip through the client (its wake-up, a Python interpreter's
 * work) may take this many times spin.c's cap: 64 us by default. */
#define LOOP_SPIN_SCALE 16
/* A gap this long between two looks was a preemption: the CPUs are busy,
 * and spinning would only take time from the client we wait for. */
#define LOOP_SPIN_PREEMPTED MP_USEC(20)

/* May the spin read mc's next request itself (spin_look)? */
static bool direct_ok(const struct mgr_conn *mc)
{
	return mc && mc->served && mc->in_armed && !mc->dead && !mc->parked &&
	       !mc->rd_more && !mc->close_after;
}

/* Take mc's pure POLLIN reports out of ev[0..n): the bytes they announce
 * were read already, or will be by its reread once its reply is out. */
static int defer_reads(struct mgr_conn *mc, mp_sys_upoll_ev_t *ev, int n)
{
	int k = 0;
	for (int i = 0; i < n; i++) {
		bool pure = ev[i].tag == mc->cid << 1 && ev[i].more &&
		            ev[i].res > 0 && (ev[i].res & ~POLLIN) == 0;
		if (pure)
			mc->reread = true;
		else
			ev[k++] = ev[i];
	}
	return k;
}

/*
 * One look of a spin; *got: the connection answered last has new bytes
 * (or died), read without an event.  When the kernel holds a completion
 * that only our next system call posts (upoll's deferred task work), the
 * look would enter the kernel for it and then read; so make that call the
 * read, of the connection most likely to have sent: the one just
 * answered.  The completion comes with it, a POLLIN for bytes now read:
 * its read (most likely finding nothing) waits until the reply is out,
 * off the client's path.  Nothing is lost: a later arrival wakes the
 * poll again, and the reread reads it anyway.
 */
static int spin_look(mp_manager_server_t *s, mp_sys_upoll_ev_t *ev,
                     unsigned max, bool *got)
{
	struct mgr_conn *mc = s->ring && mp_sys_upoll_deferred(&s->up)
	                      ? conn_by_cid(s, s->hot) : NULL;
	if (!direct_ok(mc))
		return get_events(s, ev, max, NULL, true);
	size_t had = mc->in_len;
	if (!conn_read(mc))
		mc->dead = true;
	*got = mc->dead || mc->in_len > had;
	int n = mp_sys_upoll_peek(&s->up, ev, max);
	return n > 0 && *got ? defer_reads(mc, ev, n) : n;
}

/* The reads spin_look put off; whether any brought bytes (or a death). */
static bool reread(mp_manager_server_t *s)
{
	bool any = false;
	for (size_t i = 0; i < s->nconns; i++) {
		struct mgr_conn *mc = s->conns[i];
		if (!mc->reread || mc->dead)
			continue;
		mc->reread = false;
		size_t had = mc->in_len;
		if (!conn_read(mc))
			mc->dead = true;
		any |= mc->dead || mc->in_len > had;
	}
	return any;
}

/*
 * After a reply, spin briefly: a client in a loop of calls sends its next
 * request soon, and catching it awake saves a scheduler wake-up per round
 * trip (the client's own is unavoidable).  On the ring a look is shared
 * memory, without a system call.  How long: spin.c's estimate of what
 * catching the last ones took, which fades where spinning does not pay
 * (busy CPUs, a client that thinks between calls; one CPU: never).
 */
static int spin_events(mp_manager_server_t *s, mp_sys_upoll_ev_t *ev,
                       unsigned max, bool *got)
{
	int64_t budget = mp__spin_budget_x(&s->spin_est, LOOP_SPIN_SCALE);
	if (budget <= 0)
		return 0;
	int64_t t0 = mp__mgr_now(), now = t0, t;
	int n;
	while ((n = spin_look(s, ev, max, got)) == 0 && !*got &&
	       (t = mp__mgr_now()) - t0 < budget &&
	       t - now < LOOP_SPIN_PREEMPTED)
		now = t;
	mp__spin_result(&s->spin_est, mp__mgr_now() - t0, n > 0 || *got);
	return n;
}

static int wait_events(mp_manager_server_t *s, mp_sys_upoll_ev_t *ev,
                       unsigned max, int64_t deadline)
{
	bool got = false;
	int n = s->spin ? spin_events(s, ev, max, &got) : 0;
	struct timespec ts;
	if (n == 0 && !got)
		n = get_events(s, ev, max, mp__deadline_ts(deadline, &ts),
		               false);
	return n;
}

static void conn_event(struct mgr_conn *mc, bool out, int res)
{
	if (res < 0) {
		/* -ECANCELED ends a live connection's poll only when the
		 * kernel dropped it (then it is armed again); anything else
		 * is a descriptor we cannot watch */
		if (res != -ECANCELED)
			mc->dead = true;
		return;
	}
	if (out || res & POLLOUT)
		conn_flush(mc);
	if (out || !(res & (POLLIN | POLLHUP | POLLERR | POLLRDHUP)))
		return;
	if (!conn_read(mc) || res & (POLLHUP | POLLERR))
		mc->dead = true;
	/* a full buffer: a peer that hung up cannot be served */
	if (mc->rd_more && res & POLLRDHUP)
		mc->dead = true;
}

static void handle_event(mp_manager_server_t *s, const mp_sys_upoll_ev_t *e)
{
	if (e->tag == 0) {
		take_handoff(s);
		if (!e->more && s->ring &&
		    mp_sys_upoll_add(&s->up, s->evfd, POLLIN, true, 0) < 0)
			atomic_store(&s->stop, 1); /* deaf to stop: leave */
		return;
	}
	struct mgr_conn *mc = conn_by_cid(s, e->tag >> 1);
	if (!mc)
		return;
	bool out = e->tag & 1;
	if (out)
		mc->out_armed = false;
	conn_event(mc, out, e->res);
	if (!out && !e->more && s->ring && !mc->dead) {
		/* the kernel ended the multishot (an overflowing CQ ring
		 * does): arm it again */
		mc->in_armed = mp_sys_upoll_add(&s->up, mc->fd,
		                                POLLIN | POLLRDHUP, true,
		                                mc->cid << 1) == 0;
		mc->dead = !mc->in_armed;
	} else if (!out && !e->more) {
		mc->in_armed = false;
	}
}

/* Room for an event per connection (the fallback reports them all). */
static int events_room(mp_manager_server_t *s)
{
	size_t n = s->nconns + 1;
	if (n <= s->ev_cap)
		return 0;
	n = n < 32 ? 64 : n * 2;
	void *e = realloc(s->ev, n * sizeof(*s->ev));
	if (e)
		s->ev = e;
	void *p = realloc(s->pf, n * sizeof(*s->pf));
	if (p)
		s->pf = p;
	if (!e || !p)
		return -ENOMEM;
	s->ev_cap = n;
	return 0;
}

static void serve_loop(mp_manager_server_t *s)
{
	while (!atomic_load(&s->stop)) {
		int64_t now = mp__mgr_now(), d = expire(s, now);
		int64_t dp = next_deadline(s);
		int n = events_room(s);
		if (n == 0)
			n = wait_events(s, s->ev, (unsigned)s->ev_cap,
			                dp < d ? dp : d);
		if (n == -ENOMEM) {
			usleep(10000);
			continue;
		}
		if (n < 0)
			break;
		for (int i = 0; i < n; i++)
			handle_event(s, &s->ev[i]);
		/* deaths first: what a dead client held goes back before
		 * requests that came in the same round are run */
		reap(s);
		bool ran = false;
		do {
			while (pump(s))
				ran = true;
		} while (reread(s));
		s->spin = ran;
		reap(s);
	}
	/* flush what is queued (a 'shutdown' reply), briefly */
	for (size_t i = 0; i < s->nconns; i++) {
		struct mgr_conn *mc = s->conns[i];
		struct timespec ts;
		mp_sys_ns_to_timespec(mp__mgr_now() + MP_SEC(1), &ts);
		while (mc->out_len && !mc->dead &&
		       mp_sys_poll_one(mc->fd, POLLOUT, &ts) > 0)
			conn_flush(mc);
	}
}

/* The loop's ring, made by the thread that waits on it (it is its only
 * submitter); without io_uring, ppoll(2). */
static int loop_open(mp_manager_server_t *s)
{
	s->ring = !atomic_load(&force_poll) &&
	          mp_sys_upoll_init(&s->up, 256) == 0;
	if (s->ring && mp_sys_upoll_add(&s->up, s->evfd, POLLIN, true, 0) < 0) {
		mp_sys_upoll_destroy(&s->up);
		return -ENOMEM;
	}
	return 0;
}

static void loop_close(mp_manager_server_t *s)
{
	if (s->ring)
		mp_sys_upoll_destroy(&s->up);
	s->ring = false;
	free(s->pf);
	free(s->ev);
	s->pf = NULL;
	s->ev = NULL;
	s->ev_cap = 0;
}

int mp_manager_server_serve(mp_manager_server_t *s)
{
	if (!s)
		return -EINVAL;
	int expect = 0;
	if (!atomic_compare_exchange_strong(&s->serving, &expect, 1))
		return -EBUSY;
	atomic_store(&s->stop, 0);
	pthread_t t;
	int r = loop_open(s);
	if (r == 0 && (r = -pthread_create(&t, NULL, acceptor, s)) < 0)
		loop_close(s);
	if (r < 0) {
		atomic_store(&s->serving, 0);
		return r;
	}
	serve_loop(s);
	atomic_store(&s->stop, 1);
	pthread_join(t, NULL);
	take_handoff(s);
	for (size_t i = 0; i < s->nconns; i++)
		conn_free(s, s->conns[i]);
	s->nconns = 0;
	loop_close(s);
	atomic_store(&s->serving, 0);
	return 0;
}

int mp_manager_server_stop(mp_manager_server_t *s)
{
	if (!s)
		return -EINVAL;
	atomic_store(&s->stop, 1);
	/* async-signal-safe: an atomic store and a write(2) */
	mp_sys_eventfd_signal(s->evfd);
	return 0;
}

/* ---- set-up ------------------------------------------------------------ */

static int add_reg(mp_manager_server_t *s, const char *typeid,
                   struct mgr_reg **out)
{
	if (atomic_load(&s->serving) || s->child)
		return -EBUSY;
	if (find_reg(s, typeid))
		return -EEXIST;
	void *p = realloc(s->regs, (s->nregs + 1) * sizeof(*s->regs));
	if (!p)
		return -ENOMEM;
	s->regs = p;
	struct mgr_reg *r = &s->regs[s->nregs];
	memset(r, 0, sizeof(*r));
	if (!(r->typeid = strdup(typeid)))
		return -ENOMEM;
	s->nregs++;
	*out = r;
	return 0;
}

static const char *const sync_typeids[] = {
	"dict", "list", "Namespace", "Value", "Array", "Iterator", "Queue",
	"JoinableQueue", "Lock", "RLock", "Semaphore", "BoundedSemaphore",
	"Condition", "Event", "Barrier", NULL,
};

mp_manager_server_t *mp_manager_server_open(const mp_address_t *address,
                                            const void *authkey,
                                            size_t keylen, int digest,
                                            int *err)
{
	int e = 0;
	mp_manager_server_t *s = NULL;
	if (!authkey || (keylen == 0 && address &&
	                 address->family != AF_UNIX)) {
		e = -EINVAL;
		goto out;
	}
	if (!(s = calloc(1, sizeof(*s)))) {
		e = -ENOMEM;
		goto out;
	}
	s->evfd = mp_sys_eventfd();
	pthread_mutex_init(&s->mu, NULL);
	if (s->evfd < 0) {
		e = s->evfd;
		goto fail;
	}
	mp_conn_opts_t o = { .authkey = authkey, .authkey_len = keylen,
	                     .digest = digest, .backlog = 128 };
	if (!(s->l = mp_listener_open(address, &o, &e)))
		goto fail;
	s->addr = *mp_listener_address(s->l);
	s->opener = getpid();
	for (int i = 0; sync_typeids[i]; i++) {
		struct mgr_reg *r;
		if ((e = add_reg(s, sync_typeids[i], &r)) < 0)
			goto fail;
		r->kind = mp__mgr_kind(sync_typeids[i]);
	}
	goto out;
fail:
	mp_manager_server_close(s);
	s = NULL;
out:
	if (err)
		*err = e;
	return s;
}

const mp_address_t *mp_manager_server_address(const mp_manager_server_t *s)
{
	return s ? &s->addr : NULL;
}

int mp_manager_server_register(mp_manager_server_t *s,
                               const mp_manager_type_t *t)
{
	struct mgr_reg *r;
	if (!s || !t || !t->type_id || !*t->type_id || !t->create || !t->call)
		return -EINVAL;
	int e = add_reg(s, t->type_id, &r);
	if (e < 0)
		return e;
	r->ut = *t;
	r->ut.type_id = r->typeid;
	return 0;
}

int mp_manager_server_register_shared(mp_manager_server_t *s,
                                      const char *typeid, const char *kind,
                                      const mp_obj_t *args)
{
	const struct mgr_kind *k = kind ? mp__mgr_kind(kind) : NULL;
	if (!s || !typeid || !*typeid || !k ||
	    (args && mp_obj_kind(args) != MP_OBJ_TUPLE))
		return -EINVAL;
	struct mgr_reg *r;
	int e = add_reg(s, typeid, &r);
	if (e < 0)
		return e;
	struct mgr_obj *o = new_obj(s, r->typeid);
	mp_obj_t *exc = NULL, *none = mp_obj_tuple(0, NULL);
	if (!o || !none ||
	    k->init(o, args ? args : none, NULL, &exc) < 0) {
		mp_obj_decref(exc);
		mp_obj_decref(none);
		free(o);
		free(r->typeid);
		s->nregs--;
		return o && none ? -EINVAL : -ENOMEM;
	}
	mp_obj_decref(none);
	o->kind = k;
	o->pinned = true;
	add_obj(s, o);
	r->shared = o;
	return 0;
}

static int serve_child(void *arg)
{
	return mp_manager_server_serve(arg) < 0 ? 1 : 0;
}

int mp_manager_server_start(mp_manager_server_t *s, mp_process_t **proc)
{
	if (!s)
		return -EINVAL;
	if (s->child || atomic_load(&s->serving))
		return -EBUSY;
	int e = 0;
	mp_process_t *p = mp_process_new(serve_child, s, "SyncManager",
	                                 MP_PROCESS_DAEMON, &e);
	if (!p)
		return e;
	if ((e = mp_process_start(p)) < 0) {
		mp_process_free(p);
		return e;
	}
	s->child = p;
	mp__listener_close_fd(s->l);
	if (proc)
		*proc = p;
	return 0;
}

int mp_manager_server_close(mp_manager_server_t *s)
{
	if (!s)
		return 0;
	int first = 0;
	if (s->child) {
		if (mp_process_is_alive(s->child) == 1) {
			mp_process_terminate(s->child);
			if (mp_process_join(s->child, MP_SEC(5)) < 0) {
				mp_process_kill(s->child);
				mp_process_join(s->child, MP_FOREVER);
			}
		}
		mp_process_free(s->child);
	}
	if (s->l)
		first = mp_listener_close(s->l);
	for (size_t b = 0; b < NBUCKETS; b++)
		while (s->buckets[b])
			free_obj(s, s->buckets[b]);
	for (size_t i = 0; i < s->nregs; i++)
		free(s->regs[i].typeid);
	free(s->regs);
	for (size_t i = 0; i < s->nhandoff; i++)
		mp_conn_close(s->handoff[i]);
	free(s->handoff);
	free(s->conns);
	if (s->evfd >= 0)
		close(s->evfd);
	pthread_mutex_destroy(&s->mu);
	free(s);
	return first;
}
