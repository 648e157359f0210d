// gc::HashMap (api/hash_map.h): std::unordered_map's core over gc::Arrays,
// and a member the concurrent marker reads while the program runs. The
// suites run with stack scanning off (.bazelrc): only handles and the heap
// keep objects here.
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <iterator>
#include <map>
#include <random>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "gcrt/gc.h"
#include "tests/test_support/collector_hooks.h"
#include "tests/test_support/verified_heap_test.h"

namespace {

std::atomic<int> g_destroyed{0};

struct Symbol {
  using gc_pointer_free = Symbol;
  explicit Symbol(int64_t v) : value(v) {}
  ~Symbol() { g_destroyed.fetch_add(1, std::memory_order_relaxed); }
  int64_t value;
};

struct Tables {
  gc::HashMap<std::string, gc::Ptr<Symbol>> by_name;
  gc::HashMap<gc::Ptr<Symbol>, int64_t> counts;  // a gc::Ptr key
};

class HashMapTest : public gc::testing::VerifiedHeapTest {};

// A new object inserted straight from gc::make_unrooted, as a value or as
// a gc::Ptr key, has no other reference while the insertion grows the
// table; with stack scanning off (as here) growth's collections reclaimed
// it (a new user's pipeline: wrong values in release builds).
TEST_F(HashMapTest, UnrootedNewEntriesSurviveTheGrowthTheyCause) {
  gc::Root<Tables> t = gc::make<Tables>();
  gc::set_zeal(1);  // a cycle at every allocation
  for (int i = 0; i < 60; i++) {
    const std::string key = "s" + std::to_string(i);
    switch (i % 3) {
      case 0:
        t->by_name.try_emplace(key, gc::make_unrooted<Symbol>(i));
        break;
      case 1:
        t->by_name.insert_or_assign(key, gc::make_unrooted<Symbol>(i));
        break;
      case 2:
        t->by_name.emplace(key, gc::make_unrooted<Symbol>(i));
        break;
    }
    t->counts.try_emplace(gc::make_unrooted<Symbol>(1000 + i), i);
  }
  // A gc::Ptr key with a value that waits in a slot (a GC container): the
  // key is kept across the slot's allocation too.
  gc::Root<gc::Array<gc::HashMap<gc::Ptr<Symbol>, gc::Vector<int64_t>>>>
      groups =
          gc::make_array<gc::HashMap<gc::Ptr<Symbol>, gc::Vector<int64_t>>>(1);
  for (int i = 0; i < 20; i++) {
    (*groups)[0].try_emplace(gc::make_unrooted<Symbol>(2000 + i));
  }
  gc::set_zeal(0);
  for (int i = 0; i < 5000; i++) gc::make<Symbol>(-1);  // reuse what was freed
  gc::collect();
  int64_t group_sum = 0;
  for (const auto& [sym, v] : (*groups)[0]) group_sum += sym->value;
  EXPECT_EQ(group_sum, 20 * 2000 + 190);
  ASSERT_EQ(t->by_name.size(), 60u);
  for (int i = 0; i < 60; i++) {
    gc::Ptr<Symbol>* s = t->by_name.find("s" + std::to_string(i));
    ASSERT_NE(s, nullptr);
    EXPECT_EQ((*s)->value, i);
  }
  ASSERT_EQ(t->counts.size(), 60u);
  std::vector<int64_t> keys;
  for (const auto& [sym, n] : t->counts) {
    EXPECT_EQ(sym->value, 1000 + n);
    keys.push_back(sym->value);
  }
  std::sort(keys.begin(), keys.end());
  for (int i = 0; i < 60; i++) EXPECT_EQ(keys[i], 1000 + i);
}

// The insertions a last trial found losing the new object with stack
// scanning off: a map made from an initializer list (its entries wait in
// an unrooted stack array), std::forward_as_tuple after
// std::piecewise_construct (taken as pointer-free), a value scanned
// conservatively (its words were skipped), and a copy of a map whose
// values are GC containers (its arrays reached from a temporary only).
namespace {
struct Held {  // a constructor and no trace(): scanned conservatively
  gc::Ptr<Symbol> symbol;
  Held() = default;
  explicit Held(gc::Ptr<Symbol> s) : symbol(s) {}
};
using Small = gc::HashMap<int, gc::Ptr<Symbol>>;
}  // namespace

TEST_F(HashMapTest, UnrootedNewValuesInListsTuplesAndScannedWordsSurvive) {
  gc::Root<gc::Array<gc::Vector<Small>>> maps =
      gc::make_array<gc::Vector<Small>>(1);
  gc::Root<gc::Array<gc::HashMap<int, std::pair<gc::Ptr<Symbol>, int>>>> pairs =
      gc::make_array<gc::HashMap<int, std::pair<gc::Ptr<Symbol>, int>>>(1);
  gc::Root<gc::Array<gc::HashMap<int, Held>>> held =
      gc::make_array<gc::HashMap<int, Held>>(1);
  gc::Root<gc::Array<gc::HashMap<int, gc::Vector<gc::Ptr<Symbol>>>>> groups =
      gc::make_array<gc::HashMap<int, gc::Vector<gc::Ptr<Symbol>>>>(2);
  for (int i = 0; i < 4; i++) {
    (*groups)[0][i].push_back(gc::make<Symbol>(100 + i));
  }
  // One new object per list, made last: a second make_unrooted in the
  // same list would collect the first before the list exists.
  gc::Root<Symbol> one = gc::make<Symbol>(1);
  gc::set_zeal(1);  // a cycle at every allocation
  (*maps)[0].push_back(Small{{1, one}, {2, gc::make_unrooted<Symbol>(2)}});
  for (int i = 0; i < 20; i++) {
    (*pairs)[0].try_emplace(i, std::piecewise_construct,
                            std::forward_as_tuple(gc::make_unrooted<Symbol>(i)),
                            std::forward_as_tuple(i));
    (*held)[0].try_emplace(i, Held(gc::make_unrooted<Symbol>(i)));
  }
  (*groups)[1] = gc::HashMap<int, gc::Vector<gc::Ptr<Symbol>>>((*groups)[0]);
  gc::set_zeal(0);
  for (int i = 0; i < 5000; i++) gc::make<Symbol>(-1);  // reuse what was freed
  gc::collect();
  ASSERT_EQ((*maps)[0].size(), 1u);
  EXPECT_EQ((*maps)[0][0].at(1)->value, 1);
  EXPECT_EQ((*maps)[0][0].at(2)->value, 2);
  ASSERT_EQ((*pairs)[0].size(), 20u);
  ASSERT_EQ((*held)[0].size(), 20u);
  for (int i = 0; i < 20; i++) {
    EXPECT_EQ((*pairs)[0].at(i).first->value, i);
    EXPECT_EQ((*pairs)[0].at(i).second, i);
    EXPECT_EQ((*held)[0].at(i).symbol->value, i);
  }
  ASSERT_EQ((*groups)[1].size(), 4u);
  for (int i = 0; i < 4; i++) {
    ASSERT_EQ((*groups)[1].at(i).size(), 1u);
    EXPECT_EQ((*groups)[1].at(i)[0]->value, 100 + i);
  }
}

// A value type with an explicit default constructor: a removed entry is
// reset without copy-list-initialization (Entry{} did not compile).
namespace {
struct ExplicitDefault {
  explicit ExplicitDefault() = default;
  explicit ExplicitDefault(int64_t v) : value(v) {}
  int64_t value = 0;
};
struct Allocating {
  std::vector<gc::Ptr<Symbol>> kids;
  Allocating() = default;
  explicit Allocating(int n) {
    gc::Ptr<Symbol> a = gc::make_unrooted<Symbol>(n);
    gc::Ptr<Symbol> b = gc::make_unrooted<Symbol>(n + 1);  // may collect `a`
    kids = {a, b};
  }
  void trace(gc::Tracer& t) const { t(kids); }
};
void AssignThroughReference(Small& to, const Small& from) { to = from; }
}  // namespace

TEST_F(HashMapTest, ValuesWithExplicitDefaultConstructors) {
  gc::Root<gc::Array<gc::HashMap<int, ExplicitDefault>>> m =
      gc::make_array<gc::HashMap<int, ExplicitDefault>>(1);
  for (int i = 0; i < 100; i++) (*m)[0].try_emplace(i, ExplicitDefault(i));
  for (int i = 0; i < 100; i += 2) EXPECT_EQ((*m)[0].erase(i), 1u);
  auto it = (*m)[0].begin();
  it = (*m)[0].erase(it);
  (*m)[0].clear();
  EXPECT_TRUE((*m)[0].empty());
  (*m)[0].try_emplace(7, ExplicitDefault(7));
  EXPECT_EQ((*m)[0].at(7).value, 7);
}

// try_emplace builds V(args...) in a slot that starts empty: no V() runs
// into existing room (the slot ran one first, and a V whose default
// constructor throws could not be inserted).
namespace {
int g_counted_defaults = 0;
struct CountedDefault {
  gc::Ptr<Symbol> symbol;
  CountedDefault() { g_counted_defaults++; }
  explicit CountedDefault(int n) : symbol(gc::make_unrooted<Symbol>(n)) {}
  void trace(gc::Tracer& t) const { t(symbol); }
};
}  // namespace

TEST_F(HashMapTest, TryEmplaceRunsNoDefaultConstructorIntoRoom) {
  gc::Root<gc::Array<gc::HashMap<int, CountedDefault>>> m =
      gc::make_array<gc::HashMap<int, CountedDefault>>(1);
  (*m)[0].reserve(16);
  const int defaults = g_counted_defaults;
  for (int i = 0; i < 8; i++) (*m)[0].try_emplace(i, i);
  EXPECT_EQ(g_counted_defaults, defaults);
  for (int i = 0; i < 8; i++) EXPECT_EQ((*m)[0].at(i).symbol->value, i);
}

// A constructor run by try_emplace that allocates twice before it stores
// anything is kept as under gc::make; a map copied from a temporary bound
// to a const reference keeps what only the temporary held.
TEST_F(HashMapTest, AllocatingConstructorsAndTemporarySourcesKeepNewObjects) {
  gc::Root<gc::Array<gc::HashMap<int, Allocating>>> made =
      gc::make_array<gc::HashMap<int, Allocating>>(1);
  gc::Root<gc::Array<Small>> assigned = gc::make_array<Small>(1);
  gc::Root<Symbol> one = gc::make<Symbol>(1);
  gc::set_zeal(1);  // a cycle at every allocation
  for (int i = 0; i < 12; i++) (*made)[0].try_emplace(i, 10 * i);
  AssignThroughReference((*assigned)[0],
                         Small{{1, one}, {2, gc::make_unrooted<Symbol>(2)}});
  gc::set_zeal(0);
  for (int i = 0; i < 5000; i++) gc::make<Symbol>(-1);  // reuse what was freed
  gc::collect();
  ASSERT_EQ((*made)[0].size(), 12u);
  for (int i = 0; i < 12; i++) {
    const Allocating& a = (*made)[0].at(i);
    ASSERT_EQ(a.kids.size(), 2u);
    EXPECT_EQ(a.kids[0]->value, 10 * i);
    EXPECT_EQ(a.kids[1]->value, 10 * i + 1);
  }
  ASSERT_EQ((*assigned)[0].size(), 2u);
  EXPECT_EQ((*assigned)[0].at(1)->value, 1);
  EXPECT_EQ((*assigned)[0].at(2)->value, 2);
}

// Copy assignment from a map reached only through this map's own values
// (a tree replacing its children by a grandchild's): it cleared this map
// first, and with it the source, and came out empty.
namespace {
struct MapTree {
  gc::HashMap<int, MapTree> kids;
  int64_t id = 0;
};
}  // namespace

TEST_F(HashMapTest, CopyAssignmentFromAMapItsOwnValuesHold) {
  gc::Root<MapTree> root = gc::make<MapTree>();
  for (int i = 0; i < 3; i++) {
    MapTree& kid = root->kids[i];
    kid.id = i;
    for (int j = 0; j < 5; j++) kid.kids[j].id = 10 * i + j;
  }
  root->kids = root->kids.at(1).kids;
  ASSERT_EQ(root->kids.size(), 5u);
  for (int j = 0; j < 5; j++) EXPECT_EQ(root->kids.at(j).id, 10 + j);
}

// Against std::map, through inserts, overwrites and erases, with
// collections in between.
TEST_F(HashMapTest, AgreesWithStdMapAcrossCollections) {
  gc::Root<Tables> t = gc::make<Tables>();
  std::map<std::string, int64_t> model;
  std::mt19937 rng(7);
  for (int step = 0; step < 20000; step++) {
    const std::string key = "k" + std::to_string(rng() % 3000);
    const int64_t v = step;
    switch (rng() % 3) {
      case 0:
      case 1: {
        // Rooted: inserting may grow the table, which allocates.
        gc::Root<Symbol> sym = gc::make<Symbol>(v);
        EXPECT_EQ(t->by_name.insert_or_assign(key, sym), model.count(key) == 0);
        model[key] = v;
        break;
      }
      case 2:
        EXPECT_EQ(t->by_name.erase(key), model.erase(key) == 1);
        break;
    }
    if (step % 2000 == 0) gc::collect();
  }
  gc::collect();
  ASSERT_EQ(t->by_name.size(), model.size());
  for (const auto& [key, v] : model) {
    gc::Ptr<Symbol>* s = t->by_name.find(key);
    ASSERT_NE(s, nullptr) << key;
    EXPECT_EQ((*s)->value, v);
  }
  size_t seen = 0;
  for (const auto& [key, sym] : t->by_name) {
    EXPECT_EQ(model.at(key), sym->value);
    seen++;
  }
  EXPECT_EQ(seen, model.size());
  EXPECT_FALSE(t->by_name.contains("absent"));
  EXPECT_THROW(t->by_name.at("absent"), std::out_of_range);
}

TEST_F(HashMapTest, PtrKeysKeepTheirObjectsAndErasedEntriesAreCollected) {
  gc::Root<Tables> t = gc::make<Tables>();
  for (int i = 0; i < 100; i++) {
    gc::Root<Symbol> sym = gc::make<Symbol>(i);  // inserting may allocate
    t->counts[sym] = i;
  }
  gc::collect();
  const int destroyed = g_destroyed.load();
  int erased = 0;
  for (int round = 0; round < 2; round++) {
    gc::Ptr<Symbol> victim;
    for (const auto& [sym, n] : t->counts) {
      if (n % 2 == 0) victim = sym;
    }
    if (victim != nullptr && t->counts.erase(victim)) erased++;
  }
  gc::collect();
  EXPECT_EQ(g_destroyed.load() - destroyed, erased);
  EXPECT_EQ(t->counts.size(), 100u - erased);
  t->counts.clear();
  gc::collect();
  EXPECT_EQ(g_destroyed.load() - destroyed, 100);
}

// Marking beside the program reads a gc::HashMap member while the program
// runs: not deferred, and entries moved between maps meanwhile are kept.
TEST_F(HashMapTest, TheConcurrentMarkerReadsItWithoutDeferring) {
  gc::Root<Tables> a = gc::make<Tables>();
  gc::Root<Tables> b = gc::make<Tables>();
  for (int i = 0; i < 300; i++) {
    gc::Root<Symbol> sym = gc::make<Symbol>(i);
    a->by_name["s" + std::to_string(i)] = sym;
  }
  const int destroyed = g_destroyed.load();
  const uint64_t deferred = gc::stats().deferred_objects;
  gc::testing::CollectWithConcurrentHook([&] {
    for (int i = 0; i < 300; i++) {
      const std::string key = "s" + std::to_string(i);
      gc::Root<Symbol> sym(*a->by_name.find(key));
      b->by_name[key] = sym;
      a->by_name.erase(key);
    }
  });
  EXPECT_EQ(gc::stats().deferred_objects, deferred);
  EXPECT_EQ(g_destroyed.load(), destroyed);
  ASSERT_EQ(b->by_name.size(), 300u);
  for (int i = 0; i < 300; i++) {
    EXPECT_EQ(b->by_name.at("s" + std::to_string(i))->value, i);
  }
}

}  // namespace

namespace {

using StringMap = gc::HashMap<std::string, std::string>;

// Five entries: the sixth insertion grows the table (past 70% of 8).
void FillToTheBrim(StringMap& m) {
  for (int i = 0; i < 5; i++) {
    m.insert_or_assign("key" + std::to_string(i),
                       std::string(40, static_cast<char>('a' + i)));
  }
}

}  // namespace

// A key or value handed to an insertion from the map itself survives the
// growth the insertion causes (growing moves every entry into new arrays;
// the argument was read after the move, and stored empty).
TEST_F(HashMapTest, AnInsertionsArgumentsMayComeFromTheMapItself) {
  gc::Root<StringMap> m = gc::make<StringMap>();
  FillToTheBrim(*m);
  EXPECT_TRUE(m->insert_or_assign("new", m->at("key0")));
  EXPECT_EQ(m->at("new"), std::string(40, 'a'));

  gc::Root<StringMap> k = gc::make<StringMap>();
  FillToTheBrim(*k);
  (*k)["key1"] = "a key that is also a value, long enough to be on the heap";
  const std::string wanted = k->at("key1");
  (*k)[k->at("key1")] = "found";  // the key argument is an entry's value
  EXPECT_EQ(k->size(), 6u);
  ASSERT_TRUE(k->contains(wanted));
  EXPECT_EQ(k->at(wanted), "found");

  gc::Root<StringMap> e = gc::make<StringMap>();
  FillToTheBrim(*e);
  auto [it, inserted] = e->try_emplace("copy", e->at("key4"));
  EXPECT_TRUE(inserted);
  EXPECT_EQ(it->second, std::string(40, 'e'));
}

// The members std::unordered_map has, with its results.
TEST_F(HashMapTest, TheStdMembersBehaveAsStds) {
  gc::Root<StringMap> m =
      gc::make<StringMap>(StringMap{{"one", "1"}, {"two", "2"}});
  EXPECT_EQ(m->size(), 2u);
  EXPECT_EQ(m->count("one"), 1u);
  EXPECT_EQ(m->count("three"), 0u);

  auto [it, inserted] = m->insert({"three", "3"});
  EXPECT_TRUE(inserted);
  EXPECT_EQ(it->first, "three");
  EXPECT_EQ(it->second, "3");
  auto [again, inserted_again] = m->insert({"three", "three"});
  EXPECT_FALSE(inserted_again);
  EXPECT_EQ(again->second, "3") << "insert keeps the value there";
  EXPECT_FALSE(m->emplace("one", "uno").second);
  EXPECT_TRUE(m->try_emplace("four", 4, 'x').second);
  EXPECT_EQ(m->at("four"), "xxxx");

  // Forward iterators: std and ranges algorithms, postfix ++, const.
  EXPECT_EQ(std::distance(m->begin(), m->end()), 4);
  EXPECT_EQ(std::ranges::distance(*m), 4);
  auto found = std::ranges::find_if(
      *m, [](const StringMap::value_type& e) { return e.second == "2"; });
  ASSERT_NE(found, m->end());
  EXPECT_EQ(found->first, "two");
  StringMap::const_iterator c = m->begin();
  StringMap::const_iterator d = c++;
  EXPECT_NE(c, d);
  EXPECT_EQ(m->cbegin(), StringMap::const_iterator(m->begin()));

  // erase by iterator returns the next entry; erasing all that way
  // empties the map.
  size_t erased = 0;
  for (auto i = m->begin(); i != m->end();) {
    i = m->erase(i);
    erased++;
  }
  EXPECT_EQ(erased, 4u);
  EXPECT_TRUE(m->empty());
  EXPECT_EQ(m->erase("one"), 0u);

  StringMap a{{"x", "1"}}, b{{"y", "2"}, {"z", "3"}};
  a.swap(b);
  EXPECT_EQ(a.size(), 2u);
  EXPECT_EQ(b.at("x"), "1");
  swap(a, b);
  EXPECT_EQ(a, (StringMap{{"x", "1"}}));
  EXPECT_NE(a, (StringMap{{"x", "2"}}));
  EXPECT_NE(a, b);
}

// Values and keys that are GC containers themselves: their copies own new
// arrays that nothing else reaches while the copy is made and while the
// table grows. With stack scanning off (as here) copies held in locals
// were reclaimed by the collections growth runs.
namespace {
using Group = gc::Vector<gc::Ptr<Symbol>>;
struct Store {
  gc::HashMap<int64_t, Group> by_key;
  gc::HashMap<int64_t, gc::HashMap<int64_t, Group>> nested;
  Group proto;
};
bool Intact(const Group& g) {
  if (g.size() != 10) return false;
  for (int i = 0; i < 10; i++) {
    if (g[i] == nullptr || g[i]->value != i) return false;
  }
  return true;
}
}  // namespace

TEST_F(HashMapTest, ContainerValuesSurviveTheCollectionsOfTheirCopies) {
  gc::Root<Store> s = gc::make<Store>();
  for (int i = 0; i < 10; i++) s->proto.push_back(gc::make<Symbol>(i));
  gc::set_zeal(1);  // a cycle at every allocation
  for (int64_t k = 0; k < 40; k++) {
    s->by_key.insert_or_assign(k, s->proto);
    s->by_key.try_emplace(k + 100, s->proto);
  }
  s->by_key.insert_or_assign(1000, s->by_key.at(3));  // its own value
  s->by_key.emplace(1001, s->by_key.at(4));
  s->nested[1] = s->by_key;  // a copy assignment of a whole map
  s->nested.insert_or_assign(2, s->nested.at(1));
  gc::set_zeal(0);
  for (int i = 0; i < 5000; i++) gc::make<Symbol>(-1);  // reuse the freed
  gc::collect();
  ASSERT_EQ(s->by_key.size(), 82u);
  for (const auto& [k, g] : s->by_key) EXPECT_TRUE(Intact(g)) << k;
  ASSERT_EQ(s->nested.size(), 2u);
  for (const auto& [n, map] : s->nested) {
    ASSERT_EQ(map.size(), 82u);
    for (const auto& [k, g] : map) EXPECT_TRUE(Intact(g)) << n << " " << k;
  }
}
