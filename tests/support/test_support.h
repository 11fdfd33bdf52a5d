// Helpers shared by the GoogleTest programs: where the repo and ../shared are, scratch
// directories, deterministic random inputs, and tensor comparisons that print where they fail.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

namespace loom::data {
class Tokenizer;
struct ShardInfo;
enum class ShardKind;
}  // namespace loom::data

namespace loom::test {

// The description of shards of `kind` (sft: padded) with rows of `row_len` made with
// `tokenizer` from one source file "a.jsonl", template hh.
data::ShardInfo shard_info_for(const data::Tokenizer& tokenizer, data::ShardKind kind, int row_len);

std::string source_dir();  // the repository (LOOM_SOURCE_DIR)
std::string shared_dir();  // ../shared beside the repository (LOOM_SHARED_DIR)
std::string binary_dir();  // the build folder (LOOM_BINARY_DIR)

// The first `count` lines of ../shared/data/hh-rlhf/harmless-base-test.jsonl.gz, without "\n".
std::vector<std::string> hh_jsonl_lines(size_t count);

// A fresh empty directory under the system temp dir, unique per test and process.
std::string scratch_dir(const std::string& name);

std::vector<float> random_vector(size_t n, uint64_t seed, float lo = -1.0f, float hi = 1.0f);

// max |a - b|
double max_abs_diff(const float* a, const float* b, size_t n);

// True when |a - b| <= atol + rtol * |b| everywhere; on failure *where says the first index.
bool all_close(const float* a, const float* b, size_t n, double atol, double rtol, std::string* where);

// The message of the loom::Error that f throws ("" and a test failure if it throws none).
std::string error_of(const std::function<void()>& f);

// EXPECT that `part` occurs in `text` (the one-line error messages name files and keys).
void expect_contains(const std::string& text, const std::string& part);

}  // namespace loom::test
