/*
 * bench_shm.c - named segments and ShareableList beside Python's
 * multiprocessing.shared_memory.
 *
 * create_attach: one cycle is create 1 MiB + attach by name + close both +
 * unlink, nothing touched.  Python's segments are sparse, so the like-for-
 * like row creates with MP_SHM_SPARSE; the _reserved row is mproc's
 * default, which allocates all 256 pages at creation (fallocate) - the
 * price of -ENOSPC instead of SIGBUS, paid up front instead of at first
 * touch.  Python's cycle includes its resource tracker's messages
 * (register on create and, before 3.13, on attach; unregister on unlink).
 *
 * slist_get: reading items of a 4-item list (int, float, str, bytes) in
 * turn, as Python's sl[i % 4].
 */
#include "mpbench.h"

#include <errno.h>
#include <stdio.h>
#include <unistd.h>

#include <mproc.h>

#define SEG_SIZE ((size_t)1 << 20)

static int create_attach(long iters, unsigned flags, double *value)
{
	char name[64];
	int err = 0;
	snprintf(name, sizeof(name), "mpbench-%d", (int)getpid());
	int64_t t0 = mpb_now();
	for (long i = 0; i < iters; i++) {
		mp_shm_t *a = mp_shm_create(name, SEG_SIZE, flags, &err);
		if (!a)
			return err;
		mp_shm_t *b = mp_shm_attach(name, 0, &err);
		if (!b) {
			mp_shm_unlink(name);
			mp_shm_close(a);
			return err;
		}
		mp_shm_close(b);
		mp_shm_close(a);
		if ((err = mp_shm_unlink(name)) < 0)
			return err;
	}
	*value = (double)(mpb_now() - t0) / (double)iters / 1e3;
	return 0;
}

static int mproc_create_attach(const struct mpb_case *c, long iters,
                               double *value, const char **why)
{
	(void)c;
	(void)why;
	return create_attach(iters, MP_SHM_SPARSE, value);
}

static int mproc_create_attach_reserved(const struct mpb_case *c, long iters,
                                        double *value, const char **why)
{
	(void)c;
	(void)why;
	return create_attach(iters, 0, value);
}

static int mproc_slist_get(const struct mpb_case *c, long iters,
                           double *value, const char **why)
{
	(void)c;
	(void)why;
	const mp_slist_item_t items[4] = {
		{ .type = MP_SLIST_INT, .i = 42 },
		{ .type = MP_SLIST_FLOAT, .f = 2.5 },
		{ .type = MP_SLIST_STR, .data = "hello world", .len = 11 },
		{ .type = MP_SLIST_BYTES, .data = "\x01\x02\x03", .len = 3 },
	};
	int err = 0;
	mp_slist_t *l = mp_slist_create(NULL, items, 4, 0, &err);
	if (!l)
		return err;
	mp_shm_unlink(mp_shm_name(mp_slist_shm(l)));
	mp_slist_item_t it;
	char buf[64];
	uint64_t sum = 0;
	int64_t t0 = mpb_now();
	for (long i = 0; i < iters && err == 0; i++) {
		err = mp_slist_get(l, i % 4, &it, buf, sizeof(buf));
		sum += it.len + (uint64_t)it.i;
	}
	*value = (double)(mpb_now() - t0) / (double)iters;
	mpb_keep(sum);
	mp_slist_close(l);
	return err;
}

#define PY_CREATE_ATTACH(size)                                              \
	"from multiprocessing import shared_memory as sm\n"                \
	"def bench(n):\n"                                                   \
	"    t = time.perf_counter()\n"                                     \
	"    for _ in range(n):\n"                                          \
	"        a = sm.SharedMemory(create=True, size=" size ")\n"         \
	"        b = sm.SharedMemory(a.name)\n"                             \
	"        b.close()\n"                                               \
	"        a.close()\n"                                               \
	"        a.unlink()\n"                                              \
	"    return (time.perf_counter() - t) / n * 1e6\n"

const struct mpb_case mpb_shm_cases[] = {
	{
		.name = "shm.create_attach/python",
		.unit = "us/op",
		.baseline = "python3 SharedMemory(create, 1 MiB) + attach + "
		            "close + unlink (mproc: MP_SHM_SPARSE, as Python)",
		.goal = 10.0,
		.iters = 4000,
		.quick_iters = 1000,
		.run_mproc = mproc_create_attach,
		.python = PY_CREATE_ATTACH("1 << 20"),
	},
	{
		.name = "shm.create_attach_reserved/python",
		.unit = "us/op",
		.baseline = "the same; mproc's default reserves the 1 MiB "
		            "(fallocate)",
		.iters = 2000,
		.quick_iters = 500,
		.run_mproc = mproc_create_attach_reserved,
		.python = PY_CREATE_ATTACH("1 << 20"),
	},
	{
		.name = "shm.slist_get/python",
		.unit = "ns/op",
		.baseline = "python3 ShareableList item read, sl[i % 4]",
		.goal = 20.0,
		.iters = 2000000,
		.quick_iters = 400000,
		.run_mproc = mproc_slist_get,
		.python =
			"from multiprocessing import shared_memory as sm\n"
			"def bench(n):\n"
			"    sl = sm.ShareableList([42, 2.5, 'hello world',\n"
			"                           b'\\x01\\x02\\x03'])\n"
			"    t = time.perf_counter()\n"
			"    for i in range(n):\n"
			"        sl[i % 4]\n"
			"    dt = time.perf_counter() - t\n"
			"    sl.shm.close()\n"
			"    sl.shm.unlink()\n"
			"    return dt / n * 1e9\n",
	},
	{ 0 },
};
