#include "model/decoder_layer.h"

namespace loom {

static void linear_forward(float* y, LayerActivations& acts, LinearId id, const float* x,
                           const LayerContext& ctx, int N) {
  lora_linear_forward(y, acts.lora_u[id], x, ctx.weights->linear[id], ctx.lora->layout->slot(ctx.layer, id),
                      *ctx.lora, *ctx.scratch, N, *ctx.backend);
}

static void linear_backward(float* dx, const float* dy, const float* x, const LayerActivations& acts,
                            LinearId id, const LayerContext& ctx, int N, bool accumulate) {
  lora_linear_backward(dx, dy, x, acts.lora_u[id], ctx.weights->linear[id],
                       ctx.lora->layout->slot(ctx.layer, id), *ctx.lora, *ctx.scratch, N, accumulate,
                       *ctx.backend);
}

LayerContext layer_context(const FrozenWeights& base, int layer, const LoraContext& lora, LinearScratch& scratch,
                           const Backend& backend) {
  LayerContext ctx;
  ctx.weights = &base.layer(layer);
  ctx.layer = layer;
  ctx.shape = &base.shape();
  ctx.eps = base.config().rms_norm_eps;
  ctx.lora = &lora;
  ctx.scratch = &scratch;
  ctx.backend = &backend;
  return ctx;
}

void layer_qkv_forward(LayerActivations& acts, const float* x, const LayerContext& ctx, const RowLayout& rows) {
  const LlamaShape& s = *ctx.shape;
  const Backend& be = *ctx.backend;
  const int N = rows.N();
  be.rmsnorm_forward(acts.ln1, acts.rstd1, x, ctx.weights->input_norm, N, s.C, ctx.eps);
  linear_forward(acts.q, acts, kQ, acts.ln1, ctx, N);
  linear_forward(acts.k, acts, kK, acts.ln1, ctx, N);
  linear_forward(acts.v, acts, kV, acts.ln1, ctx, N);
  be.rope_forward(acts.q, rows.pos, rows.inv_freq, N, s.NH, s.HD);
  be.rope_forward(acts.k, rows.pos, rows.inv_freq, N, s.NKV, s.HD);
}

void layer_output_forward(float* x_out, LayerActivations& acts, const float* x, const LayerContext& ctx,
                          const RowLayout& rows) {
  const LlamaShape& s = *ctx.shape;
  const Backend& be = *ctx.backend;
  const int N = rows.N();
  linear_forward(acts.mid, acts, kO, acts.att, ctx, N);
  be.add_inplace(acts.mid, x, size_t(N) * s.C);
  be.rmsnorm_forward(acts.ln2, acts.rstd2, acts.mid, ctx.weights->post_norm, N, s.C, ctx.eps);
  linear_forward(acts.gate, acts, kGate, acts.ln2, ctx, N);
  linear_forward(acts.up, acts, kUp, acts.ln2, ctx, N);
  be.swiglu_forward(acts.act, acts.gate, acts.up, N, s.F);
  linear_forward(x_out, acts, kDown, acts.act, ctx, N);
  be.add_inplace(x_out, acts.mid, size_t(N) * s.C);
}

void decoder_layer_forward(float* x_out, LayerActivations& acts, const float* x, const LayerContext& ctx,
                           const RowLayout& rows) {
  const LlamaShape& s = *ctx.shape;
  const Backend& be = *ctx.backend;
  layer_qkv_forward(acts, x, ctx, rows);
  be.attention_forward(acts.att, acts.lse, acts.q, acts.k, acts.v, rows.doc, rows.B, rows.T, s.NH, s.NKV, s.HD);
  layer_output_forward(x_out, acts, x, ctx, rows);
}

void decoder_layer_backward(float* dres, LayerGradients& g, const LayerActivations& acts, const float* x,
                            const LayerContext& ctx, const RowLayout& rows) {
  const LlamaShape& s = *ctx.shape;
  const Backend& be = *ctx.backend;
  const int N = rows.N();
  // MLP: x_out = mid + down(silu(gate(ln2)) * up(ln2)); dres is d(x_out) and, through the residual, d(mid).
  // Each gradient buffer's first writer overwrites it (accumulate false), later ones add.
  linear_backward(g.d_act, dres, acts.act, acts, kDown, ctx, N, /*accumulate=*/false);
  be.swiglu_backward(g.d_gate, g.d_up, g.d_act, acts.gate, acts.up, N, s.F, /*accumulate=*/false);
  linear_backward(g.d_norm, g.d_gate, acts.ln2, acts, kGate, ctx, N, /*accumulate=*/false);
  linear_backward(g.d_norm, g.d_up, acts.ln2, acts, kUp, ctx, N, /*accumulate=*/true);
  be.rmsnorm_backward(dres, g.d_norm, acts.mid, ctx.weights->post_norm, acts.rstd2, N, s.C);
  // Attention: mid = x + o(att); dres is now d(mid) and, through the residual, d(x).
  linear_backward(g.d_att, dres, acts.att, acts, kO, ctx, N, /*accumulate=*/false);
  be.attention_backward(g.dq, g.dk, g.dv, g.d_att, acts.q, acts.k, acts.v, acts.att, acts.lse, rows.doc,
                        rows.B, rows.T, s.NH, s.NKV, s.HD, /*accumulate=*/false);
  be.rope_backward(g.dq, rows.pos, rows.inv_freq, N, s.NH, s.HD);
  be.rope_backward(g.dk, rows.pos, rows.inv_freq, N, s.NKV, s.HD);
  linear_backward(g.d_norm, g.dq, acts.ln1, acts, kQ, ctx, N, /*accumulate=*/false);
  linear_backward(g.d_norm, g.dk, acts.ln1, acts, kK, ctx, N, /*accumulate=*/true);
  linear_backward(g.d_norm, g.dv, acts.ln1, acts, kV, ctx, N, /*accumulate=*/true);
  be.rmsnorm_backward(dres, g.d_norm, x, ctx.weights->input_norm, acts.rstd1, N, s.C);
}

}  // namespace loom
