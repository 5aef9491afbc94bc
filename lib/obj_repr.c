/*
 * obj_repr.c - Python's repr() of a value.
 *
 * The same text CPython writes for the same value: str quoting and
 * escapes (the quote is ' unless the text holds ' and no "; printable
 * non-ASCII characters are kept, others escaped as \xhh, \uhhhh or
 * \Uhhhhhhhh by the Unicode table in obj_unicode.c), floats as their
 * shortest round-tripping digits with Python's switch to an exponent
 * below 1e-4 and from 1e16, ints in decimal (in hex past 4300 digits,
 * where Python would refuse), exceptions as Type(args).  The walk keeps
 * its own stack on the heap: a 4096-deep value costs no C stack.
 */
#include "internal.h"
#include "obj.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

struct sb {
	char *p;
	size_t len, cap;
	int err;
};

static bool sb_room(struct sb *b, size_t n)
{
	if (b->err)
		return false;
	if (b->len + n + 1 <= b->cap)
		return true;
	size_t cap = b->cap ? b->cap : 64;
	while (cap < b->len + n + 1) {
		if (cap > SIZE_MAX / 2) {
			b->err = -ENOMEM;
			return false;
		}
		cap *= 2;
	}
	char *p = realloc(b->p, cap);
	if (!p) {
		b->err = -ENOMEM;
		return false;
	}
	b->p = p;
	b->cap = cap;
	return true;
}

static void sb_put(struct sb *b, const char *s, size_t n)
{
	if (sb_room(b, n)) {
		memcpy(b->p + b->len, s, n);
		b->len += n;
	}
}

static void sb_puts(struct sb *b, const char *s)
{
	sb_put(b, s, strlen(s));
}

static void sb_putc(struct sb *b, char c)
{
	if (sb_room(b, 1))
		b->p[b->len++] = c;
}

/* ---- str and bytes --------------------------------------------------------- */

static const char hexdig[] = "0123456789abcdef";

static void put_hex(struct sb *b, const char *prefix, uint32_t v, int digits)
{
	char buf[12];
	size_t n = strlen(prefix);
	memcpy(buf, prefix, n);
	for (int k = digits - 1; k >= 0; k--)
		buf[n++] = hexdig[(v >> (4 * k)) & 0xf];
	sb_put(b, buf, n);
}

static char pick_quote(const char *s, size_t n)
{
	return memchr(s, '\'', n) && !memchr(s, '"', n) ? '"' : '\'';
}

/* One character of ASCII in a str or bytes literal.  (A bytearray's
 * escapes ' whatever its quote, as CPython's bytearray_repr does.) */
static void put_ascii(struct sb *b, unsigned c, char quote, bool ba)
{
	if (c == (unsigned char)quote || c == '\\' || (ba && c == '\'')) {
		sb_putc(b, '\\');
		sb_putc(b, (char)c);
	} else if (c == '\t') {
		sb_puts(b, "\\t");
	} else if (c == '\n') {
		sb_puts(b, "\\n");
	} else if (c == '\r') {
		sb_puts(b, "\\r");
	} else if (c < 0x20 || c >= 0x7f) {
		put_hex(b, "\\x", c, 2);
	} else {
		sb_putc(b, (char)c);
	}
}

static void repr_bytes(struct sb *b, const mp_obj_t *o)
{
	const unsigned char *s = (const unsigned char *)o->u.s.data;
	size_t n = o->u.s.len;
	char q = pick_quote(o->u.s.data, n);
	sb_putc(b, 'b');
	sb_putc(b, q);
	for (size_t i = 0; i < n; i++)
		put_ascii(b, s[i], q, o->kind == MP_OBJ_BYTEARRAY);
	sb_putc(b, q);
}

/* Decode one code point of validated (surrogatepass) UTF-8. */
static uint32_t utf8_next(const unsigned char *s, size_t *len)
{
	unsigned c = s[0];
	if (c < 0x80) {
		*len = 1;
		return c;
	}
	if (c < 0xe0) {
		*len = 2;
		return (c & 0x1f) << 6 | (s[1] & 0x3f);
	}
	if (c < 0xf0) {
		*len = 3;
		return (c & 0x0f) << 12 | (s[1] & 0x3fu) << 6 | (s[2] & 0x3f);
	}
	*len = 4;
	return (c & 0x07) << 18 | (s[1] & 0x3fu) << 12 | (s[2] & 0x3fu) << 6 |
	       (s[3] & 0x3f);
}

static void repr_str(struct sb *b, const char *str, size_t n)
{
	const unsigned char *s = (const unsigned char *)str;
	char q = pick_quote(str, n);
	sb_putc(b, q);
	for (size_t i = 0; i < n;) {
		size_t len;
		uint32_t c = utf8_next(s + i, &len);
		if (c < 0x80)
			put_ascii(b, c, q, false);
		else if (mp__unicode_printable(c))
			sb_put(b, str + i, len);
		else if (c <= 0xff)
			put_hex(b, "\\x", c, 2);
		else if (c <= 0xffff)
			put_hex(b, "\\u", c, 4);
		else
			put_hex(b, "\\U", c, 8);
		i += len;
	}
	sb_putc(b, q);
}

/* ---- numbers ---------------------------------------------------------------- */

/* Python's limit on the digits of an int it writes in decimal. */
#define INT_MAX_DIGITS 4300

static void repr_big(struct sb *b, const uint8_t *le, size_t n)
{
	bool neg = le[n - 1] & 0x80;
	uint8_t *mag = malloc(n);
	if (!mag) {
		b->err = -ENOMEM;
		return;
	}
	unsigned carry = 1;
	for (size_t k = 0; k < n; k++) {
		if (neg) {
			unsigned v = (uint8_t)~le[k] + carry;
			mag[k] = (uint8_t)v;
			carry = v >> 8;
		} else {
			mag[k] = le[k];
		}
	}
	while (n && !mag[n - 1])
		n--;
	if (neg)
		sb_putc(b, '-');
	/* Decimal has bits * log10(2) digits: past 14286 bits, more than
	 * 4300; otherwise convert and count. */
	size_t bits = 8 * n;
	if (bits <= 14300) {
		size_t nl = (n + 3) / 4;
		uint32_t limb[(14300 / 32) + 2];
		for (size_t k = 0; k < nl; k++) {
			limb[k] = 0;
			for (size_t j = 0; j < 4 && 4 * k + j < n; j++)
				limb[k] |= (uint32_t)mag[4 * k + j] << (8 * j);
		}
		/* Chunks of 9 digits, least significant first. */
		char dig[INT_MAX_DIGITS + 40];
		size_t nd = 0;
		while (nl) {
			uint64_t r = 0;
			for (size_t k = nl; k-- > 0;) {
				uint64_t cur = r << 32 | limb[k];
				limb[k] = (uint32_t)(cur / 1000000000u);
				r = cur % 1000000000u;
			}
			while (nl && !limb[nl - 1])
				nl--;
			for (int j = 0; j < 9; j++) {
				dig[nd++] = (char)('0' + r % 10);
				r /= 10;
			}
		}
		while (nd > 1 && dig[nd - 1] == '0')
			nd--;
		if (nd <= INT_MAX_DIGITS) {
			for (size_t k = nd; k-- > 0;)
				sb_putc(b, dig[k]);
			free(mag);
			return;
		}
	}
	sb_puts(b, "0x");
	bool lead = true;
	for (size_t k = n; k-- > 0;) {
		if (lead && mag[k] < 0x10) {
			sb_putc(b, hexdig[mag[k]]);
		} else {
			sb_putc(b, hexdig[mag[k] >> 4]);
			sb_putc(b, hexdig[mag[k] & 0xf]);
		}
		lead = false;
	}
	free(mag);
}

/* The digits (no point, *nd of them) and decimal exponent of "%.*e"'s
 * output for a non-negative value. */
static void sci_parse(const char *e, char dig[24], size_t *nd, int *exp10)
{
	size_t n = 0;
	for (; *e != 'e'; e++)
		if (*e != '.')
			dig[n++] = *e;
	*nd = n;
	*exp10 = atoi(e + 1);
}

/* Whether dig[0..nd) x 10^(exp10 - nd + 1) reads back as a. */
static bool reads_back(const char *dig, size_t nd, int exp10, double a)
{
	char buf[48];
	snprintf(buf, sizeof(buf), "%.*se%d", (int)nd, dig, exp10 - (int)nd + 1);
	return strtod(buf, NULL) == a;
}

/*
 * Python's repr of a float: the fewest significant digits that read back
 * as the same double, the closest such (so the correctly rounded ones,
 * or at a power of two, where the gap below is half the gap above, the
 * next ones up when those fall in the narrow side), then fixed notation
 * for decimal exponents -4..15 and scientific otherwise ('1e+16',
 * '1e-05'), with '.0' on an integral fixed value.
 */
void mp__float_repr(double d, char out[32])
{
	if (d != d) {
		strcpy(out, "nan");
		return;
	}
	if (d - d != 0) {
		strcpy(out, d < 0 ? "-inf" : "inf");
		return;
	}
	char *o = out;
	uint64_t bits;
	memcpy(&bits, &d, 8);
	if (bits >> 63) {
		*o++ = '-';
		d = -d;
	}
	bool pow2 = !(bits & (((uint64_t)1 << 52) - 1));
	char e[40], dig[24];
	size_t nd = 0;
	int exp10 = 0;
	for (int prec = 1; prec <= 17; prec++) {
		snprintf(e, sizeof(e), "%.*e", prec - 1, d);
		sci_parse(e, dig, &nd, &exp10);
		if (strtod(e, NULL) == d)
			break;
		if (pow2 && prec < 17) {
			/* One unit up in the last place, carrying. */
			char up[24];
			memcpy(up, dig, nd);
			size_t k = nd;
			while (k > 0 && up[k - 1] == '9')
				up[--k] = '0';
			int ex = exp10;
			if (k == 0) {
				up[0] = '1';
				ex++;
			} else {
				up[k - 1]++;
			}
			if (reads_back(up, nd, ex, d)) {
				memcpy(dig, up, nd);
				exp10 = ex;
				break;
			}
		}
	}
	while (nd > 1 && dig[nd - 1] == '0')
		nd--;
	int decpt = exp10 + 1; /* digits before the point */
	if (exp10 < -4 || exp10 >= 16) {
		*o++ = dig[0];
		if (nd > 1) {
			*o++ = '.';
			memcpy(o, dig + 1, nd - 1);
			o += nd - 1;
		}
		sprintf(o, "e%c%02d", exp10 < 0 ? '-' : '+',
		        exp10 < 0 ? -exp10 : exp10);
		return;
	}
	if (decpt <= 0) {
		*o++ = '0';
		*o++ = '.';
		for (int k = 0; k < -decpt; k++)
			*o++ = '0';
		memcpy(o, dig, nd);
		o += nd;
	} else if ((size_t)decpt >= nd) {
		memcpy(o, dig, nd);
		o += nd;
		for (size_t k = nd; k < (size_t)decpt; k++)
			*o++ = '0';
		*o++ = '.';
		*o++ = '0';
	} else {
		memcpy(o, dig, (size_t)decpt);
		o += decpt;
		*o++ = '.';
		memcpy(o, dig + decpt, nd - (size_t)decpt);
		o += nd - (size_t)decpt;
	}
	*o = 0;
}

/* ---- the tree --------------------------------------------------------------- */

/*
 * The walk is a loop over an explicit stack (one small frame per level,
 * on the heap), so a 4096-deep value costs no C stack.  A container is
 * written as: its opening, then for each child i what goes before it
 * (sep) and the child, then its closing.
 */
struct frame {
	const mp_obj_t *o;
	size_t i; /* the next child */
};

/* A leaf: written whole. */
static void repr_leaf(struct sb *b, const mp_obj_t *o)
{
	char num[32];
	switch (o->kind) {
	case MP_OBJ_NONE:
		sb_puts(b, "None");
		break;
	case MP_OBJ_BOOL:
		sb_puts(b, o->u.b ? "True" : "False");
		break;
	case MP_OBJ_INT:
		if (o->flags & MP__OBJ_BIG) {
			repr_big(b, o->u.big.le, o->u.big.n);
		} else {
			snprintf(num, sizeof(num), "%lld",
			         (long long)o->u.i.v);
			sb_puts(b, num);
		}
		break;
	case MP_OBJ_FLOAT:
		mp__float_repr(o->u.f, num);
		sb_puts(b, num);
		break;
	case MP_OBJ_BYTES:
		repr_bytes(b, o);
		break;
	case MP_OBJ_BYTEARRAY:
		sb_puts(b, "bytearray(");
		repr_bytes(b, o);
		sb_putc(b, ')');
		break;
	case MP_OBJ_STR:
		repr_str(b, o->u.s.data, o->u.s.len);
		break;
	case MP_OBJ_SET:
		sb_puts(b, "set()"); /* empty: sets with elements are walked */
		break;
	case MP_OBJ_FROZENSET:
		sb_puts(b, "frozenset()");
		break;
	case MP_OBJ_INERT: /* a bare global */
		sb_puts(b, "<inert ");
		sb_puts(b, mp__obj_inert_module(o));
		sb_putc(b, '.');
		sb_puts(b, o->u.inert.name);
		sb_putc(b, '>');
		break;
	default:
		sb_puts(b, "<?>");
	}
}

/* The children of a container to walk (0: o is written as a leaf). */
static size_t nchildren(const mp_obj_t *o)
{
	switch (o->kind) {
	case MP_OBJ_TUPLE:
	case MP_OBJ_LIST:
		return o->u.seq.len + 1; /* never 0: "()" and "[]" walk */
	case MP_OBJ_DICT:
		return 2 * (size_t)o->u.map.len + 1;
	case MP_OBJ_SET:
	case MP_OBJ_FROZENSET:
		return o->u.map.len;
	case MP_OBJ_EXC:
		return o->u.exc.args->u.seq.len + 1;
	case MP_OBJ_INERT:
		if (!(o->flags & MP__OBJ_CALL))
			return 0;
		return o->u.inert.args->u.seq.len + !!o->u.inert.state + 1;
	default:
		return 0;
	}
}

/* Child i (the last "child" of a tuple, list, dict, exception or call is
 * NULL: a place for the closing). */
static const mp_obj_t *child(const mp_obj_t *o, size_t i)
{
	switch (o->kind) {
	case MP_OBJ_TUPLE:
	case MP_OBJ_LIST:
		return i < o->u.seq.len ? o->u.seq.items[i] : NULL;
	case MP_OBJ_DICT: {
		if (i / 2 >= o->u.map.len)
			return NULL;
		const struct mp__entry *e = &o->u.map.entries[i / 2];
		return i % 2 ? e->value : e->key;
	}
	case MP_OBJ_SET:
	case MP_OBJ_FROZENSET:
		return o->u.map.entries[i].key;
	case MP_OBJ_EXC:
		return child(o->u.exc.args, i);
	default: { /* an inert call */
		size_t na = o->u.inert.args->u.seq.len;
		if (i < na)
			return o->u.inert.args->u.seq.items[i];
		return i == na ? o->u.inert.state : NULL;
	}
	}
}

static void repr_open(struct sb *b, const mp_obj_t *o)
{
	switch (o->kind) {
	case MP_OBJ_TUPLE:
		sb_putc(b, '(');
		break;
	case MP_OBJ_LIST:
		sb_putc(b, '[');
		break;
	case MP_OBJ_DICT:
	case MP_OBJ_SET:
		sb_putc(b, '{');
		break;
	case MP_OBJ_FROZENSET:
		sb_puts(b, "frozenset({");
		break;
	case MP_OBJ_EXC: {
		/* BaseException.__repr__: the type's __name__, then the one
		 * argument, or the args as a tuple without a trailing comma
		 * (the same text). */
		const char *name = strrchr(o->u.exc.type, '.');
		sb_puts(b, name ? name + 1 : o->u.exc.type);
		sb_putc(b, '(');
		break;
	}
	default: /* "<inert mod.name(args)>", " state=..." before the '>' */
		sb_puts(b, "<inert ");
		sb_puts(b, mp__obj_inert_module(o));
		sb_putc(b, '.');
		sb_puts(b, o->u.inert.name);
		sb_putc(b, '(');
	}
}

/* What goes before child i, or the closing when it is the last. */
static void repr_sep(struct sb *b, const mp_obj_t *o, size_t i, size_t n)
{
	bool last = i == n - 1;
	switch (o->kind) {
	case MP_OBJ_TUPLE:
		if (last)
			sb_puts(b, i == 1 ? ",)" : ")");
		else if (i)
			sb_puts(b, ", ");
		break;
	case MP_OBJ_LIST:
		sb_puts(b, last ? "]" : i ? ", " : "");
		break;
	case MP_OBJ_DICT:
		sb_puts(b, last ? "}" : i % 2 ? ": " : i ? ", " : "");
		break;
	case MP_OBJ_SET:
	case MP_OBJ_FROZENSET:
		if (i)
			sb_puts(b, ", ");
		break;
	case MP_OBJ_EXC:
		sb_puts(b, last ? ")" : i ? ", " : "");
		break;
	default: {
		size_t na = o->u.inert.args->u.seq.len;
		if (i < na && i)
			sb_puts(b, ", ");
		else if (i == na)
			sb_puts(b, last ? ")" : ") state=");
		if (last)
			sb_putc(b, '>');
	}
	}
}

static void repr_close(struct sb *b, const mp_obj_t *o)
{
	/* Only sets end after their last child (the others' closing is a
	 * last, NULL child). */
	sb_puts(b, o->kind == MP_OBJ_FROZENSET ? "})" : "}");
}

static void repr_tree(struct sb *b, const mp_obj_t *root)
{
	struct frame local[64], *st = local;
	size_t depth = 0, cap = 64;
	const mp_obj_t *o = root;
	for (;;) {
		/* Enter o. */
		size_t n = nchildren(o);
		if (!n) {
			repr_leaf(b, o);
		} else {
			if (depth == cap) {
				struct frame *p = st == local ? NULL : st;
				p = realloc(p, 2 * cap * sizeof(*p));
				if (!p) {
					b->err = -ENOMEM;
					break;
				}
				if (st == local)
					memcpy(p, local, sizeof(local));
				st = p;
				cap *= 2;
			}
			st[depth++] = (struct frame){ o, 0 };
			repr_open(b, o);
		}
		/* Find the next child to enter. */
		o = NULL;
		while (depth && !b->err) {
			struct frame *f = &st[depth - 1];
			size_t fn = nchildren(f->o);
			if (f->i == fn) {
				repr_close(b, f->o);
				depth--;
				continue;
			}
			size_t i = f->i++;
			repr_sep(b, f->o, i, fn);
			o = child(f->o, i);
			if (o)
				break;
			depth--; /* the closing was written */
		}
		if (!o || b->err)
			break;
	}
	if (st != local)
		free(st);
}

char *mp_obj_repr(const mp_obj_t *o, int *err)
{
	struct sb b = { 0 };
	if (o)
		repr_tree(&b, o);
	else
		sb_puts(&b, "NULL");
	if (!b.err && sb_room(&b, 0))
		b.p[b.len] = 0;
	if (err)
		*err = b.err;
	if (b.err) {
		free(b.p);
		return NULL;
	}
	return b.p;
}
