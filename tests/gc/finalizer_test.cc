// Finalizers (gc::set_finalizer, gc/finalizer.h): one run per object, after
// a collection found it unreachable and before it is reclaimed; the object
// and everything it reaches intact while it runs; resurrection; order
// between finalizable objects; weak references cleared first; the
// finalizer thread; errors; explicit free dropping the finalizer; many
// threads at once.
//
// Every test runs with the verifier on.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "gcrt/gc.h"
#include "gcrt/runtime/stack.h"
#include "tests/test_support/verified_heap_test.h"

namespace {

using namespace std::chrono_literals;

// A checksummed object whose destructor counts.
struct Obj {
  gc::Ptr<Obj> child;
  gc::Ptr<Obj> other;
  int64_t id = 0;
  int64_t check = 0;
  std::string name;  // non-trivial destructor
  ~Obj() { destroyed.fetch_add(1, std::memory_order_relaxed); }
  static inline std::atomic<int64_t> destroyed{0};
};

gc::Root<Obj> MakeObj(int64_t id) {
  gc::Root<Obj> o = gc::make<Obj>();
  o->id = id;
  o->check = id * 7919 + 1;
  o->name = "obj" + std::to_string(id);
  return o;
}

bool Intact(const Obj* o, int64_t id) {
  return o->id == id && o->check == id * 7919 + 1 &&
         o->name == "obj" + std::to_string(id);
}

template <typename Pred>
bool Eventually(Pred pred, std::chrono::milliseconds limit = 30s) {
  auto deadline = std::chrono::steady_clock::now() + limit;
  while (!pred()) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    gc::Blocking blocking;
    std::this_thread::sleep_for(1ms);
  }
  return true;
}

class FinalizerTest : public gc::testing::VerifiedHeapTest {
 protected:
  void SetUp() override {
    gc::set_gc_percent(100);
    VerifiedHeapTest::SetUp();
    gc::run_finalizers();
  }
};

TEST_F(FinalizerTest, RunsOnceWithTheObjectAndWhatItReachesIntact) {
  std::atomic<int> runs{0};
  std::atomic<bool> intact{false};
  const uint64_t queued_before = gc::stats().finalizers_queued;
  const uint64_t pending_before = gc::stats().finalizers_pending;
  {
    gc::Root<Obj> o = MakeObj(1);
    o->child = MakeObj(2);
    o->child->child = MakeObj(3);
    gc::set_finalizer(o, [&](Obj* self) {
      intact = Intact(self, 1) && Intact(self->child.get(), 2) &&
               Intact(self->child->child.get(), 3);
      runs++;
    });
    EXPECT_EQ(gc::stats().finalizers_pending, pending_before + 1);
  }
  const int64_t destroyed = Obj::destroyed.load();
  gc::collect();
  EXPECT_EQ(gc::stats().finalizers_queued, queued_before + 1);
  EXPECT_EQ(gc::stats().finalizers_pending, pending_before);
  EXPECT_EQ(Obj::destroyed.load(), destroyed)
      << "nothing a queued finalizer reaches is reclaimed";
  gc::run_finalizers();
  EXPECT_EQ(runs.load(), 1);
  EXPECT_TRUE(intact.load());
  gc::collect();
  EXPECT_EQ(Obj::destroyed.load() - destroyed, 3)
      << "after the finalizer ran, the next cycle reclaims all three";
  gc::collect();
  gc::run_finalizers();
  EXPECT_EQ(runs.load(), 1) << "a finalizer runs once";
}

// gc::Global holds an object as gc::Root does: a finalizer and a cleanup
// are set (and a finalizer cleared) through one too.
TEST_F(FinalizerTest, AGlobalTakesAFinalizerAndACleanup) {
  std::atomic<int> finalized{0};
  static std::atomic<int> cleaned{0};
  cleaned = 0;
  {
    gc::Global<Obj> g = MakeObj(4);
    gc::set_finalizer(g, [&](Obj*) { finalized++; });
    gc::Global<Obj> h = MakeObj(5);
    gc::add_cleanup(
        h, [](int n) { cleaned += n; }, 7);
    gc::add_cleanup(h, [] { cleaned += 1; });
    gc::Global<Obj> k = MakeObj(6);
    gc::set_finalizer(k, [&](Obj*) { finalized += 100; });
    EXPECT_TRUE(gc::clear_finalizer(k));
  }
  gc::collect();
  gc::collect();
  gc::run_finalizers();
  EXPECT_EQ(finalized.load(), 1);
  EXPECT_EQ(cleaned.load(), 8);
}

TEST_F(FinalizerTest, TheFinalizerThreadRunsItWithoutBeingAsked) {
  std::atomic<int> runs{0};
  std::atomic<std::thread::id> ran_on{};
  {
    gc::Root<Obj> o = MakeObj(10);
    gc::set_finalizer(o, [&](Obj*) {
      ran_on = std::this_thread::get_id();
      runs++;
    });
  }
  gc::collect();
  EXPECT_TRUE(Eventually([&] { return runs.load() == 1; }));
  EXPECT_NE(ran_on.load(), std::this_thread::get_id());
}

// A finalizable object with a child, both known only weakly here.
GCRT_NOINLINE void MakeFinalizableParent(int64_t id, gc::Weak<Obj>* parent,
                                         gc::Weak<Obj>* child,
                                         std::atomic<int>* runs) {
  gc::Root<Obj> o = MakeObj(id);
  o->child = MakeObj(id + 1);
  *parent = gc::Weak<Obj>(o);
  *child = gc::Weak<Obj>(o->child);
  gc::set_finalizer(o, [runs](Obj* self) {
    if (self->child != nullptr) runs->fetch_add(1);
  });
}

// With stack scanning on, the finalizer thread's wait kept the last object
// it finalized (a pointer its finalizer left in a stack slot the wait's
// frames did not overwrite), and with it everything that object reached:
// the object was never reclaimed (a new user's program kept 79 of 80
// finalized subtrees).
// What keeps w's object alive, as gc::why_alive says ("" if it is gone).
std::string WhatKeeps(const gc::Weak<Obj>& w) {
  Obj* raw;
  {
    gc::Root<Obj> r = w.lock();
    if (!r) return "";
    raw = r.get();
  }
  return gc::why_alive(raw).text();
}

TEST_F(FinalizerTest, TheFinalizerThreadKeepsNothingItFinalized) {
  // Scanning restored however the test ends (the later tests assume it off).
  struct StackScan {
    bool before = gc::set_stack_scan(true);
    ~StackScan() { gc::set_stack_scan(before); }
  } scan;
  // Other stacks may keep an object a while (a stale word of this thread's
  // collections, more of them in unoptimized builds); the finalizer
  // thread's must not.
  int kept_by_finalizer_thread = 0;
  for (int round = 0; round < 8; round++) {
    std::atomic<int> runs{0};
    gc::Weak<Obj> parent, child;
    MakeFinalizableParent(100 + 2 * round, &parent, &child, &runs);
    gc::runtime::ClearDeadStack();  // this thread's own leftovers
    gc::collect();
    if (Eventually([&] { return runs.load() == 1; }, 5s)) {
      for (int i = 0; i < 3; i++) gc::collect();
    }
    const std::string why = WhatKeeps(child);
    kept_by_finalizer_thread += why.find("gcrt-finalizer") != std::string::npos;
    if (!why.empty())
      std::fprintf(stderr, "round %d: %s\n", round, why.c_str());
  }
  EXPECT_EQ(kept_by_finalizer_thread, 0);
}

TEST_F(FinalizerTest, AFinalizerMayResurrectItsObject) {
  static gc::Global<Obj> saved;
  std::atomic<int> runs{0};
  {
    gc::Root<Obj> o = MakeObj(20);
    o->child = MakeObj(21);
    gc::set_finalizer(o, [&](Obj* self) {
      saved = gc::Global<Obj>(gc::Ptr<Obj>(self));
      runs++;
    });
  }
  const int64_t destroyed = Obj::destroyed.load();
  gc::collect();
  gc::run_finalizers();
  ASSERT_EQ(runs.load(), 1);
  for (int i = 0; i < 3; i++) {
    // Allocation churn over the cycles: freed memory would be reused.
    for (int j = 0; j < 5000; j++) MakeObj(-1);
    gc::collect();
  }
  gc::run_finalizers();
  EXPECT_EQ(runs.load(), 1) << "the finalizer is gone once it ran";
  ASSERT_NE(saved.get(), nullptr);
  EXPECT_TRUE(Intact(saved.get(), 20));
  EXPECT_TRUE(Intact(saved->child.get(), 21));
  const int64_t churn = 3 * 5000;
  EXPECT_EQ(Obj::destroyed.load() - destroyed, churn)
      << "only the churn died: the resurrected pair lives";
  saved = gc::Global<Obj>();
  gc::collect();
  EXPECT_EQ(Obj::destroyed.load() - destroyed, churn + 2);
}

TEST_F(FinalizerTest, OfTwoFinalizableObjectsTheReachingOneGoesFirst) {
  std::vector<int64_t> order;
  std::mutex mu;
  auto record = [&](Obj* self) {
    std::lock_guard<std::mutex> lock(mu);
    order.push_back(self->id);
  };
  {
    gc::Root<Obj> a = MakeObj(30);
    a->child = MakeObj(31);
    gc::set_finalizer(a, record);
    gc::set_finalizer(gc::Ptr<Obj>(a->child), record);
  }
  gc::collect();
  gc::run_finalizers();
  {
    std::lock_guard<std::mutex> lock(mu);
    ASSERT_EQ(order, std::vector<int64_t>({30}));
  }
  gc::collect();  // a is gone now; b is unreachable
  gc::run_finalizers();
  std::lock_guard<std::mutex> lock(mu);
  EXPECT_EQ(order, std::vector<int64_t>({30, 31}));
}

TEST_F(FinalizerTest, AnObjectOnACycleThroughItselfIsNeverFinalized) {
  // Go's documented behaviour, which the design follows: the object is
  // reachable from its own contents.
  std::atomic<int> runs{0};
  const uint64_t pending_before = gc::stats().finalizers_pending;
  {
    gc::Root<Obj> a = MakeObj(40);
    a->child = MakeObj(41);
    a->child->child = a;
    gc::set_finalizer(a, [&](Obj*) { runs++; });
  }
  for (int i = 0; i < 3; i++) gc::collect();
  gc::run_finalizers();
  EXPECT_EQ(runs.load(), 0);
  EXPECT_EQ(gc::stats().finalizers_pending, pending_before + 1);
}

TEST_F(FinalizerTest, WeakReferencesAreClearedBeforeTheFinalizerRuns) {
  gc::Root<gc::Array<gc::Weak<Obj>>> weak = gc::make_array<gc::Weak<Obj>>(2);
  std::atomic<int> seen_null{0};
  {
    gc::Root<Obj> o = MakeObj(50);
    o->child = MakeObj(51);
    (*weak)[0] = gc::Weak<Obj>(o);
    (*weak)[1] = gc::Weak<Obj>(gc::Ptr<Obj>(o->child));
    gc::Root<gc::Array<gc::Weak<Obj>>> w = weak;
    gc::set_finalizer(o, [&, w](Obj*) {
      if ((*w)[0].lock() == nullptr) seen_null++;
      if ((*w)[1].lock() != nullptr) seen_null += 10;
    });
  }
  gc::collect();
  gc::run_finalizers();
  EXPECT_EQ(seen_null.load(), 11)
      << "the finalizable object's weak reference reads null; the child, "
         "kept for the finalizer, is still there";
}

TEST_F(FinalizerTest, FinalizersMayAllocateAndCollect) {
  static gc::Global<Obj> made;
  {
    gc::Root<Obj> o = MakeObj(60);
    gc::set_finalizer(o, [](Obj* self) {
      gc::Root<Obj> fresh = MakeObj(self->id + 1);
      gc::collect();
      made = gc::Global<Obj>(fresh);
    });
  }
  gc::collect();
  gc::run_finalizers();
  ASSERT_NE(made.get(), nullptr);
  EXPECT_TRUE(Intact(made.get(), 61));
  made = gc::Global<Obj>();
}

TEST_F(FinalizerTest, BadCallsAreRefusedAndChangeNothing) {
  gc::Root<Obj> o = MakeObj(70);
  std::atomic<int> runs{0};
  gc::set_finalizer(o, [&](Obj*) { runs++; });
  EXPECT_THROW(gc::set_finalizer(o, [&](Obj*) { runs += 100; }),
               std::invalid_argument);
  EXPECT_THROW(gc::set_finalizer(gc::Ptr<Obj>(), [](Obj*) {}),
               std::invalid_argument);
  auto* interior = reinterpret_cast<Obj*>(&o->id);
  try {
    gc::set_finalizer(gc::Ptr<Obj>(interior), [](Obj*) {});
    FAIL() << "an interior pointer was accepted";
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find("not the start"), std::string::npos);
  }
  o = nullptr;
  gc::collect();
  gc::run_finalizers();
  EXPECT_EQ(runs.load(), 1) << "the first finalizer, unchanged, ran";
}

// A finalizer set through a stale pointer would attach to the slot and
// run on whatever object is allocated there next.
TEST_F(FinalizerTest, AReclaimedObjectIsRefusedAndTheSlotsNextObjectUntouched) {
  std::atomic<int> runs{0};
  const uint64_t pending = gc::stats().finalizers_pending;
  std::vector<Obj*> stale;
  std::vector<gc::Root<Obj>> neighbours;
  for (int i = 0; i < 16; i++) {
    gc::Root<Obj> o = MakeObj(100 + i);
    if (i % 2 == 0) {
      stale.push_back(o.get());
    } else {
      neighbours.push_back(o);  // keeps the span in use
    }
  }
  gc::collect();
  for (Obj* p : stale) {
    try {
      gc::set_finalizer(gc::Ptr<Obj>(p), [&](Obj*) { runs++; });
      FAIL() << "a finalizer was set on a reclaimed object";
    } catch (const std::invalid_argument& e) {
      EXPECT_NE(std::string(e.what()).find("not a live object"),
                std::string::npos)
          << e.what();
    }
  }
  // The freed slots' next objects live and die without any finalizer.
  for (int i = 0; i < 64; i++) MakeObj(200 + i);
  gc::collect();
  gc::run_finalizers();
  EXPECT_EQ(runs.load(), 0);
  EXPECT_EQ(gc::stats().finalizers_pending, pending);
}

TEST_F(FinalizerTest, AClearedFinalizerDoesNotRun) {
  std::atomic<int> runs{0};
  const int64_t destroyed = Obj::destroyed.load();
  {
    gc::Root<Obj> o = MakeObj(80);
    gc::set_finalizer(o, [&](Obj*) { runs++; });
    EXPECT_TRUE(gc::clear_finalizer(o));
    EXPECT_FALSE(gc::clear_finalizer(o));
  }
  gc::collect();
  gc::run_finalizers();
  EXPECT_EQ(runs.load(), 0);
  EXPECT_EQ(Obj::destroyed.load() - destroyed, 1) << "collected at once";
}

// Two tiny pieces of one 16-byte block share its mark bit: both are queued
// by the same cycle (queuing one must not mark the other first).
TEST_F(FinalizerTest, TwoTinyPiecesOfOneBlockAreFinalizedByOneCycle) {
  std::atomic<int> runs{0};
  bool shared = false;
  for (int attempt = 0; attempt < 8 && !shared; attempt++) {
    gc::Root<int32_t> a = gc::make<int32_t>(1);
    gc::Root<int32_t> b = gc::make<int32_t>(2);
    shared = (reinterpret_cast<uintptr_t>(a.get()) & ~uintptr_t{15}) ==
             (reinterpret_cast<uintptr_t>(b.get()) & ~uintptr_t{15});
    if (!shared) continue;
    gc::set_finalizer(a, [&](int32_t*) { runs++; });
    gc::set_finalizer(b, [&](int32_t*) { runs++; });
  }
  ASSERT_TRUE(shared) << "no two consecutive tiny objects shared a block";
  gc::collect();
  gc::run_finalizers();
  EXPECT_EQ(runs.load(), 2) << "both pieces were unreachable at that cycle";
}

TEST_F(FinalizerTest, AnExplicitFreeDropsTheFinalizerUnrun) {
  std::atomic<int> runs{0};
  gc::Root<Obj> o = MakeObj(90);
  gc::set_finalizer(o, [&](Obj*) { runs++; });
  const uint64_t pending = gc::stats().finalizers_pending;
  gc::free(o);
  EXPECT_EQ(gc::stats().finalizers_pending, pending - 1);
  gc::collect();
  gc::run_finalizers();
  EXPECT_EQ(runs.load(), 0);
}

// What a finalizer's function captured is destroyed when gc::free drops the
// finalizer, after the free is complete: such a destructor may allocate
// and collect, and the freed object is not destroyed again.
struct CollectsWhenDestroyed {
  std::atomic<int>* destroyed;
  explicit CollectsWhenDestroyed(std::atomic<int>* d) : destroyed(d) {}
  ~CollectsWhenDestroyed() {
    gc::Root<Obj> fresh = MakeObj(7);
    gc::collect();
    EXPECT_TRUE(Intact(fresh.get(), 7));
    (*destroyed)++;
  }
};

TEST_F(FinalizerTest, AFreedObjectsFinalizerCapturesMayCollectWhenDropped) {
  std::atomic<int> captures_destroyed{0}, runs{0};
  const int64_t destroyed = Obj::destroyed.load();
  gc::Root<Obj> o = MakeObj(91);
  {
    auto guard = std::make_shared<CollectsWhenDestroyed>(&captures_destroyed);
    gc::set_finalizer(o, [guard, &runs](Obj*) { runs++; });
  }
  EXPECT_EQ(captures_destroyed.load(), 0);
  // Freed through a raw pointer: nothing roots it during the free.
  Obj* raw = o.get();
  o = nullptr;
  gc::free(raw);
  EXPECT_EQ(captures_destroyed.load(), 1) << "dropped with the free";
  EXPECT_EQ(Obj::destroyed.load() - destroyed, 1)
      << "the collection the captures ran did not destroy it again";
  gc::collect();
  gc::run_finalizers();
  EXPECT_EQ(runs.load(), 0);
  EXPECT_EQ(Obj::destroyed.load() - destroyed, 2)
      << "the freed object and the captures' fresh one, each once";
}

TEST_F(FinalizerTest, AnExceptionReachesRunFinalizersAndTheRestStayQueued) {
  std::atomic<int> runs{0};
  {
    gc::Root<Obj> bad = MakeObj(100);
    gc::set_finalizer(bad, [&](Obj*) {
      runs++;
      throw std::runtime_error("finalizer failed");
    });
  }
  gc::collect();
  // The finalizer thread may take it first (and report it on stderr);
  // if this thread runs it, the exception reaches here.
  try {
    gc::run_finalizers();
  } catch (const std::runtime_error& e) {
    EXPECT_STREQ(e.what(), "finalizer failed");
  }
  gc::run_finalizers();
  EXPECT_EQ(runs.load(), 1);
  // Called from a finalizer, run_finalizers refuses (it would wait for
  // itself).
  std::atomic<int> refused{0};
  {
    gc::Root<Obj> o = MakeObj(101);
    gc::set_finalizer(o, [&](Obj*) {
      try {
        gc::run_finalizers();
      } catch (const std::logic_error&) {
        refused++;
      }
    });
  }
  gc::collect();
  gc::run_finalizers();
  EXPECT_EQ(refused.load(), 1);
}

TEST_F(FinalizerTest, FromAThreadThatNeverAttached) {
  gc::Global<Obj> shared(MakeObj(110));
  std::atomic<int> runs{0};
  std::thread t([&] {  // its first use of the heap is set_finalizer
    gc::set_finalizer(gc::Ptr<Obj>(shared.get()), [&](Obj* self) {
      if (Intact(self, 110)) runs++;
    });
  });
  {
    gc::Blocking blocking;
    t.join();
  }
  EXPECT_THROW(
      {
        gc::Blocking blocking;
        gc::clear_finalizer(gc::Ptr<Obj>(shared.get()));
      },
      std::logic_error);
  shared = gc::Global<Obj>();
  gc::collect();
  gc::run_finalizers();
  EXPECT_EQ(runs.load(), 1);
}

// Threads set finalizers on their garbage and collect at random; every
// finalizer runs exactly once with its object intact (TSan).
TEST_F(FinalizerTest, ManyThreadsManyFinalizers) {
  constexpr int kThreads = 4, kPerThread = 500;
  std::vector<std::atomic<int>> runs(kThreads * kPerThread);
  std::atomic<int> broken{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; t++) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kPerThread; i++) {
        int64_t id = t * kPerThread + i;
        gc::Root<Obj> o = MakeObj(id);
        o->child = MakeObj(-id);
        gc::set_finalizer(o, [&, id](Obj* self) {
          if (!Intact(self, id) || !Intact(self->child.get(), -id)) broken++;
          runs[id]++;
        });
        if (i % 100 == t) gc::collect();
      }
    });
  }
  {
    gc::Blocking blocking;
    for (auto& th : threads) th.join();
  }
  gc::collect();
  gc::run_finalizers();
  EXPECT_EQ(broken.load(), 0);
  for (size_t id = 0; id < runs.size(); id++) {
    ASSERT_EQ(runs[id].load(), 1) << "finalizer of object " << id;
  }
}

}  // namespace
