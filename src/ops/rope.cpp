#include "ops/rope.h"

#include <cmath>
#include <vector>

#include "core/parallel.h"

namespace loom::cpu {

// The f32 product a * b, stored before use so that the compiler cannot fuse it with a
// following add into an FMA (torch's f32 ops round every product).
static float f32_product(float a, float b) {
  volatile float product = a * b;
  return product;
}

// Computed in f32 in the order torch does (bit-identical to transformers'
// _compute_llama3_parameters): inv_freq = 1 / theta ** (arange(0, HD, 2) / HD), then the
// llama3 frequency-dependent scaling; `c / t` with a scalar c is reciprocal(t) * c in torch.
void rope_inv_freq(float* inv_freq, int HD, float theta, const RopeScaling& scaling) {
  const float kTwoPi = static_cast<float>(2.0 * M_PI);
  const float old_context = static_cast<float>(scaling.original_max_position_embeddings);
  const float low_freq_wavelen = old_context / scaling.low_freq_factor;
  const float high_freq_wavelen = old_context / scaling.high_freq_factor;
  for (int i = 0; i < HD / 2; ++i) {
    const float exponent = static_cast<float>(2 * i) / static_cast<float>(HD);
    const float base = 1.0f / std::pow(theta, exponent);
    if (!scaling.enabled) {
      inv_freq[i] = base;
      continue;
    }
    const float wavelen = (1.0f / base) * kTwoPi;
    const float scaled = wavelen > low_freq_wavelen ? base / scaling.factor : base;
    const bool medium = !(wavelen < high_freq_wavelen) && !(wavelen > low_freq_wavelen);
    if (medium) {
      const float smooth = (f32_product(1.0f / wavelen, old_context) - scaling.low_freq_factor) /
                           (scaling.high_freq_factor - scaling.low_freq_factor);
      inv_freq[i] = (1.0f - smooth) * scaled / scaling.factor + f32_product(smooth, scaled);
    } else {
      inv_freq[i] = scaled;
    }
  }
}

// Rotates each (i, i + HD/2) pair of every head by +angle (forward) or -angle (backward). A
// row's cos and sin are computed once for its heads, which then run over contiguous i.
static void rope_rotate(float* x, const int* pos, const float* inv_freq, int N, int H, int HD,
                        float direction) {
  const int half = HD / 2;
#pragma omp parallel for if (size_t(N) * H * HD >= kMinParallelElements)
  for (int n = 0; n < N; ++n) {
    thread_local std::vector<float> row_cos_sin;  // cos (half), then direction * sin (half)
    row_cos_sin.resize(size_t(HD));
    float* c = row_cos_sin.data();
    float* s = c + half;
    for (int i = 0; i < half; ++i) {
      const float angle = static_cast<float>(pos[n]) * inv_freq[i];
      c[i] = std::cos(angle);
      s[i] = direction * std::sin(angle);
    }
    for (int h = 0; h < H; ++h) {
      float* head = x + (static_cast<size_t>(n) * H + h) * HD;  // (HD)
#pragma omp simd
      for (int i = 0; i < half; ++i) {
        const float x1 = head[i];
        const float x2 = head[i + half];
        head[i] = x1 * c[i] - x2 * s[i];
        head[i + half] = x2 * c[i] + x1 * s[i];
      }
    }
  }
}

void rope_forward(float* x, const int* pos, const float* inv_freq, int N, int H, int HD) {
  rope_rotate(x, pos, inv_freq, N, H, HD, 1.0f);
}

void rope_backward(float* dx, const int* pos, const float* inv_freq, int N, int H, int HD) {
  rope_rotate(dx, pos, inv_freq, N, H, HD, -1.0f);
}

}  // namespace loom::cpu
