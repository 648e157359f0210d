// gc::why_alive() (api/why_alive.h): one shortest path from a root.
#include <gtest/gtest.h>

#include <atomic>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "api/gc.h"
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
}

TEST_F(WhyAliveTest, FromAnotherThreadsStack) {
  const bool previous = gc::set_stack_scan(true);
  std::atomic<Link*> published{nullptr};
  std::atomic<bool> done{false};
  std::thread t([&] {
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
  EXPECT_NE(w.root.find("the stack of the thread with processor"),
            std::string::npos)
      << w.root;
}

TEST_F(WhyAliveTest, RefusesWhatIsNotAHeapObject) {
  int on_the_stack = 0;
  EXPECT_THROW(gc::why_alive(&on_the_stack), std::invalid_argument);
  EXPECT_THROW(gc::why_alive(nullptr), std::invalid_argument);
}

}  // namespace
