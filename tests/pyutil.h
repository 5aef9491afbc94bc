/*
 * pyutil.h - real CPython peers for the interop tests.
 *
 * mpt_python_find(minor) looks for a python3.<minor>: the command
 * python3.<minor>, plain python3, and pyenv installations
 * ($PYENV_ROOT/versions/3.<minor>.*, run as PYENV_VERSION=... python3),
 * and keeps the first whose sys.version_info says so - as the interpreter
 * itself (sys.executable): a pyenv shim costs 0.2-0.4 s per start, which
 * the interop tests paid some 35 times.  A test that cannot find one skips
 * loudly (MPT_SKIP); it never passes in its place.
 *
 * mpt_py_start() runs a script with arguments (mpt_proc_start() any
 * program), its stdout and stderr on a pipe; mpt_py_line() waits (at most TEST_WAIT_NS) for a line with a given
 * prefix; mpt_py_finish() collects the rest and the exit status, killing a
 * peer that outlives the deadline.
 */
#ifndef MPROC_TEST_PYUTIL_H
#define MPROC_TEST_PYUTIL_H

#include "testutil.h"

#include <dirent.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

struct mpt_py {
	char exe[256];
	char pyenv[64]; /* PYENV_VERSION to set, or "" */
	int minor;
};

struct mpt_pyproc {
	pid_t pid;
	int out;
	int64_t deadline;
	size_t len;
	char buf[16384];
};

/* environ with PYENV_VERSION replaced (when pyenv is not empty). */
static inline char **mpt_py_env(const char *pyenv, char *slot, size_t cap)
{
	static char *envp[512];
	size_t n = 0;
	for (char **e = environ; *e && n < 510; e++)
		if (!*pyenv || strncmp(*e, "PYENV_VERSION=", 14) != 0)
			envp[n++] = *e;
	if (*pyenv) {
		snprintf(slot, cap, "PYENV_VERSION=%s", pyenv);
		envp[n++] = slot;
	}
	envp[n] = NULL;
	return envp;
}

/* Run argv (PATH searched) with PYENV_VERSION=pyenv unless "", its output
 * on a pipe: any program, not only python. */
static inline int mpt_proc_start(const char *const *argv, const char *pyenv,
                                 struct mpt_pyproc *pp)
{
	int fds[2];
	char slot[128];
	memset(pp, 0, sizeof(*pp));
	if (pipe2(fds, O_CLOEXEC) < 0)
		return -errno;
	posix_spawn_file_actions_t fa;
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_adddup2(&fa, fds[1], 1);
	posix_spawn_file_actions_adddup2(&fa, fds[1], 2);
	int r = posix_spawnp(&pp->pid, argv[0], &fa, NULL, (char **)argv,
	                     mpt_py_env(pyenv, slot, sizeof(slot)));
	posix_spawn_file_actions_destroy(&fa);
	close(fds[1]);
	if (r != 0) {
		close(fds[0]);
		return -r;
	}
	pp->out = fds[0];
	pp->deadline = mp_sys_now_ns() + TEST_WAIT_NS;
	return 0;
}

static inline int mpt_py_start(const struct mpt_py *py, const char *script,
                               const char *const *args,
                               struct mpt_pyproc *pp)
{
	const char *argv[24] = { py->exe, "-c", script };
	int n = 3;
	for (int i = 0; args && args[i] && n < 23; i++)
		argv[n++] = args[i];
	argv[n] = NULL;
	return mpt_proc_start(argv, py->pyenv, pp);
}

/* Read more output, until the deadline.  0 at end of file, -ETIMEDOUT. */
static inline int mpt_py_read(struct mpt_pyproc *pp)
{
	int64_t left = pp->deadline - mp_sys_now_ns();
	struct pollfd p = { pp->out, POLLIN, 0 };
	if (left <= 0 || poll(&p, 1, (int)(left / 1000000) + 1) <= 0)
		return -ETIMEDOUT;
	if (pp->len + 1 >= sizeof(pp->buf))
		return 0;
	ssize_t n = read(pp->out, pp->buf + pp->len,
	                 sizeof(pp->buf) - 1 - pp->len);
	if (n <= 0)
		return 0;
	pp->len += (size_t)n;
	pp->buf[pp->len] = 0;
	return 1;
}

/* Wait for a whole line starting with prefix; copy it (without the
 * newline) into line.  0, or -ETIMEDOUT / -ENOENT (output ended). */
static inline int mpt_py_line(struct mpt_pyproc *pp, const char *prefix,
                              char *line, size_t cap)
{
	for (;;) {
		for (const char *l = pp->buf; l && *l;) {
			const char *e = strchr(l, '\n');
			if (!e)
				break;
			if (!strncmp(l, prefix, strlen(prefix))) {
				snprintf(line, cap, "%.*s", (int)(e - l), l);
				return 0;
			}
			l = e + 1;
		}
		int r = mpt_py_read(pp);
		if (r <= 0)
			return r < 0 ? r : -ENOENT;
	}
}

/* The rest of the output, and the exit status (or -1000 for a hang). */
static inline int mpt_py_finish(struct mpt_pyproc *pp)
{
	int r, st = 0;
	while ((r = mpt_py_read(pp)) > 0)
		;
	if (r < 0)
		kill(pp->pid, SIGKILL);
	close(pp->out);
	waitpid(pp->pid, &st, 0);
	if (r < 0)
		return -1000;
	return WIFEXITED(st) ? WEXITSTATUS(st) : -WTERMSIG(st);
}

static inline bool mpt_py_try(struct mpt_py *py, const char *exe,
                              const char *pyenv, int minor)
{
	struct mpt_pyproc pp;
	char line[320], real[256] = "";
	snprintf(py->exe, sizeof(py->exe), "%s", exe);
	snprintf(py->pyenv, sizeof(py->pyenv), "%s", pyenv);
	if (mpt_py_start(py, "import sys; print('V', sys.version_info[1], "
	                     "sys.executable)", NULL, &pp) < 0)
		return false;
	int got = -1;
	if (mpt_py_line(&pp, "V ", line, sizeof(line)) == 0)
		sscanf(line + 2, "%d %255s", &got, real);
	if (mpt_py_finish(&pp) != 0 || got != minor)
		return false;
	if (real[0] == '/') { /* the interpreter, without a shim */
		snprintf(py->exe, sizeof(py->exe), "%s", real);
		py->pyenv[0] = 0;
	}
	return true;
}

/* pyenv installations of 3.<minor>, tried as PYENV_VERSION=v python3. */
static inline bool mpt_py_try_pyenv(struct mpt_py *py, int minor)
{
	char root[512], want[16];
	const char *env = getenv("PYENV_ROOT"), *home = getenv("HOME");
	if (env)
		snprintf(root, sizeof(root), "%s/versions", env);
	else
		snprintf(root, sizeof(root), "%s/.pyenv/versions",
		         home ? home : "/root");
	snprintf(want, sizeof(want), "3.%d.", minor);
	DIR *d = opendir(root);
	bool ok = false;
	for (struct dirent *e; d && !ok && (e = readdir(d));)
		if (!strncmp(e->d_name, want, strlen(want)) &&
		    strlen(e->d_name) < sizeof(py->pyenv))
			ok = mpt_py_try(py, "python3", e->d_name, minor);
	if (d)
		closedir(d);
	return ok;
}

/* Find python 3.<minor>; cached per minor. */
static inline bool mpt_python_find(int minor, struct mpt_py *py)
{
	static struct mpt_py cache[32];
	static signed char state[32]; /* 0 unknown, 1 found, -1 missing */
	char exe[32];
	if (minor < 0 || minor >= 32)
		return false;
	if (state[minor]) {
		*py = cache[minor];
		return state[minor] > 0;
	}
	snprintf(exe, sizeof(exe), "python3.%d", minor);
	bool ok = mpt_py_try(py, exe, "", minor) ||
	          mpt_py_try(py, "python3", "", minor) ||
	          mpt_py_try_pyenv(py, minor);
	py->minor = minor;
	cache[minor] = *py;
	state[minor] = ok ? 1 : -1;
	return ok;
}

#endif
