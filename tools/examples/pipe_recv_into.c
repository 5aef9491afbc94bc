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
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include <mproc.h>

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
	mp_conn_t *con = arg;
	mp_bytes_t m;

	usleep((useconds_t)unit_ms * 1000);
	int r = mp_conn_recv_bytes(con, MP_CONN_NOLIMIT, &m, MP_FOREVER);
	if (r < 0) {
		fprintf(stderr, "foo2: %s\n", mp_strerror(r));
		return 1;
	}
	printf("b'%s'\n", (char *)m.data);
	fflush(stdout);
	free(m.data);
	return 0;
}

int main(int argc, char **argv)
{
	mp_conn_t *con_c, *con_s;
	unsigned char byte_content[10] = { 0 };
	int err;

	if (argc > 1)
		unit_ms = atoi(argv[1]);
	if ((err = mp_pipe(true, &con_c, &con_s)) < 0) {
		fprintf(stderr, "mp_pipe: %s\n", mp_strerror(err));
		return 1;
	}
	mp_process_t *p1 = mp_process_new(foo1, con_s, NULL, 0, &err);
	mp_process_t *p2 = mp_process_new(foo2, con_c, NULL, 0, &err);
	if (!p1 || !p2 || mp_process_start(p1) < 0 || mp_process_start(p2) < 0) {
		fprintf(stderr, "cannot start the processes\n");
		return 1;
	}
	int64_t n = mp_conn_recv_bytes_into(con_c, byte_content,
	                                    sizeof(byte_content), 0, NULL,
	                                    MP_FOREVER);
	if (n < 0) {
		fprintf(stderr, "recv_bytes_into: %s\n", mp_strerror((int)n));
		return 1;
	}
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
	mp_process_join(p1, MP_FOREVER);
	mp_process_join(p2, MP_FOREVER);
	mp_process_free(p1);
	mp_process_free(p2);
	return 0;
}
