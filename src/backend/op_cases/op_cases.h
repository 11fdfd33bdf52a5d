// The table of op cases that every backend runs (docs/ops.md, "Checking a backend"): each
// case names its op family (the header in src/ops), its parameters, how to make its tensors
// from a seed, its forward (and backward) as calls on a Backend, and its tolerances per
// precision class. test_ops checks cpu-f32 (and every other registered backend) against the
// double references of op_references.cpp and every backward against finite differences;
// gpu_test_ops runs the same cases through a CUDA backend. The library (loom_op_cases) has no
// test framework in it: checks return their failures as text.
#pragma once

#include <cstdint>
#include <functional>
#include <limits>
#include <map>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include "backend/backend.h"
#include "core/check.h"
#include "core/rng.h"

namespace loom::test {

// The precision class of a backend: which of a case's tolerances applies.
enum class Precision { f32, bf16 };
const char* precision_name(Precision precision);

// How far a backend's tensor may be from its reference; docs/ops.md, "Tolerances".
//   elementwise (rounded_input_factor == 0): |got - want| <= abs * max|want| + rel * |want|
//   bf16 rule (rounded_input_factor = k > 0): max|got - want| <= k * max|want_bf16 - want|
//     + abs * max|want|, where want_bf16 is the double reference on inputs rounded to bf16.
//   on_delta: the op updates its input by a small step (AdamW): the check above applies to
//     (got - initial) against (want - initial), plus 2^-23 |initial| for the output's own
//     f32 rounding, so a step off by a factor shows however small it is next to the value.
struct Tolerance {
  double abs = 2e-6;
  double rel = 2e-5;
  double rounded_input_factor = 0.0;
  bool on_delta = false;
};

// kInput: random, never written. kOutput: overwritten by the op; made NaN so that an element
// the op fails to write shows. kInOut: random, then updated (gradients that backward adds
// into, in-place ops). kScratch: workspace the op may use, undefined afterwards (never compared).
enum class Role { kInput, kOutput, kInOut, kScratch };

struct F32Tensor {
  Role role = Role::kInput;
  std::vector<float> data;
};

// A case's host tensors by name; int tensors are always inputs.
struct Tensors {
  std::map<std::string, F32Tensor> f32;
  std::map<std::string, std::vector<int>> i32;
};

// The same names, pointing at one backend's copies of the tensors.
struct Pointers {
  std::map<std::string, float*> f32;
  std::map<std::string, int*> i32;

  float* f(const std::string& name) const {
    const auto it = f32.find(name);
    LOOM_REQUIRE(it != f32.end(), "op case: no f32 tensor named ", name);
    return it->second;
  }
  const int* i(const std::string& name) const {
    const auto it = i32.find(name);
    LOOM_REQUIRE(it != i32.end(), "op case: no int tensor named ", name);
    return it->second;
  }
  // Null when the case has no such tensor (optional inputs such as the doc mask).
  const int* i_or_null(const std::string& name) const {
    const auto it = i32.find(name);
    return it == i32.end() ? nullptr : it->second;
  }
};

using OpCall = std::function<void(const Backend&, const Pointers&)>;

struct OpCase {
  std::string family;  // the header in src/ops it exercises, e.g. "attention"
  std::string op;      // what it runs, e.g. "attention" or "attention_decode"
  std::vector<std::pair<std::string, double>> params;  // shape letters and scalars, in order
  std::function<Tensors(uint64_t seed)> make_tensors;
  OpCall forward;
  OpCall backward;  // empty for ops without a backward
  // loss = sum over terms of <forward output, upstream gradient>: what backward differentiates.
  std::vector<std::pair<std::string, std::string>> loss_terms;
  // {input, its gradient}: backward's results, checked against finite differences.
  std::vector<std::pair<std::string, std::string>> gradients;
  // How close each written tensor must be to the double reference (forward) or to cpu-f32
  // (backward), per precision class of backend; docs/ops.md states the rule.
  Tolerance f32_tolerance;
  Tolerance bf16_tolerance;
  const Tolerance& tolerance(Precision precision) const {
    return precision == Precision::bf16 ? bf16_tolerance : f32_tolerance;
  }

  double param(const std::string& name) const {
    for (const auto& [key, value] : params)
      if (key == name) return value;
    LOOM_FAIL("op case ", op, ": no parameter ", name);
  }
  int dim(const std::string& name) const { return static_cast<int>(param(name)); }

  std::string name() const {
    std::ostringstream os;
    os << op;
    for (const auto& [key, value] : params) os << " " << key << "=" << value;
    return os.str();
  }
};

// Builds a case's tensors from one seed, each tensor with its own random stream.
class TensorMaker {
 public:
  explicit TensorMaker(uint64_t seed) : rng_(seed) {}

  TensorMaker& input(const std::string& name, size_t n, float lo = -1.0f, float hi = 1.0f) {
    return add(name, Role::kInput, n, lo, hi);
  }
  TensorMaker& inout(const std::string& name, size_t n, float lo = -1.0f, float hi = 1.0f) {
    return add(name, Role::kInOut, n, lo, hi);
  }
  TensorMaker& output(const std::string& name, size_t n) {
    tensors_.f32[name] = {Role::kOutput,
                          std::vector<float>(n, std::numeric_limits<float>::quiet_NaN())};
    return *this;
  }
  TensorMaker& scratch(const std::string& name, size_t n) {
    tensors_.f32[name] = {Role::kScratch, std::vector<float>(n, 0.0f)};
    return *this;
  }
  TensorMaker& fixed(const std::string& name, std::vector<float> data) {
    tensors_.f32[name] = {Role::kInput, std::move(data)};
    return *this;
  }
  TensorMaker& ints(const std::string& name, std::vector<int> data) {
    tensors_.i32[name] = std::move(data);
    return *this;
  }
  Rng& rng() { return rng_; }
  Tensors take() { return std::move(tensors_); }

 private:
  TensorMaker& add(const std::string& name, Role role, size_t n, float lo, float hi) {
    std::vector<float> data(n);
    for (float& x : data) x = lo + (hi - lo) * rng_.uniform();
    tensors_.f32[name] = {role, std::move(data)};
    return *this;
  }

  Rng rng_;
  Tensors tensors_;
};


// Every case, and the op families of src/ops (one header each).
const std::vector<OpCase>& op_cases();
const std::vector<std::string>& op_families();

// ---- references (op_references.cpp) ---------------------------------------------------------

using Expected = std::map<std::string, std::vector<double>>;  // tensor name -> values

// True when the case's op has a double reference.
bool has_reference(const OpCase& c);
// The forward's outputs in double precision from the case's tensors.
Expected reference_forward(const OpCase& c, const Tensors& t);
// The same tensors with every f32 input (Role::kInput) rounded to bf16 (round to nearest even).
Tensors rounded_to_bf16(const Tensors& t);

// ---- running and checking (op_check.cpp) -----------------------------------------------------

// Runs the case on `backend`: the tensors are copied into an arena of the backend's memory with
// guard zones around each, the forward (and with `backward`, the backward) runs, and the
// tensors come back. Writes outside a tensor are added to `failures`.
Tensors run_case(const OpCase& c, const Backend& backend, const Tensors& initial, bool backward,
                 std::vector<std::string>* failures);

// Forward on `backend` against the double reference, with the case's tolerance for
// `precision`; inputs must come back untouched. Returns the failures (empty: passed).
std::vector<std::string> check_forward(const OpCase& c, const Backend& backend, Precision precision, uint64_t seed);

// Forward and backward on `backend` against the same on cpu-f32 (every tensor the case
// writes), with the case's tolerance for `precision`. Returns the failures.
std::vector<std::string> check_against_cpu(const OpCase& c, const Backend& backend, Precision precision,
                                           uint64_t seed);

// One comparison under a tolerance; `initial` is used by on_delta, `rounded` (the reference on
// bf16-rounded inputs) by the bf16 rule. Returns "" or what failed.
std::string compare(const std::vector<float>& got, const std::vector<double>& want, const std::vector<float>& initial,
                    const std::vector<double>* rounded, const Tolerance& tolerance);

// A gtest-friendly name: the case's name with every non-alphanumeric character as '_'.
std::string test_name(const OpCase& c);

}  // namespace loom::test
