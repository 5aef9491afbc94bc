/*
 * mpbench - mproc's primitives beside their baselines, in one run.
 *
 *   mpbench [--quick] [--filter PREFIX] [--json] [--list]
 *
 * Table on stdout (or, with --json, one JSON array of rows on stdout);
 * progress on stderr.  Each row: name, unit, mproc (median), baseline (what
 * it was compared with), baseline_value (median), speedup (> 1: mproc is
 * better), with min/max of both sides, the goal and whether it is met.
 */
#include "mpbench.h"

#include <malloc.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static const struct mpb_case *const areas[] = {
	mpb_process_cases,
	mpb_queue_cases,
	mpb_wait_cases,
	mpb_pool_cases,
	mpb_sync_cases,
	mpb_conn_cases,
	mpb_shm_cases,
	mpb_pickle_cases,
	mpb_manager_cases,
};

struct side {
	double med, min, max;
	int status;        /* 0, MPB_SKIP, or -errno */
	const char *why;
};

struct row {
	const struct mpb_case *c;
	struct side m, b;
	double speedup;
	char note[160];
};

int64_t mpb_now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

static void summarize(double *v, int n, struct side *s)
{
	qsort(v, (size_t)n, sizeof(*v), cmp_double);
	s->min = v[0];
	s->max = v[n - 1];
	s->med = n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

static int run_side(const struct mpb_case *c, mpb_run_fn fn, long iters,
                    double *out, struct side *s)
{
	if (s->status != 0)
		return s->status;
	if (!fn && c->python)
		fn = mpb_python_run;
	int r = fn(c, iters, out, &s->why);
	if (r != 0)
		s->status = r;
	return r;
}

static void run_case(const struct mpb_case *c, bool quick, struct row *row)
{
	enum { MAXREPS = 15 };
	int reps = quick ? 5 : 11;
	long iters = quick ? c->quick_iters : c->iters;
	double mv[MAXREPS], bv[MAXREPS], junk;
	int nm = 0, nb = 0;

	memset(row, 0, sizeof(*row));
	row->c = c;
	/* Each case starts from a heap that keeps nothing of the cases
	 * before: glibc holds freed memory back (once a large block has been
	 * freed, up to twice its size), and a fork copies the page tables of
	 * every populated page - after the earlier cases' buffers, 6 MB of
	 * them made a pool's start-up 40-70% slower here. */
	malloc_trim(0);
	fprintf(stderr, "mpbench: %s ...", c->name);
	/* Warm-up: page faults, caches, python's imports. */
	run_side(c, c->run_mproc, iters / 4 + 1, &junk, &row->m);
	run_side(c, c->run_baseline, iters / 4 + 1, &junk, &row->b);
	for (int i = 0; i < reps; i++) {
		/* Alternate which side goes first, so drift hits both. */
		for (int k = 0; k < 2; k++) {
			bool mine = (k == 0) == (i % 2 == 0);
			if (mine && run_side(c, c->run_mproc, iters, &mv[nm],
			                     &row->m) == 0)
				nm++;
			if (!mine && run_side(c, c->run_baseline, iters,
			                      &bv[nb], &row->b) == 0)
				nb++;
		}
		fputc('.', stderr);
	}
	if (c->python)
		mpb_python_stop();
	if (nm)
		summarize(mv, nm, &row->m);
	if (nb)
		summarize(bv, nb, &row->b);
	if (nm && nb && row->m.med > 0 && row->b.med > 0)
		row->speedup = c->higher_better ? row->m.med / row->b.med
		                                : row->b.med / row->m.med;
	if (c->note && nm)
		c->note(c, row->note, sizeof(row->note));
	fprintf(stderr, " done\n");
}

static const char *status_text(const struct side *s)
{
	static char buf[32];
	if (s->status == MPB_SKIP)
		return s->why ? s->why : "skipped";
	snprintf(buf, sizeof(buf), "error %d", s->status);
	return buf;
}

static void print_table(const struct row *rows, int n)
{
	printf("%-34s %-7s %24s %24s %8s %6s\n", "benchmark", "unit",
	       "mproc median [min-max]", "baseline median [min-max]",
	       "speedup", "goal");
	for (int i = 0; i < n; i++) {
		const struct row *r = &rows[i];
		char m[96], b[96], sp[32], goal[32];
		if (r->m.status == 0)
			snprintf(m, sizeof(m), "%.4g [%.4g-%.4g]", r->m.med,
			         r->m.min, r->m.max);
		else
			snprintf(m, sizeof(m), "(%s)", status_text(&r->m));
		if (r->b.status == 0)
			snprintf(b, sizeof(b), "%.4g [%.4g-%.4g]", r->b.med,
			         r->b.min, r->b.max);
		else
			snprintf(b, sizeof(b), "(%s)", status_text(&r->b));
		if (r->speedup > 0)
			snprintf(sp, sizeof(sp), "%.2fx", r->speedup);
		else
			snprintf(sp, sizeof(sp), "-");
		if (r->c->goal > 0)
			snprintf(goal, sizeof(goal), ">=%.3g%s", r->c->goal,
			         r->speedup <= 0 ? "" :
			         r->speedup >= r->c->goal ? " ok" : " MISS");
		else
			snprintf(goal, sizeof(goal), "-");
		printf("%-34s %-7s %24s %24s %8s %6s\n", r->c->name,
		       r->c->unit, m, b, sp, goal);
		printf("%-34s   vs %s\n", "", r->c->baseline);
		if (r->note[0])
			printf("%-34s   %s\n", "", r->note);
	}
}

static void json_str(const char *s)
{
	putchar('"');
	for (; *s; s++) {
		if (*s == '"' || *s == '\\')
			printf("\\%c", *s);
		else if ((unsigned char)*s < 0x20)
			printf("\\u%04x", *s);
		else
			putchar(*s);
	}
	putchar('"');
}

static void json_num(const char *key, double v, bool ok)
{
	printf(", \"%s\": ", key);
	if (ok && isfinite(v))
		printf("%.6g", v);
	else
		printf("null");
}

static void print_json(const struct row *rows, int n)
{
	printf("[");
	for (int i = 0; i < n; i++) {
		const struct row *r = &rows[i];
		bool m = r->m.status == 0, b = r->b.status == 0;
		printf("%s\n  {\"name\": ", i ? "," : "");
		json_str(r->c->name);
		printf(", \"unit\": ");
		json_str(r->c->unit);
		json_num("mproc", r->m.med, m);
		json_num("mproc_min", r->m.min, m);
		json_num("mproc_max", r->m.max, m);
		printf(", \"baseline\": ");
		json_str(r->c->baseline);
		json_num("baseline_value", r->b.med, b);
		json_num("baseline_min", r->b.min, b);
		json_num("baseline_max", r->b.max, b);
		json_num("speedup", r->speedup, r->speedup > 0);
		json_num("goal", r->c->goal, r->c->goal > 0);
		printf(", \"higher_is_better\": %s",
		       r->c->higher_better ? "true" : "false");
		if (!m || !b) {
			printf(", \"skipped\": ");
			json_str(status_text(!m ? &r->m : &r->b));
		}
		if (r->note[0]) {
			printf(", \"note\": ");
			json_str(r->note);
		}
		printf("}");
	}
	printf("\n]\n");
}

static void usage(FILE *f)
{
	fprintf(f, "usage: mpbench [--quick] [--filter PREFIX] [--json] "
	           "[--list]\n");
}

int main(int argc, char **argv)
{
	bool quick = false, json = false, list = false;
	const char *filter = "";

	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--quick"))
			quick = true;
		else if (!strcmp(argv[i], "--json"))
			json = true;
		else if (!strcmp(argv[i], "--list"))
			list = true;
		else if (!strcmp(argv[i], "--filter") && i + 1 < argc)
			filter = argv[++i];
		else if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
			usage(stdout);
			return 0;
		} else {
			usage(stderr);
			return 2;
		}
	}
	/* A baseline peer that dies must not take us with it. */
	signal(SIGPIPE, SIG_IGN);

	size_t total = 0;
	for (size_t a = 0; a < sizeof(areas) / sizeof(areas[0]); a++)
		for (const struct mpb_case *c = areas[a]; c->name; c++)
			total++;
	struct row *rows = calloc(total ? total : 1, sizeof(*rows));
	if (!rows)
		return 1;
	int n = 0;
	for (size_t a = 0; a < sizeof(areas) / sizeof(areas[0]); a++) {
		for (const struct mpb_case *c = areas[a]; c->name; c++) {
			if (strncmp(c->name, filter, strlen(filter)) != 0)
				continue;
			if (list) {
				printf("%s\n", c->name);
				continue;
			}
			run_case(c, quick, &rows[n++]);
		}
	}
	if (!list) {
		if (json)
			print_json(rows, n);
		else
			print_table(rows, n);
	}
	free(rows);
	return 0;
}
