// The missed-field cross-check: a debug detector for a trace that does not
// visit a field, or a class declared pointer-free that holds a gc::Ptr.
// See gc/collector.h for the overview.
//
// With GCRT_DEBUG=crosscheck=1 (gc::set_crosscheck), mark termination,
// after everything is marked and before the sweep's flip, reads every word
// of every marked object (pointer-free ones and tiny blocks too: a class
// declared pointer-free may be the liar) and stops the program if a word
// points into a live object the cycle left unmarked, i.e. one its sweep
// would destroy while a reachable object holds its address:
//
//   missed field: the object of type X at 0x... holds at offset 24 a
//   pointer to 0x..., in the object of type Y at 0x... that this cycle
//   will free: does X::trace visit that field? ...
//
// A program that keeps heap addresses as integers (a hash of pointers)
// gets false reports, and so does a class with its own trace() whose
// std::optional / std::variant member no longer holds a gc::Ptr it held
// (the storage keeps its bytes; an aggregate's fields are known, and
// alloc::TypeInfo::stale_bytes skips such storage). The check is off by
// default in every build. Cost:
// a read and a page-map lookup per word of the marked heap, on one thread,
// with the world stopped.
#pragma once

#include "gcrt/runtime/mutex.h"

namespace gc::internal {

void CrossCheckMarking() GCRT_REQUIRES(runtime::kWorldStopped);

}  // namespace gc::internal
