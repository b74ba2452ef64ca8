// CUDA fields of capabilities(): cuda (usable), cudaReason ('no driver' |
// 'no device' | 'not built') when not, cudaDevices.
#pragma once
#include <napi.h>

namespace f2g {
void AddCudaCapabilities(Napi::Env env, Napi::Object caps);
}  // namespace f2g
