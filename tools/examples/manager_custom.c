/*
 * manager_custom - the seed's custom manager (CPython's docs example
 * "Customized managers"): a type registered with a manager, created in
 * the server and called through a proxy.
 *
 * Python:
 *     class MathsClass:
 *         def add(self, x, y): return x + y
 *         def mul(self, x, y): return x * y
 *     class MyManager(BaseManager): pass
 *     MyManager.register('Maths', MathsClass)
 *     with MyManager() as manager:
 *         maths = manager.Maths()
 *         print(maths.add(4, 3))         # prints 7
 *         print(maths.mul(7, 8))         # prints 56
 *
 * In C the type is a table (mp_manager_type_t): a constructor, a call
 * function and the exposed names.  A Python client registering 'Maths'
 * without a class (MyManager.register('Maths')) uses the C server's, and
 * the C client uses a Python server's MathsClass.
 *
 *   manager_custom both                serve in a child, call, stop
 *   manager_custom server ADDR KEY     serve (prints "listening on ADDR")
 *   manager_custom client ADDR KEY     create a Maths, print add and mul
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <mproc.h>

static const char *const maths_exposed[] = { "add", "mul", NULL };
static int maths_instance;

static void *maths_create(void *ctx, const mp_obj_t *args,
                          const mp_obj_t *kwds, mp_obj_t **exc)
{
	(void)ctx, (void)args, (void)kwds, (void)exc;
	return &maths_instance; /* MathsClass has no state */
}

static mp_obj_t *maths_call(void *ctx, void *self, const char *method,
                            const mp_obj_t *args, const mp_obj_t *kwds,
                            mp_obj_t **exc)
{
	(void)ctx, (void)self, (void)kwds;
	int64_t x, y;
	if (mp_obj_len(args) != 2 ||
	    mp_obj_int_value(mp_obj_item(args, 0), &x) < 0 ||
	    mp_obj_int_value(mp_obj_item(args, 1), &y) < 0) {
		mp_obj_t *msg = mp_obj_cstr("two ints, please", NULL);
		*exc = mp_obj_exc("builtins.TypeError", mp_obj_tuple(1, &msg),
		                  NULL);
		return NULL;
	}
	return mp_obj_int(!strcmp(method, "add") ? x + y : x * y);
}

static const mp_manager_type_t maths_type = {
	.type_id = "Maths",
	.exposed = maths_exposed,
	.create = maths_create,
	.call = maths_call,
};

static int call2(mp_proxy_t *p, const char *method, int64_t x, int64_t y)
{
	mp_obj_t *items[2] = { mp_obj_int(x), mp_obj_int(y) };
	mp_obj_t *args = mp_obj_tuple(2, items), *res = NULL;
	int err = mp_proxy_call(p, method, args, NULL, MP_SEC(10), &res, NULL);
	int64_t v = 0;
	if (err == 0 && mp_obj_int_value(res, &v) == 0)
		printf("%lld\n", (long long)v);
	else
		fprintf(stderr, "%s: %s\n", method, mp_strerror(err));
	mp_obj_decref(args);
	mp_obj_decref(res);
	return err;
}

static int client(const mp_address_t *a, const char *key)
{
	int err = 0;
	mp_manager_t *m = mp_manager_connect(a, key, strlen(key), MP_SEC(10),
	                                     &err);
	mp_proxy_t *maths = m ? mp_manager_create(m, "Maths", NULL, NULL,
	                                          MP_SEC(10), &err)
	                      : NULL;
	if (maths && (err = call2(maths, "add", 4, 3)) == 0)
		err = call2(maths, "mul", 7, 8);
	if (!maths)
		fprintf(stderr, "client: %s\n", mp_strerror(err));
	mp_proxy_free(maths);
	mp_manager_close(m);
	return err != 0;
}

static mp_manager_server_t *server(const mp_address_t *a, const char *key)
{
	int err = 0;
	mp_manager_server_t *s = mp_manager_server_open(a, key, strlen(key),
	                                                MP_DIGEST_SHA256,
	                                                &err);
	if (!s || (err = mp_manager_server_register(s, &maths_type)) < 0) {
		fprintf(stderr, "server: %s\n", mp_strerror(err));
		mp_manager_server_close(s);
		return NULL;
	}
	return s;
}

int main(int argc, char **argv)
{
	mp_address_t a;
	char buf[MP_ADDRESS_MAX + 16];
	if (argc == 2 && !strcmp(argv[1], "both")) {
		/* as `with MyManager() as manager`: a fresh AF_UNIX address,
		 * the server in a child that dies with us */
		mp_manager_server_t *s = server(NULL, "secret");
		int r = !s || mp_manager_server_start(s, NULL) < 0 ||
		        client(mp_manager_server_address(s), "secret");
		mp_manager_server_close(s);
		return r;
	}
	if (argc < 4 || mp_address_parse(&a, argv[2]) < 0) {
		fprintf(stderr, "usage: %s both | server|client ADDR KEY\n",
		        argv[0]);
		return 2;
	}
	if (!strcmp(argv[1], "client"))
		return client(&a, argv[3]);
	mp_manager_server_t *s = server(&a, argv[3]);
	if (!s)
		return 1;
	mp_address_format(mp_manager_server_address(s), buf, sizeof(buf));
	printf("listening on %s\n", buf);
	fflush(stdout);
	int err = mp_manager_server_serve(s);
	mp_manager_server_close(s);
	return err < 0;
}
