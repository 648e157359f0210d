// The collector: one cycle is
//
//   finish the last sweep -> stop the world -> check every cache was flushed
//   -> parallel mark from the roots -> (verify) -> mark termination ->
//   start the world -> lazy concurrent sweep (sweeper.h)
//
// Mark termination (seed 002), world still stopped: weak references to
// unmarked objects are cleared (weak.h), unmarked finalizable objects are
// queued for their finalizers (finalizer.h), sweepgen += 2, every
// Central's partial spans become unswept, gcBits arenas rotate, the caches
// of idle and blocked processors are flushed (their spans go back unswept),
// heap_live becomes the marked bytes and next_gc = marked * (1 + GOGC/100)
// (at least 4 MiB), the pause is recorded. Running processors are not
// flushed here: each flushes its own cache when it resumes, sweeping the
// spans it held (Cache::PrepareForSweep, run from Processor OnResume); the
// collector's own thread does so right after it restarts the world. The
// next cycle checks that every cache was flushed and stops the program if
// one was not.
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

#include "alloc/heap.h"
#include "runtime/mutex.h"

namespace gc::internal {

inline constexpr int64_t kMinHeapGoal = 4 << 20;
// Retained memory the scavenger leaves above the heap goal, and the share
// of the memory limit it keeps below (Go's retainExtraPercent and
// 100 - reduceExtraPercent).
inline constexpr uint64_t kScavengeRetainExtraPercent = 10;
inline constexpr uint64_t kScavengeLimitPercent = 95;
inline constexpr size_t kPauseRing = 256;

// kLazyForTesting: a forced cycle that returns with the sweep not yet done
// (as a triggered one does), for tests of the lazy sweep.
enum class GcReason { kTriggered, kExplicit, kPeriodic, kLazyForTesting };

struct CollectorStats {
  uint64_t num_gc;
  uint64_t num_forced_gc;  // gc::collect() and periodic cycles
  int64_t next_gc;
  int64_t heap_live;
  int gc_percent;  // < 0: off
  uint64_t pause_total_ns;
  std::array<uint64_t, kPauseRing> pause_ns;  // ring, newest at
  uint64_t last_gc_unix_ns;                   // (num_gc - 1) % kPauseRing
  double gc_cpu_fraction;
  uint64_t last_marked_bytes;
  uint64_t last_marked_objects;
  uint32_t mark_workers;
  uint64_t objects_destroyed;  // destructors run by the sweeper
  uint64_t spans_swept;
  uint64_t verified_objects;   // checked by the verifier, all cycles
  uint64_t weak_refs_cleared;  // weak cells cleared (one per object)
  uint64_t finalizers_queued;
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

  void SetGcPercent(int percent) GCRT_EXCLUDES(mu_);  // < 0: collection off
  // The heap's memory limit (0, or runtime::env::kNoMemoryLimitFrom and
  // up: none): cycles come before the heap nears it, and growth past it
  // throws std::bad_alloc. Returns the old one (0 if there was none).
  uint64_t SetMemoryLimit(uint64_t bytes) GCRT_EXCLUDES(mu_);
  int gc_percent() const GCRT_EXCLUDES(mu_);
  // 0: the default (hardware threads), up to runtime::env::kMaxMarkWorkers;
  // more throws std::invalid_argument.
  void SetMarkWorkers(uint32_t n) GCRT_EXCLUDES(mu_);
  void SetVerify(bool on) GCRT_EXCLUDES(mu_);
  void SetTrace(bool on) GCRT_EXCLUDES(mu_);

  CollectorStats ReadStats() GCRT_EXCLUDES(mu_);

  // Tests: runs fn(context) at the end of mark termination, with the world
  // still stopped (null to remove).
  void SetTerminationHookForTesting(void (*fn)(void*), void* context)
      GCRT_EXCLUDES(mu_);
  // Tests: runs fn(context) right after marking, before the verifier.
  void SetMarkedHookForTesting(void (*fn)(void*), void* context)
      GCRT_EXCLUDES(mu_);

  // Fork support (gc/fork.h). The collector's lock across a fork.
  void LockForFork() GCRT_ACQUIRE(mu_) { mu_.lock(); }
  void UnlockAfterFork() GCRT_RELEASE(mu_) { mu_.unlock(); }
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
    Point marked, terminated;
  };

  Collector();
  void RestartThreadsAfterFork();
  // Set in the child of a fork; taken by the next cycle. Atomic, relaxed.
  std::atomic<bool> restart_threads_{false};
  std::atomic<bool> refuse_after_fork_{false};  // Same discipline.
  void MarkTermination(uint64_t marked_bytes);
  void SetNextGcLocked(int64_t marked) GCRT_REQUIRES(mu_);
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
  static void Trigger();
  // The background thread's forced cycle: runs one if none ran for a whole
  // period (and collection is on); returns when the next one is due.
  static int64_t Periodic();

  // Guards the configuration and statistics below; never held while the
  // world is being stopped.
  mutable runtime::Mutex mu_;
  int gc_percent_ GCRT_GUARDED_BY(mu_) = 100;
  uint64_t memory_limit_ GCRT_GUARDED_BY(mu_) = 0;
  uint32_t mark_workers_ GCRT_GUARDED_BY(mu_) = 0;
  bool verify_ GCRT_GUARDED_BY(mu_) = false;
  bool trace_ GCRT_GUARDED_BY(mu_) = false;
  int64_t last_marked_ GCRT_GUARDED_BY(mu_) = 0;
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
