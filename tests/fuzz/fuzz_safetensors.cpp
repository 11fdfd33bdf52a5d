// The safetensors reader on arbitrary files: every tensor the header validation lets through
// is read, so a header that lies about offsets or shapes shows up as an out-of-bounds read.
#include <cstddef>
#include <cstdint>
#include <vector>

#include "core/check.h"
#include "fuzz/fuzz_support.h"
#include "io/safetensors.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const std::string path = loom::fuzz::scratch_file("model.safetensors");
  loom::fuzz::write_file(path, data, size);
  try {
    const loom::SafetensorsFile file(path);
    for (const loom::TensorInfo& tensor : file.tensors()) {
      if (file.find(tensor.name) != &tensor) loom::fuzz::finding("find() misses tensor " + tensor.name);
      const std::byte* bytes = file.data(tensor);
      unsigned sum = 0;  // touches every byte the tensor claims
      for (size_t i = 0; i < tensor.end - tensor.begin; ++i) sum += static_cast<unsigned>(bytes[i]);
      (void)sum;
      // A 0-element tensor reads into a null `out` (finding 2 of docs/reliability.md, fixed).
      std::vector<float> values(static_cast<size_t>(tensor.elements()));
      try {
        file.read_f32(tensor.name, tensor.shape, values.data(), "the header");
      } catch (const loom::Error&) {  // a dtype read_f32 does not convert
      }
    }
  } catch (const loom::Error&) {
  }
  return 0;
}
