// gcBits arenas (seed 001): the memory of every span's alloc and mark bits.
// See alloc/heap.h for the overview.
//
// Bits are carved from 64 KiB arenas by bumping an arena's free offset with
// one atomic add; the lock is taken only to link in a fresh arena when the
// current one is exhausted. Arenas are grouped by epoch and rotated once per
// GC cycle by NextEpoch():
//
//   next      new mark bits (and alloc bits of new spans) are taken from here
//   current   bits taken during the previous epoch: this cycle's alloc bits
//   previous  one epoch older; still referenced until the sweep finishes
//   free      no longer referenced; reused (zeroed) for new arenas
//
// Invariant the collector keeps: every span replaces both of its bit vectors
// (alloc <- mark, mark <- new) once per cycle, so no span points into an
// arena that reaches the free list.
//
// Sweeping never asks the OS for memory: a span being swept has had its
// destructors run and is claimed, so it cannot give up halfway. Before it
// marks, the collector sets aside (ReserveForSweep) zeroed arenas enough for
// the fresh mark bits of every span the coming sweep will sweep, and the
// sweep takes its bits from those (NewSweptMarkBits), through a head of its
// own so new spans' bits cannot eat into them. If the OS has no memory for
// the reserve, the cycle is refused before anything changed.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>

#include "gcrt/runtime/base.h"
#include "gcrt/runtime/mutex.h"

namespace gc::alloc {

inline constexpr size_t kGcBitsArenaBytes = 64 * 1024;
inline constexpr uint32_t kCacheLine = 64;
// Words of a bit vector of nwords as the arenas lay it out: a whole number
// of cache lines.
constexpr uint32_t PaddedBitWords(uint32_t nwords) {
  return (nwords + kCacheLine / 8 - 1) & ~(kCacheLine / 8 - 1);
}

class GcBitsArenas {
 public:
  // Fork support (Heap::LockForFork): the lock across a fork.
  void LockForFork() GCRT_ACQUIRE(mu_) { mu_.lock(); }
  void UnlockAfterFork() GCRT_RELEASE(mu_) { mu_.unlock(); }
  // A zeroed vector of `nwords` 64-bit words, cache-line aligned and padded
  // to whole lines (PaddedBitWords), never shared.
  // Throws std::bad_alloc if no arena can be mapped.
  uint64_t* Allocate(uint32_t nwords) GCRT_EXCLUDES(mu_);
  uint64_t* NewMarkBits(uint32_t nwords) { return Allocate(nwords); }
  uint64_t* NewAllocBits(uint32_t nwords) { return Allocate(nwords); }
  // Fresh mark bits for a span being swept, from the reserve; never maps
  // memory while the reserve lasts (and it lasts, for every span that was
  // in use when the collector reserved).
  uint64_t* NewSweptMarkBits(uint32_t nwords) GCRT_EXCLUDES(mu_);
  // Sets aside arenas for `vectors` bit vectors of `words` padded words in
  // all. Throws std::bad_alloc if the OS has no memory for them; what was
  // reserved already stays reserved.
  void ReserveForSweep(uint64_t words, uint64_t vectors) GCRT_EXCLUDES(mu_);

  // Rotates the epochs: free <- previous, previous <- current,
  // current <- next, next <- empty. Called once per GC cycle.
  void NextEpoch() GCRT_EXCLUDES(mu_);

  struct Stats {
    size_t arenas_mapped;    // ever mapped from the OS
    size_t arenas_free;      // on the free list
    size_t arenas_reserved;  // set aside for the sweep
  };
  Stats ReadStats() GCRT_EXCLUDES(mu_);

 private:
  struct Arena {
    // Atomic: bumped by fetch_add from any thread; reset only while the
    // arena is off every epoch list (under mu_).
    std::atomic<uint32_t> free_offset;
    Arena* next;  // Guarded by mu_.
    static constexpr uint32_t kCapacity =
        static_cast<uint32_t>(kGcBitsArenaBytes) - 64;
    alignas(64) unsigned char bits[kCapacity];
    uint64_t* TryAllocate(uint32_t bytes);
  };
  static_assert(sizeof(Arena) == kGcBitsArenaBytes);

  Arena* NewArenaLocked() GCRT_REQUIRES(mu_);
  // Bumps `head`'s arena, linking in `refill()` (under mu_) when full.
  // `tail` names the list's last arena (set, under mu_, when the first one
  // is linked), so that NextEpoch splices lists without walking them: the
  // walk touched one cold arena per 64 KiB of bits, inside mark
  // termination's stop. A member pointer, not a reference: the
  // thread-safety analysis refuses a reference to a guarded field taken
  // without the lock (the field is written only under it, below).
  template <typename Refill>
  uint64_t* AllocateFrom(std::atomic<Arena*>& head, Arena* GcBitsArenas::*tail,
                         uint32_t nwords, Refill refill) GCRT_EXCLUDES(mu_);

  runtime::Mutex mu_;
  // Atomic: stored (release) under mu_, loaded (acquire) on the fast path.
  // Head of the `next` epoch's list; older arenas of the epoch follow it.
  std::atomic<Arena*> next_{nullptr};
  // The same for the sweep's mark bits (NewSweptMarkBits): its arenas come
  // from reserve_ and join the next epoch with next_'s.
  std::atomic<Arena*> sweep_next_{nullptr};
  Arena* reserve_ GCRT_GUARDED_BY(mu_) = nullptr;  // zeroed, set aside
  size_t nreserve_ GCRT_GUARDED_BY(mu_) = 0;
  Arena* current_ GCRT_GUARDED_BY(mu_) = nullptr;
  Arena* previous_ GCRT_GUARDED_BY(mu_) = nullptr;
  // The last arenas of next_, sweep_next_, current_ and previous_ (null
  // when the list is empty).
  Arena* next_tail_ GCRT_GUARDED_BY(mu_) = nullptr;
  Arena* sweep_next_tail_ GCRT_GUARDED_BY(mu_) = nullptr;
  Arena* current_tail_ GCRT_GUARDED_BY(mu_) = nullptr;
  Arena* previous_tail_ GCRT_GUARDED_BY(mu_) = nullptr;
  Arena* free_ GCRT_GUARDED_BY(mu_) = nullptr;
  size_t mapped_ GCRT_GUARDED_BY(mu_) = 0;
  // Mapped in a batch and never used: still zero.
  Arena* fresh_ GCRT_GUARDED_BY(mu_) = nullptr;
};

}  // namespace gc::alloc
