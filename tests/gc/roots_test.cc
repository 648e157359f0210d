// Tests of the roots (gc/roots.h): the handle arenas behind gc::Root (one
// per thread) and gc::Global (one shared), the registry of root sets
// behind gc::RootSet and gc::RootRange, and the root jobs the marker takes
// from it; then the handles' and root sets' semantics, through the API.
//
// Every test runs with the verifier on (gc::set_verify(true)), and checks
// exactly which objects died (test_support/destructions.h).
#include "gcrt/gc/roots.h"

#include <gtest/gtest.h>

#include <array>
#include <cstddef>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "gcrt/gc.h"
#include "gcrt/gc/collector.h"
#include "tests/test_support/collector_hooks.h"
#include "tests/test_support/destructions.h"
#include "tests/test_support/verified_heap_test.h"

namespace {

using gc::internal::HandleArena;
using gc::internal::HandleChunk;
using gc::internal::HandleSlot;
using gc::internal::RootJob;
using gc::internal::RootRegistry;
using gc::internal::RootSetRecord;
using gc::testing::CountWrong;
using gc::testing::Destroyed;
using gc::testing::Leaf;  // a pointer-free class that counts its destruction
using gc::testing::NewLeaf;

class RootsTest : public gc::testing::VerifierCheckedTest {};

// ---- Handle arenas. ----

TEST_F(RootsTest, AnArenaHandsOutDistinctSlotsAndTakesThemBack) {
  gc::Root<Leaf> leaf = gc::make<Leaf>();  // this thread's arena exists now
  HandleArena* a = HandleArena::ForCurrentThread();
  ASSERT_EQ(a, gc::internal::t_handles);
  const size_t live = a->LiveSlotsForTesting();
  constexpr size_t kMany = 3 * HandleChunk::kSlots;  // more chunks
  static_assert(kMany % 2 == 0);
  std::vector<HandleSlot*> slots;
  std::set<HandleSlot*> distinct;
  for (size_t i = 0; i < kMany; i++) {
    HandleSlot* s = a->Take(leaf.get());
    ASSERT_EQ(s->ptr, leaf.get());
    ASSERT_EQ(HandleChunk::Of(s)->arena, a) << "a slot finds its arena";
    slots.push_back(s);
    distinct.insert(s);
  }
  EXPECT_EQ(distinct.size(), kMany);
  EXPECT_EQ(a->LiveSlotsForTesting(), live + kMany);
  for (size_t i = 0; i < kMany; i += 2) a->Give(slots[i]);
  EXPECT_EQ(a->LiveSlotsForTesting(), live + kMany / 2);
  // The slot given back last is the next taken.
  HandleSlot* again = a->Take(leaf.get());
  EXPECT_EQ(again, slots[kMany - 2]);
  a->Give(again);
  for (size_t i = 1; i < kMany; i += 2) a->Give(slots[i]);
  EXPECT_EQ(a->LiveSlotsForTesting(), live);
}

TEST_F(RootsTest, ASlotGivenBackByAnotherThreadRootsNothing) {
  HandleArena* a = HandleArena::ForCurrentThread();
  std::vector<int> ids;
  HandleSlot* s = a->Take(NewLeaf(&ids).get());
  const size_t live = a->LiveSlotsForTesting();
  gc::collect();
  EXPECT_EQ(Destroyed(ids[0]), 0) << "the slot roots it";
  // Not the owner: the slot goes back through the arena's lock.
  std::thread other([s] { gc::internal::GiveHandle(s); });
  {
    gc::Blocking blocking;
    other.join();
  }
  EXPECT_EQ(s->ptr, nullptr);
  EXPECT_EQ(a->LiveSlotsForTesting(), live - 1);
  gc::collect();
  EXPECT_EQ(Destroyed(ids[0]), 1);
}

TEST_F(RootsTest, GlobalSlotsComeFromTheSharedArena) {
  HandleArena& globals = HandleArena::Globals();
  HandleArena* mine = HandleArena::ForCurrentThread();
  const size_t global_live = globals.LiveSlotsForTesting();
  const size_t mine_live = mine->LiveSlotsForTesting();
  std::vector<int> ids;
  HandleSlot* s = gc::internal::TakeGlobal(NewLeaf(&ids).get());
  EXPECT_EQ(HandleChunk::Of(s)->arena, &globals);
  EXPECT_EQ(globals.LiveSlotsForTesting(), global_live + 1);
  EXPECT_EQ(mine->LiveSlotsForTesting(), mine_live);
  gc::collect();
  EXPECT_EQ(Destroyed(ids[0]), 0);
  // From a thread that never attached, too.
  std::thread other([s] { gc::internal::GiveGlobal(s); });
  {
    gc::Blocking blocking;
    other.join();
  }
  EXPECT_EQ(globals.LiveSlotsForTesting(), global_live);
  gc::collect();
  EXPECT_EQ(Destroyed(ids[0]), 1);
}

// ---- The registry and the marker's root jobs. ----

struct CountingSet {
  int calls = 0;
  gc::Ptr<Leaf> held;
};

void TraceCountingSet(void* context, gc::Tracer& t) {
  auto* set = static_cast<CountingSet*>(context);
  set->calls++;
  t(set->held);
}

// The jobs the registry hands the marker now (read in a cycle, with the
// world stopped, as the marker does): how many are `rec`, and whether
// every arena is a job.
struct Jobs {
  int of_record = 0;
  bool arenas_are_jobs = false;
  bool mine_is_one = false;
};

Jobs JobsInACycle(const RootSetRecord* rec) {
  Jobs got;
  HandleArena* mine = gc::internal::t_handles;
  gc::testing::CollectWithMarkedHook([&] {
    std::vector<RootJob> jobs;
    std::vector<HandleArena*> arenas;
    RootRegistry::Get().BeginMarking(&jobs, &arenas);
    size_t arena_jobs = 0;
    for (const RootJob& j : jobs) {
      got.of_record += j.kind == RootJob::kRootSet && j.set == rec;
      arena_jobs += j.kind == RootJob::kArena;
      got.mine_is_one |= j.kind == RootJob::kArena && j.arena == mine;
    }
    got.arenas_are_jobs = arena_jobs == arenas.size() && !arenas.empty();
    RootRegistry::Get().EndMarking();
  });
  return got;
}

TEST_F(RootsTest, ARegisteredRootSetIsAMarkingJobUntilUnregistered) {
  gc::Root<Leaf> mine = gc::make<Leaf>();  // this thread has an arena
  std::vector<int> ids;
  CountingSet set;
  RootSetRecord rec{&TraceCountingSet, &set, nullptr, 0};
  gc::internal::RegisterRootSet(&rec);
  set.held = NewLeaf(&ids);

  Jobs jobs = JobsInACycle(&rec);
  EXPECT_EQ(jobs.of_record, 1);
  EXPECT_TRUE(jobs.arenas_are_jobs);
  EXPECT_TRUE(jobs.mine_is_one);
  EXPECT_GE(set.calls, 1) << "the marker ran the callback";
  EXPECT_EQ(Destroyed(ids[0]), 0) << "and kept what it traced";

  gc::internal::UnregisterRootSet(&rec);
  const int calls = set.calls;
  jobs = JobsInACycle(&rec);
  EXPECT_EQ(jobs.of_record, 0);
  EXPECT_EQ(set.calls, calls) << "no callback once unregistered";
  EXPECT_EQ(Destroyed(ids[0]), 1);
}

TEST_F(RootsTest, ARangeRecordRootsItsNonNullEntries) {
  std::array<const void*, 8> range{};
  RootSetRecord rec{nullptr, nullptr, range.data(), range.size()};
  gc::internal::RegisterRootSet(&rec);
  std::vector<int> ids;
  range[0] = NewLeaf(&ids).get();
  range[7] = NewLeaf(&ids).get();
  EXPECT_EQ(JobsInACycle(&rec).of_record, 1);
  EXPECT_EQ(CountWrong(ids, 0), 0);
  range[7] = nullptr;
  gc::collect();
  EXPECT_EQ(Destroyed(ids[0]), 0);
  EXPECT_EQ(Destroyed(ids[1]), 1);
  gc::internal::UnregisterRootSet(&rec);
  gc::collect();
  EXPECT_EQ(Destroyed(ids[0]), 1);
}

// ---- gc::Root. ----

gc::Root<Leaf> MakeRootedLeaf(int* id) {
  gc::Root<Leaf> r = gc::make<Leaf>();
  *id = r->id();
  std::vector<int> garbage;
  for (int i = 0; i < 100; i++) NewLeaf(&garbage);
  gc::collect();  // r roots it inside the function
  return r;
}

TEST_F(RootsTest, RootCopyMoveAndAssignment) {
  int a_id, b_id, c_id;
  gc::Root<Leaf> a = MakeRootedLeaf(&a_id);  // returned from a function
  gc::collect();
  ASSERT_EQ(Destroyed(a_id), 0);
  EXPECT_EQ(a->id(), a_id);

  // Copy: both root; dropping one leaves the other.
  gc::Root<Leaf> copy = a;
  EXPECT_TRUE(copy == a);
  a = nullptr;
  EXPECT_FALSE(a);
  gc::collect();
  EXPECT_EQ(Destroyed(a_id), 0);

  // Move: the moved-from handle is empty and roots nothing.
  gc::Root<Leaf> moved = std::move(copy);
  EXPECT_FALSE(copy);  // NOLINT(bugprone-use-after-move)
  EXPECT_EQ(copy.get(), nullptr);
  EXPECT_EQ(moved->id(), a_id);
  gc::collect();
  EXPECT_EQ(Destroyed(a_id), 0);
  { gc::Root<Leaf> sink = std::move(moved); }
  gc::collect();
  EXPECT_EQ(Destroyed(a_id), 1);  // only `moved` rooted it, then `sink`

  // Move assignment gives up the old target.
  gc::Root<Leaf> b = MakeRootedLeaf(&b_id);
  gc::Root<Leaf> c = MakeRootedLeaf(&c_id);
  c = std::move(b);
  gc::collect();
  EXPECT_EQ(Destroyed(c_id), 1);
  EXPECT_EQ(Destroyed(b_id), 0);
  EXPECT_EQ(c->id(), b_id);
  // Self-move leaves it rooted.
  gc::Root<Leaf>& alias = c;
  c = std::move(alias);
  gc::collect();
  EXPECT_EQ(Destroyed(b_id), 0);
  EXPECT_EQ(c->id(), b_id);

  // Copy assignment over a rooted handle: the old target goes, both root
  // the new one.
  int d_id, e_id;
  gc::Root<Leaf> d = MakeRootedLeaf(&d_id);
  gc::Root<Leaf> e = MakeRootedLeaf(&e_id);
  d = e;
  gc::collect();
  EXPECT_EQ(Destroyed(d_id), 1);
  EXPECT_EQ(Destroyed(e_id), 0);
  e = nullptr;
  gc::collect();
  EXPECT_EQ(Destroyed(e_id), 0);
  d = d;  // self-assignment
  gc::collect();
  EXPECT_EQ(Destroyed(e_id), 0);
  // Assigning a gc::Ptr re-roots.
  int f_id;
  gc::Root<Leaf> f = MakeRootedLeaf(&f_id);
  gc::Ptr<Leaf> fp = f;
  f = nullptr;
  d = fp;  // no allocation between: fp's object is still there
  gc::collect();
  EXPECT_EQ(Destroyed(e_id), 1);
  EXPECT_EQ(Destroyed(f_id), 0);
  d = nullptr;
  c = nullptr;
  gc::collect();
  EXPECT_EQ(Destroyed(f_id), 1);
  EXPECT_EQ(Destroyed(b_id), 1);
}

// Many handles (several handle chunks), in a vector that moves them as it
// grows; dropping every other one.
TEST_F(RootsTest, ManyRootsInAGrowingVector) {
  std::vector<gc::Root<Leaf>> roots;
  std::vector<int> ids;
  for (int i = 0; i < 3000; i++) {
    roots.push_back(gc::make<Leaf>());
    ids.push_back(roots.back()->id());
  }
  gc::collect();
  EXPECT_EQ(CountWrong(ids, 0), 0);
  for (size_t i = 0; i < roots.size(); i += 2) roots[i] = nullptr;
  gc::collect();
  int wrong = 0;
  for (size_t i = 0; i < ids.size(); i++) {
    wrong += Destroyed(ids[i]) != (i % 2 == 0 ? 1 : 0);
  }
  EXPECT_EQ(wrong, 0);
  // Freed slots are reused by new handles without disturbing the others.
  std::vector<int> more;
  for (size_t i = 0; i < roots.size(); i += 2) {
    roots[i] = gc::make<Leaf>();
    more.push_back(roots[i]->id());
  }
  gc::collect();
  EXPECT_EQ(CountWrong(more, 0), 0);
  wrong = 0;
  for (size_t i = 1; i < ids.size(); i += 2) {
    wrong += Destroyed(ids[i]) != 0 || roots[i]->id() != ids[i];
  }
  EXPECT_EQ(wrong, 0);
  roots.clear();
  gc::collect();
  EXPECT_EQ(CountWrong(ids, 1), 0);
  EXPECT_EQ(CountWrong(more, 1), 0);
}

// A handle dropped on another thread than the one that took it.
TEST_F(RootsTest, RootDroppedOnAnotherThread) {
  int id;
  gc::Root<Leaf> r = MakeRootedLeaf(&id);
  std::thread t([r = std::move(r)]() mutable {
    EXPECT_TRUE(r->Intact());
    r = nullptr;
  });
  {
    gc::Blocking blocking;
    t.join();
  }
  gc::collect();
  EXPECT_EQ(Destroyed(id), 1);
}

// A handle taken on a thread that exits: its arena is orphaned but still
// roots what the handle holds, also after another thread adopts the arena.
TEST_F(RootsTest, RootOutlivesTheThreadThatTookIt) {
  std::optional<gc::Root<Leaf>> out;
  int id = -1;
  std::thread t1([&] {
    out.emplace(gc::make<Leaf>());
    id = (*out)->id();
  });
  {
    gc::Blocking blocking;
    t1.join();
  }
  gc::collect();
  ASSERT_EQ(Destroyed(id), 0);
  EXPECT_TRUE((*out)->Intact());
  std::vector<int> t2_ids;
  std::thread t2([&] {
    std::vector<gc::Root<Leaf>> mine;
    for (int i = 0; i < 1000; i++) {
      mine.push_back(gc::make<Leaf>());
      t2_ids.push_back(mine.back()->id());
    }
    gc::collect();
    for (const auto& m : mine) EXPECT_TRUE(m->Intact());
    EXPECT_EQ(Destroyed(id), 0);
  });
  {
    gc::Blocking blocking;
    t2.join();
  }
  gc::collect();
  EXPECT_EQ(Destroyed(id), 0);
  EXPECT_TRUE((*out)->Intact());
  EXPECT_EQ(CountWrong(t2_ids, 1), 0);
  out.reset();
  gc::collect();
  EXPECT_EQ(Destroyed(id), 1);
}

// ---- gc::Global. ----

struct Holder {
  gc::Ptr<Leaf> leaf;
};

TEST_F(RootsTest, GlobalCreatedOnOneThreadUsedAndDroppedOnAnother) {
  std::optional<gc::Global<Leaf>> g;
  int id = -1;
  std::thread creator([&] {
    gc::Root<Leaf> r = gc::make<Leaf>();
    id = r->id();
    g.emplace(r);
  });  // the creating thread exits; the Global stays
  {
    gc::Blocking blocking;
    creator.join();
  }
  gc::collect();
  ASSERT_EQ(Destroyed(id), 0);
  EXPECT_TRUE((*g)->Intact());

  int holder_leaf = -1;
  std::thread user([&] {
    EXPECT_TRUE((*g)->Intact());
    gc::Root<Holder> h = gc::make<Holder>();
    h->leaf = *g;
    gc::collect();  // from this thread, the main one blocked
    EXPECT_EQ(Destroyed(id), 0);
    gc::Global<Leaf> copy = *g;  // copies are independent roots
    g.reset();                   // dropped on a thread that did not create it
    gc::collect();
    EXPECT_EQ(Destroyed(id), 0);
    EXPECT_EQ(copy.get(), h->leaf.get());
    holder_leaf = h->leaf->id();
  });
  {
    gc::Blocking blocking;
    user.join();
  }
  EXPECT_EQ(holder_leaf, id);
  gc::collect();
  EXPECT_EQ(Destroyed(id), 1);
}

TEST_F(RootsTest, GlobalCopyAndAssignment) {
  int a_id, b_id;
  gc::Global<Leaf> a(MakeRootedLeaf(&a_id));
  gc::Global<Leaf> b(MakeRootedLeaf(&b_id));
  gc::Global<Leaf> a2 = a;
  a = gc::Global<Leaf>();
  gc::collect();
  EXPECT_EQ(Destroyed(a_id), 0);
  a2 = b;  // gives up a's object
  gc::collect();
  EXPECT_EQ(Destroyed(a_id), 1);
  EXPECT_EQ(Destroyed(b_id), 0);
  gc::Global<Leaf> b2 = std::move(b);
  EXPECT_FALSE(b);  // NOLINT(bugprone-use-after-move)
  a2 = gc::Global<Leaf>();
  gc::collect();
  EXPECT_EQ(Destroyed(b_id), 0);
  EXPECT_TRUE(b2->Intact());
  b2 = gc::Global<Leaf>();
  gc::collect();
  EXPECT_EQ(Destroyed(b_id), 1);
}

// ---- gc::RootSet and gc::RootRange. ----

TEST_F(RootsTest, RootSetRootsWhatItVisitsUntilDestroyed) {
  std::vector<gc::Ptr<Leaf>> stack;
  std::map<std::string, gc::Ptr<Leaf>> cache;
  std::vector<int> ids;
  {
    gc::RootSet set([&](gc::Tracer& t) { t(stack, cache); });
    for (int i = 0; i < 500; i++) {
      stack.push_back(NewLeaf(&ids));
      if (i % 100 == 0) gc::collect();
    }
    cache["a"] = NewLeaf(&ids);
    gc::collect();
    EXPECT_EQ(CountWrong(ids, 0), 0);
    EXPECT_TRUE(cache["a"]->Intact());
    stack.resize(250);
    gc::collect();
    int wrong = 0;
    for (size_t i = 0; i < 500; i++)
      wrong += Destroyed(ids[i]) != (i < 250 ? 0 : 1);
    EXPECT_EQ(wrong, 0);
    EXPECT_EQ(Destroyed(ids.back()), 0);
  }
  gc::collect();
  EXPECT_EQ(CountWrong(ids, 1), 0);
}

TEST_F(RootsTest, RootSetDestroyedOnAnotherThread) {
  std::vector<gc::Ptr<Leaf>> held;
  std::vector<int> ids;
  auto set = std::make_unique<gc::RootSet>([&](gc::Tracer& t) { t(held); });
  for (int i = 0; i < 100; i++) held.push_back(NewLeaf(&ids));
  gc::collect();
  EXPECT_EQ(CountWrong(ids, 0), 0);
  std::thread t([&] { set.reset(); });
  {
    gc::Blocking blocking;
    t.join();
  }
  gc::collect();
  EXPECT_EQ(CountWrong(ids, 1), 0);
}

TEST_F(RootsTest, RootRangesOfPtrsAndOfRawPointers) {
  std::array<gc::Ptr<Leaf>, 64> ptrs{};
  std::array<const void*, 16> raw{};
  std::vector<int> ptr_ids, raw_ids;
  {
    gc::RootRange r1(ptrs.data(), ptrs.size());
    gc::RootRange r2(raw.data(), raw.size());
    for (auto& p : ptrs) p = NewLeaf(&ptr_ids);
    for (auto& p : raw) p = NewLeaf(&raw_ids).get();
    gc::collect();
    EXPECT_EQ(CountWrong(ptr_ids, 0), 0);
    EXPECT_EQ(CountWrong(raw_ids, 0), 0);
    ptrs[10] = nullptr;
    raw[3] = nullptr;
    gc::collect();
    EXPECT_EQ(Destroyed(ptr_ids[10]), 1);
    EXPECT_EQ(Destroyed(raw_ids[3]), 1);
    EXPECT_EQ(Destroyed(ptr_ids[11]), 0);
    EXPECT_TRUE(ptrs[63]->Intact());
    EXPECT_TRUE(static_cast<const Leaf*>(raw[15])->Intact());
  }
  gc::collect();
  EXPECT_EQ(CountWrong(ptr_ids, 1), 0);
  EXPECT_EQ(CountWrong(raw_ids, 1), 0);
}

// Raw pointers typed as the program holds them (Leaf*, not const void*)
// register as they are, from an array or a vector.
TEST_F(RootsTest, RootRangesOfTypedRawPointers) {
  Leaf* array[8] = {};
  std::vector<const Leaf*> vector(8);
  std::vector<int> array_ids, vector_ids;
  {
    gc::RootRange r1(array, 8);
    gc::RootRange r2(vector.data(), vector.size());
    for (Leaf*& p : array) p = NewLeaf(&array_ids).get();
    for (const Leaf*& p : vector) p = NewLeaf(&vector_ids).get();
    gc::collect();
    EXPECT_EQ(CountWrong(array_ids, 0), 0);
    EXPECT_EQ(CountWrong(vector_ids, 0), 0);
    EXPECT_TRUE(array[7]->Intact());
    EXPECT_TRUE(vector[7]->Intact());
  }
  gc::collect();
  EXPECT_EQ(CountWrong(array_ids, 1), 0);
  EXPECT_EQ(CountWrong(vector_ids, 1), 0);
}

// ---- Many threads. ----

// Threads that allocate, root, share through a Global and collect at the
// same time: everything rooted survives, the rest goes.
TEST_F(RootsTest, ConcurrentMutatorsWithSharedGlobal) {
  struct Node {
    gc::Ptr<Node> next;
    gc::Ptr<Leaf> leaf;
  };
  gc::Global<Leaf> shared(gc::make<Leaf>());
  const int shared_id = shared->id();
  constexpr int kThreads = 2;
  std::vector<std::vector<int>> kept(kThreads), dropped(kThreads);
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; t++) {
    threads.emplace_back([&, t] {
      gc::Root<Node> list = gc::make<Node>();
      for (int i = 0; i < 3000; i++) {
        gc::Root<Node> n = gc::make<Node>();
        n->leaf = NewLeaf(i % 3 == 0 ? &kept[t] : &dropped[t]);
        if (i % 3 == 0) {
          n->next = list->next;
          list->next = n;
        }
        if (i % 1000 == 999) gc::collect();
        if (i % 100 == 0) {
          EXPECT_TRUE(shared->Intact());
        }
      }
      gc::collect();
      int wrong = 0;
      for (const Node* n = list->next.get(); n != nullptr; n = n->next.get()) {
        wrong += !n->leaf->Intact() || Destroyed(n->leaf->id()) != 0;
      }
      EXPECT_EQ(wrong, 0);
    });
  }
  {
    gc::Blocking blocking;
    for (auto& th : threads) th.join();
  }
  gc::collect();
  EXPECT_EQ(Destroyed(shared_id), 0);
  for (int t = 0; t < kThreads; t++) {
    EXPECT_EQ(CountWrong(kept[t], 1), 0);  // their lists died with the threads
    EXPECT_EQ(CountWrong(dropped[t], 1), 0);
  }
  shared = gc::Global<Leaf>();
  gc::collect();
  EXPECT_EQ(Destroyed(shared_id), 1);
}

}  // namespace
