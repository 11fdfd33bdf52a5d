#include "model/kv_decoder.h"

#include <algorithm>

#include "core/check.h"
#include "ops/rope.h"

namespace loom {

KvDecoder::KvDecoder(const FrozenWeights& base, const TrainableLayout& layout, int max_batch, int max_len,
                     const Backend& backend)
    : base_(base), backend_(backend), max_batch_(max_batch), max_len_(max_len),
      head_(base.shape().V, base.shape().C, backend) {
  const LlamaShape& s = base.shape();
  const size_t rows = size_t(max_batch) * max_len;
  const size_t cache = size_t(s.L) * max_batch * max_len * s.KVD();
  auto carve = [&](auto&& take, auto&& take_ints) {
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
    logits_ = take(size_t(max_batch) * s.V);
    inv_freq_ = take(s.HD / 2);
    dev_key_begin_ = take_ints(max_batch);
    dev_key_end_ = take_ints(max_batch);
    dev_pos_ = take_ints(rows);
    dev_doc_ = take_ints(rows);
    dev_tokens_ = take_ints(rows);
  };
  ArenaPlan plan;
  carve([&](size_t n) -> float* { plan.add<float>(n); return nullptr; },
        [&](size_t n) -> int* { plan.add<int>(n); return nullptr; });
  arena_ = backend.make_arena("kv cache and decode activations", plan.bytes());
  carve([&](size_t n) { return arena_.take<float>(n); }, [&](size_t n) { return arena_.take<int>(n); });
  std::vector<float> inv_freq(s.HD / 2);
  cpu::rope_inv_freq(inv_freq.data(), s.HD, base.config().rope_theta, base.config().rope_scaling);
  backend.upload(inv_freq_, inv_freq.data(), sizeof(float) * inv_freq.size());
  key_begin_.resize(max_batch);
  key_end_.resize(max_batch);
  pos_.resize(rows);
  doc_.resize(rows);
}

void KvDecoder::copy_into_cache(int layer, const float* k, const float* v, int t0, int T) {
  const LlamaShape& s = base_.shape();
  const size_t layer_at = size_t(layer) * max_batch_ * max_len_ * s.KVD();  // (L, B, Tmax, KVD)
  backend_.kv_cache_append(k_cache_ + layer_at, v_cache_ + layer_at, k, v, B_, T, t0, max_len_, s.KVD());
}

RowLayout KvDecoder::upload_rows(const int* tokens, int B, int T, bool with_doc) {
  const size_t n = size_t(B) * T;
  backend_.upload(dev_tokens_, tokens, sizeof(int) * n);
  backend_.upload(dev_pos_, pos_.data(), sizeof(int) * n);
  if (with_doc) backend_.upload(dev_doc_, doc_.data(), sizeof(int) * n);
  backend_.upload(dev_key_begin_, key_begin_.data(), sizeof(int) * size_t(B));
  backend_.upload(dev_key_end_, key_end_.data(), sizeof(int) * size_t(B));
  RowLayout rows;
  rows.B = B;
  rows.T = T;
  rows.pos = dev_pos_;
  rows.doc = with_doc ? dev_doc_ : nullptr;
  rows.inv_freq = inv_freq_;
  return rows;
}

void KvDecoder::final_logits(float* logits, const float* x, int B, int T, const LoraContext& lora) {
  const LlamaShape& s = base_.shape();
  for (int b = 0; b < B; ++b) {  // the last position of each row
    const float* row = x + (size_t(b) * T + T - 1) * s.C;
    backend_.rmsnorm_forward(last_hidden_ + size_t(b) * s.C, last_rstd_ + b, row, base_.final_norm(), 1, s.C,
                             base_.config().rms_norm_eps);
  }
  head_.logits(logits_, last_hidden_, active_lm_head(base_, lora), B);
  backend_.download(logits, logits_, sizeof(float) * size_t(B) * s.V);
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
  const RowLayout rows = upload_rows(tokens, B, Tp, /*with_doc=*/true);
  backend_.embedding_forward(x_, dev_tokens_, base_.embed(), rows.N(), s.C, s.V);
  for (int l = 0; l < s.L; ++l) {
    const LayerContext ctx = layer_context(base_, l, lora, scratch_, backend_);
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
  const RowLayout rows = upload_rows(tokens, B_, 1, /*with_doc=*/false);
  backend_.embedding_forward(x_, dev_tokens_, base_.embed(), B_, s.C, s.V);
  for (int l = 0; l < s.L; ++l) {
    const LayerContext ctx = layer_context(base_, l, lora, scratch_, backend_);
    layer_qkv_forward(acts_, x_, ctx, rows);
    copy_into_cache(l, acts_.k, acts_.v, t, 1);
    const size_t layer_at = size_t(l) * max_batch_ * max_len_ * s.KVD();
    backend_.attention_decode(acts_.att, acts_.q, k_cache_ + layer_at, v_cache_ + layer_at, dev_key_begin_,
                              dev_key_end_, B_, max_len_, s.NH, s.NKV, s.HD);
    layer_output_forward(x_next_, acts_, x_, ctx, rows);
    std::swap(x_, x_next_);
  }
  length_ = t + 1;
  final_logits(logits, x_, B_, 1, lora);
}

}  // namespace loom
