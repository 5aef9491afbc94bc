/* bench_pool.c - Pool beside python3's multiprocessing.Pool, and beside
 * running the same work in one process. */
#include "mpbench.h"

#include <errno.h>
#include <stdlib.h>

#include <mproc.h>

static int nothing(const void *in, size_t len, mp_out_t *out);

/*
 * A pool for one repetition, its workers up (one task done) before the
 * clock starts; the case frees it after.  None outlives its case: a pool
 * is a thread and two processes, and a process with a second thread forks
 * slower (every later case forks).  Python's side makes its Pool on first
 * use in the case, untimed too.
 */
static mp_pool_t *bench_pool(void)
{
	mp_pool_attr_t a = { .processes = 2, .sandbox = MP_SANDBOX_COMPUTE };
	mp_pool_t *pool = mp_pool_new(&a, NULL);
	if (pool && mp_pool_apply(pool, nothing, NULL, 0, NULL, NULL) < 0) {
		mp_pool_free(pool);
		pool = NULL;
	}
	return pool;
}

static int plus_one(const void *in, void *out)
{
	*(int *)out = *(const int *)in + 1;
	return 0;
}

static int nothing(const void *in, size_t len, mp_out_t *out)
{
	(void)in, (void)len, (void)out;
	return 0;
}

/* About 2 ms of arithmetic a call on this machine. */
static int crunch(const void *in, void *out)
{
	uint64_t x = *(const uint64_t *)in;
	for (int i = 0; i < 3000000; i++)
		x = x * 6364136223846793005ull + 1442695040888963407ull;
	*(uint64_t *)out = x;
	return 0;
}

static int map_trivial(const struct mpb_case *c, long n, double *value,
                       const char **why)
{
	(void)c, (void)why;
	mp_pool_t *p = bench_pool();
	int *in = malloc((size_t)n * sizeof(int)), *out = malloc((size_t)n * sizeof(int));
	int r = -ENOMEM;
	if (p && in && out) {
		for (long i = 0; i < n; i++)
			in[i] = (int)i;
		int64_t t0 = mpb_now();
		r = mp_pool_map(p, plus_one, in, sizeof(int), (size_t)n, out,
		                sizeof(int), NULL, 0);
		*value = (double)n / ((double)(mpb_now() - t0) / 1e9);
	}
	mp_pool_free(p);
	free(in);
	free(out);
	return r < 0 ? r : 0;
}

static int apply_rt(const struct mpb_case *c, long n, double *value,
                    const char **why)
{
	(void)c, (void)why;
	mp_pool_t *p = bench_pool();
	if (!p)
		return -ENOMEM;
	int r = 0;
	int64_t t0 = mpb_now(), lap = t0;
	for (long i = 0; i < n && r >= 0; i++) {
		r = mp_pool_apply(p, nothing, NULL, 0, NULL, NULL);
		lap = mpb_lat_lap(lap);
	}
	*value = (double)(mpb_now() - t0) / 1e3 / (double)n;
	mp_pool_free(p);
	return r < 0 ? r : 0;
}

static int apply_async_tput(const struct mpb_case *c, long n, double *value,
                            const char **why)
{
	(void)c, (void)why;
	mp_pool_t *p = bench_pool();
	mp_result_t **r = malloc((size_t)n * sizeof(*r));
	if (!p || !r) {
		mp_pool_free(p);
		free(r);
		return -ENOMEM;
	}
	int64_t t0 = mpb_now();
	for (long i = 0; i < n; i++)
		r[i] = mp_pool_apply_async(p, nothing, NULL, 0, NULL, NULL, NULL,
		                           NULL);
	int e = 0;
	for (long i = 0; i < n; i++) {
		if (!r[i] || mp_result_get(r[i], MP_FOREVER, NULL, NULL) < 0)
			e = -EIO;
		mp_result_free(r[i]);
	}
	*value = (double)n / ((double)(mpb_now() - t0) / 1e9);
	mp_pool_free(p);
	free(r);
	return e;
}

static int cpu_bound_pool(const struct mpb_case *c, long n, double *value,
                          const char **why)
{
	(void)c, (void)why;
	mp_pool_t *p = bench_pool();
	uint64_t in[64], out[64];
	int r = p ? 0 : -ENOMEM;
	for (int i = 0; i < 64; i++)
		in[i] = (uint64_t)i;
	int64_t t0 = mpb_now();
	for (long k = 0; k < n && r == 0; k++)
		if (mp_pool_map(p, crunch, in, sizeof(in[0]), 64, out,
		                sizeof(out[0]), NULL, 1) < 0)
			r = -EIO;
	*value = (double)(mpb_now() - t0) / 1e6 / (double)n;
	mp_pool_free(p);
	return r;
}

static int cpu_bound_seq(const struct mpb_case *c, long n, double *value,
                         const char **why)
{
	(void)c, (void)why;
	uint64_t in[64], out[64];
	for (int i = 0; i < 64; i++)
		in[i] = (uint64_t)i;
	int64_t t0 = mpb_now();
	for (long k = 0; k < n; k++)
		for (int i = 0; i < 64; i++) {
			crunch(&in[i], &out[i]);
			mpb_keep(out[i]); /* or the compiler drops the work */
		}
	*value = (double)(mpb_now() - t0) / 1e6 / (double)n;
	return 0;
}

/* From nothing to a pool that has run its first task (teardown is not
 * startup: it is done, untimed, after each). */
static int startup_with(const mp_context_t *ctx, long n, double *value)
{
	int64_t total = 0;
	for (long i = 0; i < n; i++) {
		mp_pool_attr_t a = { .processes = 2,
		                     .sandbox = MP_SANDBOX_COMPUTE,
		                     .context = ctx };
		int err;
		int64_t t0 = mpb_now();
		mp_pool_t *p = mp_pool_new(&a, &err);
		if (!p)
			return err;
		err = mp_pool_apply(p, nothing, NULL, 0, NULL, NULL);
		total += mpb_now() - t0;
		mp_pool_free(p);
		if (err < 0)
			return err;
	}
	*value = (double)total / 1e6 / (double)n;
	return 0;
}

static int startup(const struct mpb_case *c, long n, double *value,
                   const char **why)
{
	(void)c, (void)why;
	return startup_with(mp_get_context("fork", NULL), n, value);
}

/* The server started once, untimed, as at the top of a program's main. */
static int startup_fs(const struct mpb_case *c, long n, double *value,
                      const char **why)
{
	(void)c, (void)why;
	int err = mp_forkserver_start();
	if (err < 0)
		return err;
	return startup_with(mp_get_context("forkserver", NULL), n, value);
}

#define PY_POOL                                                             \
	"import multiprocessing as mp\n"                                    \
	"_ctx = mp.get_context('fork')\n"                                   \
	"_pool = None\n"                                                    \
	"def _p():\n"                                                       \
	"    global _pool\n"                                                \
	"    if _pool is None:\n"                                           \
	"        _pool = _ctx.Pool(2)\n"                                    \
	"    return _pool\n"                                                \
	"def _inc(x):\n"                                                    \
	"    return x + 1\n"                                                \
	"def _nothing():\n"                                                 \
	"    return None\n"

const struct mpb_case mpb_pool_cases[] = {
	{
		.name = "pool.map_trivial/python",
		.unit = "tasks/s",
		.higher_better = true,
		.baseline = "python3 Pool(2).map(x+1) over ints, default chunksize",
		.goal = 20,
		.iters = 1000000,
		.quick_iters = 1000000,
		.run_mproc = map_trivial,
		.python = PY_POOL
			"def bench(n):\n"
			"    xs = list(range(n))\n"
			"    p = _p()\n"
			"    t = time.perf_counter()\n"
			"    p.map(_inc, xs)\n"
			"    return n / (time.perf_counter() - t)\n",
	},
	{
		.name = "pool.apply_rt/python",
		.unit = "us/op",
		.baseline = "python3 Pool(2).apply of a trivial function",
		.goal = 10,
		.iters = 4000,
		.quick_iters = 1000,
		.run_mproc = apply_rt,
		.python = PY_POOL
			"def bench(n):\n"
			"    p = _p()\n"
			"    lat = []\n"
			"    t = t0 = time.perf_counter_ns()\n"
			"    for _ in range(n):\n"
			"        p.apply(_nothing)\n"
			"        u = time.perf_counter_ns()\n"
			"        lat.append(u - t)\n"
			"        t = u\n"
			"    return (t - t0) / n / 1e3, lat\n",
	},
	{
		.name = "pool.apply_async_tput/python",
		.unit = "tasks/s",
		.higher_better = true,
		.baseline = "python3 Pool(2): apply_async n times, then get each",
		.goal = 20,
		.iters = 100000,
		.quick_iters = 20000,
		.run_mproc = apply_async_tput,
		.python = PY_POOL
			"def bench(n):\n"
			"    p = _p()\n"
			"    t = time.perf_counter()\n"
			"    rs = [p.apply_async(_nothing) for _ in range(n)]\n"
			"    for r in rs:\n"
			"        r.get()\n"
			"    return n / (time.perf_counter() - t)\n",
	},
	{
		.name = "pool.cpu_bound/sequential",
		.unit = "ms/batch",
		.baseline = "the same 64 CPU-bound calls in one process",
		.goal = 1.8,
		.iters = 3,
		.quick_iters = 1,
		.run_mproc = cpu_bound_pool,
		.run_baseline = cpu_bound_seq,
	},
	{
		.name = "pool.startup/python",
		.unit = "ms/op",
		.baseline = "python3 Pool(2) created and its first apply done "
		            "(teardown untimed); mproc's workers sandboxed",
		.goal = 10,
		.iters = 20,
		.quick_iters = 8,
		.run_mproc = startup,
		.python =
			"import multiprocessing as mp\n"
			"_ctx = mp.get_context('fork')\n"
			"def _nothing():\n"
			"    return None\n"
			"def bench(n):\n"
			"    total = 0.0\n"
			"    for _ in range(n):\n"
			"        t = time.perf_counter()\n"
			"        p = _ctx.Pool(2)\n"
			"        p.apply(_nothing)\n"
			"        total += time.perf_counter() - t\n"
			"        p.terminate()\n"
			"        p.join()\n"
			"    return total / n * 1e3\n",
	},
	{
		.name = "pool.startup/python_forkserver",
		.unit = "ms/op",
		.baseline = "python3 Pool(2), forkserver context, created and "
		            "its first apply done; mproc's likewise, sandboxed",
		.goal = 20,
		.iters = 20,
		.quick_iters = 8,
		.run_mproc = startup_fs,
		.python =
			"import multiprocessing as mp, os\n"
			"_ctx = mp.get_context('forkserver')\n"
			"def bench(n):\n"
			"    _ctx.Process(target=os.getpid).start()\n"
			"    total = 0.0\n"
			"    for _ in range(n):\n"
			"        t = time.perf_counter()\n"
			"        p = _ctx.Pool(2)\n"
			"        p.apply(os.getpid)\n"
			"        total += time.perf_counter() - t\n"
			"        p.terminate()\n"
			"        p.join()\n"
			"    return total / n * 1e3\n",
	},
	{ 0 },
};
