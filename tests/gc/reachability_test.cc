// Reachability: random object graphs (cycles, shared subgraphs, interior
// pointers, objects of every size class and large ones) are collected
// exactly: after gc::collect() every reachable object is intact and every
// unreachable one was destroyed exactly once. Also collections inside
// constructors, and constructors that throw.
//
// Every test runs with the verifier on (gc::set_verify(true)): it re-marks
// after each cycle and stops the program if a reachable object was freed
// or left unmarked.
#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <deque>
#include <memory>
#include <random>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "gcrt/gc.h"
#include "gcrt/gc/collector.h"
#include "tests/test_support/destructions.h"
#include "tests/test_support/mix.h"
#include "tests/test_support/verified_heap_test.h"

namespace {

using gc::testing::CountDestroy;
using gc::testing::Destroyed;
using gc::testing::Leaf;  // a pointer-free leaf with a destructor
using gc::testing::Mix;
using gc::testing::NewId;

// Destructor runs of the throwing types (never expected).
std::atomic<int> g_thrower_destroyed{0};

class Reachability : public gc::testing::VerifierCheckedTest {};

static_assert(!gc::internal::ContainsGcPointers<Leaf>());

// A pointer-free aggregate member that counts its destruction.
struct Counted {
  int64_t id = -1;
  ~Counted() { CountDestroy(id); }
};

// ---- Graph nodes, trace-function path: a class with trace() holding a
//      std::vector of edges; derived classes of many sizes; a multiply
//      inherited one whose Obj part sits at a nonzero offset, so every
//      gc::Ptr<Obj> to it is an interior pointer. ----

class Obj {
 public:
  Obj() : id_(NewId()), check_(Mix(static_cast<uint64_t>(id_))) {}
  virtual ~Obj() { CountDestroy(id_); }
  Obj(const Obj&) = delete;
  Obj& operator=(const Obj&) = delete;

  int id() const { return id_; }
  virtual bool Intact() const {
    return check_ == Mix(static_cast<uint64_t>(id_));
  }
  void trace(gc::Tracer& t) const { t(edges); }

  std::vector<gc::Ptr<Obj>> edges;

 private:
  int id_;
  uint64_t check_;
};
static_assert(gc::internal::ContainsGcPointers<Obj>());

template <size_t N>
class Sized final : public Obj {
 public:
  Sized() {
    for (size_t i = 0; i < N; i++) payload_[i] = Mix(id() * 7919ull + i);
  }
  bool Intact() const override {
    if (!Obj::Intact()) return false;
    for (size_t i = 0; i < N; i++) {
      if (payload_[i] != Mix(id() * 7919ull + i)) return false;
    }
    return true;
  }

 private:
  std::array<uint64_t, N> payload_;
};

struct Tag {
  virtual ~Tag() = default;
  uint64_t tag = 0x7A6'7A6'7A6ull;
};

class Multi final : public Tag, public Obj {
 public:
  bool Intact() const override {
    return tag == 0x7A6'7A6'7A6ull && Obj::Intact();
  }
};

static_assert(sizeof(Sized<4090>) == 32 * 1024);
static_assert(sizeof(Sized<4091>) == 32 * 1024 + 8);

struct ObjTraits {
  using Node = Obj;
  using Interior = std::vector<gc::Ptr<Obj>>;  // an interior member
  static constexpr int kMaxEdges = 5;

  static gc::Root<Obj> Make(std::mt19937& rng) {
    uint32_t r = rng() % 1000;
    if (r < 300) return gc::make<Sized<0>>();
    if (r < 500) return gc::make<Sized<3>>();
    if (r < 650) return gc::make<Sized<13>>();
    if (r < 750) return gc::make<Sized<61>>();
    if (r < 830) return gc::make<Sized<250>>();
    if (r < 860) return gc::make<Sized<1100>>();  // ~8.8 KiB
    if (r < 870) return gc::make<Sized<4500>>();  // > 32 KiB: large
    if (r < 875) return gc::make<Sized<4090>>();  // 32 KiB exactly
    if (r < 880) return gc::make<Sized<4091>>();  // 32 KiB + 8
    return gc::make<Multi>();
  }
  static int Id(const Obj* n) { return n->id(); }
  static bool Intact(const Obj* n) { return n->Intact(); }
  static Interior* InteriorOf(Obj* n) { return &n->edges; }
  static void SetEdges(Obj* n, const std::vector<Obj*>& targets) {
    n->edges.clear();
    for (Obj* t : targets) n->edges.push_back(gc::Ptr<Obj>(t));
  }
  static bool EdgesMatch(const Obj* n, const std::vector<Obj*>& targets) {
    if (n->edges.size() != targets.size()) return false;
    for (size_t i = 0; i < targets.size(); i++) {
      if (n->edges[i].get() != targets[i]) return false;
    }
    return true;
  }
};

// ---- Graph nodes, pointer-bitmap path: an aggregate with fixed gc::Ptr
//      fields, one of which is an interior pointer to another node's
//      `in` member. ----

struct Inner {
  uint64_t tag;
  uint64_t check;
};

struct ANode {
  gc::Ptr<ANode> a;
  int64_t id;
  gc::Ptr<Inner> side;  // points at some node's `in`
  Inner in;
  std::array<gc::Ptr<ANode>, 3> more;
  uint64_t check;
  Counted counted;
};
static_assert(gc::internal::TypeInfoHolder<ANode>::kBitmap);

struct ANodeTraits {
  using Node = ANode;
  using Interior = Inner;
  static constexpr int kMaxEdges = 5;

  static gc::Root<ANode> Make(std::mt19937&) {
    gc::Root<ANode> n = gc::make<ANode>();
    int id = NewId();
    n->id = id;
    n->counted.id = id;
    n->check = Mix(static_cast<uint64_t>(id));
    n->in = Inner{0xABCDull, Mix(static_cast<uint64_t>(id) + 1)};
    return n;
  }
  static int Id(const ANode* n) { return static_cast<int>(n->id); }
  static bool Intact(const ANode* n) {
    uint64_t id = static_cast<uint64_t>(n->id);
    return n->counted.id == n->id && n->check == Mix(id) &&
           n->in.tag == 0xABCDull && n->in.check == Mix(id + 1);
  }
  static Inner* InteriorOf(ANode* n) { return &n->in; }
  static void SetEdges(ANode* n, const std::vector<ANode*>& t) {
    n->a = gc::Ptr<ANode>(t[0]);
    n->side = t[1] == nullptr ? gc::Ptr<Inner>() : gc::Ptr<Inner>(&t[1]->in);
    for (int i = 0; i < 3; i++) n->more[i] = gc::Ptr<ANode>(t[2 + i]);
  }
  static bool EdgesMatch(const ANode* n, const std::vector<ANode*>& t) {
    const Inner* side = t[1] == nullptr ? nullptr : &t[1]->in;
    return n->a.get() == t[0] && n->side.get() == side &&
           n->more[0].get() == t[2] && n->more[1].get() == t[3] &&
           n->more[2].get() == t[4];
  }
};

// ---- The random graph driver. ----
//
// A model of the graph (nodes, their ids, their edges) is kept on the side.
// Each round adds nodes (rooted while they are being built, so collections
// triggered by the allocations see a consistent graph), rewires some,
// picks a new root set through every kind of root, computes reachability
// over the model, drops the temporary roots and collects. Then every node
// is checked: reachable -> not destroyed, checksum and edges intact;
// unreachable -> destroyed exactly once. Unreachable nodes leave the model.
template <typename Traits>
class GraphDriver {
 public:
  using Node = typename Traits::Node;
  using Interior = typename Traits::Interior;
  static constexpr size_t kRange = 96;

  explicit GraphDriver(uint32_t seed)
      : rng_(seed),
        set_([this](gc::Tracer& t) { t(set_ptrs_); }),
        range_(range_ptrs_.data(), range_ptrs_.size()),
        raw_range_(raw_ptrs_.data(), raw_ptrs_.size()) {}

  ~GraphDriver() { ClearRoots(); }

  // Runs one round; problems are reported as test failures.
  // null_pct: the percentage of edge slots left null when (re)wiring; a
  // high one cuts the graph into many unreachable pieces.
  void Round(int add, int rewire, double root_prob, uint32_t null_pct = 45) {
    null_pct_ = null_pct;
    // 1. New nodes, rooted by `fresh` until the collection.
    std::vector<gc::Root<Node>> fresh;
    size_t first_new = nodes_.size();
    for (int i = 0; i < add; i++) {
      gc::Root<Node> r = Traits::Make(rng_);
      nodes_.push_back(r.get());
      ids_.push_back(Traits::Id(r.get()));
      all_ids_.push_back(Traits::Id(r.get()));
      edges_.emplace_back(Traits::kMaxEdges, -1);
      fresh.push_back(std::move(r));
    }
    // 2. Edges of the new nodes, and rewiring of old ones. No GC allocation
    //    from here to the collection.
    for (size_t i = first_new; i < nodes_.size(); i++) Wire(i);
    if (first_new > 0) {
      for (int k = 0; k < rewire; k++) Wire(rng_() % first_new);
    }
    // 3. A new root set.
    ClearRoots();
    std::vector<size_t> roots;
    std::bernoulli_distribution rooted(root_prob);
    for (size_t i = 0; i < nodes_.size(); i++) {
      if (rooted(rng_)) {
        AddRoot(i);
        roots.push_back(i);
      }
    }
    // 4. Reachability over the model.
    std::vector<bool> reach(nodes_.size(), false);
    std::vector<size_t> stack = roots;
    for (size_t r : roots) reach[r] = true;
    while (!stack.empty()) {
      size_t i = stack.back();
      stack.pop_back();
      for (int e : edges_[i]) {
        if (e >= 0 && !reach[e]) {
          reach[e] = true;
          stack.push_back(static_cast<size_t>(e));
        }
      }
    }
    // 5. Collect.
    fresh.clear();
    gc::collect();
    // 6. Check, and drop the unreachable nodes from the model.
    int bad = 0;
    std::vector<int> remap(nodes_.size(), -1);
    size_t kept = 0, reachable = 0;
    for (size_t i = 0; i < nodes_.size(); i++) {
      if (reach[i]) {
        reachable++;
        remap[i] = static_cast<int>(kept++);
        if (Destroyed(ids_[i]) != 0) {
          if (bad++ < 5) {
            ADD_FAILURE() << "reachable node " << ids_[i] << " was destroyed "
                          << Destroyed(ids_[i]) << " times";
          }
          continue;
        }
        if (!Traits::Intact(nodes_[i]) || Traits::Id(nodes_[i]) != ids_[i]) {
          if (bad++ < 5) {
            ADD_FAILURE() << "reachable node " << ids_[i] << " is corrupt";
          }
          continue;
        }
        if (!Traits::EdgesMatch(nodes_[i], Targets(i))) {
          if (bad++ < 5) {
            ADD_FAILURE() << "reachable node " << ids_[i]
                          << " has corrupt edges";
          }
        }
      } else if (Destroyed(ids_[i]) != 1) {
        if (bad++ < 5) {
          ADD_FAILURE() << "unreachable node " << ids_[i] << " was destroyed "
                        << Destroyed(ids_[i]) << " times (expected 1)";
        }
      }
    }
    EXPECT_EQ(bad, 0);
    // Some of each, or the round tested little.
    EXPECT_GT(reachable, 0u);
    EXPECT_LT(reachable, nodes_.size());
    std::vector<Node*> nodes;
    std::vector<int> ids;
    std::vector<std::vector<int>> edges;
    for (size_t i = 0; i < nodes_.size(); i++) {
      if (!reach[i]) continue;
      nodes.push_back(nodes_[i]);
      ids.push_back(ids_[i]);
      std::vector<int> e = edges_[i];
      for (int& x : e) {
        if (x < 0) continue;
        x = remap[x];
        EXPECT_GE(x, 0);  // reachability is closed under edges
      }
      edges.push_back(std::move(e));
    }
    nodes_ = std::move(nodes);
    ids_ = std::move(ids);
    edges_ = std::move(edges);
  }

  // Drops every root: after a collection, every node ever created must
  // have been destroyed exactly once.
  void Finish() {
    ClearRoots();
    gc::collect();
    int bad = 0;
    for (int id : all_ids_) {
      if (Destroyed(id) != 1 && bad++ < 5) {
        ADD_FAILURE() << "node " << id << " destroyed " << Destroyed(id)
                      << " times after its last root went away";
      }
    }
    EXPECT_EQ(bad, 0);
    nodes_.clear();
    ids_.clear();
    edges_.clear();
  }

  size_t size() const { return nodes_.size(); }

 private:
  // New random edges for node i: nil, a neighbour (cycles, locality), or
  // anyone (shared subgraphs).
  void Wire(size_t i) {
    size_t n = nodes_.size();
    std::vector<int>& e = edges_[i];
    for (int k = 0; k < Traits::kMaxEdges; k++) {
      uint32_t r = rng_() % 100;
      if (r < null_pct_) {
        e[k] = -1;
      } else if (r < null_pct_ + (100 - null_pct_) / 2) {
        size_t d = rng_() % 8;
        e[k] = static_cast<int>((i + n - 4 + d) % n);  // self loops too
      } else {
        e[k] = static_cast<int>(rng_() % n);
      }
    }
    Traits::SetEdges(nodes_[i], Targets(i));
  }

  std::vector<Node*> Targets(size_t i) const {
    std::vector<Node*> t;
    for (int e : edges_[i]) t.push_back(e < 0 ? nullptr : nodes_[e]);
    return t;
  }

  void AddRoot(size_t i) {
    Node* n = nodes_[i];
    switch (rng_() % 6) {
      case 0:
        roots_.emplace_back(n);
        break;
      case 1:
        globals_.emplace_back(n);
        break;
      case 2:
        set_ptrs_.emplace_back(n);
        break;
      case 3:
        if (range_used_ < kRange) {
          range_ptrs_[range_used_++] = gc::Ptr<Node>(n);
        } else {
          roots_.emplace_back(n);
        }
        break;
      case 4:  // an interior pointer in a raw range
        if (raw_used_ < kRange) {
          raw_ptrs_[raw_used_++] = Traits::InteriorOf(n);
        } else {
          interior_roots_.emplace_back(Traits::InteriorOf(n));
        }
        break;
      default:  // an interior handle
        interior_roots_.emplace_back(Traits::InteriorOf(n));
        break;
    }
  }

  void ClearRoots() {
    roots_.clear();
    globals_.clear();
    set_ptrs_.clear();
    interior_roots_.clear();
    range_ptrs_.fill(gc::Ptr<Node>());
    raw_ptrs_.fill(nullptr);
    range_used_ = 0;
    raw_used_ = 0;
  }

  std::mt19937 rng_;
  uint32_t null_pct_ = 45;
  std::vector<Node*> nodes_;
  std::vector<int> ids_;
  std::vector<std::vector<int>> edges_;
  std::vector<int> all_ids_;

  std::vector<gc::Root<Node>> roots_;
  std::vector<gc::Global<Node>> globals_;
  std::vector<gc::Root<Interior>> interior_roots_;
  std::vector<gc::Ptr<Node>> set_ptrs_;
  std::array<gc::Ptr<Node>, kRange> range_ptrs_{};
  std::array<const void*, kRange> raw_ptrs_{};
  size_t range_used_ = 0;
  size_t raw_used_ = 0;
  gc::RootSet set_;
  gc::RootRange range_;
  gc::RootRange raw_range_;
};

template <typename Traits>
void RunGraph(uint32_t seed, int initial, int rounds, int add, int rewire) {
  SCOPED_TRACE("seed " + std::to_string(seed));
  GraphDriver<Traits> g(seed);
  g.Round(initial, 0, 0.02);
  for (int r = 0; r < rounds; r++) {
    SCOPED_TRACE("round " + std::to_string(r));
    if (r % 3 == 2) {
      // Rewire half the graph sparsely: large parts become garbage.
      g.Round(add, static_cast<int>(g.size() / 2), 0.02, 75);
    } else {
      g.Round(add, rewire, r % 2 == 0 ? 0.01 : 0.04);
    }
  }
  g.Finish();
}

TEST_F(Reachability, RandomGraphOfTracedObjects) {
  for (uint32_t seed : {1u, 2u, 3u, 4u, 5u}) {
    RunGraph<ObjTraits>(seed, 2500, 8, 800, 400);
  }
}

TEST_F(Reachability, RandomGraphOfBitmapAggregates) {
  for (uint32_t seed : {11u, 12u, 13u, 14u, 15u}) {
    RunGraph<ANodeTraits>(seed, 3000, 8, 1000, 500);
  }
}

// The same graphs marked by one worker and by more workers than cores.
TEST_F(Reachability, RandomGraphWithOneAndManyMarkWorkers) {
  for (uint32_t workers : {1u, 4u}) {
    SCOPED_TRACE("workers " + std::to_string(workers));
    gc::set_mark_workers(workers);
    RunGraph<ObjTraits>(100 + workers, 1500, 3, 500, 300);
    RunGraph<ANodeTraits>(200 + workers, 1500, 3, 500, 300);
    gc::collect();
    EXPECT_EQ(gc::stats().mark_workers, workers);
  }
  gc::set_mark_workers(0);
}

// A long cycle, and a shared diamond lattice, unreachable as a whole: every
// member destroyed exactly once, the rooted twin untouched.
TEST_F(Reachability, UnreachableCyclesAndSharedSubgraphsAreReclaimed) {
  auto build_ring = [](int n, std::vector<int>* ids) {
    gc::Root<Obj> head = gc::make<Sized<2>>();
    ids->push_back(head->id());
    gc::Root<Obj> prev = head;
    for (int i = 1; i < n; i++) {
      gc::Root<Obj> cur = gc::make<Sized<2>>();
      ids->push_back(cur->id());
      prev->edges.push_back(gc::Ptr<Obj>(cur));
      prev->edges.push_back(gc::Ptr<Obj>(head));  // many paths back
      prev = cur;
    }
    prev->edges.push_back(gc::Ptr<Obj>(head));  // closes the ring
    return head;
  };
  std::vector<int> dead_ids, live_ids;
  gc::Root<Obj> live = build_ring(3000, &live_ids);
  build_ring(3000, &dead_ids);
  // A lattice: every node of layer k points to two nodes of layer k+1.
  {
    std::vector<gc::Root<Obj>> layer;
    for (int i = 0; i < 20; i++) {
      layer.push_back(gc::make<Multi>());
      dead_ids.push_back(layer.back()->id());
    }
    for (int k = 0; k < 30; k++) {
      std::vector<gc::Root<Obj>> next;
      for (int i = 0; i < 20; i++) {
        next.push_back(gc::make<Multi>());
        dead_ids.push_back(next.back()->id());
      }
      for (int i = 0; i < 20; i++) {
        layer[i]->edges.push_back(gc::Ptr<Obj>(next[i]));
        layer[i]->edges.push_back(gc::Ptr<Obj>(next[(i + 1) % 20]));
        next[i]->edges.push_back(gc::Ptr<Obj>(layer[i]));  // back edges
      }
      layer = std::move(next);
    }
  }
  gc::collect();
  int wrong = 0;
  for (int id : dead_ids) wrong += Destroyed(id) != 1;
  for (int id : live_ids) wrong += Destroyed(id) != 0;
  EXPECT_EQ(wrong, 0);
  // Walk the live ring: every node intact.
  const Obj* n = live.get();
  for (int i = 0; i < 3000; i++) {
    ASSERT_TRUE(n->Intact());
    ASSERT_EQ(n->id(), live_ids[i]);
    n = n->edges[0].get();
  }
  EXPECT_EQ(n, live.get());
  live = nullptr;
  gc::collect();
  wrong = 0;
  for (int id : live_ids) wrong += Destroyed(id) != 1;
  EXPECT_EQ(wrong, 0);
}

// ---- Interior pointers. ----

struct Outer {
  uint64_t head;
  Inner in;
  std::array<uint64_t, 6> tail;
  Counted counted;
};

struct InteriorHolder {
  gc::Ptr<Inner> inner;
  gc::Ptr<uint64_t> word;
};
static_assert(gc::internal::TypeInfoHolder<InteriorHolder>::kBitmap);

Outer* OuterOf(Inner* in) {
  return reinterpret_cast<Outer*>(reinterpret_cast<char*>(in) -
                                  offsetof(Outer, in));
}

gc::Root<Outer> MakeOuter(int* id_out) {
  gc::Root<Outer> o = gc::make<Outer>();
  int id = NewId();
  o->counted.id = id;
  o->head = Mix(static_cast<uint64_t>(id));
  o->in = Inner{7, Mix(static_cast<uint64_t>(id) + 1)};
  for (size_t i = 0; i < o->tail.size(); i++) o->tail[i] = id + i;
  *id_out = id;
  return o;
}

bool OuterIntact(const Outer* o, int id) {
  if (o->counted.id != id || o->head != Mix(static_cast<uint64_t>(id))) {
    return false;
  }
  if (o->in.tag != 7 || o->in.check != Mix(static_cast<uint64_t>(id) + 1)) {
    return false;
  }
  for (size_t i = 0; i < o->tail.size(); i++) {
    if (o->tail[i] != id + i) return false;
  }
  return true;
}

TEST_F(Reachability, InteriorRootsKeepTheWholeObject) {
  int id;
  gc::Root<Outer> o = MakeOuter(&id);
  gc::Root<Inner> inner(&o->in);
  Outer* raw = o.get();
  o = nullptr;
  for (int i = 0; i < 3; i++) {
    std::vector<gc::Root<Outer>> churn;  // reuse pressure on the size class
    for (int k = 0; k < 2000; k++) {
      int unused;
      churn.push_back(MakeOuter(&unused));
    }
    churn.clear();
    gc::collect();
    ASSERT_EQ(Destroyed(id), 0);
    ASSERT_EQ(OuterOf(inner.get()), raw);
    EXPECT_TRUE(OuterIntact(raw, id));
  }
  // A pointer to the last word of the object.
  gc::Root<uint64_t> last(&raw->tail.back());
  inner = nullptr;
  gc::collect();
  EXPECT_EQ(Destroyed(id), 0);
  EXPECT_TRUE(OuterIntact(raw, id));
  last = nullptr;
  gc::collect();
  EXPECT_EQ(Destroyed(id), 1);
}

TEST_F(Reachability, InteriorFieldPointersKeepTheWholeObject) {
  int id1, id2;
  gc::Root<Outer> o1 = MakeOuter(&id1);
  gc::Root<Outer> o2 = MakeOuter(&id2);
  gc::Root<InteriorHolder> h = gc::make<InteriorHolder>();
  h->inner = gc::Ptr<Inner>(&o1->in);
  h->word = gc::Ptr<uint64_t>(&o2->tail[3]);
  Outer* r1 = o1.get();
  Outer* r2 = o2.get();
  o1 = nullptr;
  o2 = nullptr;
  gc::collect();
  EXPECT_EQ(Destroyed(id1), 0);
  EXPECT_EQ(Destroyed(id2), 0);
  EXPECT_TRUE(OuterIntact(r1, id1));
  EXPECT_TRUE(OuterIntact(r2, id2));
  h->word = nullptr;
  gc::collect();
  EXPECT_EQ(Destroyed(id1), 0);
  EXPECT_EQ(Destroyed(id2), 1);
  EXPECT_TRUE(OuterIntact(r1, id1));
  h = nullptr;
  gc::collect();
  EXPECT_EQ(Destroyed(id1), 1);
}

// Multiple inheritance: a gc::Ptr<Base2> to a Derived points inside it.
struct Base1 {
  virtual ~Base1() = default;
  uint64_t b1 = 0x1111;
};
struct Base2 {
  virtual ~Base2() = default;
  uint64_t b2 = 0x2222;
};
class Derived final : public Base1, public Base2 {
 public:
  Derived() : id(NewId()) {}
  ~Derived() override { CountDestroy(id); }
  void trace(gc::Tracer& t) const { t(next); }
  int id;
  gc::Ptr<Base2> next;
};

struct Base2Holder {
  gc::Ptr<Base2> p;
};

TEST_F(Reachability, BaseClassPointersKeepTheDerivedObject) {
  gc::Root<Derived> d = gc::make<Derived>();
  int id = d->id;
  Derived* raw = d.get();
  gc::Root<Base2> b2 =
      std::move(d);  // the handle now holds an interior pointer
  EXPECT_FALSE(d);
  ASSERT_NE(static_cast<void*>(b2.get()), static_cast<void*>(raw));
  gc::collect();
  EXPECT_EQ(Destroyed(id), 0);
  EXPECT_EQ(b2->b2, 0x2222u);
  EXPECT_EQ(raw->b1, 0x1111u);

  // Through a field, and through a chain of Derived objects linked by
  // their Base2 parts.
  gc::Root<Base2Holder> h = gc::make<Base2Holder>();
  h->p = gc::Ptr<Base2>(b2);
  std::vector<int> chain_ids{id};
  Derived* tail = raw;
  for (int i = 0; i < 100; i++) {
    gc::Root<Derived> n = gc::make<Derived>();
    chain_ids.push_back(n->id);
    tail->next = gc::Ptr<Base2>(n);
    tail = n.get();
  }
  b2 = nullptr;
  gc::collect();
  for (int cid : chain_ids) EXPECT_EQ(Destroyed(cid), 0) << cid;
  EXPECT_EQ(raw->b1, 0x1111u);
  EXPECT_EQ(tail->b2, 0x2222u);
  gc::Global<Base2> g(h->p);
  h = nullptr;
  gc::collect();
  for (int cid : chain_ids) EXPECT_EQ(Destroyed(cid), 0) << cid;
  g = gc::Global<Base2>();
  gc::collect();
  for (int cid : chain_ids) EXPECT_EQ(Destroyed(cid), 1) << cid;
}

// Large objects (> 32 KiB): interior pointers deep inside, on later pages.
struct Big {
  std::array<uint64_t, 6000> data;  // 48 KiB, pointer-free
  Counted counted;
};
static_assert(sizeof(Big) > 32 * 1024);

TEST_F(Reachability, InteriorPointersIntoLargeObjects) {
  gc::Root<Big> big = gc::make<Big>();
  int id = NewId();
  big->counted.id = id;
  for (size_t i = 0; i < big->data.size(); i++) big->data[i] = Mix(i + id);
  Big* raw = big.get();
  gc::Root<uint64_t> deep(&raw->data[5000]);
  big = nullptr;
  gc::collect();
  ASSERT_EQ(Destroyed(id), 0);
  for (size_t i = 0; i < raw->data.size(); i++) {
    ASSERT_EQ(raw->data[i], Mix(i + id)) << i;
  }
  deep = nullptr;
  gc::collect();
  EXPECT_EQ(Destroyed(id), 1);

  // A large array of gc::Ptr, rooted only by a pointer to its last element.
  auto arr = gc::make_array<gc::Ptr<Leaf>>(10000);
  std::vector<int> ids;
  for (size_t i = 0; i < arr->size(); i += 3) {
    (*arr)[i] = gc::make_unrooted<Leaf>();
    ids.push_back((*arr)[i]->id());
  }
  gc::Root<gc::Ptr<Leaf>> last(&(*arr)[arr->size() - 1]);
  gc::Array<gc::Ptr<Leaf>>* araw = arr.get();
  arr = nullptr;
  gc::collect();
  int bad = 0;
  for (size_t i = 0, k = 0; i < araw->size(); i += 3, k++) {
    bad += Destroyed(ids[k]) != 0 || !(*araw)[i]->Intact();
  }
  EXPECT_EQ(bad, 0);
  last = nullptr;
  gc::collect();
  bad = 0;
  for (int lid : ids) bad += Destroyed(lid) != 1;
  EXPECT_EQ(bad, 0);
}

// ---- Tiny objects (pointer-free, trivially destructible, < 16 bytes):
//      packed several to a 16-byte block. A live piece keeps its block. ----

struct Tiny4 {
  uint32_t v;
};
struct Tiny8 {
  uint64_t v;
};
struct Tiny12 {
  uint32_t a, b, c;
};
struct TinyHolder {
  std::array<gc::Ptr<Tiny4>, 64> four;
  std::array<gc::Ptr<Tiny12>, 64> twelve;
};

TEST_F(Reachability, TinyObjectsSurviveWhileAnyPieceIsReachable) {
  std::mt19937 rng(7);
  gc::Root<TinyHolder> holder = gc::make<TinyHolder>();
  std::vector<gc::Root<Tiny8>> eights;
  std::vector<gc::Root<uint32_t>> middles;  // interior: &Tiny12::b
  std::vector<uint32_t> middle_values;
  uint32_t next = 1;
  for (int round = 0; round < 20; round++) {
    for (int i = 0; i < 400; i++) {
      uint32_t r = rng() % 8;
      if (r == 0) {
        size_t k = rng() % 64;
        holder->four[k] = gc::make_unrooted<Tiny4>(Tiny4{next++});
      } else if (r == 1) {
        size_t k = rng() % 64;
        holder->twelve[k] =
            gc::make_unrooted<Tiny12>(Tiny12{next, next + 1, next + 2});
        next += 3;
      } else if (r == 2 && eights.size() < 300) {
        eights.push_back(gc::make<Tiny8>(Tiny8{uint64_t{next++} << 20}));
      } else if (r == 3 && middles.size() < 300) {
        gc::Root<Tiny12> t = gc::make<Tiny12>(Tiny12{next, next + 1, next + 2});
        middles.emplace_back(&t->b);
        middle_values.push_back(next + 1);
        next += 3;
      } else {
        gc::make_unrooted<Tiny4>(Tiny4{0xDEAD});  // garbage
      }
    }
    if (round % 3 == 0 && !eights.empty()) {
      eights.erase(eights.begin(), eights.begin() + eights.size() / 2);
    }
    gc::collect();
    for (const auto& e : eights) ASSERT_NE(e->v, 0u);
    std::vector<uint64_t> seen;
    for (const auto& e : eights) seen.push_back(e->v);
    std::sort(seen.begin(), seen.end());
    ASSERT_EQ(std::adjacent_find(seen.begin(), seen.end()), seen.end())
        << "two live tiny objects share memory";
    for (size_t i = 0; i < middles.size(); i++) {
      ASSERT_EQ(*middles[i], middle_values[i]);
      const auto* t = reinterpret_cast<const Tiny12*>(
          reinterpret_cast<const char*>(middles[i].get()) -
          offsetof(Tiny12, b));
      ASSERT_EQ(t->a + 1, t->b);
      ASSERT_EQ(t->c, t->b + 1);
    }
    for (const auto& f : holder->four) {
      if (f) {
        ASSERT_NE(f->v, 0xDEADu);
      }
    }
    for (const auto& t : holder->twelve) {
      if (t) {
        ASSERT_EQ(t->b, t->a + 1);
        ASSERT_EQ(t->c, t->a + 2);
      }
    }
  }
}

// A large object whose constructor allocates, collects and throws.
class BigThrower {
 public:
  explicit BigThrower(std::vector<int>* ids) : a_(gc::make<Leaf>()) {
    ids->push_back(a_->id());
    pad_.fill(1);
    gc::collect();
    b_ = gc::make_unrooted<Leaf>();
    ids->push_back(b_->id());
    throw std::runtime_error("BigThrower");
  }
  ~BigThrower() { g_thrower_destroyed.fetch_add(1); }
  void trace(gc::Tracer& t) const { t(a_, b_); }

 private:
  gc::Ptr<Leaf> a_;
  std::array<uint64_t, 6000> pad_;
  gc::Ptr<Leaf> b_;
};

TEST_F(Reachability, ThrowingLargeObjectConstructorLeavesNothingBehind) {
  g_thrower_destroyed = 0;
  gc::collect();
  const gc::Stats before = gc::stats();
  std::vector<int> ids;
  for (int i = 0; i < 10; i++) {
    EXPECT_THROW(gc::make<BigThrower>(&ids), std::runtime_error);
  }
  ASSERT_EQ(ids.size(), 20u);
  gc::collect();
  const gc::Stats after = gc::stats();
  EXPECT_EQ(g_thrower_destroyed.load(), 0);
  int bad = 0;
  for (int id : ids) bad += Destroyed(id) != 1;
  EXPECT_EQ(bad, 0);
  EXPECT_EQ(after.heap_objects, before.heap_objects);
  EXPECT_LE(after.heap_alloc, before.heap_alloc);
}

// ---- Arrays. ----

struct APair {
  int64_t key;
  gc::Ptr<Leaf> leaf;
};
static_assert(gc::internal::TypeInfoHolder<APair>::kBitmap);

class TracedElem {
 public:
  void trace(gc::Tracer& t) const { t(leaves); }
  std::vector<gc::Ptr<Leaf>> leaves;
};

TEST_F(Reachability, ArraysOfPointersKeepTheirElementsAlive) {
  for (size_t n : {size_t{7}, size_t{600}, size_t{10000}}) {
    SCOPED_TRACE("n = " + std::to_string(n));
    auto arr = gc::make_array<gc::Ptr<Leaf>>(n);
    ASSERT_EQ(arr->size(), n);
    std::vector<int> ids(n);
    for (size_t i = 0; i < n; i++) {
      (*arr)[i] = gc::make_unrooted<Leaf>();
      ids[i] = (*arr)[i]->id();
    }
    gc::collect();
    int bad = 0;
    for (size_t i = 0; i < n; i++) {
      bad += Destroyed(ids[i]) != 0 || !(*arr)[i]->Intact() ||
             (*arr)[i]->id() != ids[i];
    }
    EXPECT_EQ(bad, 0);
    for (size_t i = 0; i < n; i += 2) (*arr)[i] = nullptr;
    gc::collect();
    bad = 0;
    for (size_t i = 0; i < n; i++) {
      bad += Destroyed(ids[i]) != (i % 2 == 0 ? 1 : 0);
      if (i % 2 == 1) bad += !(*arr)[i]->Intact();
    }
    EXPECT_EQ(bad, 0);
    arr = nullptr;
    gc::collect();
    bad = 0;
    for (size_t i = 0; i < n; i++) bad += Destroyed(ids[i]) != 1;
    EXPECT_EQ(bad, 0);
  }
}

TEST_F(Reachability, ArraysOfBitmapAndTracedElements) {
  for (size_t n : {size_t{100}, size_t{5000}}) {  // small, then large
    SCOPED_TRACE("n = " + std::to_string(n));
    auto pairs = gc::make_array<APair>(n);
    auto traced = gc::make_array<TracedElem>(n / 10);
    std::vector<int> pair_ids(n);
    std::vector<std::vector<int>> traced_ids(n / 10);
    for (size_t i = 0; i < n; i++) {
      (*pairs)[i].key = static_cast<int64_t>(i);
      (*pairs)[i].leaf = gc::make_unrooted<Leaf>();
      pair_ids[i] = (*pairs)[i].leaf->id();
    }
    for (size_t i = 0; i < n / 10; i++) {
      for (int k = 0; k < 5; k++) {
        (*traced)[i].leaves.push_back(gc::make_unrooted<Leaf>());
        traced_ids[i].push_back((*traced)[i].leaves.back()->id());
      }
    }
    gc::collect();
    int bad = 0;
    for (size_t i = 0; i < n; i++) {
      bad += (*pairs)[i].key != static_cast<int64_t>(i) ||
             Destroyed(pair_ids[i]) != 0 || !(*pairs)[i].leaf->Intact();
    }
    for (size_t i = 0; i < n / 10; i++) {
      for (int k = 0; k < 5; k++) {
        bad += Destroyed(traced_ids[i][k]) != 0 ||
               (*traced)[i].leaves[k]->id() != traced_ids[i][k];
      }
    }
    EXPECT_EQ(bad, 0);
    // An interior pointer to one element keeps the whole array and what
    // every element points to.
    gc::Root<APair> one(&(*pairs)[n / 2]);
    pairs = nullptr;
    for (size_t i = 0; i < n / 10; i++) (*traced)[i].leaves.resize(2);
    gc::collect();
    bad = 0;
    for (size_t i = 0; i < n; i++) bad += Destroyed(pair_ids[i]) != 0;
    for (size_t i = 0; i < n / 10; i++) {
      for (int k = 0; k < 5; k++) {
        bad += Destroyed(traced_ids[i][k]) != (k < 2 ? 0 : 1);
      }
    }
    EXPECT_EQ(bad, 0);
    EXPECT_EQ(one->key, static_cast<int64_t>(n / 2));
    one = nullptr;
    traced = nullptr;
    gc::collect();
    bad = 0;
    for (int id : pair_ids) bad += Destroyed(id) != 1;
    for (auto& v : traced_ids) {
      for (int id : v) bad += Destroyed(id) != 1;
    }
    EXPECT_EQ(bad, 0);
  }
}

// Elements with destructors are destroyed exactly once each; a string's
// heap buffer would leak (and LeakSanitizer would say so) otherwise.
TEST_F(Reachability, ArrayElementDestructorsRunExactlyOnce) {
  for (size_t n : {size_t{1}, size_t{300}, size_t{5000}}) {
    SCOPED_TRACE("n = " + std::to_string(n));
    gc::collect();  // heap figures are exact after a collection
    gc::Stats before = gc::stats();
    std::vector<int> ids(n);
    {
      auto counted = gc::make_array<Counted>(n);
      auto strings = gc::make_array<std::string>(n);
      for (size_t i = 0; i < n; i++) {
        EXPECT_EQ((*counted)[i].id, -1);
        ids[i] = NewId();
        (*counted)[i].id = ids[i];
        EXPECT_TRUE((*strings)[i].empty());
        (*strings)[i] = std::string(40 + i % 50, 'a' + i % 26);
      }
      gc::collect();
      for (size_t i = 0; i < n; i++) {
        ASSERT_EQ(Destroyed(ids[i]), 0);
        ASSERT_EQ((*strings)[i], std::string(40 + i % 50, 'a' + i % 26));
      }
    }
    gc::collect();
    int bad = 0;
    for (int id : ids) bad += Destroyed(id) != 1;
    EXPECT_EQ(bad, 0);
    gc::Stats after = gc::stats();
    EXPECT_EQ(after.heap_objects, before.heap_objects);
    EXPECT_GE(after.objects_destroyed - before.objects_destroyed, 2u);
  }
}

// ---- Collections inside constructors. ----

// A tree whose constructor builds its children; at one depth it collects
// between building the left and the right child (the left one is then
// referenced only from this half-built object), and again in its body.
// Every node also allocates some garbage.
class CNode {
 public:
  CNode(int depth, int collect_depth, std::vector<int>* garbage)
      : id_(NewId()),
        check_(Mix(static_cast<uint64_t>(id_))),
        left_(depth > 0 ? gc::Ptr<CNode>(gc::make<CNode>(
                              depth - 1, collect_depth, garbage))
                        : gc::Ptr<CNode>()),
        right_(depth > 0 ? (MaybeCollect(depth == collect_depth, garbage),
                            gc::make_unrooted<CNode>(depth - 1, collect_depth,
                                                     garbage))
                         : gc::Ptr<CNode>()),
        depth_(depth) {
    if (depth == collect_depth) gc::collect();
    garbage->push_back(gc::make<Leaf>()->id());
  }
  ~CNode() { CountDestroy(id_); }
  void trace(gc::Tracer& t) const { t(left_, right_); }

  // Counts the nodes of the subtree, checking each; -1 if one is broken.
  int Check(std::vector<int>* ids) const {
    if (check_ != Mix(static_cast<uint64_t>(id_)) || Destroyed(id_) != 0) {
      return -1;
    }
    ids->push_back(id_);
    if (depth_ == 0) return left_ || right_ ? -1 : 1;
    if (!left_ || !right_) return -1;
    if (left_->depth_ != depth_ - 1 || right_->depth_ != depth_ - 1) return -1;
    int l = left_->Check(ids), r = right_->Check(ids);
    return l < 0 || r < 0 ? -1 : 1 + l + r;
  }

 private:
  static int MaybeCollect(bool yes, std::vector<int>* garbage) {
    garbage->push_back(gc::make<Leaf>()->id());
    if (yes) gc::collect();
    return 0;
  }
  int id_;
  uint64_t check_;
  gc::Ptr<CNode> left_, right_;
  int depth_;
};

TEST_F(Reachability, CollectionsInsideConstructorsKeepTheHalfBuiltTree) {
  for (int collect_depth : {1, 4, 8}) {
    SCOPED_TRACE("collect at depth " + std::to_string(collect_depth));
    uint64_t gcs = gc::stats().num_gc;
    std::vector<int> garbage;
    gc::Root<CNode> tree = gc::make<CNode>(8, collect_depth, &garbage);
    EXPECT_GE(gc::stats().num_gc - gcs, uint64_t{1} << (8 - collect_depth));
    gc::collect();
    std::vector<int> ids;
    EXPECT_EQ(tree->Check(&ids), 511);
    int bad = 0;
    for (int id : garbage) bad += Destroyed(id) != 1;
    EXPECT_EQ(bad, 0);
    tree = nullptr;
    gc::collect();
    bad = 0;
    for (int id : ids) bad += Destroyed(id) != 1;
    EXPECT_EQ(bad, 0);
  }
}

// Array elements whose constructors allocate and collect: the elements
// built so far, and what they hold, survive.
class ElemMaker {
 public:
  static inline int made = 0;
  ElemMaker() : leaf_(gc::make<Leaf>()) {
    if (++made % 64 == 0) gc::collect();
  }
  void trace(gc::Tracer& t) const { t(leaf_); }
  const Leaf* leaf() const { return leaf_.get(); }

 private:
  gc::Ptr<Leaf> leaf_;
};

// A large object that collects in its constructor, with one child stored
// before the collection and one after.
class BigCtor {
 public:
  BigCtor() : a_(gc::make<Leaf>()) {
    for (size_t i = 0; i < pad_.size(); i++) pad_[i] = i;
    gc::collect();
    b_ = gc::make_unrooted<Leaf>();
    gc::collect();
  }
  void trace(gc::Tracer& t) const { t(a_, b_); }
  gc::Ptr<Leaf> a_;
  std::array<uint64_t, 5000> pad_;
  gc::Ptr<Leaf> b_;
};

TEST_F(Reachability, CollectionsInsideArrayAndLargeConstructors) {
  ElemMaker::made = 0;
  auto arr = gc::make_array<ElemMaker>(500);
  gc::collect();
  std::vector<int> ids;
  for (const ElemMaker& e : *arr) {
    ASSERT_TRUE(e.leaf() != nullptr);
    EXPECT_TRUE(e.leaf()->Intact());
    EXPECT_EQ(Destroyed(e.leaf()->id()), 0);
    ids.push_back(e.leaf()->id());
  }
  auto big = gc::make<BigCtor>();
  gc::collect();
  EXPECT_EQ(Destroyed(big->a_->id()), 0);
  EXPECT_EQ(Destroyed(big->b_->id()), 0);
  EXPECT_TRUE(big->a_->Intact());
  EXPECT_TRUE(big->b_->Intact());
  for (size_t i = 0; i < big->pad_.size(); i++) ASSERT_EQ(big->pad_[i], i);
  ids.push_back(big->a_->id());
  ids.push_back(big->b_->id());
  arr = nullptr;
  big = nullptr;
  gc::collect();
  int bad = 0;
  for (int id : ids) bad += Destroyed(id) != 1;
  EXPECT_EQ(bad, 0);
}

// ---- Constructors that throw. ----

class Thrower {
 public:
  Thrower(std::vector<int>* ids, bool collect_first)
      : a_(MakeLeaf(ids)), b_(gc::make_unrooted<Leaf>()) {
    ids->push_back(b_->id());
    member_.id = NewId();
    ids->push_back(static_cast<int>(member_.id));
    if (collect_first) gc::collect();
    throw std::runtime_error("Thrower");
  }
  ~Thrower() { g_thrower_destroyed.fetch_add(1); }
  void trace(gc::Tracer& t) const { t(a_, b_); }

 private:
  static gc::Ptr<Leaf> MakeLeaf(std::vector<int>* ids) {
    gc::Root<Leaf> l = gc::make<Leaf>();
    ids->push_back(l->id());
    return gc::Ptr<Leaf>(l);
  }
  gc::Ptr<Leaf> a_, b_;
  Counted member_;  // built when the body throws: unwinding destroys it once
};

TEST_F(Reachability, ThrowingConstructorLeavesNothingBehind) {
  g_thrower_destroyed = 0;
  gc::collect();
  const uint64_t objects = gc::stats().heap_objects;
  std::vector<int> ids;  // the children and the member of each attempt
  for (int i = 0; i < 40; i++) {
    bool collect_first = i % 8 == 0;
    if (i % 2 == 0) {
      EXPECT_THROW(gc::make<Thrower>(&ids, collect_first), std::runtime_error);
    } else {
      EXPECT_THROW(gc::make_unrooted<Thrower>(&ids, collect_first),
                   std::runtime_error);
    }
  }
  ASSERT_EQ(ids.size(), 40u * 3);
  gc::collect();
  EXPECT_EQ(g_thrower_destroyed.load(), 0);
  int bad = 0;
  for (int id : ids) bad += Destroyed(id) != 1;
  EXPECT_EQ(bad, 0);
  EXPECT_EQ(gc::stats().heap_objects, objects);
}

// A constructor that catches a nested constructor's exception and goes on
// (and collects): the construction stack stays consistent.
class Survivor {
 public:
  explicit Survivor(std::vector<int>* ids) : kept_(gc::make<Leaf>()) {
    try {
      gc::make<Thrower>(ids, true);
    } catch (const std::runtime_error&) {
    }
    gc::collect();  // kept_ is reachable only from this half-built object
    later_ = gc::make_unrooted<Leaf>();
  }
  void trace(gc::Tracer& t) const { t(kept_, later_); }
  gc::Ptr<Leaf> kept_, later_;
};

TEST_F(Reachability, CaughtNestedConstructorExceptionKeepsTheOuterObject) {
  g_thrower_destroyed = 0;
  std::vector<int> ids;
  gc::Root<Survivor> s = gc::make<Survivor>(&ids);
  gc::collect();
  EXPECT_EQ(g_thrower_destroyed.load(), 0);
  EXPECT_EQ(Destroyed(s->kept_->id()), 0);
  EXPECT_EQ(Destroyed(s->later_->id()), 0);
  EXPECT_TRUE(s->kept_->Intact());
  EXPECT_TRUE(s->later_->Intact());
  int bad = 0;
  for (int id : ids) bad += Destroyed(id) != 1;
  EXPECT_EQ(bad, 0);
}

// make_array<T>(n) whose k-th element constructor throws: the k-1 built
// elements are destroyed exactly once, the failed one never, and what they
// allocated is collected.
class ArrElem {
 public:
  static inline int countdown = 0;
  static inline bool collect_midway = false;
  static inline std::vector<int>* built = nullptr;     // ids of built elements
  static inline std::vector<int>* children = nullptr;  // ids of their leaves

  ArrElem() : id_(NewId()) {
    if (--countdown == 0) throw std::runtime_error("ArrElem");
    leaf_ = gc::make_unrooted<Leaf>();
    children->push_back(leaf_->id());
    built->push_back(id_);
    if (collect_midway && built->size() % 100 == 0) gc::collect();
  }
  ~ArrElem() { CountDestroy(id_); }
  void trace(gc::Tracer& t) const { t(leaf_); }

 private:
  int id_;
  gc::Ptr<Leaf> leaf_;
};

TEST_F(Reachability, ThrowingArrayElementConstructor) {
  struct Case {
    size_t n;
    int throw_at;  // 1-based
    bool collect_midway;
  };
  for (Case c : {Case{10, 1, false}, Case{10, 7, false}, Case{1000, 640, true},
                 Case{5000, 4200, true}}) {
    SCOPED_TRACE("n = " + std::to_string(c.n) +
                 ", throw at = " + std::to_string(c.throw_at));
    gc::collect();
    const uint64_t objects = gc::stats().heap_objects;
    std::vector<int> built, children;
    ArrElem::countdown = c.throw_at;
    ArrElem::collect_midway = c.collect_midway;
    ArrElem::built = &built;
    ArrElem::children = &children;
    int failed_id = gc::testing::NextId() + 2 * (c.throw_at - 1);
    EXPECT_THROW(gc::make_array<ArrElem>(c.n), std::runtime_error);
    ASSERT_EQ(built.size(), static_cast<size_t>(c.throw_at - 1));
    // Destroyed at once by make_array, before any collection.
    int bad = 0;
    for (int id : built) bad += Destroyed(id) != 1;
    EXPECT_EQ(bad, 0);
    gc::collect();
    bad = 0;
    for (int id : built) bad += Destroyed(id) != 1;
    for (int id : children) bad += Destroyed(id) != 1;
    EXPECT_EQ(bad, 0);
    // Ids are handed out element, leaf, element, leaf...: the failed
    // element's id comes right after the last built one's leaf.
    EXPECT_EQ(Destroyed(failed_id), 0);
    EXPECT_EQ(gc::stats().heap_objects, objects);
  }
  ArrElem::built = nullptr;
  ArrElem::children = nullptr;
}

}  // namespace
