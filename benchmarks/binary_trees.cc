// binary-trees from the Computer Language Benchmarks Game, written twice:
// in the safe, idiomatic style of gcrt's API (gc::make, gc::Root, gc::Ptr;
// nothing is freed by hand) and with new/delete (the same program where
// each tree is deleted recursively). The output (and its checksum line) is
// identical between the two.
//
//   binary_trees gcrt|newdelete [max_depth=21]
//
// Both are single-threaded, as the reference C++ programs' inner loop is.
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

#include "api/gc.h"

namespace {

// ---- gcrt ----

struct Node {
  gc::Ptr<Node> left, right;
};

gc::Root<Node> Bottom(int depth) {
  if (depth == 0) return gc::make<Node>();
  gc::Root<Node> left = Bottom(depth - 1);
  gc::Root<Node> right = Bottom(depth - 1);
  return gc::make<Node>(left, right);
}

long Check(const Node* n) {
  return n->left ? 1 + Check(n->left.get()) + Check(n->right.get()) : 1;
}

// ---- new/delete ----

struct RawNode {
  RawNode* left = nullptr;
  RawNode* right = nullptr;
  ~RawNode() {
    delete left;
    delete right;
  }
};

RawNode* RawBottom(int depth) {
  if (depth == 0) return new RawNode();
  RawNode* left = RawBottom(depth - 1);
  RawNode* right = RawBottom(depth - 1);
  return new RawNode{left, right};
}

long RawCheck(const RawNode* n) {
  return n->left ? 1 + RawCheck(n->left) + RawCheck(n->right) : 1;
}

// ---- the benchmark's structure, shared ----

template <typename MakeTree, typename CheckTree>
long Run(int max_depth, MakeTree make_tree, CheckTree check_tree) {
  const int min_depth = 4;
  long total = 0;
  {
    long c = check_tree(make_tree(max_depth + 1));
    std::printf("stretch tree of depth %d\t check: %ld\n", max_depth + 1, c);
    total += c;
  }
  auto long_lived = make_tree(max_depth);
  for (int d = min_depth; d <= max_depth; d += 2) {
    long iterations = 1L << (max_depth - d + min_depth);
    long check = 0;
    for (long i = 0; i < iterations; i++) check += check_tree(make_tree(d));
    std::printf("%ld\t trees of depth %d\t check: %ld\n", iterations, d, check);
    total += check;
  }
  long c = check_tree(std::move(long_lived));
  std::printf("long lived tree of depth %d\t check: %ld\n", max_depth, c);
  return total + c;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2 || (std::strcmp(argv[1], "gcrt") != 0 &&
                   std::strcmp(argv[1], "newdelete") != 0)) {
    std::fprintf(stderr, "usage: %s gcrt|newdelete [max_depth=21]\n", argv[0]);
    return 2;
  }
  int max_depth = argc > 2 ? std::atoi(argv[2]) : 21;
  if (max_depth < 6) max_depth = 6;
  bool gcrt = std::strcmp(argv[1], "gcrt") == 0;
  auto start = std::chrono::steady_clock::now();
  long total;
  if (gcrt) {
    total = Run(
        max_depth, [](int d) { return Bottom(d); },
        [](const gc::Root<Node>& t) { return Check(t.get()); });
  } else {
    total = Run(
        max_depth, [](int d) { return RawBottom(d); },
        [](RawNode* t) {
          long c = RawCheck(t);
          delete t;
          return c;
        });
  }
  double secs =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start)
          .count();
  std::printf("checksum %ld\n", total);
  if (gcrt) {
    gc::Stats s = gc::stats();
    uint64_t max_pause = 0;
    for (uint64_t p : s.pause_ns) max_pause = std::max(max_pause, p);
    std::fprintf(stderr,
                 "binary_trees gcrt depth %d: %.3f s, %lu collections, pause "
                 "total %.1f ms, max %.2f ms, heap_sys %lu MiB\n",
                 max_depth, secs, static_cast<unsigned long>(s.num_gc),
                 s.pause_total_ns / 1e6, max_pause / 1e6,
                 static_cast<unsigned long>(s.heap_sys >> 20));
  } else {
    std::fprintf(stderr, "binary_trees newdelete depth %d: %.3f s\n", max_depth,
                 secs);
  }
  return 0;
}
