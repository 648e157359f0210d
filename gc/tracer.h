// gc::Tracer: what a type's trace function, and a registered root set, hand
// the pointers they hold to. The collector builds one per use (the marker
// and the verifier) around a visit function; the API (api/trace.h) gives it
// its operator(), which takes gc::Ptr fields, std containers of them,
// aggregates and anything with its own trace().
// See gc/collector.h for the overview.
//
// Layering: the class is defined here, below the API, because the marker
// constructs it and type trace functions (alloc::TypeInfo::trace) take it.
#pragma once

#include <cstddef>

#include "gcrt/runtime/base.h"

namespace gc {

class Tracer {
 public:
  // Visits one pointer: exact or interior, into the GC heap or not (null
  // and non-heap pointers are ignored by every visitor).
  using VisitFn = void (*)(void* context, const void* pointer);
  // Visits every word of a range that may hold pointers (conservatively:
  // only words that point into allocated objects count).
  using VisitRangeFn = void (*)(void* context, const void* begin, size_t bytes);

  // `concurrent`: the marker runs beside the program (gc/marker.h).
  Tracer(VisitFn visit, VisitRangeFn visit_range, void* context,
         bool concurrent = false)
      : visit_(visit),
        visit_range_(visit_range),
        context_(context),
        concurrent_(concurrent) {}
  Tracer(const Tracer&) = delete;
  Tracer& operator=(const Tracer&) = delete;

  GCRT_ALWAYS_INLINE void Visit(const void* pointer) {
    if (pointer != nullptr) visit_(context_, pointer);
  }
  void VisitConservative(const void* begin, size_t bytes) {
    visit_range_(context_, begin, bytes);
  }

  // The concurrent marker reads gc::Ptr members while the program runs,
  // but not what the program may change with no write barrier: a
  // container's buffer, an optional's or a variant's storage, an owned
  // object, a conservatively scanned member. Tracing one of those calls
  // this, which, for the concurrent marker, leaves the member unread and
  // the whole object for the final stop (deferred()) and returns true.
  bool DeferIfConcurrent() {
    deferred_ |= concurrent_;
    return concurrent_;
  }
  bool concurrent() const { return concurrent_; }
  bool deferred() const { return deferred_; }

  // Traces every argument: gc::Ptr and gc::Root values, std containers,
  // pairs, tuples and optionals of them, aggregates (api/internal/reflect.h),
  // and objects with a `void trace(gc::Tracer&) const` member. Defined in
  // api/trace.h.
  template <typename... Ts>
  void operator()(const Ts&... values);

 private:
  VisitFn visit_;
  VisitRangeFn visit_range_;
  void* context_;
  const bool concurrent_;
  bool deferred_ = false;
};

}  // namespace gc
