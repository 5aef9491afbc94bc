#!/usr/bin/env bash
# Build tests/consumer against mproc two ways, and run it each time:
#  1. as a meson subproject (subprojects/mproc -> this source tree);
#  2. through pkg-config, after `meson install --destdir` of this build.
# usage: check.sh SOURCE_ROOT BUILD_ROOT
set -euo pipefail
src=$(cd "$1" && pwd)
build=$(cd "$2" && pwd)
work=$(mktemp -d "${TMPDIR:-/tmp}/mproc-consumer.XXXXXX")
trap 'rm -rf "$work"' EXIT

echo "== subproject"
mkdir -p "$work/sub/subprojects"
cp "$src/tests/consumer/meson.build" "$src/tests/consumer/main.c" "$work/sub/"
# A copy, not a link: meson refuses a subproject that contains its parent.
mkdir -p "$work/sub/subprojects/mproc"
tar -C "$src" --exclude='./build*' --exclude=./.git -cf - . | tar -C "$work/sub/subprojects/mproc" -xf -
meson setup "$work/sub/build" "$work/sub" --force-fallback-for=mproc >"$work/sub.log" 2>&1 \
  || { cat "$work/sub.log"; exit 1; }
ninja -C "$work/sub/build" >>"$work/sub.log" 2>&1 || { cat "$work/sub.log"; exit 1; }
"$work/sub/build/consumer"

echo "== pkg-config after meson install --destdir"
dest="$work/dest"
meson install -C "$build" --no-rebuild --destdir "$dest" >"$work/install.log" 2>&1 \
  || { cat "$work/install.log"; exit 1; }
# ldconfig runs after an install into the real root only
# (tools/install-ldconfig.sh), never into a DESTDIR.
grep -q "Skipping custom install script because DESTDIR is set.*install-ldconfig" "$work/install.log" \
  || { cat "$work/install.log"; echo "install-ldconfig.sh ran under DESTDIR"; exit 1; }
pc=$(find "$dest" -name mproc.pc | head -n1)
[ -n "$pc" ] || { echo "no mproc.pc installed"; exit 1; }
pcdir=$(dirname "$pc")

echo "== installed files"
# What `meson install` must put in place, found wherever meson's prefix,
# libdir and mandir put them.
want() {  # want NAME...: each installed somewhere under DESTDIR
  local n
  for n in "$@"; do
    [ -n "$(find "$dest" -name "$n" -print -quit)" ] \
      || { echo "not installed: $n"; exit 1; }
  done
}
want mproc.h libmproc.so libmproc.so.0 libmproc.a mproc.7 mproc_sync.3 \
     mp_lock_acquire.3 mp_version_check.3 mp_lock_t.3
inc=$(dirname "$(find "$dest" -name mproc.h -path '*include/mproc.h' | head -n1)")
for h in "$src"/include/mproc/*.h; do
  [ -f "$inc/mproc/$(basename "$h")" ] || { echo "not installed: mproc/$(basename "$h")"; exit 1; }
done
[ -f "$inc/mproc/version.h" ] || { echo "not installed: mproc/version.h (generated)"; exit 1; }
for f in meson.build version.h.in; do
  [ ! -e "$inc/mproc/$f" ] || { echo "installed by mistake: mproc/$f"; exit 1; }
done
man3=$(dirname "$(find "$dest" -name mproc_sync.3 | head -n1)")
if [ -d "$build/doc" ]; then
  n_built=$(find "$build/doc" -maxdepth 1 -name '*.3' | wc -l)
  n_inst=$(find "$man3" -maxdepth 1 -name '*.3' | wc -l)
  [ "$n_built" -eq "$n_inst" ] || { echo "man3: $n_inst installed, $n_built built"; exit 1; }
fi
# A page's .so link resolves from the installed man root (man itself is
# not part of a minimal machine: said, not failed, when it is missing).
if command -v man >/dev/null; then
  page=$(MANPATH="$(dirname "$man3")" MANWIDTH=80 man mp_lock_free 2>&1 || true)
  grep -q "mp_lock_new" <<<"$page" \
    || { echo "man mp_lock_free: the page does not read from $man3"; exit 1; }
else
  echo "consumer: SKIPPED the man check: man is not installed (apt-get install man-db)"
fi
echo "installed: headers, libraries, mproc.pc, $(find "$man3" -name '*.3' | wc -l) section 3 pages, mproc(7)"
mkdir -p "$work/pc"
cp "$src/tests/consumer/meson.build" "$src/tests/consumer/main.c" "$work/pc/"
PKG_CONFIG_PATH="$pcdir" PKG_CONFIG_SYSROOT_DIR="$dest" \
  meson setup "$work/pc/build" "$work/pc" --wrap-mode=nofallback >"$work/pc.log" 2>&1 \
  || { cat "$work/pc.log"; exit 1; }
ninja -C "$work/pc/build" >>"$work/pc.log" 2>&1 || { cat "$work/pc.log"; exit 1; }
libdir=$(dirname "$(find "$dest" -name 'libmproc.so.0' | head -n1)")
LD_LIBRARY_PATH="$libdir" "$work/pc/build/consumer"

echo "== plain cc and pkg-config, against the installed files"
# What a Makefile does: cc $(pkg-config --cflags --libs mproc).
cc_=${CC:-cc}
flags=$(PKG_CONFIG_PATH="$pcdir" PKG_CONFIG_SYSROOT_DIR="$dest" pkg-config --cflags --libs mproc)
# shellcheck disable=SC2086
$cc_ -std=gnu11 -Wall -Wextra -Werror -o "$work/plain" "$src/tests/consumer/main.c" $flags \
  || { echo "cc with pkg-config's flags failed: $flags"; exit 1; }
LD_LIBRARY_PATH="$libdir" "$work/plain"
# The shared library exports the public API only.
if nm -D --defined-only "$libdir/libmproc.so.0" | awk '{print $3}' | grep -v '^mp_[a-z]' | grep -v '^MPROC_' | grep .; then
  echo "unexpected exported symbols above"; exit 1
fi
echo "consumer checks passed"
