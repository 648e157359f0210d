// Weak references (Go's weak.Pointer, cppgc's WeakMember): a reference that
// does not keep its target alive and reads as null once the target is gone.
// See gc/collector.h for the overview.
//
// Every object that has weak references has one WeakCell, in a table of
// cells outside the GC heap: the target's address and a generation. A
// gc::Weak<T> holds the cell's address and the generation it was made in,
// so it is plain data (never traced) that can live anywhere - a GC object,
// the stack, a std::unordered_map - and many share one cell. The object's
// span carries a kWeakHandle special (alloc/special.h) naming the cell.
//
// Clearing: at mark termination, with the world stopped, every cell whose
// target is unmarked is released and its special dropped (before
// finalizers are queued: a weak reference to an object that is about to be
// finalized reads null, as in Go). An explicit free releases the object's
// cell too. Releasing a cell clears its target and bumps its generation;
// the cell then serves the next object that needs one. A Weak whose
// generation is not the cell's reads null, so it never returns the cell's
// next target, wherever it was kept. Between cycles a cell's target is
// therefore either null or an object the last marking found live (or one
// allocated since), never a dead one, whatever the lazy sweep has reached.
#pragma once

#include <atomic>
#include <cstdint>

#include "gcrt/alloc/special.h"
#include "gcrt/runtime/base.h"
#include "gcrt/runtime/mutex.h"
#include "gcrt/runtime/sys_stat.h"

namespace gc::internal {

struct WeakCell {
  GCRT_CHARGED_TO(WeakCell, kOther)
  // The target's address, or 0 while the cell is free. Atomic: stored
  // (release) when the cell is given to a target, under the weak lock;
  // cleared by mark termination (world stopped) or by an explicit free of
  // the target, under the weak lock; loaded by readers (WeakTarget).
  std::atomic<uintptr_t> target{0};
  // Bumped (before the target is cleared) each time the cell is released.
  // Same discipline as target.
  std::atomic<uint64_t> generation{1};
  // Free-list link while free. Guarded by the weak lock (weak.cc).
  WeakCell* next_free = nullptr;
};

// What a gc::Weak holds: a cell and the generation it was made in. A
// gc::Weak to a subobject (a base class at a nonzero offset) also keeps the
// subobject's offset from its object's start in generation's top bits
// (WeakRefAt), so that a Weak stays two words; cells retire
// before their generation reaches those bits.
struct WeakRef {
  WeakCell* cell;
  uint64_t generation;
};
inline constexpr int kWeakOffsetShift = 48;
inline constexpr uint64_t kWeakGenerationMask =
    (uint64_t{1} << kWeakOffsetShift) - 1;
inline constexpr uint64_t kMaxWeakOffset = ~uint64_t{0} >> kWeakOffsetShift;

// The weak reference to the GC object starting at `object`, taking a cell
// on first use. The caller keeps `object` alive across the call (sweeping
// the object's span first may run destructors). Throws
// std::invalid_argument if `object` is not the start of a live GC object
// (a pointer to an object the collector or gc::free already reclaimed
// included, except in a span another thread is allocating from), its
// message naming `what` (the API the caller offers).
WeakRef WeakRefFor(const void* object, const char* what = "gc::Weak");
// For a gc::Weak: the start of the live GC object p points into (p itself
// for a tiny object); api/weak.h decides whether a p past it is a base
// class subobject (at a nonzero offset). Throws std::invalid_argument as
// WeakRefFor does for a pointer into no live object.
uintptr_t WeakObjectStart(const void* p, const char* what = "gc::Weak");
// Throws WeakRefFor's std::invalid_argument for p, a pointer into a GC
// object that is not its start nor, as far as api/weak.h can tell, a base
// class subobject: the message says how far into which object it points.
[[noreturn]] void ThrowNotObjectStart(const void* p, const char* what);
// The weak reference to the object at `start` that reads the subobject
// `offset` bytes into it (WeakRef). Throws as WeakRefFor does, and
// std::invalid_argument for an offset over kMaxWeakOffset.
WeakRef WeakRefAt(uintptr_t start, uint64_t offset,
                  const char* what = "gc::Weak");

// What the reference (cell, generation and offset: WeakRef) reads: the
// object (at the offset), or null if the cell was released since (its
// generation moved on). A seqlock read: the generation is read before and
// after the target, and a target stored after a release (release order)
// cannot be read with the old generation both times.
GCRT_ALWAYS_INLINE void* WeakTarget(const WeakCell* c, uint64_t generation) {
  if (c == nullptr) return nullptr;
  const uint64_t made = generation & kWeakGenerationMask;
  uint64_t before = c->generation.load(std::memory_order_acquire);
  uintptr_t target = c->target.load(std::memory_order_relaxed);
  std::atomic_thread_fence(std::memory_order_acquire);
  uint64_t after = c->generation.load(std::memory_order_relaxed);
  if (before != made || after != made) return nullptr;
  return reinterpret_cast<void*>(target + (generation >> kWeakOffsetShift));
}

// Mark termination, world stopped, after marking: releases the cells of
// unmarked targets and drops their specials. Returns how many it cleared.
uint64_t ClearDeadWeakRefs() GCRT_REQUIRES(runtime::kWorldStopped);
// The special-free hook's part for kWeakHandle (an explicit free of the
// target): releases the cell and drops the special.
void ReleaseWeakSpecial(alloc::Special* s);
// Live weak specials (one per object with weak references).
uint64_t WeakSpecialCount();
// Fork support (gc/fork.h): the weak lock across a fork.
void LockWeakForFork();
void UnlockWeakAfterFork();
// Cells ever made (free ones included): the table never shrinks.
uint64_t WeakCellCountForTesting();

}  // namespace gc::internal
