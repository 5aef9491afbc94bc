#!/bin/sh
# Run by `meson install` (meson.add_install_script): refresh the dynamic
# loader's cache after installing libmproc.so.0 into the real root, or a
# program linked against it does not start ("cannot open shared object
# file") until somebody runs ldconfig - a new library in /usr/local/lib is
# found through the cache only.  A staged install (DESTDIR, packaging) is
# left alone: the files are not where they will run, and the package's
# own trigger runs ldconfig on the target machine.
if [ -n "${DESTDIR:-}" ]; then
	echo "mproc: staged install (DESTDIR): ldconfig left to the target" >&2
	exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
	echo "mproc: not root: run ldconfig as root (or set LD_LIBRARY_PATH)" \
	     "before running programs linked against libmproc" >&2
	exit 0
fi
ldc=$(command -v ldconfig || echo /sbin/ldconfig)
if "$ldc"; then
	echo "mproc: ran ldconfig" >&2
else
	echo "mproc: ldconfig failed: run it as root before running programs" \
	     "linked against libmproc" >&2
fi
exit 0
