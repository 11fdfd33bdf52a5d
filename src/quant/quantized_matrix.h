// The frozen base's linear weights, quantized at load time.
//
// Modes: F32 and BF16 (unquantized), INT8 (weight-only, per-output-row absmax, as loom's
// take on LLM.int8 without the outlier columns), NF4 (bitsandbytes' 4-bit NormalFloat,
// blocks of 64, with double quantization of the absmax values: 8-bit dynamic map, blocks
// of 256, mean subtracted). What each mode stores: docs/quantization.md.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

#include "core/arena.h"

namespace loom {

enum class QuantMode { F32, BF16, INT8, NF4 };

QuantMode parse_quant_mode(const std::string& name);  // "f32" | "bf16" | "int8" | "nf4"; fails otherwise
const char* quant_mode_name(QuantMode mode);

inline constexpr int kNf4BlockSize = 64;        // elements per absmax
inline constexpr int kNf4AbsmaxBlockSize = 256;  // absmax values per double-quant scale

// A weight (rows, cols) = (OC, C) in one of the modes. Pointers point into the frozen arena.
struct QuantizedMatrix {
  QuantMode mode = QuantMode::F32;
  int rows = 0, cols = 0;
  void* data = nullptr;  // F32: float[rows*cols]; BF16: uint16[rows*cols]; INT8: int8[rows*cols];
                         // NF4: uint8[(rows*cols+1)/2], first element of a pair in the HIGH nibble
  float* row_scale = nullptr;        // INT8: absmax/127 per row (rows)
  uint8_t* absmax_code = nullptr;    // NF4: 8-bit dynamic-map index of (absmax - offset), one per block of 64
  float* absmax_scale = nullptr;     // NF4: one scale per 256 absmax values
  float absmax_offset = 0.0f;        // NF4: mean of the absmax values
  size_t elements() const { return static_cast<size_t>(rows) * cols; }
};

// Exact bytes quantize_matrix will take from an arena (for the size plan).
size_t quantized_matrix_bytes(QuantMode mode, int rows, int cols);

// Resident bytes of the matrix's own data (what `loom inspect` reports per mode).
double quantized_matrix_payload_bytes(QuantMode mode, int rows, int cols);

// Quantize w (rows, cols) f32 into pieces taken from `arena`.
QuantizedMatrix quantize_matrix(Arena& arena, QuantMode mode, const float* w, int rows, int cols);

// out (rows, cols) f32 = the weight as the frozen model uses it.
void dequantize_matrix(float* out, const QuantizedMatrix& m);

// out (row_end - row_begin, cols): rows [row_begin, row_end) only (chunked GEMMs, decode).
void dequantize_rows(float* out, const QuantizedMatrix& m, int row_begin, int row_end);

// The same matrix in another copy of its arena (e.g. the frozen arena copied to a device):
// every pointer keeps its offset from the arena's base.
QuantizedMatrix relocate_quantized_matrix(const QuantizedMatrix& m, const void* from_base,
                                          void* to_base);

}  // namespace loom
