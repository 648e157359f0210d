// See safepoint.h. The protocol lives in ProcessorTable's lock, but for the
// park: a stopper counts the running processors under the lock
// (stopwait_), and each of them counts itself off as it stops running,
// without the lock when it parks, under it when it blocks or is released;
// the stopper sleeps on the count, parked threads on restart_seq_, both
// futexes. Other waits for the world to restart wait on world_cv_ under
// the lock.
#include "gcrt/runtime/safepoint.h"

#include <unistd.h>

#include <climits>
#include <cstdio>
#include <cstring>
#include <stdexcept>
#include <vector>

#include "gcrt/runtime/backtrace.h"
#include "gcrt/runtime/check.h"
#include "gcrt/runtime/env.h"
#include "gcrt/runtime/futex.h"
#include "gcrt/runtime/stack.h"
#include "gcrt/runtime/task.h"

namespace gc::runtime {

std::atomic<bool> g_stop_requested{false};

namespace {

// Atomic: tests store, stoppers load (relaxed; a period, not a guard).
// GCRT_STW_WATCHDOG_MS is read at static initialization (env.cc's table is
// constant-initialized for this).
std::atomic<int64_t> g_watchdog_ms{env::StwWatchdogMsFromEnv()};
std::atomic<uint64_t> g_watchdog_reports{0};

thread_local int t_blocking_depth = 0;  // Owned by the thread.
thread_local int t_no_stop_depth = 0;   // Owned by the thread.

// kWorldStopped has no state: giving it back is this no-op, which tells the
// analysis that the world runs again (StopTheWorld takes it with
// AssertWorldStopped once the stop is complete).
void ReleaseWorldStopped()
    GCRT_RELEASE(kWorldStopped) GCRT_NO_THREAD_SAFETY_ANALYSIS {}

// How long a parked thread spins for the restart, and a stopper for the
// last processor to stop, before they sleep on their futex, when every
// thread of the stop has a core (MaySpin). A stop of a small heap
// lasts 10-50 us, and a thread that sleeps meanwhile wakes tens of
// microseconds after it is signalled (on a VM its idle core halts): the
// stopper after the last thread parked, the parked threads after the
// restart. With more threads than cores a spinner holds a core that the
// thread it waits for needs (a mutator the stopper preempted), so then
// both sleep at once.
constexpr std::chrono::microseconds kStopSpin{50};

// Spins until done() (true) or kStopSpin has passed (false). The caller
// holds no lock.
template <typename Done>
bool SpinUntil(Done done) {
  const auto deadline = std::chrono::steady_clock::now() + kStopSpin;
  for (uint32_t i = 1;; i++) {
    if (done()) return true;
    CpuRelax();
    if (i % 64 == 0 && std::chrono::steady_clock::now() >= deadline) {
      return false;
    }
  }
}

}  // namespace

GCRT_NOINLINE void ProcessorTable::Park(Processor* p) {
  // The callers' callee-saved registers into this frame, which the thread
  // stays in while parked: the stack scan from here up finds them.
  __builtin_unwind_init();
  GCRT_CHECK(p->status() == ProcessorStatus::kRunning);
  // Read before the park counts: the restart that ends this stop cannot
  // come before it.
  const uint32_t parked_at = restart_seq_.load(std::memory_order_relaxed);
  // Published to the stopper by the status store and the count.
  RecordStack(p, ApproximateSp());
  p->status_.store(ProcessorStatus::kStopped, std::memory_order_release);
  CountStopped();
  auto restarted = [&] {
    return restart_seq_.load(std::memory_order_seq_cst) != parked_at;
  };
  if (!(MaySpin() && SpinUntil(restarted))) {
    park_sleepers_.fetch_add(1, std::memory_order_seq_cst);
    while (!restarted()) FutexWait(&restart_seq_, parked_at);
    park_sleepers_.fetch_sub(1, std::memory_order_relaxed);
  }
  // StartTheWorld marked p running: a stopper that comes next waits for
  // this thread to park again, even if it has not woken up yet.
  GCRT_CHECK(p->status() == ProcessorStatus::kRunning &&
             "a parked processor runs again after the restart");
}

void ProcessorTable::CountStopped() {
  // Sequentially consistent, against the stopper's going to sleep
  // (stopper_asleep_, then stopwait_): the last one either sees it asleep
  // or it sees the count at 0.
  const uint32_t left = stopwait_.fetch_sub(1, std::memory_order_seq_cst);
  if (left == 0) {
    Print("stopwait_ was 0 when a processor stopped running");
    GCRT_FATAL("a stop counts off only the processors it waits for");
  }
  if (left == 1 && stopper_asleep_.load(std::memory_order_seq_cst) != 0) {
    FutexWake(&stopwait_, 1);
  }
}

void ProcessorTable::LeaveRunningLocked(Processor* p) {
  // A processor running while the world is stopped was running when the
  // stop began (none starts running until the restart): it was counted,
  // unless it is the stopper's.
  if (world_stopped_ && stopper_.load(std::memory_order_relaxed) != p) {
    CountStopped();
  }
}

void SafepointSlow() {
  Processor* p = CurrentProcessor();
  if (p == nullptr || t_blocking_depth > 0 || t_no_stop_depth > 0) return;
  ProcessorTable& t = ProcessorTable::Get();
  // Acquire: the stop that set the flag set stopper_ and stopwait_ before
  // it. A running processor that sees the flag is counted in that stop:
  // the flag is down before a restart lets a parked thread go
  // (RestartLocked), and nothing else starts running during a stop.
  if (!g_stop_requested.load(std::memory_order_acquire) ||
      t.stopper_.load(std::memory_order_relaxed) == p) {
    return;
  }
  t.Park(p);
  // Running again: the layers above catch up with what the stop changed
  // (the allocator flushes a stale cache) before this thread allocates.
  p->local()->OnResume(*p);
}

void ProcessorTable::WaitForStopLocked(Processor* self, const char* reason) {
  const auto period =
      std::chrono::milliseconds(g_watchdog_ms.load(std::memory_order_relaxed));
  const auto start = std::chrono::steady_clock::now();
  auto next_report = start + period;
  auto stopped = [&] { return stopwait_.load(std::memory_order_seq_cst) == 0; };
  while (!stopped()) {
    {
      // Threads that block or give their processor back meanwhile count
      // themselves off under the lock.
      MutexUnlock unlock(&mu_);
      if (!(MaySpin() && SpinUntil(stopped))) {
        stopper_asleep_.store(1, std::memory_order_seq_cst);
        for (uint32_t left;
             (left = stopwait_.load(std::memory_order_seq_cst)) != 0;) {
          const auto remaining = next_report - std::chrono::steady_clock::now();
          if (remaining <= std::chrono::nanoseconds::zero()) break;
          const std::chrono::nanoseconds timeout = remaining;
          FutexWait(&stopwait_, left, &timeout);
        }
        stopper_asleep_.store(0, std::memory_order_relaxed);
      }
    }
    const auto now = std::chrono::steady_clock::now();
    if (!stopped() && now >= next_report) {
      ReportStragglersLocked(
          self, reason,
          std::chrono::duration_cast<std::chrono::milliseconds>(now - start)
              .count());
      g_watchdog_reports.fetch_add(1, std::memory_order_relaxed);
      next_report = std::chrono::steady_clock::now() + period;
    }
  }
  for (Processor* p = all(); p != nullptr; p = p->next_all()) {
    GCRT_DCHECK(p == self || p->status() != ProcessorStatus::kRunning);
  }
}

namespace {

// How long the watchdog waits for a thread to answer its signal. A thread
// that can answer does so in microseconds; one that cannot (the signal
// blocked, or held by ThreadSanitizer) costs this once per stop.
constexpr std::chrono::milliseconds kSampleTimeout{250};
// Full reports per watchdog round; more stragglers get theirs next round.
constexpr int kMaxFullReports = 8;

struct StragglerReport {
  uint32_t processor;
  int tid;
  char name[16];
  char task[48];  // ", running task N" for a task worker, else empty
  char state;     // ThreadState, read before the sampling signal wakes it
  SampleResult result;
  Backtrace stack;
};

}  // namespace

void ProcessorTable::ReportStragglersLocked(Processor* self, const char* reason,
                                            long long waited) {
  // The stacks are taken with the lock held (a thread cannot give its
  // processor back and exit meanwhile, so its id names it), and printed
  // without it (symbolizing reads files and allocates).
  StragglerReport reports[kMaxFullReports];
  int n = 0;
  for (Processor* p = all(); p != nullptr; p = p->next_all()) {
    if (p == self || p->status() != ProcessorStatus::kRunning) continue;
    char name[16];
    ThreadName(p->owner_tid_, name, sizeof(name));
    char task[48] = "";  // ", running task " and a 20-digit id
    if (const uint64_t id = p->running_task()) {
      std::snprintf(task, sizeof(task), ", running task %lu",
                    static_cast<unsigned long>(id));
    }
    if (p->watchdog_stop_ == restart_seq_.load(std::memory_order_relaxed) ||
        n == kMaxFullReports) {
      Print(
          "stop-the-world (%s) has waited %lld ms for processor %u, held by "
          "thread %d \"%s\"%s: it has not reached a safepoint (%s)",
          reason, waited, p->id(), p->owner_tid_, name, task,
          p->watchdog_stop_ == restart_seq_.load(std::memory_order_relaxed)
              ? "reported above"
              : "its report comes next time");
      continue;
    }
    p->watchdog_stop_ = restart_seq_.load(std::memory_order_relaxed);
    StragglerReport& r = reports[n++];
    r.processor = p->id();
    r.tid = p->owner_tid_;
    std::memcpy(r.name, name, sizeof(name));
    std::memcpy(r.task, task, sizeof(task));
    r.state = ThreadState(r.tid);
    r.result = SampleThreadStack(r.tid, kSampleTimeout, &r.stack);
  }
  if (n == 0) return;
  // The watchdog runs on the thread that asked for the stop.
  const int stopper_tid = static_cast<int>(::gettid());
  char stopper_name[16];
  ThreadName(stopper_tid, stopper_name, sizeof(stopper_name));
  MutexUnlock unlock(&mu_);
  for (int i = 0; i < n; i++) {
    const StragglerReport& r = reports[i];
    Print(
        "stop-the-world (%s) has waited %lld ms for processor %u, held by "
        "thread %d \"%s\"%s: it has not reached a safepoint.%s",
        reason, waited, r.processor, r.tid, r.name, r.task,
        r.result == SampleResult::kOk ? " Its stack:" : "");
    if (r.result == SampleResult::kOk) {
      PrintBacktrace(r.stack);
    } else {
      Print("  (no stack: the thread %s)", SampleResultText(r.result));
    }
    // A stack in ordinary code (malloc, say) may mean either.
    if (r.state == 'R') {
      Print(
          "thread %d is running or runnable (state R): a loop with no "
          "safepoint, or, with more runnable threads than cores, a thread "
          "waiting for a core, which then reaches one",
          r.tid);
    } else if (r.state == 'S' || r.state == 'D') {
      Print(
          "thread %d is asleep in the kernel (state %c): a wait outside "
          "gc::Blocking",
          r.tid, r.state);
    }
  }
  Print(
      "a thread that waits (a join, a lock, a condition variable, a sleep, "
      "I/O) must wait inside a gc::Blocking scope, which the world stops "
      "without: gc::Thread joins in one, gc::Mutex and "
      "gc::ConditionVariable lock and wait in one, gc::blocking([&] { ... "
      "}) runs any other call in one (it must not touch GC objects there). "
      "A thread in a long loop that does not allocate calls "
      "gc::safepoint(). See api/thread.h.");
  Print(
      "the stop was asked for by thread %d \"%s\" (an allocation, "
      "gc::collect(), gc::stats(), a census or a fork, say): a lock a "
      "thread above waits for (a std::mutex locked around code that "
      "allocates) is held by that thread (never by gcrt's collector "
      "thread, gcrt-gc) or by one that reached its safepoint for this stop; "
      "either way each waits for the other for good: lock that mutex as a "
      "gc::Mutex. Unless the thread above holds the lock itself (one it took "
      "around gc::collect() or an allocation, taken again by a cycle "
      "callback or a destructor that runs inside it, on the same thread): "
      "then no kind of mutex helps; take it outside only.",
      stopper_tid, stopper_name);
}

void ProcessorTable::BeginStopLocked(Processor* self) {
  // Stops are serialized: a second stopper is just a running thread, and
  // resumes like one before it tries again (one without a running
  // processor waits for the restart).
  while (world_stopped_) {
    if (self != nullptr) {
      // Running, so counted by the stop in progress.
      MutexUnlock unlock(&mu_);
      Park(self);
      self->local()->OnResume(*self);
    } else {
      const uint32_t seen = restart_seq_.load(std::memory_order_relaxed);
      while (restart_seq_.load(std::memory_order_relaxed) == seen) {
        world_cv_.Wait(&mu_);
      }
    }
  }
  world_stopped_ = true;
  stopper_.store(self, std::memory_order_relaxed);
  // Every processor that runs now is counted; none starts running until
  // the restart (Acquire and BlockingRegion's exit wait for it).
  uint32_t running = 0;
  for (Processor* p = all(); p != nullptr; p = p->next_all()) {
    const ProcessorStatus status = p->status();
    GCRT_CHECK(status != ProcessorStatus::kStopped &&
               "no processor stays parked between stops");
    running += p != self && status == ProcessorStatus::kRunning;
  }
  stopwait_.store(running, std::memory_order_relaxed);
  // Sequentially consistent: a thread turning its fast path back on checks
  // the flag after it (alloc::InstallCache), so either it sees the flag or
  // the request below lands after its store. It publishes stopper_ and
  // stopwait_ to parking threads too.
  g_stop_requested.store(true, std::memory_order_seq_cst);
  for (Processor* p = all(); p != nullptr; p = p->next_all()) {
    if (p != self && p->status() == ProcessorStatus::kRunning) {
      p->local()->RequestSafepoint();
    }
  }
}

bool ProcessorTable::MaySpin() {
  const uint32_t cores = HardwareThreads();
  if (cores < 2) return false;
  uint32_t threads = stopper_.load(std::memory_order_relaxed) == nullptr;
  for (Processor* p = all(); p != nullptr; p = p->next_all()) {
    const ProcessorStatus s = p->status();
    if (s == ProcessorStatus::kRunning || s == ProcessorStatus::kStopped) {
      if (++threads > cores) return false;
    }
  }
  return true;
}

void ProcessorTable::RestartLocked() {
  world_stopped_ = false;
  stopper_.store(nullptr, std::memory_order_relaxed);
  // Parked processors run again from now on, whether or not their threads
  // have woken yet (Park).
  for (Processor* p = all(); p != nullptr; p = p->next_all()) {
    if (p->status() == ProcessorStatus::kStopped) {
      p->status_.store(ProcessorStatus::kRunning, std::memory_order_release);
    }
  }
  // Down before the restart lets a parked thread go: one that saw the flag
  // still up would park again, for no stop.
  g_stop_requested.store(false, std::memory_order_release);
  restart_seq_.fetch_add(1, std::memory_order_seq_cst);
  if (park_sleepers_.load(std::memory_order_seq_cst) != 0) {
    FutexWake(&restart_seq_, INT_MAX);
  }
  world_cv_.NotifyAll();
}

void StopTheWorld(const char* reason) {
  Processor* self = CurrentProcessor();
  GCRT_CHECK(self != nullptr && "the thread stopping the world is attached");
  GCRT_CHECK(t_blocking_depth == 0 &&
             "no stop-the-world from a blocking region");
  GCRT_CHECK(t_no_stop_depth == 0 && "no stop-the-world from a no-stop region");
  ProcessorTable& t = ProcessorTable::Get();
  MutexLock lock(&t.mu_);
  GCRT_CHECK(!(t.world_stopped_ &&
               t.stopper_.load(std::memory_order_relaxed) == self) &&
             "the world is not stopped again by the thread that stopped it");
  t.BeginStopLocked(self);
  t.WaitForStopLocked(self, reason);
  AssertWorldStopped();
}

void StartTheWorld() { ProcessorTable::Get().RestartBy(CurrentProcessor()); }

namespace {

// Only a running processor stops the world as its own; a thread in a
// blocking region (its processor kBlocked) or not attached stops it from
// outside, and the world does not wait for it either way.
Processor* StopperOfAnyThread() {
  Processor* p = CurrentProcessor();
  return p != nullptr && t_blocking_depth == 0 ? p : nullptr;
}

}  // namespace

void StopTheWorldForFork() {
  GCRT_CHECK(t_no_stop_depth == 0 && "no fork from a no-stop region");
  Processor* self = StopperOfAnyThread();
  ProcessorTable& t = ProcessorTable::Get();
  MutexLock lock(&t.mu_);
  GCRT_CHECK(!(t.world_stopped_ && self != nullptr &&
               t.stopper_.load(std::memory_order_relaxed) == self) &&
             "fork is not called with the world stopped by the same thread");
  t.BeginStopLocked(self);
  t.WaitForStopLocked(self, "fork");
  AssertWorldStopped();
}

void StopTheWorldFromAnyThread(const char* reason) {
  GCRT_CHECK(t_no_stop_depth == 0 && "no stop-the-world from a no-stop region");
  Processor* self = StopperOfAnyThread();
  ProcessorTable& t = ProcessorTable::Get();
  MutexLock lock(&t.mu_);
  GCRT_CHECK(!(t.world_stopped_ && self != nullptr &&
               t.stopper_.load(std::memory_order_relaxed) == self) &&
             "the world is not stopped again by the thread that stopped it");
  t.BeginStopLocked(self);
  t.WaitForStopLocked(self, reason);
  AssertWorldStopped();
}

void StartTheWorldFromAnyThread() {
  ProcessorTable::Get().RestartBy(StopperOfAnyThread());
}

void ProcessorTable::RestartBy(Processor* stopper) {
  MutexLock lock(&mu_);
  GCRT_CHECK(world_stopped_ &&
             stopper_.load(std::memory_order_relaxed) == stopper &&
             "the world is restarted by the thread that stopped it");
  RestartLocked();
  ReleaseWorldStopped();
}

bool WorldStoppedByCaller() {
  Processor* self = StopperOfAnyThread();
  if (self == nullptr) return false;
  ProcessorTable& t = ProcessorTable::Get();
  MutexLock lock(&t.mu_);
  return t.world_stopped_ && t.stopper_.load(std::memory_order_relaxed) == self;
}

// The fork handlers hold the table's lock from prepare (this) to the parent's
// or the child's handler (pthread_atfork): across functions.
void LockProcessorsForFork() GCRT_NO_THREAD_SAFETY_ANALYSIS {
  ProcessorTable::Get().mu_.lock();
}

// Holds the table's lock (LockProcessorsForFork) on entry.
void ResumeAfterForkParent() GCRT_NO_THREAD_SAFETY_ANALYSIS {
  ProcessorTable& t = ProcessorTable::Get();
  t.RestartLocked();
  t.mu_.unlock();
}

// Holds the table's lock (LockProcessorsForFork) on entry.
void ResumeAfterForkChild() GCRT_NO_THREAD_SAFETY_ANALYSIS {
  ProcessorTable& t = ProcessorTable::Get();
  // Threads that no longer exist may have waited on the condition variable
  // and counted themselves asleep on restart_seq_.
  t.world_cv_.ResetAfterFork();
  t.park_sleepers_.store(0, std::memory_order_relaxed);
  Processor* self = CurrentProcessor();
  std::vector<Processor*> orphans;
  for (Processor* p = t.all(); p != nullptr; p = p->next_all()) {
    if (p != self && p->status() != ProcessorStatus::kIdle)
      orphans.push_back(p);
  }
  // OnOwnerLost takes the layers' locks, which come before this one.
  t.mu_.unlock();
  for (Processor* p : orphans) p->local()->OnOwnerLost(*p);
  MutexLock lock(&t.mu_);
  for (Processor* p : orphans) {
    p->status_.store(ProcessorStatus::kIdle, std::memory_order_release);
    p->owner_tid_ = 0;
    p->next_idle_ = t.idle_;
    t.idle_ = p;
  }
  if (self != nullptr) self->owner_tid_ = static_cast<int>(::gettid());
  t.RestartLocked();
}

bool WorldStoppedForTesting() {
  ProcessorTable& t = ProcessorTable::Get();
  MutexLock lock(&t.mu_);
  return t.world_stopped_;
}

void SetStopWatchdogForTesting(std::chrono::milliseconds period) {
  g_watchdog_ms.store(period.count(), std::memory_order_relaxed);
}

std::chrono::milliseconds StopWatchdogPeriod() {
  return std::chrono::milliseconds(
      g_watchdog_ms.load(std::memory_order_relaxed));
}

uint64_t StopWatchdogReports() {
  return g_watchdog_reports.load(std::memory_order_relaxed);
}

// Not inlined: the caller's frames start right above this one's.
GCRT_NOINLINE BlockingRegion::BlockingRegion(HandOff hand_off)
    : p_(CurrentProcessor()), hand_off_(hand_off == HandOff::kYes) {
  if (t_no_stop_depth > 0 && p_ != nullptr) {
    throw std::logic_error(
        "gcrt: gc::Blocking while the world may not stop (inside the "
        "destructor gc::free runs): block before or after the free");
  }
  if (t_blocking_depth++ > 0 || p_ == nullptr) return;
  // The caller's frames stay as they are while the region runs; its
  // registers are copied out (the region may reuse them).
  RecordStackWithRegisters(
      p_, reinterpret_cast<uintptr_t>(__builtin_frame_address(0)) +
              2 * sizeof(void*));
  p_->local()->OnBlockingEnter(*p_);
  ProcessorTable& t = ProcessorTable::Get();
  MutexLock lock(&t.mu_);
  GCRT_CHECK(p_->status() == ProcessorStatus::kRunning);
  p_->status_.store(ProcessorStatus::kBlocked, std::memory_order_release);
  t.LeaveRunningLocked(p_);
  lock.Unlock();
  // A task's worker lets its slot go to another worker meanwhile.
  if (hand_off_) OnTaskBlockingEnter();
}

BlockingRegion::~BlockingRegion() {
  if (--t_blocking_depth > 0 || p_ == nullptr) return;
  // A task's worker takes a slot back first (it may wait for one; the
  // world need not wait for it meanwhile).
  if (hand_off_) OnTaskBlockingExit();
  ProcessorTable& t = ProcessorTable::Get();
  MutexLock lock(&t.mu_);
  // Touching the heap again must wait for a stopped world to restart,
  // unless this thread is the one that stopped it.
  while (t.world_stopped_ && t.stopper_.load(std::memory_order_relaxed) != p_) {
    t.world_cv_.Wait(&t.mu_);
  }
  p_->status_.store(ProcessorStatus::kRunning, std::memory_order_release);
  lock.Unlock();
  p_->local()->OnBlockingExit(*p_);
}

bool InBlockingRegion() { return t_blocking_depth > 0; }

NoStopRegion::NoStopRegion() { t_no_stop_depth++; }
NoStopRegion::~NoStopRegion() { t_no_stop_depth--; }
bool InNoStopRegion() { return t_no_stop_depth > 0; }

}  // namespace gc::runtime
