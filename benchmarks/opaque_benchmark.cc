// The cost of scanning classes without trace() conservatively (api/trace.h):
// a collection of a heap of 64-byte objects of a class with a constructor
// and only integers, once as the default makes it (scanned conservatively:
// every word read and looked up) and once declared gc::PointerFree (noscan:
// never read). The difference per MiB is what the safe default costs a
// class that could have opted out.
//
// Run: bazel run -c opt //benchmarks:opaque_benchmark
#include <benchmark/benchmark.h>

#include <cstdint>

#include "gcrt/gc.h"

namespace {

class Ints {
 public:
  explicit Ints(int64_t seed) {
    for (int i = 0; i < 8; i++) v_[i] = seed * 0x9e3779b97f4a7c15ull + i;
  }

 private:
  uint64_t v_[8];
};

class IntsOptedOut {
 public:
  using gc_pointer_free = IntsOptedOut;
  explicit IntsOptedOut(int64_t seed) {
    for (int i = 0; i < 8; i++) v_[i] = seed * 0x9e3779b97f4a7c15ull + i;
  }

 private:
  uint64_t v_[8];
};

template <typename T>
void BM_CollectHeapOf(benchmark::State& state) {
  static_assert(sizeof(T) == 64);
  gc::set_gc_percent(-1);
  const int64_t n = state.range(0) * (1 << 20) / 64;
  gc::Root<gc::Array<gc::Ptr<T>>> objects = gc::make_array<gc::Ptr<T>>(n);
  for (int64_t i = 0; i < n; i++) objects[i] = gc::make_unrooted<T>(i);
  gc::collect();
  for (auto _ : state) gc::collect();
  state.counters["MiB"] = static_cast<double>(state.range(0));
  objects = nullptr;
  gc::collect();
  gc::set_gc_percent(100);
}
BENCHMARK_TEMPLATE(BM_CollectHeapOf, Ints)
    ->Arg(64)
    ->Unit(benchmark::kMillisecond);
BENCHMARK_TEMPLATE(BM_CollectHeapOf, IntsOptedOut)
    ->Arg(64)
    ->Unit(benchmark::kMillisecond);

}  // namespace

BENCHMARK_MAIN();
