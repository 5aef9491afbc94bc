/* fork.c - keep per-process state right across fork(). */
#include "internal.h"

#include <pthread.h>

static pthread_once_t atfork_once = PTHREAD_ONCE_INIT;

static void before_fork(void)
{
	/* Best effort for forks mproc does not make itself (mp_process_start
	 * makes the heap and reports failures): a heap made only later would be
	 * private to whichever process made it. */
	(void)mp__heap_ensure();
	mp__pool_before_fork();
}

static void in_parent(void)
{
	mp__pool_after_fork_parent();
}

MP_SYS_FORK_PATH
static void in_child(void)
{
	mp__process_after_fork();
	mp__pool_after_fork();
}

static void register_handlers(void)
{
	(void)pthread_atfork(before_fork, in_parent, in_child);
}

void mp__atfork_register(void)
{
	pthread_once(&atfork_once, register_handlers);
}
