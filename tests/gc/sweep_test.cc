// The sweepgen protocol and the lazy cache flush (seed 002): a span driven
// through every state of docs/design.md's sweepgen table, idle/blocked
// processors flushed at mark termination, running ones flushing (and
// sweeping) on resume.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <thread>
#include <vector>

#include "alloc/cache.h"
#include "alloc/heap.h"
#include "api/gc.h"
#include "gc/collector.h"
#include "gc/sweeper.h"
#include "runtime/processor.h"

namespace {

using gc::alloc::Heap;
using gc::alloc::Span;
using gc::internal::Collector;

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

// Runs `fn` at the end of the next mark termination (world stopped).
template <typename Fn>
void CollectWithTerminationHook(Fn fn) {
  static Fn* current;
  current = &fn;
  Collector::Get().SetTerminationHookForTesting([](void*) { (*current)(); },
                                                nullptr);
  gc::collect();
  Collector::Get().SetTerminationHookForTesting(nullptr, nullptr);
}

class SweepTest : public ::testing::Test {
 protected:
  void SetUp() override {
    gc::set_verify(true);
    gc::collect();  // start from a swept heap
  }
};

TEST_F(SweepTest, SpanGoesThroughEverySweepgenState) {
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
    gc::internal::Sweeper::SweepTaken(std::move(claim));
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

TEST_F(SweepTest, RunningProcessorFlushesAndSweepsItsOwnCacheOnResume) {
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

TEST_F(SweepTest, BlockedProcessorIsFlushedAtMarkTermination) {
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

TEST_F(SweepTest, EverySpanIsSweptBeforeTheNextCycleAndBitsStayConsistent) {
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
