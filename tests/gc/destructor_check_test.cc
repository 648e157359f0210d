// Debug builds (GCRT_DEBUG_LEVEL >= 2, this target's copts) stop a destructor
// run by the sweeper from dereferencing a gc::Ptr field: its target may already
// be destroyed.
#include <gtest/gtest.h>

#include <cstdint>
#include <vector>

#include "gcrt/gc.h"

namespace {

static_assert(GCRT_DEBUG_LEVEL >= 2,
              "this test is built with -DGCRT_DEBUG_LEVEL=2");

struct Leaf {
  int value = 7;
};

int g_sink = 0;

class Careless {
 public:
  explicit Careless(gc::Ptr<Leaf> leaf) : leaf_(leaf) {}
  ~Careless() { g_sink += leaf_->value; }  // breaks the contract
  void trace(gc::Tracer& t) const { t(leaf_); }

 private:
  gc::Ptr<Leaf> leaf_;
};

class Careful {
 public:
  explicit Careful(gc::Ptr<Leaf> leaf) : leaf_(leaf) {}
  ~Careful() { g_sink += leaf_ ? 1 : 0; }  // comparing is fine
  void trace(gc::Tracer& t) const { t(leaf_); }

 private:
  gc::Ptr<Leaf> leaf_;
};

TEST(DestructorCheckTest, DereferencingAPtrInADestructorStopsTheProgram) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_DEATH(
      {
        gc::make_unrooted<Careless>(gc::make_unrooted<Leaf>());
        gc::collect();
      },
      "dereferenced inside the destructor of a GC object");
}

// The usual case: the owner and its child die in the same cycle, and the
// child's slot may be reclaimed (quarantined) before the owner's
// destructor runs. The report names the destructor rule, not a missing
// root (the dereference check used to look for a reclaimed target first).
struct Child {
  gc::Ptr<Child> next;
  int64_t value = 5;
};
struct Owner {
  gc::Ptr<Child> child;
  std::vector<int> payload;
  ~Owner() { g_sink += static_cast<int>(child->value); }  // breaks the rule
};

TEST(DestructorCheckTest, ADeadChildDereferencedInADestructorNamesTheRule) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_DEATH(
      {
        gc::set_quarantine(true);  // as in a debug build of the library
        for (int i = 0; i < 100; i++) {
          gc::Root<Owner> o = gc::make<Owner>();
          o->child = gc::make<Child>();
        }
        gc::collect();
        gc::collect();
      },
      "dereferenced inside the destructor of a GC object");
}

TEST(DestructorCheckTest, DestructorsThatOnlyTestPointersRun) {
  g_sink = 0;
  for (int i = 0; i < 10; i++) {
    gc::make_unrooted<Careful>(gc::make_unrooted<Leaf>());
  }
  gc::collect();
  EXPECT_EQ(g_sink, 10);
  // Outside destructors, dereferencing is of course fine.
  gc::Root<Leaf> leaf = gc::make<Leaf>();
  gc::Ptr<Leaf> p = leaf;
  EXPECT_EQ(p->value, 7);
}

}  // namespace
