/*
 * mproc/manager.h - managers, as Python's multiprocessing.managers: a
 * server hosting objects, and clients calling their methods through
 * proxies, over AF_UNIX or TCP, speaking CPython's manager protocol byte
 * for byte (a Python BaseManager / SyncManager connects to an mproc
 * server, and mproc's client to a CPython server).
 *
 * Lifecycle.  mp_manager_server_open() binds a listener (always
 * authenticated: an authkey is required, as CPython's managers always have
 * one); mp_manager_server_register*() adds typeids; then either
 * mp_manager_server_serve() serves in the calling thread until a client
 * asks for 'shutdown' (or mp_manager_server_stop() is called), or
 * mp_manager_server_start() serves in a daemonic child process that dies
 * with its parent (PR_SET_PDEATHSIG); mp_manager_server_close() stops that
 * child, closes the listener (removing its socket file) and frees all.  A
 * parent that started a child closes its own copy of the listening socket
 * at once, so that when the child dies new clients are refused (instead of
 * waiting in a backlog nobody accepts from).
 *
 * Protocol (CPython's Lib/multiprocessing/managers.py).  Every connection
 * is authenticated (deliver, then answer a challenge), then sends one
 * request, a pickled tuple (ident, method, args, kwds).  With ident None it
 * is a control call: 'dummy', 'create' (typeid, *args) -> (ident,
 * exposed), 'incref', 'decref', 'get_methods', 'debug_info',
 * 'number_of_objects', 'shutdown', or 'accept_connection', after which the
 * connection serves method calls on hosted objects until it closes.
 * Replies are ('#RETURN', value), ('#ERROR', exception) - a KeyError
 * arrives in Python as KeyError, an empty queue as queue.Empty -,
 * ('#TRACEBACK', text) for a protocol misuse (an unknown ident, a method
 * not exposed), and ('#PROXY', (exposed, Token)) for a method whose result
 * is itself hosted (a dict's __iter__).  '#GETVALUE', '__str__' and
 * '__repr__' work on every object, as CPython's fallbacks.
 *
 * Hosted types (SyncManager's typeids): 'dict', 'list' (with slices:
 * l[a:b:c], l[a:b:c] = seq, del l[a:b:c], as Python's list; a slice
 * travels as builtins.slice(start, stop, step), which a C client builds
 * with mp_obj_inert(mp_obj_global("builtins", "slice", NULL), args,
 * false, NULL, &err)), 'Namespace',
 * 'Value' (typecode, value), 'Array' (typecode, sequence), 'Iterator', and
 * the synchronisation types 'Queue', 'JoinableQueue' (maxsize), 'Lock',
 * 'RLock', 'Semaphore', 'BoundedSemaphore' (value), 'Condition' (its own
 * RLock; a lock argument is refused), 'Event', 'Barrier' (parties, action,
 * timeout: threading.Barrier's, with wait(timeout), reset(), abort(),
 * parties, n_waiting, broken; a wait that times out breaks the barrier,
 * BrokenBarrierError for every waiter.  An action other than None is
 * refused with a ValueError: it is a callable, and the server never runs
 * what a request names).  Values are mp_obj_t trees
 * (pickle.h): whatever a client stores comes back equal; nothing stored is
 * ever resolved or called (DESIGN.md rule 12).  Plus typeids registered
 * in C: a user type (mp_manager_type_t: a constructor, a call function
 * and the exposed method names, the C form of a registered Python class),
 * and shared singletons (mp_manager_server_register_shared: Python's
 * register('get_queue', callable=lambda: queue)).
 *
 * Where CPython fails and mproc does not:
 *  - one thread serves every client, in an io_uring event loop (one
 *    multishot poll per connection; ppoll(2) where io_uring is missing or
 *    forbidden), plus one that accepts and runs handshakes, through
 *    mp_listener_accept, waking every 100 ms to see whether the server
 *    stops: a blocking call
 *    (Queue.get, Lock.acquire, Event.wait, Condition.wait, Barrier.wait,
 *    JoinableQueue.join) parks its connection with a deadline instead of
 *    holding a thread;
 *  - locks, RLock levels and semaphore units acquired through a connection
 *    are given back when that connection closes (its client died or went
 *    away); a Condition waiter that leaves is forgotten;
 *  - idents are never reused (a counter, not an address);
 *  - an object whose reference count reaches zero lingers for
 *    MP_MANAGER_LINGER before it is freed, so a proxy handed to another
 *    process (which increfs on arrival) finds it still there;
 *  - decoding never runs code (references and calls in a request stay
 *    inert data), messages are bounded (MP_MANAGER_MAX_MSG; a longer one
 *    drops its connection), nesting and node counts are bounded, and a
 *    malformed request gets a '#TRACEBACK' reply while the server goes on.
 *
 * Speed: after answering, the loop spins on its completion ring (shared
 * memory, no system call) before it sleeps in io_uring_enter, so a client
 * calling in a loop is met awake.  How long is spin.c's adaptive estimate
 * of what catching the next request took (up to 16 times MPROC_SPIN_NS, a
 * round trip through a Python client's interpreter; never with one CPU):
 * where spinning does not pay (busy CPUs, a client that pauses between
 * calls) it fades to an occasional probe.  A proxy's connection reads
 * ahead.  mpbench's
 * manager.* rows compare with CPython's server and client.
 *
 * Not supported yet: 'Pool' and 'AsyncResult' typeids; a Condition built
 * on a lock proxy; list.sort with a key;
 * Array slices (an Array index must be an int); Python's 'xmlrpclib'
 * serializer; proxies
 * passed as arguments stay inert Tokens on the server (they are values,
 * not live references).
 *
 * Client.  mp_manager_connect() checks the server (a 'dummy' call);
 * mp_manager_create() makes an object and returns its proxy;
 * mp_proxy_call() calls a method, bounded by a timeout.  Each proxy has its
 * own connection (as each Python proxy per thread); control calls open a
 * connection each, as CPython's client does (a CPython server accepts a
 * control call only as a connection's first request).  When the server
 * dies, every call waiting on it returns at once (-MP_EEOF or
 * -ECONNRESET), never a hang.  A call that times out closes the proxy's
 * connection (the reply would arrive late and out of step); the next call
 * opens a new one.
 *
 * Threads: a server object is used by one thread (plus the serving thread
 * or child it starts).  A client's mp_manager_t may be shared by threads;
 * one proxy is used by one thread at a time.
 */
#ifndef MPROC_MANAGER_H
#define MPROC_MANAGER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <mproc/common.h>
#include <mproc/connection.h>
#include <mproc/pickle.h>
#include <mproc/process.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct mp_manager_server mp_manager_server_t;
typedef struct mp_manager mp_manager_t;
typedef struct mp_proxy mp_proxy_t;

/* How long an object whose count fell to zero is kept. */
#define MP_MANAGER_LINGER MP_SEC(1)
/* The longest request the server reads (a longer one drops the client). */
#define MP_MANAGER_MAX_MSG ((size_t)64 << 20)

/* ---- the server ---------------------------------------------------------- */

/*
 * A type registered in C: the C form of BaseManager.register(typeid,
 * callable).  create() makes an instance from the request's args (a tuple)
 * and kwds (a dict; both borrowed), returning it (non-NULL), or NULL with
 * *exc set to an exception value (mp_obj_exc) sent back as '#ERROR'.
 * call() runs an exposed method: it returns the result (a new reference)
 * or NULL with *exc.  destroy() frees an instance when its last reference
 * is gone (and at close).  exposed: the method names clients may call,
 * NULL-terminated (names starting with '_' are allowed, as Python's
 * exposed=).  ctx is passed to every function.  The callbacks run on the
 * serving thread, one at a time, and must not block.
 */
typedef struct mp_manager_type {
	const char *type_id;  /* the name clients create it by (C++ reserves typeid) */
	const char *const *exposed;
	void *(*create)(void *ctx, const mp_obj_t *args, const mp_obj_t *kwds,
	                mp_obj_t **exc);
	mp_obj_t *(*call)(void *ctx, void *self, const char *method,
	                  const mp_obj_t *args, const mp_obj_t *kwds,
	                  mp_obj_t **exc);
	void (*destroy)(void *ctx, void *self);
	void *ctx;
} mp_manager_type_t;

/*
 * mp_manager_server_open - a server listening on address (NULL: a fresh
 * AF_UNIX path, as Python's default) with the given authkey (keylen bytes,
 * required: NULL is -EINVAL, and so is an empty key on TCP).  digest is an
 * enum mp_digest (connection.h) for the challenge it delivers; clients of
 * Python 3.11 and 3.12+ are both answered.  The SyncManager typeids are
 * registered already.  Returns the server, or NULL with *err = -EINVAL,
 * -ENOMEM, and the errors of mp_listener_open().
 */
MP_API mp_manager_server_t *mp_manager_server_open(const mp_address_t *address,
                                                   const void *authkey,
                                                   size_t keylen, int digest,
                                                   int *err);
/* The bound address (a port 0 resolved), or NULL for NULL s. */
MP_API const mp_address_t *
mp_manager_server_address(const mp_manager_server_t *s);
/*
 * mp_manager_server_register - add a C type (t is copied; its strings and
 * exposed array must outlive the server).  Returns 0, -EINVAL (NULL, no
 * typeid, create or call), -EEXIST (typeid taken), -ENOMEM, -EBUSY (the
 * server is already serving).
 */
MP_API int mp_manager_server_register(mp_manager_server_t *s,
                                      const mp_manager_type_t *t);
/*
 * mp_manager_server_register_shared - add typeid as a getter of one object
 * made now, of the hosted kind `kind` ("Queue", "dict", ...: the typeids
 * above) with args (a tuple, borrowed; NULL for ()): every create of
 * typeid returns that object's proxy, whose ident never changes (Python's
 * QueueManager.register('get_queue', callable=lambda: queue)).  Returns
 * 0, -EINVAL (unknown kind, bad args), -EEXIST, -ENOMEM, -EBUSY.
 */
MP_API int mp_manager_server_register_shared(mp_manager_server_t *s,
                                             const char *type_id,
                                             const char *kind,
                                             const mp_obj_t *args);
/*
 * mp_manager_server_serve - serve in the calling thread until a client's
 * 'shutdown' or mp_manager_server_stop().  Returns 0, or -EBUSY (already
 * serving), -ENOMEM, -EMFILE and other -errno from starting up.  Clients
 * still connected when it returns are disconnected.
 */
MP_API int mp_manager_server_serve(mp_manager_server_t *s);
/* mp_manager_server_stop - make serve() return soon; callable from any
 * thread and from a signal handler.  Returns 0, or -EINVAL. */
MP_API int mp_manager_server_stop(mp_manager_server_t *s);
/*
 * mp_manager_server_start - serve in a new daemonic child process, which
 * is killed when the calling thread's process dies (any way: it never
 * outlives its parent), and terminated by mp_manager_server_close().
 * *proc (may be NULL) receives the child (owned by the server: do not
 * free it).  Returns 0, -EBUSY (already started or serving), and the
 * errors of mp_process_new() / mp_process_start().
 */
MP_API int mp_manager_server_start(mp_manager_server_t *s,
                                   mp_process_t **proc);
/*
 * mp_manager_server_close - terminate a started child and wait for it
 * (at most 5 s, then SIGKILL), close the listener, free every hosted
 * object and the server.  Not while serve() runs in another thread (stop
 * it and let it return first).  NULL is fine.  Returns 0 or the first
 * error met (everything is freed regardless).
 */
MP_API int mp_manager_server_close(mp_manager_server_t *s);

/* ---- the client ---------------------------------------------------------- */

/*
 * mp_manager_connect - BaseManager(address, authkey).connect(): check that
 * a manager (mproc's or CPython's) answers there with this key.  The key
 * is copied.  Returns the client, or NULL with *err = -EINVAL, -ENOMEM,
 * -MP_EREMOTE (the server refused 'dummy'), and the errors of mp_client().
 */
MP_API mp_manager_t *mp_manager_connect(const mp_address_t *address,
                                        const void *authkey, size_t keylen,
                                        int64_t timeout_ns, int *err);
/* mp_manager_close - free the client (its proxies must be freed first).
 * NULL is fine.  Returns 0. */
MP_API int mp_manager_close(mp_manager_t *m);
/*
 * mp_manager_shutdown - ask the server to shut down (BaseManager's
 * shutdown of a server it connected to).  Returns 0, -MP_EREMOTE (refused),
 * or connection errors.
 */
MP_API int mp_manager_shutdown(mp_manager_t *m, int64_t timeout_ns);
/*
 * mp_manager_call - a control call: (None, fn, args, kwds) on a connection
 * of its own (args a tuple or NULL, kwds a dict or NULL; borrowed).  On
 * success 0 and *result (a new reference; may be NULL to drop it).
 * -MP_EREMOTE: the server raised; *result (when not NULL) is the exception
 * value ('#ERROR') or the traceback text ('#TRACEBACK').  Other errors:
 * -EINVAL, -EPROTO (a reply that is not (kind, value)), and those of
 * mp_client() and of sending and receiving objects.
 */
MP_API int mp_manager_call(mp_manager_t *m, const char *fn,
                           const mp_obj_t *args, const mp_obj_t *kwds,
                           int64_t timeout_ns, mp_obj_t **result);
/*
 * mp_manager_create - manager.<typeid>(*args, **kwds): create an object
 * (args a tuple or NULL, kwds a dict or NULL; borrowed) and return a proxy
 * holding one reference to it.  NULL with *err: as mp_manager_call
 * (-MP_EREMOTE when the server refused: an unknown typeid, bad args).
 */
MP_API mp_proxy_t *mp_manager_create(mp_manager_t *m, const char *type_id,
                                     const mp_obj_t *args,
                                     const mp_obj_t *kwds,
                                     int64_t timeout_ns, int *err);
/*
 * mp_proxy_call - proxy._callmethod(method, args, kwds): 0 with *result
 * the return value (a new reference); 1 when the method returned a hosted
 * object ('#PROXY'): *proxy is then a new proxy for it (with proxy NULL
 * the reference is dropped and -EPROTO returned).  -MP_EREMOTE: the method
 * raised; *result is the exception (e.g. mp_obj_exc_type() "builtins.
 * KeyError", "queue.Empty"; one outside the codec's table, such as
 * threading.BrokenBarrierError, is an inert call of its type: see
 * mp_obj_inert_name) or, for '#TRACEBACK', its text.  -ETIMEDOUT:
 * no reply within the timeout (the connection is dropped; the server may
 * still run the call).  -MP_EEOF / -ECONNRESET: the server went away.
 * Others: -EINVAL, -EPROTO, -ENOMEM and connection errors.  *result and
 * *proxy are NULL unless set as above.
 */
MP_API int mp_proxy_call(mp_proxy_t *p, const char *method,
                         const mp_obj_t *args, const mp_obj_t *kwds,
                         int64_t timeout_ns, mp_obj_t **result,
                         mp_proxy_t **proxy);
/* The proxy's ident and typeid (borrowed, valid while p is), or "". */
MP_API const char *mp_proxy_ident(const mp_proxy_t *p);
MP_API const char *mp_proxy_typeid(const mp_proxy_t *p);
/* Whether method is among those the server exposes for the object. */
MP_API bool mp_proxy_exposed(const mp_proxy_t *p, const char *method);
/*
 * mp_proxy_free - drop the proxy's reference (a 'decref' call, bounded by
 * MP_SEC(5)) and free it.  NULL is fine.  Returns 0, or the error of the
 * decref call (the proxy is freed regardless: a dead server holds
 * nothing).
 */
MP_API int mp_proxy_free(mp_proxy_t *p);

#ifdef __cplusplus
}
#endif

#endif
