// PageCache (alloc/page_heap.h): a processor's private run of pages that
// its refills cut spans from without the heap lock.
#include <memory>
#include <random>
#include <set>
#include <vector>

#include "gcrt/alloc/page_heap.h"
#include "gtest/gtest.h"

namespace gc::alloc {
namespace {

// Heaps are kept for the life of the test binary, reachable from a global
// (so LeakSanitizer does not count them): a PageHeap lives for the process.
std::vector<PageHeap*>* g_heaps = new std::vector<PageHeap*>();
PageHeap* NewHeap() {
  g_heaps->push_back(new PageHeap());
  return g_heaps->back();
}

void Publish(Span* s) { s->state.store(SpanState::kInUse); }

TEST(PageCacheTest, CutsSpansFromOneRunAndKeepsTheHeapConsistent) {
  PageHeap* heap = NewHeap();
  PageCache pc;
  std::vector<Span*> held;
  Span* out[8];
  bool needzero[8];
  ASSERT_EQ(heap->AllocSpansCached(&pc, 1, 8, out, needzero), 8u);
  ASSERT_NE(pc.run, nullptr);
  const uintptr_t run_base = out[0]->base;
  for (size_t i = 0; i < 8; i++) {
    EXPECT_EQ(out[i]->npages, 1u);
    EXPECT_EQ(out[i]->base, run_base + i * kPageSize) << "cut in order";
    EXPECT_EQ(heap->Lookup(out[i]->base), out[i]);
    Publish(out[i]);
    held.push_back(out[i]);
  }
  EXPECT_EQ(pc.run->base, run_base + 8 * kPageSize);
  EXPECT_EQ(pc.run->npages, PageCache::kPages - 8);
  EXPECT_TRUE(heap->Verify());
  // The run counts as in use: 64 pages, whatever has been cut from it.
  EXPECT_EQ(heap->ReadStats().inuse_bytes, PageCache::kPages * kPageSize);

  // Use it up: the next cut refills from the heap.
  for (int k = 0; k < 7; k++) {
    ASSERT_EQ(heap->AllocSpansCached(&pc, 1, 8, out, needzero), 8u);
    for (Span* s : out) {
      Publish(s);
      held.push_back(s);
    }
  }
  EXPECT_EQ(pc.run, nullptr) << "64 pages cut into 64 spans";
  ASSERT_EQ(heap->AllocSpansCached(&pc, 2, 4, out, needzero), 4u);
  for (size_t i = 0; i < 4; i++) {
    Publish(out[i]);
    held.push_back(out[i]);
  }
  ASSERT_NE(pc.run, nullptr);
  EXPECT_TRUE(heap->Verify());

  // Spans never overlap.
  std::set<uintptr_t> pages;
  for (Span* s : held) {
    for (uint32_t p = 0; p < s->npages; p++) {
      EXPECT_TRUE(pages.insert(s->base + p * kPageSize).second);
    }
  }
  // Free everything and the run: the heap is one free region again.
  for (Span* s : held) heap->FreeSpan(s);
  heap->ReleasePageCache(&pc);
  EXPECT_EQ(pc.run, nullptr);
  EXPECT_EQ(pc.nrecords, 0u);
  EXPECT_TRUE(heap->Verify());
  PageHeap::Stats st = heap->ReadStats();
  EXPECT_EQ(st.inuse_bytes, 0u);
  EXPECT_EQ(st.idle_bytes, st.sys_bytes);
}

TEST(PageCacheTest, RandomCutsAndFreesWithVerify) {
  PageHeap* heap = NewHeap();
  PageCache pcs[2];
  std::mt19937 rng(42);
  std::vector<Span*> held;
  for (int step = 0; step < 3000; step++) {
    SCOPED_TRACE("step " + std::to_string(step));
    if (held.empty() || rng() % 3 != 0) {
      uint32_t npages = 1 + rng() % 4;
      size_t count = 1 + rng() % (8 / npages + 1);
      Span* out[16];
      bool needzero[16];
      size_t n =
          heap->AllocSpansCached(&pcs[rng() % 2], npages, count, out, needzero);
      ASSERT_GE(n, 1u);  // up to count: a fragmented heap may give fewer
      ASSERT_LE(n, count);
      for (size_t i = 0; i < n; i++) {
        ASSERT_EQ(out[i]->npages, npages);
        Publish(out[i]);
        held.push_back(out[i]);
      }
    } else {
      size_t i = rng() % held.size();
      heap->FreeSpan(held[i]);
      held[i] = held.back();
      held.pop_back();
    }
    if (step % 500 == 0) heap->ReleasePageCache(&pcs[rng() % 2]);
    ASSERT_TRUE(heap->Verify());
  }
  for (Span* s : held) heap->FreeSpan(s);
  for (PageCache& pc : pcs) heap->ReleasePageCache(&pc);
  ASSERT_TRUE(heap->Verify());
  EXPECT_EQ(heap->ReadStats().inuse_bytes, 0u);
}

TEST(PageCacheTest, FragmentedHeapServesRefillsFromItsPiecesInsteadOfGrowing) {
  PageHeap* heap = NewHeap();
  // Every committed page in use, in one-page spans; then every other one
  // freed: half the heap is free, in pieces no 512 KiB run can come from.
  std::vector<Span*> spans;
  do {
    bool zero;
    Span* s = heap->AllocSpan(1, &zero);
    Publish(s);
    spans.push_back(s);
  } while (heap->ReadStats().idle_bytes > 0 || spans.size() < 1024);
  std::sort(spans.begin(), spans.end(),
            [](Span* a, Span* b) { return a->base < b->base; });
  std::vector<Span*> held;
  for (size_t i = 0; i < spans.size(); i++) {
    if (i % 2 == 0) {
      heap->FreeSpan(spans[i]);
    } else {
      held.push_back(spans[i]);
    }
  }
  const PageHeap::Stats before = heap->ReadStats();
  ASSERT_GE(before.idle_bytes, 512u << kPageShift);
  PageCache pc;
  for (int i = 0; i < 256; i++) {
    Span* out[2];
    bool needzero[2];
    size_t n = heap->AllocSpansCached(&pc, 1, 2, out, needzero);
    ASSERT_GE(n, 1u);
    for (size_t k = 0; k < n; k++) {
      Publish(out[k]);
      held.push_back(out[k]);
    }
  }
  EXPECT_EQ(heap->ReadStats().sys_bytes, before.sys_bytes)
      << "the refills took the free pieces, not new memory";
  ASSERT_TRUE(heap->Verify());
  for (Span* s : held) heap->FreeSpan(s);
  heap->ReleasePageCache(&pc);
  ASSERT_TRUE(heap->Verify());
}

}  // namespace
}  // namespace gc::alloc
