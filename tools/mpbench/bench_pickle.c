/*
 * bench_pickle.c - the pickle codec beside CPython's pickle module (its C
 * accelerator, _pickle), on one mixed value: a dict of 100 entries whose
 * values cycle through ints, floats, short str, short bytes and a small
 * nested list - what a task's arguments or a result usually look like.
 * Both sides build the same dict (mixed_value, py_mixed) and time dumps of
 * it, or loads of its protocol 4 pickle, with the value or the bytes made
 * outside the clock.
 */
#include "mpbench.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

#include "internal.h"

/* {'k0': -50000000, 'k1': 0.5, 'k2': 'v2', 'k3': b'b3',
 *  'k4': [4, 5.5, 's4'], 'k5': -44999985, ...} (100 entries) */
static mp_obj_t *mixed_value(void)
{
	char text[32];
	int err = 0, r = 0;
	mp_obj_t *d = mp_obj_dict();

	for (int i = 0; i < 100 && d && r >= 0; i++) {
		mp_obj_t *v;
		switch (i % 5) {
		case 0:
			v = mp_obj_int((int64_t)i * 1000003 - 50000000);
			break;
		case 1:
			v = mp_obj_float(i * 0.5);
			break;
		case 2:
			snprintf(text, sizeof(text), "v%d", i);
			v = mp_obj_cstr(text, &err);
			break;
		case 3: {
			int n = snprintf(text, sizeof(text), "b%d", i);
			v = mp_obj_bytes(text, (size_t)n);
			break;
		}
		default:
			v = mp_obj_list();
			snprintf(text, sizeof(text), "s%d", i);
			if (v && (mp_obj_list_append(v, mp_obj_int(i)) < 0 ||
			          mp_obj_list_append(v, mp_obj_float(i + 1.5)) < 0 ||
			          mp_obj_list_append(v, mp_obj_cstr(text, &err)) < 0)) {
				mp_obj_decref(v);
				v = NULL;
			}
		}
		snprintf(text, sizeof(text), "k%d", i);
		r = mp_obj_dict_set(d, mp_obj_cstr(text, &err), v);
	}
	if (r < 0) {
		mp_obj_decref(d);
		return NULL;
	}
	return d;
}

#define PY_MIXED                                                   \
	"import pickle\n"                                          \
	"def _mixed():\n"                                          \
	"    d = {}\n"                                             \
	"    for i in range(100):\n"                               \
	"        k = i % 5\n"                                      \
	"        if k == 0:\n"                                     \
	"            v = i * 1000003 - 50000000\n"                 \
	"        elif k == 1:\n"                                   \
	"            v = i * 0.5\n"                                \
	"        elif k == 2:\n"                                   \
	"            v = 'v%d' % i\n"                              \
	"        elif k == 3:\n"                                   \
	"            v = b'b%d' % i\n"                             \
	"        else:\n"                                          \
	"            v = [i, i + 1.5, 's%d' % i]\n"                \
	"        d['k%d' % i] = v\n"                               \
	"    return d\n"

static const char py_dumps[] =
	PY_MIXED
	"def bench(n):\n"
	"    d = _mixed()\n"
	"    dumps = pickle.dumps\n"
	"    t = time.perf_counter()\n"
	"    for _ in range(n):\n"
	"        dumps(d, 4)\n"
	"    return (time.perf_counter() - t) / n * 1e6\n";

static const char py_loads[] =
	PY_MIXED
	"def bench(n):\n"
	"    b = pickle.dumps(_mixed(), 4)\n"
	"    loads = pickle.loads\n"
	"    t = time.perf_counter()\n"
	"    for _ in range(n):\n"
	"        loads(b)\n"
	"    return (time.perf_counter() - t) / n * 1e6\n";

static int mproc_dumps(const struct mpb_case *c, long iters, double *value,
                       const char **why)
{
	(void)c;
	(void)why;
	mp_obj_t *d = mixed_value();
	int r = d ? 0 : -ENOMEM;
	int64_t t0 = mpb_now();
	for (long i = 0; i < iters && r >= 0; i++) {
		void *p;
		size_t len;
		r = mp_pickle_dumps(d, 4, &p, &len);
		if (r >= 0) {
			mpb_keep((uint64_t)len);
			free(p);
		}
	}
	int64_t t1 = mpb_now();
	mp_obj_decref(d);
	if (r < 0)
		return r;
	*value = (double)(t1 - t0) / 1e3 / (double)iters;
	return 0;
}

static int mproc_loads(const struct mpb_case *c, long iters, double *value,
                       const char **why)
{
	(void)c;
	(void)why;
	mp_obj_t *d = mixed_value();
	void *p = NULL;
	size_t len = 0;
	int r = d ? mp_pickle_dumps(d, 4, &p, &len) : -ENOMEM;
	mp_obj_decref(d);
	if (r < 0)
		return r;
	int64_t t0 = mpb_now();
	for (long i = 0; i < iters && r >= 0; i++) {
		mp_obj_t *o = mp_pickle_loads(p, len, NULL, NULL, &r);
		if (o) {
			mpb_keep((uint64_t)(uintptr_t)o);
			mp_obj_decref(o);
			r = 0;
		}
	}
	int64_t t1 = mpb_now();
	free(p);
	if (r < 0)
		return r;
	*value = (double)(t1 - t0) / 1e3 / (double)iters;
	return 0;
}

const struct mpb_case mpb_pickle_cases[] = {
	{
		.name = "pickle.dumps_mixed/python",
		.unit = "us/op",
		.baseline = "python3 pickle.dumps(d, 4), d a dict of 100 "
		            "mixed values",
		.goal = 1.5,
		.iters = 20000,
		.quick_iters = 2000,
		.run_mproc = mproc_dumps,
		.python = py_dumps,
	},
	{
		.name = "pickle.loads_mixed/python",
		.unit = "us/op",
		.baseline = "python3 pickle.loads of the same dict's pickle",
		.goal = 1.5,
		.iters = 20000,
		.quick_iters = 2000,
		.run_mproc = mproc_loads,
		.python = py_loads,
	},
	{ 0 },
};
