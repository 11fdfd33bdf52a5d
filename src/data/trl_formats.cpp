#include "data/trl_formats.h"

#include <algorithm>

#include "core/check.h"

namespace loom::data {

namespace {

using json = nlohmann::ordered_json;

enum class Shape { absent, text, messages, other };

Shape shape_of(const json& record, const char* key) {
  if (!record.contains(key) || record[key].is_null()) return Shape::absent;
  if (record[key].is_string()) return Shape::text;
  if (record[key].is_array()) return Shape::messages;
  return Shape::other;
}

// Builds one record's Example; each method returns false with *error filled for a bad record.
class RecordReader {
 public:
  RecordReader(const json& record, const TrlOptions& options, Example* example, RecordError* error)
      : record_(record), o_(options), example_(example), error_(error) {}

  bool read();

 private:
  bool fail(std::string message) {
    *error_ = {RecordError::Reason::invalid, std::move(message)};
    return false;
  }
  bool language_modelling();
  bool prompt_completion();
  bool preference();
  bool prompt_only();
  // The prompt of a preference record: explicit, or the common start of chosen and rejected.
  bool split_preference(json* prompt, json* chosen, json* rejected);

  bool check_messages(const json& list, const char* field);
  bool check_roles(const json& conversation, bool ends_with_user);
  bool need_chat();
  bool render(const json& messages, bool add_generation_prompt, std::string* out);
  // What rendering prompt + rest adds to rendering the prompt with the generation prompt.
  bool render_continuation(const json& prompt, const json& rest, const char* field, std::string* prompt_text,
                           std::string* continuation);
  bool set_loss(bool has_prompt, bool conversational, const json& conversation);

  const json& record_;
  const TrlOptions& o_;
  Example* example_;
  RecordError* error_;
};

bool RecordReader::check_messages(const json& list, const char* field) {
  if (list.empty()) return fail(cat("field '", field, "' is an empty list of messages"));
  for (size_t i = 0; i < list.size(); ++i) {
    const json& m = list[i];
    if (!m.is_object() || !m.contains("role") || !m["role"].is_string() || !m.contains("content") ||
        !m["content"].is_string())
      return fail(cat("field '", field, "' message ", i + 1, " must be an object with string \"role\" and \"content\""));
    const std::string role = m["role"];
    if (role != "system" && role != "user" && role != "assistant")
      return fail(cat("field '", field, "' message ", i + 1, " has role '", role,
                      "' (expected system, user or assistant)"));
  }
  return true;
}

// An optional system message first, then user and assistant alternating from a user turn.
bool RecordReader::check_roles(const json& conversation, bool ends_with_user) {
  std::string expected = "user";
  for (size_t i = 0; i < conversation.size(); ++i) {
    const std::string role = conversation[i]["role"];
    if (i == 0 && role == "system") continue;
    if (role != expected)
      return fail(cat("message ", i + 1, " of the conversation has role '", role, "' where '", expected,
                      "' belongs (an optional system message first, then user and assistant turns alternating)"));
    expected = role == "user" ? "assistant" : "user";
  }
  if (ends_with_user && expected != "assistant")
    return fail("the prompt's conversation must end with a user message (the assistant answers it)");
  return true;
}

bool RecordReader::need_chat() {
  if (o_.chat != nullptr) return true;
  return fail("a conversational record needs a chat template (--chat-template, or chat_template.jinja or "
              "tokenizer_config.json beside the tokenizer)");
}

bool RecordReader::render(const json& messages, bool add_generation_prompt, std::string* out) {
  try {
    *out = o_.chat->render(messages, add_generation_prompt);
  } catch (const ChatTemplateError& e) {
    return fail(e.what());
  }
  return true;
}

bool RecordReader::render_continuation(const json& prompt, const json& rest, const char* field,
                                       std::string* prompt_text, std::string* continuation) {
  json whole = prompt;
  for (const json& m : rest) whole.push_back(m);
  std::string full;
  if (!render(prompt, true, prompt_text) || !render(whole, false, &full)) return false;
  if (full.compare(0, prompt_text->size(), *prompt_text) != 0)
    return fail(cat("the chat template's render of prompt + ", field,
                    " does not start with its render of the prompt (with the generation prompt)"));
  *continuation = full.substr(prompt_text->size());
  return true;
}

// TRL's defaults: loss on the completion of prompt-completion records, on everything otherwise.
bool RecordReader::set_loss(bool has_prompt, bool conversational, const json& conversation) {
  const LossOn loss = o_.loss_on.value_or(has_prompt ? LossOn::completion : LossOn::all);
  if (loss == LossOn::completion && !has_prompt)
    return fail("--loss-on completion needs prompt-completion records; this one has no prompt");
  if (loss == LossOn::assistant && !conversational)
    return fail("--loss-on assistant needs conversational records (lists of messages); this one is plain text");
  example_->loss_on = loss;
  if (loss == LossOn::assistant) {
    try {
      example_->target_spans = o_.chat->assistant_spans(conversation, example_->text());
    } catch (const ChatTemplateError& e) {
      return fail(e.what());
    }
  }
  return true;
}

bool RecordReader::language_modelling() {
  if (shape_of(record_, "messages") == Shape::absent) {
    example_->completion = record_["text"].get<std::string>();
    return set_loss(false, false, json());
  }
  const json& messages = record_["messages"];
  if (!check_messages(messages, "messages") || !check_roles(messages, false) || !need_chat()) return false;
  example_->chat = o_.chat;
  return render(messages, false, &example_->completion) && set_loss(false, true, messages);
}

bool RecordReader::prompt_completion() {
  const json& prompt = record_["prompt"];
  const json& completion = record_["completion"];
  if (prompt.is_string()) {
    example_->prompt = prompt.get<std::string>();
    example_->completion = completion.get<std::string>();
    return set_loss(true, false, json());
  }
  if (!check_messages(prompt, "prompt") || !check_messages(completion, "completion")) return false;
  json conversation = prompt;
  for (const json& m : completion) conversation.push_back(m);
  if (!check_roles(prompt, true) || !check_roles(conversation, false) || !need_chat()) return false;
  example_->chat = o_.chat;
  return render_continuation(prompt, completion, "completion", &example_->prompt, &example_->completion) &&
         set_loss(true, true, conversation);
}

bool RecordReader::split_preference(json* prompt, json* chosen, json* rejected) {
  *chosen = record_["chosen"];
  *rejected = record_["rejected"];
  if (record_.contains("prompt") && !record_["prompt"].is_null()) {
    *prompt = record_["prompt"];
    return true;
  }
  // TRL's extract_prompt: the longest common start, less a space just before the first difference.
  size_t common = 0;
  if (chosen->is_string()) {
    const std::string a = *chosen, b = *rejected;
    const size_t n = std::min(a.size(), b.size());
    while (common < n && a[common] == b[common]) ++common;
    if (common < n && common > 0 && a[common - 1] == ' ') --common;
    *prompt = a.substr(0, common);
    *chosen = a.substr(common);
    *rejected = b.substr(common);
    return true;
  }
  const size_t n = std::min(chosen->size(), rejected->size());
  while (common < n && (*chosen)[common] == (*rejected)[common]) ++common;
  if (common == 0) return fail("'chosen' and 'rejected' share no leading messages to serve as the prompt");
  *prompt = json(chosen->begin(), chosen->begin() + static_cast<std::ptrdiff_t>(common));
  *chosen = json(chosen->begin() + static_cast<std::ptrdiff_t>(common), chosen->end());
  *rejected = json(rejected->begin() + static_cast<std::ptrdiff_t>(common), rejected->end());
  return true;
}

bool RecordReader::preference() {
  json prompt, chosen, rejected;
  if (!split_preference(&prompt, &chosen, &rejected)) return false;
  if (prompt.is_string()) {
    example_->prompt = prompt.get<std::string>();
    example_->completion = chosen.get<std::string>();
    example_->rejected = rejected.get<std::string>();
    return true;
  }
  if (!check_messages(prompt, "prompt") || !check_messages(chosen, "chosen") || !check_messages(rejected, "rejected") ||
      !check_roles(prompt, true))
    return false;
  for (const json* answer : {&chosen, &rejected}) {
    json conversation = prompt;
    for (const json& m : *answer) conversation.push_back(m);
    if (!check_roles(conversation, false)) return false;
  }
  if (!need_chat()) return false;
  example_->chat = o_.chat;
  std::string prompt_text;
  return render_continuation(prompt, chosen, "chosen", &example_->prompt, &example_->completion) &&
         render_continuation(prompt, rejected, "rejected", &prompt_text, &example_->rejected);
}

bool RecordReader::prompt_only() {
  json prompt, chosen, rejected;
  if (record_.contains("prompt") && !record_["prompt"].is_null()) {
    prompt = record_["prompt"];
  } else if (!split_preference(&prompt, &chosen, &rejected)) {
    return false;
  }
  if (prompt.is_string()) {
    example_->prompt = prompt.get<std::string>();
    return true;
  }
  if (!check_messages(prompt, "prompt") || !check_roles(prompt, true) || !need_chat()) return false;
  example_->chat = o_.chat;
  return render(prompt, true, &example_->prompt);
}

bool RecordReader::read() {
  if (!record_.is_object()) return fail("line is not a JSON object");
  for (const char* key : {"text", "messages", "prompt", "completion", "chosen", "rejected"}) {
    const Shape shape = shape_of(record_, key);
    const bool text_only = std::string(key) == "text", list_only = std::string(key) == "messages";
    if (shape == Shape::other || (text_only && shape == Shape::messages) || (list_only && shape == Shape::text))
      return fail(cat("field '", key, "' must be ", text_only ? "a string" : list_only ? "a list of messages"
                                                                                       : "a string or a list of messages"));
  }
  auto has = [&](const char* key) { return shape_of(record_, key) != Shape::absent; };
  // Fields that go together are both plain or both conversational.
  const char* keys[] = {"prompt", "completion", "chosen", "rejected"};
  for (const char* a : keys)
    for (const char* b : keys)
      if (has(a) && has(b) && shape_of(record_, a) != shape_of(record_, b))
        return fail(cat("fields '", a, "' and '", b, "' must both be strings or both lists of messages"));
  switch (o_.kind) {
    case ShardKind::sft:
      if (has("messages") || has("text")) return language_modelling();
      if (has("prompt") && has("completion")) return prompt_completion();
      return fail("sft takes {\"text\"}, {\"messages\"} or {\"prompt\", \"completion\"} records; this line has none");
    case ShardKind::pairs:
      if (has("chosen") && has("rejected")) return preference();
      return fail("pairs take {\"prompt\", \"chosen\", \"rejected\"} or {\"chosen\", \"rejected\"} records; "
                  "this line lacks 'chosen' or 'rejected'");
    case ShardKind::prompts:
      if (has("prompt") || (has("chosen") && has("rejected"))) return prompt_only();
      return fail("prompts take records with a 'prompt' (or 'chosen' and 'rejected' sharing one); this line has none");
  }
  return fail("unknown kind");
}

}  // namespace

bool apply_trl_format(const nlohmann::ordered_json& record, const TrlOptions& options, Example* example,
                      RecordError* error) {
  *example = Example();
  return RecordReader(record, options, example, error).read();
}

}  // namespace loom::data
