// What the other libtorch bindings need of PolicyNative (bindings/torch/policy.cc).
#pragma once
#include <napi.h>

#include <memory>

#include "torch/policy.h"

namespace f2g {

/// The policy of a PolicyNative argument (checked by its type tag, so safe
/// with worker_threads); a TypeError naming `name` for anything else.
std::shared_ptr<Policy> PolicyArg(const Napi::Value& v, const char* name);

}  // namespace f2g
