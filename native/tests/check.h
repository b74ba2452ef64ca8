// A minimal test harness for the C++ tests (no framework download needed):
// TEST(name) { ... } registers a case; CHECK / CHECK_NEAR record failures
// with file:line and continue; main() runs every case and prints a summary.
// SKIP_ALL(reason) prints "SKIP <program>: <reason>" and exits with 77, which
// ctest reports as skipped (SKIP_RETURN_CODE).
#pragma once
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

namespace f2gtest {

struct Case {
  const char* name;
  void (*fn)();
};
inline std::vector<Case>& cases() {
  static std::vector<Case> v;
  return v;
}
inline int& failures() {
  static int n = 0;
  return n;
}
struct Reg {
  Reg(const char* n, void (*f)()) { cases().push_back({n, f}); }
};

inline void fail(const char* file, int line, const std::string& what) {
  std::printf("    FAIL %s:%d: %s\n", file, line, what.c_str());
  ++failures();
}

inline bool near(double a, double b, double tol) {
  if (std::isnan(a) || std::isnan(b)) return std::isnan(a) && std::isnan(b);
  if (std::isinf(a) || std::isinf(b)) return a == b;
  return std::fabs(a - b) <= tol;
}

/// Runs the cases whose name starts with `prefix` ("" = all).
inline int run_all(const char* program, const std::string& prefix = "") {
  int failed_cases = 0, ran = 0;
  for (const Case& c : cases()) {
    if (std::string(c.name).rfind(prefix, 0) != 0) continue;
    ++ran;
    const int before = failures();
    c.fn();
    const bool ok = failures() == before;
    std::printf("%s %s\n", ok ? "  ok  " : "  FAIL", c.name);
    failed_cases += ok ? 0 : 1;
  }
  std::printf("%s: %d cases, %d failed (%d failed checks)\n", program, ran, failed_cases, failures());
  return failed_cases == 0 ? 0 : 1;
}

}  // namespace f2gtest

#define TEST(name)                                   \
  static void name();                                \
  static ::f2gtest::Reg f2g_reg_##name(#name, name); \
  static void name()

#define CHECK(cond)                                                       \
  do {                                                                    \
    if (!(cond)) ::f2gtest::fail(__FILE__, __LINE__, "CHECK(" #cond ")"); \
  } while (0)

#define CHECK_EQ(a, b)                                                                                \
  do {                                                                                                \
    const auto f2g_a_ = (a);                                                                          \
    const auto f2g_b_ = (b);                                                                          \
    if (!(f2g_a_ == f2g_b_))                                                                          \
      ::f2gtest::fail(                                                                                \
          __FILE__, __LINE__,                                                                         \
          std::string(#a " == " #b ": ") + std::to_string(f2g_a_) + " vs " + std::to_string(f2g_b_)); \
  } while (0)

#define CHECK_NEAR(a, b, tol)                                                                            \
  do {                                                                                                   \
    const double f2g_a_ = static_cast<double>(a);                                                        \
    const double f2g_b_ = static_cast<double>(b);                                                        \
    if (!::f2gtest::near(f2g_a_, f2g_b_, (tol))) {                                                       \
      char f2g_buf_[256];                                                                                \
      std::snprintf(f2g_buf_, sizeof f2g_buf_, "%s ~ %s: %.9g vs %.9g (tol %g)", #a, #b, f2g_a_, f2g_b_, \
                    static_cast<double>(tol));                                                           \
      ::f2gtest::fail(__FILE__, __LINE__, f2g_buf_);                                                     \
    }                                                                                                    \
  } while (0)

#define SKIP_ALL(program, reason)                                       \
  do {                                                                  \
    std::printf("SKIP %s: %s\n", program, std::string(reason).c_str()); \
    return 77;                                                          \
  } while (0)
