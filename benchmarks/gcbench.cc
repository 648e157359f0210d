// GCBench (John Ellis and Pete Kovac, after Hans Boehm's C++ port), in the
// safe, idiomatic style of gcrt's API, and the same program with
// new/delete (each temporary tree deleted when the original drops it).
//
//   gcbench gcrt|newdelete
//
// Builds a stretch tree, a long-lived tree and a long-lived array of
// doubles, then for depths 4..16 builds NumIters(d) trees top-down
// (Populate) and as many bottom-up (MakeTree). Prints the same lines and a
// checksum from both versions.
#include <chrono>
#include <cstdio>
#include <cstring>

#include "api/gc.h"

namespace {

constexpr int kStretchTreeDepth = 18;
constexpr int kLongLivedTreeDepth = 16;
constexpr int kArraySize = 500000;
constexpr int kMinTreeDepth = 4;
constexpr int kMaxTreeDepth = 16;

int TreeSize(int i) { return (1 << (i + 1)) - 1; }
int NumIters(int i) { return 2 * TreeSize(kStretchTreeDepth) / TreeSize(i); }

// ---- gcrt ----

struct Node {
  gc::Ptr<Node> left, right;
  int i = 0, j = 0;
};

void Populate(int depth, Node* node) {
  if (depth <= 0) return;
  depth--;
  node->left = gc::make<Node>();
  node->right = gc::make<Node>();
  Populate(depth, node->left.get());
  Populate(depth, node->right.get());
}

gc::Root<Node> MakeTree(int depth) {
  if (depth <= 0) return gc::make<Node>();
  gc::Root<Node> left = MakeTree(depth - 1);
  gc::Root<Node> right = MakeTree(depth - 1);
  return gc::make<Node>(left, right);
}

long Count(const Node* n) {
  return n == nullptr ? 0 : 1 + Count(n->left.get()) + Count(n->right.get());
}

long RunGcrt() {
  long checksum = 0;
  {
    gc::Root<Node> stretch = MakeTree(kStretchTreeDepth);
    checksum += Count(stretch.get());
  }
  gc::Root<Node> long_lived = gc::make<Node>();
  Populate(kLongLivedTreeDepth, long_lived.get());
  gc::Root<gc::Array<double>> array = gc::make_array<double>(kArraySize);
  for (int i = 0; i < kArraySize / 2; i++) (*array)[i] = 1.0 / i;
  for (int d = kMinTreeDepth; d <= kMaxTreeDepth; d += 2) {
    int iters = NumIters(d);
    long nodes = 0;
    for (int i = 0; i < iters; i++) {
      gc::Root<Node> temp = gc::make<Node>();
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
  return checksum;
}

// ---- new/delete ----

struct RawNode {
  RawNode* left = nullptr;
  RawNode* right = nullptr;
  int i = 0, j = 0;
  ~RawNode() {
    delete left;
    delete right;
  }
};

void RawPopulate(int depth, RawNode* node) {
  if (depth <= 0) return;
  depth--;
  node->left = new RawNode();
  node->right = new RawNode();
  RawPopulate(depth, node->left);
  RawPopulate(depth, node->right);
}

RawNode* RawMakeTree(int depth) {
  if (depth <= 0) return new RawNode();
  RawNode* left = RawMakeTree(depth - 1);
  RawNode* right = RawMakeTree(depth - 1);
  return new RawNode{left, right};
}

long RawCount(const RawNode* n) {
  return n == nullptr ? 0 : 1 + RawCount(n->left) + RawCount(n->right);
}

long RunNewDelete() {
  long checksum = 0;
  {
    RawNode* stretch = RawMakeTree(kStretchTreeDepth);
    checksum += RawCount(stretch);
    delete stretch;
  }
  RawNode* long_lived = new RawNode();
  RawPopulate(kLongLivedTreeDepth, long_lived);
  double* array = new double[kArraySize]();
  for (int i = 0; i < kArraySize / 2; i++) array[i] = 1.0 / i;
  for (int d = kMinTreeDepth; d <= kMaxTreeDepth; d += 2) {
    int iters = NumIters(d);
    long nodes = 0;
    for (int i = 0; i < iters; i++) {
      RawNode* temp = new RawNode();
      RawPopulate(d, temp);
      nodes += RawCount(temp);
      delete temp;
    }
    for (int i = 0; i < iters; i++) {
      RawNode* t = RawMakeTree(d);
      nodes += RawCount(t);
      delete t;
    }
    std::printf("%d iterations of trees of depth %d: %ld nodes\n", iters, d,
                nodes);
    checksum += nodes;
  }
  if (array[1000] != 1.0 / 1000) std::printf("array corrupted\n");
  checksum += RawCount(long_lived);
  delete long_lived;
  delete[] array;
  return checksum;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2 || (std::strcmp(argv[1], "gcrt") != 0 &&
                   std::strcmp(argv[1], "newdelete") != 0)) {
    std::fprintf(stderr, "usage: %s gcrt|newdelete\n", argv[0]);
    return 2;
  }
  bool gcrt = std::strcmp(argv[1], "gcrt") == 0;
  auto start = std::chrono::steady_clock::now();
  long checksum = gcrt ? RunGcrt() : RunNewDelete();
  double secs =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start)
          .count();
  std::printf("checksum %ld\n", checksum);
  if (gcrt) {
    gc::Stats s = gc::stats();
    uint64_t max_pause = 0;
    for (uint64_t p : s.pause_ns) max_pause = std::max(max_pause, p);
    std::fprintf(stderr,
                 "gcbench gcrt: %.3f s, %lu collections, pause total %.1f ms, "
                 "max %.2f ms\n",
                 secs, static_cast<unsigned long>(s.num_gc),
                 s.pause_total_ns / 1e6, max_pause / 1e6);
  } else {
    std::fprintf(stderr, "gcbench newdelete: %.3f s\n", secs);
  }
  return 0;
}
