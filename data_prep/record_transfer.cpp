#include "record_transfer.h"

#include <cstring>
#include <string>
#include <type_traits>

#include "core/check.h"

namespace loom::prep {

namespace {

template <typename T>
void put(std::vector<uint8_t>* bytes, const T& value) {
  static_assert(std::is_trivially_copyable_v<T>);
  const auto* first = reinterpret_cast<const uint8_t*>(&value);
  bytes->insert(bytes->end(), first, first + sizeof(T));
}

// A count, then the elements (a std::string or a std::vector of plain values).
template <typename Array>
void put_array(std::vector<uint8_t>* bytes, const Array& values) {
  static_assert(std::is_trivially_copyable_v<typename Array::value_type>);
  put<uint64_t>(bytes, values.size());
  const auto* first = reinterpret_cast<const uint8_t*>(values.data());
  bytes->insert(bytes->end(), first, first + values.size() * sizeof(typename Array::value_type));
}

class ByteCursor {
 public:
  explicit ByteCursor(const std::vector<uint8_t>& bytes) : bytes_(bytes) {}
  bool at_end() const { return at_ == bytes_.size(); }

  template <typename T>
  T get() {
    T value;
    copy_to(&value, sizeof(T));
    return value;
  }

  template <typename Array>
  void get_array(Array* values) {
    values->resize(static_cast<size_t>(get<uint64_t>()));
    copy_to(values->data(), values->size() * sizeof(typename Array::value_type));
  }

 private:
  void copy_to(void* out, size_t size) {
    LOOM_ASSERT(size <= bytes_.size() - at_);
    if (size > 0) std::memcpy(out, bytes_.data() + at_, size);
    at_ += size;
  }

  const std::vector<uint8_t>& bytes_;
  size_t at_ = 0;
};

}  // namespace

void append_record_bytes(std::vector<uint8_t>* bytes, const PlacedRecord& record) {
  const data::TokenizedRecord& t = record.tokens;
  put(bytes, record.position);
  put(bytes, record.file);
  put(bytes, record.line);
  put(bytes, static_cast<uint8_t>(t.status));
  put(bytes, static_cast<uint8_t>(t.error.reason));
  put_array(bytes, t.error.message);
  put_array(bytes, t.tokens);
  put_array(bytes, t.rejected);
  put(bytes, t.prompt_len);
  put(bytes, static_cast<uint8_t>(t.truncated));
  put_array(bytes, t.text);
  put_array(bytes, t.loss_mask);
}

std::vector<PlacedRecord> records_from_bytes(const std::vector<uint8_t>& bytes) {
  std::vector<PlacedRecord> records;
  for (ByteCursor cursor(bytes); !cursor.at_end();) {
    PlacedRecord& record = records.emplace_back();
    data::TokenizedRecord& t = record.tokens;
    record.position = cursor.get<int64_t>();
    record.file = cursor.get<int32_t>();
    record.line = cursor.get<int64_t>();
    t.status = static_cast<data::TokenizedRecord::Status>(cursor.get<uint8_t>());
    t.error.reason = static_cast<data::RecordError::Reason>(cursor.get<uint8_t>());
    cursor.get_array(&t.error.message);
    cursor.get_array(&t.tokens);
    cursor.get_array(&t.rejected);
    t.prompt_len = cursor.get<int32_t>();
    t.truncated = cursor.get<uint8_t>() != 0;
    cursor.get_array(&t.text);
    cursor.get_array(&t.loss_mask);
  }
  return records;
}

}  // namespace loom::prep
