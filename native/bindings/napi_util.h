// Shared helpers for the thin N-API layer: argument checks with messages that
// name the argument, the expected and the received value; zero-copy typed
// array views; a Promise-returning AsyncWorker; self-registration of binding
// files (each file registers its exports, addon.cc stays untouched).
#pragma once
#include <napi.h>

#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>
#include <utility>
#include <vector>

namespace f2g {

// ---- registration ----
using InitFn = void (*)(Napi::Env, Napi::Object);
struct Registrar {
  Registrar(const char* area, InitFn fn);
};
std::vector<std::pair<const char*, InitFn>>& registry();
#define F2G_REGISTER(area, fn) static ::f2g::Registrar f2g_registrar_##area(#area, fn)

// ---- errors ----
/// Thrown by validation and kernels off the main thread; turned into a JS
/// TypeError / RangeError / Error when it reaches JavaScript.
struct ArgError {
  enum Kind { kType, kRange, kPlain } kind;
  std::string message;
};
[[noreturn]] void ThrowType(const std::string& msg);
[[noreturn]] void ThrowRange(const std::string& msg);
/// Rethrows an ArgError on the JS thread as the matching JS error.
[[noreturn]] void ThrowJs(Napi::Env env, const ArgError& e);
/// Short description of a received JS value for messages: "a string 'x'",
/// "a Float64Array(3)", "undefined", "the number 2.5" ...
std::string Describe(const Napi::Value& v);

/// Wraps a binding's body: an ArgError thrown inside becomes the matching JS
/// error. Expects a `const Napi::CallbackInfo& info` in scope.
#define F2G_GUARD(...)             \
  try {                            \
    __VA_ARGS__                    \
  } catch (const ::f2g::ArgError& err) { \
    ::f2g::ThrowJs(info.Env(), err);     \
  }

// ---- typed arrays (zero-copy; Data() already includes byteOffset) ----
template <typename T>
struct View {
  T* data = nullptr;
  std::size_t length = 0;
};
View<float> Float32Arg(const Napi::Value& v, const char* name);
View<std::uint8_t> Uint8Arg(const Napi::Value& v, const char* name);
View<std::int32_t> Int32Arg(const Napi::Value& v, const char* name);
/// A non-negative integer (a size or index) ≤ 2^53.
std::size_t SizeArg(const Napi::Value& v, const char* name, std::size_t min = 0);
double NumberArg(const Napi::Value& v, const char* name);
/// Optional property of an options object: `fallback` when absent/undefined.
Napi::Value Opt(const Napi::Object& o, const char* key);
/// a*b*c... with overflow checks; throws RangeError naming `what`.
std::size_t CheckedProduct(std::initializer_list<std::size_t> dims, const char* what);
/// Throws RangeError unless view.length ≥ need.
void RequireLength(std::size_t have, std::size_t need, const char* name, const std::string& shape);

// ---- async ----
/// An AsyncWorker resolving a Promise. `exec` runs on a libuv thread and may
/// throw ArgError or std::exception; `done` builds the result on the JS
/// thread. Every value in `keep` is referenced until the worker ends, so
/// typed arrays read off-thread stay alive.
class PromiseWorker : public Napi::AsyncWorker {
 public:
  PromiseWorker(Napi::Env env, std::function<void()> exec,
                std::function<Napi::Value(Napi::Env)> done, const std::vector<Napi::Value>& keep);
  Napi::Promise Queue();  // queues and returns the promise

 protected:
  void Execute() override;
  void OnOK() override;
  void OnError(const Napi::Error& e) override;

 private:
  std::function<void()> exec_;
  std::function<Napi::Value(Napi::Env)> done_;
  std::vector<Napi::Reference<Napi::Value>> keep_;
  Napi::Promise::Deferred deferred_;
  ArgError::Kind kind_ = ArgError::kPlain;
};

}  // namespace f2g
