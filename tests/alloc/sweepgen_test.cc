// The sweep generation's states and transitions (alloc/sweepgen.h), on a
// span record of the test's own: every transition checks where it starts,
// and a sweep claim is exclusive and must be ended.
#include "gcrt/alloc/sweepgen.h"

#include <gtest/gtest.h>

#include "gcrt/alloc/heap.h"
#include "gcrt/alloc/span.h"

namespace gc::alloc {
namespace {

using State = SweepGen::State;

TEST(SweepGenTest, StatesAreReadRelativeToTheHeapsGeneration) {
  const uint32_t h = 10;
  EXPECT_EQ(SweepGen::StateOf(h - 2, h), State::kUnswept);
  EXPECT_EQ(SweepGen::StateOf(h - 1, h), State::kSweeping);
  EXPECT_EQ(SweepGen::StateOf(h, h), State::kSwept);
  EXPECT_EQ(SweepGen::StateOf(h + 1, h), State::kCachedUnswept);
  EXPECT_EQ(SweepGen::StateOf(h + 3, h), State::kCachedSwept);
  EXPECT_EQ(SweepGen::StateOf(h + 2, h), State::kInvalid);
  EXPECT_EQ(SweepGen::StateOf(0, h), State::kInvalid);
  // The flip (h += 2) turns swept into unswept and cached-swept into
  // cached-unswept without a store.
  EXPECT_EQ(SweepGen::StateOf(h, h + 2), State::kUnswept);
  EXPECT_EQ(SweepGen::StateOf(h + 3, h + 2), State::kCachedUnswept);
  // Wrapping around 2^32 changes nothing.
  EXPECT_EQ(SweepGen::StateOf(0xffffffffu, 1), State::kUnswept);
}

TEST(SweepGenTest, ACachedSpanGoesBackSwept) {
  Span s;
  const uint32_t h = 20;
  s.sweepgen.InitSwept(h);
  EXPECT_TRUE(s.sweepgen.Swept(h));
  s.sweepgen.Cache(h);
  EXPECT_EQ(s.sweepgen.Of(h), State::kCachedSwept);
  EXPECT_TRUE(s.sweepgen.Swept(h));
  s.sweepgen.UncacheSwept(h);
  EXPECT_EQ(s.sweepgen.Of(h), State::kSwept);
}

TEST(SweepGenTest, AStaleCachedSpanGoesBackUnsweptOrEmpty) {
  Span s;
  const uint32_t h = 30;
  s.sweepgen.InitSwept(h - 2);
  s.sweepgen.Cache(h - 2);  // then the flip
  ASSERT_EQ(s.sweepgen.Of(h), State::kCachedUnswept);
  EXPECT_FALSE(s.sweepgen.Swept(h));
  s.sweepgen.UncacheStaleUnswept(h);
  EXPECT_EQ(s.sweepgen.Of(h), State::kUnswept);

  Span empty;
  empty.sweepgen.InitSwept(h - 2);
  empty.sweepgen.Cache(h - 2);
  empty.sweepgen.UncacheStaleEmpty(h);
  EXPECT_EQ(empty.sweepgen.Of(h), State::kSwept);
}

TEST(SweepGenTest, AClaimIsExclusiveAndFinishesSwept) {
  Span s;
  const uint32_t h = Heap::Get().sweepgen();
  s.sweepgen.InitSwept(h);
  EXPECT_FALSE(SweepClaim::TryAcquire(&s, h)) << "a swept span is not claimed";
  s.sweepgen.InitSwept(h - 2);
  SweepClaim claim = SweepClaim::TryAcquire(&s, h);
  ASSERT_TRUE(claim);
  EXPECT_EQ(claim.span(), &s);
  EXPECT_EQ(claim.heap_gen(), h);
  EXPECT_EQ(s.sweepgen.Of(h), State::kSweeping);
  EXPECT_FALSE(SweepClaim::TryAcquire(&s, h)) << "one sweeper per span";
  SweepClaim moved = std::move(claim);
  EXPECT_FALSE(claim);
  ASSERT_TRUE(moved);
  std::move(moved).Finish();
  EXPECT_FALSE(moved);
  EXPECT_EQ(s.sweepgen.Of(h), State::kSwept);
}

TEST(SweepGenTest, ACachedStaleClaimFinishesCachedSwept) {
  Span s;
  const uint32_t h = Heap::Get().sweepgen();
  s.sweepgen.InitSwept(h - 2);
  s.sweepgen.Cache(h - 2);
  SweepClaim claim = SweepClaim::AcquireCachedStale(&s, h);
  ASSERT_TRUE(claim);
  EXPECT_EQ(s.sweepgen.Of(h), State::kCachedUnswept)
      << "the owner sweeps it without leaving the cached state";
  std::move(claim).Finish();
  EXPECT_EQ(s.sweepgen.Of(h), State::kCachedSwept);
}

TEST(SweepGenTest, AClaimOnAFreedSpanEndsWithoutAStore) {
  Span s;
  const uint32_t h = Heap::Get().sweepgen();
  s.sweepgen.InitSwept(h - 2);
  SweepClaim claim = SweepClaim::TryAcquire(&s, h);
  ASSERT_TRUE(claim);
  s.sweepgen.Clear();  // what the page heap does to a freed record
  std::move(claim).SpanFreed();
  EXPECT_EQ(s.sweepgen.Load(), 0u);
  EXPECT_FALSE(SweepClaim::TryAcquire(&s, h))
      << "a freed record is not claimed";
}

using SweepGenDeathTest = ::testing::Test;

TEST_F(SweepGenDeathTest, ABrokenTransitionNamesBothGenerations) {
  Span s;
  const uint32_t h = 40;
  s.sweepgen.InitSwept(h - 2);
  EXPECT_DEATH(s.sweepgen.Cache(h),
               "transition Cache: the span's generation is 38, unswept "
               "\\(h-2\\), with the heap's generation h = 40; it must be "
               "swept \\(h\\)");
  s.sweepgen.InitSwept(h);
  EXPECT_DEATH(s.sweepgen.UncacheSwept(h), "generation is 40, swept");
  EXPECT_DEATH(s.sweepgen.UncacheStaleUnswept(h), "must be cached, unswept");
}

TEST_F(SweepGenDeathTest, ACachedStaleClaimNeedsACachedUnsweptSpan) {
  Span s;
  const uint32_t h = Heap::Get().sweepgen();
  s.sweepgen.InitSwept(h);
  EXPECT_DEATH(SweepClaim::AcquireCachedStale(&s, h),
               "transition AcquireCachedStale");
}

TEST_F(SweepGenDeathTest, ADroppedClaimStopsTheProgram) {
  Span s;
  const uint32_t h = Heap::Get().sweepgen();
  s.sweepgen.InitSwept(h - 2);
  EXPECT_DEATH({ SweepClaim claim = SweepClaim::TryAcquire(&s, h); },
               "was dropped before Finish\\(\\) or SpanFreed\\(\\)");
}

TEST_F(SweepGenDeathTest, AClaimCannotOutliveItsGeneration) {
  Span s;
  const uint32_t h = Heap::Get().sweepgen();
  s.sweepgen.InitSwept(h);
  // A claim at the previous generation, as if it were held across a flip.
  SweepClaim stale = SweepClaim::TryAcquire(&s, h + 2);
  ASSERT_TRUE(stale);
  EXPECT_DEATH(std::move(stale).Finish(),
               "a sweep claim taken at heap generation");
  s.sweepgen.Clear();
  std::move(stale).SpanFreed();
}

}  // namespace
}  // namespace gc::alloc
