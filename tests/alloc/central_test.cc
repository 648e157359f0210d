// Tests of the central free lists (alloc/central.h): what a Central hands
// a Cache and takes back, how it files spans, frees into spans the
// caller's cache does not own (under its lock when no cache holds the
// span, into the span's freebuf when another cache does, folded in when
// that cache gives the span back), and its counts, kept as Go keeps them.
#include "gcrt/alloc/central.h"

#include <sys/wait.h>

#include <condition_variable>
#include <csignal>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <map>
#include <mutex>
#include <stdexcept>
#include <thread>
#include <unordered_set>
#include <utility>
#include <vector>

#include "gcrt/alloc/cache.h"
#include "gcrt/alloc/heap.h"
#include "gcrt/alloc/size_classes.h"
#include "gcrt/alloc/span.h"
#include "gtest/gtest.h"
#include "tests/test_support/heap_stats.h"
#include "tests/test_support/mix.h"
#include "tests/test_support/sanitizers.h"

namespace gc::alloc {
namespace {

// Sanitizers: keep each binary well under 20 s.
constexpr int kScale = gc::testing::kUnderSanitizer ? 4 : 8;

using gc::testing::CheckStamp;
using gc::testing::FlushedStats;
using gc::testing::IsZero;
using gc::testing::PagesAddUp;
using gc::testing::Stamp;

constexpr TypeInfo kRawType = {"raw", 1, 1, true, nullptr, nullptr, 0, nullptr};

// Each test below that reads a Central's own figures uses a size class no
// other test here allocates, so those figures are the test's alone.

// ---- (a) Handing spans out and taking them back. ----

TEST(CentralTest, ExchangeHandsOutSpansOfItsClassAndReleaseTakesThemBack) {
  const SpanClass sc = MakeSpanClass(SizeToClass(1024), /*noscan=*/true);
  Central& c = Heap::Get().central(sc);
  const Central::Stats before = c.ReadStats();
  const uint64_t inuse_before = Heap::Get().pages().ReadStats().inuse_bytes;
  Span* got = c.Exchange(nullptr, 0, 3);
  ASSERT_NE(got, nullptr);
  int n = 0;
  uint64_t assumed = 0;
  for (Span* s = got; s != nullptr; s = s->next) {
    n++;
    EXPECT_EQ(s->span_class, sc);
    EXPECT_EQ(s->elem_size, 1024u);
    EXPECT_TRUE(s->in_cache);
    EXPECT_EQ(s->state.load(), SpanState::kInUse);
    EXPECT_TRUE(s->IsValid());
    assumed += s->nelems - s->alloc_count;
  }
  EXPECT_GE(n, 1);
  EXPECT_LE(n, 3) << "no more spans than asked for";
  EXPECT_GT(Heap::Get().pages().ReadStats().inuse_bytes, inuse_before);
  // A cached span's free slots count as allocated, and their bytes as live.
  const Central::Stats cached = c.ReadStats();
  EXPECT_EQ(cached.mallocs - before.mallocs, assumed);
  EXPECT_EQ(cached.live_bytes - before.live_bytes,
            static_cast<int64_t>(assumed * 1024));
  EXPECT_EQ(cached.partial_spans, before.partial_spans) << "on no list";

  // Given back unused: nothing was allocated, the empty spans go back to
  // the page heap, and the assumed slots are uncounted.
  c.Release(got, 0);
  const Central::Stats after = c.ReadStats();
  EXPECT_EQ(after.mallocs, before.mallocs);
  EXPECT_EQ(after.frees, before.frees);
  EXPECT_EQ(after.live_bytes, before.live_bytes);
  EXPECT_EQ(after.partial_spans, before.partial_spans);
  EXPECT_EQ(after.full_spans, before.full_spans);
  EXPECT_EQ(Heap::Get().pages().ReadStats().inuse_bytes, inuse_before);
  EXPECT_TRUE(c.Verify());
}

TEST(CentralTest, AFlushFilesSpansAsFullOrPartialAndFreesRefileThem) {
  constexpr TypeInfo kObj1152 = {"obj1152", 1152,    8, true,
                                 nullptr,   nullptr, 0, nullptr};
  constexpr int kClass = SizeToClass(1152);
  static_assert(ClassToSize(kClass) == 1152);
  const uint32_t per_span = ClassToNElems(kClass);
  Central& c = Heap::Get().central(MakeSpanClass(kClass, /*noscan=*/true));
  FlushCurrentCache();
  const Central::Stats before = c.ReadStats();
  const uint32_t count = 2 * per_span + 3;
  std::vector<void*> objects;
  for (uint32_t i = 0; i < count; i++) {
    objects.push_back(Allocate(&kObj1152, 1152));
  }
  std::map<Span*, std::vector<void*>> by_span;
  for (void* p : objects) by_span[SpanOf(p)].push_back(p);
  ASSERT_EQ(by_span.size(), 3u) << "slots are taken span by span";
  FlushCurrentCache();  // the spans go back to the Central

  Central::Stats st = c.ReadStats();
  EXPECT_EQ(st.full_spans - before.full_spans, 2u);
  EXPECT_EQ(st.partial_spans - before.partial_spans, 1u);
  EXPECT_EQ(st.mallocs - before.mallocs, count);
  EXPECT_EQ(st.live_bytes - before.live_bytes, int64_t{count} * 1152);
  EXPECT_TRUE(c.Verify());

  // One free into a full span no cache holds makes it partial.
  Span* full = nullptr;
  for (auto& [s, v] : by_span) {
    if (v.size() == per_span) full = s;
  }
  ASSERT_NE(full, nullptr);
  std::vector<void*>& in_full = by_span[full];
  Free(in_full.back());
  in_full.pop_back();
  st = c.ReadStats();
  EXPECT_EQ(st.full_spans - before.full_spans, 1u);
  EXPECT_EQ(st.partial_spans - before.partial_spans, 2u);
  EXPECT_EQ(st.frees - before.frees, 1u);
  EXPECT_TRUE(c.Verify());

  // Freeing the rest of it empties it: it goes back to the page heap.
  const uint64_t inuse = Heap::Get().pages().ReadStats().inuse_bytes;
  for (void* p : in_full) Free(p);
  in_full.clear();
  st = c.ReadStats();
  EXPECT_EQ(st.partial_spans - before.partial_spans, 1u);
  EXPECT_EQ(Heap::Get().pages().ReadStats().inuse_bytes,
            inuse - uint64_t{full->npages} * kPageSize);
  EXPECT_TRUE(c.Verify());

  for (auto& [s, v] : by_span) {
    for (void* p : v) Free(p);
  }
  const Central::Stats after = c.ReadStats();
  EXPECT_EQ(after.full_spans, before.full_spans);
  EXPECT_EQ(after.partial_spans, before.partial_spans);
  EXPECT_EQ(after.mallocs - before.mallocs, count);
  EXPECT_EQ(after.frees - before.frees, count);
  EXPECT_EQ(after.live_bytes, before.live_bytes);
}

TEST(CentralTest, IsAllocatedUnlessCachedReadsOnlySpansNoCacheHolds) {
  constexpr TypeInfo kObj1280 = {"obj1280", 1280,    8, true,
                                 nullptr,   nullptr, 0, nullptr};
  void* a = Allocate(&kObj1280, 1280);
  void* b = Allocate(&kObj1280, 1280);
  Span* s = SpanOf(a);
  ASSERT_EQ(SpanOf(b), s);
  ASSERT_TRUE(t_cache->Owns(s));
  const uint32_t slot_a = s->SlotIndex(reinterpret_cast<uintptr_t>(a));
  const uint32_t slot_b = s->SlotIndex(reinterpret_cast<uintptr_t>(b));
  Central& c = Heap::Get().central(s->span_class);
  Free(b);  // owned: the slot is free in this cache's span
  EXPECT_TRUE(c.IsAllocatedUnlessCached(s, slot_b))
      << "a cached span's allocation state is its cache's alone";
  FlushCurrentCache();
  EXPECT_FALSE(c.IsAllocatedUnlessCached(s, slot_b));
  EXPECT_TRUE(c.IsAllocatedUnlessCached(s, slot_a));
  Free(a);
}

// ---- (b) Frees into a span no cache holds: under the Central's lock. ----

TEST(CentralTest, DoubleFreeInASpanNoCacheHoldsThrows) {
  void* keep = Allocate(&kRawType, 200);  // keeps the span in use
  void* p = Allocate(&kRawType, 200);
  HeapStats st = FlushedStats();
  ASSERT_FALSE(t_cache->Owns(SpanOf(p)));
  Free(p);  // under the Central lock
  try {
    Free(p);
    FAIL() << "double free accepted";
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::strstr(e.what(), "double free"), nullptr) << e.what();
  }
  HeapStats end = FlushedStats();
  EXPECT_EQ(end.frees - st.frees, 1u) << "the rejected free was counted";
  EXPECT_EQ(end.heap_alloc - st.heap_alloc, -uint64_t{RoundUpSize(200)});
  Free(keep);
}

// ---- (c) Frees into a span another cache holds: its freebuf. ----

// Objects of 80 bytes: size class 7 (102 slots per span).
constexpr TypeInfo kObj80 = {"obj80", 80,      8, false,
                             nullptr, nullptr, 0, nullptr};
constexpr int kClass80 = SizeToClass(80);
static_assert(ClassToSize(kClass80) == 80);

// A handoff queue between two threads.
struct Handoff {
  std::mutex mu;
  std::condition_variable cv;
  std::deque<std::pair<void*, uint64_t>> queue;  // object, stamp tag
  bool done = false;
  uint64_t sync_freed = 0;  // synchronous handoffs freed so far
};

TEST(CentralTest, CrossThreadFreesAreCountedExactlyAndTheirSlotsReused) {
  const int kObjects = 5000 * kScale;
  HeapStats before = FlushedStats();
  Handoff h;
  std::vector<void*> kept;        // still live at the end
  std::vector<void*> sync_freed;  // freed by B while A owned their span
  int sync_in_freebuf = 0;
  int sync_owned = 0;

  std::thread freer([&] {
    std::unique_lock<std::mutex> lock(h.mu);
    for (;;) {
      h.cv.wait(lock, [&] { return h.done || !h.queue.empty(); });
      if (h.queue.empty()) break;
      auto [p, tag] = h.queue.front();
      h.queue.pop_front();
      bool sync = tag & 1;
      lock.unlock();
      EXPECT_EQ(CheckStamp(p, 80, tag), 80u);
      Free(p);
      lock.lock();
      if (sync) {
        h.sync_freed++;
        h.cv.notify_all();
      }
    }
    lock.unlock();
    FlushCurrentCache();
  });

  std::thread allocator([&] {
    uint64_t sync_sent = 0;
    for (int i = 0; i < kObjects; i++) {
      void* p = Allocate(&kObj80, 80);
      EXPECT_TRUE(IsZero(p, 80));
      if (i % 10 == 0) {
        kept.push_back(p);
        continue;
      }
      bool sync = i % 37 == 1;
      uint64_t tag = (uint64_t(i) << 1) | (sync ? 1 : 0);
      Stamp(p, 80, tag);
      std::unique_lock<std::mutex> lock(h.mu);
      h.queue.emplace_back(p, tag);
      h.cv.notify_all();
      if (sync) {
        // Wait until B has freed it (and everything queued before it):
        // p's span is the one this thread allocates from, so the free went
        // into that span's freebuf. B is idle now, so reading the span's
        // freebuf here does not race.
        sync_sent++;
        h.cv.wait(lock, [&] { return h.sync_freed == sync_sent; });
        Span* s = SpanOf(p);
        sync_owned += t_cache->Owns(s);
        for (FreeLink* v = s->freebuf; v != nullptr; v = v->next) {
          if (v == p) {
            sync_in_freebuf++;
            break;
          }
        }
        sync_freed.push_back(p);
      }
    }
    {
      std::lock_guard<std::mutex> lock(h.mu);
      h.done = true;
      h.cv.notify_all();
    }
    FlushCurrentCache();
  });
  allocator.join();
  freer.join();

  ASSERT_FALSE(sync_freed.empty());
  EXPECT_EQ(sync_owned, static_cast<int>(sync_freed.size()));
  EXPECT_EQ(sync_in_freebuf, static_cast<int>(sync_freed.size()))
      << "frees into a span another cache owns must go to its freebuf";

  const uint64_t kFreed = kObjects - kept.size();
  HeapStats after = FlushedStats();
  const SizeClassStats& b0 = before.by_size[kClass80];
  const SizeClassStats& b1 = after.by_size[kClass80];
  EXPECT_EQ(b1.mallocs - b0.mallocs, uint64_t(kObjects));
  EXPECT_EQ(b1.frees - b0.frees, kFreed);
  EXPECT_EQ(after.mallocs - before.mallocs, uint64_t(kObjects));
  EXPECT_EQ(after.frees - before.frees, kFreed);
  EXPECT_EQ(after.objects - before.objects, kept.size());
  EXPECT_EQ(after.heap_alloc - before.heap_alloc, kept.size() * 80);

  // The freed slots (including those folded in from freebufs) are
  // allocated again: every span still holds kept objects, so its free
  // slots are found before any new span is made. (A may already have
  // reused some of them itself, for objects it kept.)
  std::unordered_set<void*> want(sync_freed.begin(), sync_freed.end());
  for (void* p : kept) want.erase(p);
  ASSERT_FALSE(want.empty());
  const size_t wanted = want.size();
  std::vector<void*> again;
  const size_t limit = kFreed + 4 * ClassToNElems(kClass80);
  while (!want.empty() && again.size() < limit) {
    void* p = Allocate(&kObj80, 80);
    ASSERT_TRUE(IsZero(p, 80)) << "reused slot not zeroed";
    want.erase(p);
    again.push_back(p);
  }
  EXPECT_TRUE(want.empty()) << want.size() << " of " << wanted
                            << " slots freed through a freebuf never came back";
  HeapStats reused = FlushedStats();
  EXPECT_EQ(reused.by_size[kClass80].mallocs - b1.mallocs, again.size());
  EXPECT_EQ(reused.heap_alloc - after.heap_alloc, again.size() * 80);
  for (void* p : again) Free(p);
  for (void* p : kept) Free(p);
  HeapStats end = FlushedStats();
  EXPECT_EQ(end.objects, before.objects);
  EXPECT_EQ(end.heap_alloc, before.heap_alloc);
}

// Runs `owner_work` on a thread that allocates one object of 80 bytes and
// keeps its span cached, lets `other_work(p)` run on this thread while the
// owner waits, then runs `owner_after(p)` on the owner.
template <typename Before, typename Other, typename After>
void WithObjectCachedByAnotherThread(Before before, Other other, After after) {
  std::mutex mu;
  std::condition_variable cv;
  int phase = 0;
  void* p = nullptr;
  std::thread owner([&] {
    p = Allocate(&kObj80, 80);
    before(p);
    std::unique_lock<std::mutex> lock(mu);
    phase = 1;
    cv.notify_all();
    cv.wait(lock, [&] { return phase == 2; });
    lock.unlock();
    after(p);
  });
  {
    std::unique_lock<std::mutex> lock(mu);
    cv.wait(lock, [&] { return phase == 1; });
  }
  other(p);
  {
    std::lock_guard<std::mutex> lock(mu);
    phase = 2;
    cv.notify_all();
  }
  owner.join();
}

TEST(CentralTest, SecondFreeIntoAnotherThreadsFreebufThrowsAtOnce) {
  HeapStats before = FlushedStats();
  void* keep = nullptr;
  WithObjectCachedByAnotherThread([&](void*) { keep = Allocate(&kObj80, 80); },
                                  [](void* p) {
                                    ASSERT_FALSE(t_cache->Owns(SpanOf(p)));
                                    Free(p);  // into the owner's freebuf
                                    EXPECT_THROW(Free(p),
                                                 std::invalid_argument);
                                  },
                                  [](void*) { FlushCurrentCache(); });
  // The first free was folded in, exactly once.
  HeapStats after = FlushedStats();
  EXPECT_EQ(after.by_size[kClass80].mallocs - before.by_size[kClass80].mallocs,
            2u);
  EXPECT_EQ(after.by_size[kClass80].frees - before.by_size[kClass80].frees, 1u);
  EXPECT_EQ(after.heap_alloc - before.heap_alloc, 80u);
  Free(keep);
}

TEST(CentralDeathTest, DoubleFreeFoldedFromAFreebufIsFatal) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  // The owner frees the object itself, then another thread frees it again
  // into the owner's span's freebuf (where it cannot be checked); folding
  // the freebuf when the owner gives the span back finds the slot free.
  EXPECT_DEATH(
      WithObjectCachedByAnotherThread(
          [](void* p) {
            Allocate(&kObj80, 80);  // keeps the span non-empty
            Free(p);
          },
          [](void* p) { Free(p); }, [](void*) { FlushCurrentCache(); }),
      "double free");
}

TEST(CentralDeathTest,
     OwnerFreeOfAnObjectAlreadyInItsFreebufIsFatalWhenFolded) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_DEATH(WithObjectCachedByAnotherThread(
                   [](void*) { Allocate(&kObj80, 80); },
                   [](void* p) { Free(p); },  // into the freebuf
                   [](void* p) {
                     Free(p);  // the owner frees it again
                     FlushCurrentCache();
                   }),
               "double free");
}

// The owner frees an object that another thread has already freed into
// the owner's span's freebuf, then allocates again before giving the span
// back. The double free must be caught (invalid_argument at the owner's
// free, or a fatal "double free") before the slot is reused: otherwise the
// new object's first word, which the freebuf still uses as p's link, is
// followed as a pointer when the freebuf is folded, and the fold frees the
// new, live object so that the next allocation returns its address again.
bool AbortedOrExitedZero(int status) {
  return (WIFEXITED(status) && WEXITSTATUS(status) == 0) ||
         (WIFSIGNALED(status) && WTERMSIG(status) == SIGABRT);
}

TEST(CentralDeathTest, OwnerDoubleFreeOfAnObjectInItsFreebufIsCaughtInTime) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_EXIT(
      WithObjectCachedByAnotherThread(
          [](void*) { Allocate(&kObj80, 80); },  // keeps the span in use
          [](void* p) { Free(p); },              // into the owner's freebuf
          [](void* p) {
            try {
              Free(p);  // the owner frees it again
            } catch (const std::invalid_argument& e) {
              std::fprintf(stderr, "caught at once: %s\n", e.what());
              std::_Exit(0);
            }
            void* y = Allocate(&kObj80, 80);  // p's slot, live again
            Stamp(y, 80, 5);
            FlushCurrentCache();  // folds the freebuf, which still names p
            void* z = Allocate(&kObj80, 80);
            if (z == y) {
              std::fprintf(stderr, "live object %p handed out twice\n", y);
              std::_Exit(1);
            }
            std::fprintf(stderr, "undetected, stamp %s\n",
                         CheckStamp(y, 80, 5) == 80 ? "intact" : "clobbered");
            std::_Exit(1);
          }),
      AbortedOrExitedZero, "double free");
}

// ---- (d) Counts, kept as Go keeps them. ----

TEST(CentralTest, PerClassMallocsAndFreesAreExactAfterAFlush) {
  constexpr TypeInfo kObj256 = {"obj256", 256,     8, true,
                                nullptr,  nullptr, 0, nullptr};
  constexpr int kClass = SizeToClass(256);
  const int kN = 300 * kScale;
  HeapStats before = FlushedStats();
  EXPECT_TRUE(PagesAddUp(before));
  std::vector<void*> v;
  for (int i = 0; i < kN; i++) v.push_back(Allocate(&kObj256, 256));
  EXPECT_TRUE(PagesAddUp(ReadHeapStats()));
  HeapStats st = FlushedStats();
  EXPECT_EQ(st.by_size[kClass].size, 256u);
  EXPECT_EQ(st.by_size[kClass].mallocs - before.by_size[kClass].mallocs,
            uint64_t(kN));
  EXPECT_EQ(st.by_size[kClass].frees, before.by_size[kClass].frees);
  EXPECT_EQ(st.mallocs - before.mallocs, uint64_t(kN));
  EXPECT_EQ(st.heap_alloc - before.heap_alloc, uint64_t(kN) * 256);
  EXPECT_GE(st.heap_inuse - before.heap_inuse, uint64_t(kN) * 256);
  EXPECT_TRUE(PagesAddUp(st));

  // Frees on the owner thread (some owned, some not after the flush).
  for (int i = 0; i < kN / 3; i++) Free(v[i]);
  HeapStats freed = FlushedStats();
  EXPECT_EQ(freed.by_size[kClass].frees - before.by_size[kClass].frees,
            uint64_t(kN / 3));
  EXPECT_EQ(freed.by_size[kClass].mallocs, st.by_size[kClass].mallocs);
  EXPECT_EQ(freed.objects - before.objects, uint64_t(kN - kN / 3));
  EXPECT_EQ(freed.heap_alloc - before.heap_alloc, uint64_t(kN - kN / 3) * 256);
  for (int i = kN / 3; i < kN; i++) Free(v[i]);
  HeapStats end = FlushedStats();
  EXPECT_EQ(end.objects, before.objects);
  EXPECT_EQ(end.heap_alloc, before.heap_alloc);
  EXPECT_TRUE(PagesAddUp(end));
}

TEST(CentralTest, OwnedFreeAndReallocationCountAsOneMoreMallocAndOneFree) {
  constexpr TypeInfo kObj320 = {"obj320", 320,     8, true,
                                nullptr,  nullptr, 0, nullptr};
  constexpr int kClass = SizeToClass(320);
  HeapStats before = FlushedStats();
  void* a = Allocate(&kObj320, 320);
  void* b = Allocate(&kObj320, 320);
  Free(a);                            // owned
  void* c = Allocate(&kObj320, 320);  // the same slot again
  EXPECT_EQ(c, a);
  HeapStats st = FlushedStats();
  EXPECT_EQ(st.by_size[kClass].mallocs - before.by_size[kClass].mallocs, 3u);
  EXPECT_EQ(st.by_size[kClass].frees - before.by_size[kClass].frees, 1u);
  EXPECT_EQ(st.heap_alloc - before.heap_alloc, 2u * 320);
  Free(b);
  Free(c);
}

}  // namespace
}  // namespace gc::alloc
