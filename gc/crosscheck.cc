// See crosscheck.h.
#include "gcrt/gc/crosscheck.h"

#include <string>

#include "gcrt/alloc/heap.h"
#include "gcrt/gc/free.h"
#include "gcrt/gc/marker.h"
#include "gcrt/runtime/check.h"

namespace gc::internal {

namespace {

std::string TypeName(const alloc::Span* s, uint32_t slot) {
  if (s->span_class == alloc::kTinySpanClass) {
    // Its pieces' types are not recorded.
    return "gcrt.tiny_block (objects under 16 bytes taken as pointer-free, "
           "whose types are not kept)";
  }
  return alloc::TypeName(s->types.Get(slot));
}

// For the word at *offset of an object of type t at *object: in an array
// (t->array_header != 0), moves both to the element that holds it and the
// offset within it; false if the word is in the array's header.
bool ToElement(const alloc::TypeInfo* t, const void** object, size_t* offset) {
  if (t->array_header == 0) return true;
  if (*offset < t->array_header) return false;
  const size_t in_elements = *offset - t->array_header;
  *object = static_cast<const unsigned char*>(*object) + t->array_header +
            in_elements / t->size * t->size;
  *offset = in_elements % t->size;
  return true;
}

// What to ask of the type whose object holds a pointer its trace missed:
// whether its own trace() visits the field, or, if it inherits a base's
// (which cannot see its fields), to declare one; an aggregate's fields are
// found at compile time, so the word is a field gcrt was not given.
std::string TraceQuestion(const alloc::TypeInfo* t, const std::string& type,
                          const void* object, size_t offset) {
  if (t != nullptr && t->trace_declared_by != nullptr &&
      ToElement(t, &object, &offset)) {
    size_t begin = 0, end = 0;
    t->trace_base_bytes(object, &begin, &end);
    if (offset >= begin && offset < end) {
      // A field of the base: its own trace missed it.
      return std::string("does ") + t->trace_declared_by + "::trace (which " +
             type + " inherits) visit that field?";
    }
    return type + " inherits its trace() from " + t->trace_declared_by +
           ", which cannot see " + type + "'s own fields: declare `void " +
           "trace(gc::Tracer& t) const override` in " + type +
           ", calling the base's and visiting its own (a container member "
           "of gc::Ptr included).";
  }
  if (t != nullptr && t->pointer_bitmap != nullptr) {
    return type +
           " is an aggregate whose gc::Ptr fields are found at compile "
           "time, and this word is none of them: a raw pointer kept in "
           "an integer, or in a field of a type gcrt takes as holding none?";
  }
  return "does " + type + "::trace visit that field?";
}

// Whether the word at `offset` of the object at `object` (of type t) lies
// in storage that holds no value now: an aggregate's disengaged optional,
// or a variant's inactive alternative, whose bytes still read as the
// pointer they last held (alloc::TypeInfo::stale_bytes).
bool StaleWord(const alloc::TypeInfo* t, const void* object, size_t offset) {
  return t != nullptr && t->stale_bytes != nullptr &&
         ToElement(t, &object, &offset) && t->stale_bytes(object, offset);
}

[[noreturn]] void ReportMissedField(const alloc::Span* from, uint32_t slot,
                                    size_t offset, uintptr_t word,
                                    uintptr_t target) {
  const alloc::Span* to = alloc::SpanOf(reinterpret_cast<void*>(target));
  const std::string from_type = TypeName(from, slot);
  // A noscan span's objects were taken as pointer-free: by a marker of
  // their own, or one inherited from a base class (`= void`).
  const std::string question =
      from->noscan()
          ? std::string(
                "its type is taken as pointer-free, so it is never "
                "scanned: ") +
                from_type +
                " declares itself pointer-free, or inherits a `using "
                "gc_pointer_free = void;` from a base class (a marker that "
                "names its class, `= ClassName`, is not inherited), or is an "
                "aggregate with no gc::Ptr field (an address kept in an "
                "integer field is data to gcrt)."
          : TraceQuestion(
                from->types.Get(slot), from_type,
                reinterpret_cast<const void*>(from->SlotAddress(slot)), offset);
  runtime::Print(
      "missed field: the object of type %s at %#lx holds at offset %zu a "
      "pointer to %#lx, in the object of type %s at %#lx that this cycle "
      "will free: %s If %s keeps the address as data, turn the check off: "
      "GCRT_DEBUG=crosscheck=0.",
      from_type.c_str(), static_cast<unsigned long>(from->SlotAddress(slot)),
      offset, static_cast<unsigned long>(word),
      TypeName(to, to->SlotIndex(target)).c_str(),
      static_cast<unsigned long>(target), question.c_str(), from_type.c_str());
  GCRT_FATAL("every GC pointer a reachable object holds is traced");
}

}  // namespace

void CrossCheckMarking() {
  alloc::PageHeap& pages = alloc::Heap::Get().pages();
  for (size_t i = 0, n = pages.SpanRecordCount(); i < n; i++) {
    alloc::Span* s = pages.SpanRecord(i);
    // Tiny blocks too: a class under 16 bytes declared pointer-free lives
    // in one, and may be the one that holds a gc::Ptr.
    if (s->state.load(std::memory_order_relaxed) != alloc::SpanState::kInUse) {
      continue;
    }
    const size_t bytes = s->slot_bytes();
    for (uint32_t w = 0; w < s->nwords; w++) {
      for (uint64_t marked = s->mark_bits[w]; marked != 0;
           marked &= marked - 1) {
        const uint32_t slot =
            w * 64 + static_cast<uint32_t>(__builtin_ctzll(marked));
        const uintptr_t obj = s->SlotAddress(slot);
        // gc::free's quarantine keeps its objects marked, and poisoned.
        if (MaybeQuarantinedWorldStopped(reinterpret_cast<const void*>(obj))) {
          continue;
        }
        const auto* words = reinterpret_cast<const uintptr_t*>(obj);
        for (size_t k = 0; k < bytes / sizeof(uintptr_t); k++) {
          const uintptr_t word = words[k];
          if (word == 0) continue;
          if (uintptr_t target = UnmarkedLiveObject(word)) {
            if (StaleWord(s->types.Get(slot),
                          reinterpret_cast<const void*>(obj),
                          k * sizeof(uintptr_t))) {
              continue;
            }
            ReportMissedField(s, slot, k * sizeof(uintptr_t), word, target);
          }
        }
      }
    }
  }
}

}  // namespace gc::internal
