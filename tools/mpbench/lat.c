/*
 * lat.c - the per-operation latency record behind the tails of round-trip
 * rows.
 *
 * A log-linear histogram (HdrHistogram's layout, much reduced): values
 * below 64 ns have a bucket each; above, every octave [2^e, 2^(e+1)) is
 * cut into 32 buckets of equal width, so a bucket is at most 1/32 (~3%)
 * of its values wide and a quantile read back is within ~1.6% of a true
 * sample.  Recording is a count of leading zeros, a shift and an
 * increment: no allocation, no sort, and two records merge by adding.
 *
 * The repetition's record lives in a MAP_SHARED mapping made once, before
 * any case forks, so a child a case forks records into the same one (only
 * one process records in a repetition: the side that makes the round
 * trips; the driver reads after the case has reaped it, and waitpid
 * orders those writes before the reads).
 */
#include "mpbench.h"
#include "report.h"

#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#define SUB_BITS 5
#define SUB (1 << SUB_BITS)       /* buckets an octave */
#define LINEAR (2 * SUB)          /* below this, one bucket a value */
#define TOP_BIT 40                /* values from 2^40 ns (18 min) clamp */
#define NBUCKETS ((TOP_BIT - SUB_BITS) * SUB)

struct mpb_lat {
	uint64_t n;
	uint32_t count[NBUCKETS];
};

static struct mpb_lat *rep;       /* the shared mapping; NULL: not set up */
static bool recording;

static unsigned bucket_of(uint64_t v)
{
	if (v < LINEAR)
		return (unsigned)v;
	if (v >> TOP_BIT)
		v = (1ull << TOP_BIT) - 1;
	unsigned shift = (unsigned)(63 - __builtin_clzll(v)) - SUB_BITS;
	return shift * SUB + (unsigned)(v >> shift);
}

/* The middle of a bucket's values. */
static double bucket_mid(unsigned i)
{
	if (i < LINEAR)
		return i;
	unsigned shift = i / SUB - 1;
	uint64_t lo = (uint64_t)(i - shift * SUB) << shift;
	return (double)lo + (double)((1ull << shift) - 1) / 2;
}

void mpb_lat_record(int64_t ns)
{
	/* The mapping is shared, the flag is not: a child forked while the
	 * driver records inherits it set. */
	if (!recording)
		return;
	rep->count[bucket_of(ns > 0 ? (uint64_t)ns : 0)]++;
	rep->n++;
}

static double quantile(const struct mpb_lat *h, double q)
{
	if (!h || h->n == 0)
		return 0;
	uint64_t rank = (uint64_t)(q * (double)h->n + 0.999999);
	uint64_t seen = 0;
	if (rank < 1)
		rank = 1;
	for (unsigned i = 0; i < NBUCKETS; i++) {
		seen += h->count[i];
		if (seen >= rank)
			return bucket_mid(i);
	}
	return bucket_mid(NBUCKETS - 1);
}

double mpb_lat_rep_quantile(double q)
{
	return quantile(rep, q);
}

int mpb_lat_setup(void)
{
	void *p = mmap(NULL, sizeof(*rep), PROT_READ | PROT_WRITE,
	               MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED)
		return -1;
	rep = p;
	return 0;
}

void mpb_lat_begin(void)
{
	if (!rep)
		return;
	memset(rep, 0, sizeof(*rep));
	recording = true;
}

void mpb_lat_end(void)
{
	recording = false;
}

struct mpb_lat *mpb_lat_new(void)
{
	return calloc(1, sizeof(struct mpb_lat));
}

void mpb_lat_merge_rep(struct mpb_lat *into)
{
	if (!rep || !into)
		return;
	for (unsigned i = 0; i < NBUCKETS; i++)
		into->count[i] += rep->count[i];
	into->n += rep->n;
}

void mpb_lat_tail(const struct mpb_lat *h, struct mpb_tail *t)
{
	t->n = h ? (long)h->n : 0;
	t->p50 = quantile(h, 0.5);
	t->p99 = quantile(h, 0.99);
	t->p999 = quantile(h, 0.999);
}

/*
 * What recording costs a round trip: the clock read that ends it (and
 * starts the next) and the record.  Measured here on the scratch record,
 * which is cleared again.
 */
double mpb_lat_overhead_ns(void)
{
	enum { N = 200000 };
	if (!rep)
		return 0;
	mpb_lat_begin();
	int64_t t0 = mpb_now(), prev = t0;
	for (int i = 0; i < N; i++) {
		int64_t t = mpb_now();
		mpb_lat_record(t - prev);
		prev = t;
	}
	double ns = (double)(mpb_now() - t0) / N;
	mpb_lat_end();
	memset(rep, 0, sizeof(*rep));
	return ns;
}
