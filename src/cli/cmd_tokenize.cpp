// loom tokenize: text to token ids with a model folder's tokenizer (tokenizer.json or tokenizer.model),
// or ids back to text with --decode.
#include <cstdio>
#include <iostream>
#include <iterator>
#include <sstream>

#include "cli/command_line.h"
#include "cli/commands.h"
#include "core/check.h"
#include "data/tokenizer.h"

namespace loom::cli {

namespace {

// Ids written as decimals separated by spaces, commas or newlines.
std::vector<int32_t> parse_ids(const std::string& text, const std::string& where) {
  std::vector<int32_t> ids;
  std::string token;
  std::istringstream in(text);
  const auto flush = [&] {
    if (token.empty()) return;
    size_t used = 0;
    long long id = -1;
    try {
      id = std::stoll(token, &used);
    } catch (const std::exception&) {
      used = 0;
    }
    LOOM_REQUIRE(used == token.size() && id >= 0 && id <= INT32_MAX, where, ": '", token, "' is not a token id");
    ids.push_back(static_cast<int32_t>(id));
    token.clear();
  };
  for (char c; in.get(c);) {
    if (c == ' ' || c == ',' || c == '\n' || c == '\t' || c == '\r') flush();
    else token += c;
  }
  flush();
  return ids;
}

std::string read_stdin() {
  std::ostringstream all;
  all << std::cin.rdbuf();
  return all.str();
}

}  // namespace

int run_tokenize(int argc, char** argv) {
  po::options_description options("tokenize options");
  options.add_options()
      ("model", po::value<std::string>()->required(), "model folder (its tokenizer.json, else tokenizer.model)")
      ("text", po::value<std::string>(), "the text (default: all of stdin)")
      ("decode", po::bool_switch(), "ids to text instead")
      ("ids", po::value<std::string>(), "with --decode: the ids, e.g. 1,15043 (default: stdin)")
      ("special", po::bool_switch(), "encode: add BOS/EOS as the tokenizer config says; decode: keep special tokens");
  po::variables_map vm;
  if (!parse_command_line(argc, argv, "loom tokenize --model DIR [--text T | --decode [--ids 1,2,3]] < stdin", options,
                          {}, &vm))
    return 0;
  const data::Tokenizer tokenizer(vm["model"].as<std::string>());
  const bool special = vm["special"].as<bool>();
  if (vm["decode"].as<bool>()) {
    LOOM_REQUIRE(!vm.count("text"), "--text: not with --decode (use --ids)");
    const std::string where = vm.count("ids") ? "--ids" : "stdin";
    const std::vector<int32_t> ids = parse_ids(vm.count("ids") ? vm["ids"].as<std::string>() : read_stdin(), where);
    const std::string text =
        special ? tokenizer.decode_with_special(ids.data(), ids.size()) : tokenizer.decode(ids.data(), ids.size());
    std::fwrite(text.data(), 1, text.size(), stdout);
    std::printf("\n");
    return 0;
  }
  LOOM_REQUIRE(!vm.count("ids"), "--ids: only with --decode");
  const std::string text = vm.count("text") ? vm["text"].as<std::string>() : read_stdin();
  const std::vector<int32_t> ids =
      special ? tokenizer.encode_with_special_tokens(text) : tokenizer.encode(text, /*add_bos=*/false);
  for (size_t i = 0; i < ids.size(); ++i) std::printf("%s%d", i > 0 ? " " : "", ids[i]);
  std::printf("\n");
  return 0;
}

}  // namespace loom::cli
