/*
 * pool_apply - the seed's Pool.apply example: apply blocks until its task
 * is done, so two apply calls run one after the other.
 *
 * Python:
 *     def f(x): return time.sleep(x)
 *     with Pool(processes=4) as pool:
 *         start = time.time()
 *         pool.apply(f, (2,)); pool.apply(f, (2,))
 *         print(time.time() - start)          # about 4
 *
 * The seed sleeps 2 s per call; we sleep `secs` (default 0.2).  Each task
 * also reports when it ran, relative to the start, so the order shows.
 *
 *   pool_apply [secs]
 */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include <mproc.h>

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* f(x): sleep x seconds; out: [started, ended] in absolute seconds. */
static int f(const void *in, size_t len, mp_out_t *out)
{
	double x = *(const double *)in, span[2] = { now(), 0 };
	struct timespec ts = { (time_t)x, (long)((x - (long)x) * 1e9) };
	(void)len;
	nanosleep(&ts, NULL);
	span[1] = now();
	return mp_out_write(out, span, sizeof(span));
}

int main(int argc, char **argv)
{
	double x = argc > 1 ? atof(argv[1]) : 0.2;
	mp_pool_attr_t attr = { .processes = 4, .sandbox = MP_SANDBOX_COMPUTE };
	int err;
	mp_pool_t *pool = mp_pool_new(&attr, &err);
	if (!pool) {
		fprintf(stderr, "pool: %s\n", mp_strerror(err));
		return 1;
	}
	double start = now();
	for (int i = 0; i < 2; i++) {
		double *span = NULL;
		size_t len;
		err = mp_pool_apply(pool, f, &x, sizeof(x), (void **)&span, &len);
		if (err < 0) {
			fprintf(stderr, "apply: %s\n", mp_strerror(err));
			return 1;
		}
		printf("task %d ran %.3f..%.3f\n", i + 1, span[0] - start,
		       span[1] - start);
		free(span);
	}
	printf("%.3f\n", now() - start);
	return mp_pool_free(pool) < 0;
}
