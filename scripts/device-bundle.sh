#!/usr/bin/env bash
# Builds loom's CUDA path for Hopper GPUs (sm_90: H100, H200) and gathers into .bundle/ (ignored
# by git) what a bare GPU machine with only the CUDA 13 runtime lacks:
#   .bundle/bin/   loom, loom-prep, the GPU tests (gpu_test_*) and test_train_steps_golden (its
#                  cuda case runs the 5-step PEFT golden on the GPU)
#   .bundle/lib/   the shared libraries they link (ldd), except the C library family, libstdc++
#                  and libgcc_s (any distribution with CUDA 13 has newer ones) and CUDA's own
#                  libraries (cudart, cuBLAS, cuBLASLt, NCCL), which the machine provides
#   .bundle/run.sh a launcher: sets LD_LIBRARY_PATH to .bundle/lib plus the machine's CUDA
#                  library folders, then runs a bundled program, `gpu-tests`, or `sanitize`
#   .bundle/shared/data/  the Llama-2 tokenizer, the HH-RLHF test split and the AFINN lexicon
#                  from LOOM_SHARED_DIR (default ../shared), from which scripts/gpu-check.sh
#                  builds the tiny fixture for its every-stage check (scripts/gpu-stages.sh)
# and packs it as .bundle.tar.xz (about 14 MB; Debian's OpenBLAS alone is 35 MB unpacked), the
# one file to copy to the GPU machine.
# Usage: scripts/device-bundle.sh [BUILD_DIR]   (default build-device; extra cmake flags in
#        LOOM_DEVICE_CMAKE_FLAGS). On the GPU machine, from the repository root:
#          tar xJf .bundle.tar.xz
#          .bundle/run.sh gpu-tests            every gpu_test_* binary
#          .bundle/run.sh sanitize             gpu_test_ops under compute-sanitizer memcheck
#          .bundle/run.sh loom bench --preset small ...
set -euo pipefail
cd "$(dirname "$0")/.."
build_dir=${1:-build-device}
bundle=.bundle

# shellcheck disable=SC2086  # LOOM_DEVICE_CMAKE_FLAGS is a list of flags
cmake -S . -B "$build_dir" -DCMAKE_BUILD_TYPE=Release -DLOOM_CUDA=ON -DCMAKE_CUDA_ARCHITECTURES=90 \
  -DBUILD_TESTING=ON ${LOOM_DEVICE_CMAKE_FLAGS:-} >/dev/null
gpu_tests=()
for src in tests/gpu_test_*.cpp; do gpu_tests+=("$(basename "$src" .cpp)"); done
gpu_tests+=(test_train_steps_golden)
cmake --build "$build_dir" -j "${LOOM_BUILD_JOBS:-$(nproc)}" --target loom loom-prep "${gpu_tests[@]}"

rm -rf "$bundle"
mkdir -p "$bundle/bin" "$bundle/lib"
binaries=("$build_dir/src/loom" "$build_dir/data_prep/loom-prep")
for t in "${gpu_tests[@]}"; do binaries+=("$build_dir/tests/$t"); done
cp "${binaries[@]}" "$bundle/bin/"

# Libraries to leave to the machine: the C library family, the C++ runtime, the CUDA runtime.
provided='^(linux-vdso|ld-linux|libc|libm|libdl|libpthread|librt|libresolv|libstdc\+\+|libgcc_s|libcuda|libcudart|libcublas|libcublasLt|libnccl)\.so'
ldd "${binaries[@]}" | awk '$2 == "=>" && $3 ~ /^\// { print $1, $3 }' | sort -u |
  while read -r name path; do
    [[ $name =~ $provided ]] || cp -L "$path" "$bundle/lib/$name"
  done

# The inputs of tests/fixtures/make_tiny_run.sh and the AFINN lexicon, at their shared/ paths.
shared=${LOOM_SHARED_DIR:-../shared}
for f in data/llama2-tokenizer/tokenizer.model data/hh-rlhf/harmless-base-test.jsonl.gz data/afinn/words.csv; do
  [ -f "$shared/$f" ] || { echo "device-bundle: missing $shared/$f (set LOOM_SHARED_DIR)" >&2; exit 1; }
  mkdir -p "$bundle/shared/$(dirname "$f")"
  cp "$shared/$f" "$bundle/shared/$f"
done

cat >"$bundle/run.sh" <<'LAUNCHER'
#!/usr/bin/env bash
# Runs a program of the loom device bundle with its libraries (see scripts/device-bundle.sh).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
cuda_libs=""
for d in /usr/local/cuda/lib64 /usr/local/cuda/lib /usr/local/cuda/targets/x86_64-linux/lib; do
  [ -d "$d" ] && cuda_libs="$cuda_libs:$d"
done
# PyTorch's wheels carry cuBLAS and NCCL under site-packages/nvidia/*/lib.
if command -v python3 >/dev/null; then
  for d in $(python3 -c 'import glob, site; print(" ".join(glob.glob(site.getsitepackages()[0] + "/nvidia/*/lib")))' 2>/dev/null); do
    cuda_libs="$cuda_libs:$d"
  done
fi
export LD_LIBRARY_PATH="$here/lib$cuda_libs${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
export LOOM_SOURCE_DIR=${LOOM_SOURCE_DIR:-$(pwd)}
case "${1:?usage: run.sh gpu-tests | sanitize | PROGRAM [ARGS...]}" in
  gpu-tests)
    status=0
    for t in "$here"/bin/gpu_test_*; do "$t" || status=1; done
    exit "$status" ;;
  sanitize)
    sanitizer=$(command -v compute-sanitizer || echo /usr/local/cuda/bin/compute-sanitizer)
    exec "$sanitizer" --tool memcheck --error-exitcode 1 "$here/bin/gpu_test_ops" ;;
  *)
    program=$1
    shift
    exec "$here/bin/$program" "$@" ;;
esac
LAUNCHER
chmod +x "$bundle/run.sh"
tar -cf - "$bundle" | xz -T0 -6 >"$bundle.tar.xz"
programs=$(find "$bundle/bin" -type f | wc -l)
libraries=$(find "$bundle/lib" -type f | wc -l)
echo "device bundle: $bundle ($(du -sh "$bundle" | cut -f1), $programs programs, $libraries libraries)," \
  "packed as $bundle.tar.xz ($(du -h "$bundle.tar.xz" | cut -f1))"
