/*
 * mpbench.h - the benchmark registry.
 *
 * A case measures one mproc primitive and one baseline, each returning a
 * value in the case's unit for one repetition of `iters` operations.  The
 * driver warms both up, then alternates them rep by rep (swapping which goes
 * first) and reports medians with min-max, and the speedup (> 1 means mproc
 * is better, whatever the unit's direction).  Round-trip cases also record
 * each round trip (mpb_lat_record, below) for the tails.
 *
 * Adding an area: write bench_<area>.c defining `const struct mpb_case
 * mpb_<area>_cases[]` ending with an empty entry, and list it in main.c.
 */
#ifndef MPBENCH_H
#define MPBENCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct mpb_case;

/*
 * One repetition.  Returns 0 with *value set, or a negative errno; a
 * baseline may instead return MPB_SKIP with a reason in *why (static string)
 * when it cannot run on this machine (no python3, ...).
 */
#define MPB_SKIP 1
typedef int (*mpb_run_fn)(const struct mpb_case *c, long iters, double *value,
                          const char **why);

struct mpb_case {
	const char *name;     /* "area.case/baseline" */
	const char *unit;     /* "us/op", "ops/s", "GB/s", ... */
	bool higher_better;   /* true for rates, false for times */
	const char *baseline; /* what the baseline is, in a few words */
	double goal;          /* required speedup, 0 when none */
	long iters;           /* operations per repetition (full run) */
	long quick_iters;     /* ... with --quick */
	mpb_run_fn run_mproc;
	mpb_run_fn run_baseline;
	const char *python;   /* python baseline: body of bench(n) (see py.c) */
	/* Optional: a note printed under the row (e.g. hand-off rate), filled
	 * by the last mproc repetition. */
	void (*note)(const struct mpb_case *c, char *buf, size_t len);
};

/* Monotonic time in ns. */
int64_t mpb_now(void);

/*
 * Keep work that only a benchmark looks at: an empty asm statement that, as
 * far as the compiler knows, reads v and may read or write any memory.  So
 * the computation of v is not removed, and work on memory is not hoisted
 * out of a timed loop (Google Benchmark's DoNotOptimize and ClobberMemory).
 */
static inline void mpb_keep(uint64_t v)
{
	__asm__ volatile("" : : "r"(v) : "memory");
}

/*
 * Tails of round-trip rows: a round-trip case calls mpb_lat_record with
 * each round trip's duration in ns, the side that makes the round trips
 * (the pinger, the client), one mpb_now() a round trip (one's end is the
 * next one's start; ~25-50 ns on a VM's clock, inside the figure).  The
 * driver keeps every timed repetition's record (warm-ups' are dropped),
 * merges them per side and prints p50, p99 and p99.9.  A child forked by
 * the case may record too: the record is in shared memory.  Throughput
 * rows never call it.  mpb_lat_rep_quantile: the q-quantile (0.99 ...)
 * of this repetition's record so far in ns, 0 when empty - the value of
 * a row that measures a tail (*_p99).
 */
void mpb_lat_record(int64_t ns);
double mpb_lat_rep_quantile(double q);

/* Records the round trip that began at since and ended now; returns now,
 * the next one's start:
 *     t = mpb_now(); for (...) { ...; t = mpb_lat_lap(t); } */
static inline int64_t mpb_lat_lap(int64_t since)
{
	int64_t now = mpb_now();
	mpb_lat_record(now - since);
	return now;
}

/*
 * Python baselines: a persistent python3 per case, fed iteration counts on
 * stdin, so its start-up is paid once and reps still alternate with ours.
 * c->python is the body of `def bench(n):` returning the case's value.
 * Returns MPB_SKIP (with *why) when python3 is missing.
 */
int mpb_python_run(const struct mpb_case *c, long iters, double *value,
                   const char **why);
void mpb_python_stop(void);

/*
 * A python3 peer for the mproc side of a row (a CPython listener, say):
 * runs script with n as its argument and returns once it has printed its
 * first line, copied into line without the newline.  MPB_SKIP (with *why)
 * when python3 cannot be run or says nothing within the python timeout.
 * End it with mpb_python_peer_end (kill_it: after a failure, when it may
 * still be waiting for us); 0 when it exited with status 0.
 */
int mpb_python_peer(const char *script, long n, char *line, size_t cap,
                    pid_t *pid, const char **why);
int mpb_python_peer_end(pid_t pid, bool kill_it);

extern const struct mpb_case mpb_process_cases[];
extern const struct mpb_case mpb_queue_cases[];
extern const struct mpb_case mpb_wait_cases[];
extern const struct mpb_case mpb_pool_cases[];
extern const struct mpb_case mpb_sync_cases[];
extern const struct mpb_case mpb_conn_cases[];
extern const struct mpb_case mpb_shm_cases[];
extern const struct mpb_case mpb_pickle_cases[];
extern const struct mpb_case mpb_dict_cases[];
extern const struct mpb_case mpb_manager_cases[];

#endif
