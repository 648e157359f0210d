// Finalizers (Go's runtime.SetFinalizer; see gc/finalizer.h):
//
//   gc::set_finalizer(file, [](File* f) { f->flush(); });
//   ...
//   gc::collect();          // finds `file` unreachable: queues the finalizer
//   gc::run_finalizers();   // or let the finalizer thread run it
//
// The finalizer runs once, on the finalizer thread (or the thread calling
// gc::run_finalizers), after a collection found its object unreachable.
// Until then the object and everything it reaches stay intact and
// allocated; the finalizer may use them all, allocate, collect, and store
// the object somewhere (it is then reachable again, and has no finalizer
// any more). The object is reclaimed, and its destructor run, by a later
// cycle that finds it unreachable.
//
// As in Go: an object on a cycle of references to itself is never
// finalized; when one finalizable object reaches another, the first is
// finalized a cycle earlier. Unlike Go, what the function captures is not
// a root: a captured gc::Ptr keeps nothing; capture a gc::Root (never one
// to the object, or to anything that reaches it, which then can never
// become unreachable). An
// explicit gc::free drops the finalizer unrun. A tiny object (pointer-free,
// trivially destructible, under 16 bytes) shares a 16-byte block with
// others: its finalizer runs once nothing reaches any object of the block,
// and never while one of them stays reachable (Go's tiny allocator has the
// same rule). A finalizer that throws on
// the finalizer thread is reported on stderr and ignored; one that throws
// inside gc::run_finalizers reaches its caller.
#pragma once

#include <cstdint>
#include <functional>
#include <stdexcept>
#include <type_traits>
#include <utility>

#include "gcrt/internal/checks.h"
#include "gcrt/internal/finalizer.h"
#include "gcrt/ptr.h"

namespace gc {

// Sets obj's finalizer: fn(T*) once obj is unreachable. Throws
// std::invalid_argument (changing nothing) if obj is not the start of a GC
// object or already has a finalizer, and for a null obj.
template <typename T, typename F>
requires std::is_invocable_v<F&, T*>
void set_finalizer(const Ptr<T>& obj, F fn) {
  if (obj == nullptr) {
    throw std::invalid_argument("gcrt: gc::set_finalizer of a null pointer");
  }
  internal::SetFinalizerOf(
      internal::Checked(obj.get(), "gc::set_finalizer"),
      [fn = std::move(fn)](void* p) mutable { fn(static_cast<T*>(p)); });
}
template <typename T, typename F>
requires std::is_invocable_v<F&, T*>
void set_finalizer(const Root<T>& obj, F fn) {
  set_finalizer(Ptr<T>(obj), std::move(fn));
}
template <typename T, typename F>
requires std::is_invocable_v<F&, T*>
void set_finalizer(const Global<T>& obj, F fn) {
  set_finalizer(Ptr<T>(obj), std::move(fn));
}
// Removes obj's finalizer if it was not queued yet; false if it had none.
template <typename T>
bool clear_finalizer(const Ptr<T>& obj) {
  return obj != nullptr && internal::ClearFinalizerOf(obj.get());
}
template <typename T>
bool clear_finalizer(const Root<T>& obj) {
  return clear_finalizer(Ptr<T>(obj));
}
template <typename T>
bool clear_finalizer(const Global<T>& obj) {
  return clear_finalizer(Ptr<T>(obj));
}
// Runs the finalizers and cleanups (api/cleanup.h) queued so far on this
// thread (waiting for any the finalizer thread is running) and returns when
// all of them have run. Returns how many this thread ran: the finalizer
// thread may take queued ones first (a race), and those, and their
// exceptions, are not this thread's.
uint64_t run_finalizers();

}  // namespace gc
