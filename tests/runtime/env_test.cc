// The GCRT_* parser (runtime/env.h): the value parsers and each
// variable's rule, from text (no setenv), and the stop-the-world watchdog's
// variable end to end in a fresh process.
#include "gcrt/runtime/env.h"

#include <gtest/gtest.h>

#include <csignal>
#include <cstdlib>
#include <set>
#include <string>

#include "gcrt/runtime/backtrace.h"
#include "gcrt/runtime/safepoint.h"

namespace gc::runtime::env {
namespace {

std::string ErrorOfBool(std::string_view text) {
  std::string error;
  EXPECT_EQ(ParseBool(text, &error), std::nullopt) << text;
  return error;
}

std::string ErrorOfInt(std::string_view text, int64_t min, int64_t max) {
  std::string error;
  EXPECT_EQ(ParseInt(text, min, max, &error), std::nullopt) << text;
  return error;
}

std::string ErrorOfSize(std::string_view text) {
  std::string error;
  EXPECT_EQ(ParseSize(text, &error), std::nullopt) << text;
  return error;
}

bool Contains(const std::string& s, const std::string& part) {
  return s.find(part) != std::string::npos;
}

// ---- Value parsers. ----

TEST(ParseBoolTest, AcceptsExactlyTheSixWords) {
  std::string error;
  for (const char* t : {"1", "true", "on", " on ", "\ttrue\n"}) {
    EXPECT_EQ(ParseBool(t, &error), true) << t;
  }
  for (const char* t : {"0", "false", "off", " 0 "}) {
    EXPECT_EQ(ParseBool(t, &error), false) << t;
  }
  EXPECT_EQ(error, "");
}

TEST(ParseBoolTest, RefusesAnythingElse) {
  for (const char* t : {"yes", "no", "2", "10", "TRUE", "t", "o n", "1x"}) {
    EXPECT_EQ(ErrorOfBool(t), "not a boolean") << t;
  }
  EXPECT_EQ(ErrorOfBool(""), "empty");
  EXPECT_EQ(ErrorOfBool("  "), "empty");
}

TEST(ParseIntTest, ParsesWholeNumbersWithinRange) {
  std::string error;
  EXPECT_EQ(ParseInt("4", 0, 256, &error), 4);
  EXPECT_EQ(ParseInt(" 12 ", 0, 256, &error), 12);
  EXPECT_EQ(ParseInt("0", 0, 256, &error), 0);
  EXPECT_EQ(ParseInt("256", 0, 256, &error), 256);
  EXPECT_EQ(ParseInt("-7", -10, 10, &error), -7);
  EXPECT_EQ(ParseInt("9223372036854775807", INT64_MIN, INT64_MAX, &error),
            INT64_MAX);
  EXPECT_EQ(ParseInt("-9223372036854775808", INT64_MIN, INT64_MAX, &error),
            INT64_MIN);
  EXPECT_EQ(error, "");
}

TEST(ParseIntTest, RefusesTrailingTextInsteadOfReadingAPrefix) {
  EXPECT_EQ(ErrorOfInt("4abc", 0, 256), "not an integer");
  EXPECT_EQ(ErrorOfInt("abc", 0, 256), "not an integer");
  EXPECT_EQ(ErrorOfInt("1 2", 0, 256), "not an integer");
  EXPECT_EQ(ErrorOfInt("+5", 0, 256), "not an integer");
  EXPECT_EQ(ErrorOfInt("0x10", 0, 256), "not an integer");
  EXPECT_EQ(ErrorOfInt("1.5", 0, 256), "not an integer");
  EXPECT_EQ(ErrorOfInt("", 0, 256), "empty");
}

TEST(ParseIntTest, RefusesOutOfRangeInsteadOfClamping) {
  EXPECT_EQ(ErrorOfInt("1000", 0, 256), "out of range");
  EXPECT_EQ(ErrorOfInt("257", 0, 256), "out of range");
  EXPECT_EQ(ErrorOfInt("-1", 0, 256), "out of range");
  EXPECT_EQ(ErrorOfInt("0", 1, 10), "out of range");
  EXPECT_EQ(ErrorOfInt("9223372036854775808", INT64_MIN, INT64_MAX),
            "out of range");
  EXPECT_EQ(ErrorOfInt("99999999999999999999999", 0, 256), "out of range");
}

TEST(ParseSizeTest, ParsesBytesAndBinarySuffixes) {
  std::string error;
  EXPECT_EQ(ParseSize("0", &error), 0u);
  EXPECT_EQ(ParseSize("4096", &error), 4096u);
  EXPECT_EQ(ParseSize("7B", &error), 7u);
  EXPECT_EQ(ParseSize("3KiB", &error), 3u << 10);
  EXPECT_EQ(ParseSize("48MiB", &error), uint64_t{48} << 20);
  EXPECT_EQ(ParseSize(" 48 MiB ", &error), uint64_t{48} << 20);
  EXPECT_EQ(ParseSize("2GiB", &error), uint64_t{2} << 30);
  EXPECT_EQ(ParseSize("5TiB", &error), uint64_t{5} << 40);
  EXPECT_EQ(ParseSize("18446744073709551615", &error), UINT64_MAX);
  EXPECT_EQ(ParseSize("18446744073709551615B", &error), UINT64_MAX);
  // The largest TiB count that fits: 2^64 - 2^40.
  EXPECT_EQ(ParseSize("16777215TiB", &error), UINT64_MAX - ((1ull << 40) - 1));
  EXPECT_EQ(ParseSize("17179869183GiB", &error),
            UINT64_MAX - ((1ull << 30) - 1));
  EXPECT_EQ(error, "");
}

TEST(ParseSizeTest, RefusesWhatOverflowsInsteadOfWrapping) {
  // 2^34 GiB is 2^64: it used to wrap to 0, which is no limit.
  EXPECT_EQ(ErrorOfSize("17179869184GiB"), "too large (2^64 bytes or more)");
  EXPECT_EQ(ErrorOfSize("99999999999GiB"), "too large (2^64 bytes or more)");
  EXPECT_EQ(ErrorOfSize("16777216TiB"), "too large (2^64 bytes or more)");
  EXPECT_EQ(ErrorOfSize("18446744073709551616"),
            "too large (2^64 bytes or more)");
  EXPECT_EQ(ErrorOfSize("99999999999999999999999MiB"),
            "too large (2^64 bytes or more)");
}

TEST(ParseSizeTest, RefusesSignsUnitsAndFractions) {
  // strtoull made "-1" 2^64-1.
  EXPECT_EQ(ErrorOfSize("-1"), "not a size");
  EXPECT_EQ(ErrorOfSize("+1"), "not a size");
  EXPECT_EQ(ErrorOfSize("MiB"), "not a size");
  EXPECT_EQ(ErrorOfSize("48MB"), "not a size (unknown unit \"MB\")");
  EXPECT_EQ(ErrorOfSize("48mib"), "not a size (unknown unit \"mib\")");
  EXPECT_EQ(ErrorOfSize("1.5GiB"), "not a size (unknown unit \".5GiB\")");
  EXPECT_EQ(ErrorOfSize("48MiB48"), "not a size (unknown unit \"MiB48\")");
  EXPECT_EQ(ErrorOfSize(""), "empty");
}

TEST(NormalizeMemoryLimitTest, WhatInt64CannotRepresentIsNoLimit) {
  EXPECT_EQ(NormalizeMemoryLimit(0), 0u);
  EXPECT_EQ(NormalizeMemoryLimit(48 << 20), uint64_t{48} << 20);
  EXPECT_EQ(NormalizeMemoryLimit(INT64_MAX - 1), uint64_t{INT64_MAX} - 1);
  EXPECT_EQ(NormalizeMemoryLimit(INT64_MAX), 0u);
  EXPECT_EQ(NormalizeMemoryLimit(uint64_t{INT64_MAX} + 1), 0u);
  EXPECT_EQ(NormalizeMemoryLimit(10'500'000'000'000'000'000u), 0u);
  EXPECT_EQ(NormalizeMemoryLimit(UINT64_MAX), 0u);
}

TEST(ParseVarTest, MinHeapIsASizeOrOff) {
  Messages m;
  EXPECT_EQ(ParseMinHeap(nullptr, &m), 0u);
  EXPECT_EQ(ParseMinHeap("off", &m), 0u);
  EXPECT_EQ(ParseMinHeap(" 64 MiB ", &m), uint64_t{64} << 20);
  EXPECT_EQ(ParseMinHeap("1000000", &m), 1000000u);
  EXPECT_TRUE(m.empty());
  EXPECT_EQ(ParseMinHeap("-5", &m), 0u);
  ASSERT_EQ(m.size(), 1u);
  EXPECT_TRUE(Contains(m[0], "GCRT_MIN_HEAP=\"-5\"")) << m[0];
  EXPECT_TRUE(Contains(m[0], "using 4 MiB")) << m[0];
}

// ---- The table. ----

TEST(VarsTest, EveryVariableHasOneEntryWithItsText) {
  std::set<std::string> names;
  for (const VarInfo& v : Vars()) {
    EXPECT_EQ(&Info(v.var), &v);
    EXPECT_EQ(std::string(v.name).rfind("GCRT_", 0), 0u) << v.name;
    EXPECT_NE(std::string(v.accepted), "") << v.name;
    EXPECT_NE(std::string(v.fallback), "") << v.name;
    names.insert(v.name);
  }
  EXPECT_EQ(names,
            (std::set<std::string>{
                "GCRT_GCPERCENT", "GCRT_MEMORY_LIMIT", "GCRT_MARK_WORKERS",
                "GCRT_DEBUG", "GCRT_STW_WATCHDOG_MS", "GCRT_STACK_SCAN",
                "GCRT_MIN_HEAP", "GCRT_PROCS", "GCRT_TASK_STACK_KB"}));
  // The messages quote the same ranges the parsers check.
  EXPECT_TRUE(Contains(Info(Var::kMarkWorkers).accepted,
                       "to " + std::to_string(kMaxMarkWorkers)));
  EXPECT_TRUE(Contains(Info(Var::kStwWatchdog).accepted,
                       "to " + std::to_string(kMaxStwWatchdogMs)));
  EXPECT_TRUE(Contains(Info(Var::kStwWatchdog).fallback,
                       std::to_string(kDefaultStwWatchdogMs)));
}

// ---- Each variable's rule. ----

TEST(ParseVarTest, UnsetGivesTheDefaultsSilently) {
  Messages m;
  EXPECT_EQ(ParseGcPercent(nullptr, &m), 100);
  EXPECT_EQ(ParseMemoryLimit(nullptr, &m), 0u);
  EXPECT_EQ(ParseMarkWorkers(nullptr, &m), 0u);
  DebugSettings d = ParseDebug(nullptr, &m);
  EXPECT_FALSE(d.gctrace);
  EXPECT_FALSE(d.verify);
  EXPECT_EQ(ParseStwWatchdogMs(nullptr, &m), kDefaultStwWatchdogMs);
  EXPECT_TRUE(m.empty());
}

TEST(ParseVarTest, TheMessageNamesVariableValueAcceptedAndReplacement) {
  Messages m;
  EXPECT_EQ(ParseMarkWorkers("4abc", &m), 0u);
  ASSERT_EQ(m.size(), 1u);
  EXPECT_EQ(m[0],
            "GCRT_MARK_WORKERS=\"4abc\": not an integer; accepted: an "
            "integer from 0 to 256 (0: one per hardware thread); using one "
            "per hardware thread");
}

TEST(ParseVarTest, MarkWorkers) {
  Messages m;
  EXPECT_EQ(ParseMarkWorkers("0", &m), 0u);
  EXPECT_EQ(ParseMarkWorkers("4", &m), 4u);
  EXPECT_EQ(ParseMarkWorkers(" 8 ", &m), 8u);
  EXPECT_EQ(ParseMarkWorkers("256", &m), 256u);
  EXPECT_TRUE(m.empty());
  for (const char* t : {"abc", "-1", "4abc", "1000", "257", ""}) {
    m.clear();
    EXPECT_EQ(ParseMarkWorkers(t, &m), 0u) << t;
    ASSERT_EQ(m.size(), 1u) << t;
    EXPECT_TRUE(Contains(m[0], std::string("GCRT_MARK_WORKERS=\"") + t + "\""))
        << m[0];
  }
  m.clear();
  ParseMarkWorkers("1000", &m);
  EXPECT_TRUE(Contains(m[0], "out of range")) << m[0];
}

TEST(ParseVarTest, GcPercentTakesTheSetterRange) {
  Messages m;
  EXPECT_EQ(ParseGcPercent("off", &m), -1);
  EXPECT_EQ(ParseGcPercent(" off ", &m), -1);
  EXPECT_EQ(ParseGcPercent("-1", &m), -1);
  EXPECT_EQ(ParseGcPercent("-2147483648", &m), -1);
  EXPECT_EQ(ParseGcPercent("0", &m), 0);
  EXPECT_EQ(ParseGcPercent("250", &m), 250);
  // Was capped at 1000000; gc::set_gc_percent takes any int.
  EXPECT_EQ(ParseGcPercent("5000000", &m), 5000000);
  EXPECT_EQ(ParseGcPercent("2147483647", &m), INT_MAX);
  EXPECT_TRUE(m.empty());
  for (const char* t : {"2147483648", "-2147483649", "abc", "50x", "OFF"}) {
    m.clear();
    EXPECT_EQ(ParseGcPercent(t, &m), 100) << t;
    ASSERT_EQ(m.size(), 1u) << t;
    EXPECT_TRUE(Contains(m[0], std::string("GCRT_GCPERCENT=\"") + t + "\""));
    EXPECT_TRUE(Contains(m[0], "; using 100")) << m[0];
  }
}

TEST(ParseVarTest, MemoryLimitRefusesWhatOverflows) {
  for (const char* t : {"-1", "99999999999GiB", "17179869184GiB", "48MB",
                        "18446744073709551616"}) {
    Messages m;
    EXPECT_EQ(ParseMemoryLimit(t, &m), 0u) << t;
    ASSERT_EQ(m.size(), 1u) << t;
    EXPECT_TRUE(Contains(m[0], std::string("GCRT_MEMORY_LIMIT=\"") + t + "\""));
    EXPECT_TRUE(Contains(m[0], "; using no limit")) << m[0];
  }
}

TEST(ParseVarTest, MemoryLimitTreatsTheMaximumAsNoLimit) {
  Messages m;
  EXPECT_EQ(ParseMemoryLimit("48MiB", &m), uint64_t{48} << 20);
  EXPECT_EQ(ParseMemoryLimit("off", &m), 0u);
  EXPECT_EQ(ParseMemoryLimit("0", &m), 0u);
  EXPECT_EQ(ParseMemoryLimit("9223372036854775806", &m),
            uint64_t{INT64_MAX} - 1);
  EXPECT_EQ(ParseMemoryLimit("9223372036854775807", &m), 0u);
  EXPECT_EQ(ParseMemoryLimit("18446744073709551615", &m), 0u);
  EXPECT_EQ(ParseMemoryLimit("16777215TiB", &m), 0u);
  EXPECT_TRUE(m.empty());
}

TEST(ParseVarTest, DebugBooleansFollowTheRule) {
  Messages m;
  DebugSettings d = ParseDebug("gctrace=false", &m);
  EXPECT_FALSE(d.gctrace);  // used to turn tracing on
  d = ParseDebug("gctrace=off,verify=on", &m);
  EXPECT_FALSE(d.gctrace);
  EXPECT_TRUE(d.verify);
  d = ParseDebug("gctrace=1,gctrace=0", &m);  // the last one wins
  EXPECT_FALSE(d.gctrace);
  EXPECT_FALSE(d.census);
  d = ParseDebug("census=on", &m);
  EXPECT_TRUE(d.census);
  EXPECT_FALSE(d.scavtrace);
  d = ParseDebug(" scavtrace = 1 ,gctrace=0", &m);
  EXPECT_TRUE(d.scavtrace);
  d = ParseDebug("gclog= /tmp/gc log.jsonl ,gctrace=1", &m);
  EXPECT_EQ(d.gclog, "/tmp/gc log.jsonl");
  EXPECT_TRUE(d.gctrace);
  EXPECT_TRUE(m.empty());

  d = ParseDebug("gctrace=yes", &m);
  EXPECT_FALSE(d.gctrace);
  ASSERT_EQ(m.size(), 1u);
  EXPECT_EQ(
      m[0],
      "GCRT_DEBUG=\"gctrace=yes\": \"gctrace=yes\": not a boolean; "
      "accepted: comma-separated name=value items: gctrace, scavtrace, "
      "verify, crosscheck, quarantine and concurrent, each 1, 0, true, "
      "false, on or off; census, one of those (printed at exit) or a signal "
      "to print it on: a name (SIGUSR2 or USR2) or a number (1 and 0 are "
      "the booleans), not KILL, STOP, SEGV, BUS, FPE, ILL, TRAP, ABRT, "
      "glibc's reserved real-time signals or gcrt's SIGRTMIN+6; zeal, an "
      "integer from 0 to 2^40 (allocations between collections, 0: "
      "off); memprofilerate, an integer from 0 to 2^40 (bytes between heap "
      "profile samples, 1: every allocation, 0: off); gclog and "
      "heapprofile, a file path without commas (a JSON line per cycle "
      "appended to it; the heap profile written to it at exit); using the "
      "other items (this one ignored)");
}

TEST(ParseVarTest, DebugCensusOnASignal) {
  Messages m;
  DebugSettings d = ParseDebug("census=SIGUSR2", &m);
  EXPECT_FALSE(d.census) << "a signal, not at exit";
  EXPECT_EQ(d.census_signal, SIGUSR2);
  EXPECT_EQ(ParseDebug(" census = USR1 ", &m).census_signal, SIGUSR1);
  EXPECT_EQ(ParseDebug("census=12", &m).census_signal, 12);
  EXPECT_EQ(ParseDebug("census=SIGHUP", &m).census_signal, SIGHUP);
  d = ParseDebug("census=1", &m);
  EXPECT_TRUE(d.census) << "1 is the boolean: at exit";
  EXPECT_EQ(d.census_signal, 0);
  d = ParseDebug("census=SIGUSR2,census=true", &m);  // the last one wins
  EXPECT_TRUE(d.census);
  EXPECT_EQ(d.census_signal, 0);
  d = ParseDebug("census=on,census=USR2", &m);
  EXPECT_FALSE(d.census);
  EXPECT_EQ(d.census_signal, SIGUSR2);
  d = ParseDebug("census=SIGRTMIN", &m);  // not a name it takes
  EXPECT_EQ(d.census_signal, 0);
  ASSERT_EQ(m.size(), 1u);
  m.clear();
  EXPECT_EQ(ParseDebug(("census=" + std::to_string(SIGRTMIN + 1)).c_str(), &m)
                .census_signal,
            SIGRTMIN + 1);
  EXPECT_TRUE(m.empty());
}

TEST(ParseVarTest, DebugCensusRefusesSignalsItCannotUse) {
  const std::string refusals[] = {
      "census=SIGKILL",
      "census=STOP",
      "census=SEGV",
      "census=SIGBUS",
      "census=FPE",
      "census=ILL",
      "census=ABRT",
      "census=TRAP",
      "census=9",
      "census=11",
      "census=SIGFOO",
      "census=",
      "census=65",
      "census=-12",
      "census=" + std::to_string(SIGRTMIN - 1),
      "census=" + std::to_string(gc::runtime::BacktraceSignal()),
  };
  for (const std::string& text : refusals) {
    Messages m;
    DebugSettings d = ParseDebug(("gctrace=1," + text).c_str(), &m);
    EXPECT_EQ(d.census_signal, 0) << text;
    EXPECT_FALSE(d.census) << text;
    EXPECT_TRUE(d.gctrace) << text << ": the other item still applies";
    ASSERT_EQ(m.size(), 1u) << text;
    EXPECT_NE(
        m[0].find("GCRT_DEBUG=\"gctrace=1," + text + "\": \"" + text + "\": "),
        std::string::npos)
        << m[0];
    EXPECT_NE(m[0].find("accepted: "), std::string::npos) << m[0];
  }
  Messages m;
  ParseDebug("census=SIGKILL", &m);
  ASSERT_EQ(m.size(), 1u);
  EXPECT_NE(m[0].find("a signal that cannot print the census"),
            std::string::npos)
      << m[0];
  m.clear();
  ParseDebug("census=9", &m);
  ASSERT_EQ(m.size(), 1u);
  EXPECT_NE(m[0].find("a signal no handler can catch"), std::string::npos)
      << m[0];
}

TEST(ParseVarTest, SignalNames) {
  EXPECT_EQ(SignalName(SIGUSR2), "SIGUSR2");
  EXPECT_EQ(SignalName(SIGRTMIN + 2), "SIGRTMIN+2");
}

TEST(ParseVarTest, DebugHeapProfileItems) {
  Messages m;
  DebugSettings d = ParseDebug("gctrace=1", &m);
  EXPECT_FALSE(d.mem_profile_rate.has_value()) << "unset: the built-in rate";
  EXPECT_EQ(d.heap_profile, "");
  d = ParseDebug("memprofilerate=1, heapprofile= /tmp/heap.pprof ", &m);
  ASSERT_TRUE(d.mem_profile_rate.has_value());
  EXPECT_EQ(*d.mem_profile_rate, 1u);
  EXPECT_EQ(d.heap_profile, "/tmp/heap.pprof");
  d = ParseDebug("memprofilerate=0", &m);
  EXPECT_EQ(d.mem_profile_rate, std::optional<uint64_t>(0));
  EXPECT_TRUE(m.empty());
  d = ParseDebug("memprofilerate=-5", &m);
  EXPECT_FALSE(d.mem_profile_rate.has_value());
  EXPECT_EQ(m.size(), 1u);
  d = ParseDebug("heapprofile=", &m);
  EXPECT_EQ(d.heap_profile, "");
  EXPECT_EQ(m.size(), 2u);
}

TEST(ParseVarTest, DebugQuarantineAndZeal) {
  Messages m;
  DebugSettings d = ParseDebug("verify=1", &m);
  EXPECT_FALSE(d.quarantine.has_value()) << "unset: the build's default";
  EXPECT_EQ(d.zeal, 0u);
  EXPECT_FALSE(d.crosscheck);
  EXPECT_TRUE(d.concurrent) << "marking beside the program by default";
  d = ParseDebug("quarantine=off, zeal=1000, crosscheck=on,concurrent=0", &m);
  EXPECT_TRUE(d.crosscheck);
  EXPECT_FALSE(d.concurrent);
  ASSERT_TRUE(d.quarantine.has_value());
  EXPECT_FALSE(*d.quarantine);
  EXPECT_EQ(d.zeal, 1000u);
  EXPECT_TRUE(m.empty());
  d = ParseDebug("zeal=-1", &m);
  EXPECT_EQ(d.zeal, 0u);
  d = ParseDebug("zeal=1099511627777", &m);  // 2^40 + 1
  EXPECT_EQ(d.zeal, 0u);
  d = ParseDebug("quarantine=maybe", &m);
  EXPECT_FALSE(d.quarantine.has_value());
  EXPECT_EQ(m.size(), 3u);
}

TEST(ParseVarTest, DebugToleratesWhitespaceAroundItems) {
  Messages m;
  // The space after the comma used to drop gctrace.
  DebugSettings d = ParseDebug("verify=1, gctrace=1", &m);
  EXPECT_TRUE(d.verify);
  EXPECT_TRUE(d.gctrace);
  d = ParseDebug("  gctrace = true ,\tverify= 1 ,", &m);
  EXPECT_TRUE(d.verify);
  EXPECT_TRUE(d.gctrace);
  d = ParseDebug(",,", &m);
  EXPECT_FALSE(d.gctrace);
  EXPECT_TRUE(m.empty());
}

// As GODEBUG: a refused item is named and ignored, and the other items
// apply, those before it and after it.
TEST(ParseVarTest, DebugIgnoresOnlyTheRefusedItems) {
  Messages m;
  DebugSettings d = ParseDebug("gctrace=1,checkmark=1,crosscheck=1", &m);
  EXPECT_TRUE(d.gctrace);
  EXPECT_TRUE(d.crosscheck);
  ASSERT_EQ(m.size(), 1u);
  EXPECT_TRUE(
      Contains(m[0], "GCRT_DEBUG=\"gctrace=1,checkmark=1,crosscheck=1\""));
  EXPECT_TRUE(Contains(m[0], "unknown name \"checkmark\"")) << m[0];
  EXPECT_TRUE(Contains(m[0], "using the other items (this one ignored)"))
      << m[0];
  m.clear();
  d = ParseDebug("verify=1,gctrace,zeal=x,scavtrace=1", &m);
  EXPECT_TRUE(d.verify);
  EXPECT_TRUE(d.scavtrace);
  EXPECT_FALSE(d.gctrace);
  EXPECT_EQ(d.zeal, 0u);
  ASSERT_EQ(m.size(), 2u) << "one line per refused item";
  EXPECT_TRUE(Contains(m[0], "\"gctrace\" is not name=value")) << m[0];
  EXPECT_TRUE(Contains(m[1], "\"zeal=x\": ")) << m[1];
  // A refused item leaves its name as the items before it set it.
  m.clear();
  d = ParseDebug("gctrace=1,gctrace=maybe,zeal=100,zeal=-5", &m);
  EXPECT_TRUE(d.gctrace);
  EXPECT_EQ(d.zeal, 100u);
  EXPECT_EQ(m.size(), 2u);
}

TEST(ParseVarTest, StwWatchdog) {
  Messages m;
  EXPECT_EQ(ParseStwWatchdogMs("5", &m), 5);
  EXPECT_EQ(ParseStwWatchdogMs("3600000", &m), 3600000);
  EXPECT_TRUE(m.empty());
  for (const char* t : {"0", "-5", "abc", "20ms", "3600001"}) {
    m.clear();
    EXPECT_EQ(ParseStwWatchdogMs(t, &m), 1000) << t;
    ASSERT_EQ(m.size(), 1u) << t;
    EXPECT_TRUE(
        Contains(m[0], std::string("GCRT_STW_WATCHDOG_MS=\"") + t + "\""));
    EXPECT_TRUE(Contains(m[0], "; using 1000")) << m[0];
  }
}

// ---- End to end: the variable read at program start. ----

// The exec-style death test runs a fresh copy of this binary with the
// parent's environment, so its static initialization sees the variable.
class StwWatchdogEnvironmentTest : public ::testing::Test {
 protected:
  void SetUp() override { GTEST_FLAG_SET(death_test_style, "threadsafe"); }
  void TearDown() override { unsetenv("GCRT_STW_WATCHDOG_MS"); }
};

TEST_F(StwWatchdogEnvironmentTest, SetsThePeriod) {
  setenv("GCRT_STW_WATCHDOG_MS", " 25 ", 1);
  EXPECT_EXIT(std::exit(StopWatchdogPeriod().count() == 25 ? 0 : 1),
              ::testing::ExitedWithCode(0), "");
}

TEST_F(StwWatchdogEnvironmentTest, RefusedValueIsReportedAndDefaultUsed) {
  setenv("GCRT_STW_WATCHDOG_MS", "20ms", 1);
  EXPECT_EXIT(std::exit(StopWatchdogPeriod().count() == 1000 ? 0 : 1),
              ::testing::ExitedWithCode(0),
              "gcrt: GCRT_STW_WATCHDOG_MS=\"20ms\": not an integer; "
              "accepted: .*; using 1000");
}

TEST(ParseVarTest, StackScanIsABooleanDefaultingOn) {
  Messages m;
  EXPECT_TRUE(ParseStackScan(nullptr, &m));
  EXPECT_FALSE(ParseStackScan("off", &m));
  EXPECT_FALSE(ParseStackScan(" 0 ", &m));
  EXPECT_TRUE(ParseStackScan("on", &m));
  EXPECT_TRUE(m.empty());
  EXPECT_TRUE(ParseStackScan("precise", &m)) << "refused: the default";
  ASSERT_EQ(m.size(), 1u);
  EXPECT_TRUE(Contains(m[0], "GCRT_STACK_SCAN=\"precise\"")) << m[0];
}

TEST(ParseVarTest, ProcsAndTaskStackTakeTheirRanges) {
  Messages m;
  EXPECT_EQ(ParseProcs(nullptr, &m), 0u);
  EXPECT_EQ(ParseProcs(" 4 ", &m), 4u);
  EXPECT_EQ(ParseTaskStackKb(nullptr, &m), 0u);
  EXPECT_EQ(ParseTaskStackKb("0", &m), 0u);
  EXPECT_EQ(ParseTaskStackKb("64", &m), 64u);
  EXPECT_TRUE(m.empty());
  EXPECT_EQ(ParseProcs("257", &m), 0u);
  ASSERT_EQ(m.size(), 1u);
  EXPECT_TRUE(Contains(m[0], "GCRT_PROCS=\"257\"")) << m[0];
  EXPECT_TRUE(Contains(m[0], "using one per hardware thread")) << m[0];
  EXPECT_EQ(ParseTaskStackKb("8", &m), 0u) << "below 16 KiB: the default";
  ASSERT_EQ(m.size(), 2u);
  EXPECT_TRUE(Contains(m[1], "GCRT_TASK_STACK_KB=\"8\": below the minimum"))
      << m[1];
  EXPECT_TRUE(Contains(m[1], "using 256")) << m[1];
}

}  // namespace
}  // namespace gc::runtime::env
