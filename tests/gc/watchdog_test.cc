// The stop-the-world watchdog names a thread that blocks outside a
// gc::Blocking scope, with its name, its kernel thread id and its stack
// (runtime/safepoint.h, runtime/backtrace.h), once per stop, then a line per
// period: a "main" that plainly std::thread::join()s a worker that collects
// (in a child process, since nothing can end that wait), and a thread
// waiting for a std::mutex (in this process: the test lets it go after the
// reports, and the collection completes).
//
// The threads here are std::threads, and this test's main thread never
// attaches: joining them cannot hold a stop up.
#include <gtest/gtest.h>
#include <pthread.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <mutex>
#include <string>
#include <thread>

#include "gcrt/gc.h"
#include "gcrt/runtime/safepoint.h"
#include "gcrt/task.h"
#include "tests/test_support/eventually.h"

namespace {

using namespace std::chrono_literals;

// The frames the reports must show. Not inlined, and not tail calls (the
// empty asm after the call), so each keeps a frame of its own.
GCRT_NOINLINE void JoinWithoutBlocking(std::thread& t) {
  t.join();
  asm volatile("" ::: "memory");
}
GCRT_NOINLINE void LockWithoutBlocking(std::mutex& mu) {
  mu.lock();
  asm volatile("" ::: "memory");
}
GCRT_NOINLINE void SleepWithoutBlocking() {
  std::this_thread::sleep_for(1ms);
  asm volatile("" ::: "memory");
}

using gc::testing::Eventually;

size_t Count(const std::string& s, const std::string& what) {
  size_t n = 0;
  for (size_t at = s.find(what); at != std::string::npos;
       at = s.find(what, at + 1)) {
    n++;
  }
  return n;
}

// What the watchdog said about thread `tid` named `name` in `err`.
struct Report {
  size_t full = 0;      // full reports (the first of each stop)
  size_t lines = 0;     // one-line reports after it
  bool stack = false;   // the full report has a stack ...
  std::string frames;   // ... these lines
  bool advice = false;  // and says what to do
  bool asleep = false;  // and that the thread sleeps in the kernel
};

Report Parse(const std::string& err, int tid, const std::string& name) {
  Report r;
  std::string who =
      "held by thread " + std::to_string(tid) + " \"" + name + "\": ";
  r.full = Count(err, who + "it has not reached a safepoint.");
  r.lines = Count(err, who + "it has not reached a safepoint (reported above)");
  size_t at = err.find(who + "it has not reached a safepoint. Its stack:");
  if (at != std::string::npos) {
    r.stack = true;
    size_t end = err.find("gcrt: a thread that waits", at);
    r.frames = err.substr(at, end == std::string::npos ? end : end - at);
  }
  r.asleep = err.find("thread " + std::to_string(tid) +
                      " is asleep in the kernel (state ") != std::string::npos;
  r.advice =
      err.find("must wait inside a gc::Blocking scope") != std::string::npos &&
      err.find("gc::Mutex and gc::ConditionVariable") != std::string::npos;
  return r;
}

// In a child process: a "main" thread, attached, plainly joins a worker that
// collects, and the collection waits for it for good. The child checks the
// watchdog's reports itself and exits 0 if they are right, or 1, printing
// what was wrong and what it read.
void PlainJoinChild() {
  gc::runtime::SetStopWatchdogForTesting(50ms);
  ::testing::internal::CaptureStderr();
  std::atomic<int> tid{0};
  std::thread main_like([&] {
    pthread_setname_np(pthread_self(), "gcrt-joiner");
    gc::attach_thread();
    tid = static_cast<int>(::gettid());
    std::thread worker([] { gc::collect(); });
    JoinWithoutBlocking(worker);
  });
  main_like.detach();  // it never returns
  bool reported =
      Eventually([] { return gc::runtime::StopWatchdogReports() >= 3; });
  std::string err = ::testing::internal::GetCapturedStderr();
  Report r = Parse(err, tid.load(), "gcrt-joiner");
  std::string wrong;
  if (!reported) wrong += "fewer than 3 watchdog reports in 20 s; ";
  if (r.full != 1) wrong += "not one full report of the joiner; ";
  if (r.lines < 2) wrong += "fewer than 2 one-line reports after it; ";
  if (!r.stack) wrong += "no stack; ";
  if (r.frames.find("JoinWithoutBlocking(std::thread&)+0x") ==
      std::string::npos) {
    wrong += "no frame of JoinWithoutBlocking in the stack; ";
  }
  if (!r.advice) wrong += "no advice; ";
  // Told apart from a thread that only waits for a core (a server trial's
  // report named a descheduled thread inside malloc with this advice).
  if (!r.asleep) wrong += "not said to be asleep in the kernel; ";
  std::fprintf(stderr, "%s\n%s\n", err.c_str(),
               wrong.empty() ? "report right" : wrong.c_str());
  std::fflush(stderr);
  std::_Exit(wrong.empty() ? 0 : 1);
}

TEST(WatchdogTest, NamesAThreadThatJoinsAWorkerWithoutBlocking) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_EXIT(PlainJoinChild(), ::testing::ExitedWithCode(0), "report right");
}

TEST(WatchdogTest, NamesAThreadWaitingForAStdMutexAndLetsItGo) {
  gc::runtime::SetStopWatchdogForTesting(30ms);
  const uint64_t reports_before = gc::runtime::StopWatchdogReports();
  std::mutex mu;
  mu.lock();
  std::atomic<int> tid{0};
  std::atomic<bool> locked{false}, collected{false};
  std::thread locker([&] {
    pthread_setname_np(pthread_self(), "gcrt-locker");
    gc::attach_thread();
    tid = static_cast<int>(::gettid());
    LockWithoutBlocking(mu);
    locked = true;
    gc::safepoint();  // parks for the stop it held up
    mu.unlock();
  });
  ASSERT_TRUE(Eventually([&] { return tid.load() != 0; }));
  std::this_thread::sleep_for(50ms);  // into the lock
  ::testing::internal::CaptureStderr();
  std::atomic<int> collector_tid{0};
  std::thread collector([&] {
    pthread_setname_np(pthread_self(), "gcrt-collector");
    collector_tid = static_cast<int>(::gettid());
    gc::collect();
    collected = true;
  });
  bool reported = Eventually(
      [&] { return gc::runtime::StopWatchdogReports() >= reports_before + 3; });
  bool collected_early = collected.load();
  mu.unlock();  // the locker takes it and parks: the collection completes
  collector.join();
  locker.join();
  std::string err = ::testing::internal::GetCapturedStderr();
  gc::runtime::SetStopWatchdogForTesting(1000ms);
  EXPECT_TRUE(reported);
  EXPECT_FALSE(collected_early);
  EXPECT_TRUE(locked.load());
  EXPECT_TRUE(collected.load());
  Report r = Parse(err, tid.load(), "gcrt-locker");
  EXPECT_EQ(r.full, 1u) << err;
  EXPECT_GE(r.lines, 2u) << err;
  EXPECT_TRUE(r.advice) << err;
  // ... and names the thread that asked for the stop, which may hold the
  // lock the straggler waits for.
  EXPECT_NE(
      err.find("the stop was asked for by thread " +
               std::to_string(collector_tid.load()) + " \"gcrt-collector\""),
      std::string::npos)
      << err;
#if GCRT_TSAN
  // ThreadSanitizer holds signals to a thread in pthread_mutex_lock until
  // the call returns: the report says the thread did not answer.
  if (!r.stack) {
    EXPECT_NE(err.find("(no stack: the thread did not answer"),
              std::string::npos)
        << err;
    return;
  }
#endif
  ASSERT_TRUE(r.stack) << err;
  EXPECT_NE(r.frames.find("LockWithoutBlocking(std::mutex&)+0x"),
            std::string::npos)
      << err;
}

// A task that waits without a gc::blocking region holds a stop up like a
// thread; the report names the task as well as its worker thread (whose
// name says only that it is gcrt's), and prints the task's stack: gcrt's
// own threads blocked every asynchronous signal, its stack-sampling one
// too, and the report said the worker did not answer.
TEST(WatchdogTest, NamesTheTaskAWorkerRunsAndPrintsItsStack) {
  gc::runtime::SetStopWatchdogForTesting(30ms);
  const uint64_t reports_before = gc::runtime::StopWatchdogReports();
  std::atomic<uint64_t> id{0};
  std::atomic<bool> release{false};
  gc::Task<void> task = gc::go([&] {
    id = gc::task_id();
    while (!release.load()) SleepWithoutBlocking();  // no region
  });
  ASSERT_TRUE(Eventually([&] { return id.load() != 0; }));
  ::testing::internal::CaptureStderr();
  std::thread collector([] { gc::collect(); });
  const bool reported = Eventually(
      [&] { return gc::runtime::StopWatchdogReports() >= reports_before + 1; });
  release = true;
  gc::blocking([&] {
    collector.join();
    task.join();
  });
  std::string err = ::testing::internal::GetCapturedStderr();
  gc::runtime::SetStopWatchdogForTesting(1000ms);
  EXPECT_TRUE(reported);
  EXPECT_NE(err.find("\"gcrt-worker-"), std::string::npos) << err;
  EXPECT_NE(err.find("\", running task " + std::to_string(id.load()) +
                     ": it has not reached a safepoint"),
            std::string::npos)
      << err;
  const size_t stack =
      err.find("\", running task " + std::to_string(id.load()) +
               ": it has not reached a safepoint. Its stack:");
#if GCRT_TSAN
  // ThreadSanitizer may hold the signal until the thread's next
  // intercepted call: the report then says the thread did not answer.
  if (stack == std::string::npos) {
    EXPECT_NE(err.find("(no stack: the thread did not answer"),
              std::string::npos)
        << err;
    return;
  }
#endif
  ASSERT_NE(stack, std::string::npos) << err;
  EXPECT_NE(err.find("SleepWithoutBlocking()+0x", stack), std::string::npos)
      << err;
}

}  // namespace
