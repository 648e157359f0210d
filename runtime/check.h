// Runtime invariant checks, after Go's throw(): a violated invariant inside
// gcrt is a bug in gcrt (or memory corruption), so it stops the program with a
// message naming the invariant and where it was checked. Errors that belong
// to the user (bad sizes, exhausted memory, misuse) are exceptions instead.
//
//   GCRT_THROW("invariant")   always on, never returns
//   GCRT_CHECK(cond)          always on
//   GCRT_DCHECK(cond)         GCRT_DEBUG_LEVEL >= 1 (default builds)
//   GCRT_DCHECK_EXPENSIVE(c)  GCRT_DEBUG_LEVEL >= 2 (--config=gcdebug):
//   full-structure walks
//
// Print() formats into a stack buffer and write(2)s it: no heap allocation,
// so it is safe inside the allocator and with its locks held.
#pragma once

#include "runtime/base.h"

namespace gc::runtime {

// Prints "gcrt: <formatted>\n" to stderr without allocating.
void Print(const char* fmt, ...) __attribute__((format(printf, 1, 2)));

// The caller's location comes from the compiler builtins GCC and Clang
// share (clang 14 has no std::source_location with this libstdc++).
[[noreturn]] GCRT_COLD GCRT_NOINLINE void Throw(
    const char* invariant, const char* file = __builtin_FILE(),
    unsigned line = __builtin_LINE(),
    const char* function = __builtin_FUNCTION()) noexcept;

}  // namespace gc::runtime

#define GCRT_THROW(invariant) ::gc::runtime::Throw(invariant)
#define GCRT_CHECK(c)                                       \
  do {                                                      \
    if (GCRT_PREDICT_FALSE(!(c))) ::gc::runtime::Throw(#c); \
  } while (0)

#if GCRT_DEBUG_LEVEL >= 1
#define GCRT_DCHECK(c) GCRT_CHECK(c)
#else
#define GCRT_DCHECK(c) ((void)sizeof(!(c)))
#endif

#if GCRT_DEBUG_LEVEL >= 2
#define GCRT_DCHECK_EXPENSIVE(c) GCRT_CHECK(c)
#else
#define GCRT_DCHECK_EXPENSIVE(c) ((void)sizeof(!(c)))
#endif
