// DLPack (ABI of the public DLPack specification v0.8): the structs other
// native libraries use to share tensors without a copy, plus feat2go's
// helpers to build and check them. Plain C++ (no CUDA, no N-API), so the
// layout, the checks and the ownership rules are tested on every host
// (native/tests/test_dlpack.cc).
//
// Ownership: a DLManagedTensor is owned by whoever holds it; the consumer
// calls `deleter(self)` exactly once when it no longer needs the memory.
#pragma once
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

extern "C" {

/// DLDeviceType (v0.8 values).
typedef enum {
  kDLCPU = 1,
  kDLCUDA = 2,
  kDLCUDAHost = 3,
  kDLOpenCL = 4,
  kDLVulkan = 7,
  kDLMetal = 8,
  kDLVPI = 9,
  kDLROCM = 10,
  kDLROCMHost = 11,
  kDLExtDev = 12,
  kDLCUDAManaged = 13,
  kDLOneAPI = 14,
  kDLWebGPU = 15,
  kDLHexagon = 16,
} DLDeviceType;

typedef struct {
  DLDeviceType device_type;
  int32_t device_id;
} DLDevice;

/// DLDataTypeCode (v0.8 values).
typedef enum {
  kDLInt = 0U,
  kDLUInt = 1U,
  kDLFloat = 2U,
  kDLOpaqueHandle = 3U,
  kDLBfloat = 4U,
  kDLComplex = 5U,
  kDLBool = 6U,
} DLDataTypeCode;

typedef struct {
  uint8_t code;
  uint8_t bits;
  uint16_t lanes;
} DLDataType;

typedef struct {
  void* data;
  DLDevice device;
  int32_t ndim;
  DLDataType dtype;
  int64_t* shape;
  int64_t* strides;  // in elements; NULL = compact row-major
  uint64_t byte_offset;
} DLTensor;

typedef struct DLManagedTensor {
  DLTensor dl_tensor;
  void* manager_ctx;
  void (*deleter)(struct DLManagedTensor* self);
} DLManagedTensor;

}  // extern "C"

namespace f2g {
namespace dlpack {

/// The element types feat2go's DeviceTensor holds: 0 float32, 1 uint8, 2 int32; −1 otherwise.
inline int dtype_index(DLDataType t) {
  if (t.lanes != 1) return -1;
  if (t.code == kDLFloat && t.bits == 32) return 0;
  if (t.code == kDLUInt && t.bits == 8) return 1;
  if (t.code == kDLInt && t.bits == 32) return 2;
  return -1;
}
inline const char* dtype_name(int index) {
  return index == 0 ? "float32" : index == 1 ? "uint8" : index == 2 ? "int32" : "";
}
inline DLDataType dtype_of(int index) {
  DLDataType t;
  t.code = static_cast<uint8_t>(index == 0 ? kDLFloat : index == 1 ? kDLUInt : kDLInt);
  t.bits = static_cast<uint8_t>(index == 1 ? 8 : 32);
  t.lanes = 1;
  return t;
}
inline std::string describe(DLDataType t) {
  return "{code " + std::to_string(t.code) + ", bits " + std::to_string(t.bits) + ", lanes " +
         std::to_string(t.lanes) + "}";
}

/// Result of check(): ok, or the error kind (type/range) and message.
struct Checked {
  enum Kind { kOk, kType, kRange } kind = kOk;
  std::string message;
  int dtype = -1;              // dtype_index
  std::vector<int64_t> shape;  // copied from the tensor
  std::size_t bytes = 0;       // elements × element size
  void* data = nullptr;        // data + byte_offset
};

/// Checks that `t` is a tensor feat2go can adopt: a CUDA device tensor
/// (kDLCUDA, device_id ≥ 0), dtype float32/uint8/int32 with one lane, a shape
/// of non-negative sizes whose byte size fits size_t, strides NULL or compact
/// row-major (a dimension of size 1 may have any stride; an empty tensor any
/// strides), data aligned to the element size and non-null when non-empty.
/// Messages start with "Expected ... but received ...".
inline Checked check(const DLTensor& t) {
  Checked r;
  auto fail = [&r](Checked::Kind k, std::string m) {
    r.kind = k;
    r.message = std::move(m);
    return r;
  };
  if (t.device.device_type != kDLCUDA)
    return fail(Checked::kRange,
                "Expected a CUDA tensor (device_type kDLCUDA = 2) but received device_type " +
                    std::to_string(static_cast<int>(t.device.device_type)));
  if (t.device.device_id < 0)
    return fail(Checked::kRange, "Expected device_id ≥ 0 but received " + std::to_string(t.device.device_id));
  r.dtype = dtype_index(t.dtype);
  if (r.dtype < 0)
    return fail(Checked::kType,
                "Expected dtype float32, uint8 or int32 (one lane) but received " + describe(t.dtype));
  if (t.ndim < 0 || t.ndim > 64)
    return fail(Checked::kRange, "Expected ndim in [0, 64] but received " + std::to_string(t.ndim));
  if (t.ndim > 0 && t.shape == nullptr)
    return fail(Checked::kRange,
                "Expected a shape array but received NULL (ndim " + std::to_string(t.ndim) + ")");
  const std::size_t esize = r.dtype == 1 ? 1 : 4;
  std::size_t n = 1;
  bool empty = false;
  r.shape.assign(t.shape, t.shape + t.ndim);
  for (int i = 0; i < t.ndim; ++i) {
    const int64_t d = t.shape[i];
    if (d < 0)
      return fail(Checked::kRange,
                  "Expected shape[" + std::to_string(i) + "] ≥ 0 but received " + std::to_string(d));
    if (d == 0) empty = true;
  }
  if (!empty) {
    for (int i = 0; i < t.ndim; ++i) {
      const auto d = static_cast<uint64_t>(t.shape[i]);
      if (n > (SIZE_MAX / esize) / d)
        return fail(Checked::kRange,
                    "Expected a tensor whose byte size fits in memory but received shape of " +
                        std::to_string(t.ndim) + " dimensions that overflows");
      n *= d;
    }
  } else {
    n = 0;
  }
  if (t.strides != nullptr && !empty) {
    int64_t expect = 1;
    for (int i = t.ndim - 1; i >= 0; --i) {
      if (t.shape[i] != 1 && t.strides[i] != expect)
        return fail(Checked::kRange, "Expected compact row-major strides (stride[" + std::to_string(i) +
                                         "] = " + std::to_string(expect) + ") but received " +
                                         std::to_string(t.strides[i]));
      expect *= t.shape[i];
    }
  }
  r.bytes = n * esize;
  if (r.bytes > 0 && t.data == nullptr)
    return fail(Checked::kRange, "Expected a non-null data pointer but received NULL");
  const uintptr_t p = reinterpret_cast<uintptr_t>(t.data) + static_cast<uintptr_t>(t.byte_offset);
  if (r.bytes > 0 && p % esize != 0)
    return fail(Checked::kRange, "Expected data + byte_offset aligned to " + std::to_string(esize) +
                                     " bytes but received an address ≡ " + std::to_string(p % esize) +
                                     " mod " + std::to_string(esize));
  r.data = reinterpret_cast<void*>(p);
  return r;
}

namespace detail {
struct Ctx {
  std::shared_ptr<void> keep;
  std::vector<int64_t> shape;
};
inline void delete_managed(DLManagedTensor* self) {
  if (self == nullptr) return;
  delete static_cast<Ctx*>(self->manager_ctx);  // releases `keep`
  delete self;
}
}  // namespace detail

/// A DLManagedTensor viewing `data` (compact, strides NULL) whose
/// manager_ctx holds `keep` until the consumer calls its deleter (from any
/// thread); the shape array lives in the context.
inline DLManagedTensor* make_managed(void* data, int device_id, int dtype_idx,
                                     const std::vector<int64_t>& shape, std::shared_ptr<void> keep) {
  auto ctx = std::make_unique<detail::Ctx>();
  ctx->keep = std::move(keep);
  ctx->shape = shape;
  auto m = std::make_unique<DLManagedTensor>();
  m->dl_tensor.data = data;
  m->dl_tensor.device.device_type = kDLCUDA;
  m->dl_tensor.device.device_id = device_id;
  m->dl_tensor.ndim = static_cast<int32_t>(shape.size());
  m->dl_tensor.dtype = dtype_of(dtype_idx);
  m->dl_tensor.shape = ctx->shape.empty() ? nullptr : ctx->shape.data();
  m->dl_tensor.strides = nullptr;
  m->dl_tensor.byte_offset = 0;
  m->manager_ctx = ctx.release();
  m->deleter = &detail::delete_managed;
  return m.release();
}

/// The slot an N-API capsule (External) points to: the tensor, or NULL once
/// a consumer took it. Whoever empties the slot owns the tensor; the
/// capsule's finaliser calls the deleter of a tensor nobody took.
struct Slot {
  DLManagedTensor* tensor = nullptr;
  /// Takes the tensor out of the slot (NULL if already taken).
  DLManagedTensor* take() {
    DLManagedTensor* t = tensor;
    tensor = nullptr;
    return t;
  }
  /// Calls the deleter of a tensor still in the slot.
  void release() {
    DLManagedTensor* t = take();
    if (t != nullptr && t->deleter != nullptr) t->deleter(t);
  }
};

/// Owns an adopted DLManagedTensor: calls its deleter once, on destruction.
struct Adopted {
  DLManagedTensor* tensor = nullptr;
  explicit Adopted(DLManagedTensor* t) : tensor(t) {}
  Adopted(const Adopted&) = delete;
  Adopted& operator=(const Adopted&) = delete;
  ~Adopted() {
    if (tensor != nullptr && tensor->deleter != nullptr) tensor->deleter(tensor);
  }
};

}  // namespace dlpack
}  // namespace f2g
