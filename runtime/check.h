// Checks that stop the program, after Go's throw() and fatal(). Two kinds,
// told apart in the message, because they call for different fixes:
//
//   - an internal invariant (GCRT_THROW, GCRT_CHECK*): gcrt itself is wrong,
//     or memory was corrupted; the message names the invariant and where it
//     was checked, and is a gcrt bug to report;
//   - a fatal user error (GCRT_FATAL): the program broke one of gcrt's rules
//     in a way that cannot be reported by an exception (a double free found
//     while folding a freebuf, a collection from a trace function, a
//     gc::Ptr dereferenced in a destructor the sweeper runs); the message
//     names the rule the program broke.
//
// Errors a caller can handle (bad sizes, exhausted memory, misuse at an API
// entry point) are exceptions instead, each with a message.
//
//   GCRT_THROW("invariant")        always on, never returns
//   GCRT_CHECK(cond)               always on
//   GCRT_CHECK_EQ(a, b), _NE, _LT, _LE, _GT, _GE
//                                  always on; print both operands
//   GCRT_DCHECK(cond), GCRT_DCHECK_EQ(a, b), ...
//                                  GCRT_DEBUG_LEVEL >= 1 (default builds)
//   GCRT_DCHECK_EXPENSIVE(c)       GCRT_DEBUG_LEVEL >= 2 (--config=gcdebug):
//                                  full-structure walks
//   GCRT_FATAL("rule")             always on, never returns
//
// Print() formats into a stack buffer and write(2)s it: no heap allocation,
// so it is safe inside the allocator and with its locks held.
#pragma once

#include <type_traits>

#include "gcrt/runtime/base.h"

namespace gc::runtime {

// Prints "gcrt: <formatted>\n" to stderr without allocating.
void Print(const char* fmt, ...) __attribute__((format(printf, 1, 2)));
// The same without the prefix, for lines in another program's format
// (gctrace's, which Go's tools parse from "gc N @"); up to 1 KiB.
void PrintLine(const char* fmt, ...) __attribute__((format(printf, 1, 2)));

// The caller's location comes from the compiler builtins GCC and Clang
// share (clang 14 has no std::source_location with this libstdc++).
[[noreturn]] GCRT_COLD GCRT_NOINLINE void Throw(
    const char* invariant, const char* file = __builtin_FILE(),
    unsigned line = __builtin_LINE(),
    const char* function = __builtin_FUNCTION()) noexcept;

// The program broke `rule` of gcrt's API (the caller has printed what it
// found): stops it, naming the rule and the place it was detected.
[[noreturn]] GCRT_COLD GCRT_NOINLINE void Fatal(
    const char* rule, const char* file = __builtin_FILE(),
    unsigned line = __builtin_LINE(),
    const char* function = __builtin_FUNCTION()) noexcept;

// One operand of a failed GCRT_CHECK_EQ and friends, kept as what it is so
// the message prints it faithfully without allocating.
struct CheckOperand {
  enum Kind : unsigned char { kSigned, kUnsigned, kPointer } kind;
  union {
    long long s;
    unsigned long long u;
    const void* p;
  };
  template <typename T>
  static CheckOperand Of(const T& v) {
    CheckOperand o;
    if constexpr (std::is_pointer_v<T> || std::is_null_pointer_v<T>) {
      o.kind = kPointer;
      o.p = static_cast<const void*>(v);
    } else if constexpr (std::is_enum_v<T>) {
      return Of(static_cast<std::underlying_type_t<T>>(v));
    } else if constexpr (std::is_signed_v<T>) {
      o.kind = kSigned;
      o.s = static_cast<long long>(v);
    } else {
      static_assert(std::is_integral_v<T>,
                    "GCRT_CHECK_EQ and friends compare integers, enums and "
                    "pointers");
      o.kind = kUnsigned;
      o.u = static_cast<unsigned long long>(v);
    }
    return o;
  }
};

[[noreturn]] GCRT_COLD GCRT_NOINLINE void CheckOpFailed(
    const char* expression, CheckOperand a, CheckOperand b,
    const char* file = __builtin_FILE(), unsigned line = __builtin_LINE(),
    const char* function = __builtin_FUNCTION()) noexcept;

}  // namespace gc::runtime

#define GCRT_THROW(invariant) ::gc::runtime::Throw(invariant)
#define GCRT_FATAL(rule) ::gc::runtime::Fatal(rule)

// Each operand is evaluated once.
#define GCRT_CHECK_OP(a, op, b)                                             \
  do {                                                                      \
    const auto& gcrt_check_a = (a);                                         \
    const auto& gcrt_check_b = (b);                                         \
    if (GCRT_PREDICT_FALSE(!(gcrt_check_a op gcrt_check_b))) {              \
      ::gc::runtime::CheckOpFailed(                                         \
          #a " " #op " " #b, ::gc::runtime::CheckOperand::Of(gcrt_check_a), \
          ::gc::runtime::CheckOperand::Of(gcrt_check_b));                   \
    }                                                                       \
  } while (0)
#define GCRT_CHECK_EQ(a, b) GCRT_CHECK_OP(a, ==, b)
#define GCRT_CHECK_NE(a, b) GCRT_CHECK_OP(a, !=, b)
#define GCRT_CHECK_LT(a, b) GCRT_CHECK_OP(a, <, b)
#define GCRT_CHECK_LE(a, b) GCRT_CHECK_OP(a, <=, b)
#define GCRT_CHECK_GT(a, b) GCRT_CHECK_OP(a, >, b)
#define GCRT_CHECK_GE(a, b) GCRT_CHECK_OP(a, >=, b)
#define GCRT_CHECK(c)                                       \
  do {                                                      \
    if (GCRT_PREDICT_FALSE(!(c))) ::gc::runtime::Throw(#c); \
  } while (0)

#if GCRT_DEBUG_LEVEL >= 1
#define GCRT_DCHECK(c) GCRT_CHECK(c)
#define GCRT_DCHECK_OP(a, op, b) GCRT_CHECK_OP(a, op, b)
#else
#define GCRT_DCHECK(c) ((void)sizeof(!(c)))
#define GCRT_DCHECK_OP(a, op, b) ((void)sizeof(!((a)op(b))))
#endif
#define GCRT_DCHECK_EQ(a, b) GCRT_DCHECK_OP(a, ==, b)
#define GCRT_DCHECK_NE(a, b) GCRT_DCHECK_OP(a, !=, b)
#define GCRT_DCHECK_LT(a, b) GCRT_DCHECK_OP(a, <, b)
#define GCRT_DCHECK_LE(a, b) GCRT_DCHECK_OP(a, <=, b)
#define GCRT_DCHECK_GT(a, b) GCRT_DCHECK_OP(a, >, b)
#define GCRT_DCHECK_GE(a, b) GCRT_DCHECK_OP(a, >=, b)

#if GCRT_DEBUG_LEVEL >= 2
#define GCRT_DCHECK_EXPENSIVE(c) GCRT_CHECK(c)
#else
#define GCRT_DCHECK_EXPENSIVE(c) ((void)sizeof(!(c)))
#endif
