// Tokenized records as bytes, to move them from the rank that read them to the rank that owns
// their place in the record order.
#pragma once

#include <cstdint>
#include <vector>

#include "data/records.h"

namespace loom::prep {

// A tokenized record, where it came from and where it goes.
struct PlacedRecord {
  int64_t position = 0;  // in the shuffled record order (eval positions first, then train)
  int32_t file = 0;      // index into the inputs
  int64_t line = 0;      // 1-based
  data::TokenizedRecord tokens;
};

// Appends the record's bytes to *bytes.
void append_record_bytes(std::vector<uint8_t>* bytes, const PlacedRecord& record);
// Every record in bytes that append_record_bytes wrote, in order.
std::vector<PlacedRecord> records_from_bytes(const std::vector<uint8_t>& bytes);

}  // namespace loom::prep
