// ConstantLengthDataset packing: blocks cut by ranks that borrow the next ranks' heads are the
// blocks of the whole stream, for any split of the documents.
#include <gtest/gtest.h>

#include "core/rng.h"
#include "data/packing.h"

namespace {

using loom::data::PackedBlocks;
using loom::data::PackedStream;

std::vector<std::vector<int32_t>> random_documents(int count, uint64_t seed) {
  loom::Rng rng(seed);
  std::vector<std::vector<int32_t>> docs(count);
  for (auto& d : docs) {
    d.push_back(1);
    const int n = static_cast<int>(rng.below(40));
    for (int i = 0; i < n; ++i) d.push_back(3 + static_cast<int32_t>(rng.below(100)));
  }
  return docs;
}

// Packs docs[begin, end) as one rank of many would, given every rank's boundaries.
PackedBlocks pack_as_ranks(const std::vector<std::vector<int32_t>>& docs, const std::vector<int>& bounds, int L) {
  const int eos = 2;
  std::vector<PackedStream> streams(bounds.size() - 1);
  for (size_t r = 0; r + 1 < bounds.size(); ++r)
    for (int d = bounds[r]; d < bounds[r + 1]; ++d) streams[r].append_document(docs[d], eos, d);
  PackedBlocks all;
  int64_t start = 0;
  for (size_t r = 0; r < streams.size(); ++r) {
    PackedStream following;
    for (size_t next = r + 1; next < streams.size() && following.tokens.size() < size_t(L - 1); ++next) {
      const PackedStream head = streams[next].head(L - 1);
      following.tokens.insert(following.tokens.end(), head.tokens.begin(), head.tokens.end());
      following.doc.insert(following.doc.end(), head.doc.begin(), head.doc.end());
    }
    const PackedBlocks mine = loom::data::cut_blocks(streams[r], start, following, L);
    all.rows += mine.rows;
    all.tokens.insert(all.tokens.end(), mine.tokens.begin(), mine.tokens.end());
    all.doc_index.insert(all.doc_index.end(), mine.doc_index.begin(), mine.doc_index.end());
    start += static_cast<int64_t>(streams[r].tokens.size());
  }
  return all;
}

TEST(PrepPacking, ConstantLengthDatasetSemantics) {
  const std::vector<std::vector<int32_t>> docs = {{1, 10, 11}, {1, 12}, {1, 13, 14, 15}};
  // Stream: 1 10 11 2 | 1 12 2 | 1 13 14 15 2  (12 tokens) -> blocks of 5: two, tail of 2 dropped.
  const PackedBlocks b = pack_as_ranks(docs, {0, 3}, 5);
  ASSERT_EQ(b.rows, 2);
  EXPECT_EQ(b.tokens, (std::vector<int32_t>{1, 10, 11, 2, 1, 12, 2, 1, 13, 14}));
  EXPECT_EQ(b.doc_index, (std::vector<int32_t>{0, 0, 0, 0, 1, 0, 0, 1, 1, 1}));
}

TEST(PrepPacking, AnySplitOfDocumentsGivesTheSameBlocks) {
  const auto docs = random_documents(60, 5);
  for (int L : {1, 7, 64, 300}) {
    const PackedBlocks one = pack_as_ranks(docs, {0, 60}, L);
    for (const std::vector<int>& bounds : std::vector<std::vector<int>>{
             {0, 30, 60}, {0, 1, 2, 60}, {0, 0, 59, 60}, {0, 10, 11, 12, 13, 60}, {0, 60, 60}}) {
      const PackedBlocks many = pack_as_ranks(docs, bounds, L);
      EXPECT_EQ(many.rows, one.rows) << "L " << L << " ranks " << bounds.size() - 1;
      EXPECT_EQ(many.tokens, one.tokens) << "L " << L << " ranks " << bounds.size() - 1;
      EXPECT_EQ(many.doc_index, one.doc_index) << "L " << L << " ranks " << bounds.size() - 1;
    }
  }
}

}  // namespace
