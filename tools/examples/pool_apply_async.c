/*
 * pool_apply_async - the seed's apply_async example: both tasks start at
 * once and run side by side, so the pair takes about one task's time.
 *
 * Python:
 *     with Pool(processes=4) as pool:
 *         start = time.time()
 *         r = pool.apply_async(f, (2,)); s = pool.apply_async(f, (2,))
 *         r.get(); s.get()
 *         print(time.time() - start)          # about 2
 *
 * Sleeps `secs` (default 0.2) instead of 2 s; prints when each task ran.
 *
 *   pool_apply_async [secs]
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
	mp_result_t *r = mp_pool_apply_async(pool, f, &x, sizeof(x), NULL, NULL,
	                                     NULL, &err);
	mp_result_t *s = mp_pool_apply_async(pool, f, &x, sizeof(x), NULL, NULL,
	                                     NULL, &err);
	if (!r || !s) {
		fprintf(stderr, "apply_async: %s\n", mp_strerror(err));
		return 1;
	}
	mp_result_t *res[2] = { r, s };
	for (int i = 0; i < 2; i++) {
		double *span = NULL;
		size_t len;
		if ((err = mp_result_get(res[i], MP_FOREVER, (void **)&span,
		                         &len)) < 0) {
			fprintf(stderr, "get: %s\n", mp_strerror(err));
			return 1;
		}
		printf("task %d ran %.3f..%.3f\n", i + 1, span[0] - start,
		       span[1] - start);
		free(span);
		mp_result_free(res[i]);
	}
	printf("%.3f\n", now() - start);
	return mp_pool_free(pool) < 0;
}
