// loom generate --model DIR [--adapter DIR] (--prompt TEXT | --prompts FILE | --prompt-ids 1,2,3 |
// --chat TEXT [--system TEXT]... | --messages FILE): batched KV-cache generation with greedy /
// temperature / top-k / top-p sampling, stopping at every EOS id of the model; chat prompts go
// through the model's chat template with its generation prompt. Text streams to stdout for a
// single prompt, --format jsonl writes one record per prompt for tools.
#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "cli/command_line.h"
#include "backend/backend_factory.h"
#include "cli/commands.h"
#include "cli/inference_quant.h"
#include "core/check.h"
#include "data/chat_template.h"
#include "data/tokenizer.h"
#include "io/hf_checkpoint.h"
#include "model/frozen_weights.h"
#include "model/generator.h"
#include "model/inference_adapter.h"

namespace loom::cli {

namespace {

namespace fs = std::filesystem;

std::string decode(const data::Tokenizer& tokenizer, const std::vector<int32_t>& ids) {
  return tokenizer.decode(ids.data(), ids.size());
}

struct PromptInput {
  std::optional<std::string> text;  // absent for ids given without a tokenizer
  std::vector<int> ids;
  std::optional<data::ChatMessages> messages;  // chat prompts: the conversation
};

std::vector<int> parse_id_list(const std::string& text, const std::string& where) {
  std::vector<int> ids;
  size_t start = 0;
  while (start <= text.size()) {
    const size_t comma = std::min(text.find(',', start), text.size());
    const std::string item = text.substr(start, comma - start);
    size_t used = 0;
    long value = -1;
    try {
      value = std::stol(item, &used);
    } catch (const std::exception&) {
      used = 0;
    }
    LOOM_REQUIRE(used > 0 && used == item.size() && value >= 0 && value <= INT32_MAX, where,
                 ": expected comma-separated token ids such as 1,2,3, got '", item, "'");
    ids.push_back(static_cast<int>(value));
    start = comma + 1;
  }
  return ids;
}

PromptInput text_prompt(const std::string& text, const data::Tokenizer* tokenizer, const std::string& where) {
  LOOM_REQUIRE(tokenizer != nullptr, where, ": a text prompt needs a tokenizer (none in the --model folder; "
                                            "pass --tokenizer PATH, or token ids with --prompt-ids)");
  const std::vector<int32_t> ids = tokenizer->encode(text, /*add_bos=*/true);
  return {text, std::vector<int>(ids.begin(), ids.end())};
}

PromptInput id_prompt(std::vector<int> ids, const data::Tokenizer* tokenizer) {
  PromptInput p;
  if (tokenizer != nullptr) p.text = decode(*tokenizer, std::vector<int32_t>(ids.begin(), ids.end()));
  p.ids = std::move(ids);
  return p;
}

// One prompt per non-empty line, or JSONL (the first non-empty line starts with '{') with a
// "prompt" string or a "prompt_ids" list per line.
std::vector<PromptInput> read_prompts_file(const std::string& path, const data::Tokenizer* tokenizer) {
  std::ifstream in(path);
  LOOM_REQUIRE(in.good(), path, ": cannot open the prompts file");
  std::vector<PromptInput> prompts;
  std::optional<bool> jsonl;
  std::string line;
  for (int number = 1; std::getline(in, line); ++number) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    const size_t first = line.find_first_not_of(" \t");
    if (first == std::string::npos) continue;
    if (!jsonl) jsonl = line[first] == '{';
    const std::string where = path + ":" + std::to_string(number);
    if (!*jsonl) {
      prompts.push_back(text_prompt(line, tokenizer, where));
      continue;
    }
    nlohmann::json j;
    try {
      j = nlohmann::json::parse(line);
    } catch (const nlohmann::json::exception& e) {
      LOOM_FAIL(where, ": not a JSON object (", e.what(), ")");
    }
    LOOM_REQUIRE(j.is_object(), where, ": not a JSON object");
    if (j.contains("prompt")) {
      LOOM_REQUIRE(j["prompt"].is_string(), where, ": \"prompt\" must be a string");
      prompts.push_back(text_prompt(j["prompt"].get<std::string>(), tokenizer, where));
    } else if (j.contains("prompt_ids")) {
      const nlohmann::json& list = j["prompt_ids"];
      LOOM_REQUIRE(list.is_array(), where, ": \"prompt_ids\" must be a list of token ids");
      std::vector<int> ids;
      for (const nlohmann::json& id : list) {
        LOOM_REQUIRE(id.is_number_integer() && id.get<int64_t>() >= 0 && id.get<int64_t>() <= INT32_MAX, where,
                     ": \"prompt_ids\" entry ", id.dump(), " is not a token id");
        ids.push_back(id.get<int>());
      }
      prompts.push_back(id_prompt(std::move(ids), tokenizer));
    } else {
      LOOM_FAIL(where, ": expected a \"prompt\" or \"prompt_ids\" field");
    }
  }
  LOOM_REQUIRE(!prompts.empty(), path, ": no prompts in the file");
  return prompts;
}

PromptInput chat_prompt(data::ChatMessages messages, const data::ChatTemplate& chat, const data::Tokenizer* tokenizer,
                        const std::string& where) {
  LOOM_REQUIRE(tokenizer != nullptr, where, ": a chat prompt needs a tokenizer (pass --tokenizer PATH)");
  PromptInput p;
  try {
    p.text = chat.render(messages, /*add_generation_prompt=*/true);
  } catch (const data::ChatTemplateError& e) {
    LOOM_FAIL(where, ": ", e.what());
  }
  const std::vector<int32_t> ids = chat.encode(*tokenizer, *p.text);
  LOOM_REQUIRE(!ids.empty(), where, ": the chat template rendered an empty prompt");
  p.ids.assign(ids.begin(), ids.end());
  p.messages = std::move(messages);
  return p;
}

// One conversation a line: {"messages": [...]} or the list itself; empty lines are skipped.
std::vector<PromptInput> read_messages_file(const std::string& path, const data::ChatTemplate& chat,
                                            const data::Tokenizer* tokenizer) {
  std::ifstream in(path);
  LOOM_REQUIRE(in.good(), path, ": cannot open the messages file");
  std::vector<PromptInput> prompts;
  std::string line;
  for (int number = 1; std::getline(in, line); ++number) {
    if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
    const std::string where = path + ":" + std::to_string(number);
    data::ChatMessages j;
    try {
      j = data::ChatMessages::parse(line);
    } catch (const nlohmann::json::exception& e) {
      LOOM_FAIL(where, ": not JSON (", e.what(), ")");
    }
    if (j.is_object() && j.contains("messages")) j = j["messages"];
    LOOM_REQUIRE(j.is_array() && !j.empty(), where, ": expected {\"messages\": [...]} or a non-empty list of messages");
    for (const auto& m : j)
      LOOM_REQUIRE(m.is_object() && m.contains("role") && m["role"].is_string() && m.contains("content") &&
                       m["content"].is_string(),
                   where, ": every message needs string \"role\" and \"content\"");
    prompts.push_back(chat_prompt(std::move(j), chat, tokenizer, where));
  }
  LOOM_REQUIRE(!prompts.empty(), path, ": no conversations in the file");
  return prompts;
}

// The text a completion adds to its prompt: both decoded together, so that the leading space
// of the first word (which SentencePiece drops at the start of a text) survives.
std::string completion_text(const data::Tokenizer& tokenizer, const std::vector<int>& prompt,
                            const std::vector<int>& completion) {
  std::vector<int32_t> ids(prompt.begin(), prompt.end());
  const std::string before = decode(tokenizer, ids);
  ids.insert(ids.end(), completion.begin(), completion.end());
  const std::string after = decode(tokenizer, ids);
  if (after.compare(0, before.size(), before) == 0) return after.substr(before.size());
  return decode(tokenizer, std::vector<int32_t>(completion.begin(), completion.end()));
}

// Writes the prompt, then the completion as it grows, holding back a trailing partial UTF-8
// character (SentencePiece byte pieces decode to U+FFFD until the character is complete).
class TextStream {
 public:
  TextStream(const data::Tokenizer& tokenizer, const std::vector<int>& prompt, int max_new_tokens)
      : tokenizer_(tokenizer), ids_(prompt.begin(), prompt.end()) {
    ids_.reserve(prompt.size() + max_new_tokens);
    flush(false);
  }
  void add(int token) {
    ids_.push_back(token);
    flush(false);
  }
  void finish() { flush(true); }

 private:
  void flush(bool last) {
    const std::string text = decode(tokenizer_, ids_);
    static const std::string kReplacement = "\xEF\xBF\xBD";
    const bool partial = text.size() >= 3 && text.compare(text.size() - 3, 3, kReplacement) == 0;
    if ((partial && !last) || text.size() <= shown_.size() || text.compare(0, shown_.size(), shown_) != 0) return;
    std::fwrite(text.data() + shown_.size(), 1, text.size() - shown_.size(), stdout);
    std::fflush(stdout);
    shown_ = text;
  }

  const data::Tokenizer& tokenizer_;
  std::vector<int32_t> ids_;
  std::string shown_;  // what has been written
};

}  // namespace

int run_generate(int argc, char** argv) {
  po::options_description options("generate options");
  options.add_options()
      ("model", po::value<std::string>()->required(), "HF checkpoint directory (LlamaForCausalLM)")
      ("adapter", po::value<std::string>()->default_value(""), "PEFT LoRA adapter directory (CAUSAL_LM)")
      ("quant", po::value<std::string>()->default_value(""), "base weights: nf4 | int8 | bf16 | f32 (default: as stored)")
      ("compute", po::value<std::string>()->default_value("auto"), "auto | f32 | bf16 (the backend that runs the ops)")
      ("tokenizer", po::value<std::string>()->default_value(""), "tokenizer.json or tokenizer.model (default: the model's)")
      ("prompt", po::value<std::string>(), "one text prompt (encoded with BOS)")
      ("prompts", po::value<std::string>(), "file: one prompt per line, or JSONL with \"prompt\" or \"prompt_ids\"")
      ("prompt-ids", po::value<std::string>(), "one prompt as token ids, e.g. 1,15043 (without a tokenizer: with --format jsonl)")
      ("chat", po::value<std::string>(), "one user message, rendered by the chat template with its generation prompt")
      ("system", po::value<std::vector<std::string>>()->composing(), "a system message before --chat (repeatable)")
      ("messages", po::value<std::string>(), "JSON Lines: a conversation a line ({\"messages\": [...]} or a list), each rendered with the generation prompt")
      ("chat-template", po::value<std::string>()->default_value(""), "model folder, tokenizer_config.json or .jinja file (default: --model DIR)")
      ("max-new-tokens", po::value<int>()->default_value(128), "new tokens per prompt at most")
      ("temperature", po::value<float>()->default_value(1.0f), "sampling temperature (> 0)")
      ("top-k", po::value<int>()->default_value(0), "keep the k most probable tokens (0 = off)")
      ("top-p", po::value<float>()->default_value(1.0f), "nucleus: smallest set reaching this mass (1 = off)")
      ("greedy", po::bool_switch(), "argmax decoding (ignores temperature, top-k, top-p)")
      ("seed", po::value<uint64_t>()->default_value(0), "random seed of the sampler")
      ("no-eos-stop", po::bool_switch(), "never stop at EOS: every prompt gets max-new-tokens (PPO rollouts)")
      ("batch-size", po::value<int>()->default_value(8), "prompts decoded together")
      ("format", po::value<std::string>()->default_value("text"), "text | jsonl");
  const std::string usage =
      "loom generate --model DIR [--adapter DIR] (--prompt TEXT | --prompts FILE | --prompt-ids 1,2,3 | "
      "--chat TEXT [--system TEXT]... | --messages FILE) [--greedy | --temperature T --top-k K --top-p P] "
      "[--format text|jsonl]";
  po::variables_map vm;
  if (!parse_command_line(argc, argv, usage, options, {}, &vm)) return 0;
  const ComputeMode compute = parse_compute_mode(vm["compute"].as<std::string>(), "--compute");
  const std::unique_ptr<Backend> backend = make_backend(compute);

  const int given = int(vm.count("prompt")) + int(vm.count("prompts")) + int(vm.count("prompt-ids")) +
                    int(vm.count("chat")) + int(vm.count("messages"));
  LOOM_REQUIRE(given == 1, "command line: give exactly one of --prompt, --prompts, --prompt-ids, --chat, --messages (usage: ",
               usage, ")");
  LOOM_REQUIRE(!vm.count("system") || vm.count("chat"), "--system: goes with --chat");
  const std::string format = vm["format"].as<std::string>();
  LOOM_REQUIRE(format == "text" || format == "jsonl", "--format: expected text or jsonl, got '", format, "'");
  const int batch_size = vm["batch-size"].as<int>();
  LOOM_REQUIRE(batch_size > 0, "--batch-size must be positive, got ", batch_size);
  GenerationOptions gen;
  gen.sampling.greedy = vm["greedy"].as<bool>();
  gen.sampling.temperature = vm["temperature"].as<float>();
  gen.sampling.top_k = vm["top-k"].as<int>();
  gen.sampling.top_p = vm["top-p"].as<float>();
  gen.max_new_tokens = vm["max-new-tokens"].as<int>();
  gen.stop_at_eos = !vm["no-eos-stop"].as<bool>();
  LOOM_REQUIRE(gen.max_new_tokens > 0, "--max-new-tokens must be positive, got ", gen.max_new_tokens);
  validate_sampling_options(gen.sampling);

  const std::string model_dir = vm["model"].as<std::string>();
  std::string tokenizer_path = vm["tokenizer"].as<std::string>();
  if (tokenizer_path.empty()) tokenizer_path = data::Tokenizer::file_in_model_dir(model_dir);
  LOOM_REQUIRE(vm["tokenizer"].as<std::string>().empty() || fs::is_regular_file(tokenizer_path), tokenizer_path,
               ": no such file");
  const std::unique_ptr<data::Tokenizer> tokenizer =
      tokenizer_path.empty() ? nullptr : std::make_unique<data::Tokenizer>(tokenizer_path);
  LOOM_REQUIRE(format == "jsonl" || tokenizer != nullptr, model_dir,
               ": --format text needs a tokenizer (no tokenizer.json or tokenizer.model; pass --tokenizer PATH or "
               "--format jsonl)");

  std::vector<PromptInput> prompts;
  if (vm.count("prompt")) prompts.push_back(text_prompt(vm["prompt"].as<std::string>(), tokenizer.get(), "--prompt"));
  if (vm.count("prompts")) prompts = read_prompts_file(vm["prompts"].as<std::string>(), tokenizer.get());
  if (vm.count("prompt-ids"))
    prompts.push_back(id_prompt(parse_id_list(vm["prompt-ids"].as<std::string>(), "--prompt-ids"), tokenizer.get()));
  if (vm.count("chat") || vm.count("messages")) {
    const std::string template_path =
        vm["chat-template"].as<std::string>().empty() ? model_dir : vm["chat-template"].as<std::string>();
    const data::ChatTemplate chat = data::ChatTemplate::load(template_path);
    if (vm.count("messages")) prompts = read_messages_file(vm["messages"].as<std::string>(), chat, tokenizer.get());
    if (vm.count("chat")) {
      data::ChatMessages messages = data::ChatMessages::array();
      if (vm.count("system"))
        for (const std::string& system : vm["system"].as<std::vector<std::string>>())
          messages.push_back({{"role", "system"}, {"content", system}});
      messages.push_back({{"role", "user"}, {"content", vm["chat"].as<std::string>()}});
      prompts.push_back(chat_prompt(std::move(messages), chat, tokenizer.get(), "--chat"));
    }
  }

  const HfCheckpoint checkpoint(model_dir);
  LOOM_REQUIRE(checkpoint.config().architecture == "LlamaForCausalLM", model_dir, "/config.json: architecture '",
               checkpoint.config().architecture, "' has no LM head to generate with (expected LlamaForCausalLM)");
  if (tokenizer)
    LOOM_REQUIRE(tokenizer->vocab_size() <= checkpoint.config().vocab_size, tokenizer_path, ": ",
                 tokenizer->vocab_size(), " pieces but the model has a vocabulary of ", checkpoint.config().vocab_size);
  const FrozenWeights base(checkpoint, inference_quant_mode(vm["quant"].as<std::string>(), model_dir), *backend);
  const std::vector<int> eos_ids = model_eos_ids(model_dir);
  gen.eos_id = eos_ids.empty() ? base.config().eos_token_id : eos_ids[0];
  if (eos_ids.size() > 1) gen.more_eos_ids.assign(eos_ids.begin() + 1, eos_ids.end());
  if (gen.eos_id < 0) gen.stop_at_eos = false;  // the model names no EOS

  const std::string adapter_dir = vm["adapter"].as<std::string>();
  const InferenceAdapter adapter = load_inference_adapter(adapter_dir, base.config(), /*head_rows=*/0,
                                                         /*for_generation=*/true);
  const TrainableLayout& layout = *adapter.layout;
  Arena param_arena = backend->make_arena("adapter params", sizeof(float) * adapter.params.size());
  float* adapter_params = param_arena.take<float>(adapter.params.size());
  // Without an adapter there is nothing to upload (and the arena's pointer is null).
  if (!adapter.params.empty())
    backend->upload(adapter_params, adapter.params.data(), sizeof(float) * adapter.params.size());
  const LoraContext lora{&layout, adapter_params, nullptr, 0.0f, 0, adapter.loaded};

  size_t longest = 0;
  for (const PromptInput& p : prompts) longest = std::max(longest, p.ids.size());
  const int batch = std::min<int>(batch_size, static_cast<int>(prompts.size()));
  Generator generator(base, layout, batch, static_cast<int>(longest) + gen.max_new_tokens, *backend);
  Rng rng(vm["seed"].as<uint64_t>(), /*stream=*/0x47656e);  // "Gen"

  const bool stream = format == "text" && prompts.size() == 1;
  int64_t new_tokens = 0;
  const auto start = std::chrono::steady_clock::now();
  for (size_t first = 0; first < prompts.size(); first += batch) {
    const size_t end = std::min(prompts.size(), first + batch);
    std::vector<std::vector<int>> ids;
    for (size_t i = first; i < end; ++i) ids.push_back(prompts[i].ids);
    std::unique_ptr<TextStream> text_stream;
    if (stream) text_stream = std::make_unique<TextStream>(*tokenizer, prompts[0].ids, gen.max_new_tokens);
    const GenerationResult result = generator.generate(
        ids, gen, lora, rng, stream ? TokenCallback([&](int, int token) { text_stream->add(token); }) : TokenCallback());
    new_tokens += result.new_tokens();
    for (size_t i = first; i < end; ++i) {
      const GeneratedRow& row = result.rows[i - first];
      const PromptInput& prompt = prompts[i];
      if (format == "jsonl") {
        nlohmann::json j;
        if (prompt.messages) j["messages"] = *prompt.messages;
        if (prompt.text) j["prompt"] = *prompt.text;
        j["prompt_ids"] = prompt.ids;
        if (tokenizer) j["completion"] = completion_text(*tokenizer, prompt.ids, row.tokens);
        j["completion_ids"] = row.tokens;
        j["logprobs"] = row.logprobs;
        j["stop_reason"] = stop_reason_name(row.stop);
        std::printf("%s\n", j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace).c_str());
      } else if (stream) {
        text_stream->finish();
        std::printf("\n");
      } else {
        const std::vector<int32_t> prompt_ids(prompt.ids.begin(), prompt.ids.end());
        std::printf("%s%s%s\n", i > 0 ? "\n" : "", decode(*tokenizer, prompt_ids).c_str(),
                    completion_text(*tokenizer, prompt.ids, row.tokens).c_str());
      }
    }
    std::fflush(stdout);
  }
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  // With the summary on stderr (stdout carries the output; a bad input stays one error line).
  std::fprintf(stderr, "%s\n", compute_line(*backend, compute).c_str());
  std::fprintf(stderr, "generate: %zu prompt(s), %lld new tokens in %.2f s (%.1f tokens/s), base %s%s\n",
               prompts.size(), static_cast<long long>(new_tokens), seconds, double(new_tokens) / std::max(seconds, 1e-9),
               quant_mode_name(base.mode()), adapter_dir.empty() ? "" : (" + " + adapter_dir).c_str());
  return 0;
}

}  // namespace loom::cli
