/*
 * queue_workers - the seed's Queue example: a task queue feeding 4 worker
 * processes and a done queue collecting their results.
 *
 * Python:
 *     def worker(input, output):
 *         for func, args in iter(input.get, 'STOP'):
 *             output.put(calculate(func, args))
 *     def calculate(func, args):
 *         result = func(*args)
 *         return '%s says that %s%s = %s' % \
 *             (current_process().name, func.__name__, args, result)
 *     ... 20 (mul, (i, 7)) tasks, 4 workers, print 20 results, 10
 *     (plus, (i, 8)) tasks, print 10 results, then one 'STOP' per worker.
 *
 * As in the seed, a task is the tuple (func, args) and the results are
 * str objects.  A function travels as Python pickles one, by name
 * (__main__.mul): a worker decodes it as an inert node naming it and looks
 * the name up in its own table of functions - nothing that came in a
 * message is ever run, and a name not in the table is an error.  The seed
 * sleeps up to 0.5 s per task; we sleep up to 50 ms.
 */
#include "example.h"

#include <string.h>
#include <unistd.h>

#define NUMBER_OF_PROCESSES 4

static mp_queue_t *task_queue, *done_queue;

static int64_t mul(int64_t a, int64_t b)
{
	usleep((useconds_t)(rand() % 50000));
	return a * b;
}

static int64_t plus(int64_t a, int64_t b)
{
	usleep((useconds_t)(rand() % 50000));
	return a + b;
}

/* The functions a task may name: this program's own. */
static const struct {
	const char *name;
	int64_t (*fn)(int64_t, int64_t);
} functions[] = { { "mul", mul }, { "plus", plus } };

/* calculate(func, args), as a str value; NULL for a task we cannot do. */
static mp_obj_t *calculate(const mp_obj_t *func, const mp_obj_t *args)
{
	const char *name = mp_obj_inert_name(func);
	int64_t a, b;
	if (!name || mp_obj_inert_args(func) ||
	    strcmp(mp_obj_inert_module(func), "__main__") ||
	    mp_obj_len(args) != 2 ||
	    mp_obj_int_value(mp_obj_item(args, 0), &a) < 0 ||
	    mp_obj_int_value(mp_obj_item(args, 1), &b) < 0)
		return NULL;
	for (size_t i = 0; i < sizeof(functions) / sizeof(functions[0]); i++) {
		if (strcmp(functions[i].name, name))
			continue;
		int64_t result = functions[i].fn(a, b);
		char *targs = ex_str(args), text[256];
		snprintf(text, sizeof(text), "%s says that %s%s = %lld",
		         mp_process_name(mp_current_process()), name, targs,
		         (long long)result);
		free(targs);
		return ex_cstr(text);
	}
	return NULL;
}

static int worker(void *arg)
{
	static const mp_pickle_opts_t inert = { .flags = MP_PICKLE_INERT };
	int err = 0;

	(void)arg;
	srand((unsigned)getpid());
	for (;;) {
		mp_obj_t *task = mp_queue_get_obj(task_queue, &inert,
		                                  MP_FOREVER, &err);
		if (!task)
			return 1;
		if (mp_obj_str_eq(task, "STOP")) {
			mp_obj_decref(task);
			return 0;
		}
		mp_obj_t *result = calculate(mp_obj_item(task, 0),
		                             mp_obj_item(task, 1));
		mp_obj_decref(task);
		if (!result)
			return 2;
		err = mp_queue_put_obj(done_queue, result, MP_FOREVER);
		mp_obj_decref(result);
		if (err < 0)
			return 1;
	}
}

/* task_queue.put((func, (a, b))) */
static void put_task(const char *func, int a, int b)
{
	int err = 0;
	mp_obj_t *args[2] = { mp_obj_int(a), mp_obj_int(b) };
	mp_obj_t *task[2] = { ex_ok(mp_obj_global("__main__", func, &err),
	                            err, "mp_obj_global"),
	                      mp_obj_tuple(2, args) };
	mp_obj_t *t = mp_obj_tuple(2, task);
	ex_check(t ? mp_queue_put_obj(task_queue, t, MP_FOREVER) : -ENOMEM,
	         "put");
	mp_obj_decref(t);
}

static void print_results(int n)
{
	for (int i = 0; i < n; i++) {
		int err = 0;
		mp_obj_t *r = ex_ok(mp_queue_get_obj(done_queue, NULL,
		                                     MP_FOREVER, &err),
		                    err, "get");
		printf("\t ");
		ex_print_obj(r, "\n");
		mp_obj_decref(r);
	}
}

int main(void)
{
	int err;
	mp_process_t *workers[NUMBER_OF_PROCESSES];

	ex_init();
	task_queue = mp_queue_new(NULL, &err);
	done_queue = mp_queue_new(NULL, &err);
	ex_check(task_queue && done_queue ? 0 : err, "mp_queue_new");
	for (int i = 0; i < 20; i++)
		put_task("mul", i, 7);
	for (int i = 0; i < NUMBER_OF_PROCESSES; i++)
		workers[i] = ex_start(worker, NULL);
	printf("Unordered results:\n");
	print_results(20);
	for (int i = 0; i < 10; i++)
		put_task("plus", i, 8);
	print_results(10);
	mp_obj_t *stop = ex_cstr("STOP");
	for (int i = 0; i < NUMBER_OF_PROCESSES; i++)
		ex_check(mp_queue_put_obj(task_queue, stop, MP_FOREVER), "put");
	mp_obj_decref(stop);
	int status = 0;
	for (int i = 0; i < NUMBER_OF_PROCESSES; i++) {
		int code = -1;
		mp_process_join(workers[i], MP_FOREVER);
		mp_process_exitcode(workers[i], &code);
		status |= code != 0;
		mp_process_free(workers[i]);
	}
	mp_queue_free(task_queue);
	mp_queue_free(done_queue);
	return status;
}
