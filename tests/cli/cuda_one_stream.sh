#!/usr/bin/env bash
# The cuda backend runs everything on its own stream, created non-blocking: work on the legacy
# default stream is not ordered with it. So in src/backend/cuda/ and kernels/ every kernel
# launch names the stream (its launch configuration ends in `stream>>>`), and the CUDA calls
# that run on the default stream (cudaMemset, cudaMemcpy, cudaMemcpy2D, cudaMemcpyToSymbol) are
# not used: their Async forms on the stream are. (A cudaMemset zeroing the gradient arena raced
# the optimizer's kernels on an H200: docs/gpu.md.) A source check, so CI holds it without a GPU.
set -euo pipefail
: "${LOOM_SOURCE_DIR:?}"
cd "$LOOM_SOURCE_DIR"
fail() { echo "FAIL: $*" >&2; exit 1; }
sources=(src/backend/cuda/*.cpp src/backend/cuda/*.h kernels/*.cu kernels/*.cuh)
[ "${#sources[@]}" -gt 10 ] || fail "too few CUDA sources found (${#sources[@]})"

# Comments aside, each default-stream call is a finding.
default_stream=$(grep -nE '\bcuda(Memset|Memcpy|Memcpy2D|MemcpyToSymbol)\(' "${sources[@]}" | grep -vE ':[0-9]+:\s*//' || true)
[ -z "$default_stream" ] || fail "CUDA calls on the legacy default stream:
$default_stream"

# Every launch's configuration, joined across lines, ends with the stream.
launches=0
for f in "${sources[@]}"; do
  while IFS= read -r config; do
    launches=$((launches + 1))
    [[ $config =~ (^|[^A-Za-z0-9_])stream\ *$ ]] || fail "$f: a kernel launch without the stream: <<<$config>>>"
  done < <(tr '\n' ' ' <"$f" | grep -oE '<<<[^>]*>>>' | sed 's/^<<<//; s/>>>$//')
done
[ "$launches" -gt 20 ] || fail "too few kernel launches found ($launches)"
echo "cuda one stream: $launches launches on the stream, no default-stream calls in ${#sources[@]} files"
