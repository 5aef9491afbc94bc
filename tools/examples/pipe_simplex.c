/*
 * pipe_simplex - the seed's Pipe(False) example: one writer, two readers.
 *
 * Python:
 *     def foo1(con):                      # the writer
 *         for i in range(2):
 *             time.sleep(2)
 *             con.send("abcd{}".format(i))
 *     def foo2(con):                      # a second reader
 *         time.sleep(1)
 *         print(con.recv())
 *     con_c, con_s = mp.Pipe(False)       # con_c reads, con_s writes
 *     p1 = mp.Process(target=foo1, args=(con_s,))
 *     p2 = mp.Process(target=foo2, args=(con_c,))
 *     p1.start(); p2.start()
 *     print(con_c.recv(), "Main")
 *     con_c.close(); con_s.close()
 * prints "abcd0 Main" (the main process was waiting first), then "abcd1"
 * (from foo2).
 *
 * The seed sends str objects with send() (pickled); C sends their bytes
 * with send_bytes(), and receives with recv_bytes().  Sleeps are scaled
 * from seconds to `unit` milliseconds (default 100).
 *
 * One change of timing: foo2 starts to read after 3 units, not 1.  In the
 * seed, main and foo2 are both blocked reading the same pipe end when
 * abcd0 arrives; a message is read as a header and then a payload, and the
 * kernel wakes the second reader between the two, so it can take the
 * payload's first bytes for a header.  CPython's documentation warns of
 * exactly this ("data in a pipe may become corrupted if two processes try
 * to read from the same end at the same time"), and the seed, run with
 * CPython 3.11 on Linux, printed garbage or died in 4 runs out of 10 here
 * (its author used Windows, whose message-mode pipes return whole
 * messages).  With foo2 reading only after main has its message, each
 * message has one reader waiting, and the output is the seed's.
 *
 *   pipe_simplex [unit_ms]
 */
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include <mproc.h>

static int unit_ms = 100;

static void sleep_units(int n)
{
	usleep((useconds_t)(n * unit_ms) * 1000);
}

static int foo1(void *arg)
{
	mp_conn_t *con = arg;
	char msg[16];

	for (int i = 0; i < 2; i++) {
		sleep_units(2);
		int n = snprintf(msg, sizeof(msg), "abcd%d", i);
		if (mp_conn_send_bytes(con, msg, (size_t)n, MP_FOREVER) < 0)
			return 1;
	}
	return 0;
}

static int foo2(void *arg)
{
	mp_conn_t *con = arg;
	mp_bytes_t m;

	sleep_units(3); /* the seed: 1 (see the top of the file) */
	int r = mp_conn_recv_bytes(con, MP_CONN_NOLIMIT, &m, MP_FOREVER);
	if (r < 0) {
		fprintf(stderr, "foo2: %s\n", mp_strerror(r));
		return 1;
	}
	printf("%s\n", (char *)m.data);
	fflush(stdout);
	free(m.data);
	return 0;
}

int main(int argc, char **argv)
{
	mp_conn_t *con_c, *con_s;
	mp_bytes_t m;
	int err;

	if (argc > 1)
		unit_ms = atoi(argv[1]);
	if ((err = mp_pipe(false, &con_c, &con_s)) < 0) {
		fprintf(stderr, "mp_pipe: %s\n", mp_strerror(err));
		return 1;
	}
	mp_process_t *p1 = mp_process_new(foo1, con_s, NULL, 0, &err);
	mp_process_t *p2 = mp_process_new(foo2, con_c, NULL, 0, &err);
	if (!p1 || !p2 || mp_process_start(p1) < 0 || mp_process_start(p2) < 0) {
		fprintf(stderr, "cannot start the processes\n");
		return 1;
	}
	err = mp_conn_recv_bytes(con_c, MP_CONN_NOLIMIT, &m, MP_FOREVER);
	if (err < 0) {
		fprintf(stderr, "recv: %s\n", mp_strerror(err));
		return 1;
	}
	printf("%s Main\n", (char *)m.data);
	fflush(stdout);
	free(m.data);
	mp_conn_close(con_c);
	mp_conn_close(con_s);
	/* Python joins non-daemonic children at exit; so do we, by hand. */
	mp_process_join(p1, MP_FOREVER);
	mp_process_join(p2, MP_FOREVER);
	mp_process_free(p1);
	mp_process_free(p2);
	return 0;
}
