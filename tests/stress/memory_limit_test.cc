// Allocation storms near a memory limit (gc::set_memory_limit), in a binary
// of their own so the heap starts empty: churn under the limit keeps the
// heap under it and collects sooner; keeping more live than the limit
// allows makes the allocation that would pass it throw std::bad_alloc with
// a message, with every object allocated before intact, and allocation
// works again once references are dropped. GCRT_MEMORY_LIMIT sets it from
// the environment.
#include <gtest/gtest.h>

#include <cstdint>
#include <cstdlib>
#include <new>
#include <string>
#include <vector>

#include "gcrt/gc.h"
#include "gcrt/gc/quarantine.h"
#include "tests/test_support/mix.h"
#include "tests/test_support/verified_heap_test.h"

namespace {

using gc::testing::Mix;

struct Cell {
  gc::Ptr<Cell> next;
  gc::Ptr<gc::Array<uint64_t>> blob;
  uint64_t id = 0;
  uint64_t check = 0;
};

// Prepends a cell with a blob of `blob_len` words to *head.
void Push(gc::Root<Cell>* head, uint64_t id, size_t blob_len) {
  gc::Root<Cell> c = gc::make<Cell>();
  c->id = id;
  c->check = Mix(id);
  gc::Root<gc::Array<uint64_t>> b = gc::make_array<uint64_t>(blob_len);
  (*b)[0] = Mix(id + 1);
  (*b)[blob_len - 1] = Mix(id + 2);
  c->blob = b;
  c->next = *head;
  *head = c;
}

// The length of the list, or -1 if any cell or blob is damaged.
long CountIntact(const Cell* c) {
  long n = 0;
  for (; c != nullptr; c = c->next.get(), n++) {
    const auto& b = *c->blob;
    if (c->check != Mix(c->id) || b[0] != Mix(c->id + 1) ||
        b[b.size() - 1] != Mix(c->id + 2)) {
      return -1;
    }
  }
  return n;
}

constexpr uint64_t kLimit = 64 << 20;

class MemoryLimit : public gc::testing::VerifiedHeapTest {
 protected:
  void TearDown() override {
    gc::set_out_of_memory_callback(nullptr);
    gc::set_memory_limit(0);
  }
};

TEST_F(MemoryLimit, StormsUnderTheLimitStayUnderIt) {
  EXPECT_EQ(gc::set_memory_limit(kLimit), 0u);
  gc::Root<Cell> live;
  for (int i = 0; i < 2000; i++) Push(&live, i, 1500);  // ~24 MiB live
  const uint64_t cycles_before = gc::stats().num_gc;
  uint64_t max_sys = 0;
  // ~1.5 GiB of garbage in small, medium and large objects.
  for (int i = 0; i < 60000; i++) {
    gc::Root<Cell> garbage;
    Push(&garbage, i, i % 50 == 0 ? 8192 : 1 + i % 3000);
    if (i % 1000 == 0) max_sys = std::max(max_sys, gc::stats().heap_sys);
  }
  gc::Stats s = gc::stats();
  max_sys = std::max(max_sys, s.heap_sys);
  EXPECT_LE(max_sys, kLimit) << "the heap stayed under its limit";
  EXPECT_LE(s.next_gc, kLimit / 8 * 7) << "cycles come by 7/8 of the limit";
  EXPECT_GT(s.num_gc, cycles_before);
  EXPECT_EQ(CountIntact(live.get()), 2000);
}

TEST_F(MemoryLimit, PastTheLimitThrowsBadAllocAndLosesNothing) {
  gc::set_memory_limit(kLimit);
  gc::Root<Cell> live;
  long made = 0;
  std::string what;
  try {
    // 16 KiB each, all kept; 1.6 GiB at most if the limit did not hold.
    for (; made < 100000; made++) Push(&live, made, 2000);
  } catch (const std::bad_alloc& e) {
    what = e.what();
  }
  EXPECT_NE(what.find("limit"), std::string::npos) << what;
  EXPECT_NE(what.find("gc::set_memory_limit"), std::string::npos) << what;
  EXPECT_NE(what.find("gc::why_alive names what keeps an object"),
            std::string::npos)
      << what;
  // Everything is kept: the message says the live set is what does not
  // fit (a server trial could not tell it from a passing shortage, and
  // failed every request, each after a full cycle, for minutes).
  EXPECT_NE(what.find("a collection ran first and left"), std::string::npos)
      << what;
  EXPECT_NE(what.find("the live set does not fit"), std::string::npos) << what;
  EXPECT_GT(made, 1000) << "most of the limit was usable";
  EXPECT_LE(gc::stats().heap_sys, kLimit);
  // Every cell made before the failure is intact (the one that failed
  // half-way was never linked).
  EXPECT_EQ(CountIntact(live.get()), made);
  // Drop all but 100 and allocate again: it works.
  gc::Root<Cell> keep = live;
  for (int i = 0; i < 99 && keep; i++) keep = gc::Root<Cell>(keep->next);
  if (keep) keep->next = nullptr;
  gc::collect();
  EXPECT_EQ(CountIntact(live.get()), 100);
  gc::Root<Cell> more;
  for (int i = 0; i < 1000; i++) Push(&more, i, 2000);
  EXPECT_EQ(CountIntact(more.get()), 1000);
  EXPECT_LE(gc::stats().heap_sys, kLimit);
}

// A single request larger than the limit is told apart from a heap the
// live objects fill: dropping references cannot make it fit.
TEST_F(MemoryLimit, ARequestLargerThanTheLimitSaysSo) {
  gc::set_memory_limit(kLimit);
  std::string what;
  try {
    gc::make_array<char>(2 * kLimit);
  } catch (const std::bad_alloc& e) {
    what = e.what();
  }
  EXPECT_NE(what.find("this request alone"), std::string::npos) << what;
  EXPECT_EQ(what.find("the live set does not fit"), std::string::npos) << what;
}

// After std::bad_alloc the program drops its references and allocates
// again, calling nothing else: the allocation that finds no memory runs a
// cycle first (nothing had triggered one: the heap was below its goal).
TEST_F(MemoryLimit, AfterBadAllocDroppingReferencesIsEnough) {
  gc::set_memory_limit(kLimit);
  for (size_t blob : {size_t{2000}, size_t{1} << 17}) {  // 16 KiB, 1 MiB
    gc::Root<Cell> live;
    bool refused = false;
    try {
      for (long made = 0; made < 100000; made++) Push(&live, made, blob);
    } catch (const std::bad_alloc&) {
      refused = true;
    }
    ASSERT_TRUE(refused);
    live = nullptr;  // every reference dropped
    const uint64_t cycles = gc::stats().num_gc;
    gc::Root<Cell> more;
    EXPECT_NO_THROW({
      for (int i = 0; i < 2000; i++) {
        more = nullptr;
        Push(&more, i, blob);
      }
    }) << "blob of "
       << blob << " words";
    EXPECT_GT(gc::stats().num_gc, cycles);
    EXPECT_LE(gc::stats().heap_sys, kLimit);
  }
}

TEST_F(MemoryLimit, WithCollectionOffTheLimitStillTriggersCycles) {
  gc::set_memory_limit(kLimit);
  const int old = gc::set_gc_percent(-1);
  const uint64_t cycles_before = gc::stats().num_gc;
  bool refused = false;
  try {
    for (int i = 0; i < 20000; i++) {  // ~300 MiB of garbage
      gc::Root<Cell> garbage;
      Push(&garbage, i, 2000);
    }
  } catch (const std::bad_alloc&) {
    refused = true;
  }
  gc::set_gc_percent(old);
  EXPECT_FALSE(refused) << "garbage alone never passes the limit";
  EXPECT_GT(gc::stats().num_gc, cycles_before)
      << "as Go's GOGC=off with GOMEMLIMIT";
  EXPECT_LE(gc::stats().heap_sys, kLimit);
}

// The out-of-memory callback runs before std::bad_alloc, once per failing
// allocation, with the figures; what it drops makes the allocation
// succeed (a cache the program can rebuild).
TEST_F(MemoryLimit, TheOutOfMemoryCallbackRunsBeforeBadAllocAndCanMakeRoom) {
  gc::set_memory_limit(kLimit);
  gc::Root<Cell> cache;  // droppable
  gc::Root<Cell> live;
  std::vector<gc::OutOfMemoryInfo> calls;
  gc::set_out_of_memory_callback([&](const gc::OutOfMemoryInfo& info) {
    calls.push_back(info);
    cache = nullptr;  // the program lets its cache go
  });
  long made = 0;
  // Fill about half of the limit with the cache, then keep allocating
  // live cells: the first allocation without room calls back, the cache
  // goes, and allocation goes on.
  for (long i = 0; i < 1900; i++) Push(&cache, i, 2000);  // ~30 MiB
  bool refused = false;
  try {
    for (; made < 100000; made++) Push(&live, made, 2000);
  } catch (const std::bad_alloc&) {
    refused = true;
  }
  ASSERT_TRUE(refused) << "the limit holds in the end";
  ASSERT_GE(calls.size(), 2u) << "once for the cache, once at the end";
  EXPECT_EQ(calls[0].memory_limit, kLimit);
  EXPECT_GT(calls[0].requested_bytes, 0u);
  EXPECT_GT(calls[0].heap_live, kLimit / 4);
  EXPECT_LE(calls[0].heap_live, kLimit);
  EXPECT_EQ(cache, nullptr);
  // The cache's room was used: more live cells than the limit left beside
  // it before.
  EXPECT_GT(made, 2500);
  EXPECT_EQ(CountIntact(live.get()), made);
}

// The same with the quarantine on (debug builds' default, GCRT_DEBUG=
// quarantine=1): what a cycle finds dead stays one more cycle, and the
// collection after the callback must free the dropped cache all the same.
TEST_F(MemoryLimit, TheCallbacksRoomIsUsedWithTheQuarantineOn) {
  gc::internal::SetReclaimQuarantine(true);
  struct Off {
    ~Off() {
      gc::internal::SetReclaimQuarantine(false);
      gc::collect();  // frees what the quarantine kept
      gc::collect();
    }
  } off;
  gc::set_memory_limit(kLimit);
  gc::Root<Cell> cache;
  gc::Root<Cell> live;
  int calls = 0;
  gc::set_out_of_memory_callback([&](const gc::OutOfMemoryInfo&) {
    calls++;
    cache = nullptr;
  });
  for (long i = 0; i < 1900; i++) Push(&cache, i, 2000);  // ~30 MiB
  long made = 0;
  try {
    for (; made < 100000; made++) Push(&live, made, 2000);
  } catch (const std::bad_alloc&) {
  }
  ASSERT_GE(calls, 1);
  EXPECT_EQ(cache, nullptr);
  // Without the second cycle the first callback's retry threw, with about
  // 2,000 cells made beside the cache.
  EXPECT_GT(made, 2500) << "the dropped cache's room was used";
  EXPECT_EQ(CountIntact(live.get()), made);
}

// The callback may raise the limit instead (last: the heap memory it lets
// the heap take stays in heap_sys, which the tests above hold to the
// limit); one that does nothing leaves
// the allocation to throw, after exactly one call.
TEST_F(MemoryLimit, TheOutOfMemoryCallbackCanRaiseTheLimitOrDoNothing) {
  gc::set_memory_limit(kLimit);
  int calls = 0;
  gc::set_out_of_memory_callback([&](const gc::OutOfMemoryInfo&) {
    if (++calls == 1) gc::set_memory_limit(kLimit * 2);
  });
  gc::Root<Cell> live;
  long made = 0;
  bool refused = false;
  try {
    for (; made < 100000; made++) Push(&live, made, 2000);
  } catch (const std::bad_alloc&) {
    refused = true;
  }
  EXPECT_TRUE(refused);
  EXPECT_EQ(calls, 2) << "raised once, then nothing: bad_alloc";
  EXPECT_GT(gc::stats().heap_sys, kLimit) << "the raised limit was used";
  EXPECT_LE(gc::stats().heap_sys, kLimit * 2);
  EXPECT_EQ(CountIntact(live.get()), made);
}

TEST(MemoryLimitEnvironment, GcrtMemoryLimitSetsTheLimit) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_EXIT(
      {
        setenv("GCRT_MEMORY_LIMIT", "48MiB", 1);
        std::exit(gc::set_memory_limit(0) == (uint64_t{48} << 20) ? 0 : 1);
      },
      testing::ExitedWithCode(0), "");
}

}  // namespace
