// Crash-safe output: a file is written as `path.tmp`, flushed to disk and renamed over
// `path`, so a reader sees the old file or the whole new one, never a torn one.
#pragma once

#include <cstddef>
#include <string>

namespace loom {

class AtomicFile {
 public:
  explicit AtomicFile(std::string path);  // creates path.tmp; error names path if it cannot
  ~AtomicFile();                          // removes path.tmp unless commit() ran
  AtomicFile(const AtomicFile&) = delete;
  AtomicFile& operator=(const AtomicFile&) = delete;

  void write(const void* bytes, size_t count);
  void commit();  // fsync, close, rename path.tmp -> path, fsync the directory

 private:
  std::string path_, tmp_path_;
  int fd_ = -1;
};

void write_file_atomically(const std::string& path, const std::string& bytes);

// fsync of a file or a directory (so a rename or a copy inside it is durable).
void sync_path(const std::string& path);

}  // namespace loom
