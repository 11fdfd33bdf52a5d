// What makes two runs the same run, so that a resume continues only its own run:
// the effective configuration (every key that changes the math), fingerprints of the
// files and directories it names (data manifests, which record the tokenizer's MD5 and the
// sequence length; the base model's config.json, tokenizer.model and weight file sizes), and
// the world size (the data each rank reads depends on it).
//
// A checkpoint saves the identity as run_identity.json; a resume compares it with the
// current one key by key, each key under its canonical name (train/option_names.h), so an
// identity written under a key's alias, and an alias in resume_allow_changes, mean that key.
// Keys that do not change the math may differ freely (kFreeKeys: output and logging cadence,
// resume settings, run.* placement, ...); train.max_steps may grow but not fall below the
// checkpoint's step. Any other difference is refused, listing every difference, unless
// train.resume_allow_changes names the key.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace loom {

inline constexpr const char* kRunIdentityFileName = "run_identity.json";

// The identity of the run configured by config_ini (effective_config_ini text) on `world` ranks:
// {"section.key": "value", ..., "section.key#fingerprint": "md5", "world_size": "2"}.
nlohmann::json run_identity(const std::string& config_ini, int world);

// MD5 of the identity's canonical JSON text: the config hash of the run header.
std::string run_identity_hash(const nlohmann::json& identity);

// The differences that forbid resuming `saved` (a checkpoint's) as `current`, one line each
// ("lora.r: 8 -> 16"), less those named in allowed. Keys in kFreeKeys are ignored;
// train.max_steps / train.num_train_epochs are checked by the caller against the step.
std::vector<std::string> identity_differences(const nlohmann::json& saved, const nlohmann::json& current,
                                              const std::vector<std::string>& allowed);

// Writes dir/run_identity.json; reads it back (an empty object when the file is absent,
// for checkpoints written before identities existed).
void save_run_identity(const std::string& dir, const nlohmann::json& identity);
nlohmann::json load_run_identity(const std::string& dir);

}  // namespace loom
