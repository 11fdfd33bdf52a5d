#include "model/lora_linear.h"

#include <cstring>

#include "ops/bf16/compute_dispatch.h"
#include "ops/dropout.h"
#include "ops/elementwise.h"

namespace loom {

// Each adapted linear draws its own dropout mask: the stream names the layer and the linear.
static uint64_t dropout_stream(const LoraSlot& slot) { return uint64_t(slot.layer) * kNumLinears + slot.id + 1; }

static bool adapter_active(const LoraSlot* slot, const LoraContext& lora) {
  return slot != nullptr && lora.enabled;
}

void lora_linear_forward(float* y, float* u, const float* x, const QuantizedMatrix& w,
                         const LoraSlot* slot, const LoraContext& lora, LinearScratch& scratch, int N) {
  const int out = w.rows, in = w.cols;
  compute::frozen_matmul_forward(y, x, w, scratch.weight, N);
  if (!adapter_active(slot, lora)) return;
  const int R = lora.layout->rank();
  const float* xd = x;  // (N, in)
  if (lora.dropout > 0.0f) {
    cpu::dropout_forward(scratch.dropped, x, size_t(N) * in, lora.dropout, lora.dropout_seed, dropout_stream(*slot));
    xd = scratch.dropped;
  }
  compute::matmul_forward(u, xd, lora.params + slot->a, N, in, R, false);  // u (N, R)
  std::memcpy(scratch.mid, u, sizeof(float) * size_t(N) * R);
  cpu::scale_inplace(scratch.mid, lora.layout->scale(), size_t(N) * R);
  compute::matmul_forward(y, scratch.mid, lora.params + slot->b, N, R, out, /*accumulate=*/true);
}

void lora_linear_backward(float* dx, const float* dy, const float* x, const float* u,
                          const QuantizedMatrix& w, const LoraSlot* slot, const LoraContext& lora,
                          LinearScratch& scratch, int N) {
  const int out = w.rows, in = w.cols;
  compute::frozen_matmul_backward_input(dx, dy, w, scratch.weight, N);
  if (!adapter_active(slot, lora)) return;
  const int R = lora.layout->rank();
  const float scale = lora.layout->scale();
  // dB (out, R) += dy^T @ (scale * u)
  std::memcpy(scratch.mid, u, sizeof(float) * size_t(N) * R);
  cpu::scale_inplace(scratch.mid, scale, size_t(N) * R);
  compute::matmul_backward_weight(lora.grads + slot->b, dy, scratch.mid, N, R, out);
  // du (N, R) = scale * dy @ B
  std::memset(scratch.mid, 0, sizeof(float) * size_t(N) * R);
  compute::matmul_backward_input(scratch.mid, dy, lora.params + slot->b, N, R, out);
  cpu::scale_inplace(scratch.mid, scale, size_t(N) * R);
  // dA (R, in) += du^T @ dropout(x)
  const float* xd = x;
  if (lora.dropout > 0.0f) {
    cpu::dropout_forward(scratch.dropped, x, size_t(N) * in, lora.dropout, lora.dropout_seed, dropout_stream(*slot));
    xd = scratch.dropped;
  }
  compute::matmul_backward_weight(lora.grads + slot->a, scratch.mid, xd, N, in, R);
  // dx += dropout'(du @ A)
  if (lora.dropout > 0.0f) {
    std::memset(scratch.dropped, 0, sizeof(float) * size_t(N) * in);
    compute::matmul_backward_input(scratch.dropped, scratch.mid, lora.params + slot->a, N, in, R);
    cpu::dropout_backward(dx, scratch.dropped, size_t(N) * in, lora.dropout, lora.dropout_seed, dropout_stream(*slot));
  } else {
    compute::matmul_backward_input(dx, scratch.mid, lora.params + slot->a, N, in, R);
  }
}

}  // namespace loom
