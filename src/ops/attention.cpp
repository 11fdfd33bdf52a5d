#include "ops/attention.h"

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <limits>
#include <vector>

#include "core/parallel.h"

namespace loom::cpu {

namespace {

// Flat offsets into (B, T, heads, HD) and (B, NH, T).
size_t head_offset(int b, int t, int h, int T, int heads, int HD) {
  return ((static_cast<size_t>(b) * T + t) * heads + h) * HD;
}

bool key_allowed(const int* doc, int b, int T, int query, int key) {
  if (key > query) return false;
  if (!doc) return true;
  return doc[static_cast<size_t>(b) * T + key] == doc[static_cast<size_t>(b) * T + query];
}

float dot(const float* a, const float* b, int n) {
  float sum = 0.0f;
  for (int i = 0; i < n; ++i) sum += a[i] * b[i];
  return sum;
}

}  // namespace

void attention_forward(float* out, float* lse, const float* q, const float* k, const float* v,
                       const int* doc, int B, int T, int NH, int NKV, int HD) {
  const int group = NH / NKV;
  const float scale = 1.0f / std::sqrt(static_cast<float>(HD));
#pragma omp parallel
  {
    std::vector<float> scores(T);  // (T) scaled scores of one query row
#pragma omp for collapse(2)
    for (int b = 0; b < B; ++b) {
      for (int h = 0; h < NH; ++h) {
        const int kvh = h / group;
        for (int i = 0; i < T; ++i) {
          const float* qi = q + head_offset(b, i, h, T, NH, HD);  // (HD)
          float max_score = -std::numeric_limits<float>::infinity();
          for (int j = 0; j <= i; ++j) {
            if (!key_allowed(doc, b, T, i, j)) continue;
            scores[j] = dot(qi, k + head_offset(b, j, kvh, T, NKV, HD), HD) * scale;
            max_score = std::max(max_score, scores[j]);
          }
          float* oi = out + head_offset(b, i, h, T, NH, HD);  // (HD)
          for (int d = 0; d < HD; ++d) oi[d] = 0.0f;
          float sum = 0.0f;
          for (int j = 0; j <= i; ++j) {
            if (!key_allowed(doc, b, T, i, j)) continue;
            const float p = std::exp(scores[j] - max_score);
            sum += p;
            const float* vj = v + head_offset(b, j, kvh, T, NKV, HD);  // (HD)
            for (int d = 0; d < HD; ++d) oi[d] += p * vj[d];
          }
          for (int d = 0; d < HD; ++d) oi[d] /= sum;
          lse[(static_cast<size_t>(b) * NH + h) * T + i] = max_score + std::log(sum);
        }
      }
    }
  }
}

// With P = exp(S - lse) recomputed from the saved lse and D_i = dout_i . out_i:
// dV_j += sum_i P_ij dout_i;  dS_ij = P_ij (dout_i . v_j - D_i);
// dQ_i += scale sum_j dS_ij k_j;  dK_j += scale sum_i dS_ij q_i.
// One thread owns a (b, kv head) pair and all query heads reading it, so dk/dv need no atomics.
void attention_backward(float* dq, float* dk, float* dv, const float* dout, const float* q,
                        const float* k, const float* v, const float* out, const float* lse,
                        const int* doc, int B, int T, int NH, int NKV, int HD, bool accumulate) {
  const int group = NH / NKV;
  const float scale = 1.0f / std::sqrt(static_cast<float>(HD));
  if (!accumulate) {
    std::fill_n(dq, size_t(B) * T * NH * HD, 0.0f);
    std::fill_n(dk, size_t(B) * T * NKV * HD, 0.0f);
    std::fill_n(dv, size_t(B) * T * NKV * HD, 0.0f);
  }
#pragma omp parallel for collapse(2)
  for (int b = 0; b < B; ++b) {
    for (int kvh = 0; kvh < NKV; ++kvh) {
      for (int h = kvh * group; h < (kvh + 1) * group; ++h) {
        for (int i = 0; i < T; ++i) {
          const size_t qo = head_offset(b, i, h, T, NH, HD);
          const float* qi = q + qo;      // (HD)
          const float* doi = dout + qo;  // (HD)
          float* dqi = dq + qo;          // (HD)
          const float row_lse = lse[(static_cast<size_t>(b) * NH + h) * T + i];
          const float D = dot(doi, out + qo, HD);
          for (int j = 0; j <= i; ++j) {
            if (!key_allowed(doc, b, T, i, j)) continue;
            const size_t ko = head_offset(b, j, kvh, T, NKV, HD);
            const float p = std::exp(dot(qi, k + ko, HD) * scale - row_lse);
            const float ds = p * (dot(doi, v + ko, HD) - D);
            for (int d = 0; d < HD; ++d) {
              dv[ko + d] += p * doi[d];
              dk[ko + d] += scale * ds * qi[d];
              dqi[d] += scale * ds * k[ko + d];
            }
          }
        }
      }
    }
  }
}

void attention_decode(float* out, const float* q, const float* k_cache, const float* v_cache,
                      const int* key_begin, const int* key_end, int B, int Tmax, int NH, int NKV,
                      int HD) {
  const int group = NH / NKV;
  const float scale = 1.0f / std::sqrt(static_cast<float>(HD));
  // Like a GEMV it streams its operands (the cached keys and values) once: worth the thread
  // team from as many elements as a GEMV's weights (core/parallel.h).
  int longest = 0;
  for (int b = 0; b < B; ++b) longest = std::max(longest, key_end[b] - key_begin[b]);
#pragma omp parallel if (size_t(B) * NKV * longest * HD * 2 >= kMinParallelGemvWeights)
  {
    std::vector<float> scores(Tmax);  // (Tmax)
#pragma omp for collapse(2)
    for (int b = 0; b < B; ++b) {
      for (int h = 0; h < NH; ++h) {
        const int kvh = h / group;
        const float* qh = q + (static_cast<size_t>(b) * NH + h) * HD;  // (HD)
        float* oh = out + (static_cast<size_t>(b) * NH + h) * HD;      // (HD)
        for (int d = 0; d < HD; ++d) oh[d] = 0.0f;
        const int begin = key_begin[b], end = key_end[b];
        if (begin >= end) continue;
        float max_score = -std::numeric_limits<float>::infinity();
        for (int j = begin; j < end; ++j) {
          scores[j] = dot(qh, k_cache + head_offset(b, j, kvh, Tmax, NKV, HD), HD) * scale;
          max_score = std::max(max_score, scores[j]);
        }
        float sum = 0.0f;
        for (int j = begin; j < end; ++j) {
          const float p = std::exp(scores[j] - max_score);
          sum += p;
          const float* vj = v_cache + head_offset(b, j, kvh, Tmax, NKV, HD);  // (HD)
          for (int d = 0; d < HD; ++d) oh[d] += p * vj[d];
        }
        for (int d = 0; d < HD; ++d) oh[d] /= sum;
      }
    }
  }
}

}  // namespace loom::cpu
