// Tests of the OS memory layer (runtime/os_mem.h): reserve, commit,
// decommit, release, metadata mappings, fault injection and the counters.
//
// This binary links only //runtime, so nothing but these tests moves the
// process-wide counters: their deltas are exact.
#include "gcrt/runtime/os_mem.h"

#include <sys/mman.h>

#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <new>
#include <sstream>
#include <string>
#include <vector>

#include "gtest/gtest.h"

namespace gc::runtime::os {
namespace {

constexpr size_t kPage = kOsPageSize;

// True if every page of [p, p+bytes) is mapped (in any protection).
bool IsMapped(const void* p, size_t bytes) {
  uintptr_t start = reinterpret_cast<uintptr_t>(p) & ~(kPage - 1);
  uintptr_t end =
      (reinterpret_cast<uintptr_t>(p) + bytes + kPage - 1) & ~(kPage - 1);
  std::vector<unsigned char> vec((end - start) / kPage);
  return ::mincore(reinterpret_cast<void*>(start), end - start, vec.data()) ==
         0;
}

// True if no page of [p, p+bytes) is mapped.
bool IsUnmapped(const void* p, size_t bytes) {
  for (uintptr_t q = reinterpret_cast<uintptr_t>(p) & ~(kPage - 1);
       q < reinterpret_cast<uintptr_t>(p) + bytes; q += kPage) {
    unsigned char v;
    if (::mincore(reinterpret_cast<void*>(q), kPage, &v) == 0) return false;
    if (errno != ENOMEM) return false;
  }
  return true;
}

// Bytes of address space mapped inaccessible (PROT_NONE, private), from
// /proc/self/maps: what reservations occupy.
uint64_t InaccessibleMappedBytes() {
  std::ifstream maps("/proc/self/maps");
  std::string line;
  uint64_t total = 0;
  while (std::getline(maps, line)) {
    unsigned long lo, hi;
    char perms[8] = {};
    if (std::sscanf(line.c_str(), "%lx-%lx %7s", &lo, &hi, perms) != 3) {
      continue;
    }
    if (std::strcmp(perms, "---p") == 0) total += hi - lo;
  }
  return total;
}

bool AllZero(const void* p, size_t bytes) {
  const unsigned char* b = static_cast<const unsigned char*>(p);
  for (size_t i = 0; i < bytes; i++) {
    if (b[i] != 0) return false;
  }
  return true;
}

TEST(OsMemTest, ReserveReturnsRangesAlignedAsAsked) {
  for (size_t align : {kPage, size_t{8192}, size_t{64} << 10, size_t{1} << 20,
                       size_t{4} << 20, size_t{64} << 20}) {
    for (size_t bytes : {kPage, size_t{3} * kPage, size_t{1} << 20}) {
      SCOPED_TRACE("align " + std::to_string(align) + " bytes " +
                   std::to_string(bytes));
      OsStats before = ReadOsStats();
      void* p = Reserve(bytes, align, "aligned test range");
      ASSERT_NE(p, nullptr);
      EXPECT_EQ(reinterpret_cast<uintptr_t>(p) % align, 0u);
      EXPECT_TRUE(IsMapped(p, bytes));
      // Reserved only: nothing is resident.
      EXPECT_EQ(ResidentBytes(p, bytes), 0u);
      EXPECT_EQ(ReadOsStats().reserved - before.reserved, bytes);
      Release(p, bytes);
      EXPECT_TRUE(IsUnmapped(p, bytes));
      EXPECT_EQ(ReadOsStats().reserved, before.reserved);
    }
  }
}

TEST(OsMemTest, AlignedReserveTrimsItsPaddingSoReleaseReturnsEverything) {
  // A reservation with align > page maps bytes + align and trims the rest;
  // Reserve + Release must leave no inaccessible mapping behind.
  uint64_t before = InaccessibleMappedBytes();
  for (int i = 0; i < 8; i++) {
    void* p = Reserve(size_t{1} << 20, size_t{16} << 20, "padded range");
    Release(p, size_t{1} << 20);
  }
  EXPECT_EQ(InaccessibleMappedBytes(), before);
}

TEST(OsMemTest, AlignedReserveOfAnUnroundedSizeLeavesNoPaddingMapped) {
  // Reserve does not require `bytes` to be a multiple of the OS page. With
  // align > page the padding past bytes must be unmapped even so, or every
  // such call leaks up to `align` bytes of address space.
  uint64_t before = InaccessibleMappedBytes();
  constexpr size_t kBytes = 5000;  // not a page multiple
  constexpr size_t kAlign = size_t{1} << 20;
  for (int i = 0; i < 4; i++) {
    void* p = Reserve(kBytes, kAlign, "unrounded range");
    EXPECT_EQ(reinterpret_cast<uintptr_t>(p) % kAlign, 0u);
    // The page holding the end of the range is the last one reserved.
    uintptr_t next_page =
        (reinterpret_cast<uintptr_t>(p) + kBytes + kPage - 1) & ~(kPage - 1);
    EXPECT_TRUE(IsUnmapped(reinterpret_cast<void*>(next_page), kPage))
        << "padding past the reservation is still mapped";
    Release(p, kBytes);
  }
  EXPECT_EQ(InaccessibleMappedBytes(), before)
      << "address space leaked by Reserve+Release";
}

TEST(OsMemTest, CommitMakesMemoryWritableAndZero) {
  constexpr size_t kBytes = size_t{1} << 20;
  constexpr size_t kCommitted = size_t{256} << 10;
  void* p = Reserve(kBytes, kPage, "commit test");
  OsStats before = ReadOsStats();
  Commit(p, kCommitted, "commit test");
  EXPECT_EQ(ReadOsStats().committed - before.committed, kCommitted);
  EXPECT_TRUE(AllZero(p, kCommitted));
  std::memset(p, 0xab, kCommitted);
  auto* b = static_cast<unsigned char*>(p);
  EXPECT_EQ(b[0], 0xab);
  EXPECT_EQ(b[kCommitted - 1], 0xab);
  EXPECT_EQ(ResidentBytes(p, kCommitted), kCommitted);
  // The uncommitted rest is untouched: nothing resident.
  EXPECT_EQ(ResidentBytes(b + kCommitted, kBytes - kCommitted), 0u);
  Release(p, kBytes);
}

TEST(OsMemTest, UncommittedMemoryIsInaccessible) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  void* p = Reserve(2 * kPage, kPage, "inaccessible test");
  Commit(p, kPage, "inaccessible test");
  volatile unsigned char* b = static_cast<unsigned char*>(p);
  b[0] = 1;  // committed: fine
  EXPECT_DEATH({ b[kPage] = 1; }, "");
  Release(p, 2 * kPage);
}

TEST(OsMemTest, DecommitDropsResidentPagesAndTheyReadZeroAfter) {
  constexpr size_t kBytes = 64 * kPage;
  void* p = Reserve(kBytes, kPage, "decommit test");
  Commit(p, kBytes, "decommit test");
  std::memset(p, 0x5a, kBytes);
  EXPECT_EQ(ResidentBytes(p, kBytes), kBytes);

  OsStats before = ReadOsStats();
  // Decommit the middle half only.
  auto* b = static_cast<unsigned char*>(p);
  Decommit(b + 16 * kPage, 32 * kPage);
  EXPECT_EQ(ReadOsStats().decommitted - before.decommitted, 32 * kPage);
  EXPECT_EQ(ResidentBytes(b + 16 * kPage, 32 * kPage), 0u);
  EXPECT_EQ(ResidentBytes(p, kBytes), 32 * kPage);
  // Still accessible, reading zero; the rest keeps its bytes.
  EXPECT_TRUE(AllZero(b + 16 * kPage, 32 * kPage));
  EXPECT_EQ(b[16 * kPage - 1], 0x5a);
  EXPECT_EQ(b[48 * kPage], 0x5a);
  b[20 * kPage] = 7;
  EXPECT_EQ(b[20 * kPage], 7);
  Release(p, kBytes);
}

// A reused large object's span is zeroed by Zero: resident pages are
// written and stay resident, the others are dropped, not faulted in (a
// 1 GiB array whose program touched two elements became 1 GiB resident
// when its span was reused, and took 10 s).
TEST(OsMemTest, ZeroWritesResidentPagesAndLeavesTheOthersUntouched) {
  constexpr size_t kBytes = kZeroByResidencyBytes * 4;
  constexpr size_t kPages = kBytes / kPage;
  void* p = Reserve(kBytes, kPage, "zero test");
  Commit(p, kBytes, "zero test");
  auto* b = static_cast<unsigned char*>(p);
  std::memset(b, 0x5a, 64 * kPage);          // resident, dirty
  b[kPages / 2 * kPage + 17] = 0x5a;         // one dirty page in the middle
  std::memset(b + kBytes - kPage, 0x5a, 8);  // and the last
  ASSERT_EQ(ResidentBytes(p, kBytes), 66 * kPage);

  Zero(p, kBytes);
  EXPECT_EQ(ResidentBytes(p, 64 * kPage), 64 * kPage) << "written in place";
  EXPECT_EQ(ResidentBytes(b + 64 * kPage, kBytes - 64 * kPage), 2 * kPage)
      << "the pages never touched stay untouched";
  EXPECT_TRUE(AllZero(b, kBytes));

  // Below the threshold it writes every byte.
  std::memset(b, 0x5a, 8 * kPage);
  Decommit(b + 8 * kPage, kBytes - 8 * kPage);
  Zero(p, 16 * kPage);
  EXPECT_EQ(ResidentBytes(p, 16 * kPage), 16 * kPage);
  EXPECT_TRUE(AllZero(b, 16 * kPage));
  Release(p, kBytes);
}

TEST(OsMemTest, ReleaseUnmapsTheRangeAndUncountsIt) {
  constexpr size_t kBytes = 16 * kPage;
  OsStats before = ReadOsStats();
  void* p = Reserve(kBytes, kPage, "release test");
  Commit(p, kBytes, "release test");
  std::memset(p, 1, kBytes);
  EXPECT_EQ(ReadOsStats().reserved - before.reserved, kBytes);
  Release(p, kBytes);
  EXPECT_TRUE(IsUnmapped(p, kBytes));
  EXPECT_EQ(ResidentBytes(p, kBytes), 0u);
  EXPECT_EQ(ReadOsStats().reserved, before.reserved);
}

TEST(OsMemTest, MapMetadataGivesZeroedWritableMemory) {
  constexpr size_t kBytes = 8 * kPage;
  OsStats before = ReadOsStats();
  void* p = MapMetadata(kBytes, "metadata test");
  OsStats after = ReadOsStats();
  EXPECT_EQ(after.reserved - before.reserved, kBytes);
  EXPECT_EQ(after.committed - before.committed, kBytes);
  EXPECT_TRUE(AllZero(p, kBytes));
  std::memset(p, 0xff, kBytes);
  EXPECT_EQ(static_cast<unsigned char*>(p)[kBytes - 1], 0xff);
  Release(p, kBytes);
}

TEST(OsMemTest, InjectedReserveFaultFailsTheSecondCallWithAMessage) {
  SetFailAfterForTesting(FaultKind::kReserve, 2);
  void* first = Reserve(kPage, kPage, "first range");
  ASSERT_NE(first, nullptr);
  OsStats before = ReadOsStats();
  try {
    Reserve(3 * kPage, kPage, "the second test range");
    FAIL() << "injected reserve fault did not fire";
  } catch (const OutOfMemoryError& e) {
    std::string what = e.what();
    EXPECT_NE(what.find("reserve"), std::string::npos) << what;
    EXPECT_NE(what.find("the second test range"), std::string::npos) << what;
    EXPECT_NE(what.find(std::to_string(3 * kPage)), std::string::npos) << what;
  }
  // A failed reserve counts nothing.
  EXPECT_EQ(ReadOsStats().reserved, before.reserved);
  // The fault fired once; calls work again.
  void* third = Reserve(kPage, kPage, "third range");
  ASSERT_NE(third, nullptr);
  Release(first, kPage);
  Release(third, kPage);
}

TEST(OsMemTest, InjectedFaultIsAStdBadAlloc) {
  SetFailAfterForTesting(FaultKind::kReserve, 1);
  EXPECT_THROW(Reserve(kPage, kPage, "bad_alloc range"), std::bad_alloc);
  void* p = Reserve(kPage, kPage, "after the fault");
  Release(p, kPage);
}

TEST(OsMemTest, InjectedCommitFaultFailsTheSecondCallWithAMessage) {
  void* p = Reserve(4 * kPage, kPage, "commit fault test");
  auto* b = static_cast<unsigned char*>(p);
  SetFailAfterForTesting(FaultKind::kCommit, 2);
  Commit(b, kPage, "first commit");
  b[0] = 1;
  OsStats before = ReadOsStats();
  try {
    Commit(b + kPage, 2 * kPage, "the second test commit");
    FAIL() << "injected commit fault did not fire";
  } catch (const std::bad_alloc& e) {
    std::string what = e.what();
    EXPECT_NE(what.find("commit"), std::string::npos) << what;
    EXPECT_NE(what.find("the second test commit"), std::string::npos) << what;
    EXPECT_NE(what.find(std::to_string(2 * kPage)), std::string::npos) << what;
  }
  EXPECT_EQ(ReadOsStats().committed, before.committed);
  // Works again; the range commits and is zero.
  Commit(b + kPage, 2 * kPage, "third commit");
  EXPECT_TRUE(AllZero(b + kPage, 2 * kPage));
  b[kPage] = 2;
  EXPECT_EQ(b[kPage], 2);
  Release(p, 4 * kPage);
}

TEST(OsMemTest, FaultInjectionOfOneKindLeavesTheOtherAlone) {
  SetFailAfterForTesting(FaultKind::kCommit, 1);
  void* p = Reserve(kPage, kPage, "kind test");  // reserve is not affected
  EXPECT_THROW(Commit(p, kPage, "kind test"), OutOfMemoryError);
  Commit(p, kPage, "kind test");
  Release(p, kPage);
}

TEST(OsMemTest, FaultInjectionCanBeDisarmed) {
  SetFailAfterForTesting(FaultKind::kReserve, 2);
  SetFailAfterForTesting(FaultKind::kReserve, 0);
  std::vector<void*> v;
  for (int i = 0; i < 4; i++) {
    EXPECT_NO_THROW(v.push_back(Reserve(kPage, kPage, "disarmed")));
  }
  for (void* p : v) Release(p, kPage);
}

TEST(OsMemTest, MapMetadataReleasesItsReservationWhenCommitFails) {
  OsStats before = ReadOsStats();
  SetFailAfterForTesting(FaultKind::kCommit, 1);
  try {
    MapMetadata(4 * kPage, "doomed metadata");
    FAIL() << "injected commit fault did not fire";
  } catch (const OutOfMemoryError& e) {
    EXPECT_NE(std::strstr(e.what(), "doomed metadata"), nullptr) << e.what();
  }
  OsStats after = ReadOsStats();
  EXPECT_EQ(after.reserved, before.reserved);
  EXPECT_EQ(after.committed, before.committed);
  void* p = MapMetadata(4 * kPage, "metadata after the fault");
  EXPECT_TRUE(AllZero(p, 4 * kPage));
  Release(p, 4 * kPage);
}

TEST(OsMemTest, AbsurdReserveThrowsWithAMessage) {
  OsStats before = ReadOsStats();
  constexpr size_t kHuge = size_t{1} << 50;
  try {
    Reserve(kHuge, kPage, "absurd range");
    FAIL() << "a 1 PiB reservation succeeded";
  } catch (const std::bad_alloc& e) {
    std::string what = e.what();
    EXPECT_NE(what.find(std::to_string(kHuge)), std::string::npos) << what;
    EXPECT_NE(what.find("absurd range"), std::string::npos) << what;
  }
  EXPECT_EQ(ReadOsStats().reserved, before.reserved);
  void* p = Reserve(kPage, kPage, "after the absurd one");
  Release(p, kPage);
}

TEST(OsMemTest, MetadataIsPopulatedWhenMapped) {
  // Metadata is read before it is written; populating it up front avoids a
  // copy-on-write fault (and TLB shootdown) per page later.
  constexpr size_t kBytes = 32 * kPage;
  void* p = MapMetadata(kBytes, "populated test");
  EXPECT_EQ(ResidentBytes(p, kBytes), kBytes);
  Release(p, kBytes);
}

TEST(OsMemTest, ResidentBytesCountsOnlyTouchedPages) {
  constexpr size_t kBytes = 32 * kPage;
  void* p = Reserve(kBytes, kPage, "resident test");
  Commit(p, kBytes, "resident test");
  EXPECT_EQ(ResidentBytes(p, kBytes), 0u);
  auto* b = static_cast<volatile unsigned char*>(p);
  for (size_t i = 0; i < 5; i++) b[i * 3 * kPage] = 1;  // pages 0,3,6,9,12
  EXPECT_EQ(ResidentBytes(p, kBytes), 5 * kPage);
  // A range that starts and ends inside pages counts whole pages.
  EXPECT_EQ(ResidentBytes(const_cast<unsigned char*>(b) + 100, 10), kPage);
  Release(p, kBytes);
}

}  // namespace
}  // namespace gc::runtime::os
