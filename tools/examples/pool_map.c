/*
 * pool_map - the seed's Pool.map example: all tasks handed out at once,
 * the results returned as one list, in the order of the input.
 *
 * Python:
 *     with Pool(processes=4) as pool:
 *         start = time.time()
 *         pool.map(f, [1, 2, 3])                # f(x) sleeps x seconds
 *         print(time.time() - start)          # about 3: the longest task
 *
 * Sleeps x * unit seconds (unit default 0.1) instead of x seconds, and
 * prints the results, which say which input each came from.
 *
 *   pool_map [unit]
 */
#include "example.h"

static double unit = 0.1;

/* f(x): sleep x units; the result is x itself, so order can be checked. */
static int f(const void *in, void *out)
{
	int x = *(const int *)in;
	ex_sleep_ms((long)(x * unit * 1000));
	*(int *)out = x;
	return 0;
}

int main(int argc, char **argv)
{
	if (argc > 1)
		unit = atof(argv[1]);
	mp_pool_t *pool = ex_pool(4);
	int err;
	int in[3] = { 3, 1, 2 }, out[3]; /* the slowest first */
	double start = ex_now();
	err = mp_pool_map(pool, f, in, sizeof(int), 3, out, sizeof(int), NULL,
	                  1);
	ex_check(err, "map");
	printf("[%d, %d, %d]\n", out[0], out[1], out[2]);
	printf("%.3f\n", ex_now() - start);
	return mp_pool_free(pool) < 0;
}
