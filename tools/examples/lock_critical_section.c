/*
 * lock_critical_section - the seed's first Lock example: two processes,
 * one critical section.
 *
 * Python:
 *     def test(index, l: Lock):
 *         l.acquire()
 *         print('%s：进入临界区', index)
 *         l.release()
 *         print('%s：退出临界区', index)
 *
 *     l = Lock()
 *     Process(target=test, args=(1, l)).start()
 *     Process(target=test, args=(2, l)).start()
 *     print('.....end')
 *
 * The seed hands index to print() as a second argument, so Python prints
 * "%s：进入临界区 1"; this prints what it means, "1：进入临界区".  Only the
 * first line is inside the critical section, so the "退出" lines may come
 * in any order.  As in Python, the main process waits for its children
 * before it ends.
 *
 *   lock_critical_section
 */
#include "example.h"

static mp_lock_t *l;

static int test(void *arg)
{
	int index = *(int *)arg;

	ex_check(mp_lock_acquire(l, MP_FOREVER), "acquire");
	printf("%d：进入临界区\n", index);
	ex_check(mp_lock_release(l), "release");
	printf("%d：退出临界区\n", index);
	return 0;
}

int main(void)
{
	static int one = 1, two = 2;
	int err = 0;

	ex_init();
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
