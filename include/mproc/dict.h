/*
 * mproc/dict.h - a hash map in shared memory: Python's Manager().dict()
 * without a server process, for processes that share memory.
 *
 * Lifecycle: a dict is one position-independent object (offsets only, no
 * pointers inside), in one of two homes:
 *  - memory of the caller's own (mp_dict_init / mp_dict_destroy): a fixed
 *    arena of `size` bytes holding the header, the table and every entry,
 *    e.g. in a named segment that unrelated processes map at different
 *    addresses.  It never grows past the arena: a set that finds no room
 *    returns -ENOSPC.
 *  - the shared heap (mp_dict_new / mp_dict_free): entries and the table
 *    are heap blocks, and the dict grows as long as the heap has room.
 *    Usable by every process of the family that shares the heap, at the
 *    same address in all of them (heap.h).
 *
 * Keys and values are byte strings (keys up to MP_DICT_MAX_KEY bytes,
 * values up to MP_DICT_MAX_VALUE); every call copies them in or out, so
 * nothing the caller holds ever points into the map.  With MP_DICT_PYKEYS
 * keys are pickles (pickle.h) and two keys are one when their decoded
 * values are equal as Python's dict keys are: 1, 1.0 and True are one key,
 * a str and its bytes are two; a key whose value is unhashable (a list,
 * dict, set or bytearray, also inside a tuple) is -EINVAL, and a key
 * holding a NaN never matches a stored one (every unpickled NaN is a new
 * object to Python).  Cost: each call decodes its key once, outside the
 * lock, and a lookup that meets a stored key with the same hash but other
 * bytes decodes that stored key too (under the lock); keys that are equal
 * byte for byte are matched without decoding.  Exceptions and inert
 * values (pickle.h) compare by contents, where Python compares identity.
 *
 * Python's names: d[k] = v is mp_dict_set; d[k] is mp_dict_get
 * (-ENOENT for KeyError); d.get(k, default) is mp_dict_get and a test for
 * -ENOENT; d.pop(k) is mp_dict_pop; del d[k] mp_dict_delete; k in d
 * mp_dict_contains; len(d) mp_dict_len; d.clear() mp_dict_clear;
 * d.items() / keys() / values() mp_dict_snapshot.  The manager's trap,
 * d['k'].append(x) changing a copy, has its cure in mp_dict_update: a
 * read-modify-write of one value under the dict's lock.
 *
 * Every call takes the dict's lock (a robust mp_lock_t inside the header)
 * for the time it copies bytes and changes a few words - longer, in
 * proportion to the number of keys, for a growth of the table (when it
 * would be more than half full), a snapshot, and a heap dict's clear
 * (which frees every entry).  Thread- and process-safe.  timeout_ns is
 * the wait for that lock (common.h): -EAGAIN for a try (0), -ETIMEDOUT.
 * A try also returns -EAGAIN while the last holder died in a way the
 * kernel did not report (sync.h, Death): a call that may wait finds it
 * dead within a slice of 2 ms and repairs.
 *
 * Iteration: mp_dict_snapshot copies every item out in one hold of the
 * lock, so it sees the dict exactly as it was at one instant - each key
 * once, with the value it had then - whatever others do meanwhile, and
 * nothing done after it.  Items come in insertion order, as Python's:
 * a set that replaces a value keeps the key's place, a key deleted and set
 * again goes to the end.  (A DictProxy's items() is the same: a list
 * copied from the server.)
 *
 * Death: each change is written into fresh memory and made visible by one
 * store (the table slot, or the table itself on growth), after an intent
 * record in the header names the blocks it takes and gives up.  A process
 * killed at any instruction inside a call - the lock's owner-died path -
 * leaves the map as it was before the call or after it, never between:
 * the next caller to take the lock reads the record, frees the block of
 * the half-done change or the one a finished change gave up, recounts the
 * length, and goes on (the caller never sees -EOWNERDEAD).  So a set whose
 * call returned is seen by everyone afterwards, exactly once.  In an arena
 * nothing leaks; in the shared heap a death leaks at most one block, the
 * one being allocated or freed at that instant (heap.h's own bound).  A
 * process killed inside an update's fn leaves the old value in place.  A
 * holder that is stopped (SIGSTOP), traced or starved keeps the lock for
 * as long as that lasts: the others wait for it or for their timeout,
 * nobody declares it dead (common.h, "Liveness").
 */
#ifndef MPROC_DICT_H
#define MPROC_DICT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <mproc/common.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct mp_dict mp_dict_t;

/* Flags for mp_dict_init / mp_dict_new. */
#define MP_DICT_PYKEYS 0x1u /* keys are pickles, compared as Python does */

#define MP_DICT_MAX_KEY ((size_t)1 << 20)    /* 1 MiB */
#define MP_DICT_MAX_VALUE ((size_t)1 << 30)  /* 1 GiB */
/* The smallest arena mp_dict_init accepts (header and a first table). */
#define MP_DICT_MIN_SIZE ((size_t)4096)

/*
 * mp_dict_init - an empty dict in the arena [mem, mem + size), which must
 * be 64-byte aligned and stay mapped (in every process using it) until
 * mp_dict_destroy.  Memory in the arena is handed out in power-of-two
 * blocks: an entry takes 48 bytes plus its key and value, rounded up to
 * a power of two; the table 16 bytes per slot, at most half of them full.
 * Returns the dict (which is mem), or NULL with *err (may be NULL):
 * -EINVAL mem NULL or misaligned, size below MP_DICT_MIN_SIZE or at or
 * above 2^40, unknown flags; getrandom(2)'s error (the hash key).
 */
MP_API mp_dict_t *mp_dict_init(void *mem, size_t size, unsigned flags,
                               int *err);
/*
 * mp_dict_destroy - end a dict of mp_dict_init (the arena is the
 * caller's again).  Errors: -EBUSY somebody holds its lock (or a holder
 * died unreported, see above: any call with a timeout first); -EINVAL
 * not an arena dict.
 */
MP_API int mp_dict_destroy(mp_dict_t *d);

/*
 * mp_dict_new - an empty dict in the shared heap.  NULL with *err:
 * -EINVAL unknown flags; -ENOMEM; getrandom(2)'s error.
 */
MP_API mp_dict_t *mp_dict_new(unsigned flags, int *err);
/*
 * mp_dict_free - give a dict of mp_dict_new and all its entries back to
 * the heap.  Nobody may use it any more.  NULL is accepted.  Errors:
 * -EBUSY somebody holds its lock (as for mp_dict_destroy); -EINVAL not
 * a heap dict.
 */
MP_API int mp_dict_free(mp_dict_t *d);

/*
 * mp_dict_set - d[key] = value: insert, or replace the value of an equal
 * key (which keeps its place in the order).  Returns 0.
 * Errors: -EINVAL d not a dict, key or value NULL with a length, key or
 * value too long, an MP_DICT_PYKEYS key that does not decode (its
 * decoder's code: -MP_EPICKLE, -MP_EREFUSED, -MP_ELIMIT) or is
 * unhashable (-EINVAL); -ENOSPC the arena is full; -ENOMEM; -EAGAIN /
 * -ETIMEDOUT waiting for the lock; -EINTR (common.h, Signals).
 */
MP_API int mp_dict_set(mp_dict_t *d, const void *key, size_t klen,
                       const void *value, size_t vlen, int64_t timeout_ns);

/*
 * mp_dict_get - copy d[key] into buf (cap bytes).  Returns the value's
 * length; the value is copied whole when it fits, and nothing is copied
 * when it does not: -MP_ETOOSHORT (use mp_dict_get_alloc).
 * Errors: -ENOENT no such key; -MP_ETOOSHORT; buf NULL with cap > 0 is
 * -EINVAL; and mp_dict_set's errors for the key and the lock.
 */
MP_API int64_t mp_dict_get(mp_dict_t *d, const void *key, size_t klen,
                           void *buf, size_t cap, int64_t timeout_ns);
/* mp_dict_get_alloc - d[key] in a malloc'd buffer (*out, free it; a
 * zero-length value gives a valid 1-byte buffer) of *len bytes.  Returns
 * 0; mp_dict_get's errors, and -ENOMEM. */
MP_API int mp_dict_get_alloc(mp_dict_t *d, const void *key, size_t klen,
                             void **out, size_t *len, int64_t timeout_ns);

/*
 * mp_dict_pop - remove d[key] and copy its value into buf (cap bytes), as
 * mp_dict_get copies; returns its length.  When it does not fit, the key
 * stays and -MP_ETOOSHORT is returned.  buf may be NULL with cap 0 for a
 * zero-length value.  Errors: those of mp_dict_get.
 */
MP_API int64_t mp_dict_pop(mp_dict_t *d, const void *key, size_t klen,
                           void *buf, size_t cap, int64_t timeout_ns);
/* mp_dict_pop_alloc - remove d[key], its value in a malloc'd buffer as
 * mp_dict_get_alloc's.  0, or mp_dict_get_alloc's errors (on -ENOMEM the
 * key stays). */
MP_API int mp_dict_pop_alloc(mp_dict_t *d, const void *key, size_t klen,
                             void **out, size_t *len, int64_t timeout_ns);
/* mp_dict_delete - del d[key].  0, -ENOENT, or mp_dict_get's errors. */
MP_API int mp_dict_delete(mp_dict_t *d, const void *key, size_t klen,
                          int64_t timeout_ns);
/* mp_dict_contains - key in d: 1 or 0, or mp_dict_get's errors. */
MP_API int mp_dict_contains(mp_dict_t *d, const void *key, size_t klen,
                            int64_t timeout_ns);
/*
 * mp_dict_len - the number of keys, read without the lock: the length
 * after the last change that completed (a change in progress is not
 * counted until it is done).  -EINVAL.
 */
MP_API int64_t mp_dict_len(const mp_dict_t *d);
/*
 * mp_dict_clear - remove every key; their memory goes back to the arena
 * or the heap at once (the table shrinks back to its first size).
 * 0, or the lock's errors.
 */
MP_API int mp_dict_clear(mp_dict_t *d, int64_t timeout_ns);

/*
 * mp_dict_update - read-modify-write of d[key] under the lock: fn is
 * called with the current value (old, old_len; found 0 and old NULL when
 * the key is absent) and decides:
 *   return MP_DICT_STORE with *out / *out_len set: that becomes the value
 *     (the bytes are copied before mp_dict_update returns; *out must stay
 *     valid until then - e.g. a buffer of arg's);
 *   return MP_DICT_KEEP: nothing changes;
 *   return MP_DICT_DELETE: the key is removed (if it was there);
 *   return a negative code: nothing changes, mp_dict_update returns it.
 * old points into the shared map and is valid only during the call.  fn
 * runs with the dict's lock held: it must not block, must not call into
 * this dict (it would wait for itself), and should be short - everybody
 * else waits.  A process killed inside fn leaves the old value (or its
 * absence) in place, and the lock recovered for the next caller.
 * Returns what fn returned (>= 0), or fn's negative code, or mp_dict_set's
 * errors (an over-long *out_len: -EINVAL, nothing stored).
 */
enum { MP_DICT_STORE = 0, MP_DICT_KEEP = 1, MP_DICT_DELETE = 2 };
typedef int (*mp_dict_update_fn)(const void *old, size_t old_len, int found,
                                 const void **out, size_t *out_len,
                                 void *arg);
MP_API int mp_dict_update(mp_dict_t *d, const void *key, size_t klen,
                          mp_dict_update_fn fn, void *arg,
                          int64_t timeout_ns);

/* ---- iteration --------------------------------------------------------- */

typedef struct mp_dict_snap mp_dict_snap_t;

/*
 * mp_dict_snapshot - every item of d, copied out in one hold of the lock
 * (see Iteration above), in a malloc'd snapshot (*out; end it with
 * mp_dict_snap_free).  Memory: the keys' and values' bytes plus 32 bytes
 * an item.  0; -ENOMEM; the lock's errors.
 */
MP_API int mp_dict_snapshot(mp_dict_t *d, mp_dict_snap_t **out,
                            int64_t timeout_ns);
/* The number of items in the snapshot. */
MP_API size_t mp_dict_snap_len(const mp_dict_snap_t *s);
/*
 * mp_dict_snap_item - item i (0 <= i < len, in insertion order): its
 * key and value point into the snapshot (valid until it is freed).
 * 0, or -EINVAL i out of range or s NULL (key and value may be NULL when
 * not wanted).
 */
MP_API int mp_dict_snap_item(const mp_dict_snap_t *s, size_t i,
                             const void **key, size_t *klen,
                             const void **value, size_t *vlen);
MP_API void mp_dict_snap_free(mp_dict_snap_t *s);

/* ---- figures ----------------------------------------------------------- */

typedef struct mp_dict_stats {
	size_t len;         /* keys */
	size_t slots;       /* the table's slots */
	size_t tombstones;  /* slots of deleted keys, not yet reused */
	size_t bytes_used;  /* bytes of the blocks in use: entries and table
	                     * (arena: whole units; heap: bytes asked for) */
	size_t bytes_free;  /* arena: units waiting on its free lists */
	size_t arena_size;  /* arena: its size; heap: 0 */
	size_t arena_top;   /* arena: bytes of units ever carved (a high-
	                     * water mark): bytes_used + bytes_free, as no
	                     * unit is ever lost */
	uint64_t deaths;    /* holders that died holding the lock */
	uint64_t repairs;   /* ... of which in the middle of a change,
	                     * finished or undone by the next holder */
} mp_dict_stats_t;

/* mp_dict_stats - figures, taken under the lock.  0, the lock's errors. */
MP_API int mp_dict_stats(mp_dict_t *d, mp_dict_stats_t *st,
                         int64_t timeout_ns);

#ifdef __cplusplus
}
#endif

#endif
