// Memory gcrt takes for its own use, charged by purpose, as Go charges
// every byte it obtains to a sysMemStat (mstats.go) and reports their sum as
// MemStats.Sys. gc::Stats::sys is the sum of its parts (api/gc.h): the heap
// and the metadata gcrt maps itself are counted by their owners (the page
// heap, the span pool, the page map, the gcBits arenas), and runtime/os_mem.h
// counts the same mappings independently, at the system call. Metadata kept
// in the C++ heap (caches, processor records, type tables, mark work
// buffers, specials, handle arenas) is charged here, block by block, at its
// usable size (malloc_usable_size), so the charge and the refund of a block
// always agree without the caller keeping its size.
//
// What is not charged: gcrt's few process-lifetime singletons (the heap,
// collector and sweeper objects; fixed size, allocated once) and the growth
// of standard containers inside them (the finalizer queue, the
// quarantine's set); a program sees their cost in its malloc statistics.
#pragma once

#include <cstddef>
#include <cstdint>
#include <new>

namespace gc::runtime {

// gc::Stats names (api/gc.h) for what each charges.
enum class SysStat : int {
  kCache = 0,   // cache_sys: Processor records and their allocation Caches
  kGc = 1,      // gc_sys (its C++-heap part): type tables, mark work buffers
  kHandle = 2,  // handle_sys: handle arenas, their chunks, construction stacks
  kOther = 3,   // other_sys: specials, weak cells, heap arena records
};
inline constexpr int kNumSysStats = 4;

// Bytes charged to `stat` now (blocks allocated and not yet freed). Atomic
// counters: relaxed adds and subtracts from any thread, relaxed loads.
uint64_t ChargedSys(SysStat stat);

// malloc(bytes) charged to `stat`; throws OutOfMemoryError naming `what`.
void* AllocMetadata(size_t bytes, SysStat stat, const char* what);
// calloc, charged the same way.
void* AllocZeroedMetadata(size_t bytes, SysStat stat, const char* what);
// aligned_alloc(align, bytes), charged the same way.
void* AllocAlignedMetadata(size_t align, size_t bytes, SysStat stat,
                           const char* what);
// Frees a block from one of the three above and refunds its charge.
// Null does nothing.
void FreeMetadata(void* p, SysStat stat);

// A block of `bytes` for a container of metadata that may grow large (the
// marker's lists of deferred objects, tens of MiB in a cycle that defers
// millions): from malloc below kMappedBlockBytes, mapped from the OS from
// there up and unmapped when freed, so that memory goes back to the OS at
// once (glibc keeps a large freed block in its arena once its mmap
// threshold has risen past it: 105 MiB of a program's RSS after such
// cycles). Charged to `stat` either way. FreeBlock takes the size asked.
inline constexpr size_t kMappedBlockBytes = size_t{256} << 10;
void* AllocBlock(size_t bytes, SysStat stat, const char* what);
void FreeBlock(void* p, size_t bytes, SysStat stat);

// A standard allocator over AllocBlock and FreeBlock.
template <typename T, SysStat kStat>
struct MetadataAllocator {
  using value_type = T;
  template <typename U>
  struct rebind {
    using other = MetadataAllocator<U, kStat>;
  };
  MetadataAllocator() = default;
  template <typename U>
  MetadataAllocator(const MetadataAllocator<U, kStat>&) noexcept {}
  T* allocate(size_t n) {
    return static_cast<T*>(AllocBlock(n * sizeof(T), kStat, "metadata list"));
  }
  void deallocate(T* p, size_t n) noexcept {
    FreeBlock(p, n * sizeof(T), kStat);
  }
  friend bool operator==(const MetadataAllocator&,
                         const MetadataAllocator&) noexcept {
    return true;
  }
};

}  // namespace gc::runtime

// Inside class T of gcrt's metadata: `new T` and `delete` go through
// AllocMetadata and FreeMetadata, charged to SysStat::k<stat>. Only for
// classes malloc aligns (alignof(T) <= 16): an over-aligned class would
// get memory aligned to 16 only (place it with AllocAlignedMetadata).
// Placement new stays uncharged: the caller owns that memory.
#define GCRT_CHARGED_TO(T, stat)                                             \
  static void* operator new(size_t bytes) {                                  \
    static_assert(alignof(T) <= __STDCPP_DEFAULT_NEW_ALIGNMENT__,            \
                  "GCRT_CHARGED_TO: " #T " is over-aligned");                \
    return ::gc::runtime::AllocMetadata(bytes, ::gc::runtime::SysStat::stat, \
                                        #T);                                 \
  }                                                                          \
  static void* operator new(size_t bytes, const std::nothrow_t&) noexcept {  \
    try {                                                                    \
      return operator new(bytes);                                            \
    } catch (const std::bad_alloc&) {                                        \
      return nullptr;                                                        \
    }                                                                        \
  }                                                                          \
  static void* operator new[](size_t bytes) { return operator new(bytes); }  \
  static void* operator new[](size_t bytes,                                  \
                              const std::nothrow_t& t) noexcept {            \
    return operator new(bytes, t);                                           \
  }                                                                          \
  static void* operator new(size_t, void* place) noexcept { return place; }  \
  static void operator delete(void* p) {                                     \
    ::gc::runtime::FreeMetadata(p, ::gc::runtime::SysStat::stat);            \
  }                                                                          \
  static void operator delete[](void* p) { operator delete(p); }
