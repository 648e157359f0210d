// Tests of the parallel marker (gc/marker.h), reading the mark bits right
// after marking (the collector's hooks, with the world stopped): it marks
// what the roots reach, through every kind of root and edge, and nothing
// else; each object once, with any number of workers, as the cycle's
// counts show; the verifier re-checks the same objects; and marking an
// object at mark termination keeps it for one more cycle.
//
// Collection is off in these tests but for their own gc::collect() calls,
// so the unreachable objects they look at are still allocated when the
// marker has run.
#include "gcrt/gc/marker.h"

#include <gtest/gtest.h>

#include <array>
#include <cstddef>
#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "gcrt/alloc/heap.h"
#include "gcrt/gc.h"
#include "gcrt/gc/collector.h"
#include "tests/test_support/collector_hooks.h"
#include "tests/test_support/destructions.h"
#include "tests/test_support/verified_heap_test.h"

namespace {

using gc::internal::IsMarkedObject;
using gc::testing::CountWrong;
using gc::testing::Destroyed;
using gc::testing::Leaf;  // a pointer-free class that counts its destruction
using gc::testing::NewLeaf;

class MarkerTest : public gc::testing::VerifiedHeapTest {
 protected:
  void SetUp() override {
    VerifiedHeapTest::SetUp();
    gc::set_gc_percent(-1);  // no cycle but the tests' own
  }
  void TearDown() override {
    gc::set_mark_workers(0);
    gc::set_gc_percent(100);
    gc::collect();
  }
};

uintptr_t Address(const void* p) { return reinterpret_cast<uintptr_t>(p); }

// An aggregate: traced through its pointer bitmap.
struct Pair {
  gc::Ptr<Pair> next;
  gc::Ptr<Leaf> leaf;
  int64_t value = 0;
};

// A class with a trace function.
class Traced {
 public:
  void trace(gc::Tracer& t) const { t(children); }
  std::vector<gc::Ptr<Leaf>> children;
};

// A large object (one span of its own), traced through its bitmap.
struct Large {
  gc::Ptr<Leaf> leaf;
  std::array<char, 40000> bytes{};
};

TEST_F(MarkerTest, MarksWhatTheRootsReachAndNothingElse) {
  std::vector<int> live_ids, dead_ids;
  // Reachable: through a Root, a bitmap edge, a trace function, a Global,
  // a RootSet, and a large object's field.
  gc::Root<Pair> pair = gc::make<Pair>();
  pair->next = gc::make_unrooted<Pair>();
  pair->next->leaf = NewLeaf(&live_ids);
  gc::Root<Traced> traced = gc::make<Traced>();
  for (int i = 0; i < 3; i++) traced->children.push_back(NewLeaf(&live_ids));
  gc::Global<Leaf> global(NewLeaf(&live_ids).get());
  std::vector<gc::Ptr<Leaf>> in_set;
  gc::RootSet set([&](gc::Tracer& t) { t(in_set); });
  in_set.push_back(NewLeaf(&live_ids));
  gc::Root<Large> large = gc::make<Large>();
  large->leaf = NewLeaf(&live_ids);
  // Unreachable: the same shapes, nothing rooting them.
  gc::Ptr<Pair> dead_pair = gc::make_unrooted<Pair>();
  dead_pair->leaf = NewLeaf(&dead_ids);
  gc::Ptr<Traced> dead_traced = gc::make_unrooted<Traced>();
  dead_traced->children.push_back(NewLeaf(&dead_ids));
  gc::Ptr<Large> dead_large = gc::make_unrooted<Large>();
  dead_large->leaf = NewLeaf(&dead_ids);

  const std::vector<const void*> live = {
      pair.get(),        pair->next.get(),          pair->next->leaf.get(),
      traced.get(),      traced->children[0].get(), traced->children[2].get(),
      global.get(),      in_set[0].get(),           large.get(),
      large->leaf.get(), &large->bytes[30000]};  // an interior address
  const std::vector<const void*> dead = {
      dead_pair.get(),          dead_pair->leaf.get(),
      dead_traced.get(),        dead_traced->children[0].get(),
      dead_large.get(),         dead_large->leaf.get(),
      &dead_large->bytes[30000]};
  std::vector<char> live_marked(live.size(), 0), dead_marked(dead.size(), 1);
  gc::testing::CollectWithMarkedHook([&] {
    for (size_t i = 0; i < live.size(); i++) {
      live_marked[i] = IsMarkedObject(Address(live[i]));
    }
    for (size_t i = 0; i < dead.size(); i++) {
      dead_marked[i] = IsMarkedObject(Address(dead[i]));
    }
  });
  for (size_t i = 0; i < live.size(); i++) {
    EXPECT_TRUE(live_marked[i]) << "reachable object " << i << " unmarked";
  }
  for (size_t i = 0; i < dead.size(); i++) {
    EXPECT_FALSE(dead_marked[i]) << "unreachable object " << i << " marked";
  }
  EXPECT_EQ(CountWrong(live_ids, 0), 0);
  EXPECT_EQ(CountWrong(dead_ids, 1), 0);
}

// A graph with much sharing: node i links to node i-1 and to three random
// earlier nodes, so the markers meet most objects several times.
struct DagNode {
  std::array<gc::Ptr<DagNode>, 4> edges;
  int64_t id = 0;
};

gc::Root<DagNode> MakeDag(int n, std::vector<const DagNode*>* nodes) {
  std::mt19937 rng(17);
  std::vector<DagNode*> all;
  gc::Root<DagNode> head;
  for (int i = 0; i < n; i++) {
    gc::Root<DagNode> node = gc::make<DagNode>();
    node->id = i;
    node->edges[0] = head;
    for (int k = 1; k < 4 && !all.empty(); k++) {
      node->edges[k] = gc::Ptr<DagNode>(all[rng() % all.size()]);
    }
    all.push_back(node.get());
    head = node;
  }
  nodes->assign(all.begin(), all.end());
  return head;
}

TEST_F(MarkerTest, EachObjectIsMarkedOnceWithAnyNumberOfWorkers) {
  using gc::internal::Collector;
  gc::collect();
  const uint64_t baseline =  // not ours
      Collector::Get().ReadStats().last_marked_objects;
  constexpr int kNodes = 20000;
  std::vector<const DagNode*> nodes;
  gc::Root<DagNode> dag = MakeDag(kNodes, &nodes);
  const uint64_t slot = gc::alloc::AllocationSize(nodes[0]);
  for (uint32_t workers : {1u, 2u, 4u, 7u}) {
    SCOPED_TRACE("workers " + std::to_string(workers));
    gc::set_mark_workers(workers);
    const uint64_t verified =
        gc::internal::Collector::Get().ReadStats().verified_objects;
    int unmarked = 0;
    gc::testing::CollectWithMarkedHook([&] {
      for (const DagNode* n : nodes) unmarked += !IsMarkedObject(Address(n));
    });
    const gc::internal::CollectorStats s = Collector::Get().ReadStats();
    EXPECT_EQ(unmarked, 0);
    EXPECT_EQ(s.mark_workers, workers);
    EXPECT_EQ(s.last_marked_objects - baseline, uint64_t{kNodes})
        << "an object counted twice was marked twice";
    EXPECT_GE(s.last_marked_bytes, kNodes * slot);
    // The verifier re-traced the same objects from the same roots.
    EXPECT_EQ(
        gc::internal::Collector::Get().ReadStats().verified_objects - verified,
        s.last_marked_objects);
  }
  for (size_t i = 0; i < nodes.size(); i += 997) {
    EXPECT_EQ(nodes[i]->id, static_cast<int64_t>(i));
  }
}

// Helpers are offered a share only of a marking with work enough to pay
// for waking them (gc/marker.cc, kOfferObjects): a few objects are marked
// by the collecting thread alone; a long list, which never fills a work
// buffer, is offered once its first 2,048 objects are marked. Both with
// the world stopped throughout and in the final stop of a marking beside
// the program (which, with the world stopped, finds the list marked).
TEST_F(MarkerTest, HelpersAreOfferedWorkOnlyWhenThereIsEnough) {
  using gc::internal::Collector;
  gc::set_mark_workers(2);
  const bool was_concurrent = gc::set_concurrent_mark(false);
  gc::collect();
  const gc::internal::CollectorStats small = Collector::Get().ReadStats();
  EXPECT_LT(small.last_marked_objects, 2048u);
  EXPECT_FALSE(small.last_mark_helpers_offered);
  EXPECT_EQ(small.last_mark_workers_joined, 1u);

  gc::Root<DagNode> head = gc::make<DagNode>();
  DagNode* last = head.get();
  for (int i = 0; i < 50000; i++) {
    last->edges[0] = gc::make<DagNode>();
    last = last->edges[0].get();
  }
  gc::collect();
  const gc::internal::CollectorStats big = Collector::Get().ReadStats();
  EXPECT_GE(big.last_marked_objects, 50000u);
  EXPECT_TRUE(big.last_mark_helpers_offered);
  EXPECT_GE(big.last_mark_workers_joined, 1u);
  EXPECT_LE(big.last_mark_workers_joined, 2u);

  gc::set_concurrent_mark(true);
  gc::collect();
  const gc::internal::CollectorStats final_stop = Collector::Get().ReadStats();
  EXPECT_EQ(final_stop.concurrent_cycles, big.concurrent_cycles + 1);
  EXPECT_FALSE(final_stop.last_mark_helpers_offered);
  EXPECT_EQ(final_stop.last_mark_workers_joined, 1u);
  gc::set_concurrent_mark(was_concurrent);
}

TEST_F(MarkerTest, MarkingAtTerminationKeepsAnObjectOneMoreCycle) {
  std::vector<int> ids;
  gc::Ptr<Leaf> dead = NewLeaf(&ids);  // unreachable
  bool was_marked = true;
  uint64_t first = 0, second = 1;
  gc::testing::CollectWithTerminationHook([&] {
    const uintptr_t p = Address(dead.get());
    was_marked = IsMarkedObject(p);
    first = gc::internal::MarkObjectAtTermination(p);
    second = gc::internal::MarkObjectAtTermination(p);
  });
  EXPECT_FALSE(was_marked);
  EXPECT_EQ(Destroyed(ids[0]), 0) << "marked at termination: not swept";
  EXPECT_EQ(first, gc::alloc::AllocationSize(dead.get()))
      << "the bytes of its slot, newly marked";
  EXPECT_EQ(second, 0u) << "already marked";
  EXPECT_TRUE(dead->Intact());
  gc::collect();
  EXPECT_EQ(Destroyed(ids[0]), 1) << "the next cycle finds it unreachable";
}

}  // namespace
