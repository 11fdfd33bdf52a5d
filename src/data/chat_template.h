// A model's chat template (the Jinja text in chat_template.jinja or tokenizer_config.json),
// rendered as transformers' apply_chat_template renders it, and the token ids of what it renders.
//
// The engine is minja (third_party/minja, docs/formats.md#chat-templates says why), with the
// options transformers gives jinja2 (trim_blocks, lstrip_blocks, no trailing newline kept) and
// the same variables: messages, add_generation_prompt, the tokenizer config's named special
// tokens (bos_token, eos_token, unk_token, pad_token, ...), raise_exception and strftime_now.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/check.h"
#include "data/tokenizer.h"

namespace loom::data {

// A conversation: a JSON list of {"role": ..., "content": ...} objects (other keys pass through).
using ChatMessages = nlohmann::ordered_json;

// Byte range [begin, end) of a rendered text.
struct TextSpan {
  size_t begin = 0, end = 0;
};

// A token the tokenizer config adds (added_tokens_decoder): matched in text before the model's
// own tokenization, as HF tokenizers do. (Not data::AddedToken, tokenizer.json's added token:
// one name, one layout, or the two vectors' template code collides.)
struct TemplateToken {
  std::string content;
  int32_t id = 0;
};

// A template that failed on a conversation (raise_exception, an undefined name, a bad
// operation): what() is one line, "ORIGIN: chat template: MESSAGE (at row R, column C)".
struct ChatTemplateError : Error {
  using Error::Error;
};

class ChatTemplate {
 public:
  // path: a model folder (its chat_template.jinja, else its tokenizer_config.json's
  // "chat_template"), a tokenizer_config.json (its "chat_template"), or a .jinja file. Special and
  // added tokens come from that tokenizer_config.json (the one beside a .jinja file), when there is one.
  // "<path>: ..." when there is no template or it does not parse.
  static ChatTemplate load(const std::string& path);

  // source: the Jinja text; special_tokens: {"bos_token": "<s>", ...}; origin names it in errors.
  ChatTemplate(const std::string& source, nlohmann::ordered_json special_tokens, std::vector<TemplateToken> added_tokens,
               std::string origin);

  // The conversation as text. Throws ChatTemplateError. Safe to call from several threads.
  std::string render(const ChatMessages& messages, bool add_generation_prompt) const;

  // The byte spans of each assistant message in `rendered` = render(messages, false). Assistant
  // message i spans from the end of render(messages[0, i), add_generation_prompt = true) to the
  // end of render(messages[0, i]); each must be a prefix of the next and of `rendered`.
  // Throws ChatTemplateError when the template renders an earlier turn differently once later
  // turns follow (then no span can be named).
  std::vector<TextSpan> assistant_spans(const ChatMessages& messages, const std::string& rendered) const;

  // Token ids of rendered text, without BOS (the template writes its own): added tokens are cut
  // out first (longest match), the text between them encoded by the tokenizer.
  std::vector<int32_t> encode(const Tokenizer& tokenizer, std::string_view text) const;

  const std::string& origin() const { return origin_; }
  const std::vector<TemplateToken>& added_tokens() const { return added_tokens_; }

 private:
  struct Compiled;
  std::shared_ptr<const Compiled> compiled_;
  std::vector<TemplateToken> added_tokens_;  // longest content first
  std::string origin_;
};

// Token indices [begin, end) that overlap the byte spans of `text` (as transformers'
// assistant_masks marks tokens), from the ids of text prefixes: a span boundary at byte b lies
// after common_prefix(encode(text[0, b)), ids) tokens.
std::vector<std::pair<size_t, size_t>> token_spans(const ChatTemplate& chat, const Tokenizer& tokenizer,
                                                   const std::string& text, const std::vector<int32_t>& ids,
                                                   const std::vector<TextSpan>& spans);

}  // namespace loom::data
