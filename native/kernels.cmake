# The CPU kernels (plain C++ over pointers, no N-API) as the static library
# feat2go_kernels. Included by the addon's CMakeLists.txt and by the C++ tests
# (native/tests/CMakeLists.txt), so both build the kernels the same way.
set(FEAT2GO_NATIVE_DIR ${CMAKE_CURRENT_LIST_DIR})
file(GLOB FEAT2GO_KERNEL_SOURCES CONFIGURE_DEPENDS ${FEAT2GO_NATIVE_DIR}/kernels/*.cc)
add_library(feat2go_kernels STATIC ${FEAT2GO_KERNEL_SOURCES})
target_include_directories(feat2go_kernels PUBLIC ${FEAT2GO_NATIVE_DIR})
# -O3 with a portable x86-64 baseline; hot loops carry target_clones
# (x86-64-v4 / v3 / default) and are picked at load time by the CPU's features,
# so the binary runs on any x86-64 and still uses AVX2/AVX-512 where present.
target_compile_options(feat2go_kernels PRIVATE -O3 -fopenmp-simd -fno-math-errno -Wall -Wextra)
find_package(Threads REQUIRED)
target_link_libraries(feat2go_kernels PUBLIC Threads::Threads)
