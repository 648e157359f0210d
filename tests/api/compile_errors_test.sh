#!/usr/bin/env bash
# Compiles small user programs against gcrt's headers: the ones the tracer
# cannot handle must fail to compile, with gcrt's message and the
# offending type named; the accepted ones must compile (so a failure is
# never the harness's own). Each program states its own #includes: a user's
# program includes "gcrt/gc.h", and must not reach the collector's internals
# through it; the sweep-claim cases include the allocator's
# "gcrt/alloc/heap.h". The headers are seen as an install lays them out
# (api/ as gcrt/, the layers as gcrt/runtime/, gcrt/alloc/, gcrt/gc/).
set -uo pipefail
root="${TEST_SRCDIR:-.}/${TEST_WORKSPACE:-gcrt}"
[[ -f "$root/api/gc.h" ]] || root="$(cd "$(dirname "$0")/../.." && pwd)"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
failures=0
include="$work/include"
mkdir -p "$include/gcrt"
for f in "$root"/api/*; do ln -s "$(realpath "$f")" "$include/gcrt/"; done
for layer in runtime alloc gc; do
  ln -s "$(realpath "$root/$layer")" "$include/gcrt/$layer"
done

compile() {  # compile <name>: compiles $work/<name>.cc, output in .log
  ( ulimit -v 4000000  # 4 GB: reflection must not depend on member sizes
    g++ -std=c++20 -fsyntax-only -I"$include" "$work/$1.cc" >"$work/$1.log" 2>&1 )
}

# expect_error <name> <message substring> <type substring>; the whole
# program, includes first, on stdin
expect_error() {
  local name=$1 message=$2 type=$3
  cat >"$work/$name.cc"
  if compile "$name"; then
    echo "FAIL $name: compiled, expected an error"
    failures=$((failures + 1))
  elif ! grep -qF -- "$message" "$work/$name.log"; then
    echo "FAIL $name: no message \"$message\"; the compiler said:"
    head -20 "$work/$name.log"
    failures=$((failures + 1))
  elif ! grep -qF -- "$type" "$work/$name.log"; then
    echo "FAIL $name: the error does not name \"$type\""
    failures=$((failures + 1))
  else
    echo "ok   $name"
  fi
}

expect_ok() {  # expect_ok <name>; the whole program on stdin
  local name=$1
  cat >"$work/$name.cc"
  if compile "$name"; then
    echo "ok   $name"
  else
    echo "FAIL $name: did not compile:"
    head -30 "$work/$name.log"
    failures=$((failures + 1))
  fi
}

expect_ok accepted_types <<'CC'
#include "gcrt/gc.h"
#include <array>
#include <memory>
#include <queue>
#include <variant>
#include <vector>
struct Node { gc::Ptr<Node> next; };
struct Huge { std::array<char, (1 << 20)> bytes; gc::Ptr<Node> p; };
struct Pod { int64_t v[2]; gc::Ptr<Node> p; };  // scanned conservatively
class C {
 public:
  void trace(gc::Tracer& t) const { t(v_, q_, u_, weak_); }
  std::variant<int, gc::Ptr<Node>> v_;
  std::queue<gc::Ptr<Node>> q_;
  std::unique_ptr<Node> u_;
  gc::Weak<Node> weak_;
};
int main() {
  gc::make<Huge>();
  gc::make<Pod>();
  gc::make<C>();
}
CC

expect_error opaque_handed_to_tracer \
  "gc::Tracer was handed an opaque standard library type" "std::function" <<'CC'
#include "gcrt/gc.h"
#include <functional>
class C {
 public:
  void trace(gc::Tracer& t) const { t(callback_); }
  std::function<void()> callback_;
};
int main() { gc::make<C>(); }
CC

expect_error raw_pointer_field \
  "a raw pointer to a type that may hold gc::Ptr (traced, or scanned conservatively) cannot be traced" "Node*" <<'CC'
#include "gcrt/gc.h"
struct Node { gc::Ptr<Node> next; };
struct Holder { Node* raw; int n; };
int main() { gc::make<Holder>(); }
CC

# A raw pointer to the type itself (a tree's back-pointer) gets the same
# message, not a cascade of errors about a kind evaluated before its type's
# definition was complete.
expect_error raw_pointer_to_itself \
  "a raw pointer to a type that may hold gc::Ptr (traced, or scanned conservatively) cannot be traced" "TreeNode*" <<'CC'
#include "gcrt/gc.h"
struct TreeNode { gc::Ptr<TreeNode> left, right; TreeNode* parent; };
void F() { gc::make<TreeNode>(); }
CC

expect_error raw_pointer_to_tracer \
  "gc::Tracer was handed a raw pointer" "Node*" <<'CC'
#include "gcrt/gc.h"
struct Node { gc::Ptr<Node> next; };
class C {
 public:
  void trace(gc::Tracer& t) const { t(raw_); }
  Node* raw_ = nullptr;
};
int main() { gc::make<C>(); }
CC

# Whatever it points to: a raw pointer handed to a Tracer is never a no-op.
expect_error raw_pointer_to_pointer_free_to_tracer \
  "gc::Tracer was handed a raw pointer" "Leaf*" <<'CC'
#include "gcrt/gc.h"
struct Leaf { long v0, v1, v2, v3; };
class C {
 public:
  void trace(gc::Tracer& t) const { t(raw_); }
  Leaf* raw_ = nullptr;
};
int main() { gc::make<C>(); }
CC

expect_ok c_arrays_with_containers <<'CC'
#include "gcrt/gc.h"
#include <string>
#include <vector>
struct Node { gc::Ptr<Node> next; };
struct Wide { char name[100]; std::vector<gc::Ptr<Node>> kids; };
struct Pair { int64_t v[2]; std::string name; };
struct Grid { gc::Ptr<Node> cells[3][4]; std::string label; };
int main() { gc::make<Wide>(); gc::make<Pair>(); gc::make<Grid>(); }
CC

# Fields after which no initializer fits, though they exist (a reference
# with a default member initializer; a class whose constructor takes
# anything): the count by braces is not proved, so these are scanned whole
# (a structured binding of the short count was a hard error). And volatile
# fields beside a gc::Ptr (their addresses kept the qualifier).
expect_ok c_arrays_beside_what_braces_cannot_count <<'CC'
#include "gcrt/gc.h"
struct Node { gc::Ptr<Node> next; };
int g;
struct WithReference { int a[2]; int& r = g; };
struct Any { template <class U> Any(U) {} };
struct WithAny { long a[2]; Any x = 1; gc::Ptr<Node> p; };
struct ReferenceThenPtr { long a[2]; int& r = g; gc::Ptr<Node> p; };
struct VolatileArray { volatile long a[2]; gc::Ptr<Node> p; };
struct VolatileScalar { volatile long a; gc::Ptr<Node> p; };
int main() {
  gc::make<WithReference>(); gc::make<WithAny>(); gc::make<ReferenceThenPtr>();
  gc::make<VolatileArray>(); gc::make<VolatileScalar>();
}
CC

expect_error c_array_beside_an_explicit_default \
  "replace each C array member" "Pair" <<'CC'
#include "gcrt/gc.h"
#include <string>
struct Tag { explicit Tag() = default; };
struct Pair { Tag tag; int64_t v[2]; std::string name; };
int main() { gc::make<Pair>(); }
CC

expect_error anonymous_union_with_container \
  "name each anonymous union" "Tagged" <<'CC'
#include "gcrt/gc.h"
#include <string>
struct Tagged { std::string name; int tag; union { double d; long i; }; };
int main() { gc::make<Tagged>(); }
CC

expect_ok anonymous_union_of_scalars <<'CC'
#include "gcrt/gc.h"
struct Value { int tag; union { double d; long i; }; };
struct Node { gc::Ptr<Node> next; Value value; };
int main() { gc::make<Value>(); gc::make<Node>(); }
CC

expect_error base_class \
  "make base classes members" "Derived" <<'CC'
#include "gcrt/gc.h"
#include <vector>
struct Node { gc::Ptr<Node> next; };
struct Base { gc::Ptr<Node> first; };
struct Derived : Base { std::vector<gc::Ptr<Node>> kids; };
int main() { gc::make<Derived>(); }
CC

expect_error unique_array \
  "cannot be traced (its length is unknown)" "unique_ptr" <<'CC'
#include "gcrt/gc.h"
#include <memory>
struct Node { gc::Ptr<Node> next; };
struct Holder { std::unique_ptr<Node[]> nodes; };
int main() { gc::make<Holder>(); }
CC

expect_error pimpl \
  "incomplete here (a pimpl) cannot be traced" "Impl" <<'CC'
#include "gcrt/gc.h"
#include <memory>
struct Impl;
void Drop(Impl*);
struct Leaf { gc::Ptr<Leaf> next; };
struct Holder {
  std::unique_ptr<Impl, void (*)(Impl*)> impl{nullptr, &Drop};
  gc::Ptr<Leaf> leaf;
};
int main() { gc::make<Holder>(); }
CC

# Sweeping a span needs its sweep claim (alloc/sweepgen.h): without one, a
# forged one, or a copy of one, the code does not compile.
expect_error sweep_without_claim "cannot convert" "SweepClaim" <<'CC'
#include "gcrt/alloc/heap.h"
void F(gc::alloc::Span* s) { gc::alloc::Heap::Get().SwapSweptBits(s); }
CC

expect_error forged_sweep_claim "private within this context" "SweepClaim" <<'CC'
#include "gcrt/alloc/heap.h"
void F(gc::alloc::Span* s) { gc::alloc::SweepClaim c(s, 4, false); }
CC

expect_error copied_sweep_claim "use of deleted function" "SweepClaim" <<'CC'
#include "gcrt/alloc/heap.h"
void F(gc::alloc::Span* s) {
  gc::alloc::SweepClaim c = gc::alloc::SweepClaim::TryAcquire(s, 4);
  gc::alloc::SweepClaim d = c;
}
CC

# The public headers keep the layers below out of sight: a program that
# includes only "gcrt/gc.h" cannot name the heap, the allocator's free, its
# centrals and page heap, stop the world, or reach the collector. (The
# internal headers give them to gcrt's own code and tests: the next case.)
# hidden <name> <message> <identifier> <statement naming it>
hidden() {
  expect_error "$1" "$2" "$3" <<CC
#include "gcrt/gc.h"
void F() { $4; }
CC
}
undeclared="has not been declared"
not_member="is not a member of"
hidden heap_hidden "$undeclared" Heap 'gc::alloc::Heap::Get()'
hidden free_hidden "$not_member" Free 'gc::alloc::Free(nullptr)'
hidden central_hidden "$not_member" Central 'gc::alloc::Central* c = nullptr'
hidden page_heap_hidden "$not_member" PageHeap 'gc::alloc::PageHeap* p = nullptr'
hidden stop_the_world_hidden "$not_member" StopTheWorld \
  'gc::runtime::StopTheWorld("x")'
hidden collector_hidden "$undeclared" Collector 'gc::internal::Collector::Get()'
hidden sweeper_hidden "$undeclared" Sweeper 'gc::internal::Sweeper::Get()'

expect_ok internals_with_their_headers <<'CC'
#include "gcrt/alloc/heap.h"
#include "gcrt/gc.h"
#include "gcrt/gc/collector.h"
#include "gcrt/gc/sweeper.h"
#include "gcrt/runtime/safepoint.h"
void F() {
  gc::alloc::Heap::Get();
  gc::alloc::Free(nullptr);
  gc::alloc::Central* c = nullptr;
  gc::alloc::PageHeap* p = nullptr;
  gc::runtime::StopTheWorld("x");
  gc::internal::Collector::Get();
  gc::internal::Sweeper::Get();
  (void)c;
  (void)p;
}
CC

# gc::Root's slot-adopting constructor and ReleaseSlot are gc::make's.
expect_error root_release_slot_private "private within this context" \
  "ReleaseSlot" <<'CC'
#include "gcrt/gc.h"
struct Node { gc::Ptr<Node> next; };
void F() {
  gc::Root<Node> r = gc::make<Node>();
  r.ReleaseSlot();
}
CC

# A cleanup (api/cleanup.h) must not be able to keep its object alive: a
# function that captures, or a gc::Ptr / gc::Root argument, does not compile.
expect_error cleanup_capturing_lambda "the function must hold no state" \
  "add_cleanup" <<'CC'
#include "gcrt/gc.h"
struct Node { gc::Ptr<Node> next; };
void F() {
  gc::Root<Node> r = gc::make<Node>();
  Node* raw = r.get();
  gc::add_cleanup(r, [raw](int) { (void)raw; }, 1);
}
CC

expect_error cleanup_ptr_argument "must not be a gc::Ptr" "add_cleanup" <<'CC'
#include "gcrt/gc.h"
struct Node { gc::Ptr<Node> next; };
void F() {
  gc::Root<Node> r = gc::make<Node>();
  gc::add_cleanup(r, [](gc::Ptr<Node>) {}, r->next);
}
CC

expect_ok cleanup_plain_argument <<'CC'
#include "gcrt/gc.h"
#include <memory>
struct Node { gc::Ptr<Node> next; };
void Close(int) {}
void F() {
  gc::Root<Node> r = gc::make<Node>();
  gc::Cleanup c = gc::add_cleanup(r, &Close, 3);
  gc::add_cleanup(r, [](std::unique_ptr<int>) {}, std::make_unique<int>(1));
  gc::add_cleanup(r, [] {});
  c.stop();
}
CC

# A trace() gcrt cannot call as `void trace(gc::Tracer&) const` used to be
# ignored: the class was scanned conservatively and what its std::vector
# held was reclaimed (a new user's three ported classes).
for variant in "not_const|public|void trace(gc::Tracer& t) { t(items_); }" \
               "pointer|public|void trace(gc::Tracer* t) const { (*t)(items_); }"; do
  IFS='|' read -r name access decl <<<"$variant"
  expect_error "misdeclared_trace_$name" \
    "has a trace member that gcrt cannot call" "CannotTrace<Holder>" <<CC
#include "gcrt/gc.h"
#include <vector>
struct Item { int v = 0; };
class Holder {
 public:
  Holder() {}
 $access:
  $decl
  std::vector<gc::Ptr<Item>> items_;
};
void F() { gc::make<Holder>(); }
CC
done

expect_error misdeclared_trace_in_a_field \
  "has a trace member that gcrt cannot call" "CannotTrace<Holder>" <<'CC'
#include "gcrt/gc.h"
#include <vector>
struct Item { int v = 0; };
class Holder {
 public:
  void trace(gc::Tracer& t) { t(items_); }
  std::vector<gc::Ptr<Item>> items_;
};
struct Outer { Holder h; };
void F() { gc::make<Outer>(); }
CC

# Members named trace that are not gcrt's are accepted: a logger's (in an
# aggregate or not, generic or not, behind a shared_ptr), a data member, a
# static function, a class that also has the right trace(), inherited or
# not, and a class with a final destructor.
expect_ok other_members_named_trace <<'CC'
#include "gcrt/gc.h"
#include <memory>
#include <string>
#include <vector>
struct Item { int v = 0; };
struct Logger { gc::Ptr<Item> p; void trace(const char*) {} };
class SpdLogger {
 public:
  SpdLogger() {}
  template <class... A> void trace(const char*, const A&...) {}
  template <class T> void trace(const T&) {}
};
class Request {
 public:
  explicit Request(std::string p) : path(std::move(p)) {}
  std::string path;
  bool trace = false;
  static void trace_all(const char*) {}
};
class StaticTrace {
 public:
  StaticTrace() {}
  static void trace(const char*) {}
  gc::Ptr<Item> item;
};
class FinalDtor {
 public:
  FinalDtor() {}
  virtual ~FinalDtor() final {}
  gc::Ptr<Item> item;
};
struct Service { gc::Ptr<Item> head; std::shared_ptr<SpdLogger> log;
                 std::vector<Request> requests; StaticTrace s; };
class Good {
 public:
  Good() {}
  void trace(gc::Tracer& t) const { t(items_); }
  void trace(const char*) {}
  std::vector<gc::Ptr<Item>> items_;
};
class Derived : public Good {
 public:
  Derived() {}
};
class Final final {
 public:
  Final() {}
  void trace(gc::Tracer& t) const { t(items_); }
  std::vector<gc::Ptr<Item>> items_;
};
void F() {
  gc::make<Logger>(); gc::make<Good>(); gc::make<Derived>(); gc::make<Final>();
  gc::make<Service>(); gc::make<FinalDtor>();
}
CC

expect_error raw_pointer_to_misdeclared_trace \
  "a raw pointer to a type that may hold gc::Ptr" "Widget*" <<'CC'
#include "gcrt/gc.h"
#include <vector>
struct X { gc::Ptr<X> p; };
class Widget {
 public:
  Widget() {}
  void trace(gc::Tracer& t) { t(kids); }
  std::vector<gc::Ptr<X>> kids;
};
struct Holder { gc::Ptr<X> x; Widget* w; };
void F() { gc::make<Holder>(); }
CC

expect_error misdeclared_trace_behind_shared_ptr \
  "has a trace member that gcrt cannot call" "Widget" <<'CC'
#include "gcrt/gc.h"
#include <memory>
#include <vector>
struct X { gc::Ptr<X> p; };
class Widget {
 public:
  Widget() {}
  void trace(gc::Tracer& t) { t(kids); }
  std::vector<gc::Ptr<X>> kids;
};
struct Holder { std::shared_ptr<Widget> w; };
void F() { gc::make<Holder>(); }
CC

# A channel or a task result of raw pointers to a traced type: the values
# would wait unrooted (a new user's Channel<Node*> lost every object).
expect_error channel_of_raw_pointers "a gc::Channel of raw pointers to a type that may hold gc::Ptr" \
  "Node*" <<'CC'
#include "gcrt/gc.h"
#include "gcrt/task.h"
struct Node { gc::Ptr<Node> next; };
void F() { gc::Channel<Node*> ch(4); }
CC

expect_error task_result_raw_pointer "a task returning a raw pointer to a type that may hold gc::Ptr" \
  "Node*" <<'CC'
#include "gcrt/gc.h"
#include "gcrt/task.h"
struct Node { gc::Ptr<Node> next; };
void F() { gc::go([]() -> Node* { return nullptr; }).join(); }
CC

# Inside the value too: a container, a pair, an optional, a struct.
expect_error channel_of_vectors_of_raw_pointers "a gc::Channel of raw pointers to a type that may hold gc::Ptr" \
  "Node*" <<'CC'
#include "gcrt/gc.h"
#include "gcrt/task.h"
#include <vector>
struct Node { gc::Ptr<Node> next; };
void F() { gc::Channel<std::vector<Node*>> ch(4); }
CC

expect_error channel_of_structs_with_raw_pointer "a gc::Channel of raw pointers to a type that may hold gc::Ptr" \
  "Job" <<'CC'
#include "gcrt/gc.h"
#include "gcrt/task.h"
#include <optional>
#include <utility>
struct Node { gc::Ptr<Node> next; };
struct Job { int id; std::optional<std::pair<int, Node*>> target; };
void F() { gc::Channel<Job> ch(4); }
CC

expect_error task_result_holding_raw_pointers "a task returning a raw pointer to a type that may hold gc::Ptr" \
  "Node*" <<'CC'
#include "gcrt/gc.h"
#include "gcrt/task.h"
#include <vector>
struct Node { gc::Ptr<Node> next; };
void F() {
  gc::go([] { return std::vector<Node*>{}; }).join();
}
CC

expect_ok channels_and_results_that_travel <<'CC'
#include "gcrt/gc.h"
#include "gcrt/task.h"
#include <memory>
#include <string>
#include <utility>
struct Node { gc::Ptr<Node> next; };
struct Base { int id = 0; };
struct MsgBase : Base { std::string body; };  // unreflected: still a payload
class Widget {
 public:
  Widget();
  ~Widget();
 private:
  struct Job;
  gc::Channel<std::unique_ptr<Job>> jobs_;
};
struct Widget::Job { int id = 0; };
struct Tree {  // holds itself through a container
  std::vector<Tree> kids;
  gc::Ptr<Node> node;
};
Widget::Widget() : jobs_(8) {}
Widget::~Widget() = default;
void F() {
  gc::Channel<MsgBase> messages(4);
  gc::go([] { return MsgBase{}; }).join();
  gc::Channel<int*> raw_plain(4);  // not a GC type: nothing to root
  gc::Channel<gc::Ptr<Node>> ptrs(4);
  gc::Channel<std::pair<int, gc::Root<Node>>> pairs(4);
  gc::go([]() -> int* { return nullptr; }).join();
  gc::go([] { return gc::make<Node>(); }).join();
  gc::go([] {}).join();
  gc::Channel<std::vector<int*>> plain_vectors(4);
  gc::Channel<std::vector<gc::Ptr<Node>>> ptr_vectors(4);
  struct Traced {
    Node* cursor = nullptr;  // its own trace decides
    void trace(gc::Tracer&) const {}
  };
  gc::Channel<std::pair<Traced, int>> traced(4);
  gc::Channel<Tree> trees(2);
  gc::go([] { return Tree{}; }).join();
}
CC

# A trace taking the Tracer by value (a missing &) is meant for gcrt: an
# error, not a trace ignored.
expect_error trace_by_value \
  "takes a gc::Tracer* or a gc::Tracer by value" "ByValue" <<'CC'
#include "gcrt/gc.h"
#include <vector>
struct Leaf { gc::Ptr<Leaf> next; };
class ByValue {
 public:
  void trace(gc::Tracer t) const {}
  std::vector<gc::Ptr<Leaf>> kids;
};
int main() { gc::make<ByValue>(); }
CC

# A smart pointer to a polymorphic class with no trace(): the object may
# be a derived class whose fields scanning the base's bytes would miss.
expect_error owned_polymorphic_without_trace \
  "a std::unique_ptr / std::shared_ptr to a polymorphic class with no trace()" "Shape" <<'CC'
#include "gcrt/gc.h"
#include <memory>
#include <vector>
class Shape {
 public:
  virtual ~Shape() = default;
  virtual double area() const { return 0; }
};
struct Scene { std::vector<std::unique_ptr<Shape>> shapes; };
int main() { gc::make<Scene>(); }
CC

# ... which a virtual trace(), a pointer-free marker or `final` settle; a
# logger's trace template is not gcrt's trace (the aggregate is reflected).
expect_ok owned_polymorphic_settled <<'CC'
#include "gcrt/gc.h"
#include <memory>
struct Leaf { gc::Ptr<Leaf> next; };
class Traced {
 public:
  virtual ~Traced() = default;
  virtual void trace(gc::Tracer& t) const {}
};
class Plain {
 public:
  using gc_pointer_free = Plain;
  virtual ~Plain() = default;
};
class Sealed final {
 public:
  virtual ~Sealed() = default;
  gc::Ptr<Leaf> leaf;
};
struct Logged {
  gc::Ptr<Leaf> a, b;
  template <typename... A>
  void trace(const A&...) const {}
};
static_assert(!gc::internal::HasTrace<Logged>);
struct Holder {
  std::unique_ptr<Traced> traced;
  std::shared_ptr<Plain> plain;
  std::unique_ptr<Sealed> sealed;
};
int main() {
  gc::make<Holder>();
  gc::make<Logged>();
}
CC

# Standard types holding a raw pointer they do not own are that pointer:
# an error when its target may hold gc::Ptr (each compiled and kept
# nothing before), in an aggregate, a class's trace() or a container.
view_message="holds a raw pointer, which the marker does not follow"
expect_view_error() {  # expect_view_error <name> <field type>
  expect_error "$1" "$view_message" "$2" <<CC
#include "gcrt/gc.h"
#include <atomic>
#include <functional>
#include <span>
#include <vector>
struct Node { gc::Ptr<Node> next; };
struct Holder { $2 field; int n = 0; };
int main() { gc::make<Holder>(); }
CC
}
expect_view_error atomic_raw_pointer "std::atomic<Node*>"
expect_view_error reference_wrapper "std::reference_wrapper<Node>"
expect_view_error span_of_ptrs "std::span<gc::Ptr<Node> >"
expect_view_error span_of_nodes "std::span<const Node>"
expect_view_error vector_of_reference_wrappers \
  "std::vector<std::reference_wrapper<Node> >"

# A reference member (it was reflected as a value of its type, and the
# first gc::make crashed computing its offset).
expect_error const_reference_member "$view_message" "const Node&" <<'CC'
#include "gcrt/gc.h"
struct Node { gc::Ptr<Node> next; };
struct Holder { const Node& node; gc::Ptr<Node> p; };
void F(const Node& n) { gc::make<Holder>(n); }
CC

expect_error view_handed_to_tracer "$view_message" "std::atomic<Node*>" <<'CC'
#include "gcrt/gc.h"
#include <atomic>
struct Node { gc::Ptr<Node> next; };
class C {
 public:
  void trace(gc::Tracer& t) const { t(head_); }
  std::atomic<Node*> head_{nullptr};
};
int main() { gc::make<C>(); }
CC

# ... while the same views of what holds no gc::Ptr are plain data.
expect_ok views_of_pointer_free_data <<'CC'
#include "gcrt/gc.h"
#include <atomic>
#include <functional>
#include <span>
#include <string>
#include <string_view>
struct Node { gc::Ptr<Node> next; };
struct Config { int depth; };
// Refers to a struct holding a raw pointer to a traced type: the reference
// is a pointer to data that is not a GC type; what it refers to is not
// taken apart as a field.
struct Cursor { Node* current; };
struct Task { gc::Ptr<Node> node; const Cursor& cursor; };
struct Counters {
  std::atomic<int> count{0};
  std::atomic<Config*> config{nullptr};
  gc::Ptr<Node> node;
};
struct Views {
  std::reference_wrapper<const Config> settings;
  std::span<const int> numbers;
  std::string_view name;
  const Config& cfg;
  const std::string& label;
  gc::Ptr<Node> node;
};
static_assert(gc::internal::KindOf<Views>() == gc::internal::TraceKind::kPrecise);
void F(const Config& c, const std::string& s) {
  gc::make<Counters>();
  static const Cursor cursor{nullptr};
  gc::make<Task>(gc::Ptr<Node>{}, cursor);
  gc::make<Views>(c, std::span<const int>{}, std::string_view{}, c, s,
                  gc::Ptr<Node>{});
}
CC

# A channel refuses them as it refuses the raw pointer.
expect_error channel_of_reference_wrappers \
  "a gc::Channel of raw pointers to a type that may hold gc::Ptr" "reference_wrapper" <<'CC'
#include "gcrt/gc.h"
#include "gcrt/task.h"
#include <functional>
struct Node { gc::Ptr<Node> next; };
int main() { gc::Channel<std::reference_wrapper<Node>> c(1); }
CC

# A packed aggregate holding a gc::Ptr (debug builds stop a packed class
# when its gc::Ptr is made: debug_checks_test).
expect_error packed_aggregate "it is packed (#pragma pack" "Packed" <<'CC'
#include "gcrt/gc.h"
struct Node { gc::Ptr<Node> next; };
#pragma pack(push, 4)
struct Packed { int tag; gc::Ptr<Node> node; };
#pragma pack(pop)
int main() { gc::make<Packed>(); }
CC

# Nested in an aggregate that is not packed itself (its gc::Ptr was at an
# offset the bitmap rounded down, and lost), or traced by a class's trace(),
# or in a std::vector: the same error, naming the packed one.
expect_error packed_nested_aggregate "it is packed (#pragma pack" "In" <<'CC'
#include "gcrt/gc.h"
struct Node { gc::Ptr<Node> next; };
#pragma pack(push, 1)
struct In { char tag; gc::Ptr<Node> p; };
#pragma pack(pop)
struct Out { In in; gc::Ptr<Node> q; };
int main() { gc::make<Out>(); }
CC
expect_error packed_in_traced_vector "it is packed (#pragma pack" "In" <<'CC'
#include "gcrt/gc.h"
#include <vector>
struct Node { gc::Ptr<Node> next; };
#pragma pack(push, 1)
struct In { char tag; gc::Ptr<Node> p; };
#pragma pack(pop)
class Holder {
 public:
  void trace(gc::Tracer& t) const { t(ins); }
  std::vector<In> ins;
};
int main() { gc::make<Holder>(); }
CC

# A first field that takes anything (std::any) is not a base class, and a
# std::shared_ptr<void> is type-erased as std::any is, not a pimpl: both
# opaque, taken to hold no GC pointer (both were errors with the wrong
# message).
expect_ok erased_fields <<'CC'
#include "gcrt/gc.h"
#include <any>
#include <memory>
struct Node { gc::Ptr<Node> next; };
struct Tagged { std::any tag; gc::Ptr<Node> node; };
struct Erased { std::shared_ptr<void> handle; gc::Ptr<Node> node; };
static_assert(gc::internal::reflect::LimitOf<Tagged>() == gc::internal::reflect::Limit::kNone);
static_assert(gc::internal::KindOf<Tagged>() == gc::internal::TraceKind::kPrecise);
static_assert(gc::internal::KindOf<Erased>() == gc::internal::TraceKind::kPrecise);
int main() {
  gc::make<Tagged>();
  gc::make<Erased>();
}
CC

# A destructor that may throw would unwind through the sweep or gc::free.
expect_error make_void \
  "make the object as its own type" "void" <<'CC'
#include "gcrt/gc.h"
int main() { gc::make<void>(); }
CC

# make_array of a type aligned past a page compiled, and threw
# std::invalid_argument at run time (gc::make refused it at compile time).
expect_error over_aligned_array \
  "gcrt aligns objects to at most a page" "make_array" <<'CC'
#include "gcrt/gc.h"
struct alignas(16384) Huge { double v[4]; };
int main() { gc::make_array<Huge>(3); }
CC

expect_error over_aligned_vector \
  "gcrt aligns objects to at most a page" "Huge" <<'CC'
#include "gcrt/gc.h"
struct alignas(16384) Huge { double v[4]; };
struct Holder { gc::Vector<Huge> items; };
int main() { gc::make<Holder>()->items.emplace_back(); }
CC

expect_ok void_handles <<'CC'
#include "gcrt/gc.h"
struct Node { gc::Ptr<Node> next; };
struct Holder { gc::Ptr<void> any; gc::Ptr<const void> seen; };
int main() {
  gc::Root<void> r = gc::make<Node>();
  gc::Root<Holder> h = gc::make<Holder>();
  h->any = r;
  h->seen = h->any;
  gc::Weak<void> w(r);
  gc::Ptr<Node> back = gc::static_pointer_cast<Node>(h->any);
  gc::free(r);
  return back == nullptr && w.expired();
}
CC

expect_error throwing_destructor \
  "this type's destructor may throw" "Conn" <<'CC'
#include "gcrt/gc.h"
struct Conn {
  ~Conn() noexcept(false) {}
  int fd = 0;
};
int main() { gc::make<Conn>(); }
CC

expect_error member_with_throwing_destructor \
  "this type's destructor may throw" "Session" <<'CC'
#include "gcrt/gc.h"
struct Guard {
  ~Guard() noexcept(false) {}
};
struct Session {
  Guard guard;
  int id = 0;
};
int main() { gc::make_array<Session>(4); }
CC

# The checking level is 0, 1 or 2 (docs/debugging.md): another value stops
# the compile instead of building something in between.
expect_error debug_level_out_of_range "must be 0, 1 or 2" GCRT_DEBUG_LEVEL <<'CC'
#define GCRT_DEBUG_LEVEL 3
#include "gcrt/gc.h"
int main() {}
CC

if ((failures > 0)); then
  echo "$failures case(s) failed"
  exit 1
fi
echo "all cases passed"
