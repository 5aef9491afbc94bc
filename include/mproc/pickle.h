/*
 * mproc/pickle.h - values, and the pickles CPython puts on a Connection.
 *
 * Values.  An mp_obj_t is a refcounted node of a value tree: None, bool,
 * int (64-bit or arbitrary size), float, bytes, bytearray, str, tuple,
 * list, dict, set, frozenset, an exception (type name and args), and an
 * inert node for what the codec recognises but does not model (a global
 * such as a function reference, or a call of one with its arguments,
 * kept as data).  Nothing in a value is ever code: decoding never resolves
 * or calls anything (DESIGN.md rule 12).
 *
 * References.  Every function that returns an mp_obj_t * returns a new
 * reference: release it with mp_obj_decref().  Functions that put a value
 * into a container *steal* the reference they are given (the container
 * owns it from then on, also when the call fails, which releases it), so a
 * tree is built in one expression:
 *	mp_obj_list_append(l, mp_obj_int(7));
 * Passing NULL as the stolen value makes the call fail with -ENOMEM (the
 * constructor that returned it ran out of memory), so a chain of
 * constructors needs one check, at its end.  Accessors return borrowed
 * references, valid as long as the container is.  None, True and False
 * are immortal (their constructors cannot fail; incref and decref do
 * nothing to them).  A value may be shared by several containers (the
 * codec shares what a pickle's memo shares).  Reference counts are atomic:
 * frozen values may be read and shared between threads; changing a value
 * while another thread reads it is a race, as with any C data.
 *
 * Memory.  Each thread keeps up to 128 KiB of the small blocks its freed
 * values gave back, for the next values it makes (decoding a message of a
 * few hundred values then calls malloc for none of them); a thread's blocks
 * go back to malloc when it exits.  A value made in one thread and freed in
 * another is fine: its blocks join the freeing thread's.
 *
 * Freezing.  A value becomes *frozen* when it is put into a container (or
 * given to an exception or inert node): from then on it can no longer
 * change (append, set and add on it return -EPERM).  This is what makes
 * every value a finite tree without cycles - a container can only gain
 * children before it is anybody's child - so deep equality, repr, dumps
 * and decref always end.  Build children first, then insert them, as a
 * pickle does.  Nesting is bounded: a value at most MP_OBJ_MAX_DEPTH
 * deep (insertion past it returns -MP_ELIMIT).
 *
 * Errors.  Constructors that can fail only for lack of memory return NULL
 * then (-ENOMEM is implied; none of them takes an err); those that check
 * their input (mp_obj_str, mp_obj_int_bytes, mp_obj_exc, mp_obj_global,
 * mp_obj_inert) take an int *err, as do the decoders and the receives:
 * set to 0 or the code on every return, and it may be NULL when the caller
 * does not want the code.  Functions returning int follow
 * common.h: >= 0, or a negative code; -EINVAL for NULL or a value of the
 * wrong kind.  Accessors given a value of the wrong kind return 0 / NULL.
 *
 * Python semantics kept: dicts keep insertion order and use Python's key
 * equality (1, 1.0 and True are one key; str and bytes are distinct;
 * unhashable keys - list, dict, set, bytearray, or a tuple holding one -
 * are refused with -EINVAL); set and frozenset the same for elements; str
 * is UTF-8, and lone surrogates (U+D800..U+DFFF) are allowed as three-byte
 * sequences, as Python's 'surrogatepass' encodes them, so every Python
 * str round-trips.
 */
#ifndef MPROC_PICKLE_H
#define MPROC_PICKLE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct mp_obj mp_obj_t;

typedef enum {
	MP_OBJ_NONE,
	MP_OBJ_BOOL,
	MP_OBJ_INT,       /* any size; see mp_obj_int_value */
	MP_OBJ_FLOAT,
	MP_OBJ_BYTES,
	MP_OBJ_BYTEARRAY,
	MP_OBJ_STR,
	MP_OBJ_TUPLE,
	MP_OBJ_LIST,
	MP_OBJ_DICT,
	MP_OBJ_SET,
	MP_OBJ_FROZENSET,
	MP_OBJ_EXC,       /* an exception: type name, args tuple */
	MP_OBJ_INERT,     /* a global, or a call of one, kept as data */
} mp_obj_kind_t;

/* The deepest value that can be built or decoded (the outermost container
 * is at depth 1). */
#define MP_OBJ_MAX_DEPTH 4096

/* ---- every kind ---------------------------------------------------------- */

/* The kind of o; MP_OBJ_NONE for NULL. */
MP_API mp_obj_kind_t mp_obj_kind(const mp_obj_t *o);
/* A static name of a kind ("none", "int", ... "inert"). */
MP_API const char *mp_obj_kind_name(mp_obj_kind_t kind);
/* One more reference to o; returns o (NULL gives NULL). */
MP_API mp_obj_t *mp_obj_incref(mp_obj_t *o);
/* Drop a reference; the last one frees o and releases its children.
 * NULL is fine.  Never recursive on the C stack. */
MP_API void mp_obj_decref(mp_obj_t *o);
/* Whether o can no longer change (see Freezing; immutable kinds always). */
MP_API bool mp_obj_frozen(const mp_obj_t *o);

/*
 * mp_obj_equal - Python's a == b, deeply: 1 == 1.0 == True, a list never
 * equals a tuple, set == frozenset with the same elements, a NaN equals
 * only itself (the same node, as Python's containers compare identity
 * first), exceptions and inert nodes by type name and contents.  NULLs
 * are equal only to each other.
 */
MP_API bool mp_obj_equal(const mp_obj_t *a, const mp_obj_t *b);

/*
 * mp_obj_repr - Python's repr(o) in a malloc'd, NUL-terminated string
 * (free it): "[1, 'a', None]", "{'k': b'\\x00'}", "KeyError('k')".
 * Inert nodes read as "<inert mod.name(args)>" (a bare global without
 * "(args)", a call with a state with " state=..." before the '>').  Sets
 * list their elements in insertion order.  Ints longer than
 * 4300 decimal digits are written in hex (Python would refuse them).
 * NULL on -ENOMEM (*err, which may be NULL).
 */
MP_API char *mp_obj_repr(const mp_obj_t *o, int *err);

/*
 * mp_obj_len - elements of a tuple, list, dict, set or frozenset, bytes of
 * bytes, bytearray or str (UTF-8 bytes, not code points), args of an
 * exception; -EINVAL for other kinds.
 */
MP_API int64_t mp_obj_len(const mp_obj_t *o);
/* Element i of a tuple or list (borrowed); NULL when out of range. */
MP_API mp_obj_t *mp_obj_item(const mp_obj_t *o, size_t i);

/* ---- scalars ------------------------------------------------------------- */

/*
 * mp_obj_none, mp_obj_bool - None, True and False: immortal, never NULL.
 * mp_obj_int, mp_obj_uint - an int of that value (new; NULL: no memory).
 */
MP_API mp_obj_t *mp_obj_none(void);           /* immortal, never NULL */
MP_API mp_obj_t *mp_obj_bool(bool v);         /* immortal, never NULL */
MP_API mp_obj_t *mp_obj_int(int64_t v);
MP_API mp_obj_t *mp_obj_uint(uint64_t v);
/*
 * mp_obj_int_bytes - an int of any size from n bytes of little-endian
 * two's complement (pickle's LONG1/LONG4 payload; n == 0 is 0).  Ints up
 * to MP_OBJ_MAX_INT_BYTES bytes; longer: -MP_ELIMIT.
 */
#define MP_OBJ_MAX_INT_BYTES ((size_t)1 << 20)
MP_API mp_obj_t *mp_obj_int_bytes(const void *le, size_t n, int *err);
/* mp_obj_float - a float of that value (new; NULL: no memory). */
MP_API mp_obj_t *mp_obj_float(double v);

/* bool: false for anything but True. */
MP_API bool mp_obj_bool_value(const mp_obj_t *o);
/*
 * mp_obj_int_value - an int (or bool, as Python's True == 1) into *v.
 * -ERANGE when it does not fit in int64_t; -EINVAL not an int.
 */
MP_API int mp_obj_int_value(const mp_obj_t *o, int64_t *v);
/*
 * mp_obj_int_le - the int as minimal little-endian two's complement (the
 * bytes pickle writes; 0 is no bytes): *n bytes at the returned pointer
 * (borrowed; for ints that fit in 64 bits, in a buffer owned by o, valid as
 * long as o is).  NULL for another kind.
 */
MP_API const uint8_t *mp_obj_int_le(const mp_obj_t *o, size_t *n);
/* A float, or an int that fits in int64_t, as a double; NaN otherwise. */
MP_API double mp_obj_float_value(const mp_obj_t *o);

/* ---- bytes, bytearray, str ----------------------------------------------- */

/* mp_obj_bytes, mp_obj_bytearray - a bytes or a bytearray holding a copy
 * of the n bytes at data (data may be NULL when n is 0).  NULL: no memory. */
MP_API mp_obj_t *mp_obj_bytes(const void *data, size_t n);
MP_API mp_obj_t *mp_obj_bytearray(const void *data, size_t n);
/*
 * mp_obj_str - a str from n bytes of UTF-8 (lone surrogates allowed as
 * three-byte sequences).  -EILSEQ on anything else (overlong forms, bytes
 * that start nothing, code points above U+10FFFF, a truncated sequence).
 */
MP_API mp_obj_t *mp_obj_str(const char *s, size_t n, int *err);
/* mp_obj_cstr - mp_obj_str of a NUL-terminated string. */
MP_API mp_obj_t *mp_obj_cstr(const char *s, int *err);
/*
 * mp_obj_data - the bytes of a bytes, bytearray or str (for a str, its
 * UTF-8; always followed by a NUL not counted in *n, so a str without NULs
 * is a C string).  Borrowed.  NULL for another kind.  A bytearray's bytes
 * may be written in place while it is not frozen (mp_obj_frozen).
 */
MP_API const char *mp_obj_data(const mp_obj_t *o, size_t *n);
/* mp_obj_str_eq - whether o is a str equal to the C string s. */
MP_API bool mp_obj_str_eq(const mp_obj_t *o, const char *s);

/* ---- tuple, list --------------------------------------------------------- */

/* mp_obj_tuple - a tuple of n values, stolen (all released on failure;
 * any NULL among them, or one MP_OBJ_MAX_DEPTH deep already: NULL). */
MP_API mp_obj_t *mp_obj_tuple(size_t n, mp_obj_t *const items[]);

/* mp_obj_list - a new, empty list.  NULL: no memory. */
MP_API mp_obj_t *mp_obj_list(void);
/*
 * mp_obj_list_append - append item (stolen).  -ENOMEM (also for a NULL
 * item); -EPERM l is frozen; -MP_ELIMIT nesting too deep; -EINVAL.
 */
MP_API int mp_obj_list_append(mp_obj_t *l, mp_obj_t *item);

/* ---- dict, set, frozenset ------------------------------------------------ */

/* mp_obj_dict - a new, empty dict.  NULL: no memory. */
MP_API mp_obj_t *mp_obj_dict(void);
/*
 * mp_obj_dict_set - d[key] = value (both stolen).  An equal key already
 * there keeps its place and its key object (Python's rule); its value is
 * replaced.  -EINVAL unhashable key; -EPERM frozen; -ENOMEM; -MP_ELIMIT.
 */
MP_API int mp_obj_dict_set(mp_obj_t *d, mp_obj_t *key, mp_obj_t *value);
/* d[key] (borrowed), or NULL when absent (or d not a dict). */
MP_API mp_obj_t *mp_obj_dict_get(const mp_obj_t *d, const mp_obj_t *key);
/* d[s] for a str key given as a C string (borrowed), or NULL. */
MP_API mp_obj_t *mp_obj_dict_get_str(const mp_obj_t *d, const char *s);
/*
 * mp_obj_dict_entry - the i-th item in insertion order: key and value
 * (borrowed; either pointer may be NULL).  -ERANGE past the end; -EINVAL.
 */
MP_API int mp_obj_dict_entry(const mp_obj_t *d, size_t i, mp_obj_t **key,
                             mp_obj_t **value);

/* An empty set, or frozenset (frozen is about the kind, which can be
 * filled with mp_obj_set_add until it is put somewhere). */
MP_API mp_obj_t *mp_obj_set(bool frozenset);
/* mp_obj_set_add - add item (stolen; an equal element already there stays).
 * Errors as mp_obj_dict_set. */
MP_API int mp_obj_set_add(mp_obj_t *s, mp_obj_t *item);
/* Whether a set or frozenset holds an element equal to item. */
MP_API bool mp_obj_set_contains(const mp_obj_t *s, const mp_obj_t *item);
/* The i-th element in insertion order (borrowed), or NULL. */
MP_API mp_obj_t *mp_obj_set_item(const mp_obj_t *s, size_t i);

/* ---- exceptions and inert nodes ------------------------------------------ */

/*
 * mp_obj_exc - an exception of the given type, "module.qualname"
 * ("builtins.KeyError", "queue.Empty"), with args (a tuple, stolen; NULL
 * for ()).  Dumped as CPython pickles an exception (the type, its args,
 * REDUCE).  -EINVAL type is not "module.name" of identifier characters, or
 * args is not a tuple.
 */
MP_API mp_obj_t *mp_obj_exc(const char *type, mp_obj_t *args, int *err);
/* The exception's "module.qualname" (borrowed), or NULL. */
MP_API const char *mp_obj_exc_type(const mp_obj_t *o);
/* The exception's args tuple (borrowed), or NULL. */
MP_API mp_obj_t *mp_obj_exc_args(const mp_obj_t *o);

/*
 * mp_obj_global - a reference to module.qualname (a function or class),
 * as pickle's GLOBAL / STACK_GLOBAL carry it: dumping it lets a Python
 * peer resolve it (sending a function to a Python worker), decoding never
 * does.  -EINVAL for names that are empty or hold a newline or a NUL.
 */
MP_API mp_obj_t *mp_obj_global(const char *module, const char *qualname,
                               int *err);
/*
 * mp_obj_inert - a call that is kept as data: callable (a global, stolen)
 * applied to args (a tuple, stolen), as REDUCE (newobj false) or NEWOBJ
 * (true) would, then state (stolen, may be NULL) given as BUILD would.
 * Decoding with MP_PICKLE_INERT produces these for calls it does not know;
 * dumping one writes the same opcodes back.  -EINVAL for a callable that
 * is not a global, or args not a tuple.
 */
MP_API mp_obj_t *mp_obj_inert(mp_obj_t *callable, mp_obj_t *args,
                              bool newobj, mp_obj_t *state, int *err);
/* A global's or a call's module and qualname (borrowed), or NULL. */
MP_API const char *mp_obj_inert_module(const mp_obj_t *o);
MP_API const char *mp_obj_inert_name(const mp_obj_t *o);
/* A call's args and state (borrowed; NULL for a bare global / no state). */
MP_API mp_obj_t *mp_obj_inert_args(const mp_obj_t *o);
MP_API mp_obj_t *mp_obj_inert_state(const mp_obj_t *o);

/* ---- the codec ----------------------------------------------------------- */

/*
 * mp_pickle_dumps - pickle o with protocol 2, 3, 4 or 5 (0: 4, CPython's
 * default from 3.8 to 3.13) into a malloc'd buffer (*out, *len; free it).
 * FRAME, MEMOIZE and every opcode are placed as CPython's pickler places
 * them, so a tree without shared nodes comes out byte-identical to
 * pickle.dumps(obj, protocol); a node shared within the tree is written
 * once and referred to by the memo, as Python does for one object reached
 * twice.  What CPython shares by value is shared the same way: '' and b'',
 * str of one character below U+0100, bytes of one byte, a global named
 * twice.  Sets are written in their insertion order (CPython: its hash
 * table's).  The walk recurses: some 200 bytes of stack per level of
 * nesting, under 1 MiB for the deepest value.  Errors: -EINVAL bad
 * protocol or NULL, or a str or bytes of 4 GiB or more with protocol 2 or
 * 3 (which CPython refuses too); -ENOMEM.
 */
MP_API int mp_pickle_dumps(const mp_obj_t *o, int protocol, void **out,
                           size_t *len);

/* Decoding flags. */
enum {
	/* Calls and globals outside the closed table become inert nodes
	 * instead of failing with -MP_EREFUSED. */
	MP_PICKLE_INERT = 1u << 0,
};

/*
 * Limits for mp_pickle_loads; zero fields take the defaults.  Whatever
 * the limits, memory stays proportional to the input's length (a memo
 * reference shares its node, it never copies), every length is checked
 * against the bytes left before anything is allocated, and nothing is
 * recursive on the C stack.
 */
typedef struct mp_pickle_opts {
	unsigned flags;        /* MP_PICKLE_* */
	uint32_t max_depth;    /* nesting of containers: 1000, at most
	                          MP_OBJ_MAX_DEPTH */
	uint64_t max_nodes;    /* values built: 16 Mi */
	uint32_t max_int_bytes;/* one int's bytes: 64 KiB, at most
	                          MP_OBJ_MAX_INT_BYTES */
	uint32_t max_memo;     /* memo entries: 16 Mi */
} mp_pickle_opts_t;

/* Where and why decoding failed, for a message a person reads. */
typedef struct mp_pickle_diag {
	size_t offset;         /* of the opcode that failed */
	int opcode;            /* that opcode's byte, -1 at end of input */
	char msg[120];         /* e.g. "global os.system is not allowed" */
} mp_pickle_diag_t;

/*
 * mp_pickle_loads - decode one pickle of protocol 2 to 5 occupying exactly
 * buf[0..len) into a value.  It builds data only: GLOBAL / STACK_GLOBAL
 * with REDUCE, NEWOBJ(_EX) and BUILD are never resolved or called.  A
 * closed table turns what CPython emits for plain data into values:
 * protocol 2's _codecs.encode(str, 'latin1') for bytes, bytearray(...),
 * set(...) and frozenset(...) of protocols 2 and 3, builtins.list(...)
 * for dict views, copyreg._reconstructor of those, and exceptions
 * (builtins' exception types, queue.Empty/_queue.Empty, queue.Full,
 * multiprocessing's TimeoutError, AuthenticationError, ProcessError,
 * BufferTooShort and managers' RemoteError), each under the name
 * protocols 3 and up write ("builtins.OSError" for protocol 2's
 * exceptions.OSError).  An exception's BUILD state (attributes,
 * __notes__) cannot be kept on an exception value: an empty one is
 * dropped, another is refused, or with MP_PICKLE_INERT the exception comes
 * back as an inert call of its type holding that state.  Protocol 2's str8
 * (BINSTRING) decodes as CPython's default does: a str when it is ASCII.
 * Errors (the value is NULL, *err the code, *diag - may be NULL - where):
 *   -MP_EREFUSED  anything else that would run code: another global or
 *                 call (unless MP_PICKLE_INERT), INST, OBJ, EXT1/2/4,
 *                 PERSID/BINPERSID, out-of-band buffers (NEXT_BUFFER,
 *                 READONLY_BUFFER)
 *   -MP_EPICKLE   malformed: unknown or protocol 0/1 text opcodes, a
 *                 truncated pickle, bytes after STOP, a bad length, an
 *                 opcode that finds the wrong things on its stack or no
 *                 MARK, a memo key never stored, an unhashable key, a
 *                 cycle (a container put into itself through the memo),
 *                 invalid UTF-8 in a str or a str8 that is not ASCII,
 *                 protocol > 5 or < 2, a memo index past the input's
 *                 length (no pickle that long fills it)
 *   -MP_ELIMIT    a limit in opts was reached
 *   -ENOMEM; -EINVAL (buf NULL with len > 0, bad opts)
 */
MP_API mp_obj_t *mp_pickle_loads(const void *buf, size_t len,
                                 const mp_pickle_opts_t *opts,
                                 mp_pickle_diag_t *diag, int *err);

/* ---- objects over connections and queues --------------------------------- */

typedef struct mp_conn mp_conn_t;
typedef struct mp_queue mp_queue_t;

/*
 * mp_conn_send_obj - Python's Connection.send(obj): one message holding
 * the protocol 4 pickle of o.  Errors: those of mp_pickle_dumps and
 * mp_conn_send_bytes.
 */
MP_API int mp_conn_send_obj(mp_conn_t *c, const mp_obj_t *o,
                            int64_t timeout_ns);
/*
 * mp_conn_recv_obj - Python's Connection.recv(): one message, decoded with
 * opts (NULL: the defaults).  NULL with *err: those of mp_conn_recv_bytes
 * and mp_pickle_loads (a message that does not decode is consumed; the
 * connection stays usable).
 */
MP_API mp_obj_t *mp_conn_recv_obj(mp_conn_t *c, const mp_pickle_opts_t *opts,
                                  int64_t timeout_ns, int *err);

/* mp_queue_put_obj / mp_queue_get_obj - put and get of a value, pickled as
 * above; errors those of mp_queue_put / mp_queue_get (a value too big for
 * the queue's messages is -EMSGSIZE) and of the codec. */
MP_API int mp_queue_put_obj(mp_queue_t *q, const mp_obj_t *o,
                            int64_t timeout_ns);
MP_API mp_obj_t *mp_queue_get_obj(mp_queue_t *q, const mp_pickle_opts_t *opts,
                                  int64_t timeout_ns, int *err);

#ifdef __cplusplus
}
#endif

#endif
