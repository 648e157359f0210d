// Weak references (Go's weak.Pointer, cppgc's WeakMember): a reference that
// does not keep its target alive and reads as null once the target is gone.
//
// Every object that has weak references has one WeakCell: a small GC object
// holding the target's address, which the marker does not trace through
// (the cell is pointer-free). gc::Weak<T> holds a traced pointer to the
// cell, so weak references can live in GC objects, roots and C++ memory
// alike, and many share one cell (Go's weak handle). The object's span
// carries a kWeakHandle special (alloc/special.h) naming the cell; every such
// special is a root for its cell while the target lives.
//
// Clearing: at mark termination, with the world stopped, every cell whose
// target is unmarked is cleared and its special dropped (before finalizers
// are queued: a weak reference to an object that is about to be finalized
// reads null, as in Go). An explicit free clears the object's cell too.
// Between cycles a cell's target is therefore either null or an object the
// last marking found live (or one allocated since), never a dead one,
// whatever the lazy sweep has reached.
#pragma once

#include <atomic>
#include <cstdint>

#include "alloc/special.h"
#include "runtime/base.h"

namespace gc::internal {

struct WeakCell {
  // The target's address, or 0. Atomic: stored by the thread that made the
  // cell (before publishing it), cleared by mark termination (world
  // stopped) or by an explicit free of the target; loaded (relaxed) by
  // readers, which hold a processor, so no mark termination runs meanwhile.
  std::atomic<uintptr_t> target;
};
static_assert(sizeof(WeakCell) == sizeof(void*));

// The cell of the GC object starting at `object`, made on first use. The
// caller keeps `object` alive across the call (it may allocate, and so
// collect). Throws std::invalid_argument if `object` is not the start of a
// live GC object.
WeakCell* WeakCellFor(const void* object);

GC_ALWAYS_INLINE void* WeakTarget(const WeakCell* c) {
  return c == nullptr ? nullptr
                      : reinterpret_cast<void*>(
                            c->target.load(std::memory_order_relaxed));
}

// Marker, world stopped: visits the cell of every live weak special.
void ForEachWeakCell(void (*visit)(void* context, uintptr_t cell),
                     void* context);
// Mark termination, world stopped, after marking: clears the cells of
// unmarked targets and drops their specials. Returns how many it cleared.
uint64_t ClearDeadWeakRefs();
// The special-free hook's part for kWeakHandle (an explicit free of the
// target): clears the cell and drops the special.
void ReleaseWeakSpecial(alloc::Special* s);
// Live weak specials (one per object with weak references).
uint64_t WeakSpecialCount();

}  // namespace gc::internal
