// One Llama decoder layer, explicit forward and backward:
//   ln1 = rmsnorm(x); q,k,v = linears(ln1); rope(q,k); att = attention(q,k,v)
//   mid = x + o_proj(att); ln2 = rmsnorm(mid); act = silu(gate(ln2)) * up(ln2)
//   x_out = mid + down_proj(act)
// The forward is split in its three parts so the KV-cache decoder (model/kv_decoder.h) can put
// its own attention between the first and the last.
#pragma once

#include <array>

#include "model/frozen_weights.h"
#include "model/lora_linear.h"

namespace loom {

// What a layer's forward keeps for its backward. N = B * T rows.
struct LayerActivations {
  float* ln1 = nullptr;    // (N, C)
  float* rstd1 = nullptr;  // (N)
  float* q = nullptr;      // (N, NH, HD) after RoPE
  float* k = nullptr;      // (N, NKV, HD) after RoPE
  float* v = nullptr;      // (N, NKV, HD)
  float* att = nullptr;    // (N, NH, HD)
  float* lse = nullptr;    // (B, NH, T)
  float* mid = nullptr;    // (N, C) residual stream after attention
  float* ln2 = nullptr;    // (N, C)
  float* rstd2 = nullptr;  // (N)
  float* gate = nullptr;   // (N, F)
  float* up = nullptr;     // (N, F)
  float* act = nullptr;    // (N, F)
  std::array<float*, kNumLinears> lora_u{};  // (N, R) per adapted linear
};

// Points a LayerActivations into buffers from `take(count) -> float*` for B x T rows; run
// with a counting `take` to size an arena, then with the arena's.
template <typename Take>
void carve_layer_activations(LayerActivations& a, const LlamaShape& s, const TrainableLayout& layout,
                             size_t B, size_t T, Take&& take) {
  const size_t N = B * T;
  a.ln1 = take(N * s.C);
  a.rstd1 = take(N);
  a.q = take(N * s.QD());
  a.k = take(N * s.KVD());
  a.v = take(N * s.KVD());
  a.att = take(N * s.QD());
  a.lse = take(B * s.NH * T);
  a.mid = take(N * s.C);
  a.ln2 = take(N * s.C);
  a.rstd2 = take(N);
  a.gate = take(N * s.F);
  a.up = take(N * s.F);
  a.act = take(N * s.F);
  // Modules are adapted in every layer alike, so layer 0 tells which need a bottleneck buffer.
  for (int id = 0; id < kNumLinears; ++id)
    a.lora_u[id] = (s.L > 0 && layout.slot(0, LinearId(id))) ? take(N * size_t(layout.rank())) : nullptr;
}

// Gradient buffers of one layer's backward, reused layer after layer.
struct LayerGradients {
  float* d_norm = nullptr;  // (N, C) gradient at ln1 / ln2
  float* d_att = nullptr;   // (N, NH, HD)
  float* dq = nullptr;      // (N, NH, HD)
  float* dk = nullptr;      // (N, NKV, HD)
  float* dv = nullptr;      // (N, NKV, HD)
  float* d_act = nullptr;   // (N, F)
  float* d_gate = nullptr;  // (N, F)
  float* d_up = nullptr;    // (N, F)
};

// Positions and masks of the rows being processed.
struct RowLayout {
  int B = 0, T = 0;                  // N = B * T rows, sequence-major
  const int* pos = nullptr;          // (B, T) RoPE positions (backend memory)
  const int* doc = nullptr;          // (B, T) document ids for the attention mask, or null (backend memory)
  const float* inv_freq = nullptr;   // (HD/2) (backend memory)
  int N() const { return B * T; }
};

// Everything a layer reads that is not an activation.
struct LayerContext {
  const FrozenLayer* weights = nullptr;
  int layer = 0;
  const LlamaShape* shape = nullptr;
  float eps = 1e-5f;
  const LoraContext* lora = nullptr;
  LinearScratch* scratch = nullptr;
  const Backend* backend = nullptr;  // runs every op; all buffers are its memory
};

LayerContext layer_context(const FrozenWeights& base, int layer, const LoraContext& lora, LinearScratch& scratch,
                           const Backend& backend);

// ln1, q, k, v (RoPE applied) from x (N, C).
void layer_qkv_forward(LayerActivations& acts, const float* x, const LayerContext& ctx, const RowLayout& rows);

// mid, ln2, gate, up, act and x_out (N, C) from acts.att and x (N, C).
void layer_output_forward(float* x_out, LayerActivations& acts, const float* x, const LayerContext& ctx,
                          const RowLayout& rows);

// The whole layer with causal (document-masked) attention over the rows themselves.
void decoder_layer_forward(float* x_out, LayerActivations& acts, const float* x, const LayerContext& ctx,
                           const RowLayout& rows);

// dres (N, C): on entry the gradient of x_out, on return the gradient of x (the layer input).
// LoRA gradients are added into ctx.lora->grads.
void decoder_layer_backward(float* dres, LayerGradients& g, const LayerActivations& acts, const float* x,
                            const LayerContext& ctx, const RowLayout& rows);

}  // namespace loom
