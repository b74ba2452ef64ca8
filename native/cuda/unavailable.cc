// api.h for an addon built without the CUDA kernels (FEAT2GO_CUDA=OFF, or no
// nvcc): CUDA is reported as "not built", and every call that would need a
// device throws cuda::Error naming the call and that reason. With it the
// CUDA bindings (bindings/device.cc, progress_cuda.cc, rl_cuda.cc) are the
// same code in every build: they compile, load and refuse with one clear
// error, and a CUDA build only swaps this file for the kernels.
#include <string>

#include "cuda/api.h"

namespace f2g {
namespace cuda {
namespace {

[[noreturn]] void not_built(const char* call) {
  throw Error(std::string(call) + ": CUDA is not available (not built: rebuild with FEAT2GO_CUDA=ON)");
}

}  // namespace

std::string unavailable_reason() { return "not built"; }
int device_count() { return 0; }
DeviceInfo device_info(int) { not_built("deviceInfo"); }
void require_device(const char* call) { not_built(call); }
void set_device(int, const char* call) { not_built(call); }
Stream stream_create(const char* call) { not_built(call); }
void stream_destroy(Stream) noexcept {}
void stream_sync(Stream, const char* call) { not_built(call); }
void* malloc_device(std::size_t, const char* call) { not_built(call); }
void free_device(void*) noexcept {}
void* malloc_async(std::size_t, Stream, const char* call) { not_built(call); }
void free_async(void*, Stream) noexcept {}
void memset_async(void*, int, std::size_t, Stream, const char* call) { not_built(call); }
void copy_h2d(void*, const void*, std::size_t, Stream, const char* call) { not_built(call); }
void copy_d2h(void*, const void*, std::size_t, Stream, const char* call) { not_built(call); }
void copy_d2d(void*, const void*, std::size_t, Stream, const char* call) { not_built(call); }
void check_launch(const char* call) { not_built(call); }

void patch_similarity(const float*, std::size_t, std::size_t, std::size_t, const float*, double, float*,
                      Stream) {
  not_built("patchSimilarity");
}
void sliding_slopes(const float*, std::size_t, std::size_t, std::size_t, float*, int*, Stream) {
  not_built("slidingSlopes");
}
void progress_targets(const float*, const std::int64_t*, std::size_t, std::size_t, std::size_t,
                      const ProgressArgs&, float*, float*, std::int32_t*, std::int32_t*, std::int32_t*,
                      std::int64_t*, Stream) {
  not_built("progressTargets");
}
void gae(const float*, const float*, const float*, DevFlags, DevFlags, std::size_t, std::size_t, double,
         double, bool, float*, float*, int*, Stream) {
  not_built("gae");
}
void grpo_advantages(const float*, std::size_t, std::size_t, double, rl::StdKind, bool, float*, int*,
                     Stream) {
  not_built("grpoAdvantages");
}
void step_advantages(const float*, const std::int32_t*, std::size_t, std::size_t, double, float*, int*,
                     Stream) {
  not_built("stepAdvantages");
}
void clipped_surrogate(const float*, const float*, const float*, DevFlags, std::size_t, std::size_t, double,
                       double, double, rl::Aggregation, LossOut*, Stream) {
  not_built("clippedSurrogate");
}
void value_loss(const float*, const float*, const float*, DevFlags, std::size_t, std::size_t, double, double,
                rl::Aggregation, LossOut*, Stream) {
  not_built("valueLoss");
}
void kl_penalty(const float*, const float*, DevFlags, std::size_t, std::size_t, rl::KlEstimator,
                rl::Aggregation, LossOut*, Stream) {
  not_built("klPenalty");
}

}  // namespace cuda
}  // namespace f2g
