#include "train/run_dir_owner.h"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <string>

#include "core/check.h"

namespace loom {

namespace fs = std::filesystem;

namespace {

std::string host_name() {
  char name[256] = {0};
  gethostname(name, sizeof(name) - 1);
  return name;
}

std::string read_holder(int fd) {
  char text[512] = {0};
  const ssize_t n = ::pread(fd, text, sizeof(text) - 1, 0);
  std::string holder = n > 0 ? std::string(text, size_t(n)) : "";
  while (!holder.empty() && (holder.back() == '\n' || holder.back() == ' ')) holder.pop_back();
  return holder.empty() ? "an unknown process" : holder;
}

}  // namespace

RunDirOwner::RunDirOwner(const std::string& output_dir) {
  std::error_code error;
  fs::create_directories(output_dir, error);
  LOOM_REQUIRE(!error, output_dir, ": cannot create directory (", error.message(), ")");
  const std::string path = (fs::path(output_dir) / kLockFileName).string();
  fd_ = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  LOOM_REQUIRE(fd_ >= 0, path, ": cannot open the run lock (", std::strerror(errno), ")");
  if (::flock(fd_, LOCK_EX | LOCK_NB) != 0) {
    const int saved = errno;
    const std::string holder = saved == EWOULDBLOCK ? read_holder(fd_) : "";
    ::close(fd_);
    fd_ = -1;
    LOOM_REQUIRE(saved != EWOULDBLOCK, output_dir, ": in use by the run of ", holder,
                 " (one run per train.output_dir)");
    LOOM_FAIL(path, ": cannot lock (", std::strerror(saved),
              "); this filesystem gives no cross-node locks: use a fresh train.output_dir per run");
  }
  const std::string me = cat("host ", host_name(), ", pid ", ::getpid(), "\n");
  LOOM_REQUIRE(::ftruncate(fd_, 0) == 0 && ::pwrite(fd_, me.data(), me.size(), 0) == ssize_t(me.size()), path,
               ": cannot write the run lock (", std::strerror(errno), ")");
}

RunDirOwner::~RunDirOwner() {
  if (fd_ >= 0) ::close(fd_);  // releases the flock
}

std::vector<std::string> run_outputs(const std::string& output_dir) {
  std::vector<std::string> found;
  std::error_code error;
  for (fs::directory_iterator it(output_dir, error), end; !error && it != end; it.increment(error)) {
    const std::string name = it->path().filename().string();
    if (name == "metrics.jsonl" || name == "samples.jsonl" || name == "final" || name.rfind("checkpoint-", 0) == 0)
      found.push_back(name);
  }
  return found;
}

void remove_run_outputs(const std::string& output_dir) {
  for (const std::string& name : run_outputs(output_dir)) {
    std::error_code error;
    fs::remove_all(fs::path(output_dir) / name, error);
    LOOM_REQUIRE(!error, (fs::path(output_dir) / name).string(), ": cannot remove (", error.message(), ")");
  }
}

}  // namespace loom
