#include "cli/bench_memory.h"

#include <algorithm>
#include <chrono>
#include <cstddef>
#include <cstdio>

#include "core/aligned_buffer.h"

namespace loom::cli {

void print_memory_bandwidth() {
  using Clock = std::chrono::steady_clock;
  constexpr size_t kLargestMib = 512, kBytesPerSize = size_t(2) << 30;  // each size passes ~2 GiB
  for (size_t mib = 1; mib <= kLargestMib; mib *= 2) {
    const size_t n = (mib << 20) / sizeof(float);
    AlignedBuffer<float> buffer;
    float* x = buffer.reserve(n);
    std::fill_n(x, n, 1.0f);
    const size_t passes = std::max<size_t>(3, kBytesPerSize / (mib << 20));
    double best = 0.0;
    for (int rep = 0; rep < 3; ++rep) {
      const Clock::time_point start = Clock::now();
      for (size_t pass = 0; pass < passes; ++pass) {
#pragma omp parallel for simd schedule(static)
        for (size_t i = 0; i < n; ++i) x[i] = x[i] * 0.5f + 1.0f;  // stays near 2
      }
      const double seconds = std::chrono::duration<double>(Clock::now() - start).count();
      best = std::max(best, 2.0 * sizeof(float) * double(n) * double(passes) / seconds);
    }
    std::printf("memory %zu MiB: read-modify-write %.1f GB/s\n", mib, best / 1e9);
  }
}

}  // namespace loom::cli
