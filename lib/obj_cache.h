/*
 * obj_cache.h - the blocks of nodes and of their arrays, from a cache each
 * thread keeps of the blocks it freed (lib/obj_cache.c says why and how);
 * none under AddressSanitizer.  The cache's hits are inline: they are
 * most of a message's allocations.  Not installed.
 *
 * A block is freed with the size it was asked for with (realloc: old is
 * its size now).
 */
#ifndef MPROC_LIB_OBJ_CACHE_H
#define MPROC_LIB_OBJ_CACHE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#if defined(__SANITIZE_ADDRESS__)
#define MP__OBJ_CACHE 0
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define MP__OBJ_CACHE 0
#endif
#endif
#ifndef MP__OBJ_CACHE
#define MP__OBJ_CACHE 1
#endif

void *mp__obj_mem_realloc(void *p, size_t old, size_t size);
/* Tests: the bytes this thread's cache holds; the bytes freed so far by
 * threads' exits. */
size_t mp__obj_cache_bytes(void);
uint64_t mp__obj_cache_freed_at_exit(void);

#if MP__OBJ_CACHE

#define MP__CACHE_SHIFT 4
#define MP__CACHE_CLASSES 16 /* 16, 32, ... 256 bytes */
/* A few hundred nodes of a message, with room to spare; a thread that
 * frees a million holds no more than this. */
#define MP__CACHE_MAX (128 * 1024)

enum { MP__CACHE_NEW, MP__CACHE_ON, MP__CACHE_OFF };

struct mp__obj_cache {
	void *head[MP__CACHE_CLASSES + 1]; /* the free blocks of each class,
	                                      linked through their first word */
	size_t bytes;
	int state; /* MP__CACHE_*: ON once the thread's exit will drain it */
};

extern __thread struct mp__obj_cache mp__obj_tls;

/* The misses: malloc, or the thread's first block to keep. */
void *mp__obj_mem_alloc_slow(size_t size);
void mp__obj_mem_free_slow(void *p, size_t size);

static inline size_t mp__cache_class(size_t size)
{
	return size ? (size + (1u << MP__CACHE_SHIFT) - 1) >> MP__CACHE_SHIFT
	            : 1;
}

static inline void *mp__obj_mem_alloc(size_t size)
{
	size_t c = mp__cache_class(size);
	struct mp__obj_cache *t = &mp__obj_tls;
	void *p = c <= MP__CACHE_CLASSES ? t->head[c] : NULL;
	if (__builtin_expect(!p, 0))
		return mp__obj_mem_alloc_slow(size);
	void *n;
	memcpy(&n, p, sizeof(n));
	/* The next block of the class, read at the next call: a free list
	 * is a chain of dependent loads. */
	__builtin_prefetch(n);
	t->head[c] = n;
	t->bytes -= c << MP__CACHE_SHIFT;
	return p;
}

static inline void mp__obj_mem_free(void *p, size_t size)
{
	size_t c = mp__cache_class(size);
	struct mp__obj_cache *t = &mp__obj_tls;
	if (__builtin_expect(!p || c > MP__CACHE_CLASSES ||
	                     t->state != MP__CACHE_ON ||
	                     t->bytes + (c << MP__CACHE_SHIFT) > MP__CACHE_MAX,
	                     0)) {
		mp__obj_mem_free_slow(p, size);
		return;
	}
	memcpy(p, &t->head[c], sizeof(void *));
	t->head[c] = p;
	t->bytes += c << MP__CACHE_SHIFT;
}

#else

void *mp__obj_mem_alloc(size_t size);
void mp__obj_mem_free(void *p, size_t size);

#endif

#endif
