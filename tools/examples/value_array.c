/*
 * value_array - the seed's shared-memory section (seed 003, 共享内存):
 * Value and Array changed by a child, read by the parent.
 *
 * Python:
 *     def f(n, a):
 *         n.value = 3.1415927
 *         for i in range(len(a)):
 *             a[i] = -a[i]
 *
 *     num = Value('d', 0.0)
 *     arr = Array('i', range(10))
 *     p = Process(target=f, args=(num, arr))
 *     p.start()
 *     p.join()
 *     print(num.value)
 *     print(arr[:])
 *
 * Two ways:
 *
 *   value_array          as the seed: the objects come from the shared heap
 *                        and f runs in a forked child.
 *   value_array shm      the objects live in a named segment; f runs in a
 *                        second, unrelated program (this one, exec'd as
 *                        `value_array attach NAME`), which maps the segment
 *                        by name at an address of its own.  Python's way:
 *                        SharedMemory(create=True) + SharedMemory(name).
 *
 * Both print the seed's two lines, and "f ran in pid N" from f; the shm way
 * also prints both programs' addresses of the segment.
 */
#include "example.h"

#include <spawn.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

/* The segment's contents: fixed offsets, no pointers. */
struct board {
	mp_value_t num;
	_Alignas(64) unsigned char arr[]; /* Array('i', 10) */
};

static int f(mp_value_t *n, mp_array_t *a)
{
	printf("f ran in pid %d\n", (int)getpid());
	ex_check(mp_value_set_double(n, 3.1415927, MP_FOREVER), "n.value =");
	for (long i = 0; i < mp_array_len(a); i++) {
		int64_t x;
		ex_check(mp_array_get_i64(a, (size_t)i, &x, MP_FOREVER), "a[i]");
		ex_check(mp_array_set_i64(a, (size_t)i, -x, MP_FOREVER), "a[i] =");
	}
	return 0;
}

static void print_results(mp_value_t *num, mp_array_t *arr)
{
	double d;
	ex_check(mp_value_get_double(num, &d, MP_FOREVER), "num.value");
	printf("%.7f\n[", d);
	for (long i = 0; i < mp_array_len(arr); i++) {
		int64_t x;
		ex_check(mp_array_get_i64(arr, (size_t)i, &x, MP_FOREVER), "arr");
		printf("%s%lld", i ? ", " : "", (long long)x);
	}
	printf("]\n");
}

static const int range10[10] = { 0, 1, 2, 3, 4, 5, 6, 7, 8, 9 };

static mp_value_t *g_num;
static mp_array_t *g_arr;

static int child(void *arg)
{
	(void)arg;
	return f(g_num, g_arr);
}

/* The seed as it is: heap objects, a forked child. */
static int with_fork(void)
{
	int err = 0;
	double zero = 0.0;
	g_num = mp_value_new('d', &zero, 0, &err);
	if (!g_num)
		ex_check(err, "Value");
	g_arr = mp_array_new('i', 10, range10, 0, &err);
	if (!g_arr)
		ex_check(err, "Array");
	ex_join(ex_start(child, NULL));
	print_results(g_num, g_arr);
	mp_value_free(g_num);
	mp_array_free(g_arr);
	return 0;
}

/* The second program: map the segment by name, run f. */
static int attach(const char *name)
{
	int err = 0;
	mp_shm_t *s = mp_shm_attach(name, 0, &err);
	if (!s)
		ex_check(err, "mp_shm_attach");
	struct board *b = mp_shm_buf(s);
	printf("attached %s at %p\n", name, (void *)b);
	f(&b->num, (mp_array_t *)b->arr);
	mp_shm_close(s);
	return 0;
}

static int with_segment(const char *self)
{
	int err = 0;
	long asize = mp_array_size('i', 10, 0);
	ex_check((int)asize, "mp_array_size");
	/* SharedMemory(create=True, size=...): a random psm_ name. */
	mp_shm_t *s = mp_shm_create(NULL, sizeof(struct board) + (size_t)asize,
	                            0, &err);
	if (!s)
		ex_check(err, "mp_shm_create");
	struct board *b = mp_shm_buf(s);
	double zero = 0.0;
	ex_check(mp_value_init(&b->num, 'd', &zero, 0), "Value");
	ex_check(mp_array_init((mp_array_t *)b->arr, 'i', 10, range10, 0),
	         "Array");
	printf("created %s at %p\n", mp_shm_name(s), (void *)b);
	fflush(stdout);

	/* An unrelated program, not a fork: it finds the segment by name. */
	const char *argv[] = { self, "attach", mp_shm_name(s), NULL };
	pid_t pid;
	int r = posix_spawn(&pid, "/proc/self/exe", NULL, NULL, (char **)argv,
	                    environ);
	if (r != 0)
		ex_check(-r, "posix_spawn");
	int st = 0;
	waitpid(pid, &st, 0);
	if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
		fprintf(stderr, "the second program failed\n");
		mp_shm_unlink(mp_shm_name(s));
		return 1;
	}
	print_results(&b->num, (mp_array_t *)b->arr);
	/* shm.close(); shm.unlink(): the name goes only when we say so. */
	ex_check(mp_shm_unlink(mp_shm_name(s)), "mp_shm_unlink");
	mp_shm_close(s);
	return 0;
}

int main(int argc, char **argv)
{
	ex_init();
	if (argc == 3 && !strcmp(argv[1], "attach"))
		return attach(argv[2]);
	if (argc == 2 && !strcmp(argv[1], "shm"))
		return with_segment(argv[0]);
	return with_fork();
}
