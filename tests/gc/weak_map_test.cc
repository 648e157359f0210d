// gc::WeakMap (api/weak_map.h, gc/ephemeron.h): an entry never keeps its
// key alive, not even through its value; the value of a live key is never
// lost; chains of ephemerons through one map and several resolve whatever
// their length; dead keys' entries are removed, and their values released,
// by the cycle that found the key dead; gc::free of a key or a value;
// finalizable keys; entries written while a cycle marks beside the program
// (deterministic points of the cycle, and mutator threads racing it); the
// verifier and the crosscheck find nothing wrong.
//
// Every test runs with the verifier on, marking beside the program and
// with the world stopped (the parameter).
#include <gtest/gtest.h>

#include <atomic>
#include <cstdint>
#include <random>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "gcrt/gc.h"
#include "tests/test_support/collector_hooks.h"
#include "tests/test_support/destructions.h"
#include "tests/test_support/verified_heap_test.h"

namespace {

using gc::testing::Destroyed;
using gc::testing::NewId;

// A key or a value: counted by id, checksummed, and able to point on.
struct Node {
  gc::Ptr<Node> next;
  int64_t id = NewId();
  int64_t check = id * 7919 + 3;
  ~Node() { gc::testing::CountDestroy(id); }
  bool Intact() const { return check == id * 7919 + 3; }
};

using Map = gc::WeakMap<Node, gc::Ptr<Node>>;

// A GC object holding maps, as a program would.
struct Holder {
  Map maps[3];
  void trace(gc::Tracer& t) const { t(maps[0], maps[1], maps[2]); }
};

class WeakMapTest : public gc::testing::VerifiedHeapTest,
                    public ::testing::WithParamInterface<bool> {
 protected:
  void SetUp() override {
    was_concurrent_ = gc::set_concurrent_mark(GetParam());
    VerifiedHeapTest::SetUp();
    holder_ = gc::make<Holder>();
  }
  void TearDown() override {
    holder_ = nullptr;
    gc::set_concurrent_mark(was_concurrent_);
  }
  Map& map(int i = 0) { return holder_->maps[i]; }

  gc::Root<Holder> holder_;
  bool was_concurrent_ = true;
};

TEST_P(WeakMapTest, KeepsTheValueOfALiveKeyAndNotTheKey) {
  gc::Root<Node> key = gc::make<Node>();
  int value_id;
  {
    gc::Root<Node> value = gc::make<Node>();
    value_id = value->id;
    value->next = gc::make<Node>();  // reached only through the value
    EXPECT_TRUE(map().insert_or_assign(key, value));
  }
  for (int i = 0; i < 3; i++) gc::collect();
  ASSERT_TRUE(map().contains(key));
  gc::Ptr<Node> v = map().get(key);
  ASSERT_NE(v, nullptr);
  EXPECT_EQ(v->id, value_id);
  EXPECT_TRUE(v->Intact());
  EXPECT_TRUE(v->next->Intact());
  EXPECT_EQ(map().size(), 1u);

  const int key_id = key->id;
  const uint64_t removed = gc::stats().weak_map_entries_removed;
  key = nullptr;
  v = nullptr;
  gc::collect();
  EXPECT_EQ(Destroyed(key_id), 1) << "the map kept its key alive";
  EXPECT_EQ(Destroyed(value_id), 1) << "the dead key's value was kept";
  EXPECT_EQ(map().size(), 0u) << "the cycle that found the key dead removes "
                                 "its entry";
  EXPECT_EQ(gc::stats().weak_map_entries_removed, removed + 1);
}

// A value inserted straight from gc::make_unrooted has no other reference
// while the insertion grows the table; with stack scanning off (as here)
// growth's collections reclaimed it (the weak_map.h example).
TEST_P(WeakMapTest, UnrootedNewValuesSurviveTheGrowthTheyCause) {
  std::vector<gc::Root<Node>> keys;
  for (int i = 0; i < 30; i++) keys.push_back(gc::make<Node>());
  std::vector<int64_t> value_ids;
  gc::set_zeal(1);  // a cycle at every allocation
  for (int i = 0; i < 30; i++) {
    const int64_t first = gc::testing::NextId();  // the value's id
    if (i % 2 == 0) {
      EXPECT_TRUE(map().insert_or_assign(keys[i], gc::make_unrooted<Node>()));
    } else {
      EXPECT_TRUE(map().insert(keys[i], gc::make_unrooted<Node>()));
    }
    value_ids.push_back(first);
  }
  // A value that waits in a slot (a GC container copied in), on the
  // insertion that makes the table: the copy stays rooted while the table
  // is allocated.
  gc::Root<gc::Array<gc::WeakMap<Node, gc::Vector<gc::Ptr<Node>>>>> vmaps =
      gc::make_array<gc::WeakMap<Node, gc::Vector<gc::Ptr<Node>>>>(1);
  gc::Root<gc::Array<gc::Vector<gc::Ptr<Node>>>> source =
      gc::make_array<gc::Vector<gc::Ptr<Node>>>(1);
  for (int i = 0; i < 4; i++) (*source)[0].push_back(gc::make_unrooted<Node>());
  (*vmaps)[0].insert_or_assign(keys[0], (*source)[0]);
  gc::set_zeal(0);
  struct Filler {
    int64_t words[3] = {-1, -1, -1};
  };
  for (int i = 0; i < 5000; i++) gc::make<Filler>();  // reuse what was freed
  gc::collect();
  const gc::Vector<gc::Ptr<Node>>* copied = (*vmaps)[0].find(keys[0]);
  ASSERT_NE(copied, nullptr);
  ASSERT_EQ(copied->size(), 4u);
  for (int i = 0; i < 4; i++) {
    EXPECT_EQ((*copied)[i], (*source)[0][i]);
    EXPECT_TRUE((*copied)[i]->Intact());
  }
  ASSERT_EQ(map().size(), 30u);
  for (int i = 0; i < 30; i++) {
    gc::Ptr<Node> v = map().get(keys[i]);
    ASSERT_NE(v, nullptr);
    EXPECT_TRUE(v->Intact());
    EXPECT_EQ(v->id, value_ids[i]);
    EXPECT_EQ(Destroyed(value_ids[i]), 0);
  }
}

// Copy assignment copies into a new table before it takes it; with
// values that are GC containers, each value's copy allocates while that
// table is reached only from the temporary map being built, and with stack
// scanning off (as here) a collection there reclaimed it (a last trial:
// SIGSEGV in release, "use after reclaim" in debug builds).
TEST_P(WeakMapTest, CopyAssignmentWithContainerValuesKeepsTheNewTable) {
  using Group = gc::Vector<gc::Ptr<Node>>;
  gc::Root<gc::Array<gc::WeakMap<Node, Group>>> maps =
      gc::make_array<gc::WeakMap<Node, Group>>(2);
  std::vector<gc::Root<Node>> keys;
  for (int i = 0; i < 12; i++) {
    keys.push_back(gc::make<Node>());
    Group g;
    g.push_back(gc::make<Node>());
    EXPECT_TRUE((*maps)[0].insert(keys[i], g));
  }
  gc::set_zeal(1);  // a cycle at every allocation
  (*maps)[1] = (*maps)[0];
  gc::set_zeal(0);
  struct Filler {
    int64_t words[3] = {-1, -1, -1};
  };
  for (int i = 0; i < 5000; i++) gc::make<Filler>();  // reuse what was freed
  gc::collect();
  ASSERT_EQ((*maps)[1].size(), 12u);
  for (int i = 0; i < 12; i++) {
    const Group* copied = (*maps)[1].find(keys[i]);
    const Group* original = (*maps)[0].find(keys[i]);
    ASSERT_NE(copied, nullptr);
    ASSERT_NE(original, nullptr);
    ASSERT_EQ(copied->size(), 1u);
    EXPECT_EQ((*copied)[0], (*original)[0]);
    EXPECT_TRUE((*copied)[0]->Intact());
  }
}

// Stats::weak_map_entries_removed counts each dead key's entry once. A
// table the map replaced as it grew while a cycle marked beside the
// program lives to that cycle's end (it was reachable when marking began),
// and its moved entries, keys and all, were purged and counted again (a
// server trial: 187,188-224,962 counted for 180,000 dead keys).
TEST_P(WeakMapTest, EntriesRemovedCountsEachDeadKeyOnce) {
  gc::Root<gc::Array<gc::Ptr<Node>>> kept = gc::make_array<gc::Ptr<Node>>(4000);
  gc::collect();
  const uint64_t removed = gc::stats().weak_map_entries_removed;
  const int64_t keys = 40000;
  for (int64_t i = 0; i < keys; i++) {
    gc::Root<Node> k = gc::make<Node>();
    if (i % 10 == 0) (*kept)[i / 10] = k;
    map().insert_or_assign(k, gc::make_unrooted<Node>());
    for (int j = 0; j < 8; j++) gc::make<Node>();  // garbage: cycles run
  }
  gc::collect();
  gc::collect();
  EXPECT_EQ(map().size(), 4000u);
  EXPECT_EQ(gc::stats().weak_map_entries_removed - removed, 36000u);
}

// A value holding two GC containers: the copy of the first waited in a
// temporary, unrooted, while the second's copy allocated (a re-trial).
TEST_P(WeakMapTest, CopiesValuesHoldingSeveralContainers) {
  struct Pair {
    gc::Vector<gc::Ptr<Node>> a, b;
  };
  gc::Root<gc::Array<gc::WeakMap<Node, Pair>>> maps =
      gc::make_array<gc::WeakMap<Node, Pair>>(2);
  std::vector<gc::Root<Node>> keys;
  for (int i = 0; i < 6; i++) {
    keys.push_back(gc::make<Node>());
    Pair p;
    p.a.push_back(gc::make<Node>());
    p.b.push_back(gc::make<Node>());
    EXPECT_TRUE((*maps)[0].insert(keys[i], p));
  }
  gc::set_zeal(1);  // a cycle at every allocation
  (*maps)[1] = (*maps)[0];
  gc::set_zeal(0);
  for (int i = 0; i < 5000; i++) gc::make<Node>();  // reuse what was freed
  gc::collect();
  for (int i = 0; i < 6; i++) {
    const Pair* copied = (*maps)[1].find(keys[i]);
    const Pair* original = (*maps)[0].find(keys[i]);
    ASSERT_NE(copied, nullptr);
    ASSERT_EQ(copied->a.size(), 1u);
    ASSERT_EQ(copied->b.size(), 1u);
    EXPECT_EQ(copied->a[0], original->a[0]);
    EXPECT_EQ(copied->b[0], original->b[0]);
    EXPECT_TRUE(copied->b[0]->Intact());
  }
}

TEST_P(WeakMapTest, AValueThatReachesItsKeyDoesNotKeepIt) {
  int key_id, value_id;
  {
    gc::Root<Node> key = gc::make<Node>();
    gc::Root<Node> value = gc::make<Node>();
    value->next = key;  // value -> key
    key_id = key->id;
    value_id = value->id;
    map().insert_or_assign(key, value);
    // And a cycle through two maps: value2 -> key2 -> (map 1) value.
    gc::Root<Node> key2 = gc::make<Node>();
    gc::Root<Node> value2 = gc::make<Node>();
    value2->next = key;
    map(1).insert_or_assign(key2, value2);
    key->next = key2;
  }
  gc::collect();
  EXPECT_EQ(Destroyed(key_id), 1);
  EXPECT_EQ(Destroyed(value_id), 1);
  EXPECT_EQ(map().size(), 0u);
  EXPECT_EQ(map(1).size(), 0u);
}

// k0 (rooted) -> v0 -> k1 -> v1 -> ... through `maps` maps in turn, the
// entries inserted in a shuffled order so no single scan of a table meets
// them in chain order.
std::vector<int> MakeChain(Holder* h, int length, int maps,
                           gc::Root<Node>* first_key) {
  std::vector<gc::Root<Node>> keys, values;
  std::vector<int> value_ids;
  for (int i = 0; i < length; i++) {
    keys.push_back(gc::make<Node>());
    values.push_back(gc::make<Node>());
    value_ids.push_back(values.back()->id);
  }
  for (int i = 0; i + 1 < length; i++) values[i]->next = keys[i + 1];
  std::vector<int> order(length);
  for (int i = 0; i < length; i++) order[i] = i;
  std::shuffle(order.begin(), order.end(), std::mt19937(12345));
  for (int i : order) h->maps[i % maps].insert_or_assign(keys[i], values[i]);
  *first_key = keys[0];
  return value_ids;
}

TEST_P(WeakMapTest, ALongChainThroughOneMapResolves) {
  constexpr int kLength = 1000;
  gc::Root<Node> first;
  std::vector<int> ids = MakeChain(holder_.get(), kLength, 1, &first);
  for (int i = 0; i < 2; i++) gc::collect();
  for (int id : ids) ASSERT_EQ(Destroyed(id), 0) << "a live key's value lost";
  EXPECT_EQ(map().size(), static_cast<size_t>(kLength));
  // Walk it: every link intact.
  gc::Ptr<Node> k = first;
  for (int i = 0; i < kLength; i++) {
    gc::Ptr<Node> v = map().get(k);
    ASSERT_NE(v, nullptr) << "link " << i;
    ASSERT_TRUE(v->Intact());
    k = v->next;
  }
  first = nullptr;
  k = nullptr;
  gc::collect();
  for (int id : ids) EXPECT_EQ(Destroyed(id), 1);
  EXPECT_EQ(map().size(), 0u);
}

TEST_P(WeakMapTest, ALongChainThroughSeveralMapsResolves) {
  constexpr int kLength = 999;
  gc::Root<Node> first;
  std::vector<int> ids = MakeChain(holder_.get(), kLength, 3, &first);
  gc::collect();
  for (int id : ids) ASSERT_EQ(Destroyed(id), 0) << "a live key's value lost";
  EXPECT_EQ(map(0).size() + map(1).size() + map(2).size(),
            static_cast<size_t>(kLength));
  first = nullptr;
  gc::collect();
  for (int id : ids) EXPECT_EQ(Destroyed(id), 1);
  EXPECT_EQ(map(0).size() + map(1).size() + map(2).size(), 0u);
}

TEST_P(WeakMapTest, EraseFindInsertAndGrowth) {
  std::vector<gc::Root<Node>> keys;
  for (int i = 0; i < 200; i++) {
    keys.push_back(gc::make<Node>());
    gc::Root<Node> v = gc::make<Node>();
    v->check = v->id * 7919 + 3;
    EXPECT_TRUE(map().insert(keys.back(), v));
  }
  EXPECT_EQ(map().size(), 200u);
  EXPECT_FALSE(map().insert(keys[0], gc::Ptr<Node>()))
      << "insert keeps an existing value";
  EXPECT_NE(map().get(keys[0]), nullptr);
  for (int i = 0; i < 200; i += 2) EXPECT_TRUE(map().erase(keys[i]));
  EXPECT_FALSE(map().erase(keys[0]));
  EXPECT_EQ(map().size(), 100u);
  gc::collect();
  for (int i = 0; i < 200; i++) {
    EXPECT_EQ(map().contains(keys[i]), i % 2 == 1) << i;
  }
  EXPECT_EQ(map().find(nullptr), nullptr);
  EXPECT_THROW(map().insert_or_assign(nullptr, gc::Ptr<Node>()),
               std::invalid_argument);
  int on_stack = 0;
  EXPECT_THROW(map().insert_or_assign(reinterpret_cast<Node*>(&on_stack),
                                      gc::Ptr<Node>()),
               std::invalid_argument);
  try {
    map().insert_or_assign(reinterpret_cast<Node*>(&on_stack), gc::Ptr<Node>());
  } catch (const std::invalid_argument& e) {  // names the map's key
    EXPECT_NE(std::string(e.what()).find("gc::WeakMap key of"),
              std::string::npos)
        << e.what();
  }
  EXPECT_EQ(map().size(), 100u) << "a refused insertion changes nothing";
  Map copy = map();  // a copy has the same entries, in a table of its own
  map().clear();
  EXPECT_EQ(map().size(), 0u);
  EXPECT_EQ(copy.size(), 100u);
  EXPECT_TRUE(copy.contains(keys[1]));
}

TEST_P(WeakMapTest, FreeingAKeyDropsItsEntry) {
  gc::Root<Node> key = gc::make<Node>();
  int value_id;
  {
    gc::Root<Node> value = gc::make<Node>();
    value_id = value->id;
    map().insert_or_assign(key, value);
  }
  const Node* address = key.get();
  gc::free(key);
  EXPECT_FALSE(map().contains(address)) << "a freed key has no entry";
  gc::collect();
  EXPECT_EQ(Destroyed(value_id), 1);
  EXPECT_EQ(map().size(), 0u);
  // A new key, perhaps at the freed one's address, starts with none.
  for (int i = 0; i < 32; i++) {
    gc::Root<Node> fresh = gc::make<Node>();
    EXPECT_FALSE(map().contains(fresh));
  }
}

TEST_P(WeakMapTest, FreeingAValueOfAnErasedOrDeadEntry) {
  gc::Root<Node> key = gc::make<Node>();
  gc::Root<Node> value = gc::make<Node>();
  map().insert_or_assign(key, value);
  map().erase(key);
  gc::free(value);  // nothing reaches it any more
  gc::collect();
  // A dead key's value, freed: the map never traces it.
  {
    gc::Root<Node> dead_key = gc::make<Node>();
    gc::Root<Node> v = gc::make<Node>();
    map().insert_or_assign(dead_key, v);
    dead_key = nullptr;
    gc::collect();  // the key dies, the entry goes
    EXPECT_EQ(map().size(), 0u);
    gc::free(v);
  }
  gc::collect();
  EXPECT_TRUE(map().empty());
}

TEST_P(WeakMapTest, AFinalizableKeyLosesItsEntryBeforeItsFinalizerRuns) {
  static Map* the_map;
  static std::atomic<int> saw_entry{-1};
  the_map = &map();
  {
    gc::Root<Node> key = gc::make<Node>();
    map().insert_or_assign(key, gc::make<Node>());
    gc::set_finalizer(
        key, [](Node* k) { saw_entry.store(the_map->contains(k) ? 1 : 0); });
  }
  gc::collect();
  gc::run_finalizers();
  EXPECT_EQ(saw_entry.load(), 0);
  EXPECT_EQ(map().size(), 0u);
}

TEST_P(WeakMapTest, TheCrosscheckFindsNothingInDeadEntries) {
  const bool was = gc::set_crosscheck(true);
  std::vector<gc::Root<Node>> live;
  for (int i = 0; i < 100; i++) {
    gc::Root<Node> k = gc::make<Node>();
    map(i % 3).insert_or_assign(k, gc::make<Node>());
    if (i % 2 == 0) live.push_back(k);
  }
  gc::collect();
  gc::collect();
  EXPECT_EQ(map(0).size() + map(1).size() + map(2).size(), 50u);
  gc::set_crosscheck(was);
}

TEST_P(WeakMapTest, ALocalMapIsKeptByTheStackScanOrARootSet) {
  Map local;
  gc::RootSet roots([&local](gc::Tracer& t) { t(local); });
  gc::Root<Node> key = gc::make<Node>();
  local.insert_or_assign(key, gc::make<Node>());
  gc::collect();
  ASSERT_NE(local.get(key), nullptr);
  EXPECT_TRUE(local.get(key)->Intact());
}

INSTANTIATE_TEST_SUITE_P(Marking, WeakMapTest, ::testing::Bool(),
                         [](const ::testing::TestParamInfo<bool>& p) {
                           return p.param ? "Concurrent" : "StopTheWorld";
                         });

// Entries written at a fixed point of a cycle that marks beside the
// program, after every table was scanned: the ephemeron barrier's log
// brings them to the marker. Their keys are objects the marking found
// unreachable so far (reached through gc::Weak::lock, which shades
// nothing), dropped again before the final stop: this cycle finds them
// dead and removes their entries, in an old table and in one grown
// (allocated black, never scanned) meanwhile; a key kept alive keeps its
// entry.
class WeakMapBarrierTest : public gc::testing::VerifiedHeapTest {};

TEST_F(WeakMapBarrierTest, EntriesWrittenWhileMarkingAreExamined) {
  gc::Root<Holder> h = gc::make<Holder>();
  std::vector<gc::Root<Node>> old_keys;
  for (int i = 0; i < 64; i++) {  // something for the marker to scan
    old_keys.push_back(gc::make<Node>());
    h->maps[0].insert_or_assign(old_keys.back(), gc::make<Node>());
  }
  std::vector<gc::Weak<Node>> unreached;
  std::vector<int> unreached_ids;
  for (int i = 0; i < 21; i++) {
    gc::Root<Node> n = gc::make<Node>();
    unreached.emplace_back(n);
    unreached_ids.push_back(n->id);
  }
  gc::Root<Node> kept;
  gc::testing::CollectWithDrainedHook([&] {
    // Into the old table: a key that dies in this cycle.
    {
      gc::Root<Node> k = unreached[0].lock();
      ASSERT_NE(k, nullptr);
      h->maps[0].insert_or_assign(k, gc::make<Node>());
    }
    // Into a table that grows now: 20 keys, one of them kept.
    for (int i = 1; i <= 20; i++) {
      gc::Root<Node> k = unreached[i].lock();
      ASSERT_NE(k, nullptr);
      h->maps[1].insert_or_assign(k, gc::make<Node>());
      if (i == 7) kept = k;
    }
  });
  EXPECT_EQ(h->maps[0].size(), 64u)
      << "the entry of a key that died in this cycle is removed by it";
  EXPECT_EQ(h->maps[1].size(), 1u) << "in a table allocated black too";
  for (int i = 0; i <= 20; i++) {
    EXPECT_EQ(Destroyed(unreached_ids[i]), i == 7 ? 0 : 1) << i;
  }
  ASSERT_NE(h->maps[1].get(kept), nullptr);
  EXPECT_TRUE(h->maps[1].get(kept)->Intact());
  gc::collect();
  ASSERT_NE(h->maps[1].get(kept), nullptr);
  EXPECT_TRUE(h->maps[1].get(kept)->Intact());
}

// Mutator threads insert, look up and erase in maps of their own while
// cycles mark beside them; each checks that the values of the keys it
// keeps are intact and that dropped keys' entries go. Run under TSan too.
TEST_F(WeakMapBarrierTest, MutatorsRaceTheMarking) {
  constexpr int kThreads = 3, kRounds = 200;
  const bool was = gc::set_concurrent_mark(true);
  std::atomic<bool> stop{false};
  std::atomic<int> failures{0};
  gc::Thread collector([&] {
    while (!stop.load()) {
      gc::collect();
      gc::safepoint();
    }
  });
  std::vector<gc::Thread> threads;
  for (int t = 0; t < kThreads; t++) {
    threads.emplace_back([&failures, t] {
      gc::Root<Holder> h = gc::make<Holder>();
      std::vector<gc::Root<Node>> keys;
      std::mt19937 rng(t);
      for (int round = 0; round < kRounds; round++) {
        gc::Root<Node> k = gc::make<Node>();
        gc::Root<Node> v = gc::make<Node>();
        v->next = gc::make<Node>();
        if (round % 4 == 0) v->next->next = k;  // value -> key
        h->maps[round % 3].insert_or_assign(k, v);
        if (rng() % 3 != 0) keys.push_back(k);  // else the key dies
        if (!keys.empty() && rng() % 5 == 0) {
          const size_t i = rng() % keys.size();
          h->maps[0].erase(keys[i]);
          h->maps[1].erase(keys[i]);
          h->maps[2].erase(keys[i]);
          keys.erase(keys.begin() + static_cast<ptrdiff_t>(i));
        }
        if (round % 10 != 0) continue;
        for (const gc::Root<Node>& key : keys) {
          int found = 0;
          for (Map& m : h->maps) {
            if (const gc::Ptr<Node>* v = m.find(key)) {
              found++;
              if (!(*v)->Intact() || !(*v)->next->Intact()) failures++;
            }
          }
          if (found != 1) failures++;
        }
      }
      gc::collect();
      const size_t size =
          h->maps[0].size() + h->maps[1].size() + h->maps[2].size();
      if (size != keys.size()) failures++;
    });
  }
  for (gc::Thread& th : threads) th.join();
  stop.store(true);
  collector.join();
  EXPECT_EQ(failures.load(), 0);
  gc::set_concurrent_mark(was);
}

}  // namespace
