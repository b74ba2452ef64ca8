#include "bindings/napi_util.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <iterator>
#include <limits>
#include <map>
#include <mutex>
#include <set>
#include <stdexcept>
#include <thread>

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
  } catch (const Cancelled& x) {
    return {ArgError::kAbort, x.what()};
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
    case ArgError::kAbort: {
      Napi::Error e = Napi::Error::New(env, f.message);
      e.Set("name", Napi::String::New(env, "AbortError"));
      e.Set("code", Napi::String::New(env, "ABORT_ERR"));
      return e;
    }
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
  CancelCalls(env);
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
constexpr std::size_t kCopyCacheMin = kHostMinBytes;

struct CopyCacheState {
  std::mutex mu;
  std::multimap<std::size_t, unsigned char*> free;  // capacity → block
  std::size_t held = 0;
  std::size_t cap = 0;
};

long EnvMiB(const char* name, long fallback) {
  if (const char* v = std::getenv(name)) {
    char* end = nullptr;
    const long x = std::strtol(v, &end, 10);
    if (end != v && x >= 0) return x;
  }
  return fallback;
}

CopyCacheState& TheCopyCache() {
  static auto* c = [] {
    auto* s = new CopyCacheState();  // outlives static destruction (blocks may be returned late)
    s->cap = static_cast<std::size_t>(EnvMiB("FEAT2GO_COPY_CACHE_MB", 512)) << 20;
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

// A block of at least `bytes` (a cached one of at most twice that, or a new
// one); its capacity in *capacity. Give it back with ReturnBlock.
unsigned char* AcquireBlock(std::size_t bytes, const std::string& what, std::size_t* capacity) {
  const std::size_t want = std::max<std::size_t>(bytes, 1);
  CopyCacheState& c = TheCopyCache();
  if (want >= kCopyCacheMin) {
    std::lock_guard<std::mutex> lk(c.mu);
    auto it = c.free.lower_bound(want);
    if (it != c.free.end() && it->first <= 2 * want) {
      *capacity = it->first;
      unsigned char* p = it->second;
      c.held -= it->first;
      c.free.erase(it);
      return p;
    }
  }
  void* p = nullptr;
  const std::size_t cap = (want + kCopyAlign - 1) / kCopyAlign * kCopyAlign;
  if (cap < want || posix_memalign(&p, kCopyAlign, cap) != 0 || !p)
    throw AllocError(what, static_cast<double>(bytes));
  *capacity = cap;
  return static_cast<unsigned char*>(p);
}
}  // namespace

std::shared_ptr<unsigned char> CopyCache::Acquire(std::size_t bytes, const std::string& what) {
  std::size_t capacity = 0;
  unsigned char* p = AcquireBlock(bytes, what, &capacity);
  return std::shared_ptr<unsigned char>(p, [capacity](unsigned char* q) { ReturnBlock(q, capacity); });
}

// ---- host memory ----

namespace {
struct HostRegistry {
  std::mutex mu;
  std::map<std::uintptr_t, std::weak_ptr<HostBlock>> blocks;  // start → block
  std::condition_variable readers_cv;                         // with mu: a block's readers fell
};
HostRegistry& Hosts() {
  static auto* r = new HostRegistry();  // outlives static destruction
  return *r;
}

// Keeps a host block alive for a call, counted among its readers when `reader`.
struct HostPin {
  std::shared_ptr<HostBlock> block;
  bool reader;
  HostPin(std::shared_ptr<HostBlock> b, bool r) : block(std::move(b)), reader(r) {
    if (reader) block->readers.fetch_add(1);
  }
  ~HostPin() {
    if (!reader) return;
    {
      std::lock_guard<std::mutex> lk(Hosts().mu);
      block->readers.fetch_sub(1);
    }
    Hosts().readers_cv.notify_all();
  }
};

// 1: external ArrayBuffers work here; 0: refused (or FEAT2GO_HOST_EXTERNAL=0); -1: not known yet.
std::atomic<int> g_external{-1};

void FinalizeHost(napi_env, void*, void* hint) { delete static_cast<std::shared_ptr<HostBlock>*>(hint); }

std::size_t TurnBudget() {
  static const std::size_t b = static_cast<std::size_t>(EnvMiB("FEAT2GO_HOST_TURN_MB", 1024)) << 20;
  return b;
}

void TurnMarkerCall(napi_env, napi_value, void* context, void*) {
  if (auto s = static_cast<std::weak_ptr<EnvState>*>(context)->lock()) {
    s->turn_bytes = 0;
    s->turn_marked = false;
  }
}
void TurnMarkerFinalize(napi_env, void* data, void*) { delete static_cast<std::weak_ptr<EnvState>*>(data); }

// Counts `bytes` of external memory against this event-loop turn's budget
// (the first allocation of a turn always fits). A threadsafe function queued
// at the first allocation of a turn runs on the next turn and resets the
// count: by then Node has run the finalisers queued meanwhile.
bool ChargeTurn(Napi::Env env, std::size_t bytes) {
  std::shared_ptr<EnvState> s = GetEnvState(env);
  if (!s) return false;
  if (!s->turn_marked) {
    if (!s->turn_marker) {
      auto* ctx = new std::weak_ptr<EnvState>(s);
      napi_value name;
      if (napi_create_string_utf8(env, "feat2go:turn", NAPI_AUTO_LENGTH, &name) != napi_ok ||
          napi_create_threadsafe_function(env, nullptr, nullptr, name, 0, 1, ctx, TurnMarkerFinalize, ctx,
                                          TurnMarkerCall, &s->turn_marker) != napi_ok) {
        delete ctx;
        s->turn_marker = nullptr;
        return false;
      }
      napi_unref_threadsafe_function(env, s->turn_marker);
    }
    if (napi_call_threadsafe_function(s->turn_marker, nullptr, napi_tsfn_nonblocking) != napi_ok)
      return false;
    s->turn_marked = true;
    s->turn_bytes = 0;
  }
  if (s->turn_bytes > 0 && s->turn_bytes + bytes > TurnBudget()) return false;
  s->turn_bytes += bytes;
  return true;
}
}  // namespace

HostBlock::HostBlock(unsigned char* data, std::size_t bytes, std::size_t capacity)
    : data_(data), bytes_(bytes), capacity_(capacity) {}

HostBlock::~HostBlock() {
  {
    std::lock_guard<std::mutex> lk(Hosts().mu);
    auto it = Hosts().blocks.find(reinterpret_cast<std::uintptr_t>(data_));
    if (it != Hosts().blocks.end() && it->second.expired()) Hosts().blocks.erase(it);
  }
  ReturnBlock(data_, capacity_);
}

std::shared_ptr<HostBlock> NewHostBlock(std::size_t bytes, const std::string& what) {
  std::size_t capacity = 0;
  unsigned char* p = AcquireBlock(bytes, what, &capacity);
  std::shared_ptr<HostBlock> b;
  try {
    b = std::make_shared<HostBlock>(p, bytes, capacity);
  } catch (...) {
    ReturnBlock(p, capacity);
    throw;
  }
  std::lock_guard<std::mutex> lk(Hosts().mu);
  Hosts().blocks[reinterpret_cast<std::uintptr_t>(p)] = b;
  return b;
}

std::shared_ptr<HostBlock> FindHostBlock(const void* p, std::size_t bytes) {
  if (!p) return nullptr;
  const auto a = reinterpret_cast<std::uintptr_t>(p);
  std::shared_ptr<HostBlock> b;  // released (possibly the last reference) outside the lock
  {
    std::lock_guard<std::mutex> lk(Hosts().mu);
    auto& m = Hosts().blocks;
    auto it = m.upper_bound(a);
    if (it == m.begin()) return nullptr;
    b = std::prev(it)->second.lock();
  }
  if (!b) return nullptr;
  const auto start = reinterpret_cast<std::uintptr_t>(b->data());
  if (a < start || a - start > b->bytes() || bytes > b->bytes() - (a - start)) return nullptr;
  return b;
}

HostStatsValue GetHostStats() {
  HostStatsValue v;
  std::vector<std::shared_ptr<HostBlock>> live;  // released outside the lock
  {
    std::lock_guard<std::mutex> lk(Hosts().mu);
    for (auto& [start, w] : Hosts().blocks)
      if (auto b = w.lock()) live.push_back(std::move(b));
  }
  for (auto& b : live) ++v.blocks, v.bytes += b->bytes();
  std::lock_guard<std::mutex> lk(TheCopyCache().mu);
  v.cached_bytes = TheCopyCache().held;
  return v;
}

void WaitForReaders(const HostBlock& b) {
  std::unique_lock<std::mutex> lk(Hosts().mu);
  Hosts().readers_cv.wait(lk, [&] { return b.readers.load() == 0; });
}

bool HostExternalAllowed(Napi::Env) {
  int e = g_external.load();
  if (e < 0) {
    const char* v = std::getenv("FEAT2GO_HOST_EXTERNAL");
    e = v && std::string(v) == "0" ? 0 : 1;
    int expected = -1;
    g_external.compare_exchange_strong(expected, e);
    e = g_external.load();
  }
  return e == 1;
}

namespace {
// What the external ArrayBuffer of another addon's block holds: the table and the handle.
struct RemoteHint {
  const f2g_host_api* api;
  void* handle;
};
void FinalizeRemote(napi_env, void*, void* hint) {
  auto* h = static_cast<RemoteHint*>(hint);
  h->api->release(h->handle);
  delete h;
}
// A refused external ArrayBuffer: rethrows a pending JS exception, otherwise
// remembers that this runtime refuses them (a V8 sandbox).
void ExternalRefused(Napi::Env env) {
  bool pending = false;
  napi_is_exception_pending(env, &pending);
  if (pending) throw Napi::Error(env, Napi::Error::New(env).Value());
  g_external.store(0);  // plain ArrayBuffers from now on
}
}  // namespace

Napi::ArrayBuffer NewHostArrayBuffer(Napi::Env env, std::size_t bytes, const std::string& what,
                                     std::shared_ptr<HostBlock>* block, bool always) {
  if (block) block->reset();
  const f2g_host_api* api = HostApi();
  if (api && bytes >= kHostMinBytes && HostExternalAllowed(env) && (always || ChargeTurn(env, bytes))) {
    napi_value ab = nullptr;
    if (api == LocalHostApi()) {
      std::shared_ptr<HostBlock> b = NewHostBlock(bytes, what);
      auto* hint = new std::shared_ptr<HostBlock>(b);
      if (napi_create_external_arraybuffer(env, b->data(), bytes, FinalizeHost, hint, &ab) == napi_ok) {
        if (block) *block = std::move(b);
        return Napi::ArrayBuffer(env, ab);
      }
      delete hint;
    } else {
      // The core addon's block (the libtorch addon's outputs): the finaliser releases it there.
      void* data = nullptr;
      void* handle = api->alloc(bytes, &data);
      if (!handle) throw AllocError(what, static_cast<double>(bytes));
      RemoteHint* hint = nullptr;
      try {
        hint = new RemoteHint{api, handle};
      } catch (...) {
        api->release(handle);
        throw;
      }
      if (napi_create_external_arraybuffer(env, data, bytes, FinalizeRemote, hint, &ab) == napi_ok)
        return Napi::ArrayBuffer(env, ab);
      api->release(handle);
      delete hint;
    }
    ExternalRefused(env);
  }
  return Napi::ArrayBuffer::New(env, bytes);
}

Napi::Float32Array HostFloat32Array(Napi::Env env, std::size_t n, const std::string& what) {
  Napi::ArrayBuffer ab = NewHostArrayBuffer(env, n * sizeof(float), what);
  return Napi::Float32Array::New(env, n, ab, 0);
}

std::shared_ptr<unsigned char> PinInPlace(const void* data, std::size_t bytes, bool shared, napi_env env,
                                          napi_value source, std::vector<Napi::Value>& keep, bool reader) {
  if (bytes == 0 || data == nullptr) return nullptr;
  auto* p = const_cast<unsigned char*>(static_cast<const unsigned char*>(data));
  const f2g_host_api* api = HostApi();
  if (api == LocalHostApi()) {
    if (std::shared_ptr<HostBlock> b = FindHostBlock(data, bytes)) {
      auto pin = std::make_shared<HostPin>(std::move(b), reader);
      return std::shared_ptr<unsigned char>(pin, p);  // aliasing: owns the pin, points at the data
    }
  } else if (api) {
    // The core addon's block, pinned there (counted among its readers there).
    if (void* handle = api->pin(data, bytes, reader ? 1 : 0))
      return std::shared_ptr<unsigned char>(p, [api, handle](unsigned char*) { api->release(handle); });
  }
  if (shared && source != nullptr) {
    keep.push_back(Napi::Value(env, source));
    return std::shared_ptr<unsigned char>(p, [](unsigned char*) {});
  }
  return nullptr;
}

// ---- host memory across addons (bindings/host_api.h) ----

namespace {
// The core addon's table over its own registry. Nothing here throws across
// the C boundary: a failure is a null handle.
void* LocalPin(const void* data, std::size_t bytes, int reader) {
  try {
    std::shared_ptr<HostBlock> b = FindHostBlock(data, bytes);
    return b ? new HostPin(std::move(b), reader != 0) : nullptr;
  } catch (...) {
    return nullptr;
  }
}
void LocalRelease(void* handle) { delete static_cast<HostPin*>(handle); }
void* LocalAlloc(std::size_t bytes, void** data) {
  *data = nullptr;
  try {
    std::shared_ptr<HostBlock> b = NewHostBlock(bytes, "host memory");
    *data = b->data();
    return new HostPin(std::move(b), false);
  } catch (...) {
    *data = nullptr;
    return nullptr;
  }
}
const f2g_host_api kLocalHostApi = {F2G_HOST_API_VERSION, sizeof(f2g_host_api), LocalPin, LocalRelease,
                                    LocalAlloc};
std::atomic<const f2g_host_api*> g_host_api{nullptr};
}  // namespace

const f2g_host_api* LocalHostApi() { return &kLocalHostApi; }
const f2g_host_api* HostApi() { return g_host_api.load(std::memory_order_acquire); }
void ServeHostMemory() { g_host_api.store(&kLocalHostApi, std::memory_order_release); }

std::string UseHostApi(const f2g_host_api* api) {
  if (api == nullptr) return "the host-memory table is null";
  if (api->version != F2G_HOST_API_VERSION)
    return "the core addon's host-memory table is version " + std::to_string(api->version) +
           ", this addon reads " + std::to_string(F2G_HOST_API_VERSION);
  if (api->size < sizeof(f2g_host_api) || !api->pin || !api->release || !api->alloc)
    return "the core addon's host-memory table is incomplete";
  const f2g_host_api* expected = nullptr;
  if (g_host_api.compare_exchange_strong(expected, api) || expected == api) return "";
  return "this addon already uses another core addon's host memory";
}

// ---- cancellation ----

namespace {
// Calls running with a stop (PromiseWorker::SetStop), listed while their
// Execute runs; a watchdog thread polls the callers' flags and pings the
// environments every 100 ms while any is listed.
struct LiveCall {
  napi_env env;
  CallStop* stop;
  std::function<void()> ping;       // posts an empty progress message to the call's environment
  std::atomic<bool>* ping_pending;  // the worker's: set until the ping was handled
};
struct Calls {
  std::mutex mu;
  std::condition_variable cv;
  std::set<LiveCall*> live;
  bool watching = false;
};
Calls& TheCalls() {
  static auto* c = new Calls();  // outlives static destruction; the watchdog is never joined
  return *c;
}

void Watch() {
  Calls& c = TheCalls();
  std::unique_lock<std::mutex> lk(c.mu);
  for (;;) {
    if (c.live.empty()) {
      c.cv.wait(lk);
      continue;
    }
    c.cv.wait_for(lk, std::chrono::milliseconds(100));
    for (LiveCall* call : c.live) {
      if (call->stop->user && call->stop->user->load(std::memory_order_relaxed) != 0)
        call->stop->flag.store(true);
      if (!call->ping_pending->exchange(true)) call->ping();
    }
  }
}

void Enlist(LiveCall* call) {
  Calls& c = TheCalls();
  {
    std::lock_guard<std::mutex> lk(c.mu);
    c.live.insert(call);
    if (!c.watching) {
      std::thread(Watch).detach();
      c.watching = true;
    }
  }
  c.cv.notify_all();
}

void Dismiss(LiveCall* call) {
  std::lock_guard<std::mutex> lk(TheCalls().mu);
  TheCalls().live.erase(call);
}

// Whether JavaScript can run in `env` now (false while the environment shuts down).
bool CanRunJs(napi_env env) {
  napi_value o = nullptr, v = nullptr;
  return napi_create_object(env, &o) == napi_ok && napi_get_boolean(env, true, &v) == napi_ok &&
         napi_set_named_property(env, o, "f2g", v) == napi_ok;
}
}  // namespace

std::shared_ptr<CallStop> CallStopArg(const Napi::Value& v, const char* name,
                                      std::vector<Napi::Value>& keep) {
  auto stop = std::make_shared<CallStop>();
  if (v.IsUndefined() || v.IsNull()) return stop;
  bool ok = v.IsTypedArray() && v.As<Napi::TypedArray>().TypedArrayType() == napi_int32_array;
  if (ok) {
    auto a = v.As<Napi::Int32Array>();
    ok = !a.ArrayBuffer().IsArrayBuffer() && a.ElementLength() >= 1;  // over a SharedArrayBuffer
    if (ok) {
      stop->user = reinterpret_cast<const std::atomic<std::int32_t>*>(a.Data());
      if (stop->user->load() != 0) stop->flag.store(true);
      keep.push_back(v);
    }
  }
  if (!ok)
    ThrowType(std::string("Expected an Int32Array over a SharedArrayBuffer for ") + name + " but received " +
              Describe(v));
  return stop;
}

void CancelCalls(napi_env env) {
  std::lock_guard<std::mutex> lk(TheCalls().mu);
  for (LiveCall* call : TheCalls().live)
    if (env == nullptr || call->env == env) call->stop->flag.store(true);
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
  LiveCall call{Env(), stop_.get(), [&progress] { progress.Send(nullptr, 0); }, &ping_pending_};
  if (stop_) Enlist(&call);
  try {
    exec_([&progress](const double* d, std::size_t n) { progress.Send(d, n); });
  } catch (...) {
    failure_ = Classify(std::current_exception(), name_);
    failed_ = true;
    SetError(failure_.message);
  }
  if (stop_) Dismiss(&call);
  // The inputs captured by exec_ are released here, on the worker thread, as
  // soon as the work is done (host memory pins: see WaitForReaders).
  exec_ = Exec();
}

bool PromiseWorker::Closing() const { return !state_ || state_->closing.load(); }

void PromiseWorker::OnProgress(const double* data, std::size_t count) {
  if (count == 0) {  // the watchdog's ping (see SetStop)
    ping_pending_.store(false);
    if (!CanRunJs(Env())) {
      if (state_) state_->closing.store(true);
      CancelCalls(Env());
    }
    return;
  }
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

AsyncResult AsyncOutput(const View<float>& out, std::size_t n, const char* name) {
  AsyncResult r;
  std::vector<Napi::Value> unused;
  r.pin = PinInPlace(out.data, n * sizeof(float), false, out.env, out.source, unused, false);
  if (!r.pin)
    r.owned = Allocating(std::string("the result of ") + name, static_cast<double>(n) * sizeof(float),
                         [&] { return std::make_shared<std::vector<float>>(n); });
  return r;
}

Napi::Value CopyBack(Napi::Env env, const Napi::Reference<Napi::Value>& out_ref, const AsyncResult& r) {
  if (!r.owned) return env.Undefined();  // written in place
  Napi::Value v = out_ref.Value();
  auto ta = v.As<Napi::Float32Array>();
  if (ta.ArrayBuffer().IsDetached() || ta.ElementLength() < r.owned->size())
    throw Napi::Error::New(env, "out was detached (transferred) while the call ran");
  std::copy(r.owned->begin(), r.owned->end(), ta.Data());
  return env.Undefined();
}

}  // namespace f2g
