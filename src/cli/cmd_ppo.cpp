// loom ppo --config configs/tiny-ppo.ini [--section.key value ...]: stage 3, PPO of the
// SFT-merged policy against a reward model (or the AFINN lexicon) with a KL penalty to the
// adapter-off reference, data-parallel under MPI.
#include <cstdio>

#include "cli/commands.h"
#include "cli/training_setup.h"
#include "core/check.h"
#include "ppo/policy_model.h"
#include "ppo/ppo_trainer.h"
#include "train/stop_request.h"
#include "train/sft_task.h"
#include "train/training_loop.h"

namespace loom::cli {

int run_ppo(int argc, char** argv) {
  po::options_description options("loom ppo");
  ppo::add_ppo_options(options);
  TrainingSetup setup;
  if (!setup.parse(argc, argv, options, "loom ppo --config FILE.ini [--section.key value ...]")) return 0;
  const ppo::PpoOptions ppo_options = ppo::ppo_options_from(setup.values);
  setup.start(ppo_options.common, argc, argv, /*head_rows=*/1);
  // The policy's flat buffer: the LoRA weights and value head of the layout, then the value bias.
  const TrainableLayout& layout = *setup.layout;
  setup.state = std::make_unique<TrainableState>(ppo::policy_parameter_count(layout));
  init_trainable(setup.state->params(), layout, ppo_options.common.train.seed, 0.0f);
  ppo::init_value_head(setup.state->params(), layout, ppo_options.common.train.seed);

  const std::unique_ptr<data::Tokenizer> tokenizer = checkpoint_tokenizer(ppo_options.common.model.path);
  ppo::PpoTrainer trainer(ppo_options, *setup.base, layout, *setup.state, *tokenizer, setup.comm);
  if (setup.comm.rank == 0)
    std::printf("ppo: %d rollouts per rank per step over %d rank(s), reward %s, %lld steps\n",
                ppo_options.ppo.batch_size, setup.comm.world, ppo_options.reward.model.c_str(),
                static_cast<long long>(ppo_options.common.train.max_steps));
  const ppo::PpoOutcome outcome = trainer.run(setup.config_ini);
  if (setup.comm.rank == 0) {
    if (outcome.interrupted)
      std::printf("interrupted at step %lld of %lld: resume with --train.resume auto\n",
                  static_cast<long long>(outcome.steps_done), static_cast<long long>(outcome.total_steps));
    else
      std::printf("done: %lld PPO steps, reward mean %.4f -> %.4f, final adapter and value head in %s\n",
                  static_cast<long long>(outcome.steps_done), ppo::stat_value(outcome.first_stats, "env/reward_mean"),
                  ppo::stat_value(outcome.last_stats, "env/reward_mean"),
                  final_adapter_dir(ppo_options.common.train.output_dir).c_str());
  }
  return outcome.interrupted ? kExitRequeue : 0;
}

}  // namespace loom::cli
