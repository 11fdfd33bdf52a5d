#include "train/option_values.h"

#include <cmath>

#include "core/check.h"

namespace loom {

namespace {

template <typename T>
T finite_option(const po::variables_map& values, const char* key) {
  const T v = option<T>(values, key);
  LOOM_REQUIRE(std::isfinite(v), key, " must be finite, got ", v);
  return v;
}

template <typename T>
T option_in(const po::variables_map& values, const char* key, T lo, bool lo_inclusive, T hi) {
  const T v = finite_option<T>(values, key);
  LOOM_REQUIRE((lo_inclusive ? v >= lo : v > lo) && v <= hi, key, " must be in ", lo_inclusive ? "[" : "(", lo, ", ",
               hi, "], got ", v);
  return v;
}

}  // namespace

float float_in(const po::variables_map& values, const char* key, float lo, bool lo_inclusive, float hi) {
  return option_in<float>(values, key, lo, lo_inclusive, hi);
}

double double_in(const po::variables_map& values, const char* key, double lo, bool lo_inclusive, double hi) {
  return option_in<double>(values, key, lo, lo_inclusive, hi);
}

int positive_int(const po::variables_map& values, const char* key) {
  const int v = option<int>(values, key);
  LOOM_REQUIRE(v > 0, key, " must be positive, got ", v);
  return v;
}

int non_negative_int(const po::variables_map& values, const char* key) {
  const int v = option<int>(values, key);
  LOOM_REQUIRE(v >= 0, key, " must be 0 or more, got ", v);
  return v;
}

float positive_float(const po::variables_map& values, const char* key) {
  const float v = finite_option<float>(values, key);
  LOOM_REQUIRE(v > 0.0f, key, " must be positive, got ", v);
  return v;
}

float non_negative_float(const po::variables_map& values, const char* key) {
  const float v = finite_option<float>(values, key);
  LOOM_REQUIRE(v >= 0.0f, key, " must be 0 or more, got ", v);
  return v;
}

float float_at_least(const po::variables_map& values, const char* key, float lo, bool strictly) {
  const float v = finite_option<float>(values, key);
  LOOM_REQUIRE(strictly ? v > lo : v >= lo, key, " must be ", strictly ? "greater than " : "at least ", lo,
               ", got ", v);
  return v;
}

float fraction_below_one(const po::variables_map& values, const char* key) {
  const float v = finite_option<float>(values, key);
  LOOM_REQUIRE(v >= 0.0f && v < 1.0f, key, " must be in [0, 1), got ", v);
  return v;
}

std::string non_empty_string(const po::variables_map& values, const char* key) {
  std::string v = option<std::string>(values, key);
  LOOM_REQUIRE(!v.empty(), key, " must not be empty");
  return v;
}

}  // namespace loom
