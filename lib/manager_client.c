/*
 * manager_client.c - a client of a manager server, mproc's or CPython's:
 * BaseManager.connect(), _create(), BaseProxy._callmethod() and the
 * proxies' incref / decref, on the same wire as CPython's client.
 *
 * Control calls ('create', 'incref', 'decref', ...) each open a
 * connection of their own, as CPython's client does: a CPython server
 * takes a control call only as a connection's first request.  A proxy's
 * method calls share one connection, opened on the first call with
 * 'accept_connection'.
 */
#include "internal.h"

#include <mproc/manager.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct mp_manager {
	mp_address_t addr;
	void *key;
	size_t keylen;
};

struct mp_proxy {
	mp_manager_t *m;
	mp_conn_t *conn;          /* the method-call connection, or NULL */
	char ident[64];
	char typeid[128];
	mp_obj_t *exposed;        /* a tuple of str */
};

static const mp_pickle_opts_t reply_opts = { .flags = MP_PICKLE_INERT };

static int64_t left(int64_t deadline)
{
	if (deadline == MP__NO_DEADLINE)
		return MP_FOREVER;
	int64_t l = deadline - mp_sys_now_ns();
	return l > 0 ? l : 0;
}

static mp_conn_t *open_conn(mp_manager_t *m, int64_t deadline, int *err)
{
	mp_conn_opts_t o = { .authkey = m->key, .authkey_len = m->keylen };
	return mp_client(&m->addr, &o, left(deadline), err);
}

/* (ident, method, args, kwds) on c; the reply's kind and value. */
static int request(mp_conn_t *c, const char *ident, const char *method,
                   const mp_obj_t *args, const mp_obj_t *kwds,
                   int64_t deadline, mp_obj_t **kind_val)
{
	int err = 0;
	mp_obj_t *items[4] = {
		ident ? mp_obj_cstr(ident, NULL) : mp_obj_none(),
		mp_obj_cstr(method, &err),
		args ? mp_obj_incref((mp_obj_t *)args) : mp_obj_tuple(0, NULL),
		kwds ? mp_obj_incref((mp_obj_t *)kwds) : mp_obj_dict(),
	};
	mp_obj_t *req = mp_obj_tuple(4, items);
	if (!req)
		return err ? err : -ENOMEM;
	err = mp_conn_send_obj(c, req, left(deadline));
	mp_obj_decref(req);
	if (err < 0)
		return err;
	mp_obj_t *rep = mp_conn_recv_obj(c, &reply_opts, left(deadline), &err);
	if (!rep)
		return err;
	if (mp_obj_kind(rep) != MP_OBJ_TUPLE || mp_obj_len(rep) != 2 ||
	    mp_obj_kind(mp_obj_item(rep, 0)) != MP_OBJ_STR) {
		mp_obj_decref(rep);
		return -EPROTO;
	}
	*kind_val = rep;
	return 0;
}

/* A reply into the caller's result: 0 '#RETURN', 1 '#PROXY',
 * -MP_EREMOTE '#ERROR' / '#TRACEBACK', -EPROTO anything else. */
static int unpack(mp_obj_t *rep, mp_obj_t **result)
{
	const mp_obj_t *k = mp_obj_item(rep, 0);
	mp_obj_t *v = mp_obj_item(rep, 1);
	int r = mp_obj_str_eq(k, "#RETURN")   ? 0
	        : mp_obj_str_eq(k, "#PROXY")  ? 1
	        : mp_obj_str_eq(k, "#ERROR") ||
	                  mp_obj_str_eq(k, "#TRACEBACK") ||
	                  mp_obj_str_eq(k, "#UNSERIALIZABLE")
	                ? -MP_EREMOTE
	                : -EPROTO;
	if (result)
		*result = r == -EPROTO ? NULL : mp_obj_incref(v);
	mp_obj_decref(rep);
	return r;
}

static int control(mp_manager_t *m, const char *fn, const mp_obj_t *args,
                   const mp_obj_t *kwds, int64_t deadline, mp_obj_t **res)
{
	int err = 0;
	mp_obj_t *rep = NULL;
	if (res)
		*res = NULL;
	mp_conn_t *c = open_conn(m, deadline, &err);
	if (!c)
		return err;
	err = request(c, NULL, fn, args, kwds, deadline, &rep);
	mp_conn_close(c);
	if (err < 0)
		return err;
	err = unpack(rep, res);
	return err == 1 ? -EPROTO : err;
}

int mp_manager_call(mp_manager_t *m, const char *fn, const mp_obj_t *args,
                    const mp_obj_t *kwds, int64_t timeout_ns,
                    mp_obj_t **result)
{
	int64_t dl;
	if (!m || !fn || (args && mp_obj_kind(args) != MP_OBJ_TUPLE) ||
	    (kwds && mp_obj_kind(kwds) != MP_OBJ_DICT))
		return -EINVAL;
	int e = mp__deadline(timeout_ns, &dl);
	return e < 0 ? e : control(m, fn, args, kwds, dl, result);
}

/* One str argument: (s,). */
static mp_obj_t *args1(const char *s)
{
	mp_obj_t *a = mp_obj_cstr(s, NULL);
	return mp_obj_tuple(1, &a);
}

mp_manager_t *mp_manager_connect(const mp_address_t *address,
                                 const void *authkey, size_t keylen,
                                 int64_t timeout_ns, int *err)
{
	int e = 0;
	int64_t dl;
	mp_manager_t *m = NULL;
	if (!address || (!authkey && keylen) ||
	    (e = mp__deadline(timeout_ns, &dl)) < 0) {
		e = e ? e : -EINVAL;
		goto out;
	}
	m = calloc(1, sizeof(*m));
	if (!m || !(m->key = malloc(keylen + 1))) {
		e = -ENOMEM;
		goto fail;
	}
	memcpy(m->key, authkey ? authkey : "", keylen);
	m->keylen = keylen;
	m->addr = *address;
	if ((e = control(m, "dummy", NULL, NULL, dl, NULL)) < 0)
		goto fail;
	goto out;
fail:
	mp_manager_close(m);
	m = NULL;
out:
	if (err)
		*err = e;
	return m;
}

int mp_manager_close(mp_manager_t *m)
{
	if (m)
		free(m->key);
	free(m);
	return 0;
}

int mp_manager_shutdown(mp_manager_t *m, int64_t timeout_ns)
{
	return mp_manager_call(m, "shutdown", NULL, NULL, timeout_ns, NULL);
}

static int refcall(mp_manager_t *m, const char *fn, const char *ident,
                   int64_t deadline)
{
	mp_obj_t *a = args1(ident);
	int e = a ? control(m, fn, a, NULL, deadline, NULL) : -ENOMEM;
	mp_obj_decref(a);
	return e;
}

/* A proxy for (ident, exposed): it takes a reference of its own
 * (incref), as BaseProxy.__init__ does. */
static mp_proxy_t *proxy_new(mp_manager_t *m, const char *typeid,
                             const mp_obj_t *ident, mp_obj_t *exposed,
                             int64_t deadline, int *err)
{
	size_t n = 0;
	const char *id = mp_obj_data(ident, &n);
	mp_proxy_t *p = calloc(1, sizeof(*p));
	if (!p || mp_obj_kind(ident) != MP_OBJ_STR || n >= sizeof(p->ident)) {
		free(p);
		*err = p ? -EPROTO : -ENOMEM;
		return NULL;
	}
	p->m = m;
	memcpy(p->ident, id, n);
	snprintf(p->typeid, sizeof(p->typeid), "%s", typeid);
	p->exposed = mp_obj_incref(exposed);
	if ((*err = refcall(m, "incref", p->ident, deadline)) < 0) {
		mp_obj_decref(p->exposed);
		free(p);
		return NULL;
	}
	return p;
}

mp_proxy_t *mp_manager_create(mp_manager_t *m, const char *typeid,
                              const mp_obj_t *args, const mp_obj_t *kwds,
                              int64_t timeout_ns, int *err)
{
	int e = 0;
	int64_t dl;
	mp_obj_t *res = NULL, *a = NULL;
	mp_proxy_t *p = NULL;
	if (!m || !typeid || (args && mp_obj_kind(args) != MP_OBJ_TUPLE) ||
	    (e = mp__deadline(timeout_ns, &dl)) < 0) {
		e = e ? e : -EINVAL;
		goto out;
	}
	/* (typeid, *args) */
	size_t n = args ? (size_t)mp_obj_len(args) : 0;
	mp_obj_t **items = malloc((n + 1) * sizeof(*items));
	if (items) {
		items[0] = mp_obj_cstr(typeid, &e);
		for (size_t i = 0; i < n; i++)
			items[i + 1] = mp_obj_incref(mp_obj_item(args, i));
		a = mp_obj_tuple(n + 1, items);
		free(items);
	}
	if (!a) {
		e = e ? e : -ENOMEM;
		goto out;
	}
	if ((e = control(m, "create", a, kwds, dl, &res)) < 0)
		goto out;
	if (mp_obj_kind(res) != MP_OBJ_TUPLE || mp_obj_len(res) != 2) {
		e = -EPROTO;
		goto out;
	}
	p = proxy_new(m, typeid, mp_obj_item(res, 0), mp_obj_item(res, 1), dl,
	              &e);
	/* create's own reference goes, as in BaseManager's creation */
	refcall(m, "decref", mp_obj_data(mp_obj_item(res, 0), NULL), dl);
out:
	mp_obj_decref(a);
	mp_obj_decref(res);
	if (err)
		*err = e;
	return p;
}

/* A '#PROXY' result (exposed, Token): a proxy of its own, then the
 * server's reference dropped, as BaseProxy._callmethod does. */
static int adopt(mp_proxy_t *p, mp_obj_t *v, int64_t dl, mp_proxy_t **out)
{
	const mp_obj_t *tok = mp_obj_item(v, 1);
	const mp_obj_t *st = mp_obj_inert_state(tok);
	const char *typeid = mp_obj_data(mp_obj_item(st, 0), NULL);
	const mp_obj_t *ident = mp_obj_item(st, 2);
	int e = 0;
	if (mp_obj_len(v) != 2 || !typeid || mp_obj_len(st) != 3 ||
	    mp_obj_kind(ident) != MP_OBJ_STR)
		return -EPROTO;
	if (out)
		*out = proxy_new(p->m, typeid, ident, mp_obj_item(v, 0), dl,
		                 &e);
	refcall(p->m, "decref", mp_obj_data(ident, NULL), dl);
	return e < 0 ? e : out ? 1 : -EPROTO;
}

int mp_proxy_call(mp_proxy_t *p, const char *method, const mp_obj_t *args,
                  const mp_obj_t *kwds, int64_t timeout_ns,
                  mp_obj_t **result, mp_proxy_t **proxy)
{
	int64_t dl;
	int e = 0;
	mp_obj_t *rep = NULL, *v = NULL;
	if (result)
		*result = NULL;
	if (proxy)
		*proxy = NULL;
	if (!p || !method || (args && mp_obj_kind(args) != MP_OBJ_TUPLE) ||
	    (kwds && mp_obj_kind(kwds) != MP_OBJ_DICT))
		return -EINVAL;
	if ((e = mp__deadline(timeout_ns, &dl)) < 0)
		return e;
	if (!p->conn) {
		mp_obj_t *a = args1("MainProcess");
		if (!(p->conn = open_conn(p->m, dl, &e))) {
			mp_obj_decref(a);
			return e;
		}
		/* one reader: a reply's header and body in one read */
		mp_conn_set_readahead(p->conn, MP_CONN_READAHEAD_DEFAULT);
		e = request(p->conn, NULL, "accept_connection", a, NULL, dl,
		            &rep);
		mp_obj_decref(a);
		if (e < 0 || (e = unpack(rep, NULL)) != 0)
			goto drop;
	}
	if ((e = request(p->conn, p->ident, method, args, kwds, dl, &rep)) < 0)
		goto drop;
	e = unpack(rep, &v);
	if (e == 1) {
		e = adopt(p, v, dl, proxy);
		mp_obj_decref(v);
		return e;
	}
	if (result)
		*result = v;
	else
		mp_obj_decref(v);
	return e;
drop:
	/* a timeout or error mid-call: the reply would come out of step */
	mp_conn_close(p->conn);
	p->conn = NULL;
	return e < 0 ? e : -EPROTO;
}

const char *mp_proxy_ident(const mp_proxy_t *p)
{
	return p ? p->ident : "";
}

const char *mp_proxy_typeid(const mp_proxy_t *p)
{
	return p ? p->typeid : "";
}

bool mp_proxy_exposed(const mp_proxy_t *p, const char *method)
{
	for (int64_t i = 0; p && method && i < mp_obj_len(p->exposed); i++)
		if (mp_obj_str_eq(mp_obj_item(p->exposed, (size_t)i), method))
			return true;
	return false;
}

int mp_proxy_free(mp_proxy_t *p)
{
	if (!p)
		return 0;
	int64_t dl;
	mp__deadline(MP_SEC(5), &dl);
	mp_conn_close(p->conn);
	int e = refcall(p->m, "decref", p->ident, dl);
	mp_obj_decref(p->exposed);
	free(p);
	return e;
}
