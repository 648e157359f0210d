// Waiting without holding the collector up (api/thread.h): joining a
// worker that needs collections, waiting on a condition variable, the
// destructor's join, gc::Mutex and gc::ConditionVariable. The first three
// would hang (the test times out) if the wait were outside a blocking
// region; the gc::Mutex and gc::ConditionVariable tests bound their waits
// and fail instead.
#include <gtest/gtest.h>
#include <pthread.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <stdexcept>
#include <string>
#include <thread>

#include "gcrt/gc.h"
#include "gcrt/runtime/processor.h"
#include "gcrt/runtime/safepoint_poll.h"

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

using namespace std::chrono_literals;

// Waits inside a blocking region (bounded) until flag is set; returns
// whether it was.
bool AwaitFlag(const std::atomic<bool>& flag,
               std::chrono::seconds limit = 20s) {
  return gc::blocking([&] {
    auto deadline = std::chrono::steady_clock::now() + limit;
    while (!flag.load()) {
      if (std::chrono::steady_clock::now() > deadline) return false;
      std::this_thread::sleep_for(1ms);
    }
    return true;
  });
}

// A thread that only collects or watches the heap (gc::collect(),
// gc::census(), gc::why_alive()) leaves each call as unattached as it came
// in: its plain waits between calls hold up no stop of the world. Here the
// other thread waits on a plain condition variable until main's collection
// is done; had the call left it attached, that collection would wait for
// it to park, and the wait would end only at its timeout.
TEST(ThreadTest, CollectingAndWatchingLeaveAThreadUnattached) {
  gc::Global<Node> watched(gc::make<Node>());
  for (int op = 0; op < 3; op++) {
    std::mutex mu;
    std::condition_variable cv;
    bool done_op = false, collected = false, timed_out = false;
    std::thread t([&] {
      if (op == 0) gc::collect();
      if (op == 1) (void)gc::census();
      if (op == 2) (void)gc::why_alive(watched.get());
      std::unique_lock<std::mutex> lock(mu);
      done_op = true;
      cv.notify_all();
      timed_out = !cv.wait_for(lock, std::chrono::seconds(5),
                               [&] { return collected; });
    });
    gc::blocking([&] {
      std::unique_lock<std::mutex> lock(mu);
      cv.wait(lock, [&] { return done_op; });
    });
    gc::collect();
    {
      std::lock_guard<std::mutex> lock(mu);
      collected = true;
    }
    cv.notify_all();
    gc::blocking([&] { t.join(); });
    EXPECT_FALSE(timed_out)
        << "operation " << op << " left its thread attached";
  }
}

// A library's entry point called on a host thread that knows nothing of
// gcrt: it allocates (attaching the thread) inside a gc::ThreadScope,
// which detaches the thread as it returns, so the host's plain wait
// afterwards holds no collection up. Without the scope the thread stays
// attached and the main thread's collection waits for it (the test times
// out its wait and fails).
int64_t LibraryEntryPoint(gc::Global<Node>* keep) {
  gc::ThreadScope scope;
  gc::Root<Node> n = gc::make<Node>();
  n->v = 5;
  {
    gc::ThreadScope nested;  // attached already: leaves it attached
  }
  gc::Root<Node> after_nested = gc::make<Node>();
  after_nested->next = n;
  *keep = after_nested;
  return after_nested->next->v;
}

TEST(ThreadTest, AThreadScopeDetachesTheThreadItAttached) {
  gc::Global<Node> kept;
  std::mutex mu;
  std::condition_variable cv;
  bool called = false, collected = false, timed_out = false;
  int64_t result = 0;
  std::thread host([&] {
    result = LibraryEntryPoint(&kept);
    std::unique_lock<std::mutex> lock(mu);  // the host's own plain waits
    called = true;
    cv.notify_all();
    timed_out =
        !cv.wait_for(lock, std::chrono::seconds(5), [&] { return collected; });
  });
  gc::blocking([&] {
    std::unique_lock<std::mutex> lock(mu);
    cv.wait(lock, [&] { return called; });
  });
  gc::collect();
  {
    std::lock_guard<std::mutex> lock(mu);
    collected = true;
  }
  cv.notify_all();
  gc::blocking([&] { host.join(); });
  EXPECT_FALSE(timed_out) << "the entry point left its thread attached";
  EXPECT_EQ(result, 5);
  ASSERT_NE(kept.get(), nullptr);
  EXPECT_EQ(kept->next->v, 5);  // kept through the collection
  // A thread attached before the scope stays attached after it.
  gc::attach_thread();
  { gc::ThreadScope scope; }
  EXPECT_NE(gc::runtime::CurrentProcessor(), nullptr);
  // Inside a blocking region the library could not use the heap: refused.
  std::string what;
  gc::blocking([&] {
    try {
      gc::ThreadScope scope;
    } catch (const std::logic_error& e) {
      what = e.what();
    }
  });
  EXPECT_NE(what.find("gc::ThreadScope inside a gc::Blocking scope"),
            std::string::npos)
      << what;
}

// What a gc::Thread's function captures (and its arguments) lives in
// std::thread's C++ heap memory, which nothing scans: gc::Thread roots it
// until the function returns. (This test's binary runs with stack scanning
// off: the captured gc::Ptrs are the objects' only references.)
TEST(ThreadTest, WhatAThreadCapturesStaysAlive) {
  for (bool named : {false, true}) {
    gc::Ptr<Node> captured = gc::make<Node>();  // the Root dies here
    captured->v = 1234;
    gc::Ptr<Node> argument = gc::make<Node>();
    argument->v = 5678;
    std::atomic<bool> go{false};
    std::atomic<int64_t> seen{0};
    auto body = [captured, &go, &seen](gc::Ptr<Node> arg) {
      while (!go.load()) std::this_thread::yield();
      seen = captured->v * 10000 + arg->v;
    };
    gc::Thread t = named
                       ? gc::Thread(gc::ThreadName{"capturer"}, body, argument)
                       : gc::Thread(body, argument);
    gc::Weak<Node> captured_weak(captured), argument_weak(argument);
    captured = nullptr;
    argument = nullptr;
    gc::collect();
    gc::collect();
    EXPECT_NE(captured_weak.lock(), nullptr) << (named ? "named" : "unnamed");
    EXPECT_NE(argument_weak.lock(), nullptr) << (named ? "named" : "unnamed");
    // Reuse what a lost object's slot would be.
    for (int i = 0; i < 10000; i++) gc::make<Node>()->v = -1;
    go = true;
    t.join();
    EXPECT_EQ(seen.load(), 12345678) << (named ? "named" : "unnamed");
  }
}

TEST(ThreadTest, ANamedThreadNamesItself) {
  std::string seen;
  gc::Thread t(
      gc::ThreadName{"gcrt-named-thread-long"},
      [&](int x) {
        char name[16] = {};
        pthread_getname_np(pthread_self(), name, sizeof(name));
        seen = std::string(name) + "/" + std::to_string(x);
      },
      5);
  t.join();
  EXPECT_EQ(seen, "gcrt-named-thre/5");  // cut to 15 characters
}

// One thread holds a gc::Mutex; another waits for it; a third collects.
// The waiter waits inside a blocking region, so the collections complete
// while it waits. With a std::mutex they would wait for the waiter; the
// holder (waiting in a blocking region itself, so as not to hold them up
// too) lets go at its deadline and the test fails on `holder_gave_up`.
TEST(ThreadTest, WaitingForAGcMutexDoesNotHoldCollectionsUp) {
  gc::attach_thread();
  gc::Mutex mu;
  std::atomic<bool> held{false}, contending{false}, collected{false},
      holder_gave_up{false}, contender_done{false};
  std::atomic<int64_t> contender_saw{0};
  const uint64_t cycles = gc::stats().num_gc;
  gc::Thread holder([&] {
    mu.lock();
    gc::Root<Node> n = gc::make<Node>();  // attached, holding the mutex
    held = true;
    // Lets go inside the region: leaving it waits for a stop in progress.
    gc::blocking([&] {
      if (!AwaitFlag(collected)) holder_gave_up = true;
      mu.unlock();
    });
  });
  gc::Thread contender([&] {
    gc::Root<Node> mine = gc::make<Node>();
    mine->v = 7;
    while (!held.load()) gc::safepoint();
    contending = true;
    {
      std::unique_lock<gc::Mutex> lock(mu);  // waits: the holder has it
      EXPECT_FALSE(gc::runtime::InBlockingRegion());
      contender_saw = mine->v;
    }
    contender_done = true;
  });
  ASSERT_TRUE(AwaitFlag(contending));
  gc::blocking([] { std::this_thread::sleep_for(50ms); });  // into lock()
  gc::Thread collector([&] {
    gc::collect();
    gc::collect();
    collected = true;
  });
  collector.join();
  holder.join();
  contender.join();
  EXPECT_FALSE(holder_gave_up.load()) << "the collections waited for the "
                                         "thread waiting for the gc::Mutex";
  EXPECT_TRUE(contender_done.load());
  EXPECT_EQ(contender_saw.load(), 7);
  EXPECT_GE(gc::stats().num_gc, cycles + 2);
  // Uncontended, and try_lock: plain std::mutex behaviour.
  EXPECT_TRUE(mu.try_lock());
  std::thread([&] { EXPECT_FALSE(mu.try_lock()); }).join();
  mu.unlock();
  { std::lock_guard<gc::Mutex> lock(mu); }
}

// A thread waits on a gc::ConditionVariable with a predicate that reads a GC
// object; collections run while it waits (three, and a wake-up whose
// predicate is still false in between), then the predicate comes true.
// The predicate runs outside the blocking region every time.
TEST(ThreadTest, WaitingOnAGcConditionVariableWithAPredicateOnTheHeap) {
  gc::attach_thread();
  gc::Mutex mu;
  gc::ConditionVariable cv;
  gc::Global<Node> box = gc::make<Node>();
  std::atomic<bool> waiting{false}, woke{false}, give_up{false};
  std::atomic<int> evaluations{0}, evaluated_in_region{0};
  gc::Thread waiter([&] {
    // Attached (a gc::Global alone would not attach it), so a stop waits
    // for it unless it waits in a blocking region.
    gc::Root<Node> mine = gc::make<Node>();
    mine->next = box;
    std::unique_lock<gc::Mutex> lock(mu);
    cv.wait(lock, [&] {
      evaluations++;
      if (gc::runtime::InBlockingRegion()) evaluated_in_region++;
      waiting = true;
      return mine->next->v == 42 || give_up.load();
    });
    woke = true;
  });
  ASSERT_TRUE(AwaitFlag(waiting));
  // Collections on another thread, bounded: if the waiter held them up,
  // this test gives up instead of hanging.
  std::atomic<bool> collected{false};
  gc::Thread collector([&] {
    for (int i = 0; i < 3; i++) gc::collect();
    collected = true;
  });
  // Giving up happens inside the blocking region: leaving it would wait for
  // the stop in progress.
  bool in_time = gc::blocking([&] {
    if (AwaitFlag(collected)) return true;
    {
      std::lock_guard<gc::Mutex> lock(mu);
      give_up = true;
    }
    cv.notify_all();
    return false;
  });
  collector.join();
  ASSERT_TRUE(in_time) << "the collections waited for the thread waiting on "
                          "the gc::ConditionVariable";
  EXPECT_FALSE(woke.load());
  // A wake-up with the predicate still false: it waits again.
  int before = evaluations.load();
  cv.notify_all();
  gc::blocking([&] {
    auto deadline = std::chrono::steady_clock::now() + 20s;
    while (evaluations.load() == before &&
           std::chrono::steady_clock::now() < deadline) {
      std::this_thread::sleep_for(1ms);
    }
  });
  gc::collect();
  EXPECT_FALSE(woke.load());
  {
    std::lock_guard<gc::Mutex> lock(mu);
    box->v = 42;
  }
  cv.notify_one();
  waiter.join();
  EXPECT_TRUE(woke.load());
  EXPECT_GE(evaluations.load(), 3);
  EXPECT_EQ(evaluated_in_region.load(), 0);
}

TEST(ThreadTest, GcConditionVariableTimedWaits) {
  gc::attach_thread();
  gc::Mutex mu;
  gc::ConditionVariable cv;
  gc::Global<Node> box = gc::make<Node>();
  std::unique_lock<gc::Mutex> lock(mu);
  auto start = std::chrono::steady_clock::now();
  EXPECT_EQ(cv.wait_for(lock, 20ms), std::cv_status::timeout);
  EXPECT_FALSE(cv.wait_for(lock, 20ms, [&] { return box->v == 1; }));
  EXPECT_FALSE(cv.wait_until(lock, std::chrono::system_clock::now() + 20ms,
                             [&] { return box->v == 1; }));
  EXPECT_GE(std::chrono::steady_clock::now() - start, 60ms);
  EXPECT_TRUE(lock.owns_lock());
  box->v = 1;
  EXPECT_TRUE(cv.wait_for(lock, 1h, [&] { return box->v == 1; }));
  // Notified before the deadline: no timeout.
  gc::Thread notifier([&] {
    std::lock_guard<gc::Mutex> l(mu);
    box->v = 2;
    cv.notify_all();
  });
  EXPECT_TRUE(cv.wait_for(lock, 20s, [&] { return box->v == 2; }));
  lock.unlock();
  notifier.join();
  EXPECT_THROW(cv.wait(lock), std::system_error);
}

}  // namespace
