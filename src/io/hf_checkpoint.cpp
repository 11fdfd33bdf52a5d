#include "io/hf_checkpoint.h"

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <map>
#include <set>

#include <nlohmann/json.hpp>

#include "core/check.h"
#include "io/atomic_file.h"
#include "io/json_file.h"

namespace loom {

namespace fs = std::filesystem;

namespace {

const char* const kSingleFile = "model.safetensors";
const char* const kIndexFile = "model.safetensors.index.json";

bool is_pickle_checkpoint(const std::string& file) {
  const bool shard = file.rfind("pytorch_model-", 0) == 0 && file.size() > 4 &&
                     file.compare(file.size() - 4, 4, ".bin") == 0;
  return file == "pytorch_model.bin" || file == "pytorch_model.bin.index.json" || shard;
}

// Fails with the reason a directory holds no loadable weights.
[[noreturn]] void fail_without_safetensors(const std::string& dir) {
  for (const auto& entry : fs::directory_iterator(dir)) {
    const std::string file = entry.path().filename().string();
    LOOM_REQUIRE(!is_pickle_checkpoint(file), dir, ": ", file,
                 " is a pickle checkpoint, which loom does not load (loading it executes code); convert "
                 "it to safetensors, e.g. with transformers' save_pretrained(safe_serialization=True)");
  }
  LOOM_FAIL(dir, ": no ", kSingleFile, " or ", kIndexFile, " found");
}

// tensor name -> file name, from model.safetensors.index.json.
std::map<std::string, std::string> read_weight_map(const std::string& dir) {
  const std::string path = (fs::path(dir) / kIndexFile).string();
  const nlohmann::json index = parse_json_object(read_text_file(path), path);
  const auto weight_map = index.find("weight_map");
  LOOM_REQUIRE(weight_map != index.end() && weight_map->is_object(), path, ": weight_map is missing");
  std::map<std::string, std::string> files;
  for (const auto& [tensor, file] : weight_map->items()) {
    LOOM_REQUIRE(file.is_string(), path, ": weight_map entry '", tensor, "' is not a file name");
    const std::string name = file.get<std::string>();
    LOOM_REQUIRE(!name.empty() && name.find('/') == std::string::npos && name.find('\\') == std::string::npos &&
                     name.find("..") == std::string::npos,
                 path, ": weight_map entry '", tensor, "' points to '", name,
                 "', which is not a file inside the checkpoint directory");
    LOOM_REQUIRE(fs::is_regular_file(fs::path(dir) / name), path, ": weight_map entry '", tensor,
                 "' points to '", name, "', which does not exist");
    files[tensor] = name;
  }
  return files;
}

const char* torch_dtype_of(DType stored) {
  switch (stored) {
    case DType::F32: return "float32";
    case DType::F16: return "float16";
    case DType::BF16: return "bfloat16";
    default: LOOM_FAIL("checkpoint tensors cannot be stored as ", dtype_name(stored));
  }
}

size_t stored_bytes(const NamedTensor& t, DType stored) {
  size_t n = dtype_size(stored);
  for (int64_t d : t.shape) n *= static_cast<size_t>(d);
  return n;
}

std::string shard_name(size_t k, size_t count) {
  char name[64];
  std::snprintf(name, sizeof(name), "model-%05zu-of-%05zu.safetensors", k + 1, count);
  return name;
}

void write_safetensors(const std::string& path, const std::vector<const NamedTensor*>& tensors, DType stored) {
  SafetensorsWriter writer;
  writer.set_metadata("format", "pt");
  for (const NamedTensor* t : tensors) writer.add_f32(t->name, t->shape, t->data, stored);
  writer.write(path);
}

// Everything write_hf_checkpoint puts into the directory, written to tmp; messages name target.
void write_checkpoint_files(const fs::path& target, const fs::path& tmp, const LlamaConfig& config,
                            const std::vector<NamedTensor>& tensors, DType stored, size_t max_shard_bytes,
                            const std::vector<std::string>& extra_files) {
  LlamaConfig written = config;
  written.torch_dtype = torch_dtype_of(stored);
  write_file_atomically((tmp / "config.json").string(), llama_config_to_json(written));

  std::set<std::string> names;
  std::vector<std::vector<const NamedTensor*>> shards(1);
  size_t shard_bytes = 0, total_bytes = 0;
  for (const NamedTensor& t : tensors) {
    LOOM_REQUIRE(names.insert(t.name).second, target.string(), ": tensor '", t.name, "' is written twice");
    const size_t bytes = stored_bytes(t, stored);
    if (max_shard_bytes > 0 && !shards.back().empty() && shard_bytes + bytes > max_shard_bytes) {
      shards.emplace_back();
      shard_bytes = 0;
    }
    shards.back().push_back(&t);
    shard_bytes += bytes;
    total_bytes += bytes;
  }
  if (shards.size() == 1) {
    write_safetensors((tmp / kSingleFile).string(), shards[0], stored);
  } else {
    nlohmann::json weight_map = nlohmann::json::object();
    for (size_t k = 0; k < shards.size(); ++k) {
      const std::string file = shard_name(k, shards.size());
      write_safetensors((tmp / file).string(), shards[k], stored);
      for (const NamedTensor* t : shards[k]) weight_map[t->name] = file;
    }
    const nlohmann::json index = {{"metadata", {{"total_size", total_bytes}}}, {"weight_map", weight_map}};
    write_file_atomically((tmp / kIndexFile).string(), index.dump(2) + "\n");
  }

  for (const std::string& source : extra_files) {
    const fs::path destination = tmp / fs::path(source).filename();
    LOOM_REQUIRE(!fs::exists(destination), source, ": cannot copy into ", target.string(), ", which already has a ",
                 destination.filename().string());
    std::error_code ec;
    fs::copy_file(source, destination, ec);
    LOOM_REQUIRE(!ec, source, ": cannot copy into ", target.string(), " (", ec.message(), ")");
    sync_path(destination.string());
  }
  sync_path(tmp.string());
}

}  // namespace

HfCheckpoint::HfCheckpoint(const std::string& dir) : dir_(dir) {
  LOOM_REQUIRE(fs::is_directory(dir), dir, ": checkpoint directory does not exist");
  std::map<std::string, std::string> weight_map;
  if (fs::exists(fs::path(dir) / kIndexFile)) {
    weight_map = read_weight_map(dir);
  } else if (fs::exists(fs::path(dir) / kSingleFile)) {
    files_.push_back(std::make_unique<SafetensorsFile>((fs::path(dir) / kSingleFile).string()));
    for (const TensorInfo& t : files_[0]->tensors()) weight_map[t.name] = kSingleFile;
  } else {
    fail_without_safetensors(dir);
  }
  config_ = load_llama_config((fs::path(dir) / "config.json").string());

  std::map<std::string, size_t> file_index;
  for (size_t i = 0; i < files_.size(); ++i) file_index[fs::path(files_[i]->path()).filename().string()] = i;
  for (const auto& [tensor, file] : weight_map) {
    auto it = file_index.find(file);
    if (it == file_index.end()) {
      files_.push_back(std::make_unique<SafetensorsFile>((fs::path(dir) / file).string()));
      it = file_index.emplace(file, files_.size() - 1).first;
    }
    const SafetensorsFile& st = *files_[it->second];
    LOOM_REQUIRE(st.find(tensor), st.path(), ": tensor '", tensor, "' is missing (", kIndexFile,
                 " maps it to this file)");
    tensor_file_.emplace_back(tensor, it->second);  // weight_map iterates in name order
  }
}

HfCheckpoint::Located HfCheckpoint::locate(const std::string& name) const {
  const auto it = std::lower_bound(tensor_file_.begin(), tensor_file_.end(), name,
                                   [](const auto& entry, const std::string& n) { return entry.first < n; });
  if (it == tensor_file_.end() || it->first != name) return {};
  const SafetensorsFile& file = *files_[it->second];
  return {file.find(name), file.path()};
}

bool HfCheckpoint::has(const std::string& name) const { return locate(name).info != nullptr; }

std::vector<std::string> HfCheckpoint::tensor_names() const {
  std::vector<std::string> names;
  for (const auto& entry : tensor_file_) names.push_back(entry.first);
  return names;
}

void HfCheckpoint::read_f32(const std::string& name, const std::vector<int64_t>& shape, float* out) const {
  const auto it = std::lower_bound(tensor_file_.begin(), tensor_file_.end(), name,
                                   [](const auto& entry, const std::string& n) { return entry.first < n; });
  LOOM_REQUIRE(it != tensor_file_.end() && it->first == name, dir_, ": tensor '", name, "' is missing");
  files_[it->second]->read_f32(name, shape, out, "config.json");
}

void write_hf_checkpoint(const std::string& dir, const LlamaConfig& config,
                         const std::vector<NamedTensor>& tensors, DType stored,
                         size_t max_shard_bytes, const std::vector<std::string>& extra_files) {
  fs::path target = fs::path(dir).lexically_normal();
  if (!target.has_filename()) target = target.parent_path();  // "out/ckpt/" -> "out/ckpt"
  const fs::path tmp = target.string() + ".tmp";
  std::error_code ec;
  if (fs::exists(tmp, ec)) fs::remove_all(tmp, ec);
  LOOM_REQUIRE(!ec, tmp.string(), ": cannot remove the leftover directory (", ec.message(), ")");
  fs::create_directories(tmp, ec);
  LOOM_REQUIRE(!ec, tmp.string(), ": cannot create directory (", ec.message(), ")");

  try {
    write_checkpoint_files(target, tmp, config, tensors, stored, max_shard_bytes, extra_files);
  } catch (const Error&) {
    fs::remove_all(tmp, ec);
    throw;
  }

  fs::remove_all(target, ec);
  LOOM_REQUIRE(!ec, target.string(), ": cannot replace the existing directory (", ec.message(), ")");
  fs::rename(tmp, target, ec);
  LOOM_REQUIRE(!ec, target.string(), ": cannot rename ", tmp.string(), " into place (", ec.message(), ")");
  sync_path(target.parent_path().string());
}

}  // namespace loom
