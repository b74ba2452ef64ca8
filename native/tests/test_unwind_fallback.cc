// C++ exceptions unwinding through the fallback of the core addon's
// _dl_find_object shim (native/runtime/glibc_compat.cc), as they do on a
// glibc older than 2.35: this program defines _dl_find_object as the fallback
// alone and links libgcc statically, so libgcc's unwinder calls it on every
// throw. Skipped (77) where glibc has no _dl_find_object (libgcc then does not call it).
#include <cstdio>
#include <stdexcept>
#include <string>

#include "check.h"
#include "runtime/glibc_compat.h"

#ifdef F2G_HAS_DL_FIND_OBJECT
static int g_calls = 0;
extern "C" int _dl_find_object(void* pc, dl_find_object* out) noexcept {
  ++g_calls;
  return f2g::FindObjectByPhdr(pc, out);
}

namespace {
int Deep(int n) {
  if (n == 0) throw std::range_error("from the bottom");
  return Deep(n - 1) + 1;
}
}  // namespace

TEST(exceptions_unwind_through_the_fallback) {
  int caught = 0;
  for (int i = 0; i < 3; ++i) {
    try {
      Deep(40 + i);
    } catch (const std::range_error& e) {
      caught += std::string(e.what()) == "from the bottom";
    }
  }
  CHECK_EQ(caught, 3);
  CHECK(g_calls > 0);
}

int main() { return f2gtest::run_all("test_unwind_fallback"); }
#else
int main() {
  std::printf("SKIP test_unwind_fallback: this glibc has no _dl_find_object\n");
  return 77;
}
#endif
