// The cost of reading the statistics, in ns per read: gc::stats() (stops
// the world and walks every processor's cache) beside
// gc::stats_unstopped() (no stop), with 0 to 3 other threads allocating
// all along (each read must wait for them to reach a safepoint), and with
// 3 attached threads parked in gc::Blocking scopes (no wait, their caches
// still walked). The reading thread is not attached (a monitoring
// thread's case): it holds up no stop of the world between reads.
//
//   bazel run -c opt //benchmarks:stats_benchmark -- \
//     --benchmark_repetitions=5 --benchmark_report_aggregates_only=true
#include <benchmark/benchmark.h>

#include <atomic>
#include <condition_variable>
#include <mutex>
#include <thread>
#include <vector>

#include "gcrt/gc.h"

namespace {

struct Node {
  gc::Ptr<Node> next;
  int64_t value = 0;
};

// `n` threads that allocate short-lived lists until destroyed.
class Allocators {
 public:
  explicit Allocators(int n) {
    for (int i = 0; i < n; i++) {
      threads_.emplace_back([this] {
        while (!stop_.load(std::memory_order_relaxed)) {
          gc::Root<Node> head = gc::make<Node>();
          for (int j = 0; j < 100; j++) {
            gc::Ptr<Node> n = gc::make<Node>();
            n->next = head->next;
            head->next = n;
          }
        }
      });
    }
  }
  ~Allocators() {
    stop_.store(true);
    gc::Blocking joining;
    for (std::thread& t : threads_) t.join();
  }

 private:
  std::atomic<bool> stop_{false};
  std::vector<std::thread> threads_;
};

// `n` attached threads, each holding cached spans, waiting in a Blocking
// scope until destroyed.
class Parked {
 public:
  explicit Parked(int n) {
    for (int i = 0; i < n; i++) {
      threads_.emplace_back([this] {
        std::vector<gc::Root<Node>> keep;
        for (int j = 0; j < 1000; j++) keep.push_back(gc::make<Node>());
        gc::Blocking parked;
        std::unique_lock<std::mutex> lock(mu_);
        ready_++;
        cv_.notify_all();
        cv_.wait(lock, [this] { return stop_; });
      });
    }
    std::unique_lock<std::mutex> lock(mu_);
    cv_.wait(lock, [&] { return ready_ == n; });
  }
  ~Parked() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      stop_ = true;
    }
    cv_.notify_all();
    for (std::thread& t : threads_) t.join();
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  int ready_ = 0;
  bool stop_ = false;
  std::vector<std::thread> threads_;
};

void BM_Stats(benchmark::State& state) {
  Allocators others(static_cast<int>(state.range(0)));
  for (auto _ : state) {
    gc::Stats s = gc::stats();
    benchmark::DoNotOptimize(s.heap_alloc);
  }
}
BENCHMARK(BM_Stats)->ArgName("allocating_threads")->DenseRange(0, 3);

void BM_StatsUnstopped(benchmark::State& state) {
  Allocators others(static_cast<int>(state.range(0)));
  for (auto _ : state) {
    gc::Stats s = gc::stats_unstopped();
    benchmark::DoNotOptimize(s.heap_alloc);
  }
}
BENCHMARK(BM_StatsUnstopped)->ArgName("allocating_threads")->DenseRange(0, 3);

void BM_StatsWithParkedThreads(benchmark::State& state) {
  Parked others(static_cast<int>(state.range(0)));
  for (auto _ : state) {
    gc::Stats s = gc::stats();
    benchmark::DoNotOptimize(s.heap_alloc);
  }
}
BENCHMARK(BM_StatsWithParkedThreads)->ArgName("parked_threads")->Arg(3);

}  // namespace

BENCHMARK_MAIN();
