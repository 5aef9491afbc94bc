/*
 * py.c - run python3 baselines in a long-lived interpreter.
 *
 * The script defines bench(n) from the case, then answers each line "n" on
 * stdin with one line: the value, or "ERR <reason>".  Python's own clock
 * measures it, so interpreter start-up and our pipe round trip stay out.
 * A round-trip baseline's bench(n) may return (value, [ns, ...]), each
 * round trip's duration: the line then carries them after the value, and
 * they go to the latency record as ours do.
 */
#include "mpbench.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

/* The longest a repetition may take (the slowest full run takes ~10 s);
 * MPBENCH_PY_TIMEOUT (seconds) overrides it. */
static int py_timeout_ms(void)
{
	const char *e = getenv("MPBENCH_PY_TIMEOUT");
	long s = e ? strtol(e, NULL, 10) : 0;
	return s > 0 && s < 86400 ? (int)s * 1000 : 300000;
}

static const struct mpb_case *py_case;
static pid_t py_pid;
static FILE *py_in, *py_out;

static const char driver[] =
	"import sys, time\n"
	"def _serve():\n"
	"    for line in sys.stdin:\n"
	"        try:\n"
	"            v = bench(int(line))\n"
	"            if isinstance(v, tuple):\n"
	"                print(repr(float(v[0])), *v[1], flush=True)\n"
	"            else:\n"
	"                print(repr(float(v)), flush=True)\n"
	"        except Exception as e:\n"
	"            print('ERR', type(e).__name__, e, flush=True)\n"
	"if __name__ == '__main__':\n"
	"    _serve()\n";

void mpb_python_stop(void)
{
	if (!py_pid)
		return;
	fclose(py_in);
	fclose(py_out);
	waitpid(py_pid, NULL, 0);
	py_pid = 0;
	py_case = NULL;
}

static int py_start(const struct mpb_case *c)
{
	const char *exe = getenv("MPBENCH_PYTHON");
	int in[2], out[2];
	size_t len = strlen(c->python) + sizeof(driver) + 64;
	char *script = malloc(len);

	if (!script)
		return -ENOMEM;
	snprintf(script, len, "%s\n%s", c->python, driver);
	if (pipe2(in, O_CLOEXEC) < 0 || pipe2(out, O_CLOEXEC) < 0) {
		free(script);
		return -errno;
	}
	posix_spawn_file_actions_t fa;
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_adddup2(&fa, in[0], 0);
	posix_spawn_file_actions_adddup2(&fa, out[1], 1);
	/* Its own process group: on a timeout the interpreter goes with
	 * every process its baseline started. */
	posix_spawnattr_t at;
	posix_spawnattr_init(&at);
	posix_spawnattr_setflags(&at, POSIX_SPAWN_SETPGROUP);
	posix_spawnattr_setpgroup(&at, 0);
	char *argv[] = { (char *)(exe ? exe : "python3"), "-c", script, NULL };
	int r = posix_spawnp(&py_pid, argv[0], &fa, &at, argv, environ);
	posix_spawnattr_destroy(&at);
	posix_spawn_file_actions_destroy(&fa);
	free(script);
	close(in[0]);
	close(out[1]);
	if (r != 0) {
		close(in[1]);
		close(out[0]);
		py_pid = 0;
		return -r;
	}
	py_in = fdopen(in[1], "w");
	py_out = fdopen(out[0], "r");
	py_case = c;
	return 0;
}

/* The value, then any round-trip durations (ns) to record. */
static double parse_answer(const char *line)
{
	char *end;
	double v = strtod(line, &end);
	for (;;) {
		const char *p = end;
		long long ns = strtoll(p, &end, 10);
		if (end == p)
			break;
		mpb_lat_record(ns);
	}
	return v;
}

int mpb_python_run(const struct mpb_case *c, long iters, double *value,
                   const char **why)
{
	static char *line;
	static size_t cap;

	if (py_case != c) {
		mpb_python_stop();
		if (py_start(c) < 0) {
			*why = "python3 not found";
			return MPB_SKIP;
		}
	}
	fprintf(py_in, "%ld\n", iters);
	fflush(py_in);
	/* One line answers each request, so stdio holds nothing unread
	 * here and the descriptor tells whether the answer came. */
	struct pollfd pf = { .fd = fileno(py_out), .events = POLLIN };
	int limit = py_timeout_ms();
	if (poll(&pf, 1, limit) == 0) {
		fprintf(stderr, "mpbench: %s: python: no answer in %d s\n",
		        c->name, limit / 1000);
		killpg(py_pid, SIGKILL);
		mpb_python_stop();
		*why = "python3 baseline timed out";
		return MPB_SKIP;
	}
	if (getline(&line, &cap, py_out) < 1) {
		mpb_python_stop();
		*why = "python3 not found or failed to start";
		return MPB_SKIP;
	}
	if (strncmp(line, "ERR", 3) == 0) {
		fprintf(stderr, "mpbench: %s: python: %s", c->name, line);
		*why = "python3 baseline failed";
		return MPB_SKIP;
	}
	*value = parse_answer(line);
	return 0;
}

int mpb_python_peer(const char *script, long n, char *line, size_t cap,
                    pid_t *pid, const char **why)
{
	const char *exe = getenv("MPBENCH_PYTHON");
	char arg[32];
	int out[2];

	*pid = 0;
	*why = "python3 not found or failed to start";
	snprintf(arg, sizeof(arg), "%ld", n);
	if (pipe2(out, O_CLOEXEC) < 0)
		return -errno;
	posix_spawn_file_actions_t fa;
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_adddup2(&fa, out[1], 1);
	char *argv[] = { (char *)(exe ? exe : "python3"), "-c", (char *)script,
	                 arg, NULL };
	int r = posix_spawnp(pid, argv[0], &fa, NULL, argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	close(out[1]);
	if (r != 0) {
		close(out[0]);
		*pid = 0;
		return MPB_SKIP;
	}
	/* Its first line says it is ready; nothing else is read. */
	struct pollfd pf = { .fd = out[0], .events = POLLIN };
	size_t len = 0;
	while (len + 1 < cap && poll(&pf, 1, py_timeout_ms()) == 1) {
		ssize_t k = read(out[0], line + len, 1);
		if (k != 1 || line[len] == '\n')
			break;
		len++;
	}
	line[len] = 0;
	close(out[0]);
	if (len == 0) {
		mpb_python_peer_end(*pid, true);
		*pid = 0;
		return MPB_SKIP;
	}
	return 0;
}

int mpb_python_peer_end(pid_t pid, bool kill_it)
{
	int st = 0;

	if (pid <= 0)
		return -EINVAL;
	if (kill_it)
		kill(pid, SIGKILL);
	if (waitpid(pid, &st, 0) < 0)
		return -errno;
	return WIFEXITED(st) && WEXITSTATUS(st) == 0 ? 0 : -EIO;
}
