#include "ops/bf16/attention_bf16.h"

#include <immintrin.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

#include "core/check.h"
#include "core/dtype.h"
#include "ops/bf16/bf16_convert.h"
#include "ops/bf16/bf16_scratch.h"
#include "core/fast_exp.h"
#include "ops/bf16/onednn_gemm.h"

namespace loom::bf16 {

namespace {

// One head of one sequence: rows of (T, heads, HD) viewed with row stride heads * HD.
struct HeadView {
  size_t offset;  // element offset of (b, t = 0, head)
  int ld;         // heads * HD
};

HeadView head_view(int b, int head, int T, int heads, int HD) {
  return HeadView{(size_t(b) * T * heads + head) * HD, heads * HD};
}

// Keys a query may see: at or before it, in the same document (kDoc: doc_row holds the
// documents; else it is unused). Two instances, so that the loops over keys vectorize.
template <bool kDoc>
inline bool key_allowed(const int* doc_row, int query, int key) {
  return key <= query && (!kDoc || doc_row[key] == doc_row[query]);
}

// s (keys) = softmax over the allowed keys of query i of s * scale, 0 elsewhere; returns the
// log-sum-exp of the allowed scaled scores (keys > i: the query sees itself).
template <bool kDoc>
float softmax_row(float* s, int keys, int i, const int* doc_row, float scale) {
  // The max of the allowed s, then scaled (scale > 0). GCC leaves a max reduction scalar.
  float max_score = -std::numeric_limits<float>::infinity();
  int j = 0;
#if defined(__AVX512F__)
  __m512 max16 = _mm512_set1_ps(max_score);
  for (; j + 16 <= i + 1; j += 16) {
    const __mmask16 allowed =
        kDoc ? _mm512_cmpeq_epi32_mask(_mm512_loadu_si512(doc_row + j), _mm512_set1_epi32(doc_row[i])) : 0xffff;
    max16 = _mm512_mask_max_ps(max16, allowed, max16, _mm512_loadu_ps(s + j));
  }
  max_score = _mm512_reduce_max_ps(max16);
#endif
  for (; j <= i; ++j)
    if (key_allowed<kDoc>(doc_row, i, j)) max_score = std::max(max_score, s[j]);
  max_score *= scale;
  float sum = 0.0f;
#pragma omp simd reduction(+ : sum)
  for (int j = 0; j < keys; ++j) {
    const float p = key_allowed<kDoc>(doc_row, i, j) ? exp_nonpositive(s[j] * scale - max_score) : 0.0f;
    s[j] = p;
    sum += p;
  }
  const float inv = 1.0f / sum;
#pragma omp simd
  for (int j = 0; j < keys; ++j) s[j] *= inv;
  return max_score + std::log(sum);
}

// With P (keys) the row's scores and dP its score gradients: p = P = exp(s * scale - lse) over
// the allowed keys (0 elsewhere), g = dS * scale = P (dP - D) * scale.
template <bool kDoc>
void softmax_grad_row(float* p, float* g, int keys, int i, const int* doc_row, float scale, float lse, float D) {
#pragma omp simd
  for (int j = 0; j < keys; ++j) {
    const float pj = key_allowed<kDoc>(doc_row, i, j) ? exp_nonpositive(p[j] * scale - lse) : 0.0f;
    p[j] = pj;
    g[j] = pj * (g[j] - D) * scale;  // dS * scale: the score's gradient folded with 1/sqrt(HD)
  }
}

const uint16_t* rounded(ScratchSlot slot, const float* x, size_t n) {
  uint16_t* out = scratch(slot, n);
  round_to_bf16(out, x, n);
  return out;
}

// A thread's working block: scores and probabilities (and their gradients) of kAttnBlockRows
// queries against up to T keys. Each thread keeps its own and grows it to the largest T seen, so
// after the first step nothing is allocated.
struct BlockScratch {
  std::vector<float> scores, score_grads;  // S or P, dP (rows, keys) f32
  std::vector<uint16_t> probs, ds;         // P, dS (rows, keys) bf16
};

BlockScratch& thread_block(int T) {
  thread_local BlockScratch block;
  const size_t n = size_t(kAttnBlockRows) * T;
  if (block.scores.size() < n) {
    block.scores.resize(n), block.score_grads.resize(n);
    block.probs.resize(n), block.ds.resize(n);
  }
  return block;
}

}  // namespace

// Heads run in parallel, one (sequence, head) per task, each on its thread's GEMMs.
void attention_forward(float* out, float* lse, const float* q, const float* k, const float* v, const int* doc,
                       int B, int T, int NH, int NKV, int HD) {
  LOOM_ASSERT(NKV > 0 && NH % NKV == 0);
  const int group = NH / NKV;
  const float scale = 1.0f / std::sqrt(static_cast<float>(HD));
  const uint16_t* qb = rounded(ScratchSlot::AttnQ, q, size_t(B) * T * NH * HD);   // (B, T, NH, HD)
  const uint16_t* kb = rounded(ScratchSlot::AttnK, k, size_t(B) * T * NKV * HD);  // (B, T, NKV, HD)
  const uint16_t* vb = rounded(ScratchSlot::AttnV, v, size_t(B) * T * NKV * HD);  // (B, T, NKV, HD)
#pragma omp parallel
  {
    BlockScratch& block = thread_block(T);
#pragma omp for schedule(dynamic)
    for (int task = 0; task < B * NH; ++task) {
      const int b = task / NH, h = task % NH;
      const int* doc_row = doc ? doc + size_t(b) * T : nullptr;
      const HeadView qh = head_view(b, h, T, NH, HD), kvh = head_view(b, h / group, T, NKV, HD);
      for (int q0 = 0; q0 < T; q0 += kAttnBlockRows) {
        const int rows = std::min(kAttnBlockRows, T - q0), keys = q0 + rows;
        float* scores = block.scores.data();    // (rows, keys)
        uint16_t* probs = block.probs.data();  // (rows, keys)
        // S (rows, keys) = Q[q0:q0+rows] @ K[0:keys]^T
        gemm_strided(scores, keys, qb + qh.offset + size_t(q0) * qh.ld, qh.ld, false, kb + kvh.offset, kvh.ld, true,
                     rows, keys, HD, false);
        for (int r = 0; r < rows; ++r) {
          const int i = q0 + r;
          float* s = scores + size_t(r) * keys;  // (keys)
          lse[(size_t(b) * NH + h) * T + i] = doc_row ? softmax_row<true>(s, keys, i, doc_row, scale)
                                                      : softmax_row<false>(s, keys, i, doc_row, scale);
          round_span_to_bf16(probs + size_t(r) * keys, s, keys);
        }
        // O[q0:q0+rows] (rows, HD) = P (rows, keys) @ V[0:keys] (keys, HD)
        gemm_strided(out + qh.offset + size_t(q0) * qh.ld, qh.ld, probs, keys, false, vb + kvh.offset, kvh.ld, false,
                     rows, HD, keys, false);
      }
    }
  }
}

// One task per (sequence, KV head): the group's query heads accumulate into the same dK, dV
// rows, so they stay on one thread, in a fixed order (the result does not depend on threads).
void attention_backward(float* dq, float* dk, float* dv, const float* dout, const float* q, const float* k,
                        const float* v, const float* out, const float* lse, const int* doc, int B, int T, int NH,
                        int NKV, int HD) {
  LOOM_ASSERT(NKV > 0 && NH % NKV == 0);
  const int group = NH / NKV;
  const float scale = 1.0f / std::sqrt(static_cast<float>(HD));
  const uint16_t* qb = rounded(ScratchSlot::AttnQ, q, size_t(B) * T * NH * HD);
  const uint16_t* kb = rounded(ScratchSlot::AttnK, k, size_t(B) * T * NKV * HD);
  const uint16_t* vb = rounded(ScratchSlot::AttnV, v, size_t(B) * T * NKV * HD);
  const uint16_t* dob = rounded(ScratchSlot::AttnDout, dout, size_t(B) * T * NH * HD);
#pragma omp parallel
  {
    BlockScratch& block = thread_block(T);
#pragma omp for schedule(dynamic)
    for (int task = 0; task < B * NKV; ++task) {
      const int b = task / NKV, kv_head = task % NKV;
      const int* doc_row = doc ? doc + size_t(b) * T : nullptr;
      const HeadView kvh = head_view(b, kv_head, T, NKV, HD);
      for (int h = kv_head * group; h < (kv_head + 1) * group; ++h) {
        const HeadView qh = head_view(b, h, T, NH, HD);
        for (int q0 = 0; q0 < T; q0 += kAttnBlockRows) {
          const int rows = std::min(kAttnBlockRows, T - q0), keys = q0 + rows;
          const size_t q_block = qh.offset + size_t(q0) * qh.ld;
          float* scores = block.scores.data();            // P (rows, keys)
          float* score_grads = block.score_grads.data();  // dP (rows, keys)
          uint16_t* probs = block.probs.data();
          uint16_t* ds = block.ds.data();
          gemm_strided(scores, keys, qb + q_block, qh.ld, false, kb + kvh.offset, kvh.ld, true, rows, keys, HD, false);
          // dP (rows, keys) = dO[q0:q0+rows] @ V[0:keys]^T
          gemm_strided(score_grads, keys, dob + q_block, qh.ld, false, vb + kvh.offset, kvh.ld, true, rows, keys, HD,
                       false);
          for (int r = 0; r < rows; ++r) {
            const int i = q0 + r;
            const float row_lse = lse[(size_t(b) * NH + h) * T + i];
            // D = dO . O with dO as the dP GEMM read it (bf16), so that sum_j P_ij dP_ij - D cancels
            // as it does in exact arithmetic (a single visible key gives dS = 0, not rounding noise).
            const uint16_t* doi = dob + q_block + size_t(r) * qh.ld;  // (HD)
            const float* oi = out + q_block + size_t(r) * qh.ld;      // (HD)
            float D = 0.0f;
#pragma omp simd reduction(+ : D)
            for (int d = 0; d < HD; ++d) D += bf16_to_f32(doi[d]) * oi[d];
            float* p = scores + size_t(r) * keys;
            float* g = score_grads + size_t(r) * keys;
            if (doc_row)
              softmax_grad_row<true>(p, g, keys, i, doc_row, scale, row_lse, D);
            else
              softmax_grad_row<false>(p, g, keys, i, doc_row, scale, row_lse, D);
            round_span_to_bf16(probs + size_t(r) * keys, p, keys);
            round_span_to_bf16(ds + size_t(r) * keys, g, keys);
          }
          // dV[0:keys] += P^T @ dO_block; dK[0:keys] += dS^T @ Q_block; dQ_block += dS @ K[0:keys]
          gemm_strided(dv + kvh.offset, kvh.ld, probs, keys, true, dob + q_block, qh.ld, false, keys, HD, rows, true);
          gemm_strided(dk + kvh.offset, kvh.ld, ds, keys, true, qb + q_block, qh.ld, false, keys, HD, rows, true);
          gemm_strided(dq + q_block, qh.ld, ds, keys, false, kb + kvh.offset, kvh.ld, false, rows, HD, keys, true);
        }
      }
    }
  }
}

}  // namespace loom::bf16
