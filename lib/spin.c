/*
 * spin.c - bounded adaptive spinning before a futex sleep.
 *
 * Why spin at all: on this class of machine a sleeping hand-off between
 * cores costs 13-20 us, a cache-line round trip 0.1-0.4 us.  When the other
 * side is running on another CPU and about to act, waiting a few
 * microseconds on the cache line wins by two orders of magnitude.  When it
 * is not (one CPU, oversubscription, long critical sections), spinning only
 * burns the time the other side needs: the estimate then decays and the
 * budget with it.
 */
#include "internal.h"

#include <stdlib.h>

#define DEFAULT_SPIN_NS 4000
#define MIN_PROBE_NS 200 /* even a cold estimate probes this long */

/* -1: not yet read; else the cap in ns (0: off). */
static _Atomic int64_t spin_cap = -1;

static int64_t read_cap(void)
{
	int64_t cap = DEFAULT_SPIN_NS;
	const char *env = getenv("MPROC_SPIN_NS");

	if (env) {
		char *end;
		long long v = strtoll(env, &end, 10);
		if (end != env && *end == 0 && v >= 0 && v <= 1000000)
			cap = v;
	}
	if (mp_cpu_count() < 2)
		cap = 0; /* the holder cannot run while we spin */
	atomic_store_explicit(&spin_cap, cap, memory_order_relaxed);
	return cap;
}

int64_t mp__spin_budget(_Atomic uint32_t *est)
{
	int64_t cap = atomic_load_explicit(&spin_cap, memory_order_relaxed);

	if (cap < 0)
		cap = read_cap();
	if (cap == 0)
		return 0;
	int64_t b = 2 * (int64_t)atomic_load_explicit(est, memory_order_relaxed)
	            + MIN_PROBE_NS;
	return b < cap ? b : cap;
}

void mp__spin_result(_Atomic uint32_t *est, int64_t spent, bool won)
{
	/* A racy read-modify-write is fine: it is an estimate, and the word
	 * is only a hint shared by all waiters of the object. */
	int64_t e = atomic_load_explicit(est, memory_order_relaxed);

	if (won)
		e += (spent - e) / 8;
	else
		e -= e / 4 + 1;
	if (e < 0)
		e = 0;
	if (e > 1000000)
		e = 1000000;
	atomic_store_explicit(est, (uint32_t)e, memory_order_relaxed);
}
