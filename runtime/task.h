// Tasks: many lightweight activities (fibers on Boost.Context) run on a few
// worker threads, as goroutines on Go's Ms and Ps (proc.go).
//
//   Slot      a right to run tasks (Go's P): GCRT_PROCS of them (default the
//             hardware threads), each with a local run queue. At most that
//             many workers run tasks at a time, so at most that many
//             mutators of the scheduler run: a stop of the world waits for
//             no thread the OS has not scheduled.
//   Worker    an OS thread (Go's M), attached to the heap: it holds a
//             runtime Processor, so the allocation cache is per worker, and
//             it runs tasks while it holds a slot. A worker without a slot
//             sleeps inside a blocking region (the world does not wait for
//             it). Workers are made as needed and never exit.
//   Task      a fiber with its own stack (pooled, with a guard page below
//             it: task_stack.h) and its own state of the layers above
//             (TaskLocalHook: gc's handle arena and construction stack), so
//             its roots follow it from worker to worker.
//
// Scheduling, as Go's: a new or readied task goes to the local queue of
// the slot the caller runs on, or to the global queue from a thread that
// is not a worker; a worker looks in its slot's queue, then the global
// queue (every 61st time first, for fairness), then steals half of another
// slot's queue, and otherwise gives its slot back and sleeps. A task made
// runnable while a slot is idle and no worker is looking for work wakes a
// worker (Go's wakep), which looks ("spinning") and wakes the next when it
// finds something.
//
// Safepoints: a task switch is one (the worker polls before it resumes the
// next task), as are the allocation slow path and gc::safepoint() inside a
// task. A suspended task needs nothing for a stop; its stack is scanned
// from where it stopped (ForEachSuspendedTaskStack). A running task's stack
// is its worker's: the worker's processor records the fiber's bounds
// (runtime/stack.h's bounds are switched with the task).
//
// Blocking: a task that enters a blocking region (gc::Blocking, gc::Mutex,
// a join from a plain thread's primitive) gives its slot to another worker
// if there is work for it (Go's handoffp), so the other tasks go on; when
// it leaves the region it takes an idle slot back, or waits until a worker
// hands it one at its next task switch (Go's exitsyscall).
//
// Waiting: Waiter parks a task (the worker runs others meanwhile) or blocks
// a thread inside a blocking region: the primitives above (api/task.h's
// channel, wait group, mutex, join) are written once for both.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <exception>

#include "gcrt/runtime/base.h"
#include "gcrt/runtime/mutex.h"

namespace gc::runtime {

class Task;

// What a task shares with the handle that joins it. Reference-counted: the
// task's reference goes when it ends, the handle's when it is dropped. The
// layer above derives from it to keep the result.
class TaskShared {
 public:
  TaskShared() = default;
  TaskShared(const TaskShared&) = delete;
  TaskShared& operator=(const TaskShared&) = delete;

  // Whether the task has ended (acquire: its result and error are
  // visible then).
  bool done() const { return done_.load(std::memory_order_acquire); }
  // Waits for the task to end: parks a task, blocks a thread in a
  // blocking region.
  void Wait();
  // The handle is dropped: an error nobody will join is reported now (or
  // when the task ends, if it has not).
  void Drop();
  uint64_t id() const { return id_; }

  // Written by the task before it ends, read after done().
  std::exception_ptr error;

  // The scheduler's side (scheduler.cc): the task has ended (wakes the
  // joiners, drops the task's reference); a reference is dropped.
  void Finish();
  void Unref();

 protected:
  virtual ~TaskShared() = default;

 private:
  friend Task* NewTask(TaskShared*, size_t, size_t, void**);
  void ReportUnjoinedError();

  std::atomic<int> refs_{2};
  std::atomic<bool> done_{false};
  uint64_t id_ = 0;  // Immutable after NewTask.
  Mutex mu_;         // lock rank 26 (a task primitive's)
  bool dropped_ GCRT_GUARDED_BY(mu_) = false;
  class Waiter* joiners_ GCRT_GUARDED_BY(mu_) = nullptr;
};

// A task's entry: runs on the task's stack with its closure (constructed by
// the caller in the space NewTask returned, destroyed by entry before it
// returns). Must not throw: entry catches and stores in shared->error.
using TaskEntry = void (*)(void* closure, TaskShared* shared);

// Makes a task with a stack of the configured size and `closure_bytes`
// (aligned to `align`, at most 16) reserved at its top, where *closure
// points: the caller constructs the closure there, then starts the task
// with StartTask. The closure lives on the task's own stack, so whatever
// it holds is scanned with the stack (also before the task first runs),
// or on its own when stacks are not (ForEachTaskClosure).
// Throws std::length_error if the closure does not fit in a quarter of
// the stack.
Task* NewTask(TaskShared* shared, size_t closure_bytes, size_t align,
              void** closure);
// Queues the task (starting the scheduler's workers on first use).
void StartTask(Task* task, TaskEntry entry);
// Gives back a task NewTask made that will not start (its closure could
// not be built); the caller keeps its reference to `shared`, the task's
// is dropped.
void DiscardTask(Task* task);

// Whether the calling code runs in a task; the task's id (0 if not).
bool InTask();
uint64_t CurrentTaskId();
// Lets the other runnable tasks run (Go's Gosched); a no-op outside a task
// but a safepoint poll. Throws std::logic_error inside a blocking region.
void YieldTask();

// The scheduler's configuration: GCRT_PROCS (slots), GCRT_TASK_STACK_KB.
// The number of slots is fixed when the first task starts.
uint32_t TaskProcs();
size_t TaskStackBytes();
// Sets the stack size of tasks made from now on (rounded up to pages; at
// least 16 KiB). Throws std::invalid_argument below that.
void SetTaskStackBytes(size_t bytes);

// The state of the layers above that follows a task (gc's handle arena):
// exchange(value) installs a task's value for the calling thread and
// returns the thread's previous one (so a worker's own is put back when
// the task switches out); release(value) runs on the worker when a task
// that had a value ends.
struct TaskLocalHook {
  void* (*exchange)(void* value);
  void (*release)(void* value);
};
void SetTaskLocalHook(TaskLocalHook hook);

// One waiting task or thread, on the stack of the one that waits. A
// primitive queues it under its own lock, then Wait releases that lock
// once the waiter can be woken (a task: after it has switched out); a
// waker takes it off the queue under the lock and calls Wake (with or
// without the lock). `data` and `ok` are the primitive's: written by the
// waker before Wake, read by the waiter after Wait returns.
class Waiter {
 public:
  Waiter();
  Waiter(const Waiter&) = delete;
  Waiter& operator=(const Waiter&) = delete;

  void Wait(Mutex* mu) GCRT_RELEASE(mu);
  void Wake();
  // Throws std::logic_error if the caller is a task inside a blocking
  // region, where it may not park (its worker's right to run tasks went
  // to another worker). Every primitive calls it first, before it takes
  // its lock or changes anything, whether or not it would wait: the
  // exception leaves the primitive as it was (thrown from Wait, it left
  // a dead frame's waiter queued), and the rule does not depend on
  // timing.
  static void CheckMayPark();

  Waiter* next = nullptr;  // a primitive's queue (runtime/list.h)
  Waiter* prev = nullptr;
  void* data = nullptr;
  bool ok = false;

 private:
  Task* task_;                      // null for a thread
  std::atomic<uint32_t> woken_{0};  // a thread's futex word
};

// Scheduler figures, for tests and benchmarks.
struct SchedulerStats {
  uint64_t tasks_started = 0;
  uint64_t tasks_done = 0;
  uint64_t steals = 0;    // tasks taken from another slot's queue
  uint64_t handoffs = 0;  // slots given away at a blocking region
  uint32_t workers = 0;   // OS threads made
  uint32_t procs = 0;
};
SchedulerStats GetSchedulerStats();

// The collector's side (world stopped): every task that is not running on
// a worker, with the range of its stack to scan ([sp, hi): from where it
// switched out, or from its closure if it has not run) and its ASan fake
// stack. Holds the task registry's lock (rank 29) while it runs.
template <typename Fn>
void ForEachSuspendedTaskStack(Fn&& fn);
// The collector's side (world stopped): fn(lo, hi) for the closure of
// every started task whose entry has not returned, running or not: the
// function object and arguments gc::go copied onto the task's stack, which
// the collector scans conservatively when stacks are not scanned, as a
// gc::Thread's. Holds the task registry's lock (rank 29) while it runs.
template <typename Fn>
void ForEachTaskClosure(Fn&& fn);

// --- implementation details ---

struct SuspendedStack {
  uintptr_t sp;
  uintptr_t hi;
  void* fake_stack;
};
void ForEachSuspendedTaskStackImpl(void (*fn)(void* ctx,
                                              const SuspendedStack& s),
                                   void* ctx);

template <typename Fn>
void ForEachSuspendedTaskStack(Fn&& fn) {
  ForEachSuspendedTaskStackImpl(
      [](void* ctx, const SuspendedStack& s) { (*static_cast<Fn*>(ctx))(s); },
      &fn);
}

void ForEachTaskClosureImpl(void (*fn)(void* ctx, uintptr_t lo, uintptr_t hi),
                            void* ctx);

template <typename Fn>
void ForEachTaskClosure(Fn&& fn) {
  ForEachTaskClosureImpl([](void* ctx, uintptr_t lo,
                            uintptr_t hi) { (*static_cast<Fn*>(ctx))(lo, hi); },
                         &fn);
}

// The blocking region's hooks (safepoint.cc): the calling thread enters
// or leaves its outermost region.
void OnTaskBlockingEnter();
void OnTaskBlockingExit();

}  // namespace gc::runtime
