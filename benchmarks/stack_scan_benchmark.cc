// The cost of conservative stack scanning (runtime/stack.h) in the pause:
// a collection with the collecting thread `depth` frames deep, each frame
// holding 1 KiB of stack words (half of them zero, half non-heap values, so
// every word is looked up), with scanning on and off. The difference per
// KiB of stack is the scan's cost; the heap is tiny, so the rest of the
// pause is the cycle's fixed cost.
//
// Run: bazel run -c opt //benchmarks:stack_scan_benchmark
#include <benchmark/benchmark.h>

#include <cstdint>

#include "gcrt/gc.h"

namespace {

struct Node {
  gc::Ptr<Node> next;
  int64_t v = 0;
};

// Recurses `depth` frames of 1 KiB each, then runs the benchmark's loop.
GCRT_NOINLINE void Deep(int depth, benchmark::State& state) {
  volatile uintptr_t frame[128];
  for (int i = 0; i < 128; i++) {
    frame[i] = (i % 2 == 0) ? 0 : 0x123456789ull * static_cast<uintptr_t>(i);
  }
  if (depth > 0) {
    Deep(depth - 1, state);
  } else {
    for (auto _ : state) gc::collect();
  }
  benchmark::DoNotOptimize(frame[depth % 128]);
}

void BM_CollectFromDeepStack(benchmark::State& state) {
  const bool scan = state.range(1) != 0;
  gc::set_gc_percent(-1);
  bool before = gc::set_stack_scan(scan);
  gc::Root<Node> live = gc::make<Node>();  // a tiny heap
  Deep(static_cast<int>(state.range(0)), state);
  gc::set_stack_scan(before);
  state.counters["stack_KiB"] = static_cast<double>(state.range(0));
}
BENCHMARK(BM_CollectFromDeepStack)
    ->ArgsProduct({{0, 64, 256, 1024}, {0, 1}})
    ->ArgNames({"KiB", "scan"})
    ->Unit(benchmark::kMicrosecond);

}  // namespace

BENCHMARK_MAIN();
