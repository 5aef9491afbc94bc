/*
 * obj_io.c - values over connections and queues: Python's Connection.send
 * and recv, Queue.put and get.  One message is one protocol 4 pickle,
 * nothing around it, so either end may be CPython.
 *
 * The codec and the transports are used as they are; what this file adds
 * is that a small value costs no allocation for its bytes on the way in:
 * a message is received into a buffer on the stack when it fits (the
 * connection and the queue hand a longer one over in a buffer of its own,
 * in the same call), and decoded from there.  Timeouts bound the waiting
 * (the transport's part); pickling and unpickling never wait.
 */
#include <stdlib.h>

#include "internal.h"

/* Messages up to this size are received on the stack: a small dict or a
 * tuple of a few scalars is well under it. */
#define RECV_STACK 2048

/* The protocol Python's Connection.send uses (its default, 3.8 to 3.13). */
#define WIRE_PROTOCOL 4

static const mp_pickle_opts_t default_opts;

static mp_obj_t *fail(int *err, int e)
{
	if (err)
		*err = e;
	return NULL;
}

/* Decode msg[0..len); *err set either way. */
static mp_obj_t *decode(const void *msg, size_t len,
                        const mp_pickle_opts_t *opts, int *err)
{
	int e = 0;
	mp_obj_t *o = mp_pickle_loads(msg, len, opts ? opts : &default_opts,
	                              NULL, &e);
	if (err)
		*err = o ? 0 : e;
	return o;
}

int mp_conn_send_obj(mp_conn_t *c, const mp_obj_t *o, int64_t timeout_ns)
{
	void *p;
	size_t len;

	if (!c || !o)
		return -EINVAL;
	int r = mp_pickle_dumps(o, WIRE_PROTOCOL, &p, &len);
	if (r < 0)
		return r;
	r = mp_conn_send_bytes(c, p, len, timeout_ns);
	free(p);
	return r;
}

mp_obj_t *mp_conn_recv_obj(mp_conn_t *c, const mp_pickle_opts_t *opts,
                           int64_t timeout_ns, int *err)
{
	uint8_t small[RECV_STACK];
	mp_bytes_t whole;

	if (!c)
		return fail(err, -EINVAL);
	/* The whole message is consumed before it is decoded, so one that
	 * does not decode leaves the stream at the next message. */
	int64_t n = mp_conn_recv_bytes_into(c, small, sizeof(small), 0, &whole,
	                                    timeout_ns);
	if (n >= 0)
		return decode(small, (size_t)n, opts, err);
	if (n != -MP_ETOOSHORT)
		return fail(err, (int)n);
	mp_obj_t *o = decode(whole.data, whole.len, opts, err);
	free(whole.data);
	return o;
}

int mp_queue_put_obj(mp_queue_t *q, const mp_obj_t *o, int64_t timeout_ns)
{
	void *p;
	size_t len;

	if (!q || !o)
		return -EINVAL;
	int r = mp_pickle_dumps(o, WIRE_PROTOCOL, &p, &len);
	if (r < 0)
		return r;
	r = mp_queue_put(q, p, len, timeout_ns);
	free(p);
	return r;
}

mp_obj_t *mp_queue_get_obj(mp_queue_t *q, const mp_pickle_opts_t *opts,
                           int64_t timeout_ns, int *err)
{
	uint8_t small[RECV_STACK];
	void *big;
	size_t len;

	if (!q)
		return fail(err, -EINVAL);
	int r = mp__queue_get_buf(q, small, sizeof(small), &big, &len,
	                          timeout_ns);
	if (r < 0)
		return fail(err, r);
	mp_obj_t *o = decode(big ? big : small, len, opts, err);
	free(big);
	return o;
}
