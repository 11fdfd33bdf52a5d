// The scalar heads on the final hidden state: the reward model's score head (HF's
// LlamaForSequenceClassification, num_labels 1, pooled at each row's last real token) and
// the PPO value head (TRL's ValueHead: Linear(C, 1) with bias). Dot products in double.
#pragma once

namespace loom::cpu {

// rewards (B) = head (C) . hidden[b, last[b]]; hidden (B, T, C), last (B)
void score_head_forward(float* rewards, const float* hidden, const int* last, const float* head, int B, int T, int C);

// dhidden (B, T, C) += d_rewards[b] * head at [b, last[b]]; dhead (C) += d_rewards[b] * hidden[b, last[b]]
void score_head_backward(float* dhidden, float* dhead, const float* d_rewards, const float* hidden, const int* last,
                         const float* head, int B, int T, int C);

// values (N) = bias[0] + w (C) . x[n]; x (N, C)
void value_head_forward(float* values, const float* x, const float* w, const float* bias, int N, int C);

// dx (N, C) += dvalues[n] * w; dw (C) += sum_n dvalues[n] x[n]; dbias[0] += sum_n dvalues[n]
void value_head_backward(float* dx, float* dw, float* dbias, const float* dvalues, const float* x, const float* w,
                         int N, int C);

}  // namespace loom::cpu
