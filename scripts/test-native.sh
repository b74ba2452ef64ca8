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
  # With node-addon-api installed, the addon's bindings (the CUDA twins
  # included) are compiled and linked against the CUDA kernels too
  # (ctest cuda_bindings_link): they are the same code as in a CPU build.
  napi=()
  if [ -d node_modules/node-addon-api ] && [ -d node_modules/node-api-headers/include ]; then
    napi=(-DFEAT2GO_NAPI_INCLUDES="$PWD/node_modules/node-addon-api;$PWD/node_modules/node-api-headers/include")
  else
    echo "SKIP the CUDA bindings link check: node_modules not installed"
  fi
  run build-cuda -DFEAT2GO_CUDA=ON -DFEAT2GO_CUDA_ARCHS="${FEAT2GO_CUDA_ARCHS:-80-real}" "${napi[@]}"
fi
