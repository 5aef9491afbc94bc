/*
 * mproc.h - Python's multiprocessing, natively in C for Linux.
 *
 * The umbrella header: includes every area.  Each area header under mproc/
 * compiles on its own and documents its objects' lifecycle.
 */
#ifndef MPROC_H
#define MPROC_H

#include <mproc/common.h>
#include <mproc/connection.h>
#include <mproc/context.h>
#include <mproc/dict.h>
#include <mproc/heap.h>
#include <mproc/manager.h>
#include <mproc/pickle.h>
#include <mproc/pool.h>
#include <mproc/process.h>
#include <mproc/queue.h>
#include <mproc/shm.h>
#include <mproc/sync.h>
#include <mproc/value.h>
#include <mproc/wait.h>

#endif
