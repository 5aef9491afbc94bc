/*
 * example.h - what the seed example programs share: line-buffered output
 * (so lines from several processes reach a pipe whole and in order), a
 * clock, sleeping in milliseconds, starting a child, and sending,
 * receiving and printing values as Python's send, recv and print do.
 */
#ifndef MPROC_EXAMPLE_H
#define MPROC_EXAMPLE_H

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <mproc.h>

static inline void ex_init(void)
{
	setvbuf(stdout, NULL, _IOLBF, 0);
}

/* Python's time.time(), on the monotonic clock: seconds as a double. */
static inline double ex_now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Python's time.sleep(ms / 1000). */
static inline void ex_sleep_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000 };
	while (nanosleep(&ts, &ts) != 0)
		;
}

/* The seeds' f(x): time.sleep(x) - as a pool task taking x (a double, in
 * seconds) and giving back when it ran: [started, ended], as ex_now(). */
static inline int ex_sleep_task(const void *in, size_t len, mp_out_t *out)
{
	double x = *(const double *)in, span[2] = { ex_now(), 0 };
	(void)len;
	ex_sleep_ms((long)(x * 1000));
	span[1] = ex_now();
	return mp_out_write(out, span, sizeof(span));
}

/* Report a failed call and leave: examples stop at the first error. */
static inline void ex_check(int r, const char *what)
{
	if (r < 0) {
		fprintf(stderr, "%s: %s\n", what, mp_strerror(r));
		exit(1);
	}
}

/* Process(target=fn, args=(arg,)).start() */
static inline mp_process_t *ex_start(mp_target_t fn, void *arg)
{
	int err = 0;
	mp_process_t *p = mp_process_new(fn, arg, NULL, 0, &err);
	if (!p)
		ex_check(err, "mp_process_new");
	ex_check(mp_process_start(p), "mp_process_start");
	return p;
}

/* Join and free; the child's exit code must be 0. */
static inline void ex_join(mp_process_t *p)
{
	int code = -1;
	ex_check(mp_process_join(p, MP_FOREVER), "mp_process_join");
	mp_process_exitcode(p, &code);
	mp_process_free(p);
	if (code != 0) {
		fprintf(stderr, "a child failed (exit code %d)\n", code);
		exit(1);
	}
}

/* conn.recv_bytes(): the next message (free .data), or leave. */
static inline mp_bytes_t ex_recv(mp_conn_t *c)
{
	mp_bytes_t m;
	ex_check(mp_conn_recv_bytes(c, MP_CONN_NOLIMIT, &m, MP_FOREVER),
	         "mp_conn_recv_bytes");
	return m;
}

/* print(before + conn.recv_bytes() + after): one message, printed with
 * what goes around it, flushed (the examples' output is checked). */
static inline void ex_print_recv(mp_conn_t *c, const char *before,
                                 const char *after)
{
	mp_bytes_t m = ex_recv(c);
	printf("%s%s%s", before, (char *)m.data, after);
	fflush(stdout);
	free(m.data);
}

/* Report a failed call that returned NULL with err, and leave. */
static inline void *ex_ok(void *p, int err, const char *what)
{
	if (!p)
		ex_check(err < 0 ? err : -ENOMEM, what);
	return p;
}

/* Python's str(o), as print(o) shows it: a str's own text, the repr of
 * anything else (malloc'd). */
static inline char *ex_str(const mp_obj_t *o)
{
	int err = 0;
	if (mp_obj_kind(o) == MP_OBJ_STR)
		return ex_ok(strdup(mp_obj_data(o, NULL)), -ENOMEM, "strdup");
	return ex_ok(mp_obj_repr(o, &err), err, "mp_obj_repr");
}

/* print(o, end=after), flushed. */
static inline void ex_print_obj(const mp_obj_t *o, const char *after)
{
	char *s = ex_str(o);
	printf("%s%s", s, after);
	fflush(stdout);
	free(s);
}

/* A str from C text (Python's "..."). */
static inline mp_obj_t *ex_cstr(const char *s)
{
	int err = 0;
	return ex_ok(mp_obj_cstr(s, &err), err, "mp_obj_cstr");
}

/* conn.send(o); o is released. */
static inline void ex_send_obj(mp_conn_t *c, mp_obj_t *o)
{
	ex_check(o ? mp_conn_send_obj(c, o, MP_FOREVER) : -ENOMEM,
	         "mp_conn_send_obj");
	mp_obj_decref(o);
}

/* conn.recv(), kept as data: a function or class that came is an inert
 * node naming it, never something to call.  Release the value. */
static inline mp_obj_t *ex_recv_obj(mp_conn_t *c)
{
	static const mp_pickle_opts_t inert = { .flags = MP_PICKLE_INERT };
	int err = 0;
	return ex_ok(mp_conn_recv_obj(c, &inert, MP_FOREVER, &err), err,
	             "mp_conn_recv_obj");
}

/* print(before, conn.recv(), after): one value, printed as Python's
 * print shows it, flushed (the examples' output is checked). */
static inline void ex_print_recv_obj(mp_conn_t *c, const char *after)
{
	mp_obj_t *o = ex_recv_obj(c);
	ex_print_obj(o, after);
	mp_obj_decref(o);
}

/* Pool(processes=n), its workers sandboxed. */
static inline mp_pool_t *ex_pool(int n)
{
	mp_pool_attr_t attr = { .processes = n, .sandbox = MP_SANDBOX_COMPUTE };
	int err = 0;
	mp_pool_t *pool = mp_pool_new(&attr, &err);
	if (!pool)
		ex_check(err, "mp_pool_new");
	return pool;
}

/* An optional numeric argument, with a default. */
static inline long ex_arg(int argc, char **argv, int i, long def)
{
	return argc > i ? atol(argv[i]) : def;
}

#endif
