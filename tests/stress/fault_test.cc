// Faults from outside: the OS refusing memory, and threads that exit while
// attached to the heap (tests/README.md).
//
// OS faults: runtime/os_mem.h's injection makes the N-th next reservation
// or commit fail. For each N, in a fresh process: a rooted structure with
// checksums is built, the fault is armed, and a mixed allocation load
// (small objects, arrays, large objects kept alive so the heap must grow,
// collections) runs until an allocation fails. The failing call must throw
// std::bad_alloc with a message, the structure must be intact, and once
// the fault has fired, allocation and collection (with the verifier on)
// must work again.
#include <gtest/gtest.h>

#include <atomic>
#include <cstdint>
#include <cstdlib>
#include <mutex>
#include <new>
#include <string>
#include <thread>
#include <vector>

#include "gcrt/gc.h"
#include "gcrt/runtime/os_mem.h"
#include "tests/test_support/mix.h"

namespace {

using gc::testing::Mix;

using gc::runtime::os::FaultKind;

struct Cell {
  gc::Ptr<Cell> next;
  gc::Ptr<gc::Array<uint64_t>> blob;
  uint64_t id = 0;
  uint64_t check = 0;
};

gc::Root<Cell> BuildList(int n) {
  gc::Root<Cell> head;
  for (int i = 0; i < n; i++) {
    gc::Root<Cell> c = gc::make<Cell>();
    c->id = i;
    c->check = Mix(i);
    if (i % 10 == 0) {
      auto b = gc::make_array<uint64_t>(64 + i % 700);
      for (size_t k = 0; k < b->size(); k++) (*b)[k] = Mix(i * 1000 + k);
      c->blob = b;
    }
    c->next = head;
    head = c;
  }
  return head;
}

int CountIntact(const Cell* c) {
  int n = 0;
  for (; c != nullptr; c = c->next.get()) {
    if (c->check != Mix(c->id)) return -1;
    if (c->blob) {
      for (size_t k = 0; k < c->blob->size(); k++) {
        if ((*c->blob)[k] != Mix(c->id * 1000 + k)) return -1;
      }
    }
    n++;
  }
  return n;
}

// The load that runs into the fault: garbage, arrays, and large objects
// kept until the end so the heap has to grow (reserve and commit).
void AllocateUntilFault(std::string* what) {
  std::vector<gc::Root<gc::Array<uint64_t>>> kept;
  for (int i = 0; i < 400000; i++) {
    try {
      if (i % 97 == 0) {
        kept.push_back(gc::make_array<uint64_t>(32768 + (i % 5) * 65536));
      } else if (i % 13 == 0) {
        gc::make_array<uint64_t>(i % 300);
      } else {
        gc::make_unrooted<Cell>();
      }
      if (i % 20000 == 0) gc::collect();
    } catch (const std::bad_alloc& e) {
      *what = e.what();
      return;
    }
  }
}

// Exit codes of the child, for the parent's message.
enum : int {
  kOk = 0,
  kNoFault = 10,
  kNoMessage = 11,
  kBrokenBefore = 12,
  kBrokenAfter = 13
};

// `warm`: the collector's own metadata (mark-bit arenas, which grow with
// the number of spans, from the same OS calls) is grown first by 64 MiB of
// small garbage swept twice, so the armed fault lands on the heap growth of
// the load. Cold, the fault lands on metadata as often: the mark bits the
// next sweep needs are reserved before a cycle marks, so a cycle the OS
// refuses them is refused with std::bad_alloc, nothing changed.
//
// Marking stops the world here: a triggered cycle then runs on the
// allocating thread, so a refused one reaches the load as std::bad_alloc.
// Marking beside the program runs it on the collector's background thread,
// which reports a refused cycle ("background collection skipped") and
// leaves the load to go on.
// `sticky`: the fault fires at every call from the n-th on, until the
// load has thrown; otherwise once, and the allocation that met it may
// have collected and tried again (Heap::RetryForMemory), met no fault,
// and gone on: the fault is absorbed.
[[noreturn]] void FaultChild(FaultKind kind, uint64_t n, bool warm,
                             bool sticky) {
  gc::set_verify(true);
  gc::set_concurrent_mark(false);
  if (warm) {
    for (int i = 0; i < 1300000; i++) gc::make_unrooted<Cell>();
    gc::collect();
    gc::collect();
  }
  gc::Root<Cell> list = BuildList(3000);
  gc::runtime::os::SetFailAfterForTesting(kind, n, sticky);
  std::string what;
  AllocateUntilFault(&what);
  const bool fired = gc::runtime::os::FaultArmedForTesting(kind) == 0;
  gc::runtime::os::SetFailAfterForTesting(kind, 0);
  if (what.empty() && !sticky && fired) {
    what = "absorbed: gcrt collected and the allocation found room";
  }
  if (what.empty()) {
    std::fprintf(stderr, "no fault\n");
    std::_Exit(kNoFault);
  }
  std::fprintf(stderr, "fault: %s\n", what.c_str());
  if (what.find("gcrt") == std::string::npos &&
      what.find("out of memory") == std::string::npos) {
    std::_Exit(kNoMessage);
  }
  if (CountIntact(list.get()) != 3000) std::_Exit(kBrokenBefore);
  // The fault fired once: the heap works again.
  gc::Root<Cell> more = BuildList(2000);
  for (int i = 0; i < 100; i++) gc::make_array<uint64_t>(20000);
  gc::collect();
  gc::collect();
  if (CountIntact(list.get()) != 3000 || CountIntact(more.get()) != 2000) {
    std::_Exit(kBrokenAfter);
  }
  std::_Exit(kOk);
}

class FaultInjection
    : public ::testing::TestWithParam<std::pair<FaultKind, uint64_t>> {};

// An OS that keeps refusing: the load gets std::bad_alloc, and nothing is
// lost; once the OS grants again, the heap works.
TEST_P(FaultInjection, FailingCallsThrowBadAllocAndNothingIsLost) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  auto [kind, n] = GetParam();
  EXPECT_EXIT(FaultChild(kind, n, /*warm=*/true, /*sticky=*/true),
              testing::ExitedWithCode(kOk), "fault: .*out of memory")
      << "exit codes: 10 no fault fired, 11 no message, 12 objects broken by "
         "the fault, 13 heap broken after it";
}

class ColdFaultInjection : public FaultInjection {};

TEST_P(ColdFaultInjection, FaultsInCollectorMetadataToo) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  auto [kind, n] = GetParam();
  EXPECT_EXIT(FaultChild(kind, n, /*warm=*/false, /*sticky=*/false),
              testing::ExitedWithCode(kOk), "fault: ")
      << "exit codes: 10 no fault fired, 11 no message, 12 objects broken by "
         "the fault, 13 heap broken after it";
}

INSTANTIATE_TEST_SUITE_P(
    OsFaults, FaultInjection,
    ::testing::Values(
        std::pair{FaultKind::kReserve, 1}, std::pair{FaultKind::kReserve, 2},
        std::pair{FaultKind::kReserve, 3}, std::pair{FaultKind::kCommit, 1},
        std::pair{FaultKind::kCommit, 2}, std::pair{FaultKind::kCommit, 3},
        std::pair{FaultKind::kCommit, 5}, std::pair{FaultKind::kCommit, 8},
        std::pair{FaultKind::kCommit, 13}, std::pair{FaultKind::kCommit, 21},
        std::pair{FaultKind::kCommit, 34}),
    [](const auto& info) {
      return std::string(info.param.first == FaultKind::kReserve ? "reserve"
                                                                 : "commit") +
             "_" + std::to_string(info.param.second);
    });

INSTANTIATE_TEST_SUITE_P(
    OsFaults, ColdFaultInjection,
    ::testing::Values(
        std::pair{FaultKind::kReserve, 1}, std::pair{FaultKind::kReserve, 2},
        std::pair{FaultKind::kReserve, 3}, std::pair{FaultKind::kReserve, 4},
        std::pair{FaultKind::kCommit, 1}, std::pair{FaultKind::kCommit, 2},
        std::pair{FaultKind::kCommit, 3}, std::pair{FaultKind::kCommit, 4},
        std::pair{FaultKind::kCommit, 6}, std::pair{FaultKind::kCommit, 9},
        std::pair{FaultKind::kCommit, 14}, std::pair{FaultKind::kCommit, 22}),
    [](const auto& info) {
      return std::string(info.param.first == FaultKind::kReserve ? "reserve"
                                                                 : "commit") +
             "_" + std::to_string(info.param.second);
    });

struct Link {
  gc::Ptr<Link> next;
};

// A cycle needs, before it marks, the mark bits its sweep will take (a span
// being swept cannot give up halfway). With 3 M small objects live in
// spans whose bits used up the mapped arenas, the reserve needs the OS;
// when the OS refuses, gc::collect() throws std::bad_alloc naming the
// collector's metadata, the world runs on, nothing is lost, no cycle was
// counted, and the next collection works.
[[noreturn]] void SweepReserveChild() {
  gc::set_verify(true);
  gc::set_gc_percent(-1);  // no cycle grows the reserve meanwhile
  gc::Root<Cell> list = BuildList(1000);
  gc::Root<Link> chain = gc::make<Link>();
  constexpr int kLinks = 3000000;
  for (int i = 0; i < kLinks; i++) {
    gc::Ptr<Link> n = gc::make_unrooted<Link>();
    n->next = chain;
    chain = n;
  }
  const uint64_t cycles = gc::stats().num_gc;
  gc::runtime::os::SetFailAfterForTesting(FaultKind::kReserve, 1);
  try {
    gc::collect();
    std::fprintf(stderr, "no fault\n");
    std::_Exit(kNoFault);
  } catch (const std::bad_alloc& e) {
    std::fprintf(stderr, "fault: %s\n", e.what());
    if (std::string(e.what()).find("gcBits") == std::string::npos) {
      std::_Exit(kNoMessage);
    }
  }
  int links = 0;
  for (const Link* l = chain.get(); l != nullptr; l = l->next.get()) links++;
  if (CountIntact(list.get()) != 1000 || links != kLinks + 1 ||
      gc::stats().num_gc != cycles) {
    std::_Exit(kBrokenBefore);
  }
  gc::Root<Cell> more = BuildList(500);
  chain = nullptr;
  gc::collect();
  if (CountIntact(list.get()) != 1000 || CountIntact(more.get()) != 500 ||
      gc::stats().num_gc != cycles + 1) {
    std::_Exit(kBrokenAfter);
  }
  std::_Exit(kOk);
}

TEST(SweepReserve, ACycleTheOsRefusesMetadataIsRefusedAndNothingIsLost) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_EXIT(SweepReserveChild(), testing::ExitedWithCode(kOk),
              "fault: gcrt: out of memory: cannot reserve [0-9]+ bytes for "
              "gcBits arenas")
      << "exit codes: 10 no fault fired, 11 not the metadata's, 12 objects "
         "broken by the fault, 13 heap broken after it";
}

// Threads that exit while attached, holding cached spans, handles and
// objects they handed to others: their processors are reused, their
// caches flushed, what they handed over survives, and what they dropped
// is reclaimed.
TEST(ThreadExit, ThreadsThatDieAttachedLoseNothingAndLeakNothing) {
  gc::set_verify(true);
  gc::collect();
  const uint64_t objects_before = gc::stats().heap_objects;
  std::mutex mu;
  std::vector<gc::Global<Cell>> handed;  // Guarded by mu.
  for (int round = 0; round < 10; round++) {
    std::vector<std::thread> threads;
    for (int t = 0; t < 4; t++) {
      threads.emplace_back([&, t] {
        gc::Root<Cell> mine = BuildList(500);  // rooted until exit
        for (int i = 0; i < 2000; i++) gc::make_unrooted<Cell>();
        // Built before the lock: an allocation may stop the world, which
        // would wait forever for a thread blocked on the lock meanwhile.
        gc::Global<Cell> list(BuildList(100 + t));
        std::lock_guard<std::mutex> lock(mu);
        handed.push_back(std::move(list));
        // Exits without gc::detach_thread(): the exit hook detaches.
      });
    }
    gc::Blocking waiting;
    for (std::thread& th : threads) th.join();
  }
  gc::collect();
  uint64_t live = 0;
  for (const gc::Global<Cell>& g : handed) {
    int n = CountIntact(g.get());
    ASSERT_GT(n, 0) << "a handed-over list was broken";
    live += n + (n + 9) / 10;  // cells and their blobs
  }
  EXPECT_EQ(gc::stats().heap_objects - objects_before, live)
      << "everything the exited threads dropped was reclaimed, and nothing "
         "they handed over";
  EXPECT_LE(gc::runtime::ProcessorCount(), 64u);
  handed.clear();
  gc::collect();
  EXPECT_EQ(gc::stats().heap_objects, objects_before);
}

}  // namespace
