/*
 * bench_manager.c - the manager: a dict's d[k] = v round trip through a
 * proxy.
 *
 * manager.dict_set/python: an mproc client on an mproc server (in a child
 * process) against python3's SyncManager().dict() on its own server.
 * manager.dict_set_pyclient/python: the same python3 client code, against
 * an mproc server and against CPython's: what the server alone is worth.
 */
#include "mpbench.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <mproc.h>

static const char key[] = "mpbench manager key";

static mp_manager_server_t *start_server(const char **why)
{
	int err = 0;
	mp_manager_server_t *s = mp_manager_server_open(NULL, key,
	                                                sizeof(key) - 1, 0,
	                                                &err);
	if (s && mp_manager_server_start(s, NULL) == 0)
		return s;
	mp_manager_server_close(s);
	*why = "cannot start an mproc manager server";
	return NULL;
}

static int set_once(mp_proxy_t *d, long i)
{
	mp_obj_t *items[2] = { mp_obj_int(i & 63), mp_obj_int(i) };
	mp_obj_t *args = mp_obj_tuple(2, items);
	int r = args ? mp_proxy_call(d, "__setitem__", args, NULL, MP_SEC(10),
	                             NULL, NULL)
	             : -ENOMEM;
	mp_obj_decref(args);
	return r;
}

static int mproc_dict_set(const struct mpb_case *c, long iters,
                          double *value, const char **why)
{
	(void)c;
	int err = 0;
	mp_manager_server_t *s = start_server(why);
	if (!s)
		return -EIO;
	mp_manager_t *m = mp_manager_connect(mp_manager_server_address(s),
	                                     key, sizeof(key) - 1, MP_SEC(10),
	                                     &err);
	mp_proxy_t *d = m ? mp_manager_create(m, "dict", NULL, NULL,
	                                      MP_SEC(10), &err)
	                  : NULL;
	if (d)
		err = set_once(d, 0); /* the connection, untimed */
	int64_t t0 = mpb_now();
	for (long i = 0; i < iters && err == 0; i++)
		err = set_once(d, i);
	int64_t t1 = mpb_now();
	mp_proxy_free(d);
	mp_manager_close(m);
	mp_manager_server_close(s);
	if (err)
		return err;
	*value = (double)(t1 - t0) / 1e3 / (double)iters;
	return 0;
}

/* The python client, timed, against the server at $MPB_MANAGER_ADDR;
 * prints us/op as its one line. */
static const char py_client[] =
	"import os, sys, time\n"
	"from multiprocessing.managers import SyncManager\n"
	"n = int(sys.argv[1])\n"
	"m = SyncManager(address=os.environ['MPB_MANAGER_ADDR'],\n"
	"                authkey=os.environ['MPB_MANAGER_KEY'].encode())\n"
	"m.connect()\n"
	"d = m.dict()\n"
	"d[0] = 0\n"
	"t = time.perf_counter()\n"
	"for i in range(n):\n"
	"    d[i & 63] = i\n"
	"dt = time.perf_counter() - t\n"
	"print(dt / n * 1e6, flush=True)\n";

static int pyclient_dict_set(const struct mpb_case *c, long iters,
                             double *value, const char **why)
{
	(void)c;
	char line[64], path[MP_ADDRESS_MAX + 1];
	pid_t pid;
	mp_manager_server_t *s = start_server(why);
	if (!s)
		return -EIO;
	const mp_address_t *a = mp_manager_server_address(s);
	snprintf(path, sizeof(path), "%.*s", (int)a->len, a->name);
	setenv("MPB_MANAGER_ADDR", path, 1);
	setenv("MPB_MANAGER_KEY", key, 1);
	int err = mpb_python_peer(py_client, iters, line, sizeof(line), &pid,
	                          why);
	if (err == 0 && mpb_python_peer_end(pid, false) < 0)
		err = -EIO;
	mp_manager_server_close(s);
	if (err)
		return err;
	*value = strtod(line, NULL);
	return *value > 0 ? 0 : -EIO;
}

static const char py_dict_set[] =
	"from multiprocessing.managers import SyncManager\n"
	"def bench(n):\n"
	"    m = SyncManager()\n"
	"    m.start()\n"
	"    d = m.dict()\n"
	"    d[0] = 0\n"
	"    t = time.perf_counter()\n"
	"    for i in range(n):\n"
	"        d[i & 63] = i\n"
	"    dt = time.perf_counter() - t\n"
	"    m.shutdown()\n"
	"    return dt / n * 1e6\n";

const struct mpb_case mpb_manager_cases[] = {
	{
		.name = "manager.dict_set/python",
		.unit = "us/op",
		.baseline = "python3 SyncManager().dict() d[k] = v round trip, "
		            "its own server (ours: C client, mproc server)",
		.goal = 3,
		.iters = 4000,
		.quick_iters = 1000,
		.run_mproc = mproc_dict_set,
		.python = py_dict_set,
	},
	{
		.name = "manager.dict_set_pyclient/python",
		.unit = "us/op",
		.baseline = "the same python3 client code, CPython's server "
		            "(ours: an mproc server)",
		.goal = 1.5,
		.iters = 4000,
		.quick_iters = 1000,
		.run_mproc = pyclient_dict_set,
		.python = py_dict_set,
	},
	{ 0 },
};
