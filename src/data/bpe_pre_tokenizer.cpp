#include "data/bpe_pre_tokenizer.h"

#include <nlohmann/json.hpp>
#include <utility>

#include "core/check.h"
#include "data/byte_level.h"
#include "data/text_pattern.h"

namespace loom::data {

namespace {

// GPT-2's split regex, as tokenizers' ByteLevel pre-tokenizer has it.
constexpr const char* kGpt2Regex = R"('s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+)";

enum class Delimiter { removed, isolated, merged_with_previous, merged_with_next, contiguous };

Delimiter parse_delimiter(const nlohmann::json& spec, const std::string& where) {
  const std::string name = spec.value("behavior", std::string());
  if (name == "Removed") return Delimiter::removed;
  if (name == "Isolated") return Delimiter::isolated;
  if (name == "MergedWithPrevious") return Delimiter::merged_with_previous;
  if (name == "MergedWithNext") return Delimiter::merged_with_next;
  if (name == "Contiguous") return Delimiter::contiguous;
  LOOM_FAIL(where, ".behavior: unsupported split behaviour '", name, "'");
}

struct Span {
  size_t begin, end;
  bool is_match;
};

// `text` cut at the matches of `pattern` as tokenizers' NormalizedString::split does; appends the
// non-empty pieces kept to `out`.
void split_piece(const PreToken& piece, const TextPattern& pattern, Delimiter behavior, bool invert,
                 std::vector<PreToken>* out) {
  const std::string& text = piece.text;
  std::vector<Span> spans;  // covers the whole text
  size_t previous = 0;
  for (const auto& [begin, end] : pattern.find_all(text)) {
    if (begin != previous) spans.push_back({previous, begin, invert});
    spans.push_back({begin, end, !invert});
    previous = end;
  }
  if (previous != text.size()) spans.push_back({previous, text.size(), invert});

  std::vector<Span> kept;  // is_match now means "remove"
  bool previous_match = false;
  switch (behavior) {
    case Delimiter::removed: kept = spans; break;
    case Delimiter::isolated:
      for (Span s : spans) kept.push_back({s.begin, s.end, false});
      break;
    case Delimiter::contiguous:
      for (const Span& s : spans) {
        if (s.is_match == previous_match && !kept.empty()) kept.back().end = s.end;
        else kept.push_back({s.begin, s.end, false});
        previous_match = s.is_match;
      }
      break;
    case Delimiter::merged_with_previous:
      for (const Span& s : spans) {
        if (s.is_match && !previous_match && !kept.empty()) kept.back().end = s.end;
        else kept.push_back({s.begin, s.end, false});
        previous_match = s.is_match;
      }
      break;
    case Delimiter::merged_with_next:
      for (auto s = spans.rbegin(); s != spans.rend(); ++s) {
        if (s->is_match && !previous_match && !kept.empty()) kept.back().begin = s->begin;
        else kept.push_back({s->begin, s->end, false});
        previous_match = s->is_match;
      }
      std::reverse(kept.begin(), kept.end());
      break;
  }
  for (const Span& s : kept)
    if (!s.is_match && s.end > s.begin)
      out->push_back({text.substr(s.begin, s.end - s.begin), piece.at_origin && s.begin == 0});
}

class Split final : public BpePreTokenizer {
 public:
  Split(TextPattern pattern, Delimiter behavior, bool invert)
      : pattern_(std::move(pattern)), behavior_(behavior), invert_(invert) {}
  void pre_tokenize(std::vector<PreToken>* pieces) const override {
    std::vector<PreToken> out;
    for (const PreToken& piece : *pieces) split_piece(piece, pattern_, behavior_, invert_, &out);
    *pieces = std::move(out);
  }

 private:
  TextPattern pattern_;
  Delimiter behavior_;
  bool invert_;
};

class ByteLevel final : public BpePreTokenizer {
 public:
  ByteLevel(bool add_prefix_space, bool use_regex)
      : add_prefix_space_(add_prefix_space), regex_(use_regex ? std::make_unique<TextPattern>(
                                                                    nlohmann::json{{"Regex", kGpt2Regex}}, "ByteLevel")
                                                              : nullptr) {}
  void pre_tokenize(std::vector<PreToken>* pieces) const override {
    std::vector<PreToken> split;
    for (PreToken& piece : *pieces) {
      if (add_prefix_space_ && !piece.text.starts_with(' ')) piece.text.insert(0, 1, ' ');
      if (regex_) split_piece(piece, *regex_, Delimiter::isolated, false, &split);
      else if (!piece.text.empty()) split.push_back(std::move(piece));
    }
    for (PreToken& piece : split) {
      std::string mapped;
      mapped.reserve(piece.text.size() * 2);
      append_byte_level(piece.text, &mapped);
      piece.text = std::move(mapped);
    }
    *pieces = std::move(split);
  }

 private:
  bool add_prefix_space_;
  std::unique_ptr<TextPattern> regex_;
};

enum class PrependScheme { always, first, never };

class Metaspace final : public BpePreTokenizer {
 public:
  Metaspace(std::string replacement, PrependScheme scheme, bool split)
      : replacement_(std::move(replacement)), scheme_(scheme), split_(split), space_(" ") {}
  void pre_tokenize(std::vector<PreToken>* pieces) const override {
    std::vector<PreToken> out;
    for (PreToken& piece : *pieces) {
      piece.text = space_.replace_all(piece.text, replacement_);
      const bool prepend = scheme_ == PrependScheme::always || (scheme_ == PrependScheme::first && piece.at_origin);
      if (prepend && !piece.text.starts_with(replacement_)) piece.text.insert(0, replacement_);
      if (split_) split_piece(piece, TextPattern(replacement_), Delimiter::merged_with_next, false, &out);
      else if (!piece.text.empty()) out.push_back(std::move(piece));
    }
    *pieces = std::move(out);
  }

 private:
  std::string replacement_;
  PrependScheme scheme_;
  bool split_;
  TextPattern space_;
};

class Sequence final : public BpePreTokenizer {
 public:
  explicit Sequence(std::vector<std::unique_ptr<BpePreTokenizer>> steps) : steps_(std::move(steps)) {}
  void pre_tokenize(std::vector<PreToken>* pieces) const override {
    for (const auto& step : steps_) step->pre_tokenize(pieces);
  }

 private:
  std::vector<std::unique_ptr<BpePreTokenizer>> steps_;
};

bool bool_member(const nlohmann::json& spec, const char* key, bool fallback, const std::string& where) {
  if (!spec.contains(key) || spec[key].is_null()) return fallback;
  LOOM_REQUIRE(spec[key].is_boolean(), where, ".", key, ": expected true or false");
  return spec[key].get<bool>();
}

std::unique_ptr<BpePreTokenizer> make_metaspace(const nlohmann::json& spec, const std::string& where) {
  LOOM_REQUIRE(spec.contains("replacement") && spec["replacement"].is_string(), where,
               ".replacement: expected a string");
  PrependScheme scheme = bool_member(spec, "add_prefix_space", true, where) ? PrependScheme::always
                                                                            : PrependScheme::never;
  if (spec.contains("prepend_scheme")) {
    const std::string name = spec["prepend_scheme"].is_string() ? spec["prepend_scheme"].get<std::string>() : "";
    if (name == "always") scheme = PrependScheme::always;
    else if (name == "first") scheme = PrependScheme::first;
    else if (name == "never") scheme = PrependScheme::never;
    else LOOM_FAIL(where, ".prepend_scheme: expected always, first or never");
  }
  return std::make_unique<Metaspace>(spec["replacement"].get<std::string>(), scheme,
                                     bool_member(spec, "split", true, where));
}

}  // namespace

std::unique_ptr<BpePreTokenizer> make_bpe_pre_tokenizer(const nlohmann::json& spec, const std::string& where) {
  if (spec.is_null()) return nullptr;
  LOOM_REQUIRE(spec.is_object() && spec.contains("type") && spec["type"].is_string(), where,
               ": expected an object with a \"type\"");
  const std::string type = spec["type"].get<std::string>();
  if (type == "ByteLevel")
    return std::make_unique<ByteLevel>(bool_member(spec, "add_prefix_space", true, where),
                                       bool_member(spec, "use_regex", true, where));
  if (type == "Split")
    return std::make_unique<Split>(TextPattern(spec.value("pattern", nlohmann::json()), where + ".pattern"),
                                   parse_delimiter(spec, where), bool_member(spec, "invert", false, where));
  if (type == "Metaspace") return make_metaspace(spec, where);
  if (type == "Sequence") {
    LOOM_REQUIRE(spec.contains("pretokenizers") && spec["pretokenizers"].is_array(), where,
                 ".pretokenizers: expected an array");
    std::vector<std::unique_ptr<BpePreTokenizer>> steps;
    for (size_t i = 0; i < spec["pretokenizers"].size(); ++i) {
      auto step = make_bpe_pre_tokenizer(spec["pretokenizers"][i], cat(where, ".pretokenizers[", i, "]"));
      if (step) steps.push_back(std::move(step));
    }
    return std::make_unique<Sequence>(std::move(steps));
  }
  LOOM_FAIL(where, ": unsupported pre_tokenizer type '", type,
            "' (loom reads ByteLevel, Split, Metaspace and Sequence)");
}

}  // namespace loom::data
