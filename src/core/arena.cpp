#include "core/arena.h"

#include <cstdlib>
#include <cstring>
#include <utility>

#include "core/check.h"

namespace loom {

namespace {

class HostAllocator final : public ArenaAllocator {
 public:
  void* allocate(size_t bytes) const override {
    void* memory = std::aligned_alloc(kArenaAlignment, align_up(bytes));
    if (memory) std::memset(memory, 0, bytes);
    return memory;
  }
  void release(void* memory) const override { std::free(memory); }
  void zero(void* memory, size_t bytes) const override { std::memset(memory, 0, bytes); }
  const char* kind() const override { return "host"; }
};

}  // namespace

const ArenaAllocator& host_allocator() {
  static const HostAllocator allocator;
  return allocator;
}

Arena::Arena(std::string name, size_t capacity_bytes, const ArenaAllocator& allocator)
    : name_(std::move(name)), allocator_(&allocator), capacity_(align_up(capacity_bytes)) {
  if (capacity_ == 0) return;
  base_ = static_cast<std::byte*>(allocator.allocate(capacity_));
  LOOM_REQUIRE(base_ != nullptr, "out of ", allocator.kind(), " memory: arena '", name_, "' needs ", capacity_,
               " bytes");
}

Arena::~Arena() {
  if (base_) allocator_->release(base_);
}

Arena::Arena(Arena&& other) noexcept { *this = std::move(other); }

Arena& Arena::operator=(Arena&& other) noexcept {
  if (this != &other) {
    if (base_) allocator_->release(base_);
    name_ = std::move(other.name_);
    allocator_ = other.allocator_;
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
  if (base_) allocator_->zero(base_, capacity_);
}

}  // namespace loom
