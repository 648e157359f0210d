// The task scheduler: see task.h.
#include <cxxabi.h>
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <boost/context/fiber.hpp>
#include <boost/context/preallocated.hpp>
#include <boost/context/stack_context.hpp>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <mutex>
#include <new>
#include <stdexcept>
#include <string>
#include <system_error>
#include <thread>
#include <vector>

#include "gcrt/runtime/backtrace.h"
#include "gcrt/runtime/check.h"
#include "gcrt/runtime/env.h"
#include "gcrt/runtime/futex.h"
#include "gcrt/runtime/list.h"
#include "gcrt/runtime/processor.h"
#include "gcrt/runtime/safepoint.h"
#include "gcrt/runtime/stack.h"
#include "gcrt/runtime/task.h"
#include "gcrt/runtime/task_stack.h"
#include "gcrt/runtime/thread_start.h"

#if defined(GCRT_ASAN)
#include <sanitizer/common_interface_defs.h>
#endif
#if defined(GCRT_TSAN)
#include <sanitizer/tsan_interface.h>
#endif

namespace gc::runtime {

namespace ctx = boost::context;

// What a task asked for when it switched back to its worker.
enum class After : uint8_t { kNone, kYield, kPark, kExit };

class Task {
 public:
  GCRT_CHARGED_TO(Task, kOther)

  // The task's continuation while it is not running; empty once it ended.
  // Owned by whoever holds the task: a run queue, a waiter, the worker
  // running it.
  ctx::fiber fiber;
  // The worker's continuation while the task runs. Owned by the task.
  ctx::fiber scheduler;
  TaskStack stack;     // Immutable after NewTask.
  TaskShared* shared;  // Immutable after NewTask.
  TaskEntry entry = nullptr;
  void* closure = nullptr;
  // The end of the closure while it lives: set by NewTask (the task is
  // registered by StartTask, once the caller built the closure); 0 once
  // the entry, which destroys it, returned. Written by the task's thread, read
  // with the world stopped (ForEachTaskClosure), as `sp`.
  uintptr_t closure_hi = 0;
  // Where the scan of the task's stack starts while it is not running:
  // its closure before it first runs, where it switched out after; 0 while
  // a worker runs it (its worker's processor records the stack then).
  // Written by the worker that runs the task (or by NewTask), read with
  // the world stopped: a worker does not stop between a switch and the
  // write that goes with it.
  uintptr_t sp = 0;
  void* fake_stack = nullptr;  // ASan's, saved when it switches out (same)
  void* local = nullptr;       // TaskLocalHook's value (owner: as `fiber`)
  void* tsan_fiber = nullptr;  // Immutable after NewTask.
  After after = After::kNone;  // Written by the task, read by its worker.
  Mutex* park_mu = nullptr;    // kPark: released by the worker
  // A run queue's links, under its lock.
  Task* next_run = nullptr;
  Task* prev_run = nullptr;
  // The registry of live tasks (for stack scanning), under its lock.
  Task* prev_all = nullptr;
  Task* next_all = nullptr;
};

namespace {

// ---- The registry of live tasks, for the collector's stack scan. ----

struct TaskRegistry {
  Mutex mu;  // lock rank 29: a leaf, taken with the world stopped by
             // ForEachSuspendedTaskStack (under ranks 4 and 5)
  IntrusiveList<Task, &Task::next_all, &Task::prev_all> all GCRT_GUARDED_BY(mu);
  std::atomic<uint64_t> next_id{1};
};
TaskRegistry& Registry() {
  static TaskRegistry* r = new TaskRegistry();  // never destroyed
  return *r;
}

// ---- A FIFO of tasks. ----

class TaskQueue : public IntrusiveList<Task, &Task::next_run, &Task::prev_run> {
 public:
  void Push(Task* t) { PushBack(t); }
  Task* Pop() {
    Task* t = first();
    if (t != nullptr) Remove(t);
    return t;
  }
};

struct Slot {
  uint32_t id = 0;
  Mutex mu;  // lock rank 28: the local run queue; a leaf
  TaskQueue queue GCRT_GUARDED_BY(mu);
  // Atomic mirror of queue.size() for lock-free peeks (relaxed; stored under
  // mu).
  std::atomic<size_t> queued{0};
  uint32_t schedtick = 0;     // Owned by the worker holding the slot.
  Slot* next_idle = nullptr;  // Guarded by Scheduler::mu_.
  // Whether the slot's worker runs a task that is inside a blocking region
  // (Go's _Psyscall). Set by that worker; cleared by a CAS either by the
  // worker when it leaves the region (it keeps the slot) or by the monitor
  // when it takes the slot away (the worker then finds another).
  std::atomic<bool> blocked{false};
  // Blocking regions entered with this slot (Go's syscalltick): the
  // monitor takes a slot only if it saw the same region twice. Written by
  // the slot's worker, read by the monitor (relaxed).
  std::atomic<uint64_t> block_tick{0};

  void PushLocal(Task* t) {
    MutexLock lock(&mu);
    queue.Push(t);
    queued.store(queue.size(), std::memory_order_relaxed);
  }
  Task* PopLocal() {
    if (queued.load(std::memory_order_relaxed) == 0) return nullptr;
    MutexLock lock(&mu);
    Task* t = queue.Pop();
    queued.store(queue.size(), std::memory_order_relaxed);
    return t;
  }
};

struct Worker {
  GCRT_CHARGED_TO(Worker, kOther)
  uint32_t id = 0;
  // The slot this worker runs tasks with; null while it has none. Owned
  // by the worker; given to it by another under Scheduler::mu_ (handed).
  Slot* slot = nullptr;
  Slot* handed = nullptr;          // Guarded by Scheduler::mu_.
  bool handed_spinning = false;    // Guarded by Scheduler::mu_.
  bool spinning = false;           // Owned by the worker.
  Task* current = nullptr;         // Owned by the worker: the task it runs.
  CondVar cv;                      // waits for `handed`, with Scheduler::mu_
  Worker* next_waiting = nullptr;  // Guarded by Scheduler::mu_.
  StackBounds native;          // its thread's stack. Immutable once running.
  void* fake_stack = nullptr;  // ASan's, while a task runs
  void* tsan_fiber = nullptr;  // its thread's own TSan fiber
};

// Set in the child of a fork once the scheduler exists: the child has
// none of the workers, so it cannot run tasks. Written by the atfork
// handler (one thread exists then), read by StartTask.
std::atomic<bool> g_forked_child{false};

// The worker the calling thread is; null for every other thread.
thread_local Worker* t_worker = nullptr;

std::atomic<size_t> g_stack_bytes{0};  // 0: not configured yet
constexpr size_t kDefaultStackBytes = size_t{256} << 10;
TaskLocalHook g_hook{};  // Written once at start-up (before any task).

// Stops the optimizer from keeping a thread-local's address across a task
// switch (a task resumes on whichever worker takes it).
GCRT_NOINLINE Worker* CurrentWorker() {
  Worker* w = t_worker;
  asm volatile("" ::: "memory");
  return w;
}

class Scheduler {
 public:
  static Scheduler& Get();
  uint32_t procs() const { return procs_; }

  void Ready(Task* t);
  void Run(Worker* w, Task* t);
  void WorkerMain(Worker* w);
  void BlockingEnter(Worker* w);
  void BlockingExit(Worker* w);
  [[noreturn]] void MonitorMain();
  SchedulerStats Stats();
  // Atomic counters, relaxed.
  std::atomic<uint64_t> started{0}, done{0}, steals{0}, handoffs{0};

 private:
  Scheduler();
  Task* FindRunnable(Worker* w);
  Task* Steal(Worker* w);
  bool AnyWork();
  void WakeP();
  // Starts a worker with slot s; if no thread can be made (no memory for
  // its record, its thread or its Processor, or the system refuses the
  // thread), s goes back to the idle list (the queued tasks wait for the
  // workers there are).
  void StartWorker(Slot* s, bool spinning);
  // The failed start's undoing, for StartWorker and a worker that could
  // not attach: one report per process, then s idle again.
  void AbandonStart(Slot* s, bool spinning, const char* why);
  // Takes, from workers blocked in a region for a monitor period, the
  // slots other tasks are waiting for (Go's sysmon retake); whether some
  // slot is blocked.
  bool Retake(std::vector<uint64_t>* seen_ticks);
  void Sleep(Worker* w);
  // Gives s to a worker waiting for a slot, a sleeping or a new worker if
  // there is work for it, or to the idle list. The caller no longer has s.
  void HandOff(Slot* s);
  Slot* PopIdleLocked() GCRT_REQUIRES(mu_);
  void PushIdleLocked(Slot* s) GCRT_REQUIRES(mu_);
  void GiveLocked(Worker* to, Slot* s, bool spinning) GCRT_REQUIRES(mu_);
  void AfterSwitch(Worker* w, Task* t);
  void Finish(Worker* w, Task* t);

  uint32_t procs_ = 0;        // Immutable after construction.
  std::vector<Slot*> slots_;  // Immutable after construction.
  Mutex mu_;  // lock rank 27: global queue, idle slots, waiting workers
  TaskQueue global_ GCRT_GUARDED_BY(mu_);
  std::atomic<size_t> global_n_{0};  // global_.size(), stored under mu_
  Slot* idle_ GCRT_GUARDED_BY(mu_) = nullptr;
  std::atomic<uint32_t> npidle_{0};  // idle slots; stored under mu_
  Worker* sleeping_ GCRT_GUARDED_BY(mu_) = nullptr;
  // Workers back from a blocking region waiting for a slot.
  Worker* slot_waiters_ GCRT_GUARDED_BY(mu_) = nullptr;
  std::atomic<uint32_t> nslot_waiters_{0};  // stored under mu_
  std::atomic<uint32_t> nspinning_{0};
  std::atomic<uint32_t> nworkers_{0};
  // The monitor (Go's sysmon): a thread of its own, started with the
  // scheduler, not attached to the heap. It sleeps on monitor_cv_ while no
  // slot is blocked; a worker entering a blocking region wakes it.
  Mutex monitor_mu_;  // lock rank 27 too: never held with mu_
  CondVar monitor_cv_;
  bool monitor_kicked_ GCRT_GUARDED_BY(monitor_mu_) = false;
  std::atomic<bool> monitor_parked_{false};  // seq_cst, with Slot::blocked
};

Scheduler& Scheduler::Get() {
  static Scheduler* s = new Scheduler();  // never destroyed: workers run
  return *s;                              // until the process exits
}

Scheduler::Scheduler() {
  uint32_t n = env::ProcsFromEnv();
  if (n == 0) n = HardwareThreads();
  procs_ = n;
  for (uint32_t i = 0; i < n; i++) {
    auto* s = new Slot();
    s->id = i;
    slots_.push_back(s);
  }
  {
    MutexLock lock(&mu_);
    for (uint32_t i = n; i-- > 0;) PushIdleLocked(slots_[i]);
  }
  {
    // No monitor, no scheduler: a refused thread throws to gc::go.
    InternalThreadSignalMask mask;
    std::thread([this] { MonitorMain(); }).detach();
  }
  pthread_atfork(nullptr, nullptr,
                 [] { g_forked_child.store(true, std::memory_order_relaxed); });
}

Slot* Scheduler::PopIdleLocked() {
  Slot* s = idle_;
  if (s != nullptr) {
    idle_ = s->next_idle;
    s->next_idle = nullptr;
    npidle_.fetch_sub(1, std::memory_order_seq_cst);
  }
  return s;
}

void Scheduler::PushIdleLocked(Slot* s) {
  s->next_idle = idle_;
  idle_ = s;
  npidle_.fetch_add(1, std::memory_order_seq_cst);
}

void Scheduler::GiveLocked(Worker* to, Slot* s, bool spinning) {
  GCRT_CHECK(to->handed == nullptr && "a waiting worker has no slot yet");
  to->handed = s;
  to->handed_spinning = spinning;
  to->cv.NotifyOne();
}

// ---- Running a task: the worker's side of a switch. ----

void Scheduler::Run(Worker* w, Task* t) {
  w->current = t;
  t->sp = 0;
  void* own_local = g_hook.exchange ? g_hook.exchange(t->local) : nullptr;
  const StackBounds own = ExchangeStackBounds({t->stack.lo, t->stack.hi});
  if (Processor* p = CurrentProcessor()) p->set_running_task(t->shared->id());
#if defined(GCRT_ASAN)
  __sanitizer_start_switch_fiber(
      &w->fake_stack, reinterpret_cast<void*>(t->stack.lo), t->stack.bytes());
#endif
#if defined(GCRT_TSAN)
  __tsan_switch_to_fiber(t->tsan_fiber, 0);
#endif
  t->fiber = std::move(t->fiber).resume();
#if defined(GCRT_ASAN)
  __sanitizer_finish_switch_fiber(w->fake_stack, nullptr, nullptr);
#endif
  ExchangeStackBounds(own);
  if (Processor* p = CurrentProcessor()) p->set_running_task(0);
  if (g_hook.exchange) t->local = g_hook.exchange(own_local);
  w->current = nullptr;
  AfterSwitch(w, t);
}

// kPark releases the lock the task parked holding (Waiter::Wait), which
// the analysis cannot follow across the switch.
void Scheduler::AfterSwitch(Worker* w, Task* t) GCRT_NO_THREAD_SAFETY_ANALYSIS {
  switch (t->after) {
    case After::kYield:
      t->after = After::kNone;
      // Behind everything else runnable, as Go's Gosched (global queue).
      {
        MutexLock lock(&mu_);
        global_.Push(t);
        global_n_.store(global_.size(), std::memory_order_relaxed);
      }
      break;
    case After::kPark: {
      // Now that the task has switched out, a waker may ready it.
      t->after = After::kNone;
      Mutex* mu = t->park_mu;
      t->park_mu = nullptr;
      mu->unlock();
      break;
    }
    case After::kExit:
      Finish(w, t);
      break;
    case After::kNone:
      GCRT_FATAL("a task switched back to its worker without a reason");
  }
}

void Scheduler::Finish(Worker*, Task* t) {
  GCRT_CHECK(!t->fiber && "an ended task's fiber is empty");
  if (t->local != nullptr && g_hook.release) g_hook.release(t->local);
#if defined(GCRT_TSAN)
  __tsan_destroy_fiber(t->tsan_fiber);
#endif
  {
    TaskRegistry& r = Registry();
    MutexLock lock(&r.mu);
    r.all.Remove(t);
  }
  TaskShared* shared = t->shared;
  delete t;
  done.fetch_add(1, std::memory_order_relaxed);
  shared->Finish();
}

// ---- The task's side of a switch. ----

// Switches from the running task back to its worker, which acts on
// t->after. Not inlined: the caller's callee-saved registers are spilled
// into this frame, which stays on the task's stack while it is suspended,
// so the scan from t->sp up finds them.
GCRT_NOINLINE void SwitchToWorker(Task* t) {
  __builtin_unwind_init();
  Worker* w = CurrentWorker();
  t->sp = ApproximateSp();
#if defined(GCRT_ASAN)
  __sanitizer_start_switch_fiber(&t->fake_stack,
                                 reinterpret_cast<void*>(w->native.lo),
                                 w->native.hi - w->native.lo);
#endif
#if defined(GCRT_TSAN)
  __tsan_switch_to_fiber(w->tsan_fiber, 0);
#endif
  (void)w;
  t->scheduler = std::move(t->scheduler).resume();
  // Resumed, perhaps by another worker.
#if defined(GCRT_ASAN)
  __sanitizer_finish_switch_fiber(t->fake_stack, nullptr, nullptr);
#endif
}

Task* CurrentTask() {
  Worker* w = CurrentWorker();
  return w == nullptr ? nullptr : w->current;
}

// Boost.Context's stack allocator for a task: the stack is ours (NewTask
// took it from the pool), so deallocate gives it back.
struct PooledStack {
  ctx::stack_context allocate() {
    GCRT_FATAL("a task's stack comes from NewTask");
  }
  void deallocate(ctx::stack_context& sc) noexcept {
    const auto hi = reinterpret_cast<uintptr_t>(sc.sp);
    ReleaseTaskStack(TaskStack{hi - sc.size, hi});
  }
};

// ---- Finding work. ----

void Scheduler::Ready(Task* t) {
  Worker* w = CurrentWorker();
  if (w != nullptr && w->slot != nullptr) {
    w->slot->PushLocal(t);
  } else {
    MutexLock lock(&mu_);
    global_.Push(t);
    global_n_.store(global_.size(), std::memory_order_relaxed);
  }
  // The push before the look at idle slots; a worker giving its slot back
  // counts it idle before it looks at the queues again (FindRunnable).
  std::atomic_thread_fence(std::memory_order_seq_cst);
  WakeP();
}

void Scheduler::WakeP() {
  if (npidle_.load(std::memory_order_seq_cst) == 0) return;
  uint32_t zero = 0;
  if (!nspinning_.compare_exchange_strong(zero, 1)) return;
  Worker* to = nullptr;
  Slot* s = nullptr;
  {
    MutexLock lock(&mu_);
    s = PopIdleLocked();
    if (s != nullptr && sleeping_ != nullptr) {
      to = sleeping_;
      sleeping_ = to->next_waiting;
      to->next_waiting = nullptr;
      GiveLocked(to, s, /*spinning=*/true);
      return;
    }
  }
  if (s == nullptr) {
    nspinning_.fetch_sub(1);
    return;
  }
  StartWorker(s, /*spinning=*/true);
}

bool Scheduler::AnyWork() {
  if (global_n_.load(std::memory_order_relaxed) > 0) return true;
  for (Slot* s : slots_) {
    if (s->queued.load(std::memory_order_relaxed) > 0) return true;
  }
  return false;
}

Task* Scheduler::Steal(Worker* w) {
  const size_t n = slots_.size();
  const size_t start = w->slot->schedtick % n;
  for (size_t i = 0; i < n; i++) {
    Slot* victim = slots_[(start + i) % n];
    if (victim == w->slot ||
        victim->queued.load(std::memory_order_relaxed) == 0) {
      continue;
    }
    TaskQueue taken;
    {
      MutexLock lock(&victim->mu);
      size_t take = (victim->queue.size() + 1) / 2;
      while (take-- > 0) taken.Push(victim->queue.Pop());
      victim->queued.store(victim->queue.size(), std::memory_order_relaxed);
    }
    Task* first = taken.Pop();
    if (first == nullptr) continue;
    steals.fetch_add(taken.size() + 1, std::memory_order_relaxed);
    if (!taken.empty()) {
      {
        MutexLock lock(&w->slot->mu);
        while (Task* t = taken.Pop()) w->slot->queue.Push(t);
        w->slot->queued.store(w->slot->queue.size(), std::memory_order_relaxed);
      }
      // A worker that looked while the batch was in neither queue went to
      // sleep: there is work for it again.
      std::atomic_thread_fence(std::memory_order_seq_cst);
      WakeP();
    }
    return first;
  }
  return nullptr;
}

Task* Scheduler::FindRunnable(Worker* w) {
  for (;;) {
    Safepoint();
    if (w->slot == nullptr) {
      Sleep(w);
      continue;
    }
    // A worker back from a blocking region waits for a slot: it gets this
    // one (with its queue), and this worker sleeps (Go's exitsyscall finds
    // its P at the next schedule).
    if (nslot_waiters_.load(std::memory_order_relaxed) > 0) {
      MutexLock lock(&mu_);
      if (Worker* waiter = slot_waiters_) {
        slot_waiters_ = waiter->next_waiting;
        waiter->next_waiting = nullptr;
        nslot_waiters_.fetch_sub(1, std::memory_order_relaxed);
        GiveLocked(waiter, w->slot, /*spinning=*/false);
        w->slot = nullptr;
        if (w->spinning) {
          w->spinning = false;
          nspinning_.fetch_sub(1);
        }
        continue;
      }
    }
    Slot* s = w->slot;
    Task* t = nullptr;
    // Now and then the global queue first, so it cannot starve behind a
    // local queue that never empties (Go's schedule: every 61st).
    if (++s->schedtick % 61 == 0 &&
        global_n_.load(std::memory_order_relaxed) > 0) {
      MutexLock lock(&mu_);
      t = global_.Pop();
      global_n_.store(global_.size(), std::memory_order_relaxed);
    }
    if (t == nullptr) t = s->PopLocal();
    if (t == nullptr && global_n_.load(std::memory_order_relaxed) > 0) {
      // Take a share of the global queue into the local one.
      TaskQueue batch;
      {
        MutexLock lock(&mu_);
        size_t take = std::min(global_.size(), global_.size() / procs_ + 1);
        while (take-- > 0) batch.Push(global_.Pop());
        global_n_.store(global_.size(), std::memory_order_relaxed);
      }
      t = batch.Pop();
      if (!batch.empty()) {
        {
          MutexLock lock(&s->mu);
          while (Task* x = batch.Pop()) s->queue.Push(x);
          s->queued.store(s->queue.size(), std::memory_order_relaxed);
        }
        std::atomic_thread_fence(std::memory_order_seq_cst);
        WakeP();
      }
    }
    if (t == nullptr) t = Steal(w);
    if (t != nullptr) {
      if (w->spinning) {
        // The last worker looking found work: another may be needed.
        w->spinning = false;
        if (nspinning_.fetch_sub(1) == 1) WakeP();
      }
      return t;
    }
    // Nothing to run: give the slot back.
    {
      MutexLock lock(&mu_);
      if (!global_.empty()) continue;
      if (Worker* waiter = slot_waiters_) {
        slot_waiters_ = waiter->next_waiting;
        waiter->next_waiting = nullptr;
        nslot_waiters_.fetch_sub(1, std::memory_order_relaxed);
        GiveLocked(waiter, s, /*spinning=*/false);
      } else {
        PushIdleLocked(s);
      }
      w->slot = nullptr;
    }
    const bool was_spinning = w->spinning;
    if (was_spinning) {
      w->spinning = false;
      nspinning_.fetch_sub(1);
    }
    // The slot counted idle before this look (see Ready).
    std::atomic_thread_fence(std::memory_order_seq_cst);
    if (AnyWork()) {
      MutexLock lock(&mu_);
      if (Slot* again = PopIdleLocked()) {
        w->slot = again;
        if (was_spinning) {
          w->spinning = true;
          nspinning_.fetch_add(1);
        }
        continue;
      }
    }
    Sleep(w);
  }
}

void Scheduler::Sleep(Worker* w) {
  // What the tasks' ends left below this frame (a finished task's closure
  // and result are destroyed on this stack, Finish): the region's frames
  // would not overwrite all of it, and the stack scan would keep what it
  // points to for as long as the worker sleeps (a new user's dropped scene
  // of 40,001 objects, in 3 runs of 12).
  ClearDeadStack();
  // Inside a blocking region: the world does not wait for a worker that
  // has nothing to run.
  BlockingRegion region;
  MutexLock lock(&mu_);
  w->next_waiting = sleeping_;
  sleeping_ = w;
  while (w->handed == nullptr) w->cv.Wait(&mu_);
  w->slot = w->handed;
  w->handed = nullptr;
  w->spinning = w->handed_spinning;
}

void Scheduler::StartWorker(Slot* s, bool spinning) {
  auto* w = new (std::nothrow) Worker();
  if (w == nullptr) return AbandonStart(s, spinning, "out of memory");
  w->slot = s;
  w->spinning = spinning;
  w->id = nworkers_.fetch_add(1, std::memory_order_relaxed);
  std::string why;
  if (!StartDetachedThread([this, w] { WorkerMain(w); }, &why)) {
    delete w;
    nworkers_.fetch_sub(1, std::memory_order_relaxed);
    AbandonStart(s, spinning, why.c_str());
  }
}

void Scheduler::AbandonStart(Slot* s, bool spinning, const char* why) {
  if (spinning) nspinning_.fetch_sub(1);
  {
    MutexLock lock(&mu_);
    PushIdleLocked(s);
  }
  static std::atomic<bool> reported{false};
  if (!reported.exchange(true)) {
    Print(
        "cannot start a task worker thread (%s); the tasks wait for the "
        "%u workers there are",
        why, nworkers_.load(std::memory_order_relaxed));
  }
}

// ---- A task's stack overflow. ----
//
// A task that overflows its stack faults on the guard page below it
// (task_stack.h). Left alone, the fault ends the process without a word.
// Go prints "goroutine stack exceeds limit"; here each worker thread has an
// alternate signal stack (the task's is used up), and gcrt's SIGSEGV
// handler names the task and what to change when the fault is in the
// running task's guard page, then lets the fault take its course: the
// program's own handler if it had one, else the default action. Not under
// the sanitizers, whose handlers report a stack overflow themselves.

namespace {

#if !defined(GCRT_ASAN) && !defined(GCRT_TSAN)
constexpr size_t kSignalStackBytes = size_t{64} << 10;

// Written once (under g_overflow_once), before any worker runs a task;
// read by the handler.
struct sigaction g_previous_segv;
std::once_flag g_overflow_once;

void OnSegv(int sig, siginfo_t* info, void* ucontext) {
  Worker* w = CurrentWorker();
  const Task* t = w != nullptr ? w->current : nullptr;
  if (t != nullptr && info != nullptr) {
    const auto addr = reinterpret_cast<uintptr_t>(info->si_addr);
    if (addr < t->stack.lo && addr >= t->stack.lo - kTaskStackGuardBytes) {
      Print(
          "task %lu overflowed its stack of %zu KiB: the fault at %#lx is in "
          "the guard region below it. Give tasks larger stacks "
          "(GCRT_TASK_STACK_KB, gc::set_task_stack_size) or make its "
          "recursion shallower (or its large local arrays heap ones)",
          static_cast<unsigned long>(t->shared->id()), t->stack.bytes() >> 10,
          static_cast<unsigned long>(addr));
    }
  }
  // The program's handler, or the default action: returning re-runs the
  // faulting instruction, which faults again under it.
  if ((g_previous_segv.sa_flags & SA_SIGINFO) &&
      g_previous_segv.sa_sigaction != nullptr) {
    g_previous_segv.sa_sigaction(sig, info, ucontext);
    return;
  }
  if (!(g_previous_segv.sa_flags & SA_SIGINFO) &&
      g_previous_segv.sa_handler != SIG_DFL &&
      g_previous_segv.sa_handler != SIG_IGN) {
    g_previous_segv.sa_handler(sig);
    return;
  }
  struct sigaction dfl = {};
  dfl.sa_handler = SIG_DFL;
  sigemptyset(&dfl.sa_mask);
  ::sigaction(sig, &dfl, nullptr);
}

// On the worker's thread, before it runs a task.
void PrepareForStackOverflow() {
  std::call_once(g_overflow_once, [] {
    struct sigaction sa = {};
    sa.sa_sigaction = &OnSegv;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = SA_SIGINFO | SA_ONSTACK;
    if (::sigaction(SIGSEGV, &sa, &g_previous_segv) != 0) {
      Print(
          "cannot install the handler that reports a task's stack "
          "overflow (sigaction: errno %d); an overflow faults unreported",
          errno);
    }
  });
  // The thread's alternate signal stack: the worker never ends (its memory
  // is never reclaimed), and a failure only loses the report.
  void* p = mmap(nullptr, kSignalStackBytes, PROT_READ | PROT_WRITE,
                 MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (p == MAP_FAILED) return;
  stack_t ss = {};
  ss.ss_sp = p;
  ss.ss_size = kSignalStackBytes;
  if (sigaltstack(&ss, nullptr) != 0) munmap(p, kSignalStackBytes);
}
#else
void PrepareForStackOverflow() {}
#endif

}  // namespace

void Scheduler::WorkerMain(Worker* w) {
  char name[16];
  std::snprintf(name, sizeof(name), "gcrt-worker-%u", w->id);
  SetCurrentThreadName(name);
  t_worker = w;
  w->native = CurrentStackBounds();
#if defined(GCRT_TSAN)
  w->tsan_fiber = __tsan_get_current_fiber();
#endif
  try {
    AttachCurrentThread();
  } catch (const std::bad_alloc&) {
    // No memory for its Processor: the thread ends, its slot goes idle.
    t_worker = nullptr;
    nworkers_.fetch_sub(1, std::memory_order_relaxed);
    Slot* s = w->slot;
    const bool spinning = w->spinning;
    delete w;
    return AbandonStart(s, spinning, "out of memory for its processor");
  }
  PrepareForStackOverflow();
  for (;;) {
    Task* t = FindRunnable(w);
    Run(w, t);
  }
}

// ---- Blocking regions inside tasks. ----

void Scheduler::HandOff(Slot* s) {
  MutexLock lock(&mu_);
  if (Worker* waiter = slot_waiters_) {
    slot_waiters_ = waiter->next_waiting;
    waiter->next_waiting = nullptr;
    nslot_waiters_.fetch_sub(1, std::memory_order_relaxed);
    GiveLocked(waiter, s, /*spinning=*/false);
    return;
  }
  if (s->queued.load(std::memory_order_relaxed) == 0 && global_.empty()) {
    PushIdleLocked(s);
    return;
  }
  if (Worker* to = sleeping_) {
    sleeping_ = to->next_waiting;
    to->next_waiting = nullptr;
    GiveLocked(to, s, /*spinning=*/false);
    return;
  }
  lock.Unlock();
  StartWorker(s, /*spinning=*/false);
}

void Scheduler::BlockingEnter(Worker* w) {
  Slot* s = w->slot;
  if (s == nullptr) return;
  s->block_tick.fetch_add(1, std::memory_order_relaxed);
  s->blocked.store(true, std::memory_order_seq_cst);
  // The monitor parks only after it saw no slot blocked (seq_cst on both
  // sides): either it sees this one, or this sees it parked.
  if (monitor_parked_.load(std::memory_order_seq_cst)) {
    MutexLock lock(&monitor_mu_);
    monitor_kicked_ = true;
    monitor_cv_.NotifyOne();
  }
}

void Scheduler::BlockingExit(Worker* w) {
  Slot* s = w->slot;
  bool blocked = true;
  if (s != nullptr && s->blocked.compare_exchange_strong(
                          blocked, false, std::memory_order_acq_rel)) {
    return;  // the slot waited for this worker
  }
  // The monitor gave the slot to another worker: take an idle one, or wait
  // until a worker hands one over at its next schedule (FindRunnable).
  w->slot = nullptr;
  MutexLock lock(&mu_);
  if (Slot* idle = PopIdleLocked()) {
    w->slot = idle;
    return;
  }
  w->next_waiting = slot_waiters_;
  slot_waiters_ = w;
  nslot_waiters_.fetch_add(1, std::memory_order_relaxed);
  while (w->handed == nullptr) w->cv.Wait(&mu_);
  w->slot = w->handed;
  w->handed = nullptr;
}

bool Scheduler::Retake(std::vector<uint64_t>* seen_ticks) {
  bool any_blocked = false;
  for (size_t i = 0; i < slots_.size(); i++) {
    Slot* s = slots_[i];
    if (!s->blocked.load(std::memory_order_seq_cst)) continue;
    any_blocked = true;
    const uint64_t tick = s->block_tick.load(std::memory_order_relaxed);
    if (tick != (*seen_ticks)[i]) {
      (*seen_ticks)[i] = tick;  // blocked since this period only
      continue;
    }
    // Nobody waits for what the slot could run: leave it to its worker.
    if (s->queued.load(std::memory_order_relaxed) == 0 &&
        global_n_.load(std::memory_order_relaxed) == 0 &&
        nslot_waiters_.load(std::memory_order_relaxed) == 0) {
      continue;
    }
    bool blocked = true;
    if (s->blocked.compare_exchange_strong(blocked, false,
                                           std::memory_order_acq_rel)) {
      handoffs.fetch_add(1, std::memory_order_relaxed);
      HandOff(s);
    }
  }
  return any_blocked;
}

void Scheduler::MonitorMain() {
  SetCurrentThreadName("gcrt-sched-mon");
  // A blocked slot is taken after one to two periods (Go's sysmon: 20 us
  // to 10 ms).
  constexpr auto kPeriod = std::chrono::milliseconds(1);
  std::vector<uint64_t> seen(slots_.size(), ~uint64_t{0});
  for (;;) {
    if (Retake(&seen)) {
      std::this_thread::sleep_for(kPeriod);
      continue;
    }
    MutexLock lock(&monitor_mu_);
    monitor_parked_.store(true, std::memory_order_seq_cst);
    bool any_blocked = false;
    for (Slot* s : slots_) {
      any_blocked = any_blocked || s->blocked.load(std::memory_order_seq_cst);
    }
    while (!any_blocked && !monitor_kicked_) monitor_cv_.Wait(&monitor_mu_);
    monitor_kicked_ = false;
    monitor_parked_.store(false, std::memory_order_relaxed);
  }
}

SchedulerStats Scheduler::Stats() {
  SchedulerStats st;
  st.tasks_started = started.load(std::memory_order_relaxed);
  st.tasks_done = done.load(std::memory_order_relaxed);
  st.steals = steals.load(std::memory_order_relaxed);
  st.handoffs = handoffs.load(std::memory_order_relaxed);
  st.workers = nworkers_.load(std::memory_order_relaxed);
  st.procs = procs_;
  return st;
}

}  // namespace

// ---- The API of task.h. ----

Task* NewTask(TaskShared* shared, size_t closure_bytes, size_t align,
              void** closure) {
  if (g_forked_child.load(std::memory_order_relaxed)) {
    throw std::logic_error(
        "gcrt: gc::go in the child of a fork: the parent's task workers do "
        "not exist here; a forked child runs plain threads only");
  }
  GCRT_CHECK(align <= 16 && (align & (align - 1)) == 0);
  const size_t bytes = TaskStackBytes();
  if (closure_bytes > bytes / 4) {
    throw std::length_error(
        "gcrt: a task's function object (" + std::to_string(closure_bytes) +
        " bytes) does not fit in a quarter of its stack (" +
        std::to_string(bytes) +
        " bytes): capture less by value, or raise GCRT_TASK_STACK_KB");
  }
  TaskStack stack = AcquireTaskStack(bytes);
  Task* t;
  try {
    t = new Task();
  } catch (const std::bad_alloc&) {
    ReleaseTaskStack(stack);
    throw;
  }
  t->stack = stack;
  t->shared = shared;
  shared->id_ = Registry().next_id.fetch_add(1, std::memory_order_relaxed);
  const uintptr_t at = (stack.hi - closure_bytes) & ~uintptr_t{15};
  t->closure = reinterpret_cast<void*>(at);
  t->sp = at;
  t->closure_hi = at + closure_bytes;
  *closure = t->closure;
#if defined(GCRT_TSAN)
  t->tsan_fiber = __tsan_create_fiber(0);
#endif
  return t;
}

void StartTask(Task* t, TaskEntry entry) {
  t->entry = entry;
  ctx::stack_context sc;
  sc.sp = reinterpret_cast<void*>(t->stack.hi);
  sc.size = t->stack.bytes();
#if defined(GCRT_TSAN)
  // Boost.Context's constructor enters the new fiber once and comes back
  // (its entry frame stays there): that belongs to the task's TSan fiber.
  void* spawner = __tsan_get_current_fiber();
  __tsan_switch_to_fiber(t->tsan_fiber, 0);
#endif
  t->fiber = ctx::fiber(
      std::allocator_arg,
      ctx::preallocated(t->closure,
                        reinterpret_cast<uintptr_t>(t->closure) - t->stack.lo,
                        sc),
      PooledStack{}, [t](ctx::fiber&& worker) {
#if defined(GCRT_ASAN)
        __sanitizer_finish_switch_fiber(nullptr, nullptr, nullptr);
#endif
        t->scheduler = std::move(worker);
        t->entry(t->closure, t->shared);
        t->closure_hi = 0;
        t->after = After::kExit;
#if defined(GCRT_ASAN)
        Worker* w = CurrentWorker();
        // Null: this fiber's fake stack goes with it.
        __sanitizer_start_switch_fiber(nullptr,
                                       reinterpret_cast<void*>(w->native.lo),
                                       w->native.hi - w->native.lo);
#endif
#if defined(GCRT_TSAN)
        __tsan_switch_to_fiber(CurrentWorker()->tsan_fiber, 0);
#endif
        return std::move(t->scheduler);
      });
#if defined(GCRT_TSAN)
  __tsan_switch_to_fiber(spawner, 0);
#endif
  {
    TaskRegistry& r = Registry();
    MutexLock lock(&r.mu);
    r.all.PushBack(t);
  }
  Scheduler& s = Scheduler::Get();
  s.started.fetch_add(1, std::memory_order_relaxed);
  s.Ready(t);
}

void DiscardTask(Task* t) {
#if defined(GCRT_TSAN)
  __tsan_destroy_fiber(t->tsan_fiber);
#endif
  ReleaseTaskStack(t->stack);
  TaskShared* shared = t->shared;
  delete t;
  shared->Unref();
}

bool InTask() { return CurrentTask() != nullptr; }

uint64_t CurrentTaskId() {
  Task* t = CurrentTask();
  return t == nullptr ? 0 : t->shared->id();
}

void YieldTask() {
  if (InBlockingRegion()) {
    throw std::logic_error(
        "gcrt: gc::yield inside a blocking region (gc::Blocking): leave the "
        "region first");
  }
  Task* t = CurrentTask();
  if (t == nullptr) {
    Safepoint();
    return;
  }
  t->after = After::kYield;
  SwitchToWorker(t);
}

uint32_t TaskProcs() { return Scheduler::Get().procs(); }

size_t TaskStackBytes() {
  size_t b = g_stack_bytes.load(std::memory_order_relaxed);
  if (b != 0) return b;
  const uint64_t kb = env::TaskStackKbFromEnv();
  b = kb == 0 ? kDefaultStackBytes : static_cast<size_t>(kb) << 10;
  size_t expected = 0;
  g_stack_bytes.compare_exchange_strong(expected, b);
  return g_stack_bytes.load(std::memory_order_relaxed);
}

void SetTaskStackBytes(size_t bytes) {
  // GCRT_TASK_STACK_KB's values (env.h): 0 for the built-in size.
  if (bytes == 0) bytes = kDefaultStackBytes;
  if (bytes < (size_t{env::kMinTaskStackKb} << 10) ||
      bytes > (size_t{env::kMaxTaskStackKb} << 10)) {
    throw std::invalid_argument(
        "gcrt: a task's stack must be 16 KiB to 1 GiB, or 0 for the "
        "built-in 256 KiB (asked for " +
        std::to_string(bytes) + " bytes)");
  }
  const size_t page = static_cast<size_t>(sysconf(_SC_PAGESIZE));
  g_stack_bytes.store((bytes + page - 1) / page * page,
                      std::memory_order_relaxed);
}

void SetTaskLocalHook(TaskLocalHook hook) { g_hook = hook; }

SchedulerStats GetSchedulerStats() { return Scheduler::Get().Stats(); }

void ForEachSuspendedTaskStackImpl(void (*fn)(void*, const SuspendedStack&),
                                   void* ctx) {
  TaskRegistry& r = Registry();
  MutexLock lock(&r.mu);
  for (Task* t = r.all.first(); t != nullptr; t = t->next_all) {
    if (t->sp != 0) fn(ctx, SuspendedStack{t->sp, t->stack.hi, t->fake_stack});
  }
}

void ForEachTaskClosureImpl(void (*fn)(void*, uintptr_t, uintptr_t),
                            void* ctx) {
  TaskRegistry& r = Registry();
  MutexLock lock(&r.mu);
  for (Task* t = r.all.first(); t != nullptr; t = t->next_all) {
    if (t->closure_hi != 0) {
      fn(ctx, reinterpret_cast<uintptr_t>(t->closure), t->closure_hi);
    }
  }
}

void OnTaskBlockingEnter() {
  Worker* w = CurrentWorker();
  if (w != nullptr && w->current != nullptr) {
    Scheduler::Get().BlockingEnter(w);
  }
}

void OnTaskBlockingExit() {
  Worker* w = CurrentWorker();
  if (w != nullptr && w->current != nullptr) {
    Scheduler::Get().BlockingExit(w);
  }
}

// ---- Waiter and TaskShared. ----

Waiter::Waiter() : task_(CurrentTask()) {}

// A task's lock is released by its worker once it has switched out
// (AfterSwitch), which the analysis cannot follow.
void Waiter::CheckMayPark() {
  if (CurrentTask() != nullptr && InBlockingRegion()) {
    throw std::logic_error(
        "gcrt: a task waited (a channel, wait group, mutex or join) inside "
        "a blocking region (gc::Blocking): leave the region first");
  }
}

void Waiter::Wait(Mutex* mu) GCRT_NO_THREAD_SAFETY_ANALYSIS {
  if (task_ != nullptr) {
    GCRT_CHECK(!InBlockingRegion() &&
               "a primitive checked CheckMayPark before it queued a task");
    task_->after = After::kPark;
    task_->park_mu = mu;
    SwitchToWorker(task_);
    return;
  }
  mu->unlock();
  BlockingRegion region;
  while (woken_.load(std::memory_order_acquire) == 0) FutexWait(&woken_, 0);
}

void Waiter::Wake() {
  if (task_ != nullptr) {
    Scheduler::Get().Ready(task_);
    return;
  }
  woken_.store(1, std::memory_order_release);
  FutexWake(&woken_, 1);
}

void TaskShared::Wait() {
  Waiter::CheckMayPark();
  mu_.lock();
  if (done()) {
    mu_.unlock();
    return;
  }
  Waiter w;
  w.next = joiners_;
  joiners_ = &w;
  w.Wait(&mu_);
}

void TaskShared::Finish() {
  Waiter* joiners;
  bool report;
  {
    MutexLock lock(&mu_);
    report = dropped_ && error != nullptr;
    joiners = joiners_;
    joiners_ = nullptr;
    // Last: a joiner that sees it may take the error and drop the state.
    done_.store(true, std::memory_order_release);
  }
  while (joiners != nullptr) {
    Waiter* next = joiners->next;
    joiners->Wake();
    joiners = next;
  }
  if (report) ReportUnjoinedError();
  Unref();
}

void TaskShared::Drop() {
  bool report;
  {
    MutexLock lock(&mu_);
    dropped_ = true;
    report = done() && error != nullptr;
  }
  if (report) ReportUnjoinedError();
  Unref();
}

void TaskShared::ReportUnjoinedError() {
  std::string what = "an exception not derived from std::exception";
  try {
    std::rethrow_exception(error);
  } catch (const std::exception& e) {
    int status = 0;
    char* name =
        abi::__cxa_demangle(typeid(e).name(), nullptr, nullptr, &status);
    what =
        std::string(status == 0 && name != nullptr ? name : typeid(e).name()) +
        ": " + e.what();
    std::free(name);
  } catch (...) {
  }
  Print("task %llu ended with an exception nobody joined: %s",
        static_cast<unsigned long long>(id_), what.c_str());
}

void TaskShared::Unref() {
  if (refs_.fetch_sub(1, std::memory_order_acq_rel) == 1) delete this;
}

}  // namespace gc::runtime
