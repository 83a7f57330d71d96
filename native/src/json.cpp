// JSON parser (recursive descent over a string_view) and compact writer; see json.h.
#include "json.h"

#include <charconv>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <sstream>

#include "error.h"

namespace pagoda {
namespace json {

const char* type_name(Type type) {
  switch (type) {
  case Type::Null: return "null";
  case Type::Bool: return "bool";
  case Type::Number: return "number";
  case Type::String: return "string";
  case Type::Array: return "array";
  case Type::Object: return "object";
  }
  return "?";
}

static void expect_type(Type want, Type got) {
  if (want != got) {
    throw Error(std::string("JSON value is a ") + type_name(got) + ", expected a " + type_name(want));
  }
}

Value Value::boolean(bool b) {
  Value v;
  v.type_ = Type::Bool;
  v.bool_ = b;
  return v;
}
Value Value::number(double n) {
  Value v;
  v.type_ = Type::Number;
  v.number_ = n;
  return v;
}
Value Value::string(std::string s) {
  Value v;
  v.type_ = Type::String;
  v.string_ = std::move(s);
  return v;
}
Value Value::array(std::vector<Value> items) {
  Value v;
  v.type_ = Type::Array;
  v.items_ = std::move(items);
  return v;
}
Value Value::object(std::vector<Member> members) {
  Value v;
  v.type_ = Type::Object;
  v.members_ = std::move(members);
  return v;
}

bool Value::as_bool() const {
  expect_type(Type::Bool, type_);
  return bool_;
}
double Value::as_number() const {
  expect_type(Type::Number, type_);
  return number_;
}
int64_t Value::as_int() const {
  expect_type(Type::Number, type_);
  if (std::floor(number_) != number_ || std::fabs(number_) > 9007199254740992.0) {
    std::ostringstream msg;
    msg.precision(17);
    msg << "JSON number " << number_ << " is not an integer";
    throw Error(msg.str());
  }
  return static_cast<int64_t>(number_);
}
const std::string& Value::as_string() const {
  expect_type(Type::String, type_);
  return string_;
}
const std::vector<Value>& Value::as_array() const {
  expect_type(Type::Array, type_);
  return items_;
}
const std::vector<Member>& Value::as_object() const {
  expect_type(Type::Object, type_);
  return members_;
}

size_t Value::size() const {
  if (type_ == Type::Array) return items_.size();
  if (type_ == Type::Object) return members_.size();
  return 0;
}

const Value& Value::operator[](size_t index) const {
  const auto& items = as_array();
  if (index >= items.size()) {
    throw Error("JSON array index " + std::to_string(index) + " out of range (size " +
                std::to_string(items.size()) + ")");
  }
  return items[index];
}

const Value* Value::find(std::string_view key) const {
  if (type_ != Type::Object) return nullptr;
  for (const auto& m : members_) {
    if (m.key == key) return &m.value;
  }
  return nullptr;
}

const Value& Value::at(std::string_view key) const {
  expect_type(Type::Object, type_);
  const Value* v = find(key);
  if (!v) throw Error("JSON object has no member \"" + std::string(key) + "\"");
  return *v;
}

void Value::push_back(Value v) {
  expect_type(Type::Array, type_);
  items_.push_back(std::move(v));
}

void Value::set(std::string key, Value v) {
  expect_type(Type::Object, type_);
  for (auto& m : members_) {
    if (m.key == key) {
      m.value = std::move(v);
      return;
    }
  }
  members_.push_back(Member{std::move(key), std::move(v)});
}

namespace {

// Nesting deeper than this is refused rather than risking the stack.
constexpr int kMaxDepth = 512;

class Parser {
public:
  explicit Parser(std::string_view text) : s_(text) {}

  Value parse_document() {
    skip_ws();
    Value v = parse_value(0);
    skip_ws();
    if (pos_ != s_.size()) fail("unexpected characters after the JSON value");
    return v;
  }

private:
  std::string_view s_;
  size_t pos_ = 0;

  [[noreturn]] void fail(const std::string& what) const { fail_at(pos_, what); }
  [[noreturn]] void fail_at(size_t offset, const std::string& what) const {
    throw Error("JSON parse error at byte offset " + std::to_string(offset) + ": " + what);
  }

  void skip_ws() {
    while (pos_ < s_.size()) {
      char c = s_[pos_];
      if (c == ' ' || c == '\t' || c == '\n' || c == '\r') {
        ++pos_;
      } else {
        break;
      }
    }
  }

  std::string describe_here() const {
    if (pos_ >= s_.size()) return "end of input";
    unsigned char c = static_cast<unsigned char>(s_[pos_]);
    if (c >= 0x20 && c < 0x7f) return std::string("'") + static_cast<char>(c) + "'";
    char buf[16];
    std::snprintf(buf, sizeof buf, "byte 0x%02x", c);
    return buf;
  }

  void expect_literal(std::string_view word) {
    if (s_.substr(pos_, word.size()) != word) fail("invalid literal, expected '" + std::string(word) + "'");
    pos_ += word.size();
  }

  Value parse_value(int depth) {
    if (depth > kMaxDepth) fail("nesting deeper than " + std::to_string(kMaxDepth) + " levels");
    if (pos_ >= s_.size()) fail("unexpected end of input, expected a value");
    char c = s_[pos_];
    switch (c) {
    case '{': return parse_object(depth);
    case '[': return parse_array(depth);
    case '"': return Value::string(parse_string());
    case 't': expect_literal("true"); return Value::boolean(true);
    case 'f': expect_literal("false"); return Value::boolean(false);
    case 'n': expect_literal("null"); return Value();
    default:
      if (c == '-' || (c >= '0' && c <= '9')) return Value::number(parse_number());
      fail("unexpected " + describe_here() + ", expected a value");
    }
  }

  Value parse_object(int depth) {
    ++pos_; // '{'
    std::vector<Member> members;
    skip_ws();
    if (pos_ < s_.size() && s_[pos_] == '}') {
      ++pos_;
      return Value::object(std::move(members));
    }
    for (;;) {
      skip_ws();
      if (pos_ >= s_.size() || s_[pos_] != '"') fail("unexpected " + describe_here() + ", expected a string key");
      std::string key = parse_string();
      skip_ws();
      if (pos_ >= s_.size() || s_[pos_] != ':') fail("unexpected " + describe_here() + ", expected ':'");
      ++pos_;
      skip_ws();
      Value v = parse_value(depth + 1);
      members.push_back(Member{std::move(key), std::move(v)});
      skip_ws();
      if (pos_ < s_.size() && s_[pos_] == ',') {
        ++pos_;
        continue;
      }
      if (pos_ < s_.size() && s_[pos_] == '}') {
        ++pos_;
        return Value::object(std::move(members));
      }
      fail("unexpected " + describe_here() + ", expected ',' or '}'");
    }
  }

  Value parse_array(int depth) {
    ++pos_; // '['
    std::vector<Value> items;
    skip_ws();
    if (pos_ < s_.size() && s_[pos_] == ']') {
      ++pos_;
      return Value::array(std::move(items));
    }
    for (;;) {
      skip_ws();
      items.push_back(parse_value(depth + 1));
      skip_ws();
      if (pos_ < s_.size() && s_[pos_] == ',') {
        ++pos_;
        continue;
      }
      if (pos_ < s_.size() && s_[pos_] == ']') {
        ++pos_;
        return Value::array(std::move(items));
      }
      fail("unexpected " + describe_here() + ", expected ',' or ']'");
    }
  }

  double parse_number() {
    size_t start = pos_;
    if (s_[pos_] == '-') ++pos_;
    auto digits = [&]() {
      size_t d = pos_;
      while (pos_ < s_.size() && s_[pos_] >= '0' && s_[pos_] <= '9') ++pos_;
      return pos_ - d;
    };
    if (pos_ < s_.size() && s_[pos_] == '0') {
      ++pos_; // a leading zero stands alone
    } else if (digits() == 0) {
      fail("invalid number: expected a digit");
    }
    if (pos_ < s_.size() && s_[pos_] == '.') {
      ++pos_;
      if (digits() == 0) fail("invalid number: expected a digit after '.'");
    }
    if (pos_ < s_.size() && (s_[pos_] == 'e' || s_[pos_] == 'E')) {
      ++pos_;
      if (pos_ < s_.size() && (s_[pos_] == '+' || s_[pos_] == '-')) ++pos_;
      if (digits() == 0) fail("invalid number: expected a digit in the exponent");
    }
    double value = 0.0;
    auto res = std::from_chars(s_.data() + start, s_.data() + pos_, value);
    if (res.ec == std::errc::result_out_of_range) {
      fail_at(start, "number out of range");
    }
    if (res.ec != std::errc() || res.ptr != s_.data() + pos_) fail_at(start, "invalid number");
    return value;
  }

  unsigned parse_hex4() {
    if (pos_ + 4 > s_.size()) fail("unexpected end of input in \\u escape");
    unsigned v = 0;
    for (int i = 0; i < 4; ++i) {
      char c = s_[pos_++];
      v <<= 4;
      if (c >= '0' && c <= '9') v |= c - '0';
      else if (c >= 'a' && c <= 'f') v |= c - 'a' + 10;
      else if (c >= 'A' && c <= 'F') v |= c - 'A' + 10;
      else fail_at(pos_ - 1, "invalid hex digit in \\u escape");
    }
    return v;
  }

  static void append_utf8(std::string& out, unsigned cp) {
    if (cp < 0x80) {
      out += static_cast<char>(cp);
    } else if (cp < 0x800) {
      out += static_cast<char>(0xC0 | (cp >> 6));
      out += static_cast<char>(0x80 | (cp & 0x3F));
    } else if (cp < 0x10000) {
      out += static_cast<char>(0xE0 | (cp >> 12));
      out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
      out += static_cast<char>(0x80 | (cp & 0x3F));
    } else {
      out += static_cast<char>(0xF0 | (cp >> 18));
      out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
      out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
      out += static_cast<char>(0x80 | (cp & 0x3F));
    }
  }

  std::string parse_string() {
    size_t open = pos_;
    ++pos_; // '"'
    std::string out;
    for (;;) {
      if (pos_ >= s_.size()) fail_at(open, "unterminated string");
      char c = s_[pos_];
      if (c == '"') {
        ++pos_;
        return out;
      }
      if (static_cast<unsigned char>(c) < 0x20) fail("control character inside a string (escape it)");
      if (c != '\\') {
        out += c;
        ++pos_;
        continue;
      }
      ++pos_;
      if (pos_ >= s_.size()) fail_at(open, "unterminated string");
      char e = s_[pos_++];
      switch (e) {
      case '"': out += '"'; break;
      case '\\': out += '\\'; break;
      case '/': out += '/'; break;
      case 'b': out += '\b'; break;
      case 'f': out += '\f'; break;
      case 'n': out += '\n'; break;
      case 'r': out += '\r'; break;
      case 't': out += '\t'; break;
      case 'u': {
        size_t esc = pos_ - 2;
        unsigned cp = parse_hex4();
        if (cp >= 0xD800 && cp <= 0xDBFF) {
          // A high surrogate must be followed by an escaped low surrogate.
          if (pos_ + 2 > s_.size() || s_[pos_] != '\\' || s_[pos_ + 1] != 'u') {
            fail_at(esc, "high surrogate \\u escape not followed by a low surrogate");
          }
          pos_ += 2;
          unsigned lo = parse_hex4();
          if (lo < 0xDC00 || lo > 0xDFFF) fail_at(esc, "high surrogate followed by a non-low-surrogate \\u escape");
          cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
        } else if (cp >= 0xDC00 && cp <= 0xDFFF) {
          fail_at(esc, "lone low surrogate in \\u escape");
        }
        append_utf8(out, cp);
        break;
      }
      default: fail_at(pos_ - 2, "invalid escape sequence");
      }
    }
  }
};

void dump_string(std::string& out, const std::string& s) {
  out += '"';
  for (unsigned char c : s) {
    switch (c) {
    case '"': out += "\\\""; break;
    case '\\': out += "\\\\"; break;
    case '\n': out += "\\n"; break;
    case '\r': out += "\\r"; break;
    case '\t': out += "\\t"; break;
    case '\b': out += "\\b"; break;
    case '\f': out += "\\f"; break;
    default:
      if (c < 0x20) {
        char buf[8];
        std::snprintf(buf, sizeof buf, "\\u%04x", c);
        out += buf;
      } else {
        out += static_cast<char>(c);
      }
    }
  }
  out += '"';
}

void dump_value(std::string& out, const Value& v) {
  switch (v.type()) {
  case Type::Null: out += "null"; break;
  case Type::Bool: out += v.as_bool() ? "true" : "false"; break;
  case Type::Number: {
    double n = v.as_number();
    if (!std::isfinite(n)) throw Error("JSON cannot represent a non-finite number");
    char buf[32];
    if (std::floor(n) == n && std::fabs(n) < 9007199254740992.0) {
      std::snprintf(buf, sizeof buf, "%lld", static_cast<long long>(n));
    } else {
      std::snprintf(buf, sizeof buf, "%.17g", n);
    }
    out += buf;
    break;
  }
  case Type::String: dump_string(out, v.as_string()); break;
  case Type::Array: {
    out += '[';
    bool first = true;
    for (const auto& item : v.as_array()) {
      if (!first) out += ',';
      first = false;
      dump_value(out, item);
    }
    out += ']';
    break;
  }
  case Type::Object: {
    out += '{';
    bool first = true;
    for (const auto& m : v.as_object()) {
      if (!first) out += ',';
      first = false;
      dump_string(out, m.key);
      out += ':';
      dump_value(out, m.value);
    }
    out += '}';
    break;
  }
  }
}

} // namespace

Value parse(std::string_view text) { return Parser(text).parse_document(); }

Value parse_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw Error(path + ": cannot open file");
  std::ostringstream buf;
  buf << in.rdbuf();
  if (in.bad()) throw Error(path + ": read error");
  try {
    return parse(buf.str());
  } catch (const Error& e) {
    throw Error(path + ": " + e.what());
  }
}

std::string dump(const Value& value) {
  std::string out;
  dump_value(out, value);
  return out;
}

} // namespace json
} // namespace pagoda
