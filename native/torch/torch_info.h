// libtorch process settings (only compiled with libtorch). No N-API.
#pragma once
namespace f2g {
/// Sets libtorch's intra-op thread count once (libtorch may start with one).
void EnsureTorchThreads();
}  // namespace f2g
