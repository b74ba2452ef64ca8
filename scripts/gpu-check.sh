#!/usr/bin/env bash
# The whole GPU check in one command, for a machine with an NVIDIA GPU (no Node
# needed): builds the C++ tests and the CUDA benchmark with CUDA, runs every
# CUDA kernel against the CPU kernel (ctest), runs the benchmark (patch
# similarity and GAE as a fraction of device-to-device copy bandwidth, target
# >= 70 %), compares with PyTorch CUDA eager when `python3 -c "import torch"`
# finds a CUDA build, and prints a summary.
#
#   scripts/gpu-check.sh            build dir build-gpu/ (BUILD_DIR to change)
#   FEAT2GO_CUDA_ARCHS=90-real ...  architectures (default: the GPU's own, from
#                                   nvidia-smi, else 80-real;90-real;90-virtual)
#   BENCH_REPS=20                   benchmark repetitions (median)
#
# Needs nvcc (PATH or /usr/local/cuda/bin) and g++; uses cmake + ctest when
# installed, else (or with GPU_CHECK_DIRECT=1) compiles the same sources with
# nvcc directly.
# Exit status: 0 when everything that could run passed (also when no GPU is
# usable: the summary then says "no device"), 1 on a build or test failure.
set -uo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
build=${BUILD_DIR:-build-gpu}
jobs=$(nproc 2>/dev/null || echo 4)
reps=${BENCH_REPS:-20}
summary=()
status=0
note() { summary+=("$1"); }

if ! command -v nvcc >/dev/null 2>&1; then
  for d in /usr/local/cuda/bin /usr/local/cuda-*/bin; do
    if [ -x "$d/nvcc" ]; then export PATH="$d:$PATH"; break; fi
  done
fi
if ! command -v nvcc >/dev/null 2>&1; then
  echo "gpu-check: nvcc not found (install the CUDA toolkit, or put nvcc on PATH)"
  exit 1
fi
echo "== nvcc: $(nvcc --version | tail -1)"
if command -v nvidia-smi >/dev/null 2>&1; then
  nvidia-smi --query-gpu=name,compute_cap,driver_version,memory.total --format=csv,noheader 2>/dev/null | sed 's/^/== gpu: /'
fi
archs=${FEAT2GO_CUDA_ARCHS:-}
if [ -z "$archs" ] && command -v nvidia-smi >/dev/null 2>&1; then
  cc=$(nvidia-smi --query-gpu=compute_cap --format=csv,noheader 2>/dev/null | head -1 | tr -d ' .')
  if [ -n "$cc" ]; then archs="${cc}-real"; fi
fi
archs=${archs:-80-real;90-real;90-virtual}
echo "== architectures: $archs"
mkdir -p "$build"

# ---- build
t0=$(date +%s)
if [ -z "${GPU_CHECK_DIRECT:-}" ] && command -v cmake >/dev/null 2>&1 && command -v ctest >/dev/null 2>&1; then
  mode=cmake
  if cmake -S native/tests -B "$build" -DCMAKE_BUILD_TYPE=Release -DFEAT2GO_CUDA=ON \
       -DFEAT2GO_CUDA_ARCHS="$archs" >"$build/configure.log" 2>&1 &&
     cmake --build "$build" --parallel "$jobs" >"$build/build.log" 2>&1; then
    note "build:  ok (cmake, $archs, $(( $(date +%s) - t0 )) s)"
  else
    cat "$build/configure.log" "$build/build.log" 2>/dev/null | tail -40
    note "build:  FAILED (see $build/*.log)"
    status=1
  fi
else
  # No cmake: the same sources straight through nvcc (cudart static).
  mode=direct
  gencode=""
  IFS=';' read -ra list <<<"$archs"
  for a in "${list[@]}"; do
    n=${a%%-*}
    case "$a" in
      *-virtual) gencode+=" -gencode arch=compute_$n,code=compute_$n" ;;
      *-real) gencode+=" -gencode arch=compute_$n,code=sm_$n" ;;
      *) gencode+=" -gencode arch=compute_$n,code=[sm_$n,compute_$n]" ;;
    esac
  done
  flags="-std=c++17 -O3 -Inative -Inative/tests -cudart static -Xcompiler -fopenmp-simd,-fno-math-errno,-fno-trapping-math,-pthread"
  ok=1
  objs=()
  : >"$build/build.log"
  for f in native/kernels/*.cc native/cuda/*.cu; do
    o="$build/$(basename "$f").o"
    # shellcheck disable=SC2086
    nvcc $flags $gencode -x "$( [ "${f##*.}" = cu ] && echo cu || echo c++ )" -c "$f" -o "$o" >>"$build/build.log" 2>&1 || ok=0
    objs+=("$o")
  done
  for t in test_kernels test_rl_rows test_bodies test_cuda bench_cuda; do
    # shellcheck disable=SC2086
    nvcc $flags $gencode -x c++ -c "native/tests/$t.cc" -o "$build/$t.o" >>"$build/build.log" 2>&1 &&
      nvcc $flags $gencode "$build/$t.o" "${objs[@]}" -o "$build/$t" >>"$build/build.log" 2>&1 || ok=0
  done
  if [ $ok = 1 ]; then
    note "build:  ok (nvcc direct, no cmake; $archs, $(( $(date +%s) - t0 )) s)"
  else
    tail -40 "$build/build.log"
    note "build:  FAILED (see $build/build.log)"
    status=1
  fi
fi

# ---- tests
if [ $status = 0 ]; then
  echo "== tests"
  if [ $mode = cmake ]; then
    ctest --test-dir "$build" --output-on-failure | tee "$build/ctest.log"
    rc=${PIPESTATUS[0]}
    line=$(grep -E "tests passed|tests failed" "$build/ctest.log" | tail -1)
  else
    rc=0
    : >"$build/ctest.log"
    for t in "test_kernels" "test_rl_rows" "test_bodies" "test_cuda runtime" "test_cuda"; do
      # shellcheck disable=SC2086
      "$build/"$t | tee -a "$build/ctest.log"
      r=${PIPESTATUS[0]}
      if [ "$r" != 0 ] && [ "$r" != 77 ]; then rc=1; fi
    done
    line="direct run, exit $rc"
  fi
  skip=$(grep -m1 "^SKIP test_cuda" "$build/ctest.log" || true)
  if [ -z "$skip" ] && grep -qE "cuda .*Skipped" "$build/ctest.log"; then
    skip=$({ "$build/test_cuda" || true; } | grep -m1 "^SKIP" || true)
    skip=${skip:-SKIP test_cuda: skipped}
  fi
  if [ $rc = 0 ]; then note "tests:  ok ($line)"; else note "tests:  FAILED ($line)"; status=1; fi
  if [ -n "$skip" ]; then
    note "device: ${skip#SKIP test_cuda: } - the CUDA kernels were compiled and host-tested, not run"
  else
    note "device: CUDA kernels checked against the CPU kernels on the GPU"
  fi
fi

# ---- benchmark
if [ $status = 0 ] && [ -x "$build/bench_cuda" ]; then
  echo "== benchmark"
  "$build/bench_cuda" "$reps" | tee "$build/bench.log"
  r=${PIPESTATUS[0]}
  if [ "$r" = 77 ]; then
    note "bench:  skipped ($(grep -m1 '^SKIP' "$build/bench.log" | sed 's/^SKIP bench_cuda: //'))"
  elif [ "$r" = 0 ]; then
    note "bench:  $(grep -m1 '^bench_cuda:' "$build/bench.log" | sed 's/^bench_cuda: //')"
    while IFS= read -r l; do note "        $l"; done < <(grep -E '^(patchSimilarity|gae|clipped)' "$build/bench.log")
  else
    note "bench:  FAILED (exit $r)"
    status=1
  fi
  # ---- PyTorch CUDA eager on the same shapes (optional)
  if command -v python3 >/dev/null 2>&1 && python3 -c "import torch,sys; sys.exit(0 if torch.cuda.is_available() else 1)" >/dev/null 2>&1; then
    python3 scripts/gpu-bench-torch.py "$reps" | tee "$build/torch.log"
    while IFS= read -r l; do note "torch:  $l"; done < <(grep -E '^torch ' "$build/torch.log" | sed 's/^torch //')
  else
    note "torch:  skipped (no python3 with a CUDA build of torch)"
  fi
fi

echo
echo "== gpu-check summary ($(date -u +%Y-%m-%dT%H:%MZ), $(hostname))"
for l in "${summary[@]}"; do echo "  $l"; done
exit $status
