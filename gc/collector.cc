// See collector.h.
#include "gcrt/gc/collector.h"

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <new>
#include <stdexcept>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "gcrt/alloc/cache.h"
#include "gcrt/gc/barrier.h"
#include "gcrt/gc/census.h"
#include "gcrt/gc/census_signal.h"
#include "gcrt/gc/crosscheck.h"
#include "gcrt/gc/ephemeron.h"
#include "gcrt/gc/finalizer.h"
#include "gcrt/gc/fork.h"
#include "gcrt/gc/free.h"
#include "gcrt/gc/heap_profile.h"
#include "gcrt/gc/marker.h"
#include "gcrt/gc/quarantine.h"
#include "gcrt/gc/roots.h"
#include "gcrt/gc/sweeper.h"
#include "gcrt/gc/weak.h"
#include "gcrt/runtime/backtrace.h"
#include "gcrt/runtime/check.h"
#include "gcrt/runtime/env.h"
#include "gcrt/runtime/processor.h"
#include "gcrt/runtime/safepoint.h"
#include "gcrt/runtime/safepoint_poll.h"
#include "gcrt/runtime/stack.h"
#include "gcrt/runtime/thread_start.h"

namespace gc::internal {

namespace {

using alloc::Heap;
using Clock = std::chrono::steady_clock;

thread_local bool t_collecting = false;  // Owned by the thread.
// The background collector's thread ("gcrt-gc"). Owned by the thread.
thread_local bool t_background_collector = false;
// Set by the background thread around its own cycle: where Collect leaves
// the cycle's record, reported once the cycle no longer counts as running
// (BackgroundLoop). Owned by the thread.
thread_local std::optional<CycleRecord>* t_deferred_report = nullptr;

int64_t NowNs() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             Clock::now().time_since_epoch())
      .count();
}

uint64_t UnixNs() {
  return static_cast<uint64_t>(
      std::chrono::duration_cast<std::chrono::nanoseconds>(
          std::chrono::system_clock::now().time_since_epoch())
          .count());
}

// The allocator hands back the specials of explicitly freed objects and of
// dead ones the sweeper finds (mark termination has taken the finalizers
// and weak handles of those off already; their cleanups are queued here):
// each kind goes to its owner.
void ReleaseSpecialList(alloc::Special* list) {
  while (list != nullptr) {
    alloc::Special* next = list->next;
    list->next = nullptr;
    switch (list->kind) {
      case alloc::SpecialKind::kWeakHandle:
        ReleaseWeakSpecial(list);
        break;
      case alloc::SpecialKind::kFinalizer:
        ReleaseFinalizerSpecial(list);
        break;
      case alloc::SpecialKind::kHeapProfile:
        ReleaseProfileSpecial(list);
        break;
      case alloc::SpecialKind::kCleanup:
        QueueCleanupSpecial(list);
        break;
    }
    list = next;
  }
}

using runtime::HardwareThreads;

// The mark workers a cycle uses (GCRT_MARK_WORKERS, or one per hardware
// thread), and of them those that mark beside the program in a triggered
// cycle: a quarter, at least one (Go's 25% background utilization), so the
// program keeps the other cores.
uint32_t MarkWorkers(uint32_t configured) {
  return configured != 0 ? configured : HardwareThreads();
}
uint32_t BackgroundWorkers(uint32_t workers) {
  return std::max(1u, workers / 4);
}

// The workers a cycle's marking used (gctrace's and CycleEvent's figure):
// a triggered cycle marking beside the program, BackgroundWorkers; any
// other, all of them. (The stops use all of them either way.)
uint32_t MarkingWorkers(uint32_t workers, bool concurrent, bool triggered) {
  return concurrent && triggered ? BackgroundWorkers(workers) : workers;
}
// Their share of the machine's hardware threads (at most one half).
double BackgroundUtilization(uint32_t workers) {
  const double procs = HardwareThreads();
  return std::min(0.5, BackgroundWorkers(workers) / procs);
}

}  // namespace

Collector& Collector::Get() {
  static Collector* c = new Collector();  // lives for the process
  return *c;
}

Collector::Collector() : start_time_(Clock::now()) {
  // Refused values have been reported (runtime/env.h) and give defaults.
  gc_percent_ = runtime::env::GcPercentFromEnv();
  memory_limit_ = runtime::env::MemoryLimitFromEnv();
  min_heap_ = runtime::env::MinHeapFromEnv();
  Heap::Get().pages().SetLimit(memory_limit_);
  mark_workers_ = runtime::env::MarkWorkersFromEnv();
  // Read now as the rest, so that a refused GCRT_STACK_SCAN is reported
  // when the collector starts, not at the first stack scan.
  (void)runtime::StackScanEnabled();
  const runtime::env::DebugSettings debug = runtime::env::DebugFromEnv();
  verify_ = debug.verify;
  concurrent_ = debug.concurrent;
  concurrent_on_.store(concurrent_, std::memory_order_relaxed);
  crosscheck_ = debug.crosscheck;
  trace_ = debug.gctrace;
  Heap::Get().pages().SetScavTrace(debug.scavtrace);
  if (!debug.gclog.empty()) {
    runtime::MutexLock lock(&events_mu_);
    gclog_ = std::fopen(debug.gclog.c_str(), "a");
    if (gclog_ == nullptr) {
      runtime::Print("GCRT_DEBUG gclog=%s: cannot open the file (%s); no log",
                     debug.gclog.c_str(), std::strerror(errno));
    } else {
      reporting_.store(true, std::memory_order_relaxed);
    }
  }
  if (debug.census) std::atexit(&PrintCensusAtExit);
  if (debug.mem_profile_rate) alloc::SetMemProfileRate(*debug.mem_profile_rate);
  if (!debug.heap_profile.empty()) WriteHeapProfileAtExit(debug.heap_profile);
  // Zeal poisons what it reclaims (a missing root fails at once), unless
  // the quarantine is turned off explicitly.
  SetReclaimQuarantine(
      debug.quarantine.value_or(kReclaimQuarantineDefault || debug.zeal != 0));
  alloc::SetZeal(debug.zeal);
  last_gc_ns_.store(NowNs(), std::memory_order_relaxed);
  {
    runtime::MutexLock lock(&mu_);
    SetNextGcLocked(0);
    // A limit from the environment bounds retained memory from the start.
    PaceScavengerLocked(/*cycle_done=*/false);
  }
  static const Heap::CollectorHooks hooks = {
      .sweep_taken = &Sweeper::SweepTaken,
      .sweep_for_refill = &Sweeper::SweepForRefill,
      .sweep_cached = &Sweeper::SweepCached,
      .trigger = &Collector::Trigger,
      .sweep_credit = &Sweeper::Credit,
      .blocking = &OnBlocking,
      .zeal = &Collector::Zeal,
      .collect_for_memory = &Collector::CollectForMemory,
      .out_of_memory = &Collector::OutOfMemory,
      .profile_alloc = &ProfileAlloc,
  };
  Heap& heap = Heap::Get();
  alloc::SetSpecialFreeHook(&ReleaseSpecialList);
  heap.pages().SetReclaimHook(&Sweeper::Reclaim);
  heap.SetCollectorHooks(&hooks);
  Sweeper::Get().StartBackground(&Collector::Periodic);
  InstallForkHandlers();
  if (debug.census_signal != 0) StartCensusOnSignal(debug.census_signal);
}

void Collector::SetNextGcLocked(int64_t marked_heap) {
  // The sums are taken in 128 bits and saturate below INT64_MAX (which
  // means "off"): no gc_percent or marked figure can wrap the goal.
  constexpr __int128 kMaxGoal = INT64_MAX - 1;
  // Memory held outside the heap for GC objects (gc::add_external_memory)
  // counts as live heap: the goal grows with what live objects hold, and
  // the trigger is compared with heap_live plus the total
  // (Heap::PacedLive). What live objects hold is estimated at each cycle's
  // end (Heap::TakeExternalLow), and known once its sweep is over
  // (PaceExternalAfterSweep).
  const int64_t external = external_live_;
  const int64_t marked = static_cast<int64_t>(
      std::min<__int128>(__int128{marked_heap} + external, kMaxGoal));
  __int128 goal;
  if (gc_percent_ < 0) {
    goal = INT64_MAX;
  } else {
    goal = std::min(marked + __int128{marked} * gc_percent_ / 100, kMaxGoal);
    // A minimum set below the built-in floor is honoured too (a program
    // that wants small heaps and frequent cycles).
    goal = std::max<__int128>(
        goal, std::min<__int128>(min_heap_ != 0 ? min_heap_ : kMinHeapGoal,
                                 kMaxGoal));
  }
  if (memory_limit_ != 0) {
    // Under a limit the next cycle comes by 7/8 of it, so sweeping and
    // fragmentation have room; never sooner than 1 MiB past what is live
    // (a heap that is almost all live collects often, not constantly).
    // SetMemoryLimit keeps the limit below 2^63 (NormalizeMemoryLimit).
    GCRT_DCHECK(memory_limit_ < runtime::env::kNoMemoryLimitFrom);
    // The limit is the heap's: external memory is above it.
    const __int128 cap = memory_limit_ / 8 * 7 + external;
    const __int128 floor = std::min(__int128{marked} + (1 << 20), kMaxGoal);
    goal = std::min(goal, std::max(cap, floor));
  }
  // Marking beside the program starts early enough to end by the goal
  // (Go 1.18's pacer): the bytes the program will allocate while it marks
  // are the cons/mark ratio times the scan work expected (the last
  // cycle's), scaled by the program's share of the CPU over the marking's
  // (1 - u) / u; the trigger is that far below the goal, between
  // kMinTriggerPercent and kMaxTriggerPercent of the way from the marked
  // bytes to it (kTriggerPercent before any cycle was measured), and never
  // less than 1 MiB ahead of them.
  __int128 trigger = goal;
  if (concurrent_ && goal != INT64_MAX) {
    const __int128 distance = std::max<__int128>(goal - marked, 0);
    __int128 at = marked + distance * kTriggerPercent / 100;
    if (cons_mark_ > 0) {
      const double u = BackgroundUtilization(MarkWorkers(mark_workers_));
      const double runway =
          cons_mark_ * (1 - u) / u * static_cast<double>(last_scan_work_);
      at = goal - static_cast<__int128>(std::min(runway, 9e18));
      at =
          std::clamp<__int128>(at, marked + distance * kMinTriggerPercent / 100,
                               marked + distance * kMaxTriggerPercent / 100);
    }
    trigger = std::max<__int128>(
        at, std::min<__int128>(goal, __int128{marked} + (1 << 20)));
  }
  Heap::Get().SetNextGc(static_cast<int64_t>(goal),
                        static_cast<int64_t>(trigger));
}

void Collector::PaceScavengerLocked(bool cycle_done) {
  uint64_t goal = alloc::PageHeap::kNoScavengeGoal;
  const int64_t heap_goal = Heap::Get().next_gc();
  if ((cycle_done || stats_.num_gc > 0) && heap_goal != INT64_MAX) {
    // The goal counts the external memory live objects hold
    // (SetNextGcLocked), which is not in the heap: what the heap itself
    // may hold by the goal is the rest, and that is what is retained.
    const auto g =
        static_cast<uint64_t>(std::max<int64_t>(heap_goal - external_live_, 0));
    goal = g + g / 100 * kScavengeRetainExtraPercent;
  }
  if (memory_limit_ != 0) {
    goal = std::min(goal, memory_limit_ / 100 * kScavengeLimitPercent);
  }
  Heap::Get().pages().SetScavengeGoal(goal);
}

void Collector::Trigger() {
  Collector& c = Get();
  if (!c.concurrent_on_.load(std::memory_order_relaxed)) {
    c.Collect(GcReason::kTriggered);
    return;
  }
  Heap& heap = Heap::Get();
  // External memory counts as the heap does (Heap::PacedLive): a program
  // that drops objects owning large buffers waits here too, rather than
  // add gigabytes while one cycle marks.
  const auto past_slip = [&heap] {
    const int64_t goal = heap.next_gc();
    const int64_t slip = goal / 100 * kMaxOvershootPercent;
    return heap.PacedLive() >=
           (goal > INT64_MAX - slip ? INT64_MAX : goal + slip);
  };
  // A small marking: this thread runs the cycle (kInlineCycleMaxScanWork);
  // the other threads go on meanwhile, and wait for it past the slip.
  // So does every trigger while the background thread runs a cycle
  // callback, which may wait for this thread.
  const auto collect_here = [&] {
    if (!c.inline_busy_.load(std::memory_order_relaxed) &&
        !c.inline_busy_.exchange(true, std::memory_order_acquire)) {
      struct Done {
        ~Done() { Get().inline_busy_.store(false, std::memory_order_release); }
      } done;
      c.Collect(GcReason::kTriggered);
    } else if (past_slip()) {
      c.WaitForRunningCycle();
    }
  };
  if (c.inline_cycles_.load(std::memory_order_relaxed) ||
      c.background_reporting_.load(std::memory_order_relaxed)) {
    collect_here();
    return;
  }
  // Marking beside the program: the background thread runs the cycle and
  // this allocation goes on, paying for it with a mark assist (past the
  // goal, with all the work it finds); past the goal by kMaxOvershootPercent
  // while it runs, the allocating thread waits for it (Go lets the goal
  // slip by as much rather than stop a thread whose assist found nothing
  // left to scan but the background worker's last buffers). With no
  // background thread (the system refused one), this thread runs it.
  if (!c.RequestBackgroundCycle()) {
    collect_here();
    return;
  }
  if (WriteBarrierOn()) c.Assist();
  if (past_slip()) c.WaitForBackgroundCycle();
}

void Collector::WaitForRunningCycle() {
  if (CollectingOnThisThread() || runtime::InBlockingRegion()) return;
  runtime::BlockingRegion waiting(runtime::HandOff::kNo);
  runtime::MutexLock lock(&cycle_mu_);
  while (cycle_running_) cycle_done_.Wait(&cycle_mu_);
}

void Collector::Assist() {
  // Debt from an earlier marking is forgotten: each pays for its own.
  static thread_local uint64_t charged_cycle = 0;
  int64_t& debt = alloc::t_assist_debt;
  const uint64_t cycle = cycles_.load(std::memory_order_relaxed);
  if (charged_cycle != cycle) {
    charged_cycle = cycle;
    debt = 0;
  }
  Heap& heap = Heap::Get();
  const int64_t live = heap.PacedLive();  // the goal counts external memory
  const int64_t goal = heap.next_gc();
  const bool past_goal = live >= goal;
  if ((debt < kAssistDebtBytes && !past_goal) || CollectingOnThisThread() ||
      runtime::InBlockingRegion()) {
    return;
  }
  // Scan work per byte allocated, so that the work left is done by the
  // time the heap reaches its goal (Go's assistWorkPerByte). A marking
  // that has done more than expected (a growing heap) asks little more
  // of assists: the goal, and the wait there, bound it.
  const int64_t work_left = std::max(
      assist_expected_work_.load(std::memory_order_relaxed) - MarkWorkDone(),
      kAssistMinWork);
  const int64_t heap_left = std::max(goal - live, kAssistMinWork);
  const double per_byte =
      static_cast<double>(work_left) / static_cast<double>(heap_left);
  int64_t budget =
      past_goal
          ? INT64_MAX
          : std::max(kAssistMinWork, static_cast<int64_t>(
                                         static_cast<double>(debt) * per_byte));
  if (!past_goal) {
    // The background workers' surplus pays first (Go's bgScanCredit): a
    // thread assists only when they fall behind the goal's pace.
    const int64_t credit = TakeBackgroundCredit(budget);
    if (credit == budget) {
      debt = 0;
      return;
    }
    budget -= credit;
    debt -= static_cast<int64_t>(static_cast<double>(credit) / per_byte);
  }
  const int64_t start = NowNs();
  const int64_t scanned = AssistMarking(budget);
  if (scanned == 0) {
    debt = 0;
    return;
  }
  assist_ns_.fetch_add(NowNs() - start, std::memory_order_relaxed);
  assist_count_.fetch_add(1, std::memory_order_relaxed);
  debt = scanned < budget ? 0
                          : debt - static_cast<int64_t>(
                                       static_cast<double>(scanned) / per_byte);
}

bool Collector::RequestBackgroundCycle() {
  if (background_busy_.load(std::memory_order_acquire) ||
      background_busy_.exchange(true, std::memory_order_acq_rel)) {
    return true;  // requested or running already
  }
  runtime::MutexLock lock(&background_mu_);
  if (!background_started_) {
    std::string why;
    if (!runtime::StartDetachedThread([this] { BackgroundLoop(); }, &why)) {
      // Nobody would ever clear background_busy_: every trigger would
      // wait for a cycle that never comes. Tried again at the next one.
      background_busy_.store(false, std::memory_order_release);
      static std::atomic<bool> told{false};
      if (!told.exchange(true, std::memory_order_relaxed)) {
        runtime::Print(
            "cannot start the background collector's thread (%s): triggered "
            "cycles run on the allocating thread meanwhile",
            why.c_str());
      }
      return false;
    }
    background_started_ = true;
  }
  background_requested_ = true;
  background_cv_.NotifyOne();
  return true;
}

void Collector::WaitForBackgroundCycle() {
  // The background thread allocating in a cycle callback runs its own
  // cycles meanwhile (Trigger), and must never wait for itself.
  if (!background_busy_.load(std::memory_order_acquire) ||
      CollectingOnThisThread() || t_background_collector ||
      runtime::InBlockingRegion()) {
    return;
  }
  // Blocked, so the cycle's stops do not wait for this thread. A task's
  // worker keeps its slot: the other tasks would only wait here too.
  runtime::BlockingRegion waiting(runtime::HandOff::kNo);
  runtime::MutexLock lock(&background_mu_);
  while (background_busy_.load(std::memory_order_acquire)) {
    background_done_cv_.Wait(&background_mu_);
  }
}

void Collector::BackgroundLoop() {
  runtime::SetCurrentThreadName("gcrt-gc");
  t_background_collector = true;
  for (;;) {
    runtime::ClearDeadStack();  // the last cycle's pointers (stack.h)
    {
      // It holds a processor after its first cycle: it waits blocked.
      runtime::BlockingRegion idle;
      runtime::MutexLock lock(&background_mu_);
      while (!background_requested_) background_cv_.Wait(&background_mu_);
      background_requested_ = false;
    }
    std::optional<CycleRecord> record;
    t_deferred_report = &record;
    try {
      Collect(GcReason::kTriggered);
    } catch (const std::bad_alloc& e) {
      runtime::Print("background collection skipped: %s", e.what());
    }
    t_deferred_report = nullptr;
    if (record) background_reporting_.store(true, std::memory_order_relaxed);
    {
      runtime::MutexLock lock(&background_mu_);
      background_busy_.store(false, std::memory_order_release);
      background_done_cv_.NotifyAll();
    }
    // The callback runs once no thread waits for this cycle: it may wait
    // for one that allocates (a join, a channel send), whose triggers run
    // their own cycles meanwhile (Trigger).
    if (record) {
      Report(*record);
      background_reporting_.store(false, std::memory_order_relaxed);
    }
  }
}

void Collector::Zeal() { Get().Collect(GcReason::kZeal); }

bool Collector::CollectForMemory() {
  Collector& c = Get();
  const uint64_t before = c.cycles_.load(std::memory_order_acquire);
  try {
    c.Collect(GcReason::kMemory);
    // The quarantine (on by default in debug builds) keeps what a cycle
    // finds dead until the next cycle's sweep: one more cycle frees it, or
    // a debug build would refuse an allocation a release build makes (the
    // out-of-memory callback's dropped cache would still be held).
    if (g_reclaimed.load(std::memory_order_relaxed) != 0) {
      c.Collect(GcReason::kMemory);
    }
  } catch (const std::bad_alloc&) {
    return false;  // no memory for the cycle's metadata either
  }
  return c.cycles_.load(std::memory_order_acquire) != before;
}

void Collector::SetOutOfMemoryCallback(OutOfMemoryCallback callback) {
  runtime::MutexLock lock(&oom_mu_);
  oom_callback_ = std::move(callback);
}

bool Collector::OutOfMemory(size_t bytes) {
  Collector& c = Get();
  OutOfMemoryCallback callback;
  uint64_t limit;
  {
    runtime::MutexLock lock(&c.oom_mu_);
    if (!c.oom_callback_) return false;
    callback = c.oom_callback_;  // run with no lock of gcrt held
  }
  {
    runtime::MutexLock lock(&c.mu_);
    limit = c.memory_limit_;
  }
  const int64_t live = Heap::Get().heap_live();
  callback(bytes, limit, live > 0 ? static_cast<uint64_t>(live) : 0);
  return true;
}

int64_t Collector::Periodic() {
  Collector& c = Get();
  // Called after each of the background sweeper's walks.
  c.PaceExternalAfterSweep();
  const int64_t period = std::chrono::nanoseconds(PeriodicGcInterval()).count();
  if (c.gc_percent() < 0) return NowNs() + period;
  if (NowNs() - c.last_gc_ns_.load(std::memory_order_relaxed) >= period) {
    try {
      c.Collect(GcReason::kPeriodic);
    } catch (const std::bad_alloc& e) {
      // Out of memory for the collector's metadata: try again next period.
      runtime::Print("periodic collection skipped: %s", e.what());
    }
  }
  // Never in the past (a skipped cycle would make the thread spin).
  return std::max(c.last_gc_ns_.load(std::memory_order_relaxed) + period,
                  NowNs() + std::max<int64_t>(period / 16, 1000000));
}

bool Collector::CollectingOnThisThread() { return t_collecting; }

void Collector::RestartThreadsAfterFork() {
  if (!restart_threads_.exchange(false, std::memory_order_relaxed)) return;
  Sweeper::Get().StartBackground(&Collector::Periodic);
  RestartFinalizerThreadAfterFork();
  Heap::Get().RestartThreadsAfterFork();
  RestartCensusSignalThreadAfterFork();
}

// One cycle's state, carried through its phases.
struct Collector::Cycle {
  GcReason reason;
  bool triggered;
  // Configuration, read once at the start.
  uint32_t workers = 0;
  bool verify = false;
  bool crosscheck = false;
  bool trace = false;
  uint64_t cycles_seen = 0;  // cycles_ when this one was asked for
  // Its number (gc::Stats::num_gc once it ends), taken once it runs: a
  // cycle asked for while another ran (gc::collect(), zeal) waited for it,
  // so cycles_seen + 1 may be a number that cycle took.
  uint64_t number = 0;
  // 1. Sweep termination. t_stop_asked: the request to stop the world;
  // t_stop: every processor stopped.
  int64_t t_stop_asked = 0;
  int64_t t_stop = 0;
  int64_t t_swept = 0;  // sweep termination's own work done
  int64_t heap_before = 0;
  int64_t goal = 0;         // next_gc then: the heap goal this cycle serves
  int64_t trigger = 0;      // the heap's trigger then
  uint32_t sweepgen = 0;    // the heap's, before mark termination moves it
  bool concurrent = false;  // marking beside the program (barrier.h)
  // 2. Mark. Concurrently: t_restart ends the first stop, t_stop2 starts
  // the second (mark termination's).
  int64_t t_restart = 0;
  int64_t t_stop2_asked = 0;
  int64_t t_stop2 = 0;
  int64_t heap_at_stop2 = 0;  // heap_live then
  int64_t assist_ns = 0;      // allocating threads' mark assists
  uint64_t assists = 0;
  DeferredObjects deferred{};  // what the concurrent marker left to the stop
  MarkResult marked{};
  int64_t t_marked = 0;
  uint64_t verified = 0;
  // 3. Mark termination, from t_term (the marking and its verification
  // done): weak references, finalizers and quarantine until t_weak, the
  // sweepgen flip until t_flipped, the caches flushed by t_flushed, pacing
  // and the record until t_end (CycleRecord's stop parts).
  int64_t t_term = 0;
  int64_t t_weak = 0;
  int64_t t_flipped = 0;
  int64_t t_flushed = 0;
  uint64_t weak_cleared = 0;
  uint64_t ephemerons_removed = 0;
  uint64_t finalizers_queued = 0;
  int64_t next_gc = 0;
  int64_t t_end = 0;
  // Caches of processors stopped at a safepoint: each flushes itself when
  // its processor resumes (an explicit cycle waits for them).
  std::vector<alloc::Cache*> resuming;
};

namespace {

// Attaches the calling thread for one call (gc::collect(), the census,
// why_alive) and detaches it after if it was not attached before: a thread
// that only collects or watches the heap stays one the world does not
// wait for, so its plain waits between calls hold up no stop (a new user's
// monitor thread, calling gc::census() and sleeping, held every pause of
// the program for its 400 ms sleeps).
class AttachedForCall {
 public:
  AttachedForCall() : attached_here_(runtime::CurrentProcessor() == nullptr) {
    alloc::AttachCurrentThread();
  }
  ~AttachedForCall() {
    if (attached_here_) alloc::DetachCurrentThread();
  }
  AttachedForCall(const AttachedForCall&) = delete;
  AttachedForCall& operator=(const AttachedForCall&) = delete;

 private:
  const bool attached_here_;
};

}  // namespace

void Collector::Collect(GcReason reason) {
  // The callers' callee-saved registers into this frame: the stack scan
  // (runtime/stack.h) covers the collecting thread from here up.
  __builtin_unwind_init();
  Cycle c{reason, reason == GcReason::kTriggered};
  if (!Admit(c)) return;
  // Destroyed last, after the record went out.
  AttachedForCall attached;
  // The record goes out once the cycle lock is released and this thread
  // no longer counts as collecting (destroyed after `leave` and `reset`):
  // the callback may allocate, read stats, or collect.
  struct Reported {
    std::optional<CycleRecord> record;
    ~Reported() {
      if (!record) return;
      if (t_deferred_report != nullptr) {
        *t_deferred_report = std::move(record);
      } else {
        Collector::Get().Report(*record);
      }
    }
  } reported;
  t_collecting = true;
  struct Reset {
    ~Reset() { t_collecting = false; }
  } reset;
  if (GCRT_PREDICT_FALSE(restart_threads_.load(std::memory_order_relaxed))) {
    RestartThreadsAfterFork();
  }
  if (!ReadConfig(c)) return;
  // One cycle at a time: a concurrent one runs with the world running.
  if (!EnterCycle(c)) return;
  struct Leave {
    ~Leave() { Collector::Get().LeaveCycle(); }
  } leave;
  // The last sweep is finished by mutators and the background sweeper;
  // whatever is left is finished here, with the world running.
  Sweeper::Get().Finish();
  ReserveSweepBits(kSweepBitsSlackPercent);
  StartMarkThreads(c.workers);
  c.t_stop_asked = NowNs();
  runtime::StopTheWorld("garbage collection");
  RunHook(&TestHook::stopped);
  bool run;
  try {
    run = SweepTermination(c);
  } catch (...) {
    runtime::StartTheWorld();
    throw;
  }
  if (!run) {
    runtime::StartTheWorld();
    return;
  }
  if (c.concurrent) {
    MarkBesideProgram(c);
  } else {
    Mark(c);
  }
  MarkTermination(c);
  runtime::StartTheWorld();
  Sweep(c);
  if (c.trace) Trace(c);
  if (reporting_.load(std::memory_order_relaxed)) {
    reported.record = MakeRecord(c);
  }
}

void Collector::RunWithHeapSwept(const char* why, const char* api,
                                 const std::function<void()>& fn) {
  __builtin_unwind_init();  // the callers' registers, for the stack scan
  Cycle c{GcReason::kExplicit, false};
  if (!Admit(c, api)) return;
  AttachedForCall attached;
  if (!EnterCycle(c)) return;
  struct Leave {
    ~Leave() { Collector::Get().LeaveCycle(); }
  } leave;
  // Spans the program takes from now on come swept (alloc/sweepgen.h).
  Sweeper::Get().Finish();
  runtime::StopTheWorld(why);
  try {
    fn();
  } catch (...) {
    runtime::StartTheWorld();
    throw;
  }
  runtime::StartTheWorld();
}

bool Collector::Admit(const Cycle& c, const char* api) {
  // Cycles the allocator starts are skipped where none can run.
  const bool quiet = c.triggered || c.reason == GcReason::kZeal ||
                     c.reason == GcReason::kMemory;
  if (InDestructor()) {
    if (quiet) return false;
    throw std::logic_error(
        std::string("gcrt: ") + api +
        " called from the destructor of a GC object (run by the "
        "collector's sweep or by gc::free): "
        "destructors of GC objects must not use the "
        "collector");
  }
  if (InMarker()) {
    runtime::Print(
        "gc::collect() or an allocation was called while marking (from a "
        "root set callback or a trace function)");
    GCRT_FATAL("no collection starts while marking");
  }
  if (runtime::InBlockingRegion()) {
    if (quiet) return false;
    throw std::logic_error(std::string("gcrt: ") + api +
                           " inside a blocking region (gc::Blocking): leave "
                           "the region first");
  }
  if (GCRT_PREDICT_FALSE(refuse_after_fork_.load(std::memory_order_relaxed))) {
    throw std::logic_error(
        "gcrt: this process is the child of a fork() called from inside "
        "gcrt (a destructor the collector runs, a trace function, a root "
        "set callback or gc::free); its GC heap cannot collect. Fork "
        "outside those");
  }
  return !t_collecting;
}

bool Collector::ReadConfig(Cycle& c) {
  c.cycles_seen = cycles_.load(std::memory_order_acquire);
  runtime::MutexLock lock(&mu_);
  // GOGC=off: no cycle but an explicit one (Go's runtime.GC), and,
  // under a memory limit, those the limit triggers (Go's GOMEMLIMIT).
  if (gc_percent_ < 0 && (c.reason == GcReason::kPeriodic ||
                          ((c.triggered || c.reason == GcReason::kMemory) &&
                           memory_limit_ == 0))) {
    return false;
  }
  c.workers = MarkWorkers(mark_workers_);
  c.verify = verify_;
  c.concurrent = concurrent_;
  c.crosscheck = crosscheck_;
  c.trace = trace_;
  return true;
}

bool Collector::SweepTermination(Cycle& c) {
  Heap& heap = Heap::Get();
  Sweeper& sweeper = Sweeper::Get();
  runtime::RecordStack(runtime::CurrentProcessor(), runtime::ApproximateSp());
  c.t_stop = NowNs();
  bool skip = false;
  if (c.triggered) {
    // Another thread's cycle may have run while this one waited.
    skip = cycles_.load(std::memory_order_relaxed) != c.cycles_seen ||
           heap.PacedLive() < heap.trigger();
  } else if (c.reason == GcReason::kPeriodic) {
    // Forced only when no cycle ran for a whole period (seed 003).
    auto period = std::chrono::nanoseconds(PeriodicGcInterval());
    skip =
        c.t_stop - last_gc_ns_.load(std::memory_order_relaxed) < period.count();
  }
  if (skip) return false;
  // Cycles run one at a time (EnterCycle): cycles_ is the last one's.
  c.number = cycles_.load(std::memory_order_relaxed) + 1;
  c.heap_before = heap.heap_live();
  c.goal = heap.next_gc();
  c.trigger = heap.trigger();

  // Every span was swept, and every cache flushed, since the last mark
  // termination: mark bits start clean.
  sweeper.Finish();
  c.sweepgen = heap.sweepgen();
  CheckCachesFlushed(c.sweepgen);
  // Debug builds (--config=gcdebug): the allocator's structures are whole
  // at the one point where nothing is cached, nothing is being swept and
  // nothing runs.
  GCRT_DCHECK_EXPENSIVE(VerifyAllocator());
  GCRT_DCHECK_EXPENSIVE(InUseCountsMatch());
  // The same slack as before the stop: nothing to map or zero here.
  ReserveSweepBits(kSweepBitsSlackPercent);  // may throw std::bad_alloc
  c.t_swept = NowNs();
  return true;
}

void Collector::CheckCachesFlushed(uint32_t h) {
  for (runtime::Processor* p = runtime::ProcessorTable::Get().all();
       p != nullptr; p = p->next_all()) {
    auto* cache = static_cast<alloc::Cache*>(p->local());
    if (cache->flush_gen() != h) {
      runtime::Print(
          "processor %u's cache was last flushed at sweepgen %u, but the heap "
          "is at %u: the processor resumed without flushing",
          p->id(), cache->flush_gen(), h);
      GCRT_THROW("every cache is flushed before a new cycle starts (seed 002)");
    }
  }
}

bool Collector::VerifyAllocator() {
  Heap& heap = Heap::Get();
  for (int sc = 0; sc < alloc::kNumSpanClasses; sc++) {
    if (!heap.central(static_cast<alloc::SpanClass>(sc)).Verify()) return false;
  }
  return heap.pages().Verify();
}

bool Collector::InUseCountsMatch() {
  const alloc::PageHeap& pages = Heap::Get().pages();
  uint64_t words = 0, vectors = 0;
  for (size_t i = 0, n = pages.SpanRecordCount(); i < n; i++) {
    const alloc::Span* s = pages.SpanRecord(i);
    if (s->state.load(std::memory_order_relaxed) == alloc::SpanState::kInUse) {
      words += alloc::PaddedBitWords(s->nwords);
      vectors++;
    }
  }
  if (words == pages.inuse_bit_words() && vectors == pages.inuse_spans()) {
    return true;
  }
  runtime::Print(
      "the page heap counts %lu spans in use with %lu bit words; the span "
      "records hold %lu with %lu",
      static_cast<unsigned long>(pages.inuse_spans()),
      static_cast<unsigned long>(pages.inuse_bit_words()),
      static_cast<unsigned long>(vectors), static_cast<unsigned long>(words));
  return false;
}

void Collector::ReserveSweepBits(uint64_t extra_percent) {
  // The coming sweep's mark bits are set aside now, while a failure can
  // still refuse the cycle with nothing changed (alloc/gc_bits.h): once a
  // span is being swept there is no way back. The page heap counts what
  // the spans in use need (PageHeap::NoteInUse), so the stop walks
  // nothing; Collect reserves once before it, with room for the spans
  // allocated until the world stops, so that arenas are mapped and zeroed
  // while the program runs.
  Heap& heap = Heap::Get();
  const uint64_t words = heap.pages().inuse_bit_words();
  heap.gc_bits().ReserveForSweep(words + words / 100 * extra_percent,
                                 heap.pages().inuse_spans());
}

void Collector::Mark(Cycle& c) {
  if (c.verify) SnapshotOwnStack();
  c.marked = MarkHeap(c.workers);
  c.t_marked = NowNs();
  RunHook(&TestHook::marked);
  if (c.verify) {
    c.verified = VerifyMarking();
    SetStackSnapshot(nullptr, nullptr);
  }
}

void Collector::SnapshotOwnStack() {
  runtime::Processor* self = runtime::CurrentProcessor();
  const runtime::StackRecord& r = self->stack();
  runtime::CopyStackWords(r.sp, r.hi, &own_stack_);
  SetStackSnapshot(self, &own_stack_);
}

void Collector::MarkBesideProgram(Cycle& c) {
  StartMarking(c.workers);
  {
    runtime::MutexLock lock(&mu_);
    // The first cycle has no scan work measured: at most everything is.
    assist_expected_work_.store(
        last_scan_work_ != 0 ? last_scan_work_ : c.heap_before,
        std::memory_order_relaxed);
  }
  assist_ns_.store(0, std::memory_order_relaxed);
  assist_count_.store(0, std::memory_order_relaxed);
  c.t_restart = NowNs();
  runtime::StartTheWorld();
  RunHook(&TestHook::concurrent);
  {
    // Other threads' stops need not wait for this one while it marks. A
    // task keeps its worker's slot (HandOff::kNo): tasks that allocate
    // meanwhile wait for this cycle on theirs (WaitForRunningCycle), and a
    // slot given away here might not come back until the cycle ends.
    runtime::BlockingRegion marking(runtime::HandOff::kNo);
    // A triggered cycle: BackgroundWorkers, and the allocating threads'
    // assists. One someone waits for (gc::collect): all of them.
    MarkConcurrently(c.triggered ? BackgroundWorkers(c.workers) : c.workers);
  }
  RunHook(&TestHook::drained);
  c.t_stop2_asked = NowNs();
  runtime::StopTheWorld("garbage collection: mark termination");
  c.t_stop2 = NowNs();
  c.heap_at_stop2 = Heap::Get().heap_live();
  runtime::RecordStack(runtime::CurrentProcessor(), runtime::ApproximateSp());
  if (c.verify) SnapshotOwnStack();
  c.marked = FinishMarking(&c.deferred);
  c.assist_ns = assist_ns_.load(std::memory_order_relaxed);
  c.assists = assist_count_.load(std::memory_order_relaxed);
  c.t_marked = NowNs();
  RunHook(&TestHook::marked);
  if (c.verify) {
    c.verified = VerifyMarking();
    SetStackSnapshot(nullptr, nullptr);
  }
}

bool Collector::EnterCycle(const Cycle& c) {
  // Waiting, this thread must not hold up the running cycle's stops. A
  // task keeps its worker's slot, as in WaitForRunningCycle: given away,
  // the slot could go to tasks that wait for the cycle this one is about
  // to run, and it would wait for them in turn (a new user's program, 20
  // tasks calling gc::collect() beside allocating threads, hung so).
  runtime::BlockingRegion waiting(runtime::HandOff::kNo);
  runtime::MutexLock lock(&cycle_mu_);
  while (cycle_running_) {
    // A triggered cycle is the running one's job already. A zeal cycle is
    // not: zeal promises a cycle every N allocations, and with threads or
    // tasks allocating at once a cycle runs most of the time, so taking
    // the running one for it left a fraction of the cycles (4 of 600 in a
    // new user's run of 40 tasks), and a missing root unfound.
    if (c.triggered || c.reason == GcReason::kPeriodic) return false;
    cycle_done_.Wait(&cycle_mu_);
  }
  cycle_running_ = true;
  return true;
}

void Collector::LeaveCycle() {
  runtime::MutexLock lock(&cycle_mu_);
  cycle_running_ = false;
  cycle_done_.NotifyAll();
}

void Collector::WaitForCycleAndLockForFork() {
  runtime::BlockingRegion waiting(runtime::HandOff::kNo);
  cycle_mu_.lock();
  while (cycle_running_) cycle_done_.Wait(&cycle_mu_);
}

void Collector::MarkTermination(Cycle& c) {
  Heap& heap = Heap::Get();
  c.t_term = NowNs();
  // Entries of gc::WeakMaps whose keys are unmarked are removed and their
  // values released (gc/ephemeron.h); weak references to unmarked objects
  // are cleared; then unmarked finalizable objects are queued and marked
  // (with what they reach, marked already): a finalizable key's entry is
  // gone before its finalizer runs, as its weak references are; then debug
  // builds' freed objects leave quarantine.
  c.ephemerons_removed = PendingEphemerons::Get().Purge();
  c.weak_cleared = ClearDeadWeakRefs();
  c.marked.bytes_marked += QueueFinalizers(&c.finalizers_queued);
  c.marked.bytes_marked += EndQuarantine();
  CheckReclaimedUnmarked();
  if (c.crosscheck) CrossCheckMarking();
  c.t_weak = NowNs();
  SetSweepCycle(c.number);
  // The flip: every swept span becomes unswept (alloc/sweepgen.h).
  heap.AdvanceSweepgen();
  // A triggered cycle's sweep (and the tests' lazy one, which stands for
  // it) keeps emptied spans for the classes that took as many since the
  // last (Central::Emptied::kKeepIfDue): the program goes on allocating as
  // it did. An explicit cycle, or one under a memory limit, gives every
  // emptied span back to the page heap, where a larger object, another
  // class or the scavenger can have its pages.
  const bool reuse_empties =
      (c.triggered || c.reason == GcReason::kLazyForTesting) &&
      heap.pages().limit() == 0;
  for (int sc = 0; sc < alloc::kNumSpanClasses; sc++) {
    heap.central(static_cast<alloc::SpanClass>(sc)).StartSweep(reuse_empties);
  }
  heap.gc_bits().NextEpoch();
  c.t_flipped = NowNs();
  ProfileNextCycle();
  FlushCaches(c);
  c.t_flushed = NowNs();
  heap.SetHeapLive(static_cast<int64_t>(c.marked.bytes_marked));
  Pace(c);
  RunHook(&TestHook::terminated);
  c.t_end = NowNs();
  RecordCycle(c);
  last_gc_ns_.store(c.t_end, std::memory_order_relaxed);
  cycles_.store(c.number, std::memory_order_release);
}

void Collector::FlushCaches(Cycle& c) {
  // Idle and blocked processors will not resume through a safepoint: their
  // caches are flushed now, the spans going back unswept (seed 002).
  // Processors parked at a safepoint flush (and sweep) their caches when
  // they resume.
  runtime::Processor* self = runtime::CurrentProcessor();
  for (runtime::Processor* p = runtime::ProcessorTable::Get().all();
       p != nullptr; p = p->next_all()) {
    if (p == self) continue;
    auto* cache = static_cast<alloc::Cache*>(p->local());
    runtime::ProcessorStatus st = p->status();
    if (st == runtime::ProcessorStatus::kIdle ||
        st == runtime::ProcessorStatus::kBlocked) {
      cache->ReleaseAll(/*sweep_stale=*/false);
    } else if (st == runtime::ProcessorStatus::kStopped) {
      c.resuming.push_back(cache);
    }
  }
}

void Collector::UpdateConsMarkLocked(const Cycle& c) {
  const double duration = static_cast<double>(c.t_stop2 - c.t_restart);
  // Allocated since the trigger, as Go counts it: what the program
  // allocates while the cycle starts (the background thread wakes, the
  // sweep finishes, the world stops) is runway the next trigger must leave
  // too. Counted from the first stop, a cycle whose threads reached the
  // goal before it stopped the world, and waited there, saw nothing
  // allocated and left the trigger where it was.
  const double allocated =
      static_cast<double>(c.heap_at_stop2 - std::min(c.heap_before, c.trigger));
  if (duration <= 0 || allocated <= 0 || last_scan_work_ == 0) return;
  // The marking's share of the CPU: its background workers, and the time
  // allocating threads spent assisting.
  const double procs = HardwareThreads();
  const double u =
      std::min(0.95, BackgroundUtilization(c.workers) +
                         static_cast<double>(c.assist_ns) / (duration * procs));
  const double current =
      allocated * u / (static_cast<double>(last_scan_work_) * (1 - u));
  // Smoothed over cycles (Go runs a PI controller; an average of the last
  // estimate and this cycle's follows a change within a few cycles).
  cons_mark_ = cons_mark_ == 0 ? current : (cons_mark_ + current) / 2;
}

void Collector::Pace(Cycle& c) {
  Heap& heap = Heap::Get();
  int64_t marked;
  {
    runtime::MutexLock lock(&mu_);
    last_marked_ = static_cast<int64_t>(c.marked.bytes_marked);
    marked = last_marked_;
    // Scan work: what the markers marked (finalizer queue and quarantine
    // included), not what was allocated black.
    last_scan_work_ = std::max<int64_t>(
        0, last_marked_ - static_cast<int64_t>(c.marked.black_bytes));
    if (c.concurrent && c.triggered) UpdateConsMarkLocked(c);
    inline_cycles_.store(last_scan_work_ <= kInlineCycleMaxScanWork,
                         std::memory_order_relaxed);
    external_live_ = heap.TakeExternalLow();
    SetNextGcLocked(last_marked_);
    PaceScavengerLocked(/*cycle_done=*/true);
    c.next_gc = heap.next_gc();
  }
  // Proportional sweep: every page in use must be swept before the heap
  // grows from the marked bytes to the next trigger (with 10% to spare),
  // as Go's sweep pacing: the next cycle's sweep termination then finds
  // nothing left to sweep. The trigger is the goal when marking stops the
  // world, below it when marking runs beside the program.
  const int64_t trigger = heap.trigger();
  double inuse_pages = static_cast<double>(
      heap.pages().ReadStats().inuse_bytes >> alloc::kPageShift);
  double runway_pages =
      trigger == INT64_MAX
          ? 1e18
          : static_cast<double>(std::max<int64_t>(trigger - marked, 1 << 20) >>
                                alloc::kPageShift);
  Sweeper::Get().Start(1.1 * inuse_pages / runway_pages);
  // After the new walk began: PaceExternalAfterSweep, on the background
  // sweeper, may have checked that the last walk was done, and must not
  // then take this cycle's figures before its sweep ran.
  runtime::MutexLock lock(&mu_);
  external_at_termination_ =
      std::min(heap.external_bytes(), Heap::kMaxPacedExternal);
  external_removed_at_termination_ = heap.external_removed();
  external_paced_after_sweep_ = false;
}

void Collector::PaceExternalAfterSweep() {
  Heap& heap = Heap::Get();
  runtime::MutexLock lock(&mu_);
  // Under mu_: Pace takes a cycle's figures after its walk began.
  if (external_paced_after_sweep_ || !Sweeper::Get().WalkDone()) return;
  external_paced_after_sweep_ = true;
  // Removals by objects made since (a buffer shrunk) count too: the
  // figure errs low by those, never high by dead objects.
  const uint64_t removed =
      heap.external_removed() - external_removed_at_termination_;
  const int64_t live =
      removed >= static_cast<uint64_t>(external_at_termination_)
          ? 0
          : external_at_termination_ - static_cast<int64_t>(removed);
  if (live == external_live_) return;
  external_live_ = live;
  SetNextGcLocked(last_marked_);
  PaceScavengerLocked(/*cycle_done=*/true);
}

void Collector::RecordCycle(const Cycle& c) {
  runtime::MutexLock lock(&mu_);
  uint64_t pause =
      static_cast<uint64_t>(c.concurrent ? (c.t_restart - c.t_stop_asked) +
                                               (c.t_end - c.t_stop2_asked)
                                         : c.t_end - c.t_stop_asked);
  const auto ttsp1 = static_cast<uint64_t>(c.t_stop - c.t_stop_asked);
  const auto ttsp2 =
      c.concurrent ? static_cast<uint64_t>(c.t_stop2 - c.t_stop2_asked) : 0;
  // The pause ends at c.t_end (monotonic); the Unix clock read now, less
  // the time since then, dates it on the clock users compare with.
  const uint64_t end_unix = UnixNs() - static_cast<uint64_t>(NowNs() - c.t_end);
  stats_.pause_ns[stats_.num_gc % kPauseRing] = pause;
  stats_.pause_end_unix_ns[stats_.num_gc % kPauseRing] = end_unix;
  stats_.pause_max_ns = std::max(stats_.pause_max_ns, pause);
  stats_.ttsp_ns[stats_.num_gc % kPauseRing] = ttsp1 + ttsp2;
  stats_.ttsp_total_ns += ttsp1 + ttsp2;
  stats_.ttsp_max_ns = std::max({stats_.ttsp_max_ns, ttsp1, ttsp2});
  stats_.num_gc++;
  if (!c.triggered && c.reason != GcReason::kZeal &&
      c.reason != GcReason::kMemory) {
    stats_.num_forced_gc++;
  }
  stats_.pause_total_ns += pause;
  stats_.last_gc_unix_ns = end_unix;
  stats_.last_marked_bytes = c.marked.bytes_marked;
  stats_.last_marked_objects = c.marked.objects_marked;
  stats_.last_mark_helpers_offered = c.marked.helpers_offered;
  stats_.last_mark_workers_joined = c.marked.workers_joined;
  stats_.verified_objects += c.verified;
  stats_.weak_refs_cleared += c.weak_cleared;
  stats_.weak_map_entries_removed += c.ephemerons_removed;
  stats_.finalizers_queued += c.finalizers_queued;
  stats_.concurrent_cycles += c.concurrent ? 1 : 0;
  stats_.deferred_objects += c.deferred.objects;
  stats_.deferred_bytes += c.deferred.bytes;
  stats_.mark_assists += c.assists;
  stats_.mark_assist_ns += static_cast<uint64_t>(c.assist_ns);
  // As Go's GCCPUFraction: a stop takes every CPU; marking beside the
  // program, its workers (at most one per CPU) and the assists.
  const uint64_t cpus = HardwareThreads();
  const uint64_t concurrent_ns =
      c.concurrent ? static_cast<uint64_t>(c.t_stop2 - c.t_restart) : 0;
  const uint32_t concurrent_workers =
      MarkingWorkers(c.workers, c.concurrent, c.triggered);
  gc_cpu_ns_ += pause * cpus +
                concurrent_ns * std::min<uint64_t>(concurrent_workers, cpus) +
                static_cast<uint64_t>(c.assist_ns);
}

void Collector::Sweep(const Cycle& c) {
  Heap& heap = Heap::Get();
  Sweeper& sweeper = Sweeper::Get();
  // This thread resumes like any other: it flushes its own cache, sweeping
  // the spans it held.
  static_cast<alloc::Cache*>(runtime::CurrentProcessor()->local())
      ->PrepareForSweep();
  FreeQuarantined();
  ProfileFlush();
  // Starts the sweeper's thread if the system refused it before (returns
  // at once when it runs); WakeScavenger, below, does the same.
  sweeper.StartBackground(&Collector::Periodic);
  sweeper.Wake();
  if (c.reason == GcReason::kExplicit || c.reason == GcReason::kMemory) {
    // gc::collect() returns with the sweep finished, including the spans
    // other threads' caches held: they sweep those themselves as soon as
    // they resume (Go's forEachP(prepareForSweep) in mark termination).
    const uint32_t h_now = c.sweepgen + 2;
    for (alloc::Cache* cache : c.resuming) {
      // (A later cycle may have moved the generation on already.)
      while (static_cast<int32_t>(cache->flush_gen() - h_now) < 0) {
        std::this_thread::yield();
      }
    }
    sweeper.Finish();
    ProfilePostSweep();
    PaceExternalAfterSweep();
  }
  // The scavenger works toward the new goal with what the cycle freed; a
  // lazy sweep frees more later, and each free wakes it if it ran short.
  // Its trace line first, with what it returned since the last one (Go
  // prints it where the last sweeper wakes the scavenger).
  heap.pages().PrintScavTraceForCycle();
  heap.pages().WakeScavenger();
}

namespace {

// Go's fmtNSAsMS: whole milliseconds from 10 ms up; below, two significant
// digits with at most three decimals ("0.018", "1.2", "0").
void FormatMs(char (&buf)[24], int64_t ns) {
  if (ns < 0) ns = 0;
  if (ns >= 10'000'000) {
    std::snprintf(buf, sizeof buf, "%ld", static_cast<long>(ns / 1'000'000));
    return;
  }
  int64_t x = ns / 1000;
  int dec = 3;
  while (x >= 100) {
    x /= 10;
    dec--;
  }
  if (x == 0) {
    std::snprintf(buf, sizeof buf, "0");
  } else if (dec == 0) {
    std::snprintf(buf, sizeof buf, "%ld", static_cast<long>(x));
  } else {
    int64_t scale = 1;
    for (int i = 0; i < dec; i++) scale *= 10;
    std::snprintf(buf, sizeof buf, "%ld.%0*ld", static_cast<long>(x / scale),
                  dec, static_cast<long>(x % scale));
  }
}

}  // namespace

// Go's three phases, wall clock: sweep termination (gcrt's first stop),
// marking (beside the program, or with the world stopped), mark
// termination (the second stop).
void Collector::Phases(const Cycle& c, int64_t* sweep_term, int64_t* mark,
                       int64_t* mark_term) {
  if (c.concurrent) {
    *sweep_term = c.t_restart - c.t_stop_asked;
    *mark = c.t_stop2_asked - c.t_restart;
    *mark_term = c.t_end - c.t_stop2_asked;
  } else {
    *sweep_term = c.t_stop - c.t_stop_asked;
    *mark = c.t_marked - c.t_stop;
    *mark_term = c.t_end - c.t_marked;
  }
}

CycleRecord Collector::MakeRecord(const Cycle& c) {
  CycleRecord r{};
  CollectorStats st = ReadStats();
  r.num_gc = st.num_gc;
  r.forced = !c.triggered;
  r.concurrent = c.concurrent;
  r.start_s =
      std::chrono::duration<double>(std::chrono::nanoseconds(c.t_stop_asked) -
                                    start_time_.time_since_epoch())
          .count();
  Phases(c, &r.sweep_termination_ns, &r.mark_ns, &r.mark_termination_ns);
  r.pause_ns = st.pause_ns[(st.num_gc + kPauseRing - 1) % kPauseRing];
  r.ttsp_ns = st.ttsp_ns[(st.num_gc + kPauseRing - 1) % kPauseRing];
  r.heap_before = c.heap_before;
  r.heap_at_end = c.concurrent ? c.heap_at_stop2 : c.heap_before;
  r.heap_marked = c.marked.bytes_marked;
  r.objects_marked = c.marked.objects_marked;
  r.goal = c.goal;
  r.next_goal = c.next_gc;
  r.assists = c.assists;
  r.assist_ns = c.assist_ns;
  r.deferred_objects = c.deferred.objects;
  r.workers = MarkingWorkers(c.workers, c.concurrent, c.triggered);
  r.gc_cpu_fraction = st.gc_cpu_fraction;
  r.stop.ttsp_ns = c.t_stop - c.t_stop_asked;
  r.stop.sweep_ns = c.t_swept - c.t_stop;
  if (c.concurrent) {
    r.stop.roots_ns = c.t_restart - c.t_swept;
    r.stop.ttsp2_ns = c.t_stop2 - c.t_stop2_asked;
    r.stop.mark_ns = c.t_term - c.t_stop2;
  } else {
    r.stop.roots_ns = c.t_term - c.t_swept;
  }
  r.stop.weak_ns = c.t_weak - c.t_term;
  r.stop.flip_ns = c.t_flipped - c.t_weak;
  r.stop.flush_ns = c.t_flushed - c.t_flipped;
  r.stop.pace_ns = c.t_end - c.t_flushed;
  return r;
}

void Collector::SetCycleCallback(CycleCallback callback) {
  runtime::MutexLock lock(&events_mu_);
  cycle_callback_ = std::move(callback);
  reporting_.store(cycle_callback_ != nullptr || gclog_ != nullptr,
                   std::memory_order_relaxed);
}

void Collector::Report(const CycleRecord& r) {
  CycleCallback callback;
  {
    runtime::MutexLock lock(&events_mu_);
    callback = cycle_callback_;
    if (gclog_ != nullptr) {
      std::fprintf(
          gclog_,
          "{\"gc\":%lu,\"forced\":%s,\"concurrent\":%s,\"start_s\":%.6f,"
          "\"sweep_termination_ns\":%ld,\"mark_ns\":%ld,"
          "\"mark_termination_ns\":%ld,\"pause_ns\":%lu,\"ttsp_ns\":%lu,"
          "\"heap_before\":%ld,\"heap_at_end\":%ld,\"heap_marked\":%lu,"
          "\"objects_marked\":%lu,\"goal\":%ld,\"next_goal\":%ld,"
          "\"assists\":%lu,\"assist_ns\":%ld,\"deferred_objects\":%lu,"
          "\"workers\":%u,\"gc_cpu_fraction\":%.6f,\"stop\":{\"ttsp_ns\":%ld,"
          "\"sweep_ns\":%ld,\"roots_ns\":%ld,\"ttsp2_ns\":%ld,\"mark_ns\":%ld,"
          "\"weak_ns\":%ld,\"flip_ns\":%ld,\"flush_ns\":%ld,\"pace_ns\":%ld}}"
          "\n",
          static_cast<unsigned long>(r.num_gc), r.forced ? "true" : "false",
          r.concurrent ? "true" : "false", r.start_s,
          static_cast<long>(r.sweep_termination_ns),
          static_cast<long>(r.mark_ns),
          static_cast<long>(r.mark_termination_ns),
          static_cast<unsigned long>(r.pause_ns),
          static_cast<unsigned long>(r.ttsp_ns),
          static_cast<long>(r.heap_before), static_cast<long>(r.heap_at_end),
          static_cast<unsigned long>(r.heap_marked),
          static_cast<unsigned long>(r.objects_marked),
          static_cast<long>(r.goal == INT64_MAX ? -1 : r.goal),
          static_cast<long>(r.next_goal == INT64_MAX ? -1 : r.next_goal),
          static_cast<unsigned long>(r.assists), static_cast<long>(r.assist_ns),
          static_cast<unsigned long>(r.deferred_objects), r.workers,
          r.gc_cpu_fraction, static_cast<long>(r.stop.ttsp_ns),
          static_cast<long>(r.stop.sweep_ns),
          static_cast<long>(r.stop.roots_ns),
          static_cast<long>(r.stop.ttsp2_ns), static_cast<long>(r.stop.mark_ns),
          static_cast<long>(r.stop.weak_ns), static_cast<long>(r.stop.flip_ns),
          static_cast<long>(r.stop.flush_ns),
          static_cast<long>(r.stop.pace_ns));
      std::fflush(gclog_);
    }
  }
  if (!callback) return;
  try {
    callback(r);
  } catch (const std::exception& e) {
    runtime::Print("the cycle callback (gc::set_cycle_callback) threw: %s",
                   e.what());
  } catch (...) {
    runtime::Print("the cycle callback (gc::set_cycle_callback) threw");
  }
}

void Collector::Trace(const Cycle& c) {
  // Go's "@": when the cycle began (the first stop was asked for), as the
  // cycle log's start_s.
  const double since_start =
      std::chrono::duration<double>(std::chrono::nanoseconds(c.t_stop_asked) -
                                    start_time_.time_since_epoch())
          .count();
  CollectorStats st = ReadStats();
  int64_t sweep_term, mark, mark_term;
  Phases(c, &sweep_term, &mark, &mark_term);
  // And CPU, as Go counts it: a stop takes every CPU; the marking's time
  // is the assists', the background workers' (at most one per CPU) and
  // the idle workers' (gcrt has none).
  const int64_t cpus = static_cast<int64_t>(HardwareThreads());
  const int64_t workers = std::min<int64_t>(
      MarkingWorkers(c.workers, c.concurrent, c.triggered), cpus);
  char clock[3][24], cpu[5][24];
  FormatMs(clock[0], sweep_term);
  FormatMs(clock[1], mark);
  FormatMs(clock[2], mark_term);
  FormatMs(cpu[0], sweep_term * cpus);
  FormatMs(cpu[1], c.assist_ns);
  FormatMs(cpu[2], (c.concurrent ? c.t_stop2 - c.t_restart : mark) * workers);
  FormatMs(cpu[3], 0);
  FormatMs(cpu[4], mark_term * cpus);
  const int64_t heap_end = c.concurrent ? c.heap_at_stop2 : c.heap_before;
  char ttsp[2][24];
  FormatMs(ttsp[0], c.t_stop - c.t_stop_asked);
  FormatMs(ttsp[1], c.concurrent ? c.t_stop2 - c.t_stop2_asked : 0);
  // Go's line field for field (stacks and globals: gcrt does not measure
  // the bytes of either it scans, and prints 0), then gcrt's own figures.
  runtime::PrintLine(
      "gc %lu @%.3fs %.0f%%: %s+%s+%s ms clock, %s+%s/%s/%s+%s ms cpu, "
      "%ld->%ld->%lu MB, %ld MB goal, 0 MB stacks, 0 MB globals, %u P%s; "
      "gcrt: %s, time to safepoint %s+%s ms, %u workers, %lu objects marked, "
      "%lu objects (%lu KB) deferred, %lu assists",
      static_cast<unsigned long>(st.num_gc), since_start,
      st.gc_cpu_fraction * 100, clock[0], clock[1], clock[2], cpu[0], cpu[1],
      cpu[2], cpu[3], cpu[4], static_cast<long>(c.heap_before >> 20),
      static_cast<long>(heap_end >> 20),
      static_cast<unsigned long>(c.marked.bytes_marked >> 20),
      c.goal == INT64_MAX ? -1L : static_cast<long>(c.goal >> 20),
      runtime::ProcessorCount(), c.triggered ? "" : " (forced)",
      c.concurrent ? "concurrent" : "stop-the-world", ttsp[0], ttsp[1],
      MarkingWorkers(c.workers, c.concurrent, c.triggered),
      static_cast<unsigned long>(c.marked.objects_marked),
      static_cast<unsigned long>(c.deferred.objects),
      static_cast<unsigned long>(c.deferred.bytes >> 10),
      static_cast<unsigned long>(c.assists));
}

uint64_t Collector::SetMemoryLimit(uint64_t bytes) {
  runtime::MutexLock lock(&mu_);
  uint64_t old = memory_limit_;
  // UINT64_MAX, and whatever else int64 heap figures cannot reach, is no
  // limit: kept as 0 so the pacer never converts it.
  memory_limit_ = runtime::env::NormalizeMemoryLimit(bytes);
  Heap::Get().pages().SetLimit(memory_limit_);
  SetNextGcLocked(last_marked_);
  PaceScavengerLocked(/*cycle_done=*/false);
  lock.Unlock();
  Heap::Get().pages().WakeScavenger();
  return old;
}

uint64_t Collector::SetMinHeap(uint64_t bytes) {
  runtime::MutexLock lock(&mu_);
  const uint64_t old = min_heap_;
  min_heap_ = bytes;
  SetNextGcLocked(last_marked_);
  PaceScavengerLocked(/*cycle_done=*/false);
  lock.Unlock();
  Heap::Get().pages().WakeScavenger();
  return old;
}

void Collector::SetGcPercent(int percent) {
  runtime::MutexLock lock(&mu_);
  gc_percent_ = percent < 0 ? -1 : percent;
  SetNextGcLocked(last_marked_);
  PaceScavengerLocked(/*cycle_done=*/false);
  lock.Unlock();
  Heap::Get().pages().WakeScavenger();
}

int Collector::gc_percent() const {
  runtime::MutexLock lock(&mu_);
  return gc_percent_;
}

void Collector::SetMarkWorkers(uint32_t n) {
  // The same range as GCRT_MARK_WORKERS: refused, not clamped.
  if (n > runtime::env::kMaxMarkWorkers) {
    throw std::invalid_argument("gcrt: gc::set_mark_workers(" +
                                std::to_string(n) +
                                "): accepted: 0 (one per hardware thread) to " +
                                std::to_string(runtime::env::kMaxMarkWorkers));
  }
  runtime::MutexLock lock(&mu_);
  mark_workers_ = n;
}

bool Collector::SetVerify(bool on) {
  runtime::MutexLock lock(&mu_);
  return std::exchange(verify_, on);
}

bool Collector::SetCrossCheck(bool on) {
  runtime::MutexLock lock(&mu_);
  bool old = crosscheck_;
  crosscheck_ = on;
  return old;
}

bool Collector::SetConcurrent(bool on) {
  runtime::MutexLock lock(&mu_);
  bool old = concurrent_;
  concurrent_ = on;
  concurrent_on_.store(on, std::memory_order_relaxed);
  SetNextGcLocked(last_marked_);  // the trigger moves
  return old;
}

bool Collector::SetTrace(bool on) {
  runtime::MutexLock lock(&mu_);
  return std::exchange(trace_, on);
}

void Collector::SetMarkedHookForTesting(void (*fn)(void*), void* context) {
  runtime::MutexLock lock(&mu_);
  hooks_.marked = {fn, context};
}

void Collector::SetStoppedHookForTesting(void (*fn)(void*), void* context) {
  runtime::MutexLock lock(&mu_);
  hooks_.stopped = {fn, context};
}

void Collector::SetConcurrentHookForTesting(void (*fn)(void*), void* context) {
  runtime::MutexLock lock(&mu_);
  hooks_.concurrent = {fn, context};
}

void Collector::SetDrainedHookForTesting(void (*fn)(void*), void* context) {
  runtime::MutexLock lock(&mu_);
  hooks_.drained = {fn, context};
}

void Collector::SetTerminationHookForTesting(void (*fn)(void*), void* context) {
  runtime::MutexLock lock(&mu_);
  hooks_.terminated = {fn, context};
}

void Collector::RunHook(TestHook::Point TestHook::*which) {
  TestHook::Point point;
  {
    runtime::MutexLock lock(&mu_);
    point = hooks_.*which;
  }
  if (point.fn != nullptr) point.fn(point.context);
}

CollectorStats Collector::ReadStats() {
  Heap& heap = Heap::Get();
  runtime::MutexLock lock(&mu_);
  CollectorStats st = stats_;
  // What a cycle would use now, before the first cycle too.
  st.mark_workers = MarkWorkers(mark_workers_);
  st.next_gc = heap.next_gc();
  st.heap_live = heap.heap_live();
  st.gc_percent = gc_percent_;
  double elapsed =
      static_cast<double>(std::chrono::duration_cast<std::chrono::nanoseconds>(
                              Clock::now() - start_time_)
                              .count());
  double cpus = HardwareThreads();
  st.gc_cpu_fraction =
      elapsed > 0 ? static_cast<double>(gc_cpu_ns_) / (elapsed * cpus) : 0;
  st.objects_destroyed = Sweeper::Get().objects_destroyed();
  st.spans_swept = Sweeper::Get().spans_swept();
  return st;
}

}  // namespace gc::internal
