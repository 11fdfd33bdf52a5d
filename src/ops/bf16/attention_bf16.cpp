#include "ops/bf16/attention_bf16.h"

#include <immintrin.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

#include "core/aligned_buffer.h"
#include "core/check.h"
#include "core/dtype.h"
#include "core/parallel.h"
#include "ops/bf16/bf16_convert.h"
#include "ops/bf16/bf16_scratch.h"
#include "core/fast_exp.h"
#include "ops/bf16/onednn_gemm.h"

namespace loom::bf16 {

namespace {

// The GEMMs read heads as dense matrices: oneDNN runs its AMX (brgemm) kernels only on dense
// operands and outputs, and its generic AVX-512 kernel at half their speed on strided views of
// (B, T, heads, HD). So q, k, v and dout are rounded to bf16 head-major, (B, heads, T, HD), and
// each block's outputs go to a dense thread block that is then added to its rows.

// x (B, T, heads, HD) f32 -> bf16 (B, heads, T, HD), one (sequence, head) per task.
const uint16_t* rounded_head_major(ScratchSlot slot, const float* x, int B, int T, int heads, int HD) {
  uint16_t* out = scratch(slot, size_t(B) * T * heads * HD);
#pragma omp parallel for schedule(static) if (size_t(B) * T * heads * HD >= kMinParallelElements)
  for (int task = 0; task < B * heads; ++task) {
    const int b = task / heads, h = task % heads;
    for (int t = 0; t < T; ++t)
      round_span_to_bf16(out + (size_t(task) * T + t) * HD, x + ((size_t(b) * T + t) * heads + h) * HD, HD);
  }
  return out;
}

// rows (rows, HD) of a head in (B, T, heads, HD), row stride ld, (+)= block (rows, HD) dense.
void store_rows(float* rows_start, int ld, const float* block, int rows, int HD, bool accumulate) {
  for (int r = 0; r < rows; ++r) {
    float* dst = rows_start + size_t(r) * ld;
    const float* src = block + size_t(r) * HD;
    if (accumulate) {
#pragma omp simd
      for (int d = 0; d < HD; ++d) dst[d] += src[d];
    } else {
      std::copy_n(src, HD, dst);
    }
  }
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
  // keys [0, i] in vectors; the keys after the query are 0 (a loop of its own: folded into the
  // one above, GCC ran it scalar, a fifth of this function's time)
  float sum = 0.0f;
#pragma omp simd reduction(+ : sum)
  for (int j = 0; j <= i; ++j) {
    const float p = key_allowed<kDoc>(doc_row, i, j) ? exp_nonpositive(s[j] * scale - max_score) : 0.0f;
    s[j] = p;
    sum += p;
  }
  const float inv = 1.0f / sum;
#pragma omp simd
  for (int j = 0; j <= i; ++j) s[j] *= inv;
  std::fill(s + i + 1, s + keys, 0.0f);
  return max_score + std::log(sum);
}

// With P (keys) the row's scores and dP its score gradients: p = P = exp(s * scale - lse) over
// the allowed keys (0 elsewhere), g = dS * scale = P (dP - D) * scale.
template <bool kDoc>
void softmax_grad_row(float* p, float* g, int keys, int i, const int* doc_row, float scale, float lse, float D) {
#pragma omp simd
  for (int j = 0; j <= i; ++j) {
    const float pj = key_allowed<kDoc>(doc_row, i, j) ? exp_nonpositive(p[j] * scale - lse) : 0.0f;
    p[j] = pj;
    g[j] = pj * (g[j] - D) * scale;  // dS * scale: the score's gradient folded with 1/sqrt(HD)
  }
  std::fill(p + i + 1, p + keys, 0.0f);  // the keys after the query
  std::fill(g + i + 1, g + keys, 0.0f);
}

// A thread's working block: scores and probabilities (and their gradients) of kAttnBlockRows
// queries against up to T keys. Each thread keeps its own and grows it to the largest T seen, so
// after the first step nothing is allocated.
struct BlockScratch {
  AlignedBuffer<float> scores, score_grads;  // S or P, dP (rows, keys) f32
  AlignedBuffer<uint16_t> probs, ds;         // P, dS (rows, keys) bf16
  AlignedBuffer<float> rows_out;             // O or dQ of the block (rows, HD) f32
  AlignedBuffer<float> dk, dv;               // the task's dK, dV (T, HD) f32 (backward)
};

BlockScratch& thread_block(int T, int HD) {
  thread_local BlockScratch block;
  const size_t n = size_t(kAttnBlockRows) * T;
  block.scores.reserve(n), block.score_grads.reserve(n);
  block.probs.reserve(n), block.ds.reserve(n);
  block.rows_out.reserve(size_t(kAttnBlockRows) * HD);
  block.dk.reserve(size_t(T) * HD), block.dv.reserve(size_t(T) * HD);
  return block;
}

}  // namespace

// Heads run in parallel, one (sequence, head) per task, each on its thread's GEMMs.
void attention_forward(float* out, float* lse, const float* q, const float* k, const float* v, const int* doc,
                       int B, int T, int NH, int NKV, int HD) {
  LOOM_ASSERT(NKV > 0 && NH % NKV == 0);
  const int group = NH / NKV;
  const float scale = 1.0f / std::sqrt(static_cast<float>(HD));
  const uint16_t* qb = rounded_head_major(ScratchSlot::AttnQ, q, B, T, NH, HD);   // (B, NH, T, HD)
  const uint16_t* kb = rounded_head_major(ScratchSlot::AttnK, k, B, T, NKV, HD);  // (B, NKV, T, HD)
  const uint16_t* vb = rounded_head_major(ScratchSlot::AttnV, v, B, T, NKV, HD);  // (B, NKV, T, HD)
  const int ld = NH * HD;  // row stride of out
#pragma omp parallel
  {
    BlockScratch& block = thread_block(T, HD);
#pragma omp for schedule(dynamic)
    for (int task = 0; task < B * NH; ++task) {
      const int b = task / NH, h = task % NH;
      const int* doc_row = doc ? doc + size_t(b) * T : nullptr;
      const uint16_t* qh = qb + size_t(task) * T * HD;                                 // (T, HD)
      const uint16_t* kh = kb + (size_t(b) * NKV + h / group) * T * HD;                // (T, HD)
      const uint16_t* vh = vb + (size_t(b) * NKV + h / group) * T * HD;                // (T, HD)
      float* out_h = out + (size_t(b) * T * NH + h) * HD;                               // (T, HD), stride ld
      for (int q0 = 0; q0 < T; q0 += kAttnBlockRows) {
        const int rows = std::min(kAttnBlockRows, T - q0), keys = q0 + rows;
        float* scores = block.scores.data();    // (rows, keys)
        uint16_t* probs = block.probs.data();  // (rows, keys)
        // S (rows, keys) = Q[q0:q0+rows] @ K[0:keys]^T
        gemm(scores, qh + size_t(q0) * HD, false, kh, true, rows, keys, HD, false);
        for (int r = 0; r < rows; ++r) {
          const int i = q0 + r;
          float* s = scores + size_t(r) * keys;  // (keys)
          lse[(size_t(b) * NH + h) * T + i] = doc_row ? softmax_row<true>(s, keys, i, doc_row, scale)
                                                      : softmax_row<false>(s, keys, i, doc_row, scale);
          round_span_to_bf16(probs + size_t(r) * keys, s, keys);
        }
        // O[q0:q0+rows] (rows, HD) = P (rows, keys) @ V[0:keys] (keys, HD)
        gemm(block.rows_out.data(), probs, false, vh, false, rows, HD, keys, false);
        store_rows(out_h + size_t(q0) * ld, ld, block.rows_out.data(), rows, HD, false);
      }
    }
  }
}

// One task per (sequence, KV head): the group's query heads accumulate into the same dK, dV
// rows, so they stay on one thread, in a fixed order (the result does not depend on threads).
void attention_backward(float* dq, float* dk, float* dv, const float* dout, const float* q, const float* k,
                        const float* v, const float* out, const float* lse, const int* doc, int B, int T, int NH,
                        int NKV, int HD, bool accumulate) {
  LOOM_ASSERT(NKV > 0 && NH % NKV == 0);
  const int group = NH / NKV;
  const float scale = 1.0f / std::sqrt(static_cast<float>(HD));
  const uint16_t* qb = rounded_head_major(ScratchSlot::AttnQ, q, B, T, NH, HD);        // (B, NH, T, HD)
  const uint16_t* kb = rounded_head_major(ScratchSlot::AttnK, k, B, T, NKV, HD);       // (B, NKV, T, HD)
  const uint16_t* vb = rounded_head_major(ScratchSlot::AttnV, v, B, T, NKV, HD);       // (B, NKV, T, HD)
  const uint16_t* dob = rounded_head_major(ScratchSlot::AttnDout, dout, B, T, NH, HD);  // (B, NH, T, HD)
  const int q_ld = NH * HD, kv_ld = NKV * HD;  // row strides of (dq, out) and (dk, dv)
#pragma omp parallel
  {
    BlockScratch& block = thread_block(T, HD);
#pragma omp for schedule(dynamic)
    for (int task = 0; task < B * NKV; ++task) {
      const int b = task / NKV, kv_head = task % NKV;
      const int* doc_row = doc ? doc + size_t(b) * T : nullptr;
      const uint16_t* kh = kb + size_t(task) * T * HD;  // (T, HD)
      const uint16_t* vh = vb + size_t(task) * T * HD;  // (T, HD)
      float* dk_task = block.dk.data();                 // (T, HD) dense, added to dk at the end
      float* dv_task = block.dv.data();                 // (T, HD)
      std::fill_n(dk_task, size_t(T) * HD, 0.0f);
      std::fill_n(dv_task, size_t(T) * HD, 0.0f);
      for (int h = kv_head * group; h < (kv_head + 1) * group; ++h) {
        const size_t head = size_t(b) * NH + h;
        const uint16_t* qh = qb + head * T * HD;    // (T, HD)
        const uint16_t* doh = dob + head * T * HD;  // (T, HD)
        const size_t rows_offset = (size_t(b) * T * NH + h) * HD;  // (b, t = 0, h) in (B, T, NH, HD)
        for (int q0 = 0; q0 < T; q0 += kAttnBlockRows) {
          const int rows = std::min(kAttnBlockRows, T - q0), keys = q0 + rows;
          const uint16_t* q_block = qh + size_t(q0) * HD;    // (rows, HD)
          const uint16_t* do_block = doh + size_t(q0) * HD;  // (rows, HD)
          float* scores = block.scores.data();            // P (rows, keys)
          float* score_grads = block.score_grads.data();  // dP (rows, keys)
          uint16_t* probs = block.probs.data();
          uint16_t* ds = block.ds.data();
          gemm(scores, q_block, false, kh, true, rows, keys, HD, false);
          // dP (rows, keys) = dO[q0:q0+rows] @ V[0:keys]^T
          gemm(score_grads, do_block, false, vh, true, rows, keys, HD, false);
          for (int r = 0; r < rows; ++r) {
            const int i = q0 + r;
            const float row_lse = lse[head * T + i];
            // D = dO . O with dO as the dP GEMM read it (bf16), so that sum_j P_ij dP_ij - D cancels
            // as it does in exact arithmetic (a single visible key gives dS = 0, not rounding noise).
            const uint16_t* doi = do_block + size_t(r) * HD;                       // (HD)
            const float* oi = out + rows_offset + size_t(q0 + r) * q_ld;          // (HD)
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
          gemm(dv_task, probs, true, do_block, false, keys, HD, rows, true);
          gemm(dk_task, ds, true, q_block, false, keys, HD, rows, true);
          gemm(block.rows_out.data(), ds, false, kh, false, rows, HD, keys, false);
          store_rows(dq + rows_offset + size_t(q0) * q_ld, q_ld, block.rows_out.data(), rows, HD, accumulate);
        }
      }
      const size_t kv_offset = (size_t(b) * T * NKV + kv_head) * HD;  // (b, t = 0, kv_head)
      store_rows(dk + kv_offset, kv_ld, dk_task, T, HD, accumulate);
      store_rows(dv + kv_offset, kv_ld, dv_task, T, HD, accumulate);
    }
  }
}

}  // namespace loom::bf16
