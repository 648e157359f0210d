// The sanitizer this library was built with, as a symbol the headers of a
// program built with it refer to (runtime/base.h): a program built with a
// sanitizer this library lacks fails to link, naming the symbol, instead
// of running with stack frames the library does not scan.
#include "gcrt/runtime/base.h"

extern "C" {
#if GCRT_ASAN
__attribute__((visibility(
    "default"))) extern const char gcrt_library_built_with_address_sanitizer =
    0;
#endif
#if GCRT_TSAN
__attribute__((visibility(
    "default"))) extern const char gcrt_library_built_with_thread_sanitizer = 0;
#endif
}
