// runtime::IntrusiveList: order, removal from anywhere, size, moves, and
// the checks that catch removing an element of another list.
#include "gcrt/runtime/list.h"

#include <gtest/gtest.h>

#include <vector>

namespace gc::runtime {
namespace {

struct Node {
  int id = 0;
  Node* next = nullptr;
  Node* prev = nullptr;
  // A second pair of links: one element can sit on two kinds of list.
  Node* other_next = nullptr;
  Node* other_prev = nullptr;
};

using List = IntrusiveList<Node>;
using OtherList = IntrusiveList<Node, &Node::other_next, &Node::other_prev>;

std::vector<int> Ids(const List& l) {
  std::vector<int> ids;
  for (Node* n = l.first(); n != nullptr; n = n->next) ids.push_back(n->id);
  return ids;
}

TEST(IntrusiveListTest, KeepsOrderAndSize) {
  Node a{1}, b{2}, c{3};
  List l;
  EXPECT_TRUE(l.empty());
  l.PushBack(&b);
  l.PushFront(&a);
  l.PushBack(&c);
  EXPECT_EQ(Ids(l), (std::vector<int>{1, 2, 3}));
  EXPECT_EQ(l.size(), 3u);
  EXPECT_EQ(l.CountByWalking(), 3u);
  EXPECT_EQ(l.first(), &a);
  EXPECT_EQ(l.last(), &c);
}

TEST(IntrusiveListTest, RemovesFromAnyPlaceAndClearsTheLinks) {
  Node a{1}, b{2}, c{3};
  List l;
  for (Node* n : {&a, &b, &c}) l.PushBack(n);
  l.Remove(&b);
  EXPECT_EQ(Ids(l), (std::vector<int>{1, 3}));
  EXPECT_EQ(b.next, nullptr);
  EXPECT_EQ(b.prev, nullptr);
  l.Remove(&a);
  EXPECT_EQ(l.first(), &c);
  l.Remove(&c);
  EXPECT_TRUE(l.empty());
  EXPECT_EQ(l.last(), nullptr);
  EXPECT_EQ(l.size(), 0u);
  l.PushFront(&b);  // reusable once off the list
  EXPECT_EQ(Ids(l), (std::vector<int>{2}));
}

TEST(IntrusiveListTest, SwapAndMoveTakeTheElements) {
  Node a{1}, b{2};
  List l, m;
  l.PushBack(&a);
  l.PushBack(&b);
  swap(l, m);
  EXPECT_TRUE(l.empty());
  EXPECT_EQ(Ids(m), (std::vector<int>{1, 2}));
  List n = std::move(m);
  EXPECT_TRUE(m.empty());
  EXPECT_EQ(n.size(), 2u);
}

TEST(IntrusiveListTest, SpliceAppendsTheOtherListAndEmptiesIt) {
  Node a{1}, b{2}, c{3}, d{4};
  List l, m, empty;
  l.PushBack(&a);
  l.PushBack(&b);
  m.PushBack(&c);
  m.PushBack(&d);
  l.Splice(m);
  EXPECT_EQ(Ids(l), (std::vector<int>{1, 2, 3, 4}));
  EXPECT_EQ(l.size(), 4u);
  EXPECT_EQ(l.CountByWalking(), 4u);
  EXPECT_EQ(l.last(), &d);
  EXPECT_EQ(c.prev, &b);
  EXPECT_TRUE(m.empty());
  EXPECT_EQ(m.size(), 0u);
  l.Splice(empty);  // nothing to take
  EXPECT_EQ(l.size(), 4u);
  empty.Splice(l);  // into an empty list: takes all
  EXPECT_EQ(Ids(empty), (std::vector<int>{1, 2, 3, 4}));
  EXPECT_TRUE(l.empty());
  EXPECT_EQ(l.first(), nullptr);
}

TEST(IntrusiveListTest, OtherLinksMakeASecondList) {
  Node a{1}, b{2};
  List l;
  OtherList o;
  l.PushBack(&a);
  l.PushBack(&b);
  o.PushBack(&b);
  o.PushBack(&a);
  EXPECT_EQ(o.first(), &b);
  EXPECT_EQ(Ids(l), (std::vector<int>{1, 2}));
  o.Remove(&b);
  EXPECT_EQ(Ids(l), (std::vector<int>{1, 2})) << "the first list's links";
}

TEST(IntrusiveListDeathTest, RemovingAnElementOfAnotherListStops) {
  Node a{1}, b{2};
  List l, m;
  l.PushBack(&a);
  m.PushBack(&b);
  EXPECT_DEATH(l.Remove(&b), "invariant violated: first_ == x");
}

}  // namespace
}  // namespace gc::runtime
