/*
 * semaphore - the seed's Semaphore example: Semaphore(2) lets two of the
 * three processes into the critical section at a time.
 *
 * Python:
 *     def test(index, s: Semaphore):
 *         with s:
 *             start = time.time()
 *             print('%s：进入临界区' % index)
 *             time.sleep(3)
 *             print('%s：退出临界区,用时%s' % (index, time.time() - start))
 *
 *     s = Semaphore(2)
 *     for i in 1, 2, 3: Process(target=test, args=(i, s)).start()
 *     print('.....end')
 *
 * The seed sleeps 3 s; this sleeps sleep_ms (default 300).
 *
 *   semaphore [sleep_ms]
 */
#include "example.h"

static mp_sem_t *s;
static long sleep_ms;

static int test(void *arg)
{
	int index = *(int *)arg;

	ex_check(mp_sem_acquire(s, MP_FOREVER), "acquire"); /* with s: */
	double start = ex_now();
	printf("%d：进入临界区\n", index);
	ex_sleep_ms(sleep_ms);
	printf("%d：退出临界区,用时%.6f\n", index, ex_now() - start);
	ex_check(mp_sem_release(s, 1), "release");
	return 0;
}

int main(int argc, char **argv)
{
	static int index[3] = { 1, 2, 3 };
	mp_process_t *p[3];
	int err = 0;

	ex_init();
	sleep_ms = ex_arg(argc, argv, 1, 300);
	s = mp_sem_new(2, false, &err);
	if (!s)
		ex_check(err, "mp_sem_new");
	for (int i = 0; i < 3; i++)
		p[i] = ex_start(test, &index[i]);
	printf(".....end\n");
	for (int i = 0; i < 3; i++)
		ex_join(p[i]);
	ex_check(mp_sem_free(s), "mp_sem_free");
	return 0;
}
