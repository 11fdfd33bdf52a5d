// One bf16 GEMM on oneDNN's matmul primitive, f32 accumulation and output:
//   c (M, N) (+)= op(a) (M, K) @ op(b) (K, N)
// op(a) = a stored (M, K) row-major, or a stored (K, M) when a_trans; op(b) likewise with
// b stored (K, N), or (N, K) when b_trans. Primitives are created once per shape, layout,
// accumulate flag and OpenMP thread count, and reused (oneDNN built with OpenMP runs them on
// the caller's OpenMP pool). Threads of a parallel region may call at the same time: each call
// then runs on its own thread.
#pragma once

#include <cstdint>
#include <string>

namespace loom::bf16 {

void gemm(float* c, const uint16_t* a, bool a_trans, const uint16_t* b, bool b_trans, int M, int N, int K,
          bool accumulate);

// The same with leading dimensions (row strides of the stored matrices, in elements): views
// into larger tensors, e.g. one head of (B, T, NH, HD) has ld = NH * HD.
void gemm_strided(float* c, int ldc, const uint16_t* a, int lda, bool a_trans, const uint16_t* b, int ldb,
                  bool b_trans, int M, int N, int K, bool accumulate);

// c (M, N) (+)= a (M, K) @ B (K, N), B packed in the layout oneDNN's AMX kernels read fastest
// (its BA16a64b2a: blocks of kPackedBColumns columns, each kPackedBDepth rows deep, row pairs
// interleaved; packed_weight_bf16.h writes it). Only where gemm_packed_b_available(M, N, K,
// accumulate).
void gemm_packed_b(float* c, const uint16_t* a, const uint16_t* b_packed, int M, int N, int K, bool accumulate);
inline constexpr int kPackedBColumns = 64, kPackedBDepth = 32;

// Whether oneDNN's kernel for that bf16 product reads B in that layout (its AMX kernels; not
// its AVX-512 ones) and K is a multiple of kPackedBDepth.
bool gemm_packed_b_available(int M, int N, int K, bool accumulate);

// While one is alive, gemm_packed_b_available answers false, so that the row-major paths run
// where oneDNN would read the packed layout (tests compare the two; not thread-safe to make).
class RowMajorWeightsOnly {
 public:
  RowMajorWeightsOnly();
  ~RowMajorWeightsOnly();
  RowMajorWeightsOnly(const RowMajorWeightsOnly&) = delete;
  RowMajorWeightsOnly& operator=(const RowMajorWeightsOnly&) = delete;
};

// The same GEMM with f32 operands (oneDNN's f32 kernels): `loom bench --peak` and tests.
void gemm_f32(float* c, const float* a, bool a_trans, const float* b, bool b_trans, int M, int N, int K,
              bool accumulate);

// oneDNN's name of the kernel it runs for that bf16 (or f32) shape, e.g. "brg:avx512_core_bf16".
std::string gemm_kernel_name(int M, int N, int K, bool use_bf16);

// Primitives created so far (tests check that repeated shapes reuse them).
size_t gemm_primitives_created();

}  // namespace loom::bf16
