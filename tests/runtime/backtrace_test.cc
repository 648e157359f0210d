// Other threads' stacks through gcrt's signal (runtime/backtrace.h): the
// stack of a thread blocked in a system call, symbolized from the symbol
// table (no -rdynamic); the blocking calls the signal interrupts go on as
// if nothing happened (pthread_join, std::this_thread::sleep_for,
// std::condition_variable::wait, std::mutex::lock); signals gcrt did not
// send reach the handler the program had.
#include "gcrt/runtime/backtrace.h"

#include <dlfcn.h>
#include <execinfo.h>
#include <pthread.h>
#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdlib>
#include <mutex>
#include <string>
#include <thread>

#include "gcrt/runtime/base.h"
#include "gtest/gtest.h"
#include "tests/test_support/eventually.h"

namespace gc::runtime {
namespace {

using namespace std::chrono_literals;

using gc::testing::Eventually;

std::string Symbolized(const Backtrace& bt) {
  ::testing::internal::CaptureStderr();
  PrintBacktrace(bt);
  return ::testing::internal::GetCapturedStderr();
}

// The frames the samples must find. Not inlined, and not tail calls (the
// empty asm after the call), so each keeps a frame of its own.
GCRT_NOINLINE void JoinPlainly(std::thread& t) {
  t.join();
  asm volatile("" ::: "memory");
}
GCRT_NOINLINE void SleepPlainly(std::chrono::milliseconds d) {
  std::this_thread::sleep_for(d);
  asm volatile("" ::: "memory");
}
GCRT_NOINLINE void WaitPlainly(std::condition_variable& cv,
                               std::unique_lock<std::mutex>& lock,
                               const std::atomic<bool>& ready) {
  cv.wait(lock, [&] { return ready.load(); });
  asm volatile("" ::: "memory");
}
GCRT_NOINLINE void LockPlainly(std::mutex& mu) {
  mu.lock();
  asm volatile("" ::: "memory");
}
GCRT_NOINLINE void CaptureHere(Backtrace* bt) {
  bt->depth = ::backtrace(bt->frames, Backtrace::kMaxFrames);
  bt->first_exact = false;
  asm volatile("" ::: "memory");
}

TEST(BacktraceTest, SamplesAThreadBlockedInJoinAndTheJoinGoesOn) {
  std::atomic<bool> release{false}, joined{false};
  std::atomic<int> joiner_tid{0};
  std::thread target([&] {
    while (!release.load()) std::this_thread::sleep_for(1ms);
  });
  std::thread joiner([&] {
    joiner_tid = static_cast<int>(::gettid());
    JoinPlainly(target);
    joined = true;
  });
  ASSERT_TRUE(Eventually([&] { return joiner_tid.load() != 0; }));
  std::this_thread::sleep_for(50ms);  // into the join
  for (int i = 0; i < 3; i++) {
    Backtrace bt;
    ASSERT_EQ(SampleThreadStack(joiner_tid, 5s, &bt), SampleResult::kOk);
    std::string s = Symbolized(bt);
    EXPECT_NE(s.find("JoinPlainly(std::thread&)+0x"), std::string::npos) << s;
    EXPECT_NE(s.find("[backtrace_test+0x"), std::string::npos) << s;
  }
  std::this_thread::sleep_for(20ms);
  EXPECT_FALSE(joined.load()) << "the signal ended the join";
  release = true;
  joiner.join();
  EXPECT_TRUE(joined.load());
}

TEST(BacktraceTest, SleepForSleepsItsWholeTimeThroughTheSignal) {
  std::atomic<int> tid{0};
  std::atomic<bool> done{false};
  std::chrono::steady_clock::duration slept{};
  std::thread sleeper([&] {
    tid = static_cast<int>(::gettid());
    auto start = std::chrono::steady_clock::now();
    SleepPlainly(400ms);
    slept = std::chrono::steady_clock::now() - start;
    done = true;
  });
  ASSERT_TRUE(Eventually([&] { return tid.load() != 0; }));
  std::this_thread::sleep_for(50ms);
  int ok = 0;
  std::string seen;
  for (int i = 0; i < 3 && !done.load(); i++) {
    Backtrace bt;
    if (SampleThreadStack(tid, 1s, &bt) == SampleResult::kOk) {
      ok++;
      seen += Symbolized(bt);
    }
    std::this_thread::sleep_for(50ms);
  }
  sleeper.join();
  EXPECT_GE(ok, 1);
  EXPECT_NE(seen.find("SleepPlainly"), std::string::npos) << seen;
  // nanosleep returned EINTR at each signal; sleep_for slept the rest.
  EXPECT_GE(slept, 400ms);
}

TEST(BacktraceTest, ConditionVariableAndMutexWaitsGoOnThroughTheSignal) {
  std::mutex cv_mu;
  std::condition_variable cv;
  std::atomic<bool> ready{false}, woke{false}, locked{false};
  std::atomic<int> waiter_tid{0}, locker_tid{0};
  std::thread waiter([&] {
    waiter_tid = static_cast<int>(::gettid());
    std::unique_lock<std::mutex> lock(cv_mu);
    WaitPlainly(cv, lock, ready);
    woke = true;
  });
  std::mutex held;
  held.lock();
  std::thread locker([&] {
    locker_tid = static_cast<int>(::gettid());
    LockPlainly(held);
    locked = true;
    held.unlock();
  });
  ASSERT_TRUE(Eventually(
      [&] { return waiter_tid.load() != 0 && locker_tid.load() != 0; }));
  std::this_thread::sleep_for(50ms);  // into the wait and the lock

  Backtrace bt;
  ASSERT_EQ(SampleThreadStack(waiter_tid, 5s, &bt), SampleResult::kOk);
  std::string s = Symbolized(bt);
  EXPECT_NE(s.find("WaitPlainly("), std::string::npos) << s;

  // ThreadSanitizer delivers no signal to a thread blocked in
  // pthread_mutex_lock (it holds it until the call returns).
  SampleResult r = SampleThreadStack(locker_tid, 500ms, &bt);
#if GCRT_TSAN
  EXPECT_TRUE(r == SampleResult::kOk || r == SampleResult::kNoAnswer);
#else
  ASSERT_EQ(r, SampleResult::kOk);
#endif
  if (r == SampleResult::kOk) {
    s = Symbolized(bt);
    EXPECT_NE(s.find("LockPlainly(std::mutex&)"), std::string::npos) << s;
  }

  std::this_thread::sleep_for(20ms);
  EXPECT_FALSE(woke.load());
  EXPECT_FALSE(locked.load());
  held.unlock();
  {
    std::lock_guard<std::mutex> lock(cv_mu);
    ready = true;
  }
  cv.notify_all();
  waiter.join();
  locker.join();
  EXPECT_TRUE(woke.load());
  EXPECT_TRUE(locked.load());
  // A signal held back and delivered late found no request, and did
  // nothing; the next sample (of this thread itself) works.
  EXPECT_EQ(SampleThreadStack(static_cast<int>(::gettid()), 1s, &bt),
            SampleResult::kOk);
}

TEST(BacktraceTest, SymbolizesStaticFunctionsFromTheSymbolTable) {
  Backtrace bt;
  CaptureHere(&bt);
  ASSERT_GT(bt.depth, 1);
  // The first frame in this binary is CaptureHere's (under ThreadSanitizer,
  // its backtrace interceptor comes before). The dynamic linker does not
  // know the function (the test is not linked with -rdynamic): the name
  // comes from the file's .symtab.
  Dl_info self, info;
  ASSERT_NE(::dladdr(reinterpret_cast<void*>(&CaptureHere), &self), 0);
  int i = 0;
  while (i < bt.depth && (::dladdr(bt.frames[i], &info) == 0 ||
                          info.dli_fbase != self.dli_fbase)) {
    i++;
  }
  ASSERT_LT(i, bt.depth);
  EXPECT_EQ(info.dli_sname, nullptr);
  std::string s = Symbolized(bt);
  // (GCC may name a clone of it "CaptureHere(...) [clone .constprop.0]".)
  EXPECT_NE(s.find("  gc::runtime::(anonymous namespace)::CaptureHere("
                   "gc::runtime::Backtrace*)"),
            std::string::npos)
      << s;
  EXPECT_NE(s.find("SymbolizesStaticFunctionsFromTheSymbolTable_Test::"
                   "TestBody()+0x"),
            std::string::npos)
      << s;
}

TEST(BacktraceTest, NoSuchThread) {
  Backtrace bt;
  EXPECT_EQ(SampleThreadStack(0x7ffffff0, 100ms, &bt), SampleResult::kNoThread);
  EXPECT_EQ(bt.depth, 0);
}

// Checked in child processes: gcrt installs its handler once per process.
std::atomic<int> g_program_handler_calls{0};
void ProgramHandler(int, siginfo_t*, void*) { g_program_handler_calls++; }

void SampleAnIdleThread(SampleResult* r) {
  std::atomic<int> tid{0};
  std::atomic<bool> sampled{false};
  // Idle until sampled: a thread that had already ended when the signal
  // came (the sampler late on a loaded machine, or TSan deferring the
  // signal) would leave the sampler waiting out its timeout.
  std::thread t([&] {
    tid = static_cast<int>(::gettid());
    while (!sampled.load()) SleepPlainly(20ms);
  });
  while (tid.load() == 0) std::this_thread::sleep_for(1ms);
  Backtrace bt;
  *r = SampleThreadStack(tid, 5s, &bt);
  sampled = true;
  t.join();
}

void InstallProgramHandler() {
  struct sigaction sa = {};
  sa.sa_sigaction = &ProgramHandler;
  sa.sa_flags = SA_SIGINFO;
  sigaction(BacktraceSignal(), &sa, nullptr);
}

// Exits 0 if the program's handler, installed first, still gets the
// signals others send once gcrt's is installed over it.
void ChainCheck() {
  InstallProgramHandler();
  SampleResult r;
  SampleAnIdleThread(&r);  // installs gcrt's handler over the program's
  int before = g_program_handler_calls.load();
  pthread_kill(pthread_self(), BacktraceSignal());
  bool chained = g_program_handler_calls.load() == before + 1;
  std::_Exit(r == SampleResult::kOk && chained ? 0 : 1);
}

// Exits 0 if gcrt stops sending its signal once the program replaced the
// handler.
void TakeBackCheck() {
  SampleResult first, second;
  SampleAnIdleThread(&first);
  InstallProgramHandler();
  SampleAnIdleThread(&second);
  bool ok = first == SampleResult::kOk && second == SampleResult::kNoHandler &&
            g_program_handler_calls.load() == 0;
  std::_Exit(ok ? 0 : 1);
}

TEST(BacktraceTest, SignalsGcrtDidNotSendGoToTheProgramsHandler) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_EXIT(ChainCheck(), ::testing::ExitedWithCode(0), "");
}

TEST(BacktraceTest, AProgramThatTakesTheSignalBackIsNotSentIt) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_EXIT(TakeBackCheck(), ::testing::ExitedWithCode(0), "");
}

}  // namespace
}  // namespace gc::runtime
