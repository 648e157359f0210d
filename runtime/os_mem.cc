// See os_mem.h.
#include "gcrt/runtime/os_mem.h"

#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstring>
#include <vector>

#include "gcrt/runtime/check.h"

#if GCRT_ASAN
#include <sanitizer/lsan_interface.h>
#else
// A program built with AddressSanitizer links a gcrt built without it:
// LeakSanitizer is there when this resolves (its runtime defines it).
extern "C" void __lsan_register_root_region(const void* p, size_t size)
    __attribute__((weak));
#endif

namespace gc::runtime::os {

namespace {

// Atomic: tests store, any thread decrements with a CAS loop. 0 = no fault.
std::atomic<uint64_t> g_fail_after[2];
// Whether a fault, once it fired, fires again at every later call.
std::atomic<bool> g_fail_sticky[2];

std::atomic<uint64_t> g_reserved{0};
std::atomic<uint64_t> g_committed{0};
std::atomic<uint64_t> g_decommitted{0};

bool InjectedFault(FaultKind kind) {
  auto& counter = g_fail_after[static_cast<int>(kind)];
  uint64_t n = counter.load(std::memory_order_relaxed);
  while (n != 0) {
    if (counter.compare_exchange_weak(n, n - 1, std::memory_order_relaxed)) {
      if (n == 1 && g_fail_sticky[static_cast<int>(kind)].load(
                        std::memory_order_relaxed)) {
        counter.store(1, std::memory_order_relaxed);
      }
      return n == 1;
    }
  }
  return false;
}

[[noreturn]] void Fail(const char* op, const char* what, size_t bytes,
                       int err) {
  throw OutOfMemoryError(std::string("gcrt: out of memory: cannot ") + op +
                         " " + std::to_string(bytes) + " bytes for " + what +
                         ": " + std::strerror(err));
}

}  // namespace

void* Reserve(size_t bytes, size_t align, const char* what,
              size_t guard_below) {
  GCRT_CHECK(align >= kOsPageSize && (align & (align - 1)) == 0);
  GCRT_CHECK(guard_below % kOsPageSize == 0);
  if (bytes == 0 || bytes > (size_t{1} << 46))
    Fail("reserve", what, bytes, ENOMEM);
  if (InjectedFault(FaultKind::kReserve)) Fail("reserve", what, bytes, ENOMEM);
  // Whole OS pages only, so the trimming below unmaps exactly the padding.
  bytes = (bytes + kOsPageSize - 1) & ~(kOsPageSize - 1);
  const size_t kept = guard_below + bytes;
  size_t padded = kept + (align > kOsPageSize ? align : 0);
  void* p = ::mmap(nullptr, padded, PROT_NONE,
                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (p == MAP_FAILED) Fail("reserve", what, bytes, errno);
  uintptr_t start = reinterpret_cast<uintptr_t>(p);
  uintptr_t aligned =
      (start + guard_below + align - 1) & ~(uintptr_t{align} - 1);
  if (padded != kept) {
    // Trim the head and the tail so only [aligned - guard, +bytes) stays.
    const uintptr_t head_end = aligned - guard_below;
    if (head_end > start) ::munmap(p, head_end - start);
    uintptr_t end = aligned + bytes;
    uintptr_t padded_end = start + padded;
    if (padded_end > end)
      ::munmap(reinterpret_cast<void*>(end), padded_end - end);
  }
  g_reserved.fetch_add(kept, std::memory_order_relaxed);
  return reinterpret_cast<void*>(aligned);
}

void Commit(void* p, size_t bytes, const char* what) {
  if (InjectedFault(FaultKind::kCommit)) Fail("commit", what, bytes, ENOMEM);
  if (::mprotect(p, bytes, PROT_READ | PROT_WRITE) != 0) {
    Fail("commit", what, bytes, errno);
  }
  g_committed.fetch_add(bytes, std::memory_order_relaxed);
}

bool Decommit(void* p, size_t bytes) {
  // MADV_DONTNEED frees the pages at once and keeps the range usable; a later
  // touch faults in a zero page, so the span it belongs to needs no zeroing.
  if (::madvise(p, bytes, MADV_DONTNEED) != 0) {
    Print("madvise(%p, %zu) failed: %s", p, bytes, std::strerror(errno));
    return false;
  }
  g_decommitted.fetch_add(bytes, std::memory_order_relaxed);
  return true;
}

void Release(void* p, size_t bytes) {
  bytes = (bytes + kOsPageSize - 1) & ~(kOsPageSize - 1);
  GCRT_CHECK(::munmap(p, bytes) == 0);
  g_reserved.fetch_sub(bytes, std::memory_order_relaxed);
}

namespace {

// Writes zeros over a resident page unless it reads zero already: a page
// the program only read maps the shared zero page, and writing it would
// allocate a page of its own. A dirty page is usually dirty at its start,
// where the check stops.
void ZeroResidentPage(uint64_t* page) {
  for (size_t i = 0; i < kOsPageSize / sizeof(uint64_t); i++) {
    if (page[i] != 0) {
      std::memset(page + i, 0, kOsPageSize - i * sizeof(uint64_t));
      return;
    }
  }
}

}  // namespace

void Zero(void* p, size_t bytes) {
  auto start = reinterpret_cast<uintptr_t>(p);
  const uintptr_t end = start + bytes;
  if (bytes < kZeroByResidencyBytes || start % kOsPageSize != 0 ||
      end % kOsPageSize != 0) {
    std::memset(p, 0, bytes);
    return;
  }
  // A window of the range at a time, so the residency vector is on the
  // stack (a 1 GiB span has 262,144 pages).
  constexpr size_t kWindowPages = 4096;
  unsigned char resident[kWindowPages];
  for (uintptr_t window = start; window < end;) {
    const size_t pages =
        std::min<size_t>(kWindowPages, (end - window) / kOsPageSize);
    const size_t window_bytes = pages * kOsPageSize;
    if (::mincore(reinterpret_cast<void*>(window), window_bytes, resident) !=
        0) {
      std::memset(reinterpret_cast<void*>(window), 0, window_bytes);
      window += window_bytes;
      continue;
    }
    // Runs of pages with the same residency: written, or dropped.
    for (size_t i = 0; i < pages;) {
      const bool in_memory = resident[i] & 1;
      size_t j = i + 1;
      while (j < pages && (resident[j] & 1) == in_memory) j++;
      void* run = reinterpret_cast<void*>(window + i * kOsPageSize);
      const size_t run_bytes = (j - i) * kOsPageSize;
      if (in_memory) {
        for (size_t k = i; k < j; k++) {
          ZeroResidentPage(
              reinterpret_cast<uint64_t*>(window + k * kOsPageSize));
        }
      } else if (::madvise(run, run_bytes, MADV_DONTNEED) != 0) {
        std::memset(run, 0, run_bytes);
      }
      i = j;
    }
    window += window_bytes;
  }
}

void* MapMetadata(size_t bytes, const char* what, bool populate) {
  // One read-write mmap, not Reserve + Commit: a new mapping needs no TLB
  // shootdown, an mprotect in a multi-threaded process does.
  if (InjectedFault(FaultKind::kReserve)) Fail("reserve", what, bytes, ENOMEM);
  if (InjectedFault(FaultKind::kCommit)) Fail("commit", what, bytes, ENOMEM);
  bytes = (bytes + kOsPageSize - 1) & ~(kOsPageSize - 1);
  // MAP_POPULATE: metadata is read before it is written (bit vectors, page
  // map entries), and a first read maps the shared zero page, so the first
  // write would take a copy-on-write fault with a TLB shootdown of every
  // other core running this process. Populated pages are writable at once.
  void* p = ::mmap(nullptr, bytes, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS | (populate ? MAP_POPULATE : 0),
                   -1, 0);
  if (p == MAP_FAILED) Fail("map", what, bytes, errno);
  g_reserved.fetch_add(bytes, std::memory_order_relaxed);
  g_committed.fetch_add(bytes, std::memory_order_relaxed);
  ScanForLeaks(p, bytes);
  return p;
}

void PrefaultMetadata(void* p, size_t bytes) {
  if (bytes == 0) return;
  uintptr_t start = reinterpret_cast<uintptr_t>(p) & ~(kOsPageSize - 1);
  uintptr_t end = (reinterpret_cast<uintptr_t>(p) + bytes + kOsPageSize - 1) &
                  ~(kOsPageSize - 1);
#ifdef MADV_POPULATE_WRITE
  if (::madvise(reinterpret_cast<void*>(start), end - start,
                MADV_POPULATE_WRITE) == 0) {
    return;
  }
#endif
  for (uintptr_t a = start; a < end; a += kOsPageSize) {
    __atomic_fetch_add(reinterpret_cast<uint64_t*>(a), 0, __ATOMIC_RELAXED);
  }
}

void ScanForLeaks(const void* p, size_t bytes) {
#if GCRT_ASAN
  __lsan_register_root_region(p, bytes);
#else
  if (&__lsan_register_root_region != nullptr) {
    __lsan_register_root_region(p, bytes);
  }
#endif
}

void SetFailAfterForTesting(FaultKind kind, uint64_t n, bool sticky) {
  g_fail_sticky[static_cast<int>(kind)].store(sticky,
                                              std::memory_order_relaxed);
  g_fail_after[static_cast<int>(kind)].store(n, std::memory_order_relaxed);
}

uint64_t FaultArmedForTesting(FaultKind kind) {
  return g_fail_after[static_cast<int>(kind)].load(std::memory_order_relaxed);
}

OsStats ReadOsStats() {
  return OsStats{g_reserved.load(std::memory_order_relaxed),
                 g_committed.load(std::memory_order_relaxed),
                 g_decommitted.load(std::memory_order_relaxed)};
}

size_t ResidentBytes(const void* p, size_t bytes) {
  uintptr_t start = reinterpret_cast<uintptr_t>(p) & ~(kOsPageSize - 1);
  uintptr_t end = (reinterpret_cast<uintptr_t>(p) + bytes + kOsPageSize - 1) &
                  ~(kOsPageSize - 1);
  size_t pages = (end - start) / kOsPageSize;
  std::vector<unsigned char> vec(pages);
  if (::mincore(reinterpret_cast<void*>(start), end - start, vec.data()) != 0) {
    return 0;
  }
  size_t resident = 0;
  for (unsigned char v : vec) resident += (v & 1) ? kOsPageSize : 0;
  return resident;
}

}  // namespace gc::runtime::os
