// Tests of the per-span type table (alloc/type_table.h): every compression
// transition keeps the type of every recorded slot, checked against a shadow
// array after each Record; and, through the heap, TypeOf reports each
// object's own type when many types share one span.
#include "gcrt/alloc/type_table.h"

#include <algorithm>
#include <map>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "gcrt/alloc/heap.h"
#include "gtest/gtest.h"

#if GCRT_ASAN
#include <sanitizer/lsan_interface.h>
#endif

namespace gc::alloc {
namespace {

constexpr int kNumTypes = 12;

// kNumTypes distinct TypeInfos of one size (48 bytes: one size class).
struct TypeSet {
  TypeInfo types[kNumTypes];
  constexpr TypeSet() : types() {
    const char* names[kNumTypes] = {"T0", "T1", "T2", "T3", "T4",  "T5",
                                    "T6", "T7", "T8", "T9", "T10", "T11"};
    for (int i = 0; i < kNumTypes; i++) {
      types[i] = TypeInfo{names[i], 48, 8, false, nullptr, nullptr, 0, nullptr};
    }
  }
};
constexpr TypeSet kTypeSet;
const TypeInfo* Type(int i) { return &kTypeSet.types[i]; }

// A TypeTable that frees its table on scope exit (TypeTable has no
// destructor: spans call Reset).
struct ScopedTable {
  TypeTable t;
  ~ScopedTable() { t.Reset(); }
};

// The table and a shadow of what every recorded slot must say.
class Shadowed {
 public:
  explicit Shadowed(uint32_t nelems) : nelems_(nelems), shadow_(nelems) {}
  ~Shadowed() { table_.t.Reset(); }

  void Record(uint32_t slot, const TypeInfo* type) {
    table_.t.Record(slot, nelems_, type);
    shadow_[slot] = type;
    distinct_.insert(type);
  }

  // Every recorded slot reads back its type, and the compression is the one
  // the number of distinct types recorded since the last reset calls for.
  ::testing::AssertionResult Check() const {
    for (uint32_t i = 0; i < nelems_; i++) {
      if (shadow_[i] != nullptr && table_.t.Get(i) != shadow_[i]) {
        return ::testing::AssertionFailure()
               << "slot " << i << " of " << nelems_ << " reads "
               << (table_.t.Get(i) ? table_.t.Get(i)->name : "null")
               << ", recorded " << shadow_[i]->name;
      }
    }
    size_t n = distinct_.size();
    TypeCompression want = n == 0   ? TypeCompression::kEmpty
                           : n == 1 ? TypeCompression::kSingle
                           : n <= 7 ? TypeCompression::kBytes
                                    : TypeCompression::kWords;
    if (table_.t.compression() != want) {
      return ::testing::AssertionFailure()
             << "compression " << static_cast<int>(table_.t.compression())
             << " with " << n << " distinct types, want "
             << static_cast<int>(want);
    }
    if (want == TypeCompression::kBytes &&
        table_.t.BytesTypeCountForTesting() != static_cast<int>(n)) {
      return ::testing::AssertionFailure()
             << "BytesTypeCountForTesting "
             << table_.t.BytesTypeCountForTesting() << ", want " << n;
    }
    if (want == TypeCompression::kSingle &&
        table_.t.single() != *distinct_.begin()) {
      return ::testing::AssertionFailure() << "single() is not the one type";
    }
    if (want != TypeCompression::kSingle && table_.t.single() != nullptr) {
      return ::testing::AssertionFailure()
             << "single() is not null without kSingle";
    }
    return ::testing::AssertionSuccess();
  }

  void Reset() {
    table_.t.Reset();
    std::fill(shadow_.begin(), shadow_.end(), nullptr);
    distinct_.clear();
  }
  const TypeTable& table() const { return table_.t; }

 private:
  uint32_t nelems_;
  ScopedTable table_;
  std::vector<const TypeInfo*> shadow_;
  std::set<const TypeInfo*> distinct_;
};

TEST(TypeTableTest, NewTableIsEmptyAndKnowsNoType) {
  ScopedTable s;
  EXPECT_EQ(s.t.compression(), TypeCompression::kEmpty);
  EXPECT_EQ(s.t.single(), nullptr);
  EXPECT_EQ(s.t.Get(0), nullptr);
  EXPECT_EQ(s.t.Get(100), nullptr);
  EXPECT_EQ(s.t.BytesTypeCountForTesting(), 0);
}

TEST(TypeTableTest, OneTypeStaysSingleHoweverOftenItIsRecorded) {
  ScopedTable s;
  s.t.Record(3, 64, Type(0));
  EXPECT_EQ(s.t.compression(), TypeCompression::kSingle);
  EXPECT_EQ(s.t.single(), Type(0));
  for (uint32_t i = 0; i < 64; i++) s.t.Record(i, 64, Type(0));
  EXPECT_EQ(s.t.compression(), TypeCompression::kSingle);
  EXPECT_EQ(s.t.single(), Type(0));
  EXPECT_EQ(s.t.Get(3), Type(0));
  EXPECT_EQ(s.t.Get(63), Type(0));
  EXPECT_EQ(s.t.BytesTypeCountForTesting(), 0);
}

TEST(TypeTableTest, EachNewTypeMovesSingleToBytesToWordsKeepingEverySlot) {
  constexpr uint32_t kElems = 64;
  Shadowed s(kElems);
  // Slot i gets type i % k for a growing k; the 8th type forces kWords.
  for (int k = 1; k <= 9; k++) {
    SCOPED_TRACE("types so far: " + std::to_string(k));
    for (uint32_t slot = static_cast<uint32_t>(k - 1); slot < kElems;
         slot += 9) {
      s.Record(slot, Type(k - 1));
      ASSERT_TRUE(s.Check());
    }
    if (k == 1) {
      EXPECT_EQ(s.table().compression(), TypeCompression::kSingle);
    }
    if (k >= 2 && k <= 7) {
      EXPECT_EQ(s.table().compression(), TypeCompression::kBytes);
      EXPECT_EQ(s.table().BytesTypeCountForTesting(), k);
    }
    if (k >= 8) {
      EXPECT_EQ(s.table().compression(), TypeCompression::kWords);
    }
  }
}

TEST(TypeTableTest, RecordingAKnownTypeInBytesAddsNoEntry) {
  Shadowed s(16);
  s.Record(0, Type(0));
  s.Record(1, Type(1));
  s.Record(2, Type(2));
  ASSERT_EQ(s.table().BytesTypeCountForTesting(), 3);
  // Overwrite slots with types already in the header.
  s.Record(0, Type(2));
  s.Record(5, Type(1));
  s.Record(1, Type(0));
  EXPECT_EQ(s.table().BytesTypeCountForTesting(), 3);
  EXPECT_TRUE(s.Check());
}

TEST(TypeTableTest, SlotsRecordedBeforeTheSecondTypeKeepTheFirst) {
  // kSingle -> kBytes: every earlier slot must still read the first type,
  // including the last slot of the span.
  Shadowed s(512);
  for (uint32_t i = 0; i < 512; i += 3) s.Record(i, Type(4));
  s.Record(511, Type(4));
  s.Record(1, Type(5));
  EXPECT_TRUE(s.Check());
  EXPECT_EQ(s.table().Get(511), Type(4));
  EXPECT_EQ(s.table().Get(1), Type(5));
}

TEST(TypeTableTest, RandomRecordSequencesKeepEverySlotsType) {
  for (uint32_t nelems : {1u, 64u, 512u, 1024u}) {
    // How many distinct types a sequence draws from: stays Single, stays
    // in Bytes, just fills Bytes, goes to Words.
    for (int pool : {1, 3, 7, 8, kNumTypes}) {
      for (uint32_t seed = 1; seed <= 3; seed++) {
        SCOPED_TRACE("nelems " + std::to_string(nelems) + " pool " +
                     std::to_string(pool) + " seed " + std::to_string(seed));
        std::mt19937 rng(seed * 7919 + nelems + pool);
        Shadowed s(nelems);
        int records = std::min<int>(static_cast<int>(nelems) * 2, 600);
        records = std::max(records, 40);
        for (int i = 0; i < records; i++) {
          uint32_t slot = rng() % nelems;
          s.Record(slot, Type(static_cast<int>(rng() % pool)));
          ASSERT_TRUE(s.Check()) << "after record " << i;
        }
        // Reset returns to kEmpty; the table is reusable.
        s.Reset();
        ASSERT_EQ(s.table().compression(), TypeCompression::kEmpty);
        ASSERT_EQ(s.table().Get(0), nullptr);
        ASSERT_EQ(s.table().Get(nelems - 1), nullptr);
        s.Record(nelems - 1, Type(pool - 1));
        ASSERT_TRUE(s.Check());
      }
    }
  }
}

TEST(TypeTableTest, ResetFromEveryCompressionReturnsToEmpty) {
  for (int types : {1, 2, 7, 8, 10}) {
    SCOPED_TRACE("types " + std::to_string(types));
    ScopedTable s;
    for (int i = 0; i < types; i++) {
      s.t.Record(static_cast<uint32_t>(i), 64, Type(i));
    }
    EXPECT_NE(s.t.compression(), TypeCompression::kEmpty);
    EXPECT_EQ(s.t.Get(0), Type(0));
    s.t.Reset();
    EXPECT_EQ(s.t.compression(), TypeCompression::kEmpty);
    EXPECT_EQ(s.t.single(), nullptr);
    for (uint32_t i = 0; i < 64; i++) EXPECT_EQ(s.t.Get(i), nullptr);
    EXPECT_EQ(s.t.BytesTypeCountForTesting(), 0);
    // Reusable after the reset, starting from Single again.
    s.t.Record(5, 64, Type(9));
    EXPECT_EQ(s.t.compression(), TypeCompression::kSingle);
    EXPECT_EQ(s.t.Get(5), Type(9));
  }
}

// ---- Through the heap. ----

constexpr int kHeapTypes = 9;  // one more than kBytes holds

// The compression a span must have once it has held `n` distinct types
// since it was created (types are only ever added until the span is freed).
TypeCompression AtLeast(size_t n) {
  return n <= 1   ? TypeCompression::kSingle
         : n <= 7 ? TypeCompression::kBytes
                  : TypeCompression::kWords;
}

TEST(TypeTableHeapTest, NineTypesInOneSizeClassEachReadBackTheirOwnType) {
  constexpr int kRounds = 40;
  std::vector<std::pair<void*, const TypeInfo*>> objects;
  std::map<Span*, std::set<const TypeInfo*>> span_types;
  for (int r = 0; r < kRounds; r++) {
    for (int k = 0; k < kHeapTypes; k++) {
      const TypeInfo* type = Type(k);
      // Alternate the two typed entry points.
      void* p = (r % 2 == 0) ? Allocate(type, type->size)
                             : AllocateFixed<48, 8, false, true>(type);
      ASSERT_NE(p, nullptr);
      ASSERT_EQ(TypeOf(p), type) << "round " << r << " type " << k;
      objects.emplace_back(p, type);
      span_types[SpanOf(p)].insert(type);
    }
  }
  // All of one size class: the same span class throughout.
  SpanClass sc = SpanOf(objects[0].first)->span_class;
  bool saw_words = false;
  for (auto& [span, types] : span_types) {
    EXPECT_EQ(span->span_class, sc);
    // A span that got all nine types cannot be in kBytes any more.
    if (types.size() >= 8) {
      EXPECT_EQ(span->types.compression(), TypeCompression::kWords);
      saw_words = true;
    } else {
      EXPECT_GE(static_cast<int>(span->types.compression()),
                static_cast<int>(AtLeast(types.size())));
    }
  }
  EXPECT_TRUE(saw_words) << "no span held eight types";
  // Every object still reads its own type after all the transitions...
  for (auto& [p, type] : objects) ASSERT_EQ(TypeOf(p), type);
  // ... and after the cache gives the spans back (no cache holds them).
  FlushCurrentCache();
  for (auto& [p, type] : objects) ASSERT_EQ(TypeOf(p), type);
  for (auto& [p, type] : objects) Free(p);
}

TEST(TypeTableHeapTest, AReallocatedSlotReportsItsNewType) {
  // Owned free then allocate: the slot comes straight back, with a new type.
  void* keep = Allocate(Type(0), 48);
  void* p = Allocate(Type(1), 48);
  ASSERT_EQ(TypeOf(p), Type(1));
  Free(p);
  EXPECT_EQ(TypeOf(p), nullptr) << "a free slot has no type";
  void* q = Allocate(Type(2), 48);
  ASSERT_EQ(q, p) << "the freed slot was not reused at once";
  EXPECT_EQ(TypeOf(q), Type(2));
  EXPECT_EQ(TypeOf(keep), Type(0));
  Free(q);
  Free(keep);
}

TEST(TypeTableHeapTest, TypeOfAPointerIntoASpansTailIsNull) {
  // Class 144 bytes: 56 slots in 8192 bytes, 128 bytes of tail waste. The
  // address just past the last slot is slot 56 by division, but no object
  // starts there, so TypeOf must say null (and read nothing past the
  // table's 56 entries).
  constexpr TypeInfo kT144 = {"T144",  144,     16, false,
                              nullptr, nullptr, 0,  nullptr};
  void* p = Allocate(&kT144, 144);
  Span* s = SpanOf(p);
  ASSERT_NE(s, nullptr);
  ASSERT_EQ(s->elem_size, 144u);
  ASSERT_LT(uint64_t{s->nelems} * s->elem_size,
            uint64_t{s->npages} * kPageSize);
  void* tail =
      reinterpret_cast<void*>(s->base + uintptr_t{s->nelems} * s->elem_size);
  EXPECT_EQ(TypeOf(tail), nullptr);
  Free(p);
}

#if GCRT_ASAN
TEST(TypeTableHeapTest, ALiveSpansTablesAreNoLeak) {
  // Span records live in gcrt's own mappings, which LeakSanitizer does not
  // scan unless told to (os::ScanForLeaks): the malloc'd table of a live
  // span with several types must not be reported as leaked (it once was,
  // at the exit of a test that kept such spans).
  std::vector<void*> live;
  for (int r = 0; r < 4; r++) {
    for (int k = 0; k < kHeapTypes; k++) live.push_back(Allocate(Type(k), 48));
  }
  ASSERT_EQ(SpanOf(live[0])->types.compression(), TypeCompression::kWords);
  FlushCurrentCache();  // the spans' only references are their records now
  EXPECT_EQ(__lsan_do_recoverable_leak_check(), 0)
      << "LeakSanitizer reported a live span's type table as leaked";
  for (void* p : live) Free(p);
}
#endif

}  // namespace
}  // namespace gc::alloc
