// Internal to gcrt: not part of the API, may change.
//
// The TypeInfo of a C++ type (alloc/type_info.h), built once per type from
// what the compiler knows: size, alignment, destructor, whether it can hold
// GC pointers, and how the marker finds them: a pointer bitmap for
// aggregates whose gc::Ptr fields reflection finds at compile time
// (api/internal/reflect.h), a trace function otherwise. See api/trace.h for the
// rules.
#pragma once

#include <cstdint>
#include <string_view>
#include <type_traits>

#include "gcrt/alloc/type_info.h"
#include "gcrt/trace.h"

namespace gc::internal {

template <typename T>
struct TypeName {
  static constexpr std::string_view kView = TypeNameView<T>();
  static constexpr auto kStorage = [] {
    std::array<char, kView.size() + 1> a{};
    for (size_t i = 0; i < kView.size(); i++) a[i] = kView[i];
    return a;
  }();
  static constexpr const char* Get() { return kStorage.data(); }
};

template <typename T>
constexpr bool Bitmappable();

template <typename T, size_t... I>
constexpr bool AllFieldsBitmappable(std::index_sequence<I...>) {
  return (Bitmappable<reflect::FieldType<T, I>>() && ...);
}

// Whether every GC pointer a T holds sits at a fixed offset: T is a
// gc::Ptr, pointer-free, a std::array of such, or an aggregate of such.
template <typename T>
constexpr bool Bitmappable() {
  if constexpr (std::is_reference_v<T>) {
    // A reference member: the bitmap is built from an unbuilt layout, where
    // binding one would bind a null reference. Its holder is traced by a
    // function instead, on live objects.
    return false;
  } else if constexpr (IsGcPointer<T>::value) {
    return std::is_same_v<T, Ptr<typename T::element_type>>;
  } else if constexpr (!ContainsGcPointers<T>()) {
    return true;
  } else if constexpr (HasTrace<T>) {
    return false;
  } else if constexpr (IsStdArray<T>::value) {
    return Bitmappable<typename T::value_type>();
  } else if constexpr (std::is_array_v<T>) {
    return Bitmappable<std::remove_cv_t<std::remove_extent_t<T>>>();
  } else if constexpr (ReflectedAggregate<T>) {
    return AllFieldsBitmappable<T>(
        std::make_index_sequence<reflect::kFieldCount<T>>());
  } else {
    return false;
  }
}

// Sets the bits of the words of a T at byte offset `base` that hold GC
// pointers. The fields of a T laid out at `object` are named by reference
// (never constructed or read: only their addresses are used).
template <typename T>
void FillBitmap(uint64_t* bitmap, const unsigned char* object, size_t base) {
  if constexpr (IsGcPointer<T>::value) {
    size_t word = base / sizeof(void*);
    bitmap[word / 64] |= uint64_t{1} << (word % 64);
  } else if constexpr (!ContainsGcPointers<T>()) {
    // Nothing here.
  } else if constexpr (IsStdArray<T>::value) {
    using E = typename T::value_type;
    for (size_t i = 0; i < std::tuple_size_v<T>; i++) {
      FillBitmap<E>(bitmap, object, base + i * sizeof(E));
    }
  } else if constexpr (std::is_array_v<T>) {
    using E = std::remove_cv_t<std::remove_extent_t<T>>;
    for (size_t i = 0; i < std::extent_v<T>; i++) {
      FillBitmap<E>(bitmap, object, base + i * sizeof(E));
    }
  } else {
    const T& value = *reinterpret_cast<const T*>(object + base);
    reflect::ForEachField(value, [&](const auto& field) {
      using F = std::remove_cvref_t<decltype(field)>;
      // Through volatile: a volatile field's address keeps its qualifier.
      size_t offset = reinterpret_cast<const volatile unsigned char*>(
                          std::addressof(field)) -
                      object;
      FillBitmap<F>(bitmap, object, offset);
    });
  }
}

template <typename T>
void DestroyOne(void* object) {
  static_cast<T*>(object)->~T();
}

template <typename T>
void TraceOne(const void* object, Tracer& tracer) {
  TraceValue(tracer, *static_cast<const T*>(object));
}

// Whether byte `offset` of v lies in storage that holds no value now (see
// alloc::TypeInfo::stale_bytes): inside a disengaged optional, or inside a
// variant but outside its active alternative, looking through aggregates
// and arrays.
template <typename T>
bool StaleIn(const T& v, size_t offset) {
  const auto offset_of = [&v](const auto& part) {
    return static_cast<size_t>(
        reinterpret_cast<const volatile unsigned char*>(std::addressof(part)) -
        reinterpret_cast<const volatile unsigned char*>(std::addressof(v)));
  };
  if constexpr (IsOptional<T>::value) {
    if (!v.has_value()) return true;
    const size_t o = offset_of(*v);
    return offset >= o && offset < o + sizeof(*v) && StaleIn(*v, offset - o);
  } else if constexpr (IsVariant<T>::value) {
    if (v.valueless_by_exception()) return true;
    return std::visit(
        [&](const auto& alternative) {
          using Alternative = std::remove_cvref_t<decltype(alternative)>;
          // One that holds no GC pointer (std::monostate, an int) leaves
          // the last one's bytes in the storage it does not overwrite.
          if constexpr (!ContainsGcPointers<Alternative>()) return true;
          const size_t o = offset_of(alternative);
          return offset < o || offset >= o + sizeof(alternative) ||
                 StaleIn(alternative, offset - o);
        },
        v);
  } else if constexpr (IsStdArray<T>::value) {
    if (v.empty()) return false;
    const size_t i = offset / sizeof(v[0]);
    return i < v.size() && StaleIn(v[i], offset % sizeof(v[0]));
  } else if constexpr (std::is_array_v<T>) {
    const size_t i = offset / sizeof(v[0]);
    return i < std::extent_v<T> && StaleIn(v[i], offset % sizeof(v[0]));
  } else if constexpr (ReflectedAggregate<T> && !HasTrace<T>) {
    bool stale = false;
    reflect::ForEachField(v, [&](const auto& field) {
      const size_t o = offset_of(field);
      if (offset >= o && offset < o + sizeof(field)) {
        stale = StaleIn(field, offset - o);
      }
    });
    return stale;
  } else {
    return false;
  }
}

template <typename T>
bool StaleBytes(const void* object, size_t offset) {
  return StaleIn(*static_cast<const T*>(object), offset);
}

template <typename T>
struct TypeInfoHolder {
  static_assert(CheckTraceable<T>());
  static_assert(std::is_nothrow_destructible_v<T>,
                "gcrt: this type's destructor may throw (noexcept(false), or "
                "a member's or base's is): a GC object's destructor runs in "
                "the sweep or in gc::free, which cannot pass an exception "
                "on. Make the destructor noexcept (catch inside it)");
  static constexpr bool kPointerFree = !ContainsGcPointers<T>();
  static constexpr bool kBitmap = !kPointerFree && Bitmappable<T>();
  // No bitmap and no trace: scanned conservatively (an unreflected,
  // trivially destructible aggregate, or a class without trace(): api/trace.h).
  static constexpr bool kConservative = KindOf<T>() == TraceKind::kConservative;
  static constexpr uint32_t kBitmapWords =
      kBitmap ? static_cast<uint32_t>((sizeof(T) / sizeof(void*) + 63) / 64)
              : 0;
  // A packed aggregate holding a gc::Ptr is refused by CheckTraceable
  // (api/trace.h: PackedWithGcPointer), nested ones too.

  // Built on first use; the marker reads it only after an object of T was
  // allocated, which happened after this.
  static const alloc::TypeInfo* Get() {
    static const bool built = (new (&storage_.built) Built(), true);
    (void)built;
    return &storage_.built.info;
  }
  // Where Get() builds it, known before it is built: the allocation fast
  // path only compares it with the type its span recorded (which a slow
  // path recorded after Get() built it), so it skips Get()'s guard, 3
  // instructions of about 40 per gc::make_unrooted (callgrind).
  static const alloc::TypeInfo* Address() { return &storage_.built.info; }

 private:
  struct Built {
    uint64_t bitmap[kBitmapWords > 0 ? kBitmapWords : 1] = {};
    alloc::TypeInfo info;
    Built() {
      if constexpr (kBitmap) {
        alignas(T) static unsigned char layout[sizeof(T)];
        FillBitmap<T>(bitmap, layout, 0);
      }
      info = alloc::TypeInfo{
          TypeName<T>::Get(),
          static_cast<uint32_t>(sizeof(T)),
          static_cast<uint32_t>(alignof(T)),
          kPointerFree,
          std::is_trivially_destructible_v<T> ? nullptr : &DestroyOne<T>,
          kBitmap ? bitmap : nullptr,
          kBitmapWords,
          (!kPointerFree && !kBitmap && !kConservative) ? &TraceOne<T>
                                                        : nullptr,
          0,
          nullptr,
          TraceDeclaredBy(),
          TraceBaseBytes(),
          StaleBytesFn(),
      };
    }
  };
  static const char* TraceDeclaredBy() {
    if constexpr (InheritsTrace<T>) {
      return TypeName<TraceDeclaringClassOf<T>>::Get();
    } else {
      return nullptr;
    }
  }
  // Aggregates traced by a function only: a bitmap's words are gc::Ptrs
  // at fixed offsets, and a class's own trace() hides its layout.
  static auto StaleBytesFn() -> bool (*)(const void*, size_t) {
    if constexpr (!kPointerFree && !kBitmap && !kConservative &&
                  ReflectedAggregate<T> && !HasTrace<T>) {
      return &StaleBytes<T>;
    } else {
      return nullptr;
    }
  }
  using BaseBytes = void (*)(const void*, size_t*, size_t*);
  static BaseBytes TraceBaseBytes() {
    if constexpr (InheritsTrace<T>) {
      return &InheritedTraceBaseBytes<T>;
    } else {
      return nullptr;
    }
  }
  // Constant-initialized storage, so Address() needs no guard; Get()
  // constructs `built` in it once.
  union Storage {
    constexpr Storage() : unbuilt() {}
    ~Storage() {}
    char unbuilt;
    Built built;
  };
  static constinit inline Storage storage_;
};

template <typename T>
const alloc::TypeInfo* TypeInfoOf() {
  return TypeInfoHolder<T>::Get();
}

}  // namespace gc::internal
