#include "io/atomic_file.h"

#include <fcntl.h>
#include <stdio.h>
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

namespace fs = std::filesystem;

namespace {

void remove_tree(const fs::path& path) {
  std::error_code error;
  fs::remove_all(path, error);
  LOOM_REQUIRE(!error, path.string(), ": cannot remove (", error.message(), ")");
}

void rename_path(const fs::path& from, const fs::path& to) {
  std::error_code error;
  fs::rename(from, to, error);
  LOOM_REQUIRE(!error, from.string(), ": cannot rename to ", to.string(), " (", error.message(), ")");
}

}  // namespace

void sync_tree(const std::string& dir) {
  for (const fs::directory_entry& entry : fs::recursive_directory_iterator(dir))
    if (entry.is_regular_file() || entry.is_directory()) sync_path(entry.path().string());
  sync_path(dir);
}

void commit_directory(const std::string& tmp_dir, const std::string& final_dir) {
  LOOM_REQUIRE(fs::is_directory(tmp_dir), tmp_dir, ": not a directory, cannot commit it");
  sync_tree(tmp_dir);
  const fs::path parent = fs::path(final_dir).parent_path();
  if (!fs::exists(final_dir)) {
    rename_path(tmp_dir, final_dir);
    sync_path(parent.string());
    return;
  }
  if (::renameat2(AT_FDCWD, tmp_dir.c_str(), AT_FDCWD, final_dir.c_str(), RENAME_EXCHANGE) == 0) {
    sync_path(parent.string());
    remove_tree(tmp_dir);  // now the previous final_dir
    return;
  }
  LOOM_REQUIRE(errno == EINVAL || errno == ENOSYS, tmp_dir, ": cannot exchange with ", final_dir, " (",
               std::strerror(errno), ")");
  const fs::path old = final_dir + ".old";
  remove_tree(old);
  rename_path(final_dir, old);
  rename_path(tmp_dir, final_dir);
  sync_path(parent.string());
  remove_tree(old);
}

void replace_directory_atomically(const std::string& dir_text,
                                  const std::function<void(const std::string& tmp)>& write) {
  fs::path target = fs::path(dir_text).lexically_normal();
  if (!target.has_filename()) target = target.parent_path();  // "out/model/" -> "out/model"
  const std::string dir = target.string(), tmp = dir + ".tmp";
  std::error_code error;
  if (!fs::path(dir).parent_path().empty()) fs::create_directories(fs::path(dir).parent_path(), error);
  LOOM_REQUIRE(!error, fs::path(dir).parent_path().string(), ": cannot create directory (", error.message(), ")");
  remove_tree(tmp);
  fs::create_directory(tmp, error);
  LOOM_REQUIRE(!error, tmp, ": cannot create directory (", error.message(), ")");
  try {
    write(tmp);
    commit_directory(tmp, dir);
  } catch (...) {
    fs::remove_all(tmp, error);  // a failed write (disk full) leaves nothing behind
    throw;
  }
}

std::vector<std::string> recover_replaced_directory(const std::string& dir) {
  std::vector<std::string> done;
  const fs::path tmp = dir + ".tmp", old = dir + ".old";
  if (fs::exists(tmp)) {
    remove_tree(tmp);
    done.push_back(cat(tmp.string(), ": removed an unfinished write"));
  }
  if (fs::exists(old)) {
    if (!fs::exists(dir)) {
      rename_path(old, dir);
      done.push_back(cat(old.string(), ": renamed back to ", dir, " (a replacement was interrupted)"));
    } else {
      remove_tree(old);
      done.push_back(cat(old.string(), ": removed the replaced copy"));
    }
  }
  return done;
}

}  // namespace loom
