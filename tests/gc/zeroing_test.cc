// Every allocation reads zero before its constructor runs (api/make.h),
// including slots the collector reclaimed from dead objects: a swept span
// records that its freed slots need zeroing, whatever the span's history.
#include <gtest/gtest.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <vector>

#include "gcrt/gc.h"

namespace {

constexpr uint8_t kPattern = 0xab;

// A class whose constructor leaves its fields to the zeroing.
class Lazy {
 public:
  Lazy() {}
  bool AllZero() const {
    for (uint8_t b : bytes_) {
      if (b != 0) return false;
    }
    return count_ == 0;
  }
  void Dirty() {
    std::memset(bytes_, kPattern, sizeof(bytes_));
    count_ = -1;
  }

 private:
  uint8_t bytes_[200];
  int64_t count_;
};

template <typename T>
bool AllZero(const gc::Array<T>& a) {
  for (const T& e : a) {
    if (e != T{}) return false;
  }
  return true;
}

// Round after round: fill arrays of several sizes over the 128-byte line
// below which the fast path always zeroes, keep half, collect, allocate
// the same again (into the dead half's slots) and check every byte.
TEST(ZeroingTest, SlotsReclaimedByTheCollectorReadZero) {
  int dirty = 0;
  int total = 0;
  for (int round = 0; round < 30; round++) {
    std::vector<gc::Root<gc::Array<int32_t>>> kept;
    for (int i = 0; i < 400; i++) {
      size_t n = 40 + (i % 13) * 37;  // 160 .. 1936 bytes
      gc::Root<gc::Array<int32_t>> a = gc::make_array<int32_t>(n);
      std::memset(a->data(), kPattern, n * sizeof(int32_t));
      if (i % 2 == 0) kept.push_back(a);
    }
    gc::collect();
    for (int i = 0; i < 400; i++) {
      size_t n = 40 + (i % 13) * 37;
      gc::Root<gc::Array<int32_t>> a = gc::make_array<int32_t>(n);
      total++;
      if (!AllZero(*a)) dirty++;
    }
  }
  EXPECT_EQ(dirty, 0) << "of " << total << " arrays in reclaimed slots";
}

// Bytes of [p, p+bytes) resident in memory (mincore), whole pages.
size_t ResidentBytes(const void* p, size_t bytes) {
  const size_t page = static_cast<size_t>(sysconf(_SC_PAGESIZE));
  const uintptr_t start = reinterpret_cast<uintptr_t>(p) & ~(page - 1);
  const uintptr_t end = reinterpret_cast<uintptr_t>(p) + bytes;
  std::vector<unsigned char> in((end - start + page - 1) / page);
  if (mincore(reinterpret_cast<void*>(start), end - start, in.data()) != 0) {
    ADD_FAILURE() << "mincore failed";
    return bytes;
  }
  size_t resident = 0;
  for (unsigned char v : in) resident += (v & 1) ? page : 0;
  return resident;
}

// A large array reused from a dead one's span reads zero, and its pages
// that nothing touched stay untouched: zeroing the span wrote all of it (a
// 1 GiB array, two of whose elements the program touched, became 1 GiB
// resident when its span was reused, and took 10 s to make).
TEST(ZeroingTest, AReusedLargeArrayIsZeroAndOnlyWhatWasTouchedIsResident) {
  constexpr size_t kCount = size_t{8} << 20;  // 64 MiB of doubles
  for (int round = 0; round < 3; round++) {
    {
      gc::Root<gc::Array<double>> a = gc::make_array<double>(kCount);
      (*a)[0] = 1;
      (*a)[kCount / 2] = 2;
      (*a)[kCount - 1] = 3;
    }
    gc::collect();
    gc::Root<gc::Array<double>> b = gc::make_array<double>(kCount);
#if !defined(GCRT_DEBUG_LEVEL) || GCRT_DEBUG_LEVEL < 2
    // (Debug builds poison a dead array whole: all of it is resident.)
    EXPECT_LT(ResidentBytes(b->data(), kCount * sizeof(double)),
              size_t{4} << 20);
#endif
    EXPECT_EQ((*b)[0], 0);
    EXPECT_EQ((*b)[kCount / 2], 0);
    EXPECT_EQ((*b)[kCount - 1], 0);
    EXPECT_TRUE(AllZero(*b));  // (maps the zero page at every page of b)
    b = nullptr;
    gc::collect();
    gc::release_memory();  // the next round's first array starts untouched
  }
}

TEST(ZeroingTest, AConstructorThatLeavesFieldsSeesZeroInReclaimedSlots) {
  int dirty = 0;
  int total = 0;
  for (int round = 0; round < 30; round++) {
    std::vector<gc::Root<Lazy>> kept;
    for (int i = 0; i < 400; i++) {
      gc::Root<Lazy> o = gc::make<Lazy>();
      o->Dirty();
      if (i % 2 == 0) kept.push_back(o);
    }
    gc::collect();
    for (int i = 0; i < 400; i++) {
      gc::Root<Lazy> o = gc::make<Lazy>();
      total++;
      if (!o->AllZero()) dirty++;
    }
  }
  EXPECT_EQ(dirty, 0) << "of " << total << " objects in reclaimed slots";
}

// Pointer arrays: a stale pointer in a fresh array would be marked (and
// keep garbage alive) or, worse, be read by the program as a real one.
TEST(ZeroingTest, ReclaimedPointerArraysReadNull) {
  struct Leaf {
    int64_t v = 1;
  };
  int dirty = 0;
  for (int round = 0; round < 20; round++) {
    std::vector<gc::Root<gc::Array<gc::Ptr<Leaf>>>> kept;
    gc::Root<Leaf> leaf = gc::make<Leaf>();
    for (int i = 0; i < 200; i++) {
      gc::Root<gc::Array<gc::Ptr<Leaf>>> a =
          gc::make_array<gc::Ptr<Leaf>>(20 + i % 40);
      for (gc::Ptr<Leaf>& p : *a) p = leaf;
      if (i % 2 == 0) kept.push_back(a);
    }
    gc::collect();
    for (int i = 0; i < 200; i++) {
      gc::Root<gc::Array<gc::Ptr<Leaf>>> a =
          gc::make_array<gc::Ptr<Leaf>>(20 + i % 40);
      for (const gc::Ptr<Leaf>& p : *a) {
        if (p != nullptr) {
          dirty++;
          break;
        }
      }
    }
  }
  EXPECT_EQ(dirty, 0);
}

}  // namespace
