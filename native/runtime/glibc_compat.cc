// Glibc symbols that the static libstdc++ and libgcc of GCC 12 on a glibc
// 2.36 system reference, and which would otherwise raise the core addon's
// glibc floor from 2.34 (pthread_*, where libpthread merged into libc) to 2.36:
//
//  * arc4random (GLIBC_2.36), referenced by std::random_device, which libstdc++
//    links in with its copy-on-write strings; the addon never calls it. This
//    definition reads the kernel's getrandom (glibc 2.25).
//  * _dl_find_object (GLIBC_2.35), which libgcc's unwinder calls to find the
//    unwind tables of the object a frame belongs to on every C++ throw. This
//    definition calls glibc's own when the running glibc has it (looked up by
//    version, once) and otherwise computes the same answer from
//    dl_iterate_phdr, as the unwinder did before glibc 2.35.
//
// The static link binds libstdc++'s and libgcc's references to these
// definitions; native/addon.map keeps them local to the addon, so nothing
// outside it sees them. native/tests/test_glibc_compat.cc checks the fallback
// against glibc's _dl_find_object on the build machine, and every test that
// expects a TypeError or RangeError from the addon throws through it.
#include "runtime/glibc_compat.h"

#include <link.h>
#include <sys/random.h>

#include <cerrno>
#include <cstdint>
#include <cstdlib>
#include <cstring>

#if defined(FEAT2GO_GLIBC_COMPAT_SHIM) && defined(__GLIBC__) && \
    (__GLIBC__ > 2 || (__GLIBC__ == 2 && __GLIBC_MINOR__ >= 36))
extern "C" uint32_t arc4random(void) noexcept {
  uint32_t v = 0;
  unsigned char* p = reinterpret_cast<unsigned char*>(&v);
  std::size_t got = 0;
  while (got < sizeof v) {
    const ssize_t n = getrandom(p + got, sizeof v - got, 0);
    if (n > 0) got += static_cast<std::size_t>(n);
    else if (n < 0 && errno != EINTR) std::abort();  // no entropy source at all: as glibc's arc4random does
  }
  return v;
}
#endif

// hypotf: glibc 2.35 added a new version of it (GLIBC_2.35, without the SVID
// error-handling wrapper), which a build against glibc ≥ 2.35 binds to (the
// simulator's kernel calls std::hypot on floats). This definition, local to
// the addon, calls the baseline version, which every glibc has; on one glibc
// both versions compute the same value (the same implementation underneath).
#if defined(FEAT2GO_GLIBC_COMPAT_SHIM) && defined(__GLIBC__) &&     \
    (__GLIBC__ > 2 || (__GLIBC__ == 2 && __GLIBC_MINOR__ >= 35)) && \
    (defined(__x86_64__) || defined(__aarch64__))
extern "C" float f2g_hypotf_baseline(float, float);
#if defined(__x86_64__)
__asm__(".symver f2g_hypotf_baseline,hypotf@GLIBC_2.2.5");
#else
__asm__(".symver f2g_hypotf_baseline,hypotf@GLIBC_2.17");
#endif
extern "C" float hypotf(float x, float y) noexcept { return f2g_hypotf_baseline(x, y); }
#endif

#ifdef F2G_HAS_DL_FIND_OBJECT
namespace f2g {
namespace {

struct Search {
  std::uintptr_t pc;
  dl_find_object* out;
  bool found;
};

int Visit(dl_phdr_info* info, std::size_t, void* data) {
  auto* s = static_cast<Search*>(data);
  std::uintptr_t lo = UINTPTR_MAX, hi = 0;
  void* eh_frame = nullptr;
  bool inside = false;
  for (int i = 0; i < info->dlpi_phnum; ++i) {
    const ElfW(Phdr)& ph = info->dlpi_phdr[i];
    const std::uintptr_t start = info->dlpi_addr + ph.p_vaddr;
    if (ph.p_type == PT_LOAD) {
      const std::uintptr_t end = start + ph.p_memsz;
      if (start < lo) lo = start;
      if (end > hi) hi = end;
      if (s->pc >= start && s->pc < end) inside = true;
    } else if (ph.p_type == PT_GNU_EH_FRAME) {
      eh_frame = reinterpret_cast<void*>(start);
    }
  }
  if (!inside) return 0;
  std::memset(s->out, 0, sizeof *s->out);
  s->out->dlfo_map_start = reinterpret_cast<void*>(lo);
  s->out->dlfo_map_end = reinterpret_cast<void*>(hi);
  s->out->dlfo_eh_frame = eh_frame;
  s->found = true;
  return 1;
}

}  // namespace

int FindObjectByPhdr(void* pc, dl_find_object* out) {
  Search s{reinterpret_cast<std::uintptr_t>(pc), out, false};
  dl_iterate_phdr(Visit, &s);
  return s.found ? 0 : -1;
}

}  // namespace f2g

#ifdef FEAT2GO_GLIBC_COMPAT_SHIM
namespace {
using FindObjectFn = int (*)(void*, dl_find_object*);
// glibc's own, when this glibc has it (looked up when the addon loads; never
// the definition below, which is local to the addon).
const FindObjectFn g_glibc_find_object =
    reinterpret_cast<FindObjectFn>(dlvsym(RTLD_DEFAULT, "_dl_find_object", "GLIBC_2.35"));
}  // namespace

extern "C" int _dl_find_object(void* pc, dl_find_object* out) noexcept {
  return g_glibc_find_object ? g_glibc_find_object(pc, out) : f2g::FindObjectByPhdr(pc, out);
}
#endif
#endif
