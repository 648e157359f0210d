// Internal to gcrt: not part of the API, may change.
//
// The finalizer glue gc::set_finalizer and gc::clear_finalizer inline
// (api/finalizer.h). Nothing of it is on a fast path: these forward, out of
// line (api/gc.cc), to the collector's finalizers (gc/finalizer.h).
#pragma once

#include <functional>

namespace gc::internal {

// gc/finalizer.h's SetFinalizer and ClearFinalizer, for the API.
void SetFinalizerOf(const void* object, std::function<void(void*)> fn);
bool ClearFinalizerOf(const void* object);

}  // namespace gc::internal
