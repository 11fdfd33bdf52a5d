// Stage 1: causal-LM fine-tuning on sft shards (packed, packed with document boundaries, or
// padded with a completion-only loss mask). Each optimizer step reads grad_accum_steps
// micro-batches of micro_batch_size rows from this rank's share of the shuffled records.
#pragma once

#include <memory>
#include <vector>

#include "model/causal_lm.h"
#include "train/sft_options.h"
#include "train/shard_task.h"

namespace loom {

// One sft row (T): targets[t] = tokens[t + 1] when that token is a target (loss_mask) of the
// same document, else -1; positions restart at each document. doc, loss_mask may be null.
void sft_row_targets(int* targets, int* pos, const int32_t* tokens, const int32_t* doc,
                     const uint8_t* loss_mask, int T);

// The model folder's tokenizer (tokenizer.json, else tokenizer.model); fails when the folder has neither,
// since the shards' tokenizer could then not be checked.
std::unique_ptr<data::Tokenizer> checkpoint_tokenizer(const std::string& model_dir);

class SftTask final : public ShardTask {
 public:
  SftTask(const SftOptions& options, const FrozenWeights& base, const TrainableLayout& layout,
          const data::Tokenizer* tokenizer, const dist::Comm& comm, const Backend& backend);

  int64_t load_step() override;
  StepSums run_step(const LoraContext& lora, float loss_scale) override;
  MetricValues evaluate(const LoraContext& lora) override;

  int seq_len() const { return T_; }

 private:
  // Reads record `id` into row `row` of the step buffers.
  void read_row(data::ShardReader& reader, int64_t id, int row);
  TokenBatch micro_batch(int index, int rows) const;

  int T_;
  bool use_docs_;
  CausalLm model_;
  std::vector<int> tokens_, pos_, doc_, targets_;  // (accum * micro, T)
  std::vector<int32_t> row_tokens_, row_doc_;      // (T)
  std::vector<uint8_t> row_mask_;                  // (T)
};

}  // namespace loom
