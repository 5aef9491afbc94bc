/*
 * event - the seed's Event example: the consumer waits until the producer
 * sets the event.
 *
 * Python:
 *     def producer(e):
 *         print('开始生产产品')
 *         time.sleep(3)
 *         print('生产完成')
 *         e.set()
 *
 *     def consumer(e):
 *         print('等待产品')
 *         e.wait()
 *         print('获得产品')
 *
 *     e = Event()
 *     e.clear()
 *     Process(target=producer, args=(e,)).start()
 *     Process(target=consumer, args=(e,)).start()
 *     print('.....end')
 *
 * The seed sleeps 3 s; this sleeps sleep_ms (default 300).
 *
 *   event [sleep_ms]
 */
#include "example.h"

static mp_event_t *e;
static long sleep_ms;

static int producer(void *arg)
{
	(void)arg;
	printf("开始生产产品\n");
	ex_sleep_ms(sleep_ms);
	printf("生产完成\n");
	ex_check(mp_event_set(e), "set");
	return 0;
}

static int consumer(void *arg)
{
	(void)arg;
	printf("等待产品\n");
	ex_check(mp_event_wait(e, MP_FOREVER), "wait");
	printf("获得产品\n");
	return 0;
}

int main(int argc, char **argv)
{
	int err = 0;

	ex_init();
	sleep_ms = ex_arg(argc, argv, 1, 300);
	e = mp_event_new(&err);
	if (!e)
		ex_check(err, "mp_event_new");
	ex_check(mp_event_clear(e), "clear");
	mp_process_t *p = ex_start(producer, NULL);
	mp_process_t *p1 = ex_start(consumer, NULL);
	printf(".....end\n");
	ex_join(p);
	ex_join(p1);
	ex_check(mp_event_free(e), "mp_event_free");
	return 0;
}
