// N-API helpers shared by the libtorch bindings (header-only): tensors over
// or copied from typed arrays (in place for async calls when the memory can be
// pinned: AsyncTensor), outputs in host memory, named tensor lists to and from
// JS, finite and range checks.
#pragma once
#include <napi.h>

#include <cmath>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "bindings/napi_util.h"
#include "kernels/finite.h"
#include "torch/tcommon.h"

namespace f2g {

inline std::string ShapeString(const std::vector<int64_t>& s) {
  std::string out = "[";
  for (std::size_t i = 0; i < s.size(); ++i) out += (i ? "," : "") + std::to_string(s[i]);
  return out + "]";
}

/// A Float32Array argument holding at least prod(shape) values.
inline const float* TensorArg(const Napi::Value& v, const char* name, const std::vector<int64_t>& shape) {
  View<float> view = Float32Arg(v, name);
  std::size_t need = 1;
  for (int64_t d : shape) need *= static_cast<std::size_t>(d);
  RequireLength(view.length, need, name, ShapeString(shape));
  return view.data;
}

/// Throws RangeError naming the first NaN/Inf (or out-of-[lo,hi]) element.
inline void CheckValues(const float* p, std::size_t n, const char* name, double lo = -INFINITY,
                        double hi = INFINITY) {
  if (n == 0) return;
  // Fast path: one vectorised pass without allocation (native/kernels/finite.cc);
  // the scalar scan below only runs to name the first bad element.
  // A range with an infinite end also rejects NaN and ±Infinity (as the scan does).
  const bool ok = std::isinf(lo) && std::isinf(hi)
                      ? AllFinite(p, n)
                      : AllInRange(p, n, static_cast<float>(lo), static_cast<float>(hi)) &&
                            ((std::isfinite(lo) && std::isfinite(hi)) || AllFinite(p, n));
  if (ok) return;
  for (std::size_t i = 0; i < n; ++i) {
    const float x = p[i];
    if (!std::isfinite(x))
      ThrowRange(std::string("Expected finite values in ") + name + " but element " + std::to_string(i) +
                 " is " + Num(x));
    if (x < lo || x > hi)
      ThrowRange("Expected values in [" + Num(lo) + ", " + Num(hi) + "] for " + name + " but element " +
                 std::to_string(i) + " is " + Num(x));
  }
}

/// Allocating() for libtorch: its CPU allocator reports failure as a
/// c10::Error ("... tried to allocate N bytes"), which becomes an AllocError too.
template <typename F>
auto TorchAllocating(const std::string& what, double bytes, F&& f) -> decltype(f()) {
  try {
    return Allocating(what, bytes, std::forward<F>(f));
  } catch (const c10::Error& e) {
    if (std::string(e.what()).find("allocate") != std::string::npos) throw AllocError(what, bytes);
    throw;
  }
}

/// A tensor that owns a copy of `t`'s data (async calls: the caller's
/// buffers may be detached while the call runs). Names what failed to fit.
inline torch::Tensor OwnedCopy(const torch::Tensor& t, const std::string& name) {
  if (!t.defined()) return t;
  return TorchAllocating("a copy of " + name + " for the asynchronous call",
                         static_cast<double>(t.numel()) * sizeof(float), [&] { return t.clone(); });
}

/// What an async call reads of the Float32Array `source` (over which `t` was
/// made with Blob): `t` itself when the memory can be pinned (host memory or a
/// SharedArrayBuffer, see PinInPlace; the pin goes into `pins`, which the
/// call's exec holds), otherwise an owned copy.
inline torch::Tensor AsyncTensor(const torch::Tensor& t, const Napi::Value& source, const std::string& name,
                                 std::vector<std::shared_ptr<unsigned char>>& pins,
                                 std::vector<Napi::Value>& keep) {
  if (!t.defined()) return t;
  View<float> v = Float32Arg(source, name.c_str());
  if (auto pin = PinInPlace(t.data_ptr(), static_cast<std::size_t>(t.nbytes()), v.shared, v.env, v.source,
                            keep, true)) {
    pins.push_back(std::move(pin));
    return t;
  }
  return OwnedCopy(t, name);
}

/// A Float32Array (in host memory when large: see HostFloat32Array) holding `t`.
inline Napi::Float32Array ToJs(Napi::Env env, const torch::Tensor& t) {
  auto out = HostFloat32Array(env, static_cast<std::size_t>(t.numel()), "a tensor");
  CopyOut(t, out.Data());
  return out;
}

/// [[name, Float32Array (a copy), shape[]], ...]
/// Per-epoch mean losses as a JS array of numbers (what the fit methods resolve with).
inline Napi::Array LossesToJs(Napi::Env env, const std::vector<double>& l) {
  Napi::Array a = Napi::Array::New(env, l.size());
  for (std::size_t i = 0; i < l.size(); ++i) a.Set(static_cast<uint32_t>(i), l[i]);
  return a;
}

inline Napi::Array NamedToJs(Napi::Env env, const NamedTensors& named) {
  Napi::Array arr = Napi::Array::New(env, named.size());
  for (std::size_t i = 0; i < named.size(); ++i) {
    Napi::Array item = Napi::Array::New(env, 3);
    item.Set(0u, named[i].first);
    item.Set(1u, ToJs(env, named[i].second));
    Napi::Array shape = Napi::Array::New(env, named[i].second.dim());
    for (int64_t d = 0; d < named[i].second.dim(); ++d)
      shape.Set(static_cast<uint32_t>(d), static_cast<double>(named[i].second.size(d)));
    item.Set(1u + 1u, shape);
    arr.Set(static_cast<uint32_t>(i), item);
  }
  return arr;
}

/// Reads [[name, Float32Array, shape[]], ...] as tensors over the arrays' memory.
inline NamedTensors NamedFromJs(const Napi::Value& v, const char* name) {
  if (!v.IsArray())
    ThrowType(std::string("Expected an array of [name, Float32Array, shape] for ") + name + " but received " +
              Describe(v));
  Napi::Array arr = v.As<Napi::Array>();
  NamedTensors out;
  for (uint32_t i = 0; i < arr.Length(); ++i) {
    std::string item_name = std::string(name) + "[" + std::to_string(i) + "]";
    Napi::Value item = arr.Get(i);
    if (!item.IsArray() || item.As<Napi::Array>().Length() != 3 || !item.As<Napi::Array>().Get(0u).IsString())
      ThrowType("Expected [name, Float32Array, shape] for " + item_name + " but received " + Describe(item));
    Napi::Array a = item.As<Napi::Array>();
    std::string tname = a.Get(0u).As<Napi::String>().Utf8Value();
    Napi::Value sv = a.Get(2u);
    if (!sv.IsArray()) ThrowType("Expected a shape array for " + item_name + " but received " + Describe(sv));
    std::vector<int64_t> shape;
    Napi::Array sa = sv.As<Napi::Array>();
    for (uint32_t d = 0; d < sa.Length(); ++d)
      shape.push_back(static_cast<int64_t>(SizeArg(sa.Get(d), (item_name + ".shape").c_str())));
    const float* p = TensorArg(a.Get(1u), ("tensor '" + tname + "'").c_str(), shape);
    out.emplace_back(tname, Blob(p, shape));
  }
  return out;
}

}  // namespace f2g
