// Classes the tracer cannot see into (api/trace.h): a class with
// constructors or private members and no trace() is scanned
// conservatively, whether it is allocated itself, a field of an aggregate,
// an element of a container or handed to a Tracer, so the gc::Ptr values
// in its bytes keep their objects; gc::PointerFree opts out. The suites
// run with stack scanning off (.bazelrc): only the heap keeps objects here.
//
// Every test runs with the verifier on.
#include <gtest/gtest.h>

#include <atomic>
#include <cstdint>
#include <mutex>
#include <string>
#include <vector>

#include "gcrt/gc.h"
#include "tests/test_support/verified_heap_test.h"

namespace {

using gc::internal::KindOf;
using gc::internal::TraceKind;
using gc::internal::TypeInfoHolder;

struct Child {
  ~Child() { destroyed.fetch_add(1, std::memory_order_relaxed); }
  int64_t value = 42;
  static inline std::atomic<int> destroyed{0};
};

// The example: a constructor, a gc::Ptr field, no trace().
class Holder {
 public:
  Holder() : child_(gc::make_unrooted<Child>()) {}
  const gc::Ptr<Child>& child() const { return child_; }

 private:
  int64_t tag_ = 7;
  gc::Ptr<Child> child_;
};

// The same, declared pointer-free: the opt-out, here wrongly used.
class DeclaredPointerFree {
 public:
  using gc_pointer_free = DeclaredPointerFree;
  DeclaredPointerFree() : child_(gc::make_unrooted<Child>()) {}

 private:
  gc::Ptr<Child> child_;
};

// An aggregate with an opaque member, and one with a container of them.
struct WithOpaqueMember {
  int64_t n = 0;
  Holder holder;
};
struct WithOpaqueElements {
  std::vector<Holder> holders;
};

// A class handed to a Tracer by a trace() of its holder.
class Traced {
 public:
  void trace(gc::Tracer& t) const { t(holder_); }
  Holder holder_;
};

// Too small to hold a pointer; and a class known to hold none.
class Small {
 public:
  Small() = default;

 private:
  int32_t x_ = 0;
};

class OpaqueTest : public gc::testing::VerifiedHeapTest {};

TEST_F(OpaqueTest, ClassesWithoutTraceAreScannedConservatively) {
  static_assert(KindOf<Holder>() == TraceKind::kConservative);
  static_assert(TypeInfoHolder<Holder>::kConservative);
  static_assert(!TypeInfoHolder<Holder>::kPointerFree);
  static_assert(KindOf<DeclaredPointerFree>() == TraceKind::kPointerFree);
  static_assert(TypeInfoHolder<DeclaredPointerFree>::kPointerFree);
  static_assert(KindOf<Small>() == TraceKind::kPointerFree);
  // The standard library's opaque types hold no gc::Ptr.
  static_assert(KindOf<std::mutex>() == TraceKind::kOpaque);
  static_assert(KindOf<std::string>() == TraceKind::kPointerFree);
  // Members, elements and tracer arguments: traced through the holder.
  static_assert(KindOf<WithOpaqueMember>() == TraceKind::kPrecise);
  static_assert(KindOf<WithOpaqueElements>() == TraceKind::kPrecise);
  static_assert(KindOf<Traced>() == TraceKind::kPrecise);
  SUCCEED();
}

TEST_F(OpaqueTest, AClassWithoutTraceKeepsItsChild) {
  const int before = Child::destroyed.load();
  gc::Root<Holder> h = gc::make<Holder>();
  for (int i = 0; i < 3; i++) gc::collect();
  EXPECT_EQ(Child::destroyed.load(), before) << "its child was collected";
  EXPECT_EQ(h->child()->value, 42);
}

TEST_F(OpaqueTest, TheOptOutIsTakenAtItsWord) {
  const int before = Child::destroyed.load();
  gc::Root<DeclaredPointerFree> h = gc::make<DeclaredPointerFree>();
  gc::collect();
  EXPECT_EQ(Child::destroyed.load(), before + 1)
      << "a class declared pointer-free is never scanned";
}

TEST_F(OpaqueTest, OpaqueMembersAndElementsKeepTheirChildren) {
  const int before = Child::destroyed.load();
  gc::Root<WithOpaqueMember> m = gc::make<WithOpaqueMember>();
  gc::Root<WithOpaqueElements> e = gc::make<WithOpaqueElements>();
  e->holders.resize(100);
  gc::Root<Traced> t = gc::make<Traced>();
  for (int i = 0; i < 3; i++) gc::collect();
  EXPECT_EQ(Child::destroyed.load(), before);
  EXPECT_EQ(m->holder.child()->value, 42);
  for (const Holder& h : e->holders) ASSERT_EQ(h.child()->value, 42);
  EXPECT_EQ(t->holder_.child()->value, 42);
  m = nullptr;
  e = nullptr;
  t = nullptr;
  gc::collect();
  EXPECT_EQ(Child::destroyed.load(), before + 102) << "then collected";
}

}  // namespace
