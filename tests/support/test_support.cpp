#include "support/test_support.h"

#include <unistd.h>
#include <zlib.h>

#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <sstream>

#include <gtest/gtest.h>

#include "core/check.h"
#include "core/rng.h"
#include "data/manifest.h"
#include "data/tokenizer.h"

namespace loom::test {

static std::string env_or(const char* name, const std::string& fallback) {
  const char* v = std::getenv(name);
  return v && *v ? std::string(v) : fallback;
}

data::ShardInfo shard_info_for(const data::Tokenizer& tokenizer, data::ShardKind kind, int row_len) {
  data::ShardInfo info;
  info.kind = kind;
  info.layout = data::SftLayout::padded;
  info.row_len = row_len;
  info.tokenizer_md5 = tokenizer.model_md5();
  info.tokenizer_path = tokenizer.model_path();
  info.vocab_size = tokenizer.vocab_size();
  info.bos_id = tokenizer.bos_id();
  info.eos_id = tokenizer.eos_id();
  info.pad_id = tokenizer.padding_id();
  info.template_name = "hh";
  info.source_files = {"a.jsonl"};
  return info;
}

std::string source_dir() { return env_or("LOOM_SOURCE_DIR", "."); }
std::string shared_dir() { return env_or("LOOM_SHARED_DIR", source_dir() + "/../shared"); }
std::string binary_dir() { return env_or("LOOM_BINARY_DIR", "."); }

std::string scratch_dir(const std::string& name) {
  namespace fs = std::filesystem;
  const fs::path dir = fs::temp_directory_path() / ("loom-test-" + name + "-" + std::to_string(getpid()));
  fs::remove_all(dir);
  fs::create_directories(dir);
  return dir.string();
}

std::vector<float> random_vector(size_t n, uint64_t seed, float lo, float hi) {
  Rng rng(seed);
  std::vector<float> v(n);
  for (auto& x : v) x = lo + (hi - lo) * rng.uniform();
  return v;
}

double max_abs_diff(const float* a, const float* b, size_t n) {
  double m = 0.0;
  for (size_t i = 0; i < n; ++i) m = std::max(m, std::fabs(static_cast<double>(a[i]) - b[i]));
  return m;
}

bool all_close(const float* a, const float* b, size_t n, double atol, double rtol, std::string* where) {
  for (size_t i = 0; i < n; ++i) {
    const double d = std::fabs(static_cast<double>(a[i]) - b[i]);
    if (!(d <= atol + rtol * std::fabs(static_cast<double>(b[i])))) {
      if (where) {
        std::ostringstream os;
        os << "index " << i << ": " << a[i] << " vs " << b[i] << " (diff " << d << ")";
        *where = os.str();
      }
      return false;
    }
  }
  return true;
}

std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  ADD_FAILURE() << "expected a loom::Error";
  return "";
}

void expect_contains(const std::string& text, const std::string& part) {
  EXPECT_NE(text.find(part), std::string::npos) << "'" << part << "' not in: " << text;
}

std::vector<std::string> hh_jsonl_lines(size_t count) {
  const std::string path = shared_dir() + "/data/hh-rlhf/harmless-base-test.jsonl.gz";
  gzFile in = gzopen(path.c_str(), "rb");
  EXPECT_TRUE(in) << path;
  std::vector<std::string> lines;
  char buffer[1 << 16];
  std::string line;
  while (in && lines.size() < count && gzgets(in, buffer, sizeof(buffer))) {
    line += buffer;
    if (!line.empty() && line.back() == '\n') {
      line.pop_back();
      lines.push_back(line);
      line.clear();
    }
  }
  if (in) gzclose(in);
  return lines;
}

}  // namespace loom::test
