// Conservative stack scanning (runtime/stack.h): gc::Ptr and raw T* locals
// keep their objects alive across allocations and collections, on the
// collecting thread, on threads parked at a safepoint and on threads inside
// a blocking region; with scanning off, only registered roots do.
//
// Every test runs with the verifier on.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstring>
#include <new>
#include <thread>
#include <vector>

#include "gcrt/gc.h"
#include "tests/test_support/verified_heap_test.h"

#if defined(GCRT_ASAN)
// Frames moved to ASan's fake stack (use-after-return detection) hold
// roots too: turn the fake stack on for this binary.
extern "C" const char* __asan_default_options() {
  return "detect_stack_use_after_return=1";
}
#endif

namespace {

using namespace std::chrono_literals;

constexpr uint64_t kMagic = 0x57ac4c0ffee15bad;

struct Node {
  gc::Ptr<Node> left, right;
  uint64_t magic = kMagic;
  int64_t value = 0;
  ~Node() {
    magic = 0;
    destroyed.fetch_add(1, std::memory_order_relaxed);
  }
  static inline std::atomic<int64_t> destroyed{0};
};

// The benchmark game's binary-trees as a new user writes it: gc::Ptr
// locals and make_unrooted, no Root anywhere.
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

// Intact nodes of a tree BottomUp built.
int64_t Check(gc::Ptr<Node> n, int depth) {
  if (n == nullptr || n->magic != kMagic || n->value != depth) return 0;
  if (depth == 0) return 1;
  return 1 + Check(n->left, depth - 1) + Check(n->right, depth - 1);
}

int64_t NodesAt(int depth) { return (int64_t{2} << depth) - 1; }

// Keeps a local's address from the optimizer (and, under ASan with the
// fake stack on, moves the local's frame there).
GCRT_NOINLINE void Escape(void* p) { asm volatile("" : : "r"(p) : "memory"); }

class StackScanTest : public gc::testing::VerifiedHeapTest {
 protected:
  void SetUp() override {
    VerifiedHeapTest::SetUp();
    previous_ = gc::set_stack_scan(true);
  }
  void TearDown() override {
    gc::set_stack_scan(previous_);
    gc::set_gc_percent(100);
  }
  bool previous_ = true;
};

TEST_F(StackScanTest, BinaryTreesWithPtrLocalsAtDepth16) {
  gc::set_gc_percent(10);  // many cycles while the trees are half built
  const uint64_t cycles = gc::stats().num_gc;
  for (int round = 0; round < 3; round++) {
    gc::Ptr<Node> long_lived = BottomUp(12);
    for (int depth = 4; depth <= 16; depth += 4) {
      gc::Ptr<Node> t = BottomUp(depth);
      ASSERT_EQ(Check(t, depth), NodesAt(depth)) << "depth " << depth;
    }
    ASSERT_EQ(Check(long_lived, 12), NodesAt(12));
  }
  EXPECT_GE(gc::stats().num_gc, cycles + 4) << "cycles ran meanwhile";
}

TEST_F(StackScanTest, ARootConvertedToAPtrLocalKeepsItsObject) {
  gc::Ptr<Node> l = gc::make<Node>();  // the Root dies at the semicolon
  l->value = 7;
  for (int i = 0; i < 5; i++) {
    BottomUp(10);  // garbage that reuses freed slots
    gc::collect();
  }
  EXPECT_EQ(l->magic, kMagic);
  EXPECT_EQ(l->value, 7);
}

// A handle's frame outlives the handle: its copy of the pointer must go
// with it, or the scan keeps the object (and all it reaches) alive as long
// as the frame lives. Read from the handle's storage after its destructor.
TEST_F(StackScanTest, ADestroyedHandleLeavesNoPointerBehind) {
  alignas(gc::Root<Node>) unsigned char root_bytes[sizeof(gc::Root<Node>)];
  alignas(
      gc::Global<Node>) unsigned char global_bytes[sizeof(gc::Global<Node>)];
  static_assert(sizeof(root_bytes) == sizeof(global_bytes));
  auto* root = new (root_bytes) gc::Root<Node>(gc::make<Node>());
  auto* global = new (global_bytes) gc::Global<Node>(root->get());
  const auto object = reinterpret_cast<uintptr_t>(root->get());
  ASSERT_NE(object, 0u);
  root->~Root();
  global->~Global();
  for (const unsigned char* bytes : {root_bytes, global_bytes}) {
    for (size_t at = 0; at + sizeof(uintptr_t) <= sizeof(root_bytes);
         at += sizeof(uintptr_t)) {
      uintptr_t word;
      std::memcpy(&word, bytes + at, sizeof(word));
      EXPECT_NE(word, object) << "at byte " << at;
    }
  }
}

TEST_F(StackScanTest, RawPointerLocalsAndInteriorPointersKeepTheirObjects) {
  Node* raw = gc::make_unrooted<Node>().get();
  raw->value = 11;
  gc::Ptr<Node> holder = gc::make_unrooted<Node>();
  holder->left = gc::make_unrooted<Node>();
  int64_t* interior = &holder->left->value;  // only an interior pointer
  *interior = 12;
  holder = nullptr;
  Escape(&raw);
  for (int i = 0; i < 5; i++) {
    BottomUp(10);
    gc::collect();
  }
  EXPECT_EQ(raw->magic, kMagic);
  EXPECT_EQ(raw->value, 11);
  EXPECT_EQ(*interior, 12);
  EXPECT_EQ(*(interior - 1), static_cast<int64_t>(kMagic))
      << "the node around the interior pointer is intact";
}

// The scan is what keeps them: with it off, a local alone does not.
TEST_F(StackScanTest, OffOnlyRegisteredRootsCount) {
  gc::set_stack_scan(false);
  gc::collect();  // what stale stack words kept before is gone too
  const int64_t before = Node::destroyed.load();
  {
    gc::Ptr<Node> local = gc::make_unrooted<Node>();
    Escape(&local);
    gc::collect();
  }
  EXPECT_EQ(Node::destroyed.load() - before, 1) << "collected under the local";
  gc::set_stack_scan(true);
  const int64_t before_on = Node::destroyed.load();
  {
    gc::Ptr<Node> local = gc::make_unrooted<Node>();
    Escape(&local);
    gc::collect();
    EXPECT_EQ(Node::destroyed.load(), before_on) << "kept by the local";
    EXPECT_EQ(local->magic, kMagic);
  }
}

// Another thread, parked at a safepoint with Ptr locals only, while this
// one collects again and again.
TEST_F(StackScanTest, AParkedThreadsLocalsAreRoots) {
  std::atomic<int> stage{0};
  std::atomic<int64_t> intact{-1};
  std::thread t([&] {
    gc::Ptr<Node> mine = BottomUp(12);
    stage = 1;
    while (stage.load() != 2) gc::safepoint();
    intact = Check(mine, 12);
  });
  // A safepoint while waiting: the thread's allocation may start a cycle,
  // whose stop would otherwise wait for this thread as it waits for that one.
  while (stage.load() != 1) gc::safepoint();
  for (int i = 0; i < 5; i++) {
    BottomUp(12);
    gc::collect();
  }
  stage = 2;
  {
    gc::Blocking blocking;
    t.join();
  }
  EXPECT_EQ(intact.load(), NodesAt(12));
}

// Another thread inside a blocking region, holding what it had on entry.
TEST_F(StackScanTest, ABlockedThreadsLocalsAreRoots) {
  std::atomic<int> stage{0};
  std::atomic<int64_t> intact{-1};
  std::thread t([&] {
    gc::Ptr<Node> mine = BottomUp(12);
    {
      gc::Blocking blocking;
      stage = 1;
      while (stage.load() != 2) std::this_thread::sleep_for(1ms);
    }
    intact = Check(mine, 12);
  });
  // A safepoint while waiting: the thread's allocation may start a cycle,
  // whose stop would otherwise wait for this thread as it waits for that one.
  while (stage.load() != 1) gc::safepoint();
  for (int i = 0; i < 5; i++) {
    BottomUp(12);
    gc::collect();
  }
  stage = 2;
  {
    gc::Blocking blocking;
    t.join();
  }
  EXPECT_EQ(intact.load(), NodesAt(12));
}

// An object freed with gc::free into a span another thread's cache holds
// still reads allocated (it waits in the span's freebuf); a stale stack
// word naming it must not mark it, or its trace function would walk its
// destroyed std::vector (a heap use after free ASan reports).
struct WithVector {
  void trace(gc::Tracer& t) const { t(kids); }
  std::vector<gc::Ptr<Node>> kids;
};

TEST_F(StackScanTest, AnObjectFreedIntoAnotherCachesSpanIsNotTraced) {
  std::atomic<int> stage{0};
  gc::Global<WithVector> handed;
  gc::Thread owner([&] {
    {
      gc::Root<WithVector> w = gc::make<WithVector>();  // this cache's span
      for (int i = 0; i < 100; i++) {
        w->kids.push_back(gc::make_unrooted<Node>());
      }
      handed = gc::Global<WithVector>(w);
    }
    stage = 1;
    while (stage.load() != 2) gc::safepoint();  // keeps the span cached
  });
  while (stage.load() != 1) std::this_thread::yield();
  WithVector* raw = handed.get();
  handed = gc::Global<WithVector>();
  gc::free(raw);  // into the owner's freebuf: its bit stays set
  Escape(&raw);
  gc::collect();
  gc::collect();
  stage = 2;
  owner.join();
  SUCCEED() << "no trace of the destroyed object (ASan would report one)";
}

}  // namespace
