// Running test code inside a cycle: the collector's ...ForTesting hooks.
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

// Runs a collection (gc::collect()) that marks beside the program and calls
// fn() on the collecting thread once the world has restarted after the
// first stop, before anything is scanned concurrently: fn acts as a
// mutator with the write barrier and black allocation on.
template <typename Fn>
void CollectWithConcurrentHook(Fn fn) {
  gc::internal::Collector& c = gc::internal::Collector::Get();
  const bool was = c.SetConcurrent(true);
  c.SetConcurrentHookForTesting([](void* f) { (*static_cast<Fn*>(f))(); }, &fn);
  gc::collect();
  c.SetConcurrentHookForTesting(nullptr, nullptr);
  c.SetConcurrent(was);
}

}  // namespace gc::testing
