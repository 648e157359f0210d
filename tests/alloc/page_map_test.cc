// Tests of the page-to-span map (alloc/page_map.h): lookups in a map of
// the test's own (entries are only pointers to Span records, so the
// addresses are made up and never touched), leaves across a 2 GiB leaf
// boundary, the released bitmap; and the heap's own map, where every page
// of an in-use span leads back to it.
#include "gcrt/alloc/page_map.h"

#include <cstdint>
#include <memory>

#include "gcrt/alloc/heap.h"
#include "gcrt/alloc/size_classes.h"
#include "gcrt/alloc/span.h"
#include "gcrt/runtime/mutex.h"
#include "gtest/gtest.h"

namespace gc::alloc {
namespace {

constexpr uintptr_t kLeafBytes = PageMap::kLeafEntries << kPageShift;  // 2 GiB
static_assert(kLeafBytes == uintptr_t{2} << 30);

// An address inside the 48-bit space, far from the heap's arenas, at the
// start of a leaf.
constexpr uintptr_t kBase = uintptr_t{0x5000} << 32;
static_assert(kBase % kLeafBytes == 0);

uintptr_t Page(uintptr_t base, uintptr_t i) { return base + (i << kPageShift); }

// The maps are 1 MiB each (the root): on the heap, made zero.
std::unique_ptr<PageMap> NewMap() { return std::make_unique<PageMap>(); }

// A private map's "heap lock": the *Locked functions require one.
runtime::Mutex g_map_mu;

TEST(PageMapTest, AnAddressWithNoLeafOrPastFortyEightBitsMapsToNothing) {
  runtime::MutexLock lock(&g_map_mu);
  auto map = NewMap();
  EXPECT_EQ(map->Lookup(0), nullptr);
  EXPECT_EQ(map->Lookup(kBase), nullptr);
  EXPECT_EQ(map->Lookup(uintptr_t{1} << PageMap::kAddressBits), nullptr);
  EXPECT_EQ(map->Lookup(~uintptr_t{0}), nullptr);
  map->EnsureLocked(g_map_mu, kBase, kPageSize);
  EXPECT_EQ(map->Lookup(kBase), nullptr) << "a new leaf maps nothing";
  EXPECT_EQ(map->Lookup(kBase + kLeafBytes - 1), nullptr);
  EXPECT_EQ(map->Lookup(kBase + kLeafBytes), nullptr) << "the next leaf";
}

TEST(PageMapTest, EveryByteOfASetPageMapsToItsSpanAndNoOtherPageDoes) {
  runtime::MutexLock lock(&g_map_mu);
  auto map = NewMap();
  Span a, b;
  const uintptr_t at = Page(kBase, 100);
  map->EnsureLocked(g_map_mu, at, 3 * kPageSize);
  for (uintptr_t i = 0; i < 2; i++) map->Set(Page(at, i), &a);
  map->Set(Page(at, 2), &b);
  for (uintptr_t i = 0; i < 2; i++) {
    EXPECT_EQ(map->Lookup(Page(at, i)), &a);
    EXPECT_EQ(map->Lookup(Page(at, i) + kPageSize / 2), &a);
    EXPECT_EQ(map->Lookup(Page(at, i) + kPageSize - 1), &a);
  }
  EXPECT_EQ(map->Lookup(Page(at, 2)), &b);
  EXPECT_EQ(map->Lookup(Page(at, 2) - 1), &a);
  EXPECT_EQ(map->Lookup(Page(at, 3)), nullptr);
  EXPECT_EQ(map->Lookup(at - 1), nullptr);
  // Entries are overwritten, and cleared with null.
  map->Set(Page(at, 1), &b);
  EXPECT_EQ(map->Lookup(Page(at, 1)), &b);
  map->Set(Page(at, 0), nullptr);
  EXPECT_EQ(map->Lookup(Page(at, 0)), nullptr);
  EXPECT_EQ(map->Lookup(Page(at, 1)), &b);
}

TEST(PageMapTest, ARangeAcrossALeafBoundaryGetsBothLeaves) {
  runtime::MutexLock lock(&g_map_mu);
  auto map = NewMap();
  Span s;
  // Four pages: two at the end of one leaf, two at the start of the next.
  const uintptr_t at = kBase + kLeafBytes - 2 * kPageSize;
  map->EnsureLocked(g_map_mu, at, 4 * kPageSize);
  for (uintptr_t i = 0; i < 4; i++) map->Set(Page(at, i), &s);
  for (uintptr_t i = 0; i < 4; i++) {
    EXPECT_EQ(map->Lookup(Page(at, i) + 8), &s) << "page " << i;
  }
  EXPECT_EQ(map->Lookup(Page(at, 4)), nullptr);
  EXPECT_EQ(map->Lookup(at - 1), nullptr);
  // Two leaves, not one seen twice: the pages at the same indices in the
  // other leaf map nothing.
  EXPECT_EQ(map->Lookup(kBase), nullptr);
  EXPECT_EQ(map->Lookup(kBase + 2 * kLeafBytes - 2 * kPageSize), nullptr);
  // Ensuring again keeps the entries (no leaf is replaced).
  map->EnsureLocked(g_map_mu, at, 4 * kPageSize);
  EXPECT_EQ(map->Lookup(Page(at, 3)), &s);
}

TEST(PageMapTest, ReleasedBitsAreCountedAndClearedPerPageAcrossWords) {
  runtime::MutexLock lock(&g_map_mu);
  auto map = NewMap();
  // 200 pages from page 37 of a leaf: the run starts and ends inside a
  // 64-page word of the bitmap and covers whole words between.
  const uintptr_t at = Page(kBase, 37);
  map->EnsureLocked(g_map_mu, at, 200 * kPageSize);
  EXPECT_EQ(map->CountReleasedLocked(g_map_mu, at, 200), 0u)
      << "a new leaf is clear";
  map->MarkReleasedLocked(g_map_mu, at, 200, true);
  EXPECT_EQ(map->CountReleasedLocked(g_map_mu, at, 200), 200u);
  EXPECT_EQ(map->CountReleasedLocked(g_map_mu, at - kPageSize, 202), 200u)
      << "the pages either side are not released";
  EXPECT_FALSE(map->ReleasedLocked(g_map_mu, at - kPageSize));
  EXPECT_TRUE(map->ReleasedLocked(g_map_mu, at));
  EXPECT_TRUE(map->ReleasedLocked(g_map_mu, Page(at, 199)));
  EXPECT_FALSE(map->ReleasedLocked(g_map_mu, Page(at, 200)));

  // Clearing pages 20..89 of the run (across a word boundary) leaves 130.
  map->MarkReleasedLocked(g_map_mu, Page(at, 20), 70, false);
  EXPECT_EQ(map->CountReleasedLocked(g_map_mu, at, 200), 130u);
  EXPECT_EQ(map->CountReleasedLocked(g_map_mu, Page(at, 20), 70), 0u);
  EXPECT_EQ(map->CountReleasedLocked(g_map_mu, at, 20), 20u);
  EXPECT_EQ(map->CountReleasedLocked(g_map_mu, Page(at, 90), 110), 110u);
  for (uintptr_t i = 0; i < 200; i++) {
    ASSERT_EQ(map->ReleasedLocked(g_map_mu, Page(at, i)), i < 20 || i >= 90)
        << i;
  }
  // The bits are the map's alone: no entry was set.
  EXPECT_EQ(map->Lookup(at), nullptr);
}

TEST(PageMapTest, TheHeapMapsEveryPageOfAnInUseSpanToIt) {
  constexpr TypeInfo kBytes = {"bytes", 1,       1, true,
                               nullptr, nullptr, 0, nullptr};
  // A large object of 5 pages and a page of small objects.
  void* large = Allocate(&kBytes, 4 * kPageSize + 100);
  void* small = Allocate(&kBytes, 64);
  PageHeap& pages = Heap::Get().pages();
  Span* ls = SpanOf(large);
  ASSERT_NE(ls, nullptr);
  ASSERT_EQ(ls->npages, 5u);
  for (uintptr_t i = 0; i < ls->npages; i++) {
    EXPECT_EQ(pages.Lookup(Page(ls->base, i)), ls) << "page " << i;
    EXPECT_EQ(pages.LookupInUse(Page(ls->base, i) + kPageSize - 1), ls);
  }
  Span* ss = SpanOf(small);
  ASSERT_NE(ss, nullptr);
  EXPECT_NE(ss, ls);
  for (uintptr_t i = 0; i < ss->npages; i++) {
    EXPECT_EQ(pages.LookupInUse(Page(ss->base, i)), ss);
  }
  // Freed, its pages are in no in-use span: LookupInUse sees through the
  // free span's (or stale) entries they keep.
  const uintptr_t base = ls->base;
  Free(large);
  for (uintptr_t i = 0; i < 5; i++) {
    EXPECT_EQ(pages.LookupInUse(Page(base, i)), nullptr) << "page " << i;
  }
  Free(small);
}

}  // namespace
}  // namespace gc::alloc
