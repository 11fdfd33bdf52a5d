// SFT under 2 MPI ranks (ctest runs this with mpirun -np 2), on the tiny-run fixture:
// - 1 rank x 4 accumulation steps and 2 ranks x 2 steps give the same gradients;
// - the adapters stay bit-identical across ranks;
// - a run stopped after step 3 and resumed ends with the same adapter bytes as one that never stopped.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <cstring>
#include <fstream>
#include <iterator>

#include "backend/cpu_f32.h"
#include "dist/comm.h"
#include "io/hf_checkpoint.h"
#include "train/sft_task.h"
#include "train/stop_request.h"
#include "train/checkpoint_dir.h"
#include "train/training_loop.h"

namespace loom {
namespace {

dist::Comm& world() {
  static dist::Comm comm = [] {
    int argc = 0;
    char** argv = nullptr;
    return dist::Comm::init(&argc, &argv);
  }();
  return comm;
}

std::string fixture(const std::string& name) { return std::string(std::getenv("LOOM_TINY_RUN")) + "/" + name; }

SftOptions options(int micro, int accum, float dropout, const std::string& output_dir) {
  SftOptions o;
  o.common.model.path = fixture("model");
  o.common.model.quant = QuantMode::NF4;
  o.common.lora.r = 4;
  o.common.lora.alpha = 8.0f;
  o.common.lora.dropout = dropout;
  o.common.lora.target_modules = parse_target_modules("all-linear");
  o.common.train.output_dir = output_dir;
  o.common.train.micro_batch_size = micro;
  o.common.train.grad_accum_steps = accum;
  o.common.train.max_steps = 6;
  o.common.train.learning_rate = 1e-3;
  o.common.train.warmup_steps = 2;
  o.common.train.logging_steps = 2;
  o.common.train.save_steps = 2;
  o.common.train.seed = 5;
  o.data.train = fixture("sft/manifest.json");
  return o;
}

struct TinyRun {
  HfCheckpoint checkpoint;
  FrozenWeights base;
  TrainableLayout layout;
  TrainableState state;
  SftTask task;
  TinyRun(const SftOptions& o, const dist::Comm& comm)
      : checkpoint(o.common.model.path), base(checkpoint, o.common.model.quant, cpu_f32_backend()), layout(base.shape(), o.common.lora, 0),
        state(layout.total(), cpu_f32_backend()), task(o, base, layout, nullptr, comm, cpu_f32_backend()) {
    init_trainable(state.params(), layout, o.common.train.seed, 0.0f);
    // PEFT's init leaves B = 0 and so A without gradient; one update gives both gradients.
    for (const LoraSlot& s : layout.slots())
      for (size_t i = 0; i < size_t(s.out) * layout.rank(); ++i) state.params()[s.b + i] = 0.01f * float((i * 7) % 13) - 0.06f;
  }
  // One step's gradients, all-reduced over comm.
  std::vector<float> step_gradients(const dist::Comm& comm) {
    state.zero_grads();
    int64_t units = task.load_step();
    comm.allreduce_sum(&units, 1);
    LoraContext lora{&layout, state.params(), state.grads(), 0.0f, 0, true};
    task.run_step(lora, 1.0f / float(units));
    comm.allreduce_sum(state.grads(), state.count());
    return std::vector<float>(state.grads(), state.grads() + state.count());
  }
};

std::string scratch(const std::string& name) {
  const std::string dir = std::string(std::getenv("LOOM_BINARY_DIR")) + "/mpi_test_sft/" + name;
  return dir;
}

std::string file_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

TEST(SftDataParallel, OneRankTimesFourEqualsTwoRanksTimesTwo) {
  const dist::Comm& comm = world();
  ASSERT_EQ(comm.world, 2) << "run under mpirun -np 2";
  const dist::Comm alone;  // a world of one inside each rank
  TinyRun single(options(1, 4, 0.0f, scratch("a")), alone);
  TinyRun parallel(options(1, 2, 0.0f, scratch("b")), comm);
  const std::vector<float> reference = single.step_gradients(alone);
  const std::vector<float> distributed = parallel.step_gradients(comm);
  double scale = 0.0, diff = 0.0;
  for (size_t i = 0; i < reference.size(); ++i) {
    scale = std::max(scale, double(std::fabs(reference[i])));
    diff = std::max(diff, double(std::fabs(reference[i] - distributed[i])));
  }
  EXPECT_GT(scale, 0.0);
  EXPECT_LE(diff, 1e-5 * scale) << "max |g_1x4 - g_2x2| = " << diff << " of max |g| " << scale;
}

TEST(SftDataParallel, AdaptersStayIdenticalAcrossRanksAndResumeIsBitIdentical) {
  const dist::Comm& comm = world();
  const std::string straight = scratch("straight"), stopped = scratch("stopped");
  if (comm.rank == 0) {
    std::filesystem::remove_all(straight);
    std::filesystem::remove_all(stopped);
  }
  comm.barrier();
  TrainingRun run;

  // Uninterrupted: 6 steps with dropout.
  SftOptions o = options(2, 1, 0.1f, straight);
  run.train = &o.common.train;
  {
    TinyRun r(o, comm);
    const TrainingOutcome outcome = run_training(run, r.task, r.state, r.layout, comm);
    EXPECT_EQ(outcome.steps_done, 6);
    std::vector<uint8_t> mine(reinterpret_cast<uint8_t*>(r.state.params()),
                              reinterpret_cast<uint8_t*>(r.state.params() + r.state.count()));
    const auto all = comm.allgather(mine);
    EXPECT_EQ(all[0], all[1]) << "rank adapters differ";
  }

  // Stopped after step 3 (as SIGUSR1 would), then resumed.
  SftOptions s = options(2, 1, 0.1f, stopped);
  run.train = &s.common.train;
  {
    TinyRun r(s, comm);
    run.after_step = [](int64_t step) { if (step == 3) request_stop(); };
    const TrainingOutcome outcome = run_training(run, r.task, r.state, r.layout, comm);
    EXPECT_TRUE(outcome.interrupted);
    EXPECT_EQ(outcome.steps_done, 3);
  }
  clear_stop_request();
  run.after_step = nullptr;
  s.common.train.resume = ResumeMode::Auto;
  {
    TinyRun r(s, comm);
    const TrainingOutcome outcome = run_training(run, r.task, r.state, r.layout, comm);
    EXPECT_FALSE(outcome.interrupted);
    EXPECT_EQ(outcome.steps_done, 6);
  }
  const std::string a = file_bytes(final_adapter_dir(straight) + "/adapter_model.safetensors");
  const std::string b = file_bytes(final_adapter_dir(stopped) + "/adapter_model.safetensors");
  EXPECT_FALSE(a.empty());
  EXPECT_TRUE(a == b) << "the resumed run's adapter differs from the uninterrupted one";
}

// A run whose parameters turn NaN after step 3 (as a diverging learning rate makes them):
// under nan_policy stop, step 4 fails before its update on every rank, the step-2 checkpoint
// is the newest and no final adapter is written; under skip, max_skipped_steps skipped
// updates in a row stop it.
TEST(SftDataParallel, NonFiniteLossStopsTheRunAndNothingNonFiniteIsWritten) {
  const dist::Comm& comm = world();
  const std::string out = scratch("nan");
  if (comm.rank == 0) std::filesystem::remove_all(out);
  comm.barrier();
  SftOptions o = options(2, 1, 0.0f, out);
  o.common.train.save_total_limit = 1;
  TrainingRun run;
  run.train = &o.common.train;
  {
    TinyRun r(o, comm);
    run.after_step = [&](int64_t step) { if (step == 3) r.state.params()[0] = std::nanf(""); };
    try {
      run_training(run, r.task, r.state, r.layout, comm);
      ADD_FAILURE() << "a NaN loss did not stop the run";
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find("step 4: loss nan"), std::string::npos) << e.what();
    }
  }
  comm.barrier();
  EXPECT_TRUE(std::filesystem::exists(checkpoint_path(out, 2)));
  EXPECT_FALSE(std::filesystem::exists(checkpoint_path(out, 4)));
  EXPECT_FALSE(std::filesystem::exists(final_adapter_dir(out)));
  comm.barrier();

  if (comm.rank == 0) std::filesystem::remove_all(out);
  comm.barrier();
  o.common.train.nan_policy = NanPolicy::Skip;
  o.common.train.max_skipped_steps = 2;
  o.common.train.save_steps = 0;  // a checkpoint of NaN parameters would be refused on rank 0 alone
  {
    TinyRun r(o, comm);
    // This run's own parameters (the first lambda's r is gone: AddressSanitizer found it).
    run.after_step = [&](int64_t step) { if (step == 3) r.state.params()[0] = std::nanf(""); };
    try {
      run_training(run, r.task, r.state, r.layout, comm);
      ADD_FAILURE() << "skipped updates did not stop the run";
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find("step 5: loss nan"), std::string::npos) << e.what();
      EXPECT_NE(std::string(e.what()).find("2 updates in a row"), std::string::npos) << e.what();
    }
  }
  comm.barrier();
}

}  // namespace
}  // namespace loom

int main(int argc, char** argv) {
  ::testing::InitGoogleTest(&argc, argv);
  loom::world();
  const int failed = RUN_ALL_TESTS();
  loom::world().finalize();
  return failed;
}
