// The part every shard-reading training stage shares (SFT, reward model, DPO): its train
// shards (and eval shards when given), checked against the model's vocabulary, and this rank's
// shard sampler, which fixes the steps per epoch (micro_batch_size x grad_accum_steps records a
// step) and the data cursor kept in checkpoints.
#pragma once

#include <memory>
#include <string>

#include "data/shard_reader.h"
#include "data/shard_sampler.h"
#include "dist/comm.h"
#include "train/training_options.h"
#include "train/training_task.h"

namespace loom {

class ShardTask : public TrainingTask {
 public:
  int64_t steps_per_epoch() const final;
  nlohmann::json data_cursor() const final;
  void restore_data_cursor(const nlohmann::json& cursor, const std::string& where) final;

 protected:
  // eval_path empty: no eval split. Eval rows may not be longer than train rows.
  ShardTask(const std::string& train_path, const std::string& eval_path, data::ShardKind kind,
            const data::Tokenizer* tokenizer, int model_vocab, const TrainOptions& train, data::Partition sampling,
            const dist::Comm& comm);

  const dist::Comm& comm_;
  data::ShardReader train_;
  std::unique_ptr<data::ShardReader> eval_;
  data::ShardSampler sampler_;
  int micro_, accum_;
};

}  // namespace loom
