// exp(x) for x <= 0 in plain float arithmetic, so `omp simd` loops vectorize it (a libm call
// per element was half of a tiny model's training step at V = 32000): the cross-entropy, and
// the bf16 attention's softmax. x = k ln2 + r with |r| <= ln2 / 2 (Cody-Waite split of ln2),
// exp(r) by its degree-6 Taylor polynomial (truncation < 1.3e-7 relative), times 2^k built in
// the exponent bits. Arguments below -87 are clamped (exp(-87) ~ 1.6e-38).
#pragma once

#include <bit>
#include <cstdint>

namespace loom {

#pragma omp declare simd
inline float exp_nonpositive(float x) {
  constexpr float kLog2e = 1.44269504088896341f;
  constexpr float kLn2Hi = 0.693145751953125f, kLn2Lo = 1.42860682030941723e-6f;
  constexpr float kRound = 12582912.0f;  // 1.5 * 2^23: adding it rounds to an integer
  x = x < -87.0f ? -87.0f : x;
  const float shifted = x * kLog2e + kRound;
  const float k = shifted - kRound;
  const float r = (x - k * kLn2Hi) - k * kLn2Lo;
  float p = 1.0f / 720.0f;
  p = p * r + 1.0f / 120.0f;
  p = p * r + 1.0f / 24.0f;
  p = p * r + 1.0f / 6.0f;
  p = p * r + 0.5f;
  p = p * r + 1.0f;
  p = p * r + 1.0f;
  const int32_t exponent = std::bit_cast<int32_t>(shifted) - std::bit_cast<int32_t>(kRound);
  return p * std::bit_cast<float>((exponent + 127) << 23);
}

}  // namespace loom
