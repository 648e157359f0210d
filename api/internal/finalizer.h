// Internal to gcrt: not part of the API, may change.
//
// The finalizer glue gc::set_finalizer and gc::clear_finalizer inline
// (api/finalizer.h), and the cleanup glue of gc::add_cleanup and
// gc::Cleanup::stop (api/cleanup.h). Nothing of it is on a fast path: these
// forward, out of line (api/gc.cc), to the collector's finalizers
// (gc/finalizer.h).
#pragma once

#include <cstdint>
#include <functional>

namespace gc::internal {

// gc/finalizer.h's SetFinalizer and ClearFinalizer, for the API.
void SetFinalizerOf(const void* object, std::function<void(void*)> fn);
bool ClearFinalizerOf(const void* object);
// gc/finalizer.h's AddCleanup and StopCleanup.
uint64_t AddCleanupOf(const void* object, std::function<void()> fn);
bool StopCleanupOf(const void* object, uint64_t id);
// gc::add_cleanup's check: throws std::invalid_argument if `arg` (null: no
// pointer) points into `object`.
void CheckCleanupArg(const void* object, const void* arg);

}  // namespace gc::internal
