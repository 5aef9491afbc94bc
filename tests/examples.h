/*
 * examples.h - running a tools/examples program and capturing its output.
 */
#ifndef MPROC_TEST_EXAMPLES_H
#define MPROC_TEST_EXAMPLES_H

#include "testutil.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

struct run_result {
	char out[65536]; /* stdout and stderr, interleaved */
	int status;      /* exit status, -signal, or -1000 on a hang */
	int64_t ns;      /* wall time */
};

/*
 * Run $MPROC_EXAMPLES_DIR/<name> with argv (NULL-terminated, after the
 * program name), killing it after limit_ns.
 */
static inline void run_example(const char *name, const char *const *args,
                               int64_t limit_ns, struct run_result *res)
{
	char path[1024];
	const char *dir = getenv("MPROC_EXAMPLES_DIR");
	snprintf(path, sizeof(path), "%s/%s", dir ? dir : ".", name);
	const char *argv[16] = { path };
	for (int i = 0; args && args[i] && i < 14; i++)
		argv[i + 1] = args[i];

	memset(res, 0, sizeof(*res));
	int fds[2];
	CU_ASSERT_FATAL(pipe2(fds, O_CLOEXEC) == 0);
	posix_spawn_file_actions_t fa;
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_adddup2(&fa, fds[1], 1);
	posix_spawn_file_actions_adddup2(&fa, fds[1], 2);
	pid_t pid;
	int64_t t0 = mp_sys_now_ns();
	int r = posix_spawn(&pid, path, &fa, NULL, (char **)argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	close(fds[1]);
	if (r != 0) {
		snprintf(res->out, sizeof(res->out), "spawn %s: %s", path,
		         strerror(r));
		res->status = -1000;
		close(fds[0]);
		CU_FAIL("cannot spawn the example");
		return;
	}
	size_t len = 0;
	bool hung = false;
	for (;;) {
		int64_t left = t0 + limit_ns - mp_sys_now_ns();
		struct pollfd p = { fds[0], POLLIN, 0 };
		if (left <= 0 || poll(&p, 1, (int)(left / 1000000) + 1) == 0) {
			hung = true;
			kill(pid, SIGKILL);
			break;
		}
		ssize_t n = read(fds[0], res->out + len,
		                 sizeof(res->out) - 1 - len);
		if (n <= 0)
			break;
		len += (size_t)n;
		if (len == sizeof(res->out) - 1)
			break;
	}
	res->out[len] = 0;
	close(fds[0]);
	int st = 0;
	waitpid(pid, &st, 0);
	res->ns = mp_sys_now_ns() - t0;
	res->status = hung ? -1000 : WIFEXITED(st) ? WEXITSTATUS(st)
	                                          : -WTERMSIG(st);
	if (res->status != 0)
		fprintf(stderr, "\n--- %s output ---\n%s\n---\n", name, res->out);
}

/* Number of lines of out that contain needle. */
static inline int count_lines(const char *out, const char *needle)
{
	int n = 0;
	for (const char *l = out; l && *l;) {
		const char *e = strchr(l, '\n');
		size_t len = e ? (size_t)(e - l) : strlen(l);
		char line[1024];
		snprintf(line, sizeof(line), "%.*s", (int)len, l);
		if (strstr(line, needle))
			n++;
		l = e ? e + 1 : NULL;
	}
	return n;
}

#endif
