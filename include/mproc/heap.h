/*
 * mproc/heap.h - the shared heap behind every mp_*_new().
 *
 * Lifecycle: one large MAP_SHARED anonymous reservation per process family,
 * made by the first call that needs it (mp_heap_init(), mp_heap_alloc(), any
 * mp_*_new(), mp_process_start()), and in any case before a process that has
 * used mproc forks.  Children inherit it at the same address, so a block
 * allocated later by any member of the family - parent or child, before or
 * after the fork - is visible at that address in all of them, and can be
 * freed by any of them.  Pages are committed on first touch only; freed
 * large blocks give their pages back to the system.
 *
 * Death: allocation and free are lock-free (each step is one compare-and-
 * swap on a shared word), so a process killed at any instruction cannot
 * leave the heap locked or inconsistent.  The worst a death can do is leak
 * the one block it was allocating or freeing.
 *
 * Sizes: blocks up to 32 KiB come from size classes (powers of two from 16
 * bytes); larger ones are runs of 64 KiB spans.  Alignment is 16 bytes, and
 * 64 bytes (a cache line) for any request of 64 bytes or more.  Memory is
 * returned zeroed.
 */
#ifndef MPROC_HEAP_H
#define MPROC_HEAP_H

#include <stddef.h>
#include <stdint.h>

#include <mproc/common.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Default reservation: 1 GiB of address space (overridden by the
 * environment variable MPROC_HEAP_SIZE, in bytes with an optional K/M/G
 * suffix, or by mp_heap_init()). */
#define MP_HEAP_DEFAULT_SIZE ((size_t)1 << 30)
/* Smallest reservation accepted. */
#define MP_HEAP_MIN_SIZE ((size_t)1 << 20)

/*
 * mp_heap_init - make the shared heap now, with `size` bytes of address space
 * (0: MPROC_HEAP_SIZE or the default).
 * Returns 0, also when the heap already exists with that size or size was 0.
 * Errors: -EINVAL size below MP_HEAP_MIN_SIZE; -EEXIST the heap already
 * exists with another size; -ENOMEM the reservation failed.
 */
MP_API int mp_heap_init(size_t size);

/*
 * mp_heap_alloc - a zeroed block of at least `size` bytes in the shared heap.
 * Thread- and process-safe.  Returns NULL and sets *err (which may be NULL):
 * -EINVAL size 0; -ENOMEM the heap is exhausted or cannot be made.
 */
MP_API void *mp_heap_alloc(size_t size, int *err);

/*
 * mp_heap_free - give a block back.  Any process of the family may free a
 * block any other allocated.  NULL is accepted and ignored.
 * Errors: -EINVAL ptr is not a live block of the heap (a foreign pointer, an
 * interior pointer, or a block already freed).
 */
MP_API int mp_heap_free(void *ptr);

/* mp_heap_contains - 1 when ptr points into the shared heap, else 0. */
MP_API int mp_heap_contains(const void *ptr);

typedef struct mp_heap_stats {
	size_t size;        /* bytes reserved */
	size_t span_size;   /* bytes per span */
	size_t spans;       /* spans in the reservation */
	size_t spans_used;  /* spans ever handed out (high-water mark) */
	size_t bytes_live;  /* bytes in live blocks (rounded to their class) */
} mp_heap_stats_t;

/* mp_heap_stats - figures of the heap.  -ENOENT when it was never made. */
MP_API int mp_heap_stats(mp_heap_stats_t *st);

#ifdef __cplusplus
}
#endif

#endif
