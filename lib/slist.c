/*
 * slist.c - ShareableList in CPython's layout (mproc/shm.h has the map).
 *
 * The header (count and offsets) is read once, at attach, and kept
 * privately, as Python does: its item accesses use its own copy of the
 * offsets.  Everything else - formats, type codes, data - is read at each
 * access, by value, and validated before use: the segment is shared with
 * processes that may be writing the same item, or be hostile, and nothing
 * they write may make us read or write outside the segment.
 *
 * Exact lengths: past Python's layout (which ends at P = 8(n + 2) + data +
 * 9n bytes) a list mproc creates has a trailer at P rounded up to 8:
 *
 *   u64 TRAILER_MAGIC, u64 n, u64 len[n]
 *
 * len[i] counts for item i only while its format carries mproc's mark: a
 * space after the "s" ("16s ").  Python's struct ignores the space when
 * it reads; when Python writes a str or bytes it keeps a format only if it
 * ends in "s", so it writes a plain "16s" over ours and the mark is gone.
 * mproc marks only values that end in a NUL, the values Python would read
 * shorter: every other item is byte for byte what Python writes.
 */
#include "internal.h"

#include <stdio.h>
#include <stdlib.h>

struct mp_slist {
	mp_shm_t *shm;
	uint8_t *base;
	size_t size;
	int64_t n;
	uint64_t *off;  /* n + 1 slot offsets into the data area */
	size_t data;    /* the data area: 8 (n + 2) */
	size_t fmts;    /* the formats: data + off[n] */
	size_t codes;   /* the type codes: fmts + 8 n */
	size_t trailer; /* mproc's lengths (len[0]), or 0 when there are none */
	bool rdonly;
};

#define TRAILER_MAGIC 0x0174736c6973706dull /* "mpslist\1" */
/* Python's type codes (_back_transforms_mapping). */
enum { CODE_PLAIN = 0, CODE_STR = 1, CODE_BYTES = 2, CODE_NONE = 3 };
/* "%ds" must fit the 8 bytes of a format: 7 digits at most; with the mark,
 * 6. */
#define SLOT_MAX 9999999u
#define MARKED_SLOT_MAX 999999u
/* The most items a list may have (keeps every size computation far from
 * overflow). */
#define ITEMS_MAX ((uint64_t)1 << 40)

static const char FMT_INT[] = "q", FMT_FLOAT[] = "d";
static const char FMT_BOOL[] = "xxxxxxx?", FMT_NONE[] = "xxxxxx?x";

static void set_err(int *err, int e)
{
	if (err)
		*err = e;
}

/* ---- UTF-8, as Python's strict decoder takes it ---------------------------- */

static bool utf8_valid(const uint8_t *s, size_t n)
{
	for (size_t i = 0; i < n;) {
		uint8_t c = s[i];
		if (c < 0x80) {
			i++;
			continue;
		}
		size_t k;
		uint32_t cp, min;
		if ((c & 0xe0) == 0xc0) {
			k = 1, cp = c & 0x1f, min = 0x80;
		} else if ((c & 0xf0) == 0xe0) {
			k = 2, cp = c & 0x0f, min = 0x800;
		} else if ((c & 0xf8) == 0xf0) {
			k = 3, cp = c & 0x07, min = 0x10000;
		} else {
			return false;
		}
		if (n - i <= k)
			return false;
		for (size_t j = 1; j <= k; j++) {
			if ((s[i + j] & 0xc0) != 0x80)
				return false;
			cp = cp << 6 | (s[i + j] & 0x3f);
		}
		/* no overlong forms, no surrogates, nothing past U+10FFFF */
		if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
			return false;
		i += k + 1;
	}
	return true;
}

/* ---- formats ---------------------------------------------------------------- */

enum { F_BAD, F_INT, F_FLOAT, F_BOOL, F_NONE, F_BYTES };

struct fmt {
	int kind;
	uint64_t count;  /* F_BYTES: the "%ds" count */
	bool marked;     /* F_BYTES: "%ds " - the exact length is kept */
};

/* Parse an item's 8 format bytes, as Python reads them (trailing NULs
 * stripped), accepting only what Python and mproc write. */
static struct fmt fmt_parse(const uint8_t raw[8])
{
	struct fmt f = { F_BAD, 0, false };
	size_t len = 8;
	while (len && raw[len - 1] == 0)
		len--;
	if (len == 1 && raw[0] == 'q')
		f.kind = F_INT;
	else if (len == 1 && raw[0] == 'd')
		f.kind = F_FLOAT;
	else if (len == 8 && !memcmp(raw, FMT_BOOL, 8))
		f.kind = F_BOOL;
	else if (len == 8 && !memcmp(raw, FMT_NONE, 8))
		f.kind = F_NONE;
	if (f.kind != F_BAD || len < 2)
		return f;
	if (raw[len - 1] == ' ') {
		f.marked = true;
		len--;
	}
	if (raw[len - 1] != 's' || len < 2)
		return f;
	for (size_t i = 0; i + 1 < len; i++) {
		if (raw[i] < '0' || raw[i] > '9')
			return f;
		f.count = f.count * 10 + (uint64_t)(raw[i] - '0');
	}
	f.kind = F_BYTES;
	return f;
}

/* ---- the list --------------------------------------------------------------- */

static int index_of(const mp_slist_t *l, int64_t index, size_t *i)
{
	if (index < 0)
		index += l->n;
	if (index < 0 || index >= l->n)
		return -ERANGE;
	*i = (size_t)index;
	return 0;
}

static uint64_t load64(const uint8_t *p)
{
	uint64_t v;
	memcpy(&v, p, 8);
	return v;
}

static void store64(uint8_t *p, uint64_t v)
{
	memcpy(p, &v, 8);
}

/* Python's size for the layout (without mproc's trailer). */
static uint64_t python_size(uint64_t n, uint64_t data)
{
	return 8 * (n + 2) + data + 9 * n;
}

/* Fill l's geometry from its private offsets. */
static void geometry(mp_slist_t *l)
{
	l->data = 8 * ((size_t)l->n + 2);
	l->fmts = l->data + l->off[l->n];
	l->codes = l->fmts + 8 * (size_t)l->n;
	size_t t = MP__ALIGN_UP(l->codes + (size_t)l->n, (size_t)8);
	l->trailer = 0;
	if (l->size >= t + 16 && (l->size - t - 16) / 8 >= (size_t)l->n &&
	    load64(l->base + t) == TRAILER_MAGIC &&
	    load64(l->base + t + 8) == (uint64_t)l->n)
		l->trailer = t + 16;
}

static mp_slist_t *list_new(mp_shm_t *shm, uint64_t n)
{
	mp_slist_t *l = calloc(1, sizeof(*l));
	if (!l)
		return NULL;
	l->off = calloc(n + 1, sizeof(uint64_t));
	if (!l->off) {
		free(l);
		return NULL;
	}
	l->shm = shm;
	l->base = mp_shm_buf(shm);
	l->size = mp_shm_size(shm);
	l->n = (int64_t)n;
	l->rdonly = mp__shm_rdonly(shm);
	return l;
}

/* Is v a value mproc can store?  Its bytes checked (-EINVAL, -EILSEQ). */
static int item_check(const mp_slist_item_t *v)
{
	switch (v->type) {
	case MP_SLIST_NONE: case MP_SLIST_INT: case MP_SLIST_FLOAT:
	case MP_SLIST_BOOL:
		return 0;
	case MP_SLIST_STR: case MP_SLIST_BYTES:
		if (!v->data && v->len)
			return -EINVAL;
		if (v->type == MP_SLIST_STR && !utf8_valid(v->data, v->len))
			return -EILSEQ;
		return 0;
	default:
		return -EINVAL;
	}
}

static bool is_text(const mp_slist_item_t *v)
{
	return v->type == MP_SLIST_STR || v->type == MP_SLIST_BYTES;
}

/* The slot a new item gets: 8 bytes, or for a str or bytes of len bytes
 * Python's 8 (len / 8 + 1) - by UTF-8 bytes where Python counts
 * characters - or room rounded up to 8 if that is more.  (len and room
 * are at most SLOT_MAX here.) */
static uint64_t slot_of(const mp_slist_item_t *v)
{
	if (!is_text(v))
		return 8;
	uint64_t room = ((uint64_t)v->len / 8 + 1) * 8;
	uint64_t want = MP__ALIGN_UP((uint64_t)v->room, (uint64_t)8);
	return want > room ? want : room;
}

/* Write the checked item v into slot i (fits: checked by the caller). */
static void item_write(mp_slist_t *l, size_t i, const mp_slist_item_t *v)
{
	uint8_t *slot = l->base + l->data + l->off[i];
	size_t room = (size_t)(l->off[i + 1] - l->off[i]);
	char fmt[9] = { 0 };
	uint8_t code = CODE_PLAIN;

	switch (v->type) {
	case MP_SLIST_INT:
		store64(slot, (uint64_t)v->i);
		memcpy(fmt, FMT_INT, 1);
		break;
	case MP_SLIST_FLOAT:
		memcpy(slot, &v->f, 8);
		memcpy(fmt, FMT_FLOAT, 1);
		break;
	case MP_SLIST_BOOL:
		store64(slot, 0);
		slot[7] = v->i != 0;
		memcpy(fmt, FMT_BOOL, 8);
		break;
	case MP_SLIST_NONE:
		store64(slot, 0);
		memcpy(fmt, FMT_NONE, 8);
		code = CODE_NONE;
		break;
	default: {
		bool exact = v->len && ((const uint8_t *)v->data)[v->len - 1] == 0;
		if (v->len)
			memcpy(slot, v->data, v->len);
		memset(slot + v->len, 0, room - v->len);
		if (exact)
			store64(l->base + l->trailer + 8 * i, v->len);
		snprintf(fmt, sizeof(fmt), exact ? "%zus " : "%zus", room);
		code = v->type == MP_SLIST_STR ? CODE_STR : CODE_BYTES;
	}
	}
	memcpy(l->base + l->fmts + 8 * i, fmt, 8);
	l->base[l->codes + i] = code;
}

/* Can v go into slot i?  -EMSGSIZE, -EOPNOTSUPP (see shm.h). */
static int item_fits(const mp_slist_t *l, size_t i, const mp_slist_item_t *v)
{
	if (!is_text(v))
		return 0;
	uint64_t room = l->off[i + 1] - l->off[i];
	if (v->len > room || room > SLOT_MAX)
		return -EMSGSIZE;
	if (v->len && ((const uint8_t *)v->data)[v->len - 1] == 0 &&
	    (!l->trailer || room > MARKED_SLOT_MAX))
		return -EOPNOTSUPP;
	return 0;
}

mp_slist_t *mp_slist_create(const char *name, const mp_slist_item_t *items,
                            size_t n, unsigned flags, int *err)
{
	int r = (!items && n) || n > ITEMS_MAX ? -EINVAL : 0;
	uint64_t data = 0;
	for (size_t i = 0; r == 0 && i < n; i++) {
		const mp_slist_item_t *v = &items[i];
		r = item_check(v);
		if (r < 0 || !is_text(v)) {
			data += 8;
			continue;
		}
		if (v->len > SLOT_MAX || v->room > SLOT_MAX ||
		    slot_of(v) > SLOT_MAX) {
			r = -EMSGSIZE;
			break;
		}
		data += slot_of(v);
	}
	if (r < 0) {
		set_err(err, r);
		return NULL;
	}
	uint64_t psize = python_size(n, data);
	uint64_t size = MP__ALIGN_UP(psize, 8) + 16 + 8 * (uint64_t)n;
	/* Named only once it is whole: an attacher never sees it half
	 * written (with Python's, one may find a zeroed segment: an empty
	 * list). */
	mp_shm_t *shm = mp__shm_create_hidden(name, (size_t)size, flags, &r);
	if (!shm) {
		set_err(err, r);
		return NULL;
	}
	mp_slist_t *l = list_new(shm, n);
	if (!l) {
		mp__shm_abandon(shm);
		set_err(err, -ENOMEM);
		return NULL;
	}
	/* The offsets, as Python computes them. */
	for (size_t i = 0; i < n; i++) {
		l->off[i + 1] = l->off[i] + slot_of(&items[i]);
	}
	store64(l->base, n);
	for (size_t i = 0; i <= n; i++)
		store64(l->base + 8 * (i + 1), l->off[i]);
	size_t t = MP__ALIGN_UP((size_t)psize, (size_t)8);
	store64(l->base + t, TRAILER_MAGIC);
	store64(l->base + t + 8, n);
	geometry(l);
	for (size_t i = 0; i < n; i++) {
		/* Only a marked value that outgrew the mark can fail here. */
		r = item_fits(l, i, &items[i]);
		if (r < 0)
			break;
		item_write(l, i, &items[i]);
	}
	if (r == 0)
		r = mp__shm_publish(shm);
	if (r < 0) {
		l->shm = NULL;
		mp_slist_close(l);
		mp__shm_abandon(shm);
		set_err(err, r);
		return NULL;
	}
	return l;
}

mp_slist_t *mp_slist_attach(const char *name, unsigned flags, int *err)
{
	int r = 0;
	mp_shm_t *shm = mp_shm_attach(name, flags, &r);
	if (!shm) {
		set_err(err, r);
		return NULL;
	}
	const uint8_t *b = mp_shm_buf(shm);
	size_t size = mp_shm_size(shm);
	int64_t n = size >= 16 ? (int64_t)load64(b) : -1;
	/* n, its offsets, formats and codes must fit before we look further. */
	if (n < 0 || (uint64_t)n > ITEMS_MAX ||
	    python_size((uint64_t)n, 0) > size) {
		mp_shm_close(shm);
		set_err(err, -EBADMSG);
		return NULL;
	}
	mp_slist_t *l = list_new(shm, (uint64_t)n);
	if (!l) {
		mp_shm_close(shm);
		set_err(err, -ENOMEM);
		return NULL;
	}
	for (int64_t i = 0; i <= n; i++)
		l->off[i] = load64(b + 8 * (i + 1));
	/* Python's slots: the first at 0, each at least 8 bytes, all inside. */
	bool ok = l->off[0] == 0;
	for (int64_t i = 0; ok && i < n; i++)
		ok = l->off[i + 1] >= l->off[i] + 8 && l->off[i + 1] <= size;
	if (!ok || python_size((uint64_t)n, l->off[n]) > size) {
		mp_slist_close(l);
		set_err(err, -EBADMSG);
		return NULL;
	}
	geometry(l);
	return l;
}

int mp_slist_close(mp_slist_t *l)
{
	if (!l)
		return -EINVAL;
	if (l->shm)
		mp_shm_close(l->shm);
	free(l->off);
	free(l);
	return 0;
}

mp_shm_t *mp_slist_shm(const mp_slist_t *l)
{
	return l ? l->shm : NULL;
}

int64_t mp_slist_len(const mp_slist_t *l)
{
	return l ? l->n : -EINVAL;
}

int64_t mp_slist_room(const mp_slist_t *l, int64_t index)
{
	size_t i;
	if (!l)
		return -EINVAL;
	int r = index_of(l, index, &i);
	return r < 0 ? r : (int64_t)(l->off[i + 1] - l->off[i]);
}

int mp_slist_get(mp_slist_t *l, int64_t index, mp_slist_item_t *out,
                 void *buf, size_t cap)
{
	size_t i;
	if (!l || !out || (!buf && cap))
		return -EINVAL;
	int r = index_of(l, index, &i);
	if (r < 0)
		return r;
	const uint8_t *slot = l->base + l->data + l->off[i];
	uint8_t raw[8];
	memcpy(raw, l->base + l->fmts + 8 * i, 8);
	int8_t code = (int8_t)l->base[l->codes + i];
	struct fmt f = fmt_parse(raw);
	memset(out, 0, sizeof(*out));

	if (code == CODE_NONE && f.kind != F_BAD) { /* Python: None, whatever
	                                             * the format */
		out->type = MP_SLIST_NONE;
		return 0;
	}
	if (code == CODE_PLAIN) {
		uint64_t w = load64(slot);
		switch (f.kind) {
		case F_INT:
			out->type = MP_SLIST_INT;
			out->i = (int64_t)w;
			return 0;
		case F_FLOAT:
			out->type = MP_SLIST_FLOAT;
			memcpy(&out->f, &w, 8);
			return 0;
		case F_BOOL:
			out->type = MP_SLIST_BOOL;
			out->i = slot[7] != 0;
			return 0;
		}
		return -EBADMSG;
	}
	if ((code != CODE_STR && code != CODE_BYTES) || f.kind != F_BYTES ||
	    f.count > l->off[i + 1] - l->off[i])
		return -EBADMSG;
	size_t len = (size_t)f.count;
	if (f.marked && l->trailer) {
		uint64_t exact = load64(l->base + l->trailer + 8 * i);
		if (exact > f.count)
			return -EBADMSG;
		len = (size_t)exact;
	} else {
		while (len && slot[len - 1] == 0) /* Python's rstrip */
			len--;
	}
	out->type = code == CODE_STR ? MP_SLIST_STR : MP_SLIST_BYTES;
	out->len = len;
	if (len > cap)
		return -MP_ETOOSHORT;
	if (len)
		memcpy(buf, slot, len);
	out->data = buf;
	/* Checked in our copy: the slot may change under us. */
	if (code == CODE_STR && !utf8_valid(buf, len))
		return -EILSEQ;
	return 0;
}

int mp_slist_set(mp_slist_t *l, int64_t index, const mp_slist_item_t *v)
{
	size_t i = 0;
	if (!l || !v)
		return -EINVAL;
	int r = item_check(v);
	if (r == 0)
		r = index_of(l, index, &i);
	if (r == 0 && l->rdonly)
		r = -EROFS;
	if (r == 0)
		r = item_fits(l, i, v);
	if (r < 0)
		return r;
	item_write(l, i, v);
	return 0;
}
