// The page-to-span map: for any address in the heap, the Span that covers
// its page, in two dependent loads. A two-level radix map over the 48-bit
// address space: the root (1 MiB, mapped unpopulated: resident only in the
// pages that point to leaves) points to leaves of 2^18 entries, each leaf
// covering 2 GiB and mapped unpopulated too, its pages made resident as
// arenas are added in their range (EnsureLocked), 64 KiB of entries per
// 64 MiB arena rather than the whole 2 MiB leaf.
// See alloc/heap.h for the overview.
//
// Entries: every page of an in-use span maps to the span; a free span maps
// only its first and last page (enough to coalesce with neighbours); other
// entries may be stale, so readers check the span's state and range.
//
// Atomic: entries and leaf pointers are stored under PageHeap::mu_ (release
// for leaves, relaxed for entries, since spans are published through their
// own state field) and loaded by anyone without a lock.
//
// Each leaf also holds the released bitmap of its pages (Go's scavenged
// bitmap): bit set iff the page belongs to a free span (or one being
// scavenged) and has been returned to the OS, so it reads zero when next
// touched. Pages of in-use spans always have it clear. Guarded by
// PageHeap::mu_ (which the `*Locked` functions below take as `heap_mu`, so
// the analysis checks it is held); the scavenger sets bits for a range it
// took off the free lists only after it has released the range and
// retaken the lock.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>

#include "gcrt/alloc/size_classes.h"
#include "gcrt/alloc/span.h"
#include "gcrt/runtime/base.h"
#include "gcrt/runtime/mutex.h"

namespace gc::alloc {

class PageMap {
 public:
  // Maps the root. Throws OutOfMemoryError if it cannot.
  PageMap();
  PageMap(const PageMap&) = delete;
  PageMap& operator=(const PageMap&) = delete;

  static constexpr int kAddressBits = 48;
  static constexpr int kLeafBits = 18;
  static constexpr int kRootBits = kAddressBits - kPageShift - kLeafBits;
  static constexpr uintptr_t kLeafEntries = uintptr_t{1} << kLeafBits;

  GCRT_ALWAYS_INLINE Span* Lookup(uintptr_t addr) const {
    uintptr_t page = addr >> kPageShift;
    if (GCRT_PREDICT_FALSE(page >> (kLeafBits + kRootBits))) return nullptr;
    Leaf* leaf = root_[page >> kLeafBits].load(std::memory_order_acquire);
    if (leaf == nullptr) return nullptr;
    return leaf->entries[page & (kLeafEntries - 1)].load(
        std::memory_order_relaxed);
  }

  // Ensures leaves exist for [base, base+bytes). Caller holds PageHeap::mu_.
  // Throws std::bad_alloc if a leaf cannot be mapped.
  void EnsureLocked(const runtime::Mutex& heap_mu, uintptr_t base,
                    uintptr_t bytes) GCRT_REQUIRES(heap_mu);
  // Sets the entry of the page holding `addr`. Caller holds PageHeap::mu_,
  // or owns the page (a span carved and not yet published), and
  // EnsureLocked has run for it. (Not a lock the analysis can check.)
  void Set(uintptr_t addr, Span* s) {
    uintptr_t page = addr >> kPageShift;
    Leaf* leaf = root_[page >> kLeafBits].load(std::memory_order_relaxed);
    leaf->entries[page & (kLeafEntries - 1)].store(s,
                                                   std::memory_order_relaxed);
  }

  // The released bitmap (see above). Caller holds PageHeap::mu_, and
  // EnsureLocked has run for the range.
  // Pages of [addr, addr + npages pages) whose bit is set.
  size_t CountReleasedLocked(const runtime::Mutex& heap_mu, uintptr_t addr,
                             size_t npages) const GCRT_REQUIRES(heap_mu);
  // Sets (released) or clears the bits of [addr, addr + npages pages).
  void MarkReleasedLocked(const runtime::Mutex& heap_mu, uintptr_t addr,
                          size_t npages, bool released) GCRT_REQUIRES(heap_mu);
  bool ReleasedLocked(const runtime::Mutex& heap_mu, uintptr_t addr) const
      GCRT_REQUIRES(heap_mu) {
    uintptr_t page = addr >> kPageShift;
    const Leaf* leaf = root_[page >> kLeafBits].load(std::memory_order_relaxed);
    uintptr_t i = page & (kLeafEntries - 1);
    return (leaf->released[i / 64] >> (i % 64)) & 1;
  }
  // Bytes of the root and the leaves mapped from the OS (never unmapped;
  // resident only where touched). Caller holds PageHeap::mu_.
  uint64_t MappedBytesLocked(const runtime::Mutex& heap_mu) const
      GCRT_REQUIRES(heap_mu) {
    return mapped_bytes_;
  }

 private:
  struct Leaf {
    std::atomic<Span*> entries[kLeafEntries];
    uint64_t released[kLeafEntries / 64];  // Guarded by PageHeap::mu_.
  };
  static constexpr size_t kRootEntries = uintptr_t{1} << kRootBits;
  // kRootEntries leaf pointers, zero until a leaf is mapped. Immutable
  // after construction (the pointer).
  std::atomic<Leaf*>* const root_;
  // Guarded by PageHeap::mu_ (EnsureLocked); the root's from the start.
  uint64_t mapped_bytes_ = kRootEntries * sizeof(std::atomic<Leaf*>);
};

}  // namespace gc::alloc
