// Every CUDA kernel file is checked against its CPU twin: gpu_test_ops runs the op table
// (src/backend/op_cases) through the cuda backend, so each op a kernel file implements must
// have op-table cases. This runs without a GPU: a kernel file with no entry here, or an entry
// whose ops have no case, fails it.
#include <gtest/gtest.h>

#include <filesystem>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "backend/op_cases/op_cases.h"
#include "support/test_support.h"

namespace loom::test {
namespace {

// kernels/NAME.cu -> the op-table ops that exercise it (on the GPU, gpu_test_ops; dequant.cu
// also gpu_test_dequant). Files that hold no op (device queries, the cuBLAS handle) map to {}.
const std::map<std::string, std::vector<std::string>>& kernel_ops() {
  static const std::map<std::string, std::vector<std::string>> ops = {
      {"adamw", {"adamw"}},
      {"attention", {"attention", "attention_decode"}},
      {"bf16_convert", {"matmul", "quantized_matmul"}},  // cuda-bf16's GEMM operands
      {"copy", {"fill", "copy", "gather_rows", "kv_cache_append"}},
      {"cross_entropy", {"cross_entropy", "classifier_forward_backward", "token_logprobs"}},
      {"cublas_handle", {}},
      {"dequant", {"quantized_matmul"}},
      {"device", {}},
      {"dropout", {"dropout"}},
      {"elementwise", {"add_inplace", "scale_inplace", "sum_squares"}},
      {"embedding", {"embedding"}},
      {"heads", {"score_head", "value_head"}},
      {"log_softmax", {"log_softmax"}},
      {"matmul", {"matmul"}},
      {"rmsnorm", {"rmsnorm"}},
      {"rope", {"rope"}},
      {"swiglu", {"swiglu"}},
  };
  return ops;
}

TEST(KernelCoverage, EveryKernelFileHasOpTableCases) {
  std::set<std::string> with_cases;
  for (const OpCase& c : op_cases()) with_cases.insert(c.op);
  const std::filesystem::path kernels = std::filesystem::path(source_dir()) / "kernels";
  int files = 0;
  for (const auto& entry : std::filesystem::directory_iterator(kernels)) {
    if (entry.path().extension() != ".cu") continue;
    ++files;
    const std::string name = entry.path().stem().string();
    const auto found = kernel_ops().find(name);
    ASSERT_NE(found, kernel_ops().end()) << "kernels/" << name << ".cu has no entry in kernel_ops()";
    for (const std::string& op : found->second)
      EXPECT_TRUE(with_cases.count(op)) << "kernels/" << name << ".cu: the op table has no case of " << op;
  }
  EXPECT_EQ(files, int(kernel_ops().size())) << "an entry of kernel_ops() names no kernels/*.cu file";
}

}  // namespace
}  // namespace loom::test
