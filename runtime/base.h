// Compiler helpers shared by every layer of gcrt: inlining and branch hints,
// and the thread-safety annotation macros used in the shared-field comments
// (they expand to Clang's attributes and to nothing under GCC).
#pragma once

#define GC_ALWAYS_INLINE inline __attribute__((always_inline))
#define GC_NOINLINE __attribute__((noinline))
#define GC_COLD __attribute__((cold))
#define GC_PREDICT_TRUE(x) (__builtin_expect(!!(x), 1))
#define GC_PREDICT_FALSE(x) (__builtin_expect(!!(x), 0))
// Thread-locals read on the allocation fast path: initial-exec keeps the
// access to one %fs-relative load (no __tls_get_addr call).
#define GC_TLS_FAST __attribute__((tls_model("initial-exec")))

#if defined(__clang__)
#define GC_GUARDED_BY(m) __attribute__((guarded_by(m)))
#define GC_REQUIRES(m) __attribute__((requires_capability(m)))
#define GC_NO_THREAD_SAFETY_ANALYSIS __attribute__((no_thread_safety_analysis))
#else
#define GC_GUARDED_BY(m)
#define GC_REQUIRES(m)
#define GC_NO_THREAD_SAFETY_ANALYSIS
#endif

#ifndef GC_DEBUG
#define GC_DEBUG 1
#endif

#if defined(__SANITIZE_ADDRESS__) && !defined(GC_ASAN)
#define GC_ASAN 1
#endif
#if defined(__SANITIZE_THREAD__) && !defined(GC_TSAN)
#define GC_TSAN 1
#endif
