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
#define MAX_SPIN_NS 1000000 /* the most MPROC_SPIN_NS may ask */
#define MIN_PROBE_NS 200 /* spin at least this long when spinning at all */

/* -1: not yet read; else the cap in ns (0: off). */
static _Atomic int64_t spin_cap = -1;

static int64_t read_cap(void)
{
	int64_t cap = DEFAULT_SPIN_NS;
	const char *env = getenv("MPROC_SPIN_NS");

	if (env) {
		char *end;
		long long v = strtoll(env, &end, 10);
		if (end != env && *end == 0 && v >= 0 && v <= MAX_SPIN_NS)
			cap = v;
	}
	if (mp_cpu_count() < 2)
		cap = 0; /* the holder cannot run while we spin */
	atomic_store_explicit(&spin_cap, cap, memory_order_relaxed);
	return cap;
}

/*
 * Probes.  An estimate that only grows when spinning wins cannot grow back
 * once it has shrunk: two processes playing ping-pong, once both asleep
 * (one was preempted, say), each answer the other after a wake-up, which
 * takes longer than any short spin, so every spin loses and both stay
 * asleep - 2.5 to 100 us a round trip on this machine, against 0.4 us when
 * both spin.  So now and then a wait spins longer than the cap (PROBE_MULT
 * times it), long enough to outlast a wake-up and find out whether the
 * other side answers at once when it is awake.  A probe that wins resets
 * the estimate to what it took; a probe that loses makes the next one
 * twice as rare, so where spinning never pays (one CPU busy with others,
 * an oversubscribed machine) the probes fade to one wait in PROBE_MAX.
 */
#define PROBE_MIN 8
#define PROBE_MAX 256
#define PROBE_MULT 5

static _Thread_local struct {
	unsigned count, every;
	bool on; /* the current spin is a probe */
} probe __attribute__((tls_model("initial-exec")));

int64_t mp__spin_budget(_Atomic uint32_t *est)
{
	return mp__spin_budget_x(est, 1);
}

int64_t mp__spin_budget_x(_Atomic uint32_t *est, int scale)
{
	int64_t cap = atomic_load_explicit(&spin_cap, memory_order_relaxed);

	if (cap < 0)
		cap = read_cap();
	if (cap == 0)
		return 0;
	/* Scaled, within the bound MPROC_SPIN_NS itself has. */
	cap = cap * scale < MAX_SPIN_NS ? cap * scale : MAX_SPIN_NS;
	if (probe.every == 0)
		probe.every = PROBE_MIN;
	if (++probe.count >= probe.every) {
		probe.count = 0;
		probe.on = true;
		return PROBE_MULT * cap;
	}
	/* Spinning has not paid lately here: leave it to the probes. */
	int64_t e = atomic_load_explicit(est, memory_order_relaxed);
	if (e == 0)
		return 0;
	int64_t b = 2 * e + MIN_PROBE_NS;
	return b < cap ? b : cap;
}

void mp__spin_result(_Atomic uint32_t *est, int64_t spent, bool won)
{
	/* A racy read-modify-write is fine: it is an estimate, and the word
	 * is only a hint shared by all waiters of the object. */
	int64_t e = atomic_load_explicit(est, memory_order_relaxed);

	if (probe.on) {
		probe.on = false;
		probe.every = won ? PROBE_MIN : probe.every * 2 > PROBE_MAX
		                                ? PROBE_MAX : probe.every * 2;
	}
	if (won && spent > e)
		e = spent; /* it needed that long: budget for it at once */
	else if (won)
		e += (spent - e) / 8;
	else
		e -= e / 4 + 1;
	if (e < 0)
		e = 0;
	if (e > 1000000)
		e = 1000000;
	/* The estimate shares its cache line with the object's hot word:
	 * write it only when it moved, not to pull the line over for
	 * nothing. */
	int64_t old = atomic_load_explicit(est, memory_order_relaxed);
	int64_t d = e > old ? e - old : old - e;
	if (d > old / 8 + 16)
		atomic_store_explicit(est, (uint32_t)e, memory_order_relaxed);
}
