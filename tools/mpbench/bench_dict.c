/*
 * bench_dict.c - the shared dict beside Python's Manager().dict().
 *
 * dict.set: two processes each set n/2 items (1000 distinct keys, 16-byte
 * values, so most sets replace a value), released together through a
 * futex; the figure is sets per second from the release to the later
 * process's end (fork and exit stay out of it).  Python's side is the
 * same with a DictProxy: every d[k] = v is a round trip to the manager's
 * server process.  Our side makes at least MIN_OPS sets whatever the
 * case's count (which Python's pace sets): a rate from a few ms of work
 * would be mostly noise.
 */
#include "mpbench.h"

#include <errno.h>
#include <stdatomic.h>
#include <stdio.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include <mproc.h>

#include "mpsys.h"

struct duo {
	_Atomic uint32_t go;    /* futex: 1 releases the children */
	_Atomic uint32_t ready; /* children waiting for go */
	_Atomic int64_t end[2]; /* each child's end time */
	_Atomic int fail;
	mp_dict_t *d;
};

#define KEYS 1000
#define MIN_OPS 400000

static void setter(struct duo *u, int idx, long n)
{
	unsigned char v[16] = { 0 };
	char k[16];
	atomic_fetch_add(&u->ready, 1);
	while (!atomic_load(&u->go))
		mp_sys_futex_wait(&u->go, 0, NULL);
	for (long i = 0; i < n; i++) {
		int kl = snprintf(k, sizeof(k), "key-%ld", i % KEYS);
		v[0] = (unsigned char)i;
		if (mp_dict_set(u->d, k, (size_t)kl, v, sizeof(v),
		                MP_FOREVER) < 0) {
			atomic_store(&u->fail, 1);
			break;
		}
	}
	atomic_store(&u->end[idx], mpb_now());
	_exit(0);
}

static int mproc_dict_set(const struct mpb_case *c, long iters,
                          double *value, const char **why)
{
	(void)c;
	(void)why;
	int err = 0;
	if (iters < MIN_OPS)
		iters = MIN_OPS;
	struct duo *u = mmap(NULL, sizeof(*u), PROT_READ | PROT_WRITE,
	                     MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (u == MAP_FAILED)
		return -ENOMEM;
	u->d = mp_dict_new(0, &err);
	if (!u->d) {
		munmap(u, sizeof(*u));
		return err;
	}
	pid_t pid[2];
	int np = 0;
	for (; np < 2; np++) {
		pid[np] = fork();
		if (pid[np] < 0) {
			err = -errno;
			break;
		}
		if (pid[np] == 0)
			setter(u, np, iters / 2);
	}
	while (!err && atomic_load(&u->ready) < 2)
		usleep(100);
	int64_t t0 = mpb_now();
	atomic_store(&u->go, 1);
	mp_sys_futex_wake(&u->go, INT32_MAX);
	for (int i = 0; i < np; i++)
		waitpid(pid[i], NULL, 0);
	int64_t e0 = atomic_load(&u->end[0]), e1 = atomic_load(&u->end[1]);
	*value = (double)(iters / 2 * 2) / ((double)((e0 > e1 ? e0 : e1) -
	                                             t0) / 1e9);
	if (!err && (atomic_load(&u->fail) || mp_dict_len(u->d) != KEYS))
		err = -EPROTO;
	mp_dict_free(u->d);
	munmap(u, sizeof(*u));
	return err;
}

const struct mpb_case mpb_dict_cases[] = {
	{
		.name = "dict.set/python_manager",
		.unit = "ops/s",
		.higher_better = true,
		.baseline = "python3 Manager().dict() d[k] = v, 2 processes",
		.goal = 100.0,
		.iters = 20000,
		.quick_iters = 6000,
		.run_mproc = mproc_dict_set,
		.python =
			"import multiprocessing as mp\n"
			"_ctx = mp.get_context('fork')\n"
			"def _set(d, go, end, n):\n"
			"    v = bytes(16)\n"
			"    go.wait()\n"
			"    for i in range(n):\n"
			"        d['key-%d' % (i % 1000)] = v\n"
			"    with end.get_lock():\n"
			"        end.value = max(end.value,\n"
			"                        time.perf_counter())\n"
			"_man = None\n"
			"def bench(n):\n"
			"    global _man\n"
			"    if _man is None:\n"
			"        _man = _ctx.Manager()\n"
			"    d, go = _man.dict(), _ctx.Event()\n"
			"    end = _ctx.Value('d', 0.0)\n"
			"    ps = [_ctx.Process(target=_set,\n"
			"                       args=(d, go, end, n // 2))\n"
			"          for _ in range(2)]\n"
			"    for p in ps:\n"
			"        p.start()\n"
			"    time.sleep(0.05)\n"
			"    t = time.perf_counter()\n"
			"    go.set()\n"
			"    for p in ps:\n"
			"        p.join()\n"
			"    assert len(d) == min(1000, n // 2)\n"
			"    return n // 2 * 2 / (end.value - t)\n",
	},
	{ 0 },
};
