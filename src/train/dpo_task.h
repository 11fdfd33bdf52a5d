// Direct Preference Optimization as TRL's DPOTrainer does it, as a task of the shared loop:
// each pair's chosen and rejected rows (prompt + completion, cut to max_length from the start)
// go through the policy (the base + LoRA) and the reference (the base with the adapter off,
// or a separate model); the sequence log-probs are summed over completion tokens only, the
// loss (train/dpo_loss.h) is averaged over the pairs of the whole optimizer step on all ranks,
// and TRL's metrics (rewards/*, logps/*) are logged under TRL's names.
//
// The policy runs one row at a time: the row's gradient of its summed log-prob goes to a
// per-row buffer, and the pair's loss derivative then weighs the two buffers into the grads,
// so a step costs one forward and one backward per row and dropout masks match exactly.
#pragma once

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "data/shard_reader.h"
#include "model/causal_lm.h"
#include "train/dpo_options.h"
#include "train/shard_task.h"

namespace loom {

// One pair as two rows, with the completion-only targets of each (label-shifted, -1 outside
// the completion) and the completion token counts.
struct DpoPairRows {
  std::vector<int> tokens[2], pos[2], targets[2];  // [0] chosen, [1] rejected; (len) each
  int completion_tokens[2] = {0, 0};
};

// Builds pair `id`'s rows from its chosen and rejected token rows (prompt + completion) and the
// prompt length: each completion ends with `eos_id` (TRL appends the EOS token to chosen and
// rejected), then both rows are cut to max_length tokens (TRL's keep_start; 0 = no cut). A pair
// whose prompt alone fills max_length has no completion and is refused, naming the record.
void build_dpo_pair_rows(const int32_t* chosen, int chosen_len, const int32_t* rejected, int rejected_len,
                         int prompt_len, int eos_id, int max_length, int64_t id, DpoPairRows* rows);

// Reads pair `id` of a pairs shard and builds its rows.
void load_dpo_pair(data::ShardReader& reader, int64_t id, int eos_id, int max_length, DpoPairRows* rows,
                   std::vector<int32_t>* scratch_chosen, std::vector<int32_t>* scratch_rejected);

// One pair of a training step: the policy's forward + backward on each row (dropout seeds
// row_seed and row_seed + stride), the loss against the reference log-probs `ref`, and
// lora.grads += loss_scale * d(loss)/d(params). `row_grads` are two scratch buffers of the
// trainable size (`count`) in backend memory; `policy` receives the policy's summed
// completion log-probs.
DpoPairLoss dpo_pair_step(CausalLm& model, const DpoPairRows& rows, const double ref[2], const DpoLossParams& params,
                          const LoraContext& lora, uint64_t row_seed, float loss_scale, float* const row_grads[2],
                          size_t count, const Backend& backend, double policy[2]);

// Summed completion log-probs of both rows of `rows` (no gradient).
void dpo_sequence_logps(CausalLm& model, const DpoPairRows& rows, const LoraContext& lora, double out[2],
                        std::vector<float>* scratch);

class DpoTask final : public ShardTask {
 public:
  DpoTask(const DpoOptions& options, const FrozenWeights& base, const TrainableLayout& layout,
          const data::Tokenizer* tokenizer, const dist::Comm& comm, const Backend& backend);
  ~DpoTask() override;

  int64_t load_step() override;
  StepSums run_step(const LoraContext& lora, float loss_scale) override;
  MetricValues evaluate(const LoraContext& lora) override;

 private:
  // Reference log-probs of a pair: from the precomputed table, or a forward with the
  // adapter off (or through the separate reference model).
  void reference_logps(data::ShardReader& reader, const std::string& split, int64_t id, const DpoPairRows& rows,
                       double out[2]);
  // Fills precomputed_[split] once, from the output folder's reference_logps.json when it
  // matches this run, else by a forward over every pair (split over the ranks), then saved.
  void ensure_precomputed(data::ShardReader& reader, const std::string& split);

  const DpoOptions& options_;
  const Backend& backend_;
  const TrainableLayout& layout_;
  int max_length_, eos_id_;
  CausalLm model_;
  std::unique_ptr<HfCheckpoint> ref_checkpoint_;
  std::unique_ptr<FrozenWeights> ref_base_;
  std::unique_ptr<CausalLm> ref_model_;  // only with dpo.ref_model
  std::map<std::string, std::vector<float>> precomputed_;  // "train"/"eval" -> (pairs, 2)
  std::vector<int64_t> step_ids_;
  Arena row_grad_arena_;  // "dpo row grads": two (trainable) buffers, d(-sum of completion log-probs)/d(params)
  float* row_grads_[2] = {nullptr, nullptr};
  std::vector<float> logp_scratch_;
  std::vector<int32_t> chosen_scratch_, rejected_scratch_;
  DpoPairRows rows_;
};

}  // namespace loom
