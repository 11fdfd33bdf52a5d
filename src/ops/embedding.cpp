#include "ops/embedding.h"

#include <cstddef>
#include <cstring>

#include "core/check.h"
#include "core/parallel.h"

namespace loom::cpu {

void embedding_forward(float* out, const int* tokens, const float* wte, int N, int C, int V) {
  for (int n = 0; n < N; ++n)
    LOOM_REQUIRE(tokens[n] >= 0 && tokens[n] < V, "embedding: token id ", tokens[n], " at row ", n,
                 " is outside the vocabulary [0, ", V, ")");
#pragma omp parallel for if (size_t(N) * C >= kMinParallelElements)
  for (int n = 0; n < N; ++n)
    std::memcpy(out + static_cast<size_t>(n) * C, wte + static_cast<size_t>(tokens[n]) * C,
                sizeof(float) * C);
}

}  // namespace loom::cpu
