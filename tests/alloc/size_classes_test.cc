// Property tests of the size-class table (alloc/size_classes.h) over every
// small size, plus spot checks against Go 1.19's runtime/sizeclasses.go,
// whose rounding and packing the allocator means to reproduce.
#include "alloc/size_classes.h"

#include <cstddef>
#include <cstdint>

#include "gtest/gtest.h"

namespace gc::alloc {
namespace {

constexpr uint32_t SpanBytes(int c) {
  return static_cast<uint32_t>(ClassToNPages(c) * kPageSize);
}

// The reference the lookup arrays must agree with.
int LinearSizeToClass(size_t size) {
  for (int c = 1; c < kNumSizeClasses; ++c) {
    if (ClassToSize(c) >= size) return c;
  }
  return 0;
}

// Lookups fold at compile time, which the allocator's fast path relies on.
static_assert(SizeToClass(1) == 1);
static_assert(SizeToClass(sizeof(void*) * 2) == 2);
static_assert(RoundUpSize(33) == 48);
static_assert(SizeToClass(kMaxSmallSize) == kNumSizeClasses - 1);

TEST(SizeClassesTest, HasGoCount) {
  // Go 1.19 has 67 real classes plus the dummy class 0 for large objects.
  EXPECT_EQ(kNumSizeClasses, 68);
  EXPECT_EQ(ClassToSize(0), 0u);
  EXPECT_EQ(ClassToNPages(0), 0u);
}

TEST(SizeClassesTest, SpotValuesMatchGo) {
  EXPECT_EQ(ClassToSize(1), 8u);
  EXPECT_EQ(ClassToSize(2), 16u);
  EXPECT_EQ(ClassToSize(3), 24u);
  EXPECT_EQ(ClassToSize(4), 32u);
  EXPECT_EQ(ClassToSize(5), 48u);
  EXPECT_EQ(ClassToSize(32), 1024u);
  // Grown from 1280 + 128: 11 objects in 2 pages.
  EXPECT_EQ(ClassToSize(35), 1408u);
  EXPECT_EQ(ClassToNPages(35), 2u);
  EXPECT_EQ(ClassToNElems(35), 11u);
  EXPECT_EQ(ClassToSize(52), 9472u);
  EXPECT_EQ(ClassToNPages(52), 7u);
  EXPECT_EQ(ClassToNElems(52), 6u);
  EXPECT_EQ(ClassToSize(65), 27264u);
  EXPECT_EQ(ClassToNPages(65), 10u);
  EXPECT_EQ(ClassToSize(kNumSizeClasses - 1), 32768u);
  EXPECT_EQ(ClassToNPages(kNumSizeClasses - 1), 4u);
  EXPECT_EQ(ClassToNElems(kNumSizeClasses - 1), 1u);
  EXPECT_EQ(ClassToNElems(1), 1024u);
}

TEST(SizeClassesTest, SizeToClassIsSmallestFittingClassForEverySize) {
  for (size_t size = 1; size <= kMaxSmallSize; ++size) {
    const int c = SizeToClass(size);
    ASSERT_EQ(c, LinearSizeToClass(size)) << "size " << size;
    ASSERT_GE(c, 1) << "size " << size;
    ASSERT_LT(c, kNumSizeClasses) << "size " << size;
  }
}

TEST(SizeClassesTest, RoundingNeverShrinksAndIsIdempotent) {
  for (size_t size = 1; size <= kMaxSmallSize; ++size) {
    const size_t rounded = RoundUpSize(size);
    ASSERT_GE(rounded, size) << "size " << size;
    ASSERT_EQ(RoundUpSize(rounded), rounded) << "size " << size;
    // A class size rounds to itself, so the class below must be too small.
    const int c = SizeToClass(size);
    ASSERT_LT(ClassToSize(c - 1), size) << "size " << size;
  }
}

TEST(SizeClassesTest, SizesIncreaseAndAreAligned) {
  for (int c = 1; c < kNumSizeClasses; ++c) {
    const uint32_t size = ClassToSize(c);
    EXPECT_GT(size, ClassToSize(c - 1)) << "class " << c;
    EXPECT_EQ(size % 8, 0u) << "class " << c;
    // Slots of 32 bytes and more are 16-byte aligned (24 is the one class
    // of 16 bytes or more that is not a multiple of 16, as in Go).
    if (size >= 32) {
      EXPECT_EQ(size % 16, 0u) << "class " << c;
    }
    // The coarse lookup steps by 128 bytes above 1 KiB.
    if (size > kSmallSizeMax) {
      EXPECT_EQ(size % kLargeSizeDiv, 0u) << "class " << c;
    }
  }
}

TEST(SizeClassesTest, SpansWasteAtMostAnEighth) {
  for (int c = 1; c < kNumSizeClasses; ++c) {
    const uint32_t span = SpanBytes(c);
    EXPECT_GE(ClassToNPages(c), 1u) << "class " << c;
    EXPECT_LE(span % ClassToSize(c), span / 8) << "class " << c;
  }
}

TEST(SizeClassesTest, NElemsIsObjectsPerSpan) {
  for (int c = 1; c < kNumSizeClasses; ++c) {
    EXPECT_EQ(ClassToNElems(c), SpanBytes(c) / ClassToSize(c)) << "class " << c;
  }
}

TEST(SizeClassesTest, DivMagicDividesEveryOffsetInTheSpan) {
  for (int c = 1; c < kNumSizeClasses; ++c) {
    const uint32_t size = ClassToSize(c);
    EXPECT_EQ(kClassDivMagic[c], ~uint32_t{0} / size + 1) << "class " << c;
    for (uint32_t n = 0; n < SpanBytes(c); ++n) {
      ASSERT_EQ(SlotIndex(c, n), n / size) << "class " << c << " offset " << n;
    }
    // One past the last byte gives the slot count, as an end pointer should.
    EXPECT_EQ(SlotIndex(c, SpanBytes(c)), SpanBytes(c) / size);
  }
}

}  // namespace
}  // namespace gc::alloc
