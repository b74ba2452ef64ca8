#!/usr/bin/env bash
# Builds and runs the C++ tests of the native kernels with ctest (no Node).
#   scripts/test-native.sh            CPU kernels + host tests of the CUDA bodies (build-tests/)
#   scripts/test-native.sh --cuda     also compiles native/cuda/*.cu with nvcc into build-cuda/
#                                     (FEAT2GO_CUDA_ARCHS, default 80-real here: one arch keeps
#                                     CI short) and runs the CUDA tests, which report "skipped"
#                                     where no GPU is usable.
# Environment: JOBS (parallel build jobs, default 2).
set -euo pipefail
cd "$(dirname "$0")/.."
jobs=${JOBS:-2}
run() {  # dir, extra cmake args...
  local dir=$1
  shift
  cmake -S native/tests -B "$dir" -DCMAKE_BUILD_TYPE=Release "$@" >"$dir.configure.log" 2>&1 ||
    { cat "$dir.configure.log"; exit 1; }
  cmake --build "$dir" --parallel "$jobs" >"$dir.build.log" 2>&1 || { cat "$dir.build.log"; exit 1; }
  ctest --test-dir "$dir" --output-on-failure
}
mkdir -p build-tests
run build-tests -DFEAT2GO_CUDA=OFF
if [ "${1:-}" = "--cuda" ]; then
  if ! command -v nvcc >/dev/null 2>&1 && [ -x /usr/local/cuda/bin/nvcc ]; then export PATH="/usr/local/cuda/bin:$PATH"; fi
  if ! command -v nvcc >/dev/null 2>&1; then
    echo "SKIP CUDA compile: nvcc not found (install the CUDA toolkit or put nvcc on PATH)"
    exit 0
  fi
  mkdir -p build-cuda
  run build-cuda -DFEAT2GO_CUDA=ON -DFEAT2GO_CUDA_ARCHS="${FEAT2GO_CUDA_ARCHS:-80-real}"
  # The addon's CUDA binding (compiled only into CUDA builds of the addon):
  # a syntax check against the N-API headers, so it cannot rot unseen.
  if [ -d node_modules/node-addon-api ] && [ -d node_modules/node-api-headers/include ]; then
    g++ -std=c++17 -fsyntax-only -DFEAT2GO_HAS_CUDA=1 -DNAPI_VERSION=8 -DNAPI_CPP_EXCEPTIONS -Inative \
      -Inode_modules/node-addon-api -Inode_modules/node-api-headers/include native/bindings/cuda.cc
    echo "native/bindings/cuda.cc (FEAT2GO_HAS_CUDA): compiles"
  else
    echo "SKIP native/bindings/cuda.cc check: node_modules not installed"
  fi
fi
