// The host-memory ABI between feat2go's two addons. Host memory (addon-owned,
// reference-counted blocks handed to JavaScript as external ArrayBuffers:
// bindings/napi_util.h HostBlock) has ONE owner, the core addon
// (feat2go.node). The libtorch addon (feat2go_torch.node) links its own copy
// of the glue, so it cannot see the core's registry through C++ symbols (each
// .node file exports only its module entry, and the core links libstdc++
// statically, the libtorch addon the system's). It reaches the core's blocks
// through this table of plain C functions instead: the core addon exports it
// as a type-tagged napi_external (exports.systemHostApi), and the TypeScript
// loader hands it to the libtorch addon once, when that loads
// (torchInit({ hostApi }, {})). A libtorch addon that has no table, or one of
// another version, pins nothing and copies its async inputs (safe, slower).
//
// Only C types cross the boundary: no exception, no std::shared_ptr, no
// allocation freed on the other side. Every function is thread-safe and never
// throws; a handle is released exactly once, by `release`, on any thread.
#pragma once
#include <cstddef>
#include <cstdint>

extern "C" {

/// The version of the table below; a reader refuses another version.
#define F2G_HOST_API_VERSION 1u

struct f2g_host_api {
  /// F2G_HOST_API_VERSION of the provider.
  std::uint32_t version;
  /// sizeof(f2g_host_api) of the provider (a reader needs at least its own).
  std::uint32_t size;
  /// Holds the live host block that contains all of [data, data + bytes):
  /// returns a handle that keeps the block alive (and, when `reader` ≠ 0,
  /// counts a pending reader of it) until release(handle); null when that
  /// memory is not host memory of the provider.
  void* (*pin)(const void* data, std::size_t bytes, int reader);
  /// Drops what `handle` holds (from pin or alloc); the block is freed with
  /// its last holder.
  void (*release)(void* handle);
  /// A new host block of `bytes` (≥ 1, uninitialised): a handle that holds it
  /// (release it when its ArrayBuffer is finalised) and its memory in
  /// *data; null (and *data null) when it cannot be allocated.
  void* (*alloc)(std::size_t bytes, void** data);
};

}  // extern "C"

namespace f2g {
/// The 128-bit type tag of the napi_external that carries the core addon's table.
constexpr std::uint64_t kHostApiTag[2] = {0x66326768'6f737461ull, 0x70692d76'31000001ull};
}  // namespace f2g
