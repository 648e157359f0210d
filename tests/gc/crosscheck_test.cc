// The missed-field cross-check (gc/crosscheck.h, gc::set_crosscheck): after
// marking, a word of a reachable object that points to an object the cycle
// would free stops the program naming both types and the offset. The
// suites run with stack scanning off (.bazelrc): only the heap keeps
// objects here.
//
// Every test runs with the verifier on.
#include <gtest/gtest.h>

#include <array>
#include <atomic>
#include <cstdint>
#include <optional>
#include <string>
#include <variant>

#include "gcrt/gc.h"
#include "tests/test_support/verified_heap_test.h"

namespace {

struct Child {
  ~Child() { destroyed.fetch_add(1, std::memory_order_relaxed); }
  int64_t value = 42;
  static inline std::atomic<int> destroyed{0};
};

// Declared pointer-free, and yet holding the only reference to a child.
class WronglyPointerFree {
 public:
  using gc_pointer_free = WronglyPointerFree;
  WronglyPointerFree() : child_(gc::make_unrooted<Child>()) {}

 private:
  int64_t tag_ = 1;
  gc::Ptr<Child> child_;
};

// The same under 16 bytes: it lives in a tiny block.
class SmallWronglyPointerFree {
 public:
  using gc_pointer_free = SmallWronglyPointerFree;
  SmallWronglyPointerFree() : child_(gc::make_unrooted<Child>()) {}

 private:
  gc::Ptr<Child> child_;
};

// A trace() that forgets its second field.
class ForgetsAField {
 public:
  ForgetsAField()
      : first_(gc::make_unrooted<Child>()),
        second_(gc::make_unrooted<Child>()) {}
  void trace(gc::Tracer& t) const { t(first_); }

 private:
  gc::Ptr<Child> first_;
  gc::Ptr<Child> second_;
};

// A derived class that adds a gc::Ptr and inherits its base's trace().
class Shape {
 public:
  virtual ~Shape() = default;
  virtual void trace(gc::Tracer& t) const { t(first_); }

 private:
  gc::Ptr<Child> first_ = gc::make_unrooted<Child>();
};
class Labeled : public Shape {
 private:
  gc::Ptr<Child> label_ = gc::make_unrooted<Child>();
};

// The same, with the derived class's field in its base's tail padding (the
// derived class is no larger than the base).
class alignas(16) Framed {
 public:
  virtual ~Framed() = default;
  virtual void trace(gc::Tracer& t) const { t(first_); }

 private:
  gc::Ptr<Child> first_ = gc::make_unrooted<Child>();
  int32_t depth_ = 0;
};
class Badge : public Framed {
 private:
  gc::Ptr<Child> icon_ = gc::make_unrooted<Child>();
};
static_assert(sizeof(Badge) == sizeof(Framed));

// A base whose trace forgets its own second field, and a derived class
// that inherits it and adds only data: the base's trace is to blame.
class Forgetful {
 public:
  virtual ~Forgetful() = default;
  virtual void trace(gc::Tracer& t) const { t(first_); }

 private:
  gc::Ptr<Child> first_ = gc::make_unrooted<Child>();
  gc::Ptr<Child> second_ = gc::make_unrooted<Child>();
};
class Counted : public Forgetful {
 private:
  int64_t count_ = 3;
};

// An aggregate keeping a pointer as an integer.
struct Hidden {
  gc::Ptr<Child> seen;
  uintptr_t hidden;
};

struct Node {
  gc::Ptr<Node> left, right;
  int64_t value = 0;
};

gc::Ptr<Node> Tree(int depth) {
  gc::Root<Node> n = gc::make<Node>();
  if (depth > 0) {
    n->left = Tree(depth - 1);
    n->right = Tree(depth - 1);
  }
  return n;
}

class CrossCheckTest : public gc::testing::VerifiedHeapTest {
 protected:
  void SetUp() override {
#if defined(GCRT_TSAN)
    // A forked child may not start the mark workers under TSan.
    GTEST_FLAG_SET(death_test_style, "threadsafe");
#endif
    VerifiedHeapTest::SetUp();
    previous_ = gc::set_crosscheck(true);
  }
  void TearDown() override { gc::set_crosscheck(previous_); }
  bool previous_ = false;
};

TEST_F(CrossCheckTest, AClassDeclaredPointerFreeHoldingAPtrIsReported) {
  gc::Root<WronglyPointerFree> r = gc::make<WronglyPointerFree>();
  EXPECT_DEATH(gc::collect(),
               "missed field: the object of type [^ ]*WronglyPointerFree at "
               "0x[0-9a-f]+ holds at offset 8 a pointer to 0x[0-9a-f]+, in "
               "the object of type [^ ]*Child at .* that this cycle will "
               "free: its type is taken as pointer-free, so it is never "
               "scanned: [^ ]*WronglyPointerFree declares itself "
               "pointer-free, or inherits");
}

TEST_F(CrossCheckTest, ASmallClassDeclaredPointerFreeIsReportedToo) {
  static_assert(sizeof(SmallWronglyPointerFree) < 16);
  gc::Root<SmallWronglyPointerFree> r = gc::make<SmallWronglyPointerFree>();
  EXPECT_DEATH(gc::collect(),
               "missed field: the object of type gcrt.tiny_block \\(objects "
               "under 16 bytes taken as pointer-free, whose types are not "
               "kept\\) at 0x[0-9a-f]+ holds "
               "at offset [0-9]+ a pointer to 0x[0-9a-f]+, in the object of "
               "type [^ ]*Child at");
}

TEST_F(CrossCheckTest, AFieldTheTraceSkipsIsReportedAtItsOffset) {
  gc::Root<ForgetsAField> r = gc::make<ForgetsAField>();
  EXPECT_DEATH(gc::collect(),
               "missed field: the object of type [^ ]*ForgetsAField at "
               "0x[0-9a-f]+ holds at offset 8 .*does [^ ]*ForgetsAField::"
               "trace visit that field");
}

// The report asks the derived class for a trace() of its own, not whether
// one it does not have visits the field (debug builds' own check of
// inherited traces, which runs first there, names both classes too).
TEST_F(CrossCheckTest, AnInheritedTraceIsNamedAsTheBaseClasss) {
  gc::Root<Labeled> r = gc::make<Labeled>();
  EXPECT_DEATH(gc::collect(),
               "[^ ]*Labeled[^.]* inherits its trace\\(\\) from [^ ]*Shape, "
               "which");
}

TEST_F(CrossCheckTest, AFieldInTheBasesTailPaddingIsTheDerivedClasss) {
  gc::Root<Badge> r = gc::make<Badge>();
  EXPECT_DEATH(gc::collect(),
               "[^ ]*Badge[^.]* inherits its trace\\(\\) from [^ ]*Framed, "
               "which");
}

TEST_F(CrossCheckTest, AFieldOfTheBaseIsTheBasesTraceToFix) {
  gc::Root<Counted> r = gc::make<Counted>();
  EXPECT_DEATH(gc::collect(),
               "does [^ ]*Forgetful::trace \\(which [^ ]*Counted inherits\\) "
               "visit that field");
}

TEST_F(CrossCheckTest, AnAggregatesHiddenPointerIsNamedAsNoneOfItsFields) {
  gc::Root<Hidden> r = gc::make<Hidden>();
  r->seen = gc::make_unrooted<Child>();
  r->hidden = reinterpret_cast<uintptr_t>(gc::make_unrooted<Child>().get());
  EXPECT_DEATH(gc::collect(),
               "holds at offset 8 .*[^ ]*Hidden is an aggregate whose gc::Ptr "
               "fields are found at compile time, and this word is none of "
               "them");
}

TEST_F(CrossCheckTest, ACorrectProgramIsNotReported) {
  gc::Root<Node> tree = Tree(12);
  for (int i = 0; i < 5; i++) {
    Tree(10);  // garbage, freed by the next cycle
    gc::collect();
  }
  EXPECT_NE(tree->left->right, nullptr);
}

// A disengaged optional and a variant's inactive alternative keep the
// bytes of the gc::Ptr they last held: stale storage, not a missed field
// (the report stopped a correct program).
struct Optional {
  std::optional<gc::Ptr<Child>> maybe;
  int64_t tag = 0;
};
struct Variant {
  int64_t tag = 0;
  std::variant<gc::Ptr<Child>, std::monostate, int64_t> either;
};
struct Nested {
  std::array<Optional, 2> pair;
  Variant variant;
};

TEST_F(CrossCheckTest, StaleBytesOfAnOptionalOrAVariantAreNotReported) {
  gc::Root<Optional> o = gc::make<Optional>();
  o->maybe = gc::make_unrooted<Child>();
  gc::Root<Variant> v = gc::make<Variant>();
  v->either = gc::make_unrooted<Child>();
  gc::Root<Nested> n = gc::make<Nested>();
  n->pair[1].maybe = gc::make_unrooted<Child>();
  n->variant.either = gc::make_unrooted<Child>();
  gc::Root<gc::Array<Optional>> a = gc::make_array<Optional>(3);
  (*a)[2].maybe = gc::make_unrooted<Child>();
  gc::collect();  // all reachable: nothing to report
  const int before = Child::destroyed.load();
  o->maybe.reset();
  v->either = std::monostate{};
  n->pair[1].maybe.reset();
  n->variant.either = int64_t{0};  // overwrites the pointer's word
  (*a)[2].maybe.reset();
  gc::collect();
  gc::collect();
  EXPECT_EQ(Child::destroyed.load(), before + 5);
  // An engaged one is still traced (and its child kept).
  o->maybe = gc::make_unrooted<Child>();
  gc::collect();
  EXPECT_EQ((*o->maybe)->value, 42);
}

TEST_F(CrossCheckTest, OffTheMissedChildIsFreedSilently) {
  gc::set_crosscheck(false);
  const int before = Child::destroyed.load();
  gc::Root<WronglyPointerFree> r = gc::make<WronglyPointerFree>();
  gc::collect();
  EXPECT_EQ(Child::destroyed.load(), before + 1);
}

}  // namespace
