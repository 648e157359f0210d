// The heap profile (api/heap_profile.h, gc/heap_profile.h, gc/pprof.h):
// sampled allocation sites, their in-use and allocated figures, and the
// pprof encoding.
#include "gcrt/gc/heap_profile.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <map>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "gcrt/gc.h"
#include "tests/test_support/verified_heap_test.h"

namespace {

struct ProfNode {
  gc::Ptr<ProfNode> next;
  int64_t payload[5] = {};  // 48 bytes in all
};

struct ProfBig {
  gc::Ptr<ProfBig> next;
  char bytes[4000] = {};  // a 4096-byte slot
};

struct ProfHuge {
  char bytes[40 << 10] = {};  // a large object: 5 pages
};

struct ProfTiny {
  int32_t value = 0;  // pointer-free, under 16 bytes: the tiny allocator
};

// Allocation sites. Each test uses its own instantiations (kSite): sites
// live as long as the process, so figures add up across tests. The site
// number goes into the objects, so that no two instantiations have the
// same code (the compiler folds identical functions into one symbol).

// A list of n nodes, each made at this function's gc::make: one site.
template <int kSite>
__attribute__((noinline)) gc::Root<ProfNode> KeptList(int n) {
  gc::Root<ProfNode> head;
  for (int i = 0; i < n; i++) {
    gc::Root<ProfNode> node = gc::make<ProfNode>();
    node->payload[0] = kSite;
    node->next = head;
    head = node;
  }
  return head;
}

template <int kSite>
__attribute__((noinline)) void Garbage(int n) {
  for (int i = 0; i < n; i++) gc::make<ProfNode>()->payload[1] = kSite;
}

template <int kSite>
__attribute__((noinline)) gc::Root<ProfBig> BigList(int n) {
  gc::Root<ProfBig> head;
  for (int i = 0; i < n; i++) {
    gc::Root<ProfBig> b = gc::make<ProfBig>();
    b->bytes[0] = kSite;
    b->next = head;
    head = b;
  }
  return head;
}

template <int kSite>
__attribute__((noinline)) std::vector<gc::Root<ProfHuge>> Huge(int n) {
  std::vector<gc::Root<ProfHuge>> out;
  for (int i = 0; i < n; i++) {
    out.push_back(gc::make<ProfHuge>());
    out.back()->bytes[0] = kSite;
  }
  return out;
}

template <int kSite>
__attribute__((noinline)) std::vector<gc::Root<ProfNode>> Vector(int n) {
  std::vector<gc::Root<ProfNode>> out;
  for (int i = 0; i < n; i++) {
    out.push_back(gc::make<ProfNode>());
    out.back()->payload[2] = kSite;
  }
  return out;
}

template <int kSite>
__attribute__((noinline)) std::vector<gc::Root<ProfTiny>> Tiny(int n) {
  std::vector<gc::Root<ProfTiny>> out;
  for (int i = 0; i < n; i++) {
    out.push_back(gc::make<ProfTiny>());
    out.back()->value = kSite;
  }
  return out;
}

// The site whose innermost function is `name` (as the demangler spells it:
// "(anonymous namespace)::KeptList<1>(int)", so match a substring).
const gc::HeapProfileSite* FindSite(const gc::HeapProfile& p,
                                    const std::string& name) {
  const gc::HeapProfileSite* found = nullptr;
  for (const gc::HeapProfileSite& s : p.sites) {
    if (!s.functions.empty() &&
        s.functions[0].find(name) != std::string::npos) {
      EXPECT_EQ(found, nullptr) << "two sites for " << name;
      found = &s;
    }
  }
  return found;
}

// The figures of every site whose innermost function is `name`: one
// function's allocations from several call sites of it.
gc::HeapProfileSite SumSites(const gc::HeapProfile& p,
                             const std::string& name) {
  gc::HeapProfileSite sum;
  for (const gc::HeapProfileSite& s : p.sites) {
    if (s.functions.empty() || s.functions[0].find(name) == std::string::npos) {
      continue;
    }
    sum.inuse_objects += s.inuse_objects;
    sum.alloc_objects += s.alloc_objects;
    sum.samples += s.samples;
  }
  return sum;
}

std::string Dump(const gc::HeapProfile& p) { return p.text(20); }

class HeapProfileTest : public gc::testing::VerifiedHeapTest {
 protected:
  void SetUp() override {
    stack_scan_ = gc::set_stack_scan(false);
    rate_ = gc::set_mem_profile_rate(1);
    VerifiedHeapTest::SetUp();
  }
  void TearDown() override {
    gc::set_mem_profile_rate(rate_);
    gc::set_stack_scan(stack_scan_);
  }

 private:
  bool stack_scan_ = true;
  uint64_t rate_ = 0;
};

TEST_F(HeapProfileTest, RateOneCountsEverySiteExactly) {
  constexpr int kKept = 1000, kGarbage = 700, kBig = 50;
  gc::Root<ProfNode> kept = KeptList<1>(kKept);
  Garbage<1>(kGarbage);
  gc::Root<ProfBig> big = BigList<1>(kBig);
  gc::collect();
  gc::HeapProfile p = gc::heap_profile();
  EXPECT_EQ(p.rate, 1u);

  const gc::HeapProfileSite* k = FindSite(p, "KeptList<1>");
  ASSERT_NE(k, nullptr) << Dump(p);
  EXPECT_EQ(k->inuse_objects, uint64_t{kKept}) << Dump(p);
  EXPECT_EQ(k->inuse_bytes, uint64_t{kKept} * 48);
  EXPECT_EQ(k->alloc_objects, uint64_t{kKept});
  EXPECT_EQ(k->samples, uint64_t{kKept});
  ASSERT_EQ(k->stack.size(), k->functions.size());

  const gc::HeapProfileSite* g = FindSite(p, "Garbage<1>");
  ASSERT_NE(g, nullptr) << Dump(p);
  EXPECT_EQ(g->inuse_objects, 0u);
  EXPECT_EQ(g->inuse_bytes, 0u);
  EXPECT_EQ(g->alloc_objects, uint64_t{kGarbage});
  EXPECT_EQ(g->alloc_bytes, uint64_t{kGarbage} * 48);

  const gc::HeapProfileSite* b = FindSite(p, "BigList<1>");
  ASSERT_NE(b, nullptr) << Dump(p);
  EXPECT_EQ(b->inuse_objects, uint64_t{kBig});
  EXPECT_EQ(b->inuse_bytes, uint64_t{kBig} * 4096);

  // Dropped, and found dead by the next cycle.
  kept = nullptr;
  gc::collect();
  p = gc::heap_profile();
  k = FindSite(p, "KeptList<1>");
  ASSERT_NE(k, nullptr);
  EXPECT_EQ(k->inuse_objects, 0u);
  EXPECT_EQ(k->alloc_objects, uint64_t{kKept});
}

TEST_F(HeapProfileTest, ShowsTheHeapAsOfTheLastCycle) {
  gc::Root<ProfNode> kept = KeptList<2>(100);
  // No cycle has judged them yet: not published.
  EXPECT_EQ(FindSite(gc::heap_profile(), "KeptList<2>"), nullptr);
  gc::collect();
  gc::HeapProfile p = gc::heap_profile();
  const gc::HeapProfileSite* k = FindSite(p, "KeptList<2>");
  ASSERT_NE(k, nullptr) << Dump(p);
  EXPECT_EQ(k->inuse_objects, 100u);
}

TEST_F(HeapProfileTest, LargeObjectsAreSampledWhole) {
  auto huge = Huge<3>(20);
  gc::collect();
  gc::HeapProfile p = gc::heap_profile();
  const gc::HeapProfileSite* h = FindSite(p, "Huge<3>");
  ASSERT_NE(h, nullptr) << Dump(p);
  EXPECT_EQ(h->inuse_objects, 20u);
  EXPECT_EQ(h->inuse_bytes, 20u * (40u << 10));
}

TEST_F(HeapProfileTest, ExplicitFreesNeverOutrunTheirAllocations) {
  auto objs = Vector<4>(100);
  for (int i = 0; i < 40; i++) {
    gc::free(objs[i]);
    objs[i] = nullptr;
  }
  gc::collect();
  gc::HeapProfile p = gc::heap_profile();
  const gc::HeapProfileSite* f = FindSite(p, "Vector<4>");
  ASSERT_NE(f, nullptr) << Dump(p);
  EXPECT_EQ(f->alloc_objects, 100u);
  EXPECT_EQ(f->inuse_objects, 60u);
  EXPECT_EQ(gc::internal::ProfileSpecialCount() >= 60, true);
}

TEST_F(HeapProfileTest, TinyObjectsAreSampledByTheirBlock) {
  constexpr int kTiny = 1000;
  auto tiny = Tiny<5>(kTiny);
  gc::collect();
  gc::HeapProfile p = gc::heap_profile();
  const gc::HeapProfileSite* t = FindSite(p, "Tiny<5>");
  ASSERT_NE(t, nullptr) << Dump(p);
  // 4-byte objects, four to a 16-byte block: one sample per block.
  EXPECT_EQ(t->inuse_bytes % 16, 0u);
  EXPECT_GE(t->inuse_objects, uint64_t{kTiny} / 4);
  EXPECT_LE(t->inuse_objects, uint64_t{kTiny} / 4 + 2);
}

TEST_F(HeapProfileTest, RateZeroSamplesNothing) {
  gc::set_mem_profile_rate(0);
  gc::Root<ProfNode> kept = KeptList<6>(500);
  gc::collect();
  EXPECT_EQ(FindSite(gc::heap_profile(), "KeptList<6>"), nullptr);
}

// Each sample keeps the rate it was taken at: changing the rate (or
// turning sampling off) leaves the estimates of earlier samples as they
// were. They were rescaled at the new rate: 1001 nodes sampled at rate 1
// read as 21 million objects once the rate was 512 KiB.
TEST_F(HeapProfileTest, ChangingTheRateKeepsEarlierEstimates) {
  constexpr int kKept = 1001;
  gc::Root<ProfNode> kept = KeptList<20>(kKept);
  gc::collect();
  gc::set_mem_profile_rate(512 << 10);
  gc::HeapProfile p = gc::heap_profile();
  EXPECT_EQ(p.rate, 512u << 10);
  const gc::HeapProfileSite* k = FindSite(p, "KeptList<20>");
  ASSERT_NE(k, nullptr) << Dump(p);
  EXPECT_EQ(k->inuse_objects, uint64_t{kKept}) << Dump(p);
  EXPECT_EQ(k->inuse_bytes, uint64_t{kKept} * 48);
  gc::set_mem_profile_rate(0);
  kept = nullptr;
  gc::collect();
  p = gc::heap_profile();
  k = FindSite(p, "KeptList<20>");
  ASSERT_NE(k, nullptr) << Dump(p);
  EXPECT_EQ(k->inuse_objects, 0u);
  EXPECT_EQ(k->alloc_objects, uint64_t{kKept});
  EXPECT_EQ(k->alloc_bytes, uint64_t{kKept} * 48);
}

TEST_F(HeapProfileTest, EstimatesAreWithinSamplingError) {
  // 16 KiB between samples on average: about 1,900 samples of the 30 MiB
  // of small nodes (a relative standard error of 1/sqrt(1900), 2.3%) and
  // 850 of the 3,840 objects of 4 KiB (each sampled with probability
  // 1 - e^(-1/4); 3.4%). 25% is over 7 of them. (At 64 KiB, 233 samples
  // of the 4 KiB objects, a CTest run once read them 25.5% high.)
  gc::set_mem_profile_rate(16 << 10);
  constexpr int kNodes = (30 << 20) / 48, kBig = (15 << 20) / 4096;
  gc::Root<ProfNode> kept = KeptList<7>(kNodes);
  gc::Root<ProfBig> big = BigList<7>(kBig);
  gc::collect();
  gc::HeapProfile p = gc::heap_profile();
  EXPECT_EQ(p.rate, 16u << 10);
  const gc::HeapProfileSite* k = FindSite(p, "KeptList<7>");
  const gc::HeapProfileSite* b = FindSite(p, "BigList<7>");
  ASSERT_NE(k, nullptr) << Dump(p);
  ASSERT_NE(b, nullptr) << Dump(p);
  EXPECT_NEAR(static_cast<double>(k->inuse_bytes), kNodes * 48.0,
              0.25 * kNodes * 48.0)
      << Dump(p);
  EXPECT_NEAR(static_cast<double>(b->inuse_bytes), kBig * 4096.0,
              0.25 * kBig * 4096.0)
      << Dump(p);
  EXPECT_LT(k->samples, static_cast<uint64_t>(kNodes) / 100);
}

TEST_F(HeapProfileTest, ThreadsSampleIntoOneSite) {
  constexpr int kThreads = 4, kEach = 2000;
  std::vector<gc::Root<ProfNode>> lists(kThreads);
  std::vector<gc::Thread> threads;
  for (int t = 0; t < kThreads; t++) {
    threads.emplace_back([&lists, t] {
      lists[t] = KeptList<8>(kEach);
      KeptList<8>(kEach);  // garbage
    });
  }
  for (gc::Thread& t : threads) t.join();
  gc::collect();
  // Two sites (the kept list's call and the garbage's), whatever thread.
  gc::HeapProfile p = gc::heap_profile();
  const gc::HeapProfileSite s = SumSites(p, "KeptList<8>");
  EXPECT_EQ(s.inuse_objects, uint64_t{kThreads} * kEach) << Dump(p);
  EXPECT_EQ(s.alloc_objects, uint64_t{kThreads} * kEach * 2) << Dump(p);
}

// A minimal protocol buffer reader: enough of profile.proto to check what
// the encoder wrote.
struct Field {
  int number;
  int wire;
  uint64_t varint = 0;
  std::string bytes;
};

uint64_t ReadVarint(const std::string& s, size_t* i) {
  uint64_t v = 0;
  for (int shift = 0; *i < s.size(); shift += 7) {
    const auto b = static_cast<uint8_t>(s[(*i)++]);
    v |= uint64_t{b & 0x7fu} << shift;
    if ((b & 0x80) == 0) return v;
  }
  ADD_FAILURE() << "truncated varint";
  return v;
}

std::vector<Field> Parse(const std::string& s) {
  std::vector<Field> out;
  size_t i = 0;
  while (i < s.size()) {
    const uint64_t key = ReadVarint(s, &i);
    Field f{static_cast<int>(key >> 3), static_cast<int>(key & 7)};
    if (f.wire == 0) {
      f.varint = ReadVarint(s, &i);
    } else if (f.wire == 2) {
      const uint64_t n = ReadVarint(s, &i);
      EXPECT_LE(i + n, s.size());
      f.bytes = s.substr(i, n);
      i += n;
    } else {
      ADD_FAILURE() << "unexpected wire type " << f.wire;
      return out;
    }
    out.push_back(f);
  }
  return out;
}

std::vector<uint64_t> Packed(const std::string& s) {
  std::vector<uint64_t> out;
  size_t i = 0;
  while (i < s.size()) out.push_back(ReadVarint(s, &i));
  return out;
}

TEST_F(HeapProfileTest, PprofEncodingCarriesTheSitesFigures) {
  gc::Root<ProfNode> kept = KeptList<9>(300);
  gc::collect();
  gc::HeapProfile p = gc::heap_profile();
  const gc::HeapProfileSite* k = FindSite(p, "KeptList<9>");
  ASSERT_NE(k, nullptr);
  std::ostringstream out;
  gc::write_heap_profile(out);
  const std::vector<Field> fields = Parse(out.str());

  std::vector<std::string> strings;
  std::vector<std::string> sample_types;  // raw ValueType messages
  std::vector<std::vector<uint64_t>> sample_values;
  std::map<uint64_t, uint64_t> location_function;  // location id -> fn id
  std::map<uint64_t, uint64_t> function_name;      // fn id -> string index
  std::vector<std::vector<uint64_t>> sample_locations;
  uint64_t period = 0;
  int mappings = 0;
  for (const Field& f : fields) {
    switch (f.number) {
      case 1:
        sample_types.push_back(f.bytes);
        break;
      case 2: {
        std::vector<uint64_t> locs, values;
        for (const Field& g : Parse(f.bytes)) {
          if (g.number == 1) locs = Packed(g.bytes);
          if (g.number == 2) values = Packed(g.bytes);
        }
        sample_locations.push_back(locs);
        sample_values.push_back(values);
        break;
      }
      case 3:
        mappings++;
        break;
      case 4: {
        uint64_t id = 0, fn = 0;
        for (const Field& g : Parse(f.bytes)) {
          if (g.number == 1) id = g.varint;
          if (g.number == 4) {
            for (const Field& h : Parse(g.bytes)) {
              if (h.number == 1) fn = h.varint;
            }
          }
        }
        location_function[id] = fn;
        break;
      }
      case 5: {
        uint64_t id = 0, name = 0;
        for (const Field& g : Parse(f.bytes)) {
          if (g.number == 1) id = g.varint;
          if (g.number == 2) name = g.varint;
        }
        function_name[id] = name;
        break;
      }
      case 6:
        strings.push_back(f.bytes);
        break;
      case 12:
        period = f.varint;
        break;
    }
  }
  ASSERT_FALSE(strings.empty());
  EXPECT_EQ(strings[0], "");
  EXPECT_EQ(period, 1u);
  EXPECT_GT(mappings, 0);
  ASSERT_EQ(sample_types.size(), 4u);
  std::vector<std::string> type_names;
  for (const std::string& vt : sample_types) {
    for (const Field& g : Parse(vt)) {
      if (g.number == 1) type_names.push_back(strings.at(g.varint));
    }
  }
  EXPECT_EQ(type_names,
            (std::vector<std::string>{"alloc_objects", "alloc_space",
                                      "inuse_objects", "inuse_space"}));
  // The sample whose first location is the kept list's function carries
  // its figures.
  int matched = 0;
  for (size_t i = 0; i < sample_locations.size(); i++) {
    ASSERT_FALSE(sample_locations[i].empty());
    const uint64_t fn = location_function[sample_locations[i][0]];
    if (fn == 0) continue;
    const std::string& name = strings.at(function_name.at(fn));
    if (name.find("KeptList<9>") == std::string::npos) continue;
    matched++;
    EXPECT_EQ(sample_values[i],
              (std::vector<uint64_t>{k->alloc_objects, k->alloc_bytes,
                                     k->inuse_objects, k->inuse_bytes}));
  }
  EXPECT_EQ(matched, 1);
}

TEST_F(HeapProfileTest, WriteToAnUnwritablePathThrowsNamingIt) {
  try {
    gc::write_heap_profile(std::string("/nonexistent-dir/heap.pprof"));
    FAIL() << "no exception";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("/nonexistent-dir/heap.pprof"),
              std::string::npos)
        << e.what();
  }
}

TEST(HeapProfileRateTest, ARatePast2To40IsRefusedAndChangesNothing) {
  const uint64_t before = gc::set_mem_profile_rate(4096);
  EXPECT_THROW(gc::set_mem_profile_rate(UINT64_MAX), std::invalid_argument);
  EXPECT_THROW(gc::set_mem_profile_rate((uint64_t{1} << 40) + 1),
               std::invalid_argument);
  EXPECT_EQ(gc::set_mem_profile_rate(uint64_t{1} << 40), 4096u);
  gc::set_mem_profile_rate(before);
}

}  // namespace
