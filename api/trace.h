// Tracing: how the collector finds the gc::Ptr values an object holds.
//
//   - An aggregate (a plain struct) needs nothing: Boost.PFR enumerates its
//     fields at compile time. If every field is a gc::Ptr, pointer-free, or
//     such an aggregate itself (or a std::array of one), the type gets a
//     pointer bitmap (type_info.h) and the marker scans it like Go scans a
//     typed object, with no call at all. Otherwise (say, a std::vector of
//     gc::Ptr among its fields) it gets a generated trace function that
//     visits the fields through PFR.
//   - A class with constructors or private fields writes
//     `void trace(gc::Tracer& t) const { t(field1, field2, ...); }`.
//   - A type that holds no gc::Ptr (decided at compile time) is
//     pointer-free: it lives in noscan spans and is never scanned.
//
// The Tracer accepts gc::Ptr / Root / Global, std ranges (vector, list,
// map, unordered_map, set, deque, array, ...), pairs, tuples, optionals,
// aggregates and objects with a trace() member, nested arbitrarily.
//
// A class that is not an aggregate and has no trace() member is taken to
// hold no gc::Ptr: give such a class a trace() if it does. PFR's limits
// apply to aggregates: no base classes, no reference or bit-field members,
// and no C array fields (Boost.PFR counts each element of a C array as a
// field, then fails to compile: hold the array in a std::array). An
// aggregate with more than 64 fields by that count (`char data[4096]`
// counts 4096) is not reflected at all: it is scanned conservatively,
// every word a possible pointer; give it a trace() to make it precise.
#pragma once

#include <array>
#include <boost/pfr/core.hpp>
#include <cstddef>
#include <optional>
#include <ranges>
#include <tuple>
#include <type_traits>
#include <utility>

#include "api/ptr.h"
#include "gc/tracer.h"

namespace gc {

namespace internal {

template <typename T>
struct IsGcPointer : std::false_type {};
template <typename T>
struct IsGcPointer<Ptr<T>> : std::true_type {};
template <typename T>
struct IsGcPointer<Root<T>> : std::true_type {};
template <typename T>
struct IsGcPointer<Global<T>> : std::true_type {};

template <typename T>
concept HasTrace = requires(const T& value, Tracer& tracer) {
  value.trace(tracer);
};

template <typename T>
struct IsPair : std::false_type {};
template <typename A, typename B>
struct IsPair<std::pair<A, B>> : std::true_type {};
template <typename T>
struct IsTuple : std::false_type {};
template <typename... Ts>
struct IsTuple<std::tuple<Ts...>> : std::true_type {};
template <typename T>
struct IsOptional : std::false_type {};
template <typename T>
struct IsOptional<std::optional<T>> : std::true_type {};
template <typename T>
struct IsStdArray : std::false_type {};
template <typename T, size_t N>
struct IsStdArray<std::array<T, N>> : std::true_type {};

// Aggregates PFR can take apart: not arrays, not unions, not std::array.
template <typename T>
concept PfrAggregate =
    std::is_aggregate_v<T> && std::is_class_v<T> && !std::is_union_v<T> &&
    !IsStdArray<T>::value;

// More fields than this (each element of a C array field counts) and an
// aggregate is not taken apart at compile time: it is scanned
// conservatively instead (see the header comment).
inline constexpr size_t kMaxReflectedFields = 64;
template <typename T>
concept ReflectedAggregate = PfrAggregate<T> && boost::pfr::tuple_size_v<T>
<= kMaxReflectedFields;
template <typename T>
concept UnreflectedAggregate = PfrAggregate<T> && !ReflectedAggregate<T>;

template <typename T>
constexpr bool ContainsGcPointers();

template <typename T, size_t... I>
constexpr bool AnyFieldContains(std::index_sequence<I...>) {
  return (ContainsGcPointers<
              std::remove_cv_t<boost::pfr::tuple_element_t<I, T>>>() ||
          ...);
}
template <typename T, size_t... I>
constexpr bool AnyTupleElementContains(std::index_sequence<I...>) {
  return (ContainsGcPointers<std::remove_cv_t<std::tuple_element_t<I, T>>>() ||
          ...);
}

// Whether a T can hold a GC pointer, decided at compile time.
template <typename T>
constexpr bool ContainsGcPointers() {
  if constexpr (IsGcPointer<T>::value || HasTrace<T>) {
    return true;
  } else if constexpr (std::is_scalar_v<T> || std::is_reference_v<T>) {
    return false;
  } else if constexpr (IsPair<T>::value || IsTuple<T>::value) {
    return AnyTupleElementContains<T>(
        std::make_index_sequence<std::tuple_size_v<T>>());
  } else if constexpr (IsOptional<T>::value) {
    return ContainsGcPointers<typename T::value_type>();
  } else if constexpr (std::ranges::range<T>) {
    return ContainsGcPointers<
        std::remove_cv_t<std::ranges::range_value_t<T>>>();
  } else if constexpr (ReflectedAggregate<T>) {
    return AnyFieldContains<T>(
        std::make_index_sequence<boost::pfr::tuple_size_v<T>>());
  } else if constexpr (UnreflectedAggregate<T>) {
    return true;  // unknown: scanned conservatively
  } else {
    return false;
  }
}

template <typename T>
void TraceValue(Tracer& tracer, const T& value) {
  if constexpr (IsGcPointer<T>::value) {
    tracer.Visit(value.get());
  } else if constexpr (HasTrace<T>) {
    value.trace(tracer);
  } else if constexpr (!ContainsGcPointers<T>()) {
    // Nothing to visit.
  } else if constexpr (IsPair<T>::value) {
    TraceValue(tracer, value.first);
    TraceValue(tracer, value.second);
  } else if constexpr (IsTuple<T>::value) {
    std::apply([&](const auto&... e) { (TraceValue(tracer, e), ...); }, value);
  } else if constexpr (IsOptional<T>::value) {
    if (value.has_value()) TraceValue(tracer, *value);
  } else if constexpr (std::ranges::range<T>) {
    for (const auto& e : value) TraceValue(tracer, e);
  } else if constexpr (ReflectedAggregate<T>) {
    boost::pfr::for_each_field(
        value, [&](const auto& field) { TraceValue(tracer, field); });
  } else if constexpr (UnreflectedAggregate<T>) {
    tracer.VisitConservative(&value, sizeof(T));
  }
}

}  // namespace internal

template <typename... Ts>
void Tracer::operator()(const Ts&... values) {
  (internal::TraceValue(*this, values), ...);
}

}  // namespace gc
