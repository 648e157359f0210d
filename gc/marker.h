// The parallel marker (seeds 000, 001; Go's mgcmark.go and mgcwork.go).
// Runs with the world stopped, on the collector's thread and N-1 helper
// threads that never touch a Cache. See gc/collector.h for the overview.
//
//   1. Objects under construction (every thread's construction stack) are
//      marked and scanned conservatively, on the collector's thread alone,
//      before anything else can reach them: their trace functions must not
//      run on half-built members.
//   2. Root jobs (one per handle arena, one per root set or range, one for
//      finalizers: the contents of finalizable objects and the finalizer
//      queue; and, when stacks are scanned, one per non-idle processor's
//      stack: runtime/stack.h) are claimed by the workers through an
//      atomic index. Weak references are not roots.
//   3. Each worker drains its own work buffer (LIFO, through a small
//      prefetch ring), takes full buffers from the shared pool when it runs
//      out, and splits its buffer into the pool when others are hungry.
//      Marking an object is an atomic OR of its bit in the span's gcBits
//      mark word (a plain load first: most objects are seen more than
//      once). Termination: every worker waiting and the pool empty.
//
// Scanning an object uses its span's type table: a pointer bitmap (every
// aggregate) is walked inline, a trace function is called with a Tracer,
// and a type with neither is scanned conservatively. Pointer-free objects
// live in noscan spans and are never queued. Work buffers come from the C++
// heap (not GC memory), so the work list never overflows.
#pragma once

#include <atomic>
#include <cstdint>
#include <thread>
#include <vector>

#include "gcrt/alloc/type_info.h"
#include "gcrt/gc/roots.h"
#include "gcrt/runtime/mutex.h"

namespace gc::internal {

struct MarkResult {
  uint64_t bytes_marked;    // bytes of the slots of marked objects
  uint64_t objects_marked;  // objects (tiny blocks count once)
  uint32_t workers;
  // Of bytes_marked, those allocated black while marking beside the
  // program (heap_live's growth over the marking); the rest is the scan
  // work the markers did, the pacer's measure of the next cycle's.
  uint64_t black_bytes = 0;
  // Of the marking with the world stopped (MarkHeap, FinishMarking):
  // whether it had work enough to offer helpers a share, and how many
  // workers took part (1 to `workers`; a helper that woke after the
  // marking ended took none).
  bool helpers_offered = false;
  uint32_t workers_joined = 1;
};

// Marks everything reachable from the registered roots. World stopped; the
// caller holds nothing. `workers` >= 1.
MarkResult MarkHeap(uint32_t workers) GCRT_REQUIRES(runtime::kWorldStopped);

// Marking beside the program (gc/barrier.h), in three steps:
//   StartMarking, world stopped: marks and queues what the roots reach
//     (objects under construction, handle arenas, root sets, finalizers,
//     thread stacks), then turns the write barrier and black allocation on.
//   MarkConcurrently, world running, on the collecting thread and
//     workers - 1 helpers (the final stop uses StartMarking's number):
//     scans the queued objects and what the barrier shades. Object words
//     are read with atomic loads; an object whose trace() reaches what the
//     program can change without a barrier (a container's buffer, an
//     optional, a conservatively scanned member), or which is scanned
//     conservatively, is left for the final stop.
//   FinishMarking, world stopped: turns the barrier and black allocation
//     off, then marks from everything the barrier does not cover: the
//     roots again, the deferred objects, the barrier's queue, and the
//     objects allocated black whose types have a trace() or are scanned
//     conservatively. *deferred: the objects deferred, and their bytes.
// The objects allocated black count as marked bytes (heap_live's growth
// over the marking), not as marked objects.
void StartMarking(uint32_t workers) GCRT_REQUIRES(runtime::kWorldStopped);
// Starts the helper threads a marking with `workers` workers runs on, if
// they are not running yet; called before the world stops, so no stop
// waits for thread creation (the first cycle's root marking took 0.5-0.6
// ms on the 2-core VM with the helper created inside it, against 0.04-0.1
// ms in later cycles).
void StartMarkThreads(uint32_t workers);
// The helper threads started so far (tests).
uint32_t MarkThreadsStartedForTesting();
void MarkConcurrently(uint32_t workers);
struct DeferredObjects {
  uint64_t objects;
  uint64_t bytes;  // of their slots
};
MarkResult FinishMarking(DeferredObjects* deferred)
    GCRT_REQUIRES(runtime::kWorldStopped);

// A mark assist (Go's gcAssistAlloc): a thread that allocates while
// MarkConcurrently runs scans up to `budget` bytes of queued objects for
// it (its own allocation pays for the marking it makes necessary; the
// collector sizes the budget: gc/collector.h). Returns the bytes scanned:
// 0 when no marking is running, the marking has ended, or the calling
// thread is marking already (a trace function's allocation). Bounded: it
// never waits for work; the marking does not end while it is in.
int64_t AssistMarking(int64_t budget);
// The bytes marked so far by the running marking's workers and assists
// (published every few dozen objects): the pacer's measure of progress.
int64_t MarkWorkDone();
// Takes up to `want` bytes of the scan work the running marking's
// background workers did beyond what assists have taken already (Go's
// bgScanCredit), and returns how much it took: a thread in assist debt
// pays with it first and scans only for the rest.
int64_t TakeBackgroundCredit(int64_t want);

// Tests: fn(context) runs on each worker of MarkConcurrently once assists
// can join the marking and before the worker scans anything, so a test can
// hold the workers back and have assists do the marking (null to remove;
// set only while no marking runs).
void SetConcurrentWorkerHookForTesting(void (*fn)(void*), void* context);

// The collecting thread's own stack, for a cycle the verifier checks: the
// collector's frames above the sp it recorded keep running between the
// marker's scan and the verifier's, and a word that changes in between
// (a dead value that happens to point into an object) made the verifier
// report an object "reachable but not marked" that nothing reached (seen
// once in ~50 runs of stack_scan_test). With a snapshot set, ScanStack
// reads p's [sp, hi) from `words` (a copy taken right after the record),
// so both scans see the same words. World stopped; null clears it.
void SetStackSnapshot(runtime::Processor* p,
                      const std::vector<uintptr_t>* words)
    GCRT_REQUIRES(runtime::kWorldStopped);

// Checks the marking just done (Go's checkmark, a debug option): re-traces
// the heap from the roots on one thread and stops the program, naming the
// object, if a reachable object is not marked or not allocated (was freed).
// World stopped, after MarkHeap. Returns the number of objects checked.
uint64_t VerifyMarking() GCRT_REQUIRES(runtime::kWorldStopped);

// Why is an object alive (gc::why_alive): one shortest path of references
// from a root to the object holding `target`, found by a breadth-first
// walk from every root of the next cycle but the calling thread's stack
// (which holds `target` itself), with its own visited set (the mark bits
// are left alone), stopped as soon as the object is reached. World
// stopped, the sweep finished (Collector::RunWithHeapSwept). `target` must
// be in an allocated object (else `object` is 0). Costs a word for each
// slot of every span the walk reaches before it finds the target.
struct RetentionPath {
  uintptr_t object = 0;  // the start of the object holding target
  const alloc::TypeInfo* object_type = nullptr;
  bool reachable = false;
  // The root the path starts from (when reachable).
  RootJob::Kind root_kind = RootJob::kArena;
  bool root_is_global = false;          // kArena: the gc::Global arena
  bool root_is_range = false;           // kRootSet: a gc::RootRange
  const char* root_set_what = nullptr;  // kRootSet: RootSetRecord::what
  bool root_is_constructing = false;    // an object under construction
  uint32_t root_processor = 0;          // kStack: the thread's processor id
  // The objects from the one the root holds to the target, in order, with
  // their types and where the one before holds each: the byte offset of
  // its word that points into it, or -1 where no word of it does (the
  // first object, which the root holds; a reference in a std container's
  // buffer that a trace function walks).
  std::vector<uintptr_t> objects;
  std::vector<const alloc::TypeInfo*> types;
  std::vector<int64_t> offsets;
};
RetentionPath FindRetentionPath(uintptr_t target)
    GCRT_REQUIRES(runtime::kWorldStopped);

// Mark bits of single objects, for mark termination (world stopped, one
// thread): whether the object holding p (an address in an in-use span) is
// marked, and marking it; MarkObjectAtTermination returns the bytes of its
// slot if it was unmarked, 0 otherwise. Neither scans anything.
bool IsMarkedObject(uintptr_t p) GCRT_REQUIRES(runtime::kWorldStopped);
// For the cross-check (gc/crosscheck.h), world stopped, after marking: the
// start of the object containing p if it is live and unmarked (an
// allocated slot waiting in no freebuf and in neither quarantine: one this
// cycle will free), else 0.
uintptr_t UnmarkedLiveObject(uintptr_t p) GCRT_REQUIRES(runtime::kWorldStopped);

// Fork support (gc/fork.h): the mark helpers' lock across a fork (no cycle
// runs then, so they wait for work). In the child the helpers are gone and
// the next cycle starts new ones.
void LockMarkThreadsForFork();
void UnlockMarkThreadsAfterFork(bool child);
uint64_t MarkObjectAtTermination(uintptr_t p)
    GCRT_REQUIRES(runtime::kWorldStopped);

}  // namespace gc::internal
