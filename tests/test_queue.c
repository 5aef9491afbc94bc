/* test_queue.c - Queue: semantics, wrap-around, processes x threads, close,
 * JoinableQueue, and SIGKILL of producers and consumers. */
#include "testutil.h"

#include <pthread.h>
#include <signal.h>
#include <sys/mman.h>
#include <unistd.h>

static void test_basic(void)
{
	mp_queue_t *q = mpt_queue(0, 100, 0, 0);
	char buf[200];
	size_t len = 0;
	MPT_EQ(mp_queue_empty(q), 1);
	MPT_EQ(mp_queue_qsize(q), 0);
	MPT_ERR(mp_queue_get(q, buf, sizeof(buf), &len, 0), -EAGAIN);
	int64_t t0 = mp_sys_now_ns();
	MPT_ERR(mp_queue_get(q, buf, sizeof(buf), &len, MP_MSEC(20)),
	        -ETIMEDOUT);
	MPT_CMP(mp_sys_now_ns() - t0, >=, MP_MSEC(20));
	MPT_OK(mp_queue_put(q, "one", 3, MP_FOREVER));
	MPT_OK(mp_queue_put(q, "", 0, MP_FOREVER));
	MPT_OK(mp_queue_put_nowait(q, "three", 5));
	MPT_EQ(mp_queue_qsize(q), 3);
	MPT_EQ(mp_queue_empty(q), 0);
	MPT_OK(mp_queue_get(q, buf, sizeof(buf), &len, 0));
	MPT_EQ(len, 3);
	CU_ASSERT(memcmp(buf, "one", 3) == 0);
	MPT_OK(mp_queue_get(q, buf, sizeof(buf), &len, 0));
	MPT_EQ(len, 0);
	/* Too short: told the size, the message stays. */
	MPT_ERR(mp_queue_get(q, buf, 2, &len, 0), -MP_ETOOSHORT);
	MPT_EQ(len, 5);
	void *m = NULL;
	MPT_OK(mp_queue_get_alloc(q, &m, &len, 0));
	MPT_EQ(len, 5);
	CU_ASSERT(memcmp(m, "three", 5) == 0);
	free(m);
	/* Limits. */
	char big[101] = { 0 };
	MPT_ERR(mp_queue_put(q, big, 101, 0), -EMSGSIZE);
	MPT_OK(mp_queue_put(q, big, 100, 0));
	MPT_EQ(mp_queue_max_msg(q), 100);
	MPT_ERR(mp_queue_put(q, NULL, 5, 0), -EINVAL);
	MPT_ERR(mp_queue_put(q, "x", 1, -3), -EINVAL);
	MPT_ERR(mp_queue_get(q, buf, sizeof(buf), NULL, 0), -EINVAL);
	MPT_ERR(mp_queue_task_done(q), -EOPNOTSUPP);
	MPT_ERR(mp_queue_join(q, 0), -EOPNOTSUPP);
	MPT_OK(mp_queue_free(q));
	MPT_ERR(mp_queue_put(NULL, "x", 1, 0), -EINVAL);
	MPT_ERR(mp_queue_qsize(NULL), -EINVAL);
}

static void test_bad_attr(void)
{
	mp_queue_attr_t a = { .flags = 0x80 };
	int err = 0;
	CU_ASSERT_PTR_NULL(mp_queue_new(&a, &err));
	MPT_ERR(err, -EINVAL);
	a = (mp_queue_attr_t){ .max_msg = (size_t)1 << 40 };
	CU_ASSERT_PTR_NULL(mp_queue_new(&a, &err));
	MPT_ERR(err, -EINVAL);
	MPT_EQ(mp_queue_footprint(&a), 0);
	/* maxsize 0 or negative: no count limit, as in Python. */
	a = (mp_queue_attr_t){ .maxsize = -5, .max_msg = 8, .capacity = 4096 };
	mp_queue_t *q = mp_queue_new(&a, &err);
	CU_ASSERT_PTR_NOT_NULL_FATAL(q);
	int n = 0;
	while (mp_queue_put(q, "12345678", 8, 0) == 0)
		n++;
	/* The ring's bytes are the bound (one header slot stays free). */
	MPT_EQ(n, 4096 / 16 - 1);
	/* full(): not even an empty message fits. */
	while (mp_queue_put(q, "", 0, 0) == 0)
		n++;
	MPT_EQ(mp_queue_full(q), 1);
	mp_queue_free(q);
	/* In place, in memory of our own, checked. */
	char mem[1024] __attribute__((aligned(64)));
	a = (mp_queue_attr_t){ .max_msg = 16, .capacity = 256 };
	MPT_EQ(mp_queue_footprint(&a), 384 + 256);
	a.capacity = 64; /* too small for two records: rounded up */
	MPT_EQ(mp_queue_footprint(&a), 384 + 64);
	a.max_msg = 40;
	MPT_EQ(mp_queue_footprint(&a), 384 + 128);
	a = (mp_queue_attr_t){ .max_msg = 16, .capacity = 256 };
	MPT_ERR(mp_queue_init(mem, 500, &a), -ENOSPC);
	MPT_ERR(mp_queue_init(mem + 8, 1000, &a), -EINVAL);
	MPT_OK(mp_queue_init(mem, sizeof(mem), &a));
	MPT_OK(mp_queue_put((mp_queue_t *)mem, "hi", 2, 0));
	MPT_OK(mp_queue_destroy((mp_queue_t *)mem));
	MPT_ERR(mp_queue_put((mp_queue_t *)mem, "hi", 2, 0), -EINVAL);
}

static void test_maxsize(void)
{
	mp_queue_t *q = mpt_queue(3, 64, 0, 0);
	for (int i = 0; i < 3; i++)
		MPT_OK(mp_queue_put(q, &i, sizeof(i), 0));
	MPT_EQ(mp_queue_full(q), 1);
	MPT_ERR(mp_queue_put(q, "x", 1, 0), -EAGAIN);
	MPT_ERR(mp_queue_put(q, "x", 1, MP_MSEC(10)), -ETIMEDOUT);
	int v;
	size_t len;
	MPT_OK(mp_queue_get(q, &v, sizeof(v), &len, 0));
	MPT_EQ(v, 0);
	MPT_OK(mp_queue_put(q, "x", 1, 0));
	mp_queue_free(q);
}

/* Variable sizes through a small ring: every byte arrives, in order. */
static void test_wraparound(void)
{
	mp_queue_t *q = mpt_queue(0, 200, 512, 0);
	unsigned char out[200], in[200];
	unsigned seed = 7, seed2 = 7;
	int sent = 0, got = 0;
	while (got < 5000) {
		for (;;) {
			size_t len = rand_r(&seed) % 201;
			for (size_t i = 0; i < len; i++)
				out[i] = (unsigned char)(sent + i);
			if (sent >= 5000 || mp_queue_put(q, out, len, 0) != 0) {
				seed = seed2; /* replay the length next time */
				break;
			}
			seed2 = seed;
			sent++;
		}
		size_t len;
		while (mp_queue_get(q, in, sizeof(in), &len, 0) == 0) {
			unsigned s = 7;
			(void)s;
			for (size_t i = 0; i < len; i++)
				if (in[i] != (unsigned char)(got + i)) {
					CU_FAIL("corrupted message");
					mp_queue_free(q);
					return;
				}
			got++;
		}
	}
	MPT_EQ(sent, 5000);
	MPT_EQ(mp_queue_empty(q), 1);
	mp_queue_free(q);
}

/* ---- requests and replies stay in the ring's first window -------------- */

enum { RR_CAP = 1 << 20, RR_TRIPS = 20000 };

struct rr {
	mp_queue_t *in, *out;
};

/* Echo each message back with its first word + 1, until a 0-byte one. */
static int rr_echo(void *arg)
{
	struct rr *e = arg;
	uint32_t m[16];
	size_t len;
	for (;;) {
		if (mp_queue_get(e->in, m, sizeof(m), &len, TEST_WAIT_NS) != 0)
			return 1;
		if (len == 0)
			return 0;
		m[0]++;
		if (mp_queue_put(e->out, m, len, TEST_WAIT_NS) != 0)
			return 2;
	}
}

/* Resident pages of [p, p + len) (a fresh shared mapping: a page is
 * resident once somebody touched it). */
static long resident_pages(void *p, size_t len)
{
	long page = sysconf(_SC_PAGESIZE), n = 0;
	size_t pages = (len + (size_t)page - 1) / (size_t)page;
	unsigned char *v = calloc(pages, 1);
	CU_ASSERT_PTR_NOT_NULL_FATAL(v);
	MPT_OK(mincore(p, len, v) < 0 ? -errno : 0);
	for (size_t i = 0; i < pages; i++)
		n += v[i] & 1;
	free(v);
	return n;
}

/* A queue that is empty at every put (requests and replies) reuses the
 * start of its ring instead of marching through all of it: 20000 round
 * trips of 64 B through 1 MiB rings (1.4 MB of records each way) touch a
 * few pages, every message intact and in order. */
static void test_rewind_footprint(void)
{
	mp_queue_attr_t a = { .max_msg = 64, .capacity = RR_CAP };
	size_t len = mp_queue_footprint(&a);
	void *mem = mmap(NULL, 2 * len, PROT_READ | PROT_WRITE,
	                 MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	CU_ASSERT_FATAL(mem != MAP_FAILED);
	struct rr e = { mem, (mp_queue_t *)((char *)mem + len) };
	MPT_OK(mp_queue_init(e.in, len, &a));
	MPT_OK(mp_queue_init(e.out, len, &a));
	mp_process_t *p = mpt_start(rr_echo, &e);
	uint32_t m[16] = { 0 };
	size_t got = 0;
	for (uint32_t i = 0; i < RR_TRIPS; i++) {
		m[0] = 2 * i;
		m[15] = i;
		if (mp_queue_put(e.in, m, sizeof(m), TEST_WAIT_NS) != 0 ||
		    mp_queue_get(e.out, m, sizeof(m), &got, TEST_WAIT_NS) != 0 ||
		    got != sizeof(m) || m[0] != 2 * i + 1 || m[15] != i) {
			CU_FAIL("round trip lost or corrupted");
			break;
		}
	}
	MPT_OK(mp_queue_put(e.in, m, 0, TEST_WAIT_NS));
	MPT_EQ(mpt_finish(p), 0);
	/* Each queue: its header's page and the first window (one or two
	 * pages, as the ring starts 384 bytes in). */
	long pages = resident_pages(mem, 2 * len);
	fprintf(stderr, " [%ld of %zu pages touched] ", pages,
	        (2 * len + 4095) / 4096);
	MPT_CMP(pages, <=, 6);
	MPT_OK(mp_queue_destroy(e.in));
	MPT_OK(mp_queue_destroy(e.out));
	munmap(mem, 2 * len);
}

/* ---- many producers and consumers, processes and threads ---------------- */

enum { NPROD = 4, NCONS = 3, PER_PROD = 20000, CTHREADS = 2 };

struct msg {
	uint32_t producer, seq, sum;
	uint32_t pad[5];
};

struct mpmc {
	mp_queue_t *q;
	_Atomic uint8_t seen[NPROD][PER_PROD];
	_Atomic uint32_t bad;
};
static struct mpmc *mm;

static int producer(void *arg)
{
	uint32_t id = (uint32_t)(uintptr_t)arg;
	for (uint32_t s = 0; s < PER_PROD; s++) {
		struct msg m = { id, s, id * 7919u + s };
		if (mp_queue_put(mm->q, &m, sizeof(m), TEST_WAIT_NS) != 0)
			return 1;
	}
	return 0;
}

static void *consumer_thread(void *arg)
{
	(void)arg;
	int64_t last[NPROD];
	for (int i = 0; i < NPROD; i++)
		last[i] = -1;
	for (;;) {
		struct msg m;
		size_t len;
		int r = mp_queue_get(mm->q, &m, sizeof(m), &len, TEST_WAIT_NS);
		if (r == -MP_ECLOSED)
			return NULL;
		if (r != 0 || len != sizeof(m) || m.producer >= NPROD ||
		    m.seq >= PER_PROD || m.sum != m.producer * 7919u + m.seq ||
		    (int64_t)m.seq <= last[m.producer]) {
			atomic_fetch_add(&mm->bad, 1);
			return NULL;
		}
		last[m.producer] = m.seq; /* FIFO per producer */
		atomic_fetch_add(&mm->seen[m.producer][m.seq], 1);
	}
}

static int consumer(void *arg)
{
	(void)arg;
	/* Failures are counted in mm->bad; the threads return NULL. */
	return mpt_threads(CTHREADS, consumer_thread, 0);
}

static void test_mpmc(void)
{
	memset(mm, 0, sizeof(*mm));
	mm->q = mpt_queue(0, sizeof(struct msg), 8192, 0);
	mp_process_t *p[NPROD], *c[NCONS];
	for (int i = 0; i < NCONS; i++) {
		c[i] = mp_process_new(consumer, NULL, NULL, 0, NULL);
		MPT_OK(mp_process_start(c[i]));
	}
	for (int i = 0; i < NPROD; i++) {
		p[i] = mp_process_new(producer, (void *)(uintptr_t)i, NULL, 0, NULL);
		MPT_OK(mp_process_start(p[i]));
	}
	for (int i = 0; i < NPROD; i++) {
		int code = -1;
		MPT_OK(mp_process_join(p[i], MP_SEC(60)));
		MPT_OK(mp_process_exitcode(p[i], &code));
		MPT_EQ(code, 0);
		mp_process_free(p[i]);
	}
	MPT_OK(mp_queue_close(mm->q)); /* consumers drain, then see the end */
	for (int i = 0; i < NCONS; i++) {
		MPT_OK(mp_process_join(c[i], MP_SEC(60)));
		mp_process_free(c[i]);
	}
	MPT_EQ(atomic_load(&mm->bad), 0);
	long dup = 0, lost = 0;
	for (int i = 0; i < NPROD; i++)
		for (int s = 0; s < PER_PROD; s++) {
			dup += mm->seen[i][s] > 1;
			lost += mm->seen[i][s] == 0;
		}
	MPT_EQ(dup, 0);
	MPT_EQ(lost, 0);
	MPT_OK(mp_queue_free(mm->q));
}

/* ---- close and destroy wake blocked callers ------------------------------ */

static void *blocked_get(void *arg)
{
	char b[8];
	size_t len;
	return (void *)(intptr_t)mp_queue_get(arg, b, sizeof(b), &len,
	                                      TEST_WAIT_NS);
}

/* Start blocked_get on q in a thread, and see it asleep on q's futex. */
static void start_blocked_get(pthread_t *t, mp_queue_t *q, size_t footprint)
{
	pid_t me = getpid();
	CU_ASSERT_FATAL(pthread_create(t, NULL, blocked_get, q) == 0);
	MPT_OK(mpt_await_futex_sleepers(&me, 1, q, footprint, 1));
}

static void test_close(void)
{
	mp_queue_t *q = mpt_queue(0, 8, 0, 0);
	MPT_OK(mp_queue_put(q, "a", 1, 0));
	MPT_OK(mp_queue_close(q));
	MPT_EQ(mp_queue_closed(q), 1);
	MPT_ERR(mp_queue_put(q, "b", 1, 0), -MP_ECLOSED);
	char b[8];
	size_t len;
	MPT_OK(mp_queue_get(q, b, sizeof(b), &len, MP_FOREVER)); /* drains */
	MPT_ERR(mp_queue_get(q, b, sizeof(b), &len, MP_FOREVER), -MP_ECLOSED);
	MPT_OK(mp_queue_free(q));

	/* A blocked consumer is woken by close, and by destroy. */
	mp_queue_attr_t a = { .max_msg = 8 };
	for (int k = 0; k < 2; k++) {
		q = mpt_queue(0, 8, 0, 0);
		pthread_t t;
		start_blocked_get(&t, q, mp_queue_footprint(&a));
		if (k == 0)
			MPT_OK(mp_queue_close(q));
		else
			MPT_OK(mp_queue_destroy(q));
		void *r;
		pthread_join(t, &r);
		MPT_EQ((intptr_t)r, -MP_ECLOSED);
		if (k == 0)
			MPT_OK(mp_queue_free(q));
		else
			mp_heap_free(q);
	}
}

/* ---- JoinableQueue -------------------------------------------------------- */

static int joinable_worker(void *arg)
{
	mp_queue_t *q = arg;
	char b[16];
	size_t len;
	while (mp_queue_get(q, b, sizeof(b), &len, TEST_WAIT_NS) == 0) {
		usleep(1000);
		if (mp_queue_task_done(q) != 0)
			return 1;
	}
	return 0;
}

static void test_joinable(void)
{
	mp_queue_t *q = mpt_queue(0, 16, 0, MP_QUEUE_JOINABLE);
	MPT_ERR(mp_queue_task_done(q), -EOVERFLOW);
	MPT_OK(mp_queue_join(q, 0)); /* nothing pending */
	for (int i = 0; i < 20; i++)
		MPT_OK(mp_queue_put(q, "task", 4, 0));
	MPT_ERR(mp_queue_join(q, 0), -EAGAIN);
	MPT_ERR(mp_queue_join(q, MP_MSEC(5)), -ETIMEDOUT);
	mp_process_t *w[2];
	for (int i = 0; i < 2; i++) {
		w[i] = mp_process_new(joinable_worker, q, NULL, 0, NULL);
		MPT_OK(mp_process_start(w[i]));
	}
	MPT_OK(mp_queue_join(q, TEST_WAIT_NS));
	MPT_EQ(mp_queue_qsize(q), 0);
	MPT_ERR(mp_queue_task_done(q), -EOVERFLOW);
	mp_queue_close(q);
	for (int i = 0; i < 2; i++) {
		int code = -1;
		MPT_OK(mp_process_join(w[i], TEST_WAIT_NS));
		mp_process_exitcode(w[i], &code);
		MPT_EQ(code, 0);
		mp_process_free(w[i]);
	}
	mp_queue_free(q);
}

/* ---- SIGKILL producers and consumers at random -------------------------- */

enum { KIDS = 1 << 22 };

/* Every message has an id used once (claimed before its put, so a killed
 * producer's successor never sends it again). */
struct killrun {
	mp_queue_t *q;
	_Atomic uint32_t next_id;
	_Atomic uint8_t returned[KIDS];   /* its put returned */
	_Atomic uint8_t seen[KIDS];       /* times a get delivered it */
	_Atomic uint32_t in_get;          /* consumers between get and record */
	_Atomic uint32_t killed_in_get;
	_Atomic uint32_t bad;
};
static struct killrun *kr;

static int kill_producer(void *arg)
{
	(void)arg;
	for (;;) {
		uint32_t id = atomic_fetch_add(&kr->next_id, 1);
		if (id >= KIDS)
			return 0;
		struct msg m = { 0, id, id * 7919u + 13 };
		int r = mp_queue_put(kr->q, &m, sizeof(m), TEST_WAIT_NS);
		if (r == -MP_ECLOSED)
			return 0;
		if (r != 0)
			return 1;
		atomic_store(&kr->returned[id], 1);
	}
}

static int record(const struct msg *m, size_t len)
{
	if (len != sizeof(*m) || m->seq >= KIDS || m->sum != m->seq * 7919u + 13)
		return -1;
	atomic_fetch_add(&kr->seen[m->seq], 1);
	return 0;
}

static int kill_consumer(void *arg)
{
	(void)arg;
	for (;;) {
		struct msg m;
		size_t len;
		/* in_get marks the window in which a kill may take a message
		 * with it (after the get's commit, before we record it). */
		atomic_fetch_add(&kr->in_get, 1);
		int r = mp_queue_get(kr->q, &m, sizeof(m), &len, TEST_WAIT_NS);
		if (r == 0 && record(&m, len) < 0)
			atomic_fetch_add(&kr->bad, 1);
		atomic_fetch_sub(&kr->in_get, 1);
		if (r == -MP_ECLOSED)
			return 0;
		if (r != 0)
			return 1;
	}
}

/* Receipts: the pool's exactly-once take (see test_receipt_kills). */
static struct receipts {
	struct mp__receipt rc[2];
	struct msg held[2];               /* each consumer's last take */
	struct mp__receipt sent[2];       /* each producer's last put */
	_Atomic uint32_t putting[2];      /* the id it is putting */
} *rs;

static int dies_after_put(void *arg)
{
	struct msg m = { 0, 3, 3 * 7919u + 13 };
	if (mp__queue_put_receipt(arg, &m, sizeof(m), 0, &rs->sent[0]) == 0)
		raise(SIGKILL);
	return 1;
}

static int dies_after_take(void *arg)
{
	size_t len;
	if (mp__queue_get_receipt(arg, &rs->held[0], sizeof(rs->held[0]), &len,
	                          0, &rs->rc[0]) == 0)
		raise(SIGKILL);
	return 1;
}

/* Messages delivered; how many twice or more, and how many put and
 * never delivered. */
static long tally(long *dup, long *lost)
{
	long total = 0;
	*dup = *lost = 0;
	for (uint32_t s = 0; s < KIDS; s++) {
		uint8_t n = atomic_load(&kr->seen[s]);
		*dup += n > 1;
		*lost += atomic_load(&kr->returned[s]) && n == 0;
		total += n;
	}
	return total;
}

static mp_process_t *restart(mp_target_t fn)
{
	mp_process_t *p = mp_process_new(fn, NULL, NULL, 0, NULL);
	CU_ASSERT_PTR_NOT_NULL_FATAL(p);
	MPT_OK(mp_process_start(p));
	return p;
}

static void stop(mp_process_t *p)
{
	MPT_OK(mp_process_kill(p));
	MPT_OK(mp_process_join(p, TEST_WAIT_NS));
	mp_process_free(p);
}

/* cap: 4096 wraps every few dozen messages; a larger ring rewinds to its
 * start whenever the consumers have caught up at a window's end. */
static void kill_at_random(size_t cap)
{
	if (!kr)
		kr = mpt_shared(sizeof(*kr));
	memset(kr, 0, sizeof(*kr));
	kr->q = mpt_queue(0, sizeof(struct msg), cap, 0);
	unsigned seed = 99;
	mp_process_t *prod[2], *cons[2];
	for (int i = 0; i < 2; i++) {
		prod[i] = restart(kill_producer);
		cons[i] = restart(kill_consumer);
	}
	int kills = 80;
	for (int round = 0; round < kills; round++) {
		usleep(1000 + rand_r(&seed) % 4000);
		bool is_prod = rand_r(&seed) % 2;
		int i = rand_r(&seed) % 2;
		if (is_prod) {
			stop(prod[i]);
			prod[i] = restart(kill_producer);
			continue;
		}
		uint32_t in_get = atomic_load(&kr->in_get);
		stop(cons[i]);
		if (in_get) {
			/* It may have died inside the window: allow for it,
			 * and take its mark out of the count. */
			atomic_fetch_add(&kr->killed_in_get, 1);
			atomic_fetch_sub(&kr->in_get, 1);
		}
		cons[i] = restart(kill_consumer);
	}
	/* The kills must have landed while messages flowed. */
	MPT_CMP(atomic_load(&kr->next_id), <, KIDS);
	for (int i = 0; i < 2; i++)
		stop(prod[i]);
	/* The consumers drain what was put, then see the end. */
	MPT_OK(mp_queue_close(kr->q));
	for (int i = 0; i < 2; i++) {
		MPT_OK(mp_process_join(cons[i], MP_SEC(30)));
		mp_process_free(cons[i]);
	}
	MPT_EQ(atomic_load(&kr->bad), 0); /* nothing half-written or corrupt */
	long dup, lost, total = tally(&dup, &lost);
	MPT_EQ(dup, 0);
	/* Only a consumer killed between its get and its record may take a
	 * message with it. */
	MPT_CMP(lost, <=, (long)atomic_load(&kr->killed_in_get));
	fprintf(stderr, " [%d kills, %ld delivered, %ld lost to killed "
	        "consumers (allowed %u)] ", kills, total, lost,
	        atomic_load(&kr->killed_in_get));
	mp_queue_free(kr->q);
}

static void test_kill_at_random(void)
{
	kill_at_random(4096);
}

static void test_kill_rewinding(void)
{
	kill_at_random(1 << 16);
}

/* ---- receipts (the pool's exactly-once take) ----------------------------- */

/* Consumer i takes with a receipt and records each message, then clears
 * the receipt: killed between its take and that, the receipt tells.
 * Consumer -1 takes without one. */
static int receipt_consumer(void *arg)
{
	int i = (int)(intptr_t)arg;
	for (;;) {
		struct msg own, *m = i >= 0 ? &rs->held[i] : &own;
		size_t len;
		int r = i < 0 ? mp_queue_get(kr->q, m, sizeof(*m), &len,
		                             TEST_WAIT_NS)
		              : mp__queue_get_receipt(kr->q, m, sizeof(*m), &len,
		                                      TEST_WAIT_NS, &rs->rc[i]);
		if (r == 0 && record(m, len) < 0)
			atomic_fetch_add(&kr->bad, 1);
		if (i >= 0)
			atomic_store(&rs->rc[i].verdict, MP__RECEIPT_NONE);
		if (r == -MP_ECLOSED)
			return 0;
		if (r != 0)
			return 1;
	}
}

static void test_receipt_basics(void)
{
	if (!rs)
		rs = mpt_shared(sizeof(*rs));
	memset(rs, 0, sizeof(*rs));
	mp_queue_t *q = mpt_queue(0, sizeof(struct msg), 4096, 0);
	struct msg m = { 0, 1, 2 }, got;
	size_t len;
	MPT_EQ(mp__queue_receipt_verdict(q, &rs->rc[0]), MP__RECEIPT_NONE);
	MPT_ERR(mp__queue_get_receipt(q, NULL, 8, &len, 0, &rs->rc[0]),
	        -EINVAL);
	MPT_ERR(mp__queue_get_receipt(q, &got, sizeof(got), &len, 0, NULL),
	        -EINVAL);
	MPT_ERR(mp__queue_receipt_verdict(NULL, &rs->rc[0]), -EINVAL);
	MPT_ERR(mp__queue_receipt_verdict(q, NULL), -EINVAL);
	/* Nothing to take, or too long to take: nothing taken. */
	MPT_ERR(mp__queue_get_receipt(q, &got, sizeof(got), &len, 0,
	                              &rs->rc[0]), -EAGAIN);
	MPT_OK(mp_queue_put(q, &m, sizeof(m), 0));
	MPT_ERR(mp__queue_get_receipt(q, &got, 4, &len, 0, &rs->rc[0]),
	        -MP_ETOOSHORT);
	MPT_EQ(mp__queue_receipt_verdict(q, &rs->rc[0]), MP__RECEIPT_NONE);
	/* A consumer dead just after its get: the receipt says it took. */
	m.seq = 2;
	MPT_OK(mp_queue_put(q, &m, sizeof(m), 0));
	mp_process_t *c = mpt_start(dies_after_take, q);
	MPT_OK(mp_process_join(c, TEST_WAIT_NS));
	int code = 0;
	MPT_OK(mp_process_exitcode(c, &code));
	MPT_EQ(code, -SIGKILL);
	mp_process_free(c);
	MPT_EQ(mp__queue_receipt_verdict(q, &rs->rc[0]), MP__RECEIPT_TAKEN);
	MPT_EQ(rs->held[0].seq, 1);
	MPT_OK(mp_queue_get(q, &got, sizeof(got), &len, 0));
	MPT_EQ(got.seq, 2);
	/* A producer dead just after its put: sent, and there to get. */
	MPT_ERR(mp__queue_put_receipt(q, &m, sizeof(m), 0, NULL), -EINVAL);
	MPT_EQ(mp__queue_receipt_verdict(q, &rs->sent[0]), MP__RECEIPT_NONE);
	c = mpt_start(dies_after_put, q);
	MPT_OK(mp_process_join(c, TEST_WAIT_NS));
	mp_process_free(c);
	MPT_EQ(mp__queue_receipt_verdict(q, &rs->sent[0]), MP__RECEIPT_TAKEN);
	MPT_OK(mp_queue_get(q, &got, sizeof(got), &len, 0));
	MPT_EQ(got.seq, 3);
	mp_queue_free(q);
}

/* A receipt storm's state, fresh, and its queue. */
static void storm_setup(void)
{
	if (!kr)
		kr = mpt_shared(sizeof(*kr));
	if (!rs)
		rs = mpt_shared(sizeof(*rs));
	memset(kr, 0, sizeof(*kr));
	memset(rs, 0, sizeof(*rs));
	kr->q = mpt_queue(0, sizeof(struct msg), 4096, 0);
}

/*
 * A round of a receipt storm over two processes: after a pause, one of
 * ps[] is stopped a while (every fifth round) or killed, joined, freed,
 * and its receipt rcs[*i] judged.  The verdict; -1 for a stop.
 */
static int storm_round(mp_process_t **ps, struct mp__receipt *rcs,
                       unsigned *seed, int round, int *i, int *kills,
                       int *stops)
{
	usleep(500 + rand_r(seed) % 3000);
	*i = rand_r(seed) % 2;
	pid_t pid = mp_process_pid(ps[*i]);
	if (round % 5 == 4) {
		*stops += kill(pid, SIGSTOP) == 0;
		usleep(500 + rand_r(seed) % 2000);
		kill(pid, SIGCONT);
		return -1;
	}
	*kills += kill(pid, SIGKILL) == 0;
	MPT_OK(mp_process_join(ps[*i], TEST_WAIT_NS));
	mp_process_free(ps[*i]);
	int v = mp__queue_receipt_verdict(kr->q, &rcs[*i]);
	MPT_CMP(v, >=, MP__RECEIPT_NONE);
	MPT_CMP(v, !=, MP__RECEIPT_PENDING);
	return v;
}

/* Puts with a receipt, the id it puts recorded first (after the last
 * receipt is cleared: a stale TAKEN never stands for the new id). */
static int receipt_producer(void *arg)
{
	int i = (int)(intptr_t)arg;
	for (;;) {
		atomic_store(&rs->sent[i].verdict, MP__RECEIPT_NONE);
		uint32_t id = atomic_fetch_add(&kr->next_id, 1);
		if (id >= KIDS)
			return 0;
		atomic_store(&rs->putting[i], id);
		struct msg m = { 0, id, id * 7919u + 13 };
		int r = mp__queue_put_receipt(kr->q, &m, sizeof(m),
		                              TEST_WAIT_NS, &rs->sent[i]);
		if (r == -MP_ECLOSED)
			return 0;
		if (r != 0)
			return 1;
		atomic_store(&kr->returned[id], 1);
	}
}

/*
 * Producers killed (and stopped) at random: each dead one's last put is
 * judged, and the judgement is the truth - a put judged sent arrives once,
 * one judged not sent never arrives.
 */
static void test_receipt_producer_kills(void)
{
	storm_setup();
	static uint8_t judged[KIDS]; /* 1 sent, 2 not sent */
	memset(judged, 0, sizeof(judged));
	unsigned seed = 5;
	mp_process_t *prod[2];
	mp_process_t *cons = mpt_start(receipt_consumer, (void *)(intptr_t)-1);
	for (int i = 0; i < 2; i++)
		prod[i] = mpt_start(receipt_producer, (void *)(intptr_t)i);
	int kills = 0, stops = 0, sent = 0, unsent = 0;
	for (int round = 0; round < 150; round++) {
		int i, v = storm_round(prod, rs->sent, &seed, round, &i,
		                       &kills, &stops);
		if (v < 0)
			continue;
		uint32_t id = atomic_load(&rs->putting[i]);
		if (v == MP__RECEIPT_TAKEN || v == MP__RECEIPT_LEFT) {
			judged[id] = v == MP__RECEIPT_TAKEN ? 1 : 2;
			sent += v == MP__RECEIPT_TAKEN;
			unsent += v == MP__RECEIPT_LEFT;
		}
		prod[i] = mpt_start(receipt_producer, (void *)(intptr_t)i);
	}
	MPT_CMP(atomic_load(&kr->next_id), <, KIDS);
	for (int i = 0; i < 2; i++)
		stop(prod[i]);
	MPT_OK(mp_queue_close(kr->q));
	MPT_OK(mp_process_join(cons, MP_SEC(30)));
	mp_process_free(cons);
	MPT_EQ(atomic_load(&kr->bad), 0);
	long dup, lost, total = tally(&dup, &lost), wrong = 0;
	for (uint32_t s = 0; s < KIDS; s++) {
		uint8_t n = atomic_load(&kr->seen[s]);
		wrong += (judged[s] == 1 && n != 1) || (judged[s] == 2 && n);
	}
	fprintf(stderr, " [%d kills, %d stops, %ld delivered, last puts: "
	        "%d sent, %d not] ", kills, stops, total, sent, unsent);
	MPT_EQ(dup, 0);
	MPT_EQ(lost, 0);
	MPT_EQ(wrong, 0);
	mp_queue_free(kr->q);
}

/*
 * Consumers killed (and stopped) at random, each death settled as a pool
 * settles its worker's: the dead one's receipt judged, its message put
 * back if it took one it never recorded.  Then nothing is lost at all,
 * and nothing is delivered twice.
 */
static void test_receipt_kills(void)
{
	storm_setup();
	unsigned seed = 7;
	mp_process_t *prod = restart(kill_producer), *cons[2];
	for (int i = 0; i < 2; i++)
		cons[i] = mpt_start(receipt_consumer, (void *)(intptr_t)i);
	int kills = 0, stops = 0, taken = 0, left = 0;
	for (int round = 0; round < 150; round++) {
		int i, v = storm_round(cons, rs->rc, &seed, round, &i,
		                       &kills, &stops);
		if (v < 0)
			continue;
		left += v == MP__RECEIPT_LEFT;
		if (v == MP__RECEIPT_TAKEN &&
		    !atomic_load(&kr->seen[rs->held[i].seq])) {
			taken++;
			MPT_OK(mp_queue_put(kr->q, &rs->held[i],
			                    sizeof(rs->held[i]), TEST_WAIT_NS));
		}
		atomic_store(&rs->rc[i].verdict, MP__RECEIPT_NONE);
		cons[i] = mpt_start(receipt_consumer, (void *)(intptr_t)i);
	}
	MPT_CMP(atomic_load(&kr->next_id), <, KIDS);
	stop(prod);
	MPT_OK(mp_queue_close(kr->q));
	for (int i = 0; i < 2; i++) {
		MPT_OK(mp_process_join(cons[i], MP_SEC(30)));
		mp_process_free(cons[i]);
	}
	MPT_EQ(atomic_load(&kr->bad), 0);
	long dup, lost, total = tally(&dup, &lost);
	fprintf(stderr, " [%d kills, %d stops, %ld delivered, %d put back "
	        "(%d judged left)] ", kills, stops, total, taken, left);
	MPT_EQ(dup, 0);
	MPT_EQ(lost, 0);
	mp_queue_free(kr->q);
}

int main(void)
{
	mm = mpt_shared(sizeof(*mm));
	static CU_TestInfo tests[] = {
		{ "put/get basics", test_basic },
		{ "bad attributes, in place", test_bad_attr },
		{ "maxsize", test_maxsize },
		{ "wrap-around", test_wraparound },
		{ "requests and replies stay in the first window",
		  test_rewind_footprint },
		{ "processes x threads, FIFO per producer", test_mpmc },
		{ "close and destroy wake waiters", test_close },
		{ "joinable", test_joinable },
		{ "SIGKILL producers and consumers", test_kill_at_random },
		{ "SIGKILL producers and consumers, rewinding ring",
		  test_kill_rewinding },
		{ "receipts: bad input, a consumer dead after its get",
		  test_receipt_basics },
		{ "receipts: SIGKILL consumers, nothing lost",
		  test_receipt_kills },
		{ "receipts: SIGKILL producers, every put judged right",
		  test_receipt_producer_kills },
		CU_TEST_INFO_NULL,
	};
	return mpt_main("queue", tests);
}
