/*
 * listener_send - the seed's Listener example: a server process accepts
 * an authenticated connection from a client process.
 *
 * Python:
 *     def foo3():
 *         print(222)
 *         return 333
 *     def foo1():
 *         con = cn.Client(("19.19.19.12", 22222), "AF_INET", "123".encode())
 *         con.send(foo3)           # send a function
 *         con.close()
 *     def foo2():
 *         listen = cn.Listener(("0.0.0.0", 22222), "AF_INET", 1, "123".encode())
 *         con = listen.accept()
 *         print("接受到连接: {}".format(listen.address))
 *         fun = con.recv()
 *         print(fun())             # receive the function and run it
 *         print("最后一次连接请求为: {}".format(listen.last_accepted))
 *         con.close()
 *     p1 = mp.Process(target=foo2); p2 = mp.Process(target=foo1)
 *     p1.start(); time.sleep(0.5); p2.start()
 * prints the listener's address, 222, 333, and the client's address.
 *
 * Adapted: C cannot send a function, and mproc never executes code that
 * came from a message.  So the client sends bytes instead - "222" and
 * "333", what running foo3 printed and returned - and the server prints
 * them.  The listener binds port 0 (the seed's 22222 may be taken), so it
 * is opened in the main process before the server process starts, which
 * inherits it; the client connects to 127.0.0.1 at the port picked.
 *
 *   listener_send [delay_ms]      (the seed's 0.5 s; default 50)
 */
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include <mproc.h>

static const mp_conn_opts_t opts = { .authkey = "123", .authkey_len = 3,
                                     .backlog = 1 };

static void py_repr(const mp_address_t *a, char *buf, size_t len)
{
	snprintf(buf, len, "('%s', %u)", a->name, a->port);
}

static int foo1(void *arg)
{
	const mp_address_t *server = arg;
	mp_address_t to;
	int err;

	mp_address_inet(&to, 0, "127.0.0.1", server->port);
	mp_conn_t *con = mp_client(&to, &opts, MP_SEC(20), &err);
	if (!con) {
		fprintf(stderr, "Client: %s\n", mp_strerror(err));
		return 1;
	}
	/* In place of con.send(foo3): bytes, not code. */
	if (mp_conn_send_bytes(con, "222", 3, MP_FOREVER) < 0 ||
	    mp_conn_send_bytes(con, "333", 3, MP_FOREVER) < 0)
		return 1;
	mp_conn_close(con);
	return 0;
}

static int foo2(void *arg)
{
	mp_listener_t *listen = arg;
	char text[300];
	mp_bytes_t m;
	int err;

	mp_conn_t *con = mp_listener_accept(listen, MP_FOREVER, &err);
	if (!con) {
		fprintf(stderr, "accept: %s\n", mp_strerror(err));
		return 1;
	}
	py_repr(mp_listener_address(listen), text, sizeof(text));
	printf("接受到连接: %s\n", text);
	for (int i = 0; i < 2; i++) {
		if ((err = mp_conn_recv_bytes(con, 64, &m, MP_FOREVER)) < 0) {
			fprintf(stderr, "recv: %s\n", mp_strerror(err));
			return 1;
		}
		printf("%s\n", (char *)m.data);
		free(m.data);
	}
	py_repr(mp_listener_last_accepted(listen), text, sizeof(text));
	printf("最后一次连接请求为: %s\n", text);
	fflush(stdout);
	mp_conn_close(con);
	return 0;
}

int main(int argc, char **argv)
{
	int delay_ms = argc > 1 ? atoi(argv[1]) : 50, err, c1 = 1, c2 = 1;
	mp_address_t any;

	mp_address_inet(&any, AF_INET, "0.0.0.0", 0);
	mp_listener_t *listen = mp_listener_open(&any, &opts, &err);
	if (!listen) {
		fprintf(stderr, "Listener: %s\n", mp_strerror(err));
		return 1;
	}
	mp_address_t bound = *mp_listener_address(listen);
	mp_process_t *p1 = mp_process_new(foo2, listen, NULL, 0, &err);
	mp_process_t *p2 = mp_process_new(foo1, &bound, NULL, 0, &err);
	if (!p1 || !p2 || mp_process_start(p1) < 0) {
		fprintf(stderr, "cannot start the server\n");
		return 1;
	}
	usleep((useconds_t)delay_ms * 1000);
	if (mp_process_start(p2) < 0) {
		fprintf(stderr, "cannot start the client\n");
		return 1;
	}
	mp_process_join(p1, MP_FOREVER);
	mp_process_join(p2, MP_FOREVER);
	mp_process_exitcode(p1, &c1);
	mp_process_exitcode(p2, &c2);
	mp_process_free(p1);
	mp_process_free(p2);
	mp_listener_close(listen);
	return c1 || c2;
}
