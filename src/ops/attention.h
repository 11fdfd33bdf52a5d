// Causal grouped-query attention, softmax scale 1/sqrt(HD). Query head h reads key/value
// head h / (NH / NKV). `doc` (B, T), when not null, gives each position a document index:
// a query attends only to keys at or before it with the same doc value (packed sequences,
// and padding: give pad positions a doc value of their own, e.g. -1).
#pragma once

namespace loom::cpu {

// out (B, T, NH, HD), lse (B, NH, T) = logsumexp of each softmax row (scaled scores), kept for
// backward; q (B, T, NH, HD), k, v (B, T, NKV, HD), doc (B, T) or nullptr.
void attention_forward(float* out, float* lse, const float* q, const float* k, const float* v,
                       const int* doc, int B, int T, int NH, int NKV, int HD);

// dq (B, T, NH, HD), dk, dv (B, T, NKV, HD) += gradients (without accumulate, = instead); out
// and lse from the forward.
void attention_backward(float* dq, float* dk, float* dv, const float* dout, const float* q,
                        const float* k, const float* v, const float* out, const float* lse,
                        const int* doc, int B, int T, int NH, int NKV, int HD, bool accumulate);

// One new query per sequence against a KV cache (generation).
// out (B, NH, HD); q (B, NH, HD); k_cache, v_cache (B, Tmax, NKV, HD); the valid keys of
// sequence b are positions [key_begin[b], key_end[b]) (left padding sits before key_begin);
// an empty range gives a zero output row.
void attention_decode(float* out, const float* q, const float* k_cache, const float* v_cache,
                      const int* key_begin, const int* key_end, int B, int Tmax, int NH, int NKV,
                      int HD);

}  // namespace loom::cpu
