/* bench_process.c - starting and joining a process. */
#include "mpbench.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include <mproc.h>

static int nothing(void *arg)
{
	(void)arg;
	return 0;
}

static int mproc_start_join(const struct mpb_case *c, long iters,
                            double *value, const char **why)
{
	(void)c;
	(void)why;
	int64_t t0 = mpb_now();
	for (long i = 0; i < iters; i++) {
		int err;
		mp_process_t *p = mp_process_new(nothing, NULL, NULL, 0, &err);
		if (!p)
			return err;
		if ((err = mp_process_start(p)) < 0 ||
		    (err = mp_process_join(p, MP_FOREVER)) < 0) {
			mp_process_free(p);
			return err;
		}
		mp_process_free(p);
	}
	*value = (double)(mpb_now() - t0) / 1e3 / (double)iters;
	return 0;
}

/* start+join iters processes of method; the server (if any) is started
 * first, outside the timing, as a program would at the top of main. */
static int start_join_with(const char *method, long iters, double *value)
{
	const mp_context_t *ctx = mp_get_context(method, NULL);
	int err = mp_target_register("mpbench.nothing", nothing);
	if (err < 0 || (strcmp(method, "forkserver") == 0 &&
	                (err = mp_forkserver_start()) < 0))
		return err;
	int64_t t0 = mpb_now();
	for (long i = 0; i < iters; i++) {
		mp_process_t *p = mp_process_new(nothing, NULL, NULL, 0, &err);
		if (!p)
			return err;
		if ((err = mp_process_set_context(p, ctx)) < 0 ||
		    (err = mp_process_start(p)) < 0 ||
		    (err = mp_process_join(p, MP_FOREVER)) < 0) {
			mp_process_free(p);
			return err;
		}
		mp_process_free(p);
	}
	*value = (double)(mpb_now() - t0) / 1e3 / (double)iters;
	return 0;
}

static int fs_start_join(const struct mpb_case *c, long iters,
                         double *value, const char **why)
{
	(void)c, (void)why;
	return start_join_with("forkserver", iters, value);
}

/* ---- a service's parent: 8 busy threads, 1 GiB touched ------------------ */

#define LOAD_THREADS 8
#define LOAD_BYTES ((size_t)1 << 30)

static _Atomic bool load_stop;

static void *spin(void *arg)
{
	volatile uint64_t x = (uint64_t)(uintptr_t)arg;
	while (!atomic_load_explicit(&load_stop, memory_order_relaxed))
		for (int i = 0; i < 1000; i++)
			x = x * 6364136223846793005u + 1;
	return NULL;
}

static int loaded(const char *method, long iters, double *value)
{
	pthread_t t[LOAD_THREADS];
	int err = mp_target_register("mpbench.nothing", nothing);
	/* The server first: forked before the load, as it would be. */
	if (err < 0 || (err = mp_forkserver_start()) < 0)
		return err;
	char *mem = mmap(NULL, LOAD_BYTES, PROT_READ | PROT_WRITE,
	                 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (mem == MAP_FAILED)
		return -errno;
	memset(mem, 1, LOAD_BYTES);
	atomic_store(&load_stop, false);
	int n = 0;
	while (n < LOAD_THREADS &&
	       pthread_create(&t[n], NULL, spin, (void *)(uintptr_t)n) == 0)
		n++;
	err = start_join_with(method, iters, value);
	atomic_store(&load_stop, true);
	while (n)
		pthread_join(t[--n], NULL);
	munmap(mem, LOAD_BYTES);
	return err;
}

static int loaded_fs(const struct mpb_case *c, long iters, double *value,
                     const char **why)
{
	(void)c, (void)why;
	return loaded("forkserver", iters, value);
}

static int loaded_fork(const struct mpb_case *c, long iters, double *value,
                       const char **why)
{
	(void)c, (void)why;
	return loaded("fork", iters, value);
}

static int fork_waitpid(const struct mpb_case *c, long iters, double *value,
                        const char **why)
{
	(void)c;
	(void)why;
	int64_t t0 = mpb_now();
	for (long i = 0; i < iters; i++) {
		pid_t pid = fork();
		if (pid < 0)
			return -errno;
		if (pid == 0)
			_exit(0);
		if (waitpid(pid, NULL, 0) < 0)
			return -errno;
	}
	*value = (double)(mpb_now() - t0) / 1e3 / (double)iters;
	return 0;
}

const struct mpb_case mpb_process_cases[] = {
	{
		.name = "process.start_join/fork",
		.unit = "us/op",
		.baseline = "raw fork + _exit + waitpid",
		.goal = 0.9,
		.iters = 400,
		.quick_iters = 150,
		.run_mproc = mproc_start_join,
		.run_baseline = fork_waitpid,
	},
	{
		.name = "process.start_join/python",
		.unit = "us/op",
		.baseline = "python3 multiprocessing.Process (fork) start+join",
		.goal = 10,
		.iters = 200,
		.quick_iters = 60,
		.run_mproc = mproc_start_join,
		.python =
			"import multiprocessing as mp\n"
			"_ctx = mp.get_context('fork')\n"
			"def _f():\n"
			"    pass\n"
			"def bench(n):\n"
			"    t = time.perf_counter()\n"
			"    for _ in range(n):\n"
			"        p = _ctx.Process(target=_f)\n"
			"        p.start()\n"
			"        p.join()\n"
			"    return (time.perf_counter() - t) / n * 1e6\n",
	},
	{
		.name = "process.start_join/python_forkserver",
		.unit = "us/op",
		.baseline = "python3 Process with the forkserver method, "
		            "start+join; mproc's forkserver likewise",
		.goal = 20,
		.iters = 200,
		.quick_iters = 60,
		.run_mproc = fs_start_join,
		.python =
			"import multiprocessing as mp, os\n"
			"_ctx = mp.get_context('forkserver')\n"
			"def bench(n):\n"
			"    _ctx.Process(target=os.getpid).start()\n"
			"    t = time.perf_counter()\n"
			"    for _ in range(n):\n"
			"        p = _ctx.Process(target=os.getpid)\n"
			"        p.start()\n"
			"        p.join()\n"
			"    return (time.perf_counter() - t) / n * 1e6\n",
	},
	{
		.name = "process.start_join_threaded/fork",
		.unit = "us/op",
		.baseline = "mproc fork start+join from a parent with 8 busy "
		            "threads and 1 GiB touched; mproc: forkserver",
		.goal = 2,
		.iters = 100,
		.quick_iters = 40,
		.run_mproc = loaded_fs,
		.run_baseline = loaded_fork,
	},
	{ 0 },
};
