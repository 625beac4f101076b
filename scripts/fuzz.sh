#!/usr/bin/env bash
# Builds the libFuzzer targets in native/fuzz/ (clang, -fsanitize=fuzzer,
# address,undefined; CMakeLists.txt FR_FUZZ) into build-fuzz/ and runs each
# for SECONDS:
#   graph_fuzz    the HNSW graph file loader (index.<vector>.usearch)
#   catalog_fuzz  the catalog column loaders (alive / vector / field files)
#                 and the schema a manifest creates
#   mlp_fuzz      model construction from a layer list (the native half of
#                 ONNX / safetensors loading; their parsing is TypeScript)
# First every committed regression input (test/fixtures/fuzz/<target>/) is
# replayed; then each target runs from its corpus (build-fuzz/corpus/<target>,
# kept between runs) and seeds written from real files by the addon
# (native/fuzz/make-seeds.mjs: small catalogs saved with their graphs).
# A crash leaves its input in build-fuzz/artifacts/ and fails the script:
# fix the code, then commit the input under test/fixtures/fuzz/<target>/
# (test/corrupt-files.test.ts loads the graph and catalog ones through the
# public API).
#
#   scripts/fuzz.sh 60                  # every target, 60 s each
#   scripts/fuzz.sh 600 graph_fuzz      # one target
#
# Needs clang (Debian: apt-get install clang), cmake, and for the seeds the
# built package (npm run build:ts) and addon. FR_BUILD_JOBS (default: every core).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"

if [[ $# -lt 1 || ! $1 =~ ^[0-9]+$ ]]; then
  echo "usage: scripts/fuzz.sh SECONDS [target...]" >&2
  exit 2
fi
seconds=$1
shift
targets=("$@")
((${#targets[@]})) || targets=(graph_fuzz catalog_fuzz mlp_fuzz)

for tool in clang++ cmake node; do
  if ! command -v "$tool" > /dev/null; then
    echo "fuzz: $tool not found${tool/clang++/ (Debian: apt-get install clang)}" >&2
    exit 1
  fi
done
dir=build-fuzz
cxx=$(command -v clang++)
if [[ -f $dir/CMakeCache.txt ]] && ! grep -qx "CMAKE_CXX_COMPILER:[A-Z]*=$cxx" "$dir/CMakeCache.txt"; then
  rm -rf "$dir/CMakeCache.txt" "$dir/CMakeFiles"
fi
generator=()
if [[ -f $dir/CMakeCache.txt ]]; then
  generator=(-G "$(sed -n 's/^CMAKE_GENERATOR:INTERNAL=//p' "$dir/CMakeCache.txt")")
elif command -v ninja > /dev/null; then
  generator=(-G Ninja)
fi
env -u CFLAGS -u CXXFLAGS -u LDFLAGS -u CPPFLAGS \
  cmake -S . -B "$dir" "${generator[@]}" -DFR_FUZZ=ON -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    -DCMAKE_CXX_COMPILER="$cxx" \
    -DCMAKE_CXX_FLAGS="-fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer -Wno-unknown-warning-option" \
    -DCMAKE_EXE_LINKER_FLAGS="-fsanitize=address,undefined" > /dev/null
nice -n 10 cmake --build "$dir" --parallel "${FR_BUILD_JOBS:-$(nproc)}" --target "${targets[@]}"

# Seeds from real files (once; delete build-fuzz/seeds to rewrite them).
if [[ ! -d $dir/seeds ]]; then
  node native/fuzz/make-seeds.mjs "$dir/seeds.tmp"
  mv "$dir/seeds.tmp" "$dir/seeds"
fi

export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-halt_on_error=1:print_stacktrace=1}
failed=()
for target in "${targets[@]}"; do
  binary=$dir/$target
  regressions=test/fixtures/fuzz/$target
  corpus=$dir/corpus/$target
  mkdir -p "$corpus" "$dir/seeds/$target" "$dir/artifacts"
  if compgen -G "$regressions/*" > /dev/null; then
    echo "fuzz: $target: replaying $(ls "$regressions" | wc -l) regression inputs"
    if ! "$binary" "$regressions"/* > "$dir/$target.replay.log" 2>&1; then
      echo "fuzz: $target: a regression input fails again; see $dir/$target.replay.log" >&2
      tail -30 "$dir/$target.replay.log" >&2
      failed+=("$target")
      continue
    fi
  fi
  echo "fuzz: $target: ${seconds}s"
  # New inputs go to the corpus (the first folder); seeds and regressions
  # are read only.
  inputs=("$corpus" "$dir/seeds/$target")
  [[ -d $regressions ]] && inputs+=("$regressions")
  if ! "$binary" -max_total_time="$seconds" -timeout=20 -rss_limit_mb=2560 -max_len=65536 \
      -print_final_stats=1 -artifact_prefix="$dir/artifacts/$target-" "${inputs[@]}" > "$dir/$target.log" 2>&1; then
    echo "fuzz: $target found a crash; see $dir/$target.log and $dir/artifacts/" >&2
    grep -E 'ERROR|SUMMARY|runtime error|Test unit written|deadly' "$dir/$target.log" | head -10 >&2
    failed+=("$target")
    continue
  fi
  grep -E '^stat::number_of_executed_units|^stat::peak_rss_mb' "$dir/$target.log" | tr '\n' ' ' | sed "s/^/fuzz: $target: /"
  echo "(corpus $(ls "$corpus" | wc -l) inputs)"
done
if ((${#failed[@]})); then
  echo "fuzz: failures in ${failed[*]}" >&2
  exit 1
fi
echo "fuzz: ${targets[*]} clean for ${seconds}s each"
