#!/usr/bin/env bash
# Builds the addon with AddressSanitizer + UndefinedBehaviorSanitizer into
# build-sanitize/ (libtorch off: the unit suite does not need it) and runs the
# unit tests under it. Exits non-zero on any sanitizer report or failed test.
#
#   scripts/sanitize.sh                 build, check the instrumentation, run the subset below
#   scripts/sanitize.sh --build-only    build and check only
#   FEAT2GO_SANITIZE_TESTS='rl\.test'   another test pattern (under test/unit)
#
# The subset is the unit tests that exercise native code (rl, progress, motion,
# progress-numeric, properties, sim, encoders-builtin, native-safety, augment,
# zero-copy: host memory under detach/GC/teardown, cancel): a few minutes on
# 2 cores. Left out: encoders-onnx (onnxruntime is not instrumented
# and slow under ASan), episodes (ffmpeg child processes), worker-threads (one
# child process per scenario), and the file readers (TypeScript only).
# Node itself is not instrumented: libasan is preloaded so that it comes first,
# leak detection is off (V8 keeps allocations until exit by design), and the
# first report aborts the process (halt_on_error / -fno-sanitize-recover).
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=build-sanitize
addon="$BUILD/Release/feat2go.node"
pattern="${FEAT2GO_SANITIZE_TESTS:-(rl|progress|progress-numeric|motion|properties|sim|encoders-builtin|native-safety|augment|zero-copy|cancel)\.test\.ts$}"

echo "== sanitizer build (address,undefined) in $BUILD =="
FEAT2GO_SANITIZE=address,undefined FEAT2GO_TORCH=OFF npx cmake-js compile --out "$BUILD" --parallel "${JOBS:-2}" >"$BUILD.log" 2>&1 ||
  { tail -40 "$BUILD.log"; exit 1; }

echo "== checking the instrumentation =="
# (grep reads whole listings: with pipefail, grep -q closing a pipe early fails the check)
libs=$(ldd "$addon")
grep -q 'libasan' <<<"$libs" || { echo "FAIL: $addon does not link libasan"; exit 1; }
grep -q 'libubsan' <<<"$libs" || { echo "FAIL: $addon does not link libubsan"; exit 1; }
syms=$(nm -C "$addon")
grep -q '__asan_report_load' <<<"$syms" || { echo "FAIL: no ASan checks in $addon"; exit 1; }
grep -q '__ubsan_handle' <<<"$syms" || { echo "FAIL: no UBSan checks in $addon"; exit 1; }
# The kernels (a static library) must be instrumented too, not only the glue.
for o in "$BUILD"/CMakeFiles/feat2go_kernels.dir/native/kernels/rl.cc.o "$BUILD"/CMakeFiles/feat2go_kernels.dir/native/kernels/progress.cc.o; do
  osyms=$(nm "$o")
  grep -q '__asan_report' <<<"$osyms" || { echo "FAIL: kernel object $o has no ASan checks"; exit 1; }
done
echo "ok: $(grep -oE 'lib(asan|ubsan)\.so[.0-9]*' <<<"$libs" | sort -u | tr '\n' ' ')and instrumented kernels"
[ "${1:-}" = "--build-only" ] && exit 0

LIBASAN="$(gcc -print-file-name=libasan.so)"
export ASAN_OPTIONS="detect_leaks=0:halt_on_error=1:abort_on_error=1:detect_stack_use_after_return=0:allocator_may_return_null=1"
export UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1"
export FEAT2GO_ADDON="$PWD/$addon"
log=$(mktemp /tmp/feat2go-sanitize.XXXXXX)

echo "== the loader picks the instrumented addon =="
LD_PRELOAD="$LIBASAN" node --import tsx --input-type=module -e "
  const { native } = await import('./src/core/native.ts');
  native();
  const maps = (await import('node:fs')).readFileSync('/proc/self/maps', 'utf8');
  if (!maps.includes('$BUILD/Release/feat2go.node')) { console.error('FAIL: the sanitizer build was not the one loaded'); process.exit(3); }
  console.log('ok: loaded', process.env.FEAT2GO_ADDON);
"

echo "== unit tests under ASan + UBSan: test/unit $pattern =="
set +e
LD_PRELOAD="$LIBASAN" node --import tsx node_modules/uvu/bin.js test/unit "$pattern" >"$log" 2>&1
rc=$?
set -e
sed -E 's/\x1b\[[0-9;]*m//g' "$log" | grep -vE '^(• )+' | tail -25
reports=$(grep -cE 'ERROR: AddressSanitizer|runtime error:|ERROR: LeakSanitizer' "$log" || true)
echo "sanitizer reports: $reports"
if [ "$reports" != "0" ]; then grep -E -A30 'ERROR: AddressSanitizer|runtime error:' "$log" | head -80; fi
rm -f "$log"
[ "$rc" = "0" ] && [ "$reports" = "0" ]
