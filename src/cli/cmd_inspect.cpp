// loom inspect DIR: the config, parameter count and resident bytes per quantization mode.
#include <cstdio>

#include "cli/command_line.h"
#include "cli/commands.h"
#include "io/hf_checkpoint.h"
#include "model/frozen_weights.h"

namespace loom::cli {

static std::string mib(double bytes) {
  char text[32];
  std::snprintf(text, sizeof text, "%.2f MiB", bytes / (1024.0 * 1024.0));
  return text;
}

int run_inspect(int argc, char** argv) {
  po::options_description options("inspect options");
  options.add_options()("model", po::value<std::string>()->required(), "HF checkpoint directory");
  po::positional_options_description positional;
  positional.add("model", 1);
  po::variables_map vm;
  if (!parse_command_line(argc, argv, "loom inspect DIR", options, positional, &vm)) return 0;

  const HfCheckpoint checkpoint(vm["model"].as<std::string>());  // validates config.json and every header
  const LlamaConfig& c = checkpoint.config();
  std::printf("checkpoint  %s (%s, %zu tensors)\n", checkpoint.dir().c_str(), c.architecture.c_str(),
              checkpoint.tensor_names().size());
  std::printf("shape       layers %d | hidden %d | intermediate %d | heads %d | kv heads %d | head_dim %d | vocab %d\n",
              c.num_hidden_layers, c.hidden_size, c.intermediate_size, c.num_attention_heads,
              c.num_key_value_heads, c.head_dim, c.vocab_size);
  std::printf("            tied embeddings %s | rms_norm_eps %g | rope_theta %g%s | max positions %d\n",
              c.tie_word_embeddings ? "yes" : "no", c.rms_norm_eps, c.rope_theta,
              c.rope_scaling.enabled ? " (llama3 scaling)" : "", c.max_position_embeddings);
  std::printf("tokens      bos %d | eos %d | pad %d\n", c.bos_token_id, c.eos_token_id, c.pad_token_id);
  std::printf("parameters  %lld\n", static_cast<long long>(llama_parameter_count(c)));
  std::printf("\nresident bytes of the frozen base (linears quantized; embeddings, norms, head in f32)\n");
  std::printf("  %-5s %14s %14s %14s %14s\n", "mode", "linears", "embeddings", "norms+head", "total");
  for (QuantMode mode : {QuantMode::F32, QuantMode::BF16, QuantMode::INT8, QuantMode::NF4}) {
    const FrozenBytes b = frozen_bytes(c, mode);
    std::printf("  %-5s %14s %14s %14s %14s\n", quant_mode_name(mode), mib(b.linears).c_str(),
                mib(b.embeddings).c_str(), mib(b.norms + b.lm_head).c_str(), mib(b.total()).c_str());
  }
  return 0;
}

}  // namespace loom::cli
