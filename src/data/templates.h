// Turning one input record (a JSON object, or a line of a text file) into a prompt, a
// completion and, for preference pairs, a rejected completion.
//
// Built-in templates (field names as TRL's examples use them):
//   hh          {"chosen", "rejected"} kept verbatim; the prompt is the dialogue up to and
//               including the last "\n\nAssistant:" (of the common prefix of chosen and
//               rejected when both are present), the completion what follows.
//   stackllama  "Question: {question}\n\nAnswer: {response_j}", rejected answer response_k.
//   guanaco     "### Human: {prompt} ### Assistant: {completion}", rejected answer `rejected`.
//   text        the field --field (default "text") is the whole completion; no prompt.
// Any other string is a user template with {field} placeholders: the last placeholder is the
// completion, the text before it the prompt, and --rejected-field fills it for pairs.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "data/chat_template.h"
#include "data/flat_json.h"

namespace loom::data {

// Which tokens of a padded sft row are loss targets (--loss-on; TRL's completion_only_loss and
// assistant_only_loss). Packed rows train on every token.
enum class LossOn { completion, all, assistant };

struct Example {
  std::string prompt;      // verbatim, trailing space included ("Question: ...\n\nAnswer: ")
  std::string completion;  // the text the model learns; the chosen answer of a pair
  std::string rejected;    // the rejected answer of a pair ("" when not asked for)
  std::string text() const { return prompt + completion; }
  LossOn loss_on = LossOn::completion;
  std::vector<TextSpan> target_spans = {};  // loss_on assistant: byte spans of text() that are targets
  // Rendered by this chat template: encoded through it (its added tokens first, no BOS added,
  // no EOS appended: the template writes its own). Null for plain text.
  const ChatTemplate* chat = nullptr;
};

// A problem with one record; the caller adds "file:line: " in front of what().
struct RecordError {
  enum class Reason { invalid, empty, too_long };
  Reason reason = Reason::invalid;
  std::string message;
};

class Template {
 public:
  // spec: hh | stackllama | guanaco | text | a string with {field} placeholders.
  Template(const std::string& spec, const std::string& text_field, const std::string& rejected_field);

  const std::string& name() const { return name_; }
  bool has_prompt() const { return name_ == "hh" || !prompt_parts_.empty(); }

  // From a JSON object; want_rejected asks for the rejected answer too.
  // Returns false and fills *error for a record that cannot be used.
  bool apply(const FlatJsonObject& object, bool want_rejected, Example* example, RecordError* error) const;
  // From one line of a plain-text file (template `text` only).
  Example apply_text(std::string_view line) const;
  bool reads_text_lines() const { return name_ == "text"; }

 private:
  bool apply_hh(const FlatJsonObject& object, bool want_rejected, Example* example, RecordError* error) const;

  std::string name_;
  // A placeholder template, split into literal text and field names: prompt = literal[0]
  // field[0] literal[1] ... field[k-1] literal[k]; completion = the value of completion_field_.
  std::vector<std::string> prompt_parts_;
  std::vector<std::string> prompt_fields_;
  std::string completion_field_, rejected_field_, suffix_;
};

// Position just past the last "\n\nAssistant:" in text[0, limit), or npos.
size_t end_of_last_assistant_tag(std::string_view text, size_t limit);

}  // namespace loom::data
