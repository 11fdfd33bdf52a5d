#include "model/llama_body.h"

#include <algorithm>
#include <cstring>

#include "core/check.h"
#include "ops/embedding.h"
#include "ops/rmsnorm.h"
#include "ops/rope.h"

namespace loom {

LlamaBody::LlamaBody(const FrozenWeights& base, const TrainableLayout& layout, int max_batch, int max_seq,
                     bool gradient_checkpointing)
    : base_(base), max_batch_(max_batch), max_seq_(max_seq),
      checkpointing_(gradient_checkpointing) {
  const LlamaShape& s = base.shape();
  const size_t N = size_t(max_batch) * max_seq;
  const int R = layout.rank();
  acts_.resize(checkpointing_ ? 1 : s.L);
  residual_.resize(s.L + 1);

  // Carves every activation buffer out of `take`: run once to size the arena, once to fill it.
  auto carve = [&](auto&& take) {
    for (float*& r : residual_) r = take(N * s.C);
    for (LayerActivations& a : acts_) carve_layer_activations(a, s, layout, max_batch, max_seq, take);
    recompute_out_ = take(N * s.C);
    grads_.d_norm = take(N * s.C);
    grads_.d_att = take(N * s.QD());
    grads_.dq = take(N * s.QD());
    grads_.dk = take(N * s.KVD());
    grads_.dv = take(N * s.KVD());
    grads_.d_act = take(N * s.F);
    grads_.d_gate = take(N * s.F);
    grads_.d_up = take(N * s.F);
    scratch_.weight = take(size_t(s.max_linear_elements()));
    scratch_.dropped = take(N * std::max({s.C, s.F, s.QD()}));
    scratch_.mid = take(N * R);
    hidden_ = take(N * s.C);
    final_rstd_ = take(N);
    d_hidden_ = take(N * s.C);
    d_res_ = take(N * s.C);
  };
  ArenaPlan plan;
  carve([&](size_t n) -> float* { plan.add<float>(n); return nullptr; });
  arena_ = Arena("activations", plan.bytes());
  carve([&](size_t n) { return arena_.take<float>(n); });

  const LlamaConfig& c = base.config();
  inv_freq_.resize(s.HD / 2);
  cpu::rope_inv_freq(inv_freq_.data(), s.HD, c.rope_theta, c.rope_scaling);
}

RowLayout LlamaBody::row_layout(const TokenBatch& batch) const {
  RowLayout rows;
  rows.B = batch.B;
  rows.T = batch.T;
  rows.pos = batch.pos;
  rows.doc = batch.doc;
  rows.inv_freq = inv_freq_.data();
  return rows;
}

const float* LlamaBody::forward(const TokenBatch& batch, const LoraContext& lora) {
  const LlamaShape& s = base_.shape();
  LOOM_REQUIRE(batch.B <= max_batch_ && batch.T <= max_seq_, "micro-batch (", batch.B, ", ", batch.T,
               ") exceeds the model's buffers (", max_batch_, ", ", max_seq_, ")");
  const int N = batch.N();
  const RowLayout rows = row_layout(batch);
  cpu::embedding_forward(residual_[0], batch.tokens, base_.embed(), N, s.C, s.V);
  for (int l = 0; l < s.L; ++l)
    decoder_layer_forward(residual_[l + 1], layer_acts(l), residual_[l], layer_context(base_, l, lora, scratch_), rows);
  cpu::rmsnorm_forward(hidden_, final_rstd_, residual_[s.L], base_.final_norm(), N, s.C,
                       base_.config().rms_norm_eps);
  return hidden_;
}

float* LlamaBody::hidden_grad(int N) {
  std::memset(d_hidden_, 0, sizeof(float) * size_t(N) * base_.shape().C);
  return d_hidden_;
}

void LlamaBody::backward(const TokenBatch& batch, const LoraContext& lora) {
  const LlamaShape& s = base_.shape();
  const int N = batch.N();
  const RowLayout rows = row_layout(batch);
  std::memset(d_res_, 0, sizeof(float) * size_t(N) * s.C);
  cpu::rmsnorm_backward(d_res_, d_hidden_, residual_[s.L], base_.final_norm(), final_rstd_, N, s.C);
  for (int l = s.L - 1; l >= 0; --l) {
    const LayerContext ctx = layer_context(base_, l, lora, scratch_);
    if (checkpointing_) decoder_layer_forward(recompute_out_, layer_acts(l), residual_[l], ctx, rows);
    decoder_layer_backward(d_res_, grads_, layer_acts(l), residual_[l], ctx, rows);
  }
}

}  // namespace loom
