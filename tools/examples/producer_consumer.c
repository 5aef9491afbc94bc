/*
 * producer_consumer - the seed's first Condition example: a producer and a
 * consumer share Value('i', 3) and one Condition.
 *
 * Python:
 *     def producer(product, c):
 *         with c:
 *             MAX = 5
 *             while True:
 *                 if product.value < MAX:
 *                     product.value += 1
 *                     time.sleep(1)
 *                     print('生产一个产品，当前产品数:%s' % product.value)
 *                 else:
 *                     print('仓库已满,唤醒消费者')
 *                     c.notify()
 *                     print('生产者等待')
 *                     c.wait()
 *
 *     def consumer(product, c):
 *         c.acquire()
 *         while True:
 *             if product.value > 0:
 *                 product.value -= 1
 *                 time.sleep(1)
 *                 print('消费一个产品，当前产品数：%s' % product.value)
 *             else:
 *                 print('没有多余的产品，唤醒生产者')
 *                 c.notify()
 *                 print('消费者等待')
 *                 c.wait()
 *         c.release()
 *
 *     product = Value('i', 3)
 *     c = Condition()
 *     Process(target=producer, args=(product, c)).start()
 *     Process(target=consumer, args=(product, c)).start()
 *     print('.....end')
 *
 * Each side holds the Condition's lock except while it waits, so they take
 * turns: the producer fills the store to 5 and wakes the consumer, which
 * empties it and wakes the producer.  The seed loops forever and sleeps
 * 1 s per item; here each side waits `rounds` times (default 3) - at its
 * next full or empty store it notifies once more and ends instead of
 * waiting - and sleeps sleep_ms (default 100) per item.
 *
 *   producer_consumer [rounds] [sleep_ms]
 */
#include "example.h"

struct shared {
	mp_value_t product;
	mp_cond_t c;
};

static struct shared *sh;
static long rounds, sleep_ms;

static int producer(void *arg)
{
	int64_t n;
	(void)arg;

	ex_check(mp_cond_acquire(&sh->c, MP_FOREVER), "acquire"); /* with c: */
	for (long waits = 0;;) {
		ex_check(mp_value_get_i64(&sh->product, &n, MP_FOREVER), "get");
		if (n < 5) {
			ex_check(mp_value_add_i64(&sh->product, 1, &n,
			                          MP_FOREVER), "add");
			ex_sleep_ms(sleep_ms);
			printf("生产一个产品，当前产品数:%lld\n", (long long)n);
			continue;
		}
		printf("仓库已满,唤醒消费者\n");
		ex_check(mp_cond_notify(&sh->c, 1), "notify");
		if (waits++ == rounds)
			break;
		printf("生产者等待\n");
		ex_check(mp_cond_wait(&sh->c, MP_FOREVER), "wait");
	}
	printf("生产者结束\n");
	return mp_cond_release(&sh->c) < 0;
}

static int consumer(void *arg)
{
	int64_t n;
	(void)arg;

	ex_check(mp_cond_acquire(&sh->c, MP_FOREVER), "acquire");
	for (long waits = 0;;) {
		ex_check(mp_value_get_i64(&sh->product, &n, MP_FOREVER), "get");
		if (n > 0) {
			ex_check(mp_value_add_i64(&sh->product, -1, &n,
			                          MP_FOREVER), "add");
			ex_sleep_ms(sleep_ms);
			printf("消费一个产品，当前产品数：%lld\n", (long long)n);
			continue;
		}
		printf("没有多余的产品，唤醒生产者\n");
		ex_check(mp_cond_notify(&sh->c, 1), "notify");
		if (waits++ == rounds)
			break;
		printf("消费者等待\n");
		ex_check(mp_cond_wait(&sh->c, MP_FOREVER), "wait");
	}
	printf("消费者结束\n");
	return mp_cond_release(&sh->c) < 0;
}

int main(int argc, char **argv)
{
	int32_t three = 3;
	int err = 0;

	ex_init();
	rounds = ex_arg(argc, argv, 1, 3);
	sleep_ms = ex_arg(argc, argv, 2, 100);
	sh = mp_heap_alloc(sizeof(*sh), &err);
	if (!sh)
		ex_check(err, "mp_heap_alloc");
	ex_check(mp_value_init(&sh->product, 'i', &three, 0), "Value");
	ex_check(mp_cond_init(&sh->c, NULL, false), "Condition");
	mp_process_t *p = ex_start(producer, NULL);
	mp_process_t *p1 = ex_start(consumer, NULL);
	printf(".....end\n");
	ex_join(p);
	ex_join(p1);
	int64_t n;
	ex_check(mp_value_get_i64(&sh->product, &n, 0), "get");
	printf("最终产品数：%lld\n", (long long)n);
	return 0;
}
