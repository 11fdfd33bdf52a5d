// One arena per kind of memory (frozen params, trainable params, grads, optimizer
// state, activations). Sizes are planned first (ArenaPlan adds up aligned requests),
// the arena allocates once, and take<T>() hands out pieces in the same order.
// Nothing is allocated inside a training step.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

namespace loom {

inline constexpr size_t kArenaAlignment = 64;

inline size_t align_up(size_t bytes, size_t alignment = kArenaAlignment) {
  return (bytes + alignment - 1) / alignment * alignment;
}

// Where an arena's one allocation comes from: host memory (host_allocator()) or a backend's
// memory (Backend::allocator(), e.g. device memory). allocate returns kArenaAlignment-aligned,
// zero-filled memory, or nullptr when there is not enough.
class ArenaAllocator {
 public:
  virtual ~ArenaAllocator() = default;
  virtual void* allocate(size_t bytes) const = 0;
  virtual void release(void* memory) const = 0;
  virtual void zero(void* memory, size_t bytes) const = 0;
  virtual const char* kind() const = 0;  // "host", "cuda", ... (error messages)
};

// aligned_alloc / memset / free.
const ArenaAllocator& host_allocator();

// Adds up the aligned sizes of the pieces an arena will hold.
class ArenaPlan {
 public:
  template <typename T>
  void add(size_t count) { bytes_ += align_up(count * sizeof(T)); }
  size_t bytes() const { return bytes_; }

 private:
  size_t bytes_ = 0;
};

class Arena {
 public:
  Arena() = default;
  Arena(std::string name, size_t capacity_bytes, const ArenaAllocator& allocator = host_allocator());
  ~Arena();
  Arena(const Arena&) = delete;
  Arena& operator=(const Arena&) = delete;
  Arena(Arena&& other) noexcept;
  Arena& operator=(Arena&& other) noexcept;

  // The next `count` elements of T, zero-filled, 64-byte aligned (in the allocator's memory).
  template <typename T>
  T* take(size_t count) { return static_cast<T*>(take_bytes(count * sizeof(T))); }

  void* take_bytes(size_t bytes);
  void zero();  // zero the whole capacity (e.g. the gradient arena before accumulation)
  void* base() const { return base_; }
  size_t used() const { return used_; }
  size_t capacity() const { return capacity_; }
  const std::string& name() const { return name_; }

 private:
  std::string name_;
  const ArenaAllocator* allocator_ = nullptr;
  std::byte* base_ = nullptr;
  size_t capacity_ = 0;
  size_t used_ = 0;
};

}  // namespace loom
