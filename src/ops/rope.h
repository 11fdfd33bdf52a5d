// Rotary position embeddings in HF's rotate_half convention: within a head, dimension i
// pairs with i + HD/2 at angle pos * inv_freq[i].
#pragma once

namespace loom {

// rope_scaling of type "llama3" (Llama 3.1); enabled == false means plain RoPE.
struct RopeScaling {
  bool enabled = false;
  float factor = 8.0f;
  float low_freq_factor = 1.0f;
  float high_freq_factor = 4.0f;
  int original_max_position_embeddings = 8192;
};

}  // namespace loom

namespace loom::cpu {

// inv_freq (HD/2) = theta^(-2i/HD), then adjusted as transformers' _compute_llama3_parameters.
void rope_inv_freq(float* inv_freq, int HD, float theta, const RopeScaling& scaling);

// In place: x (N, H, HD) rotated by pos (N) (the position of each row).
void rope_forward(float* x, const int* pos, const float* inv_freq, int N, int H, int HD);

// In place: dx (N, H, HD) rotated back (the transpose of the forward rotation).
void rope_backward(float* dx, const int* pos, const float* inv_freq, int N, int H, int HD);

}  // namespace loom::cpu
