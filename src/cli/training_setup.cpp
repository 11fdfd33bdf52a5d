#include "cli/training_setup.h"

#include <algorithm>
#include <cstdio>
#include <exception>
#include <iostream>

#include "core/check.h"
#include "dist/thread_budget.h"
#include "train/device_choice.h"
#include "train/training_loop.h"

namespace loom::cli {

TrainingSetup::~TrainingSetup() {
  if (std::uncaught_exceptions() == 0) comm.finalize();  // on an error, main aborts every rank instead
}

bool TrainingSetup::parse(int argc, char** argv, const po::options_description& options, const std::string& usage) {
  options_ = &options;
  const ConfigArguments args = split_config_arguments(argc, argv);
  if (args.help) {
    std::cout << "usage: " << usage << "\n\n" << options << "\nother names of keys (docs/configs.md):\n"
              << alias_help(options) << "\n";
    return false;
  }
  values = load_config(options, args.config_path, args.overrides);
  config_ini = effective_config_ini(options, values);
  return true;
}

void TrainingSetup::start(const CommonTrainingOptions& options, int argc, char** argv, int head_rows, HeadKind head) {
  common = &options;
  comm = dist::Comm::init(&argc, &argv);
  comm.collective_timeout_s = options.run.collective_timeout_s;
  const int threads = dist::apply_thread_budget();
  backend = make_run_backend(options.run, comm);
  if (comm.rank == 0) std::printf("%s\n", compute_line(*backend, options.run.compute).c_str());
  compute = backend->name();
  if (comm.rank == 0) std::printf("# effective configuration\n%s\n", config_ini.c_str());
  checkpoint = std::make_unique<HfCheckpoint>(options.model.path);
  base = std::make_unique<FrozenWeights>(*checkpoint, options.model.quant, *backend);
  const FrozenBytes& bytes = base->bytes();
  if (comm.rank == 0)
    std::printf("base %s: %s linears %.2f MiB + embeddings/norms/head %.2f MiB (rank 0 of %d on %s, %d threads)\n",
                options.model.path.c_str(), quant_mode_name(options.model.quant), bytes.linears / 1048576.0,
                (bytes.embeddings + bytes.norms + bytes.lm_head) / 1048576.0, comm.world, comm.host.c_str(), threads);
  layout = std::make_unique<TrainableLayout>(base->shape(), options.lora, head_rows, head == HeadKind::ValueHead);
  state = std::make_unique<TrainableState>(layout->total(), *backend);
  std::vector<float> initial(layout->total());
  init_trainable(initial.data(), *layout, options.train.seed, /*head_init_std=*/0.02f);
  state->from_host(state->params(), initial);
  if (layout->trains_lm_head()) {  // PEFT's modules_to_save starts from a copy of the module
    LOOM_REQUIRE(!base->config().tie_word_embeddings, options.model.path,
                 "/config.json: tie_word_embeddings is true (lm_head is embed_tokens), so lora.modules_to_save = ",
                 kLmHeadModule, " is not supported");
    backend->copy(state->params() + layout->head_offset(), base->lm_head(), layout->total() - layout->head_offset());
  }
  if (comm.rank == 0)
    std::printf("%s\n", trainable_summary(*layout, llama_parameter_count(base->config())).c_str());
}

TrainingRun TrainingSetup::run(const std::string& head_key) const {
  TrainingRun run;
  run.train = &common->train;
  run.head_key = head_key;
  run.config_ini = config_ini;
  run.compute = compute;
  return run;
}

int TrainingSetup::train(TrainingTask& task, const std::string& head_key) {
  const TrainingRun training = run(head_key);
  const TrainingOutcome outcome = run_training(training, task, *state, *layout, comm);
  return finish_run({outcome.steps_done, outcome.total_steps, outcome.interrupted, ""}, common->train.output_dir, comm);
}

}  // namespace loom::cli
