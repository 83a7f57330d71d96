// Tests for the JSON reader/writer: every value kind, escapes (incl. surrogate pairs), and
// errors that give the byte offset.
#include <cstdio>
#include <string>

#include "error.h"
#include "json.h"

using namespace pagoda;

static int failures = 0;
#define CHECK(cond)                                                   \
  do {                                                                \
    if (!(cond)) {                                                    \
      std::fprintf(stderr, "FAIL %s:%d: %s\n", __FILE__, __LINE__, #cond); \
      ++failures;                                                     \
    }                                                                 \
  } while (0)

static std::string parse_error(const std::string& text) {
  try {
    json::parse(text);
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

int main() {
  json::Value v = json::parse(R"( {"a": 1, "b": [true, false, null], "c": "x\"\\\/\b\f\n\r\t", "d": -2.5e3,
      "e": {}, "f": [], "g": "\u00e9\u4e2d\ud83d\ude00", "h": 0, "i": 1E-2 } )");
  CHECK(v.is_object());
  CHECK(v.size() == 9);
  CHECK(v.at("a").as_int() == 1);
  CHECK(v.at("b").size() == 3 && v.at("b")[0].as_bool() && !v.at("b")[1].as_bool() && v.at("b")[2].is_null());
  CHECK(v.at("c").as_string() == "x\"\\/\b\f\n\r\t");
  CHECK(v.at("d").as_number() == -2500.0);
  CHECK(v.at("e").is_object() && v.at("e").size() == 0);
  CHECK(v.at("f").is_array() && v.at("f").size() == 0);
  CHECK(v.at("g").as_string() == "\xc3\xa9\xe4\xb8\xad\xf0\x9f\x98\x80");
  CHECK(v.at("h").as_int() == 0);
  CHECK(v.at("i").as_number() == 0.01);
  CHECK(v.find("missing") == nullptr);
  CHECK(v.as_object()[0].key == "a"); // document order kept

  // Round trip through dump.
  json::Value back = json::parse(json::dump(v));
  CHECK(json::dump(back) == json::dump(v));
  CHECK(back.at("g").as_string() == v.at("g").as_string());
  CHECK(json::dump(json::Value::number(0.1)) == "0.10000000000000001");
  CHECK(json::dump(json::Value::number(42)) == "42");

  // Errors carry the byte offset.
  CHECK(parse_error("{\"a\": }").find("byte offset 6") != std::string::npos);
  CHECK(parse_error("[1, 2").find("byte offset 5") != std::string::npos);
  CHECK(parse_error("{\"a\" 1}").find("expected ':'") != std::string::npos);
  CHECK(parse_error("[01]").find("byte offset 2") != std::string::npos);
  CHECK(parse_error("\"abc").find("unterminated string") != std::string::npos);
  CHECK(parse_error("\"\\ud83d x\"").find("low surrogate") != std::string::npos);
  CHECK(parse_error("\"\\ude00\"").find("lone low surrogate") != std::string::npos);
  CHECK(parse_error("\"\\q\"").find("invalid escape") != std::string::npos);
  CHECK(parse_error("tru").find("expected 'true'") != std::string::npos);
  CHECK(parse_error("1 2").find("after the JSON value") != std::string::npos);
  CHECK(parse_error("-").find("expected a digit") != std::string::npos);
  CHECK(parse_error("1.").find("after '.'") != std::string::npos);
  CHECK(parse_error("\"a\nb\"").find("control character") != std::string::npos);
  CHECK(parse_error(std::string(600, '[')).find("nesting") != std::string::npos);
  CHECK(parse_error("").find("end of input") != std::string::npos);

  // Type errors and missing keys are errors, not crashes.
  bool threw = false;
  try { v.at("a").as_string(); } catch (const Error& e) { threw = std::string(e.what()).find("expected a string") != std::string::npos; }
  CHECK(threw);
  threw = false;
  try { v.at("nope"); } catch (const Error& e) { threw = std::string(e.what()).find("nope") != std::string::npos; }
  CHECK(threw);
  threw = false;
  try { v.at("d").as_int(); } catch (const Error&) { threw = true; }
  CHECK(!threw); // -2500 is integral
  threw = false;
  try { json::parse("1.5").as_int(); } catch (const Error&) { threw = true; }
  CHECK(threw);
  threw = false;
  try { json::parse_file("/nonexistent/x.json"); } catch (const Error& e) { threw = std::string(e.what()).find("/nonexistent/x.json") != std::string::npos; }
  CHECK(threw);

  // A golden file parses.
  json::Value g = json::parse_file("../shared/fixtures/golden/tiny-llama3.golden.json");
  CHECK(g.at("cases").size() > 0);

  if (failures) std::fprintf(stderr, "%d failure(s)\n", failures);
  else std::printf("json_test: all passed\n");
  return failures ? 1 : 0;
}
