// The V8 cppgc peer of the gcrt comparison: one program that runs any
// workload of benchmarks/peers/WORKLOADS.md,
//
//   cppgc_workloads <workload> [arguments]
//
// written the way cppgc's users write code: objects derive from
// cppgc::GarbageCollected and trace their cppgc::Member fields, are made by
// cppgc::MakeGarbageCollected, long-lived roots are cppgc::Persistent and
// temporaries are plain pointers on the stack (cppgc scans the stack
// conservatively). Every heap is made by cppgc::Heap::Create with its
// defaults on a cppgc::DefaultPlatform; cppgc heaps are single-threaded, so
// each thread that allocates has its own. Nothing runs the platform's
// foreground tasks (there is no event loop), so cppgc does its incremental
// work in its concurrent marker and sweeper and in steps on allocation.
//
// cppgc keeps no public count of its collections or pauses, but it reports
// every phase of a cycle as a scoped trace event through the platform's
// v8::TracingController. PauseTracer is that controller: a cycle's atomic
// pause is the sum of its CppGC.AtomicMark, AtomicWeak, AtomicCompact and
// AtomicSweep scopes, and each CppGC.IncrementalMark or IncrementalSweep step
// (run by the mutator between allocations) is a pause of its own.
#include <algorithm>
#include <atomic>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "benchmarks/peers/common/workload.h"
#include "cppgc/allocation.h"
#include "cppgc/default-platform.h"
#include "cppgc/garbage-collected.h"
#include "cppgc/heap.h"
#include "cppgc/member.h"
#include "cppgc/persistent.h"
#include "cppgc/visitor.h"
#include "v8-initialization.h"
#include "v8-platform.h"

namespace {

using peers::Clock;

const Clock::time_point kStart = Clock::now();

// ---- The collector's pauses, from its trace events. ----

// Every heap's pauses, from every thread.
class PauseLog {
 public:
  void AddAtomicPause(double ms) {
    std::lock_guard<std::mutex> lock(mu_);
    collections_++;
    pauses_.push_back(ms);
  }
  void AddIncrementalStep(double ms) {
    std::lock_guard<std::mutex> lock(mu_);
    pauses_.push_back(ms);
  }
  void Print() {
    std::lock_guard<std::mutex> lock(mu_);
    double total = 0, longest = 0;
    for (double ms : pauses_) {
      total += ms;
      longest = std::max(longest, ms);
    }
    peers::PrintGc(collections_, total, longest);
    for (double ms : pauses_) peers::PrintPause(ms);
  }

 private:
  std::mutex mu_;
  uint64_t collections_ = 0;
  std::vector<double> pauses_;
};

PauseLog pause_log;

// The trace scopes that stop the mutator. A cycle's atomic pause is a run of
// atomic scopes (AtomicMark several times, then the others) on the thread
// that owns the heap; the next cycle's starts with AtomicMark again.
enum class Scope { kNone, kAtomicMark, kAtomicOther, kIncremental };

Scope ScopeOf(const char* name) {
  static constexpr struct {
    const char* name;
    Scope scope;
  } kScopes[] = {
      {"CppGC.AtomicMark", Scope::kAtomicMark},
      {"CppGC.AtomicWeak", Scope::kAtomicOther},
      {"CppGC.AtomicCompact", Scope::kAtomicOther},
      {"CppGC.AtomicSweep", Scope::kAtomicOther},
      {"CppGC.IncrementalMark", Scope::kIncremental},
      {"CppGC.IncrementalSweep", Scope::kIncremental},
  };
  for (const auto& s : kScopes) {
    if (std::strcmp(name, s.name) == 0) return s.scope;
  }
  return Scope::kNone;
}

// One thread's open scope and the atomic pause it is in. A thread's last
// atomic pause is logged when the thread ends (or by Flush).
class ThreadPauses {
 public:
  ~ThreadPauses() { Flush(); }

  void Begin(Scope scope) {
    if (depth_++ > 0) return;  // nested scopes are part of the outer one
    if (scope == Scope::kIncremental ||
        (scope == Scope::kAtomicMark && last_ != Scope::kAtomicMark)) {
      Flush();
    }
    open_ = scope;
    begin_ = Clock::now();
  }

  void End() {
    if (--depth_ > 0) return;
    double ms = peers::MsSince(begin_);
    if (open_ == Scope::kIncremental) {
      pause_log.AddIncrementalStep(ms);
    } else {
      atomic_ms_ += ms;
      in_atomic_pause_ = true;
    }
    last_ = open_;
  }

  void Flush() {
    if (in_atomic_pause_) pause_log.AddAtomicPause(atomic_ms_);
    in_atomic_pause_ = false;
    atomic_ms_ = 0;
  }

 private:
  int depth_ = 0;
  Scope open_ = Scope::kNone;
  Scope last_ = Scope::kNone;
  Clock::time_point begin_;
  bool in_atomic_pause_ = false;
  double atomic_ms_ = 0;
};

thread_local ThreadPauses thread_pauses;

// Turns on cppgc's "cppgc" trace category and times the scopes above.
// cppgc's scopes are begin ('B') and end ('E') events on the thread that
// runs them.
class PauseTracer final : public v8::TracingController {
 public:
  const uint8_t* GetCategoryGroupEnabled(const char* category) override {
    static const uint8_t kOn = 1, kOff = 0;
    return std::strcmp(category, "cppgc") == 0 ? &kOn : &kOff;
  }

  uint64_t AddTraceEvent(
      char phase, const uint8_t* /*category_enabled_flag*/, const char* name,
      const char* /*scope*/, uint64_t /*id*/, uint64_t /*bind_id*/,
      int32_t /*num_args*/, const char** /*arg_names*/,
      const uint8_t* /*arg_types*/, const uint64_t* /*arg_values*/,
      std::unique_ptr<v8::ConvertableToTraceFormat>* /*arg_convertables*/,
      unsigned int /*flags*/) override {
    Scope scope = ScopeOf(name);
    if (scope == Scope::kNone) return 0;
    if (phase == 'B') thread_pauses.Begin(scope);
    if (phase == 'E') thread_pauses.End();
    return 0;
  }
};

// The gc: and pause_ms: lines, then the checksum.
void Finish(long long checksum) {
  thread_pauses.Flush();
  pause_log.Print();
  peers::PrintChecksum(checksum);
}

// ---- binary-trees and binary-trees-mt. ----

class TreeNode final : public cppgc::GarbageCollected<TreeNode> {
 public:
  TreeNode(TreeNode* left, TreeNode* right) : left(left), right(right) {}
  void Trace(cppgc::Visitor* visitor) const {
    visitor->Trace(left);
    visitor->Trace(right);
  }

  cppgc::Member<TreeNode> left;
  cppgc::Member<TreeNode> right;
};

TreeNode* BottomUpTree(cppgc::AllocationHandle& allocation, int depth) {
  if (depth <= 0) {
    return cppgc::MakeGarbageCollected<TreeNode>(allocation, nullptr, nullptr);
  }
  TreeNode* left = BottomUpTree(allocation, depth - 1);
  TreeNode* right = BottomUpTree(allocation, depth - 1);
  return cppgc::MakeGarbageCollected<TreeNode>(allocation, left, right);
}

long Check(const TreeNode* t) {
  if (t->left == nullptr) return 1;
  return 1 + Check(t->left) + Check(t->right);
}

constexpr int kMinDepth = 4;

// Thread k's share of step 3: iterations [k*n/threads, (k+1)*n/threads) of
// every depth; the sum of their checks per depth.
std::vector<long> CheckTrees(cppgc::AllocationHandle& allocation, int max_depth,
                             int k, int threads) {
  std::vector<long> sums;
  for (int d = kMinDepth; d <= max_depth; d += 2) {
    long iterations = 1L << (max_depth - d + kMinDepth);
    long sum = 0;
    for (long it = k * iterations / threads;
         it < (k + 1) * iterations / threads; it++) {
      sum += Check(BottomUpTree(allocation, d));
    }
    sums.push_back(sum);
  }
  return sums;
}

// threads = 0: step 3 on the main thread, in the main thread's heap.
void BinaryTrees(std::shared_ptr<cppgc::Platform> platform, int max_depth,
                 int threads) {
  auto heap = cppgc::Heap::Create(platform);
  cppgc::AllocationHandle& allocation = heap->GetAllocationHandle();
  long long checksum = 0;
  int stretch = max_depth + 1;
  long c = Check(BottomUpTree(allocation, stretch));
  std::printf("stretch tree of depth %d\t check: %ld\n", stretch, c);
  checksum += c;

  cppgc::Persistent<TreeNode> long_lived(BottomUpTree(allocation, max_depth));

  // sums[k][i]: what thread k found at the i-th depth.
  std::vector<std::vector<long>> sums;
  if (threads == 0) {
    sums.push_back(CheckTrees(allocation, max_depth, 0, 1));
  } else {
    sums.resize(threads);
    std::vector<std::thread> workers;
    for (int k = 0; k < threads; k++) {
      workers.emplace_back([&, k] {
        auto own_heap = cppgc::Heap::Create(platform);
        sums[k] =
            CheckTrees(own_heap->GetAllocationHandle(), max_depth, k, threads);
      });
    }
    for (std::thread& w : workers) w.join();
  }
  for (size_t i = 0; i < sums[0].size(); i++) {
    int d = kMinDepth + 2 * static_cast<int>(i);
    long sum = 0;
    for (const std::vector<long>& s : sums) sum += s[i];
    std::printf("%ld\t trees of depth %d\t check: %ld\n",
                1L << (max_depth - d + kMinDepth), d, sum);
    checksum += sum;
  }

  c = Check(long_lived.Get());
  std::printf("long lived tree of depth %d\t check: %ld\n", max_depth, c);
  checksum += c;
  Finish(checksum);
}

// ---- gcbench. ----

class BenchNode final : public cppgc::GarbageCollected<BenchNode> {
 public:
  BenchNode() = default;
  BenchNode(BenchNode* left, BenchNode* right) : left(left), right(right) {}
  void Trace(cppgc::Visitor* visitor) const {
    visitor->Trace(left);
    visitor->Trace(right);
  }

  cppgc::Member<BenchNode> left;
  cppgc::Member<BenchNode> right;
  int32_t i = 0;
  int32_t j = 0;
};

// A pointer-free array of doubles, inline after the object (its Trace
// visits nothing).
class DoubleArray final : public cppgc::GarbageCollected<DoubleArray> {
 public:
  static DoubleArray* Make(cppgc::AllocationHandle& allocation, size_t size) {
    return cppgc::MakeGarbageCollected<DoubleArray>(
        allocation, cppgc::AdditionalBytes(size * sizeof(double)), size);
  }
  explicit DoubleArray(size_t size) { std::fill_n(data(), size, 0.0); }
  void Trace(cppgc::Visitor*) const {}

  double* data() { return reinterpret_cast<double*>(this + 1); }
};

// Builds a tree top-down under n.
void Populate(cppgc::AllocationHandle& allocation, int depth, BenchNode* n) {
  if (depth <= 0) return;
  depth--;
  n->left = cppgc::MakeGarbageCollected<BenchNode>(allocation);
  n->right = cppgc::MakeGarbageCollected<BenchNode>(allocation);
  Populate(allocation, depth, n->left);
  Populate(allocation, depth, n->right);
}

// Builds a tree bottom-up.
BenchNode* MakeTree(cppgc::AllocationHandle& allocation, int depth) {
  if (depth <= 0) return cppgc::MakeGarbageCollected<BenchNode>(allocation);
  BenchNode* left = MakeTree(allocation, depth - 1);
  BenchNode* right = MakeTree(allocation, depth - 1);
  return cppgc::MakeGarbageCollected<BenchNode>(allocation, left, right);
}

long Count(const BenchNode* n) {
  if (n == nullptr) return 0;
  return 1 + Count(n->left) + Count(n->right);
}

void GcBench(std::shared_ptr<cppgc::Platform> platform) {
  using namespace peers::gcbench;
  auto heap = cppgc::Heap::Create(platform);
  cppgc::AllocationHandle& allocation = heap->GetAllocationHandle();
  long long checksum = Count(MakeTree(allocation, kStretchTreeDepth));

  cppgc::Persistent<BenchNode> long_lived(
      cppgc::MakeGarbageCollected<BenchNode>(allocation));
  Populate(allocation, kLongLivedTreeDepth, long_lived);

  cppgc::Persistent<DoubleArray> array(
      DoubleArray::Make(allocation, kArraySize));
  for (int i = 0; i < kArraySize / 2; i++) array->data()[i] = 1.0 / i;

  for (int d = kMinTreeDepth; d <= kMaxTreeDepth; d += 2) {
    int iters = NumIters(d);
    long nodes = 0;
    for (int i = 0; i < iters; i++) {
      BenchNode* n = cppgc::MakeGarbageCollected<BenchNode>(allocation);
      Populate(allocation, d, n);
      nodes += Count(n);
    }
    for (int i = 0; i < iters; i++) nodes += Count(MakeTree(allocation, d));
    std::printf("%d iterations of trees of depth %d: %ld nodes\n", iters, d,
                nodes);
    checksum += nodes;
  }

  if (array->data()[1000] != 1.0 / 1000) std::printf("array corrupted\n");
  checksum += Count(long_lived.Get());
  Finish(checksum);
}

// ---- malloc8, malloc16, malloctypeinfo8, malloctypeinfo16. ----

// Go's new(int64) and new([2]int64): pointer-free.
class Int64 final : public cppgc::GarbageCollected<Int64> {
 public:
  void Trace(cppgc::Visitor*) const {}
  int64_t value = 0;
};

class Int64Pair final : public cppgc::GarbageCollected<Int64Pair> {
 public:
  void Trace(cppgc::Visitor*) const {}
  int64_t value[2] = {};
};

// Go's struct { p *int } and struct { p *int; x int64 }.
class TypeInfo8 final : public cppgc::GarbageCollected<TypeInfo8> {
 public:
  void Trace(cppgc::Visitor* visitor) const { visitor->Trace(p); }
  cppgc::Member<Int64> p;
};

class TypeInfo16 final : public cppgc::GarbageCollected<TypeInfo16> {
 public:
  void Trace(cppgc::Visitor* visitor) const { visitor->Trace(p); }
  cppgc::Member<Int64> p;
  int64_t x = 0;
};

// n allocations of T, each stored into a sink (a root, like Go's global)
// that the next iteration overwrites.
template <typename T>
void Micro(std::shared_ptr<cppgc::Platform> platform, long n) {
  auto heap = cppgc::Heap::Create(platform);
  cppgc::AllocationHandle& allocation = heap->GetAllocationHandle();
  cppgc::Persistent<T> sink;
  Clock::time_point t0 = Clock::now();
  for (long i = 0; i < n; i++) {
    sink = cppgc::MakeGarbageCollected<T>(allocation);
  }
  peers::PrintRate(peers::MsSince(t0) * 1e6 / n);
  Finish(n);
}

// ---- allocation. ----

// Go's struct { x, y *byte }.
class Byte final : public cppgc::GarbageCollected<Byte> {
 public:
  void Trace(cppgc::Visitor*) const {}
  uint8_t value = 0;
};

class BytePointers final : public cppgc::GarbageCollected<BytePointers> {
 public:
  void Trace(cppgc::Visitor* visitor) const {
    visitor->Trace(x);
    visitor->Trace(y);
  }
  cppgc::Member<Byte> x;
  cppgc::Member<Byte> y;
};

void Allocation(std::shared_ptr<cppgc::Platform> platform, int threads) {
  std::atomic<long> next{0};
  Clock::time_point t0 = Clock::now();
  std::vector<std::thread> workers;
  for (int k = 0; k < threads; k++) {
    workers.emplace_back([&] {
      auto heap = cppgc::Heap::Create(platform);
      cppgc::AllocationHandle& allocation = heap->GetAllocationHandle();
      cppgc::Persistent<BytePointers> x;  // the thread's variable
      while (next.fetch_add(1) < peers::kAllocationOps) {
        for (long i = 0; i < peers::kAllocationPerOp; i++) {
          x = cppgc::MakeGarbageCollected<BytePointers>(allocation);
        }
      }
    });
  }
  for (std::thread& w : workers) w.join();
  constexpr long kObjects = peers::kAllocationOps * peers::kAllocationPerOp;
  peers::PrintRate(peers::MsSince(t0) * 1e6 / kObjects);
  Finish(kObjects);
}

// ---- long-lived. ----

class LiveNode final : public cppgc::GarbageCollected<LiveNode> {
 public:
  LiveNode(LiveNode* left, LiveNode* right, int64_t a)
      : left(left), right(right), a(a) {}
  void Trace(cppgc::Visitor* visitor) const {
    visitor->Trace(left);
    visitor->Trace(right);
  }

  cppgc::Member<LiveNode> left;
  cppgc::Member<LiveNode> right;
  int64_t a;
  int64_t b = 0;
};

// The table of live trees: a garbage-collected object tracing its slots.
class Table final : public cppgc::GarbageCollected<Table> {
 public:
  explicit Table(size_t slots) : slots(slots) {}
  void Trace(cppgc::Visitor* visitor) const {
    for (const cppgc::Member<LiveNode>& slot : slots) visitor->Trace(slot);
  }

  std::vector<cppgc::Member<LiveNode>> slots;
};

LiveNode* Build(cppgc::AllocationHandle& allocation, int depth) {
  if (depth <= 0) {
    return cppgc::MakeGarbageCollected<LiveNode>(allocation, nullptr, nullptr,
                                                 0);
  }
  LiveNode* left = Build(allocation, depth - 1);
  LiveNode* right = Build(allocation, depth - 1);
  return cppgc::MakeGarbageCollected<LiveNode>(allocation, left, right, depth);
}

long Check(const LiveNode* t) {
  if (t->left == nullptr) return 1 + t->a;
  return 1 + t->a + Check(t->left) + Check(t->right);
}

void LongLived(std::shared_ptr<cppgc::Platform> platform,
               const peers::LongLivedParams& params) {
  auto heap = cppgc::Heap::Create(platform);
  cppgc::AllocationHandle& allocation = heap->GetAllocationHandle();
  const long slots = params.slots();
  cppgc::Persistent<Table> table(
      cppgc::MakeGarbageCollected<Table>(allocation, slots));
  for (cppgc::Member<LiveNode>& slot : table->slots) {
    slot = Build(allocation, 12);
  }

  peers::XorShift64 rng;
  peers::LatencyRecord latencies(params.steps);
  long long checksum = 0;
  for (long s = 0; s < params.steps; s++) {
    Clock::time_point t0 = Clock::now();
    checksum += Check(Build(allocation, 7));
    if (s % 16 == 0) table->slots[rng.Next() % slots] = Build(allocation, 12);
    latencies.Add(peers::MsSince(t0));
    if ((s + 1) % 1000 == 0) {
      peers::PrintHeapSample(peers::MsSince(kStart), peers::RssKb());
    }
  }

  for (const cppgc::Member<LiveNode>& slot : table->slots) {
    checksum += Check(slot.Get());
  }
  latencies.Print();
  Finish(checksum);
}

}  // namespace

int main(int argc, char** argv) {
  using Workload = std::function<void(std::shared_ptr<cppgc::Platform>)>;
  auto arg = [&](int i, long fallback) {
    return peers::ArgOr(argc, argv, i, fallback);
  };
  const std::map<std::string, Workload> workloads = {
      {"binary-trees", [&](auto p) { BinaryTrees(p, arg(2, 21), 0); }},
      {"binary-trees-mt",
       [&](auto p) { BinaryTrees(p, arg(2, 21), arg(3, 2)); }},
      {"gcbench", [&](auto p) { GcBench(p); }},
      {"malloc8", [&](auto p) { Micro<Int64>(p, arg(2, 20000000)); }},
      {"malloc16", [&](auto p) { Micro<Int64Pair>(p, arg(2, 20000000)); }},
      {"malloctypeinfo8",
       [&](auto p) { Micro<TypeInfo8>(p, arg(2, 20000000)); }},
      {"malloctypeinfo16",
       [&](auto p) { Micro<TypeInfo16>(p, arg(2, 20000000)); }},
      {"allocation", [&](auto p) { Allocation(p, arg(2, 1)); }},
      {"long-lived",
       [&](auto p) {
         peers::LongLivedParams params;
         params.live_mib = arg(2, params.live_mib);
         params.steps = arg(3, params.steps);
         LongLived(p, params);
       }},
  };
  auto workload = argc > 1 ? workloads.find(argv[1]) : workloads.end();
  if (workload == workloads.end()) {
    if (argc > 1) std::fprintf(stderr, "unknown workload: %s\n", argv[1]);
    peers::Usage(argv[0]);
    return 2;
  }

  auto platform = std::make_shared<cppgc::DefaultPlatform>(
      0, cppgc::DefaultPlatform::IdleTaskSupport::kDisabled,
      std::make_unique<PauseTracer>());
  // V8's platform must be initialized before cppgc's first collection,
  // which traces through it.
  v8::V8::InitializePlatform(platform->GetV8Platform());
  cppgc::InitializeProcess(platform->GetPageAllocator());
  workload->second(platform);
  cppgc::ShutdownProcess();
  return 0;
}
