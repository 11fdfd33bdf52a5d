#!/usr/bin/env bash
# The main job on the embedded default: the whole SFT -> reward -> PPO pipeline on a tiny
# random Llama (the real Llama-2 tokenizer) and the real HH-RLHF data in ../shared/data, on
# CPU, each stage under `mpirun -np 2`. Installs the Debian packages and builds first.
# Outputs go to out/ (tiny-model, hh-*, tiny-sft, tiny-sft-merged, tiny-reward, tiny-rm,
# tiny-ppo). Takes a few minutes on a 2-core machine.
set -euo pipefail
cd "$(dirname "$0")/.."
shared=${LOOM_SHARED_DIR:-../shared}
tokenizer="$shared/data/llama2-tokenizer/tokenizer.model"
hh="$shared/data/hh-rlhf/harmless-base-test.jsonl.gz"
for f in "$tokenizer" "$hh"; do
  [ -f "$f" ] || { echo "demo: missing $f (set LOOM_SHARED_DIR to the shared data folder)" >&2; exit 1; }
done

scripts/install-deps.sh
# The demo runs on the CPU path: its own build folder, without the CUDA twins or the tests.
export LOOM_BUILD_DIR=build-demo
scripts/build.sh -DLOOM_CUDA=OFF -DBUILD_TESTING=OFF >/dev/null
loom=$LOOM_BUILD_DIR/src/loom
prep=$LOOM_BUILD_DIR/data_prep/loom-prep
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
mpi=(mpirun -np 2 --oversubscribe)
say() { printf '\n== %s\n' "$*"; }
start=$SECONDS

rm -rf out && mkdir -p out
say "model: a tiny random Llama with the Llama-2 tokenizer's vocabulary"
"$loom" init-model --config tiny --init-std 0.15 --seed 1 --tokenizer "$tokenizer" --out out/tiny-model
"$loom" inspect out/tiny-model | head -4

say "data: HH-RLHF into packed SFT blocks, preference pairs and PPO prompts (2 ranks)"
"${mpi[@]}" "$prep" sft --template hh --tokenizer "$tokenizer" --seq-len 128 --eval-fraction 0.05 --out out/hh-sft "$hh"
"${mpi[@]}" "$prep" pairs --template hh --tokenizer "$tokenizer" --max-len 128 --on-error skip --eval-fraction 0.05 \
  --out out/hh-pairs "$hh"
"${mpi[@]}" "$prep" prompts --template hh --tokenizer "$tokenizer" --max-prompt-len 64 --on-error skip \
  --eval-fraction 0 --out out/hh-prompts "$hh"

prompt=$'\n\nHuman: How do I make a cup of tea?\n\nAssistant:'
say "generation before fine-tuning"
"$loom" generate --model out/tiny-model --prompt "$prompt" --max-new-tokens 24 --seed 0 --top-k 20
echo

say "stage 1: SFT (loss falls; eval loss and perplexity every 20 steps)"
"${mpi[@]}" "$loom" sft --config configs/tiny-sft.ini | grep -E '^(step|done|trainable|sft)'
say "generation after fine-tuning (same seed)"
"$loom" generate --model out/tiny-model --adapter out/tiny-sft/final --prompt "$prompt" --max-new-tokens 24 --seed 0 --top-k 20
echo
"$loom" merge --base out/tiny-model --adapter out/tiny-sft/final --out out/tiny-sft-merged

say "stage 2: reward model on the HH preference pairs"
"${mpi[@]}" "$loom" reward --config configs/tiny-reward.ini | grep -E '^(step|done|trainable|reward)'
"$loom" merge --base out/tiny-sft-merged --adapter out/tiny-reward/final --out out/tiny-rm
"$loom" score --model out/tiny-rm --pairs out/hh-pairs/manifest.json --split eval --out out/tiny-rm-scores.jsonl
echo "reward scores of the held-out pairs: out/tiny-rm-scores.jsonl"

say "stage 3: PPO against the reward model, KL-penalised to the SFT model"
"${mpi[@]}" "$loom" ppo --config configs/tiny-ppo.ini --reward.model out/tiny-rm | grep -vE '^(#|\[|[a-z_]+ = )' | grep -v '^$'
echo "last logged sample (prompt, response, reward):"
tail -n 1 out/tiny-ppo/samples.jsonl
say "done in $((SECONDS - start)) s: outputs in out/"
