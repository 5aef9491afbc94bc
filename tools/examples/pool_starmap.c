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
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include <mproc.h>

static double unit = 0.1;

struct args {
	int x, y;
};

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int f(const void *in, void *out)
{
	const struct args *a = in;
	double s = a->x * unit;
	struct timespec ts = { (time_t)s, (long)((s - (long)s) * 1e9) };
	nanosleep(&ts, NULL);
	printf("当前任务：%d\n", a->y);
	fflush(stdout);
	*(int *)out = a->y;
	return 0;
}

int main(int argc, char **argv)
{
	if (argc > 1)
		unit = atof(argv[1]);
	mp_pool_attr_t attr = { .processes = 4, .sandbox = MP_SANDBOX_COMPUTE };
	int err;
	mp_pool_t *pool = mp_pool_new(&attr, &err);
	if (!pool) {
		fprintf(stderr, "pool: %s\n", mp_strerror(err));
		return 1;
	}
	struct args tuples[3] = { { 1, 1 }, { 2, 2 }, { 3, 3 } };
	int out[3];
	double start = now();
	err = mp_pool_starmap(pool, f, tuples, sizeof(tuples[0]), 3, out,
	                      sizeof(int), NULL, 1);
	if (err < 0) {
		fprintf(stderr, "starmap: %s\n", mp_strerror(err));
		return 1;
	}
	printf("[%d, %d, %d]\n", out[0], out[1], out[2]);
	printf("%.3f\n", now() - start);
	return mp_pool_free(pool) < 0;
}
