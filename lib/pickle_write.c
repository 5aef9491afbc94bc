/*
 * pickle_write.c - the pickler's output buffer, frames and memo
 * (pickle_write.h says how they follow CPython).
 */
#include "pickle_write.h"

#include <stdlib.h>

uint8_t *mp__pw_grow(struct mp__pw *w, size_t n)
{
	if (w->err)
		return NULL;
	size_t extra = w->framing && w->frame == PW_NO_FRAME ? PW_FRAME_HDR : 0;
	if (n > SIZE_MAX / 2 - w->len - extra) {
		w->err = -ENOMEM;
		return NULL;
	}
	size_t need = w->len + extra + n;
	if (need > w->cap) {
		size_t cap = w->cap < 2048 ? 2048 : w->cap;
		while (cap < need)
			cap *= 2;
		uint8_t *b = realloc(w->buf, cap);
		if (!b) {
			w->err = -ENOMEM;
			return NULL;
		}
		w->buf = b;
		w->cap = cap;
	}
	if (extra) {
		w->frame = w->len;
		w->len += extra;
	}
	uint8_t *p = w->buf + w->len;
	w->len += n;
	return p;
}

void mp__pw_commit_frame(struct mp__pw *w)
{
	if (w->frame == PW_NO_FRAME)
		return;
	size_t body = w->frame + PW_FRAME_HDR;
	size_t n = w->len - body;
	if (n >= MP__PICKLE_FRAME_MIN) {
		w->buf[w->frame] = P_FRAME;
		pw_le64(w->buf + w->frame + 1, n);
	} else {
		memmove(w->buf + w->frame, w->buf + body, n);
		w->len -= PW_FRAME_HDR;
	}
	w->frame = PW_NO_FRAME;
}

void mp__pw_bytes(struct mp__pw *w, const uint8_t *hdr, size_t hlen,
                  const void *data, size_t n)
{
	bool big = n >= MP__PICKLE_FRAME_TARGET, framing = w->framing;
	if (big) {
		mp__pw_commit_frame(w);
		w->framing = false;
	}
	uint8_t *p = n > SIZE_MAX - hlen ? NULL : pw_put(w, hlen + n);
	if (p) {
		memcpy(p, hdr, hlen);
		memcpy(p + hlen, data, n);
	} else if (!w->err) {
		w->err = -ENOMEM;
	}
	w->framing = framing;
}

/* ---- the memo ------------------------------------------------------------- */

static uint32_t id_slot(const void *key, uint32_t mask)
{
	uint64_t h = (uint64_t)(uintptr_t)key * 0x9e3779b97f4a7c15ull;
	return (uint32_t)(h >> 32) & mask;
}

static int ids_grow(struct mp__pw *w)
{
	uint32_t slots = w->ids ? (w->ids_mask + 1) * 2 : 64;
	struct pw_id *t = calloc(slots, sizeof(*t));
	if (!t)
		return -ENOMEM;
	for (uint32_t i = 0; w->ids && i <= w->ids_mask; i++) {
		if (!w->ids[i].key)
			continue;
		uint32_t s = id_slot(w->ids[i].key, slots - 1);
		while (t[s].key)
			s = (s + 1) & (slots - 1);
		t[s] = w->ids[i];
	}
	free(w->ids);
	w->ids = t;
	w->ids_mask = slots - 1;
	return 0;
}

int64_t mp__pw_memo_find(const struct mp__pw *w, const void *key)
{
	if (!w->ids)
		return -1;
	for (uint32_t s = id_slot(key, w->ids_mask);; s = (s + 1) & w->ids_mask) {
		if (w->ids[s].key == key)
			return w->ids[s].idx;
		if (!w->ids[s].key)
			return -1;
	}
}

static void ids_add(struct mp__pw *w, const void *key, uint32_t idx)
{
	if ((!w->ids || w->ids_n >= (w->ids_mask + 1) / 2) && ids_grow(w) < 0) {
		w->err = w->err ? w->err : -ENOMEM;
		return;
	}
	uint32_t s = id_slot(key, w->ids_mask);
	while (w->ids[s].key)
		s = (s + 1) & w->ids_mask;
	w->ids[s].key = key;
	w->ids[s].idx = idx;
	w->ids_n++;
}

void mp__pw_memoize(struct mp__pw *w, const void *key)
{
	uint32_t idx = w->memo++;
	if (w->proto >= 4) {
		pw_op(w, P_MEMOIZE);
	} else if (idx < 256) {
		uint8_t *p = pw_put(w, 2);
		if (p) {
			p[0] = P_BINPUT;
			p[1] = (uint8_t)idx;
		}
	} else {
		uint8_t *p = pw_put(w, 5);
		if (p) {
			p[0] = P_LONG_BINPUT;
			pw_le32(p + 1, idx);
		}
	}
	if (key)
		ids_add(w, key, idx);
}

void mp__pw_get(struct mp__pw *w, uint32_t idx)
{
	if (idx < 256) {
		uint8_t *p = pw_put(w, 2);
		if (p) {
			p[0] = P_BINGET;
			p[1] = (uint8_t)idx;
		}
	} else {
		uint8_t *p = pw_put(w, 5);
		if (p) {
			p[0] = P_LONG_BINGET;
			pw_le32(p + 1, idx);
		}
	}
}

/* ---- globals, by name ------------------------------------------------------ */

static uint64_t fnv1a(const char *s, size_t n)
{
	uint64_t h = 0xcbf29ce484222325ull;
	for (size_t i = 0; i < n; i++)
		h = (h ^ (uint8_t)s[i]) * 0x100000001b3ull;
	return h ? h : 1;
}

int64_t mp__pw_glob_find(const struct mp__pw *w, const char *key,
                         size_t klen, uint64_t *hash)
{
	uint64_t h = *hash = fnv1a(key, klen);
	if (!w->globs)
		return -1;
	for (uint32_t s = (uint32_t)h & w->globs_mask;;
	     s = (s + 1) & w->globs_mask) {
		const struct pw_glob *g = &w->globs[s];
		if (!g->key)
			return -1;
		if (g->hash == h && !strncmp(g->key, key, klen) && !g->key[klen])
			return g->idx;
	}
}

void mp__pw_glob_add(struct mp__pw *w, const char *key, size_t klen,
                     uint64_t hash, uint32_t idx)
{
	if (!w->globs || w->globs_n >= (w->globs_mask + 1) / 2) {
		uint32_t slots = w->globs ? (w->globs_mask + 1) * 2 : 16;
		struct pw_glob *t = calloc(slots, sizeof(*t));
		if (!t) {
			w->err = w->err ? w->err : -ENOMEM;
			return;
		}
		for (uint32_t i = 0; w->globs && i <= w->globs_mask; i++) {
			if (!w->globs[i].key)
				continue;
			uint32_t s = (uint32_t)w->globs[i].hash & (slots - 1);
			while (t[s].key)
				s = (s + 1) & (slots - 1);
			t[s] = w->globs[i];
		}
		free(w->globs);
		w->globs = t;
		w->globs_mask = slots - 1;
	}
	char *k = malloc(klen + 1);
	if (!k) {
		w->err = w->err ? w->err : -ENOMEM;
		return;
	}
	memcpy(k, key, klen);
	k[klen] = 0;
	uint32_t s = (uint32_t)hash & w->globs_mask;
	while (w->globs[s].key)
		s = (s + 1) & w->globs_mask;
	w->globs[s] = (struct pw_glob){ k, hash, idx };
	w->globs_n++;
}

void mp__pw_free(struct mp__pw *w)
{
	free(w->ids);
	for (uint32_t i = 0; w->globs && i <= w->globs_mask; i++)
		free(w->globs[i].key);
	free(w->globs);
	w->ids = NULL;
	w->globs = NULL;
}

/* ---- what CPython shares by value --------------------------------------------- */

/*
 * CPython keeps one object for '' and b'', for each str of one character
 * below U+0100 and for each bytes of one byte: a value built twice is one
 * object to its pickler, memoized the first time and a GET after.  Their
 * keys are addresses in these arrays (slot 0 the empty one, 1 + c the
 * others), which no node can have.
 */
static char key_str[257], key_bytes[257];
const char mp__pw_key_latin1[1];

const void *mp__pw_key_str(const char *s, size_t n)
{
	const uint8_t *u = (const uint8_t *)s;
	if (n == 0)
		return &key_str[0];
	if (n == 1)
		return &key_str[1 + u[0]];
	if (n == 2 && (u[0] == 0xc2 || u[0] == 0xc3))
		return &key_str[1 + (((u[0] & 0x1f) << 6) | (u[1] & 0x3f))];
	return NULL;
}

const void *mp__pw_key_bytes(size_t n, const uint8_t *b)
{
	if (n == 0)
		return &key_bytes[0];
	if (n == 1)
		return &key_bytes[1 + b[0]];
	return NULL;
}
