/*
 * bench_sync.c - Lock, Semaphore, Event, Condition and Value beside glibc's
 * process-shared primitives, a raw futex, and Python's multiprocessing.
 *
 * Every case runs on objects placed in one fresh MAP_SHARED mapping per
 * repetition.  Cases with two processes fork two children (the parent only
 * starts and reaps them), release them together through a futex, and time
 * from the release to the later child's own end, so fork and exit stay
 * out of the figure.
 *
 * The contended lock cases: each process loops { lock; count; unlock;
 * ~100 ns of private work }.  Without the private work any lock whose
 * holder re-takes it at once lets each process run alone in turn, and the
 * figure is the uncontended one.  They also count hand-offs: how often the
 * lock went to another process than the one that held it last.  A lock
 * can post a high rate by letting one process keep it; the hand-off rate
 * shows whether it did.
 */
#include "mpbench.h"

#include <errno.h>
#include <pthread.h>
#include <semaphore.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include <mproc.h>

#include "mpsys.h"

/* ---- the two-process harness ---------------------------------------------- */

struct duo {
	_Atomic uint32_t go;    /* futex: 1 releases the children */
	_Atomic uint32_t ready; /* children waiting for go */
	_Atomic int64_t end[2]; /* each child's end time */
	_Atomic int fail;
	/* the contended lock cases */
	_Alignas(64) int last;  /* the process that held the lock last */
	long handoffs;
};

/* What a case puts in the mapping after the harness. */
#define ARENA_SIZE (1 << 16)
#define OBJ_OFF 256

static void *arena_new(void)
{
	void *p = mmap(NULL, ARENA_SIZE, PROT_READ | PROT_WRITE,
	               MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	return p == MAP_FAILED ? NULL : p;
}

static void *obj(void *arena)
{
	return (char *)arena + OBJ_OFF;
}

typedef int (*side_fn)(int idx, long iters, void *arena);

static void child(struct duo *d, int idx, side_fn fn, long iters)
{
	atomic_fetch_add(&d->ready, 1);
	while (!atomic_load(&d->go))
		mp_sys_futex_wait(&d->go, 0, NULL);
	int r = fn(idx, iters, d);
	atomic_store(&d->end[idx], mpb_now());
	if (r)
		atomic_store(&d->fail, r);
	_exit(0);
}

/* Run fn in two children at once; *ns: release to the later end. */
static int run_two(side_fn fn, long iters, void *arena, int64_t *ns)
{
	struct duo *d = arena;
	pid_t pid[2];

	for (int i = 0; i < 2; i++) {
		pid[i] = fork();
		if (pid[i] < 0)
			return -errno;
		if (pid[i] == 0)
			child(d, i, fn, iters);
	}
	while (atomic_load(&d->ready) < 2)
		usleep(100);
	int64_t t0 = mpb_now();
	atomic_store(&d->go, 1);
	mp_sys_futex_wake(&d->go, INT32_MAX);
	for (int i = 0; i < 2; i++)
		waitpid(pid[i], NULL, 0);
	int64_t e0 = atomic_load(&d->end[0]), e1 = atomic_load(&d->end[1]);
	*ns = (e0 > e1 ? e0 : e1) - t0;
	return atomic_load(&d->fail) ? -EPROTO : 0; /* a side failed */
}

/* Inside the critical section of a contended case. */
static inline void count_handoff(struct duo *d, int idx)
{
	if (d->last != idx + 1) {
		d->handoffs++;
		d->last = idx + 1;
	}
}

/* Private work between two acquisitions, the same for every lock. */
static inline unsigned local_work(unsigned x)
{
	for (int k = 0; k < 100; k++)
		x = x * 1103515245u + 12345u;
	return x;
}

/* The last repetition's hand-off rate of each side of each case. */
static struct { const struct mpb_case *c; double m, b; } rates[8];

static void record_rate(const struct mpb_case *c, bool mine, double rate)
{
	for (size_t i = 0; i < sizeof(rates) / sizeof(rates[0]); i++) {
		if (rates[i].c == NULL || rates[i].c == c) {
			rates[i].c = c;
			*(mine ? &rates[i].m : &rates[i].b) = rate;
			return;
		}
	}
}

static void handoff_note(const struct mpb_case *c, char *buf, size_t len)
{
	for (size_t i = 0; i < sizeof(rates) / sizeof(rates[0]); i++)
		if (rates[i].c == c)
			snprintf(buf, len, "owner hand-off rate: mproc %.3f, "
			         "baseline %.3f", rates[i].m, rates[i].b);
}

/* ---- uncontended: one thread, lock + unlock -------------------------------- */

static int mproc_lock_uncontended(const struct mpb_case *c, long iters,
                                  double *value, const char **why)
{
	(void)c;
	(void)why;
	void *a = arena_new();
	if (!a)
		return -ENOMEM;
	mp_lock_t *l = obj(a);
	int r = mp_lock_init(l);
	int64_t t0 = mpb_now();
	for (long i = 0; i < iters && r == 0; i++) {
		r = mp_lock_acquire(l, MP_FOREVER);
		if (r == 0)
			r = mp_lock_release(l);
	}
	*value = (double)(mpb_now() - t0) / (double)iters;
	mp_lock_destroy(l);
	munmap(a, ARENA_SIZE);
	return r;
}

static int mutex_init_shared(pthread_mutex_t *m, bool robust)
{
	pthread_mutexattr_t at;
	pthread_mutexattr_init(&at);
	pthread_mutexattr_setpshared(&at, PTHREAD_PROCESS_SHARED);
	if (robust)
		pthread_mutexattr_setrobust(&at, PTHREAD_MUTEX_ROBUST);
	int r = pthread_mutex_init(m, &at);
	pthread_mutexattr_destroy(&at);
	return -r;
}

static int glibc_uncontended(long iters, double *value, bool robust)
{
	void *a = arena_new();
	if (!a)
		return -ENOMEM;
	pthread_mutex_t *m = obj(a);
	int r = mutex_init_shared(m, robust);
	int64_t t0 = mpb_now();
	for (long i = 0; i < iters && r == 0; i++) {
		r = -pthread_mutex_lock(m);
		if (r == 0)
			r = -pthread_mutex_unlock(m);
	}
	*value = (double)(mpb_now() - t0) / (double)iters;
	pthread_mutex_destroy(m);
	munmap(a, ARENA_SIZE);
	return r;
}

static int mutex_uncontended(const struct mpb_case *c, long iters,
                             double *value, const char **why)
{
	(void)c;
	(void)why;
	return glibc_uncontended(iters, value, false);
}

static int robust_uncontended(const struct mpb_case *c, long iters,
                              double *value, const char **why)
{
	(void)c;
	(void)why;
	return glibc_uncontended(iters, value, true);
}

/* ---- contended: two processes on one lock ------------------------------------ */

static int mproc_contender(int idx, long iters, void *arena)
{
	struct duo *d = arena;
	mp_lock_t *l = obj(arena);
	unsigned x = (unsigned)idx;
	for (long i = 0; i < iters / 2; i++) {
		if (mp_lock_acquire(l, MP_FOREVER) != 0)
			return 1;
		count_handoff(d, idx);
		if (mp_lock_release(l) != 0)
			return 2;
		x = local_work(x);
	}
	return x == 1 ? 3 : 0; /* keeps the work */
}

static int mutex_contender(int idx, long iters, void *arena)
{
	struct duo *d = arena;
	pthread_mutex_t *m = obj(arena);
	unsigned x = (unsigned)idx;
	for (long i = 0; i < iters / 2; i++) {
		if (pthread_mutex_lock(m) != 0)
			return 1;
		count_handoff(d, idx);
		if (pthread_mutex_unlock(m) != 0)
			return 2;
		x = local_work(x);
	}
	return x == 1 ? 3 : 0; /* keeps the work */
}

static int contended(const struct mpb_case *c, long iters, double *value,
                     bool mine, bool robust)
{
	void *a = arena_new();
	int64_t ns = 0;
	if (!a)
		return -ENOMEM;
	int r = mine ? mp_lock_init(obj(a)) : mutex_init_shared(obj(a), robust);
	if (r == 0)
		r = run_two(mine ? mproc_contender : mutex_contender, iters, a,
		            &ns);
	long ops = iters / 2 * 2;
	*value = (double)ops / ((double)ns / 1e9);
	record_rate(c, mine, (double)((struct duo *)a)->handoffs / (double)ops);
	munmap(a, ARENA_SIZE);
	return r;
}

static int mproc_contended(const struct mpb_case *c, long iters,
                           double *value, const char **why)
{
	(void)why;
	return contended(c, iters, value, true, false);
}

static int mutex_contended(const struct mpb_case *c, long iters,
                           double *value, const char **why)
{
	(void)why;
	return contended(c, iters, value, false, false);
}

static int robust_contended(const struct mpb_case *c, long iters,
                            double *value, const char **why)
{
	(void)why;
	return contended(c, iters, value, false, true);
}

/* ---- semaphore, uncontended ------------------------------------------------------ */

static int mproc_sem(const struct mpb_case *c, long iters, double *value,
                     const char **why)
{
	(void)c;
	(void)why;
	void *a = arena_new();
	if (!a)
		return -ENOMEM;
	mp_sem_t *s = obj(a);
	int r = mp_sem_init(s, 0, false);
	int64_t t0 = mpb_now();
	for (long i = 0; i < iters && r == 0; i++) {
		r = mp_sem_release(s, 1);
		if (r == 0)
			r = mp_sem_acquire(s, MP_FOREVER);
	}
	*value = (double)(mpb_now() - t0) / (double)iters;
	munmap(a, ARENA_SIZE);
	return r;
}

static int glibc_sem(const struct mpb_case *c, long iters, double *value,
                     const char **why)
{
	(void)c;
	(void)why;
	void *a = arena_new();
	if (!a)
		return -ENOMEM;
	sem_t *s = obj(a);
	int r = sem_init(s, 1, 0) == 0 ? 0 : -errno;
	int64_t t0 = mpb_now();
	for (long i = 0; i < iters && r == 0; i++)
		if (sem_post(s) != 0 || sem_wait(s) != 0)
			r = -errno;
	*value = (double)(mpb_now() - t0) / (double)iters;
	sem_destroy(s);
	munmap(a, ARENA_SIZE);
	return r;
}

/* ---- Event ping-pong ------------------------------------------------------------------ */

/* Child 0 sets ping and waits for pong; child 1 answers. */
static int mproc_pinger(int idx, long iters, void *arena)
{
	mp_event_t *ping = obj(arena), *pong = ping + 1;
	int64_t t = mpb_now();
	for (long i = 0; i < iters; i++) {
		if (idx == 0) {
			mp_event_set(ping);
			if (mp_event_wait(pong, MP_FOREVER) != 1)
				return 1;
			mp_event_clear(pong);
			t = mpb_lat_lap(t);
		} else {
			if (mp_event_wait(ping, MP_FOREVER) != 1)
				return 1;
			mp_event_clear(ping);
			mp_event_set(pong);
		}
	}
	return 0;
}

static void futex_set(_Atomic uint32_t *w)
{
	atomic_store(w, 1);
	mp_sys_futex_wake(w, INT32_MAX);
}

static void futex_await(_Atomic uint32_t *w)
{
	while (!atomic_load(w))
		mp_sys_futex_wait(w, 0, NULL);
	atomic_store(w, 0);
}

static int futex_pinger(int idx, long iters, void *arena)
{
	_Atomic uint32_t *ping = obj(arena), *pong = ping + 16;
	int64_t t = mpb_now();
	for (long i = 0; i < iters; i++) {
		if (idx == 0) {
			futex_set(ping);
			futex_await(pong);
			t = mpb_lat_lap(t);
		} else {
			futex_await(ping);
			futex_set(pong);
		}
	}
	return 0;
}

static int pingpong(long iters, double *value, side_fn fn, bool events)
{
	void *a = arena_new();
	int64_t ns = 0;
	if (!a)
		return -ENOMEM;
	if (events) {
		mp_event_init(obj(a));
		mp_event_init((mp_event_t *)obj(a) + 1);
	}
	int r = run_two(fn, iters, a, &ns);
	*value = (double)ns / 1e3 / (double)iters;
	munmap(a, ARENA_SIZE);
	return r;
}

static int mproc_event_pingpong(const struct mpb_case *c, long iters,
                                double *value, const char **why)
{
	(void)c;
	(void)why;
	return pingpong(iters, value, mproc_pinger, true);
}

static int futex_pingpong(const struct mpb_case *c, long iters,
                          double *value, const char **why)
{
	(void)c;
	(void)why;
	return pingpong(iters, value, futex_pinger, false);
}

/* The same round trips; the value is the repetition's p99 (us). */
static int mproc_event_p99(const struct mpb_case *c, long iters,
                           double *value, const char **why)
{
	int r = mproc_event_pingpong(c, iters, value, why);
	*value = mpb_lat_rep_quantile(0.99) / 1e3;
	return r;
}

static int futex_p99(const struct mpb_case *c, long iters, double *value,
                     const char **why)
{
	int r = futex_pingpong(c, iters, value, why);
	*value = mpb_lat_rep_quantile(0.99) / 1e3;
	return r;
}

/* ---- Condition ping-pong -------------------------------------------------------------- */

/* A turn variable under the lock; each side waits for its turn, passes it
 * on and notifies. */
struct cond_pp {
	mp_lock_t lock;
	mp_cond_t cond;
	pthread_mutex_t m;
	pthread_cond_t pc;
	int turn;
};

static int mproc_cond_side(int idx, long iters, void *arena)
{
	struct cond_pp *p = obj(arena);
	int64_t t = mpb_now();
	for (long i = 0; i < iters; i++) {
		if (mp_lock_acquire(&p->lock, MP_FOREVER) != 0)
			return 1;
		while (p->turn != idx)
			if (mp_cond_wait(&p->cond, MP_FOREVER) != 0)
				return 2;
		p->turn = !idx;
		mp_cond_notify(&p->cond, 1);
		mp_lock_release(&p->lock);
		if (idx == 0)
			t = mpb_lat_lap(t);
	}
	return 0;
}

static int pthread_cond_side(int idx, long iters, void *arena)
{
	struct cond_pp *p = obj(arena);
	int64_t t = mpb_now();
	for (long i = 0; i < iters; i++) {
		pthread_mutex_lock(&p->m);
		while (p->turn != idx)
			pthread_cond_wait(&p->pc, &p->m);
		p->turn = !idx;
		pthread_cond_signal(&p->pc);
		pthread_mutex_unlock(&p->m);
		if (idx == 0)
			t = mpb_lat_lap(t);
	}
	return 0;
}

static int cond_pingpong(long iters, double *value, bool mine)
{
	void *a = arena_new();
	int64_t ns = 0;
	if (!a)
		return -ENOMEM;
	struct cond_pp *p = obj(a);
	int r;
	if (mine) {
		r = mp_lock_init(&p->lock);
		if (r == 0)
			r = mp_cond_init(&p->cond, &p->lock, false);
	} else {
		pthread_condattr_t ca;
		pthread_condattr_init(&ca);
		pthread_condattr_setpshared(&ca, PTHREAD_PROCESS_SHARED);
		r = mutex_init_shared(&p->m, false);
		if (r == 0)
			r = -pthread_cond_init(&p->pc, &ca);
		pthread_condattr_destroy(&ca);
	}
	if (r == 0)
		r = run_two(mine ? mproc_cond_side : pthread_cond_side, iters,
		            a, &ns);
	/* Each loop of side 0 is a round trip: it passes the turn and waits
	 * until side 1 has passed it back. */
	*value = (double)ns / 1e3 / (double)iters;
	munmap(a, ARENA_SIZE);
	return r;
}

static int mproc_cond_pingpong(const struct mpb_case *c, long iters,
                               double *value, const char **why)
{
	(void)c;
	(void)why;
	return cond_pingpong(iters, value, true);
}

static int pthread_cond_pingpong(const struct mpb_case *c, long iters,
                                 double *value, const char **why)
{
	(void)c;
	(void)why;
	return cond_pingpong(iters, value, false);
}

/* ---- Value, two processes adding under its lock ----------------------------------- */

static int value_adder(int idx, long iters, void *arena)
{
	(void)idx;
	mp_value_t *v = obj(arena);
	for (long i = 0; i < iters / 2; i++)
		if (mp_value_add_i64(v, 1, NULL, MP_FOREVER) != 0)
			return 1;
	return 0;
}

static int mproc_value_incr2(const struct mpb_case *c, long iters,
                             double *value, const char **why)
{
	(void)c;
	(void)why;
	void *a = arena_new();
	int64_t ns = 0, total = 0;
	if (!a)
		return -ENOMEM;
	mp_value_t *v = obj(a);
	int r = mp_value_init(v, 'i', NULL, 0);
	if (r == 0)
		r = run_two(value_adder, iters, a, &ns);
	if (r == 0)
		r = mp_value_get_i64(v, &total, 0);
	if (r == 0 && total != iters / 2 * 2)
		r = -EPROTO; /* lost updates: the lock failed */
	*value = (double)(iters / 2 * 2) / ((double)ns / 1e9);
	munmap(a, ARENA_SIZE);
	return r;
}

const struct mpb_case mpb_sync_cases[] = {
	{
		.name = "lock.uncontended/glibc",
		.unit = "ns/op",
		.baseline = "pthread_mutex (process-shared) lock+unlock",
		.goal = 1.0,
		.iters = 4000000,
		.quick_iters = 1000000,
		.run_mproc = mproc_lock_uncontended,
		.run_baseline = mutex_uncontended,
	},
	{
		.name = "lock.uncontended/glibc_robust",
		.unit = "ns/op",
		.baseline = "robust process-shared pthread_mutex lock+unlock",
		.goal = 1.0,
		.iters = 4000000,
		.quick_iters = 1000000,
		.run_mproc = mproc_lock_uncontended,
		.run_baseline = robust_uncontended,
	},
	{
		.name = "lock.contended2/glibc",
		.unit = "ops/s",
		.higher_better = true,
		.baseline = "2 processes on one process-shared pthread_mutex",
		.goal = 1.0,
		.iters = 2000000,
		.quick_iters = 500000,
		.run_mproc = mproc_contended,
		.run_baseline = mutex_contended,
		.note = handoff_note,
	},
	{
		.name = "lock.contended2/glibc_robust",
		.unit = "ops/s",
		.higher_better = true,
		.baseline = "2 processes on one robust process-shared mutex",
		.goal = 1.0,
		.iters = 2000000,
		.quick_iters = 500000,
		.run_mproc = mproc_contended,
		.run_baseline = robust_contended,
		.note = handoff_note,
	},
	{
		.name = "sem.uncontended/glibc",
		.unit = "ns/op",
		.baseline = "sem_t (process-shared) sem_post+sem_wait",
		.goal = 1.0,
		.iters = 4000000,
		.quick_iters = 1000000,
		.run_mproc = mproc_sem,
		.run_baseline = glibc_sem,
	},
	{
		.name = "event.pingpong/futex",
		.unit = "us/rt",
		.baseline = "raw FUTEX_WAIT/FUTEX_WAKE round trip, 2 processes",
		.goal = 2.0,
		.iters = 20000,
		.quick_iters = 5000,
		.run_mproc = mproc_event_pingpong,
		.run_baseline = futex_pingpong,
	},
	{
		.name = "event.pingpong_p99/futex",
		.unit = "us p99",
		.baseline = "raw FUTEX_WAIT/FUTEX_WAKE round trip, 2 "
		            "processes: the p99 of a repetition's round trips",
		.goal = 2.0,
		.iters = 20000,
		.quick_iters = 5000,
		.run_mproc = mproc_event_p99,
		.run_baseline = futex_p99,
	},
	{
		.name = "cond.pingpong/pthread_cond",
		.unit = "us/rt",
		.baseline = "process-shared pthread_cond + mutex round trip",
		.goal = 2.0,
		.iters = 20000,
		.quick_iters = 5000,
		.run_mproc = mproc_cond_pingpong,
		.run_baseline = pthread_cond_pingpong,
	},
	/* Python's usual way to hold a lock (the seed's third Lock example);
	 * l.acquire(); l.release() costs about a third of it. */
	{
		.name = "lock.uncontended/python",
		.unit = "ns/op",
		.baseline = "python3 multiprocessing.Lock: with l: pass",
		.goal = 5.0,
		.iters = 1000000,
		.quick_iters = 200000,
		.run_mproc = mproc_lock_uncontended,
		.python =
			"import multiprocessing as mp\n"
			"def bench(n):\n"
			"    l = mp.Lock()\n"
			"    t = time.perf_counter()\n"
			"    for _ in range(n):\n"
			"        with l:\n"
			"            pass\n"
			"    return (time.perf_counter() - t) / n * 1e9\n",
	},
	{
		.name = "event.pingpong/python",
		.unit = "us/rt",
		.baseline = "python3 multiprocessing.Event round trip",
		.goal = 3.0,
		.iters = 4000,
		.quick_iters = 1000,
		.run_mproc = mproc_event_pingpong,
		.python =
			"import multiprocessing as mp\n"
			"_ctx = mp.get_context('fork')\n"
			"def _answer(ping, pong, go, n):\n"
			"    go.wait()\n"
			"    for _ in range(n):\n"
			"        ping.wait()\n"
			"        ping.clear()\n"
			"        pong.set()\n"
			"def bench(n):\n"
			"    ping, pong, go = _ctx.Event(), _ctx.Event(), _ctx.Event()\n"
			"    p = _ctx.Process(target=_answer, args=(ping, pong, go, n))\n"
			"    p.start()\n"
			"    go.set()\n"
			"    lat = []\n"
			"    t = t0 = time.perf_counter_ns()\n"
			"    for _ in range(n):\n"
			"        ping.set()\n"
			"        pong.wait()\n"
			"        pong.clear()\n"
			"        u = time.perf_counter_ns()\n"
			"        lat.append(u - t)\n"
			"        t = u\n"
			"    p.join()\n"
			"    return (t - t0) / n / 1e3, lat\n",
	},
	{
		.name = "value.incr2/python",
		.unit = "ops/s",
		.higher_better = true,
		.baseline = "python3 Value('i') += 1 under its lock, 2 processes",
		.goal = 20.0,
		.iters = 200000,
		.quick_iters = 50000,
		.run_mproc = mproc_value_incr2,
		.python =
			"import multiprocessing as mp\n"
			"_ctx = mp.get_context('fork')\n"
			"def _add(v, go, n):\n"
			"    go.wait()\n"
			"    for _ in range(n):\n"
			"        with v.get_lock():\n"
			"            v.value += 1\n"
			"    with _end.get_lock():\n"
			"        _end.value = max(_end.value, time.perf_counter())\n"
			"_end = None\n"
			"def bench(n):\n"
			"    global _end\n"
			"    v, go = _ctx.Value('i', 0), _ctx.Event()\n"
			"    _end = _ctx.Value('d', 0.0)\n"
			"    ps = [_ctx.Process(target=_add, args=(v, go, n // 2))\n"
			"          for _ in range(2)]\n"
			"    for p in ps:\n"
			"        p.start()\n"
			"    time.sleep(0.05)\n"
			"    t = time.perf_counter()\n"
			"    go.set()\n"
			"    for p in ps:\n"
			"        p.join()\n"
			"    assert v.value == n // 2 * 2\n"
			"    return n // 2 * 2 / (_end.value - t)\n",
	},
	{ 0 },
};
