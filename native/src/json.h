// A small JSON reader and writer (RFC 8259) for config.json, safetensors headers, golden
// files and workloads. Parse errors are pagoda::Error naming the byte offset (and the file).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace pagoda {
namespace json {

enum class Type { Null, Bool, Number, String, Array, Object };

const char* type_name(Type type);

struct Member;

// One JSON value. Objects keep their members in document order; lookups are linear, which
// is fine for the sizes we read (a config has a few dozen keys; the safetensors header, a
// few thousand, is walked once).
class Value {
public:
  Value() = default; // null
  static Value boolean(bool b);
  static Value number(double n);
  static Value string(std::string s);
  static Value array(std::vector<Value> items = {});
  static Value object(std::vector<Member> members = {});

  Type type() const { return type_; }
  bool is_null() const { return type_ == Type::Null; }
  bool is_bool() const { return type_ == Type::Bool; }
  bool is_number() const { return type_ == Type::Number; }
  bool is_string() const { return type_ == Type::String; }
  bool is_array() const { return type_ == Type::Array; }
  bool is_object() const { return type_ == Type::Object; }

  // Typed access; a wrong type throws pagoda::Error saying what was expected and found.
  bool as_bool() const;
  double as_number() const;
  int64_t as_int() const; // a number with no fractional part, within +-2^53
  const std::string& as_string() const;
  const std::vector<Value>& as_array() const;
  const std::vector<Member>& as_object() const;

  // Arrays and objects: element count. Other types: 0.
  size_t size() const;
  const Value& operator[](size_t index) const; // array element; throws when out of range

  // Objects: the member named `key`, or nullptr when absent (or when this is not an object).
  const Value* find(std::string_view key) const;
  bool contains(std::string_view key) const { return find(key) != nullptr; }
  // Objects: the member named `key`; throws pagoda::Error naming the key when absent.
  const Value& at(std::string_view key) const;

  // Building values (for writers): append to an array, set a member of an object.
  void push_back(Value v);
  void set(std::string key, Value v);

private:
  Type type_ = Type::Null;
  bool bool_ = false;
  double number_ = 0.0;
  std::string string_;
  std::vector<Value> items_;
  std::vector<Member> members_;
};

struct Member {
  std::string key;
  Value value;
};

// Parses a whole document (surrounding whitespace allowed, nothing else after the value).
// Throws pagoda::Error: "JSON parse error at byte offset N: <what>".
Value parse(std::string_view text);
// Reads and parses a file; errors start with the file path.
Value parse_file(const std::string& path);

// Serializes compactly (no spaces). Numbers that are integral print without a fraction;
// others print with 17 significant digits so they read back exactly.
std::string dump(const Value& value);

} // namespace json
} // namespace pagoda
