// The write barrier's cost with no cycle marking, in ns: a pointer-store
// heavy loop (relinking a ring of nodes, one store and one load per node)
// through gc::Ptr fields beside the same loop through raw pointer fields.
// The instruction counts of one store each way are count_fastpath.sh's
// PtrStore8 and PlainStore8. And its cost while a cycle marks, when every
// store shades an object not marked yet (BM_GcPtrStoreShading): the slow
// path, marking the object and queueing it for the marker.
//
//   bazel run -c opt //benchmarks:barrier_benchmark -- \
//     --benchmark_repetitions=5 --benchmark_report_aggregates_only=true
#include <benchmark/benchmark.h>

#include <chrono>
#include <vector>

#include "api/gc.h"
#include "gc/collector.h"

namespace {

constexpr int kNodes = 4096;  // 64-128 KiB: the loop runs in L2

struct GcNode {
  gc::Ptr<GcNode> next;
  int64_t value = 0;
};

struct RawNode {
  RawNode* next = nullptr;
  int64_t value = 0;
};

// Each pass points node i at node (i + stride) % n (a copy of a link held
// outside the heap: for gc::Ptr, the copy assignment and its barrier test)
// and reads one word through the new link, so no store is dead.
template <typename Node, typename Link, typename Get>
int64_t Relink(const std::vector<Node*>& nodes, const std::vector<Link>& links,
               int stride, Get get) {
  int64_t sum = 0;
  const int n = static_cast<int>(nodes.size());
  for (int i = 0, j = stride; i < n; i++, j = j + 1 == n ? 0 : j + 1) {
    nodes[i]->next = links[j];
    sum += get(nodes[i]->next)->value;
  }
  return sum;
}

void BM_GcPtrStore(benchmark::State& state) {
  std::vector<gc::Root<GcNode>> roots;  // keep the nodes alive
  std::vector<GcNode*> nodes;
  std::vector<gc::Ptr<GcNode>> links;
  for (int i = 0; i < kNodes; i++) {
    roots.push_back(gc::make<GcNode>());
    roots.back()->value = i;
    nodes.push_back(roots.back().get());
    links.emplace_back(roots.back());
  }
  int stride = 1;
  for (auto _ : state) {
    benchmark::DoNotOptimize(
        Relink(nodes, links, stride,
               [](const gc::Ptr<GcNode>& p) { return p.get(); }));
    stride = stride % 7 + 1;
  }
  state.SetItemsProcessed(state.iterations() * kNodes);
}
BENCHMARK(BM_GcPtrStore);

void BM_RawPointerStore(benchmark::State& state) {
  std::vector<RawNode> storage(kNodes);
  std::vector<RawNode*> nodes;
  for (int i = 0; i < kNodes; i++) {
    storage[i].value = i;
    nodes.push_back(&storage[i]);
  }
  int stride = 1;
  for (auto _ : state) {
    benchmark::DoNotOptimize(
        Relink(nodes, nodes, stride, [](RawNode* p) { return p; }));
    stride = stride % 7 + 1;
  }
  state.SetItemsProcessed(state.iterations() * kNodes);
}
BENCHMARK(BM_RawPointerStore);

// kShaded stores, each of a pointer to an object the marking has not
// reached, timed inside a cycle right after its first stop (the
// collector's concurrent test hook: the write barrier is on and the
// marker has scanned nothing, so the array holding the objects is marked
// but its elements are not).
constexpr size_t kShaded = 1 << 16;

struct ShadingRun {
  gc::Array<gc::Ptr<GcNode>>* targets;
  GcNode* sink;
  double seconds = 0;
};

void StoreEveryTarget(void* context) {
  auto* run = static_cast<ShadingRun*>(context);
  const auto start = std::chrono::steady_clock::now();
  for (size_t i = 0; i < kShaded; i++) run->sink->next = (*run->targets)[i];
  run->seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start)
          .count();
}

void BM_GcPtrStoreShading(benchmark::State& state) {
  const bool was = gc::set_concurrent_mark(true);
  gc::internal::Collector& collector = gc::internal::Collector::Get();
  gc::Root<GcNode> sink = gc::make<GcNode>();
  for (auto _ : state) {
    gc::Root<gc::Array<gc::Ptr<GcNode>>> targets =
        gc::make_array<gc::Ptr<GcNode>>(kShaded);
    for (size_t i = 0; i < kShaded; i++) {
      (*targets)[i] = gc::make_unrooted<GcNode>();
    }
    ShadingRun run{targets.get(), sink.get()};
    collector.SetConcurrentHookForTesting(&StoreEveryTarget, &run);
    gc::collect();
    collector.SetConcurrentHookForTesting(nullptr, nullptr);
    state.SetIterationTime(run.seconds);
  }
  state.SetItemsProcessed(state.iterations() * kShaded);
  gc::set_concurrent_mark(was);
}
BENCHMARK(BM_GcPtrStoreShading)->UseManualTime();

}  // namespace

BENCHMARK_MAIN();
