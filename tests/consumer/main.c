/* A consumer of the installed or subproject mproc: start, join, check. */
#include <mproc.h>
#include <stdio.h>
#include <string.h>

static int body(void *arg)
{
	return *(int *)arg;
}

int main(void)
{
	int value = 42, err, code = -1;
	mp_process_t *p = mp_process_new(body, &value, NULL, 0, &err);

	if (!p || mp_process_start(p) < 0 || mp_process_join(p, MP_FOREVER) < 0 ||
	    mp_process_exitcode(p, &code) < 0 || code != 42) {
		fprintf(stderr, "consumer: failed (code %d)\n", code);
		return 1;
	}
	mp_process_free(p);
	/* The headers installed and the library loaded are one release. */
	if (!mp_version_check(MPROC_VERSION_MAJOR, MPROC_VERSION_MINOR) ||
	    strcmp(mp_version(), MPROC_VERSION_STRING) != 0) {
		fprintf(stderr, "consumer: headers %s, library %s\n",
		        MPROC_VERSION_STRING, mp_version());
		return 1;
	}
	printf("consumer ok: mproc %s, exit code %d\n", mp_version(), code);
	return 0;
}
