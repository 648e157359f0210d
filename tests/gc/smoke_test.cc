#include <gtest/gtest.h>

#include "api/gc.h"

namespace {

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

int Count(const Node* n) {
  return n == nullptr ? 0 : 1 + Count(n->left.get()) + Count(n->right.get());
}

TEST(Smoke, TreeSurvivesCollection) {
  gc::Root<Node> t = Build(10);
  for (int i = 0; i < 5; i++) {
    Build(12);
    gc::collect();
    EXPECT_EQ(Count(t.get()), 2047);
  }
  gc::Stats s = gc::stats();
  EXPECT_GE(s.num_gc, 5u);
}

}  // namespace
