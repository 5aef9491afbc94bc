/*
 * uring.c - one io_uring ring per thread, and SQE helpers for opcodes that
 * liburing 2.3 does not know.
 *
 * Lifetime: a thread's ring is made on its first mp_sys_ring() call and torn
 * down by a pthread key destructor when the thread exits.  Every ring is on a
 * global list so that a forked child (one thread) can close the copies it
 * inherited from all of the parent's threads: an io_uring fd shared by two
 * processes would let completions of one land in the other.
 */
#include "mpsys.h"
#include "rawcall.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <unistd.h>

#define RING_ENTRIES 64

struct ring {
	struct io_uring uring;
	struct ring *next;
	bool live;
	bool dontfork; /* its maps are not copied into children */
};

static _Atomic uint32_t rings_lock;
static struct ring *rings;
/* initial-exec: no call into ld.so's __tls_get_addr for it (which a fork
 * child, whose after_fork reads it, pays as a page fault in ld.so) */
static _Thread_local struct ring *my_ring
	__attribute__((tls_model("initial-exec")));
static pthread_key_t ring_key;
static pthread_once_t ring_key_once = PTHREAD_ONCE_INIT;

static void unlink_ring(struct ring *r)
{
	for (struct ring **pp = &rings; *pp; pp = &(*pp)->next) {
		if (*pp == r) {
			*pp = r->next;
			return;
		}
	}
}

static void ring_destructor(void *arg)
{
	struct ring *r = arg;

	mp_sys_mutex_lock(&rings_lock);
	unlink_ring(r);
	mp_sys_mutex_unlock(&rings_lock);
	if (r->live)
		io_uring_queue_exit(&r->uring);
	if (my_ring == r)
		my_ring = NULL;
	free(r);
}

static void after_fork(void);

static void make_key(void)
{
	/* Cannot fail short of PTHREAD_KEYS_MAX exhaustion; then rings are
	 * simply not freed at thread exit. */
	(void)pthread_key_create(&ring_key, ring_destructor);
	(void)pthread_atfork(NULL, NULL, after_fork);
}

static int ring_setup(struct io_uring *u)
{
	/* SINGLE_ISSUER (6.0) and COOP_TASKRUN (5.19) cut completion overhead:
	 * only this thread submits, and it is the one that reaps. */
	int r = io_uring_queue_init(RING_ENTRIES, u,
	                            IORING_SETUP_SINGLE_ISSUER |
	                            IORING_SETUP_COOP_TASKRUN);
	if (r == -EINVAL)
		r = io_uring_queue_init(RING_ENTRIES, u, 0);
	return r;
}

struct io_uring *mp_sys_ring(int *err)
{
	struct ring *r = my_ring;

	if (r && r->live)
		return &r->uring;
	pthread_once(&ring_key_once, make_key);
	if (!r) {
		r = calloc(1, sizeof(*r));
		if (!r) {
			*err = -ENOMEM;
			return NULL;
		}
		mp_sys_mutex_lock(&rings_lock);
		r->next = rings;
		rings = r;
		mp_sys_mutex_unlock(&rings_lock);
		my_ring = r;
		(void)pthread_setspecific(ring_key, r);
	}
	int e = ring_setup(&r->uring);
	if (e < 0) {
		*err = e;
		return NULL;
	}
	/* A fork then neither copies the ring's pages nor makes the child
	 * unmap them (each unmap of a shared map flushes TLBs): pool startup
	 * is mostly forks, and these were a tenth of it.  This relies on
	 * after_fork(): a child made without the atfork handlers (_Fork(),
	 * a raw clone) must not use mproc's rings - it would find them
	 * unmapped (before, it would have shared the parent's). */
	r->dontfork = io_uring_ring_dontfork(&r->uring) == 0;
	r->live = true;
	return &r->uring;
}

/* pthread_atfork child handler. */
MP_SYS_FORK_PATH
MP_SYS_FORK_PATH
static void after_fork(void)
{
	/* In the child, single-threaded: the lock may have been held by a
	 * parent thread at fork time, so it is reset, not taken. */
	mp_sys_mutex_reset(&rings_lock);
	if (!rings)
		return; /* nothing inherited: write nothing, copy no page */
	struct ring *r = rings, *next;
	rings = NULL;
	for (; r; r = next) {
		next = r->next;
		if (r->live && r->dontfork)
			/* No maps here: the fd only (a raw close: rawcall.h) */
			(void)mp_sys_raw(SYS_close, r->uring.ring_fd, 0, 0, 0);
		else if (r->live)
			io_uring_queue_exit(&r->uring); /* the child's copy only */
		r->live = false;
		if (r == my_ring) {
			r->next = rings;
			rings = r;
		} else {
			free(r); /* its thread does not exist here */
		}
	}
}

/* 0 unknown, 1 supported, 2 not supported; per opcode, cached. */
static _Atomic unsigned char op_state[256];

bool mp_sys_uring_has_op(int opcode)
{
	if (opcode < 0 || opcode > 255)
		return false;
	unsigned char s = atomic_load_explicit(&op_state[opcode],
	                                       memory_order_relaxed);
	if (s)
		return s == 1;
	struct io_uring_probe *p = io_uring_get_probe();
	for (int op = 0; op < 256; op++) {
		bool ok = p && io_uring_opcode_supported(p, op);
		atomic_store_explicit(&op_state[op], ok ? 1 : 2,
		                      memory_order_relaxed);
	}
	if (p)
		io_uring_free_probe(p);
	return atomic_load_explicit(&op_state[opcode], memory_order_relaxed) == 1;
}

/*
 * The io_uring futex ops read: fd = futex2 flags, addr = the word,
 * addr2 (alias off) = expected value (wait) or count (wake), addr3 = bitset
 * mask, and they require len and futex_flags (alias rw_flags) to be zero.
 */
void mp_sys_prep_futex_wait(struct io_uring_sqe *sqe, _Atomic uint32_t *word,
                            uint32_t expected)
{
	io_uring_prep_rw(MP_SYS_IORING_OP_FUTEX_WAIT, sqe,
	                 (int)MP_SYS_FUTEX2_SIZE_U32, word, 0, expected);
	sqe->addr3 = FUTEX_BITSET_MATCH_ANY;
}

void mp_sys_prep_futex_wake(struct io_uring_sqe *sqe, _Atomic uint32_t *word,
                            uint32_t n)
{
	io_uring_prep_rw(MP_SYS_IORING_OP_FUTEX_WAKE, sqe,
	                 (int)MP_SYS_FUTEX2_SIZE_U32, word, 0, n);
	sqe->addr3 = FUTEX_BITSET_MATCH_ANY;
}

void mp_sys_prep_futex_waitv(struct io_uring_sqe *sqe, struct futex_waitv *w,
                             unsigned n)
{
	io_uring_prep_rw(MP_SYS_IORING_OP_FUTEX_WAITV, sqe, 0, w, n, 0);
}
