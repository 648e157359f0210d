// The Boehm GC (bdwgc 8.2) peer: every workload of
// benchmarks/peers/WORKLOADS.md, written the way Boehm's users write C++.
// Objects holding pointers come from GC_MALLOC, pointer-free ones from
// GC_MALLOC_ATOMIC, and nothing is ever freed. Live data is held by ordinary
// variables: the collector finds it by scanning stacks, registers and globals
// conservatively. The collector runs with its defaults plus parallel marking
// (GC_start_mark_threads). Threads are made with pthread_create, which gc.h
// redirects to GC_pthread_create under GC_THREADS, so they are registered.
//
//   boehm_workloads <workload> [arguments]
//
// Pauses are the collector's stop-the-world intervals, from
// GC_EVENT_PRE_STOP_WORLD to GC_EVENT_POST_START_WORLD, timed in the
// collection-event callback. In Boehm's default (non-incremental) mode the
// whole mark phase runs inside that interval; sweeping is lazy and happens
// during allocation.
#define GC_THREADS
#include <gc/gc.h>
#include <pthread.h>
#include <time.h>

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "benchmarks/peers/common/workload.h"

namespace {

// ---- Pauses, from the collection-event callback. ----

// The callback runs inside the collector (allocation lock held, sometimes
// with the world stopped) and must not allocate: the log is reserved before
// the first collection, in malloc memory the collector does not scan.
struct PauseLog {
  static constexpr size_t kCapacity = 1 << 20;
  std::vector<double> ms;
  double total_ms = 0;
  double max_ms = 0;
  timespec stop_begin{};
};
PauseLog pauses;
GC_word gc_no_at_start = 0;

double MsBetween(const timespec& from, const timespec& to) {
  return (to.tv_sec - from.tv_sec) * 1e3 + (to.tv_nsec - from.tv_nsec) / 1e6;
}

void GC_CALLBACK OnCollectionEvent(GC_EventType event) {
  if (event == GC_EVENT_PRE_STOP_WORLD) {
    clock_gettime(CLOCK_MONOTONIC, &pauses.stop_begin);
  } else if (event == GC_EVENT_POST_START_WORLD) {
    timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    double ms = MsBetween(pauses.stop_begin, now);
    pauses.total_ms += ms;
    pauses.max_ms = std::max(pauses.max_ms, ms);
    if (pauses.ms.size() < pauses.ms.capacity()) pauses.ms.push_back(ms);
  }
}

void PrintGcStats() {
  peers::PrintGc(GC_get_gc_no() - gc_no_at_start, pauses.total_ms,
                 pauses.max_ms);
  for (double ms : pauses.ms) peers::PrintPause(ms);
}

// Runs fn(&args[k]) on one thread per element of args and joins them. Here
// pthread_create is GC_pthread_create, which registers the thread.
template <typename Args>
void RunThreads(std::vector<Args>& args, void* (*fn)(void*)) {
  std::vector<pthread_t> ids(args.size());
  for (size_t k = 0; k < args.size(); ++k) {
    if (pthread_create(&ids[k], nullptr, fn, &args[k]) != 0) {
      std::fprintf(stderr, "pthread_create failed\n");
      std::exit(1);
    }
  }
  for (pthread_t id : ids) pthread_join(id, nullptr);
}

// ---- binary-trees, binary-trees-mt ----

namespace trees {

constexpr int kMinDepth = 4;

struct Node {
  Node* left;
  Node* right;
};

// Bottom-up: the children, left first, then their parent.
Node* Bottom(int depth) {
  Node* left = depth > 0 ? Bottom(depth - 1) : nullptr;
  Node* right = depth > 0 ? Bottom(depth - 1) : nullptr;
  Node* n = static_cast<Node*>(GC_MALLOC(sizeof(Node)));
  n->left = left;
  n->right = right;
  return n;
}

long Check(const Node* n) {
  return n->left ? 1 + Check(n->left) + Check(n->right) : 1;
}

// One thread's share of step 3: iterations [k*it/threads, (k+1)*it/threads)
// of every depth, with the sum of their checks per depth.
struct Share {
  int max_depth;
  long k;
  long threads;
  std::vector<long> sums;
};

void* RunShare(void* arg) {
  Share* s = static_cast<Share*>(arg);
  for (int d = kMinDepth; d <= s->max_depth; d += 2) {
    long iterations = 1L << (s->max_depth - d + kMinDepth);
    long sum = 0;
    for (long i = s->k * iterations / s->threads,
              end = (s->k + 1) * iterations / s->threads;
         i < end; ++i) {
      sum += Check(Bottom(d));
    }
    s->sums.push_back(sum);
  }
  return nullptr;
}

// threads == 0: step 3 on the main thread (binary-trees); otherwise on that
// many threads (binary-trees-mt).
long BinaryTrees(int max_depth, long threads) {
  long checksum = 0;
  long c = Check(Bottom(max_depth + 1));
  std::printf("stretch tree of depth %d\t check: %ld\n", max_depth + 1, c);
  checksum += c;

  Node* long_lived_tree = Bottom(max_depth);

  std::vector<Share> shares(threads == 0 ? 1 : threads);
  for (size_t k = 0; k < shares.size(); ++k) {
    shares[k] = {
        max_depth, static_cast<long>(k), static_cast<long>(shares.size()), {}};
  }
  if (threads == 0) {
    RunShare(&shares[0]);
  } else {
    RunThreads(shares, RunShare);
  }
  for (int d = kMinDepth, i = 0; d <= max_depth; d += 2, ++i) {
    long sum = 0;
    for (const Share& s : shares) sum += s.sums[i];
    std::printf("%ld\t trees of depth %d\t check: %ld\n",
                1L << (max_depth - d + kMinDepth), d, sum);
    checksum += sum;
  }

  c = Check(long_lived_tree);
  std::printf("long lived tree of depth %d\t check: %ld\n", max_depth, c);
  return checksum + c;
}

}  // namespace trees

// ---- gcbench ----

namespace gcbench {

using namespace peers::gcbench;

struct Node {
  Node* left;
  Node* right;
  int32_t i, j;
};

Node* NewNode(Node* left, Node* right) {
  Node* n = static_cast<Node*>(GC_MALLOC(sizeof(Node)));
  n->left = left;
  n->right = right;
  return n;
}

// Builds a tree bottom-up.
Node* MakeTree(int depth) {
  if (depth <= 0) return NewNode(nullptr, nullptr);
  Node* left = MakeTree(depth - 1);
  Node* right = MakeTree(depth - 1);
  return NewNode(left, right);
}

// Builds a tree top-down under n.
void Populate(int depth, Node* n) {
  if (depth <= 0) return;
  --depth;
  n->left = NewNode(nullptr, nullptr);
  n->right = NewNode(nullptr, nullptr);
  Populate(depth, n->left);
  Populate(depth, n->right);
}

long Count(const Node* n) {
  return n ? 1 + Count(n->left) + Count(n->right) : 0;
}

long GcBench() {
  long checksum = Count(MakeTree(kStretchTreeDepth));

  Node* long_lived_tree = NewNode(nullptr, nullptr);
  Populate(kLongLivedTreeDepth, long_lived_tree);

  double* array =
      static_cast<double*>(GC_MALLOC_ATOMIC(sizeof(double) * kArraySize));
  std::memset(array, 0, sizeof(double) * kArraySize);
  for (int i = 0; i < kArraySize / 2; ++i) array[i] = 1.0 / i;

  for (int d = kMinTreeDepth; d <= kMaxTreeDepth; d += 2) {
    int iters = NumIters(d);
    long nodes = 0;
    for (int i = 0; i < iters; ++i) {
      Node* n = NewNode(nullptr, nullptr);
      Populate(d, n);
      nodes += Count(n);
    }
    for (int i = 0; i < iters; ++i) nodes += Count(MakeTree(d));
    std::printf("%d iterations of trees of depth %d: %ld nodes\n", iters, d,
                nodes);
    checksum += nodes;
  }

  if (array[1000] != 1.0 / 1000) std::printf("array corrupted\n");
  return checksum + Count(long_lived_tree);
}

}  // namespace gcbench

// ---- malloc8, malloc16, malloctypeinfo8, malloctypeinfo16 ----

namespace micro {

struct Pointer {
  void* p;
};
struct PointerInt64 {
  void* p;
  int64_t x;
};

// Each allocation escapes here and is overwritten by the next one.
void* sink;

template <typename New>
long Run(long n, New new_object) {
  peers::Clock::time_point t0 = peers::Clock::now();
  for (long i = 0; i < n; ++i) sink = new_object();
  peers::PrintRate(peers::MsSince(t0) * 1e6 / n);
  return n;
}

// Go's new(T) yields a zeroed T: GC_MALLOC clears, GC_MALLOC_ATOMIC does not.
long Malloc8(long n) {
  return Run(n, [] {
    int64_t* p = static_cast<int64_t*>(GC_MALLOC_ATOMIC(sizeof(int64_t)));
    *p = 0;
    return p;
  });
}

long Malloc16(long n) {
  return Run(n, [] {
    int64_t* p = static_cast<int64_t*>(GC_MALLOC_ATOMIC(2 * sizeof(int64_t)));
    p[0] = p[1] = 0;
    return p;
  });
}

long MallocTypeInfo8(long n) {
  return Run(n, [] { return GC_MALLOC(sizeof(Pointer)); });
}

long MallocTypeInfo16(long n) {
  return Run(n, [] { return GC_MALLOC(sizeof(PointerInt64)); });
}

}  // namespace micro

// ---- allocation ----

namespace allocation {

struct T {
  char* x;
  char* y;
};

struct Worker {
  std::atomic<long>* next_op;
  long allocated;
};

void* Work(void* arg) {
  Worker* w = static_cast<Worker*>(arg);
  T* x = nullptr;
  long allocated = 0;
  while (w->next_op->fetch_add(1) < peers::kAllocationOps) {
    for (long i = 0; i < peers::kAllocationPerOp; ++i) {
      x = static_cast<T*>(GC_MALLOC(sizeof(T)));
    }
    allocated += peers::kAllocationPerOp;
  }
  w->allocated = allocated;
  return x;
}

long Allocation(long threads) {
  std::atomic<long> next_op{0};
  std::vector<Worker> workers(threads, Worker{&next_op, 0});
  peers::Clock::time_point t0 = peers::Clock::now();
  RunThreads(workers, Work);
  double ms = peers::MsSince(t0);
  long checksum = 0;
  for (const Worker& w : workers) checksum += w.allocated;
  peers::PrintRate(ms * 1e6 /
                   (peers::kAllocationOps * peers::kAllocationPerOp));
  return checksum;
}

}  // namespace allocation

// ---- long-lived ----

namespace long_lived {

struct Node {
  Node* left;
  Node* right;
  int64_t a;
  int64_t b;
};

// Bottom-up like binary-trees; each node's a is its height.
Node* Build(int height) {
  Node* left = height > 0 ? Build(height - 1) : nullptr;
  Node* right = height > 0 ? Build(height - 1) : nullptr;
  Node* n = static_cast<Node*>(GC_MALLOC(sizeof(Node)));
  *n = {left, right, height, 0};
  return n;
}

long Check(const Node* t) {
  return t ? 1 + t->a + Check(t->left) + Check(t->right) : 0;
}

long LongLived(const peers::LongLivedParams& p,
               peers::Clock::time_point start) {
  long slots = p.slots();
  Node** table = static_cast<Node**>(GC_MALLOC(slots * sizeof(Node*)));
  for (long i = 0; i < slots; ++i) table[i] = Build(12);

  peers::XorShift64 random;
  peers::LatencyRecord latency(p.steps);
  long checksum = 0;
  for (long s = 0; s < p.steps; ++s) {
    peers::Clock::time_point t0 = peers::Clock::now();
    checksum += Check(Build(7));
    if (s % 16 == 0) table[random.Next() % slots] = Build(12);
    latency.Add(peers::MsSince(t0));
    if (s % 1000 == 0) {
      peers::PrintHeapSample(peers::MsSince(start), peers::RssKb());
    }
  }

  for (long i = 0; i < slots; ++i) checksum += Check(table[i]);
  latency.Print();
  return checksum;
}

}  // namespace long_lived

}  // namespace

int main(int argc, char** argv) {
  peers::Clock::time_point start = peers::Clock::now();
  GC_INIT();
  pauses.ms.reserve(PauseLog::kCapacity);
  GC_set_on_collection_event(OnCollectionEvent);
  GC_start_mark_threads();
  gc_no_at_start = GC_get_gc_no();

  if (argc < 2) {
    peers::Usage(argv[0]);
    return 2;
  }
  std::string workload = argv[1];
  long checksum;
  if (workload == "binary-trees") {
    checksum = trees::BinaryTrees(peers::ArgOr(argc, argv, 2, 21), 0);
  } else if (workload == "binary-trees-mt") {
    checksum = trees::BinaryTrees(peers::ArgOr(argc, argv, 2, 21),
                                  peers::ArgOr(argc, argv, 3, 2));
  } else if (workload == "gcbench") {
    checksum = gcbench::GcBench();
  } else if (workload == "malloc8") {
    checksum = micro::Malloc8(peers::ArgOr(argc, argv, 2, 20000000));
  } else if (workload == "malloc16") {
    checksum = micro::Malloc16(peers::ArgOr(argc, argv, 2, 20000000));
  } else if (workload == "malloctypeinfo8") {
    checksum = micro::MallocTypeInfo8(peers::ArgOr(argc, argv, 2, 20000000));
  } else if (workload == "malloctypeinfo16") {
    checksum = micro::MallocTypeInfo16(peers::ArgOr(argc, argv, 2, 20000000));
  } else if (workload == "allocation") {
    checksum = allocation::Allocation(peers::ArgOr(argc, argv, 2, 1));
  } else if (workload == "long-lived") {
    peers::LongLivedParams p;
    p.live_mib = peers::ArgOr(argc, argv, 2, p.live_mib);
    p.steps = peers::ArgOr(argc, argv, 3, p.steps);
    checksum = long_lived::LongLived(p, start);
  } else {
    std::fprintf(stderr, "%s: unknown workload '%s'\n", argv[0],
                 workload.c_str());
    peers::Usage(argv[0]);
    return 2;
  }
  PrintGcStats();
  peers::PrintChecksum(checksum);
  return 0;
}
