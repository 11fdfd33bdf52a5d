#include "bench.h"

#include <unistd.h>

#include <boost/program_options.hpp>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>

#include "core/check.h"
#include "data/manifest.h"
#include "input_files.h"

namespace loom::prep {

namespace po = boost::program_options;
namespace fs = std::filesystem;

namespace {

struct Timed {
  double seconds = 0.0;
  int64_t tokens = 0;
};

double run_timed(const std::string& command) {
  std::cout << "$ " << command << std::endl;
  const auto start = std::chrono::steady_clock::now();
  const int status = std::system(command.c_str());
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  LOOM_REQUIRE(status == 0, "bench: command failed (status ", status, "): ", command);
  return seconds;
}

int64_t manifest_tokens(const std::string& dir) {
  return data::read_manifest((fs::path(dir) / data::kManifestFile).string()).split("train", dir).totals.tokens;
}

void report(const char* what, int cores, const Timed& t, int64_t bytes) {
  std::printf("%-26s %2d core(s) %8.2f s %12.0f tokens/s %8.2f MB/s %12.0f tokens/s/core\n", what, cores, t.seconds,
              t.tokens / t.seconds, bytes / 1e6 / t.seconds, t.tokens / t.seconds / cores);
}

}  // namespace

int run_bench(int argc, char** argv) {
  std::string input, tokenizer, baseline = "data_prep/bench_baseline.py", python = "python3";
  std::string work = (fs::temp_directory_path() / ("loom-prep-bench-" + std::to_string(getpid()))).string();
  int megabytes = 50, seq_len = 1024;
  po::options_description described("loom-prep bench [options]");
  // Every option shows its default, "(=...)", or says it is required.
  described.add_options()("help,h", "print this help")(
      "input", po::value(&input)->required(), "(required) JSON Lines (gzip or plain)")(
      "tokenizer", po::value(&tokenizer)->required(), "(required) tokenizer.model")(
      "mb", po::value(&megabytes)->default_value(megabytes), "input size")(
      "seq-len", po::value(&seq_len)->default_value(seq_len), "packed block length")(
      "baseline", po::value(&baseline)->default_value(baseline), "the Python script")(
      "python", po::value(&python)->default_value(python), "Python interpreter")(
      "work", po::value(&work)->default_value(work, "a new folder in the temporary directory"),
      "scratch folder (removed)");
  po::variables_map values;
  try {
    po::store(po::parse_command_line(argc, argv, described), values);
    if (values.count("help")) {
      std::cout << described << "\n";
      return 0;
    }
    po::notify(values);
  } catch (const po::error& e) {
    LOOM_FAIL(e.what());
  }
  fs::create_directories(work);
  const std::string corpus = (fs::path(work) / "corpus.jsonl").string();
  {
    std::string lines;
    for_each_line(expand_inputs({input}, "jsonl", TextUnit::line).at(0), [&](int64_t, std::string_view line) {
      lines.append(line);
      lines += '\n';
    });
    LOOM_REQUIRE(!lines.empty(), input, ": no lines to repeat");
    std::ofstream out(corpus, std::ios::binary);
    for (int64_t written = 0; written < int64_t{megabytes} * 1000000; written += static_cast<int64_t>(lines.size()))
      out << lines;
    LOOM_REQUIRE(out.flush(), corpus, ": cannot write the benchmark input");
  }
  const int64_t bytes = static_cast<int64_t>(fs::file_size(corpus));
  std::printf("input: %s repeated to %.1f MB; sft packed, seq_len %d, template hh\n", input.c_str(), bytes / 1e6, seq_len);
  const std::string self = fs::read_symlink("/proc/self/exe").string();
  const std::string mpirun = std::string("mpirun --oversubscribe") + (geteuid() == 0 ? " --allow-run-as-root" : "");
  const std::string common = " sft --template hh --layout packed --seq-len " + std::to_string(seq_len) +
                             " --tokenizer " + tokenizer + " " + corpus + " --out ";
  Timed ranks[2];
  for (int np = 1; np <= 2; ++np) {
    const std::string out = (fs::path(work) / ("np" + std::to_string(np))).string();
    ranks[np - 1].seconds = run_timed(mpirun + " -np " + std::to_string(np) + " " + self + common + out);
    ranks[np - 1].tokens = manifest_tokens(out);
  }
  Timed python_run;
  const std::string python_out = (fs::path(work) / "python.h5").string();
  python_run.seconds = run_timed(python + " " + baseline + " --input " + corpus + " --tokenizer " + tokenizer +
                                 " --seq-len " + std::to_string(seq_len) + " --out " + python_out);
  python_run.tokens = ranks[0].tokens;  // the same packing: the same block count
  std::printf("\n");
  report("loom-prep, 1 rank", 1, ranks[0], bytes);
  report("loom-prep, 2 ranks", 2, ranks[1], bytes);
  report("python sentencepiece+h5py", 1, python_run, bytes);
  std::printf("per-core speedup over Python: %.2fx (1 rank), %.2fx (2 ranks)\n",
              python_run.seconds / ranks[0].seconds, python_run.seconds / ranks[1].seconds / 2.0);
  fs::remove_all(work);
  return 0;
}

}  // namespace loom::prep
