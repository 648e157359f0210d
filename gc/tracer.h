// gc::Tracer: what a type's trace function, and a registered root set, hand
// the pointers they hold to. The collector builds one per use (the marker,
// the verifier, the why-alive query) around a visit function; the API
// (api/trace.h) gives it its operator(), which takes gc::Ptr fields, std
// containers of them, aggregates and anything with its own trace().
//
// Layering: the class is defined here, below the API, because the marker
// constructs it and type trace functions (alloc::TypeInfo::trace) take it.
#pragma once

#include "runtime/base.h"

namespace gc {

class Tracer {
 public:
  // Visits one pointer: exact or interior, into the GC heap or not (null
  // and non-heap pointers are ignored by every visitor).
  using VisitFn = void (*)(void* context, const void* pointer);

  Tracer(VisitFn visit, void* context) : visit_(visit), context_(context) {}
  Tracer(const Tracer&) = delete;
  Tracer& operator=(const Tracer&) = delete;

  GC_ALWAYS_INLINE void Visit(const void* pointer) {
    if (pointer != nullptr) visit_(context_, pointer);
  }

  // Traces every argument: gc::Ptr and gc::Root values, std containers,
  // pairs, tuples and optionals of them, aggregates (through Boost.PFR),
  // and objects with a `void trace(gc::Tracer&) const` member. Defined in
  // api/trace.h.
  template <typename... Ts>
  void operator()(const Ts&... values);

 private:
  VisitFn visit_;
  void* context_;
};

}  // namespace gc
