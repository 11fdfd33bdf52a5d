#include "data/word_cache.h"

#include <algorithm>
#include <bit>
#include <cstring>
#include <functional>

namespace loom::data {

namespace {

constexpr size_t kFirstSlots = 64;

}  // namespace

WordCache::WordCache(size_t capacity)
    : shard_words_(std::max<size_t>(1, capacity / kShards)), shard_arena_bytes_(shard_words_ * 64) {
  for (Shard& shard : shards_) shard.slots.resize(std::min<size_t>(kFirstSlots, std::bit_ceil(2 * shard_words_)));
}

uint64_t WordCache::hash_of(std::string_view word) { return std::hash<std::string_view>{}(word) | 1; }

WordCache::Slot& WordCache::find_slot(Shard& shard, uint64_t hash, std::string_view word) {
  const size_t mask = shard.slots.size() - 1;
  for (size_t at = hash & mask;; at = (at + 1) & mask) {
    Slot& slot = shard.slots[at];
    if (slot.hash == 0) return slot;
    if (slot.hash == hash && slot.word_bytes == word.size() &&
        std::memcmp(shard.arena.data() + slot.offset, word.data(), word.size()) == 0)
      return slot;
  }
}

bool WordCache::append_ids(std::string_view word, std::vector<int32_t>* out) {
  const uint64_t hash = hash_of(word);
  Shard& shard = shard_of(hash);
  std::lock_guard lock(shard.mutex);
  const Slot& slot = find_slot(shard, hash, word);
  if (slot.hash == 0) return false;
  const size_t before = out->size();
  out->resize(before + slot.id_count);
  std::memcpy(out->data() + before, shard.arena.data() + slot.offset + slot.word_bytes,
              slot.id_count * sizeof(int32_t));
  return true;
}

void WordCache::insert(std::string_view word, const int32_t* ids, size_t count) {
  const size_t bytes = word.size() + count * sizeof(int32_t);
  if (bytes > shard_arena_bytes_) return;
  const uint64_t hash = hash_of(word);
  Shard& shard = shard_of(hash);
  std::lock_guard lock(shard.mutex);
  if (shard.words >= shard_words_ || shard.arena.size() + bytes > shard_arena_bytes_) {
    std::fill(shard.slots.begin(), shard.slots.end(), Slot{});
    shard.arena.clear();
    shard.words = 0;
  }
  if (2 * (shard.words + 1) > shard.slots.size()) grow(shard);
  Slot& slot = find_slot(shard, hash, word);
  if (slot.hash != 0) return;  // another thread cached it first
  slot = Slot{hash, static_cast<uint32_t>(shard.arena.size()), static_cast<uint32_t>(word.size()),
              static_cast<uint32_t>(count)};
  shard.arena.insert(shard.arena.end(), word.begin(), word.end());
  const char* id_bytes = reinterpret_cast<const char*>(ids);
  shard.arena.insert(shard.arena.end(), id_bytes, id_bytes + count * sizeof(int32_t));
  ++shard.words;
}

void WordCache::grow(Shard& shard) {
  std::vector<Slot> old(2 * shard.slots.size());
  old.swap(shard.slots);
  const size_t mask = shard.slots.size() - 1;
  for (const Slot& slot : old) {
    if (slot.hash == 0) continue;
    size_t at = slot.hash & mask;
    while (shard.slots[at].hash != 0) at = (at + 1) & mask;
    shard.slots[at] = slot;
  }
}

size_t WordCache::size() {
  size_t words = 0;
  for (Shard& shard : shards_) {
    std::lock_guard lock(shard.mutex);
    words += shard.words;
  }
  return words;
}

}  // namespace loom::data
