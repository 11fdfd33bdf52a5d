// loom sft --config configs/tiny-sft.ini [--section.key value ...]: stage 1, supervised
// fine-tuning of LoRA adapters on a quantized frozen base, data-parallel under MPI.
#include <cstdio>

#include "cli/commands.h"
#include "cli/training_setup.h"
#include "train/sft_task.h"
#include "train/run_control.h"

namespace loom::cli {

int run_sft(int argc, char** argv) {
  po::options_description options("loom sft");
  add_sft_options(options);
  TrainingSetup setup;
  if (!setup.parse(argc, argv, options, "loom sft --config FILE.ini [--section.key value ...]")) return 0;
  const SftOptions sft = sft_options_from(setup.values);
  setup.start(sft.common, argc, argv, /*head_rows=*/0);

  const std::unique_ptr<data::Tokenizer> tokenizer = checkpoint_tokenizer(sft.common.model.path);
  SftTask task(sft, *setup.base, *setup.layout, tokenizer.get(), setup.comm, *setup.backend);
  if (setup.comm.rank == 0)
    std::printf("sft: %lld training rows of %d tokens, %lld optimizer steps per epoch over %d rank(s)\n",
                static_cast<long long>(task.steps_per_epoch() * sft.common.train.micro_batch_size *
                                       sft.common.train.grad_accum_steps * setup.comm.world),
                task.seq_len(), static_cast<long long>(task.steps_per_epoch()), setup.comm.world);
  return setup.train(task, setup.layout->trains_lm_head() ? kLmHeadKey : "");
}

}  // namespace loom::cli
