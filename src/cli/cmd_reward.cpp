// loom reward --config configs/tiny-reward.ini [--section.key value ...]: stage 2, the
// pairwise reward model (LoRA SEQ_CLS + a trainable score head), data-parallel under MPI.
#include <cstdio>
#include <vector>

#include "cli/commands.h"
#include "cli/training_setup.h"
#include "model/reward_scorer.h"
#include "train/reward_task.h"
#include "train/sft_task.h"

namespace loom::cli {

int run_reward(int argc, char** argv) {
  po::options_description options("loom reward");
  add_reward_options(options);
  TrainingSetup setup;
  if (!setup.parse(argc, argv, options, "loom reward --config FILE.ini [--section.key value ...]")) return 0;
  const RewardOptions reward = reward_options_from(setup.values);
  setup.start(reward.common, argc, argv, /*head_rows=*/1);
  // A checkpoint that already has a score head (HF sequence classification) starts from it,
  // as PEFT's modules_to_save copy does; otherwise the head is N(0, 0.02) like transformers'.
  std::vector<float> initial = setup.state->to_host(setup.state->params());
  const bool from_checkpoint =
      load_score_head(*setup.checkpoint, initial.data() + setup.layout->head_offset(), 1, setup.base->shape().C);
  setup.state->from_host(setup.state->params(), initial);
  const std::unique_ptr<data::Tokenizer> tokenizer = checkpoint_tokenizer(reward.common.model.path);
  RewardTask task(reward, *setup.base, *setup.layout, tokenizer.get(), setup.comm, *setup.backend);
  if (setup.comm.rank == 0)
    std::printf("reward: score head %s, %lld optimizer steps per epoch over %d rank(s)\n",
                from_checkpoint ? "from the checkpoint's score.weight" : "initialised N(0, 0.02)",
                static_cast<long long>(task.steps_per_epoch()), setup.comm.world);
  return setup.train(task, kScoreHeadKey);
}

}  // namespace loom::cli
