#include "data/bpe_decoder.h"

#include <nlohmann/json.hpp>

#include "core/check.h"
#include "data/byte_level.h"
#include "data/text_pattern.h"
#include "data/utf8_text.h"

namespace loom::data {

namespace {

class ByteLevel final : public BpeDecoder {
 public:
  std::vector<std::string> decode_chain(std::vector<std::string> pieces) const override {
    std::string bytes;
    for (const std::string& piece : pieces)
      if (!bytes_of_byte_level(piece, &bytes)) bytes += piece;  // a piece outside the alphabet stays as it is
    return {utf8_lossy(bytes)};
  }
};

class ByteFallback final : public BpeDecoder {
 public:
  std::vector<std::string> decode_chain(std::vector<std::string> pieces) const override {
    std::vector<std::string> out;
    std::string bytes;
    const auto flush = [&] {
      if (bytes.empty()) return;
      if (is_valid_utf8(bytes)) out.push_back(bytes);
      else
        for (size_t i = 0; i < bytes.size(); ++i) out.emplace_back(kReplacementCharacter);
      bytes.clear();
    };
    for (std::string& piece : pieces) {
      int byte = -1;
      if (piece.size() == 6 && piece.starts_with("<0x") && piece.ends_with('>')) byte = hex_byte(piece.substr(3, 2));
      if (byte >= 0) {
        bytes += static_cast<char>(byte);
        continue;
      }
      flush();
      out.push_back(std::move(piece));
    }
    flush();
    return out;
  }

 private:
  static int hex_byte(const std::string& hex) {
    int value = 0;
    for (char c : hex) {
      const int digit = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
      if (digit < 0) return -1;
      value = value * 16 + digit;
    }
    return value;
  }
};

class Fuse final : public BpeDecoder {
 public:
  std::vector<std::string> decode_chain(std::vector<std::string> pieces) const override {
    std::string joined;
    for (const std::string& piece : pieces) joined += piece;
    return {joined};
  }
};

class Replace final : public BpeDecoder {
 public:
  Replace(TextPattern pattern, std::string content) : pattern_(std::move(pattern)), content_(std::move(content)) {}
  std::vector<std::string> decode_chain(std::vector<std::string> pieces) const override {
    for (std::string& piece : pieces) piece = pattern_.replace_all(piece, content_);
    return pieces;
  }

 private:
  TextPattern pattern_;
  std::string content_;
};

// Removes up to `start` leading and `stop` trailing copies of one character from each piece.
class Strip final : public BpeDecoder {
 public:
  Strip(std::string content, size_t start, size_t stop) : content_(std::move(content)), start_(start), stop_(stop) {}
  std::vector<std::string> decode_chain(std::vector<std::string> pieces) const override {
    for (std::string& piece : pieces) {
      size_t begin = 0, end = piece.size();
      for (size_t i = 0; i < start_ && piece.compare(begin, content_.size(), content_) == 0 && begin < end; ++i)
        begin += content_.size();
      for (size_t i = 0; i < stop_ && end - begin >= content_.size() &&
                         piece.compare(end - content_.size(), content_.size(), content_) == 0;
           ++i)
        end -= content_.size();
      piece = piece.substr(begin, end - begin);
    }
    return pieces;
  }

 private:
  std::string content_;
  size_t start_, stop_;
};

// "▁" back to spaces; in the first piece the replacement is dropped instead when a prefix was added.
class Metaspace final : public BpeDecoder {
 public:
  Metaspace(std::string replacement, bool drops_first) : replacement_(std::move(replacement)), drops_first_(drops_first) {}
  std::vector<std::string> decode_chain(std::vector<std::string> pieces) const override {
    const TextPattern pattern(replacement_);
    for (size_t i = 0; i < pieces.size(); ++i)
      pieces[i] = pattern.replace_all(pieces[i], i == 0 && drops_first_ ? "" : " ");
    return pieces;
  }

 private:
  std::string replacement_;
  bool drops_first_;
};

class Sequence final : public BpeDecoder {
 public:
  explicit Sequence(std::vector<std::unique_ptr<BpeDecoder>> steps) : steps_(std::move(steps)) {}
  std::vector<std::string> decode_chain(std::vector<std::string> pieces) const override {
    for (const auto& step : steps_) pieces = step->decode_chain(std::move(pieces));
    return pieces;
  }

 private:
  std::vector<std::unique_ptr<BpeDecoder>> steps_;
};

std::string string_member(const nlohmann::json& spec, const char* key, const std::string& where) {
  LOOM_REQUIRE(spec.contains(key) && spec[key].is_string(), where, ".", key, ": expected a string");
  return spec[key].get<std::string>();
}

size_t count_member(const nlohmann::json& spec, const char* key, const std::string& where) {
  LOOM_REQUIRE(spec.contains(key) && spec[key].is_number_unsigned(), where, ".", key, ": expected a count");
  return spec[key].get<size_t>();
}

}  // namespace

std::unique_ptr<BpeDecoder> make_bpe_decoder(const nlohmann::json& spec, const std::string& where) {
  if (spec.is_null()) return nullptr;
  LOOM_REQUIRE(spec.is_object() && spec.contains("type") && spec["type"].is_string(), where,
               ": expected an object with a \"type\"");
  const std::string type = spec["type"].get<std::string>();
  if (type == "ByteLevel") return std::make_unique<ByteLevel>();
  if (type == "ByteFallback") return std::make_unique<ByteFallback>();
  if (type == "Fuse") return std::make_unique<Fuse>();
  if (type == "Replace")
    return std::make_unique<Replace>(TextPattern(spec.value("pattern", nlohmann::json()), where + ".pattern"),
                                     string_member(spec, "content", where));
  if (type == "Strip")
    return std::make_unique<Strip>(string_member(spec, "content", where), count_member(spec, "start", where),
                                   count_member(spec, "stop", where));
  if (type == "Metaspace") {
    bool drops_first = !spec.contains("add_prefix_space") || spec["add_prefix_space"] != false;
    if (spec.contains("prepend_scheme")) drops_first = spec["prepend_scheme"] != "never";
    return std::make_unique<Metaspace>(string_member(spec, "replacement", where), drops_first);
  }
  if (type == "Sequence") {
    LOOM_REQUIRE(spec.contains("decoders") && spec["decoders"].is_array(), where, ".decoders: expected an array");
    std::vector<std::unique_ptr<BpeDecoder>> steps;
    for (size_t i = 0; i < spec["decoders"].size(); ++i) {
      auto step = make_bpe_decoder(spec["decoders"][i], cat(where, ".decoders[", i, "]"));
      if (step) steps.push_back(std::move(step));
    }
    return std::make_unique<Sequence>(std::move(steps));
  }
  LOOM_FAIL(where, ": unsupported decoder type '", type,
            "' (loom reads ByteLevel, ByteFallback, Metaspace, Replace, Strip, Fuse and Sequence)");
}

}  // namespace loom::data
