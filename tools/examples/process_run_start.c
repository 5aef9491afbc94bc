/*
 * process_run_start - the seed's Process example.
 *
 * Python:
 *     p = multiprocessing.Process(target=test)
 *     p.run()      # test() runs in the main process: no new process
 *     print('.....end')
 * and
 *     p.start()    # test() runs in a child; the main process goes on
 *     print('.....end')
 *
 * The seed's test() prints forever; ours prints `count` times (default 3)
 * so the program ends.  Each line names the pid it ran in.
 *
 *   process_run_start run|start [count]
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <mproc.h>

static int test(void *arg)
{
	int count = *(int *)arg;

	for (int i = 0; i < count; i++) {
		printf(".....1...... (pid %d)\n", (int)getpid());
		fflush(stdout);
		usleep(20000);
	}
	return 0;
}

int main(int argc, char **argv)
{
	int count = argc > 2 ? atoi(argv[2]) : 3, err;

	if (argc < 2 || (strcmp(argv[1], "run") && strcmp(argv[1], "start"))) {
		fprintf(stderr, "usage: %s run|start [count]\n", argv[0]);
		return 2;
	}
	printf("main pid %d\n", (int)getpid());
	mp_process_t *p = mp_process_new(test, &count, NULL, 0, &err);
	if (!p) {
		fprintf(stderr, "mp_process_new: %s\n", mp_strerror(err));
		return 1;
	}
	if (!strcmp(argv[1], "run"))
		err = mp_process_run(p);
	else
		err = mp_process_start(p);
	if (err < 0) {
		fprintf(stderr, "%s: %s\n", argv[1], mp_strerror(err));
		return 1;
	}
	printf(".....end\n");
	fflush(stdout);
	/* As in Python, the main process waits for its non-daemonic children
	 * when it exits; the join here just lets us free the object. */
	mp_process_join(p, MP_FOREVER);
	mp_process_free(p);
	return 0;
}
