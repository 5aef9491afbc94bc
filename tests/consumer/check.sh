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
pcdir=$(dirname "$(find "$dest" -name mproc.pc | head -n1)")
[ -n "$pcdir" ] || { echo "no mproc.pc installed"; exit 1; }
mkdir -p "$work/pc"
cp "$src/tests/consumer/meson.build" "$src/tests/consumer/main.c" "$work/pc/"
PKG_CONFIG_PATH="$pcdir" PKG_CONFIG_SYSROOT_DIR="$dest" \
  meson setup "$work/pc/build" "$work/pc" --wrap-mode=nofallback >"$work/pc.log" 2>&1 \
  || { cat "$work/pc.log"; exit 1; }
ninja -C "$work/pc/build" >>"$work/pc.log" 2>&1 || { cat "$work/pc.log"; exit 1; }
libdir=$(dirname "$(find "$dest" -name 'libmproc.so.0' | head -n1)")
LD_LIBRARY_PATH="$libdir" "$work/pc/build/consumer"
# The shared library exports the public API only.
if nm -D --defined-only "$libdir/libmproc.so.0" | awk '{print $3}' | grep -v '^mp_[a-z]' | grep -v '^MPROC_' | grep .; then
  echo "unexpected exported symbols above"; exit 1
fi
echo "consumer checks passed"
