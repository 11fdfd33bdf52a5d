#include "data/manifest.h"

#include <cstdio>
#include <filesystem>
#include <mutex>
#include <set>

#include "core/check.h"
#include "data/md5.h"
#include "io/json_file.h"

namespace loom::data {

namespace fs = std::filesystem;
using nlohmann::json;

void ShardCounts::add(const ShardCounts& o) {
  records += o.records;
  documents += o.documents;
  tokens += o.tokens;
  dropped_invalid += o.dropped_invalid;
  dropped_empty += o.dropped_empty;
  dropped_too_long += o.dropped_too_long;
  dropped_identical += o.dropped_identical;
  truncated += o.truncated;
}

namespace names = shard_names;

json ShardCounts::to_json() const {
  return json{{names::kRecords, records},
              {names::kDocuments, documents},
              {names::kTokenCount, tokens},
              {names::kDroppedInvalid, dropped_invalid},
              {names::kDroppedEmpty, dropped_empty},
              {names::kDroppedTooLong, dropped_too_long},
              {names::kDroppedIdentical, dropped_identical},
              {names::kTruncated, truncated}};
}

static int64_t int_field(const json& object, const char* key, const std::string& where) {
  int64_t value = 0;
  LOOM_REQUIRE(object.is_object() && json_int(object, key, where, &value), where, ": '", key, "' is missing");
  return value;
}

static std::string string_field(const json& object, const char* key, const std::string& where) {
  std::string value;
  LOOM_REQUIRE(object.is_object() && json_string(object, key, where, &value), where, ": '", key, "' is missing");
  return value;
}

int bounded_int(int64_t value, int64_t low, int64_t high, const std::string& where, const char* key) {
  LOOM_REQUIRE(value >= low && value <= high, where, ": ", key, " = ", value, " is outside ", low, "..", high);
  return static_cast<int>(value);
}

void read_shard_numbers(ShardInfo* info, const std::function<int64_t(const char*)>& get, const std::string& where) {
  const char* row_key = row_length_attribute(info->kind);
  info->row_len = bounded_int(get(row_key), 1, kMaxShardRowLen, where, row_key);
  info->vocab_size = bounded_int(get(names::kVocabSize), 1, kMaxShardVocab, where, names::kVocabSize);
  for (auto [key, id] : {std::pair{names::kBosId, &info->bos_id}, std::pair{names::kEosId, &info->eos_id},
                         std::pair{names::kPadId, &info->pad_id}})
    *id = bounded_int(get(key), -1, info->vocab_size - 1, where, key);
}

ShardCounts ShardCounts::from_json(const json& o, const std::string& where) {
  ShardCounts c;
  c.records = int_field(o, names::kRecords, where);
  c.documents = int_field(o, names::kDocuments, where);
  c.tokens = int_field(o, names::kTokenCount, where);
  c.dropped_invalid = int_field(o, names::kDroppedInvalid, where);
  c.dropped_empty = int_field(o, names::kDroppedEmpty, where);
  c.dropped_too_long = int_field(o, names::kDroppedTooLong, where);
  c.dropped_identical = int_field(o, names::kDroppedIdentical, where);
  c.truncated = int_field(o, names::kTruncated, where);
  for (int64_t count : {c.records, c.documents, c.tokens, c.dropped_invalid, c.dropped_empty, c.dropped_too_long,
                        c.dropped_identical, c.truncated})
    LOOM_REQUIRE(count >= 0, where, ": counts must not be negative (", o.dump(), ")");
  return c;
}

const ManifestSplit& Manifest::split(const std::string& name, const std::string& where) const {
  for (const auto& s : splits)
    if (s.name == name) return s;
  LOOM_FAIL(where, ": no split '", name, "'");
}

std::string manifest_to_json(const Manifest& m) {
  json splits = json::object();
  for (const auto& s : m.splits) {
    json shards = json::array();
    for (const auto& shard : s.shards) {
      json entry = shard.counts.to_json();
      entry["file"] = shard.file;
      if (!shard.md5.empty()) entry["md5"] = shard.md5;
      shards.push_back(entry);
    }
    splits[s.name] = json{{"shards", shards}, {"totals", s.totals.to_json()}, {"tail_tokens_dropped", s.tail_tokens_dropped}};
  }
  json out{{"format", kManifestFormat},
           {names::kFormatVersion, kShardFormatVersion},
           {names::kKind, shard_kind_name(m.info.kind)},
           {row_length_attribute(m.info.kind), m.info.row_len},
           {names::kTokenizerMd5, m.info.tokenizer_md5},
           {names::kTokenizerPath, m.info.tokenizer_path},
           {names::kVocabSize, m.info.vocab_size},
           {names::kBosId, m.info.bos_id},
           {names::kEosId, m.info.eos_id},
           {names::kPadId, m.info.pad_id},
           {names::kTemplate, m.info.template_name},
           {names::kSeed, m.info.seed},
           {names::kSourceFiles, m.info.source_files},
           {"splits", splits}};
  if (m.info.kind == ShardKind::sft) out[names::kSftLayout] = sft_layout_name(m.info.layout);
  return out.dump(2) + "\n";
}

Manifest read_manifest(const std::string& path) {
  const json root = parse_json_object(read_text_file(path), path);
  LOOM_REQUIRE(root.contains("format") && root["format"] == kManifestFormat, path,
               ": not a loom token-shard manifest ('format' is not \"", kManifestFormat, "\")");
  const int64_t version = int_field(root, names::kFormatVersion, path);
  LOOM_REQUIRE(version == kShardFormatVersion, path, ": format_version ", version, " is not the supported ",
               kShardFormatVersion);
  Manifest m;
  ShardInfo& info = m.info;
  info.kind = parse_shard_kind(string_field(root, names::kKind, path), path);
  if (info.kind == ShardKind::sft) info.layout = parse_sft_layout(string_field(root, names::kSftLayout, path), path);
  read_shard_numbers(&info, [&](const char* key) { return int_field(root, key, path); }, path);
  info.tokenizer_md5 = string_field(root, names::kTokenizerMd5, path);
  info.tokenizer_path = string_field(root, names::kTokenizerPath, path);
  info.template_name = string_field(root, names::kTemplate, path);
  info.seed = static_cast<uint64_t>(int_field(root, names::kSeed, path));
  LOOM_REQUIRE(root.contains(names::kSourceFiles) && root[names::kSourceFiles].is_array(), path,
               ": 'source_files' must be a list");
  for (const auto& f : root[names::kSourceFiles]) {
    LOOM_REQUIRE(f.is_string(), path, ": 'source_files' must be a list of strings, found ", f.dump());
    info.source_files.push_back(f.get<std::string>());
  }
  LOOM_REQUIRE(root.contains("splits") && root["splits"].is_object(), path, ": 'splits' must be an object");
  for (const auto& [name, body] : root["splits"].items()) {
    const std::string where = path + ": splits." + name;
    ManifestSplit split;
    split.name = name;
    LOOM_REQUIRE(body.contains("shards") && body["shards"].is_array(), where, ": 'shards' must be a list");
    for (const auto& entry : body["shards"]) {
      const std::string file = string_field(entry, "file", where);
      LOOM_REQUIRE(!file.empty() && file.find('/') == std::string::npos && file.find("..") == std::string::npos,
                   where, ": shard file '", file, "' is not a file name inside the manifest's folder");
      std::string md5;
      if (entry.contains("md5")) {
        md5 = string_field(entry, "md5", where);
        LOOM_REQUIRE(md5.size() == 32 && md5.find_first_not_of("0123456789abcdef") == std::string::npos, where,
                     ": shard '", file, "': md5 '", md5, "' is not 32 lowercase hex digits");
      }
      split.shards.push_back({file, ShardCounts::from_json(entry, where), md5});
    }
    LOOM_REQUIRE(body.contains("totals"), where, ": 'totals' is missing");
    split.totals = ShardCounts::from_json(body["totals"], where);
    split.tail_tokens_dropped = int_field(body, "tail_tokens_dropped", where);
    m.splits.push_back(std::move(split));
  }
  return m;
}

void require_shard_md5(const std::string& shard_path, const ManifestShard& shard, const std::string& manifest_path) {
  if (shard.md5.empty()) return;
  const std::string md5 = md5_file_hex(shard_path);
  LOOM_REQUIRE(md5 == shard.md5, shard_path, ": MD5 ", md5, " is not the ", shard.md5, " recorded in ",
               manifest_path, ": the file is corrupted or was changed after loom-prep wrote it");
}

void require_shard_md5_beside(const std::string& shard_path) {
  const fs::path shard(shard_path);
  const fs::path manifest_path = shard.parent_path() / kManifestFile;
  std::error_code error;
  if (!fs::is_regular_file(manifest_path, error)) return;
  const Manifest manifest = read_manifest(manifest_path.string());
  for (const ManifestSplit& split : manifest.splits)
    for (const ManifestShard& entry : split.shards)
      if (entry.file == shard.filename().string()) require_shard_md5(shard_path, entry, manifest_path.string());
}

void warn_if_without_md5(const Manifest& manifest, const std::string& manifest_path) {
  static std::mutex mutex;
  static std::set<std::string> warned;
  bool without = false;
  for (const ManifestSplit& split : manifest.splits)
    for (const ManifestShard& shard : split.shards) without = without || shard.md5.empty();
  const std::lock_guard<std::mutex> lock(mutex);
  if (!without || !warned.insert(manifest_path).second) return;
  std::fprintf(stderr,
               "warning: %s: shards without an MD5 (written by an older loom-prep) are read unchecked; a corrupted "
               "shard header can crash libhdf5: run loom-prep again to record them\n",
               manifest_path.c_str());
}

}  // namespace loom::data
