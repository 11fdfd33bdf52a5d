// Running op cases on a backend (in its own memory, with guard zones) and comparing the
// results under a case's tolerances.
#include <algorithm>
#include <cmath>
#include <cstring>

#include "backend/cpu_f32.h"
#include "backend/op_cases/op_cases.h"

namespace loom::test {

namespace {

// Guard elements on each side of every tensor, filled with a byte pattern no op writes.
constexpr size_t kGuard = 64;
constexpr unsigned char kGuardByte = 0xA5;

// One tensor of 4-byte elements in backend memory between two guard zones.
struct GuardedTensor {
  std::byte* base = nullptr;  // guard, count elements, guard
  size_t count = 0;
  size_t total_bytes() const { return (count + 2 * kGuard) * 4; }
  void* data() const { return base + kGuard * 4; }
};

GuardedTensor place(Arena& arena, const Backend& backend, const void* host, size_t count) {
  GuardedTensor t;
  t.count = count;
  t.base = static_cast<std::byte*>(arena.take_bytes(t.total_bytes()));
  const std::vector<unsigned char> pattern(t.total_bytes(), kGuardByte);
  backend.upload(t.base, pattern.data(), pattern.size());
  if (count > 0) backend.upload(t.data(), host, count * 4);
  return t;
}

// Downloads the tensor into host (count elements); false when a guard byte changed.
bool fetch(const GuardedTensor& t, const Backend& backend, void* host) {
  std::vector<unsigned char> bytes(t.total_bytes());
  backend.download(bytes.data(), t.base, bytes.size());
  if (t.count > 0) std::memcpy(host, bytes.data() + kGuard * 4, t.count * 4);
  const size_t guard_bytes = kGuard * 4;
  for (size_t i = 0; i < guard_bytes; ++i)
    if (bytes[i] != kGuardByte || bytes[bytes.size() - 1 - i] != kGuardByte) return false;
  return true;
}

std::vector<double> to_double(const std::vector<float>& x) { return {x.begin(), x.end()}; }

}  // namespace

Tensors run_case(const OpCase& c, const Backend& backend, const Tensors& initial, bool backward,
                 std::vector<std::string>* failures) {
  ArenaPlan plan;
  for (const auto& [name, t] : initial.f32) plan.add<std::byte>((t.data.size() + 2 * kGuard) * 4);
  for (const auto& [name, t] : initial.i32) plan.add<std::byte>((t.size() + 2 * kGuard) * 4);
  Arena arena = backend.make_arena("op case " + c.name(), plan.bytes());
  std::map<std::string, GuardedTensor> f32, i32;
  Pointers pointers;
  for (const auto& [name, t] : initial.f32) {
    f32[name] = place(arena, backend, t.data.data(), t.data.size());
    pointers.f32[name] = static_cast<float*>(f32[name].data());
  }
  for (const auto& [name, t] : initial.i32) {
    i32[name] = place(arena, backend, t.data(), t.size());
    pointers.i32[name] = static_cast<int*>(i32[name].data());
  }
  c.forward(backend, pointers);
  if (backward && c.backward) c.backward(backend, pointers);
  backend.synchronize();
  Tensors result = initial;
  for (auto& [name, t] : result.f32)
    if (!fetch(f32[name], backend, t.data.data())) failures->push_back(c.name() + ": write outside " + name);
  for (auto& [name, t] : result.i32)
    if (!fetch(i32[name], backend, t.data())) failures->push_back(c.name() + ": write outside " + name);
  return result;
}

std::string compare(const std::vector<float>& got, const std::vector<double>& want, const std::vector<float>& initial,
                    const std::vector<double>* rounded, const Tolerance& tol) {
  if (got.size() != want.size()) return cat(got.size(), " elements, reference ", want.size());
  // With on_delta, everything is measured on the step from the initial value.
  const auto base = [&](size_t i) { return tol.on_delta ? double(initial[i]) : 0.0; };
  double scale = tol.on_delta ? 0.0 : 1.0;
  for (size_t i = 0; i < want.size(); ++i) scale = std::max(scale, std::fabs(want[i] - base(i)));
  if (tol.rounded_input_factor > 0.0) {
    double max_error = 0.0, max_rounding = 0.0;
    size_t worst = 0;
    for (size_t i = 0; i < want.size(); ++i) {
      const double error = std::fabs(double(got[i]) - want[i]);
      if (!(error <= max_error)) {  // NaN counts as the worst
        max_error = error;
        worst = i;
      }
      max_rounding = std::max(max_rounding, std::fabs((*rounded)[i] - want[i]));
    }
    const double allowed = tol.rounded_input_factor * max_rounding + tol.abs * scale;
    if (!(max_error <= allowed))
      return cat("max error ", max_error, " at [", worst, "] (", got[worst], " vs ", want[worst], ") exceeds ",
                 tol.rounded_input_factor, " x ", max_rounding, " (bf16-rounded inputs) + ", tol.abs, " x ", scale);
    return "";
  }
  for (size_t i = 0; i < want.size(); ++i) {
    const double step_got = double(got[i]) - base(i), step_want = want[i] - base(i);
    const double floor = tol.on_delta ? std::ldexp(std::fabs(double(initial[i])), -23) : 0.0;
    const double allowed = tol.abs * scale + tol.rel * std::fabs(step_want) + floor;
    if (!(std::fabs(step_got - step_want) <= allowed))
      return cat("[", i, "] = ", got[i], ", reference ", want[i], tol.on_delta ? " (step " : "",
                 tol.on_delta ? cat(step_got, " vs ", step_want, ")") : "", "; allowed ", allowed);
  }
  return "";
}

std::vector<std::string> check_forward(const OpCase& c, const Backend& backend, Precision precision, uint64_t seed) {
  std::vector<std::string> failures;
  const Tensors before = c.make_tensors(seed);
  const Tensors got = run_case(c, backend, before, /*backward=*/false, &failures);
  const Tolerance& tol = c.tolerance(precision);
  const Expected expected = reference_forward(c, before);
  Expected rounded;
  if (tol.rounded_input_factor > 0.0) rounded = reference_forward(c, rounded_to_bf16(before));
  for (const auto& [name, want] : expected) {
    const std::string why = compare(got.f32.at(name).data, want, before.f32.at(name).data,
                                    rounded.count(name) ? &rounded.at(name) : nullptr, tol);
    if (!why.empty()) failures.push_back(cat(c.name(), " on ", backend.name(), ": ", name, " ", why));
  }
  for (const auto& [name, tensor] : before.f32)
    if (tensor.role == Role::kInput && tensor.data != got.f32.at(name).data)
      failures.push_back(cat(c.name(), " on ", backend.name(), ": input ", name, " was written"));
  for (const auto& [name, values] : before.i32)
    if (values != got.i32.at(name)) failures.push_back(cat(c.name(), ": int input ", name, " was written"));
  return failures;
}

std::vector<std::string> check_against_cpu(const OpCase& c, const Backend& backend, Precision precision,
                                           uint64_t seed) {
  std::vector<std::string> failures;
  const Tensors initial = c.make_tensors(seed);
  const Tensors want = run_case(c, cpu_f32_backend(), initial, /*backward=*/true, &failures);
  const Tensors got = run_case(c, backend, initial, /*backward=*/true, &failures);
  const Tolerance& tol = c.tolerance(precision);
  Tensors rounded;
  if (tol.rounded_input_factor > 0.0)
    rounded = run_case(c, cpu_f32_backend(), rounded_to_bf16(initial), /*backward=*/true, &failures);
  for (const auto& [name, tensor] : initial.f32) {
    const std::vector<float>& g = got.f32.at(name).data;
    if (tensor.role == Role::kScratch) continue;
    if (tensor.role == Role::kInput) {
      if (g != tensor.data) failures.push_back(cat(c.name(), " on ", backend.name(), ": input ", name, " was written"));
      continue;
    }
    std::vector<double> rounded_values;
    if (tol.rounded_input_factor > 0.0) rounded_values = to_double(rounded.f32.at(name).data);
    const std::string why = compare(g, to_double(want.f32.at(name).data), tensor.data,
                                    tol.rounded_input_factor > 0.0 ? &rounded_values : nullptr, tol);
    if (!why.empty()) failures.push_back(cat(c.name(), " on ", backend.name(), " vs cpu-f32: ", name, " ", why));
  }
  for (const auto& [name, values] : initial.i32)
    if (values != got.i32.at(name)) failures.push_back(cat(c.name(), ": int input ", name, " was written"));
  return failures;
}

}  // namespace loom::test
