#include "cli/inference_quant.h"

#include <filesystem>

#include "io/hf_config.h"

namespace loom::cli {

QuantMode inference_quant_mode(const std::string& quant_option, const std::string& model_dir) {
  if (!quant_option.empty()) return parse_quant_mode(quant_option);
  const LlamaConfig config = load_llama_config((std::filesystem::path(model_dir) / "config.json").string());
  return config.torch_dtype == "bfloat16" ? QuantMode::BF16 : QuantMode::F32;
}

}  // namespace loom::cli
