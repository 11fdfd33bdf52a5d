#include "data/bpe_model.h"

#include <nlohmann/json.hpp>
#include <queue>

#include "core/check.h"
#include "data/utf8_text.h"
#include "data/word_cache.h"

namespace loom::data {

namespace {

constexpr size_t kCachedWords = size_t{1} << 18;
constexpr size_t kLongestCachedWord = 256;  // bytes; whole texts (ByteLevel without regex) are not cached

uint64_t pair_key(int32_t left, int32_t right) { return (uint64_t(uint32_t(left)) << 32) | uint32_t(right); }

bool optional_bool(const nlohmann::json& spec, const char* key, const std::string& where) {
  if (!spec.contains(key) || spec[key].is_null()) return false;
  LOOM_REQUIRE(spec[key].is_boolean(), where, ".", key, ": expected true or false");
  return spec[key].get<bool>();
}

void require_absent_or_empty(const nlohmann::json& spec, const char* key, const std::string& where) {
  const bool empty = !spec.contains(key) || spec[key].is_null() || (spec[key].is_string() && spec[key].get<std::string>().empty());
  LOOM_REQUIRE(empty, where, ".", key, ": unsupported (loom's BPE reads models without it)");
}

}  // namespace

BpeModel::BpeModel(const nlohmann::json& spec, const std::string& where)
    : cache_(std::make_unique<WordCache>(kCachedWords)) {
  LOOM_REQUIRE(spec.is_object() && spec.value("type", std::string()) == "BPE", where, ".type: unsupported model type '",
               spec.is_object() && spec.contains("type") ? spec["type"].dump() : std::string("(none)"),
               "' (loom reads BPE)");
  LOOM_REQUIRE(!spec.contains("dropout") || spec["dropout"].is_null(), where,
               ".dropout: unsupported (BPE dropout makes encoding random)");
  require_absent_or_empty(spec, "continuing_subword_prefix", where);
  require_absent_or_empty(spec, "end_of_word_suffix", where);
  fuse_unk_ = optional_bool(spec, "fuse_unk", where);
  ignore_merges_ = optional_bool(spec, "ignore_merges", where);

  LOOM_REQUIRE(spec.contains("vocab") && spec["vocab"].is_object(), where, ".vocab: expected an object");
  for (const auto& [piece, id] : spec["vocab"].items()) {
    LOOM_REQUIRE(id.is_number_integer() && id.get<int64_t>() >= 0 && id.get<int64_t>() < (int64_t(1) << 30), where,
                 ".vocab[\"", piece, "\"]: expected a non-negative id");
    const auto n = static_cast<int32_t>(id.get<int64_t>());
    vocab_[piece] = n;
    if (size_t(n) >= pieces_.size()) {
      pieces_.resize(size_t(n) + 1);
      has_piece_.resize(size_t(n) + 1, false);
    }
    pieces_[size_t(n)] = piece;
    has_piece_[size_t(n)] = true;
  }

  if (spec.contains("unk_token") && !spec["unk_token"].is_null()) {
    LOOM_REQUIRE(spec["unk_token"].is_string(), where, ".unk_token: expected a string");
    unk_id_ = piece_id(spec["unk_token"].get<std::string>());
    LOOM_REQUIRE(unk_id_ >= 0, where, ".unk_token: '", spec["unk_token"].get<std::string>(), "' is not in the vocab");
  }
  if (optional_bool(spec, "byte_fallback", where)) {
    byte_ids_.assign(256, -1);
    for (int b = 0; b < 256; ++b) {
      char name[8];
      std::snprintf(name, sizeof name, "<0x%02X>", b);
      byte_ids_[size_t(b)] = piece_id(name);
    }
  }

  LOOM_REQUIRE(spec.contains("merges") && spec["merges"].is_array(), where, ".merges: expected an array");
  const nlohmann::json& merges = spec["merges"];
  merges_.reserve(merges.size());
  for (size_t rank = 0; rank < merges.size(); ++rank) {
    const nlohmann::json& m = merges[rank];
    std::string left, right;
    if (m.is_string()) {  // "a b", the layout before tokenizers 0.20
      const std::string s = m.get<std::string>();
      const size_t space = s.find(' ');
      LOOM_REQUIRE(space != std::string::npos && s.find(' ', space + 1) == std::string::npos, where, ".merges[", rank,
                   "]: expected two pieces separated by one space");
      left = s.substr(0, space);
      right = s.substr(space + 1);
    } else {
      LOOM_REQUIRE(m.is_array() && m.size() == 2 && m[0].is_string() && m[1].is_string(), where, ".merges[", rank,
                   "]: expected \"a b\" or [\"a\", \"b\"]");
      left = m[0].get<std::string>();
      right = m[1].get<std::string>();
    }
    const int32_t a = piece_id(left), b = piece_id(right), merged = piece_id(left + right);
    LOOM_REQUIRE(a >= 0 && b >= 0 && merged >= 0, where, ".merges[", rank, "]: '", left, "', '", right,
                 "' or their concatenation is not in the vocab");
    merges_.insert_or_assign(pair_key(a, b), Merge{static_cast<int32_t>(rank), merged});
  }
}

BpeModel::~BpeModel() = default;

int32_t BpeModel::piece_id(std::string_view piece) const {
  const auto it = vocab_.find(std::string(piece));
  return it == vocab_.end() ? -1 : it->second;
}

const std::string* BpeModel::piece_of(int32_t id) const {
  return id >= 0 && size_t(id) < pieces_.size() && has_piece_[size_t(id)] ? &pieces_[size_t(id)] : nullptr;
}

const BpeModel::Merge* BpeModel::find_merge(int32_t left, int32_t right) const {
  const auto it = merges_.find(pair_key(left, right));
  return it == merges_.end() ? nullptr : &it->second;
}

void BpeModel::append_word_ids(std::string_view word, std::vector<int32_t>* out) const {
  if (ignore_merges_) {
    const int32_t id = piece_id(word);
    if (id >= 0) {
      out->push_back(id);
      return;
    }
  }
  const bool cached = word.size() <= kLongestCachedWord;
  if (cached && cache_->append_ids(word, out)) return;
  const size_t before = out->size();
  merge_word(word, out);
  if (cached) cache_->insert(word, out->data() + before, out->size() - before);
}

void BpeModel::merge_word(std::string_view word, std::vector<int32_t>* out) const {
  struct Symbol {
    int32_t id;
    int prev, next;
    bool removed;
  };
  std::vector<Symbol> symbols;
  symbols.reserve(word.size());
  const auto add = [&](int32_t id) {
    const int n = static_cast<int>(symbols.size());
    symbols.push_back({id, n - 1, -1, false});
    if (n > 0) symbols[size_t(n) - 1].next = n;
  };
  bool pending_unk = false;  // an unknown run not yet added (fuse_unk)
  for (size_t at = 0; at < word.size();) {
    size_t n = utf8_sequence_length(word, at);
    if (n == 0) n = 1;  // the text is valid UTF-8; a stray byte stands alone
    const std::string_view ch = word.substr(at, n);
    at += n;
    const int32_t id = piece_id(ch);
    if (id >= 0) {
      if (pending_unk) add(unk_id_);
      pending_unk = false;
      add(id);
      continue;
    }
    if (!byte_ids_.empty()) {
      bool all = true;
      for (char c : ch) all = all && byte_ids_[static_cast<unsigned char>(c)] >= 0;
      if (all) {
        for (char c : ch) add(byte_ids_[static_cast<unsigned char>(c)]);
        continue;  // as tokenizers does, a pending unknown run stays pending across byte pieces
      }
    }
    if (unk_id_ < 0) continue;  // tokenizers drops characters it cannot represent
    if (pending_unk && !fuse_unk_) add(unk_id_);
    pending_unk = true;
  }
  if (pending_unk) add(unk_id_);

  struct Candidate {
    int32_t rank;
    int pos;
    int32_t merged_id;
    bool operator>(const Candidate& o) const { return rank != o.rank ? rank > o.rank : pos > o.pos; }
  };
  std::priority_queue<Candidate, std::vector<Candidate>, std::greater<>> queue;
  for (size_t i = 0; i + 1 < symbols.size(); ++i)
    if (const Merge* m = find_merge(symbols[i].id, symbols[i + 1].id))
      queue.push({m->rank, static_cast<int>(i), m->merged_id});
  while (!queue.empty()) {
    const Candidate top = queue.top();
    queue.pop();
    Symbol& left = symbols[size_t(top.pos)];
    if (left.removed || left.next < 0) continue;
    Symbol& right = symbols[size_t(left.next)];
    const Merge* current = find_merge(left.id, right.id);
    if (current == nullptr || current->merged_id != top.merged_id) continue;  // a stale candidate
    left.id = top.merged_id;
    right.removed = true;
    left.next = right.next;
    if (right.next >= 0) symbols[size_t(right.next)].prev = top.pos;
    if (left.prev >= 0)
      if (const Merge* m = find_merge(symbols[size_t(left.prev)].id, left.id))
        queue.push({m->rank, left.prev, m->merged_id});
    if (left.next >= 0)
      if (const Merge* m = find_merge(left.id, symbols[size_t(left.next)].id))
        queue.push({m->rank, top.pos, m->merged_id});
  }
  for (const Symbol& s : symbols)
    if (!s.removed) out->push_back(s.id);
}

}  // namespace loom::data
