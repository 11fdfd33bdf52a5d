#include "train/device_choice.h"

#include <cstdio>
#include <string>

#include "backend/backend_factory.h"

namespace loom {

std::unique_ptr<Backend> make_run_backend(const RunOptions& run, const dist::Comm& comm) {
  if (run.device == DeviceKind::Cuda) return make_gpu_backend(run.compute, comm.local_rank);
  std::string reason;
  const int gpus = run.device == DeviceKind::Auto ? usable_gpu_count(&reason) : 0;
  if (gpus > 0 && comm.rank == 0)
    std::printf("note: %d GPU(s) visible; run.device=auto runs on the CPU path until the cuda backend is verified on "
                "more GPUs (run.device=cuda uses it now)\n", gpus);
  return make_backend(run.compute);
}

}  // namespace loom
