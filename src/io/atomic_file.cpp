#include "io/atomic_file.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>

#include "core/check.h"

namespace loom {

AtomicFile::AtomicFile(std::string path) : path_(std::move(path)), tmp_path_(path_ + ".tmp") {
  fd_ = ::open(tmp_path_.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  LOOM_REQUIRE(fd_ >= 0, path_, ": cannot create file (", std::strerror(errno), ")");
}

AtomicFile::~AtomicFile() {
  if (fd_ < 0) return;
  ::close(fd_);
  ::unlink(tmp_path_.c_str());
}

void AtomicFile::write(const void* bytes, size_t count) {
  const char* p = static_cast<const char*>(bytes);
  while (count > 0) {
    const ssize_t n = ::write(fd_, p, count);
    if (n < 0 && errno == EINTR) continue;
    LOOM_REQUIRE(n > 0, path_, ": write failed (", std::strerror(errno), ")");
    p += n;
    count -= static_cast<size_t>(n);
  }
}

void AtomicFile::commit() {
  LOOM_REQUIRE(::fsync(fd_) == 0, path_, ": fsync failed (", std::strerror(errno), ")");
  const int closed = ::close(fd_);
  fd_ = -1;
  if (closed != 0 || std::rename(tmp_path_.c_str(), path_.c_str()) != 0) {
    const int saved = errno;
    ::unlink(tmp_path_.c_str());
    LOOM_FAIL(path_, ": cannot finish writing (", std::strerror(saved), ")");
  }
  sync_path(std::filesystem::path(path_).parent_path().string());
}

void write_file_atomically(const std::string& path, const std::string& bytes) {
  AtomicFile file(path);
  file.write(bytes.data(), bytes.size());
  file.commit();
}

void sync_path(const std::string& path) {
  const std::string target = path.empty() ? "." : path;
  const int fd = ::open(target.c_str(), O_RDONLY | O_CLOEXEC);
  LOOM_REQUIRE(fd >= 0, target, ": cannot open to sync (", std::strerror(errno), ")");
  const int synced = ::fsync(fd);
  const int saved = errno;
  ::close(fd);
  LOOM_REQUIRE(synced == 0, target, ": fsync failed (", std::strerror(saved), ")");
}

}  // namespace loom
