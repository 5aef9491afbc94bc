/*
 * internal.h - what the lib/ areas share with each other.  Not installed.
 * Internal functions that are not static are named mp__*.
 */
#ifndef MPROC_LIB_INTERNAL_H
#define MPROC_LIB_INTERNAL_H

#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <time.h>

#include "mproc.h"
#include "mpsys.h"

#define MP__ALIGN_UP(x, a) (((x) + ((a) - 1)) & ~((__typeof__(x))(a) - 1))
#define MP__CACHELINE 64

/* ---- deadlines (time.c) ------------------------------------------------- */

/* "No deadline": the value of an MP_FOREVER timeout. */
#define MP__NO_DEADLINE INT64_MAX

/*
 * Turn a relative timeout (MP_FOREVER, 0 = try once, > 0 ns) into an
 * absolute CLOCK_MONOTONIC deadline in ns.  -EINVAL for other negatives.
 */
int mp__deadline(int64_t timeout_ns, int64_t *deadline);
/* The deadline as a timespec for the kernel, or NULL when there is none. */
const struct timespec *mp__deadline_ts(int64_t deadline, struct timespec *ts);

/* ---- fork handling (fork.c) ---------------------------------------------- */

/*
 * Register mproc's pthread_atfork handlers (once per process): before a fork
 * the shared heap is made if it does not exist yet, so the child shares it;
 * in the child, the list of children is reset.  (sys/uring.c keeps its rings
 * right across fork with a handler of its own.)
 */
void mp__atfork_register(void);

/* ---- shared heap (heap.c) ------------------------------------------------ */

/* Make the heap if it does not exist (default size).  0 or -errno. */
int mp__heap_ensure(void);

/* ---- processes (process.c) ----------------------------------------------- */

/* In a forked child: forget the parent's children (atfork child handler). */
void mp__process_after_fork(void);

#endif
