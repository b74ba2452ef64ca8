# The CUDA kernels (native/cuda/*.cu) as the static library feat2go_cuda.
# Included by the addon's CMakeLists.txt and by native/tests/CMakeLists.txt.
#
#   FEAT2GO_CUDA        OFF (default) | ON (fail without nvcc) | AUTO (build when
#                       nvcc is found AND an NVIDIA driver is present)
#   FEAT2GO_CUDA_ARCHS  CMAKE_CUDA_ARCHITECTURES list; default
#                       "80-real;90-real;90-virtual" (A100, H100 SASS + PTX that
#                       newer GPUs JIT-compile). CI compiles "80-real" only.
#
# The CUDA runtime is linked statically (cudart_static), so a binary built with
# CUDA loads on machines without a driver and reports CUDA as unavailable.
# Sets FEAT2GO_HAS_CUDA ON/OFF and FEAT2GO_CUDA_WHY (why it is OFF).
if(NOT DEFINED FEAT2GO_CUDA)
  set(FEAT2GO_CUDA "OFF" CACHE STRING "Build CUDA kernels (OFF, ON, AUTO)")
endif()
if(DEFINED ENV{FEAT2GO_CUDA})
  set(FEAT2GO_CUDA "$ENV{FEAT2GO_CUDA}")
endif()
if(DEFINED ENV{FEAT2GO_CUDA_ARCHS})
  set(FEAT2GO_CUDA_ARCHS "$ENV{FEAT2GO_CUDA_ARCHS}")
endif()
if(NOT FEAT2GO_CUDA_ARCHS)
  set(FEAT2GO_CUDA_ARCHS "80-real;90-real;90-virtual")
endif()

set(FEAT2GO_HAS_CUDA OFF)
set(FEAT2GO_CUDA_WHY "FEAT2GO_CUDA=OFF")
if(NOT FEAT2GO_CUDA MATCHES "^(OFF|ON|AUTO)$")
  message(FATAL_ERROR "FEAT2GO_CUDA must be OFF, ON or AUTO, got '${FEAT2GO_CUDA}'")
endif()
if(NOT FEAT2GO_CUDA STREQUAL "OFF")
  # nvcc on PATH, else the usual install prefix.
  if(NOT CMAKE_CUDA_COMPILER AND NOT DEFINED ENV{CUDACXX})
    find_program(FEAT2GO_NVCC nvcc PATHS /usr/local/cuda/bin /usr/local/cuda-13.0/bin /usr/local/cuda-12/bin)
    if(FEAT2GO_NVCC)
      set(CMAKE_CUDA_COMPILER ${FEAT2GO_NVCC})
    endif()
  endif()
  include(CheckLanguage)
  check_language(CUDA)
  set(_f2g_driver OFF)
  if(EXISTS "/proc/driver/nvidia/version")
    set(_f2g_driver ON)
  else()
    find_library(FEAT2GO_LIBCUDA NAMES libcuda.so.1 cuda PATHS /usr/lib/x86_64-linux-gnu /usr/lib64 /usr/lib/wsl/lib
                 NO_CMAKE_PATH NO_CMAKE_ENVIRONMENT_PATH)
    if(FEAT2GO_LIBCUDA AND NOT FEAT2GO_LIBCUDA MATCHES "stubs")
      set(_f2g_driver ON)
    endif()
  endif()
  if(NOT CMAKE_CUDA_COMPILER)
    set(FEAT2GO_CUDA_WHY "no CUDA compiler (nvcc) found")
    if(FEAT2GO_CUDA STREQUAL "ON")
      message(FATAL_ERROR "FEAT2GO_CUDA=ON but no CUDA compiler was found (put nvcc on PATH or set CUDACXX)")
    endif()
  elseif(FEAT2GO_CUDA STREQUAL "AUTO" AND NOT _f2g_driver)
    set(FEAT2GO_CUDA_WHY "AUTO: nvcc found but no NVIDIA driver")
  else()
    if(NOT CMAKE_CUDA_ARCHITECTURES)
      set(CMAKE_CUDA_ARCHITECTURES ${FEAT2GO_CUDA_ARCHS})
    endif()
    set(CMAKE_CUDA_STANDARD 17)
    set(CMAKE_CUDA_STANDARD_REQUIRED ON)
    set(CMAKE_CUDA_RUNTIME_LIBRARY Static)
    enable_language(CUDA)
    find_package(CUDAToolkit REQUIRED)
    file(GLOB FEAT2GO_CUDA_SOURCES CONFIGURE_DEPENDS ${CMAKE_CURRENT_LIST_DIR}/*.cu)
    add_library(feat2go_cuda STATIC ${FEAT2GO_CUDA_SOURCES})
    set_target_properties(feat2go_cuda PROPERTIES POSITION_INDEPENDENT_CODE ON
                          CUDA_ARCHITECTURES "${CMAKE_CUDA_ARCHITECTURES}")
    target_include_directories(feat2go_cuda PUBLIC ${CMAKE_CURRENT_LIST_DIR}/..)
    target_compile_options(feat2go_cuda PRIVATE $<$<COMPILE_LANGUAGE:CUDA>:-O3 -Xcompiler=-Wall>)
    target_link_libraries(feat2go_cuda PUBLIC CUDA::cudart_static)
    target_compile_definitions(feat2go_cuda PUBLIC FEAT2GO_HAS_CUDA=1)
    set(FEAT2GO_HAS_CUDA ON)
    set(FEAT2GO_CUDA_WHY "")
    message(STATUS "feat2go: CUDA ${CMAKE_CUDA_COMPILER_VERSION} kernels for ${CMAKE_CUDA_ARCHITECTURES}")
  endif()
endif()
