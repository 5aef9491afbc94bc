/*
 * report.h - a run's rows as the table, JSON and the SVG chart show them,
 * and the latency record's driver side.  Rows are plain data (no pointer
 * into the registry), so a saved --json run reads back into the same rows
 * (--from) and two runs compare (--compare).
 */
#ifndef MPBENCH_REPORT_H
#define MPBENCH_REPORT_H

#include <stdbool.h>
#include <stdio.h>

/* Per-operation latency of one side, all repetitions merged (ns); n == 0
 * when the side records none (throughput rows, some baselines). */
struct mpb_tail {
	long n;
	double p50, p99, p999;
};

struct mpb_side {
	bool ok;           /* has values */
	double med, min, max;
	struct mpb_tail tail;
};

struct mpb_row {
	char name[96];
	char unit[24];
	char baseline[256];
	bool higher_better;
	double goal;           /* 0: none */
	struct mpb_side m, b;
	double speedup;        /* 0: none */
	char note[200];
	char skipped[128];     /* why a side has no values */
};

/* About the run as a whole (--from: what its rows say, or unknown). */
struct mpb_run {
	int quick;             /* 1 quick, 0 full, -1 unknown */
	int reps;              /* 0: unknown */
	double lat_ns;         /* recording a round trip costs, 0: unknown */
	double load[2];        /* load average at start and end, < 0: unknown */
	int cpus;              /* online CPUs, 0: unknown */
};

void mpb_print_table(FILE *f, const struct mpb_row *rows, int n,
                     const struct mpb_run *run);
void mpb_print_json(FILE *f, const struct mpb_row *rows, int n,
                    const struct mpb_run *run);
int mpb_write_svg(const char *path, const struct mpb_row *rows, int n,
                  const struct mpb_run *run);

/* Rows from a file mpbench --json wrote: 0 with *rows (free it) and *n,
 * or -1 with a message on stderr. */
int mpb_read_json(const char *path, struct mpb_row **rows, int *n,
                  struct mpb_run *run);
/* mpbench --compare: 0 no row moved, 1 some did, 2 trouble. */
int mpb_compare(const char *old_path, const char *new_path);

/* Three significant digits and an SI prefix: 1.06M, 755, 0.946. */
void mpb_fmt_num(char *buf, size_t len, double v);

/* The worst and best speedup the two sides' spreads allow. */
bool mpb_speedup_range(const struct mpb_row *r, double *lo, double *hi);

/* The latency record (lat.c): a repetition's record between begin and
 * end, merged into a side's with merge_rep. */
struct mpb_lat;
int mpb_lat_setup(void);
void mpb_lat_begin(void);
void mpb_lat_end(void);
struct mpb_lat *mpb_lat_new(void);
void mpb_lat_merge_rep(struct mpb_lat *into);
void mpb_lat_tail(const struct mpb_lat *h, struct mpb_tail *t);
double mpb_lat_overhead_ns(void);

#endif
