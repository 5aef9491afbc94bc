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

/* ---- helpers for the sync examples -------------------------------------- */

struct lines {
	char *v[512];
	int n;
	char buf[65536];
};

/* Split out into lines (a copy). */
static void split(const char *out, struct lines *ls)
{
	snprintf(ls->buf, sizeof(ls->buf), "%s", out);
	ls->n = 0;
	for (char *save = NULL, *l = strtok_r(ls->buf, "\n", &save);
	     l && ls->n < 512; l = strtok_r(NULL, "\n", &save))
		ls->v[ls->n++] = l;
}

/* Index of the first line (from `from`) that contains needle, or -1. */
static int find(const struct lines *ls, const char *needle, int from)
{
	for (int i = from < 0 ? 0 : from; i < ls->n; i++)
		if (strstr(ls->v[i], needle))
			return i;
	return -1;
}

static int count(const struct lines *ls, const char *needle)
{
	int n = 0;
	for (int i = 0; i < ls->n; i++)
		n += strstr(ls->v[i], needle) != NULL;
	return n;
}

/* "<index>：<what>" */
static int find_idx(const struct lines *ls, int index, const char *what)
{
	char needle[128];
	snprintf(needle, sizeof(needle), "%d：%s", index, what);
	return find(ls, needle, 0);
}

/* ---- Lock ------------------------------------------------------------------- */

/* Seed: two processes pass through one critical section; each enters once
 * and leaves after it entered. */
static void test_lock_critical_section(void)
{
	struct run_result r;
	struct lines ls;
	run_example("lock_critical_section", NULL, TEST_WAIT_NS, &r);
	MPT_EQ(r.status, 0);
	split(r.out, &ls);
	MPT_EQ(count(&ls, "进入临界区"), 2);
	MPT_EQ(count(&ls, "退出临界区"), 2);
	MPT_EQ(count(&ls, ".....end"), 1);
	for (int i = 1; i <= 2; i++) {
		int in = find_idx(&ls, i, "进入临界区");
		int out = find_idx(&ls, i, "退出临界区");
		MPT_CMP(in, >=, 0);
		MPT_CMP(out, >, in);
	}
}

/* Seed: the lock is never released, the second process blocks.  Ours says
 * so after its timeout; the holder's exit then reads as EOWNERDEAD. */
static void test_lock_not_released(void)
{
	struct run_result r;
	struct lines ls;
	const char *args[] = { "200", NULL };
	run_example("lock_not_released", args, TEST_WAIT_NS, &r);
	MPT_EQ(r.status, 0);
	split(r.out, &ls);
	MPT_EQ(count(&ls, "进入临界区"), 2); /* one "进入", one "仍未进入" */
	MPT_EQ(count(&ls, "仍未进入临界区"), 1);
	int holder = find_idx(&ls, 1, "进入临界区") >= 0 ? 1 : 2;
	MPT_CMP(find_idx(&ls, holder, "进入临界区"), >=, 0);
	MPT_CMP(find_idx(&ls, 3 - holder, "等待 200 ms 后仍未进入临界区"), >, 
	        find_idx(&ls, holder, "进入临界区"));
	MPT_EQ(count(&ls, "退出临界区"), 0);
	MPT_EQ(find(&ls, "EOWNERDEAD", 0), ls.n - 1);
}

/* Seed (with): the critical section sleeps holding the lock, so the second
 * process enters only after the first left: enter, exit, enter, exit. */
static void test_lock_with(void)
{
	struct run_result r;
	struct lines ls;
	const char *args[] = { "50", NULL };
	run_example("lock_with", args, TEST_WAIT_NS, &r);
	MPT_EQ(r.status, 0);
	split(r.out, &ls);
	int first = find(&ls, "进入临界区", 0);
	CU_ASSERT_FATAL(first >= 0);
	int a = ls.v[first][0] - '0', b = 3 - a;
	MPT_EQ(find_idx(&ls, a, "退出临界区,用时"), find(&ls, "临界区", first + 1));
	MPT_CMP(find_idx(&ls, b, "进入临界区"), >, find_idx(&ls, a, "退出临界区"));
	MPT_CMP(find_idx(&ls, b, "退出临界区,用时"), >,
	        find_idx(&ls, b, "进入临界区"));
	MPT_EQ(count(&ls, "临界区"), 4);
}

/* ---- Semaphore --------------------------------------------------------------- */

/* Seed: Semaphore(2) lets two of three processes in at a time: replaying
 * the lines, never more than two inside, and two at once at some point. */
static void test_semaphore(void)
{
	struct run_result r;
	struct lines ls;
	const char *args[] = { "300", NULL };
	run_example("semaphore", args, TEST_WAIT_NS, &r);
	MPT_EQ(r.status, 0);
	split(r.out, &ls);
	int inside = 0, most = 0;
	for (int i = 0; i < ls.n; i++) {
		if (strstr(ls.v[i], "进入临界区"))
			inside++;
		if (strstr(ls.v[i], "退出临界区"))
			inside--;
		most = inside > most ? inside : most;
	}
	MPT_EQ(most, 2);
	MPT_EQ(inside, 0);
	for (int i = 1; i <= 3; i++)
		MPT_CMP(find_idx(&ls, i, "退出临界区"), >,
		        find_idx(&ls, i, "进入临界区"));
}

/* ---- Condition and Value --------------------------------------------------- */

/*
 * Replay a producer/consumer run: every count printed is one more (made)
 * or one less (used) than the one before, starting from Value('i', 3);
 * "full" only at 5, "empty" only at 0; each side waits `rounds` times and
 * ends; the final count is the last one printed.
 */
static void check_store(const char *name, int rounds)
{
	struct run_result r;
	struct lines ls;
	char rs[16];
	snprintf(rs, sizeof(rs), "%d", rounds);
	const char *args[] = { rs, "2", NULL };
	run_example(name, args, TEST_WAIT_NS, &r);
	MPT_EQ(r.status, 0);
	split(r.out, &ls);
	int n = 3, bad = 0, made = 0, used = 0;
	for (int i = 0; i < ls.n; i++) {
		const char *l = ls.v[i], *num;
		if ((num = strstr(l, "当前产品数:"))) {
			bad += atoi(num + strlen("当前产品数:")) != ++n;
			made++;
		} else if ((num = strstr(l, "当前产品数："))) {
			bad += atoi(num + strlen("当前产品数：")) != --n;
			used++;
		} else if (strstr(l, "仓库已满")) {
			bad += n != 5;
		} else if (strstr(l, "没有多余的产品")) {
			bad += n != 0;
		} else if ((num = strstr(l, "最终产品数："))) {
			bad += atoi(num + strlen("最终产品数：")) != n;
		}
		if (n < 0 || n > 5)
			bad++;
	}
	MPT_EQ(bad, 0);
	MPT_EQ(count(&ls, "生产者等待"), rounds);
	MPT_EQ(count(&ls, "消费者等待"), rounds);
	MPT_EQ(count(&ls, "仓库已满,唤醒消费者"), rounds + 1);
	MPT_EQ(count(&ls, "没有多余的产品，唤醒生产者"), rounds + 1);
	MPT_EQ(count(&ls, "生产者结束"), 1);
	MPT_EQ(count(&ls, "消费者结束"), 1);
	MPT_EQ(find(&ls, "最终产品数", 0), ls.n - 1);
	MPT_EQ(3 + made - used, n);
	MPT_CMP(made, >=, 5 * rounds); /* it really went round */
}

static void test_producer_consumer(void)
{
	check_store("producer_consumer", 3);
	check_store("producer_consumer", 0);
}

static void test_producer_consumer2(void)
{
	check_store("producer_consumer2", 3);
	check_store("producer_consumer2", 0);
}

/* ---- Event ------------------------------------------------------------------ */

/* Seed: the consumer gets the product only after the producer is done. */
static void test_event(void)
{
	struct run_result r;
	struct lines ls;
	const char *args[] = { "100", NULL };
	run_example("event", args, TEST_WAIT_NS, &r);
	MPT_EQ(r.status, 0);
	split(r.out, &ls);
	int start = find(&ls, "开始生产产品", 0), done = find(&ls, "生产完成", 0);
	int waiting = find(&ls, "等待产品", 0), got = find(&ls, "获得产品", 0);
	CU_ASSERT(start >= 0 && waiting >= 0);
	MPT_CMP(done, >, start);
	MPT_CMP(got, >, done);
	MPT_CMP(got, >, waiting);
	MPT_EQ(ls.n, 5); /* those four and .....end */
}

int main(void)
{
	static CU_TestInfo tests[] = {
		{ "process run/start", test_process_run_start },
		{ "lock: critical section", test_lock_critical_section },
		{ "lock: never released", test_lock_not_released },
		{ "lock: with", test_lock_with },
		{ "semaphore(2) of three", test_semaphore },
		{ "producer/consumer, one condition", test_producer_consumer },
		{ "producer/consumer, two conditions", test_producer_consumer2 },
		{ "event", test_event },
		CU_TEST_INFO_NULL,
	};
	return mpt_main("examples", tests);
}
