#include "train/run_identity.h"

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>

#include "core/check.h"
#include "data/md5.h"
#include "io/atomic_file.h"
#include "io/json_file.h"
#include "train/option_names.h"

namespace loom {

namespace fs = std::filesystem;

namespace {

// Keys whose value does not change what the run computes (canonical names).
const std::set<std::string>& free_keys() {
  static const std::set<std::string> keys = {
      "train.output_dir", "train.resume_from_checkpoint", "train.resume_allow_changes", "train.overwrite_output_dir",
      "train.max_steps", "train.num_train_epochs", "train.logging_steps", "train.eval_steps", "train.save_steps",
      "train.save_total_limit", "train.nan_policy", "train.max_skipped_steps", "model.gradient_checkpointing",
      "run.device", "run.compute", "run.collective_timeout", "ppo.samples_per_log"};
  return keys;
}

std::string file_bytes(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream bytes;
  bytes << in.rdbuf();
  return bytes.str();
}

// A directory's fingerprint: its config.json, tokenizer.model and adapter_config.json bytes and
// the names and sizes of its other regular files (weights are too big to hash at every start).
std::string directory_fingerprint(const fs::path& dir) {
  std::vector<std::string> parts;
  std::error_code error;
  for (fs::directory_iterator it(dir, error), end; !error && it != end; it.increment(error)) {
    if (!it->is_regular_file()) continue;
    const std::string name = it->path().filename().string();
    if (name == "config.json" || name == "tokenizer.model" || name == "adapter_config.json")
      parts.push_back(name + ":" + data::md5_hex(file_bytes(it->path())));
    else
      parts.push_back(cat(name, ":", it->file_size()));
  }
  std::sort(parts.begin(), parts.end());
  std::string all;
  for (const std::string& part : parts) all += part + "\n";
  return data::md5_hex(all);
}

// An identity key ("section.key" or "section.key#fingerprint") under its key's canonical name:
// checkpoints written before a key was renamed hold the older name.
std::string canonical_identity_key(const std::string& key) {
  const size_t hash = key.find('#');
  if (hash == std::string::npos) return canonical_key(key);
  return canonical_key(key.substr(0, hash)) + key.substr(hash);
}

nlohmann::json canonical_identity(const nlohmann::json& identity) {
  nlohmann::json canonical = nlohmann::json::object();
  for (auto it = identity.begin(); it != identity.end(); ++it) canonical[canonical_identity_key(it.key())] = it.value();
  return canonical;
}

}  // namespace

nlohmann::json run_identity(const std::string& config_ini, int world) {
  nlohmann::json identity = nlohmann::json::object();
  std::istringstream lines(config_ini);
  std::string line, section;
  while (std::getline(lines, line)) {
    if (line.empty() || line[0] == '#') continue;
    if (line.front() == '[' && line.back() == ']') {
      section = line.substr(1, line.size() - 2);
      continue;
    }
    const size_t eq = line.find(" =");
    if (eq == std::string::npos) continue;
    const std::string key = canonical_key(section + "." + line.substr(0, eq));
    const std::string value = eq + 3 <= line.size() ? line.substr(std::min(line.size(), eq + 3)) : "";
    identity[key] = value;
    if (free_keys().count(key) || value.empty()) continue;
    std::error_code error;
    if (fs::is_regular_file(value, error))
      identity[key + "#fingerprint"] = data::md5_hex(file_bytes(value));
    else if (fs::is_directory(value, error))
      identity[key + "#fingerprint"] = directory_fingerprint(value);
  }
  identity["world_size"] = std::to_string(world);
  return identity;
}

std::string run_identity_hash(const nlohmann::json& identity) {
  nlohmann::json math = nlohmann::json::object();
  const nlohmann::json canonical = canonical_identity(identity);
  for (auto it = canonical.begin(); it != canonical.end(); ++it)
    if (!free_keys().count(it.key())) math[it.key()] = it.value();
  return data::md5_hex(math.dump());
}

std::vector<std::string> identity_differences(const nlohmann::json& saved_as_written,
                                              const nlohmann::json& current_as_written,
                                              const std::vector<std::string>& allowed_as_written) {
  const nlohmann::json saved = canonical_identity(saved_as_written);
  const nlohmann::json current = canonical_identity(current_as_written);
  std::vector<std::string> allowed;
  for (const std::string& key : allowed_as_written) allowed.push_back(canonical_key(key));
  std::set<std::string> keys;
  for (auto it = saved.begin(); it != saved.end(); ++it) keys.insert(it.key());
  for (auto it = current.begin(); it != current.end(); ++it) keys.insert(it.key());
  std::vector<std::string> differences;
  for (const std::string& key : keys) {
    const std::string base = key.substr(0, key.find('#'));
    if (free_keys().count(base) || std::find(allowed.begin(), allowed.end(), base) != allowed.end()) continue;
    const std::string was = saved.contains(key) ? saved[key].get<std::string>() : "(unset)";
    const std::string now = current.contains(key) ? current[key].get<std::string>() : "(unset)";
    if (was == now) continue;
    if (key == "world_size")  // docs/distributed.md, "Changing the number of ranks"
      differences.push_back(cat(key, ": ", was, " -> ", now,
                                " (each rank resumes its own data cursor, so another world size reads other "
                                "records than the uninterrupted run and the sample order is not kept)"));
    else
      differences.push_back(key.find('#') == std::string::npos ? cat(key, ": ", was, " -> ", now)
                                                               : cat(base, ": the file's contents changed"));
  }
  return differences;
}

void save_run_identity(const std::string& dir, const nlohmann::json& identity) {
  write_file_atomically((fs::path(dir) / kRunIdentityFileName).string(), identity.dump(2) + "\n");
}

nlohmann::json load_run_identity(const std::string& dir) {
  const std::string path = (fs::path(dir) / kRunIdentityFileName).string();
  if (!fs::exists(path)) return nlohmann::json::object();
  return parse_json_object(read_text_file(path), path);
}

}  // namespace loom
