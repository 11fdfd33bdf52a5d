// Command-line options of `loom-prep sft|pairs|prompts`.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "data/shard_format.h"
#include "data/templates.h"
#include "input_files.h"

namespace loom::prep {

struct PrepOptions {
  data::ShardKind kind = data::ShardKind::sft;
  data::SftLayout layout = data::SftLayout::packed;
  int row_len = 0;  // --seq-len, --max-len or --max-prompt-len
  std::vector<std::string> inputs;
  std::string tokenizer, out_dir, format = "auto";  // tokenizer: a file, or the --model folder
  std::optional<TextUnit> text_unit;                // --text-unit; unset: line
  std::string template_spec = "text", text_field = "text", rejected_field = "rejected";
  uint64_t seed = 0;
  double eval_fraction = 0.0;
  std::string chat_template;            // --chat-template: model folder, tokenizer_config.json or .jinja ("": beside the tokenizer)
  std::optional<data::LossOn> loss_on;  // --loss-on; unset: auto
  bool skip_bad_records = false;  // --on-error skip
  int threads = 1;
};

// Parses argv after the kind word; returns false when --help was printed.
bool parse_prep_options(data::ShardKind kind, int argc, char** argv, PrepOptions* options);

}  // namespace loom::prep
