// Central free lists, one per span class (seeds 000 and 002): the spans of a
// class that no Cache holds, split into those with free slots (partial_) and
// those without (full_). See alloc/heap.h for the overview.
//
//   CacheSpan()    hands a span with at least one free slot to a Cache,
//                  which then owns it; takes a fresh span from the PageHeap
//                  when no partial span is left.
//   UncacheSpan()  takes a span back from its Cache, folds in the objects
//                  other threads freed into it meanwhile (its freebuf), and
//                  files it as partial, full, or (if empty) back to the heap.
//   FreeObject()   an explicit free into a span of this class that the
//                  caller's Cache does not own.
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
#include <mutex>

#include "alloc/size_classes.h"
#include "alloc/span.h"
#include "runtime/base.h"
#include "runtime/mutex.h"

namespace gc::alloc {

class Heap;

class Central {
 public:
  void Init(Heap* heap, SpanClass sc);

  // A span with a free slot, owned by the calling Cache. Throws
  // std::bad_alloc (OutOfMemoryError) when the heap cannot grow.
  Span* CacheSpan();
  // `local_frees`: objects the Cache freed into this class while it owned
  // spans of it (counted as frees, and their slots as assumed again).
  void UncacheSpan(Span* s, uint64_t local_frees);
  // UncacheSpan(s) then CacheSpan(), under one lock acquisition: the
  // Cache's refill. If s is empty by then, s itself is cached again.
  Span* ExchangeSpan(Span* s, uint64_t local_frees);
  // Frees the object at slot `slot` of `s` (a span of this class the
  // caller does not own). Throws std::invalid_argument on a double free
  // that can be seen now; a double free into a span another Cache holds is
  // detected when that Cache gives the span back.
  void FreeObject(Span* s, uint32_t slot);

  // Whether the object at p is waiting in s's freebuf (takes the lock).
  bool InFreebuf(Span* s, uintptr_t p);

  struct Stats {
    uint64_t mallocs;
    uint64_t frees;
    uint64_t partial_spans;
    uint64_t full_spans;
    uint64_t fresh_spans;
    int64_t live_bytes;  // bytes of allocated (and assumed) slots
  };
  Stats ReadStats();
  // Checks every span on the lists (tests).
  bool Verify();

 private:
  static constexpr size_t kMaxBatch = 8;  // pages of fresh spans per batch

  Span* CacheSpanLocked(std::unique_lock<runtime::Mutex>& lock);
  void MarkCachedLocked(Span* s);
  // Returns s if it ended up empty (on no list), null otherwise.
  Span* UncacheLocked(Span* s, uint64_t local_frees);
  void ReleaseEmptySpan(Span* s);

  runtime::Mutex mu_;
  Heap* heap_ = nullptr;      // Immutable after Init.
  SpanClass span_class_ = 0;  // Immutable after Init.
  SpanList partial_ GC_GUARDED_BY(mu_);
  SpanList full_ GC_GUARDED_BY(mu_);
  // Never-cached empty spans of the last batch from the page heap.
  SpanList fresh_ GC_GUARDED_BY(mu_);
  // Bytes of this class's allocated slots, counted as Go does (see above).
  int64_t live_bytes_ GC_GUARDED_BY(mu_) = 0;
  uint64_t nmalloc_ GC_GUARDED_BY(mu_) = 0;
  uint64_t nfree_ GC_GUARDED_BY(mu_) = 0;
};

}  // namespace gc::alloc
