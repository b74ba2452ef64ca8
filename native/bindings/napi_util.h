// The common N-API glue of every binding file, core and libtorch alike (built
// once as the static library feat2go_napi, which each addon links): the one
// error guard, argument checks with messages that name the argument, the
// expected and the received value; zero-copy typed array views and owned
// copies; the one Promise worker (with optional progress); per-environment
// state released by a cleanup hook; self-registration of binding files (each
// file registers its exports and its capabilities() fields; the addon entry
// stays untouched).
//
// What bindings check: memory safety only. Sizes against array lengths,
// dtypes, overlap of outputs with inputs, detachment, and the sizes a kernel
// needs to stay inside its arrays. Option values and their defaults are owned
// by the TypeScript core, which resolves them once and sends each one.
//
// The one calling convention of exported functions:
//   name(input, opts, out?)
//   input  an object of the arrays read (typed arrays, or DeviceBuffers for the
//          CUDA twins), with the sizes that belong to one array alone
//   opts   an object of the shared sizes (B, T, N, D, …) and the resolved options
//   out    an object of the arrays written, where the caller provides them
// Class constructors take (input, opts) and methods (input, opts, out?), or
// no arguments at all; an empty input or opts is `{}`.
// Names: functions and values are <area><Name> (progressTargets, rlGae,
// encoderPatchStats, pickPlaceConstants, dist…, system…), the CUDA twin of a
// function adds Cuda (rlGaeCuda), classes are <Name>Native.
#pragma once
#include <napi.h>

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <functional>
#include <memory>
#include <new>
#include <string>
#include <utility>
#include <vector>

#include "bindings/host_api.h"
#include "kernels/cancel.h"

namespace f2g {

// ---- registration ----
/// A binding file's exports (`exports`), or its fields of capabilities() (`caps`).
using InitFn = void (*)(Napi::Env, Napi::Object);
struct Registrar {
  Registrar(const char* area, InitFn fn);
};
struct CapabilitiesRegistrar {
  CapabilitiesRegistrar(const char* area, InitFn fn);
};
std::vector<std::pair<const char*, InitFn>>& registry();
std::vector<std::pair<const char*, InitFn>>& capabilities_registry();
/// Registers `fn(env, exports)`, run by the module init of the addon the file is linked into.
#define F2G_REGISTER(area, fn) static ::f2g::Registrar f2g_registrar_##area(#area, fn)
/// Registers `fn(env, caps)`, which sets this area's fields of capabilities().
#define F2G_CAPABILITIES(area, fn) static ::f2g::CapabilitiesRegistrar f2g_caps_##area(#area, fn)

// ---- errors ----
/// Thrown by validation and kernels off the main thread; turned into a JS
/// TypeError / RangeError / Error when it reaches JavaScript.
struct ArgError {
  /// kAbort: a cancelled call (kernels/cancel.h), an Error named AbortError.
  enum Kind { kType, kRange, kPlain, kAbort } kind;
  std::string message;
};
[[noreturn]] void ThrowType(const std::string& msg);
[[noreturn]] void ThrowRange(const std::string& msg);
/// Short description of a received JS value for messages: "a string 'x'",
/// "a Float64Array(3)", "undefined", "the number 2.5" ...
std::string Describe(const Napi::Value& v);

/// A failed allocation with what was being allocated and how big. Reaches
/// JavaScript as a RangeError (the size came from the arguments).
class AllocError : public std::bad_alloc {
 public:
  AllocError(const std::string& what, double bytes);
  const char* what() const noexcept override { return message_.c_str(); }

 private:
  std::string message_;
};
/// "512 bytes", "1.50 GiB" ...
std::string ByteString(double bytes);
/// Runs f(); a std::bad_alloc thrown inside becomes an AllocError naming
/// `what` and `bytes`.
template <typename F>
auto Allocating(const std::string& what, double bytes, F&& f) -> decltype(f()) {
  try {
    return f();
  } catch (const AllocError&) {
    throw;
  } catch (const std::bad_alloc&) {
    throw AllocError(what, bytes);
  }
}

/// An exception classified once, on any thread: the JS error kind and its
/// message. Covers ArgError, std::invalid_argument (RangeError), AllocError
/// (RangeError), std::bad_alloc, any std::exception and `...`.
struct Failure {
  ArgError::Kind kind = ArgError::kPlain;
  std::string message;
};
/// Classifies the exception in flight (call inside a catch block). `where`
/// names the binding for errors that carry no argument name.
Failure Classify(std::exception_ptr e, const char* where);
/// The JS error object for a failure.
Napi::Error ToJsError(Napi::Env env, const Failure& f);

/// The one guard: runs `body` on the JS thread; any C++ exception becomes the
/// matching JS error (a Napi::Error passes through). Every binding, method,
/// constructor and the module init run inside it.
template <typename F>
auto Guard(Napi::Env env, const char* where, F&& body) -> decltype(body()) {
  try {
    return body();
  } catch (const Napi::Error&) {
    throw;
  } catch (...) {
    throw ToJsError(env, Classify(std::current_exception(), where));
  }
}

/// A free binding `fn` exported under `name`, run inside Guard.
using BindingFn = Napi::Value (*)(const Napi::CallbackInfo&);
template <BindingFn F>
Napi::Value Guarded(const Napi::CallbackInfo& info) {
  return Guard(info.Env(), static_cast<const char*>(info.Data()), [&] { return F(info); });
}
template <BindingFn F>
void Export(Napi::Env env, Napi::Object exports, const char* name) {
  exports.Set(name, Napi::Function::New(env, Guarded<F>, name, const_cast<char*>(name)));
}

/// Base of the wrapped classes: GuardedMethod<&T::M>(name) declares an
/// instance method that runs inside Guard, GuardedStatic<F>(name) a static one.
template <typename T>
class GuardedWrap : public Napi::ObjectWrap<T> {
 public:
  using Napi::ObjectWrap<T>::ObjectWrap;
  using Method = Napi::Value (T::*)(const Napi::CallbackInfo&);

  template <Method M>
  static Napi::ClassPropertyDescriptor<T> GuardedMethod(const char* name) {
    return Napi::ObjectWrap<T>::InstanceMethod(name, &GuardedWrap::template Call<M>, napi_default,
                                               const_cast<char*>(name));
  }
  /// A static method `F` (info.This() is the class), run inside Guard.
  template <BindingFn F>
  static Napi::ClassPropertyDescriptor<T> GuardedStatic(const char* name) {
    return Napi::ObjectWrap<T>::StaticMethod(name, &Guarded<F>, napi_default, const_cast<char*>(name));
  }

 private:
  template <Method M>
  Napi::Value Call(const Napi::CallbackInfo& info) {
    return Guard(info.Env(), static_cast<const char*>(info.Data()),
                 [&] { return (static_cast<T*>(this)->*M)(info); });
  }
};

// ---- per-environment state ----
/// State of one JS environment (main thread or a worker_thread). The env holds
/// one reference, dropped by a cleanup hook when the env shuts down (which
/// also sets `closing`); async workers hold their own, so completing after
/// the env is gone never touches freed memory.
struct EnvState {
  std::atomic<bool> closing{false};
  /// Host memory handed out as external ArrayBuffers in this event-loop turn,
  /// and whether a marker that resets it on the next turn is queued (JS thread only).
  std::size_t turn_bytes = 0;
  bool turn_marked = false;
  napi_threadsafe_function turn_marker = nullptr;
};
/// Creates the state and registers its cleanup hook (module init, once per env).
void InitEnvState(Napi::Env env);
/// The env's state (null before InitEnvState or after the cleanup hook ran).
std::shared_ptr<EnvState> GetEnvState(Napi::Env env);

// ---- typed arrays (zero-copy; Data() already includes byteOffset) ----
template <typename T>
struct View {
  T* data = nullptr;
  std::size_t length = 0;
  /// The typed array's buffer is a SharedArrayBuffer, which JavaScript cannot
  /// detach: an async call may read it in place (see AsyncInput).
  bool shared = false;
  napi_env env = nullptr;
  napi_value source = nullptr;  // the typed array (valid during the binding call)
};
View<float> Float32Arg(const Napi::Value& v, const char* name);
View<std::uint8_t> Uint8Arg(const Napi::Value& v, const char* name);
View<std::int32_t> Int32Arg(const Napi::Value& v, const char* name);
/// A non-negative integer (a size or index) ≤ 2^53, at least `min` (the
/// smallest size the kernel is defined for).
std::size_t SizeArg(const Napi::Value& v, const char* name, std::size_t min = 0);
/// A JS number (its range is the TypeScript core's to check).
double NumberArg(const Napi::Value& v, const char* name);
bool BoolArg(const Napi::Value& v, const char* name);
std::string StringArg(const Napi::Value& v, const char* name);
/// One value of an enum whose values are 0, 1, … in the order of `names` (the
/// names kernels/rl_modes.h gives them): the string `v` must be one of them.
/// A RangeError otherwise, so an unknown name is never cast to an enum.
template <typename E, std::size_t N>
E EnumArg(const Napi::Value& v, const char* name, const char* const (&names)[N]) {
  if (v.IsString()) {
    const std::string s = v.As<Napi::String>().Utf8Value();
    for (std::size_t i = 0; i < N; ++i)
      if (s == names[i]) return static_cast<E>(i);
  }
  std::string expected;
  for (std::size_t i = 0; i < N; ++i)
    expected += (i == 0 ? "'" : i + 1 == N ? " or '" : ", '") + std::string(names[i]) + "'";
  ThrowRange("Expected " + expected + " for " + name + " but received " + Describe(v));
}
/// a*b*c... with overflow checks; throws RangeError naming `what`.
std::size_t CheckedProduct(std::initializer_list<std::size_t> dims, const char* what);
/// Throws RangeError unless view.length ≥ need.
void RequireLength(std::size_t have, std::size_t need, const char* name, const std::string& shape);

/// An options object as bindings receive it: TypeScript resolves every option
/// and always sends it, so each key is required here (a safety net, not a
/// second source of defaults). Messages name `prefix.key`.
class Fields {
 public:
  Fields(const Napi::Value& v, const char* name);
  /// The value of a key that must be present (TypeError when undefined).
  Napi::Value Need(const char* key) const;
  /// The value of a key that may be undefined or null.
  Napi::Value Maybe(const char* key) const;
  std::string Name(const char* key) const { return prefix_ + "." + key; }
  double Number(const char* key) const;
  std::size_t Size(const char* key, std::size_t min = 0) const;
  bool Bool(const char* key) const;
  std::string String(const char* key) const;
  template <typename E, std::size_t N>
  E Enum(const char* key, const char* const (&names)[N]) const {
    return EnumArg<E>(Need(key), Name(key).c_str(), names);
  }

 private:
  Napi::Object obj_;
  std::string prefix_;
};

/// Byte range of typed-array memory, for overlap checks.
struct Span {
  const void* data;
  std::size_t bytes;
  const char* name;
};
/// Throws RangeError naming both when `out` partially overlaps an input
/// (sharing some bytes without being the very same range). Exact aliasing
/// is allowed for element-wise kernels; pass allow_exact = false where even
/// that would be wrong.
void RejectOverlap(const Span& out, std::initializer_list<Span> inputs, bool allow_exact = true);

/// Copies `bytes` from src to dst in 1 MiB pieces spread over the pool (the
/// calling JS thread takes a share): large copies are bound by page faults
/// and memory bandwidth, both of which scale with threads.
void ParallelCopy(const void* src, void* dst, std::size_t bytes);

/// Blocks for the input copies of async calls, kept for reuse after a call
/// ends (up to FEAT2GO_COPY_CACHE_MB MiB in all, default 512, read once): a
/// fresh large block costs a page fault per 4 KiB on first touch, often more
/// than the copy itself, and the same shapes tend to come back.
class CopyCache {
 public:
  /// A block of at least `bytes` (a cached one of at most twice that, or a new one).
  static std::shared_ptr<unsigned char> Acquire(std::size_t bytes, const std::string& what);
};

// ---- host memory: addon-owned, reference-counted blocks ----
/// A block of host memory the addon allocated (from the CopyCache's blocks),
/// handed to JavaScript as an external ArrayBuffer. The ArrayBuffer's
/// finaliser drops one reference and every pending call that reads or writes
/// the block holds another, so a detach (ArrayBuffer.prototype.transfer,
/// the environment's teardown) or a garbage collection while a call runs
/// cannot free memory the call uses. Blocks are found again from any pointer
/// into them (FindHostBlock), so a subarray or a transferred clone of the
/// ArrayBuffer is recognised too.
class HostBlock {
 public:
  HostBlock(unsigned char* data, std::size_t bytes, std::size_t capacity);
  ~HostBlock();  // unregisters; the memory goes back to the block cache
  HostBlock(const HostBlock&) = delete;
  HostBlock& operator=(const HostBlock&) = delete;
  unsigned char* data() const { return data_; }
  std::size_t bytes() const { return bytes_; }
  /// Pending async calls reading the block (see AsyncInput).
  std::atomic<int> readers{0};

 private:
  unsigned char* data_;
  std::size_t bytes_, capacity_;
};
/// A new registered host block of `bytes` (uninitialised), from the block cache.
std::shared_ptr<HostBlock> NewHostBlock(std::size_t bytes, const std::string& what);
/// The live host block that holds all of [p, p + bytes), or null.
std::shared_ptr<HostBlock> FindHostBlock(const void* p, std::size_t bytes);
/// Live host blocks and their bytes; bytes of idle blocks kept for reuse.
struct HostStatsValue {
  std::size_t blocks = 0, bytes = 0, cached_bytes = 0;
};
HostStatsValue GetHostStats();
/// Blocks the calling thread until no pending call reads `b` (for a writer of
/// addon-owned memory that JavaScript passed to async calls: the simulator).
void WaitForReaders(const HostBlock& b);

/// Host memory is given to JavaScript as external ArrayBuffers from this size
/// on; smaller arrays are plain ArrayBuffers (cheaper to make; async calls
/// copy them, which costs nothing at that size).
constexpr std::size_t kHostMinBytes = std::size_t{64} << 10;
/// Whether external ArrayBuffers can be made here: false where the runtime
/// refuses them (a V8 sandbox, as in Electron) or FEAT2GO_HOST_EXTERNAL=0.
bool HostExternalAllowed(Napi::Env env);
/// An ArrayBuffer of `bytes` for JavaScript: over a new host block (external,
/// `*block` set) when bytes ≥ kHostMinBytes, external buffers are allowed and
/// (unless `always`) the event-loop turn's budget allows; otherwise a plain
/// ArrayBuffer (`*block` null). The budget: Node runs the finalisers of
/// external buffers only when the event loop turns, so a synchronous loop
/// that makes and drops host arrays would hold all of them until it yields;
/// after FEAT2GO_HOST_TURN_MB MiB (default 1024) of host memory in one turn,
/// library outputs fall back to plain ArrayBuffers until the loop turns
/// (each addon counts its own). The block comes from HostApi(): in the
/// libtorch addon it is the core addon's (`*block` stays null there), and
/// without a HostApi() the buffer is always plain.
Napi::ArrayBuffer NewHostArrayBuffer(Napi::Env env, std::size_t bytes, const std::string& what,
                                     std::shared_ptr<HostBlock>* block = nullptr, bool always = false);
/// A Float32Array of n elements over NewHostArrayBuffer.
Napi::Float32Array HostFloat32Array(Napi::Env env, std::size_t n, const std::string& what);

/// The host memory this addon's calls pin (PinInPlace) and hand out
/// (NewHostArrayBuffer): its own registry in the core addon (ServeHostMemory,
/// at its init), the core addon's through its table in the libtorch addon
/// (UseHostApi, from torchInit), or none (null: async inputs other than
/// SharedArrayBuffers are copied, outputs are plain ArrayBuffers).
const f2g_host_api* HostApi();
/// The table over this addon's own registry (what the core addon exports).
const f2g_host_api* LocalHostApi();
/// Makes this addon the owner of its host memory (the core addon's init).
void ServeHostMemory();
/// Uses another addon's host memory through `api` (bindings/host_api.h):
/// "" when accepted, otherwise why not (null, another version, incomplete, or
/// another table already in use). Never replaces a table once set.
std::string UseHostApi(const f2g_host_api* api);

/// Memory an async call owns (uninitialised until written).
template <typename T>
struct Owned {
  std::shared_ptr<unsigned char> block;
  std::size_t n = 0;
  T* data() const { return reinterpret_cast<T*>(block.get()); }
};

/// An owned copy of typed-array memory: async calls read these, never the
/// caller's buffers, so detaching (transferring) an input while the call
/// runs cannot free memory the worker reads.
template <typename T>
std::shared_ptr<Owned<T>> OwnedCopy(const View<T>& v, std::size_t n, const char* name) {
  auto o = std::make_shared<Owned<T>>();
  o->block =
      CopyCache::Acquire(n * sizeof(T), std::string("a copy of ") + name + " for the asynchronous call");
  o->n = n;
  ParallelCopy(v.data, o->data(), n * sizeof(T));
  return o;
}

/// The first n elements of `v`'s memory, held for an async call without a
/// copy when that is safe, or null: host memory (a HostBlock, kept alive by
/// the returned pointer; `reader` counts the call among the block's readers
/// until the pointer is dropped), or memory over a SharedArrayBuffer (which
/// cannot be detached and lives as long as its typed array: the typed array
/// is added to `keep`, the worker's references). Another thread writing to
/// the memory while the call runs gives unspecified values, never a stray read.
std::shared_ptr<unsigned char> PinInPlace(const void* data, std::size_t bytes, bool shared, napi_env env,
                                          napi_value source, std::vector<Napi::Value>& keep, bool reader);

/// What an async call reads: `v`'s memory in place when PinInPlace can hold
/// it (host memory, a SharedArrayBuffer), otherwise an OwnedCopy taken now.
/// Either way the caller may detach, transfer or drop its array while the
/// call runs.
template <typename T>
std::shared_ptr<Owned<T>> AsyncInput(const View<T>& v, std::size_t n, const char* name,
                                     std::vector<Napi::Value>& keep) {
  auto pin = PinInPlace(v.data, n * sizeof(T), v.shared, v.env, v.source, keep, true);
  if (!pin) return OwnedCopy(v, n, name);
  auto o = std::make_shared<Owned<T>>();
  o->block = std::move(pin);
  o->n = n;
  return o;
}

/// Where an async call writes its float32 result: `out` itself when it is
/// host memory (held by `pin` while the call runs), otherwise a buffer the
/// call owns, copied into `out` on the JS thread when the work is done.
struct AsyncResult {
  std::shared_ptr<unsigned char> pin;
  std::shared_ptr<std::vector<float>> owned;
  float* data() const { return pin ? reinterpret_cast<float*>(pin.get()) : owned->data(); }
};
/// The result of an async call writing the first n floats of `out` (`name`
/// names the call in an allocation failure).
AsyncResult AsyncOutput(const View<float>& out, std::size_t n, const char* name);
/// Copies an owned result into `out` unless `out` was detached meanwhile
/// (nothing to do when the call wrote in place).
Napi::Value CopyBack(Napi::Env env, const Napi::Reference<Napi::Value>& out_ref, const AsyncResult& r);

// ---- cancellation ----
/// The stop flag of one async call (kernels/cancel.h), set when the call's
/// cancel flag is (an Int32Array over a SharedArrayBuffer that TypeScript
/// sets from an AbortSignal), by CancelCalls (the process exiting:
/// TypeScript calls systemCancelCalls from process 'exit'), and when the
/// call's environment shuts down (a worker_thread terminated; see
/// PromiseWorker::SetStop).
struct CallStop {
  StopFlag flag{false};
  /// The caller's flag (element 0 ≠ 0: cancel), watched by the watchdog thread; may be null.
  const std::atomic<std::int32_t>* user = nullptr;
};
/// The stop of a call whose cancel flag is `v`: an Int32Array over a
/// SharedArrayBuffer (added to `keep`, read while the call runs), or
/// undefined/null for none (TypeError otherwise).
std::shared_ptr<CallStop> CallStopArg(const Napi::Value& v, const char* name, std::vector<Napi::Value>& keep);
/// Sets the stop flag of every running cancellable call of `env` (null: of every environment).
void CancelCalls(napi_env env);

// ---- async ----
/// The one Promise-returning worker, for kernels and libtorch alike. `exec`
/// runs on a libuv thread and may throw anything (classified by Classify);
/// its captures are destroyed on that thread when it returns (so they must
/// hold no N-API references: those belong in `done`);
/// it may post progress values with the Report it receives, delivered on the
/// JS thread to `on_progress` (a function, or undefined for none) before the
/// promise settles. `done` builds the result on the JS thread. Every value in
/// `keep` is referenced until the worker ends. Settling is skipped quietly
/// when the environment is shutting down (a terminated worker_thread).
class PromiseWorker : public Napi::AsyncProgressQueueWorker<double> {
 public:
  using Report = std::function<void(const double*, std::size_t)>;
  using Exec = std::function<void(const Report&)>;
  using Done = std::function<Napi::Value(Napi::Env)>;
  PromiseWorker(Napi::Env env, const char* name, Exec exec, Done done, Napi::Value on_progress,
                const std::vector<Napi::Value>& keep);
  PromiseWorker(Napi::Env env, const char* name, std::function<void()> exec, Done done,
                const std::vector<Napi::Value>& keep);
  Napi::Promise Queue();  // queues and returns the promise
  /// Makes the call cancellable through `stop`: while it runs it is listed
  /// for CancelCalls, and a watchdog thread, every 100 ms, copies the
  /// caller's flag into `stop->flag` and pings the call's environment; a ping
  /// that finds the environment unable to run JavaScript (a worker_thread
  /// being terminated, which waits for running calls before its cleanup
  /// hooks run) sets the flag of every call of that environment.
  void SetStop(std::shared_ptr<CallStop> stop) { stop_ = std::move(stop); }

 protected:
  void Execute(const ExecutionProgress& progress) override;
  void OnProgress(const double* data, std::size_t count) override;
  void OnOK() override;
  void OnError(const Napi::Error& e) override;

 private:
  bool Closing() const;
  void Reject(Napi::Value err);

  const char* name_;
  Exec exec_;
  Done done_;
  Napi::FunctionReference progress_;
  Napi::Reference<Napi::Value> callback_error_;
  std::vector<Napi::Reference<Napi::Value>> keep_;
  Napi::Promise::Deferred deferred_;
  std::shared_ptr<EnvState> state_;
  std::shared_ptr<CallStop> stop_;
  std::atomic<bool> ping_pending_{false};
  Failure failure_;
  bool failed_ = false;
  bool callback_failed_ = false;
};

}  // namespace f2g
