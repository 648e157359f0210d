// Sanitizer builds (--config=asan, --config=tsan) run 5-20x slower than the
// default one: long tests shorten their loops by these, keeping coverage.
#pragma once

namespace gc::testing {

#if defined(GCRT_TSAN) || defined(__SANITIZE_THREAD__)
inline constexpr bool kUnderSanitizer = true;
inline constexpr int kSanitizerSlowdown = 3;
#elif defined(GCRT_ASAN) || defined(__SANITIZE_ADDRESS__)
inline constexpr bool kUnderSanitizer = true;
inline constexpr int kSanitizerSlowdown = 2;
#else
inline constexpr bool kUnderSanitizer = false;
inline constexpr int kSanitizerSlowdown = 1;
#endif

}  // namespace gc::testing
