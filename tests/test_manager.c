/*
 * test_manager.c - the manager server and client: C against C, Python
 * (3.11, 3.12, 3.13) against the C server and the C client against
 * CPython's server, the seed's examples, deaths (clients and server
 * killed, a parent killed), hostile clients, and many clients at once.
 */
#include "examples.h"
#include "pyutil.h"

#include <mproc/manager.h>
#include <signal.h>
#include <sys/socket.h>

static const char key[] = "manager test key";

static const char *const maths_exposed[] = { "add", "mul", NULL };
static int maths_self;

static void *maths_create(void *ctx, const mp_obj_t *args,
                          const mp_obj_t *kwds, mp_obj_t **exc)
{
	(void)ctx, (void)args, (void)kwds, (void)exc;
	return &maths_self;
}

static mp_obj_t *maths_call(void *ctx, void *self, const char *method,
                            const mp_obj_t *args, const mp_obj_t *kwds,
                            mp_obj_t **exc)
{
	(void)ctx, (void)self, (void)kwds;
	int64_t x, y;
	if (mp_obj_int_value(mp_obj_item(args, 0), &x) < 0 ||
	    mp_obj_int_value(mp_obj_item(args, 1), &y) < 0) {
		*exc = mp_obj_exc("builtins.TypeError", NULL, NULL);
		return NULL;
	}
	return mp_obj_int(!strcmp(method, "add") ? x + y : x * y);
}

static const mp_manager_type_t maths = {
	.type_id = "Maths", .exposed = maths_exposed,
	.create = maths_create, .call = maths_call,
};

/* A server on a fresh AF_UNIX path or TCP, not yet serving. */
static mp_manager_server_t *server_open(bool tcp)
{
	int err = 0;
	mp_address_t a;
	mp_address_inet(&a, AF_INET, "127.0.0.1", 0);
	mp_manager_server_t *s = mp_manager_server_open(tcp ? &a : NULL, key,
	                                                strlen(key), 0, &err);
	CU_ASSERT_PTR_NOT_NULL_FATAL(s);
	MPT_OK(mp_manager_server_register(s, &maths));
	MPT_OK(mp_manager_server_register_shared(s, "get_queue", "Queue",
	                                         NULL));
	MPT_OK(mp_manager_server_register_shared(s, "the_lock", "Lock",
	                                         NULL));
	MPT_OK(mp_manager_server_register_shared(s, "the_cond", "Condition",
	                                         NULL));
	mp_obj_t *two = mp_obj_int(2);
	mp_obj_t *sem_args = mp_obj_tuple(1, &two);
	MPT_OK(mp_manager_server_register_shared(s, "the_sem", "Semaphore",
	                                         sem_args));
	mp_obj_decref(sem_args);
	mp_obj_t *n2 = mp_obj_int(2);
	mp_obj_t *bar_args = mp_obj_tuple(1, &n2);
	MPT_OK(mp_manager_server_register_shared(s, "the_barrier", "Barrier",
	                                         bar_args));
	mp_obj_decref(bar_args);
	mp_obj_t *v[2] = { mp_obj_cstr("i", NULL), mp_obj_int(0) };
	mp_obj_t *args = mp_obj_tuple(2, v);
	MPT_OK(mp_manager_server_register_shared(s, "counter", "Value", args));
	mp_obj_decref(args);
	return s;
}

/* A server in a child process. */
static mp_manager_server_t *server(bool tcp, mp_process_t **proc)
{
	mp_manager_server_t *s = server_open(tcp);
	MPT_OK(mp_manager_server_start(s, proc));
	return s;
}

/* A server on a thread of ours, so that the sanitizers see its memory
 * (a leak, a stray write) in this process. */
static void *serve_thread(void *arg)
{
	return (void *)(intptr_t)mp_manager_server_serve(arg);
}

static mp_manager_server_t *server_here(pthread_t *t)
{
	mp_manager_server_t *s = server_open(false);
	CU_ASSERT_FATAL(pthread_create(t, NULL, serve_thread, s) == 0);
	return s;
}

static void server_here_close(mp_manager_server_t *s, pthread_t t)
{
	void *r;
	MPT_OK(mp_manager_server_stop(s));
	pthread_join(t, &r);
	MPT_EQ((intptr_t)r, 0);
	MPT_OK(mp_manager_server_close(s));
}

static mp_manager_t *connect_to(mp_manager_server_t *s)
{
	int err = 0;
	mp_manager_t *m = mp_manager_connect(mp_manager_server_address(s), key,
	                                     strlen(key), TEST_WAIT_NS, &err);
	MPT_EQ(err, 0);
	return m;
}

static mp_proxy_t *create(mp_manager_t *m, const char *typeid,
                          mp_obj_t *args)
{
	int err = 0;
	mp_proxy_t *p = mp_manager_create(m, typeid, args, NULL, TEST_WAIT_NS,
	                                  &err);
	mp_obj_decref(args);
	MPT_EQ(err, 0);
	CU_ASSERT_PTR_NOT_NULL_FATAL(p);
	return p;
}

/* p.method(*args) (args stolen) -> result (new) or NULL; *code the
 * return of mp_proxy_call. */
static mp_obj_t *call(mp_proxy_t *p, const char *method, mp_obj_t *args,
                      int64_t timeout, int *code)
{
	mp_obj_t *res = NULL;
	int r = mp_proxy_call(p, method, args, NULL, timeout, &res, NULL);
	mp_obj_decref(args);
	if (code)
		*code = r;
	return res;
}

static mp_obj_t *t1(mp_obj_t *a)
{
	return mp_obj_tuple(1, &a);
}

static mp_obj_t *t2(mp_obj_t *a, mp_obj_t *b)
{
	mp_obj_t *v[2] = { a, b };
	return mp_obj_tuple(2, v);
}

static mp_obj_t *s_(const char *s)
{
	return mp_obj_cstr(s, NULL);
}

static int64_t ival(mp_obj_t *o)
{
	int64_t v = -12345;
	mp_obj_int_value(o, &v);
	mp_obj_decref(o);
	return v;
}

static void test_c_kinds(void)
{
	pthread_t th;
	mp_manager_server_t *s = server_here(&th);
	mp_manager_t *m = connect_to(s);
	int r;
	/* dict, with KeyError */
	mp_proxy_t *d = create(m, "dict", NULL);
	mp_obj_decref(call(d, "__setitem__", t2(s_("k"), mp_obj_int(7)),
	                   TEST_WAIT_NS, &r));
	MPT_EQ(r, 0);
	MPT_EQ(ival(call(d, "__getitem__", t1(s_("k")), TEST_WAIT_NS, &r)),
	       7);
	mp_obj_t *e = call(d, "__getitem__", t1(s_("nope")), TEST_WAIT_NS, &r);
	MPT_ERR(r, -MP_EREMOTE);
	CU_ASSERT_STRING_EQUAL(mp_obj_exc_type(e) ? mp_obj_exc_type(e) : "",
	                       "builtins.KeyError");
	mp_obj_decref(e);
	/* iteration: __iter__ answers with a proxy */
	mp_proxy_t *it = NULL;
	mp_obj_t *none = NULL;
	MPT_EQ(mp_proxy_call(d, "__iter__", NULL, NULL, TEST_WAIT_NS, &none,
	                     &it), 1);
	CU_ASSERT_PTR_NOT_NULL_FATAL(it);
	mp_obj_t *k = call(it, "__next__", NULL, TEST_WAIT_NS, &r);
	CU_ASSERT(mp_obj_str_eq(k, "k"));
	mp_obj_decref(k);
	mp_obj_decref(call(it, "__next__", NULL, TEST_WAIT_NS, &r));
	MPT_ERR(r, -MP_EREMOTE);
	mp_proxy_free(it);
	/* an unexposed method and a bad ident: errors, the server goes on */
	mp_obj_t *tb = call(d, "__class__", NULL, TEST_WAIT_NS, &r);
	MPT_ERR(r, -MP_EREMOTE);
	CU_ASSERT(mp_obj_kind(tb) == MP_OBJ_STR);
	mp_obj_decref(tb);
	/* Queue: Empty after a timeout, parked get ends with a put */
	mp_proxy_t *q = create(m, "Queue", NULL);
	e = call(q, "get", t2(mp_obj_bool(true), mp_obj_float(0.05)),
	         TEST_WAIT_NS, &r);
	MPT_ERR(r, -MP_EREMOTE);
	CU_ASSERT(mp_obj_exc_type(e) &&
	          strstr(mp_obj_exc_type(e), "queue.Empty"));
	mp_obj_decref(e);
	mp_obj_decref(call(q, "put", t1(mp_obj_int(5)), TEST_WAIT_NS, &r));
	MPT_EQ(ival(call(q, "get", NULL, TEST_WAIT_NS, &r)), 5);
	/* a C type */
	mp_proxy_t *x = create(m, "Maths", NULL);
	MPT_EQ(ival(call(x, "add", t2(mp_obj_int(4), mp_obj_int(3)),
	                 TEST_WAIT_NS, &r)), 7);
	MPT_EQ(ival(call(x, "mul", t2(mp_obj_int(7), mp_obj_int(8)),
	                 TEST_WAIT_NS, &r)), 56);
	/* idents are never reused */
	char id1[64];
	snprintf(id1, sizeof(id1), "%s", mp_proxy_ident(x));
	MPT_OK(mp_proxy_free(x));
	x = create(m, "Maths", NULL);
	CU_ASSERT(strcmp(id1, mp_proxy_ident(x)) != 0);
	/* a call's own timeout: an empty queue's get with no timeout */
	mp_obj_decref(call(q, "get", NULL, MP_MSEC(50), &r));
	MPT_ERR(r, -ETIMEDOUT);
	mp_obj_decref(call(q, "qsize", NULL, TEST_WAIT_NS, &r));
	MPT_EQ(r, 0); /* a new connection after the timeout */
	mp_proxy_free(x);
	mp_proxy_free(q);
	mp_proxy_free(d);
	MPT_OK(mp_manager_shutdown(m, TEST_WAIT_NS));
	mp_manager_close(m);
	server_here_close(s, th);
}

/* A proxy whose count reaches zero lingers: an incref just after the last
 * decref (a proxy passed on) still finds it. */
static void test_linger(void)
{
	mp_manager_server_t *s = server(false, NULL);
	mp_manager_t *m = connect_to(s);
	mp_proxy_t *d = create(m, "dict", NULL);
	char id[64];
	snprintf(id, sizeof(id), "%s", mp_proxy_ident(d));
	MPT_OK(mp_proxy_free(d));
	mp_obj_t *a = t1(s_(id));
	MPT_OK(mp_manager_call(m, "incref", a, NULL, TEST_WAIT_NS, NULL));
	MPT_OK(mp_manager_call(m, "decref", a, NULL, TEST_WAIT_NS, NULL));
	/* an ident never made */
	mp_obj_t *b = t1(s_("ffffff"));
	MPT_ERR(mp_manager_call(m, "incref", b, NULL, TEST_WAIT_NS, NULL),
	        -MP_EREMOTE);
	mp_obj_decref(a);
	mp_obj_decref(b);
	mp_manager_close(m);
	MPT_OK(mp_manager_server_close(s));
}

/* Always authenticated; typeids once; no registering once started. */
static void test_open_register(void)
{
	int err = 0;
	mp_address_t a;
	mp_address_inet(&a, AF_INET, "127.0.0.1", 0);
	CU_ASSERT_PTR_NULL(mp_manager_server_open(&a, NULL, 0, 0, &err));
	MPT_ERR(err, -EINVAL);
	CU_ASSERT_PTR_NULL(mp_manager_server_open(&a, "", 0, 0, &err));
	MPT_ERR(err, -EINVAL);
	CU_ASSERT_PTR_NULL(mp_manager_server_open(NULL, NULL, 0, 0, &err));
	MPT_ERR(err, -EINVAL);
	mp_manager_server_t *s = server_open(true);
	MPT_ERR(mp_manager_server_register(s, &maths), -EEXIST);
	MPT_ERR(mp_manager_server_register_shared(s, "dict", "dict", NULL),
	        -EEXIST);
	MPT_ERR(mp_manager_server_register_shared(s, "x", "Pool", NULL),
	        -EINVAL);
	MPT_OK(mp_manager_server_start(s, NULL));
	MPT_ERR(mp_manager_server_start(s, NULL), -EBUSY);
	MPT_ERR(mp_manager_server_register_shared(s, "y", "dict", NULL),
	        -EBUSY);
	/* a wrong key is refused by the handshake */
	CU_ASSERT_PTR_NULL(mp_manager_connect(mp_manager_server_address(s),
	                                      "wrong", 5, TEST_WAIT_NS, &err));
	MPT_ERR(err, -MP_EAUTH);
	MPT_OK(mp_manager_server_close(s));
}

/* ---- deaths ------------------------------------------------------------- */

struct kill_ctx {
	const mp_address_t *addr;
	_Atomic uint32_t *flag;
};

/* Take the lock and both units of the semaphore, then wait to die. */
static int hold_lock(void *arg)
{
	struct kill_ctx *k = arg;
	int err = 0;
	mp_manager_t *m = mp_manager_connect(k->addr, key, strlen(key),
	                                     TEST_WAIT_NS, &err);
	mp_proxy_t *l = m ? mp_manager_create(m, "the_lock", NULL, NULL,
	                                      TEST_WAIT_NS, &err) : NULL;
	mp_proxy_t *sm = m ? mp_manager_create(m, "the_sem", NULL, NULL,
	                                       TEST_WAIT_NS, &err) : NULL;
	mp_obj_t *res = NULL;
	if (!l || mp_proxy_call(l, "acquire", NULL, NULL, TEST_WAIT_NS, &res,
	                        NULL) != 0 || !mp_obj_bool_value(res))
		return 1;
	for (int i = 0; i < 2; i++)
		if (!sm || mp_proxy_call(sm, "acquire", NULL, NULL,
		                         TEST_WAIT_NS, &res, NULL) != 0 ||
		    !mp_obj_bool_value(res))
			return 1;
	mpt_flag_set(k->flag, 1);
	for (;;)
		pause();
}

static void test_kill_lock_holder(void)
{
	mp_manager_server_t *s = server(false, NULL);
	struct kill_ctx k = { mp_manager_server_address(s), mpt_shared(64) };
	mp_process_t *p = mpt_start(hold_lock, &k);
	MPT_OK(mpt_flag_wait(k.flag, 1));
	mp_manager_t *m = connect_to(s);
	mp_proxy_t *l = create(m, "the_lock", NULL);
	int r;
	mp_obj_t *got = call(l, "acquire", t1(mp_obj_bool(false)),
	                     TEST_WAIT_NS, &r);
	CU_ASSERT(r == 0 && mp_obj_kind(got) == MP_OBJ_BOOL &&
	          !mp_obj_bool_value(got));
	mp_obj_decref(got);
	/* stopped is not dead: the lock stays with it */
	CU_ASSERT(kill(mp_process_pid(p), SIGSTOP) == 0);
	got = call(l, "acquire", t2(mp_obj_bool(true), mp_obj_float(0.1)),
	           TEST_WAIT_NS, &r);
	CU_ASSERT(r == 0 && mp_obj_kind(got) == MP_OBJ_BOOL &&
	          !mp_obj_bool_value(got));
	mp_obj_decref(got);
	CU_ASSERT(kill(mp_process_pid(p), SIGCONT) == 0);
	MPT_OK(mp_process_kill(p));
	got = call(l, "acquire", NULL, TEST_WAIT_NS, &r);
	MPT_EQ(r, 0);
	CU_ASSERT(mp_obj_bool_value(got));
	mp_obj_decref(got);
	/* and the semaphore's two units came back */
	mp_proxy_t *sm = create(m, "the_sem", NULL);
	for (int i = 0; i < 2; i++) {
		got = call(sm, "acquire", NULL, TEST_WAIT_NS, &r);
		CU_ASSERT(r == 0 && mp_obj_bool_value(got));
		mp_obj_decref(got);
	}
	mp_proxy_free(sm);
	mpt_finish(p);
	mp_proxy_free(l);
	mp_manager_close(m);
	mp_manager_server_close(s);
}

struct waiter {
	mp_proxy_t *p;
	const char *method;
	int r;
};

static void *wait_call(void *arg)
{
	struct waiter *w = arg;
	mp_obj_decref(call(w->p, w->method, NULL, TEST_WAIT_NS, &w->r));
	return NULL;
}

/* The server dies while calls of every blocking kind wait (Queue.get,
 * Lock.acquire, Event.wait, Barrier.wait, Condition.wait,
 * JoinableQueue.join): each returns an error at once, not at its
 * timeout. */
static void test_kill_server(void)
{
	mp_process_t *proc = NULL;
	mp_manager_server_t *s = server(true, &proc);
	mp_manager_t *m = connect_to(s);
	int r;
	/* two proxies of the shared Lock, Condition and Barrier: two
	 * connections (a proxy's connection serves one call at a time) */
	mp_proxy_t *lk = create(m, "the_lock", NULL);
	mp_obj_decref(call(lk, "acquire", NULL, TEST_WAIT_NS, &r));
	mp_proxy_t *cv = create(m, "the_cond", NULL);
	mp_proxy_t *bar = create(m, "the_barrier", NULL);
	mp_proxy_t *jq = create(m, "JoinableQueue", NULL);
	mp_obj_decref(call(jq, "put", t1(mp_obj_int(1)), TEST_WAIT_NS, &r));
	struct waiter w[6] = {
		{ create(m, "Queue", NULL), "get", 0 },
		{ create(m, "Event", NULL), "wait", 0 },
		{ create(m, "the_barrier", NULL), "wait", 0 },
		{ create(m, "the_lock", NULL), "acquire", 0 },
		{ jq, "join", 0 },
		{ create(m, "the_cond", NULL), "wait", 0 },
	};
	/* the Condition's waiter holds its lock when it calls wait */
	mp_obj_decref(call(w[5].p, "acquire", NULL, TEST_WAIT_NS, &r));
	pthread_t t[6];
	for (int i = 0; i < 6; i++)
		pthread_create(&t[i], NULL, wait_call, &w[i]);
	/* parked, not on their way: the Barrier counts its waiter, and the
	 * Condition's lock is free once its waiter waits */
	int64_t waiting = 0, dl = mp_sys_now_ns() + TEST_WAIT_NS;
	while (waiting != 1 && mp_sys_now_ns() < dl)
		waiting = ival(call(bar, "__getattribute__",
		                    t1(s_("n_waiting")), TEST_WAIT_NS, &r));
	MPT_EQ(waiting, 1);
	bool got = false;
	while (!got && mp_sys_now_ns() < dl) {
		mp_obj_t *v = call(cv, "acquire", t1(mp_obj_bool(false)),
		                   TEST_WAIT_NS, &r);
		got = mp_obj_kind(v) == MP_OBJ_BOOL && mp_obj_bool_value(v);
		mp_obj_decref(v);
	}
	CU_ASSERT(got);
	usleep(100000); /* the other four: likely parked by now (if not,
	                 * they fail to connect: an error all the same) */
	int64_t t0 = mp_sys_now_ns();
	MPT_OK(mp_process_kill(proc));
	for (int i = 0; i < 6; i++) {
		pthread_join(t[i], NULL);
		if (w[i].r >= 0 || w[i].r == -ETIMEDOUT)
			fprintf(stderr, "\nwaiter %d: %d\n", i, w[i].r);
		CU_ASSERT(w[i].r < 0 && w[i].r != -ETIMEDOUT);
		mp_proxy_free(w[i].p);
	}
	MPT_CMP(mp_sys_now_ns() - t0, <, TEST_WAIT_NS);
	mp_proxy_free(lk);
	mp_proxy_free(cv);
	mp_proxy_free(bar);
	mp_manager_close(m);
	mp_manager_server_close(s);
}

static int start_and_wait(void *arg)
{
	_Atomic uint32_t *pid = arg;
	mp_process_t *proc = NULL;
	mp_manager_server_t *s = mp_manager_server_open(NULL, key, strlen(key),
	                                                0, NULL);
	if (!s || mp_manager_server_start(s, &proc) < 0)
		return 1;
	mpt_flag_set(pid, (uint32_t)mp_process_pid(proc));
	for (;;)
		pause();
}

/* SIGKILL the server's parent: the server exits (we are the subreaper
 * that reaps it). */
static void test_kill_parent(void)
{
	_Atomic uint32_t *pid = mpt_shared(64);
	mp_process_t *p = mpt_start(start_and_wait, (void *)pid);
	int64_t dl = mp_sys_now_ns() + TEST_WAIT_NS;
	while (!atomic_load(pid) && mp_sys_now_ns() < dl)
		usleep(1000);
	CU_ASSERT_FATAL(atomic_load(pid) != 0);
	MPT_OK(mp_process_kill(p));
	mpt_finish(p);
	int st = 0;
	pid_t got = 0;
	while (got == 0 && mp_sys_now_ns() < dl) {
		got = waitpid((pid_t)atomic_load(pid), &st, WNOHANG);
		if (got == 0)
			usleep(1000);
	}
	MPT_EQ(got, (pid_t)atomic_load(pid));
}

/* Wait on the barrier (parked there until killed). */
static int barrier_wait(void *arg)
{
	struct kill_ctx *k = arg;
	int err = 0;
	mp_manager_t *m = mp_manager_connect(k->addr, key, strlen(key),
	                                     TEST_WAIT_NS, &err);
	mp_proxy_t *b = m ? mp_manager_create(m, "the_barrier", NULL, NULL,
	                                      TEST_WAIT_NS, &err) : NULL;
	if (!b)
		return 1;
	mpt_flag_set(k->flag, 1);
	mp_proxy_call(b, "wait", NULL, NULL, TEST_WAIT_NS, NULL, NULL);
	return 2; /* not killed in time */
}

/* A party killed while it waits at a Barrier breaks it, as a thread that
 * leaves wait() by an exception does: the others are not left waiting
 * for a party that will never come. */
static void test_kill_barrier_party(void)
{
	mp_manager_server_t *s = server(false, NULL);
	struct kill_ctx k = { mp_manager_server_address(s), mpt_shared(64) };
	mp_process_t *p = mpt_start(barrier_wait, &k);
	MPT_OK(mpt_flag_wait(k.flag, 1));
	mp_manager_t *m = connect_to(s);
	mp_proxy_t *b = create(m, "the_barrier", NULL);
	int r;
	int64_t waiting = 0, dl = mp_sys_now_ns() + TEST_WAIT_NS;
	while (waiting != 1 && mp_sys_now_ns() < dl) {
		waiting = ival(call(b, "__getattribute__", t1(s_("n_waiting")),
		                    TEST_WAIT_NS, &r));
		if (waiting != 1)
			usleep(1000);
	}
	MPT_EQ(waiting, 1);
	MPT_OK(mp_process_kill(p));
	mpt_finish(p);
	mp_obj_t *e = call(b, "wait", NULL, TEST_WAIT_NS, &r);
	MPT_ERR(r, -MP_EREMOTE);
	/* outside the codec's table of exceptions: an inert call */
	CU_ASSERT(mp_obj_inert_name(e) &&
	          !strcmp(mp_obj_inert_module(e), "threading") &&
	          !strcmp(mp_obj_inert_name(e), "BrokenBarrierError"));
	mp_obj_decref(e);
	mp_proxy_free(b);
	mp_manager_close(m);
	mp_manager_server_close(s);
}


static bool is_broken_barrier(const mp_obj_t *e)
{
	return mp_obj_inert_name(e) &&
	       !strcmp(mp_obj_inert_module(e), "threading") &&
	       !strcmp(mp_obj_inert_name(e), "BrokenBarrierError");
}

/* threading.Barrier's timeout, reset, abort; an action is refused. */
static void test_barrier(void)
{
	pthread_t th;
	mp_manager_server_t *s = server_here(&th);
	mp_manager_t *m = connect_to(s);
	int r, err = 0;
	mp_obj_t *a3[3] = { mp_obj_int(2), mp_obj_none(), mp_obj_float(0.02) };
	mp_proxy_t *b = create(m, "Barrier", mp_obj_tuple(3, a3));
	/* wait(None) takes the default timeout, and its end breaks it */
	mp_obj_t *e = call(b, "wait", t1(mp_obj_none()), TEST_WAIT_NS, &r);
	MPT_ERR(r, -MP_EREMOTE);
	CU_ASSERT(is_broken_barrier(e));
	mp_obj_decref(e);
	mp_obj_t *v = call(b, "__getattribute__", t1(s_("broken")),
	                   TEST_WAIT_NS, &r);
	CU_ASSERT(mp_obj_kind(v) == MP_OBJ_BOOL && mp_obj_bool_value(v));
	mp_obj_decref(v);
	mp_obj_decref(call(b, "reset", NULL, TEST_WAIT_NS, &r));
	MPT_EQ(r, 0);
	v = call(b, "__getattribute__", t1(s_("broken")), TEST_WAIT_NS, &r);
	CU_ASSERT(mp_obj_kind(v) == MP_OBJ_BOOL && !mp_obj_bool_value(v));
	mp_obj_decref(v);
	/* an explicit wait(timeout) wins over the default */
	e = call(b, "wait", t1(mp_obj_float(0.01)), TEST_WAIT_NS, &r);
	CU_ASSERT(is_broken_barrier(e));
	mp_obj_decref(e);
	mp_obj_decref(call(b, "abort", NULL, TEST_WAIT_NS, &r));
	e = call(b, "wait", t1(mp_obj_float(5)), TEST_WAIT_NS, &r);
	CU_ASSERT(is_broken_barrier(e)); /* broken: at once */
	mp_obj_decref(e);
	MPT_EQ(ival(call(b, "__getattribute__", t1(s_("parties")),
	                 TEST_WAIT_NS, &r)), 2);
	mp_proxy_free(b);
	/* an action is code: refused, as a non-number timeout */
	mp_obj_t *a2[2] = { mp_obj_int(2),
	                    mp_obj_global("builtins", "print", NULL) };
	mp_obj_t *args = mp_obj_tuple(2, a2);
	CU_ASSERT_PTR_NULL(mp_manager_create(m, "Barrier", args, NULL,
	                                     TEST_WAIT_NS, &err));
	MPT_ERR(err, -MP_EREMOTE);
	mp_obj_decref(args);
	mp_obj_t *kw = mp_obj_dict();
	mp_obj_dict_set(kw, s_("timeout"), s_("soon"));
	args = t1(mp_obj_int(2));
	CU_ASSERT_PTR_NULL(mp_manager_create(m, "Barrier", args, kw,
	                                     TEST_WAIT_NS, &err));
	MPT_ERR(err, -MP_EREMOTE);
	mp_obj_decref(args);
	mp_obj_decref(kw);
	mp_manager_close(m);
	server_here_close(s, th);
}


static mp_obj_t *slice3(mp_obj_t *a, mp_obj_t *b, mp_obj_t *c)
{
	mp_obj_t *v[3] = { a, b, c };
	return mp_obj_inert(mp_obj_global("builtins", "slice", NULL),
	                    mp_obj_tuple(3, v), false, NULL, NULL);
}

/* A list's slices from C: the slice is builtins.slice(...), inert. */
static void test_list_slices(void)
{
	pthread_t th;
	mp_manager_server_t *s = server_here(&th);
	mp_manager_t *m = connect_to(s);
	int r;
	mp_obj_t *l0 = mp_obj_list();
	for (int i = 0; i < 6; i++)
		mp_obj_list_append(l0, mp_obj_int(i));
	mp_proxy_t *l = create(m, "list", t1(l0));
	/* l[1::2] == [1, 3, 5] */
	mp_obj_t *v = call(l, "__getitem__",
	                   t1(slice3(mp_obj_int(1), mp_obj_none(),
	                             mp_obj_int(2))), TEST_WAIT_NS, &r);
	char *t = mp_obj_repr(v, NULL);
	CU_ASSERT_STRING_EQUAL(t ? t : "", "[1, 3, 5]");
	free(t);
	mp_obj_decref(v);
	/* l[1:3] = ['a']; del l[::-2]: [0, 'a', 3, 4, 5] -> [0, 3, 5]...
	 * del of indices 4, 2, 0 leaves ['a', 4] */
	mp_obj_t *seq = mp_obj_list();
	mp_obj_list_append(seq, s_("a"));
	mp_obj_decref(call(l, "__setitem__",
	                   t2(slice3(mp_obj_int(1), mp_obj_int(3),
	                             mp_obj_none()), seq), TEST_WAIT_NS, &r));
	MPT_EQ(r, 0);
	mp_obj_decref(call(l, "__delitem__",
	                   t1(slice3(mp_obj_none(), mp_obj_none(),
	                             mp_obj_int(-2))), TEST_WAIT_NS, &r));
	MPT_EQ(r, 0);
	v = call(l, "__getitem__", t1(slice3(mp_obj_int(-100), mp_obj_none(),
	                                     mp_obj_none())), TEST_WAIT_NS, &r);
	t = mp_obj_repr(v, NULL);
	CU_ASSERT_STRING_EQUAL(t ? t : "", "['a', 4]");
	free(t);
	mp_obj_decref(v);
	/* a zero step and an index out of range: Python's errors */
	mp_obj_t *e = call(l, "__getitem__", t1(slice3(mp_obj_none(),
	                   mp_obj_none(), mp_obj_int(0))), TEST_WAIT_NS, &r);
	MPT_ERR(r, -MP_EREMOTE);
	CU_ASSERT_STRING_EQUAL(mp_obj_exc_type(e) ? mp_obj_exc_type(e) : "",
	                       "builtins.ValueError");
	mp_obj_decref(e);
	e = call(l, "__getitem__", t1(mp_obj_int(5)), TEST_WAIT_NS, &r);
	CU_ASSERT_STRING_EQUAL(mp_obj_exc_type(e) ? mp_obj_exc_type(e) : "",
	                       "builtins.IndexError");
	mp_obj_decref(e);
	mp_proxy_free(l);
	mp_manager_close(m);
	server_here_close(s, th);
}

/* A client killed in the middle of writing a request. */
static int half_request(void *arg)
{
	struct kill_ctx *k = arg;
	int err = 0;
	mp_conn_opts_t o = { .authkey = key, .authkey_len = strlen(key) };
	mp_conn_t *c = mp_client(k->addr, &o, TEST_WAIT_NS, &err);
	if (!c || write(mp_conn_fileno(c), "\0\0\1\0\x80\x04\x95", 7) != 7)
		return 1;
	mpt_flag_set(k->flag, 1);
	for (;;)
		pause();
}

static void test_kill_mid_request(void)
{
	mp_manager_server_t *s = server(false, NULL);
	struct kill_ctx k = { mp_manager_server_address(s), mpt_shared(64) };
	mp_process_t *p = mpt_start(half_request, &k);
	MPT_OK(mpt_flag_wait(k.flag, 1));
	mp_manager_t *m = connect_to(s);
	mp_proxy_t *d = create(m, "dict", NULL);
	int r;
	MPT_EQ(ival(call(d, "__len__", NULL, TEST_WAIT_NS, &r)), 0);
	MPT_OK(mp_process_kill(p));
	mpt_finish(p);
	MPT_EQ(ival(call(d, "__len__", NULL, TEST_WAIT_NS, &r)), 0);
	mp_proxy_free(d);
	mp_manager_close(m);
	mp_manager_server_close(s);
}

/* ---- hostile clients ---------------------------------------------------- */

static mp_conn_t *raw(mp_manager_server_t *s)
{
	int err = 0;
	mp_conn_opts_t o = { .authkey = key, .authkey_len = strlen(key) };
	mp_conn_t *c = mp_client(mp_manager_server_address(s), &o,
	                         TEST_WAIT_NS, &err);
	MPT_EQ(err, 0);
	return c;
}

/* Send bytes as one message; the reply's kind. */
static void expect_kind(mp_conn_t *c, const void *msg, size_t n,
                        const char *kind)
{
	MPT_OK(mp_conn_send_bytes(c, msg, n, TEST_WAIT_NS));
	int err = 0;
	mp_obj_t *rep = mp_conn_recv_obj(c, NULL, TEST_WAIT_NS, &err);
	MPT_EQ(err, 0);
	CU_ASSERT(mp_obj_str_eq(mp_obj_item(rep, 0), kind));
	mp_obj_decref(rep);
}

static int64_t objects(mp_manager_t *m)
{
	mp_obj_t *res = NULL;
	MPT_OK(mp_manager_call(m, "number_of_objects", NULL, NULL,
	                       TEST_WAIT_NS, &res));
	return ival(res);
}

static void test_hostile(void)
{
	pthread_t th;
	mp_manager_server_t *s = server_here(&th);
	/* a pickle that would run os.system('id'): data, never run */
	static const char sys_call[] = "\x80\x02" "cos\nsystem\n"
	                               "X\x02\x00\x00\x00id\x85R.";
	mp_conn_t *c = raw(s);
	expect_kind(c, sys_call, sizeof(sys_call) - 1, "#TRACEBACK");
	mp_conn_close(c);
	/* deep nesting */
	char deep[2100];
	size_t n = 0;
	deep[n++] = '\x80', deep[n++] = 2;
	for (int i = 0; i < 1000; i++)
		deep[n++] = ']';
	for (int i = 0; i < 999; i++)
		deep[n++] = 'a';
	deep[n++] = '.';
	c = raw(s);
	expect_kind(c, deep, n, "#TRACEBACK");
	mp_conn_close(c);
	/* huge lengths: the connection is dropped, nothing allocated */
	static const uint8_t huge[][12] = {
		{ 0x7f, 0xff, 0xff, 0xff, 'x' },
		{ 0xff, 0xff, 0xff, 0xff, 0, 0, 1, 0, 0, 0, 0, 0 },
		{ 0x80, 0, 0, 0 },
	};
	for (int i = 0; i < 3; i++) {
		c = raw(s);
		int fd = mp_conn_fileno(c);
		CU_ASSERT(write(fd, huge[i], 12) == 12);
		mp_bytes_t b;
		MPT_ERR(mp_conn_recv_bytes(c, 1 << 20, &b, TEST_WAIT_NS),
		        -MP_EEOF);
		mp_conn_close(c);
	}
	/* a client that stops mid-message holds nobody up */
	c = raw(s);
	CU_ASSERT(write(mp_conn_fileno(c), "\0\0\0\x40\x80\x04", 6) == 6);
	/* unexposed methods, bad idents, a served connection's garbage */
	mp_manager_t *m = connect_to(s);
	mp_proxy_t *d = create(m, "dict", NULL);
	int r;
	int64_t objs = objects(m);
	mp_obj_decref(call(d, "__init__", NULL, TEST_WAIT_NS, &r));
	MPT_ERR(r, -MP_EREMOTE);
	mp_obj_decref(call(d, "_getvalue", NULL, TEST_WAIT_NS, &r));
	MPT_ERR(r, -MP_EREMOTE);
	mp_obj_t *res = NULL;
	mp_obj_t *bad = t1(s_("123456789abcdef"));
	MPT_ERR(mp_manager_call(m, "decref", bad, NULL, TEST_WAIT_NS, &res),
	        -MP_EREMOTE);
	mp_obj_decref(res);
	mp_obj_decref(bad);
	mp_conn_close(c);
	/* still serving, and the stored values are intact */
	mp_obj_decref(call(d, "__setitem__", t2(s_("a"), mp_obj_int(1)),
	                   TEST_WAIT_NS, &r));
	MPT_EQ(ival(call(d, "__len__", NULL, TEST_WAIT_NS, &r)), 1);
	MPT_EQ(objects(m), objs); /* nothing hosted on the way */
	mp_proxy_free(d);
	mp_manager_close(m);
	server_here_close(s, th);
}

/* ---- pipelined requests --------------------------------------------------- */

/* d[j] = i as a request on a raw connection; split: its header and its
 * body in two writes (two wake-ups of the server's poll). */
static void send_set(mp_conn_t *c, const char *ident, int64_t j, int64_t i,
                     bool split)
{
	mp_obj_t *v[4] = { s_(ident), s_("__setitem__"),
	                   t2(mp_obj_int(j), mp_obj_int(i)), mp_obj_dict() };
	mp_obj_t *req = mp_obj_tuple(4, v);
	void *data = NULL;
	size_t n = 0;
	MPT_OK(mp_pickle_dumps(req, 4, &data, &n));
	mp_obj_decref(req);
	if (!split) {
		MPT_OK(mp_conn_send_bytes(c, data, n, TEST_WAIT_NS));
	} else {
		uint32_t be = htobe32((uint32_t)n);
		int fd = mp_conn_fileno(c);
		CU_ASSERT(write(fd, &be, 4) == 4);
		usleep(50);
		CU_ASSERT(write(fd, data, n) == (ssize_t)n);
	}
	free(data);
}

/* A client that sends up to three requests before it reads the replies,
 * some in two writes: the server's spin reads the connection it answered
 * last without waiting for its poll (spin_look); no request may be left
 * unread in the socket (every wait here has a deadline). */
static void test_pipelined(void)
{
	mp_manager_server_t *s = server(false, NULL);
	mp_manager_t *m = connect_to(s);
	mp_proxy_t *d = create(m, "dict", NULL);
	mp_conn_t *c = raw(s);
	mp_obj_t *v[4] = { mp_obj_none(), s_("accept_connection"),
	                   t1(s_("T")), mp_obj_dict() };
	mp_obj_t *req = mp_obj_tuple(4, v);
	MPT_OK(mp_conn_send_obj(c, req, TEST_WAIT_NS));
	mp_obj_decref(req);
	int err = 0;
	for (int i = 0, k = 1; i < 3000 && err == 0; i++) {
		k = 1 + i % 3;
		for (int j = 0; j < k; j++)
			send_set(c, mp_proxy_ident(d), j, i, i % 7 == 0);
		/* the accept's reply first, then k more */
		for (int j = i ? 0 : -1; j < k && err == 0; j++) {
			mp_obj_t *rep = mp_conn_recv_obj(c, NULL, TEST_WAIT_NS,
			                                 &err);
			MPT_EQ(err, 0);
			CU_ASSERT(rep && mp_obj_str_eq(mp_obj_item(rep, 0),
			                               "#RETURN"));
			mp_obj_decref(rep);
		}
	}
	int r;
	MPT_EQ(ival(call(d, "__len__", NULL, TEST_WAIT_NS, &r)), 3);
	MPT_EQ(ival(call(d, "get", t1(mp_obj_int(0)), TEST_WAIT_NS, &r)),
	       2999);
	mp_conn_close(c);
	mp_proxy_free(d);
	mp_manager_close(m);
	mp_manager_server_close(s);
}

/* ---- many clients -------------------------------------------------------- */

#define CLIENT_THREADS 3
#define ROUNDS 30

static void *bump(void *arg)
{
	const mp_address_t *a = arg;
	int err = 0;
	intptr_t bad = 0;
	mp_manager_t *m = mp_manager_connect(a, key, strlen(key),
	                                     TEST_WAIT_NS, &err);
	mp_proxy_t *l = m ? mp_manager_create(m, "the_lock", NULL, NULL,
	                                      TEST_WAIT_NS, &err) : NULL;
	mp_proxy_t *v = m ? mp_manager_create(m, "counter", NULL, NULL,
	                                      TEST_WAIT_NS, &err) : NULL;
	for (int i = 0; l && v && i < ROUNDS; i++) {
		int r1, r2, r3, r4;
		mp_obj_decref(call(l, "acquire", NULL, TEST_WAIT_NS, &r1));
		int64_t x = ival(call(v, "get", NULL, TEST_WAIT_NS, &r2));
		mp_obj_decref(call(v, "set", t1(mp_obj_int(x + 1)),
		                   TEST_WAIT_NS, &r3));
		mp_obj_decref(call(l, "release", NULL, TEST_WAIT_NS, &r4));
		bad += r1 || r2 || r3 || r4;
	}
	mp_proxy_free(l);
	mp_proxy_free(v);
	mp_manager_close(m);
	return (void *)(intptr_t)(bad || !l || !v);
}

static int bumper(void *arg)
{
	pthread_t t[CLIENT_THREADS];
	void *ret;
	int bad = 0;
	for (int i = 0; i < CLIENT_THREADS; i++)
		pthread_create(&t[i], NULL, bump, arg);
	for (int i = 0; i < CLIENT_THREADS; i++) {
		pthread_join(t[i], &ret);
		bad += ret != NULL;
	}
	return bad;
}

static void test_many_clients(void)
{
	mp_manager_server_t *s = server(false, NULL);
	mp_address_t a = *mp_manager_server_address(s);
	mp_process_t *p[3];
	for (int i = 0; i < 3; i++)
		p[i] = mpt_start(bumper, &a);
	for (int i = 0; i < 3; i++)
		MPT_EQ(mpt_finish(p[i]), 0);
	mp_manager_t *m = connect_to(s);
	mp_proxy_t *v = create(m, "counter", NULL);
	int r;
	MPT_EQ(ival(call(v, "get", NULL, TEST_WAIT_NS, &r)),
	       3 * CLIENT_THREADS * ROUNDS);
	mp_proxy_free(v);
	mp_manager_close(m);
	mp_manager_server_close(s);
}

/* ---- Python peers -------------------------------------------------------- */

/* A SyncManager client driving every hosted kind (argv: path, key). */
static const char py_sync[] =
"import sys, queue, threading\n"
"from multiprocessing.managers import SyncManager\n"
"import multiprocessing as mp\n"
"mp.current_process().authkey = sys.argv[2].encode()  # nested proxies\n"
"m = SyncManager(address=sys.argv[1], authkey=sys.argv[2].encode())\n"
"m.connect()\n"
"d = m.dict({'a': 1}); d['b'] = [1, 2]; d[3] = b'x'\n"
"assert d['a'] == 1 and d['b'] == [1, 2] and len(d) == 3, d\n"
"try:\n    d['zz']; raise SystemExit('no KeyError')\n"
"except KeyError as e: assert e.args == ('zz',)\n"
"assert sorted(map(str, d)) == ['3', 'a', 'b'], list(d)\n"
"assert d.get('q', 5) == 5 and d.pop('a') == 1 and 'a' not in d\n"
"d.update({'u': 1}, v=2); assert d.copy() == {'b': [1, 2], 3: b'x',"
" 'u': 1, 'v': 2}, d.copy()\n"
"assert str(d) == str(d._getvalue()), str(d)\n"
"l = m.list([3, 1]); l.append(2); l.sort(); l += [9]\n"
"assert l[0] == 1 and l[-1] == 9 and len(l) == 4 and l._getvalue() =="
" [1, 2, 3, 9], l\n"
"del l[0]; assert list(l) == [2, 3, 9] and str(l) == '[2, 3, 9]'\n"
"q = m.Queue(2); q.put(1); q.put_nowait(2)\n"
"try:\n    q.put(3, timeout=0.05); raise SystemExit('no Full')\n"
"except queue.Full: pass\n"
"assert q.get() == 1 and q.get_nowait() == 2 and q.empty()\n"
"try:\n    q.get(timeout=0.05); raise SystemExit('no Empty')\n"
"except queue.Empty: pass\n"
"threading.Timer(0.1, lambda: q.put('late')).start()\n"
"assert q.get(timeout=5) == 'late'\n"
"lk = m.Lock(); assert lk.acquire() and not lk.acquire(timeout=0.05)\n"
"lk.release()\n"
"with m.RLock() as rl: pass\n"
"s = m.Semaphore(2); assert s.acquire() and s.acquire() and not"
" s.acquire(timeout=0.05)\n"
"s.release(); s.release()\n"
"e = m.Event(); assert not e.wait(0.05)\n"
"threading.Timer(0.1, e.set).start(); assert e.wait(5) and e.is_set()\n"
"c = m.Condition()\n"
"with c: assert not c.wait(0.05)\n"
"def notifier():\n"
"    with c: c.notify()\n"
"with c:\n"
"    threading.Timer(0.1, notifier).start()\n"
"    assert c.wait(5)\n"
"b = m.Barrier(2); r = []\n"
"t = threading.Thread(target=lambda: r.append(b.wait(5))); t.start()\n"
"r.append(b.wait(5)); t.join(); assert sorted(r) == [0, 1], r\n"
"assert b.parties == 2 and not b.broken\n"
"b = m.Barrier(3, timeout=0.05); r = []\n"
"def waiter():\n"
"    try: b.wait(None)\n"
"    except threading.BrokenBarrierError: r.append('broken')\n"
"t = threading.Thread(target=waiter); t.start()\n"
"while b.n_waiting < 1: pass\n"
"try:\n    b.wait(); raise SystemExit('no BrokenBarrierError')\n"
"except threading.BrokenBarrierError: pass\n"
"t.join(); assert r == ['broken'] and b.broken, r  # one timeout breaks all\n"
"b.reset(); assert not b.broken and b.n_waiting == 0\n"
"b = m.Barrier(2, None, None); r = []\n"
"t = threading.Thread(target=waiter); t.start()\n"
"while b.n_waiting < 1: pass\n"
"b.reset(); t.join(); assert r == ['broken'] and not b.broken, r\n"
"t = threading.Thread(target=lambda: r.append(b.wait(5))); t.start()\n"
"r.append(b.wait(5)); t.join(); assert sorted(r[1:]) == [0, 1], r\n"
"b.abort(); assert b.broken\n"
"try:\n    b.wait(5); raise SystemExit('no BrokenBarrierError')\n"
"except threading.BrokenBarrierError: pass\n"
"try:\n    m.Barrier(2, action=print); raise SystemExit('action ran?')\n"
"except mp.managers.RemoteError as e: assert 'callable' in str(e), e\n"
"jq = m.JoinableQueue(); jq.put(1)\n"
"def work():\n"
"    jq.get(); jq.task_done()\n"
"threading.Timer(0.1, work).start(); jq.join()\n"
"bs = m.BoundedSemaphore(1)\n"
"try:\n    bs.release(); raise SystemExit('no ValueError')\n"
"except ValueError: pass\n"
"nd = m.dict(); d['nested'] = nd; nd['x'] = 1\n"
"assert d['nested']['x'] == 1\n"
"v = m.Value('i', 3); v.value += 4; assert v.value == 7, v.value\n"
"a = m.Array('i', [1, 2, 3]); a[0] = 9\n"
"assert a[0] == 9 and len(a) == 3 and list(a) == [9, 2, 3]\n"
"assert list(a._getvalue()) == [9, 2, 3]\n"
"ns = m.Namespace(x=1); ns.y = 'z'\n"
"assert ns.x == 1 and ns.y == 'z' and 'Namespace(' in str(ns), str(ns)\n"
"try:\n    ns.nope; raise SystemExit('no AttributeError')\n"
"except AttributeError: pass\n"
"print('OK')\n";

/* Hostile values from a Python client (a pickle that would run a
 * command is stored as data), then list slices against Python's list. */
static const char py_slices[] =
"import sys, random\n"
"from multiprocessing import managers\n"
"from multiprocessing.managers import SyncManager\n"
"m = SyncManager(address=sys.argv[1], authkey=sys.argv[2].encode()); m.connect()\n"
"d = m.dict()\n"
"import os, tempfile\n"
"marker = os.path.join(tempfile.mkdtemp(), 'ran')\n"
"class Evil:\n"
"    def __reduce__(self): return (os.system, ('touch ' + marker,))\n"
"d['evil'] = Evil(); assert 'evil' in d and not os.path.exists(marker)\n"
"del d['evil']; os.rmdir(os.path.dirname(marker))\n"
"for bad in ('__class__', '_getvalue', 'no_such_method'):\n"
"    try: d._callmethod(bad); raise SystemExit('%s ran' % bad)\n"
"    except managers.RemoteError: pass\n"
"random.seed(1)\n"
"idx = [None, -12, -7, -3, -1, 0, 1, 2, 3, 5, 7, 12, 10**30, -10**30]\n"
"steps = [None, 1, 2, 3, -1, -2, -3]\n"
"for trial in range(3):\n"
"    ref = list(range(8)); l = m.list(ref)\n"
"    for a in idx:\n"
"        for b in idx:\n"
"            for c in steps:\n"
"                s = slice(a, b, c)\n"
"                assert l[s] == ref[s], (s, l[s], ref[s])\n"
"    for _ in range(300):\n"
"        a, b, c = random.choice(idx), random.choice(idx), random.choice(steps)\n"
"        s = slice(a, b, c); op = random.randrange(3)\n"
"        if op == 0:\n"
"            del ref[s]; del l[s]\n"
"        else:\n"
"            n = len(ref[s]) if c not in (None, 1) else random.randrange(4)\n"
"            v = [random.randrange(100) for _ in range(n)]\n"
"            ref[s] = v; l[s] = v\n"
"        if len(ref) < 3: ref += [1, 2, 3, 4, 5]; l += [1, 2, 3, 4, 5]\n"
"        assert l._getvalue() == ref, (s, op, l._getvalue(), ref)\n"
"l = m.list([1, 2, 3])\n"
"for bad, exc in ((lambda: l[5], IndexError), (lambda: l[-4], IndexError),\n"
"                 (lambda: l[::0], ValueError), (lambda: l['a':], TypeError),\n"
"                 (lambda: l.__setitem__(slice(None, None, 2), [1]), ValueError)):\n"
"    try: bad(); raise SystemExit('no %s' % exc)\n"
"    except exc: pass\n"
"assert l[1:3] == [2, 3] and l[::2] == [1, 3] and l[-1] == 3\n"
"print('OK')\n";

/* Array slices, against Python's own array.array. */
static const char py_array_slices[] =
"import sys, array\n"
"from multiprocessing.managers import SyncManager\n"
"m = SyncManager(address=sys.argv[1], authkey=sys.argv[2].encode()); m.connect()\n"
"ar = m.Array('i', [1, 2, 3, 4, 5]); ref = array.array('i', [1, 2, 3, 4, 5])\n"
"assert ar[1:4] == ref[1:4] and ar[::-2] == ref[::-2] and ar[:] == ref\n"
"ar[1:3] = array.array('i', [7, 8, 9]); ref[1:3] = array.array('i', [7, 8, 9])\n"
"assert ar[:] == ref and len(ar) == 6, ar[:]\n"
"ar[::2] = array.array('i', [0, 0, 0]); ref[::2] = array.array('i', [0, 0, 0])\n"
"assert ar[:] == ref, ar[:]\n"
"for bad in ([1], array.array('d', [1.0])):\n"
"    try:\n        ar[0:1] = bad; raise SystemExit('assigned %r' % (bad,))\n"
"    except TypeError: pass\n"
"try:\n    ar[::2] = array.array('i', [1]); raise SystemExit('size')\n"
"except ValueError: pass\n"
"fa = m.Array('d', [0.5, 1.5]); assert fa[:] == array.array('d', [0.5, 1.5])\n"
"ua = m.Array('Q', [2**64 - 1]); assert ua[:] == array.array('Q', [2**64 - 1])\n"
"ua[0:1] = array.array('Q', [2**63]); assert ua[0] == 2**63, ua[0]\n"
"ba = m.Array('b', [1, 2]); ba[:] = array.array('b', [-128, 127])\n"
"assert list(ba) == [-128, 127], list(ba)\n"
/* The other two forms an array's pickle takes (managers register the
 * bytes one): protocol 2's list, protocol 3's reconstructor. */
"class Form:\n"
"    def __init__(self, *r): self.r = r\n"
"    def __reduce__(self): return self.r\n"
"ar[0:2] = Form(array.array, ('i', [40, 41]))\n"
"ar[2:3] = Form(array._array_reconstructor,\n"
"               (array.array, 'i', 8, array.array('i', [42, 43]).tobytes()))\n"
"assert list(ar[0:4]) == [40, 41, 42, 43], ar[:]\n"
"for bad in (Form(array._array_reconstructor, (array.array, 'i', 9, b'')),\n"
"            Form(array.array, ('i', ['x'])), Form(array.array, ('b', b''))):\n"
"    try:\n        ar[0:1] = bad; raise SystemExit('assigned a bad form')\n"
"    except TypeError: pass\n"
"print('OK')\n";

static const char py_server[] =
"import sys\n"
"from multiprocessing.managers import BaseManager\n"
"from queue import Queue\n"
"queue = Queue()\n"
"class MathsClass:\n"
"    def add(self, x, y): return x + y\n"
"    def mul(self, x, y): return x * y\n"
"class QueueManager(BaseManager): pass\n"
"QueueManager.register('get_queue', callable=lambda: queue)\n"
"QueueManager.register('Maths', MathsClass)\n"
"m = QueueManager(address=('127.0.0.1', 0), authkey=sys.argv[1].encode())\n"
"s = m.get_server()\n"
"print('listening on 127.0.0.1:%d' % s.address[1], flush=True)\n"
"s.serve_forever()\n";

static const char py_client[] =
"import sys\n"
"from multiprocessing.managers import BaseManager\n"
"class QueueManager(BaseManager): pass\n"
"QueueManager.register('get_queue')\n"
"QueueManager.register('Maths')\n"
"host, port = sys.argv[2].rsplit(':', 1)\n"
"m = QueueManager(address=(host, int(port)), authkey=sys.argv[3].encode())\n"
"m.connect()\n"
"if sys.argv[1] == 'put':\n"
"    m.get_queue().put('hello'); print(\"put 'hello'\")\n"
"elif sys.argv[1] == 'get':\n"
"    print(repr(m.get_queue().get()))\n"
"else:\n"
"    maths = m.Maths(); print(maths.add(4, 3)); print(maths.mul(7, 8))\n";

static void example_path(const char *name, char *buf, size_t cap)
{
	const char *dir = getenv("MPROC_EXAMPLES_DIR");
	snprintf(buf, cap, "%s/%s", dir ? dir : ".", name);
}

/* A server (an example program, or py_server when py is given); its
 * address in addr. */
static int start_server(const struct mpt_py *py, const char *example,
                        struct mpt_pyproc *pp, char *addr, size_t cap)
{
	char path[1024], line[400];
	const char *args[] = { key, NULL };
	int r;
	if (py) {
		r = mpt_py_start(py, py_server, args, pp);
	} else {
		example_path(example, path, sizeof(path));
		const char *argv[] = { path, "server", "127.0.0.1:0", key,
		                       NULL };
		r = mpt_proc_start(argv, "", pp);
	}
	if (r < 0 || (r = mpt_py_line(pp, "listening on ", line,
	                              sizeof(line))) < 0)
		return r < 0 ? r : -EIO;
	snprintf(addr, cap, "%.*s", (int)cap - 1,
	         line + strlen("listening on "));
	return 0;
}

static void stop_server(struct mpt_pyproc *pp, const char *addr)
{
	struct run_result res;
	const char *args[] = { "shutdown", addr, key, NULL };
	run_example("manager_network", args, TEST_WAIT_NS, &res);
	MPT_EQ(res.status, 0);
	MPT_EQ(mpt_py_finish(pp), 0);
}

/* One client run: an example, or py_client with cmd; its output. */
static void client_run(const struct mpt_py *py, const char *example,
                       const char *cmd, const char *addr, const char *want)
{
	char out[2048] = "";
	if (py) {
		struct mpt_pyproc pp;
		const char *args[] = { cmd, addr, key, NULL };
		MPT_OK(mpt_py_start(py, py_client, args, &pp));
		int st = mpt_py_finish(&pp);
		snprintf(out, sizeof(out), "%.2000s", pp.buf);
		MPT_EQ(st, 0);
	} else {
		struct run_result res;
		const char *args[] = { cmd, addr, key, NULL };
		run_example(example, args, TEST_WAIT_NS, &res);
		snprintf(out, sizeof(out), "%.2000s", res.out);
		MPT_EQ(res.status, 0);
	}
	if (strcmp(out, want))
		fprintf(stderr, "\n%s %s: got [%s] want [%s]\n",
		        py ? "python" : example, cmd, out, want);
	CU_ASSERT_STRING_EQUAL(out, want);
}

/* The network manager with server sv and clients cl (NULL: C). */
static void network(const struct mpt_py *sv, const struct mpt_py *cl)
{
	struct mpt_pyproc pp;
	char addr[300];
	if (start_server(sv, "manager_network", &pp, addr, sizeof(addr)) < 0) {
		CU_FAIL("the server did not start");
		mpt_py_finish(&pp);
		return;
	}
	client_run(cl, "manager_network", "put", addr, "put 'hello'\n");
	client_run(cl, "manager_network", "get", addr, "'hello'\n");
	if (sv) /* Python's server also registers MathsClass */
		client_run(cl, "manager_custom", cl ? "maths" : "client",
		           addr, "7\n56\n");
	stop_server(&pp, addr);
}

static void test_examples_c(void)
{
	struct run_result res;
	const char *both[] = { "both", NULL };
	run_example("manager_custom", both, TEST_WAIT_NS, &res);
	MPT_EQ(res.status, 0);
	CU_ASSERT_STRING_EQUAL(res.out, "7\n56\n");
	network(NULL, NULL);
}

static void python(int minor)
{
	struct mpt_py py;
	if (!mpt_python_find(minor, &py)) {
		MPT_SKIP("no python3 of this version");
		return;
	}
	/* the Python network manager, Python with Python (the reference),
	 * then each side against ours */
	network(&py, &py);
	network(&py, NULL);
	network(NULL, &py);
	/* the custom manager: a Python client of the C server's Maths */
	struct mpt_pyproc pp;
	char addr[300];
	if (start_server(NULL, "manager_custom", &pp, addr, sizeof(addr)) == 0)
		client_run(&py, NULL, "maths", addr, "7\n56\n");
	stop_server(&pp, addr);
	/* every kind, from SyncManager */
	mp_manager_server_t *s = server(false, NULL);
	char path[200];
	const mp_address_t *a = mp_manager_server_address(s);
	snprintf(path, sizeof(path), "%.*s", (int)a->len, a->name);
	const char *args[] = { path, key, NULL };
	MPT_OK(mpt_py_start(&py, py_sync, args, &pp));
	int st = mpt_py_finish(&pp);
	if (st != 0)
		fprintf(stderr, "\n%s\n", pp.buf);
	MPT_EQ(st, 0);
	CU_ASSERT(strstr(pp.buf, "OK\n") != NULL);
	mp_manager_server_close(s);
	/* list slices against Python's own list, on a server of ours */
	pthread_t th;
	s = server_here(&th);
	a = mp_manager_server_address(s);
	snprintf(path, sizeof(path), "%.*s", (int)a->len, a->name);
	const char *const scripts[] = { py_slices, py_array_slices };
	for (size_t i = 0; i < 2; i++) {
		MPT_OK(mpt_py_start(&py, scripts[i], args, &pp));
		st = mpt_py_finish(&pp);
		if (st != 0)
			fprintf(stderr, "\n%s\n", pp.buf);
		MPT_EQ(st, 0);
		CU_ASSERT(strstr(pp.buf, "OK\n") != NULL);
	}
	server_here_close(s, th);
}

void mp__mgr_force_poll(bool on);

/* The server where io_uring is missing: the same events from ppoll(2). */
static void test_poll_fallback(void)
{
	mp__mgr_force_poll(true);
	test_c_kinds();
	test_kill_lock_holder();
	test_kill_mid_request();
	test_hostile();
	test_many_clients();
	test_pipelined();
	mp__mgr_force_poll(false);
}

static void test_python311(void)
{
	python(11);
}

static void test_python312(void)
{
	python(12);
}

static void test_python313(void)
{
	python(13);
}

int main(void)
{
	static CU_TestInfo tests[] = {
		{ "C client, every kind", test_c_kinds },
		{ "refcounts linger, bad idents", test_linger },
		{ "open and register", test_open_register },
		{ "kill a client holding a Lock", test_kill_lock_holder },
		{ "kill the server under waiting calls", test_kill_server },
		{ "kill the server's parent", test_kill_parent },
		{ "kill a client mid-request", test_kill_mid_request },
		{ "kill a party waiting at a Barrier",
		  test_kill_barrier_party },
		{ "Barrier: timeout, reset, abort, no action", test_barrier },
		{ "list slices", test_list_slices },
		{ "hostile clients", test_hostile },
		{ "many clients, many threads", test_many_clients },
		{ "pipelined requests", test_pipelined },
		{ "seed examples, C with C", test_examples_c },
		{ "the ppoll fallback", test_poll_fallback },
		{ "interop python 3.11", test_python311 },
		{ "interop python 3.12", test_python312 },
		{ "interop python 3.13", test_python313 },
		CU_TEST_INFO_NULL,
	};
	return mpt_main("manager", tests);
}
