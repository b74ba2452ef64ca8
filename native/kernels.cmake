# The CPU kernels (plain C++ over pointers, no N-API) as the static library
# feat2go_kernels. Included by the addon's CMakeLists.txt and by the C++ tests
# (native/tests/CMakeLists.txt), so both build the kernels the same way.
set(FEAT2GO_NATIVE_DIR ${CMAKE_CURRENT_LIST_DIR})

# FEAT2GO_SANITIZE=address,undefined (option or environment variable):
# FEAT2GO_SANITIZE_FLAGS instrument the kernels here and, in the addon's
# CMakeLists.txt, the bindings too. -fno-sanitize-recover: a UBSan report
# aborts (as ASan's do), so none goes unnoticed.
set(FEAT2GO_SANITIZE "" CACHE STRING "Sanitizers for the kernels and the addon (address, undefined, or both comma-separated)")
if(DEFINED ENV{FEAT2GO_SANITIZE})
  set(FEAT2GO_SANITIZE "$ENV{FEAT2GO_SANITIZE}")
endif()
set(FEAT2GO_SANITIZE_FLAGS "")
if(FEAT2GO_SANITIZE)
  string(REPLACE "," ";" _f2g_sanitizers "${FEAT2GO_SANITIZE}")
  foreach(_s IN LISTS _f2g_sanitizers)
    if(NOT _s MATCHES "^(address|undefined)$")
      message(FATAL_ERROR "FEAT2GO_SANITIZE: unknown sanitizer '${_s}' (use address, undefined or address,undefined)")
    endif()
  endforeach()
  set(FEAT2GO_SANITIZE_FLAGS -fsanitize=${FEAT2GO_SANITIZE} -fno-sanitize-recover=all -fno-omit-frame-pointer -g)
  message(STATUS "feat2go: sanitizers ${FEAT2GO_SANITIZE}")
endif()

file(GLOB FEAT2GO_KERNEL_SOURCES CONFIGURE_DEPENDS ${FEAT2GO_NATIVE_DIR}/kernels/*.cc)
add_library(feat2go_kernels STATIC ${FEAT2GO_KERNEL_SOURCES})
target_include_directories(feat2go_kernels PUBLIC ${FEAT2GO_NATIVE_DIR})
# -O3 with a portable x86-64 baseline; hot loops carry target_clones
# (x86-64-v4 / v3 / default) and are picked at load time by the CPU's features,
# so the binary runs on any x86-64 and still uses AVX2/AVX-512 where present.
# -fno-trapping-math: the kernels never read floating-point exception flags, and
# with the default -ftrapping-math GCC may not if-convert a loop whose select arms
# it has sunk into branches (a multiply "could trap"), so without AVX-512's masked
# arithmetic such loops stay scalar. It changes no result: NaN, Inf and signed-zero
# semantics are kept (no -ffast-math). kernels/dispatch.h refuses GCC builds without it.
target_compile_options(feat2go_kernels PRIVATE -O3 -fopenmp-simd -fno-math-errno -fno-trapping-math -Wall -Wextra
                                               ${FEAT2GO_SANITIZE_FLAGS})
find_package(Threads REQUIRED)
target_link_libraries(feat2go_kernels PUBLIC Threads::Threads)
if(FEAT2GO_SANITIZE)
  target_link_options(feat2go_kernels PUBLIC ${FEAT2GO_SANITIZE_FLAGS})
endif()
