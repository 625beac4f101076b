#!/usr/bin/env bash
# Builds native/test/isa_check (the core and every kernel tier, no Node) and
# runs it: each tier this CPU has must match the serial kernels.
#
#   scripts/check-isas.sh           # this machine (x86-64: avx2, avx512, avx512vnni)
#   scripts/check-isas.sh aarch64   # NEON: cross-compiled, run under qemu-user
#
# aarch64 needs a cross compiler and qemu-user (Debian/Ubuntu:
# apt-get install g++-aarch64-linux-gnu qemu-user).
set -euo pipefail
cd "$(dirname "$0")/.."
target=${1:-native}
case "$target" in
  native)
    dir=build-isa-check
    cmake -S . -B "$dir" -DFR_ISA_CHECK=ON -DCMAKE_BUILD_TYPE=Release > /dev/null
    cmake --build "$dir" --parallel > /dev/null
    "$dir/isa_check"
    ;;
  aarch64)
    dir=build-isa-check-aarch64
    cmake -S . -B "$dir" -DFR_ISA_CHECK=ON -DCMAKE_BUILD_TYPE=Release \
      -DCMAKE_SYSTEM_NAME=Linux -DCMAKE_SYSTEM_PROCESSOR=aarch64 \
      -DCMAKE_CXX_COMPILER=aarch64-linux-gnu-g++ > /dev/null
    cmake --build "$dir" --parallel > /dev/null
    qemu-aarch64 -L /usr/aarch64-linux-gnu "$dir/isa_check"
    ;;
  *)
    echo "usage: scripts/check-isas.sh [native|aarch64]" >&2
    exit 2
    ;;
esac
