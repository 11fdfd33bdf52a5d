// loom init-model: a random-init HF checkpoint of any Llama shape (a preset or a config.json).
#include <cstdio>
#include <filesystem>
#include <memory>

#include "cli/command_line.h"
#include "cli/commands.h"
#include "core/check.h"
#include "data/tokenizer.h"
#include "io/hf_config.h"
#include "io/tokenizer_files.h"
#include "model/random_init.h"

namespace loom::cli {

int run_init_model(int argc, char** argv) {
  std::string presets;
  for (const std::string& p : llama_preset_names()) presets += (presets.empty() ? "" : ", ") + p;
  po::options_description options("init-model options");
  options.add_options()
      ("config", po::value<std::string>()->required(), ("a preset (" + presets + ") or a config.json path").c_str())
      ("out", po::value<std::string>()->required(), "output directory (written atomically)")
      ("seed", po::value<uint64_t>()->default_value(0), "random seed")
      ("init-std", po::value<float>()->default_value(0.02f),
       "std of the random linears and embeddings (transformers' initializer_range; 0.15 for tiny demo models)")
      ("dtype", po::value<std::string>()->default_value("f32"), "stored dtype: f32 | bf16")
      ("tokenizer", po::value<std::string>()->default_value(""), "the tokenizer: a model folder, or a tokenizer.json / tokenizer.model (its tokenizer files are copied in)");
  po::variables_map vm;
  if (!parse_command_line(argc, argv, "loom init-model --config tiny --out DIR [--seed S]", options, {}, &vm))
    return 0;

  const std::string spec = vm["config"].as<std::string>();
  const LlamaConfig config = is_llama_preset(spec) ? llama_preset(spec) : load_llama_config(spec);
  const std::string dtype = vm["dtype"].as<std::string>();
  LOOM_REQUIRE(dtype == "f32" || dtype == "bf16", "--dtype: expected f32 or bf16, got '", dtype, "'");
  const std::string tokenizer = vm["tokenizer"].as<std::string>();
  LOOM_REQUIRE(tokenizer.empty() || std::filesystem::exists(tokenizer), tokenizer, ": no such file or folder");
  const std::string out = vm["out"].as<std::string>();
  std::unique_ptr<TokenizerFiles> tokenizer_files;
  if (!tokenizer.empty()) {
    const data::Tokenizer check(tokenizer);
    LOOM_REQUIRE(check.vocab_size() <= config.vocab_size, tokenizer, ": ", check.vocab_size(),
                 " tokens but the model's vocab_size is ", config.vocab_size);
    tokenizer_files = std::make_unique<TokenizerFiles>(tokenizer, out + ".tokenizer.tmp",
                                                       config.architecture != "LlamaForSequenceClassification");
  }
  write_random_checkpoint(out, config, vm["seed"].as<uint64_t>(), dtype == "bf16" ? DType::BF16 : DType::F32,
                          vm["init-std"].as<float>(), /*norm_jitter=*/0.0f,
                          tokenizer_files ? tokenizer_files->paths() : std::vector<std::string>{});
  std::printf("wrote %s: %lld parameters (%s)\n", out.c_str(),
              static_cast<long long>(llama_parameter_count(config)), dtype.c_str());
  return 0;
}

}  // namespace loom::cli
