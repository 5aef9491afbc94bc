/*
 * mptop.h - what the parts of mptop share: the target (proc.c), the
 * collected view of its objects (collect.c), the output (show.c).
 */
#ifndef MPTOP_H
#define MPTOP_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>

#include "heap.h"
#include "peek.h"

/* ---- the target family (proc.c) ------------------------------------------ */

struct target {
	pid_t pid;
	uint64_t base, len;   /* the heap's address in the family, its size */
	char range[40];       /* "start-end" as in /proc/PID/map_files */
	dev_t dev;            /* the heap's shmem inode, 0/0 if unknown */
	ino_t ino;
	const char *map;      /* a read-only mapping of it, or NULL: */
	int mem_fd;           /* /proc/PID/mem, -1 when mapped */
};

/* Find pid's shared heap and open it for reading.  0, or -errno with a
 * one-line reason in why. */
int target_open(pid_t pid, struct target *t, char *why, size_t len);
void target_close(struct target *t);
/* peek.h's reader over the target. */
struct mp__peek_src target_src(struct target *t);

struct thread {
	pid_t pid, tid;
	uint64_t futex;       /* the word it sleeps on in futex(), or 0 */
};

struct family {
	pid_t *pids;          /* processes that map the heap, first the target */
	char (*comm)[16];
	size_t npids;
	struct thread *threads;
	size_t nthreads;
};

/* The processes that map t's heap and their threads; 0 or -ENOMEM. */
int family_scan(const struct target *t, struct family *f);
void family_free(struct family *f);
/* The process of thread tid (from f, else /proc), or 0 when unknown. */
pid_t family_pid_of(const struct family *f, pid_t tid);
const char *family_comm(const struct family *f, pid_t pid);
/* Threads of f asleep in futex() on the word at addr: count, and up to
 * max of their tids in tids. */
size_t family_sleepers(const struct family *f, uint64_t addr, pid_t *tids,
                       size_t max);
/* addr in pid's maps as "file+0xoff", or "" when not in a file mapping. */
void where_is(pid_t pid, uint64_t addr, char *out, size_t len);

/* ---- the view (collect.c) --------------------------------------------------- */

#define MAX_SHOWN_TIDS 8

struct object {
	unsigned kind;                /* enum mp__kind */
	uint64_t addr;                /* in the family */
	union {
		struct mp__peek_lock lock;
		struct mp__peek_sem sem;
		struct mp__peek_event event;
		struct mp__peek_queue queue;
		struct mp__peek_pool pool;
	} u;
	struct mp__peek_worker *workers; /* pools: u.pool.nproc of them */
	pid_t holder_pid;             /* locks: the holder's process */
	int holder_gone;              /* mp_sys_thread_gone of the holder */
	/* Threads asleep in futex() on its words (the kernel's word, not the
	 * object's): a queue's by MP__PEEK_Q_*, the others' in [0]. */
	size_t asleep[MP__PEEK_Q_NFUTEX];
	pid_t tids[MAX_SHOWN_TIDS];   /* of asleep[0] */
};

struct view {
	struct mp__peek_heap heap;
	struct family fam;
	struct object *objs;
	size_t nobjs;
};

/* Read everything once.  0, or -errno with a one-line reason in why. */
int view_collect(struct target *t, struct view *v, char *why, size_t len);
void view_free(struct view *v);

/* ---- output (show.c) -------------------------------------------------------- */

void show_text(FILE *out, const struct target *t, const struct view *v);
void show_json(FILE *out, const struct target *t, const struct view *v);

#endif
