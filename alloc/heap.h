// gcrt's allocator: overview, and the interface the layers above use.
//
// The allocator follows Go's (malloc.go, mheap.go, mcentral.go, mcache.go)
// and seeds 000, 001, 003 and 004 (docs/seeds.md). The whole design, with
// the allocation path step by step: docs/design.md.
//
// Data structures, bottom up:
//   PageHeap (page_heap.h)   8 KiB pages in reserved arenas, handed out as
//                            Spans; page-to-span map; free lists; scavenger.
//   Span (span.h)            a run of pages: nelems slots of one size class,
//                            or one large object; alloc/mark bits; type table.
//   GcBitsArenas (gc_bits.h) the memory of alloc and mark bits (seed 001).
//   Central (central.h)      per span class: spans no Cache holds.
//   Cache (cache.h)          per Processor: one owned span per span class,
//                            the tiny allocator, local counters.
//   TypeTable (type_table.h) per span: the type of every object (seed 000).
//
// Allocating an object of type T (size known at compile time), with the cost
// of each step:
//   1. Tiny (pointer-free, trivially destructible, < 16 bytes): bump inside
//      the Cache's current 16-byte block. No lock, no atomic.
//   2. Small (<= 32 KiB): take the lowest free slot of the owned span's
//      current 64-slot word (count trailing zeros), check the span's type is
//      T, zero. No lock, no atomic.
//   3. Next word of the same span: still owned, no lock.
//   4. Refill: the span is full; give it back to its Central and take another
//      (Central lock).
//   5. New span: the Central has none; the PageHeap carves one (heap lock),
//      growing the arena by at least 64 KiB (OS: mprotect), after asking the
//      collector to reclaim pages by sweeping.
//   6. Large (> 32 KiB): a span of its own straight from the PageHeap.
//
// Freeing explicitly (GC_FREE-style, for objects known to be unreachable):
// into the span directly when the caller's Cache owns it, under the Central
// lock when no Cache does, and into the span's freebuf when another Cache
// owns it, folded in when that Cache gives the span back (seed 000).
//
// Layering: this is alloc/, below gc/. The collector plugs in from above
// through registered hooks (PageHeap::SetReclaimHook, Heap::SetCollectorHooks).
#pragma once

#include <algorithm>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "gcrt/alloc/allocate.h"
#include "gcrt/alloc/cache.h"
#include "gcrt/alloc/central.h"
#include "gcrt/alloc/gc_bits.h"
#include "gcrt/alloc/page_heap.h"
#include "gcrt/alloc/size_classes.h"
#include "gcrt/alloc/span.h"
#include "gcrt/alloc/type_info.h"
#include "gcrt/runtime/base.h"
#include "gcrt/runtime/mutex.h"
#include "gcrt/runtime/os_mem.h"

namespace gc::alloc {

struct SizeClassStats {
  uint32_t size;     // bytes per object
  uint64_t mallocs;  // objects allocated in this class (counted as in Go)
  uint64_t frees;
};

// Go's runtime.MemStats in spirit. ReadStats: counts from caches are folded
// in when they give spans back, so its object figures are exact once no
// cache holds spans (FlushCurrentCache on every thread, or after a
// collection). ReadStatsExact (world stopped) adds what the caches hold.
struct HeapStats {
  uint64_t heap_alloc;  // bytes of allocated objects
  // Bytes ever allocated: slot sizes (a tiny block counts as one 16-byte
  // object), whole spans for large objects. total_alloc - heap_alloc is
  // what was freed.
  uint64_t total_alloc;
  uint64_t heap_sys;       // bytes of span memory obtained from the OS
  uint64_t heap_inuse;     // bytes in in-use spans
  uint64_t heap_idle;      // bytes in free spans
  uint64_t heap_released;  // of heap_idle, returned to the OS
  uint64_t heap_reserved;  // address space reserved for arenas
  // Tiny pieces (under 16 bytes, pointer-free) count in mallocs and frees
  // at once, and the 16-byte blocks holding them as objects, as in Go.
  uint64_t mallocs;  // objects ever allocated (tiny pieces included)
  uint64_t frees;    // objects ever freed
  uint64_t objects;  // mallocs - frees
  uint64_t tiny_allocs;
  uint64_t large_allocs;
  uint64_t large_frees;
  uint64_t scavenge_runs;
  // Bytes returned to the OS, ever: by every path, and of those by the
  // background scavenger pacing itself toward its goal.
  uint64_t scavenged_bytes;
  uint64_t paced_scavenged_bytes;
  uint64_t scavenger_cpu_ns;  // CPU time of the background scavenger's work
  uint64_t scavenge_goal;     // retained-memory goal; UINT64_MAX: none
  uint64_t gc_bits_arenas;    // 64 KiB arenas mapped for alloc/mark bits
  // Mapped from the OS and never given back (runtime/os_mem.h counts the
  // same mappings, at the system call): arena memory committed (heap_sys
  // and what is committed ahead of it), span records, page map leaves,
  // gcBits arenas.
  uint64_t heap_committed;
  uint64_t span_record_bytes;
  uint64_t page_map_bytes;
  uint64_t gc_bits_bytes;
  SizeClassStats by_size[kNumSizeClasses];
};

// What the Centrals' counters do not know yet about the spans Caches hold,
// per span class (Cache::AddUnflushed; Heap::ReadStatsExact). A Central
// counts every free slot of a span it hands to a Cache as allocated, and
// takes back those still free when the span comes back (central.h).
struct UnflushedCounts {
  uint64_t free_slots[kNumSpanClasses];       // still free in cached spans
  uint64_t freebuf_objects[kNumSpanClasses];  // freed into them by others
  uint64_t local_frees[kNumSpanClasses];      // Cache::local_frees_
  uint64_t cached_spans[kNumSpanClasses];     // spans found in caches
  uint64_t tiny_allocs;                       // not yet folded
};

class Heap {
 public:
  // The heap, created on first use and never destroyed.
  static Heap& Get();

  PageHeap& pages() { return pages_; }
  GcBitsArenas& gc_bits() { return gc_bits_; }
  Central& central(SpanClass sc) { return central_[sc]; }

  // The heap's sweep generation. Written only with the world stopped (by
  // the collector); loaded (acquire) by anyone.
  uint32_t sweepgen() const {
    return sweepgen_.load(std::memory_order_acquire);
  }

  // Up to `count` (<= 64) fresh spans of class sc, with zeroed bits, state
  // kInUse, carved under one page heap lock; at least one, or it throws.
  // `pc`, if given, is the calling Cache's page cache to cut them from.
  size_t NewSmallSpans(SpanClass sc, size_t count, Span** out,
                       PageCache* pc = nullptr);
  // An empty small span goes back to the page heap.
  void FreeSmallSpan(Span* s);
  // Gives the empty spans the Centrals kept for their refills back to the
  // page heap (Central::ReleaseKept), until `pages` pages went back or none
  // is left; returns the pages.
  uint64_t ReleaseKeptSpans(uint64_t pages);

  // While g_allocate_black is on (alloc/span.h), the object is born marked.
  void* AllocateLarge(const TypeInfo* type, size_t bytes)
      GCRT_EXCLUDES(black_mu_);
  // Marking ends (world stopped): hands each scannable large object
  // allocated black to visit(context, word) and forgets them.
  void EndBlackAllocationLarge(void (*visit)(void* context,
                                             const BlackWord& word),
                               void* context) GCRT_EXCLUDES(black_mu_)
      GCRT_REQUIRES(runtime::kWorldStopped);
  void FreeLarge(Span* s, uintptr_t p) GCRT_EXCLUDES(large_mu_);

  // ---- The collector (gc/) plugs in here (layering: alloc never calls up
  //      except through these). ----
  struct CollectorHooks {
    // Sweeps a small span the caller claimed (SweepClaim::TryAcquire) and
    // took off its Central's lists (Central::TakeForSweep, or Exchange
    // itself): runs the destructors of its dead objects with no lock held,
    // swaps its bits, and files it back with Central::FinishSweep, which
    // ends the claim (`emptied`: as FinishSweep's).
    void (*sweep_taken)(SweepClaim claim, Central::Emptied emptied);
    // A refill of class `sc` that found no span with free slots on its
    // Central's lists: sweeps spans of the sweep's walk (any class) until
    // `want` of class sc were filed partial (those it empties kept there,
    // not freed), or a budget of spans is swept, or the walk is over.
    void (*sweep_for_refill)(SpanClass sc, size_t want);
    // Sweeps a span in state h+1 that its owner (the calling thread's
    // Cache, holding SweepClaim::AcquireCachedStale's claim) is about to
    // give back; returns the number of objects freed. The span's freebuf
    // has been folded and its cache word written back. The caller ends the
    // claim.
    uint32_t (*sweep_cached)(const SweepClaim& claim);
    // Runs a collection cycle; called at the start of an allocation slow
    // path once heap_live reaches next_gc.
    void (*trigger)();
    // Proportional sweeping: called before a Cache takes `want` spans of
    // class sc from its Central, so sweeping keeps ahead of allocation;
    // up to `want` spans of class sc it empties stay on the Central's
    // partial list for that refill (as sweep_for_refill's), and others
    // are kept within their class's reuse budget (Central::Emptied).
    void (*sweep_credit)(SpanClass sc, size_t want);
    // The calling thread enters (true) or leaves (false) a blocking region.
    void (*blocking)(bool entering);
    // Zeal mode (SetZeal): a full collection, at the start of an allocation
    // slow path.
    void (*zeal)();
    // An allocation found no memory under the memory limit: a full
    // collection with its sweep finished, so the allocation can try once
    // more. Returns whether one ran.
    bool (*collect_for_memory)();
    // An allocation of `bytes` still found no memory under the limit after
    // that collection: runs the program's out-of-memory callback, if it set
    // one, and returns whether it ran (the allocation then collects and
    // tries once more).
    bool (*out_of_memory)(size_t bytes);
    // The heap profile's sampler chose this allocation (Cache::ChargeSampler,
    // Cache::SampleLarge): `object` (allocated, not yet constructed) and its
    // slot's `bytes` go to the profile. Must not throw.
    void (*profile_alloc)(void* object, uint64_t bytes);
  };
  // Registered once by the collector (a static object) before its first
  // cycle; null until then.
  void SetCollectorHooks(const CollectorHooks* hooks) {
    hooks_.store(hooks, std::memory_order_release);
  }
  const CollectorHooks* hooks() const {
    return hooks_.load(std::memory_order_acquire);
  }

  // Pacing (seed 004). heap_live: bytes of objects allocated since the last
  // mark plus those it found live, counted as Go counts them (a cached
  // span's free slots are assumed allocated). Atomic: relaxed adds from
  // slow paths on any thread; set by the collector with the world stopped.
  void AddHeapLive(int64_t bytes) {
    heap_live_.fetch_add(bytes, std::memory_order_relaxed);
  }
  void SetHeapLive(int64_t bytes) GCRT_REQUIRES(runtime::kWorldStopped) {
    heap_live_.store(bytes, std::memory_order_relaxed);
  }
  int64_t heap_live() const {
    return heap_live_.load(std::memory_order_relaxed);
  }
  // Memory the program holds outside the heap for GC objects (a
  // std::vector member's buffer), as it reports it
  // (gc::add_external_memory): paced as if it were in the heap, so that
  // dropping such objects brings a cycle. Compared with the trigger
  // together with heap_live (PacedLive), and counted into the goal
  // (Collector::SetNextGcLocked). Atomic: relaxed adds from any thread (a
  // destructor on a sweeping thread removes what its object held). The
  // total saturates at INT64_MAX and INT64_MIN rather than wrap (a
  // program's wrong figures must not turn a huge total negative).
  int64_t AddExternalBytes(int64_t delta) {
    int64_t before = external_bytes_.load(std::memory_order_relaxed);
    int64_t total;
    do {
      if (__builtin_add_overflow(before, delta, &total)) {
        total = delta > 0 ? INT64_MAX : INT64_MIN;
      }
    } while (!external_bytes_.compare_exchange_weak(before, total,
                                                    std::memory_order_relaxed));
    if (delta < 0) {
      // In unsigned arithmetic: -INT64_MIN does not fit an int64_t.
      external_removed_.fetch_add(uint64_t{0} - static_cast<uint64_t>(delta),
                                  std::memory_order_relaxed);
      int64_t low = external_low_.load(std::memory_order_relaxed);
      while (total < low && !external_low_.compare_exchange_weak(
                                low, total, std::memory_order_relaxed)) {
      }
    }
    return total;
  }
  // The lowest total since the last call (at least 0), which then starts
  // again from the current total. The collector takes it as a cycle ends:
  // it is what live objects held once the last sweep had run the
  // destructors of dead ones (the total then still counts every dead
  // object's bytes, and pacing by it would double the goal each cycle).
  int64_t TakeExternalLow() {
    const int64_t low =
        external_low_.exchange(external_bytes_.load(std::memory_order_relaxed),
                               std::memory_order_relaxed);
    return std::clamp<int64_t>(low, 0, kMaxPacedExternal);
  }
  // Every removal's bytes, summed (wrapping: only differences are used).
  // What live objects hold once a cycle's sweep has run the destructors of
  // its dead objects is the total at its mark termination less what was
  // removed since (Collector::PaceExternalAfterSweep).
  uint64_t external_removed() const {
    return external_removed_.load(std::memory_order_relaxed);
  }
  // Pacing takes at most this much external memory (4 EiB), so that a
  // total near INT64_MAX (a program's wrong figure) leaves the goal, which
  // saturates just below INT64_MAX, above heap_live plus it: else every
  // allocation slow path would start a cycle.
  static constexpr int64_t kMaxPacedExternal = int64_t{1} << 62;
  int64_t external_bytes() const {
    return std::max<int64_t>(external_bytes_.load(std::memory_order_relaxed),
                             0);
  }
  // What the trigger is compared with: heap_live and external bytes.
  int64_t PacedLive() const {
    int64_t sum;
    return __builtin_add_overflow(
               heap_live(), std::min(external_bytes(), kMaxPacedExternal), &sum)
               ? INT64_MAX
               : sum;
  }
  // After external bytes were added on a program thread: a safepoint, and
  // starts a cycle if they took the heap past the trigger, as an
  // allocation's slow path does. Not in a blocking region, where the
  // thread may not collect, nor on a thread not attached (which it would
  // have to attach): the next allocation starts it.
  void MaybeTriggerGcForExternal();
  // The heap goal, and the heap_live at which the next cycle starts (the
  // goal itself for a cycle that stops the world; earlier for one that
  // marks beside the program, which must finish before the goal). Atomic:
  // stored (relaxed) by the collector, loaded (relaxed) by allocation slow
  // paths.
  void SetNextGc(int64_t goal, int64_t trigger) {
    next_gc_.store(goal, std::memory_order_relaxed);
    trigger_.store(std::min(trigger, goal), std::memory_order_relaxed);
    RefreshPoll();
  }
  int64_t trigger() const { return trigger_.load(std::memory_order_relaxed); }
  // Zeal mode (SetZeal) makes every slow path reach TriggerGcSlow, which
  // counts allocations: the slow path's test stays one load and compare.
  void RefreshPoll() {
    poll_at_.store(
        g_zeal.load(std::memory_order_relaxed) != 0 ? INT64_MIN : trigger(),
        std::memory_order_relaxed);
  }
  int64_t next_gc() const { return next_gc_.load(std::memory_order_relaxed); }
  // Called at the start of allocation slow paths: starts a cycle if the
  // heap has grown past the trigger.
  GCRT_ALWAYS_INLINE void MaybeTriggerGc() {
    if (GCRT_PREDICT_FALSE(PacedLive() >=
                           poll_at_.load(std::memory_order_relaxed))) {
      TriggerGcSlow();
    }
  }
  // The collector's side of sweeping: only with the world stopped (the
  // collector, at mark termination): the heap's generation moves on by 2.
  void AdvanceSweepgen() GCRT_REQUIRES(runtime::kWorldStopped) {
    sweepgen_.store(sweepgen() + 2, std::memory_order_release);
  }
  // A swept large span: frees it (dead) or gives it fresh bits (live);
  // either ends the claim.
  void FinishSweepLarge(SweepClaim claim, bool dead) GCRT_EXCLUDES(large_mu_);
  // Fresh mark bits for the claimed span and its mark bits become its alloc
  // bits (ANDed with the old alloc bits, so an explicitly freed slot stays
  // free); the allocation state is reset. The claim holder owns the span's
  // allocation state.
  // Returns the number of slots that were allocated and are now free.
  uint32_t SwapSweptBits(const SweepClaim& claim);

  // An allocation slow path that caught runtime::OutOfMemoryError, with
  // its cache consistent again (the memory limit reached, or the OS
  // refused memory): runs a collection (the heap may hold garbage no
  // trigger has collected yet: below its goal, the heap triggers none)
  // and returns whether one ran; the caller then retries once. Never
  // nested.
  bool CollectForMemory();
  // `attempt` (an allocation of `bytes` from the page heap or a Central,
  // leaving everything consistent when it throws
  // runtime::OutOfMemoryError), retried after a collection
  // (CollectForMemory), and, under a memory limit, once more after the
  // program's out-of-memory callback and another collection. What the last
  // attempt throws goes to the caller.
  template <typename Attempt>
  auto RetryForMemory(size_t bytes, Attempt attempt) -> decltype(attempt());

  // Runs the out-of-memory hook, unless nested in it or with no limit.
  bool OutOfMemory(size_t bytes);
  // `e` with what the collection just run left live, under a memory limit:
  // a program whose live objects fill the limit fails every allocation,
  // each after a full cycle, and the message says it is the live set, not
  // garbage, that does not fit.
  runtime::OutOfMemoryError AfterCollection(const runtime::OutOfMemoryError& e,
                                            size_t bytes) const;

  // Atomic counters: relaxed adds from slow paths on any thread.
  void AddTinyAllocs(uint64_t n) {
    tiny_allocs_.fetch_add(n, std::memory_order_relaxed);
  }

  HeapStats ReadStats() { return Summarize(nullptr); }
  // The same, exact for any program: with the world stopped, the figures
  // of every processor's cache are added (as Go's ReadMemStats flushes
  // every mcache, without flushing). Costs a walk of each processor's
  // cache, and, when a thread parked halfway through giving spans back
  // (a destructor it ran while sweeping them), of every span record
  // (heap_stats.cc). `walk_spans` forces that walk (tests).
  HeapStats ReadStatsExact(bool walk_spans = false)
      GCRT_REQUIRES(runtime::kWorldStopped);

  // Fork support (the collector's pthread_atfork handlers): with the world
  // stopped, takes the locks threads the world does not stop for (the
  // scavenger, metadata) may hold, and releases them after the fork; in
  // the child, threads that ran in the parent are started again by
  // RestartThreadsAfterFork.
  // (Centrals too: gc::stats() reads them from threads that never attach.)
  // Not analysed: the analysis names locks, and cannot hold an array's
  // (every Central's) from here to UnlockAfterFork.
  void LockForFork() GCRT_NO_THREAD_SAFETY_ANALYSIS {
    for (Central& c : central_) c.LockForFork();
    gc_bits_.LockForFork();
    pages_.LockForFork();
  }
  void UnlockAfterFork(bool child) GCRT_NO_THREAD_SAFETY_ANALYSIS {
    pages_.UnlockAfterFork(child);
    gc_bits_.UnlockAfterFork();
    for (Central& c : central_) c.UnlockAfterFork();
  }
  void RestartThreadsAfterFork() { pages_.RestartScavengerAfterFork(); }

 private:
  Heap();
  // The figures, from the Centrals' counters plus `unflushed` (or none).
  HeapStats Summarize(const UnflushedCounts* unflushed);
  // Adds the span parts of `u` from every cached span record.
  void AddUnflushedSpans(UnflushedCounts* u)
      GCRT_REQUIRES(runtime::kWorldStopped);
  // Replaces the span parts of `u` (what AddUnflushed found in caches) by
  // the span records' (AddUnflushedSpans); keeps the caches' counters.
  void ReplaceSpanParts(UnflushedCounts* u)
      GCRT_REQUIRES(runtime::kWorldStopped);

  PageHeap pages_;
  GcBitsArenas gc_bits_;
  Central central_[kNumSpanClasses];
  GCRT_NOINLINE void TriggerGcSlow();
  // Read on every allocation slow path and sweep, stored rarely: on lines
  // of their own, apart from the counters every thread writes (below), so
  // those writes do not take the lines from the other cores.
  alignas(64) std::atomic<uint32_t> sweepgen_{4};
  // Atomic: stored (release) once by the collector, loaded (acquire).
  std::atomic<const CollectorHooks*> hooks_{nullptr};
  // No cycle until the collector sets a goal.
  std::atomic<int64_t> next_gc_{INT64_MAX};
  std::atomic<int64_t> trigger_{INT64_MAX};  // As next_gc_.
  // trigger_, or INT64_MIN in zeal mode (RefreshPoll). Atomic, as next_gc_.
  std::atomic<int64_t> poll_at_{INT64_MAX};
  // Written by every refill (relaxed adds of a span's bytes).
  alignas(64) std::atomic<int64_t> heap_live_{0};
  std::atomic<int64_t> external_bytes_{0};  // AddExternalBytes
  std::atomic<int64_t> external_low_{0};    // AddExternalBytes, TakeExternalLow
  std::atomic<uint64_t> external_removed_{0};  // AddExternalBytes (relaxed)
  // Bytes of large objects; small ones are counted per Central. Atomic:
  // relaxed adds by AllocateLarge/FreeLarge, relaxed loads by ReadStats.
  std::atomic<int64_t> large_live_bytes_{0};
  // Atomic counters: relaxed adds from slow paths on any thread (tiny
  // counts folded in from caches), relaxed loads by ReadStats.
  std::atomic<uint64_t> tiny_allocs_{0};
  std::atomic<uint64_t> large_allocs_{0};
  std::atomic<uint64_t> large_frees_{0};
  std::atomic<uint64_t> large_alloc_bytes_{0};  // whole spans, ever
  // Serializes the check-then-free of large objects, so a double free of a
  // large object is always seen. Guards no field: it orders the frees and
  // sweeps of large spans (FreeLarge, FinishSweepLarge).
  alignas(64) runtime::Mutex large_mu_;
  // Scannable large objects allocated black (AllocateLarge).
  runtime::Mutex black_mu_;
  std::vector<BlackWord> black_large_ GCRT_GUARDED_BY(black_mu_);
};

// ---- The allocator's interface for the layers above. ----

// SizeClassForAligned, AllocateFixed (the inline fast path) and Allocate:
// alloc/allocate.h.
// `count` objects of `type`: throws std::bad_alloc with a message if
// count * type->size overflows.
void* AllocateArray(const TypeInfo* type, size_t count);

// Frees an object known to be unreachable. Does not run its destructor
// (the typed layer above does that first). free(nullptr) does nothing; a
// piece of a tiny block is not freed on its own (it is reclaimed with its
// block). Throws std::invalid_argument for a pointer that is not the start
// of a live object of this heap, or a double free that is visible at once.
void Free(void* p);
// Free's last step, for a caller that has validated slot `slot` of the
// small span s as a live object's and released its specials already
// (gc::free): the slot goes back to the owning cache, or to s's Central.
// Throws std::invalid_argument for a double free visible at once. The
// calling thread holds a processor and is not in a blocking region.
void FreeSmallSlot(Span* s, uint32_t slot);

// The in-use span holding p, or null.
Span* SpanOf(const void* p);
// "0x7f..." for error messages.
std::string HexAddress(uintptr_t p);
// The type recorded for the object starting at p, or null. Only safe from
// the thread owning the span, or when no cache holds it.
const TypeInfo* TypeOf(const void* p);
// The slot size of the object at p (0 if p is not a heap object).
size_t AllocationSize(const void* p);
// Whether slot `slot` of the in-use span s is allocated, as far as the
// calling thread may look: exact if its Cache owns s or no Cache does
// (under the Central lock), true while another thread's Cache holds s.
// For debug checks of pointers the program hands in.
bool SlotAllocatedAsSeen(Span* s, uint32_t slot);

// Attaches the calling thread explicitly (creating the heap on first use):
// it takes a Processor and its Cache now rather than at its first
// allocation. DetachCurrentThread gives them back (thread exit does too).
void AttachCurrentThread();
void DetachCurrentThread();

// Gives the calling thread's cached spans back (exact statistics).
void FlushCurrentCache();
// Returns every idle page of the heap's free lists to the OS now (the
// second half of Go's debug.FreeOSMemory; gc::release_memory collects
// first); pages held in processors' page caches (at most 512 KiB each,
// counted in heap_inuse) are not idle and stay. Returns the bytes this call
// released.
size_t ReleaseIdleMemory();
HeapStats ReadHeapStats();
// Heap::ReadStatsExact.
HeapStats ReadHeapStatsExact() GCRT_REQUIRES(runtime::kWorldStopped);

template <typename Attempt>
auto Heap::RetryForMemory(size_t bytes, Attempt attempt)
    -> decltype(attempt()) {
  try {
    return attempt();
  } catch (const runtime::OutOfMemoryError&) {
    if (!CollectForMemory()) throw;
  }
  try {
    return attempt();
  } catch (const runtime::OutOfMemoryError& e) {
    if (!OutOfMemory(bytes)) throw AfterCollection(e, bytes);
  }
  CollectForMemory();  // what the callback let go
  try {
    return attempt();
  } catch (const runtime::OutOfMemoryError& e) {
    throw AfterCollection(e, bytes);
  }
}

}  // namespace gc::alloc
