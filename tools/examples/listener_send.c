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
 * As in the seed, the client sends the function foo3 - as pickle sends
 * a function: by name, a reference to __main__.foo3 - and the server
 * receives it and calls it.  mproc never resolves a name that came in a
 * message into code: the server decodes the reference as an inert node,
 * looks the name up in its own table of functions (foo3 is there) and
 * calls what it finds there - its own foo3, as the Python server runs its
 * own __main__.foo3.  So the two talk to CPython either way: the seed's
 * Python client sends its foo3 to us, and a Python server calls its foo3
 * when our client names it.  The listener binds port 0 (the seed's 22222
 * may be taken), so it is opened in the main process before the server
 * process starts, which inherits it; the client connects to 127.0.0.1 at
 * the port picked.
 *
 *   listener_send [delay_ms]      (the seed's 0.5 s; default 50)
 *   listener_send server ADDR     foo2 alone, printing "listening on ADDR"
 *                                 first (port 0 picks one)
 *   listener_send client ADDR     foo1 alone
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <mproc.h>

static const mp_conn_opts_t opts = { .authkey = "123", .authkey_len = 3,
                                     .backlog = 1 };

static void py_repr(const mp_address_t *a, char *buf, size_t len)
{
	snprintf(buf, len, "('%s', %u)", a->name, a->port);
}

static int foo3(void)
{
	printf("222\n");
	return 333;
}

/* What a received function reference may name: this program's own. */
static const struct {
	const char *name;
	int (*fn)(void);
} functions[] = { { "foo3", foo3 } };

static int (*lookup(const mp_obj_t *ref))(void)
{
	const char *module = mp_obj_inert_module(ref);
	if (!module || strcmp(module, "__main__") || mp_obj_inert_args(ref))
		return NULL;
	for (size_t i = 0; i < sizeof(functions) / sizeof(functions[0]); i++)
		if (!strcmp(functions[i].name, mp_obj_inert_name(ref)))
			return functions[i].fn;
	return NULL;
}

static int client(const mp_address_t *to)
{
	int err;

	mp_conn_t *con = mp_client(to, &opts, MP_SEC(20), &err);
	if (!con) {
		fprintf(stderr, "Client: %s\n", mp_strerror(err));
		return 1;
	}
	/* con.send(foo3): the function, by name. */
	mp_obj_t *fn = mp_obj_global("__main__", "foo3", &err);
	err = fn ? mp_conn_send_obj(con, fn, MP_FOREVER) : err;
	mp_obj_decref(fn);
	mp_conn_close(con);
	if (err < 0)
		fprintf(stderr, "send: %s\n", mp_strerror(err));
	return err < 0;
}

static int foo1(void *arg)
{
	const mp_address_t *server = arg;
	mp_address_t to;

	mp_address_inet(&to, 0, "127.0.0.1", server->port);
	return client(&to);
}

static int foo2(void *arg)
{
	static const mp_pickle_opts_t inert = { .flags = MP_PICKLE_INERT };
	mp_listener_t *listen = arg;
	char text[300];
	int err;

	mp_conn_t *con = mp_listener_accept(listen, MP_FOREVER, &err);
	if (!con) {
		fprintf(stderr, "accept: %s\n", mp_strerror(err));
		return 1;
	}
	py_repr(mp_listener_address(listen), text, sizeof(text));
	printf("接受到连接: %s\n", text);
	mp_obj_t *fun = mp_conn_recv_obj(con, &inert, MP_FOREVER, &err);
	if (!fun) {
		fprintf(stderr, "recv: %s\n", mp_strerror(err));
		return 1;
	}
	int (*fn)(void) = lookup(fun);
	if (!fn) {
		char *r = mp_obj_repr(fun, NULL);
		fprintf(stderr, "not a function of ours: %s\n", r ? r : "?");
		free(r);
		return 1;
	}
	printf("%d\n", fn()); /* print(fun()) */
	mp_obj_decref(fun);
	py_repr(mp_listener_last_accepted(listen), text, sizeof(text));
	printf("最后一次连接请求为: %s\n", text);
	fflush(stdout);
	mp_conn_close(con);
	return 0;
}

/* listener_send server|client ADDR */
static int one_side(const char *side, const char *where)
{
	mp_address_t a;
	int err = mp_address_parse(&a, where);
	if (err < 0) {
		fprintf(stderr, "%s: %s\n", where, mp_strerror(err));
		return 2;
	}
	if (!strcmp(side, "client"))
		return client(&a);
	mp_listener_t *listen = mp_listener_open(&a, &opts, &err);
	if (!listen) {
		fprintf(stderr, "Listener: %s\n", mp_strerror(err));
		return 1;
	}
	char bound[300];
	mp_address_format(mp_listener_address(listen), bound, sizeof(bound));
	printf("listening on %s\n", bound);
	fflush(stdout);
	int r = foo2(listen);
	mp_listener_close(listen);
	return r;
}

int main(int argc, char **argv)
{
	int delay_ms = 50, err, c1 = 1, c2 = 1;
	mp_address_t any;

	if (argc > 1 && (!strcmp(argv[1], "server") ||
	                 !strcmp(argv[1], "client"))) {
		if (argc < 3) {
			fprintf(stderr, "usage: %s server|client ADDR\n",
			        argv[0]);
			return 2;
		}
		return one_side(argv[1], argv[2]);
	}
	if (argc > 1)
		delay_ms = atoi(argv[1]);
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
