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
//
// Also the sweepgen protocol and the lazy cache flush (seed 002): a span
// driven through every state of alloc/sweepgen.h's table, idle and blocked
// processors flushed at mark termination, running ones flushing (and
// sweeping) their own caches on resume.
#include "gcrt/gc/sweeper.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <thread>
#include <vector>

#include "gcrt/alloc/cache.h"
#include "gcrt/alloc/heap.h"
#include "gcrt/alloc/special.h"
#include "gcrt/gc.h"
#include "gcrt/gc/collector.h"
#include "gcrt/runtime/processor.h"
#include "tests/test_support/collector_hooks.h"
#include "tests/test_support/eventually.h"
#include "tests/test_support/verified_heap_test.h"

namespace {

using namespace std::chrono_literals;
using gc::alloc::Heap;
using gc::alloc::Span;
using gc::internal::Collector;
using gc::internal::GcReason;
using gc::internal::Sweeper;
using gc::testing::CollectWithTerminationHook;

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

using gc::testing::Eventually;

class SweeperTest : public gc::testing::VerifiedHeapTest {
 protected:
  void SetUp() override {
    gc::set_gc_percent(-1);     // no cycle but the tests' own
    VerifiedHeapTest::SetUp();  // start from a swept heap
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

// gc::collect() returns with the sweep finished (Sweeper::Finish): also
// when another thread took the walk's index of an unswept span and has not
// claimed it yet. Finish must wait for that thread, or the span's
// destructors run after collect() returned (once seen under TSan: 120 dead
// objects of one span not yet destroyed).
namespace walker {
std::atomic<std::thread::id> thread;
std::atomic<int64_t> held{-1};
void HoldFirstUnswept(size_t index) {
  if (std::this_thread::get_id() != thread.load() || held.load() >= 0) return;
  if (Sweeper::Swept(Heap::Get().pages().SpanRecord(index))) return;
  held.store(static_cast<int64_t>(index));
  std::this_thread::sleep_for(300ms);  // between the take and the claim
}
}  // namespace walker

TEST_F(SweeperTest, FinishWaitsForAWalkerBetweenItsTakeAndItsClaim) {
  using T = Counted<448>;
  Sweeper::Get().PauseBackgroundForTesting(true);
  MakeGarbage<448>(200);
  gc::alloc::FlushCurrentCache();
  const int64_t before = T::destroyed.load();
  LazyCycle();
  ASSERT_FALSE(Sweeper::Get().WalkDone());
  walker::held = -1;
  Sweeper::SetAfterTakeHookForTesting(&walker::HoldFirstUnswept);
  std::thread t([] {
    gc::attach_thread();  // as the background sweeper
    walker::thread = std::this_thread::get_id();
    while (Sweeper::Get().SweepOne()) {
    }
    gc::detach_thread();
  });
  ASSERT_TRUE(Eventually([] { return walker::held.load() >= 0; }));
  Sweeper::Get().Finish();
  const Span* held = Heap::Get().pages().SpanRecord(walker::held.load());
  EXPECT_TRUE(Sweeper::Swept(held))
      << "Finish returned while span record " << walker::held.load()
      << " was still to be swept by the thread that took it";
  EXPECT_EQ(T::destroyed.load() - before, 200);
  t.join();
  Sweeper::SetAfterTakeHookForTesting(nullptr);
}

// The background sweeper gives its core away inside a blocking region: a
// stop does not wait for it while it waits to run again (on the long-lived
// workload a gc::stats() stop once waited 2 ms for it in sched_yield). The
// hook stands for a thread the kernel has not run again yet.
namespace yielding {
std::atomic<bool> inside{false};
std::atomic<bool> release{false};
std::atomic<bool> timed_out{false};
void Hold() {
  if (inside.exchange(true)) return;  // the first yield only
  const auto deadline = std::chrono::steady_clock::now() + 10s;
  while (!release.load()) {
    if (std::chrono::steady_clock::now() > deadline) {
      timed_out = true;
      return;
    }
    std::this_thread::sleep_for(1ms);
  }
}
}  // namespace yielding

TEST_F(SweeperTest, AStopDoesNotWaitForTheBackgroundSweeperWhileItYields) {
  yielding::inside = false;
  yielding::release = false;
  yielding::timed_out = false;
  Sweeper::Get().PauseBackgroundForTesting(true);
  MakeGarbage<768>(2000);
  gc::alloc::FlushCurrentCache();
  LazyCycle();
  Sweeper::SetYieldHookForTesting(&yielding::Hold);
  Sweeper::Get().PauseBackgroundForTesting(false);
  ASSERT_TRUE(Eventually([] { return yielding::inside.load(); }));
  const gc::Stats st = gc::stats();  // stops the world
  yielding::release = true;
  EXPECT_GT(st.num_gc, 0u);
  EXPECT_FALSE(yielding::timed_out.load())
      << "gc::stats() waited for the sweeper to come back from its yield";
  ASSERT_TRUE(Eventually([] { return Sweeper::Get().WalkDone(); }));
  Sweeper::SetYieldHookForTesting(nullptr);
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

// The proportional sweep a refill pays for (Credit) keeps the spans of the
// refill's class it empties on the Central's partial list, and the refill
// allocates from them (Go's cacheSpan), instead of freeing them to the
// page heap and carving fresh spans, though the page heap has idle pages.
// Every new object lands in a span record that held the dead ones.
TEST_F(SweeperTest, RefillAllocatesFromTheSpansItsSweepEmptied) {
  using T = Counted<320>;
  Sweeper::Get().PauseBackgroundForTesting(true);
  {
    // 16 MiB idle in the page heap: a fresh carve needs no reclaim.
    gc::Root<gc::Array<char>> big = gc::make_array<char>(16 << 20);
  }
  gc::collect();
  ASSERT_GE(gc::stats().heap_idle, 16u << 20);
  constexpr int kDead = 2500;  // 100 full spans
  T::test_thread = std::this_thread::get_id();
  std::vector<const Span*> dead_spans;
  for (int i = 0; i < kDead; i++) {
    const Span* s = gc::alloc::SpanOf(gc::make_unrooted<T>().get());
    if (dead_spans.empty() || dead_spans.back() != s) dead_spans.push_back(s);
  }
  gc::alloc::FlushCurrentCache();
  gc::set_gc_percent(100);  // a pace for the proportional sweep
  const int64_t destroyed_before = T::destroyed.load();
  LazyCycle();
  ASSERT_EQ(T::destroyed.load(), destroyed_before) << "nothing swept yet";

  std::vector<gc::Root<T>> kept;
  for (int i = 0; i < kDead / 2; i++) kept.push_back(gc::make<T>());
  EXPECT_GE(T::destroyed.load() - destroyed_before, kDead / 2)
      << "the refills swept the dead spans";
  EXPECT_EQ(T::destroyed_elsewhere.load(), 0);
  std::sort(dead_spans.begin(), dead_spans.end());
  int reused = 0;
  for (const gc::Root<T>& r : kept) {
    reused += std::binary_search(dead_spans.begin(), dead_spans.end(),
                                 gc::alloc::SpanOf(r.get()));
  }
  EXPECT_EQ(reused, kDead / 2) << "every new object is in a swept dead span";
  gc::set_gc_percent(-1);
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
  // The runway ends at the trigger (below the goal when marking runs
  // beside the program).
  const auto trigger = static_cast<uint64_t>(gc::alloc::Heap::Get().trigger());
  ASSERT_GT(trigger, s.heap_live);
  const uint64_t runway = trigger - s.heap_live;
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

// Allocates (and drops) large objects for what the heap has idle now and
// `extra` bytes more; returns how much the heap grew meanwhile.
uint64_t GrowthForLargeObjectsPastIdle(size_t extra) {
  const gc::Stats before = gc::stats();
  constexpr size_t kLarge = 256 << 10;
  const size_t count = (before.heap_idle + extra) / kLarge;
  std::vector<gc::Root<gc::Array<char>>> large;
  for (size_t i = 0; i < count; i++)
    large.push_back(gc::make_array<char>(kLarge - 64));
  const gc::Stats after = gc::stats();
  return after.heap_sys - before.heap_sys;
}

TEST_F(SweeperTest, PageHeapReclaimsBySweepingBeforeItGrows) {
  using Dead = Counted<576>;
  Sweeper::Get().PauseBackgroundForTesting(true);
  constexpr int kDead = 60000;  // ~33 MiB of dead small objects
  MakeGarbage<576>(kDead);
  gc::alloc::FlushCurrentCache();
  LazyCycle();
  const int64_t destroyed_before = Dead::destroyed.load();
  // The page heap has to find 16 MiB, and sweeping the dead spans gives
  // them back.
  EXPECT_LT(GrowthForLargeObjectsPastIdle(16 << 20), 8u << 20);
  EXPECT_GT(Dead::destroyed.load() - destroyed_before, 0);
  EXPECT_EQ(Dead::destroyed_elsewhere.load(), 0);
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

// Garbage of class Counted<N> in spans of its own; returns their count
// (and the class, through *sc).
template <size_t N>
size_t MakeGarbageSpans(int n, gc::alloc::SpanClass* sc) {
  Counted<N>::test_thread = std::this_thread::get_id();
  std::vector<const Span*> spans;
  for (int i = 0; i < n; i++) {
    const Span* s = gc::alloc::SpanOf(gc::make_unrooted<Counted<N>>().get());
    if (spans.empty() || spans.back() != s) spans.push_back(s);
  }
  *sc = spans.front()->span_class;
  gc::alloc::FlushCurrentCache();
  std::sort(spans.begin(), spans.end());
  return std::unique(spans.begin(), spans.end()) - spans.begin();
}

void SweepAll() {
  while (Sweeper::Get().SweepOne()) {
  }
}

// A class that churns takes about as many spans each cycle as it did in
// the last: the sweep after a triggered cycle keeps as many of the spans
// it empties for the class's refills (Central::Emptied::kKeepIfDue), and
// the refills take them, rather than the sweep freeing each to the page
// heap for the refill to carve the same pages again.
TEST_F(SweeperTest, ATriggeredCyclesSweepKeepsEmptiedSpansForTheirClass) {
  using T = Counted<704>;
  Sweeper::Get().PauseBackgroundForTesting(true);
  gc::alloc::SpanClass sc;
  const size_t dead = MakeGarbageSpans<704>(2000, &sc);  // 182 spans
  gc::alloc::Central& central = Heap::Get().central(sc);
  const uint64_t idle_before = gc::stats().heap_idle;
  LazyCycle();  // no reason but the heap's growth: as a triggered cycle
  SweepAll();
  EXPECT_EQ(central.KeptForTesting(), dead);
  EXPECT_LT(gc::stats().heap_idle, idle_before + (64 << 10))
      << "the emptied spans stayed with their class";
  EXPECT_TRUE(central.Verify());

  std::vector<gc::Root<T>> kept;
  for (int i = 0; i < 1000; i++) kept.push_back(gc::make<T>());
  EXPECT_LE(central.KeptForTesting(), dead - 90)
      << "the refills took the kept spans";
  kept.clear();
  // An explicit cycle gives them back, for any class or the scavenger.
  gc::collect();
  EXPECT_EQ(central.KeptForTesting(), 0u);
}

// The kept spans are a cache for their class, not memory the heap grows
// past: the page heap's reclaim frees them before it asks the OS.
TEST_F(SweeperTest, PageHeapReclaimsKeptSpansBeforeItGrows) {
  Sweeper::Get().PauseBackgroundForTesting(true);
  gc::alloc::SpanClass sc;
  const size_t dead = MakeGarbageSpans<768>(24000, &sc);  // ~18 MiB
  LazyCycle();
  SweepAll();
  ASSERT_EQ(Heap::Get().central(sc).KeptForTesting(), dead);
  EXPECT_LT(GrowthForLargeObjectsPastIdle(16 << 20), 8u << 20);
  EXPECT_LT(Heap::Get().central(sc).KeptForTesting(), dead);
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

// ---- The sweepgen protocol and the lazy cache flush. ----

// A type of its own size class (208 bytes), so its spans hold nothing else.
struct Obj208 {
  gc::Ptr<Obj208> next;
  char pad[200];
};
static_assert(sizeof(Obj208) == 208);
struct Obj240 {
  gc::Ptr<Obj240> next;
  char pad[232];
};
static_assert(sizeof(Obj240) == 240);

uint32_t SweepgenOf(const Span* s) { return s->sweepgen.Load(); }

// Starts from a swept heap (the garbage of earlier tests collected).
class SweepgenTest : public gc::testing::VerifiedHeapTest {};

TEST_F(SweepgenTest, SpanGoesThroughEverySweepgenState) {
  Heap& heap = Heap::Get();
  // S2: a span no cache holds when the cycle runs (partial, uncached), with
  // a rooted object and garbage in it.
  gc::Root<Obj208> keep = gc::make<Obj208>();
  gc::make_unrooted<Obj208>();
  gc::make_unrooted<Obj208>();
  Span* s2 = gc::alloc::SpanOf(keep.get());
  ASSERT_NE(s2, nullptr);
  uint32_t h0 = heap.sweepgen();
  EXPECT_EQ(SweepgenOf(s2), h0 + 3) << "swept, then cached: h+3";
  gc::alloc::FlushCurrentCache();
  EXPECT_EQ(SweepgenOf(s2), h0) << "uncached after its flush: swept, h";

  // S3: cached by this thread's cache while the cycle runs.
  gc::Root<Obj240> cached2 = gc::make<Obj240>();
  Span* s3 = gc::alloc::SpanOf(cached2.get());
  ASSERT_NE(s3, nullptr);
  ASSERT_EQ(SweepgenOf(s3), h0 + 3);

  uint32_t seen_h = 0, s3_at_termination = 0, s2_at_termination = 0,
           s2_claimed = 0, s2_swept = 0;
  CollectWithTerminationHook([&] {
    seen_h = heap.sweepgen();
    s3_at_termination = SweepgenOf(s3);
    s2_at_termination = SweepgenOf(s2);
    // Act as a sweeper: claim s2 (h-2 -> h-1), sweep it, file it back (h).
    gc::alloc::SweepClaim claim = gc::alloc::SweepClaim::TryAcquire(s2, seen_h);
    ASSERT_TRUE(claim);
    EXPECT_FALSE(gc::alloc::SweepClaim::TryAcquire(s2, seen_h))
        << "a claimed span cannot be claimed again";
    s2_claimed = SweepgenOf(s2);
    heap.central(s2->span_class).TakeForSweep(claim);
    gc::internal::Sweeper::SweepTaken(std::move(claim),
                                      gc::alloc::Central::Emptied::kFree);
    s2_swept = SweepgenOf(s2);
  });
  EXPECT_EQ(seen_h, h0 + 2) << "mark termination moves sweepgen on by 2";
  EXPECT_EQ(s3_at_termination, seen_h + 1)
      << "cached before the sweep began, still cached: h+1";
  EXPECT_EQ(s2_at_termination, seen_h - 2) << "uncached, unswept: h-2";
  EXPECT_EQ(s2_claimed, seen_h - 1) << "being swept: h-1";
  EXPECT_EQ(s2_swept, seen_h) << "swept: h";
  // This thread resumed after the cycle: it flushed its cache, sweeping s3
  // on the way out.
  EXPECT_EQ(SweepgenOf(s3), seen_h);
  EXPECT_EQ(gc::alloc::t_cache->flush_gen(), seen_h);
  EXPECT_EQ(s2->CountAllocated(), 1u) << "the sweep freed the garbage";
  // And the next allocation caches a swept span again.
  gc::Root<Obj208> again = gc::make<Obj208>();
  EXPECT_EQ(SweepgenOf(gc::alloc::SpanOf(again.get())), seen_h + 3);
}

// Counts destructor runs per thread.
std::atomic<int> g_destroyed_on_owner{0};
std::atomic<int> g_destroyed_elsewhere{0};
thread_local bool t_is_owner = false;

struct Tracked {
  gc::Ptr<Tracked> next;
  int64_t payload = 0;
  ~Tracked() { (t_is_owner ? g_destroyed_on_owner : g_destroyed_elsewhere)++; }
};

TEST_F(SweepgenTest, RunningProcessorFlushesAndSweepsItsOwnCacheOnResume) {
  g_destroyed_on_owner = 0;
  g_destroyed_elsewhere = 0;
  std::atomic<bool> allocated{false}, stop{false};
  std::atomic<uint32_t> stale_at_termination{0}, flush_gen_after{0};
  std::atomic<int> garbage_in_cached_spans{0};
  std::thread owner([&] {
    t_is_owner = true;
    gc::attach_thread();
    // Garbage in spans this thread's cache keeps: after the cycle, only
    // this thread may sweep them, when it resumes.
    std::vector<gc::Root<Tracked>> keep;
    for (int i = 0; i < 100; i++) {
      gc::make_unrooted<Tracked>();
      keep.push_back(gc::make<Tracked>());
    }
    garbage_in_cached_spans = 100;
    allocated = true;
    uint32_t h_before = Heap::Get().sweepgen();
    while (Heap::Get().sweepgen() == h_before) gc::safepoint();
    // Resumed: the cache was flushed before this line ran.
    flush_gen_after = gc::alloc::t_cache->flush_gen();
    while (!stop) gc::safepoint();
    keep.clear();
    gc::detach_thread();
  });
  while (!allocated) std::this_thread::yield();
  uint32_t h_at_termination = 0;
  CollectWithTerminationHook([&] {
    h_at_termination = Heap::Get().sweepgen();
    for (auto* p = gc::runtime::ProcessorTable::Get().all(); p != nullptr;
         p = p->next_all()) {
      auto* cache = static_cast<gc::alloc::Cache*>(p->local());
      if (p != gc::runtime::CurrentProcessor() &&
          p->status() == gc::runtime::ProcessorStatus::kStopped &&
          cache->flush_gen() != h_at_termination) {
        stale_at_termination++;  // not flushed by mark termination
      }
    }
  });
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while (flush_gen_after.load() == 0 &&
         std::chrono::steady_clock::now() < deadline) {
    std::this_thread::yield();
  }
  EXPECT_GE(stale_at_termination.load(), 1u)
      << "a running (parked) processor is not flushed at mark termination";
  EXPECT_EQ(flush_gen_after.load(), h_at_termination)
      << "it flushed its own cache when it resumed";
  EXPECT_EQ(g_destroyed_on_owner.load(), garbage_in_cached_spans.load())
      << "the garbage in its cached spans was swept by the owner";
  stop = true;
  owner.join();
}

TEST_F(SweepgenTest, BlockedProcessorIsFlushedAtMarkTermination) {
  std::mutex mu;
  std::condition_variable cv;
  bool in_region = false, may_leave = false;
  uint32_t flush_gen_in_region_after = 0;
  std::atomic<int> live_intact{0};
  std::thread blocked([&] {
    gc::attach_thread();
    gc::Root<Obj208> mine = gc::make<Obj208>();
    for (int i = 0; i < 50; i++) gc::make_unrooted<Obj208>();  // garbage
    {
      gc::Blocking region;
      std::unique_lock<std::mutex> lock(mu);
      in_region = true;
      cv.notify_all();
      cv.wait(lock, [&] { return may_leave; });
    }
    flush_gen_in_region_after = gc::alloc::t_cache->flush_gen();
    live_intact = mine->next == nullptr ? 1 : 0;
    gc::Root<Obj208> more = gc::make<Obj208>();  // allocates again
    live_intact += more ? 1 : 0;
    gc::detach_thread();
  });
  {
    std::unique_lock<std::mutex> lock(mu);
    cv.wait(lock, [&] { return in_region; });
  }
  uint32_t h = 0;
  bool flushed_at_termination = false;
  CollectWithTerminationHook([&] {
    h = Heap::Get().sweepgen();
    for (auto* p = gc::runtime::ProcessorTable::Get().all(); p != nullptr;
         p = p->next_all()) {
      if (p->status() == gc::runtime::ProcessorStatus::kBlocked) {
        flushed_at_termination =
            static_cast<gc::alloc::Cache*>(p->local())->flush_gen() == h;
      }
    }
  });
  EXPECT_TRUE(flushed_at_termination);
  {
    std::lock_guard<std::mutex> lock(mu);
    may_leave = true;
    cv.notify_all();
  }
  blocked.join();
  EXPECT_EQ(flush_gen_in_region_after, h);
  EXPECT_EQ(live_intact.load(), 2);
  gc::collect();  // the next cycle finds every cache flushed
}

TEST_F(SweepgenTest, EverySpanIsSweptBeforeTheNextCycleAndBitsStayConsistent) {
  // Many cycles with garbage in every state; the verifier (on) checks after
  // each that nothing reachable was freed, and the collector checks that
  // every cache was flushed.
  std::vector<gc::Root<Obj208>> keep;
  for (int round = 0; round < 20; round++) {
    for (int i = 0; i < 500; i++) {
      auto o = gc::make<Obj208>();
      if (i % 7 == 0) keep.push_back(o);
    }
    if (round % 3 == 0) gc::alloc::FlushCurrentCache();
    gc::collect();
    for (auto& k : keep) ASSERT_EQ(k->next, nullptr);
  }
  gc::collect();
  EXPECT_TRUE(gc::internal::Sweeper::Get().WalkDone());
}

}  // namespace
