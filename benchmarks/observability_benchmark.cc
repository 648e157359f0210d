// What looking inside the heap costs when a program asks: gc::census() and
// gc::why_alive() (each one stop of the world, after the last sweep) on a
// heap of N live objects, and gc::heap_profile() / gc::write_heap_profile()
// (a lock and the symbolization of each stack, no stop). The heap is a
// list of N 32-byte nodes held by one root; why_alive asks for the last
// node, the worst case: the path is the whole list. Reported per object
// visited (items) for the first two.
//
// Run: bazel run -c opt //benchmarks:observability_benchmark
#include <benchmark/benchmark.h>

#include <cstdint>
#include <sstream>

#include "gcrt/gc.h"

namespace {

struct Node {
  gc::Ptr<Node> next;
  int64_t payload[3] = {};
};

// The list's head, and its last node, for the size asked.
struct Heap {
  gc::Root<Node> head;
  Node* last = nullptr;
};

Heap& ListOf(int64_t n) {
  static Heap heap;
  static int64_t built = -1;
  if (built != n) {
    heap.head = nullptr;
    gc::collect();
    gc::Root<Node> head = gc::make<Node>();
    heap.last = head.get();
    for (int64_t i = 1; i < n; i++) {
      gc::Root<Node> node = gc::make<Node>();
      node->next = head;
      head = node;
    }
    heap.head = head;
    built = n;
    gc::collect();
  }
  return heap;
}

void BM_Census(benchmark::State& state) {
  ListOf(state.range(0));
  for (auto _ : state) {
    gc::Census c = gc::census();
    benchmark::DoNotOptimize(c.objects);
  }
  state.SetItemsProcessed(state.iterations() * state.range(0));
}
BENCHMARK(BM_Census)
    ->Arg(1 << 16)
    ->Arg(1 << 20)
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();

void BM_WhyAliveDeepest(benchmark::State& state) {
  Heap& heap = ListOf(state.range(0));
  for (auto _ : state) {
    gc::WhyAlive w = gc::why_alive(heap.last);
    if (!w.reachable) state.SkipWithError("the last node is not reachable");
    benchmark::DoNotOptimize(w.path.size());
  }
  state.SetItemsProcessed(state.iterations() * state.range(0));
}
BENCHMARK(BM_WhyAliveDeepest)
    ->Arg(1 << 16)
    ->Arg(1 << 20)
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();

void BM_HeapProfile(benchmark::State& state) {
  ListOf(1 << 20);
  for (auto _ : state) {
    gc::HeapProfile p = gc::heap_profile();
    benchmark::DoNotOptimize(p.sites.size());
  }
}
BENCHMARK(BM_HeapProfile)->Unit(benchmark::kMillisecond)->UseRealTime();

void BM_WriteHeapProfile(benchmark::State& state) {
  ListOf(1 << 20);
  for (auto _ : state) {
    std::ostringstream out;
    gc::write_heap_profile(out);
    benchmark::DoNotOptimize(out.tellp());
  }
}
BENCHMARK(BM_WriteHeapProfile)->Unit(benchmark::kMillisecond)->UseRealTime();

}  // namespace

BENCHMARK_MAIN();
