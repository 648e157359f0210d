// The mutator's side of safepoints: the poll and blocking regions. See
// runtime/safepoint.h for stop-the-world, which includes this header.
// Declared apart so that the headers that inline the poll (the allocator's
// fast path, gc::safepoint) do not make the stopper's side visible.
#pragma once

#include <atomic>

#include "gcrt/runtime/base.h"

namespace gc::runtime {

class Processor;

// Atomic: raised (seq_cst) under ProcessorTable's lock by the stopper, after
// it has set what a parking thread reads (its processor, the count of
// processors to wait for); lowered (release) at the restart before parked
// threads are let go, so a running thread never sees it raised from a stop
// that has ended. Loaded relaxed by safepoint polls (a stale false only
// delays the park to the next poll), with acquire by the park itself.
extern std::atomic<bool> g_stop_requested;

void SafepointSlow();

// Parks the calling thread if the world is being stopped. Cheap enough for
// inner loops: one load and a predicted branch.
GCRT_ALWAYS_INLINE void Safepoint() {
  if (GCRT_PREDICT_FALSE(g_stop_requested.load(std::memory_order_relaxed))) {
    SafepointSlow();
  }
}

// Whether a task's worker (runtime/task.h) lets another worker take its
// slot while it is blocked: yes for the program's waits (gc::Blocking and
// api/thread.h), no for the collector's own waits for a cycle (every task
// that allocates meets them, as goroutines park in Go's assists; more
// workers would only meet them too).
enum class HandOff : bool { kNo = false, kYes = true };

class BlockingRegion {
 public:
  explicit BlockingRegion(HandOff hand_off = HandOff::kYes);
  ~BlockingRegion();
  BlockingRegion(const BlockingRegion&) = delete;
  BlockingRegion& operator=(const BlockingRegion&) = delete;

 private:
  Processor* p_;   // the caller's processor, or null if not attached
  bool hand_off_;  // the outermost region's choice (HandOff)
};

// True while the calling thread is inside a BlockingRegion.
bool InBlockingRegion();

}  // namespace gc::runtime
