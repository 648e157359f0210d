// The checks of runtime/check.h: an internal invariant and a user's broken
// rule are told apart, and the comparison checks print both operands.
#include "gcrt/runtime/check.h"

#include <gtest/gtest.h>

#include <cstdint>

namespace gc::runtime {
namespace {

enum class Colour : uint8_t { kRed = 1, kBlue = 7 };

TEST(CheckDeathTest, AComparisonPrintsBothOperands) {
  uint32_t h = 12, sg = 9;
  EXPECT_DEATH(GCRT_CHECK_EQ(sg, h),
               "invariant violated: sg == h \\(9 vs. 12\\)");
  int64_t live = -5;
  EXPECT_DEATH(GCRT_CHECK_GE(live, 0), "live >= 0 \\(-5 vs. 0\\)");
  uint64_t big = 0x10000;
  EXPECT_DEATH(GCRT_CHECK_LT(big, 3u), "\\(65536 \\(0x10000\\) vs. 3\\)");
  Colour c = Colour::kBlue;
  EXPECT_DEATH(GCRT_CHECK_EQ(c, Colour::kRed), "\\(7 vs. 1\\)");
  int x = 0;
  int* p = &x;
  EXPECT_DEATH(GCRT_CHECK_EQ(p, nullptr), "p == nullptr \\(0x[0-9a-f]+ vs. ");
}

TEST(CheckDeathTest, AnInvariantIsReportedAsAGcrtBug) {
  EXPECT_DEATH(
      GCRT_THROW("spans never overlap"),
      "fatal error: invariant violated: spans never overlap\n"
      "gcrt:   at .*check_test.cc:[0-9]+ .*\n"
      "gcrt:   \\(a bug in gcrt, or memory corrupted by the program\\)");
}

TEST(CheckDeathTest, AUserErrorNamesTheRuleNotABug) {
  EXPECT_DEATH(GCRT_FATAL("no object is freed twice"),
               "fatal error: the program broke a rule of gcrt: no object is "
               "freed twice\ngcrt:   detected at .*check_test.cc:[0-9]+");
}

TEST(CheckTest, PassingChecksEvaluateEachOperandOnce) {
  int calls = 0;
  auto next = [&] { return ++calls; };
  GCRT_CHECK_EQ(next(), 1);
  GCRT_CHECK_LE(next(), 2);
  EXPECT_EQ(calls, 2);
#if GCRT_DEBUG_LEVEL >= 1
  GCRT_DCHECK_NE(next(), 0);
  EXPECT_EQ(calls, 3);
#endif
}

}  // namespace
}  // namespace gc::runtime
