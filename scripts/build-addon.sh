#!/usr/bin/env bash
# Builds fusionrank.node for one platform package with plain CMake (cmake-js
# cannot cross-compile), Release, libstdc++/libgcc static (FR_STANDALONE=ON),
# into build-<target>/, and copies it, stripped, to <outdir>/fusionrank.node.
#
#   scripts/build-addon.sh linux-x64-gnu   <outdir>   # native, on x86-64
#   scripts/build-addon.sh linux-arm64-gnu <outdir>   # cross: aarch64-linux-gnu-g++
#
# Only the flags in CMakeLists.txt are used (CFLAGS/CXXFLAGS/LDFLAGS from the
# environment are ignored), so a release binary never carries -march=native:
# the core builds at the target's baseline and the per-ISA kernels are picked
# at run time. Check the result with scripts/check-binary.mjs.
# Needs cmake >= 3.15, node (for the header paths), and for arm64 the Debian
# packages g++-aarch64-linux-gnu and binutils-aarch64-linux-gnu.
set -euo pipefail

usage() {
  echo "usage: scripts/build-addon.sh <linux-x64-gnu|linux-arm64-gnu> <outdir>" >&2
  exit 2
}
[[ $# -eq 2 ]] || usage
target=$1
outdir=$2
root=$(cd "$(dirname "$0")/.." && pwd)
mkdir -p "$outdir"
outdir=$(cd "$outdir" && pwd)

case "$target" in
  linux-x64-gnu) arch=x86_64 ;;
  linux-arm64-gnu) arch=aarch64 ;;
  *) usage ;;
esac
host_arch=$(uname -m)
cross=""
toolchain=()
if [[ $arch != "$host_arch" ]]; then
  cross=$arch-linux-gnu-
  toolchain=(-DCMAKE_SYSTEM_NAME=Linux -DCMAKE_SYSTEM_PROCESSOR="$arch")
fi
cxx=${cross}g++
strip_tool=${cross}strip
for tool in cmake node "$cxx" "$strip_tool"; do
  if ! command -v "$tool" > /dev/null; then
    echo "build-addon: $tool not found (for $target on $host_arch)." >&2
    [[ -n $cross ]] && echo "  Debian/Ubuntu: apt-get install g++-$arch-linux-gnu binutils-$arch-linux-gnu" >&2
    exit 1
  fi
done

cd "$root"
node_api_headers=$(node -p "require('node-api-headers').include_dir")
node_addon_api=$(node -p "require('path').resolve(require('node-addon-api').include_dir)")
# FR_BUILD_DIR: another build folder (tests that build concurrently use their own).
dir=${FR_BUILD_DIR:-build-$target}
# Ninja when there is one, but never a second generator in an existing dir.
generator=()
if [[ -f $dir/CMakeCache.txt ]]; then
  generator=(-G "$(sed -n 's/^CMAKE_GENERATOR:INTERNAL=//p' "$dir/CMakeCache.txt")")
elif command -v ninja > /dev/null; then
  generator=(-G Ninja)
fi

env -u CFLAGS -u CXXFLAGS -u LDFLAGS -u CPPFLAGS \
  cmake -S . -B "$dir" "${generator[@]}" "${toolchain[@]}" \
    -DCMAKE_BUILD_TYPE=Release -DCMAKE_CXX_COMPILER="$cxx" \
    -DFR_STANDALONE=ON -DFR_STATIC_RUNTIME=ON \
    -DFR_NODE_API_HEADERS_DIR="$node_api_headers" -DFR_NODE_ADDON_API_DIR="$node_addon_api" > /dev/null
cmake --build "$dir" --parallel "${FR_BUILD_JOBS:-$(nproc)}"

cp "$dir/fusionrank.node" "$outdir/fusionrank.node.tmp"
"$strip_tool" --strip-unneeded "$outdir/fusionrank.node.tmp"
mv "$outdir/fusionrank.node.tmp" "$outdir/fusionrank.node"
echo "build-addon: $target -> $outdir/fusionrank.node ($(stat -c %s "$outdir/fusionrank.node") bytes)"
