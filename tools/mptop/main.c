/*
 * mptop - a live, read-only view of an mproc process family's shared
 * objects: locks and their holders, queues, pools and their workers,
 * events and semaphores.  See doc/mptop.1.
 *
 * Read-only: the heap is mapped PROT_READ (or read through /proc/PID/mem);
 * no lock is taken, no futex woken, no signal sent.
 */
#include "mptop.h"

#include <errno.h>
#include <getopt.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

static volatile sig_atomic_t stop;

static void on_signal(int sig)
{
	(void)sig;
	stop = 1;
}

static void usage(FILE *f)
{
	fprintf(f, "usage: mptop [-d SECONDS] [-n COUNT] [--json] PID\n"
	        "  -d, --interval SECONDS  redraw every SECONDS (q or ^C"
	        " stops)\n"
	        "  -n, --iterations COUNT  stop after COUNT draws\n"
	        "  -j, --json              one JSON object per draw\n");
}

/* Wait up to ms for 'q' on a terminal (or for a signal).  True: stop. */
static bool wait_key(int ms)
{
	struct pollfd p = { .fd = STDIN_FILENO, .events = POLLIN };
	bool tty = isatty(STDIN_FILENO);
	char c;

	if (poll(&p, tty ? 1 : 0, ms) > 0 && read(STDIN_FILENO, &c, 1) == 1)
		return c == 'q' || c == 'Q';
	return stop != 0;
}

static int draw(pid_t pid, bool json, bool clear)
{
	struct target t;
	struct view v;
	char why[256];
	int r = target_open(pid, &t, why, sizeof(why));

	if (r == 0) {
		r = view_collect(&t, &v, why, sizeof(why));
		target_close(&t);
	}
	if (r < 0) {
		fprintf(stderr, "mptop: %s\n", why);
		return r;
	}
	if (clear)
		fputs("\033[H\033[2J", stdout);
	if (json)
		show_json(stdout, &t, &v);
	else
		show_text(stdout, &t, &v);
	fflush(stdout);
	view_free(&v);
	return 0;
}

static int parse_args(int argc, char **argv, double *interval, long *count,
                      bool *json, pid_t *pid)
{
	static const struct option opts[] = {
		{ "interval", required_argument, NULL, 'd' },
		{ "iterations", required_argument, NULL, 'n' },
		{ "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	char *end;
	int c;

	while ((c = getopt_long(argc, argv, "d:n:jh", opts, NULL)) != -1) {
		switch (c) {
		case 'd':
			*interval = strtod(optarg, &end);
			if (*end || !(*interval > 0 && *interval < 86400))
				return -EINVAL;
			break;
		case 'n':
			*count = strtol(optarg, &end, 10);
			if (*end || *count <= 0)
				return -EINVAL;
			break;
		case 'j': *json = true; break;
		case 'h': usage(stdout); exit(0);
		default: return -EINVAL;
		}
	}
	if (optind != argc - 1)
		return -EINVAL;
	long p = strtol(argv[optind], &end, 10);
	if (*end || p <= 0 || p > INT32_MAX)
		return -EINVAL;
	*pid = (pid_t)p;
	return 0;
}

int main(int argc, char **argv)
{
	double interval = 0;
	long count = 0;
	bool json = false;
	pid_t pid;

	if (parse_args(argc, argv, &interval, &count, &json, &pid) < 0) {
		usage(stderr);
		return 2;
	}
	if (interval == 0)
		return draw(pid, json, false) < 0;

	struct sigaction sa = { .sa_handler = on_signal };
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	struct termios old, raw;
	bool tty = isatty(STDIN_FILENO) && tcgetattr(STDIN_FILENO, &old) == 0;
	if (tty) { /* keys without Enter, not echoed */
		raw = old;
		raw.c_lflag &= ~(tcflag_t)(ICANON | ECHO);
		tcsetattr(STDIN_FILENO, TCSANOW, &raw);
	}
	int r = 0;
	for (long i = 0; !stop && (!count || i < count); i++) {
		if ((r = draw(pid, json, isatty(STDOUT_FILENO))) < 0)
			break;
		if ((!count || i + 1 < count) && wait_key((int)(interval * 1000)))
			break;
	}
	if (tty)
		tcsetattr(STDIN_FILENO, TCSANOW, &old);
	return r < 0;
}
