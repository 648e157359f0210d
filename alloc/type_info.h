// TypeInfo: what the runtime knows about the type of a heap object. One
// immutable TypeInfo exists per C++ type allocated in the heap; the per-span
// type tables (type_table.h) record a pointer to it for every object, so the
// marker can find how to trace an object and the sweeper which destructor
// to run. See alloc/heap.h for the overview.
//
// The allocator reads only name, size, align, pointer_free and destroy. The
// collector's fields (pointer bitmap, trace function) are filled by the API
// layer when it builds the TypeInfo at compile time; the allocator stores and
// hands them back without looking inside.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

namespace gc {
class Tracer;  // api/; only named here, never used by the allocator.
}  // namespace gc

namespace gc::alloc {

struct TypeInfo;

// Collector: how the marker reads an ephemeron table (gc::WeakMap's
// storage, gc/ephemeron.h): entries of `entry_size` bytes from
// `entries_offset`, each with its value at `value_offset`, traced as
// `value` says once its key is marked; `clear_value` assigns V{} to a
// value (mark termination, for an entry whose key died).
struct EphemeronLayout {
  uint32_t entries_offset;
  uint32_t entry_size;
  uint32_t value_offset;
  const TypeInfo* value;
  void (*clear_value)(void* value);
};

struct TypeInfo {
  const char* name;   // for error messages
  uint32_t size;      // sizeof(T): one element of an array
  uint32_t align;     // alignof(T)
  bool pointer_free;  // holds no GC pointers: allocated in noscan spans
  // Runs ~T on one object; null for trivially destructible types.
  void (*destroy)(void* object);
  // Collector: words of T that hold GC pointers (bit i = word i), for types
  // whose pointers the API found at compile time; null otherwise.
  const uint64_t* pointer_bitmap;
  uint32_t pointer_bitmap_words;  // number of 64-bit words in pointer_bitmap
  // Collector: T::trace for classes that trace themselves; null otherwise.
  void (*trace)(const void* object, Tracer& tracer);
  // Nonzero for an array of T: the object starts with a uint64_t element
  // count, and the elements start this many bytes in. `destroy` then
  // destroys the whole array.
  uint32_t array_header;
  // Collector: non-null for an ephemeron table, which the marker scans as
  // the layout says (and nothing else reads as pointers).
  const EphemeronLayout* ephemeron = nullptr;
  // For messages: the base class whose trace() T inherits (one that cannot
  // see T's own fields); null when T declares its own or has none. Then
  // trace_base_bytes gives the byte range of that base in an object of T
  // (a live one: a virtual base's offset is read from the object).
  const char* trace_declared_by = nullptr;
  void (*trace_base_bytes)(const void* object, size_t* begin,
                           size_t* end) = nullptr;
  // The cross-check (gc/crosscheck.h), for an aggregate traced by a
  // function: whether byte `offset` of a live T (an element, for an
  // array) lies in storage that holds no value now, so that what it holds
  // is stale bytes, not a missed pointer: a disengaged std::optional field,
  // a std::variant field outside its active alternative. Null when the
  // layout is not known (a class with its own trace()) or has none.
  bool (*stale_bytes)(const void* object, size_t offset) = nullptr;
};

// How messages, the census and why-alive name the type of an object whose
// TypeInfo is t: `name`, as the compiler spells the C++ type;
// "gc::Array<name>" for an array of it (gc::make_array: its TypeInfo is
// the element's, with an array header); "(untyped)" for none recorded.
std::string TypeName(const TypeInfo* t);

// The type of the 16-byte blocks the tiny allocator packs small pointer-free
// objects into. Its pieces have no individual type.
extern const TypeInfo kTinyBlockType;

}  // namespace gc::alloc
