// Task stacks (runtime/task.h): mapped with a guard region below them (an
// overflow faults instead of writing into the next stack), and pooled: a
// task that ends gives its stack back for the next one, so spawning a task
// maps nothing in the steady state. Pages a task touched stay committed
// while pooled (a task's next use finds them warm); the pool keeps at most
// kMaxPooledStacks stacks and unmaps the rest.
//
// Not charged to gc::Stats::sys: stacks are mapped here, not through
// runtime/os_mem.h, and gc::Stats has no part for them yet.
#pragma once

#include <cstddef>
#include <cstdint>

namespace gc::runtime {

struct TaskStack {
  uintptr_t lo = 0;  // the lowest usable address (above the guard region)
  uintptr_t hi = 0;  // the stack's base: its highest address, exclusive
  size_t bytes() const { return hi - lo; }
};

inline constexpr size_t kMaxPooledStacks = 1024;

// The inaccessible region below each stack: 64 KiB of address space, no
// memory. A frame that moves the stack pointer past it in one step (a
// large local array, compiled without -fstack-clash-protection, which
// probes every page of such a frame) would write into whatever lies below
// without a fault; one page stopped only frames under 4 KiB.
inline constexpr size_t kTaskStackGuardBytes = size_t{64} << 10;

// A stack of `bytes` (a multiple of the page size): from the pool if one
// of that size is there, else newly mapped. Throws std::bad_alloc if the
// mapping fails.
TaskStack AcquireTaskStack(size_t bytes);
// Gives a stack back to the pool (or unmaps it when the pool is full).
void ReleaseTaskStack(TaskStack s);
// Stacks mapped now, pooled or in use (for tests).
size_t MappedTaskStacks();

}  // namespace gc::runtime
