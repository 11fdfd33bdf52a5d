// CUDA twin of src/ops/rope.h (rope_inv_freq stays on the host: compute the table with
// loom::cpu::rope_inv_freq and copy it to the device once).
#pragma once

#include <cuda_runtime.h>

namespace loom::cuda {

// In place: x (N, H, HD) rotated by pos (N); inv_freq (HD/2) on the device.
void rope_forward(float* x, const int* pos, const float* inv_freq, int N, int H, int HD,
                  cudaStream_t stream);

// In place: dx (N, H, HD) rotated back (the transpose of the forward rotation).
void rope_backward(float* dx, const int* pos, const float* inv_freq, int N, int H, int HD,
                   cudaStream_t stream);

}  // namespace loom::cuda
