// A frozen weight (and its LoRA B) written straight into the layout in which oneDNN's AMX kernels
// read the B operand (gemm_packed_b), as the forward's y = [x | u] @ [W | B]^T and the backward's
// dx = dy @ W read it: 1.3x the speed of the same products on the row-major weight (h1024-l8's
// 1024 x 2816 x 1056, 2 threads: 2.8 ms against 3.8; 1024 x 2816 x 1024 backward 2.7 against
// 4.1), where packing with oneDNN's own reorder cost most of that gain.
#pragma once

#include <cstddef>
#include <cstdint>

#include "quant/quantized_matrix.h"

namespace loom::bf16 {

// The depth of the packed [W | B | 0]: C + R rounded up to whole kPackedBDepth blocks.
int packed_depth(int C, int R);

// Elements of the packed (K, OC) operand: OC rounded up to whole kPackedBColumns blocks.
size_t packed_elements(int OC, int K);

// packed = [W | B | 0]^T (K, OC) in gemm_packed_b's layout, K = packed_depth(w.cols, R); W = w
// dequantized to bf16 (the values dequantize_rows_bf16 gives), B (OC, R) bf16, zeros after it
// and in the rows past OC of the last block. R = 0 (b null): W alone, as a frozen weight read
// by a plain linear (the LM head).
void pack_weight_and_b(uint16_t* packed, const QuantizedMatrix& w, const uint16_t* b, int R, int K);

// packed = W (OC, C) in gemm_packed_b's layout as the B of dx = dy @ W (K = OC, a multiple of
// kPackedBDepth; N = C): W dequantized to bf16, zeros in the columns past C of the last block.
void pack_weight(uint16_t* packed, const QuantizedMatrix& w);

}  // namespace loom::bf16
