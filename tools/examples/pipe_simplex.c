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
 * As in the seed, str objects go with send() (pickled, as CPython does)
 * and come back with recv(), printed as print() shows them.  Sleeps are
 * scaled from seconds to `unit` milliseconds (default 100).
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
#include "example.h"

static int unit_ms = 100;

static void sleep_units(int n)
{
	ex_sleep_ms((long)n * unit_ms);
}

static int foo1(void *arg)
{
	mp_conn_t *con = arg;
	char msg[16];

	for (int i = 0; i < 2; i++) {
		sleep_units(2);
		snprintf(msg, sizeof(msg), "abcd%d", i);
		ex_send_obj(con, ex_cstr(msg));
	}
	return 0;
}

static int foo2(void *arg)
{
	sleep_units(3); /* the seed: 1 (see the top of the file) */
	ex_print_recv_obj(arg, "\n");
	return 0;
}

int main(int argc, char **argv)
{
	mp_conn_t *con_c, *con_s;

	unit_ms = (int)ex_arg(argc, argv, 1, unit_ms);
	ex_check(mp_pipe(false, &con_c, &con_s), "mp_pipe");
	mp_process_t *p1 = ex_start(foo1, con_s);
	mp_process_t *p2 = ex_start(foo2, con_c);
	ex_print_recv_obj(con_c, " Main\n");
	mp_conn_close(con_c);
	mp_conn_close(con_s);
	/* Python joins non-daemonic children at exit; so do we, by hand. */
	ex_join(p1);
	ex_join(p2);
	return 0;
}
