// What the tracer sees (api/trace.h, api/internal/reflect.h): standard types
// that hold GC pointers out of line are traced (variants, adaptors, owning
// smart pointers), aggregates are taken apart at compile time whatever the
// size of their members, and what cannot be traced is classified as an
// error (a compile error where it is used), never silently pointer-free.
// The compile errors themselves are checked by compile_errors_test.sh.
//
// Every test runs with the verifier on.
#include <gtest/gtest.h>

#include <array>
#include <atomic>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <queue>
#include <span>
#include <stack>
#include <string>
#include <utility>
#include <variant>
#include <vector>

#include "gcrt/gc.h"
#include "tests/test_support/verified_heap_test.h"

namespace {

using gc::internal::KindOf;
using gc::internal::TraceKind;
using gc::internal::TypeInfoHolder;
using gc::internal::reflect::Limit;
using gc::internal::reflect::LimitOf;

constexpr uint64_t kMagic = 0xfeedface12345678ull;
constexpr int kChildren = 2000;

struct Leaf {
  explicit Leaf(int v) : value(v) {}
  ~Leaf() { magic = 0; }
  uint64_t magic = kMagic;
  int value;
};

bool Intact(const gc::Ptr<Leaf>& p, int v) {
  return p != nullptr && p->magic == kMagic && p->value == v;
}

class TraceRulesTest : public gc::testing::VerifiedHeapTest {};

// ---- Standard types that hold GC pointers out of line. ----

class WithVariants {
 public:
  void trace(gc::Tracer& t) const { t(items_); }
  std::vector<std::variant<int, std::string, gc::Ptr<Leaf>>> items_;
};

TEST_F(TraceRulesTest, VariantsAreTraced) {
  static_assert(KindOf<std::variant<int, gc::Ptr<Leaf>>>() ==
                TraceKind::kPrecise);
  static_assert(KindOf<std::variant<int, std::string>>() ==
                TraceKind::kPointerFree);
  gc::Root<WithVariants> o = gc::make<WithVariants>();
  for (int i = 0; i < kChildren; i++) {
    if (i % 3 == 0) {
      o->items_.emplace_back(i);
    } else {
      o->items_.emplace_back(gc::make_unrooted<Leaf>(i));
    }
  }
  gc::collect();
  int intact = 0;
  for (int i = 0; i < kChildren; i++) {
    if (i % 3 == 0) continue;
    intact += Intact(std::get<gc::Ptr<Leaf>>(o->items_[i]), i);
  }
  EXPECT_EQ(intact, kChildren - (kChildren + 2) / 3);
}

struct ByValue {
  bool operator()(const std::pair<int, gc::Ptr<Leaf>>& a,
                  const std::pair<int, gc::Ptr<Leaf>>& b) const {
    return a.first < b.first;
  }
};

class WithAdaptors {
 public:
  void trace(gc::Tracer& t) const { t(queue_, stack_, heap_); }
  std::queue<gc::Ptr<Leaf>> queue_;
  std::stack<gc::Ptr<Leaf>> stack_;
  std::priority_queue<std::pair<int, gc::Ptr<Leaf>>,
                      std::vector<std::pair<int, gc::Ptr<Leaf>>>, ByValue>
      heap_;
};

TEST_F(TraceRulesTest, QueuesStacksAndPriorityQueuesAreTraced) {
  gc::Root<WithAdaptors> o = gc::make<WithAdaptors>();
  for (int i = 0; i < kChildren; i++) {
    o->queue_.push(gc::make_unrooted<Leaf>(i));
    o->stack_.push(gc::make_unrooted<Leaf>(i));
    o->heap_.emplace(i, gc::make_unrooted<Leaf>(i));
  }
  gc::collect();
  int intact = 0;
  for (int i = 0; i < kChildren; i++) {
    intact += Intact(o->queue_.front(), i);
    o->queue_.pop();
    intact += Intact(o->stack_.top(), kChildren - 1 - i);
    o->stack_.pop();
    intact += Intact(o->heap_.top().second, kChildren - 1 - i);
    o->heap_.pop();
  }
  EXPECT_EQ(intact, 3 * kChildren);
}

struct Bag {
  std::vector<gc::Ptr<Leaf>> leaves;
};

// An aggregate: its owning pointers' targets are traced through the
// generated trace function.
struct WithOwners {
  std::unique_ptr<Bag> unique;
  std::shared_ptr<Bag> shared;
  std::unique_ptr<Bag> empty;
};

TEST_F(TraceRulesTest, UniqueAndSharedPointersAreTracedThrough) {
  static_assert(KindOf<WithOwners>() == TraceKind::kPrecise);
  static_assert(KindOf<std::unique_ptr<int>>() == TraceKind::kPointerFree);
  gc::Root<WithOwners> o = gc::make<WithOwners>();
  o->unique = std::make_unique<Bag>();
  o->shared = std::make_shared<Bag>();
  for (int i = 0; i < kChildren; i++) {
    o->unique->leaves.push_back(gc::make_unrooted<Leaf>(i));
    o->shared->leaves.push_back(gc::make_unrooted<Leaf>(-i));
  }
  gc::collect();
  int intact = 0;
  for (int i = 0; i < kChildren; i++) {
    intact += Intact(o->unique->leaves[i], i);
    intact += Intact(o->shared->leaves[i], -i);
  }
  EXPECT_EQ(intact, 2 * kChildren);
}

// ---- Classification of what cannot be traced. ----

struct Node {
  gc::Ptr<Node> next;
};
struct HoldsRawPointerToTraced {
  Node* raw;
};
struct HoldsRawPointerToData {
  const char* name;
  int* numbers;
  void* anything;
};
#define GCRT_EIGHT_FIELDS(p) \
  int64_t p##0, p##1, p##2, p##3, p##4, p##5, p##6, p##7;
struct WideWithContainer {  // 72 fields, and a container
  GCRT_EIGHT_FIELDS(a)
  GCRT_EIGHT_FIELDS(b)
  GCRT_EIGHT_FIELDS(c)
  GCRT_EIGHT_FIELDS(d)
  GCRT_EIGHT_FIELDS(e)
  GCRT_EIGHT_FIELDS(f)
  GCRT_EIGHT_FIELDS(g)
  GCRT_EIGHT_FIELDS(h)
  GCRT_EIGHT_FIELDS(i)
  std::vector<gc::Ptr<Node>> kids;
};
#undef GCRT_EIGHT_FIELDS
struct NamedWithContainer {  // a user's case: 101 initializers, 2 fields
  char name[100];
  std::vector<gc::Ptr<Node>> kids;
};
struct CArrayWithContainer {
  int64_t v[2];
  std::vector<gc::Ptr<Node>> kids;
};
struct ExplicitlyDefault {  // {} cannot initialize it
  explicit ExplicitlyDefault() = default;
};
struct CArrayBesideExplicit {
  ExplicitlyDefault e;
  int64_t v[2];
  std::vector<gc::Ptr<Node>> kids;
};
struct Base {
  gc::Ptr<Node> first;
};
struct Derived : Base {
  std::vector<gc::Ptr<Node>> kids;
};

TEST_F(TraceRulesTest, WhatCannotBeTracedIsAnErrorNotPointerFree) {
  static_assert(KindOf<Node*>() == TraceKind::kError);
  static_assert(KindOf<HoldsRawPointerToTraced>() == TraceKind::kError);
  static_assert(KindOf<HoldsRawPointerToData>() == TraceKind::kPointerFree);
  static_assert(LimitOf<WideWithContainer>() == Limit::kTooManyFields);
  static_assert(KindOf<WideWithContainer>() == TraceKind::kError);
  static_assert(LimitOf<NamedWithContainer>() == Limit::kNone);
  static_assert(KindOf<NamedWithContainer>() == TraceKind::kPrecise);
  static_assert(LimitOf<CArrayWithContainer>() == Limit::kNone);
  static_assert(KindOf<CArrayWithContainer>() == TraceKind::kPrecise);
  static_assert(LimitOf<CArrayBesideExplicit>() == Limit::kCArray);
  static_assert(KindOf<CArrayBesideExplicit>() == TraceKind::kError);
  static_assert(LimitOf<Derived>() == Limit::kBaseClass);
  static_assert(KindOf<Derived>() == TraceKind::kError);
  static_assert(KindOf<std::unique_ptr<Bag[]>>() == TraceKind::kError);
  // Standard types holding a raw pointer are that pointer.
  static_assert(KindOf<std::atomic<Node*>>() == TraceKind::kError);
  static_assert(KindOf<std::reference_wrapper<Node>>() == TraceKind::kError);
  static_assert(KindOf<std::span<gc::Ptr<Node>>>() == TraceKind::kError);
  static_assert(KindOf<std::span<Node, 4>>() == TraceKind::kError);
  static_assert(KindOf<std::atomic<int64_t>>() == TraceKind::kOpaque);
  static_assert(KindOf<std::span<const int>>() == TraceKind::kPointerFree);
  // Opaque classes: pointer-free as fields, an error handed to a Tracer.
  static_assert(KindOf<std::mutex>() == TraceKind::kOpaque);
  struct WithMutex {
    std::mutex mu;
    gc::Ptr<Node> p;
  };
  static_assert(KindOf<WithMutex>() == TraceKind::kPrecise);
  static_assert(TypeInfoHolder<WithMutex>::kBitmap);
  SUCCEED();
}

// A reference member to data beside gc::Ptr fields: the pointers are found
// (the reference was taken for a value of its type, and entered the bitmap
// at an offset computed from what it referred to).
struct Labeled {
  const std::string& label;
  gc::Ptr<Leaf> first;
  std::reference_wrapper<const std::string> also;
  gc::Ptr<Leaf> second;
};

TEST_F(TraceRulesTest, ReferenceMembersToDataLeaveThePointersBesideThemFound) {
  static_assert(
      std::is_reference_v<gc::internal::reflect::FieldType<Labeled, 0>>);
  // Traced by a function: its bitmap would be built from an unbuilt layout,
  // where binding the reference binds a null one (UBSan's report).
  static_assert(!TypeInfoHolder<Labeled>::kBitmap);
  const std::string label = "label";
  gc::Root<Labeled> l =
      gc::make<Labeled>(label, gc::make_unrooted<Leaf>(1), std::cref(label),
                        gc::make_unrooted<Leaf>(2));
  gc::collect();
  EXPECT_TRUE(Intact(l->first, 1));
  EXPECT_TRUE(Intact(l->second, 2));
  EXPECT_EQ(&l->label, &label);
}

// ---- Aggregates whatever the size of their members. ----

// Counting fields is bounded by 64 probes, not by sizeof(T) * 8: a
// megabyte member costs the compiler nothing (it ran out of memory).
struct BigBuffer {
  std::array<char, 1 << 20> bytes;
  gc::Ptr<Leaf> leaf;
  std::vector<gc::Ptr<Leaf>> more;
};

TEST_F(TraceRulesTest, AMegabyteArrayMemberIsReflectedExactly) {
  static_assert(gc::internal::reflect::kFieldCount<BigBuffer> == 3);
  static_assert(KindOf<BigBuffer>() == TraceKind::kPrecise);
  gc::Root<BigBuffer> b = gc::make<BigBuffer>();
  b->leaf = gc::make_unrooted<Leaf>(1);
  for (int i = 0; i < kChildren; i++) {
    b->more.push_back(gc::make_unrooted<Leaf>(i));
  }
  gc::collect();
  EXPECT_TRUE(Intact(b->leaf, 1));
  int intact = 0;
  for (int i = 0; i < kChildren; i++) intact += Intact(b->more[i], i);
  EXPECT_EQ(intact, kChildren);
}

// C array members, of more than 64 elements in all and of two dimensions:
// the fields are counted with braces (two), and the pointers found by a
// bitmap. Such an aggregate was scanned whole, conservatively.
struct Grid {
  gc::Ptr<Leaf> cells[4][25];
  int64_t counts[3];
};

TEST_F(TraceRulesTest, ACArrayAggregateIsTakenApart) {
  static_assert(LimitOf<Grid>() == Limit::kNone);
  static_assert(gc::internal::reflect::kFieldCount<Grid> == 2);
  static_assert(TypeInfoHolder<Grid>::kBitmap);
  gc::Root<Grid> g = gc::make<Grid>();
  for (int i = 0; i < 100; i++) {
    g->cells[i / 25][i % 25] = gc::make_unrooted<Leaf>(i);
  }
  gc::collect();
  int intact = 0;
  for (int i = 0; i < 100; i++) intact += Intact(g->cells[i / 25][i % 25], i);
  EXPECT_EQ(intact, 100);
}

// A single-element C array binds as one field (no count mismatch).
struct OneCell {
  gc::Ptr<Leaf> only[1];
};

TEST_F(TraceRulesTest, AOneElementCArrayIsOneField) {
  static_assert(LimitOf<OneCell>() == Limit::kNone);
  static_assert(TypeInfoHolder<OneCell>::kBitmap);
  gc::Root<OneCell> o = gc::make<OneCell>();
  o->only[0] = gc::make_unrooted<Leaf>(7);
  gc::collect();
  EXPECT_TRUE(Intact(o->only[0], 7));
}

// A pimpl: a std::unique_ptr to a type incomplete here is an error (its
// holder would be traced differently where the type is complete); a path
// is its own element.
struct Hidden;  // never defined in this file
struct WithPimpl {
  std::unique_ptr<Hidden, void (*)(Hidden*)> impl;
  gc::Ptr<Leaf> leaf;
};

// A value type that holds itself through a container (a tree of values,
// a JSON-like document) is classified by its other parts: its kind was an
// evaluation without end, a compiler error about constexpr depth.
struct ValueTree {
  std::vector<ValueTree> kids;
  int64_t v = 0;
};
struct LeafTree {
  std::vector<LeafTree> kids;
  std::map<std::string, LeafTree> named;
  gc::Ptr<Leaf> leaf;
};
struct ParentedTree {
  std::vector<ParentedTree> kids;
  ParentedTree* parent = nullptr;
  gc::Ptr<Leaf> leaf;
};

TEST_F(TraceRulesTest, ATypeHoldingItselfThroughAContainerIsClassified) {
  static_assert(KindOf<ValueTree>() == TraceKind::kPointerFree);
  static_assert(KindOf<LeafTree>() == TraceKind::kPrecise);
  static_assert(KindOf<std::vector<LeafTree>>() == TraceKind::kPrecise);
  // A raw pointer to such a type is refused as to any traced type.
  static_assert(KindOf<ParentedTree>() == TraceKind::kError);
  gc::Root<ValueTree> values = gc::make<ValueTree>();
  values->kids.resize(3);
  values->kids[2].kids.push_back(ValueTree{{}, 7});
  gc::Root<LeafTree> tree = gc::make<LeafTree>();
  tree->kids.resize(2);
  tree->kids[1].kids.resize(1);
  tree->kids[1].kids[0].leaf = gc::make_unrooted<Leaf>(11);
  tree->named["x"].leaf = gc::make_unrooted<Leaf>(12);
  gc::collect();
  gc::collect();
  EXPECT_EQ(values->kids[2].kids[0].v, 7);
  EXPECT_TRUE(Intact(tree->kids[1].kids[0].leaf, 11));
  EXPECT_TRUE(Intact(tree->named["x"].leaf, 12));
}

TEST_F(TraceRulesTest, PimplsAreRefusedAndSelfReferentialRangesCompile) {
  static_assert(KindOf<std::unique_ptr<Hidden, void (*)(Hidden*)>>() ==
                TraceKind::kError);
  static_assert(KindOf<WithPimpl>() == TraceKind::kError);
  static_assert(KindOf<Hidden*>() == TraceKind::kPointerFree);
  static_assert(KindOf<std::filesystem::path>() == TraceKind::kOpaque);
  SUCCEED();
}

// Shapes that used to pass as pointer-free: an aggregate that is also a
// range, a tagged union, a reference member.
struct RangeBag {
  std::vector<int> items;
  gc::Ptr<Leaf> owner;
  auto begin() const { return items.begin(); }
  auto end() const { return items.end(); }
};
union Payload {
  Payload() : number(0) {}
  gc::Ptr<Leaf> leaf;
  double number;
};
struct Value {
  int tag;
  Payload payload;
};
struct Config {
  int level = 0;
};
struct WithReference {
  Config& config;  // a const reference binds to a temporary: countable
  gc::Ptr<Leaf> leaf;
};
union Small {
  int a;
  float b;
};

TEST_F(TraceRulesTest, RangesUnionsAndReferencesAreNotPointerFree) {
  static_assert(KindOf<RangeBag>() == TraceKind::kPrecise);
  static_assert(KindOf<Payload>() == TraceKind::kConservative);
  static_assert(KindOf<Value>() == TraceKind::kPrecise);
  static_assert(LimitOf<WithReference>() == Limit::kUncountable);
  static_assert(KindOf<WithReference>() == TraceKind::kConservative);
  static_assert(KindOf<Small>() == TraceKind::kPointerFree);
  gc::Root<RangeBag> bag = gc::make<RangeBag>();
  bag->owner = gc::make_unrooted<Leaf>(1);
  gc::Root<Value> value = gc::make<Value>();
  value->payload.leaf = gc::make_unrooted<Leaf>(2);
  static Config config;
  gc::Root<WithReference> ref = gc::make<WithReference>(config);
  ref->leaf = gc::make_unrooted<Leaf>(3);
  gc::collect();
  EXPECT_TRUE(Intact(bag->owner, 1));
  EXPECT_TRUE(Intact(value->payload.leaf, 2));
  EXPECT_TRUE(Intact(ref->leaf, 3));
}

// An anonymous union member: a structured binding refuses the aggregate
// (a hard error, not a substitution failure), so g++ stopped with
// "cannot decompose class type ... because it has an anonymous union
// member" and errors inside gcrt. Now it is found first and the aggregate
// is scanned whole, conservatively, when trivially destructible (clang
// takes no aggregate of two or more fields apart before clang 16: the
// same result by another way); one that is not is gcrt's own error.
struct Tagged {
  int tag = 0;
  union {
    gc::Ptr<Leaf> leaf{};
    double number;
  };
};
struct HoldsTagged {
  gc::Ptr<Leaf> first;
  Tagged tagged;
};
struct NamedUnion {
  gc::Ptr<Leaf> first;
  union Number {
    int64_t i;
    double d;
  } number;
};

TEST_F(TraceRulesTest, AnAnonymousUnionMemberMakesTheAggregateScannedWhole) {
#if !defined(__clang__)
  static_assert(LimitOf<Tagged>() == Limit::kAnonymousMember);
  static_assert(LimitOf<HoldsTagged>() == Limit::kNone);
  static_assert(LimitOf<NamedUnion>() == Limit::kNone);
  static_assert(KindOf<NamedUnion>() == TraceKind::kPrecise);
#endif
  static_assert(KindOf<Tagged>() == TraceKind::kConservative);
  gc::Root<Tagged> tagged = gc::make<Tagged>();
  tagged->tag = 1;
  tagged->leaf = gc::make_unrooted<Leaf>(5);
  gc::Root<HoldsTagged> holds = gc::make<HoldsTagged>();
  holds->first = gc::make_unrooted<Leaf>(6);
  holds->tagged.leaf = gc::make_unrooted<Leaf>(7);
  gc::collect();
  EXPECT_TRUE(Intact(tagged->leaf, 5));
  EXPECT_TRUE(Intact(holds->first, 6));
  EXPECT_TRUE(Intact(holds->tagged.leaf, 7));
}

// The opt-out: a class declared pointer-free is accepted by a Tracer.
class Plain {
 public:
  using gc_pointer_free = Plain;
  explicit Plain(int v) : v_(v) {}
  int v() const { return v_; }

 private:
  int v_;
};

TEST_F(TraceRulesTest, APointerFreeDeclarationIsAcceptedByTheTracer) {
  static_assert(KindOf<Plain>() == TraceKind::kPointerFree);
  Plain plain(3);
  gc::Root<Leaf> leaf = gc::make<Leaf>(4);
  gc::Ptr<Leaf> held = leaf;
  gc::RootSet roots([&](gc::Tracer& t) { t(plain, held); });
  leaf = nullptr;
  gc::collect();
  EXPECT_TRUE(Intact(held, 4));
  EXPECT_EQ(plain.v(), 3);
}

// A class derived from a pointer-free one inherits its marker, not its
// promise: the gc::Ptr it adds is scanned (conservatively: a base class),
// where taking the marker as its own lost the object it held.
class PlainWithChild : public Plain {
 public:
  explicit PlainWithChild(int v) : Plain(v) {}
  gc::Ptr<Leaf> child;
};

// The older marker, `= void`, still declares a class pointer-free.
struct VoidMarked {
  using gc_pointer_free = void;
  int64_t n = 0;
};

TEST_F(TraceRulesTest, AClassDerivedFromAPointerFreeOneIsNotPointerFree) {
  static_assert(gc::PointerFree<VoidMarked>::value);
  static_assert(!gc::PointerFree<PlainWithChild>::value);
  static_assert(KindOf<PlainWithChild>() == TraceKind::kConservative);
  gc::Root<PlainWithChild> holder = gc::make<PlainWithChild>(1);
  holder->child = gc::make_unrooted<Leaf>(5);
  gc::collect();
  gc::collect();
  EXPECT_TRUE(Intact(holder->child, 5));
}

// Ranges of the program's (begin() and end(), no trace()): classified by
// what they yield, their own gc::Ptr fields were never scanned. A range of
// GC pointers is traced by its elements and its own bytes; any other is
// scanned conservatively, as a class.
class GcString {  // its characters in a gc::Array, iterated
 public:
  explicit GcString(const char* s) : n_(std::strlen(s)) {
    chars_ = gc::make_array<char>(n_);
    std::memcpy(chars_->data(), s, n_);
  }
  const char* begin() const { return chars_->data(); }
  const char* end() const { return chars_->data() + n_; }

 private:
  gc::Ptr<gc::Array<char>> chars_;
  size_t n_;
};
class Children : public std::vector<gc::Ptr<Leaf>> {  // and a field
 public:
  gc::Ptr<Leaf>& parent() { return parent_; }

 private:
  gc::Ptr<Leaf> parent_;
};
struct Logged {  // a logger's trace template is not gcrt's trace
  gc::Ptr<Leaf> a, b;
  template <typename... A>
  void trace(const A&...) const {}
};

TEST_F(TraceRulesTest, RangesOfTheProgramKeepTheirOwnFields) {
  static_assert(KindOf<GcString>() == TraceKind::kConservative);
  static_assert(KindOf<Children>() == TraceKind::kPrecise);
  static_assert(!gc::internal::HasTrace<Logged>);
  static_assert(KindOf<Logged>() == TraceKind::kPrecise);
  gc::Root<GcString> text = gc::make<GcString>("garbage-collected text");
  gc::Root<Children> kids = gc::make<Children>();
  kids->parent() = gc::make_unrooted<Leaf>(7);
  for (int i = 0; i < 10; i++) kids->push_back(gc::make_unrooted<Leaf>(i));
  gc::Root<Logged> logged = gc::make<Logged>();
  logged->a = gc::make_unrooted<Leaf>(8);
  logged->b = gc::make_unrooted<Leaf>(9);
  gc::collect();
  for (int i = 0; i < 1000; i++) gc::make_array<char>(22);  // reuse slots
  gc::collect();
  EXPECT_EQ(std::string(text->begin(), text->end()), "garbage-collected text");
  EXPECT_TRUE(Intact(kids->parent(), 7));
  for (int i = 0; i < 10; i++) EXPECT_TRUE(Intact((*kids)[i], i));
  EXPECT_TRUE(Intact(logged->a, 8));
  EXPECT_TRUE(Intact(logged->b, 9));
}

// A trace() inherited from a virtual base (a diamond), or from a private
// base through a using-declaration, is gcrt's trace: no pointer to a
// member of the derived class converts from it, and the check that did
// that cast rejected the class as declaring trace() wrongly.
class Framed {
 public:
  virtual ~Framed() = default;
  virtual void trace(gc::Tracer& t) const { t(frame); }
  gc::Ptr<Leaf> frame;
};
class Left : public virtual Framed {};
class Right : public virtual Framed {};
class Diamond : public Left, public Right {};
class Hidden : private Framed {
 public:
  using Framed::trace;
  void Set(gc::Ptr<Leaf> leaf) { frame = leaf; }
  bool Holds(int v) const { return Intact(frame, v); }
};
static_assert(gc::internal::HasTrace<Diamond>);
static_assert(gc::internal::HasTrace<Hidden>);

TEST_F(TraceRulesTest, ATraceFromAVirtualOrPrivateBaseIsTraced) {
  gc::Root<Diamond> diamond = gc::make<Diamond>();
  diamond->frame = gc::make<Leaf>(31);
  gc::Root<Hidden> hidden = gc::make<Hidden>();
  hidden->Set(gc::make<Leaf>(32));
  for (int i = 0; i < kChildren; i++) gc::make<Leaf>(-i);  // reuse bait
  gc::collect();
  gc::collect();
  EXPECT_TRUE(Intact(diamond->frame, 31));
  EXPECT_TRUE(hidden->Holds(32));
}

}  // namespace
