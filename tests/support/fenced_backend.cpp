#include "support/fenced_backend.h"

#include <sys/mman.h>
#include <unistd.h>

#include <cstring>

#include "backend/cpu_f32.h"
#include "core/check.h"

namespace loom::test {

namespace {

size_t mapped_bytes(size_t bytes) {
  const size_t page = size_t(sysconf(_SC_PAGESIZE));
  return (std::max<size_t>(bytes, 1) + page - 1) / page * page;
}

void protect(const std::byte* base, size_t bytes, int protection) {
  LOOM_REQUIRE(mprotect(const_cast<std::byte*>(base), bytes, protection) == 0, "fenced backend: mprotect failed");
}

}  // namespace

FencedAllocator::~FencedAllocator() {
  for (const auto& [base, bytes] : regions_) munmap(const_cast<std::byte*>(base), bytes);
}

void* FencedAllocator::allocate(size_t bytes) const {
  const size_t mapped = mapped_bytes(bytes);
  void* memory = mmap(nullptr, mapped, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (memory == MAP_FAILED) return nullptr;
  const std::byte* base = static_cast<const std::byte*>(memory);
  regions_[base] = mapped;
  if (open_depth_ == 0) protect(base, mapped, PROT_NONE);
  return memory;
}

void FencedAllocator::release(void* memory) const {
  const auto found = regions_.find(static_cast<const std::byte*>(memory));
  LOOM_REQUIRE(found != regions_.end(), "fenced backend: release of memory it did not allocate");
  munmap(memory, found->second);
  regions_.erase(found);
}

void FencedAllocator::zero(void* memory, size_t bytes) const {
  open();
  std::memset(memory, 0, bytes);
  close();
}

void FencedAllocator::open() const {
  if (open_depth_++ == 0)
    for (const auto& [base, bytes] : regions_) protect(base, bytes, PROT_READ | PROT_WRITE);
}

void FencedAllocator::close() const {
  if (--open_depth_ == 0)
    for (const auto& [base, bytes] : regions_) protect(base, bytes, PROT_NONE);
}

bool FencedAllocator::owns(const void* pointer) const {
  const std::byte* p = static_cast<const std::byte*>(pointer);
  auto after = regions_.upper_bound(p);
  if (after == regions_.begin()) return false;
  --after;
  return p < after->first + after->second;
}

FencedBackend::FencedBackend() : DelegatingBackend(cpu_f32_backend()) {}

void FencedBackend::upload(void* dst, const void* src, size_t bytes) const {
  LOOM_REQUIRE(allocator_.owns(dst) && !allocator_.owns(src), "fenced backend: upload from ",
               allocator_.owns(src) ? "backend" : "host", " memory to ", allocator_.owns(dst) ? "backend" : "host",
               " memory");
  DelegatingBackend::upload(dst, src, bytes);
}

void FencedBackend::download(void* dst, const void* src, size_t bytes) const {
  LOOM_REQUIRE(allocator_.owns(src) && !allocator_.owns(dst), "fenced backend: download from ",
               allocator_.owns(src) ? "backend" : "host", " memory to ", allocator_.owns(dst) ? "backend" : "host",
               " memory");
  DelegatingBackend::download(dst, src, bytes);
}

}  // namespace loom::test
