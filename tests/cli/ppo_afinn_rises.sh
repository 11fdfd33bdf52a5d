#!/usr/bin/env bash
# PPO acceptance with a transparent reward: the tiny fixture model is SFT-trained (LoRA on all
# linears plus the LM head, configs/tiny-sft.ini) and merged, then `mpirun -np 2 loom ppo`
# runs configs/tiny-ppo.ini for STEPS steps against the AFINN lexicon (mean valence of the
# response's lexicon words). Passes when the mean reward of the last 10 steps exceeds that of
# steps 1-10 by at least MIN_RISE while the KL to the SFT model (summed over a response's ~20
# tokens) stays below KL_BOUND nats at every step. Prints the reward and KL per 10 steps.
# 100 steps, not the config's 50: how fast the reward rises varies from run to run, with the
# seed and with the roundings of the CPU's bf16 kernels (oneDNN's differ between a Xeon with AMX
# and a Zen 5 without); over 50 steps on a Zen 5, seed 42 rose by 0.25 and seed 7 by 0.54 (seeds
# 1-3: 0.79-1.25), and by step 100 those two by 1.12 and 1.37 (docs/ppo.md).
# What this cannot tell apart: the AFINN reward still rises with advantages left unwhitened
# (a mutation review found that defect passes here). The PPO step's arithmetic (TRL's KL
# penalty, rewards, GAE, whitened advantages and returns, clipped losses and their gradients)
# is pinned instead by the fast test test_ppo_step_golden against TRL's formulas on a fixed
# batch; this script checks only that the whole loop improves a transparent reward within a
# KL bound.
set -euo pipefail
: "${LOOM:?}" "${LOOM_SOURCE_DIR:?}" "${LOOM_SHARED_DIR:?}" "${LOOM_TINY_RUN:?}"
MIN_RISE=0.5
STEPS=100
# The largest per-step KL is a noisy maximum: builds whose arithmetic differs only in rounding
# (the LM head's chunk size, say) gave 12.6, 14.6 and 16.4 nats; with the KL penalty off
# (--ppo.init_kl_coef 0 --ppo.adap_kl_ctrl false) it reaches 70.8 (steps 41-50 average 60.8).
KL_BOUND=24
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
MPIRUN=(mpirun -np 2 --oversubscribe --allow-run-as-root)

"${MPIRUN[@]}" "$LOOM" sft --config "$LOOM_SOURCE_DIR/configs/tiny-sft.ini" --model.path "$LOOM_TINY_RUN/model" \
  --data.train "$LOOM_TINY_RUN/sft/manifest.json" --data.eval "$LOOM_TINY_RUN/sft/manifest.json" \
  --train.micro_batch_size 16 --train.eval_steps 100 --train.save_steps 0 --train.logging_steps 50 \
  --train.output_dir "$WORK/sft" >"$WORK/sft.log" 2>&1 || { cat "$WORK/sft.log"; exit 1; }
grep -E '^step' "$WORK/sft.log"
"$LOOM" merge --base "$LOOM_TINY_RUN/model" --adapter "$WORK/sft/final" --out "$WORK/sft-merged"

"${MPIRUN[@]}" "$LOOM" ppo --config "$LOOM_SOURCE_DIR/configs/tiny-ppo.ini" --model.path "$WORK/sft-merged" \
  --data.prompts "$LOOM_TINY_RUN/prompts/manifest.json" \
  --reward.afinn_lexicon "$LOOM_SHARED_DIR/data/afinn/words.csv" --train.save_steps 0 --train.max_steps "$STEPS" \
  --train.output_dir "$WORK/ppo" >"$WORK/ppo.log" 2>&1 || { cat "$WORK/ppo.log"; exit 1; }

# One line per step: reward mean, KL.
grep '"env/reward_mean"' "$WORK/ppo/metrics.jsonl" | sed -E 's/.*"env\/reward_mean":([-0-9.e]+).*"objective\/kl":([-0-9.e]+).*/\1 \2/' \
  >"$WORK/curve"
[ "$(wc -l <"$WORK/curve")" -eq "$STEPS" ] || { echo "FAIL: expected $STEPS logged steps"; cat "$WORK/curve"; exit 1; }
awk -v min_rise="$MIN_RISE" -v kl_bound="$KL_BOUND" '
  { block = int((NR - 1) / 10); reward[block] += $1 / 10; kl[block] += $2 / 10; if ($2 > max_kl) max_kl = $2 }
  END {
    for (b = 0; b <= block; ++b) printf "steps %3d-%3d: mean reward %7.3f, mean KL %5.2f\n", 10 * b + 1, 10 * b + 10, reward[b], kl[b]
    rise = reward[block] - reward[0]
    printf "reward rise %.3f (needs >= %.2f), largest KL %.2f nats (bound %d)\n", rise, min_rise, max_kl, kl_bound
    exit !(rise >= min_rise && max_kl < kl_bound)
  }' "$WORK/curve" || { echo "FAIL: the AFINN reward did not rise by $MIN_RISE within the KL bound"; exit 1; }
echo "PASS"
