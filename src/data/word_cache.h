// A bounded map from words to their token ids, shared by the threads that tokenize: lookups and
// insertions lock one of many shards, so threads rarely wait on each other. Each shard is an
// open-addressing table over one byte arena holding every word followed by its ids, so a lookup
// touches one slot and one run of the arena. What a "word" is, and why its ids do not depend on its
// neighbours, is the tokenizer's business (sentencepiece_tokenizer.cpp, bpe_model.cpp).
#pragma once

#include <array>
#include <cstdint>
#include <mutex>
#include <string_view>
#include <vector>

namespace loom::data {

class WordCache {
 public:
  // Holds at most about `capacity` words in at most about `capacity` * 64 bytes of arena; a full
  // shard is emptied before it takes another word.
  explicit WordCache(size_t capacity);
  WordCache(const WordCache&) = delete;
  WordCache& operator=(const WordCache&) = delete;

  // Appends the ids of `word` to `out` and returns true when the word is held; false leaves `out` as is.
  bool append_ids(std::string_view word, std::vector<int32_t>* out);
  // Remembers ids[0, count) as the ids of `word` (unless the pair alone would overfill a shard).
  void insert(std::string_view word, const int32_t* ids, size_t count);
  // Words held now.
  size_t size();

 private:
  struct Slot {
    uint64_t hash = 0;  // 0: empty; a word's hash has its lowest bit set
    uint32_t offset = 0;
    uint32_t word_bytes = 0;
    uint32_t id_count = 0;
  };
  struct Shard {
    std::mutex mutex;
    std::vector<Slot> slots;  // a power of two, at least twice the words held; grows up to max_slots_
    std::vector<char> arena;  // word bytes, then ids, for each word held
    size_t words = 0;
  };
  static constexpr size_t kShards = 64;

  static uint64_t hash_of(std::string_view word);
  Shard& shard_of(uint64_t hash) { return shards_[(hash >> 56) % kShards]; }
  // The slot holding `word`, or the empty slot where it would go.
  static Slot& find_slot(Shard& shard, uint64_t hash, std::string_view word);
  // Doubles the table (small tables stay in the processor's caches; large ones are grown into).
  static void grow(Shard& shard);

  size_t shard_words_, shard_arena_bytes_;
  std::array<Shard, kShards> shards_;
};

}  // namespace loom::data
