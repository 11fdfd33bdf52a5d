#include "ops/heads.h"

#include <cstddef>

namespace loom::cpu {

void score_head_forward(float* rewards, const float* hidden, const int* last, const float* head, int B, int T,
                        int C) {
  for (int b = 0; b < B; ++b) {
    const float* h = hidden + (size_t(b) * T + last[b]) * C;  // (C)
    double sum = 0.0;
    for (int c = 0; c < C; ++c) sum += double(head[c]) * h[c];
    rewards[b] = static_cast<float>(sum);
  }
}

void score_head_backward(float* dhidden, float* dhead, const float* d_rewards, const float* hidden, const int* last,
                         const float* head, int B, int T, int C) {
  for (int b = 0; b < B; ++b) {
    const size_t at = (size_t(b) * T + last[b]) * C;
    for (int c = 0; c < C; ++c) {
      dhidden[at + c] += d_rewards[b] * head[c];
      dhead[c] += d_rewards[b] * hidden[at + c];
    }
  }
}

void value_head_forward(float* values, const float* x, const float* w, const float* bias, int N, int C) {
  for (int n = 0; n < N; ++n) {
    const float* xn = x + size_t(n) * C;  // (C)
    double v = bias[0];
    for (int c = 0; c < C; ++c) v += double(w[c]) * xn[c];
    values[n] = float(v);
  }
}

void value_head_backward(float* dx, float* dw, float* dbias, const float* dvalues, const float* x, const float* w,
                         int N, int C) {
  for (int n = 0; n < N; ++n) {
    const float dv = dvalues[n];
    const float* xn = x + size_t(n) * C;  // (C)
    float* dxn = dx + size_t(n) * C;      // (C)
    for (int c = 0; c < C; ++c) dw[c] += dv * xn[c];
    dbias[0] += dv;
    for (int c = 0; c < C; ++c) dxn[c] += dv * w[c];
  }
}

}  // namespace loom::cpu
