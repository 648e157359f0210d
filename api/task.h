// Tasks: many lightweight activities on a few worker threads, as Go's
// goroutines.
//
//   gc::Task<int> t = gc::go([](int n) { return fib(n); }, 30);
//   int r = t.join();                    // waits; rethrows what it threw
//
//   gc::Channel<gc::Root<Node>> ch(16);  // a buffered channel
//   gc::WaitGroup wg;
//   wg.add(1);
//   gc::go([&] { for (int i = 0; i < n; i++) ch.send(gc::make<Node>(i));
//                ch.close(); wg.done(); });
//   while (auto node = ch.recv()) use(*node);
//   wg.wait();
//
// A task is a fiber (Boost.Context) with its own stack, 256 KiB by default
// (GCRT_TASK_STACK_KB, gc::set_task_stack_size; a guard page below it
// faults on overflow, and the fault ends the program with "task N
// overflowed its stack of K KiB ..." on stderr). Stacks are reserved, not
// committed: a task uses the pages it touches, and an ended task's stack is
// reused. Each stack is two mappings, so the system's mapping limit
// (vm.max_map_count, 65530 by default) bounds the tasks that exist at once to
// about 32,000; past it gc::go throws std::bad_alloc saying so. Start many
// tasks from tasks that wait for them in batches, as the tests do with a
// million. GCRT_PROCS worker threads (default: one per hardware thread) run the
// tasks, each worker with its own allocation cache: a task allocates from its
// worker's cache, without a lock. A task runs until it waits (a channel, a wait
// group, a gc::TaskMutex, a join, gc::yield()) or ends; then its worker runs
// another. Idle workers take tasks from busy ones. A task may resume on another
// worker than the one it waited on: what it holds (its stack, its gc::Roots,
// the objects its constructors are building) goes with it, but a thread_local
// of the program is the worker's (do not keep one's address across a wait).
//
// The collector and tasks. A task switch is a safepoint, and at most
// GCRT_PROCS tasks run at a time, so a stop of the world waits for at most
// that many threads, however many tasks there are. Each task's stack is
// scanned as a thread's is (conservatively unless GCRT_STACK_SCAN=off),
// whether the task runs or waits; its gc::Roots live in an arena of its
// own. What a task's function captures, and its arguments, live on the
// task's stack from gc::go until the function returns, and keep their
// objects as a gc::Thread's do (a captured gc::Ptr or raw pointer; not what
// a captured container holds): scanned with the stack, or on their own,
// conservatively, with GCRT_STACK_SCAN=off. A result that holds GC
// pointers is kept rooted until it is joined.
//
// Blocking inside a task. A task that blocks its thread (gc::Blocking,
// gc::Mutex, gc::Thread::join, gc::ConditionVariable: api/thread.h) for
// more than about a millisecond, while other tasks wait to run, has its
// worker's right to run tasks handed to another worker, so the other tasks
// go on; it takes one back when it returns (as a goroutine in a system
// call). Blocking without gc::Blocking holds up every task of its
// worker and every collection, as for threads. The waits of this header
// park the task instead: the worker runs other tasks meanwhile. A task
// may not wait inside a gc::Blocking scope: join, Channel::send and recv,
// TaskMutex::lock and WaitGroup::wait throw std::logic_error there,
// whether or not they would have waited, and change nothing (the try_
// forms and unlock work anywhere).
//
// From plain threads: gc::go, join, and every primitive here work from any
// thread, attached or not; a thread waits inside a blocking region.
//
// Not yet: preemption (a task that neither waits nor allocates keeps its
// worker: call gc::yield() or gc::safepoint() in long loops); a select over
// several channels; timers. When main returns the process exits, running
// tasks or not (as Go's).
#pragma once

#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <optional>
#include <stdexcept>
#include <tuple>
#include <type_traits>
#include <utility>

#include "gcrt/gc.h"
#include "gcrt/internal/task.h"
#include "gcrt/make.h"
#include "gcrt/ptr.h"
#include "gcrt/roots.h"
#include "gcrt/trace.h"

namespace gc {

template <typename R>
class Task;

namespace internal {

// A result that holds GC pointers waits for its join in a GC object
// rooted by the handle; a gc::Root or gc::Global is a root itself.
template <typename R>
inline constexpr bool kBoxResult =
    !(IsGcPointer<R>::value && !IsPtr<R>::value) && ContainsGcPointers<R>();

// A raw pointer to an object whose type holds no gc::Ptr (Leaf*, where Leaf
// is { long x, y; }): whether it points into the GC heap is not known at
// compile time, and nothing else may keep its object. Such a value, as a
// channel's buffered value or a task's result, is kept as a stack word is:
// scanned conservatively (a pointer into a live GC object keeps it; any
// other is ignored).
template <typename T>
inline constexpr bool kRawObjectPointer =
    std::is_pointer_v<T>&& std::is_object_v<std::remove_pointer_t<T>> &&
    !ContainsGcPointers<T>();

template <typename R>
struct TaskResultBox {
  std::optional<R> value;
};
// kRawObjectPointer's result box: a class that is not an aggregate and has
// no trace(), which the marker scans conservatively (api/trace.h).
template <typename R>
class RawPointerResultBox {
 public:
  RawPointerResultBox() {}
  std::optional<R> value;
};
template <typename R>
using ResultBox = std::conditional_t<kRawObjectPointer<R>,
                                     RawPointerResultBox<R>, TaskResultBox<R>>;
template <typename R>
inline constexpr bool kBoxed = kBoxResult<R> || kRawObjectPointer<R>;

template <typename R>
class TaskState final : public runtime::TaskShared {
 public:
  // In the task, before its function runs: the box for a result holding
  // GC pointers is allocated first, so the result goes into it with no
  // allocation (no safepoint) between the function's return and the
  // store.
  void Prepare() {
    if constexpr (kBoxed<R>) stored_ = make<ResultBox<R>>();
  }
  void Set(R&& value) {
    if constexpr (kBoxed<R>) {
      stored_->value.emplace(std::move(value));
    } else {
      stored_.emplace(std::move(value));
    }
  }
  R Take() {
    if constexpr (kBoxed<R>) {
      R r = std::move(*stored_->value);
      stored_ = nullptr;
      return r;
    } else {
      R r = std::move(*stored_);
      stored_.reset();
      return r;
    }
  }

 private:
  // Written by the task before it ends, read by the joiner after.
  std::conditional_t<kBoxed<R>, Root<ResultBox<R>>, std::optional<R>> stored_;
};

template <>
class TaskState<void> final : public runtime::TaskShared {};

template <typename R, typename Closure>
void RunTask(void* closure, runtime::TaskShared* shared) {
  auto* c = static_cast<Closure*>(closure);
  auto* state = static_cast<TaskState<R>*>(shared);
  try {
    if constexpr (std::is_void_v<R>) {
      std::apply(
          [](auto& f, auto&... args) {
            std::invoke(std::move(f), std::move(args)...);
          },
          *c);
    } else {
      state->Prepare();
      state->Set(std::apply(
          [](auto& f, auto&... args) -> R {
            return std::invoke(std::move(f), std::move(args)...);
          },
          *c));
    }
  } catch (...) {
    state->error = std::current_exception();
  }
  c->~Closure();
}

}  // namespace internal

// Starts f(args...) as a task and returns its handle. f and args are
// copied or moved (decayed, as std::thread does) onto the task's stack.
// Throws std::length_error if they take more than a quarter of the stack.
template <typename F, typename... Args>
auto go(F&& f, Args&&... args)
    -> Task<std::invoke_result_t<std::decay_t<F>, std::decay_t<Args>...>> {
  using R = std::invoke_result_t<std::decay_t<F>, std::decay_t<Args>...>;
  using Closure = std::tuple<std::decay_t<F>, std::decay_t<Args>...>;
  static_assert(alignof(Closure) <= 16,
                "gc::go: an over-aligned function object or argument");
  // A result that is or holds a raw pointer to a type holding gc::Ptr would
  // wait for its join unrooted: a compile error, as in a traced type. Here,
  // not in TaskState, whose members clang would then report missing too.
  static_assert(!internal::HoldsRawPointerToTraced<R>(),
                "gcrt: a task returning a raw pointer to a type that may hold "
                "gc::Ptr (or a value holding one: a container, pair, optional "
                "or struct of such pointers): the result would not be a root "
                "until joined and its object could be reclaimed; return "
                "gc::Ptr<T> or gc::Root<T> in its place (with clang before "
                "16, any aggregate of two or more fields may: declare one "
                "that holds none `using gc_pointer_free = T;`)");
  internal::PrepareTasks();
  auto* state = new internal::TaskState<R>();
  void* space = nullptr;
  runtime::Task* task = nullptr;
  try {
    task = runtime::NewTask(state, sizeof(Closure), alignof(Closure), &space);
  } catch (...) {
    state->Unref();
    state->Unref();
    throw;
  }
  try {
    new (space) Closure(std::forward<F>(f), std::forward<Args>(args)...);
  } catch (...) {
    internal::DiscardTask(task);
    state->Unref();
    throw;
  }
  runtime::StartTask(task, &internal::RunTask<R, Closure>);
  return Task<R>(state);
}

// A task's handle: join() waits for it and returns its result (or
// rethrows its exception); dropping the handle detaches the task. A task
// that ends with an exception nobody joins has it printed on stderr
// ("gcrt: task N ended with an exception nobody joined: ..."), not lost.
template <typename R>
class Task {
 public:
  Task() noexcept = default;
  Task(Task&& other) noexcept : state_(std::exchange(other.state_, nullptr)) {}
  Task& operator=(Task&& other) noexcept {
    if (this != &other) {
      Reset();
      state_ = std::exchange(other.state_, nullptr);
    }
    return *this;
  }
  Task(const Task&) = delete;
  Task& operator=(const Task&) = delete;
  ~Task() { Reset(); }

  // Waits for the task (parking the calling task, or blocking the calling
  // thread in a blocking region) and returns what it returned, or
  // rethrows what it threw. The handle is empty afterwards. Throws
  // std::logic_error on an empty handle.
  R join() {
    if (state_ == nullptr) {
      throw std::logic_error("gcrt: join() on an empty gc::Task");
    }
    state_->Wait();
    internal::TaskState<R>* s = std::exchange(state_, nullptr);
    // Moved out: whichever thread drops the state last, the exception is
    // released on this one.
    std::exception_ptr error = std::move(s->error);
    if constexpr (std::is_void_v<R>) {
      s->Unref();
      if (error) std::rethrow_exception(error);
    } else {
      if (error) {
        s->Unref();
        std::rethrow_exception(error);
      }
      R r = s->Take();
      s->Unref();
      return r;
    }
  }
  // Drops the handle: the task runs on (its error, if any, is printed).
  void detach() { Reset(); }
  bool joinable() const { return state_ != nullptr; }
  // Whether the task has ended (false for an empty handle).
  bool done() const { return state_ != nullptr && state_->done(); }
  // The task's number, unique in the process (0 for an empty handle).
  uint64_t id() const { return state_ == nullptr ? 0 : state_->id(); }

 private:
  template <typename F, typename... Args>
  friend auto go(F&& f, Args&&... args)
      -> Task<std::invoke_result_t<std::decay_t<F>, std::decay_t<Args>...>>;
  explicit Task(internal::TaskState<R>* state) : state_(state) {}
  void Reset() {
    if (state_ != nullptr) std::exchange(state_, nullptr)->Drop();
  }
  internal::TaskState<R>* state_ = nullptr;
};

// Lets the other runnable tasks run first; the calling task goes behind
// them. Outside a task, a safepoint poll. Throws std::logic_error inside a
// gc::Blocking scope.
inline void yield() { runtime::YieldTask(); }
// Whether the caller runs in a task, and its number (0 outside).
inline bool in_task() { return runtime::InTask(); }
inline uint64_t task_id() { return runtime::CurrentTaskId(); }
// The number of workers that run tasks at a time (GCRT_PROCS).
inline uint32_t task_procs() { return runtime::TaskProcs(); }

// Waits for a collection of tasks (or threads) to finish, as Go's
// sync.WaitGroup: add(n) before starting them, done() as each ends, wait()
// until the count is back to zero.
class WaitGroup {
 public:
  WaitGroup() = default;
  WaitGroup(const WaitGroup&) = delete;
  WaitGroup& operator=(const WaitGroup&) = delete;

  // Adds n (which may be negative) to the count; at zero, wakes the
  // waiters. Throws std::logic_error if the count would go below zero.
  void add(int64_t n) {
    internal::WaitQueue woken;
    {
      runtime::MutexLock lock(&mu_);
      if (count_ + n < 0) {
        throw std::logic_error("gcrt: gc::WaitGroup count below zero");
      }
      count_ += n;
      if (count_ == 0) std::swap(woken, waiters_);
    }
    while (runtime::Waiter* w = woken.Pop()) w->Wake();
  }
  void done() { add(-1); }
  // Waits until the count is zero (returns at once if it is).
  void wait() {
    runtime::Waiter::CheckMayPark();
    mu_.lock();
    if (count_ == 0) {
      mu_.unlock();
      return;
    }
    runtime::Waiter w;
    waiters_.Push(&w);
    w.Wait(&mu_);
  }

 private:
  runtime::Mutex mu_;  // lock rank 26 (a task primitive's)
  int64_t count_ GCRT_GUARDED_BY(mu_) = 0;
  internal::WaitQueue waiters_ GCRT_GUARDED_BY(mu_);
};

// A mutex whose lock() parks a waiting task (a waiting thread blocks in a
// blocking region), handed to waiters in the order they came (no
// barging). BasicLockable and Lockable: std::lock_guard and
// std::unique_lock take it.
class TaskMutex {
 public:
  TaskMutex() = default;
  TaskMutex(const TaskMutex&) = delete;
  TaskMutex& operator=(const TaskMutex&) = delete;

  void lock() {
    runtime::Waiter::CheckMayPark();
    mu_.lock();
    if (!locked_) {
      locked_ = true;
      mu_.unlock();
      return;
    }
    runtime::Waiter w;
    waiters_.Push(&w);
    w.Wait(&mu_);  // unlock() handed the mutex over: locked_ stayed true
  }
  bool try_lock() {
    runtime::MutexLock lock(&mu_);
    if (locked_) return false;
    locked_ = true;
    return true;
  }
  // Throws std::logic_error if the mutex is not locked.
  void unlock() {
    runtime::Waiter* next;
    {
      runtime::MutexLock lock(&mu_);
      if (!locked_) {
        throw std::logic_error("gcrt: unlock of an unlocked gc::TaskMutex");
      }
      next = waiters_.Pop();
      if (next == nullptr) locked_ = false;
    }
    if (next != nullptr) next->Wake();
  }

 private:
  runtime::Mutex mu_;  // lock rank 26 (a task primitive's)
  bool locked_ GCRT_GUARDED_BY(mu_) = false;
  internal::WaitQueue waiters_ GCRT_GUARDED_BY(mu_);
};

// A channel, as Go's: send() waits for a receiver (capacity 0) or for room
// in the buffer; recv() waits for a value, and returns std::nullopt once
// the channel is closed and empty. Values are moved through. A buffered
// value that holds GC pointers is a root while it waits in the buffer;
// one handed over directly is on a stack all the way.
template <typename T>
class Channel {
  // A raw pointer to a type that holds gc::Ptr (Channel<Node*>, or one
  // inside the value: Channel<std::vector<Node*>>) would wait in the buffer
  // unrooted, its object reclaimed: a compile error, as in a traced type
  // (api/trace.h). gc::Ptr<Node> or gc::Root<Node> travel. One to a type
  // with no gc::Ptr (Channel<Leaf*>) waits as a stack word does
  // (kRawObjectPointer); inside a value (std::vector<Leaf*>) it is not
  // seen.
  static_assert(!internal::HoldsRawPointerToTraced<T>(),
                "gcrt: a gc::Channel of raw pointers to a type that may hold "
                "gc::Ptr (or of values holding them: a container, pair, "
                "optional or struct of such pointers): the buffered pointers "
                "would not be roots and their objects would be reclaimed; "
                "send gc::Ptr<T> or gc::Root<T> in their place (with clang "
                "before 16, any aggregate of two or more fields may: declare "
                "one that holds none `using gc_pointer_free = T;`)");

 public:
  explicit Channel(size_t capacity = 0) : capacity_(capacity) {
    if constexpr (kRooted) {
      roots_.emplace([this](Tracer& t) GCRT_NO_THREAD_SAFETY_ANALYSIS {
        for (const T& v : buffer_) Trace(t, v);
        for (runtime::Waiter* w = senders_.first(); w != nullptr; w = w->next) {
          Trace(t, *static_cast<const T*>(w->data));
        }
        for (runtime::Waiter* w = delivered_.first(); w != nullptr;
             w = w->next) {
          Trace(t, **static_cast<const std::optional<T>*>(w->data));
        }
      });
    }
  }
  Channel(const Channel&) = delete;
  Channel& operator=(const Channel&) = delete;

  // Sends a value: hands it to a waiting receiver, buffers it, or waits
  // for one of the two. Throws std::logic_error on a closed channel (also
  // one closed while the send waited; the value is dropped then).
  void send(T value) {
    runtime::Waiter::CheckMayPark();
    Attach();
    mu_.lock();
    if (closed_) {
      mu_.unlock();
      throw std::logic_error("gcrt: send on a closed gc::Channel");
    }
    if (runtime::Waiter* r = receivers_.Pop()) {
      DeliverLocked(r, std::move(value));
      mu_.unlock();
      r->Wake();
      return;
    }
    if (buffer_.size() < capacity_) {
      buffer_.push_back(std::move(value));
      mu_.unlock();
      return;
    }
    runtime::Waiter w;
    w.data = &value;
    senders_.Push(&w);
    w.Wait(&mu_);
    if (!w.ok) {
      throw std::logic_error(
          "gcrt: a gc::Channel was closed while a send waited on it");
    }
  }
  // Sends if that needs no wait (a receiver waits, or there is room);
  // returns whether it sent. Throws std::logic_error on a closed channel.
  bool try_send(T value) {
    Attach();
    runtime::Waiter* r;
    {
      runtime::MutexLock lock(&mu_);
      if (closed_) {
        throw std::logic_error("gcrt: send on a closed gc::Channel");
      }
      r = receivers_.Pop();
      if (r == nullptr) {
        if (buffer_.size() >= capacity_) return false;
        buffer_.push_back(std::move(value));
        return true;
      }
      DeliverLocked(r, std::move(value));
    }
    r->Wake();
    return true;
  }
  // Receives a value, waiting for one; std::nullopt once the channel is
  // closed and its buffer empty.
  std::optional<T> recv() {
    runtime::Waiter::CheckMayPark();
    Attach();
    std::optional<T> v;
    runtime::Waiter* sender = nullptr;
    mu_.lock();
    if (TakeLocked(&v, &sender)) {
      mu_.unlock();
      if (sender != nullptr) sender->Wake();
      return v;
    }
    if (closed_) {
      mu_.unlock();
      return std::nullopt;
    }
    runtime::Waiter w;
    w.data = &v;
    receivers_.Push(&w);
    w.Wait(&mu_);
    if constexpr (kRooted) {
      // The value is this frame's now (a root for the collector while
      // stacks are scanned; the caller's to root otherwise).
      if (w.ok) {
        runtime::MutexLock lock(&mu_);
        delivered_.Remove(&w);
      }
    }
    return v;  // empty if the channel was closed meanwhile
  }
  // Receives a value if one is there without waiting.
  std::optional<T> try_recv() {
    Attach();
    std::optional<T> v;
    runtime::Waiter* sender = nullptr;
    {
      runtime::MutexLock lock(&mu_);
      if (!TakeLocked(&v, &sender)) return std::nullopt;
    }
    if (sender != nullptr) sender->Wake();
    return v;
  }
  // Closes the channel: waiting receivers get std::nullopt, waiting
  // senders std::logic_error; buffered values can still be received.
  // Throws std::logic_error if it is closed already.
  void close() {
    internal::WaitQueue receivers, senders;
    {
      runtime::MutexLock lock(&mu_);
      if (closed_) {
        throw std::logic_error("gcrt: close of a closed gc::Channel");
      }
      closed_ = true;
      std::swap(receivers, receivers_);
      std::swap(senders, senders_);
    }
    while (runtime::Waiter* w = receivers.Pop()) w->Wake();
    while (runtime::Waiter* w = senders.Pop()) w->Wake();
  }
  bool closed() const {
    runtime::MutexLock lock(&mu_);
    return closed_;
  }
  // Values buffered now.
  size_t size() const {
    runtime::MutexLock lock(&mu_);
    return buffer_.size();
  }
  size_t capacity() const { return capacity_; }

 private:
  // A buffered value or a waiting sender's, into *v; whether there was
  // one. *sender: a sender whose value it took (straight, or into the
  // buffer's room it made), to wake once the lock is released.
  bool TakeLocked(std::optional<T>* v, runtime::Waiter** sender)
      GCRT_REQUIRES(mu_) {
    runtime::Waiter* s = nullptr;
    if (!buffer_.empty()) {
      v->emplace(std::move(buffer_.front()));
      buffer_.pop_front();
      if ((s = senders_.Pop()) != nullptr) {
        buffer_.push_back(std::move(*static_cast<T*>(s->data)));
      }
    } else if ((s = senders_.Pop()) != nullptr) {
      v->emplace(std::move(*static_cast<T*>(s->data)));
    } else {
      return false;
    }
    if (s != nullptr) s->ok = true;
    *sender = s;
    return true;
  }
  // Hands a value to a waiting receiver. One holding GC pointers stays
  // rooted (delivered_) until the receiver has woken and taken it.
  void DeliverLocked(runtime::Waiter* r, T&& value) GCRT_REQUIRES(mu_) {
    static_cast<std::optional<T>*>(r->data)->emplace(std::move(value));
    r->ok = true;
    if constexpr (kRooted) delivered_.Push(r);
  }
  // A value holding GC pointers must not be moved by a thread the world
  // does not stop (the channel's root set is read with the world stopped).
  // Every operation is a safepoint too, before it takes the lock: a loop of
  // sends into a roomy buffer, or of receives from a full one, never waits
  // and must let the world stop.
  static void Attach() {
    if constexpr (kRooted) attach_thread();
    safepoint();
  }

  static constexpr bool kRooted =
      internal::ContainsGcPointers<T>() || internal::kRawObjectPointer<T>;
  // A value as a root: traced, or a raw pointer word taken conservatively
  // (kRawObjectPointer). The world is stopped.
  static void Trace(Tracer& t, const T& v) {
    if constexpr (internal::kRawObjectPointer<T>) {
      t.VisitConservative(&v, sizeof v);
    } else {
      t(v);
    }
  }

  const size_t capacity_;
  mutable runtime::Mutex mu_;  // lock rank 26 (a task primitive's)
  std::deque<T> buffer_ GCRT_GUARDED_BY(mu_);
  internal::WaitQueue receivers_ GCRT_GUARDED_BY(mu_);
  internal::WaitQueue senders_ GCRT_GUARDED_BY(mu_);
  // Receivers handed a value they have not taken yet (kRooted only).
  internal::WaitQueue delivered_ GCRT_GUARDED_BY(mu_);
  bool closed_ GCRT_GUARDED_BY(mu_) = false;
  // What the channel holds, as roots (only for values that can hold GC
  // pointers): the buffer, the values of waiting senders and those
  // delivered to receivers not yet resumed. Read with the world stopped,
  // when no thread is inside the lock (no safepoint there).
  std::optional<RootSet> roots_;
};

}  // namespace gc
