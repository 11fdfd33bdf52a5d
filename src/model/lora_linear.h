// A frozen (quantized) linear with an optional LoRA adapter:
//   y = x @ W^T + scale * dropout(x) @ A^T @ B^T
// With an adapter it is the backend's lora_linear op (ops/lora_linear.h), the factors and their
// gradients found in the trainable block by the linear's slot; without, the backend's quantized
// GEMM. Every buffer is backend memory.
#pragma once

#include <cstdint>

#include "backend/backend.h"
#include "model/trainable_layout.h"
#include "quant/quantized_matrix.h"

namespace loom {

// Scratch shared by every linear of a model, sized once (model/llama_body.h, model/kv_decoder.h).
struct LinearScratch {
  float* weight = nullptr;   // (max out*in) the quantized GEMMs' workspace
  float* dropped = nullptr;  // (N, max in) the lora_linear ops' scratch: dropout(x), recomputed in backward
  float* mid = nullptr;      // (N, R) the lora_linear ops' scratch: the scaled bottleneck or its gradient
};

// The trainable side of a step: parameters, their gradients (null in inference), dropout.
struct LoraContext {
  const TrainableLayout* layout = nullptr;
  const float* params = nullptr;
  float* grads = nullptr;
  float dropout = 0.0f;         // 0 in inference
  uint64_t dropout_seed = 0;    // one per micro-batch: masks differ across steps, match in backward
  bool enabled = true;          // false = the base model alone (PPO's reference, `--adapter` off)
};

// y (N, out) = x (N, in) @ W^T (+ LoRA); u (N, R) = dropout(x) @ A^T is kept for backward
// (unused when the linear has no adapter).
void lora_linear_forward(float* y, float* u, const float* x, const QuantizedMatrix& w,
                         const LoraSlot* slot, const LoraContext& lora, LinearScratch& scratch, int N,
                         const Backend& backend);

// dx (N, in) += dy (N, out) @ W + the LoRA path (without accumulate, dx = instead);
// dA (R, in), dB (out, R) += their gradients.
void lora_linear_backward(float* dx, const float* dy, const float* x, const float* u,
                          const QuantizedMatrix& w, const LoraSlot* slot, const LoraContext& lora,
                          LinearScratch& scratch, int N, bool accumulate, const Backend& backend);

}  // namespace loom
