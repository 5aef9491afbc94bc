/*
 * pool_starmap - the seed's starmap example: each argument tuple is
 * unpacked into the task's arguments.
 *
 * Python:
 *     def f(x, y):
 *         time.sleep(x)
 *         return print('当前任务：%s' % y)
 *     with Pool(processes=4) as pool:
 *         pool.starmap(f, [(1, 1), (2, 2), (3, 3)])
 *         print(time.time() - start)
 *
 * In C the tuple is a struct.  Sleeps x * unit seconds (unit default 0.1).
 *
 *   pool_starmap [unit]
 */
#include "example.h"

static double unit = 0.1;

struct args {
	int x, y;
};

static int f(const void *in, void *out)
{
	const struct args *a = in;
	ex_sleep_ms((long)(a->x * unit * 1000));
	printf("当前任务：%d\n", a->y);
	fflush(stdout);
	*(int *)out = a->y;
	return 0;
}

int main(int argc, char **argv)
{
	if (argc > 1)
		unit = atof(argv[1]);
	mp_pool_t *pool = ex_pool(4);
	int err;
	struct args tuples[3] = { { 1, 1 }, { 2, 2 }, { 3, 3 } };
	int out[3];
	double start = ex_now();
	err = mp_pool_starmap(pool, f, tuples, sizeof(tuples[0]), 3, out,
	                      sizeof(int), NULL, 1);
	ex_check(err, "starmap");
	printf("[%d, %d, %d]\n", out[0], out[1], out[2]);
	printf("%.3f\n", ex_now() - start);
	return mp_pool_free(pool) < 0;
}
