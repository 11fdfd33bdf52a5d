#include "ops/bf16/onednn_gemm.h"

#include <omp.h>

#include <algorithm>
#include <atomic>
#include <map>
#include <memory>
#include <mutex>
#include <oneapi/dnnl/dnnl.hpp>
#include <tuple>
#include <unordered_map>
#include <vector>

#include "core/check.h"

namespace loom::bf16 {

namespace {

using dnnl::memory;

constexpr memory::format_tag kPackedBLayout = memory::format_tag::BA16a64b2a;
std::atomic<int> g_row_major_only{0};  // RowMajorWeightsOnly objects alive

struct GemmKey {
  int M, N, K, lda, ldb, ldc;
  bool a_trans, b_trans, accumulate, use_bf16;
  int threads;
  bool packed_b = false;  // b in kPackedBLayout (gemm_packed_b)
  auto tie() const {
    return std::tie(M, N, K, lda, ldb, ldc, a_trans, b_trans, accumulate, use_bf16, threads, packed_b);
  }
  bool operator<(const GemmKey& o) const { return tie() < o.tie(); }
};

struct GemmPlan {
  dnnl::matmul primitive;
  memory::desc a, b, c, scratchpad;
  std::string kernel;
  bool b_layout_as_asked = true;  // false: oneDNN chose another layout than kPackedBLayout
};

class GemmCache {
 public:
  static GemmCache& instance() {
    static GemmCache cache;
    return cache;
  }

  const GemmPlan& plan(const GemmKey& key) {
    std::lock_guard<std::mutex> lock(mutex_);
    auto found = plans_.find(key);
    if (found != plans_.end()) return found->second;
    return plans_.emplace(key, create(key)).first->second;
  }

  dnnl::engine& engine() { return engine_; }
  size_t size() {
    std::lock_guard<std::mutex> lock(mutex_);
    return plans_.size();
  }

 private:
  GemmCache() : engine_(dnnl::engine::kind::cpu, 0) {}

  GemmPlan create(const GemmKey& k) {
    const auto type = k.use_bf16 ? memory::data_type::bf16 : memory::data_type::f32;
    // Row-major (rows, cols) with row stride ld is strides {ld, 1}; the transposed storage
    // (cols, rows) is strides {1, ld}.
    const memory::desc a({k.M, k.K}, type, k.a_trans ? memory::dims{1, k.lda} : memory::dims{k.lda, 1});
    const memory::desc b = k.packed_b ? memory::desc({k.K, k.N}, type, memory::format_tag::any)
                                      : memory::desc({k.K, k.N}, type, k.b_trans ? memory::dims{1, k.ldb}
                                                                                 : memory::dims{k.ldb, 1});
    const memory::desc c({k.M, k.N}, memory::data_type::f32, memory::dims{k.ldc, 1});
    dnnl::primitive_attr attr;
    attr.set_scratchpad_mode(dnnl::scratchpad_mode::user);  // the caller's thread's (see run)
    if (k.accumulate) {
      dnnl::post_ops ops;
      ops.append_sum(1.0f);
      attr.set_post_ops(ops);
    }
    const dnnl::matmul::primitive_desc pd(dnnl::matmul::desc(a, b, c), attr, engine_);
    const bool as_asked = !k.packed_b || pd.weights_desc() == memory::desc({k.K, k.N}, type, kPackedBLayout);
    return GemmPlan{dnnl::matmul(pd), a, pd.weights_desc(), c, pd.scratchpad_desc(), pd.impl_info_str(), as_asked};
  }

  std::mutex mutex_;
  dnnl::engine engine_;
  std::map<GemmKey, GemmPlan> plans_;
};

// Products below this many multiply-adds run on one thread.
constexpr double kOneThreadMacs = 4.0 * 1024 * 1024;

// The threads an (M, N, K) product runs on. A small product runs on one thread: waking the
// team for it costs more than it saves (attention's 64 x 64 head blocks ran 17x slower on two
// threads than on one). A call from inside a parallel region (attention's heads) runs on its
// calling thread.
int product_threads(int M, int N, int K) {
  return omp_in_parallel() || double(M) * N * K < kOneThreadMacs ? 1 : omp_get_max_threads();
}

void run(float* c, int ldc, const void* a, int lda, bool a_trans, const void* b, int ldb, bool b_trans, int M,
         int N, int K, bool accumulate, bool use_bf16, bool packed_b = false) {
  LOOM_ASSERT(M >= 0 && N >= 0 && K >= 0);
  if (M == 0 || N == 0) return;
  GemmCache& cache = GemmCache::instance();
  if (K == 0) {  // an empty sum: c = 0, or unchanged when accumulating
    if (!accumulate)
      for (int m = 0; m < M; ++m)
        for (int n = 0; n < N; ++n) c[size_t(m) * ldc + n] = 0.0f;
    return;
  }
  const int team = omp_get_max_threads(), threads = product_threads(M, N, K);
  if (threads != team) omp_set_num_threads(threads);
  const GemmPlan& plan =
      cache.plan(GemmKey{M, N, K, lda, ldb, ldc, a_trans, b_trans, accumulate, use_bf16, threads, packed_b});
  LOOM_ASSERT(plan.b_layout_as_asked);
  // Each thread has its own stream and scratchpad, so threads may run GEMMs at the same time.
  thread_local dnnl::stream stream(cache.engine());
  thread_local std::vector<uint8_t> scratchpad;
  const size_t scratchpad_bytes = plan.scratchpad.get_size();
  scratchpad.resize(std::max(scratchpad.size(), scratchpad_bytes + 64));
  void* scratchpad_start = scratchpad.data();
  size_t space = scratchpad.size();
  std::align(64, scratchpad_bytes, scratchpad_start, space);
  // The plan's memory objects, made once per thread and pointed at this call's buffers (making
  // them anew took a quarter of a 64 x 64 x 64 product's time).
  thread_local std::map<const GemmPlan*, std::unordered_map<int, memory>> arguments;
  std::unordered_map<int, memory>& args = arguments[&plan];
  if (args.empty()) {
    args = {{DNNL_ARG_SRC, memory(plan.a, cache.engine(), nullptr)},
            {DNNL_ARG_WEIGHTS, memory(plan.b, cache.engine(), nullptr)},
            {DNNL_ARG_DST, memory(plan.c, cache.engine(), nullptr)},
            {DNNL_ARG_SCRATCHPAD, memory(plan.scratchpad, cache.engine(), nullptr)}};
  }
  args.at(DNNL_ARG_SRC).set_data_handle(const_cast<void*>(a));
  args.at(DNNL_ARG_WEIGHTS).set_data_handle(const_cast<void*>(b));
  args.at(DNNL_ARG_DST).set_data_handle(c);
  args.at(DNNL_ARG_SCRATCHPAD).set_data_handle(scratchpad_start);
  plan.primitive.execute(stream, args);
  stream.wait();
  if (threads != team) omp_set_num_threads(team);
}

}  // namespace

void gemm(float* c, const uint16_t* a, bool a_trans, const uint16_t* b, bool b_trans, int M, int N, int K,
          bool accumulate) {
  run(c, N, a, a_trans ? M : K, a_trans, b, b_trans ? K : N, b_trans, M, N, K, accumulate, true);
}

void gemm_strided(float* c, int ldc, const uint16_t* a, int lda, bool a_trans, const uint16_t* b, int ldb,
                  bool b_trans, int M, int N, int K, bool accumulate) {
  run(c, ldc, a, lda, a_trans, b, ldb, b_trans, M, N, K, accumulate, true);
}

void gemm_f32(float* c, const float* a, bool a_trans, const float* b, bool b_trans, int M, int N, int K,
              bool accumulate) {
  run(c, N, a, a_trans ? M : K, a_trans, b, b_trans ? K : N, b_trans, M, N, K, accumulate, false);
}

RowMajorWeightsOnly::RowMajorWeightsOnly() { ++g_row_major_only; }
RowMajorWeightsOnly::~RowMajorWeightsOnly() { --g_row_major_only; }

bool gemm_packed_b_available(int M, int N, int K, bool accumulate) {
  if (g_row_major_only > 0 || M <= 0 || N <= 0 || K <= 0 || K % kPackedBDepth != 0) return false;
  return GemmCache::instance()
      .plan(GemmKey{M, N, K, K, 0, N, false, false, accumulate, true, product_threads(M, N, K), true})
      .b_layout_as_asked;
}

void gemm_packed_b(float* c, const uint16_t* a, const uint16_t* b_packed, int M, int N, int K, bool accumulate) {
  run(c, N, a, K, false, b_packed, 0, false, M, N, K, accumulate, true, true);
}

std::string gemm_kernel_name(int M, int N, int K, bool use_bf16) {
  return GemmCache::instance().plan(GemmKey{M, N, K, K, K, N, false, true, false, use_bf16, omp_get_max_threads()}).kernel;
}

size_t gemm_primitives_created() { return GemmCache::instance().size(); }

}  // namespace loom::bf16
