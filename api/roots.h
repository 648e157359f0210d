// Registered roots besides handles (api/ptr.h):
//
//   gc::RootSet    a callback that visits what a user structure holds (an
//                  interpreter's value stack, a cache), run by the marker
//                  with the world stopped: it may only visit pointers (no
//                  allocation, no locks the mutators hold while allocating).
//   gc::RootRange  count pointers (gc::Ptr, or raw of any type) starting at
//                  an address, scanned precisely; re-register if the
//                  storage moves.
//
// Both register in their constructor and unregister in their destructor
// (RAII), from any thread; unregistering waits for a marking in progress.
#pragma once

#include <cstddef>
#include <functional>
#include <utility>

#include "gcrt/internal/handles.h"
#include "gcrt/ptr.h"
#include "gcrt/trace.h"

namespace gc {

class RootSet {
 public:
  template <typename F>
  requires std::is_invocable_v<F&, Tracer&>
  explicit RootSet(F&& visit) : visit_(std::forward<F>(visit)) {
    record_.trace = &Call;
    record_.context = this;
    internal::RegisterRootSet(&record_);
  }
  ~RootSet() { internal::UnregisterRootSet(&record_); }
  RootSet(const RootSet&) = delete;
  RootSet& operator=(const RootSet&) = delete;

 private:
  static void Call(void* self, Tracer& tracer) {
    static_cast<RootSet*>(self)->visit_(tracer);
  }
  std::function<void(Tracer&)> visit_;
  internal::RootSetRecord record_{};
};

class RootRange {
 public:
  template <typename T>
  RootRange(const Ptr<T>* begin, size_t count)
      : RootRange(reinterpret_cast<const void* const*>(begin), count) {}
  // Raw pointers of any type (Node* nodes[4]: RootRange(nodes, 4)): each
  // is null or the start of a live GC object.
  template <typename T>
  RootRange(T* const* begin, size_t count)
      : RootRange(reinterpret_cast<const void* const*>(begin), count) {}
  RootRange(const void* const* begin, size_t count) {
    record_.trace = nullptr;
    record_.range_begin = begin;
    record_.range_count = count;
    internal::RegisterRootSet(&record_);
  }
  ~RootRange() { internal::UnregisterRootSet(&record_); }
  RootRange(const RootRange&) = delete;
  RootRange& operator=(const RootRange&) = delete;

 private:
  internal::RootSetRecord record_{};
};

}  // namespace gc
