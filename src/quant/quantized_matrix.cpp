#include "quant/quantized_matrix.h"

#include <algorithm>
#include <cstring>
#include <vector>

#include "core/check.h"
#include "core/dtype.h"
#include "quant/blockwise.h"
#include "quant/dynamic_map.h"
#include "quant/int8.h"
#include "quant/nf4.h"

namespace loom {
namespace {

// The pieces a mode stores, in the order quantize_matrix takes them from the arena.
struct Pieces {
  size_t data_bytes = 0;
  size_t row_scales = 0;     // INT8: f32 per row
  size_t absmax_codes = 0;   // NF4: u8 per block of 64
  size_t absmax_scales = 0;  // NF4: f32 per 256 blocks
};

size_t ceil_div(size_t a, size_t b) { return (a + b - 1) / b; }

Pieces pieces_of(QuantMode mode, int rows, int cols) {
  const size_t n = static_cast<size_t>(rows) * cols;
  Pieces p;
  switch (mode) {
    case QuantMode::F32: p.data_bytes = n * sizeof(float); break;
    case QuantMode::BF16: p.data_bytes = n * sizeof(uint16_t); break;
    case QuantMode::INT8:
      p.data_bytes = n;
      p.row_scales = rows;
      break;
    case QuantMode::NF4:
      p.data_bytes = ceil_div(n, 2);
      p.absmax_codes = ceil_div(n, kNf4BlockSize);
      p.absmax_scales = ceil_div(p.absmax_codes, kNf4AbsmaxBlockSize);
      break;
  }
  return p;
}

// The absmax of NF4 block `block` as the model uses it: dynamic map value * scale + offset.
float nf4_dequantized_absmax(const QuantizedMatrix& m, size_t block) {
  return dynamic_dequantize(m.absmax_code[block], m.absmax_scale[block / kNf4AbsmaxBlockSize],
                            m.absmax_offset);
}

void quantize_nf4(QuantizedMatrix& m, const float* w) {
  const size_t n = m.elements();
  const size_t blocks = ceil_div(n, kNf4BlockSize);
  std::vector<float> absmax(blocks);
  block_absmax(absmax.data(), w, n, kNf4BlockSize);

  double absmax_sum = 0.0;
  for (float a : absmax) absmax_sum += a;
  m.absmax_offset = static_cast<float>(absmax_sum / static_cast<double>(blocks));

  std::vector<float> centered(blocks);  // absmax - offset, the values double quantization stores
  for (size_t b = 0; b < blocks; ++b) centered[b] = absmax[b] - m.absmax_offset;
  dynamic_quantize_blockwise(m.absmax_code, m.absmax_scale, centered.data(), blocks,
                             kNf4AbsmaxBlockSize);

  // The 4-bit indices come from the exact absmax, as in bitsandbytes.
  nf4_quantize(static_cast<uint8_t*>(m.data), w, absmax.data(), n);
}

void dequantize_nf4_rows(float* out, const QuantizedMatrix& m, int row_begin, int row_end) {
  const auto* packed = static_cast<const uint8_t*>(m.data);
  const size_t n = static_cast<size_t>(row_end - row_begin) * m.cols;
#pragma omp parallel for schedule(static) if (n >= kMinParallelElements)
  for (int r = row_begin; r < row_end; ++r) {
    float* out_row = out + static_cast<size_t>(r - row_begin) * m.cols;  // (C)
    const size_t row_first = static_cast<size_t>(r) * m.cols;
    const size_t row_last = row_first + m.cols;
    for (size_t begin = row_first; begin < row_last;) {
      const size_t block = begin / kNf4BlockSize;
      const size_t end = std::min(row_last, (block + 1) * kNf4BlockSize);
      nf4_dequantize_span(out_row + (begin - row_first), packed, begin, end, nf4_dequantized_absmax(m, block));
      begin = end;
    }
  }
}

void dequantize_bf16_rows(float* out, const QuantizedMatrix& m, int row_begin, int row_end) {
  const auto* w = static_cast<const uint16_t*>(m.data);
  const size_t first = static_cast<size_t>(row_begin) * m.cols;
  const int64_t count = static_cast<int64_t>(row_end - row_begin) * m.cols;
#pragma omp parallel for schedule(static) if (static_cast<size_t>(count) >= kMinParallelElements)
  for (int64_t i = 0; i < count; ++i) out[i] = bf16_to_f32(w[first + i]);
}

}  // namespace

QuantMode parse_quant_mode(const std::string& name) {
  if (name == "f32") return QuantMode::F32;
  if (name == "bf16") return QuantMode::BF16;
  if (name == "int8") return QuantMode::INT8;
  if (name == "nf4") return QuantMode::NF4;
  LOOM_FAIL("quantization mode '", name, "' is unknown (expected f32, bf16, int8 or nf4)");
}

const char* quant_mode_name(QuantMode mode) {
  switch (mode) {
    case QuantMode::F32: return "f32";
    case QuantMode::BF16: return "bf16";
    case QuantMode::INT8: return "int8";
    case QuantMode::NF4: return "nf4";
  }
  fail_at(__FILE__, __LINE__, cat("invalid QuantMode ", static_cast<int>(mode)));
}

size_t quantized_matrix_bytes(QuantMode mode, int rows, int cols) {
  const Pieces p = pieces_of(mode, rows, cols);
  return align_up(p.data_bytes) + align_up(p.row_scales * sizeof(float)) + align_up(p.absmax_codes) +
         align_up(p.absmax_scales * sizeof(float));
}

double quantized_matrix_payload_bytes(QuantMode mode, int rows, int cols) {
  const Pieces p = pieces_of(mode, rows, cols);
  const size_t offset_bytes = mode == QuantMode::NF4 ? sizeof(float) : 0;
  return static_cast<double>(p.data_bytes + p.row_scales * sizeof(float) + p.absmax_codes +
                             p.absmax_scales * sizeof(float) + offset_bytes);
}

QuantizedMatrix quantize_matrix(Arena& arena, QuantMode mode, const float* w, int rows, int cols) {
  LOOM_ASSERT(rows > 0 && cols > 0);
  QuantizedMatrix m;
  m.mode = mode;
  m.rows = rows;
  m.cols = cols;
  const Pieces p = pieces_of(mode, rows, cols);
  m.data = arena.take_bytes(p.data_bytes);
  if (p.row_scales > 0) m.row_scale = arena.take<float>(p.row_scales);
  if (p.absmax_codes > 0) m.absmax_code = arena.take<uint8_t>(p.absmax_codes);
  if (p.absmax_scales > 0) m.absmax_scale = arena.take<float>(p.absmax_scales);

  const size_t n = m.elements();
  switch (mode) {
    case QuantMode::F32: std::memcpy(m.data, w, n * sizeof(float)); break;
    case QuantMode::BF16: {
      auto* out = static_cast<uint16_t*>(m.data);
#pragma omp parallel for schedule(static) if (n >= kMinParallelElements)
      for (int64_t i = 0; i < static_cast<int64_t>(n); ++i) out[i] = f32_to_bf16(w[i]);
      break;
    }
    case QuantMode::INT8: int8_quantize_rows(static_cast<int8_t*>(m.data), m.row_scale, w, rows, cols); break;
    case QuantMode::NF4: quantize_nf4(m, w); break;
  }
  return m;
}

void dequantize_rows(float* out, const QuantizedMatrix& m, int row_begin, int row_end) {
  LOOM_ASSERT(0 <= row_begin && row_begin <= row_end && row_end <= m.rows);
  switch (m.mode) {
    case QuantMode::F32:
      std::memcpy(out, static_cast<const float*>(m.data) + static_cast<size_t>(row_begin) * m.cols,
                  static_cast<size_t>(row_end - row_begin) * m.cols * sizeof(float));
      break;
    case QuantMode::BF16: dequantize_bf16_rows(out, m, row_begin, row_end); break;
    case QuantMode::INT8:
      int8_dequantize_rows(out, static_cast<const int8_t*>(m.data), m.row_scale, row_begin, row_end, m.cols);
      break;
    case QuantMode::NF4: dequantize_nf4_rows(out, m, row_begin, row_end); break;
  }
}

void dequantize_matrix(float* out, const QuantizedMatrix& m) { dequantize_rows(out, m, 0, m.rows); }

QuantizedMatrix relocate_quantized_matrix(const QuantizedMatrix& m, const void* from_base, void* to_base) {
  const auto relocate = [&](auto* pointer) {
    using Pointer = decltype(pointer);
    if (pointer == nullptr) return pointer;
    const auto offset = reinterpret_cast<const std::byte*>(pointer) - static_cast<const std::byte*>(from_base);
    return reinterpret_cast<Pointer>(static_cast<std::byte*>(to_base) + offset);
  };
  QuantizedMatrix moved = m;
  moved.data = relocate(m.data);
  moved.row_scale = relocate(m.row_scale);
  moved.absmax_code = relocate(m.absmax_code);
  moved.absmax_scale = relocate(m.absmax_scale);
  return moved;
}

}  // namespace loom
