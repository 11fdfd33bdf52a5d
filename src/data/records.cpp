#include "data/records.h"

#include <algorithm>

#include "core/check.h"

namespace loom::data {

size_t common_prefix_length(const std::vector<int32_t>& a, const std::vector<int32_t>& b) {
  size_t n = 0;
  while (n < a.size() && n < b.size() && a[n] == b[n]) ++n;
  return n;
}

static bool is_blank(const std::string& s) {
  return std::all_of(s.begin(), s.end(), [](char c) { return c == ' ' || c == '\n' || c == '\t' || c == '\r'; });
}

static TokenizedRecord rejected(RecordError::Reason reason, std::string message) {
  TokenizedRecord record;
  record.status = TokenizedRecord::Status::rejected;
  record.error = {reason, std::move(message)};
  return record;
}

// Tokens of a text: through its chat template when rendered by one, else with BOS.
static std::vector<int32_t> encode(const Example& example, const Tokenizer& tokenizer, const std::string& text) {
  return example.chat != nullptr ? example.chat->encode(tokenizer, text) : tokenizer.encode(text);
}

// Tokens of prompt + completion and where the prompt's tokens end. The prompt's own encoding
// may differ from the joint one at the seam ("Answer: " ends in a lone space piece), so the
// boundary is the longest prefix both encodings share.
static std::vector<int32_t> encode_with_boundary(const Example& example, const Tokenizer& tokenizer,
                                                 const std::string& prompt, const std::string& completion,
                                                 int32_t* prompt_len) {
  std::vector<int32_t> joint = encode(example, tokenizer, prompt + completion);
  // An empty prompt is what the tokenizer puts first (BOS for Llama-2, nothing for SmolLM2);
  // a rendered chat carries its own special tokens.
  const int32_t empty_prompt = example.chat != nullptr ? 0 : static_cast<int32_t>(tokenizer.encode("").size());
  *prompt_len = prompt.empty() ? empty_prompt
                               : static_cast<int32_t>(common_prefix_length(encode(example, tokenizer, prompt), joint));
  return joint;
}

static TokenizedRecord tokenize_sft(const Example& example, const Tokenizer& tokenizer, const RecordLimits& limits) {
  // Packed rows train on the whole text; padded rows on what --loss-on names.
  const bool packed = limits.layout != SftLayout::padded;
  const bool on_completion = !packed && example.loss_on == LossOn::completion;
  if (is_blank(on_completion ? example.completion : example.text()))
    return rejected(RecordError::Reason::empty, on_completion ? "empty completion" : "empty document");
  TokenizedRecord record;
  if (packed) {
    record.tokens = encode(example, tokenizer, example.text());
    return record;
  }
  record.tokens = encode_with_boundary(example, tokenizer, example.prompt, example.completion, &record.prompt_len);
  if (example.chat == nullptr) record.tokens.push_back(tokenizer.eos_id());
  if (static_cast<int>(record.tokens.size()) > limits.row_len)
    return rejected(RecordError::Reason::too_long, "document of " + std::to_string(record.tokens.size()) +
                                                       " tokens does not fit seq_len " + std::to_string(limits.row_len));
  if (example.loss_on == LossOn::all) record.prompt_len = 0;
  if (example.loss_on == LossOn::assistant) {
    LOOM_ASSERT(example.chat != nullptr);
    record.loss_mask.assign(record.tokens.size(), 0);
    for (const auto& [begin, end] :
         token_spans(*example.chat, tokenizer, example.text(), record.tokens, example.target_spans))
      std::fill(record.loss_mask.begin() + static_cast<std::ptrdiff_t>(begin),
                record.loss_mask.begin() + static_cast<std::ptrdiff_t>(end), uint8_t{1});
    const auto first = std::find(record.loss_mask.begin(), record.loss_mask.end(), uint8_t{1});
    if (first == record.loss_mask.end()) return rejected(RecordError::Reason::empty, "no assistant tokens to train on");
    record.prompt_len = static_cast<int32_t>(first - record.loss_mask.begin());
  }
  return record;
}

static TokenizedRecord tokenize_pair(const Example& example, const Tokenizer& tokenizer, const RecordLimits& limits) {
  if (is_blank(example.completion) || is_blank(example.rejected))
    return rejected(RecordError::Reason::empty, "empty chosen or rejected answer");
  TokenizedRecord record;
  if (example.completion == example.rejected) {
    record.status = TokenizedRecord::Status::identical;
    return record;
  }
  int32_t chosen_prompt = 0, rejected_prompt = 0;
  std::vector<int32_t> chosen =
      encode_with_boundary(example, tokenizer, example.prompt, example.completion, &chosen_prompt);
  std::vector<int32_t> other = encode_with_boundary(example, tokenizer, example.prompt, example.rejected, &rejected_prompt);
  // Prompt tokens both sides share: [0, prompt).
  const size_t prompt = std::min<size_t>({static_cast<size_t>(chosen_prompt), static_cast<size_t>(rejected_prompt),
                                          common_prefix_length(chosen, other)});
  const size_t longest_answer = std::max(chosen.size(), other.size()) - prompt;
  const size_t limit = static_cast<size_t>(limits.row_len);
  if (longest_answer + 1 > limit)
    return rejected(RecordError::Reason::too_long, "answer of " + std::to_string(longest_answer) +
                                                       " tokens does not fit max_len " + std::to_string(limits.row_len));
  // Keep BOS and as much of the prompt's end as fits beside the longer answer.
  const size_t kept_prompt = std::min(prompt, limit - longest_answer);
  const size_t cut = prompt - kept_prompt;
  record.truncated = cut > 0;
  auto assemble = [&](const std::vector<int32_t>& full) {
    std::vector<int32_t> out;
    out.reserve(full.size() - cut);
    out.push_back(full[0]);
    out.insert(out.end(), full.begin() + 1 + cut, full.end());
    return out;
  };
  record.tokens = assemble(chosen);
  record.rejected = assemble(other);
  record.prompt_len = static_cast<int32_t>(kept_prompt);
  return record;
}

static TokenizedRecord tokenize_prompt(const Example& example, const Tokenizer& tokenizer, const RecordLimits& limits) {
  if (is_blank(example.prompt)) return rejected(RecordError::Reason::empty, "empty prompt");
  TokenizedRecord record;
  record.tokens = encode(example, tokenizer, example.prompt);
  record.text = example.prompt;
  const size_t limit = static_cast<size_t>(limits.row_len);
  if (record.tokens.size() > limit) {  // keep BOS and the end, where the last turn is
    record.tokens.erase(record.tokens.begin() + 1, record.tokens.end() - static_cast<std::ptrdiff_t>(limit - 1));
    record.truncated = true;
  }
  return record;
}

TokenizedRecord tokenize_record(const Example& example, const Tokenizer& tokenizer, const RecordLimits& limits) {
  switch (limits.kind) {
    case ShardKind::sft: return tokenize_sft(example, tokenizer, limits);
    case ShardKind::pairs: return tokenize_pair(example, tokenizer, limits);
    case ShardKind::prompts: return tokenize_prompt(example, tokenizer, limits);
  }
  return {};
}

}  // namespace loom::data
