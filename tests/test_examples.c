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

int main(void)
{
	static CU_TestInfo tests[] = {
		{ "process run/start", test_process_run_start },
		{ "queue workers", test_queue_workers },
		CU_TEST_INFO_NULL,
	};
	return mpt_main("examples", tests);
}
