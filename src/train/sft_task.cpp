#include "train/sft_task.h"

#include <cmath>
#include <filesystem>

#include "core/check.h"

namespace loom {

void sft_row_targets(int* targets, int* pos, const int32_t* tokens, const int32_t* doc,
                     const uint8_t* loss_mask, int T) {
  int start = 0;
  for (int t = 0; t < T; ++t) {
    if (doc && t > 0 && doc[t] != doc[t - 1]) start = t;
    pos[t] = t - start;
    const bool next_is_target = t + 1 < T && (!loss_mask || loss_mask[t + 1]) && (!doc || doc[t + 1] == doc[t]);
    targets[t] = next_is_target ? tokens[t + 1] : -1;
  }
}

std::unique_ptr<data::Tokenizer> checkpoint_tokenizer(const std::string& model_dir) {
  LOOM_REQUIRE(!data::Tokenizer::file_in_model_dir(model_dir).empty(), model_dir,
               ": the model folder has no tokenizer.json or tokenizer.model, so the shards' tokenizer cannot be checked "
               "(loom init-model --tokenizer and loom merge write one)");
  return std::make_unique<data::Tokenizer>(model_dir);
}

SftTask::SftTask(const SftOptions& options, const FrozenWeights& base, const TrainableLayout& layout,
                 const data::Tokenizer* tokenizer, const dist::Comm& comm, const Backend& backend)
    : ShardTask(options.data.train, options.data.eval, data::ShardKind::sft, tokenizer, base.shape().V,
                options.common.train, options.data.sampling, comm),
      T_(train_.row_len()),
      use_docs_(train_.info().layout != data::SftLayout::packed),
      model_(base, layout, micro_, T_, options.common.model.gradient_checkpointing, backend) {
  LOOM_REQUIRE(options.data.seq_length == 0 || options.data.seq_length == T_, options.data.train,
               ": shards hold rows of ", T_, " tokens but data.seq_length is ", options.data.seq_length);
  require_within_positions(base.config(), T_, options.data.train + ": seq_len");
  const size_t rows = size_t(accum_) * micro_;
  tokens_.resize(rows * T_);
  pos_.resize(rows * T_);
  doc_.resize(rows * T_);
  targets_.resize(rows * T_);
  row_tokens_.resize(T_);
  row_doc_.resize(T_);
  row_mask_.resize(T_);
}

void SftTask::read_row(data::ShardReader& reader, int64_t id, int row) {
  LOOM_REQUIRE(reader.row_len() == T_, "eval shards hold rows of ", reader.row_len(), " tokens, train shards ", T_);
  reader.read_sft_block(id, row_tokens_.data(), row_doc_.data(), row_mask_.data());
  const size_t at = size_t(row) * T_;
  for (int t = 0; t < T_; ++t) {
    tokens_[at + t] = row_tokens_[t];
    doc_[at + t] = row_doc_[t];
  }
  sft_row_targets(&targets_[at], &pos_[at], row_tokens_.data(), use_docs_ ? row_doc_.data() : nullptr,
                  row_mask_.data(), T_);
}

TokenBatch SftTask::micro_batch(int index, int rows) const {
  const size_t at = size_t(index) * micro_ * T_;
  return TokenBatch{rows, T_, &tokens_[at], &pos_[at], use_docs_ ? &doc_[at] : nullptr};
}

int64_t SftTask::load_step() {
  int64_t units = 0;
  for (int row = 0; row < accum_ * micro_; ++row) read_row(train_, sampler_.next(), row);
  for (int target : targets_) units += target >= 0;
  return units;
}

StepSums SftTask::run_step(const LoraContext& lora, float loss_scale) {
  StepSums sums;
  for (int m = 0; m < accum_; ++m) {
    LoraContext micro = lora;
    micro.dropout_seed = lora.dropout_seed + uint64_t(m) * 0x9E3779B97F4A7C15ull;
    const TokenBatch batch = micro_batch(m, micro_);
    const LossSums s = model_.train_micro_batch(batch, &targets_[size_t(m) * micro_ * T_], micro, loss_scale);
    sums.loss_sum += s.loss_sum;
    sums.tokens += batch.N();
  }
  return sums;
}

MetricValues SftTask::evaluate(const LoraContext& lora) {
  if (!eval_) return {};
  double loss_sum = 0.0;
  int64_t tokens = 0;
  // Rank r evaluates records r, r + W, ...; every rank runs the same number of batches.
  const int64_t n = eval_->num_records();
  for (int64_t first = 0; first < n; first += int64_t(micro_) * comm_.world) {
    int rows = 0;
    for (int i = 0; i < micro_; ++i) {
      const int64_t id = first + int64_t(i) * comm_.world + comm_.rank;
      if (id < n) read_row(*eval_, id, rows++);
    }
    if (rows == 0) continue;
    const LossSums s = model_.eval_micro_batch(micro_batch(0, rows), targets_.data(), lora);
    loss_sum += s.loss_sum;
    tokens += s.tokens;
  }
  comm_.allreduce_sum(&loss_sum, 1);
  comm_.allreduce_sum(&tokens, 1);
  const double loss = tokens > 0 ? loss_sum / double(tokens) : 0.0;
  return {{"eval_loss", loss}, {"eval_perplexity", std::exp(loss)}};
}


}  // namespace loom
