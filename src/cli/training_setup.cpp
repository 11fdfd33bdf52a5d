#include "cli/training_setup.h"

#include <algorithm>
#include <cstdio>
#include <exception>
#include <iostream>

#include "backend/backend_factory.h"
#include "core/check.h"
#include "dist/thread_budget.h"
#include "ops/bf16/compute_dispatch.h"
#include "train/device_choice.h"
#include "train/stop_request.h"
#include "train/training_loop.h"

namespace loom::cli {

TrainingSetup::~TrainingSetup() {
  if (std::uncaught_exceptions() == 0) comm.finalize();  // on an error, main aborts every rank instead
}

bool TrainingSetup::parse(int argc, char** argv, const po::options_description& options, const std::string& usage) {
  options_ = &options;
  const ConfigArguments args = split_config_arguments(argc, argv);
  if (args.help) {
    std::cout << "usage: " << usage << "\n\n" << options << "\n";
    return false;
  }
  values = load_config(options, args.config_path, args.overrides);
  config_ini = effective_config_ini(options, values);
  return true;
}

void TrainingSetup::start(const CommonTrainingOptions& options, int argc, char** argv, int head_rows) {
  common = &options;
  comm = dist::Comm::init(&argc, &argv);
  const int threads = dist::apply_thread_budget();
  choose_device(options.run.device, comm.rank);
  const ComputeMode compute_mode = parse_compute_mode(options.run.compute, "run.compute");
  const std::unique_ptr<Backend> backend = make_backend(compute_mode);
  compute::use_kernels_of(*backend);
  if (comm.rank == 0) std::printf("%s\n", compute_line(*backend, compute_mode).c_str());
  if (comm.rank == 0) std::printf("# effective configuration\n%s\n", config_ini.c_str());
  checkpoint = std::make_unique<HfCheckpoint>(options.model.path);
  base = std::make_unique<FrozenWeights>(*checkpoint, options.model.quant);
  const FrozenBytes& bytes = base->bytes();
  if (comm.rank == 0)
    std::printf("base %s: %s linears %.2f MiB + embeddings/norms/head %.2f MiB (rank 0 of %d on %s, %d threads)\n",
                options.model.path.c_str(), quant_mode_name(options.model.quant), bytes.linears / 1048576.0,
                (bytes.embeddings + bytes.norms + bytes.lm_head) / 1048576.0, comm.world, comm.host.c_str(), threads);
  layout = std::make_unique<TrainableLayout>(base->shape(), options.lora, head_rows);
  state = std::make_unique<TrainableState>(layout->total());
  init_trainable(state->params(), *layout, options.train.seed, /*head_init_std=*/0.02f);
  if (layout->trains_lm_head()) {  // PEFT's modules_to_save starts from a copy of the module
    LOOM_REQUIRE(!base->config().tie_word_embeddings, options.model.path,
                 "/config.json: tie_word_embeddings is true (lm_head is embed_tokens), so lora.modules_to_save = ",
                 kLmHeadModule, " is not supported");
    std::copy(base->lm_head(), base->lm_head() + layout->total() - layout->head_offset(),
              state->params() + layout->head_offset());
  }
  if (comm.rank == 0)
    std::printf("%s\n", trainable_summary(*layout, llama_parameter_count(base->config())).c_str());
}

int TrainingSetup::train(TrainingTask& task, const std::string& head_key) {
  TrainingRun run;
  run.train = &common->train;
  run.head_key = head_key;
  run.config_ini = config_ini;
  const TrainingOutcome outcome = run_training(run, task, *state, *layout, comm);
  if (comm.rank == 0) {
    if (outcome.interrupted)
      std::printf("interrupted at step %lld of %lld: resume with --train.resume auto\n",
                  static_cast<long long>(outcome.steps_done), static_cast<long long>(outcome.total_steps));
    else
      std::printf("done: %lld steps, final adapter in %s\n", static_cast<long long>(outcome.steps_done),
                  final_adapter_dir(common->train.output_dir).c_str());
  }
  return outcome.interrupted ? kExitRequeue : 0;
}

}  // namespace loom::cli
