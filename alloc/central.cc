// See central.h.
#include "alloc/central.h"

#include <algorithm>
#include <stdexcept>
#include <string>

#include "alloc/heap.h"
#include "runtime/check.h"

namespace gc::alloc {

void Central::Init(Heap* heap, SpanClass sc) {
  heap_ = heap;
  span_class_ = sc;
}

Span* Central::CacheSpan() {
  std::unique_lock<runtime::Mutex> lock(mu_);
  return CacheSpanLocked(lock);
}

Span* Central::CacheSpanLocked(std::unique_lock<runtime::Mutex>& lock) {
  Span* s = partial_.first();
  if (s != nullptr) {
    partial_.Remove(s);
  } else if ((s = fresh_.first()) != nullptr) {
    fresh_.Remove(s);
  } else {
    // Carve a batch of fresh spans (64 KiB worth) under one page heap lock,
    // without holding ours over the page heap's work: refills by several
    // threads then meet at the heap lock once per batch, not once per span.
    Span* batch[kMaxBatch];
    size_t want = std::max<size_t>(
        1, kMaxBatch / ClassToNPages(SpanClassSizeClass(span_class_)));
    lock.unlock();
    size_t n = heap_->NewSmallSpans(span_class_, want, batch);
    lock.lock();
    s = batch[0];
    for (size_t i = 1; i < n; i++) fresh_.PushBack(batch[i]);
  }
  MarkCachedLocked(s);
  return s;
}

void Central::MarkCachedLocked(Span* s) {
  GC_DCHECK_EXPENSIVE(s->IsValid());
  GC_CHECK(!s->in_cache);
  s->in_cache = true;
  // Swept, then cached (seed 002: h+3).
  s->sweepgen.store(heap_->sweepgen() + 3, std::memory_order_release);
  uint32_t assumed = s->nelems - s->alloc_count;
  GC_CHECK(assumed > 0);
  nmalloc_ += assumed;
  live_bytes_ += int64_t{assumed} * s->elem_size;
}

void Central::UncacheSpan(Span* s, uint64_t local_frees) {
  s->WriteBackCacheWord();  // still the owner: no lock needed
  Span* empty;
  {
    std::lock_guard<runtime::Mutex> lock(mu_);
    empty = UncacheLocked(s, local_frees);
  }
  if (empty != nullptr) ReleaseEmptySpan(empty);
}

Span* Central::ExchangeSpan(Span* s, uint64_t local_frees) {
  s->WriteBackCacheWord();  // still the owner: no lock needed
  std::unique_lock<runtime::Mutex> lock(mu_);
  if (Span* empty = UncacheLocked(s, local_frees)) {
    // Every object of the old span was freed: it is the best span to cache
    // next (its memory is warm in this core's cache).
    MarkCachedLocked(empty);
    return empty;
  }
  return CacheSpanLocked(lock);
}

Span* Central::UncacheLocked(Span* s, uint64_t local_frees) {
  GC_CHECK(s->in_cache);
  s->in_cache = false;
  // Owned frees re-assumed their slots; count them as mallocs and frees.
  nmalloc_ += local_frees;
  nfree_ += local_frees;
  uint32_t unassumed = s->nelems - s->alloc_count;
  nmalloc_ -= unassumed;
  live_bytes_ -= int64_t{unassumed} * s->elem_size;

  // Fold in what other threads freed while the span was cached (seed 000).
  while (FreeLink* v = s->freebuf.load(std::memory_order_relaxed)) {
    s->freebuf.store(v->next, std::memory_order_relaxed);
    uint32_t slot = s->SlotIndex(reinterpret_cast<uintptr_t>(v));
    if (!s->IsAllocated(slot)) {
      runtime::Print(
          "double free of %p: it was freed by another thread while its span "
          "was cached, and was already free",
          static_cast<void*>(v));
      GC_THROW("no object is freed twice (detected folding a freebuf)");
    }
    s->FreeSlot(slot);
    nfree_++;
    live_bytes_ -= s->elem_size;
  }

  uint32_t h = heap_->sweepgen();
  uint32_t sg = s->sweepgen.load(std::memory_order_acquire);
  // h+1 (cached before the sweep began) must be swept by the collector's
  // hook before the span is reused; h+3 is already swept.
  if (sg == h + 1) heap_->SweepCachedSpan(s);
  s->sweepgen.store(h, std::memory_order_release);
  GC_DCHECK_EXPENSIVE(s->IsValid());

  if (s->alloc_count == 0) return s;  // the caller decides: reuse or free
  if (s->alloc_count == s->nelems) {
    full_.PushFront(s);
  } else {
    partial_.PushFront(s);
  }
  return nullptr;
}

void Central::FreeObject(Span* s, uint32_t slot) {
  std::unique_lock<runtime::Mutex> lock(mu_);
  uintptr_t p = s->SlotAddress(slot);
  if (s->in_cache) {
    // Another Cache allocates from this span without locks: leave the
    // object in the freebuf for it to fold in when it gives the span back.
    for (FreeLink* v = s->freebuf.load(std::memory_order_relaxed); v != nullptr;
         v = v->next) {
      if (reinterpret_cast<uintptr_t>(v) == p) {
        throw std::invalid_argument("gcrt: double free of object " +
                                    std::to_string(p));
      }
    }
    auto* link = reinterpret_cast<FreeLink*>(p);
    link->next = s->freebuf.load(std::memory_order_relaxed);
    s->freebuf.store(link, std::memory_order_release);
    return;
  }
  if (!s->IsAllocated(slot)) {
    throw std::invalid_argument(
        "gcrt: double free (or free of a never-allocated slot) at address " +
        std::to_string(p));
  }
  bool was_full = s->alloc_count == s->nelems;
  s->FreeSlot(slot);
  nfree_++;
  live_bytes_ -= s->elem_size;
  if (s->alloc_count == 0) {
    (was_full ? full_ : partial_).Remove(s);
    lock.unlock();
    ReleaseEmptySpan(s);
  } else if (was_full) {
    full_.Remove(s);
    partial_.PushFront(s);
  }
}

bool Central::InFreebuf(Span* s, uintptr_t p) {
  std::lock_guard<runtime::Mutex> lock(mu_);
  for (FreeLink* v = s->freebuf.load(std::memory_order_relaxed); v != nullptr;
       v = v->next) {
    if (reinterpret_cast<uintptr_t>(v) == p) return true;
  }
  return false;
}

void Central::ReleaseEmptySpan(Span* s) { heap_->FreeSmallSpan(s); }

Central::Stats Central::ReadStats() {
  std::lock_guard<runtime::Mutex> lock(mu_);
  return Stats{nmalloc_,      nfree_,         partial_.Count(),
               full_.Count(), fresh_.Count(), live_bytes_};
}

bool Central::Verify() {
  std::lock_guard<runtime::Mutex> lock(mu_);
  for (Span* s = partial_.first(); s != nullptr; s = s->next) {
    if (!s->IsValid() || s->in_cache || s->span_class != span_class_ ||
        s->alloc_count == 0 || s->alloc_count >= s->nelems) {
      runtime::Print("Central::Verify: bad partial span %#lx",
                     static_cast<unsigned long>(s->base));
      return false;
    }
  }
  for (Span* s = fresh_.first(); s != nullptr; s = s->next) {
    if (!s->IsValid() || s->in_cache || s->span_class != span_class_ ||
        s->alloc_count != 0) {
      runtime::Print("Central::Verify: bad fresh span %#lx",
                     static_cast<unsigned long>(s->base));
      return false;
    }
  }
  for (Span* s = full_.first(); s != nullptr; s = s->next) {
    if (!s->IsValid() || s->in_cache || s->span_class != span_class_ ||
        s->alloc_count != s->nelems) {
      runtime::Print("Central::Verify: bad full span %#lx",
                     static_cast<unsigned long>(s->base));
      return false;
    }
  }
  return true;
}

}  // namespace gc::alloc
