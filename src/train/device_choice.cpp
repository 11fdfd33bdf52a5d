#include "train/device_choice.h"

#include <cstdio>
#include <string>

#include "core/check.h"
#ifdef LOOM_HAVE_CUDA
#include "kernels/device.cuh"
#endif

namespace loom {

static int visible_gpus(std::string* reason) {
#ifdef LOOM_HAVE_CUDA
  return cuda::usable_device_count(reason);
#else
  *reason = "this build has no CUDA backend";
  return 0;
#endif
}

DeviceKind choose_device(DeviceKind requested, int rank) {
  std::string reason;
  const int gpus = visible_gpus(&reason);
  LOOM_REQUIRE(requested != DeviceKind::Cuda, "run.device=cuda: the training and generation steps of this loom "
               "version run on the CPU path only (", gpus, " usable GPU(s)", gpus ? "" : ": " + reason,
               "); use run.device=auto or cpu");
  if (requested == DeviceKind::Auto && rank == 0 && gpus > 0)
    std::printf("note: %d GPU(s) visible; this loom version trains on the CPU path\n", gpus);
  return DeviceKind::Cpu;
}

}  // namespace loom
