// End-to-end tests of the allocator's interface (alloc/heap.h): typed
// allocation through the fast and slow paths, explicit free, statistics.
#include "gcrt/alloc/heap.h"

#include <cstring>
#include <set>
#include <stdexcept>
#include <vector>

#include "gtest/gtest.h"

namespace gc::alloc {
namespace {

struct Pair {
  void* a;
  void* b;
};
constexpr TypeInfo kPairType = {
    "Pair", sizeof(Pair), alignof(Pair), false, nullptr, nullptr, 0, nullptr};
constexpr TypeInfo kBytesType = {"bytes", 1,       1, true,
                                 nullptr, nullptr, 0, nullptr};

Pair* NewPair() {
  return static_cast<Pair*>(
      AllocateFixed<sizeof(Pair), alignof(Pair), false, true>(&kPairType));
}

TEST(HeapTest, FastPathHandsOutDistinctZeroedTypedObjects) {
  std::set<Pair*> seen;
  for (int i = 0; i < 5000; i++) {
    Pair* p = NewPair();
    ASSERT_EQ(p->a, nullptr);
    ASSERT_EQ(p->b, nullptr);
    ASSERT_EQ(reinterpret_cast<uintptr_t>(p) % 16, 0u);
    ASSERT_TRUE(seen.insert(p).second) << "slot handed out twice";
    p->a = p;
    ASSERT_EQ(TypeOf(p), &kPairType);
  }
  for (Pair* p : seen) {
    ASSERT_EQ(p->a, p);
    Free(p);
  }
}

TEST(HeapTest, FreedSlotsAreReusedAndZeroed) {
  Pair* p = NewPair();
  p->a = p;
  Free(p);
  std::vector<Pair*> again;
  bool reused = false;
  for (int i = 0; i < 600; i++) {
    Pair* q = NewPair();
    EXPECT_EQ(q->a, nullptr);
    reused |= q == p;
    again.push_back(q);
  }
  EXPECT_TRUE(reused);
  for (Pair* q : again) Free(q);
}

TEST(HeapTest, StatsCountMallocsAndFrees) {
  FlushCurrentCache();
  HeapStats before = ReadHeapStats();
  std::vector<void*> v;
  for (int i = 0; i < 1000; i++) v.push_back(Allocate(&kBytesType, 100));
  for (int i = 0; i < 400; i++) Free(v[i]);
  FlushCurrentCache();
  HeapStats after = ReadHeapStats();
  EXPECT_EQ(after.mallocs - before.mallocs, 1000u);
  EXPECT_EQ(after.frees - before.frees, 400u);
  EXPECT_EQ(after.heap_alloc - before.heap_alloc, 600u * RoundUpSize(100));
  for (int i = 400; i < 1000; i++) Free(v[i]);
}

TEST(HeapTest, LargeObjectsGetTheirOwnSpan) {
  void* p = Allocate(&kBytesType, 1 << 20);
  Span* s = SpanOf(p);
  ASSERT_NE(s, nullptr);
  EXPECT_TRUE(s->large());
  EXPECT_EQ(s->base, reinterpret_cast<uintptr_t>(p));
  EXPECT_EQ(SpanOf(static_cast<char*>(p) + 12345), s);
  Free(p);
  EXPECT_THROW(Free(p), std::invalid_argument);
}

TEST(HeapTest, BadInputGivesClearErrors) {
  int on_stack = 0;
  EXPECT_THROW(Free(&on_stack), std::invalid_argument);
  void* p = Allocate(&kBytesType, 64);
  EXPECT_THROW(Free(static_cast<char*>(p) + 8), std::invalid_argument);
  Free(p);
  EXPECT_THROW(Free(p), std::invalid_argument);
  try {
    AllocateArray(&kPairType, SIZE_MAX / 4);
    FAIL() << "overflowing count accepted";
  } catch (const std::bad_alloc& e) {
    EXPECT_NE(std::strstr(e.what(), "overflow"), nullptr) << e.what();
  }
  EXPECT_THROW(Allocate(&kBytesType, size_t{1} << 50), std::bad_alloc);
  EXPECT_NE(NewPair(), nullptr);  // still usable
}

}  // namespace
}  // namespace gc::alloc
