#!/usr/bin/env bash
# Installs the Debian packages loom builds and tests with. Idempotent: installs only what
# is missing, so a second run costs one dpkg query.
set -euo pipefail

packages=(
  build-essential cmake pkg-config
  openmpi-bin libopenmpi-dev            # ranks (MPI_Allreduce on CPU, NCCL bootstrap on GPU)
  libhdf5-dev hdf5-tools                # token shards (h5dump -A shows their attributes)
  libboost-program-options-dev          # INI configs with command-line overrides
  libsentencepiece-dev                  # the Llama tokenizer
  libpcre2-dev                          # tokenizer.json split regexes (Unicode properties)
  libgtest-dev                          # tests
  nlohmann-json3-dev                    # config.json, safetensors headers, PEFT configs
  libopenblas-dev                       # the CPU path's GEMMs
  libdnnl-dev                           # oneDNN: bf16 GEMMs of the cpu-bf16 path
  ocl-icd-opencl-dev                    # Debian's oneDNN CMake package requires OpenCL's headers and loader
  zlib1g-dev                            # gzip-compressed JSON Lines
  libprotobuf-dev protobuf-compiler     # TensorBoard event files (tensorflow.Event messages)
  shellcheck                            # lint of slurm/ and scripts/
  clang libclang-rt-dev libomp-dev      # the sanitizer build and the fuzz targets (tests/sanitizers/)
)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]} == 0)); then
  echo "install-deps: all ${#packages[@]} packages present"
  exit 0
fi
echo "install-deps: installing ${missing[*]}"
sudo_cmd=()
[ "$(id -u)" -eq 0 ] || sudo_cmd=(sudo)
export DEBIAN_FRONTEND=noninteractive
"${sudo_cmd[@]}" apt-get update -qq
"${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}"
