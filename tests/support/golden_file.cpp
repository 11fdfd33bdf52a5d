#include "support/golden_file.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>

#include "support/test_support.h"

namespace loom::test {

std::string golden_path(const std::string& name) { return source_dir() + "/tests/golden/data/" + name; }

std::vector<float> golden_floats(const SafetensorsFile& file, const std::string& name) {
  const TensorInfo* info = file.find(name);
  EXPECT_NE(info, nullptr) << "golden tensor " << name << " is missing";
  std::vector<float> out(info ? size_t(info->elements()) : 0);
  if (info) file.read_f32(name, info->shape, out.data());
  return out;
}

std::vector<int> golden_ints(const SafetensorsFile& file, const std::string& name) {
  const std::vector<float> values = golden_floats(file, name);
  std::vector<int> out(values.size());
  for (size_t i = 0; i < values.size(); ++i) out[i] = static_cast<int>(values[i]);
  return out;
}

double relative_max_error(const std::vector<float>& a, const std::vector<float>& b) {
  double scale = 0.0;
  for (float x : b) scale = std::max(scale, double(std::fabs(x)));
  EXPECT_EQ(a.size(), b.size());
  return max_abs_diff(a.data(), b.data(), std::min(a.size(), b.size())) / std::max(scale, 1e-30);
}

}  // namespace loom::test
