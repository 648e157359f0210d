// The allocator's entry points for typed objects, apart from the Heap
// (alloc/heap.h, which includes this header): what the API's gc::make and
// gc::make_array inline or call, without making the Heap, the Centrals or
// the PageHeap visible to the programs that include the API. See
// alloc/heap.h for the overview and docs/design.md for the path.
#pragma once

#include <cstddef>
#include <cstdint>

#include "gcrt/alloc/cache.h"
#include "gcrt/alloc/size_classes.h"
#include "gcrt/alloc/span.h"
#include "gcrt/alloc/type_info.h"
#include "gcrt/runtime/base.h"

namespace gc::alloc {

// Allocates a zeroed object of `bytes` bytes of `type` (bytes may exceed
// type->size: an array). bytes == 0 allocates a distinct minimal object, as
// operator new does. Throws std::bad_alloc (with a message) when the size
// is past what can be reserved or memory is exhausted; the heap stays
// usable.
void* Allocate(const TypeInfo* type, size_t bytes);

// The smallest size class whose slots hold `size` bytes at alignment
// `align` (slots sit at base + i * class size, with base page aligned, so
// the class size must be a multiple of align), or 0 if only a large span
// will do. Meant for compile-time use; at run time SizeToClass is faster.
constexpr int SizeClassForAligned(size_t size, size_t align) {
  // Spans are only page aligned, so no slot is aligned beyond a page.
  if (size == 0 || size > kMaxSmallSize || align > kPageSize) return 0;
  for (int c = SizeToClass(size); c < kNumSizeClasses; c++) {
    if (ClassToSize(c) % align == 0) return c;
  }
  return 0;
}

// Allocates a zeroed object of `type` whose size, alignment and scan-ness
// are compile-time constants: the inline fast path. kBuild, if not null,
// returns `type` built; until a slow path calls it, `type` is only an
// address (Cache::AllocSmall).
template <uint32_t kSize, uint32_t kAlign, bool kPointerFree, bool kTrivialDtor,
          const TypeInfo* (*kBuild)() = nullptr>
GCRT_ALWAYS_INLINE void* AllocateFixed(const TypeInfo* type) {
  static_assert(kSize > 0 && kAlign > 0 && (kAlign & (kAlign - 1)) == 0);
  static_assert(kAlign <= kPageSize,
                "gcrt aligns objects to at most a page (8 KiB)");
  if constexpr (kPointerFree && kTrivialDtor && kSize < kTinySize &&
                kAlign <= 8) {
    Cache* cache = GCRT_TLS(t_cache);
    return cache->AllocTiny<kSize, kAlign>();
  } else if constexpr (kSize <= kMaxSmallSize) {
    constexpr int kClass = SizeClassForAligned(kSize, kAlign);
    if constexpr (kClass > 0) {
      constexpr uint32_t kElemSize = ClassToSize(kClass);
      Cache* cache = GCRT_TLS(t_cache);
      return cache->AllocSmall<MakeSpanClass(kClass, kPointerFree), kElemSize,
                               kSize, kBuild>(type);
    } else {
      // No class aligns it: a large span.
      return Allocate(kBuild != nullptr ? kBuild() : type, kSize);
    }
  } else {
    return Allocate(kBuild != nullptr ? kBuild() : type, kSize);
  }
}

}  // namespace gc::alloc
