#include "data/tokenizer.h"

#include <sentencepiece_processor.h>

#include <fstream>
#include <sstream>

#include "core/check.h"
#include "data/md5.h"

namespace loom::data {

Tokenizer::Tokenizer(const std::string& model_path)
    : processor_(std::make_unique<sentencepiece::SentencePieceProcessor>()), model_path_(model_path) {
  std::ifstream in(model_path, std::ios::binary);
  LOOM_REQUIRE(in, model_path, ": cannot load tokenizer (file cannot be opened)");
  std::ostringstream bytes;
  bytes << in.rdbuf();
  const std::string serialized = bytes.str();
  const auto status = processor_->LoadFromSerializedProto(serialized);
  LOOM_REQUIRE(status.ok(), model_path, ": cannot load tokenizer (", status.ToString(), ")");
  model_md5_ = md5_hex(serialized);
  vocab_size_ = processor_->GetPieceSize();
  bos_id_ = processor_->bos_id();
  eos_id_ = processor_->eos_id();
  pad_id_ = processor_->pad_id();
  LOOM_REQUIRE(bos_id_ >= 0 && eos_id_ >= 0, model_path, ": tokenizer has no BOS or EOS piece");
}

Tokenizer::~Tokenizer() = default;

std::vector<int32_t> Tokenizer::encode(std::string_view text, bool add_bos) const {
  std::vector<int> ids;
  const auto status = processor_->Encode(absl::string_view(text.data(), text.size()), &ids);
  LOOM_REQUIRE(status.ok(), model_path_, ": cannot encode text (", status.ToString(), ")");
  std::vector<int32_t> out;
  out.reserve(ids.size() + 1);
  if (add_bos) out.push_back(bos_id_);
  out.insert(out.end(), ids.begin(), ids.end());
  return out;
}

std::string Tokenizer::decode(const int32_t* ids, size_t count) const {
  std::vector<int> kept;
  kept.reserve(count);
  for (size_t i = 0; i < count; ++i) {
    const int id = ids[i];
    if (id == bos_id_ || id == eos_id_ || id == pad_id_) continue;
    LOOM_REQUIRE(id >= 0 && id < vocab_size_, model_path_, ": token id ", id, " is outside the vocabulary of ",
                 vocab_size_);
    kept.push_back(id);
  }
  std::string text;
  const auto status = processor_->Decode(kept, &text);
  LOOM_REQUIRE(status.ok(), model_path_, ": cannot decode ids (", status.ToString(), ")");
  return text;
}

}  // namespace loom::data
