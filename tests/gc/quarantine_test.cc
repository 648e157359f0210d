// The quarantine of reclaimed objects and zeal mode (gc/quarantine.h,
// api/gc.h: gc::set_quarantine, gc::set_zeal): the detectors that turn a
// missing root into a report naming the object's type and the cycle that
// reclaimed it. Built twice: quarantine_test (release checks) and
// quarantine_debug_test (GCRT_DEBUG_LEVEL=2: dereferences are checked).
#include <gtest/gtest.h>

#include <atomic>
#include <cstdint>
#include <cstring>
#include <regex>
#include <stdexcept>
#include <string>
#include <vector>

#include "gcrt/gc.h"
#include "gcrt/task.h"
#include "tests/test_support/errors.h"
#include "tests/test_support/verified_heap_test.h"

namespace {

using gc::testing::InvalidArgumentOf;

struct Node {
  gc::Ptr<Node> left, right;
  int64_t value = 0;
  ~Node() { destroyed.fetch_add(1, std::memory_order_relaxed); }
  static inline std::atomic<int64_t> destroyed{0};
};

// 48 bytes: a size class no other object of these tests uses.
struct Blob {
  int64_t words[6] = {1, 2, 3, 4, 5, 6};
};

class QuarantineTest : public gc::testing::VerifiedHeapTest {
 protected:
  void SetUp() override {
    VerifiedHeapTest::SetUp();
    quarantine_ = gc::set_quarantine(true);
    stack_scan_ = gc::set_stack_scan(false);
    gc::collect();  // what earlier tests left dies under the quarantine
    gc::collect();  // and leaves it
  }
  void TearDown() override {
    gc::set_zeal(0);
    gc::set_quarantine(quarantine_);
    gc::set_stack_scan(stack_scan_);
    gc::set_gc_percent(100);
  }
  static uint64_t BlobFrees() {
    gc::Stats st = gc::stats();
    for (const gc::SizeClassStats& c : st.by_size) {
      if (c.size == sizeof(Blob)) return c.frees;
    }
    ADD_FAILURE() << "no 48-byte size class";
    return 0;
  }
  bool quarantine_ = false;
  bool stack_scan_ = true;
};

TEST_F(QuarantineTest, AReclaimedObjectIsDestroyedOnceAndFreedOneCycleLater) {
  const int64_t destroyed = Node::destroyed.load();
  gc::make_unrooted<Node>();
  gc::collect();
  EXPECT_EQ(Node::destroyed.load() - destroyed, 1) << "its cycle destroys it";
  gc::collect();
  gc::collect();
  EXPECT_EQ(Node::destroyed.load() - destroyed, 1) << "never again";

  const uint64_t frees = BlobFrees();
  gc::make_unrooted<Blob>();
  gc::collect();
  EXPECT_EQ(BlobFrees(), frees) << "kept in quarantine for a cycle";
  gc::collect();
  EXPECT_EQ(BlobFrees(), frees + 1) << "freed by the next cycle";
}

// Zeal counts the allocations of every thread and task, and one that
// falls due while another cycle runs is a cycle of its own: tasks on two
// workers allocating at once see allocations / N cycles, not the fraction
// of them that found no cycle running (about half with two allocating
// threads, 4 of 600 in a new user's run of 40 tasks).
TEST_F(QuarantineTest, ZealCollectsEveryNAllocationsOfAllTasks) {
  gc::make<Node>();
  constexpr int kTasks = 8;
  constexpr int kEach = 2000;
  constexpr uint64_t kZeal = 200;
  std::vector<gc::Task<void>> tasks;
  const uint64_t old = gc::set_zeal(kZeal);
  const uint64_t before = gc::stats().num_gc;
  for (int t = 0; t < kTasks; t++) {
    tasks.push_back(gc::go([] {
      for (int i = 0; i < kEach; i++) {
        gc::make_unrooted<Node>();
        if (i % 16 == 0) gc::yield();
      }
    }));
  }
  for (auto& t : tasks) t.join();
  const uint64_t cycles = gc::stats().num_gc - before;
  gc::set_zeal(old);
  // The joins' and the tasks' own allocations add a few.
  EXPECT_GE(cycles, kTasks * kEach / kZeal);
  EXPECT_LE(cycles, kTasks * kEach / kZeal + 10);
}

// Zeal counts every allocation of every size, from the call on, on the
// calling thread (whose cache was filled before).
TEST_F(QuarantineTest, ZealCollectsEveryNAllocations) {
  gc::make<Node>();  // this thread has a cache with free slots
  const uint64_t old = gc::set_zeal(10);
  for (int round = 0; round < 3; round++) {
    const uint64_t before = gc::stats().num_gc;
    for (int i = 0; i < 100; i++) gc::make_unrooted<Node>();
    const uint64_t cycles = gc::stats().num_gc - before;
    EXPECT_GE(cycles, 9u) << "round " << round;
    EXPECT_LE(cycles, 11u) << "round " << round;
  }
  gc::set_zeal(old);
  // The range GCRT_DEBUG=zeal takes: refused, not clamped.
  EXPECT_THROW(gc::set_zeal((uint64_t{1} << 40) + 1), std::invalid_argument);
  EXPECT_EQ(gc::set_zeal(old), old);
}

TEST_F(QuarantineTest, WithoutTheQuarantineTheSlotIsFreedAtOnce) {
  gc::set_quarantine(false);
  const uint64_t frees = BlobFrees();
  gc::make_unrooted<Blob>();
  gc::collect();
  EXPECT_EQ(BlobFrees(), frees + 1);
}

TEST_F(QuarantineTest, TurnedOffItStillDestroysEachObjectOnce) {
  const int64_t destroyed = Node::destroyed.load();
  gc::make_unrooted<Node>();
  gc::collect();  // destroyed, in quarantine
  gc::set_quarantine(false);
  gc::collect();  // leaves it, not destroyed again
  EXPECT_EQ(Node::destroyed.load() - destroyed, 1);
  for (int i = 0; i < 1000; i++) gc::make_unrooted<Node>();  // reuse slots
  gc::collect();
  gc::collect();
  EXPECT_EQ(Node::destroyed.load() - destroyed, 1001);
}

TEST_F(QuarantineTest, AReclaimedObjectIsPoisoned) {
  Blob* raw = gc::make_unrooted<Blob>().get();
  gc::collect();
#if defined(GCRT_ASAN)
  EXPECT_TRUE(__asan_address_is_poisoned(raw));
#else
  unsigned char bytes[sizeof(Blob)];
  std::memcpy(bytes, raw, sizeof bytes);
  for (unsigned char b : bytes) ASSERT_EQ(b, 0xdb);
#endif
}

// The cycle that reclaimed it: gc::collect()'s, or one the heap triggered
// on another thread meanwhile (the number in the message is between the
// two reads of num_gc).
TEST_F(QuarantineTest,
       FreeWeakFinalizerAndRootingOfAReclaimedObjectNameTheCycle) {
  const uint64_t before = gc::stats().num_gc;
  Node* raw = gc::make_unrooted<Node>().get();
  gc::collect();
  const uint64_t after = gc::stats().num_gc;
  auto names_the_cycle = [&](const std::string& message) {
    std::smatch m;
    if (!std::regex_search(message, m, std::regex("collection ([0-9]+)"))) {
      return false;
    }
    const uint64_t n = std::stoull(m[1]);
    return n > before && n <= after;
  };
  const std::string freed = InvalidArgumentOf([&] { gc::free(raw); });
  EXPECT_NE(freed.find("collector reclaimed the object of type"),
            std::string::npos)
      << freed;
  EXPECT_NE(freed.find("found it unreachable"), std::string::npos) << freed;
  EXPECT_TRUE(names_the_cycle(freed))
      << freed << " (num_gc " << before << " then " << after << ")";
  const std::string weak =
      InvalidArgumentOf([&] { gc::Weak<Node>{gc::Ptr<Node>(raw)}; });
  EXPECT_TRUE(names_the_cycle(weak)) << weak;
  const std::string fin = InvalidArgumentOf(
      [&] { gc::set_finalizer(gc::Ptr<Node>(raw), [](Node*) {}); });
  EXPECT_TRUE(names_the_cycle(fin)) << fin;
#if GCRT_DEBUG_LEVEL >= 2
  // Rooting is checked in debug builds only (api/ptr.h says why).
  const std::string root = InvalidArgumentOf([&] { gc::Root<Node>{raw}; });
  EXPECT_TRUE(names_the_cycle(root)) << root;
  const std::string global = InvalidArgumentOf([&] { gc::Global<Node>{raw}; });
  EXPECT_TRUE(names_the_cycle(global)) << global;
#endif
}

#if GCRT_DEBUG_LEVEL >= 2

// Under ThreadSanitizer a forked child may not start threads (the mark
// workers): the death tests re-run in a fresh process there, whose cycle
// numbers differ from this one's.
class QuarantineDeathTest : public QuarantineTest {
 protected:
  void SetUp() override {
#if defined(GCRT_TSAN)
    GTEST_FLAG_SET(death_test_style, "threadsafe");
#endif
    QuarantineTest::SetUp();
  }
  static std::string CycleRegex(uint64_t cycle) {
#if defined(GCRT_TSAN)
    (void)cycle;
    return "[0-9]+";
#else
    return std::to_string(cycle);
#endif
  }
};

TEST_F(QuarantineDeathTest, DereferencingAReclaimedObjectNamesTypeAndCycle) {
  gc::Ptr<Node> local = gc::make_unrooted<Node>();  // no root, no scan
  gc::collect();
  const std::string cycle = CycleRegex(gc::stats().num_gc);
  EXPECT_DEATH({ (void)local->value; },
               "use after reclaim: dereferenced 0x[0-9a-f]+, in the object at "
               "0x[0-9a-f]+ \\(type [^)]*Node\\), which collection " +
                   cycle + " found unreachable");
}

// An array is named as one, not by its element type.
TEST_F(QuarantineDeathTest, AReclaimedArrayIsNamedAsAnArray) {
  gc::Ptr<gc::Array<gc::Ptr<Node>>> local = gc::make_array<gc::Ptr<Node>>(4);
  gc::collect();
  EXPECT_DEATH({ (void)local->size(); },
               "in the object at 0x[0-9a-f]+ \\(type "
               "gc::Array<gc::Ptr<[^)]*Node>>\\), which collection");
}

// Past its cycle in the quarantine the slot is free, and holds the poison
// until an allocation reuses it: a dereference meanwhile is reported too
// (it read 0xdbdbdbdbdbdbdbdb as the field's value).
TEST_F(QuarantineDeathTest, DereferencingAFreedPoisonedSlotIsReported) {
  gc::Ptr<Node> local = gc::make_unrooted<Node>();
  gc::collect();  // reclaimed: in the quarantine
  gc::collect();  // its slot freed
  gc::collect();
  EXPECT_DEATH({ (void)local->value; },
               "use after reclaim: dereferenced 0x[0-9a-f]+, in free GC heap "
               "memory that still holds the poison of an object reclaimed");
  // A gc::Ptr read out of the poisoned object holds the poison itself,
  // an address no process maps: reported, not a segfault in the check.
  // (A C++ reference into the parent, taken while it lived, reads it
  // unchecked.)
  Node& parent = *gc::make_unrooted<Node>();
  parent.left = gc::make_unrooted<Node>();
  gc::collect();  // both reclaimed and poisoned
  // (AddressSanitizer stops the read of the field itself first.)
  EXPECT_DEATH({ (void)parent.left->value; },
#if GCRT_ASAN
               "AddressSanitizer: use-after-poison");
#else
               "use after reclaim: dereferenced 0xdbdbdbdbdbdbdbdb, a "
               "pointer read from an object the collector reclaimed");
#endif
  // A live object whose first byte reads as poison is not reported.
  struct Tagged {
    uint8_t tag = 0xdb;
    int64_t value = 5;
  };
  gc::Root<Tagged> live = gc::make<Tagged>();
  gc::collect();
  EXPECT_EQ(live->value, 5);
  EXPECT_EQ(live->tag, 0xdb);
}

TEST_F(QuarantineDeathTest, RootingAReclaimedObjectNamesTheCycle) {
  gc::Ptr<Node> local = gc::make_unrooted<Node>();
  gc::collect();
  const std::string rooted =
      InvalidArgumentOf([&] { gc::Root<Node> r(local); });
  EXPECT_NE(rooted.find("found it unreachable"), std::string::npos) << rooted;
}

TEST_F(QuarantineDeathTest, AFieldSetFromADanglingPointerIsReported) {
  gc::Root<Node> holder = gc::make<Node>();
  gc::Ptr<Node> local = gc::make_unrooted<Node>();
  gc::collect();
  // A raw store: no dereference of the dangling pointer itself.
  holder->left = local;
  EXPECT_DEATH(gc::collect(),
               "use after reclaim: a root or a traced field reached .*type "
               "[^)]*Node");
  holder->left = nullptr;
}

// The benchmark game's binary-trees as a new user writes it, with gc::Ptr
// locals and no Root: correct with stack scanning on, reported with it off.
gc::Ptr<Node> BottomUp(int depth) {
  gc::Ptr<Node> n = gc::make_unrooted<Node>();
  n->value = depth;
  if (depth > 0) {
    gc::Ptr<Node> l = BottomUp(depth - 1);
    gc::Ptr<Node> r = BottomUp(depth - 1);  // allocates: may collect
    n->left = l;
    n->right = r;
  }
  return n;
}

int64_t Check(gc::Ptr<Node> n) {
  if (n == nullptr) return 0;
  return 1 + Check(n->left) + Check(n->right);
}

// Zeal makes the report certain rather than likely (a cycle paced by heap
// growth may run at a moment no dangling local is used before its slot is
// freed). A zeal cycle at allocation i reclaims every node whose subtree is
// still being built; the smallest such subtree has fewer than 2000 nodes
// left to allocate, so no second cycle frees its root's slot before
// `n->left = l` dereferences that root in the quarantine.
TEST_F(QuarantineDeathTest, BinaryTreesWithPtrLocalsAndScanningOffIsReported) {
  EXPECT_DEATH(
      {
        gc::set_zeal(2000);
        Check(BottomUp(16));
      },
      "use after reclaim: .*type [^)]*Node\\), which collection [0-9]+ found "
      "unreachable");
}

TEST_F(QuarantineDeathTest, BinaryTreesWithPtrLocalsAndScanningOnIsCorrect) {
  gc::set_stack_scan(true);
  gc::set_zeal(2000);
  const uint64_t cycles = gc::stats().num_gc;
  EXPECT_EQ(Check(BottomUp(14)), (int64_t{2} << 14) - 1);
  EXPECT_GE(gc::stats().num_gc, cycles + 10) << "zeal collected meanwhile";
}

// A missing root: the program keeps GC pointers in a std::vector on the C++
// heap, which is no root. It gives the right answer while no collection
// happens to run between the pushes and the reads; zeal makes one run.
int64_t SumOfValuesHeldInAStdVector() {
  std::vector<gc::Ptr<Node>> nodes;
  for (int i = 1; i <= 100; i++) {
    gc::Ptr<Node> n = gc::make_unrooted<Node>();
    n->value = i;
    nodes.push_back(n);
  }
  int64_t sum = 0;
  for (const gc::Ptr<Node>& n : nodes) sum += n->value;
  return sum;
}

// Objects reclaimed two cycles back are free, not quarantined: under
// AddressSanitizer their slots are poisoned, and it reports the read.
#if defined(GCRT_ASAN)
constexpr const char* kMissingRootReport =
    "use after reclaim: dereferenced .*type [^)]*Node\\)|use-after-poison";
#else
constexpr const char* kMissingRootReport =
    "use after reclaim: dereferenced .*type [^)]*Node\\)";
#endif

TEST_F(QuarantineDeathTest, ZealFindsAMissingRoot) {
  gc::set_stack_scan(true);  // the default: the vector's buffer is not seen
  EXPECT_EQ(SumOfValuesHeldInAStdVector(), 5050) << "no cycle ran: luck";
  EXPECT_DEATH(
      {
        gc::set_zeal(10);
        SumOfValuesHeldInAStdVector();
      },
      kMissingRootReport);
}

#endif  // GCRT_DEBUG_LEVEL >= 2

}  // namespace
