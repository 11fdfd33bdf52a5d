// TRL's dataset formats (loom-prep --template trl), told apart per record by their fields as
// TRL's data utilities do; a field holding a string is plain text, a list of
// {"role", "content"} messages is conversational and goes through the model's chat template.
//
//   language modelling   {"text"}                      | {"messages"}
//   prompt-completion    {"prompt", "completion"}      (both strings or both message lists)
//   preference           {"prompt", "chosen", "rejected"}, or implicit {"chosen", "rejected"}
//                        (the prompt is their common start: messages, or characters as TRL's
//                        extract_prompt finds it)
//   prompt-only          {"prompt"}
//
// sft takes language modelling and prompt-completion records; pairs takes preference records;
// prompts takes any record with a prompt (explicit or implicit). A conversational prompt is
// rendered with add_generation_prompt, a completion is what the whole conversation's render adds
// to it (TRL's maybe_apply_chat_template). Messages: an optional system message first, then user
// and assistant turns alternating from a user turn; a prompt ends with a user turn.
#pragma once

#include <optional>

#include <nlohmann/json.hpp>

#include "data/chat_template.h"
#include "data/shard_format.h"
#include "data/templates.h"

namespace loom::data {

struct TrlOptions {
  ShardKind kind = ShardKind::sft;
  // sft: the loss targets; unset means TRL's default (completion for prompt-completion records,
  // every token otherwise).
  std::optional<LossOn> loss_on;
  const ChatTemplate* chat = nullptr;  // null: conversational records are refused
};

// Fills *example from one record (a parsed JSON Lines line). Returns false and fills *error for
// a record that cannot be used; nothing here throws for bad data.
bool apply_trl_format(const nlohmann::ordered_json& record, const TrlOptions& options, Example* example,
                      RecordError* error);

}  // namespace loom::data
