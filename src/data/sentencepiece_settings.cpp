#include "data/sentencepiece_settings.h"

#include <cstdint>
#include <functional>

#include "core/check.h"

namespace loom::data {

namespace {

// Field numbers of sentencepiece_model.proto.
constexpr uint32_t kModelPieces = 1, kModelTrainerSpec = 2, kModelNormalizerSpec = 3;
constexpr uint32_t kPieceType = 3, kPieceTypeUserDefined = 4;
constexpr uint32_t kTrainerModelType = 3, kTrainerTreatWhitespaceAsSuffix = 24, kModelTypeBpe = 2;
constexpr uint32_t kNormalizerPrecompiledCharsmap = 2, kNormalizerAddDummyPrefix = 3,
                   kNormalizerRemoveExtraWhitespaces = 4, kNormalizerEscapeWhitespaces = 5;

// One field of a protobuf message: a varint value, or the bytes of a length-delimited one.
struct Field {
  uint32_t number = 0;
  uint64_t varint = 0;
  std::string_view bytes;
};

class WireReader {
 public:
  WireReader(std::string_view message, std::string_view what) : rest_(message), what_(what) {}

  // Calls visit(field) for each field of the message; fixed-width fields are skipped.
  void for_each(const std::function<void(const Field&)>& visit) {
    while (!rest_.empty()) {
      const uint64_t key = read_varint();
      Field field;
      field.number = static_cast<uint32_t>(key >> 3);
      switch (key & 7) {
        case 0: field.varint = read_varint(); break;
        case 1: skip(8); continue;
        case 2: {
          const uint64_t length = read_varint();
          field.bytes = rest_.substr(0, length);
          skip(length);
          break;
        }
        case 5: skip(4); continue;
        default: LOOM_FAIL(what_, ": cannot read the tokenizer model (protobuf wire type ", key & 7, ")");
      }
      visit(field);
    }
  }

 private:
  uint64_t read_varint() {
    uint64_t value = 0;
    for (int shift = 0; shift < 64; shift += 7) {
      LOOM_REQUIRE(!rest_.empty(), what_, ": cannot read the tokenizer model (truncated varint)");
      const auto byte = static_cast<uint8_t>(rest_.front());
      rest_.remove_prefix(1);
      value |= uint64_t{byte & 0x7fu} << shift;
      if (byte < 0x80) return value;
    }
    LOOM_FAIL(what_, ": cannot read the tokenizer model (varint longer than 64 bits)");
  }

  void skip(uint64_t count) {
    LOOM_REQUIRE(count <= rest_.size(), what_, ": cannot read the tokenizer model (truncated field)");
    rest_.remove_prefix(count);
  }

  std::string_view rest_, what_;
};

}  // namespace

SentencePieceSettings read_sentencepiece_settings(std::string_view serialized_model, std::string_view what) {
  SentencePieceSettings settings;
  WireReader(serialized_model, what).for_each([&](const Field& model_field) {
    switch (model_field.number) {
      case kModelPieces:
        WireReader(model_field.bytes, what).for_each([&](const Field& f) {
          if (f.number == kPieceType && f.varint == kPieceTypeUserDefined) settings.has_user_defined_pieces = true;
        });
        break;
      case kModelTrainerSpec:
        WireReader(model_field.bytes, what).for_each([&](const Field& f) {
          if (f.number == kTrainerModelType) settings.bpe = f.varint == kModelTypeBpe;
          if (f.number == kTrainerTreatWhitespaceAsSuffix) settings.treat_whitespace_as_suffix = f.varint != 0;
        });
        break;
      case kModelNormalizerSpec:
        WireReader(model_field.bytes, what).for_each([&](const Field& f) {
          if (f.number == kNormalizerPrecompiledCharsmap) settings.identity_normalizer = f.bytes.empty();
          if (f.number == kNormalizerAddDummyPrefix) settings.add_dummy_prefix = f.varint != 0;
          if (f.number == kNormalizerRemoveExtraWhitespaces) settings.remove_extra_whitespaces = f.varint != 0;
          if (f.number == kNormalizerEscapeWhitespaces) settings.escape_whitespaces = f.varint != 0;
        });
        break;
      default: break;
    }
  });
  return settings;
}

}  // namespace loom::data
