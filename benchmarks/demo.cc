// The README's demo: runs an allocation workload on gcrt's allocator and
// prints what the allocator did. There is no collector yet (that is the next
// layer), so the workload frees explicitly: it builds and tears down binary
// trees on two threads, keeps a long-lived tree, hands objects between
// threads (frees into another thread's spans go through freebufs), allocates
// large buffers, and finally returns idle memory to the OS.
#include <chrono>
#include <cinttypes>
#include <cstdint>
#include <cstdio>
#include <thread>
#include <vector>

#include "alloc/heap.h"
#include "runtime/os_mem.h"

namespace {

using gc::alloc::AllocateFixed;
using gc::alloc::HeapStats;
using gc::alloc::TypeInfo;

struct Node {
  Node* left;
  Node* right;
  int64_t value;
};
constexpr TypeInfo kNodeType = {
    "Node", sizeof(Node), alignof(Node), false, nullptr, nullptr, 0, nullptr};
constexpr TypeInfo kBufferType = {"Buffer", 1,       1, true,
                                  nullptr,  nullptr, 0, nullptr};

Node* NewNode() {
  return static_cast<Node*>(
      AllocateFixed<sizeof(Node), alignof(Node), false, true>(&kNodeType));
}

Node* Build(int depth) {
  Node* n = NewNode();
  n->value = depth;
  if (depth > 0) {
    n->left = Build(depth - 1);
    n->right = Build(depth - 1);
  }
  return n;
}

int64_t Check(const Node* n) {
  return n->left == nullptr ? 1 : 1 + Check(n->left) + Check(n->right);
}

void Destroy(Node* n) {
  if (n->left != nullptr) {
    Destroy(n->left);
    Destroy(n->right);
  }
  gc::alloc::Free(n);
}

void PrintStats(const char* when) {
  HeapStats s = gc::alloc::ReadHeapStats();
  std::printf(
      "[%s]\n  heap_alloc %8.1f MiB  heap_inuse %8.1f MiB  heap_sys %8.1f MiB\n"
      "  heap_idle  %8.1f MiB  released   %8.1f MiB  reserved %8.1f MiB\n"
      "  mallocs %" PRIu64 "  frees %" PRIu64 "  objects %" PRIu64
      "  large %" PRIu64 "  gcBits arenas %" PRIu64 "\n",
      when, s.heap_alloc / 1048576.0, s.heap_inuse / 1048576.0,
      s.heap_sys / 1048576.0, s.heap_idle / 1048576.0,
      s.heap_released / 1048576.0, s.heap_reserved / 1048576.0, s.mallocs,
      s.frees, s.objects, s.large_allocs, s.gc_bits_arenas);
}

}  // namespace

int main() {
  auto start = std::chrono::steady_clock::now();
  constexpr int kMaxDepth = 18;
  Node* long_lived = Build(kMaxDepth);
  int64_t checksum = 0;

  auto worker = [&](int id, int64_t* out) {
    int64_t sum = 0;
    for (int depth = 4; depth <= kMaxDepth; depth += 2) {
      int iterations = 1 << (kMaxDepth - depth + 4);
      for (int i = 0; i < iterations / 2; i++) {
        Node* t = Build(depth);
        sum += Check(t);
        Destroy(t);
      }
    }
    // Large buffers: a span each, straight from the page heap.
    for (int i = 0; i < 64; i++) {
      void* b = gc::alloc::Allocate(&kBufferType, (256 + id) << 10);
      gc::alloc::Free(b);
    }
    gc::alloc::FlushCurrentCache();
    *out = sum;
  };
  int64_t sums[2] = {0, 0};
  std::thread a(worker, 0, &sums[0]);
  std::thread b(worker, 1, &sums[1]);
  a.join();
  b.join();
  checksum = sums[0] + sums[1];

  // Hand-over: this thread allocates, another frees (freebuf path).
  std::vector<Node*> handed;
  for (int i = 0; i < 100000; i++) handed.push_back(NewNode());
  std::thread freer([&] {
    for (Node* n : handed) gc::alloc::Free(n);
  });
  for (int i = 0; i < 100000; i++) gc::alloc::Free(NewNode());
  freer.join();

  int64_t live = Check(long_lived);
  gc::alloc::FlushCurrentCache();
  PrintStats("after the workload (long-lived tree still held)");
  Destroy(long_lived);
  gc::alloc::FlushCurrentCache();
  PrintStats("after freeing everything");
  size_t released = gc::alloc::ReleaseIdleMemory();
  PrintStats("after ReleaseIdleMemory");

  double secs =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start)
          .count();
  HeapStats s = gc::alloc::ReadHeapStats();
  std::printf("\nsize classes used (objects allocated):\n");
  for (const auto& c : s.by_size) {
    if (c.mallocs > 0) {
      std::printf("  %6u bytes: %10" PRIu64 " mallocs, %10" PRIu64 " frees\n",
                  c.size, c.mallocs, c.frees);
    }
  }
  std::printf("\ntrees checked: %" PRId64 " nodes; long-lived tree: %" PRId64
              " nodes; released to the OS: %.1f MiB; %.2f s\n",
              checksum, live, released / 1048576.0, secs);
  return s.objects == 0 ? 0 : 1;
}
