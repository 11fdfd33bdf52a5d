#include "data/packing.h"

#include <algorithm>

#include "core/check.h"

namespace loom::data {

void PackedStream::append_document(const std::vector<int32_t>& document, int32_t eos_id, int64_t doc_index) {
  tokens.insert(tokens.end(), document.begin(), document.end());
  tokens.push_back(eos_id);
  doc.insert(doc.end(), document.size() + 1, doc_index);
}

PackedStream PackedStream::head(size_t count) const {
  const size_t n = std::min(count, tokens.size());
  return PackedStream{{tokens.begin(), tokens.begin() + n}, {doc.begin(), doc.begin() + n}};
}

PackedBlocks cut_blocks(const PackedStream& local, int64_t start, const PackedStream& following, int block_len) {
  LOOM_ASSERT(block_len > 0 && local.tokens.size() == local.doc.size());
  const int64_t L = block_len;
  const int64_t n = static_cast<int64_t>(local.tokens.size());
  const int64_t available = n + static_cast<int64_t>(following.tokens.size());
  // First block starting at or after `start`, relative to `start`.
  const int64_t first = (start + L - 1) / L * L - start;
  PackedBlocks blocks;
  for (int64_t offset = first; offset < n && offset + L <= available; offset += L) {
    const size_t row = blocks.tokens.size();
    blocks.tokens.resize(row + L);
    blocks.doc_index.resize(row + L);
    int64_t first_doc = 0;
    for (int64_t t = 0; t < L; ++t) {
      const int64_t at = offset + t;
      const bool inside = at < n;
      const int32_t token = inside ? local.tokens[at] : following.tokens[at - n];
      const int64_t doc = inside ? local.doc[at] : following.doc[at - n];
      if (t == 0) first_doc = doc;
      blocks.tokens[row + t] = token;
      blocks.doc_index[row + t] = static_cast<int32_t>(doc - first_doc);
    }
    ++blocks.rows;
  }
  return blocks;
}

}  // namespace loom::data
