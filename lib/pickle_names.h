/*
 * pickle_names.h - the decoder's closed table of globals (pickle_names.c).
 * Not installed.
 *
 * What a GLOBAL / STACK_GLOBAL may name when it is not kept as an inert
 * node: the few callables CPython's pickler uses for plain data, and the
 * exception types that travel between processes.  The table is data, never
 * a way to reach code: it maps a name to what the decoder builds itself.
 */
#ifndef MPROC_LIB_PICKLE_NAMES_H
#define MPROC_LIB_PICKLE_NAMES_H

#include <stddef.h>

enum mp__pk_fn {
	PK_NONE = -1,       /* not in the table */
	PK_CODECS_ENCODE,   /* _codecs.encode(str, 'latin1'): protocol 2 bytes */
	PK_BYTES,           /* bytes() / bytes(b): protocol 2's b'' */
	PK_BYTEARRAY,       /* bytearray(), bytearray(b), bytearray(s, enc) */
	PK_SET,             /* set(list) of protocols 2 and 3 */
	PK_FROZENSET,       /* frozenset(list) likewise */
	PK_LIST,            /* list(iterable) (dict views) */
	PK_OBJECT,          /* object: only as _reconstructor's base */
	PK_RECONSTRUCTOR,   /* copyreg._reconstructor(cls, base, state) */
	PK_EXC,             /* an exception type: its canonical name */
};

/*
 * Look module.name up (lengths given, no NULs needed).  Returns its
 * enum mp__pk_fn (PK_NONE when absent); for PK_EXC *canon is the type's
 * name as CPython 3 writes it in protocols 3 and up ("builtins.OSError"
 * for IOError and protocol 2's exceptions.OSError, "queue.Full" for
 * Queue.Full, "multiprocessing.context.TimeoutError" for protocol 2's
 * multiprocessing.TimeoutError).
 */
int mp__pickle_name_find(const char *module, size_t mlen, const char *name,
                         size_t nlen, const char **canon);
/* The canonical name of entry fn's kind for messages ("bytearray"...). */
const char *mp__pickle_fn_name(int fn);

#endif
