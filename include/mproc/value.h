/*
 * mproc/value.h - Value, Array, RawValue and RawArray: C data in shared
 * memory with an optional lock, as Python's multiprocessing.sharedctypes.
 *
 * Types: the element type is one of Python's typecodes, each the C type
 * that ctypes gives it on Linux:
 *
 *   'c' char (bytes)    'b' signed char   'B' unsigned char
 *   'h' short           'H' unsigned short
 *   'i' int             'I' unsigned int
 *   'l' long            'L' unsigned long
 *   'q' long long       'Q' unsigned long long
 *   'f' float           'd' double
 *
 * Any other typecode is -EINVAL.
 *
 * Objects and lifetimes: a Value holds one element, an Array a fixed number
 * of them.  Both are plain structs without pointers (offsets only), so they
 * work wherever they are placed in shared memory - the shared heap, a
 * MAP_SHARED mapping inherited across fork, or a named segment mapped at
 * different addresses.  A Value is an mp_value_t of fixed size; an Array's
 * size depends on its length: ask mp_array_size(), then mp_array_init() the
 * memory (8-byte aligned).  Or allocate either from the shared heap with
 * mp_value_new() / mp_array_new() and release with _free().  A NULL,
 * misaligned or uninitialised object is -EINVAL.
 *
 * The lock (Python's lock= argument): by default each object has its own
 * RLock, as in Python.  MP_VALUE_LOCK gives it a plain Lock instead,
 * MP_VALUE_RAW none at all (RawValue / RawArray, lock=False).  The lock is
 * an ordinary robust mp_rlock_t or mp_lock_t inside the object:
 * mp_value_get_lock() (Python's get_lock()) returns it, and
 * mp_value_acquire() / mp_value_release() take it (Python's `with v:`) to
 * make several operations one; mp_value_get_obj() (get_obj()) points at the
 * data itself, to be used while holding the lock.
 *
 * Helpers read, write and update the data under the lock, each taking a
 * timeout for the lock (MP_FOREVER, 0 = try once, or relative ns).  On a
 * raw object they take no lock and are not atomic against each other (as
 * Python's RawValue), except that a Value's element is always loaded and
 * stored whole.  With an RLock the helpers may be called while holding it;
 * with a plain Lock that is -EDEADLK (the helper would wait for itself).
 *
 * Death: the lock is robust (see mproc/sync.h).  If a process dies holding
 * it, the next one to take it gets -EOWNERDEAD:
 *  - from mp_value_acquire() / mp_array_acquire(): the lock is held, as
 *    with mp_lock_acquire(): repair, mark it consistent, release;
 *  - from a helper: the helper did its work, marked the lock consistent and
 *    released it; -EOWNERDEAD then reports success together with the news
 *    that a holder died.  A Value's element is still whole (stores of one
 *    element are single-copy atomic), but an Array written or updated by
 *    the dead holder may be half-updated, as may anything else the caller
 *    guards with the same lock.  Do not simply retry on -EOWNERDEAD.
 */
#ifndef MPROC_VALUE_H
#define MPROC_VALUE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <mproc/common.h>

#ifdef __cplusplus
extern "C" {
#endif

/* A Value of any typecode; the layout is private (versioned by a magic
 * word).  An Array is variable-sized: never declare one, size it with
 * mp_array_size(). */
typedef struct mp_value { MP_ALIGNAS(8) unsigned char opaque_[128]; } mp_value_t;
typedef struct mp_array mp_array_t;

/* Flags for _init / _new (default 0: the object's own RLock). */
#define MP_VALUE_RAW  0x1u /* no lock: RawValue / RawArray */
#define MP_VALUE_LOCK 0x2u /* a plain Lock instead of an RLock */

/* mp_typecode_size - bytes in one element of typecode, or -EINVAL. */
MP_API int mp_typecode_size(char typecode);

/* ---- Value ---------------------------------------------------------------- */

/*
 * mp_value_init - a Value of typecode at v, holding *init (an element of
 * that type, copied; NULL for zero).  flags: 0, MP_VALUE_RAW or
 * MP_VALUE_LOCK.  Errors: -EINVAL v NULL or misaligned, unknown typecode
 * or flags (RAW and LOCK together included).
 */
MP_API int mp_value_init(mp_value_t *v, char typecode, const void *init,
                         unsigned flags);
/* mp_value_destroy - -EBUSY while its lock is held; -EINVAL. */
MP_API int mp_value_destroy(mp_value_t *v);
/* mp_value_new / mp_value_free - the same, in the shared heap; _new returns
 * NULL with *err (may be NULL): -EINVAL, -ENOMEM. */
MP_API mp_value_t *mp_value_new(char typecode, const void *init,
                                unsigned flags, int *err);
MP_API int mp_value_free(mp_value_t *v);

/* The typecode (> 0), or -EINVAL. */
MP_API int mp_value_typecode(const mp_value_t *v);
/* get_lock(): the lock, an mp_rlock_t * (default) or mp_lock_t *
 * (MP_VALUE_LOCK); NULL for a raw or invalid Value. */
MP_API void *mp_value_get_lock(mp_value_t *v);
/* get_obj(): the element itself (8-byte aligned); NULL when invalid. */
MP_API void *mp_value_get_obj(mp_value_t *v);

/*
 * mp_value_acquire / mp_value_release / mp_value_consistent - the lock, as
 * mp_rlock_* or mp_lock_* (acquire returns 0 on success, also for an RLock
 * taken recursively).  Errors: those of the lock; -EOPNOTSUPP a raw Value;
 * -EINVAL.
 */
MP_API int mp_value_acquire(mp_value_t *v, int64_t timeout_ns);
MP_API int mp_value_release(mp_value_t *v);
MP_API int mp_value_consistent(mp_value_t *v);

/*
 * mp_value_get / mp_value_set - copy the element to *out / from *in (size
 * mp_typecode_size(); any alignment), under the lock.
 * Returns 0, or -EOWNERDEAD (done; see Death above).
 * Errors: -EINVAL v, out or in NULL, v invalid; -EAGAIN / -ETIMEDOUT the
 * lock was not free in time; -EDEADLK the caller holds the plain Lock;
 * -ENOTRECOVERABLE.
 */
MP_API int mp_value_get(mp_value_t *v, void *out, int64_t timeout_ns);
MP_API int mp_value_set(mp_value_t *v, const void *in, int64_t timeout_ns);

/*
 * An update: change *elem (a copy of the element, 8-byte aligned) in place.
 * Return 0 to store the result, or a negative code to leave the Value
 * unchanged and have mp_value_update() return that code.
 */
typedef int (*mp_value_fn)(void *elem, void *arg);
/*
 * mp_value_update - under the lock, copy the element, run fn(copy, arg),
 * store the copy back (one store).  Returns as mp_value_get, or fn's
 * negative code.  fn must not take the lock of a plain-Lock Value.
 */
MP_API int mp_value_update(mp_value_t *v, mp_value_fn fn, void *arg,
                           int64_t timeout_ns);

/*
 * Typed conveniences.  _i64: any integer typecode (not 'c', 'f', 'd');
 * _double: 'f' and 'd'.  -EINVAL for another typecode.  -ERANGE when the
 * number does not fit: a set or add whose result is out of the type's
 * range (nothing is stored), a get of an unsigned long long above
 * INT64_MAX, a finite double too large for a float.  add stores
 * old + delta and, when result is not NULL, puts the new value there.
 * Otherwise as mp_value_get.
 */
MP_API int mp_value_get_i64(mp_value_t *v, int64_t *out, int64_t timeout_ns);
MP_API int mp_value_set_i64(mp_value_t *v, int64_t x, int64_t timeout_ns);
MP_API int mp_value_add_i64(mp_value_t *v, int64_t delta, int64_t *result,
                            int64_t timeout_ns);
MP_API int mp_value_get_double(mp_value_t *v, double *out,
                               int64_t timeout_ns);
MP_API int mp_value_set_double(mp_value_t *v, double x, int64_t timeout_ns);
MP_API int mp_value_add_double(mp_value_t *v, double delta, double *result,
                               int64_t timeout_ns);

/* ---- Array ---------------------------------------------------------------- */

/*
 * mp_array_size - bytes needed for an Array of n elements of typecode with
 * these flags (n may be 0).  Errors: -EINVAL typecode or flags;
 * -EOVERFLOW too large.
 */
MP_API long mp_array_size(char typecode, size_t n, unsigned flags);
/*
 * mp_array_init - an Array of n elements at a (mp_array_size() bytes,
 * 8-byte aligned), copied from init (n elements; NULL for zeros).
 * Errors: as mp_value_init; -EOVERFLOW as mp_array_size.
 */
MP_API int mp_array_init(mp_array_t *a, char typecode, size_t n,
                         const void *init, unsigned flags);
MP_API int mp_array_destroy(mp_array_t *a);
MP_API mp_array_t *mp_array_new(char typecode, size_t n, const void *init,
                                unsigned flags, int *err);
MP_API int mp_array_free(mp_array_t *a);

/* The number of elements (>= 0), or -EINVAL. */
MP_API long mp_array_len(const mp_array_t *a);
/* The typecode (> 0), or -EINVAL. */
MP_API int mp_array_typecode(const mp_array_t *a);
/* get_lock(): the lock, an mp_rlock_t * (default) or mp_lock_t *
 * (MP_VALUE_LOCK); NULL for a raw or invalid Array. */
MP_API void *mp_array_get_lock(mp_array_t *a);
/* get_obj(): the first element (8-byte aligned); NULL when invalid. */
MP_API void *mp_array_get_obj(mp_array_t *a);
/* mp_array_acquire / mp_array_release / mp_array_consistent - the lock,
 * as for Value (mp_value_acquire). */
MP_API int mp_array_acquire(mp_array_t *a, int64_t timeout_ns);
MP_API int mp_array_release(mp_array_t *a);
MP_API int mp_array_consistent(mp_array_t *a);

/*
 * mp_array_get / mp_array_set - element i to *out / from *in.
 * mp_array_read / mp_array_write - elements [start, start + n) to out /
 * from in (n * element size bytes), in one hold of the lock.
 * Returns 0, or -EOWNERDEAD (done; see Death above).
 * Errors: -EINVAL an index or range outside the Array, a NULL pointer, a
 * invalid Array; the lock's errors as for mp_value_get.
 */
MP_API int mp_array_get(mp_array_t *a, size_t i, void *out,
                        int64_t timeout_ns);
MP_API int mp_array_set(mp_array_t *a, size_t i, const void *in,
                        int64_t timeout_ns);
MP_API int mp_array_read(mp_array_t *a, size_t start, size_t n, void *out,
                         int64_t timeout_ns);
MP_API int mp_array_write(mp_array_t *a, size_t start, size_t n,
                          const void *in, int64_t timeout_ns);

/* An update of a whole Array, in place: return 0, or a negative code that
 * mp_array_update() returns (what fn changed stays changed). */
typedef int (*mp_array_fn)(void *elems, size_t n, void *arg);
/* mp_array_update - fn(elements, length, arg) under the lock. */
MP_API int mp_array_update(mp_array_t *a, mp_array_fn fn, void *arg,
                           int64_t timeout_ns);

/* Typed conveniences on element i, as those of Value. */
MP_API int mp_array_get_i64(mp_array_t *a, size_t i, int64_t *out,
                            int64_t timeout_ns);
MP_API int mp_array_set_i64(mp_array_t *a, size_t i, int64_t x,
                            int64_t timeout_ns);
MP_API int mp_array_add_i64(mp_array_t *a, size_t i, int64_t delta,
                            int64_t *result, int64_t timeout_ns);
MP_API int mp_array_get_double(mp_array_t *a, size_t i, double *out,
                               int64_t timeout_ns);
MP_API int mp_array_set_double(mp_array_t *a, size_t i, double x,
                               int64_t timeout_ns);
MP_API int mp_array_add_double(mp_array_t *a, size_t i, double delta,
                               double *result, int64_t timeout_ns);

#ifdef __cplusplus
}
#endif

#endif
