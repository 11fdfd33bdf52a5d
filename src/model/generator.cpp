#include "model/generator.h"

#include <algorithm>
#include <filesystem>
#include <optional>

#include "core/check.h"
#include "io/json_file.h"

namespace loom {

bool GenerationOptions::is_eos(int token) const {
  return token == eos_id || std::find(more_eos_ids.begin(), more_eos_ids.end(), token) != more_eos_ids.end();
}

std::vector<int> model_eos_ids(const std::string& model_dir) {
  namespace fs = std::filesystem;
  for (const char* name : {"generation_config.json", "config.json"}) {
    const std::string path = (fs::path(model_dir) / name).string();
    if (!fs::is_regular_file(path)) continue;
    const nlohmann::json config = parse_json_object(read_text_file(path), path);
    if (!config.contains("eos_token_id") && std::string(name) == "generation_config.json") continue;
    const nlohmann::json value = config.value("eos_token_id", nlohmann::json());
    std::vector<int> ids;
    for (const nlohmann::json& id : value.is_array() ? value : nlohmann::json::array({value})) {
      if (id.is_null()) continue;
      LOOM_REQUIRE(id.is_number_integer() && id.get<int64_t>() >= 0 && id.get<int64_t>() <= INT32_MAX, path,
                   ": eos_token_id must be a token id or a list of them, got ", value.dump());
      ids.push_back(id.get<int>());
    }
    return ids;
  }
  return {};
}

const char* stop_reason_name(StopReason reason) { return reason == StopReason::eos ? "eos" : "length"; }

int64_t GenerationResult::new_tokens() const {
  int64_t n = 0;
  for (const GeneratedRow& row : rows) n += static_cast<int64_t>(row.tokens.size());
  return n;
}

Generator::Generator(const FrozenWeights& base, const TrainableLayout& layout, int max_batch, int max_len,
                     const Backend& backend)
    : max_batch_(max_batch), max_len_(max_len), V_(base.shape().V), backend_(backend),
      decoder_(base, layout, max_batch, max_len, backend), sampler_(base.shape().V),
      logits_(size_t(max_batch) * base.shape().V), prompt_(size_t(max_batch) * max_len),
      key_begin_(max_batch), next_(max_batch), done_(max_batch) {
  LOOM_ASSERT(max_batch > 0 && max_len > 0);
}

GenerationResult Generator::generate(const std::vector<std::vector<int>>& prompts, const GenerationOptions& options,
                                     const LoraContext& lora, Rng& rng, const TokenCallback& on_token) {
  validate_sampling_options(options.sampling);
  const int B = static_cast<int>(prompts.size());
  LOOM_REQUIRE(B > 0 && B <= max_batch_, "generation: ", B, " prompts for a generator of batch ", max_batch_);
  LOOM_REQUIRE(options.max_new_tokens > 0, "max_new_tokens must be positive, got ", options.max_new_tokens);
  int Tp = 0;
  for (int b = 0; b < B; ++b) {
    LOOM_REQUIRE(!prompts[b].empty(), "generation: prompt ", b, " is empty");
    for (int id : prompts[b])
      LOOM_REQUIRE(id >= 0 && id < V_, "generation: prompt ", b, " holds token id ", id,
                   " outside the vocabulary [0, ", V_, ")");
    Tp = std::max(Tp, static_cast<int>(prompts[b].size()));
  }
  // The last sampled token is never fed back, so the cache holds Tp + max_new_tokens - 1 positions.
  LOOM_REQUIRE(Tp + options.max_new_tokens - 1 <= max_len_, "generation: a prompt of ", Tp, " tokens plus ",
               options.max_new_tokens, " new tokens exceeds the generator's length ", max_len_);

  GenerationResult result;
  result.rows.resize(B);
  for (GeneratedRow& row : result.rows) {
    row.tokens.reserve(options.max_new_tokens);
    row.logprobs.reserve(options.max_new_tokens);
    row.model_logprobs.reserve(options.max_new_tokens);
  }
  for (int b = 0; b < B; ++b) {  // left padding with token 0, never attended
    const int n = static_cast<int>(prompts[b].size());
    key_begin_[b] = Tp - n;
    std::fill(prompt_.begin() + size_t(b) * Tp, prompt_.begin() + size_t(b) * Tp + key_begin_[b], 0);
    std::copy(prompts[b].begin(), prompts[b].end(), prompt_.begin() + size_t(b) * Tp + key_begin_[b]);
    done_[b] = 0;
  }
  const uint64_t key = rng.next_u64();

  // Every token reads each LoRA factor once: the backend may convert them once per generation
  // (cpu-bf16: to bf16, half the bytes; the adapter changes between PPO steps, not within one).
  std::optional<ReusedWeight> adapter;
  if (lora.enabled && lora.params != nullptr)
    adapter.emplace(backend_, lora.params, lora.layout->total(), kUnversionedWeight);
  decoder_.prefill(logits_.data(), prompt_.data(), key_begin_.data(), B, Tp, lora);
  int active = B;
  for (int n = 0; active > 0; ++n) {
    for (int b = 0; b < B; ++b) {
      if (done_[b]) continue;  // next_[b] keeps the row's last token as filler
      const TokenChoice c = sampler_.choose(logits_.data() + size_t(b) * V_, options.sampling,
                                            random_uniform(key, uint64_t(b), uint64_t(n)));
      GeneratedRow& row = result.rows[b];
      row.tokens.push_back(c.token);
      row.logprobs.push_back(c.logprob);
      row.model_logprobs.push_back(c.model_logprob);
      next_[b] = c.token;
      if (on_token) on_token(b, c.token);
      const bool eos = options.stop_at_eos && options.is_eos(c.token);
      if (eos || n + 1 == options.max_new_tokens) {
        row.stop = eos ? StopReason::eos : StopReason::length;
        done_[b] = 1;
        --active;
      }
    }
    if (active > 0) decoder_.step(logits_.data(), next_.data(), lora);
  }
  return result;
}

}  // namespace loom
