#include "model/decoder_layer.h"

#include <cstring>

#include "ops/bf16/compute_dispatch.h"
#include "ops/elementwise.h"
#include "ops/rmsnorm.h"
#include "ops/rope.h"
#include "ops/swiglu.h"

namespace loom {

static void zero(float* p, size_t n) { std::memset(p, 0, sizeof(float) * n); }

static void linear_forward(float* y, LayerActivations& acts, LinearId id, const float* x,
                           const LayerContext& ctx, int N) {
  lora_linear_forward(y, acts.lora_u[id], x, ctx.weights->linear[id], ctx.lora->layout->slot(ctx.layer, id),
                      *ctx.lora, *ctx.scratch, N);
}

static void linear_backward(float* dx, const float* dy, const float* x, const LayerActivations& acts,
                            LinearId id, const LayerContext& ctx, int N) {
  lora_linear_backward(dx, dy, x, acts.lora_u[id], ctx.weights->linear[id],
                       ctx.lora->layout->slot(ctx.layer, id), *ctx.lora, *ctx.scratch, N);
}

LayerContext layer_context(const FrozenWeights& base, int layer, const LoraContext& lora, LinearScratch& scratch) {
  LayerContext ctx;
  ctx.weights = &base.layer(layer);
  ctx.layer = layer;
  ctx.shape = &base.shape();
  ctx.eps = base.config().rms_norm_eps;
  ctx.lora = &lora;
  ctx.scratch = &scratch;
  return ctx;
}

void layer_qkv_forward(LayerActivations& acts, const float* x, const LayerContext& ctx, const RowLayout& rows) {
  const LlamaShape& s = *ctx.shape;
  const int N = rows.N();
  cpu::rmsnorm_forward(acts.ln1, acts.rstd1, x, ctx.weights->input_norm, N, s.C, ctx.eps);
  linear_forward(acts.q, acts, kQ, acts.ln1, ctx, N);
  linear_forward(acts.k, acts, kK, acts.ln1, ctx, N);
  linear_forward(acts.v, acts, kV, acts.ln1, ctx, N);
  cpu::rope_forward(acts.q, rows.pos, rows.inv_freq, N, s.NH, s.HD);
  cpu::rope_forward(acts.k, rows.pos, rows.inv_freq, N, s.NKV, s.HD);
}

void layer_output_forward(float* x_out, LayerActivations& acts, const float* x, const LayerContext& ctx,
                          const RowLayout& rows) {
  const LlamaShape& s = *ctx.shape;
  const int N = rows.N();
  linear_forward(acts.mid, acts, kO, acts.att, ctx, N);
  cpu::add_inplace(acts.mid, x, size_t(N) * s.C);
  cpu::rmsnorm_forward(acts.ln2, acts.rstd2, acts.mid, ctx.weights->post_norm, N, s.C, ctx.eps);
  linear_forward(acts.gate, acts, kGate, acts.ln2, ctx, N);
  linear_forward(acts.up, acts, kUp, acts.ln2, ctx, N);
  cpu::swiglu_forward(acts.act, acts.gate, acts.up, N, s.F);
  linear_forward(x_out, acts, kDown, acts.act, ctx, N);
  cpu::add_inplace(x_out, acts.mid, size_t(N) * s.C);
}

void decoder_layer_forward(float* x_out, LayerActivations& acts, const float* x, const LayerContext& ctx,
                           const RowLayout& rows) {
  const LlamaShape& s = *ctx.shape;
  layer_qkv_forward(acts, x, ctx, rows);
  compute::attention_forward(acts.att, acts.lse, acts.q, acts.k, acts.v, rows.doc, rows.B, rows.T, s.NH, s.NKV, s.HD);
  layer_output_forward(x_out, acts, x, ctx, rows);
}

void decoder_layer_backward(float* dres, LayerGradients& g, const LayerActivations& acts, const float* x,
                            const LayerContext& ctx, const RowLayout& rows) {
  const LlamaShape& s = *ctx.shape;
  const int N = rows.N();
  // MLP: x_out = mid + down(silu(gate(ln2)) * up(ln2)); dres is d(x_out) and, through the residual, d(mid).
  zero(g.d_act, size_t(N) * s.F);
  linear_backward(g.d_act, dres, acts.act, acts, kDown, ctx, N);
  zero(g.d_gate, size_t(N) * s.F);
  zero(g.d_up, size_t(N) * s.F);
  cpu::swiglu_backward(g.d_gate, g.d_up, g.d_act, acts.gate, acts.up, N, s.F);
  zero(g.d_norm, size_t(N) * s.C);
  linear_backward(g.d_norm, g.d_gate, acts.ln2, acts, kGate, ctx, N);
  linear_backward(g.d_norm, g.d_up, acts.ln2, acts, kUp, ctx, N);
  cpu::rmsnorm_backward(dres, g.d_norm, acts.mid, ctx.weights->post_norm, acts.rstd2, N, s.C);
  // Attention: mid = x + o(att); dres is now d(mid) and, through the residual, d(x).
  zero(g.d_att, size_t(N) * s.QD());
  linear_backward(g.d_att, dres, acts.att, acts, kO, ctx, N);
  zero(g.dq, size_t(N) * s.QD());
  zero(g.dk, size_t(N) * s.KVD());
  zero(g.dv, size_t(N) * s.KVD());
  compute::attention_backward(g.dq, g.dk, g.dv, g.d_att, acts.q, acts.k, acts.v, acts.att, acts.lse, rows.doc,
                          rows.B, rows.T, s.NH, s.NKV, s.HD);
  cpu::rope_backward(g.dq, rows.pos, rows.inv_freq, N, s.NH, s.HD);
  cpu::rope_backward(g.dk, rows.pos, rows.inv_freq, N, s.NKV, s.HD);
  zero(g.d_norm, size_t(N) * s.C);
  linear_backward(g.d_norm, g.dq, acts.ln1, acts, kQ, ctx, N);
  linear_backward(g.d_norm, g.dk, acts.ln1, acts, kK, ctx, N);
  linear_backward(g.d_norm, g.dv, acts.ln1, acts, kV, ctx, N);
  cpu::rmsnorm_backward(dres, g.d_norm, x, ctx.weights->input_norm, acts.rstd1, N, s.C);
}

}  // namespace loom
