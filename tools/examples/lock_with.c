/*
 * lock_with - the seed's Lock example with `with`: the critical section
 * holds the lock while it sleeps, so the second process enters only after
 * the first has left.
 *
 * Python:
 *     def test(index, l: Lock):
 *         with l:
 *             start = time.time()
 *             print('%s：进入临界区' % index)
 *             time.sleep(3)
 *             print('%s：退出临界区,用时%s' % (index, time.time() - start))
 *
 * `with l:` is acquire ... release.  The seed sleeps 3 s; this sleeps
 * sleep_ms (default 300).
 *
 *   lock_with [sleep_ms]
 */
#include "example.h"

static mp_lock_t *l;
static long sleep_ms;

static int test(void *arg)
{
	int index = *(int *)arg;

	ex_check(mp_lock_acquire(l, MP_FOREVER), "acquire"); /* with l: */
	double start = ex_now();
	printf("%d：进入临界区\n", index);
	ex_sleep_ms(sleep_ms);
	printf("%d：退出临界区,用时%.6f\n", index, ex_now() - start);
	ex_check(mp_lock_release(l), "release");
	return 0;
}

int main(int argc, char **argv)
{
	static int one = 1, two = 2;
	int err = 0;

	ex_init();
	sleep_ms = ex_arg(argc, argv, 1, 300);
	l = mp_lock_new(&err);
	if (!l)
		ex_check(err, "mp_lock_new");
	mp_process_t *p = ex_start(test, &one);
	mp_process_t *p1 = ex_start(test, &two);
	printf(".....end\n");
	ex_join(p);
	ex_join(p1);
	ex_check(mp_lock_free(l), "mp_lock_free");
	return 0;
}
