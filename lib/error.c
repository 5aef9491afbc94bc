/* error.c - names for every code mproc returns. */
#include "internal.h"

#include <string.h>

static const char *const own_names[MP_ELAST - MP_EBASE] = {
	[MP_ESTARTED - MP_EBASE] = "process already started",
	[MP_ENOTSTARTED - MP_EBASE] = "process not started",
	[MP_ECLOSED - MP_EBASE] = "object is closed",
	[MP_EDAEMONIC - MP_EBASE] = "daemonic processes may not have children",
	[MP_EAUTH - MP_EBASE] = "authentication failed",
	[MP_EWORKERDIED - MP_EBASE] = "worker process died",
	[MP_ESANDBOX - MP_EBASE] = "system call forbidden by the sandbox",
	[MP_EBROKEN - MP_EBASE] = "barrier is broken",
	[MP_ETASK - MP_EBASE] = "task failed",
	[MP_EEOF - MP_EBASE] = "end of file: the peer closed the connection",
	[MP_ETOOSHORT - MP_EBASE] = "buffer too short for the message",
	[MP_EPICKLE - MP_EBASE] = "malformed or unsupported pickle",
	[MP_EREFUSED - MP_EBASE] = "pickle refused: it would run code",
	[MP_ELIMIT - MP_EBASE] = "value exceeds a size or nesting limit",
	[MP_EREMOTE - MP_EBASE] = "the manager's call raised an exception",
	[MP_ETARGET - MP_EBASE] = "target not registered for the fork server",
	[MP_ESERVER - MP_EBASE] = "the fork server died during the request",
};

const char *mp_strerror(int code)
{
	if (code < 0)
		code = -code;
	if (code == 0)
		return "success";
	if (code > MP_EBASE && code < MP_ELAST)
		return own_names[code - MP_EBASE];
	if (code < 4096) {
		/* strerrorname_np would give "EAGAIN"; the description reads
		 * better and strerror() of glibc returns static strings for
		 * known codes (the locale is not ours to change). */
		const char *s = strerror(code);
		return s ? s : "unknown error";
	}
	return "unknown error";
}

/* The library's own version: version.h as it was when this was built. */
const char *mp_version(void)
{
	return MPROC_VERSION_STRING;
}

int mp_version_check(int major, int minor)
{
	return major == MPROC_VERSION_MAJOR && minor >= 0 &&
	       minor <= MPROC_VERSION_MINOR;
}
