// See central.h.
#include "gcrt/alloc/central.h"

#include <algorithm>
#include <stdexcept>
#include <string>
#include <thread>

#include "gcrt/alloc/heap.h"
#include "gcrt/runtime/check.h"

namespace gc::alloc {

namespace {

// Lists of spans on their way somewhere (to a Cache, to the page heap),
// singly linked through Span::next while on no SpanList.
void PushSpan(Span** list, Span* s) {
  s->next = *list;
  *list = s;
}

Span* PopSpan(Span** list) {
  Span* s = *list;
  *list = s->next;
  s->next = nullptr;
  return s;
}

}  // namespace

void Central::Init(Heap* heap, SpanClass sc) {
  heap_ = heap;
  span_class_ = sc;
}

Span* Central::Exchange(Span* retired, uint64_t local_frees, size_t want,
                        PageCache* pc) {
  GCRT_CHECK_GT(want, 0u);
  GCRT_CHECK_LE(want, kMaxBatch);
  Span* out = nullptr;
  size_t n = 0;
  Span* to_free = nullptr;
  auto hand_out = [&](Span* s) GCRT_REQUIRES(mu_) {
    taken_since_sweep_++;
    MarkCachedLocked(s);
    PushSpan(&out, s);
    n++;
  };
  runtime::MutexLock lock(&mu_);
  Span* empties = TakeBackLocked(retired, local_frees, &to_free);
  while (empties != nullptr) {
    Span* empty = PopSpan(&empties);
    // Every object was freed: the best span to cache next, its memory is
    // warm in this core's cache.
    if (n < want) {
      hand_out(empty);
    } else {
      PushSpan(&to_free, empty);
    }
  }
  // Sweep on demand (seed 002's cacheSpan): with no swept partial span,
  // claim unswept ones of this class and sweep them (outside the lock:
  // destructors run) before carving fresh pages, then sweep the walk for
  // full ones of this class (on no list). Bounded, as in Go. The spans
  // these sweeps empty stay on partial_ for this refill (Emptied::kKeep).
  // Nothing is handed out before the last sweep: a destructor may park,
  // and a cycle run meanwhile, and only spans on the lists are made
  // unswept by it.
  constexpr int kMaxSweeps = 8;
  int sweep_budget = kMaxSweeps;
  bool walk_swept = false;
  for (;;) {
    while (n < want && !partial_.empty()) {
      Span* s = partial_.first();
      partial_.Remove(s);
      hand_out(s);
    }
    // Spans a sweep emptied and kept for this class: swept already.
    while (n < want && !empty_.empty()) {
      Span* s = empty_.first();
      empty_.Remove(s);
      hand_out(s);
    }
    if (n > 0) break;
    const Heap::CollectorHooks* hooks = heap_->hooks();
    if (hooks == nullptr) break;
    uint32_t h = heap_->sweepgen();
    SweepClaim claimed[kMaxSweeps];
    int nclaimed = 0;
    for (Span* s = unswept_.first(); s != nullptr && nclaimed < sweep_budget;) {
      Span* next = s->next;
      // A failed claim: a sweeper walking all spans has it and waits for
      // this lock to take it off the list.
      if (SweepClaim claim = SweepClaim::TryAcquire(s, h)) {
        unswept_.Remove(s);
        claimed[nclaimed++] = std::move(claim);
      }
      s = next;
    }
    if (nclaimed > 0) {
      sweep_budget -= nclaimed;
      lock.Unlock();
      for (int i = 0; i < nclaimed; i++) {
        // Filed back by FinishSweep, an emptied span kept on partial_.
        hooks->sweep_taken(std::move(claimed[i]), Emptied::kKeep);
      }
      lock.Lock();
      continue;
    }
    if (walk_swept) break;
    walk_swept = true;
    // With free pages to carve, a fresh span is cheap, and the sweep is
    // left to the background sweeper (on an idle core, if there is one;
    // sweeping here made single-threaded binary-trees 11% slower).
    // Without, the carve would sweep the walk first anyway (the page
    // heap's reclaim), and free the spans it emptied only to carve them
    // again: sweep here and keep them.
    const uint64_t npages = ClassToNPages(SpanClassSizeClass(span_class_));
    if ((pc != nullptr && pc->run != nullptr && pc->run->npages >= npages) ||
        heap_->pages().FreePagesHint() >= want * npages) {
      break;
    }
    lock.Unlock();
    hooks->sweep_for_refill(span_class_, want);
    lock.Lock();
  }
  if (n == 0) {
    // Carve a batch of fresh spans (64 KiB worth) under one page heap lock,
    // without holding ours over the page heap's work.
    Span* batch[kMaxBatch];
    lock.Unlock();
    size_t got;
    try {
      got = heap_->NewSmallSpans(span_class_, want, batch, pc);
    } catch (...) {
      ReleaseEmptySpans(to_free);
      throw;
    }
    lock.Lock();
    for (size_t i = got; i > 0; i--) hand_out(batch[i - 1]);
  }
  lock.Unlock();
  ReleaseEmptySpans(to_free);
  return out;
}

void Central::Release(Span* spans, uint64_t local_frees) {
  Span* to_free = nullptr;
  {
    runtime::MutexLock lock(&mu_);
    Span* empties = TakeBackLocked(spans, local_frees, &to_free);
    while (empties != nullptr) PushSpan(&to_free, PopSpan(&empties));
  }
  ReleaseEmptySpans(to_free);
}

Span* Central::TakeBackLocked(Span* spans, uint64_t local_frees,
                              Span** to_free) {
  // Owned frees re-assumed their slots; count them as mallocs and frees.
  nmalloc_ += local_frees;
  nfree_ += local_frees;
  Span* empties = nullptr;
  while (spans != nullptr) {
    if (Span* empty = UncacheLocked(PopSpan(&spans), to_free)) {
      PushSpan(&empties, empty);
    }
  }
  return empties;
}

void Central::MarkCachedLocked(Span* s) {
  GCRT_DCHECK_EXPENSIVE(s->IsValid());
  GCRT_CHECK(!s->in_cache);
  s->in_cache = true;
  ncached_++;
  // Only swept spans are cached (seed 002).
  s->sweepgen.Cache(heap_->sweepgen());
  uint32_t assumed = s->nelems - s->alloc_count;
  GCRT_CHECK_GT(assumed, 0u);
  nmalloc_ += assumed;
  live_bytes_ += int64_t{assumed} * s->elem_size;
  heap_->AddHeapLive(int64_t{assumed} * s->elem_size);
}

Span* Central::UncacheLocked(Span* s, Span** to_free) {
  GCRT_CHECK(s->in_cache);
  s->in_cache = false;
  ncached_--;
  uint32_t h = heap_->sweepgen();
  // h+1: cached before this sweep began and given back unswept (the
  // collector flushing an idle processor). h+3: cached after its sweep
  // (or swept by its owner on the way out). The transitions below check.
  bool stale = s->sweepgen.Of(h) == SweepGen::State::kCachedUnswept;
  // A stale span's slots were assumed before the last mark, whose live
  // bytes replaced heap_live: nothing of them is in it now. So for one its
  // owner swept on the way out (h+3 now).
  const bool assumed_before_mark = stale || s->swept_stale;
  s->swept_stale = false;
  uint32_t unassumed = s->nelems - s->alloc_count;
  nmalloc_ -= unassumed;
  live_bytes_ -= int64_t{unassumed} * s->elem_size;
  if (!assumed_before_mark) {
    heap_->AddHeapLive(-int64_t{unassumed} * s->elem_size);
  }

  // Fold in what other threads freed while the span was cached (seed 000).
  while (FreeLink* v = s->freebuf.load(std::memory_order_relaxed)) {
    uintptr_t addr = reinterpret_cast<uintptr_t>(v);
    uint32_t slot = s->Contains(addr) ? s->SlotIndex(addr) : s->nelems;
    if (slot >= s->nelems || s->SlotAddress(slot) != addr) {
      // The link was overwritten: the object was freed by another thread
      // and then reused by the owner, i.e. freed twice.
      runtime::Print(
          "double free detected folding the freebuf of span %#lx: a link "
          "points to %p, not an object of the span (an object freed by "
          "another thread was freed, reused or written again)",
          static_cast<unsigned long>(s->base), static_cast<void*>(v));
      GCRT_FATAL("no object is freed twice (freebuf link intact)");
    }
    s->freebuf.store(v->next, std::memory_order_relaxed);
    if (!s->IsAllocated(slot)) {
      runtime::Print(
          "double free of %p: it was freed by another thread while its span "
          "was cached, and was already free",
          static_cast<void*>(v));
      GCRT_FATAL("no object is freed twice (detected folding a freebuf)");
    }
    s->FreeSlot(slot);
    nfree_++;
    live_bytes_ -= s->elem_size;
    if (!assumed_before_mark) heap_->AddHeapLive(-int64_t{s->elem_size});
  }
  GCRT_DCHECK_EXPENSIVE(s->IsValid());

  if (stale) {
    if (s->alloc_count == 0) {
      // Nothing allocated, so nothing to sweep: but its bits are a cycle
      // old, so it goes back to the heap rather than to a Cache.
      s->sweepgen.UncacheStaleEmpty(h);
      PushSpan(to_free, s);
      return nullptr;
    }
    s->sweepgen.UncacheStaleUnswept(h);
    FileLocked(s, &unswept_);
    return nullptr;
  }
  s->sweepgen.UncacheSwept(h);
  return FileLocked(s, &partial_);
}

Span* Central::FileLocked(Span* s, SpanList* partial, bool keep_empty) {
  // The caller decides: reuse or free.
  if (s->alloc_count == 0 && !keep_empty) return s;
  if (s->alloc_count == s->nelems) {
    nfull_++;  // on no list: nothing to allocate from it
  } else {
    partial->PushFront(s);
  }
  return nullptr;
}

void Central::RemoveLocked(Span* s, SpanList* partial) {
  if (s->alloc_count == s->nelems) {
    GCRT_CHECK_GT(nfull_, 0u);
    nfull_--;
  } else {
    partial->Remove(s);
  }
}

void Central::StartSweep(bool reuse_empties) {
  runtime::MutexLock lock(&mu_);
  GCRT_CHECK(unswept_.empty() && "every span was swept before the next mark");
  std::swap(partial_, unswept_);
  unswept_.Splice(empty_);
  reuse_budget_ = reuse_empties ? taken_since_sweep_ : 0;
  taken_since_sweep_ = 0;
}

uint64_t Central::ReleaseKept(uint64_t pages) {
  const uint64_t npages = ClassToNPages(SpanClassSizeClass(span_class_));
  Span* to_free = nullptr;
  uint64_t released = 0;
  {
    runtime::MutexLock lock(&mu_);
    while (released < pages && !empty_.empty()) {
      Span* s = empty_.first();
      empty_.Remove(s);
      PushSpan(&to_free, s);
      released += npages;
    }
  }
  ReleaseEmptySpans(to_free);
  return released;
}

size_t Central::KeptForTesting() {
  runtime::MutexLock lock(&mu_);
  return empty_.size();
}

void Central::TakeForSweep(const SweepClaim& claim) {
  runtime::MutexLock lock(&mu_);
  GCRT_CHECK(!claim.span()->in_cache);
  RemoveLocked(claim.span(), &unswept_);
}

Central::Filed Central::FinishSweep(SweepClaim claim, uint32_t freed,
                                    Emptied emptied) {
  Span* s = claim.span();
  Span* empty;
  Filed filed;
  {
    runtime::MutexLock lock(&mu_);
    nfree_ += freed;
    live_bytes_ -= int64_t{freed} * s->elem_size;
    GCRT_DCHECK_EXPENSIVE(s->IsValid());
    std::move(claim).Finish();
    filed = s->alloc_count == s->nelems ? Filed::kFull : Filed::kPartial;
    if (s->alloc_count == 0 && emptied == Emptied::kKeepIfDue &&
        reuse_budget_ > 0) {
      reuse_budget_--;
      empty_.PushFront(s);
      return filed;
    }
    empty = FileLocked(s, &partial_,
                       s->alloc_count == 0 && emptied == Emptied::kKeep);
  }
  if (empty == nullptr) return filed;
  ReleaseEmptySpan(empty);
  return Filed::kFreed;
}

bool Central::HasUnswept() {
  runtime::MutexLock lock(&mu_);
  return !unswept_.empty();
}

FreeLink* Central::TakeFreebuf(Span* s) {
  runtime::MutexLock lock(&mu_);
  FreeLink* list = s->freebuf.load(std::memory_order_relaxed);
  s->freebuf.store(nullptr, std::memory_order_relaxed);
  return list;
}

void Central::FreeObject(Span* s, uint32_t slot) {
  runtime::MutexLock lock(&mu_);
  uintptr_t p = s->SlotAddress(slot);
  // An uncached span is freed into only once swept: one being swept is
  // waited for, an unswept one is claimed and swept here first.
  while (!s->in_cache) {
    uint32_t h = heap_->sweepgen();
    if (s->sweepgen.Of(h) == SweepGen::State::kSwept) break;
    if (SweepClaim claim = SweepClaim::TryAcquire(s, h)) {
      RemoveLocked(s, &unswept_);
      lock.Unlock();
      heap_->hooks()->sweep_taken(std::move(claim), Emptied::kFree);
    } else {
      lock.Unlock();
      std::this_thread::yield();
    }
    lock.Lock();
    if (s->state.load(std::memory_order_acquire) != SpanState::kInUse) {
      // The sweep freed the object (it was unreachable) and maybe the span.
      throw std::invalid_argument(
          "gcrt: free of " + std::to_string(p) +
          ": the object was already reclaimed by the collector (it was "
          "unreachable at the last collection)");
    }
  }
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
    GCRT_ASAN_UNPOISON(p, sizeof(FreeLink));  // (gc::free's quarantine)
    link->next = s->freebuf.load(std::memory_order_relaxed);
    s->freebuf.store(link, std::memory_order_release);
    // The link stays readable until the owner folds it (Span::FreeSlot).
    GCRT_ASAN_POISON(p + sizeof(FreeLink), s->elem_size - sizeof(FreeLink));
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
    if (was_full) {
      nfull_--;
    } else {
      partial_.Remove(s);
    }
    lock.Unlock();
    ReleaseEmptySpan(s);
  } else if (was_full) {
    nfull_--;
    partial_.PushFront(s);
  }
}

bool Central::InFreebuf(Span* s, uintptr_t p) {
  runtime::MutexLock lock(&mu_);
  for (FreeLink* v = s->freebuf.load(std::memory_order_relaxed); v != nullptr;
       v = v->next) {
    if (reinterpret_cast<uintptr_t>(v) == p) return true;
  }
  return false;
}

bool Central::IsAllocatedUnlessCached(Span* s, uint32_t slot) {
  runtime::MutexLock lock(&mu_);
  if (s->in_cache) return true;
  // A span claimed for sweeping (h-1) is the sweeper's once taken off the
  // lists; an unswept one (h-2) cannot be taken while this lock is held.
  SweepGen::State state = s->sweepgen.Of(heap_->sweepgen());
  if (state == SweepGen::State::kSweeping) return true;
  // Unswept: its dead objects still read allocated; the last marking says
  // which are live (its mark bits are stable until the span is claimed).
  if (state == SweepGen::State::kUnswept &&
      (s->mark_bits[slot / 64] & (uint64_t{1} << (slot % 64))) == 0) {
    return false;
  }
  return s->IsAllocated(slot);
}

void Central::ReleaseEmptySpan(Span* s) { heap_->FreeSmallSpan(s); }

void Central::ReleaseEmptySpans(Span* list) {
  while (list != nullptr) ReleaseEmptySpan(PopSpan(&list));
}

Central::Stats Central::ReadStats() {
  runtime::MutexLock lock(&mu_);
  return Stats{
      nmalloc_, nfree_,      partial_.size() + unswept_.size() + empty_.size(),
      nfull_,   live_bytes_, ncached_};
}

bool Central::Verify() {
  runtime::MutexLock lock(&mu_);
  for (Span* s = partial_.first(); s != nullptr; s = s->next) {
    if (!s->IsValid() || s->in_cache || s->span_class != span_class_ ||
        s->alloc_count >= s->nelems ||
        s->sweepgen.Of(heap_->sweepgen()) != SweepGen::State::kSwept) {
      runtime::Print("Central::Verify: bad partial span %#lx",
                     static_cast<unsigned long>(s->base));
      return false;
    }
  }
  for (Span* s = empty_.first(); s != nullptr; s = s->next) {
    if (!s->IsValid() || s->in_cache || s->span_class != span_class_ ||
        s->alloc_count != 0 ||
        s->sweepgen.Of(heap_->sweepgen()) != SweepGen::State::kSwept) {
      runtime::Print("Central::Verify: bad kept empty span %#lx",
                     static_cast<unsigned long>(s->base));
      return false;
    }
  }
  return true;
}

}  // namespace gc::alloc
