// The collector. One cycle, Collector::Collect, runs four phases, numbered
// as Go's mgc.go numbers its own (gcrt marks with the world stopped, so the
// mark phase and mark termination share one stop):
//
//  0. Admission (Admit, ReadConfig): refused from a destructor the sweeper
//     runs, a marking callback, a blocking region, or a bad fork's child;
//     a triggered cycle no longer needed, or any cycle but an explicit one
//     with collection off, does nothing.
//  1. Sweep termination (Collect, then SweepTermination): the last cycle's
//     sweep is finished with the world running (sweeper.h); the world
//     stops; a
//     triggered cycle another thread's cycle made unneeded returns; every
//     processor's cache must have been flushed since the last cycle
//     (CheckCachesFlushed; seed 002); the mark bits the coming sweep needs
//     are set aside (ReserveSweepBits): the last point a cycle can be
//     refused with nothing changed.
//  2. Mark (Mark): parallel marking from the roots (marker.h), then, with
//     GCRT_DEBUG=verify=1, an independent re-mark that checks it. By
//     default (GCRT_DEBUG=concurrent=0 turns it off; MarkBesideProgram;
//     barrier.h): the roots
//     are marked, the write barrier and black allocation turned on, and
//     the world restarted; the collecting thread (in a blocking region)
//     and the mark helpers mark while the program runs; the world stops
//     again, marking finishes from what the barrier does not cover, and
//     mark termination follows in that second stop. One cycle runs at a
//     time (EnterCycle): a triggered one that finds another running
//     returns. Triggered cycles run on a background thread
//     (RequestBackgroundCycle), or on the allocating thread when the last
//     one marked little (kInlineCycleMaxScanWork), from Heap::trigger
//     (placed by the pacer, SetNextGcLocked, so that the marking ends near
//     the goal); allocating
//     threads assist the marking in proportion to what they allocate
//     (Assist); past the goal by kMaxOvershootPercent, an allocation
//     waits for the cycle.
//  3. Mark termination (MarkTermination), world still stopped: entries of
//     gc::WeakMaps whose keys are unmarked are removed (ephemeron.h), weak
//     references to unmarked objects are cleared (weak.h), unmarked
//     finalizable objects are queued for their finalizers (finalizer.h),
//     debug builds' freed objects leave quarantine (free.h); the flip:
//     sweepgen += 2 and every Central's partial spans become unswept
//     (alloc/sweepgen.h), gcBits arenas rotate; the caches of idle and
//     blocked processors are flushed, their spans going back unswept
//     (FlushCaches); heap_live becomes the marked bytes, next_gc = marked
//     * (1 + GOGC/100) (at least 4 MiB; under a memory limit by 7/8 of
//     it), the scavenger's goal and the sweep ratio are set (Pace); the
//     statistics are recorded (RecordCycle); Collect starts the world.
//  4. Sweep (Sweep), world running: lazy and concurrent (sweeper.h). Running
//     processors were not flushed at termination: each flushes its own cache
//     when it resumes, sweeping the spans it held (Cache::PrepareForSweep,
//     from Processor OnResume); the collecting thread does so first. An
//     explicit cycle (gc::collect) waits for those and finishes the sweep.
//     With GCRT_DEBUG=gctrace=1 the cycle prints a line (Trace).
//
// See docs/design.md for the whole design.
//
// The end of a cycle also sets the background scavenger's goal (heap goal +
// 10%, or 95% of the memory limit if lower) and wakes it
// (alloc/page_heap.h), so memory the cycle freed goes back to the OS.
//
// Triggers (seed 004): an allocation slow path once heap_live passes
// next_gc; gc::collect(); the background thread when no cycle ran for two
// minutes (seed 003). Configuration: the GCRT_* variables listed in
// api/gc.h, read once by the constructor through runtime/env.h (which
// reports and replaces values it refuses); the setters below take the same
// ranges.
#pragma once

#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <functional>
#include <optional>
#include <vector>

#include "gcrt/alloc/heap.h"
#include "gcrt/gc/marker.h"
#include "gcrt/runtime/mutex.h"

namespace gc::internal {

// One cycle's figures, for the program's per-cycle callback
// (gc::set_cycle_callback) and GCRT_DEBUG=gclog=path's JSON lines. Times
// in nanoseconds, heap figures in bytes.
// Where a cycle's stops spent their time, in order (gc::StopTimes, which
// says what each part holds); the parts add up to CycleRecord::pause_ns.
struct StopTimes {
  int64_t ttsp_ns, sweep_ns, roots_ns;  // the first stop
  int64_t ttsp2_ns, mark_ns, weak_ns, flip_ns, flush_ns, pace_ns;
};

struct CycleRecord {
  uint64_t num_gc;  // this cycle's number, from 1
  bool forced;      // gc::collect(), periodic, zeal or out of memory
  bool concurrent;  // marked beside the program
  double start_s;   // when its first stop was asked for, since start
  // Wall clock: the first stop, the marking, the second stop (Go's
  // sweep termination, mark, mark termination; gctrace's clock fields).
  int64_t sweep_termination_ns, mark_ns, mark_termination_ns;
  uint64_t pause_ns;  // the stops, time to safepoint included (Stats)
  uint64_t ttsp_ns;   // time to safepoint, both stops
  int64_t heap_before, heap_at_end;  // heap_live at the start and at the end
  uint64_t heap_marked, objects_marked;
  int64_t goal, next_goal;  // the goal it worked toward, the next one
  uint64_t assists;
  int64_t assist_ns;
  uint64_t deferred_objects;
  uint32_t workers;
  double gc_cpu_fraction;  // Stats::gc_cpu_fraction after it
  StopTimes stop;
};

inline constexpr int64_t kMinHeapGoal = 4 << 20;
// Retained memory the scavenger leaves above the heap goal, and the share
// of the memory limit it keeps below (Go's retainExtraPercent and
// 100 - reduceExtraPercent).
inline constexpr uint64_t kScavengeRetainExtraPercent = 10;
inline constexpr uint64_t kScavengeLimitPercent = 95;
inline constexpr size_t kPauseRing = 256;
// The sweep's mark bits reserved before the world stops
// (Collector::ReserveSweepBits): this share more than the spans in use
// need then, for those allocated until the stop.
inline constexpr uint64_t kSweepBitsSlackPercent = 12;
// Where a cycle that marks beside the program starts, before the pacer
// has measured one (then the share of the way from the last marked bytes
// to the heap goal), and the bounds of the pacer's trigger (Go's 0.7 and
// 0.95). The lower bound keeps a fast allocator out of a nearly always-on
// marking: what it allocates meanwhile is born marked and raises the next
// goal, which raises the next, so a trigger allowed lower costs memory,
// not CPU (at 40% the long-lived workload allocated up to 200 MB black
// per marking and peaked at 1.1-1.27x Go's RSS; at 70%, 1.06x).
inline constexpr int kTriggerPercent = 70;
// How far past its goal the heap may grow while a cycle marks beside the
// program before an allocating thread waits for the cycle to end (Go's
// maxOvershoot, 1.1). Below it, past the goal, threads assist with all the
// work they find.
inline constexpr int64_t kMaxOvershootPercent = 10;
inline constexpr int kMinTriggerPercent = 70;
inline constexpr int kMaxTriggerPercent = 95;
// A triggered cycle whose marking is expected to be this small (the last
// cycle's scan work, about 0.25 ms of marking) runs on the thread whose
// allocation triggered it, as Go starts every cycle on the allocating
// goroutine; larger ones run on the background thread (Trigger). Waking
// that thread took 40-270 us on 2 busy cores (the scheduler gives it a
// core only when a running thread yields one), longer than such a cycle
// marks, and two threads allocating 16-byte objects reached the goal
// meanwhile and waited for the cycle.
inline constexpr int64_t kInlineCycleMaxScanWork = 256 << 10;
// Mark assists (Collector::Assist): a thread assists once it owes this
// many bytes of allocation, and scans at least this many bytes when it
// does (Go's gcOverAssistWork: fewer, longer assists).
inline constexpr int64_t kAssistDebtBytes = 64 << 10;
inline constexpr int64_t kAssistMinWork = 64 << 10;

// kLazyForTesting: a forced cycle that returns with the sweep not yet done
// (as a triggered one does), for tests of the lazy sweep. kZeal: zeal
// mode's cycle, every N allocations (alloc::SetZeal); forced, and, like a
// triggered one, quietly not run where a cycle cannot run.
// kMemory: an allocation found no memory (Heap::CollectForMemory): forced,
// quiet where a cycle cannot run, run with collection off only under a
// memory limit, and its sweep finished before the allocation tries again.
enum class GcReason {
  kTriggered,
  kExplicit,
  kPeriodic,
  kLazyForTesting,
  kZeal,
  kMemory
};

struct CollectorStats {
  uint64_t num_gc;
  uint64_t num_forced_gc;  // gc::collect() and periodic cycles
  int64_t next_gc;
  int64_t heap_live;
  int gc_percent;  // < 0: off
  // A pause runs from the request to stop the world to its restart, so it
  // includes the time to safepoint (Go's PauseNs does too).
  uint64_t pause_total_ns;
  std::array<uint64_t, kPauseRing> pause_ns;  // ring, newest at
  uint64_t last_gc_unix_ns;                   // (num_gc - 1) % kPauseRing
  // When each of those pauses ended (its last stop's restart), Unix time
  // in nanoseconds; indexed as pause_ns (Go's PauseEnd).
  std::array<uint64_t, kPauseRing> pause_end_unix_ns;
  uint64_t pause_max_ns;  // the longest pause of every cycle, not the ring's
  // Time to safepoint: from the request to stop the world until every
  // running processor has parked, summed over a cycle's stops (the ring
  // matches pause_ns), and the longest of any one stop.
  uint64_t ttsp_total_ns;
  std::array<uint64_t, kPauseRing> ttsp_ns;
  uint64_t ttsp_max_ns;
  double gc_cpu_fraction;
  uint64_t last_marked_bytes;
  uint64_t last_marked_objects;
  uint32_t mark_workers;  // set by ReadStats: what the next cycle uses
  // The last cycle's marking with the world stopped (its whole marking, or
  // the final stop's): MarkResult's helpers_offered and workers_joined.
  bool last_mark_helpers_offered;
  uint32_t last_mark_workers_joined;
  uint64_t objects_destroyed;  // destructors run by the sweeper
  uint64_t spans_swept;
  uint64_t verified_objects;          // checked by the verifier, all cycles
  uint64_t weak_refs_cleared;         // weak cells cleared (one per object)
  uint64_t weak_map_entries_removed;  // of gc::WeakMaps, their key dead
  uint64_t finalizers_queued;
  uint64_t concurrent_cycles;  // cycles that marked beside the program
  uint64_t deferred_objects;   // left by the concurrent marker to the stop
  uint64_t deferred_bytes;     // their slots' bytes
  uint64_t mark_assists;       // assists that scanned something
  uint64_t mark_assist_ns;     // time allocating threads spent in them
};

class Collector {
 public:
  static Collector& Get();

  // Runs a full cycle. kExplicit also finishes the sweep before returning
  // (gc::collect). Throws std::logic_error where a cycle cannot run: from a
  // destructor the sweeper runs, a marking callback, or a blocking region;
  // std::bad_alloc, with nothing changed, if the OS has no memory for the
  // metadata the cycle's sweep will need (a triggered cycle's allocation
  // gets it).
  void Collect(GcReason reason) GCRT_EXCLUDES(mu_);

  // Runs fn with the world stopped (`why` names the stop for the
  // watchdog), no cycle running and the last cycle's sweep finished: every
  // allocated slot holds an object not yet reclaimed (gc/census.h). Throws
  // std::logic_error where a cycle could not run (as Collect, naming `api`,
  // the caller's entry point); rethrows what fn throws, with the world
  // restarted.
  void RunWithHeapSwept(const char* why, const char* api,
                        const std::function<void()>& fn) GCRT_EXCLUDES(mu_);

  // The program's out-of-memory callback (gc::set_out_of_memory_callback):
  // called with the allocation's bytes, the memory limit and heap_live.
  using OutOfMemoryCallback =
      std::function<void(size_t bytes, uint64_t limit, uint64_t heap_live)>;
  void SetOutOfMemoryCallback(OutOfMemoryCallback callback)
      GCRT_EXCLUDES(oom_mu_);

  // Called after each cycle with its record, on the thread that ran it,
  // once the world has restarted, the sweep is done (an explicit cycle)
  // and no lock of gcrt is held (gc::set_cycle_callback). Null: none.
  using CycleCallback = std::function<void(const CycleRecord&)>;
  void SetCycleCallback(CycleCallback callback) GCRT_EXCLUDES(events_mu_);

  void SetGcPercent(int percent) GCRT_EXCLUDES(mu_);  // < 0: collection off
  // The heap's memory limit (0, or runtime::env::kNoMemoryLimitFrom and
  // up: none): cycles come before the heap nears it, and growth past it
  // throws std::bad_alloc. Returns the old one (0 if there was none).
  uint64_t SetMemoryLimit(uint64_t bytes) GCRT_EXCLUDES(mu_);
  // The least heap goal (GCRT_MIN_HEAP; 0: kMinHeapGoal): a program with a
  // small live heap that allocates fast collects less often, with no
  // ballast. The memory limit still wins. Returns the old one.
  uint64_t SetMinHeap(uint64_t bytes) GCRT_EXCLUDES(mu_);
  int gc_percent() const GCRT_EXCLUDES(mu_);
  // 0: the default (hardware threads), up to runtime::env::kMaxMarkWorkers;
  // more throws std::invalid_argument.
  void SetMarkWorkers(uint32_t n) GCRT_EXCLUDES(mu_);
  // Each returns the old setting.
  bool SetVerify(bool on) GCRT_EXCLUDES(mu_);
  // The missed-field cross-check (gc/crosscheck.h); returns the old one.
  bool SetCrossCheck(bool on) GCRT_EXCLUDES(mu_);
  bool SetTrace(bool on) GCRT_EXCLUDES(mu_);
  // Marking beside the program (gc/barrier.h) or with the world stopped;
  // returns the old setting.
  bool SetConcurrent(bool on) GCRT_EXCLUDES(mu_);

  CollectorStats ReadStats() GCRT_EXCLUDES(mu_);

  // Tests: runs fn(context) at the end of mark termination, with the world
  // still stopped (null to remove).
  void SetTerminationHookForTesting(void (*fn)(void*), void* context)
      GCRT_EXCLUDES(mu_);
  // Tests: runs fn(context) on the collecting thread of a cycle that marks
  // beside the program, once the world has restarted after the first stop
  // and before the concurrent marker scans anything: as a mutator, with
  // the write barrier and black allocation on.
  void SetConcurrentHookForTesting(void (*fn)(void*), void* context)
      GCRT_EXCLUDES(mu_);
  // Tests: runs fn(context) on the collecting thread of a cycle that marks
  // beside the program once the concurrent marking has drained (everything
  // it could reach is scanned; objects deferred to the final stop, and
  // those reachable only through handles made after the first stop, are
  // not), before the final stop: as a mutator, with the write barrier and
  // black allocation still on.
  void SetDrainedHookForTesting(void (*fn)(void*), void* context)
      GCRT_EXCLUDES(mu_);
  // Tests: runs fn(context) right after marking, before the verifier.
  void SetMarkedHookForTesting(void (*fn)(void*), void* context)
      GCRT_EXCLUDES(mu_);
  // Tests: runs fn(context) as soon as a cycle's first stop has stopped
  // the world, before sweep termination.
  void SetStoppedHookForTesting(void (*fn)(void*), void* context)
      GCRT_EXCLUDES(mu_);

  // Fork support (gc/fork.h). The collector's lock across a fork.
  // Before the world is stopped for a fork: waits for a running cycle (one
  // that marks beside the program runs with the world running) and keeps
  // the next from starting until UnlockAfterFork.
  void WaitForCycleAndLockForFork() GCRT_ACQUIRE(cycle_mu_);
  void LockForFork() GCRT_ACQUIRE(mu_, background_mu_) {
    mu_.lock();
    background_mu_.lock();
  }
  void UnlockAfterFork(bool child)
      GCRT_RELEASE(background_mu_, mu_, cycle_mu_) {
    if (child) {
      // The background thread is gone: the next trigger starts another.
      background_started_ = false;
      background_requested_ = false;
      background_busy_.store(false, std::memory_order_relaxed);
      background_reporting_.store(false, std::memory_order_relaxed);
      // A thread that was between claiming a small cycle and running it
      // (or clearing the claim after it) is gone too: left set, the claim
      // would keep every later small cycle from running.
      inline_busy_.store(false, std::memory_order_relaxed);
      background_cv_.ResetAfterFork();
      background_done_cv_.ResetAfterFork();
      cycle_done_.ResetAfterFork();
    }
    background_mu_.unlock();
    mu_.unlock();
    cycle_mu_.unlock();
  }
  // In the child of a fork: the background sweeper, the finalizer thread
  // and the scavenger are started again (if they ran in the parent) by the
  // child's first cycle.
  void RestartThreadsAfterForkAtNextCycle() {
    restart_threads_.store(true, std::memory_order_relaxed);
  }
  // In the child of a fork gcrt could not prepare for (fork.h): every
  // collection throws std::logic_error saying so.
  void RefuseCyclesAfterBadFork() {
    refuse_after_fork_.store(true, std::memory_order_relaxed);
  }
  // Whether the calling thread is running a cycle.
  static bool CollectingOnThisThread();

 private:
  // Tests' callbacks at points of a cycle (the ForTesting setters).
  struct TestHook {
    struct Point {
      void (*fn)(void*) = nullptr;
      void* context = nullptr;
    };
    Point stopped, marked, terminated, concurrent, drained;
  };

  Collector();
  void RestartThreadsAfterFork();
  // Set in the child of a fork; taken by the next cycle. Atomic, relaxed.
  std::atomic<bool> restart_threads_{false};
  std::atomic<bool> refuse_after_fork_{false};  // Same discipline.
  // One cycle's state, carried through its phases (collector.cc).
  struct Cycle;
  // The phases of Collect, in order (the overview above). Admit, ReadConfig
  // and SweepTermination return false when the cycle does not run.
  // Collect stops the world between ReadConfig and SweepTermination and
  // starts it after MarkTermination.
  bool Admit(const Cycle& c, const char* api = "gc::collect()");
  bool ReadConfig(Cycle& c) GCRT_EXCLUDES(mu_);
  bool SweepTermination(Cycle& c) GCRT_REQUIRES(runtime::kWorldStopped);
  void Mark(Cycle& c) GCRT_REQUIRES(runtime::kWorldStopped) GCRT_EXCLUDES(mu_);
  // Mark when c.concurrent: a stop (entered and left with the world
  // stopped), marking with the world running, and a second stop.
  void MarkBesideProgram(Cycle& c) GCRT_REQUIRES(runtime::kWorldStopped)
      GCRT_EXCLUDES(mu_);
  // One cycle at a time (cycle_mu_): a triggered, zeal or periodic cycle
  // returns false while another runs; an explicit one waits for it.
  bool EnterCycle(const Cycle& c) GCRT_EXCLUDES(cycle_mu_);
  void LeaveCycle() GCRT_EXCLUDES(cycle_mu_);
  void MarkTermination(Cycle& c) GCRT_REQUIRES(runtime::kWorldStopped)
      GCRT_EXCLUDES(mu_);
  void Sweep(const Cycle& c);
  void Trace(const Cycle& c) GCRT_EXCLUDES(mu_);
  // The cycle's record (Report's), and handing it to the callback and the
  // gclog; Report runs once the cycle lock is released.
  CycleRecord MakeRecord(const Cycle& c) GCRT_EXCLUDES(mu_);
  static void Phases(const Cycle& c, int64_t* sweep_term, int64_t* mark,
                     int64_t* mark_term);
  void Report(const CycleRecord& r) GCRT_EXCLUDES(events_mu_);
  // Parts of the phases, all run with the world stopped.
  void CheckCachesFlushed(uint32_t h) GCRT_REQUIRES(runtime::kWorldStopped);
  // Every Central's and the page heap's consistency walk (debug builds).
  bool VerifyAllocator() GCRT_REQUIRES(runtime::kWorldStopped);
  // Sets aside the coming sweep's mark bits, `extra_percent` more than
  // the spans in use need now (alloc/gc_bits.h). Throws std::bad_alloc with
  // nothing changed.
  void ReserveSweepBits(uint64_t extra_percent);
  // Debug builds: the page heap's counts of spans in use (NoteInUse) agree
  // with a walk of the span records (world stopped).
  bool InUseCountsMatch() GCRT_REQUIRES(runtime::kWorldStopped);
  void FlushCaches(Cycle& c) GCRT_REQUIRES(runtime::kWorldStopped);
  // For a verified cycle: this thread's recorded stack, copied into
  // own_stack_, is what the marker and the verifier scan of it
  // (SetStackSnapshot, gc/marker.h).
  void SnapshotOwnStack() GCRT_REQUIRES(runtime::kWorldStopped);
  void Pace(Cycle& c) GCRT_REQUIRES(runtime::kWorldStopped) GCRT_EXCLUDES(mu_);
  void RecordCycle(const Cycle& c) GCRT_REQUIRES(runtime::kWorldStopped)
      GCRT_EXCLUDES(mu_);
  void SetNextGcLocked(int64_t marked) GCRT_REQUIRES(mu_);
  // Once the sweep of the last cycle's dead objects is over (gc::collect()
  // after it finished the sweep; the background sweeper once its walk is
  // done): external_live_ becomes what live objects held as that cycle
  // ended, the total at its mark termination less every removal since
  // (the dead objects' destructors), and the goal is set again from it.
  // At mark termination only an estimate was known (Heap::TakeExternalLow,
  // the low since the cycle before), one cycle behind. Once per cycle.
  void PaceExternalAfterSweep() GCRT_EXCLUDES(mu_);
  // Sets the background scavenger's retained-memory goal (Go's
  // gcPaceScavenger) from the heap goal SetNextGcLocked set: heap goal plus
  // kScavengeRetainExtraPercent, and under a memory limit at most
  // kScavengeLimitPercent of it. The heap goal part only once a cycle has
  // completed (`cycle_done`, or one before): before, it says nothing about
  // the heap. The caller wakes the scavenger once it holds no lock.
  void PaceScavengerLocked(bool cycle_done) GCRT_REQUIRES(mu_);
  // Runs the tests' callback at one point of the cycle, if any (not under
  // mu_: the callback may read stats).
  void RunHook(TestHook::Point TestHook::*which) GCRT_EXCLUDES(mu_);
  // The allocator's trigger: a cycle on this thread, or (marking beside the
  // program) one on the background thread, and this thread's mark assist.
  static void Trigger();
  // A mark assist (Go's gcAssistAlloc): while marking runs beside the
  // program, an allocating thread that owes kAssistDebtBytes or more
  // (alloc::t_assist_debt) scans in proportion: the scan work left over
  // the heap left before the goal, times its debt, less the background
  // workers' unclaimed work (TakeBackgroundCredit); past the goal, all the
  // work it can find. Then its debt is paid (or, with no work to find,
  // forgiven: the background workers hold it).
  void Assist();
  // The pacer's model (Go 1.18's cons/mark), after a triggered cycle that
  // marked beside the program: the bytes allocated per byte scanned,
  // normalized by the share of the CPU the marking had.
  void UpdateConsMarkLocked(const Cycle& c) GCRT_REQUIRES(mu_);
  // Asks the background thread for a cycle, starting it the first time;
  // false if the system refused the thread (the caller runs the cycle).
  bool RequestBackgroundCycle() GCRT_EXCLUDES(background_mu_);
  // Waits, blocked, until the background cycle requested or running ends.
  void WaitForBackgroundCycle() GCRT_EXCLUDES(background_mu_);
  // Waits, blocked, until the running cycle (if any) ends.
  void WaitForRunningCycle() GCRT_EXCLUDES(cycle_mu_);
  void BackgroundLoop() GCRT_EXCLUDES(background_mu_);
  // The allocator's zeal-mode hook (alloc::SetZeal).
  static void Zeal();
  // The allocator's out-of-memory hook (Heap::CollectForMemory).
  static bool CollectForMemory();
  // Its second (Heap::OutOfMemory): runs the program's callback, if any.
  static bool OutOfMemory(size_t bytes) GCRT_EXCLUDES(oom_mu_, mu_);
  // The background thread's forced cycle: runs one if none ran for a whole
  // period (and collection is on); returns when the next one is due.
  static int64_t Periodic();

  // Whether a cycle is running, from EnterCycle to LeaveCycle. Taken and
  // waited on only inside a blocking region (a waiting thread must not hold
  // up the running cycle's stops); before mu_ (runtime/lock_order.h).
  // Guards the out-of-memory callback, copied out before it runs (a leaf
  // lock).
  // SnapshotOwnStack's copy: used by the collecting thread, with the world
  // stopped (one cycle at a time).
  std::vector<uintptr_t> own_stack_;
  // The per-cycle callback and the gclog file (a leaf lock: the callback
  // is copied out and runs with none held). `reporting_` says whether
  // either is set, so a cycle builds no record for nobody. Atomic: stored
  // (relaxed) only under events_mu_ (SetCycleCallback, the constructor);
  // loaded (relaxed) by the collecting thread at a cycle's end, so a
  // callback set while a cycle runs may first hear of the next one.
  runtime::Mutex events_mu_;
  CycleCallback cycle_callback_ GCRT_GUARDED_BY(events_mu_);
  std::FILE* gclog_ GCRT_GUARDED_BY(events_mu_) = nullptr;
  std::atomic<bool> reporting_{false};
  runtime::Mutex oom_mu_;
  OutOfMemoryCallback oom_callback_ GCRT_GUARDED_BY(oom_mu_);
  runtime::Mutex cycle_mu_;
  runtime::CondVar cycle_done_;
  bool cycle_running_ GCRT_GUARDED_BY(cycle_mu_) = false;
  // Guards the configuration and statistics below; never held while the
  // world is being stopped.
  mutable runtime::Mutex mu_;
  int gc_percent_ GCRT_GUARDED_BY(mu_) = 100;
  uint64_t memory_limit_ GCRT_GUARDED_BY(mu_) = 0;
  uint64_t min_heap_ GCRT_GUARDED_BY(mu_) = 0;  // 0: kMinHeapGoal
  uint32_t mark_workers_ GCRT_GUARDED_BY(mu_) = 0;
  bool verify_ GCRT_GUARDED_BY(mu_) = false;
  bool concurrent_ GCRT_GUARDED_BY(mu_) = false;
  // concurrent_, for the allocator's trigger. Atomic: stored under mu_,
  // loaded relaxed.
  std::atomic<bool> concurrent_on_{false};
  // The background thread that runs triggered cycles when they mark beside
  // the program (Trigger). background_busy_: a cycle requested or running;
  // atomic, set by the first requester (exchange), cleared under
  // background_mu_ by the thread when its cycle ends. A leaf lock
  // (runtime/lock_order.h); the thread waits on it blocked.
  runtime::Mutex background_mu_;
  runtime::CondVar background_cv_;       // a request (background_mu_)
  runtime::CondVar background_done_cv_;  // a cycle ended (background_mu_)
  bool background_started_ GCRT_GUARDED_BY(background_mu_) = false;
  bool background_requested_ GCRT_GUARDED_BY(background_mu_) = false;
  std::atomic<bool> background_busy_{false};
  // The background thread runs a cycle callback: its cycle ended
  // (background_busy_ cleared first), and triggers meanwhile run their
  // cycle on the triggering thread, so that a callback waiting for a thread
  // that allocates never waits for the background thread itself. Atomic:
  // stored by the background thread, loaded relaxed by Trigger.
  std::atomic<bool> background_reporting_{false};
  // Whether the next triggered cycle runs on the triggering thread: the
  // last cycle's scan work was at most kInlineCycleMaxScanWork. Atomic:
  // stored under mu_ (Pace), loaded relaxed by Trigger. inline_busy_: a
  // triggering thread runs one (exchange), cleared by that thread.
  std::atomic<bool> inline_cycles_{false};
  std::atomic<bool> inline_busy_{false};
  bool crosscheck_ GCRT_GUARDED_BY(mu_) = false;
  bool trace_ GCRT_GUARDED_BY(mu_) = false;
  int64_t last_marked_ GCRT_GUARDED_BY(mu_) = 0;
  // What live objects held outside the heap as the last cycle ended,
  // paced as heap: estimated at its mark termination
  // (Heap::TakeExternalLow), then set by PaceExternalAfterSweep. For the
  // latter, the total and the removals counted at mark termination, and
  // whether the sweep since was taken into account.
  int64_t external_live_ GCRT_GUARDED_BY(mu_) = 0;
  int64_t external_at_termination_ GCRT_GUARDED_BY(mu_) = 0;
  uint64_t external_removed_at_termination_ GCRT_GUARDED_BY(mu_) = 0;
  bool external_paced_after_sweep_ GCRT_GUARDED_BY(mu_) = true;
  // The pacer (SetNextGcLocked): the last cycle's scan work (marked bytes
  // not allocated black), and the smoothed cons/mark ratio (0: none
  // measured yet).
  int64_t last_scan_work_ GCRT_GUARDED_BY(mu_) = 0;
  double cons_mark_ GCRT_GUARDED_BY(mu_) = 0;
  // For the running marking's assists: the scan work expected (stored
  // with the world stopped before it restarts, relaxed), and what the
  // assists did (relaxed adds; read with the world stopped).
  std::atomic<int64_t> assist_expected_work_{0};
  std::atomic<int64_t> assist_ns_{0};
  std::atomic<uint64_t> assist_count_{0};
  CollectorStats stats_ GCRT_GUARDED_BY(mu_) = {};
  uint64_t gc_cpu_ns_ GCRT_GUARDED_BY(mu_) = 0;  // pause x workers
  TestHook hooks_ GCRT_GUARDED_BY(mu_);
  std::chrono::steady_clock::time_point start_time_;  // Immutable.
  // When the last cycle ended. Atomic: nanoseconds of steady_clock.
  std::atomic<int64_t> last_gc_ns_{0};
  // Cycles completed. Atomic: written by the collector with the world
  // stopped (release), read by triggers deciding whether one just ran.
  std::atomic<uint64_t> cycles_{0};
};

}  // namespace gc::internal
