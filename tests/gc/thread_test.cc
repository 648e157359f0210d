// Waiting without holding the collector up (api/thread.h): joining a
// worker that needs collections, waiting on a condition variable, and the
// destructor's join. Each would hang (the test times out) if the wait were
// outside a blocking region.
#include <gtest/gtest.h>

#include <atomic>
#include <condition_variable>
#include <mutex>

#include "api/gc.h"

namespace {

struct Node {
  gc::Ptr<Node> next;
  int64_t v = 0;
};

// Allocates enough to need several collections, and checks what it keeps.
int64_t Churn() {
  gc::Root<Node> kept = gc::make<Node>();
  kept->v = 41;
  for (int i = 0; i < 200000; i++) {
    gc::Root<Node> n = gc::make<Node>();
    n->next = kept;
    if (i % 50000 == 0) gc::collect();
  }
  return kept->v + 1;
}

TEST(ThreadTest, JoiningAWorkerThatCollects) {
  gc::attach_thread();  // a stop waits for this thread unless it blocks
  std::atomic<int64_t> got{0};
  const uint64_t cycles = gc::stats().num_gc;
  gc::Thread worker([&] { got = Churn(); });
  worker.join();
  EXPECT_EQ(got.load(), 42);
  EXPECT_GE(gc::stats().num_gc, cycles + 4);
}

TEST(ThreadTest, TheDestructorJoinsToo) {
  gc::attach_thread();
  std::atomic<int64_t> got{0};
  {
    gc::Thread worker([&] { got = Churn(); });
  }
  EXPECT_EQ(got.load(), 42);
}

TEST(ThreadTest, WaitingOnAConditionVariable) {
  std::mutex mu;
  std::condition_variable cv;
  bool done = false;
  gc::Thread worker([&] {
    Churn();
    std::lock_guard<std::mutex> lock(mu);
    done = true;
    cv.notify_all();
  });
  gc::Root<Node> mine = gc::make<Node>();
  mine->v = 7;
  gc::blocking([&] {
    std::unique_lock<std::mutex> lock(mu);
    cv.wait(lock, [&] { return done; });
  });
  EXPECT_EQ(mine->v, 7);
  EXPECT_EQ(gc::blocking([] { return 5; }), 5);
}

}  // namespace
