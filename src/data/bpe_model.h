// tokenizer.json's "model" of type BPE: a vocabulary of pieces and a ranked list of merges, applied
// to one pre-tokenized word as tokenizers' BPE does (lowest rank first, leftmost first among equal
// ranks), with byte_fallback (<0xXX> pieces for characters not in the vocabulary), unk_token,
// fuse_unk and ignore_merges. Merges come as "a b" strings or ["a", "b"] pairs. Words already
// encoded are cached.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include <nlohmann/json_fwd.hpp>

namespace loom::data {

class WordCache;

class BpeModel {
 public:
  // `spec` is tokenizer.json's "model"; `where` names the file and key in errors.
  BpeModel(const nlohmann::json& spec, const std::string& where);
  ~BpeModel();
  BpeModel(const BpeModel&) = delete;
  BpeModel& operator=(const BpeModel&) = delete;

  // Appends the ids of one non-empty word. Safe to call from several threads.
  void append_word_ids(std::string_view word, std::vector<int32_t>* out) const;

  // The id of a piece, or -1.
  int32_t piece_id(std::string_view piece) const;
  // The piece of an id, or null when the vocabulary has no such id.
  const std::string* piece_of(int32_t id) const;
  // One more than the largest id of the vocabulary.
  int32_t id_end() const { return static_cast<int32_t>(pieces_.size()); }

 private:
  struct Merge {
    int32_t rank, merged_id;
  };
  void merge_word(std::string_view word, std::vector<int32_t>* out) const;
  const Merge* find_merge(int32_t left, int32_t right) const;

  std::unordered_map<std::string, int32_t> vocab_;
  std::vector<std::string> pieces_;  // by id; empty where no piece has the id
  std::vector<bool> has_piece_;
  std::unordered_map<uint64_t, Merge> merges_;  // (left id << 32 | right id)
  int32_t unk_id_ = -1;
  std::vector<int32_t> byte_ids_;  // <0xXX> by byte, -1 where missing; empty without byte_fallback
  bool fuse_unk_ = false, ignore_merges_ = false;
  std::unique_ptr<WordCache> cache_;
};

}  // namespace loom::data
