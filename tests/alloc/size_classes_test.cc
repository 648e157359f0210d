// Property tests of the size-class table (alloc/size_classes.h) over every
// small size, plus spot checks against Go 1.19's runtime/sizeclasses.go,
// whose rounding and packing the allocator means to reproduce; and of
// SizeClassForAligned (alloc/heap.h), the class choice for aligned types.
#include "gcrt/alloc/size_classes.h"

#include <cstddef>
#include <cstdint>
#include <exception>
#include <iterator>
#include <string>
#include <vector>

#include "gcrt/alloc/heap.h"
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
static_assert(SizeToClass(8) == 1 && SizeToClass(9) == 2);
static_assert(SizeToClass(1024) == 32 && SizeToClass(1025) == 33);
static_assert(ClassToSize(SizeToClass(24)) == 24);

// The whole lookup, evaluated by the compiler: every size fits its class and
// not the one below.
constexpr bool EverySizeFitsItsClassAtCompileTime() {
  for (size_t size = 1; size <= kMaxSmallSize; ++size) {
    const int c = SizeToClass(size);
    if (c < 1 || c >= kNumSizeClasses) return false;
    if (ClassToSize(c) < size || ClassToSize(c - 1) >= size) return false;
  }
  return true;
}
static_assert(EverySizeFitsItsClassAtCompileTime());
static_assert(SizeClassForAligned(40, 64) == 6);  // 64 bytes
static_assert(SizeClassForAligned(5000, 4096) == SizeToClass(8192));

// Go 1.19, src/runtime/sizeclasses.go: class_to_size, class_to_allocnpages.
constexpr uint32_t kGoClassToSize[] = {
    0,     8,     16,    24,    32,    48,    64,    80,    96,    112,
    128,   144,   160,   176,   192,   208,   224,   240,   256,   288,
    320,   352,   384,   416,   448,   480,   512,   576,   640,   704,
    768,   896,   1024,  1152,  1280,  1408,  1536,  1792,  2048,  2304,
    2688,  3072,  3200,  3456,  4096,  4864,  5376,  6144,  6528,  6784,
    6912,  8192,  9472,  9728,  10240, 10880, 12288, 13568, 14336, 16384,
    18432, 19072, 20480, 21760, 24576, 27264, 28672, 32768};
constexpr uint32_t kGoClassToNPages[] = {
    0, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,  1, 1, 1,
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 2, 1, 2, 1, 2, 1, 3, 2,  3, 1, 3,
    2, 3, 4, 5, 6, 1, 7, 6, 5, 4, 3, 5, 7, 2, 9, 7, 5, 8, 3, 10, 7, 4};
static_assert(std::size(kGoClassToSize) == 68);
static_assert(std::size(kGoClassToNPages) == 68);

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

TEST(SizeClassesTest, WholeTableMatchesGo119) {
  ASSERT_EQ(kNumSizeClasses, static_cast<int>(std::size(kGoClassToSize)));
  for (int c = 0; c < kNumSizeClasses; ++c) {
    EXPECT_EQ(ClassToSize(c), kGoClassToSize[c]) << "class " << c;
    EXPECT_EQ(ClassToNPages(c), kGoClassToNPages[c]) << "class " << c;
  }
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

// ---- SizeClassForAligned (alloc/heap.h) ----

// The reference: the smallest class holding `size` whose size is a multiple
// of `align`, or 0.
int LinearSizeClassForAligned(size_t size, size_t align) {
  if (size == 0 || size > kMaxSmallSize) return 0;
  for (int c = 1; c < kNumSizeClasses; ++c) {
    if (ClassToSize(c) >= size && ClassToSize(c) % align == 0) return c;
  }
  return 0;
}

TEST(SizeClassForAlignedTest, PicksSmallestClassThatIsAMultipleOfAlign) {
  for (size_t align : {1, 2, 4, 8, 16, 32, 64, 128, 256, 4096}) {
    for (size_t size = 1; size <= kMaxSmallSize; ++size) {
      const int c = SizeClassForAligned(size, align);
      ASSERT_EQ(c, LinearSizeClassForAligned(size, align))
          << "size " << size << " align " << align;
      // Every size up to 32 KiB has such a class for these alignments (the
      // power-of-two classes up to 8 KiB are multiples of all of them).
      ASSERT_GT(c, 0) << "size " << size << " align " << align;
      ASSERT_GE(ClassToSize(c), size) << "size " << size << " align " << align;
      ASSERT_EQ(ClassToSize(c) % align, 0u)
          << "size " << size << " align " << align;
      // No smaller class would do.
      for (int d = SizeToClass(size); d < c; ++d) {
        ASSERT_NE(ClassToSize(d) % align, 0u)
            << "size " << size << " align " << align << ": class " << d
            << " fits and is aligned, but class " << c << " was chosen";
      }
    }
  }
}

TEST(SizeClassForAlignedTest, AtMostEightByteAlignmentIsPlainRounding) {
  for (size_t align : {1, 2, 4, 8}) {
    for (size_t size = 1; size <= kMaxSmallSize; ++size) {
      ASSERT_EQ(SizeClassForAligned(size, align), SizeToClass(size))
          << "size " << size << " align " << align;
    }
  }
}

TEST(SizeClassForAlignedTest, ZeroAndLargeSizesHaveNoClass) {
  for (size_t align : {8, 64, 4096}) {
    EXPECT_EQ(SizeClassForAligned(0, align), 0);
    EXPECT_EQ(SizeClassForAligned(kMaxSmallSize + 1, align), 0);
    EXPECT_EQ(SizeClassForAligned(size_t{1} << 40, align), 0);
  }
}

TEST(SizeClassForAlignedTest, SpotValues) {
  EXPECT_EQ(ClassToSize(SizeClassForAligned(24, 16)), 32u);
  EXPECT_EQ(ClassToSize(SizeClassForAligned(48, 32)), 64u);
  EXPECT_EQ(ClassToSize(SizeClassForAligned(130, 128)), 256u);
  EXPECT_EQ(ClassToSize(SizeClassForAligned(1, 4096)), 4096u);
  EXPECT_EQ(ClassToSize(SizeClassForAligned(4097, 4096)), 8192u);
  EXPECT_EQ(ClassToSize(SizeClassForAligned(9000, 4096)), 12288u);
  EXPECT_EQ(ClassToSize(SizeClassForAligned(28673, 4096)), 32768u);
  EXPECT_EQ(ClassToSize(SizeClassForAligned(3073, 128)), 3200u);
  EXPECT_EQ(ClassToSize(SizeClassForAligned(3073, 256)), 4096u);
}

// Slots sit at span base + i * class size, and span bases are only
// guaranteed page (8 KiB) aligned. So a class can promise alignment `align`
// only when align divides both the class size and the page size; past a
// page, no class can, and the answer must be 0.
TEST(SizeClassForAlignedTest, NeverPromisesMoreThanPageAlignment) {
  for (size_t align = 8; align <= 8 * kPageSize; align *= 2) {
    for (size_t size = 1; size <= kMaxSmallSize; size += 1 + size / 64) {
      const int c = SizeClassForAligned(size, align);
      if (c == 0) continue;
      EXPECT_EQ(kPageSize % align, 0u)
          << "SizeClassForAligned(" << size << ", " << align << ") = class "
          << c << " (" << ClassToSize(c)
          << " bytes), whose slots are only as aligned as the span base ("
          << kPageSize << " bytes)";
      if (kPageSize % align != 0) break;  // one report per alignment
    }
  }
}

// End to end: an object of a type aligned past a page, allocated through
// Allocate (which uses SizeClassForAligned for small sizes, and a large span
// otherwise), must be aligned, or the allocation must be refused.
TEST(SizeClassForAlignedTest, AllocateHonoursAlignmentsBeyondAPage) {
  for (uint32_t align : {16384u, 32768u, 65536u}) {
    const TypeInfo type = {"OverAligned", align,   align, true,
                           nullptr,       nullptr, 0,     nullptr};
    int misaligned = 0;
    constexpr int kObjects = 8;
    for (int i = 0; i < kObjects; ++i) {
      void* p = nullptr;
      try {
        p = Allocate(&type, align);
      } catch (const std::exception&) {
        continue;  // refusing is an acceptable answer
      }
      misaligned += reinterpret_cast<uintptr_t>(p) % align != 0;
      Free(p);
    }
    EXPECT_EQ(misaligned, 0)
        << misaligned << " of " << kObjects << " objects of alignment " << align
        << " were misaligned";
  }
}

}  // namespace
}  // namespace gc::alloc
