// See sys_stat.h.
#include "gcrt/runtime/sys_stat.h"

#include <malloc.h>
#include <sys/mman.h>

#include <atomic>
#include <cstdlib>
#include <string>

#include "gcrt/runtime/os_mem.h"

namespace gc::runtime {

namespace {

// Atomic: relaxed adds and subtracts from any thread; relaxed loads.
std::atomic<uint64_t> g_charged[kNumSysStats];

void* Charged(void* p, size_t bytes, SysStat stat, const char* what) {
  if (p == nullptr) {
    throw OutOfMemoryError("gcrt: out of memory: cannot allocate " +
                           std::to_string(bytes) + " bytes for " + what);
  }
  g_charged[static_cast<int>(stat)].fetch_add(::malloc_usable_size(p),
                                              std::memory_order_relaxed);
  return p;
}

}  // namespace

uint64_t ChargedSys(SysStat stat) {
  return g_charged[static_cast<int>(stat)].load(std::memory_order_relaxed);
}

void* AllocMetadata(size_t bytes, SysStat stat, const char* what) {
  return Charged(std::malloc(bytes), bytes, stat, what);
}

void* AllocZeroedMetadata(size_t bytes, SysStat stat, const char* what) {
  return Charged(std::calloc(1, bytes), bytes, stat, what);
}

void* AllocAlignedMetadata(size_t align, size_t bytes, SysStat stat,
                           const char* what) {
  return Charged(std::aligned_alloc(align, bytes), bytes, stat, what);
}

void FreeMetadata(void* p, SysStat stat) {
  if (p == nullptr) return;
  g_charged[static_cast<int>(stat)].fetch_sub(::malloc_usable_size(p),
                                              std::memory_order_relaxed);
  std::free(p);
}

void* AllocBlock(size_t bytes, SysStat stat, const char* what) {
  if (bytes < kMappedBlockBytes) return AllocMetadata(bytes, stat, what);
  const size_t mapped = (bytes + os::kOsPageSize - 1) & ~(os::kOsPageSize - 1);
  void* p = ::mmap(nullptr, mapped, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (p == MAP_FAILED) {
    throw OutOfMemoryError("gcrt: out of memory: cannot map " +
                           std::to_string(mapped) + " bytes for " + what);
  }
  g_charged[static_cast<int>(stat)].fetch_add(mapped,
                                              std::memory_order_relaxed);
  return p;
}

void FreeBlock(void* p, size_t bytes, SysStat stat) {
  if (p == nullptr) return;
  if (bytes < kMappedBlockBytes) {
    FreeMetadata(p, stat);
    return;
  }
  const size_t mapped = (bytes + os::kOsPageSize - 1) & ~(os::kOsPageSize - 1);
  ::munmap(p, mapped);
  g_charged[static_cast<int>(stat)].fetch_sub(mapped,
                                              std::memory_order_relaxed);
}

}  // namespace gc::runtime
