/*
 * pickle_buf.h - mp_pickle_dumps into a buffer the caller keeps, with room
 * in front of the pickle.  Not installed.
 *
 * For mp_conn_send_obj and mp_queue_put_obj: a message is a length header
 * then the pickle, and the pickle's length is known only at its end.  So
 * the pickle is written at base + head, head bytes being kept free in
 * front; the header then goes right before it (for a connection, its 4
 * bytes at base + head - 4, or 12 when the pickle reaches 2 GiB: ask
 * for MP__FRAME_HDR_MAX of headroom) and the message is sent from there,
 * without a copy.  The buffer can be kept and given again: it grows
 * (realloc) as needed and is never shrunk, so a sender that keeps one
 * allocates nothing once it has seen its biggest message.
 */
#ifndef MPROC_LIB_PICKLE_BUF_H
#define MPROC_LIB_PICKLE_BUF_H

#include <stddef.h>
#include <stdint.h>

#include "mproc.h"

struct mp__pickle_buf {
	uint8_t *base; /* malloc'd (release with free()), or NULL */
	size_t cap;    /* bytes allocated at base (0 with NULL) */
	size_t head;   /* in: bytes to keep free in front of the pickle */
	size_t len;    /* out: the pickle's length, at base + head */
};

/*
 * mp__pickle_dump_buf - pickle o as mp_pickle_dumps does (protocol 2-5,
 * 0 for 4), into b: the pickle is b->base[b->head .. b->head + b->len).
 * The headroom's bytes are left as they were (uninitialised in a new
 * buffer).  base and cap may change (realloc); whatever the result, b
 * stays a valid buffer to reuse or free.  Errors: -EINVAL (bad protocol,
 * o or b NULL, a str or bytes of 4 GiB or more in protocol 2 or 3);
 * -ENOMEM (b->len is then 0).
 */
int mp__pickle_dump_buf(const mp_obj_t *o, int protocol,
                        struct mp__pickle_buf *b);

#endif
