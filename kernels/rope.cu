#include "kernels/cuda_check.cuh"
#include "kernels/kernel_utils.cuh"
#include "kernels/rope.cuh"

namespace loom::cuda {

namespace {

// One thread per (row n, pair i): rotates dimensions (i, i + HD/2) of every head by
// direction * pos[n] * inv_freq[i].
__global__ void rope_rotate_kernel(float* x, const int* pos, const float* inv_freq, int N, int H,
                                   int HD, float direction) {
  const int half = HD / 2;
  const size_t pairs = static_cast<size_t>(N) * half;
  for (size_t idx = blockIdx.x * static_cast<size_t>(blockDim.x) + threadIdx.x; idx < pairs;
       idx += static_cast<size_t>(gridDim.x) * blockDim.x) {
    const size_t n = idx / half;
    const int i = static_cast<int>(idx % half);
    const float angle = static_cast<float>(pos[n]) * inv_freq[i];
    const float c = cosf(angle);
    const float s = direction * sinf(angle);
    for (int h = 0; h < H; ++h) {
      float* head = x + (n * H + h) * HD;  // (HD)
      const float x1 = head[i];
      const float x2 = head[i + half];
      head[i] = x1 * c - x2 * s;
      head[i + half] = x2 * c + x1 * s;
    }
  }
}

void rope_rotate(float* x, const int* pos, const float* inv_freq, int N, int H, int HD,
                 float direction, cudaStream_t stream) {
  const size_t pairs = static_cast<size_t>(N) * (HD / 2);
  if (pairs == 0) return;
  rope_rotate_kernel<<<elementwise_blocks(pairs), kElementwiseThreads, 0, stream>>>(
      x, pos, inv_freq, N, H, HD, direction);
  LOOM_CUDA_CHECK_LAUNCH();
}

}  // namespace

void rope_forward(float* x, const int* pos, const float* inv_freq, int N, int H, int HD,
                  cudaStream_t stream) {
  rope_rotate(x, pos, inv_freq, N, H, HD, 1.0f, stream);
}

void rope_backward(float* dx, const int* pos, const float* inv_freq, int N, int H, int HD,
                   cudaStream_t stream) {
  rope_rotate(dx, pos, inv_freq, N, H, HD, -1.0f, stream);
}

}  // namespace loom::cuda
