// A program built against a debug install of gcrt (configured with
// -DGCRT_DEBUG_LEVEL=2) with nothing but the flags its CMake package or
// gcrt.pc gives it (tools/consumer_cmake.sh builds it both ways). The
// level reaches the program, whose inline dereferences check, and the
// library was built at it, so its quarantine is on from the start: the use
// of a reclaimed object below is reported, naming its type, and the
// program stops. Run with GCRT_STACK_SCAN=off, so that no stale stack word
// keeps the object.
#include <cstdio>

#include "gcrt/gc.h"

static_assert(GCRT_DEBUG_LEVEL == 2,
              "a debug install gives its programs -DGCRT_DEBUG_LEVEL=2");

struct Node {
  gc::Ptr<Node> next;
  int value = 7;
};

int main() {
  if (!gc::set_quarantine(true)) {
    std::fprintf(stderr,
                 "the library's quarantine was off: not a debug build\n");
    return 1;
  }
  gc::Ptr<Node> lost = gc::make_unrooted<Node>();  // no root: reclaimed
  gc::collect();
  std::printf("read %d: the use after reclaim was not reported\n", lost->value);
  return 1;
}
