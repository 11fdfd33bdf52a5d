#include "model/llama_body.h"

#include <algorithm>
#include <vector>

#include "core/check.h"
#include "ops/rope.h"

namespace loom {

LlamaBody::LlamaBody(const FrozenWeights& base, const TrainableLayout& layout, int max_batch, int max_seq,
                     bool gradient_checkpointing, const Backend& backend)
    : base_(base), backend_(backend), max_batch_(max_batch), max_seq_(max_seq),
      checkpointing_(gradient_checkpointing) {
  const LlamaShape& s = base.shape();
  const size_t N = size_t(max_batch) * max_seq;
  const int R = layout.rank();
  acts_.resize(checkpointing_ ? 1 : s.L);
  residual_.resize(s.L + 1);

  // Carves every activation buffer out of `take`: run once to size the arena, once to fill it.
  auto carve = [&](auto&& take, auto&& take_ints) {
    inv_freq_ = take(s.HD / 2);
    tokens_ = take_ints(N);
    pos_ = take_ints(N);
    doc_ = take_ints(N);
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
  carve([&](size_t n) -> float* { plan.add<float>(n); return nullptr; },
        [&](size_t n) -> int* { plan.add<int>(n); return nullptr; });
  arena_ = backend.make_arena("activations", plan.bytes());
  carve([&](size_t n) { return arena_.take<float>(n); }, [&](size_t n) { return arena_.take<int>(n); });

  const LlamaConfig& c = base.config();
  std::vector<float> inv_freq(s.HD / 2);
  cpu::rope_inv_freq(inv_freq.data(), s.HD, c.rope_theta, c.rope_scaling);
  backend.upload(inv_freq_, inv_freq.data(), sizeof(float) * inv_freq.size());
}

RowLayout LlamaBody::upload_rows(const TokenBatch& batch) {
  const size_t bytes = sizeof(int) * size_t(batch.N());
  backend_.upload(tokens_, batch.tokens, bytes);
  backend_.upload(pos_, batch.pos, bytes);
  if (batch.doc) backend_.upload(doc_, batch.doc, bytes);
  RowLayout rows;
  rows.B = batch.B;
  rows.T = batch.T;
  rows.pos = pos_;
  rows.doc = batch.doc ? doc_ : nullptr;
  rows.inv_freq = inv_freq_;
  return rows;
}

const float* LlamaBody::forward(const TokenBatch& batch, const LoraContext& lora) {
  const LlamaShape& s = base_.shape();
  LOOM_REQUIRE(batch.B <= max_batch_ && batch.T <= max_seq_, "micro-batch (", batch.B, ", ", batch.T,
               ") exceeds the model's buffers (", max_batch_, ", ", max_seq_, ")");
  const int N = batch.N();
  const RowLayout rows = upload_rows(batch);
  backend_.embedding_forward(residual_[0], tokens_, base_.embed(), N, s.C, s.V);
  for (int l = 0; l < s.L; ++l)
    decoder_layer_forward(residual_[l + 1], layer_acts(l), residual_[l],
                          layer_context(base_, l, lora, scratch_, backend_), rows);
  backend_.rmsnorm_forward(hidden_, final_rstd_, residual_[s.L], base_.final_norm(), N, s.C,
                       base_.config().rms_norm_eps);
  return hidden_;
}

float* LlamaBody::hidden_grad(int N) {
  backend_.fill(d_hidden_, 0.0f, size_t(N) * base_.shape().C);
  return d_hidden_;
}

void LlamaBody::backward(const TokenBatch& batch, const LoraContext& lora) {
  const LlamaShape& s = base_.shape();
  const int N = batch.N();
  RowLayout rows;  // the forward's uploads of the same batch
  rows.B = batch.B;
  rows.T = batch.T;
  rows.pos = pos_;
  rows.doc = batch.doc ? doc_ : nullptr;
  rows.inv_freq = inv_freq_;
  backend_.fill(d_res_, 0.0f, size_t(N) * s.C);
  backend_.rmsnorm_backward(d_res_, d_hidden_, residual_[s.L], base_.final_norm(), final_rstd_, N, s.C);
  for (int l = s.L - 1; l >= 0; --l) {
    const LayerContext ctx = layer_context(base_, l, lora, scratch_, backend_);
    if (checkpointing_) decoder_layer_forward(recompute_out_, layer_acts(l), residual_[l], ctx, rows);
    decoder_layer_backward(d_res_, grads_, layer_acts(l), residual_[l], ctx, rows);
  }
}

}  // namespace loom
