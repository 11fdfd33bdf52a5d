// Five optimizer steps of loom's SFT training path (SftTask reading shards, the target builder,
// run_training: loss normalised over the step, clip, cosine schedule with warmup, AdamW) against
// PEFT + torch AdamW + clip_grad_norm_ + transformers' get_cosine_schedule_with_warmup
// (tests/golden/make_golden.py, case train_steps). Two runs from the llama_gqa checkpoint and its
// random PEFT adapter: packed_docs rows (position restart, attention and targets inside a
// document; 2 x 2 accumulation) and padded rows with a completion-only loss mask. Every micro-
// batch holds 48 LM-head rows, more than one 32-row chunk. max_grad_norm clips every step.
//
// Tolerances (measured by the script: plain f32 torch vs the float64 reference stored here):
// per-step loss 5.2e-7..6.0e-7 -> 5e-6; final adapter weights 3.2e-8..4.0e-8 -> 1e-6 absolute.
// Training without clipping moves the adapter by 8e-4..1.1e-3, far outside.
#include <gtest/gtest.h>

#include "backend/backend_factory.h"
#include "backend/cpu_f32.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>

#include <nlohmann/json.hpp>

#include "data/manifest.h"
#include "data/shard_sampler.h"
#include "data/shard_writer.h"
#include "io/atomic_file.h"
#include "io/hf_checkpoint.h"
#include "support/fenced_backend.h"
#include "support/golden_file.h"
#include "support/test_support.h"
#include "train/sft_task.h"
#include "train/training_loop.h"

namespace loom {
namespace {

constexpr int kSteps = 5;
constexpr double kLearningRate = 2e-3;
constexpr int kWarmup = 2;
constexpr float kWeightDecay = 0.05f, kAdamEps = 1e-6f, kMaxGradNorm = 0.05f;
constexpr uint64_t kSeed = 3;

struct GoldenRun {
  std::vector<int> tokens, doc_index, loss_mask;  // (rows, T) in the order the steps consume them
  int rows = 0, T = 0, micro = 0, accum = 0;
};

GoldenRun golden_run(const SafetensorsFile& file, const std::string& name) {
  GoldenRun run;
  run.tokens = test::golden_ints(file, name + ".tokens");
  run.doc_index = test::golden_ints(file, name + ".doc_index");
  run.loss_mask = test::golden_ints(file, name + ".loss_mask");
  const TensorInfo* info = file.find(name + ".tokens");
  run.rows = int(info->shape[0]);
  run.T = int(info->shape[1]);
  run.micro = test::golden_ints(file, name + ".micro_batch")[0];
  run.accum = test::golden_ints(file, name + ".grad_accum")[0];
  return run;
}

// One shard + manifest holding the golden rows, placed so that the sampler (seed kSeed, one
// rank) hands them to the steps in golden order: record order[k] holds golden row k.
std::string write_shards(const std::string& dir, const GoldenRun& run, data::SftLayout layout) {
  data::ShardInfo info;
  info.kind = data::ShardKind::sft;
  info.layout = layout;
  info.row_len = run.T;
  info.tokenizer_md5 = "none";
  info.tokenizer_path = "none";
  info.vocab_size = 512;
  info.bos_id = 1;
  info.eos_id = 2;
  info.pad_id = 0;
  info.template_name = "golden";
  info.source_files = {"make_golden.py"};
  const std::vector<int64_t> order =
      data::ShardSampler(run.rows, kSeed, 0, 1, data::Partition::strided).epoch_records(0);
  data::ShardRows rows;
  rows.rows = run.rows;
  rows.tokens.resize(size_t(run.rows) * run.T);
  rows.doc_index.resize(rows.tokens.size());
  rows.loss_mask.resize(rows.tokens.size());
  for (int k = 0; k < run.rows; ++k) {
    const size_t from = size_t(k) * run.T, to = size_t(order[k]) * run.T;
    for (int t = 0; t < run.T; ++t) {
      rows.tokens[to + t] = run.tokens[from + t];
      rows.doc_index[to + t] = run.doc_index[from + t];
      rows.loss_mask[to + t] = uint8_t(run.loss_mask[from + t]);
    }
  }
  if (layout == data::SftLayout::padded) {
    rows.lengths.resize(run.rows);
    rows.prompt_lengths.resize(run.rows);
    for (int r = 0; r < run.rows; ++r) {
      int first = run.T, last = 0;
      for (int t = 0; t < run.T; ++t) {
        if (!rows.loss_mask[size_t(r) * run.T + t]) continue;
        first = std::min(first, t);
        last = t + 1;
      }
      rows.lengths[r] = last;
      rows.prompt_lengths[r] = first;
    }
    rows.source_file.assign(run.rows, 0);
    for (int r = 0; r < run.rows; ++r) rows.source_line.push_back(r + 1);
  }
  data::ShardCounts counts;
  counts.records = counts.documents = run.rows;
  counts.tokens = int64_t(run.rows) * run.T;
  data::write_shard_file(dir + "/train-0.h5", info, "train", 0, counts, rows);
  data::Manifest manifest;
  manifest.info = info;
  data::ManifestSplit split;
  split.name = "train";
  split.shards.push_back({"train-0.h5", counts});
  split.totals = counts;
  manifest.splits.push_back(split);
  write_file_atomically(dir + "/manifest.json", data::manifest_to_json(manifest));
  return dir + "/manifest.json";
}

std::vector<nlohmann::json> metrics_lines(const std::string& output_dir) {
  std::ifstream in(output_dir + "/metrics.jsonl");
  std::vector<nlohmann::json> lines;
  for (std::string line; std::getline(in, line);) {
    nlohmann::json object = nlohmann::json::parse(line);
    if (object.contains("loss")) lines.push_back(object);
  }
  return lines;
}

void check_run(const std::string& name, data::SftLayout layout, const Backend& backend) {
  SCOPED_TRACE(name);
  const SafetensorsFile golden(test::golden_path("train_steps_golden.safetensors"));
  const std::vector<float> settings = test::golden_floats(golden, "settings");
  ASSERT_EQ(settings, (std::vector<float>{float(kSteps), float(kLearningRate), float(kWarmup), kWeightDecay,
                                          kAdamEps, kMaxGradNorm}))
      << "make_golden.py's TRAIN_* settings differ from this test's";
  const GoldenRun run = golden_run(golden, name);
  const std::string dir = test::scratch_dir("train-steps-golden-" + name);

  SftOptions o;
  o.common.model.path = test::golden_path("llama_gqa");
  o.common.model.quant = QuantMode::F32;
  o.common.lora = load_adapter_config(test::golden_path("llama_gqa_adapter") + "/adapter_config.json");
  o.common.train.output_dir = dir + "/out";
  o.common.train.micro_batch_size = run.micro;
  o.common.train.grad_accum_steps = run.accum;
  o.common.train.max_steps = kSteps;
  o.common.train.learning_rate = kLearningRate;
  o.common.train.lr_scheduler = LrScheduleKind::Cosine;
  o.common.train.warmup_steps = kWarmup;
  o.common.train.weight_decay = kWeightDecay;
  o.common.train.adam_epsilon = kAdamEps;
  o.common.train.max_grad_norm = kMaxGradNorm;
  o.common.train.seed = kSeed;
  o.common.train.logging_steps = 1;
  o.common.train.save_steps = 2;  // checkpoints too: they cross over from the backend's memory
  o.data.train = write_shards(dir, run, layout);

  const dist::Comm alone;
  const HfCheckpoint checkpoint(o.common.model.path);
  const FrozenWeights base(checkpoint, o.common.model.quant, backend);
  const TrainableLayout trainable(base.shape(), o.common.lora, 0);
  TrainableState state(trainable.total(), backend);
  std::vector<float> initial(trainable.total());
  load_peft_adapter(test::golden_path("llama_gqa_adapter"), trainable, initial.data(), "");
  state.from_host(state.params(), initial);
  SftTask task(o, base, trainable, nullptr, alone, backend);
  ASSERT_EQ(task.steps_per_epoch(), kSteps);
  TrainingRun training;
  training.train = &o.common.train;
  const TrainingOutcome outcome = run_training(training, task, state, trainable, alone);
  ASSERT_EQ(outcome.steps_done, kSteps);

  const std::vector<float> loss = test::golden_floats(golden, name + ".loss");
  const std::vector<float> grad_norm = test::golden_floats(golden, name + ".grad_norm");
  const std::vector<float> lr = test::golden_floats(golden, name + ".learning_rate");
  const std::vector<nlohmann::json> logged = metrics_lines(o.common.train.output_dir);
  ASSERT_EQ(logged.size(), size_t(kSteps));
  double worst_loss = 0.0, worst_weight = 0.0;
  for (int s = 0; s < kSteps; ++s) {
    worst_loss = std::max(worst_loss, std::fabs(logged[s]["loss"].get<double>() - loss[s]));
    EXPECT_NEAR(logged[s]["loss"].get<double>(), loss[s], 5e-6) << "loss of step " << s + 1;
    EXPECT_NEAR(logged[s]["grad_norm"].get<double>(), grad_norm[s], 1e-5 * grad_norm[s]) << "grad_norm of step " << s + 1;
    EXPECT_NEAR(logged[s]["learning_rate"].get<double>(), lr[s], 1e-7 * kLearningRate) << "lr of step " << s + 1;
  }

  // The final adapter as loom saved it (output_dir/final), tensor by tensor.
  const SafetensorsFile saved(final_adapter_dir(o.common.train.output_dir) + "/adapter_model.safetensors");
  const auto& names = llama_linear_names();
  for (const LoraSlot& slot : trainable.slots()) {
    for (const char* which : {"lora_A", "lora_B"}) {
      const std::string key = peft_lora_key(slot.layer, names[slot.id], which);
      const std::vector<float> mine = test::golden_floats(saved, key);
      const std::vector<float> want = test::golden_floats(golden, name + "." + key);
      ASSERT_EQ(mine.size(), want.size()) << key;
      const double diff = test::max_abs_diff(mine.data(), want.data(), mine.size());
      worst_weight = std::max(worst_weight, diff);
      EXPECT_LE(diff, 1e-6) << key;
    }
  }
  std::printf("%s: max |loss - golden| %.2e, max |adapter - golden| %.2e\n", name.c_str(), worst_loss, worst_weight);
  // Regenerating tests/golden/data/loom_sft_adapter (README): keep the docs run's adapter.
  const char* keep = std::getenv("LOOM_KEEP_TRAINED_ADAPTER");
  if (keep != nullptr && name == "docs") {
    std::filesystem::remove_all(keep);
    std::filesystem::create_directories(keep);
    for (const char* file : {"adapter_config.json", "adapter_model.safetensors"})
      std::filesystem::copy(final_adapter_dir(o.common.train.output_dir) + "/" + file, std::string(keep) + "/" + file);
  }
}

TEST(TrainStepsGolden, PackedDocumentsMatchPeftTorchAdamWClipCosine) {
  check_run("docs", data::SftLayout::packed_docs, cpu_f32_backend());
}

// The same steps with every arena out of the host's reach (support/fenced_backend.h): the
// training loop, optimizer, checkpoints and final adapter cross over only by upload/download.
TEST(TrainStepsGolden, OnFencedBackendMemoryMatchesPeftTorchAdamWClipCosine) {
  const test::FencedBackend fenced;
  check_run("docs", data::SftLayout::packed_docs, fenced);
}

// On the GPU (the cuda backend), where one is usable: scripts/gpu-check.sh runs this case.
TEST(TrainStepsGolden, OnTheCudaBackendMatchesPeftTorchAdamWClipCosine) {
  std::string why;
  if (usable_gpu_count(&why) == 0) GTEST_SKIP() << "no usable CUDA device: " << why;
  check_run("docs", data::SftLayout::packed_docs, *make_gpu_backend(ComputeMode::F32, 0));
}

TEST(TrainStepsGolden, CompletionOnlyMaskMatchesPeftTorchAdamWClipCosine) {
  check_run("mask", data::SftLayout::padded, cpu_f32_backend());
}

}  // namespace
}  // namespace loom
