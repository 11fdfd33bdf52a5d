#include "data/templates.h"

#include "core/check.h"

namespace loom::data {

static constexpr std::string_view kAssistantTag = "\n\nAssistant:";

size_t end_of_last_assistant_tag(std::string_view text, size_t limit) {
  if (limit < kAssistantTag.size()) return std::string_view::npos;
  const size_t at = text.substr(0, limit).rfind(kAssistantTag);
  return at == std::string_view::npos ? at : at + kAssistantTag.size();
}

static std::string builtin_spec(const std::string& spec, const std::string& text_field) {
  if (spec == "stackllama") return "Question: {question}\n\nAnswer: {response_j}";
  if (spec == "guanaco") return "### Human: {prompt} ### Assistant: {completion}";
  if (spec == "text") return "{" + text_field + "}";
  return spec;
}

Template::Template(const std::string& spec, const std::string& text_field, const std::string& rejected_field)
    : name_(spec == "hh" || spec == "stackllama" || spec == "guanaco" || spec == "text" ? spec : "custom"),
      rejected_field_(spec == "stackllama" ? "response_k" : rejected_field) {
  if (name_ == "hh") return;
  const std::string text = builtin_spec(spec, text_field);
  std::vector<std::string> literals(1);
  std::vector<std::string> fields;
  for (size_t i = 0; i < text.size(); ++i) {
    if (text[i] != '{') {
      literals.back() += text[i];
      continue;
    }
    const size_t close = text.find('}', i);
    LOOM_REQUIRE(close != std::string::npos && close > i + 1, "--template: unclosed or empty placeholder at column ",
                 i + 1, " of '", spec, "'");
    fields.push_back(text.substr(i + 1, close - i - 1));
    literals.emplace_back();
    i = close;
  }
  LOOM_REQUIRE(!fields.empty(), "--template: '", spec, "' has no {field} placeholder");
  completion_field_ = fields.back();
  fields.pop_back();
  suffix_ = literals.back();
  literals.pop_back();
  prompt_parts_ = std::move(literals);
  prompt_fields_ = std::move(fields);
  // A template that starts with its completion field has no prompt.
  if (prompt_fields_.empty() && prompt_parts_.size() == 1 && prompt_parts_[0].empty()) prompt_parts_.clear();
}

static bool string_field(const FlatJsonObject& object, const std::string& key, std::string* out, RecordError* error) {
  const JsonMember* member = object.find(key);
  if (member == nullptr || member->kind == JsonMember::Kind::null) {
    *error = {RecordError::Reason::invalid, "missing field '" + key + "'"};
    return false;
  }
  if (member->kind != JsonMember::Kind::string) {
    *error = {RecordError::Reason::invalid, "field '" + key + "' must be a string"};
    return false;
  }
  *out = member->text;
  return true;
}

bool Template::apply(const FlatJsonObject& object, bool want_rejected, Example* example, RecordError* error) const {
  if (!object.is_object()) {
    *error = {RecordError::Reason::invalid, "line is not a JSON object"};
    return false;
  }
  if (name_ == "hh") return apply_hh(object, want_rejected, example, error);
  example->prompt.clear();
  for (size_t i = 0; i < prompt_parts_.size(); ++i) {
    example->prompt += prompt_parts_[i];
    if (i < prompt_fields_.size()) {
      std::string value;
      if (!string_field(object, prompt_fields_[i], &value, error)) return false;
      example->prompt += value;
    }
  }
  if (!string_field(object, completion_field_, &example->completion, error)) return false;
  example->completion += suffix_;
  example->rejected.clear();
  if (want_rejected) {
    if (!string_field(object, rejected_field_, &example->rejected, error)) return false;
    example->rejected += suffix_;
  }
  return true;
}

bool Template::apply_hh(const FlatJsonObject& object, bool want_rejected, Example* example, RecordError* error) const {
  std::string chosen, rejected;
  if (!string_field(object, "chosen", &chosen, error)) return false;
  const JsonMember* rejected_member = object.find("rejected");
  const bool has_rejected = rejected_member != nullptr && rejected_member->kind != JsonMember::Kind::null;
  if (want_rejected || has_rejected) {
    if (!string_field(object, "rejected", &rejected, error)) return false;
  }
  // The prompt ends inside the part both dialogues share.
  size_t limit = chosen.size();
  if (has_rejected || want_rejected) {
    size_t common = 0;
    while (common < chosen.size() && common < rejected.size() && chosen[common] == rejected[common]) ++common;
    limit = common;
  }
  const size_t split = end_of_last_assistant_tag(chosen, limit);
  if (split == std::string_view::npos) {
    *error = {RecordError::Reason::invalid, "no \"\\n\\nAssistant:\" turn in 'chosen'"};
    return false;
  }
  example->prompt = chosen.substr(0, split);
  example->completion = chosen.substr(split);
  example->rejected = want_rejected ? rejected.substr(split) : std::string();
  return true;
}

Example Template::apply_text(std::string_view line) const {
  Example example;
  example.completion = line;
  return example;
}

}  // namespace loom::data
