#!/usr/bin/env bash
# Configures the sanitizer build (clang, AddressSanitizer + UndefinedBehaviorSanitizer halting
# on the first error, libFuzzer targets on) into $LOOM_SANITIZE_BUILD_DIR (default
# build-sanitize) and builds the given targets (default: all). A separate build dir: the
# instrumented binaries are slower and are not what users run.
set -euo pipefail
cd "$(dirname "$0")/../.."
build_dir=${LOOM_SANITIZE_BUILD_DIR:-build-sanitize}
# -O1: the usual level for sanitizer builds; it compiles faster than -O3.
cmake -S . -B "$build_dir" -DCMAKE_BUILD_TYPE=Release -DCMAKE_C_FLAGS_RELEASE="-O1 -DNDEBUG" \
  -DCMAKE_CXX_FLAGS_RELEASE="-O1 -DNDEBUG" -DLOOM_CUDA=OFF \
  -DCMAKE_C_COMPILER=clang -DCMAKE_CXX_COMPILER=clang++ \
  -DLOOM_SANITIZE=address,undefined -DLOOM_FUZZ=ON >/dev/null
targets=()
for t in "$@"; do targets+=(--target "$t"); done
cmake --build "$build_dir" -j "${LOOM_JOBS:-$(nproc)}" "${targets[@]}"
