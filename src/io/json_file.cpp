#include "io/json_file.h"

#include <cerrno>
#include <charconv>
#include <cmath>
#include <limits>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>

#include "core/check.h"

namespace loom {

std::string read_text_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  LOOM_REQUIRE(in, path, ": cannot read (", std::strerror(errno), ")");
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

nlohmann::json parse_json_object(const std::string& text, const std::string& source) {
  nlohmann::json object;
  try {
    object = nlohmann::json::parse(text);
  } catch (const nlohmann::json::parse_error& e) {
    LOOM_FAIL(source, ": not valid JSON (byte ", e.byte, ")");
  } catch (const nlohmann::json::exception& e) {  // e.g. a number too large for a double (406)
    LOOM_FAIL(source, ": not valid JSON (", e.what(), ")");
  }
  LOOM_REQUIRE(object.is_object(), source, ": expected a JSON object, found ", object.type_name());
  return object;
}

// The field, or nullptr when absent or null.
static const nlohmann::json* field(const nlohmann::json& object, const char* key) {
  const auto it = object.find(key);
  return it == object.end() || it->is_null() ? nullptr : &*it;
}

bool json_int(const nlohmann::json& object, const char* key, const std::string& source, int64_t* out) {
  const nlohmann::json* value = field(object, key);
  if (!value) return false;
  const bool fits = value->is_number_integer() &&
                    !(value->is_number_unsigned() && value->get<uint64_t>() > INT64_MAX);
  LOOM_REQUIRE(fits, source, ": ", key, " must be an integer, found ", value->dump());
  *out = value->get<int64_t>();
  return true;
}

bool json_number(const nlohmann::json& object, const char* key, const std::string& source, double* out) {
  const nlohmann::json* value = field(object, key);
  if (!value) return false;
  LOOM_REQUIRE(value->is_number(), source, ": ", key, " must be a number, found ", value->dump());
  *out = value->get<double>();
  return true;
}

bool fits_float(double value) { return std::fabs(value) <= std::numeric_limits<float>::max(); }

bool json_float_number(const nlohmann::json& object, const char* key, const std::string& source, float* out) {
  double value = 0;
  if (!json_number(object, key, source, &value)) return false;
  LOOM_REQUIRE(fits_float(value), source, ": ", key, " ", object.at(key).dump(),
               " is outside the range of a 32-bit float");
  *out = static_cast<float>(value);
  return true;
}

bool json_bool(const nlohmann::json& object, const char* key, const std::string& source, bool* out) {
  const nlohmann::json* value = field(object, key);
  if (!value) return false;
  LOOM_REQUIRE(value->is_boolean(), source, ": ", key, " must be true or false, found ", value->dump());
  *out = value->get<bool>();
  return true;
}

bool json_string(const nlohmann::json& object, const char* key, const std::string& source, std::string* out) {
  const nlohmann::json* value = field(object, key);
  if (!value) return false;
  LOOM_REQUIRE(value->is_string(), source, ": ", key, " must be a string, found ", value->dump());
  *out = value->get<std::string>();
  return true;
}

double json_float(float value) {
  char digits[32];
  const auto result = std::to_chars(digits, digits + sizeof(digits) - 1, value);
  *result.ptr = '\0';
  return std::strtod(digits, nullptr);
}

}  // namespace loom
