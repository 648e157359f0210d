// Tests of the per-processor caches (alloc/cache.h, through alloc/heap.h):
// concurrent allocation, frees from every thread to every thread, owned
// frees, double frees, the tiny allocator, statistics, thread lifecycle,
// and bad input. What the Central does with frees into spans the caller's
// cache does not own (freebufs, frees under its lock, its counts) is in
// central_test.cc.
#include "gcrt/alloc/cache.h"

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <mutex>
#include <new>
#include <random>
#include <set>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "gcrt/alloc/heap.h"
#include "gcrt/alloc/size_classes.h"
#include "gcrt/alloc/span.h"
#include "gcrt/runtime/processor.h"
#include "gtest/gtest.h"
#include "tests/test_support/heap_stats.h"
#include "tests/test_support/mix.h"
#include "tests/test_support/sanitizers.h"

namespace gc::alloc {
namespace {

// Sanitizers: keep each binary well under 20 s.
constexpr int kScale = gc::testing::kUnderSanitizer ? 4 : 8;

constexpr TypeInfo kRawType = {"raw", 1, 1, true, nullptr, nullptr, 0, nullptr};
constexpr TypeInfo kScanType = {"scan",  8,       8, false,
                                nullptr, nullptr, 0, nullptr};

// ---- Helpers. ----

using gc::testing::CheckStamp;
using gc::testing::FlushedStats;
using gc::testing::IsZero;
using gc::testing::PagesAddUp;
using gc::testing::Stamp;

template <typename Fn>
void RunOnThread(Fn fn) {
  std::thread t(fn);
  t.join();
}

// ---- (a) Concurrent allocation. ----

struct Record {
  void* p;
  size_t size;
  uint64_t tag;
};

TEST(CacheTest, ConcurrentThreadsGetDistinctNonOverlappingIntactObjects) {
  constexpr int kThreads = 8;
  const int kPerThread = 1000 * kScale;
  HeapStats before = FlushedStats();
  std::vector<std::vector<Record>> records(kThreads);
  std::atomic<int> not_zero{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; t++) {
    threads.emplace_back([&, t] {
      std::mt19937_64 rng(1234 + t);
      std::vector<Record>& mine = records[t];
      for (int i = 0; i < kPerThread; i++) {
        size_t size;
        if (i % 250 == 249) {
          size = kMaxSmallSize + 1 + rng() % (96 << 10);  // large
        } else {
          size = 8 + rng() % (2048 - 8 + 1);
        }
        const TypeInfo* type = (i % 2 == 0) ? &kRawType : &kScanType;
        void* p = Allocate(type, size);
        if (!IsZero(p, size)) not_zero++;
        uint64_t tag = (uint64_t(t) << 32) | uint64_t(i);
        Stamp(p, size, tag);
        mine.push_back({p, size, tag});
      }
    });
  }
  for (auto& th : threads) th.join();  // thread exit detaches each cache
  EXPECT_EQ(not_zero.load(), 0) << "objects handed out not zeroed";

  std::vector<Record> all;
  for (auto& v : records) all.insert(all.end(), v.begin(), v.end());
  ASSERT_EQ(all.size(), size_t{kThreads} * kPerThread);
  std::sort(all.begin(), all.end(),
            [](const Record& a, const Record& b) { return a.p < b.p; });
  for (size_t i = 0; i < all.size(); i++) {
    size_t slot = AllocationSize(all[i].p);
    ASSERT_GE(slot, all[i].size) << "slot smaller than the request";
    if (i + 1 < all.size()) {
      ASSERT_NE(all[i].p, all[i + 1].p) << "slot handed out twice";
      ASSERT_LE(reinterpret_cast<uintptr_t>(all[i].p) + slot,
                reinterpret_cast<uintptr_t>(all[i + 1].p))
          << "objects overlap";
    }
    ASSERT_EQ(CheckStamp(all[i].p, all[i].size, all[i].tag), all[i].size)
        << "object of thread " << (all[i].tag >> 32) << " #"
        << (all[i].tag & 0xffffffff) << " was overwritten";
  }
  HeapStats mid = FlushedStats();
  EXPECT_EQ(mid.mallocs - before.mallocs, all.size());
  EXPECT_EQ(mid.objects - before.objects, all.size());

  for (const Record& r : all) Free(r.p);
  HeapStats after = FlushedStats();
  EXPECT_EQ(after.frees - before.frees, all.size());
  EXPECT_EQ(after.objects, before.objects);
  EXPECT_EQ(after.heap_alloc, before.heap_alloc);
}

// ---- (b) Cross-thread frees. ----

TEST(CacheTest, AllToAllFreesAcrossEightThreadsKeepObjectsAndStatsExact) {
  // Every thread allocates objects of a few classes (and now and then a
  // large one) and hands each to a random thread (itself included), which
  // checks and frees it: owned frees, frees into other caches' freebufs and
  // frees under the Central lock all happen at once.
  constexpr int kThreads = 8;
  const int kPerThread = 1500 * kScale;
  constexpr size_t kSizes[] = {16, 48, 80, 256, 1024, 40000};
  struct Inbox {
    std::mutex mu;
    std::deque<Record> q;
  };
  std::vector<Inbox> inbox(kThreads);
  std::atomic<int> producing{kThreads};
  std::atomic<int> bad{0};
  HeapStats before = FlushedStats();
  auto drain = [&](int t) {
    std::deque<Record> got;
    {
      std::lock_guard<std::mutex> lock(inbox[t].mu);
      got.swap(inbox[t].q);
    }
    for (const Record& r : got) {
      if (CheckStamp(r.p, r.size, r.tag) != r.size) bad++;
      Free(r.p);
    }
    return got.size();
  };
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; t++) {
    threads.emplace_back([&, t] {
      std::mt19937 rng(77 + t);
      for (int i = 0; i < kPerThread; i++) {
        size_t size = kSizes[i % 97 == 0 ? 5 : rng() % 5];
        void* p = Allocate((i & 1) ? &kRawType : &kScanType, size);
        if (!IsZero(p, size)) bad++;
        uint64_t tag = (uint64_t(t) << 32) | uint64_t(i);
        Stamp(p, size, tag);
        int to = static_cast<int>(rng() % kThreads);
        {
          std::lock_guard<std::mutex> lock(inbox[to].mu);
          inbox[to].q.push_back({p, size, tag});
        }
        if (i % 16 == 0) drain(t);
      }
      producing--;
      while (producing.load() > 0) {
        if (drain(t) == 0) std::this_thread::yield();
      }
      drain(t);
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(bad.load(), 0) << "objects not zeroed or overwritten";
  HeapStats after = FlushedStats();
  uint64_t total = uint64_t{kThreads} * kPerThread;
  EXPECT_EQ(after.mallocs - before.mallocs, total);
  EXPECT_EQ(after.frees - before.frees, total);
  EXPECT_EQ(after.objects, before.objects);
  EXPECT_EQ(after.heap_alloc, before.heap_alloc);
}

// ---- (c) Owned frees. ----

TEST(CacheTest, OwnedFreeHandsTheSameSlotBackAtOnceZeroed) {
  for (size_t size : {size_t{96}, size_t{512}, size_t{4096}}) {
    SCOPED_TRACE("size " + std::to_string(size));
    void* keep = Allocate(&kRawType, size);  // keeps the span non-empty
    void* p = Allocate(&kRawType, size);
    Span* s = SpanOf(p);
    ASSERT_TRUE(t_cache->Owns(s));
    Stamp(p, size, 42);
    Free(p);
    std::vector<void*> next;
    bool back = false;
    for (int i = 0; i < 8 && !back; i++) {
      void* q = Allocate(&kRawType, size);
      next.push_back(q);
      if (q == p) {
        back = true;
        EXPECT_EQ(SpanOf(q), s);
        EXPECT_TRUE(IsZero(q, size)) << "reused slot holds old bytes";
      }
    }
    EXPECT_TRUE(back) << "freed slot not reused in the next allocations";
    EXPECT_EQ(next.front(), p) << "the lowest free slot comes first";
    for (void* q : next) Free(q);
    Free(keep);
  }
}

TEST(CacheTest, OwnedFreeOfASlotOutsideTheCurrentWordComesBackLater) {
  // 96-byte objects: 85 slots, two 64-slot words. Free an object of word 0
  // while word 1 is being handed out; it comes back once word 1 is used up.
  constexpr TypeInfo kObj96 = {"obj96", 96,      8, true,
                               nullptr, nullptr, 0, nullptr};
  std::vector<void*> mine;
  void* early = nullptr;
  Span* span = nullptr;
  for (int i = 0; i < 2000; i++) {
    void* p = Allocate(&kObj96, 96);
    mine.push_back(p);
    Span* s = SpanOf(p);
    uint32_t slot = s->SlotIndex(reinterpret_cast<uintptr_t>(p));
    if (s != span) {
      span = s;
      early = nullptr;
    }
    if (slot < 64 && early == nullptr) early = p;
    if (slot >= 64 && early != nullptr) break;
  }
  ASSERT_NE(early, nullptr);
  ASSERT_GE(span->SlotIndex(reinterpret_cast<uintptr_t>(mine.back())), 64u);
  mine.erase(std::find(mine.begin(), mine.end(), early));
  Stamp(early, 96, 7);
  Free(early);
  EXPECT_EQ(TypeOf(early), nullptr);
  bool back = false;
  for (uint32_t i = 0; i < span->nelems && !back; i++) {
    void* q = Allocate(&kObj96, 96);
    mine.push_back(q);
    if (q == early) {
      back = true;
      EXPECT_TRUE(IsZero(q, 96));
      EXPECT_EQ(TypeOf(q), &kObj96);
    }
  }
  EXPECT_TRUE(back) << "slot freed outside the cache word never came back";
  for (void* q : mine) Free(q);
}

// ---- (d) Double frees. ----

TEST(CacheTest, DoubleFreeOnTheOwnerThreadThrows) {
  void* keep = Allocate(&kScanType, 64);
  void* p = Allocate(&kScanType, 64);
  ASSERT_TRUE(t_cache->Owns(SpanOf(p)));
  Free(p);
  try {
    Free(p);
    FAIL() << "double free accepted";
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::strstr(e.what(), "double free"), nullptr) << e.what();
  }
  // The heap is consistent: the slot is handed out once more, not twice.
  void* q = Allocate(&kScanType, 64);
  void* r = Allocate(&kScanType, 64);
  EXPECT_EQ(q, p);
  EXPECT_NE(r, p);
  Free(q);
  Free(r);
  Free(keep);
}

TEST(CacheTest, DoubleFreeOfALargeObjectThrows) {
  void* p = Allocate(&kRawType, 100 << 10);
  Free(p);
  EXPECT_THROW(Free(p), std::invalid_argument);
}

// ---- (e) The tiny allocator. ----

template <size_t N>
struct Chars {
  unsigned char c[N];
};
struct U16x5 {
  uint16_t a[5];
};
struct U32x3 {
  uint32_t a[3];
};
struct U32U8 {
  uint32_t a;
  uint8_t b;
};
struct alignas(8) Aligned8Chars3 {
  char c[3];
};

template <typename T>
constexpr TypeInfo kTinyTypeOf = {"tiny",  sizeof(T), alignof(T), true,
                                  nullptr, nullptr,   0,          nullptr};

template <typename T>
T* NewTiny() {
  static_assert(sizeof(T) < kTinySize);
  return static_cast<T*>(
      AllocateFixed<sizeof(T), alignof(T), true, true>(&kTinyTypeOf<T>));
}

// Allocates n objects of T, checks each, stamps them; returns them.
template <typename T>
std::vector<unsigned char*> TinyCase(int n, uint8_t stamp_base) {
  constexpr size_t kSize = sizeof(T);
  constexpr size_t kAlign = alignof(T);
  SCOPED_TRACE("size " + std::to_string(kSize) + " align " +
               std::to_string(kAlign));
  std::vector<unsigned char*> v;
  std::set<uintptr_t> blocks;
  for (int i = 0; i < n; i++) {
    auto* p = reinterpret_cast<unsigned char*>(NewTiny<T>());
    uintptr_t a = reinterpret_cast<uintptr_t>(p);
    EXPECT_EQ(a % kAlign, 0u);
    EXPECT_EQ(a / kTinySize, (a + kSize - 1) / kTinySize)
        << "piece crosses its 16-byte block";
    EXPECT_TRUE(IsZero(p, kSize));
    Span* s = SpanOf(p);
    EXPECT_NE(s, nullptr);
    if (s != nullptr) {
      EXPECT_EQ(s->span_class, kTinySpanClass);
    }
    std::memset(p, static_cast<unsigned char>(stamp_base + i % 7), kSize);
    blocks.insert(a / kTinySize);
    v.push_back(p);
  }
  // Packing: pieces go at offsets 0, r, 2r, ... (r = size rounded up to the
  // alignment) of a block as long as they fit.
  constexpr size_t kRounded = (kSize + kAlign - 1) / kAlign * kAlign;
  constexpr size_t kPerBlock = (kTinySize - kSize) / kRounded + 1;
  size_t max_blocks = (n + kPerBlock - 1) / kPerBlock + 1;
  EXPECT_LE(blocks.size(), max_blocks) << "pieces are not packed";
  if (kPerBlock >= 2) {
    // Neighbours share a block: some consecutive pieces sit r bytes apart.
    int close = 0;
    for (int i = 1; i < n; i++) {
      close += v[i] - v[i - 1] == static_cast<ptrdiff_t>(kRounded);
    }
    EXPECT_GE(close, static_cast<int>(n * (kPerBlock - 1) / kPerBlock) - 2);
  }
  return v;
}

void ExpectStamped(const std::vector<unsigned char*>& v, size_t size,
                   uint8_t stamp_base) {
  for (size_t i = 0; i < v.size(); i++) {
    for (size_t j = 0; j < size; j++) {
      ASSERT_EQ(v[i][j], static_cast<unsigned char>(stamp_base + i % 7))
          << "piece " << i << " overwritten";
    }
  }
}

TEST(CacheTest, TinyObjectsArePackedAlignedAndZeroed) {
  constexpr int kN = 300;
  HeapStats before = FlushedStats();
  struct Case {
    std::vector<unsigned char*> v;
    size_t size;
    uint8_t base;
  };
  std::vector<Case> cases;
  uint8_t base = 1;
  auto run = [&]<typename T>(T*) {
    cases.push_back({TinyCase<T>(kN, base), sizeof(T), base});
    base += 9;
  };
  run(static_cast<Chars<1>*>(nullptr));
  run(static_cast<Chars<2>*>(nullptr));
  run(static_cast<Chars<3>*>(nullptr));
  run(static_cast<Chars<4>*>(nullptr));
  run(static_cast<Chars<5>*>(nullptr));
  run(static_cast<Chars<6>*>(nullptr));
  run(static_cast<Chars<7>*>(nullptr));
  run(static_cast<Chars<8>*>(nullptr));
  run(static_cast<Chars<9>*>(nullptr));
  run(static_cast<Chars<10>*>(nullptr));
  run(static_cast<Chars<11>*>(nullptr));
  run(static_cast<Chars<12>*>(nullptr));
  run(static_cast<Chars<13>*>(nullptr));
  run(static_cast<Chars<14>*>(nullptr));
  run(static_cast<Chars<15>*>(nullptr));
  run(static_cast<uint16_t*>(nullptr));
  run(static_cast<uint32_t*>(nullptr));
  run(static_cast<uint64_t*>(nullptr));
  run(static_cast<double*>(nullptr));
  run(static_cast<U16x5*>(nullptr));
  run(static_cast<U32x3*>(nullptr));
  run(static_cast<U32U8*>(nullptr));
  run(static_cast<Aligned8Chars3*>(nullptr));
  // Mixed sizes interleaved.
  std::vector<unsigned char*> mixed;
  for (int i = 0; i < kN; i++) {
    unsigned char* p;
    switch (i % 4) {
      case 0:
        p = reinterpret_cast<unsigned char*>(NewTiny<Chars<3>>());
        break;
      case 1:
        p = reinterpret_cast<unsigned char*>(NewTiny<uint64_t>());
        EXPECT_EQ(reinterpret_cast<uintptr_t>(p) % 8, 0u);
        break;
      case 2:
        p = reinterpret_cast<unsigned char*>(NewTiny<Chars<1>>());
        break;
      default:
        p = reinterpret_cast<unsigned char*>(NewTiny<uint32_t>());
        EXPECT_EQ(reinterpret_cast<uintptr_t>(p) % 4, 0u);
        break;
    }
    EXPECT_TRUE(IsZero(p, 1));
    *p = 0xee;
    mixed.push_back(p);
  }
  std::set<unsigned char*> distinct(mixed.begin(), mixed.end());
  EXPECT_EQ(distinct.size(), mixed.size());
  // Nothing overlapped: every piece still holds its stamp.
  for (const Case& c : cases) ExpectStamped(c.v, c.size, c.base);
  for (unsigned char* p : mixed) EXPECT_EQ(*p, 0xee);

  // Every piece is counted as one tiny allocation, a malloc and a free at
  // once (as in Go); the blocks holding them are the objects.
  HeapStats after = FlushedStats();
  uint64_t pieces = cases.size() * kN + mixed.size();
  EXPECT_EQ(after.tiny_allocs - before.tiny_allocs, pieces);
  uint64_t blocks = after.by_size[SizeToClass(kTinySize)].mallocs -
                    before.by_size[SizeToClass(kTinySize)].mallocs;
  EXPECT_GT(blocks, 0u);
  EXPECT_LT(blocks, pieces);
  EXPECT_EQ(after.mallocs - before.mallocs, pieces + blocks);
  EXPECT_EQ(after.frees - before.frees, pieces);
}

TEST(CacheTest, FreeOfATinyPieceIsAcceptedAndDoesNothing) {
  std::vector<unsigned char*> v = TinyCase<Chars<5>>(64, 100);
  HeapStats before = FlushedStats();
  for (size_t i = 0; i < v.size(); i += 2) EXPECT_NO_THROW(Free(v[i]));
  // Freeing a piece twice is equally harmless.
  EXPECT_NO_THROW(Free(v[0]));
  HeapStats after = FlushedStats();
  EXPECT_EQ(after.frees, before.frees);
  EXPECT_EQ(after.heap_alloc, before.heap_alloc);
  // The pieces were not freed: their bytes are untouched, and new pieces do
  // not land on them.
  std::vector<unsigned char*> more = TinyCase<Chars<5>>(200, 150);
  ExpectStamped(v, 5, 100);
  ExpectStamped(more, 5, 150);
  std::set<unsigned char*> old(v.begin(), v.end());
  for (unsigned char* p : more) EXPECT_EQ(old.count(p), 0u);
}

// ---- (f) Statistics. ----

TEST(CacheTest, LargeObjectsAreCountedInClassZeroAndPagesAddUp) {
  HeapStats before = FlushedStats();
  constexpr size_t kBytes = 100 << 10;  // 13 pages
  void* p = Allocate(&kRawType, kBytes);
  HeapStats st = ReadHeapStats();
  EXPECT_EQ(st.large_allocs - before.large_allocs, 1u);
  EXPECT_EQ(st.by_size[0].mallocs - before.by_size[0].mallocs, 1u);
  EXPECT_EQ(st.heap_alloc - before.heap_alloc, 13 * kPageSize);
  EXPECT_EQ(st.heap_inuse - before.heap_inuse, 13 * kPageSize);
  EXPECT_EQ(AllocationSize(p), 13 * kPageSize);
  EXPECT_TRUE(PagesAddUp(st));
  Free(p);
  HeapStats end = ReadHeapStats();
  EXPECT_EQ(end.large_frees - before.large_frees, 1u);
  EXPECT_EQ(end.heap_inuse, before.heap_inuse);
  EXPECT_EQ(end.heap_alloc, before.heap_alloc);
  EXPECT_TRUE(PagesAddUp(end));
}

TEST(CacheTest, ReleasingIdleMemoryMovesIdleBytesToReleased) {
  // Make some idle pages: a large object freed.
  void* p = Allocate(&kRawType, 1 << 20);
  Free(p);
  HeapStats before = FlushedStats();
  EXPECT_GE(before.heap_idle, size_t{1} << 20);
  size_t released = ReleaseIdleMemory();
  HeapStats after = ReadHeapStats();
  EXPECT_EQ(after.heap_released - before.heap_released, released);
  EXPECT_EQ(after.heap_released, after.heap_idle) << "idle pages left";
  EXPECT_EQ(after.heap_sys, before.heap_sys);
  EXPECT_TRUE(PagesAddUp(after));
  // Released pages come back zeroed.
  void* q = Allocate(&kRawType, 1 << 20);
  EXPECT_TRUE(IsZero(q, 1 << 20));
  EXPECT_TRUE(PagesAddUp(ReadHeapStats()));
  Free(q);
}

// ---- (g) Thread lifecycle. ----

TEST(CacheTest, AllocationWorksAfterAFlush) {
  void* before_flush = Allocate(&kScanType, 48);
  Stamp(before_flush, 48, 1);
  FlushCurrentCache();
  FlushCurrentCache();  // twice is fine
  void* after_flush = Allocate(&kScanType, 48);
  EXPECT_NE(after_flush, before_flush);
  EXPECT_TRUE(IsZero(after_flush, 48));
  EXPECT_EQ(TypeOf(after_flush), &kScanType);
  EXPECT_EQ(CheckStamp(before_flush, 48, 1), 48u);
  Free(before_flush);
  Free(after_flush);
}

TEST(CacheTest, AllocationWorksAfterDetachAndReattach) {
  RunOnThread([] {
    void* p = Allocate(&kScanType, 64);
    runtime::Processor* proc = runtime::CurrentProcessor();
    ASSERT_NE(proc, nullptr);
    EXPECT_EQ(proc->local(), t_cache);
    Stamp(p, 64, 9);

    runtime::DetachCurrentThread();
    EXPECT_EQ(runtime::CurrentProcessor(), nullptr);
    EXPECT_EQ(t_cache, &g_unattached_cache);
    EXPECT_FALSE(t_cache->Owns(SpanOf(p))) << "detach kept the span";
    // Allocation re-attaches implicitly.
    void* q = Allocate(&kScanType, 64);
    EXPECT_NE(runtime::CurrentProcessor(), nullptr);
    EXPECT_NE(t_cache, &g_unattached_cache);
    EXPECT_TRUE(IsZero(q, 64));
    EXPECT_EQ(CheckStamp(p, 64, 9), 64u);

    runtime::DetachCurrentThread();
    // A free changes span state, so it attaches the thread (a stop of the
    // world must wait for it like for an allocating thread).
    Free(p);
    EXPECT_NE(runtime::CurrentProcessor(), nullptr);
    // Explicit attach (idempotent), then allocate.
    runtime::Processor* again = runtime::AttachCurrentThread();
    EXPECT_EQ(again->local(), t_cache);
    void* r = Allocate(&kRawType, 5000);
    EXPECT_TRUE(IsZero(r, 5000));
    void* tiny = NewTiny<uint32_t>();
    EXPECT_TRUE(IsZero(tiny, 4));
    Free(q);
    Free(r);
  });
}

TEST(CacheTest, TinyAllocationOnAnUnattachedThreadAttaches) {
  RunOnThread([] {
    EXPECT_EQ(runtime::CurrentProcessor(), nullptr);
    auto* p = NewTiny<Chars<3>>();
    EXPECT_NE(runtime::CurrentProcessor(), nullptr);
    EXPECT_TRUE(IsZero(p, 3));
    auto* q = NewTiny<Chars<3>>();
    EXPECT_EQ(reinterpret_cast<unsigned char*>(q) -
                  reinterpret_cast<unsigned char*>(p),
              3);
  });
}

TEST(CacheTest, ThreadsComingAndGoingOneAtATimeReuseOneProcessor) {
  RunOnThread([] { Free(Allocate(&kScanType, 32)); });
  uint32_t count = runtime::ProcessorCount();
  std::set<runtime::Processor*> seen;
  std::vector<void*> survivors;
  for (int i = 0; i < 10; i++) {
    RunOnThread([&, i] {
      void* p = Allocate(&kScanType, 32 + 16 * i);
      Stamp(p, 32, uint64_t(i));
      survivors.push_back(p);
      seen.insert(runtime::CurrentProcessor());
    });
  }
  EXPECT_EQ(runtime::ProcessorCount(), count);
  EXPECT_EQ(seen.size(), 1u) << "a new thread did not reuse the idle processor";
  // Objects outlive the threads that allocated them.
  for (size_t i = 0; i < survivors.size(); i++) {
    EXPECT_EQ(CheckStamp(survivors[i], 32, i), 32u);
    Free(survivors[i]);
  }
}

// ---- (h) Bad input. ----

TEST(CacheTest, ZeroByteAllocationsAreDistinctObjects) {
  std::set<void*> seen;
  for (int i = 0; i < 100; i++) {
    void* p = Allocate(&kRawType, 0);
    ASSERT_NE(p, nullptr);
    EXPECT_GE(AllocationSize(p), 1u);
    EXPECT_TRUE(seen.insert(p).second) << "zero-byte object handed out twice";
  }
  for (void* p : seen) Free(p);
}

TEST(CacheTest, OverflowingArrayCountThrowsBadAllocSayingOverflow) {
  for (size_t count : {SIZE_MAX, SIZE_MAX / 8 + 1, SIZE_MAX / 2}) {
    try {
      AllocateArray(&kScanType, count);
      FAIL() << "overflowing count " << count << " accepted";
    } catch (const std::bad_alloc& e) {
      EXPECT_NE(std::strstr(e.what(), "overflow"), nullptr) << e.what();
    }
  }
  // A count that fits is fine, and the heap still works.
  void* p = AllocateArray(&kScanType, 100);
  EXPECT_EQ(AllocationSize(p), RoundUpSize(800));
  EXPECT_TRUE(IsZero(p, 800));
  Free(p);
}

TEST(CacheTest, AbsurdSizeThrowsBadAllocWithAMessageAndTheHeapStillWorks) {
  for (size_t bytes : {size_t{1} << 50, size_t{1} << 41, SIZE_MAX}) {
    try {
      Allocate(&kRawType, bytes);
      FAIL() << bytes << " bytes allocated";
    } catch (const std::bad_alloc& e) {
      std::string what = e.what();
      EXPECT_NE(what.find(std::to_string(bytes)), std::string::npos) << what;
    }
  }
  void* small = Allocate(&kRawType, 100);
  void* large = Allocate(&kRawType, 1 << 20);
  EXPECT_TRUE(IsZero(small, 100));
  EXPECT_TRUE(IsZero(large, 1 << 20));
  Free(small);
  Free(large);
}

void ExpectInvalid(void* p, const char* needle) {
  try {
    Free(p);
    ADD_FAILURE() << "free of " << p << " accepted";
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::strstr(e.what(), needle), nullptr) << e.what();
  }
}

TEST(CacheTest, FreeOfNonObjectsThrowsInvalidArgumentWithAMessage) {
  EXPECT_NO_THROW(Free(nullptr));
  int on_stack = 0;
  ExpectInvalid(&on_stack, "not an object");
  void* from_malloc = std::malloc(64);
  ExpectInvalid(from_malloc, "not an object");
  std::free(from_malloc);

  void* small = Allocate(&kScanType, 64);
  ExpectInvalid(static_cast<char*>(small) + 8, "interior");
  ExpectInvalid(static_cast<char*>(small) + 63, "interior");

  void* large = Allocate(&kRawType, 200 << 10);
  ExpectInvalid(static_cast<char*>(large) + 1, "interior");
  ExpectInvalid(static_cast<char*>(large) + (100 << 10), "interior");
  ExpectInvalid(static_cast<char*>(large) + (200 << 10) - 8, "interior");
  // None of those freed anything.
  EXPECT_EQ(TypeOf(small), &kScanType);
  EXPECT_EQ(TypeOf(large), &kRawType);
  Free(small);
  Free(large);
  // After the free the large object's memory is not an object any more.
  ExpectInvalid(large, "");
}

// A 144-byte class has 56 slots and 128 bytes of tail waste per 8 KiB span.
constexpr TypeInfo kObj144 = {"obj144", 144,     16, true,
                              nullptr,  nullptr, 0,  nullptr};

void* SpanTail(void* p) {
  Span* s = SpanOf(p);
  return reinterpret_cast<void*>(s->base + uintptr_t{s->nelems} * s->elem_size);
}

TEST(CacheTest, FreeOfASpansTailInAnUncachedSpanThrows) {
  void* p = Allocate(&kObj144, 144);
  Span* s = SpanOf(p);
  ASSERT_EQ(s->elem_size, 144u);
  ASSERT_LT(uint64_t{s->nelems} * s->elem_size,
            uint64_t{s->npages} * kPageSize);
  FlushCurrentCache();
  EXPECT_THROW(Free(SpanTail(p)), std::invalid_argument);
  Free(p);
}

TEST(CacheDeathTest, FreeOfASpansTailOnTheOwnerThreadThrows) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  // The address just past the last slot of a span whose cache word is
  // loaded is no object; Free must reject it with invalid_argument like
  // any other non-object (the child exits 0 if it does). Run in a child
  // process because a wrong answer here corrupts or aborts the heap.
  EXPECT_EXIT(
      {
        void* p = Allocate(&kObj144, 144);
        if (!t_cache->Owns(SpanOf(p))) std::_Exit(2);
        try {
          Free(SpanTail(p));
        } catch (const std::invalid_argument&) {
          std::_Exit(0);
        }
        std::_Exit(1);  // accepted: the next allocation may overrun the span
      },
      ::testing::ExitedWithCode(0), "");
}

}  // namespace
}  // namespace gc::alloc
