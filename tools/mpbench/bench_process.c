/* bench_process.c - starting and joining a process. */
#include "mpbench.h"

#include <errno.h>
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
	{ 0 },
};
