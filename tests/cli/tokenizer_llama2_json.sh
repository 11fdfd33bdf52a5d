#!/usr/bin/env bash
# The Llama-2 tokenizer.model converted to tokenizer.json by transformers (LlamaTokenizerFast), read by
# loom and held to transformers' golden ids (tests/golden/data/tokenizers/llama2). The converted file is
# 1.8 MB, so it is made here, and only when LOOM_PYTHON names a Python with transformers and
# sentencepiece; without one the test passes after saying it was skipped.
set -euo pipefail
: "${LOOM_SOURCE_DIR:?}" "${LOOM_SHARED_DIR:?}" "${LOOM_BINARY_DIR:?}"
if [ -z "${LOOM_PYTHON:-}" ] || ! "$LOOM_PYTHON" -c 'import transformers, sentencepiece' 2>/dev/null; then
  echo "skipped: set LOOM_PYTHON to a Python with transformers and sentencepiece"
  exit 0
fi
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
"$LOOM_PYTHON" "$LOOM_SOURCE_DIR/tests/golden/make_tokenizer_golden.py" --shared "$LOOM_SHARED_DIR/data" \
  --llama2-json-only "$WORK/llama2"
LOOM_LLAMA2_TOKENIZER_JSON="$WORK/llama2" "$LOOM_BINARY_DIR/tests/test_tokenizer_json" \
  --gtest_filter='TokenizerJson.Llama2TokenizerJsonEqualsHf'
