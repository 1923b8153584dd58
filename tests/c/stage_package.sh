#!/bin/sh
# The package as installed, in the build directory: python/headwater's files linked, with this
# build's extension module. Usage: stage_package.sh SRC_PACKAGE BUILD_DIR OUT
set -eu
src=$1; build=$2; out=$3
rm -rf "$out"; mkdir -p "$out/headwater"
for f in "$src"/*; do ln -s "$f" "$out/headwater/$(basename "$f")"; done
for so in "$build"/_core.*.so; do
  [ -e "$so" ] || { echo "stage_package: no _core extension module in $build" >&2; exit 1; }
  ln -s "$so" "$out/headwater/$(basename "$so")"
done
