// Compiler helpers shared by every layer of gcrt: inlining and branch hints,
// and the thread-safety annotation macros (Clang's attributes; nothing
// under GCC).
#pragma once

// gcrt's headers use C++20 (concepts, std::atomic_ref, designated
// initializers): an older language mode stops here with what to do, not in
// a cascade of errors further on.
static_assert(__cplusplus >= 202002L,
              "gcrt needs C++20: compile with -std=c++20 (Bazel: "
              "build --cxxopt=-std=c++20 in .bazelrc; CMake: link "
              "gcrt::gcrt, which requires it; pkg-config: gcrt.pc's Cflags)");

// The sanitizer a translation unit is built with, from the compiler: GCC
// defines __SANITIZE_ADDRESS__/__SANITIZE_THREAD__, clang before 16 only
// answers __has_feature. First in this file: the thread-local access below
// depends on it.
#if defined(__SANITIZE_ADDRESS__) && !defined(GCRT_ASAN)
#define GCRT_ASAN 1
#endif
#if defined(__SANITIZE_THREAD__) && !defined(GCRT_TSAN)
#define GCRT_TSAN 1
#endif
#if defined(__has_feature)
#if __has_feature(address_sanitizer) && !defined(GCRT_ASAN)
#define GCRT_ASAN 1
#endif
#if __has_feature(thread_sanitizer) && !defined(GCRT_TSAN)
#define GCRT_TSAN 1
#endif
#endif

#define GCRT_ALWAYS_INLINE inline __attribute__((always_inline))
#define GCRT_NOINLINE __attribute__((noinline))
#define GCRT_COLD __attribute__((cold))
#define GCRT_PREDICT_TRUE(x) (__builtin_expect(!!(x), 1))
#define GCRT_PREDICT_FALSE(x) (__builtin_expect(!!(x), 0))
// Thread-locals read on the allocation fast path: initial-exec keeps the
// access to one %fs-relative load (no __tls_get_addr call).
#define GCRT_TLS_FAST __attribute__((tls_model("initial-exec")))

// gcrt's thread_locals as read by inline code a task may run
// (runtime/task.h). A task can resume on another thread after any call,
// and GCC takes the thread pointer to be constant within a function (its
// PR 26461): an address of a thread_local computed before such a call may
// be reused after it, on the wrong thread. Optimized builds read
// initial-exec thread_locals with one %fs-relative load each time, keeping
// no address, which is safe; the sanitizers' instrumentation materializes
// the address, so there the read goes through a call, in which the thread
// pointer is loaded afresh. (A program's own thread_locals are its
// worker's, and the same hazard applies to them: api/task.h.)
#if defined(GCRT_TSAN) || defined(GCRT_ASAN)
namespace gc::runtime::tls {
template <typename F>
GCRT_NOINLINE decltype(auto) Fresh(F f) {
  return f();
}
}  // namespace gc::runtime::tls
#define GCRT_TLS(var) (::gc::runtime::tls::Fresh([]() -> auto& { return var; }))
#else
#define GCRT_TLS(var) (var)
#endif

// Thread-safety annotations (Clang's -Wthread-safety; nothing under GCC),
// as Abseil's thread_annotations.h. runtime/mutex.h has the capabilities
// (Mutex, the stopped world), runtime/lock_order.h the lock order. CI builds
// the library with clang (.bazelrc's --config=clang), where a violation is
// an error.
//
//   GCRT_GUARDED_BY(mu)        field: read and written only with mu held
//   GCRT_PT_GUARDED_BY(mu)     pointer field: what it points to, likewise
//   GCRT_REQUIRES(mu...)       function: the caller holds mu (`*Locked`)
//   GCRT_REQUIRES_SHARED(...)  the same, shared
//   GCRT_EXCLUDES(mu...)       function: takes mu, so the caller must not
//                              hold it
//   GCRT_ACQUIRE(mu...)        function: returns with mu held
//   GCRT_RELEASE(mu...)        function: returns with mu released
//   GCRT_TRY_ACQUIRE(ok, mu)   function: holds mu iff it returned ok
//   GCRT_ASSERT_CAPABILITY(mu) function: checks (at run time) that mu is
//                              held, and the analysis takes it as held
//   GCRT_RETURN_CAPABILITY(mu) function: returns a reference to mu
//   GCRT_CAPABILITY(name)      class: a lock (or a token such as the
//                              stopped world)
//   GCRT_SCOPED_CAPABILITY     class: RAII holder of a capability
//   GCRT_NO_THREAD_SAFETY_ANALYSIS  function: not checked. Only where the
//                              analysis cannot express the discipline,
//                              with a comment saying what it is.
#if defined(__clang__)
#define GCRT_THREAD_ANNOTATION(x) __attribute__((x))
#else
#define GCRT_THREAD_ANNOTATION(x)
#endif
#define GCRT_GUARDED_BY(m) GCRT_THREAD_ANNOTATION(guarded_by(m))
#define GCRT_PT_GUARDED_BY(m) GCRT_THREAD_ANNOTATION(pt_guarded_by(m))
#define GCRT_REQUIRES(...) \
  GCRT_THREAD_ANNOTATION(requires_capability(__VA_ARGS__))
#define GCRT_REQUIRES_SHARED(...) \
  GCRT_THREAD_ANNOTATION(requires_shared_capability(__VA_ARGS__))
#define GCRT_EXCLUDES(...) GCRT_THREAD_ANNOTATION(locks_excluded(__VA_ARGS__))
#define GCRT_ACQUIRE(...) \
  GCRT_THREAD_ANNOTATION(acquire_capability(__VA_ARGS__))
#define GCRT_RELEASE(...) \
  GCRT_THREAD_ANNOTATION(release_capability(__VA_ARGS__))
#define GCRT_TRY_ACQUIRE(...) \
  GCRT_THREAD_ANNOTATION(try_acquire_capability(__VA_ARGS__))
#define GCRT_ASSERT_CAPABILITY(m) GCRT_THREAD_ANNOTATION(assert_capability(m))
#define GCRT_RETURN_CAPABILITY(m) GCRT_THREAD_ANNOTATION(lock_returned(m))
#define GCRT_CAPABILITY(name) GCRT_THREAD_ANNOTATION(capability(name))
#define GCRT_SCOPED_CAPABILITY GCRT_THREAD_ANNOTATION(scoped_lockable)
#define GCRT_NO_THREAD_SAFETY_ANALYSIS \
  GCRT_THREAD_ANNOTATION(no_thread_safety_analysis)

#ifndef GCRT_DEBUG_LEVEL
#define GCRT_DEBUG_LEVEL 1
#endif
#if GCRT_DEBUG_LEVEL != 0 && GCRT_DEBUG_LEVEL != 1 && GCRT_DEBUG_LEVEL != 2
#error "GCRT_DEBUG_LEVEL must be 0, 1 or 2 (docs/debugging.md)"
#endif

// A program built with a sanitizer needs a gcrt built with the same one
// (docs/debugging.md): an AddressSanitizer program keeps locals in fake
// stack frames that only an AddressSanitizer gcrt scans, so against any
// other its gc::Ptr locals there would keep nothing, and ThreadSanitizer
// does not see an uninstrumented gcrt's synchronization. So a translation
// unit built with one refers to a symbol that only a gcrt built with it
// defines (runtime/build_config.cc): a mismatch fails to link, with an
// undefined reference to gcrt_library_built_with_address_sanitizer (or
// _thread_sanitizer). Retained, so that the linker's --gc-sections keeps
// the reference. (The checking level may differ: the inline code passes
// its own level where the library acts on it.)
#if GCRT_ASAN || GCRT_TSAN
#if defined(__has_attribute) && __has_attribute(retain)
#define GCRT_BUILD_REFERENCE_ __attribute__((used, retain))
#else
#define GCRT_BUILD_REFERENCE_ __attribute__((used))
#endif
#endif
#if GCRT_ASAN
extern "C" const char gcrt_library_built_with_address_sanitizer;
namespace gc::runtime::build {
GCRT_BUILD_REFERENCE_ static const char* const kAddressSanitizer =
    &gcrt_library_built_with_address_sanitizer;
}  // namespace gc::runtime::build
#endif
#if GCRT_TSAN
extern "C" const char gcrt_library_built_with_thread_sanitizer;
namespace gc::runtime::build {
GCRT_BUILD_REFERENCE_ static const char* const kThreadSanitizer =
    &gcrt_library_built_with_thread_sanitizer;
}  // namespace gc::runtime::build
#endif

// AddressSanitizer builds: heap slots that hold no object (free, never
// allocated, or quarantined) are poisoned, and unpoisoned only when handed
// out, so any access to them is reported where it happens. Nothing in
// other builds.
#if GCRT_ASAN
#include <sanitizer/asan_interface.h>
#define GCRT_ASAN_POISON(p, n) \
  __asan_poison_memory_region(reinterpret_cast<const void*>(p), (n))
#define GCRT_ASAN_UNPOISON(p, n) \
  __asan_unpoison_memory_region(reinterpret_cast<const void*>(p), (n))
#else
#define GCRT_ASAN_POISON(p, n) ((void)(p), (void)(n))
#define GCRT_ASAN_UNPOISON(p, n) ((void)(p), (void)(n))
#endif
