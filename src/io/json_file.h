// Reading JSON files (config.json, adapter_config.json, model.safetensors.index.json) with
// one-line errors that name the file and the key.
#pragma once

#include <cstdint>
#include <string>

#include <nlohmann/json.hpp>

namespace loom {

// The whole file; "<path>: cannot read (reason)" if it cannot be opened.
std::string read_text_file(const std::string& path);

// Parses text that must hold a JSON object; `source` names the file in errors.
nlohmann::json parse_json_object(const std::string& text, const std::string& source);

// Optional typed fields of a JSON object: false when the key is absent or null, an error
// "<source>: <key> must be ..." when it has the wrong type.
bool json_int(const nlohmann::json& object, const char* key, const std::string& source, int64_t* out);
bool json_number(const nlohmann::json& object, const char* key, const std::string& source, double* out);
// Whether a JSON number (a double) reads into a float without becoming infinity, which JSON
// cannot write back.
bool fits_float(double value);

// A number stored as a float: also an error when it does not fit one (fits_float).
bool json_float_number(const nlohmann::json& object, const char* key, const std::string& source, float* out);
bool json_bool(const nlohmann::json& object, const char* key, const std::string& source, bool* out);
bool json_string(const nlohmann::json& object, const char* key, const std::string& source, std::string* out);

// The shortest decimal that reads back as `value`, as a double: 1e-5f is written 1e-05 rather
// than 9.999999747378752e-06.
double json_float(float value);

}  // namespace loom
