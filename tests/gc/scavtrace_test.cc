// GCRT_DEBUG=scavtrace=1 (gc::set_scavtrace): the scavenger's line in the
// format of Go's GODEBUG=scavtrace=1.
#include <gtest/gtest.h>

#include <regex>
#include <sstream>
#include <string>
#include <vector>

#include "gcrt/gc.h"
#include "tests/test_support/verified_heap_test.h"

namespace {

// Go 1.19's printScavTrace, field for field (runtime/mgcscavenge.go).
constexpr const char* kGoScavtrace =
    R"(scav (\d+) KiB work, (\d+) KiB total, (\d+)% util( \(forced\))?)";

struct ScavLarge {
  char bytes[256 << 10] = {};
};

struct Line {
  uint64_t work_kib, total_kib, util;
  bool forced;
};

// Every line of `err`, each of which must be a scavtrace line.
std::vector<Line> Parse(const std::string& err) {
  std::vector<Line> lines;
  std::istringstream in(err);
  std::string text;
  const std::regex re(kGoScavtrace);
  while (std::getline(in, text)) {
    std::smatch m;
    EXPECT_TRUE(std::regex_match(text, m, re)) << "not Go's format: " << text;
    if (m.empty()) continue;
    lines.push_back(Line{std::stoull(m[1]), std::stoull(m[2]),
                         std::stoull(m[3]), m[4].matched});
  }
  return lines;
}

// No cycle but the tests' own: each prints one line.
class ScavtraceTest : public gc::testing::VerifiedHeapTest {
 protected:
  void SetUp() override {
    gc_percent_ = gc::set_gc_percent(-1);
    VerifiedHeapTest::SetUp();
  }
  void TearDown() override {
    gc::set_scavtrace(false);
    gc::set_gc_percent(gc_percent_);
  }

 private:
  int gc_percent_ = 100;
};

TEST_F(ScavtraceTest, OffByDefaultAndTheSetterReturnsThePreviousSetting) {
  EXPECT_FALSE(gc::set_scavtrace(true));
  EXPECT_TRUE(gc::set_scavtrace(false));
  ::testing::internal::CaptureStderr();
  gc::collect();
  gc::release_memory();
  EXPECT_EQ(::testing::internal::GetCapturedStderr(), "");
}

TEST_F(ScavtraceTest, ALinePerCycleInGoFormat) {
  gc::set_scavtrace(true);
  ::testing::internal::CaptureStderr();
  gc::collect();
  gc::collect();
  std::vector<Line> lines = Parse(::testing::internal::GetCapturedStderr());
  ASSERT_EQ(lines.size(), 2u);
  for (const Line& l : lines) {
    EXPECT_FALSE(l.forced);
    EXPECT_LE(l.util, 100u);
  }
}

// A forced release reports what it returned, and the total then returned;
// the next cycle's line does not count it again as the scavenger's work.
TEST_F(ScavtraceTest, AForcedReleaseReportsItsOwnWork) {
  {
    std::vector<gc::Root<ScavLarge>> larges;
    for (int i = 0; i < 32; i++) larges.push_back(gc::make<ScavLarge>());
    for (auto& l : larges) l->bytes[0] = 1;  // resident
  }
  gc::Root<ScavLarge> kept = gc::make<ScavLarge>();  // retained, in use
  gc::set_scavtrace(true);
  ::testing::internal::CaptureStderr();
  const size_t released = gc::release_memory();  // collects, then releases
  const gc::Stats s = gc::stats();
  gc::collect();  // nothing freed since: no work to report
  const std::string err = ::testing::internal::GetCapturedStderr();
  std::vector<Line> lines = Parse(err);
  // release_memory's cycle, the release, ours.
  ASSERT_EQ(lines.size(), 3u) << err;
  EXPECT_FALSE(lines[0].forced);
  EXPECT_TRUE(lines[1].forced);
  EXPECT_GE(released, 32u * sizeof(ScavLarge));
  EXPECT_EQ(lines[1].work_kib, released >> 10);
  EXPECT_EQ(lines[1].total_kib, s.heap_released >> 10);
  ASSERT_GT(s.heap_sys - s.heap_released, 0u);
  EXPECT_GT(lines[1].util, 0u);
  EXPECT_EQ(lines[1].util, s.heap_inuse * 100 / (s.heap_sys - s.heap_released));
  EXPECT_FALSE(lines[2].forced);
  EXPECT_EQ(lines[2].work_kib, 0u);
  EXPECT_EQ(lines[2].total_kib, s.heap_released >> 10);
}

}  // namespace
