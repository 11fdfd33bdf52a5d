// One example's tokens for each output kind, with the limits each kind sets.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "data/shard_format.h"
#include "data/templates.h"
#include "data/tokenizer.h"

namespace loom::data {

struct RecordLimits {
  ShardKind kind = ShardKind::sft;
  SftLayout layout = SftLayout::packed;
  int row_len = 0;  // seq_len (sft), max_len (pairs), max_prompt_len (prompts)
};

struct TokenizedRecord {
  enum class Status { ok, identical, rejected };
  Status status = Status::ok;
  RecordError error;               // when status == rejected
  std::vector<int32_t> tokens;     // sft: BOS + text (packed) or BOS + text + EOS (padded);
                                   // prompts: BOS + prompt; pairs: BOS + prompt + chosen
                                   // (chat-rendered text: its template's tokens, no BOS or EOS added)
  std::vector<int32_t> rejected;   // pairs: BOS + prompt + rejected
  int32_t prompt_len = 0;          // sft padded, pairs: tokens before the completion (BOS included)
  bool truncated = false;          // pairs and prompts: prompt cut from the left
  std::string text;                // prompts: the prompt as written
  std::vector<uint8_t> loss_mask;  // sft padded with target spans: 1 for each target token; else empty
                                   // (targets are the tokens from prompt_len on)
};

// Tokens of one example. Nothing here throws for bad data: a record that cannot be used
// comes back with status rejected and a reason (empty, too long).
TokenizedRecord tokenize_record(const Example& example, const Tokenizer& tokenizer, const RecordLimits& limits);

// Length of the longest common prefix of two id sequences.
size_t common_prefix_length(const std::vector<int32_t>& a, const std::vector<int32_t>& b);

}  // namespace loom::data
