/*
 * pipe_poll - the seed's poll/fileno example.
 *
 * Python:
 *     con_c, con_s = mp.Pipe(False)
 *     p1 = mp.Process(target=foo1, args=(con_s,))   # sends abcd0, abcd1,
 *     p2 = mp.Process(target=foo2, args=(con_c,))   #   2 s apart
 *     p1.start(); p2.start()                        # foo2: sleep 1, recv
 *     print(con_c.poll(timeout=-1))
 *     print(con_c.recv(), "Main")
 *     print(con_c.fileno())
 *     con_c.close(); con_s.close()
 * prints False (nothing has been sent yet), "abcd0 Main", the descriptor
 * number, and "abcd1" from foo2.
 *
 * Python's poll(timeout=-1) does not wait (a negative timeout counts as
 * 0); in mproc -1 is MP_FOREVER, so the C spelling of that check is
 * mp_conn_poll(con, 0).  Strings go as str objects (send and recv, as
 * in the seed), and seconds become `unit` ms (default 100).  As in
 * pipe_simplex, foo2 starts to read after 3 units instead of 1, so that
 * the two readers of the one pipe end never wait at the same time
 * (pipe_simplex.c says why: the seed, as written, is a race on Linux, in
 * CPython too).
 *
 *   pipe_poll [unit_ms]
 */
#include "example.h"

static int unit_ms = 100;

static int foo1(void *arg)
{
	mp_conn_t *con = arg;
	char msg[16];

	for (int i = 0; i < 2; i++) {
		ex_sleep_ms(2L * unit_ms);
		snprintf(msg, sizeof(msg), "abcd%d", i);
		ex_send_obj(con, ex_cstr(msg));
	}
	return 0;
}

static int foo2(void *arg)
{
	ex_sleep_ms(3L * unit_ms); /* the seed: 1 unit */
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
	int ready = mp_conn_poll(con_c, 0);
	ex_check(ready, "mp_conn_poll");
	printf("%s\n", ready ? "True" : "False");
	ex_print_recv_obj(con_c, " Main\n");
	printf("%d\n", mp_conn_fileno(con_c));
	fflush(stdout);
	mp_conn_close(con_c);
	mp_conn_close(con_s);
	ex_join(p1);
	ex_join(p2);
	return 0;
}
