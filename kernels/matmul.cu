#include "kernels/cublas_handle.cuh"
#include "kernels/cuda_check.cuh"
#include "kernels/matmul.cuh"

// cuBLAS is column-major: a row-major (R, K) matrix is its column-major (K, R) transpose,
// so each row-major product below is computed as the transposed column-major one.
namespace loom::cuda {

// C (m, n) = alpha op(A) op(B) + beta C, column-major, on `stream`.
static void sgemm(cublasOperation_t op_a, cublasOperation_t op_b, int m, int n, int k,
                  const float* a, int lda, const float* b, int ldb, float beta, float* c, int ldc,
                  cudaStream_t stream) {
  cublasHandle_t handle = cublas_handle();
  LOOM_CUBLAS_CHECK(cublasSetStream(handle, stream));
  const float alpha = 1.0f;
  LOOM_CUBLAS_CHECK(
      cublasSgemm(handle, op_a, op_b, m, n, k, &alpha, a, lda, b, ldb, &beta, c, ldc));
}

void matmul_forward(float* out, const float* inp, const float* weight, int N, int C, int OC,
                    bool accumulate, cudaStream_t stream) {
  // out^T (OC, N) = weight (OC, C) @ inp^T (C, N)
  sgemm(CUBLAS_OP_T, CUBLAS_OP_N, OC, N, C, weight, C, inp, C, accumulate ? 1.0f : 0.0f, out, OC,
        stream);
}

void matmul_backward_input(float* dinp, const float* dout, const float* weight, int N, int C,
                           int OC, cudaStream_t stream) {
  // dinp^T (C, N) += weight^T (C, OC) @ dout^T (OC, N)
  sgemm(CUBLAS_OP_N, CUBLAS_OP_N, C, N, OC, weight, C, dout, OC, 1.0f, dinp, C, stream);
}

void matmul_backward_weight(float* dweight, const float* dout, const float* inp, int N, int C,
                            int OC, cudaStream_t stream) {
  // dweight^T (C, OC) += inp^T (C, N) @ dout (N, OC)
  sgemm(CUBLAS_OP_N, CUBLAS_OP_T, C, OC, N, inp, C, dout, OC, 1.0f, dweight, C, stream);
}

}  // namespace loom::cuda
