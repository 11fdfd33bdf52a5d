// run.device without a GPU (as on CI): cpu and auto give the CPU backend of run.compute,
// cuda is one clear error, and the gpu backend refuses bf16 by name.
#include <gtest/gtest.h>

#include <string>

#include "backend/backend_factory.h"
#include "support/test_support.h"
#include "train/device_choice.h"

namespace loom {
namespace {

RunOptions run_on(DeviceKind device, ComputeMode compute) {
  RunOptions run;
  run.device = device;
  run.compute = compute;
  return run;
}

TEST(DeviceChoice, CpuAndAutoRunTheCpuBackendOfRunCompute) {
  const dist::Comm alone;
  EXPECT_EQ(std::string(make_run_backend(run_on(DeviceKind::Cpu, ComputeMode::F32), alone)->name()), "cpu-f32");
  EXPECT_EQ(std::string(make_run_backend(run_on(DeviceKind::Auto, ComputeMode::F32), alone)->name()), "cpu-f32");
  EXPECT_EQ(std::string(make_run_backend(run_on(DeviceKind::Cpu, ComputeMode::Auto), alone)->name()),
            make_backend(ComputeMode::Auto)->name());
}

TEST(DeviceChoice, CudaWithoutAUsableGpuIsOneClearError) {
  std::string reason;
  if (usable_gpu_count(&reason) > 0) GTEST_SKIP() << "a GPU is usable here";
  const dist::Comm alone;
  const std::string error = test::error_of([&] { make_run_backend(run_on(DeviceKind::Cuda, ComputeMode::Auto), alone); });
  EXPECT_EQ(error, "run.device=cuda: no usable GPU (" + reason + ")");
  EXPECT_FALSE(reason.empty());
}

}  // namespace
}  // namespace loom
