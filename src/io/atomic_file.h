// Crash-safe output: a file is written as `path.tmp`, flushed to disk and renamed over
// `path`, so a reader sees the old file or the whole new one, never a torn one. Directories
// (a checkpoint, final/, a merged model) are written as `dir.tmp` and swapped in the same way.
#pragma once

#include <cstddef>
#include <functional>
#include <string>
#include <vector>

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

// fsync of every file and directory under dir, then dir itself.
void sync_tree(const std::string& dir);

// Makes the finished directory tmp_dir durable and puts it at final_dir. An existing final_dir
// is exchanged with it in one step (renameat2 RENAME_EXCHANGE, so final_dir always names a
// complete directory) and the old one, now at tmp_dir, is removed. Where the filesystem has
// no exchange (EINVAL: some NFS servers, overlayfs), the old one is renamed to final_dir.old,
// the new one renamed in and final_dir.old removed; recover_replaced_directory() puts a
// crash in that window right.
void commit_directory(const std::string& tmp_dir, const std::string& final_dir);

// Writes a directory through `write` into dir.tmp (emptied first) and commits it over dir;
// if `write` throws, dir.tmp is removed and dir is untouched.
void replace_directory_atomically(const std::string& dir, const std::function<void(const std::string& tmp)>& write);

// What a crash in commit_directory() or replace_directory_atomically() may leave beside dir:
// dir.tmp (an unfinished write: removed) and dir.old (the previous one: renamed back when dir
// is missing, removed otherwise). Returns one line per thing it did, for the log.
std::vector<std::string> recover_replaced_directory(const std::string& dir);

}  // namespace loom
