// Running test code inside a cycle: the collector's ...ForTesting hooks.
#pragma once

#include <gtest/gtest.h>

#include <iterator>
#include <regex>
#include <string>

#include "gcrt/gc.h"
#include "gcrt/gc/collector.h"

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

// Runs a collection (gc::collect()) that marks beside the program, calls
// started() where CollectWithConcurrentHook calls its fn (the roots marked
// and queued, nothing scanned), and drained() once the concurrent marking
// has drained, before the final stop (Collector::SetDrainedHookForTesting:
// what the marker reached is scanned; the objects it deferred, and objects
// reachable only through handles made after the first stop, are not).
// Both act as mutators on the collecting thread, the write barrier and
// black allocation on. The two points make a race between the program and
// the marker deterministic: an object is scanned or not by construction.
template <typename Started, typename Drained>
void CollectWithConcurrentHooks(Started started, Drained drained) {
  gc::internal::Collector& c = gc::internal::Collector::Get();
  const bool was = c.SetConcurrent(true);
  c.SetConcurrentHookForTesting([](void* f) { (*static_cast<Started*>(f))(); },
                                &started);
  c.SetDrainedHookForTesting([](void* f) { (*static_cast<Drained*>(f))(); },
                             &drained);
  gc::collect();
  c.SetConcurrentHookForTesting(nullptr, nullptr);
  c.SetDrainedHookForTesting(nullptr, nullptr);
  c.SetConcurrent(was);
}

// The same with drained() alone.
template <typename Fn>
void CollectWithDrainedHook(Fn fn) {
  CollectWithConcurrentHooks([] {}, fn);
}

// A gctrace line in Go's format, field for field (a forced cycle), as
// parsers of Go's GODEBUG=gctrace=1 output read it; gcrt's own figures
// follow it after "; gcrt: ".
inline constexpr const char* kGoGctrace =
    R"(gc \d+ @[0-9.]+s \d+%: [0-9.]+\+[0-9.]+\+[0-9.]+ ms clock, )"
    R"([0-9.]+\+[0-9.]+/[0-9.]+/[0-9.]+\+[0-9.]+ ms cpu, )"
    R"(\d+->\d+->\d+ MB, -?\d+ MB goal, \d+ MB stacks, \d+ MB globals, )"
    R"(\d+ P \(forced\))";

// Runs two collections with gctrace on and returns how many lines of
// stderr match `line` (a whole gctrace line, newline included), and in
// *err what was printed.
inline long CountGctraceLines(const std::string& line, std::string* err) {
  gc::set_gctrace(true);
  ::testing::internal::CaptureStderr();
  gc::collect();
  gc::collect();
  *err = ::testing::internal::GetCapturedStderr();
  gc::set_gctrace(false);
  const std::regex re(line);
  return std::distance(std::sregex_iterator(err->begin(), err->end(), re),
                       std::sregex_iterator());
}

}  // namespace gc::testing
