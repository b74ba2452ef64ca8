// DLPack header (native/cuda/dlpack.h) on the host: the v0.8 ABI layout
// (sizes and offsets as the specification's C header lays them out on a
// 64-bit platform), the checks fromDLPack applies, and the ownership rules of
// exported tensors and capsule slots. No device is needed: the data pointers
// below are never dereferenced.
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "check.h"
#include "cuda/dlpack.h"

using namespace f2g::dlpack;

// ---- ABI layout (LP64): what a consumer compiled from the spec's dlpack.h expects
static_assert(sizeof(void*) == 8, "these layout checks are for 64-bit platforms");
static_assert(sizeof(DLDevice) == 8 && offsetof(DLDevice, device_id) == 4, "DLDevice");
static_assert(sizeof(DLDataType) == 4 && offsetof(DLDataType, bits) == 1 && offsetof(DLDataType, lanes) == 2,
              "DLDataType");
static_assert(offsetof(DLTensor, data) == 0 && offsetof(DLTensor, device) == 8 &&
                  offsetof(DLTensor, ndim) == 16 && offsetof(DLTensor, dtype) == 20 &&
                  offsetof(DLTensor, shape) == 24 && offsetof(DLTensor, strides) == 32 &&
                  offsetof(DLTensor, byte_offset) == 40 && sizeof(DLTensor) == 48,
              "DLTensor");
static_assert(offsetof(DLManagedTensor, manager_ctx) == 48 && offsetof(DLManagedTensor, deleter) == 56 &&
                  sizeof(DLManagedTensor) == 64,
              "DLManagedTensor");

TEST(layout_enum_values) {
  // Values fixed by the specification (v0.8).
  CHECK_EQ(static_cast<int>(kDLCPU), 1);
  CHECK_EQ(static_cast<int>(kDLCUDA), 2);
  CHECK_EQ(static_cast<int>(kDLCUDAHost), 3);
  CHECK_EQ(static_cast<int>(kDLROCM), 10);
  CHECK_EQ(static_cast<int>(kDLCUDAManaged), 13);
  CHECK_EQ(static_cast<int>(kDLInt), 0);
  CHECK_EQ(static_cast<int>(kDLUInt), 1);
  CHECK_EQ(static_cast<int>(kDLFloat), 2);
  CHECK_EQ(static_cast<int>(kDLBfloat), 4);
  CHECK_EQ(static_cast<int>(kDLBool), 6);
}

namespace {
// A well-formed CUDA float32 tensor [2,3] over a fake (never read) address.
struct Fixture {
  std::vector<int64_t> shape{2, 3};
  std::vector<int64_t> strides{3, 1};
  DLTensor t{};
  Fixture() {
    t.data = reinterpret_cast<void*>(uintptr_t{0x10000});
    t.device = {kDLCUDA, 0};
    t.ndim = 2;
    t.dtype = {kDLFloat, 32, 1};
    t.shape = shape.data();
    t.strides = nullptr;
    t.byte_offset = 0;
  }
};
bool has(const std::string& s, const char* part) { return s.find(part) != std::string::npos; }
}  // namespace

TEST(check_accepts_compact) {
  Fixture f;
  Checked c = check(f.t);
  CHECK(c.kind == Checked::kOk);
  CHECK_EQ(c.dtype, 0);
  CHECK_EQ(c.bytes, std::size_t{24});
  CHECK(c.shape == f.shape);
  CHECK(c.data == f.t.data);
  f.t.strides = f.strides.data();  // explicit compact strides
  CHECK(check(f.t).kind == Checked::kOk);
  f.t.byte_offset = 8;  // the view starts 8 bytes in
  c = check(f.t);
  CHECK(c.kind == Checked::kOk);
  CHECK(reinterpret_cast<uintptr_t>(c.data) == 0x10008);
}

TEST(check_dtypes) {
  Fixture f;
  f.t.dtype = {kDLUInt, 8, 1};
  Checked c = check(f.t);
  CHECK(c.kind == Checked::kOk);
  CHECK_EQ(c.dtype, 1);
  CHECK_EQ(c.bytes, std::size_t{6});
  f.t.dtype = {kDLInt, 32, 1};
  c = check(f.t);
  CHECK(c.kind == Checked::kOk);
  CHECK_EQ(c.dtype, 2);
  CHECK_EQ(c.bytes, std::size_t{24});
  const DLDataType bad[] = {{kDLFloat, 64, 1}, {kDLFloat, 16, 1}, {kDLBfloat, 16, 1}, {kDLInt, 8, 1},
                            {kDLUInt, 32, 1},  {kDLBool, 8, 1},   {kDLFloat, 32, 4},  {kDLInt, 64, 1}};
  for (const DLDataType& d : bad) {
    f.t.dtype = d;
    c = check(f.t);
    CHECK(c.kind == Checked::kType);
    CHECK(has(c.message, "Expected dtype float32, uint8 or int32"));
    CHECK(has(c.message, ("bits " + std::to_string(d.bits)).c_str()));
  }
  CHECK(std::string(dtype_name(0)) == "float32" && std::string(dtype_name(1)) == "uint8" &&
        std::string(dtype_name(2)) == "int32");
  for (int i = 0; i < 3; ++i) CHECK_EQ(dtype_index(dtype_of(i)), i);
}

TEST(check_device) {
  Fixture f;
  for (DLDeviceType d : {kDLCPU, kDLCUDAHost, kDLCUDAManaged, kDLROCM}) {
    f.t.device.device_type = d;
    Checked c = check(f.t);
    CHECK(c.kind == Checked::kRange);
    CHECK(has(c.message, "kDLCUDA"));
    CHECK(has(c.message, ("received device_type " + std::to_string(static_cast<int>(d))).c_str()));
  }
  f.t.device = {kDLCUDA, -1};
  CHECK(check(f.t).kind == Checked::kRange);
}

TEST(check_strides) {
  Fixture f;
  std::vector<int64_t> transposed{1, 2};  // a transposed [2,3] view
  f.t.strides = transposed.data();
  Checked c = check(f.t);
  CHECK(c.kind == Checked::kRange);
  CHECK(has(c.message, "compact row-major"));
  std::vector<int64_t> padded{4, 1};  // rows padded to 4 elements
  f.t.strides = padded.data();
  CHECK(check(f.t).kind == Checked::kRange);
  // A size-1 dimension may carry any stride (as PyTorch exports them).
  std::vector<int64_t> s1{1, 3}, st1{99, 1};
  f.t.shape = s1.data();
  f.t.strides = st1.data();
  CHECK(check(f.t).kind == Checked::kOk);
  // An empty tensor: any strides, 0 bytes, data may be NULL.
  std::vector<int64_t> s0{0, 3}, st0{7, 5};
  f.t.shape = s0.data();
  f.t.strides = st0.data();
  f.t.data = nullptr;
  c = check(f.t);
  CHECK(c.kind == Checked::kOk);
  CHECK_EQ(c.bytes, std::size_t{0});
}

TEST(check_shape_and_data) {
  Fixture f;
  f.shape[1] = -3;
  Checked c = check(f.t);
  CHECK(c.kind == Checked::kRange && has(c.message, "shape[1]"));
  f.shape[1] = 3;
  f.t.shape = nullptr;
  CHECK(check(f.t).kind == Checked::kRange);
  f.t.shape = f.shape.data();
  f.t.ndim = -1;
  CHECK(check(f.t).kind == Checked::kRange);
  f.t.ndim = 0;  // a scalar: one element, shape may be NULL
  f.t.shape = nullptr;
  c = check(f.t);
  CHECK(c.kind == Checked::kOk);
  CHECK_EQ(c.bytes, std::size_t{4});
  f.t.ndim = 2;
  f.t.shape = f.shape.data();
  f.t.data = nullptr;
  CHECK(check(f.t).kind == Checked::kRange);
  f.t.data = reinterpret_cast<void*>(uintptr_t{0x10000});
  f.t.byte_offset = 2;  // float32 at an address ≡ 2 mod 4
  c = check(f.t);
  CHECK(c.kind == Checked::kRange && has(c.message, "aligned"));
  f.t.dtype = {kDLUInt, 8, 1};  // bytes need no alignment
  CHECK(check(f.t).kind == Checked::kOk);
  std::vector<int64_t> huge{int64_t{1} << 40, int64_t{1} << 40};
  f.t.shape = huge.data();
  c = check(f.t);
  CHECK(c.kind == Checked::kRange && has(c.message, "overflows"));
}

TEST(export_keeps_memory_until_deleter) {
  int released = 0;
  std::shared_ptr<void> keep(static_cast<void*>(&released), [](void* p) { ++*static_cast<int*>(p); });
  std::weak_ptr<void> watch = keep;
  void* data = reinterpret_cast<void*>(uintptr_t{0x20000});
  DLManagedTensor* m = make_managed(data, 3, 2, {4, 5, 6}, keep);
  keep.reset();  // the exporter drops its reference (DeviceTensor.dispose)
  CHECK_EQ(released, 0);
  CHECK(!watch.expired());
  // What a consumer sees, and what fromDLPack's check accepts.
  CHECK(m->dl_tensor.data == data);
  CHECK(m->dl_tensor.device.device_type == kDLCUDA);
  CHECK_EQ(m->dl_tensor.device.device_id, 3);
  CHECK_EQ(m->dl_tensor.ndim, 3);
  CHECK(m->dl_tensor.shape[0] == 4 && m->dl_tensor.shape[1] == 5 && m->dl_tensor.shape[2] == 6);
  CHECK(m->dl_tensor.strides == nullptr);
  CHECK(m->dl_tensor.byte_offset == 0);
  Checked c = check(m->dl_tensor);
  CHECK(c.kind == Checked::kOk);
  CHECK_EQ(c.dtype, 2);
  CHECK_EQ(c.bytes, std::size_t{4 * 5 * 6 * 4});
  m->deleter(m);
  CHECK_EQ(released, 1);
  CHECK(watch.expired());
  // A scalar exports a NULL shape with ndim 0.
  DLManagedTensor* s = make_managed(data, 0, 1, {}, nullptr);
  CHECK(s->dl_tensor.ndim == 0 && s->dl_tensor.shape == nullptr);
  CHECK(check(s->dl_tensor).kind == Checked::kOk);
  s->deleter(s);
}

TEST(slot_and_adopted_call_the_deleter_once) {
  int released = 0;
  auto counter = [&released]() {
    return std::shared_ptr<void>(static_cast<void*>(&released), [](void* p) { ++*static_cast<int*>(p); });
  };
  void* data = reinterpret_cast<void*>(uintptr_t{0x30000});
  {  // a capsule nobody consumed: its finaliser releases the tensor, once
    Slot slot{make_managed(data, 0, 0, {2}, counter())};
    slot.release();
    CHECK_EQ(released, 1);
    slot.release();
    CHECK_EQ(released, 1);
  }
  {  // consumed: the slot is empty, the adopter owns the tensor
    Slot slot{make_managed(data, 0, 0, {2}, counter())};
    DLManagedTensor* t = slot.take();
    CHECK(t != nullptr);
    CHECK(slot.take() == nullptr);  // a second import finds nothing
    {
      Adopted a(t);
      slot.release();  // the capsule's finaliser: nothing left to free
      CHECK_EQ(released, 1);
    }
    CHECK_EQ(released, 2);
  }
  {  // a producer without a deleter (allowed by the spec): nothing is called
    DLManagedTensor m{};
    m.deleter = nullptr;
    Adopted a(&m);
  }
  CHECK_EQ(released, 2);
}

int main() { return f2gtest::run_all("test_dlpack"); }
