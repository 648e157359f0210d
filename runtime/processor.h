// Processors (Go's P). A thread that touches the GC heap holds a Processor;
// the Processor owns the per-processor state of the layers above (the
// allocator's Cache), so that state is used by one thread at a time with no
// synchronization. Threads attach implicitly on first use or explicitly, and
// give the Processor back on detach or at thread exit; an idle Processor is
// reused by the next thread that attaches.
//
// Layering: runtime/ knows nothing of caches. The layer above registers a
// ProcessorLocalFactory once; every Processor gets one ProcessorLocal from it
// and calls OnAcquire/OnRelease on the thread that takes or gives it back.
//
// Processors are never destroyed (the table only grows), so a Processor* is
// valid for the life of the process.
#pragma once

#include <atomic>
#include <cstdint>

#include "gcrt/runtime/base.h"
#include "gcrt/runtime/mutex.h"
#include "gcrt/runtime/sys_stat.h"

namespace gc::runtime {

class Processor;

// Per-processor state of an upper layer.
class ProcessorLocal {
 public:
  // Runs on the thread that has just acquired `p`, before it uses the heap.
  virtual void OnAcquire(Processor& p) = 0;
  // Runs on the thread that is about to give `p` back.
  virtual void OnRelease(Processor& p) = 0;
  // Runs on the thread holding `p` when it resumes after a stop-the-world
  // (leaving a safepoint, or a stopper that waited for another stopper),
  // outside every runtime lock, before the thread touches the heap again.
  // A new stop-the-world waits until it has returned (seed 002's
  // prepareForSweep on resume).
  virtual void OnResume(Processor& p) = 0;
  // Run on the holding thread when it enters its outermost blocking region
  // (before the world may stop without it) and when it has left it (after
  // any stop in progress ended): the layers above make the heap refuse the
  // thread meanwhile.
  virtual void OnBlockingEnter(Processor&) {}
  virtual void OnBlockingExit(Processor&) {}
  // Runs on a thread stopping the world, under the processor table's lock,
  // for each processor a running thread holds: make that thread reach a
  // safepoint soon (the allocator turns its allocation fast path off, so
  // its next allocation polls). The thread may park meanwhile (parking
  // takes no lock; its OnResume comes after this). Must not block,
  // allocate or take locks.
  virtual void RequestSafepoint() {}
  // The thread that held `p` no longer exists (the child of a fork, where
  // only the forking thread lives on): give back what p holds, on the
  // calling thread, with the world stopped. p becomes idle afterwards.
  virtual void OnOwnerLost(Processor&) GCRT_REQUIRES(kWorldStopped) {}

 protected:
  ~ProcessorLocal() = default;
};

using ProcessorLocalFactory = ProcessorLocal* (*)(Processor& p);

// The stack of the thread holding a processor, for conservative scanning
// (runtime/stack.h). Written by the holding thread: `hi` when it acquires
// the processor, the rest before it stops running (parks at a safepoint,
// enters a blocking region, or stops the world itself), which publishes
// them (the status store, release, and the stop's count of the processors
// it waits for); read by the collector with the world stopped, for
// processors that are not idle.
struct StackRecord {
  static constexpr size_t kMaxSavedBytes = 1024;
  uintptr_t lo = 0;  // the stack's lowest address
  uintptr_t hi = 0;  // the stack's base (its highest address)
  uintptr_t sp = 0;  // the lowest address still in use when it stopped
  // Callee-saved registers spilled on entry to a blocking region (they
  // may be pushed below `sp` by what the region calls): scanned too.
  size_t saved_bytes = 0;
  alignas(16) unsigned char saved[kMaxSavedBytes];
  void* fake_stack = nullptr;  // AddressSanitizer's, for that thread
};

enum class ProcessorStatus : uint32_t {
  kIdle = 0,     // in the idle pool; no thread holds it
  kRunning = 1,  // held by a thread that may touch the heap
  kStopped = 2,  // held by a thread parked at a safepoint (safepoint.h)
  kBlocked = 3,  // held by a thread in a blocking region: it does not touch
                 // the heap, so the world may stop without waiting for it
};

class Processor {
 public:
  uint32_t id() const { return id_; }
  ProcessorLocal* local() const { return local_; }
  ProcessorStatus status() const {
    return status_.load(std::memory_order_acquire);
  }
  // The next processor in creation order (newest first), or null.
  Processor* next_all() const { return next_all_; }
  // The holding thread's stack (see StackRecord for who writes it).
  StackRecord& stack() { return stack_; }
  // The holding thread's kernel id (0 if none); read under the table's
  // lock (ForEachProcessor).
  int owner_tid() const { return owner_tid_; }
  // The task the holding thread (a task worker) runs, 0 if none: for the
  // stop-the-world watchdog, which names a task that holds a stop up.
  void set_running_task(uint64_t id) {
    running_task_.store(id, std::memory_order_relaxed);
  }
  uint64_t running_task() const {
    return running_task_.load(std::memory_order_relaxed);
  }

 private:
  friend class ProcessorTable;
  friend class BlockingRegion;
  friend void StopTheWorld(const char*);
  friend void StartTheWorld();
  friend void ResumeAfterForkChild();
  Processor(uint32_t id, ProcessorLocal* local) : id_(id), local_(local) {}
  GCRT_CHARGED_TO(Processor, kCache)

  const uint32_t id_;      // Immutable after creation.
  ProcessorLocal* local_;  // Immutable after ProcessorTable::Acquire sets it.
  // Atomic: stored (release) under ProcessorTable::mu_, but for the
  // holding thread's kRunning -> kStopped when it parks (without it);
  // loaded (acquire) by anyone.
  std::atomic<ProcessorStatus> status_{ProcessorStatus::kIdle};
  Processor* next_idle_ = nullptr;  // Guarded by ProcessorTable::mu_.
  Processor* next_all_ = nullptr;   // Immutable after publication.
  // Kernel thread id of the holder, for the stop-the-world watchdog.
  // Guarded by ProcessorTable::mu_.
  int owner_tid_ = 0;
  // The stop (ProcessorTable::restart_seq_ while it lasts) in which the
  // watchdog last printed this processor's full report: later reports in
  // the same stop are one line. Guarded by ProcessorTable::mu_.
  uint32_t watchdog_stop_ = ~uint32_t{0};
  // Atomic, relaxed: stored by the holding thread as it switches to a task
  // and back; loaded by the watchdog, for its report only.
  std::atomic<uint64_t> running_task_{0};
  StackRecord stack_;
};

// Registers the factory for ProcessorLocals. Must be called before the first
// processor is created; later calls with the same factory are no-ops.
void SetProcessorLocalFactory(ProcessorLocalFactory factory);

// The machine's hardware threads, read once (Go's ncpu): glibc reads
// /sys/devices/system/cpu/online at every std::thread::hardware_concurrency
// call, which cost 0.1 ms inside mark termination's stop.
uint32_t HardwareThreads();

// The calling thread's processor, or null if the thread is not attached.
// Owned by the thread.
extern thread_local constinit Processor* t_processor GCRT_TLS_FAST;
inline Processor* CurrentProcessor() { return GCRT_TLS(t_processor); }

// Whether a stop of the world waits for the calling thread: it holds a
// processor that is running (not kBlocked: inside a blocking region). Only
// such a thread's loads are ordered by the stops.
inline bool WorldStopsCurrentThread() {
  Processor* p = CurrentProcessor();
  return p != nullptr && p->status() == ProcessorStatus::kRunning;
}

// Attaches the calling thread: takes an idle processor or creates one, and
// runs its OnAcquire. Idempotent. The thread detaches automatically at exit.
Processor* AttachCurrentThread();

// Gives the calling thread's processor back (OnRelease, then idle). No-op if
// the thread is not attached.
void DetachCurrentThread();

// Number of processors ever created.
uint32_t ProcessorCount();

// Calls fn(Processor&) for every processor, with the table lock held: fn
// must not attach or detach.
template <typename Fn>
void ForEachProcessor(Fn&& fn);

// --- implementation details ---

class ProcessorTable {
 public:
  static ProcessorTable& Get();
  Processor* Acquire() GCRT_EXCLUDES(mu_);
  void Release(Processor* p) GCRT_EXCLUDES(mu_);
  uint32_t count() const { return count_.load(std::memory_order_acquire); }
  Mutex& mu() GCRT_RETURN_CAPABILITY(mu_) { return mu_; }
  Processor* all() const { return all_.load(std::memory_order_acquire); }
  void SetFactory(ProcessorLocalFactory f) GCRT_EXCLUDES(mu_);

 private:
  Mutex mu_;
  ProcessorLocalFactory factory_ GCRT_GUARDED_BY(mu_) = nullptr;
  Processor* idle_ GCRT_GUARDED_BY(mu_) = nullptr;
  // Atomic: stored (release) under mu_; loaded (acquire) without it. The
  // list only grows at its head, so a reader sees a consistent suffix.
  std::atomic<Processor*> all_{nullptr};
  std::atomic<uint32_t> count_{0};  // Atomic, same discipline as all_.

  // Stop-the-world state (safepoint.h). The lock serializes stoppers and
  // every change of a processor's status but one: a thread parks at a
  // safepoint without it, counting itself off stopwait_ (Go's
  // sched.stopwait) with one atomic. Parking under the lock, threads that
  // parked at once queued on it, each behind the last one's wake-up call
  // to the stopper; with more threads than cores, one waiting there was
  // woken onto a busy core and held a stop 3 ms while its own core idled.
  friend void StopTheWorld(const char*);
  friend void StopTheWorldForFork();
  friend void StopTheWorldFromAnyThread(const char*);
  friend void StartTheWorldFromAnyThread();
  friend bool WorldStoppedByCaller();
  friend void LockProcessorsForFork();
  friend void ResumeAfterForkParent();
  friend void ResumeAfterForkChild();
  friend void StartTheWorld();
  friend void SafepointSlow();
  friend bool WorldStoppedForTesting();
  friend class BlockingRegion;
  // Parks the calling thread's running processor p at a safepoint until
  // the world restarts (restart_seq_ moves, even if a new stop has begun
  // since: the thread then runs OnResume and parks again at its next
  // safepoint). Only while a stop that counted p in stopwait_ lasts; the
  // caller holds no lock.
  void Park(Processor* p) GCRT_EXCLUDES(mu_);
  // Sets the stop flag, after any stop in progress ended (`self`, the
  // stopper's running processor or null, parks meanwhile, and runs its
  // OnResume without the lock), and counts the processors to wait for.
  void BeginStopLocked(Processor* self) GCRT_REQUIRES(mu_);
  // Waits, with the lock released, until every processor but `self` has
  // stopped running; the watchdog reports the ones that take long.
  void WaitForStopLocked(Processor* self, const char* reason)
      GCRT_REQUIRES(mu_);
  // The watchdog: names every processor but `self` still running, with its
  // thread's stack the first time in this stop. Releases mu_ while it
  // symbolizes and prints the stacks.
  void ReportStragglersLocked(Processor* self, const char* reason,
                              long long waited_ms) GCRT_REQUIRES(mu_);
  void RestartLocked() GCRT_REQUIRES(mu_);
  // Restarts the world `stopper` (null: a thread without a running
  // processor) stopped.
  void RestartBy(Processor* stopper) GCRT_EXCLUDES(mu_)
      GCRT_RELEASE(kWorldStopped);
  // Running processor p stops running (blocks or is released) under the
  // lock: if a stop counted it, count it off.
  void LeaveRunningLocked(Processor* p) GCRT_REQUIRES(mu_);
  // Counts one processor off stopwait_, waking the stopper at zero.
  void CountStopped();
  // Whether a thread waiting in the stop protocol may spin before it
  // sleeps: every thread the stop involves (processors running or parked,
  // and an unattached stopper) has a core of its own. Reads the statuses
  // without the lock (an estimate: it decides only how to wait).
  bool MaySpin();
  CondVar world_cv_;  // signalled when the world restarts (with mu_)
  bool world_stopped_ GCRT_GUARDED_BY(mu_) = false;
  // The processor of the thread holding the world stopped (null: one with
  // no running processor, or no stop). Atomic: stored under mu_, before
  // g_stop_requested is raised, and cleared at the restart (before the
  // flag is lowered: only the restarting thread could match it); loaded
  // under mu_, or by a parking thread without it after an acquire load of
  // g_stop_requested that saw the stop.
  std::atomic<Processor*> stopper_{nullptr};
  // Processors the stop in progress still waits for (Go's stopwait): those
  // running at its start, less those that parked, blocked or were
  // released since. Atomic: set under mu_ before g_stop_requested; counted
  // down (acq_rel, a release sequence the stopper's acquire load reads)
  // by parking threads without mu_, by the others under it. Who takes it
  // to 0 wakes the stopper, which sleeps on it as a futex.
  std::atomic<uint32_t> stopwait_{0};
  // Whether the stopper sleeps (or is about to) on stopwait_: the last
  // thread to count off makes the wake-up call only then. Atomic, seq_cst
  // both sides (the stopper sets it, then checks stopwait_; a thread
  // counts off, then reads it).
  std::atomic<uint32_t> stopper_asleep_{0};
  // StartTheWorld calls, and the futex parked threads sleep on. Atomic:
  // incremented (seq_cst) only under mu_, after the parked processors are
  // marked running; loaded anywhere.
  std::atomic<uint32_t> restart_seq_{0};
  // Parked threads asleep (or about to be) on restart_seq_: a restart
  // makes the wake-up call only when there is one. Atomic, seq_cst both
  // sides (a parked thread counts itself, then checks restart_seq_; a
  // restart moves restart_seq_, then reads this).
  std::atomic<uint32_t> park_sleepers_{0};
};

template <typename Fn>
void ForEachProcessor(Fn&& fn) {
  ProcessorTable& t = ProcessorTable::Get();
  MutexLock lock(&t.mu());
  for (Processor* p = t.all(); p != nullptr; p = p->next_all()) {
    fn(*p);
  }
}

}  // namespace gc::runtime
