// Tests of the page heap's scavenging (alloc/page_heap.h) on private heaps:
// the released bitmap keeps heap_released exact through carving and
// coalescing, ScavengeToGoal releases whole 2 MiB windows before parts of
// windows shared with in-use memory, and needzero stays right when spans
// are carved from partly released memory, also with a scavenger running
// concurrently with allocation.
#include <atomic>
#include <cstdint>
#include <cstring>
#include <memory>
#include <random>
#include <thread>
#include <vector>

#include "gcrt/alloc/page_heap.h"
#include "gcrt/alloc/size_classes.h"
#include "gcrt/alloc/span.h"
#include "gcrt/runtime/os_mem.h"
#include "gtest/gtest.h"

namespace gc::alloc {
namespace {

using runtime::os::ResidentBytes;

constexpr uint32_t kWindow = PageHeap::kScavengeChunkPages;  // 2 MiB
constexpr size_t kWindowBytes = PageHeap::kScavengeChunkBytes;

// Test heaps live as long as the process (a PageHeap has no destructor that
// returns its arenas); they give their memory back first.
PageHeap* NewHeap() {
  static auto* heaps = new std::vector<std::unique_ptr<PageHeap>>;
  heaps->push_back(std::make_unique<PageHeap>());
  return heaps->back().get();
}

Span* Alloc(PageHeap* h, uint32_t npages, bool* needzero = nullptr) {
  bool nz = false;
  Span* s = h->AllocSpan(npages, &nz);
  if (needzero != nullptr) *needzero = nz;
  s->state.store(SpanState::kInUse, std::memory_order_release);
  return s;
}

void Dirty(Span* s) {
  std::memset(reinterpret_cast<void*>(s->base), 0xA5,
              size_t{s->npages} * kPageSize);
}

uint64_t Retained(const PageHeap::Stats& st) {
  return st.sys_bytes - st.released_bytes;
}

bool Resident(uintptr_t base, size_t bytes) {
  return ResidentBytes(reinterpret_cast<void*>(base), bytes) == bytes;
}

TEST(ScavengerAllocTest, GrownMemoryCountsAsReleasedUntilCarved) {
  PageHeap* h = NewHeap();
  Span* s = Alloc(h, 1);
  PageHeap::Stats st = h->ReadStats();
  EXPECT_EQ(st.sys_bytes, PageHeap::kMinGrowBytes);
  // The rest of the growth step was never touched: not resident.
  EXPECT_EQ(st.released_bytes, PageHeap::kMinGrowBytes - kPageSize);
  EXPECT_EQ(Retained(st), kPageSize);
  h->FreeSpan(s);
  st = h->ReadStats();
  EXPECT_EQ(st.released_bytes, PageHeap::kMinGrowBytes - kPageSize);
  EXPECT_TRUE(h->Verify());
}

// Layout: [A: 512 KiB in use][B: 6 MiB free, dirty][C: 512 KiB in use], with
// the arena 2 MiB aligned, so B holds the whole windows [2, 4) and [4, 6)
// MiB and the parts [0.5, 2) and [6, 6.5), which share huge pages with A
// and C.
TEST(ScavengerAllocTest, WholeHugePagesGoFirstHighestFirst) {
  PageHeap* h = NewHeap();
  Span* a = Alloc(h, 64);
  Span* b = Alloc(h, 768);
  Span* c = Alloc(h, 64);
  const uintptr_t arena = a->base;
  ASSERT_EQ(arena % kWindowBytes, 0u);
  ASSERT_EQ(b->base, arena + (512 << 10));
  Dirty(a);
  Dirty(b);
  Dirty(c);
  h->FreeSpan(b);
  ASSERT_TRUE(h->Verify());
  PageHeap::Stats st = h->ReadStats();
  const uint64_t retained = Retained(st);
  EXPECT_EQ(retained, 7u << 20);

  // One byte over the goal: one whole window goes, the highest.
  EXPECT_EQ(h->ScavengeToGoal(retained - 1, SIZE_MAX), kWindowBytes);
  EXPECT_FALSE(Resident(arena + (4 << 20), kWindowBytes));
  EXPECT_TRUE(Resident(arena + (2 << 20), kWindowBytes));
  ASSERT_TRUE(h->Verify());
  // Then the other whole window, before any shared huge page is split.
  EXPECT_EQ(h->ScavengeToGoal(retained - kWindowBytes - 1, SIZE_MAX),
            kWindowBytes);
  EXPECT_FALSE(Resident(arena + (2 << 20), kWindowBytes));
  EXPECT_TRUE(Resident(arena + (512 << 10), 1536 << 10));
  EXPECT_TRUE(Resident(arena + (6 << 20), 512 << 10));
  st = h->ReadStats();
  EXPECT_EQ(st.released_bytes, 4u << 20);
  ASSERT_TRUE(h->Verify());
  // Only when no whole window is left are the shared ones split.
  EXPECT_EQ(h->ScavengeToGoal(0, SIZE_MAX), 2u << 20);
  EXPECT_FALSE(Resident(arena + (512 << 10), 1536 << 10));
  EXPECT_FALSE(Resident(arena + (6 << 20), 512 << 10));
  EXPECT_TRUE(Resident(a->base, 512 << 10));  // in use: untouched
  EXPECT_TRUE(Resident(c->base, 512 << 10));
  st = h->ReadStats();
  EXPECT_EQ(st.released_bytes, st.idle_bytes);
  EXPECT_EQ(st.scavenged_bytes, 6u << 20);
  EXPECT_EQ(h->ScavengeToGoal(0, SIZE_MAX), 0u);
  ASSERT_TRUE(h->Verify());
  h->FreeSpan(a);
  h->FreeSpan(c);
  h->ReleaseAll();
}

TEST(ScavengerAllocTest, CarvingPartlyReleasedMemoryKeepsCountsAndZeroing) {
  PageHeap* h = NewHeap();
  Span* a = Alloc(h, 64);
  Span* b = Alloc(h, 768);
  Span* c = Alloc(h, 64);
  Dirty(b);
  h->FreeSpan(b);
  // Release the window [4, 6) MiB only.
  ASSERT_EQ(h->ScavengeToGoal(Retained(h->ReadStats()) - 1, SIZE_MAX),
            kWindowBytes);
  const uintptr_t arena = a->base;
  // Best fit takes the lowest pages of B first: [0.5, 4) is dirty.
  bool nz = false;
  Span* d = Alloc(h, 448, &nz);  // [0.5, 4) MiB
  ASSERT_EQ(d->base, arena + (512 << 10));
  EXPECT_TRUE(nz);
  EXPECT_EQ(h->ReadStats().released_bytes, kWindowBytes);
  // Half dirty, half released: needs zeroing, and the released half leaves
  // heap_released.
  Span* e = Alloc(h, 64, &nz);  // [4, 4.5) MiB: released
  ASSERT_EQ(e->base, arena + (4 << 20));
  EXPECT_FALSE(nz);
  for (size_t i = 0; i < size_t{e->npages} * kPageSize; i++) {
    ASSERT_EQ(reinterpret_cast<unsigned char*>(e->base)[i], 0) << i;
  }
  EXPECT_EQ(h->ReadStats().released_bytes, kWindowBytes - (512 << 10));
  ASSERT_TRUE(h->Verify());
  // Freed again and coalesced with dirty and released neighbours, then
  // carved across the border: dirty pages make it need zeroing.
  Dirty(e);
  h->FreeSpan(e);
  h->FreeSpan(d);
  EXPECT_EQ(h->ReadStats().released_bytes, kWindowBytes - (512 << 10));
  ASSERT_TRUE(h->Verify());
  Span* f = Alloc(h, 768, &nz);
  EXPECT_TRUE(nz);
  EXPECT_EQ(h->ReadStats().released_bytes, 0u);
  ASSERT_TRUE(h->Verify());
  h->FreeSpan(f);
  h->FreeSpan(a);
  h->FreeSpan(c);
  h->ReleaseAll();
  EXPECT_TRUE(h->Verify());
}

// A thread releasing everything it can while another allocates, dirties and
// frees spans of random sizes: every span handed out with needzero false
// reads zero, and the books balance.
TEST(ScavengerAllocTest, ConcurrentScavengingKeepsNeedzeroRight) {
  PageHeap* h = NewHeap();
  std::atomic<bool> stop{false};
  std::thread scavenger([&] {
    while (!stop.load()) h->ScavengeToGoal(0, 4 << 20);
  });
  std::mt19937 rng(42);
  std::vector<Span*> held;
  size_t dirty_found = 0;
#if defined(GCRT_TSAN) && GCRT_TSAN
  constexpr int kSteps = 1500;
#else
  constexpr int kSteps = 6000;
#endif
  for (int step = 0; step < kSteps; step++) {
    if (held.size() < 24 && rng() % 3 != 0) {
      uint32_t npages = rng() % 4 == 0 ? 128 + rng() % 400 : 1 + rng() % 64;
      bool nz = true;
      Span* s = Alloc(h, npages, &nz);
      if (!nz) {
        const auto* w = reinterpret_cast<const uint64_t*>(s->base);
        for (size_t i = 0; i < size_t{npages} * kPageSize / 8; i += 61) {
          dirty_found += w[i] != 0;
        }
      }
      Dirty(s);
      held.push_back(s);
    } else if (!held.empty()) {
      size_t i = rng() % held.size();
      h->FreeSpan(held[i]);
      held[i] = held.back();
      held.pop_back();
    }
  }
  stop.store(true);
  scavenger.join();
  EXPECT_EQ(dirty_found, 0u);
  EXPECT_TRUE(h->Verify());
  for (Span* s : held) h->FreeSpan(s);
  h->ReleaseAll();
  PageHeap::Stats st = h->ReadStats();
  EXPECT_EQ(st.released_bytes, st.idle_bytes);
  EXPECT_TRUE(h->Verify());
}

}  // namespace
}  // namespace gc::alloc
