// gc::HashMap (api/hash_map.h): std::unordered_map's core over gc::Arrays,
// and a member the concurrent marker reads while the program runs. The
// suites run with stack scanning off (.bazelrc): only handles and the heap
// keep objects here.
#include <gtest/gtest.h>

#include <atomic>
#include <cstdint>
#include <map>
#include <random>
#include <stdexcept>
#include <string>
#include <utility>

#include "gcrt/gc.h"
#include "tests/test_support/collector_hooks.h"
#include "tests/test_support/verified_heap_test.h"

namespace {

std::atomic<int> g_destroyed{0};

struct Symbol {
  using gc_pointer_free = void;
  explicit Symbol(int64_t v) : value(v) {}
  ~Symbol() { g_destroyed.fetch_add(1, std::memory_order_relaxed); }
  int64_t value;
};

struct Tables {
  gc::HashMap<std::string, gc::Ptr<Symbol>> by_name;
  gc::HashMap<gc::Ptr<Symbol>, int64_t> counts;  // a gc::Ptr key
};

class HashMapTest : public gc::testing::VerifiedHeapTest {};

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
