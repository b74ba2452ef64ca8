// native/runtime/glibc_compat.cc: the dl_iterate_phdr answer that the core
// addon's _dl_find_object falls back to on a glibc older than 2.35 must be
// the one glibc gives where it has _dl_find_object (this machine, when built
// against glibc ≥ 2.35): the same unwind tables (the eh_frame_hdr libgcc's
// unwinder reads) for code in this program, in libc and in libstdc++, a
// mapping range that holds the address, and "not found" for memory that
// belongs to no object. Skipped (77) when the glibc here has no
// _dl_find_object to compare with.
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <exception>
#include <memory>
#include <string>

#include "check.h"
#include "runtime/glibc_compat.h"

#ifdef F2G_HAS_DL_FIND_OBJECT
namespace {

void Compare(void* pc, const char* what) {
  dl_find_object want{}, got{};
  const int rw = _dl_find_object(pc, &want);
  const int rg = f2g::FindObjectByPhdr(pc, &got);
  if (rw != rg) {
    ::f2gtest::fail(
        __FILE__, __LINE__,
        std::string(what) + ": glibc says " + std::to_string(rw) + ", the fallback " + std::to_string(rg));
    return;
  }
  if (rw != 0) return;
  if (want.dlfo_eh_frame != got.dlfo_eh_frame)
    ::f2gtest::fail(__FILE__, __LINE__, std::string(what) + ": a different eh_frame_hdr");
  CHECK(got.dlfo_eh_frame != nullptr);
  const auto a = reinterpret_cast<std::uintptr_t>(pc);
  CHECK(reinterpret_cast<std::uintptr_t>(got.dlfo_map_start) <= a &&
        a < reinterpret_cast<std::uintptr_t>(got.dlfo_map_end));
  // glibc's range is whole pages around the same segments.
  CHECK(reinterpret_cast<std::uintptr_t>(want.dlfo_map_start) <=
        reinterpret_cast<std::uintptr_t>(got.dlfo_map_start));
  CHECK(reinterpret_cast<std::uintptr_t>(got.dlfo_map_end) <=
        reinterpret_cast<std::uintptr_t>(want.dlfo_map_end));
}

int Local(int x) { return x * 3 + 1; }

}  // namespace

TEST(same_unwind_tables_as_glibc) {
  Compare(reinterpret_cast<void*>(&Local), "a function of this program");
  Compare(reinterpret_cast<void*>(&std::printf), "printf (libc)");
  Compare(reinterpret_cast<void*>(&std::memcpy), "memcpy (libc)");
  Compare(reinterpret_cast<void*>(&std::terminate), "std::terminate (libstdc++)");
  const char* text = "read-only data";
  Compare(const_cast<char*>(text), "read-only data of this program");
}

TEST(no_object_for_heap_memory) {
  auto block = std::make_unique<unsigned char[]>(1 << 20);  // mmap'd, part of no object
  dl_find_object got{};
  CHECK_EQ(f2g::FindObjectByPhdr(block.get() + 4096, &got), -1);
  dl_find_object want{};
  CHECK_EQ(_dl_find_object(block.get() + 4096, &want), -1);
}

int main() { return f2gtest::run_all("test_glibc_compat"); }
#else
int main() {
  std::printf("SKIP test_glibc_compat: this glibc has no _dl_find_object to compare with\n");
  return 77;
}
#endif
