#include "kernels/dequant.cuh"

#include <cstdint>

#include "kernels/cuda_check.cuh"
#include "kernels/kernel_utils.cuh"
#include "quant/dynamic_map.h"
#include "quant/nf4.h"

namespace loom::cuda {

namespace {

// The NF4 code and the dynamic map are compile-time constants shared with the CPU path.
__constant__ std::array<float, 16> d_nf4_code = kNf4Code;
__constant__ DynamicMap d_signed_dynamic_map = kSignedDynamicMap;

__device__ void store(float* out, float value) { *out = value; }
__device__ void store(__nv_bfloat16* out, float value) { *out = __float2bfloat16_rn(value); }

// Each decoder maps a flat element index of the matrix to its f32 value.
struct F32Decoder {
  const float* w;
  __device__ float operator()(size_t i) const { return w[i]; }
};

struct Bf16Decoder {
  const uint16_t* w;
  __device__ float operator()(size_t i) const { return __uint_as_float(static_cast<uint32_t>(w[i]) << 16); }
};

struct Int8Decoder {
  const int8_t* q;
  const float* row_scale;
  int cols;
  __device__ float operator()(size_t i) const { return q[i] * row_scale[i / cols]; }
};

struct Nf4Decoder {
  const uint8_t* packed;
  const uint8_t* absmax_code;
  const float* absmax_scale;
  float absmax_offset;
  const float* code;  // the 16 NF4 values, staged in shared memory
  __device__ float operator()(size_t i) const {
    const size_t block = i / kNf4BlockSize;
    // map * scale and + offset rounded separately, as on the CPU (no fused multiply-add).
    const float absmax = __fadd_rn(__fmul_rn(d_signed_dynamic_map[absmax_code[block]],
                                             absmax_scale[block / kNf4AbsmaxBlockSize]),
                                   absmax_offset);
    const uint8_t pair = packed[i / 2];
    const uint8_t index = i % 2 == 0 ? pair >> 4 : pair & 0x0F;
    return __fmul_rn(code[index], absmax);
  }
};

// out (count) = decode(first + i) for i < count.
template <typename Out, typename Decoder>
__device__ void dequantize_span(Out* out, const Decoder& decode, size_t first, size_t count) {
  for (size_t i = blockIdx.x * static_cast<size_t>(blockDim.x) + threadIdx.x; i < count;
       i += static_cast<size_t>(gridDim.x) * blockDim.x)
    store(out + i, decode(first + i));
}

template <typename Out, typename Decoder>
__global__ void dequantize_kernel(Out* out, Decoder decode, size_t first, size_t count) {
  dequantize_span(out, decode, first, count);
}

// NF4 indices differ from lane to lane: the code is read from shared memory, where
// different addresses do not serialise as they do in constant memory.
template <typename Out>
__global__ void dequantize_nf4_kernel(Out* out, Nf4Decoder decode, size_t first, size_t count) {
  __shared__ float code[16];
  if (threadIdx.x < 16) code[threadIdx.x] = d_nf4_code[threadIdx.x];
  __syncthreads();
  decode.code = code;
  dequantize_span(out, decode, first, count);
}

template <typename Out>
void dequantize_rows_as(Out* out, const QuantizedMatrix& m, int row_begin, int row_end,
                        cudaStream_t stream) {
  LOOM_ASSERT(0 <= row_begin && row_begin <= row_end && row_end <= m.rows);
  const size_t first = static_cast<size_t>(row_begin) * m.cols;
  const size_t count = static_cast<size_t>(row_end - row_begin) * m.cols;
  if (count == 0) return;
  const int blocks = elementwise_blocks(count);
  switch (m.mode) {
    case QuantMode::F32:
      dequantize_kernel<<<blocks, kElementwiseThreads, 0, stream>>>(
          out, F32Decoder{static_cast<const float*>(m.data)}, first, count);
      break;
    case QuantMode::BF16:
      dequantize_kernel<<<blocks, kElementwiseThreads, 0, stream>>>(
          out, Bf16Decoder{static_cast<const uint16_t*>(m.data)}, first, count);
      break;
    case QuantMode::INT8:
      dequantize_kernel<<<blocks, kElementwiseThreads, 0, stream>>>(
          out, Int8Decoder{static_cast<const int8_t*>(m.data), m.row_scale, m.cols}, first, count);
      break;
    case QuantMode::NF4:
      dequantize_nf4_kernel<<<blocks, kElementwiseThreads, 0, stream>>>(
          out,
          Nf4Decoder{static_cast<const uint8_t*>(m.data), m.absmax_code, m.absmax_scale,
                     m.absmax_offset, nullptr},
          first, count);
      break;
  }
  LOOM_CUDA_CHECK_LAUNCH();
}

}  // namespace

void dequantize_matrix(float* out, const QuantizedMatrix& m, cudaStream_t stream) {
  dequantize_rows_as(out, m, 0, m.rows, stream);
}

void dequantize_rows(float* out, const QuantizedMatrix& m, int row_begin, int row_end,
                     cudaStream_t stream) {
  dequantize_rows_as(out, m, row_begin, row_end, stream);
}

void dequantize_rows_bf16(__nv_bfloat16* out, const QuantizedMatrix& m, int row_begin,
                          int row_end, cudaStream_t stream) {
  dequantize_rows_as(out, m, row_begin, row_end, stream);
}

}  // namespace loom::cuda
