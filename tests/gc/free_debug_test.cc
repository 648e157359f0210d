// Use after explicit free in debug builds (GC_DEBUG=2, this target's
// copts): a freed object stays in quarantine, destroyed and poisoned, until
// a collection shows nothing reaches it. Meanwhile a dereference, rooting it
// or freeing it again is reported, and a collection that finds it
// reachable stops the program naming it. Afterwards its slot is reused and
// its destructor never runs a second time.
#include <gtest/gtest.h>

#include <atomic>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <vector>

#include "api/gc.h"

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

template <typename Fn>
std::string InvalidArgumentOf(Fn fn) {
  try {
    fn();
  } catch (const std::invalid_argument& e) {
    return e.what();
  }
  return "";
}

class FreeDebugTest : public ::testing::Test {
 protected:
  void SetUp() override {
    gc::set_verify(true);
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
