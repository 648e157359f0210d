// Running test code inside a cycle, with the world stopped: the
// collector's ...ForTesting hooks.
#pragma once

#include "api/gc.h"
#include "gc/collector.h"

namespace gc::testing {

// Runs a collection (gc::collect()) that calls fn() at the end of mark
// termination, the world still stopped.
template <typename Fn>
void CollectWithTerminationHook(Fn fn) {
  gc::internal::Collector& c = gc::internal::Collector::Get();
  c.SetTerminationHookForTesting([](void* f) { (*static_cast<Fn*>(f))(); },
                                 &fn);
  gc::collect();
  c.SetTerminationHookForTesting(nullptr, nullptr);
}

// Runs a collection (gc::collect()) that calls fn() right after marking,
// before the verifier and mark termination, the world stopped.
template <typename Fn>
void CollectWithMarkedHook(Fn fn) {
  gc::internal::Collector& c = gc::internal::Collector::Get();
  c.SetMarkedHookForTesting([](void* f) { (*static_cast<Fn*>(f))(); }, &fn);
  gc::collect();
  c.SetMarkedHookForTesting(nullptr, nullptr);
}

}  // namespace gc::testing
