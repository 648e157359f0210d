// See page_heap.h.
#include "gcrt/alloc/page_heap.h"

#include <time.h>

#include <algorithm>
#include <cstdio>
#include <new>
#include <string>

#include "gcrt/alloc/gc_bits.h"
#include "gcrt/runtime/backtrace.h"
#include "gcrt/runtime/check.h"
#include "gcrt/runtime/os_mem.h"
#include "gcrt/runtime/thread_start.h"

namespace gc::alloc {

namespace {
constexpr size_t kSpanPoolChunk = 64 << 10;
}  // namespace

PageHeap::PageHeap()
    : span_chunks_(static_cast<std::atomic<Span*>*>(runtime::os::MapMetadata(
          kMaxSpanChunks * sizeof(std::atomic<Span*>), "span record table",
          /*populate=*/false))) {}

int64_t PageHeap::NowNs() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

PageMap::PageMap()
    : root_(static_cast<std::atomic<Leaf*>*>(runtime::os::MapMetadata(
          kRootEntries * sizeof(std::atomic<Leaf*>), "page map root",
          /*populate=*/false))) {}

void PageMap::EnsureLocked(const runtime::Mutex&, uintptr_t base,
                           uintptr_t bytes) {
  uintptr_t first = (base >> kPageShift) >> kLeafBits;
  uintptr_t last = ((base + bytes - 1) >> kPageShift) >> kLeafBits;
  GCRT_CHECK(last < kRootEntries);
  for (uintptr_t i = first; i <= last; i++) {
    if (root_[i].load(std::memory_order_relaxed) == nullptr) {
      void* mem = runtime::os::MapMetadata(sizeof(Leaf), "page map leaf",
                                           /*populate=*/false);
      root_[i].store(static_cast<Leaf*>(mem), std::memory_order_release);
      mapped_bytes_ += (sizeof(Leaf) + runtime::os::kOsPageSize - 1) &
                       ~(runtime::os::kOsPageSize - 1);
    }
  }
  // The range's entries and released bits made resident and writable
  // now, before any span in it is published and read: a first read would
  // map the zero page, and the first store under the lock would then take
  // a copy-on-write fault, with a TLB shootdown of every core running the
  // process.
  const uintptr_t page_end = (base + bytes - 1) / kPageSize + 1;
  for (uintptr_t page = base / kPageSize; page < page_end;) {
    Leaf* leaf = root_[page >> kLeafBits].load(std::memory_order_relaxed);
    const uintptr_t i = page & (kLeafEntries - 1);
    const uintptr_t n = std::min(page_end - page, kLeafEntries - i);
    runtime::os::PrefaultMetadata(&leaf->entries[i],
                                  n * sizeof(std::atomic<Span*>));
    runtime::os::PrefaultMetadata(&leaf->released[i / 64],
                                  ((i + n + 63) / 64 - i / 64) * 8);
    page += n;
  }
}

size_t PageMap::CountReleasedLocked(const runtime::Mutex&, uintptr_t addr,
                                    size_t npages) const {
  size_t count = 0;
  uintptr_t page = addr >> kPageShift;
  const uintptr_t end = page + npages;
  while (page < end) {
    const Leaf* leaf = root_[page >> kLeafBits].load(std::memory_order_relaxed);
    uintptr_t i = page & (kLeafEntries - 1);
    uintptr_t n = std::min<uintptr_t>(end - page, 64 - i % 64);
    uint64_t mask =
        n == 64 ? ~uint64_t{0} : ((uint64_t{1} << n) - 1) << (i % 64);
    count += static_cast<size_t>(
        __builtin_popcountll(leaf->released[i / 64] & mask));
    page += n;
  }
  return count;
}

void PageMap::MarkReleasedLocked(const runtime::Mutex&, uintptr_t addr,
                                 size_t npages, bool released) {
  uintptr_t page = addr >> kPageShift;
  const uintptr_t end = page + npages;
  while (page < end) {
    Leaf* leaf = root_[page >> kLeafBits].load(std::memory_order_relaxed);
    uintptr_t i = page & (kLeafEntries - 1);
    uintptr_t n = std::min<uintptr_t>(end - page, 64 - i % 64);
    uint64_t mask =
        n == 64 ? ~uint64_t{0} : ((uint64_t{1} << n) - 1) << (i % 64);
    if (released) {
      leaf->released[i / 64] |= mask;
    } else {
      leaf->released[i / 64] &= ~mask;
    }
    page += n;
  }
}

void PageHeap::ReserveSpanObjectsLocked(size_t n) {
  // Enough for what the caller is about to do (by default one growth and
  // one split), so an operation that has started to change the heap never
  // fails for want of a Span record.
  while (span_pool_count_ < n) {
    // Span objects are never returned to the OS: a marker or a stale page
    // map entry may still read one after it died.
    void* mem = runtime::os::MapMetadata(kSpanPoolChunk, "span structures");
    auto* spans = static_cast<Span*>(mem);
    size_t fresh = kSpanPoolChunk / sizeof(Span);
    static_assert(kSpanPoolChunk / sizeof(Span) == kSpansPerChunk);
    size_t chunk = span_chunks_count_.load(std::memory_order_relaxed);
    GCRT_CHECK(chunk < kMaxSpanChunks && "the span record table has room");
    for (size_t i = 0; i < fresh; i++) {
      Span* s = new (&spans[i]) Span();
      s->next = span_pool_;
      span_pool_ = s;
    }
    span_pool_count_ += fresh;
    // Published after the records are constructed: the sweeper walks them.
    span_chunks_[chunk].store(spans, std::memory_order_release);
    span_chunks_count_.store(chunk + 1, std::memory_order_release);
  }
}

Span* PageHeap::NewSpanObjectLocked() {
  GCRT_CHECK(span_pool_ != nullptr && "ReserveSpanObjectsLocked ran first");
  Span* s = span_pool_;
  span_pool_ = s->next;
  span_pool_count_--;
  s->next = nullptr;
  s->prev = nullptr;
  return s;
}

void PageHeap::FreeSpanObjectLocked(Span* s) {
  s->state.store(SpanState::kDead, std::memory_order_release);
  s->types.Reset();
  s->alloc_bits = nullptr;
  s->mark_bits = nullptr;
  s->freebuf.store(nullptr, std::memory_order_relaxed);
  s->npages = 0;
  s->prev = nullptr;
  s->next = span_pool_;
  span_pool_ = s;
  span_pool_count_++;
}

void PageHeap::InsertFreeLocked(Span* s) {
  // Spans wholly released go to the back of their list and the rest to the
  // front: allocation (which takes the first span) reuses resident memory
  // first, and the scavenger finds a list's unreleased spans at its front.
  if (s->npages < kMaxSmallPages) {
    if (s->npreleased == s->npages) {
      free_[s->npages].PushBack(s);
    } else {
      free_[s->npages].PushFront(s);
    }
    nonempty_[s->npages / 64] |= uint64_t{1} << (s->npages % 64);
  } else {
    large_.PushFront(s);
  }
}

void PageHeap::RemoveFreeLocked(Span* s) {
  if (s->npages < kMaxSmallPages) {
    free_[s->npages].Remove(s);
    if (free_[s->npages].empty()) {
      nonempty_[s->npages / 64] &= ~(uint64_t{1} << (s->npages % 64));
    }
  } else {
    large_.Remove(s);
  }
}

void PageHeap::SetFreeEndsLocked(Span* s) {
  map_.Set(s->base, s);
  map_.Set(s->limit() - kPageSize, s);
}

Span* PageHeap::FindFreeLocked(uint32_t npages) {
  // The smallest non-empty exact-size list at or above npages, by bitmap.
  for (uint32_t w = npages / 64; npages < kMaxSmallPages && w < 2; w++) {
    uint64_t bits = nonempty_[w];
    if (w == npages / 64) bits &= ~uint64_t{0} << (npages % 64);
    if (bits != 0) {
      uint32_t n = w * 64 + static_cast<uint32_t>(__builtin_ctzll(bits));
      GCRT_DCHECK(!free_[n].empty());
      return free_[n].first();
    }
  }
  Span* best = nullptr;
  for (Span* s = large_.first(); s != nullptr; s = s->next) {
    if (s->npages < npages) continue;
    if (best == nullptr || s->npages < best->npages ||
        (s->npages == best->npages && s->base < best->base)) {
      best = s;
    }
  }
  return best;
}

bool PageHeap::GrowthPassesLimitLocked(uint32_t npages) const {
  const uint64_t limit = limit_bytes_.load(std::memory_order_relaxed);
  return limit != 0 && sys_bytes_ + GrowBytes(npages) > limit;
}

void PageHeap::GrowLocked(uint32_t npages) {
  size_t need = size_t{npages} << kPageShift;
  size_t ask = GrowBytes(npages);
  const uint64_t limit = limit_bytes_.load(std::memory_order_relaxed);
  if (GrowthPassesLimitLocked(npages)) {
    throw runtime::OutOfMemoryError(
        "gcrt: out of memory: the heap is at " +
        std::to_string(sys_bytes_ >> 10) + " KiB and " +
        std::to_string(need >> 10) + " KiB more (" + std::to_string(ask >> 10) +
        " KiB, the heap grows in " + std::to_string(kMinGrowBytes >> 10) +
        " KiB steps) would pass its limit of " +
        (limit < 1024 ? std::to_string(limit) + " bytes"
                      : std::to_string(limit >> 10) + " KiB") +
        " (gc::set_memory_limit / GCRT_MEMORY_LIMIT); " +
        std::to_string((inuse_pages_ * kPageSize) >> 10) +
        " KiB are in spans in use: drop references (gc::why_alive names "
        "what keeps an object; with stack scanning on, a word left in the "
        "frame of a function still running can), or raise the limit");
  }
  Arena* a = arenas_;
  if (a == nullptr || a->end - a->committed_end < ask) {
    size_t bytes = ask > kArenaBytes ? ask : kArenaBytes;
    // One extra page past the end is reserved and never committed or
    // mapped, so spans of two arenas that happen to be adjacent in the
    // address space never coalesce.
    // Aligned to 2 MiB, so a kernel whose transparent huge pages are on
    // for every mapping can back the arena with them. gcrt does not ask
    // for them where the system leaves them to madvise (as Go since 1.21.1):
    // the first touch of a huge page zeroes 2 MiB in one fault, 3-4 ms on a
    // VM whose host backs guest memory lazily, and a thread in that fault
    // holds up a stop of the world (binary-trees: longest time to safepoint
    // 3.2-4.0 ms with MADV_HUGEPAGE, 0.33-0.35 ms without).
    void* mem =
        runtime::os::Reserve(bytes + kPageSize, runtime::os::kHugePageSize,
                             "heap arena", kArenaGuardBytes);
    auto* arena = new (std::nothrow) Arena;
    if (arena == nullptr) {
      runtime::os::Release(static_cast<char*>(mem) - kArenaGuardBytes,
                           kArenaGuardBytes + bytes + kPageSize);
      throw runtime::OutOfMemoryError("gcrt: out of memory: arena record");
    }
    arena->base = reinterpret_cast<uintptr_t>(mem);
    arena->committed_end = arena->base;
    arena->os_committed_end = arena->base;
    arena->end = arena->base + bytes;
    try {
      map_.EnsureLocked(mu_, arena->base, bytes);
    } catch (...) {
      runtime::os::Release(static_cast<char*>(mem) - kArenaGuardBytes,
                           kArenaGuardBytes + bytes + kPageSize);
      delete arena;
      throw;
    }
    runtime::os::ScanForLeaks(mem, bytes);
    // The unused tail of the previous arena stays reserved but uncommitted.
    arena->next = arenas_;
    arenas_ = arena;
    reserved_bytes_ += bytes;
    a = arena;
  }
  uintptr_t start = a->committed_end;
  if (start + ask > a->os_committed_end) {
    uintptr_t want = start + ask;
    uintptr_t chunk_end = a->os_committed_end + kOsCommitBytes;
    if (chunk_end > want) want = chunk_end;
    if (want > a->end) want = a->end;
    runtime::os::Commit(reinterpret_cast<void*>(a->os_committed_end),
                        want - a->os_committed_end, "heap growth");
    committed_bytes_ += want - a->os_committed_end;
    a->os_committed_end = want;
  }
  a->committed_end += ask;
  sys_bytes_ += ask;

  Span* s = NewSpanObjectLocked();
  s->base = start;
  s->npages = static_cast<uint32_t>(ask >> kPageShift);
  s->needzero = false;  // fresh from the OS
  // Not resident until touched: counted as released, as Go counts fresh
  // memory, so retained memory (heap_sys - heap_released) tracks RSS.
  s->npreleased = s->npages;
  map_.MarkReleasedLocked(mu_, s->base, s->npages, true);
  // Count it as in use for a moment so FreeSpanLocked's accounting balances.
  inuse_pages_ += s->npages;
  FreeSpanLocked(s, /*was_in_use=*/true);
}

Span* PageHeap::AllocSpanOrNull(uint32_t npages, bool* needzero,
                                uint64_t enough) {
  GCRT_CHECK_GT(npages, 0u);
  if ((size_t{npages} << kPageShift) > kMaxSpanBytes) {
    throw runtime::OutOfMemoryError(
        "gcrt: out of memory: a span of " + std::to_string(npages) +
        " pages is larger than the heap's limit of " +
        std::to_string(kMaxSpanBytes >> 20) + " MiB");
  }
  runtime::MutexLock lock(&mu_);
  ReserveSpanObjectsLocked();
  Span* s = FindFreeLocked(npages);
  if (s == nullptr) {
    ReclaimHook hook = reclaim_hook_.load(std::memory_order_acquire);
    if (hook != nullptr) {
      lock.Unlock();
      hook(npages);
      lock.Lock();
      ReserveSpanObjectsLocked();
      s = FindFreeLocked(npages);
    }
  }
  if (s == nullptr) {
    if (enough != 0 && free_pages_ >= enough) return nullptr;
    // At the limit, finish the whole sweep before refusing: the pages
    // unswept garbage holds may make the run this needs.
    ReclaimHook hook = reclaim_hook_.load(std::memory_order_acquire);
    if (hook != nullptr && GrowthPassesLimitLocked(npages)) {
      lock.Unlock();
      hook(UINT32_MAX);
      lock.Lock();
      ReserveSpanObjectsLocked();
      s = FindFreeLocked(npages);
      if (s != nullptr) return CarveLocked(s, npages, needzero);
    }
    // Free pages the scavenger is releasing are off the free lists for a
    // moment: at the limit, wait for them rather than refuse.
    while (scavenging_pages_ != 0 && GrowthPassesLimitLocked(npages)) {
      scavenge_done_cv_.Wait(&mu_);
      ReserveSpanObjectsLocked();
      s = FindFreeLocked(npages);
      if (s != nullptr) return CarveLocked(s, npages, needzero);
    }
    GrowLocked(npages);
    s = FindFreeLocked(npages);
    GCRT_CHECK(s != nullptr);
  }
  return CarveLocked(s, npages, needzero);
}

size_t PageHeap::AllocSpans(uint32_t npages, size_t count, Span** out,
                            bool* needzero) {
  GCRT_CHECK_GT(count, 0u);
  if (count > 1) {
    // The common case: one run of count * npages pages, carved with one
    // split under the lock and cut into spans outside it, so threads
    // refilling at once share the heap's free lists and records once per
    // batch, not once per span.
    Span* run = nullptr;
    Span* records[64];
    bool zero = false;
    GCRT_CHECK_LE(count, 64u);
    {
      runtime::MutexLock lock(&mu_);
      ReserveSpanObjectsLocked(count + 2);
      if (Span* f = FindFreeLocked(npages * static_cast<uint32_t>(count))) {
        run = CarveLocked(f, npages * static_cast<uint32_t>(count), &zero);
        for (size_t i = 1; i < count; i++) records[i] = NewSpanObjectLocked();
      }
    }
    if (run != nullptr) {
      uintptr_t base = run->base;
      run->npages = npages;
      out[0] = run;
      needzero[0] = zero;
      for (size_t i = 1; i < count; i++) {
        Span* s = records[i];
        s->base = base + ((uintptr_t{npages} * i) << kPageShift);
        s->npages = npages;
        s->needzero = zero;
        s->npreleased = 0;
        s->unused_since_ns = run->unused_since_ns;
        s->state.store(SpanState::kAllocating, std::memory_order_relaxed);
        GCRT_ASAN_UNPOISON(s->base, size_t{npages} << kPageShift);
        // These pages are ours (carved, not yet published): their entries
        // are written without the lock, as for any span being set up.
        for (uint32_t p = 0; p < npages; p++) {
          map_.Set(s->base + (uintptr_t{p} << kPageShift), s);
        }
        out[i] = s;
        needzero[i] = zero;
      }
      return count;
    }
  }
  out[0] = AllocSpan(npages, &needzero[0]);
  // Fragmented: the rest span by span from free memory, under one lock,
  // never growing for them.
  runtime::MutexLock lock(&mu_);
  size_t n = 1;
  for (; n < count; n++) {
    try {
      ReserveSpanObjectsLocked();
    } catch (const std::bad_alloc&) {
      break;  // out[0..n) are carved: hand those out
    }
    Span* s = FindFreeLocked(npages);
    if (s == nullptr) break;
    out[n] = CarveLocked(s, npages, &needzero[n]);
  }
  return n;
}

size_t PageHeap::AllocSpansCached(PageCache* pc, uint32_t npages, size_t count,
                                  Span** out, bool* needzero) {
  uint32_t total = npages * static_cast<uint32_t>(count);
  if (total > PageCache::kPages || count > PageCache::kMaxRecords) {
    return AllocSpans(npages, count, out, needzero);
  }
  if (pc->run == nullptr || pc->run->npages < total || pc->nrecords < count) {
    ReleasePageCache(pc);
    bool zero;
    Span* run;
    try {
      // A fragmented heap (free spans too short for a run, yet enough of
      // them) serves the request from its pieces instead of growing: each
      // refill would otherwise map a fresh 512 KiB while the pieces stay
      // idle, and a churning heap would grow without bound.
      run = AllocSpanOrNull(PageCache::kPages, &zero, total);
    } catch (const std::bad_alloc&) {
      run = nullptr;
    }
    if (run == nullptr) {
      // No 512 KiB run to be had: carve just what is needed.
      return AllocSpans(npages, count, out, needzero);
    }
    run->needzero = zero;
    runtime::MutexLock lock(&mu_);
    try {
      ReserveSpanObjectsLocked(PageCache::kMaxRecords + 2);
    } catch (...) {
      FreeSpanLocked(run, /*was_in_use=*/true);  // give the run back
      throw;
    }
    while (pc->nrecords < PageCache::kMaxRecords) {
      pc->records[pc->nrecords++] = NewSpanObjectLocked();
    }
    pc->run = run;
  }
  // Cut `count` spans from the head of the run: these pages are ours.
  Span* run = pc->run;
  for (size_t i = 0; i < count; i++) {
    Span* s = pc->records[--pc->nrecords];
    s->base = run->base;
    s->npages = npages;
    s->needzero = run->needzero;
    s->npreleased = 0;
    s->unused_since_ns = run->unused_since_ns;
    s->state.store(SpanState::kAllocating, std::memory_order_relaxed);
    GCRT_ASAN_UNPOISON(s->base, size_t{npages} << kPageShift);
    for (uint32_t p = 0; p < npages; p++) {
      map_.Set(s->base + (uintptr_t{p} << kPageShift), s);
    }
    run->base += uintptr_t{npages} << kPageShift;
    run->npages -= npages;
    out[i] = s;
    needzero[i] = s->needzero;
  }
  if (run->npages == 0) {
    // Used up: its record becomes a spare.
    run->state.store(SpanState::kDead, std::memory_order_relaxed);
    pc->records[pc->nrecords++] = run;
    pc->run = nullptr;
  }
  return count;
}

void PageHeap::ReleasePageCache(PageCache* pc) {
  if (pc->run == nullptr && pc->nrecords == 0) return;
  runtime::MutexLock lock(&mu_);
  if (Span* run = pc->run) {
    pc->run = nullptr;
    run->npreleased = 0;  // carved: its released bits are clear
    FreeSpanLocked(run, /*was_in_use=*/true);
  }
  while (pc->nrecords > 0) FreeSpanObjectLocked(pc->records[--pc->nrecords]);
}

void PageHeap::RecountReleasedLocked(Span* s, bool was_released,
                                     bool parent_needzero) {
  s->npreleased = was_released ? static_cast<uint32_t>(map_.CountReleasedLocked(
                                     mu_, s->base, s->npages))
                               : 0;
  // Released pages read zero; the others are as dirty as the parent was.
  s->needzero = parent_needzero && s->npreleased != s->npages;
}

Span* PageHeap::CarveLocked(Span* s, uint32_t npages, bool* needzero) {
  RemoveFreeLocked(s);
  GCRT_DCHECK(s->state.load(std::memory_order_relaxed) == SpanState::kFree);
  AddFreePagesLocked(-int64_t{s->npages});
  released_pages_ -= s->npreleased;
  // The carved pages are in use now: their released bits are cleared (they
  // fault back in as zeros when touched), and heap_released loses them.
  const bool was_released = s->npreleased != 0;
  const bool parent_needzero = s->needzero;

  if (s->npages > npages) {
    Span* rest = NewSpanObjectLocked();
    rest->base = s->base + (uintptr_t{npages} << kPageShift);
    rest->npages = s->npages - npages;
    RecountReleasedLocked(rest, was_released, parent_needzero);
    rest->unused_since_ns = s->unused_since_ns;
    rest->state.store(SpanState::kFree, std::memory_order_relaxed);
    SetFreeEndsLocked(rest);
    InsertFreeLocked(rest);
    AddFreePagesLocked(rest->npages);
    released_pages_ += rest->npreleased;
    s->npages = npages;
  }
  RecountReleasedLocked(s, was_released, parent_needzero);
  if (s->npreleased != 0)
    map_.MarkReleasedLocked(mu_, s->base, s->npages, false);
  s->npreleased = 0;
  inuse_pages_ += npages;
  // Not free any more, so a neighbour freed before the caller publishes
  // kInUse cannot coalesce with it.
  s->state.store(SpanState::kAllocating, std::memory_order_relaxed);
  // Handed out: the caller decides which of its bytes hold objects.
  GCRT_ASAN_UNPOISON(s->base, size_t{npages} << kPageShift);
  for (uint32_t i = 0; i < npages; i++) {
    map_.Set(s->base + (uintptr_t{i} << kPageShift), s);
  }
  *needzero = s->needzero;
  return s;  // the caller fills the rest and publishes state = kInUse
}

void PageHeap::NoteInUse(const Span* s) {
  inuse_spans_.fetch_add(1, std::memory_order_relaxed);
  inuse_bit_words_.fetch_add(PaddedBitWords(s->nwords),
                             std::memory_order_relaxed);
}

void PageHeap::FreeSpan(Span* s) {
  runtime::MutexLock lock(&mu_);
  SpanState st = s->state.load(std::memory_order_relaxed);
  GCRT_CHECK(st == SpanState::kInUse || st == SpanState::kAllocating);
  if (st == SpanState::kInUse) {
    inuse_spans_.fetch_sub(1, std::memory_order_relaxed);
    inuse_bit_words_.fetch_sub(PaddedBitWords(s->nwords),
                               std::memory_order_relaxed);
  }
  GCRT_ASAN_POISON(s->base, size_t{s->npages} << kPageShift);
  s->needzero = true;
  s->npreleased = 0;
  FreeSpanLocked(s, /*was_in_use=*/true);
}

void PageHeap::FreeSpanLocked(Span* s, bool was_in_use,
                              int64_t unused_since_ns) {
  // Unpublish first, so a reader that reaches s through the page map does
  // not see it in use with its bits already gone.
  s->state.store(SpanState::kFree, std::memory_order_release);
  // No sweeper's claim (a CAS from h-2) can succeed on a free record.
  s->sweepgen.Clear();
  if (was_in_use) {
    GCRT_CHECK(s->specials.load(std::memory_order_relaxed) == nullptr &&
               "a freed span has no specials left");
    inuse_pages_ -= s->npages;
    s->types.Reset();
    s->alloc_bits = nullptr;
    s->mark_bits = nullptr;
    s->freebuf.store(nullptr, std::memory_order_relaxed);
  }
  s->state.store(SpanState::kFree, std::memory_order_release);
  s->unused_since_ns = unused_since_ns < 0 ? NowNs() : unused_since_ns;
  AddFreePagesLocked(s->npages);
  released_pages_ += s->npreleased;
  // A scavenger above its goal with nothing to release has work now only
  // near the memory limit: otherwise it takes pages free for a second
  // (kScavengeMinIdleNs), and wakes for them on its own (waking it on every
  // free made it spin through the free lists for nothing).
  if (scavenger_starved_) {
    const uint64_t limit = limit_bytes_.load(std::memory_order_relaxed);
    if (limit != 0 && RetainedBytesLocked() > limit / 100 * 95) {
      scavenger_starved_ = false;
      scavenger_wakeups_++;
      scavenger_cv_.NotifyAll();
    }
  }

  // Coalesce with the free span before, and the one after.
  auto free_span = [](const Span* t) {
    return t != nullptr &&
           t->state.load(std::memory_order_relaxed) == SpanState::kFree;
  };
  if (Span* t = map_.Lookup(s->base - 1);
      free_span(t) && t->limit() == s->base) {
    s->base = t->base;
    AbsorbFreeLocked(s, t);
  }
  if (Span* t = map_.Lookup(s->limit());
      free_span(t) && t->base == s->limit()) {
    AbsorbFreeLocked(s, t);
  }
  SetFreeEndsLocked(s);
  InsertFreeLocked(s);
}

void PageHeap::AbsorbFreeLocked(Span* s, Span* t) {
  RemoveFreeLocked(t);
  s->npages += t->npages;
  s->npreleased += t->npreleased;
  s->needzero |= t->needzero;
  // The merged span is as recently used as its most recent part, so the
  // scavenger does not release pages that were just freed.
  if (t->unused_since_ns > s->unused_since_ns) {
    s->unused_since_ns = t->unused_since_ns;
  }
  FreeSpanObjectLocked(t);
}

bool PageHeap::FindScavengeRangeLocked(int64_t freed_before_ns, bool whole,
                                       Span** span, uintptr_t* base,
                                       uint32_t* npages) {
  constexpr uintptr_t kChunk = kScavengeChunkBytes;
  // The highest window of s with unreleased pages (whole windows only if
  // `whole`): allocation takes the lowest addresses first, so the top of a
  // free span is the part least likely to be wanted soon.
  auto window_of = [&](Span* s, uintptr_t* a, uintptr_t* b) GCRT_REQUIRES(mu_) {
    const uintptr_t lo = s->base, hi = s->limit();
    if (whole && ((lo + kChunk - 1) & ~(kChunk - 1)) + kChunk > hi) {
      return false;  // too short to hold an aligned window
    }
    for (uintptr_t w = (hi - 1) & ~(kChunk - 1);; w -= kChunk) {
      uintptr_t x = std::max(w, lo), y = std::min(w + kChunk, hi);
      if (!whole || (x == w && y == w + kChunk)) {
        size_t n = (y - x) >> kPageShift;
        if (map_.CountReleasedLocked(mu_, x, n) < n) {
          *a = x;
          *b = y;
          return true;
        }
      }
      if (w <= lo) return false;
    }
  };
  auto eligible = [&](Span* s) {
    return s->npreleased < s->npages && s->unused_since_ns <= freed_before_ns;
  };
  // Large spans: the one with the most unreleased pages that has a window,
  // the oldest of equals.
  Span* best = nullptr;
  uintptr_t best_a = 0, best_b = 0;
  for (Span* s = large_.first(); s != nullptr; s = s->next) {
    if (!eligible(s)) continue;
    uint32_t unreleased = s->npages - s->npreleased;
    if (best != nullptr) {
      uint32_t best_unreleased = best->npages - best->npreleased;
      if (unreleased < best_unreleased ||
          (unreleased == best_unreleased &&
           s->unused_since_ns >= best->unused_since_ns)) {
        continue;
      }
    }
    uintptr_t a, b;
    if (window_of(s, &a, &b)) {
      best = s;
      best_a = a;
      best_b = b;
    }
  }
  // No whole window can lie in a span shorter than kMaxSmallPages (1 MiB),
  // so the small lists only serve partial windows: the largest first. A
  // list's unreleased spans are at its front (InsertFreeLocked).
  static_assert(kMaxSmallPages <= kScavengeChunkPages);
  for (uint32_t n = kMaxSmallPages - 1; best == nullptr && !whole && n > 0;
       n--) {
    if ((nonempty_[n / 64] >> (n % 64) & 1) == 0) continue;
    for (Span* s = free_[n].first(); s != nullptr; s = s->next) {
      if (s->npreleased == s->npages) break;  // the released rest of the list
      uintptr_t a, b;
      if (eligible(s) && window_of(s, &a, &b)) {
        best = s;
        best_a = a;
        best_b = b;
        break;
      }
    }
  }
  if (best == nullptr) return false;
  *span = best;
  *base = best_a;
  *npages = static_cast<uint32_t>((best_b - best_a) >> kPageShift);
  return true;
}

size_t PageHeap::ReleaseOneLocked(int64_t freed_before_ns, bool* progress) {
  *progress = false;
  Span* s;
  uintptr_t base;
  uint32_t npages;
  if (!FindScavengeRangeLocked(freed_before_ns, /*whole=*/true, &s, &base,
                               &npages) &&
      !FindScavengeRangeLocked(freed_before_ns, /*whole=*/false, &s, &base,
                               &npages)) {
    return 0;
  }
  // Split s into [s->base, base) and [base + npages, s->limit()), which stay
  // free, and the window, taken off the lists as a kScavenging span (its
  // ends mapped, so a neighbour freed meanwhile does not coalesce with it).
  ReserveSpanObjectsLocked(2);
  RemoveFreeLocked(s);
  const bool was_released = s->npreleased != 0;
  const bool parent_needzero = s->needzero;
  const int64_t unused_since = s->unused_since_ns;
  const uintptr_t limit = s->limit();
  auto piece = [&](Span* t, uintptr_t from, uintptr_t to,
                   SpanState st) GCRT_REQUIRES(mu_) {
    t->base = from;
    t->npages = static_cast<uint32_t>((to - from) >> kPageShift);
    RecountReleasedLocked(t, was_released, parent_needzero);
    t->unused_since_ns = unused_since;
    t->state.store(st, std::memory_order_relaxed);
    SetFreeEndsLocked(t);
    if (st == SpanState::kFree) InsertFreeLocked(t);
  };
  Span* w = s;
  if (base > s->base) {
    piece(s, s->base, base, SpanState::kFree);
    w = NewSpanObjectLocked();
  }
  const uintptr_t end = base + (uintptr_t{npages} << kPageShift);
  if (end < limit) piece(NewSpanObjectLocked(), end, limit, SpanState::kFree);
  piece(w, base, end, SpanState::kScavenging);
  // free_pages_ and released_pages_ still count the window as it was.
  scavenging_pages_ += npages;

  bool ok;
  {
    runtime::MutexUnlock unlock(&mu_);
    ok = runtime::os::Decommit(reinterpret_cast<void*>(base),
                               uintptr_t{npages} << kPageShift);
  }

  scavenging_pages_ -= npages;
  size_t newly = 0;
  AddFreePagesLocked(-int64_t{w->npages});  // FreeSpanLocked adds it again
  released_pages_ -= w->npreleased;
  if (ok) {
    newly = npages - w->npreleased;
    scavenged_pages_ += newly;
    map_.MarkReleasedLocked(mu_, base, npages, true);
    w->npreleased = npages;
    w->needzero = false;  // every page reads zero from the OS now
  }
  // Filed back as old as it was, so the idle release's clock is not reset.
  FreeSpanLocked(w, /*was_in_use=*/false, unused_since);
  scavenge_done_cv_.NotifyAll();
  *progress = ok;
  return newly << kPageShift;
}

size_t PageHeap::Scavenge(std::chrono::nanoseconds idle) {
  runtime::MutexLock lock(&mu_);
  return ScavengeLocked(idle);
}

size_t PageHeap::ReleaseAll() {
  char line[160];
  size_t released;
  {
    runtime::MutexLock lock(&mu_);
    released = ScavengeLocked(std::chrono::nanoseconds(0));
    if (!scavtrace_.load(std::memory_order_relaxed)) return released;
    // Reported here, not again as the background scavenger's work.
    traced_scavenged_pages_ += released >> kPageShift;
    FormatScavTraceLocked(released, /*forced=*/true, line, sizeof line);
  }
  runtime::PrintLine("%s", line);
  return released;
}

void PageHeap::PrintScavTraceForCycle() {
  if (!scavtrace_.load(std::memory_order_relaxed)) return;
  char line[160];
  {
    runtime::MutexLock lock(&mu_);
    const uint64_t work = scavenged_pages_ - traced_scavenged_pages_;
    traced_scavenged_pages_ = scavenged_pages_;
    FormatScavTraceLocked(work << kPageShift, /*forced=*/false, line,
                          sizeof line);
  }
  runtime::PrintLine("%s", line);
}

void PageHeap::FormatScavTraceLocked(uint64_t released, bool forced, char* line,
                                     size_t size) {
  const uint64_t retained = RetainedBytesLocked();
  const uint64_t inuse = inuse_pages_ << kPageShift;
  // Go divides by the retained bytes unguarded; an empty heap is 0% here.
  std::snprintf(
      line, size, "scav %lu KiB work, %lu KiB total, %lu%% util%s",
      static_cast<unsigned long>(released >> 10),
      static_cast<unsigned long>((released_pages_ << kPageShift) >> 10),
      static_cast<unsigned long>(retained == 0 ? 0 : inuse * 100 / retained),
      forced ? " (forced)" : "");
}

size_t PageHeap::ScavengeLocked(std::chrono::nanoseconds idle) {
  scavenge_runs_++;
  const int64_t freed_before = NowNs() - idle.count();
  size_t released = 0;
  for (bool progress = true; progress;) {
    released += ReleaseOneLocked(freed_before, &progress);
  }
  return released;
}

size_t PageHeap::ScavengeToGoal(uint64_t goal, size_t max_bytes) {
  runtime::MutexLock lock(&mu_);
  size_t released = 0;
  for (bool progress = true;
       progress && released < max_bytes && RetainedBytesLocked() > goal;) {
    released += ReleaseOneLocked(INT64_MAX, &progress);
  }
  return released;
}

void PageHeap::StartScavenger(std::chrono::nanoseconds idle,
                              std::chrono::nanoseconds period) {
  runtime::MutexLock lock(&mu_);
  scavenger_idle_ = idle;
  scavenger_period_ = period;
  if (!scavenger_started_) {
    // Detached: the heap is never destroyed, so the thread may sleep
    // through process exit. Refused (a thread limit, `ulimit -v`): until
    // the next WakeScavenger tries again, nothing is returned to the OS in
    // the background (gc::release_memory still returns it).
    scavenger_started_ =
        runtime::StartDetachedThread([this] { ScavengerLoop(); });
  } else {
    scavenger_wakeups_++;
    scavenger_cv_.NotifyAll();
  }
}

void PageHeap::LockForFork() {
  mu_.lock();
  while (scavenging_pages_ != 0) scavenge_done_cv_.Wait(&mu_);
}

void PageHeap::UnlockAfterFork(bool child) {
  if (child) {
    scavenge_done_cv_.ResetAfterFork();
    scavenger_cv_.ResetAfterFork();
    scavenger_restart_ = scavenger_started_;
    scavenger_started_ = false;
  }
  mu_.unlock();
}

void PageHeap::RestartScavengerAfterFork() {
  std::chrono::nanoseconds idle, period;
  {
    runtime::MutexLock lock(&mu_);
    if (!scavenger_restart_) return;
    scavenger_restart_ = false;
    idle = scavenger_idle_;
    period = scavenger_period_;
  }
  StartScavenger(idle, period);
}

void PageHeap::WakeScavenger() {
  runtime::MutexLock lock(&mu_);
  if (!scavenger_started_ && scavenger_period_.count() != 0) {
    // Its thread was refused (or the child of a fork has not restarted
    // it yet): try again, one thread start per cycle at most.
    scavenger_started_ =
        runtime::StartDetachedThread([this] { ScavengerLoop(); });
  }
  scavenger_starved_ = false;
  scavenger_wakeups_++;
  scavenger_cv_.NotifyAll();
}

namespace {
int64_t ThreadCpuNs() {
  timespec ts;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return int64_t{ts.tv_sec} * 1000000000 + ts.tv_nsec;
}
}  // namespace

void PageHeap::ScavengerLoop() {
  runtime::SetCurrentThreadName("gcrt-scavenge");
  runtime::MutexLock lock(&mu_);
  int64_t next_idle_ns = NowNs() + scavenger_period_.count();
  for (;;) {
    uint64_t goal = scavenge_goal();
    if (scavenger_starved_ || RetainedBytesLocked() <= goal) {
      // Nothing to do toward the goal: sleep until woken or the idle
      // release is due (or, above the goal, until recently freed pages
      // are old enough).
      const uint64_t seen = scavenger_wakeups_;
      int64_t until = next_idle_ns;
      if (RetainedBytesLocked() > goal) {
        until = std::min(until, NowNs() + kScavengeMinIdleNs);
      }
      const auto deadline = std::chrono::steady_clock::time_point(
          std::chrono::nanoseconds(until));
      while (scavenger_wakeups_ == seen) {
        if (!scavenger_cv_.WaitUntil(&mu_, deadline)) break;
      }
    }
    if (NowNs() >= next_idle_ns) {
      // The five-minute idle release, whatever the goal (seed 003).
      const auto idle = scavenger_idle_;
      lock.Unlock();
      try {
        Scavenge(idle);
      } catch (const std::bad_alloc&) {
        // No memory for a span record: try again next period.
      }
      lock.Lock();
      next_idle_ns = NowNs() + scavenger_period_.count();
      continue;
    }
    goal = scavenge_goal();
    if (RetainedBytesLocked() <= goal) continue;
    scavenger_starved_ = false;  // pages may have aged since

    // One batch of paced work: at least kScavengeBatchNs of releasing,
    // unless the goal is met or nothing is left to release first.
    const int64_t t0 = NowNs(), cpu0 = ThreadCpuNs();
    size_t released = 0;
    bool starved = false;
    try {
      while (NowNs() - t0 < kScavengeBatchNs &&
             RetainedBytesLocked() > scavenge_goal()) {
        // Recently freed pages are kept unless the limit is near.
        const uint64_t limit = limit_bytes_.load(std::memory_order_relaxed);
        const bool near_limit =
            limit != 0 && RetainedBytesLocked() > limit / 100 * 95;
        const int64_t freed_before =
            near_limit ? INT64_MAX : NowNs() - kScavengeMinIdleNs;
        bool progress;
        released += ReleaseOneLocked(freed_before, &progress);
        if (!progress) {
          starved = true;
          break;
        }
      }
    } catch (const std::bad_alloc&) {
      starved = true;  // no span record for a split: wait for a free
    }
    const int64_t worked = NowNs() - t0;
    paced_scavenged_pages_ += released >> kPageShift;
    scavenger_cpu_ns_ += static_cast<uint64_t>(ThreadCpuNs() - cpu0);
    // Starved: FreeSpanLocked or the next cycle's wake-up clears it.
    scavenger_starved_ = starved;
    if (!starved) {
      // Pacing: worked / (worked + sleep) = kScavengePercent / 100. Not
      // woken early: a new goal waits for the end of the sleep.
      lock.Unlock();
      std::this_thread::sleep_for(std::chrono::nanoseconds(
          worked * (100 - kScavengePercent) / kScavengePercent));
      lock.Lock();
    }
  }
}

PageHeap::Stats PageHeap::ReadStats() {
  runtime::MutexLock lock(&mu_);
  return Stats{
      sys_bytes_,
      inuse_pages_ << kPageShift,
      free_pages_ << kPageShift,
      released_pages_ << kPageShift,
      reserved_bytes_,
      scavenge_runs_,
      scavenged_pages_ << kPageShift,
      paced_scavenged_pages_ << kPageShift,
      scavenger_cpu_ns_,
      scavenge_goal(),
      committed_bytes_,
      span_chunks_count_.load(std::memory_order_relaxed) * kSpanPoolChunk +
          kMaxSpanChunks * sizeof(std::atomic<Span*>),
      map_.MappedBytesLocked(mu_)};
}

bool PageHeap::Verify() {
  runtime::MutexLock lock(&mu_);
  auto fail = [](const char* what, uintptr_t addr) {
    runtime::Print("PageHeap::Verify: %s at %#lx", what,
                   static_cast<unsigned long>(addr));
    return false;
  };
  uint64_t inuse = 0, free = 0, released = 0, committed = 0;
  for (Arena* a = arenas_; a != nullptr; a = a->next) {
    committed += a->committed_end - a->base;
    uintptr_t p = a->base;
    Span* prev = nullptr;
    while (p < a->committed_end) {
      Span* s = map_.Lookup(p);
      if (s == nullptr || s->base != p) return fail("no span starts", p);
      SpanState st = s->state.load(std::memory_order_relaxed);
      if (s->npages == 0 || s->limit() > a->committed_end) {
        return fail("span overruns its arena", p);
      }
      if (st == SpanState::kInUse || st == SpanState::kAllocating) {
        for (uintptr_t q = s->base; q < s->limit(); q += kPageSize) {
          if (map_.Lookup(q) != s) return fail("in-use page maps elsewhere", q);
        }
        if (map_.CountReleasedLocked(mu_, s->base, s->npages) != 0) {
          return fail("in-use span has released pages", s->base);
        }
        inuse += s->npages;
      } else if (st == SpanState::kScavenging) {
        // Off the lists while the scavenger releases it: counted as free.
        if (map_.CountReleasedLocked(mu_, s->base, s->npages) !=
            s->npreleased) {
          return fail("npreleased disagrees with the released bits", s->base);
        }
        free += s->npages;
        released += s->npreleased;
      } else if (st == SpanState::kFree) {
        if (map_.Lookup(s->limit() - kPageSize) != s) {
          return fail("free span's last page maps elsewhere", s->base);
        }
        if (prev != nullptr &&
            prev->state.load(std::memory_order_relaxed) == SpanState::kFree) {
          return fail("two adjacent free spans", s->base);
        }
        if (s->npreleased > s->npages) return fail("npreleased > npages", p);
        if (map_.CountReleasedLocked(mu_, s->base, s->npages) !=
            s->npreleased) {
          return fail("npreleased disagrees with the released bits", s->base);
        }
        if (s->npreleased == s->npages && s->needzero) {
          // Not wrong, but a lost optimization: released pages read zero.
          return fail("a wholly released span says it needs zeroing", p);
        }
        // It must be on the list its size says.
        SpanList& list = s->npages < kMaxSmallPages ? free_[s->npages] : large_;
        bool found = false;
        for (Span* t = list.first(); t != nullptr; t = t->next) {
          if (t == s) {
            found = true;
            break;
          }
        }
        if (!found) return fail("free span not on its list", s->base);
        free += s->npages;
        released += s->npreleased;
      } else {
        return fail("dead span mapped", p);
      }
      prev = s;
      p = s->limit();
    }
  }
  size_t listed = 0;
  for (const SpanList* list = free_; list != free_ + kMaxSmallPages; list++) {
    if (list->CountByWalking() != list->size()) {
      return fail("a free list's links disagree with its size", 0);
    }
    listed += list->size();
  }
  if (large_.CountByWalking() != large_.size()) {
    return fail("the large free list's links disagree with its size", 0);
  }
  listed += large_.size();
  size_t nfree_spans = 0;
  for (Arena* a = arenas_; a != nullptr; a = a->next) {
    for (uintptr_t p = a->base; p < a->committed_end;) {
      Span* s = map_.Lookup(p);
      if (s->state.load(std::memory_order_relaxed) == SpanState::kFree) {
        nfree_spans++;
      }
      p = s->limit();
    }
  }
  if (listed != nfree_spans) return fail("free lists hold stray spans", 0);
  if (inuse != inuse_pages_) return fail("in-use page count mismatch", inuse);
  if (free != free_pages_) return fail("free page count mismatch", free);
  if (released != released_pages_) return fail("released count mismatch", 0);
  if (committed != sys_bytes_) return fail("committed bytes mismatch", 0);
  return true;
}

}  // namespace gc::alloc
