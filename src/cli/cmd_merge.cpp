// loom merge --base DIR --adapter DIR --out DIR: folds a PEFT LoRA adapter (and a SEQ_CLS head)
// into a full HF checkpoint, the start of the next pipeline stage.
#include <cctype>
#include <cstdio>
#include <string>

#include "cli/command_line.h"
#include "cli/commands.h"
#include "core/check.h"
#include "io/hf_config.h"
#include "model/merge.h"

namespace loom::cli {

// "2GB" (10^9, as transformers' max_shard_size), "500MiB" (2^20), "123" bytes; "0" = no sharding.
static size_t parse_byte_size(const std::string& text) {
  size_t digits = 0;
  while (digits < text.size() && std::isdigit(static_cast<unsigned char>(text[digits]))) ++digits;
  std::string unit = text.substr(digits);
  for (char& ch : unit) ch = static_cast<char>(std::toupper(static_cast<unsigned char>(ch)));
  const struct { const char* name; double bytes; } units[] = {
      {"", 1.0}, {"B", 1.0}, {"KB", 1e3}, {"MB", 1e6}, {"GB", 1e9}, {"TB", 1e12},
      {"KIB", 1024.0}, {"MIB", 1048576.0}, {"GIB", 1073741824.0}, {"TIB", 1099511627776.0}};
  for (const auto& u : units)
    if (digits > 0 && digits <= 15 && unit == u.name) return static_cast<size_t>(std::stod(text.substr(0, digits)) * u.bytes);
  LOOM_FAIL("--max-shard-size: expected a size such as 2GB, 500MB, 4GiB or a byte count, got '", text, "'");
}

int run_merge(int argc, char** argv) {
  po::options_description options(
      "Writes W + scale * B @ A for every adapted linear, computed in f32 from the base checkpoint's\n"
      "original tensors (not the quantized weights training ran on), and copies every other tensor.\n"
      "A SEQ_CLS adapter's head becomes score.weight of a LlamaForSequenceClassification checkpoint.\n\n"
      "merge options");
  options.add_options()
      ("base", po::value<std::string>()->required(), "the base HF checkpoint the adapter was trained on")
      ("adapter", po::value<std::string>()->required(), "PEFT LoRA adapter directory (CAUSAL_LM, or SEQ_CLS with its score head)")
      ("out", po::value<std::string>()->required(), "output HF checkpoint directory (written atomically)")
      ("dtype", po::value<std::string>()->default_value(""), "stored dtype: f32 | bf16 (default: f32 for a float32 base, else bf16)")
      ("max-shard-size", po::value<std::string>()->default_value("5GB"),
       "shard the safetensors past this size (transformers' default 5GB; 0 = one file)");
  const std::string usage = "loom merge --base DIR --adapter DIR --out DIR [--dtype bf16|f32] [--max-shard-size 2GB]";
  po::variables_map vm;
  if (!parse_command_line(argc, argv, usage, options, {}, &vm)) return 0;

  const std::string base = vm["base"].as<std::string>();
  std::string dtype = vm["dtype"].as<std::string>();
  if (dtype.empty()) dtype = load_llama_config(base + "/config.json").torch_dtype == "float32" ? "f32" : "bf16";
  LOOM_REQUIRE(dtype == "f32" || dtype == "bf16", "--dtype: expected f32 or bf16, got '", dtype, "'");
  MergeOptions merge;
  merge.stored = dtype == "bf16" ? DType::BF16 : DType::F32;
  merge.max_shard_bytes = parse_byte_size(vm["max-shard-size"].as<std::string>());
  const std::string out = vm["out"].as<std::string>();
  const MergeSummary s = merge_adapter(base, vm["adapter"].as<std::string>(), out, merge);
  std::string head;
  if (s.head_rows > 0) head = ", score head of " + std::to_string(s.head_rows) + " label(s) from the adapter";
  if (s.trained_lm_head) head = ", lm_head from the adapter";
  std::printf("wrote %s: %s, %d merged linears, %d copied tensors%s, stored %s\n", out.c_str(),
              s.config.architecture.c_str(), s.merged_linears, s.copied_tensors, head.c_str(), dtype.c_str());
  return 0;
}

}  // namespace loom::cli
