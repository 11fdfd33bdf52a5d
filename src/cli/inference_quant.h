// The base precision of `loom generate` and `loom score`: what --quant asks for, else the precision the
// checkpoint stores (config.json's torch_dtype: bfloat16 -> bf16; float32 and float16 -> f32), so that
// inference matches transformers on the same folder unless quantization is asked for.
#pragma once

#include <string>

#include "quant/quantized_matrix.h"

namespace loom::cli {

// `quant_option` is --quant's value ("" when not given); `model_dir` holds config.json.
QuantMode inference_quant_mode(const std::string& quant_option, const std::string& model_dir);

}  // namespace loom::cli
