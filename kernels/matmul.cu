#include "kernels/cublas_handle.cuh"
#include "kernels/cuda_check.cuh"
#include "kernels/matmul.cuh"

#include <type_traits>

// cuBLAS is column-major: a row-major (R, K) matrix is its column-major (K, R) transpose,
// so each row-major product below is computed as the transposed column-major one.
namespace loom::cuda {

namespace {

// C (m, n) = op(A) op(B) + beta C, column-major, C f32, on `stream`: f32 operands on SGEMM,
// bf16 operands on cublasGemmEx with f32 accumulation (CUBLAS_COMPUTE_32F).
template <typename T>
void gemm(cublasOperation_t op_a, cublasOperation_t op_b, int m, int n, int k, const T* a, int lda,
          const T* b, int ldb, float beta, float* c, int ldc, cudaStream_t stream) {
  cublasHandle_t handle = cublas_handle();
  LOOM_CUBLAS_CHECK(cublasSetStream(handle, stream));
  const float alpha = 1.0f;
  if constexpr (std::is_same_v<T, float>) {
    LOOM_CUBLAS_CHECK(cublasSgemm(handle, op_a, op_b, m, n, k, &alpha, a, lda, b, ldb, &beta, c, ldc));
  } else {
    static_assert(std::is_same_v<T, __nv_bfloat16>);
    LOOM_CUBLAS_CHECK(cublasGemmEx(handle, op_a, op_b, m, n, k, &alpha, a, CUDA_R_16BF, lda, b,
                                   CUDA_R_16BF, ldb, &beta, c, CUDA_R_32F, ldc, CUBLAS_COMPUTE_32F,
                                   CUBLAS_GEMM_DEFAULT));
  }
}

template <typename T>
void forward(float* out, const T* inp, const T* weight, int N, int C, int OC, bool accumulate,
             cudaStream_t stream) {
  // out^T (OC, N) = weight (OC, C) @ inp^T (C, N)
  gemm(CUBLAS_OP_T, CUBLAS_OP_N, OC, N, C, weight, C, inp, C, accumulate ? 1.0f : 0.0f, out, OC,
       stream);
}

template <typename T>
void backward_input(float* dinp, const T* dout, const T* weight, int N, int C, int OC,
                    cudaStream_t stream) {
  // dinp^T (C, N) += weight^T (C, OC) @ dout^T (OC, N)
  gemm(CUBLAS_OP_N, CUBLAS_OP_N, C, N, OC, weight, C, dout, OC, 1.0f, dinp, C, stream);
}

template <typename T>
void backward_weight(float* dweight, const T* dout, const T* inp, int N, int C, int OC,
                     cudaStream_t stream) {
  // dweight^T (C, OC) += inp^T (C, N) @ dout (N, OC)
  gemm(CUBLAS_OP_N, CUBLAS_OP_T, C, OC, N, inp, C, dout, OC, 1.0f, dweight, C, stream);
}

}  // namespace

void matmul_forward(float* out, const float* inp, const float* weight, int N, int C, int OC,
                    bool accumulate, cudaStream_t stream) {
  forward(out, inp, weight, N, C, OC, accumulate, stream);
}
void matmul_forward(float* out, const __nv_bfloat16* inp, const __nv_bfloat16* weight, int N,
                    int C, int OC, bool accumulate, cudaStream_t stream) {
  forward(out, inp, weight, N, C, OC, accumulate, stream);
}

void matmul_backward_input(float* dinp, const float* dout, const float* weight, int N, int C,
                           int OC, cudaStream_t stream) {
  backward_input(dinp, dout, weight, N, C, OC, stream);
}
void matmul_backward_input(float* dinp, const __nv_bfloat16* dout, const __nv_bfloat16* weight,
                           int N, int C, int OC, cudaStream_t stream) {
  backward_input(dinp, dout, weight, N, C, OC, stream);
}

void matmul_backward_weight(float* dweight, const float* dout, const float* inp, int N, int C,
                            int OC, cudaStream_t stream) {
  backward_weight(dweight, dout, inp, N, C, OC, stream);
}
void matmul_backward_weight(float* dweight, const __nv_bfloat16* dout, const __nv_bfloat16* inp,
                            int N, int C, int OC, cudaStream_t stream) {
  backward_weight(dweight, dout, inp, N, C, OC, stream);
}

}  // namespace loom::cuda
