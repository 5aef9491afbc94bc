/*
 * frame.c - CPython's message framing, as pure functions over bytes.
 *
 * A message is a 4-byte big-endian *signed* length then the payload.  From
 * 2 GiB on, Python writes the length -1 and then an 8-byte big-endian
 * unsigned length; it reads the long form for any length, so we do too.
 * Any other negative length is refused: Python would read it as an empty
 * message and lose the stream's framing without noticing.
 */
#include "internal.h"

#include <string.h>

static void put_be32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

static uint32_t get_be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
	       (uint32_t)p[2] << 8 | p[3];
}

MP_SYS_HOT
size_t mp__frame_encode(uint64_t len, uint8_t hdr[MP__FRAME_HDR_MAX])
{
	if (len < MP__FRAME_LONG_MIN) {
		put_be32(hdr, (uint32_t)len);
		return MP__FRAME_HDR_SHORT;
	}
	put_be32(hdr, 0xffffffffu); /* -1 */
	put_be32(hdr + 4, (uint32_t)(len >> 32));
	put_be32(hdr + 8, (uint32_t)len);
	return MP__FRAME_HDR_MAX;
}

void mp__frame_put(uint8_t *out, size_t *at, const void *m, size_t n)
{
	*at += mp__frame_encode(n, out + *at);
	memcpy(out + *at, m, n);
	*at += n;
}

MP_SYS_HOT
int mp__frame_decode(const uint8_t *p, size_t avail, uint64_t *len)
{
	if (avail < MP__FRAME_HDR_SHORT)
		return 0;
	int32_t n = (int32_t)get_be32(p);
	if (n >= 0) {
		*len = (uint64_t)n;
		return MP__FRAME_HDR_SHORT;
	}
	if (n != -1)
		return -EBADMSG;
	if (avail < MP__FRAME_HDR_MAX)
		return 0;
	uint64_t v = (uint64_t)get_be32(p + 4) << 32 | get_be32(p + 8);
	/* No buffer or ssize_t can hold 2^63 bytes: a lie, not a message. */
	if (v > (uint64_t)INT64_MAX)
		return -EBADMSG;
	*len = v;
	return MP__FRAME_HDR_MAX;
}

void mp__frame_rx_init(struct mp__frame_rx *f)
{
	f->got = 0;
	f->hdr = 0;
	f->len = 0;
}

size_t mp__frame_rx_need(const struct mp__frame_rx *f)
{
	if (f->hdr)
		return f->got < f->hdr + (size_t)f->len
		       ? f->hdr + (size_t)f->len - f->got : 0;
	/* Header first, in the two steps of its two forms: reading 12 bytes
	 * at once could swallow the start of the payload. */
	if (f->got < MP__FRAME_HDR_SHORT)
		return MP__FRAME_HDR_SHORT - f->got;
	return MP__FRAME_HDR_MAX - f->got;
}

uint8_t *mp__frame_rx_space(struct mp__frame_rx *f)
{
	return f->buf + f->got;
}

size_t mp__frame_rx_room(const struct mp__frame_rx *f)
{
	return sizeof(f->buf) - f->got;
}

/* Is there a whole frame at the front of buf? */
static int rx_parse(struct mp__frame_rx *f, size_t cap)
{
	if (!f->hdr) {
		uint64_t len;
		int h = mp__frame_decode(f->buf, f->got, &len);
		if (h <= 0)
			return h; /* 0: more header; or -EBADMSG */
		/* Checked before any payload is read: len stays <= cap, so
		 * hdr + len always fits buf. */
		if (len > cap)
			return -EMSGSIZE;
		f->hdr = (size_t)h;
		f->len = len;
	}
	return f->got >= f->hdr + f->len ? 1 : 0;
}

int mp__frame_rx_feed(struct mp__frame_rx *f, size_t n, size_t cap)
{
	if (n > mp__frame_rx_need(f) || cap > MP__AUTH_MSG_MAX)
		return -EINVAL;
	f->got += n;
	return rx_parse(f, cap);
}

int mp__frame_rx_add(struct mp__frame_rx *f, size_t n, size_t cap)
{
	if (n > mp__frame_rx_room(f) || cap > MP__AUTH_MSG_MAX)
		return -EINVAL;
	f->got += n;
	return rx_parse(f, cap);
}

/* The whole frame's end: what follows it is the next one's. */
static size_t rx_end(const struct mp__frame_rx *f)
{
	return f->hdr + (size_t)f->len;
}

const uint8_t *mp__frame_rx_rest(const struct mp__frame_rx *f, size_t *len)
{
	*len = f->got - rx_end(f);
	return f->buf + rx_end(f);
}

void mp__frame_rx_next(struct mp__frame_rx *f)
{
	size_t rest;
	const uint8_t *p = mp__frame_rx_rest(f, &rest);

	memmove(f->buf, p, rest);
	mp__frame_rx_init(f);
	f->got = rest;
}

const uint8_t *mp__frame_rx_payload(const struct mp__frame_rx *f,
                                    size_t *len)
{
	*len = (size_t)f->len;
	return f->buf + f->hdr;
}
