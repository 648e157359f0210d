// Counts the instructions of the allocation fast path with callgrind:
// AllocLoop<...> allocates kN objects and stores each pointer; callgrind
// collects only inside it (--toggle-collect), so Ir / kN is the cost of one
// allocation plus the loop's store and increment (~3 instructions).
//
//   bash benchmarks/count_fastpath.sh
#include <cstdint>
#include <cstdio>
#include <vector>

#include "alloc/heap.h"

namespace {

using gc::alloc::AllocateFixed;
using gc::alloc::TypeInfo;

struct Ptr1 {
  void* p;
};
struct Ptr2 {
  void *p, *q;
};
constexpr TypeInfo kInt64 = {"int64", 8, 8, true, nullptr, nullptr, 0, nullptr};
constexpr TypeInfo kPtr1 = {"Ptr1", 8, 8, false, nullptr, nullptr, 0, nullptr};
constexpr TypeInfo kPtr2 = {"Ptr2", 16, 8, false, nullptr, nullptr, 0, nullptr};

constexpr int kN = 1 << 20;

// One function per benchmark so callgrind can toggle on its name.
__attribute__((noinline)) void AllocLoopMalloc8(void** out) {
  for (int i = 0; i < kN; i++) {
    out[i] = AllocateFixed<8, 8, true, true>(&kInt64);
  }
}
__attribute__((noinline)) void AllocLoopMallocTypeInfo8(void** out) {
  for (int i = 0; i < kN; i++) {
    out[i] = AllocateFixed<sizeof(Ptr1), 8, false, true>(&kPtr1);
  }
}
__attribute__((noinline)) void AllocLoopMallocTypeInfo16(void** out) {
  for (int i = 0; i < kN; i++) {
    out[i] = AllocateFixed<sizeof(Ptr2), 8, false, true>(&kPtr2);
  }
}
__attribute__((noinline)) void EmptyLoop(void** out) {
  for (int i = 0; i < kN; i++) {
    out[i] = out;
    asm volatile("" ::: "memory");
  }
}

}  // namespace

int main() {
  std::vector<void*> out(kN);
  // Warm: attach the thread and create the heap outside the counted loops.
  gc::alloc::Free(AllocateFixed<16, 8, false, true>(&kPtr2));
  EmptyLoop(out.data());
  AllocLoopMalloc8(out.data());
  AllocLoopMallocTypeInfo8(out.data());
  for (void* p : out) gc::alloc::Free(p);
  AllocLoopMallocTypeInfo16(out.data());
  for (void* p : out) gc::alloc::Free(p);
  std::printf("allocated %d objects per loop\n", kN);
  return 0;
}
