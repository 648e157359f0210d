// The per-processor cache (Go's mcache). See alloc/heap.h for the overview.
//
// A Cache owns one span per span class outright (alloc_[sc]); while it does,
// no other thread allocates from that span, so the fast path below takes no
// lock, does no atomic read-modify-write and no critical-section bookkeeping
// (seeds 000 and 004). It touches only the cache and the span it owns:
//
//   AllocSmall<sc>(type)        alloc_[sc]: lowest bit of alloc_cache
//     -> AllocSmallSlow          next word of the span, or Refill
//       -> Refill                the next spare span of the batch, or
//         -> Central::Exchange   a batch back and a batch out (Central lock)
//           -> Heap::NewSmallSpans  fresh spans (heap lock, OS)
//   AllocTiny<size, align>()    bump inside the current 16-byte block
//     -> AllocTinySlow           a new block through AllocSmallSlow
//
// Safepoint: the slow paths poll the stop-the-world flag, and a thread
// stopping the world points every running thread's t_cache at the empty
// unattached cache (Cache::RequestSafepoint), so that thread's very next
// allocation fails its fast path and polls; the slow path puts its own
// cache back. The fast path itself does nothing for it: no load of the
// flag, as Go's preemption poisons a goroutine's stack guard instead of
// polling in every function.
//
// An unattached thread's t_cache points at a shared, empty Cache whose spans
// are all the empty span: its fast path always fails, and the slow path
// attaches the thread (which takes a Processor and its real Cache) first.
#pragma once

#include <atomic>
#include <bit>
#include <cstdint>
#include <cstring>
#include <vector>

#include "gcrt/alloc/page_cache.h"
#include "gcrt/alloc/size_classes.h"
#include "gcrt/alloc/span.h"
#include "gcrt/alloc/type_info.h"
#include "gcrt/runtime/base.h"
#include "gcrt/runtime/processor.h"
#include "gcrt/runtime/safepoint_poll.h"

namespace gc::alloc {

struct UnflushedCounts;  // alloc/heap.h

inline constexpr uint32_t kTinySize = 16;

// Objects up to this size are zeroed unconditionally on the fast path: a few
// stores are cheaper than testing needzero.
inline constexpr uint32_t kAlwaysZeroBytes = 128;

// Debug builds (GCRT_DEBUG_LEVEL >= 2): stops the program, naming the slot, if
// a slot handed out without zeroing (its span's needzero was false) holds a
// nonzero byte: the allocator's promise that every allocation reads zero.
void CheckHandedOutZeroed(const void* p, size_t bytes);

// The heap profile's sampling rate (Go's runtime.MemProfileRate): on average
// one allocation in every g_mem_profile_rate bytes allocated is sampled
// (1: every one; 0: none). Atomic, relaxed: set by the configuration
// (SetMemProfileRate), read at each word load and large allocation.
inline constexpr uint64_t kDefaultMemProfileRate = 512 * 1024;
extern std::atomic<uint64_t> g_mem_profile_rate;
// Returns the rate it replaces. A cache goes on with the interval it drew
// at the old rate until its next sample or its next flush (every cycle),
// whichever comes first.
uint64_t SetMemProfileRate(uint64_t bytes);

// The span every unused alloc_ entry points at: no free slot, no type, so
// the fast path's tests fail without a null check. Never written.
extern constinit Span g_empty_span;

// Cache-line aligned: caches of different processors are written
// concurrently and must not share a line.
class alignas(64) Cache final : public runtime::ProcessorLocal {
 public:
  constexpr Cache() {
    for (Span*& s : alloc_) s = &g_empty_span;
  }

  // Allocates a zeroed object of span class kSpanClass (whose slots are
  // kElemSize bytes) of type `type` (kSize bytes); the whole slot is zeroed.
  // kBuild, if not null, returns `type` built: the fast path only compares
  // the pointer, the slow path reads the type (api/internal/type_info.h).
  template <SpanClass kSpanClass, uint32_t kElemSize, uint32_t kSize,
            const TypeInfo* (*kBuild)() = nullptr>
  GCRT_ALWAYS_INLINE void* AllocSmall(const TypeInfo* type) {
    Span* s = alloc_[kSpanClass];
    uint64_t free = s->alloc_cache;
    if (GCRT_PREDICT_FALSE(free == 0 || s->types.single() != type)) {
      return AllocSmallSlow(kSpanClass, kBuild != nullptr ? kBuild() : type);
    }
    s->alloc_cache = free & (free - 1);
    void* p = reinterpret_cast<void*>(
        s->cache_addr +
        static_cast<uintptr_t>(__builtin_ctzll(free)) * kElemSize);
    GCRT_ASAN_UNPOISON(p, kElemSize);
    // The whole slot: the marker scans an array to the end of its slot.
    if (kElemSize <= kAlwaysZeroBytes || s->needzero) {
      std::memset(p, 0, kElemSize);
    } else {
#if GCRT_DEBUG_LEVEL >= 2
      CheckHandedOutZeroed(p, kElemSize);
#endif
    }
    return p;
  }

  // Allocates a zeroed pointer-free, trivially destructible object smaller
  // than kTinySize inside the current tiny block; when it does not fit, a
  // new block comes inline from the owned tiny span (its type was recorded
  // when the span was cached), and only an exhausted word goes out of line.
  template <uint32_t kSize, uint32_t kAlign>
  GCRT_ALWAYS_INLINE void* AllocTiny() {
    static_assert(kSize < kTinySize && kAlign <= 8 && kAlign > 0);
    uint32_t off = (tiny_offset_ + kAlign - 1) & ~(kAlign - 1);
    if (GCRT_PREDICT_TRUE(off + kSize <= kTinySize)) {
      tiny_offset_ = off + kSize;
      tiny_allocs_++;
      return reinterpret_cast<void*>(tiny_ + off);
    }
    Span* s = alloc_[kTinySpanClass];
    uint64_t free = s->alloc_cache;
    if (GCRT_PREDICT_FALSE(free == 0)) return AllocTinySlow(kSize);
    tiny_allocs_++;
    return TakeTinyBlock(s, free, kSize);
  }

  // Takes the lowest free 16-byte block of the owned tiny span s (whose
  // alloc_cache is `free`, not 0), zeroes it, and hands out its first
  // `size` bytes; keeps whichever block has more room left, as Go does.
  GCRT_ALWAYS_INLINE void* TakeTinyBlock(Span* s, uint64_t free,
                                         uint32_t size) {
    s->alloc_cache = free & (free - 1);
    uintptr_t block =
        s->cache_addr +
        uintptr_t{kTinySize} * static_cast<uintptr_t>(__builtin_ctzll(free));
    GCRT_ASAN_UNPOISON(block, kTinySize);
    std::memset(reinterpret_cast<void*>(block), 0, kTinySize);
    if (size < tiny_offset_) {
      tiny_ = block;
      tiny_offset_ = size;
    }
    return reinterpret_cast<void*>(block);
  }

  GCRT_NOINLINE void* AllocSmallSlow(SpanClass sc, const TypeInfo* type);
  GCRT_NOINLINE void* AllocTinySlow(uint32_t size);

  // The heap profile's sampler for a large object of `bytes` (its whole
  // span): charges it, and returns whether it is sampled.
  bool SampleLarge(uint64_t bytes);

  bool Owns(const Span* s) const {
    return s->owner.load(std::memory_order_relaxed) == this;
  }
  // Frees slot `slot` of `s`, a span this cache owns. Throws
  // std::invalid_argument if the slot is not allocated.
  void FreeOwned(Span* s, uint32_t slot);

  // Gives every cached span back to its Central and folds the local
  // counters into the heap's (Go's mcache releaseAll). Spans cached before
  // the current sweep began (h+1) are swept first, by the owner (seed 002);
  // with sweep_stale false (the collector flushing an idle processor's
  // cache with the world stopped) they go back unswept (h-2) instead.
  void ReleaseAll(bool sweep_stale = true);
  // Seed 002's prepareForSweep: flushes the cache if it was filled before
  // the last mark termination. Runs on resume and on acquire, before the
  // processor's first allocation.
  void PrepareForSweep();

  // The heap sweepgen when this cache was last flushed (seed 002). Atomic:
  // stored (release) by the processor's thread, or by the collector with
  // the world stopped, after the flush is complete; loaded (acquire) by the
  // collector, which waits for it after an explicit collection.
  uint32_t flush_gen() const {
    return flush_gen_.load(std::memory_order_acquire);
  }
  // Tests: makes the cache look flushed at `gen` (the next cycle's check).
  void SetFlushGenForTesting(uint32_t gen) {
    flush_gen_.store(gen, std::memory_order_release);
  }

  // gc::stats(): adds what the Centrals' counters do not know yet about
  // this cache (its spans' slots, its local counters); heap_stats.cc.
  void AddUnflushed(UnflushedCounts* out) const
      GCRT_REQUIRES(runtime::kWorldStopped);

  void OnAcquire(runtime::Processor& p) override;
  void OnRelease(runtime::Processor& p) override;
  void OnOwnerLost(runtime::Processor& p) override
      GCRT_REQUIRES(runtime::kWorldStopped);
  void OnResume(runtime::Processor& p) override;
  // Inside a blocking region the thread's fast paths fail (t_cache is the
  // unattached cache) and its slow paths refuse, so an allocation there
  // never touches a cache the collector may be flushing.
  void OnBlockingEnter(runtime::Processor& p) override;
  void OnBlockingExit(runtime::Processor& p) override;
  // Points the owning thread's t_cache at the unattached cache.
  void RequestSafepoint() override;

  // Marking starts (world stopped): the words loaded now are marked black
  // too (alloc/span.h), so everything allocated from here on is. Where the
  // C++ heap has no room to record them, they stay white: an object
  // allocated white is marked, and scanned, only if the marking reaches
  // it, which is safe too, only slower at the final stop.
  void BeginBlackAllocation() GCRT_REQUIRES(runtime::kWorldStopped);
  // Marking ends (world stopped): unmarks the free slots of every word this
  // cache has loaded (alloc/span.h: black allocation), then hands each word
  // of a scannable span it loaded while marking to visit(context, word) and
  // forgets them.
  void EndBlackAllocation(void (*visit)(void* context, const BlackWord& word),
                          void* context) GCRT_REQUIRES(runtime::kWorldStopped);

 private:
  Span* Refill(SpanClass sc);
  // Refill, and when it finds no memory, a collection and one more try
  // (Heap::CollectForMemory).
  Span* RefillOrCollect(SpanClass sc);
  // s->LoadNextCacheWord(); while allocating black, the word's free slots
  // are marked and the word recorded (LoadWordBlack).
  GCRT_ALWAYS_INLINE bool LoadWord(Span* s) {
    bool loaded =
        GCRT_PREDICT_FALSE(g_allocate_black.load(std::memory_order_relaxed))
            ? LoadWordBlack(s)
            : s->LoadNextCacheWord();
    if (loaded && g_mem_profile_rate.load(std::memory_order_relaxed) != 0) {
      const uint64_t bytes = uint64_t{s->elem_size} * s->cache_word_free;
      if (GCRT_PREDICT_TRUE(next_sample_ > bytes)) {
        next_sample_ -= bytes;
      } else {
        ChargeSampler(s);
      }
    }
    return loaded;
  }
  // The heap profile's sampler (Go's mcache.nextSample), charged a word at
  // a time so that the fast path counts nothing: the free slots of s's
  // freshly loaded word (alloc_cache, none held) count toward the next
  // sample; when it falls among them, the sampled slot and those after it
  // are held back (Span::sample_held), and the fast path runs out at it.
  void ChargeSampler(Span* s);
  // Whether the loaded word's free slots are all held back for a sample
  // (the fast path ran out at it): if so, gives them back to alloc_cache,
  // the sampled slot lowest, for the slow path to take.
  static bool TakeHeldSample(Span* s) {
    if (s->alloc_cache != 0) return false;
    s->alloc_cache = s->sample_held;
    s->sample_held = 0;
    return true;
  }
  // The slow path handed out the held slot at p (`bytes` of it): the rest
  // of the word counts toward the next sample, and the allocation goes to
  // the profile.
  void Sampled(Span* s, void* p, uint64_t bytes);
  // Bytes to the next sample: exponentially distributed with mean `rate`,
  // as Go's fastexprand, so that samples are a Poisson process over the
  // bytes allocated (every allocation when rate is 1).
  uint64_t NextSampleBytes(uint64_t rate);
  GCRT_NOINLINE bool LoadWordBlack(Span* s);
  // Whether the objects s holds may need the final stop's rescan once
  // allocated black: its objects are not all of one type with a pointer
  // bitmap (alloc/span.h, BlackWord). A span with no type yet is not: its
  // first allocation records its type (AllocSmallSlow) and its word then.
  static bool BlackMayNeedRescan(const Span* s) {
    if (s->noscan()) return false;
    switch (s->types.compression()) {
      case TypeCompression::kEmpty:
        return false;
      case TypeCompression::kSingle:
        return s->types.single()->pointer_bitmap == nullptr;
      default:
        return true;
    }
  }
  // Records the rest of the current word of s (slot `slot` and the free
  // slots after it) when this allocation is the first of type `type` that
  // may need a rescan (BlackMayNeedRescan was false and type has no
  // pointer bitmap). Before the type is recorded; throws std::bad_alloc
  // with nothing recorded.
  void NoteBlackTypeChange(Span* s, uint32_t slot, const TypeInfo* type);
  // Sweeps a stale (h+1) span this cache owns, before it goes back.
  void SweepStale(Span* s);

  // Everything below is owned by the thread holding this cache's processor
  // (no sync), except where it says otherwise.
  Span* alloc_[kNumSpanClasses];
  uintptr_t tiny_ = 0;                // current tiny block
  uint32_t tiny_offset_ = kTinySize;  // bytes used in it; full when no block
  std::atomic<uint32_t> flush_gen_{0};
  // The owning thread's t_cache, while a thread holds this cache's
  // processor. Atomic: stored (release) by the owner on acquire and
  // release; loaded (acquire) by a stopper under the processor table's
  // lock, while the owner cannot finish releasing (so the slot is alive).
  std::atomic<class CacheSlot*> owner_slot_{nullptr};
  uint64_t tiny_allocs_ = 0;  // folded into the heap by ReleaseAll/refill
  // Bytes to allocate before the next sampled allocation; 0 when none is
  // drawn (a sample was just taken, or the cache was flushed: intervals are
  // exponential, so dropping the rest of one and drawing anew leaves the
  // sampling unbiased, and a new rate takes effect within a cycle).
  uint64_t next_sample_ = 0;
  uint64_t sample_rng_ = 0;  // xorshift state; seeded at the first draw
  uint64_t local_frees_[kNumSpanClasses] = {};  // owned explicit frees
  // Spans this cache owns besides alloc_, linked through Span::next: spare
  // ones handed out with the last batch, and finished ones waiting to go
  // back with the next. Both stay in_cache, so other threads' frees into
  // them go to their freebufs.
  Span* stash_[kNumSpanClasses] = {};
  Span* retired_[kNumSpanClasses] = {};
  PageCache page_cache_;  // pages for fresh spans, cut without the heap lock
  // Words of scannable spans loaded while allocating black (LoadWord);
  // taken by EndBlackAllocation with the world stopped.
  std::vector<BlackWord> black_words_;
};

[[noreturn]] GCRT_COLD void ThrowAllocationRefused();

// Nonzero while the thread runs destructors of dead objects for the sweeper
// (gc/sweeper.cc). Its t_cache is then the unattached cache, so every
// allocation takes a slow path and is refused there: a destructor that
// allocated could re-enter the refill that is sweeping. Owned by the thread.
extern thread_local constinit int t_in_destructor;

// Bytes this thread has taken for allocation while a marking runs beside
// the program (the free slots of each word it loads, each large object),
// not yet paid for by a mark assist (the collector's Trigger hook charges
// and pays it: gc/collector.h). Negative: credit from an assist that did
// more. Owned by the thread.
extern thread_local constinit int64_t t_assist_debt;

// The allocation slow paths' safepoint. A thread inside a blocking region
// promised not to touch the heap (the world may stop without it), and a
// thread running the sweeper's destructors must not allocate: both are
// refused here, on the first slow path (within 64 allocations of a class
// in a blocking region; at once in a destructor).
GCRT_ALWAYS_INLINE void SafepointAndCheckNotBlocking() {
  if (GCRT_PREDICT_FALSE(runtime::InBlockingRegion() ||
                         GCRT_TLS(t_in_destructor) != 0)) {
    ThrowAllocationRefused();
  }
  runtime::Safepoint();
}

extern constinit Cache g_unattached_cache;

// A thread's cache pointer. Atomic, because one other thread may write it:
// a stopper redirects it to the unattached cache (Cache::RequestSafepoint).
// Otherwise written only by its thread. Loads are relaxed, so the fast
// path's load is the same single mov as a plain pointer's.
class CacheSlot {
 public:
  constexpr explicit CacheSlot(Cache* c) : c_(c) {}
  operator Cache*() const { return c_.load(std::memory_order_relaxed); }
  Cache* operator->() const { return c_.load(std::memory_order_relaxed); }
  CacheSlot& operator=(Cache* c) {
    c_.store(c, std::memory_order_relaxed);
    return *this;
  }
  void StoreSeqCst(Cache* c) { c_.store(c, std::memory_order_seq_cst); }

 private:
  std::atomic<Cache*> c_;
};

// Zeal mode (GCRT_DEBUG=zeal=N): a full collection every N allocations; 0
// is off. While it is on, every thread's t_cache stays the unattached
// cache, so that every allocation takes a slow path, which counts it
// (Heap::MaybeTriggerGc): the fast path pays nothing for the mode. Atomic,
// relaxed: set by the configuration, read by slow paths.
extern std::atomic<uint64_t> g_zeal;
// Turns zeal mode on (n > 0) or off; running threads' fast paths turn off
// at their next safepoint or cache install, and on again at theirs.
void SetZeal(uint64_t n);

// The calling thread's cache; the unattached cache until the thread
// attaches, inside blocking regions and destructors, while a stopper's
// request to reach a safepoint is pending, and in zeal mode.
extern thread_local constinit CacheSlot t_cache GCRT_TLS_FAST;

// Turns the calling thread's fast path back on with `c` (its own cache,
// or the unattached one), unless the world is being stopped or zeal mode is
// on: then the thread's next allocation still takes the slow path.
void InstallCache(Cache* c);

}  // namespace gc::alloc
