// Compiler helpers shared by every layer of gcrt: inlining and branch hints,
// and the thread-safety annotation macros used in the shared-field comments
// (they expand to Clang's attributes and to nothing under GCC).
#pragma once

#define GCRT_ALWAYS_INLINE inline __attribute__((always_inline))
#define GCRT_NOINLINE __attribute__((noinline))
#define GCRT_COLD __attribute__((cold))
#define GCRT_PREDICT_TRUE(x) (__builtin_expect(!!(x), 1))
#define GCRT_PREDICT_FALSE(x) (__builtin_expect(!!(x), 0))
// Thread-locals read on the allocation fast path: initial-exec keeps the
// access to one %fs-relative load (no __tls_get_addr call).
#define GCRT_TLS_FAST __attribute__((tls_model("initial-exec")))

#if defined(__clang__)
#define GCRT_GUARDED_BY(m) __attribute__((guarded_by(m)))
#define GCRT_REQUIRES(m) __attribute__((requires_capability(m)))
#define GCRT_NO_THREAD_SAFETY_ANALYSIS \
  __attribute__((no_thread_safety_analysis))
#else
#define GCRT_GUARDED_BY(m)
#define GCRT_REQUIRES(m)
#define GCRT_NO_THREAD_SAFETY_ANALYSIS
#endif

#ifndef GCRT_DEBUG_LEVEL
#define GCRT_DEBUG_LEVEL 1
#endif

#if defined(__SANITIZE_ADDRESS__) && !defined(GCRT_ASAN)
#define GCRT_ASAN 1
#endif
#if defined(__SANITIZE_THREAD__) && !defined(GCRT_TSAN)
#define GCRT_TSAN 1
#endif
