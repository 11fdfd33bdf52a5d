// TRL ConstantLengthDataset packing over a document stream split between ranks.
//
// The global stream is every document's tokens followed by EOS, in record order; block b is
// stream tokens [b L, (b + 1) L); a last block shorter than L is dropped. A rank holds the
// stream tokens [start, start + n) of its documents and writes the blocks that begin there,
// borrowing at most L - 1 tokens from the ranks after it (their heads), so the blocks are the
// same whatever the number of ranks.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

namespace loom::data {

// A piece of the packed stream: tokens and the global index of the document each belongs to
// (EOS belongs to the document it ends).
struct PackedStream {
  std::vector<int32_t> tokens;
  std::vector<int64_t> doc;
  void append_document(const std::vector<int32_t>& tokens, int32_t eos_id, int64_t doc_index);
  // The first min(size, count) tokens.
  PackedStream head(size_t count) const;
};

struct PackedBlocks {
  int64_t rows = 0;
  std::vector<int32_t> tokens;     // (rows, L)
  std::vector<int32_t> doc_index;  // (rows, L): 0 for the block's first document, +1 at each new one
};

// Blocks of length block_len that begin inside `local`, which starts at global stream offset
// `start`; `following` is the stream right after local (the next ranks' heads, concatenated).
PackedBlocks cut_blocks(const PackedStream& local, int64_t start, const PackedStream& following, int block_len);

}  // namespace loom::data
