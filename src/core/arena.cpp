#include "core/arena.h"

#include <cstdlib>
#include <cstring>
#include <utility>

#include "core/check.h"

namespace loom {

Arena::Arena(std::string name, size_t capacity_bytes)
    : name_(std::move(name)), capacity_(align_up(capacity_bytes)) {
  if (capacity_ == 0) return;
  base_ = static_cast<std::byte*>(std::aligned_alloc(kArenaAlignment, capacity_));
  LOOM_REQUIRE(base_ != nullptr, "out of memory: arena '", name_, "' needs ", capacity_, " bytes");
  std::memset(base_, 0, capacity_);
}

Arena::~Arena() { std::free(base_); }

Arena::Arena(Arena&& other) noexcept { *this = std::move(other); }

Arena& Arena::operator=(Arena&& other) noexcept {
  if (this != &other) {
    std::free(base_);
    name_ = std::move(other.name_);
    base_ = std::exchange(other.base_, nullptr);
    capacity_ = std::exchange(other.capacity_, 0);
    used_ = std::exchange(other.used_, 0);
  }
  return *this;
}

void* Arena::take_bytes(size_t bytes) {
  const size_t size = align_up(bytes);
  LOOM_REQUIRE(used_ + size <= capacity_, "arena '", name_, "' exhausted: ", used_, " + ", size,
               " > ", capacity_, " bytes (the size plan and the takes disagree)");
  void* piece = base_ + used_;
  used_ += size;
  return piece;
}

void Arena::zero() {
  if (base_) std::memset(base_, 0, capacity_);
}

}  // namespace loom
