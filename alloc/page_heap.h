// The page heap (seed 003, gccgo's mheap.c): 8 KiB pages in large reserved
// arenas, handed out as Spans. See alloc/heap.h for the overview.
//
//   AllocSpan(n)  free_[n] for n < kMaxSmallPages, else best fit (fewest
//                 pages, then lowest address) among large_; if none fits, ask
//                 the reclaim hook (the collector's sweeper) to free pages,
//                 then grow by at least 64 KiB; split off the rest.
//   FreeSpan(s)   coalesce with both neighbours (found through the page map)
//                 and put the result on its free list.
//   Scavenge      pages of free spans idle longer than a limit are returned
//                 to the OS (madvise); a background thread does it
//                 periodically, ReleaseAll() does it at once.
//
// Locking: every field is guarded by mu_ unless it says otherwise. mu_ is
// the last lock in the order (Central::mu_ may be held when taking it, never
// the reverse); no callback runs with it held.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <mutex>
#include <thread>

#include "alloc/page_map.h"
#include "alloc/span.h"
#include "runtime/base.h"
#include "runtime/mutex.h"

namespace gc::alloc {

// A processor's private run of free pages (Go 1.19's pageCache): its
// Cache's refills cut spans from the run without the heap lock, so threads
// refilling at once meet in the page heap once per run (512 KiB), not once
// per batch of spans. Owned by one Cache (no sync); the run is an in-use
// span in state kAllocating, so nothing else coalesces with it.
struct PageCache {
  static constexpr uint32_t kPages = 64;
  static constexpr uint32_t kMaxRecords = 64;
  Span* run = nullptr;              // the uncut rest, or null
  Span* records[kMaxRecords] = {};  // spare Span records for cut spans
  uint32_t nrecords = 0;
};

class PageHeap {
 public:
  static constexpr uint32_t kMaxSmallPages = 128;
  static constexpr size_t kArenaBytes = size_t{64} << 20;
  static constexpr size_t kMinGrowBytes = 64 << 10;
  static constexpr size_t kOsCommitBytes = 4 << 20;
  // Largest span the heap will try to reserve; beyond it AllocSpan throws.
  static constexpr size_t kMaxSpanBytes = size_t{1} << 40;

  PageHeap();

  // A span of `npages` in state kAllocating with base/npages set; the
  // caller fills the rest and publishes it by storing kInUse. *needzero says
  // whether its memory may be dirty. Throws OutOfMemoryError (a std::bad_alloc)
  // with a message.
  Span* AllocSpan(uint32_t npages, bool* needzero) {
    return AllocSpanOrNull(npages, needzero, 0);
  }
  // The same, except that it returns null instead of growing the heap when
  // free spans hold at least `enough` pages between them (nonzero): a
  // caller that can use pieces takes those rather than new memory.
  Span* AllocSpanOrNull(uint32_t npages, bool* needzero, uint64_t enough);
  // Up to `count` spans of `npages` each (at least one), carved under one
  // lock acquisition; only the first may grow the heap. Returns how many
  // were stored in out[], with needzero[i] for each.
  size_t AllocSpans(uint32_t npages, size_t count, Span** out, bool* needzero);
  // As AllocSpans, cutting the spans from `pc` (refilled from the heap
  // with one lock acquisition when it runs short).
  size_t AllocSpansCached(PageCache* pc, uint32_t npages, size_t count,
                          Span** out, bool* needzero);
  // Gives the rest of pc's run and its spare records back to the heap.
  void ReleasePageCache(PageCache* pc);
  // Returns an in-use span's pages to the heap.
  void FreeSpan(Span* s);

  Span* Lookup(uintptr_t addr) const { return map_.Lookup(addr); }
  // The in-use span covering addr, or null.
  Span* LookupInUse(uintptr_t addr) const {
    Span* s = map_.Lookup(addr);
    if (s == nullptr ||
        s->state.load(std::memory_order_acquire) != SpanState::kInUse ||
        !s->Contains(addr)) {
      return nullptr;
    }
    return s;
  }

  // Every Span record ever mapped, in a stable order (Go's allspans): the
  // sweeper walks them all and claims those in use and unswept. Records are
  // never unmapped; a record may be in any state when read.
  static constexpr size_t kSpansPerChunk = (64 << 10) / sizeof(Span);
  size_t SpanRecordCount() const {
    return span_chunks_count_.load(std::memory_order_acquire) * kSpansPerChunk;
  }
  // Record i < SpanRecordCount().
  Span* SpanRecord(size_t i) const {
    return span_chunks_[i / kSpansPerChunk].load(std::memory_order_acquire) +
           i % kSpansPerChunk;
  }

  // The collector registers a function that sweeps until at least `npages`
  // pages are freed (seed 003's MHeap_Reclaim); it runs before growing.
  using ReclaimHook = void (*)(uint32_t npages);
  // The heap's limit (bytes of span memory from the OS, sys_bytes); 0 is
  // none. Growth past it throws OutOfMemoryError instead, after the
  // reclaim hook has swept what it could.
  void SetLimit(uint64_t bytes) {
    limit_bytes_.store(bytes, std::memory_order_relaxed);
  }
  uint64_t limit() const {
    return limit_bytes_.load(std::memory_order_relaxed);
  }
  void SetReclaimHook(ReclaimHook hook) {
    reclaim_hook_.store(hook, std::memory_order_release);
  }

  // Returns to the OS the pages of free spans unused for at least `idle`.
  // Returns the bytes released by this call.
  size_t Scavenge(std::chrono::nanoseconds idle);
  size_t ReleaseAll() { return Scavenge(std::chrono::nanoseconds(0)); }
  // Starts (once) the background scavenger: every `period` it scavenges
  // spans idle for `idle`. Calling again changes the limits.
  void StartScavenger(std::chrono::nanoseconds idle,
                      std::chrono::nanoseconds period);

  struct Stats {
    uint64_t sys_bytes;       // committed from the OS for spans
    uint64_t inuse_bytes;     // in in-use spans
    uint64_t idle_bytes;      // in free spans (released or not)
    uint64_t released_bytes;  // of idle_bytes, returned to the OS
    uint64_t reserved_bytes;  // address space reserved for arenas
    uint64_t scavenge_runs;   // background and explicit scavenges
  };
  Stats ReadStats();

  // Walks every structure and checks the invariants (tests, gcdebug):
  // every page of the committed arenas is covered by exactly one in-use or
  // free span, spans do not overlap, no two free spans are adjacent, every
  // free span is on the list its size says, and the accounting adds up.
  // Returns false (after printing why) on the first violation.
  bool Verify();

 private:
  // Guarded by mu_, every field.
  struct Arena {
    uintptr_t base;
    uintptr_t committed_end;  // [base, committed_end) belongs to the heap
    // [base, os_committed_end) is read-write at the OS. Committed ahead in
    // kOsCommitBytes chunks: every mprotect in a multi-threaded process
    // costs a TLB shootdown on the other cores, so it must be rare.
    uintptr_t os_committed_end;
    uintptr_t end;
    Arena* next;
  };

  // Maps Span records so at least n are spare; may throw.
  void ReserveSpanObjectsLocked(size_t n = 2);
  // Takes a spare record; never fails after ReserveSpanObjectsLocked.
  Span* NewSpanObjectLocked();
  void FreeSpanObjectLocked(Span* s);
  Span* FindFreeLocked(uint32_t npages);
  // Takes free span s off its list and splits off what npages leaves.
  Span* CarveLocked(Span* s, uint32_t npages, bool* needzero);
  void GrowLocked(uint32_t npages);
  void InsertFreeLocked(Span* s);
  void RemoveFreeLocked(Span* s);
  void FreeSpanLocked(Span* s, bool was_in_use);
  void SetFreeEndsLocked(Span* s);
  void ScavengerLoop();
  static int64_t NowNs();

  runtime::Mutex mu_;
  PageMap map_;  // Written under mu_, read by anyone (see page_map.h).
  SpanList free_[kMaxSmallPages] GC_GUARDED_BY(mu_);
  SpanList large_ GC_GUARDED_BY(mu_);
  // Bit n set iff free_[n] is not empty.
  uint64_t nonempty_[kMaxSmallPages / 64] GC_GUARDED_BY(mu_) = {};
  Arena* arenas_ GC_GUARDED_BY(mu_) = nullptr;
  Span* span_pool_ GC_GUARDED_BY(mu_) = nullptr;  // dead Span objects
  size_t span_pool_count_ GC_GUARDED_BY(mu_) = 0;
  // What growing by npages asks of the OS (whole growth steps), and
  // whether that passes the limit.
  static size_t GrowBytes(uint32_t npages) {
    return ((size_t{npages} << kPageShift) + kMinGrowBytes - 1) &
           ~(kMinGrowBytes - 1);
  }
  bool GrowthPassesLimitLocked(uint32_t npages) const GC_REQUIRES(mu_);

  uint64_t sys_bytes_ GC_GUARDED_BY(mu_) = 0;
  // Atomic: set by the collector's configuration, read (relaxed) under mu_
  // when growing.
  std::atomic<uint64_t> limit_bytes_{0};
  uint64_t inuse_pages_ GC_GUARDED_BY(mu_) = 0;
  uint64_t free_pages_ GC_GUARDED_BY(mu_) = 0;
  uint64_t released_pages_ GC_GUARDED_BY(mu_) = 0;
  uint64_t reserved_bytes_ GC_GUARDED_BY(mu_) = 0;
  uint64_t scavenge_runs_ GC_GUARDED_BY(mu_) = 0;
  // The span record table: chunks appended under mu_ (store release, then
  // the count, release), read by anyone (acquire). 2^16 chunks of 341
  // records: 22 M spans, 170 GiB of one-page spans; exceeding it is fatal.
  static constexpr size_t kMaxSpanChunks = size_t{1} << 16;
  std::atomic<Span*> span_chunks_[kMaxSpanChunks] = {};
  std::atomic<size_t> span_chunks_count_{0};
  // Atomic: stored once by the collector (release), loaded before growing.
  std::atomic<ReclaimHook> reclaim_hook_{nullptr};

  // Background scavenger: its limits are guarded by mu_, and it waits on
  // scavenger_cv_ with mu_.
  std::condition_variable_any scavenger_cv_;
  bool scavenger_started_ GC_GUARDED_BY(mu_) = false;
  std::chrono::nanoseconds scavenger_idle_ GC_GUARDED_BY(mu_){0};
  std::chrono::nanoseconds scavenger_period_ GC_GUARDED_BY(mu_){0};
};

}  // namespace gc::alloc
