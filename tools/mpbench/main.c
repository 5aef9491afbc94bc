/*
 * mpbench - mproc's primitives beside their baselines, in one run.
 *
 *   mpbench [--quick] [--filter PREFIX] [--json] [--svg FILE] [--list]
 *   mpbench --from RUN.json [--json] [--svg FILE]
 *   mpbench --compare OLD.json NEW.json
 *
 * Table on stdout (or, with --json, one JSON array of rows on stdout);
 * progress on stderr.  Each row: name, unit, mproc (median), baseline (what
 * it was compared with), baseline_value (median), speedup (> 1: mproc is
 * better), with min/max of both sides, the goal and whether it is met, and
 * for round-trip rows each side's tails.  --svg also draws the run as a
 * chart; --from takes the rows from a saved --json run instead of running.
 */
#include "mpbench.h"
#include "report.h"

#include <malloc.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static const struct mpb_case *const areas[] = {
	mpb_process_cases,
	mpb_queue_cases,
	mpb_wait_cases,
	mpb_pool_cases,
	mpb_sync_cases,
	mpb_conn_cases,
	mpb_shm_cases,
	mpb_pickle_cases,
	mpb_dict_cases,
	mpb_manager_cases,
};

/* One side of the case being run. */
struct side_run {
	int status;        /* 0, MPB_SKIP, or -errno */
	const char *why;
	int n;
	double v[15];      /* the timed repetitions' values */
	struct mpb_lat *lat;
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

static void summarize(struct side_run *s, struct mpb_side *out)
{
	double *v = s->v;
	int n = s->n;
	mpb_lat_tail(s->lat, &out->tail);
	if (!n)
		return;
	qsort(v, (size_t)n, sizeof(*v), cmp_double);
	out->ok = true;
	out->min = v[0];
	out->max = v[n - 1];
	out->med = n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

/* One repetition of one side; a timed one keeps its value and its round
 * trips (a warm-up's are dropped). */
static void run_side(const struct mpb_case *c, mpb_run_fn fn, long iters,
                     struct side_run *s, bool timed)
{
	double v;
	if (s->status != 0)
		return;
	if (!fn && c->python)
		fn = mpb_python_run;
	mpb_lat_begin();
	int r = fn(c, iters, &v, &s->why);
	mpb_lat_end();
	if (r != 0) {
		s->status = r;
	} else if (timed) {
		s->v[s->n++] = v;
		mpb_lat_merge_rep(s->lat);
	}
}

static void status_text(const struct side_run *s, char *buf, size_t len)
{
	if (s->status == MPB_SKIP)
		snprintf(buf, len, "%s", s->why ? s->why : "skipped");
	else
		snprintf(buf, len, "error %d", s->status);
}

static void row_of(const struct mpb_case *c, struct mpb_row *row)
{
	memset(row, 0, sizeof(*row));
	snprintf(row->name, sizeof(row->name), "%s", c->name);
	snprintf(row->unit, sizeof(row->unit), "%s", c->unit);
	snprintf(row->baseline, sizeof(row->baseline), "%s", c->baseline);
	row->higher_better = c->higher_better;
	row->goal = c->goal;
}

static void run_case(const struct mpb_case *c, bool quick, int reps,
                     struct mpb_row *row)
{
	long iters = quick ? c->quick_iters : c->iters;
	struct side_run m = { .lat = mpb_lat_new() };
	struct side_run b = { .lat = mpb_lat_new() };

	row_of(c, row);
	/* Each case starts from a heap that keeps nothing of the cases
	 * before: glibc holds freed memory back (once a large block has been
	 * freed, up to twice its size), and a fork copies the page tables of
	 * every populated page - after the earlier cases' buffers, 6 MB of
	 * them made a pool's start-up 40-70% slower here. */
	malloc_trim(0);
	fprintf(stderr, "mpbench: %s ...", c->name);
	/* Warm-up: page faults, caches, python's imports. */
	run_side(c, c->run_mproc, iters / 4 + 1, &m, false);
	run_side(c, c->run_baseline, iters / 4 + 1, &b, false);
	for (int i = 0; i < reps; i++) {
		/* Alternate which side goes first, so drift hits both. */
		for (int k = 0; k < 2; k++) {
			bool mine = (k == 0) == (i % 2 == 0);
			if (mine)
				run_side(c, c->run_mproc, iters, &m, true);
			else
				run_side(c, c->run_baseline, iters, &b, true);
		}
		fputc('.', stderr);
	}
	if (c->python)
		mpb_python_stop();
	summarize(&m, &row->m);
	summarize(&b, &row->b);
	if (m.status || b.status)
		status_text(m.status ? &m : &b, row->skipped,
		            sizeof(row->skipped));
	if (row->m.ok && row->b.ok && row->m.med > 0 && row->b.med > 0)
		row->speedup = c->higher_better ? row->m.med / row->b.med
		                                : row->b.med / row->m.med;
	if (c->note && m.n)
		c->note(c, row->note, sizeof(row->note));
	free(m.lat);
	free(b.lat);
	fprintf(stderr, " done\n");
}

static void usage(FILE *f)
{
	fprintf(f,
	        "usage: mpbench [--quick] [--filter PREFIX] [--json] "
	        "[--svg FILE] [--list]\n"
	        "       mpbench --from RUN.json [--json] [--svg FILE]\n"
	        "       mpbench --compare OLD.json NEW.json\n");
}

struct opts {
	bool quick, json, list;
	const char *filter, *svg, *from, *cmp[2];
};

static int parse_args(int argc, char **argv, struct opts *o)
{
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		bool more = i + 1 < argc;
		if (!strcmp(a, "--quick"))
			o->quick = true;
		else if (!strcmp(a, "--json"))
			o->json = true;
		else if (!strcmp(a, "--list"))
			o->list = true;
		else if (!strcmp(a, "--filter") && more)
			o->filter = argv[++i];
		else if (!strcmp(a, "--svg") && more)
			o->svg = argv[++i];
		else if (!strcmp(a, "--from") && more)
			o->from = argv[++i];
		else if (!strcmp(a, "--compare") && i + 2 < argc) {
			o->cmp[0] = argv[++i];
			o->cmp[1] = argv[++i];
		} else if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
			usage(stdout);
			return 0;
		} else {
			usage(stderr);
			return 2;
		}
	}
	return -1;
}

/* The table or the JSON on stdout, and the chart if asked. */
static int report(const struct opts *o, const struct mpb_row *rows, int n,
                  const struct mpb_run *run)
{
	if (o->json)
		mpb_print_json(stdout, rows, n, run);
	else
		mpb_print_table(stdout, rows, n, run);
	if (o->svg && mpb_write_svg(o->svg, rows, n, run) < 0) {
		fprintf(stderr, "mpbench: cannot write %s\n", o->svg);
		return 1;
	}
	return 0;
}

static int from_file(const struct opts *o)
{
	struct mpb_row *rows;
	struct mpb_run run;
	int n;
	if (mpb_read_json(o->from, &rows, &n, &run) < 0)
		return 2;
	int r = report(o, rows, n, &run);
	free(rows);
	return r;
}

int main(int argc, char **argv)
{
	struct opts o = { .filter = "" };
	int r = parse_args(argc, argv, &o);
	if (r >= 0)
		return r;
	if (o.cmp[0])
		return mpb_compare(o.cmp[0], o.cmp[1]);
	if (o.from)
		return from_file(&o);
	/* A baseline peer that dies must not take us with it. */
	signal(SIGPIPE, SIG_IGN);

	struct mpb_run run = { .quick = o.quick, .reps = o.quick ? 5 : 11,
	                       .load = { -1, -1 } };
	size_t total = 0;
	for (size_t a = 0; a < sizeof(areas) / sizeof(areas[0]); a++)
		for (const struct mpb_case *c = areas[a]; c->name; c++)
			total++;
	struct mpb_row *rows = calloc(total ? total : 1, sizeof(*rows));
	if (!rows || (!o.list && mpb_lat_setup() < 0))
		return 1;
	if (!o.list) {
		run.cpus = (int)sysconf(_SC_NPROCESSORS_ONLN);
		run.lat_ns = mpb_lat_overhead_ns();
		getloadavg(&run.load[0], 1);
	}
	int n = 0;
	for (size_t a = 0; a < sizeof(areas) / sizeof(areas[0]); a++) {
		for (const struct mpb_case *c = areas[a]; c->name; c++) {
			if (strncmp(c->name, o.filter, strlen(o.filter)) != 0)
				continue;
			if (o.list)
				printf("%s\n", c->name);
			else
				run_case(c, o.quick, run.reps, &rows[n++]);
		}
	}
	if (!o.list) {
		getloadavg(&run.load[1], 1);
		r = report(&o, rows, n, &run);
	}
	free(rows);
	return r < 0 ? 0 : r;
}
