// What this machine gives a second thread, measured beside the peer
// workloads (benchmarks/peers/run.sh runs it before each run's Allocation
// workloads): the same loop on one thread and on two, each thread doing the
// same work, interleaved, and the ratio of throughputs (2.0 = a second core
// doubles the work done). Three loops, no allocator in any of them:
//
//   core    twelve independent add/xor chains: bound by the core's
//           execution units. Two threads on two physical cores: 2.0. On
//           the two hardware threads of one core (or when the host runs the
//           two vCPUs on one core): about 1.0. gcrt's allocation fast path
//           is this kind of loop (about 35 instructions per object at
//           4-5 instructions per cycle).
//   chain   one dependent add/xor chain: bound by latency, so it scales on
//           hardware threads of one core too (2.0 on either). With `core`,
//           it tells the two cases apart.
//   store   16-byte zeroing stores through a private 4 MiB region per
//           thread, round and round (the collector's smallest heap goal):
//           what the caches and memory allow a streaming allocator.
//   shared  the same stores into one 4 MiB region both threads share, cut
//           in 8 KiB chunks (a span of 16-byte objects), each thread
//           always writing its own chunks: every other chunk. No line is
//           written by both, yet on the 2-core AMD VM this ran 0.7-0.9x,
//           against 1.6x for chunks of 256 KiB and 1.8x for 1 MiB: the
//           cost of two threads' spans lying interleaved in the heap.
//
// The vCPUs of the VMs these benchmarks run on have given `core` 2.0 at one
// moment and 1.0 minutes later, so a scaling figure means little without
// this one from the same run.
//
//   bazel run -c opt //benchmarks/peers/machine:ceiling
//
// Prints one line: each loop's scaling, and its per-thread time per
// iteration (ns) with 1 and 2 threads.
#include <emmintrin.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <thread>
#include <vector>

namespace {

using Clock = std::chrono::steady_clock;

volatile uint64_t g_sink;

void Core(int64_t n) {
  uint64_t a[12] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12};
  for (int64_t i = 0; i < n; i++) {
#pragma GCC unroll 12
    for (int k = 0; k < 12; k++) a[k] += static_cast<uint64_t>(i) ^ k;
    // Keeps the twelve chains in registers and the loop scalar.
    asm volatile(""
                 : "+r"(a[0]), "+r"(a[1]), "+r"(a[2]), "+r"(a[3]), "+r"(a[4]),
                   "+r"(a[5]), "+r"(a[6]), "+r"(a[7]), "+r"(a[8]), "+r"(a[9]),
                   "+r"(a[10]), "+r"(a[11]));
  }
  uint64_t s = 0;
  for (uint64_t x : a) s += x;
  g_sink = s;
}

void Chain(int64_t n) {
  uint64_t a = 1, b = 2, c = 3, d = 4;
  for (int64_t i = 0; i < n; i++) {
    a += b ^ static_cast<uint64_t>(i);
    b += c ^ a;
    c += d ^ b;
    d += a ^ c;
    asm volatile("" : "+r"(a), "+r"(b), "+r"(c), "+r"(d));
  }
  g_sink = a + b + c + d;
}

constexpr size_t kRegionBytes = size_t{4} << 20;
constexpr size_t kChunkBytes = 8 << 10;
char* g_private[2];              // kRegionBytes each, set up by main
char* g_shared;                  // kRegionBytes, set up by main
std::atomic<int> g_next_thread;  // the next thread's index in a trial
int g_threads;                   // threads in the current trial

// Stores through `region` by 8 KiB chunks: first, first + stride, ...
void StoreChunks(char* region, size_t first, size_t stride, int64_t n) {
  const size_t chunks = kRegionBytes / kChunkBytes;
  size_t chunk = first, off = 0;
  for (int64_t i = 0; i < n; i++) {
    char* p = region + chunk * kChunkBytes + off;
    _mm_storeu_si128(reinterpret_cast<__m128i*>(p), _mm_setzero_si128());
    asm volatile("" ::"r"(p) : "memory");
    off += 16;
    if (off == kChunkBytes) {
      off = 0;
      chunk += stride;
      if (chunk >= chunks) chunk = first;
    }
  }
}

void Store(int64_t n) {
  StoreChunks(g_private[g_next_thread.fetch_add(1)], 0, 1, n);
}

void Shared(int64_t n) {
  const size_t first = static_cast<size_t>(g_next_thread.fetch_add(1));
  StoreChunks(g_shared, first, static_cast<size_t>(g_threads), n);
}

// Seconds for `threads` threads each running fn(n).
double Time(const std::function<void(int64_t)>& fn, int64_t n, int threads) {
  g_next_thread.store(0);
  g_threads = threads;
  auto t0 = Clock::now();
  std::vector<std::thread> workers;
  for (int t = 1; t < threads; t++) workers.emplace_back(fn, n);
  fn(n);
  for (std::thread& w : workers) w.join();
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

double Median(std::vector<double> xs) {
  std::sort(xs.begin(), xs.end());
  return xs[xs.size() / 2];
}

struct Result {
  double ns_1t, ns_2t, scaling;
};

// Five trials of each, 1 and 2 threads alternating; medians. Scaling: twice
// the work in t2 against the work in t1.
Result Measure(const std::function<void(int64_t)>& fn, int64_t n) {
  std::vector<double> t1, t2;
  for (int trial = 0; trial < 5; trial++) {
    t1.push_back(Time(fn, n, 1));
    t2.push_back(Time(fn, n, 2));
  }
  double a = Median(t1), b = Median(t2);
  return {a * 1e9 / n, b * 1e9 / n, 2 * a / b};
}

}  // namespace

int main() {
  // About 0.1 s per trial on the 2-core AMD VM; 3 s in all.
  Result core = Measure(Core, 20'000'000);
  Result chain = Measure(Chain, 40'000'000);
  // Prefaulted, so no trial pays for the faults.
  for (char*& region :
       {std::ref(g_private[0]), std::ref(g_private[1]), std::ref(g_shared)}) {
    region = static_cast<char*>(std::aligned_alloc(4096, kRegionBytes));
    std::memset(region, 1, kRegionBytes);
  }
  Result store = Measure(Store, 100'000'000);
  Result shared = Measure(Shared, 100'000'000);
  std::printf(
      "ceiling: core_scaling=%.2f chain_scaling=%.2f store_scaling=%.2f "
      "shared_scaling=%.2f core_ns=%.3f/%.3f chain_ns=%.3f/%.3f "
      "store_ns=%.3f/%.3f shared_ns=%.3f/%.3f\n",
      core.scaling, chain.scaling, store.scaling, shared.scaling, core.ns_1t,
      core.ns_2t, chain.ns_1t, chain.ns_2t, store.ns_1t, store.ns_2t,
      shared.ns_1t, shared.ns_2t);
  for (char* region : {g_private[0], g_private[1], g_shared}) {
    std::free(region);
  }
  return 0;
}
