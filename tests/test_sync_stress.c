/* test_sync_stress.c - every primitive hammered by processes x threads
 * (counts exact; every wait has a deadline, so a deadlock or a lost wake-up
 * fails instead of hanging), and every timeout honoured. */
#include "testutil.h"

#include <pthread.h>
#include <signal.h>
#include <unistd.h>

void mp__lock_force_fallback(bool on);

enum { PROCS = 3, THREADS = 2, TOTAL = PROCS * THREADS };
enum { EV_ROUNDS = 200, BAR_ROUNDS = 500, CAP = 4 };

struct shared {
	mp_rlock_t rlock;
	mp_lock_t lock;
	mp_sem_t sem;
	mp_cond_t not_full, not_empty;
	mp_event_t ev[EV_ROUNDS];
	mp_barrier_t bar;
	_Atomic int32_t inside, max_inside;
	_Atomic int64_t done;
	_Atomic uint32_t arrived;
	_Atomic uint32_t waiting[EV_ROUNDS], woke[EV_ROUNDS];
	_Atomic uint32_t seen[BAR_ROUNDS];
	_Atomic int64_t actions;
	int64_t plain;                 /* under the lock being tested */
	int64_t items, produced, consumed; /* under `lock` */
};
static struct shared *sh;

/* ---- running a body in PROCS processes x THREADS threads --------------------- */

typedef void *(*body_fn)(intptr_t id);
static body_fn body;

static void *thread_main(void *arg)
{
	return body((intptr_t)arg);
}

/* One process: THREADS threads; the exit code counts failed ones. */
static int proc_main(void *arg)
{
	return mpt_threads(THREADS, thread_main, (intptr_t)arg * THREADS);
}

static mp_process_t *procs[PROCS];

static void start_all(body_fn fn)
{
	body = fn; /* inherited by the children */
	for (intptr_t i = 0; i < PROCS; i++) {
		procs[i] = mp_process_new(proc_main, (void *)i, NULL, 0, NULL);
		CU_ASSERT_PTR_NOT_NULL_FATAL(procs[i]);
		MPT_OK(mp_process_start(procs[i]));
	}
}

/* Join them all: the number of failed threads (or 1000 per lost child). */
static int join_all(void)
{
	int bad = 0;
	for (int i = 0; i < PROCS; i++) {
		int code = 1000;
		if (mp_process_join(procs[i], MP_SEC(60)) < 0)
			mp_process_kill(procs[i]);
		mp_process_join(procs[i], MP_SEC(5));
		mp_process_exitcode(procs[i], &code);
		mp_process_free(procs[i]);
		bad += code;
	}
	return bad;
}

static void note_inside(void)
{
	int32_t in = atomic_fetch_add(&sh->inside, 1) + 1;
	int32_t m = atomic_load(&sh->max_inside);
	while (in > m && !atomic_compare_exchange_weak(&sh->max_inside, &m, in))
		;
}

#define FAIL_IF(cond) do { if (cond) return (void *)(intptr_t)__LINE__; } while (0)

/* ---- RLock ----------------------------------------------------------------------- */

enum { RL_ROUNDS = 20000 };

static void *rlock_body(intptr_t id)
{
	(void)id;
	for (int i = 0; i < RL_ROUNDS; i++) {
		FAIL_IF(mp_rlock_acquire(&sh->rlock, TEST_WAIT_NS) != 1);
		FAIL_IF(mp_rlock_acquire(&sh->rlock, TEST_WAIT_NS) != 2);
		note_inside();
		sh->plain++; /* not atomic: the RLock must make it exact */
		atomic_fetch_sub(&sh->inside, 1);
		FAIL_IF(mp_rlock_release(&sh->rlock) != 1);
		FAIL_IF(mp_rlock_release(&sh->rlock) != 0);
	}
	return NULL;
}

static void test_rlock(void)
{
	memset(sh, 0, sizeof(*sh));
	MPT_OK(mp_rlock_init(&sh->rlock));
	start_all(rlock_body);
	MPT_EQ(join_all(), 0);
	MPT_EQ(sh->plain, (int64_t)TOTAL * RL_ROUNDS);
	MPT_EQ(atomic_load(&sh->max_inside), 1);
	int tid = -1, count = -1;
	MPT_OK(mp_rlock_owner(&sh->rlock, &tid, &count));
	MPT_EQ(tid, 0);
	MPT_OK(mp_rlock_destroy(&sh->rlock));
}

/* ---- Semaphore and BoundedSemaphore ------------------------------------------ */

enum { SEM_ROUNDS = 10000 };

static void *sem_body(intptr_t id)
{
	(void)id;
	for (int i = 0; i < SEM_ROUNDS; i++) {
		FAIL_IF(mp_sem_acquire(&sh->sem, TEST_WAIT_NS) != 0);
		note_inside();
		atomic_fetch_add(&sh->done, 1);
		atomic_fetch_sub(&sh->inside, 1);
		FAIL_IF(mp_sem_release(&sh->sem, 1) != 0);
	}
	return NULL;
}

static void sem_round(long units, bool bounded)
{
	memset(sh, 0, sizeof(*sh));
	MPT_OK(mp_sem_init(&sh->sem, units, bounded));
	start_all(sem_body);
	MPT_EQ(join_all(), 0);
	MPT_EQ(atomic_load(&sh->done), (int64_t)TOTAL * SEM_ROUNDS);
	MPT_CMP(atomic_load(&sh->max_inside), <=, units);
	MPT_CMP(atomic_load(&sh->max_inside), >=, 1);
	MPT_EQ(mp_sem_value(&sh->sem), units);
	if (bounded)
		MPT_ERR(mp_sem_release(&sh->sem, 1), -EOVERFLOW);
	MPT_OK(mp_sem_destroy(&sh->sem));
}

static void test_semaphore(void)
{
	sem_round(2, false);
	sem_round(3, true);
	sem_round(1, true); /* a BoundedSemaphore(1) is a lock */
	MPT_EQ(atomic_load(&sh->max_inside), 1);
}

/* release(n) lets n blocked acquirers through at once. */
static void *sem_waiter(intptr_t id)
{
	(void)id;
	FAIL_IF(mp_sem_acquire(&sh->sem, TEST_WAIT_NS) != 0);
	atomic_fetch_add(&sh->done, 1);
	return NULL;
}

static void test_semaphore_release_n(void)
{
	memset(sh, 0, sizeof(*sh));
	MPT_OK(mp_sem_init(&sh->sem, 0, false));
	start_all(sem_waiter);
	/* All of them asleep in the kernel on the semaphore, seen, not hoped
	 * for after a pause (which under load left some still on their way,
	 * and the release then tested the fast path). */
	pid_t pids[PROCS];
	for (int i = 0; i < PROCS; i++)
		pids[i] = mp_process_pid(procs[i]);
	MPT_OK(mpt_await_futex_sleepers(pids, PROCS, &sh->sem,
	                                sizeof(sh->sem), TOTAL));
	MPT_OK(mp_sem_release(&sh->sem, TOTAL));
	MPT_EQ(join_all(), 0);
	MPT_EQ(atomic_load(&sh->done), TOTAL);
	MPT_EQ(mp_sem_value(&sh->sem), 0);
}

/* ---- Condition: a bounded store, producers and consumers --------------------- */

enum { ITEMS = 5000 }; /* per producer, and per consumer */

static bool not_full(void *arg)
{
	(void)arg;
	return sh->items < CAP;
}

static bool not_empty(void *arg)
{
	(void)arg;
	return sh->items > 0;
}

static void *store_body(intptr_t id)
{
	bool producer = id % 2 == 0;
	mp_cond_t *mine = producer ? &sh->not_full : &sh->not_empty;
	mp_cond_t *theirs = producer ? &sh->not_empty : &sh->not_full;
	for (int i = 0; i < ITEMS; i++) {
		FAIL_IF(mp_lock_acquire(&sh->lock, TEST_WAIT_NS) != 0);
		/* A lost wake-up shows as a timeout here. */
		FAIL_IF(mp_cond_wait_for(mine, producer ? not_full : not_empty,
		                         NULL, TEST_WAIT_NS) != 1);
		if (producer) {
			sh->items++;
			sh->produced++;
		} else {
			sh->items--;
			sh->consumed++;
		}
		FAIL_IF(sh->items < 0 || sh->items > CAP);
		/* Every few rounds wake everybody, else exactly one. */
		FAIL_IF((i % 16 ? mp_cond_notify(theirs, 1)
		                : mp_cond_notify_all(theirs)) < 0);
		FAIL_IF(mp_lock_release(&sh->lock) != 0);
	}
	return NULL;
}

static void test_condition(void)
{
	memset(sh, 0, sizeof(*sh));
	MPT_OK(mp_lock_init(&sh->lock));
	MPT_OK(mp_cond_init(&sh->not_full, &sh->lock, false));
	MPT_OK(mp_cond_init(&sh->not_empty, &sh->lock, false));
	start_all(store_body);
	MPT_EQ(join_all(), 0);
	MPT_EQ(sh->produced, (int64_t)TOTAL / 2 * ITEMS);
	MPT_EQ(sh->consumed, sh->produced);
	MPT_EQ(sh->items, 0);
	MPT_OK(mp_cond_destroy(&sh->not_full));  /* nobody left waiting */
	MPT_OK(mp_cond_destroy(&sh->not_empty));
}

/* ---- Event: every waiter of every round wakes ------------------------------------ */

static void *event_body(intptr_t id)
{
	(void)id;
	for (int r = 0; r < EV_ROUNDS; r++) {
		atomic_fetch_add(&sh->waiting[r], 1);
		FAIL_IF(mp_event_wait(&sh->ev[r], TEST_WAIT_NS) != 1);
		atomic_fetch_add(&sh->woke[r], 1);
	}
	return NULL;
}

static void test_event(void)
{
	memset(sh, 0, sizeof(*sh));
	for (int r = 0; r < EV_ROUNDS; r++)
		MPT_OK(mp_event_init(&sh->ev[r]));
	start_all(event_body);
	for (int r = 0; r < EV_ROUNDS; r++) {
		int64_t end = mp_sys_now_ns() + TEST_WAIT_NS;
		while (atomic_load(&sh->waiting[r]) < TOTAL &&
		       mp_sys_now_ns() < end)
			usleep(100);
		if (r % 2)
			usleep(2000); /* let them reach the futex this time */
		MPT_OK(mp_event_set(&sh->ev[r]));
	}
	MPT_EQ(join_all(), 0);
	for (int r = 0; r < EV_ROUNDS; r++)
		MPT_EQ(atomic_load(&sh->woke[r]), TOTAL);
	/* clear() makes it wait again. */
	MPT_OK(mp_event_clear(&sh->ev[0]));
	MPT_EQ(mp_event_wait(&sh->ev[0], 0), 0);
}

/* ---- Barrier ----------------------------------------------------------------------- */

static int count_action(void *arg)
{
	(void)arg;
	atomic_fetch_add(&sh->actions, 1);
	return 0;
}

static void *barrier_body(intptr_t id)
{
	(void)id;
	for (int r = 0; r < BAR_ROUNDS; r++) {
		int idx = mp_barrier_wait(&sh->bar, TEST_WAIT_NS);
		FAIL_IF(idx < 0 || idx >= TOTAL);
		uint32_t old = atomic_fetch_or(&sh->seen[r], 1u << idx);
		FAIL_IF(old & (1u << idx)); /* an index given twice */
	}
	return NULL;
}

static void test_barrier(void)
{
	memset(sh, 0, sizeof(*sh));
	MPT_OK(mp_barrier_init(&sh->bar, TOTAL, count_action, NULL));
	start_all(barrier_body);
	MPT_EQ(join_all(), 0);
	for (int r = 0; r < BAR_ROUNDS; r++)
		MPT_EQ(atomic_load(&sh->seen[r]), (1u << TOTAL) - 1);
	MPT_EQ(atomic_load(&sh->actions), BAR_ROUNDS);
	MPT_EQ(mp_barrier_n_waiting(&sh->bar), 0);
	MPT_EQ(mp_barrier_broken(&sh->bar), 0);
	MPT_OK(mp_barrier_destroy(&sh->bar));
}

/* ---- timeouts ------------------------------------------------------------------------ */

#define T_NS MP_MSEC(30)
#define HANG_GUARD_NS MP_SEC(5) /* not a timing assertion: a hang guard */

/* A call that must time out: not before T_NS. */
#define MPT_TIMES_OUT(expr, want)                                            \
	do {                                                                 \
		int64_t t0_ = mp_sys_now_ns();                               \
		MPT_ERR((expr), (want));                                     \
		int64_t dt_ = mp_sys_now_ns() - t0_;                         \
		MPT_CMP(dt_, >=, T_NS);                                      \
		MPT_CMP(dt_, <, T_NS + HANG_GUARD_NS);                       \
	} while (0)

static int hold_lock(void *arg)
{
	(void)arg;
	if (mp_lock_acquire(&sh->lock, TEST_WAIT_NS) != 0)
		return 1;
	mpt_flag_set(&sh->arrived, 1);
	return mpt_flag_wait(&sh->arrived, 2) != 0; /* then exit holding it */
}

static bool never(void *arg)
{
	(void)arg;
	return false;
}

static void *rlock_timeout(void *arg)
{
	(void)arg;
	int64_t t0 = mp_sys_now_ns();
	int r = mp_rlock_acquire(&sh->rlock, T_NS);
	int64_t dt = mp_sys_now_ns() - t0;
	return (void *)(intptr_t)(r == -ETIMEDOUT && dt >= T_NS ? 0 : 1);
}

static void test_timeouts(void)
{
	memset(sh, 0, sizeof(*sh));
	MPT_OK(mp_lock_init(&sh->lock));
	MPT_OK(mp_rlock_init(&sh->rlock));

	/* A Lock held by another process (robust path, then fallback). */
	mp_process_t *p = mp_process_new(hold_lock, NULL, NULL, 0, NULL);
	CU_ASSERT_PTR_NOT_NULL_FATAL(p);
	MPT_OK(mp_process_start(p));
	MPT_EQ(mpt_flag_wait(&sh->arrived, 1), 0);
	MPT_TIMES_OUT(mp_lock_acquire(&sh->lock, T_NS), -ETIMEDOUT);
	mp__lock_force_fallback(true); /* sleeps in 2 ms slices */
	MPT_TIMES_OUT(mp_lock_acquire(&sh->lock, T_NS), -ETIMEDOUT);
	mp__lock_force_fallback(false);
	mpt_flag_set(&sh->arrived, 2);
	MPT_OK(mp_process_join(p, TEST_WAIT_NS));
	mp_process_free(p);
	MPT_ERR(mp_lock_acquire(&sh->lock, TEST_WAIT_NS), -EOWNERDEAD);
	MPT_OK(mp_lock_consistent(&sh->lock));

	/* An RLock held here, several threads timing out at once. */
	MPT_EQ(mp_rlock_acquire(&sh->rlock, 0), 1);
	pthread_t t[4];
	for (int i = 0; i < 4; i++)
		pthread_create(&t[i], NULL, rlock_timeout, NULL);
	for (int i = 0; i < 4; i++) {
		void *r;
		pthread_join(t[i], &r);
		MPT_EQ((intptr_t)r, 0);
	}
	MPT_EQ(mp_rlock_release(&sh->rlock), 0);

	/* Semaphore, Condition, Event, Barrier. */
	MPT_OK(mp_sem_init(&sh->sem, 0, true));
	MPT_TIMES_OUT(mp_sem_acquire(&sh->sem, T_NS), -ETIMEDOUT);
	MPT_OK(mp_cond_init(&sh->not_full, &sh->lock, false));
	MPT_TIMES_OUT(mp_cond_wait(&sh->not_full, T_NS), -ETIMEDOUT);
	MPT_EQ(mp_lock_locked(&sh->lock), 1); /* held again after it */
	MPT_TIMES_OUT(mp_cond_wait_for(&sh->not_full, never, NULL, T_NS), 0);
	MPT_OK(mp_lock_release(&sh->lock));
	MPT_OK(mp_event_init(&sh->ev[0]));
	MPT_TIMES_OUT(mp_event_wait(&sh->ev[0], T_NS), 0);
	MPT_OK(mp_barrier_init(&sh->bar, 2, NULL, NULL));
	MPT_TIMES_OUT(mp_barrier_wait(&sh->bar, T_NS), -ETIMEDOUT);
	/* Try-once never waits for anything: it just says no. */
	MPT_ERR(mp_sem_acquire(&sh->sem, 0), -EAGAIN);
	MPT_EQ(mp_event_wait(&sh->ev[0], 0), 0);
	MPT_ERR(mp_barrier_wait(&sh->bar, 0), -MP_EBROKEN); /* broken above */
}

int main(void)
{
	sh = mpt_shared(sizeof(*sh));
	static CU_TestInfo tests[] = {
		{ "rlock", test_rlock },
		{ "semaphore, bounded semaphore", test_semaphore },
		{ "semaphore release(n)", test_semaphore_release_n },
		{ "condition: producers and consumers", test_condition },
		{ "event", test_event },
		{ "barrier", test_barrier },
		{ "timeouts", test_timeouts },
		CU_TEST_INFO_NULL,
	};
	return mpt_main("sync_stress", tests);
}
