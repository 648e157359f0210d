// gcrt and the system: its own threads leave the program's signals to
// the program's threads, and when the system refuses it a thread or
// memory (an address-space limit, `ulimit -v`) the program goes on.

#include <gtest/gtest.h>
#include <signal.h>
#include <sys/resource.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>

#include "gcrt/gc.h"
#include "gcrt/runtime/thread_start.h"
#include "gcrt/task.h"

namespace {

// gcrt's threads block the asynchronous signals, so that a process-directed
// signal runs the program's handler on a program thread (a new user's
// SIGALRM handler ran on gcrt-scavenge and gcrt-sweep, 4 times in 193);
// a fault's signals and SIGPROF (a sampling profiler's) stay unblocked.
TEST(SystemTest, GcrtsThreadsLeaveTheProgramsSignalsToIt) {
  gc::set_gc_percent(100);
  {
    gc::Root<gc::Array<int64_t>> big = gc::make_array<int64_t>(1 << 20);
    gc::collect();  // the sweeper and the mark helpers
    for (int i = 0; i < 20000; i++) gc::make_array<int64_t>(64);
  }
  gc::go([] {}).join();  // a task worker and the monitor
  int checked = 0;
  for (const auto& task :
       std::filesystem::directory_iterator("/proc/self/task")) {
    std::string name;
    unsigned long long blocked = 0;
    bool have_mask = false;
    const auto bit = [&](int sig) { return (blocked >> (sig - 1)) & 1; };
    // glibc's pthread_create blocks every signal in the creating thread
    // while it clones, so a worker caught starting another thread shows
    // SIGSEGV blocked for a moment: read again until that passes (a thread
    // that keeps it blocked for a second fails).
    for (int attempt = 0; attempt < 1000; attempt++) {
      std::ifstream status(task.path() / "status");
      std::string line;
      have_mask = false;
      while (std::getline(status, line)) {
        if (line.rfind("Name:", 0) == 0) name = line.substr(6);
        if (line.rfind("SigBlk:", 0) == 0) {
          blocked = std::stoull(line.substr(8), nullptr, 16);
          have_mask = true;
        }
      }
      if (!have_mask || !bit(SIGSEGV)) break;
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    if (name.rfind("gcrt-", 0) != 0 || !have_mask) continue;
    for (int sig : {SIGALRM, SIGINT, SIGTERM, SIGCHLD, SIGUSR1, SIGUSR2}) {
      EXPECT_TRUE(bit(sig)) << name << " leaves signal " << sig << " open";
    }
    for (int sig : {SIGSEGV, SIGBUS, SIGFPE, SIGPROF}) {
      EXPECT_FALSE(bit(sig)) << name << " blocks signal " << sig;
    }
    checked++;
  }
  EXPECT_GE(checked, 3) << "gcrt's threads: the sweeper, a mark helper, "
                           "a task worker and the task monitor at least";
}

// Whether a thread of the process is named `name` (gcrt's threads name
// themselves as they start: waits up to 5 seconds for it).
bool HasThreadNamed(const std::string& name) {
  for (int attempt = 0; attempt < 500; attempt++) {
    for (const auto& task :
         std::filesystem::directory_iterator("/proc/self/task")) {
      std::ifstream comm(task.path() / "comm");
      std::string line;
      if (std::getline(comm, line) && line == name) return true;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return false;
}

// The sweeper's and the scavenger's threads start with the heap; when the
// system refuses them then, the end of each cycle tries again (they were
// not, and periodic cycles and background scavenging stopped for good).
TEST(SystemDeathTest, RefusedSweeperAndScavengerThreadsStartAtALaterCycle) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_EXIT(
      {
        gc::runtime::RefuseThreadStartsForTesting(true);
        gc::set_stack_scan(false);
        for (int i = 0; i < 1000; i++) gc::make_array<int64_t>(16);
        gc::collect();
        for (const char* name : {"gcrt-sweep", "gcrt-scavenge"}) {
          for (const auto& task :
               std::filesystem::directory_iterator("/proc/self/task")) {
            std::ifstream comm(task.path() / "comm");
            std::string line;
            if (std::getline(comm, line) && line == name) std::_Exit(3);
          }
        }
        gc::runtime::RefuseThreadStartsForTesting(false);
        gc::collect();
        if (!HasThreadNamed("gcrt-sweep")) std::_Exit(4);
        if (!HasThreadNamed("gcrt-scavenge")) std::_Exit(5);
        std::_Exit(0);
      },
      ::testing::ExitedWithCode(0), "");
}

// When the system refuses a thread or memory: the program goes on,
// collecting on the allocating thread, instead of a std::system_error out
// of gc::make and a hang at the next allocation (a new user's trial under
// ulimit -v), or a std::bad_alloc while the heap holds garbage no cycle
// has collected. Each test runs in a fresh process, under a limit set
// just above what it has mapped. Not under the sanitizers: their own
// allocators fail first under such a limit.

#if !defined(GCRT_TSAN) && !defined(GCRT_ASAN)

struct Blob {
  gc::Ptr<Blob> next;
  char bytes[1000];
};

// Limits the address space to what the process maps now plus `extra`.
void LimitAddressSpace(size_t extra) {
  long pages = 0;
  FILE* f = std::fopen("/proc/self/statm", "r");
  if (f == nullptr || std::fscanf(f, "%ld", &pages) != 1) std::_Exit(3);
  std::fclose(f);
  rlimit limit{};
  limit.rlim_cur = limit.rlim_max = static_cast<rlim_t>(pages) * 4096 + extra;
  if (setrlimit(RLIMIT_AS, &limit) != 0) std::_Exit(4);
}

// The first triggered cycle starts the background collector's thread;
// with no room for its stack, the allocating thread runs the cycles.
TEST(SystemDeathTest, ARefusedCollectorThreadLeavesCyclesToTheProgram) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_EXIT(
      {
        gc::set_stack_scan(false);
        for (int i = 0; i < 1000; i++) gc::make_unrooted<Blob>();
        const uint64_t cycles_before = gc::stats().num_gc;
        LimitAddressSpace(size_t{4} << 20);  // less than a thread's stack
        gc::Root<Blob> kept = gc::make<Blob>();
        try {
          for (int i = 0; i < 64 * 1024; i++) {  // 64 MiB of garbage
            gc::Ptr<Blob> garbage = gc::make_unrooted<Blob>();
            if (i % 1024 == 0) kept->next = garbage;
          }
        } catch (const std::exception& e) {
          std::fprintf(stderr, "threw: %s\n", e.what());
          std::_Exit(5);
        }
        std::_Exit(gc::stats().num_gc >= cycles_before + 2 ? 0 : 6);
      },
      ::testing::ExitedWithCode(0),
      "cannot start the background collector's thread .*triggered cycles "
      "run on the allocating thread");
}

// With a heap goal the OS will not grant (a minimum heap of 1 GiB), the
// heap grows until the OS refuses it another arena; the allocation then
// collects and finds the room its garbage held, as it does under a memory
// limit. (With GCRT_GCPERCENT=off and no limit no cycle runs, as in Go.)
TEST(SystemDeathTest, AnOsThatRefusesMemoryIsCollectedForFirst) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_EXIT(
      {
        gc::set_stack_scan(false);
        gc::set_min_heap(uint64_t{1} << 30);
        for (int i = 0; i < 1000; i++) gc::make_unrooted<Blob>();
        LimitAddressSpace(size_t{32} << 20);  // less than a heap arena
        try {
          for (int i = 0; i < 256 * 1024; i++) {  // 256 MiB of garbage
            gc::make_unrooted<Blob>();
          }
        } catch (const std::bad_alloc& e) {
          std::fprintf(stderr, "threw: %s\n", e.what());
          std::_Exit(5);
        }
        std::_Exit(gc::stats().num_gc >= 1 ? 0 : 6);
      },
      ::testing::ExitedWithCode(0), "");
}

#endif

}  // namespace
