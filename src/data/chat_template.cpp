#include "data/chat_template.h"

#include <algorithm>
#include <array>
#include <chrono>
#include <ctime>
#include <filesystem>
#include <iomanip>
#include <sstream>

#include <minja.hpp>

#include "core/check.h"
#include "io/json_file.h"

namespace loom::data {

namespace fs = std::filesystem;

struct ChatTemplate::Compiled {
  std::shared_ptr<minja::TemplateNode> root;
  std::shared_ptr<minja::Context> globals;  // minja's builtins, the special tokens, strftime_now; read-only
};

namespace {

// minja's messages carry the template's source lines after the first; the first line is the
// message and where it happened.
std::string first_line(const std::string& message) {
  std::string line = message.substr(0, message.find('\n'));
  while (!line.empty() && (line.back() == ':' || line.back() == ' ')) line.pop_back();
  return line;
}

// The named special tokens transformers passes to templates (its special_tokens_map).
nlohmann::ordered_json special_tokens_of(const nlohmann::json& config, const std::string& source) {
  nlohmann::ordered_json tokens = nlohmann::ordered_json::object();
  for (const char* key : {"bos_token", "eos_token", "unk_token", "sep_token", "pad_token", "cls_token", "mask_token"}) {
    if (!config.contains(key) || config[key].is_null()) continue;
    const nlohmann::json& value = config[key];
    if (value.is_string()) {
      tokens[key] = value.get<std::string>();
    } else {
      LOOM_REQUIRE(value.is_object() && value.contains("content") && value["content"].is_string(), source, ": ", key,
                   " must be a string or an object with a \"content\" string");
      tokens[key] = value["content"].get<std::string>();
    }
  }
  return tokens;
}

std::vector<TemplateToken> added_tokens_of(const nlohmann::json& config, const std::string& source) {
  std::vector<TemplateToken> tokens;
  if (!config.contains("added_tokens_decoder")) return tokens;
  const nlohmann::json& decoder = config["added_tokens_decoder"];
  LOOM_REQUIRE(decoder.is_object(), source, ": added_tokens_decoder must be an object");
  for (const auto& [id_text, token] : decoder.items()) {
    size_t used = 0;
    long id = -1;
    try {
      id = std::stol(id_text, &used);
    } catch (const std::exception&) {
      used = 0;
    }
    LOOM_REQUIRE(used == id_text.size() && id >= 0 && id <= INT32_MAX, source, ": added_tokens_decoder key '", id_text,
                 "' is not a token id");
    LOOM_REQUIRE(token.is_object() && token.contains("content") && token["content"].is_string() &&
                     !token["content"].get<std::string>().empty(),
                 source, ": added_tokens_decoder[", id_text, "] needs a non-empty \"content\" string");
    tokens.push_back({token["content"].get<std::string>(), static_cast<int32_t>(id)});
  }
  return tokens;
}

// tokenizer_config.json's chat_template: a string, or a list of {"name", "template"} of which
// transformers uses "default".
std::string template_of(const nlohmann::json& config, const std::string& source) {
  LOOM_REQUIRE(config.contains("chat_template") && !config["chat_template"].is_null(), source,
               ": no chat_template (and no chat_template.jinja beside it)");
  const nlohmann::json& value = config["chat_template"];
  if (value.is_string()) return value.get<std::string>();
  LOOM_REQUIRE(value.is_array(), source, ": chat_template must be a string or a list of {\"name\", \"template\"}");
  for (const nlohmann::json& entry : value) {
    LOOM_REQUIRE(entry.is_object() && entry.contains("name") && entry["name"].is_string() &&
                     entry.contains("template") && entry["template"].is_string(),
                 source, ": chat_template list entries must be {\"name\": string, \"template\": string}");
    if (entry["name"] == "default") return entry["template"].get<std::string>();
  }
  LOOM_FAIL(source, ": chat_template lists no template named \"default\"");
}

}  // namespace

ChatTemplate ChatTemplate::load(const std::string& path) {
  LOOM_REQUIRE(fs::exists(path), path, ": no such file or folder (expected a model folder, tokenizer_config.json or a .jinja chat template)");
  const fs::path given(path);
  const fs::path folder = fs::is_directory(given) ? given : given.parent_path();
  const fs::path config_path = given.extension() == ".json" ? given : folder / "tokenizer_config.json";
  nlohmann::json config = nlohmann::json::object();
  if (fs::is_regular_file(config_path))
    config = parse_json_object(read_text_file(config_path.string()), config_path.string());
  const fs::path source_path = fs::is_directory(given) ? folder / "chat_template.jinja" : given;
  std::string source, origin;
  if (source_path != config_path && fs::is_regular_file(source_path)) {
    source = read_text_file(source_path.string());
    origin = source_path.string();
  } else {
    LOOM_REQUIRE(fs::is_regular_file(config_path), path, ": no chat_template.jinja or tokenizer_config.json");
    source = template_of(config, config_path.string());
    origin = config_path.string();
  }
  return ChatTemplate(source, special_tokens_of(config, config_path.string()),
                      added_tokens_of(config, config_path.string()), origin);
}

ChatTemplate::ChatTemplate(const std::string& source, nlohmann::ordered_json special_tokens,
                           std::vector<TemplateToken> added_tokens, std::string origin)
    : added_tokens_(std::move(added_tokens)), origin_(std::move(origin)) {
  auto compiled = std::make_shared<Compiled>();
  try {
    compiled->root = minja::Parser::parse(source, {/*trim_blocks=*/true, /*lstrip_blocks=*/true,
                                                   /*keep_trailing_newline=*/false});
  } catch (const std::exception& e) {
    LOOM_FAIL(origin_, ": chat template does not parse: ", first_line(e.what()));
  }
  compiled->globals = minja::Context::make(minja::Value(special_tokens));
  // transformers' strftime_now: the local time, formatted.
  compiled->globals->set("strftime_now", minja::Value::callable([](const std::shared_ptr<minja::Context>&,
                                                                   minja::ArgumentsValue& args) {
                           args.expectArgs("strftime_now", {1, 1}, {0, 0});
                           const std::time_t now = std::chrono::system_clock::to_time_t(std::chrono::system_clock::now());
                           std::tm local{};
                           localtime_r(&now, &local);
                           std::ostringstream text;
                           text << std::put_time(&local, args.args[0].get<std::string>().c_str());
                           return minja::Value(text.str());
                         }));
  compiled_ = std::move(compiled);
  std::stable_sort(added_tokens_.begin(), added_tokens_.end(),
                   [](const TemplateToken& a, const TemplateToken& b) { return a.content.size() > b.content.size(); });
}

std::string ChatTemplate::render(const ChatMessages& messages, bool add_generation_prompt) const {
  nlohmann::ordered_json values = {{"messages", messages}, {"add_generation_prompt", add_generation_prompt}};
  try {
    return compiled_->root->render(minja::Context::make(minja::Value(values), compiled_->globals));
  } catch (const std::exception& e) {
    throw ChatTemplateError(cat(origin_, ": chat template failed: ", first_line(e.what())));
  }
}

std::vector<TextSpan> ChatTemplate::assistant_spans(const ChatMessages& messages, const std::string& rendered) const {
  std::vector<TextSpan> spans;
  auto starts_with = [](const std::string& text, const std::string& prefix) {
    return text.size() >= prefix.size() && text.compare(0, prefix.size(), prefix) == 0;
  };
  for (size_t i = 0; i < messages.size(); ++i) {
    if (!messages[i].contains("role") || messages[i]["role"] != "assistant") continue;
    ChatMessages before = ChatMessages::array();
    for (size_t k = 0; k < i; ++k) before.push_back(messages[k]);
    const std::string opened = render(before, /*add_generation_prompt=*/true);
    before.push_back(messages[i]);
    const std::string closed = render(before, /*add_generation_prompt=*/false);
    if (!starts_with(closed, opened) || !starts_with(rendered, closed))
      throw ChatTemplateError(cat(origin_, ": chat template renders the turns before message ", i + 1,
                                  " differently once it follows, so its assistant span cannot be found"));
    spans.push_back({opened.size(), closed.size()});
  }
  return spans;
}

std::vector<int32_t> ChatTemplate::encode(const Tokenizer& tokenizer, std::string_view text) const {
  std::array<bool, 256> starts_token{};
  for (const TemplateToken& token : added_tokens_) starts_token[static_cast<unsigned char>(token.content[0])] = true;
  std::vector<int32_t> ids;
  size_t plain_begin = 0;
  auto flush_plain = [&](size_t end) {
    if (end > plain_begin) {
      const std::vector<int32_t> part = tokenizer.encode(text.substr(plain_begin, end - plain_begin), /*add_bos=*/false);
      ids.insert(ids.end(), part.begin(), part.end());
    }
  };
  for (size_t at = 0; at < text.size();) {
    const TemplateToken* match = nullptr;
    if (starts_token[static_cast<unsigned char>(text[at])])
      for (const TemplateToken& token : added_tokens_)
        if (text.compare(at, token.content.size(), token.content) == 0) {
          match = &token;
          break;
        }
    if (match == nullptr) {
      ++at;
      continue;
    }
    flush_plain(at);
    ids.push_back(match->id);
    at += match->content.size();
    plain_begin = at;
  }
  flush_plain(text.size());
  return ids;
}

std::vector<std::pair<size_t, size_t>> token_spans(const ChatTemplate& chat, const Tokenizer& tokenizer,
                                                   const std::string& text, const std::vector<int32_t>& ids,
                                                   const std::vector<TextSpan>& spans) {
  // Tokens shared by the encoding of text[0, b) and the whole; a token cut by b overlaps both sides.
  auto boundary = [&](size_t b, bool is_end) {
    if (b == 0) return size_t{0};
    if (b >= text.size()) return ids.size();
    const std::vector<int32_t> prefix = chat.encode(tokenizer, std::string_view(text).substr(0, b));
    size_t shared = 0;
    while (shared < prefix.size() && shared < ids.size() && prefix[shared] == ids[shared]) ++shared;
    return is_end && shared < prefix.size() ? std::min(shared + 1, ids.size()) : shared;
  };
  std::vector<std::pair<size_t, size_t>> out;
  for (const TextSpan& span : spans) out.emplace_back(boundary(span.begin, false), boundary(span.end, true));
  return out;
}

}  // namespace loom::data
