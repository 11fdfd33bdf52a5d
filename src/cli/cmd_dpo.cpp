// loom dpo --config configs/tiny-dpo.ini [--section.key value ...]: Direct Preference
// Optimization of a LoRA adapter on preference pairs (TRL's DPOTrainer), data-parallel under
// MPI, as an alternative to reward model + PPO.
#include <cstdio>

#include "cli/commands.h"
#include "cli/training_setup.h"
#include "train/dpo_task.h"
#include "train/sft_task.h"
#include "train/training_loop.h"

namespace loom::cli {

int run_dpo(int argc, char** argv) {
  po::options_description options("loom dpo");
  add_dpo_options(options);
  TrainingSetup setup;
  if (!setup.parse(argc, argv, options, "loom dpo --config FILE.ini [--section.key value ...]")) return 0;
  const DpoOptions dpo = dpo_options_from(setup.values);
  setup.start(dpo.common, argc, argv, /*head_rows=*/0);

  const std::unique_ptr<data::Tokenizer> tokenizer = checkpoint_tokenizer(dpo.common.model.path);
  DpoTask task(dpo, *setup.base, *setup.layout, tokenizer.get(), setup.comm, *setup.backend);
  if (setup.comm.rank == 0)
    std::printf("dpo: loss %s, beta %g, reference %s, %lld optimizer steps per epoch over %d rank(s)\n",
                dpo_loss_type_name(dpo.loss.type), dpo.loss.beta,
                dpo.ref_model.empty() ? "the base with the adapter off" : dpo.ref_model.c_str(),
                static_cast<long long>(task.steps_per_epoch()), setup.comm.world);
  return setup.train(task, setup.layout->trains_lm_head() ? kLmHeadKey : "");
}

}  // namespace loom::cli
