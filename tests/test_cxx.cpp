// The public headers used from C++: this file compiles with -Wall -Wextra
// -Wpedantic -Werror as C++11 (tests/meson.build), and runs a few calls
// through the inline helpers, the macros and the opaque types.
#include <mproc.h>

#include <cstdio>
#include <cstring>

static_assert(alignof(mp_lock_t) == 8, "opaque storage keeps its alignment");
static_assert(alignof(mp_value_t) == 8, "opaque storage keeps its alignment");
static_assert(MPROC_VERSION_AT_LEAST(0, 0, 0), "version macros");
static_assert(!MPROC_VERSION_AT_LEAST(MPROC_VERSION_MAJOR + 1, 0, 0),
              "version macros");
static_assert(MP_SEC(1) == 1000000000, "timeouts are nanoseconds");

static int failures;

#define CHECK(cond)                                                        \
	do {                                                               \
		if (!(cond)) {                                             \
			std::fprintf(stderr, "%s:%d: %s\n", __FILE__,      \
			             __LINE__, #cond);                     \
			failures++;                                        \
		}                                                          \
	} while (0)

int main()
{
	CHECK(std::strcmp(mp_version(), MPROC_VERSION_STRING) == 0);
	CHECK(mp_version_check(MPROC_VERSION_MAJOR, MPROC_VERSION_MINOR) == 1);
	CHECK(mp_version_check(MPROC_VERSION_MAJOR + 1, 0) == 0);
	CHECK(std::strcmp(mp_strerror(-MP_EAUTH), "authentication failed") == 0);

	mp_lock_t lock;
	CHECK(mp_lock_init(&lock) == 0);
	CHECK(mp_lock_acquire(&lock, MP_FOREVER) == 0);
	CHECK(mp_lock_acquire(&lock, 0) == -EAGAIN);
	CHECK(mp_lock_release(&lock) == 0);
	CHECK(mp_lock_destroy(&lock) == 0);

	mp_conn_t *a = nullptr, *b = nullptr;
	CHECK(mp_pipe(true, &a, &b) == 0);
	if (a && b) {
		CHECK(mp_conn_send_bytes(a, "hi", 2, MP_SEC(10)) == 0);
		mp_waitable_t objs[] = { mp_wait_conn(b), mp_wait_fd(-1) };
		size_t ready[2] = { 9, 9 };
		CHECK(mp_wait(objs, 1, MP_SEC(10), ready) == 1);
		CHECK(ready[0] == 0);
		CHECK(objs[1].kind == MP_WAIT_FD && objs[1].fd == -1);
		mp_conn_close(a);
		mp_conn_close(b);
	}

	int err = 0;
	mp_queue_t *q = mp_queue_new(nullptr, &err);
	CHECK(q != nullptr);
	if (q) {
		char buf[8];
		size_t len = 0;
		CHECK(mp_queue_get_nowait(q, buf, sizeof buf, &len) == -EAGAIN);
		CHECK(mp_queue_put_nowait(q, "x", 1) == 0);
		CHECK(mp_queue_get_nowait(q, buf, sizeof buf, &len) == 0);
		CHECK(len == 1 && buf[0] == 'x');
		CHECK(mp_queue_free(q) == 0);
	}
	std::printf("C++: mproc %s, %d failures\n", mp_version(), failures);
	return failures ? 1 : 0;
}
