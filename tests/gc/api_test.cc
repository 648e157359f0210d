// The API's contracts: how types are classified and traced (pointer-free,
// pointer bitmap, generated or user trace function) and allocation
// (make_unrooted, make_array). Handles and registered roots (gc::Root,
// gc::Global, gc::RootSet, gc::RootRange) are tested in roots_test.cc,
// statistics and knobs in collector_test.cc.
//
// Every test runs with the verifier on (gc::set_verify(true)).
#include <gtest/gtest.h>

#include <array>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <list>
#include <map>
#include <new>
#include <optional>
#include <stdexcept>
#include <string>
#include <tuple>
#include <unordered_map>
#include <utility>
#include <vector>

#include "gcrt/gc.h"
#include "gcrt/gc/collector.h"
#include "tests/test_support/destructions.h"
#include "tests/test_support/verified_heap_test.h"

namespace {

using gc::internal::ContainsGcPointers;
using gc::internal::TypeInfoHolder;
using gc::internal::TypeInfoOf;

using gc::testing::CountWrong;
using gc::testing::Destroyed;
using gc::testing::Leaf;  // a pointer-free class with a destructor
using gc::testing::NewLeaf;

class Api : public gc::testing::VerifierCheckedTest {};

// ---- Pointer-free types. ----

struct PlainAggregate {
  int a;
  double b;
  std::string s;
  std::vector<int> v;
  std::map<std::string, int> m;
  int* raw;  // a raw pointer is not a GC pointer
};
struct SmallPlain {
  int32_t a;
  int64_t b;
};
struct NestedPlain {
  PlainAggregate p;
  std::array<SmallPlain, 2> arr;
  std::pair<int, std::string> pr;
  std::tuple<int, double, std::string> tp;
};
class OpaqueClass {  // not an aggregate, no trace(): pointer-free by rule
 public:
  explicit OpaqueClass(int x) : x_(x) {}
  int x() const { return x_; }

 private:
  int x_;
};

static_assert(!ContainsGcPointers<int>());
static_assert(!ContainsGcPointers<double>());
static_assert(!ContainsGcPointers<std::string>());
static_assert(!ContainsGcPointers<std::vector<std::string>>());
static_assert(!ContainsGcPointers<PlainAggregate>());
static_assert(!ContainsGcPointers<NestedPlain>());
static_assert(!ContainsGcPointers<OpaqueClass>());
static_assert(!ContainsGcPointers<Leaf>());
static_assert(!ContainsGcPointers<std::unordered_map<int, std::string>>());
static_assert(TypeInfoHolder<PlainAggregate>::kPointerFree);
static_assert(TypeInfoHolder<NestedPlain>::kPointerFree);
static_assert(TypeInfoHolder<int>::kPointerFree);

// And ones that hold GC pointers, however deeply.
static_assert(ContainsGcPointers<gc::Ptr<Leaf>>());
static_assert(ContainsGcPointers<std::optional<gc::Ptr<Leaf>>>());
static_assert(ContainsGcPointers<std::pair<int, gc::Ptr<Leaf>>>());
static_assert(
    ContainsGcPointers<std::tuple<int, std::string, gc::Ptr<Leaf>>>());
static_assert(ContainsGcPointers<std::vector<gc::Ptr<Leaf>>>());
static_assert(
    ContainsGcPointers<std::unordered_map<std::string, gc::Ptr<Leaf>>>());
static_assert(ContainsGcPointers<
              std::map<int, std::vector<std::optional<gc::Ptr<Leaf>>>>>());
static_assert(ContainsGcPointers<std::array<gc::Ptr<Leaf>, 3>>());

TEST_F(Api, PointerFreeTypesHaveNoTracingInformation) {
  auto check = [](const gc::alloc::TypeInfo* t, bool has_destructor) {
    EXPECT_TRUE(t->pointer_free) << t->name;
    EXPECT_EQ(t->pointer_bitmap, nullptr) << t->name;
    EXPECT_EQ(t->trace, nullptr) << t->name;
    EXPECT_EQ(t->destroy != nullptr, has_destructor) << t->name;
  };
  check(TypeInfoOf<int>(), false);
  check(TypeInfoOf<PlainAggregate>(), true);
  check(TypeInfoOf<NestedPlain>(), true);
  check(TypeInfoOf<OpaqueClass>(), false);
  check(TypeInfoOf<Leaf>(), true);
  EXPECT_EQ(TypeInfoOf<PlainAggregate>()->size, sizeof(PlainAggregate));
  EXPECT_EQ(TypeInfoOf<PlainAggregate>()->align, alignof(PlainAggregate));

  // They live, and survive collections, with their contents intact.
  gc::Root<PlainAggregate> p = gc::make<PlainAggregate>();
  p->a = 42;
  p->b = 2.5;
  p->s = std::string(100, 'x');
  p->v.assign(1000, 7);
  p->m["key"] = 9;
  gc::Root<OpaqueClass> o = gc::make<OpaqueClass>(17);
  for (int i = 0; i < 3; i++) {
    std::vector<int> garbage;
    for (int k = 0; k < 1000; k++) NewLeaf(&garbage);
    gc::collect();
    EXPECT_EQ(CountWrong(garbage, 1), 0);
  }
  EXPECT_EQ(p->a, 42);
  EXPECT_EQ(p->b, 2.5);
  EXPECT_EQ(p->s, std::string(100, 'x'));
  EXPECT_EQ(p->v, std::vector<int>(1000, 7));
  EXPECT_EQ(p->m.at("key"), 9);
  EXPECT_EQ(o->x(), 17);
}

// A pointer-free object is never scanned: an address hidden in it does not
// keep its target alive (the collector is precise).
struct Hidden {
  uintptr_t address;
  int64_t other;
};
static_assert(!ContainsGcPointers<Hidden>());

// Neither does a non-pointer word next to gc::Ptr fields of a bitmap type,
// or a field a trace() function does not visit.
struct Disguised {
  gc::Ptr<Leaf> real;
  uintptr_t fake;
};
static_assert(TypeInfoHolder<Disguised>::kBitmap);

class TracesOnlyOne {
 public:
  void trace(gc::Tracer& t) const { t(real); }
  gc::Ptr<Leaf> real;
  uintptr_t hidden = 0;
};

TEST_F(Api, OnlyGcPointersKeepObjectsAlive) {
  std::vector<int> hidden_ids, real_ids;
  gc::Root<Hidden> h = gc::make<Hidden>();
  gc::Root<Disguised> d = gc::make<Disguised>();
  gc::Root<TracesOnlyOne> t = gc::make<TracesOnlyOne>();
  h->address = reinterpret_cast<uintptr_t>(NewLeaf(&hidden_ids).get());
  d->fake = reinterpret_cast<uintptr_t>(NewLeaf(&hidden_ids).get());
  d->real = NewLeaf(&real_ids);
  t->hidden = reinterpret_cast<uintptr_t>(NewLeaf(&hidden_ids).get());
  t->real = NewLeaf(&real_ids);
  gc::collect();
  EXPECT_EQ(CountWrong(hidden_ids, 1), 0);
  EXPECT_EQ(CountWrong(real_ids, 0), 0);
  EXPECT_TRUE(d->real->Intact());
  EXPECT_TRUE(t->real->Intact());
}

// ---- Pointer bitmaps. ----

template <typename T>
std::vector<uint64_t> ActualBitmap() {
  const gc::alloc::TypeInfo* t = TypeInfoOf<T>();
  std::vector<uint64_t> bits;
  if (t->pointer_bitmap == nullptr) return bits;
  bits.assign(t->pointer_bitmap, t->pointer_bitmap + t->pointer_bitmap_words);
  return bits;
}

template <typename T>
std::vector<uint64_t> ExpectedBitmap(const std::vector<size_t>& offsets) {
  std::vector<uint64_t> bits((sizeof(T) / sizeof(void*) + 63) / 64, 0);
  for (size_t off : offsets) {
    EXPECT_EQ(off % sizeof(void*), 0u);
    size_t word = off / sizeof(void*);
    bits[word / 64] |= uint64_t{1} << (word % 64);
  }
  return bits;
}

struct Flat {
  int64_t x;
  gc::Ptr<Leaf> p;
  int32_t y;
  gc::Ptr<Leaf> q;
  double z;
  gc::Ptr<Flat> self;
};

struct InnerPtrs {
  gc::Ptr<Leaf> a;
  int64_t n;
  gc::Ptr<Leaf> b;
};

struct NestedPtrs {
  int32_t h;
  InnerPtrs in;
  std::array<gc::Ptr<Leaf>, 3> arr;
  int64_t gap;
  std::array<InnerPtrs, 2> inners;
  OpaqueClass opaque{0};  // a pointer-free member class
  std::array<int64_t, 3> plain;
};

// Wider than 64 words: a bitmap of several words.
struct Wide {
  std::array<int64_t, 100> pad;
  gc::Ptr<Leaf> first;
  std::array<gc::Ptr<Leaf>, 70> many;
  int64_t tail;
  gc::Ptr<Leaf> last;
};

static_assert(TypeInfoHolder<Flat>::kBitmap);
static_assert(TypeInfoHolder<NestedPtrs>::kBitmap);
static_assert(TypeInfoHolder<Wide>::kBitmap);
static_assert(TypeInfoHolder<Wide>::kBitmapWords == 3);

TEST_F(Api, AggregatesGetPointerBitmapsAtTheirFieldOffsets) {
  for (const gc::alloc::TypeInfo* t :
       {TypeInfoOf<Flat>(), TypeInfoOf<NestedPtrs>(), TypeInfoOf<Wide>()}) {
    EXPECT_FALSE(t->pointer_free) << t->name;
    EXPECT_NE(t->pointer_bitmap, nullptr) << t->name;
    EXPECT_EQ(t->trace, nullptr) << t->name;
  }
  EXPECT_EQ(ActualBitmap<Flat>(),
            ExpectedBitmap<Flat>(
                {offsetof(Flat, p), offsetof(Flat, q), offsetof(Flat, self)}));
  EXPECT_EQ(ActualBitmap<Flat>(), std::vector<uint64_t>{0b101010});

  std::vector<size_t> nested;
  const size_t in = offsetof(NestedPtrs, in);
  nested.push_back(in + offsetof(InnerPtrs, a));
  nested.push_back(in + offsetof(InnerPtrs, b));
  for (size_t i = 0; i < 3; i++) {
    nested.push_back(offsetof(NestedPtrs, arr) + i * sizeof(gc::Ptr<Leaf>));
  }
  for (size_t i = 0; i < 2; i++) {
    size_t base = offsetof(NestedPtrs, inners) + i * sizeof(InnerPtrs);
    nested.push_back(base + offsetof(InnerPtrs, a));
    nested.push_back(base + offsetof(InnerPtrs, b));
  }
  EXPECT_EQ(ActualBitmap<NestedPtrs>(), ExpectedBitmap<NestedPtrs>(nested));

  std::vector<size_t> wide{offsetof(Wide, first), offsetof(Wide, last)};
  for (size_t i = 0; i < 70; i++) {
    wide.push_back(offsetof(Wide, many) + i * sizeof(gc::Ptr<Leaf>));
  }
  EXPECT_EQ(ActualBitmap<Wide>(), ExpectedBitmap<Wide>(wide));
  EXPECT_EQ(TypeInfoOf<Wide>()->pointer_bitmap_words, 3u);
}

TEST_F(Api, BitmapTracedObjectsKeepEveryFieldAlive) {
  std::vector<int> ids;
  gc::Root<NestedPtrs> n = gc::make<NestedPtrs>();
  n->in.a = NewLeaf(&ids);
  n->in.b = NewLeaf(&ids);
  for (auto& p : n->arr) p = NewLeaf(&ids);
  for (auto& inner : n->inners) {
    inner.a = NewLeaf(&ids);
    inner.b = NewLeaf(&ids);
  }
  gc::Root<Wide> w = gc::make<Wide>();
  w->first = NewLeaf(&ids);
  for (auto& p : w->many) p = NewLeaf(&ids);
  w->last = NewLeaf(&ids);
  gc::Root<Flat> f = gc::make<Flat>();
  f->p = NewLeaf(&ids);
  f->q = NewLeaf(&ids);
  f->self = f;  // a cycle through a bitmap field
  gc::collect();
  EXPECT_EQ(CountWrong(ids, 0), 0);
  EXPECT_TRUE(n->inners[1].b->Intact());
  EXPECT_TRUE(w->many[69]->Intact());
  EXPECT_TRUE(w->last->Intact());
  int last = w->last->id();
  w->last = nullptr;
  f = nullptr;
  gc::collect();
  EXPECT_EQ(Destroyed(last), 1);
  EXPECT_EQ(Destroyed(ids[ids.size() - 1]), 1);  // f->q
  EXPECT_EQ(Destroyed(ids[ids.size() - 2]), 1);  // f->p
  EXPECT_EQ(Destroyed(w->many[0]->id()), 0);
  n = nullptr;
  w = nullptr;
  gc::collect();
  EXPECT_EQ(CountWrong(ids, 1), 0);
}

// std::array fields are taken apart element by element.
struct WithCArrays {
  int64_t n;
  std::array<gc::Ptr<Leaf>, 4> ptrs;
  std::array<int32_t, 3> small;
  gc::Ptr<Leaf> last;
};
static_assert(TypeInfoHolder<WithCArrays>::kBitmap);

// Over-aligned objects are allocated at their alignment.
class alignas(64) Aligned {
 public:
  void trace(gc::Tracer& t) const { t(p, q); }
  gc::Ptr<Leaf> p;
  int64_t x = 0;
  std::array<int64_t, 9> pad{};
  gc::Ptr<Leaf> q;
};
static_assert(alignof(Aligned) == 64);

TEST_F(Api, CArrayFieldsAndOverAlignedAggregates) {
  std::vector<size_t> offs;
  for (size_t i = 0; i < 4; i++) {
    offs.push_back(offsetof(WithCArrays, ptrs) + i * sizeof(gc::Ptr<Leaf>));
  }
  offs.push_back(offsetof(WithCArrays, last));
  EXPECT_EQ(ActualBitmap<WithCArrays>(), ExpectedBitmap<WithCArrays>(offs));
  EXPECT_EQ(TypeInfoOf<Aligned>()->align, 64u);

  std::vector<int> ids;
  gc::Root<WithCArrays> c = gc::make<WithCArrays>();
  for (auto& p : c->ptrs) p = NewLeaf(&ids);
  c->last = NewLeaf(&ids);
  std::vector<gc::Root<Aligned>> aligned;
  for (int i = 0; i < 50; i++) {
    aligned.push_back(gc::make<Aligned>());
    EXPECT_EQ(reinterpret_cast<uintptr_t>(aligned.back().get()) % 64, 0u);
    aligned.back()->p = NewLeaf(&ids);
    aligned.back()->q = NewLeaf(&ids);
  }
  auto arr = gc::make_array<Aligned>(100);
  for (size_t i = 0; i < arr->size(); i++) {
    EXPECT_EQ(reinterpret_cast<uintptr_t>(&(*arr)[i]) % 64, 0u) << i;
    (*arr)[i].q = NewLeaf(&ids);
  }
  gc::collect();
  EXPECT_EQ(CountWrong(ids, 0), 0);
  EXPECT_TRUE(c->ptrs[3]->Intact());
  EXPECT_TRUE((*arr)[99].q->Intact());
  c = nullptr;
  aligned.clear();
  arr = nullptr;
  gc::collect();
  EXPECT_EQ(CountWrong(ids, 1), 0);
}

// An aggregate reflection cannot take apart (a base class): scanned
// conservatively, but what it points to is kept. A C array member, even of
// more than 64 elements, no longer makes one (its fields are counted with
// braces: api/internal/reflect.h).
struct CountBase {
  int64_t n;
};
struct ManyFields : CountBase {
  gc::Ptr<Leaf> p[80];
};
static_assert(TypeInfoHolder<ManyFields>::kConservative);
static_assert(!TypeInfoHolder<ManyFields>::kPointerFree);
struct EightyPointers {
  gc::Ptr<Leaf> p[80];
  int64_t n;
};
static_assert(TypeInfoHolder<EightyPointers>::kBitmap);

TEST_F(Api, UnreflectedAggregatesAreScannedConservatively) {
  const gc::alloc::TypeInfo* t = TypeInfoOf<ManyFields>();
  EXPECT_FALSE(t->pointer_free);
  EXPECT_EQ(t->pointer_bitmap, nullptr);
  EXPECT_EQ(t->trace, nullptr);
  std::vector<int> ids;
  gc::Root<ManyFields> m = gc::make<ManyFields>();
  for (auto& p : m->p) p = NewLeaf(&ids);
  gc::collect();
  EXPECT_EQ(CountWrong(ids, 0), 0);
  EXPECT_TRUE(m->p[79]->Intact());
  m = nullptr;
  gc::collect();
  EXPECT_EQ(CountWrong(ids, 1), 0);
}

TEST_F(Api, AnAggregateWithALongCArrayGetsABitmap) {
  const gc::alloc::TypeInfo* t = TypeInfoOf<EightyPointers>();
  EXPECT_FALSE(t->pointer_free);
  EXPECT_NE(t->pointer_bitmap, nullptr);
  std::vector<int> ids;
  gc::Root<EightyPointers> m = gc::make<EightyPointers>();
  for (auto& p : m->p) p = NewLeaf(&ids);
  gc::collect();
  EXPECT_EQ(CountWrong(ids, 0), 0);
  EXPECT_TRUE(m->p[79]->Intact());
  m->p[40] = nullptr;
  gc::collect();
  EXPECT_EQ(CountWrong(ids, 0), 1);
  m = nullptr;
  gc::collect();
  EXPECT_EQ(CountWrong(ids, 1), 0);
}

// ---- Generated trace functions. ----

struct WithVector {
  int64_t id;
  std::vector<gc::Ptr<Leaf>> items;
  gc::Ptr<Leaf> one;
};
static_assert(!TypeInfoHolder<WithVector>::kBitmap);
static_assert(!TypeInfoHolder<WithVector>::kPointerFree);

// Pairs, tuples and optionals of gc::Ptr as aggregate fields: no
// fixed-offset rule for them, so a generated trace function.
struct WithPairs {
  std::pair<gc::Ptr<Leaf>, int64_t> pair;
  int64_t x;
  std::tuple<int64_t, gc::Ptr<Leaf>> tuple;
  std::optional<gc::Ptr<Leaf>> maybe;
};
// An over-aligned aggregate reflects like any other.
struct alignas(32) AlignedAggregate {
  gc::Ptr<Leaf> p;
  int64_t x;
};
static_assert(TypeInfoHolder<AlignedAggregate>::kBitmap);
static_assert(!TypeInfoHolder<WithPairs>::kBitmap);
static_assert(!TypeInfoHolder<WithPairs>::kPointerFree);

TEST_F(Api, AggregateWithAVectorGetsATraceFunction) {
  const gc::alloc::TypeInfo* t = TypeInfoOf<WithVector>();
  EXPECT_FALSE(t->pointer_free);
  EXPECT_EQ(t->pointer_bitmap, nullptr);
  EXPECT_NE(t->trace, nullptr);
  EXPECT_NE(t->destroy, nullptr);
  EXPECT_NE(TypeInfoOf<WithPairs>()->trace, nullptr);

  std::vector<int> ids;
  gc::Root<WithVector> v = gc::make<WithVector>();
  gc::Root<WithPairs> o = gc::make<WithPairs>();
  for (int i = 0; i < 3000; i++) {
    v->items.push_back(NewLeaf(&ids));  // the vector reallocates as it grows
    if (i % 500 == 0) gc::collect();
  }
  v->one = NewLeaf(&ids);
  o->pair.first = NewLeaf(&ids);
  std::get<1>(o->tuple) = NewLeaf(&ids);
  int pair_id = ids[ids.size() - 2];
  int tuple_id = ids.back();
  o->maybe = NewLeaf(&ids);
  gc::Root<AlignedAggregate> al = gc::make<AlignedAggregate>();
  EXPECT_EQ(reinterpret_cast<uintptr_t>(al.get()) % 32, 0u);
  al->p = NewLeaf(&ids);
  for (int i = 0; i < 3; i++) {
    std::vector<int> garbage;
    for (int k = 0; k < 500; k++) NewLeaf(&garbage);
    gc::collect();
    EXPECT_EQ(CountWrong(garbage, 1), 0);
    EXPECT_EQ(CountWrong(ids, 0), 0);
  }
  for (size_t i = 0; i < v->items.size(); i++) {
    ASSERT_TRUE(v->items[i]->Intact());
    ASSERT_EQ(v->items[i]->id(), ids[i]);
  }
  v->items.resize(1000);
  o->pair.first = nullptr;
  gc::collect();
  int wrong = 0;
  for (size_t i = 0; i < 3000; i++)
    wrong += Destroyed(ids[i]) != (i < 1000 ? 0 : 1);
  EXPECT_EQ(wrong, 0);
  EXPECT_EQ(Destroyed(pair_id), 1);
  EXPECT_EQ(Destroyed(tuple_id), 0);
  EXPECT_TRUE(std::get<1>(o->tuple)->Intact());
  EXPECT_EQ(Destroyed(v->one->id()), 0);
  EXPECT_TRUE((*o->maybe)->Intact());
  EXPECT_TRUE(al->p->Intact());
  v = nullptr;
  o = nullptr;
  al = nullptr;
  gc::collect();
  EXPECT_EQ(CountWrong(ids, 1), 0);
}

// A class that traces std containers, pairs, tuples and optionals.
class Registry {
 public:
  void trace(gc::Tracer& t) const {
    t(by_name, maybe, pair, tuple, map_of_vectors, list, deque, nested,
      optionals);
  }
  std::unordered_map<std::string, gc::Ptr<Leaf>> by_name;
  std::optional<gc::Ptr<Leaf>> maybe;
  std::pair<gc::Ptr<Leaf>, int> pair;
  std::tuple<int, gc::Ptr<Leaf>, std::string> tuple;
  std::map<int, std::vector<gc::Ptr<Leaf>>> map_of_vectors;
  std::list<gc::Ptr<Leaf>> list;
  std::deque<gc::Ptr<Leaf>> deque;
  std::vector<std::pair<std::string, std::optional<gc::Ptr<Leaf>>>> nested;
  std::array<std::optional<gc::Ptr<Leaf>>, 2> optionals;
};
static_assert(ContainsGcPointers<Registry>());
static_assert(!TypeInfoHolder<Registry>::kBitmap);

// An aggregate holding such a class: traced through it.
struct HoldsRegistry {
  int64_t tag;
  Registry registry;
};
static_assert(!TypeInfoHolder<HoldsRegistry>::kBitmap);

TEST_F(Api, TraceMethodsVisitStdContainersPairsTuplesOptionals) {
  const gc::alloc::TypeInfo* t = TypeInfoOf<Registry>();
  EXPECT_FALSE(t->pointer_free);
  EXPECT_EQ(t->pointer_bitmap, nullptr);
  EXPECT_NE(t->trace, nullptr);
  EXPECT_NE(TypeInfoOf<HoldsRegistry>()->trace, nullptr);

  for (bool wrapped : {false, true}) {
    SCOPED_TRACE(wrapped ? "inside an aggregate" : "direct");
    gc::Root<Registry> direct;
    gc::Root<HoldsRegistry> holder;
    Registry* r;
    if (wrapped) {
      holder = gc::make<HoldsRegistry>();
      r = &holder->registry;
    } else {
      direct = gc::make<Registry>();
      r = direct.get();
    }
    std::vector<int> keep, drop;
    for (int i = 0; i < 50; i++) {
      r->by_name["k" + std::to_string(i)] = NewLeaf(i % 2 ? &keep : &drop);
    }
    r->maybe = NewLeaf(&drop);
    r->pair = {NewLeaf(&keep), 1};
    std::get<1>(r->tuple) = NewLeaf(&drop);
    for (int k = 0; k < 5; k++) {
      for (int i = 0; i < 10; i++) {
        r->map_of_vectors[k].push_back(NewLeaf(k < 2 ? &drop : &keep));
      }
    }
    for (int i = 0; i < 20; i++) r->list.push_back(NewLeaf(&keep));
    for (int i = 0; i < 20; i++) r->deque.push_back(NewLeaf(&drop));
    for (int i = 0; i < 20; i++) {
      r->nested.emplace_back(std::to_string(i), NewLeaf(&keep));
      r->nested.emplace_back("none", std::nullopt);
    }
    r->optionals[0] = NewLeaf(&keep);
    r->optionals[1] = NewLeaf(&drop);
    gc::collect();
    EXPECT_EQ(CountWrong(keep, 0), 0);
    EXPECT_EQ(CountWrong(drop, 0), 0);
    EXPECT_TRUE(r->by_name.at("k7")->Intact());
    EXPECT_TRUE((*r->maybe)->Intact());
    EXPECT_TRUE(std::get<1>(r->tuple)->Intact());
    EXPECT_TRUE(r->nested[38].second.value()->Intact());

    for (int i = 0; i < 50; i += 2) r->by_name.erase("k" + std::to_string(i));
    r->maybe.reset();
    std::get<1>(r->tuple) = nullptr;
    r->map_of_vectors.erase(0);
    r->map_of_vectors[1].clear();
    r->deque.clear();
    r->optionals[1].reset();
    gc::collect();
    EXPECT_EQ(CountWrong(keep, 0), 0);
    EXPECT_EQ(CountWrong(drop, 1), 0);
    EXPECT_TRUE(r->pair.first->Intact());
    EXPECT_TRUE(r->list.back()->Intact());
    EXPECT_TRUE((*r->optionals[0])->Intact());

    direct = nullptr;
    holder = nullptr;
    gc::collect();
    EXPECT_EQ(CountWrong(keep, 1), 0);
  }
}

// ---- Allocation. ----

struct Holder {
  gc::Ptr<Leaf> leaf;
};

TEST_F(Api, UnrootedObjectStoredIntoARootedFieldSurvives) {
  std::vector<int> ids;
  gc::Root<Holder> h = gc::make<Holder>();
  h->leaf = gc::make_unrooted<Leaf>();
  ids.push_back(h->leaf->id());
  // A chain built only with make_unrooted, each stored before the next
  // allocation.
  gc::Root<Flat> head = gc::make<Flat>();
  Flat* tail = head.get();
  for (int i = 0; i < 2000; i++) {
    tail->self = gc::make_unrooted<Flat>();
    tail = tail->self.get();
    tail->x = i;
    tail->p = NewLeaf(&ids);
  }
  for (int i = 0; i < 3; i++) {
    std::vector<int> garbage;
    for (int k = 0; k < 1000; k++) gc::make_unrooted<Leaf>();
    gc::collect();
  }
  EXPECT_EQ(CountWrong(ids, 0), 0);
  EXPECT_TRUE(h->leaf->Intact());
  const Flat* f = head->self.get();
  for (int i = 0; i < 2000; i++, f = f->self.get()) {
    ASSERT_NE(f, nullptr);
    ASSERT_EQ(f->x, i);
    ASSERT_TRUE(f->p->Intact());
  }
  EXPECT_EQ(f, nullptr);
  h = nullptr;
  head = nullptr;
  gc::collect();
  EXPECT_EQ(CountWrong(ids, 1), 0);
}

TEST_F(Api, MakeArrayIsValueInitialized) {
  const std::vector<size_t> sizes{0, 1, 10, 100, 1000, 10000};  // to 40 KiB
  for (int round = 0; round < 3; round++) {
    // Dirty arrays first, freed so that their memory is reused.
    {
      std::vector<gc::Root<gc::Array<int>>> dirty;
      for (size_t n : sizes) {
        for (int k = 0; k < 20; k++) {
          dirty.push_back(gc::make_array<int>(n));
          for (int& x : *dirty.back()) x = -1;
        }
      }
      std::vector<gc::Root<gc::Array<uint64_t>>> dirty64;
      for (int k = 0; k < 200; k++) {
        dirty64.push_back(gc::make_array<uint64_t>(16));
        for (uint64_t& x : *dirty64.back()) x = ~uint64_t{0};
      }
    }
    gc::collect();
    for (size_t n : sizes) {
      SCOPED_TRACE("n = " + std::to_string(n));
      for (int k = 0; k < 20; k++) {
        auto a = gc::make_array<int>(n);
        ASSERT_EQ(a->size(), n);
        int nonzero = 0;
        for (int x : *a) nonzero += x != 0;
        ASSERT_EQ(nonzero, 0);
      }
      auto p = gc::make_array<gc::Ptr<Leaf>>(n);
      for (const auto& x : *p) ASSERT_EQ(x, nullptr);
      auto d = gc::make_array<double>(n);
      for (double x : *d) ASSERT_EQ(x, 0.0);
    }
    auto u = gc::make_array<uint64_t>(16);
    for (uint64_t x : *u) ASSERT_EQ(x, 0u);
  }
}

TEST_F(Api, MakeArrayOverflowThrowsBadAlloc) {
  EXPECT_THROW(gc::make_array<uint64_t>(SIZE_MAX / 4), std::bad_alloc);
  EXPECT_THROW(gc::make_array<int>(SIZE_MAX), std::bad_alloc);
  // The heap is still usable.
  auto a = gc::make_array<int>(10);
  EXPECT_EQ(a->size(), 10u);
}

}  // namespace
