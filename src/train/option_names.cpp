#include "train/option_names.h"

#include <algorithm>
#include <cctype>

namespace loom {

namespace {

// TRL's bf16 flag chooses the compute precision: true = run.compute bf16, false = f32.
// Accepts Boost's bool spellings.
bool compute_of_bf16(const std::string& given, std::string* value) {
  std::string text = given;
  for (char& c : text) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  if (text == "true" || text == "yes" || text == "on" || text == "1") {
    *value = "bf16";
  } else if (text == "false" || text == "no" || text == "off" || text == "0") {
    *value = "f32";
  } else {
    return false;
  }
  return true;
}

std::pair<std::string, std::string> split_name(const std::string& name) {
  const size_t dot = name.find('.');
  if (dot == std::string::npos) return {"", name};
  return {name.substr(0, dot), name.substr(dot + 1)};
}

// "learning_rate" -> "lr".
std::string initials(const std::string& key) {
  std::string letters;
  for (size_t i = 0; i < key.size(); ++i)
    if (key[i] != '_' && (i == 0 || key[i - 1] == '_')) letters += key[i];
  return letters;
}

size_t key_distance(const std::string& typed, const std::string& key) {
  if (key.find('_') != std::string::npos && typed == initials(key)) return 0;  // two words or more
  return edit_distance(typed, key);
}

}  // namespace

const std::vector<KeyAlias>& key_aliases() {
  static const std::vector<KeyAlias> aliases = {
      {"train.micro_batch_size", "train.per_device_train_batch_size"},
      {"train.grad_accum_steps", "train.gradient_accumulation_steps"},
      {"train.epochs", "train.num_train_epochs"},
      {"train.lr_scheduler", "train.lr_scheduler_type"},
      {"train.resume", "train.resume_from_checkpoint"},
      {"train.bf16", "run.compute", compute_of_bf16, "true = bf16, false = f32"},
  };
  return aliases;
}

const KeyAlias* find_alias(const std::string& name) {
  for (const KeyAlias& alias : key_aliases())
    if (name == alias.alias) return &alias;
  return nullptr;
}

std::string canonical_key(const std::string& name) {
  const KeyAlias* alias = find_alias(name);
  return alias ? alias->key : name;
}

size_t edit_distance(const std::string& a, const std::string& b) {
  std::vector<size_t> row(b.size() + 1);  // distances from a[0, i) to b[0, j)
  for (size_t j = 0; j <= b.size(); ++j) row[j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    size_t diagonal = row[0];  // distance from a[0, i-1) to b[0, j-1)
    row[0] = i;
    for (size_t j = 1; j <= b.size(); ++j) {
      const size_t substitute = diagonal + (a[i - 1] == b[j - 1] ? 0 : 1);
      diagonal = row[j];
      row[j] = std::min({row[j] + 1, row[j - 1] + 1, substitute});
    }
  }
  return row[b.size()];
}

std::string nearest_key(const std::string& name, const std::vector<std::string>& known) {
  const auto [section, key] = split_name(name);
  std::string best;
  size_t best_score = 0;
  for (const std::string& candidate : known) {
    const auto [candidate_section, candidate_key] = split_name(candidate);
    const size_t score = key_distance(key, candidate_key) + (section == candidate_section ? 0 : 1);
    if (best.empty() || score < best_score) {
      best = candidate;
      best_score = score;
    }
  }
  return best;
}

}  // namespace loom
