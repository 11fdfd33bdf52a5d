#!/usr/bin/env bash
# loom ppo end to end under `mpirun -np 2` on the tiny fixture with the AFINN reward: TRL's
# stat names in metrics.jsonl, samples, the final PEFT adapter and value head; a run
# resumed from its step-2 checkpoint ends bit-identical to an uninterrupted one; SIGUSR1
# checkpoints and exits 75; a bad reward directory is a one-line error.
set -euo pipefail
: "${LOOM:?}" "${LOOM_SOURCE_DIR:?}" "${LOOM_SHARED_DIR:?}" "${LOOM_TINY_RUN:?}"
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }
MPIRUN=(mpirun -np 2 --oversubscribe --allow-run-as-root)
PPO=("$LOOM" ppo --config "$LOOM_SOURCE_DIR/configs/tiny-ppo.ini" --model.path "$LOOM_TINY_RUN/model"
     --model.quant f32 --data.prompts "$LOOM_TINY_RUN/prompts/manifest.json"
     --reward.afinn_lexicon "$LOOM_SHARED_DIR/data/afinn/words.csv" --ppo.batch_size 4 --generation.batch_size 4
     --generation.output_min_length 3 --generation.output_max_length 6 --train.micro_batch_size 2
     --train.grad_accum_steps 1 --ppo.ppo_epochs 2 --train.save_steps 2 --train.save_total_limit 0)

"${MPIRUN[@]}" "${PPO[@]}" --train.output_dir "$WORK/full" --train.max_steps 4 >"$WORK/full.log" 2>&1 \
  || { cat "$WORK/full.log"; fail "the 4-step run failed"; }
grep -q "rollout .* tok/s" "$WORK/full.log" || fail "no rollout throughput in the progress line"
[ "$(grep -c "\"objective/kl\"" "$WORK/full/metrics.jsonl")" -eq 4 ] || fail "metrics.jsonl should hold 4 steps"
head -1 "$WORK/full/metrics.jsonl" | grep -q "\"event\":\"run_start\"" || fail "metrics.jsonl does not start with a run header"
for key in objective/kl objective/kl_coef objective/entropy ppo/loss/policy ppo/loss/value ppo/loss/total \
           ppo/policy/approxkl ppo/policy/policykl ppo/policy/clipfrac ppo/policy/advantages_mean ppo/returns/mean \
           ppo/returns/var ppo/val/vpred ppo/val/error ppo/val/clipfrac env/reward_mean env/reward_std \
           tokens/responses_len_mean time/ppo/rollout time/ppo/score time/ppo/optimize; do
  grep -q "\"$key\":" "$WORK/full/metrics.jsonl" || fail "metrics.jsonl lacks $key"
done
grep -q '"response":' "$WORK/full/samples.jsonl" || fail "no samples"
for f in adapter_config.json adapter_model.safetensors value_head.safetensors; do
  [ -f "$WORK/full/final/$f" ] || fail "final/$f is missing"
done
grep -q '"task_type": *"CAUSAL_LM"' "$WORK/full/final/adapter_config.json" || fail "the adapter is not CAUSAL_LM"
echo "ok: 2-rank run, stats, samples, final adapter and value head"

# Stop after step 2, resume to step 4: the same final weights and optimizer state, bit for bit.
"${MPIRUN[@]}" "${PPO[@]}" --train.output_dir "$WORK/split" --train.max_steps 2 >"$WORK/a.log" 2>&1 \
  || { cat "$WORK/a.log"; fail "the 2-step run failed"; }
"${MPIRUN[@]}" "${PPO[@]}" --train.output_dir "$WORK/split" --train.max_steps 4 --train.resume auto >"$WORK/b.log" 2>&1 \
  || { cat "$WORK/b.log"; fail "the resumed run failed"; }
grep -q "resumed from .*checkpoint-2 at step 2" "$WORK/b.log" || fail "did not resume from checkpoint-2"
for f in final/adapter_model.safetensors final/value_head.safetensors checkpoint-4/optimizer.safetensors; do
  cmp -s "$WORK/full/$f" "$WORK/split/$f" || fail "$f differs after resume"
done
echo "ok: resume is bit-identical"

# A graceful stop (SIGUSR1, as Slurm's --signal sends it; mpirun forwards it to the ranks):
# a checkpoint at the step in progress, exit 75 (requeue), and --train.resume auto goes on.
"${MPIRUN[@]}" "${PPO[@]}" --train.output_dir "$WORK/stop" --train.max_steps 1000 \
  >"$WORK/stop.log" 2>&1 &
pid=$!
for _ in $(seq 600); do
  [ -f "$WORK/stop/metrics.jsonl" ] && [ "$(wc -l <"$WORK/stop/metrics.jsonl")" -ge 2 ] && break
  sleep 0.2
done
kill -USR1 "$pid" || { cat "$WORK/stop.log"; fail "the run ended before it could be stopped"; }
rc=0
wait "$pid" || rc=$?
[ "$rc" -eq 75 ] || { cat "$WORK/stop.log"; fail "a stopped run exited $rc, not 75"; }
stopped=$(sed -nE 's/^interrupted at step ([0-9]+) of 1000.*/\1/p' "$WORK/stop.log")
if [ -z "$stopped" ] || [ ! -d "$WORK/stop/checkpoint-$stopped" ]; then
  cat "$WORK/stop.log"
  fail "no checkpoint at the stop"
fi
"${MPIRUN[@]}" "${PPO[@]}" --train.output_dir "$WORK/stop" --train.max_steps $((stopped + 1)) \
  --train.resume auto >"$WORK/stop2.log" 2>&1 || { cat "$WORK/stop2.log"; fail "resuming the stopped run failed"; }
grep -q "resumed from .*checkpoint-$stopped at step $stopped" "$WORK/stop2.log" || fail "did not resume at the stop"
echo "ok: SIGUSR1 checkpoints at step $stopped, exits 75, and the run resumes"

if "$LOOM" ppo --config "$LOOM_SOURCE_DIR/configs/tiny-ppo.ini" --model.path "$LOOM_TINY_RUN/model" \
     --data.prompts "$LOOM_TINY_RUN/prompts/manifest.json" --reward.model "$WORK/no-such-rm" \
     --train.output_dir "$WORK/bad" >"$WORK/bad.log" 2>&1; then
  fail "a missing reward model was accepted"
fi
grep -qF "no-such-rm: checkpoint directory does not exist" "$WORK/bad.log" ||
  { cat "$WORK/bad.log"; fail "the error does not say the reward directory is missing"; }
echo "ok: a missing reward model is a clear error"
