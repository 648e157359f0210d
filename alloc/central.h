// Central free lists, one per span class (seeds 000 and 002): the spans of a
// class that no Cache holds: those with free slots (partial_), full ones
// (counted only), and empty ones a sweep kept for the class's refills
// (empty_). See alloc/heap.h for the overview.
//
//   Exchange()     a Cache's refill: takes back the spans it has finished
//                  with, folding in the objects other threads freed into
//                  them meanwhile (their freebufs) and filing each as
//                  partial, full, or (if empty) reused or back to the heap;
//                  hands out a few spans with free slots, which the Cache
//                  then owns (one lock acquisition per batch of spans, so
//                  threads refilling the same class rarely meet here).
//   Release()      takes back all of a Cache's spans (its flush).
//   FreeObject()   an explicit free into a span of this class that the
//                  caller's Cache does not own.
//
// Sweeping (seeds 000, 002; sweepgen states in alloc/sweepgen.h). At mark
// termination (world stopped) StartSweep() moves every partial span to
// unswept_ (state h-2); full spans stay counted in nfull_ and are found by
// the sweeper's walk over all spans. A sweeper claims a span
// (SweepClaim::TryAcquire, h-2 -> h-1), takes it off the lists
// (TakeForSweep), sweeps it with no lock held (destructors are user code),
// and files it back (FinishSweep, which ends the claim: state h). Only swept
// spans (h) are ever on partial_ or handed to a Cache. Exchange sweeps on
// demand: with no swept partial span, it claims unswept ones of its class,
// then sweeps the walk over all spans until it found spans of its class
// with free slots (CollectorHooks::sweep_for_refill; full spans are on no
// list), before carving fresh pages. Those sweeps keep the spans they
// empty for the refill rather than freeing them to the page heap; other
// sweeps after a triggered cycle keep them on empty_ within the class's
// reuse budget (Emptied::kKeepIfDue), which the page heap's reclaim frees
// before the heap grows (ReleaseKept). A span
// a Cache held across mark termination (h+1) is swept by that Cache's
// owner before it comes back (Cache::ReleaseAll); when the collector
// flushes an idle processor's cache instead, the span comes back unswept
// (h-2) and is filed on unswept_.
//
// Statistics: mallocs are counted as Go does. When a span is cached, all its
// free slots are counted as allocated (and their bytes as live); when it is
// uncached, the slots still free are subtracted. The fast path therefore
// counts nothing.
//
// Locking: everything is guarded by mu_. Lock order: Central::mu_ before
// PageHeap::mu_; no two Central locks are held at once.
#pragma once

#include <cstdint>

#include "gcrt/alloc/page_heap.h"
#include "gcrt/alloc/size_classes.h"
#include "gcrt/alloc/span.h"
#include "gcrt/runtime/base.h"
#include "gcrt/runtime/mutex.h"

namespace gc::alloc {

class Heap;

// Cache-line aligned: neighbouring classes are locked by different threads.
class alignas(64) Central {
 public:
  // Fork support (Heap::LockForFork): the lock across a fork.
  void LockForFork() GCRT_ACQUIRE(mu_) { mu_.lock(); }
  void UnlockAfterFork() GCRT_RELEASE(mu_) { mu_.unlock(); }

  // Pages of spans handed to a Cache per refill.
  static constexpr size_t kMaxBatch = 8;

  void Init(Heap* heap, SpanClass sc);

  // A Cache's refill, under one lock acquisition: takes back the spans on
  // `retired` (linked through next, cache words written back), and hands
  // out up to `want` (<= kMaxBatch) spans with free slots, linked through
  // next and owned by the caller: emptied retired spans first, then
  // partial ones, else a batch of fresh spans from the page heap. Returns
  // at least one. `local_frees`: objects the Cache freed into spans of this
  // class it owned (counted as frees, and their slots as assumed again).
  // Throws std::bad_alloc (OutOfMemoryError) when the heap cannot grow;
  // the retired spans are given back regardless.
  Span* Exchange(Span* retired, uint64_t local_frees, size_t want,
                 PageCache* pc = nullptr) GCRT_EXCLUDES(mu_);
  // Takes back every span on the list (a Cache's flush).
  void Release(Span* spans, uint64_t local_frees) GCRT_EXCLUDES(mu_);
  // Frees the object at slot `slot` of `s` (a span of this class the
  // caller does not own). Throws std::invalid_argument on a double free
  // that can be seen now. A double free into a span another Cache holds is
  // reported (fatally) when that Cache gives the span back, if the object
  // was not reused in between; a double free racing with the owner reusing
  // the slot cannot be seen without per-slot state and is not detected.
  void FreeObject(Span* s, uint32_t slot) GCRT_EXCLUDES(mu_);

  // Whether the object at p is waiting in s's freebuf (takes the lock).
  bool InFreebuf(Span* s, uintptr_t p) GCRT_EXCLUDES(mu_);
  // Whether slot `slot` of s (a span of this class no Cache of the caller
  // owns) holds a live object, read under the lock: allocated, and in an
  // unswept span also marked by the last cycle (its sweep frees the rest);
  // true while another Cache or a sweeper holds s (its allocation state is
  // theirs alone then).
  bool IsAllocatedUnlessCached(Span* s, uint32_t slot) GCRT_EXCLUDES(mu_);
  // Unlinks and returns s's freebuf (the owner folds it before sweeping).
  FreeLink* TakeFreebuf(Span* s) GCRT_EXCLUDES(mu_);

  // Sweeping. With the world stopped: every partial span becomes unswept.
  // `reuse_empties`: this sweep may keep as many spans it empties as this
  // class's Caches took since the last sweep started (kKeepIfDue), for
  // their refills; otherwise every emptied span goes back to the page heap.
  void StartSweep(bool reuse_empties) GCRT_REQUIRES(runtime::kWorldStopped)
      GCRT_EXCLUDES(mu_);
  // Takes the claimed span (h-1) off the lists.
  void TakeForSweep(const SweepClaim& claim) GCRT_EXCLUDES(mu_);
  // Where FinishSweep filed a span.
  enum class Filed { kPartial, kFull, kFreed };
  // What FinishSweep does with a span its sweep emptied.
  enum class Emptied {
    // Back to the page heap: the sweep reclaims pages for it.
    kFree,
    // Kept (on empty_) while the reuse budget StartSweep set lasts (one
    // span each), else freed. A class that churns takes about as many
    // spans each cycle as the last: freeing each span its sweep empties
    // only for the next refill to carve the same pages again cost two
    // page heap lock round trips per span, and the page heap's lock was
    // the one allocating threads met (Allocation, 2 threads).
    kKeepIfDue,
    // Filed partial, at the front: the sweep ran for a refill of this
    // class, which takes it next (Go's cacheSpan allocates from the span
    // it just swept).
    kKeep,
  };
  // Files a claimed span back after its sweep freed `freed` objects (its
  // bits already swapped): partial, full, or (empty) as `emptied` says.
  Filed FinishSweep(SweepClaim claim, uint32_t freed,
                    Emptied emptied = Emptied::kFree) GCRT_EXCLUDES(mu_);
  // Gives kept empty spans (Emptied::kKeepIfDue) back to the page heap
  // until `pages` pages went back or none is left; returns the pages. The
  // page heap's reclaim, before it grows: the kept spans are a cache for
  // this class's refills, not memory the heap may grow past.
  uint64_t ReleaseKept(uint64_t pages) GCRT_EXCLUDES(mu_);
  // Empty spans kept for this class's refills (tests).
  size_t KeptForTesting() GCRT_EXCLUDES(mu_);
  // Whether unswept spans remain on the partial list (tests).
  bool HasUnswept() GCRT_EXCLUDES(mu_);

  struct Stats {
    uint64_t mallocs;
    uint64_t frees;
    uint64_t partial_spans;
    uint64_t full_spans;
    int64_t live_bytes;     // bytes of allocated (and assumed) slots
    uint64_t cached_spans;  // handed to a Cache and not taken back
  };
  Stats ReadStats() GCRT_EXCLUDES(mu_);
  // Checks every span on the lists (tests).
  bool Verify() GCRT_EXCLUDES(mu_);

 private:
  void MarkCachedLocked(Span* s) GCRT_REQUIRES(mu_);
  // Returns s if it ended up empty and reusable (on no list), null
  // otherwise; an empty span that was never swept goes on *to_free.
  Span* UncacheLocked(Span* s, Span** to_free) GCRT_REQUIRES(mu_);
  // Uncaches every span of a Cache's list (through next) and counts its
  // local frees; returns the spans that ended up empty, through next.
  Span* TakeBackLocked(Span* spans, uint64_t local_frees, Span** to_free)
      GCRT_REQUIRES(mu_);
  // Files a span that is on no list by its allocation count; returns it
  // if empty (unless keep_empty: then it is filed partial).
  Span* FileLocked(Span* s, SpanList* partial, bool keep_empty = false)
      GCRT_REQUIRES(mu_);
  void RemoveLocked(Span* s, SpanList* partial) GCRT_REQUIRES(mu_);
  void ReleaseEmptySpan(Span* s) GCRT_EXCLUDES(mu_);
  // Frees a list (through next) of empty spans; without the lock.
  void ReleaseEmptySpans(Span* list) GCRT_EXCLUDES(mu_);

  runtime::Mutex mu_;
  Heap* heap_ = nullptr;      // Immutable after Init.
  SpanClass span_class_ = 0;  // Immutable after Init.
  // Swept (h), not full; empty only when a sweep kept it there for a
  // refill (FinishSweep's `emptied`), which normally takes it at once or
  // within the cycle (if a cycle intervenes, StartSweep makes it unswept
  // and its next sweep frees or keeps it again).
  SpanList partial_ GCRT_GUARDED_BY(mu_);
  SpanList unswept_ GCRT_GUARDED_BY(mu_);  // unswept (h-2), not full
  // Swept (h) and empty, kept by a sweep within the reuse budget
  // (Emptied::kKeepIfDue). Refills take them after partial_; StartSweep
  // makes them unswept with the rest; ReleaseKept frees them.
  SpanList empty_ GCRT_GUARDED_BY(mu_);
  // Full spans are on no list (the lists are written by every refill, and
  // a list push writes the neighbour span's header: a cache line another
  // thread owns). They are counted, and found through the page map.
  uint64_t nfull_ GCRT_GUARDED_BY(mu_) = 0;

  // Bytes of this class's allocated slots, counted as Go does (see above).
  int64_t live_bytes_ GCRT_GUARDED_BY(mu_) = 0;
  uint64_t nmalloc_ GCRT_GUARDED_BY(mu_) = 0;
  uint64_t nfree_ GCRT_GUARDED_BY(mu_) = 0;
  // Spans MarkCachedLocked handed out and UncacheLocked has not taken back
  // (in_cache), wherever their Cache keeps them meanwhile.
  uint64_t ncached_ GCRT_GUARDED_BY(mu_) = 0;
  // Spans handed to Caches since the last StartSweep (fresh, partial or
  // reused), and how many more emptied spans this sweep may keep.
  uint64_t taken_since_sweep_ GCRT_GUARDED_BY(mu_) = 0;
  uint64_t reuse_budget_ GCRT_GUARDED_BY(mu_) = 0;
};

}  // namespace gc::alloc
