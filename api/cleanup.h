// Cleanups (Go 1.24's runtime.AddCleanup; see gc/finalizer.h):
//
//   gc::Root<File> f = gc::make<File>(fd);
//   gc::Cleanup c = gc::add_cleanup(f, [](int fd) { ::close(fd); }, fd);
//   ...
//   c.stop();   // if the descriptor was closed by hand meanwhile
//
// A cleanup is fn(arg), run once, on the finalizer thread (or the thread
// calling gc::run_finalizers), after a collection found the object
// unreachable and reclaimed it: its destructor has run and its memory is
// gone, so the cleanup never sees the object. An object may have any number
// of cleanups; they are queued in the order they were added, by the sweep
// that reclaims the object (a gc::collect() has queued them when it
// returns), and the finalizer thread runs them in that order (a
// gc::run_finalizers() on another thread may run some at the same time). Unlike
// a finalizer, a cleanup does not resurrect its object.
//
// The rule (Go's): nothing the cleanup holds may reach the object, or the
// object stays reachable and the cleanup never runs (a GC pointer in `arg`
// is no root anyway: it is in the C++ heap). So fn holds no state - a
// function, a captureless lambda or an empty function object (a capture
// does not compile: pass the state as `arg`) - and `arg` is a value: not a
// gc::Ptr (untraced: its object may be gone before the cleanup runs) nor a
// gc::Root (one thread's); a gc::Global is allowed but must not reach the
// object. An `arg` that is a pointer into the object itself, or a
// gc::Global of it, throws std::invalid_argument.
//
// With a finalizer on the same object: the finalizer runs first (it
// resurrects the object); the cleanups run once a later cycle reclaims it
// (Go's order). gc::free of the object queues its cleanups after running
// its destructor: freeing says the object is dead, and a cleanup releases
// what would otherwise leak with it (a finalizer, which needs the object,
// is dropped instead). A cleanup that throws on the finalizer thread is
// reported on stderr and ignored; inside gc::run_finalizers its exception
// reaches the caller. Pieces of tiny objects (pointer-free, under 16 bytes)
// live and die with their 16-byte block: their cleanups run when the whole
// block is reclaimed, as in Go.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <stdexcept>
#include <type_traits>
#include <utility>

#include "gcrt/internal/checks.h"
#include "gcrt/internal/finalizer.h"
#include "gcrt/ptr.h"

namespace gc {

// A handle to one cleanup (gc::add_cleanup): a copyable value that does not
// keep the object alive.
class Cleanup {
 public:
  Cleanup() = default;  // stops nothing
  // Cancels the cleanup if it is not queued yet: it then never runs, and
  // its function and argument are destroyed now. Returns whether it did;
  // false once the object was reclaimed or freed (the cleanup is queued,
  // or ran), or if it was stopped already. Any thread, any time, the
  // object alive or not.
  bool stop() {
    return id_ != 0 && internal::StopCleanupOf(object_, std::exchange(id_, 0));
  }

 private:
  template <typename T, typename F, typename A>
  friend Cleanup add_cleanup(const Ptr<T>& obj, F fn, A arg);
  Cleanup(const void* object, uint64_t id) : object_(object), id_(id) {}
  const void* object_ = nullptr;  // never dereferenced
  uint64_t id_ = 0;
};

namespace internal {

template <typename F>
inline constexpr bool kStatelessCallable =
    std::is_empty_v<F> ||
    (std::is_pointer_v<F> && std::is_function_v<std::remove_pointer_t<F>>);

template <typename A>
struct IsRootOrPtr : std::false_type {};
template <typename U>
struct IsRootOrPtr<Ptr<U>> : std::true_type {};
template <typename U>
struct IsRootOrPtr<Root<U>> : std::true_type {};
template <typename A>
struct IsGlobal : std::false_type {};
template <typename U>
struct IsGlobal<Global<U>> : std::true_type {};

// The address `arg` names, if it is a pointer or a gc::Global: checked
// against the object (out of line).
template <typename A>
const void* ArgAddress(const A& arg) {
  if constexpr (std::is_pointer_v<A> &&
                std::is_object_v<std::remove_pointer_t<A>>) {
    return const_cast<const void*>(static_cast<const volatile void*>(arg));
  } else if constexpr (IsGlobal<A>::value) {
    return arg.get();
  } else {
    return nullptr;
  }
}

}  // namespace internal

// Adds the cleanup fn(arg) to obj (see above). Throws std::invalid_argument
// (changing nothing) for a null obj, one that is not the start of a live GC
// object, or an arg that points into obj.
template <typename T, typename F, typename A>
Cleanup add_cleanup(const Ptr<T>& obj, F fn, A arg) {
  static_assert(internal::kStatelessCallable<F>,
                "gc::add_cleanup: the function must hold no state (a "
                "function, or a lambda without captures): a capture could "
                "keep the object alive, and the cleanup would never run; "
                "pass what it needs as the argument");
  static_assert(!internal::IsRootOrPtr<A>::value,
                "gc::add_cleanup: the argument must not be a gc::Ptr (it is "
                "not traced: its object may be reclaimed before the cleanup "
                "runs) or a gc::Root (one thread's): pass plain data, or a "
                "gc::Global that does not reach the object");
  static_assert(std::is_invocable_v<F&, A&&>,
                "gc::add_cleanup: fn(arg) must be callable");
  if (obj == nullptr) {
    throw std::invalid_argument("gcrt: gc::add_cleanup of a null pointer");
  }
  const void* object = internal::Checked(obj.get(), "gc::add_cleanup");
  internal::CheckCleanupArg(object, internal::ArgAddress(arg));
  std::function<void()> call;
  if constexpr (std::is_copy_constructible_v<A>) {
    call = [fn, arg = std::move(arg)]() mutable { fn(std::move(arg)); };
  } else {
    // std::function holds copyable callables: a move-only argument
    // (a std::unique_ptr, say) is shared with the copies.
    call = [fn, arg = std::make_shared<A>(std::move(arg))]() mutable {
      fn(std::move(*arg));
    };
  }
  return Cleanup(object, internal::AddCleanupOf(object, std::move(call)));
}
template <typename T, typename F, typename A>
Cleanup add_cleanup(const Root<T>& obj, F fn, A arg) {
  return add_cleanup(Ptr<T>(obj), std::move(fn), std::move(arg));
}
template <typename T, typename F, typename A>
Cleanup add_cleanup(const Global<T>& obj, F fn, A arg) {
  return add_cleanup(Ptr<T>(obj), std::move(fn), std::move(arg));
}
// fn() with no argument.
template <typename T, typename F>
requires std::is_invocable_v<F&> Cleanup add_cleanup(const Ptr<T>& obj, F fn) {
  static_assert(internal::kStatelessCallable<F>,
                "gc::add_cleanup: the function must hold no state (a "
                "function, or a lambda without captures): a capture could "
                "keep the object alive, and the cleanup would never run; "
                "pass what it needs as the argument");
  return add_cleanup(
      obj, [](F f) { f(); }, std::move(fn));
}
template <typename T, typename F>
requires std::is_invocable_v<F&> Cleanup add_cleanup(const Root<T>& obj, F fn) {
  return add_cleanup(Ptr<T>(obj), std::move(fn));
}
template <typename T, typename F>
requires std::is_invocable_v<F&> Cleanup add_cleanup(const Global<T>& obj,
                                                     F fn) {
  return add_cleanup(Ptr<T>(obj), std::move(fn));
}

}  // namespace gc
