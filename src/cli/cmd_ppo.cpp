// loom ppo --config configs/tiny-ppo.ini [--section.key value ...]: stage 3, PPO of the
// SFT-merged policy against a reward model (or the AFINN lexicon) with a KL penalty to the
// adapter-off reference, data-parallel under MPI.
#include <cstdio>
#include <vector>

#include "cli/commands.h"
#include "cli/training_setup.h"
#include "core/check.h"
#include "ppo/ppo_trainer.h"
#include "train/run_control.h"
#include "train/sft_task.h"

namespace loom::cli {

int run_ppo(int argc, char** argv) {
  po::options_description options("loom ppo");
  ppo::add_ppo_options(options);
  TrainingSetup setup;
  if (!setup.parse(argc, argv, options, "loom ppo --config FILE.ini [--section.key value ...]")) return 0;
  const ppo::PpoOptions ppo_options = ppo::ppo_options_from(setup.values);
  // The policy's flat buffer: the LoRA weights, then the value head's weight and bias.
  setup.start(ppo_options.common, argc, argv, /*head_rows=*/1, HeadKind::ValueHead);
  const TrainableLayout& layout = *setup.layout;
  std::vector<float> initial(layout.total());
  init_trainable(initial.data(), layout, ppo_options.common.train.seed, 0.0f);
  ppo::init_value_head(initial.data(), layout, ppo_options.common.train.seed);
  setup.state->from_host(setup.state->params(), initial);

  const std::unique_ptr<data::Tokenizer> tokenizer = checkpoint_tokenizer(ppo_options.common.model.path);
  ppo::PpoTrainer trainer(ppo_options, *setup.base, layout, *setup.state, *tokenizer, setup.comm);
  if (setup.comm.rank == 0)
    std::printf("ppo: %d rollouts per rank per step over %d rank(s), reward %s, %lld steps\n",
                ppo_options.ppo.batch_size, setup.comm.world, ppo_options.reward.model.c_str(),
                static_cast<long long>(ppo_options.common.train.max_steps));
  TrainingRun run = setup.run("");
  run.progress_lines = false;  // the trainer prints its own line
  const ppo::PpoOutcome outcome = trainer.run(run);
  char summary[128];
  std::snprintf(summary, sizeof summary, "reward mean %.4f -> %.4f, value head beside the adapter",
                ppo::stat_value(outcome.first_stats, "env/reward_mean"),
                ppo::stat_value(outcome.last_stats, "env/reward_mean"));
  return finish_run({outcome.steps_done, outcome.total_steps, outcome.interrupted, summary},
                    ppo_options.common.train.output_dir, setup.comm);
}

}  // namespace loom::cli
