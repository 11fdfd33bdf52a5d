#include "data/text_pattern.h"

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include <nlohmann/json.hpp>

#include "core/check.h"
#include "data/utf8_text.h"

namespace loom::data {

namespace {

std::string pcre2_message(int code) {
  PCRE2_UCHAR buffer[256];
  pcre2_get_error_message(code, buffer, sizeof buffer);
  return reinterpret_cast<const char*>(buffer);
}

// One JIT stack and match context per thread: the default 32 KiB stack is too small for a pattern
// like \s+(?!\S) over a long run of whitespace.
struct JitState {
  pcre2_jit_stack* stack = pcre2_jit_stack_create(32 * 1024, 8 * 1024 * 1024, nullptr);
  pcre2_match_context* context = pcre2_match_context_create(nullptr);
  JitState() { pcre2_jit_stack_assign(context, nullptr, stack); }
  ~JitState() {
    pcre2_match_context_free(context);
    pcre2_jit_stack_free(stack);
  }
};

pcre2_match_context* thread_match_context() {
  thread_local JitState state;
  return state.context;
}

}  // namespace

struct TextPattern::Compiled {
  pcre2_code* code = nullptr;
  std::string where;
  ~Compiled() { pcre2_code_free(code); }
};

TextPattern::TextPattern(std::string literal) : literal_(std::move(literal)) {}

TextPattern::TextPattern(const nlohmann::json& pattern, const std::string& where) {
  LOOM_REQUIRE(pattern.is_object() && pattern.size() == 1, where, ": expected {\"String\": ...} or {\"Regex\": ...}");
  if (pattern.contains("String") && pattern["String"].is_string()) {
    literal_ = pattern["String"].get<std::string>();
    return;
  }
  LOOM_REQUIRE(pattern.contains("Regex") && pattern["Regex"].is_string(), where,
               ": unsupported pattern (expected String or Regex)");
  const std::string regex = pattern["Regex"].get<std::string>();
  compiled_ = std::make_unique<Compiled>();
  compiled_->where = where;
  int error = 0;
  PCRE2_SIZE error_offset = 0;
  compiled_->code = pcre2_compile(reinterpret_cast<PCRE2_SPTR>(regex.data()), regex.size(), PCRE2_UTF | PCRE2_UCP,
                                  &error, &error_offset, nullptr);
  LOOM_REQUIRE(compiled_->code != nullptr, where, ": cannot compile the regex (", pcre2_message(error), " at offset ",
               error_offset, ")");
  pcre2_jit_compile(compiled_->code, PCRE2_JIT_COMPLETE);  // the interpreter serves when JIT is unavailable
}

TextPattern::~TextPattern() = default;
TextPattern::TextPattern(TextPattern&&) noexcept = default;
TextPattern& TextPattern::operator=(TextPattern&&) noexcept = default;

std::vector<std::pair<size_t, size_t>> TextPattern::find_all(std::string_view text) const {
  std::vector<std::pair<size_t, size_t>> matches;
  if (!compiled_) {
    if (literal_.empty()) return matches;
    for (size_t at = text.find(literal_); at != std::string_view::npos; at = text.find(literal_, at + literal_.size()))
      matches.emplace_back(at, at + literal_.size());
    return matches;
  }
  pcre2_match_data* data = pcre2_match_data_create_from_pattern(compiled_->code, nullptr);
  LOOM_ASSERT(data != nullptr);
  const auto subject = reinterpret_cast<PCRE2_SPTR>(text.data());
  pcre2_match_context* context = thread_match_context();
  size_t start = 0;
  int rc = 0;
  while (start <= text.size()) {
    rc = pcre2_match(compiled_->code, subject, text.size(), start, PCRE2_NO_UTF_CHECK, data, context);
    if (rc < 0) break;
    const PCRE2_SIZE* ovector = pcre2_get_ovector_pointer(data);
    const size_t begin = ovector[0], end = ovector[1];
    if (end > begin) {
      matches.emplace_back(begin, end);
      start = end;
    } else {  // an empty match: search again one character further
      if (begin >= text.size()) break;
      const size_t n = utf8_sequence_length(text, begin);
      start = begin + (n == 0 ? 1 : n);
    }
  }
  pcre2_match_data_free(data);
  LOOM_REQUIRE(rc >= 0 || rc == PCRE2_ERROR_NOMATCH, compiled_->where, ": regex match failed (", pcre2_message(rc), ")");
  return matches;
}

std::string TextPattern::replace_all(std::string_view text, std::string_view content) const {
  std::string out;
  size_t copied = 0;
  for (const auto& [begin, end] : find_all(text)) {
    out.append(text.substr(copied, begin - copied)).append(content);
    copied = end;
  }
  out.append(text.substr(copied));
  return out;
}

}  // namespace loom::data
