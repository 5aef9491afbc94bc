/*
 * wait_pipes - the seed's wait() example: four processes each send ten
 * messages down a pipe of their own; the parent reads whatever is ready,
 * with wait(), until every pipe has reached its end.
 *
 * Python:
 *     def foo(w):
 *         for i in range(10):
 *             w.send((i, current_process().name))
 *         w.close()
 *     for i in range(4):
 *         r, w = Pipe(duplex=False)
 *         readers.append(r)
 *         Process(target=foo, args=(w,)).start()
 *         w.close()      # so that p alone holds the write end
 *     while readers:
 *         for r in wait(readers):
 *             try: msg = r.recv()
 *             except EOFError: readers.remove(r)
 *             else: print(msg)
 *
 * As in the seed, each message is a tuple (i, name), pickled by send()
 * and printed as print() shows it: (0, 'Process-1').
 */
#include "example.h"

#include <string.h>

static int foo(void *arg)
{
	mp_conn_t *w = arg;
	for (int i = 0; i < 10; i++) {
		mp_obj_t *item[2] = {
			mp_obj_int(i),
			ex_cstr(mp_process_name(mp_current_process())),
		};
		ex_send_obj(w, mp_obj_tuple(2, item));
	}
	mp_conn_close(w);
	return 0;
}

int main(void)
{
	mp_conn_t *readers[4];
	mp_process_t *procs[4];
	int live = 4;

	ex_init();
	for (int i = 0; i < 4; i++) {
		mp_conn_t *w;
		int err;
		ex_check(mp_pipe(false, &readers[i], &w), "pipe");
		procs[i] = mp_process_new(foo, w, NULL, 0, &err);
		ex_check(procs[i] ? mp_process_start(procs[i]) : err, "start");
		/* Only the child holds the write end now: when it closes it,
		 * our end reads as end of file. */
		mp_conn_close(w);
	}
	while (live > 0) {
		mp_waitable_t objs[4];
		int map[4], n = 0;
		for (int i = 0; i < 4; i++)
			if (readers[i]) {
				objs[n] = mp_wait_conn(readers[i]);
				map[n++] = i;
			}
		size_t ready[4];
		int k = mp_wait(objs, (size_t)n, MP_FOREVER, ready);
		ex_check(k, "wait");
		for (int j = 0; j < k; j++) {
			int i = map[ready[j]];
			int r = 0;
			mp_obj_t *msg = mp_conn_recv_obj(readers[i], NULL,
			                                 MP_FOREVER, &r);
			if (r == -MP_EEOF) {
				mp_conn_close(readers[i]);
				readers[i] = NULL;
				live--;
				continue;
			}
			ex_check(r, "recv");
			ex_print_obj(msg, "\n");
			mp_obj_decref(msg);
		}
	}
	for (int i = 0; i < 4; i++) {
		mp_process_join(procs[i], MP_FOREVER);
		mp_process_free(procs[i]);
	}
	return 0;
}
