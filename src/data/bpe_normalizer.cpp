#include "data/bpe_normalizer.h"

#include <nlohmann/json.hpp>
#include <vector>

#include "core/check.h"
#include "data/text_pattern.h"

namespace loom::data {

namespace {

std::string string_member(const nlohmann::json& spec, const char* key, const std::string& where) {
  LOOM_REQUIRE(spec.contains(key) && spec[key].is_string(), where, ".", key, ": expected a string");
  return spec[key].get<std::string>();
}

// Prepends a string to non-empty text.
class Prepend final : public BpeNormalizer {
 public:
  explicit Prepend(std::string prefix) : prefix_(std::move(prefix)) {}
  std::string normalize(std::string text) const override { return text.empty() ? text : prefix_ + text; }

 private:
  std::string prefix_;
};

class Replace final : public BpeNormalizer {
 public:
  Replace(TextPattern pattern, std::string content) : pattern_(std::move(pattern)), content_(std::move(content)) {}
  std::string normalize(std::string text) const override { return pattern_.replace_all(text, content_); }

 private:
  TextPattern pattern_;
  std::string content_;
};

class Sequence final : public BpeNormalizer {
 public:
  explicit Sequence(std::vector<std::unique_ptr<BpeNormalizer>> steps) : steps_(std::move(steps)) {}
  std::string normalize(std::string text) const override {
    for (const auto& step : steps_) text = step->normalize(std::move(text));
    return text;
  }

 private:
  std::vector<std::unique_ptr<BpeNormalizer>> steps_;
};

}  // namespace

std::unique_ptr<BpeNormalizer> make_bpe_normalizer(const nlohmann::json& spec, const std::string& where) {
  if (spec.is_null()) return nullptr;
  LOOM_REQUIRE(spec.is_object() && spec.contains("type") && spec["type"].is_string(), where,
               ": expected an object with a \"type\"");
  const std::string type = spec["type"].get<std::string>();
  if (type == "Prepend") return std::make_unique<Prepend>(string_member(spec, "prepend", where));
  if (type == "Replace")
    return std::make_unique<Replace>(TextPattern(spec.value("pattern", nlohmann::json()), where + ".pattern"),
                                     string_member(spec, "content", where));
  if (type == "Sequence") {
    LOOM_REQUIRE(spec.contains("normalizers") && spec["normalizers"].is_array(), where,
                 ".normalizers: expected an array");
    std::vector<std::unique_ptr<BpeNormalizer>> steps;
    for (size_t i = 0; i < spec["normalizers"].size(); ++i) {
      auto step = make_bpe_normalizer(spec["normalizers"][i], cat(where, ".normalizers[", i, "]"));
      if (step) steps.push_back(std::move(step));
    }
    return std::make_unique<Sequence>(std::move(steps));
  }
  LOOM_FAIL(where, ": unsupported normalizer type '", type, "' (loom reads Prepend, Replace and Sequence)");
}

}  // namespace loom::data
