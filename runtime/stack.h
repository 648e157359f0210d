// Conservative scanning of thread stacks (cppgc's model: a precise heap,
// conservative stacks; Boehm GC's mark_rts.c and pthread_stop_world.c).
//
// Every thread that holds a processor has its stack recorded in the
// processor (StackRecord, runtime/processor.h): the stack's base when the
// thread attaches, and when it stops running the lowest address still in
// use, with the callee-saved registers spilled where the scan finds them:
//   parked at a safepoint   ProcessorTable::Park spills them into its frame
//                           (__builtin_unwind_init) and stays in it while
//                           parked: [sp, hi) covers them.
//   in a blocking region    the region's constructor spills them and
//                           copies them into the record (the region's body
//                           may push them below sp and reuse the
//                           registers); [sp, hi) from the caller's frame.
//   stopping the world      the collector spills them in its own frame
//                           (Collector::Collect, then RecordStack).
// The collector scans, with the world stopped, each non-idle processor's
// [sp, hi) and saved registers, word by word; a word that points into an
// allocated object marks it (an interior pointer too). Under
// AddressSanitizer a word that points into the thread's fake stack (stack
// use-after-return detection) scans that fake frame as well.
//
// Off (GCRT_STACK_SCAN=off, gc::set_stack_scan(false)): only registered
// roots count, gcrt's precise mode.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "gcrt/runtime/base.h"
#include "gcrt/runtime/processor.h"

namespace gc::runtime {

// The calling thread's stack base (highest address), computed once per
// thread.
uintptr_t CurrentStackHi();

// The bounds of the stack the calling thread runs on: its own, or a task's
// while it runs one (runtime/task.h). ExchangeStackBounds installs a
// task's bounds when a worker switches to it and the worker's own when it
// switches back; it returns the bounds it replaced.
struct StackBounds {
  uintptr_t lo = 0;
  uintptr_t hi = 0;
};
StackBounds CurrentStackBounds();
StackBounds ExchangeStackBounds(StackBounds bounds);

// The return addresses of the calling thread's frames, innermost first
// (out[0] returns into the caller of FramePointerStack), by following the
// frame pointer chain: a few instructions a frame, where glibc's
// backtrace() reads unwind tables for each (about 18,000 instructions for
// a heap profile sample). Stops at max frames, at a return address of 0,
// or at a saved frame pointer that is not aligned, not above the frame
// before it or not inside the thread's stack, so that it reads only the
// thread's own stack, above the current frame: a function compiled
// without frame pointers (a library built with -fomit-frame-pointer) may
// keep anything in that register, and the walk then ends early (its
// callers are missing) rather than going astray. Returns 0 when the
// calling frame is not on the thread's stack (a fiber's, say).
GCRT_NOINLINE int FramePointerStack(void** out, int max);

// The address of a local of the calling frame's callee: everything of the
// caller's frames is at or above it.
GCRT_NOINLINE uintptr_t ApproximateSp();

// Zeroes kDeadStackBytes of the calling thread's stack below the caller's
// frame: what the frames the caller has returned from left there (Boehm
// GC's GC_clear_stack). A thread that is about to wait in a blocking
// region calls it first: the region's own frames are pushed onto that
// memory, and a slot they leave unwritten would otherwise still hold a
// pointer from a frame that ran before (the finalizer thread kept the
// last object it finalized, and all it reached, alive that way).
inline constexpr size_t kDeadStackBytes = 16 * 1024;
GCRT_NOINLINE void ClearDeadStack();

// Records the calling thread's stack into p's record: [sp, its base), the
// registers already spilled at or above sp (a parked thread, the stopper).
void RecordStack(Processor* p, uintptr_t sp);

// Records the calling thread's stack into p's record with every
// callee-saved register copied out (a blocking region's entry: the
// registers may be reused meanwhile). `sp`: the lowest address of the
// caller's frames that must stay scanned.
GCRT_NOINLINE void RecordStackWithRegisters(Processor* p, uintptr_t sp);

// The words of [begin, end) of the calling thread's own stack, copied
// (reads the sanitizers do not check: the frames have redzones).
void CopyStackWords(uintptr_t begin, uintptr_t end,
                    std::vector<uintptr_t>* out);

// Visits every word of the range [begin, end) of a thread's stack (or a
// saved register area) that may be a pointer: reads racing the owning
// thread are expected (a thread in a blocking region runs), so the reads
// are invisible to the sanitizers. `fake_stack`: the thread's ASan fake
// stack, whose frames the words point into are visited as well.
void ScanStackRange(uintptr_t begin, uintptr_t end, void* fake_stack,
                    void (*visit)(void* context, uintptr_t word),
                    void* context);

// Whether stacks are scanned (default on; GCRT_STACK_SCAN=off). Atomic:
// set by the configuration, read by the collector.
bool StackScanEnabled();
void SetStackScanEnabled(bool on);

}  // namespace gc::runtime
