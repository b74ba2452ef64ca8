#include "bindings/napi_util.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <iterator>
#include <limits>
#include <map>
#include <mutex>
#include <stdexcept>

#include "kernels/pool.h"

namespace f2g {

std::vector<std::pair<const char*, InitFn>>& registry() {
  static std::vector<std::pair<const char*, InitFn>> r;
  return r;
}
std::vector<std::pair<const char*, InitFn>>& capabilities_registry() {
  static std::vector<std::pair<const char*, InitFn>> r;
  return r;
}
Registrar::Registrar(const char* area, InitFn fn) { registry().emplace_back(area, fn); }
CapabilitiesRegistrar::CapabilitiesRegistrar(const char* area, InitFn fn) {
  capabilities_registry().emplace_back(area, fn);
}

void ThrowType(const std::string& msg) { throw ArgError{ArgError::kType, msg}; }
void ThrowRange(const std::string& msg) { throw ArgError{ArgError::kRange, msg}; }

// ---- errors ----

std::string ByteString(double bytes) {
  static const char* units[] = {"bytes", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"};
  if (!(bytes >= 1024)) return std::to_string(static_cast<long long>(bytes)) + " bytes";
  int u = 0;
  while (bytes >= 1024 && u < 6) bytes /= 1024, ++u;
  char buf[48];
  std::snprintf(buf, sizeof buf, "%.2f %s", bytes, units[u]);
  return buf;
}

AllocError::AllocError(const std::string& what, double bytes)
    : message_("Cannot allocate " + ByteString(bytes) + " for " + what + " (out of memory)") {}

Failure Classify(std::exception_ptr e, const char* where) {
  const std::string in = where && *where ? std::string(" in ") + where : std::string();
  try {
    std::rethrow_exception(e);
  } catch (const ArgError& x) {
    return {x.kind, x.message};
  } catch (const AllocError& x) {
    return {ArgError::kRange, x.what()};
  } catch (const std::bad_alloc&) {
    return {ArgError::kPlain, "Out of memory (std::bad_alloc)" + in};
  } catch (const std::invalid_argument& x) {
    return {ArgError::kRange, x.what()};
  } catch (const std::exception& x) {
    return {ArgError::kPlain, x.what()};
  } catch (...) {
    return {ArgError::kPlain, "Unknown native error" + in};
  }
}

Napi::Error ToJsError(Napi::Env env, const Failure& f) {
  switch (f.kind) {
    case ArgError::kType:
      return Napi::TypeError::New(env, f.message);
    case ArgError::kRange:
      return Napi::RangeError::New(env, f.message);
    default:
      return Napi::Error::New(env, f.message);
  }
}

// ---- per-environment state ----

namespace {
std::mutex& env_mu() {
  static std::mutex m;
  return m;
}
std::map<napi_env, std::shared_ptr<EnvState>>& env_states() {
  static auto* m = new std::map<napi_env, std::shared_ptr<EnvState>>();  // outlives static destruction
  return *m;
}
void ReleaseEnvState(napi_env env) {
  std::shared_ptr<EnvState> s;
  {
    std::lock_guard<std::mutex> lk(env_mu());
    auto it = env_states().find(env);
    if (it == env_states().end()) return;
    s = std::move(it->second);
    env_states().erase(it);
  }
  s->closing.store(true);
}
}  // namespace

void InitEnvState(Napi::Env env) {
  {
    std::lock_guard<std::mutex> lk(env_mu());
    auto& slot = env_states()[env];
    if (slot) return;
    slot = std::make_shared<EnvState>();
  }
  napi_env raw = env;
  env.AddCleanupHook([raw] { ReleaseEnvState(raw); });
}

std::shared_ptr<EnvState> GetEnvState(Napi::Env env) {
  std::lock_guard<std::mutex> lk(env_mu());
  auto it = env_states().find(env);
  return it == env_states().end() ? nullptr : it->second;
}

// ---- values ----

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
    static const char* names[] = {"Int8Array",    "Uint8Array",    "Uint8ClampedArray", "Int16Array",
                                  "Uint16Array",  "Int32Array",    "Uint32Array",       "Float32Array",
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
  View<T> r{ta.Data(), ta.ElementLength()};
  // napi_is_arraybuffer is false for a SharedArrayBuffer.
  r.shared = !ta.ArrayBuffer().IsArrayBuffer();
  r.env = v.Env();
  r.source = v;
  return r;
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
  return v.As<Napi::Number>().DoubleValue();
}

bool BoolArg(const Napi::Value& v, const char* name) {
  if (!v.IsBoolean())
    ThrowType(std::string("Expected a boolean for ") + name + " but received " + Describe(v));
  return v.As<Napi::Boolean>().Value();
}

std::string StringArg(const Napi::Value& v, const char* name) {
  if (!v.IsString()) ThrowType(std::string("Expected a string for ") + name + " but received " + Describe(v));
  return v.As<Napi::String>().Utf8Value();
}

std::size_t SizeArg(const Napi::Value& v, const char* name, std::size_t min) {
  if (!v.IsNumber())
    ThrowType(std::string("Expected an integer for ") + name + " but received " + Describe(v));
  double d = v.As<Napi::Number>().DoubleValue();
  if (!std::isfinite(d) || std::floor(d) != d)
    ThrowType(std::string("Expected an integer for ") + name + " but received " + Describe(v));
  if (d < static_cast<double>(min) || d > 9007199254740992.0)
    ThrowRange(std::string("Expected an integer in [") + std::to_string(min) + ", 2^53] for " + name +
               " but received " + Describe(v));
  return static_cast<std::size_t>(d);
}

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

// ---- options objects ----

Fields::Fields(const Napi::Value& v, const char* name) : prefix_(name) {
  if (!v.IsObject() || v.IsArray() || v.IsFunction())
    ThrowType(std::string("Expected an options object for ") + name + " but received " + Describe(v));
  obj_ = v.As<Napi::Object>();
}

Napi::Value Fields::Need(const char* key) const {
  Napi::Value x = obj_.Get(key);
  if (x.IsUndefined()) ThrowType("Expected a value for " + Name(key) + " but received undefined");
  return x;
}
Napi::Value Fields::Maybe(const char* key) const { return obj_.Get(key); }
double Fields::Number(const char* key) const { return NumberArg(Need(key), Name(key).c_str()); }
std::size_t Fields::Size(const char* key, std::size_t min) const {
  return SizeArg(Need(key), Name(key).c_str(), min);
}
bool Fields::Bool(const char* key) const { return BoolArg(Need(key), Name(key).c_str()); }
std::string Fields::String(const char* key) const { return StringArg(Need(key), Name(key).c_str()); }

// ---- overlap ----

void RejectOverlap(const Span& out, std::initializer_list<Span> inputs, bool allow_exact) {
  if (!out.data || out.bytes == 0) return;
  const auto o0 = reinterpret_cast<std::uintptr_t>(out.data), o1 = o0 + out.bytes;
  for (const Span& in : inputs) {
    if (!in.data || in.bytes == 0) continue;
    const auto i0 = reinterpret_cast<std::uintptr_t>(in.data), i1 = i0 + in.bytes;
    if (o0 >= i1 || i0 >= o1) continue;
    if (allow_exact && o0 == i0 && o1 == i1) continue;
    ThrowRange(std::string("Expected ") + out.name + " not to overlap " + in.name +
               (allow_exact ? " (other than as the very same array)" : "") +
               " but received an overlapping view: " + out.name + " covers bytes [" +
               std::to_string(o0 - std::min(o0, i0)) + ", " + std::to_string(o1 - std::min(o0, i0)) +
               ") and " + in.name + " bytes [" + std::to_string(i0 - std::min(o0, i0)) + ", " +
               std::to_string(i1 - std::min(o0, i0)) + ") of the same memory");
  }
}

// ---- copies ----

void ParallelCopy(const void* src, void* dst, std::size_t bytes) {
  constexpr std::size_t kPiece = std::size_t{1} << 20;
  if (bytes <= 4 * kPiece) {
    std::memcpy(dst, src, bytes);
    return;
  }
  const auto* s = static_cast<const unsigned char*>(src);
  auto* d = static_cast<unsigned char*>(dst);
  const std::size_t pieces = (bytes + kPiece - 1) / kPiece;
  parallel_for(pieces, 0, 4, [&](std::size_t i0, std::size_t i1) {
    const std::size_t b0 = i0 * kPiece, b1 = std::min(bytes, i1 * kPiece);
    std::memcpy(d + b0, s + b0, b1 - b0);
  });
}

namespace {
constexpr std::size_t kCopyAlign = 64;
// Blocks below this size come from malloc directly (cheap to fault in).
constexpr std::size_t kCopyCacheMin = std::size_t{1} << 20;

struct CopyCacheState {
  std::mutex mu;
  std::multimap<std::size_t, unsigned char*> free;  // capacity → block
  std::size_t held = 0;
  std::size_t cap = 0;
};
CopyCacheState& TheCopyCache() {
  static auto* c = [] {
    auto* s = new CopyCacheState();  // outlives static destruction (blocks may be returned late)
    long mb = 512;
    if (const char* v = std::getenv("FEAT2GO_COPY_CACHE_MB")) {
      char* end = nullptr;
      const long x = std::strtol(v, &end, 10);
      if (end != v && x >= 0) mb = x;
    }
    s->cap = static_cast<std::size_t>(mb) << 20;
    return s;
  }();
  return *c;
}

void ReturnBlock(unsigned char* p, std::size_t capacity) {
  CopyCacheState& c = TheCopyCache();
  if (capacity >= kCopyCacheMin) {
    std::lock_guard<std::mutex> lk(c.mu);
    // Make room by dropping the largest blocks first.
    while (c.held + capacity > c.cap && !c.free.empty()) {
      auto it = std::prev(c.free.end());
      c.held -= it->first;
      std::free(it->second);
      c.free.erase(it);
    }
    if (c.held + capacity <= c.cap) {
      c.free.emplace(capacity, p);
      c.held += capacity;
      return;
    }
  }
  std::free(p);
}
}  // namespace

std::shared_ptr<unsigned char> CopyCache::Acquire(std::size_t bytes, const std::string& what) {
  const std::size_t want = std::max<std::size_t>(bytes, 1);
  CopyCacheState& c = TheCopyCache();
  if (want >= kCopyCacheMin) {
    std::lock_guard<std::mutex> lk(c.mu);
    auto it = c.free.lower_bound(want);
    if (it != c.free.end() && it->first <= 2 * want) {
      const std::size_t capacity = it->first;
      unsigned char* p = it->second;
      c.held -= capacity;
      c.free.erase(it);
      return std::shared_ptr<unsigned char>(p, [capacity](unsigned char* q) { ReturnBlock(q, capacity); });
    }
  }
  void* p = nullptr;
  const std::size_t capacity = (want + kCopyAlign - 1) / kCopyAlign * kCopyAlign;
  if (capacity < want || posix_memalign(&p, kCopyAlign, capacity) != 0 || !p)
    throw AllocError(what, static_cast<double>(bytes));
  auto* b = static_cast<unsigned char*>(p);
  return std::shared_ptr<unsigned char>(b, [capacity](unsigned char* q) { ReturnBlock(q, capacity); });
}

// ---- the promise worker ----

PromiseWorker::PromiseWorker(Napi::Env env, const char* name, Exec exec, Done done, Napi::Value on_progress,
                             const std::vector<Napi::Value>& keep)
    : Napi::AsyncProgressQueueWorker<double>(env, name),
      name_(name),
      exec_(std::move(exec)),
      done_(std::move(done)),
      deferred_(Napi::Promise::Deferred::New(env)),
      state_(GetEnvState(env)) {
  if (on_progress.IsFunction()) progress_ = Napi::Persistent(on_progress.As<Napi::Function>());
  keep_.reserve(keep.size());
  for (const auto& v : keep) keep_.push_back(Napi::Persistent(v));
}

PromiseWorker::PromiseWorker(Napi::Env env, const char* name, std::function<void()> exec, Done done,
                             const std::vector<Napi::Value>& keep)
    : PromiseWorker(
          env, name, [exec = std::move(exec)](const Report&) { exec(); }, std::move(done), env.Undefined(),
          keep) {}

Napi::Promise PromiseWorker::Queue() {
  Napi::Promise p = deferred_.Promise();
  Napi::AsyncProgressQueueWorker<double>::Queue();
  return p;
}

void PromiseWorker::Execute(const ExecutionProgress& progress) {
  try {
    exec_([&progress](const double* d, std::size_t n) { progress.Send(d, n); });
  } catch (...) {
    failure_ = Classify(std::current_exception(), name_);
    failed_ = true;
    SetError(failure_.message);
  }
}

bool PromiseWorker::Closing() const { return !state_ || state_->closing.load(); }

void PromiseWorker::OnProgress(const double* data, std::size_t count) {
  if (progress_.IsEmpty() || callback_failed_ || Closing()) return;
  try {
    Napi::Env env = Env();
    Napi::HandleScope scope(env);
    std::vector<napi_value> args;
    for (std::size_t i = 0; i < count; ++i) args.push_back(Napi::Number::New(env, data[i]));
    progress_.Call(args);
  } catch (const Napi::Error& e) {
    callback_failed_ = true;
    try {
      callback_error_ = Napi::Persistent(e.Value().As<Napi::Value>());
    } catch (...) {}
  }
}

void PromiseWorker::Reject(Napi::Value err) {
  try {
    deferred_.Reject(err);
  } catch (...) {  // the environment is shutting down: nobody is left to tell
  }
}

void PromiseWorker::OnOK() {
  if (Closing()) return;
  Napi::Env env = Env();
  try {
    if (callback_failed_ && !callback_error_.IsEmpty()) return Reject(callback_error_.Value());
    deferred_.Resolve(done_(env));
  } catch (const Napi::Error& e) {
    try {
      Reject(e.Value());
    } catch (...) {}
  } catch (...) {
    try {
      Reject(ToJsError(env, Classify(std::current_exception(), name_)).Value());
    } catch (...) {}
  }
}

void PromiseWorker::OnError(const Napi::Error& e) {
  if (Closing()) return;
  try {
    Napi::Env env = Env();
    if (!failed_) return Reject(e.Value());
    Reject(ToJsError(env, failure_).Value());
  } catch (...) {}
}

}  // namespace f2g
