// Specials (alloc/special.h): per-object records on a span, sorted by
// (offset, kind), added and removed under the span's lock, handed back to
// their owner when the object is freed explicitly.
#include "gcrt/alloc/special.h"

#include <algorithm>
#include <atomic>
#include <stdexcept>
#include <thread>
#include <vector>

#include "gcrt/alloc/heap.h"
#include "gtest/gtest.h"

namespace gc::alloc {
namespace {

constexpr TypeInfo kObj = {"Obj", 32, 8, false, nullptr, nullptr, 0, nullptr};

std::atomic<int> g_released{0};

void CountReleased(Special* list) {
  for (Special* s = list; s != nullptr;) {
    Special* next = s->next;
    g_released++;
    delete s;
    s = next;
  }
}

class SpecialTest : public ::testing::Test {
 protected:
  void SetUp() override { SetSpecialFreeHook(&CountReleased); }
};

std::vector<std::pair<uint32_t, SpecialKind>> ListOf(Span* s) {
  std::vector<std::pair<uint32_t, SpecialKind>> out;
  for (Special* p = s->specials.load(); p != nullptr; p = p->next) {
    out.emplace_back(p->offset, p->kind);
  }
  return out;
}

TEST_F(SpecialTest, ListStaysSortedByOffsetThenKindAndRejectsDuplicates) {
  std::vector<void*> objs;
  for (int i = 0; i < 8; i++) objs.push_back(Allocate(&kObj, 32));
  Span* span = SpanOf(objs[0]);
  std::vector<void*> same;
  for (void* o : objs) {
    if (SpanOf(o) == span) same.push_back(o);
  }
  ASSERT_GE(same.size(), 3u);
  // Add in scrambled order.
  for (int i : {2, 0, 1}) {
    for (SpecialKind k : {SpecialKind::kWeakHandle, SpecialKind::kFinalizer}) {
      auto* s = new Special;
      s->kind = k;
      ASSERT_TRUE(AddSpecial(span, reinterpret_cast<uintptr_t>(same[i]), s));
    }
  }
  auto* dup = new Special;
  dup->kind = SpecialKind::kFinalizer;
  EXPECT_FALSE(AddSpecial(span, reinterpret_cast<uintptr_t>(same[1]), dup));
  delete dup;
  auto list = ListOf(span);
  ASSERT_EQ(list.size(), 6u);
  EXPECT_TRUE(std::is_sorted(list.begin(), list.end()));

  Special* w = RemoveSpecial(span, reinterpret_cast<uintptr_t>(same[1]),
                             SpecialKind::kWeakHandle);
  ASSERT_NE(w, nullptr);
  EXPECT_EQ(w->kind, SpecialKind::kWeakHandle);
  delete w;
  EXPECT_EQ(RemoveSpecial(span, reinterpret_cast<uintptr_t>(same[1]),
                          SpecialKind::kWeakHandle),
            nullptr);
  EXPECT_EQ(ListOf(span).size(), 5u);

  // Freeing an object hands all of its specials (and only its) back.
  int before = g_released.load();
  Free(same[0]);
  EXPECT_EQ(g_released.load() - before, 2);
  Free(same[2]);
  EXPECT_EQ(g_released.load() - before, 4);
  EXPECT_EQ(ListOf(span).size(), 1u);
  Free(same[1]);
  EXPECT_EQ(ListOf(span).size(), 0u);
  for (void* o : objs) {
    if (std::find(same.begin(), same.begin() + 3, o) == same.begin() + 3) {
      Free(o);
    }
  }
}

TEST_F(SpecialTest, RejectsPointersThatAreNotObjectStarts) {
  void* o = Allocate(&kObj, 32);
  Span* span = SpanOf(o);
  Special s;
  EXPECT_THROW(AddSpecial(span, reinterpret_cast<uintptr_t>(o) + 8, &s),
               std::invalid_argument);
  EXPECT_THROW(AddSpecial(span, span->limit() + 64, &s), std::invalid_argument);
  EXPECT_EQ(span->specials.load(), nullptr);
  Free(o);
}

TEST_F(SpecialTest, LargeObjectsSpecialsComeBackWhenFreed) {
  void* big = Allocate(&kObj, 1 << 20);
  auto* s = new Special;
  ASSERT_TRUE(AddSpecial(SpanOf(big), reinterpret_cast<uintptr_t>(big), s));
  int before = g_released.load();
  Free(big);
  EXPECT_EQ(g_released.load() - before, 1);
}

TEST_F(SpecialTest, ConcurrentAddsAndRemovesOnOneSpanKeepTheListSorted) {
  // One span's worth of objects, shared by 4 threads.
  std::vector<void*> objs;
  Span* span = nullptr;
  while (objs.size() < 64) {
    void* o = Allocate(&kObj, 32);
    if (span == nullptr) span = SpanOf(o);
    if (SpanOf(o) == span) {
      objs.push_back(o);
    } else {
      Free(o);
    }
  }
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; t++) {
    threads.emplace_back([&, t] {
      for (int round = 0; round < 200; round++) {
        for (size_t i = t; i < objs.size(); i += 4) {
          auto* s = new Special;
          s->kind =
              round % 2 ? SpecialKind::kFinalizer : SpecialKind::kWeakHandle;
          uintptr_t p = reinterpret_cast<uintptr_t>(objs[i]);
          ASSERT_TRUE(AddSpecial(span, p, s));
          Special* r = RemoveSpecial(span, p, s->kind);
          ASSERT_EQ(r, s);
          delete r;
        }
      }
      for (size_t i = t; i < objs.size(); i += 4) {
        auto* s = new Special;
        s->kind = SpecialKind::kFinalizer;
        ASSERT_TRUE(AddSpecial(span, reinterpret_cast<uintptr_t>(objs[i]), s));
      }
    });
  }
  for (auto& th : threads) th.join();
  auto list = ListOf(span);
  EXPECT_EQ(list.size(), objs.size());
  EXPECT_TRUE(std::is_sorted(list.begin(), list.end()));
  int before = g_released.load();
  for (void* o : objs) Free(o);
  EXPECT_EQ(g_released.load() - before, static_cast<int>(objs.size()));
}

}  // namespace
}  // namespace gc::alloc
