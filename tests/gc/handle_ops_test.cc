// What C++ programmers expect of pointer types, for gc::Ptr, gc::Root and
// gc::Global: comparison and ordering by address across the three, hashing
// (std::unordered_map / set keys), the pointer casts, and operator[]
// through a handle to a gc::Array.
#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <set>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "gcrt/gc.h"
#include "tests/test_support/verified_heap_test.h"

namespace {

struct Base {
  virtual ~Base() = default;
  int64_t id = 0;
};
struct Derived : Base {
  int64_t extra = 5;
};
struct Other : Base {};

class HandleOpsTest : public gc::testing::VerifiedHeapTest {};

TEST_F(HandleOpsTest, CompareAndOrderAcrossPtrRootAndGlobal) {
  gc::Root<Base> a = gc::make<Base>();
  gc::Root<Base> b = gc::make<Base>();
  gc::Ptr<Base> pa = a;
  gc::Global<Base> ga(a);
  gc::Global<Base> gb(b);
  EXPECT_TRUE(pa == a);
  EXPECT_TRUE(a == ga);
  EXPECT_TRUE(ga == pa);
  EXPECT_TRUE(ga != gb);
  EXPECT_FALSE(a == b);
  EXPECT_TRUE(gc::Global<Base>() == nullptr);
  const bool a_first = a.get() < b.get();
  EXPECT_EQ(a < b, a_first);
  EXPECT_EQ(ga < gb, a_first);
  EXPECT_EQ(pa < b, a_first);
  EXPECT_TRUE(a <= ga && a >= ga);
  std::set<gc::Root<Base>> ordered{b, a};
  EXPECT_EQ(ordered.begin()->get(), a_first ? a.get() : b.get());
}

// A second base sits at a nonzero offset in its object: a handle to it
// and one to the object are equal, and ordered as equal (<=> used to
// compare the unadjusted addresses: equal by ==, greater by <=>).
struct Tag {
  int64_t tag = 1;
};
struct Tagged : Base, Tag {};

TEST_F(HandleOpsTest, ABaseAtAnOffsetComparesAndOrdersAsItsObject) {
  gc::Root<Tagged> d = gc::make<Tagged>();
  gc::Ptr<Tag> tag = d;
  gc::Global<Tag> global_tag(tag);
  ASSERT_NE(static_cast<const void*>(tag.get()),
            static_cast<const void*>(d.get()));
  EXPECT_TRUE(tag == d);
  EXPECT_TRUE((tag <=> d) == 0);
  EXPECT_FALSE(tag < d);
  EXPECT_FALSE(tag > d);
  EXPECT_TRUE(d <= global_tag && d >= global_tag);
  gc::Root<Tagged> other = gc::make<Tagged>();
  const bool d_first = d.get() < other.get();
  EXPECT_EQ(tag < other, d_first);
  EXPECT_EQ((other <=> tag) < 0, !d_first);
}

TEST_F(HandleOpsTest, HandlesKeyUnorderedContainers) {
  std::unordered_map<gc::Root<Base>, int> by_root;
  std::unordered_set<gc::Global<Base>> globals;
  std::vector<gc::Root<Base>> objects;
  for (int i = 0; i < 100; i++) {
    objects.push_back(gc::make<Base>());
    objects.back()->id = i;
    by_root[objects.back()] = i;
    globals.insert(gc::Global<Base>(objects.back()));
  }
  gc::collect();
  for (int i = 0; i < 100; i++) {
    EXPECT_EQ(by_root.at(objects[i]), i);
    EXPECT_EQ(globals.count(gc::Global<Base>(objects[i])), 1u);
  }
  EXPECT_EQ(std::hash<gc::Ptr<Base>>{}(gc::Ptr<Base>(objects[7])),
            std::hash<gc::Root<Base>>{}(objects[7]));
}

TEST_F(HandleOpsTest, PointerCasts) {
  gc::Root<Base> base = gc::make<Derived>();
  gc::Root<Derived> d = gc::static_pointer_cast<Derived>(base);
  EXPECT_EQ(d->extra, 5);
  EXPECT_EQ(gc::dynamic_pointer_cast<Derived>(base), d);
  EXPECT_EQ(gc::dynamic_pointer_cast<Other>(base), nullptr);
  gc::Ptr<Base> p = base;
  gc::Ptr<Derived> pd = gc::dynamic_pointer_cast<Derived>(p);
  EXPECT_EQ(pd, d);
  gc::Ptr<const Base> pc = p;
  EXPECT_EQ(gc::const_pointer_cast<Base>(pc), p);
  base = nullptr;
  gc::collect();
  EXPECT_EQ(d->extra, 5) << "the cast's Root keeps the object";
}

// gc::Ptr<void> holds any GC object, as void* does (a type-erased
// container's slot), and keeps it alive like any gc::Ptr field; the
// handles and gc::Weak of void too.
struct Erased {
  gc::Ptr<void> any;
  int64_t kind = 0;
};

TEST_F(HandleOpsTest, VoidPointersHoldAnyObject) {
  gc::Root<Erased> holder = gc::make<Erased>();
  gc::Weak<Derived> weak;
  {
    gc::Root<Derived> d = gc::make<Derived>();
    weak = gc::Weak<Derived>(d);
    holder->any = d;
    gc::Root<void> root = d;
    gc::Global<void> global(d);
    gc::Weak<void> weak_void(root);
    EXPECT_EQ(root.get(), static_cast<void*>(d.get()));
    EXPECT_EQ(global, holder->any);
    EXPECT_EQ(weak_void.lock(), root);
  }
  gc::collect();
  ASSERT_FALSE(weak.expired()) << "a gc::Ptr<void> field keeps its object";
  EXPECT_EQ(gc::static_pointer_cast<Derived>(holder->any)->extra, 5);
  holder->any = nullptr;
  gc::collect();
  EXPECT_TRUE(weak.expired());
  // gc::free of a void handle destroys the object as the type it was made
  // as (its span's record).
  gc::Root<void> freed = gc::make<Derived>();
  gc::Weak<Derived> freed_weak(gc::static_pointer_cast<Derived>(freed));
  gc::free(freed);
  EXPECT_EQ(freed, nullptr);
  EXPECT_TRUE(freed_weak.expired());
}

TEST_F(HandleOpsTest, IndexingThroughHandlesToArrays) {
  gc::Root<gc::Array<int64_t>> r = gc::make_array<int64_t>(10);
  for (size_t i = 0; i < 10; i++) r[i] = static_cast<int64_t>(i * i);
  gc::Global<gc::Array<int64_t>> g(r);
  gc::Ptr<gc::Array<int64_t>> p = r;
  gc::collect();
  EXPECT_EQ(r[3], 9);
  EXPECT_EQ(g[4], 16);
  EXPECT_EQ(p[9], 81);
}

}  // namespace
