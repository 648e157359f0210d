// Weak references (gc::Weak, gc/weak.h): they do not keep their target
// alive; they read null from the mark termination that finds the target
// unreachable, whatever the lazy sweep has reached; they are plain data
// that can live anywhere (GC objects, C++ containers) and never return
// another object; they share one cell per object, work for tiny and large
// objects, are cleared by an explicit free, refuse reclaimed objects, and
// can be made and read while other threads collect.
//
// Every test runs with the verifier on.
#include "gcrt/gc/weak.h"

#include <gtest/gtest.h>

#include <atomic>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <thread>
#include <type_traits>
#include <unordered_map>
#include <vector>

#include "gcrt/alloc/cache.h"
#include "gcrt/alloc/heap.h"
#include "gcrt/gc.h"
#include "gcrt/gc/collector.h"
#include "gcrt/gc/sweeper.h"
#include "tests/test_support/verified_heap_test.h"

namespace {

using gc::internal::Collector;
using gc::internal::GcReason;
using gc::internal::Sweeper;

struct Node {
  gc::Ptr<Node> next;
  int64_t value = 0;
};

// Counts its destructor runs.
struct Counted {
  int64_t value = 0;
  std::string name = "counted";  // a non-trivial destructor
  ~Counted() { destroyed.fetch_add(1, std::memory_order_relaxed); }
  static inline std::atomic<int64_t> destroyed{0};
};

// An aggregate with a weak field (plain data: not in its pointer bitmap).
struct Holder {
  gc::Ptr<Node> strong;
  gc::Weak<Node> weak;
  int64_t tag = 0;
};

// A class tracing a container of weak references itself.
class Cache {
 public:
  void trace(gc::Tracer& t) const { t(entries_); }
  std::vector<gc::Weak<Node>>& entries() { return entries_; }

 private:
  std::vector<gc::Weak<Node>> entries_;
};

class WeakTest : public gc::testing::VerifiedHeapTest {
 protected:
  void SetUp() override {
    gc::set_gc_percent(100);
    VerifiedHeapTest::SetUp();
  }
};

TEST_F(WeakTest, AWeakFieldIsPlainData) {
  using Info = gc::internal::TypeInfoHolder<Holder>;
  static_assert(Info::kBitmap);
  const gc::alloc::TypeInfo* t = gc::internal::TypeInfoOf<Holder>();
  ASSERT_NE(t->pointer_bitmap, nullptr);
  EXPECT_EQ(t->pointer_bitmap[0], 0b001u) << "only the strong word";
  static_assert(!gc::internal::ContainsGcPointers<gc::Weak<int>>());
  static_assert(std::is_trivially_copyable_v<gc::Weak<int>>);
}

TEST_F(WeakTest, ReadsTheTargetWhileItIsReachableAndNullAfter) {
  gc::Root<Node> target = gc::make<Node>();
  target->value = 7;
  gc::Weak<Node> weak(target);
  gc::Root<Holder> holder = gc::make<Holder>();
  holder->weak = weak;
  for (int i = 0; i < 3; i++) {
    gc::collect();
    gc::Root<Node> got = holder->weak.lock();
    ASSERT_EQ(got.get(), target.get()) << "cycle " << i;
    EXPECT_EQ(got->value, 7);
    EXPECT_FALSE(holder->weak.expired());
  }
  const uint64_t cleared_before = gc::stats().weak_refs_cleared;
  target = nullptr;
  gc::collect();
  EXPECT_TRUE(holder->weak.expired());
  EXPECT_EQ(holder->weak.lock(), nullptr);
  EXPECT_EQ(holder->weak.get_unrooted(), nullptr);
  EXPECT_EQ(gc::stats().weak_refs_cleared, cleared_before + 1);
}

TEST_F(WeakTest, MadeFromAGlobalARootOrAPtr) {
  gc::Global<Node> global(gc::make<Node>());
  gc::Weak<Node> from_global(global);
  gc::Root<Node> root = gc::make<Node>();
  gc::Weak<Node> from_root(root);
  gc::Weak<Node> from_ptr{gc::Ptr<Node>(root)};
  gc::collect();
  EXPECT_EQ(from_global.lock(), global);
  EXPECT_EQ(from_root.lock(), root);
  EXPECT_EQ(from_ptr.lock(), root);
  global = gc::Global<Node>();
  gc::collect();
  EXPECT_EQ(from_global.lock(), nullptr);
}

TEST_F(WeakTest, ObjectsReachableOnlyWeaklyAreCollected) {
  const int64_t before = Counted::destroyed.load();
  std::vector<gc::Weak<Counted>> weaks;
  gc::RootSet keep_cells([&](gc::Tracer& t) {
    for (auto& w : weaks) t(w);
  });
  for (int i = 0; i < 100; i++) {
    gc::Root<Counted> c = gc::make<Counted>();
    c->value = i;
    weaks.emplace_back(c);
  }
  gc::collect();
  for (auto& w : weaks) EXPECT_TRUE(w.expired());
  EXPECT_EQ(Counted::destroyed.load() - before, 100)
      << "every object reachable only through weak references died";
}

TEST_F(WeakTest, ClearedAtMarkTerminationBeforeTheSweepReachesTheObject) {
  gc::set_gc_percent(-1);
  Sweeper::Get().PauseBackgroundForTesting(true);
  const int64_t before = Counted::destroyed.load();
  gc::Root<Counted> c = gc::make<Counted>();
  gc::Weak<Counted> weak(c);
  gc::RootSet keep_cell([&](gc::Tracer& t) { t(weak); });
  c = nullptr;
  // The span goes back to its Central, where only a sweeper finds it (a
  // span this thread's cache held would be swept when the thread resumes).
  gc::alloc::FlushCurrentCache();
  Collector::Get().Collect(GcReason::kLazyForTesting);
  EXPECT_EQ(weak.lock(), nullptr) << "the target is dead, if not yet swept";
  EXPECT_EQ(Counted::destroyed.load(), before) << "not swept yet";
  Sweeper::Get().PauseBackgroundForTesting(false);
  gc::collect();
  EXPECT_EQ(Counted::destroyed.load() - before, 1);
  gc::set_gc_percent(100);
}

TEST_F(WeakTest, AllWeakReferencesToAnObjectShareOneCell) {
  const uint64_t specials = gc::internal::WeakSpecialCount();
  gc::Root<Node> target = gc::make<Node>();
  gc::Weak<Node> a(target), b(target);
  gc::Weak<Node> c(gc::Ptr<Node>(target.get()));
  EXPECT_TRUE(a == b);
  EXPECT_TRUE(a == c);
  EXPECT_EQ(gc::internal::WeakSpecialCount(), specials + 1);
  gc::Root<Node> other = gc::make<Node>();
  gc::Weak<Node> d(other);
  EXPECT_FALSE(a == d);
  EXPECT_EQ(gc::internal::WeakSpecialCount(), specials + 2);
  target = nullptr;
  other = nullptr;
  gc::RootSet keep([&](gc::Tracer& t) { t(a, d); });
  gc::collect();
  EXPECT_TRUE(a.expired());
  EXPECT_TRUE(d.expired());
  EXPECT_EQ(gc::internal::WeakSpecialCount(), specials)
      << "specials of dead targets are dropped";
}

TEST_F(WeakTest, AWeakInAGcObjectReadsNullLongAfterItsTargetDied) {
  gc::Root<Node> target = gc::make<Node>();
  gc::Root<Holder> holder = gc::make<Holder>();
  holder->weak = gc::Weak<Node>(target);
  target = nullptr;
  gc::collect();
  // New targets take cells, garbage reuses freed memory: neither may show
  // through the old reference.
  std::vector<gc::Root<Node>> others;
  std::vector<gc::Weak<Node>> other_weaks;
  for (int i = 0; i < 20000; i++) {
    gc::Root<Node> n = gc::make<Node>();
    n->value = -1;
    if (i % 100 == 0) {
      others.push_back(n);
      other_weaks.emplace_back(n);
    }
  }
  gc::collect();
  EXPECT_EQ(holder->weak.lock(), nullptr);
}

// The user's cache: weak references in a std::unordered_map (C++ heap
// memory the collector never sees), looked up long after their targets
// died while other objects take their cells. A lookup returns its own
// object or null, never another.
TEST_F(WeakTest, AWeakInACppContainerNeverReturnsAnotherObject) {
  std::unordered_map<int64_t, gc::Weak<Node>> cache;
  std::vector<gc::Root<Node>> live;
  int64_t wrong = 0;
  int64_t hits = 0;
  int64_t lookups = 0;
  for (int64_t key = 0; key < 60000; key++) {
    gc::Root<Node> n = gc::make<Node>();
    n->value = key;
    cache[key] = gc::Weak<Node>(n);
    if (key % 10 == 0) live.push_back(n);
    if (key % 5000 == 4999) gc::collect();
    // Look up an older key.
    int64_t old = (key * 7919) % (key + 1);
    if (gc::Root<Node> got = cache[old].lock()) {
      hits++;
      if (got->value != old) wrong++;
    }
    lookups++;
  }
  gc::collect();
  for (auto& [key, weak] : cache) {
    gc::Root<Node> got = weak.lock();
    lookups++;
    if (got == nullptr) {
      EXPECT_NE(key % 10, 0) << "a live object's weak reference read null";
      continue;
    }
    hits++;
    if (got->value != key) wrong++;
  }
  EXPECT_EQ(wrong, 0) << "of " << hits << " hits in " << lookups;
  EXPECT_GE(hits, 6000);
  // Cells of dead targets were reused: the table stays near the number of
  // objects with live weak references, not the number ever made.
  EXPECT_LT(gc::internal::WeakCellCountForTesting(), 30000u);
}

TEST_F(WeakTest, AReclaimedObjectIsRefused) {
  const int64_t before = Counted::destroyed.load();
  gc::Root<Counted> c = gc::make<Counted>();
  Counted* raw = c.get();
  c = nullptr;
  gc::collect();  // collected and swept: its slot is free
  ASSERT_EQ(Counted::destroyed.load() - before, 1);
  try {
    gc::Weak<Counted> w{gc::Ptr<Counted>(raw)};
    FAIL() << "a weak reference to a reclaimed object was made";
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find("not a live object"),
              std::string::npos)
        << e.what();
  }
  // The slot's next object has no weak reference attached.
  const uint64_t specials = gc::internal::WeakSpecialCount();
  gc::Root<Counted> next = gc::make<Counted>();
  EXPECT_EQ(gc::internal::WeakSpecialCount(), specials);
}

TEST_F(WeakTest, ADeadObjectNotYetSweptIsRefused) {
  gc::set_gc_percent(-1);
  gc::collect();  // earlier tests' garbage is gone
  Sweeper::Get().PauseBackgroundForTesting(true);
  const int64_t before = Counted::destroyed.load();
  gc::Root<Counted> c = gc::make<Counted>();
  Counted* raw = c.get();
  c = nullptr;
  gc::alloc::FlushCurrentCache();
  Collector::Get().Collect(GcReason::kLazyForTesting);
  EXPECT_EQ(Counted::destroyed.load(), before) << "not swept yet";
  EXPECT_THROW(gc::Weak<Counted>{gc::Ptr<Counted>(raw)}, std::invalid_argument);
#if GCRT_DEBUG_LEVEL >= 2
  // Debug builds refuse it earlier, rooting the raw pointer (api/ptr.h),
  // from the last mark's bits: nothing is swept yet.
  EXPECT_EQ(Counted::destroyed.load() - before, 0) << "refused before a sweep";
#else
  EXPECT_EQ(Counted::destroyed.load() - before, 1) << "swept once, here";
#endif
  Sweeper::Get().PauseBackgroundForTesting(false);
  gc::collect();
  EXPECT_EQ(Counted::destroyed.load() - before, 1);
  gc::set_gc_percent(100);
}

TEST_F(WeakTest, TracedContainersOfWeakReferences) {
  gc::Root<Cache> cache = gc::make<Cache>();
  std::vector<gc::Root<Node>> kept;
  for (int i = 0; i < 64; i++) {
    gc::Root<Node> n = gc::make<Node>();
    n->value = i;
    cache->entries().emplace_back(n);
    if (i % 2 == 0) kept.push_back(n);
  }
  gc::collect();
  for (int i = 0; i < 64; i++) {
    gc::Root<Node> n = cache->entries()[i].lock();
    if (i % 2 == 0) {
      ASSERT_NE(n, nullptr) << i;
      EXPECT_EQ(n->value, i);
    } else {
      EXPECT_EQ(n, nullptr) << i;
    }
  }
}

TEST_F(WeakTest, TinyAndLargeTargets) {
  gc::Root<int64_t> tiny = gc::make<int64_t>(5);  // a tiny block's piece
  gc::Root<int32_t> tiny2 = gc::make<int32_t>(6);
  gc::Root<gc::Array<Node>> large = gc::make_array<Node>(10000);
  gc::Weak<int64_t> wt(tiny);
  gc::Weak<int32_t> wt2(tiny2);
  gc::Weak<gc::Array<Node>> wl(large);
  gc::RootSet keep([&](gc::Tracer& t) { t(wt, wt2, wl); });
  gc::collect();
  EXPECT_EQ(*wt.lock(), 5);
  EXPECT_EQ(*wt2.lock(), 6);
  EXPECT_EQ(wl.lock()->size(), 10000u);
  tiny = nullptr;
  tiny2 = nullptr;
  large = nullptr;
  gc::collect();
  EXPECT_TRUE(wt.expired());
  EXPECT_TRUE(wt2.expired());
  EXPECT_TRUE(wl.expired());
}

TEST_F(WeakTest, ALoneTinyTargetIsCollected) {
  // The first tiny object of a fresh block: its cell must not land in the
  // same 16-byte block (it would keep the block, and the target, alive).
  for (int i = 0; i < 64; i++) {
    gc::Root<int32_t> t = gc::make<int32_t>(i);
    gc::Weak<int32_t> w(t);
    gc::RootSet keep([&](gc::Tracer& tr) { tr(w); });
    t = nullptr;
    gc::collect();
    ASSERT_TRUE(w.expired()) << "tiny target " << i << " was kept alive";
  }
}

TEST_F(WeakTest, AnExplicitFreeClearsTheObjectsWeakReferences) {
  gc::Root<Counted> c = gc::make<Counted>();
  gc::Weak<Counted> weak(c);
  gc::RootSet keep([&](gc::Tracer& t) { t(weak); });
  gc::free(c);
  EXPECT_EQ(c, nullptr);
  EXPECT_TRUE(weak.expired());
  gc::collect();
  EXPECT_TRUE(weak.expired());
}

TEST_F(WeakTest, BadTargetsAreRefusedAndChangeNothing) {
  gc::Root<Holder> h = gc::make<Holder>();
  auto* interior = reinterpret_cast<Node*>(&h->tag);
  try {
    gc::Weak<Node> w{gc::Ptr<Node>(interior)};
    FAIL() << "an interior pointer was accepted";
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(
        std::string(e.what()).find("not the start of a GC object: it points"),
        std::string::npos)
        << e.what();
  }
  Node on_stack;
  EXPECT_THROW(gc::internal::WeakRefFor(&on_stack), std::invalid_argument);
  gc::Weak<Node> null_weak{gc::Ptr<Node>()};
  EXPECT_TRUE(null_weak.expired());
  EXPECT_EQ(null_weak.lock(), nullptr);
  gc::collect();
}

// A gc::Weak of a base class that does not start the object (multiple
// inheritance) refers to the whole object and reads its base: the same
// cell as a Weak to the object itself, cleared with it. A handle to such a
// base shows the object's start only if the base is polymorphic
// (dynamic_cast); otherwise it is refused, as is a finalizer, which is
// handed the object and wants its start.
struct FirstBase {
  int64_t a = 1;
  virtual ~FirstBase() = default;
};
struct SecondBase {
  int64_t b = 2;
  virtual ~SecondBase() = default;
};
struct BothBases : FirstBase, SecondBase {};

TEST_F(WeakTest, ABaseAtANonzeroOffsetReadsThatBaseOfTheObject) {
  gc::Root<BothBases> d = gc::make<BothBases>();
  SecondBase* const base = d.get();
  ASSERT_NE(static_cast<void*>(base), static_cast<void*>(d.get()));
  gc::Weak<FirstBase> first(d);  // at offset 0: the object's start
  gc::Weak<SecondBase> second(d);
  gc::Weak<SecondBase> from_ptr{gc::Ptr<SecondBase>(base)};
  gc::Weak<BothBases> whole(d);
  EXPECT_EQ(first.lock().get(), static_cast<FirstBase*>(d.get()));
  EXPECT_EQ(second.get_unrooted(), base);
  EXPECT_EQ(from_ptr.get_unrooted(), base);
  EXPECT_TRUE(second == from_ptr);
  EXPECT_TRUE(second == whole);  // one object, whichever base
  const uint64_t cells = gc::internal::WeakSpecialCount();
  gc::Weak<SecondBase> again(d);
  EXPECT_EQ(gc::internal::WeakSpecialCount(), cells);  // the object's cell
  gc::collect();
  {
    gc::Root<SecondBase> r = second.lock();  // roots the whole object
    ASSERT_EQ(r.get(), base);
    d = gc::Root<BothBases>();
    gc::collect();
    EXPECT_EQ(r->b, 2);
    EXPECT_EQ(whole.get_unrooted(), static_cast<BothBases*>(r.get()));
  }
  gc::collect();
  EXPECT_TRUE(second.expired());
  EXPECT_TRUE(from_ptr.expired());
  EXPECT_TRUE(whole.expired());
  EXPECT_EQ(second.lock(), nullptr);

  // Without virtual functions, a base's offset is known only from the
  // conversion: from the object's own type, not from a handle to the base.
  struct PlainFirst {
    int64_t a = 1;
  };
  struct PlainSecond {
    int64_t b = 2;
  };
  struct PlainBoth : PlainFirst, PlainSecond {};
  gc::Root<PlainBoth> plain = gc::make<PlainBoth>();
  gc::Weak<PlainSecond> plain_second(plain);
  EXPECT_EQ(plain_second.lock().get(), static_cast<PlainSecond*>(plain.get()));
  EXPECT_EQ(plain_second.lock()->b, 2);
  try {
    gc::Weak<PlainSecond> refused{gc::Root<PlainSecond>(plain)};
    FAIL() << "an interior pointer without a type that shows its object's "
              "start was accepted";
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find("base class at a nonzero offset"),
              std::string::npos)
        << e.what();
  }

  gc::Root<BothBases> other = gc::make<BothBases>();
  try {
    gc::set_finalizer(gc::Root<SecondBase>(other), [](SecondBase*) {});
    FAIL() << "a finalizer of a base at a nonzero offset was accepted";
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find("base class at a nonzero offset"),
              std::string::npos)
        << e.what();
  }
}

TEST_F(WeakTest, ReadFromAThreadThatNeverAttached) {
  gc::Global<Node> target(gc::make<Node>());
  target->value = 12;
  gc::Global<Holder> holder(gc::make<Holder>());
  holder->weak = gc::Weak<Node>(gc::Ptr<Node>(target.get()));
  int64_t seen = 0;
  std::thread t([&] {  // its first use of the heap is lock()
    gc::Root<Node> r = holder->weak.lock();
    seen = r == nullptr ? -1 : r->value;
  });
  {
    gc::Blocking blocking;
    t.join();
  }
  EXPECT_EQ(seen, 12);
  target = gc::Global<Node>();
  gc::collect();
  std::thread t2([&] { seen = holder->weak.expired() ? -2 : 0; });
  {
    gc::Blocking blocking;
    t2.join();
  }
  EXPECT_EQ(seen, -2);
}

// Threads make weak references to their own objects and to shared ones
// and read them back, while collections run from every thread (TSan).
TEST_F(WeakTest, ConcurrentMakersReadersAndCollectors) {
  constexpr int kThreads = 4;
  gc::Global<Holder> shared(gc::make<Holder>());
  gc::Global<Node> shared_target(gc::make<Node>());
  shared_target->value = 99;
  shared->weak = gc::Weak<Node>(gc::Ptr<Node>(shared_target.get()));
  std::atomic<int> failures{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; t++) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 300; i++) {
        gc::Root<Node> mine = gc::make<Node>();
        mine->value = t * 1000 + i;
        gc::Root<Holder> h = gc::make<Holder>();
        h->strong = mine;
        h->weak = gc::Weak<Node>(mine);
        gc::Root<Holder> dead = gc::make<Holder>();
        dead->weak = gc::Weak<Node>(gc::make<Node>());
        if (i % 50 == t) gc::collect();
        gc::Root<Node> back = h->weak.lock();
        if (back.get() != mine.get() || back->value != t * 1000 + i) {
          failures++;
        }
        gc::Root<Node> s = shared->weak.lock();
        if (s == nullptr || s->value != 99) failures++;
      }
    });
  }
  {
    gc::Blocking blocking;  // the world stops without the joining thread
    for (auto& th : threads) th.join();
  }
  EXPECT_EQ(failures.load(), 0);
}

}  // namespace
