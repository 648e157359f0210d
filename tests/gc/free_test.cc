// Explicit free (gc::free, gc/free.h) in a release-style build
// (GCRT_DEBUG_LEVEL=1): the destructor runs once, now, on the caller's thread,
// and never again from the sweeper; the slot is reused at once; arrays, large
// objects and objects freed from a thread whose cache does not own their span;
// bad pointers refused before anything changes.
//
// Every test runs with the verifier on, which would stop the program if a
// reachable object had been freed.
#include <gtest/gtest.h>

#include <atomic>
#include <cstdint>
#include <mutex>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "gcrt/alloc/heap.h"
#include "gcrt/gc.h"
#include "gcrt/gc/collector.h"
#include "gcrt/gc/sweeper.h"
#include "tests/test_support/errors.h"
#include "tests/test_support/verified_heap_test.h"

namespace {

struct Obj {
  gc::Ptr<Obj> next;
  int64_t id = 0;
  std::string name = "a string long enough to live on the C++ heap";
  ~Obj() { destroyed.fetch_add(1, std::memory_order_relaxed); }
  static inline std::atomic<int64_t> destroyed{0};
};

struct Element {
  int64_t v = 0;
  ~Element() { destroyed.fetch_add(1, std::memory_order_relaxed); }
  static inline std::atomic<int64_t> destroyed{0};
};

struct Base {
  virtual ~Base() { destroyed.fetch_add(1, std::memory_order_relaxed); }
  int64_t b = 0;
  static inline std::atomic<int64_t> destroyed{0};
};
struct Derived : Base {
  ~Derived() override { derived.fetch_add(1, std::memory_order_relaxed); }
  std::string s = "derived";
  static inline std::atomic<int64_t> derived{0};
};

// A second base: a pointer to it is not the object's start.
struct Other {
  virtual ~Other() = default;
  int64_t o = 0;
};
struct Both : Base, Other {
  ~Both() override { both.fetch_add(1, std::memory_order_relaxed); }
  static inline std::atomic<int64_t> both{0};
};

using gc::testing::InvalidArgumentOf;

class FreeTest : public gc::testing::VerifiedHeapTest {
 protected:
  // Each test starts with the garbage of the one before collected.
  void SetUp() override {
    gc::set_gc_percent(100);
    VerifiedHeapTest::SetUp();
  }
};

TEST_F(FreeTest, RunsTheDestructorOnceAndReusesTheSlot) {
  gc::collect();
  const gc::Stats before = gc::stats();
  const int64_t destroyed = Obj::destroyed.load();
  gc::Root<Obj> o = gc::make<Obj>();
  Obj* address = o.get();
  gc::free(o);
  EXPECT_EQ(o, nullptr) << "gc::free(root) nulls the root";
  EXPECT_EQ(Obj::destroyed.load() - destroyed, 1);
  gc::Root<Obj> again = gc::make<Obj>();
#if GCRT_DEBUG_LEVEL >= 2
  // Debug builds keep a freed object quarantined (poisoned) until the next
  // collection (api/free.h): its slot is not handed out before.
  EXPECT_NE(again.get(), address) << "a quarantined slot is not reused";
#else
  EXPECT_EQ(again.get(), address) << "the owning cache reuses the slot";
#endif
  again->id = 5;
  gc::collect();
  gc::collect();
  EXPECT_EQ(Obj::destroyed.load() - destroyed, 1)
      << "the sweeper never runs the destructor of a freed object";
  EXPECT_EQ(again->id, 5);
  const gc::Stats after = gc::stats();
  EXPECT_EQ(after.frees - before.frees, 1u);
  EXPECT_EQ(after.heap_objects - before.heap_objects, 1u) << "`again` lives";
}

TEST_F(FreeTest, ThroughAPtrARawPointerAndAGlobal) {
  const int64_t destroyed = Obj::destroyed.load();
  gc::Root<Obj> a = gc::make<Obj>();
  gc::Ptr<Obj> p = gc::make_unrooted<Obj>();
  a->next = p;
  a->next = nullptr;
  gc::free(p);
  gc::free(gc::make_unrooted<Obj>().get());
  gc::Global<Obj> g(gc::make<Obj>());
  gc::free(g);
  EXPECT_EQ(g.get(), nullptr);
  gc::free(static_cast<Obj*>(nullptr));
  gc::free(gc::Ptr<Obj>());
  EXPECT_EQ(Obj::destroyed.load() - destroyed, 3);
  gc::collect();
  EXPECT_EQ(Obj::destroyed.load() - destroyed, 3);
}

TEST_F(FreeTest, ArraysDestroyEveryElement) {
  const int64_t destroyed = Element::destroyed.load();
  gc::Root<gc::Array<Element>> small = gc::make_array<Element>(10);
  gc::Root<gc::Array<Element>> large = gc::make_array<Element>(20000);
  gc::free(small);
  EXPECT_EQ(Element::destroyed.load() - destroyed, 10);
  gc::collect();
  const uint64_t inuse = gc::stats().heap_inuse;
  gc::free(large);
  EXPECT_EQ(Element::destroyed.load() - destroyed, 20010);
#if GCRT_DEBUG_LEVEL >= 2
  EXPECT_EQ(inuse, gc::stats().heap_inuse)
      << "a quarantined large object keeps its span until the next cycle";
  gc::collect();
#endif
  EXPECT_GE(inuse - gc::stats().heap_inuse, 20000 * sizeof(Element))
      << "a large object's span goes back to the page heap once freed";
  gc::collect();
  EXPECT_EQ(Element::destroyed.load() - destroyed, 20010);
}

TEST_F(FreeTest, ThroughABaseWithAVirtualDestructor) {
  const int64_t base = Base::destroyed.load(), derived = Derived::derived;
  gc::Root<Derived> d = gc::make<Derived>();
  gc::Ptr<Base> b(d.get());
  d = nullptr;
  gc::free(b);
  EXPECT_EQ(Derived::derived.load() - derived, 1);
  EXPECT_EQ(Base::destroyed.load() - base, 1);
}

TEST_F(FreeTest, ThroughASecondBaseAsDeleteDoes) {
  const int64_t base = Base::destroyed.load(), both = Both::both;
  gc::Root<Both> d = gc::make<Both>();
  Other* other = d.get();
  ASSERT_NE(static_cast<void*>(other), static_cast<void*>(d.get()));
  gc::Ptr<Other> p(other);
  d = nullptr;
  gc::free(p);
  EXPECT_EQ(Both::both.load() - both, 1);
  EXPECT_EQ(Base::destroyed.load() - base, 1);
  gc::free(static_cast<Other*>(nullptr));  // as delete of null: nothing
}

TEST_F(FreeTest, FromAThreadThatDoesNotOwnTheSpan) {
  // The objects' span is still owned by this thread's cache: the other
  // thread's frees go to the span's freebuf, folded in when this thread
  // gives the span back.
  const int64_t destroyed = Obj::destroyed.load();
  std::vector<gc::Global<Obj>> objs;
  for (int i = 0; i < 50; i++) {
    objs.emplace_back(gc::make<Obj>());
    objs.back()->id = i;
  }
  gc::Root<Obj> keep = gc::make<Obj>();
  keep->id = -1;
  std::thread t([&] {
    for (int i = 0; i < 50; i += 2) gc::free(objs[i]);
  });
  {
    gc::Blocking blocking;
    t.join();
  }
  EXPECT_EQ(Obj::destroyed.load() - destroyed, 25);
  for (int i = 1; i < 50; i += 2) EXPECT_EQ(objs[i]->id, i);
  gc::collect();
  gc::collect();
  EXPECT_EQ(Obj::destroyed.load() - destroyed, 25);
  for (int i = 1; i < 50; i += 2) EXPECT_EQ(objs[i]->id, i);
  EXPECT_EQ(keep->id, -1);
}

TEST_F(FreeTest, BadPointersAreRefusedBeforeTheDestructorRuns) {
  const int64_t destroyed = Obj::destroyed.load();
  gc::Root<Obj> o = gc::make<Obj>();
  o->id = 3;
  Obj on_stack;
  std::string what = InvalidArgumentOf([&] { gc::free(&on_stack); });
  EXPECT_NE(what.find("not an object of the GC heap"), std::string::npos)
      << what;
  auto* interior = reinterpret_cast<Obj*>(&o->id);
  what = InvalidArgumentOf([&] { gc::free(interior); });
  EXPECT_NE(what.find("interior pointer"), std::string::npos) << what;
  EXPECT_EQ(Obj::destroyed.load(), destroyed) << "no destructor ran";
  EXPECT_EQ(o->id, 3);
  EXPECT_EQ(o->name, "a string long enough to live on the C++ heap");
  EXPECT_THROW(
      {
        gc::Blocking blocking;
        gc::free(o);
      },
      std::logic_error);
  EXPECT_NE(o, nullptr) << "a refused free keeps the root";
  gc::collect();
  EXPECT_EQ(o->id, 3);
}

// An object the last cycle found unreachable, in a span its sweep has not
// reached yet, still reads allocated: gc::free must see it dead (sweeping
// the span first), refuse it, and leave its one destruction to the sweep.
// (Without the sweep first, the destructor ran twice: at the free and at
// the sweep.)
TEST_F(FreeTest, AnUnreachableObjectNotYetSweptIsRefusedAndDestroyedOnce) {
  using gc::internal::Collector;
  using gc::internal::GcReason;
  using gc::internal::Sweeper;
  gc::set_gc_percent(-1);
  Sweeper::Get().PauseBackgroundForTesting(true);
  const int64_t destroyed = Obj::destroyed.load();
  gc::Root<Obj> small = gc::make<Obj>();
  gc::Root<gc::Array<Obj>> large = gc::make_array<Obj>(4096);  // a large span
  Obj* raw_small = small.get();
  auto* raw_array = large.get();
  small = nullptr;
  large = nullptr;
  // The small span goes back to its Central, unswept after the cycle.
  gc::alloc::FlushCurrentCache();
  Collector::Get().Collect(GcReason::kLazyForTesting);
  EXPECT_EQ(Obj::destroyed.load(), destroyed) << "not swept yet";
  std::string what = InvalidArgumentOf([&] { gc::free(raw_small); });
  EXPECT_NE(what.find("not a live object"), std::string::npos) << what;
  EXPECT_EQ(Obj::destroyed.load() - destroyed, 1) << "destroyed by its sweep";
  what = InvalidArgumentOf([&] { gc::free(raw_array); });
  // Its span went back to the page heap: still named a reclaimed object,
  // not a pointer that was never into the heap.
  EXPECT_NE(what.find("not a live object"), std::string::npos) << what;
  EXPECT_EQ(Obj::destroyed.load() - destroyed, 1 + 4096);
  Sweeper::Get().PauseBackgroundForTesting(false);
  gc::collect();
  EXPECT_EQ(Obj::destroyed.load() - destroyed, 1 + 4096) << "and never again";
  gc::set_gc_percent(100);
}

TEST_F(FreeTest, TinyPiecesStayUntilTheirBlockDies) {
  gc::Root<int32_t> a = gc::make<int32_t>(1);
  gc::Root<int32_t> b = gc::make<int32_t>(2);
  gc::free(a);  // a piece: its block is b's too
  EXPECT_EQ(*b, 2);
  gc::collect();
  EXPECT_EQ(*b, 2);
}

// Many threads allocate, link, unlink and free their own and each other's
// objects while collecting (TSan, ASan).
TEST_F(FreeTest, ConcurrentFreesAndCollections) {
  constexpr int kThreads = 4, kRounds = 400;
  const int64_t destroyed = Obj::destroyed.load();
  std::atomic<int> broken{0};
  std::vector<std::thread> threads;
  std::vector<gc::Global<Obj>> handoff(kThreads);
  std::mutex mu;
  for (int t = 0; t < kThreads; t++) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kRounds; i++) {
        gc::Root<Obj> head = gc::make<Obj>();
        head->id = i;
        head->next = gc::make_unrooted<Obj>();
        gc::Ptr<Obj> n = head->next;
        head->next = nullptr;
        gc::free(n);
        // Only the handoff table holds `mine`; whoever takes it owns it.
        gc::Global<Obj> mine(gc::make<Obj>());
        mine->id = t * kRounds + i;
        gc::Global<Obj> theirs;
        {
          std::lock_guard<std::mutex> lock(mu);
          theirs = handoff[(t + 1) % kThreads];
          handoff[(t + 1) % kThreads] = gc::Global<Obj>();
          handoff[t] = std::move(mine);
        }
        if (theirs.get() != nullptr) {
          if (theirs->id < 0 || theirs->id >= kThreads * kRounds ||
              theirs->name != "a string long enough to live on the C++ heap") {
            broken++;
          }
          gc::free(theirs);
        }
        if (head->id != i) broken++;
        if (i % 97 == t) gc::collect();
      }
    });
  }
  {
    gc::Blocking blocking;
    for (auto& th : threads) th.join();
  }
  EXPECT_EQ(broken.load(), 0);
  for (auto& h : handoff) h = gc::Global<Obj>();
  gc::collect();
  gc::collect();
  // Every object was destroyed exactly once: per round a head (collected),
  // a next (freed by its thread) and a handed-over object (freed by
  // another thread, or collected when nobody took it).
  EXPECT_EQ(Obj::destroyed.load() - destroyed, 3 * kThreads * kRounds);
}

}  // namespace
