// The output protocol and small tools every C++ peer program shares (the
// workloads themselves are specified in benchmarks/peers/WORKLOADS.md and
// written once per implementation, in that implementation's own style).
// Nothing here allocates on the measured paths except the latency record,
// which is reserved up front.
#pragma once

#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cinttypes>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

namespace peers {

using Clock = std::chrono::steady_clock;

inline double MsSince(Clock::time_point t0) {
  return std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
}

// Resident set size in KiB, from /proc/self/statm.
inline long RssKb() {
  FILE* f = std::fopen("/proc/self/statm", "r");
  if (f == nullptr) return 0;
  long pages = 0, resident = 0;
  if (std::fscanf(f, "%ld %ld", &pages, &resident) != 2) resident = 0;
  std::fclose(f);
  return resident * (sysconf(_SC_PAGESIZE) / 1024);
}

// ---- The machine lines (WORKLOADS.md). ----

inline void PrintChecksum(long long c) { std::printf("checksum: %lld\n", c); }
inline void PrintGc(uint64_t collections, double pause_total_ms,
                    double pause_max_ms) {
  std::printf("gc: collections=%" PRIu64
              " pause_total_ms=%.3f pause_max_ms=%.3f\n",
              collections, pause_total_ms, pause_max_ms);
}
inline void PrintPause(double ms) { std::printf("pause_ms: %.4f\n", ms); }
inline void PrintHeapSample(double ms, long rss_kb) {
  std::printf("heap: %.1f %ld\n", ms, rss_kb);
}
inline void PrintRate(double ns_per_op) {
  std::printf("rate: ns_per_op=%.3f\n", ns_per_op);
}

// Step latencies of the long-lived workload: max and 99th percentile.
class LatencyRecord {
 public:
  explicit LatencyRecord(size_t steps) { ms_.reserve(steps); }
  void Add(double ms) { ms_.push_back(ms); }
  void Print() {
    if (ms_.empty()) return;
    std::vector<double> v = ms_;
    std::sort(v.begin(), v.end());
    double p99 = v[std::min(v.size() - 1, v.size() * 99 / 100)];
    std::printf("latency: max_ms=%.3f p99_ms=%.4f\n", v.back(), p99);
  }

 private:
  std::vector<double> ms_;
};

// The long-lived workload's generator: xorshift64.
class XorShift64 {
 public:
  uint64_t Next() {
    x_ ^= x_ << 13;
    x_ ^= x_ >> 7;
    x_ ^= x_ << 17;
    return x_;
  }

 private:
  uint64_t x_ = 0x9E3779B97F4A7C15ull;
};

// ---- Parameters. ----

struct LongLivedParams {
  long live_mib = 256;
  long steps = 200000;
  long slots() const { return live_mib * (1L << 20) / (8191L * 32); }
};

inline long ArgOr(int argc, char** argv, int i, long fallback) {
  return argc > i ? std::atol(argv[i]) : fallback;
}

inline void Usage(const char* prog) {
  std::fprintf(stderr,
               "usage: %s binary-trees [depth=21] | binary-trees-mt [depth=21] "
               "[threads=2] | gcbench | malloc8|malloc16|malloctypeinfo8|"
               "malloctypeinfo16 [n=20000000] | allocation [threads=1] | "
               "long-lived [live_mib=256] [steps=200000] | "
               "binary-trees-tasks [depth=21] [tasks=2] | "
               "task-spawn|task-switch [n=1000000] | "
               "many-tasks|many-threads [count=100] [ms=3000] (gcrt)\n",
               prog);
}

// GCBench's constants and formulas.
namespace gcbench {
inline constexpr int kStretchTreeDepth = 18;
inline constexpr int kLongLivedTreeDepth = 16;
inline constexpr int kArraySize = 500000;
inline constexpr int kMinTreeDepth = 4;
inline constexpr int kMaxTreeDepth = 16;
inline int TreeSize(int i) { return (1 << (i + 1)) - 1; }
inline int NumIters(int i) {
  return 2 * TreeSize(kStretchTreeDepth) / TreeSize(i);
}
}  // namespace gcbench

inline constexpr long kAllocationOps = 20000;
inline constexpr long kAllocationPerOp = 1000;

}  // namespace peers
