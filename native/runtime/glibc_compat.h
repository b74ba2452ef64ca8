// Keeps the core addon's glibc floor at 2.34 when libstdc++ and libgcc are
// linked in statically (FEAT2GO_STATIC_RUNTIME): see glibc_compat.cc.
#pragma once
#include <features.h>

#if defined(__GLIBC__) && (__GLIBC__ > 2 || (__GLIBC__ == 2 && __GLIBC_MINOR__ >= 35))
#include <dlfcn.h>
#define F2G_HAS_DL_FIND_OBJECT 1
namespace f2g {
/// _dl_find_object's answer computed with dl_iterate_phdr (what the shim
/// uses on a glibc older than 2.35): 0 and *out filled when `pc` lies in a
/// loaded object, -1 otherwise. Exposed for native/tests/test_glibc_compat.cc.
int FindObjectByPhdr(void* pc, struct dl_find_object* out);
}  // namespace f2g
#endif
