/* test_dict.c - the shared dict: operations in both homes (an arena and
 * the shared heap), bad input, Python's key equality, update, iteration
 * under change, memory given back, and holders that are stopped or
 * killed at random points (nothing committed lost, nothing leaked past
 * the bound). */
#include "testutil.h"

#include <math.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include "dict.h"
#include "pyutil.h"

#define ARENA_SIZE ((size_t)8 << 20)

static void *arena; /* shared with children, MAP_SHARED */

/* A fresh dict: in the arena (heap false) or the heap. */
static mp_dict_t *make(bool heap, unsigned flags)
{
	int err = 0;
	mp_dict_t *d = heap ? mp_dict_new(flags, &err) :
	               mp_dict_init(arena, ARENA_SIZE, flags, &err);
	if (!d)
		fprintf(stderr, "make: %s\n", mp_strerror(err));
	CU_ASSERT_PTR_NOT_NULL_FATAL(d);
	return d;
}

static void unmake(mp_dict_t *d, bool heap)
{
	MPT_OK(heap ? mp_dict_free(d) : mp_dict_destroy(d));
}

static int sets(mp_dict_t *d, const char *k, const char *v)
{
	return mp_dict_set(d, k, strlen(k), v, strlen(v), TEST_WAIT_NS);
}

/* d[k] as a string in buf ("" when absent: check the return too). */
static int64_t gets(mp_dict_t *d, const char *k, char *buf, size_t cap)
{
	int64_t n = mp_dict_get(d, k, strlen(k), buf, cap - 1, TEST_WAIT_NS);
	buf[n >= 0 ? n : 0] = 0;
	return n;
}

/* ---- operations ---------------------------------------------------------- */

static void ops(bool heap)
{
	mp_dict_t *d = make(heap, 0);
	char buf[64];

	MPT_EQ(mp_dict_len(d), 0);
	MPT_ERR(gets(d, "a", buf, sizeof(buf)), -ENOENT);
	MPT_OK(sets(d, "a", "1"));
	MPT_OK(sets(d, "b", "22"));
	MPT_EQ(mp_dict_len(d), 2);
	MPT_EQ(gets(d, "b", buf, sizeof(buf)), 2);
	CU_ASSERT_STRING_EQUAL(buf, "22");
	MPT_OK(sets(d, "a", "333")); /* replace */
	MPT_EQ(mp_dict_len(d), 2);
	MPT_EQ(gets(d, "a", buf, sizeof(buf)), 3);
	CU_ASSERT_STRING_EQUAL(buf, "333");
	/* Too short: nothing copied, the key stays. */
	MPT_ERR(mp_dict_get(d, "a", 1, buf, 2, 0), -MP_ETOOSHORT);
	MPT_ERR(mp_dict_pop(d, "a", 1, buf, 2, 0), -MP_ETOOSHORT);
	MPT_EQ(mp_dict_contains(d, "a", 1, 0), 1);
	void *v = NULL;
	size_t vl = 0;
	MPT_OK(mp_dict_get_alloc(d, "a", 1, &v, &vl, 0));
	MPT_EQ(vl, 3);
	MPT_EQ(memcmp(v, "333", 3), 0);
	free(v);
	MPT_EQ(mp_dict_pop(d, "a", 1, buf, sizeof(buf), 0), 3);
	MPT_EQ(mp_dict_contains(d, "a", 1, 0), 0);
	MPT_ERR(mp_dict_pop(d, "a", 1, buf, sizeof(buf), 0), -ENOENT);
	MPT_OK(mp_dict_pop_alloc(d, "b", 1, &v, &vl, 0));
	MPT_EQ(vl, 2);
	free(v);
	MPT_EQ(mp_dict_len(d), 0);
	/* The empty key and the empty value are keys and values. */
	MPT_OK(mp_dict_set(d, "", 0, NULL, 0, 0));
	MPT_EQ(mp_dict_get(d, "", 0, NULL, 0, 0), 0);
	MPT_OK(mp_dict_get_alloc(d, "", 0, &v, &vl, 0));
	MPT_EQ(vl, 0);
	free(v);
	MPT_OK(mp_dict_delete(d, "", 0, 0));
	MPT_ERR(mp_dict_delete(d, "", 0, 0), -ENOENT);
	/* Binary keys: bytes, not C strings. */
	MPT_OK(mp_dict_set(d, "x\0y", 3, "1", 1, 0));
	MPT_OK(mp_dict_set(d, "x\0z", 3, "2", 1, 0));
	MPT_EQ(mp_dict_len(d), 2);
	MPT_OK(mp_dict_clear(d, 0));
	MPT_EQ(mp_dict_len(d), 0);
	MPT_EQ(mp_dict_contains(d, "x\0y", 3, 0), 0);

	/* Growth: many keys, several resizes, deletes between. */
	enum { N = 3000 };
	for (int i = 0; i < N; i++) {
		char k[32], val[32];
		snprintf(k, sizeof(k), "key-%d", i);
		snprintf(val, sizeof(val), "value-%d", i * 7);
		MPT_OK(sets(d, k, val));
		if (i % 3 == 2) {
			snprintf(k, sizeof(k), "key-%d", i - 1);
			MPT_OK(mp_dict_delete(d, k, strlen(k), 0));
		}
	}
	MPT_EQ(mp_dict_len(d), N - N / 3);
	int bad = 0;
	for (int i = 0; i < N; i++) {
		char k[32], val[32];
		snprintf(k, sizeof(k), "key-%d", i);
		snprintf(val, sizeof(val), "value-%d", i * 7);
		int64_t n = gets(d, k, buf, sizeof(buf));
		if (i % 3 == 1)
			bad += n != -ENOENT;
		else
			bad += n != (int64_t)strlen(val) || strcmp(buf, val);
	}
	MPT_EQ(bad, 0);
	mp_dict_stats_t st;
	MPT_OK(mp_dict_stats(d, &st, 0));
	MPT_EQ(st.len, N - N / 3);
	MPT_CMP(st.slots, >=, 2 * st.len);
	if (!heap)
		MPT_EQ(st.arena_top, st.bytes_used + st.bytes_free);
	unmake(d, heap);
}

static void test_ops_arena(void)
{
	ops(false);
}

static void test_ops_heap(void)
{
	ops(true);
}

/* A dict placed in a named segment, mapped at two addresses. */
static void test_position_independent(void)
{
	int err;
	mp_shm_t *a = mp_shm_anon(1 << 20, 0, &err);
	CU_ASSERT_PTR_NOT_NULL_FATAL(a);
	mp_shm_t *b = mp_shm_attach_fd(mp_shm_fd(a), 0, &err);
	CU_ASSERT_PTR_NOT_NULL_FATAL(b);
	CU_ASSERT(mp_shm_buf(a) != mp_shm_buf(b));
	mp_dict_t *da = mp_dict_init(mp_shm_buf(a), 1 << 20, 0, &err);
	CU_ASSERT_PTR_NOT_NULL_FATAL(da);
	mp_dict_t *db = mp_shm_buf(b);
	char buf[64];
	for (int i = 0; i < 200; i++) {
		char k[16];
		snprintf(k, sizeof(k), "%d", i);
		MPT_OK(sets(i % 2 ? da : db, k, k));
	}
	MPT_EQ(mp_dict_len(db), 200);
	MPT_EQ(gets(db, "199", buf, sizeof(buf)), 3);
	MPT_EQ(gets(da, "0", buf, sizeof(buf)), 1);
	MPT_OK(mp_dict_destroy(db));
	mp_shm_close(b);
	mp_shm_close(a);
}

/* ---- bad input ----------------------------------------------------------- */

static int fn_big(const void *old, size_t ol, int found, const void **out,
                  size_t *outl, void *arg)
{
	(void)old, (void)ol, (void)found, (void)arg;
	*out = NULL;
	*outl = 5; /* NULL with a length */
	return MP_DICT_STORE;
}

static void test_bad_input(void)
{
	int err = 0;
	char buf[8];
	static _Alignas(64) unsigned char small[8192];
	static _Alignas(64) unsigned char zeros[512];

	CU_ASSERT_PTR_NULL(mp_dict_init(NULL, 1 << 20, 0, &err));
	MPT_ERR(err, -EINVAL);
	CU_ASSERT_PTR_NULL(mp_dict_init(small + 8, 4096, 0, &err));
	MPT_ERR(err, -EINVAL);
	CU_ASSERT_PTR_NULL(mp_dict_init(small, MP_DICT_MIN_SIZE - 1, 0, &err));
	MPT_ERR(err, -EINVAL);
	CU_ASSERT_PTR_NULL(mp_dict_init(small, sizeof(small), 0x80, &err));
	MPT_ERR(err, -EINVAL);
	CU_ASSERT_PTR_NULL(mp_dict_new(0x80, &err));
	MPT_ERR(err, -EINVAL);

	/* Not a dict. */
	mp_dict_t *z = (mp_dict_t *)zeros;
	MPT_ERR(mp_dict_set(z, "k", 1, "v", 1, 0), -EINVAL);
	MPT_ERR(mp_dict_get(z, "k", 1, buf, sizeof(buf), 0), -EINVAL);
	MPT_ERR(mp_dict_len(z), -EINVAL);
	MPT_ERR(mp_dict_len(NULL), -EINVAL);
	MPT_ERR(mp_dict_clear(NULL, 0), -EINVAL);
	MPT_ERR(mp_dict_destroy(z), -EINVAL);
	MPT_ERR(mp_dict_free(z), -EINVAL);
	MPT_OK(mp_dict_free(NULL));

	mp_dict_t *d = mp_dict_init(small, sizeof(small), 0, &err);
	CU_ASSERT_PTR_NOT_NULL_FATAL(d);
	MPT_ERR(mp_dict_free(d), -EINVAL); /* an arena dict */
	MPT_ERR(mp_dict_set(d, NULL, 1, "v", 1, 0), -EINVAL);
	MPT_ERR(mp_dict_set(d, "k", 1, NULL, 1, 0), -EINVAL);
	MPT_ERR(mp_dict_set(d, "k", MP_DICT_MAX_KEY + 1, "v", 1, 0), -EINVAL);
	MPT_ERR(mp_dict_set(d, "k", 1, "v", MP_DICT_MAX_VALUE + 1, 0),
	        -EINVAL);
	MPT_ERR(mp_dict_set(d, "k", 1, "v", 1, -5), -EINVAL);
	MPT_ERR(mp_dict_get(d, "k", 1, NULL, 4, 0), -EINVAL);
	MPT_ERR(mp_dict_get_alloc(d, "k", 1, NULL, NULL, 0), -EINVAL);
	MPT_ERR(mp_dict_update(d, "k", 1, NULL, NULL, 0), -EINVAL);
	MPT_ERR(mp_dict_update(d, "k", 1, fn_big, NULL, 0), -EINVAL);
	MPT_EQ(mp_dict_contains(d, "k", 1, 0), 0);
	MPT_ERR(mp_dict_snapshot(d, NULL, 0), -EINVAL);
	MPT_ERR(mp_dict_snap_item(NULL, 0, NULL, NULL, NULL, NULL), -EINVAL);
	MPT_ERR(mp_dict_stats(d, NULL, 0), -EINVAL);

	/* A full arena: -ENOSPC, and the dict goes on as it was. */
	int n = 0, r;
	char k[16];
	static char big[700];
	for (;; n++) {
		snprintf(k, sizeof(k), "%d", n);
		r = mp_dict_set(d, k, strlen(k), big, sizeof(big), 0);
		if (r < 0)
			break;
	}
	MPT_ERR(r, -ENOSPC);
	MPT_CMP(n, >, 3);
	MPT_EQ(mp_dict_len(d), n);
	MPT_EQ(mp_dict_get(d, "0", 1, NULL, 0, 0), -MP_ETOOSHORT);
	mp_dict_stats_t st;
	MPT_OK(mp_dict_stats(d, &st, 0));
	MPT_EQ(st.arena_top, st.bytes_used + st.bytes_free);
	MPT_OK(mp_dict_delete(d, "0", 1, 0));
	MPT_OK(mp_dict_set(d, k, strlen(k), big, sizeof(big), 0));
	MPT_EQ(mp_dict_len(d), n);
	/* A locked dict cannot end. */
	MPT_OK(mp_lock_acquire((mp_lock_t *)(void *)d, 0));
	MPT_ERR(mp_dict_destroy(d), -EBUSY);
	MPT_ERR(mp_dict_set(d, "k", 1, "v", 1, 0), -EAGAIN);
	MPT_ERR(mp_dict_set(d, "k", 1, "v", 1, MP_MSEC(5)), -ETIMEDOUT);
	MPT_OK(mp_lock_release((mp_lock_t *)(void *)d));
	MPT_OK(mp_dict_destroy(d));
	MPT_ERR(mp_dict_len(d), -EINVAL);
}

/* ---- Python's keys ------------------------------------------------------- */

/* The pickle of o (consumed) in buf (256 bytes); its length, 0 when it
 * failed.  No CUnit here: the peer process runs it too. */
static size_t pk_raw(mp_obj_t *o, unsigned char *buf)
{
	void *p = NULL;
	size_t n = 0;
	if (mp_pickle_dumps(o, 4, &p, &n) < 0 || n > 256)
		n = 0;
	else
		memcpy(buf, p, n);
	free(p);
	mp_obj_decref(o);
	return n;
}

static size_t pk(mp_obj_t *o, unsigned char *buf)
{
	size_t n = pk_raw(o, buf);
	CU_ASSERT_FATAL(n > 0);
	return n;
}

static void test_pykeys(void)
{
	mp_dict_t *d = make(true, MP_DICT_PYKEYS);
	unsigned char k[256];
	size_t n;
	char v[8];

	n = pk(mp_obj_int(1), k);
	MPT_OK(mp_dict_set(d, k, n, "int", 3, 0));
	n = pk(mp_obj_float(1.0), k);
	MPT_OK(mp_dict_set(d, k, n, "float", 5, 0)); /* the same key */
	n = pk(mp_obj_bool(true), k);
	MPT_EQ(mp_dict_get(d, k, n, v, sizeof(v), 0), 5);
	MPT_EQ(mp_dict_len(d), 1);
	/* str and bytes differ. */
	n = pk(mp_obj_cstr("a", NULL), k);
	MPT_OK(mp_dict_set(d, k, n, "s", 1, 0));
	n = pk(mp_obj_bytes("a", 1), k);
	MPT_EQ(mp_dict_contains(d, k, n, 0), 0);
	MPT_OK(mp_dict_set(d, k, n, "b", 1, 0));
	MPT_EQ(mp_dict_len(d), 3);
	/* (2, 'x') == (2.0, 'x') */
	mp_obj_t *it[2] = { mp_obj_int(2), mp_obj_cstr("x", NULL) };
	n = pk(mp_obj_tuple(2, it), k);
	MPT_OK(mp_dict_set(d, k, n, "t", 1, 0));
	mp_obj_t *it2[2] = { mp_obj_float(2.0), mp_obj_cstr("x", NULL) };
	n = pk(mp_obj_tuple(2, it2), k);
	MPT_EQ(mp_dict_get(d, k, n, v, sizeof(v), 0), 1);
	/* frozenset({1, 2}) == frozenset({2.0, 1}), other order. */
	mp_obj_t *fs = mp_obj_set(true);
	mp_obj_set_add(fs, mp_obj_int(1));
	mp_obj_set_add(fs, mp_obj_int(2));
	n = pk(fs, k);
	MPT_OK(mp_dict_set(d, k, n, "f", 1, 0));
	fs = mp_obj_set(true);
	mp_obj_set_add(fs, mp_obj_float(2.0));
	mp_obj_set_add(fs, mp_obj_int(1));
	n = pk(fs, k);
	MPT_EQ(mp_dict_get(d, k, n, v, sizeof(v), 0), 1);
	MPT_EQ(v[0], 'f');
	/* A big int, and a float of the same value. */
	unsigned char le[9] = { 0, 0, 0, 0, 0, 0, 0, 0, 1 }; /* 2^64 */
	n = pk(mp_obj_int_bytes(le, 9, NULL), k);
	MPT_OK(mp_dict_set(d, k, n, "B", 1, 0));
	n = pk(mp_obj_float(18446744073709551616.0), k);
	MPT_EQ(mp_dict_get(d, k, n, v, sizeof(v), 0), 1);
	MPT_EQ(mp_dict_len(d), 6);
	/* NaN: never found again (each unpickled NaN is a new object). */
	n = pk(mp_obj_float(NAN), k);
	MPT_OK(mp_dict_set(d, k, n, "n", 1, 0));
	MPT_ERR(mp_dict_get(d, k, n, v, sizeof(v), 0), -ENOENT);
	MPT_EQ(mp_dict_len(d), 7);
	/* Unhashable and malformed keys. */
	n = pk(mp_obj_list(), k);
	MPT_ERR(mp_dict_set(d, k, n, "l", 1, 0), -EINVAL);
	MPT_ERR(mp_dict_set(d, "\x80\x04junk", 6, "l", 1, 0), -MP_EPICKLE);
	unmake(d, true);
}

/* ---- update -------------------------------------------------------------- */

/* Append the byte *arg to the value (a list of bytes). */
static int fn_append(const void *old, size_t ol, int found,
                     const void **out, size_t *outl, void *arg)
{
	static _Thread_local unsigned char buf[4096];
	(void)found;
	if (ol >= sizeof(buf))
		return -ENOSPC;
	if (ol)
		memcpy(buf, old, ol);
	buf[ol] = *(unsigned char *)arg;
	*out = buf;
	*outl = ol + 1;
	return MP_DICT_STORE;
}

static int fn_keep(const void *old, size_t ol, int found, const void **out,
                   size_t *outl, void *arg)
{
	(void)old, (void)ol, (void)out, (void)outl;
	*(int *)arg = found;
	return MP_DICT_KEEP;
}

static int fn_delete(const void *old, size_t ol, int found,
                     const void **out, size_t *outl, void *arg)
{
	(void)old, (void)ol, (void)found, (void)out, (void)outl, (void)arg;
	return MP_DICT_DELETE;
}

static int fn_fail(const void *old, size_t ol, int found, const void **out,
                   size_t *outl, void *arg)
{
	(void)old, (void)ol, (void)found, (void)out, (void)outl, (void)arg;
	return -EPERM;
}

struct upd_arg {
	mp_dict_t *d;
	unsigned char tag;
	int rounds;
};

static int upd_child(void *a)
{
	struct upd_arg *u = a;
	for (int i = 0; i < u->rounds; i++)
		if (mp_dict_update(u->d, "list", 4, fn_append, &u->tag,
		                   TEST_WAIT_NS) != MP_DICT_STORE)
			return 1;
	return 0;
}

static void test_update(void)
{
	mp_dict_t *d = make(false, 0);
	int found = -1;
	char buf[8];

	MPT_EQ(mp_dict_update(d, "k", 1, fn_keep, &found, 0), MP_DICT_KEEP);
	MPT_EQ(found, 0);
	MPT_EQ(mp_dict_len(d), 0);
	unsigned char c = 'a';
	MPT_EQ(mp_dict_update(d, "k", 1, fn_append, &c, 0), MP_DICT_STORE);
	MPT_EQ(mp_dict_update(d, "k", 1, fn_keep, &found, 0), MP_DICT_KEEP);
	MPT_EQ(found, 1);
	MPT_ERR(mp_dict_update(d, "k", 1, fn_fail, NULL, 0), -EPERM);
	MPT_EQ(gets(d, "k", buf, sizeof(buf)), 1);
	MPT_EQ(mp_dict_update(d, "k", 1, fn_delete, NULL, 0), MP_DICT_DELETE);
	MPT_EQ(mp_dict_len(d), 0);
	MPT_EQ(mp_dict_update(d, "k", 1, fn_delete, NULL, 0), MP_DICT_DELETE);

	/* d['list'].append(x) from 4 processes: every append kept. */
	enum { P = 4, R = 300 };
	struct upd_arg a[P];
	mp_process_t *p[P];
	for (int i = 0; i < P; i++) {
		a[i] = (struct upd_arg){ d, (unsigned char)('A' + i), R };
		p[i] = mpt_start(upd_child, &a[i]);
	}
	for (int i = 0; i < P; i++)
		MPT_EQ(mpt_finish(p[i]), 0);
	void *v;
	size_t n;
	MPT_OK(mp_dict_get_alloc(d, "list", 4, &v, &n, 0));
	MPT_EQ(n, P * R);
	int count[P] = { 0 };
	for (size_t i = 0; i < n; i++) {
		unsigned t = ((unsigned char *)v)[i] - 'A';
		if (t < P)
			count[t]++;
	}
	for (int i = 0; i < P; i++)
		MPT_EQ(count[i], R);
	free(v);
	unmake(d, false);
}

/* ---- iteration ----------------------------------------------------------- */

struct churn_arg {
	mp_dict_t *d;
	_Atomic uint32_t *stop;
};

/* Keys "c<i>" set and deleted over and over, values rewritten. */
static int churn_child(void *a)
{
	struct churn_arg *c = a;
	for (unsigned i = 0; !atomic_load(c->stop); i++) {
		char k[16];
		snprintf(k, sizeof(k), "c%u", i % 64);
		if (i % 3 == 2)
			mp_dict_delete(c->d, k, strlen(k), TEST_WAIT_NS);
		else if (mp_dict_set(c->d, k, strlen(k), &i, sizeof(i),
		                     TEST_WAIT_NS) < 0)
			return 1;
	}
	return 0;
}

static void test_iteration(void)
{
	mp_dict_t *d = make(true, 0);
	mp_dict_snap_t *s;
	const void *k, *v;
	size_t kl, vl;

	/* Insertion order: a replaced value keeps its place, a key set
	 * again after a delete goes to the end. */
	MPT_OK(sets(d, "one", "1"));
	MPT_OK(sets(d, "two", "2"));
	MPT_OK(sets(d, "three", "3"));
	MPT_OK(sets(d, "one", "11"));
	MPT_OK(mp_dict_delete(d, "two", 3, 0));
	MPT_OK(sets(d, "two", "22"));
	MPT_OK(mp_dict_snapshot(d, &s, 0));
	MPT_EQ(mp_dict_snap_len(s), 3);
	const char *want[3][2] = { { "one", "11" }, { "three", "3" },
	                           { "two", "22" } };
	for (size_t i = 0; i < 3; i++) {
		MPT_OK(mp_dict_snap_item(s, i, &k, &kl, &v, &vl));
		MPT_EQ(kl, strlen(want[i][0]));
		MPT_EQ(memcmp(k, want[i][0], kl), 0);
		MPT_EQ(vl, strlen(want[i][1]));
		MPT_EQ(memcmp(v, want[i][1], vl), 0);
	}
	MPT_ERR(mp_dict_snap_item(s, 3, &k, &kl, &v, &vl), -EINVAL);
	mp_dict_snap_free(s);

	/* Under change: fixed keys in every snapshot, no key twice. */
	MPT_OK(mp_dict_clear(d, 0));
	for (int i = 0; i < 100; i++) {
		char key[16];
		snprintf(key, sizeof(key), "f%d", i);
		MPT_OK(sets(d, key, key));
	}
	_Atomic uint32_t *stop = mpt_shared(4096);
	struct churn_arg ca = { d, stop };
	mp_process_t *p[2] = { mpt_start(churn_child, &ca),
	                       mpt_start(churn_child, &ca) };
	int bad = 0;
	for (int round = 0; round < 200; round++) {
		MPT_OK(mp_dict_snapshot(d, &s, TEST_WAIT_NS));
		int fixed = 0;
		char seen[64] = { 0 };
		for (size_t i = 0; i < mp_dict_snap_len(s); i++) {
			mp_dict_snap_item(s, i, &k, &kl, &v, &vl);
			const char *ks = k;
			if (ks[0] == 'f') {
				fixed++;
				bad += vl != kl || memcmp(k, v, kl);
			} else if (ks[0] == 'c' && kl < 8) {
				char num[8] = { 0 };
				memcpy(num, ks + 1, kl - 1);
				int c = atoi(num);
				bad += c < 0 || c >= 64 || seen[c]++ ||
				       vl != sizeof(unsigned);
			} else {
				bad++;
			}
		}
		bad += fixed != 100;
		mp_dict_snap_free(s);
	}
	atomic_store(stop, 1);
	MPT_EQ(mpt_finish(p[0]), 0);
	MPT_EQ(mpt_finish(p[1]), 0);
	MPT_EQ(bad, 0);
	munmap((void *)stop, 4096);
	unmake(d, true);
}

/* ---- memory -------------------------------------------------------------- */

static void fill(mp_dict_t *d, int n, size_t vlen)
{
	static char val[2048];
	for (int i = 0; i < n; i++) {
		char k[16];
		snprintf(k, sizeof(k), "%d", i);
		MPT_OK(mp_dict_set(d, k, strlen(k), val, vlen, 0));
	}
}

static void test_memory(void)
{
	mp_heap_stats_t h0, h1;
	mp_dict_stats_t st, st0;

	/* Heap: everything back after clear (but the header and a first
	 * table), and after free. */
	MPT_OK(mp_heap_init(0));
	MPT_OK(mp_heap_stats(&h0));
	mp_dict_t *d = make(true, 0);
	MPT_OK(mp_heap_stats(&h1));
	size_t empty = h1.bytes_live - h0.bytes_live;
	MPT_OK(mp_dict_stats(d, &st0, 0));
	for (int round = 0; round < 3; round++) {
		fill(d, 2000, 100 + 300 * (size_t)round);
		MPT_OK(mp_heap_stats(&h1));
		MPT_CMP(h1.bytes_live, >, h0.bytes_live + 2000 * 100);
		MPT_OK(mp_dict_clear(d, 0));
		MPT_OK(mp_heap_stats(&h1));
		MPT_EQ(h1.bytes_live - h0.bytes_live, empty);
		MPT_OK(mp_dict_stats(d, &st, 0));
		MPT_EQ(st.bytes_used, st0.bytes_used);
		MPT_EQ(st.slots, st0.slots);
	}
	fill(d, 500, 50);
	unmake(d, true);
	MPT_OK(mp_heap_stats(&h1));
	MPT_EQ(h1.bytes_live, h0.bytes_live);

	/* Arena: clear gives every unit back; deletes feed the free lists,
	 * which later sets reuse. */
	d = make(false, 0);
	MPT_OK(mp_dict_stats(d, &st0, 0));
	fill(d, 2000, 200);
	MPT_OK(mp_dict_stats(d, &st, 0));
	size_t top = st.arena_top;
	for (int i = 0; i < 2000; i += 2) {
		char k[16];
		snprintf(k, sizeof(k), "%d", i);
		MPT_OK(mp_dict_delete(d, k, strlen(k), 0));
	}
	MPT_OK(mp_dict_stats(d, &st, 0));
	MPT_CMP(st.bytes_free, >=, 1000 * 256);
	MPT_EQ(st.arena_top, st.bytes_used + st.bytes_free);
	/* The 1000 deleted come back from the lists (a replaced value's
	 * unit is freed after its new one is taken: one more at most). */
	fill(d, 2000, 200);
	MPT_OK(mp_dict_stats(d, &st, 0));
	MPT_CMP(st.arena_top, <=, top + 256);
	MPT_EQ(st.arena_top, st.bytes_used + st.bytes_free);
	MPT_OK(mp_dict_clear(d, 0));
	MPT_OK(mp_dict_stats(d, &st, 0));
	MPT_EQ(st.arena_top, st0.arena_top);
	MPT_EQ(st.bytes_used, st0.bytes_used);
	MPT_EQ(st.bytes_free, 0);
	unmake(d, false);
}

/* ---- stopped holders ----------------------------------------------------- */

static int fn_stop(const void *old, size_t ol, int found, const void **out,
                   size_t *outl, void *arg)
{
	(void)old, (void)ol, (void)found, (void)arg;
	raise(SIGSTOP); /* stopped with the lock held */
	*out = "after";
	*outl = 5;
	return MP_DICT_STORE;
}

static int stop_child(void *a)
{
	return mp_dict_update(a, "k", 1, fn_stop, NULL, MP_FOREVER) ==
	       MP_DICT_STORE ? 0 : 1;
}

static int wait_child(void *a)
{
	/* Blocks behind the stopped holder until it goes on. */
	return mp_dict_set(a, "w", 1, "1", 1, MP_FOREVER) == 0 ? 0 : 1;
}

static void test_stopped_holder(void)
{
	mp_dict_t *d = make(false, 0);
	char buf[16];
	MPT_OK(sets(d, "k", "before"));
	mp_process_t *p = mpt_start(stop_child, d);
	pid_t pid = mp_process_pid(p);
	int st = 0;
	MPT_EQ(waitpid(pid, &st, WUNTRACED), pid);
	CU_ASSERT_FATAL(WIFSTOPPED(st));
	mp_process_t *w = mpt_start(wait_child, d);
	pid_t wp = mp_process_pid(w);
	MPT_OK(mpt_await_futex_sleepers(&wp, 1, d, 64, 1));
	/* Stopped far longer than a liveness slice: still the holder. */
	MPT_ERR(mp_dict_get(d, "k", 1, buf, sizeof(buf), 0), -EAGAIN);
	MPT_ERR(mp_dict_set(d, "x", 1, "1", 1, MP_MSEC(200)), -ETIMEDOUT);
	MPT_EQ(mp_dict_len(d), 1); /* no lock needed */
	MPT_EQ(mp_dict_contains(d, "w", 1, 0), -EAGAIN);
	kill(pid, SIGCONT);
	MPT_EQ(mpt_finish(p), 0);
	MPT_EQ(mpt_finish(w), 0);
	MPT_EQ(gets(d, "k", buf, sizeof(buf)), 5);
	CU_ASSERT_STRING_EQUAL(buf, "after");
	MPT_EQ(mp_dict_contains(d, "w", 1, 0), 1);
	unmake(d, false);
}

/* ---- killed holders ------------------------------------------------------ */

static int fn_die(const void *old, size_t ol, int found, const void **out,
                  size_t *outl, void *arg)
{
	(void)old, (void)ol, (void)found, (void)out, (void)outl, (void)arg;
	raise(SIGKILL);
	return MP_DICT_KEEP;
}

static int die_child(void *a)
{
	mp_dict_update(a, "k", 1, fn_die, NULL, MP_FOREVER);
	return 1;
}

static void test_killed_in_update(void)
{
	for (int heap = 0; heap < 2; heap++) {
		mp_dict_t *d = make(heap, 0);
		char buf[16];
		MPT_OK(sets(d, "k", "old"));
		MPT_EQ(mpt_finish(mpt_start(die_child, d)), -SIGKILL);
		MPT_EQ(gets(d, "k", buf, sizeof(buf)), 3);
		CU_ASSERT_STRING_EQUAL(buf, "old");
		MPT_OK(sets(d, "k2", "v"));
		MPT_EQ(mp_dict_len(d), 2);
		unmake(d, heap);
	}
}

/*
 * Random kills.  Child c runs ops 0, 1, 2, ... in cycles of four: op j
 * with j % 4 == 0 or 1 sets key (c, j) to a value made from (c, j); 2
 * deletes the key of op j - 1; 3 deletes the key of op j - 3 - L (L ops
 * back; until there is one, it sets the key of op j - 3 again).  So keys
 * pile up to about L / 4 per child, the table grows, then sweeps
 * tombstones, all under the kills.  After op j returns, the child stores
 * j + 1 as its progress.  A killed child is started again at its
 * progress (that op may already be done: its delete may find no key).
 * At the end, with progress p, every op below p is in the dict, op p may
 * or may not be, nothing past it.  Between kills, children are stopped
 * and continued too.
 */
enum { KC = 3, KL = 4000 };

struct kill_shared {
	_Atomic uint32_t progress[KC];
};

static struct kill_shared *ks;
static mp_dict_t *kd;

static size_t kval(int c, uint32_t j, unsigned char *v)
{
	size_t n = 8 + (j * 37u) % 200;
	for (size_t i = 0; i < n; i++)
		v[i] = (unsigned char)(c * 31 + j + i);
	return n;
}

static size_t kkey(int c, uint32_t j, char *k)
{
	return (size_t)snprintf(k, 32, "k%d.%u", c, j);
}

/* Op j of child c. */
static int kop(int c, uint32_t j, bool first)
{
	char k[32];
	unsigned char v[256];
	uint32_t key = j % 4 == 2 ? j - 1 : j % 4 != 3 ? j :
	               j >= KL + 3 ? j - 3 - KL : j - 3;
	size_t kl = kkey(c, key, k);
	if (j % 4 == 2 || (j % 4 == 3 && j >= KL + 3)) {
		int r = mp_dict_delete(kd, k, kl, MP_FOREVER);
		return r == -ENOENT && first ? 0 : r;
	}
	return mp_dict_set(kd, k, kl, v, kval(c, key, v), MP_FOREVER);
}

/* What ops below p (op p undecided) leave of key i: 0 absent, 1 there,
 * 2 either. */
static int kstate(uint32_t i, uint32_t p)
{
	if (i % 4 >= 2 || i > p)
		return 0;
	if (i == p)
		return 2;
	uint32_t del = i % 4 == 1 ? i + 1 : i + 3 + KL;
	return del < p ? 0 : del == p ? 2 : 1;
}

static void kill_child_run(int c)
{
	uint32_t j = atomic_load(&ks->progress[c]);
	for (bool first = true;; first = false, j++) {
		int r = kop(c, j, first);
		if (r < 0)
			_exit(-r > 255 ? 255 : -r);
		atomic_store(&ks->progress[c], j + 1);
	}
}

static pid_t kill_child_start(int c)
{
	pid_t pid = fork();
	if (pid == 0)
		kill_child_run(c);
	CU_ASSERT_FATAL(pid > 0);
	return pid;
}

/* Is key (c, j) in the dict as op j left it? 1 yes, 0 absent, -1 bad. */
static int kcheck(int c, uint32_t j)
{
	char k[32];
	unsigned char v[256], got[256];
	size_t want = kval(c, j, v);
	int64_t n = mp_dict_get(kd, k, kkey(c, j, k), got, sizeof(got), 0);
	if (n == -ENOENT)
		return 0;
	return n == (int64_t)want && !memcmp(v, got, want) ? 1 : -1;
}

static void kills(bool heap)
{
	mp_heap_stats_t h0, h1;
	MPT_OK(mp_heap_init(0));
	MPT_OK(mp_heap_stats(&h0));
	ks = mpt_shared(sizeof(*ks));
	kd = make(heap, 0);
	pid_t pid[KC];
	for (int c = 0; c < KC; c++)
		pid[c] = kill_child_start(c);
	unsigned seed = (unsigned)getpid();
	int inside = 0, round, stops = 0;
	mp_dict_stats_t st;
	/* At least 60 kills, and on until 10 caught a child in the middle
	 * of a change (the dict counts its repairs). */
	for (round = 0; round < 1000; round++) {
		if (round >= 60 && round % 10 == 0) {
			MPT_OK(mp_dict_stats(kd, &st, TEST_WAIT_NS));
			if (st.repairs >= 10)
				break;
		}
		usleep((useconds_t)(rand_r(&seed) % 3000));
		int c = rand_r(&seed) % KC;
		if (round % 4 == 1) {
			/* Stop another child for a while, maybe holding the
			 * lock: it must keep it, and nobody may take it for
			 * dead (it would go on afterwards in a dict changed
			 * under it, and the checks below would see that). */
			int o = (c + 1) % KC;
			kill(pid[o], SIGSTOP);
			usleep(3000 + (useconds_t)(rand_r(&seed) % 10000));
			kill(pid[o], SIGCONT);
			stops++;
		}
		kill(pid[c], SIGKILL);
		int ws;
		MPT_EQ(waitpid(pid[c], &ws, 0), pid[c]);
		MPT_EQ(WIFSIGNALED(ws) ? -WTERMSIG(ws) : WEXITSTATUS(ws),
		       -SIGKILL);
		pid[c] = kill_child_start(c);
	}
	for (int c = 0; c < KC; c++) {
		kill(pid[c], SIGKILL);
		waitpid(pid[c], NULL, 0);
	}
	MPT_OK(mp_dict_stats(kd, &st, TEST_WAIT_NS));
	inside = (int)st.deaths;
	fprintf(stderr, "\n  %s: %d kills, %d holding the lock, %d in a "
	        "change; ops %u %u %u\n", heap ? "heap" : "arena", round,
	        inside, (int)st.repairs, atomic_load(&ks->progress[0]),
	        atomic_load(&ks->progress[1]), atomic_load(&ks->progress[2]));
	MPT_CMP(st.repairs, >=, 10);
	MPT_CMP(st.deaths, <=, (uint64_t)round); /* none but the killed */
	MPT_CMP(stops, >=, 10);

	/* Every committed op there, exactly once; nothing after. */
	int bad = 0;
	uint64_t expect = 0, maybe = 0;
	for (int c = 0; c < KC; c++) {
		uint32_t p = atomic_load(&ks->progress[c]);
		for (uint32_t i = 0; i < p + 8; i++) {
			int want = kstate(i, p), in = kcheck(c, i);
			bad += in < 0 || (want != 2 && in != want);
			expect += want == 1;
			maybe += want == 2;
		}
	}
	MPT_EQ(bad, 0);
	int64_t len = mp_dict_len(kd);
	MPT_CMP(len, >=, (int64_t)expect);
	MPT_CMP(len, <=, (int64_t)(expect + maybe));
	mp_dict_snap_t *s;
	MPT_OK(mp_dict_snapshot(kd, &s, 0));
	MPT_EQ(mp_dict_snap_len(s), len);
	/* No key twice: insertion numbers order the snapshot; compare
	 * every key with the others of its child through a sort. */
	char (*names)[32] = calloc((size_t)len + 1, 32);
	for (size_t i = 0; i < mp_dict_snap_len(s); i++) {
		const void *k;
		size_t kl;
		mp_dict_snap_item(s, i, &k, &kl, NULL, NULL);
		memcpy(names[i], k, kl < 31 ? kl : 31);
	}
	qsort(names, (size_t)len, 32, (int (*)(const void *,
	      const void *))strcmp);
	int dup = 0;
	for (int64_t i = 1; i < len; i++)
		dup += !strcmp(names[i - 1], names[i]);
	MPT_EQ(dup, 0);
	free(names);
	mp_dict_snap_free(s);

	MPT_OK(mp_dict_stats(kd, &st, 0));
	MPT_EQ(st.len, len);
	if (!heap) {
		/* An arena loses nothing. */
		MPT_EQ(st.arena_top, st.bytes_used + st.bytes_free);
	}
	size_t biggest = sizeof(void *) * 2 * st.slots + 4096;
	unmake(kd, heap);
	if (heap) {
		/* The heap: at most one block per kill. */
		MPT_OK(mp_heap_stats(&h1));
		size_t leak = h1.bytes_live - h0.bytes_live;
		fprintf(stderr, "  heap: %zu bytes leaked\n", leak);
		MPT_CMP(leak, <=, (size_t)inside * biggest);
	}
	munmap(ks, sizeof(*ks));
}

static void test_kills_arena(void)
{
	kills(false);
}

static void test_kills_heap(void)
{
	kills(true);
}

/*
 * Growth under kills: one child sets keys 0, 1, 2, ... and clears the
 * dict at every op j with j % GW == GW - 1, so the table grows from its
 * first size to 64 Ki slots again and again.  After each kill (nobody
 * else runs then) the intent record says what the child was in the
 * middle of; the test goes on until kills have cut a growth and a set
 * several times each.
 */
enum { GW = 16384 };

static void grow_child_run(void)
{
	uint32_t j = atomic_load(&ks->progress[0]);
	for (;; j++) {
		char k[16];
		int r = j % GW == GW - 1 ? mp_dict_clear(kd, MP_FOREVER) :
		        mp_dict_set(kd, k, (size_t)snprintf(k, sizeof(k), "%u",
		                    j), &j, sizeof(j), MP_FOREVER);
		if (r < 0)
			_exit(-r > 255 ? 255 : -r);
		atomic_store(&ks->progress[0], j + 1);
	}
}

/* After the kills, with progress p: keys since the last clear below p
 * there, key p either, none after; op p a clear: all there or none. */
static void grow_check(uint32_t p)
{
	uint32_t from = p >= GW ? p - p % GW : 0; /* after the last clear */
	if (p % GW == 0 && p)
		from = p; /* op p - 1 was a clear: nothing before p */
	int64_t len = mp_dict_len(kd);
	bool cut_clear = p % GW == GW - 1 && len == 0;
	int bad = 0;
	for (uint32_t j = from; j < p + 4; j++) {
		char k[16];
		uint32_t v = 0;
		int64_t n = mp_dict_get(kd, k, (size_t)snprintf(k, sizeof(k),
		                        "%u", j), &v, sizeof(v), 0);
		bool want = j < p && !cut_clear;
		if (j == p && p % GW != GW - 1)
			continue; /* op p: either */
		bad += want ? n != 4 || v != j : n != -ENOENT;
	}
	MPT_EQ(bad, 0);
	MPT_CMP(len, <=, (int64_t)(p - from + 1));
}

static void growth(bool heap)
{
	mp_heap_stats_t h0, h1;
	MPT_OK(mp_heap_init(0));
	MPT_OK(mp_heap_stats(&h0));
	ks = mpt_shared(sizeof(*ks));
	kd = make(heap, 0);
	unsigned seed = (unsigned)getpid();
	int cut[OP_CLEAR + 1] = { 0 }, round;
	pid_t pid = 0;
	for (round = 0; round < 1000; round++) {
		if (round >= 40 && cut[OP_RESIZE] >= 3 && cut[OP_SET] >= 3)
			break;
		if ((pid = fork()) == 0)
			grow_child_run();
		CU_ASSERT_FATAL(pid > 0);
		usleep(500 + (useconds_t)(rand_r(&seed) % 4000));
		kill(pid, SIGKILL);
		int ws;
		MPT_EQ(waitpid(pid, &ws, 0), pid);
		MPT_EQ(WIFSIGNALED(ws) ? -WTERMSIG(ws) : WEXITSTATUS(ws),
		       -SIGKILL);
		uint32_t op = atomic_load(&kd->in.op);
		if (op <= OP_CLEAR)
			cut[op]++;
	}
	fprintf(stderr, "\n  %s: %d kills; cut: %d sets, %d growths, "
	        "%d clears; %u ops\n", heap ? "heap" : "arena", round,
	        cut[OP_SET], cut[OP_RESIZE], cut[OP_CLEAR],
	        atomic_load(&ks->progress[0]));
	MPT_CMP(cut[OP_RESIZE], >=, 3);
	MPT_CMP(cut[OP_SET], >=, 3);
	/* The first call after the kills waits, as long as it takes to
	 * find the last holder dead (a try would return -EAGAIN when the
	 * kernel did not mark it), and repairs. */
	mp_dict_stats_t st;
	MPT_OK(mp_dict_stats(kd, &st, TEST_WAIT_NS));
	grow_check(atomic_load(&ks->progress[0]));
	MPT_OK(mp_dict_stats(kd, &st, 0));
	MPT_EQ(st.len, mp_dict_len(kd));
	MPT_CMP(st.slots, >=, 2 * st.len);
	if (!heap)
		MPT_EQ(st.arena_top, st.bytes_used + st.bytes_free);
	unmake(kd, heap);
	if (heap) {
		/* At most one block a kill: the biggest, a 64 Ki-slot table. */
		MPT_OK(mp_heap_stats(&h1));
		size_t leak = h1.bytes_live - h0.bytes_live;
		fprintf(stderr, "  heap: %zu bytes leaked\n", leak);
		MPT_CMP(leak, <=, (size_t)round * (16 << 16) * 2);
	}
	munmap(ks, sizeof(*ks));
}

static void test_growth_arena(void)
{
	growth(false);
}

static void test_growth_heap(void)
{
	growth(true);
}

/*
 * Every point of every change: a child cuts a change at its n-th step
 * (mp__dict_crash_at), for n = 1, 2, ... until the change completes; a
 * second child, taking the lock next, is cut in the recovery at its m-th
 * step, for m = 1, 2, ... likewise.  Each time the dict must then read
 * exactly as before the change or as after it (items and order), an arena
 * must have lost no unit, and the heap at most one block per death.
 */
typedef int (*change_fn)(mp_dict_t *d);

static int ch_set_new(mp_dict_t *d) { return sets(d, "new", "N"); }
static int ch_set_replace(mp_dict_t *d)
{
	static char big[300];
	memset(big, 'R', sizeof(big) - 1);
	return sets(d, "p1", big);
}
static int ch_delete(mp_dict_t *d) { return mp_dict_delete(d, "p1", 2, 0); }
static int ch_clear(mp_dict_t *d) { return mp_dict_clear(d, 0); }
static int ch_pop(mp_dict_t *d)
{
	char buf[8];
	return (int)mp_dict_pop(d, "p0", 2, buf, sizeof(buf), 0);
}

/* A fresh dict holding p0..p<k-1>. */
static mp_dict_t *prepare(bool heap, int k)
{
	mp_dict_t *d = make(heap, 0);
	for (int i = 0; i < k; i++) {
		char key[8], val[8];
		snprintf(key, sizeof(key), "p%d", i);
		snprintf(val, sizeof(val), "v%d", i);
		MPT_OK(sets(d, key, val));
	}
	return d;
}

/* The dict's items, in order, as one string. */
static void render(mp_dict_t *d, char *out, size_t cap)
{
	mp_dict_snap_t *s;
	size_t at_ = 0;
	out[0] = 0;
	if (mp_dict_snapshot(d, &s, TEST_WAIT_NS) < 0)
		return;
	for (size_t i = 0; i < mp_dict_snap_len(s) && at_ < cap; i++) {
		const void *k, *v;
		size_t kl, vl;
		mp_dict_snap_item(s, i, &k, &kl, &v, &vl);
		at_ += (size_t)snprintf(out + at_, cap - at_, "%.*s=%.*s;",
		                        (int)kl, (const char *)k, (int)vl,
		                        (const char *)v);
	}
	mp_dict_snap_free(s);
}

/* Run fn in a child that dies at its step n (0: never); the child's end:
 * 1 it completed, 0 it was cut. */
static int cut_at(mp_dict_t *d, long n, change_fn fn)
{
	pid_t pid = fork();
	if (pid == 0) {
		mp__dict_crash_at = n;
		_exit(fn(d) < 0 ? 3 : 0);
	}
	int ws;
	CU_ASSERT_FATAL(pid > 0);
	MPT_EQ(waitpid(pid, &ws, 0), pid);
	if (WIFSIGNALED(ws) && WTERMSIG(ws) == SIGKILL)
		return 0;
	MPT_EQ(WIFEXITED(ws) ? WEXITSTATUS(ws) : -1, 0);
	return 1;
}

static int ch_look(mp_dict_t *d)
{
	return mp_dict_contains(d, "p0", 2, TEST_WAIT_NS);
}

static void every_point(bool heap, int k, change_fn fn, const char *name)
{
	char before[1024], after[1024], now[1024];
	mp_heap_stats_t h0, h1;
	mp_dict_t *d = prepare(heap, k);
	render(d, before, sizeof(before));
	MPT_OK(fn(d));
	render(d, after, sizeof(after));
	unmake(d, heap);
	int cuts = 0, rcuts = 0, bad = 0;
	for (long n = 1;; n++) {
		bool done = false;
		for (long m = 1;; m++) {
			MPT_OK(mp_heap_stats(&h0));
			d = prepare(heap, k);
			done = cut_at(d, n, fn);
			int deaths = !done, rdone = 1;
			if (!done) {
				rdone = cut_at(d, m, ch_look);
				deaths += !rdone;
			}
			render(d, now, sizeof(now)); /* recovers */
			if (strcmp(now, before) && strcmp(now, after)) {
				fprintf(stderr, "\n%s, cut at %ld/%ld: %s\n",
				        name, n, m, now);
				bad++;
			}
			mp_dict_stats_t st;
			MPT_OK(mp_dict_stats(d, &st, 0));
			if (!heap)
				bad += st.arena_top != st.bytes_used +
				                       st.bytes_free;
			unmake(d, heap);
			MPT_OK(mp_heap_stats(&h1));
			bad += h1.bytes_live > h0.bytes_live + 512 *
			                       (size_t)deaths;
			cuts += !done;
			rcuts += !rdone;
			if (done || rdone)
				break;
		}
		if (done || n > 200)
			break;
	}
	fprintf(stderr, "  %s %s: %d cuts, %d in recovery\n",
	        heap ? "heap" : "arena", name, cuts, rcuts);
	MPT_EQ(bad, 0);
	MPT_CMP(cuts, >=, 3);
}

static void test_every_point(void)
{
	MPT_OK(mp_heap_init(0));
	for (int heap = 0; heap < 2; heap++) {
		every_point(heap, 2, ch_set_new, "set");
		every_point(heap, 4, ch_set_new, "set with growth");
		every_point(heap, 3, ch_set_replace, "replace");
		every_point(heap, 3, ch_delete, "delete");
		every_point(heap, 3, ch_pop, "pop");
		every_point(heap, 5, ch_clear, "clear");
	}
}

/*
 * An unrelated process (this program run again: another address space,
 * another AT_RANDOM, so another hash key for Python's own str hash) maps
 * the segment of a MP_DICT_PYKEYS dict at its own address, finds the
 * keys by equal values, and adds one.
 */
static const char *peer_env = "MPT_DICT_PEER_FD";

/* The pickle of (1, 'x'), or of (1.0, 'x'). */
static size_t pk_tuple(bool as_float, unsigned char *k)
{
	mp_obj_t *it[2] = { as_float ? mp_obj_float(1.0) : mp_obj_int(1),
	                    mp_obj_cstr("x", NULL) };
	return pk_raw(mp_obj_tuple(2, it), k);
}

/* The peer's side (run from main); its exit code says what failed. */
static int peer_main(int fd)
{
	int err;
	unsigned char k[256];
	char v[16];
	mp_shm_t *s = mp_shm_attach_fd(fd, 0, &err);
	if (!s)
		return 2;
	mp_dict_t *d = mp_shm_buf(s);
	size_t n = pk_raw(mp_obj_cstr("key", NULL), k);
	if (mp_dict_get(d, k, n, v, sizeof(v), TEST_WAIT_NS) != 1 ||
	    v[0] != 'v')
		return 3;
	n = pk_tuple(true, k); /* (1.0, 'x') finds (1, 'x') */
	if (mp_dict_get(d, k, n, v, sizeof(v), TEST_WAIT_NS) != 1 ||
	    v[0] != 't')
		return 4;
	n = pk_raw(mp_obj_cstr("peer", NULL), k);
	if (mp_dict_set(d, k, n, "p", 1, TEST_WAIT_NS) < 0)
		return 5;
	mp_shm_close(s);
	return 0;
}

static void test_unrelated_process(void)
{
	int err;
	unsigned char k[256];
	char v[16], fds[16];
	mp_shm_t *s = mp_shm_anon(1 << 20, 0, &err);
	CU_ASSERT_PTR_NOT_NULL_FATAL(s);
	mp_dict_t *d = mp_dict_init(mp_shm_buf(s), 1 << 20, MP_DICT_PYKEYS,
	                            &err);
	CU_ASSERT_PTR_NOT_NULL_FATAL(d);
	size_t n = pk(mp_obj_cstr("key", NULL), k);
	MPT_OK(mp_dict_set(d, k, n, "v", 1, 0));
	n = pk_tuple(false, k);
	MPT_OK(mp_dict_set(d, k, n, "t", 1, 0));
	int fd = dup(mp_shm_fd(s)); /* without FD_CLOEXEC */
	CU_ASSERT_FATAL(fd >= 0);
	snprintf(fds, sizeof(fds), "%d", fd);
	pid_t pid = fork();
	if (pid == 0) {
		setenv(peer_env, fds, 1);
		execl("/proc/self/exe", "test_dict", (char *)NULL);
		_exit(127);
	}
	close(fd);
	int ws = 0;
	MPT_EQ(waitpid(pid, &ws, 0), pid);
	MPT_EQ(WIFEXITED(ws) ? WEXITSTATUS(ws) : -1, 0);
	n = pk(mp_obj_cstr("peer", NULL), k);
	MPT_EQ(mp_dict_get(d, k, n, v, sizeof(v), 0), 1);
	MPT_EQ(mp_dict_len(d), 3);
	MPT_OK(mp_dict_destroy(d));
	mp_shm_close(s);
}

/*
 * Keys pickled by CPython itself, protocols 2 to 5: each group's values
 * are equal in Python (1 == 1.0 == True, (1, 'x') == (1.0, 'x'), ...),
 * so an MP_DICT_PYKEYS dict must hold exactly one key per group, found
 * by every pickle of the group.
 */
static const char *py_keys =
	"import pickle\n"
	"groups = [[1, 1.0, True], [0, 0.0, -0.0, False], ['a'], [b'a'],\n"
	"          [(1, 'x'), (1.0, 'x'), (True, 'x')], [None], [1.5],\n"
	"          [frozenset({1, 2}), frozenset({2.0, 1})], [()],\n"
	"          [2 ** 64, float(2 ** 64)],\n"
	"          ['\\xe9' * 3, '\\xe9\\xe9\\xe9'],\n"
	"          [(b'', ('n', 2))], [-2 ** 70]]\n"
	"for i, g in enumerate(groups):\n"
	"    for proto in (2, 3, 4, 5):\n"
	"        for k in g:\n"
	"            print('K', i, pickle.dumps(k, proto).hex())\n"
	"print('END', len(groups))\n";

static bool find_python(int minor, struct mpt_py *py)
{
	char why[160];
	if (!mpt_python_find(minor, py)) {
		snprintf(why, sizeof(why), "no python3.%d here: pickled keys "
		         "are NOT tested", minor);
		MPT_SKIP(why);
		return false;
	}
	return true;
}

/* Hex to bytes; the length, or 0 when malformed. */
static size_t unhex(const char *h, unsigned char *out, size_t cap)
{
	size_t n = 0;
	for (; h[0] && h[1] && h[0] != '\n' && n < cap; h += 2) {
		unsigned v;
		if (sscanf(h, "%2x", &v) != 1)
			return 0;
		out[n++] = (unsigned char)v;
	}
	return n;
}

static void interop_keys(int minor)
{
	struct mpt_py py;
	struct mpt_pyproc pp;
	if (!find_python(minor, &py))
		return;
	MPT_OK(mpt_py_start(&py, py_keys, NULL, &pp));
	MPT_EQ(mpt_py_finish(&pp), 0);
	mp_dict_t *d = make(true, MP_DICT_PYKEYS);
	int groups = -1, lines = 0, bad = 0;
	for (const char *l = pp.buf; l && *l; l = strchr(l, '\n'),
	     l = l ? l + 1 : NULL) {
		int g, off = 0;
		if (sscanf(l, "END %d", &groups) == 1)
			break;
		if (sscanf(l, "K %d %n", &g, &off) != 1 || !off) {
			bad++;
			continue;
		}
		unsigned char k[256];
		size_t kl = unhex(l + off, k, sizeof(k));
		int v = -1;
		int64_t r = mp_dict_get(d, k, kl, &v, sizeof(v), 0);
		if (r == -ENOENT)
			r = mp_dict_set(d, k, kl, &g, sizeof(g), 0);
		else if (r != sizeof(v) || v != g)
			r = -EPROTO;
		if (r < 0) {
			fprintf(stderr, "\n  group %d, %s: %s", g, l,
			        mp_strerror((int)r));
			bad++;
		}
		lines++;
	}
	MPT_EQ(bad, 0);
	MPT_EQ(lines, 23 * 4); /* 23 values, 4 protocols */
	MPT_EQ(mp_dict_len(d), groups);
	unmake(d, true);
}

static void test_python311(void)
{
	interop_keys(11);
}

static void test_python312(void)
{
	interop_keys(12);
}

static void test_python313(void)
{
	interop_keys(13);
}

int main(void)
{
	if (getenv(peer_env))
		return peer_main(atoi(getenv(peer_env)));
	arena = mpt_shared(ARENA_SIZE);
	static CU_TestInfo tests[] = {
		{ "operations, arena", test_ops_arena },
		{ "operations, heap", test_ops_heap },
		{ "position independent", test_position_independent },
		{ "bad input", test_bad_input },
		{ "python keys", test_pykeys },
		{ "python keys, unrelated process", test_unrelated_process },
		{ "interop python 3.11: pickled keys", test_python311 },
		{ "interop python 3.12: pickled keys", test_python312 },
		{ "interop python 3.13: pickled keys", test_python313 },
		{ "update", test_update },
		{ "iteration", test_iteration },
		{ "memory given back", test_memory },
		{ "stopped holder", test_stopped_holder },
		{ "killed in update", test_killed_in_update },
		{ "random kills, arena", test_kills_arena },
		{ "random kills, heap", test_kills_heap },
		{ "growth under kills, arena", test_growth_arena },
		{ "growth under kills, heap", test_growth_heap },
		{ "every point of every change", test_every_point },
		CU_TEST_INFO_NULL,
	};
	return mpt_main("dict", tests);
}
