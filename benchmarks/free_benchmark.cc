// The cost of an explicit free (gc::free, api/free.h) beside delete: each
// iteration makes a 48-byte object with a non-trivial destructor and frees
// it at once, which reuses the slot the free gave back (gcrt: the owning
// cache's span; new/delete: malloc's thread cache). A second pair keeps a
// window of 1000 live objects and frees the oldest, so frees land on slots
// the cache handed out earlier rather than the one just made.
//
// gcrt's make + free includes what makes the free safe: the span's sweep
// state is checked (Go's ensureSwept), the slot must read allocated, the
// object's specials are taken, then its destructor runs. The collector is
// off (GOGC=off), so no cycle runs during the timed loops.
//
// Run: bazel run -c opt //benchmarks:free_benchmark
#include <benchmark/benchmark.h>

#include <cstdint>
#include <string>
#include <vector>

#include "gcrt/gc.h"

namespace {

struct Node {
  gc::Ptr<Node> next;
  int64_t id = 0;
  std::string name;  // non-trivial destructor (SSO: no heap block)
};

struct PlainNode {
  PlainNode* next = nullptr;
  int64_t id = 0;
  std::string name;
};

void Setup() {
  gc::set_gc_percent(-1);
  gc::collect();
}

void BM_GcrtMakeFree(benchmark::State& state) {
  Setup();
  for (auto _ : state) {
    Node* n = gc::make<Node>().get();
    benchmark::DoNotOptimize(n);
    gc::free(n);
  }
  gc::set_gc_percent(100);
}
BENCHMARK(BM_GcrtMakeFree);

void BM_NewDeleteMakeFree(benchmark::State& state) {
  for (auto _ : state) {
    auto* n = new PlainNode();
    benchmark::DoNotOptimize(n);
    delete n;
  }
}
BENCHMARK(BM_NewDeleteMakeFree);

constexpr size_t kWindow = 1000;

void BM_GcrtWindowFree(benchmark::State& state) {
  Setup();
  std::vector<gc::Ptr<Node>> window;
  gc::RootSet keep([&](gc::Tracer& t) { t(window); });
  for (size_t i = 0; i < kWindow; i++) window.push_back(gc::make<Node>());
  size_t i = 0;
  for (auto _ : state) {
    gc::free(window[i]);
    window[i] = gc::make<Node>();
    i = i + 1 == kWindow ? 0 : i + 1;
  }
  for (gc::Ptr<Node>& n : window) gc::free(n);
  window.clear();
  gc::set_gc_percent(100);
}
BENCHMARK(BM_GcrtWindowFree);

void BM_NewDeleteWindowFree(benchmark::State& state) {
  std::vector<PlainNode*> window;
  for (size_t i = 0; i < kWindow; i++) window.push_back(new PlainNode());
  size_t i = 0;
  for (auto _ : state) {
    delete window[i];
    window[i] = new PlainNode();
    i = i + 1 == kWindow ? 0 : i + 1;
  }
  for (PlainNode* n : window) delete n;
}
BENCHMARK(BM_NewDeleteWindowFree);

}  // namespace

BENCHMARK_MAIN();
