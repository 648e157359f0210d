// A first gcrt program, as each consumer route builds it (this workspace,
// and the CMake and pkg-config routes from ../cmake): a tree of GC objects
// kept by a root, a collection, and the version the headers and the
// library say they are. Exits nonzero, saying why, if anything is off.
#include <cstdio>
#include <cstring>

#include "gcrt/gc.h"
#include "runtime/base.h"

static_assert(CONSUMER_RUNTIME_BASE == 1, "the consumer's own runtime/base.h");

struct Node {
  gc::Ptr<Node> left, right;
  int value = 0;
};

gc::Root<Node> Build(int depth) {
  gc::Root<Node> n = gc::make<Node>();
  n->value = depth;
  if (depth > 0) {
    n->left = Build(depth - 1);
    n->right = Build(depth - 1);
  }
  return n;
}

int Count(gc::Ptr<Node> n) {
  return n == nullptr ? 0 : 1 + Count(n->left) + Count(n->right);
}

int main() {
  if (std::strcmp(gc::version(), GCRT_VERSION_STRING) != 0) {
    std::fprintf(stderr, "headers are gcrt %s, the library is %s\n",
                 GCRT_VERSION_STRING, gc::version());
    return 1;
  }
  gc::Root<Node> tree = Build(10);
  for (int i = 0; i < 100; i++) Build(8);  // garbage
  gc::collect();
  const int nodes = Count(tree);
  if (nodes != (1 << 11) - 1) {
    std::fprintf(stderr, "the tree has %d nodes, expected %d\n", nodes,
                 (1 << 11) - 1);
    return 1;
  }
  std::printf("gcrt %s: %d nodes kept, %llu collections\n", gc::version(),
              nodes, static_cast<unsigned long long>(gc::stats().num_gc));
  return 0;
}
