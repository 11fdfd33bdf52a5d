// AdamW on flat f32 buffers, PyTorch semantics (decoupled weight decay, bias correction).
#pragma once

#include <cstddef>

namespace loom::cpu {

// params, m, v (n) updated in place from grads (n); step t counts from 1.
void adamw_update(float* params, float* m, float* v, const float* grads, size_t n, float lr,
                  float beta1, float beta2, float eps, float weight_decay, int t);

}  // namespace loom::cpu
