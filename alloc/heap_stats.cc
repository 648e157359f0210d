// The heap's statistics (HeapStats, heap.h): the Centrals' counters, and
// for an exact read the caches' part. See alloc/heap.h for the overview.
//
// Why caches matter: a Central counts a span's free slots as allocated
// when it hands the span to a Cache (so the fast path counts nothing), and
// takes back those still free when the span comes back (central.h). Until
// then its figures are ahead of the truth by the free slots of every
// cached span, and behind it by what its Cache counts locally (explicit
// frees, tiny allocations) and by the objects other threads freed into the
// span's freebuf. With the world stopped, all of that is read from the
// caches where it is, nothing is flushed:
//
//   mallocs    = Central mallocs - free slots + local frees
//   frees      = Central frees + local frees + freebuf objects
//   heap_alloc = Central live bytes - (free slots + freebuf objects) * size
//
// A Cache may hold spans where AddUnflushed cannot see them: a thread that
// parked inside a destructor the sweep of its own stale span ran, while
// ReleaseAll was giving its spans back (they are on a local list then).
// Each Central counts the spans it has handed out (ncached_); when the
// caches show fewer, the span parts are read from every span record that
// is still in_cache instead.
#include <bit>

#include "gcrt/alloc/heap.h"
#include "gcrt/runtime/processor.h"
#include "gcrt/runtime/safepoint.h"

namespace gc::alloc {

namespace {

uint64_t FreebufLength(const Span* s) {
  uint64_t n = 0;
  for (const FreeLink* v = s->freebuf.load(std::memory_order_relaxed);
       v != nullptr; v = v->next) {
    n++;
  }
  return n;
}

// Slots of s still free, exact with a word loaded: alloc_count lags by the
// loaded word's handouts (span.h). The slots held back for the heap
// profiler (sample_held) are free, not handed out.
uint64_t FreeSlots(const Span* s) {
  const uint32_t pending =
      s->cache_word < s->nwords
          ? s->cache_word_free - std::popcount(s->CacheWordFree())
          : 0;
  return s->nelems - (s->alloc_count + pending);
}

void AddSpan(const Span* s, UnflushedCounts* u) {
  u->free_slots[s->span_class] += FreeSlots(s);
  u->freebuf_objects[s->span_class] += FreebufLength(s);
  u->cached_spans[s->span_class]++;
}

}  // namespace

void Cache::AddUnflushed(UnflushedCounts* u) const {
  for (int sc = 0; sc < kNumSpanClasses; sc++) {
    if (alloc_[sc] != &g_empty_span) AddSpan(alloc_[sc], u);
    for (const Span* s = stash_[sc]; s != nullptr; s = s->next) AddSpan(s, u);
    for (const Span* s = retired_[sc]; s != nullptr; s = s->next) {
      AddSpan(s, u);
    }
    u->local_frees[sc] += local_frees_[sc];
  }
  u->tiny_allocs += tiny_allocs_;
}

void Heap::AddUnflushedSpans(UnflushedCounts* u) {
  for (size_t i = 0, n = pages_.SpanRecordCount(); i < n; i++) {
    const Span* s = pages_.SpanRecord(i);
    // in_cache is the Central's (guarded by its lock); with the world
    // stopped no thread that could change it runs (none parks holding a
    // Central lock).
    if (s->state.load(std::memory_order_acquire) == SpanState::kInUse &&
        !s->large() && s->in_cache) {
      AddSpan(s, u);
    }
  }
}

void Heap::ReplaceSpanParts(UnflushedCounts* u) {
  UnflushedCounts spans{};
  AddUnflushedSpans(&spans);
  for (int sc = 0; sc < kNumSpanClasses; sc++) {
    u->free_slots[sc] = spans.free_slots[sc];
    u->freebuf_objects[sc] = spans.freebuf_objects[sc];
    u->cached_spans[sc] = spans.cached_spans[sc];
  }
}

HeapStats Heap::ReadStatsExact(bool walk_spans) {
  UnflushedCounts u{};
  for (runtime::Processor* p = runtime::ProcessorTable::Get().all();
       p != nullptr; p = p->next_all()) {
    static_cast<const Cache*>(p->local())->AddUnflushed(&u);
  }
  if (walk_spans) ReplaceSpanParts(&u);
  return Summarize(&u);
}

HeapStats Heap::Summarize(const UnflushedCounts* unflushed) {
  Central::Stats central[kNumSpanClasses];
  for (int sc = 0; sc < kNumSpanClasses; sc++) {
    central[sc] = central_[sc].ReadStats();
  }
  UnflushedCounts u{};
  if (unflushed != nullptr) {
    u = *unflushed;
    for (int sc = 0; sc < kNumSpanClasses; sc++) {
      if (u.cached_spans[sc] == central[sc].cached_spans) continue;
      // Spans in flight (see the top of the file): read them all from the
      // span records.
      runtime::AssertWorldStopped();
      ReplaceSpanParts(&u);
      for (int c = 0; c < kNumSpanClasses; c++) {
        GCRT_CHECK_EQ(u.cached_spans[c], central[c].cached_spans);
      }
      break;
    }
  }

  HeapStats st{};
  PageHeap::Stats ps = pages_.ReadStats();
  st.heap_sys = ps.sys_bytes;
  st.heap_inuse = ps.inuse_bytes;
  st.heap_idle = ps.idle_bytes;
  st.heap_released = ps.released_bytes;
  st.heap_reserved = ps.reserved_bytes;
  st.scavenge_runs = ps.scavenge_runs;
  st.scavenged_bytes = ps.scavenged_bytes;
  st.paced_scavenged_bytes = ps.paced_scavenged_bytes;
  st.scavenger_cpu_ns = ps.scavenger_cpu_ns;
  st.scavenge_goal = ps.scavenge_goal;
  st.heap_committed = ps.committed_bytes;
  st.span_record_bytes = ps.span_record_bytes;
  st.page_map_bytes = ps.page_map_bytes;
  int64_t live = large_live_bytes_.load(std::memory_order_relaxed);
  st.tiny_allocs = tiny_allocs_.load(std::memory_order_relaxed) + u.tiny_allocs;
  st.large_allocs = large_allocs_.load(std::memory_order_relaxed);
  st.large_frees = large_frees_.load(std::memory_order_relaxed);
  st.total_alloc = large_alloc_bytes_.load(std::memory_order_relaxed);
  for (int c = 0; c < kNumSizeClasses; c++) st.by_size[c].size = ClassToSize(c);
  for (int sc = 0; sc < kNumSpanClasses; sc++) {
    const Central::Stats& cs = central[sc];
    const int c = SpanClassSizeClass(static_cast<SpanClass>(sc));
    const uint64_t unused = u.free_slots[sc] + u.freebuf_objects[sc];
    live += cs.live_bytes - static_cast<int64_t>(unused * ClassToSize(c));
    SizeClassStats& b = st.by_size[c];
    const uint64_t mallocs = cs.mallocs - u.free_slots[sc] + u.local_frees[sc];
    b.mallocs += mallocs;
    b.frees += cs.frees + u.local_frees[sc] + u.freebuf_objects[sc];
    st.total_alloc += mallocs * ClassToSize(c);
  }
  st.heap_alloc = live > 0 ? static_cast<uint64_t>(live) : 0;
  st.by_size[0].mallocs = st.large_allocs;
  st.by_size[0].frees = st.large_frees;
  for (const SizeClassStats& b : st.by_size) {
    st.mallocs += b.mallocs;
    st.frees += b.frees;
  }
  // Tiny pieces are not tracked one by one (their lifetime is their
  // block's): as in Go, each counts as a malloc and a free at once, and the
  // 16-byte blocks holding them count as the objects.
  st.mallocs += st.tiny_allocs;
  st.frees += st.tiny_allocs;
  st.objects = st.mallocs - st.frees;
  const GcBitsArenas::Stats gs = gc_bits_.ReadStats();
  st.gc_bits_arenas = gs.arenas_mapped;
  st.gc_bits_bytes = uint64_t{gs.arenas_mapped} * kGcBitsArenaBytes;
  return st;
}

HeapStats ReadHeapStats() { return Heap::Get().ReadStats(); }

HeapStats ReadHeapStatsExact() { return Heap::Get().ReadStatsExact(); }

}  // namespace gc::alloc
