/*
 * test_examples.c - every seed example, as a C program under
 * tools/examples/, behaves as the seed describes.
 */
#include "examples.h"

/* Seed: p.run() runs test() in the main process (no child); ".....end"
 * comes only after it.  p.start() runs it in a child while the main
 * process carries on. */
static void test_process_run_start(void)
{
	struct run_result r;
	const char *run_args[] = { "run", "3", NULL };
	run_example("process_run_start", run_args, TEST_WAIT_NS, &r);
	MPT_EQ(r.status, 0);
	int main_pid = 0;
	CU_ASSERT_FATAL(sscanf(r.out, "main pid %d", &main_pid) == 1);
	char mine[64];
	snprintf(mine, sizeof(mine), ".....1...... (pid %d)", main_pid);
	MPT_EQ(count_lines(r.out, mine), 3);
	MPT_EQ(count_lines(r.out, ".....1......"), 3);
	/* run() returned before ".....end" was printed. */
	CU_ASSERT(strstr(r.out, ".....end") > strstr(r.out, mine));

	const char *start_args[] = { "start", "3", NULL };
	run_example("process_run_start", start_args, TEST_WAIT_NS, &r);
	MPT_EQ(r.status, 0);
	CU_ASSERT_FATAL(sscanf(r.out, "main pid %d", &main_pid) == 1);
	snprintf(mine, sizeof(mine), ".....1...... (pid %d)", main_pid);
	MPT_EQ(count_lines(r.out, mine), 0);            /* not in main */
	MPT_EQ(count_lines(r.out, ".....1......"), 3);  /* in the child */
	MPT_EQ(count_lines(r.out, ".....end"), 1);
}

/* Seed: 4 workers take (func, args) tasks from a queue until 'STOP' and put
 * "<name> says that <func><args> = <result>" on a done queue: 20 mul
 * results, then 10 plus results, each exactly once, unordered. */
static void test_queue_workers(void)
{
	struct run_result r;
	run_example("queue_workers", NULL, MP_SEC(30), &r);
	MPT_EQ(r.status, 0);
	MPT_EQ(count_lines(r.out, "Unordered results:"), 1);
	MPT_EQ(count_lines(r.out, " says that "), 30);
	for (int i = 0; i < 20; i++) {
		char want[64];
		snprintf(want, sizeof(want), " says that mul(%d, 7) = %d", i,
		         i * 7);
		MPT_EQ(count_lines(r.out, want), 1);
	}
	for (int i = 0; i < 10; i++) {
		char want[64];
		snprintf(want, sizeof(want), " says that plus(%d, 8) = %d", i,
		         i + 8);
		MPT_EQ(count_lines(r.out, want), 1);
	}
	/* Every result names one of the four workers. */
	int by_workers = 0;
	for (int w = 1; w <= 4; w++) {
		char name[32];
		snprintf(name, sizeof(name), "Process-%d says", w);
		by_workers += count_lines(r.out, name);
	}
	MPT_EQ(by_workers, 30);
	/* The mul results all come before any plus result. */
	CU_ASSERT(strstr(r.out, "plus(") > strstr(r.out, "mul(19, 7)"));
}

/* The "task N ran a..b" lines of a pool example, as seconds. */
static int spans(const char *out, double span[][2], int max)
{
	int n = 0;
	for (const char *l = out; l && n < max; l = strchr(l, '\n')) {
		int i;
		double a, b;
		if (*l == '\n')
			l++;
		if (sscanf(l, "task %d ran %lf..%lf", &i, &a, &b) == 3) {
			span[n][0] = a;
			span[n][1] = b;
			n++;
		}
	}
	return n;
}

/* Seed: two apply calls run one after the other (the second starts after
 * the first ended), so together they take at least two sleeps. */
static void test_pool_apply(void)
{
	struct run_result r;
	const char *args[] = { "0.2", NULL };
	double s[2][2];
	run_example("pool_apply", args, TEST_WAIT_NS, &r);
	MPT_EQ(r.status, 0);
	MPT_EQ(spans(r.out, s, 2), 2);
	CU_ASSERT(s[1][0] >= s[0][1]);
	CU_ASSERT(s[0][1] - s[0][0] >= 0.2 && s[1][1] - s[1][0] >= 0.2);
}

/* Seed: two apply_async calls run side by side: each started before the
 * other ended. */
static void test_pool_apply_async(void)
{
	struct run_result r;
	const char *args[] = { "0.2", NULL };
	double s[2][2];
	run_example("pool_apply_async", args, TEST_WAIT_NS, &r);
	MPT_EQ(r.status, 0);
	MPT_EQ(spans(r.out, s, 2), 2);
	CU_ASSERT(s[0][0] < s[1][1] && s[1][0] < s[0][1]);
}

/* Seed: map returns the results in input order, whatever order the tasks
 * finished in; starmap unpacks each tuple (each task prints its y). */
static void test_pool_map_starmap(void)
{
	struct run_result r;
	const char *args[] = { "0.05", NULL };
	run_example("pool_map", args, TEST_WAIT_NS, &r);
	MPT_EQ(r.status, 0);
	MPT_EQ(count_lines(r.out, "[3, 1, 2]"), 1);
	run_example("pool_starmap", args, TEST_WAIT_NS, &r);
	MPT_EQ(r.status, 0);
	for (int y = 1; y <= 3; y++) {
		char want[32];
		snprintf(want, sizeof(want), "当前任务：%d", y);
		MPT_EQ(count_lines(r.out, want), 1);
	}
	MPT_EQ(count_lines(r.out, "[1, 2, 3]"), 1);
	/* Task 1 sleeps least: it prints first. */
	CU_ASSERT(strstr(r.out, "当前任务：1") < strstr(r.out, "当前任务：3"));
}

int main(void)
{
	static CU_TestInfo tests[] = {
		{ "process run/start", test_process_run_start },
		{ "queue workers", test_queue_workers },
		{ "pool apply", test_pool_apply },
		{ "pool apply_async", test_pool_apply_async },
		{ "pool map and starmap", test_pool_map_starmap },
		CU_TEST_INFO_NULL,
	};
	return mpt_main("examples", tests);
}
