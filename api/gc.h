// gcrt's public API: include this header.
//
//   struct Node { gc::Ptr<Node> left, right; int value = 0; };
//   gc::Root<Node> tree = gc::make<Node>();   // rooted: safe across cycles
//   tree->left = gc::make<Node>();            // a traced field
//   gc::RootSet vm_roots([&](gc::Tracer& t) { t(vm.stack); });
//   gc::set_gc_percent(200);
//   gc::collect();
//   gc::Stats s = gc::stats();
//
// Pointers and handles: api/ptr.h. Allocation: api/make.h. Tracing rules:
// api/trace.h. Root sets: api/roots.h. Weak references (gc::Weak):
// api/weak.h. Ephemeron tables, whose values live while their keys do
// (gc::WeakMap): api/weak_map.h. Finalizers (gc::set_finalizer,
// gc::run_finalizers): api/finalizer.h. Cleanups, any number per object
// (gc::add_cleanup): api/cleanup.h. Explicit free (gc::free): api/free.h.
// Containers whose storage is in the GC heap (gc::Vector, gc::HashMap):
// api/vector.h, api/hash_map.h. The census by type (gc::census):
// api/census.h. Why an object is alive (gc::why_alive): api/why_alive.h,
// with field names from GCRT_FIELD_NAMES: api/field_names.h. The
// heap profile by allocation site (gc::heap_profile, gc::write_heap_profile,
// pprof's format): api/heap_profile.h. Tasks, Go's goroutines on a few
// worker threads, with channels, wait groups and a mutex that park them
// (gc::go, gc::Channel, gc::WaitGroup, gc::TaskMutex): api/task.h. The design:
// docs/design.md, and the overviews in gc/collector.h and alloc/heap.h.
//
// Two tiers, as cppgc's include/cppgc and include/cppgc/internal: api/*.h
// are the API (namespace gc); api/internal/*.h are the glue their inline
// paths need - the allocation fast path's entry, handle slots and the
// construction stack, the debug checks, the weak-reference read, the
// safepoint poll - internal to gcrt (namespace gc::internal), not part of
// the API, and may change. Together they include what the fast paths
// inline (the per-processor Cache and its Span, handle arenas) and nothing
// of the heap, the collector or stop-the-world: a program that includes this
// header cannot name alloc::Heap, alloc::Free, runtime::StopTheWorld or
// internal::Collector (tests/api/compile_errors_test.sh). gcrt's own code
// and its tests include gc/, alloc/ and runtime/ headers directly.
//
// Threads: a thread attaches to the heap on its first allocation or handle
// (or gc::attach_thread()), starting a task, or using a gc::Channel of GC
// pointers, and detaches at exit; gc::collect(), gc::census() and
// gc::why_alive() attach it for the call only. The collector stops the
// world at safepoints: allocation slow paths, gc::safepoint(), and the
// entry of gc::Blocking scopes; a thread in a long loop that does not
// allocate calls gc::safepoint(), and a thread about to block (I/O, a
// lock, a join) opens a gc::Blocking scope so the world can stop without
// it. Inside a Blocking scope the thread must not touch the GC heap. A
// thread that stores gc::Ptrs into GC objects must be attached (call
// gc::attach_thread() in one that has not allocated or held a handle):
// the world does not stop other threads, so their stores can miss a
// marking's write barrier (debug builds stop the program there). A
// thread that blocks outside one holds every collection up (the program
// hangs if what it waits for needs one; after GCRT_STW_WATCHDOG_MS the
// watchdog prints the thread's id, name and stack, then a line a period):
// gc::Thread joins inside one, gc::Mutex and gc::ConditionVariable lock
// and wait inside one, and gc::blocking(fn) runs any other blocking call
// inside one (api/thread.h).
//
// Destructors of GC objects run on whichever thread sweeps their span,
// with no lock held, some time after the object became unreachable. They
// must not dereference gc::Ptr fields (those objects may be destroyed
// already; debug builds stop the program when one does), allocate, or
// call the collector (gc::collect throws std::logic_error there).
// Finalizers (gc::set_finalizer) are the tool for work that needs the
// object graph: they run on the finalizer thread, a mutator of its own,
// with the object and all it reaches intact.
//
// Memory goes back to the OS on its own (a background scavenger keeps
// retained memory near the heap goal + 10%, releasing pages free for at
// least a second) or at once with gc::release_memory().
//
// fork() is supported (gc/fork.h), from a running thread, inside a
// gc::Blocking scope (as popen and system do) or from a thread that never
// used the heap: the child has the parent's heap as it was, the forking
// thread goes on using it, and the collector's threads start again at the
// child's first cycle. Other threads' gc::Roots keep their objects alive in
// the child, but cannot be used there: those threads' stacks, where the
// Root objects live, are reused for the child's new threads; reach what
// the child needs through the forking thread's handles or a gc::Global
// (docs/threads.md). Not from a destructor, trace function or root set
// callback.
//
// Configuration. Each GCRT_* variable is read once, when the collector
// starts (GCRT_STW_WATCHDOG_MS: at program start; GCRT_PROCS and
// GCRT_TASK_STACK_KB: when the first task starts), and takes the same
// values as its setter. A value that is not accepted prints one line
// ("gcrt: NAME="text": why; accepted: ...; using ...") and the default is
// used: nothing is clamped or half-read. GCRT_DEBUG is read item by item,
// as Go's GODEBUG: a refused item prints its line (naming the item after
// the whole value) and is ignored, and the other items apply. Whitespace around
// values and items is ignored. Booleans are 1 0 true false on off; sizes are
// decimal bytes with an optional B, KiB, MiB, GiB or TiB suffix.
//
//   variable (setter)           accepted                          default
//   GCRT_GCPERCENT              "off" or an integer, -2^31 to     100
//    (gc::set_gc_percent)       2^31-1 (negative: off): heap
//                               growth over the marked bytes, in
//                               percent, that triggers a cycle
//   GCRT_MEMORY_LIMIT           "off" or a size below 2^64 bytes; none
//    (gc::set_memory_limit)     0, and 2^63-1 and up (UINT64_MAX
//                               too), mean none
//   GCRT_MIN_HEAP               "off" or a size below 2^64 bytes: 4 MiB
//    (gc::set_min_heap)         the least heap goal (0, off: the
//                               built-in 4 MiB)
//   GCRT_MARK_WORKERS           0 to 256 (0: one per hardware     0
//    (gc::set_mark_workers)     thread)
//   GCRT_DEBUG                  comma-separated name=value items: off
//    (gc::set_gctrace,          gctrace=bool (a line per cycle on
//     gc::set_scavtrace,        stderr), scavtrace=bool (Go's
//     gc::set_verify,           scavenger line per cycle and per
//     gc::set_quarantine,       gc::release_memory() on stderr),
//                               verify=bool (re-mark
//                               after every cycle, check nothing
//     gc::set_zeal,             reachable was freed),
//     gc::set_crosscheck,       crosscheck=bool (after marking,
//     gc::set_concurrent_mark,  a marked object's word that
//     gc::set_mem_profile_rate) points to an unmarked object
//                               stops the program: a missed
//                               field),
//                               quarantine=bool (reclaimed objects
//                               poisoned and kept one cycle; on
//                               in debug builds), zeal=N (0 to
//                               2^40: a collection every N
//                               allocations; 0 off),
//                               concurrent=bool (mark beside the
//                               program; on: 0 marks with the
//                               world stopped, Go's
//                               gcstoptheworld), census=bool
//                               (print gc::census() to stderr
//                               at exit) or census=SIGNAL
//                               (SIGUSR2, USR2 or a number: print
//                               it on each such signal; replaces
//                               the program's handler for it;
//                               not KILL, STOP, SEGV, BUS, FPE,
//                               ILL, TRAP, ABRT),
//                               gclog=path (a JSON
//                               line per cycle appended to the
//                               file: gc::CycleEvent's fields),
//                               memprofilerate=N (0 to 2^40: the
//                               heap profile's bytes between
//                               samples, 1 every allocation, 0
//                               off; 512 KiB), heapprofile=path
//                               (the heap profile written to the
//                               file at exit, pprof's format)
//   GCRT_STW_WATCHDOG_MS        1 to 3600000 milliseconds: how    1000
//    (none; tests: runtime::    long a stop of the world waits
//     SetStopWatchdogForTesting) before it names the threads that
//                               hold it up
//   GCRT_STACK_SCAN             bool: scan thread stacks          on
//    (gc::set_stack_scan)       conservatively (off: only
//                               registered roots count)
//   GCRT_PROCS                  0 to 256: workers that run tasks  0
//    (none; read when the first at a time (api/task.h; 0: one
//     task starts)              per hardware thread)
//   GCRT_TASK_STACK_KB          16 to 1048576 KiB, or 0: a task's 256
//    (gc::set_task_stack_size;  stack (0: the built-in 256 KiB)
//     read when the first task
//     starts)
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <utility>

#include "gcrt/census.h"
#include "gcrt/cleanup.h"
#include "gcrt/field_names.h"
#include "gcrt/finalizer.h"
#include "gcrt/free.h"
#include "gcrt/hash_map.h"
#include "gcrt/heap_profile.h"
#include "gcrt/internal/safepoint.h"
#include "gcrt/make.h"
#include "gcrt/ptr.h"
#include "gcrt/roots.h"
#include "gcrt/runtime/base.h"
#include "gcrt/thread.h"
#include "gcrt/trace.h"
#include "gcrt/vector.h"
#include "gcrt/version.h"
#include "gcrt/weak.h"
#include "gcrt/weak_map.h"
#include "gcrt/why_alive.h"

namespace gc {

// Objects of one size class (gc::Stats::by_size).
struct SizeClassStats {
  uint32_t size;     // bytes per object
  uint64_t mallocs;  // objects allocated in this class, ever
  uint64_t frees;    // objects of this class freed, ever
};
// Size classes, class 0 (large objects) included: Go 1.19's 67 classes up
// to 32 KiB (alloc/size_classes.h; api/gc.cc checks they agree).
inline constexpr int kNumSizeClasses = 68;

// Go's runtime.MemStats in spirit; gc::stats() reads it.
struct Stats {
  uint64_t heap_alloc;  // bytes of allocated objects (slot sizes)
  // Bytes allocated, ever (Go's TotalAlloc): slot sizes, a tiny block as
  // one 16-byte object, a large object's whole span. total_alloc -
  // heap_alloc is what was freed.
  uint64_t total_alloc;
  // Every byte gcrt took for itself (Go's Sys), and exactly the sum of its
  // parts below: heap_sys, heap_ahead_sys, span_sys, cache_sys, gc_sys,
  // handle_sys, other_sys. Memory gcrt maps from the OS counts whole
  // (heap arenas as committed, span records, the page map, the alloc and
  // mark bits), whether resident or not; metadata it keeps in the C++ heap
  // (malloc) counts at its blocks' usable size. Not counted: gcrt's few
  // fixed-size process-wide objects and the growth of standard containers
  // inside them (runtime/sys_stat.h).
  uint64_t sys;
  uint64_t heap_sys;  // bytes of heap memory obtained from the OS (spans)
  // Heap arena memory committed ahead of use, beyond heap_sys: read-write
  // at the OS but never touched (not resident); under 4 MiB an arena.
  uint64_t heap_ahead_sys;
  uint64_t span_sys;    // span records (Go's MSpanSys)
  uint64_t cache_sys;   // per processor: its record and allocation cache
                        // (Go's MCacheSys)
  uint64_t gc_sys;      // collector metadata (Go's GCSys): the page map,
                        // alloc and mark bits, per-span type tables, mark
                        // work buffers
  uint64_t handle_sys;  // handle arenas (gc::Root, gc::Global) and the
                        // records of objects under construction
  uint64_t other_sys;   // specials (finalizers, weak references), weak
                        // reference cells, heap arena records
  uint64_t heap_idle;   // bytes in free spans
  uint64_t heap_inuse;  // bytes in in-use spans
  // Of heap_idle, not resident: returned to the OS, or mapped and never
  // touched since (as Go counts fresh memory), so it may be nonzero before
  // anything was scavenged (scavenged_bytes counts only returns).
  uint64_t heap_released;
  // Pointer-free objects under 16 bytes share 16-byte blocks (Go's tiny
  // allocator): each counts in mallocs and frees at once, and a block
  // holding them counts as one object until it is reclaimed.
  uint64_t heap_objects;  // objects allocated and not yet freed
  uint64_t mallocs;       // objects allocated, ever
  uint64_t frees;         // objects freed (collected or explicit), ever
  uint64_t num_gc;        // completed cycles
  // Of which gc::collect() or periodic (as Go's NumForcedGC; zeal and
  // out-of-memory cycles are not counted here, though CycleEvent::forced
  // and gctrace's "(forced)" mark them, as every cycle the pacer did not
  // trigger).
  uint64_t num_forced_gc;
  uint64_t next_gc;    // heap_live goal of the next cycle; 0 when off
  uint64_t heap_live;  // what the pacer compares with next_gc (with
                       // external_bytes, below)
  // A cycle's pause runs from the request to stop the world to its restart
  // (both stops of a cycle that marks beside the program, summed), so it
  // includes the time to safepoint, as Go's PauseNs does.
  uint64_t pause_total_ns;
  std::array<uint64_t, 256> pause_ns;  // recent pauses, the newest at
  uint64_t last_gc_unix_ns;            // pause_ns[(num_gc + 255) % 256]
  // When each pause of pause_ns ended, Unix time in nanoseconds, indexed
  // as pause_ns (Go's PauseEnd); last_gc_unix_ns is the newest.
  std::array<uint64_t, 256> pause_end;
  uint64_t pause_max_ns;  // the longest pause of all cycles (not only the
                          // ring's)
  // Time to safepoint: from the request to stop the world until every
  // running thread has parked at a safepoint (or is idle or in a blocking
  // region). Per cycle, its stops summed, indexed as pause_ns; in all; and
  // the longest any one stop took.
  std::array<uint64_t, 256> ttsp_ns;
  uint64_t ttsp_total_ns;
  uint64_t ttsp_max_ns;
  double gc_cpu_fraction;  // collector CPU time over available CPU time
  uint64_t last_marked_bytes;
  uint64_t objects_destroyed;  // destructors run by the collector
  uint64_t weak_refs_cleared;  // objects whose weak references the
                               // collector cleared (not gc::free's)
  // Entries of gc::WeakMaps removed by the cycle that found their key dead
  // (or, for a key freed with gc::free, by the next cycle), ever.
  uint64_t weak_map_entries_removed;
  uint64_t finalizers_pending;  // objects with a finalizer, not yet queued
  uint64_t finalizers_queued;   // ever
  uint64_t finalizers_run;      // ever
  uint64_t cleanups_pending;    // added (gc::add_cleanup), not queued or
                                // stopped
  uint64_t cleanups_queued;     // ever
  uint64_t cleanups_run;        // ever
  // The marker's workers: GCRT_MARK_WORKERS or gc::set_mark_workers, one
  // per hardware thread for 0 (a cycle marking beside the program uses a
  // quarter of them: CycleEvent::workers).
  uint32_t mark_workers;
  // Cycles that marked beside the program (gc::set_concurrent_mark), and
  // the objects their concurrent marker left to the final stop (a trace()
  // that reaches a std container, an optional, a variant or an owned
  // object; a class scanned conservatively), ever.
  uint64_t concurrent_cycles;
  uint64_t deferred_objects;
  uint64_t deferred_bytes;  // the bytes of those objects
  // Mark assists (gc::set_concurrent_mark): how often threads that
  // allocated while a cycle marked scanned objects for it, in proportion to
  // what they allocated, and the time they spent doing so, ever.
  uint64_t mark_assists;
  uint64_t mark_assist_ns;
  // The scavenger (memory returned to the OS; see gc::release_memory):
  uint64_t scavenged_bytes;  // returned to the OS, ever, by every path
  // Of scavenged_bytes, those the background scavenger returned on its own,
  // pacing itself toward scavenge_goal.
  uint64_t background_scavenged_bytes;
  uint64_t scavenger_cpu_ns;  // CPU time the background scavenger used
  // Retained heap memory (heap_sys - heap_released) the background
  // scavenger works toward: the heap goal less the external memory live
  // objects hold (gc::add_external_memory: counted in the goal, not in the
  // heap), + 10%, or under a memory limit 95% of it if lower; 0 while
  // there is none (before the first cycle).
  uint64_t scavenge_goal;
  // Per size class, as Go's MemStats.BySize: by_size[c] for class c of
  // kNumSizeClasses; class 0 stands for large objects (size 0). Pieces of
  // the tiny allocator count in mallocs and frees above only; their
  // 16-byte blocks count here, in the 16-byte class.
  SizeClassStats by_size[kNumSizeClasses];
  // Memory held outside the heap for GC objects, as the program reported
  // it (gc::add_external_memory, gc::ExternalMemory): paced as heap.
  uint64_t external_bytes;
};

// Runs a full collection now, and finishes its sweep before returning.
// Throws std::logic_error from a GC object's destructor or a Blocking scope.
void collect();

// Memory a GC object owns outside the GC heap (a std::vector member's
// buffer, a malloc'd image) is invisible to the pacer: a program whose
// objects are small but own large buffers would grow without a cycle ever
// running (V8's AdjustAmountOfExternalAllocatedMemory and .NET's
// GC.AddMemoryPressure answer the same problem). Reported here, it is
// paced as if it were in the heap: the trigger compares heap_live plus it
// with the goal, a thread whose report takes that sum 10% past the goal
// while a cycle marks beside the program waits for the cycle (as an
// allocating thread does), and the goal grows with what live objects hold
// once the cycle's sweep has run the dead ones' destructors. `delta` adds (> 0)
// or removes (< 0) bytes; returns the total now, which saturates at INT64_MAX
// and is negative while removals exceed additions (a mistake gcrt reports
// once; stats and the pacer count such a total as 0). A total that large is
// a size computed wrongly, and gcrt says so once: from there on the total is no
// longer exact. Adding is a safepoint and may run a collection, as an
// allocation is and may, on a thread attached to the heap (api/thread.h)
// outside a gc::Blocking scope; elsewhere it only counts, and never attaches
// the thread. Removing never collects, so a destructor may call it. The memory
// limit stays the heap's. Pair every addition with a removal, typically in the
// owner's destructor: gc::ExternalMemory, below, does it for a member.
int64_t add_external_memory(int64_t delta);

// A member that reports what its object owns outside the heap:
//
//   struct Field {
//     std::vector<double> values;
//     gc::ExternalMemory accounted;
//     void Resize(size_t n) {
//       values.resize(n);
//       accounted.set(values.capacity() * sizeof(double));
//     }
//     void trace(gc::Tracer&) const {}
//   };
//
// set() reports the change since the last (adding may collect); the
// destructor removes the rest, when the collector reclaims the object.
// set() of more than INT64_MAX bytes throws std::length_error and changes
// nothing. A
// copy reports the same bytes again (its owner copied the buffer); a move
// takes them over.
class ExternalMemory {
 public:
  using gc_pointer_free = ExternalMemory;
  ExternalMemory() = default;
  explicit ExternalMemory(size_t bytes) { set(bytes); }
  ExternalMemory(const ExternalMemory& other) { set(other.bytes_); }
  ExternalMemory(ExternalMemory&& other) noexcept
      : bytes_(std::exchange(other.bytes_, 0)) {}
  ExternalMemory& operator=(const ExternalMemory& other) {
    set(other.bytes_);
    return *this;
  }
  ExternalMemory& operator=(ExternalMemory&& other) noexcept {
    if (this != &other) {
      Release();
      bytes_ = std::exchange(other.bytes_, 0);
    }
    return *this;
  }
  ~ExternalMemory() { Release(); }

  void set(size_t bytes) {
    if (bytes > static_cast<size_t>(INT64_MAX)) TooLarge(bytes);
    const auto delta =
        static_cast<int64_t>(bytes) - static_cast<int64_t>(bytes_);
    if (delta == 0) return;
    bytes_ = bytes;  // first: a cycle the addition runs may read it
    add_external_memory(delta);
  }
  size_t bytes() const noexcept { return bytes_; }

 private:
  [[noreturn]] static void TooLarge(size_t bytes);
  void Release() noexcept {
    if (bytes_ != 0) add_external_memory(-static_cast<int64_t>(bytes_));
    bytes_ = 0;
  }
  size_t bytes_ = 0;
};
// Sets the heap-growth ratio (GCRT_GCPERCENT); returns the previous one.
// < 0 disables (and reads back as -1).
int set_gc_percent(int percent);
// A limit on the heap's memory (span memory from the OS;
// GCRT_MEMORY_LIMIT). 0 is none, and so is anything from 2^63-1 on
// (UINT64_MAX included: heap figures are int64, so the heap cannot reach
// it). Cycles come before the heap nears it; an allocation that would grow
// the heap past it first runs a full collection and finishes its sweep,
// then, if there is still no room, runs the out-of-memory callback (below)
// if the program set one, and then throws std::bad_alloc with a message,
// and nothing is lost: once references are dropped, the next allocation
// collects them. Returns the previous limit (0 if there was none).
uint64_t set_memory_limit(uint64_t bytes);

// Where a cycle's stops spent their time, in nanoseconds, in the order
// the parts run; they add up to CycleEvent::pause_ns. A cycle that marks
// beside the program stops twice: ttsp + sweep + roots, then ttsp2 + mark
// + weak + flip + flush + pace. One that marks with the world stopped
// (GCRT_DEBUG=concurrent=0) stops once: roots is then its whole marking,
// and ttsp2 and mark are 0.
struct StopTimes {
  int64_t ttsp_ns;   // the first stop's time to safepoint
  int64_t sweep_ns;  // sweep termination: the last of the previous sweep,
                     // the coming sweep's mark bits set aside
  int64_t roots_ns;  // the roots marked and the barrier turned on
  int64_t ttsp2_ns;  // the second stop's time to safepoint
  int64_t mark_ns;   // the marking's end: what the barrier and the threads
                     // queued, objects deferred to the stop, weak maps'
                     // chains (and GCRT_DEBUG=verify's check)
  int64_t weak_ns;   // dead weak map entries removed, weak references
                     // cleared, finalizers queued, gc::free's quarantine
  int64_t flip_ns;   // the sweepgen flip: every span unswept, the sweep
                     // of each size class started
  int64_t flush_ns;  // the heap profile's cycle, idle threads' caches
                     // flushed
  int64_t pace_ns;   // the next goal and trigger, the sweep's pace, the
                     // statistics
};

// One cycle's figures, handed to the cycle callback (set_cycle_callback)
// and written as a JSON line per cycle by GCRT_DEBUG=gclog=path (the same
// names, except num_gc, which the log writes as "gc", as gctrace's "gc N";
// tools/gclog_plot.py turns that log into plots). Times in
// nanoseconds, heap figures in bytes.
struct CycleEvent {
  uint64_t num_gc;  // this cycle's number, from 1
  bool forced;      // gc::collect(), periodic, zeal or out of memory
  bool concurrent;  // marked beside the program
  double start_s;   // when it began, in seconds since the collector started
  // Wall clock of its phases, as gctrace's: the first stop, the marking,
  // the second stop (with the world stopped throughout: the stop to the
  // start of marking, the marking, the rest).
  int64_t sweep_termination_ns, mark_ns, mark_termination_ns;
  uint64_t pause_ns;     // its stops, time to safepoint included (Stats)
  uint64_t ttsp_ns;      // time to safepoint, its stops summed
  int64_t heap_before;   // heap_live when it began
  int64_t heap_at_end;   // heap_live at its last stop
  uint64_t heap_marked;  // live bytes it found (and allocated black)
  uint64_t objects_marked;
  int64_t goal;       // the heap goal it worked toward (-1: collection off)
  int64_t next_goal;  // the goal it set
  uint64_t assists;   // mark assists during it
  int64_t assist_ns;
  uint64_t deferred_objects;  // left to the final stop by the marker
  // Mark workers its marking used: a quarter of gc::Stats::mark_workers
  // (at least one) for a triggered cycle marking beside the program, all
  // of them otherwise (and in the stops).
  uint32_t workers;
  double gc_cpu_fraction;  // Stats::gc_cpu_fraction after it
  StopTimes stop;          // where its stops' time went (gclog: "stop")
};
// Calls `callback` after every cycle with its figures: on the thread that
// ran the cycle (the allocating thread, the background collector, or the
// caller of gc::collect()), once the world has restarted and with no lock
// of gcrt held, so it may read gc::stats(), allocate, or log; a
// gc::collect() from it runs a cycle of its own (and calls it again). It
// may wait for another thread, even one that allocates (a join, a channel
// send), inside gc::Blocking as any wait (api/thread.h): no thread waits
// for the cycle it ends, and while it runs, the cycles its own or other
// threads' allocations trigger run on the triggering threads. What it
// throws is printed and dropped. Null: none (the default).
void set_cycle_callback(std::function<void(const CycleEvent&)> callback);

// The least heap goal (GCRT_MIN_HEAP; Go's wish for a minimum heap, met
// there with a ballast allocation): the next cycle never comes before the
// heap reaches it, so a program with a small live heap that allocates fast
// collects less often. 0 is the built-in floor, 4 MiB. The memory limit
// wins over it (cycles still come by 7/8 of the limit). Returns the
// previous setting (0 if none was set).
uint64_t set_min_heap(uint64_t bytes);

// What an allocation that found no room under the memory limit tells the
// out-of-memory callback.
struct OutOfMemoryInfo {
  size_t requested_bytes;  // the allocation's size (its size class's slot)
  uint64_t memory_limit;
  uint64_t heap_live;  // after the full collection that did not make room
};
// The out-of-memory callback (V8's near-heap-limit callback, Java's last
// chance): runs when an allocation finds no room under the memory limit
// even after a full collection, before gcrt throws std::bad_alloc; on the
// allocating thread, with no lock of gcrt's held, once per such allocation.
// It may drop references (a cache it can rebuild) or raise the limit
// (gc::set_memory_limit); the allocation then collects once more and
// tries again, and throws std::bad_alloc only if there is still no room
// (with other threads allocating meanwhile, they may have taken it).
// An allocation made inside the callback that finds no room throws at
// once; an exception the callback throws reaches the allocation's caller.
// With no memory limit it never runs (an OS that refuses memory, under
// `ulimit -v` say, gets a full collection and a retry first, then
// std::bad_alloc). Null: none (the default).
void set_out_of_memory_callback(
    std::function<void(const OutOfMemoryInfo&)> callback);
// The statistics, exact when read: stops the world briefly, as Go's
// ReadMemStats does, and adds what every processor's cache holds to the
// heap's counters (nothing is flushed), so heap_alloc, total_alloc,
// heap_objects, mallocs, frees and by_size are those of one instant, with
// any number of threads allocating, without a collection. The cost is a
// stop of the world: every running thread parks at its next safepoint (the
// pause includes the slowest one's time to get there, so a thread in a
// long loop without gc::safepoint() holds it up), then a walk of every
// processor's cache; benchmarks/README.md has figures ("gc::stats()").
// Callable from any thread: attached or not (it does not attach), in a
// gc::Blocking scope, a destructor, a finalizer, the cycle callback. In a
// destructor the collector runs (a sweep is in flight there) it does not
// stop the world and reads as stats_unstopped() does. Inside the
// destructor gc::free runs the world may not stop: throws
// std::logic_error; from a trace function or root set callback (while the
// collector holds the world) the program stops, as for gc::collect().
Stats stats();
// The same figures without stopping the world (the tier of Go's
// runtime/metrics), for reading often, from a thread that must not wait:
// each counter is read under its own lock or atomically, so the figures
// are of nearby instants, not one; and heap_alloc, total_alloc,
// heap_objects, mallocs, frees and by_size count each slot of a span a
// processor's cache holds as allocated until the cache gives the span back
// (at its refill, a collection, or its thread's exit): up to a few spans'
// worth per size class and processor ahead, so total_alloc and mallocs
// can go down between two reads when a cache gives a span back (a
// monitoring system that takes them for counters sees a reset; gc::stats()
// and the cycle callbacks' figures never go down). The rest is as exact as
// from gc::stats(). Never stops the world or waits for one.
Stats stats_unstopped();
// Runs a full collection, finishes its sweep, and returns every free page
// of the heap to the OS at once (Go's debug.FreeOSMemory); returns the
// bytes this call released. Without it, the background scavenger returns
// memory beyond the heap goal + 10% gradually (about 1% of one CPU), and
// pages idle for five minutes go back too. Throws as gc::collect does.
size_t release_memory();

// Conservative scanning of thread stacks and registers (runtime/stack.h;
// GCRT_STACK_SCAN, default on): gc::Ptr and raw T* locals and temporaries
// keep their objects alive across allocations and collections, on every
// thread the collector stops (parked at a safepoint, or inside a
// gc::Blocking scope: there, references held on entry count). The heap
// stays precise. What is not scanned: the C++ heap (a std::vector of
// gc::Ptr in malloc memory is no root: hold GC pointers there in a
// gc::Global, a gc::RootSet, or a GC object), threads that never attached,
// and GC pointers created inside a Blocking scope. Off: only registered
// roots (Root, Global, RootSet) keep objects alive. Returns the previous
// setting.
bool set_stack_scan(bool on);

// A safepoint: parks here if the collector is stopping the world.
GCRT_ALWAYS_INLINE void safepoint() { runtime::Safepoint(); }

// A scope in which the thread does not touch the GC heap, so the world can
// stop without waiting for it (Go's syscall entry).
using Blocking = runtime::BlockingRegion;

// Attaches the calling thread now (it would on first use otherwise), and
// gives its processor back (thread exit does too).
void attach_thread();
void detach_thread();

// Attaches the calling thread for a scope if it is not attached, and
// detaches it at the scope's end if it attached it here (nested scopes,
// and threads attached already, are left as they are). For the entry
// points of a library that uses gcrt inside a program that does not (a
// plugin called on the host's threads): a thread left attached after the
// call would hold every later collection up the next time the host blocks
// outside a gc::Blocking scope, which the host knows nothing of. Each
// attach and detach costs a processor hand-over and a flush of the
// thread's allocation caches (microseconds): fine per call into a library,
// not per object. Roots made in the scope and kept past it stay roots.
// Throws std::logic_error inside a gc::Blocking scope (the library could
// not use the heap there: call it outside the region). It ends on the
// thread that began it (a scope moved to another thread stops the program).
class ThreadScope {
 public:
  ThreadScope();
  ~ThreadScope();
  ThreadScope(const ThreadScope&) = delete;
  ThreadScope& operator=(const ThreadScope&) = delete;

 private:
  runtime::Processor* attached_;  // the processor attached here, or null
};

// Debug and tuning knobs, each the setter of its GCRT_* variable (above).
// 0: one per hardware thread; at most 256 (more throws
// std::invalid_argument, as GCRT_MARK_WORKERS refuses it).
void set_mark_workers(uint32_t n);
// The stack size of tasks (api/task.h) started from now on, rounded up to
// pages: 16 KiB to 1 GiB, or 0 for the built-in 256 KiB, as
// GCRT_TASK_STACK_KB (which sets the initial size); else
// std::invalid_argument, changing nothing.
void set_task_stack_size(size_t bytes);
// Each returns the previous setting.
bool set_verify(bool on);  // GCRT_DEBUG=verify=1
// A line per cycle on stderr in the format of Go's GODEBUG=gctrace=1
// (docs/design.md, "The collection cycle"), gcrt's own figures after it.
// Returns the previous setting.
bool set_gctrace(bool on);  // GCRT_DEBUG=gctrace=1
// A line on stderr in the format of Go's GODEBUG=scavtrace=1 once per cycle
// (at its end), and one for each gc::release_memory() marked "(forced)":
//   scav <work> KiB work, <total> KiB total, <util>% util
// work: what the scavenger returned to the OS since the line before (or
// what the release returned); total: what is returned now (heap_released);
// util: heap_inuse over retained memory (heap_sys - heap_released), in
// percent. Returns the previous setting.
bool set_scavtrace(bool on);  // GCRT_DEBUG=scavtrace=1
// The missed-field cross-check (GCRT_DEBUG=crosscheck=1; off by default):
// after marking, every word of every reachable object is read, and a word
// that points into an object the cycle is about to free stops the program
// with "missed field: the object of type X at 0x... holds at offset 24 a
// pointer to ... in the object of type Y ...: does X::trace visit that
// field?". It finds a trace() that skips a field and a class declared
// gc::PointerFree that holds a gc::Ptr. A program that keeps heap
// addresses as integers gets false reports, as does a class with its own
// trace() whose std::optional or std::variant member no longer holds the
// gc::Ptr it held (its storage keeps the bytes; an aggregate's is read as
// it is). Costs a read and a lookup per
// word of the live heap at every cycle. Returns the previous setting.
bool set_crosscheck(bool on);
// Marking beside the program (GCRT_DEBUG=concurrent=bool; on by default; off,
// every cycle marks with the world stopped, as Go's GODEBUG=gcstoptheworld=1,
// for comparison and debugging). A cycle stops the world twice, briefly: once
// to mark what the roots point to and turn the write barrier on, once at the
// end to mark again from everything the barrier does not cover (thread stacks,
// handles, root sets, objects under construction, objects whose trace() reaches
// a std container) and finish as before; in between, marking runs while the
// program does. A triggered cycle runs on a background thread, started early
// enough to end near the heap goal (the trigger is placed from the program's
// measured allocation rate against the marking's), with a quarter of the mark
// workers (when the last cycle marked at most 256 KiB, the allocating thread
// that reached the trigger runs the short cycle itself); threads that allocate
// meanwhile help mark in proportion to what they allocate (mark assists), and
// an allocation that finds the heap 10% past its goal waits for the cycle. A
// thread in a long loop that neither allocates nor blocks must call
// gc::safepoint(), or each stop waits for the loop (the pause then includes it:
// stats().ttsp_max_ns). Every gc::Ptr store and every gc::Ptr made from a
// pointer then marks that pointer's object (gc/barrier.h), and objects
// allocated meanwhile are born marked. Returns the previous setting.
bool set_concurrent_mark(bool on);

// Detectors for a missing root or trace (docs/design.md, "Checks").
//
// The quarantine of reclaimed objects (GCRT_DEBUG=quarantine=bool; on by
// default in debug builds, --config=gcdebug): the sweep that finds an
// object unreachable runs its destructor, then fills it with 0xdb bytes
// (and poisons it for AddressSanitizer) and keeps its slot from reuse for
// one more cycle. Meanwhile a debug build's dereference of a gc::Ptr or
// handle to it stops the program with
//   "use after reclaim: dereferenced 0x..., in the object at 0x... (type
//    Node), which collection 12 found unreachable and reclaimed ..."
// as does a root or traced field that reaches it in the next cycle; after
// that cycle the slot is freed still poisoned, and a debug build's
// dereference is reported ("in free GC heap memory that still holds the
// poison ...") until an allocation reuses the slot;
// gc::free, gc::Weak or gc::set_finalizer on it throw std::invalid_argument
// naming the cycle, and so does rooting it in a debug build (release
// builds do not check handles: api/ptr.h). In release builds a use reads
// the poison (a pointer read from it is 0xdbdbdbdbdbdbdbdb, which faults),
// or, under AddressSanitizer, is reported by it. Costs a lock and a hash
// insert per dead object, and dead objects' memory for one cycle. Until
// the next cycle frees their slots, Stats counts the quarantined objects
// in heap_objects and heap_alloc (not yet in frees); gc::census() does not
// count them. Returns the previous setting.
bool set_quarantine(bool on);
// Zeal mode (GCRT_DEBUG=zeal=N, after SpiderMonkey's JS_GC_ZEAL): a full
// collection every N allocations (counted over all threads and tasks; one
// that falls due while another cycle runs waits for it, then runs), with the
// quarantine on (unless GCRT_DEBUG also says quarantine=0, or
// gc::set_quarantine(false) comes after), so a missing root fails a test
// at once rather than under load. 0 turns it off (the quarantine stays as
// it is); N above 2^40 throws std::invalid_argument. Every allocation, on
// every thread, takes the slow path from the call on. Returns the
// previous N.
uint64_t set_zeal(uint64_t n);

}  // namespace gc
