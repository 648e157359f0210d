// gc::census() (api/census.h, gc/census.h): the heap's objects by type.
#include <gtest/gtest.h>
#include <unistd.h>

#include <atomic>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "gcrt/gc.h"
#include "tests/test_support/stderr_capture.h"
#include "tests/test_support/verified_heap_test.h"

namespace {

struct CensusNode {
  gc::Ptr<CensusNode> next;
  int64_t payload[2] = {};
};

struct CensusBlob {
  char bytes[40] = {};
};

struct CensusGarbage {
  gc::Ptr<CensusGarbage> next;
};

struct CensusLarge {
  char bytes[100 << 10] = {};
};

// The entry whose type name ends with `suffix` (compilers spell the
// anonymous namespace differently).
const gc::CensusEntry* Find(const gc::Census& c, const std::string& suffix) {
  for (const gc::CensusEntry& e : c.types) {
    if (e.type.ends_with(suffix)) return &e;
  }
  return nullptr;
}

// Counts are exact only for what registered roots keep: a stale stack copy
// of a dropped handle (a conservative scan's retention) would keep garbage.
class CensusTest : public gc::testing::VerifierCheckedTest {
 protected:
  void SetUp() override {
    stack_scan_ = gc::set_stack_scan(false);
    VerifierCheckedTest::SetUp();
  }
  void TearDown() override {
    VerifierCheckedTest::TearDown();
    gc::set_stack_scan(stack_scan_);
  }

 private:
  bool stack_scan_ = true;
};

// The debug quarantine keeps reclaimed objects' slots a cycle more: they
// are dead (destroyed), and the census does not count them.
TEST_F(CensusTest, ObjectsInTheQuarantineAreNotCounted) {
  const bool was = gc::set_quarantine(true);
  gc::collect();
  gc::collect();  // nothing quarantined from before
  gc::Root<CensusGarbage> kept = gc::make<CensusGarbage>();
  for (int i = 0; i < 1000; i++) gc::make<CensusGarbage>();  // dropped
  gc::collect();  // reclaims the 1000: in the quarantine now
  const gc::Census c = gc::census();
  gc::set_quarantine(was);
  gc::collect();
  gc::collect();  // the quarantine empties
  const gc::CensusEntry* garbage = Find(c, "CensusGarbage");
  ASSERT_NE(garbage, nullptr) << c.text();
  EXPECT_EQ(garbage->objects, 1u) << c.text();
}

TEST_F(CensusTest, CountsEachLiveTypeExactly) {
  constexpr int kNodes = 1000, kBlobs = 300;
  gc::Root<CensusNode> list;
  for (int i = 0; i < kNodes; i++) {
    gc::Root<CensusNode> n = gc::make<CensusNode>();
    n->next = list;
    list = n;
  }
  std::vector<gc::Root<CensusBlob>> blobs;
  for (int i = 0; i < kBlobs; i++) blobs.push_back(gc::make<CensusBlob>());
  gc::Root<gc::Array<CensusNode>> array = gc::make_array<CensusNode>(7);
  gc::Root<CensusLarge> large = gc::make<CensusLarge>();
  for (int i = 0; i < 500; i++) gc::make<CensusGarbage>();  // dropped
  gc::collect();

  const gc::Census c = gc::census();
  const gc::CensusEntry* nodes = Find(c, "CensusNode");
  const gc::CensusEntry* blob = Find(c, "CensusBlob");
  const gc::CensusEntry* arr = Find(c, "CensusNode>");
  const gc::CensusEntry* big = Find(c, "CensusLarge");
  ASSERT_NE(nodes, nullptr) << c.text();
  ASSERT_NE(blob, nullptr) << c.text();
  ASSERT_NE(arr, nullptr) << c.text();
  EXPECT_TRUE(arr->type.starts_with("gc::Array<")) << arr->type;
  ASSERT_NE(big, nullptr) << c.text();
  EXPECT_EQ(nodes->objects, uint64_t{kNodes});
  EXPECT_EQ(nodes->bytes, kNodes * sizeof(CensusNode));  // a size class
  EXPECT_EQ(blob->objects, uint64_t{kBlobs});
  EXPECT_EQ(blob->bytes % kBlobs, 0u);
  EXPECT_GE(blob->bytes / kBlobs, sizeof(CensusBlob));
  EXPECT_EQ(arr->objects, 1u);
  EXPECT_GE(arr->bytes, 7 * sizeof(CensusNode));
  EXPECT_EQ(big->objects, 1u);
  EXPECT_GE(big->bytes, sizeof(CensusLarge));
  EXPECT_EQ(Find(c, "CensusGarbage"), nullptr) << c.text();
}

TEST_F(CensusTest, TotalsEqualTheHeapStatistics) {
  std::vector<gc::Root<CensusNode>> keep;
  for (int i = 0; i < 2000; i++) {
    keep.push_back(gc::make<CensusNode>());
    gc::make<CensusBlob>();
    if (i % 100 == 0) gc::make<CensusLarge>();
  }
  auto small = gc::make_array<char>(5);  // tiny-sized, pointer-free
  gc::collect();
  const gc::Census c = gc::census();
  const gc::Stats s = gc::stats();
  EXPECT_EQ(c.objects, s.heap_objects);
  EXPECT_EQ(c.bytes, s.heap_alloc);
  uint64_t objects = 0, bytes = 0;
  for (const gc::CensusEntry& e : c.types) {
    objects += e.objects;
    bytes += e.bytes;
  }
  EXPECT_EQ(objects, c.objects);
  EXPECT_EQ(bytes, c.bytes);
}

TEST_F(CensusTest, CountsWhatWasAllocatedSinceTheLastCycle) {
  gc::collect();
  for (int i = 0; i < 400; i++) gc::make<CensusGarbage>();  // garbage now
  const gc::CensusEntry* before = nullptr;
  gc::Census c = gc::census();
  before = Find(c, "CensusGarbage");
  ASSERT_NE(before, nullptr) << c.text();
  EXPECT_EQ(before->objects, 400u);
  gc::collect();
  c = gc::census();
  EXPECT_EQ(Find(c, "CensusGarbage"), nullptr) << c.text();
}

TEST_F(CensusTest, TypesComeMostBytesFirstAndTheTextShowsThem) {
  std::vector<gc::Root<CensusBlob>> blobs;
  for (int i = 0; i < 100; i++) blobs.push_back(gc::make<CensusBlob>());
  gc::Root<CensusLarge> large = gc::make<CensusLarge>();
  gc::collect();
  const gc::Census c = gc::census();
  ASSERT_GE(c.types.size(), 2u);
  for (size_t i = 1; i < c.types.size(); i++) {
    EXPECT_GE(c.types[i - 1].bytes, c.types[i].bytes) << c.text();
  }
  const std::string all = c.text();
  EXPECT_NE(all.find("gcrt census: " + std::to_string(c.objects) +
                     " objects, " + std::to_string(c.bytes) + " bytes"),
            std::string::npos)
      << all;
  EXPECT_NE(all.find("CensusBlob"), std::string::npos) << all;
  EXPECT_NE(all.find("CensusLarge"), std::string::npos) << all;
  const std::string top = c.text(1);
  EXPECT_NE(top.find(c.types[0].type), std::string::npos) << top;
  EXPECT_NE(top.find("(" + std::to_string(c.types.size() - 1) + " more types)"),
            std::string::npos)
      << top;
}

TEST_F(CensusTest, RefusedInsideABlockingRegion) {
  gc::Blocking blocking;
  EXPECT_THROW(gc::census(), std::logic_error);
  try {
    gc::census();
  } catch (const std::logic_error& e) {  // names what the program called
    EXPECT_NE(std::string(e.what()).find("gc::census() inside a blocking"),
              std::string::npos)
        << e.what();
  }
}

// Another thread allocating and dropping objects all along: each census
// stops it, and sees a heap whose totals add up.
TEST_F(CensusTest, WhileAnotherThreadAllocates) {
  std::atomic<bool> stop{false};
  std::thread t([&stop] {
    gc::Root<CensusNode> list;
    int n = 0;
    while (!stop.load(std::memory_order_relaxed)) {
      gc::Root<CensusNode> node = gc::make<CensusNode>();
      node->next = list;
      list = ++n % 1000 == 0 ? gc::Root<CensusNode>() : node;
    }
  });
  for (int i = 0; i < 20; i++) {
    const gc::Census c = gc::census();
    uint64_t objects = 0;
    for (const gc::CensusEntry& e : c.types) objects += e.objects;
    EXPECT_EQ(objects, c.objects);
    EXPECT_GT(c.objects, 0u);
  }
  stop = true;
  // In a blocking region: the thread may start a cycle before it sees
  // `stop`, and its stop must not wait for this one (a TSan run hung here).
  gc::blocking([&] { t.join(); });
}

TEST(CensusAtExit, PrintedWithGcrtDebugCensus) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  // The child runs this test anew and reads the variable when its
  // collector starts.
  setenv("GCRT_DEBUG", "census=1", 1);
  EXPECT_EXIT(
      {
        static gc::Global<CensusBlob>* keep =
            new gc::Global<CensusBlob>(gc::make<CensusBlob>());
        (void)keep;
        std::exit(0);
      },
      ::testing::ExitedWithCode(0),
      "gcrt census: [0-9]+ objects, [0-9]+ bytes, [0-9]+ types(.|\n)*"
      "CensusBlob");
  unsetenv("GCRT_DEBUG");
}

struct CensusSignalBlob {
  int64_t payload[5] = {};
};

TEST(CensusOnSignal, PrintedOnEachSignal) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  // The child runs this test anew and reads the variable when its
  // collector starts.
  setenv("GCRT_DEBUG", "census=SIGUSR2", 1);
  EXPECT_EXIT(
      {
        static gc::Global<CensusSignalBlob>* keep =
            new gc::Global<CensusSignalBlob>(gc::make<CensusSignalBlob>());
        (void)keep;
        gc::testing::StderrCapture capture;
        ::kill(::getpid(), SIGUSR2);
        std::string first = capture.ReadUntil("CensusSignalBlob");
        // The reader waits detached: a collection does not wait for it.
        gc::collect();
        ::kill(::getpid(), SIGUSR2);
        std::string second = capture.ReadUntil("CensusSignalBlob");
        capture.Restore();
        std::fprintf(stderr, "%s\n--\n%s\n--\n", first.c_str(), second.c_str());
        std::exit(0);
      },
      ::testing::ExitedWithCode(0),
      "gcrt census on SIGUSR2:\ngcrt census: [0-9]+ objects, [0-9]+ bytes, "
      "[0-9]+ types(.|\n)*CensusSignalBlob\n--\n(.|\n)*gcrt census on "
      "SIGUSR2:\ngcrt census: (.|\n)*CensusSignalBlob\n--\n");
  unsetenv("GCRT_DEBUG");
}

TEST(CensusOnSignal, NoHandlerUnlessAsked) {
  gc::collect();  // the collector is running (without census=SIGNAL)
  struct sigaction now = {};
  ASSERT_EQ(::sigaction(SIGUSR2, nullptr, &now), 0);
  EXPECT_EQ(now.sa_handler, SIG_DFL);
}

}  // namespace
