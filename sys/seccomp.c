/*
 * seccomp.c - the pool workers' sandbox, built with libseccomp.
 *
 * Everything not allowed traps (SECCOMP_RET_TRAP): the kernel skips the
 * call and raises SIGSYS in the worker, whose handler records the call's
 * number for the pool before the worker exits.  Killing outright
 * (RET_KILL_PROCESS) would lose which call it was.
 *
 * Compiling a filter with libseccomp takes a few hundred microseconds, on
 * the path of a pool's first task if every worker did it.  So the pool
 * compiles once, in its creator, into a BPF program in which the worker's
 * own pid (the one argument that differs between workers: signals may go
 * to itself only) is a placeholder; each worker patches the placeholder
 * with its pid and loads the program with one seccomp(2) call.
 */
#include "mpsys.h"

#include <errno.h>
#include <fcntl.h>
#include <seccomp.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <string.h>
#include <sys/ioctl.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

/* Computing: memory, futexes, descriptors already open, clocks, sleeping,
 * signals to itself, exit. */
static const int compute_calls[] = {
	SCMP_SYS(read), SCMP_SYS(write), SCMP_SYS(readv), SCMP_SYS(writev),
	SCMP_SYS(pread64), SCMP_SYS(pwrite64), SCMP_SYS(lseek),
	SCMP_SYS(close), SCMP_SYS(fstat),
	SCMP_SYS(brk), SCMP_SYS(mmap), SCMP_SYS(munmap), SCMP_SYS(mremap),
	SCMP_SYS(mprotect), SCMP_SYS(madvise),
	SCMP_SYS(futex), SCMP_SYS(futex_waitv), SCMP_SYS(sched_yield),
	SCMP_SYS(sched_getaffinity), SCMP_SYS(getrandom),
	SCMP_SYS(clock_gettime), SCMP_SYS(clock_getres), SCMP_SYS(gettimeofday),
	SCMP_SYS(clock_nanosleep), SCMP_SYS(nanosleep),
	SCMP_SYS(getpid), SCMP_SYS(gettid), SCMP_SYS(getppid),
	SCMP_SYS(rt_sigreturn), SCMP_SYS(rt_sigprocmask), SCMP_SYS(restart_syscall),
	SCMP_SYS(exit), SCMP_SYS(exit_group),
	/* Whether a lock's holder has ended (sys/thread.c): a thread pidfd,
	 * fstat and a poll on it.  A pidfd only observes here: signals,
	 * waitid and pidfd_getfd stay forbidden. */
	SCMP_SYS(pidfd_open), SCMP_SYS(ppoll),
};

static _Atomic bool loaded;

bool mp_sys_sandboxed(void)
{
	return atomic_load_explicit(&loaded, memory_order_relaxed);
}

static int add_compute(scmp_filter_ctx ctx, pid_t self)
{
	int r = 0;
	for (size_t i = 0; r == 0 && i < sizeof(compute_calls) / sizeof(int); i++)
		r = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, compute_calls[i], 0);
	/* Signals to itself only: abort() and raise() work, nothing else. */
	if (r == 0)
		r = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(tgkill), 1,
		                     SCMP_A0(SCMP_CMP_EQ, (scmp_datum_t)self));
	if (r == 0)
		r = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(kill), 1,
		                     SCMP_A0(SCMP_CMP_EQ, (scmp_datum_t)self));
	/* stdio looks at open descriptors: fstat by descriptor
	 * (newfstatat with AT_EMPTY_PATH) and "is it a terminal". */
	if (r == 0)
		r = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(newfstatat), 1,
		                     SCMP_A3(SCMP_CMP_MASKED_EQ, AT_EMPTY_PATH,
		                             AT_EMPTY_PATH));
	if (r == 0)
		r = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(ioctl), 1,
		                     SCMP_A1(SCMP_CMP_EQ, TCGETS));
	return r;
}

/* Not a pid (above PID_MAX_LIMIT), so it appears in the program only
 * where the worker's pid belongs. */
#define PID_PLACEHOLDER 0x7ffffe5bu

/* libseccomp's BPF for a context, read back from a memfd. */
static int export(scmp_filter_ctx ctx, struct mp_sys_filter *f)
{
	int fd = memfd_create("mproc-bpf", MFD_CLOEXEC), r;
	if (fd < 0)
		return -errno;
	r = seccomp_export_bpf(ctx, fd);
	off_t len = r == 0 ? lseek(fd, 0, SEEK_END) : -1;
	if (r == 0 && (len <= 0 || len % sizeof(struct sock_filter) ||
	               len / sizeof(struct sock_filter) > BPF_MAXINSNS))
		r = -EINVAL;
	if (r == 0 && !(f->insns = malloc((size_t)len)))
		r = -ENOMEM;
	if (r == 0 && pread(fd, f->insns, (size_t)len, 0) != len)
		r = -EIO;
	if (r == 0)
		f->len = (unsigned short)(len / sizeof(struct sock_filter));
	close(fd);
	return r;
}

int mp_sys_sandbox_compile(int (*rules)(void *ctx, void *arg), void *arg,
                           struct mp_sys_filter *f)
{
	memset(f, 0, sizeof(*f));
	scmp_filter_ctx ctx = seccomp_init(SCMP_ACT_TRAP);
	if (!ctx)
		return -ENOMEM;
#if SCMP_VER_MAJOR > 2 || (SCMP_VER_MAJOR == 2 && SCMP_VER_MINOR >= 5)
	/* A binary tree on the call number rather than a chain of tests:
	 * besides each call's check, loading the filter gets cheaper - the
	 * kernel runs it for every call number to build its cache of
	 * always-allowed calls, and the chain made that a tenth of a pool's
	 * startup.  Best effort: a chain works too. */
	(void)seccomp_attr_set(ctx, SCMP_FLTATR_CTL_OPTIMIZE, 2);
#endif
	int r = add_compute(ctx, (pid_t)PID_PLACEHOLDER);
	if (r == 0 && rules)
		r = rules(ctx, arg);
	if (r == 0)
		r = export(ctx, f);
	seccomp_release(ctx);
	if (r < 0)
		mp_sys_sandbox_free(f);
	return r < 0 ? r : 0;
}

/* Filters up to this long are patched in a stack buffer: in a new worker
 * a malloc'd one costs two page faults (the arena, the block), 30 us on
 * the way to its first task here; the compute filter has 64 insns. */
#define STACK_INSNS 256

int mp_sys_sandbox_load(const struct mp_sys_filter *f, pid_t self)
{
	struct sock_filter local[STACK_INSNS];
	struct sock_filter *insns = f->len <= STACK_INSNS ? local
	                          : malloc(f->len * sizeof(*insns));
	if (!insns)
		return -ENOMEM;
	memcpy(insns, f->insns, f->len * sizeof(*insns));
	for (unsigned i = 0; i < f->len; i++)
		if (BPF_CLASS(insns[i].code) == BPF_JMP &&
		    BPF_SRC(insns[i].code) == BPF_K &&
		    insns[i].k == PID_PLACEHOLDER)
			insns[i].k = (uint32_t)self;
	struct sock_fprog prog = { .len = f->len, .filter = insns };
	int r = 0;
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0 ||
	    syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &prog) < 0)
		r = -errno;
	else
		atomic_store_explicit(&loaded, true, memory_order_relaxed);
	if (insns != local)
		free(insns);
	return r;
}

void mp_sys_sandbox_free(struct mp_sys_filter *f)
{
	free(f->insns);
	f->insns = NULL;
	f->len = 0;
}

void mp_sys_syscall_name(int nr, char *buf, size_t len)
{
	char *name = seccomp_syscall_resolve_num_arch(SCMP_ARCH_NATIVE, nr);
	if (name)
		snprintf(buf, len, "%s", name);
	else
		snprintf(buf, len, "syscall %d", nr);
	free(name);
}
