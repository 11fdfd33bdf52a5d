#include "model/lora_linear.h"

namespace loom {

// Each adapted linear draws its own dropout mask: the stream names the layer and the linear.
static uint64_t dropout_stream(const LoraSlot& slot) { return uint64_t(slot.layer) * kNumLinears + slot.id + 1; }

static bool adapter_active(const LoraSlot* slot, const LoraContext& lora) {
  return slot != nullptr && lora.enabled;
}

void lora_linear_forward(float* y, float* u, const float* x, const QuantizedMatrix& w,
                         const LoraSlot* slot, const LoraContext& lora, LinearScratch& scratch, int N,
                         const Backend& be) {
  const int out = w.rows, in = w.cols;
  be.quantized_matmul_forward(y, scratch.weight, x, w, N, /*accumulate=*/false);
  if (!adapter_active(slot, lora)) return;
  const int R = lora.layout->rank();
  const float* xd = x;  // (N, in)
  if (lora.dropout > 0.0f) {
    be.dropout_forward(scratch.dropped, x, size_t(N) * in, lora.dropout, lora.dropout_seed, dropout_stream(*slot));
    xd = scratch.dropped;
  }
  be.matmul_forward(u, xd, lora.params + slot->a, N, in, R, false);  // u (N, R)
  be.copy(scratch.mid, u, size_t(N) * R);
  be.scale_inplace(scratch.mid, lora.layout->scale(), size_t(N) * R);
  be.matmul_forward(y, scratch.mid, lora.params + slot->b, N, R, out, /*accumulate=*/true);
}

void lora_linear_backward(float* dx, const float* dy, const float* x, const float* u,
                          const QuantizedMatrix& w, const LoraSlot* slot, const LoraContext& lora,
                          LinearScratch& scratch, int N, const Backend& be) {
  const int out = w.rows, in = w.cols;
  be.quantized_matmul_backward_input(dx, scratch.weight, dy, w, N);
  if (!adapter_active(slot, lora)) return;
  const int R = lora.layout->rank();
  const float scale = lora.layout->scale();
  // dB (out, R) += dy^T @ (scale * u)
  be.copy(scratch.mid, u, size_t(N) * R);
  be.scale_inplace(scratch.mid, scale, size_t(N) * R);
  be.matmul_backward_weight(lora.grads + slot->b, dy, scratch.mid, N, R, out);
  // du (N, R) = scale * dy @ B
  be.fill(scratch.mid, 0.0f, size_t(N) * R);
  be.matmul_backward_input(scratch.mid, dy, lora.params + slot->b, N, R, out);
  be.scale_inplace(scratch.mid, scale, size_t(N) * R);
  // dA (R, in) += du^T @ dropout(x)
  const float* xd = x;
  if (lora.dropout > 0.0f) {
    be.dropout_forward(scratch.dropped, x, size_t(N) * in, lora.dropout, lora.dropout_seed, dropout_stream(*slot));
    xd = scratch.dropped;
  }
  be.matmul_backward_weight(lora.grads + slot->a, scratch.mid, xd, N, in, R);
  // dx += dropout'(du @ A)
  if (lora.dropout > 0.0f) {
    be.fill(scratch.dropped, 0.0f, size_t(N) * in);
    be.matmul_backward_input(scratch.dropped, scratch.mid, lora.params + slot->a, N, in, R);
    be.dropout_backward(dx, scratch.dropped, size_t(N) * in, lora.dropout, lora.dropout_seed, dropout_stream(*slot));
  } else {
    be.matmul_backward_input(dx, scratch.mid, lora.params + slot->a, N, in, R);
  }
}

}  // namespace loom
