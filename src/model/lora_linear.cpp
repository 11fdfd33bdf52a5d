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
  if (!adapter_active(slot, lora)) {
    be.quantized_matmul_forward(y, scratch.weight, x, w, N, /*accumulate=*/false);
    return;
  }
  be.lora_linear_forward(y, u, scratch.weight, scratch.dropped, scratch.mid, x, w, lora.params + slot->a,
                         lora.params + slot->b, N, lora.layout->rank(), lora.layout->scale(), lora.dropout,
                         lora.dropout_seed, dropout_stream(*slot));
}

void lora_linear_backward(float* dx, const float* dy, const float* x, const float* u,
                          const QuantizedMatrix& w, const LoraSlot* slot, const LoraContext& lora,
                          LinearScratch& scratch, int N, bool accumulate, const Backend& be) {
  if (!adapter_active(slot, lora)) {
    be.quantized_matmul_backward_input(dx, scratch.weight, dy, w, N, accumulate);
    return;
  }
  be.lora_linear_backward(dx, lora.grads + slot->a, lora.grads + slot->b, scratch.weight, scratch.dropped,
                          scratch.mid, dy, x, u, w, lora.params + slot->a, lora.params + slot->b, N,
                          lora.layout->rank(), lora.layout->scale(), lora.dropout, lora.dropout_seed,
                          dropout_stream(*slot), accumulate);
}

}  // namespace loom
