#include "backend/cpu_bf16.h"

#include <memory>
#include <vector>

#include "backend/backend_factory.h"
#include "backend/cpu_f32.h"
#include "core/aligned_buffer.h"
#include "core/check.h"
#include "ops/bf16/attention_bf16.h"
#include "ops/bf16/bf16_convert.h"
#include "ops/bf16/bf16_scratch.h"
#include "ops/bf16/cross_entropy_bf16.h"
#include "ops/bf16/few_rows_matmul_bf16.h"
#include "ops/bf16/frozen_matmul_bf16.h"
#include "ops/bf16/lora_linear_bf16.h"
#include "ops/bf16/matmul_bf16.h"
#include "ops/bf16/onednn_gemm.h"
#include "ops/bf16/packed_weight_bf16.h"
#include "ops/lora_linear.h"

namespace loom {

namespace {

// cpu-f32 with the GEMMs (linears, frozen linears, LM head, LoRA) and attention's training ops
// on the ops/bf16 kernels; every call not overridden here is cpu-f32's. The quantized GEMMs do
// not need the f32 workspace: they dequantize into their own bf16 scratch
// (ops/bf16/bf16_scratch.h).
class CpuBf16Backend final : public CpuF32Backend {
 public:
  const char* name() const override { return "cpu-bf16"; }

  void matmul_forward(float* out, const float* inp, const float* weight, int N, int C, int OC,
                      bool accumulate) const override {
    if (const uint16_t* w = reused(weight, size_t(OC) * C))
      forward_on_copy(out, inp, weight, w, N, C, OC, accumulate);
    else
      bf16::matmul_forward(out, inp, weight, N, C, OC, accumulate);
  }
  void matmul_backward_input(float* dinp, const float* dout, const float* weight, int N, int C,
                             int OC) const override {
    if (const uint16_t* wt = reused_transposed(weight, OC, C))
      bf16::matmul_backward_input_transposed_weight(dinp, dout, wt, N, C, OC);
    else if (const uint16_t* w = reused(weight, size_t(OC) * C))
      bf16::matmul_backward_input_bf16_weight(dinp, dout, w, N, C, OC);
    else
      bf16::matmul_backward_input(dinp, dout, weight, N, C, OC);
  }
  void matmul_backward_weight(float* dweight, const float* dout, const float* inp, int N, int C,
                              int OC) const override {
    bf16::matmul_backward_weight(dweight, dout, inp, N, C, OC);
  }
  // dlogits go from the cross-entropy to the GEMMs in bf16 (ops/bf16/cross_entropy_bf16.h); the
  // head is rounded once for both GEMMs (or is the reused copy, read transposed by the second)
  void classifier_forward_backward(float* losses, float* dhidden, float* dhead, float* logits, const float* hidden,
                                   const float* head, const int* targets, const float* dloss, int N, int C,
                                   int V) const override {
    const uint16_t* w = reused(head, size_t(V) * C);  // (V, C)
    if (w == nullptr) {
      uint16_t* rounded = bf16::scratch(bf16::ScratchSlot::Weight, size_t(V) * C);
      bf16::round_to_bf16(rounded, head, size_t(V) * C);
      w = rounded;
    }
    forward_on_copy(logits, hidden, head, w, N, C, V, /*accumulate=*/false);
    uint16_t* dlogits = bf16::scratch(bf16::ScratchSlot::Logits, size_t(N) * V);  // (N, V)
    bf16::cross_entropy_forward_backward(losses, dlogits, logits, targets, dloss, N, V);
    const uint16_t* wt = reused_transposed(head, V, C);  // (C, V) or null
    bf16::matmul_backward_input_bf16_dout(dhidden, dlogits, wt != nullptr ? wt : w, wt != nullptr, N, C, V);
    if (dhead != nullptr) bf16::matmul_backward_weight_bf16_dout(dhead, dlogits, hidden, N, C, V);
  }
  void quantized_matmul_forward(float* out, float* workspace, const float* inp, const QuantizedMatrix& w, int N,
                                bool accumulate) const override {
    bf16::frozen_matmul_forward(out, inp, w, N, accumulate);
  }
  void quantized_matmul_backward_input(float* dinp, float* workspace, const float* dout, const QuantizedMatrix& w,
                                       int N, bool accumulate) const override {
    bf16::frozen_matmul_backward_input(dinp, dout, w, N, accumulate);
  }

  // Fused where the frozen weight is dequantized for oneDNN (training, prefill); decoding's
  // few rows run the composed op on this backend's GEMVs.
  void lora_linear_forward(float* y, float* u, float* workspace, float* dropped, float* mid, const float* x,
                           const QuantizedMatrix& w, const float* a, const float* b, int N, int R, float scale,
                           float p, uint64_t seed, uint64_t stream) const override {
    if (!bf16::lora_linear_fused_applies(w, N, R)) {
      lora_linear_forward_composed(*this, y, u, workspace, dropped, mid, x, w, a, b, N, R, scale, p, seed, stream);
      return;
    }
    bf16::lora_linear_forward(y, u, x, w, a, reused(a, size_t(R) * w.cols), b, reused(b, size_t(w.rows) * R), N, R,
                              scale, p, seed, stream);
  }
  void lora_linear_backward(float* dx, float* da, float* db, float* workspace, float* dropped, float* mid,
                            const float* dy, const float* x, const float* u, const QuantizedMatrix& w,
                            const float* a, const float* b, int N, int R, float scale, float p, uint64_t seed,
                            uint64_t stream, bool accumulate) const override {
    if (!bf16::lora_linear_fused_applies(w, N, R)) {
      lora_linear_backward_composed(*this, dx, da, db, workspace, dropped, mid, dy, x, u, w, a, b, N, R, scale, p,
                                    seed, stream, accumulate);
      return;
    }
    bf16::lora_linear_backward(dx, da, db, mid, dy, x, u, w, a, reused(a, size_t(R) * w.cols), b,
                               reused(b, size_t(w.rows) * R), N, R, scale, p, seed, stream, accumulate);
  }

  void attention_forward(float* out, float* lse, const float* q, const float* k, const float* v, const int* doc,
                         int B, int T, int NH, int NKV, int HD) const override {
    bf16::attention_forward(out, lse, q, k, v, doc, B, T, NH, NKV, HD);
  }
  void attention_backward(float* dq, float* dk, float* dv, const float* dout, const float* q, const float* k,
                          const float* v, const float* out, const float* lse, const int* doc, int B, int T, int NH,
                          int NKV, int HD, bool accumulate) const override {
    bf16::attention_backward(dq, dk, dv, dout, q, k, v, out, lse, doc, B, T, NH, NKV, HD, accumulate);
  }

  // The reused weight's bf16 copy: rounded at begin unless the entry already holds this
  // weight, size and (versioned) values.
  void begin_reused_weight(const float* weight, size_t n, uint64_t version) const override {
    ReusedCopy* entry = find(weight);
    if (entry == nullptr) entry = &copies_.emplace_back();
    LOOM_ASSERT(!entry->active);
    const bool current = entry->n == n && version != kUnversionedWeight && entry->version == version;
    if (!current) {
      // Left uninitialized: the rounding threads touch the pages first (the LM head of a 49K
      // vocabulary is 56 MB: zeroing it first on one thread doubled the time).
      entry->values.reserve(n);
      entry->weight = weight;
      entry->n = n;
      entry->version = version;
      entry->transposed_rows = 0;
      entry->packed_rows = 0;
      bf16::round_to_bf16(entry->values.data(), weight, n);
    }
    entry->active = true;
  }
  void end_reused_weight(const float* weight) const override {
    ReusedCopy* entry = find(weight);
    LOOM_ASSERT(entry != nullptr && entry->active);
    entry->active = false;
    if (entry->version == kUnversionedWeight) entry->n = 0, entry->transposed_rows = 0;  // never current again
  }

 private:
  struct ReusedCopy {
    const float* weight = nullptr;
    size_t n = 0;
    uint64_t version = kUnversionedWeight;
    bool active = false;
    AlignedBuffer<uint16_t> values;  // bf16, the first n the copy
    // values as (rows, n / rows) transposed, made at the first input gradient of the scope (or
    // of the weight's version): the LM head's backward GEMMs read it faster; 0 rows: none yet
    int transposed_rows = 0;
    AlignedBuffer<uint16_t> transposed;
    // values as (rows, n / rows) packed for the forward's GEMM (forward_on_copy), made at its
    // first use, kept while the copy is; 0 rows: none yet
    int packed_rows = 0;
    AlignedBuffer<uint16_t> packed;
  };

  ReusedCopy* find(const float* weight) const {
    for (ReusedCopy& c : copies_)
      if (c.weight == weight) return &c;
    return nullptr;
  }
  // The bf16 copy of weight (n floats) while it lies in a reused-weight scope, else nullptr:
  // its own scope's, else that of a block holding it (the smallest, should blocks nest).
  const uint16_t* reused(const float* weight, size_t n) const {
    const ReusedCopy* holder = nullptr;
    for (const ReusedCopy& c : copies_) {
      if (!c.active || weight < c.weight || weight + n > c.weight + c.n) continue;
      if (holder == nullptr || c.n < holder->n) holder = &c;
    }
    return holder == nullptr ? nullptr : holder->values.data() + (weight - holder->weight);
  }

  // out (N, OC) (+)= inp (N, C) @ weight^T with weight's bf16 copy w: on the copy packed for
  // oneDNN's AMX kernels where its own scope holds it and they read that layout for this product
  // (the LM head: 256 x 32000 x 1024 at 1.6 TFLOP/s packed, 1.2 as stored, `loom bench --peak
  // --gemm`), else on w as stored.
  void forward_on_copy(float* out, const float* inp, const float* weight, const uint16_t* w, int N, int C, int OC,
                       bool accumulate) const {
    ReusedCopy* entry = find(weight);
    const bool packable = entry != nullptr && entry->active && entry->n == size_t(OC) * C &&
                          N > bf16::kFewRowsMax && C % bf16::kPackedBDepth == 0 &&
                          bf16::gemm_packed_b_available(N, OC, C, accumulate);
    if (!packable) {
      bf16::matmul_forward_bf16_weight(out, inp, w, N, C, OC, accumulate);
      return;
    }
    if (entry->packed_rows != OC) {
      QuantizedMatrix copy;  // the bf16 copy seen as a BF16 matrix, to pack
      copy.mode = QuantMode::BF16, copy.rows = OC, copy.cols = C, copy.data = entry->values.data();
      bf16::pack_weight_and_b(entry->packed.reserve(bf16::packed_elements(OC, C)), copy, nullptr, 0, C);
      entry->packed_rows = OC;
    }
    bf16::matmul_forward_packed_weight(out, inp, entry->packed.data(), N, C, OC, accumulate);
  }

  // The transposed bf16 copy of weight (rows, cols) when its own reused-weight scope is active
  // (not a block holding it), else nullptr.
  const uint16_t* reused_transposed(const float* weight, int rows, int cols) const {
    ReusedCopy* entry = find(weight);
    if (entry == nullptr || !entry->active || entry->n != size_t(rows) * cols) return nullptr;
    if (entry->transposed_rows != rows) {
      bf16::transpose_bf16(entry->transposed.reserve(entry->n), entry->values.data(), rows, cols);
      entry->transposed_rows = rows;
    }
    return entry->transposed.data();
  }

  // One entry per weight that has been reused (the LM heads, the trainable block: a handful).
  mutable std::vector<ReusedCopy> copies_;
};

}  // namespace

std::unique_ptr<Backend> make_cpu_bf16_backend() {
  LOOM_REQUIRE(cpu_has_native_bf16(), "compute mode bf16: this CPU has neither AMX-BF16 nor AVX512_BF16; use f32 or auto");
#if defined(__AVX512BF16__)
  return std::make_unique<CpuBf16Backend>();
#else
  LOOM_FAIL("compute mode bf16: this loom was built without AVX512_BF16 (build with -DLOOM_NATIVE=ON on this CPU); use f32");
#endif
}

}  // namespace loom
