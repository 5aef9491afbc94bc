/*
 * value.c - Value and Array (and their Raw variants): typed elements in
 * shared memory behind an optional robust lock.
 *
 * Layout (struct shared, offsets from the object; no pointers):
 *    0  header: magic, typecode, element size and class, lock kind,
 *       data_off, count
 *   24  a Value's element (8 bytes; so it shares the cache line of the lock
 *       word when the object is 64-byte aligned, as heap blocks are)
 *   32  the lock: an mp_lock_t or mp_rlock_t (struct lock), absent from a
 *       raw Array (whose data then starts here)
 *   96  an Array's elements (data_off)
 *
 * Single elements are loaded and stored with one atomic access of their
 * size (relaxed: the lock, when there is one, orders them), so a reader
 * never sees half an element, whatever happens to a writer.
 */
#include "lock.h"

#include <float.h>
#include <stddef.h>

enum { K_RLOCK, K_LOCK, K_RAW };         /* lock kinds */
enum { T_CHAR, T_SINT, T_UINT, T_FLOAT }; /* element classes */

struct shared {
	uint32_t magic;
	uint8_t typecode;
	uint8_t esize;
	uint8_t cls;       /* T_* */
	uint8_t kind;      /* K_* */
	uint32_t data_off; /* the first element, from the object */
	uint32_t reserved;
	uint64_t count;    /* elements (1 for a Value) */
	uint64_t elem;     /* a Value's element */
	struct lock lock;  /* not there in a raw Array */
};

#define LOCK_OFF  32u
#define ARRAY_OFF (LOCK_OFF + (uint32_t)sizeof(struct lock))

_Static_assert(offsetof(struct shared, elem) == 24, "Value element at 24");
_Static_assert(offsetof(struct shared, lock) == LOCK_OFF, "lock at 32");
_Static_assert(sizeof(struct shared) <= sizeof(mp_value_t), "mp_value_t");
_Static_assert(ARRAY_OFF % 8 == 0, "Array data 8-byte aligned");

#define VALUE_MAGIC 0x6d707661u /* "mpva" */
#define ARRAY_MAGIC 0x6d706172u /* "mpar" */

/* ---- typecodes and elements ------------------------------------------------ */

struct ctype {
	char code;
	uint8_t size, cls;
};

static const struct ctype ctypes[] = {
	{ 'c', 1, T_CHAR },
	{ 'b', 1, T_SINT }, { 'B', 1, T_UINT },
	{ 'h', sizeof(short), T_SINT }, { 'H', sizeof(short), T_UINT },
	{ 'i', sizeof(int), T_SINT }, { 'I', sizeof(int), T_UINT },
	{ 'l', sizeof(long), T_SINT }, { 'L', sizeof(long), T_UINT },
	{ 'q', sizeof(long long), T_SINT }, { 'Q', sizeof(long long), T_UINT },
	{ 'f', sizeof(float), T_FLOAT }, { 'd', sizeof(double), T_FLOAT },
};

static const struct ctype *ctype_of(char code)
{
	for (size_t i = 0; i < sizeof(ctypes) / sizeof(ctypes[0]); i++)
		if (ctypes[i].code == code)
			return &ctypes[i];
	return NULL;
}

int mp_typecode_size(char typecode)
{
	const struct ctype *t = ctype_of(typecode);
	return t ? t->size : -EINVAL;
}

/* One element, whatever its type (members share the first byte). */
union elem {
	unsigned char b[8];
	int8_t i8;
	uint8_t u8;
	int16_t i16;
	uint16_t u16;
	int32_t i32;
	uint32_t u32;
	int64_t i64;
	uint64_t u64;
	float f;
	double d;
};

static void elem_load(const void *p, unsigned size, union elem *e)
{
	switch (size) {
	case 1: e->u8 = __atomic_load_n((const uint8_t *)p, __ATOMIC_RELAXED);
		break;
	case 2: e->u16 = __atomic_load_n((const uint16_t *)p, __ATOMIC_RELAXED);
		break;
	case 4: e->u32 = __atomic_load_n((const uint32_t *)p, __ATOMIC_RELAXED);
		break;
	default: e->u64 = __atomic_load_n((const uint64_t *)p, __ATOMIC_RELAXED);
	}
}

static void elem_store(void *p, unsigned size, const union elem *e)
{
	switch (size) {
	case 1: __atomic_store_n((uint8_t *)p, e->u8, __ATOMIC_RELAXED); break;
	case 2: __atomic_store_n((uint16_t *)p, e->u16, __ATOMIC_RELAXED); break;
	case 4: __atomic_store_n((uint32_t *)p, e->u32, __ATOMIC_RELAXED); break;
	default: __atomic_store_n((uint64_t *)p, e->u64, __ATOMIC_RELAXED);
	}
}

static int elem_to_i64(const struct shared *s, const union elem *e,
                       int64_t *out)
{
	if (s->cls != T_SINT && s->cls != T_UINT)
		return -EINVAL;
	bool sgn = s->cls == T_SINT;
	switch (s->esize) {
	case 1: *out = sgn ? e->i8 : e->u8; break;
	case 2: *out = sgn ? e->i16 : e->u16; break;
	case 4: *out = sgn ? e->i32 : (int64_t)e->u32; break;
	default:
		if (!sgn && e->u64 > INT64_MAX)
			return -ERANGE;
		*out = e->i64;
	}
	return 0;
}

static int elem_from_i64(const struct shared *s, int64_t x, union elem *e)
{
	if (s->cls != T_SINT && s->cls != T_UINT)
		return -EINVAL;
	unsigned bits = 8u * s->esize;
	if (s->cls == T_UINT && (x < 0 || (bits < 64 && x >> bits)))
		return -ERANGE;
	if (s->cls == T_SINT && bits < 64 &&
	    (x < -((int64_t)1 << (bits - 1)) || x >= (int64_t)1 << (bits - 1)))
		return -ERANGE;
	switch (s->esize) {
	case 1: e->u8 = (uint8_t)x; break;
	case 2: e->u16 = (uint16_t)x; break;
	case 4: e->u32 = (uint32_t)x; break;
	default: e->u64 = (uint64_t)x;
	}
	return 0;
}

static int elem_to_double(const struct shared *s, const union elem *e,
                          double *out)
{
	if (s->cls != T_FLOAT)
		return -EINVAL;
	*out = s->esize == sizeof(float) ? (double)e->f : e->d;
	return 0;
}

static int elem_from_double(const struct shared *s, double x, union elem *e)
{
	if (s->cls != T_FLOAT)
		return -EINVAL;
	if (s->esize == sizeof(double)) {
		e->d = x;
		return 0;
	}
	/* inf and nan pass; a finite number a float cannot hold does not. */
	if (__builtin_isfinite(x) && (x > FLT_MAX || x < -FLT_MAX))
		return -ERANGE;
	e->f = (float)x;
	return 0;
}

/* ---- objects ------------------------------------------------------------------ */

static struct shared *shared_of(const void *p, uint32_t magic)
{
	struct shared *s = (struct shared *)p;
	return mp__aligned(p) && s->magic == magic ? s : NULL;
}

static void *data_of(struct shared *s)
{
	return (char *)s + s->data_off;
}

static int kind_of(unsigned flags)
{
	if (flags & ~(MP_VALUE_RAW | MP_VALUE_LOCK) ||
	    flags == (MP_VALUE_RAW | MP_VALUE_LOCK))
		return -EINVAL;
	return flags & MP_VALUE_RAW ? K_RAW : flags & MP_VALUE_LOCK ? K_LOCK
	                                                            : K_RLOCK;
}

static void header_init(struct shared *s, const struct ctype *t, int kind,
                        uint64_t count, uint32_t data_off)
{
	/* Not past data_off: a raw Array's data starts where the lock would. */
	memset(s, 0, LOCK_OFF);
	s->typecode = (uint8_t)t->code;
	s->esize = t->size;
	s->cls = t->cls;
	s->kind = (uint8_t)kind;
	s->count = count;
	s->data_off = data_off;
	if (kind == K_RLOCK)
		mp_rlock_init((mp_rlock_t *)&s->lock);
	else if (kind == K_LOCK)
		mp_lock_init((mp_lock_t *)&s->lock);
}

static int shared_destroy(struct shared *s)
{
	int r = 0;

	if (!s)
		return -EINVAL;
	if (s->kind == K_RLOCK)
		r = mp_rlock_destroy((mp_rlock_t *)&s->lock);
	else if (s->kind == K_LOCK)
		r = mp_lock_destroy((mp_lock_t *)&s->lock);
	if (r == 0)
		s->magic = 0;
	return r;
}

/* ---- the lock ------------------------------------------------------------------ */

static void *lock_ptr(struct shared *s)
{
	return s && s->kind != K_RAW ? (void *)&s->lock : NULL;
}

static int lock_acquire(struct shared *s, int64_t timeout_ns)
{
	if (!s)
		return -EINVAL;
	if (s->kind == K_RAW)
		return -EOPNOTSUPP;
	if (s->kind == K_LOCK)
		return mp_lock_acquire((mp_lock_t *)&s->lock, timeout_ns);
	int r = mp_rlock_acquire((mp_rlock_t *)&s->lock, timeout_ns);
	return r > 0 ? 0 : r;
}

static int lock_release(struct shared *s)
{
	if (!s)
		return -EINVAL;
	if (s->kind == K_RAW)
		return -EOPNOTSUPP;
	if (s->kind == K_LOCK)
		return mp_lock_release((mp_lock_t *)&s->lock);
	int r = mp_rlock_release((mp_rlock_t *)&s->lock);
	return r > 0 ? 0 : r;
}

static int lock_consistent(struct shared *s)
{
	if (!s)
		return -EINVAL;
	if (s->kind == K_RAW)
		return -EOPNOTSUPP;
	return s->kind == K_LOCK ? mp_lock_consistent((mp_lock_t *)&s->lock)
	                         : mp_rlock_consistent((mp_rlock_t *)&s->lock);
}

/*
 * The helpers' way in: 0 with the lock held (or none to take), 1 when its
 * previous owner died (held, and marked consistent: the helper goes on, see
 * the header), or an error.
 */
static int enter(struct shared *s, int64_t timeout_ns)
{
	int64_t deadline;

	if (s->kind == K_RAW)
		return mp__deadline(timeout_ns, &deadline);
	if (s->kind == K_LOCK && mp__lock_mine(&s->lock))
		return -EDEADLK;
	int r = lock_acquire(s, timeout_ns);
	if (r == -EOWNERDEAD) {
		lock_consistent(s);
		return 1;
	}
	return r;
}

/* The way out: release, and turn enter()'s 1 into -EOWNERDEAD unless the
 * work itself failed (r < 0). */
static int leave(struct shared *s, int entered, int r)
{
	if (s->kind != K_RAW)
		lock_release(s);
	return r < 0 ? r : entered == 1 ? -EOWNERDEAD : r;
}

/* ---- Value ------------------------------------------------------------------------ */

int mp_value_init(mp_value_t *v, char typecode, const void *init,
                  unsigned flags)
{
	const struct ctype *t = ctype_of(typecode);
	int kind = kind_of(flags);
	struct shared *s = (struct shared *)v;

	if (!mp__aligned(v) || !t || kind < 0)
		return -EINVAL;
	memset(v, 0, sizeof(*v));
	header_init(s, t, kind, 1, offsetof(struct shared, elem));
	if (init)
		memcpy(&s->elem, init, t->size);
	s->magic = VALUE_MAGIC;
	return 0;
}

int mp_value_destroy(mp_value_t *v)
{
	return shared_destroy(shared_of(v, VALUE_MAGIC));
}

mp_value_t *mp_value_new(char typecode, const void *init, unsigned flags,
                         int *err)
{
	if (!ctype_of(typecode) || kind_of(flags) < 0) {
		if (err)
			*err = -EINVAL;
		return NULL;
	}
	mp_value_t *v = mp_heap_alloc(sizeof(*v), err);
	if (v)
		mp_value_init(v, typecode, init, flags);
	return v;
}

int mp_value_free(mp_value_t *v)
{
	int r = mp_value_destroy(v);
	return r < 0 ? r : mp_heap_free(v);
}

int mp_value_typecode(const mp_value_t *v)
{
	struct shared *s = shared_of(v, VALUE_MAGIC);
	return s ? s->typecode : -EINVAL;
}

void *mp_value_get_lock(mp_value_t *v)
{
	return lock_ptr(shared_of(v, VALUE_MAGIC));
}

void *mp_value_get_obj(mp_value_t *v)
{
	struct shared *s = shared_of(v, VALUE_MAGIC);
	return s ? data_of(s) : NULL;
}

int mp_value_acquire(mp_value_t *v, int64_t timeout_ns)
{
	return lock_acquire(shared_of(v, VALUE_MAGIC), timeout_ns);
}

int mp_value_release(mp_value_t *v)
{
	return lock_release(shared_of(v, VALUE_MAGIC));
}

int mp_value_consistent(mp_value_t *v)
{
	return lock_consistent(shared_of(v, VALUE_MAGIC));
}

/* ---- element operations, shared by Value and Array ---------------------------- */

/*
 * One operation on element p of s, run between enter() and leave().  The
 * numeric ones convert in `num`; get/set copy through `buf`.
 */
enum op { OP_GET, OP_SET, OP_UPDATE, OP_GET_I64, OP_SET_I64, OP_ADD_I64,
          OP_GET_DBL, OP_SET_DBL, OP_ADD_DBL };

struct elem_op {
	enum op op;
	void *buf;           /* OP_GET out, OP_SET in */
	mp_value_fn fn;      /* OP_UPDATE */
	void *arg;
	int64_t i;           /* OP_*_I64: in (set, delta) and out */
	double d;            /* OP_*_DBL */
	union elem pre;      /* OP_SET_*: the element, converted beforehand */
};

static int do_add_i64(struct shared *s, union elem *e, struct elem_op *o)
{
	int64_t x;
	int r = elem_to_i64(s, e, &x);
	if (r < 0)
		return r;
	if (__builtin_add_overflow(x, o->i, &x))
		return -ERANGE;
	if ((r = elem_from_i64(s, x, e)) < 0)
		return r;
	o->i = x;
	return 1; /* store */
}

static int do_add_dbl(struct shared *s, union elem *e, struct elem_op *o)
{
	double x;
	int r = elem_to_double(s, e, &x);
	if (r < 0)
		return r;
	x += o->d;
	if ((r = elem_from_double(s, x, e)) < 0)
		return r;
	o->d = x;
	return 1;
}

/* On the loaded element e: < 0 error, 0 done, 1 store e back. */
static int apply(struct shared *s, union elem *e, struct elem_op *o)
{
	switch (o->op) {
	case OP_GET:
		memcpy(o->buf, e->b, s->esize);
		return 0;
	case OP_UPDATE: {
		int r = o->fn(e, o->arg);
		return r < 0 ? r : 1;
	}
	case OP_GET_I64:
		return elem_to_i64(s, e, &o->i);
	case OP_ADD_I64:
		return do_add_i64(s, e, o);
	case OP_GET_DBL:
		return elem_to_double(s, e, &o->d);
	case OP_ADD_DBL:
		return do_add_dbl(s, e, o);
	default: /* the sets: converted before the lock was taken */
		*e = o->pre;
		return 1;
	}
}

/* Convert a set's argument before taking the lock, so a bad one costs no
 * lock and stores nothing. */
static int prepare(struct shared *s, struct elem_op *o)
{
	memset(&o->pre, 0, sizeof(o->pre));
	switch (o->op) {
	case OP_SET:
		memcpy(o->pre.b, o->buf, s->esize);
		return 0;
	case OP_SET_I64:
		return elem_from_i64(s, o->i, &o->pre);
	case OP_SET_DBL:
		return elem_from_double(s, o->d, &o->pre);
	case OP_GET_I64: case OP_ADD_I64:
		return s->cls == T_SINT || s->cls == T_UINT ? 0 : -EINVAL;
	case OP_GET_DBL: case OP_ADD_DBL:
		return s->cls == T_FLOAT ? 0 : -EINVAL;
	default:
		return 0;
	}
}

static int run_op(struct shared *s, size_t i, struct elem_op *o,
                   int64_t timeout_ns)
{
	if (!s || i >= s->count)
		return -EINVAL;
	int r = prepare(s, o);
	if (r < 0)
		return r;
	int entered = enter(s, timeout_ns);
	if (entered < 0)
		return entered;
	void *p = (char *)data_of(s) + i * s->esize;
	union elem e = { .u64 = 0 };
	elem_load(p, s->esize, &e);
	r = apply(s, &e, o);
	if (r == 1) {
		elem_store(p, s->esize, &e);
		r = 0;
	}
	return leave(s, entered, r);
}

/* ---- Value helpers ----------------------------------------------------------------- */

static struct shared *value_of(mp_value_t *v)
{
	return shared_of(v, VALUE_MAGIC);
}

int mp_value_get(mp_value_t *v, void *out, int64_t timeout_ns)
{
	struct elem_op o = { .op = OP_GET, .buf = out };
	return out ? run_op(value_of(v), 0, &o, timeout_ns) : -EINVAL;
}

int mp_value_set(mp_value_t *v, const void *in, int64_t timeout_ns)
{
	struct elem_op o = { .op = OP_SET, .buf = (void *)in };
	return in ? run_op(value_of(v), 0, &o, timeout_ns) : -EINVAL;
}

int mp_value_update(mp_value_t *v, mp_value_fn fn, void *arg,
                    int64_t timeout_ns)
{
	struct elem_op o = { .op = OP_UPDATE, .fn = fn, .arg = arg };
	return fn ? run_op(value_of(v), 0, &o, timeout_ns) : -EINVAL;
}

int mp_value_get_i64(mp_value_t *v, int64_t *out, int64_t timeout_ns)
{
	struct elem_op o = { .op = OP_GET_I64 };
	if (!out)
		return -EINVAL;
	int r = run_op(value_of(v), 0, &o, timeout_ns);
	if (r == 0 || r == -EOWNERDEAD)
		*out = o.i;
	return r;
}

int mp_value_set_i64(mp_value_t *v, int64_t x, int64_t timeout_ns)
{
	struct elem_op o = { .op = OP_SET_I64, .i = x };
	return run_op(value_of(v), 0, &o, timeout_ns);
}

int mp_value_add_i64(mp_value_t *v, int64_t delta, int64_t *result,
                     int64_t timeout_ns)
{
	struct elem_op o = { .op = OP_ADD_I64, .i = delta };
	int r = run_op(value_of(v), 0, &o, timeout_ns);
	if (result && (r == 0 || r == -EOWNERDEAD))
		*result = o.i;
	return r;
}

int mp_value_get_double(mp_value_t *v, double *out, int64_t timeout_ns)
{
	struct elem_op o = { .op = OP_GET_DBL };
	if (!out)
		return -EINVAL;
	int r = run_op(value_of(v), 0, &o, timeout_ns);
	if (r == 0 || r == -EOWNERDEAD)
		*out = o.d;
	return r;
}

int mp_value_set_double(mp_value_t *v, double x, int64_t timeout_ns)
{
	struct elem_op o = { .op = OP_SET_DBL, .d = x };
	return run_op(value_of(v), 0, &o, timeout_ns);
}

int mp_value_add_double(mp_value_t *v, double delta, double *result,
                        int64_t timeout_ns)
{
	struct elem_op o = { .op = OP_ADD_DBL, .d = delta };
	int r = run_op(value_of(v), 0, &o, timeout_ns);
	if (result && (r == 0 || r == -EOWNERDEAD))
		*result = o.d;
	return r;
}

/* ---- Array ------------------------------------------------------------------------- */

long mp_array_size(char typecode, size_t n, unsigned flags)
{
	const struct ctype *t = ctype_of(typecode);
	int kind = kind_of(flags);
	size_t bytes;

	if (!t || kind < 0)
		return -EINVAL;
	if (__builtin_mul_overflow(n, (size_t)t->size, &bytes) ||
	    __builtin_add_overflow(bytes, kind == K_RAW ? LOCK_OFF : ARRAY_OFF,
	                           &bytes) ||
	    bytes > (size_t)INT64_MAX / 2)
		return -EOVERFLOW;
	/* Whole 8-byte words, so the last element never shares a word with
	 * whatever the caller puts after the Array. */
	return (long)MP__ALIGN_UP(bytes, (size_t)8);
}

int mp_array_init(mp_array_t *a, char typecode, size_t n, const void *init,
                  unsigned flags)
{
	long size = mp_array_size(typecode, n, flags);
	const struct ctype *t = ctype_of(typecode);
	struct shared *s = (struct shared *)a;

	if (size < 0)
		return (int)size;
	if (!mp__aligned(a))
		return -EINVAL;
	int kind = kind_of(flags);
	uint32_t off = kind == K_RAW ? LOCK_OFF : ARRAY_OFF;
	header_init(s, t, kind, n, off);
	if (init)
		memcpy(data_of(s), init, n * t->size);
	else
		memset(data_of(s), 0, (size_t)size - off);
	s->magic = ARRAY_MAGIC;
	return 0;
}

int mp_array_destroy(mp_array_t *a)
{
	return shared_destroy(shared_of(a, ARRAY_MAGIC));
}

mp_array_t *mp_array_new(char typecode, size_t n, const void *init,
                         unsigned flags, int *err)
{
	long size = mp_array_size(typecode, n, flags);
	if (size < 0) {
		if (err)
			*err = (int)size;
		return NULL;
	}
	mp_array_t *a = mp_heap_alloc((size_t)size, err);
	if (a)
		mp_array_init(a, typecode, n, init, flags);
	return a;
}

int mp_array_free(mp_array_t *a)
{
	int r = mp_array_destroy(a);
	return r < 0 ? r : mp_heap_free(a);
}

static struct shared *array_of(const mp_array_t *a)
{
	return shared_of(a, ARRAY_MAGIC);
}

long mp_array_len(const mp_array_t *a)
{
	struct shared *s = array_of(a);
	return s ? (long)s->count : -EINVAL;
}

int mp_array_typecode(const mp_array_t *a)
{
	struct shared *s = array_of(a);
	return s ? s->typecode : -EINVAL;
}

void *mp_array_get_lock(mp_array_t *a)
{
	return lock_ptr(array_of(a));
}

void *mp_array_get_obj(mp_array_t *a)
{
	struct shared *s = array_of(a);
	return s ? data_of(s) : NULL;
}

int mp_array_acquire(mp_array_t *a, int64_t timeout_ns)
{
	return lock_acquire(array_of(a), timeout_ns);
}

int mp_array_release(mp_array_t *a)
{
	return lock_release(array_of(a));
}

int mp_array_consistent(mp_array_t *a)
{
	return lock_consistent(array_of(a));
}

int mp_array_get(mp_array_t *a, size_t i, void *out, int64_t timeout_ns)
{
	struct elem_op o = { .op = OP_GET, .buf = out };
	return out ? run_op(array_of(a), i, &o, timeout_ns) : -EINVAL;
}

int mp_array_set(mp_array_t *a, size_t i, const void *in, int64_t timeout_ns)
{
	struct elem_op o = { .op = OP_SET, .buf = (void *)in };
	return in ? run_op(array_of(a), i, &o, timeout_ns) : -EINVAL;
}

/* Copy elements [start, start + n) out (write false) or in, under the lock. */
static int array_copy(mp_array_t *a, size_t start, size_t n, void *buf,
                      bool write, int64_t timeout_ns)
{
	struct shared *s = array_of(a);

	if (!s || !buf || start > s->count || n > s->count - start)
		return -EINVAL;
	int entered = enter(s, timeout_ns);
	if (entered < 0)
		return entered;
	char *p = (char *)data_of(s) + start * s->esize;
	if (write)
		memcpy(p, buf, n * s->esize);
	else
		memcpy(buf, p, n * s->esize);
	return leave(s, entered, 0);
}

int mp_array_read(mp_array_t *a, size_t start, size_t n, void *out,
                  int64_t timeout_ns)
{
	return array_copy(a, start, n, out, false, timeout_ns);
}

int mp_array_write(mp_array_t *a, size_t start, size_t n, const void *in,
                   int64_t timeout_ns)
{
	return array_copy(a, start, n, (void *)in, true, timeout_ns);
}

int mp_array_update(mp_array_t *a, mp_array_fn fn, void *arg,
                    int64_t timeout_ns)
{
	struct shared *s = array_of(a);

	if (!s || !fn)
		return -EINVAL;
	int entered = enter(s, timeout_ns);
	if (entered < 0)
		return entered;
	int r = fn(data_of(s), (size_t)s->count, arg);
	return leave(s, entered, r < 0 ? r : 0);
}

int mp_array_get_i64(mp_array_t *a, size_t i, int64_t *out,
                     int64_t timeout_ns)
{
	struct elem_op o = { .op = OP_GET_I64 };
	if (!out)
		return -EINVAL;
	int r = run_op(array_of(a), i, &o, timeout_ns);
	if (r == 0 || r == -EOWNERDEAD)
		*out = o.i;
	return r;
}

int mp_array_set_i64(mp_array_t *a, size_t i, int64_t x, int64_t timeout_ns)
{
	struct elem_op o = { .op = OP_SET_I64, .i = x };
	return run_op(array_of(a), i, &o, timeout_ns);
}

int mp_array_add_i64(mp_array_t *a, size_t i, int64_t delta, int64_t *result,
                     int64_t timeout_ns)
{
	struct elem_op o = { .op = OP_ADD_I64, .i = delta };
	int r = run_op(array_of(a), i, &o, timeout_ns);
	if (result && (r == 0 || r == -EOWNERDEAD))
		*result = o.i;
	return r;
}

int mp_array_get_double(mp_array_t *a, size_t i, double *out,
                        int64_t timeout_ns)
{
	struct elem_op o = { .op = OP_GET_DBL };
	if (!out)
		return -EINVAL;
	int r = run_op(array_of(a), i, &o, timeout_ns);
	if (r == 0 || r == -EOWNERDEAD)
		*out = o.d;
	return r;
}

int mp_array_set_double(mp_array_t *a, size_t i, double x,
                        int64_t timeout_ns)
{
	struct elem_op o = { .op = OP_SET_DBL, .d = x };
	return run_op(array_of(a), i, &o, timeout_ns);
}

int mp_array_add_double(mp_array_t *a, size_t i, double delta,
                        double *result, int64_t timeout_ns)
{
	struct elem_op o = { .op = OP_ADD_DBL, .d = delta };
	int r = run_op(array_of(a), i, &o, timeout_ns);
	if (result && (r == 0 || r == -EOWNERDEAD))
		*result = o.d;
	return r;
}
