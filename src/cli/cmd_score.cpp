// loom score --model DIR [--adapter DIR] (--pairs MANIFEST | --texts FILE): rewards from a
// reward model, one JSON object per line, and a summary line on stderr.
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <memory>
#include <nlohmann/json.hpp>

#include "cli/command_line.h"
#include "cli/commands.h"
#include "cli/inference_quant.h"
#include "core/check.h"
#include "model/reward_scorer.h"
#include "train/reward_task.h"
#include "train/sft_task.h"

namespace loom::cli {

namespace {

// One text per line, or JSON Lines with a "text" field.
std::vector<std::string> read_texts(const std::string& path) {
  std::ifstream in(path);
  LOOM_REQUIRE(in.good(), path, ": cannot read");
  std::vector<std::string> texts;
  std::string line;
  for (int number = 1; std::getline(in, line); ++number) {
    if (line.empty()) continue;
    if (line[0] != '{') {
      texts.push_back(line);
      continue;
    }
    const nlohmann::json object = nlohmann::json::parse(line, nullptr, false);
    LOOM_REQUIRE(!object.is_discarded() && object.contains("text") && object["text"].is_string(), path, ":",
                 number, ": expected a JSON object with a string field \"text\"");
    texts.push_back(object["text"].get<std::string>());
  }
  LOOM_REQUIRE(!texts.empty(), path, ": no texts to score");
  return texts;
}

struct Output {
  std::FILE* file = stdout;
  std::string path, tmp;
  explicit Output(const std::string& out) : path(out) {
    if (out.empty()) return;
    tmp = out + ".tmp";
    file = std::fopen(tmp.c_str(), "wb");
    LOOM_REQUIRE(file != nullptr, tmp, ": cannot write");
  }
  void line(const nlohmann::json& object) { std::fprintf(file, "%s\n", object.dump().c_str()); }
  void commit() {  // the output appears under its name only when complete
    if (path.empty()) return;
    LOOM_REQUIRE(std::fclose(file) == 0, tmp, ": write failed");
    file = nullptr;
    std::filesystem::rename(tmp, path);
  }
  ~Output() {
    if (file && file != stdout) std::fclose(file);
  }
};

}  // namespace

int run_score(int argc, char** argv) {
  po::options_description options("score options");
  options.add_options()
      ("model", po::value<std::string>()->required(), "reward model checkpoint (merged), or the SFT model with --adapter")
      ("adapter", po::value<std::string>()->default_value(""), "a SEQ_CLS adapter (with its score head)")
      ("quant", po::value<std::string>()->default_value(""), "f32 | bf16 | int8 | nf4 (default: as stored)")
      ("pairs", po::value<std::string>()->default_value(""), "manifest.json of pairs shards")
      ("split", po::value<std::string>()->default_value("eval"), "which split of --pairs: train | eval")
      ("texts", po::value<std::string>()->default_value(""), "a file of texts (lines, or JSONL with \"text\")")
      ("tokenizer", po::value<std::string>()->default_value(""), "a tokenizer.json / tokenizer.model or a folder holding one (default: the model's)")
      ("batch-size", po::value<int>()->default_value(8), "sequences per forward")
      ("max-len", po::value<int>()->default_value(512), "tokens per text (longer texts keep their end)")
      ("out", po::value<std::string>()->default_value(""), "write the JSON lines here (default: stdout)");
  po::variables_map vm;
  if (!parse_command_line(argc, argv, "loom score --model DIR [--adapter DIR] (--pairs MANIFEST | --texts FILE)",
                          options, {}, &vm))
    return 0;
  const std::string pairs = vm["pairs"].as<std::string>(), texts_path = vm["texts"].as<std::string>();
  LOOM_REQUIRE(pairs.empty() != texts_path.empty(), "command line: give exactly one of --pairs and --texts");
  const int batch = vm["batch-size"].as<int>(), max_len = vm["max-len"].as<int>();
  LOOM_REQUIRE(batch > 0 && max_len > 0, "command line: --batch-size and --max-len must be positive");
  const std::string model_dir = vm["model"].as<std::string>();
  const std::string tokenizer_path = vm["tokenizer"].as<std::string>();
  std::unique_ptr<data::Tokenizer> tokenizer =
      tokenizer_path.empty() ? checkpoint_tokenizer(model_dir) : std::make_unique<data::Tokenizer>(tokenizer_path);
  const QuantMode quant = inference_quant_mode(vm["quant"].as<std::string>(), model_dir);
  Output out(vm["out"].as<std::string>());

  if (!pairs.empty()) {
    data::ShardReader reader(pairs, vm["split"].as<std::string>(), data::ShardKind::pairs, tokenizer.get());
    RewardScorer scorer(model_dir, vm["adapter"].as<std::string>(), quant,
                        2 * batch, reader.row_len());
    PairBatcher batcher(batch, reader.row_len());
    const PairScores s = score_pairs(scorer.model(), batcher, reader, scorer.context(), batch, 0, 1);
    double correct = 0, margin = 0;
    for (size_t i = 0; i < s.chosen.size(); ++i) {
      out.line({{"id", i}, {"chosen", s.chosen[i]}, {"rejected", s.rejected[i]}});
      correct += s.chosen[i] > s.rejected[i];
      margin += s.chosen[i] - s.rejected[i];
    }
    out.commit();
    const double n = double(std::max<size_t>(1, s.chosen.size()));
    std::fprintf(stderr, "scored %zu pairs: accuracy %.4f, mean margin %.4f\n", s.chosen.size(), correct / n, margin / n);
    return 0;
  }
  const std::vector<std::string> texts = read_texts(texts_path);
  std::vector<std::vector<int>> sequences;
  for (const std::string& text : texts) {
    const std::vector<int32_t> ids = tokenizer->encode(text, /*add_bos=*/true);
    sequences.emplace_back(ids.begin(), ids.end());
  }
  RewardScorer scorer(model_dir, vm["adapter"].as<std::string>(), quant,
                      batch, max_len);
  const std::vector<float> rewards = scorer.score(sequences);
  double sum = 0, squares = 0;
  for (size_t i = 0; i < rewards.size(); ++i) {
    out.line({{"text", texts[i]}, {"reward", rewards[i]}});
    sum += rewards[i];
    squares += double(rewards[i]) * rewards[i];
  }
  out.commit();
  const double mean = sum / rewards.size();
  std::fprintf(stderr, "scored %zu texts: reward mean %.4f, std %.4f\n", rewards.size(), mean,
               std::sqrt(std::max(0.0, squares / rewards.size() - mean * mean)));
  return 0;
}

}  // namespace loom::cli
