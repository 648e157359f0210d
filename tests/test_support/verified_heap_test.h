// The fixtures of the collector's suites.
#pragma once

#include <gtest/gtest.h>

#include <cstdint>

#include "gcrt/gc.h"
#include "gcrt/gc/collector.h"

namespace gc::testing {

// Every test runs with the heap verifier on (gc::set_verify(true): after
// marking, the heap is re-marked stop-the-world and the program stops if
// anything reachable was not marked or was freed), and starts from a swept
// heap: the garbage of the tests before it collected. A fixture that adds
// to SetUp calls this one first.
class VerifiedHeapTest : public ::testing::Test {
 protected:
  void SetUp() override {
    gc::set_verify(true);
    gc::collect();
  }
};

// The same, and proof that the verifier really ran: a rooted sentinel that
// the verifier must have checked (its count of verified objects grew) and
// that must be intact when the test ends.
class VerifierCheckedTest : public VerifiedHeapTest {
 protected:
  void SetUp() override {
    VerifiedHeapTest::SetUp();
    verified_ = gc::internal::Collector::Get().ReadStats().verified_objects;
    sentinel_ = gc::make<Sentinel>();
  }
  void TearDown() override {
    gc::collect();
    // The verifier really ran: it checked at least the sentinel.
    EXPECT_GT(gc::internal::Collector::Get().ReadStats().verified_objects,
              verified_);
    EXPECT_EQ(sentinel_->check, 0x5E7711E1u);
    sentinel_ = nullptr;
  }

  struct Sentinel {
    uint64_t check = 0x5E7711E1u;
  };
  uint64_t verified_ = 0;
  gc::Root<Sentinel> sentinel_;
};

}  // namespace gc::testing
