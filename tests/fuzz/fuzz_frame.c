/*
 * fuzz_frame.c - libFuzzer harness for the message framing: the header
 * decoder, the handshake frame reader, and a connection receiving the
 * input as the bytes of a pipe.
 *
 * Properties checked (abort on violation): a decoded header is 4 or 12
 * bytes and its length below 2^63; the frame reader never asks for more
 * than its buffer holds nor completes a frame over its cap; a connection
 * fed arbitrary bytes ends every receive in success or one of its
 * documented errors, never waits (the writer is closed), and allocates
 * only as bytes arrive (a lying header would trip the fuzzer's malloc
 * limit).  Built with -Dfuzz=true; replay.c runs it over the corpus in
 * the normal test suite.
 */
#include "internal.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void decode_prefixes(const uint8_t *d, size_t n)
{
	for (size_t k = 0; k <= n && k <= MP__FRAME_HDR_MAX; k++) {
		uint64_t len = 0;
		int r = mp__frame_decode(d, k, &len);
		if (r > 0 && ((r != 4 && r != 12) || (size_t)r > k ||
		              len > (uint64_t)INT64_MAX))
			abort();
		if (r < 0 && r != -EBADMSG)
			abort();
	}
}

/* d[0] is the cap, d[1] the chunk size; the rest is the stream. */
static void frame_reader(const uint8_t *d, size_t n)
{
	struct mp__frame_rx f;
	if (n < 2)
		return;
	size_t cap = d[0], chunk = (size_t)(d[1] % 16) + 1;
	mp__frame_rx_init(&f);
	for (size_t off = 2; off < n;) {
		size_t need = mp__frame_rx_need(&f);
		if (need == 0 || f.got + need > sizeof(f.buf))
			abort();
		size_t k = need < chunk ? need : chunk;
		k = k < n - off ? k : n - off;
		memcpy(mp__frame_rx_space(&f), d + off, k);
		off += k;
		int r = mp__frame_rx_feed(&f, k, cap);
		if (r == 1) {
			size_t len;
			mp__frame_rx_payload(&f, &len);
			if (len > cap)
				abort();
		}
		if (r != 0)
			mp__frame_rx_init(&f);
	}
}

static bool expected(int64_t r)
{
	return r >= 0 || r == -MP_EEOF || r == -ECONNRESET || r == -EMSGSIZE ||
	       r == -EBADMSG || r == -MP_ETOOSHORT || r == -MP_ECLOSED ||
	       r == -EBADF;
}

/* d[0] picks the receive (bytes with a limit, or into a buffer at an
 * offset); the rest is what the pipe holds. */
static void over_pipe(const uint8_t *d, size_t n)
{
	mp_conn_t *r, *w;
	uint8_t buf[300];
	if (n < 1 || mp_pipe(false, &r, &w) < 0)
		return;
	uint8_t mode = d[0];
	d++;
	n = n - 1 < 60000 ? n - 1 : 60000; /* fits the pipe: no blocking */
	if (n && write(mp_conn_fileno(w), d, n) != (ssize_t)n)
		abort();
	mp_conn_close(w);
	for (int i = 0; i < 64; i++) {
		int64_t got;
		mp_bytes_t m = { NULL, 0 };
		if (mode & 1)
			got = mp_conn_recv_bytes(r, (size_t)(mode >> 1) * 37, &m,
			                         0);
		else
			got = mp_conn_recv_bytes_into(r, buf, sizeof(buf),
			                              (mode >> 1) % 9, &m, 0);
		free(m.data);
		if (!expected(got))
			abort();
		if (got < 0 && got != -MP_ETOOSHORT)
			break;
	}
	mp_conn_close(r);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	decode_prefixes(data, size);
	frame_reader(data, size);
	over_pipe(data, size);
	return 0;
}
