// Tests of the Span (alloc/span.h) on its own: span classes, slot
// arithmetic, the allocation state (the cache word, alloc bits and counts
// the fast path and the Central keep), the IsValid walk, and span lists.
// The spans are made by hand at a made-up address: none of this touches a
// span's memory.
#include "gcrt/alloc/span.h"

#include <bit>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <vector>

#include "gcrt/alloc/size_classes.h"
#include "gtest/gtest.h"

namespace gc::alloc {
namespace {

// A span of class `sizeclass`, in use, with bits of its own and nothing
// allocated, as the heap makes one (Heap::NewSmallSpans).
class HandMadeSpan {
 public:
  explicit HandMadeSpan(int sizeclass)
      : alloc_((ClassToNElems(sizeclass) + 63) / 64, 0),
        mark_(alloc_.size(), 0) {
    // Real memory: freeing a slot poisons it for AddressSanitizer.
    memory_ =
        std::aligned_alloc(kPageSize, ClassToNPages(sizeclass) * kPageSize);
    s.base = reinterpret_cast<uintptr_t>(memory_);
    s.npages = ClassToNPages(sizeclass);
    s.span_class = MakeSpanClass(sizeclass, /*noscan=*/true);
    s.elem_size = ClassToSize(sizeclass);
    s.nelems = ClassToNElems(sizeclass);
    s.nwords = static_cast<uint32_t>(alloc_.size());
    s.div_magic = kClassDivMagic[sizeclass];
    s.alloc_bits = alloc_.data();
    s.mark_bits = mark_.data();
    s.ResetAllocState();
    s.state.store(SpanState::kInUse, std::memory_order_release);
  }

  // The slot the fast path hands out next: the lowest free slot of the
  // cache word, loading the next word with a free slot when it is used up.
  // nelems when the span is full.
  uint32_t Take() {
    if (s.alloc_cache == 0 && !s.LoadNextCacheWord()) return s.nelems;
    const uint32_t bit = std::countr_zero(s.alloc_cache);
    s.alloc_cache &= s.alloc_cache - 1;
    return s.cache_word * 64 + bit;
  }

  ~HandMadeSpan() {
    GCRT_ASAN_UNPOISON(memory_, s.npages * kPageSize);
    std::free(memory_);
  }
  HandMadeSpan(const HandMadeSpan&) = delete;
  HandMadeSpan& operator=(const HandMadeSpan&) = delete;

  Span s;

 private:
  void* memory_;
  std::vector<uint64_t> alloc_;
  std::vector<uint64_t> mark_;
};

// 48-byte objects: 170 slots in one page, three words of bits, the last
// one partly past nelems.
constexpr int kClass48 = SizeToClass(48);
static_assert(ClassToSize(kClass48) == 48 && ClassToNElems(kClass48) == 170);

TEST(SpanTest, SpanClassPacksTheSizeClassAndTheNoscanBit) {
  for (int c = 1; c < kNumSizeClasses; c++) {
    for (bool noscan : {false, true}) {
      const SpanClass sc = MakeSpanClass(c, noscan);
      EXPECT_EQ(SpanClassSizeClass(sc), c);
      EXPECT_EQ(SpanClassNoScan(sc), noscan);
      EXPECT_NE(sc, kTinySpanClass);
    }
  }
  // The tiny allocator's blocks have a class of their own: 16-byte slots,
  // pointer-free.
  EXPECT_EQ(SpanClassSizeClass(kTinySpanClass), kTinySizeClass);
  EXPECT_EQ(ClassToSize(kTinySizeClass), 16u);
  EXPECT_TRUE(SpanClassNoScan(kTinySpanClass));
  EXPECT_LT(int{kTinySpanClass}, kNumSpanClasses);
  // Size class 0 is a large object.
  Span large;
  large.span_class = MakeSpanClass(0, true);
  EXPECT_TRUE(large.large());
}

TEST(SpanTest, SlotIndexFindsTheSlotOfEveryByteOfEverySlot) {
  for (int c = 1; c < kNumSizeClasses; c++) {
    HandMadeSpan h(c);
    const Span& s = h.s;
    SCOPED_TRACE("class " + std::to_string(c));
    EXPECT_LE(uint64_t{s.nelems} * s.elem_size, uint64_t{s.npages} * kPageSize);
    for (uint32_t slot = 0; slot < s.nelems; slot++) {
      const uintptr_t first = s.SlotAddress(slot);
      ASSERT_EQ(first, s.base + uintptr_t{slot} * s.elem_size);
      ASSERT_EQ(s.SlotIndex(first), slot);
      ASSERT_EQ(s.SlotIndex(first + s.elem_size / 2), slot);
      ASSERT_EQ(s.SlotIndex(first + s.elem_size - 1), slot);
      ASSERT_TRUE(s.Contains(first + s.elem_size - 1));
    }
    EXPECT_FALSE(s.Contains(s.limit()));
    EXPECT_FALSE(s.Contains(s.base - 1));
  }
}

TEST(SpanTest, ValidMaskCoversOnlySlotsBelowNelems) {
  HandMadeSpan h(kClass48);
  const Span& s = h.s;
  ASSERT_EQ(s.nwords, 3u);
  EXPECT_EQ(s.ValidMask(0), ~uint64_t{0});
  EXPECT_EQ(s.ValidMask(1), ~uint64_t{0});
  EXPECT_EQ(s.ValidMask(2), (uint64_t{1} << (170 - 128)) - 1);
}

TEST(SpanTest, SlotsAreHandedOutLowestFirstAndCountedOnceWrittenBack) {
  HandMadeSpan h(kClass48);
  Span& s = h.s;
  EXPECT_EQ(s.alloc_count, 0u);
  EXPECT_EQ(s.cache_word, s.nwords) << "no word loaded";
  EXPECT_TRUE(s.IsValid());

  for (uint32_t i = 0; i < 10; i++) ASSERT_EQ(h.Take(), i);
  EXPECT_EQ(s.cache_word, 0u);
  EXPECT_EQ(s.cache_addr, s.base);
  for (uint32_t i = 0; i < 10; i++) EXPECT_TRUE(s.IsAllocated(i)) << i;
  EXPECT_FALSE(s.IsAllocated(10));
  EXPECT_EQ(s.CountAllocated(), 10u) << "exact with a word loaded";
  EXPECT_EQ(s.alloc_count, 0u) << "the cache word's handouts are pending";
  EXPECT_TRUE(s.IsValid());

  s.WriteBackCacheWord();
  EXPECT_EQ(s.alloc_bits[0], (uint64_t{1} << 10) - 1);
  EXPECT_EQ(s.alloc_count, 10u);
  EXPECT_EQ(s.cache_word, s.nwords);
  EXPECT_EQ(s.alloc_cache, 0u);
  EXPECT_TRUE(s.IsValid());
}

TEST(SpanTest, AFreedSlotComesBackBeforeTheSlotsAboveIt) {
  HandMadeSpan h(kClass48);
  Span& s = h.s;
  for (uint32_t i = 0; i < 100; i++) ASSERT_EQ(h.Take(), i);  // into word 1
  ASSERT_EQ(s.cache_word, 1u);
  // A slot of the loaded word goes straight back to the fast path.
  s.FreeSlot(70);
  EXPECT_FALSE(s.IsAllocated(70));
  EXPECT_TRUE(s.needzero) << "a freed slot holds its old bytes";
  EXPECT_EQ(h.Take(), 70u);
  // A slot of a written-back word is freed in the bits, and free_word
  // moves down to it: after the loaded word is used up, it comes back
  // before anything above.
  s.FreeSlot(5);
  EXPECT_FALSE(s.IsAllocated(5));
  EXPECT_EQ(s.free_word, 0u);
  EXPECT_EQ(s.alloc_count, 63u) << "word 0 written back, less the free";
  EXPECT_TRUE(s.IsValid());
  for (uint32_t i = 100; i < 128; i++) ASSERT_EQ(h.Take(), i);
  EXPECT_EQ(h.Take(), 5u);
  EXPECT_EQ(h.Take(), 128u);
  EXPECT_TRUE(s.IsValid());
}

TEST(SpanTest, AFullSpanLoadsNoWord) {
  HandMadeSpan h(kClass48);
  Span& s = h.s;
  for (uint32_t i = 0; i < s.nelems; i++) ASSERT_EQ(h.Take(), i);
  EXPECT_EQ(h.Take(), s.nelems) << "full";
  EXPECT_FALSE(s.LoadNextCacheWord());
  EXPECT_EQ(s.free_word, s.nwords);
  EXPECT_EQ(s.alloc_count, s.nelems);
  EXPECT_EQ(s.CountAllocated(), s.nelems);
  EXPECT_EQ(s.alloc_bits[2], s.ValidMask(2)) << "no bit past nelems";
  EXPECT_TRUE(s.IsValid());
  // ResetAllocState recounts from the bits (as after a sweep).
  s.alloc_bits[1] = 0;
  s.ResetAllocState();
  EXPECT_EQ(s.alloc_count, s.nelems - 64);
  EXPECT_EQ(s.free_word, 0u);
  EXPECT_EQ(h.Take(), 64u);
  EXPECT_TRUE(s.IsValid());
}

TEST(SpanTest, IsValidCatchesEachBrokenInvariant) {
  HandMadeSpan h(kClass48);
  Span& s = h.s;
  for (int i = 0; i < 80; i++) h.Take();
  ASSERT_TRUE(s.IsValid());

  s.state.store(SpanState::kFree);
  EXPECT_FALSE(s.IsValid()) << "not in use";
  s.state.store(SpanState::kInUse);

  s.alloc_bits[2] |= uint64_t{1} << 63;  // slot 191 of 170
  EXPECT_FALSE(s.IsValid()) << "alloc bit past nelems";
  s.alloc_bits[2] &= ~(uint64_t{1} << 63);

  s.alloc_count++;
  EXPECT_FALSE(s.IsValid()) << "alloc_count";
  s.alloc_count--;

  s.cache_addr += s.elem_size;
  EXPECT_FALSE(s.IsValid()) << "cache_addr";
  s.cache_addr -= s.elem_size;

  s.WriteBackCacheWord();
  s.alloc_bits[0] &= ~uint64_t{1};  // a hole below free_word (word 1)
  s.alloc_count--;
  EXPECT_FALSE(s.IsValid()) << "word below free_word not full";
  s.alloc_bits[0] |= 1;
  s.alloc_count++;

  s.alloc_cache = 1;  // handouts without a word loaded
  EXPECT_FALSE(s.IsValid()) << "alloc_cache without a word";
  s.alloc_cache = 0;

  EXPECT_TRUE(s.IsValid()) << "every break undone";
}

TEST(SpanListTest, PushRemoveAndCountKeepBothEndsLinked) {
  Span a, b, c, d;
  SpanList list;
  EXPECT_TRUE(list.empty());
  EXPECT_EQ(list.size(), 0u);
  EXPECT_EQ(list.CountByWalking(), 0u);
  list.PushFront(&b);
  list.PushFront(&a);
  list.PushBack(&c);
  list.PushBack(&d);
  EXPECT_EQ(list.size(), 4u);
  EXPECT_EQ(list.CountByWalking(), 4u);
  EXPECT_EQ(list.first(), &a);
  EXPECT_EQ(a.next, &b);
  EXPECT_EQ(b.next, &c);
  EXPECT_EQ(c.next, &d);
  EXPECT_EQ(d.prev, &c);

  list.Remove(&b);  // the middle
  EXPECT_EQ(b.next, nullptr);
  EXPECT_EQ(b.prev, nullptr);
  EXPECT_EQ(a.next, &c);
  EXPECT_EQ(c.prev, &a);
  list.Remove(&a);  // the first
  EXPECT_EQ(list.first(), &c);
  EXPECT_EQ(c.prev, nullptr);
  list.Remove(&d);  // the last
  EXPECT_EQ(c.next, nullptr);
  list.PushBack(&a);  // the last end moved back to c
  EXPECT_EQ(c.next, &a);
  EXPECT_EQ(a.prev, &c);
  EXPECT_EQ(list.size(), 2u);
  EXPECT_EQ(list.CountByWalking(), 2u);
  list.Remove(&c);
  list.Remove(&a);
  EXPECT_TRUE(list.empty());
  EXPECT_EQ(list.size(), 0u);
  EXPECT_EQ(list.CountByWalking(), 0u);
}

}  // namespace
}  // namespace gc::alloc
