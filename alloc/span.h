// A Span is a run of contiguous pages handed out by the PageHeap as a unit:
// either nelems slots of one size class, or one large object. Every page of
// an in-use span maps back to it through the PageMap, so an interior pointer
// finds its span in O(1). See alloc/heap.h for the allocator's overview.
//
// Who touches a Span:
//   - PageHeap creates, splits, coalesces and frees it under PageHeap::mu_.
//   - While a Cache holds it (in_cache), only that Cache's processor
//     allocates from it and writes its allocation state and type table, with
//     no synchronization: that is what makes the fast path lock-free (seed
//     000).
//   - While no Cache holds it, its allocation state is guarded by the
//     Central lock of its span class.
//   - Markers (the collector) only set bits in mark_bits, with atomic OR.
//
// Allocation state. Slots are allocated in ascending order within a word of
// 64 slots: alloc_cache holds the free slots of word cache_word that have not
// been handed out yet; the fast path takes the lowest set bit. For every word
// other than cache_word, alloc_bits is exact (1 = allocated). For cache_word,
// the exact state is ~alloc_cache; WriteBackCacheWord() makes alloc_bits exact
// for it too, which happens before the span leaves its Cache.
//
// Sweep generations (seed 002): Span::sweepgen, a SweepGen (alloc/sweepgen.h
// tables its states and names its transitions).
#pragma once

#include <atomic>
#include <cstdint>

#include "gcrt/alloc/size_classes.h"
#include "gcrt/alloc/special.h"
#include "gcrt/alloc/sweepgen.h"
#include "gcrt/alloc/type_table.h"
#include "gcrt/runtime/base.h"
#include "gcrt/runtime/list.h"
#include "gcrt/runtime/mutex.h"

namespace gc::alloc {

// Size class and noscan bit, as in Go: (sizeclass << 1) | noscan. One more
// class, kTinySpanClass, holds only the tiny allocator's 16-byte blocks, so
// that an explicit free can tell a tiny piece from a whole object by the
// span alone (the type table of a span another thread owns is not safe to
// read).
using SpanClass = uint8_t;
inline constexpr int kTinySizeClass = 2;  // 16 bytes
inline constexpr SpanClass kTinySpanClass = kNumSizeClasses * 2;
inline constexpr int kNumSpanClasses = kNumSizeClasses * 2 + 1;
constexpr SpanClass MakeSpanClass(int sizeclass, bool noscan) {
  return static_cast<SpanClass>((sizeclass << 1) | (noscan ? 1 : 0));
}
constexpr int SpanClassSizeClass(SpanClass sc) {
  return sc == kTinySpanClass ? kTinySizeClass : sc >> 1;
}
constexpr bool SpanClassNoScan(SpanClass sc) {
  return sc == kTinySpanClass || (sc & 1) != 0;
}

enum class SpanState : uint8_t {
  kDead = 0,   // in the span pool, describes nothing
  kInUse = 1,  // holds objects (small or large)
  kFree = 2,   // on a PageHeap free list
  // Carved by PageHeap::AllocSpan, not yet published: neither coalescable
  // nor visible to LookupInUse until its owner stores kInUse.
  kAllocating = 3,
  // Free pages the scavenger took off the free lists to return them to the
  // OS with PageHeap::mu_ released: counted as free, neither allocatable nor
  // coalescable until the scavenger files them back as kFree.
  kScavenging = 4,
};

// An object explicitly freed into a span another Cache owns (seed 000's
// freebuf): the link is stored in the freed object's first word.
struct FreeLink {
  FreeLink* next;
};

// Black allocation (gc/barrier.h). While a cycle marks with the world
// running, the collector sets g_allocate_black (with the world stopped),
// and every word a cache loads for allocation gets its free slots marked
// as it is loaded (Cache::LoadWord): objects allocated while marking are
// born marked, with no test on the allocation fast path. The slots still
// free when the word is written back, or when marking ends
// (UnmarkFreeCacheSlots, world stopped), are unmarked again. Atomic,
// relaxed: stored only with the world stopped.
extern std::atomic<bool> g_allocate_black;

// A word of slots allocated black (for the collector's final stop, which
// scans the objects allocated there whose types it cannot trust to the
// write barrier: gc/marker.h). `slots`: the word's free slots when loaded.
//
// Only words that may hold such objects are recorded: a span whose objects
// all have one type with a pointer bitmap (or none yet) records nothing
// when a word is loaded, and the allocation that first gives it an object
// of another type records the rest of its word then (Cache::AllocSmallSlow:
// the fast path takes only the span's single type).
struct Span;
struct BlackWord {
  Span* span;
  uint32_t word;
  uint64_t slots;
};

// Aligned to a cache line: two threads' spans are written on every
// allocation, and must not share a line.
struct alignas(64) Span {
  // ---- Identity. Written under PageHeap::mu_ while the span is not in use;
  //      immutable while state == kInUse. ----
  uintptr_t base = 0;  // first byte, page aligned
  uint32_t npages = 0;
  SpanClass span_class = 0;  // sizeclass 0 = large object
  uint32_t elem_size = 0;    // bytes per slot; whole span for a large object
  uint32_t nelems = 0;       // slots
  uint32_t nwords = 0;       // 64-bit words of alloc/mark bits
  uint32_t div_magic = 0;    // slot = (offset * div_magic) >> 32

  // ---- Allocation state. Owned by the holding Cache while in_cache (no
  //      sync); guarded by the span class's Central lock otherwise. ----
  uint64_t alloc_cache = 0;  // free, not yet handed out slots of cache_word
  // Free slots of cache_word held back from alloc_cache for the heap
  // profiler (Cache::ChargeSampler): every one above alloc_cache's, the
  // lowest the next sampled allocation, so that the fast path runs out just
  // before it and the slow path samples it. Free as alloc_cache's are
  // (CacheWordFree); 0 when no sample falls in the rest of the word.
  uint64_t sample_held = 0;
  uintptr_t cache_addr = 0;      // address of slot cache_word * 64
  uint32_t cache_word = 0;       // == nwords when no word is loaded
  uint32_t cache_word_free = 0;  // popcount(alloc_cache) when it was loaded
  // Every word below free_word, other than cache_word, is full.
  uint32_t free_word = 0;
  // Slots allocated, exact except for cache_word's pending handouts.
  uint32_t alloc_count = 0;
  bool needzero = false;  // slots may hold non-zero bytes
  bool in_cache = false;  // Guarded by the Central lock.
  // Its owner swept it on the way out of its cache (Cache::SweepStale): its
  // free slots were counted in heap_live before the last mark replaced
  // heap_live, so giving them back takes nothing off it. Owned as the
  // allocation state.
  bool swept_stale = false;
  // The Cache that owns the span (its alloc_, stash or retired spans), or
  // null. Atomic: stored (relaxed) only by the owning Cache's thread, when
  // it takes the span and before it hands it back under the Central lock;
  // loaded (relaxed) by Free on any thread, which can only ever see its own
  // Cache there if its Cache owns the span now.
  std::atomic<const void*> owner{nullptr};
  // Atomic: stored (release) only under the Central lock; the owning
  // Cache loads it (relaxed) without the lock to skip the lock when empty.
  std::atomic<FreeLink*> freebuf{nullptr};
  TypeTable types;  // same discipline as the allocation state
  // Finalizers and weak handles of its objects, sorted by (offset, kind)
  // (special.h). The list is changed only under specials_lock; the head is
  // atomic so a free can see "no specials" (relaxed load) without the lock.
  runtime::Mutex specials_lock;
  std::atomic<Special*> specials{nullptr};
  uint64_t* alloc_bits = nullptr;  // nwords words from the gcBits arenas
  // Atomic OR by markers during mark. The pointer is replaced only by the
  // sweeper that claimed the span, never during mark.
  uint64_t* mark_bits = nullptr;

  // ---- Collector state: the sweep generation (its own discipline, in
  //      alloc/sweepgen.h). ----
  SweepGen sweepgen;

  // ---- PageHeap state. Guarded by PageHeap::mu_. ----
  // Pages of a free span returned to the OS (their bits are set in the
  // page map's released bitmap); 0 while the span is in use. (Beside
  // sweepgen's four bytes, so that the Span fits three cache lines.)
  uint32_t npreleased = 0;
  int64_t unused_since_ns = 0;  // when it became free (monotonic clock)

  // ---- List links. Guarded by PageHeap::mu_ while free, by the Central
  //      lock while in use and not cached. Never on two lists at once. ----
  Span* next = nullptr;
  Span* prev = nullptr;

  // Atomic: stored (release) last, after every field above is valid; readers
  // that reach the span through the PageMap load it (acquire) and ignore
  // spans that are not kInUse.
  std::atomic<SpanState> state{SpanState::kDead};

  bool large() const { return SpanClassSizeClass(span_class) == 0; }
  bool noscan() const { return SpanClassNoScan(span_class); }
  uintptr_t limit() const { return base + uintptr_t{npages} * kPageSize; }
  // Bytes of one slot: elem_size, or for a large object the whole span
  // (its elem_size saturates at 4 GiB; an array is scanned to the end).
  size_t slot_bytes() const {
    return large() ? size_t{npages} << kPageShift : elem_size;
  }
  bool Contains(uintptr_t p) const { return p >= base && p < limit(); }
  uint32_t SlotIndex(uintptr_t p) const {
    return static_cast<uint32_t>(
        (static_cast<uint64_t>(p - base) * div_magic) >> 32);
  }
  uintptr_t SlotAddress(uint32_t slot) const {
    return base + uintptr_t{slot} * elem_size;
  }
  // The start of the slot holding p (a large object's span: its base, as
  // div_magic is 0). p must be below SlotAddress(nelems).
  uintptr_t SlotStart(uintptr_t p) const { return SlotAddress(SlotIndex(p)); }
  // Valid (in-range) slot bits of word w.
  uint64_t ValidMask(uint32_t w) const {
    uint32_t rest = nelems - w * 64;
    return rest >= 64 ? ~uint64_t{0} : (uint64_t{1} << rest) - 1;
  }

  // Allocation-state operations; the caller owns the allocation state.
  // The loaded word's free slots: those the fast path has yet to hand out
  // and those held back for a sample.
  uint64_t CacheWordFree() const { return alloc_cache | sample_held; }
  // Resets the allocation state for the current alloc_bits (no word loaded).
  void ResetAllocState();
  // Makes alloc_bits exact for cache_word and unloads it.
  void WriteBackCacheWord();
  // Writes back the current word and loads the next word with a free slot.
  // Returns false if the span is full. (Its owning Cache marks the word's
  // free slots while g_allocate_black is on: Cache::LoadWord.)
  bool LoadNextCacheWord();
  // Marking ends (world stopped): unmarks the loaded word's free slots.
  void UnmarkFreeCacheSlots() GCRT_REQUIRES(runtime::kWorldStopped);
  bool IsAllocated(uint32_t slot) const;
  // Marks `slot` free (it must be allocated) and makes it reusable.
  void FreeSlot(uint32_t slot);
  // Number of allocated slots, exact even with a word loaded.
  uint32_t CountAllocated() const;

  // Full consistency walk, for GCRT_DCHECK_EXPENSIVE and tests.
  bool IsValid() const;
};

static_assert(sizeof(Span) <= 192, "Span grew past three cache lines");
static_assert(alignof(Span) == 64);

// A doubly linked list of spans through Span::next/prev.
using SpanList = runtime::IntrusiveList<Span>;

}  // namespace gc::alloc
