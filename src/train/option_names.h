// The names a run-configuration key may be given under, and the nearest known key to an
// unknown one.
//
// Each key has one canonical name, the one the option tables declare and the effective
// configuration (loom_config.ini, run_identity.json) writes; for the [train] keys that is the
// Hugging Face TrainingArguments / TRL SFTConfig name. kKeyAliases lists the other names a
// key accepts (loom's earlier names, and TRL's `bf16` for run.compute). An alias with a
// value map translates the value as well (train.bf16 = true is run.compute = bf16).
// config_file.cpp applies the table when it reads a file or the command line; docs/configs.md
// shows it.
#pragma once

#include <string>
#include <vector>

namespace loom {

struct KeyAlias {
  const char* alias;  // the other name, "section.key"
  const char* key;    // the canonical name it stands for
  // Writes the canonical value for a value given under the alias, false when the value is
  // not one the alias takes; nullptr = the same text.
  bool (*value_of)(const std::string& alias_value, std::string* value) = nullptr;
  const char* values = nullptr;  // how value_of translates, for --help
};

const std::vector<KeyAlias>& key_aliases();

// The alias-table entry of `name`; nullptr when name is no alias.
const KeyAlias* find_alias(const std::string& name);

// `name` with an alias replaced by its canonical key (other names returned as they are).
std::string canonical_key(const std::string& name);

// Levenshtein distance (insertions, deletions, substitutions of one character each).
size_t edit_distance(const std::string& a, const std::string& b);

// The name in `known` ("section.key") closest to the unknown `name`: the distance between the
// key parts, 0 when name's key is the initials of a known key's words ("lr" for
// learning_rate), plus 1 when the sections differ. Ties go to the earlier entry of known.
// Empty when known is empty.
std::string nearest_key(const std::string& name, const std::vector<std::string>& known);

}  // namespace loom
