// The write barrier: what keeps a marking that runs beside the program
// correct. See gc/collector.h for the overview.
//
// While a cycle marks with the world running (collector.h, phase 2), every
// store of a GC pointer into a gc::Ptr, and every gc::Ptr made from one,
// shades the pointer stored: its object is marked and queued for scanning
// if it was not marked yet (Dijkstra's insertion barrier, as cppgc's
// Member does on assignment and on construction). Objects allocated while
// marking are allocated black (alloc/cache.h), so an object the marker
// never scans gets every pointer it holds through the barrier.
//
// Why insertion, not deletion (Yuasa's snapshot barrier, Go's hybrid):
// a snapshot barrier must see every pointer overwritten, and C++ programs
// overwrite GC pointers where no barrier can be put: the buffers of std
// containers a trace() walks (a vector's reallocation, pop_back, clear),
// raw T* fields of classes scanned conservatively, raw pointers and
// gc::Ptr locals on thread stacks. An insertion barrier needs only that
// the places without a barrier are scanned again at the final stop: the
// stacks, the handle arenas and construction stacks, the root sets, and
// the objects the concurrent marker left for that stop (it defers, per
// field type, every object whose trace() reaches into a container or a
// conservatively scanned member; gc/marker.h). Deletions need nothing.
//
// gc::Weak needs no barrier: lock() returns a gc::Root, and handle arenas
// are scanned again at the final stop, before weak references are cleared.
// gc::WeakMap's keys are not shaded (they must not be kept alive); the
// entries it writes while the barrier is on are logged instead
// (gc/ephemeron.h).
//
// The fast path is one relaxed load of g_write_barrier and a branch that is
// not taken while no cycle marks.
#pragma once

#include <atomic>

#include "gcrt/runtime/base.h"

namespace gc::internal {

// Whether a cycle is marking while the program runs. Atomic: stored only
// with the world stopped (the restart and the next stop order it for every
// thread the world stops for), sequentially consistent for the threads it
// does not stop (ShadeSlow); the fast path's load is relaxed.
extern std::atomic<bool> g_write_barrier;

// Marks the object p points into (an exact or interior pointer; null and
// non-heap pointers are ignored) and queues it for scanning if it was
// unmarked. Any thread, while the barrier is on. A thread the world does
// not stop (not attached, or inside a blocking region) may have seen the
// flag of a marking that has ended: it shades through a handshake with the
// final stop, which waits for it (gc/marker.cc: ShadeBesideTheWorld).
void ShadeSlow(const void* p);

// TESTS ONLY (tests/gc/lost_object_test.cc, fork_test.cc): hook(on) runs
// inside the handshake of a thread the world does not stop, once it has
// read the flag (`on`) and before it shades, so a test can hold such a
// thread counted in: across the end of a marking, or a fork. Null to
// remove.
void SetShadeBesideTheWorldHookForTesting(void (*hook)(bool on));

// TESTS ONLY (tests/gc/lost_object_test.cc): with `disabled`, ShadeSlow
// does nothing, so a marking beside the program runs without its barrier
// and loses the objects the barrier is there to keep; the tests show the
// verifier catching that. A program that turns it on gets a corrupt heap.
// The fast path below is unchanged: only ShadeSlow reads the switch.
void SetWriteBarrierDisabledForTesting(bool disabled);

GCRT_ALWAYS_INLINE bool WriteBarrierOn() {
  return GCRT_PREDICT_FALSE(g_write_barrier.load(std::memory_order_relaxed));
}

GCRT_ALWAYS_INLINE void WriteBarrier(const void* p) {
  if (WriteBarrierOn()) ShadeSlow(p);
}

}  // namespace gc::internal
