#include "data/hf_tokenizer.h"

#include <nlohmann/json.hpp>

#include "core/check.h"
#include "data/bpe_decoder.h"
#include "data/bpe_normalizer.h"
#include "data/bpe_pre_tokenizer.h"

namespace loom::data {

namespace {

nlohmann::json parse(const std::string& text, const std::string& path) {
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(text);
  } catch (const nlohmann::json::exception& e) {
    LOOM_FAIL(path, ": not valid JSON (", e.what(), ")");
  }
  LOOM_REQUIRE(j.is_object(), path, ": expected a JSON object");
  LOOM_REQUIRE(j.contains("model"), path, ": no \"model\" key (not a tokenizer.json)");
  return j;
}

nlohmann::json member(const nlohmann::json& j, const char* key) { return j.contains(key) ? j[key] : nlohmann::json(); }

// The special-token ids of one template (TemplateProcessing's "single"), split around the sequence.
void read_template(const nlohmann::json& processor, const std::string& where, std::vector<int32_t>* prefix,
                   std::vector<int32_t>* suffix) {
  const nlohmann::json single = member(processor, "single");
  LOOM_REQUIRE(single.is_array(), where, ".single: expected an array");
  const nlohmann::json specials = member(processor, "special_tokens");
  bool after = false;
  for (size_t i = 0; i < single.size(); ++i) {
    const nlohmann::json& piece = single[i];
    if (piece.contains("Sequence")) {
      LOOM_REQUIRE(!after, where, ".single: more than one sequence");
      after = true;
      continue;
    }
    const std::string name = piece.contains("SpecialToken") ? piece["SpecialToken"].value("id", std::string()) : "";
    LOOM_REQUIRE(!name.empty() && specials.is_object() && specials.contains(name) &&
                     specials[name].contains("ids") && specials[name]["ids"].is_array(),
                 where, ".single[", i, "]: expected a Sequence or a SpecialToken listed in special_tokens");
    for (const auto& id : specials[name]["ids"]) (after ? suffix : prefix)->push_back(id.get<int32_t>());
  }
  LOOM_REQUIRE(after, where, ".single: no sequence");
}

void read_post_processor(const nlohmann::json& spec, const std::string& where, std::vector<int32_t>* prefix,
                         std::vector<int32_t>* suffix) {
  if (spec.is_null()) return;
  const std::string type = spec.value("type", std::string());
  if (type == "ByteLevel") return;  // offsets only
  if (type == "TemplateProcessing") return read_template(spec, where, prefix, suffix);
  if (type == "Sequence") {
    const nlohmann::json steps = member(spec, "processors");
    LOOM_REQUIRE(steps.is_array(), where, ".processors: expected an array");
    for (size_t i = 0; i < steps.size(); ++i) {
      std::vector<int32_t> p, s;
      read_post_processor(steps[i], cat(where, ".processors[", i, "]"), &p, &s);
      prefix->insert(prefix->begin(), p.begin(), p.end());
      suffix->insert(suffix->end(), s.begin(), s.end());
    }
    return;
  }
  LOOM_FAIL(where, ": unsupported post_processor type '", type, "' (loom reads TemplateProcessing, ByteLevel, Sequence)");
}

}  // namespace

HfTokenizer::HfTokenizer(const std::string& json_text, const std::string& path)
    : HfTokenizer(parse(json_text, path), path) {}

HfTokenizer::HfTokenizer(const nlohmann::json& j, const std::string& path)
    : path_(path),
      added_(member(j, "added_tokens"), path + ": added_tokens"),
      normalizer_(make_bpe_normalizer(member(j, "normalizer"), path + ": normalizer")),
      pre_tokenizer_(make_bpe_pre_tokenizer(member(j, "pre_tokenizer"), path + ": pre_tokenizer")),
      model_(std::make_unique<BpeModel>(j["model"], path + ": model")),
      decoder_(make_bpe_decoder(member(j, "decoder"), path + ": decoder")) {
  read_post_processor(member(j, "post_processor"), path + ": post_processor", &prefix_, &suffix_);
  vocab_size_ = std::max(model_->id_end(), added_.id_end());
  for (int32_t id : prefix_) LOOM_REQUIRE(id >= 0 && id < vocab_size_, path, ": post_processor: id ", id, " out of range");
  for (int32_t id : suffix_) LOOM_REQUIRE(id >= 0 && id < vocab_size_, path, ": post_processor: id ", id, " out of range");
}

HfTokenizer::~HfTokenizer() = default;

int HfTokenizer::token_id(std::string_view token) const {
  const int32_t id = added_.id_of(token);
  return id >= 0 ? id : model_->piece_id(token);
}

std::string HfTokenizer::token_text(int id) const {
  if (const AddedToken* token = added_.by_id(id)) return token->content;
  const std::string* piece = model_->piece_of(id);
  return piece ? *piece : std::string();
}

void HfTokenizer::append_text_ids(std::string_view text, bool at_origin, std::vector<int32_t>* out) const {
  const std::string normalized = normalizer_ ? normalizer_->normalize(std::string(text)) : std::string(text);
  for (const TextSegment& segment : added_.split(normalized, /*normalized=*/true)) {
    if (segment.token_id >= 0) {
      out->push_back(segment.token_id);
      continue;
    }
    std::vector<PreToken> pieces{{normalized.substr(segment.begin, segment.end - segment.begin),
                                  at_origin && segment.begin == 0}};
    if (pre_tokenizer_) pre_tokenizer_->pre_tokenize(&pieces);
    for (const PreToken& piece : pieces)
      if (!piece.text.empty()) model_->append_word_ids(piece.text, out);
  }
}

void HfTokenizer::append_ids(std::string_view text, std::vector<int32_t>* out) const {
  for (const TextSegment& segment : added_.split(text, /*normalized=*/false)) {
    if (segment.token_id >= 0) out->push_back(segment.token_id);
    else append_text_ids(text.substr(segment.begin, segment.end - segment.begin), segment.begin == 0, out);
  }
}

std::string HfTokenizer::decode(const int32_t* ids, size_t count, bool skip_special) const {
  std::vector<std::string> pieces;
  pieces.reserve(count);
  for (size_t i = 0; i < count; ++i) {
    if (const AddedToken* token = added_.by_id(ids[i])) {
      if (!(skip_special && token->special)) pieces.push_back(token->content);
    } else if (const std::string* piece = model_->piece_of(ids[i])) {
      pieces.push_back(*piece);
    }
  }
  if (decoder_) pieces = decoder_->decode_chain(std::move(pieces));
  std::string text;
  for (size_t i = 0; i < pieces.size(); ++i) {
    if (i > 0 && !decoder_) text += ' ';
    text += pieces[i];
  }
  return text;
}

}  // namespace loom::data
