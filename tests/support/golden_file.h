// Reading the golden reference files (tests/golden/data, written by tests/golden/make_golden.py):
// every tensor is F32, integers included.
#pragma once

#include <string>
#include <vector>

#include "io/safetensors.h"

namespace loom::test {

// tests/golden/data/<name>
std::string golden_path(const std::string& name);

// The tensor `name` of `file`, flat (a test failure and an empty vector when it is missing).
std::vector<float> golden_floats(const SafetensorsFile& file, const std::string& name);
std::vector<int> golden_ints(const SafetensorsFile& file, const std::string& name);

// max|a - b| / max|b|: one number per tensor.
double relative_max_error(const std::vector<float>& a, const std::vector<float>& b);

}  // namespace loom::test
