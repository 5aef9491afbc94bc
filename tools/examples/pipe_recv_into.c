/*
 * pipe_recv_into - the seed's recv_bytes_into example.
 *
 * Python:
 *     def foo1(con):
 *         con.send_bytes("2222".encode())
 *         con.send_bytes("3333".encode())
 *     def foo2(con):
 *         time.sleep(1)
 *         print(con.recv_bytes())
 *     con_c, con_s = mp.Pipe(True)
 *     p1 = mp.Process(target=foo1, args=(con_s,))
 *     p2 = mp.Process(target=foo2, args=(con_c,))
 *     p1.start(); p2.start()
 *     byte_content = bytearray(10)
 *     print(con_c.recv_bytes_into(byte_content), "Main")
 *     print(byte_content.decode())
 *     con_c.close(); con_s.close()
 * prints "4 Main", "2222" (followed by six NULs), and b'3333' from foo2.
 *
 * The main process receives the first message into a 10-byte buffer; foo2,
 * a second later (here `unit` ms, default 100), the second one.  Main and
 * foo2 read the same end; that is safe only because foo2 starts after
 * main has its message (see pipe_simplex.c).  We print
 * the buffer's ten bytes as Python's repr of the bytearray would, so the
 * six NULs after "2222" are visible.
 *
 *   pipe_recv_into [unit_ms]
 */
#include "example.h"

static int unit_ms = 100;

static int foo1(void *arg)
{
	mp_conn_t *con = arg;
	if (mp_conn_send_bytes(con, "2222", 4, MP_FOREVER) < 0 ||
	    mp_conn_send_bytes(con, "3333", 4, MP_FOREVER) < 0)
		return 1;
	return 0;
}

static int foo2(void *arg)
{
	ex_sleep_ms(unit_ms);
	ex_print_recv(arg, "b'", "'\n");
	return 0;
}

int main(int argc, char **argv)
{
	mp_conn_t *con_c, *con_s;
	unsigned char byte_content[10] = { 0 };

	unit_ms = (int)ex_arg(argc, argv, 1, unit_ms);
	ex_check(mp_pipe(true, &con_c, &con_s), "mp_pipe");
	mp_process_t *p1 = ex_start(foo1, con_s);
	mp_process_t *p2 = ex_start(foo2, con_c);
	int64_t n = mp_conn_recv_bytes_into(con_c, byte_content,
	                                    sizeof(byte_content), 0, NULL,
	                                    MP_FOREVER);
	ex_check((int)n, "mp_conn_recv_bytes_into");
	printf("%lld Main\n", (long long)n);
	printf("%.*s\n", (int)n, (char *)byte_content);
	printf("bytearray(b'");
	for (size_t i = 0; i < sizeof(byte_content); i++)
		if (byte_content[i] >= 0x20 && byte_content[i] < 0x7f)
			putchar(byte_content[i]);
		else
			printf("\\x%02x", byte_content[i]);
	printf("')\n");
	fflush(stdout);
	mp_conn_close(con_c);
	mp_conn_close(con_s);
	ex_join(p1);
	ex_join(p2);
	return 0;
}
