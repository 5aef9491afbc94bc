/*
 * obj_cache.c - the memory of values: nodes and their arrays (a list's
 * items, a dict's entries and index) come from a small cache each thread
 * keeps of the blocks it freed, by size class.
 *
 * Why.  Decoding a message makes a few hundred small nodes and freeing
 * the value gives them all back at once: through malloc alone that was
 * some 40% of a decode and free (glibc keeps 7 blocks a size in its own
 * thread cache; the rest go to fastbins, which the next request of 1 KiB
 * or more sweeps and merges).  Kept here, the next message reuses them
 * with no lock and no search.
 *
 * Rules.  A block is a plain malloc block at least as large as its class,
 * so whatever takes it (this cache, free, realloc) may; the caller says
 * the size at free, as it said it at alloc, and the size picks the class.
 * A thread caches only what it frees itself and hands out only from its
 * own cache: a value freed by another thread than the one that made it
 * simply feeds the freeing thread's cache, with no sharing and no atomic
 * instruction.  A thread holds at most MP__CACHE_MAX bytes; its blocks
 * are freed when it exits (a key's destructor), and after that it uses
 * malloc directly.  A fork child keeps the forking thread's cache, in
 * its own copy of the heap, and goes on using it.
 *
 * Under AddressSanitizer there is no cache: a block kept here would be
 * neither poisoned (a use after free would go unseen) nor reported as a
 * leak.  The sizes given at free are checked against ASan's record
 * instead, so a size computed wrongly (which, with the cache, would put a
 * block into a class larger than itself) fails the sanitizer build.
 */
#include "internal.h"
#include "obj.h"

#include <pthread.h>
#include <stdlib.h>

#if MP__OBJ_CACHE

__thread struct mp__obj_cache mp__obj_tls;
static pthread_key_t cache_key;
static bool cache_key_ok;
static pthread_once_t cache_once = PTHREAD_ONCE_INIT;
static uint64_t freed_at_exit; /* atomic; bytes, for tests */

static inline void *next_of(void *p)
{
	void *n;
	memcpy(&n, p, sizeof(n));
	return n;
}

/* A thread's exit: its blocks go back to malloc, and so will any it
 * frees later (another key's destructor may still free values). */
static void cache_drain(void *arg)
{
	struct mp__obj_cache *t = arg;
	t->state = MP__CACHE_OFF;
	for (size_t c = 1; c <= MP__CACHE_CLASSES; c++) {
		for (void *p = t->head[c], *n; p; p = n) {
			n = next_of(p);
			free(p);
		}
		t->head[c] = NULL;
	}
	__atomic_fetch_add(&freed_at_exit, t->bytes, __ATOMIC_RELAXED);
	t->bytes = 0;
}

static void cache_key_make(void)
{
	cache_key_ok = pthread_key_create(&cache_key, cache_drain) == 0;
}

/* The thread's first block to keep: arrange for its exit.  Without the
 * key (no memory for it) the thread caches nothing. */
static bool cache_register(struct mp__obj_cache *t)
{
	if (t->state != MP__CACHE_NEW)
		return false;
	pthread_once(&cache_once, cache_key_make);
	t->state = cache_key_ok && pthread_setspecific(cache_key, t) == 0 ?
		MP__CACHE_ON : MP__CACHE_OFF;
	return t->state == MP__CACHE_ON;
}

void *mp__obj_mem_alloc_slow(size_t size)
{
	size_t c = mp__cache_class(size);
	return malloc(c <= MP__CACHE_CLASSES ? c << MP__CACHE_SHIFT : size);
}

void mp__obj_mem_free_slow(void *p, size_t size)
{
	struct mp__obj_cache *t = &mp__obj_tls;
	if (p && mp__cache_class(size) <= MP__CACHE_CLASSES &&
	    t->bytes + (mp__cache_class(size) << MP__CACHE_SHIFT) <=
	            MP__CACHE_MAX &&
	    cache_register(t))
		mp__obj_mem_free(p, size); /* kept, now that it is on */
	else
		free(p);
}

void *mp__obj_mem_realloc(void *p, size_t old, size_t size)
{
	if (mp__cache_class(size) > MP__CACHE_CLASSES)
		return realloc(p, size); /* any block may be realloc'd */
	void *n = mp__obj_mem_alloc(size);
	if (n && p) {
		memcpy(n, p, old < size ? old : size);
		mp__obj_mem_free(p, old);
	}
	return n;
}

size_t mp__obj_cache_bytes(void)
{
	return mp__obj_tls.bytes;
}

uint64_t mp__obj_cache_freed_at_exit(void)
{
	return __atomic_load_n(&freed_at_exit, __ATOMIC_RELAXED);
}

#else /* no cache: AddressSanitizer */

/* From <sanitizer/allocator_interface.h>, which not every compiler
 * installs; the runtime always has it. */
size_t __sanitizer_get_allocated_size(const volatile void *p);

/* The size a block is freed with is the size it was made with: a wrong
 * one would corrupt the heap in a build with the cache. */
static void check_size(const void *p, size_t size)
{
	if (p && __sanitizer_get_allocated_size(p) != size)
		__builtin_trap();
}

void *mp__obj_mem_alloc(size_t size)
{
	return malloc(size);
}

void mp__obj_mem_free(void *p, size_t size)
{
	check_size(p, size);
	free(p);
}

void *mp__obj_mem_realloc(void *p, size_t old, size_t size)
{
	check_size(p, old);
	return realloc(p, size);
}

size_t mp__obj_cache_bytes(void)
{
	return 0;
}

uint64_t mp__obj_cache_freed_at_exit(void)
{
	return 0;
}

#endif
