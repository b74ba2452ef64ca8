#include "bindings/napi_util.h"

#include <cmath>
#include <exception>
#include <limits>

namespace f2g {

std::vector<std::pair<const char*, InitFn>>& registry() {
  static std::vector<std::pair<const char*, InitFn>> r;
  return r;
}
Registrar::Registrar(const char* area, InitFn fn) { registry().emplace_back(area, fn); }

void ThrowType(const std::string& msg) { throw ArgError{ArgError::kType, msg}; }
void ThrowRange(const std::string& msg) { throw ArgError{ArgError::kRange, msg}; }

void ThrowJs(Napi::Env env, const ArgError& e) {
  switch (e.kind) {
    case ArgError::kType: throw Napi::TypeError::New(env, e.message);
    case ArgError::kRange: throw Napi::RangeError::New(env, e.message);
    default: throw Napi::Error::New(env, e.message);
  }
}

std::string Describe(const Napi::Value& v) {
  if (v.IsUndefined()) return "undefined";
  if (v.IsNull()) return "null";
  if (v.IsBoolean()) return std::string("the boolean ") + (v.As<Napi::Boolean>().Value() ? "true" : "false");
  if (v.IsNumber()) {
    double d = v.As<Napi::Number>().DoubleValue();
    return "the number " + Napi::Number::New(v.Env(), d).ToString().Utf8Value();
  }
  if (v.IsString()) {
    std::string s = v.As<Napi::String>().Utf8Value();
    if (s.size() > 40) s = s.substr(0, 40) + "...";
    return "the string '" + s + "'";
  }
  if (v.IsTypedArray()) {
    auto ta = v.As<Napi::TypedArray>();
    static const char* names[] = {"Int8Array", "Uint8Array", "Uint8ClampedArray", "Int16Array",
                                  "Uint16Array", "Int32Array", "Uint32Array", "Float32Array",
                                  "Float64Array", "BigInt64Array", "BigUint64Array"};
    int t = static_cast<int>(ta.TypedArrayType());
    std::string name = t >= 0 && t < 11 ? names[t] : "TypedArray";
    return "a " + name + "(" + std::to_string(ta.ElementLength()) + ")";
  }
  if (v.IsArray()) return "an Array(" + std::to_string(v.As<Napi::Array>().Length()) + ")";
  if (v.IsFunction()) return "a function";
  if (v.IsObject()) return "an object";
  return "an unsupported value";
}

template <typename T>
static View<T> TypedArg(const Napi::Value& v, const char* name, napi_typedarray_type type,
                        const char* tname) {
  if (!v.IsTypedArray() || v.As<Napi::TypedArray>().TypedArrayType() != type)
    ThrowType(std::string("Expected a ") + tname + " for " + name + " but received " + Describe(v));
  auto ta = v.As<Napi::TypedArrayOf<T>>();
  return View<T>{ta.Data(), ta.ElementLength()};
}

View<float> Float32Arg(const Napi::Value& v, const char* name) {
  return TypedArg<float>(v, name, napi_float32_array, "Float32Array");
}
View<std::uint8_t> Uint8Arg(const Napi::Value& v, const char* name) {
  return TypedArg<std::uint8_t>(v, name, napi_uint8_array, "Uint8Array");
}
View<std::int32_t> Int32Arg(const Napi::Value& v, const char* name) {
  return TypedArg<std::int32_t>(v, name, napi_int32_array, "Int32Array");
}

double NumberArg(const Napi::Value& v, const char* name) {
  if (!v.IsNumber()) ThrowType(std::string("Expected a number for ") + name + " but received " + Describe(v));
  double d = v.As<Napi::Number>().DoubleValue();
  if (!std::isfinite(d)) ThrowRange(std::string("Expected a finite number for ") + name + " but received " + Describe(v));
  return d;
}

std::size_t SizeArg(const Napi::Value& v, const char* name, std::size_t min) {
  if (!v.IsNumber()) ThrowType(std::string("Expected an integer for ") + name + " but received " + Describe(v));
  double d = v.As<Napi::Number>().DoubleValue();
  if (!std::isfinite(d) || std::floor(d) != d)
    ThrowType(std::string("Expected an integer for ") + name + " but received " + Describe(v));
  if (d < static_cast<double>(min) || d > 9007199254740992.0)
    ThrowRange(std::string("Expected an integer ≥ ") + std::to_string(min) + " for " + name +
               " but received " + Describe(v));
  return static_cast<std::size_t>(d);
}

Napi::Value Opt(const Napi::Object& o, const char* key) { return o.Get(key); }

std::size_t CheckedProduct(std::initializer_list<std::size_t> dims, const char* what) {
  std::size_t p = 1;
  for (std::size_t d : dims) {
    if (d != 0 && p > std::numeric_limits<std::size_t>::max() / d)
      ThrowRange(std::string("The shape of ") + what + " is too large (its element count overflows)");
    p *= d;
  }
  return p;
}

void RequireLength(std::size_t have, std::size_t need, const char* name, const std::string& shape) {
  if (have < need)
    ThrowRange(std::string("Expected ") + name + " to hold at least " + std::to_string(need) +
               " elements for shape " + shape + " but received " + std::to_string(have));
}

PromiseWorker::PromiseWorker(Napi::Env env, std::function<void()> exec,
                             std::function<Napi::Value(Napi::Env)> done,
                             const std::vector<Napi::Value>& keep)
    : Napi::AsyncWorker(env, "feat2go"),
      exec_(std::move(exec)),
      done_(std::move(done)),
      deferred_(Napi::Promise::Deferred::New(env)) {
  keep_.reserve(keep.size());
  for (const auto& v : keep) keep_.push_back(Napi::Persistent(v));
}

Napi::Promise PromiseWorker::Queue() {
  Napi::Promise p = deferred_.Promise();
  Napi::AsyncWorker::Queue();
  return p;
}

void PromiseWorker::Execute() {
  try {
    exec_();
  } catch (const ArgError& e) {
    kind_ = e.kind;
    SetError(e.message);
  } catch (const std::exception& e) {
    SetError(e.what());
  } catch (...) {
    SetError("feat2go: unknown native error");
  }
}

void PromiseWorker::OnOK() {
  Napi::Env env = Env();
  try {
    deferred_.Resolve(done_(env));
  } catch (const Napi::Error& e) {
    deferred_.Reject(e.Value());
  } catch (const ArgError& e) {
    deferred_.Reject(Napi::Error::New(env, e.message).Value());
  }
}

void PromiseWorker::OnError(const Napi::Error& e) {
  Napi::Env env = Env();
  std::string msg = e.Message();
  switch (kind_) {
    case ArgError::kType: deferred_.Reject(Napi::TypeError::New(env, msg).Value()); break;
    case ArgError::kRange: deferred_.Reject(Napi::RangeError::New(env, msg).Value()); break;
    default: deferred_.Reject(e.Value());
  }
}

}  // namespace f2g
