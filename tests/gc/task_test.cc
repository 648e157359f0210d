// Tasks (api/task.h, runtime/task.h): many fibers on GCRT_PROCS workers,
// with the collector running under them. Every test runs with the heap
// verifier on, so a root a task holds that the marker missed stops the
// program.
#include "gcrt/task.h"

#include <alloca.h>
#include <gtest/gtest.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "gcrt/alloc/cache.h"
#include "gcrt/alloc/heap.h"
#include "gcrt/gc.h"
#include "gcrt/gc/collector.h"
#include "gcrt/runtime/task.h"
#include "gcrt/thread.h"
#include "tests/test_support/eventually.h"
#include "tests/test_support/stderr_capture.h"
#include "tests/test_support/verified_heap_test.h"

namespace {

using namespace std::chrono_literals;

constexpr uint64_t kMagic = 0x7a5c0ffee0ddba11;

struct Node {
  gc::Ptr<Node> left, right;
  int64_t value = 0;
  uint64_t magic = kMagic;
};

gc::Root<Node> Tree(int depth, int64_t value) {
  gc::Root<Node> n = gc::make<Node>();
  n->value = value;
  if (depth > 0) {
    n->left = Tree(depth - 1, value);
    n->right = Tree(depth - 1, value);
  }
  return n;
}

// The nodes of an intact tree Tree built (0 if any node is damaged).
int64_t Count(const Node* n, int64_t value) {
  if (n == nullptr) return 0;
  if (n->magic != kMagic || n->value != value) return -1000000;
  return 1 + Count(n->left.get(), value) + Count(n->right.get(), value);
}

int Tid() { return static_cast<int>(syscall(SYS_gettid)); }

class TaskTest : public gc::testing::VerifiedHeapTest {};

// gc::go and every gc::Channel operation are safepoints: a thread that
// only starts tasks (which allocate on the workers), or only sends into a
// roomy buffer, lets the world stop. Each is called once while a
// stop-the-world cycle waits for this thread: it must park there until the
// cycle has ended (its mark termination ran with the world stopped).
template <typename Op>
void ExpectAStopParksIn(Op op) {
  const bool was = gc::set_concurrent_mark(false);  // the whole cycle stopped
  std::atomic<bool> terminated{false};
  gc::internal::Collector& c = gc::internal::Collector::Get();
  c.SetTerminationHookForTesting(
      [](void* t) { static_cast<std::atomic<bool>*>(t)->store(true); },
      &terminated);
  gc::Thread collector([] { gc::collect(); });
  while (!gc::runtime::g_stop_requested.load()) std::this_thread::yield();
  op();
  const bool parked = terminated.load();
  collector.join();
  c.SetTerminationHookForTesting(nullptr, nullptr);
  gc::set_concurrent_mark(was);
  EXPECT_TRUE(parked) << "the operation returned while a stop waited for it";
}

// Tasks that call gc::collect() beside plain threads that allocate: the
// task running (or entering) a cycle keeps its worker's slot while it waits
// and marks. It once gave the slot away, and the tasks that took it waited
// for that cycle on their slots while it waited for a slot: a new user's
// program hung in 3 of 6 runs, its heap growing without end.
TEST_F(TaskTest, TasksCollectingBesideAllocatingThreadsFinish) {
  std::atomic<bool> stop{false};
  std::vector<gc::Thread> threads;
  for (int t = 0; t < 2; t++) {
    threads.emplace_back([&] {
      while (!stop.load()) Tree(10, 1);
    });
  }
  std::atomic<int> finished{0};
  constexpr int kTasks = 20;
  for (int round = 0; round < 5; round++) {
    std::vector<gc::Task<void>> tasks;
    for (int i = 0; i < kTasks; i++) {
      tasks.push_back(gc::go([&] {
        for (int k = 0; k < 10; k++) {
          gc::Root<Node> t = Tree(6, k);
          EXPECT_EQ(Count(t.get(), k), 127);
          gc::stats();
          if (k % 5 == 0) gc::collect();
        }
        finished++;
      }));
    }
    const bool done = gc::blocking([&] {
      return gc::testing::Eventually(
          [&] { return finished.load() == (round + 1) * kTasks; }, 30s);
    });
    if (!done) {
      std::fprintf(stderr,
                   "tasks collecting beside threads: hung (%d of %d "
                   "finished)\n",
                   finished.load(), (round + 1) * kTasks);
      std::abort();
    }
    for (auto& t : tasks) t.join();
  }
  stop = true;
  threads.clear();
}

TEST_F(TaskTest, StartingATaskIsASafepoint) {
  gc::Root<Node> keep = Tree(4, 1);  // this thread is attached
  ExpectAStopParksIn([] { gc::go([] {}); });
}

TEST_F(TaskTest, AChannelOperationIsASafepoint) {
  gc::Root<Node> keep = Tree(4, 1);
  gc::Channel<int> ch(4);
  ExpectAStopParksIn([&] { ch.send(1); });
  ExpectAStopParksIn([&] { EXPECT_EQ(ch.recv(), 1); });
  ExpectAStopParksIn([&] { EXPECT_TRUE(ch.try_send(2)); });
  ExpectAStopParksIn([&] { EXPECT_EQ(ch.try_recv(), 2); });
}

TEST_F(TaskTest, JoinReturnsTheResult) {
  gc::Task<int> t = gc::go([](int a, int b) { return a * b; }, 6, 7);
  EXPECT_TRUE(t.joinable());
  EXPECT_NE(t.id(), 0u);
  EXPECT_EQ(t.join(), 42);
  EXPECT_FALSE(t.joinable());
  EXPECT_THROW(t.join(), std::logic_error);
}

TEST_F(TaskTest, JoinRethrowsTheTasksException) {
  gc::Task<void> t = gc::go([] { throw std::runtime_error("task failed"); });
  try {
    t.join();
    FAIL() << "join did not rethrow";
  } catch (const std::runtime_error& e) {
    EXPECT_STREQ(e.what(), "task failed");
  }
}

TEST_F(TaskTest, AnExceptionNobodyJoinsIsReported) {
  gc::testing::StderrCapture capture;
  std::atomic<bool> thrown{false};
  uint64_t id = 0;
  {
    gc::Task<void> t = gc::go([&] {
      thrown.store(true);
      throw std::runtime_error("lost in a task");
    });
    id = t.id();
    t.detach();
  }
  std::string text = capture.ReadUntil("lost in a task");
  capture.Restore();
  EXPECT_NE(text.find("task " + std::to_string(id) +
                      " ended with an exception nobody joined: "
                      "std::runtime_error: lost in a task"),
            std::string::npos)
      << "the type demangled: " << text;
  EXPECT_TRUE(thrown.load());
}

// Millions of short tasks, each building a small tree and checking it
// after a yield, while collections run: every one completes, and every
// object a task built is intact when it counts it. 20 tasks start them,
// 1,000 at a time, waiting for each thousand (as a Go program's
// goroutines start goroutines), so at most about 20,000 exist at once:
// each task's stack is a mapping of its own (api/task.h).
TEST_F(TaskTest, MillionsOfShortTasksAllocatingAllComplete) {
#if defined(GCRT_TSAN)
  // TSan keeps a fiber state per task: fewer, and fewer at a time.
  constexpr int kSpawners = 10, kBatches = 10, kBatch = 100;  // 10^4
#elif defined(GCRT_ASAN)
  constexpr int kSpawners = 10, kBatches = 100, kBatch = 100;  // 10^5
#else
  constexpr int kSpawners = 20, kBatches = 50, kBatch = 1000;  // 10^6
#endif
  std::atomic<int64_t> nodes{0};
  gc::WaitGroup wg;
  wg.add(kSpawners);
  const auto before = gc::runtime::GetSchedulerStats();
  const uint64_t cycles_before = gc::stats().num_gc;
  // Cycles while the tasks run, whatever the heap's growth triggers.
  std::atomic<bool> finished{false};
  gc::Thread collector([&] {
    while (!finished.load()) {
      gc::collect();
      gc::blocking([] { std::this_thread::sleep_for(5ms); });
    }
  });
  for (int s = 0; s < kSpawners; s++) {
    gc::go([&wg, &nodes, s] {
      for (int b = 0; b < kBatches; b++) {
        gc::WaitGroup batch;
        batch.add(kBatch);
        for (int k = 0; k < kBatch; k++) {
          const int64_t i = (int64_t{s} * kBatches + b) * kBatch + k;
          gc::go([&batch, &nodes, i] {
            gc::Root<Node> t = Tree(2, i);
            if (i % 64 == 0) gc::yield();
            nodes.fetch_add(Count(t.get(), i), std::memory_order_relaxed);
            batch.done();
          });
        }
        batch.wait();
      }
      wg.done();
    });
  }
  wg.wait();
  finished.store(true);
  collector.join();
  constexpr int64_t kTasks = int64_t{kSpawners} * kBatches * kBatch;
  EXPECT_EQ(nodes.load(), kTasks * 7);
  const uint64_t want = before.tasks_started + kTasks + kSpawners;
  EXPECT_GE(gc::runtime::GetSchedulerStats().tasks_started, want);
  // A task is counted done after its last statement (the wait group's
  // done() above), so the count may lag the wait a little.
  EXPECT_TRUE(gc::testing::Eventually([&] {
    return gc::runtime::GetSchedulerStats().tasks_done - before.tasks_done >=
           static_cast<uint64_t>(kTasks + kSpawners);
  }));
  EXPECT_GT(gc::stats().num_gc, cycles_before + 1);
}

// A task's gc::Roots and the objects under them survive collections while
// the task moves from worker to worker.
TEST_F(TaskTest, RootsFollowATaskAcrossWorkers) {
  constexpr int kTasks = 16;
  std::atomic<bool> stop{false};
  std::vector<gc::Task<std::set<int>>> tasks;
  for (int i = 0; i < kTasks; i++) {
    tasks.push_back(gc::go([i, &stop] {
      std::set<int> tids;
      gc::Root<Node> mine = Tree(6, i);
      for (int round = 0; round < 200 || !stop.load(); round++) {
        tids.insert(Tid());
        gc::Root<Node> garbage = Tree(3, -1);  // allocation: cycles run
        gc::yield();
        if (Count(mine.get(), i) != 127) throw std::runtime_error("lost");
        if (round > 100000) break;
      }
      return tids;
    }));
  }
  for (int i = 0; i < 20; i++) gc::collect();
  stop.store(true);
  std::set<int> all;
  for (auto& t : tasks) {
    std::set<int> tids = t.join();
    all.insert(tids.begin(), tids.end());
  }
  if (gc::task_procs() > 1) {
    EXPECT_GT(all.size(), 1u) << "every task ran on one worker";
  }
}

// With the stack scanned, gc::Ptr locals and raw pointers on a task's
// stack keep their objects, while it runs, while it waits, and before it
// first runs (what its function captured).
TEST_F(TaskTest, StackScanKeepsTaskLocalsAndCaptures) {
  const bool previous = gc::set_stack_scan(true);
  gc::Channel<int> go_on;
  std::vector<gc::Task<int64_t>> tasks;
  for (int i = 0; i < 8; i++) {
    gc::Ptr<Node> captured = gc::make_unrooted<Node>();
    captured->value = i;
    tasks.push_back(gc::go([captured, i, &go_on]() -> int64_t {
      Node* raw = gc::make_unrooted<Node>().get();
      raw->value = i;
      go_on.recv();  // waits: the stack is a suspended task's
      for (int k = 0; k < 1000; k++) gc::make_unrooted<Node>();
      return Count(captured.get(), i) + Count(raw, i);
    }));
  }
  for (int i = 0; i < 5; i++) gc::collect();
  for (int i = 0; i < 8; i++) go_on.send(1);
  for (auto& t : tasks) EXPECT_EQ(t.join(), 2);
  gc::set_stack_scan(previous);
}

// With stack scanning off, what gc::go copied onto the task's stack (a
// captured gc::Ptr, a raw pointer argument) still keeps its objects until
// the function returns, as a gc::Thread's closure does, whether the task
// waits or runs; then nothing does. Nothing kept them before: the
// collector scanned no part of a task's stack with scanning off.
TEST_F(TaskTest, WithStackScanOffCapturesAndArgumentsKeepTheirObjects) {
  const bool previous = gc::set_stack_scan(false);
  constexpr int kTasks = 8;
  gc::Channel<int> go_on;
  std::vector<gc::Task<int64_t>> tasks;
  std::vector<gc::Weak<Node>> captured_weak, argument_weak;
  for (int i = 0; i < kTasks; i++) {
    gc::Root<Node> captured = Tree(3, i);
    gc::Root<Node> argument = Tree(3, i);
    captured_weak.emplace_back(captured);
    argument_weak.emplace_back(argument);
    tasks.push_back(gc::go(
        [captured = gc::Ptr<Node>(captured), i, &go_on](Node* raw) {
          go_on.recv();  // waits: a suspended task's closure
          int64_t kept = Count(captured.get(), i) + Count(raw, i);
          gc::collect();  // running: its worker holds the closure
          for (int k = 0; k < 1000; k++) gc::make_unrooted<Node>();
          return kept + Count(captured.get(), i);
        },
        argument.get()));
  }
  for (int i = 0; i < 3; i++) gc::collect();
  for (int i = 0; i < kTasks; i++) {
    EXPECT_NE(captured_weak[i].lock(), nullptr) << "task " << i;
    EXPECT_NE(argument_weak[i].lock(), nullptr) << "task " << i;
  }
  const Node* argument0 = argument_weak[0].lock().get();  // no Root kept
  EXPECT_NE(gc::why_alive(argument0).root.find("arguments of a task"),
            std::string::npos)
      << gc::why_alive(argument0).text();
  for (int i = 0; i < kTasks; i++) go_on.send(1);
  for (auto& t : tasks) EXPECT_EQ(t.join(), 3 * 15);
  gc::collect();
  for (int i = 0; i < kTasks; i++) {
    EXPECT_EQ(captured_weak[i].lock(), nullptr) << "task " << i;
    EXPECT_EQ(argument_weak[i].lock(), nullptr) << "task " << i;
  }
  gc::set_stack_scan(previous);
}
// A result that holds GC pointers stays alive between the task's end and
// the join, however many cycles run in between.
TEST_F(TaskTest, AResultHoldingGcPointersIsRootedUntilJoined) {
  gc::Task<gc::Ptr<Node>> t = gc::go([]() -> gc::Ptr<Node> {
    gc::Root<Node> tree = Tree(5, 3);
    gc::Ptr<Node> p = tree;
    return p;
  });
  while (!t.done()) std::this_thread::sleep_for(1ms);
  for (int i = 0; i < 5; i++) gc::collect();
  gc::Ptr<Node> r = t.join();
  EXPECT_EQ(Count(r.get(), 3), 63);
}

// A GC type with no gc::Ptr: a raw pointer to it may point into the GC heap
// or not, so a channel's buffered pointers and a task's raw pointer result
// keep what they point to as a stack word would. Both were unrooted: the
// objects were reclaimed and their slots reused.
struct Leaf {
  int64_t x = 0;
  uint64_t magic = kMagic;
};
static_assert(
    gc::internal::KindOf<gc::internal::RawPointerResultBox<Leaf*>>() ==
    gc::internal::TraceKind::kConservative);

TEST_F(TaskTest, RawPointersInAChannelOrATaskResultKeepTheirObjects) {
  gc::Channel<Leaf*> ch(100);
  for (int i = 0; i < 100; i++) {
    Leaf* leaf = gc::make_unrooted<Leaf>().get();
    leaf->x = 1000 + i;
    ch.send(leaf);
  }
  int64_t outside = 5;
  gc::Channel<int64_t*> plain(1);
  plain.send(&outside);  // not GC memory: ignored by the scan
  gc::Task<Leaf*> t = gc::go([]() -> Leaf* {
    Leaf* leaf = gc::make_unrooted<Leaf>().get();
    leaf->x = 777;
    return leaf;
  });
  while (!t.done()) std::this_thread::sleep_for(1ms);
  for (int i = 0; i < 3; i++) gc::collect();
  for (int i = 0; i < 20000; i++) gc::make_unrooted<Leaf>()->x = -1;
  Leaf* result = t.join();
  EXPECT_EQ(result->x, 777);
  EXPECT_EQ(result->magic, kMagic);
  for (int i = 0; i < 100; i++) {
    std::optional<Leaf*> leaf = ch.recv();
    ASSERT_TRUE(leaf.has_value());
    EXPECT_EQ((*leaf)->x, 1000 + i);
    EXPECT_EQ((*leaf)->magic, kMagic);
  }
  EXPECT_EQ(**plain.recv(), 5);
}

// A collection requested while tasks allocate on every worker completes,
// and each worker's cache is flushed when it resumes, before its next
// allocation (flush_gen, seed 002).
TEST_F(TaskTest, CachesAreFlushedOnResumeAfterACollection) {
  const int old_percent = gc::set_gc_percent(-1);  // only explicit cycles
  const int n = static_cast<int>(gc::task_procs()) * 2;
  std::atomic<int> phase{0};
  std::atomic<int> allocating{0};
  std::vector<gc::Task<uint32_t>> tasks;
  for (int i = 0; i < n; i++) {
    tasks.push_back(gc::go([&] {
      allocating.fetch_add(1);
      while (phase.load() == 0) {
        gc::make<Node>();
        gc::yield();  // no preemption: let the other tasks start
      }
      gc::make<Node>();
      return gc::alloc::t_cache->flush_gen();
    }));
  }
  while (allocating.load() < n) std::this_thread::sleep_for(1ms);
  gc::collect();
  const uint32_t h = gc::alloc::Heap::Get().sweepgen();
  phase.store(1);
  for (auto& t : tasks) EXPECT_EQ(t.join(), h);
  gc::set_gc_percent(old_percent);
}

// A task blocked in the OS (inside gc::Blocking) gives its worker's slot
// away: the other tasks run, and collections complete, meanwhile.
TEST_F(TaskTest, ABlockingTaskStallsNeitherTasksNorTheCollector) {
  const auto before = gc::runtime::GetSchedulerStats();
  std::atomic<bool> release{false};
  std::atomic<uint32_t> blocked{0};
  std::vector<gc::Task<void>> blockers;
  // As many blockers as workers, all blocked before the others start:
  // without hand-offs nothing else could run.
  for (uint32_t i = 0; i < gc::task_procs(); i++) {
    blockers.push_back(gc::go([&release, &blocked] {
      gc::blocking([&] {
        blocked.fetch_add(1);
        while (!release.load()) std::this_thread::sleep_for(1ms);
      });
      gc::Root<Node> after = Tree(2, 1);
      if (Count(after.get(), 1) != 7) throw std::runtime_error("damaged");
    }));
  }
  while (blocked.load() < gc::task_procs()) std::this_thread::sleep_for(1ms);
  std::vector<gc::Task<int64_t>> others;
  for (int i = 0; i < 100; i++) {
    others.push_back(gc::go([i] { return Count(Tree(4, i).get(), i); }));
  }
  for (auto& t : others) EXPECT_EQ(t.join(), 31);
  gc::collect();
  release.store(true);
  for (auto& t : blockers) t.join();
  // Every worker's task was blocked when the others were queued: they ran
  // on a slot the monitor took from a blocked worker (without it, their
  // joins above would wait for `release`, which comes after them).
  EXPECT_GE(gc::runtime::GetSchedulerStats().handoffs - before.handoffs, 1u);
}

// 10^6 messages through a pipeline of three tasks and two channels: none
// lost, none duplicated, in order.
TEST_F(TaskTest, AChannelPipelineLosesNoMessage) {
  constexpr int64_t kMessages = 1'000'000;
  gc::Channel<int64_t> numbers(64);
  gc::Channel<gc::Root<Node>> nodes(64);
  auto producer = gc::go([&] {
    for (int64_t i = 0; i < kMessages; i++) numbers.send(i);
    numbers.close();
  });
  auto stage = gc::go([&] {
    while (std::optional<int64_t> i = numbers.recv()) {
      gc::Root<Node> n = gc::make<Node>();
      n->value = *i;
      nodes.send(std::move(n));
    }
    nodes.close();
  });
  int64_t expected = 0;
  bool in_order = true;
  while (std::optional<gc::Root<Node>> n = nodes.recv()) {
    in_order = in_order && (*n)->value == expected && (*n)->magic == kMagic;
    expected++;
  }
  producer.join();
  stage.join();
  EXPECT_TRUE(in_order);
  EXPECT_EQ(expected, kMessages);
}

// An unbuffered channel hands each value over directly, a sender waiting
// for its receiver (and the other way round), between tasks and threads.
TEST_F(TaskTest, AnUnbufferedChannelHandsValuesOver) {
  gc::Channel<gc::Ptr<Node>> ch;
  EXPECT_EQ(ch.capacity(), 0u);
  auto sender = gc::go([&] {
    for (int i = 0; i < 1000; i++) {
      gc::Root<Node> n = gc::make<Node>();
      n->value = i;
      gc::Ptr<Node> p = n;
      ch.send(p);
    }
    ch.close();
  });
  int got = 0;
  while (std::optional<gc::Ptr<Node>> n = ch.recv()) {
    EXPECT_EQ((*n)->value, got);
    got++;
    if (got % 100 == 0) gc::collect();
  }
  sender.join();
  EXPECT_EQ(got, 1000);
  EXPECT_FALSE(ch.try_recv().has_value());
}

TEST_F(TaskTest, AClosedChannelRefusesSendsAndDrainsItsBuffer) {
  gc::Channel<int> ch(2);
  EXPECT_TRUE(ch.try_send(1));
  EXPECT_TRUE(ch.try_send(2));
  EXPECT_FALSE(ch.try_send(3));  // full
  ch.close();
  EXPECT_TRUE(ch.closed());
  EXPECT_THROW(ch.send(4), std::logic_error);
  EXPECT_THROW(ch.close(), std::logic_error);
  EXPECT_EQ(ch.recv(), 1);
  EXPECT_EQ(ch.recv(), 2);
  EXPECT_EQ(ch.recv(), std::nullopt);
}

TEST_F(TaskTest, ASenderWaitingOnAChannelThatClosesGetsAnError) {
  gc::Channel<int> ch;
  auto t = gc::go([&] { ch.send(1); });
  std::this_thread::sleep_for(20ms);  // the sender parks: no receiver
  EXPECT_FALSE(t.done());
  ch.close();
  EXPECT_THROW(t.join(), std::logic_error);
}

// Busy tasks all started from one task land on its worker's queue; the
// other workers steal them, and both cores run tasks.
TEST_F(TaskTest, IdleWorkersStealWork) {
  ASSERT_EQ(gc::task_procs(), 2u) << "BUILD sets GCRT_PROCS=2";
  const auto before = gc::runtime::GetSchedulerStats();
  std::mutex mu;
  std::set<int> tids;
  auto root = gc::go([&] {
    std::vector<gc::Task<void>> busy;
    for (int i = 0; i < 16; i++) {
      busy.push_back(gc::go([&] {
        {
          std::lock_guard<std::mutex> lock(mu);
          tids.insert(Tid());
        }
        // Long beside a spawn (even under TSan): the spawner's worker
        // still has some of them queued when it runs out of other work.
        const auto until = std::chrono::steady_clock::now() + 20ms;
        while (std::chrono::steady_clock::now() < until) gc::safepoint();
      }));
    }
    for (auto& t : busy) t.join();
  });
  root.join();
  const auto after = gc::runtime::GetSchedulerStats();
  EXPECT_GE(tids.size(), 2u) << "steals " << after.steals - before.steals
                             << ", workers " << after.workers;
  EXPECT_GT(after.steals, before.steals);
}

TEST_F(TaskTest, TaskMutexAndWaitGroupCoordinateTasksAndThreads) {
  gc::TaskMutex mu;
  int64_t counter = 0;  // guarded by mu
  gc::WaitGroup wg;
  constexpr int kTasks = 200, kRounds = 100;
  wg.add(kTasks + 1);
  for (int i = 0; i < kTasks; i++) {
    gc::go([&] {
      for (int r = 0; r < kRounds; r++) {
        std::lock_guard<gc::TaskMutex> lock(mu);
        int64_t seen = counter;
        gc::yield();  // holding the mutex: the others park on it
        counter = seen + 1;
      }
      wg.done();
    });
  }
  gc::Thread thread([&] {
    for (int r = 0; r < kRounds; r++) {
      std::lock_guard<gc::TaskMutex> lock(mu);
      counter++;
    }
    wg.done();
  });
  wg.wait();
  thread.join();
  EXPECT_EQ(counter, int64_t{kTasks + 1} * kRounds);
  EXPECT_THROW(wg.done(), std::logic_error);
  EXPECT_THROW(mu.unlock(), std::logic_error);
}

// A constructor that waits: the objects it has allocated so far are kept
// by the task's construction stack, which moves with the task, while
// other tasks' cycles run.
struct Parent {
  explicit Parent(int64_t v) {
    for (int i = 0; i < 8; i++) {
      gc::Root<Node> child = Tree(3, v);
      children.emplace_back(child);  // then held only by a std::vector
      gc::yield();
    }
  }
  void trace(gc::Tracer& t) const { t(children); }
  std::vector<gc::Ptr<Node>> children;
};

TEST_F(TaskTest, AConstructorThatYieldsKeepsWhatItBuilt) {
  std::atomic<bool> stop{false};
  gc::Thread collector([&] {
    while (!stop.load()) gc::collect();
  });
  std::vector<gc::Task<int64_t>> tasks;
  for (int i = 0; i < 32; i++) {
    tasks.push_back(gc::go([i] {
      gc::Root<Parent> p = gc::make<Parent>(i);
      int64_t n = 0;
      for (const gc::Ptr<Node>& c : p->children) n += Count(c.get(), i);
      return n;
    }));
  }
  for (auto& t : tasks) EXPECT_EQ(t.join(), 8 * 15);
  stop.store(true);
  collector.join();
}

// A task that overflows its stack hits the guard page below it: the
// process stops with a fault, never writing into another task's stack,
// and (outside the sanitizers, which report it their own way) says which
// task overflowed and what to change.
int Deep(int n) {
  volatile char frame[1024];
  frame[0] = static_cast<char>(n);
  return n == 0 ? frame[0] : Deep(n - 1) + frame[0];
}

TEST(TaskDeathTest, AStackOverflowFaultsOnTheGuardPage) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_DEATH(
      {
        gc::set_task_stack_size(64 << 10);
        gc::go([] { return Deep(1 << 20); }).join();
      },
#if defined(GCRT_ASAN) || defined(GCRT_TSAN)
      "");
#else
      "task [0-9]+ overflowed its stack of 64 KiB: the fault at 0x[0-9a-f]+ "
      "is in the guard region below it. Give tasks larger stacks "
      "\\(GCRT_TASK_STACK_KB, gc::set_task_stack_size\\)");
#endif
}

// A frame larger than a page moves the stack pointer past a one-page guard
// in one step: its first write, at its lowest address, fell below the
// guard, into another mapping or none, unreported. The guard region is
// 64 KiB.
int BigFrame(size_t bytes) {
  volatile char* frame = static_cast<volatile char*>(alloca(bytes));
  frame[0] = 1;  // the lowest address first, as a memset would
  return frame[0];
}

TEST(TaskDeathTest, AFrameLargerThanAPageFaultsInTheGuardRegion) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_DEATH(
      {
        gc::set_task_stack_size(64 << 10);
        // The whole stack and 32 KiB more: the frame's bottom lies 32 KiB
        // below the stack, in the guard region.
        gc::go([] { return BigFrame((64 + 32) << 10); }).join();
      },
#if defined(GCRT_ASAN) || defined(GCRT_TSAN)
      "");
#else
      "task [0-9]+ overflowed its stack of 64 KiB: the fault at 0x[0-9a-f]+ "
      "is in the guard region below it");
#endif
}

TEST_F(TaskTest, WaitsInsideABlockingRegionAreRefused) {
  auto t = gc::go([] { gc::blocking([] { gc::yield(); }); });
  EXPECT_THROW(t.join(), std::logic_error);
}

// Refused before anything changes: the refusal used to come after the
// primitive had queued the task's waiter, which outlived its frame (the
// channel's next send woke a dead frame: a segfault; the mutex's unlock
// handed it to one, and it stayed locked for good).
TEST_F(TaskTest, AWaitRefusedInsideABlockingRegionChangesNothing) {
  gc::Channel<int> ch(1);
  gc::TaskMutex mu;
  gc::WaitGroup group;
  gc::Task<void> other = gc::go([] {});
  auto t = gc::go([&] {
    int refused = 0;
    const auto refuses = [&refused](auto&& wait) {
      try {
        wait();
      } catch (const std::logic_error&) {
        refused++;
      }
    };
    mu.lock();
    group.add(1);
    gc::blocking([&] {
      refuses([&] { ch.recv(); });     // empty: would wait
      refuses([&] { mu.lock(); });     // held: would wait
      refuses([&] { group.wait(); });  // count 1: would wait
      refuses([&] { other.join(); });
      refuses([&] { ch.send(1); });  // room: would not wait, refused too
    });
    group.done();
    mu.unlock();
    return refused;
  });
  EXPECT_EQ(t.join(), 5);
  EXPECT_TRUE(mu.try_lock());
  mu.unlock();
  EXPECT_TRUE(ch.try_send(7));
  EXPECT_EQ(ch.try_recv(), std::optional<int>(7));
  group.wait();
  other.join();  // the handle was left as it was
}

TEST_F(TaskTest, ABigClosureIsRefused) {
  std::array<char, 1 << 20> big{};
  EXPECT_THROW(gc::go([big] { return big[0]; }), std::length_error);
}

// gc::set_task_stack_size takes what GCRT_TASK_STACK_KB takes (api/gc.h):
// 16 KiB to 1 GiB, or 0 for the built-in 256 KiB.
TEST_F(TaskTest, TheStackSizeSetterTakesWhatItsVariableTakes) {
  const size_t before = gc::runtime::TaskStackBytes();
  EXPECT_THROW(gc::set_task_stack_size(1024), std::invalid_argument);
  EXPECT_THROW(gc::set_task_stack_size(size_t{2} << 30), std::invalid_argument);
  EXPECT_EQ(gc::runtime::TaskStackBytes(), before);  // refused: unchanged
  const auto page = static_cast<size_t>(sysconf(_SC_PAGESIZE));
  gc::set_task_stack_size((64 << 10) + 1);
  EXPECT_EQ(gc::runtime::TaskStackBytes(), (64u << 10) + page);  // pages
  EXPECT_EQ(gc::go([] { return 5; }).join(), 5);
  gc::set_task_stack_size(0);
  EXPECT_EQ(gc::runtime::TaskStackBytes(), 256u << 10);
  gc::set_task_stack_size(before);
}

}  // namespace
