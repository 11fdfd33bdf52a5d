#include "model/reward_scorer.h"

#include <algorithm>
#include <filesystem>

#include "core/check.h"
#include "model/inference_adapter.h"

namespace loom {

RewardScorer::RewardScorer(const std::string& model_dir, const std::string& adapter_dir, QuantMode mode,
                           int max_batch, int max_len, const Backend& backend)
    : checkpoint_(model_dir), base_(checkpoint_, mode, backend), max_batch_(max_batch), max_len_(max_len) {
  InferenceAdapter adapter = load_inference_adapter(adapter_dir, base_.config(), 1, false);
  layout_ = std::move(adapter.layout);
  std::vector<float>& params = adapter.params;
  if (!adapter.loaded)
    LOOM_REQUIRE(load_score_head(checkpoint_, params.data() + layout_->head_offset(), 1, base_.shape().C), model_dir,
                 ": no score.weight: not a reward model (merge a reward adapter with `loom merge`, or pass its "
                 "--adapter)");
  param_arena_ = backend.make_arena("reward model params", sizeof(float) * params.size());
  params_ = param_arena_.take<float>(params.size());
  backend.upload(params_, params.data(), sizeof(float) * params.size());
  model_ = std::make_unique<RewardModel>(base_, *layout_, max_batch, max_len, false, backend);
  tokens_.resize(size_t(max_batch) * max_len);
  pos_.resize(size_t(max_batch) * max_len);
  last_.resize(max_batch);
  rewards_.resize(max_batch);
}

LoraContext RewardScorer::context() const { return LoraContext{layout_.get(), params_, nullptr, 0.0f, 0, true}; }

std::vector<float> RewardScorer::score(const std::vector<std::vector<int>>& sequences) {
  std::vector<float> out;
  out.reserve(sequences.size());
  const LoraContext lora = context();
  for (size_t first = 0; first < sequences.size(); first += max_batch_) {
    const int B = int(std::min<size_t>(max_batch_, sequences.size() - first));
    int T = 1;
    for (int b = 0; b < B; ++b) T = std::max(T, std::min(max_len_, int(sequences[first + b].size())));
    for (int b = 0; b < B; ++b) {
      const std::vector<int>& seq = sequences[first + b];
      LOOM_REQUIRE(!seq.empty(), "sequence ", first + b, " is empty: nothing to score");
      const int len = std::min(max_len_, int(seq.size()));
      const int skip = int(seq.size()) - len;  // keep the last max_len tokens
      for (int t = 0; t < T; ++t) {
        tokens_[size_t(b) * T + t] = t < len ? seq[skip + t] : seq.back();
        pos_[size_t(b) * T + t] = t;
      }
      last_[b] = len - 1;
    }
    const TokenBatch batch{B, T, tokens_.data(), pos_.data(), nullptr};
    model_->forward(rewards_.data(), batch, last_.data(), lora);
    out.insert(out.end(), rewards_.begin(), rewards_.begin() + B);
  }
  return out;
}

}  // namespace loom
