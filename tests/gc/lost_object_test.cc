// The races that lose an object when marking runs beside the program
// (gc/barrier.h), each made deterministic, and what keeps the object: the
// write barrier, or something else (the rescan of handles at the final
// stop, the deferral of objects whose trace() walks a container, black
// allocation). The suites run with stack scanning off (.bazelrc): only
// handles and the heap keep objects here.
//
// A test acts as the program at two points of one cycle
// (gc::testing::CollectWithConcurrentHooks): `started`, the world
// restarted after the first stop, the roots marked and queued and nothing
// scanned; `drained`, the concurrent marking done with everything it could
// reach, before the final stop. At `drained` every object reached from the
// first stop's roots is scanned, but for the ones deferred to the final
// stop (a Bag here) and those reachable only through a handle made after
// the first stop: the program can hold white objects the marker has not
// seen, and scanned objects the marker will not look at again.
//
// Each race that needs the barrier is run twice: with it, the object
// survives with its contents (the verifier, on in every test, checks the
// cycle); with the barrier switched off
// (internal::SetWriteBarrierDisabledForTesting), the verifier stops the
// program naming the lost object. The races the barrier does not guard are
// run with it off and must pass anyway.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <thread>
#include <utility>
#include <vector>

#include "gcrt/gc.h"
#include "gcrt/gc/barrier.h"
#include "gcrt/gc/collector.h"
#include "tests/test_support/collector_hooks.h"
#include "tests/test_support/verified_heap_test.h"

namespace {

using namespace std::chrono_literals;

std::atomic<int> g_leaves_destroyed{0};

struct Leaf {
  explicit Leaf(int64_t v) : value(v) {}
  ~Leaf() { g_leaves_destroyed.fetch_add(1, std::memory_order_relaxed); }
  int64_t value;
};

struct Holder {
  gc::Ptr<Leaf> leaf;
};

struct Box {
  gc::Ptr<Holder> holder;
};

// A trace() that walks a std container: the concurrent marker defers it to
// the final stop, unread.
struct Bag {
  std::vector<gc::Ptr<Leaf>> items;
  void trace(gc::Tracer& t) const { t(items); }
};

constexpr int64_t kValue = 0x5EED1EAF;

// What the verifier prints for a lost Leaf (gc/marker.cc, Verifier::Check).
constexpr char kLost[] =
    "verifier: object 0x[0-9a-f]+ \\(type .*Leaf\\) is reachable but was "
    "not marked";

// Turns the barrier off for a scope (tests only: gc/barrier.h).
class NoBarrier {
 public:
  NoBarrier() { gc::internal::SetWriteBarrierDisabledForTesting(true); }
  ~NoBarrier() { gc::internal::SetWriteBarrierDisabledForTesting(false); }
};

// A Box, rooted, whose Holder (unrooted) holds the Leaf: when a cycle
// starts, the Box is queued and the Holder and the Leaf are white.
gc::Root<Box> BoxedLeaf() {
  gc::Root<Box> box = gc::make<Box>();
  box->holder = gc::make_unrooted<Holder>();
  box->holder->leaf = gc::make_unrooted<Leaf>(kValue);
  return box;
}

// ---- The races the barrier guards. Each returns a rooted Holder that
// holds the Leaf when the cycle ends. ----

// The classic one (Dijkstra's): the program reads a pointer to a white
// object out of an object the marker has not scanned, stores it into one
// the marker has scanned, and deletes it from the first. The scanned
// object is not looked at again; only the barrier on the store marks the
// Leaf. `hidden` is unscanned at `drained` because at `started` its only
// reference moved from the (queued, unscanned) Box into a handle, which
// the final stop rescans.
gc::Root<Holder> MoveFromUnscannedToScanned() {
  gc::Root<Box> box = BoxedLeaf();
  gc::Root<Holder> scanned = gc::make<Holder>();  // a root: scanned
  gc::Root<Holder> hidden;
  gc::testing::CollectWithConcurrentHooks(
      [&] {
        hidden = gc::Root<Holder>(box->holder);
        box->holder = nullptr;
      },
      [&] {
        scanned->leaf = hidden->leaf;
        hidden->leaf = nullptr;
      });
  return scanned;
}

// A reference taken into a handle while marking and deleted from the heap,
// then stored from the handle into a scanned object, and the handle
// dropped: the final stop's rescan of handles finds nothing, and the
// barrier on the store is all that marks the Leaf.
gc::Root<Holder> FromANewHandleToAScannedObject() {
  gc::Root<Box> box = BoxedLeaf();
  gc::Root<Holder> scanned = gc::make<Holder>();
  gc::Root<Leaf> taken;
  gc::testing::CollectWithConcurrentHooks(
      [&] {
        taken = gc::Root<Leaf>(box->holder->leaf);
        box->holder->leaf = nullptr;  // before the marker scans the Holder
      },
      [&] {
        scanned->leaf = taken;
        taken = nullptr;
      });
  return scanned;
}

// An object reachable only from a std container in a deferred object (the
// Bag, unread until the final stop) moved into a scanned object's
// gc::Ptr, and erased from the container: the final stop reads the Bag
// empty.
gc::Root<Holder> FromADeferredContainerToAScannedObject() {
  gc::Root<Bag> bag = gc::make<Bag>();
  bag->items.push_back(gc::make_unrooted<Leaf>(kValue));
  gc::Root<Holder> scanned = gc::make<Holder>();
  gc::testing::CollectWithDrainedHook([&] {
    scanned->leaf = bag->items[0];
    bag->items.clear();
  });
  return scanned;
}

// gc::Weak::lock while marking of an object nothing else reaches, stored
// into a scanned object; the Root lock() returned is gone by the final
// stop.
gc::Root<Holder> WeakLockedIntoAScannedObject() {
  gc::Weak<Leaf> weak;
  {
    gc::Root<Leaf> leaf = gc::make<Leaf>(kValue);
    weak = gc::Weak<Leaf>(leaf);
  }
  gc::Root<Holder> scanned = gc::make<Holder>();
  gc::testing::CollectWithDrainedHook([&] { scanned->leaf = weak.lock(); });
  return scanned;
}

// An object allocated while marking is black and never scanned (its type
// has a pointer bitmap: the final stop does not rescan it). A pointer to a
// white object moved into it from an object not scanned yet (the Box's
// Holder at `started`) is marked only by the barrier.
gc::Root<Holder> IntoAnObjectAllocatedWhileMarking() {
  gc::Root<Box> box = BoxedLeaf();
  gc::Root<Holder> fresh;
  gc::testing::CollectWithConcurrentHooks(
      [&] {
        fresh = gc::make<Holder>();
        fresh->leaf = box->holder->leaf;
        box->holder->leaf = nullptr;
      },
      [] {});
  return fresh;
}

class LostObjectTest : public gc::testing::VerifierCheckedTest {
 protected:
  void SetUp() override {
    VerifierCheckedTest::SetUp();
    was_ = gc::set_concurrent_mark(true);
  }
  void TearDown() override {
    VerifierCheckedTest::TearDown();
    gc::set_concurrent_mark(was_);
  }

  // leaf() reads the Leaf where the race left it: alive with its value,
  // no Leaf destroyed since `destroyed`, and still so after another cycle.
  template <typename Where>
  static void ExpectKept(Where leaf, int destroyed) {
    ASSERT_NE(leaf(), nullptr);
    EXPECT_EQ(leaf()->value, kValue);
    EXPECT_EQ(g_leaves_destroyed.load(), destroyed);
    gc::collect();
    EXPECT_EQ(leaf()->value, kValue);
    EXPECT_EQ(g_leaves_destroyed.load(), destroyed);
  }
  template <typename Race>
  static void ExpectKeptBy(Race race) {
    const int destroyed = g_leaves_destroyed.load();
    gc::Root<Holder> at = race();
    ExpectKept([&] { return at->leaf.get(); }, destroyed);
  }
  bool was_ = false;
};

TEST_F(LostObjectTest, APointerMovedFromAnUnscannedToAScannedObject) {
  ExpectKeptBy(MoveFromUnscannedToScanned);
}

TEST_F(LostObjectTest, APointerFromANewHandleStoredInAScannedObject) {
  ExpectKeptBy(FromANewHandleToAScannedObject);
}

TEST_F(LostObjectTest, APointerMovedOutOfADeferredObjectsContainer) {
  ExpectKeptBy(FromADeferredContainerToAScannedObject);
}

TEST_F(LostObjectTest, AWeakLockedWhileMarkingStoredInAScannedObject) {
  ExpectKeptBy(WeakLockedIntoAScannedObject);
}

TEST_F(LostObjectTest, APointerMovedIntoAnObjectAllocatedWhileMarking) {
  ExpectKeptBy(IntoAnObjectAllocatedWhileMarking);
}

// The hooks run once each, in order, on a cycle that marks beside the
// program.
TEST_F(LostObjectTest, TheHooksRunInOrderInAConcurrentCycle) {
  std::vector<int> order;
  const uint64_t concurrent = gc::stats().concurrent_cycles;
  gc::testing::CollectWithConcurrentHooks([&] { order.push_back(1); },
                                          [&] { order.push_back(2); });
  EXPECT_EQ(order, (std::vector<int>{1, 2}));
  EXPECT_EQ(gc::stats().concurrent_cycles, concurrent + 1);
  gc::collect();  // the hooks are gone
  EXPECT_EQ(order.size(), 2u);
}

// ---- The same races without the barrier: the Leaf is lost. ----

class LostObjectDeathTest : public LostObjectTest {
 protected:
  void SetUp() override {
#if defined(GCRT_TSAN)
    // A forked child may not start the mark workers under TSan.
    GTEST_FLAG_SET(death_test_style, "threadsafe");
#endif
    LostObjectTest::SetUp();
  }
  // Without the barrier the verifier stops the program naming the Leaf;
  // and, not the verifier crying wolf, with the verifier off the cycle
  // destroys the Leaf while a rooted Holder still points to it.
  template <typename Race>
  static void ExpectLostWithoutBarrier(Race race) {
    EXPECT_DEATH(
        {
          NoBarrier off;
          race();
        },
        kLost);
    EXPECT_EXIT(
        {
          gc::set_verify(false);
          NoBarrier off;
          const int destroyed = g_leaves_destroyed.load();
          gc::Root<Holder> at = race();
          const bool lost =
              at->leaf != nullptr && g_leaves_destroyed.load() == destroyed + 1;
          std::_Exit(lost ? 0 : 1);
        },
        ::testing::ExitedWithCode(0), "");
  }
};

// The program's own loss, not the collector's: a gc::Ptr local (stack
// scanning is off here) kept across the collection that freed its object,
// then stored into a rooted one. The verifier names that likely cause
// before a collector bug.
TEST_F(LostObjectDeathTest, AFreedObjectStoredBackIsBlamedOnAMissingRoot) {
  EXPECT_DEATH(
      {
        gc::set_quarantine(false);  // on in debug builds: freed at once
        gc::Root<Holder> holder = gc::make<Holder>();
        gc::Ptr<Leaf> unrooted = gc::make_unrooted<Leaf>(1);
        gc::collect();  // frees the Leaf
        holder->leaf = unrooted;
        gc::collect();
      },
#if defined(GCRT_ASAN)
      // The marker's read of the freed, poisoned Leaf stops it first.
      "use-after-poison");
#else
      "verifier: object 0x[0-9a-f]+ \\(type .*Leaf, reached through "
      "0x[0-9a-f]+\\) is reachable but was freed. Most often the program "
      "kept a pointer the collector does not see");
#endif
}

TEST_F(LostObjectDeathTest, APointerMovedFromAnUnscannedToAScannedObject) {
  ExpectLostWithoutBarrier(MoveFromUnscannedToScanned);
}

TEST_F(LostObjectDeathTest, APointerFromANewHandleStoredInAScannedObject) {
  ExpectLostWithoutBarrier(FromANewHandleToAScannedObject);
}

TEST_F(LostObjectDeathTest, APointerMovedOutOfADeferredObjectsContainer) {
  ExpectLostWithoutBarrier(FromADeferredContainerToAScannedObject);
}

TEST_F(LostObjectDeathTest, AWeakLockedWhileMarkingStoredInAScannedObject) {
  ExpectLostWithoutBarrier(WeakLockedIntoAScannedObject);
}

TEST_F(LostObjectDeathTest, APointerMovedIntoAnObjectAllocatedWhileMarking) {
  ExpectLostWithoutBarrier(IntoAnObjectAllocatedWhileMarking);
}

// ---- The same situations where something other than the barrier keeps
// the object: they pass with the barrier off. The barrier cannot be shown
// to matter here, and these tests do not pretend it does. ----

// A reference taken into a handle while marking and deleted from the heap
// before the marker saw it: kept by the final stop's rescan of handles.
TEST_F(LostObjectTest, AHandleTakenWhileMarkingNeedsNoBarrier) {
  NoBarrier off;
  gc::Root<Box> box = BoxedLeaf();
  gc::Root<Leaf> taken;
  const int destroyed = g_leaves_destroyed.load();
  gc::testing::CollectWithConcurrentHook([&] {
    taken = gc::Root<Leaf>(box->holder->leaf);
    box->holder->leaf = nullptr;
  });
  ExpectKept([&] { return taken.get(); }, destroyed);
}

// gc::Weak::lock while marking, the Root kept: the rescan of handles again,
// before weak references are cleared (gc/barrier.h).
TEST_F(LostObjectTest, AWeakLockedWhileMarkingNeedsNoBarrier) {
  NoBarrier off;
  gc::Weak<Leaf> weak;
  {
    gc::Root<Leaf> leaf = gc::make<Leaf>(kValue);
    weak = gc::Weak<Leaf>(leaf);
  }
  gc::Root<Leaf> locked;
  const int destroyed = g_leaves_destroyed.load();
  gc::testing::CollectWithDrainedHook([&] { locked = weak.lock(); });
  ExpectKept([&] { return locked.get(); }, destroyed);
  EXPECT_EQ(weak.lock().get(), locked.get());
}

// A pointer that stays in std containers of deferred objects (moved from
// one Bag's vector to another's, no gc::Ptr store): kept by the final
// stop's scan of the deferred objects.
TEST_F(LostObjectTest, AContainerMovedBetweenDeferredObjectsNeedsNoBarrier) {
  NoBarrier off;
  gc::Root<Bag> from = gc::make<Bag>();
  gc::Root<Bag> to = gc::make<Bag>();
  from->items.push_back(gc::make_unrooted<Leaf>(kValue));
  const int destroyed = g_leaves_destroyed.load();
  gc::testing::CollectWithDrainedHook([&] {
    to->items = std::move(from->items);
    from->items.clear();
  });
  ExpectKept([&] { return to->items.at(0).get(); }, destroyed);
}

// An object allocated while marking and stored into a scanned object: it
// is black (alloc/cache.h), so the store needs no barrier.
TEST_F(LostObjectTest, AnObjectAllocatedWhileMarkingNeedsNoBarrier) {
  NoBarrier off;
  gc::Root<Holder> scanned = gc::make<Holder>();
  const int destroyed = g_leaves_destroyed.load();
  gc::testing::CollectWithDrainedHook(
      [&] { scanned->leaf = gc::make_unrooted<Leaf>(kValue); });
  ExpectKept([&] { return scanned->leaf.get(); }, destroyed);
}

// ---- The barrier on threads the world does not stop (gc/barrier.h). A
// thread inside a blocking region, or one that never attached, runs
// through the stops, so it may have seen the flag of a marking that has
// ended; a mark bit it set then, while a sweep swaps the bitmaps or in the
// next cycle's bitmap, would pass an unscanned object off as marked. Its
// shade is a handshake with the final stop, which waits for it. ----

// The hook holds the shade in flight until the test releases it.
std::atomic<bool> g_shade_held{false};
std::atomic<bool> g_shade_released{false};
void HoldShade(bool marking) {
  if (!marking) return;
  g_shade_held.store(true);
  while (!g_shade_released.load()) std::this_thread::yield();
}

// A thread beside the world (never attached, or inside a blocking region)
// makes a gc::Ptr to an unrooted Leaf while a marking runs, and its shade
// is held in flight: the cycle must not end meanwhile, and the Leaf is
// marked (kept this cycle).
void ExpectAShadeBesideTheWorldHoldsTheFinalStop(bool blocking) {
  gc::Weak<Leaf> weak;
  Leaf* raw;
  {
    gc::Root<Leaf> leaf = gc::make<Leaf>(kValue);
    weak = gc::Weak<Leaf>(leaf);
    raw = leaf.get();
  }
  g_shade_held = false;
  g_shade_released = false;
  std::atomic<bool> terminated{false};
  std::atomic<int> ended_while_held{-1};  // -1: the shade never got held
  gc::internal::Collector& c = gc::internal::Collector::Get();
  c.SetTerminationHookForTesting(
      [](void* t) { static_cast<std::atomic<bool>*>(t)->store(true); },
      &terminated);
  gc::internal::SetShadeBesideTheWorldHookForTesting(HoldShade);
  std::thread shader;
  std::thread watcher;  // never touches the heap
  gc::testing::CollectWithConcurrentHook([&] {
    shader = std::thread([&] {
      if (blocking) {
        gc::attach_thread();
        gc::blocking([&] { gc::Ptr<Leaf> made(raw); });
      } else {
        gc::Ptr<Leaf> made(raw);
      }
    });
    // The marking goes on only once the shade is in flight.
    const auto give_up = std::chrono::steady_clock::now() + 5s;
    while (!g_shade_held.load() && std::chrono::steady_clock::now() < give_up) {
      std::this_thread::yield();
    }
    watcher = std::thread([&] {
      if (g_shade_held.load()) {
        std::this_thread::sleep_for(50ms);  // time for the cycle to end
        ended_while_held = terminated.load() ? 1 : 0;
      }
      g_shade_released = true;
    });
  });
  gc::blocking([&] {
    watcher.join();
    shader.join();
  });
  gc::internal::SetShadeBesideTheWorldHookForTesting(nullptr);
  c.SetTerminationHookForTesting(nullptr, nullptr);
  EXPECT_TRUE(terminated.load());
  EXPECT_EQ(ended_while_held.load(), 0)
      << "-1: the shade never ran; 1: the cycle ended during the shade";
  gc::Root<Leaf> kept = weak.lock();  // marked through the handshake
  ASSERT_NE(kept.get(), nullptr);
  EXPECT_EQ(kept->value, kValue);
}

TEST_F(LostObjectTest, AShadeOnAThreadThatNeverAttachedHoldsTheFinalStop) {
  ExpectAShadeBesideTheWorldHoldsTheFinalStop(/*blocking=*/false);
}

TEST_F(LostObjectTest, AShadeInsideABlockingRegionHoldsTheFinalStop) {
  ExpectAShadeBesideTheWorldHoldsTheFinalStop(/*blocking=*/true);
}

}  // namespace
