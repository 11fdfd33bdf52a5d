#include "train/shard_task.h"

#include "core/check.h"

namespace loom {

ShardTask::ShardTask(const std::string& train_path, const std::string& eval_path, data::ShardKind kind,
                     const data::Tokenizer* tokenizer, int model_vocab, const TrainOptions& train,
                     data::Partition sampling, const dist::Comm& comm)
    : comm_(comm),
      train_(train_path, "train", kind, tokenizer),
      sampler_(train_.num_records(), train.seed, comm.rank, comm.world, sampling),
      micro_(train.micro_batch_size),
      accum_(train.grad_accum_steps) {
  LOOM_REQUIRE(train_.info().vocab_size <= model_vocab, train_path, ": shards use a vocabulary of ",
               train_.info().vocab_size, " tokens but the model has ", model_vocab);
  if (eval_path.empty()) return;
  eval_ = std::make_unique<data::ShardReader>(eval_path, "eval", kind, tokenizer);
  LOOM_REQUIRE(eval_->row_len() <= train_.row_len(), eval_path, ": eval rows of ", eval_->row_len(),
               " tokens exceed the training rows of ", train_.row_len());
}

int64_t ShardTask::steps_per_epoch() const { return sampler_.records_per_rank() / (int64_t(micro_) * accum_); }

nlohmann::json ShardTask::data_cursor() const { return sampler_.cursor().to_json(); }

void ShardTask::restore_data_cursor(const nlohmann::json& cursor, const std::string& where) {
  sampler_.restore(data::SamplerCursor::from_json(cursor, where));
}

}  // namespace loom
