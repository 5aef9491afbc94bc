/*
 * lock_not_released - the seed's second Lock example: the process that
 * gets the lock never releases it, and the other blocks.
 *
 * Python:
 *     def test(index, l: Lock):
 *         l.acquire()
 *         print('%s：进入临界区', index)
 *         # l.release()
 *         # print('%s：退出临界区', index)
 *
 * In Python the second process blocks forever, and so does the program.
 * Here it waits `timeout_ms` (default 500) and says it is still blocked,
 * so the program ends.  The holder stays alive until then: had it exited
 * still holding the lock, mproc - unlike Python - would have handed the
 * lock to the waiter with EOWNERDEAD.  That is what the main process shows
 * last: it takes the lock after both children ended and is told that its
 * holder died without releasing it.
 *
 *   lock_not_released [timeout_ms]
 */
#include "example.h"

struct shared {
	mp_lock_t lock;
	mp_event_t gave_up; /* the blocked process stopped waiting */
};

static struct shared *sh;
static long timeout_ms;

static int test(void *arg)
{
	int index = *(int *)arg;
	int r = mp_lock_acquire(&sh->lock, MP_MSEC(timeout_ms));

	if (r == -ETIMEDOUT) {
		printf("%d：等待 %ld ms 后仍未进入临界区（锁从未释放，"
		       "Python 会一直阻塞）\n", index, timeout_ms);
		return mp_event_set(&sh->gave_up) < 0;
	}
	ex_check(r, "acquire");
	printf("%d：进入临界区\n", index);
	/* Never released; stay until the other one has given up. */
	ex_check(mp_event_wait(&sh->gave_up, MP_SEC(60)), "wait");
	return 0;
}

int main(int argc, char **argv)
{
	static int one = 1, two = 2;
	int err = 0;

	ex_init();
	timeout_ms = ex_arg(argc, argv, 1, 500);
	sh = mp_heap_alloc(sizeof(*sh), &err);
	if (!sh)
		ex_check(err, "mp_heap_alloc");
	ex_check(mp_lock_init(&sh->lock), "mp_lock_init");
	ex_check(mp_event_init(&sh->gave_up), "mp_event_init");
	mp_process_t *p = ex_start(test, &one);
	mp_process_t *p1 = ex_start(test, &two);
	printf(".....end\n");
	ex_join(p);
	ex_join(p1);
	int r = mp_lock_acquire(&sh->lock, 0);
	if (r != -EOWNERDEAD) {
		fprintf(stderr, "expected EOWNERDEAD, got %s\n", mp_strerror(r));
		return 1;
	}
	printf("主进程：持有锁的进程未释放就退出了 (EOWNERDEAD)\n");
	ex_check(mp_lock_consistent(&sh->lock), "consistent");
	ex_check(mp_lock_release(&sh->lock), "release");
	return 0;
}
