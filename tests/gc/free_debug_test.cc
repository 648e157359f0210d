// Use after explicit free in debug builds (GCRT_DEBUG_LEVEL=2, this target's
// copts): a freed object stays in quarantine, destroyed and poisoned, until
// a collection shows nothing reaches it. Meanwhile a dereference, rooting it
// or freeing it again is reported, and a collection that finds it
// reachable stops the program naming it. Afterwards its slot is reused and
// its destructor never runs a second time.
#include <gtest/gtest.h>

#include <atomic>
#include <cstdint>
#include <cstdlib>
#include <stdexcept>
#include <string>
#include <vector>

#include "gcrt/alloc/heap.h"
#include "gcrt/gc.h"
#include "gcrt/gc/collector.h"
#include "gcrt/gc/free.h"
#include "gcrt/gc/sweeper.h"
#include "tests/test_support/errors.h"
#include "tests/test_support/verified_heap_test.h"

namespace {

struct Obj {
  gc::Ptr<Obj> next;
  int64_t id = 0;
  ~Obj() { destroyed.fetch_add(1, std::memory_order_relaxed); }
  static inline std::atomic<int64_t> destroyed{0};
};

// Traced by a trace function (a vector), which must never run on a freed
// object's poisoned memory.
class Traced {
 public:
  void trace(gc::Tracer& t) const { t(children_); }
  std::vector<gc::Ptr<Obj>>& children() { return children_; }

 private:
  std::vector<gc::Ptr<Obj>> children_;
};

using gc::testing::InvalidArgumentOf;

class FreeDebugTest : public gc::testing::VerifiedHeapTest {
 protected:
  void SetUp() override {
    VerifiedHeapTest::SetUp();
    GTEST_FLAG_SET(death_test_style, "threadsafe");
  }
};

TEST_F(FreeDebugTest, TheSlotIsQuarantinedUntilTheNextCollection) {
  gc::collect();
  const int64_t destroyed = Obj::destroyed.load();
  const uint64_t objects = gc::stats().heap_objects;
  gc::Root<Obj> o = gc::make<Obj>();
  Obj* address = o.get();
  gc::free(o);
  EXPECT_EQ(Obj::destroyed.load() - destroyed, 1) << "destroyed at once";
  std::vector<gc::Root<Obj>> fresh;
  for (int i = 0; i < 200; i++) {
    fresh.push_back(gc::make<Obj>());
    EXPECT_NE(fresh.back().get(), address)
        << "quarantined slots are not reused";
  }
  fresh.clear();
  gc::collect();  // shows nothing reaches it, then frees it
  EXPECT_EQ(gc::stats().heap_objects, objects);
  EXPECT_EQ(Obj::destroyed.load() - destroyed, 201)
      << "the sweeper did not destroy the freed object again";
  bool reused = false;
  for (int i = 0; i < 256 && !reused; i++) {
    fresh.push_back(gc::make<Obj>());
    reused = fresh.back().get() == address;
  }
  EXPECT_TRUE(reused) << "after the collection the slot is free";
}

TEST_F(FreeDebugTest, DoubleFreeAndRootingAFreedObjectAreRefused) {
  gc::Root<Obj> o = gc::make<Obj>();
  Obj* raw = o.get();
  gc::free(o);
  const int64_t destroyed = Obj::destroyed.load();
  std::string what = InvalidArgumentOf([&] { gc::free(raw); });
  EXPECT_NE(what.find("freed with gc::free already"), std::string::npos)
      << what;
  EXPECT_EQ(Obj::destroyed.load(), destroyed) << "no second destructor";
  what = InvalidArgumentOf([&] { gc::Root<Obj> r(raw); });
  EXPECT_NE(what.find("freed with gc::free"), std::string::npos) << what;
  gc::collect();
}

TEST_F(FreeDebugTest, DereferencingAFreedObjectStopsTheProgram) {
  EXPECT_DEATH(
      {
        gc::Root<Obj> holder = gc::make<Obj>();
        holder->next = gc::make<Obj>();
        gc::Ptr<Obj> stale = holder->next;
        gc::free(stale);
        (void)stale->id;
      },
      "use after explicit free: dereferenced the object at 0x[0-9a-f]+ "
      "\\(type [^)]*Obj\\)");
}

TEST_F(FreeDebugTest, ACollectionThatFindsAFreedObjectReachableStops) {
  EXPECT_DEATH(
      {
        gc::Root<Obj> holder = gc::make<Obj>();
        holder->next = gc::make<Obj>();
        gc::free(holder->next.get());  // still referenced from holder
        gc::collect();
      },
      "use after explicit free: the collector (reached|found reachable) the "
      "object at 0x[0-9a-f]+ \\(type [^)]*Obj\\)");
}

// A constructor that stored `this` and then threw left a dangling pointer:
// its slot is quarantined as a freed object's, so the use is reported
// rather than reaching the slot's next object (a new user's program read
// the next object through it, silently, before).
struct Child;
struct Parent {
  gc::Ptr<Child> kid;
};
struct Child {
  Child(gc::Ptr<Parent> parent, bool fail) {
    parent->kid = gc::Ptr<Child>(this);
    if (fail) throw std::runtime_error("half-built");
  }
  int64_t id = 7;
};

TEST_F(FreeDebugTest, AConstructorThatPublishedThisAndThrewIsReportedOnUse) {
  EXPECT_DEATH(
      {
        gc::Root<Parent> parent = gc::make<Parent>();
        EXPECT_THROW(gc::make<Child>(gc::Ptr<Parent>(parent), true),
                     std::runtime_error);
        gc::Root<Parent> other = gc::make<Parent>();
        gc::Root<Child> next = gc::make<Child>(gc::Ptr<Parent>(other), false);
        if (parent->kid.get() == next.get()) std::_Exit(3);  // slot reused
        (void)parent->kid->id;
      },
      "use after explicit free: dereferenced the object at 0x[0-9a-f]+ "
      "\\(type [^)]*Child\\), which was freed with gc::free, or whose "
      "constructor threw");
}

// The collector finding it reachable says the same.
TEST_F(FreeDebugTest, ACollectionThatReachesAHalfBuiltObjectStops) {
  EXPECT_DEATH(
      {
        gc::Root<Parent> parent = gc::make<Parent>();
        EXPECT_THROW(gc::make<Child>(gc::Ptr<Parent>(parent), true),
                     std::runtime_error);
        gc::collect();
      },
      "use after explicit free: the collector (reached|found reachable) the "
      "object at 0x[0-9a-f]+ \\(type [^)]*Child\\)");
}

TEST_F(FreeDebugTest, TheMarkerNeverTracesAFreedObject) {
  EXPECT_DEATH(
      {
        gc::Root<gc::Array<gc::Ptr<Traced>>> holder =
            gc::make_array<gc::Ptr<Traced>>(1);
        gc::Root<Traced> t = gc::make<Traced>();
        t->children().push_back(gc::make_unrooted<Obj>());
        (*holder)[0] = t;
        gc::free(t);  // (*holder)[0] still points to it
        gc::collect();
      },
      "use after explicit free: the collector reached the object at "
      "0x[0-9a-f]+");
}

TEST_F(FreeDebugTest, FreeingWhatNothingReachesPassesTheVerifier) {
  const int64_t destroyed = Obj::destroyed.load();
  gc::Root<Obj> list = gc::make<Obj>();
  for (int i = 0; i < 100; i++) {
    gc::Root<Obj> n = gc::make<Obj>();
    n->next = list;
    n->id = i;
    list = n;
  }
  // Unlink and free every other node.
  for (gc::Ptr<Obj> p = list; p != nullptr && p->next != nullptr; p = p->next) {
    gc::Ptr<Obj> victim = p->next;
    p->next = victim->next;
    gc::free(victim);
  }
  gc::collect();
  gc::collect();
  int n = 0;
  for (gc::Ptr<Obj> p = list; p != nullptr; p = p->next) n++;
  EXPECT_EQ(n, 51);
  EXPECT_EQ(Obj::destroyed.load() - destroyed, 50);
}

}  // namespace

namespace {

// A dead object in a span not yet swept reads allocated: quarantining it
// would destroy it here and again in its sweep (and later free a slot the
// sweep had freed). gc::free sweeps the span first and refuses it.
TEST_F(FreeDebugTest, AnUnreachableObjectNotYetSweptIsRefused) {
  using gc::internal::Collector;
  using gc::internal::GcReason;
  using gc::internal::Sweeper;
  gc::collect();  // the garbage of earlier tests is destroyed first
  gc::set_gc_percent(-1);
  Sweeper::Get().PauseBackgroundForTesting(true);
  const int64_t destroyed = Obj::destroyed.load();
  gc::Root<Obj> o = gc::make<Obj>();
  Obj* raw = o.get();
  o = nullptr;
  gc::alloc::FlushCurrentCache();
  Collector::Get().Collect(GcReason::kLazyForTesting);
  std::string what = InvalidArgumentOf([&] { gc::free(raw); });
  EXPECT_NE(what.find("not a live object"), std::string::npos) << what;
  EXPECT_EQ(Obj::destroyed.load() - destroyed, 1);
  Sweeper::Get().PauseBackgroundForTesting(false);
  gc::collect();
  gc::collect();
  EXPECT_EQ(Obj::destroyed.load() - destroyed, 1) << "destroyed once";
  gc::set_gc_percent(100);
}

// A finalizer may free its own object and then collect: the finalizer
// queue (which roots the object while its finalizer runs) lets go of it,
// so the collection does not find the freed object reachable.
TEST_F(FreeDebugTest, AFinalizerMayFreeItsOwnObjectAndCollect) {
  gc::collect();
  gc::run_finalizers();
  const int64_t destroyed = Obj::destroyed.load();
  std::atomic<int> ran{0};
  {
    gc::Root<Obj> o = gc::make<Obj>();
    gc::set_finalizer(o, [&](Obj* self) {
      gc::free(self);
      gc::collect();
      ran++;
    });
  }
  gc::collect();
  gc::run_finalizers();
  EXPECT_EQ(ran.load(), 1);
  EXPECT_EQ(Obj::destroyed.load() - destroyed, 1);
  gc::collect();
  gc::collect();
  EXPECT_EQ(Obj::destroyed.load() - destroyed, 1) << "destroyed once";
}

// The bytes of quarantined objects count as live until their slots are
// freed, and no longer: heap_live comes back to where it was.
TEST_F(FreeDebugTest, HeapLiveIsExactAfterQuarantinedObjectsAreFreed) {
  struct Blob {
    char bytes[240];
  };
  gc::set_gc_percent(100);
  gc::collect();
  gc::collect();
  const int64_t before = static_cast<int64_t>(gc::stats().heap_live);
  constexpr int kObjects = 2000;
  {
    std::vector<gc::Root<Blob>> blobs;
    for (int i = 0; i < kObjects; i++) blobs.push_back(gc::make<Blob>());
    for (auto& b : blobs) gc::free(b);
  }
  gc::collect();  // keeps them one cycle, then frees them
  gc::collect();
  const int64_t after = static_cast<int64_t>(gc::stats().heap_live);
  // Without their bytes in the marked total, heap_live reads about
  // kObjects * 256 bytes below `before`; counted twice, as far above.
  EXPECT_LT(std::abs(after - before), kObjects * 256 / 4)
      << "before " << before << ", after " << after;
}

// A destructor the sweeper runs must not free: what only the dead object
// referred to is dead too. The program stops with the rule named.
struct FreesInItsDestructor {
  void* child = nullptr;  // not traced: dies with its owner
  ~FreesInItsDestructor() { gc::free(static_cast<Obj*>(child)); }
};

TEST_F(FreeDebugTest, FreeingFromADestructorTheSweeperRunsStops) {
  EXPECT_DEATH(
      {
        {
          gc::Root<FreesInItsDestructor> owner =
              gc::make<FreesInItsDestructor>();
          owner->child = gc::make<Obj>().get();
        }
        gc::collect();
      },
      "gc::free inside a destructor the collector runs");
}

// The destructor gc::free runs may not block: the world could stop
// mid-free, and the collection would find the object half freed.
struct BlocksInItsDestructor {
  ~BlocksInItsDestructor() { gc::Blocking blocking; }
};

TEST_F(FreeDebugTest, BlockingInTheDestructorGcFreeRunsStops) {
  EXPECT_DEATH(
      {
        gc::Root<BlocksInItsDestructor> o = gc::make<BlocksInItsDestructor>();
        gc::free(o);
      },
      "gc::Blocking while the world may not stop");
}

}  // namespace
