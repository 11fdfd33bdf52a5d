#include "options.h"

#include <boost/program_options.hpp>

#include <iostream>

#include "core/check.h"
#include "dist/thread_budget.h"

namespace loom::prep {

namespace po = boost::program_options;

bool parse_prep_options(data::ShardKind kind, int argc, char** argv, PrepOptions* o) {
  std::string layout = "packed", on_error = "fail", loss_on = "auto", text_unit = "line", model_dir;
  int seq_len = 1024, max_len = 512, max_prompt_len = 256;
  po::options_description described(std::string("loom-prep ") + data::shard_kind_name(kind) +
                                    " [options] INPUT...");
  // Every option shows its default, "(=...)", or says it is required.
  described.add_options()
      ("help,h", "print this help")
      ("input,i", po::value(&o->inputs)->multitoken(),
       "(required) JSON Lines or text files (gzip or plain); globs allowed; also given without --input")
      ("tokenizer", po::value(&o->tokenizer), "(required: this or --model) tokenizer.json or tokenizer.model")
      ("model", po::value(&model_dir),
       "(required: this or --tokenizer) model folder whose tokenizer to use (tokenizer.json, else tokenizer.model)")
      ("out,o", po::value(&o->out_dir)->required(), "(required) output folder for shards and manifest.json")
      ("template", po::value(&o->template_spec)->default_value(o->template_spec),
       "hh | stackllama | guanaco | text | trl (TRL's dataset formats, by their fields) | a string with {field} placeholders")
      ("chat-template", po::value(&o->chat_template)->default_value("", "the --model folder's, or the tokenizer's"),
       "trl: the chat template of conversational records: a model folder, tokenizer_config.json or .jinja file")
      ("loss-on", po::value(&loss_on)->default_value(loss_on),
       "sft padded: auto | all | completion | assistant (TRL's completion_only_loss / assistant_only_loss)")
      ("field", po::value(&o->text_field)->default_value(o->text_field), "the text field of template `text`")
      ("rejected-field", po::value(&o->rejected_field)->default_value(o->rejected_field),
       "the rejected answer of pairs (guanaco, user templates)")
      ("format", po::value(&o->format)->default_value(o->format),
       "auto (.txt and .txt.gz are text, the rest JSON Lines) | jsonl | text")
      ("text-unit", po::value(&text_unit)->default_value(text_unit),
       "a record of a text file: line (each non-blank line) | paragraph (blocks between blank lines) | "
       "file (the whole file)")
      ("layout", po::value(&layout)->default_value(layout), "sft rows: packed | packed_docs | padded")
      ("seq-len", po::value(&seq_len)->default_value(seq_len), "sft: tokens a row")
      ("max-len", po::value(&max_len)->default_value(max_len), "pairs: tokens of prompt + answer")
      ("max-prompt-len", po::value(&max_prompt_len)->default_value(max_prompt_len),
       "prompts: prompt tokens kept (from the end)")
      ("seed", po::value(&o->seed)->default_value(o->seed), "record shuffle seed")
      ("eval-fraction", po::value(&o->eval_fraction)->default_value(o->eval_fraction),
       "share of records in the eval split")
      ("on-error", po::value(&on_error)->default_value(on_error), "bad records: fail (stop the job) | skip (count them)")
      ("threads", po::value(&o->threads)->default_value(o->threads), "tokenizing threads a rank");
  po::positional_options_description positional;
  positional.add("input", -1);
  po::variables_map values;
  try {
    po::store(po::command_line_parser(argc, argv).options(described).positional(positional).run(), values);
    if (values.count("help")) {
      std::cout << described << "\n";
      return false;
    }
    po::notify(values);
  } catch (const po::error& e) {
    LOOM_FAIL(e.what());
  }
  o->kind = kind;
  LOOM_REQUIRE(o->tokenizer.empty() != model_dir.empty(), "command line: give exactly one of --tokenizer and --model");
  if (!model_dir.empty()) o->tokenizer = model_dir;  // data::Tokenizer picks the folder's file
  o->layout = data::parse_sft_layout(layout, "--layout");
  if (!values["text-unit"].defaulted()) o->text_unit = parse_text_unit(text_unit);
  LOOM_REQUIRE(on_error == "fail" || on_error == "skip", "--on-error: expected fail or skip, not '", on_error, "'");
  o->skip_bad_records = on_error == "skip";
  LOOM_REQUIRE(loss_on == "auto" || loss_on == "all" || loss_on == "completion" || loss_on == "assistant",
               "--loss-on: expected auto, all, completion or assistant, not '", loss_on, "'");
  if (loss_on != "auto") {
    LOOM_REQUIRE(kind == data::ShardKind::sft, "--loss-on: applies to sft only");
    o->loss_on = loss_on == "all" ? data::LossOn::all : loss_on == "completion" ? data::LossOn::completion
                                                                                 : data::LossOn::assistant;
    LOOM_REQUIRE(o->layout == data::SftLayout::padded || loss_on == "all", "--loss-on ", loss_on,
                 ": needs --layout padded (packed rows train on every token)");
    LOOM_REQUIRE(loss_on != "assistant" || o->template_spec == "trl",
                 "--loss-on assistant: needs --template trl (conversational records)");
  }
  LOOM_REQUIRE(o->chat_template.empty() || o->template_spec == "trl", "--chat-template: needs --template trl");
  o->row_len = kind == data::ShardKind::sft ? seq_len : kind == data::ShardKind::pairs ? max_len : max_prompt_len;
  LOOM_REQUIRE(o->row_len >= 2, "--", kind == data::ShardKind::sft ? "seq-len" : kind == data::ShardKind::pairs ? "max-len" : "max-prompt-len",
               ": must be at least 2");
  LOOM_REQUIRE(o->eval_fraction >= 0.0 && o->eval_fraction < 1.0, "--eval-fraction: must lie in [0, 1)");
  dist::checked_thread_count(o->threads, "--threads");
  return true;
}

}  // namespace loom::prep
