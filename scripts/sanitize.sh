#!/usr/bin/env bash
# Builds the addon with AddressSanitizer + UndefinedBehaviorSanitizer into
# build-asan/ (plain CMake, like scripts/build-addon.sh) and runs the
# native-heavy test files against it. Fails on any test failure and on any
# sanitizer report, even one a test process survived.
#
#   scripts/sanitize.sh                 # the default native-heavy files
#   scripts/sanitize.sh test/hnsw.test.ts test/persist.test.ts
#   scripts/sanitize.sh --build-only    # just the ASan addon (mutate-catalogs.mjs --asan uses it)
#
# Node itself is not instrumented, so the sanitizer runtimes are preloaded
# (LD_PRELOAD) from the same g++ that builds the addon; leak checking is off
# (node's own allocations at exit are not ours). Environment: FR_ASAN_DIR
# (build folder, default build-asan), FR_BUILD_JOBS (default: every core).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"

dir=${FR_ASAN_DIR:-build-asan}
build_only=0
files=()
for arg in "$@"; do
  case "$arg" in
    --build-only) build_only=1 ;;
    -h|--help) sed -n '2,15p' "$0"; exit 0 ;;
    *) files+=("$arg") ;;
  esac
done
if ((${#files[@]} == 0)); then
  # Every file whose tests spend their time in the addon: kernels, the
  # store, the graph, the catalog and its files, the ranker, the MLP, the
  # worker-thread and guard tests.
  files=(
    test/kernels.test.ts test/vector-store.test.ts test/hnsw.test.ts test/hnsw-codes.test.ts
    test/catalog.test.ts test/persist.test.ts test/corrupt-files.test.ts
    test/ranker.test.ts test/ranker-tower.test.ts test/rank-native-guards.test.ts
    test/rerank.test.ts test/rerank-item-cache.test.ts
    test/fusion-mlp.test.ts test/fusion-mlp-activations.test.ts test/fusion-mlp-bf16.test.ts
    test/fusion-mlp-onnx-ops.test.ts test/fusion-mlp-onnx-errors.test.ts test/fusion-mlp-safetensors.test.ts
    test/fusion-mlp-towers.test.ts test/learn-als.test.ts test/learn-als-io.test.ts
    test/bad-input.test.ts test/error-codes.test.ts test/worker-threads.test.ts
  )
fi

for tool in cmake node g++; do
  command -v "$tool" > /dev/null || { echo "sanitize: $tool not found" >&2; exit 1; }
done
node_api_headers=$(node -p "require('node-api-headers').include_dir")
node_addon_api=$(node -p "require('path').resolve(require('node-addon-api').include_dir)")
cxx=$(command -v g++)
# CMake drops a cache configured for another compiler, and with it every -D
# given on that run: start clean instead.
if [[ -f $dir/CMakeCache.txt ]] && ! grep -qx "CMAKE_CXX_COMPILER:[A-Z]*=$cxx" "$dir/CMakeCache.txt"; then
  rm -rf "$dir/CMakeCache.txt" "$dir/CMakeFiles"
fi
generator=()
if [[ -f $dir/CMakeCache.txt ]]; then
  generator=(-G "$(sed -n 's/^CMAKE_GENERATOR:INTERNAL=//p' "$dir/CMakeCache.txt")")
elif command -v ninja > /dev/null; then
  generator=(-G Ninja)
fi
# The shared libstdc++ (FR_STATIC_RUNTIME=OFF): the preloaded runtimes
# intercept its allocations and throws. -fno-sanitize-recover: UB aborts.
sanitize="-fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined"
env -u CFLAGS -u CXXFLAGS -u LDFLAGS -u CPPFLAGS \
  cmake -S . -B "$dir" "${generator[@]}" \
    -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_CXX_COMPILER="$cxx" \
    -DCMAKE_CXX_FLAGS="$sanitize" -DCMAKE_SHARED_LINKER_FLAGS="-fsanitize=address,undefined" \
    -DFR_STANDALONE=ON -DFR_STATIC_RUNTIME=OFF \
    -DFR_NODE_API_HEADERS_DIR="$node_api_headers" -DFR_NODE_ADDON_API_DIR="$node_addon_api" > /dev/null
nice -n 10 cmake --build "$dir" --parallel "${FR_BUILD_JOBS:-$(nproc)}"
addon=$root/$dir/fusionrank.node
echo "sanitize: built $addon"
((build_only)) && exit 0

libasan=$(g++ -print-file-name=libasan.so)
libubsan=$(g++ -print-file-name=libubsan.so)
log=$root/$dir/sanitize.log
status=0
# FUSIONRANK_TEST_NO_BUILD: the TypeScript is compiled by the normal build;
# the tests here exercise the addon.
FUSIONRANK_NATIVE=$addon FUSIONRANK_TEST_NO_BUILD=1 \
  LD_PRELOAD="$libasan $libubsan" \
  ASAN_OPTIONS=detect_leaks=0:abort_on_error=1:print_summary=1 \
  UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
  npx vitest run "${files[@]}" 2>&1 | tee "$log" || status=$?
# A report in a child process that the test tolerated still counts.
if grep -qE 'ERROR: AddressSanitizer|runtime error:|SUMMARY: (Address|UndefinedBehavior)Sanitizer' "$log"; then
  echo "sanitize: sanitizer reports in $log:" >&2
  grep -nE 'ERROR: AddressSanitizer|runtime error:|SUMMARY: ' "$log" | head -20 >&2
  exit 1
fi
if ((status != 0)); then
  echo "sanitize: the tests failed (exit $status); see $log" >&2
  exit "$status"
fi
echo "sanitize: ${#files[@]} test files clean under ASan + UBSan"
