#include "inspect.h"

#include <boost/program_options.hpp>

#include <iostream>
#include <memory>

#include "core/check.h"
#include "data/hdf5_util.h"
#include "data/shard_reader.h"

namespace loom::prep {

namespace po = boost::program_options;

namespace {

bool ends_with(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

// One line, JSON-escaped with \uXXXX for non-ASCII (as Python's json.dumps writes it).
std::string json_quoted(const std::string& text) { return nlohmann::json(text).dump(-1, ' ', true); }

herr_t print_attribute(hid_t object, const char* name, const H5A_info_t*, void* path) {
  const std::string& where = *static_cast<const std::string*>(path);
  data::H5Handle attr(LOOM_H5_CHECK(H5Aopen(object, name, H5P_DEFAULT)), H5Aclose);
  data::H5Handle type(LOOM_H5_CHECK(H5Aget_type(attr.id())), H5Tclose);
  std::cout << "  " << name << " = ";
  if (H5Tget_class(type.id()) == H5T_INTEGER) {
    std::cout << data::h5_read_attr_int(object, name, where) << "\n";
  } else {
    const std::vector<std::string> values = data::h5_read_attr_strings(object, name, where);
    for (size_t i = 0; i < values.size(); ++i) std::cout << (i ? ", " : "") << json_quoted(values[i]);
    std::cout << "\n";
  }
  return 0;
}

void print_shard_attributes(const std::string& path) {
  data::require_shard_md5_beside(path);  // before HDF5 parses the file
  data::H5Handle file = data::h5_open_file_read(path);
  std::cout << path << "\n";
  std::string where = path;
  hsize_t index = 0;
  LOOM_H5_CHECK(H5Aiterate2(file.id(), H5_INDEX_NAME,
                            H5_ITER_INC, &index, print_attribute, &where));
}

void print_manifest(const std::string& path) {
  const data::Manifest m = data::read_manifest(path);
  std::cout << path << "\n  kind = " << data::shard_kind_name(m.info.kind);
  if (m.info.kind == data::ShardKind::sft) std::cout << " (" << data::sft_layout_name(m.info.layout) << ")";
  std::cout << "\n  " << data::row_length_attribute(m.info.kind) << " = " << m.info.row_len
            << "\n  tokenizer_md5 = " << m.info.tokenizer_md5 << "\n  vocab_size = " << m.info.vocab_size
            << "\n  template = " << json_quoted(m.info.template_name) << "\n  seed = " << m.info.seed << "\n";
  for (const auto& split : m.splits)
    std::cout << "  split " << split.name << ": " << split.shards.size() << " shards, "
              << split.totals.to_json().dump() << ", tail_tokens_dropped " << split.tail_tokens_dropped << "\n";
}

void print_record(data::ShardReader& reader, int64_t id, const data::Tokenizer& tokenizer) {
  const data::ShardInfo& info = reader.info();
  const int L = reader.row_len();
  std::cout << "record " << id << " of " << reader.num_records();
  if (!(info.kind == data::ShardKind::sft && info.layout != data::SftLayout::padded)) {
    const data::RecordSource source = reader.source(id);
    std::cout << " from " << source.file << ":" << source.line;
  }
  std::cout << "\n";
  std::vector<int32_t> tokens(L), other(L);
  auto decode = [&](const std::vector<int32_t>& ids, int begin, int end) {
    return json_quoted(tokenizer.decode(ids.data() + begin, static_cast<size_t>(end - begin)));
  };
  switch (info.kind) {
    case data::ShardKind::sft: {
      std::vector<int32_t> docs(L);
      std::vector<uint8_t> mask(L);
      reader.read_sft_block(id, tokens.data(), docs.data(), mask.data());
      const int length = reader.record_length(id);
      std::cout << "  tokens (" << length << "):";
      for (int t = 0; t < length; ++t) std::cout << " " << tokens[t];
      std::cout << "\n";
      if (info.layout == data::SftLayout::packed_docs) std::cout << "  documents in block: " << docs[L - 1] + 1 << "\n";
      int prompt = 0;
      while (info.layout == data::SftLayout::padded && prompt < length && !mask[prompt]) ++prompt;
      if (info.layout == data::SftLayout::padded) std::cout << "  prompt: " << decode(tokens, 0, prompt) << "\n";
      std::cout << "  decoded: " << decode(tokens, 0, length) << "\n";
      break;
    }
    case data::ShardKind::pairs: {
      data::PairLengths lengths;
      reader.read_pair(id, tokens.data(), other.data(), &lengths);
      std::cout << "  lengths: chosen " << lengths.chosen << ", rejected " << lengths.rejected << ", prompt "
                << lengths.prompt << "\n  prompt: " << decode(tokens, 0, lengths.prompt)
                << "\n  chosen: " << decode(tokens, lengths.prompt, lengths.chosen)
                << "\n  rejected: " << decode(other, lengths.prompt, lengths.rejected)
                << "\n  decoded: " << decode(tokens, 0, lengths.chosen) << "\n";
      break;
    }
    case data::ShardKind::prompts: {
      int32_t length = 0;
      std::string text;
      reader.read_prompt(id, tokens.data(), &length, &text);
      std::cout << "  length: " << length << "\n  text: " << json_quoted(text) << "\n  decoded: " << decode(tokens, 0, length)
                << "\n";
      break;
    }
  }
}

}  // namespace

int run_inspect(int argc, char** argv) {
  std::string path, split = "train", tokenizer_path;
  int64_t record = 0;
  po::options_description described("loom-prep inspect [options] PATH (manifest.json or a shard .h5)");
  // Every option shows its default, "(=...)", or says it is required.
  described.add_options()("help,h", "print this help")(
      "path", po::value(&path)->required(), "(required) manifest or shard; also given without --path")(
      "split", po::value(&split)->default_value(split), "split of a manifest to read (train | eval)")(
      "record", po::value(&record)->default_value(record), "record to decode (-1: none)")(
      "tokenizer", po::value(&tokenizer_path)->default_value("", "the one the shards name"),
      "tokenizer.json or tokenizer.model");
  po::positional_options_description positional;
  positional.add("path", 1);
  po::variables_map values;
  try {
    po::store(po::command_line_parser(argc, argv).options(described).positional(positional).run(), values);
    if (values.count("help")) {
      std::cout << described << "\n";
      return 0;
    }
    po::notify(values);
  } catch (const po::error& e) {
    LOOM_FAIL(e.what());
  }
  const bool is_manifest = ends_with(path, ".json");
  if (is_manifest)
    print_manifest(path);
  else
    print_shard_attributes(path);
  if (record < 0) return 0;
  const data::ShardInfo info = is_manifest ? data::read_manifest(path).info : data::ShardReader::open_shard(path).info();
  const data::Tokenizer tokenizer(tokenizer_path.empty() ? info.tokenizer_path : tokenizer_path);
  data::ShardReader reader = is_manifest ? data::ShardReader(path, split, info.kind, &tokenizer)
                                         : data::ShardReader::open_shard(path);
  LOOM_REQUIRE(tokenizer.model_md5() == info.tokenizer_md5, tokenizer.model_path(),
               ": is not the tokenizer the shards were made with (md5 ", info.tokenizer_md5, ")");
  print_record(reader, record, tokenizer);
  return 0;
}

}  // namespace loom::prep
