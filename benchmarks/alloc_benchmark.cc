// The seed benchmarks (Go's Malloc8, Malloc16, MallocTypeInfo8/16,
// SetTypeNoPtr1/2, SetTypePtr1/2, Allocation), each beside the same loop with
// new/delete in the same binary. It links the allocator alone, without the
// collector, so the gcrt loops allocate a fixed number of objects without
// freeing (as Go's loops do; its GC is what reclaims them), keeping each
// pointer in a preallocated array, and free them after the timed loop. The
// heap is warmed first so that page faults of fresh memory are not what is
// measured.
//
// Run: bazel run -c opt //benchmarks:alloc_benchmark
// The ratio gcrt/new+delete is printed after the table.
#include <benchmark/benchmark.h>

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "gcrt/alloc/heap.h"

namespace {

using gc::alloc::AllocateFixed;
using gc::alloc::TypeInfo;

struct NoPtr1 {
  uintptr_t p;
};
struct NoPtr2 {
  uintptr_t p, q;
};
struct Ptr1 {
  void* p;
};
struct Ptr2 {
  void *p, *q;
};
struct TypeInfo16 {  // Go's MallocTypeInfo16: a pointer and an int
  void* p;
  int64_t q;
};

template <typename T>
constexpr TypeInfo MakeType(const char* name, bool pointer_free) {
  return TypeInfo{name,    sizeof(T), alignof(T), pointer_free,
                  nullptr, nullptr,   0,          nullptr};
}

constexpr TypeInfo kInt64 = MakeType<int64_t>("int64", true);
constexpr TypeInfo kNoPtr1 = MakeType<NoPtr1>("NoPtr1", true);
constexpr TypeInfo kNoPtr2 = MakeType<NoPtr2>("NoPtr2", true);
constexpr TypeInfo kPtr1 = MakeType<Ptr1>("Ptr1", false);
constexpr TypeInfo kPtr2 = MakeType<Ptr2>("Ptr2", false);
constexpr TypeInfo kTypeInfo16 = MakeType<TypeInfo16>("TypeInfo16", false);
constexpr TypeInfo kStruct16 = MakeType<NoPtr2>("Struct16", true);

// Go's escaping `new(T)`: zeroed, typed, size and scan-ness known at compile
// time.
template <typename T, const TypeInfo* kType>
GCRT_ALWAYS_INLINE T* GcNew() {
  return static_cast<T*>(
      AllocateFixed<sizeof(T), alignof(T), kType->pointer_free, true>(kType));
}

constexpr int64_t kIterations = 10'000'000;

// Commits and touches memory once so the timed loops reuse warm pages.
void WarmHeap() {
  static std::once_flag once;
  std::call_once(once, [] {
    std::vector<void*> v;
    constexpr size_t kWarm = 24 << 20;  // objects of 16 bytes: 384 MiB
    v.reserve(kWarm);
    for (size_t i = 0; i < kWarm; i++) v.push_back(GcNew<Ptr2, &kPtr2>());
    for (void* p : v) gc::alloc::Free(p);
    gc::alloc::FlushCurrentCache();
  });
}

template <typename T, const TypeInfo* kType>
void BM_Gcrt(benchmark::State& state) {
  WarmHeap();
  std::vector<T*> keep(static_cast<size_t>(state.max_iterations));
  size_t i = 0;
  for (auto _ : state) {
    keep[i++] = GcNew<T, kType>();
  }
  benchmark::DoNotOptimize(keep.data());
  for (size_t j = 0; j < i; j++) gc::alloc::Free(keep[j]);
  gc::alloc::FlushCurrentCache();
}

template <typename T>
void BM_NewDelete(benchmark::State& state) {
  for (auto _ : state) {
    T* p = new T();
    benchmark::DoNotOptimize(p);
    delete p;
  }
}

#define SEED_BENCHMARK(Label, T, kType) \
  BENCHMARK(BM_Gcrt<T, &kType>)         \
      ->Name("gcrt/" #Label)            \
      ->Iterations(kIterations);        \
  BENCHMARK(BM_NewDelete<T>)->Name("new_delete/" #Label)

SEED_BENCHMARK(Malloc8, int64_t, kInt64);
SEED_BENCHMARK(Malloc16, NoPtr2, kStruct16);
SEED_BENCHMARK(MallocTypeInfo8, Ptr1, kPtr1);
SEED_BENCHMARK(MallocTypeInfo16, TypeInfo16, kTypeInfo16);
SEED_BENCHMARK(SetTypeNoPtr1, NoPtr1, kNoPtr1);
SEED_BENCHMARK(SetTypeNoPtr2, NoPtr2, kNoPtr2);
SEED_BENCHMARK(SetTypePtr1, Ptr1, kPtr1);
SEED_BENCHMARK(SetTypePtr2, Ptr2, kPtr2);

// Go's BenchmarkAllocation: every operation allocates 1000 objects of
// struct{ x, y *byte }. Each thread runs the operations; throughput is the
// threads' sum over wall time (Go splits b.N instead: the same measure).
constexpr int kPerOp = 1000;
const int64_t kAllocationOps = [] {
  const char* env = std::getenv("GCRT_ALLOCATION_OPS");
  return env != nullptr ? std::atoll(env) : int64_t{10000};
}();

// Waits until every thread of the benchmark has reached it, so no thread
// frees (untimed, but under the Central locks) while another is still in its
// timed loop.
void AllThreadsArrive(const benchmark::State& state) {
  static std::mutex mu;
  static std::condition_variable cv;
  static int arrived = 0;
  static uint64_t generation = 0;
  std::unique_lock<std::mutex> lock(mu);
  uint64_t gen = generation;
  if (++arrived == state.threads()) {
    arrived = 0;
    generation++;
    cv.notify_all();
  } else {
    cv.wait(lock, [&] { return generation != gen; });
  }
}

void BM_GcrtAllocation(benchmark::State& state) {
  WarmHeap();
  std::vector<Ptr2*> keep(static_cast<size_t>(state.max_iterations) * kPerOp);
  size_t i = 0;
  for (auto _ : state) {
    for (int k = 0; k < kPerOp; k++) keep[i++] = GcNew<Ptr2, &kPtr2>();
  }
  state.SetItemsProcessed(state.iterations() * kPerOp);
  // After the loop: not timed.
  AllThreadsArrive(state);
  for (size_t j = 0; j < i; j++) gc::alloc::Free(keep[j]);
  gc::alloc::FlushCurrentCache();
  AllThreadsArrive(state);
}

BENCHMARK(BM_GcrtAllocation)
    ->Name("gcrt/Allocation")
    ->Iterations(kAllocationOps)
    ->Threads(1)
    ->Threads(2)
    ->UseRealTime();

// The machine's ceiling for gcrt/Allocation: the same loop without an
// allocator, writing each 16-byte object into fresh (prefaulted, cold)
// memory and keeping its pointer. Its 2-thread/1-thread ratio is what memory
// bandwidth allows a streaming allocator here.
void BM_StoreOnlyAllocation(benchmark::State& state) {
  const size_t n = static_cast<size_t>(state.max_iterations) * kPerOp;
  std::vector<Ptr2> objects(n);  // zero-filled: prefaulted
  std::vector<Ptr2*> keep(n);
  {
    // Evict: touch other memory so `objects` is cold, as fresh spans are.
    std::vector<char> evict(size_t{256} << 20, 1);
    benchmark::DoNotOptimize(evict.data());
  }
  AllThreadsArrive(state);
  size_t i = 0;
  for (auto _ : state) {
    for (int k = 0; k < kPerOp; k++, i++) {
      Ptr2* p = &objects[i];
      p->p = nullptr;
      p->q = nullptr;
      keep[i] = p;
    }
    benchmark::ClobberMemory();
  }
  state.SetItemsProcessed(state.iterations() * kPerOp);
  AllThreadsArrive(state);
}
BENCHMARK(BM_StoreOnlyAllocation)
    ->Name("store_only/Allocation")
    ->Iterations(kAllocationOps)
    ->Threads(1)
    ->Threads(2)
    ->UseRealTime();

// The machine's ceiling for Allocation with the collector on: the same
// stores, into a heap of the collector's least goal (4 MiB, kMinHeapGoal)
// reused round and round, each thread writing its share, as the
// collected loop does (its garbage is swept and its slots handed out
// again every cycle). Its 2-thread/1-thread ratio is what this machine's
// caches allow a loop that streams through 4 MiB; a smaller heap fits
// the cores' own caches and scales further.
void BM_StoreOnlyHeapGoalAllocation(benchmark::State& state) {
  constexpr size_t kHeapBytes = size_t{4} << 20;
  const size_t n = kHeapBytes / sizeof(Ptr2) / state.threads();
  std::vector<Ptr2> objects(n);  // zero-filled: prefaulted
  Ptr2* keep = nullptr;
  AllThreadsArrive(state);
  size_t i = 0;
  for (auto _ : state) {
    for (int k = 0; k < kPerOp; k++) {
      Ptr2* p = &objects[i];
      p->p = nullptr;
      p->q = nullptr;
      keep = p;
      if (++i == n) i = 0;
    }
    benchmark::DoNotOptimize(keep);
    benchmark::ClobberMemory();
  }
  state.SetItemsProcessed(state.iterations() * kPerOp);
  AllThreadsArrive(state);
}
BENCHMARK(BM_StoreOnlyHeapGoalAllocation)
    ->Name("store_only_4mib/Allocation")
    ->Iterations(kAllocationOps)
    ->Threads(1)
    ->Threads(2)
    ->UseRealTime();

void BM_NewDeleteAllocation(benchmark::State& state) {
  for (auto _ : state) {
    for (int k = 0; k < kPerOp; k++) {
      Ptr2* p = new Ptr2();
      benchmark::DoNotOptimize(p);
      delete p;
    }
  }
  state.SetItemsProcessed(state.iterations() * kPerOp);
}
BENCHMARK(BM_NewDeleteAllocation)
    ->Name("new_delete/Allocation")
    ->Threads(1)
    ->Threads(2)
    ->UseRealTime();

// Prints gcrt's time as a ratio of new+delete's for each seed benchmark,
// and the 2-thread/1-thread throughput ratio of Allocation.
class RatioReporter : public benchmark::ConsoleReporter {
 public:
  void ReportRuns(const std::vector<Run>& runs) override {
    ConsoleReporter::ReportRuns(runs);
    for (const Run& r : runs) {
      if (r.run_type == Run::RT_Aggregate && r.aggregate_name != "median") {
        continue;
      }
      std::string name = r.benchmark_name();
      // CPU time for the single-threaded loops (the machine is shared);
      // Allocation is compared by items per second of wall time.
      double per_item = r.GetAdjustedCPUTime();
      auto it = r.counters.find("items_per_second");
      if (it != r.counters.end()) rates_[name] = it->second.value;
      times_[name] = per_item;
    }
  }
  void Finalize() override {
    ConsoleReporter::Finalize();
    // Names look like "gcrt/Malloc8/iterations:10000000_median"; key them
    // by implementation and benchmark, keeping medians when repeated.
    auto split = [](const std::string& name, std::string* who,
                    std::string* what) {
      size_t slash = name.find('/');
      size_t end = name.find('/', slash + 1);
      *who = name.substr(0, slash);
      *what = name.substr(slash + 1, end - slash - 1);
    };
    std::map<std::string, std::map<std::string, double>> t;
    std::map<std::string, std::map<std::string, double>> rate;
    for (const auto& [orig, v] : times_) {
      std::string name = orig;
      if (size_t m = name.find("_median"); m != std::string::npos) {
        name.erase(m, 7);
      } else if (name.find("_mean") != std::string::npos ||
                 name.find("_stddev") != std::string::npos ||
                 name.find("_cv") != std::string::npos) {
        continue;
      }
      std::string who, what;
      split(name, &who, &what);
      if (what == "Allocation") {
        std::string threads = name.substr(name.find("threads:") + 8, 1);
        rate[who + " " + what][threads] = rates_[orig];
      } else {
        t[who][what] = v;
      }
    }
    std::printf("\n%-18s %10s %12s %8s\n", "benchmark", "gcrt ns", "new+del ns",
                "ratio");
    for (const auto& [what, v] : t["gcrt"]) {
      if (!t["new_delete"].count(what)) continue;
      double base = t["new_delete"][what];
      std::printf("%-18s %10.2f %12.2f %8.3f\n", what.c_str(), v, base,
                  v / base);
    }
    for (auto& [who, r] : rate) {
      if (r.count("1") && r.count("2")) {
        std::printf(
            "%s: 1 thread %.1f M objects/s, 2 threads %.1f M/s, "
            "scaling %.2fx\n",
            who.c_str(), r["1"] / 1e6, r["2"] / 1e6, r["2"] / r["1"]);
      }
    }
  }

 private:
  std::map<std::string, double> times_;
  std::map<std::string, double> rates_;
};

}  // namespace

int main(int argc, char** argv) {
  benchmark::Initialize(&argc, argv);
  RatioReporter reporter;
  benchmark::RunSpecifiedBenchmarks(&reporter);
  benchmark::Shutdown();
  return 0;
}
