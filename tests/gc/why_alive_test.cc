// gc::why_alive() (api/why_alive.h): one shortest path from a root.
#include <gtest/gtest.h>
#include <pthread.h>
#include <unistd.h>

#include <array>
#include <atomic>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "gcrt/gc.h"
#include "gcrt/gc/quarantine.h"
#include "tests/test_support/verified_heap_test.h"

namespace {

struct Link {
  int64_t id = 0;
  gc::Ptr<Link> next;   // offset 8
  gc::Ptr<Link> other;  // offset 16
};

class Holder {
 public:
  void trace(gc::Tracer& t) const { t(items); }
  std::vector<gc::Ptr<Link>> items;
};

// Types with field names (api/field_names.h).
struct Leaf {
  int64_t id = 0;
  gc::Ptr<Leaf> left;   // offset 8
  gc::Ptr<Leaf> right;  // offset 16
};
GCRT_FIELD_NAMES(Leaf, left, right);

struct Pair {
  gc::Ptr<Leaf> first;
  gc::Ptr<Leaf> second;
};
GCRT_FIELD_NAMES(Pair, first, second);

struct UnnamedPair {
  gc::Ptr<Leaf> a;
  gc::Ptr<Leaf> b;
};

struct Tree {
  int64_t size = 0;
  Pair top;                           // named, with names of its own
  std::array<gc::Ptr<Leaf>, 3> kids;  // named: kids[i]
  UnnamedPair bare;                   // named, its type not
  gc::Ptr<Leaf> spare;                // not listed: offset 64
};
GCRT_FIELD_NAMES(Tree, top, kids, bare);

class WhyAliveTest : public gc::testing::VerifierCheckedTest {
 protected:
  void SetUp() override {
    VerifierCheckedTest::SetUp();
    gc::set_gc_percent(-1);  // nothing collects under the test's feet
  }
  void TearDown() override {
    gc::set_gc_percent(100);
    VerifierCheckedTest::TearDown();
  }
};

// A chain of n Links from `head`, each through `next`; returns the last.
gc::Ptr<Link> Chain(const gc::Ptr<Link>& head, int n) {
  gc::Ptr<Link> at = head;
  for (int i = 1; i < n; i++) {
    at->next = gc::make_unrooted<Link>();
    at->next->id = i;
    at = at->next;
  }
  return at;
}

TEST_F(WhyAliveTest, PathFromAGlobalThroughPointerFields) {
  gc::Global<Link> head(gc::make<Link>());
  gc::Ptr<Link> last = Chain(head, 4);
  const gc::WhyAlive w = gc::why_alive(last.get());
  ASSERT_TRUE(w.reachable) << w.text();
  EXPECT_EQ(w.root, "a gc::Global handle");
  ASSERT_EQ(w.path.size(), 4u) << w.text();
  EXPECT_EQ(w.path.front().object, head.get());
  EXPECT_EQ(w.path.front().offset, -1);
  EXPECT_EQ(w.path.back().object, last.get());
  for (size_t i = 1; i < w.path.size(); i++) {
    EXPECT_EQ(w.path[i].offset, 8) << w.text();  // Link::next
    EXPECT_NE(w.path[i].type.find("Link"), std::string::npos) << w.text();
  }
  const std::string text = w.text();
  EXPECT_NE(text.find("is reachable from a gc::Global handle"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("at offset 8 of the"), std::string::npos) << text;
}

TEST_F(WhyAliveTest, TheShortestPathWins) {
  gc::Root<Link> head = gc::make<Link>();
  gc::Ptr<Link> last = Chain(head, 6);
  head->other = last;  // a shortcut: head -> last directly
  // An interior pointer asks about the same object.
  const gc::WhyAlive w =
      gc::why_alive(reinterpret_cast<const char*>(last.get()) + 4);
  ASSERT_TRUE(w.reachable) << w.text();
  EXPECT_EQ(w.root, "a gc::Root handle");
  ASSERT_EQ(w.path.size(), 2u) << w.text();
  EXPECT_EQ(w.path[1].object, last.get());
  EXPECT_EQ(w.path[1].offset, 16);  // Link::other
}

TEST_F(WhyAliveTest, ThroughATraceFunctionsContainer) {
  gc::Root<Holder> h = gc::make<Holder>();
  for (int i = 0; i < 3; i++) h->items.push_back(gc::make_unrooted<Link>());
  gc::Ptr<Link> target = h->items[2];
  const gc::WhyAlive w = gc::why_alive(target.get());
  ASSERT_TRUE(w.reachable) << w.text();
  ASSERT_EQ(w.path.size(), 2u) << w.text();
  EXPECT_NE(w.path[0].type.find("Holder"), std::string::npos) << w.text();
  EXPECT_EQ(w.path[1].offset, -1);  // in the vector's buffer
  EXPECT_NE(w.text().find("through a trace() of the"), std::string::npos)
      << w.text();
}

TEST_F(WhyAliveTest, FromARootSet) {
  std::vector<gc::Ptr<Link>> held{gc::make_unrooted<Link>()};
  gc::RootSet set([&held](gc::Tracer& t) { t(held); });
  const gc::WhyAlive w = gc::why_alive(held[0].get());
  ASSERT_TRUE(w.reachable) << w.text();
  EXPECT_EQ(w.root, "a gc::RootSet");
  EXPECT_EQ(w.path.size(), 1u);
}

// An object with a finalizer is kept (with what it reaches) until its
// finalizer has run, even when nothing else reaches it: the next collection
// queues it rather than reclaiming it. Its paths start at it.
TEST_F(WhyAliveTest, AFinalizableObjectKeepsItselfAndWhatItReaches) {
  gc::Ptr<Link> f = gc::make_unrooted<Link>();  // on no root
  f->next = gc::make_unrooted<Link>();
  gc::Ptr<Link> child = f->next;
  gc::set_finalizer(f, [](Link*) {});
  const gc::WhyAlive self = gc::why_alive(f.get());
  ASSERT_TRUE(self.reachable) << self.text();
  EXPECT_EQ(self.root.rfind("a finalizer", 0), 0u) << self.root;
  ASSERT_EQ(self.path.size(), 1u);
  EXPECT_EQ(self.path[0].object, f.get());
  const gc::WhyAlive w = gc::why_alive(child.get());
  ASSERT_TRUE(w.reachable) << w.text();
  EXPECT_EQ(w.root, self.root);
  ASSERT_EQ(w.path.size(), 2u) << w.text();
  EXPECT_EQ(w.path[0].object, f.get());
  EXPECT_EQ(w.path[1].object, child.get());
  EXPECT_EQ(w.path[1].offset, 8);
  EXPECT_TRUE(gc::clear_finalizer(f));
}

TEST_F(WhyAliveTest, FromARootRange) {
  gc::Ptr<Link> held[2] = {gc::make_unrooted<Link>(), nullptr};
  gc::RootRange range(held, 2);
  const gc::WhyAlive w = gc::why_alive(held[0].get());
  ASSERT_TRUE(w.reachable) << w.text();
  EXPECT_EQ(w.root, "a gc::RootRange");
}

TEST_F(WhyAliveTest, GarbageIsNotReachable) {
  gc::Root<Link> head = gc::make<Link>();
  Chain(head, 3);
  gc::Ptr<Link> dropped = head->next;
  head->next = nullptr;  // dropped and what it holds: garbage, not collected
  const gc::WhyAlive w = gc::why_alive(dropped.get());
  EXPECT_FALSE(w.reachable) << w.text();
  ASSERT_EQ(w.path.size(), 1u);
  EXPECT_EQ(w.path[0].object, dropped.get());
  EXPECT_NE(w.text().find("is not reachable from any root"), std::string::npos)
      << w.text();
  // What it cannot see is said: the caller's own stack.
  EXPECT_NE(w.text().find("own stack is not searched"), std::string::npos)
      << w.text();
}

TEST_F(WhyAliveTest, FromAnotherThreadsStack) {
  const bool previous = gc::set_stack_scan(true);
  std::atomic<Link*> published{nullptr};
  std::atomic<bool> done{false};
  std::atomic<long> tid{0};
  std::thread t([&] {
    pthread_setname_np(pthread_self(), "link-holder");
    tid = static_cast<long>(::gettid());
    Link* volatile local = gc::make_unrooted<Link>().get();
    published = local;
    gc::Blocking blocking;  // references held on entry count
    while (!done.load()) std::this_thread::yield();
    (void)local;
  });
  while (published.load() == nullptr) std::this_thread::yield();
  const gc::WhyAlive w = gc::why_alive(published.load());
  done = true;
  t.join();
  gc::set_stack_scan(previous);
  ASSERT_TRUE(w.reachable) << w.text();
  // Named by its thread id and name, as the watchdog names threads.
  EXPECT_NE(w.root.find("the stack of thread " + std::to_string(tid.load()) +
                        " \"link-holder\" (processor "),
            std::string::npos)
      << w.root;
}

// What a gc::Thread's function captured is kept by a root set of gcrt's
// own until the function returns, and named as such, not as the program's
// gc::RootSet (the test runs with stack scanning off: nothing else keeps
// the link).
TEST_F(WhyAliveTest, FromAGcThreadsCapture) {
  Link* raw = nullptr;
  std::atomic<bool> started{false}, done{false};
  gc::Thread t;
  {
    gc::Ptr<Link> captured = gc::make_unrooted<Link>();
    raw = captured.get();
    t = gc::Thread([captured, &started, &done] {
      started = true;
      gc::Blocking blocking;
      while (!done.load()) std::this_thread::yield();
    });
  }
  while (!started.load()) std::this_thread::yield();
  const gc::WhyAlive w = gc::why_alive(raw);
  done = true;
  t.join();
  ASSERT_TRUE(w.reachable) << w.text();
  EXPECT_EQ(w.root,
            "the function object or arguments of a gc::Thread (scanned "
            "conservatively until the function returns)");
  EXPECT_EQ(w.path.size(), 1u);
}

TEST_F(WhyAliveTest, RefusesWhatIsNotAHeapObject) {
  int on_the_stack = 0;
  EXPECT_THROW(gc::why_alive(&on_the_stack), std::invalid_argument);
  EXPECT_THROW(gc::why_alive(nullptr), std::invalid_argument);
}

// An object the quarantine holds (debug builds' default) is dead, its
// destructor run: refused as a release build refuses a freed one, saying
// so, not reported as merely unreachable.
TEST_F(WhyAliveTest, RefusesAReclaimedObjectTheQuarantineHolds) {
  const bool was_on = gc::internal::ReclaimQuarantineOn();
  gc::internal::SetReclaimQuarantine(true);
  const void* dead = gc::make_unrooted<Leaf>().get();
  gc::collect();
  try {
    gc::why_alive(dead);
    ADD_FAILURE() << "why_alive answered for a reclaimed object";
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find("reclaimed already"),
              std::string::npos)
        << e.what();
  }
  gc::internal::SetReclaimQuarantine(was_on);
  gc::collect();
  gc::collect();
}

TEST_F(WhyAliveTest, NamesFieldsWhereTheTypeHasNames) {
  gc::Root<Tree> tree = gc::make<Tree>();
  gc::Ptr<Leaf> mid = gc::make_unrooted<Leaf>();
  gc::Ptr<Leaf> end = gc::make_unrooted<Leaf>();
  tree->top.second = mid;
  mid->right = end;
  const gc::WhyAlive w = gc::why_alive(end.get());
  ASSERT_TRUE(w.reachable) << w.text();
  ASSERT_EQ(w.path.size(), 3u) << w.text();
  EXPECT_EQ(w.path[0].field, "");  // the root holds it
  EXPECT_EQ(w.path[1].field, "top.second") << w.text();
  EXPECT_EQ(w.path[1].offset, 16);
  EXPECT_EQ(w.path[2].field, "right") << w.text();
  const std::string text = w.text();
  EXPECT_NE(text.find("Tree.top.second\n"), std::string::npos) << text;
  EXPECT_NE(text.find("Leaf.right\n"), std::string::npos) << text;
  EXPECT_EQ(text.find("at offset"), std::string::npos) << text;
}

TEST_F(WhyAliveTest, NamesArrayElementsAndStopsWhereNamesEnd) {
  gc::Root<Tree> tree = gc::make<Tree>();
  tree->kids[2] = gc::make_unrooted<Leaf>();
  tree->bare.b = gc::make_unrooted<Leaf>();
  tree->spare = gc::make_unrooted<Leaf>();
  gc::WhyAlive w = gc::why_alive(tree->kids[2].get());
  ASSERT_EQ(w.path.size(), 2u) << w.text();
  EXPECT_EQ(w.path[1].field, "kids[2]") << w.text();
  EXPECT_NE(w.text().find("Tree.kids[2]\n"), std::string::npos) << w.text();
  // A member whose type has no names is named, and no further.
  w = gc::why_alive(tree->bare.b.get());
  ASSERT_EQ(w.path.size(), 2u) << w.text();
  EXPECT_EQ(w.path[1].field, "bare") << w.text();
  // A member not listed: the offset, as for a type without names.
  w = gc::why_alive(tree->spare.get());
  ASSERT_EQ(w.path.size(), 2u) << w.text();
  EXPECT_EQ(w.path[1].field, "");
  EXPECT_EQ(w.path[1].offset, static_cast<int64_t>(offsetof(Tree, spare)));
  EXPECT_NE(w.text().find("at offset " + std::to_string(offsetof(Tree, spare)) +
                          " of the"),
            std::string::npos)
      << w.text();
}

TEST_F(WhyAliveTest, TypesWithoutNamesKeepOffsets) {
  gc::Root<Link> head = gc::make<Link>();
  head->other = gc::make_unrooted<Link>();
  const gc::WhyAlive w = gc::why_alive(head->other.get());
  ASSERT_EQ(w.path.size(), 2u) << w.text();
  EXPECT_EQ(w.path[1].field, "");
  EXPECT_EQ(w.path[1].offset, 16);
  EXPECT_NE(w.text().find("at offset 16 of the"), std::string::npos)
      << w.text();
}

TEST_F(WhyAliveTest, NamesTheElementOfAGcArray) {
  gc::Root<gc::Array<Leaf>> leaves = gc::make_array<Leaf>(4);
  (*leaves)[3].left = gc::make_unrooted<Leaf>();
  gc::Root<gc::Array<Link>> links = gc::make_array<Link>(3);
  (*links)[1].next = gc::make_unrooted<Link>();
  gc::WhyAlive w = gc::why_alive((*leaves)[3].left.get());
  ASSERT_EQ(w.path.size(), 2u) << w.text();
  EXPECT_EQ(w.path[1].field, "[3].left") << w.text();
  EXPECT_NE(w.text().find("Leaf>[3].left\n"), std::string::npos) << w.text();
  // An element of a type without names: the index only.
  w = gc::why_alive((*links)[1].next.get());
  ASSERT_EQ(w.path.size(), 2u) << w.text();
  EXPECT_EQ(w.path[1].field, "[1]") << w.text();
}

}  // namespace
