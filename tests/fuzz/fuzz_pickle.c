/*
 * fuzz_pickle.c - libFuzzer harness for mp_pickle_loads.
 *
 * Each input is decoded three ways: with the defaults, with MP_PICKLE_INERT
 * (globals and calls kept as data), and with small limits.  Properties
 * checked (abort on violation): a result comes with error 0 and an error
 * with no result; every error is one loads documents; a diagnosis points
 * at the opcode it names and its message is a NUL-terminated string;
 * memory is released (ASan's leak check) and allocations
 * stay proportional to the input (libFuzzer's -malloc_limit_mb).
 * Built with -Dfuzz=true; replay.c runs it over the corpus in the normal
 * test suite.
 */
#include "internal.h"

#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static bool documented(int err)
{
	return err == -MP_EPICKLE || err == -MP_EREFUSED ||
	       err == -MP_ELIMIT || err == -ENOMEM;
}

static void one(const uint8_t *d, size_t n, const mp_pickle_opts_t *o)
{
	mp_pickle_diag_t diag;
	int err = 12345;
	memset(&diag, 0x5a, sizeof(diag));
	mp_obj_t *v = mp_pickle_loads(d, n, o, &diag, &err);
	if (v) {
		/* (no repr: a value whose nodes the memo shares is a
		 * DAG, and its repr may be exponentially long) */
		if (err != 0)
			abort();
		mp_obj_decref(v);
		return;
	}
	if (!documented(err))
		abort();
	if (diag.offset > n || memchr(diag.msg, 0, sizeof(diag.msg)) == NULL ||
	    diag.opcode < -1 || diag.opcode > 255 ||
	    (diag.opcode >= 0 && (diag.offset >= n ||
	                          d[diag.offset] != diag.opcode)))
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	mp_pickle_opts_t def = { 0 };
	mp_pickle_opts_t inert = { .flags = MP_PICKLE_INERT };
	mp_pickle_opts_t small = { .flags = MP_PICKLE_INERT, .max_depth = 8,
	                           .max_nodes = 64, .max_int_bytes = 9,
	                           .max_memo = 16 };
	one(data, size, &def);
	one(data, size, &inert);
	one(data, size, &small);
	return 0;
}
