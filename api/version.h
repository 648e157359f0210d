// gcrt's version, for code that needs to know which gcrt it is built
// against. The macros are the headers' version; gc::version() is the
// library's, so a program can check that the two match (a header from one
// install and a library from another is otherwise a silent ABI mismatch).
// It names the version only: a debug install (GCRT_DEBUG_LEVEL=2) and a
// release install of one version report the same string.
// CMakeLists.txt reads the numbers from here: this is their one home.
#pragma once

#define GCRT_VERSION_MAJOR 0
#define GCRT_VERSION_MINOR 1
#define GCRT_VERSION_PATCH 0
#define GCRT_VERSION_STRING "0.1.0"
// One number that orders versions: 10000 * major + 100 * minor + patch.
#define GCRT_VERSION \
  (GCRT_VERSION_MAJOR * 10000 + GCRT_VERSION_MINOR * 100 + GCRT_VERSION_PATCH)

namespace gc {

// The library's GCRT_VERSION_STRING, as compiled into it.
const char* version();

}  // namespace gc
