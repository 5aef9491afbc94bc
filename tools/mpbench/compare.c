/*
 * compare.c - a saved run read back (--from), and two runs compared
 * (--compare OLD NEW).
 *
 * The reader takes what mpbench --json writes: an array of flat objects
 * whose values are strings, numbers, true, false or null.  Keys it does
 * not know are skipped, so a file from a later mpbench still reads.
 */
#include "mpbench.h"
#include "report.h"

#include <ctype.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

struct parser {
	const char *p;
	int line;
	const char *path;
};

static void ws(struct parser *s)
{
	for (; isspace((unsigned char)*s->p); s->p++)
		if (*s->p == '\n')
			s->line++;
}

static bool eat(struct parser *s, char c)
{
	ws(s);
	if (*s->p != c)
		return false;
	s->p++;
	return true;
}

static int fail(struct parser *s, const char *what)
{
	fprintf(stderr, "mpbench: %s:%d: %s\n", s->path, s->line, what);
	return -1;
}

/* A string into buf (cut to its size); \uXXXX below 0x80 only. */
static int string(struct parser *s, char *buf, size_t len)
{
	size_t n = 0;
	if (!eat(s, '"'))
		return fail(s, "a string expected");
	for (; *s->p && *s->p != '"'; s->p++) {
		char c = *s->p;
		if (c == '\\') {
			c = *++s->p;
			if (c == 'u') {
				unsigned u = 0;
				if (sscanf(s->p + 1, "%4x", &u) != 1)
					return fail(s, "a bad \\u escape");
				s->p += 4;
				c = u < 0x80 ? (char)u : '?';
			} else if (c == 'n') {
				c = '\n';
			} else if (c == 't') {
				c = '\t';
			} else if (!c) {
				break;
			}
		}
		if (n + 1 < len)
			buf[n++] = c;
	}
	if (len)
		buf[n] = 0;
	return eat(s, '"') ? 0 : fail(s, "an unterminated string");
}

/* An array or object under a key this reader does not know: skipped
 * whole, strings and all. */
static int skip_nested(struct parser *s)
{
	int depth = 0;
	char buf[2];
	do {
		ws(s);
		char c = *s->p;
		if (!c)
			return fail(s, "an unterminated array or object");
		if (c == '"') {
			if (string(s, buf, sizeof(buf)) < 0)
				return -1;
			continue;
		}
		depth += (c == '[' || c == '{') - (c == ']' || c == '}');
		s->p++;
	} while (depth > 0);
	return 0;
}

struct value {
	enum { V_NULL, V_BOOL, V_NUM, V_STR } kind;
	double num;
	bool b;
	char str[256];
};

static int value(struct parser *s, struct value *v)
{
	ws(s);
	char *end;
	v->str[0] = 0;
	if (*s->p == '"') {
		v->kind = V_STR;
		return string(s, v->str, sizeof(v->str));
	}
	if (*s->p == '[' || *s->p == '{') {
		v->kind = V_NULL;
		return skip_nested(s);
	}
	static const struct { const char *w; int kind; bool b; } words[] = {
		{ "null", V_NULL, false }, { "true", V_BOOL, true },
		{ "false", V_BOOL, false },
	};
	for (size_t k = 0; k < 3; k++) {
		size_t n = strlen(words[k].w);
		if (!strncmp(s->p, words[k].w, n)) {
			s->p += n;
			v->kind = words[k].kind;
			v->b = words[k].b;
			return 0;
		}
	}
	v->num = strtod(s->p, &end);
	if (end == s->p)
		return fail(s, "a string, number, true, false or null "
		               "expected");
	s->p = end;
	v->kind = V_NUM;
	return 0;
}

static void set_num(double *into, bool *ok, const struct value *v)
{
	if (v->kind == V_NUM) {
		*into = v->num;
		if (ok)
			*ok = true;
	}
}

/* A side's keys: "" for mproc's median ("mproc"), then _min, _max, and
 * the tails'. */
static bool side_key(const char *side, const char *key, const char *med,
                     struct mpb_side *d, const struct value *v)
{
	size_t n = strlen(side);
	if (!strcmp(key, med))
		set_num(&d->med, &d->ok, v);
	else if (strncmp(key, side, n) || key[n] != '_')
		return false;
	else if (!strcmp(key + n, "_min"))
		set_num(&d->min, NULL, v);
	else if (!strcmp(key + n, "_max"))
		set_num(&d->max, NULL, v);
	else if (!strcmp(key + n, "_p50_ns"))
		set_num(&d->tail.p50, NULL, v);
	else if (!strcmp(key + n, "_p99_ns"))
		set_num(&d->tail.p99, NULL, v);
	else if (!strcmp(key + n, "_p999_ns"))
		set_num(&d->tail.p999, NULL, v);
	else if (!strcmp(key + n, "_samples") && v->kind == V_NUM)
		d->tail.n = (long)v->num;
	else
		return false;
	return true;
}

/* A string of the file into a fixed field, cut to fit (a field longer
 * than the report's own was not written by mpbench). */
static void copy_str(char *dst, size_t cap, const char *src)
{
	size_t n = strnlen(src, cap - 1);
	memcpy(dst, src, n);
	dst[n] = 0;
}

static void field(struct mpb_row *r, struct mpb_run *run, const char *key,
                  const struct value *v)
{
	if (!strcmp(key, "name"))
		copy_str(r->name, sizeof(r->name), v->str);
	else if (!strcmp(key, "unit"))
		copy_str(r->unit, sizeof(r->unit), v->str);
	else if (!strcmp(key, "baseline") && v->kind == V_STR)
		copy_str(r->baseline, sizeof(r->baseline), v->str);
	else if (!strcmp(key, "note"))
		copy_str(r->note, sizeof(r->note), v->str);
	else if (!strcmp(key, "skipped"))
		copy_str(r->skipped, sizeof(r->skipped), v->str);
	else if (!strcmp(key, "speedup"))
		set_num(&r->speedup, NULL, v);
	else if (!strcmp(key, "goal"))
		set_num(&r->goal, NULL, v);
	else if (!strcmp(key, "higher_is_better"))
		r->higher_better = v->kind == V_BOOL && v->b;
	else if (!strcmp(key, "quick") && v->kind == V_BOOL)
		run->quick = v->b;
	else if (!strcmp(key, "reps") && v->kind == V_NUM)
		run->reps = (int)v->num;
	else if (!strcmp(key, "load_start"))
		set_num(&run->load[0], NULL, v);
	else if (!strcmp(key, "load_end"))
		set_num(&run->load[1], NULL, v);
	else if (!strcmp(key, "cpus") && v->kind == V_NUM)
		run->cpus = (int)v->num;
	else if (!strcmp(key, "lat_overhead_ns"))
		set_num(&run->lat_ns, NULL, v);
	else if (!side_key("mproc", key, "mproc", &r->m, v))
		side_key("baseline", key, "baseline_value", &r->b, v);
}

static int object(struct parser *s, struct mpb_row *r, struct mpb_run *run)
{
	char key[64];
	struct value v;
	memset(r, 0, sizeof(*r));
	if (!eat(s, '{'))
		return fail(s, "'{' expected");
	if (eat(s, '}'))
		return 0;
	do {
		if (string(s, key, sizeof(key)) < 0)
			return -1;
		if (!eat(s, ':'))
			return fail(s, "':' expected");
		if (value(s, &v) < 0)
			return -1;
		field(r, run, key, &v);
	} while (eat(s, ','));
	if (!eat(s, '}'))
		return fail(s, "',' or '}' expected");
	return r->name[0] ? 0 : fail(s, "a row without a name");
}

static char *slurp(const char *path)
{
	FILE *f = fopen(path, "r");
	char *buf = NULL;
	size_t len = 0, cap = 0;
	if (!f)
		return NULL;
	for (;;) {
		if (cap - len < 4096) {
			char *nb = realloc(buf, cap += 65536);
			if (!nb) {
				free(buf);
				fclose(f);
				return NULL;
			}
			buf = nb;
		}
		size_t k = fread(buf + len, 1, cap - len - 1, f);
		len += k;
		if (k == 0)
			break;
	}
	fclose(f);
	buf[len] = 0;
	return buf;
}

static int rows_of(struct parser *s, struct mpb_row **rows, int *n,
                   struct mpb_run *run)
{
	int cap = 0;
	*rows = NULL;
	*n = 0;
	if (!eat(s, '['))
		return fail(s, "not mpbench --json output: '[' expected");
	if (eat(s, ']'))
		return 0;
	do {
		if (*n == cap) {
			cap = cap ? 2 * cap : 64;
			struct mpb_row *nr = realloc(*rows, (size_t)cap *
			                                        sizeof(**rows));
			if (!nr)
				return fail(s, "out of memory");
			*rows = nr;
		}
		if (object(s, &(*rows)[*n], run) < 0)
			return -1;
		(*n)++;
	} while (eat(s, ','));
	if (!eat(s, ']'))
		return fail(s, "',' or ']' expected");
	ws(s);
	return *s->p ? fail(s, "text after the array") : 0;
}

int mpb_read_json(const char *path, struct mpb_row **rows, int *n,
                  struct mpb_run *run)
{
	char *text = slurp(path);
	if (!text) {
		fprintf(stderr, "mpbench: cannot read %s\n", path);
		return -1;
	}
	struct parser s = { text, 1, path };
	*run = (struct mpb_run){ .quick = -1, .load = { -1, -1 } };
	int r = rows_of(&s, rows, n, run);
	free(text);
	if (r < 0) {
		free(*rows);
		*rows = NULL;
	}
	return r;
}

/* ---- --compare ----------------------------------------------------------- */

/* Moved: the two runs' spreads do not overlap. */
static bool moved(const struct mpb_side *a, const struct mpb_side *b)
{
	return a->ok && b->ok && (b->min > a->max || b->max < a->min);
}

static void side_text(char *buf, size_t len, const struct mpb_side *s)
{
	char m[24], lo[24], hi[24];
	mpb_fmt_num(m, sizeof(m), s->med);
	mpb_fmt_num(lo, sizeof(lo), s->min);
	mpb_fmt_num(hi, sizeof(hi), s->max);
	snprintf(buf, len, "%s (%s-%s)", m, lo, hi);
}

static void print_moved(const struct mpb_row *o, const struct mpb_row *r)
{
	char a[96], b[96];
	double pct = (r->m.med / o->m.med - 1) * 100;
	bool better = r->higher_better ? r->m.med > o->m.med
	                               : r->m.med < o->m.med;
	side_text(a, sizeof(a), &o->m);
	side_text(b, sizeof(b), &r->m);
	printf("%-34s %-9s %24s -> %-24s %+6.1f%% %s", r->name, r->unit, a, b,
	       pct, better ? "better" : "worse");
	if (moved(&o->b, &r->b))
		printf(" (its baseline moved too: %+.1f%%)",
		       (r->b.med / o->b.med - 1) * 100);
	printf("\n");
}

static const struct mpb_row *find(const struct mpb_row *rows, int n,
                                  const char *name)
{
	for (int i = 0; i < n; i++)
		if (!strcmp(rows[i].name, name))
			return &rows[i];
	return NULL;
}

int mpb_compare(const char *old_path, const char *new_path)
{
	struct mpb_row *o, *r;
	struct mpb_run orun, nrun;
	int no, nn, count = 0;
	if (mpb_read_json(old_path, &o, &no, &orun) < 0)
		return 2;
	if (mpb_read_json(new_path, &r, &nn, &nrun) < 0) {
		free(o);
		return 2;
	}
	printf("mpbench --compare %s %s: the rows whose mproc value moved "
	       "beyond both runs'\nspreads (min-max of their repetitions); "
	       "the rest moved within noise.\n\n", old_path, new_path);
	for (int i = 0; i < nn; i++) {
		const struct mpb_row *old = find(o, no, r[i].name);
		if (old && moved(&old->m, &r[i].m) && old->m.med > 0) {
			if (count++ == 0)
				printf("%-34s %-9s %24s    %-24s %7s\n", "row",
				       "unit", "old median (min-max)",
				       "new median (min-max)", "change");
			print_moved(old, &r[i]);
		}
	}
	if (count == 0)
		printf("No row moved beyond its spread.\n");
	for (int i = 0; i < nn; i++)
		if (!find(o, no, r[i].name))
			printf("only in %s: %s\n", new_path, r[i].name);
	for (int i = 0; i < no; i++)
		if (!find(r, nn, o[i].name))
			printf("only in %s: %s\n", old_path, o[i].name);
	if (orun.quick == 1 || nrun.quick == 1)
		printf("(a --quick run is among them: its spreads are wide and "
		       "its medians rough)\n");
	free(o);
	free(r);
	return count ? 1 : 0;
}
