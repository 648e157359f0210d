// Bad input gets clear errors: gc::collect() from a destructor the sweeper
// runs, a root set unregistered (or registered, or a collection started)
// from inside marking, allocation or collection inside a gc::Blocking
// scope, and array sizes that overflow or exceed the largest object. After
// every recoverable error the heap keeps working: the objects alive before
// are intact, allocation and collection go on.
//
// Every test runs with the verifier on (gc::set_verify(true)).
#include <gtest/gtest.h>

#include <array>
#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <functional>
#include <mutex>
#include <new>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "gcrt/alloc/cache.h"
#include "gcrt/alloc/heap.h"
#include "gcrt/gc.h"
#include "gcrt/gc/collector.h"
#include "gcrt/runtime/processor.h"
#include "tests/test_support/destructions.h"
#include "tests/test_support/sanitizers.h"
#include "tests/test_support/verified_heap_test.h"

namespace {

using namespace std::chrono_literals;

constexpr int kScale = gc::testing::kSanitizerSlowdown;

using gc::testing::Destroyed;
using gc::testing::Leaf;  // a pointer-free object that counts its destruction
using gc::testing::NextId;

// A traced object holding leaves.
class Holder {
 public:
  void trace(gc::Tracer& t) const { t(leaves, next); }
  std::vector<gc::Ptr<Leaf>> leaves;
  gc::Ptr<Holder> next;
};

// Runs fn, which must throw E; returns what() (empty, and a failure, if it
// did not throw E).
template <typename E, typename Fn>
std::string WhatOf(Fn fn) {
  try {
    fn();
  } catch (const E& e) {
    return e.what();
  } catch (const std::exception& e) {
    ADD_FAILURE() << "threw another exception: " << e.what();
    return "";
  }
  ADD_FAILURE() << "did not throw";
  return "";
}

bool Contains(const std::string& s, const std::string& part) {
  return s.find(part) != std::string::npos;
}

// A structure of n leaves under a chain of holders, and its check.
gc::Root<Holder> MakeHolders(int n, std::vector<int>* ids) {
  gc::Root<Holder> head = gc::make<Holder>();
  for (int i = 0; i < n; i++) {
    if (i % 16 == 15) {
      gc::Root<Holder> h = gc::make<Holder>();
      h->next = head;
      head = h;
    }
    gc::Ptr<Leaf> leaf = gc::make_unrooted<Leaf>();
    head->leaves.push_back(leaf);
    ids->push_back(leaf->id());
  }
  return head;
}
int CountIntact(const Holder* h) {
  int n = 0;
  for (; h != nullptr; h = h->next.get()) {
    for (const gc::Ptr<Leaf>& l : h->leaves) {
      n += l->Intact() && Destroyed(l->id()) == 0;
    }
  }
  return n;
}

class Errors : public gc::testing::VerifiedHeapTest {
 protected:
  void TearDown() override {
    gc::set_gc_percent(100);
    gc::collect();
  }
};

// ---- gc::collect() from a destructor. ----

std::mutex g_messages_mu;
std::vector<std::string> g_messages;  // Guarded by g_messages_mu.
std::atomic<int> g_logic_errors{0}, g_other_errors{0}, g_no_errors{0};

// Its destructor (run by the sweeper, on whichever thread sweeps) calls
// gc::collect(). Destructors are noexcept: the error is caught and
// recorded here.
struct CollectsInDestructor {
  int64_t payload = 0;
  ~CollectsInDestructor() {
    try {
      gc::collect();
      g_no_errors++;
    } catch (const std::logic_error& e) {
      g_logic_errors++;
      std::lock_guard<std::mutex> lock(g_messages_mu);
      g_messages.push_back(e.what());
    } catch (...) {
      g_other_errors++;
    }
  }
};

TEST_F(Errors, CollectInsideADestructorThrowsLogicError) {
  gc::set_gc_percent(-1);  // no cycle but ours
  constexpr int kDead = 100;
  gc::Root<CollectsInDestructor> kept = gc::make<CollectsInDestructor>();
  kept->payload = 42;
  for (int i = 0; i < kDead; i++) {
    gc::make_unrooted<CollectsInDestructor>()->payload = i;
  }
  std::vector<int> ids;
  gc::Root<Holder> holders = MakeHolders(200, &ids);
  const uint64_t gc_before = gc::stats().num_gc;
  const uint64_t destroyed_before = gc::stats().objects_destroyed;
  gc::collect();  // sweeps the dead ones, to the end, before it returns
  EXPECT_EQ(g_logic_errors.load(), kDead);
  EXPECT_EQ(g_no_errors.load(), 0);
  EXPECT_EQ(g_other_errors.load(), 0);
  {
    std::lock_guard<std::mutex> lock(g_messages_mu);
    ASSERT_EQ(g_messages.size(), static_cast<size_t>(kDead));
    EXPECT_TRUE(Contains(g_messages[0], "destructor")) << g_messages[0];
  }
  // No cycle ran from inside the destructors.
  EXPECT_EQ(gc::stats().num_gc - gc_before, 1u);
  EXPECT_EQ(gc::stats().objects_destroyed - destroyed_before,
            static_cast<uint64_t>(kDead));

  // The heap goes on: what was reachable is intact, new cycles run.
  EXPECT_EQ(kept->payload, 42);
  EXPECT_EQ(CountIntact(holders.get()), 200);
  std::vector<int> more;
  gc::Root<Holder> more_holders = MakeHolders(500, &more);
  gc::collect();
  EXPECT_EQ(CountIntact(holders.get()), 200);
  EXPECT_EQ(CountIntact(more_holders.get()), 500);
  EXPECT_EQ(g_logic_errors.load(), kDead);  // kept is still alive
  kept = nullptr;
  holders = nullptr;
  gc::collect();
  EXPECT_EQ(g_logic_errors.load(), kDead + 1);
  EXPECT_EQ(g_no_errors.load(), 0);
  for (int id : ids) EXPECT_EQ(Destroyed(id), 1);
  for (int id : more) EXPECT_EQ(Destroyed(id), 0);
}

// ---- Root sets and marking. ----

TEST(ErrorsDeathTest, RootSetUnregisteredDuringMarkingStopsTheProgram) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_DEATH(
      {
        gc::set_mark_workers(1);
        gc::Root<Leaf> leaf = gc::make<Leaf>();
        gc::RootSet* victim = new gc::RootSet([](gc::Tracer&) {});
        gc::RootSet killer([&](gc::Tracer&) {
          delete victim;  // destroyed from inside a root set callback
          victim = nullptr;
        });
        gc::collect();
      },
      "unregistered during marking");
}

TEST(ErrorsDeathTest, RootSetDestroyingItselfDuringMarkingStopsTheProgram) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_DEATH(
      {
        gc::set_mark_workers(1);
        gc::RootSet* self = nullptr;
        self = new gc::RootSet([&](gc::Tracer&) { delete self; });
        gc::collect();
      },
      "unregistered during marking");
}

TEST(ErrorsDeathTest, RootSetRegisteredDuringMarkingStopsTheProgram) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_DEATH(
      {
        gc::set_mark_workers(1);
        gc::RootSet outer([](gc::Tracer&) {
          static gc::RootSet* inner = new gc::RootSet([](gc::Tracer&) {});
          (void)inner;
        });
        gc::collect();
      },
      "registered inside marking");
}

// Allocating from a root set callback names what was done: an object
// made, not only a handle.
TEST(ErrorsDeathTest, AllocationFromARootSetCallbackStopsTheProgram) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_DEATH(
      {
        gc::set_mark_workers(1);
        gc::RootSet set(
            [](gc::Tracer&) { (void)gc::make_unrooted<int64_t>(1); });
        gc::collect();
      },
      "a gc::Root or GC object was created inside marking.*not allocate");
}

TEST(ErrorsDeathTest, CollectionFromARootSetCallbackStopsTheProgram) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_DEATH(
      {
        gc::set_mark_workers(1);
        gc::RootSet set([](gc::Tracer&) { gc::collect(); });
        gc::collect();
      },
      "while marking");
}

TEST_F(Errors, RootSetsComeAndGoOnOtherThreadsWhileCollectionsRun) {
  // The correct use, for contrast: a root set destroyed outside of marking,
  // on any thread, waits for a marking in progress; what it held is kept
  // while it is registered and collected after.
  const int kRounds = 3000 / kScale;
  std::atomic<bool> stop{false};
  std::atomic<int> failures{0};
  std::thread collector([&] {
    while (!stop.load()) {
      gc::collect();
      gc::Blocking region;
      std::this_thread::sleep_for(200us);
    }
  });
  std::vector<std::thread> threads;
  std::vector<int> all_ids[2];
  for (int t = 0; t < 2; t++) {
    threads.emplace_back([&, t] {
      for (int r = 0; r < kRounds; r++) {
        std::vector<gc::Ptr<Leaf>> held;  // traced by the set only
        std::vector<int> ids;
        gc::RootSet set([&](gc::Tracer& tr) { tr(held); });
        for (int i = 0; i < 20; i++) {
          gc::Ptr<Leaf> leaf = gc::make_unrooted<Leaf>();
          held.push_back(leaf);
          ids.push_back(leaf->id());
          gc::make_unrooted<Leaf>();  // garbage
        }
        gc::safepoint();
        for (size_t i = 0; i < held.size(); i++) {
          if (!held[i]->Intact() || Destroyed(ids[i]) != 0) {
            failures++;
          }
        }
        all_ids[t].insert(all_ids[t].end(), ids.begin(), ids.end());
      }  // set unregistered here, maybe while a marking runs
    });
  }
  {
    gc::Blocking region;
    for (auto& th : threads) th.join();
  }
  stop = true;
  {
    gc::Blocking region;
    collector.join();
  }
  EXPECT_EQ(failures.load(), 0);
  gc::collect();
  for (auto& ids : all_ids) {
    for (int id : ids) ASSERT_EQ(Destroyed(id), 1) << id;
  }
}

// ---- Blocking regions. ----

TEST_F(Errors, AllocationInsideABlockingRegionThrowsLogicError) {
  std::vector<int> ids;
  gc::Root<Holder> before = MakeHolders(100, &ids);
  gc::Root<Leaf> leaf = gc::make<Leaf>();
  gc::Root<Leaf> target = gc::make<Leaf>();
  const int next_id = NextId();
  {
    gc::Blocking region;
    std::string what = WhatOf<std::logic_error>([] { gc::make<Leaf>(); });
    EXPECT_TRUE(Contains(what, "blocking region")) << what;
    what = WhatOf<std::logic_error>([] { gc::make_unrooted<Leaf>(); });
    EXPECT_TRUE(Contains(what, "blocking region")) << what;
    what = WhatOf<std::logic_error>([] { gc::make_array<uint64_t>(10); });
    EXPECT_TRUE(Contains(what, "blocking region")) << what;
    what = WhatOf<std::logic_error>(
        [] { gc::make_array<uint64_t>(100000); });  // a large object
    EXPECT_TRUE(Contains(what, "blocking region")) << what;
    what = WhatOf<std::logic_error>([] { gc::make_array<Leaf>(5); });
    EXPECT_TRUE(Contains(what, "blocking region")) << what;
    // Taking a new handle is refused as well.
    what = WhatOf<std::logic_error>([&] { gc::Root<Leaf> copy = leaf; });
    EXPECT_TRUE(Contains(what, "blocking region")) << what;
    // And storing a pointer into an existing one.
    what = WhatOf<std::logic_error>([&] { target = leaf; });
    EXPECT_TRUE(Contains(what, "blocking region")) << what;
    {
      gc::Blocking nested;
      what = WhatOf<std::logic_error>([] { gc::make<Holder>(); });
      EXPECT_TRUE(Contains(what, "blocking region")) << what;
    }
    // Still inside the outer region.
    what = WhatOf<std::logic_error>([] { gc::make<Leaf>(); });
    EXPECT_TRUE(Contains(what, "blocking region")) << what;
  }
  // No constructor ran for the refused objects.
  EXPECT_EQ(NextId(), next_id);
  // Out of the region, allocation works and nothing was disturbed.
  gc::Root<Leaf> after = gc::make<Leaf>();
  gc::Root<Leaf> copy = leaf;
  std::vector<int> more;
  gc::Root<Holder> more_holders = MakeHolders(300, &more);
  gc::collect();
  EXPECT_TRUE(after->Intact());
  EXPECT_TRUE(leaf->Intact());
  EXPECT_EQ(copy.get(), leaf.get());
  EXPECT_EQ(CountIntact(before.get()), 100);
  EXPECT_EQ(CountIntact(more_holders.get()), 300);
}

TEST_F(Errors, CollectInsideABlockingRegionThrowsLogicError) {
  std::vector<int> ids;
  gc::Root<Holder> kept = MakeHolders(100, &ids);
  const uint64_t gc_before = gc::stats().num_gc;
  {
    gc::Blocking region;
    std::string what = WhatOf<std::logic_error>([] { gc::collect(); });
    EXPECT_TRUE(Contains(what, "blocking region")) << what;
  }
  EXPECT_EQ(gc::stats().num_gc, gc_before);
  gc::collect();
  EXPECT_EQ(gc::stats().num_gc, gc_before + 1);
  EXPECT_EQ(CountIntact(kept.get()), 100);
}

TEST_F(Errors, UnattachedThreadInABlockingRegionIsRefusedAndStaysDetached) {
  // A thread that never touched the heap enters a blocking region and
  // tries to allocate and collect there: refused, without attaching it
  // (a thread holding a processor in a blocking region would hold the
  // world up). Collections elsewhere complete meanwhile; out of the
  // region, it allocates normally.
  std::atomic<int> step{0};
  std::atomic<bool> leave{false};
  std::vector<int> ids;
  std::thread t([&] {
    {
      gc::Blocking region;
      std::string what = WhatOf<std::logic_error>([] { gc::make<Leaf>(); });
      EXPECT_TRUE(Contains(what, "blocking region")) << what;
      what = WhatOf<std::logic_error>([] { gc::make_array<char>(100); });
      EXPECT_TRUE(Contains(what, "blocking region")) << what;
      what = WhatOf<std::logic_error>([] { gc::collect(); });
      EXPECT_TRUE(Contains(what, "blocking region")) << what;
      EXPECT_EQ(gc::runtime::CurrentProcessor(), nullptr);
      step = 1;
      while (!leave.load()) std::this_thread::sleep_for(1ms);
    }
    gc::Root<Holder> h = MakeHolders(50, &ids);
    gc::collect();
    EXPECT_EQ(CountIntact(h.get()), 50);
  });
  auto deadline = std::chrono::steady_clock::now() + 30s;
  while (step.load() == 0 && std::chrono::steady_clock::now() < deadline) {
    gc::safepoint();
    std::this_thread::sleep_for(1ms);
  }
  EXPECT_EQ(step.load(), 1);
  // Bounded: a collection on another thread must not wait for t.
  std::atomic<bool> collected{false};
  std::thread c([&] {
    gc::collect();
    collected = true;
  });
  while (!collected.load() && std::chrono::steady_clock::now() < deadline) {
    gc::safepoint();
    std::this_thread::sleep_for(1ms);
  }
  EXPECT_TRUE(collected.load())
      << "a collection waited for a thread refused in a blocking region";
  leave = true;
  {
    gc::Blocking region;
    c.join();
    t.join();
  }
  gc::collect();
  ASSERT_EQ(ids.size(), 50u);
  for (int id : ids) EXPECT_EQ(Destroyed(id), 1);
}

// ---- Sizes. ----

struct alignas(64) Wide {
  char c;
};
static_assert(sizeof(Wide) == 64);

TEST_F(Errors, ArraySizeOverflowThrowsBadAllocAndTheHeapStillWorks) {
  std::vector<int> ids;
  gc::Root<Holder> kept = MakeHolders(100, &ids);
  gc::collect();
  const gc::Stats before = gc::stats();
  const int next_id = NextId();
  constexpr size_t kMax = SIZE_MAX;
  // n * sizeof(T) overflows.
  std::string what =
      WhatOf<std::bad_alloc>([] { gc::make_array<uint64_t>(kMax / 4); });
  EXPECT_TRUE(Contains(what, "overflow")) << what;
  what = WhatOf<std::bad_alloc>([] { gc::make_array<uint64_t>(kMax / 8 + 1); });
  EXPECT_TRUE(Contains(what, "overflow")) << what;
  what = WhatOf<std::bad_alloc>([] { gc::make_array<Leaf>(kMax / 2); });
  EXPECT_TRUE(Contains(what, "overflow")) << what;
  what = WhatOf<std::bad_alloc>(
      [] { gc::make_array<gc::Ptr<Leaf>>(kMax / 8 + 1); });
  EXPECT_TRUE(Contains(what, "overflow")) << what;
  what = WhatOf<std::bad_alloc>([] { gc::make_array<char>(kMax); });
  EXPECT_TRUE(Contains(what, "overflow")) << what;
  // n * sizeof(T) fits; adding the header does not.
  what = WhatOf<std::bad_alloc>([] { gc::make_array<uint64_t>(kMax / 8); });
  EXPECT_TRUE(Contains(what, "overflow")) << what;
  what = WhatOf<std::bad_alloc>([] { gc::make_array<Wide>((kMax - 63) / 64); });
  EXPECT_TRUE(Contains(what, "overflow")) << what;
  EXPECT_EQ(NextId(), next_id);  // no element was constructed

  // The heap goes on, and nothing was left behind.
  gc::collect();
  const gc::Stats after = gc::stats();
  EXPECT_EQ(after.heap_objects, before.heap_objects);
  EXPECT_EQ(after.heap_alloc, before.heap_alloc);
  EXPECT_EQ(CountIntact(kept.get()), 100);
  gc::Root<gc::Array<uint64_t>> a = gc::make_array<uint64_t>(1000);
  for (size_t i = 0; i < a->size(); i++) (*a)[i] = i * 3;
  gc::Root<gc::Array<Wide>> w = gc::make_array<Wide>(10);
  EXPECT_EQ(reinterpret_cast<uintptr_t>(w->data()) % 64, 0u);
  gc::collect();
  for (size_t i = 0; i < a->size(); i++) ASSERT_EQ((*a)[i], i * 3);
  EXPECT_EQ(w->size(), 10u);
}

TEST_F(Errors, HugeArrayThrowsBadAllocAndTheHeapStillWorks) {
  std::vector<int> ids;
  gc::Root<Holder> kept = MakeHolders(100, &ids);
  gc::collect();
  const gc::Stats before = gc::stats();
  const int next_id = NextId();
  // 32 TiB: no overflow, but far beyond the largest object.
  std::string what =
      WhatOf<std::bad_alloc>([] { gc::make_array<uint64_t>(size_t{1} << 42); });
  EXPECT_FALSE(what.empty());
  EXPECT_TRUE(Contains(what, "out of memory")) << what;
  // Elements with constructors and destructors: none runs.
  what = WhatOf<std::bad_alloc>([] { gc::make_array<Leaf>(size_t{1} << 41); });
  EXPECT_TRUE(Contains(what, "out of memory")) << what;
  // Just past the largest object (1 TiB).
  what = WhatOf<std::bad_alloc>(
      [] { gc::make_array<char>((size_t{1} << 40) - 8 + 1); });
  EXPECT_TRUE(Contains(what, "out of memory")) << what;
  // Pointer arrays too (scanned objects take another path).
  what = WhatOf<std::bad_alloc>(
      [] { gc::make_array<gc::Ptr<Leaf>>(size_t{1} << 42); });
  EXPECT_TRUE(Contains(what, "out of memory")) << what;
  EXPECT_EQ(NextId(), next_id);

  gc::collect();
  const gc::Stats after = gc::stats();
  EXPECT_EQ(after.heap_objects, before.heap_objects);
  EXPECT_EQ(after.heap_alloc, before.heap_alloc);
  EXPECT_EQ(CountIntact(kept.get()), 100);
  // Later allocations work, small and large.
  std::vector<int> more;
  gc::Root<Holder> more_holders = MakeHolders(1000, &more);
  gc::Root<gc::Array<gc::Ptr<Leaf>>> big =
      gc::make_array<gc::Ptr<Leaf>>(100000);  // 800 KB, a large object
  std::vector<int> big_ids;
  for (size_t i = 0; i < big->size(); i += 1000) {
    gc::Ptr<Leaf> l = gc::make_unrooted<Leaf>();
    (*big)[i] = l;
    big_ids.push_back(l->id());
  }
  gc::collect();
  EXPECT_EQ(CountIntact(more_holders.get()), 1000);
  for (size_t i = 0, k = 0; i < big->size(); i += 1000, k++) {
    ASSERT_TRUE((*big)[i]->Intact());
    ASSERT_EQ((*big)[i]->id(), big_ids[k]);
  }
  big = nullptr;
  gc::collect();
  for (int id : big_ids) EXPECT_EQ(Destroyed(id), 1);
}

// ---- Allocation from a destructor, and the collector's own invariants. ----

std::atomic<int> g_alloc_refused{0}, g_alloc_allowed{0}, g_root_refused{0},
    g_global_refused{0};
gc::Global<Holder>* g_live_holder = nullptr;

// Its destructor tries to allocate and to root a live object (a gc::Root,
// a gc::Global): each is refused with std::logic_error in every build (the
// destructor may be running inside the refill that sweeps its span).
struct AllocatesInDestructor {
  int64_t payload = 0;
  ~AllocatesInDestructor() {
    try {
      gc::make_unrooted<AllocatesInDestructor>();
      g_alloc_allowed++;
    } catch (const std::logic_error& e) {
      if (Contains(e.what(), "destructor")) g_alloc_refused++;
    }
    if (g_live_holder == nullptr) return;  // after the test
    try {
      gc::Root<Holder> r(g_live_holder->get());
      g_alloc_allowed++;
    } catch (const std::logic_error& e) {
      if (Contains(e.what(), "destructor")) g_root_refused++;
    }
    try {
      gc::Global<Holder> g(g_live_holder->get());
      g_alloc_allowed++;
    } catch (const std::logic_error& e) {
      if (Contains(e.what(), "destructor")) g_global_refused++;
    }
  }
};

TEST_F(Errors, AllocationAndRootsInsideADestructorThrowLogicError) {
  gc::set_gc_percent(-1);
  std::vector<int> ids;
  gc::Global<Holder> live(MakeHolders(100, &ids));
  g_live_holder = &live;
  constexpr int kDead = 300;
  for (int i = 0; i < kDead; i++) {
    gc::make_unrooted<AllocatesInDestructor>()->payload = i;
  }
  gc::collect();
  EXPECT_EQ(g_alloc_refused.load(), kDead);
  EXPECT_EQ(g_root_refused.load(), kDead);
  EXPECT_EQ(g_global_refused.load(), kDead);
  EXPECT_EQ(g_alloc_allowed.load(), 0);
  // Nothing was lost, and the heap goes on.
  EXPECT_EQ(CountIntact(live.get()), 100);
  gc::Root<AllocatesInDestructor> fresh = gc::make<AllocatesInDestructor>();
  fresh->payload = 7;
  gc::collect();
  EXPECT_EQ(fresh->payload, 7);
  EXPECT_EQ(CountIntact(live.get()), 100);
  g_live_holder = nullptr;
  gc::set_gc_percent(100);
}

TEST(ErrorsDeathTest, VerifierStopsTheProgramWhenAReachableObjectIsUnmarked) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_DEATH(
      {
        gc::set_verify(true);
        std::vector<int> ids;
        gc::Root<Holder> h = MakeHolders(40, &ids);  // 3 holders
        static Holder* victim;
        victim = h->next.get();
        // A marker bug, simulated: the mark of a reachable object is lost.
        gc::internal::Collector::Get().SetMarkedHookForTesting(
            [](void*) {
              gc::alloc::Span* s = gc::alloc::SpanOf(victim);
              uint32_t slot = s->SlotIndex(reinterpret_cast<uintptr_t>(victim));
              s->mark_bits[slot / 64] &= ~(uint64_t{1} << (slot % 64));
            },
            nullptr);
        gc::collect();
      },
      "is reachable but was not marked.*every reachable object is marked");
}

TEST(ErrorsDeathTest, CycleStopsTheProgramWhenACacheWasNotFlushed) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_DEATH(
      {
        gc::Root<Holder> h = gc::make<Holder>();  // attaches
        // A processor that resumed without its prepareForSweep, simulated.
        gc::alloc::t_cache->SetFlushGenForTesting(
            gc::alloc::Heap::Get().sweepgen() - 2);
        gc::collect();
      },
      "resumed without flushing.*every cache is flushed before a new cycle");
}

}  // namespace
