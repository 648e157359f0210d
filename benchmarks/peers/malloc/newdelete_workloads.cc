// The new/delete peer: every workload of benchmarks/peers/WORKLOADS.md
// written with plain C++ new/delete (std::make_unique / std::unique_ptr),
// each object freed as soon as the program drops it (a dropped tree is
// deleted recursively by its nodes' unique_ptr members). There is no
// collector, so no gc: or pause_ms: lines are printed.
//
//   newdelete_<allocator> <workload> [arguments]
//
// The same source is linked three times: against glibc's malloc
// (-DPEER_ALLOCATOR_GLIBC), against mimalloc (-DPEER_ALLOCATOR_MIMALLOC) and
// against jemalloc (-DPEER_ALLOCATOR_JEMALLOC). At startup the program checks
// that memory from `new` really comes from the allocator it was built for,
// prints which one it verified, and aborts otherwise.
#include <algorithm>
#include <array>
#include <atomic>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include "benchmarks/peers/common/workload.h"

#if defined(PEER_ALLOCATOR_MIMALLOC)
#include <mimalloc.h>
#elif defined(PEER_ALLOCATOR_JEMALLOC)
#include <jemalloc/jemalloc.h>
#elif defined(PEER_ALLOCATOR_GLIBC)
#include <gnu/libc-version.h>
#include <malloc.h>
#else
#error "define one of PEER_ALLOCATOR_{GLIBC,MIMALLOC,JEMALLOC}"
#endif

namespace {

using peers::Clock;

// Objects that nothing reads are stored here before they are deleted, so the
// compiler cannot elide their new/delete pair.
void* volatile g_sink;

// ---- The allocator check. ----

[[noreturn]] void AllocatorMismatch(const char* what) {
  std::fprintf(stderr, "allocator check failed: %s\n", what);
  std::abort();
}

// Asks the allocator this binary was built for whether it served `new`.
void VerifyAllocator() {
  constexpr size_t kProbeBytes = 4096;
#if defined(PEER_ALLOCATOR_MIMALLOC)
  auto probe = std::make_unique<char[]>(kProbeBytes);
  if (!mi_is_in_heap_region(probe.get())) {
    AllocatorMismatch("memory from new is not in mimalloc's heap");
  }
  int v = mi_version();
  std::printf("allocator: mimalloc %d.%d.%d (verified: new is served by it)\n",
              v / 100, v / 10 % 10, v % 10);
#elif defined(PEER_ALLOCATOR_JEMALLOC)
  const char* version = nullptr;
  size_t len = sizeof(version);
  if (mallctl("version", &version, &len, nullptr, 0) != 0) {
    AllocatorMismatch("jemalloc's mallctl(\"version\") failed");
  }
  // jemalloc's count of the bytes this thread allocated.
  uint64_t before = 0, after = 0;
  len = sizeof(before);
  int err = mallctl("thread.allocated", &before, &len, nullptr, 0);
  auto probe = std::make_unique<char[]>(kProbeBytes);
  g_sink = probe.get();
  err |= mallctl("thread.allocated", &after, &len, nullptr, 0);
  if (err != 0 || after - before < kProbeBytes) {
    AllocatorMismatch("jemalloc did not count the memory from new");
  }
  std::printf("allocator: jemalloc %s (verified: new is served by it)\n",
              version);
#else
  // glibc's count of the bytes in use.
  size_t before = mallinfo2().uordblks;
  auto probe = std::make_unique<char[]>(kProbeBytes);
  g_sink = probe.get();
  if (mallinfo2().uordblks - before < kProbeBytes) {
    AllocatorMismatch("glibc's malloc did not count the memory from new");
  }
  std::printf("allocator: glibc %s malloc (verified: new is served by it)\n",
              gnu_get_libc_version());
#endif
}

// ---- binary-trees and binary-trees-mt ----

constexpr int kMinDepth = 4;

struct TreeNode {
  std::unique_ptr<TreeNode> left, right;
};

std::unique_ptr<TreeNode> Bottom(int depth) {
  if (depth == 0) return std::make_unique<TreeNode>();
  std::unique_ptr<TreeNode> left = Bottom(depth - 1);
  std::unique_ptr<TreeNode> right = Bottom(depth - 1);
  return std::make_unique<TreeNode>(std::move(left), std::move(right));
}

long Check(const TreeNode& t) {
  return t.left ? 1 + Check(*t.left) + Check(*t.right) : 1;
}

long Iterations(int max_depth, int depth) {
  return 1L << (max_depth - depth + kMinDepth);
}

// Share `k` of `shares` of step 3: iterations [k*it/shares, (k+1)*it/shares)
// of every depth, in order; the checks summed per depth.
std::vector<long> TreeShare(int max_depth, int k, int shares) {
  std::vector<long> sums;
  for (int d = kMinDepth; d <= max_depth; d += 2) {
    long iterations = Iterations(max_depth, d);
    long sum = 0;
    for (long i = k * iterations / shares; i < (k + 1) * iterations / shares;
         i++) {
      sum += Check(*Bottom(d));
    }
    sums.push_back(sum);
  }
  return sums;
}

// threads == 0: step 3 on the main thread (binary-trees); otherwise on that
// many threads started once (binary-trees-mt).
long BinaryTrees(int max_depth, int threads) {
  long checksum = 0;
  long stretch = Check(*Bottom(max_depth + 1));
  std::printf("stretch tree of depth %d\t check: %ld\n", max_depth + 1,
              stretch);
  checksum += stretch;
  std::unique_ptr<TreeNode> long_lived = Bottom(max_depth);

  std::vector<std::vector<long>> shares;
  if (threads == 0) {
    shares.push_back(TreeShare(max_depth, 0, 1));
  } else {
    shares.resize(threads);
    std::vector<std::thread> workers;
    for (int k = 0; k < threads; k++) {
      workers.emplace_back([&shares, max_depth, k, threads] {
        shares[k] = TreeShare(max_depth, k, threads);
      });
    }
    for (std::thread& w : workers) w.join();
  }
  for (int d = kMinDepth, i = 0; d <= max_depth; d += 2, i++) {
    long sum = 0;
    for (const std::vector<long>& share : shares) sum += share[i];
    std::printf("%ld\t trees of depth %d\t check: %ld\n",
                Iterations(max_depth, d), d, sum);
    checksum += sum;
  }

  long c = Check(*long_lived);
  std::printf("long lived tree of depth %d\t check: %ld\n", max_depth, c);
  return checksum + c;
}

// ---- gcbench ----

struct GcBenchNode {
  std::unique_ptr<GcBenchNode> left, right;
  int i = 0, j = 0;
};

void Populate(int depth, GcBenchNode* node) {
  if (depth <= 0) return;
  depth--;
  node->left = std::make_unique<GcBenchNode>();
  node->right = std::make_unique<GcBenchNode>();
  Populate(depth, node->left.get());
  Populate(depth, node->right.get());
}

std::unique_ptr<GcBenchNode> MakeTree(int depth) {
  if (depth <= 0) return std::make_unique<GcBenchNode>();
  std::unique_ptr<GcBenchNode> left = MakeTree(depth - 1);
  std::unique_ptr<GcBenchNode> right = MakeTree(depth - 1);
  return std::make_unique<GcBenchNode>(std::move(left), std::move(right));
}

long Count(const GcBenchNode* n) {
  return n == nullptr ? 0 : 1 + Count(n->left.get()) + Count(n->right.get());
}

long GcBench() {
  using namespace peers::gcbench;
  long checksum = Count(MakeTree(kStretchTreeDepth).get());
  auto long_lived = std::make_unique<GcBenchNode>();
  Populate(kLongLivedTreeDepth, long_lived.get());
  std::vector<double> array(kArraySize);
  for (int i = 0; i < kArraySize / 2; i++) array[i] = 1.0 / i;
  for (int d = kMinTreeDepth; d <= kMaxTreeDepth; d += 2) {
    int iters = NumIters(d);
    long nodes = 0;
    for (int i = 0; i < iters; i++) {
      auto temp = std::make_unique<GcBenchNode>();
      Populate(d, temp.get());
      nodes += Count(temp.get());
    }
    for (int i = 0; i < iters; i++) nodes += Count(MakeTree(d).get());
    std::printf("%d iterations of trees of depth %d: %ld nodes\n", iters, d,
                nodes);
    checksum += nodes;
  }
  if (array[1000] != 1.0 / 1000) std::printf("array corrupted\n");
  return checksum + Count(long_lived.get());
}

// ---- malloc8, malloc16, malloctypeinfo8, malloctypeinfo16 ----

struct TypeInfo8 {
  int* p;
};
struct TypeInfo16 {
  int* p;
  int64_t q;
};

// n value-initialized (zeroed, like Go's new) objects of type T, each freed
// in the iteration that made it.
template <typename T>
long MallocLoop(long n) {
  Clock::time_point t0 = Clock::now();
  for (long i = 0; i < n; i++) {
    T* p = new T();
    g_sink = p;
    delete p;
  }
  peers::PrintRate(peers::MsSince(t0) * 1e6 / n);
  return n;
}

// ---- allocation ----

struct TwoPointers {
  char *x, *y;
};

long Allocation(int threads) {
  std::atomic<long> next_op{0};
  std::vector<long> allocated(threads);
  Clock::time_point t0 = Clock::now();
  std::vector<std::thread> workers;
  for (int k = 0; k < threads; k++) {
    workers.emplace_back([&next_op, &allocated, k] {
      std::unique_ptr<TwoPointers> kept;
      long n = 0;
      while (next_op.fetch_add(1, std::memory_order_relaxed) <
             peers::kAllocationOps) {
        for (long i = 0; i < peers::kAllocationPerOp; i++) {
          kept = std::make_unique<TwoPointers>();
        }
        n += peers::kAllocationPerOp;
      }
      g_sink = kept.get();
      allocated[k] = n;
    });
  }
  for (std::thread& w : workers) w.join();
  peers::PrintRate(peers::MsSince(t0) * 1e6 /
                   (peers::kAllocationOps * peers::kAllocationPerOp));
  long total = 0;
  for (long n : allocated) total += n;
  return total;
}

// ---- long-lived ----

struct LiveNode {
  std::unique_ptr<LiveNode> left, right;
  int64_t a = 0, b = 0;
};

std::unique_ptr<LiveNode> Build(int height) {
  if (height == 0) return std::make_unique<LiveNode>();
  std::unique_ptr<LiveNode> left = Build(height - 1);
  std::unique_ptr<LiveNode> right = Build(height - 1);
  return std::make_unique<LiveNode>(std::move(left), std::move(right), height,
                                    0);
}

long Check(const LiveNode& t) {
  long c = 1 + t.a;
  if (t.left) c += Check(*t.left) + Check(*t.right);
  return c;
}

long LongLived(const peers::LongLivedParams& params, Clock::time_point start) {
  const long slots = params.slots();
  std::vector<std::unique_ptr<LiveNode>> table;
  for (long i = 0; i < slots; i++) table.push_back(Build(12));
  peers::XorShift64 random;
  peers::LatencyRecord latency(params.steps);
  long checksum = 0;
  for (long s = 0; s < params.steps; s++) {
    Clock::time_point t0 = Clock::now();
    checksum += Check(*Build(7));
    if (s % 16 == 0) table[random.Next() % slots] = Build(12);
    latency.Add(peers::MsSince(t0));
    if (s % 1000 == 0)
      peers::PrintHeapSample(peers::MsSince(start), peers::RssKb());
  }
  for (const std::unique_ptr<LiveNode>& tree : table) checksum += Check(*tree);
  latency.Print();
  return checksum;
}

}  // namespace

int main(int argc, char** argv) {
  Clock::time_point start = Clock::now();
  if (argc < 2) {
    peers::Usage(argv[0]);
    return 2;
  }
  const std::string_view workload = argv[1];
  auto arg = [argc, argv](int i, long fallback) {
    return peers::ArgOr(argc, argv, i, fallback);
  };
  VerifyAllocator();
  long checksum;
  if (workload == "binary-trees") {
    checksum = BinaryTrees(std::max<long>(kMinDepth + 2, arg(2, 21)), 0);
  } else if (workload == "binary-trees-mt") {
    checksum = BinaryTrees(std::max<long>(kMinDepth + 2, arg(2, 21)),
                           std::max<long>(1, arg(3, 2)));
  } else if (workload == "gcbench") {
    checksum = GcBench();
  } else if (workload == "malloc8") {
    checksum = MallocLoop<int64_t>(arg(2, 20000000));
  } else if (workload == "malloc16") {
    checksum = MallocLoop<std::array<int64_t, 2>>(arg(2, 20000000));
  } else if (workload == "malloctypeinfo8") {
    checksum = MallocLoop<TypeInfo8>(arg(2, 20000000));
  } else if (workload == "malloctypeinfo16") {
    checksum = MallocLoop<TypeInfo16>(arg(2, 20000000));
  } else if (workload == "allocation") {
    checksum = Allocation(std::max<long>(1, arg(2, 1)));
  } else if (workload == "long-lived") {
    peers::LongLivedParams params;
    params.live_mib = arg(2, params.live_mib);
    params.steps = arg(3, params.steps);
    checksum = LongLived(params, start);
  } else {
    std::fprintf(stderr, "unknown workload: %s\n", argv[1]);
    peers::Usage(argv[0]);
    return 2;
  }
  peers::PrintChecksum(checksum);
  return 0;
}
