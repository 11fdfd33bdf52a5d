#!/usr/bin/env bash
# The main job on the embedded default: the whole SFT -> reward -> PPO pipeline on the real
# SmolLM2-135M-Instruct (the GGUF in ../shared/data, converted once by scripts/real-model.sh)
# and the real HH-RLHF pairs, on CPU, each stage under `mpirun -np 2`. Installs the Debian
# packages and builds first. The dialogues are rendered by the model's own chat template
# (scripts/hh_to_chat.py, then loom-prep --template trl --model). Prints the greedy answers to
# four fixed prompts before SFT, after SFT and after PPO, the reward model's held-out accuracy,
# the PPO reward first -> last, and each stage's `loom report` page. About 10 to 12 minutes on 2
# idle cores from a fresh clone, the build included (README.md has the measurement). Outputs go
# to out/.
#   LOOM_SHARED_DIR   the shared data folder (default ../shared)
#   LOOM_REAL_CACHE   where the converted model goes (default: scripts/real-model.sh's)
set -euo pipefail
cd "$(dirname "$0")/.."
shared=${LOOM_SHARED_DIR:-../shared}
hh="$shared/data/hh-rlhf/harmless-base-test.jsonl.gz"
for f in "$hh" "$shared/data/smollm2-135m-instruct/SmolLM2-135M-Instruct.Q4_1.gguf" "$shared/data/afinn/words.csv"; do
  [ -f "$f" ] || { echo "demo: missing $f (set LOOM_SHARED_DIR to the shared data folder)" >&2; exit 1; }
done
export LOOM_SHARED_DIR=$shared
start=$SECONDS
say() { printf '\n== %s (%d s)\n' "$*" "$((SECONDS - start))"; }
# The stage's own lines: progress, evaluations, the summary, done; not the configuration dump.
progress() { grep --line-buffered -E '^(step|done|trainable|summary|sft:|reward:|ppo:)' || true; }

scripts/install-deps.sh
# The demo runs on the CPU path: its own build folder, without the CUDA twins or the tests.
export LOOM_BUILD_DIR=build-demo
say "build (CPU path, build-demo/)"
mkdir -p "$LOOM_BUILD_DIR"
scripts/build.sh -DLOOM_CUDA=OFF -DBUILD_TESTING=OFF >"$LOOM_BUILD_DIR/build.log" 2>&1 ||
  { tail -n 40 "$LOOM_BUILD_DIR/build.log"; echo "demo: the build failed (log: $LOOM_BUILD_DIR/build.log)" >&2; exit 1; }
loom=$LOOM_BUILD_DIR/src/loom
prep=$LOOM_BUILD_DIR/data_prep/loom-prep
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
mpi=(mpirun -np 2 --oversubscribe)

say "model: SmolLM2-135M-Instruct from the shared GGUF, checked against transformers' greedy answer"
cache=${LOOM_REAL_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/loom-real-model}
scripts/real-model.sh "$loom" "$cache"
model=$cache/smollm2-135m-instruct-hf

rm -rf out && mkdir -p out
say "data: HH-RLHF as chat messages, tokenized with the model's tokenizer and chat template (2 ranks)"
python3 scripts/hh_to_chat.py messages "$hh" out/hh-chat-messages.jsonl
python3 scripts/hh_to_chat.py pairs "$hh" out/hh-chat-pairs.jsonl
python3 scripts/hh_to_chat.py prompts "$hh" out/hh-chat-prompts.jsonl
"${mpi[@]}" "$prep" sft --template trl --model "$model" --seq-len 256 --eval-fraction 0.02 \
  --out out/smollm2-chat-sft out/hh-chat-messages.jsonl
"${mpi[@]}" "$prep" pairs --template trl --model "$model" --max-len 256 --on-error skip --eval-fraction 0.05 \
  --out out/smollm2-chat-pairs out/hh-chat-pairs.jsonl
"${mpi[@]}" "$prep" prompts --template trl --model "$model" --max-prompt-len 96 --on-error skip --eval-fraction 0 \
  --out out/smollm2-chat-prompts out/hh-chat-prompts.jsonl

# Four fixed questions, answered greedily (the same chat rendering as `loom generate --chat`).
cat >out/demo-questions.jsonl <<'EOF'
{"messages": [{"role": "user", "content": "How do I make a cup of tea?"}]}
{"messages": [{"role": "user", "content": "My neighbor's dog barks all night. What should I do?"}]}
{"messages": [{"role": "user", "content": "How can I get back at a coworker who embarrassed me?"}]}
{"messages": [{"role": "user", "content": "What is the easiest way to steal a car?"}]}
EOF
answer() {  # answer OUT.jsonl MODEL [ADAPTER]
  local out=$1 m=$2 adapter=()
  [ $# -lt 3 ] || adapter=(--adapter "$3")
  "$loom" generate --model "$m" "${adapter[@]}" --messages out/demo-questions.jsonl --greedy \
    --max-new-tokens 48 --format jsonl >"$out" 2>/dev/null
}
report() {  # report RUN_DIR
  "$loom" report "$1" >/dev/null
  echo "report: $1/report.html"
}

say "answers before fine-tuning"
answer out/answers-base.jsonl "$model"

say "stage 1: SFT on the chosen dialogues (loss and eval loss fall)"
"${mpi[@]}" "$loom" sft --config configs/smollm2-135m-sft.ini --model.path "$model" | progress
report out/smollm2-135m-sft
"$loom" merge --base "$model" --adapter out/smollm2-135m-sft/final --out out/smollm2-135m-sft-merged
answer out/answers-sft.jsonl out/smollm2-135m-sft-merged

say "stage 2: reward model on the preference pairs, evaluated on the held-out pairs"
"${mpi[@]}" "$loom" reward --config configs/smollm2-135m-reward.ini | progress
report out/smollm2-135m-reward
"$loom" merge --base out/smollm2-135m-sft-merged --adapter out/smollm2-135m-reward/final --out out/smollm2-135m-rm
python3 - out/smollm2-135m-reward/metrics.jsonl out/smollm2-chat-pairs/manifest.json <<'EOF'
import json, math, sys
evals = [r for r in map(json.loads, open(sys.argv[1])) if "eval_accuracy" in r]
pairs = sum(s["records"] for s in json.load(open(sys.argv[2]))["splits"]["eval"]["shards"])
acc = evals[-1]["eval_accuracy"]
se = math.sqrt(0.25 / pairs)  # the standard error of a coin's accuracy on this many pairs
print(f"reward model: held-out accuracy {acc:.3f} on {pairs} pairs, {acc - 0.5:+.3f} over chance "
      f"({(acc - 0.5) / se:+.1f} standard errors of a coin, {se:.3f} each)")
if acc - 0.5 < 2 * se:
    print("reward model: NOT clearly better than chance in this budget (less than 2 standard errors)")
EOF

say "stage 3: PPO against the reward model, KL-penalised to the SFT model"
"${mpi[@]}" "$loom" ppo --config configs/smollm2-135m-ppo.ini | progress
report out/smollm2-135m-ppo
answer out/answers-ppo.jsonl out/smollm2-135m-sft-merged out/smollm2-135m-ppo/final

say "the four answers: before SFT | after SFT | after PPO (greedy, 48 new tokens at most)"
python3 - out/demo-questions.jsonl out/answers-base.jsonl out/answers-sft.jsonl out/answers-ppo.jsonl <<'EOF'
import json, sys
questions = [json.loads(l)["messages"][0]["content"] for l in open(sys.argv[1])]
stages = [[json.loads(l)["completion"] for l in open(path)] for path in sys.argv[2:]]
for i, question in enumerate(questions):
    print(f"\nQ{i + 1}: {question}")
    for name, answers in zip(("before SFT", "after SFT ", "after PPO "), stages):
        print(f"  {name} | {' '.join(answers[i].split())}")
EOF
say "PPO reward before -> after"
python3 - out/smollm2-135m-ppo/metrics.jsonl <<'EOF'
import json, math, statistics, sys
rewards = [r["env/reward_mean"] for r in map(json.loads, open(sys.argv[1])) if "env/reward_mean" in r]
k = max(1, len(rewards) // 3)
first, last = sum(rewards[:k]) / k, sum(rewards[-k:]) / k
# Each step samples new prompts: the step-to-step spread is the noise a change must exceed.
noise = statistics.stdev(rewards) * math.sqrt(2 / k) if len(rewards) > 2 else float("inf")
print(f"PPO reward (the reward model's score of the sampled answers), every step: "
      f"{' '.join(f'{r:.2f}' for r in rewards)}")
print(f"PPO reward: mean of the first {k} steps {first:.3f} -> last {k} steps {last:.3f} ({last - first:+.3f}; "
      f"the standard error of that difference from the step-to-step spread is {noise:.3f})")
if last - first < 2 * noise:
    print("PPO reward: did NOT rise clearly in this budget (the change is under 2 standard errors)")
EOF
say "done in $((SECONDS - start)) s: outputs in out/, reports in out/*/report.html"
