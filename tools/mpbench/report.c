/*
 * report.c - the table and the JSON of a run's rows.
 *
 * The table is meant to be read on its own: numbers with SI prefixes and
 * three significant digits (1.06e+07 and 755.4 never share a column),
 * columns sized to what they hold, the header over its values, and a
 * legend under it that says what every column and mark means.
 */
#include "mpbench.h"
#include "report.h"

#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

/* Three significant digits, an SI prefix from k up: 1.06M, 755, 0.946. */
void mpb_fmt_num(char *buf, size_t len, double v)
{
	static const char prefix[] = " kMGTPE";
	int k = 0;

	if (!isfinite(v)) {
		snprintf(buf, len, "-");
		return;
	}
	while (fabs(v) >= 999.5 && k < 6) {
		v /= 1e3;
		k++;
	}
	double a = fabs(v);
	int dec = a >= 99.95 ? 0 : a >= 9.995 ? 1 : a >= 0.9995 ? 2
	        : a == 0 ? 0 : 2 - (int)floor(log10(a));
	if (dec > 9)
		dec = 9;
	if (k)
		snprintf(buf, len, "%.*f%c", dec, v, prefix[k]);
	else
		snprintf(buf, len, "%.*f", dec, v);
}

/* A duration in ns, in the unit that keeps it short: 850ns, 12.3us. */
static void fmt_ns(char *buf, size_t len, double ns)
{
	static const char *const unit[] = { "ns", "us", "ms", "s" };
	int k = 0;
	char n[32];
	while (ns >= 999.5 && k < 3) {
		ns /= 1e3;
		k++;
	}
	mpb_fmt_num(n, sizeof(n), ns);
	snprintf(buf, len, "%s%s", n, unit[k]);
}

bool mpb_speedup_range(const struct mpb_row *r, double *lo, double *hi)
{
	if (!r->m.ok || !r->b.ok || r->m.min <= 0 || r->b.min <= 0)
		return false;
	if (r->higher_better) {
		*lo = r->m.min / r->b.max;
		*hi = r->m.max / r->b.min;
	} else {
		*lo = r->b.min / r->m.max;
		*hi = r->b.max / r->m.min;
	}
	return true;
}

/* ---- the table --------------------------------------------------------- */

enum { C_NAME, C_UNIT, C_M, C_MS, C_B, C_BS, C_SP, C_GOAL, C_VERDICT, NCOL };

static const char *const head[NCOL] = {
	"benchmark", "unit", "mproc", "(min-max)", "baseline", "(min-max)",
	"speedup", "goal", "",
};

/* Numbers are right-aligned, words and spreads left. */
static const bool right[NCOL] = { [C_M] = true, [C_B] = true,
                                  [C_SP] = true, [C_GOAL] = true };

/* A cell holds a row's name whole. */
#define CELL sizeof(((struct mpb_row *)0)->name)
typedef char cell_t[NCOL][CELL];

static void side_cells(const struct mpb_side *s, char *med, char *spread)
{
	char lo[32], hi[32];
	if (!s->ok) {
		snprintf(med, CELL, "-");
		spread[0] = 0;
		return;
	}
	mpb_fmt_num(med, CELL, s->med);
	mpb_fmt_num(lo, sizeof(lo), s->min);
	mpb_fmt_num(hi, sizeof(hi), s->max);
	snprintf(spread, CELL, "(%s-%s)", lo, hi);
}

/* ok / MISS against the goal; ~ when the spreads allow a ratio on the
 * other side of it (of 1x for a row without a goal). */
static void verdict(const struct mpb_row *r, char *buf)
{
	double lo, hi, mark = r->goal > 0 ? r->goal : 1;
	bool noise = mpb_speedup_range(r, &lo, &hi) && lo < mark && hi >= mark;
	buf[0] = 0;
	if (r->speedup > 0 && r->goal > 0)
		strcpy(buf, r->speedup >= r->goal ? "ok" : "MISS");
	if (noise)
		strcat(buf, "~");
}

static void row_cells(const struct mpb_row *r, cell_t c)
{
	snprintf(c[C_NAME], CELL, "%s", r->name);
	snprintf(c[C_UNIT], CELL, "%s", r->unit);
	side_cells(&r->m, c[C_M], c[C_MS]);
	side_cells(&r->b, c[C_B], c[C_BS]);
	if (r->speedup > 0) {
		mpb_fmt_num(c[C_SP], CELL, r->speedup);
		strcat(c[C_SP], "x");
	} else {
		snprintf(c[C_SP], CELL, "-");
	}
	if (r->goal > 0) {
		snprintf(c[C_GOAL], CELL, ">=%.3g", r->goal);
	} else {
		snprintf(c[C_GOAL], CELL, "-");
	}
	verdict(r, c[C_VERDICT]);
}

static void print_cells(FILE *f, const char *const *cell, const int *w)
{
	char line[1024];
	size_t at = 0;
	for (int k = 0; k < NCOL; k++) {
		int n = snprintf(line + at, sizeof(line) - at, "%s%*s",
		                 k ? "  " : "", right[k] ? w[k] : -w[k],
		                 cell[k]);
		if (n > 0 && (size_t)n < sizeof(line) - at)
			at += (size_t)n;
	}
	while (at && line[at - 1] == ' ')
		line[--at] = 0;
	fprintf(f, "%s\n", line);
}

static void tail_line(FILE *f, const char *label, const struct mpb_tail *t,
                      const char *none)
{
	char a[32], b[32], c[32];
	if (t->n == 0) {
		fprintf(f, "    %-15s %s\n", label, none);
		return;
	}
	fmt_ns(a, sizeof(a), t->p50);
	fmt_ns(b, sizeof(b), t->p99);
	fmt_ns(c, sizeof(c), t->p999);
	fprintf(f, "    %-15s p50 %-8s p99 %-8s p99.9 %-8s (%ld round trips)\n",
	        label, a, b, c, t->n);
}

static void print_sublines(FILE *f, const struct mpb_row *r)
{
	fprintf(f, "    vs %s\n", r->baseline);
	if (r->skipped[0])
		fprintf(f, "    %s: %s\n", r->m.ok ? "baseline" : "mproc",
		        r->skipped);
	if (r->note[0])
		fprintf(f, "    %s\n", r->note);
	if (r->m.tail.n || r->b.tail.n) {
		tail_line(f, "tails: mproc", &r->m.tail, "-");
		tail_line(f, "       baseline", &r->b.tail,
		          r->b.ok ? "- (not recorded)" : "-");
	}
}

static void print_legend(FILE *f, const struct mpb_run *run)
{
	char reps[32] = "the", lat[64] = "";
	if (run->reps > 0)
		snprintf(reps, sizeof(reps), "%d", run->reps);
	if (run->lat_ns > 0)
		snprintf(lat, sizeof(lat), " (~%.0f ns here)", run->lat_ns);
	fprintf(f,
"\nHow to read it\n"
"  mproc, baseline  the median of %s repetitions, each the mean over its\n"
"                   operations, in the row's unit; (min-max): the spread of\n"
"                   those repetitions.  SI prefixes: k 1e3, M 1e6, G 1e9.\n"
"  speedup          how many times better mproc did: baseline/mproc for\n"
"                   times (ns/op, us/rt, ...), mproc/baseline for rates\n"
"                   (ops/s, msgs/s, GB/s); above 1x mproc is better.\n"
"  goal             the speedup the row asks for: ok met, MISS not met.\n"
"                   ~: within noise - the spreads allow a ratio on the\n"
"                   other side of the goal (of 1x for a row without one).\n"
"                   Goals are judged on full runs (not --quick), one area\n"
"                   at a time (--filter AREA.), on an otherwise idle machine.\n"
"  vs               what the baseline is.\n"
"  tails            round-trip rows: p50, p99 and p99.9 of every single\n"
"                   round trip of all repetitions, per side.  One clock\n"
"                   read a round trip%s is inside them and the\n"
"                   median.  A *_p99 row's value is a repetition's p99\n"
"                   (lower is better).  -: not recorded.\n"
"  hand-off rate    contended lock rows: how often the lock went to another\n"
"                   process than its last holder; a lock can post a high\n"
"                   rate by letting one process keep it.\n",
	        reps, lat);
}

static void print_run_line(FILE *f, const struct mpb_run *run)
{
	if (run->quick == 1)
		fprintf(f, "mpbench: a --quick run (%d repetitions, fewer "
		        "operations each): it checks that rows run;\n"
		        "         judge goals on a full run.\n",
		        run->reps);
	else if (run->quick == 0)
		fprintf(f, "mpbench: a full run (%d repetitions a side).\n",
		        run->reps);
	if (run->load[0] >= 0 && run->load[1] >= 0)
		fprintf(f, "         load average %.2f at the start, %.2f at "
		        "the end (%d CPUs).\n", run->load[0], run->load[1],
		        run->cpus);
	fprintf(f, "\n");
}

void mpb_print_table(FILE *f, const struct mpb_row *rows, int n,
                     const struct mpb_run *run)
{
	cell_t *cells = calloc((size_t)n + 1, sizeof(*cells));
	int w[NCOL];
	if (!cells)
		return;
	print_run_line(f, run);
	for (int k = 0; k < NCOL; k++)
		w[k] = (int)strlen(head[k]);
	for (int i = 0; i < n; i++) {
		row_cells(&rows[i], cells[i]);
		for (int k = 0; k < NCOL; k++)
			if ((int)strlen(cells[i][k]) > w[k])
				w[k] = (int)strlen(cells[i][k]);
	}
	print_cells(f, head, w);
	for (int i = 0; i < n; i++) {
		const char *cell[NCOL];
		for (int k = 0; k < NCOL; k++)
			cell[k] = cells[i][k];
		print_cells(f, cell, w);
		print_sublines(f, &rows[i]);
	}
	free(cells);
	print_legend(f, run);
}

/* ---- JSON -------------------------------------------------------------- */

static void json_str(FILE *f, const char *s)
{
	fputc('"', f);
	for (; *s; s++) {
		if (*s == '"' || *s == '\\')
			fprintf(f, "\\%c", *s);
		else if ((unsigned char)*s < 0x20)
			fprintf(f, "\\u%04x", *s);
		else
			fputc(*s, f);
	}
	fputc('"', f);
}

static void json_num(FILE *f, const char *key, double v, bool ok)
{
	fprintf(f, ", \"%s\": ", key);
	if (ok && isfinite(v))
		fprintf(f, "%.6g", v);
	else
		fprintf(f, "null");
}

/* The tails' keys, only for a side that has them. */
static void json_tail(FILE *f, const char *side, const struct mpb_tail *t)
{
	char key[48];
	if (t->n == 0)
		return;
	snprintf(key, sizeof(key), "%s_p50_ns", side);
	json_num(f, key, t->p50, true);
	snprintf(key, sizeof(key), "%s_p99_ns", side);
	json_num(f, key, t->p99, true);
	snprintf(key, sizeof(key), "%s_p999_ns", side);
	json_num(f, key, t->p999, true);
	snprintf(key, sizeof(key), "%s_samples", side);
	json_num(f, key, (double)t->n, true);
}

/* The keys before "quick" are those of the first mpbench --json, in its
 * order; later ones only add. */
static void json_row(FILE *f, const struct mpb_row *r,
                     const struct mpb_run *run)
{
	fprintf(f, "{\"name\": ");
	json_str(f, r->name);
	fprintf(f, ", \"unit\": ");
	json_str(f, r->unit);
	json_num(f, "mproc", r->m.med, r->m.ok);
	json_num(f, "mproc_min", r->m.min, r->m.ok);
	json_num(f, "mproc_max", r->m.max, r->m.ok);
	fprintf(f, ", \"baseline\": ");
	json_str(f, r->baseline);
	json_num(f, "baseline_value", r->b.med, r->b.ok);
	json_num(f, "baseline_min", r->b.min, r->b.ok);
	json_num(f, "baseline_max", r->b.max, r->b.ok);
	json_num(f, "speedup", r->speedup, r->speedup > 0);
	json_num(f, "goal", r->goal, r->goal > 0);
	fprintf(f, ", \"higher_is_better\": %s",
	        r->higher_better ? "true" : "false");
	if (r->skipped[0]) {
		fprintf(f, ", \"skipped\": ");
		json_str(f, r->skipped);
	}
	if (r->note[0]) {
		fprintf(f, ", \"note\": ");
		json_str(f, r->note);
	}
	if (run->quick >= 0)
		fprintf(f, ", \"quick\": %s", run->quick ? "true" : "false");
	if (run->reps > 0)
		fprintf(f, ", \"reps\": %d", run->reps);
	json_num(f, "load_start", run->load[0], run->load[0] >= 0);
	json_num(f, "load_end", run->load[1], run->load[1] >= 0);
	json_num(f, "cpus", run->cpus, run->cpus > 0);
	json_tail(f, "mproc", &r->m.tail);
	json_tail(f, "baseline", &r->b.tail);
	if ((r->m.tail.n || r->b.tail.n) && run->lat_ns > 0)
		json_num(f, "lat_overhead_ns", run->lat_ns, true);
	fprintf(f, "}");
}

void mpb_print_json(FILE *f, const struct mpb_row *rows, int n,
                    const struct mpb_run *run)
{
	fprintf(f, "[");
	for (int i = 0; i < n; i++) {
		fprintf(f, "%s\n  ", i ? "," : "");
		json_row(f, &rows[i], run);
	}
	fprintf(f, "\n]\n");
}
