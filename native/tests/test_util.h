// Minimal assertion helpers shared by the C++ tests: CHECK records a failure and goes on,
// so one run reports every broken expectation; finish() turns them into the exit code.
#pragma once

#include <cstdio>
#include <cstdlib>
#include <string>

namespace test {

inline int& failures() {
  static int n = 0;
  return n;
}

inline int finish(const char* name) {
  if (failures()) {
    std::fprintf(stderr, "%s: %d failure(s)\n", name, failures());
    return 1;
  }
  std::printf("%s: all passed\n", name);
  return 0;
}

// Runs fn, which must throw pagoda::Error whose message contains every one of `parts`.
template <class Fn>
bool throws_with(Fn&& fn, std::initializer_list<std::string> parts, std::string* message = nullptr) {
  try {
    fn();
  } catch (const std::exception& e) {
    const std::string what = e.what();
    if (message) *message = what;
    if (std::getenv("PAGODA_TEST_VERBOSE")) std::printf("  error: %s\n", what.c_str());
    for (const auto& p : parts) {
      if (what.find(p) == std::string::npos) {
        std::fprintf(stderr, "  error message lacks \"%s\": %s\n", p.c_str(), what.c_str());
        return false;
      }
    }
    return true;
  }
  std::fprintf(stderr, "  expected an error, none was thrown\n");
  return false;
}

} // namespace test

#define CHECK(cond)                                                              \
  do {                                                                           \
    if (!(cond)) {                                                               \
      std::fprintf(stderr, "FAIL %s:%d: %s\n", __FILE__, __LINE__, #cond);       \
      ++test::failures();                                                        \
    }                                                                            \
  } while (0)

#define CHECK_NEAR(a, b, tol)                                                                     \
  do {                                                                                            \
    const double va_ = (a), vb_ = (b);                                                            \
    if (!(std::fabs(va_ - vb_) <= (tol))) {                                                       \
      std::fprintf(stderr, "FAIL %s:%d: %s = %g vs %s = %g (tol %g)\n", __FILE__, __LINE__, #a, va_, #b, vb_, \
                   (double)(tol));                                                                \
      ++test::failures();                                                                         \
    }                                                                                             \
  } while (0)
