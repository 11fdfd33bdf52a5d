// TrainableState::clip_grad_norm against torch.nn.utils.clip_grad_norm_ (tests/golden/make_golden.py,
// case clip_grad_norm): three gradient tensors of different scales as one flat buffer, a max_norm
// that clips and one that does not. The returned norm is the norm before clipping.
#include <gtest/gtest.h>

#include "backend/cpu_f32.h"

#include <algorithm>

#include "support/golden_file.h"
#include "support/test_support.h"
#include "train/trainable_state.h"

namespace loom {
namespace {

void check(const std::string& label) {
  SCOPED_TRACE(label);
  const SafetensorsFile golden(test::golden_path("clip_grad_norm_golden.safetensors"));
  const std::vector<float> grads = test::golden_floats(golden, "grads");
  const float max_norm = test::golden_floats(golden, label + ".max_norm")[0];
  const float norm = test::golden_floats(golden, label + ".norm")[0];
  const std::vector<float> clipped = test::golden_floats(golden, label + ".clipped");
  TrainableState state(grads.size(), cpu_f32_backend());
  std::copy(grads.begin(), grads.end(), state.grads());
  EXPECT_NEAR(state.clip_grad_norm(max_norm), norm, 1e-6 * norm);
  const std::vector<float> mine(state.grads(), state.grads() + state.count());
  EXPECT_LT(test::relative_max_error(mine, clipped), 1e-6);
}

TEST(ClipGradNorm, ClipsAsTorchDoes) { check("clip"); }

TEST(ClipGradNorm, LeavesGradientsBelowMaxNormAlone) { check("noclip"); }

TEST(ClipGradNorm, ZeroMaxNormMeansNoClipping) {
  const SafetensorsFile golden(test::golden_path("clip_grad_norm_golden.safetensors"));
  const std::vector<float> grads = test::golden_floats(golden, "grads");
  TrainableState state(grads.size(), cpu_f32_backend());
  std::copy(grads.begin(), grads.end(), state.grads());
  EXPECT_NEAR(state.clip_grad_norm(0.0f), test::golden_floats(golden, "clip.norm")[0], 1e-5);
  EXPECT_TRUE(std::equal(grads.begin(), grads.end(), state.grads()));
}

}  // namespace
}  // namespace loom
