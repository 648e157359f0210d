// gcrt's side of the peer comparison: every workload of
// benchmarks/peers/WORKLOADS.md in gcrt's safe, idiomatic style (gc::make
// hands back a gc::Root, fields are gc::Ptr, nothing is freed by hand). The
// micro benchmarks use gc::make_unrooted, the API's named fast path for hot
// loops, as Go's benchmarks let each object die at once. Collector defaults
// throughout: GOGC 100, one mark worker per hardware thread.
#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <optional>
#include <thread>
#include <vector>

#include "benchmarks/peers/common/workload.h"
#include "gcrt/gc.h"
#include "gcrt/task.h"
#include "gcrt/thread.h"

namespace {

// ---- The collector's own figures. ----

// Reads the pauses of cycles completed since the last call, and their
// times to safepoint (the rings hold the last 256; the long-lived workload
// calls this every 1000 steps).
class PauseLog {
 public:
  void Poll() {
    gc::Stats s = gc::stats();
    uint64_t first = std::max(seen_, s.num_gc > 256 ? s.num_gc - 256 : 0);
    missed_ += first - seen_;
    for (uint64_t i = first; i < s.num_gc; i++) {
      pauses_ms_.push_back(s.pause_ns[i % 256] / 1e6);
      ttsp_ms_.push_back(s.ttsp_ns[i % 256] / 1e6);
    }
    seen_ = s.num_gc;
    num_gc_ = s.num_gc;
    pause_total_ms_ = s.pause_total_ns / 1e6;
  }
  void Print() {
    Poll();
    double max_ms = 0;
    for (double p : pauses_ms_) max_ms = std::max(max_ms, p);
    peers::PrintGc(num_gc_, pause_total_ms_, max_ms);
    for (double p : pauses_ms_) peers::PrintPause(p);
    // gcrt's own line (run.sh collects it into ttsp.csv).
    for (double t : ttsp_ms_) std::printf("ttsp_ms: %.4f\n", t);
    if (missed_ > 0) {
      std::printf("# %lu pauses fell out of the ring before they were read\n",
                  static_cast<unsigned long>(missed_));
    }
  }

 private:
  uint64_t seen_ = 0, missed_ = 0, num_gc_ = 0;
  double pause_total_ms_ = 0;
  std::vector<double> pauses_ms_;
  std::vector<double> ttsp_ms_;
};

// ---- binary-trees ----

struct TreeNode {
  gc::Ptr<TreeNode> left, right;
};

gc::Root<TreeNode> Bottom(int depth) {
  if (depth == 0) return gc::make<TreeNode>();
  gc::Root<TreeNode> left = Bottom(depth - 1);
  gc::Root<TreeNode> right = Bottom(depth - 1);
  return gc::make<TreeNode>(left, right);
}

// Walks that do not allocate poll for the collector's stops (gc::safepoint,
// one load and a branch per node), as api/gc.h asks of such loops: without
// it a stop waits for the whole walk (milliseconds on a tree of depth 21),
// where Go preempts the goroutine with a signal.
long Check(const TreeNode* n) {
  gc::safepoint();
  return n->left ? 1 + Check(n->left.get()) + Check(n->right.get()) : 1;
}

long TreesOfDepth(int d, long first, long last) {
  long check = 0;
  for (long i = first; i < last; i++) check += Check(Bottom(d).get());
  return check;
}

int BinaryTrees(int max_depth, int threads, bool use_tasks = false) {
  const int min_depth = 4;
  long long total = 0;
  {
    long c = Check(Bottom(max_depth + 1).get());
    std::printf("stretch tree of depth %d\t check: %ld\n", max_depth + 1, c);
    total += c;
  }
  gc::Root<TreeNode> long_lived = Bottom(max_depth);
  std::vector<long> checks((max_depth - min_depth) / 2 + 1);
  if (threads <= 1) {
    for (int d = min_depth, k = 0; d <= max_depth; d += 2, k++) {
      checks[k] = TreesOfDepth(d, 0, 1L << (max_depth - d + min_depth));
    }
  } else if (use_tasks) {
    // The same shares, each a task (gc::go): `threads` tasks on the
    // scheduler's GCRT_PROCS workers, as Go's version runs goroutines.
    std::vector<std::vector<long>> partial(threads,
                                           std::vector<long>(checks.size()));
    std::vector<gc::Task<void>> tasks;
    for (int t = 0; t < threads; t++) {
      tasks.push_back(gc::go([&, t] {
        for (int d = min_depth, k = 0; d <= max_depth; d += 2, k++) {
          long n = 1L << (max_depth - d + min_depth);
          partial[t][k] =
              TreesOfDepth(d, n * t / threads, n * (t + 1) / threads);
        }
      }));
    }
    for (gc::Task<void>& t : tasks) t.join();
    for (int t = 0; t < threads; t++) {
      for (size_t k = 0; k < checks.size(); k++) checks[k] += partial[t][k];
    }
  } else {
    // Each thread takes its share of every depth's iterations.
    std::vector<std::vector<long>> partial(threads,
                                           std::vector<long>(checks.size()));
    std::vector<std::thread> workers;
    for (int t = 0; t < threads; t++) {
      workers.emplace_back([&, t] {
        for (int d = min_depth, k = 0; d <= max_depth; d += 2, k++) {
          long n = 1L << (max_depth - d + min_depth);
          partial[t][k] =
              TreesOfDepth(d, n * t / threads, n * (t + 1) / threads);
        }
      });
    }
    {
      gc::Blocking waiting;  // the world may stop while this thread waits
      for (std::thread& w : workers) w.join();
    }
    for (int t = 0; t < threads; t++) {
      for (size_t k = 0; k < checks.size(); k++) checks[k] += partial[t][k];
    }
  }
  for (int d = min_depth, k = 0; d <= max_depth; d += 2, k++) {
    std::printf("%ld\t trees of depth %d\t check: %ld\n",
                1L << (max_depth - d + min_depth), d, checks[k]);
    total += checks[k];
  }
  long c = Check(long_lived.get());
  std::printf("long lived tree of depth %d\t check: %ld\n", max_depth, c);
  total += c;
  PauseLog pauses;
  pauses.Print();
  peers::PrintChecksum(total);
  return 0;
}

// ---- Tasks (api/task.h) beside goroutines. ----

// n tasks started and run to their end, in batches of 1000 joined by a
// wait group: the cost of one task from gc::go to its end.
int TaskSpawn(long n) {
  constexpr long kBatch = 1000;
  auto t0 = peers::Clock::now();
  for (long done = 0; done < n; done += kBatch) {
    gc::WaitGroup wg;
    const long batch = std::min(kBatch, n - done);
    wg.add(batch);
    for (long i = 0; i < batch; i++) gc::go([&wg] { wg.done(); });
    wg.wait();
  }
  peers::PrintRate(peers::MsSince(t0) * 1e6 / static_cast<double>(n));
  peers::PrintChecksum(n);
  return 0;
}

// Two tasks hand a value back and forth over two unbuffered channels n
// times: the cost of one hand-over (a send to a parked receiver, which
// wakes it, and the switches around it), per one-way message.
int TaskSwitch(long n) {
  gc::Channel<long> ping, pong;
  auto echo = gc::go([&] {
    while (std::optional<long> v = ping.recv()) pong.send(*v);
  });
  auto t0 = peers::Clock::now();
  long sum = gc::go([&] {
               long s = 0;
               for (long i = 0; i < n; i++) {
                 ping.send(i);
                 s += *pong.recv();
               }
               ping.close();
               return s;
             }).join();
  const double ms = peers::MsSince(t0);
  echo.join();
  peers::PrintRate(ms * 1e6 / (2.0 * static_cast<double>(n)));
  peers::PrintChecksum(sum);
  return 0;
}

// `count` activities (tasks on the scheduler, or threads) each building
// and checking trees of depth 8 for `ms` milliseconds while the collector
// runs: the time to safepoint of its stops with many more activities than
// cores (a stop waits for GCRT_PROCS workers, or for every thread).
int ManyActivities(bool tasks, int count, long ms) {
  std::atomic<bool> stop{false};
  std::atomic<long> trees{0};
  auto body = [&] {
    long mine = 0;
    while (!stop.load(std::memory_order_relaxed)) {
      if (Check(Bottom(8).get()) != 511) std::abort();
      mine++;
    }
    trees.fetch_add(mine);
  };
  if (tasks) {
    std::vector<gc::Task<void>> all;
    for (int i = 0; i < count; i++) all.push_back(gc::go(body));
    {
      gc::Blocking sleeping;
      std::this_thread::sleep_for(std::chrono::milliseconds(ms));
    }
    stop.store(true);
    for (gc::Task<void>& t : all) t.join();
  } else {
    std::vector<gc::Thread> all;
    for (int i = 0; i < count; i++) all.emplace_back(body);
    {
      gc::Blocking sleeping;
      std::this_thread::sleep_for(std::chrono::milliseconds(ms));
    }
    stop.store(true);
    for (gc::Thread& t : all) t.join();
  }
  PauseLog pauses;
  pauses.Print();
  peers::PrintChecksum(trees.load());
  return 0;
}

// ---- GCBench ----

struct GcbNode {
  gc::Ptr<GcbNode> left, right;
  int i = 0, j = 0;
};

void Populate(int depth, GcbNode* node) {
  if (depth <= 0) return;
  depth--;
  node->left = gc::make<GcbNode>();
  node->right = gc::make<GcbNode>();
  Populate(depth, node->left.get());
  Populate(depth, node->right.get());
}

gc::Root<GcbNode> MakeTree(int depth) {
  if (depth <= 0) return gc::make<GcbNode>();
  gc::Root<GcbNode> left = MakeTree(depth - 1);
  gc::Root<GcbNode> right = MakeTree(depth - 1);
  return gc::make<GcbNode>(left, right);
}

long Count(const GcbNode* n) {
  gc::safepoint();  // as Check
  return n == nullptr ? 0 : 1 + Count(n->left.get()) + Count(n->right.get());
}

int GcBench() {
  using namespace peers::gcbench;
  long long checksum = 0;
  checksum += Count(MakeTree(kStretchTreeDepth).get());
  gc::Root<GcbNode> long_lived = gc::make<GcbNode>();
  Populate(kLongLivedTreeDepth, long_lived.get());
  gc::Root<gc::Array<double>> array = gc::make_array<double>(kArraySize);
  for (int i = 0; i < kArraySize / 2; i++) (*array)[i] = 1.0 / i;
  for (int d = kMinTreeDepth; d <= kMaxTreeDepth; d += 2) {
    int iters = NumIters(d);
    long nodes = 0;
    for (int i = 0; i < iters; i++) {
      gc::Root<GcbNode> temp = gc::make<GcbNode>();
      Populate(d, temp.get());
      nodes += Count(temp.get());
    }
    for (int i = 0; i < iters; i++) nodes += Count(MakeTree(d).get());
    std::printf("%d iterations of trees of depth %d: %ld nodes\n", iters, d,
                nodes);
    checksum += nodes;
  }
  if ((*array)[1000] != 1.0 / 1000) std::printf("array corrupted\n");
  checksum += Count(long_lived.get());
  PauseLog pauses;
  pauses.Print();
  peers::PrintChecksum(checksum);
  return 0;
}

// ---- The seed micro benchmarks ----

struct OnePointer {
  gc::Ptr<OnePointer> p;
};
struct PointerAndInt {
  gc::Ptr<PointerAndInt> p;
  int64_t x;
};
using TwoInts = std::array<int64_t, 2>;
struct Pair {
  gc::Ptr<Pair> x, y;
};

// The sink the micro benchmarks store into, so every object escapes.
void* volatile g_sink;

template <typename T>
int Micro(long n) {
  auto t0 = peers::Clock::now();
  for (long i = 0; i < n; i++) g_sink = gc::make_unrooted<T>().get();
  double ms = peers::MsSince(t0);
  peers::PrintRate(ms * 1e6 / n);
  PauseLog pauses;
  pauses.Print();
  peers::PrintChecksum(n);
  return 0;
}

int Allocation(int threads) {
  std::atomic<long> next_op{0};
  auto work = [&] {
    gc::Ptr<Pair> x;
    while (next_op.fetch_add(1, std::memory_order_relaxed) <
           peers::kAllocationOps) {
      for (long i = 0; i < peers::kAllocationPerOp; i++) {
        x = gc::make_unrooted<Pair>();
      }
    }
    g_sink = x.get();
  };
  auto t0 = peers::Clock::now();
  std::vector<std::thread> workers;
  for (int t = 1; t < threads; t++) workers.emplace_back(work);
  work();
  {
    gc::Blocking waiting;  // the world may stop while this thread waits
    for (std::thread& w : workers) w.join();
  }
  double ms = peers::MsSince(t0);
  const long objects = peers::kAllocationOps * peers::kAllocationPerOp;
  peers::PrintRate(ms * 1e6 / objects);
  PauseLog pauses;
  pauses.Print();
  peers::PrintChecksum(objects);
  return 0;
}

// ---- long-lived ----

struct Node {
  gc::Ptr<Node> left, right;
  int64_t a = 0, b = 0;
};

gc::Root<Node> Build(int height) {
  if (height == 0) return gc::make<Node>();
  gc::Root<Node> left = Build(height - 1);
  gc::Root<Node> right = Build(height - 1);
  return gc::make<Node>(left, right, height);
}

long CheckLive(const Node* n) {
  gc::safepoint();  // as Check
  return n == nullptr
             ? 0
             : 1 + n->a + CheckLive(n->left.get()) + CheckLive(n->right.get());
}

int LongLived(const peers::LongLivedParams& p) {
  auto start = peers::Clock::now();
  const long slots = p.slots();
  gc::Root<gc::Array<gc::Ptr<Node>>> table =
      gc::make_array<gc::Ptr<Node>>(slots);
  for (long i = 0; i < slots; i++) (*table)[i] = Build(12);
  peers::XorShift64 rng;
  peers::LatencyRecord latency(p.steps);
  PauseLog pauses;
  long long checksum = 0;
  for (long s = 0; s < p.steps; s++) {
    auto t0 = peers::Clock::now();
    checksum += CheckLive(Build(7).get());
    if (s % 16 == 0) (*table)[rng.Next() % slots] = Build(12);
    latency.Add(peers::MsSince(t0));
    if (s % 1000 == 0) {
      peers::PrintHeapSample(peers::MsSince(start), peers::RssKb());
      pauses.Poll();
    }
  }
  for (long i = 0; i < slots; i++) checksum += CheckLive((*table)[i].get());
  gc::Stats st = gc::stats();
  std::printf(
      "# heap: sys %lu MiB, inuse %lu MiB, idle %lu MiB, released %lu MiB, rss "
      "%ld MiB\n",
      static_cast<unsigned long>(st.heap_sys >> 20),
      static_cast<unsigned long>(st.heap_inuse >> 20),
      static_cast<unsigned long>(st.heap_idle >> 20),
      static_cast<unsigned long>(st.heap_released >> 20), peers::RssKb() >> 10);
  latency.Print();
  pauses.Print();
  peers::PrintChecksum(checksum);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    peers::Usage(argv[0]);
    return 2;
  }
  const char* w = argv[1];
  if (std::strcmp(w, "binary-trees") == 0) {
    return BinaryTrees(static_cast<int>(peers::ArgOr(argc, argv, 2, 21)), 1);
  }
  if (std::strcmp(w, "binary-trees-mt") == 0) {
    return BinaryTrees(static_cast<int>(peers::ArgOr(argc, argv, 2, 21)),
                       static_cast<int>(peers::ArgOr(argc, argv, 3, 2)));
  }
  if (std::strcmp(w, "binary-trees-tasks") == 0) {
    return BinaryTrees(static_cast<int>(peers::ArgOr(argc, argv, 2, 21)),
                       static_cast<int>(peers::ArgOr(argc, argv, 3, 2)),
                       /*use_tasks=*/true);
  }
  if (std::strcmp(w, "task-spawn") == 0) {
    return TaskSpawn(peers::ArgOr(argc, argv, 2, 1000000));
  }
  if (std::strcmp(w, "task-switch") == 0) {
    return TaskSwitch(peers::ArgOr(argc, argv, 2, 1000000));
  }
  if (std::strcmp(w, "many-tasks") == 0 ||
      std::strcmp(w, "many-threads") == 0) {
    return ManyActivities(std::strcmp(w, "many-tasks") == 0,
                          static_cast<int>(peers::ArgOr(argc, argv, 2, 100)),
                          peers::ArgOr(argc, argv, 3, 3000));
  }
  if (std::strcmp(w, "gcbench") == 0) return GcBench();
  const long n = peers::ArgOr(argc, argv, 2, 20000000);
  if (std::strcmp(w, "malloc8") == 0) return Micro<int64_t>(n);
  if (std::strcmp(w, "malloc16") == 0) return Micro<TwoInts>(n);
  if (std::strcmp(w, "malloctypeinfo8") == 0) return Micro<OnePointer>(n);
  if (std::strcmp(w, "malloctypeinfo16") == 0) return Micro<PointerAndInt>(n);
  if (std::strcmp(w, "allocation") == 0) {
    return Allocation(static_cast<int>(peers::ArgOr(argc, argv, 2, 1)));
  }
  if (std::strcmp(w, "long-lived") == 0) {
    peers::LongLivedParams p;
    p.live_mib = peers::ArgOr(argc, argv, 2, p.live_mib);
    p.steps = peers::ArgOr(argc, argv, 3, p.steps);
    return LongLived(p);
  }
  std::fprintf(stderr, "unknown workload %s\n", w);
  peers::Usage(argv[0]);
  return 2;
}
