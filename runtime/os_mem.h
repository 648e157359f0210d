// The operating system's memory, as the page heap and the metadata allocators
// see it. Address space is reserved in large ranges (PROT_NONE, no memory
// used), committed on use (read-write), decommitted when idle (the pages go
// back to the OS but the range stays mapped and reads as zero), and released
// (unmapped) only for ranges gcrt will never touch again.
//
// Every failure surfaces as OutOfMemoryError, a std::bad_alloc carrying a
// message that says what was asked for and why it failed; nothing crashes.
//
// Fault injection (tests only): SetFailAfterForTesting(kind, n) makes the
// n-th next call of that kind fail as if the OS had refused it.
#pragma once

#include <cstddef>
#include <cstdint>
#include <new>
#include <string>

namespace gc::runtime {

class OutOfMemoryError : public std::bad_alloc {
 public:
  explicit OutOfMemoryError(std::string message)
      : message_(std::move(message)) {}
  const char* what() const noexcept override { return message_.c_str(); }

 private:
  std::string message_;
};

namespace os {

inline constexpr size_t kOsPageSize = 4096;
inline constexpr size_t kHugePageSize = size_t{2} << 20;

// Reserves `bytes` of address space aligned to `align` (a power of two >= the
// OS page). The range is inaccessible until committed. `guard_below` bytes
// (whole OS pages) just below it are reserved too and never committed, so
// no other mapping ends at the returned address; Release(p - guard_below,
// guard_below + bytes) gives both back.
void* Reserve(size_t bytes, size_t align, const char* what,
              size_t guard_below = 0);

// Makes [p, p+bytes) readable and writable; its first touch reads zero.
void Commit(void* p, size_t bytes, const char* what);

// Returns the physical pages of [p, p+bytes) to the OS. The range stays
// accessible and reads as zero when next touched. Returns false (after
// printing why) if the OS refused: then the memory keeps its contents.
bool Decommit(void* p, size_t bytes);

// Unmaps [p, p+bytes).
void Release(void* p, size_t bytes);

// Zeroes [p, p+bytes) of committed private memory (a large object's span
// reused). From kZeroByResidencyBytes up it writes only the pages that are
// resident (mincore), and drops the others (MADV_DONTNEED: a page never
// touched, released, or swapped out reads as zero when next touched):
// writing zeros to memory the program may never touch would fault in all
// of it (a 1 GiB array reused after a collection, 2 of whose elements the
// program touched, made 1 GiB resident and took 10 s on a slow VM).
// Resident pages are written (those that do not read zero already), not
// dropped, since the program likely reuses them at once, and a dropped
// page costs a fault each time.
inline constexpr size_t kZeroByResidencyBytes = size_t{1} << 20;
void Zero(void* p, size_t bytes);

// Reserve + Commit of memory for gcrt's own metadata (never a GC object).
// Under AddressSanitizer the mapping is a LeakSanitizer root region (see
// ScanForLeaks). Populated (resident at once) unless `populate` is false:
// for sparse tables of which a program uses a few pages (the page map's
// root and leaves, the table of span record chunks), whose pages become
// resident only as they are first touched. Such a caller writes a page
// before it reads it where it can: a page first read maps the shared zero
// page, and the first write then takes a copy-on-write fault.
void* MapMetadata(size_t bytes, const char* what, bool populate = true);

// Makes the pages of [p, p+bytes) of an unpopulated metadata mapping
// resident and writable without changing their contents
// (MADV_POPULATE_WRITE; on a kernel without it, an atomic add of 0 to a
// word of each page: a write fault, never the zero page).
void PrefaultMetadata(void* p, size_t bytes);

// Under AddressSanitizer, makes LeakSanitizer scan [p, p+bytes) for pointers
// to malloc'd blocks (it scans only stacks, TLS, globals and the malloc heap,
// not gcrt's own mappings): span records point at malloc'd type tables and
// special records, GC objects at what their members own (a std::vector's
// buffer), and none of that is a leak while the record or object lives.
// Unreadable parts are skipped. Only for ranges never unmapped (metadata,
// heap arenas). Also in a gcrt built without AddressSanitizer linked into a
// program built with it (LeakSanitizer's entry point is looked up weakly);
// a no-op without LeakSanitizer.
void ScanForLeaks(const void* p, size_t bytes);

enum class FaultKind { kReserve = 0, kCommit = 1 };
// The n-th next call of `kind` (1 = the next one) fails, and, `sticky`,
// every later one too until the next call of this; 0 disables.
void SetFailAfterForTesting(FaultKind kind, uint64_t n, bool sticky = false);
// What SetFailAfterForTesting armed that has not fired yet: 0 once a
// single fault fired (1 while a sticky one fires).
uint64_t FaultArmedForTesting(FaultKind kind);

// Process-wide accounting, in bytes. Atomic counters: any thread updates them
// with relaxed adds; readers get a recent value.
struct OsStats {
  uint64_t reserved;
  uint64_t committed;
  uint64_t decommitted;  // cumulative bytes handed back by Decommit
};
OsStats ReadOsStats();

// Resident bytes of [p, p+bytes) according to mincore(2).
size_t ResidentBytes(const void* p, size_t bytes);

}  // namespace os
}  // namespace gc::runtime
