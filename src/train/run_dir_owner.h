// One owner per output directory. Rank 0 of a training run holds an exclusive flock(2) on
// output_dir/.loom.lock for the whole run; a second run into the same directory is refused
// with the holder's host and PID (written into the lock file). The kernel drops the lock
// when the process ends, however it ends, so a crashed run never leaves a stale lock.
//
// On NFS (v4, or v3 with lockd) and Lustre (mounted with -o flock) flock goes through the
// kernel's lock manager and holds across nodes. Where the filesystem cannot lock (flock
// fails with ENOLCK / EOPNOTSUPP, e.g. Lustre mounted -o noflock or -o localflock across
// nodes), the lock is refused with that reason: the fallback is one run per directory by
// hand (a fresh train.output_dir per run), which loom cannot check.
//
// Taking the lock also decides whether the directory may be used:
//   - leftovers of a crash (checkpoint-N.tmp, final.old, ...) are cleaned and named;
//   - a directory holding another run's outputs (metrics.jsonl, checkpoint-N/, final/) is
//     refused for a fresh run unless train.overwrite_output_dir = true, which removes them;
//   - train.resume auto into a directory with no checkpoint but a log of the same run
//     (same config hash in the run header) starts it again; of another run: refused.
#pragma once

#include <string>
#include <vector>

namespace loom {

inline constexpr const char* kLockFileName = ".loom.lock";

class RunDirOwner {
 public:
  // Creates output_dir and takes the lock, or fails naming the holder ("... is in use by
  // the run on host H, pid P").
  explicit RunDirOwner(const std::string& output_dir);
  ~RunDirOwner();
  RunDirOwner(const RunDirOwner&) = delete;
  RunDirOwner& operator=(const RunDirOwner&) = delete;

 private:
  int fd_ = -1;
};

// loom's outputs in output_dir that show a run has used it (metrics.jsonl, checkpoint-N/,
// final/, samples.jsonl); empty for a fresh directory.
std::vector<std::string> run_outputs(const std::string& output_dir);

// Removes them (train.overwrite_output_dir).
void remove_run_outputs(const std::string& output_dir);

}  // namespace loom
