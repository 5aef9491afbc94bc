/*
 * producer_consumer2 - the seed's second Condition example: two
 * Conditions, one for the producer and one for the consumer, and the
 * Value's own lock around each step, so that "the consumer consumes while
 * the producer produces".
 *
 * Python (the seed):
 *     def producer(product, c):          # c: producer_c
 *         with c:
 *             MAX = 5
 *             while True:
 *                 with product:
 *                     if product.value < MAX:
 *                         product.value += 1
 *                         time.sleep(1)
 *                         print('生产一个产品，当前产品数:%s' % product.value)
 *                     else:
 *                         print('仓库已满,唤醒消费者')
 *                         c.notify()
 *                         print('生产者等待')
 *                         c.wait()
 *     # consumer(product, c) likewise with consumer_c, value -= 1, and
 *     # '消费一个产品，当前产品数：%s', '没有多余的产品，唤醒生产者', '消费者等待'
 *
 *     product = Value('i', 3)
 *     producer_c = Condition()
 *     consumer_c = Condition()
 *     Process(target=producer, args=(product, producer_c)).start()
 *     Process(target=consumer, args=(product, consumer_c)).start()
 *
 * As written, that hangs the first time the store is full or empty: each
 * process notifies and waits on its own Condition, which nobody else ever
 * notifies, and it waits inside `with product`, still holding the Value's
 * lock, so the other process cannot even take a step.  (Checked with
 * python3: it stops after "生产者等待".)  This program keeps the two
 * Conditions and the per-step `with product`, and does what the seed's
 * text describes: both Conditions are made over the Value's lock
 * (Condition(product.get_lock())), so waiting releases it, and each side
 * notifies the other side's Condition.  The seed's outer `with c:` held a
 * lock nobody else used; over the Value's lock it would shut the other
 * process out, so it is left out.
 *
 * As in producer_consumer, each side waits `rounds` times (default 3) and
 * sleeps sleep_ms (default 100) per item.
 *
 *   producer_consumer2 [rounds] [sleep_ms]
 */
#include "example.h"

struct shared {
	mp_value_t product;
	mp_cond_t producer_c, consumer_c;
};

struct side {
	const char *name;         /* 生产者 / 消费者 */
	int delta;                /* +1 / -1 */
	mp_cond_t *c, *other;
};

static struct shared *sh;
static long rounds, sleep_ms;

/* One step under `with product:`.  Returns 1 when the side is done. */
static int step(const struct side *s, long *waits)
{
	int64_t n;
	int done = 0;

	ex_check(mp_value_acquire(&sh->product, MP_FOREVER), "acquire");
	ex_check(mp_value_get_i64(&sh->product, &n, MP_FOREVER), "get");
	if (s->delta > 0 ? n < 5 : n > 0) {
		ex_check(mp_value_add_i64(&sh->product, s->delta, &n,
		                          MP_FOREVER), "add");
		ex_sleep_ms(sleep_ms);
		printf(s->delta > 0 ? "生产一个产品，当前产品数:%lld\n"
		                    : "消费一个产品，当前产品数：%lld\n",
		       (long long)n);
	} else {
		printf(s->delta > 0 ? "仓库已满,唤醒消费者\n"
		                    : "没有多余的产品，唤醒生产者\n");
		ex_check(mp_cond_notify(s->other, 1), "notify");
		if ((*waits)++ == rounds) {
			done = 1;
		} else {
			printf("%s等待\n", s->name);
			ex_check(mp_cond_wait(s->c, MP_FOREVER), "wait");
		}
	}
	ex_check(mp_value_release(&sh->product), "release");
	return done;
}

static int run(void *arg)
{
	const struct side *s = arg;
	long waits = 0;

	while (!step(s, &waits))
		;
	printf("%s结束\n", s->name);
	return 0;
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
	void *lock = mp_value_get_lock(&sh->product); /* an RLock */
	ex_check(mp_cond_init(&sh->producer_c, lock, true), "Condition");
	ex_check(mp_cond_init(&sh->consumer_c, lock, true), "Condition");
	static struct side prod = { "生产者", +1, NULL, NULL };
	static struct side cons = { "消费者", -1, NULL, NULL };
	prod.c = cons.other = &sh->producer_c;
	cons.c = prod.other = &sh->consumer_c;
	mp_process_t *p = ex_start(run, &prod);
	mp_process_t *p1 = ex_start(run, &cons);
	printf(".....end\n");
	ex_join(p);
	ex_join(p1);
	int64_t n;
	ex_check(mp_value_get_i64(&sh->product, &n, 0), "get");
	printf("最终产品数：%lld\n", (long long)n);
	return 0;
}
