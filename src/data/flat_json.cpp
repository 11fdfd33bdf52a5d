#include "data/flat_json.h"

#include <cstdint>

namespace loom::data {

namespace {

// A position in one line and the JSON grammar's pieces (RFC 8259), each consuming what it
// matched and returning false where the text stops matching.
class JsonCursor {
 public:
  explicit JsonCursor(std::string_view text) : s_(text) {}

  size_t column() const { return i_ + 1; }
  bool at_end() const { return i_ >= s_.size(); }
  char peek() const { return at_end() ? '\0' : s_[i_]; }

  void skip_space() {
    while (i_ < s_.size() && (s_[i_] == ' ' || s_[i_] == '\t' || s_[i_] == '\n' || s_[i_] == '\r')) ++i_;
  }

  bool take(char c) {
    if (at_end() || s_[i_] != c) return false;
    ++i_;
    return true;
  }

  bool literal(std::string_view word) {
    if (s_.substr(i_, word.size()) != word) return false;
    i_ += word.size();
    return true;
  }

  // A string; its decoded text is appended to *out unless out is null.
  bool string(std::string* out) {
    if (!take('"')) return false;
    for (;;) {
      const size_t start = i_;
      while (i_ < s_.size() && s_[i_] != '"' && s_[i_] != '\\' && static_cast<unsigned char>(s_[i_]) >= 0x20) ++i_;
      if (out) out->append(s_.data() + start, i_ - start);
      if (take('"')) return true;
      if (!take('\\')) return false;  // the end of the line, or a raw control character
      if (!escape(out)) return false;
    }
  }

  bool number() {
    take('-');
    if (!take('0')) {
      if (!digits()) return false;
    }
    if (take('.') && !digits()) return false;
    if (take('e') || take('E')) {
      if (!take('+')) take('-');
      if (!digits()) return false;
    }
    return true;
  }

  // Any value, arrays and objects included, checked and not built (a stack of the open
  // containers' closing brackets instead of recursion).
  bool skip_value() {
    std::vector<char> open;
    for (;;) {
      skip_space();
      const char c = peek();
      if (c == '[' || c == '{') {
        ++i_;
        const char closer = c == '[' ? ']' : '}';
        skip_space();
        if (!take(closer)) {
          open.push_back(closer);
          if (closer == '}' && !member_key(nullptr)) return false;
          continue;  // the container's first value
        }
      } else if (!scalar()) {
        return false;
      }
      // A value is complete: close containers, or go on to the next element.
      for (;;) {
        if (open.empty()) return true;
        skip_space();
        if (take(',')) {
          if (open.back() == '}' && !member_key(nullptr)) return false;
          break;
        }
        if (!take(open.back())) return false;
        open.pop_back();
      }
    }
  }

  // `"key" :` with the whitespace around it; the key is decoded into *key unless null.
  bool member_key(std::string* key) {
    skip_space();
    if (!string(key)) return false;
    skip_space();
    return take(':');
  }

 private:
  bool digits() {
    const size_t start = i_;
    while (i_ < s_.size() && s_[i_] >= '0' && s_[i_] <= '9') ++i_;
    return i_ > start;
  }

  bool scalar() {
    switch (peek()) {
      case '"': return string(nullptr);
      case 't': return literal("true");
      case 'f': return literal("false");
      case 'n': return literal("null");
      default: return (peek() == '-' || (peek() >= '0' && peek() <= '9')) && number();
    }
  }

  bool hex4(uint32_t* value) {
    if (s_.size() - i_ < 4) return false;
    *value = 0;
    for (int k = 0; k < 4; ++k) {
      const char h = s_[i_++];
      const int digit = h >= '0' && h <= '9' ? h - '0' : h >= 'a' && h <= 'f' ? h - 'a' + 10
                        : h >= 'A' && h <= 'F' ? h - 'A' + 10 : -1;
      if (digit < 0) return false;
      *value = *value * 16 + static_cast<uint32_t>(digit);
    }
    return true;
  }

  // After a backslash: one escape, appended to *out unless null. A \u escape of a UTF-16
  // high surrogate must be followed by one of a low surrogate; a lone low one is an error.
  bool escape(std::string* out) {
    if (at_end()) return false;  // the line ends after the backslash
    const char e = s_[i_++];
    char plain = 0;
    switch (e) {
      case '"': case '\\': case '/': plain = e; break;
      case 'b': plain = '\b'; break;
      case 'f': plain = '\f'; break;
      case 'n': plain = '\n'; break;
      case 'r': plain = '\r'; break;
      case 't': plain = '\t'; break;
      case 'u': return unicode_escape(out);
      default: return false;
    }
    if (out) out->push_back(plain);
    return true;
  }

  bool unicode_escape(std::string* out) {
    uint32_t code = 0;
    if (!hex4(&code)) return false;
    if (code >= 0xDC00 && code <= 0xDFFF) return false;
    if (code >= 0xD800 && code <= 0xDBFF) {
      uint32_t low = 0;
      if (!take('\\') || !take('u') || !hex4(&low) || low < 0xDC00 || low > 0xDFFF) return false;
      code = 0x10000 + ((code - 0xD800) << 10) + (low - 0xDC00);
    }
    if (out) append_utf8(out, code);
    return true;
  }

  static void append_utf8(std::string* out, uint32_t code) {
    if (code < 0x80) {
      out->push_back(static_cast<char>(code));
    } else if (code < 0x800) {
      out->push_back(static_cast<char>(0xC0 | (code >> 6)));
      out->push_back(static_cast<char>(0x80 | (code & 0x3F)));
    } else if (code < 0x10000) {
      out->push_back(static_cast<char>(0xE0 | (code >> 12)));
      out->push_back(static_cast<char>(0x80 | ((code >> 6) & 0x3F)));
      out->push_back(static_cast<char>(0x80 | (code & 0x3F)));
    } else {
      out->push_back(static_cast<char>(0xF0 | (code >> 18)));
      out->push_back(static_cast<char>(0x80 | ((code >> 12) & 0x3F)));
      out->push_back(static_cast<char>(0x80 | ((code >> 6) & 0x3F)));
      out->push_back(static_cast<char>(0x80 | (code & 0x3F)));
    }
  }

  std::string_view s_;
  size_t i_ = 0;
};

// The members of an object, from its '{' to its '}'; a repeated key keeps its last value.
bool parse_members(JsonCursor& in, std::vector<std::pair<std::string, JsonMember>>* members) {
  in.take('{');
  in.skip_space();
  if (in.take('}')) return true;
  for (;;) {
    std::string key;
    JsonMember member;
    if (!in.member_key(&key)) return false;
    in.skip_space();
    if (in.peek() == '"') {
      member.kind = JsonMember::Kind::string;
      if (!in.string(&member.text)) return false;
    } else if (in.peek() == 'n') {
      member.kind = JsonMember::Kind::null;
      if (!in.literal("null")) return false;
    } else if (!in.skip_value()) {
      return false;
    }
    auto same = members->begin();
    while (same != members->end() && same->first != key) ++same;
    if (same == members->end()) members->emplace_back(std::move(key), std::move(member));
    else same->second = std::move(member);
    in.skip_space();
    if (in.take('}')) return true;
    if (!in.take(',')) return false;
  }
}

}  // namespace

bool FlatJsonObject::parse(std::string_view line, size_t* error_column) {
  members_.clear();
  JsonCursor in(line);
  in.skip_space();
  is_object_ = in.peek() == '{';
  const bool ok = is_object_ ? parse_members(in, &members_) : in.skip_value();
  in.skip_space();
  if (ok && in.at_end()) return true;
  *error_column = in.column();
  members_.clear();
  is_object_ = false;
  return false;
}

const JsonMember* FlatJsonObject::find(std::string_view key) const {
  for (const auto& [name, value] : members_)
    if (name == key) return &value;
  return nullptr;
}

}  // namespace loom::data
