// The write barrier's cost with no cycle marking, in ns: a pointer-store
// heavy loop (relinking a ring of nodes, one store and one load per node)
// through gc::Ptr fields beside the same loop through raw pointer fields.
// The instruction counts of one store each way are count_fastpath.sh's
// PtrStore8 and PlainStore8.
//
//   bazel run -c opt //benchmarks:barrier_benchmark -- \
//     --benchmark_repetitions=5 --benchmark_report_aggregates_only=true
#include <benchmark/benchmark.h>

#include <vector>

#include "gcrt/gc.h"

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

}  // namespace

BENCHMARK_MAIN();
