#include "backend/timed_backend.h"

#include <algorithm>
#include <utility>
#include <vector>

namespace loom {

void TimedBackend::print(std::FILE* out, double elapsed_seconds) const {
  std::vector<std::pair<std::string, OpTime>> rows(times_.begin(), times_.end());
  std::sort(rows.begin(), rows.end(), [](const auto& a, const auto& b) { return a.second.seconds > b.second.seconds; });
  double in_ops = 0.0;
  for (const auto& [op, t] : rows) {
    std::fprintf(out, "profile: %-32s %8lld calls %9.3f s %5.1f%%\n", op.c_str(), t.calls, t.seconds,
                 100.0 * t.seconds / elapsed_seconds);
    in_ops += t.seconds;
  }
  std::fprintf(out, "profile: %-32s %14s %9.3f s %5.1f%%\n", "(outside backend calls)", "",
               elapsed_seconds - in_ops, 100.0 * (elapsed_seconds - in_ops) / elapsed_seconds);
}

}  // namespace loom
