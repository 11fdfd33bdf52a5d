// The settings of a SentencePiece model (tokenizer.model) that decide how SentencePiece turns text
// into the string it encodes, read from the serialized ModelProto (sentencepiece_model.proto), whose
// header Debian's libsentencepiece does not ship. Fields absent from the file take the proto defaults.
#pragma once

#include <string_view>

namespace loom::data {

struct SentencePieceSettings {
  bool bpe = false;                         // trainer_spec.model_type == BPE (the default is UNIGRAM)
  bool treat_whitespace_as_suffix = false;  // trainer_spec
  bool identity_normalizer = true;          // normalizer_spec.precompiled_charsmap is empty
  bool add_dummy_prefix = true;             // normalizer_spec
  bool remove_extra_whitespaces = true;     // normalizer_spec
  bool escape_whitespaces = true;           // normalizer_spec
  bool has_user_defined_pieces = false;     // a piece of type USER_DEFINED
};

// `serialized_model` must be a model SentencePiece has loaded; fails (naming `what`) when the bytes do
// not parse as protobuf.
SentencePieceSettings read_sentencepiece_settings(std::string_view serialized_model, std::string_view what);

}  // namespace loom::data
