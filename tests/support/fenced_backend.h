// A CPU stand-in for device memory: cpu-f32's ops on arenas that the host cannot touch. Its
// allocator maps each arena with PROT_NONE and opens every arena only for the duration of a
// backend call (ops, upload, download, zeroing), so host code that reads or writes backend
// memory directly (as it could on the CPU backends, and cannot on a GPU) dies with SIGSEGV, and
// host pointers passed where backend memory belongs are refused by name. What a model runs on
// it runs the same way on the cuda backend, as far as memory goes.
#pragma once

#include <map>
#include <memory>

#include "support/delegating_backend.h"

namespace loom::test {

class FencedAllocator final : public ArenaAllocator {
 public:
  ~FencedAllocator() override;
  void* allocate(size_t bytes) const override;
  void release(void* memory) const override;
  void zero(void* memory, size_t bytes) const override;
  const char* kind() const override { return "fenced host (test)"; }

  void open() const;   // every arena readable and writable (nested calls count)
  void close() const;  // back to PROT_NONE when the outermost call ends
  bool owns(const void* pointer) const;  // inside one of the arenas

 private:
  mutable std::map<const std::byte*, size_t> regions_;  // base -> mapped bytes
  mutable int open_depth_ = 0;
};

class FencedBackend final : public DelegatingBackend {
 public:
  FencedBackend();
  const char* name() const override { return "cpu-f32 (fenced)"; }
  const ArenaAllocator& allocator() const override { return allocator_; }
  // The host side must be host memory and the backend side backend memory.
  void upload(void* dst, const void* src, size_t bytes) const override;
  void download(void* dst, const void* src, size_t bytes) const override;

 protected:
  void enter() const override { allocator_.open(); }
  void leave() const override { allocator_.close(); }

 private:
  FencedAllocator allocator_;
};

}  // namespace loom::test
