// See special.h.
#include "gcrt/alloc/special.h"

#include <atomic>
#include <stdexcept>
#include <string>

#include "gcrt/alloc/heap.h"
#include "gcrt/alloc/span.h"
#include "gcrt/runtime/check.h"

namespace gc::alloc {

namespace {

// Atomic: stored once (release) by the owning layer, loaded (acquire).
std::atomic<SpecialFreeHook> g_special_free_hook{nullptr};

bool Before(const Special* a, uint32_t offset, SpecialKind kind) {
  return a->offset < offset || (a->offset == offset && a->kind < kind);
}

}  // namespace

bool AddSpecial(Span* span, uintptr_t object, Special* s) {
  if (span == nullptr || !span->Contains(object)) {
    throw std::invalid_argument("gcrt: special for " + std::to_string(object) +
                                ": not in the given span");
  }
  uint32_t offset = static_cast<uint32_t>(object - span->base);
  uint32_t slot = span->SlotIndex(object);
  if (slot >= span->nelems || (span->SlotAddress(slot) != object &&
                               span->span_class != kTinySpanClass)) {
    throw std::invalid_argument("gcrt: special for " + std::to_string(object) +
                                ": not the start of an object");
  }
  s->offset = offset;
  runtime::MutexLock lock(&span->specials_lock);
  Special* prev = nullptr;
  Special* cur = span->specials.load(std::memory_order_relaxed);
  while (cur != nullptr && Before(cur, offset, s->kind)) {
    prev = cur;
    cur = cur->next;
  }
  if (cur != nullptr && cur->offset == offset && cur->kind == s->kind) {
    return false;
  }
  s->next = cur;
  if (prev == nullptr) {
    span->specials.store(s, std::memory_order_relaxed);
  } else {
    prev->next = s;
  }
  return true;
}

// Unlinks the run of specials from `first` up to (not including) `end`,
// whose predecessor is `prev`.
static void UnlinkLocked(Span* span, Special* prev, Special* end)
    GCRT_REQUIRES(span->specials_lock) {
  if (prev == nullptr) {
    span->specials.store(end, std::memory_order_relaxed);
  } else {
    prev->next = end;
  }
}

Span* SpanForSpecial(const void* object, const char* what) {
  auto p = reinterpret_cast<uintptr_t>(object);
  Span* s = SpanOf(object);
  if (s == nullptr) {
    throw std::invalid_argument(std::string("gcrt: ") + what + " of " +
                                HexAddress(p) +
                                ": not a pointer into the GC heap");
  }
  uint32_t slot = s->SlotIndex(p);
  if (slot < s->nelems && s->SlotAddress(slot) != p &&
      s->span_class != kTinySpanClass) {
    throw std::invalid_argument(
        std::string("gcrt: ") + what + " of " + HexAddress(p) +
        ": not the start of a GC object: it points " +
        std::to_string(p - s->SlotAddress(slot)) + " bytes into the one at " +
        HexAddress(s->SlotAddress(slot)) +
        " (a member's address, or a base class at a nonzero offset: "
        "multiple inheritance, a gc::Root<Base> made from a "
        "gc::Root<Derived>). Pass the object as gc::make returned it, "
        "through a handle of the type it was made with");
  }
  if (slot >= s->nelems) {
    throw std::invalid_argument(std::string("gcrt: ") + what + " of " +
                                HexAddress(p) +
                                ": not the start of a GC object (use the "
                                "pointer gc::make returned)");
  }
  return s;
}

Special* FindSpecial(Span* span, uintptr_t object, SpecialKind kind) {
  if (span->specials.load(std::memory_order_relaxed) == nullptr) return nullptr;
  uint32_t offset = static_cast<uint32_t>(object - span->base);
  runtime::MutexLock lock(&span->specials_lock);
  Special* s = span->specials.load(std::memory_order_relaxed);
  while (s != nullptr && Before(s, offset, kind)) s = s->next;
  return s != nullptr && s->offset == offset && s->kind == kind ? s : nullptr;
}

Special* RemoveSpecial(Span* span, uintptr_t object, SpecialKind kind) {
  uint32_t offset = static_cast<uint32_t>(object - span->base);
  runtime::MutexLock lock(&span->specials_lock);
  Special* prev = nullptr;
  for (Special* s = span->specials.load(std::memory_order_relaxed);
       s != nullptr; prev = s, s = s->next) {
    if (s->offset == offset && s->kind == kind) {
      UnlinkLocked(span, prev, s->next);
      s->next = nullptr;
      return s;
    }
    if (!Before(s, offset, kind)) break;
  }
  return nullptr;
}

Special* TakeSpecials(Span* span, uint32_t offset, uint32_t size) {
  if (span->specials.load(std::memory_order_relaxed) == nullptr) return nullptr;
  const uint64_t end = uint64_t{offset} + size;
  runtime::MutexLock lock(&span->specials_lock);
  Special* prev = nullptr;
  Special* s = span->specials.load(std::memory_order_relaxed);
  while (s != nullptr && s->offset < offset) {
    prev = s;
    s = s->next;
  }
  if (s == nullptr || s->offset >= end) return nullptr;
  Special* first = s;
  Special* last = s;
  while (last->next != nullptr && last->next->offset < end) {
    last = last->next;
  }
  UnlinkLocked(span, prev, last->next);
  last->next = nullptr;
  return first;
}

Special* TakeSpecialsOfDead(Span* span) {
  if (span->specials.load(std::memory_order_relaxed) == nullptr) return nullptr;
  runtime::MutexLock lock(&span->specials_lock);
  Special* taken = nullptr;
  Special** tail = &taken;
  Special* prev = nullptr;
  Special* s = span->specials.load(std::memory_order_relaxed);
  while (s != nullptr) {
    Special* next = s->next;
    const uint32_t slot = span->SlotIndex(span->base + s->offset);
    const uint64_t bit = uint64_t{1} << (slot % 64);
    if ((span->alloc_bits[slot / 64] & ~span->mark_bits[slot / 64] & bit) !=
        0) {
      UnlinkLocked(span, prev, next);
      s->next = nullptr;
      *tail = s;
      tail = &s->next;
    } else {
      prev = s;
    }
    s = next;
  }
  return taken;
}

SpecialFreeHook SetSpecialFreeHook(SpecialFreeHook hook) {
  return g_special_free_hook.exchange(hook, std::memory_order_acq_rel);
}

void ReleaseSpecials(Special* list) {
  if (list == nullptr) return;
  SpecialFreeHook hook = g_special_free_hook.load(std::memory_order_acquire);
  GCRT_CHECK(hook != nullptr && "specials exist only with an owner's hook");
  hook(list);
}

}  // namespace gc::alloc
