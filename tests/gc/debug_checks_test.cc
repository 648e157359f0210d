// Misuse that debug builds (GCRT_DEBUG_LEVEL=2, this target's copts) catch with
// a clear error: rooting a raw pointer that is not into a live GC object.
// Nothing changes when the check refuses: the heap and the roots held
// before are intact.
#include <gtest/gtest.h>

#include <cstdint>
#include <cstdlib>
#include <list>
#include <map>
#include <memory>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <vector>

#include "gcrt/gc.h"
#include "tests/test_support/errors.h"

namespace {

struct Node {
  gc::Ptr<Node> next;
  int64_t value = 0;
};

Node* volatile g_sink;

using gc::testing::InvalidArgumentOf;

TEST(DebugChecks, RootingAForeignPointerIsRefusedWithAMessage) {
  gc::set_verify(true);
  gc::Root<Node> kept = gc::make<Node>();
  kept->value = 42;
  Node on_stack;
  auto on_malloc = std::make_unique<Node>();
  std::string what = InvalidArgumentOf([&] { gc::Root<Node> r(&on_stack); });
  EXPECT_NE(what.find("gc::Root"), std::string::npos) << what;
  EXPECT_NE(what.find("not a pointer into the GC heap"), std::string::npos)
      << what;
  what = InvalidArgumentOf([&] { gc::Root<Node> r(on_malloc.get()); });
  EXPECT_NE(what.find("not a pointer into the GC heap"), std::string::npos)
      << what;
  what = InvalidArgumentOf([&] { gc::Global<Node> g(&on_stack); });
  EXPECT_NE(what.find("gc::Global"), std::string::npos) << what;
  what = InvalidArgumentOf(
      [&] { gc::Weak<Node> w{gc::Ptr<Node>(on_malloc.get())}; });
  EXPECT_NE(what.find("gc::Weak of"), std::string::npos) << what;
  // A gc::Ptr made from a foreign raw pointer is caught when it is rooted.
  what = InvalidArgumentOf(
      [&] { gc::Root<Node> r = gc::Ptr<Node>(on_malloc.get()); });
  EXPECT_FALSE(what.empty());
  // What is legitimate still works: null, an object, a pointer into one.
  gc::Root<Node> null_root(static_cast<Node*>(nullptr));
  gc::Root<Node> again(kept.get());
  auto* interior = reinterpret_cast<Node*>(reinterpret_cast<char*>(kept.get()) +
                                           offsetof(Node, value));
  EXPECT_EQ(InvalidArgumentOf([&] { gc::Root<Node> r(interior); }), "");
  gc::collect();
  EXPECT_EQ(kept->value, 42);
}

TEST(DebugChecks, RootingAFreedSlotIsRefused) {
  gc::set_verify(true);
  gc::set_gc_percent(-1);
  gc::Root<Node> neighbour = gc::make<Node>();  // keeps the span in use
  Node* dead = gc::make_unrooted<Node>().get();
  gc::collect();  // the slot is free now
  std::string what = InvalidArgumentOf([&] { gc::Root<Node> r(dead); });
  EXPECT_NE(what.find("not a live object"), std::string::npos) << what;
  gc::set_gc_percent(100);
}

// A store into the heap from a thread the world does not stop: one that
// never attached (it would race with a cycle's first stop and could miss
// the barrier), or one inside a blocking region. Stores to gc::Ptrs outside
// the heap pass on such threads, and so do an attached thread's.
TEST(DebugChecksDeathTest, StoringIntoTheHeapFromAThreadTheWorldDoesNotStop) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  gc::Root<Node> a = gc::make<Node>();
  gc::Root<Node> b = gc::make<Node>();
  Node* from = a.get();
  Node* to = b.get();
  EXPECT_DEATH(
      {
        gc::Thread t([&] { from->next = gc::Ptr<Node>(to); });
        t.join();
      },
      "not attached to the heap.*gc::attach_thread");
  EXPECT_DEATH(gc::blocking([&] { from->next = gc::Ptr<Node>(to); }),
               "inside a gc::Blocking scope");
  // A read too: the heap is off limits there (docs/threads.md).
  EXPECT_DEATH(gc::blocking([&] { g_sink = a->next.get(); }),
               "dereferenced inside a gc::Blocking scope");
  gc::Ptr<Node> local_seen;
  gc::Thread t([&] {
    gc::Ptr<Node> local;
    local = gc::Ptr<Node>(to);
    local_seen = local;
    gc::attach_thread();
    from->next = local;
  });
  t.join();
  EXPECT_EQ(local_seen.get(), to);
  EXPECT_EQ(a->next.get(), to);
}

// A default constructor that is a constant expression is not recorded as
// under construction (api/make.h); one that allocates anyway, at run time
// only, is reported rather than left to a collection that could trace it
// half-built.
struct SneakyChild {
  gc::Ptr<Node> node;
  constexpr SneakyChild() noexcept {
    if (!std::is_constant_evaluated()) node = gc::make_unrooted<Node>();
  }
};
static_assert(!gc::internal::kTrackConstruction<SneakyChild>);

TEST(DebugChecksDeathTest, AConstantConstructorThatAllocatesIsReported) {
  EXPECT_DEATH(gc::make<SneakyChild>(),
               "gc::make<.*SneakyChild>: its default constructor is a "
               "constant expression.*allocated GC objects");
  // Constant constructors that allocate nothing pass the check, alone and
  // inside a recorded constructor.
  struct Outer {
    Outer() {
      for (int i = 0; i < 3; i++) nodes.push_back(gc::make_unrooted<Node>());
    }
    void trace(gc::Tracer& t) const { t(nodes); }
    std::vector<gc::Ptr<Node>> nodes;
  };
  gc::Root<Outer> outer = gc::make<Outer>();
  gc::collect();
  ASSERT_EQ(outer->nodes.size(), 3u);
  EXPECT_EQ(outer->nodes[2]->value, 0);
}

// A packed class: its gc::Ptr sits at offset 4, where neither the bitmap
// nor a conservative scan of aligned words finds it (the class, with no
// trace(), is classified by its 4-byte alignment as holding no pointer at
// all). Debug builds stop when the gc::Ptr is made.
#pragma pack(push, 4)
class Packed {
 public:
  explicit Packed(gc::Ptr<Node> node) : node_(node) {}
  int32_t tag() const { return tag_; }

 private:
  int32_t tag_ = 1;
  gc::Ptr<Node> node_;
};
#pragma pack(pop)
static_assert(alignof(Packed) == 4);

TEST(DebugChecksDeathTest, AGcPtrInAPackedClassIsReported) {
  // (UndefinedBehaviorSanitizer stops the misaligned construction first.)
  EXPECT_DEATH(gc::make<Packed>(gc::make_unrooted<Node>()),
               "(a gc::Ptr at 0x[0-9a-f]+ is not aligned to 8 bytes: the "
               "class holding it is packed|constructor call on misaligned "
               "address)");
  // Aligned ones pass, in the heap and on the stack.
  gc::Root<Node> n = gc::make<Node>();
  gc::Ptr<Node> local = n;
  n->next = local;
  EXPECT_EQ(n->next, n);
}

// A class that inherits its trace() from its base and adds a gc::Ptr of
// its own: the base's trace cannot see it, and its target would be
// reclaimed while the derived object is live. Debug builds stop at the
// first cycle that traces such an object.
class Shape {
 public:
  virtual ~Shape() = default;
  virtual void trace(gc::Tracer& t) const { t(style); }
  gc::Ptr<Node> style;
};
class Group : public Shape {  // forgot to override trace()
 public:
  gc::Ptr<Node> first_child;
};
static_assert(gc::internal::InheritsTrace<Group>);
class Circle : public Shape {  // adds no GC pointer: no report
 public:
  double radius = 1.0;
};
class Square : public Shape {  // declares its own trace: no report
 public:
  void trace(gc::Tracer& t) const override {
    Shape::trace(t);
    t(corner);
  }
  gc::Ptr<Node> corner;
};
static_assert(!gc::internal::InheritsTrace<Square>);
// A CRTP base whose trace reaches the derived class's fields: inherited,
// and correct, so not reported.
template <typename D>
class AutoTraced : public Shape {
 public:
  void trace(gc::Tracer& t) const override {
    Shape::trace(t);
    static_cast<const D*>(this)->trace_fields(t);
  }
};
class Lamp : public AutoTraced<Lamp> {
 public:
  void trace_fields(gc::Tracer& t) const { t(target); }
  gc::Ptr<Node> target;
};
static_assert(gc::internal::InheritsTrace<Lamp>);
// Adds no GC pointer, but members that point into themselves (a short
// string's buffer, the headers of an empty map and list): not reported.
class Label : public Shape {
 public:
  std::string text = "short";
  std::map<int, int> index;
  std::list<int> history;
};
static_assert(gc::internal::InheritsTrace<Label>);
// A gc::Global member is a root of its own: not reported.
class Pinned : public Shape {
 public:
  gc::Global<Node> pin;
};
static_assert(gc::internal::InheritsTrace<Pinned>);

// A derived class's field placed in its base's tail padding: the derived
// class is no larger than its base, yet has a field of its own.
class alignas(16) Framed {
 public:
  virtual ~Framed() = default;
  virtual void trace(gc::Tracer& t) const { t(style); }
  gc::Ptr<Node> style;
  int32_t depth = 0;  // data size 20, size 32
};
class Badge : public Framed {  // forgot to override trace()
 public:
  gc::Ptr<Node> icon;  // at 24, in Framed's tail padding
};
static_assert(sizeof(Badge) == sizeof(Framed));
static_assert(gc::internal::BaseDataSize<Framed>() == 20);
static_assert(gc::internal::InheritsTrace<Badge>);

// An abstract base, or one whose destructor is not public: the declaring
// class was deduced by value, which failed for it, and the check was off.
class Outline {
 public:
  virtual void trace(gc::Tracer& t) const { t(style); }
  virtual double Area() const = 0;
  gc::Ptr<Node> style;

 protected:
  virtual ~Outline() = default;
};
class Ring : public Outline {  // forgot to override trace()
 public:
  double Area() const override { return 1; }
  gc::Ptr<Node> inner;
};
static_assert(gc::internal::InheritsTrace<Ring>);

TEST(DebugChecksDeathTest, AnInheritedTraceThatMissesAGcPointerIsReported) {
  // The child collects (it starts mark workers): under ThreadSanitizer a
  // forked child may not start threads, so it runs in a fresh process.
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  gc::Root<Circle> circle = gc::make<Circle>();
  circle->style = gc::make_unrooted<Node>();
  gc::Root<Square> square = gc::make<Square>();
  square->corner = gc::make_unrooted<Node>();
  square->corner->value = 7;
  gc::Root<Lamp> lamp = gc::make<Lamp>();
  lamp->target = gc::make_unrooted<Node>();
  lamp->target->value = 9;
  gc::Root<Label> label = gc::make<Label>();
  gc::Root<Pinned> pinned = gc::make<Pinned>();
  pinned->pin = gc::make_unrooted<Node>();
  pinned->pin->value = 11;
  gc::collect();
  EXPECT_EQ(label->text, "short");
  EXPECT_EQ(pinned->pin->value, 11);
  EXPECT_EQ(square->corner->value, 7);
  EXPECT_EQ(lamp->target->value, 9);
  EXPECT_DEATH(
      {
        gc::Root<Group> group = gc::make<Group>();
        group->first_child = gc::make_unrooted<Node>();
        gc::collect();
      },
      "Group \\(the GC object at 0x[0-9a-f]+\\) inherits its trace\\(\\) "
      "from .*Shape, which did not visit .*Group's own byte 16, yet it "
      "holds a pointer to a GC object");
  EXPECT_DEATH(
      {
        gc::Root<Badge> badge = gc::make<Badge>();
        badge->icon = gc::make_unrooted<Node>();
        gc::collect();
      },
      "Badge \\(the GC object at 0x[0-9a-f]+\\) inherits its trace\\(\\) "
      "from .*Framed, which did not visit .*Badge's own byte 24, yet it "
      "holds a pointer to a GC object");
  EXPECT_DEATH(
      {
        gc::Root<Ring> ring = gc::make<Ring>();
        ring->inner = gc::make_unrooted<Node>();
        gc::collect();
      },
      "Ring \\(the GC object at 0x[0-9a-f]+\\) inherits its trace\\(\\) "
      "from .*Outline, which did not visit .*Ring's own byte 16, yet it "
      "holds a pointer to a GC object");
}

}  // namespace
