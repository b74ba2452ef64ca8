// Host-side API of the CUDA kernels (implemented in native/cuda/*.cu). Plain
// C++: no CUDA header is needed to include it, so the N-API bindings, the C++
// tests and the benchmark are compiled by the host compiler.
//
// Pointers named d_* are device memory on the current device. Every kernel
// call is asynchronous on `stream` (nullptr = the legacy default stream);
// results are ready after stream_sync(). Data checks (non-finite inputs,
// flags that are not 0/1) are written to `d_status` (one device int, set
// non-zero on bad data; may be null) and read by the caller after the sync.
// Failures of the CUDA runtime throw cuda::Error naming the call.
#pragma once
#include <cstddef>
#include <cstdint>
#include <stdexcept>
#include <string>

#include "kernels/rl_modes.h"

namespace f2g {
namespace cuda {

struct Error : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// ---------------------------------------------------------------- runtime

/// "" when at least one device can be used, else "no driver" (no NVIDIA
/// driver, or one too old for this CUDA runtime) or "no device".
std::string unavailable_reason();
int device_count();  // 0 when unavailable
struct DeviceInfo {
  std::string name;
  int major = 0, minor = 0;
  std::size_t memory = 0;
  int runtime_version = 0, driver_version = 0;
};
DeviceInfo device_info(int device);
/// Throws Error("<call>: ...") unless a device is usable.
void require_device(const char* call);
void set_device(int device, const char* call);

using Stream = void*;
Stream stream_create(const char* call);
void stream_destroy(Stream s) noexcept;
/// Waits for the stream; a launch or execution error becomes Error("<call>: ...").
void stream_sync(Stream s, const char* call);

void* malloc_device(std::size_t bytes, const char* call);
void free_device(void* p) noexcept;
void* malloc_async(std::size_t bytes, Stream s, const char* call);
void free_async(void* p, Stream s) noexcept;
void memset_async(void* d, int value, std::size_t bytes, Stream s, const char* call);
void copy_h2d(void* d_dst, const void* src, std::size_t bytes, Stream s, const char* call);
void copy_d2h(void* dst, const void* d_src, std::size_t bytes, Stream s, const char* call);
void copy_d2d(void* d_dst, const void* d_src, std::size_t bytes, Stream s, const char* call);
/// Raises the last launch error (if any) as Error("<call>: ...").
void check_launch(const char* call);

// ---------------------------------------------------------------- §1–3

/// out[t] = S(features[t], goal) (SPEC §1) for features [T,N,D], goal [N,D].
/// One block per frame; warps take patches, lanes the feature dimension
/// (float4 loads when D % 4 == 0), warp-shuffle sums of (x·g, ‖x‖², ‖x−g‖₁);
/// the double-precision cos·exp of 32 patches is evaluated by 32 lanes at once.
void patch_similarity(const float* d_features, std::size_t T, std::size_t N, std::size_t D,
                      const float* d_goal, double lambda, float* d_out, Stream s);

/// Slopes of every length-w window of each row of series [B,L] -> out [B,L−w+1].
/// A NaN/Inf in series sets *d_status (the CPU path refuses such series).
void sliding_slopes(const float* d_series, std::size_t B, std::size_t L, std::size_t w, float* d_out,
                    int* d_status, Stream s);

struct ProgressArgs {
  double lambda;
  std::size_t window, max_cluster;
  double threshold;
};
/// Progress targets (SPEC §1–3) of E episodes stored back to back in
/// features [ΣT,N,D]; episode e is frames [offsets[e], offsets[e+1]) (d_offsets
/// is device int64 [E+1], h_offsets the same values on the host). One block
/// per episode walks its clusters backwards (as SPEC §2). Outputs, frame
/// indexed: values, similarity [ΣT]; segment e's clusters in temporal order in
/// seg_start/seg_end [offsets[e] .. offsets[e]+seg_count[e]) (episode-local
/// frame indices); bad[e] = the first frame whose similarity is not finite, or −1.
void progress_targets(const float* d_features, const std::int64_t* d_offsets, std::size_t E, std::size_t N,
                      std::size_t D, const ProgressArgs& p, float* d_values, float* d_similarity,
                      std::int32_t* d_seg_start, std::int32_t* d_seg_end, std::int32_t* d_seg_count,
                      std::int64_t* d_bad, Stream s);

// ---------------------------------------------------------------- §6–8

struct DevFlags {
  const std::uint8_t* u8 = nullptr;
  const float* f32 = nullptr;
};

/// GAE (SPEC §6), one thread per environment walking back in time; [B,T] or
/// (time_major) [T,B], where the reads of a warp are coalesced.
void gae(const float* d_rewards, const float* d_values, const float* d_next_values, DevFlags terminated,
         DevFlags done, std::size_t B, std::size_t T, double gamma, double lambda, bool time_major,
         float* d_advantages, float* d_returns, int* d_status, Stream s);

/// GRPO advantages (SPEC §7); batch_scale divides by the std of all n rewards
/// (a first block reduces it on device).
void grpo_advantages(const float* d_R, std::size_t n, std::size_t group_size, double epsilon,
                     rl::StdKind kind, bool batch_scale, float* d_out, int* d_status, Stream s);

/// Step advantages (SPEC §7) [B,horizon]; lengths must lie in [1, horizon].
void step_advantages(const float* d_adv, const std::int32_t* d_lengths, std::size_t B, std::size_t horizon,
                     double gamma, float* d_out, int* d_status, Stream s);

/// Reduced loss written to device memory, the fields of rl::LossResult.
struct LossOut {
  double loss, clip_fraction, dual_clip_fraction, approx_kl, masked;
  int ok;
};
/// Clipped surrogate (SPEC §8). One block per row reduces in double, one more
/// block combines rows in order (deterministic).
void clipped_surrogate(const float* d_lp, const float* d_olp, const float* d_adv, DevFlags mask,
                       std::size_t B, std::size_t T, double clip_low, double clip_high, double dual_clip,
                       rl::Aggregation aggregation, LossOut* d_out, Stream s);
/// Value loss (½e² or Huber, optionally clipped around d_old when clip > 0).
void value_loss(const float* d_v, const float* d_R, const float* d_old, DevFlags mask, std::size_t B,
                std::size_t T, double clip, double huber_delta, rl::Aggregation aggregation, LossOut* d_out,
                Stream s);
/// KL penalty with estimator `est`.
void kl_penalty(const float* d_lp, const float* d_ref, DevFlags mask, std::size_t B, std::size_t T,
                rl::KlEstimator est, rl::Aggregation aggregation, LossOut* d_out, Stream s);

}  // namespace cuda
}  // namespace f2g
