/* test_sync.c - Lock, RLock, Semaphore, Condition, Event, Barrier: semantics,
 * processes x threads, and SIGKILL of holders. */
#include "testutil.h"

#include <pthread.h>
#include <signal.h>
#include <unistd.h>

void mp__lock_force_fallback(bool on);

struct shared {
	mp_lock_t lock;
	mp_rlock_t rlock;
	mp_sem_t sem;
	mp_cond_t cond;
	mp_event_t ev;
	mp_barrier_t bar;
	_Atomic uint32_t go, ready;
	_Atomic int64_t counter;
	_Atomic int32_t inside, max_inside;
	_Atomic uint32_t results[32];
	int64_t plain; /* protected by the lock under test */
};
static struct shared *sh;

static void reset(void)
{
	memset(sh, 0, sizeof(*sh));
	mp_lock_init(&sh->lock);
	mp_rlock_init(&sh->rlock);
}

/* Wait until the lock word shows a sleeper: proof that a waiter is blocked
 * in the kernel path, not merely about to be. */
static int await_waiters_bit(void *lock)
{
	_Atomic uint32_t *word = lock;
	int64_t end = mp_sys_now_ns() + TEST_WAIT_NS;
	while (!(atomic_load(word) & FUTEX_WAITERS)) {
		if (mp_sys_now_ns() > end)
			return -ETIMEDOUT;
		usleep(200);
	}
	return 0;
}

/* ---- Lock basics -------------------------------------------------------- */

static void test_lock_basic(void)
{
	reset();
	mp_lock_t *l = &sh->lock;
	MPT_EQ(mp_lock_locked(l), 0);
	MPT_OK(mp_lock_acquire(l, TEST_WAIT_NS));
	MPT_EQ(mp_lock_locked(l), 1);
	MPT_ERR(mp_lock_acquire(l, 0), -EAGAIN);
	int64_t t0 = mp_sys_now_ns();
	MPT_ERR(mp_lock_acquire(l, MP_MSEC(30)), -ETIMEDOUT);
	MPT_CMP(mp_sys_now_ns() - t0, >=, MP_MSEC(30));
	MPT_ERR(mp_lock_destroy(l), -EBUSY);
	MPT_OK(mp_lock_release(l));
	MPT_ERR(mp_lock_release(l), -EPERM); /* release unlocked lock */
	MPT_OK(mp_lock_acquire(l, 0));
	MPT_OK(mp_lock_release(l));
	MPT_OK(mp_lock_destroy(l));
	MPT_ERR(mp_lock_acquire(l, 0), -EINVAL); /* destroyed */

	int err = 0;
	mp_lock_t *h = mp_lock_new(&err);
	CU_ASSERT_PTR_NOT_NULL_FATAL(h);
	MPT_EQ(mp_heap_contains(h), 1);
	MPT_OK(mp_lock_acquire(h, TEST_WAIT_NS));
	MPT_ERR(mp_lock_free(h), -EBUSY);
	MPT_OK(mp_lock_release(h));
	MPT_OK(mp_lock_free(h));
}

static void test_bad_objects(void)
{
	char buf[256] __attribute__((aligned(8)));
	memset(buf, 0, sizeof(buf));
	void *mis = buf + 4;
	MPT_ERR(mp_lock_init(NULL), -EINVAL);
	MPT_ERR(mp_lock_init(mis), -EINVAL);
	MPT_ERR(mp_lock_acquire((mp_lock_t *)buf, 0), -EINVAL); /* never init */
	MPT_ERR(mp_lock_acquire(NULL, 0), -EINVAL);
	MPT_ERR(mp_lock_release(NULL), -EINVAL);
	MPT_ERR(mp_rlock_acquire(mis, 0), -EINVAL);
	MPT_ERR(mp_sem_init(mis, 1, false), -EINVAL);
	MPT_ERR(mp_sem_init((mp_sem_t *)buf, -1, false), -EINVAL);
	MPT_ERR(mp_sem_init((mp_sem_t *)buf, (long)MP_SEM_VALUE_MAX + 1, false),
	        -EINVAL);
	MPT_ERR(mp_event_wait(mis, 0), -EINVAL);
	MPT_ERR(mp_event_set(NULL), -EINVAL);
	MPT_ERR(mp_cond_wait(mis, 0), -EINVAL);
	MPT_ERR(mp_barrier_init((mp_barrier_t *)buf, 0, NULL, NULL), -EINVAL);
	MPT_ERR(mp_barrier_wait(mis, 0), -EINVAL);
	/* A lock of the wrong kind. */
	mp_lock_init((mp_lock_t *)buf);
	MPT_ERR(mp_rlock_acquire((mp_rlock_t *)buf, 0), -EINVAL);
	MPT_ERR(mp_cond_init((mp_cond_t *)(buf + 128), buf, true), -EINVAL);
	MPT_ERR(mp_lock_acquire((mp_lock_t *)buf, -7), -EINVAL);
}

/* Every entry point, given NULL, a misaligned or a never-initialised
 * object, says -EINVAL (or NULL) - and nothing aborts. */
static void test_bad_objects_everywhere(void)
{
	_Alignas(8) unsigned char raw[256] = { 0 };
	void *objs[3] = { NULL, raw + 4, raw }; /* NULL, misaligned, zeroed */
	int tid, count;

	for (int i = 0; i < 3; i++) {
		void *o = objs[i];
		if (i < 2) {
			MPT_ERR(mp_lock_init(o), -EINVAL);
			MPT_ERR(mp_rlock_init(o), -EINVAL);
			MPT_ERR(mp_sem_init(o, 1, false), -EINVAL);
			MPT_ERR(mp_cond_init(o, NULL, false), -EINVAL);
			MPT_ERR(mp_event_init(o), -EINVAL);
			MPT_ERR(mp_barrier_init(o, 2, NULL, NULL), -EINVAL);
		}
		MPT_ERR(mp_lock_destroy(o), -EINVAL);
		MPT_ERR(mp_lock_free(o), -EINVAL);
		MPT_ERR(mp_lock_acquire(o, 0), -EINVAL);
		MPT_ERR(mp_lock_release(o), -EINVAL);
		MPT_ERR(mp_lock_consistent(o), -EINVAL);
		MPT_ERR(mp_lock_locked(o), -EINVAL);
		MPT_ERR(mp_rlock_destroy(o), -EINVAL);
		MPT_ERR(mp_rlock_acquire(o, 0), -EINVAL);
		MPT_ERR(mp_rlock_release(o), -EINVAL);
		MPT_ERR(mp_rlock_consistent(o), -EINVAL);
		MPT_ERR(mp_rlock_owner(o, &tid, &count), -EINVAL);
		MPT_ERR(mp_sem_destroy(o), -EINVAL);
		MPT_ERR(mp_sem_acquire(o, 0), -EINVAL);
		MPT_ERR(mp_sem_release(o, 1), -EINVAL);
		MPT_ERR(mp_sem_value(o), -EINVAL);
		MPT_ERR(mp_cond_destroy(o), -EINVAL);
		CU_ASSERT_PTR_NULL(mp_cond_lock(o));
		MPT_ERR(mp_cond_acquire(o, 0), -EINVAL);
		MPT_ERR(mp_cond_release(o), -EINVAL);
		MPT_ERR(mp_cond_wait(o, 0), -EINVAL);
		MPT_ERR(mp_cond_wait_for(o, NULL, NULL, 0), -EINVAL);
		MPT_ERR(mp_cond_notify(o, 1), -EINVAL);
		MPT_ERR(mp_cond_notify_all(o), -EINVAL);
		MPT_ERR(mp_event_destroy(o), -EINVAL);
		MPT_ERR(mp_event_set(o), -EINVAL);
		MPT_ERR(mp_event_clear(o), -EINVAL);
		MPT_ERR(mp_event_is_set(o), -EINVAL);
		MPT_ERR(mp_event_wait(o, 0), -EINVAL);
		MPT_ERR(mp_barrier_destroy(o), -EINVAL);
		MPT_ERR(mp_barrier_wait(o, 0), -EINVAL);
		MPT_ERR(mp_barrier_abort(o), -EINVAL);
		MPT_ERR(mp_barrier_reset(o), -EINVAL);
		MPT_ERR(mp_barrier_parties(o), -EINVAL);
		MPT_ERR(mp_barrier_n_waiting(o), -EINVAL);
		MPT_ERR(mp_barrier_broken(o), -EINVAL);
	}
	/* Objects of one kind given where another is expected. */
	mp_sem_t sem;
	MPT_OK(mp_sem_init(&sem, 1, false));
	MPT_ERR(mp_lock_acquire((mp_lock_t *)&sem, 0), -EINVAL);
	MPT_ERR(mp_event_set((mp_event_t *)&sem), -EINVAL);
	mp_rlock_t rl;
	MPT_OK(mp_rlock_init(&rl));
	MPT_ERR(mp_lock_acquire((mp_lock_t *)&rl, 0), -EINVAL);
	mp_cond_t c;
	MPT_ERR(mp_cond_init(&c, &rl, false), -EINVAL); /* says Lock, is RLock */
	MPT_ERR(mp_cond_init(&c, raw + 4, false), -EINVAL);
}

/* The misuses the issue lists, each a clear error. */
static int hold_value;

static bool always(void *arg)
{
	(void)arg;
	return true;
}

/* Holds the Lock until told to let go (a thread that exits holding a
 * robust lock leaves it owner-dead). */
static void *hold_lock_until_go(void *arg)
{
	intptr_t r = mp_lock_acquire(arg, TEST_WAIT_NS);
	mpt_flag_set(&sh->ready, 1);
	if (mpt_flag_wait(&sh->go, 1) != 0)
		r = -ETIMEDOUT;
	mp_lock_release(arg);
	return (void *)r;
}

static void test_misuse(void)
{
	int err = 0;
	reset();
	/* Double release: Lock and RLock. */
	MPT_OK(mp_lock_acquire(&sh->lock, 0));
	MPT_OK(mp_lock_release(&sh->lock));
	MPT_ERR(mp_lock_release(&sh->lock), -EPERM);
	MPT_ERR(mp_rlock_release(&sh->rlock), -EPERM); /* never taken */
	MPT_EQ(mp_rlock_acquire(&sh->rlock, 0), 1);
	MPT_EQ(mp_rlock_release(&sh->rlock), 0);
	MPT_ERR(mp_rlock_release(&sh->rlock), -EPERM);
	/* Consistent without an owner's death, or without holding it. */
	MPT_ERR(mp_lock_consistent(&sh->lock), -EINVAL);
	MPT_OK(mp_lock_acquire(&sh->lock, 0));
	MPT_ERR(mp_lock_consistent(&sh->lock), -EINVAL);
	MPT_OK(mp_lock_release(&sh->lock));
	/* Negative and zero counts, negative timeouts. */
	mp_sem_t s;
	MPT_ERR(mp_sem_init(&s, -1, false), -EINVAL);
	CU_ASSERT_PTR_NULL(mp_sem_new(-1, true, &err));
	MPT_EQ(err, -EINVAL);
	MPT_OK(mp_sem_init(&s, 1, true));
	MPT_ERR(mp_sem_release(&s, 0), -EINVAL);
	MPT_ERR(mp_sem_release(&s, -3), -EINVAL);
	MPT_ERR(mp_sem_acquire(&s, -2), -EINVAL);
	MPT_ERR(mp_lock_acquire(&sh->lock, -2), -EINVAL);
	MPT_ERR(mp_rlock_acquire(&sh->rlock, INT64_MIN), -EINVAL);
	/* Bounded over-release, also by more than one; nothing released. */
	MPT_ERR(mp_sem_release(&s, 1), -EOVERFLOW);
	MPT_OK(mp_sem_acquire(&s, 0));
	MPT_ERR(mp_sem_release(&s, 2), -EOVERFLOW);
	MPT_EQ(mp_sem_value(&s), 0);
	MPT_OK(mp_sem_release(&s, 1));
	/* Condition: wait, wait_for, notify, notify_all without the lock -
	 * also while another thread holds it. */
	MPT_OK(mp_cond_init(&sh->cond, &sh->lock, false));
	pthread_t t;
	void *r = NULL;
	for (int held_elsewhere = 0; held_elsewhere < 2; held_elsewhere++) {
		if (held_elsewhere) {
			pthread_create(&t, NULL, hold_lock_until_go, &sh->lock);
			MPT_EQ(mpt_flag_wait(&sh->ready, 1), 0);
		}
		MPT_ERR(mp_cond_wait(&sh->cond, 0), -EPERM);
		MPT_ERR(mp_cond_wait_for(&sh->cond, always, NULL, 0), -EPERM);
		MPT_ERR(mp_cond_notify(&sh->cond, 1), -EPERM);
		MPT_ERR(mp_cond_notify_all(&sh->cond), -EPERM);
	}
	mpt_flag_set(&sh->go, 1);
	pthread_join(t, &r);
	MPT_EQ((intptr_t)r, 0);
	MPT_OK(mp_cond_acquire(&sh->cond, 0));
	MPT_ERR(mp_cond_notify(&sh->cond, 0), -EINVAL);
	MPT_ERR(mp_cond_notify(&sh->cond, -1), -EINVAL);
	MPT_ERR(mp_cond_wait(&sh->cond, -2), -EINVAL);
	MPT_ERR(mp_cond_wait_for(&sh->cond, NULL, NULL, 0), -EINVAL);
	MPT_OK(mp_cond_release(&sh->cond));
	/* A condition from the heap over a lock that is not in the heap (it
	 * is found by its offset from the condition), or not a lock. */
	CU_ASSERT_PTR_NULL(mp_cond_new(&sh->lock, false, &err));
	MPT_EQ(err, -EINVAL);
	err = 0;
	CU_ASSERT_PTR_NULL(mp_cond_new(&hold_value, false, &err));
	MPT_EQ(err, -EINVAL);
	/* Barrier: no parties; destroy while a party waits is refused. */
	MPT_ERR(mp_barrier_init(&sh->bar, 0, NULL, NULL), -EINVAL);
	CU_ASSERT_PTR_NULL(mp_barrier_new(0, NULL, NULL, &err));
	MPT_EQ(err, -EINVAL);
	MPT_OK(mp_barrier_init(&sh->bar, 2, NULL, NULL));
	MPT_ERR(mp_barrier_wait(&sh->bar, -2), -EINVAL);
	MPT_OK(mp_barrier_destroy(&sh->bar));
	MPT_ERR(mp_barrier_wait(&sh->bar, 0), -EINVAL); /* destroyed */
	/* Event with a bad timeout. */
	MPT_OK(mp_event_init(&sh->ev));
	MPT_ERR(mp_event_wait(&sh->ev, -2), -EINVAL);
}

/* ---- many processes x threads on one lock -------------------------------- */

enum { PROCS = 3, THREADS = 3, ROUNDS = 20000 };

static void *hammer_thread(void *arg)
{
	(void)arg;
	for (int i = 0; i < ROUNDS; i++) {
		if (mp_lock_acquire(&sh->lock, TEST_WAIT_NS) != 0)
			return (void *)1;
		int32_t in = atomic_fetch_add(&sh->inside, 1) + 1;
		if (in > 1)
			atomic_store(&sh->max_inside, in);
		sh->plain++; /* not atomic: the lock must make it exact */
		atomic_fetch_sub(&sh->inside, 1);
		if (mp_lock_release(&sh->lock) != 0)
			return (void *)2;
	}
	return NULL;
}

static int hammer_process(void *arg)
{
	(void)arg;
	return mpt_threads(THREADS, hammer_thread, 0) != 0;
}

static void test_lock_stress(void)
{
	reset();
	mp_process_t *p[PROCS];
	for (int i = 0; i < PROCS; i++)
		p[i] = mpt_start(hammer_process, NULL);
	for (int i = 0; i < PROCS; i++)
		MPT_EQ(mpt_finish(p[i]), 0);
	MPT_EQ(sh->plain, (int64_t)PROCS * THREADS * ROUNDS);
	MPT_EQ(atomic_load(&sh->max_inside), 0);
	MPT_EQ(mp_lock_locked(&sh->lock), 0);
}

/* ---- foreign release (allowed for Lock) ------------------------------------ */

static void *release_other(void *arg)
{
	return (void *)(intptr_t)mp_lock_release(arg);
}

static void test_lock_foreign_release(void)
{
	reset();
	mp_lock_t *l = &sh->lock;
	pthread_t t;
	void *r;
	for (int round = 0; round < 3; round++) {
		MPT_OK(mp_lock_acquire(l, TEST_WAIT_NS));
		pthread_create(&t, NULL, release_other, l);
		pthread_join(t, &r);
		MPT_EQ((intptr_t)r, 0);
		MPT_EQ(mp_lock_locked(l), 0);
	}
	/* Another thread can take it while our node is still detached. */
	MPT_OK(mp_lock_acquire(l, TEST_WAIT_NS));
	pthread_create(&t, NULL, release_other, l);
	pthread_join(t, &r);
	MPT_OK(mp_lock_acquire(l, 0));
	MPT_OK(mp_lock_release(l));
	MPT_OK(mp_lock_destroy(l));
}

/* ---- threads that come and go ------------------------------------------ */

static void *take_both(void *arg)
{
	(void)arg;
	for (int i = 0; i < 100; i++) {
		if (mp_lock_acquire(&sh->lock, TEST_WAIT_NS) != 0 ||
		    mp_rlock_acquire(&sh->rlock, TEST_WAIT_NS) != 1)
			return (void *)1;
		sh->plain++;
		mp_rlock_release(&sh->rlock);
		mp_lock_release(&sh->lock);
	}
	return NULL;
}

/* Short-lived threads that used locks leave nothing behind (LeakSanitizer
 * checks the sanitizer build) and the locks stay whole. */
static void test_lock_threads_exit(void)
{
	reset();
	for (int round = 0; round < 4; round++) {
		pthread_t t[8];
		void *r;
		for (int i = 0; i < 8; i++)
			pthread_create(&t[i], NULL, take_both, NULL);
		for (int i = 0; i < 8; i++) {
			pthread_join(t[i], &r);
			MPT_EQ((intptr_t)r, 0);
		}
	}
	MPT_EQ(sh->plain, 4 * 8 * 100);
	MPT_OK(mp_lock_acquire(&sh->lock, 0));
	MPT_OK(mp_lock_release(&sh->lock));
	MPT_OK(mp_lock_destroy(&sh->lock));
	MPT_OK(mp_rlock_destroy(&sh->rlock));
}

/* ---- RLock ------------------------------------------------------------------ */

static void *rlock_other(void *arg)
{
	intptr_t r1 = mp_rlock_release(arg);
	intptr_t r2 = mp_rlock_acquire(arg, 0);
	return (void *)(r1 * 1000 + r2);
}

static void test_rlock(void)
{
	reset();
	mp_rlock_t *l = &sh->rlock;
	int tid = -1, count = -1;
	MPT_EQ(mp_rlock_acquire(l, TEST_WAIT_NS), 1);
	MPT_EQ(mp_rlock_acquire(l, 0), 2);
	MPT_EQ(mp_rlock_acquire(l, MP_MSEC(5)), 3);
	MPT_OK(mp_rlock_owner(l, &tid, &count));
	MPT_EQ(tid, mp_sys_gettid());
	MPT_EQ(count, 3);
	pthread_t t;
	void *r;
	pthread_create(&t, NULL, rlock_other, l);
	pthread_join(t, &r);
	MPT_EQ((intptr_t)r, -EPERM * 1000 - EAGAIN);
	MPT_EQ(mp_rlock_release(l), 2);
	MPT_EQ(mp_rlock_release(l), 1);
	MPT_EQ(mp_rlock_release(l), 0);
	MPT_ERR(mp_rlock_release(l), -EPERM);
	MPT_OK(mp_rlock_owner(l, &tid, &count));
	MPT_EQ(tid, 0);
	MPT_EQ(count, 0);
	MPT_OK(mp_rlock_destroy(l));
}

/* ---- death of a holder ---------------------------------------------------- */

static int hold_then_hang(void *arg)
{
	void *l = arg;
	int r = l == (void *)&sh->rlock ? mp_rlock_acquire(l, TEST_WAIT_NS)
	                                : mp_lock_acquire(l, TEST_WAIT_NS);
	if (r < 0)
		return 1;
	mpt_flag_set(&sh->ready, 1);
	for (;;)
		pause();
	return 0;
}

struct blocked {
	void *lock;
	bool rlock;
	int result, consistent, again, release;
	int64_t woke_at;
};

/* Blocks on the lock; once it has it, repairs and releases it (a thread
 * that exits holding a robust lock would make it owner-died again). */
static void *blocked_acquire(void *arg)
{
	struct blocked *b = arg;
	b->result = b->rlock ? mp_rlock_acquire(b->lock, TEST_WAIT_NS)
	                     : mp_lock_acquire(b->lock, TEST_WAIT_NS);
	b->woke_at = mp_sys_now_ns();
	if (b->result == -EOWNERDEAD) {
		b->consistent = b->rlock ? mp_rlock_consistent(b->lock)
		                         : mp_lock_consistent(b->lock);
		b->again = b->rlock ? mp_rlock_consistent(b->lock)
		                    : mp_lock_consistent(b->lock);
		b->release = b->rlock ? mp_rlock_release(b->lock)
		                      : mp_lock_release(b->lock);
	}
	return NULL;
}

/* A holder dies while another thread is blocked on the lock. */
static void death_with_blocked_waiter(void *lock, bool rlock)
{
	mp_process_t *p = mpt_start(hold_then_hang, lock);
	MPT_EQ(mpt_flag_wait(&sh->ready, 1), 0);
	struct blocked b = { .lock = lock, .rlock = rlock };
	pthread_t t;
	pthread_create(&t, NULL, blocked_acquire, &b);
	MPT_OK(await_waiters_bit(lock));
	int64_t killed_at = mp_sys_now_ns();
	MPT_OK(mp_process_kill(p));
	pthread_join(t, NULL);
	MPT_EQ(b.result, -EOWNERDEAD);
	MPT_EQ(b.consistent, 0);
	MPT_ERR(b.again, -EINVAL); /* consistent already */
	MPT_EQ(b.release, 0);
	/* Reported, not asserted (timing belongs to mpbench): */
	fprintf(stderr, " [owner-died seen %.3f ms after SIGKILL] ",
	        (double)(b.woke_at - killed_at) / 1e6);
	MPT_EQ(mpt_finish(p), -SIGKILL);
}

static void test_lock_owner_dies(void)
{
	reset();
	death_with_blocked_waiter(&sh->lock, false);
	/* Repaired and released by the waiter: it works as new. */
	MPT_EQ(mp_lock_acquire(&sh->lock, 0), 0);
	MPT_OK(mp_lock_release(&sh->lock));

	/* Nobody waiting when it dies: the next acquire sees it. */
	reset();
	mp_process_t *p = mpt_start(hold_then_hang, &sh->lock);
	MPT_EQ(mpt_flag_wait(&sh->ready, 1), 0);
	MPT_OK(mp_process_kill(p));
	MPT_EQ(mpt_finish(p), -SIGKILL);
	MPT_ERR(mp_lock_acquire(&sh->lock, TEST_WAIT_NS), -EOWNERDEAD);
	/* Released unrepaired: unrecoverable for everybody. */
	MPT_OK(mp_lock_release(&sh->lock));
	MPT_ERR(mp_lock_acquire(&sh->lock, MP_FOREVER), -ENOTRECOVERABLE);
	MPT_ERR(mp_lock_acquire(&sh->lock, 0), -ENOTRECOVERABLE);
}

static void test_rlock_owner_dies(void)
{
	reset();
	death_with_blocked_waiter(&sh->rlock, true);
	MPT_EQ(mp_rlock_acquire(&sh->rlock, 0), 1);
	MPT_EQ(mp_rlock_release(&sh->rlock), 0);
}

void mp__lock_test_release_and_die(mp_lock_t *l);

static int release_and_die(void *arg)
{
	(void)arg;
	if (mp_lock_acquire(&sh->lock, TEST_WAIT_NS) != 0)
		return 1;
	atomic_store(&sh->ready, 1);
	if (await_waiters_bit(&sh->lock) < 0)
		return 2;
	mp__lock_test_release_and_die(&sh->lock);
	return 3; /* not reached */
}

/* The holder frees the word and is killed before it wakes the sleeper:
 * the sleeper is still woken (by the kernel: the release was announced
 * as the thread's pending robust-list operation), and gets the lock. */
static void test_lock_release_then_death(void)
{
	reset();
	mp_process_t *p = mpt_start(release_and_die, NULL);
	while (!atomic_load(&sh->ready))
		usleep(100);
	MPT_OK(mp_lock_acquire(&sh->lock, MP_SEC(5)));
	MPT_EQ(mpt_finish(p), 0);
	MPT_OK(mp_lock_release(&sh->lock));
}

/* The same without the robust list: the fallback sees the death too. */
static void test_lock_owner_dies_fallback(void)
{
	reset();
	mp__lock_force_fallback(true);
	death_with_blocked_waiter(&sh->lock, false);
	MPT_EQ(mp_lock_acquire(&sh->lock, 0), 0);
	MPT_OK(mp_lock_release(&sh->lock));
	mp__lock_force_fallback(false);
}

/* Take the lock, update two counters that must stay equal, release; with
 * random pauses inside and out so that a kill lands in either. */
static int churn_lock(void *arg)
{
	unsigned seed = (unsigned)getpid();
	(void)arg;
	for (;;) {
		int r = mp_lock_acquire(&sh->lock, TEST_WAIT_NS);
		if (r == -EOWNERDEAD) {
			sh->plain = atomic_load(&sh->counter); /* repair */
			atomic_fetch_add(&sh->results[0], 1);
			mp_lock_consistent(&sh->lock);
		} else if (r < 0) {
			return 1;
		}
		atomic_fetch_add(&sh->counter, 1);
		usleep(rand_r(&seed) % 100); /* half-way through an update */
		sh->plain++;
		mp_lock_release(&sh->lock);
		usleep(rand_r(&seed) % 100); /* let the other one in */
	}
	return 0;
}

/* Stop p for up to max_us, as a busy machine would, then let it go on:
 * whatever it holds meanwhile stays its own (DESIGN.md rule 11). */
static void pause_process(mp_process_t *p, unsigned *seed, unsigned max_us)
{
	pid_t pid = mp_process_pid(p);
	MPT_EQ(kill(pid, SIGSTOP), 0);
	usleep(rand_r(seed) % max_us);
	MPT_EQ(kill(pid, SIGCONT), 0);
}

/* SIGKILL lock users at random points, many times, and stop them for a
 * while before (both of them, in turn): the survivors always get the
 * lock, and -EOWNERDEAD exactly when a holder died mid-update - never
 * because one was stopped. */
static void test_lock_kill_at_random(void)
{
	reset();
	unsigned seed = 4242;
	int owner_died = 0, rounds = 60;
	mp_process_t *a = mpt_start(churn_lock, NULL);
	for (int round = 0; round < rounds; round++) {
		mp_process_t *b = mpt_start(churn_lock, NULL);
		usleep(200 + rand_r(&seed) % 3000);
		pause_process(round % 2 ? a : b, &seed, 6000);
		MPT_OK(mp_process_kill(b));
		MPT_EQ(mpt_finish(b), -SIGKILL);
		int r = mp_lock_acquire(&sh->lock, TEST_WAIT_NS);
		CU_ASSERT(r == 0 || r == -EOWNERDEAD);
		if (r != 0 && r != -EOWNERDEAD)
			break;
		if (r == -EOWNERDEAD) {
			atomic_fetch_add(&sh->results[0], 1);
			sh->plain = atomic_load(&sh->counter);
			MPT_OK(mp_lock_consistent(&sh->lock));
		}
		/* Whoever died, the protected state is whole again. */
		MPT_EQ(sh->plain, atomic_load(&sh->counter));
		mp_lock_release(&sh->lock);
	}
	MPT_OK(mp_process_kill(a));
	mpt_finish(a);
	int r = mp_lock_acquire(&sh->lock, TEST_WAIT_NS);
	CU_ASSERT(r == 0 || r == -EOWNERDEAD);
	if (r == -EOWNERDEAD)
		MPT_OK(mp_lock_consistent(&sh->lock));
	/* Leave it free: the next test's reset() rewrites its memory. */
	MPT_OK(mp_lock_release(&sh->lock));
	owner_died = (int)atomic_load(&sh->results[0]);
	fprintf(stderr, " [%d of %d kills hit a holder] ", owner_died, rounds);
	MPT_CMP(owner_died, >, 0);
}

/* ---- Semaphore ------------------------------------------------------------ */

static void test_semaphore(void)
{
	mp_sem_t s;
	MPT_OK(mp_sem_init(&s, 2, false));
	MPT_EQ(mp_sem_value(&s), 2);
	MPT_OK(mp_sem_acquire(&s, 0));
	MPT_OK(mp_sem_acquire(&s, 0));
	MPT_ERR(mp_sem_acquire(&s, 0), -EAGAIN);
	MPT_ERR(mp_sem_acquire(&s, MP_MSEC(10)), -ETIMEDOUT);
	MPT_OK(mp_sem_release(&s, 5));
	MPT_EQ(mp_sem_value(&s), 5);
	MPT_ERR(mp_sem_release(&s, 0), -EINVAL);
	MPT_ERR(mp_sem_release(&s, (long)MP_SEM_VALUE_MAX), -EOVERFLOW);
	MPT_OK(mp_sem_destroy(&s));

	mp_sem_t b;
	MPT_OK(mp_sem_init(&b, 1, true));
	MPT_ERR(mp_sem_release(&b, 1), -EOVERFLOW); /* bounded */
	MPT_OK(mp_sem_acquire(&b, 0));
	MPT_OK(mp_sem_release(&b, 1));
	MPT_ERR(mp_sem_release(&b, 1), -EOVERFLOW);
	MPT_EQ(mp_sem_value(&b), 1);
}

/* Huge releases racing acquirers: every unit taken was there.  A release
 * either fails with -EOVERFLOW and changes nothing or adds its count, so
 * at the end the value is 1 + released - taken (a release that added its
 * count for an instant, to be undone, let acquirers take units that never
 * existed and wrapped the value). */
static mp_sem_t over_sem;
static _Atomic long over_taken, over_released;
static _Atomic int over_stop;

static void *over_thread(void *arg)
{
	if ((intptr_t)arg < 2) {
		for (int i = 0; i < 20000; i++) {
			int r = mp_sem_release(&over_sem, (long)MP_SEM_VALUE_MAX);
			if (r == 0)
				atomic_fetch_add(&over_released,
				                 (long)MP_SEM_VALUE_MAX);
			else if (r != -EOVERFLOW)
				return (void *)1;
		}
		atomic_store(&over_stop, 1);
		return NULL;
	}
	while (!atomic_load(&over_stop))
		if (mp_sem_acquire(&over_sem, 0) == 0)
			atomic_fetch_add(&over_taken, 1);
	return NULL;
}

static void test_semaphore_overflow_race(void)
{
	MPT_OK(mp_sem_init(&over_sem, 1, false));
	atomic_store(&over_taken, 0);
	atomic_store(&over_released, 0);
	atomic_store(&over_stop, 0);
	MPT_EQ(mpt_threads(6, over_thread, 0), 0);
	long v = mp_sem_value(&over_sem);
	MPT_OK(v >= 0 && v <= (long)MP_SEM_VALUE_MAX ? 0 : -1);
	MPT_EQ(v, 1 + atomic_load(&over_released) - atomic_load(&over_taken));
}

static int sem_user(void *arg)
{
	(void)arg;
	for (int i = 0; i < 200; i++) {
		if (mp_sem_acquire(&sh->sem, TEST_WAIT_NS) != 0)
			return 1;
		int32_t in = atomic_fetch_add(&sh->inside, 1) + 1;
		int32_t m = atomic_load(&sh->max_inside);
		while (in > m && !atomic_compare_exchange_weak(&sh->max_inside,
		                                               &m, in))
			;
		usleep(50);
		atomic_fetch_sub(&sh->inside, 1);
		mp_sem_release(&sh->sem, 1);
	}
	return 0;
}

/* Seed: Semaphore(2) admits two of three processes at a time. */
static void test_semaphore_admits_two(void)
{
	reset();
	mp_sem_init(&sh->sem, 2, false);
	mp_process_t *p[3];
	for (int i = 0; i < 3; i++)
		p[i] = mpt_start(sem_user, NULL);
	for (int i = 0; i < 3; i++)
		MPT_EQ(mpt_finish(p[i]), 0);
	MPT_EQ(atomic_load(&sh->max_inside), 2);
	MPT_EQ(mp_sem_value(&sh->sem), 2);
}

/* ---- Condition ------------------------------------------------------------ */

static int cond_waiter(void *arg)
{
	(void)arg;
	if (mp_cond_acquire(&sh->cond, TEST_WAIT_NS) < 0)
		return 1;
	atomic_fetch_add(&sh->ready, 1);
	mp_sys_futex_wake(&sh->ready, INT32_MAX);
	int r = mp_cond_wait(&sh->cond, TEST_WAIT_NS);
	atomic_fetch_add(&sh->counter, r == 0 ? 1 : 1000);
	mp_cond_release(&sh->cond);
	return 0;
}

static void test_cond(void)
{
	reset();
	MPT_OK(mp_cond_init(&sh->cond, NULL, false));
	MPT_ERR(mp_cond_wait(&sh->cond, 0), -EPERM);
	MPT_ERR(mp_cond_notify(&sh->cond, 1), -EPERM);
	MPT_OK(mp_cond_acquire(&sh->cond, TEST_WAIT_NS));
	MPT_ERR(mp_cond_notify(&sh->cond, 0), -EINVAL);
	MPT_EQ(mp_cond_notify(&sh->cond, 1), 0); /* nobody waits */
	int64_t t0 = mp_sys_now_ns();
	MPT_ERR(mp_cond_wait(&sh->cond, MP_MSEC(20)), -ETIMEDOUT);
	MPT_CMP(mp_sys_now_ns() - t0, >=, MP_MSEC(20));
	MPT_ERR(mp_cond_wait(&sh->cond, 0), -EAGAIN);
	/* Still held, at the same recursion level. */
	MPT_EQ(mp_rlock_acquire(mp_cond_lock(&sh->cond), 0), 2);
	MPT_EQ(mp_rlock_release(mp_cond_lock(&sh->cond)), 1);
	MPT_OK(mp_cond_release(&sh->cond));

	/* notify(1) wakes exactly one of three; notify_all the rest. */
	mp_process_t *p[3];
	for (int i = 0; i < 3; i++)
		p[i] = mpt_start(cond_waiter, NULL);
	int64_t end = mp_sys_now_ns() + TEST_WAIT_NS;
	while (atomic_load(&sh->ready) < 3 && mp_sys_now_ns() < end)
		usleep(1000);
	MPT_OK(mp_cond_acquire(&sh->cond, TEST_WAIT_NS)); /* all three wait */
	MPT_EQ(mp_cond_notify(&sh->cond, 1), 1);
	MPT_OK(mp_cond_release(&sh->cond));
	/* One wakes (deadline), and no other follows it for a while. */
	end = mp_sys_now_ns() + TEST_WAIT_NS;
	while (atomic_load(&sh->counter) < 1 && mp_sys_now_ns() < end)
		usleep(1000);
	usleep(50000);
	MPT_EQ(atomic_load(&sh->counter), 1);
	MPT_OK(mp_cond_acquire(&sh->cond, TEST_WAIT_NS));
	MPT_EQ(mp_cond_notify_all(&sh->cond), 2);
	MPT_OK(mp_cond_release(&sh->cond));
	for (int i = 0; i < 3; i++)
		MPT_EQ(mpt_finish(p[i]), 0);
	MPT_EQ(atomic_load(&sh->counter), 3);
}

/* A notify belongs to the waiters that were waiting when it was made: a
 * thread that starts waiting afterwards must not take it (the notified one
 * would then miss its wake-up).  The notified waiter is stopped (SIGSTOP)
 * so it cannot collect its wake-up before the late one tries. */
static void test_cond_no_stealing(void)
{
	reset();
	MPT_OK(mp_cond_init(&sh->cond, NULL, false));
	mp_process_t *p = mpt_start(cond_waiter, NULL);
	MPT_EQ(mpt_flag_wait(&sh->ready, 1), 0);
	/* Holding the lock again proves the waiter is inside mp_cond_wait. */
	MPT_OK(mp_cond_acquire(&sh->cond, TEST_WAIT_NS));
	MPT_OK(kill(mp_process_pid(p), SIGSTOP));
	MPT_EQ(mp_cond_notify(&sh->cond, 1), 1);
	MPT_ERR(mp_cond_wait(&sh->cond, MP_MSEC(50)), -ETIMEDOUT);
	MPT_OK(mp_cond_release(&sh->cond));
	MPT_OK(kill(mp_process_pid(p), SIGCONT));
	MPT_EQ(mpt_finish(p), 0);
	MPT_EQ(atomic_load(&sh->counter), 1); /* the stopped one: notified */
	MPT_OK(mp_cond_destroy(&sh->cond));
}

static bool counter_reached(void *arg)
{
	return atomic_load(&sh->counter) >= *(int64_t *)arg;
}

static int cond_producer(void *arg)
{
	(void)arg;
	for (int i = 0; i < 50; i++) {
		mp_cond_acquire(&sh->cond, TEST_WAIT_NS);
		atomic_fetch_add(&sh->counter, 1);
		mp_cond_notify(&sh->cond, 1);
		mp_cond_release(&sh->cond);
	}
	return 0;
}

static void test_cond_wait_for(void)
{
	reset();
	MPT_OK(mp_cond_init(&sh->cond, &sh->lock, false));
	MPT_OK(mp_cond_acquire(&sh->cond, TEST_WAIT_NS));
	int64_t target = 50;
	MPT_EQ(mp_cond_wait_for(&sh->cond, counter_reached, &target, 0), 0);
	mp_process_t *p = mpt_start(cond_producer, NULL);
	MPT_EQ(mp_cond_wait_for(&sh->cond, counter_reached, &target,
	                        TEST_WAIT_NS), 1);
	MPT_OK(mp_cond_release(&sh->cond));
	MPT_EQ(mpt_finish(p), 0);
	MPT_EQ(atomic_load(&sh->counter), 50);
}

/* ---- Condition: death of the lock's holder ----------------------------------- */

/* Condition over its own RLock (rlock) or over sh->lock. */
static void cond_setup(bool rlock)
{
	reset();
	MPT_OK(mp_cond_init(&sh->cond, rlock ? NULL : (void *)&sh->lock, false));
}

static int cond_mark_consistent(void)
{
	void *l = mp_cond_lock(&sh->cond);
	return l == (void *)&sh->lock ? mp_lock_consistent(l)
	                              : mp_rlock_consistent(l);
}

struct cwaiter {
	int64_t timeout;
	int result, consistent, release;
};

/* Waits on the condition; repairs and releases the lock after it. */
static void *cond_wait_thread(void *arg)
{
	struct cwaiter *w = arg;
	if (mp_cond_acquire(&sh->cond, TEST_WAIT_NS) < 0) {
		w->result = -1000;
		return NULL;
	}
	mpt_flag_set(&sh->ready, 1);
	w->result = mp_cond_wait(&sh->cond, w->timeout);
	if (w->result == -EOWNERDEAD)
		w->consistent = cond_mark_consistent();
	w->release = mp_cond_release(&sh->cond);
	return NULL;
}

/* Takes the condition's lock, notifies (or not), and hangs holding it. */
static int cond_hold_then_hang(void *arg)
{
	bool notify = arg != NULL;
	if (mp_cond_acquire(&sh->cond, TEST_WAIT_NS) < 0)
		return 1;
	if (notify)
		atomic_store(&sh->counter, mp_cond_notify(&sh->cond, 1));
	mpt_flag_set(&sh->ready, 2);
	for (;;)
		pause();
	return 0;
}

/*
 * A waiter notified while the notifier still holds the lock is blocked in
 * mp_cond_wait taking the lock back; the notifier is SIGKILLed: the waiter
 * returns -EOWNERDEAD, holding the lock, and can repair it.
 */
static void cond_death_while_reacquiring(bool rlock)
{
	cond_setup(rlock);
	struct cwaiter w = { .timeout = TEST_WAIT_NS };
	pthread_t t;
	pthread_create(&t, NULL, cond_wait_thread, &w);
	MPT_EQ(mpt_flag_wait(&sh->ready, 1), 0);
	/* The holder can take the lock only once the waiter is inside
	 * mp_cond_wait; its notify reports one woken. */
	mp_process_t *p = mpt_start(cond_hold_then_hang, (void *)1);
	MPT_EQ(mpt_flag_wait(&sh->ready, 2), 0);
	MPT_EQ(atomic_load(&sh->counter), 1);
	MPT_OK(await_waiters_bit(mp_cond_lock(&sh->cond)));
	MPT_OK(mp_process_kill(p));
	pthread_join(t, NULL);
	MPT_ERR(w.result, -EOWNERDEAD);
	MPT_EQ(w.consistent, 0);
	MPT_EQ(w.release, 0);
	MPT_EQ(mpt_finish(p), -SIGKILL);
	/* Whole again: a wait/notify cycle works. */
	MPT_OK(mp_cond_acquire(&sh->cond, 0));
	MPT_ERR(mp_cond_wait(&sh->cond, MP_MSEC(1)), -ETIMEDOUT);
	MPT_OK(mp_cond_release(&sh->cond));
}

/*
 * A waiter still waiting for a notify when a holder of the lock dies:
 * when its timeout ends the wait it takes the lock back with -EOWNERDEAD.
 */
static void cond_death_while_waiting(bool rlock)
{
	cond_setup(rlock);
	struct cwaiter w = { .timeout = MP_MSEC(1500), .result = 1 };
	pthread_t t;
	pthread_create(&t, NULL, cond_wait_thread, &w);
	MPT_EQ(mpt_flag_wait(&sh->ready, 1), 0);
	mp_process_t *p = mpt_start(cond_hold_then_hang, NULL);
	MPT_EQ(mpt_flag_wait(&sh->ready, 2), 0);
	MPT_OK(mp_process_kill(p));
	MPT_EQ(mpt_finish(p), -SIGKILL);
	/* The holder got the lock, so the waiter was inside its wait; it
	 * is still there unless 1.5 s passed since (a hang guard only). */
	pthread_join(t, NULL);
	MPT_ERR(w.result, -EOWNERDEAD);
	MPT_EQ(w.consistent, 0);
	MPT_EQ(w.release, 0);
}

static void test_cond_owner_dies(void)
{
	cond_death_while_reacquiring(true);
	cond_death_while_reacquiring(false);
	cond_death_while_waiting(true);
	cond_death_while_waiting(false);
}

/* Two processes take turns through the condition (turn 0 and 1); the one
 * with turn 1 is SIGKILLed at random points and replaced, many times, and
 * one or the other is stopped for a while before. */
static int cond_turns(void *arg)
{
	int me = (int)(intptr_t)arg;
	unsigned seed = (unsigned)getpid();
	for (;;) {
		int r = mp_cond_acquire(&sh->cond, TEST_WAIT_NS);
		if (r == -EOWNERDEAD) {
			atomic_fetch_add(&sh->results[1], 1);
			cond_mark_consistent();
		} else if (r < 0) {
			return 1;
		}
		while (sh->plain != me) {
			if (me == 0 && atomic_load(&sh->go))
				return mp_cond_release(&sh->cond) < 0;
			r = mp_cond_wait(&sh->cond, TEST_WAIT_NS);
			if (r == -EOWNERDEAD) {
				atomic_fetch_add(&sh->results[1], 1);
				cond_mark_consistent();
			} else if (r < 0) {
				return 2; /* stuck: a wake-up was lost */
			}
		}
		usleep(rand_r(&seed) % 50); /* inside */
		sh->plain = !me;
		atomic_fetch_add(&sh->counter, 1);
		mp_cond_notify_all(&sh->cond);
		mp_cond_release(&sh->cond);
	}
}

static void test_cond_kill_at_random(void)
{
	cond_setup(true);
	unsigned seed = 777;
	int rounds = 40, round;
	mp_process_t *a = mpt_start(cond_turns, (void *)0);
	/* 40 rounds, and more (up to ten times as many) until a kill has
	 * caught b holding the lock at least once: the holder is inside for
	 * a few microseconds a round, and under a busy machine's scheduling
	 * 40 random kills have all missed it. */
	for (round = 0; round < rounds * 10; round++) {
		if (round >= rounds && atomic_load(&sh->results[0]) +
		                       atomic_load(&sh->results[1]) > 0)
			break;
		mp_process_t *b = mpt_start(cond_turns, (void *)1);
		usleep(300 + rand_r(&seed) % 3000);
		pause_process(round % 2 ? a : b, &seed, 6000);
		MPT_OK(mp_process_kill(b));
		MPT_EQ(mpt_finish(b), -SIGKILL);
		int r = mp_cond_acquire(&sh->cond, TEST_WAIT_NS);
		CU_ASSERT(r == 1 || r == -EOWNERDEAD);
		if (r == -EOWNERDEAD) {
			atomic_fetch_add(&sh->results[0], 1);
			MPT_OK(cond_mark_consistent());
		}
		if (r != 1 && r != -EOWNERDEAD)
			break;
		sh->plain = 0; /* the other one is gone: the turn is a's */
		mp_cond_notify_all(&sh->cond);
		mp_cond_release(&sh->cond);
	}
	MPT_OK(mp_cond_acquire(&sh->cond, TEST_WAIT_NS));
	atomic_store(&sh->go, 1);
	mp_cond_notify_all(&sh->cond);
	MPT_OK(mp_cond_release(&sh->cond));
	MPT_EQ(mpt_finish(a), 0); /* never stuck, never an error */
	fprintf(stderr, " [%d turns; owner died: %d seen here, %d by the "
	        "survivor] ", (int)atomic_load(&sh->counter),
	        (int)atomic_load(&sh->results[0]),
	        (int)atomic_load(&sh->results[1]));
	MPT_CMP(atomic_load(&sh->results[0]) + atomic_load(&sh->results[1]),
	        >, 0);
	MPT_CMP(atomic_load(&sh->counter), >, rounds);
}

/* ---- Event ------------------------------------------------------------------ */

static int event_setter(void *arg)
{
	(void)arg;
	usleep(30000);
	return mp_event_set(&sh->ev);
}

static void test_event(void)
{
	reset();
	MPT_OK(mp_event_init(&sh->ev));
	MPT_EQ(mp_event_is_set(&sh->ev), 0);
	MPT_EQ(mp_event_wait(&sh->ev, 0), 0);
	int64_t t0 = mp_sys_now_ns();
	MPT_EQ(mp_event_wait(&sh->ev, MP_MSEC(20)), 0);
	MPT_CMP(mp_sys_now_ns() - t0, >=, MP_MSEC(20));
	mp_process_t *p = mpt_start(event_setter, NULL);
	MPT_EQ(mp_event_wait(&sh->ev, TEST_WAIT_NS), 1);
	MPT_EQ(mpt_finish(p), 0);
	MPT_EQ(mp_event_is_set(&sh->ev), 1);
	MPT_OK(mp_event_clear(&sh->ev));
	MPT_EQ(mp_event_is_set(&sh->ev), 0);
	MPT_OK(mp_event_destroy(&sh->ev));
}

/* ---- Barrier ------------------------------------------------------------------ */

static int bar_action(void *arg)
{
	(void)arg;
	atomic_fetch_add(&sh->counter, 1);
	return 0;
}

static int bar_party(void *arg)
{
	(void)arg;
	for (int round = 0; round < 20; round++) {
		int idx = mp_barrier_wait(&sh->bar, TEST_WAIT_NS);
		if (idx < 0 || idx > 3)
			return 1;
		atomic_fetch_or(&sh->results[round], 1u << idx);
	}
	return 0;
}

static void test_barrier(void)
{
	reset();
	MPT_OK(mp_barrier_init(&sh->bar, 4, bar_action, NULL));
	MPT_EQ(mp_barrier_parties(&sh->bar), 4);
	mp_process_t *p[4];
	for (int i = 0; i < 4; i++)
		p[i] = mpt_start(bar_party, NULL);
	for (int i = 0; i < 4; i++)
		MPT_EQ(mpt_finish(p[i]), 0);
	for (int round = 0; round < 20; round++)
		MPT_EQ(atomic_load(&sh->results[round]), 0xf); /* 0..3, once each */
	MPT_EQ(atomic_load(&sh->counter), 20); /* the action, once a cycle */

	/* A timeout breaks it: the timed-out party sees -ETIMEDOUT, later
	 * callers -MP_EBROKEN; reset repairs it. */
	MPT_OK(mp_barrier_init(&sh->bar, 2, NULL, NULL));
	MPT_ERR(mp_barrier_wait(&sh->bar, MP_MSEC(10)), -ETIMEDOUT);
	MPT_EQ(mp_barrier_broken(&sh->bar), 1);
	MPT_ERR(mp_barrier_wait(&sh->bar, 0), -MP_EBROKEN);
	MPT_OK(mp_barrier_reset(&sh->bar));
	MPT_EQ(mp_barrier_broken(&sh->bar), 0);
	MPT_EQ(mp_barrier_n_waiting(&sh->bar), 0);
	MPT_OK(mp_barrier_abort(&sh->bar));
	MPT_ERR(mp_barrier_wait(&sh->bar, MP_FOREVER), -MP_EBROKEN);
}

int main(void)
{
	sh = mpt_shared(sizeof(*sh));
	static CU_TestInfo tests[] = {
		{ "lock basics", test_lock_basic },
		{ "bad objects", test_bad_objects },
		{ "bad objects, every function", test_bad_objects_everywhere },
		{ "misuse", test_misuse },
		{ "lock: processes x threads", test_lock_stress },
		{ "lock: foreign release", test_lock_foreign_release },
		{ "lock: threads come and go", test_lock_threads_exit },
		{ "rlock", test_rlock },
		{ "lock: owner dies, waiter blocked", test_lock_owner_dies },
		{ "rlock: owner dies", test_rlock_owner_dies },
		{ "lock: owner dies, fallback", test_lock_owner_dies_fallback },
		{ "lock: SIGKILL at random", test_lock_kill_at_random },
		{ "lock: holder dies between release and wake-up",
		  test_lock_release_then_death },
		{ "semaphore", test_semaphore },
		{ "semaphore: overflowing releases race acquirers",
		  test_semaphore_overflow_race },
		{ "semaphore(2) admits two", test_semaphore_admits_two },
		{ "condition", test_cond },
		{ "condition: no stolen wake-up", test_cond_no_stealing },
		{ "condition wait_for", test_cond_wait_for },
		{ "condition: lock holder dies", test_cond_owner_dies },
		{ "condition: SIGKILL at random", test_cond_kill_at_random },
		{ "event", test_event },
		{ "barrier", test_barrier },
		CU_TEST_INFO_NULL,
	};
	return mpt_main("sync", tests);
}
