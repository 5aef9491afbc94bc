/*
 * queue_workers - the seed's Queue example: a task queue feeding 4 worker
 * processes and a done queue collecting their results.
 *
 * Python:
 *     def worker(input, output):
 *         for func, args in iter(input.get, 'STOP'):
 *             output.put(calculate(func, args))
 *     ... 20 mul tasks, 4 workers, print 20 results, 10 plus tasks, print
 *     10 results, then one 'STOP' per worker.
 *
 * Python pickles (func, args) tuples; C cannot send functions (and mproc
 * never runs code that came from a message), so a task is a small struct
 * naming the operation.  The seed sleeps up to 0.5 s per task; we sleep up
 * to 50 ms.
 */
#include "example.h"

#include <string.h>
#include <unistd.h>

#define NUMBER_OF_PROCESSES 4

struct task {
	char op[8]; /* "mul", "plus", or "STOP" */
	int a, b;
};

static mp_queue_t *task_queue, *done_queue;

static int calculate(const struct task *t, char *out, size_t cap)
{
	int result = strcmp(t->op, "mul") == 0 ? t->a * t->b : t->a + t->b;
	usleep((useconds_t)(rand() % 50000));
	return snprintf(out, cap, "%s says that %s(%d, %d) = %d",
	                mp_process_name(mp_current_process()), t->op, t->a,
	                t->b, result);
}

static int worker(void *arg)
{
	struct task t;
	size_t len;
	char result[128];

	(void)arg;
	srand((unsigned)getpid());
	for (;;) {
		if (mp_queue_get(task_queue, &t, sizeof(t), &len, MP_FOREVER) < 0)
			return 1;
		if (strcmp(t.op, "STOP") == 0)
			return 0;
		int n = calculate(&t, result, sizeof(result));
		if (mp_queue_put(done_queue, result, (size_t)n + 1, MP_FOREVER) < 0)
			return 1;
	}
}

static int put_task(const char *op, int a, int b)
{
	struct task t = { .a = a, .b = b };
	snprintf(t.op, sizeof(t.op), "%s", op);
	return mp_queue_put(task_queue, &t, sizeof(t), MP_FOREVER);
}

static int print_results(int n)
{
	char result[128];
	size_t len;
	for (int i = 0; i < n; i++) {
		if (mp_queue_get(done_queue, result, sizeof(result), &len,
		                 MP_FOREVER) < 0)
			return -1;
		printf("\t %s\n", result);
	}
	fflush(stdout);
	return 0;
}

int main(void)
{
	int err;
	mp_process_t *workers[NUMBER_OF_PROCESSES];

	task_queue = mp_queue_new(NULL, &err);
	done_queue = mp_queue_new(NULL, &err);
	ex_check(task_queue && done_queue ? 0 : err, "mp_queue_new");
	for (int i = 0; i < 20; i++)
		put_task("mul", i, 7);
	for (int i = 0; i < NUMBER_OF_PROCESSES; i++)
		workers[i] = ex_start(worker, NULL);
	printf("Unordered results:\n");
	if (print_results(20) < 0)
		return 1;
	for (int i = 0; i < 10; i++)
		put_task("plus", i, 8);
	if (print_results(10) < 0)
		return 1;
	for (int i = 0; i < NUMBER_OF_PROCESSES; i++)
		put_task("STOP", 0, 0);
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
