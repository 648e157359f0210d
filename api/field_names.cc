// See api/internal/field_names.h.
#include "gcrt/internal/field_names.h"

#include <atomic>
#include <cstring>

#include "gcrt/runtime/check.h"

namespace gc::internal {

namespace {

// The head of the list of every type's names. Constant-initialized (the
// macros publish at static initialization, in any order); pushed by
// PublishFieldNames (release), read by FieldNameAt (acquire). Nodes are
// never removed.
constinit std::atomic<const FieldNameList*> g_field_names{nullptr};

const FieldNameList* ListFor(const alloc::TypeInfo* holder) {
  for (const FieldNameList* l = g_field_names.load(std::memory_order_acquire);
       l != nullptr; l = l->next) {
    const alloc::TypeInfo* t = l->type();
    // A gc::Array<T>'s TypeInfo is a copy of T's (api/make.h): the same
    // name, from T's TypeName.
    if (t == holder || (holder->array_header != 0 && t->name == holder->name &&
                        t->size == holder->size)) {
      return l;
    }
  }
  return nullptr;
}

// Appends to *out the name of byte `offset` of an object with names `list`
// ("left", "kids[2].left"); false if no listed field holds it.
bool AppendField(const FieldNameList* list, uint64_t offset, std::string* out) {
  for (size_t i = 0; i < list->count; i++) {
    const NamedField& f = list->fields[i];
    if (offset < f.offset || offset >= uint64_t{f.offset} + f.size) continue;
    *out += f.name;
    uint64_t inner = offset - f.offset;
    if (f.element_size != 0) {
      // Appended piecewise: g++ 12 at -O2 warns (-Wrestrict, a false
      // positive) on "[" + std::to_string(...).
      *out += '[';
      *out += std::to_string(inner / f.element_size);
      *out += ']';
      inner %= f.element_size;
    }
    if (const FieldNameList* nested = *f.nested) {
      std::string deeper;
      if (AppendField(nested, inner, &deeper)) *out += "." + deeper;
    }
    return true;
  }
  return false;
}

}  // namespace

void PublishFieldNames(FieldNameList* list, const FieldNameList** slot,
                       const NamedField* fields, size_t count) {
  if (*slot != nullptr) {
    bool same = list->count == count;
    for (size_t i = 0; same && i < count; i++) {
      same = std::strcmp(list->fields[i].name, fields[i].name) == 0 &&
             list->fields[i].offset == fields[i].offset;
    }
    if (!same) {
      runtime::Print("GCRT_FIELD_NAMES(%s, ...) given twice, differently",
                     list->type_name);
      GCRT_FATAL("one list of field names per type");
    }
    return;
  }
  *slot = list;
  const FieldNameList* head = g_field_names.load(std::memory_order_relaxed);
  do {
    list->next = head;
  } while (!g_field_names.compare_exchange_weak(
      head, list, std::memory_order_release, std::memory_order_relaxed));
}

std::string FieldNameAt(const alloc::TypeInfo* holder, int64_t offset) {
  if (holder == nullptr || offset < 0) return {};
  uint64_t at = static_cast<uint64_t>(offset);
  std::string out;
  if (holder->array_header != 0) {
    // A gc::Array<T>: the element, then its field.
    if (at < holder->array_header || holder->size == 0) return {};
    at -= holder->array_header;
    out = '[';  // piecewise, as in AppendField
    out += std::to_string(at / holder->size);
    out += ']';
    at %= holder->size;
    const FieldNameList* list = ListFor(holder);
    std::string field;
    if (list != nullptr && AppendField(list, at, &field)) out += "." + field;
    return out;
  }
  const FieldNameList* list = ListFor(holder);
  if (list == nullptr || !AppendField(list, at, &out)) return {};
  return out;
}

}  // namespace gc::internal
