// CRC-32C (Castagnoli), the checksum of TFRecord framing. Debian ships no C/C++ CRC-32C
// library (bookworm has only python3-crc32c; abseil's absl::crc32c arrived after its
// libabsl-dev), so this is the table-driven reflected form, polynomial 0x82F63B78.
#pragma once

#include <cstddef>
#include <cstdint>

namespace loom {

// crc32c("123456789") == 0xE3069283.
uint32_t crc32c(const void* data, size_t size);

// TFRecord's masked CRC: ((crc >> 15) | (crc << 17)) + 0xa282ead8.
uint32_t masked_crc32c(const void* data, size_t size);

}  // namespace loom
