// Batched generation with the KV cache: the rollout engine of `loom generate` and PPO.
// Prompts of different lengths are left-padded (KvDecoder skips the pads), each row samples
// its own continuation until it emits EOS (when stopping at EOS) or reaches max_new_tokens;
// finished rows keep decoding a filler token whose output is ignored, and the batch ends when
// every row is done. Buffers are sized at construction for (max_batch, max_len); a call
// allocates its result once, nothing per token.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "core/rng.h"
#include "model/kv_decoder.h"
#include "model/sampling.h"

namespace loom {

struct GenerationOptions {
  SamplingOptions sampling;
  int max_new_tokens = 128;
  bool stop_at_eos = true;  // false: StackLLaMA's PPO setting, every row runs to max_new_tokens
  int eos_id = 2;
  std::vector<int> more_eos_ids;  // further ids that end a row (a chat model's end-of-turn token)
  bool is_eos(int token) const;
};

// The ids that end generation for a model folder, as transformers' generate takes them:
// generation_config.json's eos_token_id, else config.json's (an id or a list of ids; null or
// absent means none). Errors name the file.
std::vector<int> model_eos_ids(const std::string& model_dir);

enum class StopReason { eos, length };
const char* stop_reason_name(StopReason reason);  // "eos" | "length"

struct GeneratedRow {
  std::vector<int> tokens;             // the completion, EOS included when it stopped there
  std::vector<float> logprobs;         // per token, under the sampling distribution
  std::vector<float> model_logprobs;   // per token, under the raw model distribution
  StopReason stop = StopReason::length;
};

struct GenerationResult {
  std::vector<GeneratedRow> rows;  // one per prompt, in order
  int64_t new_tokens() const;      // completion tokens over all rows
};

// Called once per produced token (row index, token id), in order within a row.
using TokenCallback = std::function<void(int row, int token)>;

class Generator {
 public:
  // Room for up to max_batch prompts whose length plus max_new_tokens stays within max_len.
  Generator(const FrozenWeights& base, const TrainableLayout& layout, int max_batch, int max_len,
            const Backend& backend);

  // Samples a continuation of every prompt (token ids, each non-empty and < V). The random
  // draws come from one key taken from rng per call: row b's n-th token uses
  // random_uniform(key, b, n), so a row's samples do not depend on when other rows stop.
  GenerationResult generate(const std::vector<std::vector<int>>& prompts, const GenerationOptions& options,
                            const LoraContext& lora, Rng& rng, const TokenCallback& on_token = {});

  int max_batch() const { return max_batch_; }
  int max_len() const { return max_len_; }

 private:
  int max_batch_, max_len_, V_;
  const Backend& backend_;
  KvDecoder decoder_;
  TokenSampler sampler_;
  std::vector<float> logits_;    // (max_batch, V)
  std::vector<int> prompt_;      // (max_batch, max_len) left-padded prompts
  std::vector<int> key_begin_;   // (max_batch)
  std::vector<int> next_;        // (max_batch) the tokens fed to the next step
  std::vector<char> done_;       // (max_batch)
};

}  // namespace loom
