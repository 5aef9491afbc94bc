/*
 * manager_network - the seed's network manager (CPython's docs example
 * "Using a remote manager"): a server holding one queue, and clients that
 * put into it and get from it, from other processes or machines.
 *
 * Python, the server:
 *     queue = Queue()
 *     class QueueManager(BaseManager): pass
 *     QueueManager.register('get_queue', callable=lambda: queue)
 *     m = QueueManager(address=('', 50000), authkey=b'abracadabra')
 *     s = m.get_server()
 *     s.serve_forever()
 * a client that puts:
 *     QueueManager.register('get_queue')
 *     m = QueueManager(address=('foo.bar.org', 50000),
 *                      authkey=b'abracadabra')
 *     m.connect()
 *     queue = m.get_queue()
 *     queue.put('hello')
 * and one that gets:  queue.get()  ->  'hello'
 *
 * Either side may be Python: the wire is CPython's manager protocol.
 *
 *   manager_network server ADDR KEY      serve (prints "listening on ADDR")
 *   manager_network put ADDR KEY [TEXT]  put TEXT (default 'hello')
 *   manager_network get ADDR KEY         get one item, print its repr
 *   manager_network shutdown ADDR KEY    ask the server to stop
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <mproc.h>

static int serve(const mp_address_t *a, const char *key)
{
	int err = 0;
	char buf[MP_ADDRESS_MAX + 16];
	mp_manager_server_t *s = mp_manager_server_open(a, key, strlen(key),
	                                                MP_DIGEST_SHA256,
	                                                &err);
	if (!s || (err = mp_manager_server_register_shared(s, "get_queue",
	                                                   "Queue",
	                                                   NULL)) < 0) {
		fprintf(stderr, "server: %s\n", mp_strerror(err));
		mp_manager_server_close(s);
		return 1;
	}
	mp_address_format(mp_manager_server_address(s), buf, sizeof(buf));
	printf("listening on %s\n", buf);
	fflush(stdout);
	err = mp_manager_server_serve(s);
	mp_manager_server_close(s);
	return err < 0;
}

static int client(const mp_address_t *a, const char *key, const char *cmd,
                  const char *text)
{
	int err = 0, r = 1;
	mp_obj_t *res = NULL;
	mp_manager_t *m = mp_manager_connect(a, key, strlen(key), MP_SEC(10),
	                                     &err);
	if (m && !strcmp(cmd, "shutdown")) {
		err = mp_manager_shutdown(m, MP_SEC(10));
		mp_manager_close(m);
		return err < 0;
	}
	mp_proxy_t *q = m ? mp_manager_create(m, "get_queue", NULL, NULL,
	                                      MP_SEC(10), &err)
	                  : NULL;
	if (q && !strcmp(cmd, "put")) {
		mp_obj_t *s = mp_obj_cstr(text, NULL);
		mp_obj_t *args = mp_obj_tuple(1, &s);
		err = mp_proxy_call(q, "put", args, NULL, MP_SEC(10), NULL,
		                    NULL);
		mp_obj_decref(args);
		if (err == 0)
			printf("put '%s'\n", text);
		r = err != 0;
	} else if (q) {
		err = mp_proxy_call(q, "get", NULL, NULL, MP_SEC(10), &res,
		                    NULL);
		char *t = err == 0 ? mp_obj_repr(res, NULL) : NULL;
		if (t)
			printf("%s\n", t);
		free(t);
		r = err != 0;
	}
	if (err < 0)
		fprintf(stderr, "client: %s\n", mp_strerror(err));
	mp_obj_decref(res);
	mp_proxy_free(q);
	mp_manager_close(m);
	return r;
}

int main(int argc, char **argv)
{
	mp_address_t a;
	if (argc < 4 || mp_address_parse(&a, argv[2]) < 0) {
		fprintf(stderr, "usage: %s server|put|get|shutdown ADDR KEY "
		        "[TEXT]\n", argv[0]);
		return 2;
	}
	if (!strcmp(argv[1], "server"))
		return serve(&a, argv[3]);
	return client(&a, argv[3], argv[1], argc > 4 ? argv[4] : "hello");
}
