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
#include "example.h"

int main(int argc, char **argv)
{
	double x = argc > 1 ? atof(argv[1]) : 0.2;
	mp_pool_t *pool = ex_pool(4);
	int err;
	double start = ex_now();
	for (int i = 0; i < 2; i++) {
		double *span = NULL;
		size_t len;
		err = mp_pool_apply(pool, ex_sleep_task, &x, sizeof(x), (void **)&span, &len);
		ex_check(err, "apply");
		printf("task %d ran %.3f..%.3f\n", i + 1, span[0] - start,
		       span[1] - start);
		free(span);
	}
	printf("%.3f\n", ex_now() - start);
	return mp_pool_free(pool) < 0;
}
