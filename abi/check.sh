#!/usr/bin/env bash
# The ABI test: the built libmproc.so against the baseline of the current
# release, abi/<soname>.abi (libabigail's abidw, from a build with debug
# info).  Fails on any change abidiff calls incompatible (a function or
# variable removed, a public type or a signature changed) unless the
# soname was bumped and the baseline recorded again, on purpose, with
# tools/abi-baseline.  Compatible changes (functions added) pass, and are
# shown.  Skips (77), loudly, without abidiff or debug info.
# usage: check.sh SOURCE_ROOT BUILD_ROOT LIBRARY
set -uo pipefail
src=$1 build=$2 lib=$3
if ! command -v abidiff >/dev/null; then
  echo "SKIP: abidiff is not installed (Debian: apt-get install abigail-tools)"
  exit 77
fi
# (Not readelf | grep -q: under pipefail, grep leaving early may kill
# readelf with SIGPIPE and fail the pipeline.)
sections=$(readelf -S "$lib")
if ! grep -q '\.debug_info' <<<"$sections"; then
  echo "SKIP: $lib has no debug info (a release build?): abidiff needs it"
  exit 77
fi
soname=$(readelf -d "$lib" | sed -n 's/.*(SONAME).*\[\(.*\)\]/\1/p')
baseline="$src/abi/$soname.abi"
if [ ! -f "$baseline" ]; then
  have=$(cd "$src/abi" && ls ./*.abi 2>/dev/null | tr '\n' ' ')
  echo "FAIL: no ABI baseline for $soname (abi/ has: $have)"
  echo "The soname changed: record the new release's ABI with" \
       "tools/abi-baseline."
  exit 1
fi
echo "abidiff $baseline $lib"
abidiff --fail-no-debug-info --no-show-locs \
  --headers-dir2 "$src/include" --headers-dir2 "$build/include" \
  "$baseline" "$lib"
rc=$?
if [ $((rc & 8)) -ne 0 ]; then
  cat <<MSG
FAIL: an incompatible ABI change against $soname (above).  Undo it; or, on
purpose: bump soversion in meson.build, run tools/abi-baseline to record
the new baseline, and say so in CHANGELOG.md.
MSG
  exit 1
fi
if [ $((rc & 3)) -ne 0 ]; then
  echo "FAIL: abidiff could not compare (exit $rc)"
  exit 1
fi
if [ $((rc & 4)) -ne 0 ]; then
  echo "ok: compatible changes only (above); tools/abi-baseline" \
       "records them at the next release"
else
  echo "ok: the ABI is the baseline's"
fi
exit 0
