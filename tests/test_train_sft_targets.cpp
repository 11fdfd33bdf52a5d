// The SFT target builder (sft_row_targets): HF's label shift, the completion-only loss mask,
// document boundaries of packed_docs rows and position restart, each on its own and together,
// against targets written out by hand.
#include <gtest/gtest.h>

#include <vector>

#include "train/sft_task.h"

namespace loom {
namespace {

struct Built {
  std::vector<int> targets, pos;
};

Built build(const std::vector<int32_t>& tokens, const std::vector<int32_t>* doc, const std::vector<uint8_t>* mask) {
  const int T = int(tokens.size());
  Built b{std::vector<int>(T, 99), std::vector<int>(T, 99)};
  sft_row_targets(b.targets.data(), b.pos.data(), tokens.data(), doc ? doc->data() : nullptr,
                  mask ? mask->data() : nullptr, T);
  return b;
}

const std::vector<int32_t> kTokens = {10, 11, 12, 13, 14, 15, 16, 17};

TEST(SftTargets, PlainRowShiftsLabelsByOne) {
  const Built b = build(kTokens, nullptr, nullptr);
  EXPECT_EQ(b.targets, (std::vector<int>{11, 12, 13, 14, 15, 16, 17, -1}));
  EXPECT_EQ(b.pos, (std::vector<int>{0, 1, 2, 3, 4, 5, 6, 7}));
}

TEST(SftTargets, CompletionOnlyMaskKeepsOnlyMaskedTokensAsTargets) {
  // Prompt 10 11 12, completion 13 14 15, padding (mask 0) after.
  const std::vector<uint8_t> mask = {0, 0, 0, 1, 1, 1, 0, 0};
  const Built b = build(kTokens, nullptr, &mask);
  // Position t predicts token t + 1, a target only where mask[t + 1] is set.
  EXPECT_EQ(b.targets, (std::vector<int>{-1, -1, 13, 14, 15, -1, -1, -1}));
  EXPECT_EQ(b.pos, (std::vector<int>{0, 1, 2, 3, 4, 5, 6, 7})) << "one document: positions never restart";
}

TEST(SftTargets, DocumentBoundariesEndTargetsAndRestartPositions) {
  // Documents [10 11 12] [13] [14 15 16 17]: the last token of a document predicts nothing,
  // a one-token document has no target, positions restart at each document.
  const std::vector<int32_t> doc = {0, 0, 0, 1, 2, 2, 2, 2};
  const Built b = build(kTokens, &doc, nullptr);
  EXPECT_EQ(b.targets, (std::vector<int>{11, 12, -1, -1, 15, 16, 17, -1}));
  EXPECT_EQ(b.pos, (std::vector<int>{0, 1, 2, 0, 0, 1, 2, 3}));
}

TEST(SftTargets, DocumentsAndMaskTogether) {
  const std::vector<int32_t> doc = {0, 0, 0, 0, 1, 1, 1, 1};
  const std::vector<uint8_t> mask = {0, 1, 1, 1, 0, 0, 1, 1};
  const Built b = build(kTokens, &doc, &mask);
  EXPECT_EQ(b.targets, (std::vector<int>{11, 12, 13, -1, -1, 16, 17, -1}));
  EXPECT_EQ(b.pos, (std::vector<int>{0, 1, 2, 3, 0, 1, 2, 3}));
}

TEST(SftTargets, DocumentIndexValuesOnlyMatterWhereTheyChange) {
  // The reader's doc_index counts documents from 0 in each row; any change is a boundary.
  const std::vector<int32_t> doc = {4, 4, 7, 7, 7, 2, 2, 9};
  const Built b = build(kTokens, &doc, nullptr);
  EXPECT_EQ(b.targets, (std::vector<int>{11, -1, 13, 14, -1, 16, -1, -1}));
  EXPECT_EQ(b.pos, (std::vector<int>{0, 1, 0, 1, 2, 0, 1, 0}));
}

}  // namespace
}  // namespace loom
