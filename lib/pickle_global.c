/*
 * pickle_global.c - what the pickler writes that is no node: strs (a
 * global's names, 'latin1'), globals (GLOBAL with protocol 2's names,
 * STACK_GLOBAL, getattr for a dotted name before protocol 4), and
 * protocol 2's bytes, _codecs.encode(str, 'latin1').
 */
#include "pickle_write.h"

#include <stdlib.h>

/* A str's opcode and its UTF-8 (already surrogatepass). */
void mp__pw_str(struct mp__pw *w, const char *s, size_t n)
{
	uint8_t h[9];
	size_t hl;
	if (w->proto >= 4 && n < 256) {
		h[0] = P_SHORT_BINUNICODE;
		h[1] = (uint8_t)n;
		hl = 2;
	} else if (n <= UINT32_MAX) {
		h[0] = P_BINUNICODE;
		pw_le32(h + 1, (uint32_t)n);
		hl = 5;
	} else if (w->proto >= 4) {
		h[0] = P_BINUNICODE8;
		pw_le64(h + 1, n);
		hl = 9;
	} else {
		w->err = w->err ? w->err : -EINVAL; /* CPython: OverflowError */
		return;
	}
	mp__pw_bytes(w, h, hl, s, n);
}

/* Save a str that is no node (a name, 'latin1'): boundary, memo. */
void mp__pw_str_value(struct mp__pw *w, const char *s, size_t n,
                           const void *key)
{
	pw_boundary(w);
	if (!key)
		key = mp__pw_key_str(s, n);
	int64_t idx = key ? mp__pw_memo_find(w, key) : -1;
	if (idx >= 0) {
		mp__pw_get(w, (uint32_t)idx);
		return;
	}
	mp__pw_str(w, s, n);
	pw_memoize(w, key);
}


/* A global by name: GLOBAL (with protocol 2's names), STACK_GLOBAL, or
 * getattr(parent, name) for a dotted name before protocol 4. */
void mp__pw_global(struct mp__pw *w, const char *mod, size_t ml,
                        const char *qn, size_t ql)
{
	pw_boundary(w);
	char stack[256], *key = stack;
	size_t kl = ml + 1 + ql;
	if (kl + 2 > sizeof(stack) && !(key = malloc(kl + 2))) {
		w->err = w->err ? w->err : -ENOMEM;
		return;
	}
	memcpy(key, mod, ml);
	key[ml] = '\n';
	memcpy(key + ml + 1, qn, ql);
	key[kl] = 0;
	uint64_t hash;
	int64_t idx = mp__pw_glob_find(w, key, kl, &hash);
	const char *dot = memrchr(qn, '.', ql);
	if (idx >= 0) {
		mp__pw_get(w, (uint32_t)idx);
	} else if (w->proto >= 4) {
		/* The module's name is one object for all its globals. */
		pw_boundary(w);
		uint64_t mh;
		int64_t mi = mp__pw_glob_find(w, mod, ml, &mh);
		if (mi >= 0) {
			mp__pw_get(w, (uint32_t)mi);
		} else {
			mp__pw_str(w, mod, ml);
			mi = w->memo;
			pw_memoize(w, mp__pw_key_str(mod, ml));
			mp__pw_glob_add(w, mod, ml, mh, (uint32_t)mi);
		}
		mp__pw_str_value(w, qn, ql, NULL);
		pw_op(w, P_STACK_GLOBAL);
		idx = w->memo;
		pw_memoize(w, NULL);
		mp__pw_glob_add(w, key, kl, hash, (uint32_t)idx);
	} else if (dot) {
		mp__pw_global(w, "builtins", 8, "getattr", 7);
		pw_boundary(w); /* the argument tuple */
		mp__pw_global(w, mod, ml, qn, (size_t)(dot - qn));
		mp__pw_str_value(w, dot + 1, ql - (size_t)(dot - qn) - 1, NULL);
		pw_op(w, P_TUPLE2);
		pw_memoize(w, NULL);
		pw_op(w, P_REDUCE);
		idx = w->memo;
		pw_memoize(w, NULL);
		mp__pw_glob_add(w, key, kl, hash, (uint32_t)idx);
	} else {
		const char *m = key, *q = key + ml + 1;
		key[ml] = 0;
		if (w->proto < 3)
			mp__pickle_compat_name(&m, &q);
		size_t m2 = strlen(m), q2 = strlen(q);
		uint8_t *p = pw_put(w, m2 + q2 + 3);
		if (p) {
			p[0] = P_GLOBAL;
			memcpy(p + 1, m, m2);
			p[1 + m2] = '\n';
			memcpy(p + 2 + m2, q, q2);
			p[2 + m2 + q2] = '\n';
		}
		key[ml] = '\n';
		idx = w->memo;
		pw_memoize(w, NULL);
		mp__pw_glob_add(w, key, kl, hash, (uint32_t)idx);
	}
	if (key != stack)
		free(key);
}

void mp__pw_builtin(struct mp__pw *w, const char *name)
{
	mp__pw_global(w, "builtins", 8, name, strlen(name));
}

/* bytes in protocol 2: _codecs.encode(the bytes as latin-1, 'latin1'),
 * or bytes() when empty. */
void mp__pw_bytes_p2(struct mp__pw *w, const uint8_t *d, size_t n,
                          const void *key)
{
	if (n == 0) {
		mp__pw_builtin(w, "bytes");
		pw_boundary(w);
		pw_op(w, P_EMPTY_TUPLE);
		pw_op(w, P_REDUCE);
		pw_memoize(w, key);
		return;
	}
	mp__pw_global(w, "_codecs", 7, "encode", 6);
	pw_boundary(w); /* the argument tuple */
	pw_boundary(w); /* the str */
	/* One byte decodes to CPython's one-character str for U+00xx. */
	const void *sk = n == 1 ? mp__pw_key_str((const char *)d, 1) : NULL;
	int64_t idx = sk ? mp__pw_memo_find(w, sk) : -1;
	if (idx >= 0) {
		mp__pw_get(w, (uint32_t)idx);
	} else {
		size_t high = 0;
		for (size_t i = 0; i < n; i++)
			high += d[i] >> 7;
		if (n + high > UINT32_MAX) {
			w->err = w->err ? w->err : -EINVAL;
			return;
		}
		uint8_t *p = pw_put(w, 5 + n + high);
		if (!p)
			return;
		p[0] = P_BINUNICODE;
		pw_le32(p + 1, (uint32_t)(n + high));
		p += 5;
		for (size_t i = 0; i < n; i++) {
			if (d[i] < 0x80) {
				*p++ = d[i];
			} else {
				*p++ = (uint8_t)(0xc0 | d[i] >> 6);
				*p++ = (uint8_t)(0x80 | (d[i] & 0x3f));
			}
		}
		pw_memoize(w, sk);
	}
	mp__pw_str_value(w, "latin1", 6, mp__pw_key_latin1);
	pw_op(w, P_TUPLE2);
	pw_memoize(w, NULL);
	pw_op(w, P_REDUCE);
	pw_memoize(w, key);
}
