#!/usr/bin/env bash
# Prints the path of SmolLM2-135M-Instruct as a Hugging Face folder, converting the GGUF file in
# ../shared/data/smollm2-135m-instruct once into a cache folder (float32 model.safetensors,
# config.json, the tokenizer files; about 10 s and 540 MB) with ../shared/tools/gguf_to_hf.py in
# a virtual environment of PyPI's gguf, numpy and safetensors. Later calls print the cached
# folder at once. The folder appears complete or not at all (built as DIR.tmp, then renamed).
#   scripts/real-model.sh            # -> e.g. ~/.cache/loom/smollm2-135m-instruct
# Environment: LOOM_SHARED_DIR (default ../shared beside the repository), LOOM_CACHE_DIR
# (default ~/.cache/loom), PYTHON (default python3).
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
shared=${LOOM_SHARED_DIR:-$here/../shared}
cache=${LOOM_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/loom}
source_dir=$shared/data/smollm2-135m-instruct
gguf=$source_dir/SmolLM2-135M-Instruct.Q4_1.gguf
converter=$shared/tools/gguf_to_hf.py
out=$cache/smollm2-135m-instruct
die() {
  echo "real-model: error: $*" >&2
  exit 1
}
[ -s "$gguf" ] || die "$gguf: missing (the shared data folder beside the repository)"
[ -s "$converter" ] || die "$converter: missing"

if [ ! -s "$out/model.safetensors" ] || [ ! -s "$out/config.json" ]; then
  mkdir -p "$cache"
  venv=$cache/venv-gguf
  if [ ! -x "$venv/bin/python" ] || ! "$venv/bin/python" -c 'import gguf, numpy, safetensors' 2>/dev/null; then
    echo "real-model: making $venv (gguf numpy safetensors from PyPI)" >&2
    rm -rf "$venv"
    "${PYTHON:-python3}" -m venv "$venv" >&2 || die "python3 -m venv failed (apt-get install python3-venv)"
    "$venv/bin/pip" install -q gguf numpy safetensors >&2 || die "pip install gguf numpy safetensors failed"
  fi
  echo "real-model: converting $gguf into $out" >&2
  rm -rf "$out.tmp"
  "$venv/bin/python" "$converter" "$gguf" "$out.tmp" --tokenizer-dir "$source_dir" >&2 ||
    die "converting $gguf failed"
  rm -rf "$out"
  mv "$out.tmp" "$out"
fi
echo "$out"
