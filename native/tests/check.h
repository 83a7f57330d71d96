// Minimal assertions for the C++ tests: each failed CHECK prints where and why and counts;
// a test's main() returns check_failures() != 0.
#pragma once

#include <cstdio>
#include <sstream>

inline int& check_failures() {
  static int failures = 0;
  return failures;
}

#define CHECK(cond)                                                                        \
  do {                                                                                     \
    if (!(cond)) {                                                                         \
      std::fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond);        \
      ++check_failures();                                                                  \
    }                                                                                      \
  } while (0)

#define CHECK_EQ(a, b)                                                                     \
  do {                                                                                     \
    auto va_ = (a);                                                                        \
    auto vb_ = (b);                                                                        \
    if (!(va_ == vb_)) {                                                                   \
      std::ostringstream os_;                                                              \
      os_ << va_ << " != " << vb_;                                                         \
      std::fprintf(stderr, "%s:%d: CHECK_EQ(%s, %s) failed: %s\n", __FILE__, __LINE__, #a, \
                   #b, os_.str().c_str());                                                 \
      ++check_failures();                                                                  \
    }                                                                                      \
  } while (0)

// Runs `body`, which must throw pagoda::Error whose message contains `needle`.
#define CHECK_THROWS_WITH(body, needle)                                                    \
  do {                                                                                     \
    bool threw_ = false;                                                                   \
    try {                                                                                  \
      body;                                                                                \
    } catch (const std::exception& e_) {                                                   \
      threw_ = true;                                                                       \
      if (std::string(e_.what()).find(needle) == std::string::npos) {                      \
        std::fprintf(stderr, "%s:%d: error '%s' does not mention '%s'\n", __FILE__,        \
                     __LINE__, e_.what(), needle);                                         \
        ++check_failures();                                                                \
      }                                                                                    \
    }                                                                                      \
    if (!threw_) {                                                                         \
      std::fprintf(stderr, "%s:%d: expected an error mentioning '%s'\n", __FILE__,         \
                   __LINE__, needle);                                                      \
      ++check_failures();                                                                  \
    }                                                                                      \
  } while (0)

inline int finish_checks(const char* name) {
  if (check_failures() == 0) std::printf("%s: all checks passed\n", name);
  else std::printf("%s: %d checks failed\n", name, check_failures());
  return check_failures() == 0 ? 0 : 1;
}
