// The INI layer on arbitrary files, with the real option set of `loom sft`: whatever loads
// and effective_config_ini writes back (it may refuse a value INI cannot hold, naming the
// key) loads again to the same text, and the
// typed options are read from it as the command would.
#include <cstddef>
#include <cstdint>
#include <string>

#include "core/check.h"
#include "fuzz/fuzz_support.h"
#include "train/config_file.h"
#include "train/sft_options.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const std::string path = loom::fuzz::scratch_file("run.ini");
  static const loom::po::options_description options = [] {
    loom::po::options_description o("loom sft");
    loom::add_sft_options(o);
    return o;
  }();
  loom::fuzz::write_file(path, data, size);
  loom::po::variables_map values;
  try {
    values = loom::load_config(options, path, {});
  } catch (const loom::Error&) {
    return 0;
  }
  std::string written;
  try {  // refuses, naming the key, a string value INI cannot hold ('#', line breaks, blanks around)
    written = loom::effective_config_ini(options, values);
  } catch (const loom::Error&) {
    return 0;
  }
  loom::fuzz::write_file(path, reinterpret_cast<const uint8_t*>(written.data()), written.size());
  const loom::po::variables_map again = loom::load_config(options, path, {});
  if (loom::effective_config_ini(options, again) != written)
    loom::fuzz::finding("effective_config_ini does not load back to the same values");
  try {
    (void)loom::sft_options_from(values);
  } catch (const loom::Error&) {
  }
  return 0;
}
