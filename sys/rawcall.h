/*
 * rawcall.h - system calls made inline, for the code a fork child runs.
 *
 * fork(2) copies no page-table entries of a library's code: each 64 KiB
 * stretch of code a new child runs is a page fault, 12-20 us on this VM.
 * libc's syscall(3), sigprocmask and _exit each live in a stretch of
 * libc the child would otherwise never touch before its target, so the
 * child's path (MP_SYS_FORK_PATH, gathered in .text.hot) makes its
 * system calls itself.  A clone made here returns in the child right
 * here too, not in libc.  Returns what the kernel returned: -errno on
 * failure.  Elsewhere than x86-64 and AArch64, syscall(3).
 */
#ifndef MP_SYS_RAWCALL_H
#define MP_SYS_RAWCALL_H

#include <errno.h>
#include <unistd.h>

static inline long mp_sys_raw(long nr, long a, long b, long c, long d)
{
#if defined(__x86_64__)
	register long r10 __asm__("r10") = d;
	long ret;
	__asm__ __volatile__("syscall"
	                     : "=a"(ret)
	                     : "a"(nr), "D"(a), "S"(b), "d"(c), "r"(r10)
	                     : "rcx", "r11", "memory");
	return ret;
#elif defined(__aarch64__)
	register long x8 __asm__("x8") = nr;
	register long x0 __asm__("x0") = a;
	register long x1 __asm__("x1") = b;
	register long x2 __asm__("x2") = c;
	register long x3 __asm__("x3") = d;
	__asm__ __volatile__("svc 0"
	                     : "+r"(x0)
	                     : "r"(x8), "r"(x1), "r"(x2), "r"(x3)
	                     : "memory");
	return x0;
#else
	long r = syscall(nr, a, b, c, d);
	return r < 0 ? -errno : r;
#endif
}

#endif
