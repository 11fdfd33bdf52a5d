#include "model/kv_decoder.h"

#include <algorithm>
#include <cstring>

#include "ops/attention.h"
#include "core/check.h"
#include "ops/embedding.h"
#include "ops/rmsnorm.h"
#include "ops/rope.h"

namespace loom {

KvDecoder::KvDecoder(const FrozenWeights& base, const TrainableLayout& layout, int max_batch, int max_len)
    : base_(base), max_batch_(max_batch), max_len_(max_len),
      head_(base.shape().V, base.shape().C) {
  const LlamaShape& s = base.shape();
  const size_t rows = size_t(max_batch) * max_len;
  const size_t cache = size_t(s.L) * max_batch * max_len * s.KVD();
  auto carve = [&](auto&& take) {
    carve_layer_activations(acts_, s, layout, max_batch, max_len, take);
    scratch_.weight = take(size_t(s.max_linear_elements()));
    scratch_.dropped = take(rows * std::max({s.C, s.F, s.QD()}));
    scratch_.mid = take(rows * size_t(layout.rank()));
    x_ = take(rows * s.C);
    x_next_ = take(rows * s.C);
    last_hidden_ = take(size_t(max_batch) * s.C);
    last_rstd_ = take(max_batch);
    k_cache_ = take(cache);
    v_cache_ = take(cache);
  };
  ArenaPlan plan;
  carve([&](size_t n) -> float* { plan.add<float>(n); return nullptr; });
  arena_ = Arena("kv cache and decode activations", plan.bytes());
  carve([&](size_t n) { return arena_.take<float>(n); });
  inv_freq_.resize(s.HD / 2);
  cpu::rope_inv_freq(inv_freq_.data(), s.HD, base.config().rope_theta, base.config().rope_scaling);
  key_begin_.resize(max_batch);
  key_end_.resize(max_batch);
  pos_.resize(rows);
  doc_.resize(rows);
}

void KvDecoder::copy_into_cache(int layer, const float* k, const float* v, int t0, int T) {
  const LlamaShape& s = base_.shape();
  const size_t row = s.KVD();
  for (int b = 0; b < B_; ++b) {
    const size_t at = ((size_t(layer) * max_batch_ + b) * max_len_ + t0) * row;  // (L, B, Tmax, KVD)
    std::memcpy(k_cache_ + at, k + size_t(b) * T * row, sizeof(float) * T * row);
    std::memcpy(v_cache_ + at, v + size_t(b) * T * row, sizeof(float) * T * row);
  }
}

void KvDecoder::final_logits(float* logits, const float* x, int B, int T, const LoraContext& lora) {
  const LlamaShape& s = base_.shape();
  for (int b = 0; b < B; ++b) {  // the last position of each row
    const float* row = x + (size_t(b) * T + T - 1) * s.C;
    cpu::rmsnorm_forward(last_hidden_ + size_t(b) * s.C, last_rstd_ + b, row, base_.final_norm(), 1, s.C,
                         base_.config().rms_norm_eps);
  }
  head_.logits(logits, last_hidden_, active_lm_head(base_, lora), B);
}

void KvDecoder::prefill(float* logits, const int* tokens, const int* key_begin, int B, int Tp,
                        const LoraContext& lora) {
  const LlamaShape& s = base_.shape();
  LOOM_REQUIRE(B <= max_batch_ && Tp <= max_len_, "prompt batch (", B, ", ", Tp, ") exceeds the decoder's (",
               max_batch_, ", ", max_len_, ")");
  B_ = B;
  length_ = Tp;
  for (int b = 0; b < B; ++b) {
    key_begin_[b] = key_begin[b];
    key_end_[b] = Tp;
    for (int t = 0; t < Tp; ++t) {
      const bool real = t >= key_begin[b];
      pos_[b * Tp + t] = real ? t - key_begin[b] : 0;
      doc_[b * Tp + t] = real ? 0 : -1;  // pads form their own document: real tokens never see them
    }
  }
  RowLayout rows;
  rows.B = B;
  rows.T = Tp;
  rows.pos = pos_.data();
  rows.doc = doc_.data();
  rows.inv_freq = inv_freq_.data();
  cpu::embedding_forward(x_, tokens, base_.embed(), rows.N(), s.C, s.V);
  for (int l = 0; l < s.L; ++l) {
    const LayerContext ctx = layer_context(base_, l, lora, scratch_);
    decoder_layer_forward(x_next_, acts_, x_, ctx, rows);
    copy_into_cache(l, acts_.k, acts_.v, 0, Tp);
    std::swap(x_, x_next_);
  }
  final_logits(logits, x_, B, Tp, lora);
}

void KvDecoder::step(float* logits, const int* tokens, const LoraContext& lora) {
  const LlamaShape& s = base_.shape();
  LOOM_REQUIRE(length_ < max_len_, "generation reached the decoder's maximum length ", max_len_);
  const int t = length_;
  for (int b = 0; b < B_; ++b) {
    pos_[b] = t - key_begin_[b];
    key_end_[b] = t + 1;
  }
  RowLayout rows;
  rows.B = B_;
  rows.T = 1;
  rows.pos = pos_.data();
  rows.inv_freq = inv_freq_.data();
  cpu::embedding_forward(x_, tokens, base_.embed(), B_, s.C, s.V);
  for (int l = 0; l < s.L; ++l) {
    const LayerContext ctx = layer_context(base_, l, lora, scratch_);
    layer_qkv_forward(acts_, x_, ctx, rows);
    copy_into_cache(l, acts_.k, acts_.v, t, 1);
    const size_t layer_at = size_t(l) * max_batch_ * max_len_ * s.KVD();
    cpu::attention_decode(acts_.att, acts_.q, k_cache_ + layer_at, v_cache_ + layer_at, key_begin_.data(),
                          key_end_.data(), B_, max_len_, s.NH, s.NKV, s.HD);
    layer_output_forward(x_next_, acts_, x_, ctx, rows);
    std::swap(x_, x_next_);
  }
  length_ = t + 1;
  final_logits(logits, x_, B_, 1, lora);
}

}  // namespace loom
