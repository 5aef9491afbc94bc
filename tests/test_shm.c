/*
 * test_shm.c - named and anonymous segments, and ShareableList: names and
 * errors, reservation (-ENOSPC on a small tmpfs, never SIGBUS), anonymous
 * segments' lifetime, leaks, mproc objects shared by two unrelated
 * programs at different addresses, and CPython 3.11-3.13 on the other
 * side of both.
 */
#include "pyutil.h"

#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

/* A name of our own for this run. */
static const char *tname(const char *what)
{
	static char buf[4][96];
	static int k;
	char *b = buf[k++ % 4];
	snprintf(b, 96, "mproc-test-%d-%s", (int)getpid(), what);
	return b;
}

static bool exists(const char *name)
{
	char path[320];
	struct stat st;
	snprintf(path, sizeof(path), "/dev/shm/%s", name);
	return stat(path, &st) == 0;
}

/* Entries of /proc/self/fd, lines of /proc/self/maps. */
static int count_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	int n = 0;
	for (struct dirent *e; d && (e = readdir(d));)
		n += e->d_name[0] != '.';
	if (d)
		closedir(d);
	return n;
}

static int count_maps(const char *needle)
{
	FILE *f = fopen("/proc/self/maps", "re");
	char line[512];
	int n = 0;
	while (f && fgets(line, sizeof(line), f))
		n += !needle || strstr(line, needle) != NULL;
	if (f)
		fclose(f);
	return n;
}

/* ---- names, errors, lifecycle ------------------------------------------------ */

static void test_names(void)
{
	int err = 0;
	const char *name = tname("names");
	char slashed[128];
	snprintf(slashed, sizeof(slashed), "/%s", name);

	mp_shm_t *a = mp_shm_create(name, 10000, 0, &err);
	CU_ASSERT_PTR_NOT_NULL_FATAL(a);
	CU_ASSERT_STRING_EQUAL(mp_shm_name(a), name);
	MPT_EQ(mp_shm_size(a), 10000);
	MPT_EQ((uintptr_t)mp_shm_buf(a) % 4096, 0);
	MPT_ERR(mp_shm_fd(a), -EINVAL);
	/* Reserved up front, mode 0600. */
	struct stat st;
	char path[160];
	snprintf(path, sizeof(path), "/dev/shm/%s", name);
	MPT_OK(stat(path, &st));
	MPT_EQ(st.st_mode & 0777, 0600);
	MPT_EQ(st.st_size, 10000);
	MPT_CMP((long long)st.st_blocks * 512, >=, 10000);
	unsigned char *p = mp_shm_buf(a);
	MPT_EQ(p[0] | p[9999], 0);
	memcpy(p, "hello", 5);

	/* The same segment with or without the slash, at another address. */
	MPT_ERR((mp_shm_create(name, 10, 0, &err), err), -EEXIST);
	MPT_ERR((mp_shm_create(slashed, 10, 0, &err), err), -EEXIST);
	mp_shm_t *b = mp_shm_attach(slashed, 0, &err);
	CU_ASSERT_PTR_NOT_NULL_FATAL(b);
	CU_ASSERT(mp_shm_buf(b) != mp_shm_buf(a));
	MPT_EQ(mp_shm_size(b), 10000);
	CU_ASSERT_STRING_EQUAL(mp_shm_name(b), name);
	MPT_EQ(memcmp(mp_shm_buf(b), "hello", 5), 0);
	/* Close never unlinks. */
	MPT_OK(mp_shm_close(a));
	MPT_OK(mp_shm_close(b));
	CU_ASSERT(exists(name));
	mp_shm_t *c = mp_shm_attach(name, MP_SHM_RDONLY, &err);
	CU_ASSERT_PTR_NOT_NULL_FATAL(c);
	MPT_EQ(memcmp(mp_shm_buf(c), "hello", 5), 0);
	char probe[64];
	snprintf(probe, sizeof(probe), "%lx-", (unsigned long)mp_shm_buf(c));
	FILE *f = fopen("/proc/self/maps", "re");
	char line[512];
	bool ro = false;
	while (f && fgets(line, sizeof(line), f))
		if (!strncmp(line, probe, strlen(probe)))
			ro = strstr(line, " r--s ") != NULL;
	fclose(f);
	CU_ASSERT(ro);
	MPT_OK(mp_shm_unlink(slashed));
	CU_ASSERT(!exists(name));
	/* Still mapped after the unlink. */
	MPT_EQ(memcmp(mp_shm_buf(c), "hello", 5), 0);
	MPT_OK(mp_shm_close(c));
	MPT_ERR((mp_shm_attach(name, 0, &err), err), -ENOENT);
	MPT_ERR(mp_shm_unlink(name), -ENOENT);

	/* A random name, as Python's. */
	mp_shm_t *r = mp_shm_create(NULL, 1, MP_SHM_SPARSE, &err);
	CU_ASSERT_PTR_NOT_NULL_FATAL(r);
	const char *rn = mp_shm_name(r);
	MPT_EQ(strlen(rn), 12);
	MPT_EQ(strncmp(rn, "psm_", 4), 0);
	MPT_EQ(strspn(rn + 4, "0123456789abcdef"), 8);
	snprintf(path, sizeof(path), "/dev/shm/%s", rn);
	MPT_OK(stat(path, &st));
	MPT_EQ(st.st_blocks, 0); /* sparse: nothing reserved */
	MPT_OK(mp_shm_unlink(rn));
	MPT_OK(mp_shm_close(r));
}

/* Made unnamed, named when whole; a name taken meanwhile is not replaced. */
static void test_hidden_until_whole(void)
{
	int err = 0;
	const char *name = tname("hidden");
	mp_shm_t *h = mp__shm_create_hidden(name, 4096, 0, &err);
	CU_ASSERT_PTR_NOT_NULL_FATAL(h);
	CU_ASSERT(!exists(name));
	MPT_ERR((mp_shm_attach(name, 0, &err), err), -ENOENT);
	memcpy(mp_shm_buf(h), "whole", 5);
	MPT_OK(mp__shm_publish(h));
	mp_shm_t *a = mp_shm_attach(name, 0, &err);
	CU_ASSERT_PTR_NOT_NULL_FATAL(a);
	MPT_EQ(memcmp(mp_shm_buf(a), "whole", 5), 0);
	mp_shm_close(a);

	/* Someone takes the name first: -EEXIST, theirs untouched. */
	mp_shm_t *late = mp__shm_create_hidden(name, 4096, 0, &err);
	CU_ASSERT_PTR_NOT_NULL_FATAL(late);
	MPT_ERR(mp__shm_publish(late), -EEXIST);
	mp__shm_abandon(late);
	a = mp_shm_attach(name, 0, &err);
	CU_ASSERT_PTR_NOT_NULL_FATAL(a);
	MPT_EQ(memcmp(mp_shm_buf(a), "whole", 5), 0);
	mp_shm_close(a);
	MPT_OK(mp_shm_unlink(name));
	mp_shm_close(h);

	/* A random name is drawn when published. */
	mp_shm_t *r = mp__shm_create_hidden(NULL, 4096, 0, &err);
	CU_ASSERT_PTR_NOT_NULL_FATAL(r);
	CU_ASSERT_STRING_EQUAL(mp_shm_name(r), "");
	MPT_OK(mp__shm_publish(r));
	MPT_EQ(strncmp(mp_shm_name(r), "psm_", 4), 0);
	CU_ASSERT(exists(mp_shm_name(r)));
	MPT_OK(mp_shm_unlink(mp_shm_name(r)));
	mp_shm_close(r);

	/* An unprivileged user names it too: AT_EMPTY_PATH needs
	 * CAP_DAC_READ_SEARCH before Linux 6.10 (for a file the caller opened
	 * itself), where the link goes through /proc/self/fd instead. */
	if (geteuid() != 0) {
		MPT_SKIP("not root: linking as another user is NOT tested");
		return;
	}
	/* A machine whose /dev/shm is a plain root-owned directory (not the
	 * usual sticky, world-writable tmpfs) lets no other user create
	 * anything there, with or without mproc. */
	struct stat dir;
	if (stat("/dev/shm", &dir) < 0 || !(dir.st_mode & S_IWOTH)) {
		MPT_SKIP("/dev/shm is not writable by other users here: "
		         "linking as another user is NOT tested");
		return;
	}
	const char *uname = tname("nobody");
	pid_t pid = fork();
	if (pid == 0) {
		if (setgid(65534) < 0 || setuid(65534) < 0)
			_exit(77);
		mp_shm_t *u = mp_shm_create(uname, 4096, 0, &err);
		_exit(u ? 0 : 10);
	}
	int st = 0;
	waitpid(pid, &st, 0);
	MPT_EQ(WIFEXITED(st) ? WEXITSTATUS(st) : -1, 0);
	char path[160];
	struct stat sb;
	snprintf(path, sizeof(path), "/dev/shm/%s", uname);
	MPT_OK(stat(path, &sb));
	MPT_EQ(sb.st_uid, 65534);
	MPT_EQ(sb.st_mode & 0777, 0600);
	MPT_OK(mp_shm_unlink(uname));
}

static void test_bad_input(void)
{
	int err = 0;
	char longname[300];
	memset(longname, 'a', sizeof(longname));
	longname[MP_SHM_NAME_MAX + 1] = 0;
	const char *bad[] = { "", "/", "a/b", "//a", ".", "..", "/..", longname };
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		err = 0;
		CU_ASSERT_PTR_NULL(mp_shm_create(bad[i], 10, 0, &err));
		MPT_ERR(err, -EINVAL);
		err = 0;
		CU_ASSERT_PTR_NULL(mp_shm_attach(bad[i], 0, &err));
		MPT_ERR(err, -EINVAL);
		MPT_ERR(mp_shm_unlink(bad[i]), -EINVAL);
	}
	/* The longest name is fine. */
	longname[MP_SHM_NAME_MAX] = 0;
	mp_shm_t *s = mp_shm_create(longname, 10, 0, &err);
	CU_ASSERT_PTR_NOT_NULL(s);
	MPT_OK(mp_shm_unlink(longname));
	MPT_OK(mp_shm_close(s));

	const char *name = tname("bad");
	MPT_ERR((mp_shm_create(name, 0, 0, &err), err), -EINVAL);
	MPT_ERR((mp_shm_create(name, (size_t)INT64_MAX + 1, 0, &err), err),
	        -EINVAL);
	MPT_ERR((mp_shm_create(name, 10, 0x80, &err), err), -EINVAL);
	MPT_ERR((mp_shm_create(name, 10, MP_SHM_RDONLY, &err), err), -EINVAL);
	CU_ASSERT(!exists(name));
	MPT_ERR((mp_shm_attach(NULL, 0, &err), err), -EINVAL);
	MPT_ERR(mp_shm_unlink(NULL), -EINVAL);
	MPT_ERR((mp_shm_anon(0, 0, &err), err), -EINVAL);
	MPT_ERR((mp_shm_anon(10, MP_SHM_RDONLY, &err), err), -EINVAL);
	MPT_ERR((mp_shm_attach_fd(-1, 0, &err), err), -EBADF);
	MPT_ERR((mp_shm_attach_fd(999, 0, &err), err), -EBADF);
	MPT_ERR(mp_shm_close(NULL), -EINVAL);
	CU_ASSERT_PTR_NULL(mp_shm_buf(NULL));
	MPT_EQ(mp_shm_size(NULL), 0);
	CU_ASSERT_PTR_NULL(mp_shm_name(NULL));
	MPT_ERR(mp_shm_fd(NULL), -EINVAL);
	/* NULL err is allowed. */
	CU_ASSERT_PTR_NULL(mp_shm_create(NULL, 0, 0, NULL));

	/* An empty segment (made by someone else) has nothing to map. */
	char path[160];
	snprintf(path, sizeof(path), "/dev/shm/%s", name);
	int fd = open(path, O_CREAT | O_EXCL | O_RDWR | O_CLOEXEC, 0600);
	MPT_OK(fd);
	MPT_ERR((mp_shm_attach(name, 0, &err), err), -ENODATA);
	close(fd);
	MPT_OK(mp_shm_unlink(name));

	/* Descriptors that are not sealed anonymous segments. */
	int pfd[2];
	MPT_OK(pipe2(pfd, O_CLOEXEC));
	MPT_ERR((mp_shm_attach_fd(pfd[0], 0, &err), err), -EINVAL);
	close(pfd[0]);
	close(pfd[1]);
	int mfd = mp_sys_memfd("unsealed", 4096);
	MPT_OK(mfd);
	MPT_ERR((mp_shm_attach_fd(mfd, 0, &err), err), -EINVAL);
	close(mfd);
}

/* ---- anonymous segments ------------------------------------------------------ */

static void test_anon(void)
{
	int err = 0;
	int fds0 = count_fds(), maps0 = count_maps("memfd:mproc-shm");
	mp_shm_t *a = mp_shm_anon(8192, 0, &err);
	CU_ASSERT_PTR_NOT_NULL_FATAL(a);
	CU_ASSERT_STRING_EQUAL(mp_shm_name(a), "");
	int fd = mp_shm_fd(a);
	MPT_OK(fd);
	int seals = fcntl(fd, F_GET_SEALS);
	MPT_EQ(seals & (F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL),
	       F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL);
	/* Nobody can resize it: no mapping of it can fault. */
	MPT_EQ(ftruncate(fd, 0), -1);
	MPT_EQ(errno, EPERM);
	/* Reserved. */
	struct stat st;
	MPT_OK(fstat(fd, &st));
	MPT_CMP((long long)st.st_blocks * 512, >=, 8192);

	/* Shared by fork: the child writes, we see it. */
	char *p = mp_shm_buf(a);
	pid_t pid = fork();
	if (pid == 0) {
		strcpy(p + 100, "from the child");
		mp_shm_close(a);
		_exit(0);
	}
	int stt = 0;
	waitpid(pid, &stt, 0);
	MPT_EQ(stt, 0);
	MPT_EQ(strcmp(p + 100, "from the child"), 0);

	/* Shared by sending the descriptor. */
	mp_conn_t *c1, *c2;
	MPT_OK(mp_pipe(true, &c1, &c2));
	MPT_OK(mp_conn_send_fd(c1, fd, TEST_WAIT_NS));
	int got = mp_conn_recv_fd(c2, TEST_WAIT_NS);
	MPT_OK(got);
	mp_shm_t *b = mp_shm_attach_fd(got, 0, &err);
	CU_ASSERT_PTR_NOT_NULL_FATAL(b);
	close(got); /* the handle keeps its own */
	CU_ASSERT(mp_shm_buf(b) != mp_shm_buf(a));
	MPT_EQ(mp_shm_size(b), 8192);
	MPT_EQ(strcmp((char *)mp_shm_buf(b) + 100, "from the child"), 0);
	mp_shm_t *ro = mp_shm_attach_fd(mp_shm_fd(b), MP_SHM_RDONLY, &err);
	CU_ASSERT_PTR_NOT_NULL_FATAL(ro);
	mp_conn_close(c1);
	mp_conn_close(c2);

	/* Gone with its last descriptor and mapping: while a holder is left it
	 * lives; then no descriptor or mapping of it is anywhere. */
	MPT_OK(mp_shm_close(a));
	MPT_OK(mp_shm_close(ro));
	MPT_EQ(strcmp((char *)mp_shm_buf(b) + 100, "from the child"), 0);
	MPT_EQ(count_maps("memfd:mproc-shm"), maps0 + 1);
	MPT_OK(mp_shm_close(b));
	MPT_EQ(count_maps("memfd:mproc-shm"), maps0);
	MPT_EQ(count_fds(), fds0);

	/* Sparse anonymous: nothing reserved. */
	mp_shm_t *s = mp_shm_anon(1 << 20, MP_SHM_SPARSE, &err);
	CU_ASSERT_PTR_NOT_NULL_FATAL(s);
	MPT_OK(fstat(mp_shm_fd(s), &st));
	MPT_EQ(st.st_blocks, 0);
	MPT_OK(mp_shm_close(s));
}

/* ---- -ENOSPC, never SIGBUS ------------------------------------------------- */

/* In a child with a private mount namespace and a 1 MiB /dev/shm: exit 0
 * when all went as promised, 77 when that cannot be set up, else the
 * number of the check that failed. */
static int small_tmpfs_child(void)
{
	int err = 0;
	if (unshare(CLONE_NEWNS) < 0)
		return 77;
	if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0 ||
	    mount("tmpfs", "/dev/shm", "tmpfs", 0, "size=1m,mode=1777") < 0)
		return 77;
	/* Reserved: a clear error at creation, and no name left behind. */
	if (mp_shm_create("big", 4 << 20, 0, &err) || err != -ENOSPC)
		return 10;
	if (exists("big"))
		return 11;
	if (mp_shm_anon(4 << 20, 0, &err) == NULL && err != -ENOSPC &&
	    err != -ENOMEM)
		return 12; /* memfds are not bound by /dev/shm: may succeed */
	mp_shm_t *ok = mp_shm_create("fits", 512 << 10, 0, &err);
	if (!ok)
		return 13;
	memset(mp_shm_buf(ok), 1, 512 << 10); /* every page is there */
	/* A second reservation no longer fits; a taken name is -EEXIST
	 * still, whatever the size. */
	if (mp_shm_create("more", 768 << 10, 0, &err) || err != -ENOSPC)
		return 14;
	if (mp_shm_create("fits", 768 << 10, 0, &err) || err != -EEXIST)
		return 17;
	/* Python's way (sparse) is created fine ... and its first touch of a
	 * page tmpfs cannot give is SIGBUS: the trap that reservation avoids. */
	mp_shm_t *sp = mp_shm_create("sparse", 4 << 20, MP_SHM_SPARSE, &err);
	if (!sp)
		return 15;
	pid_t pid = fork();
	if (pid == 0) {
		signal(SIGBUS, SIG_DFL);
		memset(mp_shm_buf(sp), 1, 4 << 20);
		_exit(0);
	}
	int st = 0;
	waitpid(pid, &st, 0);
	if (!WIFSIGNALED(st) || WTERMSIG(st) != SIGBUS)
		return 16;
	mp_shm_close(sp);
	mp_shm_close(ok);
	return 0;
}

static void test_enospc(void)
{
	pid_t pid = fork();
	if (pid == 0)
		_exit(small_tmpfs_child());
	int st = 0;
	MPT_EQ(waitpid(pid, &st, 0), pid);
	CU_ASSERT_FATAL(WIFEXITED(st));
	if (WEXITSTATUS(st) == 77) {
		MPT_SKIP("cannot mount a small tmpfs in a private mount "
		         "namespace here (not root?): -ENOSPC is NOT tested");
		return;
	}
	MPT_EQ(WEXITSTATUS(st), 0);
}

/* ---- leaks ------------------------------------------------------------------- */

static void test_no_leaks(void)
{
	int err = 0;
	const char *name = tname("leak");
	mp_shm_t *warm = mp_shm_anon(4096, 0, &err); /* first-use allocations */
	mp_shm_close(warm);
	int fds0 = count_fds(), maps0 = count_maps(NULL);
	for (int i = 0; i < 50; i++) {
		mp_shm_t *a = mp_shm_create(name, 4096 * (1 + i % 3), i & 1,
		                            &err);
		CU_ASSERT_PTR_NOT_NULL_FATAL(a);
		mp_shm_t *b = mp_shm_attach(name, i & 2 ? MP_SHM_RDONLY : 0,
		                            &err);
		CU_ASSERT_PTR_NOT_NULL_FATAL(b);
		CU_ASSERT_PTR_NULL(mp_shm_create(name, 10, 0, &err));
		CU_ASSERT_PTR_NULL(mp_shm_attach("no-such-mproc-seg", 0, &err));
		mp_shm_t *an = mp_shm_anon(4096, 0, &err);
		mp_shm_t *an2 = mp_shm_attach_fd(mp_shm_fd(an), 0, &err);
		CU_ASSERT_PTR_NOT_NULL_FATAL(an2);
		mp_slist_item_t it = { .type = MP_SLIST_STR, .data = "x",
		                       .len = 1 };
		mp_slist_t *l = mp_slist_create(NULL, &it, 1, 0, &err);
		CU_ASSERT_PTR_NOT_NULL_FATAL(l);
		mp_slist_t *l2 = mp_slist_attach(mp_shm_name(mp_slist_shm(l)),
		                                 0, &err);
		CU_ASSERT_PTR_NOT_NULL_FATAL(l2);
		memset(mp_shm_buf(a), 0xff, 16); /* n = -1 */
		CU_ASSERT_PTR_NULL(mp_slist_attach(name, 0, &err));
		MPT_ERR(err, -EBADMSG);
		MPT_OK(mp_shm_unlink(mp_shm_name(mp_slist_shm(l))));
		mp_slist_close(l2);
		mp_slist_close(l);
		mp_shm_close(an2);
		mp_shm_close(an);
		mp_shm_close(b);
		MPT_OK(mp_shm_unlink(name));
		mp_shm_close(a);
	}
	MPT_EQ(count_fds(), fds0);
	MPT_EQ(count_maps(NULL), maps0);
}

/* ---- mproc objects in a segment, two unrelated programs ------------------- */

#define ROUNDS 2000

struct board {
	mp_lock_t lock;
	uint64_t plain;     /* only ever changed under lock */
	mp_value_t hits;
	_Alignas(64) unsigned char queue[];
};

static size_t board_size(const mp_queue_attr_t *qa)
{
	return sizeof(struct board) + mp_queue_footprint(qa);
}

/* The second program: test_shm --peer NAME (exec'd, not forked). */
static int peer_main(const char *name)
{
	int err = 0;
	/* Push our mapping elsewhere than the creator's. */
	void *spacer = mmap(NULL, (size_t)(getpid() % 61 + 3) << 12, PROT_NONE,
	                    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	(void)spacer;
	mp_shm_t *s = mp_shm_attach(name, 0, &err);
	if (!s) {
		printf("attach: %s\n", mp_strerror(err));
		return 1;
	}
	struct board *b = mp_shm_buf(s);
	printf("ADDR %lx\n", (unsigned long)b);
	fflush(stdout);
	mp_queue_t *q = (mp_queue_t *)b->queue;
	for (int i = 0; i < ROUNDS; i++) {
		if (mp_lock_acquire(&b->lock, TEST_WAIT_NS) < 0)
			return 2;
		b->plain++;
		mp_lock_release(&b->lock);
		if (mp_value_add_i64(&b->hits, 1, NULL, TEST_WAIT_NS) < 0)
			return 3;
		if (i % 20 == 0 &&
		    mp_queue_put(q, &i, sizeof(i), TEST_WAIT_NS) < 0)
			return 4;
	}
	mp_shm_close(s);
	return 0;
}

static void test_objects_unrelated(void)
{
	int err = 0;
	const char *name = tname("board");
	mp_queue_attr_t qa = { .max_msg = 64, .capacity = 4096 };
	mp_shm_t *s = mp_shm_create(name, board_size(&qa), 0, &err);
	CU_ASSERT_PTR_NOT_NULL_FATAL(s);
	struct board *b = mp_shm_buf(s);
	MPT_OK(mp_lock_init(&b->lock));
	MPT_OK(mp_value_init(&b->hits, 'q', NULL, 0));
	MPT_OK(mp_queue_init(b->queue, mp_queue_footprint(&qa), &qa));
	mp_queue_t *q = (mp_queue_t *)b->queue;

	char self[512];
	ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	CU_ASSERT_FATAL(n > 0);
	self[n] = 0;
	const char *argv[] = { self, "--peer", name, NULL };
	struct mpt_pyproc pp;
	MPT_OK(mpt_proc_start(argv, "", &pp));
	char line[128];
	MPT_OK(mpt_py_line(&pp, "ADDR ", line, sizeof(line)));
	unsigned long theirs = strtoul(line + 5, NULL, 16);
	CU_ASSERT(theirs != 0 && theirs != (unsigned long)b);

	for (int i = 0; i < ROUNDS; i++) {
		MPT_OK(mp_lock_acquire(&b->lock, TEST_WAIT_NS));
		b->plain++;
		MPT_OK(mp_lock_release(&b->lock));
		MPT_OK(mp_value_add_i64(&b->hits, 1, NULL, TEST_WAIT_NS));
	}
	for (int i = 0; i < ROUNDS; i += 20) {
		int got = -1;
		size_t len = 0;
		MPT_OK(mp_queue_get(q, &got, sizeof(got), &len, TEST_WAIT_NS));
		MPT_EQ(got, i);
	}
	MPT_EQ(mpt_py_finish(&pp), 0);
	int64_t hits = 0;
	MPT_OK(mp_value_get_i64(&b->hits, &hits, 0));
	MPT_EQ(hits, 2 * ROUNDS);
	MPT_EQ(b->plain, 2 * ROUNDS);
	MPT_OK(mp_shm_unlink(name));
	MPT_OK(mp_shm_close(s));
}

/* ---- ShareableList, C only ---------------------------------------------------- */

#define ITEM_INT(v) { .type = MP_SLIST_INT, .i = (v) }
#define ITEM_FLOAT(v) { .type = MP_SLIST_FLOAT, .f = (v) }
#define ITEM_BOOL(v) { .type = MP_SLIST_BOOL, .i = (v) }
#define ITEM_NONE { .type = MP_SLIST_NONE }
#define ITEM_STR(s) { .type = MP_SLIST_STR, .data = (s), .len = sizeof(s) - 1 }
#define ITEM_BYTES(s) { .type = MP_SLIST_BYTES, .data = (s), \
                        .len = sizeof(s) - 1 }

/* The list mproc writes and both sides read. */
static const mp_slist_item_t c_items[] = {
	ITEM_INT(42), ITEM_INT(-7), ITEM_FLOAT(2.5), ITEM_BOOL(1),
	ITEM_BOOL(0), ITEM_NONE, ITEM_STR("h\xc3\xa9llo w\xc3\xb6rld"),
	ITEM_BYTES("ab\0cd\0\0"), ITEM_STR(""), ITEM_BYTES(""),
	/* 10 characters, 20 bytes: Python would size this slot 16 */
	ITEM_STR("\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9"
	         "\xc3\xa9\xc3\xa9\xc3\xa9"),
	ITEM_INT(INT64_MIN),
};
#define C_N (sizeof(c_items) / sizeof(c_items[0]))

static void item_eq(mp_slist_t *l, int64_t i, const mp_slist_item_t *want)
{
	mp_slist_item_t got;
	char buf[256];
	MPT_OK(mp_slist_get(l, i, &got, buf, sizeof(buf)));
	MPT_EQ(got.type, want->type);
	switch (want->type) {
	case MP_SLIST_INT: case MP_SLIST_BOOL:
		MPT_EQ(got.i, want->i);
		break;
	case MP_SLIST_FLOAT:
		CU_ASSERT(got.f == want->f);
		break;
	case MP_SLIST_STR: case MP_SLIST_BYTES:
		MPT_EQ(got.len, want->len);
		CU_ASSERT(got.len == want->len &&
		          !memcmp(got.data, want->data, want->len));
		break;
	}
}

static void test_slist(void)
{
	int err = 0;
	const char *name = tname("slist");
	mp_slist_t *l = mp_slist_create(name, c_items, C_N, 0, &err);
	CU_ASSERT_PTR_NOT_NULL_FATAL(l);
	MPT_EQ(mp_slist_len(l), C_N);
	mp_slist_t *m = mp_slist_attach(name, 0, &err);
	CU_ASSERT_PTR_NOT_NULL_FATAL(m);
	for (size_t i = 0; i < C_N; i++) {
		item_eq(l, (int64_t)i, &c_items[i]);
		item_eq(m, (int64_t)i, &c_items[i]);
		item_eq(m, (int64_t)i - (int64_t)C_N, &c_items[i]);
	}
	MPT_EQ(mp_slist_room(l, 6), 16);  /* 13 bytes */
	MPT_EQ(mp_slist_room(l, 10), 24); /* 20 bytes */
	MPT_EQ(mp_slist_room(l, 8), 8);   /* "" */

	/* Types change; strs and bytes keep their slot. */
	mp_slist_item_t v = ITEM_STR("12345678");
	MPT_OK(mp_slist_set(m, 0, &v)); /* an 8-byte slot holds 8 */
	item_eq(l, 0, &v);
	mp_slist_item_t nine = ITEM_STR("123456789");
	MPT_ERR(mp_slist_set(m, 0, &nine), -EMSGSIZE);
	item_eq(l, 0, &v); /* nothing written */
	mp_slist_item_t fl = ITEM_FLOAT(-0.125);
	MPT_OK(mp_slist_set(m, 6, &fl));
	item_eq(l, 6, &fl);
	mp_slist_item_t none = ITEM_NONE, yes = ITEM_BOOL(5), one = ITEM_BOOL(1);
	MPT_OK(mp_slist_set(m, -1, &none));
	item_eq(l, C_N - 1, &none);
	MPT_OK(mp_slist_set(m, -1, &yes));
	item_eq(l, -1, &one);
	/* Trailing NULs survive, and a value without them is plain again. */
	mp_slist_item_t z = ITEM_BYTES("\0\0\0\0\0\0\0\0");
	MPT_OK(mp_slist_set(m, 7, &z));
	item_eq(l, 7, &z);
	mp_slist_item_t zs = ITEM_STR("x\0");
	MPT_OK(mp_slist_set(m, 7, &zs));
	item_eq(l, 7, &zs);
	mp_slist_item_t plain = ITEM_BYTES("x");
	MPT_OK(mp_slist_set(m, 7, &plain));
	item_eq(l, 7, &plain);

	/* Bad input. */
	mp_slist_item_t got;
	char buf[4];
	MPT_ERR(mp_slist_get(l, (int64_t)C_N, &got, buf, 4), -ERANGE);
	MPT_ERR(mp_slist_get(l, -(int64_t)C_N - 1, &got, buf, 4), -ERANGE);
	MPT_ERR(mp_slist_get(l, 10, &got, buf, 4), -MP_ETOOSHORT);
	MPT_EQ(got.len, 20);
	MPT_ERR(mp_slist_get(l, 0, &got, NULL, 4), -EINVAL);
	MPT_ERR(mp_slist_get(l, 0, NULL, buf, 4), -EINVAL);
	MPT_ERR(mp_slist_get(NULL, 0, &got, buf, 4), -EINVAL);
	MPT_ERR(mp_slist_set(l, (int64_t)C_N, &v), -ERANGE);
	MPT_ERR(mp_slist_set(l, 0, NULL), -EINVAL);
	mp_slist_item_t badt = { .type = 99 };
	MPT_ERR(mp_slist_set(l, 0, &badt), -EINVAL);
	mp_slist_item_t badu = ITEM_STR("\xc3(");
	MPT_ERR(mp_slist_set(l, 6, &badu), -EILSEQ);
	mp_slist_item_t surr = ITEM_STR("\xed\xa0\x80");
	MPT_ERR(mp_slist_set(l, 6, &surr), -EILSEQ);
	mp_slist_item_t nodata = { .type = MP_SLIST_BYTES, .len = 3 };
	MPT_ERR(mp_slist_set(l, 6, &nodata), -EINVAL);
	MPT_ERR(mp_slist_len(NULL), -EINVAL);
	MPT_ERR(mp_slist_room(l, 99), -ERANGE);
	MPT_ERR((mp_slist_create(NULL, &badu, 1, 0, &err), err), -EILSEQ);
	MPT_ERR((mp_slist_create(NULL, NULL, 2, 0, &err), err), -EINVAL);
	mp_slist_item_t huge = { .type = MP_SLIST_BYTES, .data = "",
	                         .room = 10000000 };
	MPT_ERR((mp_slist_create(NULL, &huge, 1, 0, &err), err), -EMSGSIZE);
	MPT_ERR((mp_slist_create(name, c_items, 1, 0, &err), err), -EEXIST);
	MPT_ERR(mp_slist_close(NULL), -EINVAL);

	/* Read-only. */
	mp_slist_t *ro = mp_slist_attach(name, MP_SHM_RDONLY, &err);
	CU_ASSERT_PTR_NOT_NULL_FATAL(ro);
	item_eq(ro, 7, &plain);
	MPT_ERR(mp_slist_set(ro, 0, &v), -EROFS);
	MPT_OK(mp_slist_close(ro));

	/* Corruption is an error, never a crash. */
	uint8_t *base = mp_shm_buf(mp_slist_shm(l));
	uint64_t offn;
	memcpy(&offn, base + 8 * (C_N + 1), 8);
	uint8_t *fmt0 = base + 8 * (C_N + 2) + offn;
	memcpy(fmt0, "zz\0\0\0\0\0\0", 8);
	MPT_ERR(mp_slist_get(m, 0, &got, buf, 4), -EBADMSG);
	memcpy(fmt0, "999s\0\0\0\0", 8); /* beyond its slot */
	MPT_ERR(mp_slist_get(m, 0, &got, buf, 4), -EBADMSG);
	memcpy(fmt0, "q\0\0\0\0\0\0\0", 8);
	base[8 * (C_N + 2) + offn + 8 * C_N] = 9; /* type code */
	MPT_ERR(mp_slist_get(m, 0, &got, buf, 4), -EBADMSG);
	/* A bad header: attach refuses it. */
	int64_t bogus = INT64_MAX;
	memcpy(base, &bogus, 8);
	MPT_ERR((mp_slist_attach(name, 0, &err), err), -EBADMSG);
	bogus = 2;
	memcpy(base, &bogus, 8);
	uint64_t back = 16;
	memcpy(base + 16, &back, 8); /* offsets[1] < offsets[0] + 8 ... */
	memcpy(base + 24, &(uint64_t){ 8 }, 8);
	MPT_ERR((mp_slist_attach(name, 0, &err), err), -EBADMSG);

	/* Random bytes over the formats, codes, data and trailer, item by
	 * item: every read is a value or an error, inside the segment
	 * (the sanitizer build checks the inside). */
	memcpy(base, &(int64_t){ (int64_t)C_N }, 8);
	memcpy(base + 8 * (C_N + 1), &offn, 8);
	uint64_t rng = 0x9e3779b97f4a7c15ull;
	size_t seg = mp_shm_size(mp_slist_shm(l));
	size_t from = 8 * (C_N + 2);
	char big[64];
	for (int round = 0; round < 3000; round++) {
		rng ^= rng << 13, rng ^= rng >> 7, rng ^= rng << 17;
		size_t at = from + rng % (seg - from);
		uint8_t byte = (uint8_t)(rng >> 32);
		/* formats: sometimes a plausible one */
		if (round % 5 == 0 && at + 8 <= seg)
			snprintf((char *)base + at, 8, "%us%s",
			         (unsigned)(rng >> 40) % 40,
			         round % 2 ? " " : "");
		else
			base[at] = byte;
		int r = mp_slist_get(m, (int64_t)(rng % C_N), &got, big,
		                     sizeof(big));
		CU_ASSERT(r == 0 || r == -EBADMSG || r == -EILSEQ ||
		          r == -MP_ETOOSHORT);
	}

	MPT_OK(mp_slist_close(m));
	MPT_OK(mp_shm_unlink(name));
	MPT_OK(mp_slist_close(l));

	/* An empty list, as ShareableList([]). */
	mp_slist_t *e = mp_slist_create(NULL, NULL, 0, 0, &err);
	CU_ASSERT_PTR_NOT_NULL_FATAL(e);
	MPT_EQ(mp_slist_len(e), 0);
	MPT_ERR(mp_slist_get(e, 0, &got, buf, 4), -ERANGE);
	mp_slist_t *e2 = mp_slist_attach(mp_shm_name(mp_slist_shm(e)), 0,
	                                 &err);
	CU_ASSERT_PTR_NOT_NULL(e2);
	mp_slist_close(e2);
	MPT_OK(mp_shm_unlink(mp_shm_name(mp_slist_shm(e))));
	mp_slist_close(e);

	/* room: a slot bigger than Python would make. */
	mp_slist_item_t r = { .type = MP_SLIST_STR, .data = "a", .len = 1,
	                      .room = 100 };
	mp_slist_t *rl = mp_slist_create(NULL, &r, 1, 0, &err);
	CU_ASSERT_PTR_NOT_NULL_FATAL(rl);
	MPT_EQ(mp_slist_room(rl, 0), 104);
	MPT_OK(mp_shm_unlink(mp_shm_name(mp_slist_shm(rl))));
	mp_slist_close(rl);
}

/* ---- CPython on the other side ----------------------------------------------- */

static const char py_script[] =
	"import sys\n"
	"from multiprocessing import shared_memory as sm\n"
	"from multiprocessing import resource_tracker as rt\n"
	"new = sys.version_info >= (3, 13)\n"
	"def untrack(s):\n"
	"    rt.unregister(s._name, 'shared_memory')\n"
	"def attach(name):\n"
	"    if new:\n"
	"        return sm.SharedMemory(name, track=False)\n"
	"    s = sm.SharedMemory(name)\n"
	"    untrack(s)\n"
	"    return s\n"
	"mode = sys.argv[1]\n"
	"if mode == 'seg':\n"
	"    s = attach(sys.argv[2])\n"
	"    print('SIZE', s.size, bytes(s.buf[:5]).hex(), flush=True)\n"
	"    s.buf[8:16] = b'python!!'\n"
	"    s.close()\n"
	"    if new:\n"
	"        t = sm.SharedMemory(create=True, size=12345, track=False)\n"
	"    else:\n"
	"        t = sm.SharedMemory(create=True, size=12345)\n"
	"        untrack(t)\n"
	"    t.buf[:5] = b'hello'\n"
	"    t.buf[12344] = 7\n"
	"    print('MADE', t.name, flush=True)\n"
	"    t.close()\n"
	"else:\n"
	"    l = sm.ShareableList(name=sys.argv[2])\n"
	"    untrack(l.shm)\n"
	"    print('READ', ascii(list(l)), flush=True)\n"
	"    l[0] = 'ab'\n"
	"    l[2] = 1.25\n"
	"    l[3] = None\n"
	"    l[4] = True\n"
	"    l[5] = -3\n"
	"    l[7] = b'zz'\n"
	"    l[10] = '\\u00fc' * 12\n"
	"    l.shm.close()\n"
	"    p = sm.ShareableList([42, -7, 2.5, True, False, None,\n"
	"                          'h\\u00e9llo', b'ab\\x00cd', '', b'',\n"
	"                          'x' * 8, -2**63])\n"
	"    untrack(p.shm)\n"
	"    print('MADE', p.shm.name, bytes(p.shm.buf).hex(), flush=True)\n"
	"    p.shm.close()\n";

/* Python's list above, as mproc items. */
static const mp_slist_item_t py_items[] = {
	ITEM_INT(42), ITEM_INT(-7), ITEM_FLOAT(2.5), ITEM_BOOL(1),
	ITEM_BOOL(0), ITEM_NONE, ITEM_STR("h\xc3\xa9llo"),
	ITEM_BYTES("ab\0cd"), ITEM_STR(""), ITEM_BYTES(""),
	ITEM_STR("xxxxxxxx"), ITEM_INT(INT64_MIN),
};
#define PY_N (sizeof(py_items) / sizeof(py_items[0]))

static bool find_python(int minor, struct mpt_py *py, const char *what)
{
	char why[160];
	if (!mpt_python_find(minor, py)) {
		snprintf(why, sizeof(why), "no python3.%d here: %s is NOT "
		         "tested", minor, what);
		MPT_SKIP(why);
		return false;
	}
	fprintf(stderr, "\n    [python 3.%d: %s%s%s]", minor,
	        py->pyenv[0] ? "PYENV_VERSION=" : "", py->pyenv,
	        py->pyenv[0] ? " python3" : py->exe);
	return true;
}

static void interop_segments(int minor)
{
	struct mpt_py py;
	if (!find_python(minor, &py, "segment interop"))
		return;
	int err = 0;
	const char *name = tname("py-seg");
	mp_shm_t *s = mp_shm_create(name, 5000, 0, &err);
	CU_ASSERT_PTR_NOT_NULL_FATAL(s);
	memcpy(mp_shm_buf(s), "mproc", 5);
	const char *args[] = { "seg", name, NULL };
	struct mpt_pyproc pp;
	char line[256];
	MPT_OK(mpt_py_start(&py, py_script, args, &pp));
	MPT_OK(mpt_py_line(&pp, "SIZE ", line, sizeof(line)));
	CU_ASSERT_STRING_EQUAL(line, "SIZE 5000 6d70726f63");
	MPT_OK(mpt_py_line(&pp, "MADE ", line, sizeof(line)));
	int st = mpt_py_finish(&pp);
	MPT_EQ(st, 0);
	if (st)
		fprintf(stderr, "%s\n", pp.buf);
	/* Python wrote, and its exit left our segment alone. */
	MPT_EQ(memcmp((char *)mp_shm_buf(s) + 8, "python!!", 8), 0);
	CU_ASSERT(exists(name));
	mp_shm_t *again = mp_shm_attach(name, 0, &err);
	CU_ASSERT_PTR_NOT_NULL(again);
	mp_shm_close(again);
	MPT_OK(mp_shm_unlink(name));
	mp_shm_close(s);

	/* Python's segment, attached by its .name. */
	const char *pyname = line + 5;
	mp_shm_t *t = mp_shm_attach(pyname, 0, &err);
	CU_ASSERT_PTR_NOT_NULL_FATAL(t);
	MPT_EQ(mp_shm_size(t), 12345);
	MPT_EQ(memcmp(mp_shm_buf(t), "hello", 5), 0);
	MPT_EQ(((unsigned char *)mp_shm_buf(t))[12344], 7);
	MPT_OK(mp_shm_unlink(pyname));
	mp_shm_close(t);
}

static int unhex(const char *h, uint8_t *out, size_t cap)
{
	size_t n = 0;
	for (; h[0] && h[1] && n < cap; h += 2)
		if (sscanf(h, "%2hhx", &out[n++]) != 1)
			return -1;
	return (int)n;
}

static void interop_slist(int minor)
{
	struct mpt_py py;
	if (!find_python(minor, &py, "ShareableList interop"))
		return;
	int err = 0;
	const char *name = tname("py-list");
	mp_slist_t *l = mp_slist_create(name, c_items, C_N, 0, &err);
	CU_ASSERT_PTR_NOT_NULL_FATAL(l);
	const char *args[] = { "list", name, NULL };
	struct mpt_pyproc pp;
	static char line[8192];
	MPT_OK(mpt_py_start(&py, py_script, args, &pp));
	MPT_OK(mpt_py_line(&pp, "READ ", line, sizeof(line)));
	/* Every type as Python reads it: the multi-byte str whole; bytes
	 * without their trailing NULs (Python's one loss). */
	CU_ASSERT_STRING_EQUAL(line,
		"READ [42, -7, 2.5, True, False, None, 'h\\xe9llo w\\xf6rld', "
		"b'ab\\x00cd', '', b'', "
		"'\\xe9\\xe9\\xe9\\xe9\\xe9\\xe9\\xe9\\xe9\\xe9\\xe9', "
		"-9223372036854775808]");
	MPT_OK(mpt_py_line(&pp, "MADE ", line, sizeof(line)));
	int st = mpt_py_finish(&pp);
	MPT_EQ(st, 0);
	if (st)
		fprintf(stderr, "%s\n", pp.buf);
	CU_ASSERT(exists(name));

	/* What Python wrote into ours. */
	mp_slist_item_t w0 = ITEM_STR("ab"), w2 = ITEM_FLOAT(1.25),
		w3 = ITEM_NONE, w5 = ITEM_INT(-3), w7 = ITEM_BYTES("zz"),
		w10 = ITEM_STR("\xc3\xbc\xc3\xbc\xc3\xbc\xc3\xbc\xc3\xbc\xc3\xbc"
		               "\xc3\xbc\xc3\xbc\xc3\xbc\xc3\xbc\xc3\xbc\xc3\xbc");
	item_eq(l, 0, &w0);
	item_eq(l, 2, &w2);
	item_eq(l, 3, &w3);
	mp_slist_item_t w4 = ITEM_BOOL(1);
	item_eq(l, 4, &w4);
	item_eq(l, 5, &w5);
	item_eq(l, 7, &w7); /* Python's write cleared our exact length */
	item_eq(l, 10, &w10);
	item_eq(l, 1, &c_items[1]);
	MPT_OK(mp_shm_unlink(name));
	mp_slist_close(l);

	/* Python's list: attached and read, and our bytes are its bytes. */
	char *sp = strchr(line + 5, ' ');
	CU_ASSERT_FATAL(sp != NULL);
	*sp = 0;
	const char *pyname = line + 5;
	static uint8_t golden[4096];
	int glen = unhex(sp + 1, golden, sizeof(golden));
	MPT_CMP(glen, >, 0);
	mp_slist_t *p = mp_slist_attach(pyname, 0, &err);
	CU_ASSERT_PTR_NOT_NULL_FATAL(p);
	MPT_EQ(mp_slist_len(p), PY_N);
	for (size_t i = 0; i < PY_N; i++)
		item_eq(p, (int64_t)i, &py_items[i]);
	mp_slist_t *mine = mp_slist_create(NULL, py_items, PY_N, 0, &err);
	CU_ASSERT_PTR_NOT_NULL_FATAL(mine);
	MPT_CMP(mp_shm_size(mp_slist_shm(mine)), >=, glen);
	MPT_EQ(memcmp(mp_shm_buf(mp_slist_shm(mine)), golden, (size_t)glen), 0);
	MPT_EQ(mp_shm_size(mp_slist_shm(p)), glen);
	MPT_OK(mp_shm_unlink(mp_shm_name(mp_slist_shm(mine))));
	mp_slist_close(mine);
	/* Python's list has no room for an exact length: refused, not cut;
	 * and no slot grows. */
	mp_slist_item_t tz = ITEM_BYTES("x\0"), big = ITEM_STR("123456789");
	MPT_ERR(mp_slist_set(p, 7, &tz), -EOPNOTSUPP);
	MPT_ERR(mp_slist_set(p, 6, &big), -EMSGSIZE);
	mp_slist_item_t ok = ITEM_STR("ok");
	MPT_OK(mp_slist_set(p, 7, &ok));
	item_eq(p, 7, &ok);
	MPT_OK(mp_shm_unlink(pyname));
	mp_slist_close(p);
}

static void test_python311(void) { interop_segments(11); }
static void test_python312(void) { interop_segments(12); }
static void test_python313(void) { interop_segments(13); }
static void test_python311_list(void) { interop_slist(11); }
static void test_python312_list(void) { interop_slist(12); }
static void test_python313_list(void) { interop_slist(13); }

int main(int argc, char **argv)
{
	if (argc == 3 && !strcmp(argv[1], "--peer"))
		return peer_main(argv[2]);
	static CU_TestInfo tests[] = {
		{ "names, create, attach, close, unlink", test_names },
		{ "named only when whole", test_hidden_until_whole },
		{ "bad input", test_bad_input },
		{ "anonymous segments: fork, descriptors, lifetime", test_anon },
		{ "-ENOSPC on a small tmpfs, not SIGBUS", test_enospc },
		{ "no descriptor or mapping leaks", test_no_leaks },
		{ "lock, value, queue: two unrelated programs",
		  test_objects_unrelated },
		{ "ShareableList", test_slist },
		{ "interop python 3.11: segments", test_python311 },
		{ "interop python 3.12: segments", test_python312 },
		{ "interop python 3.13: segments", test_python313 },
		{ "interop python 3.11: ShareableList", test_python311_list },
		{ "interop python 3.12: ShareableList", test_python312_list },
		{ "interop python 3.13: ShareableList", test_python313_list },
		CU_TEST_INFO_NULL,
	};
	return mpt_main("shm", tests);
}
