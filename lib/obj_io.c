/*
 * obj_io.c - values over connections and queues: Python's Connection.send
 * and recv, Queue.put and get.  One message is one protocol 4 pickle,
 * nothing around it, so either end may be CPython.
 *
 * The codec and the transports are used as they are; what this file adds
 * is that a value's bytes cost no allocation per message: a value is
 * pickled into a buffer its thread keeps (see below), and a message is
 * received into a buffer on the stack when it fits (the connection and
 * the queue hand a longer one over in a buffer of its own, in the same
 * call) and decoded from there.  Timeouts bound the waiting (the
 * transport's part); pickling and unpickling never wait.
 */
#include <pthread.h>
#include <stdlib.h>

#include "internal.h"
#include "pickle_buf.h"

/* Messages up to this size are received on the stack: a small dict or a
 * tuple of a few scalars is well under it. */
#define RECV_STACK 2048

/* The protocol Python's Connection.send uses (its default, 3.8 to 3.13). */
#define WIRE_PROTOCOL 4

static const mp_pickle_opts_t default_opts;

/*
 * Each thread's pickling buffer, kept between sends (mp__pickle_dump_buf
 * grows it and never shrinks it), so a stream of values allocates nothing
 * once the buffer has seen the biggest; one grown past KEEP_MAX by a big
 * value is given back after its send, so a thread holds at most that.  A
 * thread's buffer is freed when the thread exits (a key's destructor);
 * the buffer is only ever touched by its thread, between a dump and the
 * send of what it holds.
 */
#define KEEP_MAX (64 * 1024)

static __thread struct mp__pickle_buf tls_buf;
static __thread bool tls_registered;
static pthread_key_t buf_key;
static bool buf_key_ok;
static pthread_once_t buf_once = PTHREAD_ONCE_INIT;

static void buf_free(void *p)
{
	struct mp__pickle_buf *b = p;
	free(b->base);
	b->base = NULL;
	b->cap = 0;
}

static void buf_key_make(void)
{
	buf_key_ok = pthread_key_create(&buf_key, buf_free) == 0;
}

/* Pickle o into this thread's buffer. */
static int dump(const mp_obj_t *o, struct mp__pickle_buf **out)
{
	struct mp__pickle_buf *b = &tls_buf;
	if (!tls_registered) {
		/* Without the key (no memory for it), the buffer is given
		 * back after every send instead. */
		pthread_once(&buf_once, buf_key_make);
		tls_registered = buf_key_ok &&
		                 pthread_setspecific(buf_key, b) == 0;
	}
	b->head = 0;
	*out = b;
	return mp__pickle_dump_buf(o, WIRE_PROTOCOL, b);
}

static void dump_done(struct mp__pickle_buf *b)
{
	if (b->cap > KEEP_MAX || !tls_registered)
		buf_free(b);
}

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
	struct mp__pickle_buf *b;

	if (!c || !o)
		return -EINVAL;
	int r = dump(o, &b);
	if (r >= 0)
		r = mp_conn_send_bytes(c, b->base + b->head, b->len, timeout_ns);
	dump_done(b);
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
	struct mp__pickle_buf *b;

	if (!q || !o)
		return -EINVAL;
	int r = dump(o, &b);
	if (r >= 0)
		r = mp_queue_put(q, b->base + b->head, b->len, timeout_ns);
	dump_done(b);
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
