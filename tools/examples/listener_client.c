/*
 * listener_client - the seed's client-server example (Listener, Client,
 * authkey, send_bytes, recv_bytes_into of an int array).
 *
 * Python, the server:
 *     address = ('localhost', 6000)     # family is deduced to be 'AF_INET'
 *     with Listener(address, authkey=b'secret password') as listener:
 *         with listener.accept() as conn:
 *             print('connection accepted from', listener.last_accepted)
 *             conn.send([2.25, None, 'junk', float])
 *             conn.send_bytes(b'hello')
 *             conn.send_bytes(array('i', [42, 1729]))
 * and the client:
 *     with Client(address, authkey=b'secret password') as conn:
 *         print(conn.recv())                  # => [2.25, None, 'junk', float]
 *         print(conn.recv_bytes())            # => 'hello'
 *         arr = array('i', [0, 0, 0, 0, 0])
 *         print(conn.recv_bytes_into(arr))    # => 8
 *         print(arr)                          # => array('i', [42, 1729, 0, 0, 0])
 *
 * conn.send() pickles the list as CPython does (float is a reference to
 * builtins.float, as pickle writes a class), so the seed's Python client,
 * unchanged, prints the list; our client receives it with recv(), keeps
 * the class as an inert node naming it (mproc never resolves or runs
 * anything a message names) and prints it as Python would.  The int
 * array goes as its 8 raw bytes, as Python's array does (native ints).
 *
 *   listener_client server [ADDR]   serve one client (default
 *                                   localhost:6000; port 0 picks one),
 *                                   printing "listening on ADDR" first
 *   listener_client client ADDR     connect and print what arrives
 *   listener_client both [ADDR]     both, the client in a child process
 *                                   (default 127.0.0.1:0)
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <mproc.h>

static const char authkey[] = "secret password";

/* [2.25, None, 'junk', float] */
static mp_obj_t *seed_list(void)
{
	int err = 0;
	mp_obj_t *l = mp_obj_list();
	if (!l || mp_obj_list_append(l, mp_obj_float(2.25)) < 0 ||
	    mp_obj_list_append(l, mp_obj_none()) < 0 ||
	    mp_obj_list_append(l, mp_obj_cstr("junk", &err)) < 0 ||
	    mp_obj_list_append(l, mp_obj_global("builtins", "float",
	                                        &err)) < 0) {
		mp_obj_decref(l);
		return NULL;
	}
	return l;
}

/* print(o) for a list or tuple of values and classes: Python shows a
 * builtin class as <class 'float'>; the rest is repr. */
static void print_value(const mp_obj_t *o)
{
	mp_obj_kind_t k = mp_obj_kind(o);
	int err = 0;
	if (k == MP_OBJ_INERT && !mp_obj_inert_args(o) &&
	    !strcmp(mp_obj_inert_module(o), "builtins")) {
		printf("<class '%s'>", mp_obj_inert_name(o));
	} else if (k == MP_OBJ_LIST || k == MP_OBJ_TUPLE) {
		size_t n = (size_t)mp_obj_len(o);
		putchar(k == MP_OBJ_LIST ? '[' : '(');
		for (size_t i = 0; i < n; i++) {
			if (i)
				fputs(", ", stdout);
			print_value(mp_obj_item(o, i));
		}
		fputs(k == MP_OBJ_LIST ? "]" : n == 1 ? ",)" : ")", stdout);
	} else {
		char *s = mp_obj_repr(o, &err);
		printf("%s", s ? s : "?");
		free(s);
	}
}

static const mp_conn_opts_t opts = { .authkey = authkey,
                                     .authkey_len = sizeof(authkey) - 1 };

/* An address as Python prints it: ('host', port), or 'path'. */
static void py_repr(const mp_address_t *a, char *buf, size_t len)
{
	if (a->family == AF_UNIX)
		snprintf(buf, len, "'%.*s'", (int)a->len, a->name);
	else
		snprintf(buf, len, "('%s', %u)", a->name, a->port);
}

static int fail(const char *what, int err)
{
	fprintf(stderr, "%s: %s\n", what, mp_strerror(err));
	return 1;
}

static int serve(mp_listener_t *listener)
{
	char text[300];
	int err;
	mp_conn_t *conn = mp_listener_accept(listener, MP_FOREVER, &err);
	if (!conn)
		return fail("accept", err);
	py_repr(mp_listener_last_accepted(listener), text, sizeof(text));
	printf("connection accepted from %s\n", text);
	fflush(stdout);
	int32_t arr[2] = { 42, 1729 };
	mp_obj_t *list = seed_list();
	err = list ? mp_conn_send_obj(conn, list, MP_FOREVER) : -ENOMEM;
	mp_obj_decref(list);
	if (err < 0 ||
	    (err = mp_conn_send_bytes(conn, "hello", 5, MP_FOREVER)) < 0 ||
	    (err = mp_conn_send_bytes(conn, arr, sizeof(arr), MP_FOREVER)) < 0)
		return fail("send", err);
	mp_conn_close(conn);
	return 0;
}

static int client(const mp_address_t *address)
{
	static const mp_pickle_opts_t inert = { .flags = MP_PICKLE_INERT };
	mp_bytes_t m;
	int err;
	mp_conn_t *conn = mp_client(address, &opts, MP_SEC(20), &err);
	if (!conn)
		return fail("Client", err);
	mp_obj_t *o = mp_conn_recv_obj(conn, &inert, MP_FOREVER, &err);
	if (!o)
		return fail("recv", err);
	print_value(o);
	putchar('\n');
	mp_obj_decref(o);
	if ((err = mp_conn_recv_bytes(conn, MP_CONN_NOLIMIT, &m, MP_FOREVER)) < 0)
		return fail("recv_bytes", err);
	printf("b'%s'\n", (char *)m.data);
	free(m.data);
	int32_t arr[5] = { 0 };
	int64_t n = mp_conn_recv_bytes_into(conn, arr, sizeof(arr), 0, NULL,
	                                    MP_FOREVER);
	if (n < 0)
		return fail("recv_bytes_into", (int)n);
	printf("%lld\n", (long long)n);
	printf("array('i', [%d, %d, %d, %d, %d])\n", arr[0], arr[1], arr[2],
	       arr[3], arr[4]);
	fflush(stdout);
	mp_conn_close(conn);
	return 0;
}

static int client_child(void *arg)
{
	return client(arg);
}

int main(int argc, char **argv)
{
	mp_address_t address;
	int err;

	if (argc < 2 || (strcmp(argv[1], "server") && strcmp(argv[1], "client") &&
	                 strcmp(argv[1], "both"))) {
		fprintf(stderr, "usage: %s server|client|both [ADDR]\n", argv[0]);
		return 2;
	}
	const char *text = argc > 2 ? argv[2]
	                   : !strcmp(argv[1], "both") ? "127.0.0.1:0"
	                   : "localhost:6000";
	if ((err = mp_address_parse(&address, text)) < 0)
		return fail(text, err);
	if (!strcmp(argv[1], "client"))
		return client(&address);

	mp_listener_t *listener = mp_listener_open(&address, &opts, &err);
	if (!listener)
		return fail("Listener", err);
	char bound[300];
	mp_address_format(mp_listener_address(listener), bound, sizeof(bound));
	printf("listening on %s\n", bound);
	fflush(stdout);
	mp_process_t *p = NULL;
	if (!strcmp(argv[1], "both")) {
		mp_address_t to = *mp_listener_address(listener);
		p = mp_process_new(client_child, &to, NULL, 0, &err);
		if (!p || (err = mp_process_start(p)) < 0)
			return fail("Process", err);
	}
	int r = serve(listener);
	mp_listener_close(listener);
	if (p) {
		mp_process_join(p, MP_FOREVER);
		mp_process_exitcode(p, &err);
		mp_process_free(p);
		r |= err != 0;
	}
	return r;
}
