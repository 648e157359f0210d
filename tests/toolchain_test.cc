// Checks that the Debian-provided libraries the project depends on (Boost.PFR
// for field reflection, Boost.Context for tasks, GoogleTest) work with this
// compiler and C++20: a failure here points at tools/setup.sh, not at gcrt.
#include <boost/context/fiber.hpp>
#include <boost/pfr.hpp>
#include <boost/version.hpp>

#include "gtest/gtest.h"

namespace {

struct Aggregate {
  int a;
  double b;
  long c;
};

TEST(ToolchainTest, BoostIs181) { EXPECT_EQ(BOOST_VERSION / 100, 1081); }

TEST(ToolchainTest, PfrCountsAggregateFields) {
  EXPECT_EQ(boost::pfr::tuple_size_v<Aggregate>, 3u);
  Aggregate x{1, 2.5, 3};
  EXPECT_EQ(boost::pfr::get<2>(x), 3);
}

TEST(ToolchainTest, ContextFiberSwitchesBothWays) {
  int steps = 0;
  boost::context::fiber f([&](boost::context::fiber&& caller) {
    ++steps;
    caller = std::move(caller).resume();
    ++steps;
    return std::move(caller);
  });
  f = std::move(f).resume();
  EXPECT_EQ(steps, 1);
  f = std::move(f).resume();
  EXPECT_EQ(steps, 2);
}

}  // namespace
