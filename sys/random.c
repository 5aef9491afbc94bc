/*
 * random.c - random bytes for nonces without a system call each.
 *
 * A handshake challenge is 40 random bytes, and getrandom(2) costs more
 * than an HMAC here (1.5 us a call on this class of VM), on both sides of
 * every connect.  So nonces come from a page of getrandom output, handed
 * out from its end and wiped as they go, refilled when it runs dry.
 *
 * The page is MADV_WIPEONFORK: a forked child finds it zeroed (no bytes
 * left, its mutex unlocked, even if the fork came while another thread
 * held it), so a parent and its child never hand out the same bytes.  A
 * challenge issued twice could be passed by replaying the answer an
 * eavesdropper saw to the first.  Where the page cannot be had (an old
 * kernel, a sandbox without mmap), every call is a getrandom.
 */
#include "mpsys.h"

#include <pthread.h>
#include <string.h>
#include <sys/mman.h>

struct pool {
	pthread_mutex_t mu;   /* all-zero is PTHREAD_MUTEX_INITIALIZER */
	size_t left;          /* unused bytes at the start of b */
	uint8_t b[4096 - 128];
};

_Static_assert(sizeof(struct pool) <= 4096, "one page");

static struct pool *pool;
static pthread_once_t pool_once = PTHREAD_ONCE_INIT;

static void pool_map(void)
{
	void *p = mmap(NULL, 4096, PROT_READ | PROT_WRITE,
	               MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	if (p == MAP_FAILED)
		return;
	if (madvise(p, 4096, MADV_WIPEONFORK) != 0) {
		munmap(p, 4096);
		return;
	}
	pool = p;
}

int mp_sys_nonce(void *buf, size_t len)
{
	pthread_once(&pool_once, pool_map);
	struct pool *p = pool;
	if (!p || len > sizeof(p->b))
		return mp_sys_getrandom(buf, len);
	pthread_mutex_lock(&p->mu);
	int r = 0;
	if (p->left < len && (r = mp_sys_getrandom(p->b, sizeof(p->b))) == 0)
		p->left = sizeof(p->b);
	if (r == 0) {
		p->left -= len;
		memcpy(buf, p->b + p->left, len);
		explicit_bzero(p->b + p->left, len);
	}
	pthread_mutex_unlock(&p->mu);
	return r;
}
