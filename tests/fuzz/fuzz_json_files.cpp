// The JSON files loom reads, each parser on the same input: a model's config.json, a PEFT
// adapter_config.json and a shard set's manifest.json. What a parser accepts must survive its
// own writer: parse(write(parse(x))) succeeds and writes the same text again.
#include <cstddef>
#include <cstdint>
#include <string>

#include "core/check.h"
#include "data/manifest.h"
#include "fuzz/fuzz_support.h"
#include "io/hf_config.h"
#include "io/peft_adapter.h"

namespace {

void llama_config(const std::string& text) {
  loom::LlamaConfig config;
  try {
    config = loom::parse_llama_config(text, "config.json");
  } catch (const loom::Error&) {
    return;
  }
  const std::string written = loom::llama_config_to_json(config);
  const loom::LlamaConfig again = loom::parse_llama_config(written, "config.json written back");
  if (loom::llama_config_to_json(again) != written) loom::fuzz::finding("config.json round trip differs");
  try {
    (void)loom::llama_parameter_count(config);
  } catch (const loom::Error&) {
  }
}

void adapter_config(const std::string& text) {
  loom::LoraSpec spec;
  try {
    spec = loom::parse_adapter_config(text, "adapter_config.json");
  } catch (const loom::Error&) {
    return;
  }
  (void)spec.scale();
  const std::string written = loom::adapter_config_json(spec);
  const loom::LoraSpec again = loom::parse_adapter_config(written, "adapter_config.json written back");
  if (loom::adapter_config_json(again) != written) loom::fuzz::finding("adapter_config.json round trip differs");
}

void manifest(const uint8_t* data, size_t size) {
  static const std::string path = loom::fuzz::scratch_file("manifest.json");
  loom::fuzz::write_file(path, data, size);
  loom::data::Manifest read;
  try {
    read = loom::data::read_manifest(path);
  } catch (const loom::Error&) {
    return;
  }
  const std::string written = loom::data::manifest_to_json(read);
  loom::fuzz::write_file(path, reinterpret_cast<const uint8_t*>(written.data()), written.size());
  if (loom::data::manifest_to_json(loom::data::read_manifest(path)) != written)
    loom::fuzz::finding("manifest.json round trip differs");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  llama_config(text);
  adapter_config(text);
  manifest(data, size);
  return 0;
}
