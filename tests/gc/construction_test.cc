// Objects under construction (api/make.h): a collection inside a
// constructor keeps the object and everything the thread allocated since
// the constructor began, wherever the constructor put it; a constructor
// that throws leaves nothing behind, in the heap or in the statistics.
#include <gtest/gtest.h>

#include <atomic>
#include <cstdint>
#include <stdexcept>
#include <vector>

#include "gcrt/gc.h"

namespace {

constexpr uint64_t kMagic = 0x5eed5eed5eed5eedull;
std::atomic<int64_t> g_leaves_destroyed{0};

struct Leaf {
  explicit Leaf(int v) : value(v) {}
  ~Leaf() {
    magic = 0;
    g_leaves_destroyed.fetch_add(1, std::memory_order_relaxed);
  }
  uint64_t magic = kMagic;
  int value;
  char payload[44] = {};  // 64 bytes: growth triggers cycles sooner
};

// Pushes its children into a std::vector member (C++ heap memory the
// marker cannot see while the constructor runs), collecting as it goes.
class Parent {
 public:
  Parent(int n, int collect_every) {
    for (int i = 0; i < n; i++) {
      kids_.push_back(gc::make_unrooted<Leaf>(i));
      if (collect_every > 0 && i % collect_every == 0) gc::collect();
    }
  }
  void trace(gc::Tracer& t) const { t(kids_); }
  // How many children are intact and in order.
  int Intact() const {
    int ok = 0;
    for (size_t i = 0; i < kids_.size(); i++) {
      if (kids_[i]->magic == kMagic && kids_[i]->value == static_cast<int>(i)) {
        ok++;
      }
    }
    return ok;
  }

 private:
  std::vector<gc::Ptr<Leaf>> kids_;
};

// Builds parents inside its own constructor: the children of a finished
// inner parent are kept through it, the inner parent by this one.
class GrandParent {
 public:
  GrandParent(int parents, int kids) {
    for (int i = 0; i < parents; i++) {
      parents_.push_back(gc::make_unrooted<Parent>(kids, 7));
      gc::collect();
    }
  }
  void trace(gc::Tracer& t) const { t(parents_); }
  int Intact() const {
    int ok = 0;
    for (const gc::Ptr<Parent>& p : parents_) ok += p->Intact();
    return ok;
  }

 private:
  std::vector<gc::Ptr<Parent>> parents_;
};

TEST(ConstructionTest, ChildrenStoredInAVectorSurviveACollectionAfterEachPush) {
  gc::Root<Parent> p = gc::make<Parent>(800, 1);
  EXPECT_EQ(p->Intact(), 800);
  gc::collect();
  EXPECT_EQ(p->Intact(), 800);
}

TEST(ConstructionTest, ChildrenSurviveCollectionsTriggeredByGrowth) {
  int old = gc::set_gc_percent(1);
  uint64_t cycles = gc::stats().num_gc;
  gc::Root<Parent> p = gc::make<Parent>(200000, 0);
  gc::set_gc_percent(old);
  EXPECT_GT(gc::stats().num_gc, cycles + 1) << "cycles during construction";
  EXPECT_EQ(p->Intact(), 200000);
}

TEST(ConstructionTest, NestedConstructorsKeepEveryLevel) {
  gc::Root<GrandParent> g = gc::make<GrandParent>(20, 50);
  EXPECT_EQ(g->Intact(), 20 * 50);
  gc::collect();
  EXPECT_EQ(g->Intact(), 20 * 50);
}

// Once the constructor returns, what it allocated and dropped is garbage
// again: keeping lasts only as long as the construction.
TEST(ConstructionTest, WhatAConstructorDroppedIsCollectedAfterItReturns) {
  struct Dropper {
    explicit Dropper(int n) {
      for (int i = 0; i < n; i++) gc::make_unrooted<Leaf>(i);
    }
    gc::Ptr<Leaf> unused;
  };
  gc::collect();
  int64_t before = g_leaves_destroyed.load();
  gc::Root<Dropper> d = gc::make<Dropper>(1000);
  gc::collect();
  EXPECT_EQ(g_leaves_destroyed.load() - before, 1000);
}

// Objects whose default constructor is a constant expression are built
// without a construction entry (api/make.h); made inside a recorded
// constructor, they are still kept until it returns.
struct Pair {
  gc::Ptr<Pair> left, right;
  int64_t value = 7;
};
struct NotConstexpr {
  NotConstexpr() noexcept {}
  gc::Ptr<Pair> pair;
};
static_assert(!gc::internal::kTrackConstruction<Pair>);
static_assert(gc::internal::kTrackConstruction<Pair, gc::Ptr<Pair>>);
static_assert(gc::internal::kTrackConstruction<NotConstexpr>);
static_assert(gc::internal::kTrackConstruction<Parent, int, int>);

class PairParent {
 public:
  explicit PairParent(int n) {
    for (int i = 0; i < n; i++) {
      gc::Ptr<Pair> p = gc::make_unrooted<Pair>();
      p->value = i;
      weak_.emplace_back(p);
      pairs_.push_back(p);  // out of the marker's sight until we return
      if (i % 16 == 0) gc::collect();
    }
  }
  void trace(gc::Tracer& t) const { t(pairs_); }
  int Intact() const {
    int ok = 0;
    for (size_t i = 0; i < pairs_.size(); i++) {
      ok += weak_[i].lock() && pairs_[i]->value == static_cast<int64_t>(i);
    }
    return ok;
  }

 private:
  std::vector<gc::Ptr<Pair>> pairs_;
  std::vector<gc::Weak<Pair>> weak_;
};

TEST(ConstructionTest, ConstantConstructedChildrenSurviveTheirParentsBuild) {
  gc::Root<Pair> alone = gc::make<Pair>();
  EXPECT_EQ(alone->value, 7) << "the default member initializers ran";
  EXPECT_EQ(alone->left.get(), nullptr);
  gc::Root<PairParent> p = gc::make<PairParent>(200);
  gc::collect();
  EXPECT_EQ(p->Intact(), 200);
}

// The children of a constructor that throws are garbage; the statistics
// count no object for the failed construction, whatever its size class.
template <size_t kBytes>
struct Thrower {
  explicit Thrower(int n) {
    for (int i = 0; i < n; i++) gc::make_unrooted<Leaf>(i);
    throw std::runtime_error("no");
  }
  char pad[kBytes];
};

template <size_t kBytes>
void ThrowMany(int times) {
  for (int i = 0; i < times; i++) {
    EXPECT_THROW(gc::make<Thrower<kBytes>>(2), std::runtime_error);
  }
}

TEST(ConstructionTest, AThrowingConstructorLeavesNoObjectCounted) {
  gc::collect();
  gc::collect();
  uint64_t before = gc::stats().heap_objects;
  ThrowMany<4>(10000);    // tiny
  ThrowMany<100>(10000);  // small
  ThrowMany<40000>(100);  // large
  gc::collect();
  gc::collect();
  gc::Stats s = gc::stats();
  // The Leaf children were garbage too: nothing of the throws is left.
  EXPECT_EQ(s.heap_objects, before);
}

}  // namespace
