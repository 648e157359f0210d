// Tests of the page heap (alloc/page_heap.h): span allocation and freeing
// against the heap's own invariant walk (Verify) and an independent model of
// the held spans, coalescing, splitting and best fit, the scavenger, and
// behaviour under huge requests and injected OS failures.
//
// Every test uses a private PageHeap. AllocSpan hands a span back before its
// state is kInUse; the tests publish it (state = kInUse) before FreeSpan, as
// Heap::NewSmallSpans and Heap::AllocateLarge do.
#include "gcrt/alloc/page_heap.h"

#include <sys/mman.h>

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iterator>
#include <map>
#include <memory>
#include <new>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "gcrt/alloc/size_classes.h"
#include "gcrt/alloc/span.h"
#include "gcrt/runtime/os_mem.h"
#include "gtest/gtest.h"

namespace gc::alloc {
namespace {

using runtime::os::FaultKind;
using runtime::os::ResidentBytes;
using runtime::os::SetFailAfterForTesting;

// ThreadSanitizer makes every page-map lookup (an atomic load) costly, and
// the random sequences below do millions of them on one thread, where TSan
// has nothing to find; it runs them shorter.
#if defined(GCRT_TSAN) && GCRT_TSAN
constexpr int kRandomSteps = 6000;
#else
constexpr int kRandomSteps = 20000;
#endif

// A PageHeap is meant to live as long as the process (Heap's never dies):
// it has no destructor that returns its arenas, and a started scavenger
// thread keeps using it. Test heaps are therefore parked here instead of
// being destroyed, which keeps them reachable for LeakSanitizer and alive for
// their scavenger threads. Callers give back their memory first
// (ReleaseAll), so parked heaps hold address space, not RAM.
std::unique_ptr<PageHeap> NewHeap() { return std::make_unique<PageHeap>(); }
void Park(std::unique_ptr<PageHeap> heap) {
  static auto* parked = new std::vector<std::unique_ptr<PageHeap>>;
  heap->ReleaseAll();
  parked->push_back(std::move(heap));
}
// Parks the heap when the test ends, however it ends.
struct HeapHolder {
  std::unique_ptr<PageHeap> heap = NewHeap();
  ~HeapHolder() { Park(std::move(heap)); }
  PageHeap* operator->() const { return heap.get(); }
  PageHeap* get() const { return heap.get(); }
};

// Resets OS fault injection when the test ends, however it ends.
struct FaultReset {
  ~FaultReset() {
    SetFailAfterForTesting(FaultKind::kCommit, 0);
    SetFailAfterForTesting(FaultKind::kReserve, 0);
  }
};

Span* AllocPublished(PageHeap* heap, uint32_t npages,
                     bool* needzero = nullptr) {
  bool nz = false;
  Span* s = heap->AllocSpan(npages, &nz);
  if (needzero != nullptr) *needzero = nz;
  s->state.store(SpanState::kInUse, std::memory_order_release);
  return s;
}

uint64_t SeedFromEnvOr(uint64_t fallback) {
  if (const char* env = std::getenv("GCRT_TEST_SEED")) {
    return std::strtoull(env, nullptr, 0);
  }
  return fallback;
}

// The accounting identities that must hold after any operation.
void ExpectStatsConsistent(PageHeap* heap, uint64_t held_pages) {
  PageHeap::Stats st = heap->ReadStats();
  EXPECT_EQ(st.inuse_bytes, held_pages * kPageSize);
  EXPECT_EQ(st.inuse_bytes + st.idle_bytes, st.sys_bytes);
  EXPECT_EQ(st.sys_bytes % PageHeap::kMinGrowBytes, 0u);
  EXPECT_LE(st.released_bytes, st.idle_bytes);
  EXPECT_LE(st.sys_bytes, st.reserved_bytes);
}

// ---- Random sequences against Verify and a model of the held spans ----

struct Model {
  // base -> the span and the identity it had when handed out.
  struct Entry {
    Span* span;
    uint32_t npages;
  };
  std::map<uintptr_t, Entry> held;
  uint64_t held_pages = 0;
};

// Checks that a held span still has the identity it was handed out with
// and that every page of it, at its first byte and at an interior byte, maps
// back to it.
::testing::AssertionResult HeldSpanMapsToItself(PageHeap* heap, uintptr_t base,
                                                const Model::Entry& e,
                                                std::mt19937_64& rng) {
  Span* s = e.span;
  if (s->base != base || s->npages != e.npages ||
      s->state.load(std::memory_order_acquire) != SpanState::kInUse) {
    return ::testing::AssertionFailure()
           << "held span at " << base << " (" << e.npages
           << " pages) changed: base " << s->base << ", npages " << s->npages;
  }
  for (uint32_t i = 0; i < e.npages; i++) {
    uintptr_t page = base + uintptr_t{i} * kPageSize;
    uintptr_t interior = page + 1 + rng() % (kPageSize - 1);
    if (heap->Lookup(page) != s || heap->Lookup(interior) != s ||
        heap->LookupInUse(interior) != s) {
      return ::testing::AssertionFailure()
             << "page " << i << " of the held span at " << base
             << " does not map to it";
    }
  }
  return ::testing::AssertionSuccess();
}

::testing::AssertionResult HeldSpansMapToThemselves(PageHeap* heap,
                                                    const Model& model,
                                                    std::mt19937_64& rng) {
  for (const auto& [base, e] : model.held) {
    if (auto r = HeldSpanMapsToItself(heap, base, e, rng); !r) return r;
  }
  return ::testing::AssertionSuccess();
}

void RunRandomSequence(uint64_t seed, int steps) {
  SCOPED_TRACE("seed=" + std::to_string(seed) +
               " (rerun with GCRT_TEST_SEED=" + std::to_string(seed) + ")");
  HeapHolder heap;
  Model model;
  std::mt19937_64 rng(seed);
  constexpr size_t kMaxHeld = 48;
  for (int step = 0; step < steps; step++) {
    SCOPED_TRACE("step " + std::to_string(step));
    bool alloc = model.held.empty() ||
                 (model.held.size() < kMaxHeld && rng() % 100 < 55);
    if (alloc) {
      uint32_t npages = rng() % 100 == 0
                            ? 1000 + static_cast<uint32_t>(rng() % 3000)
                            : 1 + static_cast<uint32_t>(rng() % 300);
      bool needzero = true;
      Span* s = heap->AllocSpan(npages, &needzero);
      ASSERT_NE(s, nullptr);
      ASSERT_EQ(s->npages, npages);
      ASSERT_EQ(s->base % kPageSize, 0u);
      // Carved but not yet published: neither free nor in use.
      ASSERT_EQ(s->state.load(), SpanState::kAllocating);
      ASSERT_EQ(heap->LookupInUse(s->base), nullptr);
      s->state.store(SpanState::kInUse, std::memory_order_release);
      // The new span overlaps neither held neighbour.
      auto next = model.held.lower_bound(s->base);
      if (next != model.held.end()) {
        ASSERT_GE(next->first, s->limit()) << "overlaps the next held span";
      }
      if (next != model.held.begin()) {
        auto prev = std::prev(next);
        ASSERT_LE(prev->first + uintptr_t{prev->second.npages} * kPageSize,
                  s->base)
            << "overlaps the previous held span";
      }
      auto [it, inserted] =
          model.held.emplace(s->base, Model::Entry{s, npages});
      ASSERT_TRUE(inserted) << "a held span has the same base";
      model.held_pages += npages;
      ASSERT_TRUE(HeldSpanMapsToItself(heap.get(), s->base, it->second, rng));
    } else {
      auto it = model.held.begin();
      std::advance(it, rng() % model.held.size());
      Span* s = it->second.span;
      uintptr_t base = it->first;
      uint32_t npages = it->second.npages;
      model.held.erase(it);
      model.held_pages -= npages;
      heap->FreeSpan(s);
      // Nothing we do not hold is in use.
      for (uint32_t i = 0; i < npages; i++) {
        ASSERT_EQ(heap->LookupInUse(base + uintptr_t{i} * kPageSize), nullptr)
            << "page " << i << " of a freed span is still in use";
      }
      // Coalescing left the held neighbours alone.
      auto next = model.held.lower_bound(base);
      if (next != model.held.end()) {
        ASSERT_TRUE(
            HeldSpanMapsToItself(heap.get(), next->first, next->second, rng));
      }
      if (next != model.held.begin()) {
        auto prev = std::prev(next);
        ASSERT_TRUE(
            HeldSpanMapsToItself(heap.get(), prev->first, prev->second, rng));
      }
    }
    ASSERT_TRUE(heap->Verify());
    // Every held span, every few steps (it is the costliest check).
    if (step % 8 == 0) {
      ASSERT_TRUE(HeldSpansMapToThemselves(heap.get(), model, rng));
    }
    ExpectStatsConsistent(heap.get(), model.held_pages);
    if (::testing::Test::HasFailure()) return;
  }
  ASSERT_TRUE(HeldSpansMapToThemselves(heap.get(), model, rng));
  for (auto& [base, e] : model.held) heap->FreeSpan(e.span);
  ASSERT_TRUE(heap->Verify());
  PageHeap::Stats st = heap->ReadStats();
  EXPECT_EQ(st.inuse_bytes, 0u);
  EXPECT_EQ(st.idle_bytes, st.sys_bytes);
}

TEST(PageHeapTest, RandomAllocFreeKeepsInvariantsWithFixedSeed) {
  RunRandomSequence(SeedFromEnvOr(20240601), kRandomSteps);
}

TEST(PageHeapTest, RandomAllocFreeKeepsInvariantsWithFreshSeed) {
  RunRandomSequence(SeedFromEnvOr(std::random_device{}()), kRandomSteps);
}

// ---- Coalescing ----

TEST(PageHeapTest, CoalescesWithBothNeighbours) {
  HeapHolder heap;
  // All four fit in the first 64 KiB growth, one after the other.
  Span* a = AllocPublished(heap.get(), 2);
  Span* b = AllocPublished(heap.get(), 2);
  Span* c = AllocPublished(heap.get(), 2);
  Span* guard = AllocPublished(heap.get(), 1);
  ASSERT_EQ(b->base, a->limit());
  ASSERT_EQ(c->base, b->limit());
  ASSERT_EQ(guard->base, c->limit());
  const uintptr_t base = a->base;
  const uint64_t sys = heap->ReadStats().sys_bytes;

  heap->FreeSpan(b);  // middle: both neighbours in use, nothing to merge
  ASSERT_TRUE(heap->Verify());
  Span* f = heap->Lookup(base + 2 * kPageSize);
  ASSERT_NE(f, nullptr);
  EXPECT_EQ(f->state.load(), SpanState::kFree);
  EXPECT_EQ(f->base, base + 2 * kPageSize);
  EXPECT_EQ(f->npages, 2u);

  heap->FreeSpan(a);  // left: merges with the free middle
  ASSERT_TRUE(heap->Verify());
  f = heap->Lookup(base);
  ASSERT_NE(f, nullptr);
  EXPECT_EQ(f->base, base);
  EXPECT_EQ(f->npages, 4u);

  heap->FreeSpan(c);  // right: merges with the free left+middle
  ASSERT_TRUE(heap->Verify());
  f = heap->Lookup(base);
  ASSERT_NE(f, nullptr);
  EXPECT_EQ(f->state.load(), SpanState::kFree);
  EXPECT_EQ(f->base, base);
  EXPECT_EQ(f->npages, 6u);
  // A free span maps its last page to itself.
  EXPECT_EQ(heap->Lookup(base + 5 * kPageSize), f);
  EXPECT_EQ(heap->LookupInUse(base + 3 * kPageSize), nullptr);
  EXPECT_EQ(heap->LookupInUse(guard->base), guard);

  // The merged span serves a request of the whole size in place.
  Span* whole = AllocPublished(heap.get(), 6);
  EXPECT_EQ(whole->base, base);
  EXPECT_EQ(heap->ReadStats().sys_bytes, sys);
  ASSERT_TRUE(heap->Verify());
  heap->FreeSpan(whole);
  heap->FreeSpan(guard);
  ASSERT_TRUE(heap->Verify());
}

TEST(PageHeapTest, FreeingEverythingCoalescesTheHeapIntoOneFreeSpan) {
  HeapHolder heap;
  std::vector<Span*> spans;
  for (uint32_t n : {3u, 17u, 129u, 1u, 250u, 8u, 64u}) {
    spans.push_back(AllocPublished(heap.get(), n));
  }
  const uintptr_t first_base = spans[0]->base;
  // Free in an order that exercises left, right and both-sided merges.
  for (size_t i : {1u, 5u, 3u, 0u, 6u, 2u, 4u}) heap->FreeSpan(spans[i]);
  ASSERT_TRUE(heap->Verify());
  PageHeap::Stats st = heap->ReadStats();
  EXPECT_EQ(st.inuse_bytes, 0u);
  // All growths came from one arena, contiguously: one free span covers it.
  Span* f = heap->Lookup(first_base);
  ASSERT_NE(f, nullptr);
  EXPECT_EQ(f->state.load(), SpanState::kFree);
  EXPECT_EQ(uint64_t{f->npages} * kPageSize, st.sys_bytes);
  Span* all = AllocPublished(heap.get(),
                             static_cast<uint32_t>(st.sys_bytes / kPageSize));
  EXPECT_EQ(all->base, first_base);
  EXPECT_EQ(heap->ReadStats().sys_bytes, st.sys_bytes);
  heap->FreeSpan(all);
}

// ---- Splitting and best fit ----

TEST(PageHeapTest, LargeRequestTakesTheSmallestFreeSpanThatFits) {
  HeapHolder heap;
  Span* big = AllocPublished(heap.get(), 200);
  Span* sep1 = AllocPublished(heap.get(), 1);
  Span* mid = AllocPublished(heap.get(), 150);
  Span* sep2 = AllocPublished(heap.get(), 1);
  const uintptr_t big_base = big->base, mid_base = mid->base;
  heap->FreeSpan(mid);
  heap->FreeSpan(big);
  ASSERT_TRUE(heap->Verify());
  const uint64_t sys = heap->ReadStats().sys_bytes;

  // 140 pages: both 200 and 150 fit; best fit takes the 150 and splits it.
  Span* s = AllocPublished(heap.get(), 140);
  EXPECT_EQ(s->base, mid_base);
  EXPECT_EQ(s->npages, 140u);
  ASSERT_TRUE(heap->Verify());
  Span* rest = heap->Lookup(mid_base + 140 * kPageSize);
  ASSERT_NE(rest, nullptr);
  EXPECT_EQ(rest->state.load(), SpanState::kFree);
  EXPECT_EQ(rest->base, mid_base + 140 * kPageSize);
  EXPECT_EQ(rest->npages, 10u);

  // 160 pages fit only in the 200.
  Span* t = AllocPublished(heap.get(), 160);
  EXPECT_EQ(t->base, big_base);
  // The 10-page remainder serves a 10-page request exactly.
  Span* u = AllocPublished(heap.get(), 10);
  EXPECT_EQ(u->base, mid_base + 140 * kPageSize);
  EXPECT_EQ(heap->ReadStats().sys_bytes, sys);
  ASSERT_TRUE(heap->Verify());
  for (Span* x : {s, t, u, sep1, sep2}) heap->FreeSpan(x);
  ASSERT_TRUE(heap->Verify());
}

TEST(PageHeapTest, EqualLargeFreeSpansAreTakenLowestAddressFirst) {
  HeapHolder heap;
  Span* a = AllocPublished(heap.get(), 150);
  Span* sep1 = AllocPublished(heap.get(), 1);
  Span* b = AllocPublished(heap.get(), 150);
  Span* sep2 = AllocPublished(heap.get(), 1);
  uintptr_t low = a->base < b->base ? a->base : b->base;
  uintptr_t high = a->base < b->base ? b->base : a->base;
  // Free the lower one first, so the higher one is at the list's front.
  heap->FreeSpan(low == a->base ? a : b);
  heap->FreeSpan(low == a->base ? b : a);
  Span* first = AllocPublished(heap.get(), 150);
  Span* second = AllocPublished(heap.get(), 150);
  EXPECT_EQ(first->base, low);
  EXPECT_EQ(second->base, high);
  for (Span* x : {first, second, sep1, sep2}) heap->FreeSpan(x);
  ASSERT_TRUE(heap->Verify());
}

// The page below an arena is reserved with it, so no other mapping ends at
// the arena's base: the address one past a mapping (a thread stack's end,
// which that stack holds) is no pointer into the heap. An arena is reserved
// 2 MiB aligned, and its first span starts at its base. Mapped: whether
// [lo, hi) is all mapped (mincore fails with ENOMEM otherwise).
bool Mapped(uintptr_t lo, uintptr_t hi) {
  unsigned char residency[64];
  return mincore(reinterpret_cast<void*>(lo), hi - lo, residency) == 0;
}

TEST(PageHeapTest, ThePageBelowAnArenaIsReservedWithIt) {
  HeapHolder heap;
  Span* first = AllocPublished(heap.get(), 1);
  EXPECT_EQ(first->base % runtime::os::kHugePageSize, 0u);
  EXPECT_TRUE(Mapped(first->base - PageHeap::kArenaGuardBytes, first->base));
  EXPECT_EQ(heap->Lookup(first->base - 1), nullptr);
  // A request larger than an arena gets an arena of its own, guarded too.
  const uint32_t whole = PageHeap::kArenaBytes / kPageSize + 1;
  Span* big = AllocPublished(heap.get(), whole);
  EXPECT_EQ(big->base % runtime::os::kHugePageSize, 0u);
  EXPECT_TRUE(Mapped(big->base - PageHeap::kArenaGuardBytes, big->base));
  for (Span* x : {first, big}) heap->FreeSpan(x);
  ASSERT_TRUE(heap->Verify());
}

TEST(PageHeapTest, SmallRequestSplitsTheNextLargerFreeSpan) {
  HeapHolder heap;
  Span* a = AllocPublished(heap.get(), 7);
  Span* sep = AllocPublished(heap.get(), 1);
  const uintptr_t a_base = a->base;
  heap->FreeSpan(a);
  const uint64_t sys = heap->ReadStats().sys_bytes;
  Span* s = AllocPublished(heap.get(), 3);
  EXPECT_EQ(s->base, a_base);
  Span* rest = heap->Lookup(a_base + 3 * kPageSize);
  ASSERT_NE(rest, nullptr);
  EXPECT_EQ(rest->state.load(), SpanState::kFree);
  EXPECT_EQ(rest->npages, 4u);
  EXPECT_EQ(heap->ReadStats().sys_bytes, sys);
  ASSERT_TRUE(heap->Verify());
  heap->FreeSpan(s);
  heap->FreeSpan(sep);
  ASSERT_TRUE(heap->Verify());
}

TEST(PageHeapTest, GrowthIsInWholeSixtyFourKiBUnits) {
  HeapHolder heap;
  Span* s = AllocPublished(heap.get(), 1);
  EXPECT_EQ(heap->ReadStats().sys_bytes, PageHeap::kMinGrowBytes);
  // 7 pages are free, too few: the heap grows by the request (72 KiB)
  // rounded up to whole 64 KiB units.
  Span* t = AllocPublished(heap.get(), 9);
  PageHeap::Stats st = heap->ReadStats();
  EXPECT_EQ(st.sys_bytes % PageHeap::kMinGrowBytes, 0u);
  EXPECT_EQ(st.sys_bytes, 3 * PageHeap::kMinGrowBytes);
  EXPECT_EQ(st.inuse_bytes, 10 * kPageSize);
  EXPECT_GE(st.reserved_bytes, PageHeap::kArenaBytes);
  heap->FreeSpan(s);
  heap->FreeSpan(t);
  ASSERT_TRUE(heap->Verify());
}

// ---- Scavenger ----

constexpr uint32_t kScavengeSpanPages = 256;  // 2 MiB
constexpr int kScavengeSpans = 16;            // 32 MiB

struct Range {
  uintptr_t base;
  size_t bytes;
};

size_t ResidentOver(const std::vector<Range>& ranges) {
  size_t total = 0;
  for (const Range& r : ranges) {
    total += ResidentBytes(reinterpret_cast<void*>(r.base), r.bytes);
  }
  return total;
}

// Allocates, dirties and frees `nspans` spans; returns their ranges.
std::vector<Range> DirtyAndFree(PageHeap* heap, int nspans) {
  std::vector<Span*> spans;
  std::vector<Range> ranges;
  for (int i = 0; i < nspans; i++) {
    Span* s = AllocPublished(heap, kScavengeSpanPages);
    std::memset(reinterpret_cast<void*>(s->base), 0xA5,
                size_t{s->npages} * kPageSize);
    spans.push_back(s);
    ranges.push_back({s->base, size_t{s->npages} * kPageSize});
  }
  for (Span* s : spans) heap->FreeSpan(s);
  return ranges;
}

TEST(PageHeapTest, ReleaseAllReturnsFreedPagesToTheOs) {
  HeapHolder heap;
  const size_t bytes = size_t{kScavengeSpans} * kScavengeSpanPages * kPageSize;
  std::vector<Range> ranges = DirtyAndFree(heap.get(), kScavengeSpans);
  ASSERT_TRUE(heap->Verify());
  EXPECT_GE(ResidentOver(ranges), bytes * 9 / 10);
  const uint64_t released_before = heap->ReadStats().released_bytes;
  const uint64_t runs_before = heap->ReadStats().scavenge_runs;

  size_t released = heap->ReleaseAll();
  EXPECT_GE(released, bytes);
  EXPECT_LE(ResidentOver(ranges), 256 * 1024u);
  PageHeap::Stats st = heap->ReadStats();
  EXPECT_GE(st.released_bytes, released_before + bytes);
  EXPECT_EQ(st.released_bytes, st.idle_bytes);  // everything idle is released
  EXPECT_EQ(st.scavenge_runs, runs_before + 1);
  ASSERT_TRUE(heap->Verify());
  // Nothing is left to release.
  EXPECT_EQ(heap->ReleaseAll(), 0u);
}

TEST(PageHeapTest, ScavengeSparesSpansFreedMoreRecentlyThanTheIdleLimit) {
  HeapHolder heap;
  const size_t bytes = size_t{4} * kScavengeSpanPages * kPageSize;
  std::vector<Range> ranges = DirtyAndFree(heap.get(), 4);
  const uint64_t released_before = heap->ReadStats().released_bytes;
  EXPECT_EQ(heap->Scavenge(std::chrono::hours(1)), 0u);
  EXPECT_EQ(heap->ReadStats().released_bytes, released_before);
  EXPECT_GE(ResidentOver(ranges), bytes * 9 / 10);
  ASSERT_TRUE(heap->Verify());
}

TEST(PageHeapTest, SpanReusedAfterReleaseReadsZeroAndNeedsNoZeroing) {
  HeapHolder heap;
  std::vector<Range> ranges = DirtyAndFree(heap.get(), 2);
  ASSERT_GT(heap->ReleaseAll(), 0u);
  bool needzero = true;
  Span* s = AllocPublished(heap.get(), kScavengeSpanPages, &needzero);
  EXPECT_EQ(s->base, ranges[0].base);
  EXPECT_FALSE(needzero);
  const auto* words = reinterpret_cast<const uint64_t*>(s->base);
  size_t nwords = size_t{s->npages} * kPageSize / sizeof(uint64_t);
  size_t nonzero = 0;
  for (size_t i = 0; i < nwords; i++) nonzero += words[i] != 0;
  EXPECT_EQ(nonzero, 0u);
  // A span freed dirty and not released does need zeroing.
  std::memset(reinterpret_cast<void*>(s->base), 1, kPageSize);
  heap->FreeSpan(s);
  Span* t = AllocPublished(heap.get(), kScavengeSpanPages, &needzero);
  EXPECT_EQ(t->base, ranges[0].base);
  EXPECT_TRUE(needzero);
  heap->FreeSpan(t);
  ASSERT_TRUE(heap->Verify());
}

TEST(PageHeapTest, BackgroundScavengerReleasesFreedMemory) {
  HeapHolder heap;
  const size_t bytes = size_t{4} * kScavengeSpanPages * kPageSize;
  std::vector<Range> ranges = DirtyAndFree(heap.get(), 4);
  ASSERT_GE(ResidentOver(ranges), bytes * 9 / 10);
  heap->StartScavenger(std::chrono::milliseconds(1),
                       std::chrono::milliseconds(10));
  const auto deadline =
      std::chrono::steady_clock::now() + std::chrono::seconds(10);
  PageHeap::Stats st{};
  size_t resident = bytes;
  while (std::chrono::steady_clock::now() < deadline) {
    st = heap->ReadStats();
    resident = ResidentOver(ranges);
    if (st.released_bytes >= bytes && resident <= 256 * 1024) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  EXPECT_GE(st.released_bytes, bytes);
  EXPECT_LE(resident, 256 * 1024u);
  EXPECT_GT(st.scavenge_runs, 0u);
  ASSERT_TRUE(heap->Verify());
}

// ---- Huge requests and injected OS failures ----

TEST(PageHeapTest, HugeRequestThrowsBadAllocNamingTheSize) {
  HeapHolder heap;
  Span* keep = AllocPublished(heap.get(), 3);
  const PageHeap::Stats before = heap->ReadStats();
  for (uint32_t npages :
       {static_cast<uint32_t>((PageHeap::kMaxSpanBytes >> kPageShift) + 1),
        UINT32_MAX}) {
    SCOPED_TRACE(npages);
    bool needzero;
    try {
      heap->AllocSpan(npages, &needzero);
      ADD_FAILURE() << "AllocSpan(" << npages << ") returned";
    } catch (const std::bad_alloc& e) {
      EXPECT_NE(std::string(e.what()).find(std::to_string(npages)),
                std::string::npos)
          << e.what();
    }
    ASSERT_TRUE(heap->Verify());
    PageHeap::Stats st = heap->ReadStats();
    EXPECT_EQ(st.sys_bytes, before.sys_bytes);
    EXPECT_EQ(st.inuse_bytes, before.inuse_bytes);
  }
  // Still usable.
  Span* s = AllocPublished(heap.get(), 300);
  EXPECT_EQ(s->npages, 300u);
  ASSERT_TRUE(heap->Verify());
  heap->FreeSpan(s);
  heap->FreeSpan(keep);
  ASSERT_TRUE(heap->Verify());
}

TEST(PageHeapTest, FailedCommitDuringGrowthThrowsAndLeavesHeapUsable) {
  FaultReset reset;
  HeapHolder heap;
  Span* keep = AllocPublished(heap.get(), 1);  // arena, page map, span pool
  const PageHeap::Stats before = heap->ReadStats();
  SetFailAfterForTesting(FaultKind::kCommit, 1);
  bool needzero;
  // The OS commits ahead in kOsCommitBytes chunks: ask for more than one
  // chunk so the growth must commit.
  const uint32_t kPages =
      static_cast<uint32_t>(PageHeap::kOsCommitBytes / kPageSize) + 100;
  try {
    heap->AllocSpan(kPages, &needzero);
    ADD_FAILURE() << "AllocSpan returned despite the injected fault";
  } catch (const std::bad_alloc& e) {
    std::string what = e.what();
    EXPECT_NE(what.find("commit"), std::string::npos) << what;
    EXPECT_NE(what.find("heap growth"), std::string::npos) << what;
  }
  SetFailAfterForTesting(FaultKind::kCommit, 0);
  ASSERT_TRUE(heap->Verify());
  PageHeap::Stats st = heap->ReadStats();
  EXPECT_EQ(st.sys_bytes, before.sys_bytes);
  EXPECT_EQ(st.inuse_bytes, before.inuse_bytes);
  EXPECT_EQ(st.idle_bytes, before.idle_bytes);

  Span* s = AllocPublished(heap.get(), kPages);
  EXPECT_EQ(s->npages, kPages);
  EXPECT_GT(heap->ReadStats().sys_bytes, before.sys_bytes);
  ASSERT_TRUE(heap->Verify());
  heap->FreeSpan(s);
  heap->FreeSpan(keep);
  ASSERT_TRUE(heap->Verify());
}

TEST(PageHeapTest, FailedArenaReservationThrowsAndLeavesHeapUsable) {
  FaultReset reset;
  HeapHolder heap;
  Span* keep = AllocPublished(heap.get(), 1);
  const PageHeap::Stats before = heap->ReadStats();
  // More than the first arena holds: needs a new reservation.
  const uint32_t npages =
      static_cast<uint32_t>(PageHeap::kArenaBytes / kPageSize) + 1;
  SetFailAfterForTesting(FaultKind::kReserve, 1);
  bool needzero;
  try {
    heap->AllocSpan(npages, &needzero);
    ADD_FAILURE() << "AllocSpan returned despite the injected fault";
  } catch (const std::bad_alloc& e) {
    EXPECT_NE(std::string(e.what()).find("reserve"), std::string::npos)
        << e.what();
  }
  SetFailAfterForTesting(FaultKind::kReserve, 0);
  ASSERT_TRUE(heap->Verify());
  PageHeap::Stats st = heap->ReadStats();
  EXPECT_EQ(st.sys_bytes, before.sys_bytes);
  EXPECT_EQ(st.reserved_bytes, before.reserved_bytes);
  Span* s = AllocPublished(heap.get(), npages);
  EXPECT_EQ(s->npages, npages);
  ASSERT_TRUE(heap->Verify());
  heap->FreeSpan(s);
  heap->FreeSpan(keep);
  ASSERT_TRUE(heap->Verify());
}

// Fails, in turn, each OS commit an AllocSpan makes (growth, page-map leaf,
// span records), over enough steps to run out of pooled span records more
// than once: every failure must throw and leave the heap consistent.
void FailEachCommitInTurn(uint32_t npages_per_step) {
  FaultReset reset;
  HeapHolder heap;
  const int records_per_chunk = static_cast<int>((64 << 10) / sizeof(Span));
  const int steps = 2 * records_per_chunk + 16;
  uint64_t held_pages = 0;
  int failures = 0;
  for (int step = 0; step < steps; step++) {
    SCOPED_TRACE("step " + std::to_string(step));
    Span* s = nullptr;
    for (uint64_t nth = 1; s == nullptr && nth <= 4; nth++) {
      SCOPED_TRACE("failing commit #" + std::to_string(nth));
      const uint64_t inuse_before = heap->ReadStats().inuse_bytes;
      SetFailAfterForTesting(FaultKind::kCommit, nth);
      try {
        bool needzero;
        s = heap->AllocSpan(npages_per_step, &needzero);
      } catch (const std::bad_alloc& e) {
        failures++;
        EXPECT_NE(std::string(e.what()).find("commit"), std::string::npos)
            << e.what();
        ASSERT_TRUE(heap->Verify())
            << "heap inconsistent after a failed commit: " << e.what();
        PageHeap::Stats st = heap->ReadStats();
        ASSERT_EQ(st.inuse_bytes, inuse_before);
        ASSERT_EQ(st.inuse_bytes + st.idle_bytes, st.sys_bytes);
      }
      SetFailAfterForTesting(FaultKind::kCommit, 0);
    }
    if (s == nullptr) {
      bool needzero;
      s = heap->AllocSpan(npages_per_step, &needzero);
    }
    s->state.store(SpanState::kInUse, std::memory_order_release);
    held_pages += npages_per_step;
    ASSERT_TRUE(heap->Verify());
    ExpectStatsConsistent(heap.get(), held_pages);
    if (::testing::Test::HasFailure()) return;
  }
  EXPECT_GT(failures, 0);
}

TEST(PageHeapTest, EveryFailedCommitWhileSplittingLeavesHeapConsistent) {
  FailEachCommitInTurn(1);  // most steps split a free span
}

TEST(PageHeapTest, EveryFailedCommitWhileGrowingLeavesHeapConsistent) {
  // 8 pages = 64 KiB: every step grows the heap by exactly its request.
  FailEachCommitInTurn(
      static_cast<uint32_t>(PageHeap::kMinGrowBytes / kPageSize));
}

// ---- Span publication ----

// AllocSpan returns the span before it is published; the caller stores
// kInUse later, without the heap lock (Heap::NewSmallSpans,
// Heap::AllocateLarge). A neighbour freed by another thread in between must
// not coalesce with the new span. This runs that interleaving on one thread,
// in a child process, because a heap that gets it wrong aborts (a span off
// every free list is "removed" from one).
TEST(PageHeapTest, FreeingANeighbourBeforeTheNewSpanIsPublishedLeavesItAlone) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_EXIT(
      {
        auto heap = NewHeap();
        Span* a = AllocPublished(heap.get(), 1);
        bool needzero;
        Span* b = heap->AllocSpan(1, &needzero);  // not yet published
        const uintptr_t b_base = b->base;
        bool ok =
            b_base == a->limit() && b->state.load() == SpanState::kAllocating;
        heap->FreeSpan(a);  // "another thread" frees b's left neighbour
        b->state.store(SpanState::kInUse, std::memory_order_release);
        ok = ok && b->base == b_base && b->npages == 1 &&
             heap->LookupInUse(b_base) == b && heap->Verify();
        std::_Exit(ok ? 0 : 1);
      },
      ::testing::ExitedWithCode(0), "");
}

}  // namespace
}  // namespace gc::alloc
