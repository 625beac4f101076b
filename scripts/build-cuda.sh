#!/usr/bin/env bash
# Builds the CUDA package's addon: the same fusionrank.node as
# @fusionrank/linux-x64-gnu plus the CUDA kernels (native/cuda/), with plain
# CMake (FR_STANDALONE=ON FR_STATIC_RUNTIME=ON FR_CUDA=ON), Release, the CUDA
# runtime, libstdc++ and libgcc linked statically, into build-cuda/, and
# copies it, stripped, to <outdir>/fusionrank.node (the package's file name).
#
#   scripts/build-cuda.sh <outdir>
#
# Needs cmake >= 3.18, g++, node and nvcc (CUDA 12 or 13: CUDACXX or
# /usr/local/cuda/bin/nvcc when nvcc is not on PATH). No GPU is needed to
# build. scripts/release-pack.mjs --cuda calls it. FR_BUILD_JOBS caps the
# parallel jobs; FR_CUDA_ARCHITECTURES overrides the CUDA_ARCHITECTURES list.
set -euo pipefail

[[ $# -eq 1 ]] || { echo "usage: scripts/build-cuda.sh <outdir>" >&2; exit 2; }
root=$(cd "$(dirname "$0")/.." && pwd)
mkdir -p "$1"
outdir=$(cd "$1" && pwd)

if [[ $(uname -s) != Linux || $(uname -m) != x86_64 ]]; then
  echo "build-cuda: the CUDA package is built for linux-x64 (glibc) only, not $(uname -s)-$(uname -m)" >&2
  exit 1
fi
nvcc=${CUDACXX:-$(command -v nvcc || echo /usr/local/cuda/bin/nvcc)}
for tool in cmake node g++ strip "$nvcc"; do
  if ! command -v "$tool" > /dev/null; then
    echo "build-cuda: $tool not found." >&2
    [[ $tool == "$nvcc" ]] && echo "  Install the CUDA toolkit (12 or 13) and set CUDACXX=/path/to/nvcc" >&2
    exit 1
  fi
done

cd "$root"
dir=build-cuda
# Test files build in parallel (vitest workers): one build of build-cuda/ at
# a time, the others wait and then find it up to date.
mkdir -p "$dir"
if command -v flock > /dev/null; then
  exec 9> "$dir/.build-lock"
  flock 9
fi
node_api_headers=$(node -p "require('node-api-headers').include_dir")
node_addon_api=$(node -p "require('path').resolve(require('node-addon-api').include_dir)")
generator=()
if [[ -f $dir/CMakeCache.txt ]]; then
  generator=(-G "$(sed -n 's/^CMAKE_GENERATOR:INTERNAL=//p' "$dir/CMakeCache.txt")")
elif command -v ninja > /dev/null; then
  generator=(-G Ninja)
fi
archs=()
[[ -n ${FR_CUDA_ARCHITECTURES:-} ]] && archs=(-DFR_CUDA_ARCHITECTURES="$FR_CUDA_ARCHITECTURES")

# Only the flags in CMakeLists.txt: never -march=native from the environment.
env -u CFLAGS -u CXXFLAGS -u LDFLAGS -u CPPFLAGS -u CUDAFLAGS \
  cmake -S . -B "$dir" "${generator[@]}" "${archs[@]}" \
    -DCMAKE_BUILD_TYPE=Release -DCMAKE_CXX_COMPILER=g++ \
    -DCMAKE_CUDA_COMPILER="$nvcc" -DCMAKE_CUDA_HOST_COMPILER=g++ \
    -DFR_STANDALONE=ON -DFR_STATIC_RUNTIME=ON -DFR_CUDA=ON \
    -DFR_NODE_API_HEADERS_DIR="$node_api_headers" -DFR_NODE_ADDON_API_DIR="$node_addon_api" > /dev/null
cmake --build "$dir" --parallel "${FR_BUILD_JOBS:-$(nproc)}"

cp "$dir/fusionrank.node" "$outdir/fusionrank.node.tmp"
strip --strip-unneeded "$outdir/fusionrank.node.tmp"
mv "$outdir/fusionrank.node.tmp" "$outdir/fusionrank.node"
echo "build-cuda: $("$nvcc" --version | sed -n 's/.*release \([0-9.]*\).*/CUDA \1/p'), sm $(sed -n 's/^FR_CUDA_ARCHITECTURES:STRING=//p' "$dir/CMakeCache.txt") -> $outdir/fusionrank.node ($(stat -c %s "$outdir/fusionrank.node") bytes)"
