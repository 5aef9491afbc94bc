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
#include "example.h"

int main(int argc, char **argv)
{
	double x = argc > 1 ? atof(argv[1]) : 0.2;
	mp_pool_t *pool = ex_pool(4);
	int err;
	double start = ex_now();
	mp_result_t *r = mp_pool_apply_async(pool, ex_sleep_task, &x, sizeof(x), NULL, NULL,
	                                     NULL, &err);
	mp_result_t *s = mp_pool_apply_async(pool, ex_sleep_task, &x, sizeof(x), NULL, NULL,
	                                     NULL, &err);
	ex_check(r && s ? 0 : err, "apply_async");
	mp_result_t *res[2] = { r, s };
	for (int i = 0; i < 2; i++) {
		double *span = NULL;
		size_t len;
		ex_check(mp_result_get(res[i], MP_FOREVER, (void **)&span, &len),
		         "get");
		printf("task %d ran %.3f..%.3f\n", i + 1, span[0] - start,
		       span[1] - start);
		free(span);
		mp_result_free(res[i]);
	}
	printf("%.3f\n", ex_now() - start);
	return mp_pool_free(pool) < 0;
}
