/* manager.h - the manager server's insides, shared by lib/manager_*.c. */
#ifndef MPROC_LIB_MANAGER_H
#define MPROC_LIB_MANAGER_H

#include "internal.h"

#include <mproc/manager.h>

struct mgr_conn;
struct mgr_obj;
struct mp_manager_server;

/* What a method call produced. */
enum mgr_status {
	MGR_RETURN,    /* ('#RETURN', val) */
	MGR_ERROR,     /* ('#ERROR', val): an exception value */
	MGR_TRACEBACK, /* ('#TRACEBACK', val): a str */
	MGR_PROXY,     /* val is hosted as `typeid`: ('#PROXY', ...) */
	MGR_PARK,      /* would block: try again on a change or deadline */
};

struct mgr_res {
	int status;
	mp_obj_t *val;       /* owned */
	const char *typeid;  /* MGR_PROXY */
};

/* One method call, run once, or parked and run again until it ends. */
struct mgr_call {
	struct mgr_conn *conn;
	struct mgr_obj *obj;
	mp_obj_t *req;           /* the request; args and kwds live in it */
	const char *method;
	const mp_obj_t *args;    /* a tuple */
	const mp_obj_t *kwds;    /* a dict */
	int64_t deadline;        /* parked: absolute, MP__NO_DEADLINE none */
	bool timed_out;          /* this run is the one at the deadline */
	int phase;               /* a kind's progress through a parked call */
	int64_t saved[2];        /* a kind's state for a parked call */
};

/* A hosted kind: SyncManager's typeids. */
struct mgr_kind {
	const char *name;
	const char *const *exposed;
	/* state from create's args; 0 or -1 with *exc set */
	int (*init)(struct mgr_obj *o, const mp_obj_t *args,
	            const mp_obj_t *kwds, mp_obj_t **exc);
	void (*call)(struct mp_manager_server *s, struct mgr_call *c,
	             struct mgr_res *r);
	mp_obj_t *(*value)(struct mgr_obj *o);   /* '#GETVALUE' */
	mp_obj_t *(*repr)(struct mgr_obj *o);    /* a str; NULL: default */
	/* a connection closed: give back what it held; true if changed */
	bool (*drop_conn)(struct mgr_obj *o, uint64_t cid);
	void (*destroy)(struct mgr_obj *o);
	/* the client of a parked call died (a Barrier breaks) */
	void (*cancel)(struct mgr_call *c);
};

struct mgr_obj {
	uint64_t id;
	char ident[24];
	const char *typeid;
	const struct mgr_kind *kind;       /* NULL for a C-registered type */
	const mp_manager_type_t *utype;
	void *state;
	int64_t refs;
	int64_t linger;     /* refs == 0: freed at this time */
	bool pinned;        /* a shared singleton: never freed */
	struct mgr_obj *hnext;
};

struct mgr_conn {
	uint64_t cid;
	mp_conn_t *conn;
	int fd;
	uint8_t *in;
	size_t in_len, in_cap;
	uint8_t *out;
	size_t out_off, out_len, out_cap;
	bool served;        /* after 'accept_connection' */
	bool close_after;   /* a control call's connection: after the reply */
	bool dead;
	bool parked;
	bool in_armed;      /* its multishot POLLIN poll is on the ring */
	bool out_armed;     /* a one-shot POLLOUT poll is on the ring */
	bool rd_more;       /* reading stopped at the buffer's bound */
	bool reread;        /* a POLLIN put off until its reply is out */
	struct mp_manager_server *srv;
	struct mgr_call park;
};

/* The kinds (lib/manager_types.c, lib/manager_sync.c). */
const struct mgr_kind *mp__mgr_kind(const char *name);
extern const struct mgr_kind mp__mgr_iterator;

/* List slices (lib/manager_slice.c): is x a builtins.slice(start, stop,
 * step), as a request carries one (an inert call)?  Then run the call's
 * __getitem__, __setitem__ or __delitem__ of it on the vector v[0..*n)
 * of capacity *cap. */
bool mp__mgr_is_slice(const mp_obj_t *x);
void mp__mgr_slice_call(const struct mgr_call *c, mp_obj_t ***v, size_t *n,
                        size_t *cap, struct mgr_res *r);

/* Helpers for kinds. */
mp_obj_t *mp__mgr_exc(const char *type, const char *msg);
mp_obj_t *mp__mgr_exc_obj(const char *type, mp_obj_t *arg);
const mp_obj_t *mp__mgr_arg(const struct mgr_call *c, size_t i,
                            const char *name);
void mp__mgr_ret(struct mgr_res *r, mp_obj_t *v);
void mp__mgr_err(struct mgr_res *r, mp_obj_t *exc);
void mp__mgr_type_error(struct mgr_res *r, const char *msg);
mp_obj_t *mp__mgr_str(const char *s);
/* a copy of a list/dict/tuple value: new, unfrozen, children shared */
mp_obj_t *mp__mgr_copy(const mp_obj_t *v);
int64_t mp__mgr_now(void);
/* A Python timeout argument (seconds, None) as an absolute deadline;
 * -1 when it is not a number. */
int mp__mgr_deadline(const mp_obj_t *t, int64_t *deadline);

#endif
