// The lazy sweep's paths (Go's mgcsweep.go, seeds 002 and 003), each shown
// doing its share on its own: the background sweeper while every mutator
// sleeps; the on-demand sweep of a class before its Central hands out a
// span; the proportional sweep that allocation pays for, finishing the walk
// before the next trigger; the reclaim that sweeps before the page heap
// grows. And what sweeping a span does besides destructors: empty spans go
// back to the page heap, and the specials of dead objects are released.
//
// Each test uses types of a size class of its own, so its spans hold
// nothing else, and cycles that return with the sweep still to do
// (GcReason::kLazyForTesting, as a triggered cycle does).
#include "gc/sweeper.h"

#include <gtest/gtest.h>

#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <thread>
#include <vector>

#include "alloc/heap.h"
#include "alloc/special.h"
#include "api/gc.h"
#include "gc/collector.h"

namespace {

using namespace std::chrono_literals;
using gc::alloc::Heap;
using gc::alloc::Span;
using gc::internal::Collector;
using gc::internal::GcReason;
using gc::internal::Sweeper;

// An object of exactly N bytes whose destructor counts, and counts apart
// the runs on a thread other than the test's.
template <size_t N>
struct Counted {
  gc::Ptr<Counted> next;
  int64_t id = 0;
  std::array<char, N - 16> pad;
  ~Counted() {
    destroyed.fetch_add(1, std::memory_order_relaxed);
    if (std::this_thread::get_id() != test_thread) {
      destroyed_elsewhere.fetch_add(1, std::memory_order_relaxed);
    }
  }
  static inline std::atomic<int64_t> destroyed{0};
  static inline std::atomic<int64_t> destroyed_elsewhere{0};
  static inline std::thread::id test_thread;
};

template <size_t N>
void MakeGarbage(int n) {
  Counted<N>::test_thread = std::this_thread::get_id();
  for (int i = 0; i < n; i++) gc::make_unrooted<Counted<N>>()->id = i;
}

void LazyCycle() { Collector::Get().Collect(GcReason::kLazyForTesting); }

template <typename Pred>
bool Eventually(Pred pred, std::chrono::milliseconds limit = 20s) {
  auto deadline = std::chrono::steady_clock::now() + limit;
  while (!pred()) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    std::this_thread::sleep_for(1ms);
  }
  return true;
}

class SweeperTest : public ::testing::Test {
 protected:
  void SetUp() override {
    gc::set_verify(true);
    gc::set_gc_percent(-1);  // no cycle but the tests' own
    gc::collect();           // start from a swept heap
  }
  void TearDown() override {
    Sweeper::Get().PauseBackgroundForTesting(false);
    gc::collect();
    gc::set_gc_percent(100);
  }
};

TEST_F(SweeperTest, BackgroundSweeperSweepsWhileEveryMutatorSleeps) {
  using T = Counted<288>;
  constexpr int kDead = 20000;  // ~5.6 MiB in ~700 spans
  MakeGarbage<288>(kDead);
  gc::alloc::FlushCurrentCache();  // the spans go back to their Central
  const int64_t before = T::destroyed.load();
  LazyCycle();
  // This thread only sleeps now: nobody else allocates, so every span is
  // swept by the background sweeper.
  ASSERT_TRUE(Eventually([&] { return T::destroyed.load() - before == kDead; }))
      << "swept " << T::destroyed.load() - before << " of " << kDead;
  EXPECT_EQ(T::destroyed_elsewhere.load(), kDead);
  EXPECT_TRUE(Eventually([] { return Sweeper::Get().WalkDone(); }));
}

TEST_F(SweeperTest, RefillSweepsUnsweptSpansOfItsClassBeforeTakingFreshOnes) {
  using T = Counted<352>;
  Sweeper::Get().PauseBackgroundForTesting(true);
  constexpr int kDead = 20000;  // ~7 MiB
  MakeGarbage<352>(kDead);
  gc::alloc::FlushCurrentCache();
  const int64_t destroyed_before = T::destroyed.load();
  const uint64_t inuse_before = gc::stats().heap_inuse;
  LazyCycle();
  // With collection off there is no proportional sweep (its runway is
  // unbounded) and the background sweeper is held: nothing is swept yet.
  EXPECT_EQ(T::destroyed.load(), destroyed_before);
  EXPECT_FALSE(Sweeper::Get().WalkDone());

  // Allocating the class again sweeps its own spans on demand and reuses
  // their slots: the heap does not grow by the 7 MiB it would otherwise.
  std::vector<gc::Root<T>> kept;
  for (int i = 0; i < kDead; i++) kept.push_back(gc::make<T>());
  EXPECT_GE(T::destroyed.load() - destroyed_before, kDead * 9 / 10);
  EXPECT_LE(T::destroyed.load() - destroyed_before, kDead);
  EXPECT_EQ(T::destroyed_elsewhere.load(), 0)
      << "swept by the allocating thread";
  EXPECT_LT(gc::stats().heap_inuse, inuse_before + (1 << 20));
  for (const gc::Root<T>& r : kept) ASSERT_EQ(r->id, 0) << "zeroed slot";
}

TEST_F(SweeperTest, ProportionalSweepFinishesTheWalkBeforeTheNextTrigger) {
  using Dead = Counted<416>;
  using Fresh = Counted<480>;
  Sweeper::Get().PauseBackgroundForTesting(true);
  MakeGarbage<416>(20000);  // ~8 MiB of garbage to sweep
  gc::alloc::FlushCurrentCache();
  gc::set_gc_percent(100);
  const int64_t destroyed_before = Dead::destroyed.load();
  LazyCycle();
  gc::Stats s = gc::stats();
  ASSERT_GT(s.next_gc, s.heap_live);
  const uint64_t runway = s.next_gc - s.heap_live;
  EXPECT_FALSE(Sweeper::Get().WalkDone());
  // Allocate 95% of the runway in another class: the allocation pays for
  // the sweep of the first, on this thread (pacing sweeps 10% ahead, so
  // the walk ends by 91% of the runway), and no cycle starts.
  std::vector<gc::Root<Fresh>> kept;
  const uint64_t n = runway * 95 / 100 / sizeof(Fresh);
  for (uint64_t i = 0; i < n; i++) kept.push_back(gc::make<Fresh>());
  EXPECT_EQ(gc::stats().num_gc, s.num_gc)
      << "the allocation stayed in the runway";
  EXPECT_TRUE(Sweeper::Get().WalkDone())
      << "every span was swept before the heap reached the next trigger";
  EXPECT_EQ(Dead::destroyed.load() - destroyed_before, 20000);
  EXPECT_EQ(Dead::destroyed_elsewhere.load(), 0);
  gc::set_gc_percent(-1);
}

TEST_F(SweeperTest, PageHeapReclaimsBySweepingBeforeItGrows) {
  using Dead = Counted<576>;
  Sweeper::Get().PauseBackgroundForTesting(true);
  constexpr int kDead = 60000;  // ~33 MiB of dead small objects
  MakeGarbage<576>(kDead);
  gc::alloc::FlushCurrentCache();
  LazyCycle();
  const int64_t destroyed_before = Dead::destroyed.load();
  gc::Stats before = gc::stats();
  // Large objects for what is idle now and 16 MiB more: the page heap has
  // to find 16 MiB, and sweeping the dead spans gives them back.
  constexpr size_t kLarge = 256 << 10;
  const size_t count = (before.heap_idle + (16 << 20)) / kLarge;
  std::vector<gc::Root<gc::Array<char>>> large;
  for (size_t i = 0; i < count; i++)
    large.push_back(gc::make_array<char>(kLarge - 64));
  gc::Stats after = gc::stats();
  EXPECT_GT(Dead::destroyed.load() - destroyed_before, 0);
  EXPECT_EQ(Dead::destroyed_elsewhere.load(), 0);
  EXPECT_LT(after.heap_sys, before.heap_sys + (8 << 20))
      << "grew by " << ((after.heap_sys - before.heap_sys) >> 20) << " MiB";
}

TEST_F(SweeperTest, EmptySpansGoBackToThePageHeap) {
  MakeGarbage<640>(20000);  // ~12.5 MiB
  gc::alloc::FlushCurrentCache();
  gc::Stats before = gc::stats();
  gc::collect();
  gc::Stats after = gc::stats();
  EXPECT_GE(before.heap_inuse - after.heap_inuse, 12u << 20);
  EXPECT_GE(after.heap_idle - before.heap_idle, 12u << 20);
}

std::atomic<int> g_released{0};
std::vector<gc::alloc::Special*> g_released_records;  // the test thread's

TEST_F(SweeperTest, SweepingReleasesTheSpecialsOfDeadObjectsOnly) {
  gc::alloc::SpecialFreeHook collectors =
      gc::alloc::SetSpecialFreeHook([](gc::alloc::Special* list) {
        for (; list != nullptr; list = list->next) {
          g_released++;
          g_released_records.push_back(list);
        }
      });
  using T = Counted<704>;
  T::test_thread = std::this_thread::get_id();
  gc::Root<T> live = gc::make<T>();
  gc::Ptr<T> dead = gc::make_unrooted<T>();
  gc::alloc::Special live_special, dead_special;
  live_special.kind = dead_special.kind = gc::alloc::SpecialKind::kFinalizer;
  auto add = [](gc::Ptr<T> p, gc::alloc::Special* s) {
    return gc::alloc::AddSpecial(gc::alloc::SpanOf(p.get()),
                                 reinterpret_cast<uintptr_t>(p.get()), s);
  };
  ASSERT_TRUE(add(live, &live_special));
  ASSERT_TRUE(add(dead, &dead_special));
  gc::collect();
  EXPECT_EQ(g_released.load(), 1);
  ASSERT_EQ(g_released_records.size(), 1u);
  EXPECT_EQ(g_released_records[0], &dead_special);
  Span* s = gc::alloc::SpanOf(live.get());
  EXPECT_EQ(gc::alloc::RemoveSpecial(s, reinterpret_cast<uintptr_t>(live.get()),
                                     gc::alloc::SpecialKind::kFinalizer),
            &live_special)
      << "the live object keeps its special";
  gc::alloc::SetSpecialFreeHook(collectors);
}

}  // namespace
