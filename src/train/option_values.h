// Reading Boost.Program_Options values for the training commands' option tables: defaults
// shown in --help as they are written in an INI file, and typed getters that refuse an
// out-of-range value with a one-line error naming the key. Every floating-point getter
// refuses NaN and infinities ("train.learning_rate must be finite, got inf").
#pragma once

#include <charconv>
#include <string>
#include <type_traits>

#include <boost/program_options.hpp>

namespace loom {

namespace po = boost::program_options;

// A value with its default, shown in --help as written in the INI file.
template <typename T>
po::typed_value<T>* with_default(const T& value) {
  if constexpr (std::is_same_v<T, std::string>) {
    return po::value<T>()->default_value(value, value);
  } else if constexpr (std::is_same_v<T, bool>) {
    return po::value<T>()->default_value(value, value ? "true" : "false");
  } else if constexpr (std::is_floating_point_v<T>) {
    char digits[64];
    const auto end = std::to_chars(digits, digits + sizeof(digits), value).ptr;
    return po::value<T>()->default_value(value, std::string(digits, end));
  } else {
    return po::value<T>()->default_value(value);
  }
}

template <typename T>
T option(const po::variables_map& values, const char* key) {
  return values[key].as<T>();
}

int positive_int(const po::variables_map& values, const char* key);      // > 0
int non_negative_int(const po::variables_map& values, const char* key);  // >= 0
float positive_float(const po::variables_map& values, const char* key);  // > 0
float non_negative_float(const po::variables_map& values, const char* key);  // >= 0
// A float above lo (strictly) or at least lo.
float float_at_least(const po::variables_map& values, const char* key, float lo, bool strictly);
float fraction_below_one(const po::variables_map& values, const char* key);  // [0, 1)
// A finite value above lo (or at lo when lo_inclusive) and at most hi.
float float_in(const po::variables_map& values, const char* key, float lo, bool lo_inclusive, float hi);
double double_in(const po::variables_map& values, const char* key, double lo, bool lo_inclusive, double hi);
std::string non_empty_string(const po::variables_map& values, const char* key);

}  // namespace loom
